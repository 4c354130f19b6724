/* Structural detectors: e-mail addresses, URL credentials, numbers (cards, phones, IP
 * addresses, national IDs, dates of birth), letter-led identifiers (IBAN, VAT IDs, NINO,
 * codice fiscale, NIE), secrets and IPv6 addresses; normalization with an offset map;
 * overlap resolution. Names and addresses are in detect_names.c, custom detectors in
 * detect_custom.c. */
#include "redact/detect.h"
#include "core/utf8.h"
#include "redact/detect_int.h"
#include "redact/validate.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- character classes ---- */

#define L C_LOWER
#define U C_UPPER
#define D C_DIGIT
#define S C_SPACE
#define E C_EMAILC
#define H C_HIGH
#define H16 H, H, H, H, H, H, H, H, H, H, H, H, H, H, H, H
const unsigned char sg_ccls[256] = {
    0,   0,   0,   0,   0,   0,   0,   0,
    0,   S,   S,   0,   0,   S,   0,   0, /* 0x00 */
    0,   0,   0,   0,   0,   0,   0,   0,
    0,   0,   0,   0,   0,   0,   0,   0, /* 0x10 */
    S,   E,   0,   E,   E,   E,   E,   E,
    0,   0,   E,   E,   0,   E,   E,   E, /* space ! " # $ % & ' ( ) * + , - . / */
    D,   D,   D,   D,   D,   D,   D,   D,
    D,   D,   0,   0,   0,   E,   0,   E, /* 0-9 : ; < = > ? */
    0,   U,   U,   U,   U,   U,   U,   U,
    U,   U,   U,   U,   U,   U,   U,   U, /* @ A-O */
    U,   U,   U,   U,   U,   U,   U,   U,
    U,   U,   U,   0,   0,   0,   E,   E, /* P-Z [ \ ] ^ _ */
    E,   L,   L,   L,   L,   L,   L,   L,
    L,   L,   L,   L,   L,   L,   L,   L, /* ` a-o */
    L,   L,   L,   L,   L,   L,   L,   L,
    L,   L,   L,   E,   E,   E,   E,   0, /* p-z { | } ~ */
    H16, H16, H16, H16, H16, H16, H16, H16};
#undef L
#undef U
#undef D
#undef S
#undef E
#undef H
#undef H16

/* ---- findings ---- */

void sg_findings_init(struct sg_findings *f, size_t max)
{
    memset(f, 0, sizeof(*f));
    f->max = max;
}

void sg_findings_reset(struct sg_findings *f)
{
    f->n = 0;
    f->truncated = false;
}

void sg_findings_free(struct sg_findings *f)
{
    free(f->v);
    f->v = NULL;
    f->n = f->cap = 0;
}

static int findings_push(struct sg_findings *f, uint32_t start, uint32_t end, unsigned type)
{
    if (f->n >= f->max) {
        f->truncated = true;
        return 0;
    }
    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 32;
        if (cap > f->max)
            cap = f->max;
        struct sg_finding *v = realloc(f->v, cap * sizeof(*v));
        if (!v)
            return SG_ENOMEM;
        f->v = v;
        f->cap = cap;
    }
    f->v[f->n++] = (struct sg_finding){start, end, (uint16_t)type};
    return 0;
}

int sg_scan_add(struct scan *s, size_t start, size_t end, unsigned type)
{
    if (end <= start || end > s->n)
        return 0;
    return findings_push(s->raw, (uint32_t)start, (uint32_t)end, type);
}

bool sg_scan_context_before(const struct scan *s, size_t at, size_t window,
                            const char *const *words)
{
    size_t from = at > window ? at - window : 0;
    for (const char *const *w = words; *w; w++) {
        size_t wl = strlen(*w);
        if (wl > at - from)
            continue;
        /* Search the window for the word (bounded, case-insensitive). */
        for (size_t i = from; i + wl <= at; i++) {
            if (strncasecmp((const char *)s->t + i, *w, wl) == 0 &&
                (i == 0 || !sg_is_alpha(s->t[i - 1])))
                return true;
        }
    }
    return false;
}

/* ---- e-mail addresses and URL credentials ---- */

static bool email_local(unsigned char c)
{
    return sg_ccls[c] & (C_LOWER | C_UPPER | C_DIGIT | C_EMAILC);
}

static bool domain_char(unsigned char c)
{
    return sg_is_alnum(c) || c == '-' || c == '.';
}

static int scan_emails(struct scan *s)
{
    const unsigned char *t = s->t;
    size_t n = s->n;
    const unsigned char *p = t;
    while ((p = memchr(p, '@', (size_t)(t + n - p)))) {
        size_t at = (size_t)(p - t);
        p++;
        size_t a = at;
        while (a > 0 && at - a < 64 && email_local(t[a - 1]))
            a--;
        while (a < at && (t[a] == '.' || t[a] == '\'' || t[a] == '`' || t[a] == '*'))
            a++; /* quotes and dots that start a local part belong to the text around */
        if (a == at)
            continue;
        /* user:password@host is URL credentials, not an address */
        if (a > 0 && t[a - 1] == ':')
            continue;
        size_t b = at + 1;
        while (b < n && b - at < 254 && domain_char(t[b]))
            b++;
        while (b > at + 1 && (t[b - 1] == '.' || t[b - 1] == '-'))
            b--;
        if (sg_validate_email((const char *)t + a, b - a)) {
            int rc = sg_scan_add(s, a, b, SG_ENT_EMAIL);
            if (rc)
                return rc;
        }
    }
    return 0;
}

