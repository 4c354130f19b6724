/* Anthropic Messages <-> OpenAI chat completions. */
#include "api/dialect.h"
#include "api/dialect_int.h"
#include "core/crypto.h"
#include "core/error.h"
#include "core/json.h"

#include <stdio.h>
#include <string.h>

/* ---- request ---- */

static json_t *fail(struct sg_api_error *e, const char *param, const char *msg)
{
    sg_api_error_set(e, 400, "invalid_request_error", "invalid_value", param, "%s", msg);
    return NULL;
}

/* The text of a string or of an array of text blocks, joined by blank lines. NULL when the
 * value is neither. */
static json_t *text_of(const json_t *v)
{
    if (json_is_string(v))
        return json_copy((json_t *)v);
    if (!json_is_array(v))
        return NULL;
    struct sg_buf b;
    sg_buf_init(&b, 64u << 20);
    size_t i;
    const json_t *blk;
    json_array_foreach(v, i, blk)
    {
        const json_t *t = json_object_get(blk, "text");
        if (!json_is_string(t)) {
            sg_buf_free(&b);
            return NULL;
        }
        if (b.len)
            sg_buf_append(&b, "\n\n", 2);
        sg_buf_append(&b, json_string_value(t), json_string_length(t));
    }
    json_t *s = json_stringn(b.data ? b.data : "", b.len);
    sg_buf_free(&b);
    return s;
}

/* A user or assistant message with block content -> one or more OpenAI messages. */
static int blocks(json_t *out, const char *role, const json_t *content, size_t mi,
                  struct sg_api_error *e)
{
    char p[96];
    json_t *parts = json_array(), *calls = json_array();
    size_t i;
    const json_t *b;
    json_array_foreach(content, i, b)
    {
        const char *type = json_string_value(json_object_get(b, "type"));
        snprintf(p, sizeof(p), "messages[%zu].content[%zu]", mi, i);
        if (!type) {
            fail(e, p, "Each content block needs a type.");
            goto bad;
        }
        if (strcmp(type, "text") == 0) {
            const json_t *t = json_object_get(b, "text");
            if (!json_is_string(t)) {
                fail(e, p, "A text block needs a string text.");
                goto bad;
            }
            json_array_append_new(parts, json_pack("{s:s,s:O}", "type", "text", "text", t));
        } else if (strcmp(type, "image") == 0) {
            const json_t *src = json_object_get(b, "source");
            const char *st = json_string_value(json_object_get(src, "type"));
            json_t *url = NULL;
            if (st && strcmp(st, "base64") == 0) {
                const char *mt = json_string_value(json_object_get(src, "media_type"));
                const char *data = json_string_value(json_object_get(src, "data"));
                if (mt && data) {
                    struct sg_buf u;
                    sg_buf_init(&u, 64u << 20);
                    sg_buf_printf(&u, "data:%s;base64,", mt);
                    sg_buf_append(&u, data, strlen(data));
                    url = json_stringn(u.data, u.len);
                    sg_buf_free(&u);
                }
            } else if (st && strcmp(st, "url") == 0 &&
                       json_is_string(json_object_get(src, "url"))) {
                url = json_copy(json_object_get(src, "url"));
            }
            if (!url) {
                fail(e, p, "An image block needs a base64 or url source.");
                goto bad;
            }
            json_array_append_new(
                parts, json_pack("{s:s,s:{s:o}}", "type", "image_url", "image_url", "url", url));
        } else if (strcmp(type, "tool_use") == 0) {
            const json_t *id = json_object_get(b, "id"), *name = json_object_get(b, "name");
            const json_t *input = json_object_get(b, "input");
            if (!json_is_string(id) || !json_is_string(name) || !json_is_object(input)) {
                fail(e, p, "A tool_use block needs id, name and an input object.");
                goto bad;
            }
            json_t *args = sg_dialect_json_string(input);
            json_array_append_new(calls, json_pack("{s:O,s:s,s:{s:O,s:o}}", "id", id, "type",
                                                   "function", "function", "name", name,
                                                   "arguments", args ? args : json_string("{}")));
        } else if (strcmp(type, "tool_result") == 0) {
            const json_t *id = json_object_get(b, "tool_use_id");
            const json_t *c = json_object_get(b, "content");
            json_t *text = c ? text_of(c) : json_string("");
            if (!json_is_string(id) || !text) {
                json_decref(text);
                fail(e, p, "A tool_result block needs tool_use_id and string or text content.");
                goto bad;
            }
            json_array_append_new(out, json_pack("{s:s,s:O,s:o}", "role", "tool", "tool_call_id",
                                                 id, "content", text));
        } else {
            char msg[128];
            snprintf(msg, sizeof(msg), "Content blocks of type \"%.32s\" are not supported.", type);
            fail(e, p, msg);
            goto bad;
        }
    }
    if (json_array_size(parts) || json_array_size(calls)) {
        json_t *m = json_pack("{s:s}", "role", role);
        if (json_array_size(parts))
            json_object_set(m, "content", parts);
        else
            json_object_set_new(m, "content", json_null());
        if (json_array_size(calls))
            json_object_set(m, "tool_calls", calls);
        json_array_append_new(out, m);
    }
    json_decref(parts);
    json_decref(calls);
    return 0;
bad:
    json_decref(parts);
    json_decref(calls);
    return -1;
}

