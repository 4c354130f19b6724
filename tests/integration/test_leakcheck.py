"""`sovgate leakcheck`: replays canary requests through the operator's configuration
against capture backends, in every API dialect the gateway serves; clean for the default
policy, and it catches a configuration that lets personal data out, naming the dialect
requests that carried it. The network-namespace test shows that with no network at all the
gateway still serves local backends and an external route fails closed."""

import glob
import os
import re
import shutil
import subprocess

import pytest

import sgtest

BASE = {"listen": {"address": "127.0.0.1:0", "plaintext": True},
        "backends": [{"name": "cloud", "url": "https://203.0.113.10", "sovereign": False,
                      "jurisdiction": "US"},
                     {"name": "local", "url": "http://127.0.0.1:9"}],
        "egress": {"allow": ["203.0.113.10"]},
        "routes": [{"model": "assistant", "backends": ["cloud", "local"]},
                   {"model": "texts", "backends": ["cloud"]}],
        "redaction": {"detectors": [{"name": "UNRELEASED", "terms": ["Aurora X2"]}]}}


def write(workdir, cfg):
    import json
    p = os.path.join(workdir, "lc.yaml")
    with open(p, "w") as f:
        json.dump(cfg, f)
    return p


DIALECTS = ["openai", "anthropic", "azure", "responses", "gemini", "ollama"]


def dialect_counts(out):
    """{dialect: (requests, answered, refused, failed, reached a backend)} from the summary."""
    got = {}
    for m in re.finditer(r"^  dialect (\w+)\s+(\d+) requests: (\d+) answered, (\d+) refused by "
                         r"the policy, (\d+) failed, (\d+) reached a backend", out, re.M):
        got[m.group(1)] = tuple(int(x) for x in m.groups()[1:])
    return got


def endpoint_counts(out, dialect, path):
    """(requests, answered, failed, reached a backend) of an endpoint's line, or None."""
    m = re.search(rf"^  {dialect}\s+POST {re.escape(path)}\s+(\d+) requests: (\d+) answered, "
                  r"\d+ refused by the policy, (\d+) failed, (\d+) reached a backend", out, re.M)
    return tuple(int(x) for x in m.groups()) if m else None


def served_endpoints():
    """The proxied endpoints of the gateway's own tables (src/api/*.c): (dialect, path)."""
    found = set()
    for f in glob.glob(os.path.join(sgtest.ROOT, "src", "api", "*.c")):
        src = open(f).read()
        for m in re.finditer(r'SG_EP_\w+,\s*"([^"]+)",\s*"(\w+)",\s*(true|false),\s*'
                             r"(true|false),\s*SG_DIALECT_(\w+)", src):
            path, method, _auth, proxied, dialect = m.groups()
            if proxied == "true":
                assert method == "POST", m.group(0)
                found.add((dialect.lower(), path))
    return found


def test_leakcheck_passes_on_the_default_policy(workdir):
    p = sgtest.run(["leakcheck", "--config", write(workdir, BASE)])
    assert p.returncode == 0, p.stdout + p.stderr
    assert "leakcheck: OK" in p.stdout
    assert "chain intact, agrees with what every backend received" in p.stdout
    assert "0 failed" in p.stdout
    assert "refused by the policy" in p.stdout
    # every dialect was replayed, answered, and reached the capture backends translated
    counts = dialect_counts(p.stdout)
    assert sorted(counts) == sorted(DIALECTS), p.stdout
    for d, (sent, answered, refused, failed, upstream) in counts.items():
        assert sent > 0 and answered > 0 and upstream > 0 and failed == 0, (d, p.stdout)
        assert refused > 0, (d, p.stdout)  # the restricted canaries are refused in each one
    # Responses conversations were continued with previous_response_id (in memory: the
    # configuration has no responses.store), also by turns that carry nothing new
    m = re.search(r"responses: (\d+) conversations; (\d+) continued with previous_response_id "
                  r"\((\d+) follow-up turns", p.stdout)
    assert m and int(m.group(2)) > 0 and int(m.group(3)) > 0, p.stdout
    assert "conversation state in memory" in p.stdout
    for kind in ("(previous_response_id)", "(previous_response_id, stored history only)"):
        c = endpoint_counts(p.stdout, "responses", "/v1/responses " + kind)
        assert c and c[1] > 0 and c[3] > 0 and c[2] == 0, (kind, p.stdout)
    # the refused first turns are said to be why some conversations were not continued
    assert "follow-ups skipped for" in p.stdout and "first turn was not answered" in p.stdout


def test_leakcheck_replays_every_endpoint_the_gateway_serves(workdir):
    # The corpus is a list in cmd_leakcheck.c; the gateway's endpoints are tables in src/api.
    # An endpoint added there must be replayed here too (and reach a backend translated).
    served = served_endpoints()
    assert len(served) >= 15 and ("anthropic", "/v1/messages") in served, served
    p = sgtest.run(["leakcheck", "--config", write(workdir, BASE)])
    assert p.returncode == 0, p.stdout + p.stderr
    for dialect, path in sorted(served):
        c = endpoint_counts(p.stdout, dialect, path)
        assert c, f"leakcheck does not replay {dialect} POST {path}:\n{p.stdout}"
        sent, answered, failed, upstream = c
        assert sent > 0 and answered > 0 and upstream > 0 and failed == 0, (path, p.stdout)


