#!/usr/bin/env python3
"""Load/soak test of `diffuse serve`: python3 tests/soak/soak.py BINARY
[--duration S] [--clients N] [--key KEY] [--out FILE].

Starts the server (the bundled tiny model, a temporary --data directory, a
small --queue-size so that 429s happen, --max-connections well above the
clients), runs N client threads for a fixed duration doing a realistic mix
(POST /v1/jobs then polling or streaming its events to the end, POST
/predict, GET /v1/jobs/{id}, GET /v1/jobs, /healthz, images, malformed
requests), then checks the promises:

  * every response has an intended status for its request (200/202/400/429;
    a 5xx, another status, a connection error or a timeout is an error);
  * every accepted job (202 from /v1/jobs, 200 from /predict) reaches
    `completed` exactly once: through the API (state, listing) and in
    DATA/diffuse.db read with sqlite3 after the server exits (one row per
    accepted id, state completed, its image files present and PNG, no row
    that no client was answered for, no image file without a completed job);
  * the server's RSS (VmRSS of /proc/PID/status, sampled every 0.5 s) does
    not grow after the warm-up by more than the bound (see RSS_* below);
  * SIGTERM at the end: exit status 0 within SHUTDOWN_TIMEOUT.

Writes a summary to --out (default tests/soak/last-run.txt) and exits 1 when
a check failed. tests/server/test_load.py runs the same code for ~20 s
(run_soak() below). Needs `requests` (the .venv-test of tests/server).

API keys: with --key KEY every request carries `Authorization: Bearer KEY`.
Without --key, when the binary has `diffuse keys` (`diffuse keys --help`
exits 0), a key with a high rate is created in the data directory before the
server starts, and used.
"""
import argparse
import collections
import datetime
import json
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time

import requests

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODEL = os.path.join(ROOT, "tests", "fixtures", "tiny-sd1")
DEFAULT_OUT = os.path.join(ROOT, "tests", "soak", "last-run.txt")

# Per request (slow under sanitizers or on a loaded machine; a healthy
# release run answers in milliseconds).
TIMEOUT = float(os.environ.get("DF_TEST_TIMEOUT", "60"))
SHUTDOWN_TIMEOUT = 30.0      # SIGTERM to exit (the server's own bound is 30 s)
DRAIN_TIMEOUT = 180.0        # after the clients stop, for the last jobs to finish
INTENDED = (200, 202, 400, 429)
TERMINAL = ("completed", "failed", "cancelled")
PNG = b"\x89PNG\r\n\x1a\n"
MAGIC = {"image/png": PNG, "image/jpeg": b"\xff\xd8\xff", "image/webp": b"RIFF"}

# RSS bound: the RSS at the end (clients stopped, queue drained) may exceed
# the RSS after the warm-up by at most max(RSS_GROWTH_FRACTION x warm,
# RSS_GROWTH_MB). Why: the tiny-model server needs ~10 MB idle and ~40 MB
# under this load (measured: 38.6 MB after a 12 s warm-up, 42.9 MB at the
# end of 60 s, the growth slowing down: most likely SQLite's page caches
# filling as the database grows, and glibc's per-thread arenas; valgrind
# finds every block freed at exit). After the warm-up
# every kind of request has been served by many connection threads, so what
# keeps growing is a leak: 1 KB per request is 9 MB a minute at the ~150
# requests/s of 32 clients, 45 MB over `make soak`'s 300 s, and fails; the
# allocator's and caches' own growth stays within a few MB. 25% of ~40 MB is
# 10 MB; the 16 MB floor keeps a short run (test_load.py: warm-up at 5 s,
# still in the ramp) from failing on noise, and is still far below what a
# per-request leak adds in 300 s.
RSS_GROWTH_FRACTION = 0.25
RSS_GROWTH_MB = 16.0

PROMPTS = ["a photograph of an astronaut riding a horse", "a red cube on a table",
           "watercolor of a lighthouse at dawn", "", "a cat (sleeping:1.2) on a sofa",
           "ünïcödé prompt — 日本語", "x" * 300]


def log(message):
    sys.stderr.write("soak: %s\n" % message)
    sys.stderr.flush()


# --------------------------------------------------------------------------
# The server

