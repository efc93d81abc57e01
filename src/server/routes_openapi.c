/*
 * routes_openapi.c — GET /openapi.json: an OpenAPI 3.0.3 document of the
 * routes this file knows (health, /predict, native jobs, OpenAI, Vertex AI,
 * itself), with request and response schemas.
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

static const char document[] =
"{'openapi': '3.0.3',"
" 'info': {'title': 'diffuse serve', 'version': '1',"
"  'description': 'Text-to-image HTTP API of diffuse: the simple /predict endpoint, asynchronous jobs with live progress, and the OpenAI Images and Vertex AI prediction formats. Every route shares one request model (GenerationParameters); unknown fields are rejected with 400 naming the field.'},"
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
"    'responses': {'200': " JSON_OK("VertexPredictResponse") ", '400': " ERR("VertexError") ", '404': " ERR("VertexError") ", '429': " ERR("VertexError") ", '503': " ERR("VertexError") "}}}"
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
"    'predictions': {'type': 'array', 'items': {'type': 'string', 'format': 'byte', 'description': 'Base64 of the image file'}}}}"
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
