"""API keys, rate limits, usage and ownership (issue 6, items 1-2), with the
real clients where a family has one. Keys are made with the CLI, as an
operator would, and reach the running server by SIGHUP."""
import base64
import json
import os
import signal
import subprocess
import threading
import time

import pytest
import requests

from conftest import BINARY, MODEL, TIMEOUT, Server


def create_key(data, name, *args):
    out = subprocess.run([BINARY, "keys", "create", "--name", name, "--data", str(data)]
                         + list(args), capture_output=True, text=True, check=True)
    return out.stdout.strip().splitlines()[-1]


def hup(server):
    before = open(os.path.join(server.data, "server.log"), "rb").read().count(b"SIGHUP: ")
    server.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + TIMEOUT
    while open(os.path.join(server.data, "server.log"), "rb").read().count(b"SIGHUP: ") == before:
        assert time.monotonic() < deadline, "SIGHUP not acknowledged"
        time.sleep(0.05)


def bearer(key):
    return {"Authorization": "Bearer " + key}


@pytest.fixture
def keyed(make_server, tmp_path):
    """A server with two ordinary keys (one rate-limited) and an admin key."""
    keys = {"alice": create_key(tmp_path, "alice"),
            "bob": create_key(tmp_path, "bob", "--rate", "5/min", "--daily-images", "3"),
            "root": create_key(tmp_path, "root", "--admin")}
    return make_server(["--taesd", os.path.join(os.path.dirname(MODEL), "tiny-taesd")]), keys


def test_every_route_but_health_needs_a_key(keyed):
    s, keys = keyed
    assert s.get("/healthz").status_code == 200
    assert s.get("/readyz").status_code == 200
    for path in ("/v1/jobs", "/v1/models", "/v1/usage", "/openapi.json",
                 "/sdapi/v1/samplers", "/metrics"):
        r = s.get(path)
        assert r.status_code == 401, path
        assert r.headers["Content-Type"] == "application/json"
    # Each family's error shape, and the scheme to use.
    r = s.post("/v1/jobs", json={"prompt": "x"})
    assert r.json()["error"]["code"] == "missing_api_key"
    assert r.headers["WWW-Authenticate"].startswith("Bearer")
    r = s.post("/v1/images/generations", json={"prompt": "x"})
    assert set(r.json()["error"]) >= {"message", "type", "param", "code"}
    r = s.post("/sdapi/v1/txt2img", json={"prompt": "x"})
    assert r.headers["WWW-Authenticate"].startswith("Basic") and "detail" in r.json()
    r = s.post("/v1/models/tiny-sd1:predict", json={"instances": [{"prompt": "x"}]})
    assert r.status_code == 401 and set(r.json()["error"]) >= {"code", "message", "status"}
    # Wrong, malformed and empty keys.
    for header in ("Bearer nope", "Bearer " + keys["alice"][:-1] + "x", "Bearer ", "Basic !!",
                   "Token " + keys["alice"]):
        r = s.get("/v1/jobs", headers={"Authorization": header})
        assert r.status_code == 401, header
    assert s.get("/v1/jobs", headers=bearer(keys["alice"])).status_code == 200


def test_web_page_and_signed_urls_are_public(keyed):
    s, keys = keyed
    assert s.get("/").status_code == 200
    r = s.post("/v1/images/generations", headers=bearer(keys["alice"]), json={
        "prompt": "x", "size": "64x64", "response_format": "url", "steps": 2})
    assert r.status_code == 200, r.text
    url = r.json()["data"][0]["url"]
    assert requests.get(url, timeout=TIMEOUT).status_code == 200  # no key: the URL is signed


def test_a1111_client_with_basic_auth(keyed):
    webuiapi = pytest.importorskip("webuiapi")
    s, keys = keyed
    host, port = s.url.split("//")[1].split(":")
    api = webuiapi.WebUIApi(host=host, port=int(port))
    api.set_auth("anyone", keys["alice"])
    result = api.txt2img(prompt="a cat", seed=1, steps=2, width=64, height=64)
    assert result.image.size == (64, 64)


