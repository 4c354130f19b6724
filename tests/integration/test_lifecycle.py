"""Reload and shutdown: SIGHUP applies a new configuration (and new keys) to new requests
without failing any request in flight; an invalid configuration is refused and the old
one kept; SIGTERM drains requests in flight, then exits cleanly."""

import json
import os
import signal
import socket
import threading
import time

import sgtest


def load(gateway, stop, results, errors):
    c = gateway.conn()
    while not stop.is_set():
        try:
            st, _, body = gateway.chat("load", conn=c) if False else gateway.request(
                "POST", "/v1/chat/completions", conn=c,
                body={"model": "assistant", "messages": [{"role": "user", "content": "load"}]})
            results.append(st)
        except Exception as e:  # noqa: BLE001 - any failure is a test failure
            errors.append(repr(e))
            c.close()
            c = gateway.conn()
    c.close()


def test_reload_under_load_drops_nothing(gateway, upstream):
    stop = threading.Event()
    results, errors = [], []
    threads = [threading.Thread(target=load, args=(gateway, stop, results, errors))
               for _ in range(4)]
    for t in threads:
        t.start()
    time.sleep(0.3)
    for i in range(5):
        mark = gateway.mark()
        cfg = json.loads(json.dumps(gateway.config))
        cfg["routes"].append({"model": f"new-{i}", "backends": ["b1"]})
        gateway.write_config(cfg)
        gateway.signal(signal.SIGHUP)
        gateway.wait_log(lambda j: j.get("event") == "reload" and j.get("generation") == i + 2,
                         since=mark)
        time.sleep(0.2)
    stop.set()
    for t in threads:
        t.join()
    assert errors == []
    assert len(results) > 50
    assert set(results) == {200}
    st, _, body = gateway.chat("new route", model="new-4")
    assert st == 200
    assert 'sovgate_config_reloads_total{result="ok"} 5' in gateway.get("/metrics")[2].decode()


def test_invalid_reload_keeps_the_running_config(gateway):
    gateway.write_config({"listen": "nonsense"})
    mark = gateway.mark()
    gateway.signal(signal.SIGHUP)
    gateway.wait_log(lambda j: j.get("event") == "reload" and "keeping" in j.get("msg", ""),
                     since=mark)
    assert gateway.chat("still here")[0] == 200
    # Every problem was logged with its position.
    assert any(j.get("event") == "config" and "sovgate.yaml:" in j.get("msg", "")
               for j in gateway.log_events()[mark:])
    assert 'sovgate_config_reloads_total{result="error"} 1' in gateway.get("/metrics")[2].decode()


def test_reload_refuses_keys_only_a_restart_can_change(make_gateway, upstream, workdir):
    """The audit trail, the Responses store, the user and the listener are set up once.
    A reload that changes one of them is refused whole, naming the key: applying the rest
    would run a mixture the operator never wrote (say, a new route but records still going
    to the old audit file)."""
    audit = os.path.join(workdir, "audit.db")
    g = make_gateway(backends=[{"name": "b1", "url": upstream.url}],
                     routes=[{"model": "assistant", "backends": ["b1"]}],
                     extra={"audit": {"path": audit}, "responses": {"ttl": "1h"}})
    changes = [
        ("audit.path", lambda c: c["audit"].update(path=os.path.join(workdir, "other.db"))),
        ("audit.checkpoint_every", lambda c: c["audit"].update(checkpoint_every=7)),
        ("responses.ttl", lambda c: c["responses"].update(ttl="2h")),
        ("responses.store", lambda c: c["responses"].update(
            store=os.path.join(workdir, "resp.db"), key="file:" + keyfile)),
        ("user", lambda c: c.update(user="nobody")),
        ("workers", lambda c: c.update(workers=3)),
    ]
    keyfile = os.path.join(workdir, "resp.key")
    with open(keyfile, "w") as f:
        f.write("k" * 40)
    for n, (key, change) in enumerate(changes):
        cfg = json.loads(json.dumps(g.config))
        cfg["routes"].append({"model": f"new-{n}", "backends": ["b1"]})
        change(cfg)
        g.write_config(cfg)
        mark = g.mark()
        g.signal(signal.SIGHUP)
        line = g.wait_log(lambda j: j.get("event") == "reload" and "keeping" in j.get("msg", ""),
                          since=mark)
        assert line["msg"].startswith(key + " cannot change on reload"), (key, line)
        assert g.chat("old config", model=f"new-{n}")[0] == 404  # nothing of it applied
        assert g.chat("still here")[0] == 200
    # the same file with only reloadable changes applies
    cfg = json.loads(json.dumps(g.config))
    cfg["routes"].append({"model": "late", "backends": ["b1"]})
    cfg["audit"]["digests"] = True
    g.write_config(cfg)
    mark = g.mark()
    g.signal(signal.SIGHUP)
    g.wait_log(lambda j: j.get("event") == "reload" and j.get("generation") == 2, since=mark)
    assert g.chat("new config", model="late")[0] == 200
    metrics = g.get("/metrics")[2].decode()
    assert f'sovgate_config_reloads_total{{result="error"}} {len(changes)}' in metrics


