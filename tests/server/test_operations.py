"""Operating the server (issue 6, items 3-5): limits, slow clients, CORS,
request ids and the access log, metrics, SIGHUP for --models-dir, and the
start-up consistency check of the data directory."""
import json
import os
import shutil
import signal
import socket
import sqlite3
import time

import requests

from conftest import MODEL, TIMEOUT


def test_configurable_limits(make_server):
    s = make_server(["--max-steps", "4", "--max-side", "128", "--max-batch", "2",
                     "--max-prompt-bytes", "50", "--max-body-bytes", "2048"])
    cases = [({"prompt": "x", "steps": 5}, "steps"), ({"prompt": "x", "width": 192}, "width"),
             ({"prompt": "x", "n": 3}, "n"), ({"prompt": "x" * 51}, "prompt")]
    for body, param in cases:
        r = s.post("/v1/jobs", json=body)
        assert r.status_code == 400 and r.json()["error"]["param"] == param, (body, r.text)
    r = s.post("/v1/jobs", json={"prompt": "x", "negative_prompt": "y" * 3000})
    assert r.status_code == 413 and "2048" in r.json()["error"]["message"]
    assert s.post("/v1/jobs", json={"prompt": "x", "steps": 4, "width": 128}).status_code == 202
    # The other families apply the same limits in their own shapes.
    r = s.post("/sdapi/v1/txt2img", json={"prompt": "x", "steps": 5})
    assert r.status_code == 422
    r = s.post("/v1/images/generations", json={"prompt": "x", "n": 3})
    assert r.status_code == 400 and r.json()["error"]["param"] == "n"


def slow_client(url, parts, pause):
    """Sends `parts` with `pause` seconds between them; returns the seconds
    until the server closed the connection (or None if it never did)."""
    host, port = url.split("//")[1].split(":")
    sock = socket.create_connection((host, int(port)), timeout=TIMEOUT)
    start = time.monotonic()
    try:
        for part in parts:
            sock.sendall(part)
            time.sleep(pause)
        sock.settimeout(TIMEOUT)
        while sock.recv(4096):
            pass
        return time.monotonic() - start
    except (BrokenPipeError, ConnectionResetError):
        return time.monotonic() - start
    finally:
        sock.close()


def test_slow_clients_cannot_hold_a_connection(make_server):
    s = make_server(["--header-timeout", "2", "--body-timeout", "2", "--idle-timeout", "3"])
    # Headers trickled a byte at a time: each byte resets an idle timer, not
    # this deadline.
    header = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 40
    took = slow_client(s.url, [header[i:i + 1] for i in range(len(header))], 0.25)
    assert took is not None and took < 6, took
    # A body trickled the same way.
    head = (b"POST /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 100\r\n\r\n")
    took = slow_client(s.url, [head] + [b" "] * 40, 0.25)
    assert took is not None and took < 6, took
    # A silent connection is closed after the header timeout too.
    took = slow_client(s.url, [], 0)
    assert took is not None and took < 6, took
    assert s.get("/healthz").status_code == 200  # and the server is fine


