"""Tools and structured output on the real sovgate-engine (src/engine/schema_gbnf.c,
tools.c), with models made at test time by sovgate-mkmodel (random weights, real
tokenizers), so the model itself never "wants" to produce JSON: only the grammar makes it.

- 1,000 schema-constrained samples (a nested object with an enum and an integer range, an
  array of objects, anyOf, a $ref with a date format and a type list) all parse and validate
  against their schema with python3-jsonschema, a validator nobody here wrote. They run
  straight on the engine's socket (four slots, four clients) with a model with the 32,000
  token llama-spm vocabulary: llama.cpp's grammar sampler looks at every token of the
  vocabulary whenever a random model's first choice does not fit, so a small vocabulary
  keeps the run short. max_tokens is at least the longest answer the schema admits (every
  token adds at least one byte), so every answer ends with finish_reason "stop".
- Through the gateway (the qwen2 tiny model, the vocabulary of real Qwen models): tool
  calls come back in OpenAI's shape streamed and not, for tool_choice auto, required,
  named and none; tool results and earlier calls in the history are accepted; a truncated
  answer says "length"; unsupported schema keywords answer 400 naming the keyword.
SG_SCHEMA_SAMPLES overrides the number of samples (default 1000; 100 with an ASan build:
`make test-integration` runs this test again on the release build with the full 1,000)."""

import json
import os
import subprocess
import threading
import time

import pytest

import sgtest
from test_engine import ENGINE, MKMODEL, Engine, engine_call, events_of

jsonschema = pytest.importorskip("jsonschema")

pytestmark = pytest.mark.skipif(
    not (os.path.exists(MKMODEL) and os.path.exists(ENGINE)),
    reason="sovgate-engine / sovgate-mkmodel not built (run scripts/fetch-llama)")

# In an ASan build llama.cpp's grammar sampler, which allocates for every vocabulary entry
# it checks, runs on ASan's allocator and is about four times slower: 100 samples there
# (the plain build runs 1,000).
SAMPLES = int(os.environ.get("SG_SCHEMA_SAMPLES", "100" if sgtest.sanitized(ENGINE) else "1000"))

WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "The weather in a city.",
    "parameters": {"type": "object", "properties": {
        "city": {"type": "string", "maxLength": 12},
        "unit": {"enum": ["celsius", "fahrenheit"]}},
        "required": ["city", "unit"], "additionalProperties": False}}}
STOCK = {"type": "function", "function": {
    "name": "check_stock", "parameters": {"type": "object", "properties": {
        "sku": {"type": "string", "maxLength": 6}, "qty": {"type": "integer", "minimum": 1,
                                                          "maximum": 50}},
        "required": ["sku"]}}}

# (schema, the longest answer in bytes: each character of a string counts 4 bytes)
SCHEMAS = [
    ({"type": "object", "properties": {
        "product": {"type": "object", "properties": {
            "name": {"type": "string", "maxLength": 6},
            "color": {"enum": ["red", "green", "blue"]}},
            "required": ["name", "color"], "additionalProperties": False},
        "qty": {"type": "integer", "minimum": 1, "maximum": 99},
        "gift": {"type": "boolean"}},
        "required": ["product", "qty"], "additionalProperties": False}, 100),
    ({"type": "array", "items": {"type": "object", "properties": {
        "sku": {"type": "string", "maxLength": 4},
        "n": {"type": "integer", "minimum": -9, "maximum": 9}},
        "required": ["sku", "n"], "additionalProperties": False},
        "minItems": 1, "maxItems": 3}, 120),
    ({"anyOf": [
        {"type": "object", "properties": {"ok": {"const": True}}, "required": ["ok"],
         "additionalProperties": False},
        {"type": "object", "properties": {"error": {"type": "string", "maxLength": 8}},
         "required": ["error"], "additionalProperties": False},
        {"type": "null"}]}, 60),
    ({"$defs": {"day": {"type": "string", "format": "date"}},
      "type": "object", "properties": {
          "when": {"$ref": "#/$defs/day"},
          "note": {"type": ["string", "null"], "maxLength": 5}},
      "required": ["when", "note"], "additionalProperties": False}, 60),
]


# ---- fixtures ----

@pytest.fixture(scope="module")
def models(tmp_path_factory):
    d = tmp_path_factory.mktemp("models")
    tiny, spm = str(d / "tiny.gguf"), str(d / "spm.gguf")
    subprocess.run([MKMODEL, "--preset", "tiny", "--out", tiny], check=True,
                   capture_output=True, timeout=120)
    subprocess.run([MKMODEL, "--vocab", "llama-spm", "--arch", "llama", "--template", "chatml",
                    "--name", "spm", "--out", spm], check=True, capture_output=True, timeout=120)
    return {"tiny": tiny, "spm": spm}


