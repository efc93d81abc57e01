/*
 * ratelimit.c — per-key token buckets (see ratelimit.h for the contract).
 *
 * Invariants:
 *  - Buckets live in an array sorted by key id (binary search): a server has
 *    few keys, and inserts happen once per key.
 *  - A missing bucket means a full one: a new entry starts full, and an
 *    entry whose buckets have refilled to the brim may be dropped. So the
 *    table is pruned of full entries whenever it must grow, which bounds it
 *    by the keys that used tokens recently, whatever ids come and go.
 *  - Keys with both limits 0 have no entry (one they had is dropped).
 *  - 0 <= tokens <= capacity; `updated` never moves backwards (a clock that
 *    does gives no tokens rather than double ones).
 *  - Comparisons allow TOKEN_EPSILON, so that refills at rates such as
 *    10/min (1/6 token a second) reach a whole token when the clock says so,
 *    not one rounding error later.
 */
#include "server/ratelimit.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOKEN_EPSILON 1e-9
#define SECONDS_PER_MINUTE 60.0
#define SECONDS_PER_DAY 86400.0

typedef struct bucket {
    double tokens, updated;
    long capacity; /* the capacity last applied; 0: not started */
} bucket;

typedef struct bucket_pair {
    char *key_id;
    bucket requests, images;
    /* The limits last seen: what pruning refills with. */
    double rate_per_minute;
    long daily_images;
} bucket_pair;

struct df_ratelimit {
    pthread_mutex_t lock;
    bucket_pair *items;
    int count, capacity;
};

df_ratelimit *df_ratelimit_create(void)
{
    df_ratelimit *limits = calloc(1, sizeof *limits);
    if (limits)
        pthread_mutex_init(&limits->lock, NULL);
    return limits;
}

void df_ratelimit_free(df_ratelimit *limits)
{
    if (!limits)
        return;
    for (int i = 0; i < limits->count; i++)
        free(limits->items[i].key_id);
    free(limits->items);
    pthread_mutex_destroy(&limits->lock);
    free(limits);
}

/* ------------------------------------------------------------------------ */
/* Bucket arithmetic                                                        */

static long request_capacity(double rate_per_minute)
{
    if (!(rate_per_minute > 0))
        return 0;
    double capacity = ceil(rate_per_minute);
    return capacity < 1 ? 1 : capacity > 1e15 ? (long)1e15 : (long)capacity;
}

static long image_capacity(long daily_images) { return daily_images > 0 ? daily_images : 0; }

/* Brings a bucket to `now` under the given limit: starts it full the first
 * time (or when a limit appears), trims it to a lowered capacity, adds what
 * the elapsed time refilled. */
static void refill(bucket *bucket, long capacity, double per_second, double now)
{
    if (capacity <= 0) {
        bucket->capacity = 0;
        return;
    }
    if (bucket->capacity <= 0) {
        bucket->tokens = (double)capacity;
        bucket->updated = now;
    } else if (now > bucket->updated) {
        bucket->tokens += (now - bucket->updated) * per_second;
        bucket->updated = now;
    }
    bucket->capacity = capacity;
    if (bucket->tokens > (double)capacity)
        bucket->tokens = (double)capacity;
}

/* Takes `count` tokens, all or none. 0 when refused, with *retry_after the
 * time until they are back. */
static int take(bucket *bucket, double count, double per_second, double *retry_after)
{
    if (bucket->tokens + TOKEN_EPSILON >= count) {
        bucket->tokens = bucket->tokens > count ? bucket->tokens - count : 0;
        return 1;
    }
    *retry_after = (count - bucket->tokens) / per_second;
    return 0;
}

static void describe(const bucket *bucket, double per_second, df_ratelimit_state *state)
{
    memset(state, 0, sizeof *state);
    if (bucket->capacity <= 0)
        return;
    state->limit = bucket->capacity;
    state->remaining = (long)floor(bucket->tokens + TOKEN_EPSILON);
    double missing = (double)bucket->capacity - bucket->tokens;
    state->reset_seconds = missing > TOKEN_EPSILON ? missing / per_second : 0;
}

/* Whether an entry would be full at `now` under its last-seen limits, i.e.
 * the same as no entry at all. */
