"""Redaction through the gateway: the fake upstream records exactly what it received, and
the tests assert that no original personal value reached it while the client sees the
answer with the real values restored (the fake model echoes the last user message, so its
answer is made of the surrogates it was sent). Streaming answers are restored across every
chunking; restricted values the model made up are masked; block actions refuse the
request; tool-call arguments, content parts, completions and embeddings are covered."""

import json

import pytest

import sgtest

NAME = "Anna Schmidt"
EMAIL = "anna.schmidt@example.de"
PHONE = "+49 30 1234567"
CARD = "4111 1111 1111 1111"
IBAN = "DE89 3704 0044 0532 0130 00"
MESSAGE = (f"Hello, my name is {NAME}. Mail me at {EMAIL} or call {PHONE}. "
           f"My card is {CARD} and my IBAN {IBAN}.")
ORIGINALS = [NAME, EMAIL, PHONE, "Schmidt", "anna.schmidt", "1234567", "4111", "3704 0044"]


def upstream_bodies(upstream):
    return [r["body"] for r in upstream.api_requests()]


def assert_nothing_leaked(upstream):
    bodies = upstream_bodies(upstream)
    assert bodies, "the upstream received no request"
    for b in bodies:
        for v in ORIGINALS:
            assert v not in b, f"{v!r} reached the upstream: {b}"


def answer_text(body):
    return json.loads(body)["choices"][0]["message"]["content"]


def test_chat_is_pseudonymized_upstream_and_restored_for_the_client(gateway, upstream):
    st, _, body = gateway.chat(MESSAGE)
    assert st == 200, body
    assert_nothing_leaked(upstream)
    sent = json.loads(upstream_bodies(upstream)[0])["messages"][0]["content"]
    # typed surrogates for personal data, typed masks for restricted data
    assert "PERSON_" in sent and "EMAIL_" in sent and "PHONE_" in sent
    assert "[CARD]" in sent and "[IBAN]" in sent
    # the answer (the echo of the surrogates) comes back with the real values
    assert answer_text(body) == "[up1] " + MESSAGE.replace(CARD, "[CARD]").replace(IBAN, "[IBAN]")
    gateway.wait_log(lambda j: j.get("event") == "request" and j.get("redacted") == 5 and
                     j.get("restored") == 3)
    st, _, m = gateway.get("/metrics")
    text = m.decode()
    assert 'sovgate_redactions_total{type="EMAIL",action="pseudonymize"} 1' in text
    assert 'sovgate_redactions_total{type="CARD",action="mask"} 1' in text
    assert "sovgate_restored_total 3" in text


def test_same_value_same_surrogate_across_messages_and_requests(gateway, upstream):
    msgs = [{"role": "system", "content": f"The customer is {EMAIL}."},
            {"role": "assistant", "content": f"Hello! I see {EMAIL} in our records."},
            {"role": "user", "content": f"Yes, {EMAIL.upper()} is me."}]
    for _ in range(2):
        st, _, body = gateway.post("/v1/chat/completions",
                                   {"model": "assistant", "messages": msgs})
        assert st == 200, body
    assert_nothing_leaked(upstream)
    surrogates = set()
    for b in upstream_bodies(upstream):
        for m in json.loads(b)["messages"]:
            surrogates.update(w.strip(".!,") for w in m["content"].split() if "EMAIL_" in w)
    assert len(surrogates) == 1, surrogates


@pytest.mark.parametrize("split", [1, 2, 3, 5, 7, 13, 64])
def test_streamed_answer_is_restored_across_chunk_borders(gateway, upstream, split):
    st, _, body = gateway.chat(f"{MESSAGE} [[fake:split={split}]]", stream=True)
    assert st == 200
    events = sgtest.sse_events(body)
    assert events[-1] == "[DONE]"
    text = sgtest.stream_text(events)
    assert text == "[up1] " + MESSAGE.replace(CARD, "[CARD]").replace(IBAN, "[IBAN]")
    # no surrogate ever reached the client, not even in part
    raw = body.decode()
    assert "PERSON_" not in raw and "EMAIL_" not in raw and "PHONE_" not in raw
    assert_nothing_leaked(upstream)


ADDRESS_2LINES = "Hauptstra\u00dfe 5\n10115 Berlin"


