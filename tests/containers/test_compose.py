"""deploy/compose.yaml itself, run with podman-compose where it is installed (scripts/setup
installs Debian 12's 1.0.3): the gateway service exactly as the file defines it (image,
user, read-only root, capabilities, the internal network `ai`, the secrets made by
scripts/deploy-secrets, gateway.yaml, the volumes), the engine service with the file's own
settings, and a client on `ai` in WordPress's place that reaches the gateway by its
service name over TLS with the private CA.

Podman-compose 1.0.3 cannot start a service with `network_mode: none` (it always adds
`--net`; fixed in later versions), so the engine is started with `podman run` from the
engine service's own definition in the file (user, read_only, cap_drop, security_opt,
tmpfs, network_mode, volumes, healthcheck, command). WordPress, MariaDB and the proxy are
not run: their images come from a registry, which these machines cannot reach."""

import json
import os
import re
import shutil
import subprocess
import tempfile
import time

import pytest
import yaml

from test_containers import BUILD, IMAGE, ROOT, podman

pytestmark = pytest.mark.skipif(shutil.which("podman-compose") is None,
                                reason="podman-compose is not installed (scripts/setup)")


def engine_args(svc, project, workdir):
    """podman run arguments for the compose file's engine service (the keys it uses)."""
    args = ["--name", f"{project}_engine_1", "-d", "--user", str(svc["user"])]
    if svc.get("read_only"):
        args.append("--read-only")
    for c in svc.get("cap_drop", []):
        args += ["--cap-drop", c]
    for o in svc.get("security_opt", []):
        args += ["--security-opt", o]
    for t in svc.get("tmpfs", []):
        args += ["--tmpfs", t]
    args += ["--network", svc["network_mode"]]
    for v in svc["volumes"]:
        v = re.sub(r"\$\{SOVGATE_MODELS:-([^}]*)\}", r"\1", v)
        src, rest = v.split(":", 1)
        src = os.path.join(workdir, src) if src.startswith(".") else f"{project}_{src}"
        args += ["-v", f"{src}:{rest}"]
    hc = svc["healthcheck"]["test"]
    assert hc[0] == "CMD-SHELL"
    args += ["--health-cmd", hc[1], "--health-interval", "disable"]
    return args + [IMAGE] + [str(x) for x in svc["command"]]


@pytest.fixture(scope="module")
def composed():
    project = f"sgpc{os.getpid()}"
    tmp = tempfile.mkdtemp(prefix="sovgate-compose-")
    d = os.path.join(tmp, "deploy")
    os.makedirs(os.path.join(d, "models"))
    for f in ("compose.yaml", "gateway.yaml"):
        shutil.copy(os.path.join(ROOT, "deploy", f), d)
    subprocess.run([os.path.join(ROOT, "scripts", "deploy-secrets"), os.path.join(d, "secrets")],
                   check=True, capture_output=True)
    model = os.path.join(d, "models", "model.gguf")
    subprocess.run([os.path.join(BUILD, "sovgate-mkmodel"), "--preset", "tiny", "--out", model],
                   check=True, capture_output=True, timeout=300)
    os.chmod(model, 0o644)
    env = dict(os.environ, SOVGATE_IMAGE=IMAGE)
    with open(os.path.join(d, "compose.yaml")) as f:
        spec = yaml.safe_load(f)

    def compose(*args, check=True):
        p = subprocess.run(["podman-compose", "-p", project, *args], cwd=d, env=env,
                           capture_output=True, text=True, timeout=180)
        if check:
            assert p.returncode == 0, f"podman-compose {args}:\n{p.stdout}\n{p.stderr}"
        return p

    try:
        compose("up", "-d", "--no-deps", "gateway")
        # the socket volume exists now (podman-compose made it for the gateway)
        podman("run", *engine_args(spec["services"]["engine"], project, d))
        yield {"project": project, "dir": d, "spec": spec,
               "gateway": f"{project}_gateway_1", "engine": f"{project}_engine_1"}
    finally:
        podman("rm", "-f", "-v", "-t", "2", f"{project}_engine_1", check=False)
        compose("down", "-v", check=False)
        for v in ("engine-socket", "sovgate-data"):
            podman("volume", "rm", "-f", f"{project}_{v}", check=False)
        podman("network", "rm", "-f", f"{project}_ai", check=False)
        shutil.rmtree(tmp, ignore_errors=True)


