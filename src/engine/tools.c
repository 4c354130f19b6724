/* Tools and structured output for sovgate-engine (see tools.h). */
#include "engine/tools.h"

#include "core/buf.h"
#include "core/error.h"
#include "core/json.h"
#include "engine/schema_gbnf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int bad(struct sg_tools_error *e, int code, const char *param, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int bad(struct sg_tools_error *e, int code, const char *param, const char *fmt, ...)
{
    va_list ap;
    e->code = code;
    snprintf(e->param, sizeof(e->param), "%s", param);
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
    va_end(ap);
    return code;
}

static bool good_name(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    return n >= 1 && n <= 64 &&
           strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") == n;
}

/* Adds a schema's rules; on failure e names param. */
static int add_schema(struct sg_gbnf *g, const json_t *schema, const char *param, char *name,
                      size_t size, struct sg_tools_error *e)
{
    struct sg_error err = {0};
    int rc = schema ? sg_gbnf_schema(g, schema, name, size, &err)
                    : sg_gbnf_any_object(g, name, size, &err);
    if (rc)
        return bad(e, rc, param, "Invalid schema for '%s': %s", param, err.msg);
    return 0;
}

/* response_format: the name of its top rule in name ("" for text). */
static int response_format(struct sg_gbnf *g, const json_t *rf, char *name, size_t size,
                           struct sg_tools_error *e)
{
    name[0] = 0;
    if (!rf || json_is_null(rf))
        return 0;
    const char *type = json_string_value(json_object_get(rf, "type"));
    if (!type)
        return bad(e, SG_EINVAL, "response_format.type",
                   "Missing or invalid 'response_format.type': expected \"text\", "
                   "\"json_object\" or \"json_schema\".");
    if (strcmp(type, "text") == 0)
        return 0;
    if (strcmp(type, "json_object") == 0)
        return add_schema(g, NULL, "response_format", name, size, e);
    if (strcmp(type, "json_schema") != 0)
        return bad(e, SG_EINVAL, "response_format.type",
                   "Invalid value for 'response_format.type': expected \"text\", "
                   "\"json_object\" or \"json_schema\".");
    const json_t *js = json_object_get(rf, "json_schema");
    if (!json_is_object(js))
        return bad(e, SG_EINVAL, "response_format.json_schema",
                   "'response_format.json_schema' must be an object with the schema.");
    const json_t *schema = json_object_get(js, "schema");
    if (schema && !json_is_object(schema) && !json_is_boolean(schema))
        return bad(e, SG_EINVAL, "response_format.json_schema.schema",
                   "Invalid type for 'response_format.json_schema.schema': expected an object.");
    return add_schema(g, schema, "response_format.json_schema.schema", name, size, e);
}

static int put_json(struct sg_buf *b, const json_t *v)
{
    return sg_json_dump(v, b); /* not json_dumps: the engine gives jansson its own allocator */
}

