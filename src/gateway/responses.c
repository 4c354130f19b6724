/* The OpenAI Responses dialect in the gateway: conversation state for
 * previous_response_id, the stored-response endpoints (GET and DELETE
 * /v1/responses/{id}), and the glue between the translation (api/dialect_responses.c)
 * and the pipeline.
 *
 * What is stored, per response (when `store` is not false): the conversation exactly as
 * it went to the backend and came back from it, i.e. transformed (personal data as
 * surrogates, restricted data masked; the answer with the output scan the client's answer
 * had), the Response object as the backend's answer made it (transformed too), and, so
 * that later answers can name people again, the part of the request's vault that maps
 * those surrogates to their values. The record is one JSON document encrypted with
 * AES-256-GCM (respstore.c) and expires after responses.ttl.
 * A follow-up request puts the stored (transformed) history before its new input; the
 * redact stage imports the stored surrogates into its vault (so the answer is restored
 * and the policy sees the types the conversation carries); nothing is re-sent in clear.
 *
 * Record: {"v":1,"messages":[chat messages],"vault":[[TYPE,CODE,VALUE],...],
 *          "response":{Response object, transformed}}. */
#include "core/clock.h"
#include "core/crypto.h"
#include "core/json.h"
#include "core/log.h"
#include "core/secret.h"
#include "gateway/gateway.h"
#include "gateway/respstore.h"
#include "redact/redaction.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct sg_resp_req {
    struct sg_responses_params p;
    char id[64];
    int64_t created;
    json_t *vault;                 /* the previous response's stored map; owned */
    json_t *backend_answer;        /* a whole answer as the backend sent it; owned */
    struct sg_chat_acc raw;        /* a streamed answer as the backend sent it */
    struct sg_responses_stream st; /* the client's events */
    bool st_init;
};

static uint64_t now_s(void)
{
    return (uint64_t)time(NULL);
}

/* ---- the store ---- */

/* The store's own ceiling on a record; each request's is record_cap(), below it. */
#define RECORD_MAX (256u << 20)

/* The largest record a request may store: its history (the upstream request holds at most
 * 2 * max_body) with the vault, the answer twice (the last message and the Response
 * object) and the JSON around them. Taken from the request's own snapshot, not fixed when
 * the store opens, so that after a reload new requests store what the new limits let
 * them send and receive (the store's keys are restart-only, its limits are not). Records
 * already stored are read whatever their size: reading checks none. */
static size_t record_cap(const struct sg_config *c)
{
    size_t cap = 4 * c->limits.max_body + 2 * c->limits.max_response + 65536;
    return cap < RECORD_MAX ? cap : RECORD_MAX;
}

int sg_responses_open(struct sg_runtime *rt, const struct sg_config *c, struct sg_error *err)
{
    uint8_t key[SG_RESPSTORE_KEY_LEN];
    int rc = 0;
    if (c->responses.key) {
        struct sg_secret s = {0};
        if ((rc = sg_secret_load(c->responses.key, c->dir, &s, err)) != 0)
            return rc;
        /* 64 hex digits are the key itself; anything else (at least 32 bytes) is hashed */
        if (s.len == 2 * SG_RESPSTORE_KEY_LEN &&
            sg_hex_decode(s.data, s.len, key, sizeof(key)) == 0) {
        } else if (s.len >= 32) {
            sg_sha256(s.data, s.len, key);
        } else {
            rc = sg_error_set(err, SG_EINVAL, "responses.key: at least 32 bytes are needed");
        }
        sg_secret_free(&s);
    } else if (sg_random_bytes(key, sizeof(key)) != 0) {
        rc = sg_error_set(err, SG_ECRYPTO, "cannot make a random key");
    }
    if (!rc) {
        struct sg_respstore_opts o = {
            .path = c->responses.store,
            .key = key,
            .ttl_s = c->responses.ttl_ms / 1000 ? c->responses.ttl_ms / 1000 : 1,
            .max_record = RECORD_MAX,
        };
        rc = sg_respstore_open(&o, &rt->respstore, err);
    }
    sg_secure_zero(key, sizeof(key));
    if (!rc) {
        int64_t pruned = sg_respstore_prune(rt->respstore, now_s());
        struct sg_logline l;
        sg_logline_begin(&l, SG_LOG_INFO, "responses_store");
        sg_logline_str(&l, "store", c->responses.store ? c->responses.store : "memory");
        sg_logline_int(&l, "ttl_s", c->responses.ttl_ms / 1000);
        sg_logline_int(&l, "pruned", pruned > 0 ? pruned : 0);
        sg_logline_end(&l);
    }
    return rc;
}

