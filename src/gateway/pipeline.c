/* The request pipeline: endpoint dispatch, the stages that run before a request is
 * proxied (authentication, decoding, model resolution, authorization), the endpoints the
 * gateway answers itself (/healthz, /readyz, /metrics, /v1/models), and the end of every
 * request (log line and metrics). */
#include "gateway/gateway.h"
#include "audit/audit.h"
#include "core/arena.h"
#include "core/clock.h"
#include "core/json.h"
#include "core/log.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- helpers ---- */

size_t sg_req_headers(struct sg_req *r, struct sg_http_out_header *h, size_t cap)
{
    size_t n = 0;
    if (n < cap)
        h[n++] = (struct sg_http_out_header){"x-request-id", r->id};
    if (r->inj_header[0] && n < cap) /* injection.c: the flag action */
        h[n++] = (struct sg_http_out_header){"x-sovgate-injection", r->inj_header};
    return n;
}

static void respond_json(struct sg_req *r, int status, const char *body, size_t len)
{
    struct sg_http_out_header h[4];
    size_t n = sg_req_headers(r, h, 4);
    sg_http_respond(r->http, status, h, n, "application/json", body, len, false);
}

void sg_req_respond_json(struct sg_req *r, int status, json_t *o)
{
    struct sg_buf b;
    sg_buf_init(&b, 256u << 20);
    if (!o || sg_json_dump(o, &b) != 0) {
        json_decref(o);
        sg_buf_free(&b);
        sg_api_error_set(&r->err, 500, "server_error", NULL, NULL, "Out of memory.");
        sg_req_fail(r);
        return;
    }
    json_decref(o);
    respond_json(r, status, b.data, b.len);
    sg_buf_free(&b);
}

/* Sends r->err. */
static void send_error(struct sg_req *r)
{
    struct sg_buf b;
    char ra[16];
    sg_buf_init(&b, 4096);
    if (r->ep && r->ep->dialect == SG_DIALECT_ANTHROPIC)
        sg_anthropic_error(&r->err, &b); /* in the shape the client's library reads */
    else if (r->ep && r->ep->dialect == SG_DIALECT_GEMINI)
        sg_gemini_error(&r->err, &b);
    else if (r->ep && r->ep->dialect == SG_DIALECT_OLLAMA)
        sg_ollama_error(&r->err, &b);
    else
        sg_api_error_json(&r->err, &b);
    struct sg_http_out_header h[4];
    size_t n = sg_req_headers(r, h, 3);
    if (r->err.retry_after) {
        snprintf(ra, sizeof(ra), "%u", r->err.retry_after);
        h[n++] = (struct sg_http_out_header){"retry-after", ra};
    }
    /* A 401 before the body was read closes the connection: the HTTP layer knows. */
    sg_http_respond(r->http, r->err.status, h, n, "application/json", b.data ? b.data : "", b.len,
                    false);
    sg_buf_free(&b);
}

static void error_after_audit(struct sg_req *r, int result)
{
    (void)result; /* an error carries no data: it is answered either way */
    send_error(r);
}

void sg_req_fail(struct sg_req *r)
{
    if (sg_audit_wanted(r) && !r->audited) {
        r->audited = true;
        sg_audit_request(r, "request", r->err.status, error_after_audit);
        return;
    }
    send_error(r);
}

/* Head-stage refusals are answered at once (the HTTP layer wants the answer before the
 * body is read); their record is written without waiting. */
static void fail_head(struct sg_req *r)
{
    if (sg_audit_wanted(r) && !r->audited) {
        r->audited = true;
        sg_audit_note(r, r->err.status);
    }
    send_error(r);
}

static int add_text_bytes(json_t *s, const char *path, void *ctx)
{
    (void)path;
    *(size_t *)ctx += json_string_length(s);
    return 0;
}

/* A request sent to a backend that ends without a usage object (the client went away, the
 * stream broke, the backend reports none) is charged an estimate of its prompt on top of
 * the tokens streamed; one the backend refused (an HTTP error) is not. */