def test_leakcheck_continues_responses_in_a_copy_of_the_configured_store(workdir):
    # With a responses store, the follow-ups run against a fresh store in the work folder
    # (under the configured key): the operator's store never gets the corpus.
    import copy
    cfg = copy.deepcopy(BASE)
    key = os.path.join(workdir, "responses.key")
    with open(key, "w") as f:
        f.write("ab" * 32)
    os.chmod(key, 0o600)
    store = os.path.join(workdir, "store", "responses.db")
    os.makedirs(os.path.dirname(store))
    cfg["responses"] = {"store": store, "key": "file:responses.key", "ttl": "10m"}
    p = sgtest.run(["leakcheck", "--config", write(workdir, cfg)])
    assert p.returncode == 0, p.stdout + p.stderr
    assert "conversation state in a new store in the work folder" in p.stdout
    m = re.search(r"(\d+) continued with previous_response_id \((\d+) follow-up turns", p.stdout)
    assert m and int(m.group(1)) > 0 and int(m.group(2)) > 0, p.stdout
    c = endpoint_counts(p.stdout, "responses",
                        "/v1/responses (previous_response_id, stored history only)")
    assert c and c[1] > 0 and c[3] > 0, p.stdout
    assert os.listdir(os.path.dirname(store)) == []


def test_leakcheck_catches_a_leaky_configuration(workdir):
    import copy
    cfg = copy.deepcopy(BASE)
    cfg["redaction"]["actions"] = {"EMAIL": "allow", "CARD": "allow"}
    cfg["policy"] = {"transfers": [{"id": "us", "to": ["US"],
                                    "classes": ["personal", "business_confidential"]}]}
    p = sgtest.run(["leakcheck", "--config", write(workdir, cfg), "--keep",
                    os.path.join(workdir, "keep")])
    assert p.returncode == 1, p.stdout
    assert "LEAK: margarete.vollbrecht@example.org (EMAIL) reached external backend cloud" \
        in p.stdout
    assert "LEAK: Aurora X2" in p.stdout
    # the card was allowed in clear but restricted data still never went external...
    assert "(CARD) reached external" not in p.stdout
    # ...it went to the sovereign backend, which is reported too
    assert "(CARD) reached sovereign backend local" in p.stdout
    # the leak is traced to the requests that carried it: every dialect's, and the
    # Responses turns that only re-sent the stored conversation (they carry no value of
    # their own: the e-mail address reached the external backend in the stored history)
    m = re.search(r"LEAK: margarete\.vollbrecht@example\.org \(EMAIL\) reached external backend "
                  r"cloud\n\s+sent by: (.*)", p.stdout)
    assert m, p.stdout
    via = m.group(1)
    for what in ["openai POST /v1/chat/completions", "anthropic POST /v1/messages",
                 "azure POST /openai/deployments/{model}/chat/completions",
                 "gemini POST /v1beta/models/{model}:generateContent",
                 "gemini POST /v1beta/models/{model}:streamGenerateContent",
                 "ollama POST /api/chat", "ollama POST /api/generate",
                 "responses POST /v1/responses (previous_response_id, stored history only)"]:
        assert what in via, (what, via)
    # with --keep, what each backend received is kept; the external one got the translated
    # requests of every dialect (OpenAI chat bodies), the values in their fields
    got = open(os.path.join(workdir, "keep", "received-0.log")).read()
    assert "margarete.vollbrecht@example.org" in got


def test_leakcheck_usage_errors(workdir):
    assert sgtest.run(["leakcheck"]).returncode == 2
    assert sgtest.run(["leakcheck", "--config", os.path.join(workdir, "none.yaml")]).returncode == 1


def test_no_network_at_all_external_route_fails_closed():
    if os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("ip"):
        pytest.skip("needs root, unshare and ip to make a network namespace")
    env = dict(os.environ)
    env.update(sgtest.SAN_ENV)
    here = os.path.dirname(os.path.abspath(__file__))
    p = subprocess.run(["unshare", "-n", "sh", "-c",
                        f"ip link set lo up && exec /usr/bin/python3 {here}/netns_external.py"],
                       capture_output=True, text=True, env=env, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "netns: OK" in p.stdout


def test_leakcheck_exercises_failover_targets(workdir):
    # The external backend is only the failover of a healthy sovereign one: in production it
    # gets the requests whenever the local backend fails, so the check must send it some.
    import copy
    cfg = copy.deepcopy(BASE)
    cfg["routes"] = [{"model": "assistant", "backends": ["local", "cloud"]}]
    cfg["redaction"]["actions"] = {"EMAIL": "allow"}
    cfg["policy"] = {"transfers": [{"id": "us", "to": ["US"], "classes": ["personal"]}]}
    p = sgtest.run(["leakcheck", "--config", write(workdir, cfg), "--keep",
                    os.path.join(workdir, "keep")])
    assert p.returncode == 1, p.stdout
    assert "LEAK: margarete.vollbrecht@example.org (EMAIL) reached external backend cloud" \
        in p.stdout
    assert "0 failed" in p.stdout


def test_leakcheck_finds_terms_that_json_escapes(workdir):
    # A custom term with a quote or a backslash travels JSON-escaped: it must still be found.
    import copy
    cfg = copy.deepcopy(BASE)
    cfg["redaction"]["detectors"] = [{"name": "UNRELEASED",
                                      "terms": ['Projekt "Falke"', "C:\\Roadmap"]}]
    cfg["policy"] = {"transfers": [{"id": "us", "to": ["US"],
                                    "classes": ["business_confidential"]}]}
    p = sgtest.run(["leakcheck", "--config", write(workdir, cfg), "--keep",
                    os.path.join(workdir, "keep")])
    assert p.returncode == 1, p.stdout
    assert 'LEAK: Projekt "Falke" (custom detector term) reached external backend cloud' \
        in p.stdout
    assert 'LEAK: C:\\Roadmap (custom detector term) reached external backend cloud' in p.stdout
