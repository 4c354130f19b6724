/* OpenAI request decoding and validation. The checks follow the public API reference:
 * required fields, and the JSON type of every documented field; undocumented fields pass
 * through to the backend unchanged, as the OpenAI API ignores them. */
#include "api/openai.h"
#include "api/dialect.h"
#include "core/buf.h"
#include "core/json.h"
#include "core/utf8.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const struct sg_endpoint_info endpoints[SG_EP_COUNT] = {
    {SG_EP_CHAT, "/v1/chat/completions", "POST", true, true, SG_DIALECT_OPENAI},
    {SG_EP_COMPLETIONS, "/v1/completions", "POST", true, true, SG_DIALECT_OPENAI},
    {SG_EP_EMBEDDINGS, "/v1/embeddings", "POST", true, true, SG_DIALECT_OPENAI},
    {SG_EP_MODELS, "/v1/models", "GET", true, false, SG_DIALECT_OPENAI},
    {SG_EP_HEALTHZ, "/healthz", "GET", false, false, SG_DIALECT_OPENAI},
    {SG_EP_READYZ, "/readyz", "GET", false, false, SG_DIALECT_OPENAI},
    {SG_EP_METRICS, "/metrics", "GET", false, false, SG_DIALECT_OPENAI},
};

/* OpenAI Responses: POST creates (a chat request inside); GET and DELETE of one stored
 * response are answered by the gateway (not proxied; the id goes into `model`). */
static const struct sg_endpoint_info responses_create = {
    SG_EP_CHAT, "/v1/responses", "POST", true, true, SG_DIALECT_RESPONSES};
static const struct sg_endpoint_info responses_one = {SG_EP_CHAT, "/v1/responses/{id}", "GET", true,
                                                      false,      SG_DIALECT_RESPONSES};
static const struct sg_endpoint_info anthropic_messages = {
    SG_EP_CHAT, "/v1/messages", "POST", true, true, SG_DIALECT_ANTHROPIC};
static const struct sg_endpoint_info azure[] = {
    {SG_EP_CHAT, "/openai/deployments/{model}/chat/completions", "POST", true, true,
     SG_DIALECT_AZURE},
    {SG_EP_COMPLETIONS, "/openai/deployments/{model}/completions", "POST", true, true,
     SG_DIALECT_AZURE},
    {SG_EP_EMBEDDINGS, "/openai/deployments/{model}/embeddings", "POST", true, true,
     SG_DIALECT_AZURE},
};

const struct sg_endpoint_info *sg_api_route(const char *path, size_t len, char *model, size_t cap)
{
    if (cap)
        model[0] = '\0';
    const struct sg_endpoint_info *e = sg_api_endpoint(path, len);
    if (e)
        return e;
    if (len > 1 && path[len - 1] == '/')
        len--;
    if (len == 12 && memcmp(path, "/v1/messages", 12) == 0)
        return &anthropic_messages;
    if ((e = sg_gemini_route(path, len, model, cap)) || (e = sg_ollama_route(path, len)))
        return e; /* Gemini and Ollama (dialect_gemini.c, dialect_ollama.c) */
    if (len == 13 && memcmp(path, "/v1/responses", 13) == 0)
        return &responses_create;
    if (len > 14 && len - 14 < cap && memcmp(path, "/v1/responses/", 14) == 0 &&
        !memchr(path + 14, '/', len - 14)) {
        memcpy(model, path + 14, len - 14);
        model[len - 14] = '\0';
        return &responses_one;
    }
    /* /openai/deployments/{deployment}/<operation> */
    static const char pre[] = "/openai/deployments/";
    size_t pl = sizeof(pre) - 1;
    if (len <= pl || memcmp(path, pre, pl) != 0)
        return NULL;
    const char *d = path + pl, *end = path + len;
    const char *slash = memchr(d, '/', (size_t)(end - d));
    if (!slash || slash == d || (size_t)(slash - d) >= cap)
        return NULL;
    for (size_t i = 0; i < sizeof(azure) / sizeof(azure[0]); i++) {
        const char *op = strstr(azure[i].path, "}") + 1; /* "/chat/completions" ... */
        size_t ol = strlen(op);
        if ((size_t)(end - slash) == ol && memcmp(slash, op, ol) == 0) {
            memcpy(model, d, (size_t)(slash - d));
            model[slash - d] = '\0';
            return &azure[i];
        }
    }
    return NULL;
}

const struct sg_endpoint_info *sg_api_endpoint(const char *path, size_t len)
{
    /* Tolerate one trailing slash, as many client libraries add one. */
    if (len > 1 && path[len - 1] == '/')
        len--;
    for (int i = 0; i < SG_EP_COUNT; i++)
        if (strlen(endpoints[i].path) == len && memcmp(endpoints[i].path, path, len) == 0)
            return &endpoints[i];
    return NULL;
}

const struct sg_endpoint_info *sg_api_endpoint_info(enum sg_endpoint ep)
{
    return &endpoints[ep];
}

