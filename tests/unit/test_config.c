/* Unit tests of the configuration loader: a valid config loads with its defaults, and
 * every kind of error is reported with the right FILE:LINE:COLUMN: KEY, all at once. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "config/config.h"

static int load(const char *yaml, struct sg_config **cfg, struct sg_config_diags *d)
{
    memset(d, 0, sizeof(*d));
    return sg_config_load_string(yaml, strlen(yaml), "t.yaml", "/tmp", cfg, d);
}

/* True when some diagnostic equals `msg` exactly. */
static bool has_diag(const struct sg_config_diags *d, const char *msg)
{
    for (size_t i = 0; i < d->n; i++)
        if (strcmp(d->v[i].msg, msg) == 0)
            return true;
    return false;
}

static void dump(const struct sg_config_diags *d)
{
    for (size_t i = 0; i < d->n; i++)
        fprintf(stderr, "  diag: %s\n", d->v[i].msg);
}

#define EXPECT_DIAG(d, msg)                                                                        \
    do {                                                                                           \
        if (!has_diag((d), (msg))) {                                                               \
            dump(d);                                                                               \
            fail_msg("missing diagnostic: %s", (msg));                                             \
        }                                                                                          \
    } while (0)

static const char valid[] =
    "listen: {address: \"127.0.0.1:8080\", plaintext: true}\n"
    "workers: 3\n"
    "clients:\n"
    "  - name: shop\n"
    "    key_hash: sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae\n"
    "    models: [assistant]\n"
    "backends:\n"
    "  - {name: a, url: \"http://10.0.0.5:8000/v1/\"}\n"
    "  - {name: b, url: \"unix:/run/engine.sock\", health_path: /health, connect_timeout: 250ms}\n"
    "routes:\n"
    "  - model: assistant\n"
    "    aliases: [gpt-4o-mini]\n"
    "    backends: [a, {name: b, model: qwen2.5}]\n"
    "limits: {max_body: 1MiB, max_connections: 500}\n"
    "timeouts: {idle: 5s, request: 2m}\n"
    "egress: {allow: [10.0.0.5]}\n";

static void test_valid(void **state)
{
    (void)state;
    struct sg_config *c = NULL;
    struct sg_config_diags d;
    int rc = load(valid, &c, &d);
    if (rc)
        dump(&d);
    assert_int_equal(rc, 0);
    assert_int_equal(d.n, 0);
    assert_string_equal(c->listen.address, "127.0.0.1:8080");
    assert_true(c->listen.plaintext);
    assert_int_equal(c->workers, 3);
    assert_int_equal(c->nclients, 1);
    assert_int_equal(c->clients[0].nmodels, 1);
    assert_int_equal(c->clients[0].key_hash[0], 0x2c);
    assert_int_equal(c->nbackends, 2);
    /* Trailing "/v1/" is dropped: request paths are appended to the base. */
    assert_string_equal(c->backends[0].base_url, "http://10.0.0.5:8000");
    assert_string_equal(c->backends[0].health_path, "/v1/models");
    assert_string_equal(c->backends[1].unix_path, "/run/engine.sock");
    assert_int_equal(c->backends[1].connect_timeout_ms, 250);
    const struct sg_config_route *r = sg_config_find_route(c, "gpt-4o-mini");
    assert_non_null(r);
    assert_string_equal(r->model, "assistant");
    assert_int_equal(r->ntargets, 2);
    assert_null(r->targets[0].model);
    assert_string_equal(r->targets[1].model, "qwen2.5");
    assert_null(sg_config_find_route(c, "gpt-5"));
    assert_int_equal(c->limits.max_body, 1u << 20);
    assert_int_equal(c->limits.max_header, 16u << 10); /* default */
    assert_int_equal(c->limits.max_connections, 500);
    assert_int_equal(c->timeouts.idle_ms, 5000);
    assert_int_equal(c->timeouts.request_ms, 120000);
    assert_int_equal(c->timeouts.header_ms, 10000); /* default */
    sg_config_free(c);
    sg_config_diags_free(&d);
}

