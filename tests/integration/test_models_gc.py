"""Orphaned blobs in the model store (docs/models.md, "Orphaned blobs: model gc").

An import (or pull) stores the weights in blobs/sha256/ and then writes the manifest, both
under the store's lock. A crash, kill -9 or power loss in between leaves a blob that no
manifest names. These tests build that state the way a crash leaves it (the blob, named by
the SHA-256 of its bytes, read-only, and no manifest) and check `sovgate model gc`: a dry
run lists it and removes nothing; gc removes it and what failed changes left in tmp/, keeps
every blob a manifest names (shared by two versions, encrypted and plaintext), keeps a
pull's partial download unless --partial; waits for a change that holds the lock (the
blob of an import under way is never taken for an orphan); leaves hostile contents alone
(links, folders, other names), never following a link; stops at a manifest it cannot
read. `sovgate model verify` reports the same orphans (gc's own scan) as warnings, without
waiting for a change under way and without changing its exit status."""

import fcntl
import hashlib
import json
import os
import subprocess
import time

import pytest

import sgtest
from test_models import (CHUNK, MKMODEL, audit_events, blob_path, keys, m,  # noqa: F401
                         manifest_digest, manifest_path, models, ok, store_files, writable)

pytestmark = pytest.mark.skipif(not os.path.exists(MKMODEL),
                                reason="sovgate-mkmodel not built (run scripts/fetch-llama)")


def crashed_import(store, data):
    """What an import or pull that died between storing the blob and writing the manifest
    leaves: blobs/sha256/<sha256 of the bytes>, mode 0440, named by no manifest."""
    h = hashlib.sha256(data).hexdigest()
    path = os.path.join(store, "blobs", "sha256", h)
    with open(path, "wb") as f:
        f.write(data)
    os.chmod(path, 0o440)
    return h, path


def read(path):
    with open(path, "rb") as f:
        return f.read()


def gc(store, keys, *args, sign=True):  # noqa: F811
    """With the signing key, gc's audit record is checkpoint-signed like every change's; it
    needs none (a gateway that only pulls has none): the public key will do, as for pull."""
    return m(store, keys, "gc", *args, sign=sign, pub=None if sign else keys["pub"])


