/* The upstream relay. Picks the first routable backend of the request's route, sends the
 * request (with the backend's model name and credential), and relays the answer:
 *  - non-streaming: the whole body is read (bounded), filtered and answered;
 *  - streaming: upstream SSE events are parsed, filtered one by one and written to the
 *    client as they arrive; when the client's socket falls behind, the upstream transfer
 *    is paused until it drains (no unbounded buffering).
 * While nothing has been sent to the client, a failed attempt (no connection, no answer,
 * 5xx) moves on to the next backend of the route. Once the stream has started, a failure
 * ends it with an OpenAI-style error event. */
#include "gateway/gateway.h"
#include "core/arena.h"
#include "core/clock.h"
#include "core/json.h"
#include "core/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static void try_next(struct sg_req *r);

static const struct sg_upstream_callbacks up_cb;

static void note_failure(struct sg_req *r, const char *reason, const char *detail)
{
    sg_metrics_add(r->w->metrics, SG_M_UPSTREAM_ERRORS, 1,
                   SG_LABELS({"backend", r->backend->cfg->name}, {"reason", reason}));
    struct sg_logline l;
    sg_logline_begin(&l, SG_LOG_WARN, "upstream_error");
    sg_logline_str(&l, "request_id", r->id);
    sg_logline_str(&l, "backend", r->backend->cfg->name);
    sg_logline_str(&l, "reason", reason);
    sg_logline_str(&l, "detail", detail);
    sg_logline_int(&l, "attempt", r->attempts);
    sg_logline_end(&l);
}

static void begin_stream(struct sg_req *r)
{
    if (r->started)
        return;
    r->started = true;
    struct sg_http_out_header h[6];
    size_t n = sg_req_headers(r, h, 4);
    h[n++] = (struct sg_http_out_header){"cache-control", "no-cache"};
    h[n++] = (struct sg_http_out_header){"x-accel-buffering", "no"};
    const char *ct = sg_dstream_content_type(&r->dstream); /* Gemini, Ollama */
    sg_http_stream_begin(r->http, 200, h, n, ct ? ct : "text/event-stream");
}

/* Writes bytes of the event stream; pauses the upstream when the client falls behind. */
static int stream_out(struct sg_req *r, const char *p, size_t n)
{
    int w = sg_http_stream_write(r->http, p, n);
    if (w == 1 && r->xfer && !r->paused) {
        r->paused = true;
        sg_upstream_pause(r->xfer);
    }
    return w < 0 ? -1 : 0;
}

static void stream_fail_now(struct sg_req *r, const char *message);

static void stream_fail_after_audit(struct sg_req *r, int result)
{
    (void)result;
    stream_fail_now(r, "The model backend failed while streaming the answer.");
}

/* Ends a started stream with an error event, once its record is written. */
static void stream_fail(struct sg_req *r, const char *message)
{
    if (sg_audit_wanted(r) && !r->audited) {
        r->audited = true;
        sg_audit_request(r, "request", 502, stream_fail_after_audit);
        return;
    }
    stream_fail_now(r, message);
}

/* Ends a started stream with an error event (OpenAI clients raise it as an APIError). */
static void stream_fail_now(struct sg_req *r, const char *message)
{
    struct sg_api_error e;
    struct sg_buf b, ev;
    sg_api_error_set(&e, 502, "server_error", "upstream_error", NULL, "%s", message);
    sg_buf_init(&b, 2048);
    sg_buf_init(&ev, 4096);
    if (r->ep->dialect == SG_DIALECT_ANTHROPIC) {
        sg_anthropic_stream_error(&r->astream, &e, &ev);
    } else if (r->dstream.dialect) {
        sg_dstream_error(&r->dstream, &e, &ev);
    } else if (r->ep->dialect == SG_DIALECT_RESPONSES) {
        sg_responses_stream_fail(r, &e, &ev);
    } else {
        sg_api_error_json(&e, &b);
        sg_sse_write(&ev, NULL, b.data, b.len);
    }
    sg_http_stream_write(r->http, ev.data, ev.len);
    sg_buf_free(&b);
    sg_buf_free(&ev);
    sg_http_stream_end(r->http);
}

/* ---- upstream callbacks ---- */

