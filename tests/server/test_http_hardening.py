"""The HTTP layer under hostile or careless clients (issue 10, items 5, 6, 7,
11 and 18): forwarded headers trusted only from --trust-proxy addresses, a
port in use is a start-up error, idle connections cannot lock health probes
out, malformed requests get one status line and a JSON body, and stderr is
one JSON object per line."""
import json
import os
import selectors
import socket
import subprocess
import threading
import time

import pytest
import requests

from conftest import BINARY, MODEL, TIMEOUT


def host_port(server):
    host, port = server.url[len("http://"):].split(":")
    return host, int(port)


def image_url(server, headers):
    r = server.post("/v1/images/generations", headers=headers,
                    json={"prompt": "a cat", "size": "16x16", "steps": 2,
                          "response_format": "url"})
    assert r.status_code == 200, r.text
    return r.json()["data"][0]["url"]


FORWARDED = {"X-Forwarded-Host": "images.example", "X-Forwarded-Proto": "https"}


# -- item 5: X-Forwarded-* only from trusted proxies --------------------------

def test_forwarded_headers_ignored_without_trust_proxy(make_server):
    s = make_server()
    url = image_url(s, FORWARDED)
    assert url.startswith(s.url + "/v1/images/files/"), url


def test_forwarded_headers_used_from_a_trusted_proxy(make_server):
    s = make_server(["--trust-proxy", "10.0.0.0/8,127.0.0.1/32,::1/128"])
    url = image_url(s, FORWARDED)
    assert url.startswith("https://images.example/v1/images/files/"), url
    # Without the headers: the Host the request reached, as before.
    assert image_url(s, {}).startswith(s.url + "/v1/images/files/")


def test_forwarded_headers_ignored_from_other_addresses(make_server):
    s = make_server(["--trust-proxy", "10.0.0.0/8,fd00::/8,127.0.0.2/32"])
    url = image_url(s, FORWARDED)
    assert url.startswith(s.url + "/v1/images/files/"), url


@pytest.mark.parametrize("cidr", ["300.1.1.1/8", "10.0.0.0/33", "abc", "::1/129", "10.0.0.0/8,",
                                  "10.0.0.0/8,,::1", "10.0.0.0/x", ""])
def test_malformed_trust_proxy_is_a_start_up_error(tmp_path, cidr):
    r = subprocess.run([BINARY, "serve", "-m", MODEL, "--listen", "127.0.0.1:0", "--data",
                        str(tmp_path), "--trust-proxy", cidr],
                       capture_output=True, text=True, timeout=TIMEOUT)
    assert r.returncode == 1, (cidr, r.returncode, r.stdout, r.stderr)
    assert "--trust-proxy" in r.stderr and "listening" not in r.stdout, r.stderr


# -- item 6: a port in use ----------------------------------------------------

