/*
 * routes_openapi.c — GET /openapi.json: an OpenAPI 3.0.3 document of the
 * routes this file knows (health, /predict, native jobs, OpenAI, Vertex AI,
 * AUTOMATIC1111 /sdapi/v1, itself), with request and response schemas.
 *
 * The document is JSON text below with ' for " (so it reads as JSON in C,
 * without escapes; no text in it uses an apostrophe), parsed once and served
 * with the request's host as the server URL. tests/server/test_openai.py
 * checks it with openapi-spec-validator and checks that every documented
 * route answers. A family that adds routes adds their paths here.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/routes.h"

#define ERR(ref) "{'description': 'Error', 'content': {'application/json': {'schema': {'$ref': '#/components/schemas/" ref "'}}}}"
#define JSON_BODY(ref) "{'required': true, 'content': {'application/json': {'schema': {'$ref': '#/components/schemas/" ref "'}}}}"
#define JSON_OK(ref) "{'description': 'OK', 'content': {'application/json': {'schema': {'$ref': '#/components/schemas/" ref "'}}}}"
#define IMAGE_OK "{'description': 'The image', 'content': {'image/png': {'schema': {'type': 'string', 'format': 'binary'}}, 'image/jpeg': {'schema': {'type': 'string', 'format': 'binary'}}, 'image/webp': {'schema': {'type': 'string', 'format': 'binary'}}}}"
#define JOB_ID "{'name': 'id', 'in': 'path', 'required': true, 'schema': {'type': 'string'}}"
#define MODEL_PARAM "{'name': 'model', 'in': 'path', 'required': true, 'schema': {'type': 'string'}, 'description': 'A name GET /v1/models lists, or diffuse for the default model'}"
#define A1111_ERR(ref) "{'description': 'Error (AUTOMATIC1111 shape)', 'content': {'application/json': {'schema': {'$ref': '#/components/schemas/" ref "'}}}}"
#define A1111_422 "{'description': 'A field is invalid, unknown, or asks for something this server does not support (FastAPI validation shape; loc names the field)', 'content': {'application/json': {'schema': {'$ref': '#/components/schemas/A1111ValidationError'}}}}"
#define A1111_GEN_ERRORS "'404': {'description': 'Sampler not found (sampler_name or sampler_index)', 'content': {'application/json': {'schema': {'$ref': '#/components/schemas/A1111HTTPError'}}}}, '413': " ERR("Error") ", '422': " A1111_422 ", '429': " A1111_ERR("A1111HTTPError") ", '500': " A1111_ERR("A1111HTTPError") ", '503': " A1111_ERR("A1111HTTPError") ", '504': " A1111_ERR("A1111HTTPError")
/* The request fields txt2img and img2img share (both routes check one field
 * table; init_images and denoising_strength differ and are added by each).
 * Fields marked "accepted only when off" are refused with 422 otherwise. */
