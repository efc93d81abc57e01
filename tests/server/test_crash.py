"""Crash consistency of the job store, beyond test_persistence.py's single
kill -9: repeated kill -9 / restart cycles on one data directory, killed at
different moments (jobs queued, a long generation mid-way, right after a
burst of submissions, random moments that land on image writes and store
updates), then every accepted job must be completed exactly once: one row
in DATA/diffuse.db, state completed, its images on disk, no image file
without its job, and a job found completed after a crash is never run again
(its finished time does not change). And SIGTERM with a job running, one
queued, an events stream open and a /predict waiting: exit 0 within 10 s,
then every job completes after the restart."""
import collections
import json
import os
import random
import shutil
import sqlite3
import tempfile
import threading
import time

import requests

from conftest import TIMEOUT, sse_events

PNG = b"\x89PNG\r\n\x1a\n"
ARGS = ["--queue-size", "32"]


def read_store(data):
    """The jobs table as the server would find it: a copy of the database
    and its WAL, so that reading it (SQLite checkpoints when the last
    connection closes) does not change what the next start sees."""
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("diffuse.db", "diffuse.db-wal"):
            if os.path.exists(os.path.join(data, name)):
                shutil.copy(os.path.join(data, name), os.path.join(tmp, name))
        db = sqlite3.connect(os.path.join(tmp, "diffuse.db"))
        try:
            rows = db.execute("SELECT id, state, params, result, finished FROM jobs").fetchall()
        finally:
            db.close()
    return {row[0]: {"state": row[1], "params": json.loads(row[2]),
                     "result": json.loads(row[3]) if row[3] else None, "finished": row[4],
                     "rows": sum(1 for r in rows if r[0] == row[0])} for row in rows}


class Ledger:
    """Every job a server answered 202 for, and when each was first seen
    completed in the store after a crash."""

    def __init__(self, data):
        self.data = str(data)
        self.accepted = {}  # id -> batch
        self.finished = {}  # id -> finished time of its completion

    def submit(self, server, **params):
        job = server.submit(**params)
        self.accepted[job["id"]] = params.get("batch", 1)
        return job

    def check_store(self, final=False):
        """After a crash (or the final stop): nothing accepted is lost, no
        completed job ran again; with `final`, everything completed, with
        its images, and nothing else on disk."""
        jobs = read_store(self.data)
        lost = sorted(set(self.accepted) - set(jobs))
        assert not lost, "accepted jobs missing from the store: %s" % lost
        unknown = sorted(set(jobs) - set(self.accepted))
        assert not unknown, "jobs nobody submitted: %s" % unknown
        for job_id, job in jobs.items():
            assert job["rows"] == 1, "%s has %d rows" % (job_id, job["rows"])
            if job["state"] == "completed":
                first = self.finished.setdefault(job_id, job["finished"])
                assert job["finished"] == first, "%s completed twice (%s, then %s)" % (
                    job_id, first, job["finished"])
            else:
                assert not final and job["state"] in ("queued", "running"), (job_id, job)
        images = os.path.join(self.data, "images")
        files = set(os.listdir(images))
        referenced = set()
        for job_id, job in jobs.items():
            if job["state"] != "completed":
                continue
            names = job["result"]["images"]
            assert len(names) == self.accepted[job_id], (job_id, names)
            for name in names:
                assert name.startswith(job_id + "-") and name in files, (job_id, name)
                with open(os.path.join(images, name), "rb") as f:
                    assert f.read(8) == PNG, name
            referenced.update(names)
        if final:  # an interrupted job may leave its files until it runs again
            orphans = sorted(files - referenced)
            assert not orphans, "image files without a completed job: %s" % orphans
        return jobs

    def crash(self, server, moment):
        server.kill9()
        jobs = self.check_store()
        states = sorted(collections.Counter(j["state"] for j in jobs.values()).items())
        files = len(os.listdir(os.path.join(self.data, "images")))
        print("kill -9 %s: %s, %d image files" % (moment, states, files))  # pytest -s
        return jobs

    def restart(self, make_server):
        server = make_server(ARGS, data=self.data)
        for job_id in self.accepted:  # every accepted job is known at once
            assert server.get("/v1/jobs/" + job_id).status_code == 200, job_id
        return server


def long_steps(steps_per_second, seconds):
    return max(20, min(1000, int(seconds * steps_per_second)))


