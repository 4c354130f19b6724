"""Gemini and Ollama through the gateway, and the endpoints nobody serves. Gemini
generateContent / streamGenerateContent / embedContent and Ollama /api/chat, /api/generate,
/api/embed are translated into the one internal OpenAI request, so redaction, policy,
routing and audit run the same way; answers (streamed too) and errors come back in the
client's own shape. The fake upstream records that it only ever gets OpenAI requests with
surrogates. Tool-call answers come from a second, tiny backend defined here (the fake
upstream only echoes text): it answers every chat request with a call whose arguments
carry the last message's text, so the restore of tool arguments is visible."""

import http.server
import json
import os
import socketserver
import threading

import pytest

import sgtest

EMAIL = "anna.schmidt@example.de"
PHONE = "+49 30 1234567"


@pytest.fixture
def g(make_gateway, upstream, workdir):
    key = os.path.join(workdir, "audit.key")
    assert sgtest.run(["audit", "keygen", "--out", key]).returncode == 0
    gw = make_gateway(
        backends=[{"name": "b1", "url": upstream.url}],
        routes=[{"model": "assistant", "aliases": ["gemini-2.0-flash", "llama3.2"],
                 "backends": ["b1"]},
                {"model": "embed", "aliases": ["text-embedding-004", "nomic-embed-text"],
                 "backends": ["b1"]}],
        extra={"audit": {"path": os.path.join(workdir, "audit.db"),
                         "signing_key": f"file:{key}"}})
    gw.audit_db = os.path.join(workdir, "audit.db")
    return gw


def gemini(g, model, method, body, key=None, query="", headers=None):
    h = {"x-goog-api-key": g.key if key is None else key}
    h.update(headers or {})
    return g.request("POST", f"/v1beta/models/{model}:{method}{query}", body=body, key="",
                     headers=h)


def sse_data(body):
    return [json.loads(b[6:]) for b in body.decode().split("\n\n") if b.startswith("data: ")]


def ndjson(body):
    return [json.loads(l) for l in body.decode().split("\n") if l.strip()]


def sent_bodies(upstream):
    return [json.loads(r["body"]) for r in upstream.api_requests()]


# ---- Gemini ----

def test_gemini_generate_content(g, upstream):
    body = {"systemInstruction": {"parts": [{"text": "You help the shop."}]},
            "contents": [{"role": "user", "parts": [{"text": f"Mail {EMAIL} please"}]}],
            "generationConfig": {"temperature": 0.3, "topP": 0.9, "topK": 7,
                                 "maxOutputTokens": 50, "stopSequences": ["END"], "seed": 4}}
    st, h, resp = gemini(g, "gemini-2.0-flash", "generateContent", body)
    assert st == 200, resp
    r = json.loads(resp)
    cand = r["candidates"][0]
    assert cand["content"]["role"] == "model"
    assert cand["content"]["parts"] == [{"text": f"[up1] Mail {EMAIL} please"}]
    assert cand["finishReason"] == "STOP"
    u = r["usageMetadata"]
    assert u["candidatesTokenCount"] > 0 and u["totalTokenCount"] == \
        u["promptTokenCount"] + u["candidatesTokenCount"]
    assert r["modelVersion"] == "gemini-2.0-flash"
    rq = upstream.api_requests()[0]
    assert rq["path"] == "/v1/chat/completions"
    sent = json.loads(rq["body"])
    assert sent["messages"][0] == {"role": "system", "content": "You help the shop."}
    assert EMAIL not in rq["body"] and "EMAIL_" in rq["body"]
    assert sent["model"] == "assistant"
    assert (sent["temperature"], sent["top_p"], sent["top_k"], sent["max_tokens"],
            sent["stop"], sent["seed"]) == (0.3, 0.9, 7, 50, ["END"], 4)
    assert "stream" not in sent


