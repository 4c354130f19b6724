/* Detector objects and custom detectors: every custom regular expression and dictionary
 * term of the configuration is compiled into ONE Hyperscan database (block mode, leftmost
 * start of match), scanned in one pass over the (normalized) text. Patterns work on bytes
 * (no HS_FLAG_UTF8: its behaviour on invalid UTF-8 input is undefined), so case-insensitive
 * matching folds ASCII letters only. */
#include "redact/detect_int.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Whether a byte is a word character of Hyperscan's \b (patterns work on bytes: ASCII
 * letters, digits and '_'; a UTF-8 letter such as 'Ä' is not one). */
static bool word_byte(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

/* Escapes a dictionary term for Hyperscan and puts a word boundary at each end that is a
 * word character, so "Adler" is not found in "Adlerhorst". An end that is no word
 * character gets none: \b there would demand a word character next to it, so a term that
 * begins or ends with 'Ä', a quote or a dot ("Ärztekammer Süd", "\"Falke\"", ".NET Pro")
 * would be found only glued to a letter or digit, that is almost never. Without it such a
 * term is also found inside a longer word ("Café" in "Cafés"): more masked, never less. */
static char *term_pattern(const char *term)
{
    size_t n = strlen(term);
    char *p = malloc(4 * n + 16);
    if (!p)
        return NULL;
    size_t o = 0;
    bool wb_start = n && word_byte((unsigned char)term[0]);
    bool wb_end = n && word_byte((unsigned char)term[n - 1]);
    if (wb_start) {
        memcpy(p, "\\b", 2);
        o = 2;
    }
    memcpy(p + o, "(?:", 3);
    o += 3;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)term[i];
        if (strchr("\\^$.|?*+()[]{}/-", c) && c) {
            p[o++] = '\\';
            p[o++] = (char)c;
        } else if (c == ' ') {
            memcpy(p + o, "\\s+", 3); /* any whitespace between words */
            o += 3;
        } else {
            p[o++] = (char)c;
        }
    }
    p[o++] = ')';
    if (wb_end) {
        memcpy(p + o, "\\b", 2);
        o += 2;
    }
    p[o] = '\0';
    return p;
}

void sg_detector_free(struct sg_detector *d)
{
    if (!d)
        return;
    for (unsigned i = 0; i < d->ncustom; i++)
        free(d->names[i]);
    free(d->names);
    free(d->fields);
    free(d->pattern_type);
    if (d->db)
        hs_free_database(d->db);
    free(d);
}

/* Custom type names are what surrogates start with: upper-case letters, digits and
 * underscores, at most 24 characters (SG_SURROGATE_HOLD counts on it). */
static bool type_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 24 || s[0] < 'A' || s[0] > 'Z')
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
            return false;
    return true;
}