int sg_tools_prepare(const json_t *body, struct sg_tools *t, struct sg_tools_error *e)
{
    memset(t, 0, sizeof(*t));
    memset(e, 0, sizeof(*e));
    const json_t *tools = json_object_get(body, "tools");
    const json_t *choice = json_object_get(body, "tool_choice");
    const json_t *rf = json_object_get(body, "response_format");
    if (json_is_null(tools))
        tools = NULL;
    if (json_is_null(choice))
        choice = NULL;
    if (tools && !json_is_array(tools))
        return bad(e, SG_EINVAL, "tools", "Invalid type for 'tools': expected an array.");
    size_t nt = json_array_size(tools);
    if (nt > SG_TOOLS_MAX)
        return bad(e, SG_EINVAL, "tools", "At most %d tools per request.", SG_TOOLS_MAX);
    if (rf && !json_is_null(rf) && !json_is_object(rf))
        return bad(e, SG_EINVAL, "response_format",
                   "Invalid type for 'response_format': expected an object.");

    /* tool_choice: mode 0 none, 1 auto, 2 required, 3 named */
    int mode = nt ? 1 : 0;
    const char *named = NULL;
    if (json_is_string(choice)) {
        const char *c = json_string_value(choice);
        if (strcmp(c, "none") == 0)
            mode = 0;
        else if (strcmp(c, "auto") == 0)
            mode = nt ? 1 : 0;
        else if (strcmp(c, "required") == 0)
            mode = 2;
        else
            return bad(e, SG_EINVAL, "tool_choice",
                       "Invalid value for 'tool_choice': expected \"none\", \"auto\", "
                       "\"required\" or an object naming a function.");
    } else if (choice) {
        const char *type = json_string_value(json_object_get(choice, "type"));
        named = json_string_value(json_object_get(json_object_get(choice, "function"), "name"));
        if (!json_is_object(choice) || !type || strcmp(type, "function") != 0 || !named)
            return bad(e, SG_EINVAL, "tool_choice",
                       "Invalid value for 'tool_choice': expected {\"type\": \"function\", "
                       "\"function\": {\"name\": ...}}.");
        mode = 3;
    }
    if (mode >= 2 && nt == 0)
        return bad(e, SG_EINVAL, "tool_choice",
                   "'tool_choice' requires a function, but 'tools' is empty.");

    struct sg_gbnf *g = sg_gbnf_new(NULL);
    struct sg_buf defs, root;
    sg_buf_init(&defs, 4u << 20);
    sg_buf_init(&root, 1u << 20);
    int rc = g ? 0 : bad(e, SG_ENOMEM, "tools", "Out of memory.");
    bool named_found = false;
    size_t ncalls = 0;
    for (size_t i = 0; i < nt && !rc; i++) {
        const json_t *tool = json_array_get(tools, i);
        char p[96];
        snprintf(p, sizeof(p), "tools[%zu]", i);
        const char *type = json_string_value(json_object_get(tool, "type"));
        const json_t *fn = json_object_get(tool, "function");
        if (!json_is_object(tool) || !type) {
            rc = bad(e, SG_EINVAL, p, "Invalid '%s': expected an object with a 'type'.", p);
            break;
        }
        if (strcmp(type, "function") != 0) {
            snprintf(p, sizeof(p), "tools[%zu].type", i);
            rc = bad(e, SG_EINVAL, p,
                     "Unsupported tool type in '%s': this engine serves \"function\" tools.", p);
            break;
        }
        const char *name = json_string_value(json_object_get(fn, "name"));
        if (!json_is_object(fn) || !good_name(name)) {
            snprintf(p, sizeof(p), "tools[%zu].function.name", i);
            rc = bad(e, SG_EINVAL, p,
                     "Invalid '%s': a function name of 1 to 64 letters, digits, '_' or '-'.", p);
            break;
        }
        const json_t *desc = json_object_get(fn, "description");
        if (desc && !json_is_string(desc) && !json_is_null(desc)) {
            snprintf(p, sizeof(p), "tools[%zu].function.description", i);
            rc = bad(e, SG_EINVAL, p, "Invalid type for '%s': expected a string.", p);
            break;
        }
        for (size_t k = 0; k < i; k++)
            if (strcmp(json_string_value(json_object_get(
                           json_object_get(json_array_get(tools, k), "function"), "name")),
                       name) == 0) {
                snprintf(p, sizeof(p), "tools[%zu].function.name", i);
                rc = bad(e, SG_EINVAL, p, "Duplicate function name in '%s'.", p);
            }
        if (rc)
            break;
        const json_t *params = json_object_get(fn, "parameters");
        if (json_is_null(params))
            params = NULL;
        if (params && !json_is_object(params)) {
            snprintf(p, sizeof(p), "tools[%zu].function.parameters", i);
            rc = bad(e, SG_EINVAL, p, "Invalid type for '%s': expected an object.", p);
            break;
        }
        /* the definition for the prompt */
        if (defs.len)
            rc = sg_buf_puts(&defs, "\n");
        if (!rc)
            rc = put_json(&defs, tool);
        if (rc) {
            rc = bad(e, SG_ENOMEM, "tools", "Out of memory.");
            break;
        }
        if (mode == 0 || (mode == 3 && strcmp(name, named) != 0))
            continue;
        named_found = named_found || mode == 3;
        char args[32], cname[32], rbody[256];
        snprintf(p, sizeof(p), "tools[%zu].function.parameters", i);
        if ((rc = add_schema(g, params, p, args, sizeof(args), e)) != 0)
            break;
        snprintf(cname, sizeof(cname), "call%zu", i);
        snprintf(rbody, sizeof(rbody),
                 "\"<tool_call>\\n{\\\"name\\\":\\\"%s\\\",\\\"arguments\\\":\" %s "
                 "\"}\\n</tool_call>\"",
                 name, args);
        struct sg_error err = {0};
        if ((rc = sg_gbnf_rule(g, cname, rbody, &err)) != 0 ||
            (rc = sg_buf_printf(&root, "%s%s", ncalls++ ? " | " : "", cname)) != 0) {
            rc = bad(e, rc == SG_ENOMEM ? SG_ENOMEM : SG_ETOOBIG, "tools",
                     "The tools make a grammar that is too large.");
            break;
        }
    }
    if (!rc && mode == 3 && !named_found)
        rc = bad(e, SG_EINVAL, "tool_choice",
                 "'tool_choice' names a function that is not in 'tools'.");
    char fmt[32] = "";
    if (!rc && mode != 2 && mode != 3)
        rc = response_format(g, rf, fmt, sizeof(fmt), e);
    if (!rc && (ncalls || fmt[0])) {
        struct sg_error err = {0};
        if (mode == 1) {
            /* a call, or an answer that does not start like one */
            if (!fmt[0]) {
                rc = sg_gbnf_rule(g, "text", "[^<] .*", &err);
                snprintf(fmt, sizeof(fmt), "text");
            }
            if (!rc)
                rc = sg_buf_printf(&root, " | %s", fmt);
        } else if (!ncalls)
            rc = sg_buf_puts(&root, fmt);
        if (!rc)
            rc = sg_gbnf_rule(g, "root", root.data, &err);
        if (!rc && !(t->grammar = strdup(sg_gbnf_text(g))))
            rc = SG_ENOMEM;
        if (rc)
            rc = bad(e, rc == SG_ENOMEM ? SG_ENOMEM : SG_ETOOBIG, "tools",
                     "The tools and response format make a grammar that is too large.");
    }
    t->calls = !rc && ncalls > 0;
    if (!rc && nt && mode != 0) {
        struct sg_buf a;
        sg_buf_init(&a, 8u << 20);
        rc = sg_buf_puts(&a, "# Tools\n\nYou may call a function to assist with the user "
                             "query.\n\nYou are provided with function signatures within "
                             "<tools></tools> XML tags:\n<tools>\n");
        if (!rc)
            rc = sg_buf_append(&a, defs.data, defs.len);
        if (!rc)
            rc = sg_buf_puts(&a, "\n</tools>\n\nFor a function call, return a json object with "
                                 "function name and arguments within <tool_call></tool_call> "
                                 "XML tags:\n<tool_call>\n{\"name\": <function-name>, "
                                 "\"arguments\": <args-json-object>}\n</tool_call>");
        if (!rc && mode == 2)
            rc = sg_buf_puts(&a, "\n\nYou must call one of these functions.");
        if (!rc && mode == 3)
            rc = sg_buf_printf(&a, "\n\nYou must call the function %s.", named);
        if (rc || !(t->addendum = sg_buf_steal(&a)))
            rc = bad(e, SG_ENOMEM, "tools", "Out of memory.");
        sg_buf_free(&a);
    }
    sg_buf_free(&defs);
    sg_buf_free(&root);
    sg_gbnf_free(g);
    if (rc)
        sg_tools_free(t);
    return rc;
}