@pytest.mark.parametrize("query,framing", [("?alt=sse", "sse"), ("", "array")])
def test_gemini_stream(g, upstream, query, framing):
    body = {"contents": [{"parts": [{"text": f"Mail me at {EMAIL} [[fake:split=3]]"}]}]}
    st, h, resp = gemini(g, "gemini-2.0-flash", "streamGenerateContent", body, query=query)
    assert st == 200, resp
    if framing == "sse":
        assert h["content-type"].startswith("text/event-stream")
        chunks = sse_data(resp)
    else:
        assert h["content-type"].startswith("application/json")
        chunks = json.loads(resp)
    assert len(chunks) >= 3
    text = "".join(p.get("text", "") for c in chunks
                   for p in c["candidates"][0]["content"]["parts"])
    assert text == f"[up1] Mail me at {EMAIL}"
    assert "EMAIL_" not in resp.decode()
    assert chunks[-1]["candidates"][0]["finishReason"] == "STOP"
    assert chunks[-1]["usageMetadata"]["candidatesTokenCount"] > 0
    assert all("finishReason" not in c["candidates"][0] for c in chunks[:-1])
    sent = sent_bodies(upstream)[0]
    assert sent["stream"] is True and EMAIL not in json.dumps(sent)


def test_gemini_key_in_query_and_json_schema(g, upstream):
    body = {"contents": [{"role": "user", "parts": [{"text": "Give JSON"}]}],
            "generationConfig": {"responseMimeType": "application/json",
                                 "responseSchema": {"type": "OBJECT", "properties": {
                                     "name": {"type": "STRING", "nullable": True},
                                     "tags": {"type": "ARRAY", "items": {"type": "STRING"}}},
                                     "required": ["name"], "propertyOrdering": ["name"]}}}
    st, _, resp = g.request("POST", f"/v1beta/models/gemini-2.0-flash:generateContent"
                            f"?key={g.key}", body=body, key="")
    assert st == 200, resp
    rf = sent_bodies(upstream)[0]["response_format"]
    assert rf["type"] == "json_schema"
    assert rf["json_schema"]["schema"] == {
        "type": "object", "required": ["name"],
        "properties": {"name": {"type": ["string", "null"]},
                       "tags": {"type": "array", "items": {"type": "string"}}}}
    body["generationConfig"] = {"responseMimeType": "application/json"}
    st, _, resp = gemini(g, "gemini-2.0-flash", "generateContent", body)
    assert st == 200
    assert sent_bodies(upstream)[1]["response_format"] == {"type": "json_object"}
    # the key is not logged with the path
    assert g.key not in "\n".join(g.logs)


def test_gemini_tools_history(g, upstream):
    body = {"contents": [
        {"role": "user", "parts": [{"text": "Where is my order?"}]},
        {"role": "model", "parts": [{"functionCall": {"name": "lookup_order",
                                                      "args": {"email": EMAIL}}}]},
        {"role": "user", "parts": [{"functionResponse": {
            "name": "lookup_order", "response": {"status": f"shipped to {EMAIL}"}}},
            {"text": "Thanks"}]}],
        "tools": [{"functionDeclarations": [{
            "name": "lookup_order", "description": "Find an order",
            "parameters": {"type": "OBJECT", "properties": {"email": {"type": "STRING"}}}}]}],
        "toolConfig": {"functionCallingConfig": {"mode": "ANY",
                                                 "allowedFunctionNames": ["lookup_order"]}}}
    st, _, resp = gemini(g, "gemini-2.0-flash", "generateContent", body)
    assert st == 200, resp
    sent = sent_bodies(upstream)[0]
    assert [m["role"] for m in sent["messages"]] == ["user", "assistant", "tool", "user"]
    call = sent["messages"][1]["tool_calls"][0]
    assert call["function"]["name"] == "lookup_order"
    assert sent["messages"][2]["tool_call_id"] == call["id"]
    assert json.loads(call["function"]["arguments"])["email"].startswith("EMAIL_")
    assert EMAIL not in json.dumps(sent)
    assert sent["tools"][0]["function"]["parameters"] == {
        "type": "object", "properties": {"email": {"type": "string"}}}
    assert sent["tool_choice"] == {"type": "function", "function": {"name": "lookup_order"}}


