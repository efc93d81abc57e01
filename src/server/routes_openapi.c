/*
 * routes_openapi.c — GET /openapi.json: an OpenAPI 3.0.3 document of every
 * route (health, the web page, /metrics, usage, /predict, native jobs,
 * LoRAs, OpenAI, Vertex AI, AUTOMATIC1111 /sdapi/v1, itself), with request and
 * response schemas, every status a route can answer (in its family's error
 * shape), the API-key security schemes, and examples.
 *
 * The document is JSON text below with ' for " (so it reads as JSON in C,
 * without escapes; no text in it uses an apostrophe), parsed once. Each
 * answer is a copy with this server's own figures filled in: the request's
 * host as the server URL, and the limits the server was started with
 * (--max-side, --max-steps, --max-batch, --max-prompt-bytes, the model's
 * size multiple) as the schemas' maximum, multipleOf and maxLength, so a
 * client or a generator that follows the document sends what this server
 * accepts. tests/server/test_openai.py checks the document with
 * openapi-spec-validator and that every documented route answers;
 * tests/server/test_schemathesis.py checks the server against it. A family
 * that adds routes or statuses adds them here.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/routes.h"
#include "server/log.h"

#define SCHEMA(ref) "{'$ref': '#/components/schemas/" ref "'}"
#define RESPONSE(ref) "{'$ref': '#/components/responses/" ref "'}"
#define ERR(ref) "{'description': 'Error', 'content': {'application/json': {'schema': " SCHEMA(ref) "}}}"
#define ERR_WHY(why, ref) "{'description': '" why "', 'content': {'application/json': {'schema': " SCHEMA(ref) "}}}"
#define JSON_BODY(ref, example) "{'required': true, 'content': {'application/json': {'schema': " SCHEMA(ref) ", 'example': " example "}}}"
#define JSON_OK(ref) "{'description': 'OK', 'content': {'application/json': {'schema': " SCHEMA(ref) "}}}"
#define IMAGE_CONTENT "{'image/png': {'schema': {'type': 'string', 'format': 'binary'}}, 'image/jpeg': {'schema': {'type': 'string', 'format': 'binary'}}, 'image/webp': {'schema': {'type': 'string', 'format': 'binary'}}}"
#define IMAGE_OK "{'description': 'The image', 'content': " IMAGE_CONTENT "}"
/* df_server_valid_id: what a job id can be; anything else is answered 404
 * without a look at the store. */
#define ID_SCHEMA "{'type': 'string', 'pattern': '^[A-Za-z0-9_-]{1,64}$'}"
#define JOB_ID_HEADER "'X-Job-Id': {'required': true, 'description': 'The job this request ran as (GET /v1/jobs/{id})', 'schema': " ID_SCHEMA "}"
#define JOB_ID "{'name': 'id', 'in': 'path', 'required': true, 'schema': " ID_SCHEMA ", 'description': 'A job id'}"
#define MODEL_PARAM "{'name': 'model', 'in': 'path', 'required': true, 'schema': {'type': 'string', 'minLength': 1}, 'description': 'A name GET /v1/models lists, or diffuse for the default model'}"
/* Who may call what: the bearer key everywhere (the global requirement),
 * basic auth too on the A1111 routes (A1111 clients send --api-auth as
 * basic; the key is the password), nothing on the public routes. */
#define PUBLIC "'security': [],"
#define A1111_SECURITY "'security': [{'bearerAuth': []}, {'basicAuth': []}],"
/* The statuses any keyed route may answer before its handler runs, per
 * family (components/responses below). */
#define NATIVE_AUTH "'401': " RESPONSE("Unauthorized") ", '429': " RESPONSE("RateLimited")
#define OPENAI_AUTH "'401': " RESPONSE("OpenAIUnauthorized") ", '429': " RESPONSE("OpenAIRateLimited")
#define VERTEX_AUTH "'401': " RESPONSE("VertexUnauthorized") ", '429': " RESPONSE("VertexRateLimited")
#define A1111_AUTH "'401': " RESPONSE("A1111Unauthorized") ", '429': " RESPONSE("A1111RateLimited")
#define TOO_LARGE "'413': " RESPONSE("BodyTooLarge")
/* 429 headers: Retry-After always; the x-ratelimit-* ones when the limit
 * that refused is a key's (not the queue). Inline, not components/headers:
 * a $ref'ed header cannot carry the required flag. */
#define RATE_HEADERS \
    "'headers': {'Retry-After': {'required': true, 'description': 'Seconds to wait before retrying', 'schema': {'type': 'integer', 'minimum': 0}}," \
    " 'x-ratelimit-limit-requests': {'description': 'Requests per minute the key may make', 'schema': {'type': 'integer'}}," \
    " 'x-ratelimit-remaining-requests': {'description': 'Requests left in the current window', 'schema': {'type': 'integer'}}," \
    " 'x-ratelimit-reset-requests': {'description': 'Until the request budget is full again, as 1s, 6m0s or 250ms', 'schema': {'type': 'string'}}," \
    " 'x-ratelimit-limit-images': {'description': 'Images per day the key may generate', 'schema': {'type': 'integer'}}," \
    " 'x-ratelimit-remaining-images': {'description': 'Images left today', 'schema': {'type': 'integer'}}," \
    " 'x-ratelimit-reset-images': {'description': 'Until the image budget is full again', 'schema': {'type': 'string'}}}"
#define UNAUTHORIZED(ref) "{'description': 'No API key, or not an active one (asked once the data directory has had API keys, also when every key is revoked, until diffuse keys disable-auth or --no-auth)', 'headers': {'WWW-Authenticate': {'schema': {'type': 'string'}}}, 'content': {'application/json': {'schema': " SCHEMA(ref) "}}}"
#define RATE_LIMITED(ref) "{'description': 'Too many requests (error type rate_limit_error where the shape has a type): code rate_limit_exceeded when the key is over its per-minute request limit or its daily image limit (the message says which; a request refused for its images spends no request token), queue_full when the job queue is full. The x-ratelimit-* headers report the budgets after this request', " RATE_HEADERS ", 'content': {'application/json': {'schema': " SCHEMA(ref) "}}}"

#define A1111_ERR(why) "{'description': '" why " (AUTOMATIC1111 shape)', 'content': {'application/json': {'schema': " SCHEMA("A1111HTTPError") "}}}"
#define A1111_422 "{'description': 'A field is invalid, unknown, or asks for something this server does not support (FastAPI validation shape; loc names the field)', 'content': {'application/json': {'schema': " SCHEMA("A1111ValidationError") "}}}"
#define A1111_GEN_ERRORS \
    "'400': " A1111_ERR("More images than the daily image limit of the key") ", '404': " A1111_ERR("Sampler not found (sampler_name or sampler_index)") ", " TOO_LARGE ", '422': " A1111_422 ", " \
    "'500': " A1111_ERR("The generation failed") ", '503': " A1111_ERR("Shutting down") ", '504': " A1111_ERR("Not finished within --sync-timeout (the job goes on)") ", " A1111_AUTH

/* Request examples: within any server's limits (the model's default size,
 * a few steps), so tools that try them get an image quickly. */
#define EXAMPLE_GENERATION "{'prompt': 'a red apple on a wooden table', 'steps': 4, 'seed': 42}"
/* A 32x32 red PNG. */
#define EXAMPLE_PNG "'iVBORw0KGgoAAAANSUhEUgAAACAAAAAgCAIAAAD8GO2jAAAAKklEQVR42mM4oaFBU8QwasGoBaMWjFowasGoBaMWjFowasGoBaMWDBULABo2YD0ttAhSAAAAAElFTkSuQmCC'"

/* The request fields txt2img and img2img share (both routes check one field
 * table; init_images and denoising_strength differ and are added by each).
 * Fields marked "accepted only when off" are refused with 422 otherwise. */