def test_gc_removes_what_a_crashed_import_left(tmp_path, keys, models):  # noqa: F811
    store = str(tmp_path / "store")
    ok(m(store, keys, "import", models[0], "--name", "a", "--version", "1"))
    ok(m(store, keys, "import", models[0], "--name", "a", "--version", "2"))  # shared blob
    ok(m(store, keys, "import", models[1], "--name", "enc", "--version", "1",
         "--encrypt", "file:" + keys["enc"], "--chunk", str(CHUNK)))
    ok(m(store, keys, "promote", "a", "2", "--channel", "prod"))
    shared, enc = blob_path(store, "a", "1"), blob_path(store, "enc", "1")
    assert shared == blob_path(store, "a", "2")
    # a plaintext import of model B died before its manifest; so did an encrypted one (its
    # stored bytes: the encrypted blob of model A under another salt, here random bytes)
    plain = read(models[1])
    h1, orphan1 = crashed_import(store, plain)
    h2, orphan2 = crashed_import(store, b"SGMENC01" + os.urandom(4000))
    # a copy that died half way, and an unfinished pull
    with open(os.path.join(store, "tmp", "new-crashed"), "wb") as f:
        f.write(b"half a model")
    os.makedirs(os.path.join(store, "partial"))
    part = os.path.join(store, "partial", h2)
    with open(part, "wb") as f:
        f.write(b"SGMENC01")
    before = store_files(store)

    p = ok(gc(store, keys, "--dry-run", sign=False))
    assert f"would remove blobs/sha256/{h1} ({len(plain)} bytes): named by no manifest" \
        in p.stdout, p.stdout
    assert f"would remove blobs/sha256/{h2} (4008 bytes): named by no manifest" in p.stdout
    assert "would remove tmp/new-crashed (12 bytes): left by a change that did not finish" \
        in p.stdout
    assert f"kept partial/{h2} (8 bytes): a pull's unfinished download, resumed by the next " \
        "pull of it (--partial removes it)" in p.stdout
    assert os.path.basename(shared) not in p.stdout and os.path.basename(enc) not in p.stdout
    assert f"would free 3 files, {len(plain) + 4008 + 12} bytes" in p.stdout
    assert store_files(store) == before  # nothing removed

    p = ok(gc(store, keys))
    assert f"removed blobs/sha256/{h1} ({len(plain)} bytes)" in p.stdout, p.stdout
    assert f"removed blobs/sha256/{h2} (4008 bytes)" in p.stdout
    assert f"freed 3 files, {len(plain) + 4008 + 12} bytes" in p.stdout
    assert not os.path.exists(orphan1) and not os.path.exists(orphan2)
    assert os.listdir(os.path.join(store, "tmp")) == []
    assert os.path.exists(shared) and os.path.exists(enc) and os.path.exists(part)
    v = ok(m(store, keys, "verify", "--encryption-key", "file:" + keys["enc"], sign=False,
             pub=keys["pub"])).stdout
    assert "ok   a 1" in v and "ok   a 2" in v and "ok   enc 1" in v
    gcs = [e for e in audit_events(store, keys) if e["event"] == "model.gc"]
    assert len(gcs) == 1 and gcs[0]["files"] == 3
    assert f"blobs/sha256/{h1}" in gcs[0]["removed"]

    p = ok(gc(store, keys))
    assert "freed 0 files, 0 bytes" in p.stdout and f"kept partial/{h2}" in p.stdout
    p = ok(gc(store, keys, "--partial"))
    assert f"removed partial/{h2} (8 bytes): a pull's unfinished download" in p.stdout
    assert not os.path.exists(part)
    # the lost import runs again
    ok(m(store, keys, "import", models[1], "--name", "b", "--version", "1"))
    assert blob_path(store, "b", "1") == orphan1


def test_gc_keeps_what_rollback_needs(tmp_path, keys, models):  # noqa: F811
    """A channel's history is what `rollback` goes back to: the version's manifest (the one
    its history entry pins) and the blob that manifest names. gc removes blobs that no
    manifest file names, never a manifest: so after promote v1, promote v2 (v1 into the
    history), gc keeps v1's manifest and weights, rollback succeeds and v1 verifies."""
    store = str(tmp_path / "store")
    ok(m(store, keys, "import", models[0], "--name", "a", "--version", "1"))
    ok(m(store, keys, "import", models[1], "--name", "a", "--version", "2"))
    ok(m(store, keys, "promote", "a", "1", "--channel", "prod"))
    ok(m(store, keys, "promote", "a", "2", "--channel", "prod"))
    with open(os.path.join(store, "channels", "a.json")) as f:
        prod = json.load(f)["payload"]["channels"]["prod"]
    assert prod["history"] == ["1"]
    assert prod["history_manifests"] == [manifest_digest(manifest_path(store, "a", "1"))]
    v1_manifest, v1_blob = read(manifest_path(store, "a", "1")), blob_path(store, "a", "1")
    assert v1_blob != blob_path(store, "a", "2")
    h, orphan = crashed_import(store, b"left by a crash " + os.urandom(64))  # gc has work

    p = ok(gc(store, keys))
    assert f"removed blobs/sha256/{h}" in p.stdout and "freed 1 file," in p.stdout, p.stdout
    assert os.path.basename(v1_blob) not in p.stdout
    assert read(manifest_path(store, "a", "1")) == v1_manifest and os.path.exists(v1_blob)
    v = ok(verify(store, keys)).stdout  # the history too, as rollback would take it
    assert "ok   a 1" in v and "FAIL" not in v and "orphans: none" in v, v

    p = ok(m(store, keys, "rollback", "a", "--channel", "prod"))
    assert "a@prod -> 1" in p.stdout and "note:" not in p.stderr, p.stdout + p.stderr
    assert "ok   a 1" in ok(verify(store, keys, "a", "1")).stdout  # its weights are there