def test_gemini_embeddings(g, upstream):
    st, _, resp = gemini(g, "text-embedding-004", "embedContent",
                         {"content": {"parts": [{"text": f"about {EMAIL}"}]}})
    assert st == 200, resp
    assert len(json.loads(resp)["embedding"]["values"]) > 0
    st, _, resp = gemini(g, "text-embedding-004", "batchEmbedContents",
                         {"requests": [{"content": {"parts": [{"text": "a"}]}},
                                       {"content": {"parts": [{"text": "b"}]}}]})
    assert st == 200, resp
    assert len(json.loads(resp)["embeddings"]) == 2
    rq = upstream.api_requests()
    assert rq[0]["path"] == "/v1/embeddings" and EMAIL not in rq[0]["body"]
    assert json.loads(rq[1]["body"])["input"] == ["a", "b"]


def test_gemini_models_list(g):
    st, _, resp = g.request("GET", "/v1beta/models", key="", headers={"x-goog-api-key": g.key})
    assert st == 200
    names = [m["name"] for m in json.loads(resp)["models"]]
    assert "models/assistant" in names and "models/gemini-2.0-flash" in names
    st, _, resp = g.request("GET", "/v1beta/models", key="")
    assert st == 401 and json.loads(resp)["error"]["status"] == "UNAUTHENTICATED"


GOOD = {"contents": [{"parts": [{"text": "x"}]}]}


@pytest.mark.parametrize("body,needle", [
    ({}, "contents"),
    ({"contents": []}, "contents"),
    ({"contents": "hi"}, "contents"),
    ({"contents": [5]}, "contents[0]"),
    ({"contents": [{"role": "system", "parts": [{"text": "x"}]}]}, "role"),
    ({"contents": [{"parts": [{"text": 5}]}]}, "text"),
    ({"contents": [{"parts": []}]}, "parts"),
    ({"contents": [{"parts": [{"fileData": {"fileUri": "gs://x"}}]}]}, "fileData"),
    ({"contents": [{"parts": [{"inlineData": {"mimeType": "audio/wav", "data": "AAAA"}}]}]},
     "audio/wav"),
    ({**GOOD, "generationConfig": {"temperature": "hot"}}, "temperature"),
    ({**GOOD, "generationConfig": {"maxOutputTokens": 1.5}}, "maxOutputTokens"),
    ({**GOOD, "generationConfig": {"stopSequences": [1]}}, "stopSequences"),
    ({**GOOD, "generationConfig": {"responseMimeType": "text/x-enum"}}, "responseMimeType"),
    ({**GOOD, "generationConfig": {"responseModalities": ["IMAGE"]}}, "TEXT"),
    ({**GOOD, "generationConfig": "x"}, "generationConfig"),
    ({**GOOD, "generationConfig": {"candidateCount": 3}}, "candidateCount"),
    ({**GOOD, "tools": [{"googleSearch": {}}]}, "googleSearch"),
    ({**GOOD, "tools": [{"functionDeclarations": [{"description": "no name"}]}]}, "name"),
    ({**GOOD, "toolConfig": {"functionCallingConfig": {"mode": "SOMETIMES"}}}, "mode"),
    ({**GOOD, "cachedContent": "cachedContents/1"}, "Cached"),
    ({**GOOD, "generationConfig": {"responseMimeType": "application/json",
                                   "responseSchema": {"type": "OBJECT", "properties": {
                                       "a": 5}}}}, "schema"),
])
def test_gemini_errors_in_its_shape(g, upstream, body, needle):
    st, _, resp = gemini(g, "gemini-2.0-flash", "generateContent", body)
    assert st == 400, resp
    err = json.loads(resp)["error"]
    assert err["code"] == 400 and err["status"] == "INVALID_ARGUMENT"
    assert needle in err["message"]
    assert upstream.api_requests() == []


