"""Every path by which text of a request can reach a backend goes through redaction: the
fake upstream records exactly what it received, and these tests put personal values in the
places a walk over "the text fields" can forget: token ids instead of text, the ids that
pair a tool's answer with its call (free text to a client, in every dialect), the type
strings of parts and calls, the fields the gateway thinks of as structure (tool_choice,
stream_options, enumerations) and the free-text annotations of a response schema."""

import json

import pytest

import sgtest

NAME = "Anna Schmidt"
EMAIL = "anna.schmidt@example.de"
PHONE = "+49 30 1234567"
ORIGINALS = [NAME, EMAIL, PHONE, "Schmidt", "anna.schmidt", "1234567"]


@pytest.fixture
def g(make_gateway, upstream):
    return make_gateway(
        backends=[{"name": "b1", "url": upstream.url}],
        routes=[{"model": "assistant",
                 "aliases": ["claude-3-5-haiku-latest", "gemini-2.0-flash", "llama3.2"],
                 "backends": ["b1"]},
                {"model": "embed", "backends": [{"name": "b1", "model": "fake-embed"}]}])


def sent(upstream):
    bodies = [r["body"] for r in upstream.api_requests()]
    assert bodies, "the upstream received no request"
    for b in bodies:
        for v in ORIGINALS:
            assert v not in b, f"{v!r} reached the upstream: {b}"
    return [json.loads(b) for b in bodies]


# ---- token ids ----

@pytest.mark.parametrize("path,body,param", [
    ("/v1/completions", {"model": "assistant", "prompt": [9906, 11, 856, 836]}, "prompt"),
    ("/v1/completions", {"model": "assistant", "prompt": [[9906, 11], [856]]}, "prompt"),
    ("/v1/embeddings", {"model": "embed", "input": [[9906, 11, 856, 836]]}, "input"),
    ("/v1/embeddings", {"model": "embed", "input": [9906, 11]}, "input"),
])
def test_token_ids_are_refused_while_redaction_is_on(g, upstream, path, body, param):
    # token ids are text the gateway cannot read (a client's tokenizer made them: LangChain
    # sends embeddings inputs this way): nothing can be detected in them, so they are
    # refused rather than sent unscanned
    st, _, resp = g.post(path, body)
    assert st == 400, resp
    err = json.loads(resp)["error"]
    assert err["code"] == "unscannable_input" and err["param"] == param
    assert upstream.api_requests() == []


def test_token_ids_pass_when_redaction_is_off(make_gateway, upstream):
    g = make_gateway(backends=[{"name": "b1", "url": upstream.url}],
                     routes=[{"model": "embed", "backends": ["b1"]}],
                     extra={"redaction": {"enabled": False}})
    g.post("/v1/embeddings", {"model": "embed", "input": [[1, 2, 3]]})
    # (the fake upstream itself refuses token ids: what matters is that it got them)
    assert json.loads(upstream.api_requests()[0]["body"])["input"] == [[1, 2, 3]]


# ---- ids and types ----

