"""Other API dialects through the gateway: Anthropic Messages and Azure OpenAI requests are
translated into the one internal request, so redaction, policy, routing and audit run the
same way; answers (streamed too) and errors come back in the client's dialect. The fake
upstream records that it only ever gets OpenAI chat requests with surrogates."""

import json

import pytest

import sgtest

EMAIL = "anna.schmidt@example.de"


@pytest.fixture
def g(make_gateway, upstream):
    return make_gateway(
        backends=[{"name": "b1", "url": upstream.url}],
        routes=[{"model": "assistant", "aliases": ["claude-3-5-haiku-latest", "gpt-4o-mini"],
                 "backends": ["b1"]},
                {"model": "embed", "aliases": ["text-embedding-3-small"], "backends": ["b1"]}])


def anthropic(g, body, key=None, **kw):
    return g.request("POST", "/v1/messages", body=body, key=key,
                     headers={"anthropic-version": "2023-06-01"}, **kw)


def sse(body):
    out = []
    for block in body.decode().split("\n\n"):
        lines = block.split("\n")
        ev = [l[7:] for l in lines if l.startswith("event: ")]
        data = [l[6:] for l in lines if l.startswith("data: ")]
        if ev:
            out.append((ev[0], json.loads(data[0])))
    return out


def test_anthropic_messages(g, upstream):
    body = {"model": "claude-3-5-haiku-latest", "max_tokens": 64,
            "system": [{"type": "text", "text": "You help."}],
            "messages": [{"role": "user", "content": [{"type": "text",
                                                       "text": f"Mail me at {EMAIL}"}]}],
            "stop_sequences": ["END"], "temperature": 0.2, "top_k": 5,
            "metadata": {"user_id": "u-17"}}
    st, h, resp = anthropic(g, body)
    assert st == 200, resp
    m = json.loads(resp)
    assert m["type"] == "message" and m["role"] == "assistant"
    assert m["model"] == "claude-3-5-haiku-latest" and m["id"].startswith("msg_")
    assert m["content"] == [{"type": "text", "text": f"[up1] Mail me at {EMAIL}"}]
    assert m["stop_reason"] == "end_turn" and m["usage"]["output_tokens"] > 0
    sent = json.loads(upstream.api_requests()[0]["body"])
    assert upstream.api_requests()[0]["path"] == "/v1/chat/completions"
    assert sent["messages"][0] == {"role": "system", "content": "You help."}
    assert EMAIL not in json.dumps(sent) and "EMAIL_" in json.dumps(sent)
    assert sent["stop"] == ["END"] and sent["max_tokens"] == 64 and sent["top_k"] == 5
    assert sent["user"] == "u-17"


def test_anthropic_streaming(g):
    body = {"model": "claude-3-5-haiku-latest", "max_tokens": 64, "stream": True,
            "messages": [{"role": "user", "content": f"Mail me at {EMAIL} [[fake:split=3]]"}]}
    st, h, resp = anthropic(g, body)
    assert st == 200 and h["content-type"].startswith("text/event-stream")
    ev = sse(resp)
    types = [t for t, _ in ev]
    assert types[:3] == ["message_start", "ping", "content_block_start"]
    assert types[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    text = "".join(d["delta"]["text"] for t, d in ev if t == "content_block_delta")
    assert text == f"[up1] Mail me at {EMAIL}"
    assert ev[-2][1]["delta"]["stop_reason"] == "end_turn"
    assert "EMAIL_" not in resp.decode()


def test_anthropic_tools_round_trip(g, upstream):
    body = {"model": "claude-3-5-haiku-latest", "max_tokens": 64,
            "tools": [{"name": "lookup_order", "description": "Find an order",
                       "input_schema": {"type": "object",
                                        "properties": {"email": {"type": "string"}}}}],
            "tool_choice": {"type": "tool", "name": "lookup_order"},
            "messages": [
                {"role": "user", "content": "Where is my order?"},
                {"role": "assistant", "content": [
                    {"type": "tool_use", "id": "toolu_1", "name": "lookup_order",
                     "input": {"email": EMAIL}}]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_1",
                     "content": f"Order 1 for {EMAIL} shipped"},
                    {"type": "text", "text": "Thanks"}]}]}
    st, _, resp = anthropic(g, body)
    assert st == 200, resp
    sent = json.loads(upstream.api_requests()[0]["body"])
    assert sent["tools"][0]["function"]["name"] == "lookup_order"
    assert sent["tool_choice"] == {"type": "function", "function": {"name": "lookup_order"}}
    roles = [m["role"] for m in sent["messages"]]
    assert roles == ["user", "assistant", "tool", "user"]
    args = json.loads(sent["messages"][1]["tool_calls"][0]["function"]["arguments"])
    assert args["email"].startswith("EMAIL_")
    assert sent["messages"][2]["tool_call_id"] == "toolu_1"
    assert EMAIL not in json.dumps(sent)


