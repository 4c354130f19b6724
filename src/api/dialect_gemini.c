/* Gemini (generativelanguage API) <-> OpenAI chat completions and embeddings: the
 * endpoints, the request translation (contents and parts, systemInstruction,
 * generationConfig, tools and toolConfig, embedContent) and the error shape. The answers
 * and streams are in dialect_stream.c. */
#include "api/dialect.h"
#include "api/dialect_int.h"
#include "core/error.h"
#include "core/json.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

/* ---- endpoints ---- */

static const struct sg_endpoint_info gemini_eps[] = {
    {SG_EP_CHAT, "/v1beta/models/{model}:generateContent", "POST", true, true, SG_DIALECT_GEMINI},
    {SG_EP_CHAT, "/v1beta/models/{model}:streamGenerateContent", "POST", true, true,
     SG_DIALECT_GEMINI},
    {SG_EP_EMBEDDINGS, "/v1beta/models/{model}:embedContent", "POST", true, true,
     SG_DIALECT_GEMINI},
    {SG_EP_EMBEDDINGS, "/v1beta/models/{model}:batchEmbedContents", "POST", true, true,
     SG_DIALECT_GEMINI},
};
static const struct sg_endpoint_info gemini_models = {SG_EP_MODELS, "/v1beta/models", "GET", true,
                                                      false,        SG_DIALECT_GEMINI};

const struct sg_endpoint_info *sg_gemini_route(const char *path, size_t len, char *model,
                                               size_t cap)
{
    static const char *const prefixes[] = {"/v1beta/models", "/v1/models"};
    for (size_t p = 0; p < 2; p++) {
        size_t pl = strlen(prefixes[p]);
        if (len < pl || memcmp(path, prefixes[p], pl) != 0)
            continue;
        if (len == pl)
            return p == 0 ? &gemini_models : NULL; /* /v1/models is OpenAI's */
        if (path[pl] != '/')
            return NULL;
        const char *name = path + pl + 1, *end = path + len;
        const char *colon = memchr(name, ':', (size_t)(end - name));
        if (!colon || colon == name || (size_t)(colon - name) >= cap)
            return NULL;
        for (const char *c = name; c < colon; c++) /* model names: [A-Za-z0-9._@-] */
            if (!isalnum((unsigned char)*c) && *c != '.' && *c != '_' && *c != '-' && *c != '@')
                return NULL;
        for (size_t i = 0; i < sizeof(gemini_eps) / sizeof(gemini_eps[0]); i++) {
            const char *op = strchr(gemini_eps[i].path, ':');
            size_t ol = strlen(op);
            if ((size_t)(end - colon) == ol && memcmp(colon, op, ol) == 0) {
                memcpy(model, name, (size_t)(colon - name));
                model[colon - name] = '\0';
                return &gemini_eps[i];
            }
        }
        return NULL;
    }
    return NULL;
}

const char *sg_query_param(const char *target, size_t len, const char *name, size_t *vlen)
{
    const char *q = memchr(target, '?', len);
    if (!q)
        return NULL;
    const char *end = target + len, *p = q + 1;
    size_t nl = strlen(name);
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *e = amp ? amp : end;
        if ((size_t)(e - p) > nl && memcmp(p, name, nl) == 0 && p[nl] == '=') {
            *vlen = (size_t)(e - p - nl - 1);
            return p + nl + 1;
        }
        p = e + 1;
    }
    return NULL;
}

/* ---- errors ---- */

static const char *status_name(int status)
{
    switch (status) {
    case 400:
    case 413:
        return "INVALID_ARGUMENT";
    case 401:
        return "UNAUTHENTICATED";
    case 403:
        return "PERMISSION_DENIED";
    case 404:
    case 405:
        return "NOT_FOUND";
    case 429:
        return "RESOURCE_EXHAUSTED";
    case 499:
        return "CANCELLED";
    case 501:
        return "UNIMPLEMENTED";
    case 502:
    case 503:
        return "UNAVAILABLE";
    case 504:
        return "DEADLINE_EXCEEDED";
    default:
        return status >= 500 ? "INTERNAL" : "FAILED_PRECONDITION";
    }
}

