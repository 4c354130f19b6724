/* OpenAI Responses <-> OpenAI chat completions. The request is translated into the one
 * internal chat request (so detection, policy, routing, restore and audit run once); the
 * answer, whole or streamed, is translated back into a Response object or its typed
 * events. Conversation state (previous_response_id, store) is kept by the gateway
 * (src/gateway/responses.c); this file only carries the fields. */
#include "api/dialect.h"
#include "core/crypto.h"
#include "core/error.h"
#include "core/json.h"

#include <stdio.h>
#include <string.h>

#define MAX_TEXT (64u << 20)

/* ---- request ---- */

static json_t *fail(struct sg_api_error *e, const char *param, const char *msg)
{
    sg_api_error_set(e, 400, "invalid_request_error", "invalid_value", param, "%s", msg);
    return NULL;
}

static json_t *wrong_type(struct sg_api_error *e, const char *param, const char *what)
{
    sg_api_error_set(e, 400, "invalid_request_error", "invalid_type", param,
                     "Invalid type for '%s': expected %s.", param, what);
    return NULL;
}

static json_t *unsupported(struct sg_api_error *e, const char *param, const char *what)
{
    sg_api_error_set(e, 400, "invalid_request_error", "unsupported_parameter", param,
                     "%s is not supported by this gateway.", what);
    return NULL;
}

/* The text of a string or of an array of text parts (input_text, output_text, text,
 * refusal), joined without separator. NULL when it is neither. */
static json_t *joined_text(const json_t *v)
{
    if (json_is_string(v))
        return json_copy((json_t *)v);
    if (!json_is_array(v))
        return NULL;
    struct sg_buf b;
    sg_buf_init(&b, MAX_TEXT);
    size_t i;
    const json_t *p;
    json_array_foreach(v, i, p)
    {
        const json_t *t = json_object_get(p, "text");
        if (!json_is_string(t))
            t = json_object_get(p, "refusal");
        if (!json_is_string(t) || sg_buf_append(&b, json_string_value(t), json_string_length(t))) {
            sg_buf_free(&b);
            return NULL;
        }
    }
    json_t *s = json_stringn(b.data ? b.data : "", b.len);
    sg_buf_free(&b);
    return s;
}

/* The parts of a user message: text and images. */
static json_t *user_parts(const json_t *content, const char *at, struct sg_api_error *e)
{
    json_t *parts = json_array();
    size_t i;
    const json_t *p;
    char path[128];
    json_array_foreach(content, i, p)
    {
        snprintf(path, sizeof(path), "%s.content[%zu]", at, i);
        const char *type = json_string_value(json_object_get(p, "type"));
        if (!json_is_object(p) || !type) {
            json_decref(parts);
            return fail(e, path, "Each content part needs a type.");
        }
        if (strcmp(type, "input_text") == 0 || strcmp(type, "output_text") == 0 ||
            strcmp(type, "text") == 0) {
            const json_t *t = json_object_get(p, "text");
            if (!json_is_string(t)) {
                json_decref(parts);
                return wrong_type(e, path, "a text part with a string text");
            }
            json_array_append_new(parts, json_pack("{s:s,s:O}", "type", "text", "text", t));
        } else if (strcmp(type, "input_image") == 0) {
            const json_t *url = json_object_get(p, "image_url");
            if (!json_is_string(url)) {
                json_decref(parts);
                return unsupported(e, path, "An input_image without image_url (file_id)");
            }
            json_t *iu = json_pack("{s:O}", "url", url);
            const json_t *detail = json_object_get(p, "detail");
            if (json_is_string(detail))
                json_object_set(iu, "detail", (json_t *)detail);
            json_array_append_new(parts,
                                  json_pack("{s:s,s:o}", "type", "image_url", "image_url", iu));
        } else {
            char msg[128];
            snprintf(msg, sizeof(msg), "Content parts of type \"%.32s\"", type);
            json_decref(parts);
            return unsupported(e, path, msg);
        }
    }
    return parts;
}

/* The assistant message a function_call item joins: the last message when it is an
 * assistant message, else a new one. */
static json_t *assistant_for_call(json_t *msgs)
{
    json_t *last = json_array_get(msgs, json_array_size(msgs) - 1);
    const char *role = json_string_value(json_object_get(last, "role"));
    if (last && role && strcmp(role, "assistant") == 0)
        return last;
    json_t *m = json_pack("{s:s,s:n}", "role", "assistant", "content");
    json_array_append_new(msgs, m);
    return m;
}