static void test_every_error_reported(void **state)
{
    (void)state;
    static const char bad[] = "listen:\n"                                 /* 1 */
                              "  address: \"0.0.0.0:8080\"\n"             /* 2 */
                              "  plaintext: true\n"                       /* 3 */
                              "  colour: blue\n"                          /* 4 */
                              "workers: many\n"                           /* 5 */
                              "backends:\n"                               /* 6 */
                              "  - name: a\n"                             /* 7 */
                              "    url: ftp://x\n"                        /* 8 */
                              "    credential: sk-live-inline-secret\n"   /* 9 */
                              "  - {url: \"http://b\"}\n"                 /* 10 */
                              "routes:\n"                                 /* 11 */
                              "  - model: m\n"                            /* 12 */
                              "    backends: [a]\n"                       /* 13 */
                              "limits: {max_body: lots, max_header: 1}\n" /* 14 */
                              "timeouts: {idle: 5}\n"                     /* 15 */
                              "log: {level: loud}\n";                     /* 16 */
    struct sg_config *c = NULL;
    struct sg_config_diags d;
    assert_int_not_equal(load(bad, &c, &d), 0);
    assert_null(c);
    EXPECT_DIAG(&d, "t.yaml:4:3: listen.colour: unknown key");
    EXPECT_DIAG(&d, "t.yaml:3:14: listen.plaintext: plaintext is only allowed on a loopback "
                    "address (127.0.0.1, ::1)");
    EXPECT_DIAG(&d, "t.yaml:5:10: workers: expected an integer");
    EXPECT_DIAG(&d, "t.yaml:8:10: backends[0].url: must start with http://, https:// or unix:/");
    EXPECT_DIAG(&d, "t.yaml:9:17: backends[0].credential: must be a reference env:NAME or "
                    "file:PATH, never the secret");
    EXPECT_DIAG(&d, "t.yaml:10:5: backends[1].name: required");
    EXPECT_DIAG(&d, "t.yaml:14:20: limits.max_body: expected a size such as 4MiB, 512KiB or 1024");
    EXPECT_DIAG(&d, "t.yaml:14:38: limits.max_header: must be between 1024 and 1048576 bytes");
    EXPECT_DIAG(&d,
                "t.yaml:15:18: timeouts.idle: expected a duration such as 500ms, 10s, 2m or 1h");
    EXPECT_DIAG(&d, "t.yaml:16:14: log.level: must be debug, info, warn or error");
    /* The secret itself never appears in a message. */
    for (size_t i = 0; i < d.n; i++)
        assert_null(strstr(d.v[i].msg, "sk-live"));
    sg_config_diags_free(&d);
}

static void test_required_and_refs(void **state)
{
    (void)state;
    static const char bad[] = "listen: {address: \"127.0.0.1:1\", plaintext: true}\n"
                              "clients:\n"
                              "  - {name: c, key_hash: \"sha256:00\", models: [nope]}\n"
                              "  - {name: d, key: sg-abc}\n"
                              "backends:\n"
                              "  - {name: a, url: \"http://a\"}\n"
                              "  - {name: a, url: \"http://b\"}\n"
                              "routes:\n"
                              "  - {model: m, aliases: [x], backends: [a, ghost]}\n"
                              "  - {model: x, backends: []}\n"
                              "  - {aliases: [y]}\n";
    struct sg_config *c = NULL;
    struct sg_config_diags d;
    assert_int_not_equal(load(bad, &c, &d), 0);
    EXPECT_DIAG(&d, "t.yaml:3:25: clients[0].key_hash: expected sha256:<64 hex digits> (see "
                    "`sovgate keys hash`)");
    EXPECT_DIAG(&d, "t.yaml:4:20: clients[1].key: keys are never written in the config: use "
                    "key_hash");
    EXPECT_DIAG(&d, "t.yaml:4:5: clients[1].key_hash: required");
    /* An invalid key_hash is reported once, not also as missing. */
    assert_false(has_diag(&d, "t.yaml:3:5: clients[0].key_hash: required"));
    EXPECT_DIAG(&d, "t.yaml:10:26: routes[1].backends: at least one backend is required");
    EXPECT_DIAG(&d, "t.yaml:11:5: routes[2].model: required");
    EXPECT_DIAG(&d, "t.yaml:11:5: routes[2].backends: required");
    sg_config_diags_free(&d);

    /* Cross-references are checked once the file is otherwise valid. */
    static const char refs[] =
        "listen: {address: \"127.0.0.1:1\", plaintext: true}\n"
        "clients:\n"
        "  - {name: c, key_hash: "
        "\"sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae\", models: "
        "[nope]}\n"
        "backends:\n"
        "  - {name: a, url: \"http://a\"}\n"
        "  - {name: a, url: \"http://b\"}\n"
        "routes:\n"
        "  - {model: m, aliases: [x], backends: [a, ghost]}\n"
        "  - {model: x, backends: [a]}\n";
    assert_int_not_equal(load(refs, &c, &d), 0);
    EXPECT_DIAG(&d, "t.yaml:3:5: clients[0]: unknown model \"nope\" in models");
    EXPECT_DIAG(&d, "t.yaml:6:5: backends[1].name: duplicate backend name \"a\"");
    EXPECT_DIAG(&d, "t.yaml:8:5: routes[0].backends[1]: unknown backend \"ghost\"");
    EXPECT_DIAG(&d, "t.yaml:9:5: routes[1]: model name \"x\" is already used by routes[0]");
    sg_config_diags_free(&d);
}