void sg_responses_close(struct sg_runtime *rt)
{
    sg_respstore_close(rt->respstore);
    rt->respstore = NULL;
}

static const char *client_of(const struct sg_req *r)
{
    return r->client ? r->client->name : "";
}

/* Reads and parses the record of `id` for the request's client; NULL when there is none. */
static json_t *load(struct sg_req *r, const char *id)
{
    char *data = NULL;
    size_t len = 0;
    if (!r->w->rt->respstore ||
        sg_respstore_get(r->w->rt->respstore, id, client_of(r), now_s(), &data, &len) != 0)
        return NULL;
    json_t *j = sg_json_parse(data, len, 0, NULL);
    sg_secure_zero(data, len);
    free(data);
    if (!json_is_object(j)) {
        json_decref(j);
        return NULL;
    }
    return j;
}

/* ---- the request ---- */

int sg_responses_decode(struct sg_req *r, const json_t *in, json_t **chat)
{
    struct sg_resp_req *x = calloc(1, sizeof(*x));
    *chat = NULL;
    if (!x) {
        sg_api_error_set(&r->err, 500, "server_error", NULL, NULL, "Out of memory.");
        return -1;
    }
    r->rstate = x;
    sg_chat_acc_init(&x->raw);
    sg_responses_new_id(x->id);
    x->created = (int64_t)now_s();
    json_t *c = sg_responses_request(in, &x->p, &r->err);
    if (!c)
        return -1;
    if (x->p.previous_id[0]) {
        json_t *rec = load(r, x->p.previous_id);
        const json_t *hist = json_object_get(rec, "messages");
        if (!json_is_array(hist)) {
            json_decref(rec);
            json_decref(c);
            sg_api_error_set(&r->err, 400, "invalid_request_error", "previous_response_not_found",
                             "previous_response_id",
                             "Previous response with id '%.100s' not found.", x->p.previous_id);
            return -1;
        }
        /* instructions first (they are not carried over), then the history, then the input */
        json_t *msgs = json_object_get(c, "messages");
        size_t at = x->p.instructions ? 1 : 0, i;
        json_t *m;
        json_array_foreach((json_t *)hist, i, m)
        {
            json_array_insert(msgs, at + i, m);
        }
        x->vault = json_incref(json_object_get(rec, "vault"));
        json_decref(rec);
        /* the upstream request must fit the gateway's buffer for it (see pipeline.c) */
        struct sg_buf b;
        sg_buf_init(&b, 2 * r->snap->cfg->limits.max_body);
        int rc = sg_json_dump(c, &b);
        sg_buf_free(&b);
        if (rc) {
            json_decref(c);
            sg_api_error_set(&r->err, 400, "invalid_request_error", "conversation_too_large",
                             "previous_response_id",
                             "The conversation is too long to be continued through this gateway "
                             "(more than %zu bytes); start a new one.",
                             2 * r->snap->cfg->limits.max_body);
            return -1;
        }
    }
    *chat = c;
    return 0;
}

/* The `escaped` of a stored vault entry (export_entry, below): 0 where it has none, or none
 * valid. */
static unsigned entry_escaped(const json_t *e)
{
    json_int_t k = json_integer_value(json_array_get(e, 3));
    return k > 0 && k <= SG_ESCAPED_MAX ? (unsigned)k : 0;
}

