/* Unit tests for src/redact/transform.c and src/redact/redaction.c: actions, consistent
 * pseudonyms under a key, masking, hashing, blocking, tolerant restore, the streaming
 * restorer and the output scanner split at every byte boundary (no leak, no failed
 * restore), the vault's index with many values, and hostile input (NUL bytes, invalid
 * UTF-8, a 10 MB text). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "redact/redaction.h"

static const uint8_t key1[32] = "0123456789abcdef0123456789abcdef";
static const uint8_t key2[32] = "fedcba9876543210fedcba9876543210";

struct fx {
    struct sg_redaction *rd;
    struct sg_detect_scratch *sc;
    struct sg_findings f;
    struct sg_buf out;
};

static int setup(void **state)
{
    struct fx *x = calloc(1, sizeof(*x));
    struct sg_error err = {0};
    if (!x || sg_redaction_default(&x->rd, &err) != 0)
        return -1;
    memcpy(x->rd->key, key1, sizeof(key1));
    x->rd->keylen = sizeof(key1);
    x->sc = sg_detect_scratch_new(x->rd->det);
    sg_findings_init(&x->f, 100000);
    sg_buf_init(&x->out, (size_t)64 << 20);
    *state = x;
    return x->sc ? 0 : -1;
}

static int teardown(void **state)
{
    struct fx *x = *state;
    sg_buf_free(&x->out);
    sg_findings_free(&x->f);
    sg_detect_scratch_free(x->sc);
    sg_redaction_free(x->rd);
    free(x);
    return 0;
}

/* Redacts `text` with vault `v` and returns the output (NUL-terminated, in x->out). */
static const char *redact(struct fx *x, struct sg_vault *v, const char *text)
{
    sg_findings_reset(&x->f);
    sg_buf_reset(&x->out);
    unsigned blocked = 0;
    int rc = sg_redact_text(x->rd, x->sc, v, text, strlen(text), &x->f, &x->out, &blocked);
    assert_int_equal(rc, 0);
    assert_int_equal(sg_buf_append(&x->out, "", 1), 0);
    x->out.len--;
    return x->out.data;
}

/* The surrogate that `text` (one entity and nothing else) becomes. */
static char *surrogate_of(struct fx *x, struct sg_vault *v, const char *text)
{
    return strdup(redact(x, v, text));
}

/* The surrogate code is the documented derivation, checked against OpenSSL's HMAC: 30
 * bits of HMAC-SHA256(key, type byte | salt 0 | canonical form), as six Crockford base32
 * digits. (The vault compresses the SHA-256 blocks itself: core/sha256.h.) */
static void test_surrogate_known_answer(void **state)
{
    struct fx *x = *state;
    const char *vals[] = {"bob@example.com", "Anna.Schmidt@Example.COM",
                          /* a canonical form over one block with the HMAC's pad */
                          "a.very.long.local.part.of.an.address.for.two.blocks@example-shop.com"};
    for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
        struct sg_vault *v = sg_redaction_vault(x->rd, 1 << 20);
        assert_non_null(v);
        char *got = surrogate_of(x, v, vals[i]);
        unsigned char msg[256] = {(unsigned char)SG_ENT_EMAIL, 0};
        size_t n = strlen(vals[i]);
        for (size_t k = 0; k < n; k++) /* an e-mail's canonical form: lower case */
            msg[2 + k] = (unsigned char)(vals[i][k] >= 'A' && vals[i][k] <= 'Z' ? vals[i][k] + 32
                                                                                : vals[i][k]);
        unsigned char mac[32];
        unsigned ml = 0;
        assert_non_null(HMAC(EVP_sha256(), key1, sizeof(key1), msg, 2 + n, mac, &ml));
        uint32_t c = ((uint32_t)mac[0] << 22 | (uint32_t)mac[1] << 14 | (uint32_t)mac[2] << 6 |
                      (uint32_t)mac[3] >> 2) &
                     0x3FFFFFFF;
        char want[32] = "EMAIL_";
        for (int d = 5; d >= 0; d--, c >>= 5)
            want[6 + d] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"[c & 31];
        assert_string_equal(got, want);
        free(got);
        sg_vault_free(v);
    }
}

static void test_actions(void **state)
{
    (void)state;
    enum sg_action a;
    assert_int_equal(sg_action_parse("mask", &a), 0);
    assert_int_equal(a, SG_ACT_MASK);
    assert_int_equal(sg_action_parse("pseudonymize", &a), 0);
    assert_int_equal(a, SG_ACT_PSEUDONYMIZE);
    assert_int_equal(sg_action_parse("Mask", &a), SG_EINVAL);
    assert_int_equal(sg_action_parse("", &a), SG_EINVAL);
    assert_string_equal(sg_action_name(SG_ACT_HASH), "hash");
    assert_int_equal(sg_action_default(SG_ENT_CARD), SG_ACT_MASK);
    assert_int_equal(sg_action_default(SG_ENT_SECRET), SG_ACT_MASK);
    assert_int_equal(sg_action_default(SG_ENT_NATIONAL_ID), SG_ACT_MASK);
    assert_int_equal(sg_action_default(SG_ENT_EMAIL), SG_ACT_PSEUDONYMIZE);
    assert_int_equal(sg_action_default(SG_ENT_PERSON), SG_ACT_PSEUDONYMIZE);
    assert_int_equal(sg_action_default(SG_ENT_CUSTOM + 3), SG_ACT_PSEUDONYMIZE);
}