static int copy_num(json_t *out, const char *to, const json_t *in, const char *from,
                    struct sg_api_error *e)
{
    const json_t *v = json_object_get(in, from);
    if (!v)
        return 0;
    if (!json_is_number(v)) {
        char msg[96];
        snprintf(msg, sizeof(msg), "%s must be a number.", from);
        fail(e, from, msg);
        return -1;
    }
    json_object_set(out, to, (json_t *)v);
    return 0;
}

static json_t *tools_of(const json_t *tools, struct sg_api_error *e)
{
    json_t *out = json_array();
    size_t i;
    const json_t *t;
    json_array_foreach(tools, i, t)
    {
        const json_t *name = json_object_get(t, "name");
        const json_t *schema = json_object_get(t, "input_schema");
        const json_t *desc = json_object_get(t, "description");
        if (!json_is_string(name) || !json_is_object(schema)) {
            json_decref(out);
            return fail(e, "tools", "Each tool needs a name and an input_schema object.");
        }
        json_t *fn = json_pack("{s:O,s:O}", "name", name, "parameters", schema);
        if (json_is_string(desc))
            json_object_set(fn, "description", (json_t *)desc);
        json_array_append_new(out, json_pack("{s:s,s:o}", "type", "function", "function", fn));
    }
    return out;
}