def test_port_in_use_is_a_start_up_error(make_server, tmp_path):
    s = make_server()
    host, port = host_port(s)
    other = tmp_path / "other"
    other.mkdir()
    proc = subprocess.Popen([BINARY, "serve", "-m", MODEL, "--listen", "%s:%d" % (host, port),
                             "--data", str(other)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        out, err = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        pytest.fail("a second server started on a port in use")
    assert proc.returncode == 1, (proc.returncode, out, err)
    assert "%s:%d" % (host, port) in err and "in use" in err, err
    assert "loaded model" not in err, err  # it fails before loading a model
    assert s.get("/healthz").status_code == 200  # the first one is untouched


# -- item 7: idle connections do not lock everyone out ------------------------

def idle_flood(address, count, seconds, stop):
    """Keeps `count` idle sockets open to `address`, reconnecting each one the
    server closes, for at most `seconds`. Returns how many connects it made."""
    selector = selectors.DefaultSelector()
    connects = 0
    deadline = time.monotonic() + seconds

    def connect():
        nonlocal connects
        connects += 1
        try:
            sock = socket.create_connection(address, timeout=2)
        except OSError:
            return
        sock.setblocking(False)
        selector.register(sock, selectors.EVENT_READ)

    for _ in range(count):
        connect()
    while time.monotonic() < deadline and not stop.is_set() and connects < 50000:
        for key, _ in selector.select(timeout=0.1):
            try:
                data = key.fileobj.recv(4096)
            except OSError:
                data = b""
            if not data:
                selector.unregister(key.fileobj)
                key.fileobj.close()
                time.sleep(0.005)  # bounded, yet keeps up the pressure
                connect()
        while len(selector.get_map()) < count and connects < 50000:
            time.sleep(0.005)
            connect()
    for key in list(selector.get_map().values()):
        key.fileobj.close()
    selector.close()
    return connects


def probe(url, source):
    """GET /healthz from the loopback address `source`."""
    session = requests.Session()
    adapter = requests.adapters.HTTPAdapter()
    adapter.init_poolmanager(1, 1, source_address=(source, 0))
    session.mount("http://", adapter)
    try:
        return session.get(url + "/healthz", timeout=5,
                           headers={"Connection": "close"}).status_code
    except requests.RequestException as e:
        return repr(e)
    finally:
        session.close()


def test_idle_connections_do_not_lock_out_health_probes(make_server):
    s = make_server(["--header-timeout", "2", "--access-log", "off"])
    log_path = os.path.join(s.data, "server.log")
    log_before = os.path.getsize(log_path)
    stop = threading.Event()
    result = {}
    flood = threading.Thread(target=lambda: result.update(
        connects=idle_flood(host_port(s), 80, 12, stop)))
    flood.start()
    statuses = []
    try:
        time.sleep(1)  # the flood holds what it can
        end = time.monotonic() + 8
        while time.monotonic() < end:
            statuses.append(probe(s.url, "127.0.0.2"))
            time.sleep(0.2)
    finally:
        stop.set()
        flood.join(timeout=TIMEOUT)
    assert statuses and all(status == 200 for status in statuses), statuses
    assert result["connects"] > 80  # the server did close (or refuse) the flood
    # Refusals are counted, and logged at most once per interval.
    text = s.get("/metrics").text
    refused = [line for line in text.splitlines()
               if line.startswith("diffuse_http_connections_refused_total{")]
    assert refused and sum(float(line.rsplit(" ", 1)[1]) for line in refused) > 0, refused
    with open(log_path, "rb") as f:
        f.seek(log_before)
        logged = f.read()
    assert len(logged) < 20000 and logged.count(b"\n") < 40, logged[-3000:]
    # And the server is fine afterwards, from the flooding address too.
    deadline = time.monotonic() + TIMEOUT
    while probe(s.url, "127.0.0.1") != 200:
        assert time.monotonic() < deadline
        time.sleep(0.2)


def seconds_until_closed(address, parts, pause):
    """Sends `parts` with `pause` seconds between them; the seconds until the
    server closed the connection, and what it answered."""
    sock = socket.create_connection(address, timeout=TIMEOUT * 2)
    start = time.monotonic()
    reply = b""
    try:
        for part in parts:
            sock.sendall(part)
            time.sleep(pause)
        while True:
            chunk = sock.recv(4096)
            if not chunk:
                break
            reply += chunk
    except (BrokenPipeError, ConnectionResetError):
        pass
    finally:
        sock.close()
    return time.monotonic() - start, reply


def test_request_line_timeout(make_server):
    s = make_server(["--request-line-timeout", "1", "--header-timeout", "60"])
    # Silent: closed after the request-line timeout, not the header timeout.
    took, reply = seconds_until_closed(host_port(s), [], 0)
    assert took < 30 and reply == b"", (took, reply)
    # Once the request line is in, the headers have the header timeout.
    took, reply = seconds_until_closed(
        host_port(s), [b"GET /healthz HTTP/1.1\r\n", b"Host: x\r\nConnection: close\r\n\r\n"],
        2.5)
    assert reply.startswith(b"HTTP/1.1 200 "), (took, reply)


def test_half_closed_incomplete_request_is_dropped(make_server):
    # A client that stops sending mid-head can never complete it: closed at
    # once rather than held (and re-examined) until the header timeout.
    s = make_server(["--request-line-timeout", "60", "--header-timeout", "60"])
    sock = socket.create_connection(host_port(s), timeout=TIMEOUT)
    start = time.monotonic()
    try:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        sock.shutdown(socket.SHUT_WR)
        try:
            assert sock.recv(4096) == b""
        except ConnectionResetError:
            pass  # closed with its bytes unread: a reset, as good as a close here
    finally:
        sock.close()
    assert time.monotonic() - start < 30
    assert s.get("/healthz").status_code == 200


def test_per_address_limit_flag(make_server):
    s = make_server(["--max-connections", "8", "--max-connections-per-address", "2"])
    address = host_port(s)
    held = [socket.create_connection(address, timeout=TIMEOUT) for _ in range(2)]
    try:
        third = socket.create_connection(address, timeout=TIMEOUT)
        third.settimeout(TIMEOUT)
        reply = b""
        try:
            while True:
                chunk = third.recv(4096)
                if not chunk:
                    break
                reply += chunk
        except ConnectionResetError:
            pass
        third.close()
        assert reply.startswith(b"HTTP/1.1 503 "), reply  # refused at once, politely
        assert reply.count(b"HTTP/1.") == 1
        body = json.loads(reply.split(b"\r\n\r\n", 1)[1])
        assert body["error"]["code"] == "too_many_connections"
        assert probe(s.url, "127.0.0.2") == 200  # another address still gets in
    finally:
        for sock in held:
            sock.close()
    r = subprocess.run([BINARY, "serve", "--max-connections-per-address", "0"],
                       capture_output=True, text=True, timeout=TIMEOUT)
    assert r.returncode == 2 and "--max-connections-per-address" in r.stderr
    assert "unrecognized" not in r.stderr, r.stderr


def test_finished_connections_make_room(make_server):
    # Clients that got their answer and keep their sockets open do not hold
    # the slots: every response closes its connection, so with every slot
    # once taken a new request still gets in at once.
    s = make_server(["--max-connections", "2", "--max-connections-per-address", "10",
                     "--header-timeout", "30", "--idle-timeout", "300"])
    held = []
    try:
        for _ in range(2):
            sock = socket.create_connection(host_port(s), timeout=TIMEOUT)
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            reply = b""
            while b'{"status":"ok"}' not in reply:
                chunk = sock.recv(4096)
                assert chunk, reply
                reply += chunk
            held.append(sock)
        start = time.monotonic()
        assert probe(s.url, "127.0.0.1") == 200
        assert time.monotonic() - start < 20
    finally:
        for sock in held:
            sock.close()


# -- item 11: the library's own errors are JSON too ---------------------------

def raw_exchange(address, data):
    """Sends `data` and reads until the server closes (or TIMEOUT)."""
    sock = socket.create_connection(address, timeout=TIMEOUT)
    reply = b""
    try:
        sock.sendall(data)
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            reply += chunk
    except (ConnectionResetError, BrokenPipeError):
        pass
    finally:
        sock.close()
    return reply


MALFORMED = [
    (b"GARBAGE\r\n\r\n", 400),
    (b"GET / HTTP/1.1 extra\r\nHost: x\r\n\r\n", 400),
    (b"GET /healthz HTTP/1.x\r\nHost: x\r\n\r\n", 400),
    (b"GET /healthz HTTP/2.0\r\nHost: x\r\n\r\n", 505),
    (b"GET /healthz HTTP/1.1\r\nHost: x\r\nNo colon here\r\n\r\n", 400),
    (b"GET /healthz HTTP/1.1\r\nHost: x\r\n folded: header\r\n\r\n", 400),
    (b"GET /" + b"a" * 100000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
    (b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100000 + b"\r\n\r\n", 431),
    (b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"X-Many: a\r\n" * 5000 + b"\r\n", 431),
    (b"POST /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", 400),
    (b"POST /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n", 400),
    (b"POST /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
     400),
    (b"POST /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n",
     413),
    (b"POST /v1/jobs HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 400),
    # Chunked bodies, well or badly framed, are refused before MHD parses them.
    (b"POST /v1/jobs HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
     b"2\r\n{}\r\n0\r\n\r\n", 411),
    (b"POST /v1/jobs HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
     b"zz\r\n{}\r\n", 411),
]


@pytest.mark.parametrize("data,status", MALFORMED, ids=range(len(MALFORMED)))
def test_malformed_requests_get_one_json_error(server, data, status):
    reply = raw_exchange(host_port(server), data)
    assert reply.startswith(b"HTTP/1.1 %d " % status), reply[:300]
    head, body = reply.split(b"\r\n\r\n", 1)
    assert head.count(b"HTTP/1.") == 1 and not body.startswith(b"HTTP/"), reply[:600]
    assert b"content-type: application/json" in head.lower(), head
    length = int([line.split(b":")[1] for line in head.split(b"\r\n")
                  if line.lower().startswith(b"content-length:")][0])
    assert len(body) == length, (head, body)
    error = json.loads(body)["error"]
    assert error["message"] and error["type"], error
    assert server.get("/healthz").status_code == 200


def test_malformed_request_errors_use_the_family_shape(server):
    reply = raw_exchange(host_port(server), b"POST /v1/images/generations HTTP/1.1\r\nHost: x"
                         b"\r\nX-Big: " + b"a" * 100000 + b"\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 431 "), reply[:300]
    error = json.loads(reply.split(b"\r\n\r\n", 1)[1])["error"]
    assert "param" in error  # OpenAI's shape has param (null here)
    reply = raw_exchange(host_port(server), b"POST /sdapi/v1/txt2img HTTP/1.1\r\nHost: x\r\n"
                         b"Content-Length: -5\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 400 "), reply[:300]
    body = json.loads(reply.split(b"\r\n\r\n", 1)[1])
    assert body["error"] == "HTTPException" and body["detail"], body  # A1111's shape


def test_every_request_passes_the_gate(server):
    # One request per connection: a response says "Connection: close" and the
    # server closes the socket after it, so a second request (pipelined in the
    # same packet, or sent after the answer) never reaches libmicrohttpd's own
    # parser, which would answer a malformed one with an HTML page.
    reply = raw_exchange(host_port(server), b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
                         b"GET /healthz HTTP/1.1 extra\r\nHost: x\r\n\r\n")
    head, body = reply.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 200 ") and b"connection: close" in head.lower(), reply
    assert body == b'{"status":"ok"}' or body.startswith(b'{"status":"ok"'), reply
    assert b"<html" not in reply.lower() and reply.count(b"HTTP/1.1 ") == 1, reply
    # The same malformed request on a connection of its own: the gate's JSON.
    reply = raw_exchange(host_port(server), b"GET /healthz HTTP/1.1 extra\r\nHost: x\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 400 ") and b"application/json" in reply, reply
    # And a client library that keeps sessions (requests) just reconnects.
    with requests.Session() as session:
        for _ in range(3):
            r = session.get(server.url + "/healthz", timeout=TIMEOUT)
            assert r.status_code == 200 and r.headers["Connection"] == "close"


# -- item 18: stderr is one JSON object per line ------------------------------

def test_stderr_lines_are_json(make_server):
    s = make_server(["--max-connections-per-address", "1"])
    raw_exchange(host_port(s), b"GARBAGE\r\n\r\n")
    held = socket.create_connection(host_port(s), timeout=TIMEOUT)
    raw_exchange(host_port(s), b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")  # refused
    held.close()
    deadline = time.monotonic() + TIMEOUT
    while probe(s.url, "127.0.0.1") != 200:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert s.stop() == 0
    with open(os.path.join(s.data, "server.log"), encoding="utf-8") as f:
        lines = [line for line in f.read().splitlines() if line.strip()]
    messages = []
    for line in lines:
        entry = json.loads(line)  # every line, access log and messages alike
        assert isinstance(entry, dict) and entry.get("time"), line
        if "message" in entry:
            assert entry["level"] in ("info", "warning", "error"), entry
            messages.append(entry["message"])
    assert any("loaded model" in m for m in messages), messages
    assert any("connection" in m and "refused" in m for m in messages), messages
    assert any(m.endswith("stopped") for m in messages), messages
