/* The gateway daemon: worker threads, the request pipeline and the upstream relay.
 *
 * Public entry point: sg_gateway_serve(). The rest of this header is shared by the
 * module's files (runtime.c, pipeline.c, proxy.c) and is not used elsewhere.
 *
 * A request moves through stages (see pipeline.c), each of which may end it with an
 * error response:
 *   head stages (before the body is read): authn
 *   request stages (with the body):        decode -> model -> authz -> redact
 *   then proxy.c:                          route -> upstream -> response filters
 *                                          (model name, usage, output scan + restore)
 *   and always at the end:                 log + metrics
 * Later features (rate limits, detection, policy, transformation, audit) are added as
 * stages and response filters, not as changes to the flow. */
#ifndef SG_GATEWAY_GATEWAY_H
#define SG_GATEWAY_GATEWAY_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "api/dialect.h"
#include "api/openai.h"
#include "core/buf.h"
#include "core/mailbox.h"
#include "gateway/snapshot.h"
#include "http/server.h"
#include "http/sse.h"
#include "http/upstream.h"
#include "guard/limits.h"
#include "metrics/metrics.h"
#include "policy/policy.h"

/* How the daemon is started. */
struct sg_serve_opts {
    const char *config_path; /* YAML file; or NULL with config_text */
    const char *config_text; /* embedded configuration (dev mode) */
    const char *config_dir;  /* base folder for config_text's relative paths */
    const char *banner;      /* printed to stdout once listening (dev mode), may be NULL */
};

/* Runs the gateway until SIGTERM/SIGINT, then drains and returns 0 (or 1 when it could
 * not start). */
int sg_gateway_serve(const struct sg_serve_opts *opts);

/* ---- module internals ---- */

struct sg_runtime;

struct sg_worker {
    int id;
    pthread_t thread;
    struct sg_runtime *rt;
    struct event_base *base;   /* without locks: other threads post to mbox */
    struct sg_mailbox *mbox;   /* the way in from other threads (core/mailbox.h) */
    struct sg_mail apply_mail; /* reload: apply the new snapshot's connection limits */
    struct sg_mail stop_mail;  /* shutdown: end the loop (after `stop` is set) */
    struct sg_mail drain_mail; /* SIGTERM: stop accepting, close idle connections */
    struct sg_http_server *http;
    struct sg_upstream *up;
    struct sg_metrics_shard *metrics;
    struct sg_detect_scratch *dscratch; /* redaction scans of this thread */
    struct sg_audit_wait *audit_waits;  /* records being committed (record.c) */
    uint64_t id_prefix;                 /* random, makes request ids unique across restarts */
    atomic_bool stop;                   /* set before event_base_loopbreak() to end the thread */
    uint64_t seq;
};

struct sg_runtime {
    pthread_mutex_t snap_mu;
    struct sg_snapshot *snap; /* current; guarded by snap_mu */
    uint64_t generation;
    struct sg_worker *workers;
    int nworkers;
    struct sg_metrics *metrics;
    struct sg_limiter *limiter; /* rate, token, concurrency and exfiltration limits */
    struct sg_audit *audit;     /* the audit trail, or NULL when not configured */
    /* OpenAI Responses state (responses.c), opened once per process */
    struct sg_respstore *respstore;
    struct sg_health_checker *health;
    struct sg_supervisor *supervisor; /* engine backends */
    atomic_bool draining;
    const struct sg_serve_opts *opts;
};

/* Returns a new reference to the current snapshot. */
struct sg_snapshot *sg_runtime_snapshot(struct sg_runtime *rt);
/* Whether every route has a healthy backend (for /readyz); fills `why` when not. */
bool sg_runtime_ready(struct sg_runtime *rt, char *why, size_t cap);

struct sg_req;
struct sg_audit_wait;
/* What to do once a request's audit record is durable (result 0) or failed. */
typedef void (*sg_audit_cont_fn)(struct sg_req *r, int result);

enum sg_relay_mode { SG_RELAY_NONE, SG_RELAY_BODY, SG_RELAY_ERROR, SG_RELAY_STREAM };

/* One API request. Allocated in the HTTP request's arena; the resources it holds (JSON,
 * buffers, snapshot reference, upstream transfer) are released by sg_req_release(). */
