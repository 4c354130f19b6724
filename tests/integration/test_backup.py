"""Backup and restore (docs/operations.md): `sovgate backup` taken while the gateway serves
a continuous stream of requests, the state wiped, `sovgate restore` into a new folder,
then `audit verify` passes on the restored trail (whose records are exactly the first
records of the live one), and the restored configuration starts a gateway that serves
the same models to the same client keys. With the model store: `model verify` passes
after a restore with weights, and the restored gateway serves the store's model. Bad
input: a flipped byte (the error names the chunk), truncation, a wrong key, another
signer, an existing folder, and archives crafted here (with the `cryptography` package,
an independent implementation of the documented format) holding `../`, absolute,
duplicate, link and unlisted entries: each refused with a clear error, nothing written.
`restore --force` refuses to delete the archive or a left-out secret lying in the target;
the backup walks the model store under its lock (shared) and waits for a change to end;
`restore --force` takes the lock of a store inside the target (exclusive) before it writes,
waits for a change to end, or gives up with the same error."""

import fcntl
import hashlib
import json
import os
import shutil
import struct
import subprocess
import threading
import time

import pytest

import sgtest

MKMODEL = os.path.join(sgtest.BUILD, "sovgate-mkmodel")
ENGINE = os.path.join(sgtest.BUILD, "sovgate-engine")


# ---- helpers ----

def org_keys(d):
    """The organisation's Ed25519 key (made here) and a 32-byte backup key."""
    org = os.path.join(d, "org.pem")
    sgtest.run(["audit", "keygen", "--out", org], check=True)
    pub = os.path.join(d, "org.pub")
    with open(pub, "w") as f:
        f.write(sgtest.run(["audit", "pubkey", "--key", org], check=True)
                .stdout.split("key id")[0])
    bkey = os.path.join(d, "backup.key")
    with open(bkey, "w") as f:
        f.write(os.urandom(32).hex() + "\n")
    return org, pub, bkey


def records(db):
    p = sgtest.run(["audit", "export", "--db", db, "--format", "jsonl"])
    assert p.returncode == 0, p.stderr
    return [json.loads(line) for line in p.stdout.splitlines() if line.strip()]


def verify(db, pub):
    p = sgtest.run(["audit", "verify", "--db", db, "--pubkey", pub])
    assert p.returncode == 0, p.stdout + p.stderr


def listing(d):
    out = []
    for root, dirs, files in os.walk(d):
        for x in dirs + files:
            out.append(os.path.relpath(os.path.join(root, x), d))
    return sorted(out)


class Restored(sgtest.Gateway):
    """A gateway started on a restored folder's sovgate.yaml."""

    def __init__(self, config, certs, key):
        self.workdir = os.path.dirname(config)
        self.tls = certs is not None
        self.certs = certs
        self.key = key
        self.keys = {}
        self.path = config
        self.env = {}
        self.log_path = None
        self.logs = []
        self.proc = None
        self.start()


def models_config(workdir, models):
    """A gateway configuration (plaintext, one backend that is never called) with the
    `models` section given, as workdir/sovgate.yaml (JSON is YAML); returns its path."""
    cfg = os.path.join(workdir, "sovgate.yaml")
    with open(cfg, "w") as f:
        json.dump({"listen": {"address": "127.0.0.1:0", "plaintext": True},
                   "backends": [{"name": "b1", "url": "http://127.0.0.1:9"}],
                   "routes": [{"model": "assistant", "backends": ["b1"]}],
                   "models": models}, f)
    return cfg


def restore(archive, to, bkey, pub, *extra):
    return sgtest.run(["restore", archive, "--to", to, "--key", "file:" + bkey,
                       "--pubkey", pub] + list(extra))


# ---- backup under load, wipe, restore ----

def test_backup_under_load_wipe_restore(make_gateway, upstream, workdir):
    org, pub, bkey = org_keys(workdir)
    state = os.path.join(workdir, "state")
    os.mkdir(state)
    db = os.path.join(state, "audit.db")
    g = make_gateway(backends=[{"name": "b1", "url": upstream.url}],
                     routes=[{"model": "assistant", "aliases": ["gpt-4o-mini"],
                              "backends": ["b1"]},
                             {"model": "embed", "backends": [{"name": "b1",
                                                              "model": "fake-embed"}]}],
                     clients={"shop": None, "blog": ["assistant"]},
                     extra={"audit": {"path": db, "signing_key": "file:" + org,
                                      "checkpoint_every": 5}})
    st, _, body = g.get("/v1/models", key=g.keys["shop"])
    assert st == 200
    models_before = sorted(m["id"] for m in json.loads(body)["data"])

    stop = threading.Event()
    statuses = []

    def load():
        while not stop.is_set():
            statuses.append(g.chat("order 4711 for anna.schmidt@example.de")[0])

    t = threading.Thread(target=load)
    t.start()
    try:
        while len(statuses) < 20:
            time.sleep(0.02)
        archives = []
        for i in range(3):
            n0 = len(statuses)
            out = os.path.join(workdir, f"backup-{i}.sgb")
            p = sgtest.run(["backup", "--config", g.path, "--out", out, "--key", "file:" + bkey])
            assert p.returncode == 0, p.stderr
            archives.append(out)
            while len(statuses) < n0 + 5:  # the load went on during and after the backup
                time.sleep(0.02)
    finally:
        stop.set()
        t.join()
    assert statuses and all(s == 200 for s in statuses), set(statuses)
    # No temporary copy or partial archive is left behind.
    assert not [f for f in os.listdir(state) if f.startswith(".sovgate-backup-")]
    assert not [f for f in os.listdir(workdir) if ".partial-" in f]
    g.stop()
    live = records(db)
    verify(db, pub)

    # Wipe the state: config, databases, the public certificate. The secrets (TLS key,
    # signing key) are kept off the archive by default and stay where they were.
    for p in [g.path, g.db, g.certs["cert"]]:
        os.remove(p)
    shutil.rmtree(state)

    to = os.path.join(workdir, "restored")
    p = restore(archives[-1], to, bkey, pub)
    assert p.returncode == 0, p.stderr
    assert "not in the archive: listen.tls.key" in p.stdout
    files = listing(to)
    for f in ["sovgate.yaml", "original/sovgate.yaml", "state/keys.db", "state/audit.db",
              "tls/cert.pem"]:
        assert f in files, files
    assert not any("key.pem" in f or "org.pem" in f for f in files), files
    assert not any(f.endswith("-wal") or f.endswith("-shm") for f in files), files

    # The restored trail verifies and is exactly a prefix of the live one.
    rdb = os.path.join(to, "state", "audit.db")
    verify(rdb, pub)
    rrecs = records(rdb)
    assert 0 < len(rrecs) <= len(live)
    assert rrecs == live[:len(rrecs)]
    assert sum(1 for r in rrecs if r.get("type") == "request") >= 20

    # The restored configuration serves the same models to the same keys.
    r = Restored(os.path.join(to, "sovgate.yaml"), g.certs, g.keys["shop"])
    try:
        st, _, body = r.get("/v1/models", key=g.keys["shop"])
        assert st == 200
        assert sorted(m["id"] for m in json.loads(body)["data"]) == models_before
        assert r.chat("hello")[0] == 200
        assert r.post("/v1/chat/completions", {"model": "assistant", "messages": [
            {"role": "user", "content": "hi"}]}, key=g.keys["blog"])[0] == 200
        assert r.post("/v1/embeddings", {"model": "embed", "input": "x"},
                      key=g.keys["blog"])[0] == 403
        assert r.post("/v1/chat/completions", {"model": "assistant", "messages": [
            {"role": "user", "content": "hi"}]}, key="sg-wrong")[0] == 401
    finally:
        assert r.stop() == 0
    # The restored gateway appended to the restored trail, which still verifies.
    verify(rdb, pub)
    assert len(records(rdb)) > len(rrecs)