static int is_full(const bucket_pair *pair, double now)
{
    const bucket *buckets[2] = {&pair->requests, &pair->images};
    double rates[2] = {pair->rate_per_minute / SECONDS_PER_MINUTE,
                       (double)pair->daily_images / SECONDS_PER_DAY};
    for (int i = 0; i < 2; i++) {
        const bucket *bucket = buckets[i];
        if (bucket->capacity <= 0)
            continue;
        double elapsed = now > bucket->updated ? now - bucket->updated : 0;
        if (bucket->tokens + elapsed * rates[i] + TOKEN_EPSILON < (double)bucket->capacity)
            return 0;
    }
    return 1;
}

/* ------------------------------------------------------------------------ */
/* The table                                                                */

/* Index of `key_id`, or -(insertion point) - 1 when absent. */
static int search(const df_ratelimit *limits, const char *key_id)
{
    int low = 0, high = limits->count - 1;
    while (low <= high) {
        int middle = low + (high - low) / 2;
        int order = strcmp(limits->items[middle].key_id, key_id);
        if (order == 0)
            return middle;
        if (order < 0)
            low = middle + 1;
        else
            high = middle - 1;
    }
    return -low - 1;
}

static void prune(df_ratelimit *limits, double now)
{
    int kept = 0;
    for (int i = 0; i < limits->count; i++) {
        if (is_full(&limits->items[i], now))
            free(limits->items[i].key_id);
        else
            limits->items[kept++] = limits->items[i];
    }
    limits->count = kept;
}

/* The entry of `key_id`, made (full) when missing; NULL when out of memory.
 * Caller holds the lock. */
static bucket_pair *find_or_add(df_ratelimit *limits, const char *key_id, double now)
{
    int index = search(limits, key_id);
    if (index >= 0)
        return &limits->items[index];
    if (limits->count == limits->capacity) {
        prune(limits, now);
        if (limits->count == limits->capacity) {
            int grown = limits->capacity ? limits->capacity * 2 : 16;
            bucket_pair *bigger = realloc(limits->items, (size_t)grown * sizeof *bigger);
            if (!bigger)
                return NULL;
            limits->items = bigger;
            limits->capacity = grown;
        }
        index = search(limits, key_id); /* pruning moved the insertion point */
    }
    char *copy = strdup(key_id);
    if (!copy)
        return NULL;
    index = -index - 1;
    memmove(&limits->items[index + 1], &limits->items[index],
            (size_t)(limits->count - index) * sizeof *limits->items);
    limits->count++;
    bucket_pair *pair = &limits->items[index];
    memset(pair, 0, sizeof *pair);
    pair->key_id = copy;
    return pair;
}

/* A key with no limit at all needs no entry; dropping the one it had makes
 * a later limit start from a full bucket, as for a new key. 1 when the key
 * is unlimited. Caller holds the lock. */
static int forget_if_unlimited(df_ratelimit *limits, const char *key_id, double rate_per_minute,
                               long daily_images)
{
    if (request_capacity(rate_per_minute) || image_capacity(daily_images))
        return 0;
    int index = key_id ? search(limits, key_id) : -1;
    if (index >= 0) {
        free(limits->items[index].key_id);
        memmove(&limits->items[index], &limits->items[index + 1],
                (size_t)(limits->count - index - 1) * sizeof *limits->items);
        limits->count--;
    }
    return 1;
}

/* Looks up and refills both buckets under the current limits. */
static bucket_pair *prepare(df_ratelimit *limits, const char *key_id, double rate_per_minute,
                            long daily_images, double now)
{
    bucket_pair *pair = find_or_add(limits, key_id ? key_id : "", now);
    if (!pair)
        return NULL;
    pair->rate_per_minute = rate_per_minute > 0 ? rate_per_minute : 0;
    pair->daily_images = image_capacity(daily_images);
    refill(&pair->requests, request_capacity(rate_per_minute),
           pair->rate_per_minute / SECONDS_PER_MINUTE, now);
    refill(&pair->images, pair->daily_images, (double)pair->daily_images / SECONDS_PER_DAY, now);
    return pair;
}

static void describe_pair(const bucket_pair *pair, df_ratelimit_verdict *out)
{
    describe(&pair->requests, pair->rate_per_minute / SECONDS_PER_MINUTE, &out->requests);
    describe(&pair->images, (double)pair->daily_images / SECONDS_PER_DAY, &out->images);
}

/* ------------------------------------------------------------------------ */
/* The calls                                                                */