static int input_item(json_t *msgs, const json_t *it, size_t i, struct sg_api_error *e)
{
    char at[48];
    snprintf(at, sizeof(at), "input[%zu]", i);
    if (!json_is_object(it)) {
        wrong_type(e, at, "an object");
        return -1;
    }
    const json_t *tv = json_object_get(it, "type");
    if (tv && !json_is_string(tv)) {
        char p[64];
        snprintf(p, sizeof(p), "%s.type", at);
        wrong_type(e, p, "a string");
        return -1;
    }
    const char *type = tv ? json_string_value(tv) : "message";
    if (strcmp(type, "message") == 0) {
        const char *role = json_string_value(json_object_get(it, "role"));
        const json_t *c = json_object_get(it, "content");
        char p[64];
        snprintf(p, sizeof(p), "%s.role", at);
        if (!role || (strcmp(role, "user") && strcmp(role, "assistant") && strcmp(role, "system") &&
                      strcmp(role, "developer"))) {
            fail(e, p, "Each message needs the role user, assistant, system or developer.");
            return -1;
        }
        snprintf(p, sizeof(p), "%s.content", at);
        json_t *content;
        if (json_is_string(c))
            content = json_copy((json_t *)c);
        else if (!json_is_array(c))
            content = wrong_type(e, p, "a string or an array of content parts");
        else if (strcmp(role, "user") == 0)
            content = user_parts(c, at, e);
        else if (!(content = joined_text(c)))
            fail(e, p, "Only text parts are supported in this role.");
        if (!content)
            return -1;
        /* developer messages are system messages to chat backends */
        json_array_append_new(msgs, json_pack("{s:s,s:o}", "role",
                                              strcmp(role, "developer") == 0 ? "system" : role,
                                              "content", content));
        return 0;
    }
    if (strcmp(type, "function_call") == 0) {
        const json_t *id = json_object_get(it, "call_id"), *name = json_object_get(it, "name");
        const json_t *args = json_object_get(it, "arguments");
        if (!json_is_string(id) || !json_is_string(name) || !json_is_string(args)) {
            fail(e, at, "A function_call item needs string call_id, name and arguments.");
            return -1;
        }
        json_t *m = assistant_for_call(msgs);
        json_t *calls = json_object_get(m, "tool_calls");
        if (!calls) {
            calls = json_array();
            json_object_set_new(m, "tool_calls", calls);
        }
        json_array_append_new(calls,
                              json_pack("{s:O,s:s,s:{s:O,s:O}}", "id", id, "type", "function",
                                        "function", "name", name, "arguments", args));
        return 0;
    }
    if (strcmp(type, "function_call_output") == 0) {
        const json_t *id = json_object_get(it, "call_id");
        json_t *out = joined_text(json_object_get(it, "output"));
        if (!json_is_string(id) || !out) {
            json_decref(out);
            fail(e, at, "A function_call_output item needs a string call_id and output.");
            return -1;
        }
        json_array_append_new(
            msgs, json_pack("{s:s,s:O,s:o}", "role", "tool", "tool_call_id", id, "content", out));
        return 0;
    }
    if (strcmp(type, "reasoning") == 0)
        return 0; /* the backend's own reasoning is not sent back to it */
    char msg[128];
    snprintf(msg, sizeof(msg), "Input items of type \"%.40s\"", type);
    unsupported(e, at, msg);
    return -1;
}

static json_t *tools_of(const json_t *tools, struct sg_api_error *e)
{
    json_t *out = json_array();
    size_t i;
    const json_t *t;
    json_array_foreach(tools, i, t)
    {
        char p[48];
        snprintf(p, sizeof(p), "tools[%zu]", i);
        const char *type = json_string_value(json_object_get(t, "type"));
        if (!type) {
            json_decref(out);
            return fail(e, p, "Each tool needs a type.");
        }
        if (strcmp(type, "function") != 0) {
            char msg[200];
            snprintf(msg, sizeof(msg),
                     "The built-in tool '%.40s' is not available through this gateway; only "
                     "function tools are supported.",
                     type);
            json_decref(out);
            sg_api_error_set(e, 400, "invalid_request_error", "unsupported_tool", p, "%s", msg);
            return NULL;
        }
        const json_t *name = json_object_get(t, "name");
        const json_t *params = json_object_get(t, "parameters");
        if (!json_is_string(name) || (params && !json_is_object(params) && !json_is_null(params))) {
            json_decref(out);
            return fail(e, p, "A function tool needs a string name and an object parameters.");
        }
        json_t *fn = json_pack("{s:O}", "name", name);
        if (json_is_object(params))
            json_object_set(fn, "parameters", (json_t *)params);
        const json_t *desc = json_object_get(t, "description");
        if (json_is_string(desc))
            json_object_set(fn, "description", (json_t *)desc);
        const json_t *strict = json_object_get(t, "strict");
        if (json_is_boolean(strict))
            json_object_set(fn, "strict", (json_t *)strict);
        json_array_append_new(out, json_pack("{s:s,s:o}", "type", "function", "function", fn));
    }
    return out;
}

