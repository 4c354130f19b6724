"""Static checks of the container files that need neither podman nor a registry (run by
tests/containers/run also where containers cannot run): the structure of deploy/compose.yaml
(who can reach whom, hardening, secrets), deploy/gateway.yaml's secrets and egress, and a
lint of both Containerfiles (deploy/Containerfile.cuda cannot be built here: no CUDA base
image, no GPU), with their build-context ignore files."""

import json
import os
import re

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEPLOY = os.path.join(ROOT, "deploy")
UID = 10001
SOCK_DIR = "/run/sovgate-engine"
SOCK = SOCK_DIR + "/engine.sock"
GATEWAY_SECRETS = {"sovgate-tls-cert", "sovgate-tls-key", "sovgate-audit-key",
                   "sovgate-redaction-key"}

INSTRUCTIONS = {"FROM", "RUN", "CMD", "LABEL", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT",
                "VOLUME", "USER", "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK",
                "SHELL"}


def load(name):
    with open(os.path.join(DEPLOY, name)) as f:
        return yaml.safe_load(f)


# ---- a small Containerfile parser: instructions, continuation lines, stages ----
def parse_containerfile(path):
    """[(lineno, INSTRUCTION, args)] with continuation lines joined and comments dropped;
    raises ValueError on what buildah's parser would refuse."""
    out = []
    cur, start = None, 0
    with open(path) as f:
        for n, line in enumerate(f, 1):
            s = line.rstrip("\n")
            if cur is None:
                if not s.strip() or s.lstrip().startswith("#"):
                    continue
                start, cur = n, ""
            elif s.lstrip().startswith("#"):
                continue  # comment lines inside a continued instruction are skipped
            if s.endswith("\\"):
                cur += s[:-1] + " "
                continue
            cur += s
            word, _, args = cur.strip().partition(" ")
            if word.upper() not in INSTRUCTIONS:
                raise ValueError(f"{path}:{start}: unknown instruction {word!r}")
            if not args.strip():
                raise ValueError(f"{path}:{start}: {word} without arguments")
            out.append((start, word.upper(), args.strip()))
            cur = None
    if cur is not None:
        raise ValueError(f"{path}: the file ends inside a continued instruction")
    return out


def stages(instrs):
    """(global ARG names, [{'name', 'base', 'instrs'}])"""
    global_args, st = set(), []
    for n, ins, args in instrs:
        if ins == "FROM":
            m = re.fullmatch(r"(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?", args, re.I)
            assert m, f"line {n}: bad FROM {args!r}"
            st.append({"name": m.group(2), "base": m.group(1), "instrs": []})
        elif not st:
            assert ins == "ARG", f"line {n}: only ARG may come before the first FROM"
            global_args.add(args.split("=", 1)[0])
        else:
            st[-1]["instrs"].append((n, ins, args))
    return global_args, st


