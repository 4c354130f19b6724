/* Redaction in the request pipeline.
 *
 * On the way in (stage "redact", after authorization): every text field of the request
 * body is detected and transformed in place: chat message contents (strings and the text
 * parts of content arrays, every role), tool-call and function-call arguments, completion
 * prompts, embedding inputs, and the "user" field. A block action refuses the request
 * (400, code "content_blocked", naming the type and the field, never the value).
 *
 * On the way out (response filter): each answer text is output-scanned (restricted values
 * the request did not carry are masked) and then restored (surrogates replaced by the
 * request's original values). Streamed answers keep one scanner and one restorer per
 * choice and field (content, refusal, reasoning, text, each tool call's arguments, the
 * legacy function_call's arguments); what they hold back is flushed into the chunk that
 * carries the choice's finish_reason, or into one extra chunk before [DONE] when none came.
 * An error object's message is answer text too. Token log-probabilities repeat the answer
 * token by token, where a value spread over tokens cannot be masked: they are dropped. */
#include "core/arena.h"
#include "core/clock.h"
#include "core/json.h"
#include "core/log.h"
#include "core/pool.h"
#include "gateway/gateway.h"
#include "redact/redaction.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The text fields of a chat delta (and of a whole message) first, by kind. */
enum field_kind { F_CONTENT, F_REFUSAL, F_REASONING_CONTENT, F_REASONING, F_TEXT, F_TOOL, F_FUNC };
#define F_NMSG 4
static const char *const msg_keys[F_NMSG] = {"content", "refusal", "reasoning_content",
                                             "reasoning"};

struct rx_stream {
    int choice;
    enum field_kind kind;
    int tool; /* tool call index for F_TOOL */
    bool done;
    struct sg_outscan os;
    struct sg_restorer rs;
};

#define RX_MAX_STREAMS 256

/* A text field of the request and its findings (a range of x->f). */
struct rx_field {
    /* the field's string, for the values of its findings: a reference held while it has
     * findings (a member name's string is made for the walk and would be gone), else NULL */
    json_t *s;
    size_t start, count;
    const char *path; /* in the HTTP request's arena; set for fields with findings */
};

struct sg_redact_req {
    const struct sg_redaction *rd; /* the snapshot's, borrowed */
    struct sg_vault *vault;
    struct sg_findings f; /* every finding of the request, field after field */
    struct rx_field *fields;
    size_t nfields, capfields;
    char first_path[96];               /* the first field with a finding, for error messages */
    uint32_t type_field[SG_ENT_MAX];   /* field number + 1 of each type's first finding */
    enum sg_action act[2][SG_ENT_MAX]; /* per destination kind (enum sg_dest) */
    const struct sg_policy_client *client_rule;
    json_t *body[2];   /* the transformed body per destination kind; owned, made lazily */
    size_t text_bytes; /* of all text fields */
    struct sg_fieldset *fieldset; /* the request's own field rules (X-Sovgate-Fields); owned */
    struct sg_buf a, b;           /* scratch text */
    uint32_t found[SG_ENT_MAX];
    /* surrogates a continued Responses conversation carries in its stored history (counted
     * in found too): they are no findings, so no action changes them */
    uint32_t carried[SG_ENT_MAX];
    uint32_t nfound, restored, masked;
    /* the request asks for a JSON answer (response_format json_object or json_schema, which
     * every dialect's JSON mode becomes): its content is restored escaped for the inside
     * of a JSON string, as tool-call arguments are, so a value with a quote, a backslash or
     * a line break leaves it valid JSON */
    bool json_answer;
    uint32_t masked_type[SG_ENT_MAX]; /* whole answers; streams count in their scanner */
    struct rx_stream *streams;
    size_t nstreams, capstreams;
    /* from the last chunk, for a closing chunk of our own */
    char chunk_id[128], chunk_object[48];
    json_int_t created;
};

void sg_redact_release(struct sg_req *r)
{
    struct sg_redact_req *x = r->rx;
    if (!x)
        return;
    for (size_t i = 0; i < x->nstreams; i++) {
        sg_outscan_free(&x->streams[i].os);
        sg_restorer_free(&x->streams[i].rs);
    }
    free(x->streams);
    for (size_t i = 0; i < x->nfields; i++)
        json_decref(x->fields[i].s);
    free(x->fields);
    sg_fieldset_free(x->fieldset);
    json_decref(x->body[0]);
    json_decref(x->body[1]);
    sg_vault_free(x->vault);
    sg_findings_free(&x->f);
    sg_buf_free(&x->a);
    sg_buf_free(&x->b);
    sg_pool_free(x);
    r->rx = NULL;
}

