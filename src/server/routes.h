/*
 * routes.h — the route tables of each API family (one routes_*.c file per
 * family, each exporting a table that ends with a NULL method) and the
 * helpers they share: parsing a JSON body into the one request model,
 * submitting a job with the queue's answers mapped to HTTP (429, 503),
 * rendering a job, and producing an image in a chosen format.
 */
#ifndef DF_SERVER_ROUTES_H
#define DF_SERVER_ROUTES_H

#include "server/http.h"
#include "server/server.h"
#include "io/image.h"

extern const df_http_route df_routes_health[];
extern const df_http_route df_routes_jobs[];
extern const df_http_route df_routes_predict[];
extern const df_http_route df_routes_a1111[];
extern const df_http_route df_routes_admin[];   /* /metrics, /v1/usage */
extern const df_http_route df_routes_web[]; /* GET /: the web page (routes_web.c) */
extern const df_http_route df_routes_loras[]; /* GET /v1/loras (routes_loras.c) */

/* Seconds a client is asked to wait after a 429. */
#define DF_ROUTES_RETRY_AFTER "2"

/* The body as a JSON value (new reference), or NULL after answering 400
 * (malformed JSON; *answered holds MHD's result). */
json_t *df_routes_parse_json(df_http_request *request, enum MHD_Result *answered);

/* df_request_parse of `body`; NULL return path answers 400 naming the field
 * (or 400 with the whole message when the engine's parser refused a name). */
int df_routes_parse_params(df_http_request *request, const json_t *body,
                           df_request_params *params, enum MHD_Result *answered);

/* The two above on the request body (the native format): 1 with *params
 * filled, or 0 after answering 400. */
int df_routes_parse_body(df_http_request *request, df_request_params *params,
                         enum MHD_Result *answered);

/* The field a failed job's stored message blames ("loras" for one that
 * starts "loras: ", the worker's LoRA failures), or NULL: the synchronous
 * routes answer it as the param of their 400. */
const char *df_routes_failed_param(const char *message);

/* Submits; on failure answers (429 + Retry-After when the queue is full, 503
 * when stopping, 500 when the store failed) and returns NULL. On success the
 * job owns *params and the caller owns the returned reference. */
df_job *df_routes_submit(df_http_request *request, df_request_params *params,
                         enum MHD_Result *answered);

/* 1 when the caller may see job `id`: always without keys or with an admin
 * key, else only a job its own key submitted (a job of another key, or no
 * such job, is 0: its existence is not the caller's business). */
int df_routes_may_see_job(df_http_request *request, const char *id);

/* The native JSON of a job (store record + live state), or NULL when no such
 * job exists (or out of memory). */
json_t *df_routes_job_json(df_server *server, const char *id);

/* Image `index` of a completed job's store record in `format`: malloc'ed
 * bytes (*out, *out_size) and their content type. DF_ERR_INVALID_ARGUMENT
 * when there is no such image. */
df_status df_routes_job_image(df_server *server, const json_t *record, int index,
                              df_image_format format, unsigned char **out, size_t *out_size,
                              const char **content_type, df_error *error);

/* -- OpenAI and Vertex AI families (routes_openai.c, routes_vertex.c,
 * routes_openapi.c) --------------------------------------------------------- */
extern const df_http_route df_routes_openai[];
extern const df_http_route df_routes_vertex[];
extern const df_http_route df_routes_openapi[];
/* The AIP_HEALTH_ROUTE / AIP_PREDICT_ROUTE routes when those are set (an
 * empty table otherwise); put before the other tables so they win. */
const df_http_route *df_routes_vertex_aip(void);
/* "0.0.0.0:$AIP_HTTP_PORT" when that is set to a port, else NULL. */
const char *df_routes_vertex_listen(void);

/* OpenAI's error shape: {"error": {"message", "type", "param", "code"}}. */
json_t *df_routes_openai_error(const df_http_error_info *info);
/* The served model's name (the model directory's base name). */
const char *df_routes_model_name(const df_server *server);
/* Waits for `job` (the caller's reference, released here) to end, checking
 * every 250 ms that the client is still there (gone: cancels the job).
 * Returns 1 with *state final; 0 after answering (503 stopping, 504 past
 * --sync-timeout; MHD_NO when the client left). */
int df_routes_wait(df_http_request *request, df_job *job, df_job_state *state,
                   enum MHD_Result *answered);
/* The store record of a job that ended in `state` when it completed (new
 * reference); otherwise answers (409 cancelled, 400/500 failed) and NULL. */
json_t *df_routes_finished_record(df_http_request *request, const char *id, df_job_state state,
                                  enum MHD_Result *answered);
/* Image `index` of a completed record in `format` at encoder `quality`
 * (0: default; PNG ignores it), malloc'ed. */
df_status df_routes_image_bytes(df_server *server, const json_t *record, int index,
                                df_image_format format, int quality, unsigned char **out,
                                size_t *out_size, df_error *error);

#endif