static void charge_unsettled(struct sg_req *r)
{
    if (!r->lease.st || !r->attempts || r->usage || r->up_status >= 400 || !r->snap || !r->body)
        return;
    size_t bytes = 0;
    sg_api_text_fields(r->ep->ep, r->body, add_text_bytes, &bytes);
    sg_limiter_tokens(r->w->rt->limiter, r->snap->cfg, &r->lease, sg_limit_prompt_estimate(bytes),
                      sg_clock_us() / 1000);
}

void sg_req_release(struct sg_req *r)
{
    sg_audit_detach(r);
    sg_proxy_abort(r);
    sg_redact_release(r);
    sg_dstream_free(&r->dstream);
    sg_responses_release(r);
    charge_unsettled(r);
    sg_limiter_release(r->w->rt->limiter, &r->lease); /* zeroes the lease: charged once */
    if (r->body) {
        json_decref(r->body);
        r->body = NULL;
    }
    if (r->usage) {
        json_decref(r->usage);
        r->usage = NULL;
    }
    sg_buf_free(&r->up_body);
    sg_buf_free(&r->resp);
    if (r->sse_init) {
        sg_sse_free(&r->sse);
        r->sse_init = false;
    }
    if (r->snap) {
        sg_snapshot_unref(r->snap);
        r->snap = NULL;
    }
}

/* ---- stages ---- */

/* The key a credential header carries: Authorization's after "Bearer ", the others' whole
 * value; NULL for other headers and other Authorization schemes. */
static const char *header_key(const struct sg_http_header *a, size_t *len)
{
    if (sg_http_ieq(a->name, a->name_len, "authorization")) {
        if (a->value_len <= 7 || !sg_http_ieq(a->value, 7, "bearer "))
            return NULL;
        const char *k = a->value + 7;
        size_t n = a->value_len - 7;
        while (n && *k == ' ') {
            k++;
            n--;
        }
        *len = n;
        return k;
    }
    if (sg_http_ieq(a->name, a->name_len, "x-api-key") ||
        sg_http_ieq(a->name, a->name_len, "api-key") ||
        sg_http_ieq(a->name, a->name_len, "x-goog-api-key")) {
        *len = a->value_len;
        return a->value;
    }
    return NULL;
}

/* Finds the presented key: Authorization: Bearer, x-api-key (Anthropic-style clients),
 * api-key (Azure-style clients), x-goog-api-key or, for Gemini, ?key=. A request may carry
 * the same key in several of them; one that carries different keys sets `*conflict` (which
 * key would count is then a guess, and a proxy in front may have checked the other). */
static const char *presented_key(struct sg_req *r, size_t *len, bool *conflict)
{
    const struct sg_http_head *h = sg_http_req_head(r->http);
    const char *key = NULL;
    *conflict = false;
    for (size_t i = 0; i < h->nheaders; i++) {
        size_t n = 0;
        const char *k = header_key(&h->headers[i], &n);
        if (!k)
            continue;
        if (!key) {
            key = k;
            *len = n;
        } else if (n != *len || memcmp(k, key, n) != 0) {
            *conflict = true;
        }
    }
    if (r->ep->dialect == SG_DIALECT_GEMINI) { /* Gemini clients may send ?key= */
        size_t n = 0;
        const char *k = sg_query_param(h->target, h->target_len, "key", &n);
        if (k && !key) {
            key = k;
            *len = n;
        } else if (k && (n != *len || memcmp(k, key, n) != 0)) {
            *conflict = true;
        }
    }
    return key;
}

