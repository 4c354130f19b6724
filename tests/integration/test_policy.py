"""The data classification policy through the gateway: classes decide which backends a
request may reach (sovereign vs external, jurisdictions and transfer rules), clients are
limited to classes, refusals are 403 policy_violation naming the class and the rule and
reaching no backend, egress is limited to listed hosts, and `sovgate policy explain` is
the same decision without sending anything. Two fake upstreams stand in for a local
backend and an external provider; each records exactly what it received."""

import json
import time

import pytest

import sgtest

EMAIL = "anna.schmidt@example.de"
CARD = "4111 1111 1111 1111"
# Own class lists must place every built-in type; these are the personal ones.
PERSONAL_TYPES = ["EMAIL", "PHONE", "PERSON", "ADDRESS", "IP", "DATE_OF_BIRTH", "VAT_ID", "FIELD"]


def gw(make_gateway, local, cloud, targets, policy=None, clients=None, redaction=None,
       cloud_jurisdiction="US"):
    backends = [{"name": "local", "url": local.url},
                {"name": "cloud", "url": cloud.url, "sovereign": False,
                 "jurisdiction": cloud_jurisdiction}]
    extra = {}
    if policy is not None:
        extra["policy"] = policy
    if redaction is not None:
        extra["redaction"] = redaction
    return make_gateway(backends=backends, routes=[{"model": "assistant", "backends": targets}],
                        clients=clients, extra=extra)


@pytest.fixture
def two(make_upstream):
    return make_upstream("local"), make_upstream("cloud")


def sent(up):
    return [r["body"] for r in up.api_requests()]


def test_personal_data_stays_on_sovereign_backends(make_gateway, two):
    local, cloud = two
    g = gw(make_gateway, local, cloud, ["cloud", "local"])
    st, _, body = g.chat(f"Mail me at {EMAIL}")
    assert st == 200, body
    assert json.loads(body)["choices"][0]["message"]["content"] == f"[local] Mail me at {EMAIL}"
    assert sent(cloud) == []  # the external backend comes first but may not get it
    assert EMAIL not in sent(local)[0] and "EMAIL_" in sent(local)[0]
    # public text goes to the first backend of the route, the external one
    st, _, body = g.chat("Write two sentences about green tea.")
    assert st == 200
    assert json.loads(body)["choices"][0]["message"]["content"].startswith("[cloud]")
    # masked restricted data is gone: the request is public again
    st, _, body = g.chat(f"card {CARD}")
    assert st == 200
    assert sent(cloud)[-1].count("[CARD]") == 1 and "4111" not in sent(cloud)[-1]


def test_retry_after_counts_only_backends_the_request_may_reach(make_gateway, two):
    """Personal data may go only to the local backend; while it is down (its health checks
    backing off), Retry-After says when it is next checked, not the 1 s of the healthy
    external backend the policy refuses."""
    local, cloud = two
    backends = [{"name": "local", "url": local.url},
                {"name": "cloud", "url": cloud.url, "sovereign": False, "jurisdiction": "US"}]
    g = make_gateway(backends=backends, routes=[{"model": "assistant",
                                                 "backends": ["local", "cloud"]}],
                     extra={"health": {"interval": "200ms", "max_backoff": "8s"}})
    g.wait_ready()
    local.stop()
    seen = []
    deadline = time.time() + 15
    while time.time() < deadline and not any(ra >= 2 for ra in seen):
        st, h, body = g.chat(f"Mail me at {EMAIL}")
        assert st == 503, body
        assert json.loads(body)["error"]["code"] == "backend_unavailable"
        seen.append(int(h["retry-after"]))
        time.sleep(0.3)
    assert any(ra >= 2 for ra in seen), seen
    assert sent(cloud) == []
    st, _, body = g.chat("Write two sentences about green tea.")  # public: the cloud serves
    assert st == 200 and json.loads(body)["choices"][0]["message"]["content"].startswith("[cloud]")


def test_no_allowed_backend_is_403_naming_class_and_rule(make_gateway, two):
    local, cloud = two
    g = gw(make_gateway, local, cloud, ["cloud"])
    st, _, body = g.chat(f"Mail me at {EMAIL}")
    assert st == 403
    err = json.loads(body)["error"]
    assert err["code"] == "policy_violation" and err["type"] == "permission_error"
    assert "personal" in err["message"] and "no-transfer" in err["message"]
    assert EMAIL not in body.decode()
    assert err["param"] == "messages[0].content"
    assert sent(cloud) == [] and sent(local) == []
    g.wait_log(lambda j: j.get("event") == "request" and j.get("status") == 403 and
               j.get("error") == "policy_violation")


