/* The `guard` section of the configuration: rate, token and concurrency limits per client
 * and globally, and the exfiltration guard (distinct personal values per window, prompt
 * size). See docs/configuration.md. */
#include "config/config_int.h"
#include "audit/audit.h"
#include "core/arena.h"
#include "core/crypto.h"
#include "guard/injection.h"
#include "core/secret.h"

#include <string.h>

static void count(struct cfg_ld *l, yaml_node_t *v, const char *kp, int64_t *out)
{
    long x = 0;
    cfg_integer(l, v, kp, 0, 1000000000, &x);
    *out = x;
}

/* log | flag | block (and off, per client). */
static int inj_action(struct cfg_ld *l, yaml_node_t *v, const char *kp, bool off_ok)
{
    static const char *const names[] = {"off", "log", "flag", "block"};
    const char *s = cfg_str(l, v, kp);
    for (int i = off_ok ? 0 : 1; s && i < 4; i++)
        if (strcmp(s, names[i]) == 0)
            return i;
    if (s)
        cfg_diag(l, v, kp, "must be %s", off_ok ? "off, log, flag or block" : "log, flag or block");
    return -1;
}

/* guard.injection: the prompt-injection detector (docs/injection.md). */
static void load_injection(struct cfg_ld *l, yaml_node_t *n, const char *path)
{
    struct sg_config *c = l->cfg;
    if (!cfg_map_ok(l, n, path))
        return;
    MAP_FOR(l, n, p)
    {
        char kp[256];
        const char *k = KEYSTR(l, p);
        yaml_node_t *v = cfg_node(l, p->value);
        cfg_join(kp, sizeof(kp), path, k);
        if (strcmp(k, "enabled") == 0) {
            cfg_boolean(l, v, kp, &c->guard.injection.enabled);
        } else if (strcmp(k, "threshold") == 0) {
            long x = 0;
            cfg_integer(l, v, kp, 1, 100, &x);
            c->guard.injection.threshold = (int)x;
        } else if (strcmp(k, "action") == 0) {
            int a = inj_action(l, v, kp, false);
            if (a > 0)
                c->guard.injection.action = a;
        } else if (strcmp(k, "ignore") == 0) {
            size_t cnt = 0;
            const char **names = cfg_str_list(l, v, kp, &cnt);
            for (size_t i = 0; names && i < cnt; i++) {
                int sig = sg_inj_signal_lookup(names[i]);
                if (sig < 0)
                    cfg_diag(l, v, kp,
                             "unknown signal \"%.64s\" (override, roleplay, extraction, "
                             "encoded, invisible, hidden_markup, template_tokens, "
                             "tool_instructions)",
                             names[i]);
                else
                    c->guard.injection.ignore |= SG_INJ_BIT(sig);
            }
        } else {
            cfg_unknown(l, KEYNODE(l, p), kp);
        }
    }
}

static void load_client(struct cfg_ld *l, yaml_node_t *n, const char *path, void *out)
{
    struct sg_config_client_limits *c = out;
    c->rpm = c->tpm = c->concurrent = c->distinct_personal = c->window_ms = c->max_prompt = -1;
    c->injection = -1;
    if (!cfg_map_ok(l, n, path))
        return;
    MAP_FOR(l, n, p)
    {
        char kp[256];
        const char *k = KEYSTR(l, p);
        yaml_node_t *v = cfg_node(l, p->value);
        cfg_join(kp, sizeof(kp), path, k);
        if (strcmp(k, "name") == 0) {
            const char *s = cfg_str(l, v, kp);
            c->client = s && strcmp(s, "*") == 0 ? s : cfg_name_val(l, v, kp);
        } else if (strcmp(k, "requests_per_minute") == 0) {
            count(l, v, kp, &c->rpm);
        } else if (strcmp(k, "tokens_per_minute") == 0) {
            count(l, v, kp, &c->tpm);
        } else if (strcmp(k, "concurrent") == 0) {
            count(l, v, kp, &c->concurrent);
        } else if (strcmp(k, "distinct_personal") == 0) {
            count(l, v, kp, &c->distinct_personal);
        } else if (strcmp(k, "window") == 0) {
            uint32_t ms = 0;
            cfg_duration(l, v, kp, 1000, 7u * 24 * 3600 * 1000, &ms);
            c->window_ms = ms;
        } else if (strcmp(k, "max_prompt") == 0) {
            size_t sz = 0;
            cfg_size_val(l, v, kp, 1, (size_t)1 << 30, &sz);
            c->max_prompt = (int64_t)sz;
        } else if (strcmp(k, "injection") == 0) {
            c->injection = inj_action(l, v, kp, true);
        } else {
            cfg_unknown(l, KEYNODE(l, p), kp);
        }
    }
    if (!c->client)
        cfg_diag(l, n, path, "name is required (a client name, or \"*\" for every client)");
}

