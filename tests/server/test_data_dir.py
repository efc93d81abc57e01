"""The data directory (issue 10, items 4 and 6): what `diffuse serve` and
`diffuse keys` create there is private to the user running them (0700
directories, 0600 files: prompts, key hashes and images), a looser existing
directory is reported at start-up, and one server at a time owns it."""
import glob
import os
import signal
import stat
import subprocess
import time

from conftest import BINARY, MODEL, TIMEOUT


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def start(data, log, *args):
    """A server on `data` (which may not exist yet), its stderr in `log`."""
    proc = subprocess.Popen([BINARY, "serve", "-m", MODEL, "--listen", "127.0.0.1:0", "--data",
                             str(data), "-t", "2"] + list(args),
                            stdout=subprocess.PIPE, stderr=open(log, "ab"))
    line = proc.stdout.readline()
    assert b"listening on" in line, open(log, "rb").read()[-2000:]
    return proc, line.split(b"listening on ")[1].split()[0].decode()


def stop(proc):
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=TIMEOUT) == 0


def run_job(url):
    import requests
    job = requests.post(url + "/v1/jobs", json={"prompt": "a private prompt", "steps": 2,
                                               "width": 64, "height": 64, "n": 2},
                        timeout=TIMEOUT).json()
    deadline = time.monotonic() + TIMEOUT
    while requests.get(url + "/v1/jobs/" + job["id"], timeout=TIMEOUT).json()["state"] != \
            "completed":
        assert time.monotonic() < deadline, "job did not complete"
        time.sleep(0.05)


def test_files_are_private(tmp_path):
    data = tmp_path / "data"
    old = os.umask(0o022)  # the usual umask, which made everything 0644/0755
    try:
        proc, url = start(data, tmp_path / "log")
        try:
            run_job(url)
            files = [str(data / "diffuse.db"), str(data / "diffuse.db-wal"),
                     str(data / "diffuse.db-shm")]
            images = glob.glob(str(data / "images" / "*"))
            assert len(images) == 2, images
            for path in files + images:
                assert mode(path) == 0o600, "%s is %o" % (path, mode(path))
            for path in (str(data), str(data / "images")):
                assert mode(path) == 0o700, "%s is %o" % (path, mode(path))
            # Every other file the server made there too.
            for path in glob.glob(str(data / "**"), recursive=True):
                if os.path.isfile(path):
                    assert mode(path) & 0o077 == 0, "%s is %o" % (path, mode(path))
        finally:
            stop(proc)
        # `diffuse keys create` making a fresh directory: private as well.
        fresh = tmp_path / "fresh"
        subprocess.run([BINARY, "keys", "create", "--name", "k", "--data", str(fresh)],
                       check=True, capture_output=True)
        assert mode(str(fresh)) == 0o700 and mode(str(fresh / "diffuse.db")) == 0o600
    finally:
        os.umask(old)


def test_group_umask_does_not_share(tmp_path):
    """A umask that lets the group read (027) still gets private files; one
    that is stricter keeps its own bits (open and mkdir apply it)."""
    data = tmp_path / "data"
    old = os.umask(0o027)
    try:
        proc, url = start(data, tmp_path / "log")
        try:
            run_job(url)
        finally:
            stop(proc)
    finally:
        os.umask(old)
    for path in glob.glob(str(data / "**"), recursive=True):
        assert mode(path) & 0o077 == 0, "%s is %o" % (path, mode(path))


def test_loose_directory_is_reported(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    os.chmod(str(data), 0o755)
    log = tmp_path / "log"
    proc, _ = start(data, log)
    stop(proc)
    text = open(log, encoding="utf-8", errors="replace").read()
    assert str(data) in text and "0755" in text and "chmod 700" in text, text
    # A private directory: no such line.
    os.chmod(str(data), 0o700)
    log2 = tmp_path / "log2"
    proc, _ = start(data, log2)
    stop(proc)
    assert "chmod 700" not in open(log2, encoding="utf-8", errors="replace").read()


def test_second_server_on_the_same_directory_exits_1(tmp_path):
    data = tmp_path / "data"
    proc, url = start(data, tmp_path / "log")
    try:
        second = subprocess.run([BINARY, "serve", "-m", MODEL, "--listen", "127.0.0.1:0",
                                 "--data", str(data), "-t", "2"],
                                capture_output=True, text=True, timeout=TIMEOUT)
        assert second.returncode == 1, second.stderr
        assert str(data) in second.stderr and "another" in second.stderr, second.stderr
        assert "listening on" not in second.stdout
        # The first one is unharmed, and the CLI still shares the directory.
        import requests
        assert requests.get(url + "/healthz", timeout=TIMEOUT).status_code == 200
        out = subprocess.run([BINARY, "keys", "create", "--name", "k", "--data", str(data)],
                             capture_output=True, text=True, timeout=TIMEOUT)
        assert out.returncode == 0, out.stderr
        out = subprocess.run([BINARY, "usage", "--data", str(data)], capture_output=True,
                             text=True, timeout=TIMEOUT)
        assert out.returncode == 0, out.stderr
    finally:
        stop(proc)
    # Once it stopped, the directory is free again.
    proc, _ = start(data, tmp_path / "log")
    stop(proc)
