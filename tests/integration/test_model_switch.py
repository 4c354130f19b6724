"""Model updates without a failed request (docs/models.md, "Updating a model"): the gateway
runs an engine on `model: shop@prod`; while client threads send chat requests continuously
(streaming and not), the test promotes a new version, and nothing else: the gateway notices
the channel file's change by itself (no SIGHUP). The supervisor starts a second engine on the new version, switches new requests to it once its /health
answers, and stops the old one. Asserted: no failed request, answers after the switch come
from the new engine (its own counters grow, the old process is gone), the audit trail has
model.switch_started and model.switch_completed with both versions and weight digests; and
a switch to tampered weights (the new engine refuses them) fails, is audited, and the
running engine keeps serving, again with no failed request."""

import http.client
import json
import os
import shutil
import signal
import socket
import threading
import time

import pytest

import sgtest
from test_models import (CHANNELS_DOMAIN, ENGINE, blob_path, flip, keys, m,  # noqa: F401
                         mkmodel, ok, put_back, signed_digest)

pytestmark = pytest.mark.skipif(not os.path.exists(ENGINE), reason="sovgate-engine not built")


class Load:
    """Client threads sending chat requests until stopped; every failure is kept."""

    def __init__(self, g):
        self.g = g
        self.stop = threading.Event()
        self.ok = 0
        self.failures = []
        self.mu = threading.Lock()
        self.threads = [threading.Thread(target=self.run, args=(s,), daemon=True)
                        for s in (False, True, False)]

    def one(self, stream):
        st, _, body = self.g.chat("Tell me a story", stream=stream, max_tokens=6,
                                  temperature=0)
        if st != 200:
            return f"status {st}: {body[:200]!r}"
        if stream:
            if b"data: [DONE]" not in body or b'"error"' in body:
                return f"stream without [DONE] or with an error: {body[-200:]!r}"
        elif not json.loads(body)["choices"][0]["message"]["content"] and \
                json.loads(body)["usage"]["completion_tokens"] < 1:
            return f"empty answer: {body[:200]!r}"
        return None

    def run(self, stream):
        while not self.stop.is_set():
            try:
                why = self.one(stream)
            except Exception as e:  # a reset or a timeout is a failed request too
                why = f"{type(e).__name__}: {e}"
            with self.mu:
                if why:
                    self.failures.append(why)
                else:
                    self.ok += 1

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for t in self.threads:
            t.join(60)

    def count(self):
        with self.mu:
            return self.ok


def engine_health(sock):
    class C(http.client.HTTPConnection):
        def connect(self):
            self.sock = socket.socket(socket.AF_UNIX)
            self.sock.connect(sock)
    c = C("localhost", timeout=10)
    c.request("GET", "/health")
    r = c.getresponse()
    return json.loads(r.read())