/* ---- the request ---- */

static void too_much(struct sg_req *r, const char *path)
{
    sg_api_error_set(&r->err, 400, "invalid_request_error", "too_much_personal_data", path,
                     "The request contains more personal data than the gateway redacts in one "
                     "request (at most %zu items).",
                     r->rx->rd->max_findings);
}

/* The classify pass: detection on one field; findings kept for the transform passes. */
static int classify(json_t *s, const char *path, void *ctx)
{
    struct sg_req *r = ctx;
    struct sg_redact_req *x = r->rx;
    if (x->nfields == x->capfields) {
        size_t cap = x->capfields ? x->capfields * 2 : 16;
        struct rx_field *v = realloc(x->fields, cap * sizeof(*v));
        if (!v)
            return -1;
        x->fields = v;
        x->capfields = cap;
    }
    struct rx_field *fd = &x->fields[x->nfields++];
    fd->s = NULL;
    fd->start = x->f.n;
    fd->count = 0;
    const char *text = json_string_value(s);
    size_t len = json_string_length(s);
    x->text_bytes += len;
    if (!len)
        return 0;
    if (sg_detect_ex(x->rd->det, r->w->dscratch, x->fieldset, text, len, &x->f) != 0) {
        sg_api_error_set(&r->err, 500, "server_error", NULL, NULL,
                         "The request could not be redacted.");
        return -1;
    }
    if (x->f.truncated) {
        too_much(r, path);
        return -1;
    }
    fd->count = x->f.n - fd->start;
    fd->path = fd->count ? sg_arena_strdup(sg_http_req_arena(r->http), path) : NULL;
    fd->s = fd->count ? json_incref(s) : NULL;
    for (size_t i = fd->start; i < x->f.n; i++) {
        const struct sg_finding *g = &x->f.v[i];
        if (!x->found[g->type]++)
            x->type_field[g->type] = (uint32_t)x->nfields;
        if (!x->first_path[0])
            sg_strlcpy(x->first_path, sizeof(x->first_path), path, SIZE_MAX);
        /* values the answer may repeat without being masked: keyed digests only */
        if (x->rd->output_scan[g->type] &&
            sg_vault_note(x->vault, g->type, text + g->start, g->end - g->start) != 0)
            return -1;
    }
    return 0;
}

struct apply_ctx {
    struct sg_req *r;
    const enum sg_action *act;
    size_t i; /* field number */
};

/* A transform pass: field i of a copy of the body, with the destination's actions. */
static int apply(json_t *s, const char *path, void *ctx)
{
    struct apply_ctx *c = ctx;
    struct sg_req *r = c->r;
    struct sg_redact_req *x = r->rx;
    if (c->i >= x->nfields)
        return -1; /* cannot happen: the same walk over the same body */
    const struct rx_field *fd = &x->fields[c->i++];
    if (!fd->count)
        return 0;
    struct sg_findings view = {x->f.v + fd->start, fd->count, fd->count, fd->count, false};
    sg_buf_reset(&x->a);
    unsigned blocked = 0;
    int rc = sg_transform(x->vault, c->act, json_string_value(s), json_string_length(s), &view,
                          &x->a, &blocked);
    if (rc == SG_ETOOBIG) {
        too_much(r, path);
        return -1;
    }
    if (rc || json_string_setn(s, x->a.data ? x->a.data : "", x->a.len) != 0) {
        sg_api_error_set(&r->err, rc == SG_EDENIED ? 403 : 500,
                         rc == SG_EDENIED ? "permission_error" : "server_error",
                         rc == SG_EDENIED ? "policy_violation" : NULL, NULL,
                         "The request could not be redacted.");
        return -1;
    }
    return 0;
}

/* Refuses the request for a verdict: 403 policy_violation naming the class and the rule. */
static void refuse(struct sg_req *r, const struct sg_policy_verdict *v)
{
    const struct sg_policy *p = r->snap->policy;
    sg_metrics_add(
        r->w->metrics, SG_M_BLOCKED, 1,
        SG_LABELS({"type", v->klass >= 0 ? sg_policy_class_name(p, (unsigned)v->klass) : "-"}));
    sg_api_error_set(&r->err, 403, "permission_error", "policy_violation",
                     r->rx ? r->rx->first_path : NULL,
                     "The request contains %s data, which the policy does not allow to be sent "
                     "to any backend of this model (rule %s).",
                     v->klass >= 0 ? sg_policy_class_name(p, (unsigned)v->klass) : "some", v->rule);
}