@pytest.fixture(scope="module")
def eng(tmp_path_factory, models):
    e = Engine(str(tmp_path_factory.mktemp("tools")), models["tiny"], parallel=2, ctx=2048,
               tls=False)
    yield e
    e.stop()


@pytest.fixture(scope="module")
def spm(tmp_path_factory, models):
    e = Engine(str(tmp_path_factory.mktemp("spm")), models["spm"], parallel=4, ctx=512,
               tls=False)
    yield e
    e.stop()


def chat_json(eng, **body):
    body.setdefault("model", "assistant")
    st, _, raw = eng.g.post("/v1/chat/completions", body)
    return st, json.loads(raw)


def stream_chunks(eng, **body):
    body.setdefault("model", "assistant")
    st, _, raw = eng.g.post("/v1/chat/completions", dict(body, stream=True))
    assert st == 200, raw
    return events_of(raw)


# ---- 1,000 samples ----

def test_schema_samples_always_validate(spm):
    n_each = max(1, SAMPLES // len(SCHEMAS))
    jobs = [(k, i) for k in range(len(SCHEMAS)) for i in range(n_each)]
    results, errors = [], []
    lock = threading.Lock()

    def worker(part):
        for k, i in part:
            schema, longest = SCHEMAS[k]
            body = {"model": "spm", "messages": [{"role": "user", "content": f"Item {i}"}],
                    "max_tokens": longest, "seed": i * 7 + k,
                    "response_format": {"type": "json_schema",
                                        "json_schema": {"name": f"s{k}", "schema": schema}}}
            st, j = engine_call(spm.sock, "POST", "/v1/chat/completions", body)
            with lock:
                if st != 200:
                    errors.append((k, i, st, j))
                else:
                    results.append((k, j))

    t0 = time.time()
    threads = [threading.Thread(target=worker, args=(jobs[w::4],)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(900)
    elapsed = time.time() - t0
    assert not errors, errors[:3]
    assert len(results) == len(jobs)
    seen = [set() for _ in SCHEMAS]
    for k, j in results:
        c = j["choices"][0]
        text = c["message"]["content"]
        assert c["finish_reason"] == "stop", (k, text, j["usage"])
        value = json.loads(text)  # always parses ...
        jsonschema.validate(value, SCHEMAS[k][0])  # ... and validates
        seen[k].add(text)
    # random weights: the answers really vary (the grammar does not force one answer)
    assert all(len(s) > n_each // 4 for s in seen), [len(s) for s in seen]
    print(f"{len(results)} samples in {elapsed:.1f} s")


def test_json_object_and_truncation(eng):
    st, j = chat_json(eng, messages=[{"role": "user", "content": "JSON please"}],
                      response_format={"type": "json_object"}, max_tokens=300, seed=5)
    assert st == 200, j
    c = j["choices"][0]
    if c["finish_reason"] == "stop":
        assert isinstance(json.loads(c["message"]["content"]), dict)
    else:
        assert c["finish_reason"] == "length"
    # cut short by max_tokens: "length", and only then may the JSON be incomplete
    st, j = chat_json(eng, messages=[{"role": "user", "content": "JSON please"}],
                      response_format={"type": "json_schema", "json_schema": {
                          "name": "n", "schema": {"type": "object", "properties": {
                              "a": {"type": "string", "minLength": 40}}, "required": ["a"]}}},
                      max_tokens=3, seed=1)
    assert st == 200, j
    assert j["choices"][0]["finish_reason"] == "length"
    assert j["choices"][0]["message"]["content"].startswith("{")
    # legacy completions take response_format too
    st, _, raw = eng.g.post("/v1/completions", {
        "model": "assistant", "prompt": "JSON:", "max_tokens": 50, "seed": 3,
        "response_format": {"type": "json_schema", "json_schema": {"name": "n", "schema": {
            "type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"],
            "additionalProperties": False}}}})
    assert st == 200, raw
    c = json.loads(raw)["choices"][0]
    assert c["text"] in ('{"ok":true}', '{"ok":false}') and c["finish_reason"] == "stop", c


def test_schema_errors_name_the_keyword(eng):
    cases = [
        ({"type": "string", "pattern": "^a+$"}, "'pattern'"),
        ({"type": "object", "properties": {"a": {"not": {}}}}, "'not'"),
        ({"$defs": {"n": {"properties": {"n": {"$ref": "#/$defs/n"}}}}, "$ref": "#/$defs/n"},
         "recursive"),
        ({"type": "string", "format": "hostname"}, "hostname"),
        ({"type": "wat"}, "wat"),
    ]
    for schema, needle in cases:
        st, j = chat_json(eng, messages=[{"role": "user", "content": "x"}], max_tokens=4,
                          response_format={"type": "json_schema",
                                           "json_schema": {"name": "n", "schema": schema}})
        assert st == 400, j
        assert j["error"]["param"] == "response_format.json_schema.schema", j
        assert needle in j["error"]["message"], j
    st, j = chat_json(eng, messages=[{"role": "user", "content": "x"}],
                      response_format={"type": "xml"})
    assert st == 400 and j["error"]["param"] == "response_format.type", j
    st, j = chat_json(eng, messages=[{"role": "user", "content": "x"}], tools=[WEATHER],
                      tool_choice={"type": "function", "function": {"name": "nope"}})
    assert st == 400 and j["error"]["param"] == "tool_choice", j
    st, j = chat_json(eng, messages=[{"role": "user", "content": "x"}],
                      tools=[{"type": "function", "function": {"name": "bad name"}}])
    assert st == 400 and j["error"]["param"] == "tools[0].function.name", j


def test_ambiguous_schema_is_refused(eng):
    """Alternatives that can match the same text multiply llama.cpp's parse stacks when they
    nest, and a $ref used at every level nests them without making the grammar larger:
    this schema of a few kilobytes stalled the engine's decode thread (every slot) for
    minutes per token while its memory grew. It is refused at once."""
    defs = {"a0": {"type": "string", "maxLength": 3}}
    for k in range(1, 9):
        defs[f"a{k}"] = {"anyOf": [{"type": "array", "items": {"$ref": f"#/$defs/a{k - 1}"},
                                    "minItems": 1, "maxItems": i} for i in range(1, 5)]}
    t0 = time.time()
    st, j = engine_call(eng.sock, "POST", "/v1/chat/completions", {
        "model": "assistant", "messages": [{"role": "user", "content": "x"}],
        "max_tokens": 12, "response_format": {"type": "json_schema", "json_schema": {
            "name": "n", "schema": {"$defs": defs, "$ref": "#/$defs/a8"}}}})
    assert st == 400, j
    assert j["error"]["param"] == "response_format.json_schema.schema", j
    assert "ways" in j["error"]["message"], j
    tool = {"type": "function", "function": {"name": "deep", "parameters": {
        "$defs": defs, "type": "object", "properties": {"x": {"$ref": "#/$defs/a8"}}}}}
    st, j = chat_json(eng, messages=[{"role": "user", "content": "x"}], max_tokens=12,
                      tools=[tool], tool_choice="required")
    assert st == 400 and j["error"]["param"] == "tools[0].function.parameters", j
    assert time.time() - t0 < 10
    assert eng.stats()["slots_busy"] == 0


def test_characters_of_byte_tokens_are_written(eng):
    """A character that the vocabulary has only as byte tokens (never sampled under a
    grammar: see docs/engine.md) in an enum, a const or a property name is written as its
    JSON escape. Before, the grammar admitted no token there and the answer ended after
    its opening quote with finish_reason "stop"."""
    for value in ["\U0001D11E", "x\U0001F9EC"]:
        st, j = chat_json(eng, messages=[{"role": "user", "content": "x"}], max_tokens=40,
                          temperature=0, response_format={"type": "json_schema", "json_schema": {
                              "name": "n", "schema": {"enum": [value]}}})
        assert st == 200, j
        c = j["choices"][0]
        assert c["finish_reason"] == "stop", c
        assert json.loads(c["message"]["content"]) == value, c
    tool = {"type": "function", "function": {"name": "clef", "parameters": {
        "type": "object", "properties": {"\U0001D11E": {"const": "\U0001F9EC"}},
        "required": ["\U0001D11E"], "additionalProperties": False}}}
    st, j = chat_json(eng, messages=[{"role": "user", "content": "x"}], max_tokens=80,
                      temperature=0, tools=[tool], tool_choice="required")
    assert st == 200, j
    c = j["choices"][0]
    assert c["finish_reason"] == "tool_calls", c
    call = c["message"]["tool_calls"][0]
    assert json.loads(call["function"]["arguments"]) == {"\U0001D11E": "\U0001F9EC"}, call


# ---- tool calls ----

def check_call(call, tools):
    assert call["id"].startswith("call_") and call["type"] == "function"
    fn = {t["function"]["name"]: t["function"] for t in tools}[call["function"]["name"]]
    jsonschema.validate(json.loads(call["function"]["arguments"]), fn["parameters"])


def test_tool_calls_required_and_named(eng):
    tools = [WEATHER, STOCK]
    names = set()
    for seed in range(4):
        st, j = chat_json(eng, messages=[{"role": "user", "content": "Weather in Bonn?"}],
                          tools=tools, tool_choice="required", max_tokens=120, seed=seed)
        assert st == 200, j
        c = j["choices"][0]
        assert c["finish_reason"] == "tool_calls", c
        assert c["message"]["content"] is None
        assert len(c["message"]["tool_calls"]) == 1
        check_call(c["message"]["tool_calls"][0], tools)
        names.add(c["message"]["tool_calls"][0]["function"]["name"])
    st, j = chat_json(eng, messages=[{"role": "user", "content": "Stock?"}], tools=tools,
                      tool_choice={"type": "function", "function": {"name": "check_stock"}},
                      max_tokens=120, seed=9)
    assert st == 200, j
    call = j["choices"][0]["message"]["tool_calls"][0]
    assert call["function"]["name"] == "check_stock"
    check_call(call, tools)


def test_tool_choice_none_and_auto(eng):
    st, j = chat_json(eng, messages=[{"role": "user", "content": "Hello"}], tools=[WEATHER],
                      tool_choice="none", max_tokens=8, seed=1)
    assert st == 200, j
    c = j["choices"][0]
    assert "tool_calls" not in c["message"] and isinstance(c["message"]["content"], str)
    assert c["finish_reason"] == "length"
    # auto: either a call in shape, or text that is not a call
    kinds = set()
    for seed in range(6):
        st, j = chat_json(eng, messages=[{"role": "user", "content": "Weather?"}],
                          tools=[WEATHER], max_tokens=80, seed=seed)
        assert st == 200, j
        c = j["choices"][0]
        if c["message"].get("tool_calls"):
            assert c["finish_reason"] in ("tool_calls", "length")
            if c["finish_reason"] == "tool_calls":
                check_call(c["message"]["tool_calls"][0], [WEATHER])
            kinds.add("call")
        else:
            assert not c["message"]["content"].startswith("<")
            kinds.add("text")
        # streamed, the same answer arrives as content or as tool-call deltas, never both
        chunks = stream_chunks(eng, messages=[{"role": "user", "content": "Weather?"}],
                               tools=[WEATHER], max_tokens=80, seed=seed)
        deltas = [x["choices"][0]["delta"] for x in chunks if x["choices"]]
        text = "".join(d.get("content") or "" for d in deltas)
        calls = [d["tool_calls"][0] for d in deltas if d.get("tool_calls")]
        if c["message"].get("tool_calls"):
            assert not text and calls[0]["function"]["name"] == "get_weather"
            assert "".join(x["function"].get("arguments", "") for x in calls) == \
                c["message"]["tool_calls"][0]["function"]["arguments"]
        else:
            assert not calls and text == c["message"]["content"]
    assert kinds


def test_tool_calls_streamed(eng):
    tools = [WEATHER, STOCK]
    body = dict(messages=[{"role": "user", "content": "Weather in Köln?"}], tools=tools,
                tool_choice={"type": "function", "function": {"name": "get_weather"}},
                max_tokens=120, seed=3)
    chunks = stream_chunks(eng, **body)
    st, whole = chat_json(eng, **body)
    assert st == 200
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    assert deltas[0]["role"] == "assistant"
    calls = [d["tool_calls"] for d in deltas if d.get("tool_calls")]
    assert len(calls) >= 2, deltas
    first = calls[0][0]
    assert first["index"] == 0 and first["id"].startswith("call_")
    assert first["type"] == "function" and first["function"]["name"] == "get_weather"
    args = "".join(c[0]["function"].get("arguments", "") for c in calls)
    assert all(c[0]["index"] == 0 and "id" not in c[0] for c in calls[1:])
    assert not any(d.get("content") for d in deltas)
    finish = [c["choices"][0]["finish_reason"] for c in chunks
              if c["choices"] and c["choices"][0]["finish_reason"]]
    assert finish == ["tool_calls"]
    # the same seed gives the same call as the non-streamed answer
    wcall = whole["choices"][0]["message"]["tool_calls"][0]
    assert args == wcall["function"]["arguments"]
    check_call({"id": first["id"], "type": "function",
                "function": {"name": "get_weather", "arguments": args}}, tools)


def test_tool_history_is_rendered(eng):
    history = [
        {"role": "system", "content": "You are the shop assistant."},
        {"role": "user", "content": "Weather in Bonn?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function",
             "function": {"name": "get_weather",
                          "arguments": "{\"city\":\"Bonn\",\"unit\":\"celsius\"}"}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "12 degrees, rain"},
    ]
    st, j = chat_json(eng, messages=history, tools=[WEATHER], max_tokens=6, seed=2)
    assert st == 200, j
    st, k = chat_json(eng, messages=history[:2], tools=[WEATHER], max_tokens=6, seed=2)
    assert st == 200, k
    # the call and its result are part of the prompt
    assert j["usage"]["prompt_tokens"] > k["usage"]["prompt_tokens"] + 20
    # without tools the definitions are not in the prompt
    st, n = chat_json(eng, messages=history[:2], max_tokens=6, seed=2)
    assert st == 200, n
    assert k["usage"]["prompt_tokens"] > n["usage"]["prompt_tokens"] + 50
