"""The final decoder ("decoder": "vae" | "taesd") and the few-step presets
("preset": "turbo" | "lcm") in every API family: the native /predict and
jobs API, OpenAI's extension fields, Vertex's parameters and A1111's
extension fields. The same request through each family gives the same
pixels; "taesd" on a server without --taesd, a bogus decoder and a bogus
preset are refused naming the field (400; A1111's routes answer in their
own 422 shape); presets fill only what a request left out."""
import base64
import io

import openai
import pytest
from PIL import Image

from conftest import TIMEOUT

VERTEX = "/v1/models/tiny-sd1:predict"
# 32x32 with TAESD is 4x4 latents (TAESD is 8x); the tiny VAE's default is 16.
BASE = {"prompt": "a lighthouse", "seed": 11, "steps": 3, "width": 32, "height": 32,
        "sampler": "Euler", "guidance_scale": 7.0}


def png(content):
    return Image.open(io.BytesIO(content))


def b64_image(text):
    return png(base64.b64decode(text))


def predict(server, **fields):
    r = server.post("/predict", json=dict(BASE, **fields), headers={"Accept": "image/png"})
    assert r.status_code == 200, r.text
    return png(r.content), r.headers["X-Job-Id"]


def pixels(image):
    return list(image.convert("RGB").getdata())


def openai_client(server):
    return openai.OpenAI(base_url=server.url + "/v1", api_key="unused", max_retries=0,
                         timeout=TIMEOUT)


# -- decoder -------------------------------------------------------------------

def test_native_decoder_taesd(server):
    taesd, job_id = predict(server, decoder="taesd")
    vae, _ = predict(server, decoder="vae")
    default, _ = predict(server)
    assert taesd.size == vae.size == (32, 32)
    assert pixels(vae) == pixels(default)  # "vae" is the default
    assert pixels(taesd) != pixels(vae)
    assert server.get("/v1/jobs/" + job_id).json()["parameters"]["decoder"] == "taesd"
    # The jobs API: the same image, and the field kept with the job.
    job = server.submit(**dict(BASE, decoder="taesd"))
    done = server.wait_state(job["id"], ["completed", "failed"])
    assert done["state"] == "completed", done
    assert done["parameters"]["decoder"] == "taesd"
    image = png(server.get(done["images"][0]["url"], params={"format": "png"}).content)
    assert pixels(image) == pixels(taesd)


def test_openai_vertex_a1111_decoder_taesd(server):
    want, _ = predict(server, decoder="taesd")
    extra = {k: BASE[k] for k in ("seed", "steps", "sampler", "guidance_scale")}
    result = openai_client(server).images.generate(
        prompt=BASE["prompt"], size="32x32", extra_body=dict(extra, decoder="taesd"))
    assert pixels(b64_image(result.data[0].b64_json)) == pixels(want)

    parameters = {k: v for k, v in BASE.items() if k != "prompt"}
    r = server.post(VERTEX, json={"instances": [{"prompt": BASE["prompt"]}],
                                  "parameters": dict(parameters, decoder="taesd",
                                                     output_format="png")})
    assert r.status_code == 200, r.text
    assert pixels(b64_image(r.json()["predictions"][0])) == pixels(want)

    r = server.post("/sdapi/v1/txt2img", json={
        "prompt": BASE["prompt"], "seed": BASE["seed"], "steps": BASE["steps"], "width": 32,
        "height": 32, "sampler_name": "Euler", "cfg_scale": 7.0, "decoder": "taesd"})
    assert r.status_code == 200, r.text
    assert pixels(b64_image(r.json()["images"][0])) == pixels(want)


def a1111_field_error(r, field):
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert detail[0]["loc"] == ["body", field], detail
    return detail[0]["msg"]


def check_refused(server, value, needle):
    """decoder `value` refused by every family, naming the field."""
    for route in ("/v1/jobs", "/predict"):
        r = server.post(route, json={"prompt": "x", "decoder": value})
        assert r.status_code == 400, r.text
        error = r.json()["error"]
        assert error["param"] == "decoder" and error["message"].startswith("decoder:"), error
        assert needle in error["message"], error
    with pytest.raises(openai.BadRequestError) as caught:
        openai_client(server).images.generate(prompt="x", extra_body={"decoder": value})
    assert caught.value.body["param"] == "decoder" and needle in caught.value.body["message"]
    r = server.post(VERTEX, json={"instances": [{"prompt": "x"}],
                                  "parameters": {"decoder": value}})
    assert r.status_code == 400, r.text
    assert r.json()["error"]["field"] == "parameters.decoder", r.text
    assert needle in r.json()["error"]["message"]
    msg = a1111_field_error(server.post("/sdapi/v1/txt2img",
                                        json={"prompt": "x", "decoder": value}), "decoder")
    assert needle in msg