# ---- the model store, weights and secrets ----

@pytest.mark.skipif(not (os.path.exists(MKMODEL) and os.path.exists(ENGINE)),
                    reason="sovgate-mkmodel / sovgate-engine not built (scripts/fetch-llama)")
def test_model_store_with_weights_and_secrets(workdir):
    org, pub, bkey = org_keys(workdir)
    site = os.path.join(workdir, "site")
    os.mkdir(site)
    gguf = os.path.join(workdir, "a.gguf")
    subprocess.run([MKMODEL, "--vocab", "llama-spm", "--layers", "1", "--embd", "64",
                    "--heads", "2", "--kv-heads", "1", "--ff", "128", "--type", "q8_0",
                    "--seed", "1", "--out", gguf, "--threads", "1"],
                   check=True, capture_output=True, timeout=120)
    store = os.path.join(site, "store")
    enc = os.path.join(site, "enc.key")
    with open(enc, "w") as f:
        f.write(os.urandom(32).hex() + "\n")
    for args in (["import", gguf, "--name", "shop", "--version", "1",
                  "--encrypt", "file:" + enc],
                 ["promote", "shop", "1", "--channel", "prod"]):
        p = sgtest.run(["model"] + args + ["--store", store, "--key", "file:" + org])
        assert p.returncode == 0, p.stderr
    g = sgtest.Gateway(site, backends=[
        {"name": "e1", "kind": "engine", "model": "shop@prod", "ctx": 256, "parallel": 1,
         "threads": 1}], routes=[{"model": "assistant", "backends": ["e1"]}],
        extra={"runtime_dir": os.path.join(workdir, "run"),
               "audit": {"path": os.path.join(site, "audit.db"),
                         "signing_key": "file:" + org},
               "models": {"store": store, "public_key": "file:" + pub,
                          "encryption_key": "file:" + enc,
                          "state": os.path.join(site, "model-channels.state")}},
        tls=False, start=False)
    # the channel sequence numbers this site's gateway accepted (models.state)
    with open(os.path.join(site, "model-channels.state"), "w") as f:
        f.write(f"1 {store}/channels/shop.json\n")
    out = os.path.join(workdir, "full.sgb")
    p = sgtest.run(["backup", "--config", g.path, "--out", out, "--key", "file:" + bkey,
                    "--with-weights", "--with-secrets"])
    assert p.returncode == 0, p.stderr
    # Wipe the whole site (secrets included: they are in this archive).
    shutil.rmtree(site)
    to = os.path.join(workdir, "restored")
    p = restore(out, to, bkey, pub)
    assert p.returncode == 0, p.stderr
    assert "not in the archive" not in p.stdout
    files = listing(to)
    assert any(f.startswith("models/blobs/sha256/") for f in files), files
    assert "secrets/models-encryption.key" in files and "models/audit.db" in files
    assert "state/model-channels.state" in files
    with open(os.path.join(to, "sovgate.yaml")) as f:
        assert json.load(f)["models"]["state"] == "state/model-channels.state"
    p = sgtest.run(["model", "verify", "--store", os.path.join(to, "models"),
                    "--pubkey", "file:" + pub])
    assert p.returncode == 0, p.stdout + p.stderr
    verify(os.path.join(to, "models", "audit.db"), pub)
    r = Restored(os.path.join(to, "sovgate.yaml"), None, g.key)
    try:
        r.wait_ready(timeout=90)
        st, _, body = r.chat("Hello", max_tokens=4)
        assert st == 200, body
    finally:
        assert r.stop() == 0
    # the record came back; the restored store's channel file (another path) is added to it
    # (the gateway writes "<seq> <digest of the channel file's signed text> <path>", and
    # reads the line written above, from before digests were kept, as it is)
    restored_chan = os.path.join(to, "models", "channels", "shop.json")
    with open(restored_chan) as f:
        signed = "sovgate-model-channels:1:" + json.dumps(
            json.load(f)["payload"], separators=(",", ":"), sort_keys=True)
    digest = hashlib.sha256(signed.encode()).hexdigest()
    with open(os.path.join(to, "state", "model-channels.state")) as f:
        assert f.read() == (f"1 {store}/channels/shop.json\n"
                            f"1 {digest} {restored_chan}\n")


