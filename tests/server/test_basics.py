"""Health routes, POST /predict, and bad input: every 4xx is JSON
{"error": {"message", "type", "code"}} naming the field at fault."""
import io
import os
import socket

import pytest
import requests
from PIL import Image


def test_healthz(server):
    r = server.get("/healthz")
    assert r.status_code == 200
    assert r.json() == {"status": "ok"}


def test_readyz(server):
    r = server.get("/readyz")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ready"
    assert body["model"].endswith("tiny-sd1")


def test_readyz_not_ready_while_the_queue_is_full(make_server):
    s = make_server(["--queue-size", "1"])
    running = s.submit(steps=1000)
    s.wait_state(running["id"], ["running"])
    assert s.get("/readyz").status_code == 200  # the queue still has room
    queued = s.submit(steps=1000)
    r = s.get("/readyz")
    assert r.status_code == 503 and r.json()["error"]["code"] == "queue_full"
    assert r.headers["Retry-After"].isdigit()
    for job in (queued, running):
        s.post("/v1/jobs/%s/cancel" % job["id"])
    s.wait_state(running["id"], ["cancelled"])
    assert s.get("/readyz").status_code == 200


def test_readyz_not_ready_without_the_store(make_server, tmp_path):
    s = make_server()
    images = os.path.join(s.data, "images")
    os.rename(images, images + ".away")
    try:
        r = s.get("/readyz")
        assert r.status_code == 503 and r.json()["error"]["code"] == "store_unavailable"
    finally:
        os.rename(images + ".away", images)
    assert s.get("/readyz").status_code == 200
    os.rename(os.path.join(s.data, "diffuse.db"), os.path.join(s.data, "moved.db"))
    r = s.get("/readyz")
    assert r.status_code == 503 and r.json()["error"]["code"] == "store_unavailable"
    os.rename(os.path.join(s.data, "moved.db"), os.path.join(s.data, "diffuse.db"))
    assert s.get("/readyz").status_code == 200


def test_predict_jpeg(server):
    r = server.post("/predict", json={"prompt": "a cat", "seed": 1})
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"] == "image/jpeg"
    assert r.content[:3] == b"\xff\xd8\xff"
    image = Image.open(io.BytesIO(r.content))
    assert image.format == "JPEG" and image.size == (16, 16)
    job = server.get("/v1/jobs/" + r.headers["X-Job-Id"]).json()
    assert job["state"] == "completed" and job["parameters"]["seed"] == 1


@pytest.mark.parametrize("accept,fmt", [("image/png", "PNG"), ("image/webp", "WEBP"),
                                        ("image/webp, image/png;q=0.9", "WEBP")])
def test_predict_accept(server, accept, fmt):
    r = server.post("/predict", json={"prompt": "a cat", "seed": 2, "steps": 4},
                    headers={"Accept": accept})
    assert r.status_code == 200, r.text
    assert Image.open(io.BytesIO(r.content)).format == fmt


def test_predict_is_deterministic_and_honours_parameters(server):
    body = {"prompt": "a cat", "seed": 5, "steps": 6, "width": 32, "height": 16,
            "guidance_scale": 5.0, "sampler": "Euler a"}
    a = server.post("/predict", json=body, headers={"Accept": "image/png"})
    b = server.post("/predict", json=body, headers={"Accept": "image/png"})
    assert a.status_code == b.status_code == 200
    assert Image.open(io.BytesIO(a.content)).size == (32, 16)
    assert list(Image.open(io.BytesIO(a.content)).getdata()) == \
        list(Image.open(io.BytesIO(b.content)).getdata())
    text = Image.open(io.BytesIO(a.content)).info["parameters"]
    assert "Steps: 6" in text and "Euler a" in text and "Seed: 5" in text


def error_of(r, status):
    assert r.status_code == status, r.text
    assert r.headers["Content-Type"] == "application/json"
    error = r.json()["error"]
    assert set(["message", "type", "code"]) <= set(error)
    return error