int sg_responses_import(struct sg_req *r, struct sg_vault *v, uint32_t *found)
{
    struct sg_resp_req *x = r->rstate;
    const struct sg_detector *det = r->snap->redaction->det;
    size_t i;
    json_t *e;
    json_array_foreach(x->vault, i, e)
    {
        const char *type = json_string_value(json_array_get(e, 0));
        const char *code = json_string_value(json_array_get(e, 1));
        const json_t *val = json_array_get(e, 2);
        int t = type ? sg_entity_lookup(det, type) : -1;
        if (t < 0 || !code || !json_is_string(val))
            continue; /* a type this configuration no longer knows */
        if (sg_vault_import(v, (unsigned)t, code, json_string_value(val), json_string_length(val),
                            entry_escaped(e)) != 0) {
            sg_api_error_set(&r->err, 400, "invalid_request_error", "too_much_personal_data",
                             "previous_response_id",
                             "The conversation holds more personal data than the gateway "
                             "redacts in one request.");
            return -1;
        }
        found[t]++;
    }
    return 0;
}

int sg_filter_responses(struct sg_req *r, json_t *obj)
{
    struct sg_resp_req *x = r->rstate;
    if (!x || !x->p.store)
        return 0;
    if (r->stream)
        return sg_chat_acc_feed(&x->raw, obj) ? -1 : 0;
    json_decref(x->backend_answer);
    x->backend_answer = json_deep_copy(obj);
    return x->backend_answer ? 0 : -1;
}

/* ---- storing ---- */

/* A vault entry as [type, code, value] or, for a value found inside JSON text,
 * [type, code, value, escaped] (records written before that have three elements). */
static int export_entry(unsigned type, const char *code, const char *value, size_t len,
                        unsigned escaped, void *ctx)
{
    const struct sg_detector *det = ((void **)ctx)[1];
    json_t *e = json_pack("[s,s,s%]", sg_entity_name(det, type), code, value, len);
    if (e && escaped && json_array_append_new(e, json_integer(escaped)) != 0) {
        json_decref(e);
        e = NULL;
    }
    return json_array_append_new(((json_t **)ctx)[0], e);
}

/* Output-scans one text of the answer in place (restricted values the request did not
 * carry are masked), as the client's answer was. Returns 0 or -1. */
static int mask_text(struct sg_req *r, struct sg_vault *v, json_t *s, struct sg_buf *b)
{
    if (!json_is_string(s) || !json_string_length(s))
        return 0;
    struct sg_outscan os;
    sg_outscan_init(&os, r->snap->redaction, r->w->dscratch, v);
    sg_buf_reset(b);
    int rc = sg_outscan_text(&os, json_string_value(s), json_string_length(s), b);
    unsigned masked = os.masked;
    sg_outscan_free(&os);
    if (rc)
        return -1;
    return masked ? json_string_setn(s, b->data ? b->data : "", b->len) : 0;
}

/* The backend's answer as it may be kept: a copy with the output scan the client's answer
 * had (else GET, and the history of later turns, would hold what the client was never
 * shown). NULL when out of memory or too large. */
static json_t *masked_answer(struct sg_req *r, const json_t *answer)
{
    json_t *a = json_deep_copy(answer);
    struct sg_vault *v = sg_redact_vault(r);
    if (!a || !v)
        return a; /* redaction off: nothing was scanned */
    json_t *m = json_object_get(json_array_get(json_object_get(a, "choices"), 0), "message");
    struct sg_buf b;
    sg_buf_init(&b, r->snap->cfg->limits.max_response + 4096);
    int rc = mask_text(r, v, json_object_get(m, "content"), &b);
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(m, "tool_calls"), i, c)
    {
        if (!rc)
            rc = mask_text(r, v, json_object_get(json_object_get(c, "function"), "arguments"), &b);
    }
    if (b.data)
        sg_secure_zero(b.data, b.len);
    sg_buf_free(&b);
    if (rc) {
        json_decref(a);
        return NULL;
    }
    return a;
}

