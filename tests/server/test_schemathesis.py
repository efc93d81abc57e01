"""The server against its own OpenAPI document (GET /openapi.json), with
schemathesis: for every documented operation a bounded number of generated
requests, valid ones and invalid ones, each answer checked for no 5xx, a
documented status, a documented content type, documented headers, and a
body that matches the documented schema (in the route family's error shape
for errors). Then the operations that take a job id, an image URL or an
image are called with real ones, so their 200 answers are checked too.

The server runs with tight limits (--max-side 32, --max-steps 4, ...), and
the document carries them, so a valid generated request is a few steps on
a tiny image: the whole file takes about half a minute here (fewer
examples under a sanitizer). A second server with API keys gets the same
checks without a key (401 in each family's shape), with keys, over a
key's rate (429) and image budget. Hypothesis is derandomized (no
database, the same examples every run), so a failure here reproduces with
the same command; DF_SCHEMATHESIS_EXAMPLES=N asks for more."""
import base64
import os
import re
import subprocess
import tempfile
import time
import warnings
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from hypothesis import HealthCheck, Phase, settings

from conftest import BINARY, TIMEOUT, Server

# schemathesis 3.x uses jsonschema APIs that jsonschema 4.18+ deprecates
# (RefResolver): noise, not this project's.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import schemathesis
    from schemathesis import DataGenerationMethod
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import (content_type_conformance,
                                                   response_headers_conformance,
                                                   response_schema_conformance,
                                                   status_code_conformance)
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

CHECKS = (not_a_server_error, status_code_conformance, content_type_conformance,
          response_headers_conformance, response_schema_conformance)

# Small enough that any request the document calls valid is cheap (a 32x32
# job of 4 steps: about a second under ASan); the queue is short so that 429
# stays reachable, the sync timeout long enough that such a job on a loaded
# machine never meets it (a 504 would be a 5xx).
LIMITS = ["--max-side", "32", "--max-steps", "4", "--max-batch", "2",
          "--max-prompt-bytes", "2000", "--max-body-bytes", "16384", "--queue-size", "4",
          "--sync-timeout", "60"]

# Examples per operation. An ASan+UBSan build (make test-asan sets
# ASAN_OPTIONS) runs the engine several times slower: fewer there, the same
# checks.
EXAMPLES = int(os.environ.get("DF_SCHEMATHESIS_EXAMPLES",
                              "8" if "ASAN_OPTIONS" in os.environ else "25"))
