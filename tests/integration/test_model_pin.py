"""The engine loads the manifest the channel was resolved to, and no other (docs/models.md,
"Loading in the engine"; docs/engine.md, `--manifest-sha256`). The gateway resolves
`model: NAME@CHANNEL` to `NAME:VERSION` and passes the digest of the manifest it resolved;
the engine refuses another genuinely signed manifest put under that version in between.

The store in every test: version 1 of `shop` imported from model A, its manifest file kept,
the version removed and imported again from model B, and promoted to `prod` (the channel
pins B's manifest). A's weights stay in the store (`keep` 1 shares the blob), so A's old
manifest put back under `shop` 1 verifies in full: without the pin it would be loaded."""

import json
import os
import shutil
import stat
import subprocess
import time

import pytest

import sgtest
from test_models import (ENGINE, chat_until_served, engine_args, keys, m,  # noqa: F401
                         manifest_digest, manifest_path, mkmodel, ok, put_back,
                         wait_socket)

pytestmark = pytest.mark.skipif(not os.path.exists(ENGINE), reason="sovgate-engine not built")


@pytest.fixture
def swapped_store(tmp_path, keys):  # noqa: F811
    """The store described above: returns (store, the old manifest's bytes, the new ones, the
    old manifest's digest, the pinned digest)."""
    d = tmp_path / "models"
    d.mkdir()
    a, b = mkmodel(str(d / "a.gguf"), 61), mkmodel(str(d / "b.gguf"), 62)
    store = str(tmp_path / "store")
    ok(m(store, keys, "import", a, "--name", "shop", "--version", "1"))
    ok(m(store, keys, "import", a, "--name", "keep", "--version", "1"))  # shares A's blob
    mpath = manifest_path(store, "shop", "1")
    with open(mpath, "rb") as f:
        old = f.read()  # genuinely signed: shop 1, model A
    old_digest = manifest_digest(mpath)
    ok(m(store, keys, "remove", "shop", "1"))
    ok(m(store, keys, "import", b, "--name", "shop", "--version", "1"))
    ok(m(store, keys, "promote", "shop", "1", "--channel", "prod"))
    with open(mpath, "rb") as f:
        new = f.read()
    pin = manifest_digest(mpath)
    with open(os.path.join(store, "channels", "shop.json")) as f:
        assert json.load(f)["payload"]["channels"]["prod"]["manifest"] == pin
    assert pin != old_digest
    return store, old, new, old_digest, pin


def run_engine(args, timeout=60):
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout)


def served(args, sock):
    """Starts the engine, waits until it serves, stops it; its stderr."""
    proc = subprocess.Popen(args, stderr=subprocess.PIPE, text=True)
    try:
        up = wait_socket(sock, proc)
    finally:
        proc.terminate()
        err = proc.communicate(timeout=30)[1]
    assert up, err
    return err


def verified(err):
    return [json.loads(line) for line in err.splitlines()
            if '"event":"model_verified"' in line][0]


def test_engine_enforces_the_manifest_pin(tmp_path, keys, swapped_store):  # noqa: F811
    store, old, new, old_digest, pin = swapped_store
    mpath = manifest_path(store, "shop", "1")
    sock = str(tmp_path / "e.sock")
    by_version = engine_args(store, keys, "shop:1", sock, enc=False)
    # the right pin loads, by version and by channel; the log names the manifest loaded
    ev = verified(served(by_version + ["--manifest-sha256", pin], sock))
    assert ev["manifest"] == pin and ev["pinned"] == 1 and ev["version"] == "1"
    ev = verified(served(engine_args(store, keys, "shop@prod", sock, enc=False)
                         + ["--manifest-sha256", pin], sock))
    assert ev["manifest"] == pin

    # A's old signed manifest put back under the version after the resolution: refused,
    # both digests named, before the weights are read
    put_back(mpath, old)
    p = run_engine(by_version + ["--manifest-sha256", pin])
    assert p.returncode == 1, p.stderr
    assert (f"refusing model shop:1: manifest shop 1 is sha256:{old_digest}, not the one "
            f"pinned by --manifest-sha256 (sha256:{pin})") in p.stderr
    assert '"event":"model_verified"' not in p.stderr
    # without a pin, by version: as before, what verifies is loaded (the gap the pin closes)
    ev = verified(served(by_version, sock))
    assert ev["manifest"] == old_digest and ev["pinned"] == 0
    # by channel the channel's own pin refuses it as well
    p = run_engine(engine_args(store, keys, "shop@prod", sock, enc=False)
                   + ["--manifest-sha256", pin])
    assert p.returncode == 1 and "is not the one promoted to channel prod" in p.stderr
    put_back(mpath, new)