/* Replaces each byte of `s` that is not part of a valid UTF-8 sequence with '?': a message
 * that names a client's value cut to a length ("%.40s"), or cut at the end of its buffer,
 * may end inside a character, and every error shape must stay valid JSON. */
static void utf8_clean(char *s)
{
    for (size_t n = strlen(s), i = 0; i < n;) {
        size_t l = sg_utf8_char_len((const unsigned char *)s + i, n - i);
        if (l == 0) {
            s[i] = '?';
            l = 1;
        }
        i += l;
    }
}

void sg_api_error_set(struct sg_api_error *e, int status, const char *type, const char *code,
                      const char *param, const char *fmt, ...)
{
    e->status = status;
    snprintf(e->type, sizeof(e->type), "%s", type ? type : "invalid_request_error");
    snprintf(e->code, sizeof(e->code), "%s", code ? code : "");
    snprintf(e->param, sizeof(e->param), "%s", param ? param : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof(e->message), fmt, ap);
    va_end(ap);
    utf8_clean(e->type);
    utf8_clean(e->code);
    utf8_clean(e->param);
    utf8_clean(e->message);
}

int sg_api_error_json(const struct sg_api_error *e, struct sg_buf *out)
{
    int rc = sg_buf_puts(out, "{\"error\":{\"message\":\"");
    rc = rc ? rc : sg_buf_json_escape(out, e->message, strlen(e->message));
    rc = rc ? rc : sg_buf_puts(out, "\",\"type\":\"");
    rc = rc ? rc : sg_buf_json_escape(out, e->type, strlen(e->type));
    rc = rc ? rc : sg_buf_puts(out, "\",\"param\":");
    if (!rc && e->param[0]) {
        rc = sg_buf_puts(out, "\"");
        rc = rc ? rc : sg_buf_json_escape(out, e->param, strlen(e->param));
        rc = rc ? rc : sg_buf_puts(out, "\"");
    } else if (!rc) {
        rc = sg_buf_puts(out, "null");
    }
    rc = rc ? rc : sg_buf_puts(out, ",\"code\":");
    if (!rc && e->code[0]) {
        rc = sg_buf_puts(out, "\"");
        rc = rc ? rc : sg_buf_json_escape(out, e->code, strlen(e->code));
        rc = rc ? rc : sg_buf_puts(out, "\"");
    } else if (!rc)
        rc = sg_buf_puts(out, "null");
    return rc ? rc : sg_buf_puts(out, "}}");
}

/* ---- validation ---- */

enum {
    T_STR = 1 << 0,
    T_INT = 1 << 1,
    T_NUM = 1 << 2, /* integer or real */
    T_BOOL = 1 << 3,
    T_OBJ = 1 << 4,
    T_ARR = 1 << 5,
    T_NULL = 1 << 6,
};

static bool type_ok(const json_t *v, int types)
{
    switch (json_typeof(v)) {
    case JSON_STRING:
        return types & T_STR;
    case JSON_INTEGER:
        return types & (T_INT | T_NUM);
    case JSON_REAL:
        return types & T_NUM;
    case JSON_TRUE:
    case JSON_FALSE:
        return types & T_BOOL;
    case JSON_OBJECT:
        return types & T_OBJ;
    case JSON_ARRAY:
        return types & T_ARR;
    case JSON_NULL:
        return types & T_NULL;
    }
    return false;
}

static const char *type_words(int types)
{
    if (types == (T_STR | T_NULL))
        return "a string or null";
    if (types & T_STR && types & T_ARR)
        return "a string or an array";
    if (types & T_STR)
        return "a string";
    if (types & T_INT && !(types & T_NUM))
        return "an integer";
    if (types & T_NUM)
        return "a number";
    if (types & T_BOOL)
        return "a boolean";
    if (types & T_OBJ && types & T_STR)
        return "a string or an object";
    if (types & T_OBJ)
        return "an object";
    if (types & T_ARR)
        return "an array";
    return "of another type";
}

struct field {
    const char *name;
    int types;
};

static int wrong_type(struct sg_api_error *e, const char *param, int types)
{
    sg_api_error_set(e, 400, "invalid_request_error", "invalid_type", param,
                     "Invalid type for '%s': expected %s.", param, type_words(types));
    return -1;
}

static int check_fields(const json_t *obj, const struct field *f, struct sg_api_error *e)
{
    for (; f->name; f++) {
        const json_t *v = json_object_get(obj, f->name);
        if (v && !type_ok(v, f->types | T_NULL))
            return wrong_type(e, f->name, f->types);
    }
    return 0;
}

static int missing(struct sg_api_error *e, const char *param)
{
    sg_api_error_set(e, 400, "invalid_request_error", "missing_required_parameter", param,
                     "Missing required parameter: '%s'.", param);
    return -1;
}

