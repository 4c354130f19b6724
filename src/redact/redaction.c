/* Redaction settings from the configuration; redacting a text; output scanning. */
#include "redact/redaction.h"
#include "core/crypto.h"
#include "core/secret.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- settings ---- */

static void set_defaults(struct sg_redaction *r)
{
    for (unsigned t = 0; t < SG_ENT_MAX; t++)
        r->actions[t] = sg_action_default(t);
    r->output_scan[SG_ENT_CARD] = true;
    r->output_scan[SG_ENT_SECRET] = true;
    r->output_scan[SG_ENT_NATIONAL_ID] = true;
    r->enabled = true;
    r->max_findings = 10000;
}

/* Without a configured key, one random key per process: a reload keeps the pseudonyms. */
static uint8_t process_key[32];
static int process_key_rc;
static pthread_once_t process_key_once = PTHREAD_ONCE_INIT;

static void make_process_key(void)
{
    process_key_rc = sg_random_bytes(process_key, sizeof(process_key));
}

static int random_key(struct sg_redaction *r, struct sg_error *err)
{
    pthread_once(&process_key_once, make_process_key);
    if (process_key_rc != 0)
        return sg_error_set(err, SG_ECRYPTO, "cannot make a random redaction key");
    memcpy(r->key, process_key, sizeof(process_key));
    r->keylen = sizeof(process_key);
    r->key_generated = true;
    return 0;
}

int sg_redaction_default(struct sg_redaction **out, struct sg_error *err)
{
    *out = NULL;
    struct sg_redaction *r = calloc(1, sizeof(*r));
    if (!r)
        return sg_error_set(err, SG_ENOMEM, "out of memory");
    set_defaults(r);
    int rc = random_key(r, err);
    if (!rc)
        rc = sg_detector_new(NULL, &r->det, err);
    if (rc) {
        sg_redaction_free(r);
        return rc;
    }
    *out = r;
    return 0;
}

