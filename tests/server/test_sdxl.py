"""SDXL through every API family: one server offers a tiny SDXL base ("xl"),
its refiner ("xl-refiner") and the tiny SD 1.x model (-m, the default).
Each family generates on the base at the model's own default size; prompt_2
is taken on SDXL and refused naming it on SD 1.x; base + refiner through
the native API and through A1111 (refiner_checkpoint, refiner_switch_at)
gives the pixels `diffuse generate --refiner` gives for the same settings;
the misuses of a refiner are 4xx naming the field; the model listings say
family and refiner. Every generation is a few steps at 32 px: the file runs
in seconds.

The tiny SDXL models are the committed random-weight diffusers folders
tests/fixtures/tiny-sdxl and tests/fixtures/tiny-sdxl-refiner."""
import base64
import io
import json
import os
import subprocess

import pytest
from PIL import Image

from conftest import BINARY, ROOT, TIMEOUT, Server

FIXTURES = os.path.join(ROOT, "tests", "fixtures")
SDXL = os.path.join(FIXTURES, "tiny-sdxl")
REFINER = os.path.join(FIXTURES, "tiny-sdxl-refiner")
SD1 = "tiny-sd1"  # conftest's -m model: the server's default
STEPS = 3
PROMPT = "a lighthouse on a cliff"


def default_size(model):
    """The model's default side: the UNet's sample_size times the VAE's
    factor (2 per down block after the first), as df_model_default_size."""
    with open(os.path.join(model, "unet", "config.json")) as f:
        sample_size = json.load(f)["sample_size"]
    with open(os.path.join(model, "vae", "config.json")) as f:
        levels = len(json.load(f)["block_out_channels"])
    return sample_size * 2 ** (levels - 1)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    assert os.path.isdir(SDXL) and os.path.isdir(REFINER), "tiny SDXL fixtures missing"
    d = tmp_path_factory.mktemp("models")
    os.symlink(SDXL, d / "xl")
    os.symlink(REFINER, d / "xl-refiner")
    return str(d)


@pytest.fixture(scope="module")
def server(models, tmp_path_factory):
    # --max-loaded 1 (the default): a refiner job holds two models anyway.
    s = Server(str(tmp_path_factory.mktemp("data")), ["--models-dir", models]).start()
    yield s
    assert s.stop() == 0
    s.check_log()


@pytest.fixture(scope="module")
def size():
    return default_size(SDXL)


def decode(data):
    return Image.open(io.BytesIO(data))


def job(server, **params):
    params.setdefault("prompt", PROMPT)
    params.setdefault("steps", STEPS)
    done = server.wait_state(server.submit(**params)["id"], ["completed", "failed", "cancelled"])
    assert done["state"] == "completed", done
    return done


def job_image(server, done):
    return decode(server.get(done["images"][0]["url"]).content)


def cli(models, tmp_path, *args):
    """`diffuse generate` on the same files (so the infotext names match)."""
    out = str(tmp_path / "cli.png")
    subprocess.run([BINARY, "generate", "-m", os.path.join(models, "xl"), "-p", PROMPT,
                    "--steps", str(STEPS), "-o", out, "-q", "-t", "2"] + list(args),
                   check=True, timeout=TIMEOUT)
    return Image.open(out)


# -- every family on the SDXL base ----------------------------------------------

def test_every_family_generates_at_the_default_size(server, size):
    done = job(server, model="xl", seed=1)
    assert (done["width"], done["height"]) == (size, size)
    assert "Model: xl," in done["infotexts"][0]

    r = server.post("/predict", json={"prompt": PROMPT, "model": "xl", "steps": STEPS},
                    headers={"Accept": "image/png"})
    assert r.status_code == 200, r.text
    assert decode(r.content).size == (size, size)

    r = server.post("/v1/models/xl:predict", json={
        "instances": [{"prompt": PROMPT}], "parameters": {"steps": STEPS,
                                                          "output_format": "png"}})
    assert r.status_code == 200, r.text
    assert decode(base64.b64decode(r.json()["predictions"][0])).size == (size, size)

    r = server.post("/v1/images/generations", json={"prompt": PROMPT, "model": "xl",
                                                    "steps": STEPS})
    assert r.status_code == 200, r.text
    assert r.json()["size"] == "%dx%d" % (size, size)
    assert decode(base64.b64decode(r.json()["data"][0]["b64_json"])).size == (size, size)

    r = server.post("/sdapi/v1/txt2img", json={
        "prompt": PROMPT, "steps": STEPS, "override_settings": {"sd_model_checkpoint": "xl"}})
    assert r.status_code == 200, r.text
    body = r.json()
    assert decode(base64.b64decode(body["images"][0])).size == (size, size)
    # The size that ran, not A1111's 512, since the client left it to the model.
    assert (body["parameters"]["width"], body["parameters"]["height"]) == (size, size)
    assert json.loads(body["info"])["sd_model_name"] == "xl"


