/* Fuzz target: the per-request field rules (sg_fieldset_parse, the X-Sovgate-Fields
 * header), detection with them (sg_detect_ex), and the policy's decision functions
 * (sg_policy_actions, sg_policy_classes, sg_policy_decide) for the findings, under a fixed
 * policy with transfer rules, client rules and a custom detector.
 *
 * Input: the first line is the header value, the rest the text; the last byte picks the
 * client and the jurisdiction.
 *
 * Invariants: a refused header leaves nothing allocated and says why; findings are sorted,
 * do not overlap and lie inside the text, with and without the request's rules, and
 * without rules they are sg_detect()'s; a decision never lets through a type whose action
 * is block, never sends restricted data left in clear to an external backend, reports only
 * classes that are in the request, names the deciding class of a refusal, always allows a
 * sovereign backend when nothing is blocked, and for clients whose violations are masked
 * or blocked leaves only classes the client may send. */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "config/config.h"
#include "policy/policy.h"
#include "redact/redaction.h"

#include "fuzz_util.h"

#define MAX_FINDINGS 4096

static const char policy_yaml[] =
    "listen: {address: \"127.0.0.1:0\", plaintext: true}\n"
    "backends: [{name: a, url: \"http://127.0.0.1:1\"}]\n"
    "routes: [{model: m, backends: [a]}]\n"
    "policy:\n"
    "  transfers:\n"
    "    - {id: eu-personal, to: [EU], classes: [personal]}\n"
    "    - {id: us-products, to: [US, CH], classes: [business_confidential]}\n"
    "  clients:\n"
    "    - {name: product-writer, classes: [public, business_confidential]}\n"
    "    - {name: support, classes: [personal, public], on_violation: mask}\n"
    "    - {name: lenient, classes: [public], on_violation: pseudonymize}\n"
    "redaction:\n"
    "  actions: {PHONE: hash, IBAN: block}\n"
    "  fields: {customer_note: PERSON}\n"
    "  detectors:\n"
    "    - {name: UNRELEASED_PRODUCT, terms: [\"Aurora X2\", \"Nebula Pro\"]}\n";

static const char *const clients[] = {NULL, "product-writer", "support", "lenient", "nobody"};
static const char *const places[] = {NULL, "DE", "FR", "US", "CH", "NO", "JP", "EU", ""};

static struct sg_config *cfg;
static struct sg_redaction *rd;
static struct sg_policy *pol;
static struct sg_detect_scratch *sc;

static void init(void)
{
    struct sg_config_diags d = {0};
    int rc =
        sg_config_load_string(policy_yaml, sizeof(policy_yaml) - 1, "fuzz.yaml", "/tmp", &cfg, &d);
    for (size_t i = 0; i < d.n; i++)
        fprintf(stderr, "%s\n", d.v[i].msg);
    sg_config_diags_free(&d);
    FUZZ_CHECK(rc == 0);
    struct sg_error err = {0};
    FUZZ_CHECK(sg_redaction_new(cfg, &rd, &err) == 0);
    FUZZ_CHECK(sg_policy_new(cfg, rd, &pol, &err) == 0);
    FUZZ_CHECK((sc = sg_detect_scratch_new(rd->det)));
}

/* Whether two lists hold the same findings (field by field: a struct's padding bytes
 * are unspecified, so memcmp() could tell equal findings apart). */
static bool same_findings(const struct sg_findings *a, const struct sg_findings *b)
{
    if (a->n != b->n)
        return false;
    for (size_t i = 0; i < a->n; i++)
        if (a->v[i].start != b->v[i].start || a->v[i].end != b->v[i].end ||
            a->v[i].type != b->v[i].type)
            return false;
    return true;
}

static void check_findings(const struct sg_findings *f, size_t len)
{
    for (size_t i = 0; i < f->n; i++) {
        FUZZ_CHECK(f->v[i].start < f->v[i].end && f->v[i].end <= len);
        FUZZ_CHECK(f->v[i].type < sg_detector_ntypes(rd->det));
        if (i > 0)
            FUZZ_CHECK(f->v[i - 1].end <= f->v[i].start);
    }
}

