"""OpenAI Images API (POST /v1/images/generations, GET /v1/models) with the
official `openai` SDK, streaming with raw SSE (the pinned SDK predates image
streaming), signed `url` results, and GET /openapi.json checked with
openapi-spec-validator."""
import base64
import io
import re
import socket
import time

import openai
import pytest
import requests
from openapi_spec_validator import validate
from PIL import Image

from conftest import TIMEOUT, sse_events

LONG = 1000  # steps: several seconds on the tiny model


def client_of(server):
    return openai.OpenAI(base_url=server.url + "/v1", api_key="unused", max_retries=0,
                         timeout=TIMEOUT)


def decode(b64):
    return Image.open(io.BytesIO(base64.b64decode(b64)))


def test_generate_b64_json(server):
    client = client_of(server)
    result = client.images.generate(model="tiny-sd1", prompt="a lighthouse", n=2, size="16x16",
                                    response_format="b64_json")
    assert abs(result.created - time.time()) < 600
    assert len(result.data) == 2
    for item in result.data:
        image = decode(item.b64_json)
        assert image.format == "PNG" and image.size == (16, 16)
        assert "a lighthouse" in image.info["parameters"]


def test_generate_defaults_and_model_alias(server):
    client = client_of(server)
    # No model, and "diffuse": the default model; "auto" size: its default size.
    for extra in ({}, {"model": "diffuse"}):
        result = client.images.generate(prompt="a cat", size="auto", **extra)
        assert len(result.data) == 1
        assert decode(result.data[0].b64_json).size == (16, 16)


def test_extensions_are_honoured(server):
    client = client_of(server)
    extra = {"seed": 7, "steps": 5, "sampler": "Euler a", "negative_prompt": "blurry",
             "guidance_scale": 4.0}
    a = client.images.generate(prompt="a cat", size="32x16", extra_body=extra)
    b = client.images.generate(prompt="a cat", size="32x16", extra_body=extra)
    ia, ib = decode(a.data[0].b64_json), decode(b.data[0].b64_json)
    assert ia.size == (32, 16)
    assert list(ia.getdata()) == list(ib.getdata())
    text = ia.info["parameters"]
    assert "Steps: 5" in text and "Euler a" in text and "Seed: 7" in text
    assert "Negative prompt: blurry" in text and "CFG scale: 4" in text


@pytest.mark.parametrize("fmt,pil", [("jpeg", "JPEG"), ("webp", "WEBP"), ("png", "PNG")])
def test_output_format_and_compression(server, fmt, pil):
    client = client_of(server)
    sizes = []
    for compression in (5, 100):
        result = client.images.generate(
            prompt="a cat", size="64x64",
            extra_body={"output_format": fmt, "output_compression": compression, "seed": 3,
                        "steps": 4})
        raw = base64.b64decode(result.data[0].b64_json)
        assert Image.open(io.BytesIO(raw)).format == pil
        sizes.append(len(raw))
    if fmt != "png":  # quality 5 is smaller than quality 100
        assert sizes[0] < sizes[1]


def test_url_results_are_served_signed_and_checked(server):
    client = client_of(server)
    result = client.images.generate(prompt="a cat", n=2, size="16x16", response_format="url",
                                    extra_body={"output_format": "jpeg"})
    assert len(result.data) == 2
    for item in result.data:
        assert item.url.startswith(server.url + "/v1/images/files/")
        r = requests.get(item.url, timeout=TIMEOUT)
        assert r.status_code == 200 and r.headers["Content-Type"] == "image/jpeg"
        assert Image.open(io.BytesIO(r.content)).size == (16, 16)
    url = result.data[0].url
    expires = int(re.search(r"expires=(\d+)", url).group(1))
    assert time.time() < expires <= time.time() + 3601
    # Tampering with anything (the expiry, the signature, the file) is refused.
    for bad in (url.replace("expires=%d" % expires, "expires=%d" % (expires + 1000)),
                url[:-1] + ("0" if url[-1] != "0" else "1"),
                url.replace("/0.jpeg", "/1.jpeg"),
                url.split("?")[0]):
        r = requests.get(bad, timeout=TIMEOUT)
        assert r.status_code == 403, bad
        assert r.json()["error"]["code"] == "invalid_signature"


