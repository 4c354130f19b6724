/* `sovgate policy explain`: the operator's dry run of the policy. Reads an API request
 * body on stdin and prints, without sending anything, what the gateway would find, which
 * classes that is, what each backend of the route would get (allowed or not, the rule,
 * the actions) and the body the first allowed backend would receive.
 *
 *   sovgate policy explain --config FILE [--endpoint E [--model NAME] | --path PATH]
 *                          [--client NAME] [--fields SPEC] < body.json
 *
 * The request is named by its path, as a client calls the gateway (--endpoint names are
 * shorthands for paths); the path is routed by the gateway's own table (sg_api_route) and
 * a body of another dialect (Anthropic Messages, OpenAI Responses, Gemini, Ollama, Azure)
 * is decoded by the gateway's own functions (api/dialect_decode.c), so the dry run and the
 * gateway agree on what a body becomes and on which bodies are refused. The body printed is
 * the OpenAI-shaped one the backend gets. */
#include "api/dialect.h"
#include "api/openai.h"
#include "cli/cli.h"
#include "config/config.h"
#include "core/buf.h"
#include "core/json.h"
#include "policy/policy.h"
#include "redact/redaction.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ex {
    const struct sg_redaction *rd;
    struct sg_detect_scratch *sc;
    struct sg_fieldset *fs;
    struct sg_vault *vault;
    const struct sg_policy *p;
    struct sg_findings f;
    size_t *fstart, *fcount; /* per field */
    size_t nfields;
    uint32_t counts[SG_ENT_MAX];
    json_t *findings; /* report */
    const enum sg_action *act;
    size_t i;
    struct sg_buf out;
};

static int detect_field(json_t *s, const char *path, void *ctx)
{
    struct ex *x = ctx;
    size_t *a = realloc(x->fstart, (x->nfields + 1) * sizeof(*a));
    if (!a)
        return -1;
    x->fstart = a;
    size_t *b = realloc(x->fcount, (x->nfields + 1) * sizeof(*b));
    if (!b)
        return -1;
    x->fcount = b;
    size_t n0 = x->f.n;
    if (sg_detect_ex(x->rd->det, x->sc, x->fs, json_string_value(s), json_string_length(s),
                     &x->f) != 0 ||
        x->f.truncated)
        return -1;
    x->fstart[x->nfields] = n0;
    x->fcount[x->nfields++] = x->f.n - n0;
    for (size_t i = n0; i < x->f.n; i++) {
        const struct sg_finding *g = &x->f.v[i];
        x->counts[g->type]++;
        unsigned c = sg_policy_class_of(x->p, g->type);
        json_array_append_new(x->findings,
                              json_pack("{s:s,s:s,s:s,s:I,s:I}", "field", path, "type",
                                        sg_entity_name(x->rd->det, g->type), "class",
                                        sg_policy_class_name(x->p, c), "start",
                                        (json_int_t)g->start, "end", (json_int_t)g->end));
    }
    return 0;
}

static int transform_field(json_t *s, const char *path, void *ctx)
{
    (void)path;
    struct ex *x = ctx;
    size_t i = x->i++;
    if (i >= x->nfields || !x->fcount[i])
        return 0;
    struct sg_findings view = {x->f.v + x->fstart[i], x->fcount[i], x->fcount[i], x->fcount[i],
                               false};
    sg_buf_reset(&x->out);
    if (sg_transform(x->vault, x->act, json_string_value(s), json_string_length(s), &view, &x->out,
                     NULL) != 0)
        return -1;
    return json_string_setn(s, x->out.data ? x->out.data : "", x->out.len);
}

/* What --endpoint names: shorthands for the request paths a client calls ("{model}" is
 * --model). The path is then routed as the gateway routes it. */
static const struct {
    const char *name, *path;
} shorthands[] = {
    {"chat", "/v1/chat/completions"},
    {"completions", "/v1/completions"},
    {"embeddings", "/v1/embeddings"},
    {"messages", "/v1/messages"},
    {"responses", "/v1/responses"},
    {"gemini", "/v1beta/models/{model}:generateContent"},
    {"gemini-stream", "/v1beta/models/{model}:streamGenerateContent"},
    {"gemini-embed", "/v1beta/models/{model}:embedContent"},
    {"gemini-batch-embed", "/v1beta/models/{model}:batchEmbedContents"},
    {"ollama-chat", "/api/chat"},
    {"ollama-generate", "/api/generate"},
    {"ollama-embed", "/api/embed"},
    {"ollama-embeddings", "/api/embeddings"},
};

#define ENDPOINT_NAMES                                                                             \
    "chat, completions, embeddings, messages, responses, gemini, gemini-stream, gemini-embed, "    \
    "gemini-batch-embed, ollama-chat, ollama-generate, ollama-embed or ollama-embeddings"

