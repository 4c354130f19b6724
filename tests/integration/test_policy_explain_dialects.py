"""`sovgate policy explain` for the other API dialects the gateway speaks (Anthropic
Messages, OpenAI Responses, Gemini, Ollama): the body is routed by its request path and
decoded by the gateway's own functions, then explained as an OpenAI request. Each test
runs the real binary; the ones that compare with the gateway start it in front of the fake
upstream (which records exactly what it received), so that the dry run and the gateway
cannot drift apart: same translated body, same refusals with the same message."""

import json
import re

import pytest

import sgtest

EMAIL = "anna.schmidt@example.de"
EMAIL2 = "jonas.weber@example.org"


@pytest.fixture
def ups(make_upstream):
    return make_upstream("cloud"), make_upstream("local")


@pytest.fixture
def g(make_gateway, ups):
    # One local backend after an external one: personal data may only go to the local one,
    # so the decision is visible; a small max_body for the oversized case.
    cloud, local = ups
    return make_gateway(
        backends=[{"name": "cloud", "url": cloud.url, "sovereign": False,
                   "jurisdiction": "US"},
                  {"name": "local", "url": local.url}],
        routes=[{"model": "assistant",
                 "aliases": ["claude-3-5-haiku-latest", "gemini-2.0-flash", "llama3.2"],
                 "backends": ["cloud", "local"]},
                {"model": "embed", "aliases": ["text-embedding-004", "nomic-embed-text"],
                 "backends": ["local"]}],
        extra={"limits": {"max_body": "64KiB"}})


def explain(g, args, body):
    data = body if isinstance(body, str) else json.dumps(body)
    return sgtest.run(["policy", "explain", "--config", g.path] + args, stdin=data)


def report(p):
    assert p.returncode == 0, p.stdout + p.stderr
    return json.loads(p.stdout)


def fields_of(r, typ="EMAIL"):
    return sorted(f["field"] for f in r["findings"] if f["type"] == typ)


def surrogates(text):
    return re.findall(r"EMAIL_[A-Z0-9]+", text)


def normalized(body):
    """A body with its surrogates made comparable (each request draws its own)."""
    return json.loads(re.sub(r"EMAIL_[A-Z0-9]+", "EMAIL_*", json.dumps(body)))


# ---- findings at the translated paths ----

def test_anthropic_system_and_message(g):
    body = {"model": "claude-3-5-haiku-latest", "max_tokens": 64,
            "system": f"Answer {EMAIL} politely.",
            "messages": [{"role": "user",
                          "content": [{"type": "text", "text": f"I am {EMAIL2}"}]}]}
    r = report(explain(g, ["--endpoint", "messages"], body))
    assert r["translated_from"] == {"dialect": "anthropic", "path": "/v1/messages"}
    assert r["endpoint"] == "/v1/chat/completions"
    assert fields_of(r) == ["messages[0].content", "messages[1].content[0].text"]
    assert r["classes"] == ["personal"]
    by = {b["backend"]: b for b in r["backends"]}
    assert not by["cloud"]["allowed"] and by["local"]["allowed"]
    assert r["decision"] == "send" and r["backend"] == "local"
    sent = r["body"]
    assert sent["model"] == "assistant" and sent["max_tokens"] == 64
    assert sent["messages"][0]["role"] == "system"
    text = json.dumps(sent)
    assert EMAIL not in text and EMAIL2 not in text
    assert len(set(surrogates(text))) == 2  # two addresses, two surrogates
    # the same by the request path
    r2 = report(explain(g, ["--path", "/v1/messages"], body))
    assert fields_of(r2) == fields_of(r)