def test_bogus_decoder_is_refused(server):
    check_refused(server, "tiny", "not one of: vae, taesd")
    r = server.post("/predict", json={"prompt": "x", "decoder": 8})
    assert r.status_code == 400 and r.json()["error"]["param"] == "decoder"


def test_taesd_without_a_taesd_server(make_server):
    s = make_server()  # no --taesd
    check_refused(s, "taesd", "--taesd")
    # "vae" needs nothing.
    r = s.post("/predict", json={"prompt": "x", "steps": 2, "decoder": "vae"})
    assert r.status_code == 200, r.text


# -- presets -------------------------------------------------------------------

def infotext(image):
    return image.info["parameters"]


def test_native_presets(server):
    r = server.post("/predict", json={"prompt": "a cat", "seed": 1, "preset": "turbo"},
                    headers={"Accept": "image/png"})
    assert r.status_code == 200, r.text
    text = infotext(png(r.content))
    assert "Steps: 1," in text and "CFG scale: 0," in text, text
    params = server.get("/v1/jobs/" + r.headers["X-Job-Id"]).json()["parameters"]
    assert params["steps"] == 1 and params["guidance_scale"] == 0.0
    assert params["spacing"] == "trailing" and params["preset"] == "turbo"
    assert "sampler" not in params  # the checkpoint's own
    # Explicit values win.
    r = server.post("/predict", json={"prompt": "a cat", "seed": 1, "preset": "turbo",
                                      "steps": 3, "guidance_scale": 2.5, "spacing": "leading"},
                    headers={"Accept": "image/png"})
    params = server.get("/v1/jobs/" + r.headers["X-Job-Id"]).json()["parameters"]
    assert (params["steps"], params["guidance_scale"], params["spacing"]) == (3, 2.5, "leading")
    job = server.submit(prompt="a cat", preset="lcm")
    done = server.wait_state(job["id"], ["completed", "failed"])
    assert done["state"] == "completed", done
    p = done["parameters"]
    assert (p["steps"], p["guidance_scale"], p["sampler"]) == (4, 1.0, "lcm")


def test_openai_and_a1111_presets(server):
    result = openai_client(server).images.generate(prompt="a cat",
                                                   extra_body={"preset": "turbo", "seed": 2})
    text = infotext(b64_image(result.data[0].b64_json))
    assert "Steps: 1," in text and "CFG scale: 0," in text, text

    r = server.post("/sdapi/v1/txt2img", json={"prompt": "a cat", "seed": 2, "preset": "lcm"})
    assert r.status_code == 200, r.text
    info = r.json()["info"]
    assert "Steps: 4, Sampler: LCM, CFG scale: 1," in info, info
    # A1111's own defaults (50 steps, CFG 7, Euler) do not override the
    # preset, but values the client sent do.
    r = server.post("/sdapi/v1/txt2img", json={"prompt": "a cat", "seed": 2, "preset": "lcm",
                                               "cfg_scale": 1.5, "steps": 2})
    assert r.status_code == 200, r.text
    assert "Steps: 2, Sampler: LCM, CFG scale: 1.5," in r.json()["info"]

    r = server.post(VERTEX, json={"instances": [{"prompt": "a cat"}],
                                  "parameters": {"preset": "turbo", "output_format": "png"}})
    assert r.status_code == 200, r.text
    assert "Steps: 1," in infotext(b64_image(r.json()["predictions"][0]))


def test_bogus_preset_is_refused(server):
    for route in ("/v1/jobs", "/predict"):
        r = server.post(route, json={"prompt": "x", "preset": "fast"})
        assert r.status_code == 400, r.text
        error = r.json()["error"]
        assert error["param"] == "preset" and "not one of: turbo, lcm" in error["message"]
    with pytest.raises(openai.BadRequestError) as caught:
        openai_client(server).images.generate(prompt="x", extra_body={"preset": "fast"})
    assert caught.value.body["param"] == "preset"
    msg = a1111_field_error(server.post("/sdapi/v1/txt2img", json={"prompt": "x",
                                                                   "preset": "fast"}), "preset")
    assert "turbo, lcm" in msg