@pytest.mark.parametrize("stream", [False, True])
def test_json_answer_is_restored_as_json_text(gateway, upstream, stream):
    """An answer asked for as JSON is JSON text: a value restored into it is escaped for the
    inside of a JSON string (an address over two lines restored as it was would put a raw
    line break into a string, and the client's JSON parser would refuse the answer). An
    answer asked for as text gets the value as it was."""
    text = f"Ship to:\n{NAME}\n{ADDRESS_2LINES}\nThanks"
    for fmt in ({"type": "json_schema", "json_schema": {"name": "a", "schema": {}}},
                {"type": "json_object"}, None):
        extra = {"response_format": fmt} if fmt else {}
        st, _, body = gateway.chat(f"{text} [[fake:split=3]]" if stream else text,
                                   stream=stream, **extra)
        assert st == 200, body
        got = sgtest.stream_text(sgtest.sse_events(body)) if stream else answer_text(body)
        if fmt:
            assert "Hauptstra\u00dfe 5\\n10115 Berlin" in got, got
            assert "\n10115" not in got
        else:
            assert got.endswith(text), got
        assert "ADDRESS_" not in got and NAME in got
    assert "10115 Berlin" not in "".join(upstream_bodies(upstream))


@pytest.mark.parametrize("stream", [False, True])
def test_field_value_from_json_text_is_restored_escaped_once(gateway, upstream, stream):
    """A field value read inside JSON text in a message is JSON-escaped there already: a JSON
    answer gets the value escaped once (the client's parser reads the note back as it was),
    not its escapes escaped again; a text answer gets the text as it was found."""
    note = 'Leave at "Gate 4", C:\\dock'
    text = json.dumps({"customer_note": note, "items": 2})
    for fmt in ({"type": "json_object"}, None):
        extra = {"response_format": fmt} if fmt else {}
        st, _, body = gateway.chat(f"{text} [[fake:split=3]]" if stream else text,
                                   stream=stream, **extra)
        assert st == 200, body
        got = sgtest.stream_text(sgtest.sse_events(body)) if stream else answer_text(body)
        echoed = got[len("[up1] "):]
        if stream:
            echoed = echoed[:echoed.rindex("}") + 1]
        assert "FIELD_" not in echoed
        assert echoed == text, echoed  # both ways the echo is the JSON text the client sent
        assert json.loads(echoed)["customer_note"] == note
    for b in upstream_bodies(upstream):
        assert "Gate 4" not in b and "FIELD_" in b


def test_text_outside_message_contents_is_redacted(gateway, upstream):
    # names, stop sequences, tool descriptions, metadata and fields the gateway does not know
    # go to the backend too: their text is redacted like the messages'
    body = {"model": "assistant", "max_tokens": 16, "temperature": 0.5,
            "messages": [{"role": "user", "content": "hello", "name": EMAIL}],
            "stop": [f"Bye {NAME}"],
            "tools": [{"type": "function", "function": {
                "name": "lookup", "description": f"Call {PHONE}, card {CARD}",
                "parameters": {"type": "object", "properties": {}}}}],
            "metadata": {"note": f"IBAN {IBAN}"},
            "x_vendor_extension": {"notes": [f"mail {EMAIL}"]}}
    st, _, answer = gateway.post("/v1/chat/completions", body)
    assert st == 200, answer
    assert_nothing_leaked(upstream)
    sent = json.loads(upstream_bodies(upstream)[0])
    assert sent["messages"][0]["name"].startswith("EMAIL_")
    assert "[CARD]" in sent["tools"][0]["function"]["description"]
    assert sent["tools"][0]["function"]["name"] == "lookup"
    assert sent["metadata"]["note"] == "IBAN [IBAN]"
    assert sent["temperature"] == 0.5 and sent["max_tokens"] == 16


def test_text_after_finish_reason_is_restored_and_flushed(gateway, upstream):
    # a backend that sends more content for a choice after its finish_reason: that text is
    # scanned and restored like the rest, and nothing of it is held back for good
    # (it ends in "AB12", which the output scan holds back until it knows what follows)
    st, _, body = gateway.chat(f"{MESSAGE} Order AB12 [[fake:late=1]]", stream=True)
    assert st == 200
    events = sgtest.sse_events(body)
    assert events[-1] == "[DONE]"
    want = "[up1] " + MESSAGE.replace(CARD, "[CARD]").replace(IBAN, "[IBAN]") + " Order AB12"
    assert sgtest.stream_text(events) == want + want
    raw = body.decode()
    assert "PERSON_" not in raw and "EMAIL_" not in raw and "PHONE_" not in raw