def test_gemini_needs_the_model_of_the_path(g):
    body = {"systemInstruction": {"parts": [{"text": "You help the shop."}]},
            "contents": [{"role": "user", "parts": [{"text": f"Mail {EMAIL} please"}]}]}
    r = report(explain(g, ["--endpoint", "gemini", "--model", "gemini-2.0-flash"], body))
    assert r["translated_from"] == {"dialect": "gemini",
                                    "path": "/v1beta/models/gemini-2.0-flash:generateContent"}
    assert r["model"] == "assistant"
    assert fields_of(r) == ["messages[1].content"]
    assert r["backend"] == "local" and EMAIL not in json.dumps(r["body"])
    assert "stream" not in r["body"]
    # the path as a client calls it (the query is no part of the route)
    p = explain(g, ["--path", "/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse"],
                body)
    r = report(p)
    assert fields_of(r) == ["messages[1].content"] and r["body"]["stream"] is True
    # embeddings
    r = report(explain(g, ["--endpoint", "gemini-embed", "--model", "text-embedding-004"],
                       {"content": {"parts": [{"text": f"customer {EMAIL}"}]}}))
    assert r["endpoint"] == "/v1/embeddings" and r["model"] == "embed"
    assert fields_of(r) == ["input"] and EMAIL not in json.dumps(r["body"])
    # the model is the path's: without --model there is none
    for args in (["--endpoint", "gemini"], ["--endpoint", "gemini", "--model", "a/b"],
                 ["--endpoint", "messages", "--model", "x"]):
        p = explain(g, args, body)
        assert p.returncode == 2 and p.stdout == "", args
        assert "usage:" in p.stderr


def test_ollama_chat_and_generate(g):
    r = report(explain(g, ["--endpoint", "ollama-chat"],
                       {"model": "llama3.2", "stream": False,
                        "messages": [{"role": "system", "content": "Be short."},
                                     {"role": "user", "content": f"Write to {EMAIL}"}]}))
    assert r["translated_from"] == {"dialect": "ollama", "path": "/api/chat"}
    assert fields_of(r) == ["messages[1].content"]
    assert r["backend"] == "local" and EMAIL not in json.dumps(r["body"])
    r = report(explain(g, ["--endpoint", "ollama-generate"],
                       {"model": "llama3.2", "system": f"Sign as {EMAIL}", "prompt": "Hello"}))
    assert fields_of(r) == ["messages[0].content"]
    r = report(explain(g, ["--path", "/api/embed"],
                       {"model": "nomic-embed-text", "input": [f"a {EMAIL}", "b"]}))
    assert r["endpoint"] == "/v1/embeddings" and fields_of(r) == ["input[0]"]


def test_responses_instructions(g):
    r = report(explain(g, ["--endpoint", "responses"],
                       {"model": "assistant", "instructions": f"Reply as {EMAIL}.",
                        "input": [{"role": "user",
                                   "content": [{"type": "input_text", "text": "Hello"}]}]}))
    assert r["translated_from"] == {"dialect": "responses", "path": "/v1/responses"}
    assert "warnings" not in r
    # the instructions are the first message of the chat request, as in the gateway
    assert fields_of(r) == ["messages[0].content"]
    assert r["body"]["messages"][0]["role"] == "system"
    assert EMAIL not in json.dumps(r["body"]) and r["backend"] == "local"


def test_responses_previous_response_id_is_not_pretended(g):
    p = explain(g, ["--endpoint", "responses"],
                {"model": "assistant", "previous_response_id": "resp_0123",
                 "input": f"And {EMAIL}?"})
    r = report(p)
    assert len(r["warnings"]) == 1 and "previous_response_id" in r["warnings"][0]
    assert "not in the findings" in r["warnings"][0]
    assert "previous_response_id" in p.stderr and "warning" in p.stderr
    assert [m["role"] for m in r["body"]["messages"]] == ["user"]  # only this turn
    assert fields_of(r) == ["messages[0].content"]
    # nothing of its own to explain: refused, clearly
    p = explain(g, ["--endpoint", "responses"],
                {"model": "assistant", "previous_response_id": "resp_0123"})
    assert p.returncode == 1 and p.stdout == ""
    assert "previous_response_id" in p.stderr and "store" in p.stderr


# ---- refusals: the same as the gateway's ----