void df_ratelimit_take_request(df_ratelimit *limits, const char *key_id,
                               double requests_per_minute, long daily_images, double now,
                               df_ratelimit_verdict *out)
{
    memset(out, 0, sizeof *out);
    out->allowed = 1;
    pthread_mutex_lock(&limits->lock);
    if (forget_if_unlimited(limits, key_id, requests_per_minute, daily_images)) {
        pthread_mutex_unlock(&limits->lock);
        return;
    }
    /* Out of memory: let the request through rather than fail it. */
    bucket_pair *pair = prepare(limits, key_id, requests_per_minute, daily_images, now);
    if (pair) {
        if (pair->requests.capacity > 0)
            out->allowed = take(&pair->requests, 1, pair->rate_per_minute / SECONDS_PER_MINUTE,
                                &out->retry_after_seconds);
        describe_pair(pair, out);
    }
    pthread_mutex_unlock(&limits->lock);
}

void df_ratelimit_take_images(df_ratelimit *limits, const char *key_id,
                              double requests_per_minute, long daily_images, int images,
                              double now, df_ratelimit_verdict *out)
{
    memset(out, 0, sizeof *out);
    out->allowed = 1;
    pthread_mutex_lock(&limits->lock);
    if (forget_if_unlimited(limits, key_id, requests_per_minute, daily_images)) {
        pthread_mutex_unlock(&limits->lock);
        return;
    }
    bucket_pair *pair = prepare(limits, key_id, requests_per_minute, daily_images, now);
    if (pair) {
        if (pair->images.capacity > 0 && images > 0) {
            if (images > pair->images.capacity) {
                out->allowed = 0;
                out->retry_after_seconds = -1; /* never: larger than the whole day */
            } else {
                out->allowed = take(&pair->images, images,
                                    (double)pair->daily_images / SECONDS_PER_DAY,
                                    &out->retry_after_seconds);
            }
        }
        describe_pair(pair, out);
    }
    pthread_mutex_unlock(&limits->lock);
}

void df_ratelimit_refund_images(df_ratelimit *limits, const char *key_id, long daily_images,
                                int images, double now)
{
    if (image_capacity(daily_images) == 0 || images <= 0 || !key_id)
        return;
    pthread_mutex_lock(&limits->lock);
    /* No entry: the bucket is full, nothing to give back. */
    int index = search(limits, key_id);
    if (index >= 0) {
        bucket_pair *pair = &limits->items[index];
        pair->daily_images = image_capacity(daily_images);
        refill(&pair->images, pair->daily_images, (double)pair->daily_images / SECONDS_PER_DAY,
               now);
        pair->images.tokens += images;
        if (pair->images.tokens > (double)pair->images.capacity)
            pair->images.tokens = (double)pair->images.capacity;
    }
    pthread_mutex_unlock(&limits->lock);
}

void df_ratelimit_refund_request(df_ratelimit *limits, const char *key_id,
                                 double requests_per_minute, long daily_images, double now)
{
    if (!key_id || request_capacity(requests_per_minute) == 0)
        return;
    pthread_mutex_lock(&limits->lock);
    /* No entry: the bucket is full, nothing to give back. */
    if (search(limits, key_id) >= 0) {
        bucket_pair *pair = prepare(limits, key_id, requests_per_minute, daily_images, now);
        if (pair) {
            pair->requests.tokens += 1;
            if (pair->requests.tokens > (double)pair->requests.capacity)
                pair->requests.tokens = (double)pair->requests.capacity;
        }
    }
    pthread_mutex_unlock(&limits->lock);
}

/* Rounded up, so that a client that waits exactly this long finds its
 * tokens back; the small slack keeps 6.0000000001 from reading "7s". */
void df_ratelimit_format_duration(double seconds, char *buffer, size_t size)
{
    if (!size)
        return;
    if (!(seconds > 0)) { /* also NaN */
        snprintf(buffer, size, "0s");
        return;
    }
    if (seconds > 1e12) /* beyond any real limit; keeps the integer below in range */
        seconds = 1e12;
    double milliseconds = ceil(seconds * 1000 - 1e-6);
    if (milliseconds < 1000) {
        snprintf(buffer, size, "%.0fms", milliseconds < 1 ? 1.0 : milliseconds);
        return;
    }
    long long total = (long long)ceil(seconds - 1e-6);
    long long hours = total / 3600, minutes = total % 3600 / 60, rest = total % 60;
    if (hours)
        snprintf(buffer, size, "%lldh%lldm%llds", hours, minutes, rest);
    else if (minutes)
        snprintf(buffer, size, "%lldm%llds", minutes, rest);
    else
        snprintf(buffer, size, "%llds", rest);
}