/* Stores the conversation: what was sent (without the instructions) and what came back. */
static void save(struct sg_req *r, const json_t *backend_answer)
{
    struct sg_resp_req *x = r->rstate;
    if (!x->p.store || !r->w->rt->respstore || !backend_answer || !r->backend)
        return;
    json_t *answer = masked_answer(r, backend_answer);
    if (!answer) {
        struct sg_logline l;
        sg_logline_begin(&l, SG_LOG_WARN, "responses_store");
        sg_logline_str(&l, "request_id", r->id);
        sg_logline_str(&l, "error", "too_large");
        sg_logline_end(&l);
        return;
    }
    const json_t *sent = sg_redact_body_for(r, r->backend->cfg->sovereign);
    const json_t *msgs = json_object_get(sent, "messages");
    json_t *hist = json_array(), *vault = json_array();
    for (size_t i = x->p.instructions ? 1 : 0; i < json_array_size(msgs); i++)
        json_array_append(hist, json_array_get(msgs, i));
    const json_t *m =
        json_object_get(json_array_get(json_object_get(answer, "choices"), 0), "message");
    json_t *am =
        json_pack("{s:s,s:O}", "role", "assistant", "content",
                  json_is_string(json_object_get(m, "content")) ? json_object_get(m, "content")
                                                                : json_null());
    if (json_array_size(json_object_get(m, "tool_calls"))) {
        json_t *calls = json_array();
        size_t i;
        const json_t *c;
        json_array_foreach(json_object_get(m, "tool_calls"), i, c)
        {
            json_array_append_new(calls, json_pack("{s:O,s:s,s:O}", "id", json_object_get(c, "id"),
                                                   "type", "function", "function",
                                                   json_object_get(c, "function")));
        }
        json_object_set_new(am, "tool_calls", calls);
        if (!json_string_length(json_object_get(am, "content")))
            json_object_set_new(am, "content", json_null());
    }
    json_array_append_new(hist, am);
    struct sg_vault *v = sg_redact_vault(r);
    void *ctx[2] = {vault, (void *)r->snap->redaction->det};
    if (v)
        sg_vault_each(v, export_entry, ctx);
    json_t *resp = sg_responses_response(answer, x->id, x->created, r->model, x->p.echo);
    json_decref(answer);
    json_t *rec =
        json_pack("{s:i,s:o,s:o,s:o}", "v", 1, "messages", hist, "vault", vault, "response", resp);
    struct sg_buf b;
    sg_buf_init(&b, record_cap(r->snap->cfg)); /* past it: SG_ETOOBIG, logged as too_large */
    int rc = rec ? sg_json_dump(rec, &b) : SG_ENOMEM;
    json_decref(rec);
    rc = rc ? rc
            : sg_respstore_put(r->w->rt->respstore, x->id, client_of(r), b.data, b.len, now_s());
    if (b.data)
        sg_secure_zero(b.data, b.len);
    sg_buf_free(&b);
    if (rc) {
        struct sg_logline l;
        sg_logline_begin(&l, SG_LOG_WARN, "responses_store");
        sg_logline_str(&l, "request_id", r->id);
        sg_logline_str(&l, "error", rc == SG_ETOOBIG ? "too_large" : "write_failed");
        sg_logline_end(&l);
    }
}

json_t *sg_responses_answer(struct sg_req *r, const json_t *completion)
{
    struct sg_resp_req *x = r->rstate;
    save(r, x->backend_answer);
    return sg_responses_response(completion, x->id, x->created, r->model, x->p.echo);
}

static struct sg_responses_stream *stream_of(struct sg_req *r)
{
    struct sg_resp_req *x = r->rstate;
    if (!x->st_init) {
        sg_responses_stream_init(&x->st, x->id, x->created, r->model, x->p.echo);
        x->st_init = true;
    }
    return &x->st;
}

int sg_responses_stream_format(struct sg_req *r, json_t *chunk, struct sg_buf *out)
{
    return sg_responses_stream_chunk(stream_of(r), chunk, out);
}

int sg_responses_stream_finish(struct sg_req *r, struct sg_buf *out)
{
    struct sg_resp_req *x = r->rstate;
    if (x->p.store) {
        json_t *c = sg_chat_acc_completion(&x->raw);
        save(r, c);
        json_decref(c);
    }
    return sg_responses_stream_end(stream_of(r), out);
}

int sg_responses_stream_fail(struct sg_req *r, const struct sg_api_error *e, struct sg_buf *out)
{
    return sg_responses_stream_error(stream_of(r), e, out);
}

void sg_responses_release(struct sg_req *r)
{
    struct sg_resp_req *x = r->rstate;
    if (!x)
        return;
    sg_responses_params_free(&x->p);
    json_decref(x->vault);
    json_decref(x->backend_answer);
    sg_chat_acc_free(&x->raw);
    if (x->st_init)
        sg_responses_stream_free(&x->st);
    free(x);
    r->rstate = NULL;
}