static int stage_authn(struct sg_req *r)
{
    if (!r->ep->auth)
        return 0;
    size_t len = 0;
    bool conflict = false;
    const char *key = presented_key(r, &len, &conflict);
    if (conflict) {
        sg_api_error_set(&r->err, 401, "invalid_request_error", "conflicting_api_keys", NULL,
                         "The request carries different API keys (in Authorization, x-api-key, "
                         "api-key, x-goog-api-key or ?key=). Send one key.");
        return -1;
    }
    /* A verified client certificate (mutual TLS) names a client: alone it authenticates
     * as that client; with a key, both must name the same client. */
    char cn[129];
    bool have_cert = sg_http_req_client_cn(r->http, cn, sizeof(cn));
    if (have_cert && (!key || len == 0)) {
        r->client = sg_keytab_find_name(r->snap->keys, cn);
        if (r->client)
            return 0;
        sg_api_error_set(&r->err, 401, "invalid_request_error", "unknown_client_certificate", NULL,
                         "The client certificate does not name a known client.");
        return -1;
    }
    if (have_cert && key && len) {
        const struct sg_client *c = sg_keytab_lookup(r->snap->keys, key, len);
        if (c && strcmp(c->name, cn) != 0) {
            sg_api_error_set(&r->err, 401, "invalid_request_error", "certificate_mismatch", NULL,
                             "The API key and the client certificate name different "
                             "clients.");
            return -1;
        }
    }
    if (!key || len == 0) {
        sg_api_error_set(&r->err, 401, "invalid_request_error", "missing_api_key", NULL,
                         "You didn't provide an API key. Send it in the Authorization header "
                         "(Authorization: Bearer YOUR_KEY).");
        return -1;
    }
    r->client = sg_keytab_lookup(r->snap->keys, key, len);
    if (!r->client) {
        sg_api_error_set(&r->err, 401, "invalid_request_error", "invalid_api_key", NULL,
                         "Incorrect API key provided.");
        return -1;
    }
    return 0;
}

/* A request in another dialect: parsed, translated into the OpenAI request (the same
 * functions as `sovgate policy explain`: api/dialect_decode.c), validated. */
static int decode_dialect(struct sg_req *r, const char *body, size_t len, const char **model)
{
    json_t *j = sg_dialect_parse(body, len, &r->err);
    if (!j)
        return -1;
    json_t *chat = NULL;
    if (r->ep->dialect == SG_DIALECT_RESPONSES) {
        if (sg_responses_decode(r, j, &chat) != 0) /* responses.c: state, history */
            chat = NULL;
    } else {
        chat = sg_dialect_translate(r->ep, r->path_model, j, NULL, &r->err);
    }
    json_decref(j);
    if (!chat)
        return -1;
    if (sg_api_validate(r->ep->ep, chat, model, &r->stream, &r->err) != 0) {
        json_decref(chat);
        return -1;
    }
    r->body = chat;
    return 0;
}

static int stage_decode(struct sg_req *r)
{
    size_t len;
    const char *body = sg_http_req_body(r->http, &len);
    const char *model;
    if (r->ep->dialect != SG_DIALECT_OPENAI) {
        if (decode_dialect(r, body, len, &model) != 0)
            return -1;
    } else if (sg_api_decode(r->ep->ep, body, len, &r->body, &model, &r->stream, &r->err) != 0) {
        return -1;
    }
    r->model = sg_arena_strdup(sg_http_req_arena(r->http), model);
    if (!r->model) {
        sg_api_error_set(&r->err, 500, "server_error", NULL, NULL, "Out of memory.");
        return -1;
    }
    const json_t *so = json_object_get(r->body, "stream_options");
    r->include_usage = json_is_true(json_object_get(so, "include_usage"));
    if (r->ep->dialect == SG_DIALECT_ANTHROPIC)
        sg_anthropic_stream_init(&r->astream, r->model);
    const struct sg_http_head *hh = sg_http_req_head(r->http);
    sg_dstream_init(&r->dstream, r->ep, hh->target, hh->target_len, r->model, r->t_start);
    return 0;
}

static int stage_model(struct sg_req *r)
{
    r->route = sg_config_find_route(r->snap->cfg, r->model);
    if (!r->route) {
        sg_api_error_set(&r->err, 404, "invalid_request_error", "model_not_found", "model",
                         "The model '%.128s' does not exist.", r->model);
        return -1;
    }
    return 0;
}

