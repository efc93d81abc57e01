"""Cancellation reaches inside a model evaluation, and sticks: a cancel of a
running job takes effect part-way through a step however large the image;
it is stored at once, so a server killed before the job has stopped does
not run it again after a restart (nor the job of a /predict client that
hung up); and SIGTERM stops a long step within --shutdown-timeout."""
import os
import socket
import time

from conftest import TIMEOUT
from test_crash import read_store

# One evaluation at this size takes minutes on the tiny model (its attention
# runs over every latent pixel), far longer than any deadline below.
BIG = 768
# A stop inside a step: generous for ASan and a loaded machine, still far
# below one evaluation at BIG.
STOP_DEADLINE = 30


def wait_running(server, job_id):
    """Waits until the job runs its first step (its progress has a total)."""
    deadline = time.monotonic() + TIMEOUT
    while True:
        job = server.get("/v1/jobs/" + job_id).json()
        if job["state"] == "running" and job["progress"] and job["progress"]["total"]:
            return job
        assert time.monotonic() < deadline, "job never ran: %s" % job
        time.sleep(0.05)


def wait_stored(data, job_id, state):
    deadline = time.monotonic() + TIMEOUT
    while read_store(data)[job_id]["state"] != state:
        assert time.monotonic() < deadline, "%s never stored as %s" % (job_id, state)
        time.sleep(0.05)


def check_not_revived(make_server, data, job_id):
    """After a restart the job is cancelled, and a job queued behind it runs
    without it running first (the queue is FIFO)."""
    again = make_server(data=data)
    assert again.get("/v1/jobs/" + job_id).json()["state"] == "cancelled"
    later = again.submit(steps=2)
    again.wait_state(later["id"], ["completed"])
    job = again.get("/v1/jobs/" + job_id).json()
    assert job["state"] == "cancelled" and job["images"] == [], job


def test_cancel_stops_inside_a_step(make_server):
    s = make_server()
    job = s.submit(steps=2, width=BIG, height=BIG)
    wait_running(s, job["id"])
    started = time.monotonic()
    assert s.post("/v1/jobs/%s/cancel" % job["id"]).status_code == 202
    s.wait_state(job["id"], ["cancelled"], timeout=STOP_DEADLINE)
    assert time.monotonic() - started < STOP_DEADLINE


def test_cancelled_job_is_not_run_after_kill9(make_server, tmp_path):
    s = make_server(data=tmp_path)
    job = s.submit(steps=2, width=BIG, height=BIG)
    wait_running(s, job["id"])
    assert s.post("/v1/jobs/%s/cancel" % job["id"]).status_code == 202
    s.kill9()  # at once: the worker has not recorded the end yet
    assert read_store(str(tmp_path))[job["id"]]["state"] == "cancelled"
    check_not_revived(make_server, tmp_path, job["id"])


def test_predict_client_gone_is_not_run_after_kill9(make_server, tmp_path):
    s = make_server(data=tmp_path)
    host, port = s.url[len("http://"):].split(":")
    body = b'{"prompt": "x", "steps": 2, "width": %d, "height": %d}' % (BIG, BIG)
    client = socket.create_connection((host, int(port)), timeout=TIMEOUT)
    client.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                   b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
    deadline = time.monotonic() + TIMEOUT
    while True:
        jobs = s.get("/v1/jobs", params={"limit": 5}).json()["data"]
        if jobs and jobs[0]["state"] == "running":
            break
        assert time.monotonic() < deadline, "the /predict job never ran"
        time.sleep(0.05)
    job_id = jobs[0]["id"]
    wait_running(s, job_id)
    client.close()
    wait_stored(str(tmp_path), job_id, "cancelled")  # well before the step could end
    s.kill9()
    check_not_revived(make_server, tmp_path, job_id)


def test_sigterm_stops_a_long_step_within_the_deadline(make_server, tmp_path):
    s = make_server(["--shutdown-timeout", str(STOP_DEADLINE)], data=tmp_path)
    job = s.submit(steps=2, width=BIG, height=BIG)
    wait_running(s, job["id"])
    started = time.monotonic()
    assert s.stop() == 0
    assert time.monotonic() - started < STOP_DEADLINE
    with open(os.path.join(str(tmp_path), "server.log"), "rb") as f:
        assert b"did not end within" not in f.read()
    assert read_store(str(tmp_path))[job["id"]]["state"] == "queued"  # runs again next start
