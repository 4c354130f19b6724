"""The OpenAI Responses dialect (POST /v1/responses, GET/DELETE /v1/responses/{id}) through
the gateway: requests are translated into the one internal chat request, so redaction,
policy, routing and audit run as for every other request; answers (streamed too) come back
as Response objects and typed events. Conversation state for previous_response_id is kept
only as it went to the backend (surrogates), encrypted at rest, with a time to live; the
fake upstream records that personal data never reaches it."""

import json
import os
import sqlite3
import time

import pytest

import sgtest

EMAIL = "anna.schmidt@example.de"
NAME = "Anna Schmidt"
KEY_A = "a1" * 32  # test fixture: 64 hex digits, a throwaway store key
KEY_B = "b2" * 32


def routes():
    return [{"model": "assistant", "aliases": ["gpt-4o-mini", "gpt-5-mini"],
             "backends": ["b1"]}]


@pytest.fixture
def store(workdir):
    """A configured store: the SQLite path and the key file (fixture keys, not secrets)."""
    key = os.path.join(workdir, "responses.key")
    with open(key, "w") as f:
        f.write(KEY_A + "\n")
    return {"store": os.path.join(workdir, "responses.db"), "key": "file:" + key}


@pytest.fixture
def g(make_gateway, upstream, store):
    return make_gateway(backends=[{"name": "b1", "url": upstream.url}], routes=routes(),
                        clients={"shop": None, "other": None},
                        extra={"responses": store})


def create(g, body, key=None):
    st, h, resp = g.request("POST", "/v1/responses", body=body, key=key)
    try:
        return st, h, json.loads(resp)
    except ValueError:
        return st, h, resp


def sse(raw):
    out = []
    for block in raw.decode().split("\n\n"):
        lines = block.split("\n")
        ev = [l[7:] for l in lines if l.startswith("event: ")]
        data = [l[6:] for l in lines if l.startswith("data: ")]
        if ev:
            out.append((ev[0], json.loads(data[0])))
    return out


def output_text(resp):
    return "".join(p["text"] for it in resp["output"] if it["type"] == "message"
                   for p in it["content"] if p["type"] == "output_text")


def hexed(text):
    """A prompt the fake upstream answers with `text` itself (its unhex directive)."""
    return "[[fake:unhex=1]] " + text.encode().hex()


def test_create_non_streaming(g, upstream):
    st, h, r = create(g, {"model": "gpt-5-mini", "instructions": "Be brief.",
                          "input": f"Write to {NAME} at {EMAIL}", "temperature": 0.3,
                          "max_output_tokens": 50, "metadata": {"order": "17"}})
    assert st == 200, r
    assert r["object"] == "response" and r["id"].startswith("resp_")
    assert r["status"] == "completed" and r["model"] == "gpt-5-mini"
    assert output_text(r) == f"[up1] Write to {NAME} at {EMAIL}"
    assert r["output"][0]["type"] == "message" and r["output"][0]["role"] == "assistant"
    assert r["usage"]["input_tokens"] > 0 and r["usage"]["output_tokens"] > 0
    assert r["usage"]["total_tokens"] == r["usage"]["input_tokens"] + r["usage"]["output_tokens"]
    assert r["instructions"] == "Be brief." and r["metadata"] == {"order": "17"}
    assert r["temperature"] == 0.3 and r["max_output_tokens"] == 50 and r["store"] is True
    req = upstream.api_requests()[0]
    assert req["path"] == "/v1/chat/completions"
    sent = json.loads(req["body"])
    assert sent["messages"][0] == {"role": "system", "content": "Be brief."}
    assert sent["model"] == "assistant" and sent["max_tokens"] == 50
    assert EMAIL not in req["body"] and NAME not in req["body"]
    assert "EMAIL_" in req["body"] and "PERSON_" in req["body"]


