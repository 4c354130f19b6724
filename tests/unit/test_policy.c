/* Unit tests of src/policy/policy.c (classes, actions per destination, decisions) and of
 * the per-request field rules (sg_fieldset_parse). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "policy/policy.h"

struct fx {
    struct sg_config *cfg;
    struct sg_redaction *rd;
    struct sg_policy *p;
};

static struct fx *load(const char *extra)
{
    char yaml[4096];
    snprintf(yaml, sizeof(yaml),
             "listen: {address: \"127.0.0.1:0\", plaintext: true}\n"
             "backends: [{name: a, url: \"http://127.0.0.1:1\"}]\n"
             "routes: [{model: m, backends: [a]}]\n%s",
             extra);
    struct fx *x = calloc(1, sizeof(*x));
    struct sg_config_diags d = {0};
    struct sg_error err = {0};
    int rc = sg_config_load_string(yaml, strlen(yaml), "t.yaml", "/tmp", &x->cfg, &d);
    for (size_t i = 0; i < d.n; i++)
        fprintf(stderr, "%s\n", d.v[i].msg);
    sg_config_diags_free(&d);
    assert_int_equal(rc, 0);
    assert_int_equal(sg_redaction_new(x->cfg, &x->rd, &err), 0);
    if (sg_policy_new(x->cfg, x->rd, &x->p, &err) != 0)
        fail_msg("policy: %s", err.msg);
    return x;
}

static void unload(struct fx *x)
{
    sg_policy_free(x->p);
    sg_redaction_free(x->rd);
    sg_config_free(x->cfg);
    free(x);
}

static void test_jurisdictions(void **state)
{
    (void)state;
    assert_true(sg_jurisdiction_covers("EU", "DE"));
    assert_true(sg_jurisdiction_covers("EU", "IE"));
    assert_false(sg_jurisdiction_covers("EU", "CH"));
    assert_false(sg_jurisdiction_covers("EU", "US"));
    assert_false(sg_jurisdiction_covers("EU", "NO"));
    assert_true(sg_jurisdiction_covers("EEA", "NO"));
    assert_true(sg_jurisdiction_covers("EEA", "FR"));
    assert_true(sg_jurisdiction_covers("US", "US"));
    assert_true(sg_jurisdiction_covers("*", "JP"));
    assert_false(sg_jurisdiction_covers("DE", "FR"));
    assert_false(sg_jurisdiction_covers("EU", NULL));
}

/* The configuration accepts any two upper-case letters, and two codes outside ISO 3166-1
 * proper are common: EL (the EU's own code for Greece, as in Greek VAT IDs) and UK (for GB).
 * They are the same jurisdictions as GR and GB, in rules and in backends. */
static void test_jurisdiction_aliases(void **state)
{
    (void)state;
    assert_true(sg_jurisdiction_covers("EU", "EL"));
    assert_true(sg_jurisdiction_covers("EEA", "EL"));
    assert_true(sg_jurisdiction_covers("GR", "EL"));
    assert_true(sg_jurisdiction_covers("EL", "GR"));
    assert_true(sg_jurisdiction_covers("GB", "UK"));
    assert_true(sg_jurisdiction_covers("UK", "GB"));
    assert_false(sg_jurisdiction_covers("EU", "UK"));
    assert_false(sg_jurisdiction_covers("EU", "GB"));
    assert_false(sg_jurisdiction_covers("EL", "DE"));
}

