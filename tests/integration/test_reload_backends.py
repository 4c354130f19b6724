"""Reload and the backends' health states: a state lives while a configuration in use (a
snapshot, kept by the requests in flight on it), the health checker or an engine refers to
it, so a gateway reloaded many times with new backend names and URLs holds only the states
of what it runs (sovgate_backend_states), while a reload that keeps a backend keeps its
state: a backend marked down stays down."""

import json
import re
import signal
import threading
import time


def answered_by(body):
    return json.loads(body)["choices"][0]["message"]["content"].split("]")[0][1:]


def states(g):
    m = re.search(r"^sovgate_backend_states (\d+)$", g.get("/metrics")[2].decode(), re.M)
    assert m, "sovgate_backend_states is not in /metrics"
    return int(m.group(1))


def wait_states(g, want, timeout=5):
    deadline = time.time() + timeout
    n = states(g)
    while n != want and time.time() < deadline:
        time.sleep(0.05)
        n = states(g)
    assert n == want, f"sovgate_backend_states is {n}, not {want}"


def reload(g, generation):
    g.write_config()
    mark = g.mark()
    g.signal(signal.SIGHUP)
    g.wait_log(lambda j: j.get("event") == "reload" and j.get("generation") == generation,
               since=mark)


def stop_cleanly(g):
    """Stops the gateway (LSan runs at exit under ASan) and checks that every holder had
    released its backend states by then."""
    assert g.stop() == 0
    left = [l for l in g.log_events("backend_registry")]
    assert left == [], left


def test_reloads_with_new_backends_keep_the_registry_bounded(make_gateway, upstream):
    """200 reloads, each with a backend of a new name and a new URL next to a steady one:
    the registry ends with the two backends configured, not 201."""
    g = make_gateway(backends=[{"name": "steady", "url": upstream.url},
                               {"name": "gen0", "url": upstream.url + "/g0"}],
                     routes=[{"model": "assistant", "backends": ["steady", "gen0"]}],
                     tls=False, workers=1)
    assert states(g) == 2
    n = 200
    for i in range(1, n + 1):
        g.config["backends"][1] = {"name": f"gen{i}", "url": f"{upstream.url}/g{i}"}
        g.config["routes"][0]["backends"] = ["steady", f"gen{i}"]
        reload(g, i + 1)
        if i % 50 == 0:
            assert states(g) <= 3  # the health checker may not have installed the new set yet
    wait_states(g, 2)
    st, _, body = g.chat("still here")
    assert st == 200 and answered_by(body) == "up1"
    assert f'sovgate_config_reloads_total{{result="ok"}} {n}' in g.get("/metrics")[2].decode()
    stop_cleanly(g)


def test_a_backend_down_stays_down_across_a_reload_that_keeps_it(make_gateway, make_upstream):
    u1, u2 = make_upstream("up1"), make_upstream("up2")
    backends = [{"name": "b1", "url": u1.url, "health_path": "/health"},
                {"name": "b2", "url": u2.url, "health_path": "/health"}]
    g = make_gateway(backends=backends, routes=[{"model": "assistant", "backends": ["b1", "b2"]}],
                     tls=False)
    g.wait_ready()
    u1.control(health="down")
    g.wait_log(lambda j: j.get("event") == "backend_health" and j.get("backend") == "b1"
               and j.get("to") == "down")
    # A reload that keeps b1 (same name and URL) and changes the rest, several times.
    for gen in range(2, 6):
        mark = g.mark()
        g.config["backends"] = backends + [{"name": f"extra{gen}", "url": u2.url + f"/x{gen}"}]
        g.config["routes"][0]["aliases"] = [f"alias{gen}"]
        reload(g, gen)
        assert 'sovgate_backend_up{backend="b1"} 0' in g.get("/metrics")[2].decode()
        before = len(u1.api_requests())
        for _ in range(3):
            st, _, body = g.chat("hi")
            assert st == 200 and answered_by(body) == "up2"
        assert len(u1.api_requests()) == before  # not even tried: still down
        # b1 was never forgotten (no new UNKNOWN state that a probe would move)
        assert not [j for j in g.log_events()[mark:]
                    if j.get("event") == "backend_health" and j.get("backend") == "b1"
                    and j.get("from") == "unknown"]
    wait_states(g, 3)  # b1, b2 and the last extra backend
    # the health checker still probes the kept state: b1 comes back
    mark = g.mark()
    u1.control(health="up")
    g.wait_log(lambda j: j.get("event") == "backend_health" and j.get("backend") == "b1"
               and j.get("to") == "up", timeout=10, since=mark)
    st, _, body = g.chat("hi")
    assert answered_by(body) == "up1"
    stop_cleanly(g)


def test_a_request_in_flight_keeps_the_state_of_a_backend_a_reload_removed(make_gateway,
                                                                          upstream):
    """A request keeps the snapshot it started with, and the snapshot its backends' states:
    the renamed backend's state goes when the request ends, not before."""
    g = make_gateway(backends=[{"name": "old", "url": upstream.url}],
                     routes=[{"model": "assistant", "backends": ["old"]}], tls=False, workers=1)
    assert states(g) == 1
    res = {}

    def slow():
        res["r"] = g.chat("slow [[fake:stall=2000]]")
    t = threading.Thread(target=slow)
    t.start()
    deadline = time.time() + 5
    while not upstream.api_requests() and time.time() < deadline:
        time.sleep(0.02)
    assert upstream.api_requests(), "the request did not reach the backend"
    g.config["backends"] = [{"name": "new", "url": upstream.url}]
    g.config["routes"][0]["backends"] = ["new"]
    reload(g, 2)
    wait_states(g, 2)  # "new", and "old" held by the snapshot of the request in flight
    t.join(15)
    st, _, body = res["r"]
    assert st == 200 and answered_by(body) == "up1"
    wait_states(g, 1)
    st, _, body = g.chat("after")
    assert st == 200
    stop_cleanly(g)
