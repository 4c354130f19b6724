/* `sovgate policy explain`: the operator's dry run of the policy. Reads an API request
 * body on stdin and prints, without sending anything, what the gateway would find, which
 * classes that is, what each backend of the route would get (allowed or not, the rule,
 * the actions) and the body the first allowed backend would receive.
 *
 *   sovgate policy explain --config FILE [--endpoint chat|completions|embeddings]
 *                          [--client NAME] [--fields SPEC] < body.json */
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

static int endpoint_of(const char *s, enum sg_endpoint *ep)
{
    if (!s || strcmp(s, "chat") == 0)
        *ep = SG_EP_CHAT;
    else if (strcmp(s, "completions") == 0)
        *ep = SG_EP_COMPLETIONS;
    else if (strcmp(s, "embeddings") == 0)
        *ep = SG_EP_EMBEDDINGS;
    else
        return -1;
    return 0;
}

static int explain(const struct sg_config *cfg, enum sg_endpoint ep, const char *client,
                   const char *fields)
{
    struct sg_error err = {0};
    struct sg_redaction *rd = NULL;
    struct sg_policy *p = NULL;
    int status = 1;
    struct ex x = {0};
    json_t *body = NULL, *report = NULL;
    struct sg_buf in;
    sg_buf_init(&in, cfg->limits.max_body);
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), stdin)) > 0) {
        if (sg_buf_append(&in, chunk, n)) {
            fprintf(stderr, "sovgate: the body is larger than limits.max_body\n");
            goto out;
        }
    }
    if (sg_redaction_new(cfg, &rd, &err) || sg_policy_new(cfg, rd, &p, &err)) {
        fprintf(stderr, "sovgate: %s\n", err.msg);
        goto out;
    }
    const char *model = NULL;
    bool stream = false;
    struct sg_api_error ae;
    if (sg_api_decode(ep, in.data ? in.data : "", in.len, &body, &model, &stream, &ae) != 0) {
        fprintf(stderr, "sovgate: the body is not a valid request: %s%s%s%s\n", ae.message,
                ae.param[0] ? " (param " : "", ae.param, ae.param[0] ? ")" : "");
        goto out;
    }
    const struct sg_config_route *route = sg_config_find_route(cfg, model);
    if (!route) {
        fprintf(stderr, "sovgate: no route for the model '%s'\n", model);
        goto out;
    }
    /* as the gateway: token ids cannot be scanned, so with redaction on they are refused
     * (400 unscannable_input) before any backend is considered */
    const char *tok = rd->enabled ? sg_api_token_ids(ep, body) : NULL;
    if (tok) {
        report = json_pack("{s:s,s:s,s:s,s:s}", "model", route->model, "decision", "reject",
                           "error", "unscannable_input", "param", tok);
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
        for (unsigned t = 0; t < SG_ENT_MAX; t++)
            if (x.counts[t])
                json_object_set_new(acts, sg_entity_name(rd->det, t),
                                    json_string(sg_action_name(a[t])));
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
    report = json_pack("{s:s,s:s?,s:o,s:o,s:o}", "model", route->model, "client", client,
                       "findings", x.findings, "classes", classes, "backends", decisions);
    x.findings = NULL;
    if (chosen) {
        x.act = act[chosen->sovereign ? 0 : 1];
        x.i = 0;
        if (rd->enabled && sg_api_text_fields(ep, body, transform_field, &x) != 0) {
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
        return sg_cli_usage_error("policy takes: explain --config FILE [--endpoint E] "
                                  "[--client NAME] [--fields SPEC] < body.json");
    const char *config = NULL, *endpoint = NULL, *client = NULL, *fields = NULL;
    for (int i = 2; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(argv[i], "--config") == 0 && v)
            config = argv[++i];
        else if (strcmp(argv[i], "--endpoint") == 0 && v)
            endpoint = argv[++i];
        else if (strcmp(argv[i], "--client") == 0 && v)
            client = argv[++i];
        else if (strcmp(argv[i], "--fields") == 0 && v)
            fields = argv[++i];
        else
            return sg_cli_usage_error("policy explain: unknown option");
    }
    enum sg_endpoint ep;
    if (!config)
        return sg_cli_usage_error("policy explain needs --config FILE");
    if (endpoint_of(endpoint, &ep) != 0)
        return sg_cli_usage_error("--endpoint is chat, completions or embeddings");
    struct sg_config *cfg = NULL;
    struct sg_config_diags d = {0};
    int rc = sg_config_load_file(config, &cfg, &d);
    for (size_t i = 0; i < d.n; i++)
        fprintf(stderr, "%s\n", d.v[i].msg);
    sg_config_diags_free(&d);
    if (rc)
        return 1;
    int status = explain(cfg, ep, client, fields);
    sg_config_free(cfg);
    return status;
}
