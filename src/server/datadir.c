/*
 * datadir.c — the data directory's permissions and lock (see datadir.h).
 * The lock is an flock on a file inside DIR rather than a pid file: the
 * kernel releases it when the server dies, even by SIGKILL, so a crash never
 * leaves a stale lock that an operator would have to remove by hand.
 */
#include "server/datadir.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/error.h"

df_status df_datadir_make(const char *path, df_error *error)
{
    if (mkdir(path, 0700) && errno != EEXIST)
        return df_error_set(error, DF_ERR_IO, "cannot create %s: %s", path, strerror(errno));
    struct stat info;
    if (stat(path, &info) || !S_ISDIR(info.st_mode))
        return df_error_set(error, DF_ERR_IO, "%s is not a directory", path);
    return DF_OK;
}

df_status df_datadir_create_private(const char *path, df_error *error)
{
    /* O_EXCL, so an existing file is never opened here: closing a
     * descriptor drops every POSIX lock this process holds on the file, and
     * another SQLite connection of this process (the job store's, for the
     * keys' open) holds some. Without its locks another process would take
     * the database for unused, checkpoint it and delete -wal and -shm under
     * this one's feet (its later reads then see nothing new). */
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0 && errno != EEXIST)
        return df_error_set(error, DF_ERR_IO, "cannot create %s: %s", path, strerror(errno));
    if (fd >= 0)
        close(fd);
    return DF_OK;
}

mode_t df_datadir_loose_mode(const char *path)
{
    struct stat info;
    if (stat(path, &info))
        return 0;
    mode_t bits = info.st_mode & 07777;
    return bits & 077 ? bits : 0;
}

df_status df_datadir_lock(const char *dir, int *fd_out, df_error *error)
{
    *fd_out = -1;
    size_t size = strlen(dir) + sizeof "/" DF_DATADIR_LOCK_FILE;
    char *path = malloc(size);
    if (!path)
        return df_error_set(error, DF_ERR_NO_MEMORY, "out of memory");
    snprintf(path, size, "%s/" DF_DATADIR_LOCK_FILE, dir);
    df_status status = DF_OK;
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        status = df_error_set(error, DF_ERR_IO, "cannot create the lock file %s: %s", path,
                              strerror(errno));
    } else if (flock(fd, LOCK_EX | LOCK_NB)) {
        if (errno == EWOULDBLOCK) {
            /* The holder wrote its pid once it had the lock; a holder still
             * starting may not have yet, hence "another" without one. */
            char text[32] = "";
            ssize_t got = pread(fd, text, sizeof text - 1, 0);
            text[got > 0 ? got : 0] = 0;
            long pid = strtol(text, NULL, 10);
            if (pid > 0)
                status = df_error_set(error, DF_ERR_IO,
                                      "data directory %s is in use by another `diffuse serve` "
                                      "(pid %ld): stop it, or give this one another --data",
                                      dir, pid);
            else
                status = df_error_set(error, DF_ERR_IO,
                                      "data directory %s is in use by another `diffuse serve`: "
                                      "stop it, or give this one another --data", dir);
        } else {
            status = df_error_set(error, DF_ERR_IO, "cannot lock %s: %s", path, strerror(errno));
        }
    } else {
        char text[32];
        int length = snprintf(text, sizeof text, "%ld\n", (long)getpid());
        /* The pid is a courtesy for the message above: the lock is the flock. */
        if (ftruncate(fd, 0) == 0 && pwrite(fd, text, (size_t)length, 0) != length)
            (void)ftruncate(fd, 0);
    }
    if (status && fd >= 0)
        close(fd);
    else if (!status)
        *fd_out = fd;
    free(path);
    return status;
}