# -- prompt_2 and the negative prompt ----------------------------------------------

def test_prompt_2_on_sdxl_is_used(server):
    plain = job(server, model="xl", seed=2)
    second = job(server, model="xl", seed=2, prompt_2="a stormy sea")
    assert second["parameters"]["prompt_2"] == "a stormy sea"
    assert job_image(server, plain).tobytes() != job_image(server, second).tobytes()


def test_prompt_2_refused_on_sd1_in_every_family(server):
    r = server.post("/v1/jobs", json={"prompt": "x", "prompt_2": "y"})  # the default: SD 1.x
    assert r.status_code == 400 and r.json()["error"]["param"] == "prompt_2", r.text
    assert "sd1" in r.json()["error"]["message"]
    r = server.post("/v1/jobs", json={"prompt": "x", "model": SD1, "negative_prompt_2": "y"})
    assert r.status_code == 400 and r.json()["error"]["param"] == "negative_prompt_2", r.text
    r = server.post("/predict", json={"prompt": "x", "model": SD1, "prompt_2": "y"})
    assert r.status_code == 400 and r.json()["error"]["param"] == "prompt_2", r.text
    r = server.post("/v1/images/generations", json={"prompt": "x", "prompt_2": "y"})
    assert r.status_code == 400 and r.json()["error"]["param"] == "prompt_2", r.text
    r = server.post("/v1/models/%s:predict" % SD1,
                    json={"instances": [{"prompt": "x", "prompt_2": "y"}]})
    assert r.status_code == 400, r.text
    assert r.json()["error"]["field"] == "instances[0].prompt_2"
    # SDXL's other fields too, where they would change something.
    r = server.post("/v1/jobs", json={"prompt": "x", "original_width": 1024})
    assert r.status_code == 400 and r.json()["error"]["param"] == "original_width", r.text
    r = server.post("/v1/jobs", json={"prompt": "x", "model": "xl", "aesthetic_score": 7})
    assert r.status_code == 400 and r.json()["error"]["param"] == "aesthetic_score", r.text


def test_negative_prompt_absent_is_not_empty_on_sdxl(server):
    """Native: no negative prompt is zero negative conditioning on an SDXL
    base (diffusers), "" the empty prompt's encoding. A1111 zeroes for ""
    (its sd_models_xl.py), so its "" is the native absent one."""
    absent = job(server, model="xl", seed=3, guidance_scale=7, sampler="Euler")
    empty = job(server, model="xl", seed=3, guidance_scale=7, sampler="Euler",
                negative_prompt="")
    assert "negative_prompt" not in absent["parameters"]
    assert empty["parameters"]["negative_prompt"] == ""
    absent_pixels = job_image(server, absent).tobytes()
    assert absent_pixels != job_image(server, empty).tobytes()
    r = server.post("/sdapi/v1/txt2img", json={
        "prompt": PROMPT, "negative_prompt": "", "steps": STEPS, "seed": 3, "cfg_scale": 7,
        "sampler_name": "Euler", "override_settings": {"sd_model_checkpoint": "xl"}})
    assert r.status_code == 200, r.text
    assert json.loads(r.json()["info"])["negative_prompt"] == ""
    assert decode(base64.b64decode(r.json()["images"][0])).tobytes() == absent_pixels


# -- base + refiner ----------------------------------------------------------------