def test_gc_waits_for_an_import_under_way(tmp_path, keys, models):  # noqa: F811
    """The blob of an import under way sits in blobs/ from its rename until its manifest is
    written; the import holds the store's lock all that time. gc (and its dry run) waits
    for the lock as every change does, so it sees the manifest, never the lone blob."""
    store, scratch = str(tmp_path / "store"), str(tmp_path / "scratch")
    ok(m(store, keys, "import", models[0], "--name", "a", "--version", "1"))
    # the manifest the import under way will write (the same import in another store)
    ok(m(scratch, keys, "import", models[1], "--name", "a", "--version", "2"))
    manifest = read(manifest_path(scratch, "a", "2"))
    blob = read(blob_path(scratch, "a", "2"))
    with open(os.path.join(store, ".lock"), "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # the import has the lock ...
        h, path = crashed_import(store, blob)  # ... and has renamed its blob into place
        env = dict(os.environ, **sgtest.SAN_ENV)
        procs = [subprocess.Popen([sgtest.SOVGATE, "model", "gc", *extra, "--store", store,
                                   "--pubkey", "file:" + keys["pub"]], env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for extra in ([], ["--dry-run"])]
        time.sleep(1.5)
        assert [p.poll() for p in procs] == [None, None]  # both wait
        assert os.path.exists(path)
        with open(manifest_path(store, "a", "2"), "wb") as f:  # the import finishes
            f.write(manifest)
        fcntl.flock(lock, fcntl.LOCK_UN)
    for p in procs:
        out, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
        assert h not in out and "0 files, 0 bytes" in out, out
    assert os.path.exists(path)
    assert "ok   a 2" in ok(m(store, keys, "verify", "a", "2", sign=False,
                                 pub=keys["pub"])).stdout


def test_gc_leaves_hostile_contents_alone(tmp_path, keys, models):  # noqa: F811
    """Entries of blobs/sha256/ that the store never writes are reported and left alone: a
    symbolic link named like a blob (to a file or a folder outside the store), a folder
    under a blob's name, a FIFO, names that are not 64 lower-case hex digits (a name with a
    terminal escape is printed as '?'). A link in tmp/ is removed as a link: what it names
    stays. Nothing outside the store is touched."""
    store = str(tmp_path / "store")
    ok(m(store, keys, "import", models[0], "--name", "a", "--version", "1"))
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious").write_bytes(b"precious")
    bdir = os.path.join(store, "blobs", "sha256")
    names = {"1" * 64: "link", "2" * 64: "dirlink", "3" * 64: "folder", "4" * 64: "fifo"}
    os.symlink(str(outside / "precious"), os.path.join(bdir, "1" * 64))
    os.symlink(str(outside), os.path.join(bdir, "2" * 64))
    os.mkdir(os.path.join(bdir, "3" * 64))
    with open(os.path.join(bdir, "3" * 64, "x"), "wb") as f:
        f.write(b"x")
    os.mkfifo(os.path.join(bdir, "4" * 64))
    for odd in ("notes.txt", "ABCDEF" + "5" * 58, "5" * 63, "evil\x1b[2J"):
        with open(os.path.join(bdir, odd), "wb") as f:
            f.write(b"mine")
    os.symlink(str(outside / "precious"), os.path.join(store, "tmp", "new-link"))
    os.mkdir(os.path.join(store, "partial"))
    os.symlink(str(outside / "precious"), os.path.join(store, "partial", "6" * 64))
    p = ok(gc(store, keys, "--partial"))
    for h in ("1" * 64, "2" * 64):
        assert f"left alone blobs/sha256/{h} (0 bytes): a symbolic link, which the store " \
            "does not follow" in p.stdout, p.stdout
    assert f"left alone blobs/sha256/{'3' * 64} (0 bytes): a folder" in p.stdout
    assert f"left alone blobs/sha256/{'4' * 64} (0 bytes): not a regular file" in p.stdout
    assert "left alone blobs/sha256/notes.txt (4 bytes): not a blob's name" in p.stdout
    assert "left alone blobs/sha256/evil?[2J (4 bytes)" in p.stdout and "\x1b" not in p.stdout
    assert f"left alone partial/{'6' * 64} (0 bytes): a symbolic link" in p.stdout
    assert "removed tmp/new-link (0 bytes)" in p.stdout
    assert "freed 1 file, 0 bytes" in p.stdout
    assert (outside / "precious").read_bytes() == b"precious"
    assert sorted(os.listdir(bdir)) == sorted(
        [os.path.basename(blob_path(store, "a", "1")), *names,
         "notes.txt", "ABCDEF" + "5" * 58, "5" * 63, "evil\x1b[2J"])
    assert os.path.exists(os.path.join(bdir, "3" * 64, "x"))
    assert os.path.islink(os.path.join(store, "partial", "6" * 64))


def test_gc_follows_the_operators_blobs_folder(tmp_path, keys, models):  # noqa: F811
    """blobs/sha256 may be a link the operator set up (the weights on another disk): gc
    works inside the folder it names, as every command does."""
    store = str(tmp_path / "store")
    ok(m(store, keys, "import", models[0], "--name", "a", "--version", "1"))
    bdir = os.path.join(store, "blobs", "sha256")
    elsewhere = str(tmp_path / "disk2")
    os.rename(bdir, elsewhere)
    os.symlink(elsewhere, bdir)
    h, path = crashed_import(store, read(models[1]))
    p = ok(gc(store, keys))
    assert f"removed blobs/sha256/{h}" in p.stdout
    assert not os.path.exists(os.path.join(elsewhere, h))
    assert os.listdir(elsewhere) == [os.path.basename(blob_path(store, "a", "1"))]
    assert "ok   a 1" in ok(m(store, keys, "verify", sign=False, pub=keys["pub"])).stdout


def test_gc_stops_at_a_manifest_it_cannot_read(tmp_path, keys, models):  # noqa: F811
    """A manifest that cannot be read may name any blob: gc removes nothing and names the
    file. A manifest that does not verify with this key (signed before a key rotation)
    still keeps its blob."""
    store = str(tmp_path / "store")
    ok(m(store, keys, "import", models[0], "--name", "a", "--version", "1"))
    h, path = crashed_import(store, read(models[1]))
    bad = manifest_path(store, "a", "2")
    with open(bad, "w") as f:
        f.write("{not json")
    p = gc(store, keys)
    assert p.returncode == 1
    assert "manifests/a/2.json is not JSON: nothing was removed" in p.stderr, p.stderr
    assert os.path.exists(path)
    os.unlink(bad)
    os.symlink(manifest_path(store, "a", "1"), bad)
    p = gc(store, keys, "--dry-run")
    assert p.returncode == 1 and "manifests/a/2.json cannot be read" in p.stderr
    assert "symbolic link" in p.stderr and os.path.exists(path)
    os.unlink(bad)
    # version 2 of B's weights, signed by another key
    ok(m(store, keys, "import", models[1], "--name", "old", "--version", "1",
         "--key", "file:" + keys["other"], sign=False))
    assert blob_path(store, "old", "1") == path
    p = ok(gc(store, keys))
    assert "freed 0 files" in p.stdout and os.path.exists(path)


def test_gc_usage(tmp_path, keys, models):  # noqa: F811
    store = str(tmp_path / "store")
    p = gc(store, keys)
    assert p.returncode == 1 and "is not a model store" in p.stderr
    ok(m(store, keys, "import", models[0], "--name", "a", "--version", "1"))
    p = m(store, keys, "gc", "extra", sign=False, pub=keys["pub"])
    assert p.returncode == 2 and "gc takes no arguments" in p.stderr


def verify(store, keys, *args):  # noqa: F811
    return m(store, keys, "verify", *args, sign=False, pub=keys["pub"])


def test_verify_reports_orphans(tmp_path, keys, models):  # noqa: F811
    """`model verify` reports what `model gc` would remove (gc's own scan: blobs that no
    manifest names, what failed changes left in tmp/), one WARN line each with its path and
    size, never its content, and says in its summary how many there are and that `sovgate
    model gc` removes them. Orphans damage no model: the exit status stays 0 (1 only for
    what does not verify, as before). A verify of one model does not look for them (they
    belong to none); while a change holds the store's lock verify does not wait and does
    not guess (the blob of an import under way has no manifest yet): it says the orphans
    were not looked for. Verify removes nothing."""
    store = str(tmp_path / "store")
    ok(m(store, keys, "import", models[0], "--name", "a", "--version", "1"))
    ok(m(store, keys, "import", models[1], "--name", "b", "--version", "1"))
    p = ok(verify(store, keys))
    assert "orphans: none" in p.stdout, p.stdout
    assert "WARN" not in p.stdout
    # an import that died between its blob and its manifest
    content = b"SGMENC01 do-not-print-me " + os.urandom(100)
    h1, orphan1 = crashed_import(store, content)
    # a manifest removed by hand leaves its blob
    bblob = blob_path(store, "b", "1")
    bsize = os.path.getsize(bblob)
    os.unlink(manifest_path(store, "b", "1"))
    # a copy that died half way; an unfinished pull (kept for resuming: not an orphan)
    with open(os.path.join(store, "tmp", "new-crashed"), "wb") as f:
        f.write(b"half a model, do-not-print-me")
    os.makedirs(os.path.join(store, "partial"))
    with open(os.path.join(store, "partial", "7" * 64), "wb") as f:
        f.write(b"SGMENC01")
    before = store_files(store)
    total = len(content) + bsize + 29

    p = verify(store, keys)
    assert p.returncode == 0, p.stdout + p.stderr
    out = p.stdout
    assert "ok   a 1" in out, out
    assert f"WARN orphan blobs/sha256/{h1} ({len(content)} bytes): named by no manifest" \
        in out, out
    assert f"WARN orphan blobs/sha256/{os.path.basename(bblob)} ({bsize} bytes): named by " \
        "no manifest" in out, out
    assert "WARN orphan tmp/new-crashed (29 bytes): left by a change that did not finish" \
        in out, out
    assert "7" * 64 not in out  # a pull's download is resumed, not an orphan
    assert f"orphans: 3 files, {total} bytes, that no manifest names" in out, out
    assert "`sovgate model gc` removes them" in out, out
    assert "do-not-print-me" not in out + p.stderr
    assert store_files(store) == before  # verify removes nothing
    # what verify calls orphans is exactly what gc would remove
    g = ok(gc(store, keys, "--dry-run", sign=False)).stdout
    assert f"would free 3 files, {total} bytes" in g, g

    # a version that fails and orphans: exit 1 as before, the orphans reported too
    ablob = writable(blob_path(store, "a", "1"))
    good = read(ablob)
    with open(ablob, "r+b") as f:
        f.seek(len(good) - 1)
        f.write(bytes([good[-1] ^ 1]))
    p = verify(store, keys)
    assert p.returncode == 1 and "FAIL a 1" in p.stdout, p.stdout
    assert f"WARN orphan blobs/sha256/{h1}" in p.stdout and "orphans: 3 files" in p.stdout
    with open(ablob, "wb") as f:
        f.write(good)

    # one model's verify does not look for orphans (they belong to no model)
    p = ok(verify(store, keys, "a"))
    assert "orphan" not in p.stdout, p.stdout

    # a change holds the lock: verify does not wait for it, and does not guess
    with open(os.path.join(store, ".lock"), "a+") as lk:
        fcntl.flock(lk, fcntl.LOCK_EX)
        t0 = time.monotonic()
        p = verify(store, keys)
        took = time.monotonic() - t0
    assert p.returncode == 0, p.stdout + p.stderr
    assert "orphans: not looked for: a change of the store is under way (a model import, " \
        "pull, promote, rollback, remove or gc, or a restore --force holds its lock)" \
        in p.stdout, p.stdout
    assert "WARN orphan" not in p.stdout
    assert took < 20, took

    # gc removes them; verify finds none
    ok(gc(store, keys))
    p = ok(verify(store, keys))
    assert "orphans: none" in p.stdout and "WARN" not in p.stdout, p.stdout