static int stage_authz(struct sg_req *r)
{
    if (!sg_client_allows(r->client, r->route)) {
        sg_api_error_set(&r->err, 403, "permission_error", "model_not_allowed", "model",
                         "This API key may not use the model '%.128s'.", r->model);
        return -1;
    }
    return 0;
}

void sg_req_limited(struct sg_req *r, const struct sg_limit_refusal *why)
{
    sg_metrics_add(r->w->metrics, SG_M_LIMITED, 1,
                   SG_LABELS({"client", r->client ? r->client->name : "-"}, {"limit", why->limit}));
    if (strcmp(why->limit, "unavailable") == 0)
        /* the gateway's fault, not the client's: a server error it may retry */
        sg_api_error_set(&r->err, 503, "server_error", "limits_unavailable", NULL,
                         "The gateway cannot apply this client's limits right now (out of "
                         "memory); try again later.");
    else if (strcmp(why->limit, "distinct_personal") == 0)
        sg_api_error_set(&r->err, 429, "rate_limit_error", "exfiltration_guard", NULL,
                         "This client has sent more distinct personal data than its limit "
                         "allows in the current window; try again later.");
    else
        sg_api_error_set(&r->err, 429, "rate_limit_error", "rate_limit_exceeded", NULL,
                         "Rate limit reached (%s); try again in %u s.", why->limit,
                         why->retry_after);
    r->err.retry_after = why->retry_after ? why->retry_after : 1;
}

/* Rate, token and concurrency limits of the client (and global ones). */
static int stage_limits(struct sg_req *r)
{
    struct sg_limit_refusal why;
    if (sg_limiter_admit(r->w->rt->limiter, r->snap->cfg, r->client ? r->client->name : NULL,
                         sg_clock_us() / 1000, &r->lease, &why))
        return 0;
    sg_req_limited(r, &why);
    return -1;
}

typedef int (*sg_stage_fn)(struct sg_req *r);

/* Stages that run on the request head, before the body is read. */
static const sg_stage_fn head_stages[] = {stage_authn, NULL};
/* Stages that run on proxied requests once the body is in. */
static const sg_stage_fn request_stages[] = {stage_decode, stage_model,        stage_authz,
                                             stage_limits, sg_stage_injection, sg_stage_redact,
                                             NULL};

static int run_stages(struct sg_req *r, const sg_stage_fn *stages)
{
    for (const sg_stage_fn *s = stages; *s; s++)
        if ((*s)(r) != 0)
            return -1;
    return 0;
}

/* ---- endpoints answered locally ---- */

static void serve_models(struct sg_req *r)
{
    json_t *data = json_array();
    const struct sg_config *cfg = r->snap->cfg;
    for (size_t i = 0; i < cfg->nroutes; i++) {
        const struct sg_config_route *rt = &cfg->routes[i];
        if (!sg_client_allows(r->client, rt))
            continue;
        for (size_t j = 0; j <= rt->naliases; j++) {
            json_array_append_new(data, json_pack("{s:s, s:s, s:i, s:s}", "id",
                                                  j ? rt->aliases[j - 1] : rt->model, "object",
                                                  "model", "created", 0, "owned_by", "sovgate"));
        }
    }
    json_t *o = json_pack("{s:s, s:o}", "object", "list", "data", data);
    if (o && r->ep->dialect != SG_DIALECT_OPENAI) { /* Gemini's models, Ollama's tags */
        json_t *d = sg_dialect_models(r->ep->dialect, o);
        json_decref(o);
        o = d;
    }
    sg_req_respond_json(r, 200, o);
}

