"""The real sovgate-engine behind the real gateway (backends of kind: engine), on a tiny
model made at test time with sovgate-mkmodel (random weights, the real qwen2 tokenizer).
Covers seeded and greedy determinism (alone and batched), prefix reuse, cancellation,
restart after kill -9, the endpoints (with the stream's closing chunks and what
completion_tokens counts), error relaying, isolation and the log relay.

Engine settings: one thread per engine so that the two cores of a small machine stay
usable. Besides the gateway, the tests read the engine's own counters from GET /health on
its Unix socket (prompt tokens evaluated, tokens generated, decode calls)."""

import base64
import http.client
import json
import math
import os
import shutil
import signal
import socket
import stat
import struct
import subprocess
import tempfile
import threading
import time

import pytest

import sgtest

MKMODEL = os.path.join(sgtest.BUILD, "sovgate-mkmodel")
ENGINE = os.path.join(sgtest.BUILD, "sovgate-engine")

pytestmark = pytest.mark.skipif(
    not (os.path.exists(MKMODEL) and os.path.exists(ENGINE)),
    reason="sovgate-engine / sovgate-mkmodel not built (run scripts/fetch-llama)")


# ---- helpers ----

class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout=30):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self.unix_path)
        self.sock = s


def engine_call(sock, method, path, body=None):
    """A request straight to the engine's socket: (status, parsed JSON or raw bytes)."""
    c = UnixHTTPConnection(sock)
    h = {"Content-Type": "application/json"} if body is not None else {}
    c.request(method, path, body=json.dumps(body) if body is not None else None, headers=h)
    r = c.getresponse()
    data = r.read()
    c.close()
    try:
        return r.status, json.loads(data)
    except ValueError:
        return r.status, data


class Engine:
    """A gateway with one engine backend `e1` and the routes assistant and embed."""

    def __init__(self, workdir, model, parallel, ctx=2048, tls=True):
        os.makedirs(workdir, exist_ok=True)
        self.run_dir = os.path.join(workdir, "run")
        self.sock = os.path.join(self.run_dir, "engine-e1.sock")
        self.g = sgtest.Gateway(
            workdir,
            backends=[{"name": "e1", "kind": "engine", "model": model, "ctx": ctx,
                       "parallel": parallel, "threads": 1}],
            routes=[{"model": "assistant", "aliases": ["gpt-4o-mini"], "backends": ["e1"]},
                    {"model": "embed", "backends": ["e1"]}],
            extra={"runtime_dir": self.run_dir}, tls=tls)
        try:
            self.g.wait_ready(timeout=60)
        except AssertionError:
            self.g.stop(expect_clean=False)
            raise

    def stats(self):
        st, j = engine_call(self.sock, "GET", "/health")
        assert st == 200, j
        return j

    def pid(self):
        return self.g.log_events("engine_start")[-1]["pid"]

    def chat(self, text, **kw):
        st, _, body = self.g.chat(text, **kw)
        assert st == 200, body
        return json.loads(body)

    def stop(self):
        """Stops the engine with SIGTERM while the gateway still relays its output, then the
        gateway. Both must exit cleanly: the engine with status 0 and nothing from a
        sanitizer on its stderr (the gateway reaps its engines silently when it stops
        them itself, so this is where their exit status can be seen)."""
        g = self.g
        try:
            pid = self.pid()
            mark = g.mark()
            os.kill(pid, signal.SIGTERM)
            ex = g.wait_log(lambda j: j.get("event") == "engine_exit", since=mark, timeout=20)
            g.wait_log(lambda j: j.get("engine") == "e1" and j.get("msg") == "stopped",
                       since=mark, timeout=5)
            time.sleep(0.2)  # anything the engine wrote last is relayed by now
            bad = [l for l in g.logs if "Sanitizer" in l or "runtime error" in l]
        finally:
            g.stop()
        assert ex["reason"] == "engine exited with status 0", ex
        assert not bad, "\n".join(bad[:20])


def text_of(answer):
    c = answer["choices"][0]
    return c["message"]["content"] if "message" in c else c["text"]


def events_of(body):
    ev = sgtest.sse_events(body)
    assert ev[-1] == "[DONE]", ev[-3:]
    return [json.loads(e) for e in ev[:-1]]