/* The exfiltration guard: the prompt's size, and the distinct personal values the client
 * has sent in its window (keyed digests only). */
static int guard(struct sg_req *r)
{
    struct sg_redact_req *x = r->rx;
    struct sg_config_client_limits lim;
    sg_config_client_limits(r->snap->cfg, r->client ? r->client->name : NULL, &lim);
    if (lim.max_prompt >= 0 && x->text_bytes > (size_t)lim.max_prompt) {
        sg_metrics_add(
            r->w->metrics, SG_M_LIMITED, 1,
            SG_LABELS({"client", r->client ? r->client->name : "-"}, {"limit", "max_prompt"}));
        sg_api_error_set(&r->err, 413, "invalid_request_error", "prompt_too_large", NULL,
                         "The request's text is larger than this client may send (%lld bytes).",
                         (long long)lim.max_prompt);
        return -1;
    }
    if (lim.distinct_personal < 0 || !x->f.n)
        return 0;
    int personal = sg_policy_class_index(r->snap->policy, "personal");
    uint64_t *d = malloc(x->f.n * sizeof(*d));
    if (!d) {
        sg_api_error_set(&r->err, 500, "server_error", NULL, NULL, "Out of memory.");
        return -1;
    }
    size_t n = 0;
    for (size_t i = 0; i < x->nfields; i++) {
        const struct rx_field *fd = &x->fields[i];
        for (size_t k = fd->start; k < fd->start + fd->count; k++) {
            const struct sg_finding *g = &x->f.v[k];
            if ((int)sg_policy_class_of(r->snap->policy, g->type) != personal)
                continue;
            d[n++] = sg_vault_digest(x->vault, g->type, json_string_value(fd->s) + g->start,
                                     g->end - g->start);
        }
    }
    struct sg_limit_refusal why;
    bool ok = sg_limiter_personal(r->w->rt->limiter, r->snap->cfg, &r->lease, d, n,
                                  sg_clock_us() / 1000, &why);
    free(d);
    if (!ok)
        sg_req_limited(r, &why);
    return ok ? 0 : -1;
}

/* The path of a field carrying type t (the first field with any finding otherwise). */
static const char *field_of(const struct sg_redact_req *x, unsigned t)
{
    uint32_t i = x->type_field[t];
    return i && x->fields[i - 1].path ? x->fields[i - 1].path : x->first_path;
}