static void serve_metrics(struct sg_req *r)
{
    struct sg_buf b;
    sg_buf_init(&b, 64u << 20);
    sg_metrics_render(r->w->rt->metrics, &b);
    sg_buf_printf(&b,
                  "# HELP sovgate_connections_open Open client connections.\n"
                  "# TYPE sovgate_connections_open gauge\nsovgate_connections_open %zu\n",
                  sg_http_open_connections());
    sg_buf_puts(&b, "# HELP sovgate_backend_up Whether a backend passed its last health check "
                    "(1), failed it (0), or was not checked yet (-1).\n"
                    "# TYPE sovgate_backend_up gauge\n");
    for (size_t i = 0; i < r->snap->cfg->nbackends; i++) {
        enum sg_health h = sg_backend_health(r->snap->backends[i].state);
        sg_buf_printf(&b, "sovgate_backend_up{backend=\"%s\"} %d\n", r->snap->cfg->backends[i].name,
                      h == SG_HEALTH_UP     ? 1
                      : h == SG_HEALTH_DOWN ? 0
                                            : -1);
    }
    sg_buf_printf(&b,
                  "# HELP sovgate_backend_states Backend health states held (one per backend "
                  "name and URL that a configuration in use, the health checker or an engine "
                  "still refers to).\n"
                  "# TYPE sovgate_backend_states gauge\nsovgate_backend_states %zu\n",
                  sg_backend_registry_count());
    if (r->w->rt->audit) {
        struct sg_audit_stats st;
        sg_audit_stats(r->w->rt->audit, &st);
        sg_buf_printf(&b,
                      "# HELP sovgate_audit_queue_depth Audit records waiting to be written.\n"
                      "# TYPE sovgate_audit_queue_depth gauge\nsovgate_audit_queue_depth %llu\n"
                      "# HELP sovgate_audit_records_total Audit records made durable.\n"
                      "# TYPE sovgate_audit_records_total counter\n"
                      "sovgate_audit_records_total %llu\n"
                      "# HELP sovgate_audit_commit_seconds Audit transactions: count and time.\n"
                      "# TYPE sovgate_audit_commit_seconds summary\n"
                      "sovgate_audit_commit_seconds_count %llu\n"
                      "sovgate_audit_commit_seconds_sum %.6f\n"
                      "# HELP sovgate_audit_healthy Whether the audit trail's last write "
                      "succeeded.\n# TYPE sovgate_audit_healthy gauge\nsovgate_audit_healthy %d\n",
                      (unsigned long long)st.queued, (unsigned long long)st.records,
                      (unsigned long long)st.commits, (double)st.commit_us_sum / 1e6,
                      sg_audit_healthy(r->w->rt->audit) ? 1 : 0);
    }
    struct sg_http_out_header h[4];
    size_t n = sg_req_headers(r, h, 4);
    sg_http_respond(r->http, 200, h, n, "text/plain; version=0.0.4; charset=utf-8",
                    b.data ? b.data : "", b.len, false);
    sg_buf_free(&b);
}

static void serve_ready(struct sg_req *r)
{
    char why[256];
    if (sg_runtime_ready(r->w->rt, why, sizeof(why))) {
        static const char ok[] = "{\"status\":\"ready\"}";
        respond_json(r, 200, ok, sizeof(ok) - 1);
        return;
    }
    struct sg_buf b;
    sg_buf_init(&b, 1024);
    sg_buf_puts(&b, "{\"status\":\"not ready\",\"reason\":\"");
    sg_buf_json_escape(&b, why, strlen(why));
    sg_buf_puts(&b, "\"}");
    respond_json(r, 503, b.data, b.len);
    sg_buf_free(&b);
}

/* ---- HTTP callbacks ---- */

static void on_abort(void *arg)
{
    struct sg_req *r = arg;
    sg_pipeline_on_done(r->w, r->http);
}

static void on_drain(void *arg)
{
    struct sg_req *r = arg;
    if (r->paused && r->xfer) {
        r->paused = false;
        sg_upstream_resume(r->xfer);
    }
}

