/* Answers of the Gemini and Ollama dialects: a chat.completion, an embeddings list or a
 * model list translated into the client's shape, and streamed chat.completion.chunks
 * translated into Gemini's SSE events (or its streamed JSON array) and Ollama's NDJSON
 * lines. Text is passed on as it arrives; tool calls are assembled from their argument
 * deltas and sent whole (both APIs carry a call's arguments as one JSON object), with the
 * finish reason and the usage at the end. */
#include "api/dialect.h"
#include "core/clock.h"
#include "core/crypto.h"
#include "core/error.h"
#include "core/json.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#define MAX_CALLS 64
#define MAX_CALL_ARGS (1u << 20)

void sg_dstream_init(struct sg_dstream *s, const struct sg_endpoint_info *ep, const char *target,
                     size_t target_len, const char *model, uint64_t t0_us)
{
    memset(s, 0, sizeof(*s));
    if (!ep || (ep->dialect != SG_DIALECT_GEMINI && ep->dialect != SG_DIALECT_OLLAMA))
        return;
    s->dialect = ep->dialect;
    s->t0_us = t0_us;
    snprintf(s->model, sizeof(s->model), "%s", model ? model : "");
    uint8_t r[12];
    char hex[25];
    sg_random_bytes(r, sizeof(r));
    sg_hex_encode(r, sizeof(r), hex);
    snprintf(s->id, sizeof(s->id), "%s", hex);
    const char *p = ep->path;
    if (s->dialect == SG_DIALECT_GEMINI) {
        s->op = strstr(p, ":batchEmbedContents") ? SG_DOP_EMBED_BATCH
                : strstr(p, ":embedContent")     ? SG_DOP_EMBED
                                                 : SG_DOP_CHAT;
        size_t vl = 0;
        const char *alt = sg_query_param(target, target_len, "alt", &vl);
        s->frame =
            alt && vl == 3 && memcmp(alt, "sse", 3) == 0 ? SG_DFRAME_SSE : SG_DFRAME_JSON_ARRAY;
    } else {
        s->op = strcmp(p, "/api/generate") == 0     ? SG_DOP_GENERATE
                : strcmp(p, "/api/embed") == 0      ? SG_DOP_EMBED
                : strcmp(p, "/api/embeddings") == 0 ? SG_DOP_EMBED_LEGACY
                                                    : SG_DOP_CHAT;
        s->frame = SG_DFRAME_NDJSON;
    }
}

void sg_dstream_free(struct sg_dstream *s)
{
    json_decref(s->calls);
    s->calls = NULL;
}

const char *sg_dstream_content_type(const struct sg_dstream *s)
{
    if (!s->dialect)
        return NULL;
    return s->frame == SG_DFRAME_SSE          ? "text/event-stream"
           : s->frame == SG_DFRAME_JSON_ARRAY ? "application/json"
                                              : "application/x-ndjson";
}

/* ---- pieces ---- */

static json_t *args_object(const char *args)
{
    json_t *j = args ? sg_json_parse(args, strlen(args), 0, NULL) : NULL;
    if (!json_is_object(j)) {
        json_decref(j);
        j = json_object();
    }
    return j;
}

static const char *gemini_finish(const char *f)
{
    if (f && strcmp(f, "length") == 0)
        return "MAX_TOKENS";
    if (f && strcmp(f, "content_filter") == 0)
        return "SAFETY";
    return "STOP";
}

static const char *ollama_done(const char *f)
{
    return f && strcmp(f, "length") == 0 ? "length" : "stop";
}

static void now_iso(char out[48])
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(out, 48, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, 48 - n, ".%09ldZ", (long)ts.tv_nsec);
}

/* Gemini functionCall parts / Ollama tool_calls from [{id,name,arguments}] (OpenAI's
 * message.tool_calls[].function, or the calls assembled from a stream). */
static json_t *gemini_call(const char *id, const char *name, const char *args)
{
    return json_pack("{s:{s:s,s:s,s:o}}", "functionCall", "id", id ? id : "", "name",
                     name ? name : "", "args", args_object(args));
}

static json_t *ollama_call(const char *name, const char *args)
{
    return json_pack("{s:{s:s,s:o}}", "function", "name", name ? name : "", "arguments",
                     args_object(args));
}

static json_t *usage_meta(int64_t in, int64_t out)
{
    return json_pack("{s:I,s:I,s:I}", "promptTokenCount", (json_int_t)in, "candidatesTokenCount",
                     (json_int_t)out, "totalTokenCount", (json_int_t)(in + out));
}