def test_made_up_restricted_values_are_masked_in_answers(gateway, upstream):
    secret = "sk-proj-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789"
    said = f"Use card 4111 1111 1111 1111 and key {secret} now."
    hexed = said.encode().hex()
    for stream in (False, True):
        st, _, body = gateway.chat(f"[[fake:unhex=1]]{hexed}", stream=stream)
        assert st == 200, body
        text = (sgtest.stream_text(sgtest.sse_events(body)) if stream else answer_text(body))
        assert text == "[up1] Use card [CARD] and key [SECRET] now.", text
        assert "4111" not in body.decode() and "AbCdEf" not in body.decode()
    st, _, m = gateway.get("/metrics")
    assert 'sovgate_output_masked_total{type="CARD"} 2' in m.decode()
    assert 'sovgate_output_masked_total{type="SECRET"} 2' in m.decode()


def test_values_the_user_sent_are_not_masked_in_answers(make_gateway, upstream):
    g = make_gateway(backends=[{"name": "b1", "url": upstream.url}],
                     routes=[{"model": "assistant", "backends": ["b1"]}],
                     extra={"redaction": {"actions": {"CARD": "allow"}}})
    st, _, body = g.chat(f"my card is {CARD}")
    assert st == 200
    assert answer_text(body) == f"[up1] my card is {CARD}"
    assert CARD in upstream_bodies(upstream)[0]  # allowed: sent as it is


def test_block_action_refuses_and_names_type_and_field(make_gateway, upstream):
    g = make_gateway(backends=[{"name": "b1", "url": upstream.url}],
                     routes=[{"model": "assistant", "backends": ["b1"]}],
                     extra={"redaction": {"actions": {"CARD": "block"}}})
    body = {"model": "assistant",
            "messages": [{"role": "system", "content": "You help."},
                         {"role": "user", "content": [
                             {"type": "text", "text": "hi"},
                             {"type": "text", "text": f"card {CARD}"}]}]}
    st, _, resp = g.post("/v1/chat/completions", body)
    assert st == 400
    err = json.loads(resp)["error"]
    assert err["code"] == "content_blocked"
    assert err["param"] == "messages[1].content[1].text"
    assert "CARD" in err["message"] and "4111" not in err["message"]
    assert upstream.api_requests() == []
    st, _, m = g.get("/metrics")
    assert 'sovgate_blocked_requests_total{type="CARD"} 1' in m.decode()


def test_tool_calls_and_content_parts(gateway, upstream):
    args = json.dumps({"billing_email": EMAIL, "billing_first_name": "Anna",
                       "billing_phone": PHONE, "_wc_cog_cost": "12.40"})
    body = {"model": "assistant", "messages": [
        {"role": "user", "content": [{"type": "text", "text": f"I am {NAME}"},
                                     {"type": "image_url",
                                      "image_url": {"url": "https://shop.example/a.png"}}]},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c1", "type": "function",
             "function": {"name": "lookup_order", "arguments": args}}]},
        {"role": "tool", "tool_call_id": "c1", "content": f"Order for {EMAIL}, cost 12.40"},
        {"role": "user", "content": "Thanks"}]}
    st, _, resp = gateway.post("/v1/chat/completions", body)
    assert st == 200, resp
    assert_nothing_leaked(upstream)
    sent = json.loads(upstream_bodies(upstream)[0])
    sent_args = json.loads(sent["messages"][1]["tool_calls"][0]["function"]["arguments"])
    assert sent_args["billing_email"].startswith("EMAIL_")
    assert sent_args["billing_first_name"].startswith("PERSON_")
    assert sent_args["billing_phone"].startswith("PHONE_")
    assert sent_args["_wc_cog_cost"].startswith("FIELD_")  # the cost price, by field name
    assert sent["messages"][0]["content"][1]["image_url"]["url"] == "https://shop.example/a.png"