def test_refiner_native_and_a1111_equal_the_cli(server, models, tmp_path):
    expected = cli(models, tmp_path, "--refiner", os.path.join(models, "xl-refiner"),
                   "--seed", "5", "--sampler", "Euler", "--cfg", "7")
    assert "Refiner: xl-refiner, Refiner switch at: 0.8" in expected.info["parameters"]

    done = job(server, model="xl", refiner="xl-refiner", seed=5, sampler="Euler",
               guidance_scale=7)
    assert done["parameters"]["refiner"] == "xl-refiner"
    assert done["parameters"]["refiner_start"] == 0.8
    assert "Refiner: xl-refiner, Refiner switch at: 0.8" in done["infotexts"][0]
    image = job_image(server, done)
    assert image.info["parameters"] == expected.info["parameters"]
    assert image.tobytes() == expected.tobytes()

    r = server.post("/sdapi/v1/txt2img", json={
        "prompt": PROMPT, "steps": STEPS, "seed": 5, "cfg_scale": 7, "sampler_name": "Euler",
        "override_settings": {"sd_model_checkpoint": "xl"},
        "refiner_checkpoint": "xl-refiner", "refiner_switch_at": 0.8})
    assert r.status_code == 200, r.text
    info = json.loads(r.json()["info"])
    assert "Refiner: xl-refiner, Refiner switch at: 0.8" in info["infotexts"][0]
    assert info["extra_generation_params"] == {"Refiner": "xl-refiner",
                                               "Refiner switch at": 0.8}
    image = decode(base64.b64decode(r.json()["images"][0]))
    assert image.tobytes() == expected.tobytes()

    # The stored parameters are the whole request: sent again, the same image
    # (what a restart re-runs).
    again = job(server, **done["parameters"])
    assert job_image(server, again).tobytes() == expected.tobytes()

    # Another switch point is another image.
    other = job(server, model="xl", refiner="xl-refiner", refiner_start=0.5, seed=5,
                sampler="Euler", guidance_scale=7)
    assert "Refiner switch at: 0.5" in other["infotexts"][0]
    assert job_image(server, other).tobytes() != expected.tobytes()


def test_a1111_no_refiner_forms(server):
    # As A1111: "None", "" and a switch at 1 or later mean no refiner.
    for extra in ({"refiner_checkpoint": "None"}, {"refiner_checkpoint": ""},
                  {"refiner_checkpoint": "xl-refiner", "refiner_switch_at": 1.0},
                  {"refiner_switch_at": 0.5}):
        r = server.post("/sdapi/v1/txt2img", json=dict({
            "prompt": PROMPT, "steps": STEPS, "seed": 6,
            "override_settings": {"sd_model_checkpoint": "xl"}}, **extra))
        assert r.status_code == 200, (extra, r.text)
        assert "Refiner" not in json.loads(r.json()["info"])["infotexts"][0]


def test_refiner_misuse_is_a_client_error(server):
    # A refiner draws nothing from noise: txt2img on it is refused at once.
    r = server.post("/v1/jobs", json={"prompt": "x", "model": "xl-refiner"})
    assert r.status_code == 400 and r.json()["error"]["param"] == "model", r.text
    assert "refiner" in r.json()["error"]["message"]
    assert "init image" in r.json()["error"]["message"]
    r = server.post("/v1/images/generations", json={"prompt": "x", "model": "xl-refiner"})
    assert r.status_code == 400 and r.json()["error"]["param"] == "model", r.text
    r = server.post("/v1/models/xl-refiner:predict", json={"instances": ["x"]})
    assert r.status_code == 400, r.text
    r = server.post("/sdapi/v1/txt2img", json={
        "prompt": "x", "steps": STEPS, "override_settings": {"sd_model_checkpoint": "xl-refiner"}})
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"] == ["body", "override_settings.sd_model_checkpoint"]

    # Unknown refiners, and models that are no refiner, name the field.
    for name in ("nope", "xl", SD1):
        r = server.post("/v1/jobs", json={"prompt": "x", "model": "xl", "refiner": name})
        assert r.status_code == 400 and r.json()["error"]["param"] == "refiner", r.text
        assert name in r.json()["error"]["message"]
        r = server.post("/sdapi/v1/txt2img", json={
            "prompt": "x", "override_settings": {"sd_model_checkpoint": "xl"},
            "refiner_checkpoint": name})
        assert r.status_code == 422, r.text
        assert r.json()["detail"][0]["loc"] == ["body", "refiner_checkpoint"]
    r = server.post("/v1/jobs", json={"prompt": "x", "refiner": "xl-refiner"})  # after SD 1.x
    assert r.status_code == 400 and r.json()["error"]["param"] == "refiner", r.text
    r = server.post("/v1/images/generations", json={"prompt": "x", "model": "xl",
                                                    "refiner": "nope"})
    assert r.status_code == 400 and r.json()["error"]["param"] == "refiner", r.text
    r = server.post("/v1/jobs", json={"prompt": "x", "model": "xl", "refiner_start": 0.5})
    assert r.status_code == 400 and r.json()["error"]["param"] == "refiner_start", r.text
    r = server.post("/v1/jobs", json={"prompt": "x", "model": "xl", "refiner": "xl-refiner",
                                      "refiner_start": 1})
    assert r.status_code == 400 and r.json()["error"]["param"] == "refiner_start", r.text
    r = server.post("/sdapi/v1/txt2img", json={
        "prompt": "x", "override_settings": {"sd_model_checkpoint": "xl"},
        "refiner_checkpoint": "xl-refiner", "refiner_switch_at": 0})
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"] == ["body", "refiner_switch_at"]