int sg_pipeline_on_head(void *app, struct sg_http_req *http)
{
    struct sg_worker *w = app;
    struct sg_req *r = sg_arena_calloc(sg_http_req_arena(http), sizeof(*r));
    if (!r) {
        static const char oom[] = "{\"error\":{\"message\":\"Out of memory.\",\"type\":\"server_"
                                  "error\",\"param\":null,\"code\":null}}";
        sg_http_respond(http, 503, NULL, 0, "application/json", oom, sizeof(oom) - 1, true);
        return 1;
    }
    r->w = w;
    r->http = http;
    r->t_start = sg_http_req_start_us(http);
    sg_buf_init(&r->resp, 0);
    /* 16 hex digits: the worker's random prefix, its id and a sequence number. */
    uint64_t id =
        (w->id_prefix & 0xffffffffu) << 32 | (uint64_t)(w->id & 0xff) << 24 | (w->seq++ & 0xffffff);
    static const char hex[] = "0123456789abcdef";
    for (int i = 15; i >= 0; i--, id >>= 4)
        r->id[i] = hex[id & 15];
    r->id[16] = '\0';
    r->snap = sg_runtime_snapshot(w->rt);
    /* The upstream request is the client's body re-serialized (escapes may grow it). */
    sg_buf_init(&r->up_body, 2 * r->snap->cfg->limits.max_body + 65536);
    sg_http_req_attach(http, r, on_abort, on_drain);
    sg_metrics_inflight(w->rt->metrics, 1);

    const struct sg_http_head *h = sg_http_req_head(http);
    r->ep = sg_api_route(h->path, h->path_len, r->path_model, sizeof(r->path_model));
    if (!r->ep && (r->ep = sg_api_unserved(h->path, h->path_len,
                                           sg_http_find_header(h, "anthropic-version") ||
                                               sg_http_find_header(h, "x-api-key")))) {
        /* an endpoint of a known API that is not served: refused in the client's shape,
         * counted under its route label and audited (after authentication) */
        if (run_stages(r, head_stages) == 0)
            sg_api_unserved_error(r->ep, h->method, h->method_len, h->path, h->path_len, &r->err);
        fail_head(r);
        return 1;
    }
    if (!r->ep) {
        sg_api_error_set(&r->err, 404, "invalid_request_error", "unknown_url", NULL,
                         "Invalid URL (%.*s %.*s): this gateway serves the OpenAI API under "
                         "/v1.",
                         (int)(h->method_len > 16 ? 16 : h->method_len), h->method,
                         (int)(h->path_len > 128 ? 128 : h->path_len), h->path);
        fail_head(r);
        return 1;
    }
    if (!sg_http_ieq(h->method, h->method_len, r->ep->method) &&
        !(r->ep->dialect == SG_DIALECT_RESPONSES && !r->ep->proxied &&
          sg_http_ieq(h->method, h->method_len, "DELETE"))) {
        sg_api_error_set(&r->err, 405, "invalid_request_error", "method_not_allowed", NULL,
                         "%s requires %s.", r->ep->path, r->ep->method);
        fail_head(r);
        return 1;
    }
    if (!r->ep->auth && h->body != SG_HTTP_BODY_NONE) {
        /* The endpoints anyone may call (/healthz, /readyz, /metrics) take no body: reading
         * one would let an unauthenticated client make the gateway buffer up to
         * limits.max_body per connection. Refused before it is read (the connection closes). */
        sg_api_error_set(&r->err, 413, "invalid_request_error", "body_not_allowed", NULL,
                         "%s takes no request body.", r->ep->path);
        fail_head(r);
        return 1;
    }
    if (run_stages(r, head_stages) != 0) {
        fail_head(r);
        return 1;
    }
    return 0;
}