def test_backup_without_weights_leaves_blobs_out(workdir):
    """Without --with-weights the store's manifests and channels go in, blobs do not."""
    org, pub, bkey = org_keys(workdir)
    store = os.path.join(workdir, "store")
    for d in ("manifests/shop", "channels", "blobs/sha256", "tmp"):
        os.makedirs(os.path.join(store, d))
    for f, data in (("manifests/shop/1.json", "{}"), ("channels/shop.json", "{}"),
                    ("blobs/sha256/" + "0" * 64, "weights"), ("tmp/partial", "x"),
                    (".lock", "")):
        with open(os.path.join(store, f), "w") as fh:
            fh.write(data)
    os.symlink("/etc/passwd", os.path.join(store, "manifests", "shop", "link.json"))
    cfg = models_config(workdir, {"store": "store", "public_key": "file:org.pub"})
    out = os.path.join(workdir, "b.sgb")
    p = sgtest.run(["backup", "--config", cfg, "--out", out, "--key", "file:" + bkey,
                    "--sign-key", "file:" + org])
    assert p.returncode == 0, p.stderr
    to = os.path.join(workdir, "r")
    p = restore(out, to, bkey, pub)
    assert p.returncode == 0, p.stderr
    files = [f for f in listing(to) if not os.path.isdir(os.path.join(to, f))]
    assert sorted(files) == ["keys/models-public.key", "models/channels/shop.json",
                             "models/manifests/shop/1.json", "original/sovgate.yaml",
                             "sovgate.yaml"]
    with open(os.path.join(to, "sovgate.yaml")) as f:
        c = json.load(f)
    assert c["models"] == {"store": "models", "public_key": "file:keys/models-public.key"}
    assert sgtest.run(["check-config", os.path.join(to, "sovgate.yaml")]).returncode == 0


def test_backup_leaves_partial_downloads_out(workdir):
    """An interrupted `model pull` leaves weights in <store>/partial/: they are weights too,
    so an archive made without --with-weights must not carry them."""
    org, pub, bkey = org_keys(workdir)
    store = os.path.join(workdir, "store")
    for d in ("manifests", "channels", "blobs/sha256", "tmp", "partial"):
        os.makedirs(os.path.join(store, d))
    with open(os.path.join(store, "partial", "1" * 64), "wb") as fh:
        fh.write(os.urandom(50000))
    cfg = models_config(workdir, {"store": "store", "public_key": "file:org.pub"})
    out = os.path.join(workdir, "b.sgb")
    p = sgtest.run(["backup", "--config", cfg, "--out", out, "--key", "file:" + bkey,
                    "--sign-key", "file:" + org])
    assert p.returncode == 0, p.stderr
    assert "left out models/partial" in p.stderr, p.stderr
    assert os.path.getsize(out) < 50000
    to = os.path.join(workdir, "r")
    assert restore(out, to, bkey, pub).returncode == 0
    assert not os.path.exists(os.path.join(to, "models", "partial"))


def test_config_with_bom_rewritten(workdir):
    """A configuration saved with a UTF-8 byte order mark (libyaml does not count it in its
    marks) is rewritten at the right places; a UTF-16 one, which the rewrite cannot keep
    as it is, is refused with a clear error instead of a restored config that does not
    load."""
    org, pub, bkey = org_keys(workdir)
    sgtest.run(["keys", "create", "--name", "shop", "--db", os.path.join(workdir, "k.db")],
               check=True)
    text = ("listen:\n"
            "  address: \"127.0.0.1:0\"\n"
            "  plaintext: true\n"
            "keys_db: k.db\n"
            "backends:\n"
            "  - name: b1\n"
            "    url: \"http://127.0.0.1:9\"\n"
            "routes:\n"
            "  - {model: assistant, backends: [b1]}\n"
            "audit:\n"
            "  path: audit.db\n"
            "  signing_key: \"file:org.pem\"\n")
    cfg = os.path.join(workdir, "sovgate.yaml")
    with open(cfg, "wb") as f:
        f.write(b"\xef\xbb\xbf" + text.encode())
    assert sgtest.run(["check-config", cfg]).returncode == 0
    out = os.path.join(workdir, "b.sgb")
    p = sgtest.run(["backup", "--config", cfg, "--out", out, "--key", "file:" + bkey])
    assert p.returncode == 0, p.stderr
    to = os.path.join(workdir, "r")
    assert restore(out, to, bkey, pub).returncode == 0
    got = open(os.path.join(to, "sovgate.yaml"), "rb").read()
    want = ("\ufeff" + text.replace("keys_db: k.db", 'keys_db: "state/keys.db"')
            .replace("path: audit.db", 'path: "state/audit.db"')
            .replace('"file:org.pem"', f'"file:{org}"')).encode()
    assert got == want
    p = sgtest.run(["check-config", os.path.join(to, "sovgate.yaml")])
    assert p.returncode == 0, p.stdout + p.stderr
    # UTF-16: loads, but cannot be rewritten byte for byte: refused, nothing written.
    with open(cfg, "wb") as f:
        f.write(text.encode("utf-16"))
    assert sgtest.run(["check-config", cfg]).returncode == 0
    out16 = os.path.join(workdir, "b16.sgb")
    p = sgtest.run(["backup", "--config", cfg, "--out", out16, "--key", "file:" + bkey])
    assert p.returncode == 1 and "UTF-8" in p.stderr, p.stderr
    assert not os.path.exists(out16)
    assert not [f for f in os.listdir(workdir) if ".partial-" in f]