static int scan_url_credentials(struct scan *s)
{
    const unsigned char *t = s->t;
    size_t n = s->n;
    for (size_t i = 0; i + 3 < n; i++) {
        if (t[i] != ':' || t[i + 1] != '/' || t[i + 2] != '/')
            continue;
        size_t u = i + 3, k = u;
        while (k < n && k - u < 256 && t[k] != ':' && t[k] != '/' && t[k] != '@' &&
               !sg_is_space(t[k]))
            k++;
        if (k == u || k >= n || t[k] != ':')
            continue;
        size_t pw = k + 1, e = pw;
        while (e < n && e - pw < 256 && t[e] != '@' && t[e] != '/' && !sg_is_space(t[e]))
            e++;
        if (e == pw || e >= n || t[e] != '@')
            continue;
        int rc = sg_scan_add(s, u, e, SG_ENT_URL_CREDENTIALS);
        if (rc)
            return rc;
        i = e;
    }
    return 0;
}

/* ---- numbers ---- */

static const char *const birth_words[] = {
    "born",       "birth",         "dob",        "d.o.b",      "geboren",   "geburtsdatum",
    "geburtstag", "geb.",          "naissance",  "né le",      "née le",    "né",
    "née",        "nacido",        "nacida",     "nacimiento", "nato",      "nata",
    "nascita",    "geboortedatum", "geboren op", "birthday",   "birthdate", NULL};
static const char *const phone_words[] = {
    "tel",      "tel.",   "telefon",   "telephone", "téléphone", "teléfono", "telefono",
    "telefoon", "phone",  "mobile",    "mobil",     "mobiel",    "handy",    "cell",
    "portable", "móvil",  "cellulare", "call",      "fax",       "whatsapp", "rufnummer",
    "nummer",   "numéro", "número",    "numero",    NULL};
static const char *const ssn_words[] = {"ssn", "social security", NULL};
static const char *const bsn_words[] = {"bsn", "burgerservicenummer", "sofinummer", "sofi-nummer",
                                        NULL};
static const char *const steuer_words[] = {"steuer-id",
                                           "steuerid",
                                           "steuer-identifikation",
                                           "identifikationsnummer",
                                           "idnr",
                                           "steuernummer",
                                           "tin",
                                           NULL};
static const char *const version_words[] = {"version", "v",       "firmware", "release", "build",
                                            "versie",  "versión", "versione", NULL};

/* A number-like chunk: digits with single separators between groups. */
struct chunk {
    size_t start, end; /* [start, end) in the text */
    unsigned digits;
    unsigned groups;
    char seps[8]; /* distinct separators seen */
    unsigned nseps;
    bool plus, paren, dots_only;
    unsigned group_len[24];
};

static bool has_sep(const struct chunk *c, char sep)
{
    return memchr(c->seps, sep, c->nseps) != NULL;
}

/* Reads a chunk starting at `i` (a digit, '+' or '('). Separators: space, '-', '.', '/',
 * and parentheses around a group. */
static void read_chunk(const unsigned char *t, size_t n, size_t i, struct chunk *c)
{
    memset(c, 0, sizeof(*c));
    c->start = i;
    c->dots_only = true;
    size_t k = i;
    if (t[k] == '+') {
        c->plus = true;
        k++;
    }
    for (;;) {
        if (k < n && t[k] == '(') {
            c->paren = true;
            k++;
        }
        size_t g = k;
        while (k < n && sg_is_digit(t[k]) && k - g < 20)
            k++;
        if (k == g)
            break;
        if (c->groups < 24)
            c->group_len[c->groups] = (unsigned)(k - g);
        c->groups++;
        c->digits += (unsigned)(k - g);
        c->end = k;
        if (k < n && t[k] == ')') {
            k++;
            c->end = k;
        }
        if (c->digits > 40)
            break;
        /* a separator followed by a digit or '(' continues the chunk */
        if (k + 1 < n && (t[k] == ' ' || t[k] == '-' || t[k] == '.' || t[k] == '/') &&
            (sg_is_digit(t[k + 1]) || t[k + 1] == '(')) {
            if (!has_sep(c, (char)t[k]) && c->nseps < sizeof(c->seps))
                c->seps[c->nseps++] = (char)t[k];
            if (t[k] != '.')
                c->dots_only = false;
            k++;
            continue;
        }
        if (c->end == k && k < n && t[k] == ' ' && k + 2 < n && t[k + 1] == '(')
            continue;
        break;
    }
}

/* Copies the digits of a chunk into `out` (at most cap-1), NUL-terminated. */
static size_t chunk_digits(const unsigned char *t, const struct chunk *c, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t k = c->start; k < c->end && o + 1 < cap; k++)
        if (sg_is_digit(t[k]))
            out[o++] = (char)t[k];
    out[o] = '\0';
    return o;
}

static bool valid_date(int d, int m, int y)
{
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return y >= 1900 && y <= 2030 && m >= 1 && m <= 12 && d >= 1 && d <= mdays[m - 1];
}

