/* Fuzz target: the redaction scanner and transform (sg_redact_text on the built-in
 * settings, sg_redaction_default), the restore (sg_restore, and the streaming
 * sg_restorer_* fed in fuzzer-chosen pieces) and the output scanner (sg_outscan_*, also
 * in pieces), on the input as one text.
 *
 * Invariants:
 * - findings are sorted, do not overlap, lie inside the text, have known types, and are
 *   the same when the text is scanned again with the same scratch;
 * - with every action set to pseudonymize, restoring the redacted text restores every
 *   finding and gives back the original byte for byte (unless the original itself
 *   already held a surrogate of the same vault, which restore cannot tell from one the
 *   transform wrote, held one value in two spellings, e.g. "Example.fr" and
 *   "example.fr", which share a surrogate that restores to the first, or a finding
 *   next to a word character or another finding, whose surrogate restore takes for
 *   part of a longer word), and the masking defaults find the same values;
 * - the streaming restorer, in pieces, writes exactly what sg_restore writes for the
 *   whole text, in both modes, and never holds more than SG_SURROGATE_HOLD bytes;
 * - the output scanner, whole or in pieces, only replaces values with "[TYPE]": with
 *   nothing masked its output is its input; it holds at most SG_OUTSCAN_MAX_HOLD bytes;
 *   chained with the restorer as the gateway does, it restores what the request carried. */
#include <ctype.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "redact/redaction.h"

#include "fuzz_util.h"

#define MAX_FINDINGS 4096
#define OUT_MAX (16u << 20)

static const uint8_t key[32] = "fuzz-key-0123456789abcdef-012345";

static struct sg_redaction *rd_all; /* every type pseudonymized */
static struct sg_redaction *rd_def; /* the default actions (mask restricted data) */
static struct sg_detect_scratch *sc;

static void init(void)
{
    struct sg_error err = {0};
    FUZZ_CHECK(sg_redaction_default(&rd_all, &err) == 0);
    FUZZ_CHECK(sg_redaction_default(&rd_def, &err) == 0);
    /* a fixed key: a crash found with one key reproduces with the same surrogates */
    memcpy(rd_all->key, key, sizeof(key));
    rd_all->keylen = sizeof(key);
    memcpy(rd_def->key, key, sizeof(key));
    rd_def->keylen = sizeof(key);
    for (unsigned t = 0; t < SG_ENT_MAX; t++)
        rd_all->actions[t] = SG_ACT_PSEUDONYMIZE;
    FUZZ_CHECK((sc = sg_detect_scratch_new(rd_all->det)));
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
    unsigned ntypes = sg_detector_ntypes(rd_all->det);
    FUZZ_CHECK(f->n <= f->max);
    for (size_t i = 0; i < f->n; i++) {
        const struct sg_finding *x = &f->v[i];
        FUZZ_CHECK(x->start < x->end && x->end <= len);
        FUZZ_CHECK(x->type < ntypes);
        if (i > 0)
            FUZZ_CHECK(f->v[i - 1].end <= x->start); /* sorted, not overlapping */
    }
}

/* The number of different (type, value) pairs among the findings: the vault entries that
 * pseudonymizing them makes when no two spellings share a canonical form. */
static size_t distinct_spellings(const struct sg_findings *f, const char *text)
{
    size_t n = 0;
    for (size_t i = 0; i < f->n; i++) {
        const struct sg_finding *x = &f->v[i];
        bool seen = false;
        for (size_t j = 0; j < i && !seen; j++) {
            const struct sg_finding *y = &f->v[j];
            seen = x->type == y->type && x->end - x->start == y->end - y->start &&
                   memcmp(text + x->start, text + y->start, x->end - x->start) == 0;
        }
        n += !seen;
    }
    return n;
}

static bool word_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

/* Whether a finding has a word character right before or after it, or another finding
 * right after it: its surrogate then reads as part of a longer word, which restore leaves
 * alone. */