int sg_gemini_error(const struct sg_api_error *e, struct sg_buf *out)
{
    json_t *o = json_pack("{s:{s:i,s:s,s:s}}", "error", "code", e->status, "message", e->message,
                          "status", status_name(e->status));
    int rc = o ? sg_json_dump(o, out) : SG_ENOMEM;
    json_decref(o);
    return rc;
}

/* ---- requests ---- */

/* Gemini's Schema (an OpenAPI subset with upper-case type names) -> JSON schema. */
static json_t *schema_of(const json_t *in, int depth, struct sg_api_error *e)
{
    if (depth > 64)
        return sg_dialect_fail(e, "schema", "The schema is nested too deeply.");
    if (!json_is_object(in))
        return sg_dialect_fail(e, "schema", "A schema must be an object.");
    json_t *out = json_object();
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)in, k, v)
    {
        if (strcmp(k, "type") == 0 && json_is_string(v)) {
            char t[32];
            size_t n = 0;
            for (const char *c = json_string_value(v); *c && n < sizeof(t) - 1; c++)
                t[n++] = (char)tolower((unsigned char)*c);
            t[n] = '\0';
            if (strcmp(t, "type_unspecified") != 0)
                json_object_set_new(out, "type", json_string(t));
        } else if (strcmp(k, "properties") == 0 && json_is_object(v)) {
            json_t *props = json_object();
            const char *pk;
            json_t *pv;
            json_object_foreach(v, pk, pv)
            {
                json_t *s = schema_of(pv, depth + 1, e);
                if (!s) {
                    json_decref(props);
                    json_decref(out);
                    return NULL;
                }
                json_object_set_new(props, pk, s);
            }
            json_object_set_new(out, "properties", props);
        } else if ((strcmp(k, "items") == 0 && json_is_object(v))) {
            json_t *s = schema_of(v, depth + 1, e);
            if (!s) {
                json_decref(out);
                return NULL;
            }
            json_object_set_new(out, "items", s);
        } else if (strcmp(k, "anyOf") == 0 && json_is_array(v)) {
            json_t *arr = json_array();
            size_t i;
            json_t *x;
            json_array_foreach(v, i, x)
            {
                json_t *s = schema_of(x, depth + 1, e);
                if (!s) {
                    json_decref(arr);
                    json_decref(out);
                    return NULL;
                }
                json_array_append_new(arr, s);
            }
            json_object_set_new(out, "anyOf", arr);
        } else if (strcmp(k, "nullable") == 0 || strcmp(k, "propertyOrdering") == 0 ||
                   strcmp(k, "example") == 0) {
            continue; /* no JSON schema equivalent needed */
        } else {
            json_object_set(out, k, v);
        }
    }
    if (json_is_true(json_object_get(in, "nullable")) &&
        json_is_string(json_object_get(out, "type")))
        json_object_set_new(out, "type", json_pack("[O,s]", json_object_get(out, "type"), "null"));
    return out;
}

/* The text of a Content ({"parts":[{"text":…}]}) or of a string, parts joined by new lines. */
static json_t *content_text(const json_t *c, const char *param, struct sg_api_error *e)
{
    if (json_is_string(c))
        return json_copy((json_t *)c);
    const json_t *parts = json_object_get(c, "parts");
    if (!json_is_array(parts))
        return sg_dialect_fail(e, param, "%s must be a Content with parts.", param);
    struct sg_buf b;
    sg_buf_init(&b, 64u << 20);
    size_t i;
    const json_t *p;
    json_array_foreach(parts, i, p)
    {
        const json_t *t = json_object_get(p, "text");
        if (!json_is_string(t)) {
            sg_buf_free(&b);
            return sg_dialect_fail(e, param, "%s: only text parts are supported here.", param);
        }
        if (b.len)
            sg_buf_append(&b, "\n", 1);
        if (sg_buf_append(&b, json_string_value(t), json_string_length(t)) != 0) {
            sg_buf_free(&b);
            return sg_dialect_fail(e, param, "%s is too large.", param);
        }
    }
    json_t *s = json_stringn(b.data ? b.data : "", b.len);
    sg_buf_free(&b);
    return s;
}

