"""`sovgate leakcheck`: replays canary requests through the operator's configuration
against capture backends; clean for the default policy, and it catches a configuration
that lets personal data out. The network-namespace test shows that with no network at
all the gateway still serves local backends and an external route fails closed."""

import os
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


def test_leakcheck_passes_on_the_default_policy(workdir):
    p = sgtest.run(["leakcheck", "--config", write(workdir, BASE)])
    assert p.returncode == 0, p.stdout + p.stderr
    assert "leakcheck: OK" in p.stdout
    assert "chain intact, agrees with what every backend received" in p.stdout
    assert "0 failed" in p.stdout
    assert "refused by the policy" in p.stdout


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
    p = sgtest.run(["leakcheck", "--config", write(workdir, cfg)])
    assert p.returncode == 1, p.stdout
    assert 'LEAK: Projekt "Falke" (custom detector term) reached external backend cloud' \
        in p.stdout
    assert 'LEAK: C:\\Roadmap (custom detector term) reached external backend cloud' in p.stdout