def test_transfer_rule_for_a_jurisdiction(make_gateway, two):
    local, cloud = two
    policy = {"transfers": [{"id": "eu-personal", "to": ["EU"], "classes": ["personal"]}]}
    g = gw(make_gateway, local, cloud, ["cloud", "local"], policy=policy,
           cloud_jurisdiction="DE")
    st, _, body = g.chat(f"Mail me at {EMAIL}")
    assert st == 200
    assert json.loads(body)["choices"][0]["message"]["content"] == f"[cloud] Mail me at {EMAIL}"
    assert EMAIL not in sent(cloud)[0] and "EMAIL_" in sent(cloud)[0]  # pseudonymized still
    # the same rule does not cover the US
    g2 = gw(make_gateway, local, cloud, ["cloud"], policy=policy, cloud_jurisdiction="US")
    assert g2.chat(f"Mail me at {EMAIL}")[0] == 403


def test_restricted_data_never_goes_external(make_gateway, two):
    local, cloud = two
    # even when the operator lets cards through unmasked and a transfer names the class
    policy = {"transfers": [{"id": "all", "to": ["*"],
                             "classes": ["restricted", "personal"]}]}
    g = gw(make_gateway, local, cloud, ["cloud", "local"], policy=policy,
           redaction={"actions": {"CARD": "allow"}})
    st, _, body = g.chat(f"card {CARD}")
    assert st == 200
    assert sent(cloud) == [] and CARD in sent(local)[0]
    g2 = gw(make_gateway, local, cloud, ["cloud"], policy=policy,
            redaction={"actions": {"CARD": "allow"}})
    st, _, body = g2.chat(f"card {CARD}")
    assert st == 403 and "restricted-external" in json.loads(body)["error"]["message"]


def test_class_actions_per_destination(make_gateway, two):
    local, cloud = two
    policy = {"classes": [
        {"name": "restricted", "types": ["CARD", "IBAN", "NATIONAL_ID", "SECRET",
                                         "URL_CREDENTIALS"], "sovereign": "mask"},
        {"name": "personal", "types": PERSONAL_TYPES,
         "sovereign": "allow", "external": "mask"},
        {"name": "public", "types": []}]}
    g = gw(make_gateway, local, cloud, ["local"], policy=policy)
    g.chat(f"Mail me at {EMAIL}")
    assert EMAIL in sent(local)[0]  # allowed in clear to the shop's own model
    g2 = gw(make_gateway, local, cloud, ["cloud"], policy=policy)
    st, _, body = g2.chat(f"Mail me at {EMAIL}")
    assert st == 200  # masked for the external one: nothing personal is left
    assert "[EMAIL]" in sent(cloud)[0] and EMAIL not in sent(cloud)[0]


def test_client_limited_to_classes(make_gateway, two):
    local, cloud = two
    policy = {"clients": [{"name": "writer", "classes": ["public", "business_confidential"]},
                          {"name": "soft", "classes": ["public"],
                           "on_violation": "pseudonymize"}]}
    g = gw(make_gateway, local, cloud, ["local"], policy=policy,
           clients={"writer": None, "soft": None, "shop": None},
           redaction={"actions": {"EMAIL": "allow"}})
    st, _, body = g.post("/v1/chat/completions",
                         {"model": "assistant",
                          "messages": [{"role": "user", "content": f"to {EMAIL}"}]},
                         key=g.keys["writer"])
    assert st == 403
    assert "client:writer" in json.loads(body)["error"]["message"]
    st, _, body = g.post("/v1/chat/completions",
                         {"model": "assistant",
                          "messages": [{"role": "user", "content": f"to {EMAIL}"}]},
                         key=g.keys["soft"])
    assert st == 200 and "EMAIL_" in sent(local)[-1]
    st, _, body = g.post("/v1/chat/completions",
                         {"model": "assistant",
                          "messages": [{"role": "user", "content": f"to {EMAIL}"}]},
                         key=g.keys["shop"])
    assert st == 200 and EMAIL in sent(local)[-1]  # no rule: the type's action (allow)
    assert len(sent(local)) == 2