static int on_status(void *arg, int status, const char *ct, const char *retry_after)
{
    struct sg_req *r = arg;
    r->t_ttfb = sg_clock_us() - r->t_up_start;
    sg_metrics_observe(r->w->metrics, SG_M_TTFB, r->t_ttfb,
                       SG_LABELS({"backend", r->backend->cfg->name}));
    r->up_status = status;
    sg_strlcpy(r->up_retry_after, sizeof(r->up_retry_after), retry_after ? retry_after : "",
               SIZE_MAX);
    if (status >= 500) {
        r->failover = true;
        r->fail_reason = "http_5xx";
        return -1;
    }
    sg_buf_init(&r->resp, r->snap->cfg->limits.max_response);
    sg_buf_reserve(&r->resp, 4096);
    if (status < 200 || status >= 300) {
        r->mode = SG_RELAY_ERROR;
        return 0;
    }
    if (!r->stream) {
        r->mode = SG_RELAY_BODY;
        return 0;
    }
    if (!ct || strncasecmp(ct, "text/event-stream", 17) != 0) {
        r->fail_reason = "not_event_stream";
        return -1;
    }
    r->mode = SG_RELAY_STREAM;
    sg_sse_init(&r->sse, r->snap->cfg->limits.max_response);
    r->sse_init = true;
    return 0;
}

/* One chunk as the client's event(s): OpenAI's "data: {…}" (compact JSON has no line
 * breaks, so one data line carries it), or the client dialect's typed events. */
static int format_chunk(struct sg_req *r, json_t *obj, struct sg_buf *out)
{
    if (r->ep->dialect == SG_DIALECT_ANTHROPIC)
        return sg_anthropic_stream_chunk(&r->astream, obj, out);
    if (r->dstream.dialect)
        return sg_dstream_chunk(&r->dstream, obj, out);
    if (r->ep->dialect == SG_DIALECT_RESPONSES)
        return sg_responses_stream_format(r, obj, out);
    int rc = sg_buf_append(out, "data: ", 6);
    rc = rc ? rc : sg_json_dump(obj, out);
    return rc ? rc : sg_buf_append(out, "\n\n", 2);
}

static int on_event(void *arg, const char *event, const char *data, size_t len)
{
    struct sg_req *r = arg;
    (void)event;
    if (len == 6 && memcmp(data, "[DONE]", 6) == 0) {
        r->done_seen = true;
        return 0;
    }
    if (r->done_seen) {
        r->fail_reason = "data_after_done";
        return -1;
    }
    json_t *obj = sg_json_parse(data, len, SG_JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(obj)) {
        json_decref(obj);
        r->fail_reason = "invalid_event";
        return -1;
    }
    json_t *choices = json_object_get(obj, "choices");
    bool usage_only = json_is_array(choices) && json_array_size(choices) == 0 &&
                      json_is_object(json_object_get(obj, "usage"));
    if (sg_filters_apply(r, obj) != 0) {
        json_decref(obj);
        r->fail_reason = "filter";
        return -1;
    }
    /* Usage is always requested upstream (for accounting); OpenAI clients that did not
     * ask for it do not get it (other dialects carry it in their own events). */
    if (!r->include_usage && r->ep->dialect == SG_DIALECT_OPENAI) {
        if (usage_only) {
            json_decref(obj);
            return 0;
        }
        json_object_del(obj, "usage");
    }
    sg_buf_reset(&r->resp);
    int rc = format_chunk(r, obj, &r->resp);
    json_decref(obj);
    if (rc) {
        r->fail_reason = "event_too_large";
        return -1;
    }
    begin_stream(r);
    if (stream_out(r, r->resp.data, r->resp.len) != 0) {
        r->fail_reason = "client_write";
        return -1;
    }
    return 0;
}

static int on_data(void *arg, const char *p, size_t n)
{
    struct sg_req *r = arg;
    switch (r->mode) {
    case SG_RELAY_BODY:
    case SG_RELAY_ERROR:
        if (sg_buf_append(&r->resp, p, n) != 0) {
            r->fail_reason = "response_too_large";
            return -1;
        }
        return 0;
    case SG_RELAY_STREAM: {
        int rc = sg_sse_feed(&r->sse, p, n, on_event, r);
        if (rc && !r->fail_reason)
            r->fail_reason = "event_too_large";
        return rc ? -1 : 0;
    }
    default:
        return -1;
    }
}