def test_every_string_of_a_message_is_redacted(gateway, upstream):
    """Fields of a message the gateway does not list are text too: the reasoning a client
    sends back (the gateway restored it in the answer, so it holds the real values), a
    refusal, a vendor's extension, an image's URL. Only the structure stays as it is: the
    role, the types, the ids that pair a tool's answer with its call, and binary payloads
    (a data: URL, base64 audio), whose bytes must not change."""
    image = "data:image/png;base64," + "QUJD" * 64 + "/5555555555554444/+w=="
    audio = "UklGRiQAAABXQVZFZm10IBAAAAABAAEA\n" + "AAEA" * 40
    body = {"model": "assistant", "messages": [
        {"role": "user", "content": [
            {"type": "text", "text": "Hi"},
            {"type": "image_url", "image_url": {
                "url": f"https://shop.example/p.png?for={EMAIL}", "detail": "low"}},
            {"type": "image_url", "image_url": {"url": image}},
            {"type": "image_url", "image_url": {"url": f"data:text/plain,{EMAIL}"}},
            {"type": "input_audio", "input_audio": {"data": audio, "format": "wav"}},
            # text in a binary slot is not base64: scanned like any text
            {"type": "input_audio", "input_audio": {"data": f"card {CARD}", "format": "wav"}},
            {"type": "file", "file": {"file_data": f"data:application/pdf;base64,{EMAIL}",
                                      "filename": f"{NAME}.pdf"}},
            {"type": "input_text", "text": f"call {PHONE}", "x_vendor": {"note": NAME}}]},
        {"role": "assistant", "content": "Sure.", "reasoning_content": f"{NAME} wants help",
         "refusal": f"I cannot mail {EMAIL}", "x_meta": {"who": [NAME, 3, None]},
         "tool_calls": [{"id": "call_Ab12", "type": "function", "index": 0,
                         "function": {"name": "lookup", "arguments": f'{{"q": "{EMAIL}"}}'}}]},
        {"role": "tool", "tool_call_id": "call_Ab12", "name": "lookup",
         "content": f"found {NAME}"},
        {"role": "user", "content": "Thanks"}]}
    st, _, resp = gateway.post("/v1/chat/completions", body)
    assert st == 200, resp
    assert_nothing_leaked(upstream)
    sent = json.loads(upstream_bodies(upstream)[0])["messages"]
    parts = sent[0]["content"]
    assert parts[1]["image_url"]["url"].startswith("https://shop.example/p.png?for=EMAIL_")
    assert parts[1]["image_url"]["detail"] == "low"
    assert parts[2]["image_url"]["url"] == image  # binary payloads travel unchanged
    assert parts[3]["image_url"]["url"].startswith("data:text/plain,EMAIL_")  # text, scanned
    assert parts[4]["input_audio"] == {"data": audio, "format": "wav"}
    assert parts[5]["input_audio"]["data"] == "card [CARD]"
    assert parts[6]["file"]["file_data"].startswith("data:application/pdf;base64,EMAIL_")
    assert parts[6]["file"]["filename"].startswith("PERSON_")
    parts = parts[:5] + parts[7:]
    assert parts[5]["text"].startswith("call PHONE_")
    assert parts[5]["x_vendor"]["note"].startswith("PERSON_")
    assert [p["type"] for p in parts] == ["text", "image_url", "image_url", "image_url",
                                          "input_audio", "input_text"]
    assert sent[1]["reasoning_content"].startswith("PERSON_")
    assert sent[1]["refusal"].startswith("I cannot mail EMAIL_")
    assert sent[1]["x_meta"]["who"][0].startswith("PERSON_")
    assert sent[1]["x_meta"]["who"][1:] == [3, None]
    call = sent[1]["tool_calls"][0]
    assert (call["id"], call["type"], call["index"]) == ("call_Ab12", "function", 0)
    assert json.loads(call["function"]["arguments"])["q"].startswith("EMAIL_")
    assert sent[2]["tool_call_id"] == "call_Ab12" and sent[2]["role"] == "tool"