def wait_healthy(name, timeout=60):
    deadline = time.time() + timeout
    while True:
        p = podman("healthcheck", "run", name, check=False)
        if p.returncode == 0:
            return
        assert time.time() < deadline, f"{name} not healthy:\n{p.stdout}{p.stderr}\n" + \
            podman("logs", name, check=False).stderr[-3000:]
        time.sleep(0.5)


def test_compose_stack_gateway_and_engine(composed):
    gw, eng, project, d = composed["gateway"], composed["engine"], composed["project"], \
        composed["dir"]
    wait_healthy(eng)
    wait_healthy(gw)
    # the gateway container is what the file says: hardened, on the internal network only
    insp = json.loads(podman("inspect", gw).stdout)[0]
    assert insp["Config"]["User"] == "10001:10001"
    assert insp["HostConfig"]["ReadonlyRootfs"] is True
    status = podman("exec", gw, "cat", "/proc/1/status").stdout
    caps = dict(l.split(":", 1) for l in status.splitlines() if ":" in l)
    assert int(caps["CapEff"], 16) == 0 and caps["NoNewPrivs"].strip() == "1"
    assert list(insp["NetworkSettings"]["Networks"]) == [f"{project}_ai"]
    net = json.loads(podman("network", "inspect", f"{project}_ai").stdout)[0]
    assert net.get("internal") is True, net
    routes = podman("exec", gw, "cat", "/proc/net/route").stdout.splitlines()[1:]
    assert not [r for r in routes if r.split()[1] == "00000000"], routes  # no default route
    # the secrets are the files of deploy/secrets, read-only
    for s in ("sovgate-tls-key", "sovgate-audit-key", "sovgate-redaction-key"):
        podman("exec", gw, "test", "-r", f"/run/secrets/{s}")
    # a site key, made as the file's header says, then read on SIGHUP
    key = podman("exec", gw, "sovgate", "keys", "create", "--name", "wordpress", "--models",
                 "assistant", "--config", "/etc/sovgate/sovgate.yaml").stdout.split()[-1]
    assert key.startswith("sg-")
    podman("kill", "-s", "HUP", gw)
    # WordPress's place: a client on `ai` with the private CA, the gateway by service name
    ip = insp["NetworkSettings"]["Networks"][f"{project}_ai"]["IPAddress"]
    body = json.dumps({"model": "gpt-4o-mini", "max_tokens": 4, "temperature": 0,
                       "messages": [{"role": "user", "content": "Hello from WordPress"}]})
    deadline = time.time() + 30
    while True:
        p = podman("run", "--rm", "--network", f"{project}_ai", "--add-host", f"gateway:{ip}",
                   "--read-only", "--cap-drop", "all", "-v",
                   f"{d}/secrets/sovgate-ca:/ca.pem:ro", IMAGE, "curl", "-sS", "--max-time",
                   "60", "--cacert", "/ca.pem", "-H", f"Authorization: Bearer {key}", "-H",
                   "Content-Type: application/json", "-d", body,
                   "https://gateway:8443/v1/chat/completions", check=False)
        if p.returncode == 0 and '"chat.completion"' in p.stdout:
            break
        assert time.time() < deadline, (p.stdout, p.stderr)
        time.sleep(0.5)  # the reload is asynchronous
    j = json.loads(p.stdout)
    assert j["choices"][0]["message"]["content"] is not None
    # the engine, started from the file's definition, has no network but loopback
    dev = podman("exec", eng, "cat", "/proc/net/dev").stdout.splitlines()[2:]
    assert sorted(l.split(":")[0].strip() for l in dev) == ["lo"]