/* dd.mm.yyyy, dd/mm/yyyy, dd-mm-yyyy, yyyy-mm-dd (also d.m.yyyy) */
static bool chunk_is_date(const struct chunk *c)
{
    if (c->groups != 3 || c->nseps != 1 || c->seps[0] == ' ' || c->plus || c->paren)
        return false;
    const unsigned *g = c->group_len;
    return (g[0] <= 2 && g[1] <= 2 && g[2] == 4) || (g[0] == 4 && g[1] <= 2 && g[2] <= 2);
}

static bool parse_date(const unsigned char *t, const struct chunk *c)
{
    int v[3] = {0, 0, 0}, gi = 0;
    for (size_t k = c->start; k < c->end && gi < 3; k++) {
        if (sg_is_digit(t[k]))
            v[gi] = v[gi] * 10 + (t[k] - '0');
        else
            gi++;
    }
    if (c->group_len[0] == 4)
        return valid_date(v[2], v[1], v[0]);
    return valid_date(v[0], v[1], v[2]) || valid_date(v[1], v[0], v[2]); /* US order too */
}

static int classify_chunk(struct scan *s, const struct chunk *c)
{
    const unsigned char *t = s->t;
    const char *p = (const char *)t + c->start;
    size_t len = c->end - c->start;
    char dig[48];
    size_t nd = chunk_digits(t, c, dig, sizeof(dig));

    /* IPv4 addresses (not software versions) */
    if (c->groups == 4 && c->dots_only && c->nseps == 1 && !c->plus && !c->paren) {
        if (sg_validate_ipv4(p, len)) {
            bool version = (c->start > 0 && (t[c->start - 1] == 'v' || t[c->start - 1] == 'V')) ||
                           sg_scan_context_before(s, c->start, 20, version_words);
            return version ? 0 : sg_scan_add(s, c->start, c->end, SG_ENT_IP);
        }
        return 0;
    }
    /* dates: only in a birth context are they personal data */
    if (chunk_is_date(c)) {
        if (parse_date(t, c) && sg_scan_context_before(s, c->start, 40, birth_words))
            return sg_scan_add(s, c->start, c->end, SG_ENT_DATE_OF_BIRTH);
        return 0;
    }
    /* payment cards */
    if (nd >= 13 && nd <= 19 && !c->plus && !c->paren && sg_validate_card(p, len))
        return sg_scan_add(s, c->start, c->end, SG_ENT_CARD);
    /* national IDs with their own checksums or formats */
    if (nd == 9 && !c->plus && !c->paren) {
        bool dashed = c->groups == 3 && c->group_len[0] == 3 && c->group_len[1] == 2 &&
                      c->group_len[2] == 4 && c->nseps == 1 && c->seps[0] == '-';
        if ((dashed || sg_scan_context_before(s, c->start, 40, ssn_words)) &&
            sg_validate_us_ssn(p, len))
            return sg_scan_add(s, c->start, c->end, SG_ENT_NATIONAL_ID);
        if (sg_scan_context_before(s, c->start, 40, bsn_words) && sg_validate_nl_bsn(p, len))
            return sg_scan_add(s, c->start, c->end, SG_ENT_NATIONAL_ID);
    }
    if (nd == 11 && !c->plus && !c->paren) {
        bool spaced = c->groups == 4 && c->group_len[0] == 2 && c->group_len[1] == 3;
        if ((spaced || sg_scan_context_before(s, c->start, 40, steuer_words)) &&
            sg_validate_de_steuerid(p, len))
            return sg_scan_add(s, c->start, c->end, SG_ENT_NATIONAL_ID);
    }
    if (nd == 15 && !c->plus && !c->paren && sg_validate_fr_nir(p, len))
        return sg_scan_add(s, c->start, c->end, SG_ENT_NATIONAL_ID);
    /* phone numbers */
    bool intl = c->plus || (nd > 2 && dig[0] == '0' && dig[1] == '0');
    bool national = dig[0] == '0' && dig[1] != '0';
    bool us = !intl && c->groups >= 3 && nd == 10 && dig[0] >= '2' &&
              ((c->paren && c->group_len[0] == 3) ||
               (c->group_len[0] == 3 && c->group_len[1] == 3 && c->group_len[2] == 4));
    bool grouped = c->groups >= 2 || c->paren;
    bool context = sg_scan_context_before(s, c->start, 24, phone_words);
    size_t cc = intl ? (c->plus ? 0 : 2) : 0; /* digits of the 00 prefix */
    size_t real = nd - cc;
    if ((intl && real >= 8 && real <= 15) || (national && grouped && nd >= 9 && nd <= 13) || us ||
        (context && nd >= 7 && nd <= 15)) {
        if (c->start > 0 && t[c->start - 1] == '#')
            return 0; /* "#0123 456" is a reference, not a phone */
        return sg_scan_add(s, c->start, c->end, SG_ENT_PHONE);
    }
    return 0;
}

