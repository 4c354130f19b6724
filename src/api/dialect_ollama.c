/* Ollama's API <-> OpenAI chat completions and embeddings: the endpoints, the request
 * translation (/api/chat messages with images and tool calls, /api/generate prompt and
 * system, options, format, tools; /api/embed and /api/embeddings) and the error shape
 * {"error":"…"}. The answers and NDJSON streams are in dialect_stream.c. */
#include "api/dialect.h"
#include "api/dialect_int.h"
#include "core/error.h"
#include "core/json.h"

#include <stdio.h>
#include <string.h>

static const struct sg_endpoint_info ollama_eps[] = {
    {SG_EP_CHAT, "/api/chat", "POST", true, true, SG_DIALECT_OLLAMA},
    {SG_EP_CHAT, "/api/generate", "POST", true, true, SG_DIALECT_OLLAMA},
    {SG_EP_EMBEDDINGS, "/api/embed", "POST", true, true, SG_DIALECT_OLLAMA},
    {SG_EP_EMBEDDINGS, "/api/embeddings", "POST", true, true, SG_DIALECT_OLLAMA},
    {SG_EP_MODELS, "/api/tags", "GET", true, false, SG_DIALECT_OLLAMA},
};

const struct sg_endpoint_info *sg_ollama_route(const char *path, size_t len)
{
    for (size_t i = 0; i < sizeof(ollama_eps) / sizeof(ollama_eps[0]); i++)
        if (strlen(ollama_eps[i].path) == len && memcmp(ollama_eps[i].path, path, len) == 0)
            return &ollama_eps[i];
    return NULL;
}

int sg_ollama_error(const struct sg_api_error *e, struct sg_buf *out)
{
    json_t *o = json_pack("{s:s}", "error", e->message);
    int rc = o ? sg_json_dump(o, out) : SG_ENOMEM;
    json_decref(o);
    return rc;
}

/* base64 image -> a data URL; the type is read from the first bytes. */
static json_t *image_part(const json_t *img)
{
    const char *b = json_string_value(img);
    if (!b)
        return NULL;
    const char *mt = strncmp(b, "/9j/", 4) == 0    ? "image/jpeg"
                     : strncmp(b, "iVBOR", 5) == 0 ? "image/png"
                     : strncmp(b, "R0lG", 4) == 0  ? "image/gif"
                     : strncmp(b, "UklG", 4) == 0  ? "image/webp"
                                                   : NULL;
    if (!mt)
        return NULL;
    struct sg_buf u;
    sg_buf_init(&u, 64u << 20);
    sg_buf_printf(&u, "data:%s;base64,", mt);
    json_t *url =
        sg_buf_append(&u, b, json_string_length(img)) == 0 ? json_stringn(u.data, u.len) : NULL;
    sg_buf_free(&u);
    return url ? json_pack("{s:s,s:{s:o}}", "type", "image_url", "image_url", "url", url) : NULL;
}

/* A user message with text and images. */
static json_t *with_images(const char *role, const json_t *text, const json_t *images,
                           const char *param, struct sg_api_error *e)
{
    if (!images || json_is_null(images) || (json_is_array(images) && !json_array_size(images)))
        return json_pack("{s:s,s:O}", "role", role, "content", text);
    if (!json_is_array(images))
        return sg_dialect_fail(e, param, "%s.images must be an array of base64 strings.", param);
    json_t *parts = json_array();
    if (json_string_length(text))
        json_array_append_new(parts, json_pack("{s:s,s:O}", "type", "text", "text", text));
    size_t i;
    const json_t *img;
    json_array_foreach(images, i, img)
    {
        json_t *p = image_part(img);
        if (!p) {
            json_decref(parts);
            return sg_dialect_fail(
                e, param, "%s.images[%zu] is not a base64 JPEG, PNG, GIF or WebP image.", param, i);
        }
        json_array_append_new(parts, p);
    }
    return json_pack("{s:s,s:o}", "role", role, "content", parts);
}