struct sg_req {
    struct sg_worker *w;
    struct sg_http_req *http;
    struct sg_snapshot *snap; /* reference held */
    const struct sg_endpoint_info *ep;
    char id[24];
    const struct sg_client *client;
    json_t *body;      /* decoded request; owned */
    const char *model; /* public model name as requested (arena copy) */
    const struct sg_config_route *route;
    bool stream;
    bool include_usage;
    struct sg_api_error err;

    /* upstream */
    size_t next_target; /* index into route->targets of the next backend to try */
    int attempts;
    const struct sg_backend_rt *backend;
    struct sg_upstream_xfer *xfer;
    struct sg_buf up_body; /* serialized upstream request */
    int up_status;
    char up_retry_after[32];
    enum sg_relay_mode mode;
    struct sg_buf resp; /* non-streaming body or error body from upstream */
    struct sg_sse_parser sse;
    struct sg_anthropic_stream astream; /* the Anthropic dialect's stream state */
    struct sg_dstream dstream;          /* Gemini and Ollama answers (dialect_stream.c) */
    struct sg_resp_req *rstate;         /* OpenAI Responses state (responses.c); owned */
    char path_model[128];               /* a model named by the path (Azure deployments) */
    bool sse_init;
    bool started;   /* a streaming response was begun towards the client */
    bool done_seen; /* the upstream sent data: [DONE] */
    bool paused;
    bool failover; /* this attempt failed in a way that allows the next backend */
    const char *fail_reason;
    json_t *usage;                    /* last usage object seen; owned */
    struct sg_redact_req *rx;         /* redaction state (redact.c); owned, NULL when off */
    struct sg_policy_verdict verdict; /* for the backend chosen last */
    struct sg_policy_verdict refusal; /* the first backend the policy refused */
    bool policy_ok;                   /* some backend of the route is allowed */
    struct sg_limit_lease lease;      /* held from the limits stage to the end */
    int64_t stream_tokens;            /* tokens counted from streamed chunks so far */
    struct sg_audit_wait *await;      /* the record being committed, or NULL */
    sg_audit_cont_fn audit_k;
    const struct sg_backend_rt *decided; /* the external backend whose decision record is
                                            committed, for the next attempt only */
    bool audited;                        /* the final record was written (or is being written) */
    struct sg_inj_result inj;            /* prompt-injection scan of the request (injection.c) */
    int inj_action;                      /* enum sg_inj_action for this client; 0: not scanned */
    char inj_header[128];                /* x-sovgate-injection value, "" when not flagged */
    uint64_t t_start, t_up_start, t_ttfb;
};

/* Stages and local endpoints (pipeline.c). */
int sg_pipeline_on_head(void *app, struct sg_http_req *http);
void sg_pipeline_on_request(void *app, struct sg_http_req *http);
void sg_pipeline_on_done(void *app, struct sg_http_req *http);
/* Answers the request with r->err and finishes it. */
void sg_req_fail(struct sg_req *r);
/* Releases what the request holds (safe to call twice). */
void sg_req_release(struct sg_req *r);
/* Headers every API response carries (x-request-id). */
size_t sg_req_headers(struct sg_req *r, struct sg_http_out_header *h, size_t cap);
/* Answers with the JSON object `o` (owned: released here) and `status`; NULL or a failed
 * serialization answers 500 "Out of memory." instead. Finishes the request. */
void sg_req_respond_json(struct sg_req *r, int status, json_t *o);

/* The upstream relay (proxy.c): routes the request and answers it. */
void sg_proxy_start(struct sg_req *r);
/* The client went away: cancel the upstream transfer. */
void sg_proxy_abort(struct sg_req *r);

/* Response filters: applied to every JSON object that comes back (a whole response, or
 * one streamed chunk). Return 0, or -1 to fail the response. */
int sg_filters_apply(struct sg_req *r, json_t *obj);

/* Prompt-injection signals (injection.c). The request stage: scans every text field of
 * the decoded request with its message role as the source, before redaction; logs, counts
 * and, per the client's action, sets the x-sovgate-injection header (flag) or refuses the
 * request (-1 with r->err set: 400 prompt_injection). */
int sg_stage_injection(struct sg_req *r);
/* Adds the scan's score and signals to an audit record (nothing when not scanned). */
void sg_injection_record(struct sg_req *r, json_t *o);

/* Redaction and policy (redact.c). The request stage: detects every text field of the
 * request body and works out the actions per kind of destination for this client; -1
 * with r->err set when the request is refused whatever the route. */
int sg_stage_redact(struct sg_req *r);
/* The body to send to a sovereign or an external backend: a transformed copy of r->body
 * (made once per kind; owned by the request), or r->body when redaction is off. NULL when
 * out of memory or the transformation failed (r->err set). */