int sg_detector_new(const struct sg_detector_opts *o, struct sg_detector **out,
                    struct sg_error *err)
{
    *out = NULL;
    const struct sg_custom_detector *custom = o ? o->custom : NULL;
    size_t ncustom = o ? o->ncustom : 0;
    for (size_t i = 0; i < ncustom; i++) {
        if (!type_name_ok(custom[i].name))
            return sg_error_set(err, SG_EINVAL,
                                "custom detector %.64s: a name is 1 to 24 of A-Z, 0-9 and _, "
                                "starting with a letter",
                                custom[i].name);
        if (sg_entity_lookup(NULL, custom[i].name) >= 0)
            return sg_error_set(err, SG_EINVAL, "custom detector %s: the name of a built-in type",
                                custom[i].name);
        for (size_t j = 0; j < i; j++)
            if (strcmp(custom[j].name, custom[i].name) == 0)
                return sg_error_set(err, SG_EINVAL, "custom detector %s: defined twice",
                                    custom[i].name);
        if (!custom[i].regex && !custom[i].nterms)
            return sg_error_set(err, SG_EINVAL, "custom detector %s: needs a regex or terms",
                                custom[i].name);
        for (size_t j = 0; j < custom[i].nterms; j++)
            if (!custom[i].terms[j][0])
                return sg_error_set(err, SG_EINVAL, "custom detector %s: an empty term",
                                    custom[i].name);
    }
    if (ncustom > SG_ENT_MAX - SG_ENT_CUSTOM)
        return sg_error_set(err, SG_ETOOBIG, "too many custom detectors (at most %d)",
                            SG_ENT_MAX - SG_ENT_CUSTOM);
    static atomic_uint_fast64_t serials = 1;
    struct sg_detector *d = calloc(1, sizeof(*d));
    if (!d)
        return sg_error_set(err, SG_ENOMEM, "out of memory");
    d->serial = atomic_fetch_add(&serials, 1);
    size_t npat = 0;
    for (size_t i = 0; i < ncustom; i++)
        npat += (custom[i].regex ? 1 : 0) + custom[i].nterms;
    d->names = calloc(ncustom ? ncustom : 1, sizeof(*d->names));
    d->pattern_type = calloc(npat ? npat : 1, sizeof(*d->pattern_type));
    char **exprs = calloc(npat ? npat : 1, sizeof(*exprs));
    unsigned *flags = calloc(npat ? npat : 1, sizeof(*flags));
    unsigned *ids = calloc(npat ? npat : 1, sizeof(*ids));
    unsigned *owner = calloc(npat ? npat : 1, sizeof(*owner));
    int rc = 0;
    if (!d->names || !d->pattern_type || !exprs || !flags || !ids || !owner) {
        rc = sg_error_set(err, SG_ENOMEM, "out of memory");
        goto done;
    }
    size_t k = 0;
    for (size_t i = 0; i < ncustom; i++) {
        if (!(d->names[i] = strdup(custom[i].name))) {
            rc = sg_error_set(err, SG_ENOMEM, "out of memory");
            goto done;
        }
        d->ncustom = (unsigned)i + 1;
        unsigned base = HS_FLAG_SOM_LEFTMOST | (custom[i].case_sensitive ? 0 : HS_FLAG_CASELESS);
        if (custom[i].regex) {
            exprs[k] = strdup(custom[i].regex);
            flags[k] = base;
            owner[k] = (unsigned)i;
            ids[k] = (unsigned)k;
            d->pattern_type[k] = SG_ENT_CUSTOM + (unsigned)i;
            if (!exprs[k++]) {
                rc = sg_error_set(err, SG_ENOMEM, "out of memory");
                goto done;
            }
        }
        for (size_t j = 0; j < custom[i].nterms; j++) {
            exprs[k] = term_pattern(custom[i].terms[j]);
            flags[k] = base;
            owner[k] = (unsigned)i;
            ids[k] = (unsigned)k;
            d->pattern_type[k] = SG_ENT_CUSTOM + (unsigned)i;
            if (!exprs[k++]) {
                rc = sg_error_set(err, SG_ENOMEM, "out of memory");
                goto done;
            }
        }
    }
    d->npatterns = (unsigned)npat;
    if (npat) {
        hs_compile_error_t *ce = NULL;
        if (hs_compile_multi((const char *const *)exprs, flags, ids, (unsigned)npat, HS_MODE_BLOCK,
                             NULL, &d->db, &ce) != HS_SUCCESS) {
            int which = ce && ce->expression >= 0 ? ce->expression : 0;
            rc = sg_error_set(err, SG_EINVAL, "custom detector %s: %s",
                              npat ? custom[owner[which]].name : "?",
                              ce && ce->message ? ce->message : "cannot compile");
            hs_free_compile_error(ce);
            d->db = NULL;
        }
    }
    if (!rc)
        rc = sg_fields_build(d, o ? o->fields : NULL, o ? o->nfields : 0, err);
done:
    for (size_t i = 0; exprs && i < npat; i++)
        free(exprs[i]);
    free(exprs);
    free(flags);
    free(ids);
    free(owner);
    if (rc) {
        sg_detector_free(d);
        return rc;
    }
    *out = d;
    return 0;
}

struct match_ctx {
    const struct sg_detector *d;
    struct scan *s;
    int rc;
};

static int on_match(unsigned id, unsigned long long from, unsigned long long to, unsigned flags,
                    void *arg)
{
    (void)flags;
    struct match_ctx *m = arg;
    if (id < m->d->npatterns && to > from)
        m->rc = sg_scan_add(m->s, (size_t)from, (size_t)to, m->d->pattern_type[id]);
    return m->rc ? 1 : 0;
}

int sg_detect_custom(const struct sg_detector *d, struct scan *s, hs_scratch_t *hs)
{
    if (!d->db || !hs)
        return 0;
    struct match_ctx m = {d, s, 0};
    if (s->n > UINT32_MAX)
        return SG_ETOOBIG;
    hs_error_t e = hs_scan(d->db, (const char *)s->t, (unsigned)s->n, 0, hs, on_match, &m);
    if (e != HS_SUCCESS && e != HS_SCAN_TERMINATED)
        return SG_EIO;
    return m.rc;
}