#define A1111_FIELDS \
"    'prompt': {'type': 'string', 'nullable': true, 'default': '', 'description': 'At most --max-prompt-bytes bytes of UTF-8. <lora:NAME:SCALE> (or <lora:NAME:TE:UNET>) tags apply LoRAs of GET /sdapi/v1/loras and leave the prompt; an unknown name or a malformed tag: 422'}," \
"    'negative_prompt': {'type': 'string', 'nullable': true, 'default': ''}," \
"    'steps': {'type': 'integer', 'nullable': true, 'minimum': 1, 'maximum': 1000, 'default': 50}," \
"    'cfg_scale': {'type': 'number', 'nullable': true, 'minimum': 0, 'maximum': 100, 'default': 7}," \
"    'sampler_name': {'type': 'string', 'nullable': true, 'description': 'A name GET /sdapi/v1/samplers lists (or a diffusers name); absent, null or empty: sampler_index, else Euler. Unknown: 404'}," \
"    'sampler_index': {'type': 'string', 'nullable': true, 'default': 'Euler', 'description': 'Used when sampler_name is absent or empty'}," \
"    'scheduler': {'type': 'string', 'nullable': true, 'description': 'automatic, uniform or karras (case-insensitive; GET /sdapi/v1/schedulers); others: 422'}," \
"    'seed': {'type': 'integer', 'format': 'int64', 'nullable': true, 'default': -1, 'description': 'Negative: random. Image i of the request has seed + i'}," \
"    'batch_size': {'type': 'integer', 'nullable': true, 'minimum': 1, 'maximum': 16, 'default': 1}," \
"    'n_iter': {'type': 'integer', 'nullable': true, 'minimum': 1, 'maximum': 16, 'default': 1, 'description': 'n_iter times batch_size is at most the --max-batch of this server'}," \
"    'width': {'type': 'integer', 'nullable': true, 'minimum': 0, 'maximum': 2048, 'description': 'A multiple of the model size multiple; 0 or absent: the model default size (img2img: the init image size)'}," \
"    'height': {'type': 'integer', 'nullable': true, 'minimum': 0, 'maximum': 2048}," \
"    'override_settings': {'type': 'object', 'nullable': true, 'additionalProperties': true, 'description': 'Over the options POST /sdapi/v1/options set; the keys below are honoured, others ignored', 'properties': {" \
"      'CLIP_stop_at_last_layers': {'type': 'integer', 'minimum': 1, 'maximum': 12, 'description': 'CLIP skip'}," \
"      'randn_source': {'type': 'string', 'enum': ['CPU', 'GPU', 'NV', 'cpu', 'gpu', 'nv'], 'description': 'CPU (default): the CPU generator; GPU or NV: the Philox generator (case-insensitive)'}," \
"      'sd_model_checkpoint': {'type': 'string', 'description': 'A title GET /sdapi/v1/sd-models lists: this request only'}}}," \
"    'force_task_id': {'type': 'string', 'nullable': true, 'maxLength': 127, 'description': 'An id for GET /sdapi/v1/progress?id_task= (at most 127 bytes)'}," \
"    'send_images': {'type': 'boolean', 'nullable': true, 'default': true, 'description': 'false: images is empty'}," \
"    'include_init_images': {'type': 'boolean', 'nullable': true, 'default': false, 'description': 'img2img: keep init_images in the response parameters (else null)'}," \
"    'decoder': {'type': 'string', 'nullable': true, 'enum': ['vae', 'taesd'], 'description': 'diffuse extension: vae (default) or taesd: the decoder of the final image; taesd (TAESD, far cheaper, slightly softer) needs a server started with --taesd, else 400 (422 here)'}," \
"    'preset': {'type': 'string', 'nullable': true, 'enum': ['turbo', 'lcm'], 'description': 'diffuse extension: Recommended settings of a few-step model for the fields the request leaves out (sent fields win): turbo (SD-Turbo, SDXL-Turbo) = steps 1, guidance_scale 0, spacing trailing, the checkpoint sampler; lcm (LCM, LCM-LoRA) = sampler lcm, steps 4, guidance_scale 1; A1111 defaults (steps 50, cfg_scale 7, Euler) give way to it'}," \
"    'save_images': {'type': 'boolean', 'nullable': true, 'description': 'Ignored (every image is kept in the job store)'}," \
"    'do_not_save_samples': {'type': 'boolean', 'nullable': true, 'description': 'Ignored'}," \
"    'do_not_save_grid': {'type': 'boolean', 'nullable': true, 'description': 'Ignored'}," \
"    'override_settings_restore_afterwards': {'type': 'boolean', 'nullable': true, 'description': 'Ignored'}," \
"    'eta': {'type': 'number', 'nullable': true, 'description': 'Ignored'}," \
"    's_tmax': {'type': 'number', 'nullable': true, 'description': 'Ignored'}," \
"    's_tmin': {'type': 'number', 'nullable': true, 'description': 'Ignored'}," \
"    's_noise': {'type': 'number', 'nullable': true, 'description': 'Ignored'}," \
"    's_min_uncond': {'type': 'number', 'nullable': true, 'enum': [0, null], 'description': 'Accepted only when 0 or null'}," \
"    's_churn': {'type': 'number', 'nullable': true, 'enum': [0, null], 'description': 'Accepted only when 0 or null'}," \
"    'subseed': {'type': 'integer', 'format': 'int64', 'nullable': true, 'description': 'Ignored (variation seeds are off)'}," \
"    'subseed_strength': {'type': 'number', 'nullable': true, 'enum': [0, null], 'description': 'Accepted only when 0 or null'}," \
"    'seed_resize_from_h': {'type': 'integer', 'nullable': true, 'maximum': 0, 'description': 'Accepted only when null or at most 0'}," \
"    'seed_resize_from_w': {'type': 'integer', 'nullable': true, 'maximum': 0, 'description': 'Accepted only when null or at most 0'}," \
"    'styles': {'type': 'array', 'nullable': true, 'items': {'type': 'string'}, 'maxItems': 0, 'description': 'Accepted only when empty or null'}," \
"    'restore_faces': {'type': 'boolean', 'nullable': true, 'enum': [false, null], 'description': 'Accepted only when false or null'}," \
"    'tiling': {'type': 'boolean', 'nullable': true, 'enum': [false, null], 'description': 'Accepted only when false or null'}," \
"    'enable_hr': {'type': 'boolean', 'nullable': true, 'enum': [false, null], 'description': 'Accepted only when false or null (no hires. fix); the hr_ and firstphase_ fields are then ignored'}," \
"    'firstphase_width': {'type': 'integer', 'nullable': true}, 'firstphase_height': {'type': 'integer', 'nullable': true}," \
"    'hr_scale': {'type': 'number', 'nullable': true}, 'hr_upscaler': {'type': 'string', 'nullable': true}," \
"    'hr_second_pass_steps': {'type': 'integer', 'nullable': true}, 'hr_resize_x': {'type': 'integer', 'nullable': true}, 'hr_resize_y': {'type': 'integer', 'nullable': true}," \
"    'hr_checkpoint_name': {'type': 'string', 'nullable': true}, 'hr_sampler_name': {'type': 'string', 'nullable': true}, 'hr_scheduler': {'type': 'string', 'nullable': true}," \
"    'hr_prompt': {'type': 'string', 'nullable': true}, 'hr_negative_prompt': {'type': 'string', 'nullable': true}," \
"    'hr_additional_modules': {'type': 'array', 'nullable': true, 'items': {'type': 'string'}}," \
"    'refiner_checkpoint': {'type': 'string', 'nullable': true, 'description': 'An SDXL refiner GET /sdapi/v1/sd-models lists (refiner true) that takes over from the SDXL base model at refiner_switch_at; empty, None or null: none. Unknown, or not a refiner after an SDXL base: 422'}," \
"    'refiner_switch_at': {'type': 'number', 'nullable': true, 'description': 'With refiner_checkpoint: the fraction of the steps the base model runs, between 0 and 1 (default 0.8); 1 or more: no refiner'}," \
"    'disable_extra_networks': {'type': 'boolean', 'nullable': true, 'default': false, 'description': 'true: <lora:...> tags leave the prompt without being applied (A1111)'}," \
"    'precision': {'type': 'string', 'nullable': true, 'enum': ['f32', 'bf16', 'int8'], 'description': 'diffuse extension: the arithmetic of the linear layers and convolutions (absent: the model --model-precision, else the server --precision, f32 by default); bf16 needs AVX512-BF16, int8 AVX512-VNNI or AVX-VNNI, else f32'}," \
"    'firstpass_image': {'type': 'string', 'nullable': true, 'maxLength': 0, 'description': 'Accepted only when empty or null'}," \
"    'comments': {'type': 'object', 'nullable': true, 'description': 'Ignored'}," \
"    'infotext': {'type': 'string', 'nullable': true, 'maxLength': 0, 'description': 'Accepted only when empty or null'}," \
"    'script_name': {'type': 'string', 'nullable': true, 'maxLength': 0, 'description': 'Accepted only when empty or null'}," \
"    'script_args': {'type': 'array', 'nullable': true, 'items': {}, 'maxItems': 0, 'description': 'Accepted only when empty or null'}," \
"    'alwayson_scripts': {'type': 'object', 'nullable': true, 'maxProperties': 0, 'description': 'Accepted only when empty or null'}," \
"    'resize_mode': {'type': 'integer', 'nullable': true, 'enum': [0, null], 'description': 'Accepted only when 0 (just resize) or null'}," \
"    'image_cfg_scale': {'type': 'number', 'nullable': true, 'description': 'Ignored'}," \
"    'mask': {'type': 'string', 'nullable': true, 'maxLength': 0, 'description': 'Accepted only when empty or null (no inpainting)'}," \
"    'mask_blur': {'type': 'integer', 'nullable': true, 'description': 'Ignored'}, 'mask_blur_x': {'type': 'integer', 'nullable': true, 'description': 'Ignored'}," \
"    'mask_blur_y': {'type': 'integer', 'nullable': true, 'description': 'Ignored'}, 'mask_round': {'type': 'boolean', 'nullable': true, 'description': 'Ignored'}," \
"    'inpainting_fill': {'type': 'integer', 'nullable': true, 'description': 'Ignored'}, 'inpaint_full_res': {'type': 'boolean', 'nullable': true, 'description': 'Ignored'}," \
"    'inpaint_full_res_padding': {'type': 'integer', 'nullable': true, 'description': 'Ignored'}, 'inpainting_mask_invert': {'type': 'integer', 'nullable': true, 'description': 'Ignored'}," \
"    'latent_mask': {'type': 'string', 'nullable': true, 'maxLength': 0, 'description': 'Accepted only when empty or null'}," \

