/* Field-name detection: a value whose key or form-field name says what it is
 * ("billing_email": "...", billing_phone=..., customer_note: ...). Triggered by ':' and
 * '=' only; the key is read backwards from there (bounded), looked up in a sorted table,
 * and the value read forwards (bounded). */
#include "redact/detect_int.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* The built-in rules: WooCommerce order fields (also as post meta with a leading
 * underscore), WordPress user fields and the Cost of Goods plugin's cost prices. */
static const struct sg_field_rule builtin_fields[] = {{"billing_first_name", "PERSON"},
                                                      {"billing_last_name", "PERSON"},
                                                      {"billing_address_1", "ADDRESS"},
                                                      {"billing_address_2", "ADDRESS"},
                                                      {"billing_city", "ADDRESS"},
                                                      {"billing_postcode", "ADDRESS"},
                                                      {"billing_email", "EMAIL"},
                                                      {"billing_phone", "PHONE"},
                                                      {"billing_company", "FIELD"},
                                                      {"shipping_first_name", "PERSON"},
                                                      {"shipping_last_name", "PERSON"},
                                                      {"shipping_address_1", "ADDRESS"},
                                                      {"shipping_address_2", "ADDRESS"},
                                                      {"shipping_city", "ADDRESS"},
                                                      {"shipping_postcode", "ADDRESS"},
                                                      {"shipping_phone", "PHONE"},
                                                      {"shipping_company", "FIELD"},
                                                      {"customer_note", "FIELD"},
                                                      {"customer_ip_address", "IP"},
                                                      {"customer_user_agent", "FIELD"},
                                                      {"first_name", "PERSON"},
                                                      {"last_name", "PERSON"},
                                                      {"display_name", "PERSON"},
                                                      {"user_email", "EMAIL"},
                                                      {"user_pass", "SECRET"},
                                                      {"date_of_birth", "DATE_OF_BIRTH"},
                                                      {"birthdate", "DATE_OF_BIRTH"},
                                                      {"wc_cog_cost", "FIELD"},
                                                      {"wc_cog_item_cost", "FIELD"},
                                                      {"wc_cog_item_total_cost", "FIELD"},
                                                      {"wc_cog_order_total_cost", "FIELD"}};

#define MAX_KEY 64
#define MAX_QUOTED 4096
#define MAX_PLAIN 1024

/* The filter bit of a lower-case name of n bytes (n > 0). */
static unsigned filter_bit(const char *name, size_t n)
{
    return ((unsigned)n * 961u + (unsigned char)name[0] * 31u + (unsigned char)name[n - 1]) & 4095u;
}

static void filter_add(uint64_t *filter, const char *name)
{
    unsigned b = filter_bit(name, strlen(name));
    filter[b >> 6] |= 1ull << (b & 63);
}

static bool filter_has(const uint64_t *filter, unsigned b)
{
    return (filter[b >> 6] >> (b & 63)) & 1u;
}

static int field_cmp(const void *a, const void *b)
{
    const struct sg_field *x = a, *y = b;
    return strcmp(x->name, y->name);
}

int sg_fields_build(struct sg_detector *d, const struct sg_field_rule *extra, size_t nextra,
                    struct sg_error *err)
{
    size_t nb = sizeof(builtin_fields) / sizeof(builtin_fields[0]);
    d->fields = calloc(nb + nextra + 1, sizeof(*d->fields));
    if (!d->fields)
        return sg_error_set(err, SG_ENOMEM, "out of memory");
    size_t n = 0;
    for (size_t i = 0; i < nb + nextra; i++) {
        const struct sg_field_rule *r = i < nb ? &builtin_fields[i] : &extra[i - nb];
        size_t len = strlen(r->name);
        const char *name = r->name;
        if (len && name[0] == '_') { /* matched with and without the underscore anyway */
            name++;
            len--;
        }
        if (len == 0 || len > MAX_KEY)
            return sg_error_set(err, SG_EINVAL, "field %s: names are 1 to %d characters", r->name,
                                MAX_KEY);
        int type = -1;
        if (r->type && (type = sg_entity_lookup(d, r->type)) < 0)
            return sg_error_set(err, SG_EINVAL, "field %s: unknown type %s", r->name, r->type);
        char low[MAX_KEY + 1];
        for (size_t k = 0; k <= len; k++)
            low[k] = (char)(name[k] >= 'A' && name[k] <= 'Z' ? name[k] + 32 : name[k]);
        /* a later rule with the same name replaces the earlier one */
        size_t j = 0;
        while (j < n && strcmp(d->fields[j].name, low) != 0)
            j++;
        if (j == n)
            n++;
        memcpy(d->fields[j].name, low, len + 1);
        d->fields[j].type = type;
    }
    /* drop the rules turned off */
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (d->fields[i].type >= 0)
            d->fields[k++] = d->fields[i];
    d->nfields = k;
    qsort(d->fields, d->nfields, sizeof(*d->fields), field_cmp);
    for (size_t i = 0; i < d->nfields; i++)
        filter_add(d->field_filter, d->fields[i].name);
    return 0;
}