static json_t *messages_of(const json_t *msgs, struct sg_api_error *e)
{
    if (!json_is_array(msgs) || json_array_size(msgs) == 0)
        return sg_dialect_fail(e, "messages", "messages: a non-empty array is required.");
    json_t *out = json_array(), *pending = json_array();
    unsigned next_id = 0;
    size_t i;
    const json_t *m;
    char p[64];
    json_array_foreach(msgs, i, m)
    {
        snprintf(p, sizeof(p), "messages[%zu]", i);
        const char *role = json_string_value(json_object_get(m, "role"));
        const json_t *content = json_object_get(m, "content");
        if (!json_is_object(m) || !role ||
            (strcmp(role, "system") != 0 && strcmp(role, "user") != 0 &&
             strcmp(role, "assistant") != 0 && strcmp(role, "tool") != 0)) {
            sg_dialect_fail(e, p, "%s.role must be system, user, assistant or tool.", p);
            goto bad;
        }
        if (content && !json_is_string(content) && !json_is_null(content)) {
            sg_dialect_fail(e, p, "%s.content must be a string.", p);
            goto bad;
        }
        json_t *text = json_is_string(content) ? json_copy((json_t *)content) : json_string("");
        json_t *om = NULL;
        if (strcmp(role, "tool") == 0) {
            /* answers the oldest pending call (of the same name when one is given) */
            const char *name = json_string_value(json_object_get(m, "tool_name"));
            json_t *id = NULL;
            size_t j;
            json_t *pc;
            json_array_foreach(pending, j, pc)
            {
                if (!name || strcmp(name, json_string_value(json_object_get(pc, "name"))) == 0) {
                    id = json_copy(json_object_get(pc, "id"));
                    json_array_remove(pending, j);
                    break;
                }
            }
            if (!id) {
                char b[32];
                snprintf(b, sizeof(b), "call_%u", next_id++);
                id = json_string(b);
            }
            om = json_pack("{s:s,s:o,s:o}", "role", "tool", "tool_call_id", id, "content", text);
            text = NULL;
        } else if (strcmp(role, "assistant") == 0) {
            om = json_pack("{s:s,s:O}", "role", "assistant", "content", text);
            const json_t *calls = json_object_get(m, "tool_calls");
            if (calls && !json_is_array(calls) && !json_is_null(calls)) {
                json_decref(text);
                json_decref(om);
                sg_dialect_fail(e, p, "%s.tool_calls must be an array.", p);
                goto bad;
            }
            json_t *oc = json_array();
            size_t j;
            const json_t *c;
            json_array_foreach(calls, j, c)
            {
                const json_t *fn = json_object_get(c, "function");
                const json_t *name = json_object_get(fn, "name");
                const json_t *args = json_object_get(fn, "arguments");
                if (!json_is_string(name) || (args && !json_is_object(args))) {
                    json_decref(text);
                    json_decref(om);
                    json_decref(oc);
                    sg_dialect_fail(
                        e, p, "%s.tool_calls[%zu] needs function.name and an arguments object.", p,
                        j);
                    goto bad;
                }
                char id[32];
                snprintf(id, sizeof(id), "call_%u", next_id++);
                json_t *a = args ? sg_dialect_json_string(args) : json_string("{}");
                json_array_append_new(oc, json_pack("{s:s,s:s,s:{s:O,s:o}}", "id", id, "type",
                                                    "function", "function", "name", name,
                                                    "arguments", a ? a : json_string("{}")));
                json_array_append_new(pending, json_pack("{s:s,s:O}", "id", id, "name", name));
            }
            if (json_array_size(oc)) {
                json_object_set(om, "tool_calls", oc);
                if (!json_string_length(text))
                    json_object_set_new(om, "content", json_null());
            }
            json_decref(oc);
        } else {
            om = with_images(role, text, json_object_get(m, "images"), p, e);
        }
        json_decref(text);
        if (!om)
            goto bad;
        json_array_append_new(out, om);
    }
    json_decref(pending);
    return out;
bad:
    json_decref(pending);
    json_decref(out);
    return NULL;
}

static int option(json_t *out, const char *to, const json_t *opts, const char *from, bool integer,
                  struct sg_api_error *e)
{
    const json_t *v = json_object_get(opts, from);
    if (!v || json_is_null(v))
        return 0;
    if (integer ? !json_is_integer(v) : !json_is_number(v)) {
        sg_dialect_fail(e, from, "options.%s must be %s.", from,
                        integer ? "an integer" : "a number");
        return -1;
    }
    json_object_set(out, to, (json_t *)v);
    return 0;
}

static int options_of(json_t *out, const json_t *opts, struct sg_api_error *e)
{
    if (!opts || json_is_null(opts))
        return 0;
    if (!json_is_object(opts)) {
        sg_dialect_fail(e, "options", "options must be an object.");
        return -1;
    }
    if (option(out, "temperature", opts, "temperature", false, e) ||
        option(out, "top_p", opts, "top_p", false, e) ||
        option(out, "top_k", opts, "top_k", true, e) ||
        option(out, "seed", opts, "seed", true, e) ||
        option(out, "presence_penalty", opts, "presence_penalty", false, e) ||
        option(out, "frequency_penalty", opts, "frequency_penalty", false, e) ||
        option(out, "max_tokens", opts, "num_predict", true, e))
        return -1;
    /* num_predict -1 (unlimited) and -2 (fill the context) mean no limit */
    json_t *mt = json_object_get(out, "max_tokens");
    if (mt && json_integer_value(mt) < 1)
        json_object_del(out, "max_tokens");
    const json_t *stop = json_object_get(opts, "stop");
    if (stop && !json_is_null(stop)) {
        size_t i;
        const json_t *s;
        bool ok = json_is_string(stop) || json_is_array(stop);
        json_array_foreach(stop, i, s)
        {
            ok = ok && json_is_string(s);
        }
        if (!ok) {
            sg_dialect_fail(e, "stop", "options.stop must be a string or an array of strings.");
            return -1;
        }
        json_object_set(out, "stop", (json_t *)stop);
    }
    return 0;
}