def send_stream(g, body):
    """Opens a raw connection and sends a streamed request; returns the socket."""
    s = g.raw_socket()
    data = json.dumps(dict(body, stream=True)).encode()
    s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
              g.key.encode() + b"\r\nContent-Type: application/json\r\nContent-Length: " +
              str(len(data)).encode() + b"\r\n\r\n" + data)
    return s


def read_events(s, n, timeout):
    """Reads from a streamed answer until n SSE events arrived; returns the bytes."""
    s.settimeout(timeout)
    data = b""
    while data.count(b"data: ") < n:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


# ---- fixtures ----

@pytest.fixture(scope="module")
def model(tmp_path_factory):
    d = tmp_path_factory.mktemp("model")
    path = str(d / "tiny.gguf")
    subprocess.run([MKMODEL, "--preset", "tiny", "--out", path], check=True,
                   capture_output=True, timeout=120)
    return path


@pytest.fixture(scope="module")
def eng(tmp_path_factory, model):
    """Four slots of 2,048 tokens behind a TLS gateway."""
    e = Engine(str(tmp_path_factory.mktemp("eng4")), model, parallel=4)
    yield e
    e.stop()


@pytest.fixture(scope="module")
def eng1(tmp_path_factory, model):
    """One slot of 4,096 tokens behind a plaintext gateway."""
    e = Engine(str(tmp_path_factory.mktemp("eng1")), model, parallel=1, ctx=4096, tls=False)
    yield e
    e.stop()


# ---- determinism ----

def test_seeded_sampling_is_reproducible(eng):
    kw = dict(temperature=0.8, seed=1234, max_tokens=24)
    a = eng.chat("Tell me about the red shoes.", **kw)
    b = eng.chat("Tell me about the red shoes.", **kw)
    assert a["usage"]["completion_tokens"] == 24
    assert text_of(a) and text_of(a) == text_of(b)
    c = eng.chat("Tell me about the red shoes.", **dict(kw, seed=4321))
    assert text_of(c) != text_of(a)
    # The streamed pieces make up the same text.
    st, _, body = eng.g.chat("Tell me about the red shoes.", stream=True, **kw)
    assert st == 200
    assert sgtest.stream_text(sgtest.sse_events(body)) == text_of(a)
    # temperature null is OpenAI's default (1.0), not an undefined value.
    d = eng.chat("Tell me about the red shoes.", **dict(kw, temperature=None))
    e = eng.chat("Tell me about the red shoes.", **dict(kw, temperature=1.0))
    assert text_of(d) == text_of(e)