struct conv {
    json_t *pending; /* function calls without a response yet: [{id, name}] */
    unsigned next_id;
};

static void call_id(struct conv *cv, const json_t *fc, char *out, size_t cap)
{
    const json_t *id = json_object_get(fc, "id");
    if (json_is_string(id) && json_string_length(id) && json_string_length(id) < cap)
        snprintf(out, cap, "%s", json_string_value(id));
    else
        snprintf(out, cap, "call_%u", cv->next_id);
    cv->next_id++;
}

/* The id of the call a functionResponse answers: its own id, else the oldest pending call
 * of the same name. */
static json_t *response_id(struct conv *cv, const json_t *fr)
{
    const json_t *id = json_object_get(fr, "id");
    const char *name = json_string_value(json_object_get(fr, "name"));
    size_t i;
    json_t *p;
    json_array_foreach(cv->pending, i, p)
    {
        const char *pid = json_string_value(json_object_get(p, "id"));
        bool match = json_is_string(id)
                         ? strcmp(json_string_value(id), pid) == 0
                         : strcmp(name, json_string_value(json_object_get(p, "name"))) == 0;
        if (match) {
            json_t *out = json_string(pid);
            json_array_remove(cv->pending, i);
            return out;
        }
    }
    if (json_is_string(id))
        return json_copy((json_t *)id);
    char buf[48];
    snprintf(buf, sizeof(buf), "call_%u", cv->next_id++);
    return json_string(buf);
}

