"""LoRAs per request (`diffuse serve --lora-dir DIR`): "loras" in the native
jobs, /predict, OpenAI and Vertex requests, AUTOMATIC1111's <lora:NAME:...>
prompt tags (always on the A1111 routes, with "weighting" elsewhere), the
listings (GET /v1/loras, GET /sdapi/v1/loras, POST /sdapi/v1/refresh-loras)
and the errors. Every image is checked against `diffuse generate --lora`
on the same files, pixel for pixel.

The LoRA files are the committed tiny fixtures (tests/fixtures/lora/); each
test copies the ones it needs into a LoRA directory of its own, under short
names."""
import base64
import hashlib
import io
import json
import os
import shutil
import signal
import struct
import subprocess
import threading
import time

import pytest
from PIL import Image

from conftest import BINARY, MODEL, ROOT, TIMEOUT, Server

STEPS = 4
PROMPT = "a photograph of an astronaut riding a horse"


FIXTURES = os.path.join(ROOT, "tests", "fixtures", "lora")


# name in the LoRA directory -> fixture file
FILES = {"style": "sd1_lora_kohya.safetensors", "peft": "sd1_lora_peft.safetensors",
         "loha": "sd1_loha.safetensors", "xl": "sdxl_lora_kohya.safetensors",
         "broken": "sd1_lora_truncated.safetensors"}


@pytest.fixture(scope="module")
def lora_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("loras")
    for name, fixture in FILES.items():
        shutil.copy(os.path.join(FIXTURES, fixture), d / (name + ".safetensors"))
    return str(d)


@pytest.fixture(scope="module")
def server(lora_dir, tmp_path_factory):
    s = Server(str(tmp_path_factory.mktemp("data")), ["--lora-dir", lora_dir]).start()
    yield s
    assert s.stop() == 0
    s.check_log()


def decode(data):
    return Image.open(io.BytesIO(data))


def pixels(image):
    return image.convert("RGB").tobytes()


_cli_cache = {}


def cli(lora_dir, tmp_path_factory, *args, prompt=PROMPT, seed=7):
    """Pixels of `diffuse generate` with these arguments (cached: the CLI
    loads the model each time)."""
    key = (prompt, seed) + args
    if key not in _cli_cache:
        out = str(tmp_path_factory.mktemp("cli") / "cli.png")
        subprocess.run([BINARY, "generate", "-m", MODEL, "-p", prompt, "--steps", str(STEPS),
                        "--seed", str(seed), "-o", out, "-q", "-t", "2"] +
                       [a.replace("@", lora_dir + "/") for a in args],
                       check=True, timeout=TIMEOUT)
        _cli_cache[key] = pixels(Image.open(out))
    return _cli_cache[key]


def job(server, **params):
    params.setdefault("prompt", PROMPT)
    params.setdefault("steps", STEPS)
    done = server.wait_state(server.submit(**params)["id"], ["completed", "failed", "cancelled"])
    assert done["state"] == "completed", done
    return done


def job_pixels(server, done):
    return pixels(decode(server.get(done["images"][0]["url"]).content))


def predict(server, **params):
    params.setdefault("prompt", PROMPT)
    params.setdefault("steps", STEPS)
    return server.post("/predict", json=params, headers={"Accept": "image/png"})


def autov3(path):
    """A1111's LoRA hash: SHA-256 of the safetensors data after the header."""
    with open(path, "rb") as f:
        data = f.read()
    (length,) = struct.unpack("<Q", data[:8])
    return hashlib.sha256(data[8 + length:]).hexdigest()


def data_dir(tmp_path):
    d = tmp_path / "data"
    d.mkdir()
    return d


def assert_error(r, status, param, *words):
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert error["param"] == param, error
    for word in words:
        assert word in error["message"], error
    return error


# -- every family, against the CLI ---------------------------------------------------

