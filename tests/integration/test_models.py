"""The model store (docs/models.md): `sovgate model import/list/verify/promote/rollback/
remove` on small GGUF models made at test time by sovgate-mkmodel; tampered weights,
manifests, signatures and channel files; wrong keys; truncated and damaged encrypted
weights (the error names the chunk); a full disk during import (a small tmpfs); and the
engine side: sovgate-engine refuses a tampered model and serves a verified encrypted one
(from a sealed memfd), also when the gateway starts it from `model: name@channel`."""

import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import time

import pytest

import sgtest

MKMODEL = os.path.join(sgtest.BUILD, "sovgate-mkmodel")
ENGINE = os.path.join(sgtest.BUILD, "sovgate-engine")

pytestmark = pytest.mark.skipif(not os.path.exists(MKMODEL),
                                reason="sovgate-mkmodel not built (run scripts/fetch-llama)")

CHUNK = 65536  # small encryption chunks, so that a small model has many


# ---- fixtures and helpers ----

@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    d = tmp_path_factory.mktemp("keys")
    org = str(d / "org.pem")
    sgtest.run(["audit", "keygen", "--out", org], check=True)
    pub = str(d / "org.pub")
    with open(pub, "w") as f:
        f.write(sgtest.run(["audit", "pubkey", "--key", org], check=True).stdout.split("key id")[0])
    other = str(d / "other.pem")
    sgtest.run(["audit", "keygen", "--out", other], check=True)
    other_pub = str(d / "other.pub")
    with open(other_pub, "w") as f:
        f.write(sgtest.run(["audit", "pubkey", "--key", other], check=True)
                .stdout.split("key id")[0])
    enc = str(d / "enc.key")
    with open(enc, "w") as f:
        f.write(os.urandom(32).hex() + "\n")
    enc2 = str(d / "enc2.key")
    with open(enc2, "w") as f:
        f.write(os.urandom(32).hex() + "\n")
    return {"org": org, "pub": pub, "other": other, "other_pub": other_pub, "enc": enc,
            "enc2": enc2}


def mkmodel(path, seed=0):
    """A small loadable model (about 2.5 MB): the llama-spm vocabulary, one narrow layer."""
    subprocess.run([MKMODEL, "--vocab", "llama-spm", "--layers", "1", "--embd", "64",
                    "--heads", "2", "--kv-heads", "1", "--ff", "128", "--type", "q8_0",
                    "--seed", str(seed), "--out", path, "--threads", "1"],
                   check=True, capture_output=True, timeout=120)
    return path


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    d = tmp_path_factory.mktemp("models")
    return [mkmodel(str(d / "a.gguf"), 1), mkmodel(str(d / "b.gguf"), 2)]


def m(store, keys, *args, sign=True, pub=None):
    a = ["model"] + list(args) + ["--store", store]
    if sign:
        a += ["--key", "file:" + keys["org"]]
    if pub:
        a += ["--pubkey", "file:" + pub]
    return sgtest.run(a)


def ok(p):
    assert p.returncode == 0, p.stderr
    return p


def listing(store, keys):
    return json.loads(ok(m(store, keys, "list", "--json", sign=False, pub=keys["pub"])).stdout)


def manifest_path(store, name, version):
    return os.path.join(store, "manifests", name, version + ".json")


def blob_path(store, name, version):
    with open(manifest_path(store, name, version)) as f:
        return os.path.join(store, "blobs", "sha256", json.load(f)["payload"]["blob"]["sha256"])


def writable(path):
    """Stored weights are read-only (0440); whoever owns the store can still chmod them."""
    os.chmod(path, 0o640)
    return path


MANIFEST_DOMAIN = "sovgate-model-manifest:1:"
CHANNELS_DOMAIN = "sovgate-model-channels:1:"


def signed_text(payload, domain):
    """The text a store file's signature covers: its domain, then the canonical payload."""
    return domain + json.dumps(payload, separators=(",", ":"), sort_keys=True, ensure_ascii=True)


def signed_digest(path, domain):
    """SHA-256 of a signed store file's signed text: what a channel pins (a manifest's), or
    what models.state records (a channel file's)."""
    with open(path) as f:
        payload = json.load(f)["payload"]
    return hashlib.sha256(signed_text(payload, domain).encode()).hexdigest()