def gateway_error(body):
    """The message of an error in any dialect's shape."""
    e = json.loads(body)
    if isinstance(e.get("error"), str):  # Ollama
        return e["error"]
    return e["error"]["message"]


DEEP = '{"model": "assistant", "x": ' + "[" * 3000 + "]" * 3000 + "}"
BAD = [
    ("/v1/messages", ["--endpoint", "messages"],
     {"model": "assistant", "max_tokens": 8, "messages": [{"role": "user", "content": 5}]}),
    ("/v1/messages", ["--endpoint", "messages"],
     {"model": "assistant", "max_tokens": 8, "system": {"a": 1},
      "messages": [{"role": "user", "content": "x"}]}),
    ("/v1/messages", ["--endpoint", "messages"],
     '{"model": "assistant", "model": "x", "max_tokens": 8, "messages": []}'),
    ("/v1beta/models/gemini-2.0-flash:generateContent",
     ["--endpoint", "gemini", "--model", "gemini-2.0-flash"], {"generationConfig": {}}),
    ("/v1beta/models/gemini-2.0-flash:generateContent",
     ["--endpoint", "gemini", "--model", "gemini-2.0-flash"], {"contents": "hi"}),
    ("/api/chat", ["--endpoint", "ollama-chat"], "[1, 2]"),
    ("/api/chat", ["--endpoint", "ollama-chat"], '"just a string"'),
    ("/api/chat", ["--endpoint", "ollama-chat"], "{\"model\": \"llama3.2\", \"messages\": "),
    ("/api/generate", ["--endpoint", "ollama-generate"], DEEP),
    ("/v1/responses", ["--endpoint", "responses"],
     {"model": "assistant", "input": "x", "tools": [{"type": "web_search"}]}),
    ("/v1/responses", ["--endpoint", "responses"], {"model": "assistant", "input": 7}),
    ("/v1/responses", ["--endpoint", "responses"], {"input": "no model"}),
]


def test_bad_bodies_are_refused_as_the_gateway_refuses_them(g, ups):
    for path, args, body in BAD:
        data = body if isinstance(body, str) else json.dumps(body)
        st, _, resp = g.request("POST", path, body=data)
        assert st == 400, (path, data[:80], resp)
        msg = gateway_error(resp)
        p = explain(g, args, data)
        assert p.returncode == 1, (args, data[:80], p.stdout, p.stderr)
        assert p.stdout == ""
        assert "not a valid request" in p.stderr and msg in p.stderr, (msg, p.stderr)
        assert "[HTTP 400" in p.stderr
    assert ups[0].api_requests() == [] and ups[1].api_requests() == []


def test_oversized_body_is_refused_as_the_gateway_refuses_it(g):
    big = json.dumps({"model": "llama3.2", "prompt": "x" * (70 * 1024)})
    st, _, resp = g.request("POST", "/api/generate", body=big)
    assert st == 413
    msg = gateway_error(resp)
    p = explain(g, ["--endpoint", "ollama-generate"], big)
    assert p.returncode == 1 and p.stdout == ""
    assert msg in p.stderr and "limits.max_body" in p.stderr and "[HTTP 413]" in p.stderr


def test_unknown_endpoints_are_usage_errors(g):
    for args in (["--endpoint", "anthropic"], ["--endpoint", "nope"],
                 ["--path", "/v1/nothing"], ["--path", "/v1/models"], ["--path", "/api/tags"],
                 ["--path", "/v1/responses/resp_1"], ["--path", "v1/messages"],
                 ["--endpoint", "messages", "--path", "/v1/messages"],
                 ["--path", "/v1beta/models/x:generateContent", "--model", "x"]):
        p = explain(g, args, "{}")
        assert p.returncode == 2, (args, p.stderr)
        assert p.stdout == "" and "usage:" in p.stderr


# ---- the gateway sends what the dry run says ----

