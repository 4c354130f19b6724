"""Supervision of engine backends (kind: engine), with a stand-in engine: a wrapper
script that runs the fake upstream on the socket the gateway assigns. Covers start,
routing, the log relay, isolation (network namespace, Landlock), restart after kill -9
with backoff, and shutdown. The real engine is covered in test_engine.py."""

import json
import os
import shutil
import signal
import stat
import time

import pytest

import sgtest

WRAPPER = """#!/bin/sh
# A stand-in for sovgate-engine: same arguments, serves with sg-fake-upstream.
sock=""; name=""
while [ $# -gt 0 ]; do
  case "$1" in
    --socket) sock="$2"; shift 2 ;;
    --name) name="$2"; shift 2 ;;
    *) shift 2 ;;
  esac
done
here=$(dirname "$0")
# Probes of the sandbox, reported as JSON lines on stderr.
if cat "$here/../secret.txt" >/dev/null 2>&1; then r=true; else r=false; fi
if [ -n "${SG_TEST_SECRET:-}" ]; then k=true; else k=false; fi
if [ -n "${SG_TEST_PLAIN:-}" ]; then v=true; else v=false; fi
# Opening for writing (nothing is written): its own /proc files, and the gateway's.
if { command exec 3>>/proc/self/comm; } 2>/dev/null; then ps=true; exec 3>&-; else ps=false; fi
if { command exec 4>>/proc/$PPID/comm; } 2>/dev/null; then po=true; exec 4>&-; else po=false; fi
if { command exec 5>>/dev/full; } 2>/dev/null; then dw=true; exec 5>&-; else dw=false; fi
echo "{\\"event\\":\\"probe\\",\\"read_outside\\":$r,\\"secret_env\\":$k,\\"plain_env\\":$v,\\"proc_self_write\\":$ps,\\"proc_other_write\\":$po,\\"dev_write\\":$dw}" >&2
echo "{\\"event\\":\\"engine_ready\\",\\"socket\\":\\"$sock\\"}" >&2
exec "$here/sg-fake-upstream" --unix "$sock" --name "$name"
"""


@pytest.fixture
def stand_in(workdir):
    d = os.path.join(workdir, "engine-bin")
    os.makedirs(d)
    path = os.path.join(d, "fake-engine")
    with open(path, "w") as f:
        f.write(WRAPPER)
    os.chmod(path, 0o755)
    shutil.copy(sgtest.FAKE, os.path.join(d, "sg-fake-upstream"))
    with open(os.path.join(workdir, "secret.txt"), "w") as f:
        f.write("not for the engine\n")
    model = os.path.join(workdir, "model.gguf")
    with open(model, "wb") as f:
        f.write(b"GGUF stand-in")
    return {"binary": path, "model": model}


def engine_gateway(make_gateway, workdir, stand_in, **engine):
    return make_gateway(
        backends=[{"name": "local", "kind": "engine", "model": stand_in["model"],
                   "engine_binary": stand_in["binary"], "parallel": 2, **engine}],
        routes=[{"model": "assistant", "backends": ["local"]}],
        extra={"runtime_dir": os.path.join(workdir, "run")})


def engine_pid(g):
    line = [j for j in g.log_events("engine_start")][-1]
    return line["pid"]


def test_engine_is_started_routed_and_isolated(make_gateway, workdir, stand_in):
    g = engine_gateway(make_gateway, workdir, stand_in)
    g.wait_ready(timeout=20)
    st, _, body = g.chat("hello engine")
    assert st == 200
    assert json.loads(body)["choices"][0]["message"]["content"] == "[local] hello engine"
    sock = os.path.join(workdir, "run", "engine-local.sock")
    assert stat.S_ISSOCK(os.stat(sock).st_mode)
    # The socket's folder is private to the gateway's user (the real engine also makes the
    # socket itself 0600; see test_engine.py).
    assert oct(os.stat(os.path.dirname(sock)).st_mode & 0o777) == "0o700"
    # The engine's own log lines arrive in the gateway's log, marked with its name.
    iso = g.wait_log(lambda j: j.get("event") == "engine_isolation")
    assert iso["engine"] == "local"
    probe = g.wait_log(lambda j: j.get("event") == "probe")
    if os.geteuid() == 0 or iso["network_namespace"]:
        pid = engine_pid(g)
        assert iso["network_namespace"] is True
        assert os.readlink(f"/proc/{pid}/ns/net") != os.readlink("/proc/self/ns/net")
    if iso["landlock"]:
        assert probe["read_outside"] is False
        assert probe["proc_self_write"] is False and probe["proc_other_write"] is False
        assert probe["dev_write"] is False
    else:
        assert "landlock_reason" in iso


