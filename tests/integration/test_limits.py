"""Limits and hostile clients: header and body deadlines (slowloris), header size, idle
keep-alive, connection caps, pipelining, smuggling attempts over a real socket, garbage,
and 10,000 concurrent idle connections."""

import json
import os
import random
import re
import resource
import selectors
import socket
import subprocess
import sys
import threading
import time

import pytest

import sgtest


def plain_gateway(make_gateway, upstream, **extra):
    return make_gateway(backends=[{"name": "b1", "url": upstream.url}],
                        routes=[{"model": "assistant", "backends": ["b1"]}], tls=False,
                        extra=extra)


def read_all(s, timeout=5):
    s.settimeout(timeout)
    data = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    except (socket.timeout, ConnectionResetError):
        pass
    return data


def test_slowloris_head_and_body_deadlines(make_gateway, upstream):
    g = plain_gateway(make_gateway, upstream, timeouts={"header": "1s", "body": "1s"})
    s = socket.create_connection(("127.0.0.1", g.port))
    t0 = time.time()
    for b in b"GET /healthz HTTP/1.1\r\nHo":  # a byte every 100 ms: never completes in time
        try:
            s.sendall(bytes([b]))
        except OSError:
            break
        time.sleep(0.1)
        if time.time() - t0 > 3:
            break
    data = read_all(s, 3)
    assert data.startswith(b"HTTP/1.1 408") or data == b""
    assert time.time() - t0 < 4
    s.close()
    # A body that never completes.
    s = socket.create_connection(("127.0.0.1", g.port))
    s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
              g.key.encode() + b"\r\nContent-Length: 100\r\n\r\n{\"model\"")
    t0 = time.time()
    data = read_all(s, 3)
    assert data.startswith(b"HTTP/1.1 408"), data[:80]
    assert time.time() - t0 < 2.5
    # Meanwhile everyone else is served.
    assert g.get("/healthz")[0] == 200


def test_stuck_clients_do_not_block_others(make_gateway, upstream):
    g = plain_gateway(make_gateway, upstream)
    stuck = []
    for _ in range(50):
        s = socket.create_connection(("127.0.0.1", g.port))
        s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n")
        stuck.append(s)
    t0 = time.time()
    for _ in range(20):
        assert g.chat("x")[0] == 200
    assert time.time() - t0 < 2
    for s in stuck:
        s.close()


def test_header_too_large(make_gateway, upstream):
    g = plain_gateway(make_gateway, upstream, limits={"max_header": "4KiB"})
    st, h, body = g.request("GET", "/healthz", headers={"X-Big": "a" * 5000}, key="")
    assert st == 431
    s = socket.create_connection(("127.0.0.1", g.port))
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"X: y\r\n" * 2000)
    assert read_all(s).startswith(b"HTTP/1.1 431")


def test_idle_keepalive_closed(make_gateway, upstream):
    g = plain_gateway(make_gateway, upstream, timeouts={"idle": "300ms"})
    s = socket.create_connection(("127.0.0.1", g.port))
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    s.settimeout(3)
    first = s.recv(4096)
    assert first.startswith(b"HTTP/1.1 200")
    t0 = time.time()
    assert s.recv(4096) == b""  # closed by the gateway
    assert 0.2 < time.time() - t0 < 2


def test_pipelined_requests_answered_in_order(make_gateway, upstream):
    g = plain_gateway(make_gateway, upstream)
    body = json.dumps({"model": "assistant", "messages": [{"role": "user", "content": "p"}]})
    one = (f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {g.key}\r\n"
           f"Content-Length: {len(body)}\r\n\r\n{body}").encode()
    s = socket.create_connection(("127.0.0.1", g.port))
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n" + one * 3 +
              b"GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    data = read_all(s)
    statuses = [int(x) for x in re.findall(rb"HTTP/1\.1 (\d{3}) ", data)]
    assert statuses == [200, 200, 200, 200, 404]