def manifest_digest(path):
    return signed_digest(path, MANIFEST_DOMAIN)


def put_back(path, data):
    """Replaces a file in one step, as someone with write access to the store would."""
    with open(path + ".tmp", "wb") as f:
        f.write(data)
    os.replace(path + ".tmp", path)


def chat_until_served(g, timeout=30):
    """Asks the gateway until its engine answers 200 (an engine starting or switching
    answers 503 meanwhile); fails with the last answer after `timeout` seconds."""
    deadline = time.time() + timeout
    while True:
        st, _, body = g.chat("Hello", max_tokens=4)
        if st == 200 or time.time() > deadline:
            break
        time.sleep(0.2)
    assert st == 200, body


def flip(path, offset):
    with open(writable(path), "r+b") as f:
        f.seek(offset)
        b = f.read(1)
        f.seek(offset)
        f.write(bytes([b[0] ^ 0x20]))


def audit_events(store, keys):
    p = sgtest.run(["audit", "verify", "--db", os.path.join(store, "audit.db"),
                    "--pubkey", keys["pub"]])
    assert p.returncode == 0, p.stdout + p.stderr
    out = ok(sgtest.run(["audit", "export", "--db", os.path.join(store, "audit.db")])).stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def store_files(store):
    out = []
    for root, _, files in os.walk(store):
        for f in files:
            out.append(os.path.relpath(os.path.join(root, f), store))
    return sorted(out)


# ---- the store ----

def test_lifecycle(tmp_path, keys, models):
    store = str(tmp_path / "store")
    p = ok(m(store, keys, "import", models[0], "--name", "shop", "--version", "1",
             "--license", "apache-2.0", "--source", "https://example.invalid/a"))
    assert "imported shop 1 sha256:" in p.stdout
    ok(m(store, keys, "import", models[1], "--name", "shop", "--version", "2",
         "--encrypt", "file:" + keys["enc"], "--chunk", str(CHUNK)))
    lst = listing(store, keys)
    assert [(e["name"], e["version"]) for e in lst] == [("shop", "1"), ("shop", "2")]
    g = lst[0]["gguf"]
    assert g["architecture"] == "llama" and g["file_type"] == "Q8_0"
    assert g["parameters"] > 2_000_000 and g["context_length"] == 2048
    assert len(g["chat_template_sha256"]) == 64 and g["gguf_version"] == 3
    assert lst[0]["license"] == "apache-2.0" and lst[0]["blob"]["encryption"] is None
    assert lst[1]["blob"]["encryption"]["chunk"] == CHUNK
    # plaintext blobs are named by the weights' digest; encrypted ones by their own bytes
    assert lst[0]["blob"]["sha256"] == lst[0]["weights"]["sha256"]
    assert lst[1]["blob"]["sha256"] != lst[1]["weights"]["sha256"]
    assert lst[1]["blob"]["size"] > lst[1]["weights"]["size"] == os.path.getsize(models[1])
    with open(blob_path(store, "shop", "2"), "rb") as f:
        assert f.read(8) == b"SGMENC01"  # never plaintext at rest

    p = ok(m(store, keys, "verify", sign=False, pub=keys["pub"]))
    assert p.stdout.count("ok") == 2
    ok(m(store, keys, "verify", "--encryption-key", "file:" + keys["enc"], sign=False,
         pub=keys["pub"]))

    ok(m(store, keys, "promote", "shop", "1", "--channel", "prod"))
    ok(m(store, keys, "promote", "shop", "2", "--channel", "prod"))
    assert listing(store, keys)[1]["channels"] == ["prod"]
    # a version a channel points to (or may roll back to) cannot be removed
    for v in ("1", "2"):
        p = m(store, keys, "remove", "shop", v)
        assert p.returncode == 1 and "channel prod" in p.stderr
    p = ok(m(store, keys, "rollback", "shop", "--channel", "prod"))
    assert "shop@prod -> 1" in p.stdout
    p = m(store, keys, "rollback", "shop", "--channel", "prod")
    assert p.returncode == 1 and "no earlier version" in p.stderr
    blob2 = blob_path(store, "shop", "2")
    ok(m(store, keys, "remove", "shop", "2"))
    assert not os.path.exists(blob2)
    assert [e["version"] for e in listing(store, keys)] == ["1"]
    p = m(store, keys, "promote", "shop", "2", "--channel", "prod")
    assert p.returncode == 1 and "no model shop version 2" in p.stderr

    ev = audit_events(store, keys)
    assert [e["event"] for e in ev] == ["model.import", "model.import", "model.promote",
                                        "model.promote", "model.rollback", "model.remove"]
    assert ev[1]["encrypted"] is True and ev[3]["previous"] == "1"