def test_create_streaming(g, upstream):
    st, h, raw = g.request("POST", "/v1/responses", body={
        "model": "assistant", "stream": True,
        "input": [{"role": "user", "content": [
            {"type": "input_text", "text": f"Mail {EMAIL} now [[fake:split=3]]"}]}]})
    assert st == 200 and h["content-type"].startswith("text/event-stream")
    ev = sse(raw)
    types = [t for t, _ in ev]
    assert types[:5] == ["response.created", "response.in_progress",
                         "response.output_item.added", "response.content_part.added",
                         "response.output_text.delta"]
    assert types[-4:] == ["response.output_text.done", "response.content_part.done",
                          "response.output_item.done", "response.completed"]
    assert [d["sequence_number"] for _, d in ev] == list(range(len(ev)))
    assert all(d["type"] == t for t, d in ev)
    text = "".join(d["delta"] for t, d in ev if t == "response.output_text.delta")
    assert text == f"[up1] Mail {EMAIL} now"
    done = ev[-1][1]["response"]
    assert done["status"] == "completed" and output_text(done) == text
    assert done["usage"]["output_tokens"] > 0
    assert ev[-4][1]["text"] == text
    assert "EMAIL_" not in raw.decode()
    assert EMAIL not in upstream.api_requests()[0]["body"]


def test_items_tools_and_format_translated(g, upstream):
    schema = {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}
    body = {"model": "assistant",
            "input": [
                {"type": "message", "role": "developer", "content": "Use tools."},
                {"role": "user", "content": [{"type": "input_text", "text": "Where is my order?"}]},
                {"type": "function_call", "call_id": "call_1", "name": "lookup_order",
                 "arguments": json.dumps({"email": EMAIL})},
                {"type": "function_call_output", "call_id": "call_1",
                 "output": f"Order 1 for {EMAIL} shipped"},
                {"type": "reasoning", "id": "rs_1", "summary": []},
                {"role": "assistant", "content": [{"type": "output_text", "text": "Shipped."}]},
                {"role": "user", "content": "Thanks"}],
            "tools": [{"type": "function", "name": "lookup_order", "description": "Find",
                       "parameters": {"type": "object",
                                      "properties": {"email": {"type": "string"}}},
                       "strict": True}],
            "tool_choice": {"type": "function", "name": "lookup_order"},
            "parallel_tool_calls": False,
            "text": {"format": {"type": "json_schema", "name": "answer", "schema": schema,
                                "strict": True}}}
    st, _, r = create(g, body)
    assert st == 200, r
    assert r["tools"][0]["name"] == "lookup_order" and r["text"]["format"]["name"] == "answer"
    sent = json.loads(upstream.api_requests()[0]["body"])
    assert [m["role"] for m in sent["messages"]] == ["system", "user", "assistant", "tool",
                                                     "assistant", "user"]
    call = sent["messages"][2]["tool_calls"][0]
    assert call["id"] == "call_1" and call["function"]["name"] == "lookup_order"
    assert json.loads(call["function"]["arguments"])["email"].startswith("EMAIL_")
    assert sent["messages"][3]["tool_call_id"] == "call_1"
    assert sent["tools"] == [{"type": "function", "function": {
        "name": "lookup_order", "parameters": body["tools"][0]["parameters"],
        "description": "Find", "strict": True}}]
    assert sent["tool_choice"] == {"type": "function", "function": {"name": "lookup_order"}}
    assert sent["response_format"] == {"type": "json_schema", "json_schema": {
        "name": "answer", "schema": schema, "strict": True}}
    assert sent["parallel_tool_calls"] is False
    assert EMAIL not in json.dumps(sent)
    st, _, r = create(g, {"model": "assistant", "input": "x",
                          "text": {"format": {"type": "json_object"}}})
    assert st == 200
    assert json.loads(upstream.api_requests()[1]["body"])["response_format"] == {
        "type": "json_object"}


def test_json_answer_is_restored_as_json_text_also_when_fetched(g, upstream, store):
    """An answer asked for as JSON (text.format) gets restored values escaped for the inside
    of a JSON string, when it is answered and when the stored response is fetched again: an
    address over two lines must not put a raw line break into the client's JSON."""
    address = "Hauptstra\u00dfe 5\n10115 Berlin"
    st, _, r = create(g, {"model": "assistant", "input": f"Ship to:\n{NAME}\n{address}\nThanks",
                          "text": {"format": {"type": "json_object"}}})
    assert st == 200, r
    want = "Hauptstra\u00dfe 5\\n10115 Berlin"
    assert want in output_text(r) and NAME in output_text(r), output_text(r)
    assert "10115 Berlin" not in upstream.api_requests()[0]["body"]
    st, _, got = g.request("GET", f"/v1/responses/{r['id']}")
    assert st == 200, got
    assert output_text(json.loads(got)) == output_text(r)