void sg_pipeline_on_request(void *app, struct sg_http_req *http)
{
    (void)app;
    struct sg_req *r = sg_http_req_app(http);
    if (r->ep->dialect == SG_DIALECT_RESPONSES && !r->ep->proxied) {
        sg_responses_serve(r); /* GET or DELETE /v1/responses/{id} */
        return;
    }
    switch (r->ep->ep) {
    case SG_EP_HEALTHZ: {
        static const char ok[] = "{\"status\":\"ok\"}";
        respond_json(r, 200, ok, sizeof(ok) - 1);
        return;
    }
    case SG_EP_READYZ:
        serve_ready(r);
        return;
    case SG_EP_METRICS:
        serve_metrics(r);
        return;
    case SG_EP_MODELS:
        serve_models(r);
        return;
    default:
        break;
    }
    if (run_stages(r, request_stages) != 0) {
        sg_req_fail(r);
        return;
    }
    sg_proxy_start(r);
}

/* Copies header `name` into out when it is 1..cap-1 characters of [A-Za-z0-9._:/-]. */
static bool safe_header(const struct sg_http_head *h, const char *name, char *out, size_t cap)
{
    const struct sg_http_header *x = sg_http_find_header(h, name);
    if (!x || !x->value_len || x->value_len >= cap)
        return false;
    for (size_t i = 0; i < x->value_len; i++) {
        char c = x->value[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == ':' || c == '/' || c == '-'))
            return false;
        out[i] = c;
    }
    out[x->value_len] = '\0';
    return true;
}

static void log_request(struct sg_worker *w, struct sg_req *r, struct sg_http_req *http, int status,
                        uint64_t dur)
{
    const struct sg_http_head *h = sg_http_req_head(http);
    struct sg_logline l;
    sg_logline_begin(&l, status >= 500 ? SG_LOG_WARN : SG_LOG_INFO, "request");
    if (r) {
        sg_logline_str(&l, "request_id", r->id);
        sg_logline_str(&l, "client", r->client ? r->client->name : NULL);
    }
    if (h->method) {
        char m[17];
        size_t ml = h->method_len > 16 ? 16 : h->method_len;
        memcpy(m, h->method, ml);
        m[ml] = '\0';
        sg_logline_str(&l, "method", m);
    }
    sg_logline_str(&l, "route", r && r->ep ? r->ep->path : "other");
    /* What the WordPress plugin says about the call: the calling plugin or theme, and a
     * keyed hash of the WordPress user. Only safe characters are logged. */
    char tag[65];
    if (safe_header(h, "x-sovgate-source", tag, sizeof(tag)))
        sg_logline_str(&l, "source", tag);
    if (safe_header(h, "x-sovgate-user", tag, sizeof(tag)))
        sg_logline_str(&l, "wp_user", tag);
    if (r && r->route)
        sg_logline_str(&l, "model", r->route->model);
    if (r && r->backend)
        sg_logline_str(&l, "backend", r->backend->cfg->name);
    sg_logline_int(&l, "status", status);
    if (r && r->ep && r->ep->proxied)
        sg_logline_bool(&l, "stream", r->stream);
    sg_logline_ms(&l, "duration_ms", dur);
    if (r && r->t_ttfb)
        sg_logline_ms(&l, "upstream_ttfb_ms", r->t_ttfb);
    if (r && r->attempts)
        sg_logline_int(&l, "attempts", r->attempts);
    if (r && r->usage) {
        json_t *pt = json_object_get(r->usage, "prompt_tokens");
        json_t *ct = json_object_get(r->usage, "completion_tokens");
        if (json_is_integer(pt))
            sg_logline_int(&l, "prompt_tokens", json_integer_value(pt));
        if (json_is_integer(ct))
            sg_logline_int(&l, "completion_tokens", json_integer_value(ct));
    }
    sg_redact_log(r, &l);
    if (r && r->ep && r->ep->proxied && (r->policy_ok || r->refusal.rule[0])) {
        const struct sg_policy_verdict *v = r->policy_ok ? &r->verdict : &r->refusal;
        sg_logline_str(&l, "rule", v->rule);
        sg_metrics_add(
            w->metrics, SG_M_DECISIONS, 1,
            SG_LABELS({"decision", r->policy_ok ? "allow" : "refuse"}, {"rule", v->rule}));
    }
    sg_logline_int(&l, "bytes_in", (int64_t)sg_http_req_bytes_in(http));
    sg_logline_int(&l, "bytes_out", (int64_t)sg_http_req_bytes_out(http));
    if (r && status >= 400 && r->err.status == status && r->err.code[0])
        sg_logline_str(&l, "error", r->err.code);
    sg_logline_end(&l);
    (void)w;
}