def test_redaction_off_means_sovereign_only(make_gateway, two):
    local, cloud = two
    g = gw(make_gateway, local, cloud, ["cloud"], redaction={"enabled": False})
    st, _, body = g.chat("Write about tea.")
    assert st == 403 and "unclassified" in json.loads(body)["error"]["message"]


def test_wordpress_field_header(gateway, upstream):
    args = json.dumps({"vip_level": "gold", "note": "plain"})
    body = {"model": "assistant", "messages": [
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c1", "type": "function",
             "function": {"name": "customer", "arguments": args}}]},
        {"role": "user", "content": "hi"}]}
    st, _, resp = gateway.post("/v1/chat/completions", body,
                               headers={"X-Sovgate-Fields": "vip_level=FIELD, _loyalty=PERSON"})
    assert st == 200, resp
    got = json.loads(json.loads(upstream.api_requests()[0]["body"])["messages"][0]
                     ["tool_calls"][0]["function"]["arguments"])
    assert got["vip_level"].startswith("FIELD_") and got["note"] == "plain"
    for bad in ["vip_level", "vip level=FIELD", "x=NOPE", "x=none", "a=FIELD," * 200,
                "\u00e4=FIELD"]:
        st, _, resp = gateway.post("/v1/chat/completions", body,
                                   headers={"X-Sovgate-Fields": bad.encode().decode("latin-1")})
        assert st == 400, bad
        err = json.loads(resp)["error"]
        assert err["param"] == "X-Sovgate-Fields" and err["code"] == "invalid_header"
    assert len(upstream.api_requests()) == 1


@pytest.mark.parametrize("extra,msg", [
    ({"backends": [{"name": "far", "url": "http://203.0.113.7:8000", "jurisdiction": "US"}]},
     'host "203.0.113.7" is not in egress.allow'),
    ({"backends": [{"name": "far", "url": "http://203.0.113.7:8000"}],
      "egress": {"allow": ["203.0.113.7"]}}, "needs a jurisdiction"),
    ({"backends": [{"name": "far", "url": "http://10.1.2.3:8000", "jurisdiction": "Germany"}]},
     "must be an ISO 3166 country code"),
    ({"policy": {"transfers": [{"id": "t", "to": ["EU"], "classes": ["secret_stuff"]}]}},
     'unknown class "secret_stuff"'),
    ({"policy": {"transfers": [{"to": ["EU"], "classes": ["public"]}]}}, "id is required"),
    ({"policy": {"classes": [{"name": "Bad Name"}]}}, "a class name is 1 to 48"),
    ({"policy": {"classes": [{"name": "a", "types": ["NOPE"]}]}}, "unknown entity type NOPE"),
    ({"policy": {"classes": [{"name": "a", "types": ["EMAIL"]},
                             {"name": "b", "types": ["EMAIL"]}]}}, "already in class a"),
    # the shop's own detector must be placed, as every built-in type must
    ({"redaction": {"detectors": [{"name": "COST_PRICE", "terms": ["EK-Preis"]}]},
      "policy": {"classes": [
          {"name": "restricted", "types": ["CARD", "IBAN", "NATIONAL_ID", "SECRET",
                                           "URL_CREDENTIALS"]},
          {"name": "personal", "types": PERSONAL_TYPES},
          {"name": "public"}]}},
     "the custom detector COST_PRICE is in no class"),
    # a personal type no class lists would count as public: refused, not sent in clear
    ({"policy": {"classes": [
        {"name": "restricted", "types": ["CARD", "IBAN", "NATIONAL_ID", "SECRET",
                                         "URL_CREDENTIALS"]},
        {"name": "personal", "types": ["EMAIL"], "sovereign": "pseudonymize"},
        {"name": "public"}]}},
     "PHONE is in no class; every built-in type must be listed"),
    ({"policy": {"clients": [{"name": "x", "on_violation": "shrug"}]}},
     "must be block, mask or pseudonymize"),
    ({"egress": {"allow": ["*.example.com"]}}, "an entry is a host"),
])
def test_bad_policy_config_is_refused(workdir, upstream, extra, msg):
    backends = [{"name": "b1", "url": upstream.url}] + extra.pop("backends", [])
    g = sgtest.Gateway(workdir, backends=backends,
                       routes=[{"model": "assistant", "backends": ["b1"]}], extra=extra,
                       start=False)
    p = sgtest.run(["check-config", g.path])
    assert p.returncode == 1
    assert msg in p.stderr, p.stderr