/* One Content -> OpenAI messages appended to `om`. */
static int content_msgs(json_t *om, const json_t *c, size_t ci, struct conv *cv,
                        struct sg_api_error *e)
{
    char p[96];
    snprintf(p, sizeof(p), "contents[%zu]", ci);
    if (!json_is_object(c)) {
        sg_dialect_fail(e, p, "%s must be an object.", p);
        return -1;
    }
    const json_t *rv = json_object_get(c, "role");
    const char *role = rv ? json_string_value(rv) : "user";
    if (!role || (strcmp(role, "user") != 0 && strcmp(role, "model") != 0 &&
                  strcmp(role, "function") != 0)) {
        sg_dialect_fail(e, p, "%s.role must be \"user\" or \"model\".", p);
        return -1;
    }
    bool model = strcmp(role, "model") == 0;
    const json_t *parts = json_object_get(c, "parts");
    if (!json_is_array(parts) || json_array_size(parts) == 0) {
        sg_dialect_fail(e, p, "%s.parts must be a non-empty array.", p);
        return -1;
    }
    json_t *items = json_array(), *calls = json_array();
    struct sg_buf text;
    sg_buf_init(&text, 64u << 20);
    size_t ntext = 0, i;
    const json_t *part;
    json_array_foreach(parts, i, part)
    {
        snprintf(p, sizeof(p), "contents[%zu].parts[%zu]", ci, i);
        if (!json_is_object(part)) {
            sg_dialect_fail(e, p, "%s must be an object.", p);
            goto bad;
        }
        const json_t *t = json_object_get(part, "text");
        const json_t *inl = json_object_get(part, "inlineData");
        const json_t *fc = json_object_get(part, "functionCall");
        const json_t *fr = json_object_get(part, "functionResponse");
        if (t) {
            if (!json_is_string(t)) {
                sg_dialect_fail(e, p, "%s.text must be a string.", p);
                goto bad;
            }
            if (json_is_true(json_object_get(part, "thought")))
                continue; /* thought summaries are not sent back to a model */
            json_array_append_new(items, json_pack("{s:s,s:O}", "type", "text", "text", t));
            if (ntext++)
                sg_buf_append(&text, "\n", 1);
            if (sg_buf_append(&text, json_string_value(t), json_string_length(t)) != 0) {
                sg_dialect_fail(e, p, "The request is too large.");
                goto bad;
            }
        } else if (inl) {
            const char *mt = json_string_value(json_object_get(inl, "mimeType"));
            const char *data = json_string_value(json_object_get(inl, "data"));
            if (!mt || !data) {
                sg_dialect_fail(e, p, "%s.inlineData needs mimeType and data strings.", p);
                goto bad;
            }
            if (strncmp(mt, "image/", 6) != 0 || model) {
                sg_dialect_fail(e, p,
                                "%s: inline data of type %.40s is not supported by this deployment "
                                "(images in user turns only).",
                                p, mt);
                goto bad;
            }
            struct sg_buf u;
            sg_buf_init(&u, 64u << 20);
            sg_buf_printf(&u, "data:%s;base64,", mt);
            int rc = sg_buf_append(&u, data, strlen(data));
            json_t *url = rc == 0 ? json_stringn(u.data, u.len) : NULL;
            sg_buf_free(&u);
            if (!url) {
                sg_dialect_fail(e, p, "The request is too large.");
                goto bad;
            }
            json_array_append_new(
                items, json_pack("{s:s,s:{s:o}}", "type", "image_url", "image_url", "url", url));
            ntext += 2; /* forces the array form */
        } else if (fc) {
            const json_t *name = json_object_get(fc, "name");
            const json_t *args = json_object_get(fc, "args");
            if (!model || !json_is_string(name) || (args && !json_is_object(args))) {
                sg_dialect_fail(
                    e, p, "%s.functionCall needs a name and an args object, in a model turn.", p);
                goto bad;
            }
            char id[48];
            call_id(cv, fc, id, sizeof(id));
            json_t *a = args ? sg_dialect_json_string(args) : json_string("{}");
            if (!a) {
                sg_dialect_fail(e, p, "The request is too large.");
                goto bad;
            }
            json_array_append_new(calls,
                                  json_pack("{s:s,s:s,s:{s:O,s:o}}", "id", id, "type", "function",
                                            "function", "name", name, "arguments", a));
            json_array_append_new(cv->pending, json_pack("{s:s,s:O}", "id", id, "name", name));
        } else if (fr) {
            const json_t *name = json_object_get(fr, "name");
            const json_t *resp = json_object_get(fr, "response");
            if (model || !json_is_string(name) || !json_is_object(resp)) {
                sg_dialect_fail(
                    e, p, "%s.functionResponse needs a name and a response object, in a user turn.",
                    p);
                goto bad;
            }
            json_t *content = sg_dialect_json_string(resp);
            if (!content) {
                sg_dialect_fail(e, p, "The request is too large.");
                goto bad;
            }
            /* tool results answer the preceding model turn: they come first */
            json_array_append_new(om, json_pack("{s:s,s:o,s:o}", "role", "tool", "tool_call_id",
                                                response_id(cv, fr), "content", content));
        } else {
            const char *kind = "unknown";
            const char *k;
            json_t *v;
            json_object_foreach((json_t *)part, k, v)
            {
                if (strcmp(k, "thoughtSignature") != 0 && strcmp(k, "thought") != 0) {
                    kind = k;
                    break;
                }
            }
            sg_dialect_fail(
                e, p, "%s: parts of kind \"%.40s\" are not supported by this deployment.", p, kind);
            goto bad;
        }
    }
    if (json_array_size(items) || json_array_size(calls)) {
        json_t *m = json_pack("{s:s}", "role", model ? "assistant" : "user");
        if (model || ntext == 1)
            json_object_set_new(m, "content",
                                ntext ? json_stringn(text.data, text.len) : json_null());
        else
            json_object_set(m, "content", items);
        if (json_array_size(calls))
            json_object_set(m, "tool_calls", calls);
        json_array_append_new(om, m);
    }
    json_decref(items);
    json_decref(calls);
    sg_buf_free(&text);
    return 0;
bad:
    json_decref(items);
    json_decref(calls);
    sg_buf_free(&text);
    return -1;
}