#define A1111_FIELDS \
"    'prompt': {'type': 'string', 'nullable': true, 'default': '', 'description': 'At most 32000 bytes'}," \
"    'negative_prompt': {'type': 'string', 'nullable': true, 'default': ''}," \
"    'steps': {'type': 'integer', 'nullable': true, 'minimum': 1, 'maximum': 1000, 'default': 50}," \
"    'cfg_scale': {'type': 'number', 'nullable': true, 'minimum': 0, 'maximum': 100, 'default': 7}," \
"    'sampler_name': {'type': 'string', 'nullable': true, 'description': 'A name GET /sdapi/v1/samplers lists (or a diffusers name); absent, null or empty: sampler_index, else Euler. Unknown: 404'}," \
"    'sampler_index': {'type': 'string', 'nullable': true, 'default': 'Euler', 'description': 'Used when sampler_name is absent or empty'}," \
"    'scheduler': {'type': 'string', 'nullable': true, 'description': 'automatic, uniform or karras (case-insensitive; GET /sdapi/v1/schedulers); others: 422'}," \
"    'seed': {'type': 'integer', 'format': 'int64', 'nullable': true, 'default': -1, 'description': 'Negative: random. Image i of the request has seed + i'}," \
"    'batch_size': {'type': 'integer', 'nullable': true, 'minimum': 1, 'maximum': 16, 'default': 1}," \
"    'n_iter': {'type': 'integer', 'nullable': true, 'minimum': 1, 'maximum': 16, 'default': 1, 'description': 'n_iter times batch_size is at most 16'}," \
"    'width': {'type': 'integer', 'nullable': true, 'minimum': 0, 'maximum': 2048, 'description': 'A multiple of the model size multiple; 0 or absent: the model default size (img2img: the init image size)'}," \
"    'height': {'type': 'integer', 'nullable': true, 'minimum': 0, 'maximum': 2048}," \
"    'override_settings': {'type': 'object', 'nullable': true, 'additionalProperties': true, 'description': 'Over the options POST /sdapi/v1/options set; the keys below are honoured, others ignored', 'properties': {" \
"      'CLIP_stop_at_last_layers': {'type': 'integer', 'minimum': 1, 'maximum': 12, 'description': 'CLIP skip'}," \
"      'randn_source': {'type': 'string', 'enum': ['CPU', 'GPU', 'NV', 'cpu', 'gpu', 'nv'], 'description': 'CPU (default): the CPU generator; GPU or NV: the Philox generator (case-insensitive)'}," \
"      'sd_model_checkpoint': {'type': 'string', 'description': 'A title GET /sdapi/v1/sd-models lists: this request only'}}}," \
"    'force_task_id': {'type': 'string', 'nullable': true, 'maxLength': 127, 'description': 'An id for GET /sdapi/v1/progress?id_task= (at most 127 bytes)'}," \
"    'send_images': {'type': 'boolean', 'nullable': true, 'default': true, 'description': 'false: images is empty'}," \
"    'include_init_images': {'type': 'boolean', 'nullable': true, 'default': false, 'description': 'img2img: keep init_images in the response parameters (else null)'}," \
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
"    'refiner_checkpoint': {'type': 'string', 'nullable': true, 'maxLength': 0, 'description': 'Accepted only when empty or null'}," \
"    'refiner_switch_at': {'type': 'number', 'nullable': true, 'description': 'Ignored'}," \
"    'disable_extra_networks': {'type': 'boolean', 'nullable': true, 'description': 'Ignored'}," \
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
"    'initial_noise_multiplier': {'type': 'number', 'nullable': true, 'enum': [1, null], 'description': 'Accepted only when 1 or null'},"