static json_t *gemini_chunk(struct sg_dstream *s, json_t *parts, const char *finish)
{
    json_t *cand =
        json_pack("{s:{s:o,s:s},s:i}", "content", "parts", parts, "role", "model", "index", 0);
    if (cand && finish)
        json_object_set_new(cand, "finishReason", json_string(finish));
    return json_pack("{s:[o],s:s,s:s}", "candidates", cand, "modelVersion", s->model, "responseId",
                     s->id);
}

static json_t *ollama_line(struct sg_dstream *s, json_t *message, const char *text, bool done)
{
    char ts[48];
    now_iso(ts);
    json_t *o = json_pack("{s:s,s:s}", "model", s->model, "created_at", ts);
    if (!o)
        return NULL;
    if (s->op == SG_DOP_GENERATE)
        json_object_set_new(o, "response", json_string(text ? text : ""));
    else
        json_object_set_new(
            o, "message",
            message ? message
                    : json_pack("{s:s,s:s}", "role", "assistant", "content", text ? text : ""));
    json_object_set_new(o, "done", json_boolean(done));
    return o;
}

static void ollama_totals(struct sg_dstream *s, json_t *o, const char *finish)
{
    uint64_t now = sg_clock_us();
    json_int_t ns = s->t0_us && now > s->t0_us ? (json_int_t)(now - s->t0_us) * 1000 : 0;
    json_object_set_new(o, "done_reason", json_string(ollama_done(finish)));
    json_object_set_new(o, "total_duration", json_integer(ns));
    json_object_set_new(o, "load_duration", json_integer(0));
    json_object_set_new(o, "prompt_eval_count", json_integer((json_int_t)s->input_tokens));
    json_object_set_new(o, "prompt_eval_duration", json_integer(0));
    json_object_set_new(o, "eval_count", json_integer((json_int_t)s->output_tokens));
    json_object_set_new(o, "eval_duration", json_integer(0));
}

/* ---- whole answers ---- */

static json_t *embeddings_of(const json_t *answer)
{
    json_t *out = json_array();
    size_t i;
    const json_t *d;
    json_array_foreach(json_object_get(answer, "data"), i, d)
    {
        const json_t *v = json_object_get(d, "embedding");
        json_array_append_new(out, json_is_array(v) ? json_incref((json_t *)v) : json_array());
    }
    return out;
}

json_t *sg_dstream_response(struct sg_dstream *s, const json_t *answer)
{
    const json_t *u = json_object_get(answer, "usage");
    s->input_tokens = json_integer_value(json_object_get(u, "prompt_tokens"));
    s->output_tokens = json_integer_value(json_object_get(u, "completion_tokens"));
    if (s->op == SG_DOP_EMBED || s->op == SG_DOP_EMBED_BATCH || s->op == SG_DOP_EMBED_LEGACY) {
        json_t *e = embeddings_of(answer);
        if (!e)
            return NULL;
        if (s->dialect == SG_DIALECT_OLLAMA) {
            if (s->op == SG_DOP_EMBED_LEGACY) {
                json_t *first = json_array_get(e, 0);
                json_t *o =
                    json_pack("{s:o}", "embedding", first ? json_incref(first) : json_array());
                json_decref(e);
                return o;
            }
            return json_pack("{s:s,s:o,s:i,s:i,s:I}", "model", s->model, "embeddings", e,
                             "total_duration", 0, "load_duration", 0, "prompt_eval_count",
                             (json_int_t)s->input_tokens);
        }
        if (s->op == SG_DOP_EMBED) {
            json_t *first = json_array_get(e, 0);
            json_t *o = json_pack("{s:{s:o}}", "embedding", "values",
                                  first ? json_incref(first) : json_array());
            json_decref(e);
            return o;
        }
        json_t *list = json_array();
        size_t i;
        json_t *v;
        json_array_foreach(e, i, v)
        {
            json_array_append_new(list, json_pack("{s:O}", "values", v));
        }
        json_decref(e);
        return json_pack("{s:o}", "embeddings", list);
    }
    const json_t *ch = json_array_get(json_object_get(answer, "choices"), 0);
    const json_t *msg = json_object_get(ch, "message");
    const char *finish = json_string_value(json_object_get(ch, "finish_reason"));
    const json_t *text = json_object_get(msg, "content");
    const json_t *calls = json_object_get(msg, "tool_calls");
    size_t i;
    const json_t *c;
    if (s->dialect == SG_DIALECT_GEMINI) {
        json_t *parts = json_array();
        if (json_is_string(text) && json_string_length(text))
            json_array_append_new(parts, json_pack("{s:O}", "text", text));
        json_array_foreach(calls, i, c)
        {
            const json_t *fn = json_object_get(c, "function");
            json_array_append_new(parts,
                                  gemini_call(json_string_value(json_object_get(c, "id")),
                                              json_string_value(json_object_get(fn, "name")),
                                              json_string_value(json_object_get(fn, "arguments"))));
        }
        if (!json_array_size(parts))
            json_array_append_new(parts, json_pack("{s:s}", "text", ""));
        json_t *o = gemini_chunk(s, parts, gemini_finish(finish));
        if (o)
            json_object_set_new(o, "usageMetadata", usage_meta(s->input_tokens, s->output_tokens));
        return o;
    }
    json_t *m = NULL;
    if (s->op == SG_DOP_CHAT) {
        m = json_pack("{s:s,s:s}", "role", "assistant", "content",
                      json_is_string(text) ? json_string_value(text) : "");
        json_t *oc = json_array();
        json_array_foreach(calls, i, c)
        {
            const json_t *fn = json_object_get(c, "function");
            json_array_append_new(oc,
                                  ollama_call(json_string_value(json_object_get(fn, "name")),
                                              json_string_value(json_object_get(fn, "arguments"))));
        }
        if (json_array_size(oc))
            json_object_set(m, "tool_calls", oc);
        json_decref(oc);
    }
    json_t *o = ollama_line(s, m, json_is_string(text) ? json_string_value(text) : "", true);
    if (o)
        ollama_totals(s, o, finish);
    return o;
}