static bool looks_like_surrogate(const char *s, const char *type)
{
    size_t tl = strlen(type);
    if (strncmp(s, type, tl) != 0 || s[tl] != '_' || strlen(s) != tl + 1 + SG_SURROGATE_CODE)
        return false;
    for (size_t i = tl + 1; s[i]; i++)
        if (!strchr("0123456789ABCDEFGHJKMNPQRSTVWXYZ", s[i]))
            return false;
    return true;
}

static void test_pseudonyms_are_consistent(void **state)
{
    struct fx *x = *state;
    struct sg_vault *v1 = sg_redaction_vault(x->rd, 1 << 20);
    struct sg_vault *v2 = sg_redaction_vault(x->rd, 1 << 20);
    char *a = surrogate_of(x, v1, "anna.schmidt@example.com");
    assert_true(looks_like_surrogate(a, "EMAIL"));
    /* the same value in another request (another vault, same key): the same surrogate */
    char *b = surrogate_of(x, v2, "anna.schmidt@example.com");
    assert_string_equal(a, b);
    /* written differently (case) it is the same value */
    char *c = surrogate_of(x, v2, "Anna.Schmidt@Example.COM");
    assert_string_equal(a, c);
    /* another value gets another surrogate */
    char *d = surrogate_of(x, v2, "bob@example.com");
    assert_true(looks_like_surrogate(d, "EMAIL"));
    assert_string_not_equal(a, d);
    /* phone numbers: separators do not matter */
    char *p1 = surrogate_of(x, v1, "+49 30 1234567");
    char *p2 = surrogate_of(x, v1, "+49-30-1234567");
    assert_true(looks_like_surrogate(p1, "PHONE"));
    assert_string_equal(p1, p2);
    assert_int_equal(sg_vault_count(v1), 2);
    assert_int_equal(sg_vault_count(v2), 2);
    /* another key: other surrogates */
    memcpy(x->rd->key, key2, sizeof(key2));
    struct sg_vault *v3 = sg_redaction_vault(x->rd, 1 << 20);
    char *e = surrogate_of(x, v3, "anna.schmidt@example.com");
    assert_true(looks_like_surrogate(e, "EMAIL"));
    assert_string_not_equal(a, e);
    memcpy(x->rd->key, key1, sizeof(key1));
    free(a), free(b), free(c), free(d), free(e), free(p1), free(p2);
    sg_vault_free(v1);
    sg_vault_free(v2);
    sg_vault_free(v3);
}

static void test_mask_hash_block(void **state)
{
    struct fx *x = *state;
    struct sg_vault *v = sg_redaction_vault(x->rd, 1 << 20);
    /* cards are masked by default */
    assert_string_equal(redact(x, v, "pay with 4111 1111 1111 1111 now"), "pay with [CARD] now");
    assert_int_equal(sg_vault_count(v), 0); /* masks keep nothing */
    /* hash: typed, 12 hex digits, consistent, irreversible */
    x->rd->actions[SG_ENT_PHONE] = SG_ACT_HASH;
    char *h1 = strdup(redact(x, v, "+49 30 1234567"));
    char *h2 = strdup(redact(x, v, "+49 (30) 1234567"));
    assert_int_equal(strlen(h1), strlen("PHONE#") + 12);
    assert_memory_equal(h1, "PHONE#", 6);
    assert_string_equal(h1, h2);
    assert_int_equal(sg_vault_count(v), 0);
    /* allow leaves the value */
    x->rd->actions[SG_ENT_PHONE] = SG_ACT_ALLOW;
    assert_string_equal(redact(x, v, "call +49 30 1234567"), "call +49 30 1234567");
    /* block refuses and names the type */
    x->rd->actions[SG_ENT_CARD] = SG_ACT_BLOCK;
    unsigned blocked = 99;
    sg_findings_reset(&x->f);
    sg_buf_reset(&x->out);
    const char *t = "mail me at a@example.org, card 4111111111111111";
    assert_int_equal(sg_redact_text(x->rd, x->sc, v, t, strlen(t), &x->f, &x->out, &blocked),
                     SG_EDENIED);
    assert_int_equal(blocked, SG_ENT_CARD);
    x->rd->actions[SG_ENT_CARD] = SG_ACT_MASK;
    x->rd->actions[SG_ENT_PHONE] = SG_ACT_PSEUDONYMIZE;
    free(h1);
    free(h2);
    sg_vault_free(v);
}