def test_tool_call_ids_and_types_are_scanned_and_stay_paired(g, upstream):
    cid = f"call_{EMAIL}"
    body = {"model": "assistant", "messages": [
        {"role": "user", "content": [{"type": f"text {PHONE}", "text": "hi"}]},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": cid, "type": "function",
             "function": {"name": "lookup", "arguments": "{}"}},
            {"id": "call_2", "type": f"function for {NAME}",
             "function": {"name": "lookup", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": cid, "content": "found"},
        {"role": "tool", "tool_call_id": "call_2", "content": "found"},
        {"role": "user", "content": "Thanks"}]}
    st, _, resp = g.post("/v1/chat/completions", body)
    assert st == 200, resp
    m = sent(upstream)[0]["messages"]
    calls = m[1]["tool_calls"]
    # a value in an id is replaced the same way in the call and in its answer
    assert "EMAIL_" in calls[0]["id"]
    assert m[2]["tool_call_id"] == calls[0]["id"]
    # a machine-made id and the usual types travel as they are
    assert calls[1]["id"] == "call_2" and m[3]["tool_call_id"] == "call_2"
    assert calls[0]["type"] == "function"


def test_anthropic_tool_ids_are_scanned(g, upstream):
    tid = f"toolu_{EMAIL}"
    body = {"model": "claude-3-5-haiku-latest", "max_tokens": 32, "messages": [
        {"role": "user", "content": "look it up"},
        {"role": "assistant", "content": [
            {"type": "tool_use", "id": tid, "name": "lookup", "input": {}}]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": tid, "content": "found"}]}]}
    st, _, resp = g.request("POST", "/v1/messages", body=body,
                            headers={"anthropic-version": "2023-06-01"})
    assert st == 200, resp
    m = sent(upstream)[0]["messages"]
    assert m[1]["tool_calls"][0]["id"] == m[2]["tool_call_id"]
    assert "EMAIL_" in m[2]["tool_call_id"]


def test_responses_call_ids_are_scanned(g, upstream):
    cid = f"call {NAME}"
    body = {"model": "assistant", "input": [
        {"role": "user", "content": "look it up"},
        {"type": "function_call", "call_id": cid, "name": "lookup", "arguments": "{}"},
        {"type": "function_call_output", "call_id": cid, "output": "found"}]}
    st, _, resp = g.post("/v1/responses", body)
    assert st == 200, resp
    m = sent(upstream)[0]["messages"]
    assert m[1]["tool_calls"][0]["id"] == m[2]["tool_call_id"]
    assert "PERSON_" in m[2]["tool_call_id"]


def test_gemini_function_response_ids_are_scanned(g, upstream):
    body = {"contents": [
        {"role": "user", "parts": [{"text": "look it up"}]},
        {"role": "model", "parts": [{"functionCall": {"name": "lookup", "args": {}}}]},
        {"role": "user", "parts": [{"functionResponse": {
            "id": f"answer for {EMAIL}", "name": "lookup", "response": {"ok": True}}}]}]}
    st, _, resp = g.request("POST", "/v1beta/models/gemini-2.0-flash:generateContent",
                            body=body, key="", headers={"x-goog-api-key": g.key})
    assert st == 200, resp
    m = sent(upstream)[0]["messages"]
    assert "EMAIL_" in [x for x in m if x["role"] == "tool"][0]["tool_call_id"]


# ---- the fields taken for structure ----

def test_structural_fields_carry_no_unscanned_text(g, upstream):
    tool = f"notify_{EMAIL}"
    body = {"model": "assistant", "messages": [{"role": "user", "content": "hi"}],
            "tools": [{"type": "function", "function": {
                "name": tool, "parameters": {"type": "object", "properties": {}}}}],
            "tool_choice": {"type": "function", "function": {"name": tool}},
            "stream_options": {"x_note": f"for {NAME}"},
            "service_tier": f"auto {PHONE}",
            "temperature": 0.5}
    st, _, resp = g.post("/v1/chat/completions", body)
    assert st == 200, resp
    s = sent(upstream)[0]
    # the tool and the choice of it are transformed alike, so they still name each other
    assert s["tool_choice"]["function"]["name"] == s["tools"][0]["function"]["name"]
    assert "EMAIL_" in s["tool_choice"]["function"]["name"]
    assert s["temperature"] == 0.5


def test_response_schema_annotations_are_scanned(g, upstream):
    schema = {"type": "object", "description": f"The order of {NAME}",
              "properties": {"status": {"type": "string", "title": f"Status for {EMAIL}",
                                        "enum": ["open", "closed"]}},
              "required": ["status"]}
    body = {"model": "assistant", "messages": [{"role": "user", "content": "status?"}],
            "response_format": {"type": "json_schema", "json_schema": {
                "name": "order", "description": f"Call {PHONE}", "schema": schema,
                "strict": True}}}
    st, _, resp = g.post("/v1/chat/completions", body)
    assert st == 200, resp
    rf = sent(upstream)[0]["response_format"]
    js = rf["json_schema"]
    assert js["name"] == "order" and js["strict"] is True
    assert js["description"].startswith("Call PHONE_")
    assert js["schema"]["description"].startswith("The order of PERSON_")
    status = js["schema"]["properties"]["status"]
    assert status["title"].startswith("Status for EMAIL_")
    # the schema's structure is left as it is
    assert status["enum"] == ["open", "closed"] and status["type"] == "string"
    assert js["schema"]["required"] == ["status"]


def test_response_schema_enum_and_const_are_scanned(g, upstream):
    """A schema's enum and const are data an answer must match, and a shop puts its
    customers there (route this ticket to one of these accounts): scanned, with the same
    surrogate as the messages, so the answer can match and is restored."""
    schema = {"type": "object",
              "properties": {"customer": {"type": "string", "enum": [NAME, "nobody"]},
                             "contact": {"const": EMAIL},
                             "nested": {"anyOf": [{"enum": [[PHONE], 3, None]}]}},
              "required": ["customer"]}
    body = {"model": "assistant",
            "messages": [{"role": "user", "content": f"Who wrote this? {NAME}"}],
            "response_format": {"type": "json_schema", "json_schema": {
                "name": "who", "schema": schema, "strict": True}}}
    st, _, resp = g.post("/v1/chat/completions", body)
    assert st == 200, resp
    s = sent(upstream)[0]
    props = s["response_format"]["json_schema"]["schema"]["properties"]
    surrogate, other = props["customer"]["enum"]
    assert surrogate.startswith("PERSON_") and other == "nobody"
    assert surrogate in s["messages"][-1]["content"]  # one value, one surrogate
    assert props["contact"]["const"].startswith("EMAIL_")
    phone, three, none = props["nested"]["anyOf"][0]["enum"]
    assert phone[0].startswith("PHONE_") and three == 3 and none is None
    # the echo carries the surrogate back: the client reads the name
    assert NAME in json.loads(resp)["choices"][0]["message"]["content"]


def test_gemini_and_ollama_schemas_are_scanned(g, upstream):
    body = {"contents": [{"role": "user", "parts": [{"text": "status?"}]}],
            "generationConfig": {"responseMimeType": "application/json", "responseSchema": {
                "type": "OBJECT", "description": f"The order of {NAME}",
                "properties": {"status": {"type": "STRING"}}}}}
    st, _, resp = g.request("POST", "/v1beta/models/gemini-2.0-flash:generateContent",
                            body=body, key="", headers={"x-goog-api-key": g.key})
    assert st == 200, resp
    st, _, resp = g.post("/api/chat", {
        "model": "llama3.2", "stream": False,
        "messages": [{"role": "user", "content": "status?"}],
        "format": {"type": "object", "description": f"Mail {EMAIL}",
                   "properties": {"status": {"type": "string"}}}})
    assert st == 200, resp
    gem, oll = sent(upstream)
    assert "PERSON_" in gem["response_format"]["json_schema"]["schema"]["description"]
    assert "EMAIL_" in oll["response_format"]["json_schema"]["schema"]["description"]


# ---- member names ----

def test_member_names_are_scanned(g, upstream):
    """A client's own member names reach the backend like its values: metadata keys
    (a plugin tagging a request with the customer's address), an unknown field of a
    message or of a content part, an unknown top-level field, a response schema's property
    names. Each is pseudonymized like a value, in its place; a property name and the
    required list naming it get the same surrogate, so the schema still holds together."""
    body = {"model": "assistant",
            "messages": [{"role": "user", "content": [
                {"type": "text", "text": f"Write to {NAME}.", "x-tag": {EMAIL: 1}}],
                "x-note": {PHONE: "call first"}}],
            "metadata": {EMAIL: "vip", "order": "7"},
            NAME: True,
            "response_format": {"type": "json_schema", "json_schema": {
                "name": "who", "strict": True, "schema": {
                    "type": "object", "properties": {NAME: {"type": "string"}},
                    "required": [NAME]}}}}
    st, _, resp = g.post("/v1/chat/completions", body)
    assert st == 200, resp
    s = sent(upstream)[0]  # no original anywhere in what the backend received
    person = [k for k in s if k.startswith("PERSON_")]
    assert len(person) == 1 and s[person[0]] is True
    assert person[0] in s["messages"][0]["content"][0]["text"]  # one value, one surrogate
    mail = list(s["metadata"])
    assert mail[0].startswith("EMAIL_") and mail[1] == "order" and s["metadata"][mail[0]] == "vip"
    assert list(s["messages"][0]["content"][0]["x-tag"])[0] == mail[0]
    assert list(s["messages"][0]["x-note"])[0].startswith("PHONE_")
    schema = s["response_format"]["json_schema"]["schema"]
    assert list(schema["properties"]) == [person[0]] and schema["required"] == [person[0]]
    # member order is kept: what a client sent first still comes first
    assert list(s)[:3] == ["model", "messages", "metadata"]


def test_masked_member_names_that_clash_are_refused(g, upstream):
    # a card number is masked: two keys holding two card numbers would both become "[CARD]",
    # and sending one would drop the other; one alone is sent masked
    st, _, resp = g.post("/v1/chat/completions", {
        "model": "assistant", "messages": [{"role": "user", "content": "hi"}],
        "metadata": {"4111 1111 1111 1111": "a"}})
    assert st == 200, resp
    assert upstream.api_requests()[-1]["body"].count('"[CARD]":"a"') == 1
    st, _, resp = g.post("/v1/chat/completions", {
        "model": "assistant", "messages": [{"role": "user", "content": "hi"}],
        "metadata": {"4111 1111 1111 1111": "a", "5555 5555 5555 4444": "b"}})
    assert st == 400, resp
    assert json.loads(resp)["error"]["code"] == "name_clash"
    assert len(upstream.api_requests()) == 1


def test_member_names_in_policy_explain(g):
    """`sovgate policy explain` walks the same fields: a finding in a member name is
    reported with the member's position, and the body it would send has the surrogate
    key."""
    req = json.dumps({"model": "assistant", "messages": [{"role": "user", "content": "hi"}],
                      "metadata": {EMAIL: "vip"}})
    p = sgtest.run(["policy", "explain", "--config", g.path], stdin=req)
    assert p.returncode == 0, p.stderr
    r = json.loads(p.stdout)
    # the field is the member's position: its name is the value found
    assert [(f["field"], f["type"]) for f in r["findings"]] == [("metadata{0}", "EMAIL")]
    (key,) = r["body"]["metadata"]
    assert key.startswith("EMAIL_") and r["body"]["metadata"][key] == "vip"