def test_gpu_engine_may_write_its_own_proc_files_only(make_gateway, workdir, stand_in):
    # CUDA's initialisation writes to the process's own /proc files and fails without
    # ("OS call failed or operation not supported on this OS", seen on an H100): an engine
    # with gpu_layers gets write access to its own /proc/PID, not to another process's;
    # and the GPU's device nodes, not the rest of /dev (here /dev/full stands for them).
    g = engine_gateway(make_gateway, workdir, stand_in, gpu_layers=-1)
    g.wait_ready(timeout=20)
    iso = g.wait_log(lambda j: j.get("event") == "engine_isolation")
    probe = g.wait_log(lambda j: j.get("event") == "probe")
    if not iso["landlock"]:
        pytest.skip("Landlock is not available: " + iso.get("landlock_reason", "?"))
    assert probe["proc_self_write"] is True
    assert probe["proc_other_write"] is False
    assert probe["dev_write"] is False
    assert probe["read_outside"] is False


def test_engine_killed_is_restarted(make_gateway, workdir, stand_in):
    g = engine_gateway(make_gateway, workdir, stand_in)
    g.wait_ready(timeout=20)
    pid = engine_pid(g)
    mark = g.mark()
    os.kill(pid, signal.SIGKILL)
    exit_line = g.wait_log(lambda j: j.get("event") == "engine_exit", since=mark)
    assert "signal 9" in exit_line["reason"] and exit_line["restart_in_ms"] >= 1000
    g.wait_log(lambda j: j.get("event") == "engine_start" and j.get("pid") != pid, since=mark,
               timeout=10)
    # While it was down its route answered 503; now service resumes.
    deadline = time.time() + 15
    while time.time() < deadline:
        st, _, body = g.chat("again")
        if st == 200:
            break
        assert st == 503
        time.sleep(0.2)
    assert st == 200


def test_engines_stop_with_the_gateway(make_gateway, workdir, stand_in):
    g = engine_gateway(make_gateway, workdir, stand_in)
    g.wait_ready(timeout=20)
    pid = engine_pid(g)
    g.stop()
    time.sleep(0.2)
    assert not os.path.exists(f"/proc/{pid}") or open(f"/proc/{pid}/stat").read().split()[2] == "Z"


def test_engine_settings_validated(workdir):
    path = os.path.join(workdir, "c.yaml")
    with open(path, "w") as f:
        json.dump({"listen": {"address": "127.0.0.1:0", "plaintext": True},
                   "backends": [{"name": "e", "kind": "engine", "url": "http://x"},
                                {"name": "o", "url": "http://127.0.0.1:1", "parallel": 2}],
                   "routes": [{"model": "m", "backends": ["e", "o"]}]}, f)
    p = sgtest.run(["check-config", path])
    assert p.returncode == 1
    assert "url: not allowed for kind: engine" in p.stderr
    assert "backends[0].model: required for kind: engine" in p.stderr
    assert "need kind: engine" in p.stderr


def test_engine_restart_that_cannot_start_is_retried(make_gateway, workdir, stand_in):
    # The restart after a crash cannot even make the pipe for the engine's stderr (the
    # gateway is out of file descriptors for a moment): it must be tried again later, not
    # leave the backend down for good.
    import resource
    g = engine_gateway(make_gateway, workdir, stand_in)
    g.wait_ready(timeout=20)
    pid = engine_pid(g)
    gw = g.proc.pid
    soft, hard = resource.prlimit(gw, resource.RLIMIT_NOFILE)
    mark = g.mark()
    resource.prlimit(gw, resource.RLIMIT_NOFILE, (8, hard))  # below what is open
    try:
        os.kill(pid, signal.SIGKILL)
        g.wait_log(lambda j: "cannot start engine local" in j.get("msg", ""), since=mark,
                   timeout=10)
    finally:
        resource.prlimit(gw, resource.RLIMIT_NOFILE, (soft, hard))
    g.wait_log(lambda j: j.get("event") == "engine_start" and j.get("pid") != pid, since=mark,
               timeout=15)
    deadline = time.time() + 15
    while time.time() < deadline and g.chat("again")[0] != 200:
        time.sleep(0.2)
    assert g.chat("again")[0] == 200


def test_engine_does_not_inherit_the_gateways_secrets(make_gateway, workdir, stand_in):
    # Secrets given as env:NAME live in the daemon's environment; the engine (which runs
    # model files) gets the environment without those it is not given itself.
    g = make_gateway(
        backends=[{"name": "local", "kind": "engine", "model": stand_in["model"],
                   "engine_binary": stand_in["binary"], "parallel": 2},
                  {"name": "other", "url": "http://127.0.0.1:9",
                   "credential": "env:SG_TEST_SECRET"}],
        routes=[{"model": "assistant", "backends": ["local", "other"]}],
        extra={"runtime_dir": os.path.join(workdir, "run")},
        env={"SG_TEST_SECRET": "sk-not-for-the-engine", "SG_TEST_PLAIN": "1"})
    probe = g.wait_log(lambda j: j.get("event") == "probe")
    assert probe["plain_env"] is True
    assert probe["secret_env"] is False