def test_bad_input(tmp_path, keys, models):
    store = str(tmp_path / "store")
    ok(m(store, keys, "import", models[0], "--name", "shop", "--version", "1"))
    p = m(store, keys, "import", models[0], "--name", "shop", "--version", "1")
    assert p.returncode == 1 and "already exists" in p.stderr
    junk = str(tmp_path / "junk.gguf")
    with open(junk, "wb") as f:
        f.write(b"GGUF\x03\x00\x00\x00" + b"\xff" * 100)
    p = m(store, keys, "import", junk, "--name", "junk", "--version", "1")
    assert p.returncode == 1 and "not a usable GGUF" in p.stderr
    for name in ("../evil", ".hidden", "a/b", "x" * 65, ""):
        p = m(store, keys, "import", models[0], "--name", name, "--version", "1")
        assert p.returncode != 0
    p = m(store, keys, "import", models[0], "--name", "x", "--version", "1", sign=False,
          pub=keys["pub"])
    assert p.returncode == 2 and "signing key" in p.stderr
    p = m(store, keys, "import", models[0], "--name", "x", "--version", "1",
          "--encrypt", "0011")
    assert p.returncode == 1 and "file:PATH or env:NAME" in p.stderr
    # nothing half-imported is left behind
    assert store_files(store) == store_files(store)  # stable
    assert [e["name"] for e in listing(store, keys)] == ["shop"]
    assert os.listdir(os.path.join(store, "tmp")) == []


def test_tampering(tmp_path, keys, models):
    store = str(tmp_path / "store")
    ok(m(store, keys, "import", models[0], "--name", "a", "--version", "1"))
    ok(m(store, keys, "import", models[1], "--name", "b", "--version", "1"))
    ok(m(store, keys, "import", models[1], "--name", "c", "--version", "1"))
    ok(m(store, keys, "promote", "c", "1", "--channel", "prod"))
    # tampered weights
    flip(blob_path(store, "a", "1"), 5000)
    # tampered manifest: the license changed, the signature kept
    mp = manifest_path(store, "b", "1")
    with open(mp) as f:
        doc = json.load(f)
    doc["payload"]["license"] = "proprietary"
    with open(mp, "w") as f:
        json.dump(doc, f)
    # tampered signature on the channel file
    cp = os.path.join(store, "channels", "c.json")
    with open(cp) as f:
        doc = json.load(f)
    sig = doc["signature"]["value"]
    doc["signature"]["value"] = ("0" if sig[0] != "0" else "1") + sig[1:]
    with open(cp, "w") as f:
        json.dump(doc, f)
    p = m(store, keys, "verify", sign=False, pub=keys["pub"])
    assert p.returncode == 1
    out = p.stdout
    assert "FAIL a 1: the weights' SHA-256 does not match the signed manifest" in out
    assert "FAIL b 1: manifest b 1: the signature does not verify" in out
    assert "ok   c 1" in out
    assert "FAIL c (channels): channels of c: the signature does not verify" in out
    # list shows what cannot be trusted
    lst = {e["name"]: e for e in listing(store, keys)}
    assert "signature does not verify" in lst["b"]["error"]
    # a version cannot be promoted from a manifest that does not verify
    p = m(store, keys, "promote", "b", "1", "--channel", "prod")
    assert p.returncode == 1 and "signature does not verify" in p.stderr