def alive(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            return "\nState:\tZ" not in f.read()
    except FileNotFoundError:
        return False


def audit_records(db):
    out = sgtest.run(["audit", "export", "--db", db], check=True).stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def chan_digest(path):
    """SHA-256 of a channel file's signed text, as the gateway records it (models.state)."""
    return signed_digest(path, CHANNELS_DOMAIN)


def switch_step(g, step, since):
    return g.wait_log(lambda j: j.get("event") == "model_switch" and j.get("step") == step,
                      timeout=90, since=since)


def test_switch_under_load_and_failed_switch(tmp_path, keys):  # noqa: F811
    store = str(tmp_path / "store")
    d = tmp_path / "models"
    d.mkdir()
    v1, v2, v3 = (mkmodel(str(d / f"{i}.gguf"), 10 + i) for i in (1, 2, 3))
    ok(m(store, keys, "import", v1, "--name", "shop", "--version", "1"))
    ok(m(store, keys, "promote", "shop", "1", "--channel", "prod"))
    channel_file = os.path.join(store, "channels", "shop.json")
    with open(channel_file, "rb") as f:
        channel_v1 = f.read()  # genuinely signed, sequence 1
    run_dir = str(tmp_path / "run")
    gw = str(tmp_path / "gw")
    os.makedirs(gw)
    db = str(tmp_path / "audit.db")
    g = sgtest.Gateway(
        gw,
        backends=[{"name": "e1", "kind": "engine", "model": "shop@prod", "ctx": 256,
                   "parallel": 2, "threads": 1}],
        routes=[{"model": "assistant", "backends": ["e1"]}],
        extra={"runtime_dir": run_dir,
               "models": {"store": store, "public_key": "file:" + keys["pub"]},
               "audit": {"path": db, "signing_key": "file:" + keys["org"]}},
        tls=False)
    try:
        g.wait_ready(timeout=90)
        first = g.log_events("engine_ready")[0]
        old_sock = first["socket"]
        old_pid = g.log_events("engine_start")[0]["pid"]
        ok(m(store, keys, "import", v2, "--name", "shop", "--version", "2"))
        ok(m(store, keys, "import", v3, "--name", "shop", "--version", "3"))

        # ---- a switch under load ----
        with Load(g) as load:
            while load.count() < 3:
                time.sleep(0.1)
                assert not load.failures, load.failures
            mark = g.mark()
            ok(m(store, keys, "promote", "shop", "2", "--channel", "prod"))
            done = switch_step(g, "model.switch_completed", mark)
            assert done["old_version"] == "1" and done["new_version"] == "2"
            new_pid = done["new_pid"]
            before = load.count()
            deadline = time.time() + 30
            while (load.count() < before + 6 or alive(old_pid)) and time.time() < deadline:
                time.sleep(0.1)
        assert not load.failures, load.failures[:5]
        assert load.count() >= before + 6
        assert not alive(old_pid), "the old engine is still running"
        assert alive(new_pid)
        new_sock = old_sock + ".b"
        assert os.path.exists(new_sock) and not os.path.exists(old_sock)
        # the new engine answers the gateway's requests: its own counters grow
        h0 = engine_health(new_sock)["tokens_generated"]
        st, _, body = g.chat("Hello", max_tokens=4)
        assert st == 200, body
        assert engine_health(new_sock)["tokens_generated"] > h0
        # a reload with the channel unchanged keeps the new engine
        mark = g.mark()
        g.signal(signal.SIGHUP)
        g.wait_log(lambda j: j.get("event") == "reload", timeout=10, since=mark)
        time.sleep(0.5)
        assert not [j for j in g.log_events()[mark:] if j.get("event") == "engine_start"]

        # ---- a replayed channel file: the signed file of version 1 put back ----
        with open(channel_file, "rb") as f:
            channel_v2 = f.read()
        assert json.loads(channel_v2)["payload"]["seq"] == 2
        mark = g.mark()
        with open(channel_file + ".tmp", "wb") as f:
            f.write(channel_v1)
        os.replace(channel_file + ".tmp", channel_file)
        refused = switch_step(g, "model.switch_failed", mark)
        assert refused["old_version"] == "2" and refused["new_version"] == "1"
        assert "replayed" in refused["reason"] and "1 < 2" in refused["reason"]
        time.sleep(1.5)
        assert not [j for j in g.log_events()[mark:] if j.get("event") == "engine_start"]
        assert alive(new_pid)
        with open(channel_file + ".tmp", "wb") as f:
            f.write(channel_v2)
        os.replace(channel_file + ".tmp", channel_file)

        # ---- a failed switch: v3's weights are tampered (promote checks only signatures) ----
        flip(blob_path(store, "shop", "3"), 4096)
        with Load(g) as load:
            while load.count() < 3:
                time.sleep(0.1)
            mark = g.mark()
            ok(m(store, keys, "promote", "shop", "3", "--channel", "prod"))
            failed = switch_step(g, "model.switch_failed", mark)
            assert failed["old_version"] == "2" and failed["new_version"] == "3"
            assert "exited" in failed["reason"]
            before = load.count()
            while load.count() < before + 6:
                time.sleep(0.1)
        assert not load.failures, load.failures[:5]
        assert alive(new_pid)
        assert g.wait_log(lambda j: "refusing model shop:3" in j.get("msg", ""), since=mark)
        # the failed promotion is noted once: no new attempt every watch tick
        time.sleep(2.5)
        starts = [j for j in g.log_events()[mark:]
                  if j.get("event") == "model_switch" and j.get("step") == "model.switch_started"]
        assert len(starts) == 1, starts
        h0 = engine_health(new_sock)["tokens_generated"]
        st, _, body = g.chat("Hello", max_tokens=4)
        assert st == 200, body
        assert engine_health(new_sock)["tokens_generated"] > h0
    finally:
        g.stop()

    # ---- the audit trail: each step, with versions and digests; the chain verifies ----
    p = sgtest.run(["audit", "verify", "--db", db, "--pubkey", keys["pub"]])
    assert p.returncode == 0, p.stdout + p.stderr
    recs = [r for r in audit_records(db) if r.get("event", "").startswith("model.switch")]
    steps = [(r["event"], r["old_version"], r["new_version"]) for r in recs]
    assert steps == [("model.switch_started", "1", "2"), ("model.switch_completed", "1", "2"),
                     ("model.switch_failed", "2", "1"),
                     ("model.switch_started", "2", "3"), ("model.switch_failed", "2", "3")]
    for r in recs:
        assert r["backend"] == "e1" and r["model"] == "shop@prod"
        assert len(r["old_sha256"]) == 64 and len(r["new_sha256"]) == 64
        assert r["old_sha256"] != r["new_sha256"]
    assert "replayed" in recs[2]["reason"]
    assert "exited" in recs[4]["reason"]


def test_replayed_channel_file_at_start(tmp_path, keys):  # noqa: F811
    """models.state carries the replay check over a restart: a gateway that starts after
    an older signed channel file was put back does not start the engine on it (logged,
    audited, the model answers 503), and picks up the next real promotion by itself."""
    store = str(tmp_path / "store")
    d = tmp_path / "models"
    d.mkdir()
    v1, v2 = (mkmodel(str(d / f"{i}.gguf"), 20 + i) for i in (1, 2))
    ok(m(store, keys, "import", v1, "--name", "shop", "--version", "1"))
    ok(m(store, keys, "promote", "shop", "1", "--channel", "prod"))
    channel_file = os.path.join(store, "channels", "shop.json")
    with open(channel_file, "rb") as f:
        channel_v1 = f.read()  # genuinely signed, sequence 1
    ok(m(store, keys, "import", v2, "--name", "shop", "--version", "2"))
    ok(m(store, keys, "promote", "shop", "2", "--channel", "prod"))  # sequence 2
    state_dir = tmp_path / "state"
    state_dir.mkdir()
    state = str(state_dir / "model-channels.state")
    db = str(tmp_path / "audit.db")

    def gateway(name):
        os.makedirs(tmp_path / name)
        return sgtest.Gateway(
            str(tmp_path / name),
            backends=[{"name": "e1", "kind": "engine", "model": "shop@prod", "ctx": 256,
                       "parallel": 1, "threads": 1}],
            routes=[{"model": "assistant", "backends": ["e1"]}],
            extra={"runtime_dir": str(tmp_path / "run"),
                   "models": {"store": store, "public_key": "file:" + keys["pub"],
                              "state": state},
                   "audit": {"path": db, "signing_key": "file:" + keys["org"]}},
            tls=False)

    g = gateway("gw1")
    try:
        g.wait_ready(timeout=90)
        assert g.log_events("engine_start")[0]["model"] == "shop:2"
    finally:
        g.stop()
    with open(state) as f:
        assert f.read() == f"2 {chan_digest(channel_file)} {channel_file}\n"
    assert os.stat(state).st_mode & 0o777 == 0o600

    # the signed file of version 1 put back while no gateway runs
    with open(channel_file + ".tmp", "wb") as f:
        f.write(channel_v1)
    os.replace(channel_file + ".tmp", channel_file)
    g = gateway("gw2")
    try:
        refused = g.wait_log(lambda j: j.get("event") == "engine_refused", timeout=30)
        assert refused["engine"] == "e1" and refused["version"] == "1"
        assert "replayed" in refused["reason"] and "1 < 2" in refused["reason"]
        assert not g.log_events("engine_start")
        st, _, _ = g.get("/readyz")
        assert st == 503
        st, _, body = g.chat("Hello", max_tokens=2)
        assert st == 503, body
        # the signing CLI refuses to build on the put-back file too (it signed sequence 2);
        # the operator's promotion that knowingly builds on it gets sequence 3, and the
        # running gateway takes it up without a reload
        p = m(store, keys, "promote", "shop", "2", "--channel", "prod")
        assert p.returncode == 1 and "older than the 2 this signer signed" in p.stderr
        mark = g.mark()
        ok(m(store, keys, "promote", "shop", "2", "--channel", "prod",
             "--accept-older-channels"))
        start = g.wait_log(lambda j: j.get("event") == "engine_start", timeout=60, since=mark)
        assert start["model"] == "shop:2"
        g.wait_ready(timeout=90)
        st, _, body = g.chat("Hello", max_tokens=2)
        assert st == 200, body
    finally:
        g.stop()
    with open(state) as f:
        assert f.read() == f"3 {chan_digest(channel_file)} {channel_file}\n"
    p = sgtest.run(["audit", "verify", "--db", db, "--pubkey", keys["pub"]])
    assert p.returncode == 0, p.stdout + p.stderr
    recs = [r for r in audit_records(db) if r.get("event") == "model.start_refused"]
    assert len(recs) == 1
    assert recs[0]["backend"] == "e1" and recs[0]["model"] == "shop@prod"
    assert recs[0]["version"] == "1" and len(recs[0]["sha256"]) == 64
    assert "replayed" in recs[0]["reason"]


def test_replay_without_state_and_built_on_replay(tmp_path, keys):  # noqa: F811
    """Without models.state the running gateway remembers the sequence number and digest
    of the channel file it started on, for the channel file, not for one engine: (1) a
    channel file signed under the same number but built on a put-back file (a signer without
    its state promoted another channel on it: prod back at 1, history lost) is refused like
    an older one; (2) a reload that also changes another backend setting rebuilds the engine
    and still refuses the put-back file (the backend stays down); (3) the next real
    promotion is taken up."""
    store = str(tmp_path / "store")
    d = tmp_path / "models"
    d.mkdir()
    for i in (1, 2, 3):
        ok(m(store, keys, "import", mkmodel(str(d / f"{i}.gguf"), 40 + i), "--name", "shop",
             "--version", str(i)))
    ok(m(store, keys, "promote", "shop", "1", "--channel", "prod"))
    channel_file = os.path.join(store, "channels", "shop.json")
    with open(channel_file, "rb") as f:
        channel_v1 = f.read()  # genuinely signed, sequence 1
    ok(m(store, keys, "promote", "shop", "2", "--channel", "prod"))  # sequence 2
    # a file built on the put-back one by a signer without its state, in a copy of the store
    fork = str(tmp_path / "fork")
    shutil.copytree(store, fork, ignore=shutil.ignore_patterns("audit.db"))
    put_back(os.path.join(fork, "channels", "shop.json"), channel_v1)
    ok(m(fork, keys, "promote", "shop", "3", "--channel", "staging", "--no-audit",
         "--signer-state", str(tmp_path / "fresh.seq")))
    with open(os.path.join(fork, "channels", "shop.json"), "rb") as f:
        built_on_replay = f.read()
    doc = json.loads(built_on_replay)["payload"]
    prod = doc["channels"]["prod"]
    assert doc["seq"] == 2 and prod["version"] == "1" and prod["history"] == []
    assert len(prod["manifest"]) == 64  # the channel pins version 1's manifest
    os.makedirs(tmp_path / "gw")
    g = sgtest.Gateway(
        str(tmp_path / "gw"),
        backends=[{"name": "e1", "kind": "engine", "model": "shop@prod", "ctx": 256,
                   "parallel": 1, "threads": 1}],
        routes=[{"model": "assistant", "backends": ["e1"]}],
        extra={"runtime_dir": str(tmp_path / "run"),
               "models": {"store": store, "public_key": "file:" + keys["pub"]}},
        tls=False)
    try:
        g.wait_ready(timeout=90)
        assert g.log_events("engine_start")[0]["model"] == "shop:2"
        # (1) another file under sequence 2
        mark = g.mark()
        put_back(channel_file, built_on_replay)
        refused = switch_step(g, "model.switch_failed", mark)
        assert refused["old_version"] == "2" and refused["new_version"] == "1"
        assert "not the one already seen under sequence 2" in refused["reason"]
        assert "replayed" in refused["reason"]
        time.sleep(1.5)
        assert not [j for j in g.log_events()[mark:] if j.get("event") == "engine_start"]
        st, _, body = g.chat("Hello", max_tokens=2)
        assert st == 200, body
        # (2) the older file put back, and a reload that changes another setting
        mark = g.mark()
        put_back(channel_file, channel_v1)
        assert "1 < 2" in switch_step(g, "model.switch_failed", mark)["reason"]
        mark = g.mark()
        g.config["backends"][0]["threads"] = 2
        g.write_config()
        g.signal(signal.SIGHUP)
        refused = g.wait_log(lambda j: j.get("event") == "engine_refused", timeout=30,
                             since=mark)
        assert refused["version"] == "1"
        assert "replayed" in refused["reason"] and "1 < 2" in refused["reason"]
        time.sleep(1.5)
        assert not [j for j in g.log_events()[mark:] if j.get("event") == "engine_start"]
        st, _, body = g.chat("Hello", max_tokens=2)
        assert st == 503, body
        # (3) the next real promotion (built knowingly on the put-back file: sequence 3)
        mark = g.mark()
        ok(m(store, keys, "promote", "shop", "2", "--channel", "prod",
             "--accept-older-channels"))
        start = g.wait_log(lambda j: j.get("event") == "engine_start", timeout=60, since=mark)
        assert start["model"] == "shop:2"
        g.wait_ready(timeout=90)
        st, _, body = g.chat("Hello", max_tokens=2)
        assert st == 200, body
    finally:
        g.stop()


def test_damaged_state_file_stops_the_start(tmp_path, keys):  # noqa: F811
    """A models.state file that does not follow its format is the gateway's own file
    damaged: the start fails naming the file and line, instead of guessing."""
    store = str(tmp_path / "store")
    v1 = mkmodel(str(tmp_path / "1.gguf"), 31)
    ok(m(store, keys, "import", v1, "--name", "shop", "--version", "1"))
    ok(m(store, keys, "promote", "shop", "1", "--channel", "prod"))
    state = str(tmp_path / "model-channels.state")
    with open(state, "w") as f:
        f.write("2 /srv/store/channels/shop.json\nnot a line\n")
    os.makedirs(tmp_path / "gw")
    g = sgtest.Gateway(
        str(tmp_path / "gw"),
        backends=[{"name": "e1", "kind": "engine", "model": "shop@prod", "ctx": 256,
                   "parallel": 1, "threads": 1}],
        routes=[{"model": "assistant", "backends": ["e1"]}],
        extra={"runtime_dir": str(tmp_path / "run"),
               "models": {"store": store, "public_key": "file:" + keys["pub"],
                          "state": state}},
        tls=False, start=False)
    # The process ends (it once hung for ever stopping its health checker, which had only
    # just started: sgtest.run's 60 s timeout fails the test then).
    p = sgtest.run(["serve", "--config", g.path])
    assert p.returncode != 0
    assert f"{state}:2: expected a sequence number" in p.stderr