def test_field_value_from_json_text_is_restored_escaped_once_also_when_fetched(g, upstream):
    """A field value read inside JSON text keeps how it was found in the stored conversation:
    fetched again, the JSON answer still has it escaped once, not twice."""
    note = 'Leave at "Gate 4"'
    text = json.dumps({"customer_note": note})
    st, _, r = create(g, {"model": "assistant", "input": text,
                          "text": {"format": {"type": "json_object"}}})
    assert st == 200, r
    assert "Gate 4" not in upstream.api_requests()[0]["body"]
    assert json.loads(output_text(r)[len("[up1] "):]) == {"customer_note": note}
    st, _, got = g.request("GET", f"/v1/responses/{r['id']}")
    assert st == 200, got
    assert output_text(json.loads(got)) == output_text(r)


def test_previous_response_id_continues_with_restored_names(g, upstream, store):
    st, _, r1 = create(g, {"model": "assistant", "instructions": "Turn one rules.",
                           "input": f"My name is {NAME}, mail {EMAIL}"})
    assert st == 200, r1
    sent1 = upstream.api_requests()[0]["body"]
    surrogate = next(w.strip(",.") for w in json.loads(sent1)["messages"][1]["content"].split()
                     if w.startswith("EMAIL_"))
    # The second turn names nobody; the model answers with the first turn's surrogate.
    st, _, r2 = create(g, {"model": "assistant", "previous_response_id": r1["id"],
                           "input": hexed(f"I will write to {surrogate} today")})
    assert st == 200, r2
    assert output_text(r2) == f"[up1] I will write to {EMAIL} today"
    assert r2["previous_response_id"] == r1["id"]
    sent2 = json.loads(upstream.api_requests()[1]["body"])
    roles = [m["role"] for m in sent2["messages"]]
    assert roles == ["user", "assistant", "user"]  # instructions are not carried over
    assert surrogate in json.dumps(sent2["messages"][:2])
    assert EMAIL not in json.dumps(sent2) and NAME not in json.dumps(sent2)
    # a third turn, streamed, through the second
    st, _, raw = g.request("POST", "/v1/responses", body={
        "model": "assistant", "previous_response_id": r2["id"], "stream": True,
        "input": hexed(f"Again: {surrogate}")})
    assert st == 200
    ev = sse(raw)
    assert output_text(ev[-1][1]["response"]) == f"[up1] Again: {EMAIL}"
    sent3 = json.loads(upstream.api_requests()[2]["body"])
    assert len(sent3["messages"]) == 5 and EMAIL not in json.dumps(sent3)
    # GET gives the stored response back restored, to its client only
    st, _, got = g.request("GET", f"/v1/responses/{r2['id']}")
    assert st == 200, got
    got = json.loads(got)
    assert got["id"] == r2["id"] and output_text(got) == f"[up1] I will write to {EMAIL} today"
    st, _, err = g.request("GET", f"/v1/responses/{r2['id']}", key=g.keys["other"])
    assert st == 404 and json.loads(err)["error"]["type"] == "invalid_request_error"
    st, _, err = create(g, {"model": "assistant", "previous_response_id": r2["id"],
                            "input": "x"}, key=g.keys["other"])
    assert st == 400 and err["error"]["param"] == "previous_response_id"
    assert "not found" in err["error"]["message"]
    # the store file holds neither the personal data nor the pseudonymized text in clear
    g.stop()
    for suffix in ("", "-wal", "-shm"):
        p = store["store"] + suffix
        if os.path.exists(p):
            data = open(p, "rb").read()
            for needle in (EMAIL, NAME, "anna", "Schmidt", surrogate, "EMAIL_", "PERSON_",
                           "write to", "Turn one", "[up1]"):
                assert needle.encode() not in data, (p, needle)
    db = sqlite3.connect(store["store"])
    assert db.execute("SELECT count(*) FROM responses").fetchone()[0] == 3
    db.close()