/* ---- GET and DELETE /v1/responses/{id} ---- */

static void not_found(struct sg_req *r)
{
    sg_api_error_set(&r->err, 404, "invalid_request_error", "not_found", NULL,
                     "No response found with id '%.100s'.", r->path_model);
    sg_req_fail(r);
}

/* Restores one stored text in place; not a string: nothing to do. Returns 0 or -1. */
static int restore_text(struct sg_vault *v, enum sg_restore_mode mode, json_t *s, struct sg_buf *b)
{
    if (!json_is_string(s))
        return 0;
    sg_buf_reset(b);
    if (sg_restore(v, mode, json_string_value(s), json_string_length(s), b) < 0)
        return -1;
    return json_string_setn(s, b->data ? b->data : "", b->len);
}

/* Restores the surrogates of a stored Response object in place. */
static int restore_response(struct sg_req *r, json_t *resp, const json_t *map)
{
    const struct sg_redaction *rd = r->snap->redaction;
    if (!rd->enabled || !json_array_size(map))
        return 0;
    struct sg_vault *v = sg_redaction_vault(rd, 64u << 20);
    if (!v)
        return -1;
    size_t i;
    const json_t *e;
    json_array_foreach(map, i, e)
    {
        int t = sg_entity_lookup(rd->det, json_is_string(json_array_get(e, 0))
                                              ? json_string_value(json_array_get(e, 0))
                                              : "");
        const json_t *val = json_array_get(e, 2);
        if (t >= 0 && json_is_string(json_array_get(e, 1)) && json_is_string(val))
            sg_vault_import(v, (unsigned)t, json_string_value(json_array_get(e, 1)),
                            json_string_value(val), json_string_length(val), entry_escaped(e));
    }
    struct sg_buf b;
    sg_buf_init(&b, 128u << 20);
    int rc = 0;
    json_t *item;
    /* an answer asked for as JSON (text.format) is JSON text: restored escaped, as when it
     * was first answered */
    const char *ft = json_string_value(
        json_object_get(json_object_get(json_object_get(resp, "text"), "format"), "type"));
    enum sg_restore_mode text_mode =
        ft && (strcmp(ft, "json_object") == 0 || strcmp(ft, "json_schema") == 0) ? SG_RESTORE_JSON
                                                                                 : SG_RESTORE_RAW;
    json_array_foreach(json_object_get(resp, "output"), i, item)
    {
        size_t j;
        json_t *part;
        json_array_foreach(json_object_get(item, "content"), j, part)
        {
            if (!rc)
                rc = restore_text(v, text_mode, json_object_get(part, "text"), &b);
        }
        if (!rc)
            rc = restore_text(v, SG_RESTORE_JSON, json_object_get(item, "arguments"), &b);
    }
    if (b.data)
        sg_secure_zero(b.data, b.len);
    sg_buf_free(&b);
    sg_vault_free(v);
    return rc;
}

void sg_responses_serve(struct sg_req *r)
{
    const struct sg_http_head *h = sg_http_req_head(r->http);
    bool del = sg_http_ieq(h->method, h->method_len, "DELETE");
    if (!r->path_model[0] || !r->w->rt->respstore) {
        not_found(r);
        return;
    }
    if (del) {
        if (sg_respstore_delete(r->w->rt->respstore, r->path_model, client_of(r), now_s()) != 0) {
            not_found(r);
            return;
        }
        sg_req_respond_json(r, 200,
                            json_pack("{s:s,s:s,s:b}", "id", r->path_model, "object",
                                      "response.deleted", "deleted", 1));
        return;
    }
    json_t *rec = load(r, r->path_model);
    json_t *resp = json_object_get(rec, "response");
    if (!json_is_object(resp)) {
        json_decref(rec);
        not_found(r);
        return;
    }
    json_incref(resp);
    int rc = restore_response(r, resp, json_object_get(rec, "vault"));
    json_decref(rec);
    if (rc) {
        json_decref(resp);
        sg_api_error_set(&r->err, 500, "server_error", NULL, NULL,
                         "The stored response cannot be read.");
        sg_req_fail(r);
        return;
    }
    sg_req_respond_json(r, 200, resp);
}