/* A DNI: eight digits and the control letter (optionally after a space or dash). */
static int try_dni(struct scan *s, const struct chunk *c)
{
    const unsigned char *t = s->t;
    size_t e = c->end;
    if (c->digits != 8 || c->groups != 1 || c->plus || c->paren)
        return 0;
    size_t k = e;
    if (k < s->n && (t[k] == '-' || t[k] == ' '))
        k++;
    if (k < s->n && sg_is_upper(t[k]) && (k + 1 >= s->n || !sg_is_alnum(t[k + 1])) &&
        sg_validate_es_dni((const char *)t + c->start, k + 1 - c->start))
        return sg_scan_add(s, c->start, k + 1, SG_ENT_NATIONAL_ID);
    return 0;
}

static int scan_numbers(struct scan *s)
{
    const unsigned char *t = s->t;
    size_t n = s->n;
    size_t i = 0;
    while (i < n) {
        unsigned char ch = t[i];
        bool start =
            sg_is_digit(ch) || ((ch == '+' || ch == '(') && i + 1 < n && sg_is_digit(t[i + 1]));
        if (!start || (i > 0 && (sg_is_alnum(t[i - 1]) || t[i - 1] == '.' || t[i - 1] == '_' ||
                                 t[i - 1] == '/' || t[i - 1] == '-'))) {
            i++;
            continue;
        }
        struct chunk c;
        read_chunk(t, n, i, &c);
        if (c.digits == 0) {
            i++;
            continue;
        }
        /* A chunk glued to a letter is an identifier (SKU, tracking number): skip it,
         * except the DNI shape "12345678Z". */
        bool glued = c.end < n && (sg_is_alpha(t[c.end]) || t[c.end] == '_');
        int rc = glued ? try_dni(s, &c) : classify_chunk(s, &c);
        if (!glued && !rc && c.digits == 8)
            rc = try_dni(s, &c);
        if (rc)
            return rc;
        i = c.end > i ? c.end : i + 1;
    }
    return 0;
}

/* ---- letter-led identifiers ---- */

static size_t alnum_run(const unsigned char *t, size_t n, size_t i, size_t max)
{
    size_t k = i;
    while (k < n && k - i < max && (sg_is_upper(t[k]) || sg_is_digit(t[k])))
        k++;
    return k - i;
}

/* IBAN: two letters, two check digits, then the BBAN, compact or in groups of four. The
 * span ends where the country's IBAN length is reached. */
static size_t try_iban(const unsigned char *t, size_t n, size_t i)
{
    if (i + 4 > n || !sg_is_upper(t[i]) || !sg_is_upper(t[i + 1]) || !sg_is_digit(t[i + 2]) ||
        !sg_is_digit(t[i + 3]))
        return 0;
    /* Collect up to 34 alphanumerics allowing single spaces between groups. */
    size_t k = i, chars = 0, best = 0;
    while (k < n && chars < 34) {
        if (sg_is_upper(t[k]) || sg_is_digit(t[k]) || (t[k] >= 'a' && t[k] <= 'z' && chars >= 4)) {
            chars++;
            k++;
            if (chars >= 15 && (k >= n || !sg_is_alnum(t[k])) &&
                sg_validate_iban((const char *)t + i, k - i))
                best = k;
            continue;
        }
        if (t[k] == ' ' && k + 1 < n && sg_is_alnum(t[k + 1]) && chars % 4 == 0) {
            k++;
            continue;
        }
        break;
    }
    return best > i ? best - i : 0;
}

static const char *const vat_prefixes[] = {
    "AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "EL", "GR", "ES", "FI", "FR", "HR", "HU", "IE",
    "IT", "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK", "XI", "GB", NULL};

static size_t try_vat(const unsigned char *t, size_t n, size_t i)
{
    if (i + 10 > n)
        return 0;
    bool known = false;
    for (const char *const *p = vat_prefixes; *p && !known; p++)
        known = t[i] == (unsigned char)(*p)[0] && t[i + 1] == (unsigned char)(*p)[1];
    if (!known)
        return 0;
    /* prefix, an optional space, then up to 14 characters with single separators */
    size_t k = i + 2;
    if (k < n && t[k] == ' ')
        k++;
    size_t best = 0, chars = 0;
    while (k < n && chars < 14) {
        if (sg_is_upper(t[k]) || sg_is_digit(t[k])) {
            k++;
            chars++;
            if (chars >= 8 && (k >= n || !sg_is_alnum(t[k])) &&
                sg_validate_eu_vat((const char *)t + i, k - i))
                best = k;
            continue;
        }
        if ((t[k] == ' ' || t[k] == '.' || t[k] == '-') && k + 1 < n && sg_is_alnum(t[k + 1])) {
            k++;
            continue;
        }
        break;
    }
    return best > i ? best - i : 0;
}

/* NINO: two letters, six digits (optionally in pairs), a suffix A-D. */
static size_t try_nino(const unsigned char *t, size_t n, size_t i)
{
    size_t k = i, o = 0;
    while (k < n && o < 9 && k - i < 14) {
        if (sg_is_upper(t[k]) || sg_is_digit(t[k]))
            o++;
        else if (t[k] != ' ')
            break;
        k++;
    }
    while (k > i && t[k - 1] == ' ')
        k--;
    if (o != 9 || (k < n && sg_is_alnum(t[k])))
        return 0;
    return sg_validate_uk_nino((const char *)t + i, k - i) ? k - i : 0;
}