/* Restores `s` and compares with `want`. */
static void check_restore(const struct sg_vault *v, const char *s, const char *want, int want_count)
{
    struct sg_buf b;
    sg_buf_init(&b, 1 << 20);
    int n = sg_restore(v, SG_RESTORE_RAW, s, strlen(s), &b);
    assert_int_equal(sg_buf_append(&b, "", 1), 0);
    if (strcmp(b.data, want) != 0)
        fail_msg("restore(\"%s\") = \"%s\", expected \"%s\"", s, b.data, want);
    assert_int_equal(n, want_count);
    sg_buf_free(&b);
}

static void test_restore_is_tolerant(void **state)
{
    struct fx *x = *state;
    struct sg_vault *v = sg_redaction_vault(x->rd, 1 << 20);
    char *s = surrogate_of(x, v, "anna@example.com");
    const char *code = s + strlen("EMAIL_");
    char in[256], low[64], want[256];
    check_restore(v, s, "anna@example.com", 1);
    /* lower case */
    for (size_t i = 0; s[i]; i++)
        low[i] = (char)(s[i] >= 'A' && s[i] <= 'Z' ? s[i] + 32 : s[i]);
    low[strlen(s)] = '\0';
    snprintf(in, sizeof(in), "Write to %s.", low);
    check_restore(v, in, "Write to anna@example.com.", 1);
    /* markdown around it, and the markdown-escaped underscore */
    snprintf(in, sizeof(in), "**%s** and `%s` and EMAIL\\_%s", s, s, code);
    check_restore(v, in, "**anna@example.com** and `anna@example.com` and anna@example.com", 3);
    /* a type name with underscores, all of them escaped (markdown) */
    char *dob = surrogate_of(x, v, "born 12.03.1985");
    const char *dcode = strrchr(dob, '_');
    assert_non_null(dcode);
    snprintf(in, sizeof(in), "Born DATE\\_OF\\_BIRTH\\_%s, or date_of-birth %s.", dcode + 1,
             dcode + 1);
    check_restore(v, in, "Born 12.03.1985, or 12.03.1985.", 2);
    free(dob);
    /* the underscore as a space or a dash */
    snprintf(in, sizeof(in), "EMAIL %s / EMAIL-%s", code, code);
    check_restore(v, in, "anna@example.com / anna@example.com", 2);
    /* a line break or spaces inside the code */
    snprintf(in, sizeof(in), "EMAIL_%.3s\n%s, EMAIL_%.2s %.2s %s", code, code + 3, code, code + 2,
             code + 4);
    check_restore(v, in, "anna@example.com, anna@example.com", 2);
    snprintf(in, sizeof(in), "EMAIL_%.3s\r\n%s", code, code + 3);
    check_restore(v, in, "anna@example.com", 1);
    /* Crockford look-alikes: O for 0, I and L for 1 */
    snprintf(want, sizeof(want), "%s", s);
    for (char *p = want; *p; p++)
        if (*p == '0')
            *p = 'O';
        else if (*p == '1')
            *p = 'l';
    if (strcmp(want, s) != 0)
        check_restore(v, want, "anna@example.com", 1);
    /* not restored: part of a longer word, an unknown code, a cut-off code, the wrong type */
    snprintf(in, sizeof(in), "X%s %sZ %s_1", s, s, s);
    check_restore(v, in, in, 0);
    check_restore(v, "EMAIL_ZZZZZZ", "EMAIL_ZZZZZZ", 0);
    snprintf(in, sizeof(in), "EMAIL_%.5s", code);
    check_restore(v, in, in, 0);
    snprintf(in, sizeof(in), "PHONE_%s", code);
    check_restore(v, in, in, 0);
    /* NUL bytes and invalid UTF-8 around it pass through */
    struct sg_buf b;
    sg_buf_init(&b, 1 << 20);
    char raw[64];
    size_t rl = (size_t)snprintf(raw, sizeof(raw), "\xff%s", s);
    raw[rl++] = '\0';
    raw[rl++] = '\xc3';
    assert_int_equal(sg_restore(v, SG_RESTORE_RAW, raw, rl, &b), 1);
    assert_int_equal(b.len, 1 + 16 + 2);
    assert_memory_equal(b.data,
                        "\xff"
                        "anna@example.com\0\xc3",
                        b.len);
    sg_buf_free(&b);
    free(s);
    sg_vault_free(v);
}

