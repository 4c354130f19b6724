/* Fuzz target: the YAML configuration loader (sg_config_load_string), relative to a
 * temporary folder that holds the files a configuration may name (tls/cert.pem,
 * tls/key.pem, secrets/redaction.key, secrets/backend.key, models/shop.gguf), so that
 * seeds pass the file checks and reach validation. A configuration that loads is also
 * compiled into redaction settings and a policy when that needs no regular expression
 * (Hyperscan compiles fuzzer-made patterns slowly, which would only measure Hyperscan).
 *
 * Any diagnostics are fine; it must never crash, hang or leak. Invariants: a failure
 * reports at least one diagnostic, each naming the file; a success reports none and
 * gives a configuration whose references resolve (every route target is a known
 * backend, every route is found by its name) with absolute file paths. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/config.h"
#include "policy/policy.h"
#include "redact/redaction.h"

#include "fuzz_util.h"

#define NAME "fuzz.yaml"

static char dir[64];

static void put(const char *rel, const char *content)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/%s", dir, rel);
    FILE *f = fopen(path, "w");
    FUZZ_CHECK(f);
    fputs(content, f);
    fclose(f);
}

static void cleanup(void)
{
    static const char *const files[] = {"tls/cert.pem",          "tls/key.pem",
                                        "secrets/redaction.key", "secrets/backend.key",
                                        "models/shop.gguf",      NULL};
    static const char *const dirs[] = {"tls", "secrets", "models", "", NULL};
    char path[128];
    for (const char *const *f = files; *f; f++) {
        snprintf(path, sizeof(path), "%s/%s", dir, *f);
        unlink(path);
    }
    for (const char *const *d = dirs; *d; d++) {
        snprintf(path, sizeof(path), "%s/%s", dir, *d);
        rmdir(path);
    }
}

static void make_dir(void)
{
    snprintf(dir, sizeof(dir), "/tmp/sg-fuzz-config-XXXXXX");
    FUZZ_CHECK(mkdtemp(dir));
    static const char *const sub[] = {"tls", "secrets", "models", NULL};
    for (const char *const *s = sub; *s; s++) {
        char path[128];
        snprintf(path, sizeof(path), "%s/%s", dir, *s);
        FUZZ_CHECK(mkdir(path, 0700) == 0);
    }
    /* only their presence is checked while loading; the key is read by the redaction */
    put("tls/cert.pem", "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n");
    put("tls/key.pem", "-----BEGIN PRIVATE KEY-----\n-----END PRIVATE KEY-----\n");
    put("secrets/redaction.key", "0123456789abcdef0123456789abcdef");
    put("secrets/backend.key", "sk-local-test");
    put("models/shop.gguf", "GGUF");
    atexit(cleanup);
}

static void check_config(const struct sg_config *c)
{
    FUZZ_CHECK(c->workers >= 1 && c->arena);
    FUZZ_CHECK(c->nbackends > 0 && c->nroutes > 0);
    FUZZ_CHECK(c->dir && strcmp(c->dir, dir) == 0);
    FUZZ_CHECK(!c->listen.cert || c->listen.cert[0] == '/');
    FUZZ_CHECK(!c->listen.key || c->listen.key[0] == '/');
    FUZZ_CHECK(c->listen.tls_min == 12 || c->listen.tls_min == 13);
    for (size_t i = 0; i < c->nbackends; i++) {
        const struct sg_config_backend *b = &c->backends[i];
        FUZZ_CHECK(b->name && sg_config_find_backend(c, b->name));
        FUZZ_CHECK(b->base_url);
        FUZZ_CHECK(b->kind != SG_BACKEND_ENGINE ||
                   (b->unix_path && b->engine.model && b->engine.model[0] == '/'));
    }
    for (size_t i = 0; i < c->nroutes; i++) {
        const struct sg_config_route *r = &c->routes[i];
        FUZZ_CHECK(r->model && sg_config_find_route(c, r->model) == r);
        for (size_t k = 0; k < r->naliases; k++)
            FUZZ_CHECK(sg_config_find_route(c, r->aliases[k]) == r);
        FUZZ_CHECK(r->ntargets > 0);
        for (size_t k = 0; k < r->ntargets; k++)
            FUZZ_CHECK(sg_config_find_backend(c, r->targets[k].backend));
    }
    for (size_t i = 0; i < c->nclients; i++) {
        struct sg_config_client_limits lim;
        sg_config_client_limits(c, c->clients[i].name, &lim);
        FUZZ_CHECK(lim.window_ms > 0);
    }
    struct sg_config_client_limits lim;
    sg_config_client_limits(c, "no-such-client", &lim);
}

/* The redaction settings and the policy of a loaded configuration (any error is fine). */
static void compile(const struct sg_config *c)
{
    for (size_t i = 0; i < c->redaction.ndetectors; i++)
        if (c->redaction.detectors[i].regex)
            return;
    struct sg_redaction *rd = NULL;
    struct sg_error err = {0};
    if (sg_redaction_new(c, &rd, &err) != 0) {
        FUZZ_CHECK(!rd && err.msg[0]);
        return;
    }
    struct sg_policy *p = NULL;
    if (sg_policy_new(c, rd, &p, &err) == 0) {
        FUZZ_CHECK(sg_policy_nclasses(p) >= 1 && sg_policy_nclasses(p) <= SG_POLICY_MAX_CLASSES);
        for (unsigned t = 0; t < sg_detector_ntypes(rd->det); t++)
            FUZZ_CHECK(sg_policy_class_of(p, t) < sg_policy_nclasses(p));
        sg_policy_free(p);
    }
    sg_redaction_free(rd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!dir[0])
        make_dir();
    struct sg_config *cfg = NULL;
    struct sg_config_diags d = {0};
    int rc = sg_config_load_string((const char *)data, size, NAME, dir, &cfg, &d);
    if (rc != 0) {
        FUZZ_CHECK(!cfg && d.n > 0);
        for (size_t i = 0; i < d.n; i++) {
            FUZZ_CHECK(memchr(d.v[i].msg, '\0', sizeof(d.v[i].msg)));
            FUZZ_CHECK(strncmp(d.v[i].msg, NAME ":", sizeof(NAME)) == 0);
        }
    } else {
        FUZZ_CHECK(cfg && d.n == 0);
        check_config(cfg);
        compile(cfg);
        sg_config_free(cfg);
    }
    sg_config_diags_free(&d);
    return 0;
}