class Server:
    """`diffuse serve` on a free loopback port (--listen 127.0.0.1:0)."""

    def __init__(self, binary, data, args=()):
        self.binary, self.data, self.args = binary, data, list(args)
        self.proc = self.url = None
        self.log_path = os.path.join(data, "server.log")

    def start(self):
        cmd = [self.binary, "serve", "-m", MODEL, "--listen", "127.0.0.1:0",
               "--data", self.data] + self.args
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self.log)
        deadline = time.monotonic() + TIMEOUT
        line = b""
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            match = re.search(rb"listening on (http://[0-9.]+:\d+)", line)
            if match:
                self.url = match.group(1).decode()
                return self
            if self.proc.poll() is not None:
                break
        raise RuntimeError("server did not start: %r\n%s" % (line, self.log_tail()))

    def rss_kb(self):
        """(VmRSS, RssAnon) in kB, None once the process is gone."""
        values = {}
        try:
            with open("/proc/%d/status" % self.proc.pid) as f:
                for line in f:
                    if line.startswith(("VmRSS:", "RssAnon:")):
                        values[line.split(":")[0]] = int(line.split()[1])
        except (OSError, ValueError):
            return None
        return (values["VmRSS"], values.get("RssAnon", 0)) if "VmRSS" in values else None

    def sanitized(self):
        """True for an ASan build (its quarantine makes RSS meaningless)."""
        try:
            with open("/proc/%d/maps" % self.proc.pid) as f:
                return "libasan" in f.read()
        except OSError:
            return False

    def terminate(self, timeout=SHUTDOWN_TIMEOUT):
        """SIGTERM; (exit status, seconds), status None when it had to be killed."""
        started = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            code = None
        self.log.close()
        return code, time.monotonic() - started

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def log_tail(self, n=4000):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")[-n:]
        except OSError:
            return ""