static int scan_letter_ids(struct scan *s)
{
    const unsigned char *t = s->t;
    size_t n = s->n;
    for (size_t i = 0; i + 8 < n; i++) {
        if (!sg_is_upper(t[i]) || (i > 0 && (sg_is_alnum(t[i - 1]) || t[i - 1] == '_')))
            continue;
        size_t m;
        int rc = 0;
        if ((m = try_iban(t, n, i)))
            rc = sg_scan_add(s, i, i + m, SG_ENT_IBAN);
        else if ((m = try_vat(t, n, i)))
            rc = sg_scan_add(s, i, i + m, SG_ENT_VAT_ID);
        else if ((m = try_nino(t, n, i)))
            rc = sg_scan_add(s, i, i + m, SG_ENT_NATIONAL_ID);
        else if ((m = alnum_run(t, n, i, 17)) == 16 && sg_validate_it_cf((const char *)t + i, 16))
            rc = sg_scan_add(s, i, i + 16, SG_ENT_NATIONAL_ID);
        else if ((t[i] == 'X' || t[i] == 'Y' || t[i] == 'Z')) {
            size_t k = i + 1;
            if (k < n && (t[k] == '-' || t[k] == ' '))
                k++;
            size_t d = k;
            while (k < n && sg_is_digit(t[k]) && k - d < 8)
                k++;
            if (k - d == 7) {
                if (k < n && (t[k] == '-' || t[k] == ' '))
                    k++;
                if (k < n && sg_is_upper(t[k]) && (k + 1 >= n || !sg_is_alnum(t[k + 1])) &&
                    sg_validate_es_nie((const char *)t + i, k + 1 - i)) {
                    m = k + 1 - i;
                    rc = sg_scan_add(s, i, k + 1, SG_ENT_NATIONAL_ID);
                }
            }
        }
        if (rc)
            return rc;
        if (m)
            i += m - 1;
    }
    return 0;
}

/* ---- secrets ---- */

static bool tokc(unsigned char c)
{
    return sg_is_alnum(c) || c == '-' || c == '_';
}

static size_t token_len(const unsigned char *t, size_t n, size_t i, size_t max)
{
    size_t k = i;
    while (k < n && k - i < max && tokc(t[k]) && t[k] < 0x80)
        k++;
    return k - i;
}

struct secret_prefix {
    const char *prefix;
    size_t min; /* length of the whole token, prefix included */
};

static const struct secret_prefix secret_prefixes[] = {
    {"sk-ant-", 40},     {"sk-proj-", 40}, {"sk-", 32},      {"sk_live_", 24},
    {"rk_live_", 24},    {"sk_test_", 24}, {"pk_live_", 24}, {"ghp_", 40},
    {"gho_", 40},        {"ghu_", 40},     {"ghs_", 40},     {"ghr_", 40},
    {"github_pat_", 50}, {"xoxb-", 30},    {"xoxp-", 30},    {"xoxa-", 30},
    {"xoxr-", 30},       {"glpat-", 26},   {"hf_", 34},      {"AKIA", 20},
    {"ASIA", 20},        {"AIza", 39},     {NULL, 0}};

static const char *const password_words[] = {"password",
                                             "passwort",
                                             "passwd",
                                             "pwd",
                                             "kennwort",
                                             "mot de passe",
                                             "contraseña",
                                             "wachtwoord",
                                             "secret_key",
                                             "secret",
                                             "api_key",
                                             "apikey",
                                             "aws_secret_access_key",
                                             "client_secret",
                                             "token",
                                             NULL};

/* A value after a password-like key: key[" ']? [:=] [" ']? value */
static size_t password_value(const unsigned char *t, size_t n, size_t i, size_t *vstart)
{
    size_t k = i;
    if (k < n && (t[k] == '"' || t[k] == '\''))
        k++;
    while (k < n && t[k] == ' ')
        k++;
    if (k >= n || (t[k] != ':' && t[k] != '='))
        return 0;
    k++;
    while (k < n && t[k] == ' ')
        k++;
    unsigned char quote = 0;
    if (k < n && (t[k] == '"' || t[k] == '\'')) {
        quote = t[k];
        k++;
    }
    size_t v = k;
    while (k < n && k - v < 256 && t[k] != '\n' && t[k] != '\r' &&
           (quote
                ? t[k] != quote
                : (!sg_is_space(t[k]) && t[k] != ',' && t[k] != ';' && t[k] != '}' && t[k] != '&')))
        k++;
    if (!quote)
        while (k > v && (t[k - 1] == '.' || t[k - 1] == ')'))
            k--;
    if (k - v < 4)
        return 0;
    *vstart = v;
    return k - v;
}

