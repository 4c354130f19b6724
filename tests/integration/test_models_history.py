"""Rollback history pins (docs/models.md, "Manifest" and `model rollback`).

A channel pins its current version's manifest by digest ("manifest"), and since history
pins, every entry of its history too ("history_manifests", beside "history"): promote
records the digest of the manifest the channel served. `rollback` refuses another genuinely
signed manifest under the previous version (the old file of a version removed and imported
again, put back), naming both digests and changing nothing; `model verify` reports it. A
channel file written before history pins still rolls back, by version alone, with a note.
Damaged pins in a signed channel file are refused by verify, rollback and promote."""

import json
import os
import shutil
import subprocess

import pytest

from test_models import (CHANNELS_DOMAIN, MKMODEL, keys, m, manifest_digest,  # noqa: F401
                         manifest_path, mkmodel, models, ok, put_back, signed_text)

pytestmark = [
    pytest.mark.skipif(not os.path.exists(MKMODEL),
                       reason="sovgate-mkmodel not built (run scripts/fetch-llama)"),
    pytest.mark.skipif(not shutil.which("openssl"), reason="openssl (to sign test files)"),
]


def chan_path(store, name):
    return os.path.join(store, "channels", name + ".json")


def channels(store, name):
    with open(chan_path(store, name)) as f:
        return json.load(f)["payload"]


def read(path):
    with open(path, "rb") as f:
        return f.read()


def resign(store, name, keys, payload, tmp_path):  # noqa: F811
    """Writes `payload` as channel file of `name`, signed with the organisation's key (what
    an older signer, or a damaged one, would write). The sequence number goes up by one, so
    that the signer's own record takes it as the newest file."""
    payload["seq"] = payload.get("seq", 0) + 1
    text = signed_text(payload, CHANNELS_DOMAIN)
    msg = str(tmp_path / "signed-text")
    with open(msg, "w") as f:
        f.write(text)
    sig = subprocess.run(["openssl", "pkeyutl", "-sign", "-rawin", "-inkey", keys["org"],
                          "-in", msg], check=True, capture_output=True).stdout
    with open(chan_path(store, name)) as f:
        doc = json.load(f)
    doc["payload"] = payload
    doc["signature"]["value"] = sig.hex()
    put_back(chan_path(store, name), json.dumps(doc, indent=2, sort_keys=True).encode() + b"\n")


def verify(store, keys):  # noqa: F811
    return m(store, keys, "verify", sign=False, pub=keys["pub"])


@pytest.fixture
def swapped(tmp_path, keys):  # noqa: F811
    """`shop` 1 imported from model A (its manifest file kept; A's weights stay in the
    store through `keep` 1), removed, imported again from model B, promoted to prod; then
    `shop` 2 promoted. Returns (store, A's manifest bytes, B's, A's digest, B's digest)."""
    d = tmp_path / "models"
    d.mkdir()
    a, b, c = (mkmodel(str(d / f"{x}.gguf"), s) for x, s in (("a", 71), ("b", 72), ("c", 73)))
    store = str(tmp_path / "store")
    ok(m(store, keys, "import", a, "--name", "shop", "--version", "1"))
    ok(m(store, keys, "import", a, "--name", "keep", "--version", "1"))
    mpath = manifest_path(store, "shop", "1")
    old, old_digest = read(mpath), manifest_digest(mpath)
    ok(m(store, keys, "remove", "shop", "1"))
    ok(m(store, keys, "import", b, "--name", "shop", "--version", "1"))
    ok(m(store, keys, "promote", "shop", "1", "--channel", "prod"))
    new, pin = read(mpath), manifest_digest(mpath)
    ok(m(store, keys, "import", c, "--name", "shop", "--version", "2"))
    ok(m(store, keys, "promote", "shop", "2", "--channel", "prod"))
    assert pin != old_digest
    return store, old, new, old_digest, pin


def test_promote_pins_the_history(swapped):
    store, _, _, _, pin = swapped
    prod = channels(store, "shop")["channels"]["prod"]
    assert prod["history"] == ["1"]
    assert prod["history_manifests"] == [pin]
    assert prod["manifest"] == manifest_digest(manifest_path(store, "shop", "2"))


def test_rollback_refuses_another_signed_manifest(swapped, keys):  # noqa: F811
    store, old, new, old_digest, pin = swapped
    mpath = manifest_path(store, "shop", "1")
    put_back(mpath, old)  # A's genuinely signed manifest put back under version 1
    before = read(chan_path(store, "shop"))
    p = m(store, keys, "rollback", "shop", "--channel", "prod")
    assert p.returncode == 1
    assert (f"manifest shop 1 is sha256:{old_digest}, not sha256:{pin}, the one channel prod "
            "served when it left that version (pinned in its history)") in p.stderr, p.stderr
    assert read(chan_path(store, "shop")) == before  # nothing changed
    p = verify(store, keys)
    assert p.returncode == 1
    assert (f"FAIL shop (channel prod, history): entry 1 of 1, version 1: manifest shop 1 is "
            f"sha256:{old_digest}, not sha256:{pin}") in p.stdout, p.stdout
    # the pinned manifest back: verify passes, rollback takes it, without a note
    put_back(mpath, new)
    ok(verify(store, keys))
    p = ok(m(store, keys, "rollback", "shop", "--channel", "prod"))
    assert "shop@prod -> 1" in p.stdout and "note" not in p.stderr
    prod = channels(store, "shop")["channels"]["prod"]
    assert prod["manifest"] == pin and prod["history"] == [] and prod["history_manifests"] == []