def test_refiner_img2img_with_aesthetic_score(server, size):
    """A refiner as the model refines an init image, with its own
    conditioning; the stored parameters keep all of it."""
    buffer = io.BytesIO()
    Image.new("RGB", (size, size), (200, 30, 30)).save(buffer, format="PNG")
    init = base64.b64encode(buffer.getvalue()).decode()
    done = job(server, model="xl-refiner", init_image=init, strength=0.5, seed=7,
               aesthetic_score=7.5, negative_aesthetic_score=2.0, crop_top=8)
    p = done["parameters"]
    assert (p["aesthetic_score"], p["negative_aesthetic_score"], p["crop_top"]) == (7.5, 2.0, 8)
    assert (done["width"], done["height"]) == (size, size)
    again = job(server, **p)
    assert job_image(server, again).tobytes() == job_image(server, done).tobytes()
    plain = job(server, **dict(p, aesthetic_score=None, negative_aesthetic_score=None))
    assert job_image(server, plain).tobytes() != job_image(server, done).tobytes()


def estimate(model):
    """`diffuse generate --estimate-memory` of a 1-step default-size request."""
    out = subprocess.run([BINARY, "generate", "-m", model, "-p", "x", "--steps", "1",
                          "--estimate-memory"], check=True, capture_output=True, text=True,
                         timeout=TIMEOUT).stdout
    return int(out.split()[0])


def test_max_memory_counts_the_refiner(models, make_server):
    """--max-memory counts the refiner's working memory on top of the
    base's: between the base's alone and the sum, the base alone is taken
    and the pair refused at submission, saying why."""
    base = estimate(os.path.join(models, "xl"))
    refiner = estimate(os.path.join(models, "xl-refiner"))
    limit = max(base + refiner // 2, 1 << 20)
    s = make_server(["--models-dir", models, "--max-memory", str(limit)])
    params = {"prompt": "x", "model": "xl", "steps": 1}
    assert s.post("/v1/jobs", json=params).status_code == 202
    r = s.post("/v1/jobs", json=dict(params, refiner="xl-refiner"))
    assert r.status_code == 400, r.text
    assert r.json()["error"]["param"] in ("width", "batch")
    assert "base and refiner together" in r.json()["error"]["message"]


# -- listings ---------------------------------------------------------------------

def test_listings_show_family_and_refiner(server):
    models = {m["id"]: m for m in server.get("/v1/models").json()["data"]}
    assert (models["xl"]["family"], models["xl"]["refiner"]) == ("sdxl", False)
    assert (models["xl-refiner"]["family"], models["xl-refiner"]["refiner"]) == ("sdxl", True)
    assert (models[SD1]["family"], models[SD1]["refiner"]) == ("sd1", False)
    assert server.get("/v1/models/xl-refiner").json()["refiner"] is True
    sd = {m["title"]: m for m in server.get("/sdapi/v1/sd-models").json()}
    assert (sd["xl"]["family"], sd["xl-refiner"]["refiner"]) == ("sdxl", True)
    assert sd[SD1]["family"] == "sd1"
