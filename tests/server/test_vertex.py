"""Vertex AI prediction format: POST /v1/models/{model}:predict with the JSON
the Vertex AI Python SDK sends for endpoint.predict(instances=[...],
parameters=...) ({"instances": [...]} plus "parameters" when given), the
predictions base64-decoded into images as client code does; and the custom
container mode (AIP_HTTP_PORT, AIP_HEALTH_ROUTE, AIP_PREDICT_ROUTE)."""
import base64
import io
import os
import re
import socket
import subprocess
import time

import pytest
import requests
from PIL import Image

from conftest import BINARY, MODEL, TIMEOUT, Server

ROUTE = "/v1/models/tiny-sd1:predict"


def image_of(prediction):
    return Image.open(io.BytesIO(base64.b64decode(prediction)))


def test_sdk_request_one_instance(server):
    # What aiplatform.Endpoint.predict(instances=[{"prompt": ...}]) posts.
    r = server.post(ROUTE, json={"instances": [{"prompt": "a lighthouse at dusk"}]})
    assert r.status_code == 200, r.text
    body = r.json()
    assert list(body) == ["predictions"] and len(body["predictions"]) == 1
    image = image_of(body["predictions"][0])
    assert image.format == "JPEG" and image.size == (16, 16)


def test_instances_and_parameters(server):
    body = {"instances": [{"prompt": "a cat"}, "a dog", {"prompt": "a cat", "seed": 9}],
            "parameters": {"seed": 4, "steps": 5, "width": 32, "height": 16,
                           "sampler": "Euler a", "output_format": "png"}}
    r = server.post("/v1/models/diffuse:predict", json=body)
    assert r.status_code == 200, r.text
    images = [image_of(p) for p in r.json()["predictions"]]
    assert len(images) == 3
    assert all(i.format == "PNG" and i.size == (32, 16) for i in images)
    texts = [i.info["parameters"] for i in images]
    assert "Seed: 4" in texts[0] and "Steps: 5" in texts[0] and "Euler a" in texts[0]
    assert texts[1].startswith("a dog") and "Seed: 4" in texts[1]
    assert "Seed: 9" in texts[2]  # the instance overrides the parameters
    # Same instance and parameters: the same image as /predict gives.
    again = server.post("/predict", json={"prompt": "a cat", "seed": 4, "steps": 5, "width": 32,
                                          "height": 16, "sampler": "Euler a"},
                        headers={"Accept": "image/png"})
    assert list(Image.open(io.BytesIO(again.content)).getdata()) == list(images[0].getdata())


def error_of(r, status, field=None):
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert error["code"] == status and isinstance(error["status"], str)
    if field:
        assert error["field"] == field, error
        assert error["message"].startswith(field)
    return error


@pytest.mark.parametrize("body,field", [
    ({}, "instances"),
    ({"instances": []}, "instances"),
    ({"instances": "a cat"}, "instances"),
    ({"instances": [{"prompt": "x"}] * 17}, "instances"),
    ({"instances": [{}]}, "instances[0].prompt"),
    ({"instances": [3]}, "instances[0]"),
    ({"instances": [{"prompt": "x"}, {"prompt": "x", "steps": 0}]}, "instances[1].steps"),
    ({"instances": [{"prompt": "x", "stpes": 5}]}, "instances[0].stpes"),
    ({"instances": [{"prompt": "x"}], "parameters": {"steps": "many"}}, "parameters.steps"),
    ({"instances": [{"prompt": "x"}], "parameters": {"width": 17}}, "parameters.width"),
    ({"instances": [{"prompt": "x"}], "parameters": {"batch": 2}}, "parameters.batch"),
    ({"instances": [{"prompt": "x"}], "parameters": {"output_format": "gif"}},
     "parameters.output_format"),
    ({"instances": [{"prompt": "x"}], "parameters": []}, "parameters"),
    ({"instances": [{"prompt": "x"}], "deployedModelId": "1"}, "deployedModelId"),
])
def test_bad_requests_name_the_field(server, body, field):
    error = error_of(server.post(ROUTE, json=body), 400, field)
    assert error["status"] == "INVALID_ARGUMENT"


def test_bad_request_submits_nothing(server):
    before = server.get("/v1/jobs", params={"limit": 1}).json()["data"][0]["id"]
    body = {"instances": [{"prompt": "x"}, {"prompt": "x", "steps": 0}]}
    error_of(server.post(ROUTE, json=body), 400, "instances[1].steps")
    assert server.get("/v1/jobs", params={"limit": 1}).json()["data"][0]["id"] == before


def test_malformed_json_and_unknown_model(server):
    error_of(server.post(ROUTE, data=b"{nope"), 400)
    error = error_of(server.post("/v1/models/no-such-model:predict",
                                 json={"instances": [{"prompt": "x"}]}), 404)
    assert error["status"] == "NOT_FOUND" and "no-such-model" in error["message"]
    error_of(server.post("/v1/models/tiny-sd1:explain", json={"instances": []}), 404)


# -- custom container mode ----------------------------------------------------------

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def aip_server(tmp_path):
    port = free_port()
    env = dict(os.environ, AIP_HTTP_PORT=str(port), AIP_HEALTH_ROUTE="/health",
               AIP_PREDICT_ROUTE="/predict")
    server = Server(str(tmp_path))
    # No --listen: AIP_HTTP_PORT decides (0.0.0.0:PORT), as in a Vertex container.
    server.proc = subprocess.Popen([BINARY, "serve", "-m", MODEL, "--data", str(tmp_path),
                                    "-t", "2"], stdout=subprocess.PIPE, stderr=server.log,
                                   env=env)
    line = server.proc.stdout.readline()
    match = re.search(rb"listening on http://([0-9.]+):(\d+)", line)
    assert match, line
    assert match.group(1) == b"0.0.0.0" and int(match.group(2)) == port
    server.url = "http://127.0.0.1:%d" % port
    yield server
    assert server.stop() == 0
    server.check_log()


def test_aip_routes(aip_server):
    s = aip_server
    deadline = time.monotonic() + TIMEOUT
    while s.get("/health").status_code != 200:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert s.get("/health").json() == {"status": "ready"}
    # AIP_PREDICT_ROUTE is "/predict" here: Vertex's format wins over the native one.
    r = s.post("/predict", json={"instances": [{"prompt": "a cat"}, {"prompt": "a dog"}],
                                 "parameters": {"steps": 4}})
    assert r.status_code == 200, r.text
    predictions = r.json()["predictions"]
    assert len(predictions) == 2 and image_of(predictions[1]).format == "JPEG"
    error = error_of(s.post("/predict", json={"prompt": "a cat"}), 400, "prompt")
    assert "instances" in error["message"] or error["field"] == "prompt"
    # The other routes are there as well.
    assert s.post(ROUTE, json={"instances": ["x"]}).status_code == 200
    assert s.get("/readyz").status_code == 200
