/* Audit records of API requests (the trail itself is src/audit/).
 *
 * Every proxied request gets one record ("type":"request") whose commit is waited for
 * before the last byte of the answer leaves: the end of a stream, the body of an answer,
 * or an error. A request to an EXTERNAL backend first gets a decision record
 * ("type":"decision"), and is sent only once that record is durable. When the trail
 * cannot write, data is not sent: a decision that fails refuses the request (503
 * audit_unavailable), a final record that fails turns a success into the same error.
 *
 * Records carry metadata only: ids, client, source, endpoint, model, backend, its
 * jurisdiction and sovereign flag, the classes present, entity counts per type and action,
 * the decision and its rule, tokens, durations and status; with audit.digests, keyed
 * digests of the values found (so an investigator can correlate without the values).
 *
 * Threads: the trail calls back on its writer thread; the callback only posts a letter to
 * the worker's mailbox, and the continuation runs on the request's worker. A request that ends
 * while waiting (the client went away) detaches from its wait, which is freed when the callback
 * arrives, or by the worker at shutdown after the trail was closed. */
#include "audit/audit.h"
#include "core/clock.h"
#include "core/json.h"
#include "gateway/gateway.h"

#include <stdlib.h>
#include <string.h>

struct sg_audit_wait {
    struct sg_worker *w;
    struct sg_mail mail; /* posted by on_commit, runs on_durable */
    struct sg_req *r;    /* NULL once the request is gone */
    sg_audit_cont_fn k;
    atomic_int result;
    struct sg_audit_wait *prev, *next; /* the worker's list of waits */
};

static void unlink_wait(struct sg_audit_wait *a)
{
    if (a->prev)
        a->prev->next = a->next;
    else
        a->w->audit_waits = a->next;
    if (a->next)
        a->next->prev = a->prev;
}

/* On the worker: the record's fate is known. */
static void on_durable(void *arg)
{
    struct sg_audit_wait *a = arg;
    unlink_wait(a);
    struct sg_req *r = a->r;
    int result = atomic_load(&a->result);
    if (r)
        r->await = NULL;
    free(a);
    if (r) {
        if (result != 0)
            sg_metrics_add(r->w->metrics, SG_M_AUDIT_FAILURES, 1, NULL, 0);
        /* the continuation may finish (and release) the request */
        r->audit_k(r, result);
    }
}

/* On the writer thread (or inside a refused append, on the worker). */
static void on_commit(void *arg, int result)
{
    struct sg_audit_wait *a = arg;
    atomic_store(&a->result, result);
    sg_mailbox_post(a->w->mbox, &a->mail);
}

void sg_audit_detach(struct sg_req *r)
{
    if (r->await) {
        r->await->r = NULL;
        r->await = NULL;
    }
}

void sg_audit_free_waits(struct sg_worker *w)
{
    while (w->audit_waits) {
        struct sg_audit_wait *a = w->audit_waits;
        w->audit_waits = a->next;
        free(a); /* its letter, if posted, went with the mailbox */
    }
}

/* ---- the record ---- */

static void put_str(json_t *o, const char *k, const char *v)
{
    if (v && *v)
        json_object_set_new(o, k, json_string(v));
}

static json_t *record(struct sg_req *r, const char *type, int status)
{
    json_t *o = json_object();
    put_str(o, "type", type);
    put_str(o, "request_id", r->id);
    put_str(o, "client", r->client ? r->client->name : NULL);
    const struct sg_http_header *src =
        sg_http_find_header(sg_http_req_head(r->http), "x-sovgate-source");
    if (src && src->value_len && src->value_len <= 64) {
        json_t *s = json_stringn(src->value, src->value_len);
        if (s)
            json_object_set_new(o, "source", s);
    }
    put_str(o, "endpoint", r->ep ? r->ep->path : NULL);
    put_str(o, "model", r->route ? r->route->model : NULL);
    if (r->backend) {
        put_str(o, "backend", r->backend->cfg->name);
        put_str(o, "jurisdiction", r->backend->cfg->jurisdiction);
        json_object_set_new(o, "sovereign", json_boolean(r->backend->cfg->sovereign));
    }
    sg_redact_record(r, o);
    sg_injection_record(r, o);
    const struct sg_policy_verdict *v = r->policy_ok         ? &r->verdict
                                        : r->refusal.rule[0] ? &r->refusal
                                                             : NULL;
    if (strcmp(type, "decision") == 0 || r->policy_ok) {
        put_str(o, "decision", "allow");
        /* allowed, and yet it failed (the allowed backends down, a timeout): say why */
        if (strcmp(type, "request") == 0 && status >= 400)
            put_str(o, "error", r->err.code);
    } else if (status == 403 && r->refusal.rule[0]) {
        put_str(o, "decision", "refuse");
    } else if (status >= 400) {
        put_str(o, "decision", status >= 500 ? "error" : "reject");
        put_str(o, "error", r->err.code);
    }
    if (v)
        put_str(o, "rule", v->rule);
    if (status)
        json_object_set_new(o, "status", json_integer(status));
    if (r->usage) {
        json_t *pt = json_object_get(r->usage, "prompt_tokens");
        json_t *ct = json_object_get(r->usage, "completion_tokens");
        if (json_is_integer(pt))
            json_object_set(o, "prompt_tokens", pt);
        if (json_is_integer(ct))
            json_object_set(o, "completion_tokens", ct);
    }
    json_object_set_new(o, "duration_us", json_integer((json_int_t)(sg_clock_us() - r->t_start)));
    if (r->t_ttfb)
        json_object_set_new(o, "ttfb_us", json_integer((json_int_t)r->t_ttfb));
    return o;
}

bool sg_audit_wanted(const struct sg_req *r)
{
    return r->w->rt->audit && r->ep && r->ep->proxied;
}

void sg_audit_request(struct sg_req *r, const char *type, int status, sg_audit_cont_fn k)
{
    if (!sg_audit_wanted(r)) {
        k(r, 0);
        return;
    }
    json_t *o = record(r, type, status);
    struct sg_buf b;
    sg_buf_init(&b, 60 * 1024);
    int rc = o ? sg_json_dump(o, &b) : SG_ENOMEM;
    json_decref(o);
    struct sg_audit_wait *a = rc ? NULL : calloc(1, sizeof(*a));
    if (!a) {
        sg_buf_free(&b);
        k(r, SG_ENOMEM);
        return;
    }
    a->w = r->w;
    a->r = r;
    sg_mail_init(&a->mail, on_durable, a);
    atomic_init(&a->result, 0);
    a->next = r->w->audit_waits;
    if (a->next)
        a->next->prev = a;
    r->w->audit_waits = a;
    r->await = a;
    r->audit_k = k;
    /* done comes exactly once: later on the writer thread, or now when refused */
    sg_audit_append(r->w->rt->audit, b.data, b.len, on_commit, a);
    sg_buf_free(&b);
}

void sg_audit_note(struct sg_req *r, int status)
{
    if (!sg_audit_wanted(r))
        return;
    json_t *o = record(r, "request", status);
    struct sg_buf b;
    sg_buf_init(&b, 60 * 1024);
    if (o && sg_json_dump(o, &b) == 0)
        sg_audit_append(r->w->rt->audit, b.data, b.len, NULL, NULL);
    json_decref(o);
    sg_buf_free(&b);
}