/* The request to explain: its endpoint in the gateway's table and the path it came to. */
struct target {
    const struct sg_endpoint_info *ep;
    char path[512];
    char path_model[128]; /* the model the path names (Gemini, Azure); as the gateway's */
};

/* Fills `t` from --endpoint, --model and --path. Returns NULL, or a usage error's message. */
static const char *target_of(const char *endpoint, const char *model, const char *path,
                             struct target *t)
{
    static char why[640];
    if (endpoint && path)
        return "--endpoint and --path name the same thing: give one";
    if (path) {
        if (model)
            return "--model is for --endpoint gemini*: with --path, the path names the model";
        size_t n = strcspn(path, "?"); /* the query is no part of the route */
        if (n >= sizeof(t->path) || path[0] != '/')
            return "--path is the request path, e.g. /v1/messages";
        memcpy(t->path, path, n);
        t->path[n] = '\0';
    } else {
        const char *tpl = NULL;
        for (size_t i = 0; i < sizeof(shorthands) / sizeof(shorthands[0]); i++)
            if (strcmp(shorthands[i].name, endpoint ? endpoint : "chat") == 0)
                tpl = shorthands[i].path;
        if (!tpl)
            return "--endpoint is " ENDPOINT_NAMES " (or give --path)";
        const char *slot = strstr(tpl, "{model}");
        if (slot && !model)
            return "--endpoint gemini* needs --model NAME (Gemini names the model in the path)";
        if (!slot && model)
            return "--model is for --endpoint gemini* only (other APIs name the model in the "
                   "body)";
        int w = slot ? snprintf(t->path, sizeof(t->path), "%.*s%s%s", (int)(slot - tpl), tpl, model,
                                slot + 7)
                     : snprintf(t->path, sizeof(t->path), "%s", tpl);
        if (w < 0 || (size_t)w >= sizeof(t->path))
            return "--model: the name is too long";
    }
    t->ep = sg_api_route(t->path, strlen(t->path), t->path_model, sizeof(t->path_model));
    if (!t->ep && path) {
        snprintf(why, sizeof(why), "--path: the gateway serves no API request at %.256s", t->path);
        return why;
    }
    if (!t->ep) /* the template is the gateway's: only the name can be wrong */
        return "--model: not a model name a Gemini path can carry ([A-Za-z0-9._@-], under 128 "
               "bytes)";
    if (!t->ep->proxied) {
        snprintf(why, sizeof(why),
                 "--path: %.256s is answered by the gateway itself; it has no request body to "
                 "explain",
                 t->path);
        return why;
    }
    return NULL;
}

/* A body of another dialect, decoded as the gateway decodes it (pipeline.c): parsed,
 * translated, validated. `*body` is set as soon as there is one (the caller frees it).
 * Returns 0, -1 with `ae` filled, or -2 for a Responses request that only continues a
 * stored conversation and adds nothing explain could read (the gateway validates it with
 * the stored turns in place; here there would be no message at all). */
static int decode_dialect(const struct target *t, const struct sg_buf *in, json_t **body,
                          const char **model, bool *stream, struct sg_responses_params *rp,
                          struct sg_api_error *ae)
{
    json_t *j = sg_dialect_parse(in->data, in->len, ae);
    if (!j)
        return -1;
    *body = sg_dialect_translate(t->ep, t->path_model, j, rp, ae);
    json_decref(j);
    if (!*body)
        return -1;
    if (rp->previous_id[0] && json_array_size(json_object_get(*body, "messages")) == 0)
        return -2;
    return sg_api_validate(t->ep->ep, *body, model, stream, ae);
}

/* What explain cannot see of a continued Responses conversation. */
static const char previous_note[] =
    "previous_response_id: the earlier turns of this conversation are in the gateway's "
    "encrypted response store, which explain does not read. They are not in the findings, "
    "classes, backends or body of this report: the gateway puts them (already pseudonymized) "
    "after the instructions and before this input, and the data types they carry count for "
    "its decision too, so it may refuse a backend allowed here. It answers 400 "
    "previous_response_not_found when the id is unknown to it, expired or another client's.";

