/* Prompt-injection signals in the request pipeline (the detector is src/guard/injection.c;
 * see docs/injection.md).
 *
 * The stage runs after the limits and BEFORE redaction, on the decoded request (every
 * dialect is translated into the OpenAI shape first, so an Anthropic or Gemini request is
 * scanned the same way): each text field is scanned with its message's role as the source
 * (system/developer, user, assistant, tool/function results), and the results are folded
 * into one for the request. What happens then is the client's action (guard.clients[]
 * .injection, else guard.injection.action):
 *   log    a warn log line with the score and signals (never the text), the audit record's
 *          "injection" field, and sovgate_prompt_injection_total{client,signal};
 *   flag   that, and the x-sovgate-injection response header (pipeline.c adds it to every
 *          answer of the request, streamed ones included);
 *   block  that, and the request is refused: 400, code prompt_injection, naming the signals.
 * Only a flagged request (score >= threshold) is logged, counted, flagged or blocked; the
 * audit record carries any score above zero. */
#include "core/log.h"
#include "gateway/gateway.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct inj_walk {
    struct sg_req *r;
    const struct sg_injection *d;
};

/* The source of a text field from its path: "messages[3]...." takes the role of message 3;
 * prompts and embedding inputs are the user's. */
static int source_of(const struct sg_req *r, const char *path)
{
    static const char pre[] = "messages[";
    if (strncmp(path, pre, sizeof(pre) - 1) != 0)
        return SG_INJ_SRC_USER;
    char *end;
    unsigned long i = strtoul(path + sizeof(pre) - 1, &end, 10);
    if (*end != ']')
        return SG_INJ_SRC_USER;
    const json_t *m = json_array_get(json_object_get(r->body, "messages"), i);
    int src = sg_inj_source_from_role(json_string_value(json_object_get(m, "role")));
    return src < 0 ? SG_INJ_SRC_USER : src;
}

static int scan_field(json_t *s, const char *path, void *ctx)
{
    struct inj_walk *w = ctx;
    if (strcmp(path, "user") == 0) /* the end user's id, not a prompt */
        return 0;
    struct sg_inj_result res;
    if (sg_injection_scan(w->d, json_string_value(s), json_string_length(s),
                          (enum sg_inj_source)source_of(w->r, path), &res) == 0)
        sg_inj_result_merge(&w->r->inj, &res);
    return 0;
}

static const char *action_name(int a)
{
    return a == SG_INJ_ACTION_BLOCK ? "block" : a == SG_INJ_ACTION_FLAG ? "flag" : "log";
}

int sg_stage_injection(struct sg_req *r)
{
    const struct sg_injection *d = r->snap->injection;
    memset(&r->inj, 0, sizeof(r->inj));
    r->inj_action = SG_INJ_ACTION_OFF;
    r->inj_header[0] = '\0';
    if (!d || !r->body)
        return 0;
    const char *client = r->client ? r->client->name : NULL;
    struct sg_config_client_limits cl;
    sg_config_client_limits(r->snap->cfg, client, &cl);
    if (cl.injection == SG_INJ_ACTION_OFF)
        return 0;
    struct inj_walk w = {r, d};
    sg_api_text_fields(r->ep->ep, r->body, scan_field, &w);
    r->inj_action = cl.injection;
    if (!r->inj.flagged)
        return 0;
    char sig[160];
    sg_inj_signals_format(r->inj.signals, sig, sizeof(sig));
    struct sg_logline l;
    sg_logline_begin(&l, SG_LOG_WARN, "prompt_injection");
    sg_logline_str(&l, "request_id", r->id);
    sg_logline_str(&l, "client", client);
    sg_logline_int(&l, "score", r->inj.score);
    sg_logline_str(&l, "signals", sig);
    sg_logline_str(&l, "action", action_name(r->inj_action));
    sg_logline_end(&l);
    for (int s = 0; s < SG_INJ_NSIGNALS; s++)
        if (r->inj.signals & SG_INJ_BIT(s))
            sg_metrics_add(r->w->metrics, SG_M_INJECTION, 1,
                           SG_LABELS({"client", client ? client : "-"},
                                     {"signal", sg_inj_signal_name((enum sg_inj_signal)s)}));
    if (r->inj_action == SG_INJ_ACTION_FLAG)
        snprintf(r->inj_header, sizeof(r->inj_header), "score=%d; signals=%s", r->inj.score, sig);
    if (r->inj_action == SG_INJ_ACTION_BLOCK) {
        sg_api_error_set(&r->err, 400, "invalid_request_error", "prompt_injection", NULL,
                         "The request looks like a prompt injection (score %d; signals: %s) "
                         "and this gateway's policy refuses it.",
                         r->inj.score, sig);
        return -1;
    }
    return 0;
}

void sg_injection_record(struct sg_req *r, json_t *o)
{
    if (!r->inj_action || !r->inj.score)
        return;
    json_t *sigs = json_array();
    for (int s = 0; s < SG_INJ_NSIGNALS; s++)
        if (r->inj.signals & SG_INJ_BIT(s))
            json_array_append_new(sigs, json_string(sg_inj_signal_name((enum sg_inj_signal)s)));
    json_object_set_new(o, "injection",
                        json_pack("{s:i, s:o, s:b, s:s}", "score", r->inj.score, "signals", sigs,
                                  "flagged", r->inj.flagged, "action", action_name(r->inj_action)));
}