static json_t *tool_choice_of(const json_t *tc, struct sg_api_error *e)
{
    if (json_is_string(tc)) {
        const char *s = json_string_value(tc);
        if (strcmp(s, "auto") && strcmp(s, "none") && strcmp(s, "required"))
            return fail(e, "tool_choice", "tool_choice must be auto, none or required.");
        return json_copy((json_t *)tc);
    }
    const char *type = json_string_value(json_object_get(tc, "type"));
    const json_t *name = json_object_get(tc, "name");
    if (type && strcmp(type, "function") == 0 && json_is_string(name))
        return json_pack("{s:s,s:{s:O}}", "type", "function", "function", "name", name);
    if (type && strcmp(type, "function") != 0)
        return unsupported(e, "tool_choice", "Choosing a built-in tool");
    return fail(e, "tool_choice",
                "tool_choice must be a string or {\"type\":\"function\","
                "\"name\":...}.");
}

static json_t *format_of(const json_t *text, struct sg_api_error *e)
{
    const json_t *f = json_object_get(text, "format");
    if (!f || json_is_null(f))
        return json_null();
    const char *type = json_string_value(json_object_get(f, "type"));
    if (!json_is_object(f) || !type)
        return fail(e, "text.format", "text.format needs a type.");
    if (strcmp(type, "text") == 0)
        return json_null();
    if (strcmp(type, "json_object") == 0)
        return json_pack("{s:s}", "type", "json_object");
    if (strcmp(type, "json_schema") != 0)
        return fail(e, "text.format.type",
                    "text.format.type must be text, json_object or "
                    "json_schema.");
    const json_t *name = json_object_get(f, "name"), *schema = json_object_get(f, "schema");
    if (!json_is_string(name) || !json_is_object(schema))
        return fail(e, "text.format",
                    "A json_schema format needs a string name and an object "
                    "schema.");
    json_t *js = json_pack("{s:O,s:O}", "name", name, "schema", schema);
    const json_t *strict = json_object_get(f, "strict");
    if (json_is_boolean(strict))
        json_object_set(js, "strict", (json_t *)strict);
    const json_t *desc = json_object_get(f, "description");
    if (json_is_string(desc))
        json_object_set(js, "description", (json_t *)desc);
    return json_pack("{s:s,s:o}", "type", "json_schema", "json_schema", js);
}

/* Type checks of the top-level fields: name, JSON types allowed (null is always fine). */
static int check_types(const json_t *in, struct sg_api_error *e)
{
    static const struct {
        const char *name;
        int type; /* a json_type, or -1 for "number" */
        const char *what;
    } f[] = {
        {"model", JSON_STRING, "a string"},
        {"instructions", JSON_STRING, "a string"},
        {"tools", JSON_ARRAY, "an array"},
        {"text", JSON_OBJECT, "an object"},
        {"temperature", -1, "a number"},
        {"top_p", -1, "a number"},
        {"max_output_tokens", JSON_INTEGER, "an integer"},
        {"stream", JSON_TRUE, "a boolean"},
        {"store", JSON_TRUE, "a boolean"},
        {"parallel_tool_calls", JSON_TRUE, "a boolean"},
        {"previous_response_id", JSON_STRING, "a string"},
        {"metadata", JSON_OBJECT, "an object"},
        {"user", JSON_STRING, "a string"},
        {"reasoning", JSON_OBJECT, "an object"},
        {"include", JSON_ARRAY, "an array"},
        {"truncation", JSON_STRING, "a string"},
    };
    for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
        const json_t *v = json_object_get(in, f[i].name);
        if (!v || json_is_null(v))
            continue;
        bool ok = f[i].type == -1          ? json_is_number(v)
                  : f[i].type == JSON_TRUE ? json_is_boolean(v)
                                           : (int)json_typeof(v) == f[i].type;
        if (!ok) {
            wrong_type(e, f[i].name, f[i].what);
            return -1;
        }
    }
    return 0;
}

static int check_metadata(const json_t *md, struct sg_api_error *e)
{
    if (!json_is_object(md))
        return 0;
    if (json_object_size(md) > 16) {
        fail(e, "metadata", "metadata may have at most 16 keys.");
        return -1;
    }
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)md, k, v)
    {
        if (strlen(k) > 64 || !json_is_string(v) || json_string_length(v) > 512) {
            fail(e, "metadata",
                 "metadata keys are at most 64 characters and values strings of "
                 "at most 512 characters.");
            return -1;
        }
    }
    return 0;
}

static void set_or_null(json_t *o, const char *k, const json_t *v)
{
    json_object_set_new(o, k, v ? json_copy((json_t *)v) : json_null());
}

