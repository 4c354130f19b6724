"""Per-client and global limits (guard.*): requests and tokens per minute, requests in
flight, the exfiltration guard (distinct personal values per window) and the prompt size.
Limits are exact across worker threads; refusals are 429 (413 for the prompt size) in
OpenAI's shape with Retry-After, counted in metrics, and reach no backend."""

import json
import threading

import pytest

import sgtest


def make(make_gateway, upstream, guard, clients=None, workers=2):
    return make_gateway(backends=[{"name": "b1", "url": upstream.url}],
                        routes=[{"model": "assistant", "backends": ["b1"]}],
                        clients=clients, workers=workers, extra={"guard": guard})


def parallel(g, n, text="hi", key=None):
    out = [None] * n

    def one(i):
        body = {"model": "assistant", "messages": [{"role": "user", "content": text}]}
        st, h, b = g.post("/v1/chat/completions", body, key=key)
        out[i] = (st, h, b)
    ts = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return out


def test_requests_per_minute_exact_across_workers(make_gateway, upstream):
    g = make(make_gateway, upstream, {"clients": [{"name": "*", "requests_per_minute": 10}]})
    res = parallel(g, 30)
    ok = [r for r in res if r[0] == 200]
    limited = [r for r in res if r[0] == 429]
    # 10 per minute refill one every 6 s: the test takes far less
    assert len(ok) in (10, 11), [r[0] for r in res]
    assert len(ok) + len(limited) == 30
    err = json.loads(limited[0][2])["error"]
    assert err["code"] == "rate_limit_exceeded" and "requests_per_minute" in err["message"]
    assert int(limited[0][1]["retry-after"]) >= 1
    assert len(upstream.api_requests()) == len(ok)
    st, _, m = g.get("/metrics")
    assert (f'sovgate_limited_requests_total{{client="shop",limit="requests_per_minute"}} '
            f'{len(limited)}') in m.decode()


def test_client_entry_overrides_default_and_global_cap(make_gateway, upstream):
    g = make(make_gateway, upstream,
             {"clients": [{"name": "*", "requests_per_minute": 2},
                          {"name": "big", "requests_per_minute": 100}],
              "global": {"requests_per_minute": 5}},
             clients={"small": None, "big": None})
    st = [g.post("/v1/chat/completions",
                 {"model": "assistant", "messages": [{"role": "user", "content": "x"}]},
                 key=g.keys["small"])[0] for _ in range(3)]
    assert st == [200, 200, 429]
    st = [g.post("/v1/chat/completions",
                 {"model": "assistant", "messages": [{"role": "user", "content": "x"}]},
                 key=g.keys["big"])[0] for _ in range(4)]
    # the global cap of 5 per minute: 2 + 3
    assert st == [200, 200, 200, 429]


def test_concurrent_requests(make_gateway, upstream):
    g = make(make_gateway, upstream, {"clients": [{"name": "*", "concurrent": 2}]})
    res = parallel(g, 5, text="slow [[fake:stall=700]]")
    assert sorted(r[0] for r in res) == [200, 200, 429, 429, 429]
    # in flight again after they finished
    assert g.chat("again")[0] == 200


def test_tokens_per_minute(make_gateway, upstream):
    g = make(make_gateway, upstream, {"clients": [{"name": "*", "tokens_per_minute": 30}]})
    words = " ".join(f"w{i}" for i in range(40))
    st, _, body = g.chat(words)  # the bucket is full: admitted, then usage puts it in debt
    assert st == 200
    st, h, body = g.chat("short")
    assert st == 429 and "tokens_per_minute" in json.loads(body)["error"]["message"]
    assert int(h["retry-after"]) >= 1


def test_streamed_tokens_count(make_gateway, upstream):
    g = make(make_gateway, upstream, {"clients": [{"name": "*", "tokens_per_minute": 30}]})
    st, _, body = g.chat(" ".join(f"w{i}" for i in range(40)), stream=True)
    assert st == 200 and sgtest.sse_events(body)[-1] == "[DONE]"
    assert g.chat("short")[0] == 429


def test_exfiltration_guard(make_gateway, upstream):
    g = make(make_gateway, upstream, {"clients": [{"name": "*", "distinct_personal": 3,
                                                   "window": "1h"}]})
    for i in range(3):
        assert g.chat(f"customer{i}@example.com ordered")[0] == 200
    # values already seen do not count again
    assert g.chat("customer0@example.com and customer2@example.com")[0] == 200
    st, h, body = g.chat("customer9@example.com ordered")
    assert st == 429
    err = json.loads(body)["error"]
    assert err["code"] == "exfiltration_guard" and "customer9" not in body.decode()
    assert int(h["retry-after"]) > 60
    # refused requests record nothing: the same value is still refused, nothing went out
    assert g.chat("customer9@example.com again")[0] == 429
    assert len(upstream.api_requests()) == 4
    # public text is not affected
    assert g.chat("Write about tea.")[0] == 200
    st, _, m = g.get("/metrics")
    assert 'sovgate_limited_requests_total{client="shop",limit="distinct_personal"} 2' in \
        m.decode()


def test_prompt_size(make_gateway, upstream):
    g = make(make_gateway, upstream, {"clients": [{"name": "*", "max_prompt": "100"}]})
    assert g.chat("x" * 90)[0] == 200
    st, _, body = g.chat("x" * 101)
    assert st == 413 and json.loads(body)["error"]["code"] == "prompt_too_large"


@pytest.mark.parametrize("guard,msg", [
    ({"clients": [{"requests_per_minute": 5}]}, "name is required"),
    ({"clients": [{"name": "*", "requests_per_minute": -1}]}, "must be between 0"),
    ({"clients": [{"name": "*", "rpm": 5}]}, "unknown key"),
    ({"clients": [{"name": "*", "window": "5"}]}, "expected a duration"),
    ({"clients": [{"name": "a"}, {"name": "a"}]}, "has two entries"),
    ({"global": {"tokens_per_minute": 5}}, "unknown key"),
    ({"clients": "all"}, "expected a list"),
])
def test_bad_guard_config(workdir, upstream, guard, msg):
    g = sgtest.Gateway(workdir, backends=[{"name": "b1", "url": upstream.url}],
                       routes=[{"model": "assistant", "backends": ["b1"]}],
                       extra={"guard": guard}, start=False)
    p = sgtest.run(["check-config", g.path])
    assert p.returncode == 1 and msg in p.stderr, p.stderr
