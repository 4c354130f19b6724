"""The OpenAI-compatible endpoints through a real TLS gateway in front of the fake
upstream: answers, routing by alias, keys, and the error shape for every failure."""

import json

import sgtest


def error_of(body):
    j = json.loads(body)
    assert set(j) == {"error"}
    assert set(j["error"]) == {"message", "type", "param", "code"}
    return j["error"]


def test_chat_non_streaming(gateway, upstream):
    st, h, body = gateway.chat("Hello there", model="gpt-4o-mini")
    assert st == 200, body
    j = json.loads(body)
    assert j["object"] == "chat.completion"
    assert j["choices"][0]["message"]["content"] == "[up1] Hello there"
    assert j["model"] == "gpt-4o-mini"  # the public name, not the backend's
    assert j["usage"]["total_tokens"] > 0
    assert len(h["x-request-id"]) >= 16
    # The backend got its own model name and the full request.
    sent = json.loads(upstream.api_requests()[-1]["body"])
    assert sent["model"] == "assistant"
    assert sent["messages"] == [{"role": "user", "content": "Hello there"}]
    # The client's key never reaches the backend.
    rec = upstream.api_requests()[-1]
    assert gateway.key not in json.dumps(rec)


def test_chat_streaming(gateway):
    st, h, body = gateway.chat("one two three", stream=True)
    assert st == 200
    assert h["content-type"] == "text/event-stream"
    assert h["transfer-encoding"] == "chunked"
    ev = sgtest.sse_events(body)
    assert ev[-1] == "[DONE]"
    assert sgtest.stream_text(ev) == "[up1] one two three"
    # Usage was not asked for, so no chunk carries it.
    assert all("usage" not in json.loads(e) for e in ev[:-1])


def test_stream_include_usage(gateway):
    st, _, body = gateway.chat("a b", stream=True, stream_options={"include_usage": True})
    ev = sgtest.sse_events(body)
    usage = [json.loads(e) for e in ev[:-1] if json.loads(e).get("usage")]
    assert len(usage) == 1 and usage[0]["choices"] == []
    assert usage[0]["usage"]["completion_tokens"] == 3


def test_completions_and_embeddings(gateway, upstream):
    st, _, body = gateway.post("/v1/completions", {"model": "assistant", "prompt": "Say hi"})
    assert st == 200
    assert json.loads(body)["choices"][0]["text"] == "[up1] Say hi"
    st, _, body = gateway.post("/v1/completions", {"model": "assistant", "prompt": "x y",
                                                   "stream": True})
    assert st == 200 and sgtest.sse_events(body)[-1] == "[DONE]"
    st, _, body = gateway.post("/v1/embeddings", {"model": "embed", "input": ["a", "b"]})
    assert st == 200, body
    j = json.loads(body)
    assert len(j["data"]) == 2 and len(j["data"][0]["embedding"]) == 8
    assert j["model"] == "embed"
    assert json.loads(upstream.api_requests()[-1]["body"])["model"] == "fake-embed"


def test_models_lists_what_the_client_may_use(make_gateway, upstream):
    g = make_gateway(backends=[{"name": "b1", "url": upstream.url}],
                     routes=[{"model": "assistant", "aliases": ["gpt-4o-mini"], "backends": ["b1"]},
                             {"model": "secret-model", "backends": ["b1"]}],
                     clients={"limited": ["assistant"], "admin": None})
    st, _, body = g.get("/v1/models", key=g.keys["limited"])
    assert st == 200
    ids = sorted(m["id"] for m in json.loads(body)["data"])
    assert ids == ["assistant", "gpt-4o-mini"]
    st, _, body = g.get("/v1/models", key=g.keys["admin"])
    assert sorted(m["id"] for m in json.loads(body)["data"]) == ["assistant", "gpt-4o-mini",
                                                                "secret-model"]
    # The limited key is refused the other model with 403.
    st, _, body = g.request("POST", "/v1/chat/completions", key=g.keys["limited"],
                            body={"model": "secret-model",
                                  "messages": [{"role": "user", "content": "x"}]})
    assert st == 403
    assert error_of(body)["code"] == "model_not_allowed"