json_t *sg_responses_request(const json_t *in, struct sg_responses_params *p,
                             struct sg_api_error *e)
{
    memset(p, 0, sizeof(*p));
    p->store = true;
    if (!json_is_object(in))
        return fail(e, NULL, "The request body must be a JSON object.");
    if (check_types(in, e) || check_metadata(json_object_get(in, "metadata"), e))
        return NULL;
    const json_t *model = json_object_get(in, "model");
    if (!json_is_string(model) || !json_string_length(model)) {
        sg_api_error_set(e, 400, "invalid_request_error", "missing_required_parameter", "model",
                         "Missing required parameter: 'model'.");
        return NULL;
    }
    static const char *const refused[] = {"background", "conversation", "prompt"};
    for (size_t i = 0; i < 3; i++) {
        const json_t *v = json_object_get(in, refused[i]);
        if (v && !json_is_null(v) && !json_is_false(v)) {
            char what[64];
            snprintf(what, sizeof(what), "'%s'", refused[i]);
            return unsupported(e, refused[i], what);
        }
    }
    const json_t *prev = json_object_get(in, "previous_response_id");
    if (json_is_string(prev)) {
        if (json_string_length(prev) == 0 || json_string_length(prev) >= sizeof(p->previous_id))
            return fail(e, "previous_response_id", "previous_response_id is not a response id.");
        snprintf(p->previous_id, sizeof(p->previous_id), "%s", json_string_value(prev));
    }
    const json_t *store = json_object_get(in, "store");
    if (json_is_boolean(store))
        p->store = json_is_true(store);

    json_t *out = json_pack("{s:O}", "model", model);
    json_t *msgs = json_array();
    json_object_set_new(out, "messages", msgs);
    const json_t *instr = json_object_get(in, "instructions");
    if (json_is_string(instr)) {
        json_array_append_new(msgs, json_pack("{s:s,s:O}", "role", "system", "content", instr));
        p->instructions = true;
    }
    const json_t *input = json_object_get(in, "input");
    if (json_is_string(input)) {
        json_array_append_new(msgs, json_pack("{s:s,s:O}", "role", "user", "content", input));
    } else if (json_is_array(input)) {
        size_t i;
        const json_t *it;
        json_array_foreach(input, i, it)
        {
            if (input_item(msgs, it, i, e) != 0)
                goto bad;
        }
    } else if (input && !json_is_null(input)) {
        wrong_type(e, "input", "a string or an array of input items");
        goto bad;
    }
    if (json_array_size(msgs) == (p->instructions ? 1u : 0u) && !p->previous_id[0]) {
        sg_api_error_set(e, 400, "invalid_request_error", "missing_required_parameter", "input",
                         "Missing required parameter: 'input'.");
        goto bad;
    }
    const json_t *tools = json_object_get(in, "tools");
    if (json_array_size(tools)) {
        json_t *t = tools_of(tools, e);
        if (!t)
            goto bad;
        json_object_set_new(out, "tools", t);
    }
    const json_t *tc = json_object_get(in, "tool_choice");
    if (tc && !json_is_null(tc)) {
        json_t *c = tool_choice_of(tc, e);
        if (!c)
            goto bad;
        json_object_set_new(out, "tool_choice", c);
    }
    json_t *rf = format_of(json_object_get(in, "text"), e);
    if (!rf)
        goto bad;
    if (json_is_null(rf))
        json_decref(rf);
    else
        json_object_set_new(out, "response_format", rf);
    static const char *const copy[][2] = {{"temperature", "temperature"},
                                          {"top_p", "top_p"},
                                          {"max_output_tokens", "max_tokens"},
                                          {"parallel_tool_calls", "parallel_tool_calls"},
                                          {"user", "user"},
                                          {"stream", "stream"}};
    for (size_t i = 0; i < sizeof(copy) / sizeof(copy[0]); i++) {
        const json_t *v = json_object_get(in, copy[i][0]);
        if (v && !json_is_null(v))
            json_object_set(out, copy[i][1], (json_t *)v);
    }
    const json_t *mot = json_object_get(in, "max_output_tokens");
    if (json_is_integer(mot) && json_integer_value(mot) < 1) {
        fail(e, "max_output_tokens", "max_output_tokens must be at least 1.");
        goto bad;
    }

