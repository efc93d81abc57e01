"""The "precision" field (f32 | bf16 | int8) in every API family, and
`diffuse serve --precision` as the server's default and `--model-precision
NAME=PRECISION` as a model's: accepted values generate (falling back to f32
with a message where the CPU lacks the instructions), anything else is a 400
(A1111: 422) naming the field."""
import base64
import io
import os
import signal
import subprocess
import time

import pytest
from PIL import Image

import conftest


def png_pixels(data):
    return list(Image.open(io.BytesIO(data)).convert("RGB").getdata())


def max_difference(a, b):
    return max(max(abs(x - y) for x, y in zip(p, q)) for p, q in zip(a, b))


BODY = {"prompt": "a red circle", "seed": 7, "steps": 4}


@pytest.mark.parametrize("precision", ["f32", "bf16", "int8"])
def test_predict_and_jobs_accept_each_precision(server, precision):
    r = server.post("/predict", json=dict(BODY, precision=precision),
                    headers={"Accept": "image/png"})
    assert r.status_code == 200, r.text
    job = server.get("/v1/jobs/" + r.headers["X-Job-Id"]).json()
    # f32 is the default and stays out of the normalized parameters
    assert job["parameters"].get("precision") == (None if precision == "f32" else precision)
    queued = server.submit(**dict(BODY, precision=precision))
    done = server.wait_state(queued["id"], ["completed", "failed"])
    assert done["state"] == "completed", done


def test_reduced_precision_stays_close_to_f32(server):
    images = {}
    for precision in ("f32", "bf16", "int8"):
        r = server.post("/predict", json=dict(BODY, precision=precision),
                        headers={"Accept": "image/png"})
        assert r.status_code == 200, r.text
        images[precision] = png_pixels(r.content)
    # the tiny model's 16x16 images: a few 8-bit levels at most (measured: bf16 <= 1, int8 <= 5)
    assert max_difference(images["f32"], images["bf16"]) <= 8
    assert max_difference(images["f32"], images["int8"]) <= 24


@pytest.mark.parametrize("route", ["/v1/jobs", "/predict"])
@pytest.mark.parametrize("value", ["fp7", "", "BF16", 16, True])
def test_bad_precision_names_the_field(server, route, value):
    r = server.post(route, json={"prompt": "x", "precision": value})
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error["param"] == "precision"
    assert error["message"].startswith("precision:"), error["message"]


def test_openai_extension_field(server):
    body = {"prompt": "a cat", "size": "16x16", "precision": "bf16", "seed": 3, "steps": 3}
    r = server.post("/v1/images/generations", json=body)
    assert r.status_code == 200, r.text
    assert Image.open(io.BytesIO(base64.b64decode(r.json()["data"][0]["b64_json"]))).size == (16, 16)
    r = server.post("/v1/images/generations", json=dict(body, precision="fp7"))
    assert r.status_code == 400
    assert r.json()["error"]["param"] == "precision"


def test_vertex_parameters(server):
    route = "/v1/models/tiny-sd1:predict"
    r = server.post(route, json={"instances": ["a dog"],
                                 "parameters": {"precision": "int8", "steps": 3}})
    assert r.status_code == 200, r.text
    assert len(r.json()["predictions"]) == 1
    r = server.post(route, json={"instances": ["a dog"], "parameters": {"precision": "fp7"}})
    assert r.status_code == 400, r.text
    assert "precision" in r.json()["error"]["field"]


@pytest.mark.parametrize("path", ["/sdapi/v1/txt2img", "/sdapi/v1/img2img"])
def test_a1111_extension_field(server, path):
    body = {"prompt": "a cat", "steps": 3, "width": 16, "height": 16, "precision": "bf16"}
    if path.endswith("img2img"):
        buffer = io.BytesIO()
        Image.new("RGB", (16, 16), (200, 30, 30)).save(buffer, "PNG")
        body["init_images"] = [base64.b64encode(buffer.getvalue()).decode()]
    r = server.post(path, json=body)
    assert r.status_code == 200, r.text
    assert len(r.json()["images"]) == 1
    r = server.post(path, json=dict(body, precision="fp7"))
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"] == ["body", "precision"]


def test_openapi_lists_the_field(server):
    schemas = server.get("/openapi.json").json()["components"]["schemas"]
    for name in ("GenerationParameters", "OpenAIImageRequest", "A1111Txt2ImgRequest",
                 "A1111Img2ImgRequest"):
        assert schemas[name]["properties"]["precision"]["enum"] == ["f32", "bf16", "int8"], name