static int num(json_t *out, const char *to, const json_t *cfg, const char *from, bool integer,
               struct sg_api_error *e)
{
    const json_t *v = json_object_get(cfg, from);
    if (!v || json_is_null(v))
        return 0;
    if (integer ? !json_is_integer(v) : !json_is_number(v)) {
        sg_dialect_fail(e, from, "generationConfig.%s must be %s.", from,
                        integer ? "an integer" : "a number");
        return -1;
    }
    json_object_set(out, to, (json_t *)v);
    return 0;
}

static int generation_config(json_t *out, const json_t *gc, struct sg_api_error *e)
{
    if (!gc)
        return 0;
    if (!json_is_object(gc)) {
        sg_dialect_fail(e, "generationConfig", "generationConfig must be an object.");
        return -1;
    }
    if (num(out, "temperature", gc, "temperature", false, e) ||
        num(out, "top_p", gc, "topP", false, e) || num(out, "top_k", gc, "topK", false, e) ||
        num(out, "max_tokens", gc, "maxOutputTokens", true, e) ||
        num(out, "seed", gc, "seed", true, e) ||
        num(out, "presence_penalty", gc, "presencePenalty", false, e) ||
        num(out, "frequency_penalty", gc, "frequencyPenalty", false, e))
        return -1;
    const json_t *cc = json_object_get(gc, "candidateCount");
    if (cc && !json_is_null(cc) && (!json_is_integer(cc) || json_integer_value(cc) != 1)) {
        sg_dialect_fail(e, "candidateCount",
                        "generationConfig.candidateCount: only 1 is supported.");
        return -1;
    }
    const json_t *stop = json_object_get(gc, "stopSequences");
    if (stop) {
        size_t i;
        const json_t *s;
        bool ok = json_is_array(stop);
        json_array_foreach(stop, i, s)
        {
            ok = ok && json_is_string(s);
        }
        if (!ok) {
            sg_dialect_fail(e, "stopSequences",
                            "generationConfig.stopSequences must be an array of strings.");
            return -1;
        }
        json_object_set(out, "stop", (json_t *)stop);
    }
    const json_t *mods = json_object_get(gc, "responseModalities");
    size_t i;
    const json_t *m;
    json_array_foreach(mods, i, m)
    {
        if (!json_is_string(m) || strcmp(json_string_value(m), "TEXT") != 0) {
            sg_dialect_fail(
                e, "responseModalities",
                "Only TEXT responses are served by this deployment (responseModalities).");
            return -1;
        }
    }
    const json_t *mt = json_object_get(gc, "responseMimeType");
    if (mt && !json_is_string(mt)) {
        sg_dialect_fail(e, "responseMimeType",
                        "generationConfig.responseMimeType must be a string.");
        return -1;
    }
    const char *mime = json_string_value(mt);
    const json_t *schema = json_object_get(gc, "responseJsonSchema");
    if (!schema)
        schema = json_object_get(gc, "responseSchema");
    if (mime && strcmp(mime, "application/json") == 0) {
        json_t *rf;
        if (schema) {
            json_t *js;
            if (json_object_get(gc, "responseJsonSchema")) {
                if (!json_is_object(schema)) {
                    sg_dialect_fail(e, "responseJsonSchema",
                                    "responseJsonSchema must be an object.");
                    return -1;
                }
                js = json_copy((json_t *)schema);
            } else if (!(js = schema_of(schema, 0, e))) {
                return -1;
            }
            rf = json_pack("{s:s,s:{s:s,s:o}}", "type", "json_schema", "json_schema", "name",
                           "response", "schema", js);
        } else {
            rf = json_pack("{s:s}", "type", "json_object");
        }
        json_object_set_new(out, "response_format", rf);
    } else if (mime && strcmp(mime, "text/plain") != 0) {
        sg_dialect_fail(e, "responseMimeType",
                        "responseMimeType %.40s is not supported (application/json or text/plain).",
                        mime);
        return -1;
    } else if (schema) {
        sg_dialect_fail(e, "responseSchema",
                        "responseSchema needs responseMimeType application/json.");
        return -1;
    }
    return 0;
}