static int format_of(json_t *out, const json_t *f, struct sg_api_error *e)
{
    if (!f || json_is_null(f) || (json_is_string(f) && json_string_length(f) == 0))
        return 0;
    if (json_is_string(f) && strcmp(json_string_value(f), "json") == 0) {
        json_object_set_new(out, "response_format", json_pack("{s:s}", "type", "json_object"));
        return 0;
    }
    if (json_is_object(f)) {
        json_object_set_new(out, "response_format",
                            json_pack("{s:s,s:{s:s,s:O}}", "type", "json_schema", "json_schema",
                                      "name", "response", "schema", f));
        return 0;
    }
    sg_dialect_fail(e, "format", "format must be \"json\" or a JSON schema object.");
    return -1;
}

static int tools_of(json_t *out, const json_t *tools, struct sg_api_error *e)
{
    if (!tools || json_is_null(tools))
        return 0;
    if (!json_is_array(tools)) {
        sg_dialect_fail(e, "tools", "tools must be an array.");
        return -1;
    }
    size_t i;
    const json_t *t;
    json_array_foreach(tools, i, t)
    {
        const json_t *fn = json_object_get(t, "function");
        const json_t *ps = json_object_get(fn, "parameters");
        if (!json_is_string(json_object_get(fn, "name")) || (ps && !json_is_object(ps))) {
            sg_dialect_fail(e, "tools", "tools[%zu] needs function.name (and object parameters).",
                            i);
            return -1;
        }
    }
    if (json_array_size(tools))
        json_object_set(out, "tools", (json_t *)tools);
    return 0;
}

json_t *sg_ollama_request(const struct sg_endpoint_info *ep, const json_t *in,
                          struct sg_api_error *e)
{
    if (!json_is_object(in))
        return sg_dialect_fail(e, NULL, "The request body must be a JSON object.");
    const json_t *model = json_object_get(in, "model");
    if (!json_is_string(model) || json_string_length(model) == 0)
        return sg_dialect_fail(e, "model", "model is required.");
    json_t *out = json_pack("{s:O}", "model", model);
    const char *path = ep->path;
    if (strcmp(path, "/api/embed") == 0 || strcmp(path, "/api/embeddings") == 0) {
        bool legacy = strcmp(path, "/api/embeddings") == 0;
        const json_t *input = json_object_get(in, legacy ? "prompt" : "input");
        size_t i;
        const json_t *x;
        bool ok = json_is_string(input) || (json_is_array(input) && json_array_size(input));
        json_array_foreach(input, i, x)
        {
            ok = ok && json_is_string(x);
        }
        if (!ok || (legacy && !json_is_string(input))) {
            json_decref(out);
            return sg_dialect_fail(e, legacy ? "prompt" : "input",
                                   legacy
                                       ? "prompt must be a string."
                                       : "input must be a string or a non-empty array of strings.");
        }
        json_object_set(out, "input", (json_t *)input);
        const json_t *dims = json_object_get(in, "dimensions");
        if (dims && !json_is_integer(dims)) {
            json_decref(out);
            return sg_dialect_fail(e, "dimensions", "dimensions must be an integer.");
        }
        if (dims)
            json_object_set(out, "dimensions", (json_t *)dims);
        return out;
    }
    json_t *msgs;
    if (strcmp(path, "/api/generate") == 0) {
        const json_t *prompt = json_object_get(in, "prompt");
        const json_t *sys = json_object_get(in, "system");
        if (!json_is_string(prompt) || (sys && !json_is_string(sys) && !json_is_null(sys))) {
            json_decref(out);
            return sg_dialect_fail(e, "prompt", "prompt (and system) must be strings.");
        }
        if (json_object_get(in, "suffix")) {
            json_decref(out);
            return sg_dialect_fail(e, "suffix",
                                   "suffix (fill-in-the-middle) is not served by this "
                                   "deployment.");
        }
        msgs = json_array();
        if (json_string_length(sys))
            json_array_append_new(msgs, json_pack("{s:s,s:O}", "role", "system", "content", sys));
        json_t *um = with_images("user", prompt, json_object_get(in, "images"), "images", e);
        if (!um) {
            json_decref(msgs);
            json_decref(out);
            return NULL;
        }
        json_array_append_new(msgs, um);
    } else {
        msgs = messages_of(json_object_get(in, "messages"), e);
        if (!msgs) {
            json_decref(out);
            return NULL;
        }
        if (tools_of(out, json_object_get(in, "tools"), e) != 0) {
            json_decref(msgs);
            json_decref(out);
            return NULL;
        }
    }
    json_object_set_new(out, "messages", msgs);
    if (options_of(out, json_object_get(in, "options"), e) != 0 ||
        format_of(out, json_object_get(in, "format"), e) != 0) {
        json_decref(out);
        return NULL;
    }
    const json_t *stream = json_object_get(in, "stream");
    if (stream && !json_is_boolean(stream) && !json_is_null(stream)) {
        json_decref(out);
        return sg_dialect_fail(e, "stream", "stream must be a boolean.");
    }
    if (!json_is_false(stream)) /* Ollama streams unless told not to */
        json_object_set_new(out, "stream", json_true());
    return out;
}