static int build_detector(const struct sg_config *cfg, struct sg_redaction *r, struct sg_error *err)
{
    size_t nd = cfg->redaction.ndetectors, nf = cfg->redaction.nfields;
    struct sg_custom_detector *cd = calloc(nd ? nd : 1, sizeof(*cd));
    struct sg_field_rule *fr = calloc(nf ? nf : 1, sizeof(*fr));
    int rc = 0;
    if (!cd || !fr) {
        rc = sg_error_set(err, SG_ENOMEM, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < nd; i++) {
        const struct sg_config_detector *c = &cfg->redaction.detectors[i];
        cd[i] =
            (struct sg_custom_detector){c->name, c->regex, c->terms, c->nterms, c->case_sensitive};
    }
    for (size_t i = 0; i < nf; i++)
        fr[i] =
            (struct sg_field_rule){cfg->redaction.fields[i].key, cfg->redaction.fields[i].value};
    struct sg_detector_opts o = {cd, nd, fr, nf};
    struct sg_error e = {0};
    if ((rc = sg_detector_new(&o, &r->det, &e)) != 0)
        sg_error_set(err, rc, "redaction: %s", e.msg);
done:
    free(cd);
    free(fr);
    return rc;
}

int sg_redaction_new(const struct sg_config *cfg, struct sg_redaction **out, struct sg_error *err)
{
    *out = NULL;
    struct sg_redaction *r = calloc(1, sizeof(*r));
    if (!r)
        return sg_error_set(err, SG_ENOMEM, "out of memory");
    set_defaults(r);
    r->enabled = cfg->redaction.enabled;
    r->max_findings = cfg->redaction.max_findings;
    int rc = build_detector(cfg, r, err);
    /* custom detectors' own actions, then redaction.actions (which wins) */
    for (size_t i = 0; !rc && i < cfg->redaction.ndetectors; i++) {
        const struct sg_config_detector *c = &cfg->redaction.detectors[i];
        if (c->action && sg_action_parse(c->action, &r->actions[SG_ENT_CUSTOM + i]) == 0)
            r->action_set[SG_ENT_CUSTOM + i] = true;
    }
    for (size_t i = 0; !rc && i < cfg->redaction.nactions; i++) {
        const struct sg_config_pair *p = &cfg->redaction.actions[i];
        int t = sg_entity_lookup(r->det, p->key);
        if (t < 0)
            rc = sg_error_set(err, SG_EINVAL, "redaction.actions.%s: unknown entity type", p->key);
        else if (sg_action_parse(p->value, &r->actions[t]) != 0)
            rc = sg_error_set(err, SG_EINVAL, "redaction.actions.%s: unknown action %s", p->key,
                              p->value);
        else
            r->action_set[t] = true;
    }
    if (!rc && cfg->redaction.output_scan_set) {
        memset(r->output_scan, 0, sizeof(r->output_scan));
        for (size_t i = 0; !rc && i < cfg->redaction.noutput_scan; i++) {
            int t = sg_entity_lookup(r->det, cfg->redaction.output_scan[i]);
            if (t < 0)
                rc = sg_error_set(err, SG_EINVAL, "redaction.output_scan: unknown entity type %s",
                                  cfg->redaction.output_scan[i]);
            else
                r->output_scan[t] = true;
        }
    }
    if (!rc && cfg->redaction.key) {
        struct sg_secret s;
        struct sg_error e = {0};
        if ((rc = sg_secret_load(cfg->redaction.key, cfg->dir, &s, &e)) != 0) {
            sg_error_set(err, rc, "redaction.key: %s", e.msg);
        } else if (s.len < 16) {
            rc = sg_error_set(err, SG_EINVAL, "redaction.key: at least 16 bytes are needed");
        } else if (s.len > sizeof(r->key)) {
            sg_sha256(s.data, s.len, r->key); /* HMAC would hash a long key anyway */
            r->keylen = SG_SHA256_LEN;
        } else {
            memcpy(r->key, s.data, s.len);
            r->keylen = s.len;
        }
        sg_secret_free(&s);
    } else if (!rc) {
        rc = random_key(r, err);
    }
    if (rc) {
        sg_redaction_free(r);
        return rc;
    }
    *out = r;
    return 0;
}

void sg_redaction_free(struct sg_redaction *r)
{
    if (!r)
        return;
    sg_detector_free(r->det);
    sg_secure_zero(r->key, sizeof(r->key));
    free(r);
}

struct sg_vault *sg_redaction_vault(const struct sg_redaction *r, size_t max_bytes)
{
    return sg_vault_new(r->det, r->key, r->keylen, max_bytes);
}

int sg_redact_text(const struct sg_redaction *r, struct sg_detect_scratch *sc, struct sg_vault *v,
                   const char *text, size_t len, struct sg_findings *f, struct sg_buf *out,
                   unsigned *blocked_type)
{
    size_t n0 = f->n;
    int rc = sg_detect(r->det, sc, text, len, f);
    if (rc)
        return rc;
    if (f->truncated)
        return SG_ETOOBIG; /* what was not looked at cannot be let through */
    for (size_t i = n0; i < f->n; i++) {
        const struct sg_finding *x = &f->v[i];
        if (r->output_scan[x->type] &&
            (rc = sg_vault_note(v, x->type, text + x->start, x->end - x->start)) != 0)
            return rc;
    }
    /* f->v is NULL while nothing was ever found, and NULL + 0 is undefined in C */
    struct sg_findings view = {f->v ? f->v + n0 : NULL, f->n - n0, f->n - n0, f->n - n0, false};
    return sg_transform(v, r->actions, text, len, &view, out, blocked_type);
}

/* ---- output scanning ---- */

void sg_outscan_init(struct sg_outscan *o, const struct sg_redaction *r,
                     struct sg_detect_scratch *sc, const struct sg_vault *v)
{
    memset(o, 0, sizeof(*o));
    o->r = r;
    o->sc = sc;
    o->v = v;
    sg_buf_init(&o->pending, SG_OUTSCAN_MAX_HOLD * 2 + (1u << 20));
    sg_buf_init(&o->tmp, SG_OUTSCAN_MAX_HOLD * 2 + (1u << 20) + sizeof(o->ctx));
    sg_findings_init(&o->f, 4096);
}

void sg_outscan_free(struct sg_outscan *o)
{
    sg_buf_free(&o->pending);
    sg_buf_free(&o->tmp);
    sg_findings_free(&o->f);
}

static bool is_sp(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Whether w holds a character that detection folds into an ASCII letter or digit: a
 * full-width form (U+FF01..U+FF5E: EF BC xx, EF BD xx), or a Greek or Cyrillic letter (lead
 * bytes CE..D4) in a word that also has ASCII letters or digits (a look-alike mixed in). */
static bool folds_to_ascii(const unsigned char *w, size_t n)
{
    bool mixed = false, alnum = false;
    for (size_t i = 0; i < n; i++) {
        if (w[i] == 0xEF && i + 1 < n && (w[i + 1] == 0xBC || w[i + 1] == 0xBD))
            return true;
        mixed |= w[i] >= 0xCE && w[i] <= 0xD4;
        alnum |= (w[i] >= '0' && w[i] <= '9') || ((w[i] | 0x20) >= 'a' && (w[i] | 0x20) <= 'z');
    }
    return mixed && alnum;
}

/* A word that could be (the start of) a restricted value. */
static bool upper_char(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || c == '_' || c == '-';
}

/* Whether w starts with a key prefix, or with the start of one when it is shorter. */
static bool key_prefix(const unsigned char *w, size_t n)
{
    static const char *const prefixes[] = {
        "sk-", "sk_",    "rk_",  "pk_",   "ghp_", "gho_",   "ghs_", "ghu_", "github_pat_", "xox",
        "eyJ", "glpat-", "AIza", "-----", "SG.",  "whsec_", "hf_",  "npm_", NULL};
    for (const char *const *p = prefixes; *p; p++) {
        size_t pl = strlen(*p), m = n < pl ? n : pl;
        if (strncmp((const char *)w, *p, m) == 0)
            return true;
    }
    return false;
}

static bool suspicious_word(const unsigned char *w, size_t n)
{
    if (folds_to_ascii(w, n))
        return true;
    bool upper = true;
    for (size_t i = 0; i < n; i++) {
        if (w[i] >= '0' && w[i] <= '9')
            return true;
        upper = upper && upper_char(w[i]);
    }
    /* a lone "I" or "A" is a word; IDs and keys start with two */
    return (upper && n >= 2) || key_prefix(w, n);
}

/* Whether the word starting at t[k] follows a password-like label ("password: "). */
static bool after_label(const unsigned char *t, size_t k, const char *ctx, size_t nctx)
{
    static const char *const labels[] = {
        "password", "passwort", "pwd", "pass",         "secret",     "token",      "api_key",
        "apikey",   "api key",  "key", "mot de passe", "contraseña", "wachtwoord", NULL};
    /* the 40 bytes before the word, from the context and the held text */
    char b[96];
    size_t nb = 0, from = k > 40 ? k - 40 : 0;
    if (k < 40) {
        size_t need = 40 - k, c0 = nctx > need ? nctx - need : 0;
        memcpy(b, ctx + c0, nctx - c0);
        nb = nctx - c0;
    }
    memcpy(b + nb, t + from, k - from);
    nb += k - from;
    while (nb && (is_sp((unsigned char)b[nb - 1]) || b[nb - 1] == '"' || b[nb - 1] == '\'' ||
                  b[nb - 1] == '*' || b[nb - 1] == '`'))
        nb--;
    if (!nb || (b[nb - 1] != ':' && b[nb - 1] != '='))
        return false;
    nb--;
    while (nb && (b[nb - 1] == '"' || b[nb - 1] == '\'' || b[nb - 1] == '*' || b[nb - 1] == ' '))
        nb--;
    for (const char *const *l = labels; *l; l++) {
        size_t ll = strlen(*l);
        if (nb >= ll && strncasecmp(b + nb - ll, *l, ll) == 0)
            return true;
    }
    return false;
}

static bool run_char(unsigned char c)
{
    return (c >= '0' && c <= '9') || c == ' ' || c == '-' || c == '.' || c == '/' || c == '(' ||
           c == ')' || c == '+' || c == '\t';
}

/* The length of the run character that ends at t[j - 1] (0: none): an ASCII one
 * (run_char), or the full-width form of one (EF BC 88..99: parentheses, '+', ',', '-', '.',
 * '/', digits) or the ideographic space (E3 80 80), which detection folds into ASCII. Sets
 * *digit for a digit. */
static size_t run_char_before(const unsigned char *t, size_t j, bool *digit)
{
    unsigned char c = t[j - 1];
    if (c < 0x80) {
        if (!run_char(c))
            return 0;
        *digit |= c >= '0' && c <= '9';
        return 1;
    }
    if (j >= 3 && t[j - 3] == 0xEF && t[j - 2] == 0xBC && c >= 0x88 && c <= 0x99) {
        *digit |= c >= 0x90;
        return 3;
    }
    return j >= 3 && t[j - 3] == 0xE3 && t[j - 2] == 0x80 && c == 0x80 ? 3 : 0;
}

/* Where a value may start in the word t[k, n): the earliest start, at the word's start or
 * after a byte that is not a letter, digit, '_' or '-' inside it ("KEY=sk-...", "`AKIA..."),
 * of a part that is suspicious or follows a password-like label; n when there is none. */
static size_t word_hold(const struct sg_outscan *o, const unsigned char *t, size_t k, size_t n)
{
    if (suspicious_word(t + k, n - k) || after_label(t, k, o->ctx, o->nctx))
        return k;
    /* The word has no digit and no folded character (its first part would hold), so a
     * later part is suspicious only when upper case to the word's end, by its key prefix
     * or after a label: one pass, not one scan to the end per part (a long word of short
     * parts, such as "a=a=a=..." inside a PEM block, made that quadratic). */
    size_t u = n; /* where the upper-case end of the word starts */
    while (u > k && upper_char(t[u - 1]))
        u--;
    for (size_t i = k + 1; i < n; i++) {
        unsigned char p = t[i - 1];
        if ((p >= '0' && p <= '9') || ((p | 0x20) >= 'a' && (p | 0x20) <= 'z') || p == '_' ||
            p == '-' || p >= 0x80)
            continue; /* inside a part */
        if ((i >= u && n - i >= 2) || key_prefix(t + i, n - i) ||
            after_label(t, i, o->ctx, o->nctx))
            return i;
    }
    return n;
}

/* Where the part of pending text that must be held back starts. */
static size_t hold_point(const struct sg_outscan *o)
{
    const unsigned char *t = (const unsigned char *)o->pending.data;
    size_t n = o->pending.len, h = n;
    /* a character cut by the piece's end waits for its other bytes */
    size_t c = n;
    while (c > 0 && n - c < 3 && (t[c - 1] & 0xC0) == 0x80)
        c--;
    if (c > 0 && t[c - 1] >= 0xC0 &&
        n - (c - 1) < (t[c - 1] >= 0xF0   ? 4u
                       : t[c - 1] >= 0xE0 ? 3u
                                          : 2u))
        h = c - 1;
    /* the last word, or the part of it where a value may start */
    size_t k = n;
    while (k > 0 && !is_sp(t[k - 1]))
        k--;
    if (k < n) {
        size_t w = word_hold(o, t, k, n);
        h = w < h ? w : h;
    }
    /* a run of digits and separators ending where the held part starts */
    size_t j = h, l;
    bool digit = false;
    while (j > 0 && h - j < 64 && (l = run_char_before(t, j, &digit)))
        j -= l;
    if (digit && j > 0 && ((t[j - 1] | 0x20) >= 'a' && (t[j - 1] | 0x20) <= 'z')) {
        /* digits glued to a word ("w0", "v2") are part of that word: the run proper
         * starts after them */
        while (j < h && t[j] >= '0' && t[j] <= '9')
            j++;
        digit = false;
        for (size_t i = j; i < h && !digit; i++)
            digit =
                (t[i] >= '0' && t[i] <= '9') || (i + 2 < h && t[i] == 0xEF && t[i + 1] == 0xBC &&
                                                 t[i + 2] >= 0x90 && t[i + 2] <= 0x99);
    }
    if (digit) {
        while (j < h && is_sp(t[j]))
            j++;
        h = j;
    }
    /* a PEM block is held whole until its END line is complete, and never cut: a held
     * part that would start inside it starts at its BEGIN */
    const unsigned char *b = NULL;
    for (const unsigned char *p = t; (p = memmem(p, (size_t)(t + n - p), "-----BEGIN", 10));
         p += 10)
        b = p;
    if (b) {
        size_t end = n; /* the end of the block: its END line's closing dashes */
        const unsigned char *e = memmem(b, (size_t)(t + n - b), "-----END", 8);
        const unsigned char *d = e ? memmem(e + 8, (size_t)(t + n - e - 8), "-----", 5) : NULL;
        if (d)
            end = (size_t)(d + 5 - t);
        if (!d || h < end)
            h = h < (size_t)(b - t) ? h : (size_t)(b - t);
    }
    return h;
}

/* Scans `n` bytes at `seg` (after the context) and writes them, masked. */
static int scan_write(struct sg_outscan *o, const char *seg, size_t n, struct sg_buf *out)
{
    const char *all = seg;
    size_t alln = n;
    if (o->nctx) {
        sg_buf_reset(&o->tmp);
        if (sg_buf_append(&o->tmp, o->ctx, o->nctx) || sg_buf_append(&o->tmp, seg, n))
            return SG_ETOOBIG;
        all = o->tmp.data;
        alln = o->tmp.len;
    }
    sg_findings_reset(&o->f);
    int rc = sg_detect_types(o->r->det, o->sc, o->r->output_scan, all, alln, &o->f);
    if (rc)
        return rc;
    size_t at = 0; /* in segment coordinates */
    for (size_t i = 0; i < o->f.n; i++) {
        const struct sg_finding *x = &o->f.v[i];
        if (x->end <= o->nctx || !o->r->output_scan[x->type])
            continue;
        /* a value that began in text already passed on: mask at least the rest of it */
        size_t s = x->start > o->nctx ? x->start - o->nctx : 0, e = x->end - o->nctx;
        if (s < at || sg_vault_noted(o->v, x->type, seg + s, e - s))
            continue;
        if (sg_buf_append(out, seg + at, s - at) ||
            sg_buf_printf(out, "[%s]", sg_entity_name(o->r->det, x->type)))
            return SG_ETOOBIG;
        o->masked++;
        o->masked_type[x->type]++;
        at = e;
    }
    if (sg_buf_append(out, seg + at, n - at))
        return SG_ETOOBIG;
    /* keep the end of the scanned text as context for the next piece */
    size_t keep = alln < sizeof(o->ctx) ? alln : sizeof(o->ctx);
    memmove(o->ctx, all + alln - keep, keep);
    o->nctx = keep;
    return 0;
}

static int emit(struct sg_outscan *o, size_t n, struct sg_buf *out)
{
    int rc = scan_write(o, o->pending.data, n, out);
    if (!rc)
        sg_buf_consume(&o->pending, n);
    return rc;
}

int sg_outscan_text(struct sg_outscan *o, const char *text, size_t len, struct sg_buf *out)
{
    int rc = sg_outscan_finish(o, out);
    return rc ? rc : scan_write(o, text, len, out);
}

int sg_outscan_feed(struct sg_outscan *o, const char *text, size_t len, struct sg_buf *out)
{
    if (sg_buf_append(&o->pending, text, len))
        return SG_ETOOBIG;
    /* Working out the hold reads all that is held, so a long hold (a PEM block, a digit
     * run, one long word) is only looked at again once it has grown by a quarter: without
     * that, pieces of a few bytes made the scan cost the held length per piece (0.3 MB/s on
     * hostile answers in 4-byte pieces). Holding the pieces meanwhile is what the same
     * stream cut into larger pieces would do, so nothing more is passed on. */
    if (o->pending.len < o->next_check)
        return 0;
    size_t h = hold_point(o);
    if (o->pending.len - h > SG_OUTSCAN_MAX_HOLD)
        h = o->pending.len; /* held too long: it is what it is */
    int rc = h ? emit(o, h, out) : 0;
    size_t held = o->pending.len;
    o->next_check = held >= SG_OUTSCAN_LONG_HOLD ? held + held / 4 : 0;
    return rc;
}

int sg_outscan_finish(struct sg_outscan *o, struct sg_buf *out)
{
    return o->pending.len ? emit(o, o->pending.len, out) : 0;
}