def test_key_headers(gateway):
    body = {"model": "assistant", "messages": [{"role": "user", "content": "x"}]}
    for hdr in ({"x-api-key": gateway.key}, {"api-key": gateway.key},
                {"Authorization": "bearer " + gateway.key}):
        st, _, _ = gateway.request("POST", "/v1/chat/completions", body=body, key="",
                                   headers=hdr)
        assert st == 200, hdr


def test_conflicting_key_headers(gateway):
    """Two different keys in one request are refused, whichever is valid: which one counts
    would be a guess, and a proxy in front may have checked the other."""
    body = {"model": "assistant", "messages": [{"role": "user", "content": "x"}]}
    for hdr in ({"x-api-key": "sg-other"}, {"api-key": "sg-other"},
                {"x-goog-api-key": "sg-other"}):
        st, _, b = gateway.request("POST", "/v1/chat/completions", body=body, headers=hdr)
        assert st == 401 and error_of(b)["code"] == "conflicting_api_keys", hdr
        assert b"sg-other" not in b and gateway.key.encode() not in b
    # the valid key second: refused as well, not taken because it is valid
    st, _, b = gateway.request("POST", "/v1/chat/completions", body=body, key="sg-other",
                               headers={"x-api-key": gateway.key})
    assert st == 401 and error_of(b)["code"] == "conflicting_api_keys"
    # the same key twice is one key
    st, _, _ = gateway.request("POST", "/v1/chat/completions", body=body,
                               headers={"x-api-key": gateway.key, "api-key": gateway.key})
    assert st == 200
    # two Authorization headers with different keys (http.client sends both as given)
    s = gateway.raw_socket()
    data = json.dumps(body).encode()
    s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
              b"Authorization: Bearer " + gateway.key.encode() + b"\r\n"
              b"Authorization: Bearer sg-other\r\nContent-Type: application/json\r\n"
              b"Content-Length: " + str(len(data)).encode() + b"\r\n\r\n" + data)
    resp = b""
    while chunk := s.recv(65536):
        resp += chunk
    s.close()
    assert resp.startswith(b"HTTP/1.1 401") and b"conflicting_api_keys" in resp
    # an Authorization header of another scheme is not a key
    st, _, _ = gateway.request("POST", "/v1/chat/completions", body=body, key="",
                               headers={"Authorization": "Basic dXNlcjpwYXNz",
                                        "x-api-key": gateway.key})
    assert st == 200


def test_auth_errors(gateway):
    body = {"model": "assistant", "messages": [{"role": "user", "content": "x"}]}
    st, _, b = gateway.request("POST", "/v1/chat/completions", body=body, key="")
    assert st == 401 and error_of(b)["code"] == "missing_api_key"
    st, _, b = gateway.request("POST", "/v1/chat/completions", body=body, key="sg-wrong")
    assert st == 401 and error_of(b)["code"] == "invalid_api_key"
    assert "sg-wrong" not in b.decode()
    st, _, b = gateway.get("/v1/models", key="")
    assert st == 401
    # Unauthenticated requests are refused before their body is read.
    st, h, b = gateway.request("POST", "/v1/chat/completions", body="x" * 100000, key="bad")
    assert st == 401