def test_gemini_hostile_and_auth(g, upstream):
    for raw in (b"", b"{", b"[]", b"\xff\xfe", b'{"contents": [{"parts": [{"text": "a", '
                b'"text": "b"}]}]}', b"{" * 5000 + b"}" * 5000,
                json.dumps({"contents": [{"parts": [{"text": "x"}] * 20000}]}).encode()[:-3]):
        st, _, resp = gemini(g, "gemini-2.0-flash", "generateContent", raw)
        assert st == 400, (raw[:40], resp)
        assert json.loads(resp)["error"]["status"] == "INVALID_ARGUMENT"
    # deep schema nesting is refused, not recursed into without bound
    deep = {"type": "STRING"}
    for _ in range(200):
        deep = {"type": "ARRAY", "items": deep}
    st, _, resp = gemini(g, "gemini-2.0-flash", "generateContent",
                         {**GOOD, "generationConfig": {"responseMimeType": "application/json",
                                                       "responseSchema": deep}})
    assert st == 400 and "deeply" in json.loads(resp)["error"]["message"]
    st, _, resp = gemini(g, "gemini-2.0-flash", "generateContent", GOOD, key="wrong")
    assert st == 401 and json.loads(resp)["error"]["status"] == "UNAUTHENTICATED"
    st, _, resp = gemini(g, "no-such-model", "generateContent", GOOD)
    assert st == 404 and json.loads(resp)["error"]["status"] == "NOT_FOUND"
    # model names in the path are plain names; anything else is not a served endpoint
    for bad in ("a%22b", "a%ff", "x" * 200, "a/b"):
        st, _, resp = gemini(g, bad, "generateContent", GOOD)
        assert st == 501 and json.loads(resp)["error"]["status"] == "UNIMPLEMENTED", bad
    st, _, resp = g.request("GET", "/v1beta/models/gemini-2.0-flash:generateContent", key="",
                            headers={"x-goog-api-key": g.key})
    assert st == 405 and "error" in json.loads(resp)
    # oversized bodies are refused by the HTTP layer (before any dialect is known)
    st, _, _ = gemini(g, "gemini-2.0-flash", "generateContent",
                      b'{"contents":"' + b"a" * (5 << 20) + b'"}')
    assert st == 413
    assert upstream.api_requests() == []
    st, _, resp = gemini(g, "gemini-2.0-flash", "generateContent", GOOD)
    assert st == 200  # still up


# ---- Ollama ----

def ollama(g, path, body, key=None):
    return g.request("POST", path, body=body, key=key)


def test_ollama_chat_streams_ndjson_by_default(g, upstream):
    body = {"model": "llama3.2", "messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": f"Call {PHONE} or mail {EMAIL} [[fake:split=3]]"}],
        "options": {"temperature": 0.1, "top_p": 0.5, "top_k": 3, "num_predict": 40,
                    "stop": ["\n\n"], "seed": 9, "num_ctx": 4096}}
    st, h, resp = ollama(g, "/api/chat", body)
    assert st == 200, resp
    assert h["content-type"].startswith("application/x-ndjson")
    lines = ndjson(resp)
    assert len(lines) >= 3 and all(l["model"] == "llama3.2" for l in lines)
    assert all(l["done"] is False for l in lines[:-1]) and lines[-1]["done"] is True
    text = "".join(l["message"]["content"] for l in lines)
    assert text == f"[up1] Call {PHONE} or mail {EMAIL}"
    assert lines[-1]["done_reason"] == "stop" and lines[-1]["eval_count"] > 0
    assert lines[-1]["created_at"].endswith("Z")
    sent = sent_bodies(upstream)[0]
    assert EMAIL not in json.dumps(sent) and sent["stream"] is True
    assert (sent["temperature"], sent["top_p"], sent["top_k"], sent["max_tokens"],
            sent["stop"], sent["seed"]) == (0.1, 0.5, 3, 40, ["\n\n"], 9)
    assert "num_ctx" not in sent


def test_ollama_chat_not_streamed_with_format(g, upstream):
    body = {"model": "llama3.2", "stream": False, "format": "json",
            "messages": [{"role": "user", "content": f"I am {EMAIL}"}]}
    st, h, resp = ollama(g, "/api/chat", body)
    assert st == 200, resp
    r = json.loads(resp)
    assert r["message"] == {"role": "assistant", "content": f"[up1] I am {EMAIL}"}
    assert r["done"] is True and r["done_reason"] == "stop"
    assert r["prompt_eval_count"] > 0 and r["eval_count"] > 0
    assert sent_bodies(upstream)[0]["response_format"] == {"type": "json_object"}
    schema = {"type": "object", "properties": {"age": {"type": "integer"}}}
    body["format"] = schema
    st, _, resp = ollama(g, "/api/chat", body)
    assert st == 200
    assert sent_bodies(upstream)[1]["response_format"] == {
        "type": "json_schema", "json_schema": {"name": "response", "schema": schema}}