static const struct field common_fields[] = {
    {"stream", T_BOOL},
    {"stream_options", T_OBJ},
    {"max_tokens", T_INT},
    {"temperature", T_NUM},
    {"top_p", T_NUM},
    {"n", T_INT},
    {"stop", T_STR | T_ARR},
    {"presence_penalty", T_NUM},
    {"frequency_penalty", T_NUM},
    {"seed", T_INT},
    {"user", T_STR},
    {"logit_bias", T_OBJ},
    {NULL, 0},
};

static const struct field chat_fields[] = {
    {"max_completion_tokens", T_INT},
    {"tools", T_ARR},
    {"tool_choice", T_STR | T_OBJ},
    {"response_format", T_OBJ},
    {"logprobs", T_BOOL},
    {"top_logprobs", T_INT},
    {"parallel_tool_calls", T_BOOL},
    {NULL, 0},
};

static const struct field completion_fields[] = {
    {"echo", T_BOOL}, {"suffix", T_STR}, {"best_of", T_INT}, {"logprobs", T_INT}, {NULL, 0},
};

static int check_stop(const json_t *body, struct sg_api_error *e)
{
    const json_t *stop = json_object_get(body, "stop");
    if (json_is_array(stop)) {
        size_t i;
        const json_t *s;
        json_array_foreach(stop, i, s)
        {
            if (!json_is_string(s)) {
                char p[32];
                snprintf(p, sizeof(p), "stop[%zu]", i);
                return wrong_type(e, p, T_STR);
            }
        }
    }
    const json_t *so = json_object_get(body, "stream_options");
    if (json_is_object(so)) {
        const json_t *iu = json_object_get(so, "include_usage");
        if (iu && !json_is_boolean(iu) && !json_is_null(iu))
            return wrong_type(e, "stream_options.include_usage", T_BOOL);
    }
    return 0;
}

static int check_messages(const json_t *msgs, struct sg_api_error *e)
{
    if (!msgs)
        return missing(e, "messages");
    if (!json_is_array(msgs))
        return wrong_type(e, "messages", T_ARR);
    if (json_array_size(msgs) == 0) {
        sg_api_error_set(e, 400, "invalid_request_error", "empty_array", "messages",
                         "'messages' must contain at least one message.");
        return -1;
    }
    static const char *const roles[] = {"system",    "user",     "assistant", "tool",
                                        "developer", "function", NULL};
    size_t i;
    const json_t *m;
    char p[96]; /* parameter names are formatted only for errors */
    json_array_foreach(msgs, i, m)
    {
        if (!json_is_object(m)) {
            snprintf(p, sizeof(p), "messages[%zu]", i);
            return wrong_type(e, p, T_OBJ);
        }
        const json_t *role = json_object_get(m, "role");
        if (!json_is_string(role)) {
            snprintf(p, sizeof(p), "messages[%zu].role", i);
            return role ? wrong_type(e, p, T_STR) : missing(e, p);
        }
        bool known = false;
        for (int r = 0; roles[r] && !known; r++)
            known = strcmp(json_string_value(role), roles[r]) == 0;
        if (!known) {
            snprintf(p, sizeof(p), "messages[%zu].role", i);
            sg_api_error_set(e, 400, "invalid_request_error", "invalid_value", p,
                             "Invalid value for '%s': expected one of system, user, assistant, "
                             "tool, developer.",
                             p);
            return -1;
        }
        const json_t *content = json_object_get(m, "content");
        if (content && !type_ok(content, T_STR | T_ARR | T_NULL)) {
            snprintf(p, sizeof(p), "messages[%zu].content", i);
            return wrong_type(e, p, T_STR | T_ARR);
        }
        if (json_is_array(content)) {
            size_t j;
            const json_t *part;
            json_array_foreach(content, j, part)
            {
                if (!json_is_object(part)) {
                    snprintf(p, sizeof(p), "messages[%zu].content[%zu]", i, j);
                    return wrong_type(e, p, T_OBJ);
                }
                const json_t *type = json_object_get(part, "type");
                if (!json_is_string(type)) {
                    snprintf(p, sizeof(p), "messages[%zu].content[%zu].type", i, j);
                    return type ? wrong_type(e, p, T_STR) : missing(e, p);
                }
                const json_t *text = json_object_get(part, "text");
                if (text && !json_is_string(text)) {
                    snprintf(p, sizeof(p), "messages[%zu].content[%zu].text", i, j);
                    return wrong_type(e, p, T_STR);
                }
            }
        }
        static const struct field mf[] = {
            {"name", T_STR}, {"tool_calls", T_ARR}, {"tool_call_id", T_STR}, {NULL, 0}};
        for (const struct field *f = mf; f->name; f++) {
            const json_t *v = json_object_get(m, f->name);
            if (v && !type_ok(v, f->types | T_NULL)) {
                snprintf(p, sizeof(p), "messages[%zu].%s", i, f->name);
                return wrong_type(e, p, f->types);
            }
        }
    }
    return 0;
}

/* prompt / input: a string, an array of strings, an array of token ids, or an array of
 * arrays of token ids. */
