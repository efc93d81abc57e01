/*
 * ratelimit.h — per-key token buckets of `diffuse serve`: one bucket of
 * requests (capacity N, refilled at N per minute: --rate N/min) and one of
 * images (capacity N, refilled at N per day: --daily-images N). A request
 * takes one request token when it arrives; a generation takes `n` image
 * tokens when it is submitted. A refusal says when to retry: the time until
 * enough tokens are back.
 *
 * The buckets live in memory (a restart refills them) and are keyed by the
 * key's id; the limits are passed on each call, so a reload (SIGHUP) that
 * changes a key's limits applies at once. A key with limit 0 is unlimited.
 *
 * Thread safety: one mutex; every call may come from any thread. `now` is a
 * monotonic time in seconds, passed in so the tests own the clock.
 */
#ifndef DF_SERVER_RATELIMIT_H
#define DF_SERVER_RATELIMIT_H

#include <stddef.h>

typedef struct df_ratelimit df_ratelimit;

df_ratelimit *df_ratelimit_create(void); /* NULL when out of memory */
void df_ratelimit_free(df_ratelimit *limits);

/* One bucket's state after a call, for the x-ratelimit-* headers. */
typedef struct df_ratelimit_state {
    long limit;            /* capacity; 0: unlimited (no headers) */
    long remaining;        /* whole tokens left */
    double reset_seconds;  /* until the bucket is full again */
} df_ratelimit_state;

typedef struct df_ratelimit_verdict {
    int allowed;
    double retry_after_seconds; /* refused: until enough tokens are back (> 0) */
    df_ratelimit_state requests, images;
} df_ratelimit_verdict;

/* Takes one request token. */
void df_ratelimit_take_request(df_ratelimit *limits, const char *key_id,
                               double requests_per_minute, long daily_images, double now,
                               df_ratelimit_verdict *out);
/* Takes `images` image tokens, all or none. More than the capacity can never
 * pass: allowed 0 with retry_after_seconds < 0 (the caller answers that the
 * request is larger than the key's daily limit, not "retry later").
 * `images` <= 0 takes nothing and only reports the state. */
void df_ratelimit_take_images(df_ratelimit *limits, const char *key_id,
                              double requests_per_minute, long daily_images, int images,
                              double now, df_ratelimit_verdict *out);
/* Gives back `images` tokens (a submission that the queue refused). */
void df_ratelimit_refund_images(df_ratelimit *limits, const char *key_id, long daily_images,
                                int images, double now);

/* Gives back the request token a request took (one refused for its images:
 * a refusal of one budget does not spend the other). */
void df_ratelimit_refund_request(df_ratelimit *limits, const char *key_id,
                                 double requests_per_minute, long daily_images, double now);

/* OpenAI's duration format for x-ratelimit-reset-*: "1s", "6m0s", "1h2m3s",
 * "250ms" below a second. */
void df_ratelimit_format_duration(double seconds, char *buffer, size_t size);

#endif