static const char document[] =
"{'openapi': '3.0.3',"
" 'info': {'title': 'diffuse serve', 'version': '1',"
"  'description': 'Text-to-image HTTP API of diffuse: the simple /predict endpoint, asynchronous jobs with live progress, and the OpenAI Images and Vertex AI prediction formats, and the AUTOMATIC1111 web UI API (/sdapi/v1: txt2img, img2img, progress, interrupt, skip, samplers, schedulers, sd-models, options, png-info) for the tools that speak it. Every generation route shares one request model (GenerationParameters); unknown fields are rejected with 400 naming the field (the A1111 routes translate their own fields into it and answer in A1111 shapes: 422 with a FastAPI detail list naming the field for an unknown field or one asking for a feature this server does not have). Limits (maximum, multipleOf, maxLength) are those of this server. Once the server has API keys (diffuse keys create), every route but GET /healthz, GET / and the signed image URLs needs one (Authorization: Bearer KEY; the A1111 routes also take it as the basic-auth password); a key has a per-minute request limit and a daily image limit, reported in x-ratelimit-* headers. Every response carries x-request-id (the client one, or a new one). On any route, before routing: a malformed request line or header, a bad Content-Length or Transfer-Encoding: 400; a request target over 8192 bytes: 414; a request line and headers over 32768 bytes: 431; an HTTP version other than 1.0 and 1.1: 505; a connection over --max-connections-per-address, or the server full: 503 with Retry-After, then the connection is closed. These use the error shape of the family the path belongs to.'},"
" 'security': [{'bearerAuth': []}],"
" 'paths': {"
"  '/healthz': {'get': {'tags': ['health'], 'summary': 'Liveness', 'operationId': 'healthz', " PUBLIC
"    'responses': {'200': " JSON_OK("Status") "}}},"
"  '/readyz': {'get': {'tags': ['health'], 'summary': 'Readiness: the model catalogue is up, the worker takes jobs, the queue has room and the job store is usable (no key needed: for load balancer and Kubernetes probes)', 'operationId': 'readyz', " PUBLIC
"    'responses': {'200': " JSON_OK("Ready") ", '503': {'description': 'Not ready: code not_ready (loading, or shutting down), queue_full (with Retry-After) or store_unavailable', 'headers': {'Retry-After': {'description': 'With queue_full: seconds to wait', 'schema': {'type': 'integer', 'minimum': 0}}}, 'content': {'application/json': {'schema': " SCHEMA("Error") "}}}}}},"
"  '/openapi.json': {'get': {'tags': ['health'], 'summary': 'This document', 'operationId': 'openapi',"
"    'responses': {'200': {'description': 'OpenAPI 3.0 document', 'content': {'application/json': {'schema': {'type': 'object'}}}}, " NATIVE_AUTH "}}},"
"  '/': {'get': {'tags': ['web'], 'summary': 'The web page (it asks for a key itself when the server has keys)', 'operationId': 'webPage', " PUBLIC
"    'responses': {'200': {'description': 'HTML', 'content': {'text/html': {'schema': {'type': 'string'}}}}}}},"
"  '/metrics': {'get': {'tags': ['operations'], 'summary': 'Prometheus metrics (text format 0.0.4); an admin key once the server has keys', 'operationId': 'metrics',"
"    'responses': {'200': {'description': 'diffuse_* counters, histograms and gauges', 'content': {'text/plain; version=0.0.4': {'schema': {'type': 'string'}}}},"
"                  '403': " ERR_WHY("Not an admin key", "Error") ", " NATIVE_AUTH "}}},"
"  '/v1/usage': {'get': {'tags': ['operations'], 'summary': 'Usage per API key: totals and per day (UTC), newest day first', 'operationId': 'usage',"
"    'description': 'A key sees its own usage; an admin key (or anyone while the server has no keys) sees every key, or the one ?key= names.',"
"    'parameters': [{'name': 'key', 'in': 'query', 'required': false, 'schema': {'type': 'string', 'minLength': 1, 'maxLength': 28}, 'description': 'A key id (admin only for another key than the caller one)'},"
"                   {'name': 'days', 'in': 'query', 'required': false, 'schema': {'type': 'integer', 'minimum': 1, 'maximum': 36500, 'default': 30}, 'description': 'At most the last N days'}],"
"    'responses': {'200': " JSON_OK("Usage") ", '400': " ERR_WHY("A bad key or days", "Error") ", '403': " ERR_WHY("Another key usage, without an admin key", "Error") ","
"                  '404': " ERR_WHY("No such key", "Error") ", " NATIVE_AUTH "}}},"
"  '/predict': {'post': {'tags': ['predict'], 'summary': 'Generate one image synchronously', 'operationId': 'predict',"
"    'description': 'Returns the image bytes (JPEG; an Accept header of image/png or image/webp picks another format) and the job id in X-Job-Id. A client that disconnects cancels its job.',"
"    'parameters': [{'name': 'Accept', 'in': 'header', 'required': false, 'schema': {'type': 'string'}}],"
"    'requestBody': " JSON_BODY("GenerationParameters", EXAMPLE_GENERATION) ","
"    'responses': {'200': {'description': 'The image', 'headers': {" JOB_ID_HEADER "}, 'content': " IMAGE_CONTENT "},"
"                  '400': " ERR_WHY("A field is invalid (param names it), the request needs more working memory than --max-memory (param: width or batch), or the body is not JSON", "Error") ", '409': " ERR_WHY("The job was cancelled", "Error") ", " TOO_LARGE ","
"                  '500': " ERR_WHY("The generation failed", "Error") ", '503': " ERR_WHY("Shutting down", "Error") ", '504': " ERR_WHY("Not finished within --sync-timeout (the job goes on)", "Error") ", " NATIVE_AUTH "}}},"
"  '/v1/jobs': {"
"   'post': {'tags': ['jobs'], 'summary': 'Submit a job', 'operationId': 'createJob',"
"    'requestBody': " JSON_BODY("GenerationParameters", EXAMPLE_GENERATION) ","
"    'responses': {'202': {'description': 'Accepted; Location is the job URL', 'headers': {'Location': {'required': true, 'schema': {'type': 'string'}}}, 'content': {'application/json': {'schema': " SCHEMA("Job") "}}},"
"                  '400': " ERR_WHY("A field is invalid (param names it), the request needs more working memory than --max-memory (param: width or batch), or the body is not JSON", "Error") ", " TOO_LARGE ", '500': " ERR_WHY("The job could not be stored", "Error") ","
"                  '503': " ERR_WHY("Shutting down", "Error") ", " NATIVE_AUTH "}},"
"   'get': {'tags': ['jobs'], 'summary': 'Recent jobs, newest first', 'operationId': 'listJobs',"
"    'parameters': [{'name': 'limit', 'in': 'query', 'required': false, 'schema': {'type': 'integer', 'minimum': 1, 'maximum': 100, 'default': 20}},"
"                   {'name': 'before', 'in': 'query', 'required': false, 'schema': " ID_SCHEMA ", 'description': 'A job id: list older jobs'}],"
"    'responses': {'200': " JSON_OK("JobList") ", '400': " ERR_WHY("A bad limit or before", "Error") ", " NATIVE_AUTH "}}},"
"  '/v1/jobs/{id}': {'get': {'tags': ['jobs'], 'summary': 'A job: state, queue position, progress, timings, images', 'operationId': 'getJob',"
"    'parameters': [" JOB_ID "],"
"    'responses': {'200': " JSON_OK("Job") ", '404': " ERR_WHY("No such job (or expired)", "Error") ", " NATIVE_AUTH "}}},"
"  '/v1/jobs/{id}/events': {'get': {'tags': ['jobs'], 'summary': 'Server-sent events of a job until it ends', 'operationId': 'jobEvents',"
"    'description': 'Events: queued, loading, started, step (step, total, eta_seconds, optional base64 PNG preview), completed, failed, cancelled; a finished job gets its final event alone. Each has an id; Last-Event-ID resumes after it.',"
"    'parameters': [" JOB_ID ", {'name': 'Last-Event-ID', 'in': 'header', 'required': false, 'schema': {'type': 'integer', 'minimum': 0}}],"
"    'responses': {'200': {'description': 'An event stream', 'content': {'text/event-stream': {'schema': {'type': 'string'}}}}, '404': " ERR_WHY("No such job (or expired)", "Error") ","
"                  '503': " ERR_WHY("Shutting down", "Error") ", " NATIVE_AUTH "}}},"
"  '/v1/jobs/{id}/cancel': {'post': {'tags': ['jobs'], 'summary': 'Cancel a job (a running one stops within about a second, inside its step; the cancel is stored at once)', 'operationId': 'cancelJob',"
"    'parameters': [" JOB_ID "],"
"    'responses': {'200': {'description': 'Cancelled (it was queued)', 'content': {'application/json': {'schema': " SCHEMA("Job") "}}}, '202': {'description': 'Stopping (it was running)', 'content': {'application/json': {'schema': " SCHEMA("Job") "}}},"
"                  '404': " ERR_WHY("No such job (or expired)", "Error") ", '409': " ERR_WHY("The job has already ended", "Error") ", " NATIVE_AUTH "}}},"
"  '/v1/jobs/{id}/images/{n}': {'get': {'tags': ['jobs'], 'summary': 'Image n of a completed job', 'operationId': 'getJobImage',"
"    'parameters': [" JOB_ID ", {'name': 'n', 'in': 'path', 'required': true, 'schema': {'type': 'integer', 'minimum': 0}},"
"                   {'name': 'format', 'in': 'query', 'required': false, 'schema': {'type': 'string', 'enum': ['png', 'jpeg', 'webp'], 'default': 'png'}}],"
"    'responses': {'200': " IMAGE_OK ", '400': " ERR_WHY("A bad format", "Error") ", '404': " ERR_WHY("No such job or image", "Error") ", '409': " ERR_WHY("The job has not completed", "Error") ","
"                  '500': " ERR_WHY("The image could not be encoded", "Error") ", " NATIVE_AUTH "}}},"
"  '/v1/images/generations': {'post': {'tags': ['openai'], 'summary': 'OpenAI Images API: create images', 'operationId': 'createImage',"
"    'description': 'As OpenAI. With stream true, server-sent events image_generation.partial_image (TAESD previews, when the server has --taesd) and image_generation.completed (one per image). Errors in the OpenAI shape.',"
"    'requestBody': " JSON_BODY("OpenAIImageRequest", "{'prompt': 'a red apple on a wooden table', 'n': 1, 'steps': 4}") ","
"    'responses': {'200': {'description': 'The images (or an event stream)', 'headers': {" JOB_ID_HEADER "}, 'content': {'application/json': {'schema': " SCHEMA("OpenAIImagesResponse") "}, 'text/event-stream': {'schema': {'type': 'string'}}}},"
"                  '400': " ERR_WHY("A field is invalid (param names it), the request needs more working memory than --max-memory (param: width or batch), or the body is not JSON", "OpenAIError") ", '404': " ERR_WHY("No such model", "OpenAIError") ","
"                  '409': " ERR_WHY("The job was cancelled", "OpenAIError") ", " TOO_LARGE ", '500': " ERR_WHY("The generation failed", "OpenAIError") ","
"                  '503': " ERR_WHY("Shutting down", "OpenAIError") ", '504': " ERR_WHY("Not finished within --sync-timeout (the job goes on)", "OpenAIError") ", " OPENAI_AUTH "}}},"
"  '/v1/images/files/{job}/{file}': {'get': {'tags': ['openai'], 'summary': 'An image a url response_format answer points to (signed: no key needed)', 'operationId': 'getImageFile', " PUBLIC
"    'parameters': [{'name': 'job', 'in': 'path', 'required': true, 'schema': " ID_SCHEMA "},"
"                   {'name': 'file', 'in': 'path', 'required': true, 'schema': {'type': 'string', 'pattern': '^[0-9]{1,4}[.](png|jpeg|jpg|webp)$'}, 'description': 'N.png, N.jpeg or N.webp'},"
"                   {'name': 'expires', 'in': 'query', 'required': true, 'schema': {'type': 'integer'}},"
"                   {'name': 'signature', 'in': 'query', 'required': true, 'schema': {'type': 'string'}}],"
"    'responses': {'200': " IMAGE_OK ", '403': " ERR_WHY("Not signed, or the signature does not match", "OpenAIError") ", '404': " ERR_WHY("No such image (or the job expired)", "OpenAIError") ","
"                  '410': " ERR_WHY("The URL expired", "OpenAIError") "}}},"
"  '/v1/models': {'get': {'tags': ['openai'], 'summary': 'The models this server offers (OpenAI list shape)', 'operationId': 'listModels',"
"    'responses': {'200': " JSON_OK("OpenAIModelList") ", " OPENAI_AUTH "}}},"
"  '/v1/models/{model}': {'get': {'tags': ['openai'], 'summary': 'One model (OpenAI shape)', 'operationId': 'getModel',"
"    'parameters': [" MODEL_PARAM "],"
"    'responses': {'200': " JSON_OK("OpenAIModel") ", '404': " ERR_WHY("No such model", "OpenAIError") ","
"                  '405': {'description': 'The name ends in :predict and is no model: that path takes POST (Vertex)', 'headers': {'Allow': {'required': true, 'schema': {'type': 'string'}}}, 'content': {'application/json': {'schema': " SCHEMA("OpenAIError") "}}}, " OPENAI_AUTH "}}},"
"  '/v1/models/{model}:predict': {'post': {'tags': ['vertex'], 'summary': 'Vertex AI prediction: one image per instance', 'operationId': 'vertexPredict',"
"    'description': 'Also served on AIP_PREDICT_ROUTE (and AIP_HEALTH_ROUTE for health) when those environment variables are set.',"
"    'parameters': [" MODEL_PARAM "],"
"    'requestBody': " JSON_BODY("VertexPredictRequest", "{'instances': [{'prompt': 'a red apple on a wooden table'}], 'parameters': {'steps': 4, 'output_format': 'png'}}") ","
"    'responses': {'200': " JSON_OK("VertexPredictResponse") ", '400': " ERR_WHY("A field is invalid (field names it; also when an instance needs more working memory than --max-memory), or the body is not JSON", "VertexError") ","
"                  '404': " ERR_WHY("No such model", "VertexError") ", '409': " ERR_WHY("A job was cancelled", "VertexError") ", " TOO_LARGE ","
"                  '500': " ERR_WHY("A generation failed", "VertexError") ", '503': " ERR_WHY("Shutting down", "VertexError") ","
"                  '504': " ERR_WHY("Not finished within --sync-timeout (the jobs go on)", "VertexError") ", " VERTEX_AUTH "}}},"
"  '/sdapi/v1/txt2img': {'post': {'tags': ['a1111'], 'summary': 'AUTOMATIC1111: text to image', 'operationId': 'a1111Txt2Img', " A1111_SECURITY
"    'description': 'Waits for the job as /predict does (a client that disconnects cancels it; --sync-timeout bounds the wait, then 504 and the job goes on). The job id is in X-Job-Id. Every A1111 field is accepted; those this server cannot honour only when off or at their default (else 422 naming the field); fields A1111 does not know: 422.',"
"    'requestBody': " JSON_BODY("A1111Txt2ImgRequest", EXAMPLE_GENERATION) ","
"    'responses': {'200': {'description': 'OK', 'headers': {" JOB_ID_HEADER "}, 'content': {'application/json': {'schema': " SCHEMA("A1111GenerationResponse") "}}}, " A1111_GEN_ERRORS "}}},"
"  '/sdapi/v1/img2img': {'post': {'tags': ['a1111'], 'summary': 'AUTOMATIC1111: image to image (one init image, no inpainting)', 'operationId': 'a1111Img2Img', " A1111_SECURITY
"    'description': 'As txt2img, with init_images (one base64 image) and denoising_strength.',"
"    'requestBody': " JSON_BODY("A1111Img2ImgRequest", "{'prompt': 'a red apple', 'init_images': [" EXAMPLE_PNG "], 'denoising_strength': 0.5, 'steps': 4}") ","
"    'responses': {'200': {'description': 'OK', 'headers': {" JOB_ID_HEADER "}, 'content': {'application/json': {'schema': " SCHEMA("A1111GenerationResponse") "}}}, " A1111_GEN_ERRORS "}}},"
"  '/sdapi/v1/progress': {'get': {'tags': ['a1111'], 'summary': 'AUTOMATIC1111: progress of the running job, or of a task', 'operationId': 'a1111Progress', " A1111_SECURITY
"    'description': 'With API keys a key sees only its own jobs (an admin key every job): without id_task, the running job when the key submitted it, else the newest A1111 job of the key still queued or running; a job of another key is reported as no job.',"
"    'parameters': [{'name': 'id_task', 'in': 'query', 'required': false, 'schema': {'type': 'string'}, 'description': 'A force_task_id or a job id (of the calling key, with API keys); absent: the running job'},"
"                   {'name': 'skip_current_image', 'in': 'query', 'required': false, 'schema': {'type': 'boolean', 'default': false}, 'description': 'true or 1: no current_image'}],"
"    'responses': {'200': " JSON_OK("A1111Progress") ", " A1111_AUTH "}}},"
"  '/sdapi/v1/interrupt': {'post': {'tags': ['a1111'], 'summary': 'AUTOMATIC1111: cancel the job GET /sdapi/v1/progress shows the caller (the running job; with API keys never a job of another key); it stops within about a second', 'operationId': 'a1111Interrupt', " A1111_SECURITY
"    'responses': {'200': {'description': 'OK (an empty object)', 'content': {'application/json': {'schema': {'type': 'object', 'maxProperties': 0}}}}, " A1111_AUTH "}}},"
"  '/sdapi/v1/skip': {'post': {'tags': ['a1111'], 'summary': 'AUTOMATIC1111: as interrupt (the job progress shows the caller is cancelled)', 'operationId': 'a1111Skip', " A1111_SECURITY
"    'responses': {'200': {'description': 'OK (an empty object)', 'content': {'application/json': {'schema': {'type': 'object', 'maxProperties': 0}}}}, " A1111_AUTH "}}},"
"  '/sdapi/v1/samplers': {'get': {'tags': ['a1111'], 'summary': 'AUTOMATIC1111: the samplers', 'operationId': 'a1111Samplers', " A1111_SECURITY
"    'responses': {'200': {'description': 'OK', 'content': {'application/json': {'schema': {'type': 'array', 'items': " SCHEMA("A1111Sampler") "}}}}, " A1111_AUTH "}}},"
"  '/sdapi/v1/schedulers': {'get': {'tags': ['a1111'], 'summary': 'AUTOMATIC1111: the schedulers (automatic, uniform, karras)', 'operationId': 'a1111Schedulers', " A1111_SECURITY
"    'responses': {'200': {'description': 'OK', 'content': {'application/json': {'schema': {'type': 'array', 'items': " SCHEMA("A1111Scheduler") "}}}}, " A1111_AUTH "}}},"
"  '/sdapi/v1/sd-models': {'get': {'tags': ['a1111'], 'summary': 'AUTOMATIC1111: the models this server offers', 'operationId': 'a1111SdModels', " A1111_SECURITY
"    'responses': {'200': {'description': 'OK', 'content': {'application/json': {'schema': {'type': 'array', 'items': " SCHEMA("A1111Model") "}}}}, " A1111_AUTH "}}},"
"  '/sdapi/v1/options': {"
"   'get': {'tags': ['a1111'], 'summary': 'AUTOMATIC1111: the options (sd_model_checkpoint is the default model)', 'operationId': 'a1111GetOptions', " A1111_SECURITY
"    'responses': {'200': " JSON_OK("A1111Options") ", " A1111_AUTH "}},"
"   'post': {'tags': ['a1111'], 'summary': 'AUTOMATIC1111: set options', 'operationId': 'a1111SetOptions', " A1111_SECURITY
"    'description': 'With API keys every key has its own options. sd_model_checkpoint sets the default model of the server (an admin key, or a server without keys) or, from any other key, the default of the A1111 requests of that key; CLIP_stop_at_last_layers, randn_source and show_progress_every_n_steps are defaults for the txt2img and img2img of the same key; any other key is stored and returned by GET. At most 65536 bytes of options are kept per key (422 beyond). Every option is checked before any is set.',"
"    'requestBody': " JSON_BODY("A1111Options", "{'show_progress_every_n_steps': 10}") ","
"    'responses': {'200': {'description': 'OK (null, as A1111)', 'content': {'application/json': {'schema': {'type': 'object', 'nullable': true, 'enum': [null]}}}}, " TOO_LARGE ", '422': " A1111_422 ", " A1111_AUTH "}}},"
"  '/sdapi/v1/png-info': {'post': {'tags': ['a1111'], 'summary': 'AUTOMATIC1111: the generation parameters an image carries, parsed', 'operationId': 'a1111PngInfo', " A1111_SECURITY
"    'requestBody': " JSON_BODY("A1111PngInfoRequest", "{'image': " EXAMPLE_PNG "}") ","
"    'responses': {'200': " JSON_OK("A1111PngInfoResponse") ", " TOO_LARGE ", '422': " A1111_422 ", " A1111_AUTH "}}},"
"  '/sdapi/v1/loras': {'get': {'tags': ['a1111'], 'summary': 'AUTOMATIC1111: the LoRAs of --lora-dir (empty without one), for <lora:NAME:SCALE> prompt tags', 'operationId': 'a1111Loras', " A1111_SECURITY
"    'responses': {'200': {'description': 'OK', 'content': {'application/json': {'schema': {'type': 'array', 'items': " SCHEMA("A1111Lora") "}}}}, '500': " A1111_ERR("Out of memory") ", " A1111_AUTH "}}},"
"  '/sdapi/v1/refresh-loras': {'post': {'tags': ['a1111'], 'summary': 'AUTOMATIC1111: read --lora-dir again (new files join, removed ones leave; SIGHUP does the same)', 'operationId': 'a1111RefreshLoras', " A1111_SECURITY
"    'responses': {'200': {'description': 'OK (null, as A1111)', 'content': {'application/json': {'schema': {'type': 'object', 'nullable': true, 'enum': [null]}}}}, '500': " A1111_ERR("The directory cannot be read (the list is unchanged)") ", " A1111_AUTH "}}},"
"  '/v1/loras': {'get': {'tags': ['loras'], 'summary': 'The LoRAs of --lora-dir (empty without one): names for the loras field, sizes and hashes', 'operationId': 'listLoras',"
"    'description': 'hash is the AUTOMATIC1111 autov3 hash (SHA-256 of the safetensors data after the header), shorthash its first 12 digits as the Lora hashes infotext field carries them; computed once per file version (the first listing reads every file), null for a file that cannot be read.',"
"    'parameters': [{'name': 'hashes', 'in': 'query', 'required': false, 'schema': {'type': 'string', 'enum': ['true', 'false'], 'default': 'true'}, 'description': 'false: read no file (hashes not yet computed are null)'}],"
"    'responses': {'200': " JSON_OK("LoraList") ", '400': " ERR_WHY("hashes is neither true nor false", "Error") ", '500': " ERR_WHY("Out of memory", "Error") ", " NATIVE_AUTH "}}}"
" },"
" 'components': {'schemas': {"
"  'Status': {'type': 'object', 'required': ['status'], 'properties': {'status': {'type': 'string', 'enum': ['ok']}}},"
"  'Ready': {'type': 'object', 'required': ['status', 'queue_length', 'queue_size'], 'properties': {'status': {'type': 'string', 'enum': ['ready']}, 'model': {'type': 'string', 'description': 'The default model; only while the server has no API keys'}, 'queue_length': {'type': 'integer'}, 'queue_size': {'type': 'integer'}}},"
"  'Error': {'type': 'object', 'required': ['error'], 'description': 'The native error shape (/predict, /v1/jobs, health, usage, metrics; and every route for 413)', 'properties': {'error': {'type': 'object', 'required': ['message', 'type'], 'properties': {"
"    'message': {'type': 'string'}, 'type': {'type': 'string'}, 'code': {'type': 'string'}, 'param': {'type': 'string', 'description': 'The field at fault'}}}}},"
"  'OpenAIError': {'type': 'object', 'required': ['error'], 'description': 'OpenAI error shape (/v1/images, GET /v1/models)', 'properties': {'error': {'type': 'object', 'required': ['message', 'type', 'param', 'code'], 'properties': {"
"    'message': {'type': 'string'}, 'type': {'type': 'string'}, 'param': {'type': 'string', 'nullable': true}, 'code': {'type': 'string', 'nullable': true}}}}},"
"  'VertexError': {'type': 'object', 'required': ['error'], 'description': 'Google error shape plus the field at fault (POST /v1/models/MODEL:predict)', 'properties': {'error': {'type': 'object', 'required': ['code', 'message', 'status'], 'properties': {"
"    'code': {'type': 'integer'}, 'message': {'type': 'string'}, 'status': {'type': 'string', 'example': 'INVALID_ARGUMENT'}, 'field': {'type': 'string', 'example': 'instances[0].prompt'}}}}},"
"  'UsageCounts': {'type': 'object', 'required': ['requests', 'images', 'pixel_steps', 'compute_seconds'], 'properties': {"
"    'requests': {'type': 'integer', 'minimum': 0}, 'images': {'type': 'integer', 'minimum': 0},"
"    'pixel_steps': {'type': 'number', 'minimum': 0, 'description': 'Sum of width x height x steps x images'}, 'compute_seconds': {'type': 'number', 'minimum': 0}}},"
"  'UsageDay': {'allOf': [{'$ref': '#/components/schemas/UsageCounts'}, {'type': 'object', 'required': ['date'], 'properties': {'date': {'type': 'string', 'format': 'date', 'example': '2026-01-31'}}}]},"
"  'Usage': {'type': 'object', 'required': ['keys'], 'properties': {'keys': {'type': 'array', 'items': {'type': 'object', 'required': ['key_id', 'name', 'admin', 'revoked', 'total', 'days'], 'properties': {"
"    'key_id': {'type': 'string', 'description': 'The public id of the key (anonymous: requests made while the server had no keys)'}, 'name': {'type': 'string'},"
"    'admin': {'type': 'boolean'}, 'revoked': {'type': 'boolean'}, 'total': {'$ref': '#/components/schemas/UsageCounts'},"
"    'days': {'type': 'array', 'items': {'$ref': '#/components/schemas/UsageDay'}, 'description': 'Newest first'}}}}}},"
"  'GenerationParameters': {'type': 'object', 'additionalProperties': false, 'required': ['prompt'],"
"   'description': 'The one request model. null for any field means its default. maximum, multipleOf and maxLength are the limits of this server (--max-side, --max-steps, --max-batch, --max-prompt-bytes, the model size multiple).',"
"   'properties': {"
"    'prompt': {'type': 'string', 'description': 'At most --max-prompt-bytes bytes of UTF-8'},"
"    'negative_prompt': {'type': 'string', 'nullable': true, 'description': 'At most --max-prompt-bytes bytes of UTF-8. Absent or null: none, which on an SDXL base is zero negative conditioning (diffusers force_zeros_for_empty_prompt), while an empty string encodes the empty prompt; other families encode the empty prompt either way'},"
"    'model': {'type': 'string', 'nullable': true, 'description': 'A name GET /v1/models lists; absent: the default model. An SDXL refiner (refiner true) only with init_image'},"
"    'width': {'type': 'integer', 'nullable': true, 'minimum': 1, 'maximum': 2048, 'description': 'A multiple of the model size multiple; absent: the model default size (img2img: the init image size), at most --max-side'},"
"    'height': {'type': 'integer', 'nullable': true, 'minimum': 1, 'maximum': 2048},"
"    'steps': {'type': 'integer', 'nullable': true, 'minimum': 1, 'maximum': 1000, 'default': 20, 'description': 'Absent: 20, or --max-steps when lower'},"
"    'guidance_scale': {'type': 'number', 'nullable': true, 'minimum': 0, 'maximum': 100, 'default': 7.5},"
"    'sampler': {'type': 'string', 'nullable': true, 'description': 'A diffusers or A1111 name, e.g. DPM++ 2M Karras'},"
"    'schedule': {'type': 'string', 'nullable': true},"
"    'spacing': {'type': 'string', 'nullable': true},"
"    'seed': {'type': 'integer', 'format': 'int64', 'nullable': true, 'minimum': -1, 'description': '-1 or absent: random (reported)'},"
"    'seed_mode': {'type': 'string', 'nullable': true, 'enum': ['batch', 'per-image']},"
"    'rng': {'type': 'string', 'nullable': true, 'enum': ['cpu', 'philox']},"
"    'batch': {'type': 'integer', 'nullable': true, 'minimum': 1, 'maximum': 16},"
"    'n': {'type': 'integer', 'nullable': true, 'minimum': 1, 'maximum': 16, 'description': 'Alias of batch'},"
"    'clip_skip': {'type': 'integer', 'nullable': true, 'minimum': 1, 'maximum': 12},"
"    'weighting': {'type': 'boolean', 'nullable': true, 'description': 'A1111 emphasis syntax, and its <lora:NAME:SCALE> prompt tags (LoRAs of --lora-dir, as the loras field)'},"
"    'eta': {'type': 'number', 'nullable': true, 'minimum': 0, 'maximum': 1},"
"    'prediction': {'type': 'string', 'nullable': true, 'enum': ['epsilon', 'v_prediction']},"
"    'preview_every': {'type': 'integer', 'nullable': true, 'minimum': 0, 'maximum': 1000, 'description': 'TAESD previews every N steps (needs --taesd)'},"
"    'init_image': {'type': 'string', 'nullable': true, 'description': 'img2img: base64 of a PNG, JPEG or WebP file'},"
"    'strength': {'type': 'number', 'nullable': true, 'minimum': 0, 'maximum': 1, 'description': 'img2img strength (default 0.75)'},"
"    'decoder': {'type': 'string', 'nullable': true, 'enum': ['vae', 'taesd'], 'description': 'vae (default) or taesd: the decoder of the final image; taesd (TAESD, far cheaper, slightly softer) needs a server started with --taesd, else 400'},"
"    'preset': {'type': 'string', 'nullable': true, 'enum': ['turbo', 'lcm'], 'description': 'Recommended settings of a few-step model for the fields the request leaves out (sent fields win): turbo (SD-Turbo, SDXL-Turbo) = steps 1, guidance_scale 0, spacing trailing, the checkpoint sampler; lcm (LCM, LCM-LoRA) = sampler lcm, steps 4, guidance_scale 1'},"
"    'prompt_2': {'type': 'string', 'nullable': true, 'description': 'SDXL: the prompt of the second text encoder (diffusers prompt_2); absent: prompt. On another family: 400'},"
"    'negative_prompt_2': {'type': 'string', 'nullable': true, 'description': 'SDXL: the negative prompt of the second text encoder; absent: negative_prompt. On another family: 400'},"
"    'original_width': {'type': 'integer', 'nullable': true, 'minimum': 0, 'maximum': 65536, 'description': 'SDXL micro-conditioning (diffusers original_size), in pixels; 0 or absent: the image size. Non-zero on another family: 400'},"
"    'original_height': {'type': 'integer', 'nullable': true, 'minimum': 0, 'maximum': 65536},"
"    'target_width': {'type': 'integer', 'nullable': true, 'minimum': 0, 'maximum': 65536, 'description': 'SDXL micro-conditioning (diffusers target_size); 0 or absent: the image size'},"
"    'target_height': {'type': 'integer', 'nullable': true, 'minimum': 0, 'maximum': 65536},"
"    'crop_top': {'type': 'integer', 'nullable': true, 'minimum': 0, 'maximum': 65536, 'description': 'SDXL micro-conditioning (diffusers crops_coords_top_left), in pixels; default 0'},"
"    'crop_left': {'type': 'integer', 'nullable': true, 'minimum': 0, 'maximum': 65536},"
"    'aesthetic_score': {'type': 'number', 'nullable': true, 'minimum': -1000, 'maximum': 1000, 'default': 6, 'description': 'SDXL refiner conditioning; other than the default only where a refiner runs (refiner, or a refiner model with init_image), else 400'},"
"    'negative_aesthetic_score': {'type': 'number', 'nullable': true, 'minimum': -1000, 'maximum': 1000, 'default': 2.5},"
"    'refiner': {'type': 'string', 'nullable': true, 'description': 'An SDXL refiner GET /v1/models lists (refiner true) that takes over from the SDXL base model at refiner_start (base + refiner in one job). Unknown, not a refiner, or after another family: 400'},"
"    'refiner_start': {'type': 'number', 'nullable': true, 'minimum': 0, 'exclusiveMinimum': true, 'maximum': 1, 'exclusiveMaximum': true, 'default': 0.8, 'description': 'Only with refiner: the fraction of the schedule the base model runs (diffusers denoising_end)'},"
"    'loras': {'type': 'array', 'nullable': true, 'maxItems': 16, 'items': " SCHEMA("LoraUse") ", 'description': 'LoRAs of --lora-dir applied to this request only (GET /v1/loras lists them); with weighting, the prompt <lora:NAME:SCALE> tags are more (at most 16 in all). A server without --lora-dir: 400'},"
"    'precision': {'type': 'string', 'nullable': true, 'enum': ['f32', 'bf16', 'int8'], 'description': 'Arithmetic of the linear layers and convolutions: f32, bf16 (needs AVX512-BF16) or int8 (needs AVX512-VNNI or AVX-VNNI); a CPU without them computes in f32. Absent: the model --model-precision, else the server --precision (f32 by default); GET /v1/models shows it per model'}}},"
"  'LoraUse': {'type': 'object', 'additionalProperties': false, 'required': ['name'], 'description': 'A LoRA of --lora-dir and its strength; unet_scale and text_scale override scale for the UNet and the text encoders',"
"   'properties': {'name': {'type': 'string', 'minLength': 1, 'description': 'A name GET /v1/loras lists (the file name without .safetensors); a path, or an unknown name: 400'},"
"    'scale': {'type': 'number', 'nullable': true, 'minimum': -10, 'maximum': 10, 'default': 1}, 'unet_scale': {'type': 'number', 'nullable': true, 'minimum': -10, 'maximum': 10},"
"    'text_scale': {'type': 'number', 'nullable': true, 'minimum': -10, 'maximum': 10}}},"
"  'Lora': {'type': 'object', 'required': ['object', 'name', 'size', 'modified', 'hash', 'shorthash'], 'properties': {"
"    'object': {'type': 'string', 'enum': ['lora']}, 'name': {'type': 'string'}, 'size': {'type': 'integer', 'description': 'Bytes'}, 'modified': {'type': 'number', 'description': 'Unix time of the file'},"
"    'hash': {'type': 'string', 'nullable': true, 'pattern': '^[0-9a-f]{64}$'}, 'shorthash': {'type': 'string', 'nullable': true, 'pattern': '^[0-9a-f]{12}$'}}},"
"  'LoraList': {'type': 'object', 'required': ['object', 'data'], 'properties': {'object': {'type': 'string', 'enum': ['list']}, 'data': {'type': 'array', 'items': {'$ref': '#/components/schemas/Lora'}}}},"
"  'A1111Lora': {'type': 'object', 'required': ['name', 'alias', 'path', 'metadata'], 'properties': {"
"    'name': {'type': 'string'}, 'alias': {'type': 'string'}, 'path': {'type': 'string', 'description': 'The file name in --lora-dir, never a server path'}, 'metadata': {'type': 'object'}}},"
"  'JobImage': {'type': 'object', 'required': ['index', 'url'], 'properties': {'index': {'type': 'integer'}, 'url': {'type': 'string'}, 'seed': {'type': 'integer', 'format': 'int64'}}},"
"  'Job': {'type': 'object', 'required': ['id', 'object', 'url', 'state', 'created_at', 'started_at', 'finished_at', 'parameters', 'queue_position', 'progress', 'timings', 'images', 'error'], 'properties': {"
"    'id': {'type': 'string'}, 'object': {'type': 'string', 'enum': ['job']}, 'url': {'type': 'string'},"
"    'state': {'type': 'string', 'enum': ['queued', 'loading', 'running', 'completed', 'failed', 'cancelled'], 'description': 'loading: running, its model being loaded'},"
"    'created_at': {'type': 'number'}, 'started_at': {'type': 'number', 'nullable': true}, 'finished_at': {'type': 'number', 'nullable': true},"
"    'parameters': {'type': 'object', 'description': 'The normalized GenerationParameters'},"
"    'queue_position': {'type': 'integer', 'nullable': true},"
"    'progress': {'type': 'object', 'nullable': true, 'description': 'Sampling steps (not model evaluations); total is known from the start of the run (step 0); elapsed_seconds moves between steps', 'properties': {'step': {'type': 'integer'}, 'total': {'type': 'integer'}, 'fraction': {'type': 'number'}, 'elapsed_seconds': {'type': 'number'}, 'eta_seconds': {'type': 'number', 'nullable': true}}},"
"    'cancel_requested': {'type': 'boolean'},"
"    'timings': {'type': 'object', 'properties': {'queued_seconds': {'type': 'number'}, 'run_seconds': {'type': 'number'}}},"
"    'images': {'type': 'array', 'items': {'$ref': '#/components/schemas/JobImage'}},"
"    'width': {'type': 'integer'}, 'height': {'type': 'integer'},"
"    'infotexts': {'type': 'array', 'items': {'type': 'string', 'nullable': true}},"
"    'error': {'type': 'object', 'nullable': true, 'properties': {'type': {'type': 'string'}, 'code': {'type': 'string'}, 'message': {'type': 'string'}}}}},"
"  'JobList': {'type': 'object', 'required': ['object', 'data', 'has_more', 'next'], 'properties': {'object': {'type': 'string', 'enum': ['list']}, 'data': {'type': 'array', 'items': {'$ref': '#/components/schemas/Job'}}, 'has_more': {'type': 'boolean'},"
"    'next': {'type': 'string', 'nullable': true, 'description': 'The URL of the next page; null on the last'}}},"
"  'OpenAIImageRequest': {'type': 'object', 'additionalProperties': false, 'required': ['prompt'],"
"   'description': 'OpenAI fields, and beyond them the generation fields negative_prompt to precision. quality, style, moderation and background (but transparent) are accepted and ignored; other fields are rejected.',"
"   'properties': {"
"    'prompt': {'type': 'string'},"
"    'model': {'type': 'string', 'nullable': true, 'description': 'A name GET /v1/models lists, or diffuse; absent: the default model'},"
"    'n': {'type': 'integer', 'nullable': true, 'minimum': 1, 'maximum': 16, 'default': 1},"
"    'size': {'type': 'string', 'nullable': true, 'pattern': '^([0-9]+x[0-9]+|auto)$', 'description': 'WIDTHxHEIGHT, multiples of the model size multiple; auto: its default size'},"
"    'response_format': {'type': 'string', 'nullable': true, 'enum': ['b64_json', 'url'], 'default': 'b64_json'},"
"    'output_format': {'type': 'string', 'nullable': true, 'enum': ['png', 'jpeg', 'webp'], 'default': 'png'},"
"    'output_compression': {'type': 'integer', 'nullable': true, 'minimum': 0, 'maximum': 100, 'description': 'JPEG and WebP quality (absent: 80)'},"
"    'user': {'type': 'string', 'nullable': true},"
"    'stream': {'type': 'boolean', 'nullable': true},"
"    'partial_images': {'type': 'integer', 'nullable': true, 'minimum': 0, 'maximum': 3},"
"    'quality': {'type': 'string', 'nullable': true}, 'style': {'type': 'string', 'nullable': true},"
"    'moderation': {'type': 'string', 'nullable': true}, 'background': {'type': 'string', 'nullable': true, 'enum': ['auto', 'opaque', null]},"
"    'negative_prompt': {'type': 'string', 'nullable': true}, 'steps': {'type': 'integer', 'nullable': true, 'minimum': 1, 'maximum': 1000},"
"    'guidance_scale': {'type': 'number', 'nullable': true, 'minimum': 0, 'maximum': 100},"
"    'seed': {'type': 'integer', 'format': 'int64', 'nullable': true, 'minimum': -1}, 'sampler': {'type': 'string', 'nullable': true},"
"    'schedule': {'type': 'string', 'nullable': true}, 'spacing': {'type': 'string', 'nullable': true},"
"    'seed_mode': {'type': 'string', 'nullable': true, 'enum': ['batch', 'per-image']}, 'rng': {'type': 'string', 'nullable': true, 'enum': ['cpu', 'philox']},"
"    'clip_skip': {'type': 'integer', 'nullable': true, 'minimum': 1, 'maximum': 12}, 'weighting': {'type': 'boolean', 'nullable': true},"
"    'eta': {'type': 'number', 'nullable': true, 'minimum': 0, 'maximum': 1}, 'prediction': {'type': 'string', 'nullable': true, 'enum': ['epsilon', 'v_prediction']},"
"    'decoder': {'type': 'string', 'nullable': true, 'enum': ['vae', 'taesd'], 'description': 'As GenerationParameters'},"
"    'preset': {'type': 'string', 'nullable': true, 'enum': ['turbo', 'lcm'], 'description': 'As GenerationParameters'},"
"    'prompt_2': {'type': 'string', 'nullable': true, 'description': 'As GenerationParameters'}, 'negative_prompt_2': {'type': 'string', 'nullable': true},"
"    'original_width': {'type': 'integer', 'nullable': true, 'minimum': 0, 'maximum': 65536}, 'original_height': {'type': 'integer', 'nullable': true, 'minimum': 0, 'maximum': 65536},"
"    'target_width': {'type': 'integer', 'nullable': true, 'minimum': 0, 'maximum': 65536}, 'target_height': {'type': 'integer', 'nullable': true, 'minimum': 0, 'maximum': 65536},"
"    'crop_top': {'type': 'integer', 'nullable': true, 'minimum': 0, 'maximum': 65536}, 'crop_left': {'type': 'integer', 'nullable': true, 'minimum': 0, 'maximum': 65536},"
"    'aesthetic_score': {'type': 'number', 'nullable': true, 'minimum': -1000, 'maximum': 1000}, 'negative_aesthetic_score': {'type': 'number', 'nullable': true, 'minimum': -1000, 'maximum': 1000},"
"    'refiner': {'type': 'string', 'nullable': true, 'description': 'As GenerationParameters'},"
"    'refiner_start': {'type': 'number', 'nullable': true, 'minimum': 0, 'exclusiveMinimum': true, 'maximum': 1, 'exclusiveMaximum': true},"
"    'loras': {'type': 'array', 'nullable': true, 'maxItems': 16, 'items': " SCHEMA("LoraUse") ", 'description': 'As GenerationParameters'},"
"    'precision': {'type': 'string', 'nullable': true, 'enum': ['f32', 'bf16', 'int8']}}},"
"  'OpenAIImage': {'type': 'object', 'description': 'b64_json or url, as response_format asked', 'properties': {'b64_json': {'type': 'string'}, 'url': {'type': 'string'}, 'seed': {'type': 'integer', 'format': 'int64'}}},"
"  'OpenAIImagesResponse': {'type': 'object', 'required': ['created', 'data', 'output_format', 'size'], 'properties': {"
"    'created': {'type': 'integer'}, 'data': {'type': 'array', 'items': {'$ref': '#/components/schemas/OpenAIImage'}},"
"    'output_format': {'type': 'string'}, 'size': {'type': 'string'}}},"
"  'OpenAIModel': {'type': 'object', 'required': ['id', 'object'], 'properties': {'id': {'type': 'string'}, 'object': {'type': 'string', 'enum': ['model']}, 'created': {'type': 'integer'}, 'owned_by': {'type': 'string'}, 'precision': {'type': 'string', 'enum': ['f32', 'bf16', 'int8'], 'description': 'diffuse extension: what a request on this model that sets no precision computes in (--model-precision, else --precision)'},"
"    'family': {'type': 'string', 'enum': ['sd1', 'sd2', 'sdxl', 'unknown'], 'description': 'diffuse extension: the model family'}, 'refiner': {'type': 'boolean', 'description': 'diffuse extension: an SDXL refiner (a refiner after an SDXL base, or a model of img2img; no text to image)'}}},"
"  'OpenAIModelList': {'type': 'object', 'required': ['object', 'data'], 'properties': {'object': {'type': 'string', 'enum': ['list']}, 'data': {'type': 'array', 'items': {'$ref': '#/components/schemas/OpenAIModel'}}}},"
"  'VertexInstance': {'description': 'A prompt, or an object with prompt and any GenerationParameters field but batch, n, preview_every and model (they override parameters)',"
"   'oneOf': [{'type': 'string'}, {'type': 'object', 'required': ['prompt'], 'properties': {'prompt': {'type': 'string'}}, 'additionalProperties': true}]},"
"  'VertexPredictRequest': {'type': 'object', 'additionalProperties': false, 'required': ['instances'], 'properties': {"
"    'instances': {'type': 'array', 'minItems': 1, 'maxItems': 16, 'items': {'$ref': '#/components/schemas/VertexInstance'}},"
"    'parameters': {'type': 'object', 'nullable': true, 'description': 'GenerationParameters fields for every instance (not prompt-required; not batch, n, preview_every), and output_format: jpeg (default), png or webp',"
"     'properties': {'output_format': {'type': 'string', 'enum': ['jpeg', 'png', 'webp']}}, 'additionalProperties': true}}},"
"  'VertexPredictResponse': {'type': 'object', 'required': ['predictions'], 'properties': {"
"    'predictions': {'type': 'array', 'items': {'type': 'string', 'format': 'byte', 'description': 'Base64 of the image file'}}}},"
"  'A1111ValidationError': {'type': 'object', 'required': ['detail'], 'description': 'FastAPI validation error: one item naming the field', 'properties': {"
"    'detail': {'type': 'array', 'items': {'type': 'object', 'required': ['loc', 'msg', 'type'], 'properties': {"
"      'loc': {'type': 'array', 'items': {'type': 'string'}, 'example': ['body', 'restore_faces'], 'description': 'body, then the field (__root__ for the body as a whole; override_settings.KEY for an override)'},"
"      'msg': {'type': 'string'}, 'type': {'type': 'string', 'example': 'value_error'}}}}}},"
"  'A1111HTTPError': {'type': 'object', 'required': ['error', 'detail', 'body', 'errors'], 'properties': {"
"    'error': {'type': 'string', 'example': 'HTTPException'}, 'detail': {'type': 'string'}, 'body': {'type': 'string'}, 'errors': {'type': 'string', 'description': 'STATUS: message'}}},"
"  'A1111Txt2ImgRequest': {'type': 'object', 'additionalProperties': false,"
"   'description': 'AUTOMATIC1111 StableDiffusionProcessingTxt2Img. null for a field means its default. Unknown fields, and fields asking for what this server does not support, are refused with 422.',"
"   'properties': {"
A1111_FIELDS
"    'denoising_strength': {'type': 'number', 'nullable': true, 'description': 'Ignored by txt2img'},"
"    'init_images': {'type': 'array', 'nullable': true, 'items': {'type': 'string'}, 'maxItems': 0, 'description': 'Only for img2img: refused unless null'}}},"
"  'A1111Img2ImgRequest': {'type': 'object', 'additionalProperties': false, 'required': ['init_images'],"
"   'description': 'AUTOMATIC1111 StableDiffusionProcessingImg2Img: the txt2img fields with init_images and denoising_strength. null for a field means its default.',"
"   'properties': {"
A1111_FIELDS
"    'denoising_strength': {'type': 'number', 'nullable': true, 'minimum': 0, 'maximum': 1, 'default': 0.75},"
"    'init_images': {'type': 'array', 'minItems': 1, 'maxItems': 1, 'items': {'type': 'string', 'format': 'byte'}, 'description': 'One base64 PNG, JPEG or WebP file'}}},"
"  'A1111GenerationResponse': {'type': 'object', 'required': ['images', 'parameters', 'info'], 'properties': {"
"    'images': {'type': 'array', 'items': {'type': 'string', 'format': 'byte', 'description': 'Base64 of a PNG file with its parameters text chunk'}, 'description': 'batch_size times n_iter images (none when send_images is false)'},"
"    'parameters': {'type': 'object', 'additionalProperties': true, 'description': 'The request fields: the A1111 defaults overwritten by what the request sent (img2img: init_images null unless include_init_images)'},"
"    'info': {'type': 'string', 'description': 'A JSON object as text (A1111 processed.js()): prompt, all_prompts, negative_prompt, all_negative_prompts, seed, all_seeds, subseed, all_subseeds, subseed_strength, width, height, sampler_name, cfg_scale, steps, batch_size, n_iter, restore_faces, sd_model_name, seed_resize_from_w, seed_resize_from_h, denoising_strength, extra_generation_params, index_of_first_image, infotexts, styles, job_timestamp, clip_skip, is_using_inpainting_conditioning, version, interrupted'}}},"
"  'A1111Progress': {'type': 'object', 'required': ['progress', 'eta_relative', 'state', 'current_image', 'textinfo'], 'properties': {"
"    'progress': {'type': 'number', 'minimum': 0, 'maximum': 1}, 'eta_relative': {'type': 'number', 'description': 'Seconds left'},"
"    'state': {'type': 'object', 'properties': {'skipped': {'type': 'boolean'}, 'interrupted': {'type': 'boolean'}, 'stopping_generation': {'type': 'boolean'},"
"      'job': {'type': 'string', 'description': 'The job id; empty when none runs'}, 'job_count': {'type': 'integer'}, 'job_timestamp': {'type': 'string'}, 'job_no': {'type': 'integer'},"
"      'sampling_step': {'type': 'integer'}, 'sampling_steps': {'type': 'integer'}}},"
"    'current_image': {'type': 'string', 'format': 'byte', 'nullable': true, 'description': 'Base64 PNG of the latest preview (with --taesd)'},"
"    'textinfo': {'type': 'string', 'nullable': true, 'description': 'Queue position, Loading model, or the state of a finished task'}}},"
"  'A1111Sampler': {'type': 'object', 'required': ['name', 'aliases', 'options'], 'properties': {"
"    'name': {'type': 'string'}, 'aliases': {'type': 'array', 'items': {'type': 'string'}}, 'options': {'type': 'object', 'properties': {'scheduler': {'type': 'string'}}}}},"
"  'A1111Scheduler': {'type': 'object', 'required': ['name', 'label'], 'properties': {"
"    'name': {'type': 'string'}, 'label': {'type': 'string'}, 'aliases': {'type': 'array', 'nullable': true, 'items': {'type': 'string'}},"
"    'default_rho': {'type': 'number'}, 'need_inner_model': {'type': 'boolean'}}},"
"  'A1111Model': {'type': 'object', 'required': ['title', 'model_name', 'filename'], 'properties': {"
"    'title': {'type': 'string', 'description': 'The name override_settings.sd_model_checkpoint and the options take'}, 'model_name': {'type': 'string'},"
"    'hash': {'type': 'string', 'nullable': true}, 'sha256': {'type': 'string', 'nullable': true, 'description': 'Not computed: null'},"
"    'filename': {'type': 'string', 'description': 'The name under --models-dir (or the base name of the -m model): never a server path'}, 'config': {'type': 'string', 'nullable': true},"
"    'family': {'type': 'string', 'enum': ['sd1', 'sd2', 'sdxl', 'unknown'], 'description': 'diffuse extension: the model family'}, 'refiner': {'type': 'boolean', 'description': 'diffuse extension: an SDXL refiner (for refiner_checkpoint)'}}},"
"  'A1111Options': {'type': 'object', 'additionalProperties': true, 'properties': {"
"    'sd_model_checkpoint': {'type': 'string', 'description': 'The default model (a title GET /sdapi/v1/sd-models lists; an unknown one: 422): the server default, or the one this key set'},"
"    'CLIP_stop_at_last_layers': {'type': 'integer', 'nullable': true, 'minimum': 1, 'maximum': 12, 'default': 1}, 'randn_source': {'type': 'string', 'nullable': true, 'enum': ['CPU', 'GPU', 'NV', 'cpu', 'gpu', 'nv', null], 'default': 'CPU'},"
"    'show_progress_every_n_steps': {'type': 'integer', 'nullable': true, 'default': 10, 'description': 'Previews for /progress every N steps (with --taesd)'},"
"    'samples_format': {'type': 'string'}, 'live_previews_enable': {'type': 'boolean', 'description': 'Whether the server has --taesd (read-only in effect)'}}},"
"  'A1111PngInfoRequest': {'type': 'object', 'required': ['image'], 'properties': {'image': {'type': 'string', 'format': 'byte', 'description': 'Base64 of a PNG, JPEG or WebP file'}}},"
"  'A1111PngInfoResponse': {'type': 'object', 'required': ['info', 'items', 'parameters'], 'properties': {"
"    'info': {'type': 'string', 'description': 'The infotext (empty when the image has none)'}, 'items': {'type': 'object'},"
"    'parameters': {'type': 'object', 'additionalProperties': {'type': 'string'}, 'description': 'The infotext parsed: Prompt, Negative prompt, each Key: value, Size-1 and Size-2, Clip skip'}}}"
" },"
" 'responses': {"
"  'Unauthorized': " UNAUTHORIZED("Error") ","
"  'OpenAIUnauthorized': " UNAUTHORIZED("OpenAIError") ","
"  'VertexUnauthorized': " UNAUTHORIZED("VertexError") ","
"  'A1111Unauthorized': " UNAUTHORIZED("A1111HTTPError") ","
"  'RateLimited': " RATE_LIMITED("Error") ","
"  'OpenAIRateLimited': " RATE_LIMITED("OpenAIError") ","
"  'VertexRateLimited': " RATE_LIMITED("VertexError") ","
"  'A1111RateLimited': " RATE_LIMITED("A1111HTTPError") ","
"  'BodyTooLarge': {'description': 'The body is larger than --max-body-bytes (answered before routing: the native shape on every route)', 'content': {'application/json': {'schema': " SCHEMA("Error") "}}}},"
" 'securitySchemes': {"
"  'bearerAuth': {'type': 'http', 'scheme': 'bearer', 'description': 'An API key (dfk_...) from diffuse keys create; needed once the data directory has had keys (revoked ones count) unless diffuse keys disable-auth or --no-auth'},"
"  'basicAuth': {'type': 'http', 'scheme': 'basic', 'description': 'The A1111 routes: the API key as the password (any user name)'}}"
" }}";