def test_data_url_media_type_with_parameters_is_scanned(gateway, upstream):
    """Only the base64 under a bare media type ("image/png") is binary. Parameters of a
    data: URL's media type, or characters no media type has, are text a client wrote:
    the whole URL is scanned then, as any text is."""
    bare = "data:image/png;base64,QUJDRA=="
    urls = [bare, f"data:image/png;name={EMAIL};base64,QUJDRA==",
            f"data:image/png;note=call {PHONE};base64,QUJDRA==",
            f"data:{EMAIL};base64,QUJDRA=="]
    body = {"model": "assistant", "messages": [{"role": "user", "content": [
        {"type": "text", "text": "Hi"}] + [
        {"type": "image_url", "image_url": {"url": u}} for u in urls] + [
        {"type": "file", "file": {"file_data": f"data:application/pdf;x={EMAIL};base64,QUJD"}}]}]}
    st, _, resp = gateway.post("/v1/chat/completions", body)
    assert st == 200, resp
    assert_nothing_leaked(upstream)
    parts = json.loads(upstream_bodies(upstream)[0])["messages"][0]["content"]
    got = [p["image_url"]["url"] for p in parts[1:5]]
    assert got[0] == bare  # binary: travels unchanged
    assert got[1].startswith("data:image/png;name=EMAIL_") and got[1].endswith(";base64,QUJDRA==")
    assert got[2].startswith("data:image/png;note=call PHONE_")
    assert got[3].startswith("data:EMAIL_")
    assert parts[5]["file"]["file_data"].startswith("data:application/pdf;x=EMAIL_")


def test_completions_and_embeddings_are_redacted(gateway, upstream):
    st, _, body = gateway.post("/v1/completions", {"model": "assistant",
                                                   "prompt": f"Write to {EMAIL}"})
    assert st == 200, body
    assert json.loads(body)["choices"][0]["text"] == f"[up1] Write to {EMAIL}"
    st, _, body = gateway.post("/v1/embeddings", {"model": "embed",
                                                  "input": [f"{NAME} {EMAIL}", "plain"]})
    assert st == 200, body
    assert_nothing_leaked(upstream)


def test_redaction_can_be_turned_off(make_gateway, upstream):
    g = make_gateway(backends=[{"name": "b1", "url": upstream.url}],
                     routes=[{"model": "assistant", "backends": ["b1"]}],
                     extra={"redaction": {"enabled": False}})
    st, _, body = g.chat(f"mail {EMAIL}")
    assert st == 200
    assert EMAIL in upstream_bodies(upstream)[0]


def test_custom_detector_and_configured_key(make_gateway, upstream, workdir):
    keyfile = f"{workdir}/redaction.key"
    with open(keyfile, "w") as f:
        f.write("k" * 32)
    g = make_gateway(
        backends=[{"name": "b1", "url": upstream.url}],
        routes=[{"model": "assistant", "backends": ["b1"]}],
        extra={"redaction": {"key": f"file:{keyfile}",
                             "detectors": [{"name": "UNRELEASED", "terms": ["Aurora X2"],
                                            "action": "pseudonymize"},
                                           {"name": "PROJECT", "regex": "PRJ-[0-9]{4}",
                                            "action": "mask"}]}})
    st, _, body = g.chat("Launch of the aurora x2 (PRJ-1234) is secret")
    assert st == 200, body
    sent = json.loads(upstream_bodies(upstream)[0])["messages"][0]["content"]
    assert "aurora" not in sent.lower() and "UNRELEASED_" in sent and "[PROJECT]" in sent
    assert answer_text(body) == "[up1] Launch of the aurora x2 ([PROJECT]) is secret"
    first = sent
    # the configured key survives a restart: the same surrogate again
    g.stop()
    g.start()
    st, _, body = g.chat("Launch of the aurora x2 (PRJ-1234) is secret")
    assert json.loads(upstream_bodies(upstream)[1])["messages"][0]["content"] == first