json_t *sg_anthropic_request(const json_t *in, struct sg_api_error *e)
{
    if (!json_is_object(in))
        return fail(e, NULL, "The request body must be a JSON object.");
    const json_t *model = json_object_get(in, "model");
    const json_t *msgs = json_object_get(in, "messages");
    const json_t *maxt = json_object_get(in, "max_tokens");
    if (!json_is_string(model))
        return fail(e, "model", "model: a string is required.");
    if (!json_is_array(msgs) || json_array_size(msgs) == 0)
        return fail(e, "messages", "messages: a non-empty array is required.");
    if (!json_is_integer(maxt) || json_integer_value(maxt) < 1)
        return fail(e, "max_tokens", "max_tokens: a positive integer is required.");
    json_t *out = json_pack("{s:O,s:O}", "model", model, "max_tokens", maxt);
    json_t *om = json_array();
    json_object_set_new(out, "messages", om);
    const json_t *sys = json_object_get(in, "system");
    if (sys) {
        json_t *t = text_of(sys);
        if (!t) {
            json_decref(out);
            return fail(e, "system", "system must be a string or an array of text blocks.");
        }
        json_array_append_new(om, json_pack("{s:s,s:o}", "role", "system", "content", t));
    }
    size_t i;
    const json_t *m;
    json_array_foreach(msgs, i, m)
    {
        const char *role = json_string_value(json_object_get(m, "role"));
        const json_t *c = json_object_get(m, "content");
        char p[64];
        snprintf(p, sizeof(p), "messages[%zu]", i);
        if (!role || (strcmp(role, "user") != 0 && strcmp(role, "assistant") != 0)) {
            json_decref(out);
            return fail(e, p, "Each message needs the role \"user\" or \"assistant\".");
        }
        if (json_is_string(c)) {
            json_array_append_new(om, json_pack("{s:s,s:O}", "role", role, "content", c));
        } else if (json_is_array(c)) {
            if (blocks(om, role, c, i, e) != 0) {
                json_decref(out);
                return NULL;
            }
        } else {
            json_decref(out);
            return fail(e, p, "content must be a string or an array of content blocks.");
        }
    }
    const json_t *stop = json_object_get(in, "stop_sequences");
    if (stop) {
        if (!json_is_array(stop)) {
            json_decref(out);
            return fail(e, "stop_sequences", "stop_sequences must be an array of strings.");
        }
        json_object_set(out, "stop", (json_t *)stop);
    }
    if (copy_num(out, "temperature", in, "temperature", e) ||
        copy_num(out, "top_p", in, "top_p", e) || copy_num(out, "top_k", in, "top_k", e)) {
        json_decref(out);
        return NULL;
    }
    const json_t *stream = json_object_get(in, "stream");
    if (stream && !json_is_boolean(stream)) {
        json_decref(out);
        return fail(e, "stream", "stream must be a boolean.");
    }
    if (json_is_true(stream))
        json_object_set_new(out, "stream", json_true());
    const json_t *tools = json_object_get(in, "tools");
    if (tools) {
        json_t *t = json_is_array(tools) ? tools_of(tools, e)
                                         : fail(e, "tools",
                                                "tools must be "
                                                "an array.");
        if (!t) {
            json_decref(out);
            return NULL;
        }
        json_object_set_new(out, "tools", t);
    }
    const json_t *tc = json_object_get(in, "tool_choice");
    const char *tct = json_string_value(json_object_get(tc, "type"));
    if (tct && strcmp(tct, "auto") == 0)
        json_object_set_new(out, "tool_choice", json_string("auto"));
    else if (tct && strcmp(tct, "any") == 0)
        json_object_set_new(out, "tool_choice", json_string("required"));
    else if (tct && strcmp(tct, "none") == 0)
        json_object_set_new(out, "tool_choice", json_string("none"));
    else if (tct && strcmp(tct, "tool") == 0 && json_is_string(json_object_get(tc, "name")))
        json_object_set_new(out, "tool_choice",
                            json_pack("{s:s,s:{s:O}}", "type", "function", "function", "name",
                                      json_object_get(tc, "name")));
    const json_t *uid = json_object_get(json_object_get(in, "metadata"), "user_id");
    if (json_is_string(uid))
        json_object_set(out, "user", (json_t *)uid);
    return out;
}

/* ---- answers ---- */

static const char *stop_reason(const char *finish)
{
    if (!finish)
        return "end_turn";
    if (strcmp(finish, "length") == 0)
        return "max_tokens";
    if (strcmp(finish, "tool_calls") == 0 || strcmp(finish, "function_call") == 0)
        return "tool_use";
    if (strcmp(finish, "content_filter") == 0)
        return "refusal";
    return "end_turn";
}

static void make_id(char out[64])
{
    uint8_t r[12];
    char hex[25];
    sg_random_bytes(r, sizeof(r));
    sg_hex_encode(r, sizeof(r), hex);
    snprintf(out, 64, "msg_%s", hex);
}

static json_t *input_of(const char *args)
{
    json_t *j = args ? sg_json_parse(args, strlen(args), 0, NULL) : NULL;
    if (!json_is_object(j)) {
        json_decref(j);
        j = json_object();
    }
    return j;
}