def test_model_state_not_newer_than_the_store(workdir):
    """models.state records the channel sequence numbers the gateway accepted; a restored
    gateway refuses a channel file older than its record. So the archive's record must
    not be newer than the archive's channel files: when a promotion lands while the backup
    runs, the record must be read before the store, not after it."""
    import sqlite3
    org, pub, bkey = org_keys(workdir)
    store = os.path.join(workdir, "store")
    os.makedirs(os.path.join(store, "channels"))
    chan = os.path.join(store, "channels", "shop.json")
    state = os.path.join(workdir, "model-channels.state")

    def accepted(seq):  # a promotion, and the gateway starting an engine on it
        with open(chan, "w") as f:
            json.dump({"payload": {"seq": seq}}, f)
        with open(state, "w") as f:
            f.write(f"{seq} {chan}\n")
    accepted(1)
    os.mkdir(os.path.join(workdir, "ma"))
    madb = os.path.join(workdir, "ma", "models-audit.db")
    db = sqlite3.connect(madb, isolation_level=None)
    db.execute("CREATE TABLE t(x)")
    cfg = models_config(workdir, {"store": "store", "audit": madb, "state": state})
    out = os.path.join(workdir, "b.sgb")
    # Hold the models audit database so that the backup waits there (it comes after the
    # store in the backup's order), then promote while it waits.
    db.execute("BEGIN EXCLUSIVE")
    env = dict(os.environ)
    env.update(sgtest.SAN_ENV)
    proc = subprocess.Popen([sgtest.SOVGATE, "backup", "--config", cfg, "--out", out,
                             "--key", "file:" + bkey, "--sign-key", "file:" + org,
                             "--quiet"], stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.time() + 20
        while not [x for x in os.listdir(os.path.join(workdir, "ma"))
                   if x.startswith(".sovgate-backup-")]:
            assert proc.poll() is None and time.time() < deadline, "the backup did not wait"
            time.sleep(0.01)
        accepted(2)
    finally:
        db.execute("COMMIT")
        db.close()
    assert proc.wait(timeout=60) == 0, proc.stderr.read()
    to = os.path.join(workdir, "r")
    assert restore(out, to, bkey, pub).returncode == 0
    with open(os.path.join(to, "models", "channels", "shop.json")) as f:
        chan_seq = json.load(f)["payload"]["seq"]
    with open(os.path.join(to, "state", "model-channels.state")) as f:
        state_seq = int(f.read().split()[0])
    assert state_seq <= chan_seq, (state_seq, chan_seq)


@pytest.mark.parametrize("layout", ["in_store", "audit_elsewhere"])
def test_waiting_model_audit_records_are_backed_up(workdir, layout):
    """The model store's audit records that wait for the signing key (<trail>.pending, a
    pull, push or gc made without it) go into the archive beside the trail, whether the
    trail lies in the store (models/audit.db.pending) or where models.audit says
    (state/models-audit.db.pending), and come back where the restored configuration looks
    for them. Copied under the file's own lock: a writer that holds it makes the backup
    wait. A link in its place is left out, and said."""
    import sqlite3
    org, pub, bkey = org_keys(workdir)
    store = os.path.join(workdir, "store")
    os.makedirs(os.path.join(store, "channels"))
    models = {"store": "store"}
    trail = os.path.join(store, "audit.db")
    if layout == "audit_elsewhere":
        os.mkdir(os.path.join(workdir, "ma"))
        trail = models["audit"] = os.path.join(workdir, "ma", "models-audit.db")
    sqlite3.connect(trail).execute("CREATE TABLE t(x)")
    record = (json.dumps({"deferred_at": "2026-11-28T00:00:00Z", "event": "model.gc",
                          "store": store}) + "\n").encode()
    with open(trail + ".pending", "wb") as f:
        f.write(record)
    cfg = models_config(workdir, models)
    out = os.path.join(workdir, "b.sgb")
    args = ["backup", "--config", cfg, "--out", out, "--key", "file:" + bkey,
            "--sign-key", "file:" + org, "--quiet"]
    # a writer holds the file's lock: the backup waits for it
    holder = open(trail + ".pending", "rb")
    fcntl.flock(holder, fcntl.LOCK_EX)
    env = dict(os.environ)
    env.update(sgtest.SAN_ENV)
    proc = subprocess.Popen([sgtest.SOVGATE] + args, stderr=subprocess.PIPE, text=True,
                            env=env)
    time.sleep(1)
    waited = proc.poll() is None
    fcntl.flock(holder, fcntl.LOCK_UN)
    holder.close()
    assert proc.wait(timeout=60) == 0, proc.stderr.read()
    assert waited, "the backup did not wait for the pending file's lock"
    name = "models/audit.db.pending" if layout == "in_store" else \
        "state/models-audit.db.pending"
    to = os.path.join(workdir, "r")
    assert restore(out, to, bkey, pub).returncode == 0
    with open(os.path.join(to, name), "rb") as f:
        assert f.read() == record
    # a link in its place: left out, said, and the backup goes on
    os.remove(trail + ".pending")
    os.symlink(os.path.join(workdir, "elsewhere"), trail + ".pending")
    os.remove(out)
    p = sgtest.run(args[:-1])
    assert p.returncode == 0, p.stderr
    assert f"left out {trail}.pending: not a regular file" in p.stderr, p.stderr


# ---- bad input ----

@pytest.fixture
def small(workdir):
    """A small deployment's archive in 4 KiB chunks (several chunks)."""
    org, pub, bkey = org_keys(workdir)
    cfg = os.path.join(workdir, "sovgate.yaml")
    sgtest.run(["keys", "create", "--name", "shop", "--db", os.path.join(workdir, "keys.db")],
               check=True)
    with open(cfg, "w") as f:
        json.dump({"listen": {"address": "127.0.0.1:0", "plaintext": True},
                   "keys_db": "keys.db",
                   "backends": [{"name": "b" + str(i), "url": "http://127.0.0.1:9"}
                                for i in range(60)],
                   "routes": [{"model": "assistant", "backends": ["b0"]}],
                   "audit": {"path": "audit.db", "signing_key": "file:org.pem"}}, f)
    out = os.path.join(workdir, "small.sgb")
    p = sgtest.run(["backup", "--config", cfg, "--out", out, "--key", "file:" + bkey,
                    "--chunk", "4096"])
    assert p.returncode == 0, p.stderr
    return {"archive": out, "org": org, "pub": pub, "key": bkey, "dir": workdir}


def refused(s, archive, needle, key=None, pub=None, to="target"):
    parent = os.path.join(s["dir"], "restore-area")
    os.makedirs(parent, exist_ok=True)
    before = listing(parent)
    p = restore(archive, os.path.join(parent, to), key or s["key"], pub or s["pub"])
    assert p.returncode == 1, p.stdout
    assert needle in p.stderr, p.stderr
    assert "nothing was written" in p.stderr
    assert listing(parent) == before
    return p


def test_flipped_byte_names_the_chunk(small):
    data = bytearray(open(small["archive"], "rb").read())
    assert len(data) > 64 + 3 * (5 + 4096 + 16) + 104
    at = 64 + 2 * (5 + 4096 + 16) + 5 + 1000  # inside chunk 2's ciphertext
    data[at] ^= 0x01
    bad = os.path.join(small["dir"], "flipped.sgb")
    open(bad, "wb").write(bytes(data))
    refused(small, bad, "chunk 2 (archive bytes")


def test_truncated(small):
    data = open(small["archive"], "rb").read()
    for n, needle in ((len(data) - 1, "truncated"), (len(data) // 2, "truncated"),
                      (100, "truncated")):
        bad = os.path.join(small["dir"], f"cut{n}.sgb")
        open(bad, "wb").write(data[:n])
        refused(small, bad, needle)
    # Cut at a chunk border with a trailer glued back: the final chunk is missing.
    bad = os.path.join(small["dir"], "cut-border.sgb")
    open(bad, "wb").write(data[:64 + 5 + 4096 + 16] + data[-104:])
    refused(small, bad, "truncated")


def test_wrong_key_and_public_key(small, workdir):
    other = os.path.join(workdir, "other.key")
    with open(other, "w") as f:
        f.write(os.urandom(32).hex())
    refused(small, small["archive"], "wrong backup key", key=other)
    d = os.path.join(workdir, "o")
    os.mkdir(d)
    _, opub, _ = org_keys(d)
    refused(small, small["archive"], "not by the given public key", pub=opub)


def test_existing_folder(small):
    parent = os.path.join(small["dir"], "restore-area")
    target = os.path.join(parent, "target")
    os.makedirs(target)
    with open(os.path.join(target, "keep"), "w") as f:
        f.write("mine")
    refused(small, small["archive"], "exists and is not empty")
    assert open(os.path.join(target, "keep")).read() == "mine"
    # An empty folder is filled; --force replaces a non-empty one.
    empty = os.path.join(parent, "empty")
    os.mkdir(empty)
    assert restore(small["archive"], empty, small["key"], small["pub"]).returncode == 0
    assert os.path.exists(os.path.join(empty, "sovgate.yaml"))
    p = restore(small["archive"], target, small["key"], small["pub"], "--force")
    assert p.returncode == 0, p.stderr
    assert not os.path.exists(os.path.join(target, "keep"))
    assert os.path.exists(os.path.join(target, "state", "keys.db"))
    assert [x for x in os.listdir(parent) if x.startswith(".")] == []


def test_empty_target_filled_meanwhile_is_kept(workdir):
    """An empty target is taken without --force; when something is put into it while the
    restore runs, the restore must refuse (as for a folder that was not empty), not
    swap the folder out and delete what was put there."""
    org, pub, bkey = org_keys(workdir)
    store = os.path.join(workdir, "store")
    os.makedirs(os.path.join(store, "manifests"))
    with open(os.path.join(store, "manifests", "big.json"), "wb") as f:
        f.write(os.urandom(48 << 20))  # so that writing the restore takes a while
    cfg = models_config(workdir, {"store": "store", "public_key": "file:org.pub"})
    out = os.path.join(workdir, "b.sgb")
    p = sgtest.run(["backup", "--config", cfg, "--out", out, "--key", "file:" + bkey,
                    "--sign-key", "file:" + org, "--quiet"])
    assert p.returncode == 0, p.stderr
    parent = os.path.join(workdir, "area")
    target = os.path.join(parent, "target")
    os.makedirs(target)
    keep = os.path.join(target, "keep")
    done = threading.Event()

    def fill():
        # as soon as the second pass writes its temporary folder, put a file in the target
        while not done.is_set():
            if any(x.startswith(".target.restore-") for x in os.listdir(parent)):
                with open(keep, "w") as f:
                    f.write("mine")
                return
            time.sleep(0.0005)

    t = threading.Thread(target=fill)
    t.start()
    try:
        p = restore(out, target, bkey, pub)
    finally:
        done.set()
        t.join()
    assert os.path.exists(keep), "the file put into the target meanwhile was deleted"
    assert open(keep).read() == "mine"
    assert p.returncode == 1 and "not empty" in p.stderr, p.stdout + p.stderr
    assert sorted(os.listdir(parent)) == ["target"]


def test_force_refuses_an_archive_inside_the_target(small):
    """`--force` deletes what the target held: an archive that lies inside it (by any
    path: a link to it, `..`) would be deleted by its own restore, so it is refused before
    anything is written."""
    parent = os.path.join(small["dir"], "restore-area")
    target = os.path.join(parent, "target")
    os.makedirs(os.path.join(target, "sub"))
    inside = os.path.join(target, "b.sgb")
    shutil.copy(small["archive"], inside)
    link = os.path.join(small["dir"], "link.sgb")
    os.symlink(inside, link)
    before = listing(parent)
    for archive in (inside, link, os.path.join(target, "sub", "..", "b.sgb")):
        p = restore(archive, target, small["key"], small["pub"], "--force")
        assert p.returncode == 1, p.stdout
        assert "lies inside the target folder" in p.stderr, p.stderr
        assert "nothing was written" in p.stderr
        assert listing(parent) == before
    # The target itself is the archive: refused too (it is not a folder).
    p = restore(inside, inside, small["key"], small["pub"], "--force")
    assert p.returncode == 1 and os.path.isfile(inside), p.stderr
    # Moved out of the folder, the same archive restores.
    out = os.path.join(small["dir"], "moved.sgb")
    os.rename(inside, out)
    p = restore(out, target, small["key"], small["pub"], "--force")
    assert p.returncode == 0, p.stderr
    assert os.path.exists(out)


def test_force_refuses_to_delete_a_left_out_secret(workdir):
    """A secret left out of the archive (no --with-secrets) is named in the restored
    configuration by its original absolute path; when that path lies inside the folder
    that `--force` replaces, the restore would delete the only copy. Refused, naming it."""
    org, pub, bkey = org_keys(workdir)
    site = os.path.join(workdir, "site")
    os.mkdir(site)
    shutil.copy(org, os.path.join(site, "org.pem"))
    sgtest.run(["keys", "create", "--name", "shop", "--db", os.path.join(site, "keys.db")],
               check=True)
    cfg = os.path.join(site, "sovgate.yaml")
    with open(cfg, "w") as f:
        json.dump({"listen": {"address": "127.0.0.1:0", "plaintext": True},
                   "keys_db": "keys.db",
                   "backends": [{"name": "b1", "url": "http://127.0.0.1:9"}],
                   "routes": [{"model": "assistant", "backends": ["b1"]}],
                   "audit": {"path": "audit.db", "signing_key": "file:org.pem"}}, f)
    out = os.path.join(workdir, "site.sgb")
    p = sgtest.run(["backup", "--config", cfg, "--out", out, "--key", "file:" + bkey])
    assert p.returncode == 0, p.stderr
    secret = os.path.join(site, "org.pem")
    before = listing(workdir)
    p = restore(out, site, bkey, pub, "--force")
    assert p.returncode == 1, p.stdout
    assert secret in p.stderr and "audit.signing_key" in p.stderr, p.stderr
    assert "nothing was written" in p.stderr
    assert listing(workdir) == before
    assert open(secret).read() == open(org).read()
    # With the secret in the archive, the same folder is replaced.
    full = os.path.join(workdir, "full.sgb")
    p = sgtest.run(["backup", "--config", cfg, "--out", full, "--key", "file:" + bkey,
                    "--with-secrets"])
    assert p.returncode == 0, p.stderr
    p = restore(full, site, bkey, pub, "--force")
    assert p.returncode == 0, p.stderr
    assert os.path.exists(os.path.join(site, "secrets", "audit-signing.key"))
    assert not os.path.exists(secret)


def store_deployment(workdir):
    """A configuration with a small model store (manifests, channels, its lock file)."""
    org, pub, bkey = org_keys(workdir)
    store = os.path.join(workdir, "store")
    for d in ("manifests/shop", "channels", "blobs/sha256", "tmp"):
        os.makedirs(os.path.join(store, d))
    for f, data in (("manifests/shop/1.json", "{}"), ("channels/shop.json", "{}"),
                    (".lock", "")):
        with open(os.path.join(store, f), "w") as fh:
            fh.write(data)
    cfg = models_config(workdir, {"store": "store", "public_key": "file:org.pub"})
    return org, pub, bkey, store, cfg


def test_backup_waits_for_the_model_store_lock(workdir):
    """`model import/promote/remove/pull` hold <store>/.lock (flock, exclusive) while they
    change the store: the backup takes it shared for its walk of the store, so it waits
    for a change to finish, and runs beside other readers."""
    org, pub, bkey, store, cfg = store_deployment(workdir)
    out = os.path.join(workdir, "b.sgb")
    args = [sgtest.SOVGATE, "backup", "--config", cfg, "--out", out, "--key", "file:" + bkey,
            "--sign-key", "file:" + org, "--quiet"]
    env = dict(os.environ)
    env.update(sgtest.SAN_ENV)
    with open(os.path.join(store, ".lock"), "r+") as lk:
        fcntl.flock(lk, fcntl.LOCK_EX)  # a change in progress
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, env=env)
        try:
            time.sleep(1.5)
            assert proc.poll() is None, "the backup did not wait for the store's lock"
            assert not os.path.exists(out)
            # the change writes its manifest, then lets go of the lock
            with open(os.path.join(store, "manifests", "shop", "2.json"), "w") as fh:
                fh.write("{}")
        finally:
            fcntl.flock(lk, fcntl.LOCK_UN)
        stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr
    to = os.path.join(workdir, "r")
    assert restore(out, to, bkey, pub).returncode == 0
    assert os.path.exists(os.path.join(to, "models", "manifests", "shop", "2.json"))
    # Another reader holding the lock shared does not hold the backup up.
    with open(os.path.join(store, ".lock")) as lk:
        fcntl.flock(lk, fcntl.LOCK_SH)
        t0 = time.monotonic()
        p = sgtest.run(args[1:])
        assert p.returncode == 0, p.stderr
        assert time.monotonic() - t0 < 20


def test_backup_gives_up_on_a_busy_model_store(workdir):
    """A change that holds the store's lock longer than --store-wait: the backup stops with
    a clear error and leaves no archive."""
    org, pub, bkey, store, cfg = store_deployment(workdir)
    out = os.path.join(workdir, "b.sgb")
    with open(os.path.join(store, ".lock"), "r+") as lk:
        fcntl.flock(lk, fcntl.LOCK_EX)
        t0 = time.monotonic()
        p = sgtest.run(["backup", "--config", cfg, "--out", out, "--key", "file:" + bkey,
                        "--sign-key", "file:" + org, "--store-wait", "1"])
        took = time.monotonic() - t0
    assert p.returncode == 1, p.stdout
    # names every command that holds the lock exclusively (a backup waits for those only)
    assert "the model store is busy (a model import, pull, promote, rollback, remove or gc, " \
        "or a restore --force holds its lock); try again" in p.stderr, p.stderr
    assert 0.9 < took < 20, took
    assert not os.path.exists(out)
    assert not [f for f in os.listdir(workdir) if ".partial-" in f]
    assert sgtest.run(["backup", "--config", cfg, "--out", out, "--key", "file:" + bkey,
                       "--sign-key", "file:" + org, "--store-wait", "0"]).returncode == 2



def restored_store(workdir):
    """A deployment with a model store, its archive, and a folder restored from it whose
    store was changed since (its lock file made by the first change, a manifest added):
    the folder that `restore --force` replaces, store and all."""
    org, pub, bkey, store, cfg = store_deployment(workdir)
    out = os.path.join(workdir, "b.sgb")
    p = sgtest.run(["backup", "--config", cfg, "--out", out, "--key", "file:" + bkey,
                    "--sign-key", "file:" + org, "--quiet"])
    assert p.returncode == 0, p.stderr
    parent = os.path.join(workdir, "area")
    os.makedirs(parent)
    target = os.path.join(parent, "site")
    assert restore(out, target, bkey, pub).returncode == 0
    tstore = os.path.join(target, "models")
    with open(os.path.join(tstore, ".lock"), "w"):
        pass
    later = os.path.join(tstore, "manifests", "shop", "3.json")
    with open(later, "w") as fh:
        fh.write("{}")
    return out, pub, bkey, parent, target, tstore, later


def test_restore_force_waits_for_the_model_store_lock(workdir):
    """`restore --force` replaces the target folder, and with it a model store inside it:
    it takes that store's lock (<store>/.lock, the flock(2) that `model import`, `promote`,
    `remove`, `pull` and `gc` hold while they change the store) exclusively before it
    writes anything, so it waits for a change under way (whose files would otherwise be
    swapped out from under it, or land half in the old store and half in the new), and
    holds it until the old folder is gone."""
    out, pub, bkey, parent, target, tstore, later = restored_store(workdir)
    env = dict(os.environ)
    env.update(sgtest.SAN_ENV)
    args = [sgtest.SOVGATE, "restore", out, "--to", target, "--key", "file:" + bkey,
            "--pubkey", pub, "--force"]
    before = listing(parent)
    with open(os.path.join(tstore, ".lock"), "r+") as lk:
        fcntl.flock(lk, fcntl.LOCK_EX)  # a change in progress, in another process
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, env=env)
        try:
            time.sleep(1.5)
            assert proc.poll() is None, "the restore did not wait for the store's lock"
            assert listing(parent) == before  # nothing written yet, nothing swapped
            assert os.path.exists(later)
        finally:
            fcntl.flock(lk, fcntl.LOCK_UN)
        stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr
    assert "waiting for its lock" in stderr, stderr
    assert not os.path.exists(later)  # replaced by the archive's store
    assert os.path.exists(os.path.join(tstore, "manifests", "shop", "1.json"))
    assert [x for x in os.listdir(parent) if x.startswith(".")] == []


