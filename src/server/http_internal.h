/*
 * http_internal.h — what http.c and http_gate.c share: the df_http object
 * and the calls between them. Not for the routes (they use http.h).
 */
#ifndef DF_SERVER_HTTP_INTERNAL_H
#define DF_SERVER_HTTP_INTERNAL_H

#include <pthread.h>
#include <stdarg.h>

#include "server/http.h"
#include "server/http_addr.h"

typedef struct http_connection http_connection;
typedef struct gate_connection gate_connection;

/* "At most one line per interval" for a kind of event that can repeat
 * thousands of times a second (refused connections, library messages). */
typedef struct df_http_log_limit {
    double window_end;         /* monotonic */
    unsigned used;             /* lines written in this window */
    unsigned long suppressed;  /* events not written since the last line */
} df_http_log_limit;

struct df_http {
    struct MHD_Daemon *daemon;
    df_http_config config;
    int listen_fd;
    int port;

    pthread_mutex_t lock; /* everything below */
    http_connection *connections;  /* handed to MHD (the watchdog's list) */
    unsigned active;               /* how many */
    df_http_counts *per_address;   /* MHD's and the gate's connections by address */
    pthread_t watchdog;
    int watchdog_started, stopping, quiescing, gate_stopping;
    pthread_cond_t wake;
    df_http_log_limit refused_log[2], library_log, accept_log;

    /* The gate (http_gate.c): accepts, holds connections until their
     * request head is complete and valid, then hands them to MHD. */
    pthread_t gate;
    int gate_started;
    int gate_wake[2];              /* a byte here wakes its poll() */
    gate_connection *pending;      /* gate thread only */
    size_t pending_count, pending_capacity;
    char *peek;                    /* DF_HTTP_MAX_HEAD_BYTES + 1 */
    double accept_paused_until;    /* monotonic; after EMFILE and the like */
};

/* The request line and headers of a connection's first request, at most. */
#define DF_HTTP_MAX_HEAD_BYTES 32768
/* The request target, at most (414 past it). */
#define DF_HTTP_MAX_URI_BYTES 8192

/* Refusal reasons (the metric's label, the index of refused_log). */
#define DF_HTTP_REFUSED_PER_ADDRESS 0
#define DF_HTTP_REFUSED_CAPACITY 1

/* http_gate.c */
df_status df_http_gate_start(df_http *http, df_error *error);
void df_http_gate_wake(df_http *http);
void df_http_gate_stop(df_http *http); /* joins the thread, closes what it held */

/* http.c */
/* MHD is full and a complete request waits: the watchdog closes the kept-
 * alive connection idle the longest (one at a time), if there is one, so
 * quiet keep-alives cannot starve new requests. Call with the lock held. */
void df_http_evict_idle(df_http *http);
/* The error body in the shape of the family `path` belongs to (the native
 * one when no route matches); malloc'ed text and its size. */
char *df_http_error_text(df_http *http, const char *path, const df_http_error_info *info,
                         size_t *size);
/* 1: write a line for this event now (*suppressed: how many were not
 * written since the last line); at most `budget` lines per interval. */
int df_http_log_allowed(df_http *http, df_http_log_limit *limit, unsigned budget,
                        unsigned long *suppressed);
/* A refused connection: the metric, and a log line at most once per
 * interval. Call without the lock. */
void df_http_refused(df_http *http, int reason, const char *address, unsigned limit);

#endif