/* Restores the one FIELD surrogate in `redacted` inside a JSON string, and as plain text. */
static void check_field_restore(struct sg_vault *v, const char *redacted, const char *want_json,
                                const char *want_raw)
{
    const char *sur = strstr(redacted, "FIELD_");
    assert_non_null(sur);
    char in[128];
    snprintf(in, sizeof(in), "{\"note\": \"%.12s\"}", sur);
    struct sg_buf b;
    sg_buf_init(&b, 1 << 20);
    assert_int_equal(sg_restore(v, SG_RESTORE_JSON, in, strlen(in), &b), 1);
    assert_int_equal(sg_buf_append(&b, "", 1), 0);
    assert_string_equal(b.data, want_json);
    sg_buf_reset(&b);
    assert_int_equal(sg_restore(v, SG_RESTORE_RAW, sur, 12, &b), 1);
    assert_int_equal(sg_buf_append(&b, "", 1), 0);
    assert_string_equal(b.data, want_raw);
    sg_buf_free(&b);
}

static void test_restore_json_mode(void **state)
{
    struct fx *x = *state;
    struct sg_vault *v = sg_redaction_vault(x->rd, 1 << 20);
    static const struct {
        const char *text, *json, *raw;
    } cases[] = {
        /* A field value with a quote, read inside JSON text: a JSON answer gets it escaped
         * once (valid JSON meaning say "hi" now), not its escapes escaped again; plain
         * text gets it as it was found, escapes included (an answer that repeats the
         * JSON). */
        {"\"customer_note\": \"say \\\"hi\\\" now\"", "{\"note\": \"say \\\"hi\\\" now\"}",
         "say \\\"hi\\\" now"},
        /* JSON inside a JSON string (\"key\": \"value\"): escaped twice there */
        {"{\\\"customer_note\\\": \\\"line1\\\\nline2 \\\\\\\"q\\\\\\\"\\\"}",
         "{\"note\": \"line1\\nline2 \\\"q\\\"\"}", "line1\\\\nline2 \\\\\\\"q\\\\\\\""},
        /* a backslash that is no JSON escape: the value is escaped as it was found */
        {"\"customer_note\": \"C:\\\\dir\\q\"", "{\"note\": \"C:\\\\\\\\dir\\\\q\"}",
         "C:\\\\dir\\q"},
        /* the same text in plain prose is no JSON: escaped as it is */
        {"customer_note: say \\\"hi\\\" later", "{\"note\": \"say \\\\\\\"hi\\\\\\\" later\"}",
         "say \\\"hi\\\" later"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *s = surrogate_of(x, v, cases[i].text);
        check_field_restore(v, s, cases[i].json, cases[i].raw);
        free(s);
    }
    /* a stored conversation's entry carries how the value was found (sg_vault_each) */
    struct sg_vault *w = sg_redaction_vault(x->rd, 1 << 20);
    assert_int_equal(sg_vault_import(w, SG_ENT_FIELD, "ABCDEF", "a\\\"b", 4, 1), 0);
    assert_int_equal(sg_vault_import(w, SG_ENT_FIELD, "ABCDEG", "a\\\"b", 4, 3), SG_EINVAL);
    check_field_restore(w, "FIELD_ABCDEF", "{\"note\": \"a\\\"b\"}", "a\\\"b");
    sg_vault_free(w);
    sg_vault_free(v);
}

/* The text every streaming test restores: several surrogates, markdown, a line break. */
static void make_answer(struct fx *x, struct sg_vault *v, char *out, size_t cap, char *want,
                        size_t wcap)
{
    char *e = surrogate_of(x, v, "anna@example.com");
    char *p = surrogate_of(x, v, "+49 30 1234567");
    char *n = surrogate_of(x, v, "Hello, my name is Anna Schmidt.");
    const char *pn = strstr(n, "PERSON_");
    assert_non_null(pn);
    snprintf(out, cap, "Dear %.13s, we wrote to **%s** and will call %.9s\n%s. Bye %.13s", pn, e, p,
             p + 9, pn);
    snprintf(want, wcap,
             "Dear Anna Schmidt, we wrote to **anna@example.com** and will call +49 30 "
             "1234567. Bye Anna Schmidt");
    free(e);
    free(p);
    free(n);
}

static void test_streaming_restore_every_split(void **state)
{
    struct fx *x = *state;
    struct sg_vault *v = sg_redaction_vault(x->rd, 1 << 20);
    char text[512], want[512];
    make_answer(x, v, text, sizeof(text), want, sizeof(want));
    size_t n = strlen(text);
    struct sg_buf out;
    sg_buf_init(&out, 1 << 20);
    /* every split into two pieces, and every split into three */
    for (size_t i = 0; i <= n; i++) {
        for (size_t j = i; j <= n; j += (i % 7 == 0 ? 1 : n)) {
            struct sg_restorer r;
            sg_restorer_init(&r, v, SG_RESTORE_RAW);
            sg_buf_reset(&out);
            assert_int_equal(sg_restorer_feed(&r, text, i, &out), 0);
            assert_true(r.pending.len <= SG_SURROGATE_HOLD);
            assert_int_equal(sg_restorer_feed(&r, text + i, j - i, &out), 0);
            assert_true(r.pending.len <= SG_SURROGATE_HOLD);
            assert_int_equal(sg_restorer_feed(&r, text + j, n - j, &out), 0);
            assert_int_equal(sg_restorer_finish(&r, &out), 0);
            assert_int_equal(r.restored, 4);
            if (out.len != strlen(want) || memcmp(out.data, want, out.len) != 0)
                fail_msg("split at %zu/%zu: \"%.*s\"", i, j, (int)out.len, out.data);
            sg_restorer_free(&r);
        }
    }
    /* one byte at a time */
    struct sg_restorer r;
    sg_restorer_init(&r, v, SG_RESTORE_RAW);
    sg_buf_reset(&out);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(sg_restorer_feed(&r, text + i, 1, &out), 0);
        assert_true(r.pending.len <= SG_SURROGATE_HOLD);
    }
    assert_int_equal(sg_restorer_finish(&r, &out), 0);
    assert_int_equal(out.len, strlen(want));
    assert_memory_equal(out.data, want, out.len);
    sg_restorer_free(&r);
    /* text without surrogates is never held back */
    sg_restorer_init(&r, v, SG_RESTORE_RAW);
    sg_buf_reset(&out);
    assert_int_equal(sg_restorer_feed(&r, "Hello there", 11, &out), 0);
    assert_int_equal(out.len, 11);
    sg_restorer_free(&r);
    /* a surrogate glued to a word is not restored, as by sg_restore, also when a piece
     * ends right after it or starts right at it (found by fuzzing:
     * tests/fuzz/regressions/redact/stream-cut-after-surrogate) */
    char *s = surrogate_of(x, v, "anna@example.com");
    char glued[256], gwant[256];
    snprintf(glued, sizeof(glued), "x%s %s_y %s.", s, s, s);
    snprintf(gwant, sizeof(gwant), "x%s %s_y anna@example.com.", s, s);
    size_t gn = strlen(glued);
    for (size_t i = 0; i <= gn; i++) {
        sg_restorer_init(&r, v, SG_RESTORE_RAW);
        sg_buf_reset(&out);
        assert_int_equal(sg_restorer_feed(&r, glued, i, &out), 0);
        assert_true(r.pending.len <= SG_SURROGATE_HOLD);
        assert_int_equal(sg_restorer_feed(&r, glued + i, gn - i, &out), 0);
        assert_int_equal(sg_restorer_finish(&r, &out), 0);
        assert_int_equal(r.restored, 1);
        if (out.len != strlen(gwant) || memcmp(out.data, gwant, out.len) != 0)
            fail_msg("split at %zu: \"%.*s\"", i, (int)out.len, out.data);
        sg_restorer_free(&r);
    }
    free(s);
    sg_buf_free(&out);
    sg_vault_free(v);
}

