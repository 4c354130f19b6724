"""The model store's audit trail and the commands that need no signing key (docs/models.md,
"Audit"). `model gc` (and `pull`, `push`) run with the public key alone, but a trail whose
checkpoints are not all signed fails `sovgate audit verify --pubkey` for good. So without
the key their record waits in the trail's pending file (<store>/audit.db.pending, one JSON
object a line, with "deferred_at"), the command says so, and the next change made with the
key moves it into the trail ahead of its own record, under checkpoints it signs: the trail
verifies with the public key all along. With the key at hand (given beside the public key
too) they sign their own checkpoints. A pending file that is not what such a command wrote
(damaged lines, a link, a folder, a FIFO, too large) is never signed into the trail: the
command with the key names it, leaves it as it is and still audits its own change. The
pull side is tested in test_models_oci.py (test_push_pull_verify_promote)."""

import json
import os

import pytest

import sgtest
from test_models import MKMODEL, audit_events, keys, m, models, ok  # noqa: F401
from test_models_gc import crashed_import

pytestmark = pytest.mark.skipif(not os.path.exists(MKMODEL),
                                reason="sovgate-mkmodel not built (run scripts/fetch-llama)")


def pending_path(store):
    return os.path.join(store, "audit.db.pending")


def pending(store):
    with open(pending_path(store)) as f:
        return [json.loads(line) for line in f]


def trail_verifies(store, keys):  # noqa: F811
    """`sovgate audit verify --pubkey`: every checkpoint signed by the organisation's key."""
    p = sgtest.run(["audit", "verify", "--db", os.path.join(store, "audit.db"),
                    "--pubkey", keys["pub"]])
    assert p.returncode == 0, p.stdout + p.stderr
    return p.stdout


def orphan(store):
    return crashed_import(store, b"left by a crash " + os.urandom(32))[0]


def test_gc_without_the_signing_key_defers_its_record(tmp_path, keys, models):  # noqa: F811
    store = str(tmp_path / "store")
    ok(m(store, keys, "import", models[0], "--name", "a", "--version", "1"))
    h1 = orphan(store)
    p = ok(m(store, keys, "gc", sign=False, pub=keys["pub"]))
    assert f"removed blobs/sha256/{h1}" in p.stdout
    assert f"note: no signing key: the audit record waits in {pending_path(store)} until the " \
        "next change made with the key moves it into the trail, signed" in p.stderr, p.stderr
    (rec,) = pending(store)
    assert rec["event"] == "model.gc" and rec["files"] == 1 and rec["deferred_at"]
    assert rec["removed"] == [f"blobs/sha256/{h1}"]
    # the trail is as the import left it: signed throughout, no unsigned checkpoint
    assert "1 records (seq 1..1)" in trail_verifies(store, keys)
    h2 = orphan(store)
    ok(m(store, keys, "gc", sign=False, pub=keys["pub"]))
    assert [r["removed"] for r in pending(store)] == [[f"blobs/sha256/{h1}"],
                                                      [f"blobs/sha256/{h2}"]]
    # a dry run, and a gc that removes nothing, record nothing
    p = ok(m(store, keys, "gc", "--dry-run", sign=False, pub=keys["pub"]))
    assert "note:" not in p.stderr and len(pending(store)) == 2

    # the next change made with the key moves them into the trail, then its own record
    p = ok(m(store, keys, "promote", "a", "1", "--channel", "prod"))
    assert "note:" not in p.stderr, p.stderr
    assert not os.path.exists(pending_path(store))
    ev = audit_events(store, keys)  # verified with the public key first
    assert [e["event"] for e in ev] == ["model.import", "model.gc", "model.gc", "model.promote"]
    assert ev[1]["removed"] == [f"blobs/sha256/{h1}"] and ev[2]["removed"] == [
        f"blobs/sha256/{h2}"]
    assert ev[1]["deferred_at"] and ev[2]["deferred_at"] and "deferred_at" not in ev[3]

    # with the key at hand, beside the public key (as in a models section with both), gc
    # signs its own checkpoint
    h3 = orphan(store)
    p = ok(m(store, keys, "gc", pub=keys["pub"]))
    assert f"removed blobs/sha256/{h3}" in p.stdout and "note:" not in p.stderr, p.stderr
    assert not os.path.exists(pending_path(store))
    ev = audit_events(store, keys)
    assert ev[-1]["event"] == "model.gc" and "deferred_at" not in ev[-1]

    # a signing key that cannot be read costs only the signature: said, and deferred
    h4 = orphan(store)
    p = ok(m(store, keys, "gc", "--key", "file:" + str(tmp_path / "missing.pem"), sign=False,
             pub=keys["pub"]))
    assert f"removed blobs/sha256/{h4}" in p.stdout
    assert "note: the signing key is not used: " in p.stderr, p.stderr
    assert [r["removed"] for r in pending(store)] == [[f"blobs/sha256/{h4}"]]
    trail_verifies(store, keys)
    # ... while a command that needs it still refuses to run
    p = m(store, keys, "promote", "a", "1", "--channel", "staging", "--key",
          "file:" + str(tmp_path / "missing.pem"), sign=False, pub=keys["pub"])
    assert p.returncode == 1 and len(pending(store)) == 1


