/* Snapshot construction and reference counting. */
#include "gateway/snapshot.h"
#include "core/crypto.h"
#include "core/secret.h"
#include "http/tls.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void snapshot_free(struct sg_snapshot *s)
{
    if (!s)
        return;
    for (size_t i = 0; s->backends && i < s->cfg->nbackends; i++) {
        sg_backend_state_put(s->backends[i].state); /* NULL when the build stopped before it */
        sg_upstream_target_unref(s->backends[i].target);
        sg_upstream_headers_free(s->backends[i].headers[0]);
        sg_upstream_headers_free(s->backends[i].headers[1]);
        char *c = s->backends[i].credential;
        if (c) {
            sg_secure_zero(c, strlen(c));
            free(c);
        }
    }
    free(s->backends);
    if (s->tls)
        SSL_CTX_free(s->tls);
    sg_keytab_free(s->keys);
    sg_policy_free(s->policy);
    sg_injection_free(s->injection);
    sg_redaction_free(s->redaction);
    sg_config_free(s->cfg);
    free(s);
}

/* One custom detector alone: its regex, then its terms, so that a problem is put on the
 * key that holds it. */
static void check_detector(const struct sg_config *cfg, size_t i, struct sg_config_diags *d)
{
    const struct sg_config_detector *c = &cfg->redaction.detectors[i];
    char key[96];
    for (int part = 0; part < 2; part++) {
        struct sg_custom_detector cd = {c->name, part == 0 ? c->regex : NULL,
                                        part == 1 ? c->terms : NULL, part == 1 ? c->nterms : 0,
                                        c->case_sensitive};
        if (part == 0 ? !c->regex : !c->nterms)
            continue;
        struct sg_detector_opts o = {&cd, 1, NULL, 0};
        struct sg_detector *det = NULL;
        struct sg_error err = {0};
        if (sg_detector_new(&o, &det, &err) != 0) {
            snprintf(key, sizeof(key), "redaction.detectors[%zu].%s", i,
                     part == 0 ? "regex" : "terms");
            sg_config_diag_add(d, cfg, key, "%s", err.msg);
        }
        sg_detector_free(det);
    }
}

size_t sg_snapshot_check(const struct sg_config *cfg, struct sg_config_diags *d)
{
    size_t before = d->n;
    struct sg_error err = {0};
    struct sg_keytab *keys = NULL;
    if (sg_keytab_build(cfg, &keys, &err) != 0)
        sg_config_diag_add(d, cfg, "keys_db", "%s", err.msg);
    sg_keytab_free(keys);

    size_t mark = d->n;
    for (size_t i = 0; i < cfg->redaction.ndetectors; i++)
        check_detector(cfg, i, d);
    struct sg_redaction *rd = NULL;
    memset(&err, 0, sizeof(err));
    if (sg_redaction_new(cfg, &rd, &err) != 0 && d->n == mark)
        sg_config_diag_add(d, cfg, "redaction", "%s", err.msg);
    struct sg_policy *pol = NULL;
    memset(&err, 0, sizeof(err));
    if (rd && sg_policy_new(cfg, rd, &pol, &err) != 0)
        sg_config_diag_add(d, cfg, "policy", "%s", err.msg);
    sg_policy_free(pol);
    sg_redaction_free(rd);
    if (cfg->guard.injection.enabled) {
        struct sg_injection_opts io = {cfg->guard.injection.threshold, cfg->guard.injection.ignore};
        struct sg_injection *inj = NULL;
        memset(&err, 0, sizeof(err));
        if (sg_injection_new(&io, &inj, &err) != 0)
            sg_config_diag_add(d, cfg, "guard", "%s", err.msg);
        sg_injection_free(inj);
    }

    if (!cfg->listen.plaintext) {
        enum sg_tls_file bad = SG_TLS_FILE_NONE;
        memset(&err, 0, sizeof(err));
        SSL_CTX *tls =
            sg_tls_server_ctx(cfg->listen.cert, cfg->listen.key, cfg->listen.tls_min,
                              cfg->listen.client_ca, cfg->listen.client_cert_required, &bad, &err);
        if (!tls)
            sg_config_diag_add(d, cfg,
                               bad == SG_TLS_FILE_CERT        ? "listen.tls.cert"
                               : bad == SG_TLS_FILE_KEY       ? "listen.tls.key"
                               : bad == SG_TLS_FILE_CLIENT_CA ? "listen.tls.client_ca"
                                                              : "listen",
                               "%s", err.msg);
        else
            SSL_CTX_free(tls);
    }

    for (size_t i = 0; i < cfg->nbackends; i++) {
        const struct sg_config_backend *b = &cfg->backends[i];
        char key[64];
        if (b->credential) {
            struct sg_secret sec;
            memset(&err, 0, sizeof(err));
            snprintf(key, sizeof(key), "backends[%zu].credential", i);
            if (sg_secret_load(b->credential, cfg->dir, &sec, &err) != 0)
                sg_config_diag_add(d, cfg, key, "%s", err.msg);
            else
                sg_secret_free(&sec);
        }
        struct sg_upstream_target *t = NULL;
        memset(&err, 0, sizeof(err));
        if (sg_upstream_target_new(b->base_url, b->unix_path, b->ca_file, &t, &err) != 0) {
            snprintf(key, sizeof(key), "backends[%zu].url", i);
            sg_config_diag_add(d, cfg, key, "%s", err.msg);
        }
        if (t)
            sg_upstream_target_unref(t);
    }
    return d->n - before;
}