AGREE = [
    ("/v1/messages", ["--endpoint", "messages"],
     {"model": "claude-3-5-haiku-latest", "max_tokens": 64, "system": f"Answer {EMAIL}.",
      "messages": [{"role": "user", "content": [{"type": "text", "text": f"From {EMAIL2}"}]}],
      "stop_sequences": ["END"], "temperature": 0.2, "metadata": {"user_id": "u-17"}}),
    ("/v1beta/models/gemini-2.0-flash:generateContent",
     ["--endpoint", "gemini", "--model", "gemini-2.0-flash"],
     {"systemInstruction": {"parts": [{"text": "You help."}]},
      "contents": [{"role": "user", "parts": [{"text": f"Mail {EMAIL}"}]}],
      "generationConfig": {"temperature": 0.3, "maxOutputTokens": 50}}),
    ("/api/chat", ["--endpoint", "ollama-chat"],
     {"model": "llama3.2", "stream": False, "options": {"temperature": 0.1},
      "messages": [{"role": "user", "content": f"Write to {EMAIL}"}]}),
    ("/v1/responses", ["--endpoint", "responses"],
     {"model": "assistant", "instructions": f"Reply as {EMAIL}.", "input": "Hello",
      "store": False, "max_output_tokens": 40}),
    # streams: the gateway asks each for its usage (stream_options.include_usage), and a
    # member name is transformed in place like a value
    ("/v1/chat/completions", ["--endpoint", "chat"],
     {"model": "assistant", "stream": True, "metadata": {EMAIL2: "vip", "order": "7"},
      "messages": [{"role": "user", "content": f"Write to {EMAIL}"}]}),
    ("/v1/messages", ["--endpoint", "messages"],
     {"model": "claude-3-5-haiku-latest", "max_tokens": 64, "stream": True,
      "messages": [{"role": "user", "content": f"From {EMAIL2}"}]}),
]


@pytest.mark.parametrize("path,args,body", AGREE, ids=["anthropic", "gemini", "ollama",
                                                        "responses", "chat-stream",
                                                        "anthropic-stream"])
def test_the_gateway_sends_the_body_explain_shows(g, ups, path, args, body):
    r = report(explain(g, args, body))
    assert r["decision"] == "send" and r["backend"] == "local"
    st, _, resp = g.request("POST", path, body=body)
    assert st == 200, resp
    cloud, local = ups
    assert cloud.api_requests() == []
    rq = local.api_requests()
    assert len(rq) == 1
    assert rq[0]["path"] == r["endpoint"]
    sent = json.loads(rq[0]["body"])
    assert EMAIL not in rq[0]["body"] and EMAIL2 not in rq[0]["body"]
    assert normalized(sent) == normalized(r["body"])
    if body.get("stream"):
        assert r["body"]["stream_options"] == {"include_usage": True}


def test_azure_deployment_path(g):
    """An Azure OpenAI path names the deployment: it is the model, as in the gateway."""
    r = report(explain(g, ["--path", "/openai/deployments/assistant/chat/completions"],
                       {"messages": [{"role": "user", "content": f"Hi, {EMAIL} here"}]}))
    assert r["translated_from"]["dialect"] == "azure" and r["model"] == "assistant"
    assert fields_of(r) == ["messages[0].content"] and EMAIL not in json.dumps(r["body"])


def test_member_names_that_clash_are_refused_as_the_gateway_refuses_them(g, ups):
    """Two card numbers as metadata keys are both masked "[CARD]": the gateway refuses the
    request (400 name_clash) rather than drop one, and explain says so."""
    body = {"model": "assistant", "messages": [{"role": "user", "content": "hi"}],
            "metadata": {"4111 1111 1111 1111": "a", "5555 5555 5555 4444": "b"}}
    p = explain(g, ["--endpoint", "chat"], body)
    assert p.returncode == 1 and p.stdout == ""
    assert "name_clash" in p.stderr and "HTTP 400" in p.stderr
    st, _, resp = g.request("POST", "/v1/chat/completions", body=body)
    assert st == 400 and json.loads(resp)["error"]["code"] == "name_clash"
    assert ups[0].api_requests() == [] and ups[1].api_requests() == []
