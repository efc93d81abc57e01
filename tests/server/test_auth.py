"""API keys, rate limits, usage and ownership (issue 6, items 1-2), with the
real clients where a family has one. Keys are made with the CLI, as an
operator would, and reach the running server by SIGHUP."""
import base64
import os
import signal
import subprocess
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


def test_every_route_but_healthz_needs_a_key(keyed):
    s, keys = keyed
    assert s.get("/healthz").status_code == 200
    for path in ("/readyz", "/v1/jobs", "/v1/models", "/v1/usage", "/openapi.json",
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
    result = client.images.generate(prompt="a cat", size="256x256", extra_body={"steps": 1})
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
    assert r.status_code == 429 and r.json()["error"]["type"] == "images"
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
    import json
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