def test_server_default_precision(make_server):
    s = make_server(["--precision", "int8"])
    r = s.post("/predict", json=BODY, headers={"Accept": "image/png"})
    assert r.status_code == 200, r.text
    job = s.get("/v1/jobs/" + r.headers["X-Job-Id"]).json()
    assert job["parameters"]["precision"] == "int8"
    # a request's own value wins over the server's, and is kept: the stored job
    # must not re-run in int8 after a restart
    r = s.post("/predict", json=dict(BODY, precision="f32"), headers={"Accept": "image/png"})
    job = s.get("/v1/jobs/" + r.headers["X-Job-Id"]).json()
    assert job["parameters"]["precision"] == "f32"


def test_serve_refuses_a_bad_default(tmp_path):
    r = subprocess.run([conftest.BINARY, "serve", "-m", conftest.MODEL, "--precision", "fp7",
                        "--data", str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    assert "--precision" in r.stderr and "bf16" in r.stderr


def test_fallback_without_the_instructions(make_server, monkeypatch):
    # DF_CPU_DISABLE turns the features off: the requests still succeed, in f32,
    # and the server's log says so (never an illegal instruction).
    monkeypatch.setenv("DF_CPU_DISABLE", "avx512_bf16,avx512_vnni,avx_vnni")
    s = make_server()
    for precision in ("bf16", "int8"):
        r = s.post("/predict", json=dict(BODY, precision=precision),
                   headers={"Accept": "image/png"})
        assert r.status_code == 200, r.text
    s.log.flush()
    with open(s.data + "/server.log", encoding="utf-8", errors="replace") as f:
        log = f.read()
    assert "--precision bf16: this CPU has no AVX512-BF16" in log
    assert "--precision int8: this CPU has neither AVX512-VNNI nor AVX-VNNI" in log


# -- --model-precision ---------------------------------------------------------

SD2 = os.path.join(conftest.ROOT, "tests", "fixtures", "tiny-sd2.safetensors")
FALLBACK_FEATURES = "avx512_bf16,avx512_vnni,avx_vnni"


def models_dir(tmp_path):
    d = tmp_path / "models"
    d.mkdir()
    os.symlink(conftest.MODEL, d / "alpha")
    os.symlink(SD2, d / "beta.safetensors")
    return d


def run_job(s, family, model=None, precision=None):
    """One 2-step image through an API family; returns the finished job
    (GET /v1/jobs/{id}: "parameters" and "infotexts")."""
    extra = {} if precision is None else {"precision": precision}
    if family == "jobs":
        body = dict(prompt="a red circle", steps=2, seed=7, **extra)
        if model:
            body["model"] = model
        job_id = s.submit(**body)["id"]
    elif family == "predict":
        body = dict(BODY, steps=2, **extra)
        if model:
            body["model"] = model
        r = s.post("/predict", json=body, headers={"Accept": "image/png"})
        assert r.status_code == 200, r.text
        job_id = r.headers["X-Job-Id"]
    elif family == "openai":
        body = dict(prompt="a cat", steps=2, seed=3, model=model or "diffuse", **extra)
        r = s.post("/v1/images/generations", json=body)
        assert r.status_code == 200, r.text
        job_id = r.headers["X-Job-Id"]
    elif family == "vertex":
        r = s.post("/v1/models/%s:predict" % (model or "diffuse"),
                   json={"instances": ["a dog"], "parameters": dict(steps=2, **extra)})
        assert r.status_code == 200, r.text
        job_id = s.get("/v1/jobs?limit=1").json()["data"][0]["id"]  # newest first
    else:  # a1111: the model by override_settings.sd_model_checkpoint
        body = dict(prompt="a cat", steps=2, width=48, height=48, **extra)
        if model:
            body["override_settings"] = {"sd_model_checkpoint": model}
        r = s.post("/sdapi/v1/txt2img", json=body)
        assert r.status_code == 200, r.text
        job_id = r.headers["X-Job-Id"]
    return s.wait_state(job_id, ["completed", "failed"])


def server_log(s):
    s.log.flush()
    with open(s.data + "/server.log", encoding="utf-8", errors="replace") as f:
        return f.read()


def check_computed(s, job, precision):
    """The infotext's "Precision:" is what ran: `precision`, or nothing where it
    is f32 or the CPU lacks the instructions (the log then says so)."""
    infotext = job["infotexts"][0]
    fell_back = "--precision %s: this CPU" % precision in server_log(s)
    if precision in (None, "f32") or fell_back:
        assert "Precision:" not in infotext, infotext
    else:
        assert "Precision: %s," % precision in infotext, infotext


@pytest.mark.parametrize("cpu_disable", [None, FALLBACK_FEATURES])
def test_model_precision_in_every_family(make_server, tmp_path, monkeypatch, cpu_disable):
    if cpu_disable:  # every reduced precision falls back to f32: still accepted
        monkeypatch.setenv("DF_CPU_DISABLE", cpu_disable)
    d = models_dir(tmp_path)
    data = tmp_path / "data"
    data.mkdir()
    # tiny-sd1 (-m, the default model) int8 of its own; alpha none (the server's
    # bf16); beta.safetensors, named without ".safetensors", f32 over the
    # server's bf16; gamma is not offered yet: a warning, not an error.
    s = make_server(["--models-dir", str(d), "--precision", "bf16",
                     "--model-precision", "tiny-sd1=int8", "--model-precision", "beta=f32",
                     "--model-precision", "gamma=int8"], data=data)
    assert "--model-precision gamma=int8: no model 'gamma' is offered" in server_log(s)
    listed = {m["id"]: m["precision"] for m in s.get("/v1/models").json()["data"]}
    assert listed == {"tiny-sd1": "int8", "alpha": "bf16", "beta.safetensors": "f32"}
    assert s.get("/v1/models/beta").json()["precision"] == "f32"

    # (model asked for, what the job records: None for f32)
    cases = [(None, "int8"), ("alpha", "bf16"), ("beta", None)]
    for family in ("jobs", "predict", "openai", "vertex", "a1111"):
        for model, expected in cases:
            job = run_job(s, family, model)
            where = "%s, model %s" % (family, model)
            assert job["state"] == "completed", (where, job)
            assert job["parameters"].get("precision") == expected, (where, job["parameters"])
            check_computed(s, job, expected)
        # the request's own field wins over the model's; an f32 that differs
        # from the model's default is kept (a restart re-runs it in f32)
        job = run_job(s, family, None, precision="f32")
        assert job["parameters"]["precision"] == "f32", (family, job["parameters"])
        check_computed(s, job, "f32")
        job = run_job(s, family, "beta", precision="bf16")
        assert job["parameters"]["precision"] == "bf16", (family, job["parameters"])
        check_computed(s, job, "bf16")

    # SIGHUP's rescan brings gamma: its setting applies from then on
    os.symlink(conftest.MODEL, d / "gamma")
    s.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + conftest.TIMEOUT
    while "gamma" not in [m["id"] for m in s.get("/v1/models").json()["data"]]:
        assert time.monotonic() < deadline, "the rescan did not add gamma"
        time.sleep(0.05)
    assert s.get("/v1/models/gamma").json()["precision"] == "int8"
    job = run_job(s, "jobs", "gamma")
    assert job["parameters"]["precision"] == "int8"
    check_computed(s, job, "int8")
    if cpu_disable:  # the fallbacks were taken, and said so
        log = server_log(s)
        assert "--precision bf16: this CPU" in log and "--precision int8: this CPU" in log


@pytest.mark.parametrize("value, message", [
    ("tiny-sd1=fp7", "PRECISION 'fp7' is not one of f32, bf16, int8"),
    ("tiny-sd1=", "PRECISION '' is not one of"),
    ("tiny-sd1", "expected NAME=PRECISION"),
    ("=int8", "NAME is empty"),
    ("models/tiny-sd1=int8", "not a path"),
])
def test_serve_refuses_a_bad_model_precision(tmp_path, value, message):
    r = subprocess.run([conftest.BINARY, "serve", "-m", conftest.MODEL, "--model-precision", value,
                        "--data", str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2, r.stderr
    assert "--model-precision" in r.stderr and message in r.stderr, r.stderr


def test_serve_refuses_a_model_given_twice(tmp_path):
    r = subprocess.run([conftest.BINARY, "serve", "-m", conftest.MODEL,
                        "--model-precision", "tiny-sd1=int8", "--model-precision", "tiny-sd1=bf16",
                        "--data", str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2, r.stderr
    assert "--model-precision" in r.stderr and "'tiny-sd1' is given twice" in r.stderr, r.stderr