def test_engine_refuses_malformed_pins(tmp_path, keys, swapped_store):  # noqa: F811
    store, _, _, _, pin = swapped_store
    sock = str(tmp_path / "e.sock")
    base = engine_args(store, keys, "shop:1", sock, enc=False)
    upper = pin.upper() if pin.upper() != pin else "A" + pin[1:]
    cases = [
        ("", "is empty"),
        ("abc", "has 3 characters, not 64 lower-case hex digits"),
        (pin[:63], "has 63 characters, not 64"),
        (pin + "0", "is longer than 64 characters"),
        ("a" * 100000, "is longer than 64 characters"),
        (pin[:10] + "z" + pin[11:], "not a hex digit at position 11"),
        (upper, "an upper-case hex digit"),
        ("sha256:" + pin[:57], "not a hex digit at position 1"),
        (pin[:63] + "\n", "not a hex digit at position 64"),
    ]
    for value, msg in cases:
        p = run_engine(base + ["--manifest-sha256", value])
        assert p.returncode == 2, (value[:80], p.stderr)
        assert "sovgate-engine: --manifest-sha256: the pinned manifest digest" in p.stderr
        assert msg in p.stderr, p.stderr
        assert "model_verified" not in p.stderr
        if len(value) >= 8:
            assert value[:8] not in p.stderr.replace("--manifest-sha256", "")  # never echoed
    # no value at all, and a pin for a GGUF file (nothing to pin)
    p = run_engine(base + ["--manifest-sha256"])
    assert p.returncode == 2 and "bad or unknown option --manifest-sha256" in p.stderr
    p = run_engine([ENGINE, "--model", str(tmp_path / "x.gguf"), "--socket", sock,
                    "--manifest-sha256", pin])
    assert p.returncode == 2 and "it needs --model-ref, not --model" in p.stderr


# A stand-in start for the engine: the gateway has resolved the channel and built the
# arguments when it runs; it waits until the test has put the old manifest back, then runs
# the real engine (a copy next to it: the sandbox lets the engine's folder be executed).
WRAPPER = """#!/bin/sh
while [ ! -e "{go}" ]; do sleep 0.05; done
exec "$(dirname "$0")/sovgate-engine" "$@"
"""


def test_gateway_passes_the_manifest_it_resolved(tmp_path, keys, swapped_store):  # noqa: F811
    """The race the pin closes, end to end: the old signed manifest lands under the version
    between the gateway's resolution of `shop@prod` and the engine's load. The engine refuses
    it (the supervisor's usual handling: the backend stays down and the engine is restarted
    with backoff, with the same pin); once the right manifest is back it loads and serves."""
    store, old, new, old_digest, pin = swapped_store
    mpath = manifest_path(store, "shop", "1")
    bindir = tmp_path / "engine-bin"
    bindir.mkdir()
    go = str(tmp_path / "go")
    wrapper = str(bindir / "engine")
    with open(wrapper, "w") as f:
        f.write(WRAPPER.format(go=go))
    os.chmod(wrapper, 0o755)
    shutil.copy(ENGINE, str(bindir / "sovgate-engine"))
    os.chmod(str(bindir / "sovgate-engine"), stat.S_IRWXU)
    gw = tmp_path / "gw"
    gw.mkdir()
    g = sgtest.Gateway(
        str(gw),
        backends=[{"name": "e1", "kind": "engine", "model": "shop@prod", "ctx": 256,
                   "parallel": 1, "threads": 1, "engine_binary": wrapper}],
        routes=[{"model": "assistant", "backends": ["e1"]}],
        extra={"runtime_dir": str(tmp_path / "run"),
               "models": {"store": store, "public_key": "file:" + keys["pub"]}},
        tls=False)
    try:
        start = g.wait_log(lambda j: j.get("event") == "engine_start", timeout=30)
        assert start["model"] == "shop:1"
        deadline = time.time() + 10
        while True:  # the forked gateway until it has executed the wrapper
            with open(f"/proc/{start['pid']}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
            if wrapper.encode() in argv or time.time() > deadline:
                break
            time.sleep(0.02)
        # the old signed manifest put back now, after the resolution
        put_back(mpath, old)
        mark = g.mark()
        open(go, "w").close()
        refused = g.wait_log(lambda j: "refusing model shop:1" in j.get("msg", "")
                             or j.get("event") == "model_verified", timeout=60, since=mark)
        assert refused.get("event") != "model_verified", f"the swapped manifest loaded: {refused}"
        assert b"--manifest-sha256" in argv, argv
        assert argv[argv.index(b"--manifest-sha256") + 1].decode() == pin
        assert (f"manifest shop 1 is sha256:{old_digest}, not the one pinned by "
                f"--manifest-sha256 (sha256:{pin})") in refused["msg"]
        g.wait_log(lambda j: j.get("event") == "engine_exit", timeout=30, since=mark)
        assert not [j for j in g.log_events("model_verified")]
        st, _, body = g.chat("Hello", max_tokens=4)
        assert st == 503, body
        # the right manifest back: the next restart (same pin) loads it and serves
        put_back(mpath, new)
        ev = g.wait_log(lambda j: j.get("event") == "model_verified", timeout=60, since=mark)
        assert ev["manifest"] == pin and ev["pinned"] == 1 and ev["ref"] == "shop:1"
        chat_until_served(g)
    finally:
        open(go, "w").close()
        g.stop()