def test_models_list_and_retrieve(server):
    client = client_of(server)
    models = client.models.list()
    assert [m.id for m in models.data] == ["tiny-sd1"]
    assert models.data[0].object == "model"
    assert client.models.retrieve("tiny-sd1").id == "tiny-sd1"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("no-such-model")


@pytest.mark.parametrize("kwargs,param", [
    ({"size": "17x16"}, "size"),
    ({"size": "big"}, "size"),
    ({"size": "16x-16"}, "size"),
    ({"size": "4096x16"}, "size"),
    ({"n": 0}, "n"),
    ({"n": 99}, "n"),
    ({"response_format": "gif"}, "response_format"),
    ({"extra_body": {"output_format": "bmp"}}, "output_format"),
    ({"extra_body": {"output_compression": 101}}, "output_compression"),
    ({"extra_body": {"steps": 0}}, "steps"),
    ({"extra_body": {"sampler": "No Such Sampler"}}, "sampler"),
    ({"extra_body": {"stpes": 10}}, "stpes"),
    ({"extra_body": {"width": 16}}, "width"),
    ({"extra_body": {"partial_images": 2}}, "partial_images"),
    ({"extra_body": {"stream": True, "partial_images": 4}}, "partial_images"),
    ({"extra_body": {"background": "transparent"}}, "background"),
])
def test_bad_requests_raise_bad_request_naming_the_param(server, kwargs, param):
    client = client_of(server)
    with pytest.raises(openai.BadRequestError) as caught:
        client.images.generate(prompt="a cat", **kwargs)
    error = caught.value.body
    assert caught.value.status_code == 400
    assert error["param"] == param, error
    assert error["type"] == "invalid_request_error"
    assert error["message"].startswith(param)


def test_error_shape_is_openais(server):
    r = server.post("/v1/images/generations", data=b"{not json")
    assert r.status_code == 400
    assert set(r.json()["error"]) == {"message", "type", "param", "code"}
    r = server.post("/v1/images/generations", json={"size": "16x16"})  # no prompt
    error = r.json()["error"]
    assert r.status_code == 400 and error["param"] == "prompt"
    assert set(error) == {"message", "type", "param", "code"}


def test_unknown_model_is_not_found(server):
    client = client_of(server)
    with pytest.raises(openai.NotFoundError) as caught:
        client.images.generate(prompt="a cat", model="dall-e-3")
    assert caught.value.body["code"] == "model_not_found"
    assert caught.value.body["param"] == "model"


def test_ignored_openai_fields_are_accepted(server):
    client = client_of(server)
    result = client.images.generate(prompt="a cat", size="16x16", quality="standard",
                                    style="vivid", user="someone")
    assert len(result.data) == 1