def test_remove_stays_in_the_store(tmp_path, keys, models):
    """`model remove` takes only valid names and versions: one that climbs out of the store
    is refused and nothing outside it is touched (it used to unlink
    <store>/manifests/../../victim/x.json and remove the folder); a manifest that does not
    verify is not removed either. Stored weights are read-only (0440)."""
    store = str(tmp_path / "a" / "store")
    ok(m(store, keys, "import", models[0], "--name", "a", "--version", "1"))
    victim = tmp_path / "a" / "victim"
    victim.mkdir()
    (victim / "x.json").write_text("precious")
    for name, version in (("../../victim", "x"), ("a", "../../../victim/x"), ("..", "x")):
        p = m(store, keys, "remove", name, version)
        assert p.returncode == 1, (name, version)
        assert "invalid model name or version" in p.stderr, p.stderr
    assert (victim / "x.json").read_text() == "precious"
    assert os.stat(blob_path(store, "a", "1")).st_mode & 0o7777 == 0o440
    p = m(store, keys, "remove", "a", "2")
    assert p.returncode == 1 and "no model a version 2 in the store" in p.stderr
    mp = manifest_path(store, "a", "1")
    with open(mp) as f:
        doc = json.load(f)
    doc["payload"]["license"] = "proprietary"
    with open(mp, "w") as f:
        json.dump(doc, f)
    p = m(store, keys, "remove", "a", "1")
    assert p.returncode == 1 and "signature does not verify" in p.stderr
    assert os.path.exists(mp)


def signer_state(keys):
    """The signing CLI's record of the channel files it signed (next to the key)."""
    with open(keys["org"] + ".seq") as f:
        return f.read()


def test_signer_refuses_a_put_back_channel_file(tmp_path, keys, models):
    """The signing CLI keeps its own record (`<key file>.seq`) of the channel files it
    signed: after an older signed channel file was put back, the next change (even of
    another channel) is refused instead of signing the old pointers under a new sequence
    number; --accept-older-channels builds on it knowingly, above both numbers."""
    store = str(tmp_path / "store")
    for v, f in (("1", models[0]), ("2", models[1]), ("3", models[0])):
        ok(m(store, keys, "import", f, "--name", "a", "--version", v))
    ok(m(store, keys, "promote", "a", "1", "--channel", "prod"))
    cp = os.path.join(store, "channels", "a.json")
    with open(cp, "rb") as f:
        seq1 = f.read()
    ok(m(store, keys, "promote", "a", "2", "--channel", "prod"))
    line = f" {os.path.realpath(store)}/channels/a.json\n"
    assert [ln for ln in signer_state(keys).splitlines(True) if ln.endswith(line)][0] \
        .startswith("2 ")
    with open(cp, "wb") as f:
        f.write(seq1)
    p = m(store, keys, "promote", "a", "3", "--channel", "staging")
    assert p.returncode == 1
    assert "channels/a.json has sequence 1, older than the 2 this signer signed" in p.stderr
    with open(cp, "rb") as f:
        assert f.read() == seq1  # nothing signed
    p = m(store, keys, "rollback", "a", "--channel", "prod")
    assert p.returncode == 1
    ok(m(store, keys, "promote", "a", "2", "--channel", "prod", "--accept-older-channels"))
    with open(cp) as f:
        assert json.load(f)["payload"]["seq"] == 3
    assert [ln for ln in signer_state(keys).splitlines(True) if ln.endswith(line)][0] \
        .startswith("3 ")
    ok(m(store, keys, "promote", "a", "3", "--channel", "staging"))
    assert os.stat(keys["org"] + ".seq").st_mode & 0o777 == 0o600


def key_at_length(root, keys, total):  # noqa: F811
    """A copy of the signing key under `root` whose absolute path has `total` characters."""
    path = root
    while total - len(path) - 1 > 255:
        path = os.path.join(path, "d" * 200)
        os.makedirs(path, exist_ok=True)
    path = os.path.join(path, "k" * (total - len(path) - 1))
    assert len(path) == total
    with open(keys["org"], "rb") as f, open(path, "wb") as out:
        out.write(f.read())
    return path


def test_signer_state_beside_a_long_key_path(tmp_path, keys, models):
    """The signer's state is the key's path with .seq added: a key path whose state path
    fits PATH_MAX (4095 characters and the NUL) is taken, one that does not is refused as
    usage, before anything changes (never cut short into the name of another file)."""
    store = str(tmp_path / "store")
    ok(m(store, keys, "import", models[0], "--name", "a", "--version", "1"))
    root = str(tmp_path)
    fits = key_at_length(root, keys, 4096 - 5)
    p = m(store, keys, "promote", "a", "1", "--channel", "prod", "--key", "file:" + fits,
          sign=False)
    # past the check (the state file's own temporary name is then too long to write: the
    # change stands, and says so)
    assert p.returncode != 2 and "is too long" not in p.stderr, p.stderr
    too_long = key_at_length(root, keys, 4096 - 4)
    p = m(store, keys, "promote", "a", "1", "--channel", "staging", "--key",
          "file:" + too_long, sign=False)
    assert p.returncode == 2, p.stdout + p.stderr
    assert "--signer-state (or the signing key's path) is too long" in p.stderr, p.stderr
    assert not os.path.exists(too_long + ".seq")
    with open(os.path.join(store, "channels", "a.json")) as f:
        assert "staging" not in json.load(f)["payload"]["channels"]