GOOD = b'{"deferred_at":"2026-11-26T10:00:00Z","event":"model.gc","files":1,"store":"s"}\n'


@pytest.mark.parametrize("content,line", [
    (b"{not json\n", 1),
    (b"[1, 2]\n", 1),
    (b"\n", 1),
    (b'{"event":"model.gc","files":1}\n', 1),  # no deferred_at
    (b'{"event":"request","deferred_at":"x"}\n', 1),  # not the store's event
    (b'{"event":"model.gc","deferred_at":"x","seq":7}\n', 1),  # a member the trail adds
    (b'{"event":"model.gc","deferred_at":"x","ts":"y"}\n', 1),
    (b'{"event":"model.gc","event":"model.import","deferred_at":"x"}\n', 1),  # duplicate key
    (b'{"event":"model.gc","deferred_at":"\xff"}\n', 1),  # not UTF-8
    (b'{"event":"model.gc","deferred_at":"x","n":"' + b"a" * 70000 + b'"}\n', 1),  # too long
    (GOOD + b'{"event":"model.gc","deferred_at":"x"}', 2),  # cut short
    (GOOD + b"\x1b[2J\n", 2),
], ids=["not-json", "array", "empty-line", "no-deferred_at", "foreign-event", "seq", "ts",
        "duplicate-key", "not-utf8", "too-long", "cut-short", "escape"])
def test_a_damaged_pending_file_is_not_signed(tmp_path, keys, models, content, line):  # noqa: F811
    store = str(tmp_path / "store")
    ok(m(store, keys, "import", models[0], "--name", "a", "--version", "1"))
    with open(pending_path(store), "wb") as f:
        f.write(content)
    p = m(store, keys, "promote", "a", "1", "--channel", "prod")
    assert p.returncode == 1, p.stdout
    assert f"the change was made and audited, but the records waiting in " \
        f"{pending_path(store)} were not: line {line} is not a deferred audit record" \
        in p.stderr, p.stderr
    assert ("(cut short: no newline)" in p.stderr) == (not content.endswith(b"\n"))
    assert "\x1b" not in p.stderr and "a" * 100 not in p.stderr
    assert "a@prod" not in p.stdout
    with open(pending_path(store), "rb") as f:
        assert f.read() == content  # left as it is, to be looked at
    ev = audit_events(store, keys)  # nothing of it signed; the promotion audited
    assert [e["event"] for e in ev] == ["model.import", "model.promote"]
    # once it is repaired (or removed), the next change moves what it holds
    with open(pending_path(store), "wb") as f:
        f.write(GOOD)
    ok(m(store, keys, "promote", "a", "1", "--channel", "staging"))
    assert not os.path.exists(pending_path(store))
    ev = audit_events(store, keys)
    assert [e["event"] for e in ev][2:] == ["model.gc", "model.promote"]


@pytest.mark.parametrize("kind", ["link", "folder", "fifo", "large"])
def test_a_pending_file_that_is_not_one(tmp_path, keys, models, kind):  # noqa: F811
    """A link in the pending file's place is neither followed nor written through (by the
    command without the key) nor read (by the one with it); a folder, a FIFO (which must not
    hang either) or a file larger than 16 MiB is refused too."""
    store = str(tmp_path / "store")
    ok(m(store, keys, "import", models[0], "--name", "a", "--version", "1"))
    target = tmp_path / "precious"
    target.write_bytes(GOOD)
    path = pending_path(store)
    if kind == "link":
        os.symlink(str(target), path)
        why = "cannot open it: a symbolic link, which the store does not follow"
    elif kind == "folder":
        os.mkdir(path)
        why = None  # an open for writing fails (EISDIR); for reading it is no regular file
    elif kind == "fifo":
        os.mkfifo(path)
        why = "it is not a regular file"
    else:
        with open(path, "wb") as f:
            f.write(GOOD)
            f.truncate(16 * 1024 * 1024 + 1)
        why = "it is larger than 16777216 bytes"
    p = m(store, keys, "promote", "a", "1", "--channel", "prod")
    assert p.returncode == 1, p.stdout
    assert f"the change was made and audited, but the records waiting in {path} were not: " \
        in p.stderr, p.stderr
    assert why is None or why in p.stderr, p.stderr
    assert [e["event"] for e in audit_events(store, keys)] == ["model.import", "model.promote"]
    if kind in ("link", "folder", "fifo"):
        orphan(store)
        p = m(store, keys, "gc", sign=False, pub=keys["pub"])
        assert p.returncode == 1, p.stdout
        assert f"the change was made but its audit record could not be written to {path} " \
            "(where it waits for the signing key): " in p.stderr, p.stderr
        assert "freed 1 file" in p.stdout  # the change stands
    assert target.read_bytes() == GOOD  # never written through
    assert os.path.islink(path) == (kind == "link")