static void test_default_classes_and_decisions(void **state)
{
    (void)state;
    struct fx *x = load("");
    const struct sg_policy *p = x->p;
    assert_int_equal(sg_policy_nclasses(p), 4);
    assert_string_equal(sg_policy_class_name(p, sg_policy_class_of(p, SG_ENT_CARD)), "restricted");
    assert_string_equal(sg_policy_class_name(p, sg_policy_class_of(p, SG_ENT_EMAIL)), "personal");
    assert_string_equal(sg_policy_class_name(p, sg_policy_class_of(p, SG_ENT_FIELD)), "personal");
    enum sg_action s[SG_ENT_MAX], e[SG_ENT_MAX];
    sg_policy_actions(p, x->rd, NULL, SG_DEST_SOVEREIGN, s);
    sg_policy_actions(p, x->rd, NULL, SG_DEST_EXTERNAL, e);
    assert_int_equal(s[SG_ENT_CARD], SG_ACT_MASK);
    assert_int_equal(e[SG_ENT_EMAIL], SG_ACT_PSEUDONYMIZE);
    uint32_t counts[SG_ENT_MAX] = {0};
    struct sg_policy_verdict v;
    /* nothing found: public, anywhere */
    sg_policy_decide(p, counts, e, false, "US", NULL, &v);
    assert_true(v.allowed);
    assert_string_equal(v.rule, "public");
    /* a card, masked: nothing is left */
    counts[SG_ENT_CARD] = 1;
    sg_policy_decide(p, counts, e, false, "US", NULL, &v);
    assert_true(v.allowed);
    assert_int_equal(v.left, 0);
    /* an e-mail, pseudonymized: personal is left, no transfer rule */
    counts[SG_ENT_EMAIL] = 2;
    sg_policy_decide(p, counts, e, false, "DE", NULL, &v);
    assert_false(v.allowed);
    assert_string_equal(v.rule, "no-transfer");
    assert_string_equal(sg_policy_class_name(p, (unsigned)v.klass), "personal");
    sg_policy_decide(p, counts, s, true, NULL, NULL, &v);
    assert_true(v.allowed);
    assert_string_equal(v.rule, "sovereign");
    /* a card left in clear never goes external */
    e[SG_ENT_CARD] = SG_ACT_ALLOW;
    counts[SG_ENT_EMAIL] = 0;
    sg_policy_decide(p, counts, e, false, "DE", NULL, &v);
    assert_false(v.allowed);
    assert_string_equal(v.rule, "restricted-external");
    unload(x);
}

/* A request whose classes go out under several transfer rules names each of them (in the
 * order of policy.transfers, once each): the record of the transfer names every legal
 * basis, not only the last class's. */
static void test_every_transfer_rule_named(void **state)
{
    (void)state;
    struct fx *x = load("policy:\n"
                        "  transfers:\n"
                        "    - {id: eu-business, to: [EU], classes: [business_confidential]}\n"
                        "    - {id: eu-personal, to: [EU], classes: [personal]}\n"
                        "redaction:\n"
                        "  detectors: [{name: COST_PRICE, terms: [EK-Preis]}]\n");
    const struct sg_policy *p = x->p;
    enum sg_action e[SG_ENT_MAX];
    uint32_t counts[SG_ENT_MAX] = {0};
    struct sg_policy_verdict v;
    sg_policy_actions(p, x->rd, NULL, SG_DEST_EXTERNAL, e);
    counts[SG_ENT_EMAIL] = 1;
    sg_policy_decide(p, counts, e, false, "FR", NULL, &v);
    assert_true(v.allowed);
    assert_string_equal(v.rule, "transfer:eu-personal");
    counts[SG_ENT_CUSTOM] = 1; /* COST_PRICE: business_confidential by default */
    sg_policy_decide(p, counts, e, false, "FR", NULL, &v);
    assert_true(v.allowed);
    assert_string_equal(v.rule, "transfer:eu-business+eu-personal");
    counts[SG_ENT_PHONE] = 1; /* another personal type: the same rule, named once */
    sg_policy_decide(p, counts, e, false, "FR", NULL, &v);
    assert_string_equal(v.rule, "transfer:eu-business+eu-personal");
    sg_policy_decide(p, counts, e, false, "US", NULL, &v);
    assert_false(v.allowed);
    assert_string_equal(v.rule, "no-transfer");
    unload(x);
}