static json_t *tools_of(const json_t *tools, struct sg_api_error *e)
{
    if (!json_is_array(tools))
        return sg_dialect_fail(e, "tools", "tools must be an array.");
    json_t *out = json_array();
    size_t i;
    const json_t *t;
    json_array_foreach(tools, i, t)
    {
        const char *k;
        json_t *v;
        if (!json_is_object(t)) {
            json_decref(out);
            return sg_dialect_fail(e, "tools", "Each tool must be an object.");
        }
        json_object_foreach((json_t *)t, k, v)
        {
            if (strcmp(k, "functionDeclarations") != 0) {
                json_decref(out);
                return sg_dialect_fail(e, "tools",
                                       "Tools of kind \"%.40s\" are not served by this "
                                       "deployment (functionDeclarations only).",
                                       k);
            }
            size_t j;
            const json_t *fd;
            if (!json_is_array(v)) {
                json_decref(out);
                return sg_dialect_fail(e, "tools", "functionDeclarations must be an array.");
            }
            json_array_foreach(v, j, fd)
            {
                const json_t *name = json_object_get(fd, "name");
                const json_t *desc = json_object_get(fd, "description");
                const json_t *pjs = json_object_get(fd, "parametersJsonSchema");
                const json_t *ps = json_object_get(fd, "parameters");
                if (!json_is_string(name) || (pjs && !json_is_object(pjs))) {
                    json_decref(out);
                    return sg_dialect_fail(e, "tools",
                                           "Each function declaration needs a name (and "
                                           "object parameters).");
                }
                json_t *params = pjs  ? json_copy((json_t *)pjs)
                                 : ps ? schema_of(ps, 0, e)
                                      : json_pack("{s:s,s:{}}", "type", "object", "properties");
                if (!params) {
                    json_decref(out);
                    return NULL;
                }
                json_t *fn = json_pack("{s:O,s:o}", "name", name, "parameters", params);
                if (json_is_string(desc))
                    json_object_set(fn, "description", (json_t *)desc);
                json_array_append_new(out,
                                      json_pack("{s:s,s:o}", "type", "function", "function", fn));
            }
        }
    }
    return out;
}

static int tool_config(json_t *out, const json_t *tc, struct sg_api_error *e)
{
    if (!tc)
        return 0;
    const json_t *fcc = json_object_get(tc, "functionCallingConfig");
    if (!json_is_object(tc) || (fcc && !json_is_object(fcc))) {
        sg_dialect_fail(e, "toolConfig", "toolConfig.functionCallingConfig must be an object.");
        return -1;
    }
    const json_t *mv = json_object_get(fcc, "mode");
    const char *mode = json_string_value(mv);
    if (mv && !mode) {
        sg_dialect_fail(e, "toolConfig", "functionCallingConfig.mode must be a string.");
        return -1;
    }
    const json_t *allowed = json_object_get(fcc, "allowedFunctionNames");
    if (!mode || strcmp(mode, "MODE_UNSPECIFIED") == 0)
        return 0;
    if (strcmp(mode, "AUTO") == 0 || strcmp(mode, "VALIDATED") == 0)
        json_object_set_new(out, "tool_choice", json_string("auto"));
    else if (strcmp(mode, "NONE") == 0)
        json_object_set_new(out, "tool_choice", json_string("none"));
    else if (strcmp(mode, "ANY") == 0) {
        if (json_array_size(allowed) == 1 && json_is_string(json_array_get(allowed, 0)))
            json_object_set_new(out, "tool_choice",
                                json_pack("{s:s,s:{s:O}}", "type", "function", "function", "name",
                                          json_array_get(allowed, 0)));
        else
            json_object_set_new(out, "tool_choice", json_string("required"));
    } else {
        sg_dialect_fail(e, "toolConfig", "functionCallingConfig.mode %.32s is not known.", mode);
        return -1;
    }
    return 0;
}