def test_wrong_keys(tmp_path, keys, models):
    store = str(tmp_path / "store")
    ok(m(store, keys, "import", models[0], "--name", "a", "--version", "1",
         "--encrypt", "file:" + keys["enc"], "--chunk", str(CHUNK)))
    p = m(store, keys, "verify", sign=False, pub=keys["other_pub"])
    assert p.returncode == 1 and "not by the configured key" in p.stdout
    p = m(store, keys, "verify", "--encryption-key", "file:" + keys["enc2"], sign=False,
          pub=keys["pub"])
    assert p.returncode == 1 and "wrong encryption key" in p.stdout
    # a signing key whose public key is not the configured one
    p = sgtest.run(["model", "promote", "a", "1", "--channel", "prod", "--store", store,
                    "--key", "file:" + keys["other"], "--pubkey", "file:" + keys["pub"]])
    assert p.returncode == 1 and "not the signing key's public key" in p.stderr


def test_truncated_and_damaged_encrypted(tmp_path, keys, models):
    store = str(tmp_path / "store")
    ok(m(store, keys, "import", models[0], "--name", "a", "--version", "1",
         "--encrypt", "file:" + keys["enc"], "--chunk", str(CHUNK)))
    blob = blob_path(store, "a", "1")
    saved = str(tmp_path / "saved")
    shutil.copy(blob, saved)
    # a damaged byte in chunk 3: named, with its byte range
    flip(blob, 64 + 3 * (CHUNK + 16) + 100)
    p = m(store, keys, "verify", "--encryption-key", "file:" + keys["enc"], sign=False,
          pub=keys["pub"])
    assert p.returncode == 1
    assert "chunk 3 of " in p.stdout and "failed authentication" in p.stdout
    # without the key the stored bytes' digest catches it too
    p = m(store, keys, "verify", sign=False, pub=keys["pub"])
    assert p.returncode == 1 and "SHA-256 does not match" in p.stdout
    # truncated (a download cut short)
    shutil.copy(saved, blob)
    with open(writable(blob), "r+b") as f:
        f.truncate(os.path.getsize(saved) - (CHUNK + 16) - 5)
    p = m(store, keys, "verify", "--encryption-key", "file:" + keys["enc"], sign=False,
          pub=keys["pub"])
    assert p.returncode == 1 and "truncated or replaced" in p.stdout


@pytest.fixture
def tmpfs(tmp_path):
    mnt = str(tmp_path / "small")
    os.makedirs(mnt)
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", mnt],
                       capture_output=True)
    if p.returncode != 0:
        pytest.skip("cannot mount a tmpfs here: " + p.stderr.decode(errors="replace"))
    yield mnt
    subprocess.run(["umount", "-l", mnt])


def test_disk_full_during_import(tmpfs, keys, models):
    store = os.path.join(tmpfs, "store")
    ok(m(store, keys, "import", models[0], "--name", "a", "--version", "1"))
    before = store_files(store)
    p = m(store, keys, "import", models[1], "--name", "a", "--version", "2",
          "--encrypt", "file:" + keys["enc"])
    assert p.returncode == 1
    assert "disk full" in p.stderr and "No space left on device" in p.stderr
    # the store is as it was: no half blob, no manifest, still verifies
    assert store_files(store) == before
    assert os.listdir(os.path.join(store, "tmp")) == []
    assert "ok   a 1" in ok(m(store, keys, "verify", sign=False, pub=keys["pub"])).stdout
    # a manifest write that fails: fill the disk to the last bytes, then import a model
    # whose blob is already stored (dedup) under a new version
    filler = os.path.join(tmpfs, "filler")
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while True:
            os.write(fd, b"\0" * 512)
    except OSError:
        pass
    os.close(fd)
    p = m(store, keys, "import", models[0], "--name", "a", "--version", "3")
    os.unlink(filler)
    assert p.returncode == 1 and "No space left on device" in p.stderr
    assert [e["version"] for e in listing(store, keys)] == ["1"]
    assert "ok   a 1" in ok(m(store, keys, "verify", sign=False, pub=keys["pub"])).stdout