def lint(name, ignore):
    path = os.path.join(DEPLOY, name)
    instrs = parse_containerfile(path)
    global_args, st = stages(instrs)
    assert len(st) >= 2, "multi-stage: a build stage and a runtime stage"
    names = [s["name"] for s in st]
    assert len(set(names)) == len(names) and all(names), names
    for s in st:
        # FROM may use only the global ARGs
        for v in re.findall(r"\$\{?(\w+)", s["base"]):
            assert v in global_args, f"FROM {s['base']}: {v} is not a global ARG"
        declared = set(global_args)
        for n, ins, args in s["instrs"]:
            if ins == "ARG":
                declared.add(args.split("=", 1)[0])
            elif ins == "ENV":
                declared.update(re.findall(r"(\w+)=", args))
            if ins == "COPY":
                m = re.match(r"--from=(\S+)", args)
                if m:
                    assert m.group(1) in names[:names.index(s["name"])], \
                        f"line {n}: COPY --from={m.group(1)}: no earlier stage of that name"
            # exec-form instructions are valid JSON string arrays
            if ins in ("CMD", "ENTRYPOINT", "VOLUME") and args.startswith("["):
                v = json.loads(args)
                assert isinstance(v, list) and all(isinstance(x, str) for x in v), args
            # no secret is ever a build argument or an environment variable
            if ins in ("ARG", "ENV"):
                for key in re.findall(r"(\w+)=", args) or [args.split()[0]]:
                    assert not re.search(r"KEY|SECRET|PASSW|TOKEN", key, re.I), \
                        f"line {n}: {ins} {key} looks like a secret"
            # ${VAR} in the Containerfile's own instructions (not in RUN's shell) is declared
            if ins in ("LABEL", "ENV", "COPY", "WORKDIR", "USER", "VOLUME"):
                for v in re.findall(r"\$\{(\w+)", args):
                    assert v in declared, f"line {n}: ${{{v}}} is not declared"
    build, runtime = st[0], st[-1]
    rt = runtime["instrs"]
    by = lambda ins: [a for _, i, a in rt if i == ins]
    # the runtime stage takes only the build stage's output: nothing from the context
    for a in by("COPY") + by("ADD"):
        assert a.startswith(f"--from={build['name']}"), f"runtime copies {a!r} from the context"
    assert by("USER") == [f"{UID}:{UID}"]
    assert any("sovgate-healthcheck" in a for a in by("HEALTHCHECK"))
    assert any("/var/lib/sovgate" in a for a in by("VOLUME"))
    assert by("CMD")[-1].startswith('["sovgate", "serve"')
    run = " ".join(by("RUN"))
    assert "useradd" in run and "--uid 10001" in run
    assert "/usr/share/sovgate/sbom" in run
    # the build context: never keys, models, databases, the deploy folder (its secrets)
    with open(os.path.join(DEPLOY, ignore)) as f:
        rules = [l.strip() for l in f if l.strip() and not l.startswith("#")]
    for r in ("**/*.pem", "**/*.key", "**/*.gguf", "**/*.db", "deploy", ".git", "build-*"):
        assert r in rules, f"{ignore} lacks {r}"
    assert "!deploy/secrets" not in rules and not any(r.startswith("!deploy/secrets")
                                                      for r in rules)
    # the helper scripts the build runs exist and are executable
    for f in ("healthcheck", "build-info", "runtime-packages", "sbom"):
        assert os.access(os.path.join(DEPLOY, "image", f), os.X_OK), f
    return build, runtime


def test_containerfile_cpu():
    build, runtime = lint("Containerfile", "Containerfile.dockerignore")
    assert build["base"] == runtime["base"] == "${DEBIAN_IMAGE}"
    instrs = parse_containerfile(os.path.join(DEPLOY, "Containerfile"))
    assert ("ARG", "DEBIAN_IMAGE=docker.io/library/debian:12-slim") in \
        [(i, a) for _, i, a in instrs]


def test_containerfile_cuda():
    build, runtime = lint("Containerfile.cuda", "Containerfile.cuda.dockerignore")
    instrs = parse_containerfile(os.path.join(DEPLOY, "Containerfile.cuda"))
    args = dict(a.split("=", 1) for _, i, a in instrs if i == "ARG" and "=" in a)
    assert re.search(r"nvidia/cuda:\$\{CUDA_VERSION\}-devel-", args["CUDA_BUILD_IMAGE"])
    assert re.search(r"nvidia/cuda:\$\{CUDA_VERSION\}-runtime-", args["CUDA_RUNTIME_IMAGE"])
    assert build["base"] == "${CUDA_BUILD_IMAGE}"
    assert runtime["base"] == "${CUDA_RUNTIME_IMAGE}"
    run = " ".join(a for _, i, a in build["instrs"] if i == "RUN")
    # llama.cpp from the release's source, with CUDA, as scripts/fetch-llama --from-source
    assert "-DGGML_CUDA=ON" in run and "-S .cache/llama/src" in run
    assert "-DCMAKE_CUDA_ARCHITECTURES=" in run
    assert "deploy/image/build-info source" in run
    with open(os.path.join(ROOT, "scripts", "fetch-llama")) as f:
        fetch = f.read()
    for flag in ("-DBUILD_SHARED_LIBS=ON", "-DLLAMA_CURL=OFF", "-DGGML_CUDA=ON"):
        assert flag in fetch and flag in run, flag
    for flag in ("GGML_BACKEND_DL", "GGML_CPU_ALL_VARIANTS"):
        assert f'"-D{flag}=$' in fetch and f"-D{flag}=ON" in run, flag
    with open(os.path.join(DEPLOY, "Containerfile.cuda.dockerignore")) as f:
        rules = f.read().split()
    assert "!.cache/llama/src" in rules and ".cache/llama/src/.git" in rules