static json_t *parsed;
static pthread_once_t parsed_once = PTHREAD_ONCE_INIT;

static void parse_document(void)
{
    char *text = strdup(document);
    if (!text)
        return;
    for (char *c = text; *c; c++)
        if (*c == '\'')
            *c = '"';
    json_error_t error;
    parsed = json_loads(text, 0, &error);
    if (!parsed)
        df_log_warning("openapi.json: line %d column %d: %s", error.line,
                       error.column, error.text);
    free(text);
}

/* The object at components/schemas/SCHEMA/properties/FIELD (borrowed), or
 * NULL: every figure below goes into one of those. */
static json_t *field_schema(json_t *document, const char *schema, const char *field)
{
    json_t *schemas = json_object_get(json_object_get(document, "components"), "schemas");
    return json_object_get(json_object_get(json_object_get(schemas, schema), "properties"),
                           field);
}

static void set_integer(json_t *document, const char *schema, const char *field,
                        const char *keyword, long long value)
{
    json_t *target = field_schema(document, schema, field);
    if (json_is_object(target))
        json_object_set_new(target, keyword, json_integer(value));
}

/* The size multiple every offered model shares, or 0 when they differ (then
 * only the server's check knows a request's model's). */
static int shared_size_multiple(const df_server *server)
{
    int multiple = server->limits.size_multiple;
    for (int i = 0; server->models && i < df_models_count(server->models); i++) {
        const df_model_entry *entry = df_models_entry(server->models, i);
        if (entry && entry->size_multiple != multiple)
            return 0;
    }
    return multiple;
}