static bool glued_finding(const struct sg_findings *f, const char *text, size_t len)
{
    for (size_t i = 0; i < f->n; i++) {
        const struct sg_finding *x = &f->v[i];
        if ((x->start > 0 && word_char(text[x->start - 1])) ||
            (x->end < len && word_char(text[x->end])) ||
            (i + 1 < f->n && f->v[i + 1].start == x->end))
            return true;
    }
    return false;
}

/* The streaming restorer on `text` in pieces cut like `like`: the same as sg_restore. */
static void check_stream_restore(const struct sg_vault *v, enum sg_restore_mode mode,
                                 const char *text, size_t len, const struct fuzz_split *like)
{
    struct sg_buf whole, streamed;
    sg_buf_init(&whole, OUT_MAX);
    sg_buf_init(&streamed, OUT_MAX);
    int n = sg_restore(v, mode, text, len, &whole);
    FUZZ_CHECK(n >= 0);
    struct sg_restorer r;
    sg_restorer_init(&r, v, mode);
    struct fuzz_split s;
    fuzz_split_init_like(&s, (const uint8_t *)text, len, like);
    const uint8_t *p;
    size_t pl;
    while ((p = fuzz_split_next(&s, &pl))) {
        FUZZ_CHECK(sg_restorer_feed(&r, (const char *)p, pl, &streamed) == 0);
        FUZZ_CHECK(r.pending.len <= SG_SURROGATE_HOLD);
    }
    FUZZ_CHECK(sg_restorer_finish(&r, &streamed) == 0);
    FUZZ_CHECK(r.pending.len == 0);
    if (r.restored != (unsigned)n || whole.len != streamed.len ||
        (whole.len && memcmp(whole.data, streamed.data, whole.len) != 0)) {
        fprintf(stderr,
                "streamed restore differs (mode %d, cut at 0x%02x and every %zu):\n"
                "  text:     %.*s\n  whole:    %.*s (%d restored)\n"
                "  streamed: %.*s (%u restored)\n",
                (int)mode, like->cut, like->step, (int)len, text, (int)whole.len,
                whole.data ? whole.data : "", n, (int)streamed.len,
                streamed.data ? streamed.data : "", r.restored);
        FUZZ_CHECK(!"the streaming restorer writes what sg_restore writes");
    }
    sg_restorer_free(&r);
    sg_buf_free(&whole);
    sg_buf_free(&streamed);
}

/* The longest placeholder: "[" + a type name (1 to 24 of A-Z, 0-9, _) + "]". */
#define PLACEHOLDER_MAX 26

/* True when `out` is `in` with some values replaced by "[TYPE]" (or exactly `in`). */
static bool only_masked(const char *in, size_t n, const char *out, size_t m, unsigned masked)
{
    if (!masked)
        return n == m && (!n || memcmp(in, out, n) == 0);
    /* the common prefix and suffix are untouched; what differs holds a placeholder */
    size_t a = 0;
    while (a < n && a < m && in[a] == out[a])
        a++;
    size_t b = 0;
    while (b < n - a && b < m - a && in[n - 1 - b] == out[m - 1 - b])
        b++;
    if (m <= a + b)
        return false;
    /* The placeholder's own brackets or letters may equal the bytes they replaced
     * ("[abc" masked to "[SECRET]" shares the '['): widen the differing part by the
     * longest placeholder on each side and look for a whole "[TYPE]" in it. */
    size_t lo = a > PLACEHOLDER_MAX ? a - PLACEHOLDER_MAX : 0;
    size_t hi = m - b + PLACEHOLDER_MAX < m ? m - b + PLACEHOLDER_MAX : m;
    for (size_t i = lo; i < hi; i++) {
        if (out[i] != '[')
            continue;
        size_t j = i + 1;
        while (j < hi &&
               (isupper((unsigned char)out[j]) || isdigit((unsigned char)out[j]) || out[j] == '_'))
            j++;
        if (j > i + 1 && j < hi && out[j] == ']' && j >= a && i < m - b)
            return true;
    }
    return false;
}