    /* what the Response object repeats */
    json_t *echo = json_object();
    set_or_null(echo, "instructions", json_is_string(instr) ? instr : NULL);
    set_or_null(echo, "max_output_tokens", json_is_integer(mot) ? mot : NULL);
    const json_t *md = json_object_get(in, "metadata");
    json_object_set_new(echo, "metadata",
                        json_is_object(md) ? json_copy((json_t *)md) : json_object());
    const json_t *ptc = json_object_get(in, "parallel_tool_calls");
    json_object_set_new(echo, "parallel_tool_calls", json_boolean(!json_is_false(ptc)));
    set_or_null(echo, "previous_response_id", json_is_string(prev) ? prev : NULL);
    json_object_set_new(echo, "store", json_boolean(p->store));
    const json_t *temp = json_object_get(in, "temperature"), *top = json_object_get(in, "top_p");
    json_object_set_new(echo, "temperature",
                        json_is_number(temp) ? json_copy((json_t *)temp) : json_real(1.0));
    json_object_set_new(echo, "top_p",
                        json_is_number(top) ? json_copy((json_t *)top) : json_real(1.0));
    const json_t *text = json_object_get(in, "text");
    json_object_set_new(echo, "text",
                        json_is_object(json_object_get(text, "format"))
                            ? json_pack("{s:O}", "format", json_object_get(text, "format"))
                            : json_pack("{s:{s:s}}", "format", "type", "text"));
    json_object_set_new(echo, "tool_choice",
                        tc && !json_is_null(tc) ? json_copy((json_t *)tc) : json_string("auto"));
    json_object_set_new(echo, "tools",
                        json_is_array(tools) ? json_copy((json_t *)tools) : json_array());
    const json_t *tr = json_object_get(in, "truncation");
    json_object_set_new(echo, "truncation",
                        json_is_string(tr) ? json_copy((json_t *)tr) : json_string("disabled"));
    set_or_null(echo, "user", json_object_get(in, "user"));
    json_object_set_new(echo, "reasoning", json_pack("{s:n,s:n}", "effort", "summary"));
    p->echo = echo;
    return out;
bad:
    json_decref(out);
    return NULL;
}

void sg_responses_params_free(struct sg_responses_params *p)
{
    json_decref(p->echo);
    p->echo = NULL;
}

/* ---- answers ---- */

void sg_responses_new_id(char out[64])
{
    uint8_t r[24];
    char hex[49];
    sg_random_bytes(r, sizeof(r));
    sg_hex_encode(r, sizeof(r), hex);
    snprintf(out, 64, "resp_%s", hex);
}

/* Item ids: "msg_"/"fc_" and the response's hex, and the output index for calls. */
static void item_id(char out[96], const char *resp_id, const char *prefix, int n)
{
    const char *hex = strncmp(resp_id, "resp_", 5) == 0 ? resp_id + 5 : resp_id;
    if (n < 0)
        snprintf(out, 96, "%s_%.60s", prefix, hex);
    else
        snprintf(out, 96, "%s_%.60s%d", prefix, hex, n);
}

static json_t *text_part(const char *text, size_t len)
{
    return json_pack("{s:s,s:s%,s:[]}", "type", "output_text", "text", text, len, "annotations");
}

static json_t *message_item(const char *id, const char *status, json_t *content)
{
    return json_pack("{s:s,s:s,s:s,s:s,s:o}", "id", id, "type", "message", "status", status, "role",
                     "assistant", "content", content);
}

static json_t *call_item(const char *id, const char *status, const json_t *call)
{
    const json_t *fn = json_object_get(call, "function");
    const char *cid = json_string_value(json_object_get(call, "id"));
    const char *name = json_string_value(json_object_get(fn, "name"));
    const char *args = json_string_value(json_object_get(fn, "arguments"));
    return json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "id", id, "type", "function_call", "status",
                     status, "call_id", cid ? cid : id, "name", name ? name : "", "arguments",
                     args ? args : "");
}

/* The Response object around `output` (taken). */
static json_t *response_obj(const char *id, int64_t created, const char *model, const char *status,
                            json_t *output, const char *incomplete, int64_t in_tokens,
                            int64_t out_tokens, bool usage, const json_t *echo)
{
    json_t *o = json_pack("{s:s,s:s,s:I,s:s,s:n,s:n,s:s,s:o}", "id", id, "object", "response",
                          "created_at", (json_int_t)created, "status", status, "error",
                          "incomplete_details", "model", model, "output", output);
    if (!o)
        return NULL;
    if (incomplete)
        json_object_set_new(o, "incomplete_details", json_pack("{s:s}", "reason", incomplete));
    if (echo)
        json_object_update(o, (json_t *)echo);
    if (usage)
        json_object_set_new(o, "usage",
                            json_pack("{s:I,s:{s:i},s:I,s:{s:i},s:I}", "input_tokens",
                                      (json_int_t)in_tokens, "input_tokens_details",
                                      "cached_tokens", 0, "output_tokens", (json_int_t)out_tokens,
                                      "output_tokens_details", "reasoning_tokens", 0,
                                      "total_tokens", (json_int_t)(in_tokens + out_tokens)));
    else
        json_object_set_new(o, "usage", json_null());
    return o;
}

/* finish_reason -> status and the incomplete reason (NULL when complete). */
static const char *status_of(const char *finish, const char **incomplete)
{
    *incomplete = NULL;
    if (finish && strcmp(finish, "length") == 0)
        *incomplete = "max_output_tokens";
    else if (finish && strcmp(finish, "content_filter") == 0)
        *incomplete = "content_filter";
    return *incomplete ? "incomplete" : "completed";
}