void sg_pipeline_on_done(void *app, struct sg_http_req *http)
{
    struct sg_worker *w = app;
    struct sg_req *r = sg_http_req_app(http);
    int status = sg_http_req_status(http);
    if (r && !status)
        status = 499; /* the client closed the connection before the response */
    uint64_t dur = sg_clock_us() - sg_http_req_start_us(http);
    log_request(w, r, http, status, dur);
    const char *route = r && r->ep ? r->ep->path : "other";
    char st[4] = {(char)('0' + status / 100 % 10), (char)('0' + status / 10 % 10),
                  (char)('0' + status % 10), 0};
    sg_metrics_add(w->metrics, SG_M_REQUESTS, 1,
                   SG_LABELS({"route", route}, {"status", st},
                             {"client", r && r->client ? r->client->name : "-"}));
    sg_metrics_observe(w->metrics, SG_M_DURATION, dur, SG_LABELS({"route", route}));
    sg_metrics_add(w->metrics, SG_M_BYTES_IN, sg_http_req_bytes_in(http),
                   SG_LABELS({"route", route}));
    sg_metrics_add(w->metrics, SG_M_BYTES_OUT, sg_http_req_bytes_out(http),
                   SG_LABELS({"route", route}));
    if (r) {
        sg_metrics_inflight(w->rt->metrics, -1);
        sg_req_release(r);
        sg_http_req_attach(http, NULL, NULL, NULL);
    }
}

/* ---- response filters ---- */

/* Answers carry the public model name the client asked for, never the backend's. */
static int filter_model_name(struct sg_req *r, json_t *obj)
{
    if (json_is_string(json_object_get(obj, "model")))
        json_object_set_new(obj, "model", json_string(r->model));
    return 0;
}

/* Remembers token usage for the log and takes it from the token limits. */
static int filter_usage(struct sg_req *r, json_t *obj)
{
    json_t *u = json_object_get(obj, "usage");
    uint64_t now_ms = sg_clock_us() / 1000;
    if (r->stream && json_array_size(json_object_get(obj, "choices")) &&
        r->stream_tokens < SG_LIMIT_TOKENS_MAX) {
        /* tokens count as they stream; the final usage settles the rest */
        r->stream_tokens++;
        sg_limiter_tokens(r->w->rt->limiter, r->snap->cfg, &r->lease, 1, now_ms);
    }
    if (json_is_object(u)) {
        /* range-checked: each number in [0, SG_LIMIT_TOKENS_MAX], so no sum overflows */
        int64_t total =
            sg_limit_usage_tokens(json_integer_value(json_object_get(u, "total_tokens")),
                                  json_integer_value(json_object_get(u, "prompt_tokens")),
                                  json_integer_value(json_object_get(u, "completion_tokens")));
        if (total > r->stream_tokens) { /* r->stream_tokens: the tokens taken so far */
            sg_limiter_tokens(r->w->rt->limiter, r->snap->cfg, &r->lease, total - r->stream_tokens,
                              now_ms);
            r->stream_tokens = total;
        }
        json_incref(u);
        json_decref(r->usage);
        r->usage = u;
    }
    return 0;
}

typedef int (*sg_filter_fn)(struct sg_req *r, json_t *obj);
static const sg_filter_fn response_filters[] = {filter_model_name, filter_usage,
                                                sg_filter_responses, sg_filter_redact, NULL};

int sg_filters_apply(struct sg_req *r, json_t *obj)
{
    for (const sg_filter_fn *f = response_filters; *f; f++)
        if ((*f)(r, obj) != 0)
            return -1;
    return 0;
}