def test_old_channel_file_without_history_pins(tmp_path, keys, models):  # noqa: F811
    """A channel file written before history pins (no history_manifests) verifies and rolls
    back as before, by version alone, with a note that says so; the next promote pins what
    it pushes."""
    store = str(tmp_path / "store")
    ok(m(store, keys, "import", models[0], "--name", "shop", "--version", "1"))
    ok(m(store, keys, "import", models[1], "--name", "shop", "--version", "2"))
    ok(m(store, keys, "promote", "shop", "1", "--channel", "prod"))
    ok(m(store, keys, "promote", "shop", "2", "--channel", "prod"))
    payload = channels(store, "shop")
    del payload["channels"]["prod"]["history_manifests"]  # the old format
    resign(store, "shop", keys, payload, tmp_path)
    ok(verify(store, keys))
    p = ok(m(store, keys, "rollback", "shop", "--channel", "prod"))
    d1 = manifest_digest(manifest_path(store, "shop", "1"))
    assert "shop@prod -> 1" in p.stdout
    assert ("note: the history entry of version 1 was written before history entries were "
            f"pinned: rolled back to the manifest found under that version (sha256:{d1}") \
        in p.stderr, p.stderr
    prod = channels(store, "shop")["channels"]["prod"]
    assert prod["manifest"] == d1 and prod["history_manifests"] == []
    # an old entry among pinned ones stays unpinned (null); the new one is pinned
    payload = channels(store, "shop")
    payload["channels"]["prod"] = {"version": "1", "history": ["2"]}  # no pins at all
    resign(store, "shop", keys, payload, tmp_path)
    ok(m(store, keys, "promote", "shop", "2", "--channel", "prod"))
    prod = channels(store, "shop")["channels"]["prod"]
    assert prod["history"] == ["2", "1"] and prod["history_manifests"] == [None, d1]


@pytest.mark.parametrize("pins,history,msg", [
    ("x" * 64, ["1"], "history_manifests is not a list"),
    ([], ["1"], "(0 of them for 1 history entries)"),
    ([None, None], ["1"], "(2 of them for 1 history entries)"),
    ([42], ["1"], "damaged history pin 1 of 1 (version 1): not a manifest digest"),
    ([["a"]], ["1"], "damaged history pin 1 of 1 (version 1): not a manifest digest"),
    (["ab"], ["1"], "has 2 characters, not 64"),
    (["a" * 65], ["1"], "is longer than 64 characters"),
    (["a" * 200000], ["1"], "is longer than 64 characters"),
    (["A" * 64], ["1"], "an upper-case hex digit"),
    (["g" * 64], ["1"], "a character that is not a hex digit at position 1"),
    ([None], [1], "entry 1 of 1 is not a version"),
    ([None], "1", "damaged history (not a list)"),
])
def test_damaged_history_pins(tmp_path, keys, models, pins, history, msg):  # noqa: F811
    store = str(tmp_path / "store")
    ok(m(store, keys, "import", models[0], "--name", "shop", "--version", "1"))
    ok(m(store, keys, "import", models[1], "--name", "shop", "--version", "2"))
    ok(m(store, keys, "promote", "shop", "1", "--channel", "prod"))
    ok(m(store, keys, "promote", "shop", "2", "--channel", "prod"))
    payload = channels(store, "shop")
    payload["channels"]["prod"]["history"] = history
    payload["channels"]["prod"]["history_manifests"] = pins
    resign(store, "shop", keys, payload, tmp_path)
    before = read(chan_path(store, "shop"))
    p = verify(store, keys)
    assert p.returncode == 1
    # the channel's current version (what the gateway resolves) does not need the history
    assert "FAIL shop (channel prod):" not in p.stdout
    line = [ln for ln in p.stdout.splitlines() if "(channel prod, history)" in ln]
    assert len(line) == 1 and line[0].startswith(
        "FAIL shop (channel prod, history): channels of shop: channel prod: "), p.stdout
    assert msg in line[0] and len(line[0]) < 400, line  # the value is never quoted
    for cmd in (["rollback", "shop"], ["promote", "shop", "1"]):
        p = m(store, keys, *cmd, "--channel", "prod")
        assert p.returncode == 1 and msg in p.stderr, p.stderr
    assert read(chan_path(store, "shop")) == before
    # changed without the key: the signature covers the pins
    doc = json.loads(before)
    doc["payload"]["channels"]["prod"]["history_manifests"] = [None]
    doc["payload"]["channels"]["prod"]["history"] = ["1"]
    put_back(chan_path(store, "shop"), json.dumps(doc).encode())
    p = verify(store, keys)
    assert p.returncode == 1 and "signature does not verify" in p.stdout
