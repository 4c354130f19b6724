"""Backends and routes: failover to the next backend while nothing has been sent to the
client, active health checks, readiness, and what the client sees when every backend is
down."""

import json
import time

import sgtest


def two_backend_gateway(make_gateway, u1, u2, **kw):
    # Health checks use /health, which the fake's "fail" control leaves alone, so that a
    # backend answering 5xx to requests stays in rotation (as a real one would).
    return make_gateway(backends=[{"name": "b1", "url": u1.url, "health_path": "/health"},
                                  {"name": "b2", "url": u2.url, "health_path": "/health"}],
                        routes=[{"model": "assistant", "backends": ["b1", "b2"]}], **kw)


def answered_by(body):
    return json.loads(body)["choices"][0]["message"]["content"].split("]")[0][1:]


def test_failover_when_first_backend_refuses_connections(make_gateway, make_upstream):
    u1, u2 = make_upstream("up1"), make_upstream("up2")
    g = two_backend_gateway(make_gateway, u1, u2)
    u1.stop()
    for _ in range(5):
        st, _, body = g.chat("hi")
        assert st == 200 and answered_by(body) == "up2"
    text = g.get("/metrics")[2].decode()
    assert 'sovgate_backend_up{backend="b1"} 0' in text


def test_failover_on_5xx_including_streams(make_gateway, make_upstream):
    u1, u2 = make_upstream("up1"), make_upstream("up2")
    g = two_backend_gateway(make_gateway, u1, u2)
    g.wait_ready()
    u1.control(fail=500)
    st, _, body = g.chat("hi")
    assert st == 200 and answered_by(body) == "up2"
    st, _, body = g.chat("x y", stream=True)
    assert st == 200
    ev = sgtest.sse_events(body)
    assert sgtest.stream_text(ev) == "[up2] x y" and ev[-1] == "[DONE]"
    line = g.wait_log(lambda j: j.get("event") == "request" and j.get("attempts") == 2)
    assert line["backend"] == "b2"
    assert 'sovgate_failovers_total{route="/v1/chat/completions"}' in g.get("/metrics")[2].decode()
    # A 5xx is not "down": the backend stays in rotation and answers once it recovers.
    u1.control(fail=0)
    st, _, body = g.chat("hi")
    assert answered_by(body) == "up1"


def test_failover_when_stream_breaks_before_first_event(make_gateway, make_upstream):
    u1, u2 = make_upstream("up1"), make_upstream("up2")
    g = two_backend_gateway(make_gateway, u1, u2)
    u1.control(directives="disconnect_after=0")
    st, _, body = g.chat("a b c", stream=True)
    assert st == 200
    assert sgtest.stream_text(sgtest.sse_events(body)) == "[up2] a b c"


def test_no_failover_once_the_stream_has_started(make_gateway, make_upstream):
    u1, u2 = make_upstream("up1"), make_upstream("up2")
    g = two_backend_gateway(make_gateway, u1, u2)
    st, _, body = g.chat("a b c d [[fake:disconnect_after=2]]", stream=True)
    ev = sgtest.sse_events(body)
    assert json.loads(ev[-1])["error"]["code"] == "upstream_error"
    assert u2.api_requests() == []


def test_client_errors_are_passed_through_not_failed_over(make_gateway, make_upstream):
    u1, u2 = make_upstream("up1"), make_upstream("up2")
    g = two_backend_gateway(make_gateway, u1, u2)
    st, h, body = g.chat("x [[fake:status=429]]")
    assert st == 429 and h["retry-after"] == "1"
    e = json.loads(body)["error"]
    assert set(e) == {"message", "type", "param", "code"}
    st, _, body = g.chat("x [[fake:status=400]]")
    assert st == 400
    assert u2.api_requests() == []


def test_invalid_backend_answer_is_502(gateway):
    st, _, body = gateway.chat("x [[fake:garbage=1]]")
    assert st == 502 and json.loads(body)["error"]["code"] == "upstream_error"


def test_all_backends_down_is_503_with_retry_after(make_gateway, make_upstream):
    u1, u2 = make_upstream("up1"), make_upstream("up2")
    g = two_backend_gateway(make_gateway, u1, u2)
    g.wait_ready()
    u1.stop()
    u2.stop()
    st, h, body = g.chat("hi")
    assert st == 503
    assert int(h["retry-after"]) >= 1
    e = json.loads(body)["error"]
    assert e["code"] == "backend_unavailable" and e["type"] == "server_error"
    st, h, body = g.chat("hi", stream=True)
    assert st == 503
    # Readiness follows the backends.
    deadline = time.time() + 5
    while g.get("/readyz")[0] != 503 and time.time() < deadline:
        time.sleep(0.05)
    st, _, body = g.get("/readyz")
    assert st == 503 and "assistant" in json.loads(body)["reason"]
    assert g.get("/healthz")[0] == 200  # alive, just not ready


def test_health_checks_take_a_backend_out_and_back(make_gateway, make_upstream):
    u1, u2 = make_upstream("up1"), make_upstream("up2")
    g = two_backend_gateway(make_gateway, u1, u2)
    g.wait_ready()
    u1.control(health="down")
    g.wait_log(lambda j: j.get("event") == "backend_health" and j.get("backend") == "b1"
               and j.get("to") == "down")
    before = len(u1.api_requests())
    for _ in range(5):
        st, _, body = g.chat("hi")
        assert answered_by(body) == "up2"
    assert len(u1.api_requests()) == before  # not even tried while down
    mark = g.mark()
    u1.control(health="up")
    g.wait_log(lambda j: j.get("event") == "backend_health" and j.get("backend") == "b1"
               and j.get("to") == "up", timeout=10, since=mark)
    st, _, body = g.chat("hi")
    assert answered_by(body) == "up1"


def test_unix_socket_backend(make_gateway, make_upstream, workdir):
    u = make_upstream("sock", unix=f"{workdir}/up.sock")
    g = make_gateway(backends=[{"name": "local", "url": u.url, "health_path": "/health"}],
                     routes=[{"model": "assistant", "backends": ["local"]}])
    st, _, body = g.chat("over a socket")
    assert st == 200 and answered_by(body) == "sock"
    g.wait_ready()