def test_restore_gives_up_on_a_busy_model_store(workdir):
    """A change that holds the lock of a store inside the target longer than --store-wait:
    the restore stops with the error the backup gives, and writes nothing."""
    out, pub, bkey, parent, target, tstore, later = restored_store(workdir)
    before = listing(parent)
    with open(os.path.join(tstore, ".lock"), "r+") as lk:
        fcntl.flock(lk, fcntl.LOCK_EX)
        t0 = time.monotonic()
        p = restore(out, target, bkey, pub, "--force", "--store-wait", "1")
        took = time.monotonic() - t0
    assert p.returncode == 1, p.stdout
    # a restore waits for the readers too (shared holders of the lock)
    assert "the model store is busy (a model import, pull, promote, rollback, remove, gc or " \
        "verify, a backup or a restore --force holds its lock); try again" in p.stderr, p.stderr
    assert tstore in p.stderr
    assert f"{tstore}/.lock); it lies in the target, which --force replaces" in p.stderr
    assert "nothing was written" in p.stderr
    assert 0.9 < took < 20, took
    assert listing(parent) == before
    assert os.path.exists(later)
    # without --force there is no store in the target to replace: no lock is needed
    empty = os.path.join(parent, "empty")
    assert restore(out, empty, bkey, pub, "--store-wait", "1").returncode == 0
    assert restore(out, empty, bkey, pub, "--store-wait", "0").returncode == 2