def test_request_errors(gateway):
    st, _, b = gateway.post("/v1/chat/completions", '{"model": "assistant",')
    e = error_of(b)
    assert st == 400 and e["code"] == "invalid_json" and "byte offset" in e["message"]
    st, _, b = gateway.post("/v1/chat/completions", b'{"model": "\xff", "messages": []}')
    assert st == 400 and error_of(b)["code"] == "invalid_utf8"
    st, _, b = gateway.post("/v1/chat/completions",
                            {"model": "assistant", "messages": [{"role": "user", "content": 1}]})
    assert st == 400 and error_of(b)["param"] == "messages[0].content"
    st, _, b = gateway.post("/v1/chat/completions",
                            {"model": "assistant", "messages": "hi"})
    assert st == 400 and error_of(b)["param"] == "messages"
    st, _, b = gateway.chat("x", model="gpt-9-ultra")
    assert st == 404 and error_of(b)["code"] == "model_not_found"
    st, _, b = gateway.post("/v1/images/generations", {"model": "assistant", "prompt": "x"})
    assert st == 404 and error_of(b)["code"] == "endpoint_not_served"
    st, _, b = gateway.post("/v1/no/such/thing", {"model": "assistant", "prompt": "x"})
    assert st == 404 and error_of(b)["code"] == "unknown_url"
    st, _, b = gateway.request("GET", "/v1/chat/completions")
    assert st == 405
    st, _, b = gateway.post("/v1/embeddings", {"model": "embed", "input": "x", "stream": True})
    assert st == 400


def test_body_too_large(make_gateway, upstream):
    g = make_gateway(backends=[{"name": "b1", "url": upstream.url}],
                     routes=[{"model": "assistant", "backends": ["b1"]}],
                     extra={"limits": {"max_body": "64KiB"}})
    big = json.dumps({"model": "assistant",
                      "messages": [{"role": "user", "content": "x" * 70000}]})
    st, h, b = g.post("/v1/chat/completions", big)
    assert st == 413 and h.get("connection") == "close"
    # The same through chunked transfer coding, where the size is only known while reading.
    s = g.raw_socket()
    head = ("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
            f"{g.key}\r\nTransfer-Encoding: chunked\r\n\r\n").encode()
    s.sendall(head)
    data = big.encode()
    for i in range(0, len(data), 8192):
        part = data[i:i + 8192]
        try:
            s.sendall(b"%x\r\n" % len(part) + part + b"\r\n")
        except OSError:
            break
    resp = s.recv(4096)
    assert resp.startswith(b"HTTP/1.1 413"), resp[:100]
    s.close()
    # A body under the limit in chunks of one byte is accepted.
    small = json.dumps({"model": "assistant", "messages": [{"role": "user", "content": "ok"}]})
    s = g.raw_socket()
    s.sendall(head + b"".join(b"1\r\n" + bytes([c]) + b"\r\n" for c in small.encode()) +
              b"0\r\n\r\n")
    resp = b""
    while b"\r\n\r\n" not in resp or not resp.rstrip().endswith(b"}"):
        chunk = s.recv(65536)
        if not chunk:
            break
        resp += chunk
    assert resp.startswith(b"HTTP/1.1 200"), resp[:200]
    assert b"[up1] ok" in resp
    s.close()


def test_health_ready_metrics(gateway):
    st, _, b = gateway.get("/healthz")
    assert st == 200 and json.loads(b)["status"] == "ok"
    gateway.wait_ready()
    gateway.chat("x")
    st, h, b = gateway.get("/metrics")
    assert st == 200 and h["content-type"].startswith("text/plain")
    text = b.decode()
    assert 'sovgate_requests_total{route="/v1/chat/completions",status="200",client="shop"}' in text
    assert "sovgate_request_duration_seconds_bucket" in text
    assert 'sovgate_upstream_ttfb_seconds_count{backend="b1"}' in text
    assert "sovgate_requests_in_flight" in text
    assert 'sovgate_received_bytes_total{route="/v1/chat/completions"}' in text
    assert 'sovgate_sent_bytes_total{route="/v1/chat/completions"}' in text
    assert 'sovgate_backend_up{backend="b1"} 1' in text


def test_request_log_lines(gateway):
    gateway.chat("my secret prompt text", model="gpt-4o-mini")
    line = gateway.wait_log(lambda j: j.get("event") == "request" and
                            j.get("route") == "/v1/chat/completions")
    for field in ("request_id", "client", "route", "model", "backend", "status", "duration_ms"):
        assert field in line, field
    assert line["client"] == "shop" and line["backend"] == "b1" and line["status"] == 200
    everything = "\n".join(gateway.logs)
    assert "secret prompt" not in everything
    assert gateway.key not in everything