static int check_text_input(const json_t *v, const char *name, struct sg_api_error *e)
{
    if (!v)
        return missing(e, name);
    if (json_is_string(v))
        return 0;
    if (!json_is_array(v))
        return wrong_type(e, name, T_STR | T_ARR);
    if (json_array_size(v) == 0) {
        sg_api_error_set(e, 400, "invalid_request_error", "empty_array", name,
                         "'%s' must not be empty.", name);
        return -1;
    }
    size_t i;
    const json_t *x;
    char p[64];
    int kind = json_typeof(json_array_get(v, 0));
    json_array_foreach(v, i, x)
    {
        snprintf(p, sizeof(p), "%s[%zu]", name, i);
        if ((int)json_typeof(x) != kind ||
            !(json_is_string(x) || json_is_integer(x) || json_is_array(x)))
            return wrong_type(e, p,
                              kind == JSON_STRING    ? T_STR
                              : kind == JSON_INTEGER ? T_INT
                                                     : T_ARR);
        if (json_is_array(x)) {
            size_t j;
            const json_t *t;
            json_array_foreach(x, j, t)
            {
                if (!json_is_integer(t)) {
                    snprintf(p, sizeof(p), "%s[%zu][%zu]", name, i, j);
                    return wrong_type(e, p, T_INT);
                }
            }
        }
    }
    return 0;
}

int sg_api_decode(enum sg_endpoint ep, const char *body, size_t len, json_t **out,
                  const char **model, bool *stream, struct sg_api_error *e)
{
    *out = NULL;
    *model = NULL;
    *stream = false;
    if (len == 0) {
        sg_api_error_set(e, 400, "invalid_request_error", "invalid_json", NULL,
                         "The request body is empty; expected a JSON object.");
        return -1;
    }
    struct sg_json_error jerr;
    json_t *j = sg_json_parse(body, len, SG_JSON_REJECT_DUPLICATES, &jerr);
    if (!j) {
        if (jerr.kind == SG_JSON_EUTF8)
            sg_api_error_set(e, 400, "invalid_request_error", "invalid_utf8", NULL,
                             "The request body is not valid UTF-8 (at byte offset %zu).",
                             jerr.offset);
        else
            sg_api_error_set(e, 400, "invalid_request_error", "invalid_json", NULL,
                             "The request body is not valid JSON: %s (at byte offset %zu).",
                             jerr.text, jerr.offset);
        return -1;
    }
    if (!json_is_object(j)) {
        sg_api_error_set(e, 400, "invalid_request_error", "invalid_json", NULL,
                         "The request body must be a JSON object.");
        json_decref(j);
        return -1;
    }
    int rc = sg_api_validate(ep, j, model, stream, e);
    if (rc == 0)
        *out = j;
    else
        json_decref(j);
    return rc;
}

int sg_api_validate(enum sg_endpoint ep, json_t *j, const char **model, bool *stream,
                    struct sg_api_error *e)
{
    *model = NULL;
    *stream = false;
    const json_t *m = json_object_get(j, "model");
    if (!m) {
        missing(e, "model");
        goto fail;
    }
    if (!json_is_string(m)) {
        wrong_type(e, "model", T_STR);
        goto fail;
    }
    if (json_string_length(m) == 0) {
        missing(e, "model");
        goto fail;
    }
    switch (ep) {
    case SG_EP_CHAT:
        if (check_fields(j, common_fields, e) || check_fields(j, chat_fields, e) ||
            check_stop(j, e) || check_messages(json_object_get(j, "messages"), e))
            goto fail;
        break;
    case SG_EP_COMPLETIONS:
        if (check_fields(j, common_fields, e) || check_fields(j, completion_fields, e) ||
            check_stop(j, e) || check_text_input(json_object_get(j, "prompt"), "prompt", e))
            goto fail;
        break;
    case SG_EP_EMBEDDINGS: {
        static const struct field ef[] = {
            {"encoding_format", T_STR}, {"dimensions", T_INT}, {"user", T_STR}, {NULL, 0}};
        if (check_fields(j, ef, e) || check_text_input(json_object_get(j, "input"), "input", e))
            goto fail;
        if (json_object_get(j, "stream")) {
            sg_api_error_set(e, 400, "invalid_request_error", "invalid_value", "stream",
                             "Embeddings cannot be streamed.");
            goto fail;
        }
        break;
    }
    default:
        sg_api_error_set(e, 400, "invalid_request_error", NULL, NULL, "Unexpected request body.");
        goto fail;
    }
    *stream = json_is_true(json_object_get(j, "stream"));
    *model = json_string_value(m);
    return 0;
fail:
    return -1;
}

/* ---- text fields ---- */

static int visit_field(json_t *obj, const char *key, const char *path, sg_api_field_fn fn,
                       void *ctx)
{
    json_t *v = json_object_get(obj, key);
    return json_is_string(v) ? fn(v, path, ctx) : 0;
}