static void test_syntax_and_shape(void **state)
{
    (void)state;
    struct sg_config *c = NULL;
    struct sg_config_diags d;
    assert_int_not_equal(load("listen: [unclosed\n", &c, &d), 0);
    assert_int_equal(d.n, 1);
    assert_non_null(strstr(d.v[0].msg, "t.yaml:2:1: (root): YAML syntax error"));
    sg_config_diags_free(&d);

    assert_int_not_equal(load("", &c, &d), 0);
    EXPECT_DIAG(&d, "t.yaml:1:1: (root): the configuration is empty");
    sg_config_diags_free(&d);

    assert_int_not_equal(load("- a\n- b\n", &c, &d), 0);
    EXPECT_DIAG(&d, "t.yaml:1:1: (root): expected a mapping");
    sg_config_diags_free(&d);

    assert_int_not_equal(load("workers: 1\nworkers: 2\n", &c, &d), 0);
    EXPECT_DIAG(&d, "t.yaml:2:1: workers: duplicate key");
    EXPECT_DIAG(&d, "t.yaml:1:1: listen: required");
    EXPECT_DIAG(&d, "t.yaml:1:1: backends: required");
    EXPECT_DIAG(&d, "t.yaml:1:1: routes: required");
    sg_config_diags_free(&d);

    /* Quoted "true" is a string, not a boolean. */
    assert_int_not_equal(load("listen: {address: \"127.0.0.1:1\", plaintext: \"true\"}\n", &c, &d),
                         0);
    EXPECT_DIAG(&d, "t.yaml:1:45: listen.plaintext: expected true or false");
    sg_config_diags_free(&d);

    assert_int_not_equal(load("listen: {address: \"127.0.0.1\", plaintext: true}\n", &c, &d), 0);
    EXPECT_DIAG(&d, "t.yaml:1:19: listen.address: expected host:port or [ipv6]:port");
    sg_config_diags_free(&d);

    assert_int_not_equal(load("listen: {address: \"127.0.0.1:1\"}\n", &c, &d), 0);
    EXPECT_DIAG(&d, "t.yaml:1:9: listen.tls: required (or plaintext: true on a loopback address)");
    sg_config_diags_free(&d);
}

static void test_hostile(void **state)
{
    (void)state;
    struct sg_config *c = NULL;
    struct sg_config_diags d;
    /* An alias bomb: each level references the previous one nine times. */
    char *bomb = malloc(1 << 16);
    size_t o = (size_t)snprintf(bomb, 1 << 16, "a0: &a0 [x, x, x, x, x, x, x, x, x]\n");
    for (int i = 1; i < 12; i++)
        o += (size_t)snprintf(bomb + o, (1 << 16) - o,
                              "a%d: &a%d [*a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d]\n",
                              i, i, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1);
    assert_int_not_equal(load(bomb, &c, &d), 0); /* fails fast with unknown keys */
    assert_true(d.n > 0);
    sg_config_diags_free(&d);
    free(bomb);

    /* A NUL byte inside a value */
    static const char nul[] = "listen: {address: \"127.0.0.1:1\\0x\", plaintext: true}\n";
    assert_int_not_equal(load(nul, &c, &d), 0);
    sg_config_diags_free(&d);

    /* Larger than the 1 MiB cap */
    size_t big = (1u << 20) + 10;
    char *huge = malloc(big + 1);
    memset(huge, '#', big);
    huge[big] = '\0';
    assert_int_not_equal(sg_config_load_string(huge, big, "t.yaml", "/tmp", &c, &d), 0);
    EXPECT_DIAG(&d, "t.yaml:1:1: (root): the configuration is larger than 1 MiB");
    sg_config_diags_free(&d);
    free(huge);
}