json_t *sg_responses_response(const json_t *completion, const char *id, int64_t created,
                              const char *model, const json_t *echo)
{
    const json_t *ch = json_array_get(json_object_get(completion, "choices"), 0);
    const json_t *msg = json_object_get(ch, "message");
    json_t *output = json_array();
    char iid[96];
    const json_t *text = json_object_get(msg, "content");
    if (json_is_string(text) && json_string_length(text)) {
        item_id(iid, id, "msg", -1);
        json_array_append_new(output,
                              message_item(iid, "completed",
                                           json_pack("[o]", text_part(json_string_value(text),
                                                                      json_string_length(text)))));
    }
    size_t i;
    const json_t *call;
    json_array_foreach(json_object_get(msg, "tool_calls"), i, call)
    {
        item_id(iid, id, "fc", (int)json_array_size(output));
        json_array_append_new(output, call_item(iid, "completed", call));
    }
    const char *incomplete;
    const char *status =
        status_of(json_string_value(json_object_get(ch, "finish_reason")), &incomplete);
    const json_t *u = json_object_get(completion, "usage");
    return response_obj(id, created, model, status, output, incomplete,
                        json_integer_value(json_object_get(u, "prompt_tokens")),
                        json_integer_value(json_object_get(u, "completion_tokens")),
                        json_is_object(u), echo);
}

/* ---- collecting a stream ---- */

void sg_chat_acc_init(struct sg_chat_acc *a)
{
    memset(a, 0, sizeof(*a));
    sg_buf_init(&a->text, MAX_TEXT);
    a->calls = json_array();
    a->prompt_tokens = a->completion_tokens = -1;
}

void sg_chat_acc_free(struct sg_chat_acc *a)
{
    sg_buf_free(&a->text);
    json_decref(a->calls);
    a->calls = NULL;
}

/* Appends `add` to the string `key` of `o`. */
static int append_str(json_t *o, const char *key, const json_t *add)
{
    if (!json_is_string(add) || !json_string_length(add))
        return 0;
    const json_t *old = json_object_get(o, key);
    struct sg_buf b;
    sg_buf_init(&b, MAX_TEXT);
    int rc = json_is_string(old)
                 ? sg_buf_append(&b, json_string_value(old), json_string_length(old))
                 : 0;
    rc = rc ? rc : sg_buf_append(&b, json_string_value(add), json_string_length(add));
    if (!rc && json_object_set_new(o, key, json_stringn(b.data, b.len)) != 0)
        rc = SG_ENOMEM;
    sg_buf_free(&b);
    return rc;
}

int sg_chat_acc_feed(struct sg_chat_acc *a, const json_t *chunk)
{
    const json_t *u = json_object_get(chunk, "usage");
    if (json_is_object(u)) {
        a->prompt_tokens = json_integer_value(json_object_get(u, "prompt_tokens"));
        a->completion_tokens = json_integer_value(json_object_get(u, "completion_tokens"));
    }
    const json_t *ch = json_array_get(json_object_get(chunk, "choices"), 0);
    if (!ch || json_integer_value(json_object_get(ch, "index")) != 0)
        return 0;
    const json_t *delta = json_object_get(ch, "delta");
    const json_t *text = json_object_get(delta, "content");
    int rc = 0;
    if (json_is_string(text))
        rc = sg_buf_append(&a->text, json_string_value(text), json_string_length(text));
    size_t i;
    const json_t *call;
    json_array_foreach(json_object_get(delta, "tool_calls"), i, call)
    {
        if (rc)
            break;
        const json_t *ix = json_object_get(call, "index");
        size_t k = json_is_integer(ix) ? (size_t)json_integer_value(ix) : i;
        if (k > 127)
            return SG_ETOOBIG;
        while (json_array_size(a->calls) <= k)
            json_array_append_new(a->calls,
                                  json_pack("{s:s,s:s,s:{s:s,s:s}}", "id", "", "type", "function",
                                            "function", "name", "", "arguments", ""));
        json_t *c = json_array_get(a->calls, k);
        json_t *fn = json_object_get(c, "function");
        const json_t *f = json_object_get(call, "function");
        if (json_is_string(json_object_get(call, "id")))
            json_object_set(c, "id", json_object_get(call, "id"));
        if (json_is_string(json_object_get(f, "name")) &&
            json_string_length(json_object_get(f, "name")))
            json_object_set(fn, "name", json_object_get(f, "name"));
        rc = append_str(fn, "arguments", json_object_get(f, "arguments"));
    }
    const char *finish = json_string_value(json_object_get(ch, "finish_reason"));
    if (finish)
        snprintf(a->finish, sizeof(a->finish), "%s", finish);
    return rc;
}