static int explain(const struct sg_config *cfg, const struct target *t, const char *client,
                   const char *fields)
{
    const enum sg_endpoint ep = t->ep->ep; /* the OpenAI request the body is (or becomes) */
    struct sg_error err = {0};
    struct sg_redaction *rd = NULL;
    struct sg_policy *p = NULL;
    int status = 1;
    struct ex x = {0};
    json_t *body = NULL, *report = NULL;
    struct sg_responses_params rp = {0};
    struct sg_buf in;
    sg_buf_init(&in, cfg->limits.max_body);
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), stdin)) > 0) {
        if (sg_buf_append(&in, chunk, n)) {
            /* the gateway stops reading and answers 413 with this message */
            fprintf(stderr,
                    "sovgate: the body is not a valid request: request body too large (more "
                    "than limits.max_body, %zu bytes) [HTTP 413]\n",
                    cfg->limits.max_body);
            goto out;
        }
    }
    if (sg_redaction_new(cfg, &rd, &err) || sg_policy_new(cfg, rd, &p, &err)) {
        fprintf(stderr, "sovgate: %s\n", err.msg);
        goto out;
    }
    const char *model = NULL;
    bool stream = false;
    struct sg_api_error ae = {0};
    int rc = t->ep->dialect == SG_DIALECT_OPENAI
                 ? sg_api_decode(ep, in.data ? in.data : "", in.len, &body, &model, &stream, &ae)
                 : decode_dialect(t, &in, &body, &model, &stream, &rp, &ae);
    if (rc == -2) {
        fprintf(stderr, "sovgate: the request only continues the stored conversation that "
                        "previous_response_id names and adds no input or instructions: explain "
                        "does not read the gateway's response store, so there is nothing to "
                        "explain\n");
        goto out;
    }
    if (rc != 0) {
        /* the gateway's error, in words: its message, the field, the status and code */
        fprintf(stderr, "sovgate: the body is not a valid request: %s%s%s%s [HTTP %d%s%s]\n",
                ae.message, ae.param[0] ? " (param " : "", ae.param, ae.param[0] ? ")" : "",
                ae.status, ae.code[0] ? ", " : "", ae.code);
        goto out;
    }
    const struct sg_config_route *route = sg_config_find_route(cfg, model);
    if (!route) {
        fprintf(stderr, "sovgate: no route for the model '%s'\n", model);
        goto out;
    }
    report =
        json_pack("{s:s,s:s}", "model", route->model, "endpoint", sg_api_endpoint_info(ep)->path);
    if (t->ep->dialect != SG_DIALECT_OPENAI) /* the body below is the translated one */
        json_object_set_new(
            report, "translated_from",
            json_pack("{s:s,s:s}", "dialect", sg_dialect_name(t->ep->dialect), "path", t->path));
    if (rp.previous_id[0]) {
        json_object_set_new(report, "warnings", json_pack("[s]", previous_note));
        fprintf(stderr, "sovgate: warning: the earlier turns of a continued conversation "
                        "(previous_response_id) are not included; see \"warnings\"\n");
    }
    /* as the gateway: token ids cannot be scanned, so with redaction on they are refused
     * (400 unscannable_input) before any backend is considered */
    const char *tok = rd->enabled ? sg_api_token_ids(ep, body) : NULL;
    if (tok) {
        json_object_set_new(report, "decision", json_string("reject"));
        json_object_set_new(report, "error", json_string("unscannable_input"));
        json_object_set_new(report, "param", json_string(tok));
        status = 3;
        goto print;
    }
    x.rd = rd;
    x.p = p;
    x.sc = sg_detect_scratch_new(rd->det);
    x.vault = sg_redaction_vault(rd, cfg->limits.max_body);
    x.findings = json_array();
    sg_findings_init(&x.f, rd->max_findings);
    sg_buf_init(&x.out, cfg->limits.max_body * 2);
    if (fields && sg_fieldset_parse(rd->det, fields, strlen(fields), &x.fs, &err) != 0) {
        fprintf(stderr, "sovgate: --fields: %s\n", err.msg);
        goto out;
    }
    /* with redaction off the gateway classifies nothing (and sends the body as it is) */
    if (!x.sc || !x.vault || (rd->enabled && sg_api_text_fields(ep, body, detect_field, &x) != 0)) {
        fprintf(stderr, "sovgate: the request could not be scanned (too many findings?)\n");
        goto out;
    }
    const struct sg_policy_client *pc = sg_policy_client(p, client);
    enum sg_action act[2][SG_ENT_MAX];
    sg_policy_actions(p, rd, pc, SG_DEST_SOVEREIGN, act[0]);
    sg_policy_actions(p, rd, pc, SG_DEST_EXTERNAL, act[1]);
    json_t *classes = json_array(), *decisions = json_array();
    uint32_t present = sg_policy_classes(p, x.counts);
    for (unsigned c = 0; c < sg_policy_nclasses(p); c++)
        if (present & (1u << c))
            json_array_append_new(classes, json_string(sg_policy_class_name(p, c)));
    const struct sg_config_backend *chosen = NULL;
    const char *chosen_model = NULL;
    for (size_t i = 0; i < route->ntargets; i++) {
        const struct sg_config_backend *b = sg_config_find_backend(cfg, route->targets[i].backend);
        if (!b)
            continue;
        struct sg_policy_verdict v;
        const enum sg_action *a = act[b->sovereign ? 0 : 1];
        if (rd->enabled) {
            sg_policy_decide(p, x.counts, a, b->sovereign, b->jurisdiction, pc, &v);
        } else {
            sg_policy_unclassified(b->sovereign, &v); /* as the gateway with redaction off */
        }
        json_t *acts = json_object();
        for (unsigned ty = 0; ty < SG_ENT_MAX; ty++)
            if (x.counts[ty])
                json_object_set_new(acts, sg_entity_name(rd->det, ty),
                                    json_string(sg_action_name(a[ty])));
        json_array_append_new(
            decisions, json_pack("{s:s,s:b,s:s?,s:b,s:s,s:s?,s:o}", "backend", b->name, "sovereign",
                                 b->sovereign, "jurisdiction", b->jurisdiction, "allowed",
                                 v.allowed, "rule", v.rule, "class",
                                 v.klass >= 0 ? sg_policy_class_name(p, (unsigned)v.klass) : NULL,
                                 "actions", acts));
        if (v.allowed && !chosen) {
            chosen = b;
            chosen_model = route->targets[i].model ? route->targets[i].model : route->model;
        }
    }
    if (client)
        json_object_set_new(report, "client", json_string(client));
    json_object_set_new(report, "findings", x.findings);
    json_object_set_new(report, "classes", classes);
    json_object_set_new(report, "backends", decisions);
    x.findings = NULL;
    if (chosen) {
        x.act = act[chosen->sovereign ? 0 : 1];
        x.i = 0;
        rc = rd->enabled ? sg_api_text_fields(ep, body, transform_field, &x) : 0;
        if (rc == SG_API_NAME_CLASH) {
            fprintf(stderr, "sovgate: two member names of one object in the request become the "
                            "same once redacted; the gateway refuses it [HTTP 400, name_clash]\n");
            goto out;
        }
        if (rc != 0 || (stream && sg_api_ask_usage(body) != 0)) {
            fprintf(stderr, "sovgate: the request could not be transformed\n");
            goto out;
        }
        json_object_set_new(body, "model", json_string(chosen_model));
        json_object_set_new(report, "decision", json_string("send"));
        json_object_set_new(report, "backend", json_string(chosen->name));
        json_object_set(report, "body", body);
        status = 0;
    } else {
        json_object_set_new(report, "decision", json_string("refuse"));
        status = 3;
    }