@pytest.mark.parametrize("redaction,msg", [
    ({"actions": {"NOPE": "mask"}}, "unknown entity type"),
    ({"actions": {"CARD": "shred"}}, "must be allow, mask, pseudonymize, hash or block"),
    ({"detectors": [{"name": "X", "regex": "(unclosed"}]}, "custom detector X"),
    ({"detectors": [{"name": "lower", "terms": ["a"]}]}, "a type name is 1 to 24"),
    ({"detectors": [{"name": "EMAIL", "terms": ["a"]}]}, "built-in type"),
    ({"key": "plaintext-key"}, "must be a reference"),
    ({"key": "env:SG_TEST_SHORT_KEY"}, "at least 16 bytes"),
    ({"fields": {"billing_email": "NOPE"}}, "unknown type"),
    ({"output_scan": ["card"]}, "is not an entity type"),
    ({"enabled": "yes please"}, "enabled"),
])
def test_bad_redaction_config_is_refused(workdir, upstream, redaction, msg):
    g = sgtest.Gateway(workdir, backends=[{"name": "b1", "url": upstream.url}],
                       routes=[{"model": "assistant", "backends": ["b1"]}],
                       extra={"redaction": redaction}, start=False)
    p = sgtest.run(["check-config", g.path], env={"SG_TEST_SHORT_KEY": "short"})
    assert p.returncode == 1
    assert msg in p.stderr, p.stderr


def test_redact_cli(workdir):
    p = sgtest.run(["redact", "--report", f"{workdir}/r.json"], stdin=MESSAGE)
    assert p.returncode == 0, p.stderr
    for v in [NAME, EMAIL, PHONE, CARD, IBAN]:
        assert v not in p.stdout
    report = json.load(open(f"{workdir}/r.json"))
    raw = MESSAGE.encode()
    got = {(f["type"], raw[f["start"]:f["end"]].decode(), f["action"]) for f in report}
    assert got == {("PERSON", NAME, "pseudonymize"), ("EMAIL", EMAIL, "pseudonymize"),
                   ("PHONE", PHONE, "pseudonymize"), ("CARD", CARD, "mask"),
                   ("IBAN", IBAN, "mask")}
    # JSONL: one answer per line, errors per line, byte offsets with non-ASCII text
    lines = "\n".join([json.dumps({"text": f"Grüße von {EMAIL}"}), "{not json",
                       json.dumps({"text": 5}), json.dumps(["text"]),
                       json.dumps({"text": "nothing here"})]) + "\n"
    p = sgtest.run(["redact", "--jsonl"], stdin=lines)
    assert p.returncode == 1
    out = [json.loads(l) for l in p.stdout.splitlines()]
    assert len(out) == 5
    f = out[0]["findings"][0]
    assert f["type"] == "EMAIL"
    assert f"Grüße von {EMAIL}".encode()[f["start"]:f["end"]].decode() == EMAIL
    assert out[1]["line"] == 2 and "not JSON" in out[1]["error"]
    assert out[2]["line"] == 3 and "must be a string" in out[2]["error"]
    assert out[3]["line"] == 4 and "object" in out[3]["error"]
    assert out[4] == {"text": "nothing here", "findings": []}
    # usage errors and a block
    assert sgtest.run(["redact", "--bogus"]).returncode == 2
    assert sgtest.run(["redact", "--jsonl", "--report", "x"]).returncode == 2


def test_wordpress_source_and_user_are_logged_when_safe(gateway):
    body = {"model": "assistant", "messages": [{"role": "user", "content": "hi"}]}
    st, _, _ = gateway.post("/v1/chat/completions", body,
                            headers={"X-Sovgate-Source": "ai-engine",
                                     "X-Sovgate-User": "9f86d081884c7d65"})
    assert st == 200
    gateway.wait_log(lambda j: j.get("event") == "request" and j.get("source") == "ai-engine" and
                     j.get("wp_user") == "9f86d081884c7d65")
    m = gateway.mark()
    st, _, _ = gateway.post("/v1/chat/completions", body,
                            headers={"X-Sovgate-Source": "evil\"},{\"x", "X-Sovgate-User": "u" * 100})
    assert st == 200
    line = gateway.wait_log(lambda j: j.get("event") == "request", since=m)
    assert "source" not in line and "wp_user" not in line


# ---- streamed answers from a scripted backend: every text a chunk can carry ----

MADE_UP_CARD = "5500 0000 0000 0004"