def stream(server, **body):
    body.setdefault("prompt", "a lighthouse")
    body["stream"] = True
    r = requests.post(server.url + "/v1/images/generations", json=body, stream=True,
                      timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("text/event-stream")
    return list(sse_events(r))


def test_stream_partial_images_then_completed(server):
    events = stream(server, partial_images=2, steps=30, size="16x16", n=2)
    kinds = [e for e, _ in events]
    partial = [d for e, d in events if e == "image_generation.partial_image"]
    completed = [d for e, d in events if e == "image_generation.completed"]
    assert len(completed) == 2 and kinds[-2:] == ["image_generation.completed"] * 2
    assert kinds.index("image_generation.completed") == len(partial)  # partials come first
    # At most partial_images rounds (each has one image per n), numbered 0, 1, ...
    assert 1 <= len(partial) <= 2 * 2
    assert sorted(set(d["partial_image_index"] for d in partial)) == \
        list(range(len(partial) // 2))
    for data in partial + completed:
        assert data["type"] in ("image_generation.partial_image", "image_generation.completed")
        assert data["output_format"] == "png"
        assert isinstance(data["created_at"], int)
        assert decode(data["b64_json"]).format == "PNG"
    for data in completed:
        assert data["size"] == "16x16"
        assert decode(data["b64_json"]).size == (16, 16)
    for data in partial:  # TAESD's size (the tiny fixture's differs from the model's)
        width, height = decode(data["b64_json"]).size
        assert width == height  # one image of the batch, not the stacked pair
        assert data["size"] == "%dx%d" % (width, height)  # what the event carries
    assert "usage" in completed[0]


def test_stream_output_format(server):
    events = stream(server, partial_images=1, steps=10, output_format="jpeg")
    for event, data in events:
        assert decode(data["b64_json"]).format == "JPEG"
    assert events[-1][0] == "image_generation.completed"


def test_stream_without_previews_sends_completed_only(make_server):
    s = make_server()  # no --taesd
    events = stream(s, partial_images=3, steps=10)
    assert [e for e, _ in events] == ["image_generation.completed"]


def find_running(server, steps):
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        jobs = server.get("/v1/jobs", params={"limit": 5}).json()["data"]
        job = next((j for j in jobs if j["parameters"]["steps"] == steps and
                    j["state"] == "running"), None)
        if job:
            return job
        time.sleep(0.02)
    raise AssertionError("the job never ran")


@pytest.mark.parametrize("stream_it", [False, True])
def test_client_disconnect_cancels(server, stream_it):
    host, port = server.url[len("http://"):].split(":")
    steps = LONG - (1 if stream_it else 0)  # tells the two jobs apart
    body = b'{"prompt": "x", "steps": %d, "size": "16x16"%s}' % (
        steps, b', "stream": true' if stream_it else b"")
    s = socket.create_connection((host, int(port)), timeout=30)
    s.sendall(b"POST /v1/images/generations HTTP/1.1\r\nHost: x\r\n"
              b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
              % (len(body), body))
    job = find_running(server, steps)
    s.close()
    done = server.wait_state(job["id"], ["cancelled", "completed"], timeout=10)
    assert done["state"] == "cancelled"


# -- GET /openapi.json -------------------------------------------------------------

def test_openapi_document_is_valid(server):
    r = server.get("/openapi.json")
    assert r.status_code == 200
    document = r.json()
    validate(document)  # raises on an invalid OpenAPI document
    assert document["servers"][0]["url"].startswith("http://")
    for path in ("/predict", "/v1/jobs", "/v1/jobs/{id}/events", "/v1/images/generations",
                 "/v1/models", "/v1/models/{model}:predict", "/healthz", "/readyz",
                 "/sdapi/v1/txt2img", "/sdapi/v1/img2img", "/sdapi/v1/progress",
                 "/sdapi/v1/interrupt", "/sdapi/v1/skip", "/sdapi/v1/samplers",
                 "/sdapi/v1/schedulers", "/sdapi/v1/sd-models", "/sdapi/v1/options",
                 "/sdapi/v1/png-info"):
        assert path in document["paths"], path
    assert set(document["paths"]["/sdapi/v1/options"]) == {"get", "post"}


def test_every_documented_route_exists(server):
    """Each documented path and method reaches a handler (a 404 may come
    from the handler for an unknown id, never "no route"). The body is one
    every generation route refuses at once (422 or 400), so nothing runs;
    POST /sdapi/v1/options gets {} (it would store any other key)."""
    document = server.get("/openapi.json").json()
    for path, operations in document["paths"].items():
        concrete = re.sub(r"\{[^}]+\}", "0", path)
        for method in operations:
            body = {} if path == "/sdapi/v1/options" else {"prompt": 1}
            r = requests.request(method.upper(), server.url + concrete, json=body,
                                 timeout=TIMEOUT, stream=True)
            if r.status_code == 404:
                error = r.json().get("error")  # a string in the A1111 shape
                assert not (isinstance(error, dict) and error.get("code") == "route_not_found"), \
                    (method, path)
            assert r.status_code != 405, (method, path)
            r.close()