/* Output scan then restore, as the gateway chains them, on pieces of `text`. */
static void scan_restore(struct fx *x, const struct sg_vault *v, const char *text,
                         const size_t *cuts, size_t ncuts, struct sg_buf *out)
{
    struct sg_outscan os;
    struct sg_restorer r;
    struct sg_buf mid;
    sg_outscan_init(&os, x->rd, x->sc, v);
    sg_restorer_init(&r, v, SG_RESTORE_RAW);
    sg_buf_init(&mid, 1 << 20);
    size_t at = 0, n = strlen(text);
    for (size_t c = 0; c <= ncuts; c++) {
        size_t to = c < ncuts ? cuts[c] : n;
        sg_buf_reset(&mid);
        assert_int_equal(sg_outscan_feed(&os, text + at, to - at, &mid), 0);
        assert_int_equal(sg_restorer_feed(&r, mid.data ? mid.data : "", mid.len, out), 0);
        at = to;
    }
    sg_buf_reset(&mid);
    assert_int_equal(sg_outscan_finish(&os, &mid), 0);
    assert_int_equal(sg_restorer_feed(&r, mid.data ? mid.data : "", mid.len, out), 0);
    assert_int_equal(sg_restorer_finish(&r, out), 0);
    sg_buf_free(&mid);
    sg_restorer_free(&r);
    sg_outscan_free(&os);
}