# Crafted archives: the format written independently in Python.

def craft(s, recs, manifest=None, chunk=4096):
    aead = pytest.importorskip("cryptography.hazmat.primitives.ciphers.aead")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF
    key = bytes.fromhex(open(s["key"]).read().strip())
    stream = b"SGBKSTR1"
    entries = []
    for typ, path, mode, data in recs:
        pb = path.encode()
        dg = hashlib.sha256(data).digest()
        stream += typ + struct.pack("<HIQ", len(pb), mode, len(data)) + pb + data + dg
        entries.append({"path": path, "mode": mode, "size": len(data), "sha256": dg.hex()})
        if typ == b"D":
            entries[-1]["type"] = "dir"
    m = json.dumps(manifest if manifest is not None else
                   {"format": "sovgate-backup/1", "entries": entries}).encode()
    stream += b"M" + struct.pack("<HIQ", 0, 0, len(m)) + m + hashlib.sha256(m).digest()
    salt, prefix = os.urandom(16), os.urandom(8)

    def hk(info, n):
        return HKDF(algorithm=hashes.SHA256(), length=n, salt=salt, info=info).derive(key)
    header = (b"SGBACK01" + struct.pack("<II", 1, chunk) + salt + prefix +
              hk(b"sovgate-backup/1 check", 32)[:16] + bytes(8))
    gcm = aead.AESGCM(hk(b"sovgate-backup/1 data", 32))
    pieces = [stream[i:i + chunk] for i in range(0, len(stream), chunk)]
    out = header
    for i, c in enumerate(pieces):
        chdr = struct.pack("<IB", len(c), 1 if i == len(pieces) - 1 else 0)
        out += chdr + gcm.encrypt(prefix + struct.pack(">I", i), c,
                                  header + struct.pack(">Q", i) + chdr)
    sk = serialization.load_pem_private_key(open(s["org"], "rb").read(), None)
    msg = b"sovgate-backup:1:" + hashlib.sha256(out).hexdigest().encode()
    pubraw = sk.public_key().public_bytes(serialization.Encoding.Raw,
                                          serialization.PublicFormat.Raw)
    out += b"SGBKSIG1" + pubraw + sk.sign(msg)
    path = os.path.join(s["dir"], f"crafted-{len(os.listdir(s['dir']))}.sgb")
    open(path, "wb").write(out)
    return path