def test_containerfile_parser_refuses_bad_input(tmp_path):
    for text in ("FROM x AS a\nRUNN true\n", "FROM x AS a\nRUN true \\\n", "FROM x\nCMD\n"):
        p = tmp_path / "Containerfile"
        p.write_text(text)
        with pytest.raises(ValueError):
            parse_containerfile(str(p))


# ---- deploy/compose.yaml ----
def test_compose_engine_isolated():
    c = load("compose.yaml")
    eng = c["services"]["engine"]
    # no network interface but loopback; no published port; the socket on a shared volume
    assert eng["network_mode"] == "none"
    assert "networks" not in eng and "ports" not in eng and "expose" not in eng
    assert eng["command"][0] == "sovgate-engine"
    assert eng["command"][eng["command"].index("--socket") + 1] == SOCK
    assert f"engine-socket:{SOCK_DIR}" in eng["volumes"]
    assert any(v.endswith(":/models:ro") for v in eng["volumes"])
    assert "secrets" not in eng  # the engine holds no key


def test_compose_hardening():
    c = load("compose.yaml")
    s = c["services"]
    for name in ("engine", "gateway"):
        svc = s[name]
        assert svc["read_only"] is True, name
        assert str(svc["user"]) == f"{UID}:{UID}", name
        assert svc["cap_drop"] == ["ALL"], name
        assert "no-new-privileges:true" in svc["security_opt"], name
        test = svc["healthcheck"]["test"]
        assert test[0] in ("CMD", "CMD-SHELL") and \
            " ".join(test[1:]).startswith("sovgate-healthcheck"), name
        assert "environment" not in svc, name  # configuration is a file, keys are secrets
    assert s["engine"]["healthcheck"]["test"] == \
        ["CMD-SHELL", f"sovgate-healthcheck --socket {SOCK}"]
    for name in ("wordpress", "mariadb", "proxy"):
        assert "no-new-privileges:true" in s[name]["security_opt"], name


def test_compose_networks():
    c = load("compose.yaml")
    s, nets = c["services"], c["networks"]
    # only the front proxy publishes a port; the engine, the gateway, WordPress and the
    # database publish none
    assert [n for n, svc in s.items() if "ports" in svc] == ["proxy"]
    members = {}
    for name, svc in s.items():
        for n in svc.get("networks", []):
            assert n in nets, (name, n)
            members.setdefault(n, set()).add(name)
    # everything but the proxy's public side is internal: no route out
    for name in ("gateway", "wordpress", "mariadb"):
        assert all(nets[n].get("internal") is True for n in s[name]["networks"]), name
    assert any(not nets[n].get("internal") for n in s["proxy"]["networks"])
    # the AI network holds WordPress and the gateway only: WordPress reaches no engine,
    # no provider, only the gateway; the database is WordPress's alone
    ai = set(s["gateway"]["networks"])
    assert ai == {"ai"} and members["ai"] == {"wordpress", "gateway"}
    assert members["db"] == {"wordpress", "mariadb"}
    assert s["mariadb"]["networks"] == ["db"]
    # the proxy reaches WordPress only
    assert members["web"] == {"proxy", "wordpress"}