static void test_output_scan_every_split(void **state)
{
    struct fx *x = *state;
    struct sg_vault *v = sg_redaction_vault(x->rd, 1 << 20);
    char *e = surrogate_of(x, v, "anna@example.com");
    char text[512], want[512];
    /* a made-up card number and API key in the answer, next to a surrogate */
    snprintf(text, sizeof(text),
             "Your card 4111 1111 1111 1111 is on file for %s; key sk-proj-"
             "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789 works.",
             e);
    snprintf(want, sizeof(want),
             "Your card [CARD] is on file for anna@example.com; key [SECRET] works.");
    size_t n = strlen(text);
    struct sg_buf out;
    sg_buf_init(&out, 1 << 20);
    for (size_t i = 0; i <= n; i++) {
        for (size_t j = i; j <= n; j += (i % 5 == 0 ? 1 : n)) {
            size_t cuts[2] = {i, j};
            sg_buf_reset(&out);
            scan_restore(x, v, text, cuts, 2, &out);
            if (out.len != strlen(want) || memcmp(out.data, want, out.len) != 0)
                fail_msg("split at %zu/%zu: \"%.*s\"", i, j, (int)out.len, out.data);
        }
    }
    /* one byte at a time */
    size_t cuts[512];
    for (size_t i = 0; i < n; i++)
        cuts[i] = i + 1;
    sg_buf_reset(&out);
    scan_restore(x, v, text, cuts, n, &out);
    assert_int_equal(out.len, strlen(want));
    assert_memory_equal(out.data, want, out.len);
    /* a card number the request carried is the user's own: not masked */
    sg_buf_reset(&x->out);
    sg_findings_reset(&x->f);
    const char *req = "my card is 4111 1111 1111 1111";
    assert_int_equal(sg_redact_text(x->rd, x->sc, v, req, strlen(req), &x->f, &x->out, NULL), 0);
    sg_buf_reset(&out);
    scan_restore(x, v, "I see 4111-1111-1111-1111.", NULL, 0, &out);
    assert_int_equal(out.len, strlen("I see 4111-1111-1111-1111."));
    /* ordinary words are passed on at once (time to first token) */
    struct sg_outscan os;
    sg_outscan_init(&os, x->rd, x->sc, v);
    sg_buf_reset(&out);
    assert_int_equal(sg_outscan_feed(&os, "Hello", 5, &out), 0);
    assert_int_equal(out.len, 5);
    assert_int_equal(sg_outscan_feed(&os, " there, I", 9, &out), 0);
    assert_int_equal(out.len, 14); /* a lone "I" is a word */
    assert_int_equal(sg_outscan_feed(&os, " AB", 3, &out), 0);
    assert_int_equal(out.len, 15); /* "AB" could start an ID (a NINO): held */
    assert_int_equal(sg_outscan_feed(&os, "12", 2, &out), 0);
    assert_int_equal(out.len, 15);
    assert_int_equal(sg_outscan_feed(&os, " can", 4, &out), 0);
    assert_int_equal(out.len, 23);
    sg_outscan_free(&os);
    sg_buf_free(&out);
    free(e);
    sg_vault_free(v);
}

static void test_vault_many_values(void **state)
{
    struct fx *x = *state;
    struct sg_vault *v = sg_redaction_vault(x->rd, 16 << 20);
    struct sg_buf text;
    sg_buf_init(&text, 16 << 20);
    for (int i = 0; i < 20000; i++)
        assert_int_equal(sg_buf_printf(&text, "user%d@example.com ", i), 0);
    sg_findings_reset(&x->f);
    sg_buf_reset(&x->out);
    assert_int_equal(sg_redact_text(x->rd, x->sc, v, text.data, text.len, &x->f, &x->out, NULL), 0);
    assert_int_equal(x->f.n, 20000);
    assert_int_equal(sg_vault_count(v), 20000);
    struct sg_buf back;
    sg_buf_init(&back, 16 << 20);
    assert_int_equal(sg_restore(v, SG_RESTORE_RAW, x->out.data, x->out.len, &back), 20000);
    assert_int_equal(back.len, text.len);
    assert_memory_equal(back.data, text.data, text.len);
    sg_buf_free(&back);
    sg_buf_free(&text);
    sg_vault_free(v);
}

static void test_vault_limit(void **state)
{
    struct fx *x = *state;
    struct sg_vault *v = sg_redaction_vault(x->rd, 20); /* room for one address */
    const char *t = "anna@example.com and bob@example.com";
    sg_findings_reset(&x->f);
    sg_buf_reset(&x->out);
    assert_int_equal(sg_redact_text(x->rd, x->sc, v, t, strlen(t), &x->f, &x->out, NULL),
                     SG_ETOOBIG);
    sg_vault_free(v);
}

static void test_large_and_hostile_input(void **state)
{
    struct fx *x = *state;
    struct sg_vault *v = sg_redaction_vault(x->rd, 64 << 20);
    size_t n = 10u << 20;
    char *big = malloc(n + 1);
    assert_non_null(big);
    /* invalid UTF-8, NUL bytes, digits and '@' all mixed, 10 MB */
    for (size_t i = 0; i < n; i++)
        big[i] = "a@1 \xff\0\xc3Z9.-"[i % 11];
    big[n] = '\0';
    sg_findings_reset(&x->f);
    sg_buf_reset(&x->out);
    int rc = sg_redact_text(x->rd, x->sc, v, big, n, &x->f, &x->out, NULL);
    assert_true(rc == 0 || rc == SG_ETOOBIG);
    struct sg_buf back;
    sg_buf_init(&back, 64 << 20);
    assert_true(sg_restore(v, SG_RESTORE_RAW, big, n, &back) >= 0);
    assert_int_equal(back.len, n);
    sg_buf_free(&back);
    free(big);
    sg_vault_free(v);
}