def test_crafted_archive_is_readable(small):
    """The independent writer agrees with the reader (the format is as documented)."""
    a = craft(small, [(b"F", "sovgate.yaml", 0o600, b"x: 1\n"),
                      (b"D", "state", 0o750, b""), (b"D", "empty", 0o700, b""),
                      (b"F", "state/big", 0o644, os.urandom(10000))])
    to = os.path.join(small["dir"], "ok")
    p = restore(a, to, small["key"], small["pub"])
    assert p.returncode == 0, p.stderr
    assert open(os.path.join(to, "sovgate.yaml")).read() == "x: 1\n"
    assert os.stat(os.path.join(to, "state", "big")).st_size == 10000
    assert os.listdir(os.path.join(to, "empty")) == []
    assert os.stat(os.path.join(to, "state")).st_mode & 0o777 == 0o750


@pytest.mark.parametrize("recs,needle", [
    ([(b"F", "ok", 0o600, b"1"), (b"F", "../escape", 0o600, b"evil")], "refused entry path"),
    ([(b"F", "a/../../escape", 0o600, b"evil")], "refused entry path"),
    ([(b"F", "/tmp/sovgate-abs-escape", 0o600, b"evil")], "refused entry path"),
    ([(b"F", "a", 0o600, b"1"), (b"F", "a", 0o600, b"2")], "duplicate entry a"),
    ([(b"F", "x/y", 0o600, b"1"), (b"F", "x", 0o600, b"2")], "also a folder"),
    ([(b"L", "link", 0o777, b"/etc/passwd")], "only regular files"),
    ([(b"F", "x", 0o600, b"1"), (b"D", "x/y", 0o700, b"")], "also a folder"),
    ([(b"D", "d", 0o700, b"data")], "a folder with content"),
    ([(b"D", "../up", 0o700, b"")], "refused entry path"),
    ([(b"F", "suid", 0o4755, b"#!/bin/sh")], "not a plain file mode"),
])
def test_crafted_hostile_entries(small, recs, needle):
    refused(small, craft(small, recs), needle)
    assert not os.path.exists("/tmp/sovgate-abs-escape")


