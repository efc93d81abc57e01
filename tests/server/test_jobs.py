"""The native jobs API: submit, poll, images, events (SSE), cancel, list,
the bounded queue (429), and a /predict client hanging up."""
import base64
import io
import socket
import time

import requests
from PIL import Image

from conftest import TIMEOUT, sse_events

LONG = 1000  # steps: several seconds on the tiny model, long enough to act on


def test_submit_poll_image(server):
    job = server.submit(seed=7, steps=8, batch=2)
    assert job["state"] in ("queued", "running", "completed")
    assert job["url"] == "/v1/jobs/" + job["id"]
    done = server.wait_state(job["id"], ["completed"])
    assert done["timings"]["run_seconds"] > 0
    assert [i["index"] for i in done["images"]] == [0, 1]
    assert done["queue_position"] is None and done["error"] is None
    for fmt, name in [(None, "PNG"), ("jpeg", "JPEG"), ("webp", "WEBP"), ("png", "PNG")]:
        r = server.get(done["images"][1]["url"], params={"format": fmt} if fmt else None)
        assert r.status_code == 200
        image = Image.open(io.BytesIO(r.content))
        assert image.format == name and image.size == (16, 16)
    assert server.get(done["images"][0]["url"][:-1] + "2").status_code == 404
    assert server.get(done["images"][0]["url"], params={"format": "gif"}).status_code == 400


def test_post_returns_location(server):
    r = server.post("/v1/jobs", json={"prompt": "x", "steps": 2})
    assert r.status_code == 202
    assert r.headers["Location"] == "/v1/jobs/" + r.json()["id"]


def test_unknown_job_is_404(server):
    for path in ["/v1/jobs/ffffffffffffffffffffffffffffffff", "/v1/jobs/bad%20id",
                 "/v1/jobs/ffff/images/0"]:
        assert server.get(path).status_code == 404
    assert server.post("/v1/jobs/ffff/cancel").status_code == 404


def test_events_sequence_with_steps_and_previews(server):
    job = server.submit(steps=10, preview_every=2)
    with server.get("/v1/jobs/%s/events" % job["id"], stream=True) as r:
        assert r.status_code == 200
        assert r.headers["Content-Type"].startswith("text/event-stream")
        events = list(sse_events(r))
    names = [name for name, _ in events]
    assert names[0] == "queued", names
    assert names[-1] == "completed", names
    assert "started" in names and "step" in names
    steps = [data for name, data in events if name == "step"]
    assert steps[-1]["step"] == steps[-1]["total"]
    assert all("eta_seconds" in s for s in steps)
    previews = [s for s in steps if s.get("preview")]
    assert previews, "no preview in any step event"
    image = Image.open(io.BytesIO(base64.b64decode(previews[-1]["preview"])))
    assert image.format == "PNG"
    assert events[-1][1]["images"] == ["/v1/jobs/%s/images/0" % job["id"]]


def test_events_of_finished_job(server):
    job = server.submit(steps=2)
    server.wait_state(job["id"], ["completed"])
    with server.get("/v1/jobs/%s/events" % job["id"], stream=True) as r:
        events = list(sse_events(r))
    assert [name for name, _ in events] == ["completed"]


def test_cancel_running_job(server):
    job = server.submit(steps=LONG)
    started = None
    with server.get("/v1/jobs/%s/events" % job["id"], stream=True) as r:
        for name, data in sse_events(r):
            if name == "step" and started is None:  # it is running: cancel it now
                started = time.monotonic()
                c = server.post("/v1/jobs/%s/cancel" % job["id"])
                assert c.status_code == 202, c.text
                assert c.json()["cancel_requested"] is True
            if name == "cancelled":
                break
        else:
            raise AssertionError("no cancelled event")
    assert time.monotonic() - started < 5  # within a step, not the whole run
    done = server.wait_state(job["id"], ["cancelled"])
    assert done["images"] == []
    # Cancelling again: it is finished.
    assert server.post("/v1/jobs/%s/cancel" % job["id"]).status_code == 409


def test_cancel_queued_job(make_server):
    s = make_server(["--queue-size", "4"])
    first = s.submit(steps=LONG)
    second = s.submit(steps=LONG)
    s.wait_state(first["id"], ["running"])
    assert s.get("/v1/jobs/" + second["id"]).json()["queue_position"] == 0
    r = s.post("/v1/jobs/%s/cancel" % second["id"])
    assert r.status_code == 200 and r.json()["state"] == "cancelled"
    assert s.post("/v1/jobs/%s/cancel" % first["id"]).status_code == 202
    s.wait_state(first["id"], ["cancelled"])


def test_queue_full_is_429(make_server):
    s = make_server(["--queue-size", "1"])
    running = s.submit(steps=LONG)
    s.wait_state(running["id"], ["running"])
    queued = s.submit(steps=LONG)
    r = s.post("/v1/jobs", json={"prompt": "x"})
    assert r.status_code == 429
    assert r.headers["Retry-After"].isdigit()
    assert r.json()["error"]["code"] == "queue_full"
    assert s.post("/predict", json={"prompt": "x"}).status_code == 429
    for job in (queued, running):
        s.post("/v1/jobs/%s/cancel" % job["id"])
    s.wait_state(running["id"], ["cancelled"])
    # Room again.
    assert s.post("/v1/jobs", json={"prompt": "x", "steps": 2}).status_code == 202


def test_list_jobs_paginated(make_server):
    s = make_server()
    ids = [s.submit(steps=1)["id"] for _ in range(5)]
    page = s.get("/v1/jobs", params={"limit": 2}).json()
    assert [j["id"] for j in page["data"]] == ids[::-1][:2]
    assert page["has_more"] and page["next"]
    page2 = s.get(page["next"]).json()
    assert [j["id"] for j in page2["data"]] == ids[::-1][2:4]
    page3 = s.get(page2["next"]).json()
    assert [j["id"] for j in page3["data"]] == ids[:1] and not page3["has_more"]
    assert s.get("/v1/jobs", params={"limit": 0}).status_code == 400
    assert s.get("/v1/jobs", params={"limit": "x"}).json()["error"]["param"] == "limit"


def test_predict_client_disconnect_cancels(server):
    host, port = server.url[len("http://"):].split(":")
    body = b'{"prompt": "x", "steps": %d}' % LONG
    s = socket.create_connection((host, int(port)), timeout=30)
    s.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
    deadline = time.monotonic() + TIMEOUT
    job = None
    while time.monotonic() < deadline:  # find our job once it runs
        jobs = server.get("/v1/jobs", params={"limit": 5}).json()["data"]
        job = next((j for j in jobs if j["parameters"]["steps"] == LONG and
                    j["state"] == "running"), None)
        if job:
            break
        time.sleep(0.02)
    assert job, "the /predict job never ran"
    s.close()
    done = server.wait_state(job["id"], ["cancelled", "completed"], timeout=10)
    assert done["state"] == "cancelled"
