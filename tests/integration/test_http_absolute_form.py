"""Request targets in absolute-form (RFC 9112 3.2.2), over a real TLS connection: an
http(s) URI is answered exactly as the equivalent origin-form target, its Host field
ignored; userinfo, other schemes, malformed authorities, fragments, the authority-form and
the asterisk-form are refused with a 400 in the OpenAI error shape."""

import json
import socket

import pytest

import sgtest


def exchange(g, target, method="GET", key=None, host="evil.example", body=None):
    """One request with the raw `target` on a fresh connection; returns (status, headers
    (lower-case names), body bytes)."""
    head = f"{method} {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n"
    if key:
        head += f"Authorization: Bearer {key}\r\n"
    data = body.encode() if body is not None else b""
    if body is not None:
        head += f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n"
    s = g.raw_socket()
    s.sendall(head.encode() + b"\r\n" + data)
    resp = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            resp += chunk
    except (socket.timeout, ConnectionResetError):
        pass
    s.close()
    top, _, rest = resp.partition(b"\r\n\r\n")
    lines = top.decode("latin-1").split("\r\n")
    assert lines[0].startswith("HTTP/1.1 "), resp[:100]
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    n = int(headers.get("content-length", len(rest)))
    return int(lines[0].split()[1]), headers, rest[:n]


def error_of(body):
    j = json.loads(body)
    assert set(j) == {"error"}
    assert set(j["error"]) == {"message", "type", "param", "code"}
    return j["error"]


def test_absolute_form_answers_as_origin_form(gateway):
    g = gateway
    base = f"https://127.0.0.1:{g.port}"
    st_o, _, body_o = exchange(g, "/v1/models", key=g.key)
    assert st_o == 200
    for target in (base + "/v1/models", f"HTTPS://gateway.example:{g.port}/v1/models",
                   f"http://[::1]:{g.port}/v1/models/", base + "/v1/models?x=1"):
        st, _, body = exchange(g, target, key=g.key)
        assert st == 200, (target, body)
        assert json.loads(body) == json.loads(body_o)
    # authentication is not bypassed
    st, _, body = exchange(g, base + "/v1/models")
    assert st == 401
    assert error_of(body)
    # a proxied request is routed by its path
    st, _, body = exchange(g, base + "/v1/chat/completions", method="POST", key=g.key,
                           body=json.dumps({"model": "assistant",
                                            "messages": [{"role": "user", "content": "hi"}]}))
    assert st == 200, body
    assert json.loads(body)["object"] == "chat.completion"
    # the path is taken as it is, as in origin-form: no route through dot segments
    for path in ("/..//v1/models", "//v1/models", "/v1/%6dodels"):
        st_o, _, body_o = exchange(g, path, key=g.key)
        st, _, body = exchange(g, "http://x" + path, key=g.key)
        assert st == st_o == 404, (path, body)
        assert error_of(body) == error_of(body_o)
    # an empty path is "/"
    st, _, body = exchange(g, f"http://h:{g.port}", key=g.key)
    assert st == 404
    assert "GET /)" in error_of(body)["message"]


@pytest.mark.parametrize("target,method,status,words", [
    ("http://alice:secretpw@h/v1/models", "GET", 400, "userinfo"),
    ("https://secretpw@127.0.0.1/v1/models", "GET", 400, "userinfo"),
    ("ftp://h/v1/models", "GET", 400, "scheme"),
    ("http:/v1/models", "GET", 400, "authority"),
    ("http:///v1/models", "GET", 400, "host"),
    ("http://h:99999999/v1/models", "GET", 400, "port"),
    ("http://[::1/v1/models", "GET", 400, "IPv6"),
    ("http://h/v1/models#secretpw", "GET", 400, "fragment"),
    ("gateway.example:443", "CONNECT", 400, "CONNECT"),
    ("*", "OPTIONS", 400, "asterisk"),
    ("http://h/" + "a" * 20000, "GET", 431, "too large"),
])
def test_absolute_form_refused(gateway, target, method, status, words):
    st, hd, body = exchange(gateway, target, method=method, key=gateway.key)
    assert st == status, body
    assert hd.get("connection") == "close"
    e = error_of(body)
    assert e["type"] == "invalid_request_error"
    assert words in e["message"]
    assert "secretpw" not in e["message"] and "alice" not in e["message"]
    assert gateway.get("/healthz")[0] == 200