def has_keys_command(binary):
    try:
        return subprocess.run([binary, "keys", "--help"], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def create_key(binary, data):
    """`diffuse keys create` with a high rate; the key (last line of stdout)."""
    cmd = [binary, "keys", "create", "--name", "soak", "--data", data, "--rate", "1000000"]
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    lines = [l.strip() for l in r.stdout.decode().splitlines() if l.strip()]
    if r.returncode or not lines:
        raise RuntimeError("%s failed (%d): %s" % (" ".join(cmd), r.returncode,
                                                   r.stderr.decode()[-2000:]))
    return lines[-1]


# --------------------------------------------------------------------------
# Bookkeeping shared by the client threads

class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.requests = collections.Counter()      # route -> requests
        self.statuses = collections.Counter()      # status -> responses
        self.route_status = collections.Counter()  # (route, status) -> responses
        self.latency = collections.defaultdict(list)
        self.errors = collections.Counter()        # kind -> count
        self.error_samples = []
        self.accepted = collections.Counter()      # job id -> times a client was answered it
        self.accepted_via = {}                      # job id -> route
        self.images = {}                            # job id -> images expected
        self.ids = []                               # accepted ids, in order
        self.completed_seen = []                    # ids a client saw completed
        self.stream_completed = collections.Counter()  # id -> "completed" events seen
        self.retry_after = collections.Counter()

    def record(self, route, status, seconds):
        with self.lock:
            self.requests[route] += 1
            self.statuses[status] += 1
            self.route_status[(route, status)] += 1
            self.latency[route].append(seconds)

    def error(self, kind, detail):
        with self.lock:
            self.errors[kind] += 1
            if len(self.error_samples) < 30:
                self.error_samples.append("%s: %s" % (kind, detail))

    def accept(self, job_id, route, images):
        with self.lock:
            self.accepted[job_id] += 1
            self.accepted_via.setdefault(job_id, route)
            self.images[job_id] = images
            if self.accepted[job_id] == 1:
                self.ids.append(job_id)
            else:
                self.errors["duplicate job id answered"] += 1

    def random_id(self, rng, completed=False):
        with self.lock:
            pool = self.completed_seen if completed else self.ids
            return rng.choice(pool) if pool else None


# --------------------------------------------------------------------------
# One client

class Client(threading.Thread):
    # The mix: (weight, method name). Jobs dominate; the reads are cheap.
    MIX = [(22, "job_poll"), (18, "job_events"), (14, "predict"), (12, "get_job"),
           (8, "list_jobs"), (10, "healthz"), (4, "get_image"), (12, "malformed")]

    def __init__(self, index, url, stats, stop, headers, seed):
        super().__init__(name="client-%d" % index, daemon=True)
        self.url, self.stats, self.stop, self.headers = url, stats, stop, dict(headers)
        self.rng = random.Random(seed)
        self.session = requests.Session()
        self.actions = [getattr(self, name) for _, name in self.MIX]
        self.weights = [w for w, _ in self.MIX]

    def run(self):
        try:
            while not self.stop.is_set():
                self.rng.choices(self.actions, self.weights)[0]()
        except Exception as e:  # a bug of this script: never hide it
            self.stats.error("client exception", "%s: %r" % (self.name, e))
        finally:
            self.session.close()

    # -- requests ----------------------------------------------------------
    def call(self, method, route, path, expected, **kw):
        """One request; None on a connection error or timeout (an error)."""
        kw.setdefault("timeout", TIMEOUT)
        headers = dict(self.headers)
        headers.update(kw.pop("headers", {}))
        started = time.monotonic()
        try:
            r = self.session.request(method, self.url + path, headers=headers, **kw)
        except requests.exceptions.Timeout as e:
            self.stats.error("timeout", "%s %s: %r" % (method, path, e))
            return None
        except requests.exceptions.RequestException as e:
            self.stats.error("connection error", "%s %s: %r" % (method, path, e))
            return None
        self.stats.record(route, r.status_code, time.monotonic() - started)
        if r.status_code not in expected:
            body = "" if kw.get("stream") else r.text[:300]
            kind = "status %d" % r.status_code if r.status_code not in INTENDED else \
                "unexpected %d for %s" % (r.status_code, route)
            self.stats.error(kind, "%s %s: %s" % (method, path, body))
        return r

    def back_off(self, r):
        """After a 429: Retry-After must be there; wait a part of it."""
        value = r.headers.get("Retry-After", "")
        if not value.isdigit():
            self.stats.error("429 without Retry-After", repr(value))
            value = "1"
        self.stats.retry_after[int(value)] += 1
        self.stop.wait(self.rng.uniform(0.05, min(float(value), 1.0)))

    def job_params(self, predict=False):
        params = {"prompt": self.rng.choice(PROMPTS), "steps": self.rng.randint(1, 6),
                  "width": self.rng.choice([16, 16, 24, 32]),
                  "height": self.rng.choice([16, 16, 24, 32]),
                  "seed": self.rng.randint(0, 2**31)}
        if not predict and self.rng.random() < 0.25:
            params["batch"] = 2
        if self.rng.random() < 0.2:
            params["guidance_scale"] = self.rng.choice([1.0, 5.0, 7.5])
        return params

    def submit(self):
        params = self.job_params()
        r = self.call("POST", "POST /v1/jobs", "/v1/jobs", (202, 429), json=params)
        if r is None:
            return None
        if r.status_code == 429:
            self.back_off(r)
            return None
        if r.status_code != 202:
            return None
        job = r.json()
        if r.headers.get("Location") != "/v1/jobs/" + job["id"]:
            self.stats.error("bad Location", repr(r.headers.get("Location")))
        self.stats.accept(job["id"], "POST /v1/jobs", params.get("batch", 1))
        return job

    def finished(self, job_id, job):
        """A client saw the job's final state."""
        if job["state"] != "completed":
            self.stats.error("job not completed", "%s: %s %s" % (job_id, job["state"],
                                                                  job.get("error")))
            return
        if len(job.get("images") or []) != self.stats.images.get(job_id, 1):
            self.stats.error("wrong image count", "%s: %r" % (job_id, job.get("images")))
        with self.stats.lock:
            self.stats.completed_seen.append(job_id)

    # -- the mix -------------------------------------------------------------
    def job_poll(self):
        job = self.submit()
        if not job:
            return
        while job["state"] not in TERMINAL and not self.stop.is_set():
            self.stop.wait(self.rng.uniform(0.03, 0.2))
            r = self.call("GET", "GET /v1/jobs/{id}", "/v1/jobs/" + job["id"], (200,))
            if r is None or r.status_code != 200:
                return
            job = r.json()
        if job["state"] in TERMINAL:
            self.finished(job["id"], job)

    def job_events(self):
        job = self.submit()
        if not job:
            return
        job_id = job["id"]
        r = self.call("GET", "GET /v1/jobs/{id}/events", "/v1/jobs/%s/events" % job_id, (200,),
                      stream=True, timeout=(TIMEOUT, 30))
        if r is None or r.status_code != 200:
            return
        names, seqs, final = [], [], None
        try:
            with r:
                for name, seq, data in sse_events(r):
                    names.append(name)
                    if seq is not None:
                        seqs.append(seq)
                    if name in TERMINAL:
                        final = data
        except (requests.exceptions.RequestException, ValueError) as e:
            self.stats.error("events stream broken", "%s: %r after %s" % (job_id, e, names))
            return
        completed = names.count("completed")
        with self.stats.lock:
            self.stats.stream_completed[job_id] += completed
        if not names or names[-1] not in TERMINAL or sum(names.count(t) for t in TERMINAL) != 1:
            self.stats.error("bad event sequence", "%s: %s" % (job_id, names))
        elif seqs != sorted(set(seqs)):
            self.stats.error("event ids not increasing", "%s: %s" % (job_id, seqs))
        elif final is not None:
            self.finished(job_id, {"state": names[-1], "error": final.get("error"),
                                   "images": final.get("images")})

    def predict(self):
        accept = self.rng.choice(["image/png", "image/jpeg", "image/webp", None])
        headers = {"Accept": accept} if accept else {}
        r = self.call("POST", "POST /predict", "/predict", (200, 429),
                      json=self.job_params(predict=True), headers=headers)
        if r is None:
            return
        if r.status_code == 429:
            self.back_off(r)
        elif r.status_code == 200:
            job_id = r.headers.get("X-Job-Id")
            if not job_id:
                self.stats.error("predict without X-Job-Id", str(r.headers))
                return
            self.stats.accept(job_id, "POST /predict", 1)
            ctype = r.headers.get("Content-Type", "")
            if not r.content.startswith(MAGIC.get(ctype, b"?")) or \
                    (accept and ctype != accept):
                self.stats.error("bad /predict image", "%s %r %r" % (ctype, accept,
                                                                     r.content[:8]))
            with self.stats.lock:
                self.stats.completed_seen.append(job_id)

    def get_job(self):
        job_id = self.stats.random_id(self.rng)
        if job_id:
            r = self.call("GET", "GET /v1/jobs/{id}", "/v1/jobs/" + job_id, (200,))
            if r is not None and r.status_code == 200 and r.json().get("id") != job_id:
                self.stats.error("wrong job", job_id)
        else:
            self.healthz()

    def list_jobs(self):
        limit = self.rng.randint(1, 50)
        r = self.call("GET", "GET /v1/jobs", "/v1/jobs?limit=%d" % limit, (200,))
        if r is not None and r.status_code == 200:
            page = r.json()
            if len(page["data"]) > limit:
                self.stats.error("list longer than limit", "%d > %d" % (len(page["data"]), limit))
            if page.get("next") and self.rng.random() < 0.5:
                self.call("GET", "GET /v1/jobs", page["next"], (200,))

    def healthz(self):
        r = self.call("GET", "GET /healthz", "/healthz", (200,))
        if r is not None and r.status_code == 200 and r.json().get("status") != "ok":
            self.stats.error("bad /healthz", r.text[:200])

    def get_image(self):
        job_id = self.stats.random_id(self.rng, completed=True)
        if not job_id:
            return self.healthz()
        fmt = self.rng.choice(["png", "jpeg", "webp"])
        r = self.call("GET", "GET /v1/jobs/{id}/images/{n}",
                      "/v1/jobs/%s/images/0?format=%s" % (job_id, fmt), (200,))
        if r is not None and r.status_code == 200 and \
                not r.content.startswith(MAGIC["image/" + fmt]):
            self.stats.error("bad image", "%s %s %r" % (job_id, fmt, r.content[:8]))

    def malformed(self):
        json_type = {"Content-Type": "application/json"}
        cases = [
            ("POST", "/v1/jobs", {"data": b"{not json", "headers": json_type}),
            ("POST", "/v1/jobs", {"data": b"", "headers": json_type}),
            ("POST", "/v1/jobs", {"json": []}),
            ("POST", "/v1/jobs", {"json": {}}),  # no prompt
            ("POST", "/v1/jobs", {"json": {"prompt": "x", "steps": 0}}),
            ("POST", "/v1/jobs", {"json": {"prompt": "x", "steps": "many"}}),
            ("POST", "/v1/jobs", {"json": {"prompt": "x", "width": 17}}),
            ("POST", "/v1/jobs", {"json": {"prompt": "x", "bogus": 1}}),
            ("POST", "/v1/jobs", {"json": {"prompt": 42}}),
            ("POST", "/v1/jobs", {"data": b"\xff\xfe\x00garbage", "headers": json_type}),
            ("POST", "/predict", {"json": {"prompt": "x", "batch": 2}}),
            ("POST", "/predict", {"data": b"[1, 2", "headers": json_type}),
            ("GET", "/v1/jobs?limit=0", {}),
            ("GET", "/v1/jobs?limit=abc", {}),
            ("GET", "/v1/jobs?limit=101", {}),
        ]
        job_id = self.stats.random_id(self.rng, completed=True)
        if job_id:
            cases.append(("GET", "/v1/jobs/%s/images/0?format=gif" % job_id, {}))
        method, path, kw = self.rng.choice(cases)
        label = "/v1/jobs/{id}/images/{n}" if "/images/" in path else path.split("?")[0]
        route = "%s %s (malformed)" % (method, label)
        self.call(method, route, path, (400,), **kw)


def sse_events(response):
    """(event, id, data) of a text/event-stream response, lazily."""
    event, seq, data = None, None, []
    for raw in response.iter_lines(decode_unicode=True):
        if raw is None:
            continue
        if raw == "":
            if event or data:
                yield event, seq, json.loads("\n".join(data)) if data else None
            event, seq, data = None, None, []
        elif raw.startswith(":"):
            continue
        elif raw.startswith("event:"):
            event = raw[6:].strip()
        elif raw.startswith("id:"):
            seq = int(raw[3:].strip())
        elif raw.startswith("data:"):
            data.append(raw[5:].strip())


# --------------------------------------------------------------------------
# The run and its checks

def rss_sampler(server, stop, samples, period=0.5):
    started = time.monotonic()
    while not stop.is_set():
        rss = server.rss_kb()
        if rss is None:
            return
        samples.append((time.monotonic() - started,) + rss)
        stop.wait(period)


def api_listing(session, url, headers):
    """Every job id of GET /v1/jobs, following `next`."""
    ids, path = [], "/v1/jobs?limit=100"
    while path:
        r = session.get(url + path, headers=headers, timeout=TIMEOUT)
        r.raise_for_status()
        page = r.json()
        ids += [j["id"] for j in page["data"]]
        path = page.get("next") if page.get("has_more") else None
    return ids


def check_database(data, stats, failures):
    """The store after the server exited: one completed row per accepted
    job, its images on disk, nothing else. Returns counts for the report."""
    db = sqlite3.connect(os.path.join(data, "diffuse.db"))
    try:
        rows = db.execute("SELECT id, state, params, result FROM jobs").fetchall()
        dup_rows = db.execute("SELECT id, COUNT(*) FROM jobs GROUP BY id "
                              "HAVING COUNT(*) > 1").fetchall()
    finally:
        db.close()
    by_id = {row[0]: row for row in rows}
    accepted = set(stats.accepted)
    missing = sorted(accepted - set(by_id))
    unknown = sorted(set(by_id) - accepted)
    not_completed = sorted((i, by_id[i][1]) for i in accepted & set(by_id)
                           if by_id[i][1] != "completed")
    images_dir = os.path.join(data, "images")
    files = set(os.listdir(images_dir)) if os.path.isdir(images_dir) else set()
    referenced, bad_images = set(), []
    for job_id, state, params, result in rows:
        if state != "completed":
            continue
        names = json.loads(result or "{}").get("images") or []
        expected = json.loads(params).get("batch", 1)
        if len(names) != expected:
            bad_images.append("%s: %d images, batch %d" % (job_id, len(names), expected))
        for name in names:
            referenced.add(name)
            path = os.path.join(images_dir, name)
            if not name.startswith(job_id + "-") or name not in files:
                bad_images.append("%s: %s missing" % (job_id, name))
                continue
            with open(path, "rb") as f:
                if f.read(8) != PNG:
                    bad_images.append("%s: %s is not a PNG" % (job_id, name))
    orphans = sorted(files - referenced)
    for what, items in [("accepted jobs missing from the database", missing),
                        ("database rows no client was answered for", unknown),
                        ("accepted jobs not completed in the database", not_completed),
                        ("duplicated database rows", dup_rows),
                        ("bad or missing image files", bad_images),
                        ("image files without a completed job", orphans)]:
        if items:
            failures.append("%s: %d (%s)" % (what, len(items), items[:10]))
    return {"rows": len(rows), "completed_rows": sum(1 for r in rows if r[1] == "completed"),
            "missing": len(missing), "unknown_rows": len(unknown),
            "not_completed": len(not_completed), "duplicated_rows": len(dup_rows),
            "image_files": len(files), "bad_images": len(bad_images), "orphans": len(orphans)}


def run_soak(binary, duration=300.0, clients=32, key=None, data=None, queue_size=8,
             threads=2, warmup=None, seed=1, out=DEFAULT_OUT):
    """Runs the whole soak; returns the result dict (result["failures"] empty
    when every check passed) after writing the report to `out` (None: none)."""
    binary = os.path.abspath(binary)
    tmp = None
    if data is None:
        tmp = tempfile.TemporaryDirectory(prefix="diffuse-soak-")
        data = tmp.name
    os.makedirs(data, exist_ok=True)
    warmup = warmup if warmup is not None else min(60.0, max(5.0, duration * 0.2))
    failures = []
    result = {"date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
              "binary": binary, "duration_s": duration, "clients": clients,
              "queue_size": queue_size, "data": data, "failures": failures}
    key_source = "none"
    if key:
        key_source = "--key"
    elif has_keys_command(binary):
        key = create_key(binary, data)
        key_source = "created with `diffuse keys create --rate 1000000`"
    result["api_key"] = key_source
    headers = {"Authorization": "Bearer " + key} if key else {}

    server = Server(binary, data, ["-t", str(threads), "--queue-size", str(queue_size),
                                   "--max-connections", str(max(256, clients * 4))]).start()
    stats, stop, sampler_stop, samples = Stats(), threading.Event(), threading.Event(), []
    sampler = threading.Thread(target=rss_sampler, args=(server, sampler_stop, samples),
                               daemon=True)
    try:
        sampler.start()
        log("server %s (pid %d); %d clients for %g s" % (server.url, server.proc.pid, clients,
                                                         duration))
        workers = [Client(i, server.url, stats, stop, headers, seed * 1000 + i)
                   for i in range(clients)]
        started = time.monotonic()
        for w in workers:
            w.start()
        while time.monotonic() - started < duration:
            time.sleep(min(5.0, max(0.0, duration - (time.monotonic() - started))))
            if server.proc.poll() is not None:
                failures.append("the server died during the run (status %s)" %
                                server.proc.returncode)
                break
        stop.set()
        for w in workers:
            w.join(TIMEOUT + 35)
            if w.is_alive():
                failures.append("client %s still busy %g s after the end" % (w.name,
                                                                             TIMEOUT + 35))
        result["run_s"] = time.monotonic() - started

        # Every accepted job finishes, through the API.
        session = requests.Session()
        deadline = time.monotonic() + DRAIN_TIMEOUT
        api_states = {}
        for job_id in list(stats.ids):
            while True:
                try:
                    r = session.get(server.url + "/v1/jobs/" + job_id, headers=headers,
                                    timeout=TIMEOUT)
                    state = r.json().get("state") if r.status_code == 200 else \
                        "HTTP %d" % r.status_code
                except (requests.exceptions.RequestException, ValueError) as e:
                    state = "error %r" % e
                if state in TERMINAL or state.startswith(("HTTP", "error")) or \
                        time.monotonic() > deadline:
                    break
                time.sleep(0.05)
            api_states[job_id] = state
        result["drain_s"] = time.monotonic() - started - result["run_s"]
        bad = sorted((i, s) for i, s in api_states.items() if s != "completed")
        if bad:
            failures.append("accepted jobs not completed through the API: %d (%s)" %
                            (len(bad), bad[:10]))
        try:
            listed = api_listing(session, server.url, headers)
            counts = collections.Counter(listed)
            dups = [i for i, n in counts.items() if n > 1]
            if dups:
                failures.append("jobs listed twice by GET /v1/jobs: %s" % dups[:10])
            if set(listed) != set(stats.accepted):
                failures.append("GET /v1/jobs: %d listed, %d accepted (missing %s, extra %s)" % (
                    len(set(listed)), len(stats.accepted),
                    sorted(set(stats.accepted) - set(listed))[:5],
                    sorted(set(listed) - set(stats.accepted))[:5]))
            result["listed"] = len(listed)
        except (requests.exceptions.RequestException, ValueError, KeyError) as e:
            failures.append("GET /v1/jobs listing failed: %r" % e)
        session.close()
        time.sleep(1.0)  # one more RSS sample, idle
        sampler_stop.set()
        sampler.join()
        sanitized = server.sanitized()
        code, shutdown_s = server.terminate()
    finally:
        stop.set()
        sampler_stop.set()
        server.kill()
    result["exit_code"] = code
    result["shutdown_s"] = shutdown_s
    if code != 0:
        failures.append("SIGTERM: exit status %s after %.1f s (want 0 within %g s)" %
                        (code, shutdown_s, SHUTDOWN_TIMEOUT))
    log_text = server.log_tail(1 << 20)
    for marker in ("AddressSanitizer", "LeakSanitizer", "runtime error:", "Segmentation"):
        if marker in log_text:
            failures.append("server log has %r:\n%s" % (marker, log_text[-3000:]))

    # Requests and statuses.
    total = sum(stats.requests.values())
    errors = sum(stats.errors.values())
    result.update(requests=total, requests_by_route=dict(stats.requests),
                  responses_by_status=dict(sorted(stats.statuses.items())),
                  route_status={"%s %d" % k: v for k, v in sorted(stats.route_status.items())},
                  errors=errors, errors_by_kind=dict(stats.errors),
                  error_samples=stats.error_samples, retry_after=dict(stats.retry_after),
                  latency={route: latency_summary(v) for route, v in stats.latency.items()})
    if errors:
        failures.append("%d request errors: %s" % (errors, dict(stats.errors)))
    if not stats.statuses.get(429):
        failures.append("no 429 at all: the queue never filled (the load is too light "
                        "to test the bounded queue)")
    if not total:
        failures.append("no request made")

    # Jobs: accepted, completed exactly once.
    accepted = len(stats.accepted)
    duplicated = sorted(i for i, n in stats.accepted.items() if n > 1)
    duplicated += sorted(i for i, n in stats.stream_completed.items() if n > 1)
    if duplicated:
        failures.append("jobs answered or completed twice: %s" % duplicated[:10])
    db = check_database(data, stats, failures)
    result.update(jobs_accepted=accepted,
                  jobs_accepted_by_route=dict(collections.Counter(stats.accepted_via.values())),
                  jobs_completed_api=sum(1 for s in api_states.values() if s == "completed"),
                  jobs_completed_db=accepted - db["missing"] - db["not_completed"],
                  jobs_lost=db["missing"] + sum(1 for s in api_states.values()
                                               if s.startswith("HTTP 404")),
                  jobs_duplicated=len(duplicated) + db["duplicated_rows"], database=db)
    if accepted == 0:
        failures.append("no job accepted")

    # Memory.
    result.update(rss_check(samples, warmup, sanitized, failures))
    if tmp is not None and not failures:
        tmp.cleanup()
    elif tmp is not None:
        result["data_kept"] = data  # for a post-mortem
    if out:
        write_report(result, out)
    return result


def latency_summary(values):
    values = sorted(values)
    pick = lambda q: values[min(len(values) - 1, int(q * len(values)))]
    return {"n": len(values), "p50_ms": round(pick(0.5) * 1000, 1),
            "p95_ms": round(pick(0.95) * 1000, 1), "max_ms": round(values[-1] * 1000, 1)}


def rss_check(samples, warmup, sanitized, failures):
    if not samples:
        failures.append("no RSS sample")
        return {}
    kb = [rss for _, rss, _ in samples]
    warm_at = next((i for i, s in enumerate(samples) if s[0] >= warmup), len(samples) - 1)
    warm, end = kb[warm_at], kb[-1]
    step = max(1, len(samples) // 20)
    bound_kb = max(RSS_GROWTH_FRACTION * warm, RSS_GROWTH_MB * 1024)
    growth = end - warm
    out = {"rss_start_kb": kb[0], "rss_warm_kb": warm, "rss_end_kb": end, "rss_max_kb": max(kb),
           "rss_growth_kb": growth, "rss_bound_kb": int(bound_kb), "rss_samples": len(kb),
           "rss_warmup_s": warmup, "rss_checked": not sanitized,
           "anon_warm_kb": samples[warm_at][2], "anon_end_kb": samples[-1][2],
           "rss_series_step_s": round(samples[min(step, len(samples) - 1)][0] - samples[0][0], 1),
           "rss_series_mb": [round(rss / 1024.0, 1) for _, rss, _ in samples[::step]]}
    if sanitized:
        out["rss_note"] = "ASan build: RSS reported, not checked (quarantine; LSan checks leaks)"
    elif growth > bound_kb:
        failures.append("RSS grew by %.1f MB after the warm-up (%.1f -> %.1f MB; bound %.1f MB)" %
                        (growth / 1024.0, warm / 1024.0, end / 1024.0, bound_kb / 1024.0))
    return out


def write_report(result, path):
    mb = lambda kb: "%.1f MB" % (kb / 1024.0) if isinstance(kb, (int, float)) else "?"
    lines = [
        "diffuse soak test: %s" % ("PASSED" if not result["failures"] else "FAILED"),
        "date: %s" % result["date"],
        "binary: %s" % result["binary"],
        "duration: %g s requested, %.1f s run, %.1f s to drain the queue" % (
            result["duration_s"], result.get("run_s", 0), result.get("drain_s", 0)),
        "clients: %d (queue size %d)" % (result["clients"], result["queue_size"]),
        "api key: %s" % result.get("api_key"),
        "requests: %d (%.1f/s)" % (result.get("requests", 0),
                                   result.get("requests", 0) / max(result.get("run_s", 1), 1e-9)),
    ]
    for route, n in sorted(result.get("requests_by_route", {}).items()):
        lat = result["latency"].get(route, {})
        lines.append("  %-44s %7d  p50 %s ms, p95 %s ms, max %s ms" % (
            route, n, lat.get("p50_ms"), lat.get("p95_ms"), lat.get("max_ms")))
    lines.append("responses by status: %s" % ", ".join(
        "%s: %d" % kv for kv in result.get("responses_by_status", {}).items()))
    lines.append("responses by route and status:")
    lines += ["  %-48s %7d" % kv for kv in result.get("route_status", {}).items()]
    lines.append("429 Retry-After values: %s" % result.get("retry_after"))
    lines.append("errors: %d %s" % (result.get("errors", 0), result.get("errors_by_kind") or ""))
    lines += ["  " + s for s in result.get("error_samples", [])]
    db = result.get("database", {})
    lines += [
        "jobs accepted: %d %s" % (result.get("jobs_accepted", 0),
                                  result.get("jobs_accepted_by_route")),
        "jobs completed: %d (API), %d (database)" % (result.get("jobs_completed_api", 0),
                                                     result.get("jobs_completed_db", 0)),
        "jobs lost: %d" % result.get("jobs_lost", 0),
        "jobs duplicated: %d" % result.get("jobs_duplicated", 0),
        "database: %s" % db,
        "RSS: start %s, after %g s warm-up %s, end %s, max %s; growth %s (bound %s)%s" % (
            mb(result.get("rss_start_kb")), result.get("rss_warmup_s", 0),
            mb(result.get("rss_warm_kb")), mb(result.get("rss_end_kb")),
            mb(result.get("rss_max_kb")), mb(result.get("rss_growth_kb")),
            mb(result.get("rss_bound_kb")), "" if result.get("rss_checked", True)
            else " -- " + result.get("rss_note", "not checked")),
        "RssAnon (heap and stacks): after warm-up %s, end %s" % (
            mb(result.get("anon_warm_kb")), mb(result.get("anon_end_kb"))),
        "RSS series (MB, every %s s): %s" % (result.get("rss_series_step_s"),
                                              result.get("rss_series_mb")),
        "exit code after SIGTERM: %s (%.2f s)" % (result.get("exit_code"),
                                                 result.get("shutdown_s", 0)),
    ]
    if result.get("data_kept"):
        lines.append("data directory kept: %s" % result["data_kept"])
    lines.append("failures: %d" % len(result["failures"]))
    lines += ["  FAIL: " + f for f in result["failures"]]
    text = "\n".join(lines) + "\n"
    with open(path, "w") as f:
        f.write(text)
    return text


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("binary", help="the diffuse binary")
    p.add_argument("--duration", type=float,
                   default=float(os.environ.get("SOAK_SECONDS", "300")), help="seconds of load")
    p.add_argument("--clients", type=int, default=32, help="concurrent clients")
    p.add_argument("--key", help="API key: Authorization: Bearer KEY on every request")
    p.add_argument("--queue-size", type=int, default=8)
    p.add_argument("--threads", type=int, default=2, help="engine threads (-t)")
    p.add_argument("--warmup", type=float, help="seconds before the RSS baseline "
                   "(default: 20%% of the duration, 5..60 s)")
    p.add_argument("--data", help="data directory (default: a temporary one)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out", default=DEFAULT_OUT, help="report file (default: %(default)s)")
    args = p.parse_args(argv)
    result = run_soak(args.binary, args.duration, args.clients, args.key, args.data,
                      args.queue_size, args.threads, args.warmup, args.seed, args.out)
    sys.stdout.write(open(args.out).read() if args.out else json.dumps(result, indent=1))
    return 1 if result["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