def test_shared_blob_leftovers_and_missing_blob(tmp_path, keys, models):
    store = str(tmp_path / "store")
    # the same plaintext weights under two versions share one blob
    ok(m(store, keys, "import", models[0], "--name", "a", "--version", "1"))
    ok(m(store, keys, "import", models[0], "--name", "a", "--version", "2"))
    assert blob_path(store, "a", "1") == blob_path(store, "a", "2")
    ok(m(store, keys, "remove", "a", "1"))
    assert os.path.exists(blob_path(store, "a", "2"))  # still used by version 2
    assert "ok   a 2" in ok(m(store, keys, "verify", sign=False, pub=keys["pub"])).stdout
    # what a crashed import left in tmp/ is removed by the next change
    junk = os.path.join(store, "tmp", "new-crashed")
    with open(junk, "wb") as f:
        f.write(b"half a model")
    ok(m(store, keys, "import", models[1], "--name", "b", "--version", "1"))
    assert os.listdir(os.path.join(store, "tmp")) == []
    # a missing blob is named
    os.unlink(blob_path(store, "b", "1"))
    p = m(store, keys, "verify", "b", sign=False, pub=keys["pub"])
    assert p.returncode == 1 and "is missing" in p.stdout
    # a genuine manifest copied under another version does not pass for it
    shutil.copy(manifest_path(store, "a", "2"), manifest_path(store, "a", "3"))
    p = m(store, keys, "verify", "a", "3", sign=False, pub=keys["pub"])
    assert p.returncode == 1 and "names another model" in p.stdout
    p = m(store, keys, "promote", "a", "3", "--channel", "prod")
    assert p.returncode == 1 and "names another model" in p.stderr
    # unknown names
    p = m(store, keys, "verify", "nope", sign=False, pub=keys["pub"])
    assert p.returncode == 1 and "no model nope" in p.stderr


def gguf_bytes(arch, name):
    """A minimal GGUF (v3): two string metadata pairs and one F32 tensor of 4 elements."""
    import struct

    def gstr(b):
        return struct.pack("<Q", len(b)) + b

    out = b"GGUF" + struct.pack("<IQQ", 3, 1, 2)
    out += gstr(b"general.architecture") + struct.pack("<I", 8) + gstr(arch)
    out += gstr(b"general.name") + struct.pack("<I", 8) + gstr(name)
    out += gstr(b"w") + struct.pack("<IQIQ", 1, 4, 0, 0)
    return out + b"\0" * 32


def test_hostile_header_strings(tmp_path, keys):
    """The architecture and name come from the file: `inspect` prints valid JSON, and an
    import keeps them in its manifest as printable UTF-8 (jansson refuses invalid UTF-8,
    which used to drop the fields silently)."""
    f = str(tmp_path / "odd.gguf")
    with open(f, "wb") as fh:
        fh.write(gguf_bytes(b'qw"en\\\x1b]0;x\x07', b"caf\xc3\xa9 \xff\xfe" + b"\xc3\xa9" * 80))
    p = ok(sgtest.run(["model", "inspect", f]))
    info = json.loads(p.stdout)
    assert info["architecture"] == 'qw"en\\?]0;x?'
    store = str(tmp_path / "store")
    ok(m(store, keys, "import", f, "--name", "odd", "--version", "1"))
    g = listing(store, keys)[0]["gguf"]
    assert g["architecture"] == 'qw"en\\?]0;x?'
    assert g["model_name"].startswith("caf\u00e9 ??\u00e9")
    assert len(g["model_name"].encode()) <= 127


# ---- the engine ----

engine_only = pytest.mark.skipif(not os.path.exists(ENGINE), reason="sovgate-engine not built")


