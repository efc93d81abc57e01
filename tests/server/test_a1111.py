"""AUTOMATIC1111's /sdapi/v1 API: raw A1111 JSON with requests, and the
webuiapi client library from PyPI (pinned in requirements.txt)."""
import base64
import io
import json
import os
import threading
import time

import pytest
import requests
from PIL import Image

from conftest import MODEL, ROOT, TAESD, TIMEOUT

webuiapi = pytest.importorskip("webuiapi")

SD2 = os.path.join(ROOT, "tests", "fixtures", "tiny-sd2.safetensors")


def b64_png(size=16, color=(200, 30, 30)):
    buffer = io.BytesIO()
    Image.new("RGB", (size, size), color).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def decode(image_b64):
    return Image.open(io.BytesIO(base64.b64decode(image_b64)))


@pytest.fixture
def models_dir(tmp_path):
    d = tmp_path / "models"
    d.mkdir()
    os.symlink(MODEL, d / "alpha")
    os.symlink(SD2, d / "beta.safetensors")
    return str(d)


def test_txt2img_batch_per_image_seeds(server):
    r = server.post("/sdapi/v1/txt2img", json={
        "prompt": "a castle", "negative_prompt": "blurry", "steps": 4, "cfg_scale": 6,
        "sampler_name": "Euler a", "seed": 1234, "batch_size": 2, "width": 16, "height": 16,
        # What A1111 clients send switched off: accepted and ignored.
        "styles": [], "restore_faces": False, "tiling": False, "enable_hr": False,
        "hr_scale": 2, "subseed": -1, "subseed_strength": 0, "eta": 1.0, "s_churn": 0,
        "s_noise": 1, "alwayson_scripts": {}, "script_args": [], "save_images": False})
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"images", "parameters", "info"}
    assert len(body["images"]) == 2
    for image in body["images"]:
        assert decode(image).size == (16, 16)
    info = json.loads(body["info"])
    assert info["seed"] == 1234 and info["all_seeds"] == [1234, 1235]
    assert info["sampler_name"] == "Euler a" and info["steps"] == 4
    assert "Seed: 1235" in info["infotexts"][1]
    assert body["parameters"]["prompt"] == "a castle"
    assert body["parameters"]["batch_size"] == 2
    # Image 1 of the batch is the image seed 1235 gives alone (A1111's seeds).
    alone = server.post("/sdapi/v1/txt2img", json={
        "prompt": "a castle", "negative_prompt": "blurry", "steps": 4, "cfg_scale": 6,
        "sampler_name": "Euler a", "seed": 1235}).json()
    assert decode(alone["images"][0]).tobytes() == decode(body["images"][1]).tobytes()


def test_n_iter_and_random_seed(server):
    body = server.post("/sdapi/v1/txt2img", json={
        "prompt": "x", "steps": 2, "seed": -1, "n_iter": 2, "batch_size": 1}).json()
    info = json.loads(body["info"])
    assert len(body["images"]) == 2 and info["seed"] >= 0
    assert info["all_seeds"] == [info["seed"], info["seed"] + 1]


def test_send_images_false(server):
    body = server.post("/sdapi/v1/txt2img", json={"prompt": "x", "steps": 2,
                                                    "send_images": False}).json()
    assert body["images"] == []


def test_img2img_init_image(server):
    r = server.post("/sdapi/v1/img2img", json={
        "prompt": "a painting", "steps": 4, "seed": 5, "denoising_strength": 0.5,
        "init_images": ["data:image/png;base64," + b64_png()], "resize_mode": 0,
        "mask_blur": 4, "inpainting_fill": 0, "initial_noise_multiplier": 1})
    assert r.status_code == 200, r.text
    body = r.json()
    assert decode(body["images"][0]).size == (16, 16)
    info = json.loads(body["info"])
    assert info["denoising_strength"] == 0.5
    assert "Denoising strength: 0.5" in info["infotexts"][0]
    assert body["parameters"]["init_images"] is None  # include_init_images false
    # A different init image gives a different result.
    other = server.post("/sdapi/v1/img2img", json={
        "prompt": "a painting", "steps": 4, "seed": 5, "denoising_strength": 0.5,
        "init_images": [b64_png(color=(0, 0, 255))]}).json()
    assert other["images"][0] != body["images"][0]


def test_img2img_needs_an_image(server):
    r = server.post("/sdapi/v1/img2img", json={"prompt": "x"})
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "init_images"]
    r = server.post("/sdapi/v1/img2img", json={"prompt": "x", "init_images": ["!!notbase64"]})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "init_images"]