@pytest.mark.parametrize("body,param", [
    ({"model": "claude-3-5-haiku-latest", "messages": [{"role": "user", "content": "x"}]},
     "max_tokens"),
    ({"model": "claude-3-5-haiku-latest", "max_tokens": 5, "messages": []}, "messages"),
    ({"model": 5, "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}, "model"),
    ({"model": "claude-3-5-haiku-latest", "max_tokens": 5,
      "messages": [{"role": "system", "content": "x"}]}, "role"),
    ({"model": "claude-3-5-haiku-latest", "max_tokens": 5,
      "messages": [{"role": "user", "content": [{"type": "video"}]}]}, "not supported"),
    ({"model": "claude-3-5-haiku-latest", "max_tokens": 5, "temperature": "hot",
      "messages": [{"role": "user", "content": "x"}]}, "temperature"),
    ({"model": "claude-3-5-haiku-latest", "max_tokens": 5, "stream": "yes",
      "messages": [{"role": "user", "content": "x"}]}, "stream"),
])
def test_anthropic_errors_in_its_shape(g, upstream, body, param):
    st, _, resp = anthropic(g, body)
    assert st == 400
    err = json.loads(resp)
    assert err["type"] == "error" and err["error"]["type"] == "invalid_request_error"
    assert param in err["error"]["message"]
    assert upstream.api_requests() == []


def test_anthropic_auth_and_model_errors(g):
    body = {"model": "claude-3-5-haiku-latest", "max_tokens": 5,
            "messages": [{"role": "user", "content": "x"}]}
    st, _, resp = anthropic(g, body, key="sk-ant-wrong")
    assert st == 401 and json.loads(resp)["error"]["type"] == "authentication_error"
    st, _, resp = g.request("POST", "/v1/messages", body=body, key="",
                            headers={"x-api-key": g.key})
    assert st == 200
    body["model"] = "claude-opus-nope"
    st, _, resp = anthropic(g, body)
    assert st == 404 and json.loads(resp)["error"]["type"] == "not_found_error"
    assert sgtest.sse_events is not None


def test_azure_deployments(g, upstream):
    path = "/openai/deployments/gpt-4o-mini/chat/completions?api-version=2024-10-21"
    st, _, resp = g.request("POST", path, key="", headers={"api-key": g.key},
                            body={"messages": [{"role": "user", "content": f"to {EMAIL}"}]})
    assert st == 200, resp
    assert json.loads(resp)["choices"][0]["message"]["content"] == f"[up1] to {EMAIL}"
    sent = json.loads(upstream.api_requests()[0]["body"])
    assert upstream.api_requests()[0]["path"] == "/v1/chat/completions"
    assert sent["model"] == "assistant" and EMAIL not in json.dumps(sent)
    st, _, resp = g.request("POST", "/openai/deployments/text-embedding-3-small/embeddings",
                            body={"input": "hello"})
    assert st == 200 and json.loads(resp)["data"][0]["embedding"]
    st, _, resp = g.request("POST", "/openai/deployments/nope/chat/completions",
                            body={"messages": [{"role": "user", "content": "x"}]})
    assert st == 404
    st, _, _ = g.request("POST", "/openai/deployments//chat/completions",
                         body={"messages": [{"role": "user", "content": "x"}]})
    assert st == 404
    st, _, _ = g.request("POST", "/openai/deployments/x/images/generations", body={})
    assert st == 404


@pytest.mark.parametrize("path,headers,body", [
    ("/v1/messages", {"anthropic-version": "2023-06-01"},
     {"model": "claude-3-5-haiku-latest", "max_tokens": 5,
      "messages": [{"role": "user", "content": [{"type": "\u20ac" * 20}]}]}),
    ("/v1/responses", {}, {"model": "assistant", "input": [{"type": "\u20ac" * 20}]}),
    ("/v1/responses", {}, {"model": "assistant", "input": "x",
                           "tools": [{"type": "\u00e4" + "\u20ac" * 20}]}),
    ("/v1beta/models/assistant:generateContent", {},
     {"contents": [{"parts": [{"\u20ac" * 20: 1}]}]}),
    ("/v1beta/models/assistant:generateContent", {},
     {"contents": [{"parts": [{"text": "x"}]}],
      "generationConfig": {"responseMimeType": "\u20ac" * 20}}),
])
def test_errors_naming_a_cut_value_stay_valid_utf8(g, upstream, path, headers, body):
    # A message names a (cut) client value; a cut through a UTF-8 character must not make
    # the error body unreadable (empty, or JSON that is not UTF-8).
    st, _, resp = g.request("POST", path, body=body, headers=headers)
    assert st == 400
    err = json.loads(resp.decode("utf-8"))
    assert err
    assert upstream.api_requests() == []