/* A string, or an array of strings (arrays of token ids are left alone). */
static int visit_string_or_list(json_t *v, const char *path, sg_api_field_fn fn, void *ctx)
{
    if (json_is_string(v))
        return fn(v, path, ctx);
    size_t i;
    json_t *e;
    json_array_foreach(v, i, e)
    {
        char p[96];
        snprintf(p, sizeof(p), "%s[%zu]", path, i);
        if (json_is_string(e) && fn(e, p, ctx) != 0)
            return -1;
    }
    return 0;
}

#define SG_API_PATH_MAX 160

/* The path of length `len` extended by `n` bytes at `a` and `m` at `b`, or left as it was
 * when that does not fit. Returns the new length. Appends rather than snprintf: the walk
 * names every field of every message of every request. */
static size_t path_add(char *p, size_t len, const char *a, size_t n, const char *b, size_t m)
{
    if (n + m >= SG_API_PATH_MAX - len) {
        p[len] = '\0';
        return len;
    }
    memcpy(p + len, a, n);
    memcpy(p + len + n, b, m);
    p[len + n + m] = '\0';
    return len + n + m;
}

/* Extends the path by ".key" or "[i]". */
static size_t path_key(char *p, size_t len, const char *key)
{
    return path_add(p, len, ".", 1, key, strlen(key));
}

static size_t path_index(char *p, size_t len, size_t i)
{
    char d[24];
    size_t n = sizeof(d);
    d[--n] = ']';
    do
        d[--n] = (char)('0' + i % 10);
    while ((i /= 10) != 0);
    d[--n] = '[';
    return path_add(p, len, d + n, sizeof(d) - n, "", 0);
}

/* The member names of the requests' own structure (OpenAI's, and what the other dialects'
 * translations make), sorted. These fixed English words hold nothing a detector finds, so
 * the walk passes them over instead of running detection on every name of every message;
 * any other name is visited. */
/* clang-format off */
static const char *const api_names[] = {
    "$comment", "$defs", "$id", "$ref", "$schema", "additionalProperties", "allOf", "anyOf",
    "arguments", "audio", "best_of", "cache_control", "const", "content", "contentEncoding",
    "contentMediaType", "data", "default", "definitions", "dependentRequired",
    "dependentSchemas", "description", "detail", "dimensions", "echo", "else",
    "encoding_format", "enum", "examples", "exclusiveMaximum", "exclusiveMinimum", "file",
    "file_data", "file_id", "filename", "format", "frequency_penalty", "function", "id", "if",
    "image_url", "include_usage", "input", "input_audio", "items", "json_schema", "logit_bias",
    "logprobs", "maxItems", "maxLength", "max_completion_tokens", "max_tokens", "maximum",
    "messages", "metadata", "minItems", "minLength", "minimum", "modalities", "model",
    "multipleOf", "n", "name", "not", "nullable", "oneOf", "parallel_tool_calls", "parameters",
    "pattern", "patternProperties", "prediction", "prefixItems", "presence_penalty", "prompt",
    "properties", "propertyNames", "reasoning_effort", "refusal", "required", "response_format",
    "role", "schema", "seed", "service_tier", "stop", "store", "stream", "stream_options",
    "strict", "suffix", "temperature", "text", "then", "title", "tool_call_id", "tool_calls",
    "tool_choice", "tools", "top_logprobs", "top_p", "type", "uniqueItems", "url", "user",
    "voice", "web_search_options",
};
/* clang-format on */

static int name_cmp(const void *key, const void *elem)
{
    return strcmp(key, *(const char *const *)elem);
}

static bool api_name(const char *k, size_t n)
{
    return n < 32 && strlen(k) == n &&
           bsearch(k, api_names, sizeof(api_names) / sizeof(*api_names), sizeof(*api_names),
                   name_cmp);
}

/* Sets the members of `from` into the empty object `to`, in order. Returns -1 when out of
 * memory. */
static int copy_members(json_t *to, json_t *from)
{
    const char *k;
    size_t kl;
    json_t *v;
    json_object_keylen_foreach(from, k, kl, v)
    {
        if (json_object_setn_nocheck(to, k, kl, v) != 0)
            return -1;
    }
    return 0;
}

/* Renames members of o in place, keeping their order: `renamed` holds pairs of a member's
 * position and its new name, by position. Returns SG_API_NAME_CLASH when two names would
 * be one (o is left as it was), -1 when out of memory, or 0. */