json_t *sg_anthropic_response(const json_t *completion, const char *model)
{
    const json_t *ch = json_array_get(json_object_get(completion, "choices"), 0);
    const json_t *msg = json_object_get(ch, "message");
    json_t *content = json_array();
    const json_t *text = json_object_get(msg, "content");
    if (json_is_string(text) && json_string_length(text))
        json_array_append_new(content, json_pack("{s:s,s:O}", "type", "text", "text", text));
    size_t i;
    const json_t *call;
    json_array_foreach(json_object_get(msg, "tool_calls"), i, call)
    {
        const json_t *fn = json_object_get(call, "function");
        json_array_append_new(
            content,
            json_pack("{s:s,s:O,s:O,s:o}", "type", "tool_use", "id", json_object_get(call, "id"),
                      "name", json_object_get(fn, "name"), "input",
                      input_of(json_string_value(json_object_get(fn, "arguments")))));
    }
    char id[64];
    make_id(id);
    const json_t *u = json_object_get(completion, "usage");
    return json_pack("{s:s,s:s,s:s,s:s,s:o,s:s,s:n,s:{s:I,s:I}}", "id", id, "type", "message",
                     "role", "assistant", "model", model, "content", content, "stop_reason",
                     stop_reason(json_string_value(json_object_get(ch, "finish_reason"))),
                     "stop_sequence", "usage", "input_tokens",
                     json_integer_value(json_object_get(u, "prompt_tokens")), "output_tokens",
                     json_integer_value(json_object_get(u, "completion_tokens")));
}

/* ---- streams ---- */

static int event(struct sg_buf *out, const char *type, json_t *data)
{
    int rc = data ? 0 : SG_ENOMEM;
    rc = rc ? rc : sg_buf_printf(out, "event: %s\ndata: ", type);
    rc = rc ? rc : sg_json_dump(data, out);
    rc = rc ? rc : sg_buf_append(out, "\n\n", 2);
    json_decref(data);
    return rc;
}

void sg_anthropic_stream_init(struct sg_anthropic_stream *s, const char *model)
{
    memset(s, 0, sizeof(*s));
    s->open = -1;
    s->open_tool = -1;
    make_id(s->id);
    snprintf(s->model, sizeof(s->model), "%s", model ? model : "");
}

static int start(struct sg_anthropic_stream *s, struct sg_buf *out)
{
    if (s->started)
        return 0;
    s->started = true;
    int rc =
        event(out, "message_start",
              json_pack("{s:s,s:{s:s,s:s,s:s,s:s,s:[],s:n,s:n,s:{s:I,s:i}}}", "type",
                        "message_start", "message", "id", s->id, "type", "message", "role",
                        "assistant", "model", s->model, "content", "stop_reason", "stop_sequence",
                        "usage", "input_tokens", (json_int_t)s->input_tokens, "output_tokens", 0));
    return rc ? rc : event(out, "ping", json_pack("{s:s}", "type", "ping"));
}

static int close_block(struct sg_anthropic_stream *s, struct sg_buf *out)
{
    if (s->open < 0)
        return 0;
    int rc = event(out, "content_block_stop",
                   json_pack("{s:s,s:i}", "type", "content_block_stop", "index", s->open));
    s->open = -1;
    s->open_tool = -1;
    return rc;
}