@pytest.mark.parametrize("raw,status", [
    (b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
     b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    (b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
     b"Content-Length: 6\r\n\r\nhello!", 400),
    (b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n", 501),
    (b"GET /healthz HTTP/1.1\nHost: x\n\n", 400),
    (b"GET /healthz\x00 HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + os.urandom(64) + b"\r\n\r\n", 400),
    (b"GET /healthz HTTP/3.0\r\nHost: x\r\n\r\n", 505),
])
def test_hostile_requests(make_gateway, upstream, raw, status):
    g = plain_gateway(make_gateway, upstream)
    s = socket.create_connection(("127.0.0.1", g.port))
    s.sendall(raw)
    data = read_all(s)
    assert data.startswith(b"HTTP/1.1 %d" % status), data[:100]
    assert b"\r\nConnection: close\r\n" in data
    j = json.loads(data.split(b"\r\n\r\n", 1)[1])
    assert set(j["error"]) == {"message", "type", "param", "code"}
    assert g.get("/healthz")[0] == 200


def test_random_garbage_never_crashes(make_gateway, upstream):
    g = plain_gateway(make_gateway, upstream)
    rnd = random.Random(1234)
    for i in range(200):
        s = socket.create_connection(("127.0.0.1", g.port))
        n = rnd.choice([1, 10, 100, 1000, 20000])
        blob = bytes(rnd.getrandbits(8) for _ in range(n))
        if i % 3 == 0:
            blob = b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n" + blob
        try:
            s.sendall(blob)
            s.shutdown(socket.SHUT_WR)
            read_all(s, 1)
        except OSError:
            pass
        s.close()
    assert g.get("/healthz")[0] == 200
    assert g.proc.poll() is None


def served(socks):
    """How many of the open sockets get an answer to GET /healthz (the others were closed
    by the gateway's connection cap)."""
    alive = 0
    for s in socks:
        try:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            s.settimeout(2)
            if s.recv(100).startswith(b"HTTP/1.1 200"):
                alive += 1
        except OSError:
            pass
    return alive


def test_max_connections(make_gateway, upstream):
    g = plain_gateway(make_gateway, upstream, limits={"max_connections": 20})
    socks = [socket.create_connection(("127.0.0.1", g.port)) for _ in range(30)]
    time.sleep(0.3)
    assert served(socks) == 20
    for s in socks:
        s.close()
    time.sleep(0.2)
    assert g.get("/healthz")[0] == 200


def test_max_connections_burst(make_gateway, upstream):
    """Bursts of 40 connections from 8 threads at once against max_connections 20, 30
    times, with two busy processes on the cores: never more than 20 are served. Both
    workers accept, and a limit checked before it was counted let one over now and then
    (21, seen in CI and here under load)."""
    g = plain_gateway(make_gateway, upstream, limits={"max_connections": 20})
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)]
    worst = 0
    try:
        for _ in range(30):
            start = threading.Barrier(8)
            socks, lock = [], threading.Lock()

            def burst():
                start.wait()
                mine = []
                for _ in range(5):
                    try:
                        mine.append(socket.create_connection(("127.0.0.1", g.port)))
                    except OSError:
                        pass
                with lock:
                    socks.extend(mine)
            threads = [threading.Thread(target=burst) for _ in range(8)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            time.sleep(0.2)
            worst = max(worst, served(socks))
            for s in socks:
                s.close()
            time.sleep(0.3)
    finally:
        for h in hogs:
            h.kill()
            h.wait()
    assert 0 < worst <= 20, worst
    assert g.get("/healthz")[0] == 200

def test_ten_thousand_idle_connections(make_gateway, upstream):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard < 10300:
        pytest.skip(f"this machine allows only {hard} open files per process")
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    # Capacity, not deadlines: on a busy machine opening 10,000 connections can take longer
    # than the default 10 s a new connection gets for its first request.
    g = plain_gateway(make_gateway, upstream, timeouts={"header": "5m", "idle": "5m"})
    base_rss = g.rss_kb()
    socks = []
    try:
        for i in range(10000):
            s = socket.socket()
            s.setblocking(True)
            s.connect(("127.0.0.1", g.port))
            socks.append(s)
        time.sleep(0.5)
        assert g.proc.poll() is None
        # All idle connections are alive: each answers a request.
        sel = selectors.DefaultSelector()
        for s in socks:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            s.setblocking(False)
            sel.register(s, selectors.EVENT_READ)
        ok = 0
        deadline = time.time() + 60
        while ok < len(socks) and time.time() < deadline:
            for key, _ in sel.select(1):
                data = key.fileobj.recv(4096)
                if data.startswith(b"HTTP/1.1 200"):
                    ok += 1
                sel.unregister(key.fileobj)
        assert ok == 10000
        # And a new client is still served, quickly.
        t0 = time.time()
        assert g.chat("still fine")[0] == 200
        assert time.time() - t0 < 1
        grown = (g.rss_kb() - base_rss) / 1024
        # ASan makes every allocation larger; the release build is measured in bench/.
        assert grown < 200, grown
    finally:
        for s in socks:
            s.close()


def test_unauthenticated_endpoints_read_no_body(make_gateway, upstream):
    # /healthz, /readyz and /metrics need no key: a body sent to them would let anyone make
    # the gateway buffer up to limits.max_body per connection. It is refused at once, in the
    # OpenAI error shape, without waiting for (or reading) the body.
    g = plain_gateway(make_gateway, upstream, timeouts={"body": "5s"})
    for path in (b"/healthz", b"/readyz", b"/metrics"):
        for framing in (b"Content-Length: 4000000\r\n", b"Transfer-Encoding: chunked\r\n"):
            s = socket.create_connection(("127.0.0.1", g.port))
            s.sendall(b"GET " + path + b" HTTP/1.1\r\nHost: x\r\n" + framing + b"\r\n")
            t0 = time.time()
            data = read_all(s, 3)
            s.close()
            assert data.startswith(b"HTTP/1.1 413 "), (path, data[:100])
            assert time.time() - t0 < 1
            assert b"\r\nConnection: close\r\n" in data
            j = json.loads(data.split(b"\r\n\r\n", 1)[1])
            assert set(j["error"]) == {"message", "type", "param", "code"}
            assert j["error"]["code"] == "body_not_allowed"
    # without a body (or with an empty one) they answer as before
    s = socket.create_connection(("127.0.0.1", g.port))
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
    assert read_all(s).startswith(b"HTTP/1.1 200 ")
    s.close()
    assert g.get("/healthz")[0] == 200


def test_leading_empty_lines_before_a_request(make_gateway, upstream):
    # RFC 9112 2.2: empty lines before a request line are ignored (some clients send CRLF
    # after a body). Two of them must not be taken for the end of an empty head.
    g = plain_gateway(make_gateway, upstream)
    s = socket.create_connection(("127.0.0.1", g.port))
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n\r\n\r\n\r\n"
              b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    data = read_all(s)
    assert re.findall(rb"HTTP/1\.1 (\d{3}) ", data) == [b"200", b"200"], data[:300]
    s = socket.create_connection(("127.0.0.1", g.port))
    s.sendall(b"\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert read_all(s).startswith(b"HTTP/1.1 200 ")