def test_openai_client_with_key(keyed):
    openai = pytest.importorskip("openai")
    s, keys = keyed
    client = openai.OpenAI(base_url=s.url + "/v1", api_key=keys["alice"], max_retries=0)
    result = client.images.generate(prompt="a cat", size="16x16", extra_body={"steps": 1})
    assert result.data[0].b64_json
    bad = openai.OpenAI(base_url=s.url + "/v1", api_key="sk-wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        bad.images.generate(prompt="a cat")


def test_revoked_and_new_keys_apply_on_sighup(keyed, tmp_path):
    s, keys = keyed
    assert s.get("/v1/jobs", headers=bearer(keys["alice"])).status_code == 200
    subprocess.run([BINARY, "keys", "revoke", "alice", "--data", str(tmp_path)], check=True,
                   capture_output=True)
    carol = create_key(tmp_path, "carol")
    hup(s)
    r = s.get("/v1/jobs", headers=bearer(keys["alice"]))
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_api_key"
    assert s.get("/v1/jobs", headers=bearer(carol)).status_code == 200


def test_request_rate_limit(keyed):
    s, keys = keyed
    statuses = []
    for _ in range(7):
        r = s.get("/v1/jobs", headers=bearer(keys["bob"]))
        statuses.append(r.status_code)
        if r.status_code == 200:
            assert r.headers["x-ratelimit-limit-requests"] == "5"
            assert int(r.headers["x-ratelimit-remaining-requests"]) == 5 - statuses.count(200)
            assert r.headers["x-ratelimit-reset-requests"].endswith("s")
    assert statuses == [200] * 5 + [429] * 2
    assert r.json()["error"]["code"] == "rate_limit_exceeded"
    assert 1 <= int(r.headers["Retry-After"]) <= 12  # one token per 12 s
    # Another key is not affected.
    assert s.get("/v1/jobs", headers=bearer(keys["alice"])).status_code == 200


def test_daily_image_limit(keyed):
    s, keys = keyed
    h = bearer(keys["bob"])
    r = s.post("/v1/jobs", headers=h, json={"prompt": "x", "n": 4, "steps": 1})
    assert r.status_code == 400 and r.json()["error"]["code"] == "over_daily_limit"
    r = s.post("/v1/jobs", headers=h, json={"prompt": "x", "n": 2, "steps": 1})
    assert r.status_code == 202
    assert r.headers["x-ratelimit-limit-images"] == "3"
    r = s.post("/v1/jobs", headers=h, json={"prompt": "x", "n": 2, "steps": 1})
    assert r.status_code == 429 and r.json()["error"]["type"] == "rate_limit_error"
    assert int(r.headers["Retry-After"]) > 3600  # a day's budget refills slowly


def test_keys_see_only_their_own_jobs(keyed):
    s, keys = keyed
    job = s.post("/v1/jobs", headers=bearer(keys["alice"]),
                 json={"prompt": "mine", "steps": 1}).json()
    for path in ("/v1/jobs/%s" % job["id"], "/v1/jobs/%s/images/0" % job["id"],
                 "/v1/jobs/%s/events" % job["id"]):
        assert s.get(path, headers=bearer(keys["bob"])).status_code == 404, path
    assert s.post("/v1/jobs/%s/cancel" % job["id"],
                  headers=bearer(keys["bob"])).status_code == 404
    assert s.get("/v1/jobs", headers=bearer(keys["bob"])).json()["data"] == []
    ids = [j["id"] for j in s.get("/v1/jobs", headers=bearer(keys["alice"])).json()["data"]]
    assert ids == [job["id"]]
    ids = [j["id"] for j in s.get("/v1/jobs", headers=bearer(keys["root"])).json()["data"]]
    assert job["id"] in ids
    assert s.get("/v1/jobs/%s" % job["id"], headers=bearer(keys["root"])).status_code == 200


def test_usage_per_key_and_admin(keyed, tmp_path):
    s, keys = keyed
    h = bearer(keys["alice"])
    job = s.post("/v1/jobs", headers=h, json={"prompt": "x", "n": 2, "steps": 3, "width": 64,
                                               "height": 64}).json()
    deadline = time.monotonic() + TIMEOUT
    while s.get("/v1/jobs/" + job["id"], headers=h).json()["state"] != "completed":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    usage = s.get("/v1/usage", headers=h).json()["keys"]
    assert [u["name"] for u in usage] == ["alice"]
    total = usage[0]["total"]
    assert total["images"] == 2 and total["pixel_steps"] == 64 * 64 * 3 * 2
    assert total["requests"] >= 3 and total["compute_seconds"] > 0
    assert usage[0]["days"][0]["images"] == 2
    # Another key's usage: admins only.
    bob_id = s.get("/v1/usage", headers=bearer(keys["bob"])).json()["keys"][0]["key_id"]
    assert s.get("/v1/usage", params={"key": bob_id}, headers=h).status_code == 403
    everyone = s.get("/v1/usage", headers=bearer(keys["root"])).json()["keys"]
    assert {"alice", "bob", "root"} <= {u["name"] for u in everyone}
    one = s.get("/v1/usage", params={"key": bob_id}, headers=bearer(keys["root"])).json()
    assert [u["name"] for u in one["keys"]] == ["bob"]
    # The CLI reads the same numbers (after the server flushes them: SIGTERM).
    assert s.stop() == 0
    out = subprocess.run([BINARY, "usage", "--data", str(tmp_path), "--json"],
                         capture_output=True, text=True, check=True).stdout
    alice = [u for u in json.loads(out)["keys"] if u["name"] == "alice"][0]
    assert alice["total"]["images"] == 2


def test_metrics_admin_only(keyed):
    s, keys = keyed
    assert s.get("/metrics", headers=bearer(keys["alice"])).status_code == 403
    r = s.get("/metrics", headers=bearer(keys["root"]))
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/plain")
    assert "diffuse_auth_failures_total" in r.text


def test_refuses_open_network_listen(tmp_path):
    """No keys and a non-loopback address: refused unless --no-auth."""
    cmd = [BINARY, "serve", "-m", MODEL, "--listen", "0.0.0.0:0", "--data", str(tmp_path)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT)
    assert r.returncode == 1 and "--no-auth" in r.stderr and "diffuse keys create" in r.stderr
    proc = subprocess.Popen(cmd + ["--no-auth"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert b"listening on" in proc.stdout.readline()
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=TIMEOUT) == 0
    # With a key it starts without --no-auth.
    create_key(tmp_path, "k")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert b"listening on" in proc.stdout.readline()
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=TIMEOUT) == 0


def test_basic_auth_password_only(keyed):
    s, keys = keyed
    token = base64.b64encode(b"user:" + keys["alice"].encode()).decode()
    assert s.get("/sdapi/v1/samplers",
                 headers={"Authorization": "Basic " + token}).status_code == 200
    token = base64.b64encode(keys["alice"].encode() + b":").decode()  # key as the user name
    assert s.get("/sdapi/v1/samplers",
                 headers={"Authorization": "Basic " + token}).status_code == 401


# -- issue 10: A1111 ownership, per-key options, public health, rate-limit headers --------

def long_steps(steps_per_second):
    """Steps for a job that runs several seconds here (1000: the test servers' cap)."""
    return max(200, min(1000, int(6 * steps_per_second)))


def test_a1111_progress_and_interrupt_are_per_key(keyed, tmp_path, steps_per_second):
    s, keys = keyed
    keys["carol"] = create_key(tmp_path, "carol")  # no rate limit: many polls below
    hup(s)
    alice, carol, root = (bearer(keys[k]) for k in ("alice", "carol", "root"))
    result = {}

    def run():
        result["r"] = requests.post(s.url + "/sdapi/v1/txt2img", headers=alice,
                                    timeout=TIMEOUT * 2, json={
                                        "prompt": "mine", "steps": long_steps(steps_per_second),
                                        "force_task_id": "task(alice)"})

    thread = threading.Thread(target=run)
    thread.start()
    try:
        deadline = time.monotonic() + TIMEOUT
        while True:  # running, with a preview (every 10 steps)
            mine = s.get("/sdapi/v1/progress", headers=alice).json()
            if mine["current_image"]:
                break
            assert time.monotonic() < deadline, mine
            time.sleep(0.05)
        job_id = mine["state"]["job"]
        assert job_id and mine["state"]["job_count"] == 1
        # Another key sees no job, no preview, by any name.
        for params in ({}, {"id_task": "task(alice)"}, {"id_task": job_id}):
            theirs = s.get("/sdapi/v1/progress", headers=carol, params=params).json()
            assert theirs["state"]["job"] == "" and theirs["state"]["job_count"] == 0, params
            assert theirs["current_image"] is None and theirs["progress"] == 0, params
            assert theirs["textinfo"] is None, params
        # ... and cannot stop it.
        for route in ("/sdapi/v1/skip", "/sdapi/v1/interrupt"):
            assert s.post(route, headers=carol).status_code == 200
        mine = s.get("/sdapi/v1/progress", headers=alice,
                     params={"id_task": "task(alice)"}).json()
        assert mine["state"]["job"] == job_id and mine["state"]["interrupted"] is False
        # A force_task_id another key reuses does not hide alice's task from her.
        other = threading.Thread(target=lambda: requests.post(
            s.url + "/sdapi/v1/txt2img", headers=carol, timeout=TIMEOUT * 2,
            json={"prompt": "theirs", "steps": 1, "force_task_id": "task(alice)"}))
        other.start()
        while not s.get("/sdapi/v1/progress", headers=carol).json()["state"]["job_count"]:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        theirs = s.get("/sdapi/v1/progress", headers=carol,
                       params={"id_task": "task(alice)"}).json()
        assert theirs["state"]["job"] not in ("", job_id)
        mine = s.get("/sdapi/v1/progress", headers=alice,
                     params={"id_task": "task(alice)"}).json()
        assert mine["state"]["job"] == job_id
        # An admin key sees every job and may stop it.
        assert s.get("/sdapi/v1/progress", headers=root).json()["state"]["job"] == job_id
        assert s.post("/sdapi/v1/interrupt", headers=root).status_code == 200
    finally:
        thread.join(TIMEOUT * 2)
        if "other" in locals():
            other.join(TIMEOUT * 2)
    r = result["r"]
    assert r.status_code == 200, r.text
    assert json.loads(r.json()["info"])["interrupted"] is True
    # Finished, the job's state is still not another key's to read (carol's
    # own "task(alice)" is her job, which completed).
    for params in ({"id_task": "task(alice)"}, {"id_task": job_id}):
        done = s.get("/sdapi/v1/progress", headers=alice, params=params).json()
        assert done["state"]["interrupted"] is True and done["textinfo"] == "cancelled"
    theirs = s.get("/sdapi/v1/progress", headers=carol, params={"id_task": job_id}).json()
    assert theirs["state"]["interrupted"] is False and theirs["textinfo"] is None
    theirs = s.get("/sdapi/v1/progress", headers=carol, params={"id_task": "task(alice)"}).json()
    assert theirs["textinfo"] == "completed"


def test_a1111_interrupt_stops_the_callers_own_job(keyed, tmp_path, steps_per_second):
    s, keys = keyed
    keys["carol"] = create_key(tmp_path, "carol")
    hup(s)
    alice, carol = bearer(keys["alice"]), bearer(keys["carol"])
    result = {}

    def run(who, headers):
        result[who] = requests.post(s.url + "/sdapi/v1/txt2img", headers=headers,
                                    timeout=TIMEOUT * 2, json={
                                        "prompt": who, "steps": long_steps(steps_per_second)})

    first = threading.Thread(target=run, args=("alice", alice))
    first.start()
    deadline = time.monotonic() + TIMEOUT
    while s.get("/sdapi/v1/progress", headers=alice).json()["state"]["sampling_step"] == 0:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    second = threading.Thread(target=run, args=("carol", carol))
    second.start()
    try:
        while True:  # carol's job, queued behind alice's, is the one carol's progress shows
            theirs = s.get("/sdapi/v1/progress", headers=carol).json()
            if theirs["state"]["job_count"]:
                break
            assert time.monotonic() < deadline
            time.sleep(0.02)
        assert theirs["textinfo"].startswith("In queue")
        assert s.post("/sdapi/v1/interrupt", headers=carol).status_code == 200
        second.join(TIMEOUT * 2)
        assert json.loads(result["carol"].json()["info"])["interrupted"] is True
        mine = s.get("/sdapi/v1/progress", headers=alice).json()
        assert mine["state"]["job_count"] == 1 and mine["state"]["interrupted"] is False
        assert s.post("/sdapi/v1/interrupt", headers=alice).status_code == 200
    finally:
        first.join(TIMEOUT * 2)
        second.join(TIMEOUT * 2)
    assert json.loads(result["alice"].json()["info"])["interrupted"] is True


def test_a1111_options_are_per_key(keyed, tmp_path):
    s, keys = keyed
    keys["carol"] = create_key(tmp_path, "carol")
    hup(s)
    alice, carol = bearer(keys["alice"]), bearer(keys["carol"])
    r = s.post("/sdapi/v1/options", headers=alice, json={"CLIP_stop_at_last_layers": 2,
                                                         "randn_source": "nv", "my_ui": 1})
    assert r.status_code == 200, r.text
    mine = s.get("/sdapi/v1/options", headers=alice).json()
    assert mine["CLIP_stop_at_last_layers"] == 2 and mine["randn_source"] == "NV"
    assert mine["my_ui"] == 1
    theirs = s.get("/sdapi/v1/options", headers=carol).json()
    assert theirs["CLIP_stop_at_last_layers"] == 1 and theirs["randn_source"] == "CPU"
    assert "my_ui" not in theirs

    def clip_skip(headers):
        r = s.post("/sdapi/v1/txt2img", headers=headers, json={"prompt": "x", "steps": 1})
        assert r.status_code == 200, r.text
        return "Clip skip: 2" in json.loads(r.json()["info"])["infotexts"][0]

    assert clip_skip(alice) and not clip_skip(carol)


def test_a1111_model_option_per_key_admin_sets_the_default(make_server, tmp_path):
    models = tmp_path / "models"
    models.mkdir()
    os.symlink(MODEL, models / "alpha")
    os.symlink(MODEL, models / "beta")
    keys = {name: create_key(tmp_path, name, *args)
            for name, args in (("alice", ()), ("carol", ()), ("root", ("--admin",)))}
    s = make_server(["--models-dir", str(models)])
    alice, carol, root = (bearer(keys[k]) for k in ("alice", "carol", "root"))

    def model_of(headers):
        r = s.post("/sdapi/v1/txt2img", headers=headers, json={"prompt": "x", "steps": 1})
        assert r.status_code == 200, r.text
        return json.loads(r.json()["info"])["infotexts"][0].split("Model: ")[1].split(",")[0]

    default = s.get("/sdapi/v1/options", headers=carol).json()["sd_model_checkpoint"]
    assert default != "beta" and model_of(alice) == model_of(carol) == default
    r = s.post("/sdapi/v1/options", headers=alice, json={"sd_model_checkpoint": "beta"})
    assert r.status_code == 200, r.text
    assert s.get("/sdapi/v1/options", headers=alice).json()["sd_model_checkpoint"] == "beta"
    assert model_of(alice) == "beta"
    # Not the server's default: other keys and the other routes keep theirs.
    assert s.get("/sdapi/v1/options", headers=carol).json()["sd_model_checkpoint"] == default
    assert model_of(carol) == default
    job = s.post("/v1/jobs", headers=carol, json={"prompt": "x", "steps": 1}).json()
    assert job["parameters"]["model"] == default
    # An admin key changes the server's default.
    assert s.post("/sdapi/v1/options", headers=root,
                  json={"sd_model_checkpoint": "beta"}).status_code == 200
    assert model_of(carol) == "beta"


def test_a1111_options_are_bounded(keyed, tmp_path):
    s, keys = keyed
    alice = bearer(keys["alice"])
    r = s.post("/sdapi/v1/options", headers=alice, json={"huge": "x" * (4 << 20)})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "huge"]
    statuses = [s.post("/sdapi/v1/options", headers=alice,
                       json={"k%d" % i: "y" * 8192}).status_code for i in range(40)]
    assert statuses[0] == 200 and statuses[-1] == 422
    assert len(s.get("/sdapi/v1/options", headers=alice).content) < 128 * 1024
    # Replacing a stored value takes no more room.
    assert s.post("/sdapi/v1/options", headers=alice, json={"k0": "z"}).status_code == 200