json_t *sg_dialect_models(enum sg_dialect d, const json_t *list)
{
    json_t *models = json_array();
    size_t i;
    const json_t *m;
    json_array_foreach(json_object_get(list, "data"), i, m)
    {
        const char *id = json_string_value(json_object_get(m, "id"));
        if (!id)
            continue;
        if (d == SG_DIALECT_GEMINI) {
            char name[256];
            snprintf(name, sizeof(name), "models/%s", id);
            json_array_append_new(
                models, json_pack("{s:s,s:s,s:s,s:s,s:[s,s,s,s]}", "name", name, "version", "1",
                                  "displayName", id, "description", "Served by sovgate",
                                  "supportedGenerationMethods", "generateContent",
                                  "streamGenerateContent", "embedContent", "batchEmbedContents"));
        } else {
            json_array_append_new(
                models, json_pack("{s:s,s:s,s:s,s:i,s:s,s:{s:s,s:s,s:s,s:s}}", "name", id, "model",
                                  id, "modified_at", "1970-01-01T00:00:00Z", "size", 0, "digest",
                                  "", "details", "format", "", "family", "", "parameter_size", "",
                                  "quantization_level", ""));
        }
    }
    return json_pack("{s:o}", "models", models);
}

/* ---- streams ---- */

static int emit(struct sg_dstream *s, json_t *o, struct sg_buf *out)
{
    int rc = o ? 0 : SG_ENOMEM;
    if (!rc && s->frame == SG_DFRAME_SSE)
        rc = sg_buf_append(out, "data: ", 6);
    else if (!rc && s->frame == SG_DFRAME_JSON_ARRAY)
        rc = s->opened ? sg_buf_append(out, ",\r\n", 3) : sg_buf_append(out, "[", 1);
    s->opened = true;
    rc = rc ? rc : sg_json_dump(o, out);
    if (!rc)
        rc = s->frame == SG_DFRAME_SSE      ? sg_buf_append(out, "\n\n", 2)
             : s->frame == SG_DFRAME_NDJSON ? sg_buf_append(out, "\n", 1)
                                            : 0;
    json_decref(o);
    return rc;
}

/* Adds one tool-call delta to the calls being assembled. */
static int add_call(struct sg_dstream *s, const json_t *call)
{
    json_int_t ix = json_integer_value(json_object_get(call, "index"));
    if (ix < 0 || ix >= MAX_CALLS)
        return SG_ETOOBIG;
    if (!s->calls && !(s->calls = json_array()))
        return SG_ENOMEM;
    while (json_array_size(s->calls) <= (size_t)ix)
        json_array_append_new(s->calls,
                              json_pack("{s:s,s:s,s:s}", "id", "", "name", "", "arguments", ""));
    json_t *c = json_array_get(s->calls, (size_t)ix);
    const json_t *fn = json_object_get(call, "function");
    const json_t *id = json_object_get(call, "id");
    const json_t *name = json_object_get(fn, "name");
    const json_t *args = json_object_get(fn, "arguments");
    if (json_is_string(id) && json_string_length(id))
        json_object_set(c, "id", (json_t *)id);
    if (json_is_string(name) && json_string_length(name))
        json_object_set(c, "name", (json_t *)name);
    if (json_is_string(args) && json_string_length(args)) {
        const json_t *have = json_object_get(c, "arguments");
        size_t hl = json_string_length(have), al = json_string_length(args);
        if (hl + al > MAX_CALL_ARGS)
            return SG_ETOOBIG;
        struct sg_buf b;
        sg_buf_init(&b, MAX_CALL_ARGS);
        int rc = sg_buf_append(&b, json_string_value(have), hl);
        rc = rc ? rc : sg_buf_append(&b, json_string_value(args), al);
        json_t *joined = rc ? NULL : json_stringn(b.data, b.len);
        sg_buf_free(&b);
        if (!joined)
            return rc ? rc : SG_ENOMEM;
        json_object_set_new(c, "arguments", joined);
    }
    return 0;
}