static void test_credential_reference(void **state)
{
    (void)state;
    static const char y[] = "listen: {address: \"127.0.0.1:1\", plaintext: true}\n"
                            "backends:\n"
                            "  - {name: a, url: \"https://api.example.eu\", credential: "
                            "env:SG_TEST_UNSET_VAR, jurisdiction: DE}\n"
                            "routes: [{model: m, backends: [a]}]\n"
                            "egress: {allow: [api.example.eu]}\n";
    struct sg_config *c = NULL;
    struct sg_config_diags d;
    unsetenv("SG_TEST_UNSET_VAR");
    assert_int_not_equal(load(y, &c, &d), 0);
    EXPECT_DIAG(&d, "t.yaml:3:58: backends[0].credential: environment variable SG_TEST_UNSET_VAR "
                    "is not set");
    sg_config_diags_free(&d);
    setenv("SG_TEST_UNSET_VAR", "secret-value", 1);
    assert_int_equal(load(y, &c, &d), 0);
    assert_string_equal(c->backends[0].credential, "env:SG_TEST_UNSET_VAR");
    sg_config_free(c);
    sg_config_diags_free(&d);
    unsetenv("SG_TEST_UNSET_VAR");
}

static void test_sizes_and_durations(void **state)
{
    (void)state;
    size_t s;
    uint32_t ms;
    assert_int_equal(sg_parse_size("4MiB", &s), 0);
    assert_int_equal(s, 4u << 20);
    assert_int_equal(sg_parse_size("512 KiB", &s), 0);
    assert_int_equal(s, 512u << 10);
    assert_int_equal(sg_parse_size("1GB", &s), 0);
    assert_int_equal(s, 1000000000u);
    assert_int_equal(sg_parse_size("1024", &s), 0);
    assert_int_equal(s, 1024);
    assert_int_not_equal(sg_parse_size("-1", &s), 0);
    assert_int_not_equal(sg_parse_size("4XB", &s), 0);
    assert_int_not_equal(sg_parse_size("99999999999999999999GiB", &s), 0);
    assert_int_equal(sg_parse_duration_ms("250ms", &ms), 0);
    assert_int_equal(ms, 250);
    assert_int_equal(sg_parse_duration_ms("2m", &ms), 0);
    assert_int_equal(ms, 120000);
    assert_int_equal(sg_parse_duration_ms("0", &ms), 0);
    assert_int_not_equal(sg_parse_duration_ms("5", &ms), 0);
    assert_int_not_equal(sg_parse_duration_ms("5 s", &ms), 0);
    assert_int_not_equal(sg_parse_duration_ms("100000h", &ms), 0);
    assert_true(sg_host_is_loopback("127.0.0.1"));
    assert_true(sg_host_is_loopback("127.8.9.1"));
    assert_true(sg_host_is_loopback("::1"));
    assert_true(sg_host_is_loopback("localhost"));
    assert_false(sg_host_is_loopback("0.0.0.0"));
    assert_false(sg_host_is_loopback("::"));
    assert_false(sg_host_is_loopback("10.0.0.1"));
}

/* models.state: a path resolved against the config's folder; wrong types and an empty
 * value are errors with their positions. */
