/*
 * metrics.h — the counters and histograms `diffuse serve` exposes at
 * GET /metrics in Prometheus' text format (version 0.0.4). Every metric is
 * named diffuse_* (plus the standard process_resident_memory_bytes):
 *
 *   diffuse_http_requests_total{route, method, status}    counter
 *   diffuse_http_request_duration_seconds{route}          histogram
 *   diffuse_jobs_total{outcome}                           counter (completed|failed|cancelled|requeued)
 *   diffuse_job_wait_seconds                              histogram (accepted -> started)
 *   diffuse_job_run_seconds                               histogram (started -> finished)
 *   diffuse_unet_step_seconds                             histogram (one sampler step)
 *   diffuse_images_generated_total                        counter
 *   diffuse_model_loads_total{outcome}                    counter (ok|failed)
 *   diffuse_model_load_seconds                            histogram
 *   diffuse_rate_limited_total{kind}                      counter (requests|images)
 *   diffuse_auth_failures_total                           counter
 *   diffuse_http_connections_refused_total{reason}        counter (per_address|capacity)
 *   diffuse_queue_length, diffuse_queue_capacity, diffuse_jobs_running,
 *   diffuse_models_loaded, diffuse_up                     gauges (given at render time)
 *   process_resident_memory_bytes                         gauge (/proc/self/statm)
 *
 * `route` is the route's pattern ("/v1/jobs/{}"), never the raw path, so the
 * label set stays bounded whatever clients send ("unmatched" for 404s).
 * Label values are escaped as the format requires.
 *
 * Thread safety: one mutex; all calls from any thread. Every df_metrics_*
 * call accepts a NULL metrics object and does nothing (tests, tools).
 */
#ifndef DF_SERVER_METRICS_H
#define DF_SERVER_METRICS_H

#include <stddef.h>

typedef struct df_metrics df_metrics;

df_metrics *df_metrics_create(void); /* NULL when out of memory */
void df_metrics_free(df_metrics *metrics);

void df_metrics_request(df_metrics *metrics, const char *route, const char *method, int status,
                        double seconds);
void df_metrics_job_finished(df_metrics *metrics, const char *outcome, double wait_seconds,
                             double run_seconds, int images);
void df_metrics_unet_step(df_metrics *metrics, double seconds);
void df_metrics_model_load(df_metrics *metrics, int ok, double seconds);
void df_metrics_rate_limited(df_metrics *metrics, const char *kind);
void df_metrics_auth_failure(df_metrics *metrics);
void df_metrics_connection_refused(df_metrics *metrics, const char *reason);

/* Values read at render time from the rest of the server. */
typedef struct df_metrics_gauges {
    int queue_length, queue_capacity, jobs_running, models_loaded;
} df_metrics_gauges;

/* The whole exposition text, malloc'ed (NUL-terminated); NULL when out of
 * memory. */
char *df_metrics_render(df_metrics *metrics, const df_metrics_gauges *gauges);

#endif