/* The output scanner on `text`, whole and in pieces cut like `like`, then (as the
 * gateway chains them) restored with `v`. */
static void check_outscan(const struct sg_redaction *rd, const struct sg_vault *v, const char *text,
                          size_t len, const struct fuzz_split *like)
{
    struct sg_buf whole, streamed, restored;
    sg_buf_init(&whole, OUT_MAX);
    sg_buf_init(&streamed, OUT_MAX);
    sg_buf_init(&restored, OUT_MAX);

    struct sg_outscan o;
    sg_outscan_init(&o, rd, sc, v);
    FUZZ_CHECK(sg_outscan_text(&o, text, len, &whole) == 0);
    if (!only_masked(text, len, whole.data, whole.len, o.masked)) {
        fprintf(stderr, "output scan changed more than it masked (%u masked):\n  in:  ", o.masked);
        fwrite(text, 1, len, stderr);
        fputs("\n  out: ", stderr);
        fwrite(whole.data ? whole.data : "", 1, whole.len, stderr);
        fputc('\n', stderr);
        FUZZ_CHECK(!"the output scanner only replaces values by placeholders");
    }
    sg_outscan_free(&o);

    struct sg_restorer r;
    sg_outscan_init(&o, rd, sc, v);
    sg_restorer_init(&r, v, SG_RESTORE_RAW);
    struct fuzz_split s;
    fuzz_split_init_like(&s, (const uint8_t *)text, len, like);
    const uint8_t *p;
    size_t pl;
    size_t fed = 0;
    while ((p = fuzz_split_next(&s, &pl))) {
        size_t before = streamed.len;
        FUZZ_CHECK(sg_outscan_feed(&o, (const char *)p, pl, &streamed) == 0);
        fed += pl;
        FUZZ_CHECK(o.pending.len <= SG_OUTSCAN_MAX_HOLD);
        FUZZ_CHECK(o.pending.len <= fed);
        FUZZ_CHECK(sg_restorer_feed(&r, streamed.data ? streamed.data + before : "",
                                    streamed.len - before, &restored) == 0);
    }
    size_t before = streamed.len;
    FUZZ_CHECK(sg_outscan_finish(&o, &streamed) == 0);
    FUZZ_CHECK(o.pending.len == 0);
    FUZZ_CHECK(sg_restorer_feed(&r, streamed.data ? streamed.data + before : "",
                                streamed.len - before, &restored) == 0);
    FUZZ_CHECK(sg_restorer_finish(&r, &restored) == 0);
    FUZZ_CHECK(only_masked(text, len, streamed.data, streamed.len, o.masked));
    /* what the scanner let through, restored in one piece: the same as streamed */
    struct sg_buf again;
    sg_buf_init(&again, OUT_MAX);
    FUZZ_CHECK(sg_restore(v, SG_RESTORE_RAW, streamed.data ? streamed.data : "", streamed.len,
                          &again) >= 0);
    FUZZ_CHECK(again.len == restored.len);
    FUZZ_CHECK(!again.len || memcmp(again.data, restored.data, again.len) == 0);
    sg_buf_free(&again);
    sg_restorer_free(&r);
    sg_outscan_free(&o);
    sg_buf_free(&whole);
    sg_buf_free(&streamed);
    sg_buf_free(&restored);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!rd_all)
        init();
    const char *text = (const char *)data;
    struct fuzz_split like;
    fuzz_split_init(&like, data, size);

    /* detection and pseudonymization of every finding */
    struct sg_vault *v = sg_redaction_vault(rd_all, 1u << 20);
    FUZZ_CHECK(v);
    struct sg_findings f;
    sg_findings_init(&f, MAX_FINDINGS);
    struct sg_buf red;
    sg_buf_init(&red, OUT_MAX);
    unsigned blocked = 0;
    int rc = sg_redact_text(rd_all, sc, v, text, size, &f, &red, &blocked);
    FUZZ_CHECK(rc == 0 || rc == SG_ETOOBIG);
    check_findings(&f, size);
    if (rc == 0) {
        /* scanning again gives the same findings (nothing left over in the scratch) */
        struct sg_findings g;
        sg_findings_init(&g, MAX_FINDINGS);
        FUZZ_CHECK(sg_detect(rd_all->det, sc, text, size, &g) == 0);
        FUZZ_CHECK(same_findings(&g, &f));
        sg_findings_free(&g);
        FUZZ_CHECK(sg_vault_count(v) <= f.n);
        /* restore gives back the original */
        struct sg_buf orig_restored, back;
        sg_buf_init(&orig_restored, OUT_MAX);
        sg_buf_init(&back, OUT_MAX);
        int in_orig = sg_restore(v, SG_RESTORE_RAW, text, size, &orig_restored);
        FUZZ_CHECK(in_orig >= 0);
        int n = sg_restore(v, SG_RESTORE_RAW, red.data ? red.data : "", red.len, &back);
        FUZZ_CHECK(n >= 0);
        /* The same value written differently (case, spaces, separators in a number) gets
         * one surrogate, which restores to its first spelling: the text comes back byte
         * for byte only when every spelling has its own vault entry. A surrogate that
         * touches a word character (or another surrogate) is "part of a longer word" and not
         * restored (docs/redaction.md), so only findings with other neighbours must come back. */
        bool glued = glued_finding(&f, text, size);
        bool exact = !glued && sg_vault_count(v) == distinct_spellings(&f, text);
        if (in_orig == 0) {
            if (exact && (back.len != size || (size && memcmp(back.data, text, size) != 0))) {
                fprintf(stderr,
                        "restore differs:\n  original: %.*s\n  redacted: %.*s\n"
                        "  restored: %.*s\n",
                        (int)size, text, (int)red.len, red.data ? red.data : "", (int)back.len,
                        back.data ? back.data : "");
                FUZZ_CHECK(!"restoring the pseudonymized text gives back the original");
            }
            FUZZ_CHECK(glued || (size_t)n == f.n);
        }
        sg_buf_free(&orig_restored);
        sg_buf_free(&back);
        /* streamed restore equals whole restore, in both modes */
        check_stream_restore(v, SG_RESTORE_RAW, red.data ? red.data : "", red.len, &like);
        check_stream_restore(v, SG_RESTORE_JSON, red.data ? red.data : "", red.len, &like);
        /* an answer that repeats the pseudonymized text, and one that repeats the input */
        check_outscan(rd_all, v, red.data ? red.data : "", red.len, &like);
        check_outscan(rd_all, v, text, size, &like);
    }
    sg_buf_free(&red);
    sg_vault_free(v);

    /* the default actions: the same findings; output scanning with no request vault */
    struct sg_vault *v2 = sg_redaction_vault(rd_def, 1u << 20);
    FUZZ_CHECK(v2);
    struct sg_findings f2;
    sg_findings_init(&f2, MAX_FINDINGS);
    struct sg_buf out2;
    sg_buf_init(&out2, OUT_MAX);
    int rc2 = sg_redact_text(rd_def, sc, v2, text, size, &f2, &out2, &blocked);
    FUZZ_CHECK(rc2 == rc);
    check_findings(&f2, size);
    /* detection does not depend on the actions */
    FUZZ_CHECK(same_findings(&f2, &f));
    if (rc2 == 0)
        check_outscan(rd_def, NULL, text, size, &like);
    sg_buf_free(&out2);
    sg_findings_free(&f2);
    sg_findings_free(&f);
    sg_vault_free(v2);
    return 0;
}
