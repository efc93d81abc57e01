"""The "precision" field (f32 | bf16 | int8) in every API family, and
`diffuse serve --precision` as the server's default: accepted values
generate (falling back to f32 with a message where the CPU lacks the
instructions), anything else is a 400 (A1111: 422) naming the field."""
import base64
import io

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
    import subprocess
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