def test_crafted_manifest_mismatch(small):
    refused(small, craft(small, [(b"F", "a", 0o600, b"1")],
                         manifest={"format": "sovgate-backup/1", "entries": []}),
            "manifest lists 0 entries")


def test_block_yaml_rewritten_in_place(workdir):
    """A hand-written configuration (block style, comments, quotes, non-ASCII text,
    relative and file: paths) keeps its text; only the paths change."""
    org, pub, bkey = org_keys(workdir)
    certs = sgtest.make_certs(workdir)
    sgtest.run(["keys", "create", "--name", "shop", "--db", os.path.join(workdir, "k.db")],
               check=True)
    text = ("# Filiale München – gateway\n"
            "listen:\n"
            "  address: \"127.0.0.1:0\"\n"
            "  tls:\n"
            "    cert: 'certs/cert.pem'   # öffentlich\n"
            f"    key: file:{certs['key']}\n"
            "keys_db: k.db\n"
            "backends:\n"
            "  - name: b1\n"
            "    url: \"http://127.0.0.1:9\"\n"
            "routes:\n"
            "  - {model: assistant, backends: [b1]}\n"
            "audit:\n"
            "  path: audit.db\n"
            "  signing_key: \"file:org.pem\"\n")
    cfg = os.path.join(workdir, "sovgate.yaml")
    with open(cfg, "w", encoding="utf-8") as f:
        f.write(text)
    out = os.path.join(workdir, "b.sgb")
    p = sgtest.run(["backup", "--config", cfg, "--out", out, "--key", "file:" + bkey])
    assert p.returncode == 0, p.stderr
    p = sgtest.run(["restore", out, "--verify-only", "--key", "file:" + bkey, "--pubkey", pub])
    assert p.returncode == 0 and "verified: signature" in p.stdout, p.stderr
    to = os.path.join(workdir, "r")
    assert restore(out, to, bkey, pub).returncode == 0
    got = open(os.path.join(to, "sovgate.yaml"), encoding="utf-8").read()
    want = (text.replace("'certs/cert.pem'", '"tls/cert.pem"')
            .replace(f"file:{certs['key']}", f'"file:{certs["key"]}"')
            .replace("keys_db: k.db", 'keys_db: "state/keys.db"')
            .replace("path: audit.db", 'path: "state/audit.db"')
            .replace('"file:org.pem"', f'"file:{org}"'))
    assert got == want
    assert open(os.path.join(to, "original", "sovgate.yaml"), encoding="utf-8").read() == text
    assert sgtest.run(["check-config", os.path.join(to, "sovgate.yaml")]).returncode == 0


def test_usage_errors(workdir):
    org, pub, bkey = org_keys(workdir)
    cfg = os.path.join(workdir, "sovgate.yaml")
    with open(cfg, "w") as f:
        json.dump({"listen": {"address": "127.0.0.1:0", "plaintext": True},
                   "backends": [{"name": "b1", "url": "http://127.0.0.1:9"}],
                   "routes": [{"model": "assistant", "backends": ["b1"]}]}, f)
    out = os.path.join(workdir, "b.sgb")
    # No backup key; no signing key anywhere; a key that is not 32 bytes.
    assert sgtest.run(["backup", "--config", cfg, "--out", out]).returncode == 2
    p = sgtest.run(["backup", "--config", cfg, "--out", out, "--key", "file:" + bkey])
    assert p.returncode == 1 and "audit.signing_key" in p.stderr
    short = os.path.join(workdir, "short.key")
    with open(short, "w") as f:
        f.write("abcd")
    p = sgtest.run(["backup", "--config", cfg, "--out", out, "--key", "file:" + short,
                    "--sign-key", "file:" + org])
    assert p.returncode == 1 and "64 hex digits" in p.stderr
    assert not os.path.exists(out) and not [f for f in os.listdir(workdir) if ".partial-" in f]
    # restore insists on a public key.
    assert sgtest.run(["restore", out, "--to", os.path.join(workdir, "r"), "--key",
                       "file:" + bkey]).returncode == 2