static void test_transfers_clients_and_blocks(void **state)
{
    (void)state;
    struct fx *x = load("policy:\n"
                        "  transfers: [{id: eu, to: [EU], classes: [personal]}]\n"
                        "  clients:\n"
                        "    - {name: writer, classes: [public]}\n"
                        "    - {name: soft, classes: [public], on_violation: mask}\n"
                        "redaction: {actions: {PHONE: block}}\n");
    const struct sg_policy *p = x->p;
    enum sg_action e[SG_ENT_MAX];
    uint32_t counts[SG_ENT_MAX] = {0};
    struct sg_policy_verdict v;
    counts[SG_ENT_EMAIL] = 1;
    sg_policy_actions(p, x->rd, NULL, SG_DEST_EXTERNAL, e);
    sg_policy_decide(p, counts, e, false, "FR", NULL, &v);
    assert_true(v.allowed);
    assert_string_equal(v.rule, "transfer:eu");
    sg_policy_decide(p, counts, e, false, "CH", NULL, &v);
    assert_false(v.allowed);
    /* the writer may send public data only: personal data blocks it everywhere */
    const struct sg_policy_client *w = sg_policy_client(p, "writer");
    assert_non_null(w);
    sg_policy_actions(p, x->rd, w, SG_DEST_SOVEREIGN, e);
    assert_int_equal(e[SG_ENT_EMAIL], SG_ACT_BLOCK);
    sg_policy_decide(p, counts, e, true, NULL, w, &v);
    assert_false(v.allowed);
    assert_string_equal(v.rule, "client:writer");
    /* "soft" gets it masked instead */
    const struct sg_policy_client *s = sg_policy_client(p, "soft");
    sg_policy_actions(p, x->rd, s, SG_DEST_EXTERNAL, e);
    assert_int_equal(e[SG_ENT_EMAIL], SG_ACT_MASK);
    sg_policy_decide(p, counts, e, false, "US", s, &v);
    assert_true(v.allowed);
    assert_null(sg_policy_client(p, "nobody"));
    assert_null(sg_policy_client(p, NULL));
    /* an explicit type block names the type */
    memset(counts, 0, sizeof(counts));
    counts[SG_ENT_PHONE] = 1;
    sg_policy_actions(p, x->rd, NULL, SG_DEST_SOVEREIGN, e);
    sg_policy_decide(p, counts, e, true, NULL, NULL, &v);
    assert_false(v.allowed);
    assert_string_equal(v.rule, "type:PHONE");
    unload(x);
}

static void test_own_classes(void **state)
{
    (void)state;
    struct fx *x = load("policy:\n"
                        "  classes:\n"
                        "    - {name: secret, types: [CARD, SECRET, IBAN, NATIONAL_ID, "
                        "URL_CREDENTIALS], sovereign: block}\n"
                        "    - {name: contact, types: [EMAIL], sovereign: allow, external: hash}\n"
                        "    - {name: rest, types: [PHONE, PERSON, ADDRESS, IP, DATE_OF_BIRTH, "
                        "VAT_ID, FIELD]}\n");
    const struct sg_policy *p = x->p;
    assert_int_equal(sg_policy_nclasses(p), 3);
    assert_string_equal(sg_policy_class_name(p, sg_policy_class_of(p, SG_ENT_PERSON)), "rest");
    enum sg_action s[SG_ENT_MAX], e[SG_ENT_MAX];
    sg_policy_actions(p, x->rd, NULL, SG_DEST_SOVEREIGN, s);
    sg_policy_actions(p, x->rd, NULL, SG_DEST_EXTERNAL, e);
    assert_int_equal(s[SG_ENT_EMAIL], SG_ACT_ALLOW);
    assert_int_equal(e[SG_ENT_EMAIL], SG_ACT_HASH);
    assert_int_equal(e[SG_ENT_CARD], SG_ACT_BLOCK); /* external defaults to sovereign's */
    uint32_t counts[SG_ENT_MAX] = {0};
    counts[SG_ENT_SECRET] = 1;
    struct sg_policy_verdict v;
    sg_policy_decide(p, counts, s, true, NULL, NULL, &v);
    assert_false(v.allowed);
    assert_string_equal(v.rule, "class:secret");
    unload(x);
}