int sg_dstream_chunk(struct sg_dstream *s, const json_t *chunk, struct sg_buf *out)
{
    const json_t *u = json_object_get(chunk, "usage");
    if (json_is_object(u)) {
        s->input_tokens = json_integer_value(json_object_get(u, "prompt_tokens"));
        s->output_tokens = json_integer_value(json_object_get(u, "completion_tokens"));
    }
    const json_t *ch = json_array_get(json_object_get(chunk, "choices"), 0);
    if (!ch)
        return 0;
    const json_t *delta = json_object_get(ch, "delta");
    const json_t *text = json_object_get(delta, "content");
    int rc = 0;
    if (json_is_string(text) && json_string_length(text)) {
        json_t *o = s->dialect == SG_DIALECT_GEMINI
                        ? gemini_chunk(s, json_pack("[{s:O}]", "text", text), NULL)
                        : ollama_line(s, NULL, json_string_value(text), false);
        rc = emit(s, o, out);
    }
    size_t i;
    const json_t *call;
    json_array_foreach(json_object_get(delta, "tool_calls"), i, call)
    {
        if (!rc)
            rc = add_call(s, call);
    }
    const char *finish = json_string_value(json_object_get(ch, "finish_reason"));
    if (!rc && finish)
        snprintf(s->finish, sizeof(s->finish), "%s", finish);
    return rc;
}

int sg_dstream_end(struct sg_dstream *s, struct sg_buf *out)
{
    size_t i;
    const json_t *c;
    int rc;
    const char *finish = s->finish[0] ? s->finish : NULL;
    if (s->dialect == SG_DIALECT_GEMINI) {
        json_t *parts = json_array();
        json_array_foreach(s->calls, i, c)
        {
            json_array_append_new(parts,
                                  gemini_call(json_string_value(json_object_get(c, "id")),
                                              json_string_value(json_object_get(c, "name")),
                                              json_string_value(json_object_get(c, "arguments"))));
        }
        if (!json_array_size(parts))
            json_array_append_new(parts, json_pack("{s:s}", "text", ""));
        json_t *o = gemini_chunk(s, parts, gemini_finish(finish));
        if (o)
            json_object_set_new(o, "usageMetadata", usage_meta(s->input_tokens, s->output_tokens));
        rc = emit(s, o, out);
        if (!rc && s->frame == SG_DFRAME_JSON_ARRAY)
            rc = sg_buf_append(out, "]", 1);
        return rc;
    }
    rc = 0;
    if (json_array_size(s->calls) && s->op == SG_DOP_CHAT) {
        json_t *oc = json_array();
        json_array_foreach(s->calls, i, c)
        {
            json_array_append_new(oc,
                                  ollama_call(json_string_value(json_object_get(c, "name")),
                                              json_string_value(json_object_get(c, "arguments"))));
        }
        rc = emit(s,
                  ollama_line(s,
                              json_pack("{s:s,s:s,s:o}", "role", "assistant", "content", "",
                                        "tool_calls", oc),
                              NULL, false),
                  out);
    }
    json_t *o = ollama_line(s, NULL, "", true);
    if (o)
        ollama_totals(s, o, finish);
    return rc ? rc : emit(s, o, out);
}

int sg_dstream_error(struct sg_dstream *s, const struct sg_api_error *e, struct sg_buf *out)
{
    struct sg_buf b;
    sg_buf_init(&b, 4096);
    int rc = s->dialect == SG_DIALECT_GEMINI ? sg_gemini_error(e, &b) : sg_ollama_error(e, &b);
    if (!rc && s->frame == SG_DFRAME_SSE)
        rc = sg_buf_printf(out, "data: %.*s\n\n", (int)b.len, b.data);
    else if (!rc && s->frame == SG_DFRAME_JSON_ARRAY)
        rc = sg_buf_printf(out, "%s%.*s]", s->opened ? ",\r\n" : "[", (int)b.len, b.data);
    else if (!rc)
        rc = sg_buf_printf(out, "%.*s\n", (int)b.len, b.data);
    sg_buf_free(&b);
    return rc;
}