int sg_stage_redact(struct sg_req *r)
{
    const struct sg_redaction *rd = r->snap->redaction;
    if (!rd->enabled)
        return 0;
    struct sg_redact_req *x = sg_pool_calloc(sizeof(*x)); /* one per request: cached */
    if (x) {
        x->rd = rd;
        x->vault = sg_redaction_vault(rd, r->snap->cfg->limits.max_body);
        sg_findings_init(&x->f, rd->max_findings);
        sg_buf_init(&x->a, r->snap->cfg->limits.max_response + 4096);
        sg_buf_init(&x->b, r->snap->cfg->limits.max_response + 4096);
    }
    r->rx = x;
    if (!x || !x->vault) {
        sg_api_error_set(&r->err, 500, "server_error", NULL, NULL, "Out of memory.");
        return -1;
    }
    /* a continued Responses conversation: its stored surrogates, to restore and to decide */
    if (r->rstate && sg_responses_import(r, x->vault, x->carried) != 0)
        return -1;
    for (unsigned t = 0; t < SG_ENT_MAX; t++)
        x->found[t] += x->carried[t];
    x->json_answer = sg_api_json_answer(r->body);
    /* field names the WordPress plugin says are personal or confidential */
    const struct sg_http_header *fh =
        sg_http_find_header(sg_http_req_head(r->http), "x-sovgate-fields");
    if (fh) {
        struct sg_error e = {0};
        if (sg_fieldset_parse(rd->det, fh->value, fh->value_len, &x->fieldset, &e) != 0) {
            sg_api_error_set(&r->err, 400, "invalid_request_error", "invalid_header",
                             "X-Sovgate-Fields", "The X-Sovgate-Fields header is not valid: %s.",
                             e.msg);
            return -1;
        }
    }
    /* Token ids are text made by the client's tokenizer: no detector can read them, so they
     * cannot be sent "redacted". Refused (fail closed) rather than passed on unseen. */
    const char *tok = sg_api_token_ids(r->ep->ep, r->body);
    if (tok) {
        sg_api_error_set(&r->err, 400, "invalid_request_error", "unscannable_input", tok,
                         "'%s' is given as token ids, which this gateway cannot check for "
                         "personal data; send it as text.",
                         tok);
        return -1;
    }
    if (sg_api_text_fields(r->ep->ep, r->body, classify, r) != 0) {
        if (!r->err.status)
            sg_api_error_set(&r->err, 500, "server_error", NULL, NULL, "Out of memory.");
        return -1;
    }
    x->nfound = (uint32_t)x->f.n;
    if (guard(r) != 0)
        return -1;
    /* the actions towards each kind of destination, for this client */
    const struct sg_policy *p = r->snap->policy;
    const struct sg_policy_client *pc = sg_policy_client(p, r->client ? r->client->name : NULL);
    sg_policy_actions(p, rd, pc, SG_DEST_SOVEREIGN, x->act[SG_DEST_SOVEREIGN]);
    sg_policy_actions(p, rd, pc, SG_DEST_EXTERNAL, x->act[SG_DEST_EXTERNAL]);
    x->client_rule = pc;
    /* A type blocked everywhere refuses the request now, whatever the route. */
    for (unsigned t = 0, nt = sg_detector_ntypes(rd->det); t < nt; t++) {
        if (!x->found[t] || x->act[SG_DEST_SOVEREIGN][t] != SG_ACT_BLOCK ||
            x->act[SG_DEST_EXTERNAL][t] != SG_ACT_BLOCK)
            continue;
        struct sg_policy_verdict v;
        sg_policy_decide(p, x->found, x->act[SG_DEST_SOVEREIGN], true, NULL, pc, &v);
        if (strncmp(v.rule, "type:", 5) == 0) {
            /* the operator blocks this type outright */
            const char *tn = sg_entity_name(rd->det, t);
            sg_metrics_add(r->w->metrics, SG_M_BLOCKED, 1, SG_LABELS({"type", tn}));
            sg_api_error_set(&r->err, 400, "invalid_request_error", "content_blocked",
                             field_of(x, t),
                             "The request contains data of type %s, which this "
                             "gateway's policy does not allow to be sent to a model.",
                             tn);
        } else {
            refuse(r, &v);
        }
        return -1;
    }
    return 0;
}

json_t *sg_redact_body_for(struct sg_req *r, bool sovereign)
{
    struct sg_redact_req *x = r->rx;
    if (!x)
        return r->body;
    enum sg_dest d = sovereign ? SG_DEST_SOVEREIGN : SG_DEST_EXTERNAL;
    if (x->body[d])
        return x->body[d];
    if (x->f.n == 0) {
        /* Nothing was found, so no field changes: the backend gets the client's body (only
         * its "model" is set per attempt, as when redaction is off). Copying it cost more
         * than the detection of a short chat. */
        x->body[d] = json_incref(r->body);
        return x->body[d];
    }
    json_t *copy = json_deep_copy(r->body);
    struct apply_ctx c = {r, x->act[d], 0};
    int rc = copy ? sg_api_text_fields(r->ep->ep, copy, apply, &c) : -1;
    if (rc == SG_API_NAME_CLASH)
        sg_api_error_set(&r->err, 400, "invalid_request_error", "name_clash", NULL,
                         "Two member names of one object in the request become the same once "
                         "redacted (masked), so it cannot be sent without losing one of them.");
    else if (rc && !r->err.status)
        sg_api_error_set(&r->err, 500, "server_error", NULL, NULL, "Out of memory.");
    if (rc) {
        json_decref(copy);
        return NULL;
    }
    x->body[d] = copy;
    return copy;
}