json_t *sg_gemini_request(const json_t *in, const char *model, bool stream, struct sg_api_error *e)
{
    if (!json_is_object(in))
        return sg_dialect_fail(e, NULL, "The request body must be a JSON object.");
    if (json_object_get(in, "cachedContent"))
        return sg_dialect_fail(e, "cachedContent",
                               "Cached contents are not served by this deployment.");
    const json_t *contents = json_object_get(in, "contents");
    if (!json_is_array(contents) || json_array_size(contents) == 0)
        return sg_dialect_fail(e, "contents", "contents: a non-empty array is required.");
    json_t *out = json_pack("{s:s}", "model", model);
    json_t *om = json_array();
    json_object_set_new(out, "messages", om);
    struct conv cv = {json_array(), 0};
    const json_t *sys = json_object_get(in, "systemInstruction");
    if (sys) {
        json_t *t = content_text(sys, "systemInstruction", e);
        if (!t)
            goto bad;
        json_array_append_new(om, json_pack("{s:s,s:o}", "role", "system", "content", t));
    }
    size_t i;
    const json_t *c;
    json_array_foreach(contents, i, c)
    {
        if (content_msgs(om, c, i, &cv, e) != 0)
            goto bad;
    }
    if (json_array_size(om) == 0) {
        sg_dialect_fail(e, "contents", "contents holds no text.");
        goto bad;
    }
    if (generation_config(out, json_object_get(in, "generationConfig"), e) != 0)
        goto bad;
    const json_t *tools = json_object_get(in, "tools");
    if (tools) {
        json_t *t = tools_of(tools, e);
        if (!t)
            goto bad;
        if (json_array_size(t))
            json_object_set_new(out, "tools", t);
        else
            json_decref(t);
    }
    if (tool_config(out, json_object_get(in, "toolConfig"), e) != 0)
        goto bad;
    if (stream)
        json_object_set_new(out, "stream", json_true());
    json_decref(cv.pending);
    return out;
bad:
    json_decref(cv.pending);
    json_decref(out);
    return NULL;
}

json_t *sg_gemini_embed_request(const json_t *in, const char *model, bool batch,
                                struct sg_api_error *e)
{
    if (!json_is_object(in))
        return sg_dialect_fail(e, NULL, "The request body must be a JSON object.");
    json_t *out = json_pack("{s:s}", "model", model);
    const json_t *dims = NULL;
    if (batch) {
        const json_t *reqs = json_object_get(in, "requests");
        if (!json_is_array(reqs) || json_array_size(reqs) == 0) {
            json_decref(out);
            return sg_dialect_fail(e, "requests", "requests: a non-empty array is required.");
        }
        json_t *inputs = json_array();
        json_object_set_new(out, "input", inputs);
        size_t i;
        const json_t *r;
        json_array_foreach(reqs, i, r)
        {
            char p[48];
            snprintf(p, sizeof(p), "requests[%zu].content", i);
            json_t *t = content_text(json_object_get(r, "content"), p, e);
            if (!t) {
                json_decref(out);
                return NULL;
            }
            json_array_append_new(inputs, t);
            if (!dims)
                dims = json_object_get(r, "outputDimensionality");
        }
    } else {
        json_t *t = content_text(json_object_get(in, "content"), "content", e);
        if (!t) {
            json_decref(out);
            return NULL;
        }
        json_object_set_new(out, "input", t);
        dims = json_object_get(in, "outputDimensionality");
    }
    if (dims && !json_is_integer(dims)) {
        json_decref(out);
        return sg_dialect_fail(e, "outputDimensionality",
                               "outputDimensionality must be an integer.");
    }
    if (dims)
        json_object_set(out, "dimensions", (json_t *)dims);
    return out;
}