static bool key_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
}

static const struct sg_field *find(const struct sg_field *v, size_t nv, const struct sg_field *key)
{
    return nv ? bsearch(key, v, nv, sizeof(*key), field_cmp) : NULL;
}

static int lookup(const struct sg_detector *d, const struct sg_fieldset *extra,
                  const unsigned char *k, size_t n)
{
    if (n && k[0] == '_') {
        k++;
        n--;
    }
    if (n == 0 || n > MAX_KEY)
        return -1;
    char ends[2] = {(char)(k[0] >= 'A' && k[0] <= 'Z' ? k[0] + 32 : k[0]),
                    (char)(k[n - 1] >= 'A' && k[n - 1] <= 'Z' ? k[n - 1] + 32 : k[n - 1])};
    unsigned bit =
        ((unsigned)n * 961u + (unsigned char)ends[0] * 31u + (unsigned char)ends[1]) & 4095u;
    bool in_d = filter_has(d->field_filter, bit),
         in_extra = extra && filter_has(extra->filter, bit);
    if (!in_d && !in_extra)
        return -1;
    struct sg_field key = {.type = -1};
    for (size_t i = 0; i < n; i++)
        key.name[i] = (char)(k[i] >= 'A' && k[i] <= 'Z' ? k[i] + 32 : k[i]);
    key.name[n] = '\0';
    const struct sg_field *f = in_d ? find(d->fields, d->nfields, &key) : NULL;
    if (!f && in_extra)
        f = find(extra->v, extra->n, &key);
    return f ? f->type : -1;
}

void sg_fieldset_free(struct sg_fieldset *fs)
{
    if (fs) {
        free(fs->v);
        free(fs);
    }
}

int sg_fieldset_parse(const struct sg_detector *d, const char *spec, size_t len,
                      struct sg_fieldset **out, struct sg_error *err)
{
    *out = NULL;
    if (len > SG_FIELDSET_MAX_BYTES)
        return sg_error_set(err, SG_ETOOBIG, "more than %d bytes", SG_FIELDSET_MAX_BYTES);
    struct sg_fieldset *fs = calloc(1, sizeof(*fs));
    if (!fs || !(fs->v = calloc(SG_FIELDSET_MAX_RULES, sizeof(*fs->v)))) {
        sg_fieldset_free(fs);
        return sg_error_set(err, SG_ENOMEM, "out of memory");
    }
    int rc = 0;
    for (size_t at = 0; at < len && !rc;) {
        size_t e = at;
        while (e < len && spec[e] != ',')
            e++;
        /* one "name=TYPE", spaces around the parts allowed */
        size_t a = at, b = e;
        while (a < b && spec[a] == ' ')
            a++;
        while (b > a && spec[b - 1] == ' ')
            b--;
        const char *eq = memchr(spec + a, '=', b - a);
        size_t nl = eq ? (size_t)(eq - (spec + a)) : 0;
        while (nl && spec[a + nl - 1] == ' ')
            nl--;
        const char *name = spec + a;
        if (nl && name[0] == '_') {
            name++;
            nl--;
        }
        char type[32];
        size_t tl = 0;
        if (eq) {
            const char *tp = eq + 1;
            while (tp < spec + b && *tp == ' ')
                tp++;
            tl = (size_t)(spec + b - tp);
            if (tl < sizeof(type)) {
                memcpy(type, tp, tl);
                type[tl] = '\0';
            }
        }
        bool name_ok = nl > 0 && nl <= MAX_KEY;
        for (size_t i = 0; name_ok && i < nl; i++)
            name_ok = key_char((unsigned char)name[i]);
        int t = tl && tl < sizeof(type) ? sg_entity_lookup(d, type) : -1;
        if (b == a) {
            /* an empty item ("a=B,,c=D"): ignored */
        } else if (!eq || !name_ok) {
            rc = sg_error_set(err, SG_EINVAL,
                              "each item is name=TYPE with a name of 1 to %d of "
                              "A-Z a-z 0-9 _ -",
                              MAX_KEY);
        } else if (t < 0) {
            rc = sg_error_set(err, SG_EINVAL, "unknown entity type in a field rule");
        } else if (fs->n >= SG_FIELDSET_MAX_RULES) {
            rc = sg_error_set(err, SG_ETOOBIG, "more than %d field rules", SG_FIELDSET_MAX_RULES);
        } else {
            struct sg_field *f = &fs->v[fs->n++];
            for (size_t i = 0; i < nl; i++)
                f->name[i] = (char)(name[i] >= 'A' && name[i] <= 'Z' ? name[i] + 32 : name[i]);
            f->name[nl] = '\0';
            f->type = t;
        }
        at = e + 1;
    }
    if (rc) {
        sg_fieldset_free(fs);
        return rc;
    }
    qsort(fs->v, fs->n, sizeof(*fs->v), field_cmp);
    for (size_t i = 0; i < fs->n; i++)
        filter_add(fs->filter, fs->v[i].name);
    *out = fs;
    return 0;
}