bool sg_redact_allows(struct sg_req *r, const struct sg_config_backend *b,
                      struct sg_policy_verdict *v)
{
    struct sg_redact_req *x = r->rx;
    if (!x) {
        /* redaction is off: nothing is classified, so only the shop's own backends */
        sg_policy_unclassified(b->sovereign, v);
        return v->allowed;
    }
    enum sg_dest d = b->sovereign ? SG_DEST_SOVEREIGN : SG_DEST_EXTERNAL;
    /* Carried surrogates reach the backend as they are, whatever the destination's action:
     * a "mask" does not remove them, and pseudonymized data is still personal data, so
     * their types count as left (a block still refuses). */
    enum sg_action act[SG_ENT_MAX];
    memcpy(act, x->act[d], sizeof(act));
    for (unsigned t = 0, nt = sg_detector_ntypes(x->rd->det); t < nt; t++)
        if (x->carried[t] && act[t] == SG_ACT_MASK)
            act[t] = SG_ACT_PSEUDONYMIZE;
    sg_policy_decide(r->snap->policy, x->found, act, b->sovereign, b->jurisdiction, x->client_rule,
                     v);
    return v->allowed;
}

void sg_redact_refuse(struct sg_req *r, const struct sg_policy_verdict *v)
{
    refuse(r, v);
}

/* ---- the answer ---- */

static void count_out(struct sg_redact_req *x, const struct sg_outscan *os)
{
    x->masked += os->masked;
    for (unsigned t = 0; os->masked && t < SG_ENT_MAX; t++)
        x->masked_type[t] += os->masked_type[t];
}

/* Output-scans and restores a whole text field in place. */
static int whole(struct sg_req *r, json_t *s, enum sg_restore_mode mode)
{
    struct sg_redact_req *x = r->rx;
    if (!json_is_string(s) || !json_string_length(s))
        return 0;
    struct sg_outscan os;
    sg_outscan_init(&os, x->rd, r->w->dscratch, x->vault);
    sg_buf_reset(&x->a);
    sg_buf_reset(&x->b);
    int rc = sg_outscan_text(&os, json_string_value(s), json_string_length(s), &x->a);
    count_out(x, &os);
    sg_outscan_free(&os);
    if (rc)
        return -1;
    int n = sg_restore(x->vault, mode, x->a.data ? x->a.data : "", x->a.len, &x->b);
    if (n < 0)
        return -1;
    x->restored += (uint32_t)n;
    if (n == 0 && x->a.len == json_string_length(s))
        return 0; /* nothing masked, nothing restored */
    return json_string_setn(s, x->b.data ? x->b.data : "", x->b.len) ? -1 : 0;
}

/* How a field of the answer is restored: arguments are JSON text, and so is the content
 * (or a completion's text) of an answer asked for as JSON. */
static enum sg_restore_mode restore_mode(const struct sg_redact_req *x, enum field_kind kind)
{
    if (kind == F_TOOL || kind == F_FUNC ||
        (x->json_answer && (kind == F_CONTENT || kind == F_TEXT)))
        return SG_RESTORE_JSON;
    return SG_RESTORE_RAW;
}

static struct rx_stream *stream_get(struct sg_req *r, int choice, enum field_kind kind, int tool)
{
    struct sg_redact_req *x = r->rx;
    for (size_t i = 0; i < x->nstreams; i++) {
        struct rx_stream *s = &x->streams[i];
        if (s->choice == choice && s->kind == kind && s->tool == tool)
            return s;
    }
    if (x->nstreams >= RX_MAX_STREAMS)
        return NULL;
    if (x->nstreams == x->capstreams) {
        size_t cap = x->capstreams ? x->capstreams * 2 : 2;
        struct rx_stream *v = realloc(x->streams, cap * sizeof(*v));
        if (!v)
            return NULL;
        x->streams = v;
        x->capstreams = cap;
    }
    struct rx_stream *s = &x->streams[x->nstreams++];
    memset(s, 0, sizeof(*s));
    s->choice = choice;
    s->kind = kind;
    s->tool = tool;
    sg_outscan_init(&s->os, x->rd, r->w->dscratch, x->vault);
    sg_restorer_init(&s->rs, x->vault, restore_mode(x, kind));
    return s;
}

/* Feeds a piece of a stream (text may be NULL at the end with `finish`), writing what can
 * be passed on into x->b. */
static int stream_step(struct sg_redact_req *x, struct rx_stream *s, const char *text, size_t len,
                       bool finish)
{
    sg_buf_reset(&x->a);
    sg_buf_reset(&x->b);
    unsigned before = s->os.masked;
    int rc = len ? sg_outscan_feed(&s->os, text, len, &x->a) : 0;
    if (!rc && finish)
        rc = sg_outscan_finish(&s->os, &x->a);
    x->masked += s->os.masked - before;
    unsigned rb = s->rs.restored;
    if (!rc && x->a.len)
        rc = sg_restorer_feed(&s->rs, x->a.data, x->a.len, &x->b);
    if (!rc && finish) {
        rc = sg_restorer_finish(&s->rs, &x->b);
        s->done = true;
    }
    x->restored += s->rs.restored - rb;
    return rc ? -1 : 0;
}