def test_compose_secrets_and_state():
    c = load("compose.yaml")
    s, secrets = c["services"], c["secrets"]
    gw = s["gateway"]
    assert set(gw["secrets"]) == GATEWAY_SECRETS
    for svc in s.values():
        for sec in svc.get("secrets", []):
            assert sec in secrets, sec
    for name, sec in secrets.items():
        # files made by scripts/deploy-secrets in deploy/secrets, which git ignores
        assert sec["file"] == f"./secrets/{name}", name
    with open(os.path.join(DEPLOY, "secrets", ".gitignore")) as f:
        assert f.read().split()[-2:] == ["*", "!.gitignore"]
    assert "./gateway.yaml:/etc/sovgate/sovgate.yaml:ro" in gw["volumes"]
    assert "sovgate-data:/var/lib/sovgate" in gw["volumes"]
    assert f"engine-socket:{SOCK_DIR}" in gw["volumes"]
    assert {"sovgate-data", "engine-socket", "wordpress", "mariadb"} <= set(c["volumes"])
    # passwords come from files, never from the environment
    for name in ("wordpress", "mariadb"):
        env = s[name]["environment"]
        for k, v in env.items():
            if re.search(r"PASSWORD", k):
                assert k.endswith("_FILE") and v.startswith("/run/secrets/"), (name, k)


def test_compose_gpu_override():
    g = load("compose.gpu.yaml")
    eng = g["services"]["engine"]
    assert eng["devices"] == ["nvidia.com/gpu=0"]
    assert "cuda" in eng["image"]
    assert "--gpu-layers" in eng["command"]
    assert set(g["services"]) == {"engine"}  # isolation etc. stay those of compose.yaml


def test_gateway_config_uses_mounts_and_no_egress():
    cfg = load("gateway.yaml")
    text = open(os.path.join(DEPLOY, "gateway.yaml")).read()
    # every key and certificate is a secret file; state is on the volume
    assert cfg["listen"]["tls"] == {"cert": "/run/secrets/sovgate-tls-cert",
                                    "key": "/run/secrets/sovgate-tls-key"}
    assert cfg["redaction"]["key"] == "file:/run/secrets/sovgate-redaction-key"
    assert cfg["audit"]["signing_key"] == "file:/run/secrets/sovgate-audit-key"
    assert cfg["audit"]["path"].startswith("/var/lib/sovgate/")
    assert cfg["keys_db"].startswith("/var/lib/sovgate/")
    for path in re.findall(r"/run/secrets/([\w-]+)", text):
        assert path in GATEWAY_SECRETS, path
    # the only backend is the engine's socket; no egress allowed: the gateway on internal
    # networks only is exactly what the policy allows
    assert [b["url"] for b in cfg["backends"]] == [f"unix:{SOCK}"]
    assert cfg["egress"]["allow"] == []
    assert not re.search(r"-----BEGIN|sg-[A-Za-z0-9]{20}", text)


def test_compose_commands_are_sound():
    """The header's commands name services and files that exist."""
    c = load("compose.yaml")
    with open(os.path.join(DEPLOY, "compose.yaml")) as f:
        head = [l[1:].strip() for l in f if l.startswith("#")]
    for l in head:
        m = re.match(r"(?:docker compose|podman-compose) (?:exec|up -d|kill -s HUP) (.*)", l)
        if m:
            words = [w for w in m.group(1).split(">")[0].split("#")[0].split()
                     if not w.startswith("-")]
            svc = words[0] if words else None
            if svc and svc not in ("sovgate", "keys"):
                assert svc in c["services"], l
    assert os.access(os.path.join(ROOT, "scripts", "deploy-secrets"), os.X_OK)