int sg_snapshot_build(struct sg_config *cfg, uint64_t generation, struct sg_snapshot **out,
                      struct sg_error *err)
{
    *out = NULL;
    struct sg_snapshot *s = calloc(1, sizeof(*s));
    if (!s) {
        sg_config_free(cfg);
        return sg_error_set(err, SG_ENOMEM, "out of memory");
    }
    atomic_init(&s->refs, 1);
    s->generation = generation;
    s->cfg = cfg;
    int rc = sg_keytab_build(cfg, &s->keys, err);
    if (rc)
        goto fail;
    if ((rc = sg_redaction_new(cfg, &s->redaction, err)) ||
        (rc = sg_policy_new(cfg, s->redaction, &s->policy, err)))
        goto fail;
    if (cfg->guard.injection.enabled) {
        struct sg_injection_opts io = {cfg->guard.injection.threshold, cfg->guard.injection.ignore};
        if ((rc = sg_injection_new(&io, &s->injection, err)))
            goto fail;
    }
    if (!cfg->listen.plaintext) {
        s->tls =
            sg_tls_server_ctx(cfg->listen.cert, cfg->listen.key, cfg->listen.tls_min,
                              cfg->listen.client_ca, cfg->listen.client_cert_required, NULL, err);
        if (!s->tls) {
            rc = SG_ECRYPTO;
            goto fail;
        }
    }
    s->backends = calloc(cfg->nbackends ? cfg->nbackends : 1, sizeof(*s->backends));
    if (!s->backends) {
        rc = sg_error_set(err, SG_ENOMEM, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < cfg->nbackends; i++) {
        const struct sg_config_backend *b = &cfg->backends[i];
        struct sg_backend_rt *rt = &s->backends[i];
        rt->cfg = b;
        if (!(rt->state = sg_backend_state_get(b->name, b->url))) { /* released in snapshot_free */
            rc = sg_error_set(err, SG_ENOMEM, "out of memory");
            goto fail;
        }
        if (b->credential) {
            struct sg_secret sec;
            if ((rc = sg_secret_load(b->credential, cfg->dir, &sec, err)))
                goto fail;
            rt->credential = sec.data; /* ownership moves; zeroed in snapshot_free */
        }
        /* An engine switched to a new model version listens on its second socket. */
        char alt[4200];
        const char *upath = b->unix_path;
        if (b->kind == SG_BACKEND_ENGINE && upath && sg_backend_alt_socket(rt->state)) {
            snprintf(alt, sizeof(alt), "%s%s", upath, SG_ENGINE_ALT_SUFFIX);
            upath = alt;
        }
        struct sg_error terr = {0};
        if (sg_upstream_target_new(b->base_url, upath, b->ca_file, &rt->target, &terr)) {
            rc = sg_error_set(err, terr.code, "backend %s: %s", b->name, terr.msg);
            goto fail;
        }
        if (sg_upstream_target_pin(rt->target, (const uint8_t(*)[32])b->pins, b->npins)) {
            rc = sg_error_set(err, SG_ENOMEM, "out of memory");
            goto fail;
        }
        rt->headers[0] = sg_upstream_headers_new(rt->credential, false);
        rt->headers[1] = sg_upstream_headers_new(rt->credential, true);
        if (!rt->headers[0] || !rt->headers[1]) {
            rc = sg_error_set(err, SG_ENOMEM, "out of memory");
            goto fail;
        }
    }
    *out = s;
    return 0;
fail:
    snapshot_free(s);
    return rc;
}

struct sg_snapshot *sg_snapshot_ref(struct sg_snapshot *s)
{
    atomic_fetch_add(&s->refs, 1);
    return s;
}

void sg_snapshot_unref(struct sg_snapshot *s)
{
    if (s && atomic_fetch_sub(&s->refs, 1) == 1)
        snapshot_free(s);
}

const struct sg_backend_rt *sg_snapshot_backend(const struct sg_snapshot *s, const char *name)
{
    for (size_t i = 0; i < s->cfg->nbackends; i++)
        if (strcmp(s->cfg->backends[i].name, name) == 0)
            return &s->backends[i];
    return NULL;
}
