/*
 * datadir.h — the data directory of `diffuse serve` and `diffuse keys`: made
 * private (0700 directories, 0600 files, under the umask, so a stricter
 * umask still wins), checked for looser modes, and owned by one server at a
 * time through a lock file.
 *
 * The database holds prompts and key hashes and the images are the users'
 * pictures: nothing in DIR is meant for other local users.
 */
#ifndef DF_SERVER_DATADIR_H
#define DF_SERVER_DATADIR_H

#include <sys/types.h>

#include "diffuse.h"

/* The lock file in DIR held by a running server. */
#define DF_DATADIR_LOCK_FILE "serve.lock"

/* Creates `path` as a private directory (0700 & ~umask) when missing; an
 * existing directory is left as it is. DF_ERR_IO naming it when it cannot
 * be made or is not a directory. */
df_status df_datadir_make(const char *path, df_error *error);

/* Creates the file `path` empty and private (0600 & ~umask) when missing, so
 * that SQLite, which gives a new database 0644 and its -wal and -shm files
 * the database's mode, opens a private one. An existing file is kept and
 * not even opened (see datadir.c: SQLite's POSIX locks). */
df_status df_datadir_create_private(const char *path, df_error *error);

/* The permission bits of `path` when group or others have any access to it
 * (a loose data directory), else 0. */
mode_t df_datadir_loose_mode(const char *path);

/* Takes the directory's lock (DIR/serve.lock, flock, never blocking) for
 * the life of the process and writes the pid into the file. *fd_out: the
 * descriptor to keep open (closing it releases the lock). When another
 * process holds it: DF_ERR_IO with a message naming DIR and that process. */
df_status df_datadir_lock(const char *dir, int *fd_out, df_error *error);

#endif
