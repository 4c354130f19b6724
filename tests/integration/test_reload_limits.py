"""Reload and the size and time limits: a SIGHUP that changes `limits` or `timeouts` applies
to the next request on a keep-alive connection opened before it (not only to connections
accepted afterwards), a request already started keeps the limits it started with, and the
Responses store sizes its records from the limits of the request that writes them."""

import json
import os
import signal
import socket
import time

import pytest

KEY = "c3" * 32  # test fixture: 64 hex digits, a throwaway store key


def gateway_with(make_gateway, upstream, workdir, limits, timeouts=None, responses=False):
    """A plaintext gateway with one worker, so that a probe on a new connection shows that
    the worker holding the old connection has applied a reload too."""
    extra = {"limits": dict(limits), "timeouts": dict(timeouts or {})}
    if responses:
        key = os.path.join(workdir, "responses.key")
        with open(key, "w") as f:
            f.write(KEY + "\n")
        extra["responses"] = {"store": os.path.join(workdir, "responses.db"),
                              "key": "file:" + key}
    return make_gateway(backends=[{"name": "b1", "url": upstream.url}],
                        routes=[{"model": "assistant", "backends": ["b1"]}], tls=False,
                        workers=1, extra=extra)


def reload(g, section, **values):
    g.config[section].update(values)
    g.write_config()
    mark = g.mark()
    g.signal(signal.SIGHUP)
    g.wait_log(lambda j: j.get("event") == "reload" and "generation" in j, since=mark)


def wait_until(probe, timeout=5):
    deadline = time.time() + timeout
    while not probe():
        assert time.time() < deadline, "the reload was not applied"
        time.sleep(0.05)


def head_request(pad):
    return (b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * pad + b"\r\n\r\n")


def read_response(s, timeout=10):
    """Reads one Content-Length response; returns (status, head bytes, body bytes) and
    leaves the connection usable. Status 0: the connection closed first."""
    s.settimeout(timeout)
    data = b""
    try:
        while b"\r\n\r\n" not in data:
            chunk = s.recv(65536)
            if not chunk:
                return 0, data, b""
            data += chunk
        head, body = data.split(b"\r\n\r\n", 1)
        n = int(next(l.split(b":", 1)[1] for l in head.split(b"\r\n")
                     if l.lower().startswith(b"content-length:")))
        while len(body) < n:
            chunk = s.recv(65536)
            if not chunk:
                break
            body += chunk
    except (socket.timeout, ConnectionResetError):
        return 0, data, b""
    return int(head.split(b" ")[1]), head, body


def status_on_new_connection(g, pad):
    s = socket.create_connection(("127.0.0.1", g.port))
    try:
        s.sendall(head_request(pad))
        return read_response(s)[0]
    except OSError:
        return 0
    finally:
        s.close()


def keepalive(g):
    """A connection that has already been answered once and is kept open."""
    s = socket.create_connection(("127.0.0.1", g.port))
    s.sendall(head_request(10))
    st, head, _ = read_response(s)
    assert st == 200 and b"Connection: close" not in head
    return s


@pytest.mark.parametrize("before,after,pad,status", [
    # raised: the old connection had read no further than the old ceiling plus its slack
    ("4KiB", "256KiB", 150_000, 200),
    # lowered
    ("64KiB", "4KiB", 20_000, 431),
])
def test_reloaded_max_header_applies_to_open_keepalive_connections(
        make_gateway, upstream, workdir, before, after, pad, status):
    g = gateway_with(make_gateway, upstream, workdir, {"max_header": before},
                     {"header": "2s", "idle": "30s"})
    s = keepalive(g)
    reload(g, "limits", max_header=after)
    wait_until(lambda: status_on_new_connection(g, pad) == status)
    try:
        s.sendall(head_request(pad))
    except OSError:
        pass  # the gateway stopped reading and closed: read_response says 0
    got, head, body = read_response(s)
    assert got == status, (head, body[:200])
    s.close()


def test_request_in_flight_keeps_the_max_header_it_started_with(make_gateway, upstream, workdir):
    g = gateway_with(make_gateway, upstream, workdir, {"max_header": "32KiB"},
                     {"header": "10s", "idle": "30s"})
    s = keepalive(g)
    whole = head_request(20_000)
    s.sendall(whole[:12_000])  # more than the new ceiling, less than the old one
    time.sleep(0.3)
    reload(g, "limits", max_header="4KiB")
    wait_until(lambda: status_on_new_connection(g, 8_000) == 431)
    s.sendall(whole[12_000:])
    got, head, body = read_response(s)
    assert got == 200, (head, body[:200])
    # the next request on it follows the new ceiling
    s.sendall(head_request(8_000))
    assert read_response(s)[0] == 431
    s.close()