static long long at_most(long long a, long long b) { return a < b ? a : b; }

/* This server's limits into the request schemas, so the document describes
 * what this server accepts, not what the engine could. */
static void apply_limits(json_t *document, const df_server *server)
{
    const df_request_limits *limits = &server->limits;
    long long prompt = (long long)limits->max_prompt_bytes;
    int multiple = shared_size_multiple(server);
    static const char *const prompts[] = {"prompt", "negative_prompt", "prompt_2",
                                          "negative_prompt_2"};
    static const char *const sides[] = {"width", "height"};
    static const char *const native[] = {"GenerationParameters", "OpenAIImageRequest"};
    static const char *const a1111[] = {"A1111Txt2ImgRequest", "A1111Img2ImgRequest"};
    for (int s = 0; s < 2; s++) {
        for (int p = 0; p < 4; p++) {
            set_integer(document, native[s], prompts[p], "maxLength", prompt);
            if (p < 2) /* A1111 has no prompt_2 */
                set_integer(document, a1111[s], prompts[p], "maxLength", prompt);
        }
        set_integer(document, native[s], "steps", "maximum", limits->max_steps);
        set_integer(document, native[s], "n", "maximum", limits->max_batch);
        /* A1111: batch_size, n_iter and their product at most --max-batch
         * (routes_a1111.c checks the same). */
        set_integer(document, a1111[s], "steps", "maximum", limits->max_steps);
        set_integer(document, a1111[s], "steps", "default", at_most(50, limits->max_steps));
        set_integer(document, a1111[s], "batch_size", "maximum", limits->max_batch);
        set_integer(document, a1111[s], "n_iter", "maximum", limits->max_batch);
        for (int i = 0; i < 2; i++) {
            set_integer(document, a1111[s], sides[i], "maximum", limits->max_side);
            if (multiple > 0) /* 0 (the default size) is a multiple too */
                set_integer(document, a1111[s], sides[i], "multipleOf", multiple);
        }
    }
    for (int i = 0; i < 2; i++) {
        set_integer(document, "GenerationParameters", sides[i], "maximum", limits->max_side);
        if (multiple > 0) {
            set_integer(document, "GenerationParameters", sides[i], "minimum", multiple);
            set_integer(document, "GenerationParameters", sides[i], "multipleOf", multiple);
        }
    }
    set_integer(document, "GenerationParameters", "steps", "default",
                at_most(20, limits->max_steps));
    set_integer(document, "GenerationParameters", "batch", "maximum", limits->max_batch);
    set_integer(document, "VertexPredictRequest", "instances", "maxItems", limits->max_batch);
}

static enum MHD_Result openapi(df_http_request *request)
{
    pthread_once(&parsed_once, parse_document);
    json_t *copy = parsed ? json_deep_copy(parsed) : NULL;
    if (!copy)
        return df_http_send_error(request, 500, "server_error", "internal", NULL, NULL,
                                  "the OpenAPI document is not available");
    apply_limits(copy, request->context);
    /* The server as the client reached it, so "Try it out" tools work. */
    const char *host = df_http_header(request, "Host");
    if (host && *host && strlen(host) < 256 && !strpbrk(host, " /\\\"<>")) {
        char url[300];
        snprintf(url, sizeof url, "http://%s", host);
        json_object_set_new(copy, "servers", json_pack("[{s:s}]", "url", url));
    }
    return df_http_send_json(request, 200, copy, NULL);
}

const df_http_route df_routes_openapi[] = {
    {"GET", "/openapi.json", openapi, NULL},
    {NULL, NULL, NULL, NULL},
};