/* Replaces the string `key` of `obj` with x->b (creating it when absent). */
static int set_text(json_t *obj, const char *key, const struct sg_buf *b)
{
    return json_object_set_new(obj, key, json_stringn(b->data ? b->data : "", b->len));
}

/* Appends x->b to the string `key` of `obj` (creating it). */
static int append_text(json_t *obj, const char *key, const struct sg_buf *b)
{
    if (!b->len)
        return 0;
    json_t *old = json_object_get(obj, key);
    if (!json_is_string(old))
        return set_text(obj, key, b);
    size_t ol = json_string_length(old);
    char *v = malloc(ol + b->len);
    if (!v)
        return -1;
    memcpy(v, json_string_value(old), ol);
    memcpy(v + ol, b->data, b->len);
    int rc = json_string_setn(old, v, ol + b->len);
    free(v);
    return rc;
}

/* The tool_calls entry of `delta` with index `tool` (created when absent). */
static json_t *tool_entry(json_t *delta, int tool)
{
    json_t *calls = json_object_get(delta, "tool_calls");
    if (!json_is_array(calls)) {
        calls = json_array();
        if (json_object_set_new(delta, "tool_calls", calls) != 0)
            return NULL;
    }
    size_t i;
    json_t *c;
    json_array_foreach(calls, i, c)
    {
        if (json_integer_value(json_object_get(c, "index")) == tool)
            return c;
    }
    c = json_pack("{s:I,s:{}}", "index", (json_int_t)tool, "function");
    return c && json_array_append_new(calls, c) == 0 ? c : NULL;
}

/* The object `key` of `obj` (created when absent). */
static json_t *object_at(json_t *obj, const char *key)
{
    json_t *o = json_object_get(obj, key);
    if (json_is_object(o))
        return o;
    o = json_object();
    return json_object_set_new(obj, key, o) == 0 ? o : NULL;
}

/* Flushes every stream of `choice` into `ch` (a choice object of a chunk). Returns how many
 * fields got text, or -1. */
static int flush_choice(struct sg_req *r, json_t *ch, int choice, bool chat)
{
    struct sg_redact_req *x = r->rx;
    int n = 0;
    for (size_t i = 0; i < x->nstreams; i++) {
        struct rx_stream *s = &x->streams[i];
        if (s->choice != choice || s->done)
            continue;
        if (stream_step(x, s, NULL, 0, true) != 0)
            return -1;
        if (!x->b.len)
            continue;
        json_t *delta = json_object_get(ch, "delta");
        if (chat && !json_is_object(delta)) {
            delta = json_object();
            if (json_object_set_new(ch, "delta", delta) != 0)
                return -1;
        }
        int rc;
        if (s->kind == F_TEXT) {
            rc = append_text(ch, "text", &x->b);
        } else if (s->kind < F_NMSG) {
            rc = append_text(delta, msg_keys[s->kind], &x->b);
        } else if (s->kind == F_FUNC) {
            json_t *fc = object_at(delta, "function_call");
            rc = fc ? append_text(fc, "arguments", &x->b) : -1;
        } else {
            json_t *e = tool_entry(delta, s->tool);
            json_t *fn = json_object_get(e, "function");
            rc = fn ? append_text(fn, "arguments", &x->b) : -1;
        }
        if (rc)
            return -1;
        n++;
    }
    return n;
}

static int stream_field(struct sg_req *r, json_t *holder, const char *key, int choice,
                        enum field_kind kind, int tool)
{
    json_t *s = json_object_get(holder, key);
    if (!json_is_string(s))
        return 0;
    struct rx_stream *st = stream_get(r, choice, kind, tool);
    if (!st)
        return -1;
    if (st->done && json_string_length(s))
        st->done = false; /* text after the choice's finish_reason: held and flushed again */
    if (stream_step(r->rx, st, json_string_value(s), json_string_length(s), false) != 0)
        return -1;
    return set_text(holder, key, &r->rx->b);
}