def test_delete_and_store_false(g):
    st, _, r = create(g, {"model": "assistant", "input": "keep me"})
    st, _, d = g.request("DELETE", f"/v1/responses/{r['id']}")
    assert st == 200 and json.loads(d) == {"id": r["id"], "object": "response.deleted",
                                           "deleted": True}
    st, _, _ = g.request("GET", f"/v1/responses/{r['id']}")
    assert st == 404
    st, _, _ = g.request("DELETE", f"/v1/responses/{r['id']}")
    assert st == 404
    st, _, r = create(g, {"model": "assistant", "input": "forget me", "store": False})
    assert st == 200 and r["store"] is False
    st, _, _ = g.request("GET", f"/v1/responses/{r['id']}")
    assert st == 404
    st, _, err = create(g, {"model": "assistant", "input": "x", "previous_response_id": r["id"]})
    assert st == 400 and err["error"]["code"] == "previous_response_not_found"
    st, _, _ = g.request("PUT", f"/v1/responses/{r['id']}", body={})
    assert st == 405


@pytest.mark.parametrize("stream", [False, True])
def test_stored_response_keeps_the_output_scan(g, stream):
    # The model says a card number the request did not carry: the answer masks it, and
    # so must the stored response that GET returns (and the history a later turn sends).
    said = "Use card 4111 1111 1111 1111 now."
    st, _, raw = g.request("POST", "/v1/responses", body={
        "model": "assistant", "stream": stream, "input": hexed(said)})
    assert st == 200
    r = sse(raw)[-1][1]["response"] if stream else json.loads(raw)
    assert output_text(r) == "[up1] Use card [CARD] now."
    st, _, got = g.request("GET", f"/v1/responses/{r['id']}")
    assert st == 200
    assert output_text(json.loads(got)) == "[up1] Use card [CARD] now."
    assert b"4111" not in got


def test_ttl_expiry(make_gateway, upstream, store):
    store["ttl"] = "1s"
    g = make_gateway(backends=[{"name": "b1", "url": upstream.url}], routes=routes(),
                     extra={"responses": store})
    st, _, r = create(g, {"model": "assistant", "input": f"hi {EMAIL}"})
    assert st == 200
    st, _, _ = g.request("GET", f"/v1/responses/{r['id']}")
    assert st == 200
    time.sleep(2.1)
    st, _, _ = g.request("GET", f"/v1/responses/{r['id']}")
    assert st == 404
    st, _, err = create(g, {"model": "assistant", "input": "x", "previous_response_id": r["id"]})
    assert st == 400 and err["error"]["message"] == (
        f"Previous response with id '{r['id']}' not found.")
    # expired records are pruned (at start and on writes)
    g.stop()
    g.start()
    db = sqlite3.connect(store["store"])
    assert db.execute("SELECT count(*) FROM responses").fetchone()[0] == 0
    db.close()


def test_wrong_key_is_a_clear_error(make_gateway, upstream, store, workdir):
    g = make_gateway(backends=[{"name": "b1", "url": upstream.url}], routes=routes(),
                     extra={"responses": store})
    st, _, _ = create(g, {"model": "assistant", "input": "x"})
    assert st == 200
    g.stop()
    with open(store["key"][5:], "w") as f:
        f.write(KEY_B)
    with pytest.raises(AssertionError) as e:
        g.start()
    assert "responses.key does not open the responses store" in str(e.value)
    with open(store["key"][5:], "w") as f:
        f.write("short")
    p = sgtest.run(["check-config", "--config", g.path])
    assert p.returncode != 0 and "responses.key" in p.stderr + p.stdout
    g.proc = None


def test_in_memory_store_by_default(make_gateway, upstream):
    g = make_gateway(backends=[{"name": "b1", "url": upstream.url}], routes=routes())
    st, _, r1 = create(g, {"model": "assistant", "input": f"I am {NAME}"})
    st, _, r2 = create(g, {"model": "assistant", "previous_response_id": r1["id"],
                           "input": "and then?"})
    assert st == 200
    assert len(json.loads(upstream.api_requests()[1]["body"])["messages"]) == 3
    assert NAME not in upstream.api_requests()[1]["body"]