/* The classes a client may send, from the fixed configuration above (all for none). */
static uint32_t client_classes(const char *name)
{
    static const struct {
        const char *client, *classes[3];
    } allowed[] = {{"product-writer", {"public", "business_confidential", NULL}},
                   {"support", {"personal", "public", NULL}},
                   {"lenient", {"public", NULL, NULL}}};
    for (size_t i = 0; name && i < sizeof(allowed) / sizeof(allowed[0]); i++) {
        if (strcmp(allowed[i].client, name) != 0)
            continue;
        uint32_t m = 0;
        for (const char *const *c = allowed[i].classes; *c; c++) {
            int k = sg_policy_class_index(pol, *c);
            FUZZ_CHECK(k >= 0);
            m |= 1u << k;
        }
        return m;
    }
    return UINT32_MAX;
}

static void decide(const uint32_t counts[SG_ENT_MAX], const char *client, const char *where)
{
    const struct sg_policy_client *pc = sg_policy_client(pol, client);
    FUZZ_CHECK(!pc == (client_classes(client) == UINT32_MAX));
    uint32_t present = sg_policy_classes(pol, counts);
    int restricted = sg_policy_class_index(pol, "restricted");
    FUZZ_CHECK(restricted >= 0);
    for (int d = SG_DEST_SOVEREIGN; d <= SG_DEST_EXTERNAL; d++) {
        enum sg_action act[SG_ENT_MAX];
        sg_policy_actions(pol, rd, pc, (enum sg_dest)d, act);
        bool blocked = false;
        for (unsigned t = 0; t < SG_ENT_MAX; t++) {
            FUZZ_CHECK(act[t] >= SG_ACT_ALLOW && act[t] <= SG_ACT_BLOCK);
            blocked |= counts[t] && act[t] == SG_ACT_BLOCK;
        }
        bool sovereign = d == SG_DEST_SOVEREIGN;
        struct sg_policy_verdict v;
        sg_policy_decide(pol, counts, act, sovereign, sovereign ? NULL : where, pc, &v);
        FUZZ_CHECK(v.rule[0]);
        FUZZ_CHECK((v.left & ~present) == 0);
        if (blocked || !v.allowed)
            FUZZ_CHECK(v.klass >= 0 && (unsigned)v.klass < sg_policy_nclasses(pol));
        if (blocked)
            FUZZ_CHECK(!v.allowed);
        if (sovereign && !blocked)
            FUZZ_CHECK(v.allowed);
        if (v.allowed && !sovereign)
            FUZZ_CHECK(!(v.left & (1u << restricted)));
        if (v.allowed && client && strcmp(client, "lenient") != 0)
            FUZZ_CHECK((v.left & ~client_classes(client)) == 0);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!rd)
        init();
    const uint8_t *nl = memchr(data, '\n', size);
    size_t hl = nl ? (size_t)(nl - data) : size;
    const char *text = nl ? (const char *)nl + 1 : "";
    size_t tl = nl ? size - hl - 1 : 0;

    /* a pointer that is not NULL: sg_fieldset_parse() must reset it on every path */
    static char sentinel;
    struct sg_fieldset *fs = (struct sg_fieldset *)(void *)&sentinel;
    struct sg_error err = {0};
    int rc = sg_fieldset_parse(rd->det, (const char *)data, hl, &fs, &err);
    if (rc != 0) {
        FUZZ_CHECK(rc == SG_EINVAL || rc == SG_ETOOBIG);
        FUZZ_CHECK(!fs && err.msg[0]);
        return 0;
    }
    FUZZ_CHECK(fs);

    struct sg_findings f, plain, plain2;
    sg_findings_init(&f, MAX_FINDINGS);
    sg_findings_init(&plain, MAX_FINDINGS);
    sg_findings_init(&plain2, MAX_FINDINGS);
    FUZZ_CHECK(sg_detect_ex(rd->det, sc, fs, text, tl, &f) == 0);
    check_findings(&f, tl);
    FUZZ_CHECK(sg_detect_ex(rd->det, sc, NULL, text, tl, &plain) == 0);
    check_findings(&plain, tl);
    FUZZ_CHECK(sg_detect(rd->det, sc, text, tl, &plain2) == 0);
    FUZZ_CHECK(same_findings(&plain, &plain2));

    uint32_t counts[SG_ENT_MAX] = {0};
    for (size_t i = 0; i < f.n; i++)
        counts[f.v[i].type]++;
    uint8_t pick = size ? data[size - 1] : 0;
    decide(counts, clients[pick % (sizeof(clients) / sizeof(clients[0]))],
           places[(pick >> 3) % (sizeof(places) / sizeof(places[0]))]);

    sg_findings_free(&f);
    sg_findings_free(&plain);
    sg_findings_free(&plain2);
    sg_fieldset_free(fs);
    return 0;
}