def test_every_family_applies_the_lora_as_the_cli_does(server, lora_dir, tmp_path_factory):
    base = cli(lora_dir, tmp_path_factory)
    expected = cli(lora_dir, tmp_path_factory, "--lora", "@style.safetensors:0.8")
    assert expected != base  # the LoRA changes the image
    loras = [{"name": "style", "scale": 0.8}]

    done = job(server, seed=7, loras=loras)
    assert done["parameters"]["loras"] == loras
    assert job_pixels(server, done) == expected

    r = predict(server, seed=7, loras=loras)
    assert r.status_code == 200, r.text
    assert pixels(decode(r.content)) == expected

    r = server.post("/v1/images/generations", json={
        "prompt": PROMPT, "steps": STEPS, "seed": 7, "loras": loras, "output_format": "png"})
    assert r.status_code == 200, r.text
    assert pixels(decode(base64.b64decode(r.json()["data"][0]["b64_json"]))) == expected

    r = server.post("/v1/models/diffuse:predict", json={
        "instances": [{"prompt": PROMPT}, {"prompt": PROMPT, "loras": []}],
        "parameters": {"steps": STEPS, "seed": 7, "loras": loras, "output_format": "png"}})
    assert r.status_code == 200, r.text
    predictions = r.json()["predictions"]
    assert pixels(decode(base64.b64decode(predictions[0]))) == expected
    assert pixels(decode(base64.b64decode(predictions[1]))) == base  # the instance's own []

    # A1111: the tag in the prompt, on A1111's defaults (Euler, CFG 7).
    a1111 = cli(lora_dir, tmp_path_factory, "--lora", "@style.safetensors:0.8",
                "--sampler", "Euler", "--cfg", "7", "--seed-mode", "per-image")
    r = server.post("/sdapi/v1/txt2img", json={
        "prompt": PROMPT + " <lora:style:0.8>", "steps": STEPS, "seed": 7})
    assert r.status_code == 200, r.text
    assert pixels(decode(base64.b64decode(r.json()["images"][0]))) == a1111


def test_unet_and_text_scales(server, lora_dir, tmp_path_factory):
    expected = cli(lora_dir, tmp_path_factory, "--lora", "@style.safetensors:0.5:1.5")
    done = job(server, seed=7, loras=[{"name": "style", "scale": 9, "unet_scale": 0.5,
                                       "text_scale": 1.5}])
    assert done["parameters"]["loras"] == [{"name": "style", "unet_scale": 0.5,
                                            "text_scale": 1.5}]
    assert job_pixels(server, done) == expected


def test_several_loras_and_formats(server, lora_dir, tmp_path_factory):
    expected = cli(lora_dir, tmp_path_factory, "--lora", "@peft.safetensors:0.6",
                   "--lora", "@loha.safetensors:1.2")
    done = job(server, seed=7, loras=[{"name": "peft", "scale": 0.6},
                                      {"name": "loha.safetensors", "scale": 1.2}])
    # A name given with .safetensors is stored as the catalogue's name.
    assert [l["name"] for l in done["parameters"]["loras"]] == ["peft", "loha"]
    assert job_pixels(server, done) == expected


def test_without_lora_after_lora_is_the_base_image(server, lora_dir, tmp_path_factory):
    base = cli(lora_dir, tmp_path_factory)
    first = job(server, seed=7)
    assert job_pixels(server, first) == base
    job(server, seed=7, loras=[{"name": "style", "scale": 1}])
    job(server, seed=7, loras=[{"name": "loha", "scale": -1}])
    after = job(server, seed=7)
    assert job_pixels(server, after) == base
    # And back: the same set again is the same image.
    a = job(server, seed=7, loras=[{"name": "style", "scale": 1}])
    b = job(server, seed=7, loras=[{"name": "style", "scale": 1}])
    assert job_pixels(server, a) == job_pixels(server, b) != base