def test_samplers_schedulers_options(server):
    names = [s["name"] for s in server.get("/sdapi/v1/samplers").json()]
    assert "Euler a" in names and "DPM++ 2M Karras" in names
    sampler = server.get("/sdapi/v1/samplers").json()[0]
    assert set(sampler) == {"name", "aliases", "options"}
    schedulers = [s["name"] for s in server.get("/sdapi/v1/schedulers").json()]
    assert "karras" in schedulers and "automatic" in schedulers
    options = server.get("/sdapi/v1/options").json()
    assert options["sd_model_checkpoint"] == "tiny-sd1"
    assert server.post("/sdapi/v1/options", json={"samples_format": "png",
                                                  "some_ui_option": 3}).status_code == 200
    assert server.get("/sdapi/v1/options").json()["some_ui_option"] == 3


def test_bad_input(server):
    cases = [
        ({"prompt": "x", "steps": "many"}, "steps"),
        ({"prompt": "x", "cfg_scale": "high"}, "cfg_scale"),
        ({"prompt": "x", "batch_size": 99}, "batch_size"),
        ({"prompt": 5}, "prompt"),
        ({"prompt": "x", "width": 17}, "width"),
        ({"prompt": "x", "enable_hr": True}, "enable_hr"),
        ({"prompt": "x", "restore_faces": True}, "restore_faces"),
        ({"prompt": "x", "styles": ["my style"]}, "styles"),
        ({"prompt": "x", "alwayson_scripts": {"controlnet": {"args": []}}}, "alwayson_scripts"),
        ({"prompt": "x", "stpes": 3}, "stpes"),
        ({"prompt": "x", "scheduler": "exponential"}, "scheduler"),
        ({"prompt": "x", "override_settings": {"sd_model_checkpoint": "nope"}},
         "override_settings.sd_model_checkpoint"),
    ]
    for payload, field in cases:
        r = server.post("/sdapi/v1/txt2img", json=payload)
        assert r.status_code == 422, (payload, r.text)
        detail = r.json()["detail"]
        assert detail[0]["loc"] == ["body", field], (payload, detail)
        assert field in detail[0]["msg"]
    r = server.post("/sdapi/v1/txt2img", json={"prompt": "x", "sampler_name": "Nope"})
    assert r.status_code == 404
    body = r.json()
    assert set(body) == {"error", "detail", "body", "errors"}
    assert "Sampler not found" in body["detail"]
    r = server.post("/sdapi/v1/txt2img", data="{not json")
    assert r.status_code == 422 and "detail" in r.json()
    r = server.post("/sdapi/v1/png-info", json={"image": "%%%"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "image"]


def test_batch_limits_are_the_servers(server):
    # The server's --max-batch (8 by default), not A1111's 16.
    for payload, field in (({"batch_size": 99}, "batch_size"),
                           ({"batch_size": 4, "n_iter": 3}, "n_iter")):
        r = server.post("/sdapi/v1/txt2img", json=dict(payload, prompt="x"))
        assert r.status_code == 422, r.text
        detail = r.json()["detail"][0]
        assert detail["loc"] == ["body", field], detail
        assert "8" in detail["msg"] and "16" not in detail["msg"], detail


def test_png_info_round_trip(server):
    body = server.post("/sdapi/v1/txt2img", json={
        "prompt": "a lighthouse", "negative_prompt": "fog", "steps": 3, "seed": 77,
        "sampler_name": "DPM++ 2M Karras",
        "override_settings": {"CLIP_stop_at_last_layers": 2}}).json()
    r = server.post("/sdapi/v1/png-info", json={"image": body["images"][0]})
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["info"] == json.loads(body["info"])["infotexts"][0]
    p = out["parameters"]
    assert p["Prompt"] == "a lighthouse" and p["Negative prompt"] == "fog"
    assert p["Seed"] == "77" and p["Steps"] == "3" and p["Clip skip"] == "2"
    assert p["Sampler"] == "DPM++ 2M" and p["Schedule type"] == "Karras"
    assert p["Size-1"] == "16" and p["Model"] == "tiny-sd1"


def test_progress_interrupt_and_task_id(server, steps_per_second):
    steps = max(200, min(1000, int(6 * steps_per_second)))  # 1000: the engine's cap
    result = {}

    def run():
        result["r"] = requests.post(server.url + "/sdapi/v1/txt2img", timeout=TIMEOUT * 2, json={
            "prompt": "long", "steps": steps, "force_task_id": "task(abc123)"})

    thread = threading.Thread(target=run)
    thread.start()
    deadline = time.monotonic() + TIMEOUT
    seen = None
    while time.monotonic() < deadline:
        p = server.get("/sdapi/v1/progress").json()
        if p["state"]["sampling_step"] > 0:
            seen = p
            break
        time.sleep(0.02)
    assert seen, "no progress seen"
    assert set(seen) >= {"progress", "eta_relative", "state", "current_image", "textinfo"}
    assert 0 < seen["progress"] < 1
    assert seen["state"]["sampling_steps"] >= steps and seen["state"]["job_count"] == 1
    # Per task: A1111's force_task_id.
    while True:  # a preview is due every 10 steps
        per_task = server.get("/sdapi/v1/progress", params={"id_task": "task(abc123)"}).json()
        if per_task["current_image"] or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert per_task["state"]["sampling_step"] > 0
    assert per_task["current_image"] and decode(per_task["current_image"]).format == "PNG"
    skipped = server.get("/sdapi/v1/progress",
                         params={"id_task": "task(abc123)", "skip_current_image": "true"}).json()
    assert skipped["current_image"] is None
    assert server.post("/sdapi/v1/interrupt").json() == {}
    thread.join(TIMEOUT)
    r = result["r"]
    assert r.status_code == 200
    assert json.loads(r.json()["info"])["interrupted"] is True
    idle = server.get("/sdapi/v1/progress").json()
    assert idle["progress"] == 0 and idle["state"]["job_count"] == 0
    done = server.get("/sdapi/v1/progress", params={"id_task": "task(abc123)"}).json()
    assert done["state"]["interrupted"] is True


def test_sd_models_and_checkpoint_switch(make_server, models_dir):
    s = make_server(["--models-dir", models_dir, "--max-loaded", "1"])
    models = s.get("/sdapi/v1/sd-models").json()
    assert [m["title"] for m in models] == ["tiny-sd1", "alpha", "beta.safetensors"]
    # A1111's keys, and diffuse's family and refiner (which SDXL refiners are).
    assert set(models[0]) == {"title", "model_name", "hash", "sha256", "filename", "config",
                              "family", "refiner"}
    assert [(m["family"], m["refiner"]) for m in models] == [
        ("sd1", False), ("sd1", False), ("sd2", False)]
    assert models[2]["model_name"] == "beta"
    # No server paths: the name under the models directory (or of -m's model).
    assert [m["filename"] for m in models] == ["tiny-sd1", "alpha", "beta.safetensors"]

    def model_of(body):
        return json.loads(body["info"])["infotexts"][0].split("Model: ")[1].split(",")[0]

    gen = {"prompt": "x", "steps": 2}
    assert model_of(s.post("/sdapi/v1/txt2img", json=gen).json()) == "tiny-sd1"
    assert s.post("/sdapi/v1/options",
                  json={"sd_model_checkpoint": "beta.safetensors"}).status_code == 200
    assert s.get("/sdapi/v1/options").json()["sd_model_checkpoint"] == "beta.safetensors"
    body = s.post("/sdapi/v1/txt2img", json=gen).json()
    assert model_of(body) == "beta" and decode(body["images"][0]).size == (24, 24)
    # Per request, without changing the default.
    body = s.post("/sdapi/v1/txt2img", json=dict(
        gen, override_settings={"sd_model_checkpoint": "alpha"})).json()
    assert model_of(body) == "alpha"
    assert model_of(s.post("/sdapi/v1/txt2img", json=gen).json()) == "beta"
    r = s.post("/sdapi/v1/options", json={"sd_model_checkpoint": "gamma"})
    assert r.status_code == 422 and "alpha" in r.json()["detail"][0]["msg"]


def test_webuiapi_client(make_server, models_dir):
    s = make_server(["--models-dir", models_dir, "--taesd", TAESD])
    host, port = s.url.rsplit("/", 1)[1].split(":")
    api = webuiapi.WebUIApi(host=host, port=int(port), sampler="Euler a", steps=3)
    result = api.txt2img(prompt="a cute cat", seed=42, batch_size=2, cfg_scale=7, width=16,
                         height=16)
    assert len(result.images) == 2 and result.images[0].size == (16, 16)
    assert result.info["all_seeds"] == [42, 43]
    result = api.img2img(images=[Image.new("RGB", (16, 16), (9, 99, 199))], prompt="paint",
                         seed=3, denoising_strength=0.6, width=16, height=16)
    assert len(result.images) == 1 and result.info["denoising_strength"] == 0.6
    info = api.png_info(result.image)
    assert info.info.startswith("paint\n")
    assert "Euler a" in api.util_get_sampler_names()
    assert "beta.safetensors" in api.util_get_model_names()
    api.util_set_model("beta.safetensors", find_closest=False)
    assert api.util_get_current_model() == "beta.safetensors"
    result = api.txt2img(prompt="a dog", seed=1, width=24, height=24)  # webuiapi sends 512
    assert "Model: beta" in result.info["infotexts"][0]
    assert api.get_progress()["state"]["job_count"] == 0
    assert api.interrupt() == {}