static void test_models_state(void **state)
{
    (void)state;
    struct sg_config *cfg = NULL;
    struct sg_config_diags d;
    char yaml[4096];
    assert_int_equal(load(valid, &cfg, &d), 0);
    assert_null(cfg->models.state);
    assert_int_equal(cfg->models.switch_timeout_ms, 180000);
    sg_config_free(cfg);
    sg_config_diags_free(&d);
    snprintf(yaml, sizeof(yaml), "%smodels: {store: store, state: state/channels.state}\n", valid);
    assert_int_equal(load(yaml, &cfg, &d), 0);
    assert_string_equal(cfg->models.state, "/tmp/state/channels.state");
    assert_string_equal(cfg->models.store, "/tmp/store");
    sg_config_free(cfg);
    sg_config_diags_free(&d);
    snprintf(yaml, sizeof(yaml), "%smodels: {state: /var/lib/sovgate/channels.state}\n", valid);
    assert_int_equal(load(yaml, &cfg, &d), 0);
    assert_string_equal(cfg->models.state, "/var/lib/sovgate/channels.state");
    sg_config_free(cfg);
    sg_config_diags_free(&d);
    snprintf(yaml, sizeof(yaml), "%smodels: {state: \"\"}\n", valid);
    assert_int_not_equal(load(yaml, &cfg, &d), 0);
    EXPECT_DIAG(&d, "t.yaml:17:17: models.state: must not be empty");
    sg_config_diags_free(&d);
    snprintf(yaml, sizeof(yaml), "%smodels: {state: [a, b]}\n", valid);
    assert_int_not_equal(load(yaml, &cfg, &d), 0);
    EXPECT_DIAG(&d, "t.yaml:17:17: models.state: expected a string");
    sg_config_diags_free(&d);
    /* models.switch_timeout: a duration from 1 s to a day */
    snprintf(yaml, sizeof(yaml), "%smodels: {switch_timeout: 20m}\n", valid);
    assert_int_equal(load(yaml, &cfg, &d), 0);
    assert_int_equal(cfg->models.switch_timeout_ms, 1200000);
    sg_config_free(cfg);
    sg_config_diags_free(&d);
    snprintf(yaml, sizeof(yaml), "%smodels:\n  switch_timeout: 500ms\nhealth: {interval: 1s}\n",
             valid);
    assert_int_not_equal(load(yaml, &cfg, &d), 0);
    EXPECT_DIAG(&d, "t.yaml:18:19: models.switch_timeout: must be between 1000ms and 86400000ms");
    sg_config_diags_free(&d);
    snprintf(yaml, sizeof(yaml), "%smodels: {switch_timeout: soon}\n", valid);
    assert_int_not_equal(load(yaml, &cfg, &d), 0);
    EXPECT_DIAG(&d, "t.yaml:17:26: models.switch_timeout: expected a duration such as 500ms, "
                    "10s, 2m or 1h");
    sg_config_diags_free(&d);
}

static void test_redaction(void **state)
{
    (void)state;
    struct sg_config *cfg = NULL;
    struct sg_config_diags d;
    /* defaults */
    assert_int_equal(load(valid, &cfg, &d), 0);
    assert_true(cfg->redaction.enabled);
    assert_null(cfg->redaction.key);
    assert_int_equal(cfg->redaction.max_findings, 10000);
    assert_false(cfg->redaction.output_scan_set);
    sg_config_free(cfg);
    sg_config_diags_free(&d);
    /* a full section */
    char yaml[4096];
    snprintf(yaml, sizeof(yaml),
             "%sredaction:\n"
             "  enabled: true\n"
             "  actions: {CARD: block, PHONE: hash}\n"
             "  fields: {customer_note: none, vip_level: FIELD}\n"
             "  output_scan: [CARD]\n"
             "  max_findings: 50\n"
             "  detectors:\n"
             "    - {name: PRODUCT, terms: [\"Aurora X2\", Nebula], action: mask}\n"
             "    - {name: SUPPLIER, regex: \"SUP-[0-9]{5}\", case_sensitive: true}\n",
             valid);
    assert_int_equal(load(yaml, &cfg, &d), 0);
    assert_int_equal(cfg->redaction.nactions, 2);
    assert_string_equal(cfg->redaction.actions[0].key, "CARD");
    assert_string_equal(cfg->redaction.actions[0].value, "block");
    assert_int_equal(cfg->redaction.nfields, 2);
    assert_null(cfg->redaction.fields[0].value); /* none */
    assert_string_equal(cfg->redaction.fields[1].value, "FIELD");
    assert_true(cfg->redaction.output_scan_set);
    assert_int_equal(cfg->redaction.noutput_scan, 1);
    assert_int_equal(cfg->redaction.max_findings, 50);
    assert_int_equal(cfg->redaction.ndetectors, 2);
    assert_int_equal(cfg->redaction.detectors[0].nterms, 2);
    assert_string_equal(cfg->redaction.detectors[0].action, "mask");
    assert_true(cfg->redaction.detectors[1].case_sensitive);
    sg_config_free(cfg);
    sg_config_diags_free(&d);
    /* every error, with its position */
    snprintf(yaml, sizeof(yaml),
             "%sredaction:\n"
             "  enabled: maybe\n"
             "  key: sk-inline-secret\n"
             "  actions: {card: mask, PHONE: shred}\n"
             "  fields: {billing_email: email}\n"
             "  output_scan: [CARD, x]\n"
             "  max_findings: 0\n"
             "  detectors:\n"
             "    - {name: lower, terms: [a]}\n"
             "    - {name: NOPATTERN}\n"
             "    - {terms: [b], colour: red}\n"
             "  surprise: 1\n",
             valid);
    assert_int_not_equal(load(yaml, &cfg, &d), 0);
    EXPECT_DIAG(&d, "t.yaml:18:12: redaction.enabled: expected true or false");
    EXPECT_DIAG(&d, "t.yaml:19:8: redaction.key: must be a reference env:NAME or file:PATH, "
                    "never the key");
    EXPECT_DIAG(&d, "t.yaml:20:13: redaction.actions.card: an entity type is 1 to 24 of A-Z, "
                    "0-9 and _");
    EXPECT_DIAG(&d, "t.yaml:20:32: redaction.actions.PHONE: must be allow, mask, pseudonymize, "
                    "hash or block");
    EXPECT_DIAG(&d, "t.yaml:21:27: redaction.fields.billing_email: must be an entity type "
                    "(e.g. EMAIL) or none");
    EXPECT_DIAG(&d, "t.yaml:22:16: redaction.output_scan: \"x\" is not an entity type");
    EXPECT_DIAG(&d, "t.yaml:23:17: redaction.max_findings: must be between 1 and 1000000");
    EXPECT_DIAG(&d, "t.yaml:25:14: redaction.detectors[0].name: a type name is 1 to 24 of A-Z, "
                    "0-9 and _, starting with a letter");
    EXPECT_DIAG(&d, "t.yaml:26:7: redaction.detectors[1]: a detector needs a regex or terms");
    EXPECT_DIAG(&d, "t.yaml:27:7: redaction.detectors[2]: name is required");
    EXPECT_DIAG(&d, "t.yaml:27:20: redaction.detectors[2].colour: unknown key");
    EXPECT_DIAG(&d, "t.yaml:28:3: redaction.surprise: unknown key");
    assert_int_equal(d.n, 12); /* one each: no follow-up errors */
    sg_config_diags_free(&d);
}