static int filter_stream_choice(struct sg_req *r, json_t *ch, int idx)
{
    json_t *delta = json_object_get(ch, "delta");
    bool chat = json_is_object(delta);
    if (json_object_get(ch, "logprobs") && json_object_set_new(ch, "logprobs", json_null()))
        return -1;
    if (chat) {
        for (int k = 0; k < F_NMSG; k++)
            if (stream_field(r, delta, msg_keys[k], idx, (enum field_kind)k, 0) != 0)
                return -1;
        if (stream_field(r, json_object_get(delta, "function_call"), "arguments", idx, F_FUNC, 0) !=
            0)
            return -1;
        size_t i;
        json_t *call;
        json_array_foreach(json_object_get(delta, "tool_calls"), i, call)
        {
            json_t *ti = json_object_get(call, "index");
            int tool = json_is_integer(ti) ? (int)json_integer_value(ti) : (int)i;
            if (stream_field(r, json_object_get(call, "function"), "arguments", idx, F_TOOL,
                             tool) != 0)
                return -1;
        }
    }
    if (stream_field(r, ch, "text", idx, F_TEXT, 0) != 0)
        return -1;
    if (json_is_string(json_object_get(ch, "finish_reason")) &&
        flush_choice(r, ch, idx, chat || r->ep->ep == SG_EP_CHAT) < 0)
        return -1;
    return 0;
}

static int filter_whole_choice(struct sg_req *r, json_t *ch)
{
    json_t *m = json_object_get(ch, "message");
    if (json_object_get(ch, "logprobs") && json_object_set_new(ch, "logprobs", json_null()))
        return -1;
    struct sg_redact_req *x = r->rx;
    for (int k = 0; k < F_NMSG; k++) /* msg_keys follow enum field_kind */
        if (whole(r, json_object_get(m, msg_keys[k]), restore_mode(x, (enum field_kind)k)) != 0)
            return -1;
    if (whole(r, json_object_get(ch, "text"), restore_mode(x, F_TEXT)) != 0)
        return -1;
    size_t i;
    json_t *call;
    json_array_foreach(json_object_get(m, "tool_calls"), i, call)
    {
        if (whole(r, json_object_get(json_object_get(call, "function"), "arguments"),
                  SG_RESTORE_JSON) != 0)
            return -1;
    }
    return whole(r, json_object_get(json_object_get(m, "function_call"), "arguments"),
                 SG_RESTORE_JSON);
}

int sg_filter_redact(struct sg_req *r, json_t *obj)
{
    struct sg_redact_req *x = r->rx;
    if (!x)
        return 0;
    json_t *choices = json_object_get(obj, "choices");
    /* an error the backend sends (in a stream, or as its answer) may quote the text */
    if (whole(r, json_object_get(json_object_get(obj, "error"), "message"), SG_RESTORE_RAW) != 0)
        return -1;
    if (r->stream && json_is_array(choices)) {
        /* (an error event has no id to give a closing chunk of our own) */
        const char *id = json_string_value(json_object_get(obj, "id"));
        const char *ob = json_string_value(json_object_get(obj, "object"));
        sg_strlcpy(x->chunk_id, sizeof(x->chunk_id), id ? id : "", SIZE_MAX);
        sg_strlcpy(x->chunk_object, sizeof(x->chunk_object), ob ? ob : "", SIZE_MAX);
        x->created = json_integer_value(json_object_get(obj, "created"));
    }
    size_t i;
    json_t *ch;
    json_array_foreach(choices, i, ch)
    {
        json_t *ix = json_object_get(ch, "index");
        int idx = json_is_integer(ix) ? (int)json_integer_value(ix) : (int)i;
        if ((r->stream ? filter_stream_choice(r, ch, idx) : filter_whole_choice(r, ch)) != 0)
            return -1;
    }
    return 0;
}

int sg_redact_stream_flush(struct sg_req *r, struct sg_buf *sse, sg_chunk_fmt_fn fmt)
{
    struct sg_redact_req *x = r->rx;
    if (!x)
        return 0;
    for (size_t i = 0; i < x->nstreams; i++) {
        struct rx_stream *s = &x->streams[i];
        if (s->done)
            continue;
        bool chat = r->ep->ep == SG_EP_CHAT;
        json_t *ch = json_pack("{s:i,s:n}", "index", s->choice, "finish_reason");
        /* "o" hands the reference to ch over to the chunk, also when packing fails */
        json_t *chunk =
            json_pack("{s:s,s:s,s:I,s:s,s:[o]}", "id", x->chunk_id, "object", x->chunk_object,
                      "created", x->created, "model", r->model, "choices", ch);
        int n = chunk ? flush_choice(r, ch, s->choice, chat) : -1;
        /* (nothing held back: no chunk; one without text would lack its delta) */
        int rc = n > 0 ? fmt(r, chunk, sse) : n;
        json_decref(chunk);
        if (rc)
            return -1;
    }
    return 0;
}