def scripted_sse_backend(make_events):
    """A backend that answers every completion with the SSE events make_events(surrogate)
    returns (dicts as JSON, bytes as they are; a whole "chat.completion" is left out), where
    surrogate is the e-mail's surrogate in the request it received; non-streamed requests get
    the first of them whole."""
    from test_upstream import RawBackend
    import re

    def handler(i, n, req):
        if b"/health" in req.split(b"\r\n")[0]:
            return b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}", False
        body = req.partition(b"\r\n\r\n")[2]
        m = re.search(rb"EMAIL_[0-9A-Z]{6}", body)
        events = make_events(m.group(0).decode() if m else "EMAIL_NONE")
        if not json.loads(body).get("stream"):
            out, ct = json.dumps(events[0]).encode(), b"application/json"
        else:
            out, ct = b"", b"text/event-stream"
            for e in events:
                if isinstance(e, dict) and e.get("object") == "chat.completion":
                    continue
                out += b"data: " + (e if isinstance(e, bytes) else json.dumps(e).encode())
                out += b"\n\n"
        return (b"HTTP/1.1 200 OK\r\nContent-Type: " + ct + b"\r\nContent-Length: " +
                str(len(out)).encode() + b"\r\n\r\n" + out), False
    return RawBackend(handler)


def scripted_gateway(make_gateway, backend):
    return make_gateway(backends=[{"name": "raw", "url": backend.url, "health_path": "/health"}],
                        routes=[{"model": "assistant", "backends": ["raw"]}])


def chunk(*choices, **top):
    return {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "m",
            "choices": list(choices), **top}


def delta(index, finish=None, **d):
    return {"index": index, "delta": d, "finish_reason": finish}


def assert_clean(body):
    raw = body.decode()
    assert "EMAIL_" not in raw, raw
    assert "5500" not in raw, raw


def test_streamed_function_call_refusal_and_reasoning_are_restored_and_scanned(make_gateway):
    # the legacy function_call's arguments, a refusal and the reasoning text are answer text
    # like the content: surrogates (even split across events) restored, made-up values masked
    def events(s):
        return [chunk(delta(0, role="assistant", function_call={"name": "f", "arguments": ""})),
                chunk(delta(0, function_call={"arguments": '{"to": "' + s[:8]})),
                chunk(delta(0, function_call={"arguments": s[8:] + '", "card": "5500 0000'})),
                chunk(delta(0, function_call={"arguments": ' 0000 0004"}'})),
                chunk(delta(1, reasoning_content=f"card {MADE_UP_CARD}, mail {s[:3]}"),
                      delta(2, refusal=f"I cannot write to {s[:9]}")),
                chunk(delta(1, reasoning_content=s[3:]), delta(2, refusal=s[9:] + ".")),
                chunk(delta(0, "function_call"), delta(1, "stop"), delta(2, "stop")),
                b"[DONE]"]
    b = scripted_sse_backend(events)
    try:
        g = scripted_gateway(make_gateway, b)
        st, _, body = g.chat(f"mail {EMAIL}", stream=True, n=3)
        assert st == 200, body
        assert_clean(body)
        ev = sgtest.sse_events(body)
        assert ev[-1] == "[DONE]"
        args = reasoning = refusal = ""
        for e in ev[:-1]:
            for c in json.loads(e)["choices"]:
                d = c.get("delta") or {}
                args += (d.get("function_call") or {}).get("arguments", "")
                reasoning += d.get("reasoning_content") or ""
                refusal += d.get("refusal") or ""
        assert json.loads(args) == {"to": EMAIL, "card": "[CARD]"}
        assert reasoning == f"card [CARD], mail {EMAIL}"
        assert refusal == f"I cannot write to {EMAIL}."
    finally:
        b.close()


def test_whole_answer_refusal_and_reasoning_are_restored_and_scanned(make_gateway):
    def events(s):
        return [{"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "m",
                 "choices": [{"index": 0, "finish_reason": "stop", "message": {
                     "role": "assistant", "content": None,
                     "refusal": f"Not to {s}", "reasoning_content": f"{s} {MADE_UP_CARD}"}}]}]
    b = scripted_sse_backend(events)
    try:
        g = scripted_gateway(make_gateway, b)
        st, _, body = g.chat(f"mail {EMAIL}")
        assert st == 200, body
        assert_clean(body)
        m = json.loads(body)["choices"][0]["message"]
        assert m["refusal"] == f"Not to {EMAIL}"
        assert m["reasoning_content"] == f"{EMAIL} [CARD]"
    finally:
        b.close()