def test_health_routes_need_no_key(keyed):
    s, keys = keyed
    r = s.get("/readyz")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "ready"
    assert "model" not in body  # the model's name is for key holders
    assert s.get("/healthz").json() == {"status": "ok"}
    assert s.get("/readyz", headers=bearer(keys["alice"])).status_code == 200


def test_rate_limit_headers_count_the_images_just_taken(keyed):
    s, keys = keyed
    h = bearer(keys["bob"])  # 5 requests a minute, 3 images a day
    r = s.post("/v1/jobs", headers=h, json={"prompt": "x", "n": 2, "steps": 1})
    assert r.status_code == 202
    assert r.headers["x-ratelimit-limit-images"] == "3"
    assert r.headers["x-ratelimit-remaining-images"] == "1"


def test_image_refusals_spend_no_request_token(keyed):
    s, keys = keyed
    h = bearer(keys["bob"])
    r = s.post("/v1/jobs", headers=h, json={"prompt": "x", "n": 4, "steps": 1})
    assert r.status_code == 400 and r.json()["error"]["code"] == "over_daily_limit"
    assert r.headers["x-ratelimit-remaining-requests"] == "5"
    accepted = s.post("/v1/jobs", headers=h, json={"prompt": "x", "n": 2, "steps": 1})
    assert accepted.status_code == 202
    spent = int(accepted.headers["x-ratelimit-remaining-requests"])
    assert spent == 4
    refused = s.post("/v1/jobs", headers=h, json={"prompt": "x", "n": 2, "steps": 1})
    assert refused.status_code == 429
    error = refused.json()["error"]
    assert error["type"] == "rate_limit_error" and error["code"] == "rate_limit_exceeded"
    assert "images" in error["message"]
    # A token may have come back meanwhile (one per 12 s), never gone.
    assert int(refused.headers["x-ratelimit-remaining-requests"]) >= spent
    assert refused.headers["x-ratelimit-remaining-images"] == "1"