/* What the daemon refuses at start must be refused by the loader (check-config, reload):
 * an audit signing key that is not a key, empty paths of files the daemon opens. */
static void test_start_refusals(void **state)
{
    (void)state;
    struct sg_config *c = NULL;
    struct sg_config_diags d;
    char yaml[4096];
    setenv("SG_TEST_NOT_A_KEY", "not a key", 1);
    setenv("SG_TEST_RESP_KEY", "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
           1);
    snprintf(yaml, sizeof(yaml),
             "%s"
             "audit: {path: a.db, signing_key: env:SG_TEST_NOT_A_KEY}\n"
             "responses: {store: \"\", key: env:SG_TEST_RESP_KEY}\n",
             valid);
    assert_int_not_equal(load(yaml, &c, &d), 0);
    EXPECT_DIAG(&d, "t.yaml:17:34: audit.signing_key: audit signing key: expected a PEM Ed25519 "
                    "key or 64 hex digits (9 bytes given)");
    EXPECT_DIAG(&d, "t.yaml:18:20: responses.store: must not be empty");
    sg_config_diags_free(&d);
    snprintf(yaml, sizeof(yaml), "%saudit: {path: \"\"}\n", valid);
    assert_int_not_equal(load(yaml, &c, &d), 0);
    EXPECT_DIAG(&d, "t.yaml:17:15: audit.path: must not be empty");
    sg_config_diags_free(&d);
    /* paths the daemon creates later: empty or too long once resolved is an error, not a
     * key quietly left at its default (runtime_dir fell back to /run/sovgate) */
    static char big[12000];
    char longp[5000];
    memset(longp, 'p', sizeof(longp) - 1);
    longp[sizeof(longp) - 1] = '\0';
    snprintf(big, sizeof(big), "%sruntime_dir: %s\nkeys_db: \"\"\n", valid, longp);
    assert_int_not_equal(load(big, &c, &d), 0);
    EXPECT_DIAG(&d, "t.yaml:17:14: runtime_dir: path too long (at most 4095 bytes once resolved)");
    EXPECT_DIAG(&d, "t.yaml:18:10: keys_db: must not be empty");
    sg_config_diags_free(&d);
    snprintf(big, sizeof(big), "%smodels: {store: %s}\n", valid, longp);
    assert_int_not_equal(load(big, &c, &d), 0);
    EXPECT_DIAG(&d, "t.yaml:17:17: models.store: path too long (at most 4095 bytes once resolved)");
    sg_config_diags_free(&d);
    /* a valid key still loads */
    setenv("SG_TEST_NOT_A_KEY", "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
           1);
    snprintf(yaml, sizeof(yaml), "%saudit: {path: a.db, signing_key: env:SG_TEST_NOT_A_KEY}\n",
             valid);
    int rc = load(yaml, &c, &d);
    if (rc)
        dump(&d);
    assert_int_equal(rc, 0);
    sg_config_free(c);
    sg_config_diags_free(&d);
    unsetenv("SG_TEST_NOT_A_KEY");
    unsetenv("SG_TEST_RESP_KEY");
}