static int scan_secrets(struct scan *s)
{
    const unsigned char *t = s->t;
    size_t n = s->n;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = t[i];
        if (i > 0 && tokc(t[i - 1]))
            continue;
        int rc = 0;
        size_t m = 0;
        /* PEM private keys */
        if (c == '-' && n - i > 30 && memcmp(t + i, "-----BEGIN ", 11) == 0) {
            const unsigned char *hdr_end =
                memchr(t + i + 11, '\n', n - i - 11 < 80 ? n - i - 11 : 80);
            const char *kw = "PRIVATE KEY-----";
            size_t hl = hdr_end ? (size_t)(hdr_end - (t + i)) : 0;
            if (hl && memmem(t + i, hl, kw, strlen(kw))) {
                const unsigned char *end = memmem(t + i + hl, n - i - hl, "-----END ", 9);
                if (end) {
                    const unsigned char *close =
                        memmem(end + 9, (size_t)(t + n - end - 9), "-----", 5);
                    if (close) {
                        m = (size_t)(close + 5 - (t + i));
                        rc = sg_scan_add(s, i, i + m, SG_ENT_SECRET);
                    }
                }
            }
        } else if (c == 'e' && n - i > 20 && t[i + 1] == 'y' && t[i + 2] == 'J') {
            /* JWT: three base64url parts separated by dots */
            size_t a = token_len(t, n, i, 4096);
            if (a >= 10 && i + a < n && t[i + a] == '.') {
                size_t b = token_len(t, n, i + a + 1, 8192);
                if (b >= 4 && i + a + 1 + b < n && t[i + a + 1 + b] == '.') {
                    size_t c3 = token_len(t, n, i + a + b + 2, 4096);
                    if (c3 >= 10) {
                        m = a + b + c3 + 2;
                        rc = sg_scan_add(s, i, i + m, SG_ENT_SECRET);
                    }
                }
            }
        } else {
            for (const struct secret_prefix *p = secret_prefixes; p->prefix; p++) {
                size_t pl = strlen(p->prefix);
                if (c != (unsigned char)p->prefix[0] || n - i < p->min ||
                    memcmp(t + i, p->prefix, pl) != 0)
                    continue;
                size_t len = token_len(t, n, i, 512);
                if (len < p->min)
                    break;
                /* AWS key ids are exactly 20 upper-case alphanumerics */
                if ((p->prefix[0] == 'A' && p->prefix[1] != 'I') && len != 20)
                    break;
                m = len;
                rc = sg_scan_add(s, i, i + m, SG_ENT_SECRET);
                break;
            }
            /* passwords and keys named as such */
            if (!m && sg_is_alpha(c)) {
                for (const char *const *w = password_words; *w; w++) {
                    size_t wl = strlen(*w);
                    if (n - i < wl || strncasecmp((const char *)t + i, *w, wl) != 0)
                        continue;
                    size_t vs = 0, vl = password_value(t, n, i + wl, &vs);
                    if (vl) {
                        m = vs + vl - i;
                        rc = sg_scan_add(s, vs, vs + vl, SG_ENT_SECRET);
                    }
                    break;
                }
            }
        }
        if (rc)
            return rc;
        if (m)
            i += m - 1;
    }
    return 0;
}

/* ---- IPv6 ---- */

static bool ip6c(unsigned char c)
{
    return sg_is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == ':' ||
           c == '.';
}

static int scan_ipv6(struct scan *s)
{
    const unsigned char *t = s->t;
    size_t n = s->n;
    const unsigned char *p = t;
    while ((p = memchr(p, ':', (size_t)(t + n - p)))) {
        size_t i = (size_t)(p - t);
        size_t a = i, b = i;
        while (a > 0 && ip6c(t[a - 1]) && i - a < 45)
            a--;
        while (b < n && ip6c(t[b]) && b - i < 45)
            b++;
        while (b > a && (t[b - 1] == '.' || (t[b - 1] == ':' && !(b >= 2 && t[b - 2] == ':'))))
            b--;
        p = t + (b > i ? b : i + 1);
        if ((a > 0 && (sg_is_alnum(t[a - 1]) || t[a - 1] == '_')) ||
            (b < n && (sg_is_alnum(t[b]) || t[b] == '_')))
            continue;
        unsigned colons = 0;
        for (size_t k = a; k < b; k++)
            colons += t[k] == ':';
        if (colons >= 2 && b - a >= 3 && sg_validate_ipv6((const char *)t + a, b - a)) {
            int rc = sg_scan_add(s, a, b, SG_ENT_IP);
            if (rc)
                return rc;
        }
    }
    return 0;
}

/* ---- normalization ---- */

struct sg_detect_scratch {
    unsigned char *nt; /* normalized text */
    uint32_t *ostart;  /* per normalized byte: start of the original character */
    uint32_t *oend;    /* per normalized byte: end of the original character */
    size_t cap;
    struct sg_findings raw;
    hs_scratch_t *hs;
    uint64_t prepared; /* serial of the detector `hs` was last grown for */
};