def revoke(data, name):
    return subprocess.run([BINARY, "keys", "revoke", name, "--data", str(data)],
                          capture_output=True, text=True, check=True)


def test_revoking_every_key_keeps_the_server_keyed(keyed, tmp_path):
    """Issue 10 item 2: once a data directory has had keys, revoking them all
    must not open the server: no key then means 401, not "no auth"."""
    s, keys = keyed
    job = s.post("/v1/jobs", headers=bearer(keys["alice"]),
                 json={"prompt": "alice's secret prompt", "steps": 1, "width": 64,
                       "height": 64}).json()
    for name in ("alice", "bob", "root"):
        revoke(tmp_path, name)
    hup(s)
    for path in ("/v1/jobs", "/v1/jobs/" + job["id"], "/v1/usage", "/metrics",
                 "/sdapi/v1/samplers", "/v1/models"):
        r = s.get(path)
        assert r.status_code == 401, (path, r.text)
        assert "alice's secret prompt" not in r.text
    assert s.get("/v1/jobs", headers=bearer(keys["root"])).status_code == 401
    assert s.post("/v1/jobs", json={"prompt": "x"}).status_code == 401
    assert s.get("/healthz").status_code == 200
    # A restart does not open it either.
    assert s.stop() == 0
    s2 = Server(str(tmp_path)).start()
    try:
        assert s2.get("/v1/jobs").status_code == 401
        assert s2.get("/metrics").status_code == 401
    finally:
        assert s2.stop() == 0
    text = open(os.path.join(str(tmp_path), "server.log"), "rb").read().decode("utf-8", "replace")
    assert "no key is active" in text