@pytest.mark.parametrize("body,param", [
    ({"input": "x"}, "model"),
    ({"model": "assistant"}, "input"),
    ({"model": 5, "input": "x"}, "model"),
    ({"model": "assistant", "input": 5}, "input"),
    ({"model": "assistant", "input": [5]}, "input[0]"),
    ({"model": "assistant", "input": [{"role": "robot", "content": "x"}]}, "input[0].role"),
    ({"model": "assistant", "input": [{"role": "user", "content": 7}]}, "input[0].content"),
    ({"model": "assistant", "input": [{"role": "user", "content": [{"type": "input_file",
                                                                     "file_id": "f"}]}]},
     "input[0].content[0]"),
    ({"model": "assistant", "input": [{"type": "item_reference", "id": "x"}]}, "input[0]"),
    ({"model": "assistant", "input": [{"type": "function_call", "call_id": "c"}]}, "input[0]"),
    ({"model": "assistant", "input": "x", "tools": [{"type": "web_search"}]}, "tools[0]"),
    ({"model": "assistant", "input": "x", "tools": [{"type": "file_search"}]}, "tools[0]"),
    ({"model": "assistant", "input": "x", "tools": [{"type": "code_interpreter"}]}, "tools[0]"),
    ({"model": "assistant", "input": "x", "tools": {}}, "tools"),
    ({"model": "assistant", "input": "x", "tool_choice": "sometimes"}, "tool_choice"),
    ({"model": "assistant", "input": "x", "tool_choice": {"type": "web_search"}},
     "tool_choice"),
    ({"model": "assistant", "input": "x", "text": {"format": {"type": "yaml"}}},
     "text.format.type"),
    ({"model": "assistant", "input": "x", "text": {"format": {"type": "json_schema"}}},
     "text.format"),
    ({"model": "assistant", "input": "x", "temperature": "hot"}, "temperature"),
    ({"model": "assistant", "input": "x", "max_output_tokens": 1.5}, "max_output_tokens"),
    ({"model": "assistant", "input": "x", "max_output_tokens": 0}, "max_output_tokens"),
    ({"model": "assistant", "input": "x", "stream": "yes"}, "stream"),
    ({"model": "assistant", "input": "x", "store": 1}, "store"),
    ({"model": "assistant", "input": "x", "metadata": {"k": 5}}, "metadata"),
    ({"model": "assistant", "input": "x", "metadata": {str(i): "v" for i in range(17)}},
     "metadata"),
    ({"model": "assistant", "input": "x", "previous_response_id": 5}, "previous_response_id"),
    ({"model": "assistant", "input": "x", "previous_response_id": "resp_nope"},
     "previous_response_id"),
    ({"model": "assistant", "input": "x", "previous_response_id": "x" * 5000},
     "previous_response_id"),
    ({"model": "assistant", "input": "x", "previous_response_id": "' OR 1=1 --"},
     "previous_response_id"),
    ({"model": "assistant", "input": "x", "background": True}, "background"),
    ({"model": "assistant", "input": "x", "conversation": "conv_1"}, "conversation"),
])
def test_bad_requests_in_openai_shape(g, upstream, body, param):
    st, _, err = create(g, body)
    assert st == 400, err
    assert set(err) == {"error"} and set(err["error"]) == {"message", "type", "param", "code"}
    assert err["error"]["type"] == "invalid_request_error"
    assert err["error"]["param"] == param, err
    assert upstream.api_requests() == []