/* Own classes must list every built-in type somewhere: an unlisted type counts as public,
 * so a list that forgets one, or was written before a version added one, would send it in
 * clear. Restricted types (cards, IBANs, ...) and personal ones (names, phones, ...) alike. */
static void test_own_classes_must_place_builtin_types(void **state)
{
    (void)state;
    static const struct {
        const char *classes, *msg;
    } cases[] = {
        {"    - {name: personal, types: [EMAIL, PHONE, PERSON, ADDRESS, IP, DATE_OF_BIRTH, "
         "VAT_ID, FIELD], sovereign: pseudonymize}\n"
         "    - {name: pci, types: [CARD], sovereign: mask}\n"
         "    - {name: public}\n",
         "IBAN is in no class"},
        {"    - {name: restricted, types: [CARD, IBAN, NATIONAL_ID, SECRET, URL_CREDENTIALS]}\n"
         "    - {name: personal, types: [EMAIL, PHONE, PERSON, ADDRESS, IP, VAT_ID, FIELD], "
         "sovereign: pseudonymize}\n"
         "    - {name: public}\n",
         "DATE_OF_BIRTH is in no class; every built-in type must be listed"},
        {"    - {name: restricted, types: [CARD, IBAN, NATIONAL_ID, SECRET, URL_CREDENTIALS]}\n"
         "    - {name: public, types: [EMAIL]}\n",
         "PHONE is in no class"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char yaml[1024];
        snprintf(yaml, sizeof(yaml),
                 "listen: {address: \"127.0.0.1:0\", plaintext: true}\n"
                 "backends: [{name: a, url: \"http://127.0.0.1:1\"}]\n"
                 "routes: [{model: m, backends: [a]}]\n"
                 "policy:\n"
                 "  classes:\n%s",
                 cases[i].classes);
        struct sg_config *cfg = NULL;
        struct sg_config_diags d = {0};
        struct sg_error err = {0};
        assert_int_equal(sg_config_load_string(yaml, strlen(yaml), "t.yaml", "/tmp", &cfg, &d), 0);
        sg_config_diags_free(&d);
        struct sg_redaction *rd = NULL;
        struct sg_policy *p = NULL;
        assert_int_equal(sg_redaction_new(cfg, &rd, &err), 0);
        assert_int_equal(sg_policy_new(cfg, rd, &p, &err), SG_EINVAL);
        assert_null(p);
        if (!strstr(err.msg, cases[i].msg))
            fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err.msg, cases[i].msg);
        sg_redaction_free(rd);
        sg_config_free(cfg);
    }
}