def test_keys_created_and_revoked_apply_on_reload(gateway):
    new = sgtest.run(["keys", "create", "--name", "late", "--db", gateway.db], check=True)
    key = new.stdout.strip()
    assert key.startswith("sg-") and "stored" in new.stderr
    body = {"model": "assistant", "messages": [{"role": "user", "content": "x"}]}
    assert gateway.request("POST", "/v1/chat/completions", body=body, key=key)[0] == 401
    mark = gateway.mark()
    gateway.signal(signal.SIGHUP)
    gateway.wait_log(lambda j: j.get("event") == "reload" and "generation" in j, since=mark)
    assert gateway.request("POST", "/v1/chat/completions", body=body, key=key)[0] == 200
    listing = sgtest.run(["keys", "list", "--db", gateway.db], check=True).stdout
    assert "late" in listing and key not in listing
    revoked = sgtest.run(["keys", "revoke", "--name", "late", "--db", gateway.db])
    assert revoked.returncode == 0 and "SIGHUP" in revoked.stderr
    # until the reload the running gateway still accepts it, as the reminder says
    assert gateway.request("POST", "/v1/chat/completions", body=body, key=key)[0] == 200
    mark = gateway.mark()
    gateway.signal(signal.SIGHUP)
    gateway.wait_log(lambda j: j.get("event") == "reload" and "generation" in j, since=mark)
    assert gateway.request("POST", "/v1/chat/completions", body=body, key=key)[0] == 401


def test_sigterm_drains_requests_in_flight(gateway):
    result = {}

    def slow_stream():
        # 40 words written in 4-byte pieces 20 ms apart: a couple of seconds.
        result["r"] = gateway.chat(" ".join(f"w{i}" for i in range(40)) +
                                   " [[fake:split=40]] [[fake:delay=20]]", stream=True)
    t = threading.Thread(target=slow_stream)
    t.start()
    time.sleep(0.4)
    gateway.signal(signal.SIGTERM)
    time.sleep(0.2)
    # New connections are refused while draining.
    refused = False
    try:
        s = socket.create_connection(("127.0.0.1", gateway.port), timeout=1)
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        refused = s.recv(100) == b""
        s.close()
    except OSError:
        refused = True
    assert refused
    t.join(30)
    st, _, body = result["r"]
    ev = sgtest.sse_events(body)
    assert st == 200 and ev[-1] == "[DONE]"
    assert sgtest.stream_text(ev).endswith("w39")
    assert gateway.proc.wait(10) == 0


def test_sigterm_closes_keepalive_connection_once_its_answer_is_out(make_gateway, upstream):
    # A keep-alive connection whose (large) answer was still being written when SIGTERM
    # came must close once the answer is out, not sit idle until timeouts.idle and hold
    # the whole drain up to timeouts.drain.
    g = make_gateway(backends=[{"name": "b1", "url": upstream.url}],
                     routes=[{"model": "assistant", "backends": ["b1"]}], tls=False,
                     extra={"timeouts": {"idle": "60s", "drain": "20s"}})
    body = json.dumps({"model": "assistant",
                       "messages": [{"role": "user", "content": "[[fake:words=1000000]]"}]})
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", g.port))
    s.sendall((f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
               f"{g.key}\r\nContent-Length: {len(body)}\r\n\r\n{body}").encode())
    time.sleep(1.5)  # the answer is complete at the gateway, most of it still queued
    t0 = time.time()
    g.signal(signal.SIGTERM)
    time.sleep(0.3)
    s.settimeout(30)
    data = b""
    length = None
    while length is None or len(data) < length:  # read the whole answer
        chunk = s.recv(1 << 20)
        assert chunk, "closed before the answer was out"
        data += chunk
        if length is None and b"\r\n\r\n" in data:
            head, data = data.split(b"\r\n\r\n", 1)
            assert head.startswith(b"HTTP/1.1 200 ")
            length = int(next(l.split(b":")[1] for l in head.split(b"\r\n")
                              if l.lower().startswith(b"content-length:")))
    t1 = time.time()
    s.settimeout(10)
    assert s.recv(1) == b""  # then the gateway closes the connection by itself ...
    s.close()
    assert time.time() - t1 < 3
    assert g.proc.wait(10) == 0  # ... and exits long before the drain deadline
    assert time.time() - t0 < 19