def test_cors(make_server):
    s = make_server()
    r = s.get("/healthz", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in r.headers
    r = requests.options(s.url + "/v1/jobs", timeout=TIMEOUT, headers={
        "Origin": "https://app.example", "Access-Control-Request-Method": "POST"})
    assert r.status_code == 405  # off by default: no preflight answered
    os.mkdir(os.path.join(s.data, "second"))
    s2 = make_server(["--cors-origin", "https://app.example, https://b.example"],
                     data=os.path.join(s.data, "second"))
    r = requests.options(s2.url + "/v1/jobs", timeout=TIMEOUT, headers={
        "Origin": "https://b.example", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type"})
    assert r.status_code == 204
    assert r.headers["Access-Control-Allow-Origin"] == "https://b.example"
    assert "Authorization" in r.headers["Access-Control-Allow-Headers"]
    r = s2.get("/v1/jobs", headers={"Origin": "https://app.example"})
    assert r.headers["Access-Control-Allow-Origin"] == "https://app.example"
    assert "x-request-id" in r.headers["Access-Control-Expose-Headers"]
    assert r.headers["Vary"] == "Origin"
    r = s2.get("/v1/jobs", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in r.headers


def test_request_ids_and_access_log(make_server, tmp_path):
    log = tmp_path / "access.log"
    (tmp_path / "data").mkdir()
    s = make_server(["--access-log", str(log)], data=tmp_path / "data")
    r = s.get("/healthz", headers={"x-request-id": "trace-42.a"})
    assert r.headers["x-request-id"] == "trace-42.a"
    generated = s.get("/v1/jobs").headers["x-request-id"]
    assert len(generated) == 32 and generated != "trace-42.a"
    hostile = s.get("/v1/jobs", headers={"x-request-id": "a b\"c"}).headers["x-request-id"]
    assert hostile != "a b\"c" and len(hostile) == 32  # replaced, not echoed
    s.post("/v1/jobs", data=b"{oops", headers={"x-request-id": "bad-json",
                                               "User-Agent": "tester \"quoted\""})
    s.get("/nowhere/" + "\u00e9")
    s.get("/nowhere/%FF", headers={"x-request-id": "not-utf8"})
    assert s.stop() == 0
    lines = [json.loads(line) for line in log.read_text().splitlines()]  # each line is JSON
    by_id = {line["request_id"]: line for line in lines}
    assert by_id["trace-42.a"]["status"] == 200 and by_id["trace-42.a"]["route"] == "/healthz"
    assert by_id[generated]["path"] == "/v1/jobs"
    bad = by_id["bad-json"]
    assert bad["status"] == 400 and bad["method"] == "POST" and bad["user_agent"] == \
        "tester \"quoted\""
    assert bad["remote"] == "127.0.0.1" and bad["duration_ms"] >= 0
    assert any(line["status"] == 404 and line["route"] is None for line in lines)
    assert by_id["not-utf8"]["path"] == "(not UTF-8)" and by_id["not-utf8"]["status"] == 404


def parse_metrics(text):
    values = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            values[name] = float(value)
    return values


def test_metrics(make_server):
    s = make_server()
    job = s.submit(steps=3, width=64, height=64, n=2)
    s.wait_state(job["id"], ["completed"])
    s.get("/nowhere")
    text = s.get("/metrics").text
    m = parse_metrics(text)
    assert m['diffuse_http_requests_total{route="/v1/jobs",method="POST",status="202"}'] == 1
    assert m['diffuse_http_requests_total{route="unmatched",method="GET",status="404"}'] == 1
    assert m['diffuse_jobs_total{outcome="completed"}'] == 1
    assert m["diffuse_images_generated_total"] == 2
    assert m["diffuse_unet_step_seconds_count"] >= 2  # steps after the first are timed
    assert m["diffuse_job_run_seconds_count"] == 1 and m["diffuse_job_wait_seconds_count"] == 1
    assert m['diffuse_model_loads_total{outcome="ok"}'] == 1
    assert m["diffuse_queue_length"] == 0 and m["diffuse_queue_capacity"] == 64
    assert m["process_resident_memory_bytes"] > 1e6
    assert "# TYPE diffuse_job_wait_seconds histogram" in text


def test_sighup_rescans_models_dir(make_server, tmp_path):
    models = tmp_path / "models"
    models.mkdir()
    shutil.copytree(MODEL, models / "alpha")
    (tmp_path / "data").mkdir()
    s = make_server(["--models-dir", str(models)], data=tmp_path / "data")
    names = lambda: [m["id"] for m in s.get("/v1/models").json()["data"]]
    assert names() == ["tiny-sd1", "alpha"]  # -m (conftest) first, then the directory
    shutil.copytree(MODEL, models / "beta")
    s.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + TIMEOUT
    while names() != ["tiny-sd1", "alpha", "beta"]:
        assert time.monotonic() < deadline, names()
        time.sleep(0.1)
    job = s.submit(steps=1, model="beta")
    assert s.wait_state(job["id"], ["completed", "failed"])["state"] == "completed"


def test_startup_check_repairs_the_data_directory(make_server, tmp_path):
    s = make_server()
    job = s.submit(steps=1)
    s.wait_state(job["id"], ["completed"])
    other = s.submit(steps=1)
    s.wait_state(other["id"], ["completed"])
    assert s.stop() == 0
    images = tmp_path / "images"
    (images / "deadbeef-0.png").write_bytes(b"written, then the server died")
    os.unlink(images / ("%s-0.png" % other["id"]))
    s2 = make_server(data=tmp_path)
    assert not (images / "deadbeef-0.png").exists()
    assert s2.get("/v1/jobs/" + job["id"]).json()["state"] == "completed"
    broken = s2.get("/v1/jobs/" + other["id"]).json()
    assert broken["state"] == "failed" and broken["error"]["code"] == "images_lost"
    with sqlite3.connect(tmp_path / "diffuse.db") as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 3