static void test_fieldsets(void **state)
{
    (void)state;
    struct fx *x = load("");
    const struct sg_detector *d = x->rd->det;
    struct sg_fieldset *fs = NULL;
    struct sg_error err = {0};
    const char *ok = " vip_level = FIELD,_loyalty_id=PERSON,,x-y=EMAIL ";
    assert_int_equal(sg_fieldset_parse(d, ok, strlen(ok), &fs, &err), 0);
    struct sg_detect_scratch *sc = sg_detect_scratch_new(d);
    struct sg_findings f;
    sg_findings_init(&f, 100);
    const char *t = "{\"VIP_LEVEL\": \"gold\", \"loyalty_id\": \"Anna\", \"other\": \"x\"}";
    assert_int_equal(sg_detect_ex(d, sc, fs, t, strlen(t), &f), 0);
    assert_int_equal(f.n, 2);
    assert_int_equal(f.v[0].type, SG_ENT_FIELD);
    assert_memory_equal(t + f.v[0].start, "gold", 4);
    assert_int_equal(f.v[1].type, SG_ENT_PERSON);
    sg_findings_reset(&f);
    assert_int_equal(sg_detect(d, sc, t, strlen(t), &f), 0); /* without the header: none */
    assert_int_equal(f.n, 0);
    sg_fieldset_free(fs);
    const char *bad[] = {"vip", "a b=FIELD", "x=NOPE", "x=none", "=FIELD", "x=", "\xc3\xa4=FIELD"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        fs = NULL;
        if (sg_fieldset_parse(d, bad[i], strlen(bad[i]), &fs, &err) == 0)
            fail_msg("accepted \"%s\"", bad[i]);
        assert_null(fs);
        assert_null(strstr(err.msg, bad[i])); /* never quotes the input */
    }
    char big[8192];
    memset(big, 'a', sizeof(big));
    assert_int_equal(sg_fieldset_parse(d, big, sizeof(big), &fs, &err), SG_ETOOBIG);
    char many[4096] = "";
    for (int i = 0; i < 200 && strlen(many) < 4000; i++)
        snprintf(many + strlen(many), sizeof(many) - strlen(many), "f%d=FIELD,", i);
    assert_int_equal(sg_fieldset_parse(d, many, strlen(many), &fs, &err), SG_ETOOBIG);
    sg_findings_free(&f);
    sg_detect_scratch_free(sc);
    unload(x);
}

/* A finding that encloses a restricted value (a field rule's whole value, which the client
 * may name in X-Sovgate-Fields, a custom detector's match, an address) wins the overlap as
 * the longer one; it must not take the restricted value into a less sensitive class, where
 * an operator's allow (or a transfer rule) would send the card in clear. The kept span
 * takes the restricted type instead, and is masked as a whole. */
static void test_enclosing_finding_keeps_restricted_type(void **state)
{
    (void)state;
    struct fx *x = load("redaction: {actions: {FIELD: allow}}\n");
    const struct sg_detector *d = x->rd->det;
    struct sg_fieldset *fs = NULL;
    struct sg_error err = {0};
    assert_int_equal(sg_fieldset_parse(d, "note=FIELD", 10, &fs, &err), 0);
    struct sg_detect_scratch *sc = sg_detect_scratch_new(d);
    struct sg_findings f;
    sg_findings_init(&f, 100);
    const char *t = "{\"note\": \"pay with 4111 1111 1111 1111 ok\", \"vip\": \"gold\"}";
    assert_int_equal(sg_detect_ex(d, sc, fs, t, strlen(t), &f), 0);
    assert_int_equal(f.n, 1);
    assert_int_equal(f.v[0].type, SG_ENT_CARD);
    assert_string_equal(sg_policy_class_name(x->p, sg_policy_class_of(x->p, f.v[0].type)),
                        "restricted");
    /* a field value without one stays FIELD */
    const char *u = "{\"note\": \"gold member\"}";
    sg_findings_reset(&f);
    assert_int_equal(sg_detect_ex(d, sc, fs, u, strlen(u), &f), 0);
    assert_int_equal(f.n, 1);
    assert_int_equal(f.v[0].type, SG_ENT_FIELD);
    sg_findings_free(&f);
    sg_detect_scratch_free(sc);
    sg_fieldset_free(fs);
    unload(x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jurisdictions),
        cmocka_unit_test(test_jurisdiction_aliases),
        cmocka_unit_test(test_default_classes_and_decisions),
        cmocka_unit_test(test_transfers_clients_and_blocks),
        cmocka_unit_test(test_every_transfer_rule_named),
        cmocka_unit_test(test_own_classes),
        cmocka_unit_test(test_own_classes_must_place_builtin_types),
        cmocka_unit_test(test_fieldsets),
        cmocka_unit_test(test_enclosing_finding_keeps_restricted_type),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