def test_logprobs_do_not_carry_what_the_output_scan_masks(make_gateway):
    # token log-probabilities repeat the answer token by token: a value spread over tokens
    # cannot be masked there, so they are not passed on while redaction is on
    def lp(*tokens):
        return {"content": [{"token": t, "logprob": -0.1, "bytes": list(t.encode()),
                             "top_logprobs": [{"token": t, "logprob": -0.1}]} for t in tokens]}

    def events(s):
        return [{"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "m",
                 "choices": [{"index": 0, "finish_reason": "stop",
                              "message": {"role": "assistant", "content": f"{MADE_UP_CARD} {s}"},
                              "logprobs": lp("5500", " 0000 0000 0004", " " + s)}]},
                chunk({"index": 0, "delta": {"content": f"{MADE_UP_CARD} "},
                       "logprobs": lp("5500", " 0000 0000 0004"), "finish_reason": None}),
                chunk({"index": 0, "delta": {"content": s}, "logprobs": lp(" " + s),
                       "finish_reason": "stop"}),
                b"[DONE]"]
    b = scripted_sse_backend(events)
    try:
        g = scripted_gateway(make_gateway, b)
        st, _, body = g.chat(f"mail {EMAIL}", logprobs=True, top_logprobs=1)
        assert st == 200, body
        assert_clean(body)
        assert json.loads(body)["choices"][0]["message"]["content"] == f"[CARD] {EMAIL}"
        st, _, body = g.chat(f"mail {EMAIL}", stream=True, logprobs=True, top_logprobs=1)
        assert st == 200, body
        assert_clean(body)
        assert sgtest.stream_text(sgtest.sse_events(body)) == f"[CARD] {EMAIL}"
    finally:
        b.close()


def test_error_event_from_the_backend_is_restored_and_scanned(make_gateway):
    # a backend that fails mid-stream with an error event (vLLM sends one, then [DONE]): its
    # message is answer text too; the choice it cut off gets no malformed closing chunk
    def events(s):
        return [chunk(delta(0, role="assistant", content="Hello")),
                {"error": {"message": f"cannot go on for {s} with {MADE_UP_CARD}",
                           "type": "BadRequestError", "code": 400}},
                b"[DONE]"]
    b = scripted_sse_backend(events)
    try:
        g = scripted_gateway(make_gateway, b)
        st, _, body = g.chat(f"mail {EMAIL}", stream=True)
        assert st == 200, body
        assert_clean(body)
        ev = sgtest.sse_events(body)
        assert ev[-1] == "[DONE]"
        chunks = [json.loads(e) for e in ev[:-1]]
        errs = [c["error"] for c in chunks if "error" in c]
        assert len(errs) == 1
        assert errs[0]["message"] == f"cannot go on for {EMAIL} with [CARD]"
        for c in chunks:
            if "error" not in c:
                assert c["id"] == "chatcmpl-1"
                for ch in c["choices"]:
                    assert "delta" in ch, c
    finally:
        b.close()


def test_backend_error_answer_is_restored_and_scanned(make_gateway):
    """A backend's error answer (a 4xx, passed on to the client) may quote the request it
    got, with its surrogates, or text the model wrote: its message is restored and
    output-scanned like an answer."""
    from test_upstream import RawBackend
    import re

    def handler(i, n, req):
        if b"/health" in req.split(b"\r\n")[0]:
            return b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}", False
        m = re.search(rb"EMAIL_[0-9A-Z]{6}", req.partition(b"\r\n\r\n")[2])
        s = m.group(0).decode() if m else "EMAIL_NONE"
        out = json.dumps({"error": {"message": f"bad input near {s} and {MADE_UP_CARD}",
                                    "type": "invalid_request_error", "code": "bad"}}).encode()
        return (b"HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\n"
                b"Content-Length: " + str(len(out)).encode() + b"\r\n\r\n" + out), False
    b = RawBackend(handler)
    try:
        g = scripted_gateway(make_gateway, b)
        st, _, body = g.chat(f"mail {EMAIL}")
        assert st == 400, body
        assert_clean(body)
        assert json.loads(body)["error"]["message"] == f"bad input near {EMAIL} and [CARD]"
    finally:
        b.close()