static int rename_members(json_t *o, const json_t *renamed)
{
    json_t *t = json_object(), *v;
    const char *k;
    size_t kl, i = 0, r = 0;
    int rc = t ? 0 : -1;
    json_object_keylen_foreach(o, k, kl, v)
    {
        if (rc)
            break;
        const char *name = k; /* not k itself: the loop finds the next member from it */
        size_t nl = kl;
        if (r < json_array_size(renamed) &&
            (size_t)json_integer_value(json_array_get(renamed, r)) == i) {
            const json_t *n = json_array_get(renamed, r + 1);
            name = json_string_value(n);
            nl = json_string_length(n);
            r += 2;
        }
        i++;
        if (json_object_getn(t, name, nl))
            rc = SG_API_NAME_CLASH;
        else if (json_object_setn_nocheck(t, name, nl, v) != 0)
            rc = -1;
    }
    if (!rc && (json_object_clear(o) != 0 || copy_members(o, t) != 0))
        rc = -1;
    json_decref(t);
    return rc;
}

/* The member names of object o but the API's own (api_name), each given to fn as a string
 * made for the call, with the object's path and the member's position in braces
 * ("metadata{0}": not the name, which may be the very value a detector finds, and paths
 * are named in errors). A client's own keys (metadata, a vendor's extension, a schema's
 * property names) reach the backend like its values, and a name that holds an e-mail
 * address or a customer's name must not pass unseen. A name fn changes renames its
 * member, in place and in order, so field i of a copy of a body is still field i of the
 * original. Returns fn's non-zero result, SG_API_NAME_CLASH when two names became one
 * (two masked card numbers: sending one would drop the other), -1 when out of memory, or
 * 0. */
static int visit_names(json_t *o, char *p, size_t len, sg_api_field_fn fn, void *ctx)
{
    const char *k;
    size_t kl, i = 0;
    json_t *v, *renamed = NULL; /* position, new name, position, new name, ... */
    int rc = 0;
    json_object_keylen_foreach(o, k, kl, v)
    {
        if (api_name(k, kl)) {
            i++;
            continue;
        }
        json_t *s = json_stringn_nocheck(k, kl);
        char d[24];
        path_add(p, len, d, (size_t)snprintf(d, sizeof(d), "{%zu}", i), "", 0);
        rc = s ? fn(s, p, ctx) : -1;
        p[len] = '\0';
        if (!rc && (json_string_length(s) != kl || memcmp(json_string_value(s), k, kl) != 0) &&
            ((!renamed && !(renamed = json_array())) ||
             json_array_append_new(renamed, json_integer((json_int_t)i)) != 0 ||
             json_array_append(renamed, s) != 0))
            rc = -1;
        json_decref(s);
        if (rc)
            break;
        i++;
    }
    if (!rc && renamed)
        rc = rename_members(o, renamed);
    json_decref(renamed);
    return rc;
}

/* Every string in v, member names included (visit_names), depth first in document order;
 * `path` (of length `len`, room for SG_API_PATH_MAX bytes) names v and is extended for its
 * members (a name that does not fit is left off). */
static int visit_all(json_t *v, char *path, size_t len, sg_api_field_fn fn, void *ctx)
{
    if (json_is_string(v))
        return fn(v, path, ctx);
    size_t i;
    const char *k;
    json_t *e;
    int rc = json_is_object(v) ? visit_names(v, path, len, fn, ctx) : 0;
    if (rc)
        return rc;
    json_array_foreach(v, i, e)
    {
        rc = visit_all(e, path, path_index(path, len, i), fn, ctx);
        path[len] = '\0';
        if (rc)
            return rc;
    }
    json_object_foreach(v, k, e)
    {
        rc = visit_all(e, path, path_key(path, len, k), fn, ctx);
        path[len] = '\0';
        if (rc)
            return rc;
    }
    return 0;
}

/* Whether s[0..n) is base64 (the standard alphabet, padding and line breaks), not text. */
static bool is_base64(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '+' || c == '/' || c == '=' || c == '\r' || c == '\n'))
            return false;
    }
    return n > 0;
}

/* Whether s[0..n) is a bare media type, "type/subtype" of RFC 6838's restricted-name
 * characters (no parameters): what a data: URL of an image, a clip or a file names. */
static bool bare_media_type(const char *s, size_t n)
{
    size_t slash = 0, i;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '/' && !slash && i > 0)
            slash = i;
        else if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                   strchr("!#$&-^_.+", c)) ||
                 c == 0)
            return false;
    }
    return slash && slash + 1 < n && n <= 255;
}

/* A binary payload of a content part, not text: the base64 of an image (in a data: URL),
 * of an audio clip or of a file. Scanning it finds nothing a person wrote, costs time on
 * megabytes, and a "finding" in base64 would corrupt it. Only what is base64 is left
 * alone: text a client put in such a slot (spaces, dots, an '@', a '_') is scanned. */
