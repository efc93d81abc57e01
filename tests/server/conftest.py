"""Fixtures of the server tests: start `diffuse serve` (never build it) on a
free loopback port (--listen 127.0.0.1:0; the port is read from the
"listening on" line) with a temporary --data directory and the bundled tiny
model, whose jobs take a fraction of a second (about 230 steps/s here).

The binary is $DIFFUSE_BIN (CTest passes it), else build/diffuse."""
import json
import os
import re
import signal
import subprocess
import tempfile
import time

import pytest
import requests

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BINARY = os.environ.get("DIFFUSE_BIN", os.path.join(ROOT, "build", "diffuse"))
MODEL = os.path.join(ROOT, "tests", "fixtures", "tiny-sd1")
TAESD = os.path.join(ROOT, "tests", "fixtures", "tiny-taesd")
# Generous under sanitizers and a loaded machine; a healthy run is far below.
TIMEOUT = float(os.environ.get("DF_TEST_TIMEOUT", "60"))


class Server:
    def __init__(self, data, args=()):
        self.data = data
        self.args = list(args)
        self.proc = None
        self.url = None
        self.log = open(os.path.join(data, "server.log"), "ab")

    def start(self):
        # Long jobs (hundreds of steps) make the cancel/progress tests
        # deterministic on the tiny model; a test's own args come later and win.
        cmd = [BINARY, "serve", "-m", MODEL, "--listen", "127.0.0.1:0", "--data", self.data,
               "-t", "2", "--max-steps", "1000"] + self.args
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
        raise RuntimeError("server did not start: %r (log in %s)" % (line, self.data))

    def stop(self, sig=signal.SIGTERM):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                return self.proc.wait(timeout=TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise
        return self.proc.returncode if self.proc else None

    def check_log(self):
        """Fails on a sanitizer report or crash in the server's stderr."""
        self.log.flush()
        with open(os.path.join(self.data, "server.log"), "rb") as f:
            text = f.read().decode("utf-8", "replace")
        for marker in ("AddressSanitizer", "LeakSanitizer", "runtime error:", "Segmentation"):
            assert marker not in text, "server log:\n" + text[-4000:]

    def kill9(self):
        self.proc.kill()  # SIGKILL: no chance to clean up
        self.proc.wait()

    # -- helpers --------------------------------------------------------------
    def get(self, path, **kw):
        kw.setdefault("timeout", TIMEOUT)
        return requests.get(self.url + path, **kw)

    def post(self, path, **kw):
        kw.setdefault("timeout", TIMEOUT)
        return requests.post(self.url + path, **kw)

    def submit(self, **params):
        params.setdefault("prompt", "a photograph of an astronaut riding a horse")
        r = self.post("/v1/jobs", json=params)
        assert r.status_code == 202, r.text
        return r.json()

    def wait_state(self, job_id, states, timeout=TIMEOUT):
        """Polls the job until its state is one of `states`."""
        deadline = time.monotonic() + timeout
        while True:
            job = self.get("/v1/jobs/" + job_id).json()
            if job["state"] in states:
                return job
            if time.monotonic() > deadline:
                raise AssertionError("job %s stayed %s" % (job_id, job["state"]))
            time.sleep(0.02)


@pytest.fixture
def make_server(tmp_path):
    """Starts servers on demand (same --data for a restart); stops them all."""
    servers = []

    def make(args=(), data=None):
        server = Server(str(data or tmp_path), args).start()
        servers.append(server)
        return server

    yield make
    codes = []
    for server in servers:
        killed = server.proc.returncode is not None and server.proc.returncode < 0
        codes.append(None if killed else server.stop())
    for server, code in zip(servers, codes):
        server.check_log()
        assert code in (None, 0), "server exited %s" % code


@pytest.fixture(scope="session")
def server():
    """One shared server (previews on) for the tests that need nothing special."""
    with tempfile.TemporaryDirectory() as data:
        s = Server(data, ["--taesd", TAESD]).start()
        yield s
        assert s.stop() == 0
        s.check_log()


def sse_events(response):
    """Parses a text/event-stream response into (event, data) pairs, lazily."""
    event, data = None, []
    for raw in response.iter_lines(decode_unicode=True):
        if raw is None:
            continue
        if raw == "":
            if event or data:
                yield event, json.loads("\n".join(data)) if data else None
            event, data = None, []
        elif raw.startswith(":"):
            continue
        elif raw.startswith("event:"):
            event = raw[6:].strip()
        elif raw.startswith("data:"):
            data.append(raw[5:].strip())


@pytest.fixture(scope="session")
def steps_per_second(server):
    """The engine's speed here (release, ASan, a loaded machine differ by 30x),
    so tests that must catch a job running, then see it finish, size it."""
    job = server.submit(steps=40)
    done = server.wait_state(job["id"], ["completed"])
    return 40 / max(done["timings"]["run_seconds"], 1e-3)