/* Relays a non-2xx answer: the backend's OpenAI error object when it sent one, else a
 * generic error with the same status. */
static void relay_error(struct sg_req *r)
{
    json_t *j = sg_json_parse(r->resp.data ? r->resp.data : "", r->resp.len, 0, NULL);
    /* the backend's message may quote the request (surrogates) or the model's text:
     * restored and output-scanned like an answer; on failure it is not passed on */
    if (j && sg_filter_redact(r, j) != 0) {
        json_decref(j);
        j = NULL;
    }
    json_t *err = json_object_get(j, "error");
    if (json_is_object(err) && json_is_string(json_object_get(err, "message"))) {
        /* Keep the backend's message, type, code and param where they are strings. */
        sg_api_error_set(&r->err, r->up_status, json_string_value(json_object_get(err, "type")),
                         json_string_value(json_object_get(err, "code")),
                         json_string_value(json_object_get(err, "param")), "%s",
                         json_string_value(json_object_get(err, "message")));
    } else {
        sg_api_error_set(&r->err, r->up_status, "invalid_request_error", "upstream_error", NULL,
                         "The model backend rejected the request (HTTP %d).", r->up_status);
    }
    json_decref(j);
    if (r->up_status == 429 || r->up_status == 503) {
        unsigned ra = (unsigned)atoi(r->up_retry_after);
        r->err.retry_after = ra ? ra : 1;
    }
    sg_req_fail(r);
}

/* The answer leaves only once its record is durable. */
static void body_after_audit(struct sg_req *r, int result)
{
    if (result != 0) {
        sg_api_error_set(&r->err, 503, "server_error", "audit_unavailable", NULL,
                         "The answer cannot be delivered: the audit trail cannot record it.");
        sg_req_fail(r);
        return;
    }
    struct sg_http_out_header h[4];
    size_t n = sg_req_headers(r, h, 4);
    sg_http_respond(r->http, 200, h, n, "application/json", r->resp.data, r->resp.len, false);
}

static void relay_body(struct sg_req *r)
{
    json_t *j = sg_json_parse(r->resp.data ? r->resp.data : "", r->resp.len,
                              SG_JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(j) || sg_filters_apply(r, j) != 0) {
        json_decref(j);
        note_failure(r, "invalid_json", "the backend's response is not a JSON object");
        sg_api_error_set(&r->err, 502, "server_error", "upstream_error", NULL,
                         "The model backend returned an invalid response.");
        sg_req_fail(r);
        return;
    }
    if (r->ep->dialect == SG_DIALECT_ANTHROPIC) {
        json_t *m = sg_anthropic_response(j, r->model);
        json_decref(j);
        j = m;
    } else if (r->dstream.dialect) {
        json_t *m = sg_dstream_response(&r->dstream, j);
        json_decref(j);
        j = m;
    } else if (r->ep->dialect == SG_DIALECT_RESPONSES) {
        json_t *m = sg_responses_answer(r, j); /* also stores the conversation */
        json_decref(j);
        j = m;
    }
    /* The upstream body is no longer needed: serialize the answer into its buffer. */
    sg_buf_reset(&r->resp);
    int rc = j ? sg_json_dump(j, &r->resp) : SG_ENOMEM;
    json_decref(j);
    if (rc) {
        sg_api_error_set(&r->err, 502, "server_error", "upstream_error", NULL,
                         "The model backend's response is too large.");
        sg_req_fail(r);
        return;
    }
    r->audited = true;
    sg_audit_request(r, "request", 200, body_after_audit);
}