void sg_tools_free(struct sg_tools *t)
{
    free(t->grammar);
    free(t->addendum);
    t->grammar = t->addendum = NULL;
    t->calls = false;
}

char *sg_tools_render_message(const json_t *msg, const char *content, const char **role, bool *oom)
{
    *oom = false;
    const char *r = json_string_value(json_object_get(msg, "role"));
    const json_t *calls = json_object_get(msg, "tool_calls");
    bool result = r && (strcmp(r, "tool") == 0 || strcmp(r, "function") == 0);
    bool assistant_calls =
        r && strcmp(r, "assistant") == 0 && json_is_array(calls) && json_array_size(calls) > 0;
    if (!result && !assistant_calls)
        return NULL;
    struct sg_buf b;
    sg_buf_init(&b, 32u << 20);
    int rc = 0;
    if (result) {
        *role = "user";
        rc = sg_buf_puts(&b, "<tool_response>\n");
        if (!rc)
            rc = sg_buf_puts(&b, content ? content : "");
        if (!rc)
            rc = sg_buf_puts(&b, "\n</tool_response>");
    } else {
        if (content && *content)
            rc = sg_buf_printf(&b, "%s\n", content);
        size_t i;
        const json_t *c;
        json_array_foreach(calls, i, c)
        {
            const json_t *fn = json_object_get(c, "function");
            const char *name = json_string_value(json_object_get(fn, "name"));
            const json_t *args = json_object_get(fn, "arguments");
            if (!rc && i)
                rc = sg_buf_puts(&b, "\n");
            if (!rc)
                rc = sg_buf_puts(&b, "<tool_call>\n{\"name\":\"");
            if (!rc)
                rc = sg_buf_json_escape(&b, name ? name : "", name ? strlen(name) : 0);
            if (!rc)
                rc = sg_buf_puts(&b, SG_TOOLS_ARGS);
            if (!rc)
                rc = json_is_string(args) && json_string_length(args)
                         ? sg_buf_puts(&b, json_string_value(args))
                         : (args && !json_is_string(args) ? put_json(&b, args)
                                                          : sg_buf_puts(&b, "{}"));
            if (!rc)
                rc = sg_buf_puts(&b, SG_TOOLS_CLOSE);
        }
    }
    char *out = rc ? NULL : sg_buf_steal(&b);
    sg_buf_free(&b);
    *oom = !out;
    return out;
}

bool sg_tools_parse(const char *text, size_t len, struct sg_tool_call *c)
{
    memset(c, 0, sizeof(*c));
    if (len == 0 || text[0] != '<')
        return false;
    static const char open[] = SG_TOOLS_OPEN, args[] = SG_TOOLS_ARGS, close[] = SG_TOOLS_CLOSE;
    size_t no = sizeof(open) - 1, na = sizeof(args) - 1, nc = sizeof(close) - 1;
    if (len <= no)
        return true;
    c->name = text + no;
    const char *q = memchr(c->name, '"', len - no);
    if (!q) {
        c->name_len = len - no;
        return true;
    }
    c->name_len = (size_t)(q - c->name);
    size_t at = (size_t)(q - text);
    if (len < at + na)
        return true;
    c->name_done = true;
    c->args = text + at + na;
    c->args_len = len - at - na;
    if (c->args_len >= nc && memcmp(c->args + c->args_len - nc, close, nc) == 0) {
        c->args_len -= nc;
        c->complete = true;
    }
    return true;
}