def test_concurrent_clients_get_their_own_sets(server, lora_dir, tmp_path_factory):
    sets = {
        "a": ([{"name": "style", "scale": 0.8}], ["--lora", "@style.safetensors:0.8"]),
        "b": ([{"name": "peft", "scale": 1.0}, {"name": "loha", "scale": 0.5}],
              ["--lora", "@peft.safetensors:1", "--lora", "@loha.safetensors:0.5"]),
        "c": ([], []),
    }
    expected = {k: cli(lora_dir, tmp_path_factory, *args) for k, (_, args) in sets.items()}
    results, errors = {k: [] for k in sets}, []

    def client(key):
        try:
            for _ in range(3):
                r = predict(server, seed=7, loras=sets[key][0])
                assert r.status_code == 200, r.text
                results[key].append(pixels(decode(r.content)))
        except Exception as e:  # reported below, in the test's thread
            errors.append(e)

    threads = [threading.Thread(target=client, args=(k,)) for k in sets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(TIMEOUT)
    assert not errors, errors
    for key in sets:
        assert len(results[key]) == 3
        assert all(p == expected[key] for p in results[key]), key


def test_stored_parameters_run_again_identically(server):
    done = job(server, seed=3, loras=[{"name": "style", "scale": 0.7}],
               prompt="a cat <lora:loha:0.4>", weighting=True)
    # The tag left the prompt and joined "loras": the stored request no
    # longer depends on weighting to find it.
    assert done["parameters"]["prompt"] == "a cat "
    assert done["parameters"]["loras"] == [{"name": "style", "scale": 0.7},
                                           {"name": "loha", "scale": 0.4}]
    again = job(server, **done["parameters"])
    assert job_pixels(server, again) == job_pixels(server, done)
    again = job(server, **dict(done["parameters"], weighting=False))
    assert job_pixels(server, again) == job_pixels(server, done)


# -- the prompt syntax ----------------------------------------------------------------

def test_a1111_tag_equals_native_loras(server):
    common = {"steps": STEPS, "seed": 9, "cfg_scale": 7, "sampler_name": "Euler"}
    r = server.post("/sdapi/v1/txt2img", json=dict(common, prompt="a cat <lora:style:0.7>"))
    assert r.status_code == 200, r.text
    tagged = pixels(decode(base64.b64decode(r.json()["images"][0])))
    done = job(server, prompt="a cat ", seed=9, guidance_scale=7, sampler="Euler",
               seed_mode="per-image", rng="cpu", loras=[{"name": "style", "scale": 0.7}])
    assert job_pixels(server, done) == tagged
    # <lyco:...> is the same; A1111's order is TE then UNet.
    r = server.post("/sdapi/v1/txt2img", json=dict(common, prompt="a cat <lyco:style:0.7>"))
    assert pixels(decode(base64.b64decode(r.json()["images"][0]))) == tagged
    r = server.post("/sdapi/v1/txt2img", json=dict(common, prompt="a cat <lora:style:0.2:0.9>"))
    assert r.status_code == 200, r.text
    two = pixels(decode(base64.b64decode(r.json()["images"][0])))
    done = job(server, prompt="a cat ", seed=9, guidance_scale=7, sampler="Euler",
               seed_mode="per-image",
               loras=[{"name": "style", "text_scale": 0.2, "unet_scale": 0.9}])
    assert job_pixels(server, done) == two != tagged
    # disable_extra_networks: the tag leaves the prompt, unused (A1111).
    r = server.post("/sdapi/v1/txt2img", json=dict(common, prompt="a cat <lora:style:0.7>",
                                                   disable_extra_networks=True))
    assert r.status_code == 200, r.text
    done = job(server, prompt="a cat ", seed=9, guidance_scale=7, sampler="Euler",
               seed_mode="per-image")
    assert pixels(decode(base64.b64decode(r.json()["images"][0]))) == job_pixels(server, done)


def test_a1111_infotext_has_tags_and_lora_hashes(server, lora_dir):
    r = server.post("/sdapi/v1/txt2img", json={
        "prompt": "a cat <lora:style:0.7>, <lora:loha:0.3:0.6>", "steps": STEPS, "seed": 2})
    assert r.status_code == 200, r.text
    info = json.loads(r.json()["info"])
    assert info["prompt"] == "a cat <lora:style:0.7>, <lora:loha:0.3:0.6>"  # as sent
    style = autov3(os.path.join(lora_dir, "style.safetensors"))[:12]
    loha = autov3(os.path.join(lora_dir, "loha.safetensors"))[:12]
    hashes = "style: %s, loha: %s" % (style, loha)
    text = info["infotexts"][0]
    # The tags after the prompt (A1111 finds LoRAs there: pasting this
    # infotext into A1111 applies them), Lora hashes before Version.
    assert text.startswith("a cat , <lora:style:0.7> <lora:loha:0.3:0.6>\n"), text
    assert ', Lora hashes: "%s", Version: ' % hashes in text, text
    assert info["extra_generation_params"]["Lora hashes"] == hashes
    image = decode(base64.b64decode(r.json()["images"][0]))
    assert image.info["parameters"] == text
    # png-info reads it back as A1111 does.
    r = server.post("/sdapi/v1/png-info", json={"image": r.json()["images"][0]})
    assert r.json()["parameters"]["Lora hashes"] == '"%s"' % hashes


def test_weighting_turns_the_syntax_on_in_native_routes(server, lora_dir, tmp_path_factory):
    expected = cli(lora_dir, tmp_path_factory, "--weighting", "--lora-dir", lora_dir,
                   prompt="a cat <lora:style:0.7>")
    assert expected == cli(lora_dir, tmp_path_factory, "--lora", "@style.safetensors:0.7",
                           prompt="a cat")
    done = job(server, prompt="a cat <lora:style:0.7>", weighting=True, seed=7)
    assert job_pixels(server, done) == expected
    r = server.post("/v1/images/generations", json={
        "prompt": "a cat <lora:style:0.7>", "weighting": True, "steps": STEPS, "seed": 7,
        "output_format": "png"})
    assert pixels(decode(base64.b64decode(r.json()["data"][0]["b64_json"]))) == expected
    # Without weighting the tag is text: no LoRA, no error.
    done = job(server, prompt="a cat <lora:nope:0.7>", seed=7)
    assert "loras" not in done["parameters"]
    assert done["parameters"]["prompt"] == "a cat <lora:nope:0.7>"


# -- the directory and the listings ---------------------------------------------------

def test_listings(server, lora_dir):
    r = server.get("/sdapi/v1/loras")
    assert r.status_code == 200
    names = sorted(FILES)
    assert [l["name"] for l in r.json()] == names
    for entry in r.json():
        assert entry == {"name": entry["name"], "alias": entry["name"],
                         "path": entry["name"] + ".safetensors", "metadata": {}}
    assert lora_dir not in r.text  # never the server's path
    r = server.get("/v1/loras")
    assert r.status_code == 200
    data = r.json()["data"]
    assert [l["name"] for l in data] == names
    for entry in data:
        path = os.path.join(lora_dir, entry["name"] + ".safetensors")
        assert entry["size"] == os.path.getsize(path)
        # The truncated one too: its header is whole (A1111 hashes it alike).
        assert entry["hash"] == autov3(path)
        assert entry["shorthash"] == entry["hash"][:12]
    assert lora_dir not in r.text
    assert server.get("/v1/loras?hashes=maybe").status_code == 400


def test_refresh_picks_up_new_and_removed_files(make_server, tmp_path):
    loras = tmp_path / "loras"
    loras.mkdir()
    shutil.copy(os.path.join(FIXTURES, FILES["style"]), loras / "style.safetensors")
    (loras / "notes.txt").write_text("not a LoRA")
    (loras / "sub").mkdir()
    s = make_server(["--lora-dir", str(loras)], data=data_dir(tmp_path))
    assert [l["name"] for l in s.get("/sdapi/v1/loras").json()] == ["style"]
    assert predict(s, loras=[{"name": "fresh"}]).status_code == 400

    shutil.copy(os.path.join(FIXTURES, FILES["loha"]), loras / "fresh.safetensors")
    r = s.post("/sdapi/v1/refresh-loras")
    assert r.status_code == 200 and r.json() is None  # A1111 answers null
    assert [l["name"] for l in s.get("/sdapi/v1/loras").json()] == ["fresh", "style"]
    assert predict(s, seed=1, loras=[{"name": "fresh"}]).status_code == 200

    # SIGHUP reads it again too.
    os.remove(loras / "fresh.safetensors")
    s.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + TIMEOUT
    while [l["name"] for l in s.get("/v1/loras").json()["data"]] != ["style"]:
        assert time.monotonic() < deadline, "SIGHUP did not drop fresh"
        time.sleep(0.05)


def test_replaced_file_is_read_again(make_server, tmp_path):
    """The engine keeps the last set applied; a file replaced in place (same
    name, new contents) must not be served from it."""
    loras = tmp_path / "loras"
    loras.mkdir()
    target = loras / "x.safetensors"
    shutil.copy(os.path.join(FIXTURES, FILES["style"]), target)
    s = make_server(["--lora-dir", str(loras)], data=data_dir(tmp_path))
    first = predict(s, seed=1, loras=[{"name": "x"}])
    assert first.status_code == 200
    shutil.copy(os.path.join(FIXTURES, FILES["loha"]), loras / "y.safetensors")
    os.replace(loras / "y.safetensors", target)
    s.post("/sdapi/v1/refresh-loras")
    second = predict(s, seed=1, loras=[{"name": "x"}])
    assert second.status_code == 200
    assert pixels(decode(second.content)) != pixels(decode(first.content))
    loha = predict(s, seed=1, loras=[{"name": "x"}])
    assert pixels(decode(loha.content)) == pixels(decode(second.content))


def test_queued_job_runs_identically_after_a_restart(make_server, tmp_path, lora_dir,
                                                     tmp_path_factory):
    data = data_dir(tmp_path)
    s = make_server(["--lora-dir", lora_dir], data=data)
    blocker = s.submit(steps=1000)  # holds the worker: the next job stays queued
    queued = s.submit(steps=STEPS, seed=7, prompt="a cat <lora:style:0.8>", weighting=True)
    assert s.stop() == 0
    s = make_server(["--lora-dir", lora_dir], data=data)
    s.post("/v1/jobs/%s/cancel" % blocker["id"])
    done = s.wait_state(queued["id"], ["completed", "failed"])
    assert done["state"] == "completed", done
    assert job_pixels(s, done) == cli(lora_dir, tmp_path_factory, "--weighting", "--lora-dir",
                                      lora_dir, prompt="a cat <lora:style:0.8>")


def test_file_removed_after_submission_fails_the_job(make_server, tmp_path):
    loras = tmp_path / "loras"
    loras.mkdir()
    shutil.copy(os.path.join(FIXTURES, FILES["style"]), loras / "gone.safetensors")
    s = make_server(["--lora-dir", str(loras)], data=data_dir(tmp_path))
    blocker = s.submit(steps=1000)  # holds the worker while the file goes
    waiting = s.submit(steps=2, loras=[{"name": "gone"}])
    os.remove(loras / "gone.safetensors")
    s.post("/v1/jobs/%s/cancel" % blocker["id"])
    done = s.wait_state(waiting["id"], ["completed", "failed"])
    assert done["state"] == "failed", done
    assert done["error"]["type"] == "invalid_request_error"
    assert done["error"]["message"].startswith("loras: LoRA 'gone'"), done["error"]
    assert str(loras) not in done["error"]["message"]


# -- bad input --------------------------------------------------------------------------

def test_bad_loras_field(server):
    cases = [
        ({"loras": [{"name": "nope"}]}, "loras[0].name", ["unknown LoRA 'nope'", "style"]),
        ({"loras": [{"name": "../style"}]}, "loras[0].name", ["is a path"]),
        ({"loras": [{"name": "/etc/passwd"}]}, "loras[0].name", ["is a path"]),
        ({"loras": [{"name": ""}]}, "loras[0].name", ["required"]),
        ({"loras": [{"scale": 1}]}, "loras[0].name", ["required"]),
        ({"loras": [{"name": "style", "scale": 10.5}]}, "loras[0].scale", ["[-10, 10]"]),
        ({"loras": [{"name": "style", "unet_scale": -11}]}, "loras[0].unet_scale", ["[-10, 10]"]),
        ({"loras": [{"name": "style", "text_scale": "1"}]}, "loras[0].text_scale", ["[-10, 10]"]),
        ({"loras": [{"name": "style", "weight": 1}]}, "loras[0].weight", ["unknown field"]),
        ({"loras": {"name": "style"}}, "loras", ["expected an array"]),
        ({"loras": "style"}, "loras", ["expected an array"]),
        ({"loras": ["style"]}, "loras[0]", ["expected an object"]),
        ({"loras": [{"name": "style"}] * 17}, "loras", ["limit of 16"]),
        ({"loras": [{"name": "broken"}]}, "loras[0].name", ["LoRA 'broken'", "outside"]),
        ({"prompt": "a <lora:style:abc>", "weighting": True}, "prompt",
         ["<lora:style:abc>", "not a finite number"]),
        ({"prompt": "a <lora::1>", "weighting": True}, "prompt", ["name is empty"]),
        ({"prompt": "a <lora:nope:1>", "weighting": True}, "prompt", ["unknown LoRA 'nope'"]),
        ({"prompt": "a <lora:style:11>", "weighting": True}, "prompt", ["[-10, 10]"]),
        ({"prompt": "a <lora:a/b:1>", "weighting": True}, "prompt", ["is a path"]),
    ]
    for extra, param, words in cases:
        body = dict({"prompt": PROMPT, "steps": STEPS}, **extra)
        assert_error(server.post("/v1/jobs", json=body), 400, param, *words)
        assert_error(server.post("/predict", json=body), 400, param, *words)
    r = server.post("/v1/images/generations", json={"prompt": "a", "loras": [{"name": "nope"}]})
    assert_error(r, 400, "loras[0].name", "unknown LoRA")
    r = server.post("/v1/models/diffuse:predict", json={
        "instances": ["a"], "parameters": {"loras": [{"name": "nope"}]}})
    assert r.status_code == 400
    assert r.json()["error"]["field"] == "parameters.loras[0].name", r.text
    r = server.post("/v1/models/diffuse:predict", json={
        "instances": [{"prompt": "a", "loras": [{"name": "nope"}]}]})
    assert r.json()["error"]["field"] == "instances[0].loras[0].name", r.text


def test_bad_a1111_tags(server):
    for prompt, words in [("a <lora:nope:0.5>", ["unknown LoRA 'nope'"]),
                          ("a <lora:style:x>", ["<lora:style:x>", "not a finite number"]),
                          ("a <lora:style:1:1:8>", ["dyn"]),
                          ("a <lora:style:12>", ["[-10, 10]"]),
                          ("a <lora:../style:1>", ["is a path"]),
                          ("a <lora:broken:1>", ["LoRA 'broken'"])]:
        r = server.post("/sdapi/v1/txt2img", json={"prompt": prompt, "steps": STEPS})
        assert r.status_code == 422, r.text
        detail = r.json()["detail"][0]
        assert detail["loc"] == ["body", "prompt"], detail
        for word in words:
            assert word in detail["msg"], detail


def test_lora_of_another_family(server, lora_dir):
    """The engine's error: 400 on the synchronous routes, a failed job on
    the asynchronous one; named by the LoRA, never by its path."""
    xl = [{"name": "xl"}]
    error = assert_error(predict(server, loras=xl), 400, "loras", "xl", "another model")
    assert lora_dir not in error["message"]
    r = server.post("/v1/images/generations", json={"prompt": "a", "steps": STEPS, "loras": xl})
    assert_error(r, 400, "loras", "another model")
    r = server.post("/v1/models/diffuse:predict", json={
        "instances": ["a"], "parameters": {"steps": STEPS, "loras": xl}})
    assert r.status_code == 400 and r.json()["error"]["field"] == "loras", r.text
    r = server.post("/sdapi/v1/txt2img", json={"prompt": "a <lora:xl:1>", "steps": STEPS})
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"] == ["body", "prompt"]
    assert "another model" in r.json()["detail"][0]["msg"]
    submitted = server.submit(steps=STEPS, loras=xl)
    done = server.wait_state(submitted["id"], ["completed", "failed"])
    assert done["state"] == "failed"
    assert done["error"]["type"] == "invalid_request_error"
    assert done["error"]["message"].startswith("loras: lora xl"), done["error"]
    assert lora_dir not in done["error"]["message"]
    # The model is back to its base weights afterwards.
    assert predict(server, seed=7).status_code == 200


def test_no_lora_dir(make_server, tmp_path):
    s = make_server(data=tmp_path)
    assert_error(predict(s, loras=[{"name": "style"}]), 400, "loras[0].name",
                 "offers no LoRAs", "--lora-dir")
    assert_error(predict(s, prompt="a <lora:style:1>", weighting=True), 400, "prompt",
                 "offers no LoRAs")
    assert predict(s, loras=[], steps=2).status_code == 200
    assert s.get("/sdapi/v1/loras").json() == []
    assert s.get("/v1/loras").json() == {"object": "list", "data": []}
    assert s.post("/sdapi/v1/refresh-loras").status_code == 200


def test_lora_dir_must_exist(tmp_path):
    proc = subprocess.run([BINARY, "serve", "-m", MODEL, "--listen", "127.0.0.1:0", "--data",
                           str(tmp_path / "data"), "--lora-dir", str(tmp_path / "none")],
                          capture_output=True, timeout=TIMEOUT)
    assert proc.returncode == 1
    assert b"--lora-dir" in proc.stderr


# -- textual inversion (--embeddings-dir) ----------------------------------------

def test_embeddings_dir_serves_embeddings_as_the_cli(tmp_path, tmp_path_factory):
    """Every model opened gets the directory's embeddings: a prompt naming one
    gives `diffuse generate --embedding`'s image in the native API and in
    A1111's; the directory's SDXL embedding does not fit the SD 1.x model
    and is skipped with a log line, not a failure."""
    d = tmp_path / "embeddings"
    d.mkdir()
    for name in ("sd1style.safetensors", "sdxlstyle.safetensors"):
        shutil.copy(os.path.join(FIXTURES, name), d / name)
    (tmp_path / "data").mkdir()
    s = Server(str(tmp_path / "data"), ["--embeddings-dir", str(d)]).start()
    try:
        prompt = "a photograph of sd1style riding a horse"
        expected = cli(str(d), tmp_path_factory, "--embedding", "@sd1style.safetensors",
                       prompt=prompt)
        plain = cli(str(d), tmp_path_factory, prompt=prompt)
        assert expected != plain
        assert job_pixels(s, job(s, prompt=prompt, seed=7)) == expected
        r = s.post("/sdapi/v1/txt2img", json={"prompt": prompt, "steps": STEPS, "seed": 7,
                                              "sampler_name": "Euler", "cfg_scale": 7.5})
        assert r.status_code == 200, r.text
        assert decode(base64.b64decode(r.json()["images"][0])).size
    finally:
        assert s.stop() == 0
    log = open(os.path.join(s.data, "server.log"), errors="replace").read()
    assert "embedding skipped" in log and "sdxlstyle" in log