/* Streamed output scanning passes on nothing of a restricted value that the whole answer
 * masks: for answers whose values start in ways the hold-back once missed (found by
 * review), every split into two pieces and the one-byte-at-a-time stream give exactly the
 * whole answer's output, and no piece of the value is in it. */
static void test_output_scan_split_leaks(void **state)
{
    struct fx *x = *state;
    struct sg_vault *v = sg_redaction_vault(x->rd, 1 << 20);
    static const struct {
        const char *text, *value;
    } cases[] = {
        /* a PEM block cut right after its END line: the block is held whole */
        {"Here:\n-----BEGIN PRIVATE "
         "KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7\n"
         "-----END PRIVATE KEY-----\n```\nDone.",
         "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC"},
        /* a key after '=' in a word that starts with a lower-case name */
        {"export OPENAI_API_KEY=sk-proj-abcdefghQWERTYUIOPasdfghjklzxcvbnm0123 now",
         "sk-proj-abcdefgh"},
        /* keys and tokens after a backtick */
        {"Your key is `AKIAZQ3XYWPLKJHGFDSA` here.", "AKIAZQ"},
        {"t `eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0."
         "dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U` ok",
         "eyJhbGciOiJIUz"},
        /* a card number in full-width digits */
        {"Card \xef\xbc\x94\xef\xbc\x91\xef\xbc\x91\xef\xbc\x91 "
         "\xef\xbc\x91\xef\xbc\x91\xef\xbc\x91"
         "\xef\xbc\x91 \xef\xbc\x91\xef\xbc\x91\xef\xbc\x91\xef\xbc\x91 \xef\xbc\x91\xef\xbc\x91"
         "\xef\xbc\x91\xef\xbc\x91 ok",
         "\xef\xbc\x94\xef\xbc\x91"},
    };
    struct sg_buf whole, out;
    sg_buf_init(&whole, 1 << 20);
    sg_buf_init(&out, 1 << 20);
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        const char *text = cases[c].text;
        size_t n = strlen(text);
        sg_buf_reset(&whole);
        scan_restore(x, v, text, NULL, 0, &whole);
        if (memmem(whole.data, whole.len, cases[c].value, strlen(cases[c].value)))
            fail_msg("case %zu: the whole answer is not masked: \"%.*s\"", c, (int)whole.len,
                     whole.data);
        size_t cuts[1024];
        for (size_t i = 0; i <= n; i++) {
            cuts[0] = i;
            sg_buf_reset(&out);
            scan_restore(x, v, text, cuts, 1, &out);
            if (out.len != whole.len || memcmp(out.data, whole.data, out.len) != 0)
                fail_msg("case %zu, split at %zu: \"%.*s\"", c, i, (int)out.len, out.data);
        }
        assert_true(n <= sizeof(cuts) / sizeof(cuts[0]));
        for (size_t i = 0; i < n; i++)
            cuts[i] = i + 1;
        sg_buf_reset(&out);
        scan_restore(x, v, text, cuts, n, &out);
        if (out.len != whole.len || memcmp(out.data, whole.data, out.len) != 0)
            fail_msg("case %zu, byte by byte: \"%.*s\"", c, (int)out.len, out.data);
    }
    sg_buf_free(&whole);
    sg_buf_free(&out);
    sg_vault_free(v);
}

/* Holds of SG_OUTSCAN_LONG_HOLD bytes or more are worked out again only after they grew by
 * a quarter: streamed in small pieces, answers with long holds (a PEM block of 3 KB, a
 * 3,000-digit run, a word longer than SG_OUTSCAN_MAX_HOLD) give exactly the whole answer's
 * output, the values in them masked, and what follows them comes out before the end (once a
 * quarter of the hold's length has followed). */
