"""The audit trail through the gateway: one record per proxied request (allowed, refused,
failed), a decision record committed before anything goes to an external backend, no
personal data in records, `sovgate audit verify` intact after normal operation and after
kill -9 under load (every request that got a complete answer has its record), and fail
closed when the trail cannot write (503, /readyz not ready), recovering when it can
again."""

import json
import os
import signal
import subprocess
import threading
import time

import pytest

import sgtest

EMAIL = "anna.schmidt@example.de"


def keygen(workdir):
    key = os.path.join(workdir, "audit.key")
    p = sgtest.run(["audit", "keygen", "--out", key])
    assert p.returncode == 0, p.stderr
    pub = os.path.join(workdir, "audit.pub")
    p = sgtest.run(["audit", "pubkey", "--key", key])
    assert p.returncode == 0, p.stderr
    with open(pub, "w") as f:
        f.write(p.stdout)
    return key, pub


def records(db):
    p = sgtest.run(["audit", "export", "--db", db, "--format", "jsonl"])
    assert p.returncode == 0, p.stderr
    return [json.loads(l) for l in p.stdout.splitlines() if l.strip()]


def body_of(rec):
    return rec.get("record", rec)


def audited(make_gateway, workdir, backends, routes, extra=None):
    key, pub = keygen(workdir)
    db = os.path.join(workdir, "audit.db")
    ex = {"audit": {"path": db, "signing_key": f"file:{key}", "checkpoint_every": 5}}
    ex.update(extra or {})
    g = make_gateway(backends=backends, routes=routes, extra=ex)
    return g, db, pub


def test_every_request_has_a_record(make_gateway, upstream, workdir):
    g, db, pub = audited(make_gateway, workdir, [{"name": "b1", "url": upstream.url}],
                         [{"model": "assistant", "backends": ["b1"]}])
    body = {"model": "assistant", "messages": [{"role": "user", "content": f"mail {EMAIL}"}]}
    st, _, resp = g.post("/v1/chat/completions", body,
                         headers={"X-Sovgate-Source": "ai-test-plugin"})
    assert st == 200
    assert g.chat("streamed", stream=True)[0] == 200
    assert g.chat("x", model="nope")[0] == 404
    assert g.post("/v1/chat/completions", body, key="sg-wrong")[0] == 401
    g.stop()
    recs = [r for r in records(db) if r.get("type") == "request"]
    assert len(recs) == 4, recs
    first = recs[0]
    assert first["client"] == "shop" and first["source"] == "ai-test-plugin"
    assert first["backend"] == "b1" and first["sovereign"] is True
    assert first["decision"] == "allow" and first["rule"] == "sovereign"
    assert first["entities"] == {"EMAIL": {"pseudonymize": 1}}
    assert first["classes"] == ["personal"]
    assert first["status"] == 200 and "prompt_tokens" in first
    assert [r["status"] for r in recs[1:]] == [200, 404, 401]
    raw = open(db, "rb").read()
    assert EMAIL.encode() not in raw and b"schmidt" not in raw
    p = sgtest.run(["audit", "verify", "--db", db, "--pubkey", pub])
    assert p.returncode == 0, p.stdout + p.stderr


def test_decision_record_before_external_backend(make_gateway, make_upstream, workdir):
    local, cloud = make_upstream("local"), make_upstream("cloud")
    g, db, pub = audited(
        make_gateway, workdir,
        [{"name": "local", "url": local.url},
         {"name": "cloud", "url": cloud.url, "sovereign": False, "jurisdiction": "US"}],
        [{"model": "assistant", "backends": ["cloud", "local"]}])
    assert g.chat("Write about tea.")[0] == 200  # public: external
    assert g.chat(f"mail {EMAIL}")[0] == 200  # personal: local
    g.stop()
    recs = records(db)
    types = [(r.get("type"), r.get("backend")) for r in recs if r.get("type")]
    assert types == [("decision", "cloud"), ("request", "cloud"), ("request", "local")], types
    # the decision was durable before the backend got the request
    assert len(cloud.api_requests()) == 1 and len(local.api_requests()) == 1