int sg_anthropic_stream_chunk(struct sg_anthropic_stream *s, const json_t *chunk,
                              struct sg_buf *out)
{
    const json_t *u = json_object_get(chunk, "usage");
    if (json_is_object(u)) {
        s->input_tokens = json_integer_value(json_object_get(u, "prompt_tokens"));
        s->output_tokens = json_integer_value(json_object_get(u, "completion_tokens"));
    }
    const json_t *ch = json_array_get(json_object_get(chunk, "choices"), 0);
    if (!ch)
        return 0;
    int rc = start(s, out);
    const json_t *delta = json_object_get(ch, "delta");
    const json_t *text = json_object_get(delta, "content");
    if (!rc && json_is_string(text) && json_string_length(text)) {
        if (s->open >= 0 && s->open_tool >= 0)
            rc = close_block(s, out);
        if (!rc && s->open < 0) {
            s->open = s->next++;
            rc = event(out, "content_block_start",
                       json_pack("{s:s,s:i,s:{s:s,s:s}}", "type", "content_block_start", "index",
                                 s->open, "content_block", "type", "text", "text", ""));
        }
        rc = rc ? rc
                : event(out, "content_block_delta",
                        json_pack("{s:s,s:i,s:{s:s,s:O}}", "type", "content_block_delta", "index",
                                  s->open, "delta", "type", "text_delta", "text", text));
    }
    size_t i;
    const json_t *call;
    json_array_foreach(json_object_get(delta, "tool_calls"), i, call)
    {
        if (rc)
            break;
        int ti = (int)json_integer_value(json_object_get(call, "index"));
        const json_t *fn = json_object_get(call, "function");
        if (s->open < 0 || s->open_tool != ti) {
            rc = close_block(s, out);
            const json_t *id = json_object_get(call, "id"), *name = json_object_get(fn, "name");
            s->open = s->next++;
            s->open_tool = ti;
            rc = rc ? rc
                    : event(
                          out, "content_block_start",
                          json_pack("{s:s,s:i,s:{s:s,s:s,s:s,s:{}}}", "type", "content_block_start",
                                    "index", s->open, "content_block", "type", "tool_use", "id",
                                    json_is_string(id) ? json_string_value(id) : "toolu_0", "name",
                                    json_is_string(name) ? json_string_value(name) : "", "input"));
        }
        const json_t *args = json_object_get(fn, "arguments");
        if (!rc && json_is_string(args) && json_string_length(args))
            rc = event(out, "content_block_delta",
                       json_pack("{s:s,s:i,s:{s:s,s:O}}", "type", "content_block_delta", "index",
                                 s->open, "delta", "type", "input_json_delta", "partial_json",
                                 args));
    }
    const char *finish = json_string_value(json_object_get(ch, "finish_reason"));
    if (!rc && finish)
        snprintf(s->stop_reason, sizeof(s->stop_reason), "%s", stop_reason(finish));
    return rc;
}

int sg_anthropic_stream_end(struct sg_anthropic_stream *s, struct sg_buf *out)
{
    int rc = start(s, out);
    rc = rc ? rc : close_block(s, out);
    rc = rc ? rc
            : event(out, "message_delta",
                    json_pack("{s:s,s:{s:s,s:n},s:{s:I}}", "type", "message_delta", "delta",
                              "stop_reason", s->stop_reason[0] ? s->stop_reason : "end_turn",
                              "stop_sequence", "usage", "output_tokens",
                              (json_int_t)s->output_tokens));
    return rc ? rc : event(out, "message_stop", json_pack("{s:s}", "type", "message_stop"));
}

static const char *error_type(int status)
{
    switch (status) {
    case 400:
    case 404:
        return status == 400 ? "invalid_request_error" : "not_found_error";
    case 401:
        return "authentication_error";
    case 403:
        return "permission_error";
    case 413:
        return "request_too_large";
    case 429:
        return "rate_limit_error";
    case 503:
    case 529:
        return "overloaded_error";
    default:
        return status >= 500 ? "api_error" : "invalid_request_error";
    }
}

static json_t *error_obj(const struct sg_api_error *e)
{
    return json_pack("{s:s,s:{s:s,s:s}}", "type", "error", "error", "type", error_type(e->status),
                     "message", e->message);
}

int sg_anthropic_stream_error(struct sg_anthropic_stream *s, const struct sg_api_error *e,
                              struct sg_buf *out)
{
    (void)s;
    return event(out, "error", error_obj(e));
}

int sg_anthropic_error(const struct sg_api_error *e, struct sg_buf *out)
{
    json_t *o = error_obj(e);
    int rc = o ? sg_json_dump(o, out) : SG_ENOMEM;
    json_decref(o);
    return rc;
}