struct sg_vault *sg_redact_vault(struct sg_req *r)
{
    return r->rx ? r->rx->vault : NULL;
}

void sg_redact_log(struct sg_req *r, struct sg_logline *l)
{
    struct sg_redact_req *x = r ? r->rx : NULL;
    if (!x)
        return;
    sg_logline_int(l, "redacted", x->nfound);
    if (x->restored)
        sg_logline_int(l, "restored", x->restored);
    if (x->masked)
        sg_logline_int(l, "output_masked", x->masked);
    for (unsigned t = 0; x->nfound && t < sg_detector_ntypes(x->rd->det); t++) {
        if (!x->found[t])
            continue;
        sg_metrics_add(r->w->metrics, SG_M_REDACTIONS, x->found[t],
                       SG_LABELS({"type", sg_entity_name(x->rd->det, t)},
                                 {"action", sg_action_name(x->rd->actions[t])}));
    }
    for (unsigned t = 0; x->masked && t < SG_ENT_MAX; t++) {
        uint32_t n = x->masked_type[t];
        for (size_t i = 0; i < x->nstreams; i++)
            n += x->streams[i].os.masked_type[t];
        if (n)
            sg_metrics_add(r->w->metrics, SG_M_OUTPUT_MASKED, n,
                           SG_LABELS({"type", sg_entity_name(x->rd->det, t)}));
    }
    if (x->restored)
        sg_metrics_add(r->w->metrics, SG_M_RESTORED, x->restored, NULL, 0);
}

void sg_redact_record(struct sg_req *r, json_t *o)
{
    struct sg_redact_req *x = r->rx;
    if (!x)
        return;
    const struct sg_policy *p = r->snap->policy;
    enum sg_dest d =
        r->backend && !r->backend->cfg->sovereign ? SG_DEST_EXTERNAL : SG_DEST_SOVEREIGN;
    json_t *classes = json_array(), *ents = json_object();
    uint32_t present = sg_policy_classes(p, x->found);
    for (unsigned c = 0; c < sg_policy_nclasses(p); c++)
        if (present & (1u << c))
            json_array_append_new(classes, json_string(sg_policy_class_name(p, c)));
    for (unsigned t = 0, nt = sg_detector_ntypes(x->rd->det); t < nt; t++) {
        if (!x->found[t])
            continue;
        /* surrogates carried from a stored conversation went out as they were, whatever
         * the destination's action for the type: counted apart, as "carried" */
        json_t *e = json_object();
        uint32_t fresh = x->found[t] - x->carried[t];
        if (fresh)
            json_object_set_new(e, sg_action_name(x->act[d][t]), json_integer(fresh));
        if (x->carried[t])
            json_object_set_new(e, "carried", json_integer(x->carried[t]));
        json_object_set_new(ents, sg_entity_name(x->rd->det, t), e);
    }
    json_object_set_new(o, "classes", classes);
    json_object_set_new(o, "entities", ents);
    if (!r->snap->cfg->audit.digests || !x->f.n)
        return;
    /* keyed digests of the values, so an investigator can correlate without them */
    json_t *dg = json_object();
    size_t n = 0;
    for (size_t i = 0; i < x->nfields && n < 256; i++) {
        const struct rx_field *fd = &x->fields[i];
        for (size_t k = fd->start; k < fd->start + fd->count && n < 256; k++, n++) {
            const struct sg_finding *g = &x->f.v[k];
            const char *tn = sg_entity_name(x->rd->det, g->type);
            char hex[17];
            uint64_t v = sg_vault_digest(x->vault, g->type, json_string_value(fd->s) + g->start,
                                         g->end - g->start);
            for (int b = 15; b >= 0; b--, v >>= 4)
                hex[b] = "0123456789abcdef"[v & 15];
            hex[16] = '\0';
            json_t *arr = json_object_get(dg, tn);
            if (!arr) {
                arr = json_array();
                json_object_set_new(dg, tn, arr);
            }
            json_array_append_new(arr, json_string(hex));
        }
    }
    json_object_set_new(o, "digests", dg);
}