/* Reads a quoted value starting after its opening quote at t[i]; `esc` when the quotes
 * are themselves escaped (\"). Returns the end (exclusive) or 0. */
static size_t quoted_end(const unsigned char *t, size_t n, size_t i, bool esc)
{
    for (size_t k = i; k < n && k - i < MAX_QUOTED; k++) {
        if (t[k] == '\\') {
            if (esc && k + 1 < n && t[k + 1] == '"')
                return k;
            if (!esc && k + 1 < n)
                k++; /* an escaped character */
            else if (esc && k + 2 < n && t[k + 1] == '\\')
                k += 2; /* \\\" or \\\\ inside escaped JSON */
            continue;
        }
        if (!esc && t[k] == '"')
            return k;
        if (t[k] == '\n')
            return 0;
    }
    return 0;
}

int sg_detect_fields(const struct sg_detector *d, const struct sg_fieldset *extra, struct scan *s)
{
    if (!d || (!d->nfields && (!extra || !extra->n)))
        return 0;
    const unsigned char *t = s->t;
    size_t n = s->n;
    for (size_t i = 1; i < n; i++) {
        i = sg_bm_next(s->kv, i, n); /* the next ':' or '=' */
        if (i >= n)
            break;
        unsigned char c = t[i];
        /* the key, backwards: optional spaces, an optional (escaped) quote */
        size_t j = i;
        while (j > 0 && i - j < 8 && (t[j - 1] == ' ' || t[j - 1] == '\t'))
            j--;
        bool quoted = false;
        if (j > 0 && (t[j - 1] == '"' || t[j - 1] == '\'')) {
            quoted = true;
            j--;
            if (j > 0 && t[j - 1] == '\\')
                j--;
        }
        size_t kend = j;
        while (j > 0 && kend - j <= MAX_KEY && key_char(t[j - 1]))
            j--;
        if (j == kend || kend - j > MAX_KEY || (j > 0 && key_char(t[j - 1])))
            continue;
        int type = lookup(d, extra, t + j, kend - j);
        if (type < 0)
            continue;
        /* the value */
        size_t v = i + 1;
        while (v < n && v - i < 8 && (t[v] == ' ' || t[v] == '\t'))
            v++;
        size_t vs, ve;
        unsigned escaped = 0; /* how many times the value's text is JSON-escaped */
        if (v < n && (t[v] == '"' || (t[v] == '\\' && v + 1 < n && t[v + 1] == '"'))) {
            bool esc = t[v] == '\\';
            escaped = esc ? 2 : 1;
            vs = v + (esc ? 2 : 1);
            ve = quoted_end(t, n, vs, esc);
            if (!ve)
                continue;
        } else if (v < n && t[v] == '\'' && !quoted) {
            vs = v + 1;
            ve = vs;
            while (ve < n && ve - vs < MAX_PLAIN && t[ve] != '\'' && t[ve] != '\n')
                ve++;
            if (ve >= n || t[ve] != '\'')
                continue;
        } else {
            vs = v;
            ve = v;
            if (c == '=') { /* form data */
                while (ve < n && ve - vs < MAX_PLAIN && t[ve] != '&' && !sg_is_space(t[ve]) &&
                       t[ve] != '"')
                    ve++;
            } else {
                while (ve < n && ve - vs < MAX_PLAIN && t[ve] != '\n' && t[ve] != '\r' &&
                       t[ve] != ',' && t[ve] != '}' && t[ve] != ']')
                    ve++;
                while (ve > vs && sg_is_space(t[ve - 1]))
                    ve--;
                if (ve - vs == 4 && memcmp(t + vs, "null", 4) == 0)
                    continue;
            }
        }
        if (ve > vs) {
            int rc = sg_scan_add_escaped(s, vs, ve, (unsigned)type, escaped);
            if (rc)
                return rc;
        }
        i = ve > i ? ve - 1 : i;
    }
    return 0;
}