def test_ollama_generate(g, upstream):
    st, h, resp = ollama(g, "/api/generate", {"model": "llama3.2", "system": "Be kind.",
                                              "prompt": f"Hi, {EMAIL} here [[fake:split=2]]"})
    assert st == 200, resp
    lines = ndjson(resp)
    assert "".join(l["response"] for l in lines) == f"[up1] Hi, {EMAIL} here"
    assert lines[-1]["done"] is True
    st, _, resp = ollama(g, "/api/generate", {"model": "llama3.2", "prompt": "one",
                                              "stream": False})
    assert st == 200 and json.loads(resp)["response"] == "[up1] one"
    sent = sent_bodies(upstream)[0]
    assert sent["messages"][0] == {"role": "system", "content": "Be kind."}
    assert EMAIL not in json.dumps(sent)


def test_ollama_tools_history_and_images(g, upstream):
    png = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9"
           "awAAAABJRU5ErkJggg==")  # a 1x1 PNG
    body = {"model": "llama3.2", "stream": False,
            "tools": [{"type": "function", "function": {
                "name": "lookup", "description": "Find",
                "parameters": {"type": "object", "properties": {"email": {"type": "string"}}}}}],
            "messages": [
                {"role": "user", "content": "What is this?", "images": [png]},
                {"role": "assistant", "content": "",
                 "tool_calls": [{"function": {"name": "lookup", "arguments": {"email": EMAIL}}}]},
                {"role": "tool", "tool_name": "lookup", "content": f"{EMAIL}: shipped"},
                {"role": "user", "content": "ok"}]}
    st, _, resp = ollama(g, "/api/chat", body)
    assert st == 200, resp
    sent = sent_bodies(upstream)[0]
    assert [m["role"] for m in sent["messages"]] == ["user", "assistant", "tool", "user"]
    assert sent["messages"][0]["content"][1]["image_url"]["url"].startswith(
        "data:image/png;base64,")
    call = sent["messages"][1]["tool_calls"][0]
    assert sent["messages"][2]["tool_call_id"] == call["id"]
    assert EMAIL not in json.dumps(sent)
    assert sent["tools"][0]["function"]["name"] == "lookup"


def test_ollama_embed_and_tags(g, upstream):
    st, _, resp = ollama(g, "/api/embed", {"model": "nomic-embed-text",
                                           "input": ["a", f"b {EMAIL}"]})
    assert st == 200, resp
    r = json.loads(resp)
    assert r["model"] == "nomic-embed-text" and len(r["embeddings"]) == 2
    st, _, resp = ollama(g, "/api/embeddings", {"model": "nomic-embed-text", "prompt": "a"})
    assert st == 200 and len(json.loads(resp)["embedding"]) > 0
    assert EMAIL not in json.dumps(sent_bodies(upstream))
    st, _, resp = g.request("GET", "/api/tags")
    assert st == 200
    names = [m["name"] for m in json.loads(resp)["models"]]
    assert "llama3.2" in names and "assistant" in names


OK_CHAT = {"model": "llama3.2", "messages": [{"role": "user", "content": "x"}]}