/* Maps a code point to an ASCII look-alike, 0 to drop it, or -1 to keep it as it is. */
static int fold(uint32_t cp)
{
    if (cp >= 0xFF01 && cp <= 0xFF5E)
        return (int)(cp - 0xFEE0); /* full-width forms */
    switch (cp) {
    case 0x200B:
    case 0x200C:
    case 0x200D:
    case 0x2060:
    case 0xFEFF:
    case 0x00AD:
    case 0x180E:
        return 0; /* zero-width and soft hyphen */
    case 0x00A0:
    case 0x202F:
    case 0x2007:
    case 0x2009:
    case 0x2002:
    case 0x2003:
    case 0x2004:
    case 0x2005:
    case 0x2006:
    case 0x2008:
    case 0x200A:
    case 0x3000:
        return ' ';
    case 0x2010:
    case 0x2011:
    case 0x2012:
    case 0x2013:
    case 0x2014:
    case 0x2212:
        return '-';
    /* Cyrillic look-alikes */
    case 0x0430:
        return 'a';
    case 0x0435:
        return 'e';
    case 0x043E:
        return 'o';
    case 0x0440:
        return 'p';
    case 0x0441:
        return 'c';
    case 0x0443:
        return 'y';
    case 0x0445:
        return 'x';
    case 0x0456:
        return 'i';
    case 0x0458:
        return 'j';
    case 0x0455:
        return 's';
    case 0x0501:
        return 'd';
    case 0x04BB:
        return 'h';
    case 0x0410:
        return 'A';
    case 0x0412:
        return 'B';
    case 0x0415:
        return 'E';
    case 0x041A:
        return 'K';
    case 0x041C:
        return 'M';
    case 0x041D:
        return 'H';
    case 0x041E:
        return 'O';
    case 0x0420:
        return 'P';
    case 0x0421:
        return 'C';
    case 0x0422:
        return 'T';
    case 0x0425:
        return 'X';
    case 0x0406:
        return 'I';
    case 0x0408:
        return 'J';
    case 0x0405:
        return 'S';
    /* Greek look-alikes */
    case 0x03BF:
        return 'o';
    case 0x03B1:
        return 'a';
    case 0x03BD:
        return 'v';
    case 0x0391:
        return 'A';
    case 0x0392:
        return 'B';
    case 0x0395:
        return 'E';
    case 0x0396:
        return 'Z';
    case 0x0397:
        return 'H';
    case 0x0399:
        return 'I';
    case 0x039A:
        return 'K';
    case 0x039C:
        return 'M';
    case 0x039D:
        return 'N';
    case 0x039F:
        return 'O';
    case 0x03A1:
        return 'P';
    case 0x03A4:
        return 'T';
    case 0x03A5:
        return 'Y';
    case 0x03A7:
        return 'X';
    default:
        return -1;
    }
}

static uint32_t decode(const unsigned char *p, size_t l)
{
    if (l == 2)
        return (uint32_t)(p[0] & 0x1F) << 6 | (p[1] & 0x3F);
    if (l == 3)
        return (uint32_t)(p[0] & 0x0F) << 12 | (uint32_t)(p[1] & 0x3F) << 6 | (p[2] & 0x3F);
    return (uint32_t)(p[0] & 0x07) << 18 | (uint32_t)(p[1] & 0x3F) << 12 |
           (uint32_t)(p[2] & 0x3F) << 6 | (p[3] & 0x3F);
}

static int grow(struct sg_detect_scratch *s, size_t n)
{
    if (n <= s->cap)
        return 0;
    unsigned char *nt = realloc(s->nt, n);
    if (nt)
        s->nt = nt;
    uint32_t *a = realloc(s->ostart, n * sizeof(uint32_t));
    if (a)
        s->ostart = a;
    uint32_t *b = realloc(s->oend, n * sizeof(uint32_t));
    if (b)
        s->oend = b;
    if (!nt || !a || !b)
        return SG_ENOMEM;
    s->cap = n;
    return 0;
}

/* Normalizes `text` into the scratch; returns the normalized length, or (size_t)-1. */
static size_t normalize(struct sg_detect_scratch *s, const unsigned char *t, size_t n)
{
    if (grow(s, n + 1) != 0)
        return (size_t)-1;
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        if (t[i] < 0x80) {
            s->nt[o] = t[i];
            s->ostart[o] = (uint32_t)i;
            s->oend[o] = (uint32_t)(i + 1);
            o++;
            i++;
            continue;
        }
        size_t l = sg_utf8_char_len(t + i, n - i);
        int f = l ? fold(decode(t + i, l)) : -1;
        if (!l)
            l = 1;
        if (f == 0) {
            i += l;
            continue;
        }
        if (f > 0) {
            s->nt[o] = (unsigned char)f;
            s->ostart[o] = (uint32_t)i;
            s->oend[o] = (uint32_t)(i + l);
            o++;
        } else {
            for (size_t k = 0; k < l; k++, o++) {
                s->nt[o] = t[i + k];
                s->ostart[o] = (uint32_t)i;
                s->oend[o] = (uint32_t)(i + l);
            }
        }
        i += l;
    }
    return o;
}

/* ---- detector objects, resolution and the entry point ---- */

static const char *const builtin_names[SG_ENT_BUILTIN] = {
    "EMAIL",           "PHONE",         "CARD",   "IBAN",   "IP",
    "URL_CREDENTIALS", "NATIONAL_ID",   "VAT_ID", "SECRET", "PERSON",
    "ADDRESS",         "DATE_OF_BIRTH", "FIELD"};

const char *sg_entity_name(const struct sg_detector *d, unsigned type)
{
    if (type < SG_ENT_BUILTIN)
        return builtin_names[type];
    if (d && type >= SG_ENT_CUSTOM && type - SG_ENT_CUSTOM < d->ncustom)
        return d->names[type - SG_ENT_CUSTOM];
    return "UNKNOWN";
}

int sg_entity_lookup(const struct sg_detector *d, const char *name)
{
    for (unsigned i = 0; i < SG_ENT_BUILTIN; i++)
        if (strcmp(builtin_names[i], name) == 0)
            return (int)i;
    for (unsigned i = 0; d && i < d->ncustom; i++)
        if (strcmp(d->names[i], name) == 0)
            return (int)(SG_ENT_CUSTOM + i);
    return -1;
}

