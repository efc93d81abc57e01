"""The store: accepted jobs survive kill -9 and SIGTERM, and finished jobs
expire after --retention-hours."""
import os
import time

from conftest import TIMEOUT


def test_kill9_restart_runs_every_accepted_job(make_server, tmp_path, steps_per_second):
    s = make_server(["--queue-size", "8"])
    # About 2 s of work: still running when killed, quick to run again.
    running = s.submit(steps=max(20, min(1000, int(2 * steps_per_second))), seed=11)
    queued = [s.submit(steps=3, seed=20 + i) for i in range(3)]
    s.wait_state(running["id"], ["running"])
    s.kill9()

    again = make_server(["--queue-size", "8"], data=tmp_path)
    for job in [running] + queued:
        done = again.wait_state(job["id"], ["completed"])
        assert done["parameters"]["seed"] == job["parameters"]["seed"]
        r = again.get(done["images"][0]["url"])
        assert r.status_code == 200 and r.content[:8] == b"\x89PNG\r\n\x1a\n"


def test_sigterm_requeues_the_running_job(make_server, tmp_path, steps_per_second):
    s = make_server()
    job = s.submit(steps=max(20, min(1000, int(4 * steps_per_second))))
    s.wait_state(job["id"], ["running"])
    started = time.monotonic()
    assert s.stop() == 0
    assert time.monotonic() - started < 3  # interrupted within a step, not run to the end
    again = make_server(data=tmp_path)
    assert again.wait_state(job["id"], ["completed"])["images"]


def test_finished_jobs_expire(make_server, tmp_path):
    s = make_server(["--retention-hours", "0.0005"])  # 1.8 s
    job = s.submit(steps=2)
    done = s.wait_state(job["id"], ["completed"])
    images = os.path.join(str(tmp_path), "images")
    assert os.listdir(images)
    deadline = time.monotonic() + TIMEOUT
    while s.get("/v1/jobs/" + job["id"]).status_code != 404:
        assert time.monotonic() < deadline, "job never expired"
        time.sleep(0.2)
    assert not [f for f in os.listdir(images) if f.startswith(job["id"])]
    assert s.get(done["images"][0]["url"]).status_code == 404