@pytest.mark.parametrize("path,body,needle", [
    ("/api/chat", {"messages": [{"role": "user", "content": "x"}]}, "model"),
    ("/api/chat", {"model": "llama3.2"}, "messages"),
    ("/api/chat", {"model": "llama3.2", "messages": "hi"}, "messages"),
    ("/api/chat", {"model": "llama3.2", "messages": [{"role": "wizard", "content": "x"}]},
     "role"),
    ("/api/chat", {"model": "llama3.2", "messages": [{"role": "user", "content": 5}]},
     "content"),
    ("/api/chat", {**OK_CHAT, "options": {"temperature": "hot"}}, "temperature"),
    ("/api/chat", {**OK_CHAT, "options": {"num_predict": 1.5}}, "num_predict"),
    ("/api/chat", {**OK_CHAT, "options": {"stop": [1]}}, "stop"),
    ("/api/chat", {**OK_CHAT, "options": []}, "options"),
    ("/api/chat", {**OK_CHAT, "format": "xml"}, "format"),
    ("/api/chat", {**OK_CHAT, "stream": "yes"}, "stream"),
    ("/api/chat", {**OK_CHAT, "tools": [{"type": "function"}]}, "tools"),
    ("/api/chat", {"model": "llama3.2", "messages": [{"role": "user", "content": "x",
                                                      "images": ["bm90IGFuIGltYWdl"]}]},
     "images"),
    ("/api/chat", {"model": "llama3.2", "messages": [
        {"role": "assistant", "tool_calls": [{"function": {"name": "f", "arguments": "{}"}}]}]},
     "arguments"),
    ("/api/generate", {"model": "llama3.2"}, "prompt"),
    ("/api/generate", {"model": "llama3.2", "prompt": "x", "suffix": "y"}, "suffix"),
    ("/api/embed", {"model": "nomic-embed-text", "input": [1, 2]}, "input"),
    ("/api/embed", {"model": "nomic-embed-text", "input": []}, "input"),
])
def test_ollama_errors_in_its_shape(g, upstream, path, body, needle):
    st, _, resp = ollama(g, path, body)
    assert st == 400, resp
    err = json.loads(resp)
    assert list(err) == ["error"] and isinstance(err["error"], str)
    assert needle in err["error"]
    assert upstream.api_requests() == []


def test_ollama_hostile_and_auth(g, upstream):
    for raw in (b"", b"nul", b"[1]", b"\xc3\x28", b"{" * 5000 + b"}" * 5000,
                b'{"model": "a", "model": "b", "messages": []}'):
        st, _, resp = ollama(g, "/api/chat", raw)
        assert st == 400, (raw[:40], resp)
        assert isinstance(json.loads(resp)["error"], str)
    # plugins set up for a "local Ollama" send no key: refused in Ollama's shape
    st, _, resp = ollama(g, "/api/chat", OK_CHAT, key="")
    assert st == 401 and "API key" in json.loads(resp)["error"]
    st, _, resp = g.request("GET", "/api/tags", key="")
    assert st == 401 and "error" in json.loads(resp)
    st, _, resp = ollama(g, "/api/chat", {**OK_CHAT, "model": "mystery:7b"})
    assert st == 404 and "mystery:7b" in json.loads(resp)["error"]
    assert upstream.api_requests() == []
    st, _, _ = ollama(g, "/api/chat", {**OK_CHAT, "stream": False})
    assert st == 200


# ---- tool calls in answers, both directions ----

class ToolBackend:
    """An OpenAI-compatible backend that answers every chat request with one tool call
    whose arguments hold the last message's text (streamed in small argument deltas when
    asked to stream). Records the request bodies."""

    def __init__(self):
        self.bodies = []
        outer = self

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_GET(self):
                b = b'{"object":"list","data":[]}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(b)))
                self.end_headers()
                self.wfile.write(b)

            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                req = json.loads(self.rfile.read(n))
                outer.bodies.append(req)
                last = req["messages"][-1]["content"]
                if isinstance(last, list):
                    last = " ".join(p.get("text", "") for p in last)
                args = json.dumps({"note": last})
                if not req.get("stream"):
                    b = json.dumps({
                        "id": "c1", "object": "chat.completion", "model": req["model"],
                        "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
                            "role": "assistant", "content": None, "tool_calls": [{
                                "id": "call_x1", "type": "function",
                                "function": {"name": "save_note", "arguments": args}}]}}],
                        "usage": {"prompt_tokens": 5, "completion_tokens": 7,
                                  "total_tokens": 12}}).encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(b)))
                    self.end_headers()
                    self.wfile.write(b)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Connection", "close")
                self.end_headers()

                def ev(obj):
                    self.wfile.write(b"data: " + json.dumps(obj).encode() + b"\n\n")
                    self.wfile.flush()

                base = {"id": "c1", "object": "chat.completion.chunk", "model": req["model"]}
                ev({**base, "choices": [{"index": 0, "delta": {
                    "role": "assistant", "tool_calls": [{
                        "index": 0, "id": "call_x1", "type": "function",
                        "function": {"name": "save_note", "arguments": ""}}]}}]})
                for i in range(0, len(args), 5):
                    ev({**base, "choices": [{"index": 0, "delta": {"tool_calls": [{
                        "index": 0, "function": {"arguments": args[i:i + 5]}}]}}]})
                ev({**base, "choices": [{"index": 0, "delta": {},
                                         "finish_reason": "tool_calls"}]})
                ev({**base, "choices": [], "usage": {"prompt_tokens": 5,
                                                     "completion_tokens": 7,
                                                     "total_tokens": 12}})
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()
                self.close_connection = True

        class S(socketserver.ThreadingMixIn, http.server.HTTPServer):
            daemon_threads = True

        self.srv = S(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.srv.server_address[1]}"
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def stop(self):
        self.srv.shutdown()
        self.srv.server_close()