json_t *sg_chat_acc_completion(const struct sg_chat_acc *a)
{
    json_t *msg = json_pack("{s:s,s:s%}", "role", "assistant", "content",
                            a->text.data ? a->text.data : "", a->text.len);
    if (msg && json_array_size(a->calls))
        json_object_set_new(msg, "tool_calls", json_deep_copy(a->calls));
    json_t *c =
        json_pack("{s:s,s:[{s:i,s:o,s:s}]}", "object", "chat.completion", "choices", "index", 0,
                  "message", msg, "finish_reason", a->finish[0] ? a->finish : "stop");
    if (c && a->prompt_tokens >= 0)
        json_object_set_new(c, "usage",
                            json_pack("{s:I,s:I}", "prompt_tokens", (json_int_t)a->prompt_tokens,
                                      "completion_tokens", (json_int_t)a->completion_tokens));
    return c;
}

/* ---- streams ---- */

static int event(struct sg_responses_stream *s, struct sg_buf *out, const char *type, json_t *data)
{
    int rc = data ? 0 : SG_ENOMEM;
    if (!rc) {
        json_object_set_new(data, "type", json_string(type));
        json_object_set_new(data, "sequence_number", json_integer(s->seq++));
    }
    rc = rc ? rc : sg_buf_printf(out, "event: %s\ndata: ", type);
    rc = rc ? rc : sg_json_dump(data, out);
    rc = rc ? rc : sg_buf_append(out, "\n\n", 2);
    json_decref(data);
    return rc;
}

void sg_responses_stream_init(struct sg_responses_stream *s, const char *id, int64_t created,
                              const char *model, const json_t *echo)
{
    memset(s, 0, sizeof(*s));
    s->text_out = s->tool_out = -1;
    sg_chat_acc_init(&s->acc);
    s->items = json_array();
    s->echo = (json_t *)echo;
    s->created = created;
    snprintf(s->id, sizeof(s->id), "%s", id);
    snprintf(s->model, sizeof(s->model), "%s", model ? model : "");
}

void sg_responses_stream_free(struct sg_responses_stream *s)
{
    sg_chat_acc_free(&s->acc);
    json_decref(s->items);
    s->items = NULL;
}

static json_t *current(struct sg_responses_stream *s, const char *status, json_t *output,
                       const char *incomplete, bool usage)
{
    return response_obj(s->id, s->created, s->model, status, output, incomplete,
                        s->acc.prompt_tokens < 0 ? 0 : s->acc.prompt_tokens,
                        s->acc.completion_tokens < 0 ? 0 : s->acc.completion_tokens, usage,
                        s->echo);
}

static int start(struct sg_responses_stream *s, struct sg_buf *out)
{
    if (s->started)
        return 0;
    s->started = true;
    int rc =
        event(s, out, "response.created",
              json_pack("{s:o}", "response", current(s, "in_progress", json_array(), NULL, false)));
    return rc ? rc
              : event(s, out, "response.in_progress",
                      json_pack("{s:o}", "response",
                                current(s, "in_progress", json_array(), NULL, false)));
}

static int close_text(struct sg_responses_stream *s, struct sg_buf *out)
{
    if (s->text_out < 0)
        return 0;
    char iid[96];
    item_id(iid, s->id, "msg", -1);
    const char *t = s->acc.text.data ? s->acc.text.data : "";
    size_t n = s->acc.text.len;
    int o = s->text_out;
    s->text_out = -1;
    int rc = event(s, out, "response.output_text.done",
                   json_pack("{s:s,s:i,s:i,s:s%,s:[]}", "item_id", iid, "output_index", o,
                             "content_index", 0, "text", t, n, "logprobs"));
    rc = rc ? rc
            : event(s, out, "response.content_part.done",
                    json_pack("{s:s,s:i,s:i,s:o}", "item_id", iid, "output_index", o,
                              "content_index", 0, "part", text_part(t, n)));
    json_t *item = message_item(iid, "completed", json_pack("[o]", text_part(t, n)));
    rc = rc ? rc : json_array_append(s->items, item) ? SG_ENOMEM : 0;
    rc = rc ? rc
            : event(s, out, "response.output_item.done",
                    json_pack("{s:i,s:O}", "output_index", o, "item", item));
    json_decref(item);
    return rc;
}

static int close_tool(struct sg_responses_stream *s, struct sg_buf *out)
{
    if (s->tool_out < 0)
        return 0;
    char iid[96];
    item_id(iid, s->id, "fc", s->tool_out);
    int o = s->tool_out;
    s->tool_out = -1;
    const json_t *call = json_array_get(s->acc.calls, (size_t)s->tool_index);
    const json_t *fn = json_object_get(call, "function");
    int rc = event(s, out, "response.function_call_arguments.done",
                   json_pack("{s:s,s:i,s:O,s:O}", "item_id", iid, "output_index", o, "name",
                             json_object_get(fn, "name"), "arguments",
                             json_object_get(fn, "arguments")));
    json_t *item = call_item(iid, "completed", call);
    rc = rc ? rc : json_array_append(s->items, item) ? SG_ENOMEM : 0;
    rc = rc ? rc
            : event(s, out, "response.output_item.done",
                    json_pack("{s:i,s:O}", "output_index", o, "item", item));
    json_decref(item);
    return rc;
}