def test_kill9_cycles_complete_every_job_once(make_server, tmp_path, steps_per_second):
    ledger = Ledger(tmp_path)
    rng = random.Random(20240611)

    # 1. Killed with jobs queued behind a running one.
    s = make_server(ARGS, data=tmp_path)
    running = ledger.submit(s, steps=long_steps(steps_per_second, 2), seed=1)
    for i in range(6):
        ledger.submit(s, steps=3, seed=10 + i, batch=1 + i % 2)
    s.wait_state(running["id"], ["running"])
    assert ledger.crash(s, "with jobs queued")[running["id"]]["state"] in ("running", "queued")

    # 2. Killed in the middle of a longer generation (a batch of 2), after
    #    its first steps; the first cycle's jobs run (again) before it.
    s = ledger.restart(make_server)
    big = ledger.submit(s, steps=long_steps(steps_per_second, 3), batch=2, seed=2)
    with s.get("/v1/jobs/%s/events" % big["id"], stream=True) as r:
        for name, data in sse_events(r):
            if name == "step" and data["step"] >= 2:
                break
        else:
            raise AssertionError("no step event")
        jobs = ledger.crash(s, "during a generation")
    assert jobs[big["id"]]["state"] == "running"

    # 3. Killed right after a burst of submissions (answered 202: durable),
    #    once the long job has run again from the start and completed.
    s = ledger.restart(make_server)
    s.wait_state(big["id"], ["completed"], timeout=4 * TIMEOUT)
    for i in range(8):
        ledger.submit(s, steps=2 + i % 3, seed=30 + i, batch=1 + i % 2)
    ledger.crash(s, "right after submissions")

    # 4-6. Killed at random moments while short jobs complete: lands on
    #      image writes and store updates.
    short = max(2, min(10, int(0.04 * steps_per_second)))  # ~40 ms of steps
    for cycle in range(3):
        s = ledger.restart(make_server)
        for i in range(6):
            ledger.submit(s, steps=short, seed=100 * cycle + i, batch=1 + i % 2)
        delay = rng.uniform(0.05, 0.3)
        time.sleep(delay)
        ledger.crash(s, "after %.2f s" % delay)

    # The last start runs whatever is left; then every accepted job is
    # completed exactly once, through the API and in the store.
    s = ledger.restart(make_server)
    for job_id in ledger.accepted:
        done = s.wait_state(job_id, ["completed", "failed", "cancelled"], timeout=4 * TIMEOUT)
        assert done["state"] == "completed", done
        assert len(done["images"]) == ledger.accepted[job_id]
    assert s.get(done["images"][-1]["url"]).content[:8] == PNG
    assert s.stop() == 0
    jobs = ledger.check_store(final=True)
    assert len(jobs) == len(ledger.accepted) == 1 + 6 + 1 + 8 + 3 * 6


def test_sigterm_with_open_connections(make_server, tmp_path, steps_per_second):
    ledger = Ledger(tmp_path)
    s = make_server(["--queue-size", "8"], data=tmp_path)
    running = ledger.submit(s, steps=long_steps(steps_per_second, 6), seed=1)
    queued = ledger.submit(s, steps=3, seed=2, batch=2)
    s.wait_state(running["id"], ["running"])

    outcome = {}

    def events():  # follows the running job until the server ends the stream
        names = []
        try:
            with s.get("/v1/jobs/%s/events" % running["id"], stream=True) as r:
                for name, _ in sse_events(r):
                    names.append(name)
        except requests.exceptions.RequestException as e:
            names.append(repr(e))
        outcome["events"] = names

    def predict():  # waits behind both jobs
        try:
            outcome["predict"] = s.post("/predict", json={"prompt": "x", "steps": 2}).status_code
        except requests.exceptions.RequestException as e:
            outcome["predict"] = repr(e)

    threads = [threading.Thread(target=events), threading.Thread(target=predict)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + TIMEOUT
    while True:  # the /predict job is stored (accepted) before we stop
        listed = s.get("/v1/jobs", params={"limit": 10}).json()["data"]
        if len(listed) == 3:
            break
        assert time.monotonic() < deadline, "the /predict job never appeared"
        time.sleep(0.02)
    predict_id = listed[0]["id"]
    ledger.accepted[predict_id] = 1
    assert s.get("/v1/jobs/" + running["id"]).json()["state"] == "running"

    started = time.monotonic()
    assert s.stop() == 0
    stopped = time.monotonic() - started
    assert stopped < 10, "SIGTERM took %.1f s" % stopped
    for t in threads:
        t.join(10)
        assert not t.is_alive(), "a client still hangs after the server exited"
    assert "completed" not in outcome["events"], outcome
    assert outcome["predict"] != 200, outcome  # it cannot have run: it was third
    jobs = ledger.check_store()
    assert {jobs[i]["state"] for i in ledger.accepted} <= {"queued", "running"}, jobs

    again = make_server(data=tmp_path)
    for job_id in (running["id"], queued["id"], predict_id):
        assert again.wait_state(job_id, ["completed"], timeout=2 * TIMEOUT)["images"]
    assert again.stop() == 0
    ledger.check_store(final=True)