@pytest.fixture
def tg(make_gateway):
    tb = ToolBackend()
    gw = make_gateway(backends=[{"name": "t1", "url": tb.url}],
                      routes=[{"model": "assistant", "aliases": ["gemini-2.0-flash", "llama3.2"],
                               "backends": ["t1"]}])
    gw.tool_backend = tb
    yield gw
    tb.stop()


DECL = [{"functionDeclarations": [{"name": "save_note", "parameters": {
    "type": "OBJECT", "properties": {"note": {"type": "STRING"}}}}]}]


@pytest.mark.parametrize("stream", [False, True])
def test_gemini_tool_call_answers_restored(tg, stream):
    body = {"contents": [{"parts": [{"text": f"Remember {EMAIL}"}]}], "tools": DECL}
    method = "streamGenerateContent" if stream else "generateContent"
    st, _, resp = gemini(tg, "gemini-2.0-flash", method, body,
                         query="?alt=sse" if stream else "")
    assert st == 200, resp
    chunks = sse_data(resp) if stream else [json.loads(resp)]
    calls = [p["functionCall"] for c in chunks for p in c["candidates"][0]["content"]["parts"]
             if "functionCall" in p]
    assert calls == [{"id": "call_x1", "name": "save_note", "args": {"note": f"Remember {EMAIL}"}}]
    assert chunks[-1]["candidates"][0]["finishReason"] == "STOP"
    assert chunks[-1]["usageMetadata"] == {"promptTokenCount": 5, "candidatesTokenCount": 7,
                                           "totalTokenCount": 12}
    sent = tg.tool_backend.bodies[0]
    assert EMAIL not in json.dumps(sent) and sent["tools"][0]["function"]["name"] == "save_note"
    # the client sends the result back: it reaches the backend as a tool message
    body["contents"] += [{"role": "model", "parts": [{"functionCall": calls[0]}]},
                         {"role": "user", "parts": [{"functionResponse": {
                             "id": "call_x1", "name": "save_note",
                             "response": {"saved": EMAIL}}}]}]
    st, _, resp = gemini(tg, "gemini-2.0-flash", "generateContent", body)
    assert st == 200, resp
    msgs = tg.tool_backend.bodies[1]["messages"]
    assert msgs[-1]["role"] == "tool" and msgs[-1]["tool_call_id"] == "call_x1"
    assert EMAIL not in json.dumps(msgs) and "EMAIL_" in msgs[-1]["content"]


@pytest.mark.parametrize("stream", [False, True])
def test_ollama_tool_call_answers_restored(tg, stream):
    body = {"model": "llama3.2", "stream": stream,
            "messages": [{"role": "user", "content": f"Remember {EMAIL}"}],
            "tools": [{"type": "function", "function": {"name": "save_note", "parameters": {
                "type": "object", "properties": {"note": {"type": "string"}}}}}]}
    st, _, resp = ollama(tg, "/api/chat", body)
    assert st == 200, resp
    lines = ndjson(resp)
    calls = [c for l in lines for c in l.get("message", {}).get("tool_calls", [])]
    assert calls == [{"function": {"name": "save_note",
                                   "arguments": {"note": f"Remember {EMAIL}"}}}]
    assert lines[-1]["done"] is True and lines[-1]["eval_count"] == 7
    assert EMAIL not in json.dumps(tg.tool_backend.bodies[0])


# ---- endpoints that are not served ----