json_t *sg_redact_body_for(struct sg_req *r, bool sovereign);
/* Whether the policy lets this request go to backend `b` (the verdict says why). */
bool sg_redact_allows(struct sg_req *r, const struct sg_config_backend *b,
                      struct sg_policy_verdict *v);
/* Answers 403 policy_violation for a verdict. */
void sg_redact_refuse(struct sg_req *r, const struct sg_policy_verdict *v);
/* The response filter: output scan and restore of a whole answer or one streamed chunk. */
int sg_filter_redact(struct sg_req *r, json_t *obj);
/* Formats one chat.completion.chunk as the client's SSE event(s) (proxy.c). */
typedef int (*sg_chunk_fmt_fn)(struct sg_req *r, json_t *chunk, struct sg_buf *out);
/* At the end of a stream: appends, as SSE events (formatted by `fmt`), what is still held
 * back for streams whose choice never sent a finish_reason. Returns 0 or -1. */
int sg_redact_stream_flush(struct sg_req *r, struct sg_buf *sse, sg_chunk_fmt_fn fmt);
/* Audit records (record.c). Appends the request's record of `type` ("request" or
 * "decision") and calls k(r, result) on the worker once it is durable or failed (at once
 * with 0 when there is no audit trail or the endpoint is not audited). */
void sg_audit_request(struct sg_req *r, const char *type, int status, sg_audit_cont_fn k);
bool sg_audit_wanted(const struct sg_req *r);
/* Appends the request's record without waiting (for answers that cannot wait). */
void sg_audit_note(struct sg_req *r, int status);
/* The request ends while its record is being committed. */
void sg_audit_detach(struct sg_req *r);
/* Frees the waits left after the trail was closed (worker shutdown). */
void sg_audit_free_waits(struct sg_worker *w);
/* Adds the redaction and policy part of a record: classes, entity counts per type and
 * action, digests (redact.c). */
void sg_redact_record(struct sg_req *r, json_t *o);

/* Answers 429 for a limit (the refusal says which) and counts it. */
void sg_req_limited(struct sg_req *r, const struct sg_limit_refusal *why);
/* Log fields and metrics of the request's redaction (at the end of the request). */
struct sg_logline;
void sg_redact_log(struct sg_req *r, struct sg_logline *l);
void sg_redact_release(struct sg_req *r);
/* The request's vault (NULL when redaction is off). */
struct sg_vault *sg_redact_vault(struct sg_req *r);

/* ---- OpenAI Responses (responses.c) ----
 * The conversation state of previous_response_id is kept ONLY as it went to and came
 * from the backend (transformed), encrypted at rest, with a time to live; the surrogates
 * in it are restored through the stored part of the vault (encrypted with it). */
struct sg_error;
/* Opens the state store of the configuration (once per process). 0 or an SG_E* code. */
int sg_responses_open(struct sg_runtime *rt, const struct sg_config *c, struct sg_error *err);
void sg_responses_close(struct sg_runtime *rt);
/* The decode stage: translates `in` (borrowed) into a chat request in *chat (owned by the
 * caller) with the stored history of previous_response_id before the new input. -1 with
 * r->err set on failure. */
int sg_responses_decode(struct sg_req *r, const json_t *in, json_t **chat);
/* From the redact stage: the stored surrogates into the request's vault, their types
 * counted in `found` (so that policy decides on the whole conversation). 0 or -1. */
struct sg_vault;
int sg_responses_import(struct sg_req *r, struct sg_vault *v, uint32_t *found);
/* Response filter (before restore): keeps the answer as the backend sent it. */
int sg_filter_responses(struct sg_req *r, json_t *obj);
/* A whole answer (restored) -> the Response object (new); stores the conversation. */
json_t *sg_responses_answer(struct sg_req *r, const json_t *completion);
/* Streams: one chunk as typed events; the end (stores the conversation); a failure. */
int sg_responses_stream_format(struct sg_req *r, json_t *chunk, struct sg_buf *out);
int sg_responses_stream_finish(struct sg_req *r, struct sg_buf *out);
int sg_responses_stream_fail(struct sg_req *r, const struct sg_api_error *e, struct sg_buf *out);
/* GET and DELETE /v1/responses/{id}. */
void sg_responses_serve(struct sg_req *r);
void sg_responses_release(struct sg_req *r);

#endif