/* Positions and keys of problems libyaml finds outside the first document's tokens. */
static void test_positions(void **state)
{
    (void)state;
    struct sg_config *c = NULL;
    struct sg_config_diags d;
    char yaml[4096];
    /* Invalid UTF-8 is reported where it is, not at 1:1. */
    snprintf(yaml, sizeof(yaml), "%slog: {level: \"in\xff\"}\n", valid);
    assert_int_not_equal(load(yaml, &c, &d), 0);
    assert_int_equal(d.n, 1);
    if (!strstr(d.v[0].msg, "t.yaml:17:17: (root): YAML syntax error: invalid leading UTF-8")) {
        dump(&d);
        fail();
    }
    sg_config_diags_free(&d);
    /* A syntax error in a second document is an error, not ignored. */
    snprintf(yaml, sizeof(yaml), "%s---\nfoo: [unclosed\n", valid);
    assert_int_not_equal(load(yaml, &c, &d), 0);
    assert_int_equal(d.n, 1);
    if (!strstr(d.v[0].msg, "t.yaml:19:1: (root): YAML syntax error")) {
        dump(&d);
        fail();
    }
    sg_config_diags_free(&d);
    /* The key of an error is its full path. */
    assert_int_not_equal(load("listen: {address: \"127.0.0.1:1\", plaintext: true}\n"
                              "backends:\n"
                              "  - {name: e, kind: engine, model: /etc/hostname, url: \"x\"}\n"
                              "routes: [{model: m, backends: [e]}]\n",
                              &c, &d),
                         0);
    EXPECT_DIAG(&d, "t.yaml:3:56: backends[0].url: not allowed for kind: engine (the gateway "
                    "runs it)");
    sg_config_diags_free(&d);
}

/* A mapping with very many keys is refused at once, not checked for duplicates in
 * quadratic time (a 1 MiB file of keys took minutes). */
static void test_huge_mapping(void **state)
{
    (void)state;
    struct sg_config *c = NULL;
    struct sg_config_diags d = {0};
    size_t cap = 1u << 20, o = 0;
    char *yaml = malloc(cap);
    assert_non_null(yaml);
    o += (size_t)snprintf(yaml + o, cap - o, "limits:\n");
    for (int i = 0; o + 32 < cap - 8; i++)
        o += (size_t)snprintf(yaml + o, cap - o, "  k%d: 1\n", i);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_not_equal(sg_config_load_string(yaml, o, "t.yaml", "/tmp", &c, &d), 0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    EXPECT_DIAG(&d, "t.yaml:2:3: limits: too many keys (at most 10000)");
    if (secs > 5)
        fail_msg("loading took %.1f s", secs);
    sg_config_diags_free(&d);
    /* A mapping of a thousand field rules is not "too complex". */
    o = (size_t)snprintf(yaml, cap, "%sredaction:\n  fields:\n", valid);
    for (int i = 0; i < 1000; i++)
        o += (size_t)snprintf(yaml + o, cap - o, "    f%d: EMAIL\n", i);
    int rc = load(yaml, &c, &d);
    if (rc)
        dump(&d);
    assert_int_equal(rc, 0);
    assert_int_equal(c->redaction.nfields, 1000);
    sg_config_free(c);
    sg_config_diags_free(&d);
    free(yaml);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_redaction),
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_every_error_reported),
        cmocka_unit_test(test_required_and_refs),
        cmocka_unit_test(test_syntax_and_shape),
        cmocka_unit_test(test_hostile),
        cmocka_unit_test(test_credential_reference),
        cmocka_unit_test(test_sizes_and_durations),
        cmocka_unit_test(test_models_state),
        cmocka_unit_test(test_start_refusals),
        cmocka_unit_test(test_positions),
        cmocka_unit_test(test_huge_mapping),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