def test_allowed_but_failed_request_says_why(make_gateway, make_upstream, workdir):
    """Policy allowed the request, but its backend was down: the record keeps the decision
    (allow) and says what went wrong, as a refused or rejected request's does."""
    up = make_upstream("b1")
    g, db, pub = audited(make_gateway, workdir, [{"name": "b1", "url": up.url}],
                         [{"model": "assistant", "backends": ["b1"]}])
    up.stop()
    st, _, body = g.chat("Write about tea.")
    assert st == 503, body
    g.stop()
    recs = [r for r in records(db) if r.get("type") == "request"]
    assert len(recs) == 1, recs
    assert recs[0]["decision"] == "allow" and recs[0]["status"] == 503
    assert recs[0]["error"] == "backend_unavailable", recs[0]


def test_refusals_are_recorded(make_gateway, make_upstream, workdir):
    cloud = make_upstream("cloud")
    g, db, pub = audited(
        make_gateway, workdir,
        [{"name": "cloud", "url": cloud.url, "sovereign": False, "jurisdiction": "US"}],
        [{"model": "assistant", "backends": ["cloud"]}])
    assert g.chat(f"mail {EMAIL}")[0] == 403
    g.stop()
    recs = [r for r in records(db) if r.get("type") == "request"]
    assert len(recs) == 1
    assert recs[0]["decision"] == "refuse" and recs[0]["rule"] == "no-transfer"
    assert recs[0]["status"] == 403 and "backend" not in recs[0]


def test_kill_9_under_load_keeps_the_trail_intact(make_gateway, upstream, workdir):
    g, db, pub = audited(make_gateway, workdir, [{"name": "b1", "url": upstream.url}],
                         [{"model": "assistant", "backends": ["b1"]}])
    done = []
    stop = threading.Event()

    def load():
        while not stop.is_set():
            try:
                st, h, _ = g.chat(f"hello {len(done)}")
                if st == 200:
                    done.append(h["x-request-id"])
            except Exception:
                return

    ts = [threading.Thread(target=load) for _ in range(4)]
    for t in ts:
        t.start()
    time.sleep(1.5)
    g.proc.send_signal(signal.SIGKILL)
    g.proc.wait()
    stop.set()
    for t in ts:
        t.join()
    assert len(done) > 20
    p = sgtest.run(["audit", "verify", "--db", db, "--pubkey", pub])
    assert p.returncode == 0, p.stdout + p.stderr
    ids = {r.get("request_id") for r in records(db)}
    missing = [i for i in done if i not in ids]
    assert missing == [], f"{len(missing)} completed requests without a record"
    # and the gateway starts again on the same trail, which continues the chain
    g.start()
    assert g.chat("after")[0] == 200
    g.stop()
    assert sgtest.run(["audit", "verify", "--db", db, "--pubkey", pub]).returncode == 0


def test_fail_closed_when_the_trail_cannot_write(make_gateway, upstream, workdir):
    if os.geteuid() != 0:
        pytest.skip("needs root to mount a small tmpfs")
    mnt = os.path.join(workdir, "small")
    os.mkdir(mnt)
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", mnt]).returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        key, pub = keygen(workdir)
        db = os.path.join(mnt, "audit.db")
        g = make_gateway(backends=[{"name": "b1", "url": upstream.url}],
                         routes=[{"model": "assistant", "backends": ["b1"]}],
                         extra={"audit": {"path": db, "signing_key": f"file:{key}"}})
        assert g.chat("before")[0] == 200
        filler = os.path.join(mnt, "filler")
        subprocess.run(["dd", "if=/dev/zero", f"of={filler}", "bs=64k"],
                       capture_output=True)
        statuses = [g.chat("x" * 2000 + str(i))[0] for i in range(20)]
        assert 503 in statuses, statuses
        st, _, body = g.get("/readyz")
        assert st == 503 and b"audit" in body
        os.unlink(filler)
        deadline = time.time() + 10
        while time.time() < deadline and g.chat("again")[0] != 200:
            time.sleep(0.3)
        assert g.chat("recovered")[0] == 200
        g.stop()
        assert sgtest.run(["audit", "verify", "--db", db, "--pubkey", pub]).returncode == 0
    finally:
        subprocess.run(["umount", "-l", mnt])