/* The end of the stream leaves only once its record is durable. */
static void stream_end_after_audit(struct sg_req *r, int result)
{
    if (result != 0) {
        stream_fail_now(r, "The answer cannot be completed: the audit trail cannot record it.");
        return;
    }
    /* text still held back by redaction for a choice that sent no finish_reason */
    sg_buf_reset(&r->resp);
    if (sg_redact_stream_flush(r, &r->resp, format_chunk) == 0 && r->resp.len)
        stream_out(r, r->resp.data, r->resp.len);
    if (r->ep->dialect == SG_DIALECT_ANTHROPIC) {
        sg_buf_reset(&r->resp);
        if (sg_anthropic_stream_end(&r->astream, &r->resp) == 0)
            stream_out(r, r->resp.data, r->resp.len);
    } else if (r->dstream.dialect) {
        sg_buf_reset(&r->resp);
        if (sg_dstream_end(&r->dstream, &r->resp) == 0)
            stream_out(r, r->resp.data, r->resp.len);
    } else if (r->ep->dialect == SG_DIALECT_RESPONSES) {
        sg_buf_reset(&r->resp);
        if (sg_responses_stream_finish(r, &r->resp) == 0) /* also stores the conversation */
            stream_out(r, r->resp.data, r->resp.len);
    } else {
        stream_out(r, "data: [DONE]\n\n", 14);
    }
    sg_http_stream_end(r->http);
}

static void on_done(void *arg, int result, bool aborted, const char *msg)
{
    struct sg_req *r = arg;
    r->xfer = NULL;
    r->paused = false;

    if (r->mode == SG_RELAY_STREAM && result == 0 && r->done_seen && !sg_sse_pending(&r->sse)) {
        begin_stream(r);
        r->audited = true;
        sg_audit_request(r, "request", 200, stream_end_after_audit);
        return;
    }
    if (result == 0 && r->mode == SG_RELAY_BODY) {
        relay_body(r);
        return;
    }
    if (result == 0 && r->mode == SG_RELAY_ERROR) {
        relay_error(r);
        return;
    }

    /* The attempt failed. */
    const char *reason = r->fail_reason;
    if (!reason) {
        reason = result == SG_EUNAVAIL   ? "connect"
                 : result == SG_ETIMEOUT ? "timeout"
                 : r->mode == SG_RELAY_STREAM
                     ? (result == 0 ? "stream_incomplete" : "stream_broken")
                     : "protocol";
    }
    note_failure(r, reason, msg);
    if (r->started) {
        stream_fail(r, "The model backend failed while streaming the answer.");
        return;
    }
    if (result == SG_EUNAVAIL)
        sg_backend_report_failure(r->backend->state, msg);
    /* Content errors (an answer we cannot relay) are not the backend being down. */
    bool content_error =
        aborted && !r->failover &&
        (strcmp(reason, "response_too_large") == 0 || strcmp(reason, "not_event_stream") == 0 ||
         strcmp(reason, "client_write") == 0 || strcmp(reason, "filter") == 0);
    if (!content_error) {
        if (r->next_target < r->route->ntargets)
            sg_metrics_add(r->w->metrics, SG_M_FAILOVERS, 1, SG_LABELS({"route", r->ep->path}));
        try_next(r);
        return;
    }
    sg_api_error_set(&r->err, 502, "server_error", "upstream_error", NULL,
                     strcmp(reason, "not_event_stream") == 0
                         ? "The model backend did not stream its answer."
                         : "The model backend returned a response that cannot be relayed.");
    sg_req_fail(r);
}

static const struct sg_upstream_callbacks up_cb = {on_status, on_data, on_done};

/* ---- attempts ---- */

static int start_attempt(struct sg_req *r, const struct sg_backend_rt *be, const char *model)
{
    const struct sg_config *cfg = r->snap->cfg;
    uint64_t elapsed_ms = (sg_clock_us() - r->t_start) / 1000;
    if (elapsed_ms >= cfg->timeouts.request_ms)
        return -1;
    r->backend = be;
    r->attempts++;
    r->mode = SG_RELAY_NONE;
    r->up_status = 0;
    r->failover = false;
    r->fail_reason = NULL;
    r->done_seen = false;
    r->t_ttfb = 0;
    sg_buf_free(&r->resp);
    if (r->sse_init) {
        sg_sse_free(&r->sse);
        r->sse_init = false;
    }
    /* what this backend may see: the body transformed for its kind of destination */
    json_t *body = sg_redact_body_for(r, be->cfg->sovereign);
    if (!body)
        return -1;
    json_object_set_new(body, "model", json_string(model));
    sg_buf_reset(&r->up_body);
    size_t in_len;
    sg_http_req_body(r->http, &in_len);
    sg_buf_reserve(&r->up_body, in_len + 256); /* one allocation in the common case */
    if (sg_json_dump(body, &r->up_body) != 0)
        return -1;
    struct sg_upstream_opts o = {
        .target = be->target,
        .method = "POST",
        .path =
            sg_api_endpoint_info(r->ep->ep)->path, /* the OpenAI one, whatever the client spoke */
        .headers = be->headers[r->stream ? 1 : 0],
        .body = r->up_body.data,
        .body_len = r->up_body.len,
        .connect_timeout_ms = be->cfg->connect_timeout_ms,
        .total_timeout_ms = (uint32_t)(cfg->timeouts.request_ms - elapsed_ms),
        .stall_timeout_ms = cfg->timeouts.upstream_stall_ms,
    };
    struct sg_error err = {0};
    r->t_up_start = sg_clock_us();
    if (sg_upstream_start(r->w->up, &o, &up_cb, r, &r->xfer, &err) != 0) {
        r->xfer = NULL;
        note_failure(r, "start", err.msg);
        return -1;
    }
    return 0;
}