# With API keys each example is sent twice (no key, then a key), and the
# open run above already covers the request space.
KEYED_EXAMPLES = max(1, EXAMPLES // 4)

HYPOTHESIS = dict(deadline=None, derandomize=True, database=None,
                  phases=[Phase.explicit, Phase.generate],
                  suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module")
def tight_server():
    with tempfile.TemporaryDirectory() as data:
        server = Server(data, LIMITS).start()
        yield server
        assert server.stop() == 0
        server.check_log()


@pytest.fixture(scope="module")
def api_schema(tight_server):
    return schemathesis.from_uri(tight_server.url + "/openapi.json")


def lazy_schema(fixture, *methods):
    """schemathesis' pytest integration on the schema a fixture loads (the
    server starts in a fixture, after collection)."""
    with warnings.catch_warnings():  # it warns about arguments it passes itself
        warnings.simplefilter("ignore", DeprecationWarning)
        return schemathesis.from_pytest_fixture(fixture, data_generation_methods=list(methods))


schema = lazy_schema("api_schema", DataGenerationMethod.positive, DataGenerationMethod.negative)


@schema.hook
def filter_path_parameters(context, path_parameters):
    """Path parameters that make the request another route's are not sent:
    an empty one (/v1/jobs//cancel is sent as /v1/jobs/cancel: GET
    /v1/jobs/{id}'s path, 405), one with a slash (another path, or none: a
    404 in the native shape on an OpenAI path), and a NUL byte, which the
    HTTP layer cuts the path at (/v1/jobs/0%00/cancel is routed as
    /v1/jobs/0: 405). The last is the HTTP layer's to refuse with 400, not
    the routes' to document; until it does, such segments are left out."""
    return all(value != "" and "/" not in str(value) and "\x00" not in str(value)
               for value in (path_parameters or {}).values())


@schema.parametrize()
@settings(max_examples=EXAMPLES, **HYPOTHESIS)
def test_api(case):
    """Every operation, generated requests (the request examples of the
    document first)."""
    case.call_and_validate(checks=CHECKS, timeout=TIMEOUT)


# -- the same checks on real ids ---------------------------------------------------

@pytest.fixture
def drained(tight_server):
    """Waits for the jobs generated requests queued (POST /v1/jobs answers
    at once), so the calls below are not refused with 429 queue_full."""
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        r = tight_server.get("/readyz")  # 503 while the queue is full
        if r.status_code == 200 and not r.json()["queue_length"]:
            break
        time.sleep(0.05)


def call(api_schema, path, method, **kw):
    """Calls one operation with the given parts and checks the answer."""
    case = api_schema[path][method].make_case(**kw)
    return case.call_and_validate(checks=CHECKS, timeout=TIMEOUT)


def completed_job(server, **params):
    job = server.submit(**params)
    return server.wait_state(job["id"], ["completed", "failed", "cancelled"])


def test_job_routes_with_a_real_job(tight_server, api_schema, drained):
    done = completed_job(tight_server, prompt="a red apple", steps=2, batch=2)
    assert done["state"] == "completed", done
    job = done["id"]
    assert call(api_schema, "/v1/jobs/{id}", "GET", path_parameters={"id": job}).status_code == 200
    r = call(api_schema, "/v1/jobs", "GET", query={"limit": 1})
    assert r.status_code == 200 and r.json()["data"]
    call(api_schema, "/v1/jobs", "GET", query={"before": job})
    r = call(api_schema, "/v1/jobs/{id}/events", "GET", path_parameters={"id": job})
    assert r.status_code == 200 and "event: completed" in r.text
    for fmt in ("png", "jpeg", "webp"):
        r = call(api_schema, "/v1/jobs/{id}/images/{n}", "GET",
                 path_parameters={"id": job, "n": 1}, query={"format": fmt})
        assert r.status_code == 200 and r.headers["Content-Type"] == "image/" + fmt
    assert call(api_schema, "/v1/jobs/{id}/images/{n}", "GET",
                path_parameters={"id": job, "n": 2}).status_code == 404
    assert call(api_schema, "/v1/jobs/{id}/cancel", "POST",
                path_parameters={"id": job}).status_code == 409
    # A fresh job, cancelled while it waits or runs (or after it finished:
    # the tiny model is quick): 200, 202 or 409, each with its schema.
    fresh = tight_server.submit(prompt="a green pear", steps=4)
    r = call(api_schema, "/v1/jobs/{id}/cancel", "POST", path_parameters={"id": fresh["id"]})
    assert r.status_code in (200, 202, 409)
    tight_server.wait_state(fresh["id"], ["completed", "cancelled"])
    call(api_schema, "/v1/jobs/{id}", "GET", path_parameters={"id": fresh["id"]})
    r = call(api_schema, "/sdapi/v1/progress", "GET", query={"id_task": job})
    assert r.status_code == 200 and r.json()["progress"] == 1.0


def test_generation_routes_that_succeed(api_schema, drained):
    """A valid request of each generating route, so the 200 bodies (and the
    streamed one) are checked against their schemas."""
    small = {"prompt": "a red apple", "steps": 2}
    r = call(api_schema, "/predict", "POST", body=dict(small, width=32, height=32),
             headers={"Accept": "image/webp"})
    assert r.status_code == 200 and r.headers["Content-Type"] == "image/webp"
    assert call(api_schema, "/v1/jobs", "POST", body=small).status_code == 202
    r = call(api_schema, "/v1/images/generations", "POST",
             body=dict(small, size="32x32", n=2, output_format="jpeg"))
    assert r.status_code == 200 and len(r.json()["data"]) == 2
    r = call(api_schema, "/v1/images/generations", "POST", body=dict(small, stream=True))
    assert r.status_code == 200 and "image_generation.completed" in r.text
    r = call(api_schema, "/v1/models/{model}:predict", "POST", path_parameters={"model": "diffuse"},
             body={"instances": ["a red apple", {"prompt": "a pear", "seed": 3}],
                   "parameters": {"steps": 2, "output_format": "webp"}})
    assert r.status_code == 200 and len(r.json()["predictions"]) == 2
    r = call(api_schema, "/sdapi/v1/txt2img", "POST",
             body={"prompt": "a red apple", "steps": 2, "batch_size": 2, "force_task_id": "t1"})
    assert r.status_code == 200 and len(r.json()["images"]) == 2
    png = r.json()["images"][0]
    r = call(api_schema, "/sdapi/v1/img2img", "POST",
             body={"prompt": "a red apple", "steps": 2, "init_images": [png],
                   "include_init_images": True})
    assert r.status_code == 200
    r = call(api_schema, "/sdapi/v1/png-info", "POST", body={"image": png})
    assert r.status_code == 200 and r.json()["parameters"]["Steps"] == "2"
    r = call(api_schema, "/sdapi/v1/progress", "GET", query={"id_task": "t1"})
    assert r.status_code == 200


def test_a1111_options_round_trip(api_schema):
    """Options are answered as documented after any accepted POST (a
    randn_source sent as nV comes back as NV), and a clip skip out of range
    is refused when set, not by every later txt2img."""
    body = {"randn_source": "nV", "CLIP_stop_at_last_layers": 2}
    assert call(api_schema, "/sdapi/v1/options", "POST", body=body).status_code == 200
    r = call(api_schema, "/sdapi/v1/options", "GET")
    assert r.status_code == 200 and r.json()["randn_source"] == "NV"
    r = call(api_schema, "/sdapi/v1/options", "POST", body={"CLIP_stop_at_last_layers": 13})
    assert r.status_code == 422
    body = {"randn_source": "CPU", "CLIP_stop_at_last_layers": 1}
    assert call(api_schema, "/sdapi/v1/options", "POST", body=body).status_code == 200


def test_body_too_large(api_schema):
    """Every operation that takes a body answers 413 past --max-body-bytes
    (before routing, so in the native shape), as documented."""
    posts = 0
    for result in api_schema.get_all_operations():
        operation = result.ok()
        if operation.body:
            posts += 1
            r = call(api_schema, operation.path, operation.method.upper(),
                     path_parameters={"model": "diffuse"} if "{model}" in operation.path else None,
                     body={"prompt": "x" * 20000})
            assert r.status_code == 413, (operation.path, r.text)
    assert posts >= 8


def test_signed_image_url(api_schema, drained):
    """A url response_format answer, then the signed URL it gave (and the
    same URL with a wrong signature)."""
    r = call(api_schema, "/v1/images/generations", "POST",
             body={"prompt": "a red apple", "steps": 2, "response_format": "url",
                   "output_format": "webp"})
    assert r.status_code == 200
    url = urlsplit(r.json()["data"][0]["url"])
    job, file = url.path.split("/")[-2:]
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    path = "/v1/images/files/{job}/{file}"
    r = call(api_schema, path, "GET", path_parameters={"job": job, "file": file}, query=query)
    assert r.status_code == 200 and r.headers["Content-Type"] == "image/webp"
    bad = dict(query, signature="0" * 16)
    assert call(api_schema, path, "GET", path_parameters={"job": job, "file": file},
                query=bad).status_code == 403


# -- with API keys ------------------------------------------------------------------

def create_key(data, name, *options):
    out = subprocess.run([BINARY, "keys", "create", "--name", name, "--data", data, *options],
                         capture_output=True, text=True, timeout=TIMEOUT, check=True).stdout
    return re.search(r"dfk_\S+", out).group(0)


@pytest.fixture(scope="module")
def keyed():
    """A server with keys: an ordinary one, an admin one, and one allowed two
    requests a minute and one image a day (for 429 and the image budget)."""
    with tempfile.TemporaryDirectory() as data:
        keys = {"user": create_key(data, "user"), "admin": create_key(data, "admin", "--admin"),
                "slow": create_key(data, "slow", "--rate", "2/min", "--daily-images", "1")}
        server = Server(data, LIMITS).start()
        document = requests.get(server.url + "/openapi.json", timeout=TIMEOUT,
                                headers={"Authorization": "Bearer " + keys["user"]}).json()
        yield server, keys, schemathesis.from_dict(document, base_url=server.url)
        assert server.stop() == 0
        server.check_log()


@pytest.fixture(scope="module")
def keyed_schema(keyed):
    return keyed[2]


keyed_schema_lazy = lazy_schema("keyed_schema", DataGenerationMethod.positive)
keyed_schema_lazy.hook(filter_path_parameters)


def bearer(key):
    return {"Authorization": "Bearer " + key}


@keyed_schema_lazy.parametrize()
@settings(max_examples=KEYED_EXAMPLES, **HYPOTHESIS)
def test_api_with_keys(case, keyed):
    """Every operation without a key (401 in its family's shape but for the
    public ones) and with a key (403 where an admin key is needed, then
    with an admin key); every answer checked as above."""
    _, keys, _ = keyed
    public = case.operation.definition.raw.get("security") == []
    if case.headers:
        case.headers.pop("Authorization", None)  # the generated credentials
    r = case.call_and_validate(checks=CHECKS, timeout=TIMEOUT)
    assert public or r.status_code == 401, r.text
    r = case.call_and_validate(checks=CHECKS, timeout=TIMEOUT, headers=bearer(keys["user"]))
    assert r.status_code != 401, r.text
    if case.operation.path in ("/metrics", "/v1/usage"):
        assert case.operation.path != "/metrics" or r.status_code == 403, r.text
        r = case.call_and_validate(checks=CHECKS, timeout=TIMEOUT, headers=bearer(keys["admin"]))
        assert r.status_code not in (401, 403), r.text


def test_basic_auth_and_limits(keyed):
    """A1111 clients send the key as a basic-auth password; a key over its
    rate gets 429 with Retry-After and the x-ratelimit-* headers, and a
    request for more images than its daily limit 400, in each family's
    shape."""
    server, keys, api_schema = keyed
    def basic(password):
        return {"Authorization": "Basic " + base64.b64encode(b"user:" + password).decode()}
    r = call(api_schema, "/sdapi/v1/samplers", "GET", headers=basic(keys["user"].encode()))
    assert r.status_code == 200
    r = call(api_schema, "/sdapi/v1/samplers", "GET", headers=basic(b"wrong"))
    assert r.status_code == 401
    wrong = bearer("dfk_000000000000_" + "A" * 43)  # well-formed, unknown
    for path, method in (("/v1/jobs", "GET"), ("/v1/models", "GET"), ("/sdapi/v1/options", "GET")):
        assert call(api_schema, path, method, headers=wrong).status_code == 401
    assert call(api_schema, "/v1/models/{model}:predict", "POST", headers=wrong,
                path_parameters={"model": "diffuse"},
                body={"instances": ["a red apple"]}).status_code == 401
    slow = bearer(keys["slow"])
    # Two requests a minute; the image-limit refusals spend none of them,
    # two samplers lists do.
    r = call(api_schema, "/sdapi/v1/txt2img", "POST", headers=slow,
             body={"prompt": "a red apple", "steps": 2, "batch_size": 2})
    assert r.status_code == 400
    r = call(api_schema, "/v1/images/generations", "POST", headers=slow,
             body={"prompt": "a red apple", "steps": 2, "n": 2})
    assert r.status_code == 400 and r.headers["x-ratelimit-remaining-requests"] == "2"
    for _ in range(2):
        assert call(api_schema, "/sdapi/v1/samplers", "GET", headers=slow).status_code == 200
    for path, method, kw in (("/v1/models", "GET", {}),
                             ("/v1/jobs", "GET", {}),
                             ("/sdapi/v1/options", "GET", {}),
                             ("/v1/models/{model}:predict", "POST",
                              {"path_parameters": {"model": "diffuse"},
                               "body": {"instances": ["a red apple"]}})):
        r = call(api_schema, path, method, headers=slow, **kw)
        assert r.status_code == 429, (path, r.text)
        assert int(r.headers["Retry-After"]) >= 1
        assert r.headers["x-ratelimit-limit-requests"] == "2"