unsigned sg_detector_ntypes(const struct sg_detector *d)
{
    return SG_ENT_CUSTOM + (d ? d->ncustom : 0);
}

/* Which of two overlapping types is more specific (lower wins). */
static int rank(unsigned type)
{
    static const int r[SG_ENT_BUILTIN] = {[SG_ENT_SECRET] = 0,      [SG_ENT_URL_CREDENTIALS] = 1,
                                          [SG_ENT_CARD] = 2,        [SG_ENT_IBAN] = 3,
                                          [SG_ENT_NATIONAL_ID] = 4, [SG_ENT_VAT_ID] = 5,
                                          [SG_ENT_EMAIL] = 6,       [SG_ENT_IP] = 7,
                                          [SG_ENT_PHONE] = 8,       [SG_ENT_DATE_OF_BIRTH] = 9,
                                          [SG_ENT_ADDRESS] = 10,    [SG_ENT_PERSON] = 11,
                                          [SG_ENT_FIELD] = 12};
    return type < SG_ENT_BUILTIN ? r[type] : 13;
}

static int cmp_finding(const void *a, const void *b)
{
    const struct sg_finding *x = a, *y = b;
    if (x->start != y->start)
        return x->start < y->start ? -1 : 1;
    if (x->end != y->end)
        return x->end > y->end ? -1 : 1; /* longer first */
    return rank(x->type) - rank(y->type);
}

/* Better of two overlapping findings: the longer, then the more specific. */
static bool better(const struct sg_finding *a, const struct sg_finding *b)
{
    uint32_t la = a->end - a->start, lb = b->end - b->start;
    if (la != lb)
        return la > lb;
    return rank(a->type) < rank(b->type);
}

struct sg_detect_scratch *sg_detect_scratch_new(const struct sg_detector *d)
{
    struct sg_detect_scratch *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    sg_findings_init(&s->raw, 1u << 20);
    if (d && d->db) {
        if (hs_alloc_scratch(d->db, &s->hs) != HS_SUCCESS) {
            free(s);
            return NULL;
        }
        s->prepared = d->serial;
    }
    return s;
}

void sg_detect_scratch_free(struct sg_detect_scratch *s)
{
    if (!s)
        return;
    free(s->nt);
    free(s->ostart);
    free(s->oend);
    sg_findings_free(&s->raw);
    if (s->hs)
        hs_free_scratch(s->hs);
    free(s);
}

int sg_detect(const struct sg_detector *d, struct sg_detect_scratch *sc, const char *text,
              size_t len, struct sg_findings *out)
{
    const unsigned char *t = (const unsigned char *)text;
    if (len > UINT32_MAX)
        return SG_ETOOBIG;
    bool ascii = true;
    for (size_t i = 0; i < len && ascii; i++)
        ascii = t[i] < 0x80;
    struct scan s = {t, len, &sc->raw};
    if (!ascii) {
        size_t nl = normalize(sc, t, len);
        if (nl == (size_t)-1)
            return SG_ENOMEM;
        s.t = sc->nt;
        s.n = nl;
    }
    sg_findings_reset(&sc->raw);
    int rc = scan_secrets(&s);
    rc = rc ? rc : scan_url_credentials(&s);
    rc = rc ? rc : scan_emails(&s);
    rc = rc ? rc : scan_numbers(&s);
    rc = rc ? rc : scan_letter_ids(&s);
    rc = rc ? rc : scan_ipv6(&s);
    rc = rc ? rc : sg_detect_addresses(&s);
    rc = rc ? rc : sg_detect_names(&s);
    rc = rc ? rc : sg_detect_fields(d, &s);
    if (!rc && d && d->db) {
        /* A scratch serves every detector (a reload makes a new one): grow it when this
         * detector has not been seen since. */
        if (sc->prepared != d->serial) {
            if (hs_alloc_scratch(d->db, &sc->hs) != HS_SUCCESS)
                return SG_ENOMEM;
            sc->prepared = d->serial;
        }
        rc = sg_detect_custom(d, &s, sc->hs);
    }
    if (rc)
        return rc;
    /* Resolve overlaps: sweep in start order keeping the better of overlapping ones. */
    struct sg_findings *raw = &sc->raw;
    if (raw->n > 1) /* qsort's pointer must not be NULL, even for nothing */
        qsort(raw->v, raw->n, sizeof(*raw->v), cmp_finding);
    size_t kept = 0;
    for (size_t i = 0; i < raw->n; i++) {
        struct sg_finding *f = &raw->v[i];
        if (kept && f->start < raw->v[kept - 1].end) {
            if (better(f, &raw->v[kept - 1]))
                raw->v[kept - 1] = *f;
            continue;
        }
        raw->v[kept++] = *f;
    }
    for (size_t i = 0; i < kept; i++) {
        struct sg_finding f = raw->v[i];
        if (!ascii) {
            uint32_t a = sc->ostart[f.start], b = sc->oend[f.end - 1];
            f.start = a;
            f.end = b;
        }
        if ((rc = findings_push(out, f.start, f.end, f.type)))
            return rc;
    }
    out->truncated |= raw->truncated;
    return 0;
}