def test_policy_explain(make_gateway, two, workdir):
    local, cloud = two
    policy = {"transfers": [{"id": "eu", "to": ["EU"], "classes": ["personal"]}]}
    g = gw(make_gateway, local, cloud, ["cloud", "local"], policy=policy)
    req = json.dumps({"model": "assistant",
                      "messages": [{"role": "user", "content": f"I am {EMAIL}, card {CARD}"}]})
    p = sgtest.run(["policy", "explain", "--config", g.path], stdin=req)
    assert p.returncode == 0, p.stderr
    r = json.loads(p.stdout)
    assert {f["type"] for f in r["findings"]} == {"EMAIL", "CARD"}
    assert r["classes"] == ["restricted", "personal"]
    by = {b["backend"]: b for b in r["backends"]}
    assert not by["cloud"]["allowed"] and by["cloud"]["rule"] == "no-transfer"
    assert by["local"]["allowed"] and by["local"]["rule"] == "sovereign"
    assert r["backend"] == "local"
    content = r["body"]["messages"][0]["content"]
    assert EMAIL not in content and "EMAIL_" in content and "[CARD]" in content
    assert sent(local) == [] and sent(cloud) == []  # nothing was sent
    # a refusal exits 3; a bad body and bad options are clear errors
    p = sgtest.run(["policy", "explain", "--config", g.path],
                   stdin=json.dumps({"model": "assistant", "messages": "no"}))
    assert p.returncode == 1 and "not a valid request" in p.stderr
    p = sgtest.run(["policy", "explain", "--config", g.path, "--endpoint", "nope"], stdin="{}")
    assert p.returncode == 2
    g2 = gw(make_gateway, local, cloud, ["cloud"], policy={})
    p = sgtest.run(["policy", "explain", "--config", g2.path], stdin=req)
    assert p.returncode == 3 and json.loads(p.stdout)["decision"] == "refuse"
    # a prompt given as token ids: the gateway refuses it (unscannable), and so does the
    # dry run, instead of reporting it sendable with nothing found
    toks = json.dumps({"model": "assistant", "prompt": [1, 2, 3]})
    st, _, body = g.post("/v1/completions", json.loads(toks))
    assert st == 400 and json.loads(body)["error"]["code"] == "unscannable_input", body
    p = sgtest.run(["policy", "explain", "--config", g.path, "--endpoint", "completions"],
                   stdin=toks)
    assert p.returncode == 3, p.stdout + p.stderr
    r = json.loads(p.stdout)
    assert r["decision"] == "reject" and r["error"] == "unscannable_input"
    assert r["param"] == "prompt"


def test_policy_explain_with_redaction_off_agrees_with_gateway(make_gateway, two):
    """With redaction off nothing is classified: the gateway sends to sovereign backends
    only (rule unclassified for external ones), and the dry run must say the same."""
    local, cloud = two
    g = gw(make_gateway, local, cloud, ["cloud", "local"], redaction={"enabled": False})
    req = json.dumps({"model": "assistant",
                      "messages": [{"role": "user", "content": "Write about tea."}]})
    st, _, body = g.chat("Write about tea.")
    assert st == 200 and sent(cloud) == [] and len(sent(local)) == 1
    p = sgtest.run(["policy", "explain", "--config", g.path], stdin=req)
    assert p.returncode == 0, p.stderr
    r = json.loads(p.stdout)
    by = {b["backend"]: b for b in r["backends"]}
    assert not by["cloud"]["allowed"] and by["cloud"]["rule"] == "unclassified"
    assert by["local"]["allowed"] and r["backend"] == "local"
    g2 = gw(make_gateway, local, cloud, ["cloud"], redaction={"enabled": False})
    assert g2.chat("Write about tea.")[0] == 403
    p = sgtest.run(["policy", "explain", "--config", g2.path], stdin=req)
    assert p.returncode == 3 and json.loads(p.stdout)["decision"] == "refuse", p.stdout


def _wait_probed(g, up):
    """Until the gateway has health-checked `up` (so that it is routable)."""
    g.wait_ready()
    deadline = time.time() + 10
    while time.time() < deadline and not any(r["path"] == "/v1/models" for r in up.records()):
        time.sleep(0.05)
    time.sleep(0.1)