static void after_decision(struct sg_req *r, int result)
{
    if (result != 0) {
        r->backend = NULL;
        sg_api_error_set(&r->err, 503, "server_error", "audit_unavailable", NULL,
                         "The request cannot be sent: the audit trail cannot record it.");
        r->err.retry_after = 5;
        sg_req_fail(r);
        return;
    }
    r->decided = r->backend;
    try_next(r);
}

static void try_next(struct sg_req *r)
{
    const struct sg_config_route *route = r->route;
    while (r->next_target < route->ntargets) {
        const struct sg_config_target *t = &route->targets[r->next_target++];
        const struct sg_backend_rt *be = sg_snapshot_backend(r->snap, t->backend);
        struct sg_policy_verdict v;
        if (!be)
            continue;
        if (!sg_redact_allows(r, be->cfg, &v)) {
            if (!r->refusal.rule[0])
                r->refusal = v; /* the first backend's reason is the one to give */
            continue;
        }
        r->policy_ok = true;
        r->verdict = v;
        if (!sg_backend_routable(be->state))
            continue;
        if (!be->cfg->sovereign && r->decided != be && sg_audit_wanted(r)) {
            /* nothing goes to an external backend before its decision is on record */
            r->next_target--;
            r->backend = be;
            sg_audit_request(r, "decision", 0, after_decision);
            return;
        }
        /* a decision record covers one transfer: a later attempt to the same backend (a
         * route may name it twice, with another model) needs a record of its own */
        r->decided = NULL;
        if (start_attempt(r, be, t->model ? t->model : route->model) == 0)
            return;
        if (r->err.status) { /* the attempt could not even be prepared */
            sg_req_fail(r);
            return;
        }
    }
    if (!r->policy_ok && r->refusal.rule[0]) {
        /* no backend of the route may receive this request */
        sg_redact_refuse(r, &r->refusal);
        sg_req_fail(r);
        return;
    }
    /* When to try again: the soonest health check of a backend this request may reach (a
     * healthy backend the policy refuses it says nothing about when it can be served). */
    unsigned ra = 0;
    for (size_t i = 0; i < route->ntargets; i++) {
        const struct sg_backend_rt *be = sg_snapshot_backend(r->snap, route->targets[i].backend);
        struct sg_policy_verdict v;
        if (be && !sg_redact_allows(r, be->cfg, &v))
            continue;
        unsigned x = be ? sg_backend_retry_after(be->state) : 1;
        if (!ra || x < ra)
            ra = x;
    }
    bool timed_out = (sg_clock_us() - r->t_start) / 1000 >= r->snap->cfg->timeouts.request_ms;
    if (timed_out)
        sg_api_error_set(&r->err, 504, "server_error", "upstream_timeout", NULL,
                         "The model backend did not answer in time.");
    else
        sg_api_error_set(&r->err, 503, "server_error", "backend_unavailable", NULL,
                         "No backend for the model '%.128s' is available right now; try again "
                         "later.",
                         r->model);
    r->err.retry_after = ra ? ra : 1;
    sg_req_fail(r);
}

void sg_proxy_start(struct sg_req *r)
{
    if (r->stream)
        sg_api_ask_usage(r->body); /* out of memory: the stream is not accounted */
    try_next(r);
}

void sg_proxy_abort(struct sg_req *r)
{
    if (r->xfer) {
        sg_upstream_cancel(r->xfer);
        r->xfer = NULL;
    }
}