def test_hostile_bodies_keep_the_daemon_up(make_gateway, upstream, store):
    g = make_gateway(backends=[{"name": "b1", "url": upstream.url}], routes=routes(),
                     extra={"responses": store, "limits": {"max_body": "64KiB"}})
    bad = [b"", b"{", b"[]", b"null", b'{"model":"assistant","input":"x"} trailing',
           b'{"model":"assistant","model":"assistant","input":"x"}',
           b'{"model":"assistant","input":"\xff\xfe"}',
           b'{"model":"assistant","input":' + b"[" * 3000 + b"]" * 3000 + b"}",
           json.dumps({"model": "assistant", "input": [{"role": "user", "content": [
               {"type": "input_text", "text": None}]}]}).encode(),
           json.dumps({"model": "assistant", "input": [{"type": None}]}).encode()]
    for b in bad:
        st, _, resp = g.request("POST", "/v1/responses", body=b)
        assert st == 400, (b[:60], resp)
        assert json.loads(resp)["error"]["type"] == "invalid_request_error"
    st, _, resp = g.request("POST", "/v1/responses",
                            body={"model": "assistant", "input": "x" * 70000})
    assert st == 413 and set(json.loads(resp)["error"]) == {"message", "type", "param", "code"}
    many = {"model": "assistant", "input": [{"role": "user", "content": "a"}] * 1000}
    st, _, _ = g.request("POST", "/v1/responses", body=many)
    assert st == 200
    for path, want in (("/v1/responses/", 405), ("/v1/responses/a/b", 404),
                       ("/v1/responses/" + "x" * 300, 404), ("/v1/responses/%00", 404)):
        st, _, _ = g.request("GET", path)
        assert st == want, path
    st, _, _ = g.request("GET", "/v1/responses/resp_x", key="wrong")
    assert st == 401
    st, _, body = g.request("GET", "/healthz", key="")
    assert st == 200 and g.proc.poll() is None


def test_failed_stream_ends_with_failed_event(g):
    st, _, raw = g.request("POST", "/v1/responses", body={
        "model": "assistant", "stream": True, "input": "a b c d [[fake:disconnect_after=3]]"})
    assert st == 200
    ev = sse(raw)
    assert [t for t, _ in ev][-2:] == ["error", "response.failed"]
    assert ev[-1][1]["response"]["status"] == "failed"


def test_audited_once_per_request(make_gateway, upstream, store, workdir):
    audit = os.path.join(workdir, "audit.db")
    g = make_gateway(backends=[{"name": "b1", "url": upstream.url}], routes=routes(),
                     extra={"responses": store, "audit": {"path": audit}})
    st, _, r = create(g, {"model": "assistant", "input": f"mail {EMAIL}"})
    assert st == 200
    g.stop()
    db = sqlite3.connect(audit)
    rows = [json.loads(c) for (c,) in db.execute("SELECT content FROM records")]
    db.close()
    reqs = [x for x in rows if x.get("type") == "request"]
    assert len(reqs) == 1 and reqs[0]["endpoint"] == "/v1/responses"
    assert reqs[0]["entities"]["EMAIL"] == {"pseudonymize": 1}
    assert EMAIL not in json.dumps(rows)