def test_no_auth_or_disable_auth_is_the_way_back(make_server, tmp_path):
    """After the last key is revoked, --no-auth (for one run) or `diffuse keys
    disable-auth` (for the directory) serves without keys again."""
    create_key(tmp_path, "only")
    revoke(tmp_path, "only")
    s = make_server(["--no-auth"])
    assert s.get("/v1/jobs").status_code == 200
    assert s.stop() == 0
    s = make_server()
    assert s.get("/v1/jobs").status_code == 401
    out = subprocess.run([BINARY, "keys", "disable-auth", "--data", str(tmp_path)],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    hup(s)
    assert s.get("/v1/jobs").status_code == 200
    # A new key turns keyed mode back on.
    key = create_key(tmp_path, "again")
    hup(s)
    assert s.get("/v1/jobs").status_code == 401
    assert s.get("/v1/jobs", headers=bearer(key)).status_code == 200
    # disable-auth refuses while a key is active.
    out = subprocess.run([BINARY, "keys", "disable-auth", "--data", str(tmp_path)],
                         capture_output=True, text=True)
    assert out.returncode == 1 and "active" in out.stderr


def test_usage_days_range_is_the_clis(keyed):
    """GET /v1/usage?days= takes what `diffuse usage --days` takes (keys.h)."""
    s, keys = keyed
    root = bearer(keys["root"])
    assert s.get("/v1/usage", headers=root, params={"days": 36500}).status_code == 200
    r = s.get("/v1/usage", headers=root, params={"days": 36501})
    assert r.status_code == 400 and "[1, 36500]" in r.json()["error"]["message"]