def _audit_records(workdir, db):
    p = sgtest.run(["audit", "export", "--db", db, "--format", "jsonl"])
    assert p.returncode == 0, p.stderr
    return [json.loads(l) for l in p.stdout.splitlines() if l.strip()]


def test_every_external_attempt_has_its_own_decision_record(make_gateway, two, workdir):
    """A route may name the same external backend twice (another model as a fallback): the
    second transfer after a failure is a transfer too and needs its own durable decision
    record before it is sent (one per request the backend receives, failed ones included)."""
    local, cloud = two
    key = f"{workdir}/audit.key"
    assert sgtest.run(["audit", "keygen", "--out", key]).returncode == 0
    db = f"{workdir}/audit.db"
    g = make_gateway(
        backends=[{"name": "local", "url": local.url},
                  {"name": "cloud", "url": cloud.url, "sovereign": False, "jurisdiction": "US"}],
        routes=[{"model": "assistant",
                 "backends": [{"name": "cloud", "model": "big"},
                              {"name": "cloud", "model": "small"}, "local"]}],
        extra={"audit": {"path": db, "signing_key": f"file:{key}"}})
    _wait_probed(g, cloud)
    cloud.control(fail=500)
    st, _, body = g.chat("Write about tea.")
    assert st == 200 and json.loads(body)["choices"][0]["message"]["content"].startswith(
        "[local]"), body
    g.stop()
    assert len(sent(cloud)) == 2
    recs = _audit_records(workdir, db)
    decisions = [r for r in recs if r.get("type") == "decision" and r.get("backend") == "cloud"]
    assert len(decisions) == len(sent(cloud)), recs


def test_continued_responses_surrogates_stay_personal_data(make_gateway, two, workdir):
    """A follow-up Responses request carries the stored conversation with its surrogates
    (pseudonymized, still personal data): a destination whose action would mask the type
    does not mask them, so they are left, and an external backend needs a transfer rule."""
    local, cloud = two
    skey = f"{workdir}/responses.key"
    with open(skey, "w") as f:
        f.write("a1" * 32 + "\n")  # test fixture: a throwaway store key
    policy = {"classes": [
        {"name": "restricted", "types": ["CARD", "IBAN", "NATIONAL_ID", "SECRET",
                                         "URL_CREDENTIALS"], "sovereign": "mask"},
        {"name": "personal", "types": PERSONAL_TYPES,
         "sovereign": "pseudonymize", "external": "mask"},
        {"name": "public", "types": []}]}
    key = f"{workdir}/audit.key"
    assert sgtest.run(["audit", "keygen", "--out", key]).returncode == 0
    db = f"{workdir}/audit.db"
    g = gw(make_gateway, local, cloud, ["cloud", "local"], policy=policy)
    g.config["responses"] = {"store": f"{workdir}/responses.db", "key": "file:" + skey}
    g.config["audit"] = {"path": db, "signing_key": f"file:{key}"}
    g.stop()
    g.write_config()
    g.start()
    _wait_probed(g, cloud)
    cloud.control(fail=500)  # turn one goes to the local backend: surrogates
    st, _, r1 = g.request("POST", "/v1/responses",
                          body={"model": "assistant", "input": f"Mail me at {EMAIL}"})
    assert st == 200, r1
    assert "EMAIL_" in sent(local)[0]
    cloud.control(fail=0)
    n_cloud = len(sent(cloud))
    st, _, r2 = g.request("POST", "/v1/responses",
                          body={"model": "assistant",
                                "previous_response_id": json.loads(r1)["id"],
                                "input": "Thanks, write two sentences about tea."})
    assert st == 200, r2
    assert len(sent(cloud)) == n_cloud, sent(cloud)[-1]  # no surrogate went external
    assert len(sent(local)) == 2 and "EMAIL_" in sent(local)[1]
    assert n_cloud == 1  # the cloud was tried first (routable) in turn one
    # the follow-up's record counts the carried surrogate as carried, not as masked
    g.stop()
    recs = [r for r in _audit_records(workdir, db) if r.get("type") == "request"]
    assert recs[0]["entities"] == {"EMAIL": {"pseudonymize": 1}}, recs[0]
    assert recs[-1]["entities"] == {"EMAIL": {"carried": 1}}, recs[-1]