def wait_socket(path, proc, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            return False
        if os.path.exists(path):
            s = socket.socket(socket.AF_UNIX)
            try:
                s.connect(path)
                return True
            except OSError:
                pass
            finally:
                s.close()
        time.sleep(0.1)
    return False


def engine_args(store, keys, ref, sock, enc=True):
    a = [ENGINE, "--model-ref", ref, "--store", store, "--pubkey", "file:" + keys["pub"],
         "--socket", sock, "--ctx", "256", "--parallel", "1", "--threads", "1"]
    if enc:
        a += ["--encryption-key", "file:" + keys["enc"]]
    return a


@engine_only
def test_engine_refuses_tampered_and_serves_encrypted(tmp_path, keys, models):
    store = str(tmp_path / "store")
    ok(m(store, keys, "import", models[0], "--name", "a", "--version", "1",
         "--encrypt", "file:" + keys["enc"], "--chunk", str(CHUNK)))
    ok(m(store, keys, "import", models[1], "--name", "b", "--version", "1"))
    ok(m(store, keys, "promote", "a", "1", "--channel", "prod"))
    sock = str(tmp_path / "e.sock")
    # a verified encrypted model is served from a sealed memfd
    proc = subprocess.Popen(engine_args(store, keys, "a@prod", sock), stderr=subprocess.PIPE,
                            text=True)
    try:
        assert wait_socket(sock, proc), proc.stderr.read() if proc.poll() is not None else ""
        import http.client

        class C(http.client.HTTPConnection):
            def connect(self):
                self.sock = socket.socket(socket.AF_UNIX)
                self.sock.connect(sock)
        c = C("localhost", timeout=60)
        c.request("POST", "/v1/chat/completions",
                  body=json.dumps({"model": "a", "max_tokens": 4,
                                   "messages": [{"role": "user", "content": "hi"}]}),
                  headers={"Content-Type": "application/json"})
        r = c.getresponse()
        body = json.loads(r.read())
        assert r.status == 200 and body["usage"]["completion_tokens"] >= 1
        # the plaintext is nowhere on disk: the engine's mapping is a memfd
        maps = open(f"/proc/{proc.pid}/maps").read()
        assert "/memfd:sovgate-model" in maps
        assert not any(os.path.basename(models[0]) in line for line in maps.splitlines())
    finally:
        proc.terminate()
        err = proc.communicate(timeout=30)[1]
    assert '"event":"model_verified"' in err and '"encrypted":1' in err

    # tampered weights: refused with a clear error before llama sees them
    flip(blob_path(store, "b", "1"), 100000)
    p = subprocess.run(engine_args(store, keys, "b:1", sock, enc=False), capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 1
    assert "refusing model b:1: the weights' SHA-256 does not match" in p.stderr
    # a damaged encrypted chunk: refused, the chunk named
    flip(blob_path(store, "a", "1"), 64 + 2 * (CHUNK + 16) + 7)
    p = subprocess.run(engine_args(store, keys, "a@prod", sock), capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 1 and "chunk 2 of" in p.stderr
    # no encryption key, wrong public key, unknown channel
    p = subprocess.run(engine_args(store, keys, "a@prod", sock, enc=False),
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 1 and "encryption key" in p.stderr
    a = engine_args(store, keys, "a@beta", sock)
    p = subprocess.run(a, capture_output=True, text=True, timeout=60)
    assert p.returncode == 1 and "no channel beta" in p.stderr
    a = engine_args(store, keys, "a@prod", sock)
    a[a.index("file:" + keys["pub"])] = "file:" + keys["other_pub"]
    p = subprocess.run(a, capture_output=True, text=True, timeout=60)
    assert p.returncode == 1 and "not by the configured key" in p.stderr


@engine_only
def test_gateway_serves_name_at_channel(tmp_path, keys, models):
    store = str(tmp_path / "store")
    ok(m(store, keys, "import", models[0], "--name", "shop", "--version", "1",
         "--encrypt", "file:" + keys["enc"]))
    ok(m(store, keys, "promote", "shop", "1", "--channel", "prod"))
    run_dir = str(tmp_path / "run")
    os.makedirs(str(tmp_path / "gw"))
    g = sgtest.Gateway(
        str(tmp_path / "gw"),
        backends=[{"name": "e1", "kind": "engine", "model": "shop@prod", "ctx": 256,
                   "parallel": 1, "threads": 1}],
        routes=[{"model": "assistant", "backends": ["e1"]}],
        extra={"runtime_dir": run_dir,
               "models": {"store": store, "public_key": "file:" + keys["pub"],
                          "encryption_key": "file:" + keys["enc"]}},
        tls=False)
    try:
        g.wait_ready(timeout=90)
        st, _, body = g.chat("Hello", max_tokens=4)
        assert st == 200, body
        ev = g.log_events("model_verified")
        assert ev and ev[0]["ref"] == "shop:1" and ev[0]["encrypted"] == 1
        # promote a new version and reload: the engine restarts on it
        ok(m(store, keys, "import", models[1], "--name", "shop", "--version", "2"))
        ok(m(store, keys, "promote", "shop", "2", "--channel", "prod"))
        mark = g.mark()
        g.signal(signal.SIGHUP)
        g.wait_log(lambda j: j.get("event") == "model_verified" and j.get("ref") == "shop:2",
                   timeout=60, since=mark)
        g.wait_log(lambda j: j.get("event") == "engine_ready", timeout=60, since=mark)
        chat_until_served(g)
        # a reload with the channel unchanged keeps the engine running
        mark = g.mark()
        g.signal(signal.SIGHUP)
        g.wait_log(lambda j: j.get("event") == "reload", timeout=10, since=mark)
        time.sleep(0.5)
        assert not [j for j in g.log_events()[mark:] if j.get("event") == "engine_start"]
    finally:
        g.stop()


def test_config_requires_store_for_refs(tmp_path, keys):
    cfg = {"listen": {"address": "127.0.0.1:0", "plaintext": True},
           "backends": [{"name": "e1", "kind": "engine", "model": "shop@prod"}],
           "routes": [{"model": "assistant", "backends": ["e1"]}]}
    path = str(tmp_path / "c.yaml")
    with open(path, "w") as f:
        json.dump(cfg, f)
    p = sgtest.run(["check-config", path])
    assert p.returncode != 0 and "models.store" in p.stderr + p.stdout
    cfg["models"] = {"store": str(tmp_path / "s"), "public_key": "file:" + keys["pub"],
                     "encryption_key": "inline-secret"}
    with open(path, "w") as f:
        json.dump(cfg, f)
    p = sgtest.run(["check-config", path])
    assert p.returncode != 0 and "models.encryption_key" in p.stderr + p.stdout
    assert "inline-secret" not in p.stderr + p.stdout


def test_cli_reads_the_models_section(tmp_path, keys, models):
    """`sovgate model ... --config FILE` takes the store, keys and audit path from the
    configuration (relative paths against the configuration's folder)."""
    shutil.copy(keys["org"], str(tmp_path / "org.pem"))
    shutil.copy(keys["pub"], str(tmp_path / "org.pub"))
    shutil.copy(keys["enc"], str(tmp_path / "model.key"))
    cfg = {"listen": {"address": "127.0.0.1:0", "plaintext": True},
           "backends": [{"name": "e1", "kind": "engine", "model": "shop@prod"}],
           "routes": [{"model": "assistant", "backends": ["e1"]}],
           "models": {"store": "store", "signing_key": "file:org.pem",
                      "public_key": "file:org.pub", "encryption_key": "file:model.key",
                      "audit": "models-audit.db"}}
    path = str(tmp_path / "sovgate.yaml")
    with open(path, "w") as f:
        json.dump(cfg, f)
    ok(sgtest.run(["check-config", path]))
    ok(sgtest.run(["model", "import", models[0], "--name", "shop", "--version", "1",
                   "--encrypt", "file:" + str(tmp_path / "model.key"), "--config", path]))
    ok(sgtest.run(["model", "promote", "shop", "1", "--channel", "prod", "--config", path]))
    p = ok(sgtest.run(["model", "verify", "--config", path]))
    assert "ok   shop 1" in p.stdout
    assert os.path.exists(str(tmp_path / "store" / "manifests" / "shop" / "1.json"))
    assert os.path.exists(str(tmp_path / "models-audit.db"))
    assert not os.path.exists(str(tmp_path / "store" / "audit.db"))
    # the configured encryption key is used by verify: a damaged chunk is found
    flip(blob_path(str(tmp_path / "store"), "shop", "1"), 64 + 10)
    p = sgtest.run(["model", "verify", "--config", path])
    assert p.returncode == 1 and "chunk 0 of" in p.stdout