int sg_responses_stream_chunk(struct sg_responses_stream *s, const json_t *chunk,
                              struct sg_buf *out)
{
    if (s->ended)
        return 0;
    int rc = sg_chat_acc_feed(&s->acc, chunk);
    const json_t *ch = json_array_get(json_object_get(chunk, "choices"), 0);
    if (rc || !ch || json_integer_value(json_object_get(ch, "index")) != 0)
        return rc;
    rc = start(s, out);
    const json_t *delta = json_object_get(ch, "delta");
    const json_t *text = json_object_get(delta, "content");
    char iid[96];
    if (!rc && json_is_string(text) && json_string_length(text)) {
        if (s->text_out < 0) {
            rc = close_tool(s, out);
            s->text_out = s->next_output++;
            item_id(iid, s->id, "msg", -1);
            rc = rc ? rc
                    : event(s, out, "response.output_item.added",
                            json_pack("{s:i,s:o}", "output_index", s->text_out, "item",
                                      message_item(iid, "in_progress", json_array())));
            rc = rc ? rc
                    : event(s, out, "response.content_part.added",
                            json_pack("{s:s,s:i,s:i,s:o}", "item_id", iid, "output_index",
                                      s->text_out, "content_index", 0, "part", text_part("", 0)));
        }
        item_id(iid, s->id, "msg", -1);
        rc = rc ? rc
                : event(s, out, "response.output_text.delta",
                        json_pack("{s:s,s:i,s:i,s:O,s:[]}", "item_id", iid, "output_index",
                                  s->text_out, "content_index", 0, "delta", text, "logprobs"));
    }
    size_t i;
    const json_t *call;
    json_array_foreach(json_object_get(delta, "tool_calls"), i, call)
    {
        if (rc)
            break;
        const json_t *ix = json_object_get(call, "index");
        int ti = json_is_integer(ix) ? (int)json_integer_value(ix) : (int)i;
        if (s->tool_out < 0 || s->tool_index != ti) {
            rc = close_text(s, out);
            rc = rc ? rc : close_tool(s, out);
            s->tool_out = s->next_output++;
            s->tool_index = ti;
            item_id(iid, s->id, "fc", s->tool_out);
            const json_t *acc_call = json_array_get(s->acc.calls, (size_t)ti);
            json_t *item = call_item(iid, "in_progress", acc_call);
            json_object_set_new(item, "arguments", json_string(""));
            rc = rc ? rc
                    : event(s, out, "response.output_item.added",
                            json_pack("{s:i,s:o}", "output_index", s->tool_out, "item", item));
        }
        const json_t *args = json_object_get(json_object_get(call, "function"), "arguments");
        item_id(iid, s->id, "fc", s->tool_out);
        if (!rc && json_is_string(args) && json_string_length(args))
            rc = event(s, out, "response.function_call_arguments.delta",
                       json_pack("{s:s,s:i,s:O}", "item_id", iid, "output_index", s->tool_out,
                                 "delta", args));
    }
    return rc;
}

int sg_responses_stream_end(struct sg_responses_stream *s, struct sg_buf *out)
{
    if (s->ended)
        return 0;
    int rc = start(s, out);
    rc = rc ? rc : close_text(s, out);
    rc = rc ? rc : close_tool(s, out);
    s->ended = true;
    const char *incomplete;
    const char *status = status_of(s->acc.finish[0] ? s->acc.finish : NULL, &incomplete);
    return rc ? rc
              : event(s, out, incomplete ? "response.incomplete" : "response.completed",
                      json_pack("{s:o}", "response",
                                current(s, status, json_deep_copy(s->items), incomplete,
                                        s->acc.prompt_tokens >= 0)));
}

int sg_responses_stream_error(struct sg_responses_stream *s, const struct sg_api_error *e,
                              struct sg_buf *out)
{
    if (s->ended)
        return 0;
    s->ended = true;
    int rc = event(s, out, "error",
                   json_pack("{s:s,s:s,s:n}", "code", e->code[0] ? e->code : e->type, "message",
                             e->message, "param"));
    json_t *r = current(s, "failed", json_deep_copy(s->items), NULL, false);
    if (r)
        json_object_set_new(r, "error",
                            json_pack("{s:s,s:s}", "code", "server_error", "message", e->message));
    return rc ? rc : event(s, out, "response.failed", json_pack("{s:o}", "response", r));
}