@pytest.mark.parametrize("route", ["/v1/jobs", "/predict"])
@pytest.mark.parametrize("body,field", [
    ({"prompt": 3}, "prompt"),
    ({}, "prompt"),
    ({"prompt": "x", "steps": "20"}, "steps"),
    ({"prompt": "x", "steps": 0}, "steps"),
    ({"prompt": "x", "steps": 100000}, "steps"),
    ({"prompt": "x", "steps": 2.5}, "steps"),
    ({"prompt": "x", "width": 100000}, "width"),
    ({"prompt": "x", "width": 17}, "width"),
    ({"prompt": "x", "height": -16}, "height"),
    ({"prompt": "x", "guidance_scale": "high"}, "guidance_scale"),
    ({"prompt": "x", "sampler": "No Such Sampler"}, "sampler"),
    ({"prompt": "x", "schedule": "sometimes"}, "schedule"),
    ({"prompt": "x", "seed": -2}, "seed"),
    ({"prompt": "x", "batch": 0}, "batch"),
    ({"prompt": "x", "n": 1000}, "n"),
    ({"prompt": "x", "weighting": "yes"}, "weighting"),
    ({"prompt": "x", "stpes": 20}, "stpes"),  # unknown fields are rejected
    ({"prompt": "x", "preview_every": -1}, "preview_every"),
])
def test_bad_parameters_name_the_field(server, route, body, field):
    error = error_of(server.post(route, json=body), 400)
    assert error["param"] == field
    assert error["message"].startswith(field + ":"), error["message"]
    assert error["type"] == "invalid_request_error"


def test_unknown_sampler_lists_valid_names(server):
    error = error_of(server.post("/v1/jobs", json={"prompt": "x", "sampler": "bogus"}), 400)
    assert "Euler" in error["message"]


@pytest.mark.parametrize("route", ["/v1/jobs", "/predict"])
@pytest.mark.parametrize("raw", [b"{", b"not json", b"", b"[1, 2]", b'"prompt"', b"null",
                                 b'{"prompt": "a", "prompt": "b"}', b"\xff\xfe{}",
                                 b'{"prompt": "\\u0000"}', b"[" * 100000])
def test_malformed_json(server, route, raw):
    error = error_of(server.post(route, data=raw,
                                 headers={"Content-Type": "application/json"}), 400)
    assert error["type"] == "invalid_request_error"


def test_predict_refuses_batches(server):
    assert error_of(server.post("/predict", json={"prompt": "x", "batch": 2}), 400)["param"] \
        == "batch"


def test_unknown_route_is_json_404(server):
    error_of(server.get("/no/such/route"), 404)
    error_of(server.get("/v1/jobs/0123456789abcdef/whatever"), 404)


def test_wrong_method_is_json_405(server):
    r = server.post("/healthz")
    error_of(r, 405)
    assert r.headers["Allow"] == "GET"
    r = server.get("/predict")
    error_of(r, 405)
    assert "POST" in r.headers["Allow"]


def json_reply_to(server, head):
    """Sends a raw request head (and what follows it) and reads the answer
    up to the end of its JSON body, or until the server closes."""
    host, port = server.url[len("http://"):].split(":")
    with socket.create_connection((host, int(port)), timeout=30) as s:
        s.sendall(head)
        reply = b""
        while b"\r\n\r\n" not in reply or not reply.rstrip().endswith(b"}"):
            chunk = s.recv(65536)
            if not chunk:
                break
            reply += chunk
    return reply


def test_oversized_body_is_413(server):
    # Announced by Content-Length: refused before the body is read.
    reply = json_reply_to(server, b"POST /v1/jobs HTTP/1.1\r\nHost: x\r\n"
                          b"Content-Type: application/json\r\nContent-Length: 100000000\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 413"), reply[:200]
    assert b'"code":"body_too_large"' in reply

    # Chunked (no length known up front): refused before any of it is read,
    # 411 (http_gate.c: the gate checks every request, and MHD would answer
    # a badly framed chunk with an HTML page).
    reply = json_reply_to(server, b"POST /v1/jobs HTTP/1.1\r\nHost: x\r\n"
                          b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
                          b"100000\r\n" + b" " * 65536)
    assert reply.startswith(b"HTTP/1.1 411 "), reply[:200]
    assert b'"code":"length_required"' in reply
    # The server is fine afterwards.
    assert server.get("/healthz").status_code == 200