def test_batched_greedy_equals_one_by_one(eng):
    prompts = [f"Item {i}: describe product number {i * 37} in the catalogue." for i in range(8)]
    kw = dict(temperature=0, max_tokens=24)
    s0 = eng.stats()
    alone = [eng.chat(p, **kw) for p in prompts]
    s1 = eng.stats()
    together = [None] * 8
    barrier = threading.Barrier(8)

    def one(i):
        barrier.wait()
        together[i] = eng.chat(prompts[i], **kw)
    threads = [threading.Thread(target=one, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    s2 = eng.stats()
    for a, t in zip(alone, together):
        assert t is not None
        assert text_of(a) == text_of(t)
        assert a["usage"]["completion_tokens"] == t["usage"]["completion_tokens"]
    assert len({text_of(a) for a in alone}) > 1
    # They really ran together: several slots per decode call.
    gen_alone = s1["tokens_generated"] - s0["tokens_generated"]
    gen_together = s2["tokens_generated"] - s1["tokens_generated"]
    assert gen_alone == gen_together == sum(a["usage"]["completion_tokens"] for a in alone)
    calls_alone = s1["decode_calls"] - s0["decode_calls"]
    calls_together = s2["decode_calls"] - s1["decode_calls"]
    assert calls_together < calls_alone * 0.6, (calls_alone, calls_together)


def test_shared_prefix_is_evaluated_once(eng):
    nonce = f"{time.time_ns()}"
    system = f"Catalogue {nonce}. " + " ".join(
        f"Article {i}: cotton shirt, colour {['red', 'blue', 'green'][i % 3]}, {i % 7 + 1} "
        f"in stock." for i in range(70))
    msgs = [{"role": "system", "content": system}]
    s0 = eng.stats()
    a = eng.chat(None, messages=msgs + [{"role": "user", "content": "Which shirts are red?"}],
                 temperature=0, max_tokens=4)
    s1 = eng.stats()
    b = eng.chat(None, messages=msgs + [{"role": "user", "content": "And which are blue?"}],
                 temperature=0, max_tokens=4)
    s2 = eng.stats()
    ua, ub = a["usage"], b["usage"]
    assert 1000 <= ua["prompt_tokens"] <= 1300, ua
    assert ua["prompt_tokens_details"]["cached_tokens"] < 10
    assert ub["prompt_tokens_details"]["cached_tokens"] >= 990, ub
    # The engine evaluated exactly the tokens it did not have.
    assert s1["prompt_tokens_evaluated"] - s0["prompt_tokens_evaluated"] == \
        ua["prompt_tokens"] - ua["prompt_tokens_details"]["cached_tokens"]
    new_b = ub["prompt_tokens"] - ub["prompt_tokens_details"]["cached_tokens"]
    assert s2["prompt_tokens_evaluated"] - s1["prompt_tokens_evaluated"] == new_b
    assert new_b < 30


# ---- endpoints ----

def test_completions_streamed_and_not(eng):
    st, _, body = eng.g.post("/v1/completions", {"model": "assistant", "prompt": "Once upon",
                                                 "max_tokens": 8, "temperature": 0})
    assert st == 200, body
    j = json.loads(body)
    assert j["object"] == "text_completion" and j["model"] == "assistant"
    assert j["choices"][0]["finish_reason"] == "length"
    assert j["usage"]["completion_tokens"] == 8 and j["usage"]["prompt_tokens"] == 2
    st, h, body = eng.g.post("/v1/completions", {
        "model": "assistant", "prompt": "Once upon", "max_tokens": 8, "temperature": 0,
        "stream": True, "stream_options": {"include_usage": True}})
    assert st == 200 and h["content-type"].startswith("text/event-stream")
    ev = events_of(body)
    assert all(e["object"] == "text_completion" for e in ev)
    assert "".join(c["text"] for e in ev for c in e["choices"]) == j["choices"][0]["text"]
    assert [c["finish_reason"] for e in ev for c in e["choices"]][-1] == "length"
    assert ev[-1]["choices"] == [] and ev[-1]["usage"]["completion_tokens"] == 8


def test_chat_stream_shape(eng):
    st, _, body = eng.g.chat("Hello", stream=True, max_tokens=6, temperature=0,
                             stream_options={"include_usage": True})
    assert st == 200
    ev = events_of(body)
    assert ev[0]["choices"][0]["delta"]["role"] == "assistant"
    assert all(e["object"] == "chat.completion.chunk" and e["model"] == "assistant" for e in ev)
    assert len({e["id"] for e in ev}) == 1
    finish = [c["finish_reason"] for e in ev for c in e["choices"] if c["finish_reason"]]
    assert finish == ["length"]
    assert ev[-1]["usage"]["completion_tokens"] == 6
    # Without include_usage there is no usage event.
    st, _, body = eng.g.chat("Hello", stream=True, max_tokens=3)
    assert all("usage" not in e for e in events_of(body))


def check_usage_stream(ev, include_usage, completion_tokens):
    """OpenAI's closing sequence: the chunk with the finish_reason (one choice, no usage
    numbers), then, only with include_usage, one chunk with `choices: []` and the usage;
    with include_usage every other chunk carries `usage: null`, without it none has the key.
    Returns the finish_reason."""
    finishes = [i for i, e in enumerate(ev) for c in e["choices"] if c["finish_reason"]]
    if include_usage:
        assert finishes == [len(ev) - 2], [e["choices"] for e in ev[-3:]]
        usages = [e.get("usage", "absent") for e in ev]
        assert all(u is None for u in usages[:-1]), usages
        last = ev[-1]
        assert last["choices"] == [] and last["id"] == ev[0]["id"], last
        u = last["usage"]
        assert u["completion_tokens"] == completion_tokens, u
        assert u["total_tokens"] == u["prompt_tokens"] + u["completion_tokens"], u
    else:
        assert finishes == [len(ev) - 1], [e["choices"] for e in ev[-3:]]
        assert all("usage" not in e for e in ev), [e.get("usage") for e in ev]
    assert len(ev[finishes[0]]["choices"]) == 1
    return ev[finishes[0]]["choices"][0]["finish_reason"]


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/completions"])
def test_stream_closes_with_finish_then_usage(eng, path):
    """The closing chunks, on the engine's own socket and through the gateway (which asks
    the engine for usage on every stream and drops it for clients that did not)."""
    body = {"model": "assistant", "max_tokens": 5, "temperature": 0, "stream": True}
    if path.endswith("chat/completions"):
        body["messages"] = [{"role": "user", "content": "Hello"}]
    else:
        body["prompt"] = "Once upon"
    for include_usage in (True, False):
        b = dict(body, stream_options={"include_usage": include_usage})
        st, raw = engine_call(eng.sock, "POST", path, b)
        assert st == 200, raw
        assert check_usage_stream(events_of(raw), include_usage, 5) == "length"
        st, _, raw = eng.g.post(path, b)
        assert st == 200, raw
        assert check_usage_stream(events_of(raw), include_usage, 5) == "length"
    # no stream_options at all is include_usage false
    st, _, raw = eng.g.post(path, body)
    assert st == 200, raw
    check_usage_stream(events_of(raw), False, 5)


# a schema whose answers are a few tokens long: the grammar then leaves the model nothing
# but the end-of-generation token, so the answer ends with it (finish_reason "stop")
SHORT_JSON = {"type": "json_schema", "json_schema": {"name": "n", "schema": {
    "type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"],
    "additionalProperties": False}}}


def test_completion_tokens_count_the_returned_tokens(eng):
    """usage.completion_tokens counts the tokens of the returned text: not the
    end-of-generation token (it has no text); exactly max_tokens for "length"; with a stop
    string, every token up to the one that completed it (its text went into the answer or
    the stop string)."""
    kw = dict(temperature=0, response_format=SHORT_JSON)
    s0 = eng.stats()
    a = eng.chat("Is the teapot in stock?", max_tokens=40, **kw)
    s1 = eng.stats()
    n = a["usage"]["completion_tokens"]
    assert a["choices"][0]["finish_reason"] == "stop" and text_of(a).startswith("{"), a
    assert s1["tokens_generated"] - s0["tokens_generated"] == n
    # The same n tokens without their end: the same text, and max_tokens n is reached.
    b = eng.chat("Is the teapot in stock?", max_tokens=n, **kw)
    assert (b["choices"][0]["finish_reason"], text_of(b)) == ("length", text_of(a)), (a, b)
    assert b["usage"]["completion_tokens"] == n
    # Streamed, the usage chunk says the same.
    st, _, raw = eng.g.chat("Is the teapot in stock?", stream=True, max_tokens=40,
                            stream_options={"include_usage": True}, **kw)
    assert st == 200, raw
    ev = events_of(raw)
    assert sgtest.stream_text(sgtest.sse_events(raw)) == text_of(a)
    assert check_usage_stream(ev, True, n) == "stop"
    # A stop string: the answer ends before it, and the tokens are counted up to the one
    # that completed it. The greedy texts of k = 1..8 tokens show which token that is.
    prompt = "Describe the red shoes."
    texts = [text_of(eng.chat(prompt, temperature=0, max_tokens=k)) for k in range(1, 9)]
    for k in range(2, 9):
        before, now = texts[k - 2], texts[k - 1]
        stop = now[len(before):]  # the text of token k, where it first occurs
        if now.startswith(before) and stop.strip() and now.find(stop) == len(before) and \
                "\ufffd" not in now:
            break
    else:
        pytest.fail(f"no token of {texts[-1]!r} makes a stop string")
    c = eng.chat(prompt, temperature=0, max_tokens=20, stop=[stop])
    assert (c["choices"][0]["finish_reason"], text_of(c)) == ("stop", before), (c, stop)
    assert c["usage"]["completion_tokens"] == k, (c["usage"], k, stop)


def test_embeddings(eng):
    st, _, body = eng.g.post("/v1/embeddings", {"model": "embed", "encoding_format": "float",
                                                "input": ["red shoes", "blue hat", "red shoes"]})
    assert st == 200, body
    j = json.loads(body)
    assert [d["index"] for d in j["data"]] == [0, 1, 2]
    vecs = [d["embedding"] for d in j["data"]]
    assert all(len(v) == 128 for v in vecs)  # the tiny preset's embedding size
    for v in vecs:
        assert abs(math.sqrt(sum(x * x for x in v)) - 1) < 1e-4
    assert vecs[0] == vecs[2] and vecs[0] != vecs[1]
    assert j["usage"]["prompt_tokens"] > 0
    st, _, body = eng.g.post("/v1/embeddings", {"model": "embed", "input": "red shoes",
                                                "encoding_format": "base64"})
    assert st == 200
    b64 = json.loads(body)["data"][0]["embedding"]
    floats = struct.unpack("<128f", base64.b64decode(b64))
    assert all(abs(a - b) < 1e-6 for a, b in zip(floats, vecs[0]))


def test_models(eng):
    st, _, body = eng.g.get("/v1/models", key=eng.g.key)
    assert st == 200
    ids = {m["id"] for m in json.loads(body)["data"]}
    assert {"assistant", "gpt-4o-mini", "embed"} <= ids
    st, j = engine_call(eng.sock, "GET", "/v1/models")
    assert st == 200 and [m["id"] for m in j["data"]] == ["e1"]


# ---- errors ----

def test_prompt_longer_than_the_context(eng):
    st, _, body = eng.g.chat("word " * 2500, max_tokens=4)
    assert st == 400, body
    err = json.loads(body)["error"]
    assert err["code"] == "context_length_exceeded" and err["param"] == "messages"
    assert "tokens but the context holds 2048" in err["message"], err
    st, _, body = eng.g.post("/v1/completions", {"model": "assistant", "prompt": "word " * 2500})
    assert st == 400 and json.loads(body)["error"]["param"] == "prompt"


BAD = [({"temperature": "hot"}, "temperature"), ({"max_tokens": -3}, "max_tokens"),
       ({"max_tokens": 0}, "max_tokens"), ({"max_tokens": "x"}, "max_tokens"),
       ({"max_completion_tokens": -1}, "max_completion_tokens"), ({"stop": 5}, "stop"),
       ({"temperature": 7}, "temperature"), ({"top_p": 0}, "top_p"),
       ({"stop": [""]}, "stop"), ({"n": 2}, "n")]


@pytest.mark.parametrize("bad,param", BAD)
def test_bad_parameters_are_named(eng, bad, param):
    body = dict({"model": "assistant", "messages": [{"role": "user", "content": "hi"}]}, **bad)
    st, _, data = eng.g.post("/v1/chat/completions", body)
    assert st == 400, data
    err = json.loads(data)["error"]
    assert err["param"] == param and param in err["message"], err
    # The engine checks the same on its own socket.
    st, j = engine_call(eng.sock, "POST", "/v1/chat/completions", body)
    assert st == 400 and j["error"]["param"] == param, j


def test_unknown_parameters_are_ignored(eng):
    a = eng.chat("hi", max_tokens=3, temperature=0, frobnicate={"x": 1}, shop_id=7)
    assert a["usage"]["completion_tokens"] == 3


# ---- cancellation, restart ----

def test_closed_stream_frees_the_slot(eng1):
    g = eng1.g
    s0 = eng1.stats()
    # Sampled with a fixed seed: this model does not end the text on its own for thousands
    # of tokens (greedy decoding meets an end-of-text token early for some prompts).
    s = send_stream(g, {"model": "assistant", "max_tokens": 4000, "temperature": 1, "seed": 5,
                        "messages": [{"role": "user", "content": "Write a long story."}]})
    first = read_events(s, 3, 10)
    assert b"200 OK" in first and first.count(b"data: ") >= 3
    assert eng1.stats()["slots_busy"] == 1  # still generating
    s.close()
    t0 = time.time()
    s = send_stream(g, {"model": "assistant", "max_tokens": 4, "temperature": 0,
                        "messages": [{"role": "user", "content": "Next customer."}]})
    got = read_events(s, 2, 10)  # the role event and the first text
    waited = time.time() - t0
    s.close()
    assert got.count(b"data: ") >= 2 and b'"content":"' in got.split(b"data: ")[2]
    assert waited < 2, waited
    # The first generation stopped long before its 4,000 tokens.
    deadline = time.time() + 5
    while eng1.stats()["slots_busy"] and time.time() < deadline:
        time.sleep(0.05)
    s1 = eng1.stats()
    assert s1["slots_busy"] == 0 and s1["queued"] == 0
    assert s1["tokens_generated"] - s0["tokens_generated"] < 1500


def test_engine_killed_restarts_and_serves(eng1):
    g = eng1.g
    pid = eng1.pid()
    mark = g.mark()
    os.kill(pid, signal.SIGKILL)
    ex = g.wait_log(lambda j: j.get("event") == "engine_exit", since=mark)
    assert ex["engine"] == "e1" and "signal 9" in ex["reason"]
    # Down until the new engine passed a health check (at least the 1 s restart backoff).
    ready = g.get("/readyz")[0]
    st, _, body = g.chat("while down", max_tokens=2)
    if not [j for j in g.log_events()[mark:] if j.get("event") == "engine_ready"]:
        assert ready == 503
        assert st == 503, body
    start = g.wait_log(lambda j: j.get("event") == "engine_start", since=mark, timeout=15)
    assert start["pid"] != pid
    g.wait_log(lambda j: j.get("event") == "engine_ready" and j.get("engine") == "e1",
               since=mark, timeout=30)
    g.wait_ready(timeout=15)
    a = eng1.chat("after the restart", max_tokens=4, temperature=0)
    assert a["usage"]["completion_tokens"] == 4


def test_engine_restarted_with_new_settings_keeps_its_socket(eng1):
    """A reload that changes an engine's settings restarts it on the same socket path. The
    old engine drains and exits while the new one already listens there: the old one must
    not take the new one's socket with it when it exits."""
    g = eng1.g
    old_pid = eng1.pid()
    # A long answer in flight keeps the old engine draining while the new one starts.
    s = send_stream(g, {"model": "assistant", "max_tokens": 4000, "temperature": 1, "seed": 5,
                        "messages": [{"role": "user", "content": "Write a long story."}]})
    assert read_events(s, 3, 10).count(b"data: ") >= 3
    mark = g.mark()
    g.config["backends"][0]["threads"] = 2
    g.write_config()
    try:
        g.signal(signal.SIGHUP)
        g.wait_log(lambda j: j.get("event") == "engine_start" and j.get("pid") != old_pid,
                   since=mark, timeout=15)
        g.wait_log(lambda j: j.get("event") == "engine_ready" and j.get("engine") == "e1",
                   since=mark, timeout=60)
        # the old engine finishes (or is cut off after its 10 s drain) and is reaped
        s.close()
        g.wait_log(lambda j: "engine e1 stopped" in j.get("msg", ""), since=mark, timeout=30)
        assert stat.S_ISSOCK(os.stat(eng1.sock).st_mode)
        g.wait_ready(timeout=15)
        a = eng1.chat("after the settings changed", max_tokens=3, temperature=0)
        assert a["usage"]["completion_tokens"] == 3
    finally:
        s.close()
        g.config["backends"][0]["threads"] = 1
        g.write_config()


# ---- isolation, logs ----

def socket_inodes(pid):
    out = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if link.startswith("socket:["):
            out.add(link[8:-1])
    return out


def has_gpu():
    try:
        return subprocess.run(["nvidia-smi", "-L"], capture_output=True).returncode == 0
    except OSError:
        return False


def test_gpu_layers_without_a_gpu_is_an_error(model, tmp_path):
    """Asked for GPU layers where llama.cpp finds no GPU (no CUDA build, no driver, or a
    sandbox that stops CUDA), the engine refuses to start and says why: running on the CPU
    instead would be ten times slower without a word (seen on an H100 whose CUDA the
    sandbox had stopped)."""
    if has_gpu():
        pytest.skip("this machine has a GPU")
    p = subprocess.run([ENGINE, "--model", model, "--socket", str(tmp_path / "e.sock"),
                        "--ctx", "256", "--parallel", "1", "--gpu-layers", "-1"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode != 0
    assert "gpu_layers is -1 but llama.cpp found no GPU" in p.stderr
    assert "set gpu_layers: 0 to run on the CPU" in p.stderr
    assert not (tmp_path / "e.sock").exists()


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"),
                    reason="needs root and setpriv to run the engine as another user")
def test_engine_is_not_dumpable(model):
    """The engine holds the model store's key, decrypted weights and prompts: like the
    gateway it clears the dumpable flag (an exec sets it again), so no core dump and no
    tracer of its own user reads them. A process that is not dumpable has its /proc files
    owned by root whatever its user: checked with the engine run as an unprivileged one."""
    uid = 43210
    d = tempfile.mkdtemp(prefix="sg-dumpable-", dir="/tmp")
    p = None
    try:
        os.chmod(d, 0o755)
        m = os.path.join(d, "tiny.gguf")
        shutil.copy(model, m)
        os.chmod(m, 0o644)
        run = os.path.join(d, "run")
        os.mkdir(run, 0o700)
        os.chown(run, uid, uid)
        sock = os.path.join(run, "e.sock")
        p = subprocess.Popen(["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups",
                              ENGINE, "--model", m, "--socket", sock, "--ctx", "256",
                              "--parallel", "1"], stderr=subprocess.PIPE)
        deadline = time.time() + 60
        while not os.path.exists(sock) and p.poll() is None and time.time() < deadline:
            time.sleep(0.05)
        assert p.poll() is None and os.path.exists(sock), p.stderr.read().decode()[-2000:]
        with open(f"/proc/{p.pid}/status") as f:
            assert f"Uid:\t{uid}" in f.read()  # it runs as that user...
        assert os.stat(f"/proc/{p.pid}/status").st_uid == 0  # ...and is not dumpable
    finally:
        if p and p.poll() is None:
            p.terminate()
            p.wait(10)
        shutil.rmtree(d, ignore_errors=True)


def test_engine_is_isolated(eng):
    g = eng.g
    pid = eng.pid()
    st = os.stat(eng.sock)
    assert stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600
    assert stat.S_IMODE(os.stat(eng.run_dir).st_mode) == 0o700
    iso = g.wait_log(lambda j: j.get("event") == "engine_isolation")
    assert iso["engine"] == "e1"
    # No TCP (or UDP) socket at all: its namespace's tables as the engine sees them, and
    # the socket inodes it holds.
    mine = socket_inodes(pid)
    for table in ("tcp", "tcp6", "udp", "udp6"):
        with open(f"/proc/{pid}/net/{table}") as f:
            rows = [l.split() for l in f.read().splitlines()[1:]]
        held = [r for r in rows if r[9] in mine]
        assert held == [], (table, held)
        if iso["network_namespace"]:
            assert [r for r in rows if r[3] == "0A"] == [], (table, rows)  # nothing listens
    with open(f"/proc/{pid}/net/unix") as f:
        unix = [l.split() for l in f.read().splitlines()[1:]]
    assert any(len(r) > 7 and r[7] == eng.sock and r[6] in mine for r in unix)
    if iso["network_namespace"]:
        assert os.readlink(f"/proc/{pid}/ns/net") != os.readlink("/proc/self/ns/net")


def test_engine_output_is_relayed_as_json(eng):
    g = eng.g
    ready = g.wait_log(lambda j: j.get("event") == "engine_ready")
    assert ready["engine"] == "e1" and ready["slots"] == 4 and ready["slot_ctx"] == 2048
    mine = [j for j in g.log_events() if j.get("engine") == "e1"]
    assert {"engine_isolation", "engine_model", "engine_ready"} <= {j.get("event") for j in mine}
    # Every line the gateway wrote is one JSON object: nothing of the engine's stderr
    # (llama.cpp's own messages included) got through raw.
    for line in g.logs:
        assert isinstance(json.loads(line), dict), line