static bool binary_payload(const char *key, const char *member, const json_t *v)
{
    bool image = strcmp(key, "image_url") == 0 && strcmp(member, "url") == 0;
    if (!image && !(strcmp(key, "input_audio") == 0 && strcmp(member, "data") == 0) &&
        !(strcmp(key, "file") == 0 && strcmp(member, "file_data") == 0))
        return false;
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    if (!s)
        return false;
    if (n >= 5 && memcmp(s, "data:", 5) == 0) {
        /* data:<media type>;base64,<data>: only base64 is binary, and only under a bare
         * media type: parameters (or an empty type) are text a client wrote, so the whole
         * URL is scanned then */
        const char *comma = memchr(s, ',', n);
        if (!comma || comma - s < 12 || memcmp(comma - 7, ";base64", 7) != 0 ||
            !bare_media_type(s + 5, (size_t)(comma - 7 - (s + 5))))
            return false;
        n -= (size_t)(comma + 1 - s);
        s = comma + 1;
    } else if (image) {
        return false; /* an http(s) URL is text */
    }
    return is_base64(s, n);
}

/* A content part's members but its binary payloads. `p` names the part. Its `type` is
 * visited too: the gateway cannot know every type name, and a string a client put there
 * reaches the backend like any other (a type name holds nothing a detector finds). */
static int visit_part(json_t *part, char *p, size_t len, sg_api_field_fn fn, void *ctx)
{
    const char *k;
    json_t *v;
    int rc = json_is_object(part) ? visit_names(part, p, len, fn, ctx) : 0;
    if (rc)
        return rc;
    json_object_foreach(part, k, v)
    {
        size_t kl = path_key(p, len, k);
        if (!json_is_object(v)) {
            rc = visit_all(v, p, kl, fn, ctx);
        } else if (!(rc = visit_names(v, p, kl, fn, ctx))) {
            const char *bk;
            json_t *bv;
            json_object_foreach(v, bk, bv)
            {
                if (!binary_payload(k, bk, bv) &&
                    (rc = visit_all(bv, p, path_key(p, kl, bk), fn, ctx)))
                    break;
                p[kl] = '\0';
            }
        }
        p[len] = '\0';
        if (rc)
            return rc;
    }
    return 0;
}

/* Every string of a message but its role (one of the few the validation accepts) and the
 * binary payloads of its content parts. So a field this gateway does not list
 * (reasoning_content a client sends back, refusal, audio transcripts, an image's URL, a
 * vendor's extension) never reaches a backend unseen. The ids that pair a tool's answer
 * with its call (tool_calls[].id, tool_call_id) are visited too: a client makes them (and
 * the Anthropic, Responses and Gemini translations copy the client's ids into them), so
 * they can carry any text. Pairing survives: the same id gives the same findings in the
 * call and in its answer, and every action replaces the same text the same way. Paths are
 * formatted only for fields that are there: this walk runs for every message of every
 * request. */
static int visit_message(json_t *m, size_t mi, sg_api_field_fn fn, void *ctx)
{
    char p[SG_API_PATH_MAX];
    memcpy(p, "messages", sizeof("messages")); /* with its NUL; the hot path, no printf */
    size_t bl = path_index(p, 8, mi);
    const char *k;
    json_t *v;
    int rc = visit_names(m, p, bl, fn, ctx);
    if (rc)
        return rc;
    json_object_foreach(m, k, v)
    {
        if (strcmp(k, "role") == 0 || json_is_number(v) || json_is_boolean(v) || json_is_null(v))
            continue;
        size_t l = path_key(p, bl, k);
        size_t i;
        json_t *e;
        if (strcmp(k, "content") == 0 && json_is_array(v)) {
            json_array_foreach(v, i, e)
            {
                if ((rc = visit_part(e, p, path_index(p, l, i), fn, ctx)))
                    break;
                p[l] = '\0';
            }
        } else {
            rc = visit_all(v, p, l, fn, ctx);
        }
        if (rc)
            return rc;
        p[bl] = '\0';
    }
    return 0;
}

/* Schema keywords whose strings are data: the annotations (free text no answer has to
 * match) and the values an answer must be one of (enum, const), which a shop fills with
 * its customers' names or addresses as readily as any prompt. A value pseudonymized there
 * is the same surrogate as in the messages, so the answer still matches the schema and is
 * restored like any answer; a masked one narrows what the answer can say, which is what
 * masking means. */
static bool schema_data(const char *k)
{
    return strcmp(k, "description") == 0 || strcmp(k, "title") == 0 || strcmp(k, "$comment") == 0 ||
           strcmp(k, "examples") == 0 || strcmp(k, "default") == 0 || strcmp(k, "enum") == 0 ||
           strcmp(k, "const") == 0 || strcmp(k, "required") == 0 ||
           strcmp(k, "dependentRequired") == 0;
}

/* Schema keywords whose members are named schemas (the names are not keywords). */
static bool schema_map(const char *k)
{
    return strcmp(k, "properties") == 0 || strcmp(k, "patternProperties") == 0 ||
           strcmp(k, "$defs") == 0 || strcmp(k, "definitions") == 0 ||
           strcmp(k, "dependentSchemas") == 0;
}

/* The data of a response schema (response_format, and what the Responses, Gemini and
 * Ollama translations make of theirs): every description, title, $comment, examples,
 * default, enum and const, at any depth. The schema's structure is left alone (pattern,
 * type, format, required, the names of properties, the format's name): a transformed
 * keyword or property name would change the answer's shape. */