void cfg_load_guard(struct cfg_ld *l, yaml_node_t *n, const char *path)
{
    struct sg_config *c = l->cfg;
    if (!cfg_map_ok(l, n, path))
        return;
    MAP_FOR(l, n, p)
    {
        char kp[256];
        const char *k = KEYSTR(l, p);
        yaml_node_t *v = cfg_node(l, p->value);
        cfg_join(kp, sizeof(kp), path, k);
        if (strcmp(k, "clients") == 0) {
            struct cfg_mark *marks;
            c->guard.clients = cfg_load_list(l, v, kp, sizeof(*c->guard.clients),
                                             &c->guard.nclients, &marks, load_client);
            for (size_t i = 0; i < c->guard.nclients; i++)
                for (size_t j = 0; j < i; j++)
                    if (c->guard.clients[i].client && c->guard.clients[j].client &&
                        strcmp(c->guard.clients[i].client, c->guard.clients[j].client) == 0)
                        cfg_diag_at(l, marks[i], kp, "client \"%s\" has two entries",
                                    c->guard.clients[i].client);
        } else if (strcmp(k, "injection") == 0) {
            load_injection(l, v, kp);
        } else if (strcmp(k, "global") == 0) {
            if (!cfg_map_ok(l, v, kp))
                continue;
            MAP_FOR(l, v, q)
            {
                char kq[256];
                const char *k2 = KEYSTR(l, q);
                yaml_node_t *v2 = cfg_node(l, q->value);
                cfg_join(kq, sizeof(kq), kp, k2);
                if (strcmp(k2, "requests_per_minute") == 0)
                    count(l, v2, kq, &c->guard.global_rpm);
                else if (strcmp(k2, "concurrent") == 0)
                    count(l, v2, kq, &c->guard.global_concurrent);
                else
                    cfg_unknown(l, KEYNODE(l, q), kq);
            }
        } else {
            cfg_unknown(l, KEYNODE(l, p), kp);
        }
    }
}

/* The effective limits of a client: its entry, completed from "*". */
void sg_config_client_limits(const struct sg_config *c, const char *client,
                             struct sg_config_client_limits *out)
{
    const struct sg_config_client_limits *own = NULL, *all = NULL;
    for (size_t i = 0; i < c->guard.nclients; i++) {
        const struct sg_config_client_limits *x = &c->guard.clients[i];
        if (!x->client)
            continue;
        if (strcmp(x->client, "*") == 0)
            all = x;
        else if (client && strcmp(x->client, client) == 0)
            own = x;
    }
    struct sg_config_client_limits none = {NULL, -1, -1, -1, -1, -1, -1, -1};
    const struct sg_config_client_limits *a = own ? own : &none, *b = all ? all : &none;
    out->client = client;
    out->rpm = a->rpm >= 0 ? a->rpm : b->rpm;
    out->tpm = a->tpm >= 0 ? a->tpm : b->tpm;
    out->concurrent = a->concurrent >= 0 ? a->concurrent : b->concurrent;
    out->distinct_personal =
        a->distinct_personal >= 0 ? a->distinct_personal : b->distinct_personal;
    out->window_ms = a->window_ms >= 0 ? a->window_ms : b->window_ms >= 0 ? b->window_ms : 3600000;
    out->max_prompt = a->max_prompt >= 0 ? a->max_prompt : b->max_prompt;
    out->injection = a->injection >= 0           ? a->injection
                     : b->injection >= 0         ? b->injection
                     : c->guard.injection.action ? c->guard.injection.action
                                                 : SG_INJ_ACTION_LOG;
}

/* The `audit` section: where the trail is and how it is signed (see docs/audit.md). */
void cfg_load_audit(struct cfg_ld *l, yaml_node_t *n, const char *path)
{
    struct sg_config *c = l->cfg;
    if (!cfg_map_ok(l, n, path))
        return;
    MAP_FOR(l, n, p)
    {
        char kp[256];
        const char *k = KEYSTR(l, p);
        yaml_node_t *v = cfg_node(l, p->value);
        cfg_join(kp, sizeof(kp), path, k);
        if (strcmp(k, "path") == 0) {
            const char *s = cfg_path_val(l, v, kp);
            if (s)
                c->audit.path = s;
        } else if (strcmp(k, "signing_key") == 0 || strcmp(k, "postgres") == 0) {
            const char *s = cfg_str(l, v, kp);
            if (s && !sg_secret_is_ref(s)) {
                cfg_diag(l, v, kp, "must be a reference env:NAME or file:PATH");
            } else if (s) {
                struct sg_secret sec;
                struct sg_error err = {0};
                uint8_t seed[SG_AUDIT_KEY_LEN];
                if (sg_secret_load(s, c->dir, &sec, &err) != 0)
                    cfg_diag(l, v, kp, "%s", err.msg);
                else if (k[0] == 's' && sg_audit_key_parse(sec.data, sec.len, seed, &err) != 0)
                    cfg_diag(l, v, kp, "%s", err.msg); /* what the start would refuse */
                sg_secure_zero(seed, sizeof(seed));
                sg_secret_free(&sec);
                if (k[0] == 's')
                    c->audit.signing_key = s;
                else
                    c->audit.postgres = s;
            }
        } else if (strcmp(k, "checkpoint_every") == 0) {
            long x = 0;
            cfg_integer(l, v, kp, 1, 10000000, &x);
            c->audit.checkpoint_every = (uint32_t)x;
        } else if (strcmp(k, "checkpoint_interval") == 0) {
            cfg_duration(l, v, kp, 100, 24u * 3600 * 1000, &c->audit.checkpoint_interval_ms);
        } else if (strcmp(k, "digests") == 0) {
            cfg_boolean(l, v, kp, &c->audit.digests);
        } else {
            cfg_unknown(l, KEYNODE(l, p), kp);
        }
    }
    if (!c->audit.path)
        cfg_diag(l, n, path, "path is required");
}
