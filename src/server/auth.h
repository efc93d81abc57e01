/*
 * auth.h — who may call what, checked in one place: the guard the HTTP
 * layer runs after routing and before any handler, and the image budget a
 * generation takes when it is submitted.
 *
 * The guard: a route's access level (http.h) says whether it needs a key.
 * The key comes as "Authorization: Bearer KEY" or, for AUTOMATIC1111
 * clients that only know --api-auth, as the password of HTTP Basic. While
 * the server runs open (df_auth_open) every route is open and the caller
 * counts as an admin. Then the key's request bucket (ratelimit.h) is charged, the
 * x-ratelimit-* headers are added to the response, and the request is
 * counted in the key's usage. Refusals use the route family's error shape:
 * 401 (no, unknown or revoked key; WWW-Authenticate says which scheme),
 * 403 (an admin route), 429 (Retry-After, rounded up to whole seconds;
 * type rate_limit_error, code rate_limit_exceeded, for either budget).
 *
 * Ownership: a key sees and controls only its own jobs; admins see all.
 */
#ifndef DF_SERVER_AUTH_H
#define DF_SERVER_AUTH_H

#include "server/http.h"

struct df_server;

/* 1 when no request needs a key: no key is active and either the data
 * directory never had one (or was reset with `diffuse keys disable-auth`,
 * keys.h df_keys_keyed) or the server runs with --no-auth. Revoking every
 * key of a keyed directory leaves it shut: 401 without a key. */
int df_auth_open(struct df_server *server);

/* The df_http_guard of `diffuse serve` (request->context is the df_server). */
int df_auth_guard(df_http_request *request, enum MHD_Result *answered);

/* Takes `images` from the caller's image bucket: 1, or 0 after answering
 * 429 (or 400 when `images` exceeds the key's whole daily limit; either
 * refusal gives back the request token the guard took). The x-ratelimit-*
 * headers then report the buckets after this request. */
int df_auth_take_images(df_http_request *request, int images, enum MHD_Result *answered);
/* Gives them back (the queue refused the job). */
void df_auth_refund_images(df_http_request *request, int images);

/* The key whose jobs the caller may list: NULL when it may see every job. */
const char *df_auth_owner_filter(const df_http_request *request);
/* May the caller see or cancel a job submitted by `owner` (NULL or "": no
 * key)? */
int df_auth_may_see(const df_http_request *request, const char *owner);

#endif