class ToolUpstream:
    """A minimal OpenAI-compatible backend (a test double next to the fake upstream, which never
    makes tool calls): every chat request whose last message is not a tool result is answered
    with one call of lookup_order whose arguments carry the first EMAIL_ surrogate of the
    request; a tool result is answered with text naming that surrogate. Streams split the
    arguments over two deltas. Records every request body."""

    def __init__(self):
        import http.server
        import re
        import threading
        bodies = self.bodies = []

        class H(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                self._send(200, "application/json", b'{"object":"list","data":[]}')

            def _send(self, st, ct, data):
                self.send_response(st)
                self.send_header("Content-Type", ct)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                bodies.append(body)
                last = body["messages"][-1]
                m = re.search(r"EMAIL_[0-9A-Z]{6}", json.dumps(body["messages"]))
                sur = m.group(0) if m else "nobody"
                usage = {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}
                if last["role"] == "tool":
                    msg = {"role": "assistant", "content": f"Shipped to {sur}."}
                    finish = "stop"
                else:
                    msg = {"role": "assistant", "content": None, "tool_calls": [{
                        "id": "call_7", "type": "function", "function": {
                            "name": "lookup_order", "arguments": json.dumps({"email": sur})}}]}
                    finish = "tool_calls"
                if not body.get("stream"):
                    self._send(200, "application/json", json.dumps({
                        "id": "c1", "object": "chat.completion", "created": 1,
                        "model": body["model"], "usage": usage,
                        "choices": [{"index": 0, "message": msg,
                                     "finish_reason": finish}]}).encode())
                    return
                deltas = [{"role": "assistant", "content": ""}]
                if msg.get("tool_calls"):
                    args = msg["tool_calls"][0]["function"]["arguments"]
                    deltas += [{"tool_calls": [{"index": 0, "id": "call_7", "type": "function",
                                                "function": {"name": "lookup_order",
                                                             "arguments": args[:7]}}]},
                               {"tool_calls": [{"index": 0,
                                                "function": {"arguments": args[7:]}}]}]
                else:
                    deltas.append({"content": msg["content"]})
                out = b""
                for i, d in enumerate(deltas + [{}]):
                    ch = {"id": "c1", "object": "chat.completion.chunk", "created": 1,
                          "model": body["model"],
                          "choices": [{"index": 0, "delta": d,
                                       "finish_reason": finish if i == len(deltas) else None}]}
                    out += b"data: " + json.dumps(ch).encode() + b"\n\n"
                out += b"data: " + json.dumps({"id": "c1", "object": "chat.completion.chunk",
                                               "created": 1, "model": body["model"],
                                               "choices": [], "usage": usage}).encode()
                out += b"\n\ndata: [DONE]\n\n"
                self._send(200, "text/event-stream", out)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.parametrize("stream", [False, True])
def test_tool_calls_round_trip(make_gateway, store, stream):
    up = ToolUpstream()
    try:
        g = make_gateway(backends=[{"name": "b1", "url": up.url}], routes=routes(),
                         extra={"responses": store})
        tools = [{"type": "function", "name": "lookup_order",
                  "parameters": {"type": "object",
                                 "properties": {"email": {"type": "string"}}}}]
        st, _, r1 = create(g, {"model": "assistant", "tools": tools, "stream": stream,
                               "input": f"Where is the order of {EMAIL}?"})
        assert st == 200
        if stream:
            ev = sse(r1)
            types = [t for t, _ in ev]
            assert types.count("response.function_call_arguments.delta") >= 1
            args = "".join(d["delta"] for t, d in ev
                           if t == "response.function_call_arguments.delta")
            assert json.loads(args) == {"email": EMAIL}
            done = [d for t, d in ev if t == "response.function_call_arguments.done"][0]
            assert json.loads(done["arguments"]) == {"email": EMAIL}
            r1 = ev[-1][1]["response"]
            assert ev[-1][0] == "response.completed"
        call = r1["output"][-1]
        assert call["type"] == "function_call" and call["call_id"] == "call_7"
        assert call["name"] == "lookup_order"
        assert json.loads(call["arguments"]) == {"email": EMAIL}  # restored for the client
        assert EMAIL not in json.dumps(up.bodies[0])
        # the tool result continues the stored conversation
        st, _, r2 = create(g, {"model": "assistant", "previous_response_id": r1["id"],
                               "tools": tools, "input": [{
                                   "type": "function_call_output", "call_id": "call_7",
                                   "output": f"Order 1 for {EMAIL}: shipped"}]})
        assert st == 200, r2
        assert output_text(r2) == f"Shipped to {EMAIL}."
        sent = up.bodies[1]["messages"]
        assert [m["role"] for m in sent] == ["user", "assistant", "tool"]
        assert sent[1]["tool_calls"][0]["id"] == "call_7"
        assert json.loads(sent[1]["tool_calls"][0]["function"]["arguments"])[
            "email"].startswith("EMAIL_")
        assert sent[2]["tool_call_id"] == "call_7"
        assert EMAIL not in json.dumps(up.bodies[1])
    finally:
        up.stop()


def test_conversation_too_long_is_a_clear_400(make_gateway, upstream, store):
    g = make_gateway(backends=[{"name": "b1", "url": upstream.url}], routes=routes(),
                     extra={"responses": store, "limits": {"max_body": "64KiB"}})
    text = "a " * 20000  # 40 KB, echoed back by the fake upstream
    st, _, r1 = create(g, {"model": "assistant", "input": text})
    assert st == 200
    st, _, r2 = create(g, {"model": "assistant", "input": text, "previous_response_id": r1["id"]})
    assert st == 200, r2
    st, _, err = create(g, {"model": "assistant", "input": text,
                            "previous_response_id": r2["id"]})
    assert st == 400 and err["error"]["code"] == "conversation_too_large"
    assert err["error"]["param"] == "previous_response_id"
    assert len(upstream.api_requests()) == 2