@pytest.mark.parametrize("method,path,headers,status,shape,label", [
    ("POST", "/v1/images/generations", {}, 404, "openai", "/v1/images/*"),
    ("POST", "/v1/audio/transcriptions", {}, 404, "openai", "/v1/audio/*"),
    ("GET", "/v1/files", {}, 404, "openai", "/v1/files/*"),
    ("POST", "/v1/assistants", {}, 404, "openai", "/v1/assistants/*"),
    ("POST", "/v1/threads/runs", {}, 404, "openai", "/v1/threads/*"),
    ("POST", "/v1/batches", {}, 404, "openai", "/v1/batches/*"),
    ("POST", "/v1/fine_tuning/jobs", {}, 404, "openai", "/v1/fine_tuning/*"),
    ("GET", "/v1/realtime", {}, 404, "openai", "/v1/realtime/*"),
    ("POST", "/v1/vector_stores", {}, 404, "openai", "/v1/vector_stores/*"),
    ("POST", "/v1/moderations", {}, 404, "openai", "/v1/moderations"),
    ("POST", "/openai/deployments/x/images/generations", {}, 404, "openai", "/openai/*"),
    ("POST", "/v1/messages/batches", {"anthropic-version": "2023-06-01"}, 404, "anthropic",
     "/v1/messages/*"),
    ("POST", "/v1/messages/count_tokens", {"anthropic-version": "2023-06-01"}, 404,
     "anthropic", "/v1/messages/*"),
    ("POST", "/v1/files", {"anthropic-version": "2023-06-01"}, 404, "anthropic",
     "/v1/files/*"),
    ("POST", "/v1beta/models/gemini-2.0-flash:countTokens", {}, 501, "gemini",
     "/v1beta/models/*"),
    ("POST", "/upload/v1beta/files", {}, 501, "gemini", "/upload/v1beta/*"),
    ("GET", "/v1beta/cachedContents", {}, 501, "gemini", "/v1beta/cachedContents/*"),
    ("POST", "/api/pull", {}, 404, "ollama", "/api/pull"),
    ("POST", "/api/show", {}, 404, "ollama", "/api/show"),
    ("DELETE", "/api/delete", {}, 404, "ollama", "/api/delete"),
])
def test_unserved_endpoints(g, upstream, method, path, headers, status, shape, label):
    h = {"x-goog-api-key": g.key} if shape == "gemini" else {}
    h.update(headers)
    st, _, resp = g.request(method, path, body={"model": "assistant", "prompt": EMAIL}, key=None
                            if shape != "gemini" else "", headers=h)
    assert st == status, resp
    err = json.loads(resp)
    if shape == "openai":
        msg = err["error"]["message"]
        assert err["error"]["code"] == "endpoint_not_served"
    elif shape == "anthropic":
        assert err["type"] == "error" and err["error"]["type"] == "not_found_error"
        msg = err["error"]["message"]
    elif shape == "gemini":
        assert err["error"]["status"] == "UNIMPLEMENTED" and err["error"]["code"] == 501
        msg = err["error"]["message"]
    else:
        msg = err["error"]
    assert path in msg and "not served by this deployment" in msg
    assert EMAIL not in msg
    assert upstream.api_requests() == []
    # counted under its fixed route label
    st, _, m = g.get("/metrics")
    assert f'route="{label}",status="{status}"' in m.decode()


def test_unserved_refusals_are_audited(g, upstream):
    audit = g.audit_db
    st, _, _ = g.request("POST", "/v1/images/generations", body={"prompt": EMAIL})
    assert st == 404
    st, _, _ = g.request("POST", "/api/pull", body={"model": "x"}, key="wrong")
    assert st == 401
    g.stop()
    out = sgtest.run(["audit", "export", "--db", audit, "--format", "jsonl"], check=True).stdout
    recs = [json.loads(l) for l in out.splitlines() if l.strip()]
    recs = [r.get("record", r) for r in recs]
    img = [r for r in recs if r.get("endpoint") == "/v1/images/*"]
    assert img and img[0]["status"] == 404 and img[0]["error"] == "endpoint_not_served"
    assert img[0]["client"] == "shop" and img[0]["decision"] == "reject"
    pull = [r for r in recs if r.get("endpoint") == "/api/pull"]
    assert pull and pull[0]["status"] == 401 and "client" not in pull[0]
    assert EMAIL not in out
    g.start()  # the fixture stops it again