print:;
    char *s = report ? json_dumps(report, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
    if (s)
        puts(s);
    free(s);
out:
    json_decref(report);
    json_decref(body);
    sg_responses_params_free(&rp);
    json_decref(x.findings);
    sg_buf_free(&in);
    sg_buf_free(&x.out);
    sg_findings_free(&x.f);
    free(x.fstart);
    free(x.fcount);
    sg_fieldset_free(x.fs);
    sg_vault_free(x.vault);
    sg_detect_scratch_free(x.sc);
    sg_policy_free(p);
    sg_redaction_free(rd);
    return status;
}

int sg_cmd_policy(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "explain") != 0)
        return sg_cli_usage_error("policy takes: explain --config FILE [--endpoint E [--model "
                                  "NAME] | --path PATH] [--client NAME] [--fields SPEC] "
                                  "< body.json");
    const char *config = NULL, *endpoint = NULL, *client = NULL, *fields = NULL;
    const char *model = NULL, *path = NULL;
    for (int i = 2; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(argv[i], "--config") == 0 && v)
            config = argv[++i];
        else if (strcmp(argv[i], "--endpoint") == 0 && v)
            endpoint = argv[++i];
        else if (strcmp(argv[i], "--model") == 0 && v)
            model = argv[++i];
        else if (strcmp(argv[i], "--path") == 0 && v)
            path = argv[++i];
        else if (strcmp(argv[i], "--client") == 0 && v)
            client = argv[++i];
        else if (strcmp(argv[i], "--fields") == 0 && v)
            fields = argv[++i];
        else
            return sg_cli_usage_error("policy explain: unknown option");
    }
    if (!config)
        return sg_cli_usage_error("policy explain needs --config FILE");
    struct target t = {0};
    const char *why = target_of(endpoint, model, path, &t);
    if (why)
        return sg_cli_usage_error(why);
    struct sg_config *cfg = NULL;
    struct sg_config_diags d = {0};
    int rc = sg_config_load_file(config, &cfg, &d);
    for (size_t i = 0; i < d.n; i++)
        fprintf(stderr, "%s\n", d.v[i].msg);
    sg_config_diags_free(&d);
    if (rc)
        return 1;
    int status = explain(cfg, &t, client, fields);
    sg_config_free(cfg);
    return status;
}