static const char document[] =
"{'openapi': '3.0.3',"
" 'info': {'title': 'diffuse serve', 'version': '1',"
"  'description': 'Text-to-image HTTP API of diffuse: the simple /predict endpoint, asynchronous jobs with live progress, and the OpenAI Images and Vertex AI prediction formats, and the AUTOMATIC1111 web UI API (/sdapi/v1: txt2img, img2img, progress, interrupt, skip, samplers, schedulers, sd-models, options, png-info) for the tools that speak it. Every generation route shares one request model (GenerationParameters); unknown fields are rejected with 400 naming the field (the A1111 routes translate their own fields into it and answer in A1111 shapes: 422 with a FastAPI detail list naming the field for an unknown field or one asking for a feature this server does not have).'},"
" 'paths': {"
"  '/healthz': {'get': {'tags': ['health'], 'summary': 'Liveness', 'operationId': 'healthz',"
"    'responses': {'200': " JSON_OK("Status") "}}},"
"  '/readyz': {'get': {'tags': ['health'], 'summary': 'Readiness: the default model is loaded and the queue takes jobs', 'operationId': 'readyz',"
"    'responses': {'200': " JSON_OK("Ready") ", '503': " ERR("Error") "}}},"
"  '/openapi.json': {'get': {'tags': ['health'], 'summary': 'This document', 'operationId': 'openapi',"
"    'responses': {'200': {'description': 'OpenAPI 3.0 document', 'content': {'application/json': {'schema': {'type': 'object'}}}}}}},"
"  '/predict': {'post': {'tags': ['predict'], 'summary': 'Generate one image synchronously', 'operationId': 'predict',"
"    'description': 'Returns the image bytes (JPEG; an Accept header of image/png or image/webp picks another format) and the job id in X-Job-Id. A client that disconnects cancels its job.',"
"    'parameters': [{'name': 'Accept', 'in': 'header', 'required': false, 'schema': {'type': 'string'}}],"
"    'requestBody': " JSON_BODY("GenerationParameters") ","
"    'responses': {'200': " IMAGE_OK ", '400': " ERR("Error") ", '409': " ERR("Error") ", '413': " ERR("Error") ", '429': " ERR("Error") ", '503': " ERR("Error") ", '504': " ERR("Error") "}}},"
"  '/v1/jobs': {"
"   'post': {'tags': ['jobs'], 'summary': 'Submit a job', 'operationId': 'createJob',"
"    'requestBody': " JSON_BODY("GenerationParameters") ","
"    'responses': {'202': {'description': 'Accepted; Location is the job URL', 'headers': {'Location': {'schema': {'type': 'string'}}}, 'content': {'application/json': {'schema': {'$ref': '#/components/schemas/Job'}}}}, '400': " ERR("Error") ", '429': " ERR("Error") ", '503': " ERR("Error") "}},"
"   'get': {'tags': ['jobs'], 'summary': 'Recent jobs, newest first', 'operationId': 'listJobs',"
"    'parameters': [{'name': 'limit', 'in': 'query', 'required': false, 'schema': {'type': 'integer', 'minimum': 1, 'maximum': 100, 'default': 20}},"
"                   {'name': 'before', 'in': 'query', 'required': false, 'schema': {'type': 'string'}, 'description': 'A job id: list older jobs'}],"
"    'responses': {'200': " JSON_OK("JobList") ", '400': " ERR("Error") "}}},"
"  '/v1/jobs/{id}': {'get': {'tags': ['jobs'], 'summary': 'A job: state, queue position, progress, timings, images', 'operationId': 'getJob',"
"    'parameters': [" JOB_ID "],"
"    'responses': {'200': " JSON_OK("Job") ", '404': " ERR("Error") "}}},"
"  '/v1/jobs/{id}/events': {'get': {'tags': ['jobs'], 'summary': 'Server-sent events of a job until it ends', 'operationId': 'jobEvents',"
"    'description': 'Events: queued, started, step (step, total, eta_seconds, optional base64 PNG preview), completed, failed, cancelled. Last-Event-ID resumes.',"
"    'parameters': [" JOB_ID "],"
"    'responses': {'200': {'description': 'An event stream', 'content': {'text/event-stream': {'schema': {'type': 'string'}}}}, '404': " ERR("Error") "}}},"
"  '/v1/jobs/{id}/cancel': {'post': {'tags': ['jobs'], 'summary': 'Cancel a job (a running one stops within one step)', 'operationId': 'cancelJob',"
"    'parameters': [" JOB_ID "],"
"    'responses': {'200': " JSON_OK("Job") ", '202': " JSON_OK("Job") ", '404': " ERR("Error") ", '409': " ERR("Error") "}}},"
"  '/v1/jobs/{id}/images/{n}': {'get': {'tags': ['jobs'], 'summary': 'Image n of a completed job', 'operationId': 'getJobImage',"
"    'parameters': [" JOB_ID ", {'name': 'n', 'in': 'path', 'required': true, 'schema': {'type': 'integer', 'minimum': 0}},"
"                   {'name': 'format', 'in': 'query', 'required': false, 'schema': {'type': 'string', 'enum': ['png', 'jpeg', 'webp'], 'default': 'png'}}],"
"    'responses': {'200': " IMAGE_OK ", '404': " ERR("Error") ", '409': " ERR("Error") "}}},"
"  '/v1/images/generations': {'post': {'tags': ['openai'], 'summary': 'OpenAI Images API: create images', 'operationId': 'createImage',"
"    'description': 'As OpenAI. With stream true, server-sent events image_generation.partial_image (TAESD previews, when the server has --taesd) and image_generation.completed (one per image). Errors in the OpenAI shape.',"
"    'requestBody': " JSON_BODY("OpenAIImageRequest") ","
"    'responses': {'200': {'description': 'The images (or an event stream)', 'content': {'application/json': {'schema': {'$ref': '#/components/schemas/OpenAIImagesResponse'}}, 'text/event-stream': {'schema': {'type': 'string'}}}},"
"                  '400': " ERR("OpenAIError") ", '404': " ERR("OpenAIError") ", '409': " ERR("OpenAIError") ", '429': " ERR("OpenAIError") ", '503': " ERR("OpenAIError") ", '504': " ERR("OpenAIError") "}}},"
"  '/v1/images/files/{job}/{file}': {'get': {'tags': ['openai'], 'summary': 'An image a url response_format answer points to', 'operationId': 'getImageFile',"
"    'parameters': [{'name': 'job', 'in': 'path', 'required': true, 'schema': {'type': 'string'}},"
"                   {'name': 'file', 'in': 'path', 'required': true, 'schema': {'type': 'string'}, 'description': 'N.png, N.jpeg or N.webp'},"
"                   {'name': 'expires', 'in': 'query', 'required': true, 'schema': {'type': 'integer'}},"
"                   {'name': 'signature', 'in': 'query', 'required': true, 'schema': {'type': 'string'}}],"
"    'responses': {'200': " IMAGE_OK ", '403': " ERR("OpenAIError") ", '404': " ERR("OpenAIError") ", '410': " ERR("OpenAIError") "}}},"
"  '/v1/models': {'get': {'tags': ['openai'], 'summary': 'The models this server offers (OpenAI list shape)', 'operationId': 'listModels',"
"    'responses': {'200': " JSON_OK("OpenAIModelList") "}}},"
"  '/v1/models/{model}': {'get': {'tags': ['openai'], 'summary': 'One model (OpenAI shape)', 'operationId': 'getModel',"
"    'parameters': [" MODEL_PARAM "],"
"    'responses': {'200': " JSON_OK("OpenAIModel") ", '404': " ERR("OpenAIError") "}}},"
"  '/v1/models/{model}:predict': {'post': {'tags': ['vertex'], 'summary': 'Vertex AI prediction: one image per instance', 'operationId': 'vertexPredict',"
"    'description': 'Also served on AIP_PREDICT_ROUTE (and AIP_HEALTH_ROUTE for health) when those environment variables are set.',"
"    'parameters': [" MODEL_PARAM "],"
"    'requestBody': " JSON_BODY("VertexPredictRequest") ","
"    'responses': {'200': " JSON_OK("VertexPredictResponse") ", '400': " ERR("VertexError") ", '404': " ERR("VertexError") ", '429': " ERR("VertexError") ", '503': " ERR("VertexError") "}}},"
"  '/sdapi/v1/txt2img': {'post': {'tags': ['a1111'], 'summary': 'AUTOMATIC1111: text to image', 'operationId': 'a1111Txt2Img',"
"    'description': 'Waits for the job as /predict does (a client that disconnects cancels it; --sync-timeout bounds the wait, then 504 and the job goes on). The job id is in X-Job-Id. Every A1111 field is accepted; those this server cannot honour only when off or at their default (else 422 naming the field); fields A1111 does not know: 422.',"
"    'requestBody': " JSON_BODY("A1111Txt2ImgRequest") ","
"    'responses': {'200': {'description': 'OK', 'headers': {'X-Job-Id': {'schema': {'type': 'string'}}}, 'content': {'application/json': {'schema': {'$ref': '#/components/schemas/A1111GenerationResponse'}}}}, " A1111_GEN_ERRORS "}}},"
"  '/sdapi/v1/img2img': {'post': {'tags': ['a1111'], 'summary': 'AUTOMATIC1111: image to image (one init image, no inpainting)', 'operationId': 'a1111Img2Img',"
"    'description': 'As txt2img, with init_images (one base64 image) and denoising_strength.',"
"    'requestBody': " JSON_BODY("A1111Img2ImgRequest") ","
"    'responses': {'200': {'description': 'OK', 'headers': {'X-Job-Id': {'schema': {'type': 'string'}}}, 'content': {'application/json': {'schema': {'$ref': '#/components/schemas/A1111GenerationResponse'}}}}, " A1111_GEN_ERRORS "}}},"
"  '/sdapi/v1/progress': {'get': {'tags': ['a1111'], 'summary': 'AUTOMATIC1111: progress of the running job, or of a task', 'operationId': 'a1111Progress',"
"    'parameters': [{'name': 'id_task', 'in': 'query', 'required': false, 'schema': {'type': 'string'}, 'description': 'A force_task_id or a job id; absent: the running job'},"
"                   {'name': 'skip_current_image', 'in': 'query', 'required': false, 'schema': {'type': 'boolean', 'default': false}, 'description': 'true or 1: no current_image'}],"
"    'responses': {'200': " JSON_OK("A1111Progress") "}}},"
"  '/sdapi/v1/interrupt': {'post': {'tags': ['a1111'], 'summary': 'AUTOMATIC1111: cancel the running job (it stops within one step)', 'operationId': 'a1111Interrupt',"
"    'responses': {'200': {'description': 'OK (an empty object)', 'content': {'application/json': {'schema': {'type': 'object'}}}}}}},"
"  '/sdapi/v1/skip': {'post': {'tags': ['a1111'], 'summary': 'AUTOMATIC1111: as interrupt (the running job is cancelled)', 'operationId': 'a1111Skip',"
"    'responses': {'200': {'description': 'OK (an empty object)', 'content': {'application/json': {'schema': {'type': 'object'}}}}}}},"
"  '/sdapi/v1/samplers': {'get': {'tags': ['a1111'], 'summary': 'AUTOMATIC1111: the samplers', 'operationId': 'a1111Samplers',"
"    'responses': {'200': {'description': 'OK', 'content': {'application/json': {'schema': {'type': 'array', 'items': {'$ref': '#/components/schemas/A1111Sampler'}}}}}}}},"
"  '/sdapi/v1/schedulers': {'get': {'tags': ['a1111'], 'summary': 'AUTOMATIC1111: the schedulers (automatic, uniform, karras)', 'operationId': 'a1111Schedulers',"
"    'responses': {'200': {'description': 'OK', 'content': {'application/json': {'schema': {'type': 'array', 'items': {'$ref': '#/components/schemas/A1111Scheduler'}}}}}}}},"
"  '/sdapi/v1/sd-models': {'get': {'tags': ['a1111'], 'summary': 'AUTOMATIC1111: the models this server offers', 'operationId': 'a1111SdModels',"
"    'responses': {'200': {'description': 'OK', 'content': {'application/json': {'schema': {'type': 'array', 'items': {'$ref': '#/components/schemas/A1111Model'}}}}}}}},"
"  '/sdapi/v1/options': {"
"   'get': {'tags': ['a1111'], 'summary': 'AUTOMATIC1111: the options (sd_model_checkpoint is the default model)', 'operationId': 'a1111GetOptions',"
"    'responses': {'200': " JSON_OK("A1111Options") "}},"
"   'post': {'tags': ['a1111'], 'summary': 'AUTOMATIC1111: set options', 'operationId': 'a1111SetOptions',"
"    'description': 'sd_model_checkpoint sets the default model; CLIP_stop_at_last_layers, randn_source and show_progress_every_n_steps are defaults for txt2img and img2img; any other key is stored and returned by GET. Types are checked before any option is set.',"
"    'requestBody': " JSON_BODY("A1111Options") ","
"    'responses': {'200': {'description': 'OK (null, as A1111)', 'content': {'application/json': {'schema': {'type': 'object', 'nullable': true, 'enum': [null]}}}}, '422': " A1111_422 "}}},"
"  '/sdapi/v1/png-info': {'post': {'tags': ['a1111'], 'summary': 'AUTOMATIC1111: the generation parameters an image carries, parsed', 'operationId': 'a1111PngInfo',"
"    'requestBody': " JSON_BODY("A1111PngInfoRequest") ","
"    'responses': {'200': " JSON_OK("A1111PngInfoResponse") ", '422': " A1111_422 "}}}"
" },"
" 'components': {'schemas': {"
"  'Status': {'type': 'object', 'properties': {'status': {'type': 'string'}}},"
"  'Ready': {'type': 'object', 'properties': {'status': {'type': 'string'}, 'model': {'type': 'string'}, 'queue_length': {'type': 'integer'}, 'queue_size': {'type': 'integer'}}},"
"  'Error': {'type': 'object', 'required': ['error'], 'properties': {'error': {'type': 'object', 'required': ['message', 'type'], 'properties': {"
"    'message': {'type': 'string'}, 'type': {'type': 'string'}, 'code': {'type': 'string'}, 'param': {'type': 'string', 'description': 'The field at fault'}}}}},"
"  'OpenAIError': {'type': 'object', 'required': ['error'], 'properties': {'error': {'type': 'object', 'required': ['message', 'type', 'param', 'code'], 'properties': {"
"    'message': {'type': 'string'}, 'type': {'type': 'string'}, 'param': {'type': 'string', 'nullable': true}, 'code': {'type': 'string', 'nullable': true}}}}},"
"  'VertexError': {'type': 'object', 'required': ['error'], 'properties': {'error': {'type': 'object', 'required': ['code', 'message', 'status'], 'properties': {"
"    'code': {'type': 'integer'}, 'message': {'type': 'string'}, 'status': {'type': 'string', 'example': 'INVALID_ARGUMENT'}, 'field': {'type': 'string', 'example': 'instances[0].prompt'}}}}},"
"  'GenerationParameters': {'type': 'object', 'additionalProperties': false, 'required': ['prompt'],"
"   'description': 'The one request model. null for any field means its default.',"
"   'properties': {"
"    'prompt': {'type': 'string'},"
"    'negative_prompt': {'type': 'string', 'nullable': true},"
"    'model': {'type': 'string', 'nullable': true, 'description': 'A name GET /v1/models lists; absent: the default model'},"
"    'width': {'type': 'integer', 'nullable': true, 'minimum': 1, 'maximum': 2048, 'description': 'A multiple of the model size multiple'},"
"    'height': {'type': 'integer', 'nullable': true, 'minimum': 1, 'maximum': 2048},"
"    'steps': {'type': 'integer', 'nullable': true, 'minimum': 1, 'maximum': 1000, 'default': 20},"
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
"    'weighting': {'type': 'boolean', 'nullable': true, 'description': 'A1111 emphasis syntax'},"
"    'eta': {'type': 'number', 'nullable': true, 'minimum': 0, 'maximum': 1},"
"    'prediction': {'type': 'string', 'nullable': true, 'enum': ['epsilon', 'v_prediction']},"
"    'preview_every': {'type': 'integer', 'nullable': true, 'minimum': 0, 'maximum': 1000, 'description': 'TAESD previews every N steps (needs --taesd)'},"
"    'init_image': {'type': 'string', 'nullable': true, 'description': 'img2img: base64 of a PNG, JPEG or WebP file'},"
"    'strength': {'type': 'number', 'nullable': true, 'minimum': 0, 'maximum': 1, 'description': 'img2img strength (default 0.75)'}}},"
"  'JobImage': {'type': 'object', 'properties': {'index': {'type': 'integer'}, 'url': {'type': 'string'}, 'seed': {'type': 'integer', 'format': 'int64'}}},"
"  'Job': {'type': 'object', 'required': ['id', 'object', 'url', 'state'], 'properties': {"
"    'id': {'type': 'string'}, 'object': {'type': 'string', 'enum': ['job']}, 'url': {'type': 'string'},"
"    'state': {'type': 'string', 'enum': ['queued', 'running', 'completed', 'failed', 'cancelled']},"
"    'created_at': {'type': 'number'}, 'started_at': {'type': 'number', 'nullable': true}, 'finished_at': {'type': 'number', 'nullable': true},"
"    'parameters': {'type': 'object', 'description': 'The normalized GenerationParameters'},"
"    'queue_position': {'type': 'integer', 'nullable': true},"
"    'progress': {'type': 'object', 'nullable': true, 'properties': {'step': {'type': 'integer'}, 'total': {'type': 'integer'}, 'fraction': {'type': 'number'}, 'elapsed_seconds': {'type': 'number'}, 'eta_seconds': {'type': 'number', 'nullable': true}}},"
"    'cancel_requested': {'type': 'boolean'},"
"    'timings': {'type': 'object', 'properties': {'queued_seconds': {'type': 'number'}, 'run_seconds': {'type': 'number'}}},"
"    'images': {'type': 'array', 'items': {'$ref': '#/components/schemas/JobImage'}},"
"    'width': {'type': 'integer'}, 'height': {'type': 'integer'},"
"    'infotexts': {'type': 'array', 'items': {'type': 'string', 'nullable': true}},"
"    'error': {'type': 'object', 'nullable': true, 'properties': {'type': {'type': 'string'}, 'code': {'type': 'string'}, 'message': {'type': 'string'}}}}},"
"  'JobList': {'type': 'object', 'properties': {'object': {'type': 'string', 'enum': ['list']}, 'data': {'type': 'array', 'items': {'$ref': '#/components/schemas/Job'}}, 'has_more': {'type': 'boolean'}, 'next': {'type': 'string'}}},"
"  'OpenAIImageRequest': {'type': 'object', 'additionalProperties': false, 'required': ['prompt'],"
"   'description': 'OpenAI fields, and beyond them the generation fields negative_prompt to prediction. quality, style, moderation and background (but transparent) are accepted and ignored; other fields are rejected.',"
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
"    'eta': {'type': 'number', 'nullable': true, 'minimum': 0, 'maximum': 1}, 'prediction': {'type': 'string', 'nullable': true, 'enum': ['epsilon', 'v_prediction']}}},"
"  'OpenAIImage': {'type': 'object', 'properties': {'b64_json': {'type': 'string'}, 'url': {'type': 'string'}, 'seed': {'type': 'integer', 'format': 'int64'}}},"
"  'OpenAIImagesResponse': {'type': 'object', 'required': ['created', 'data'], 'properties': {"
"    'created': {'type': 'integer'}, 'data': {'type': 'array', 'items': {'$ref': '#/components/schemas/OpenAIImage'}},"
"    'output_format': {'type': 'string'}, 'size': {'type': 'string'}}},"
"  'OpenAIModel': {'type': 'object', 'required': ['id', 'object'], 'properties': {'id': {'type': 'string'}, 'object': {'type': 'string', 'enum': ['model']}, 'created': {'type': 'integer'}, 'owned_by': {'type': 'string'}}},"
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
"    'filename': {'type': 'string'}, 'config': {'type': 'string', 'nullable': true}}},"
"  'A1111Options': {'type': 'object', 'additionalProperties': true, 'properties': {"
"    'sd_model_checkpoint': {'type': 'string', 'description': 'The default model (a title GET /sdapi/v1/sd-models lists; an unknown one: 422)'},"
"    'CLIP_stop_at_last_layers': {'type': 'integer', 'nullable': true, 'default': 1}, 'randn_source': {'type': 'string', 'nullable': true, 'enum': ['CPU', 'GPU', 'NV', 'cpu', 'gpu', 'nv', null], 'default': 'CPU'},"
"    'show_progress_every_n_steps': {'type': 'integer', 'nullable': true, 'default': 10, 'description': 'Previews for /progress every N steps (with --taesd)'},"
"    'samples_format': {'type': 'string'}, 'live_previews_enable': {'type': 'boolean', 'description': 'Whether the server has --taesd (read-only in effect)'}}},"
"  'A1111PngInfoRequest': {'type': 'object', 'required': ['image'], 'properties': {'image': {'type': 'string', 'format': 'byte', 'description': 'Base64 of a PNG, JPEG or WebP file'}}},"
"  'A1111PngInfoResponse': {'type': 'object', 'required': ['info', 'items', 'parameters'], 'properties': {"
"    'info': {'type': 'string', 'description': 'The infotext (empty when the image has none)'}, 'items': {'type': 'object'},"
"    'parameters': {'type': 'object', 'additionalProperties': {'type': 'string'}, 'description': 'The infotext parsed: Prompt, Negative prompt, each Key: value, Size-1 and Size-2, Clip skip'}}}"
" }}}";

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
        fprintf(stderr, "diffuse serve: openapi.json: line %d column %d: %s\n", error.line,
                error.column, error.text);
    free(text);
}

static enum MHD_Result openapi(df_http_request *request)
{
    pthread_once(&parsed_once, parse_document);
    json_t *copy = parsed ? json_copy(parsed) : NULL;
    if (!copy)
        return df_http_send_error(request, 500, "server_error", "internal", NULL, NULL,
                                  "the OpenAPI document is not available");
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