static int visit_schema(json_t *v, char *p, size_t len, sg_api_field_fn fn, void *ctx)
{
    size_t i;
    json_t *e;
    json_array_foreach(v, i, e)
    {
        int rc = visit_schema(e, p, path_index(p, len, i), fn, ctx);
        p[len] = '\0';
        if (rc)
            return rc;
    }
    const char *k;
    int rc = json_is_object(v) ? visit_names(v, p, len, fn, ctx) : 0;
    if (rc)
        return rc;
    json_object_foreach(v, k, e)
    {
        size_t kl = path_key(p, len, k);
        if (schema_data(k)) {
            rc = visit_all(e, p, kl, fn, ctx);
        } else if (schema_map(k) && json_is_object(e) && !(rc = visit_names(e, p, kl, fn, ctx))) {
            const char *name;
            json_t *sub;
            json_object_foreach(e, name, sub)
            {
                if ((rc = visit_schema(sub, p, path_key(p, kl, name), fn, ctx)))
                    break;
                p[kl] = '\0';
            }
        } else if (json_is_object(e) || json_is_array(e)) {
            rc = visit_schema(e, p, kl, fn, ctx);
        }
        p[len] = '\0';
        if (rc)
            return rc;
    }
    return 0;
}

/* Top-level fields the walk leaves to others: the ones it visits itself (messages, prompt,
 * input, user, response_format) and the model (the gateway names the backend's model in
 * every attempt; the client's never reaches a backend). Every other field has each of its
 * strings visited, also the ones that normally hold no text (tool_choice, stream_options,
 * enumerations such as service_tier): a client can put a string anywhere, and whatever is
 * there goes to the backend. A name of a tool and a tool_choice naming it are transformed
 * alike, so they still match. Numbers and flags are not strings: nothing to do for them. */
static bool structural(const char *k)
{
    static const char *const keys[] = {"model", "messages",        "prompt", "input",
                                       "user",  "response_format", NULL};
    for (const char *const *p = keys; *p; p++)
        if (strcmp(k, *p) == 0)
            return true;
    return false;
}

int sg_api_ask_usage(json_t *body)
{
    json_t *so = json_object_get(body, "stream_options");
    if (!json_is_object(so) && json_object_set_new(body, "stream_options", so = json_object()))
        return -1;
    return json_object_set_new(so, "include_usage", json_true());
}

bool sg_api_json_answer(const json_t *body)
{
    const char *t =
        json_string_value(json_object_get(json_object_get(body, "response_format"), "type"));
    return t && (strcmp(t, "json_object") == 0 || strcmp(t, "json_schema") == 0);
}

const char *sg_api_token_ids(enum sg_endpoint ep, const json_t *body)
{
    const char *name = ep == SG_EP_COMPLETIONS ? "prompt" : ep == SG_EP_EMBEDDINGS ? "input" : NULL;
    const json_t *v = name ? json_object_get(body, name) : NULL;
    size_t i;
    const json_t *e;
    json_array_foreach(v, i, e)
    {
        if (!json_is_string(e))
            return name; /* validated: all token ids, or all arrays of them */
    }
    return NULL;
}

int sg_api_text_fields(enum sg_endpoint ep, json_t *body, sg_api_field_fn fn, void *ctx)
{
    int rc;
    switch (ep) {
    case SG_EP_CHAT: {
        size_t i;
        json_t *m;
        json_array_foreach(json_object_get(body, "messages"), i, m)
        {
            if ((rc = visit_message(m, i, fn, ctx)) != 0)
                return rc;
        }
        break;
    }
    case SG_EP_COMPLETIONS:
        if (visit_string_or_list(json_object_get(body, "prompt"), "prompt", fn, ctx) != 0)
            return -1;
        break;
    case SG_EP_EMBEDDINGS:
        if (visit_string_or_list(json_object_get(body, "input"), "input", fn, ctx) != 0)
            return -1;
        break;
    default:
        break;
    }
    if (visit_field(body, "user", "user", fn, ctx) != 0)
        return -1;
    json_t *rf = json_object_get(body, "response_format");
    if (rf) {
        char path[SG_API_PATH_MAX] = "response_format";
        if ((rc = visit_schema(rf, path, strlen(path), fn, ctx)))
            return rc;
    }
    char top[SG_API_PATH_MAX] = "";
    rc = visit_names(body, top, 0, fn, ctx);
    if (rc)
        return rc;
    const char *k;
    json_t *v;
    json_object_foreach(body, k, v)
    {
        if (structural(k))
            continue;
        /* a field's name, never empty (found by fuzzing: a key ""), cut when too long */
        char path[SG_API_PATH_MAX];
        size_t l = sg_strlcpy(path, sizeof(path), k[0] ? k : "[\"\"]", SIZE_MAX);
        rc = visit_all(v, path, l, fn, ctx);
        if (rc)
            return rc;
    }
    return 0;
}