def test_reloaded_write_timeout_applies_to_open_keepalive_connections(
        make_gateway, upstream, workdir):
    """timeouts.write raised: an old connection whose client stops reading for longer than
    the old timeout still gets its whole answer."""
    g = gateway_with(make_gateway, upstream, workdir, {}, {"write": "300ms", "idle": "30s"})
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # the gateway's output backs up
    s.connect(("127.0.0.1", g.port))
    s.sendall(head_request(10))
    assert read_response(s)[0] == 200
    reload(g, "timeouts", write="30s")
    time.sleep(0.3)  # one worker: its letter is read in a moment
    body = json.dumps({"model": "assistant",
                       "messages": [{"role": "user", "content": "[[fake:words=1000000]]"}]})
    s.sendall((f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
               f"Authorization: Bearer {g.key}\r\nContent-Length: {len(body)}\r\n\r\n{body}")
              .encode())
    time.sleep(1.5)  # not reading
    got, head, answer = read_response(s, timeout=30)
    assert got == 200, head
    n = int(next(l.split(b":", 1)[1] for l in head.split(b"\r\n")
                 if l.lower().startswith(b"content-length:")))
    assert len(answer) == n
    assert json.loads(answer)["choices"][0]["message"]["content"].endswith("w999999")
    s.close()


# ---- the Responses store ----

def responses_create(g, body):
    st, _, raw = g.request("POST", "/v1/responses", body=body)
    try:
        return st, json.loads(raw)
    except ValueError:
        return st, raw


def output_text(resp):
    return "".join(p["text"] for it in resp["output"] if it["type"] == "message"
                   for p in it["content"] if p["type"] == "output_text")


def test_responses_record_cap_follows_reloaded_limits(make_gateway, upstream, workdir):
    # record cap at start: 4 * 16 KiB + 2 * 16 KiB + 64 KiB = 160 KiB
    g = gateway_with(make_gateway, upstream, workdir,
                     {"max_body": "16KiB", "max_response": "16KiB"}, responses=True)
    big = "[[fake:words=3]] " + "lorem " * 40_000  # 240 kB: over the old cap
    assert responses_create(g, {"model": "assistant", "input": big})[0] == 413
    reload(g, "limits", max_body="512KiB")  # cap now 2 MiB + 96 KiB
    wait_until(lambda: responses_create(g, {"model": "assistant", "input": big})[0] == 200)
    mark = g.mark()
    st, r1 = responses_create(g, {"model": "assistant", "input": big})
    assert st == 200, r1
    assert output_text(r1) == "w0 w1 w2"
    st, _, got = g.request("GET", f"/v1/responses/{r1['id']}")
    assert st == 200, got
    assert output_text(json.loads(got)) == "w0 w1 w2"
    st, r2 = responses_create(g, {"model": "assistant", "previous_response_id": r1["id"],
                                  "input": "and then?"})
    assert st == 200, r2
    assert output_text(r2) == "[up1] and then?"
    sent = json.loads(upstream.api_requests()[-1]["body"])
    assert [m["role"] for m in sent["messages"]] == ["user", "assistant", "user"]
    assert len(sent["messages"][0]["content"]) > 200_000
    assert g.request("GET", f"/v1/responses/{r2['id']}")[0] == 200
    assert not [j for j in g.log_events()[mark:]
                if j.get("event") == "responses_store" and j.get("error")]
    # lowered again: the larger records already stored still read back whole; continuing
    # one is refused as too long for the new limits, not served from a cut record
    reload(g, "limits", max_body="16KiB")
    wait_until(lambda: responses_create(g, {"model": "assistant", "input": big})[0] == 413)
    st, _, got = g.request("GET", f"/v1/responses/{r2['id']}")
    assert st == 200, got
    assert output_text(json.loads(got)) == "[up1] and then?"
    st, err = responses_create(g, {"model": "assistant", "previous_response_id": r2["id"],
                                   "input": "more"})
    assert st == 400 and err["error"]["code"] == "conversation_too_large", err
    st, r3 = responses_create(g, {"model": "assistant", "input": "small"})
    assert st == 200 and g.request("GET", f"/v1/responses/{r3['id']}")[0] == 200