static void test_output_scan_long_holds(void **state)
{
    struct fx *x = *state;
    struct sg_vault *v = sg_redaction_vault(x->rd, 1 << 20);
    struct sg_buf text, whole, out;
    sg_buf_init(&text, 1 << 20);
    sg_buf_init(&whole, 1 << 20);
    sg_buf_init(&out, 1 << 20);
    for (int c = 0; c < 3; c++) {
        sg_buf_reset(&text);
        if (c == 0) {
            assert_int_equal(sg_buf_puts(&text, "Key:\n-----BEGIN PRIVATE KEY-----\n"), 0);
            for (int i = 0; i < 48; i++)
                assert_int_equal(
                    sg_buf_puts(&text,
                                "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7abcdefgh\n"),
                    0);
            assert_int_equal(sg_buf_puts(&text, "-----END PRIVATE KEY-----\n"), 0);
        } else {
            for (int i = 0; i < (c == 1 ? 3000 : SG_OUTSCAN_MAX_HOLD + 5000); i++)
                assert_int_equal(sg_buf_append(&text, c == 1 ? "7" : "x", 1), 0);
        }
        assert_int_equal(sg_buf_puts(&text, " then card 4111 1111 1111 1111 and more words."), 0);
        for (int i = 0; i < 300; i++) /* more than a quarter of the longest hold */
            assert_int_equal(sg_buf_puts(&text, " More words."), 0);
        assert_true(text.len < 1024 * 64);
        char *t = strndup(text.data, text.len);
        assert_non_null(t);
        sg_buf_reset(&whole);
        scan_restore(x, v, t, NULL, 0, &whole);
        assert_null(memmem(whole.data, whole.len, "4111 1111", 9));
        assert_null(memmem(whole.data, whole.len, "MIIEvQIBADAN", 12));
        static const size_t pieces[] = {1, 3, 7, 64};
        size_t cuts[64 * 1024];
        for (size_t p = 0; p < sizeof(pieces) / sizeof(pieces[0]); p++) {
            size_t nc = 0;
            for (size_t at = pieces[p]; at < text.len; at += pieces[p])
                cuts[nc++] = at;
            sg_buf_reset(&out);
            scan_restore(x, v, t, cuts, nc, &out);
            if (out.len != whole.len || memcmp(out.data, whole.data, out.len) != 0)
                fail_msg("case %d, pieces of %zu: output differs from the whole answer's", c,
                         pieces[p]);
        }
        /* what follows the long hold is passed on before the stream ends */
        struct sg_outscan os;
        struct sg_buf mid;
        sg_buf_init(&mid, 1 << 20);
        sg_outscan_init(&os, x->rd, x->sc, v);
        for (size_t at = 0; at < text.len; at += 3)
            assert_int_equal(
                sg_outscan_feed(&os, t + at, text.len - at < 3 ? text.len - at : 3, &mid), 0);
        assert_non_null(memmem(mid.data, mid.len, " then card [CARD]", 17));
        sg_outscan_free(&os);
        sg_buf_free(&mid);
        free(t);
    }
    sg_buf_free(&text);
    sg_buf_free(&whole);
    sg_buf_free(&out);
    sg_vault_free(v);
}

/* Two long values (a quoted field value may have 4 KB) that differ only past their first
 * kilobyte get different surrogates, and each restores to itself (the code's message once
 * held only the first 1,023 bytes of the canonical form: both got one surrogate, and
 * restore wrote the first value in both places). */
static void test_long_values_distinct(void **state)
{
    (void)state;
    struct sg_redaction *rd = NULL;
    struct sg_error err = {0};
    assert_int_equal(sg_redaction_default(&rd, &err), 0);
    struct sg_vault *v = sg_redaction_vault(rd, 1 << 20);
    const size_t len = 1100;
    char *t = malloc(2 * len + 2);
    assert_non_null(t);
    memset(t, 'a', 2 * len + 1);
    t[len - 1] = 'X';
    t[len] = ' ';
    t[2 * len] = 'Y';
    t[2 * len + 1] = '\0';
    struct sg_finding fs[2] = {{0, (uint32_t)len, SG_ENT_FIELD, 0},
                               {(uint32_t)len + 1, (uint32_t)(2 * len + 1), SG_ENT_FIELD, 0}};
    struct sg_findings f = {fs, 2, 2, 2, false};
    struct sg_buf out, back;
    sg_buf_init(&out, 1 << 20);
    sg_buf_init(&back, 1 << 20);
    assert_int_equal(sg_transform(v, NULL, t, strlen(t), &f, &out, NULL), 0);
    assert_int_equal(sg_vault_count(v), 2);
    const char *sp = memchr(out.data, ' ', out.len);
    assert_non_null(sp);
    assert_false((size_t)(sp - out.data) == out.len - (size_t)(sp - out.data) - 1 &&
                 memcmp(out.data, sp + 1, (size_t)(sp - out.data)) == 0);
    assert_int_equal(sg_restore(v, SG_RESTORE_RAW, out.data, out.len, &back), 2);
    assert_int_equal(back.len, strlen(t));
    assert_memory_equal(back.data, t, back.len);
    sg_buf_free(&out);
    sg_buf_free(&back);
    free(t);
    sg_vault_free(v);
    sg_redaction_free(rd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_actions),
        cmocka_unit_test_setup_teardown(test_surrogate_known_answer, setup, teardown),
        cmocka_unit_test(test_pseudonyms_are_consistent),
        cmocka_unit_test(test_mask_hash_block),
        cmocka_unit_test(test_restore_is_tolerant),
        cmocka_unit_test(test_restore_json_mode),
        cmocka_unit_test(test_streaming_restore_every_split),
        cmocka_unit_test(test_output_scan_every_split),
        cmocka_unit_test(test_output_scan_split_leaks),
        cmocka_unit_test(test_output_scan_long_holds),
        cmocka_unit_test(test_long_values_distinct),
        cmocka_unit_test(test_vault_many_values),
        cmocka_unit_test(test_vault_limit),
        cmocka_unit_test(test_large_and_hostile_input),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
