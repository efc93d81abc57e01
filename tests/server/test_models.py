"""Several models (--models-dir, --max-loaded): "model" per request, LRU
unloading, and the model name kept with a job across a restart."""
import os

from conftest import MODEL, ROOT

SD2 = os.path.join(ROOT, "tests", "fixtures", "tiny-sd2.safetensors")


def make_dir(tmp_path):
    d = tmp_path / "models"
    d.mkdir()
    os.symlink(MODEL, d / "alpha")
    os.symlink(SD2, d / "beta.safetensors")
    (d / "notes.txt").write_text("not a model")
    return str(d)


def model_of(job):
    return job["infotexts"][0].split("Model: ")[1].split(",")[0]


def test_model_per_request_and_lru(make_server, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    s = make_server(["--models-dir", make_dir(tmp_path), "--max-loaded", "1"], data=data)
    assert s.get("/readyz").json()["model"] == "tiny-sd1"  # -m is the default
    # Alternating models with room for one: each job loads (LRU unload).
    jobs = [s.submit(steps=2, model=m, seed=3)
            for m in ["alpha", "beta.safetensors", "alpha", "beta", "tiny-sd1"]]
    assert [j["parameters"]["model"] for j in jobs] == [
        "alpha", "beta.safetensors", "alpha", "beta.safetensors", "tiny-sd1"]
    done = [s.wait_state(j["id"], ["completed"]) for j in jobs]
    assert [model_of(j) for j in done] == ["alpha", "beta", "alpha", "beta", "tiny-sd1"]
    assert done[0]["width"] == 16 and done[1]["width"] == 24  # each model's default size
    # Same model, same seed: same image, whether loaded fresh or not.
    a = s.get(done[0]["images"][0]["url"]).content
    b = s.get(done[2]["images"][0]["url"]).content
    assert a == b
    with open(os.path.join(str(data), "server.log")) as f:
        log = f.read()
    assert log.count("unloading model") >= 4
    # Without "model": the default, recorded.
    assert s.submit(steps=2)["parameters"]["model"] == "tiny-sd1"


def test_loading_state_in_events(make_server, tmp_path):
    s = make_server(["--models-dir", make_dir(tmp_path)])
    job = s.submit(steps=2, model="beta")
    r = s.get("/v1/jobs/%s/events" % job["id"], stream=True)
    names = [line[7:] for line in r.iter_lines(decode_unicode=True)
             if line and line.startswith("event: ")]
    assert names[:3] == ["queued", "loading", "started"] and names[-1] == "completed"


def test_unknown_model(make_server, tmp_path):
    s = make_server(["--models-dir", make_dir(tmp_path)])
    r = s.post("/v1/jobs", json={"prompt": "x", "model": "gamma"})
    assert r.status_code == 400
    error = r.json()["error"]
    assert error["param"] == "model"
    assert "gamma" in error["message"] and "alpha" in error["message"]
    assert "beta.safetensors" in error["message"] and "notes" not in error["message"]
    r = s.post("/v1/jobs", json={"prompt": "x", "model": 3})
    assert r.status_code == 400 and r.json()["error"]["param"] == "model"


def test_one_model_refuses_model_field(server):
    r = server.post("/v1/jobs", json={"prompt": "x", "model": "other"})
    assert r.status_code == 400 and r.json()["error"]["param"] == "model"
    # Its own name is fine.
    assert server.submit(steps=1, model="tiny-sd1")["parameters"]["model"] == "tiny-sd1"


def test_restart_keeps_the_model(make_server, tmp_path, steps_per_second):
    models = make_dir(tmp_path)
    data = tmp_path / "data"
    data.mkdir()
    args = ["--models-dir", models, "--max-loaded", "1"]
    s = make_server(args, data=data)
    blocker = s.submit(steps=max(20, min(1000, int(2 * steps_per_second))), model="alpha")
    queued = s.submit(steps=2, model="beta", seed=9)
    s.wait_state(blocker["id"], ["running"])
    s.kill9()
    again = make_server(args, data=data)
    done = again.wait_state(queued["id"], ["completed"])
    assert done["parameters"]["model"] == "beta.safetensors" and model_of(done) == "beta"
    assert model_of(again.wait_state(blocker["id"], ["completed"])) == "alpha"
