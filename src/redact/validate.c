/* Check-digit and format validators for the identifiers the redaction scanners look for
 * (payment cards, IBANs, national IDs, VAT numbers, IP addresses, e-mail addresses). A
 * scanner proposes a candidate; these functions decide whether it really is one. They are
 * pure, allocate nothing, never read outside the candidate, use no locale and no recursion,
 * and run in linear time: separators are first stripped into a small stack buffer whose
 * size bounds the work, so an over-long candidate is rejected after at most a few dozen
 * bytes. The algorithms and their sources are documented in validate.h; the VAT routines
 * follow the EU VIES validation routines as implemented (and tested against numbers found
 * in the wild) by python-stdnum. */
#include "redact/validate.h"

#include <stdint.h>
#include <string.h>

/* ---- character classes (ASCII only, no locale) ---- */

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool is_upper(char c)
{
    return c >= 'A' && c <= 'Z';
}

static bool is_lower(char c)
{
    return c >= 'a' && c <= 'z';
}

static bool is_alpha(char c)
{
    return is_upper(c) || is_lower(c);
}

static bool is_alnum(char c)
{
    return is_digit(c) || is_alpha(c);
}

static bool is_hex(char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static char to_upper(char c)
{
    return is_lower(c) ? (char)(c - 'a' + 'A') : c;
}

static unsigned dval(char c)
{
    return (unsigned)(c - '0');
}

static bool all_digits(const char *c, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (!is_digit(c[i]))
            return false;
    }
    return true;
}

/* True when no digit of c[0..len) is non-zero (letters are ignored). */
static bool digits_all_zero(const char *c, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (is_digit(c[i]) && c[i] != '0')
            return false;
    }
    return true;
}

static bool is_leap(unsigned year)
{
    return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

static unsigned days_in_month(unsigned year, unsigned month)
{
    static const unsigned char dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (month == 2 && is_leap(year))
        return 29;
    return dim[month - 1];
}

static bool valid_date(unsigned year, unsigned month, unsigned day)
{
    return month >= 1 && month <= 12 && day >= 1 && day <= days_in_month(year, month);
}

/* ---- separator stripping ---- */

/* Longest compact form any validator here accepts, plus room for the bit mask below. */
#define SG_VALIDATE_CMAX 63

struct compact {
    char c[SG_VALIDATE_CMAX + 1]; /* significant characters, separators removed */
    size_t len;
    uint64_t seps; /* bit p set: a separator stood before significant character p */
    char sep;      /* the first separator seen, 0 when none */
    bool mixed;    /* more than one separator character was used */
};

static uint64_t bitp(unsigned p)
{
    return (uint64_t)1 << p;
}

static bool is_sep(char ch, const char *seps)
{
    for (; *seps != '\0'; seps++) {
        if (ch == *seps)
            return true;
    }
    return false;
}

/* Copies the significant characters of s[0..n) into `out`, dropping runs of at most
 * `max_run` separators from `seps` that stand between two significant characters. Fails on a
 * NULL or empty input, a leading or trailing separator, a longer run, or more than `maxlen`
 * significant characters (which also bounds the bytes read to (max_run + 1) * maxlen). */
static bool compact_runs(const char *s, size_t n, const char *seps, size_t maxlen, unsigned max_run,
                         struct compact *out)
{
    out->len = 0;
    out->seps = 0;
    out->sep = 0;
    out->mixed = false;
    if (s == NULL || n == 0 || maxlen > SG_VALIDATE_CMAX)
        return false;
    bool prev_sep = true; /* forbids a leading separator */
    unsigned run = 0;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (is_sep(ch, seps)) {
            if (out->len == 0 || ++run > max_run)
                return false;
            prev_sep = true;
            if (out->sep == 0)
                out->sep = ch;
            else if (out->sep != ch)
                out->mixed = true;
            out->seps |= bitp((unsigned)out->len);
            continue;
        }
        if (out->len >= maxlen)
            return false;
        out->c[out->len++] = ch;
        prev_sep = false;
        run = 0;
    }
    return !prev_sep;
}

/* compact_runs() with single separators only: a doubled separator is rejected. */
static bool compact_input(const char *s, size_t n, const char *seps, size_t maxlen,
                          struct compact *out)
{
    return compact_runs(s, n, seps, maxlen, 1, out);
}

/* ---- shared check-digit schemes ---- */

/* Luhn (ISO/IEC 7812-1): from the right, every second digit is doubled (minus 9 if > 9);
 * the total must be a multiple of 10. `d` holds digits only. */
static bool luhn_ok(const char *d, size_t len)
{
    unsigned sum = 0;
    bool dbl = false;
    for (size_t i = len; i-- > 0;) {
        unsigned v = dval(d[i]);
        if (dbl) {
            v *= 2;
            if (v > 9)
                v -= 9;
        }
        sum += v;
        dbl = !dbl;
    }
    return sum % 10 == 0;
}

/* ISO 7064 MOD 11,10 (hybrid system) over digits including the trailing check digit. */
static bool mod11_10_ok(const char *d, size_t len)
{
    unsigned check = 5;
    for (size_t i = 0; i < len; i++)
        check = (((check != 0 ? check : 10) * 2) % 11 + dval(d[i])) % 10;
    return check == 1;
}

/* Value of c[0..len) (digits only) modulo m, computed digit by digit. */
static unsigned digits_mod(const char *c, size_t len, unsigned m)
{
    unsigned r = 0;
    for (size_t i = 0; i < len; i++)
        r = (r * 10 + dval(c[i])) % m;
    return r;
}

/* Value of c[0..len) (at most 9 digits) as an integer. */
static uint32_t digits_val(const char *c, size_t len)
{
    uint32_t v = 0;
    for (size_t i = 0; i < len; i++)
        v = v * 10 + dval(c[i]);
    return v;
}

/* Folds one alphanumeric character into an ISO 7064 MOD 97-10 remainder; letters count as
 * 10 (A) to 35 (Z). The remainder never exceeds 96, so r * 100 + 35 always fits. */
static unsigned mod97_step(unsigned r, char ch)
{
    if (is_digit(ch))
        return (r * 10 + dval(ch)) % 97;
    return (r * 100 + (unsigned)(to_upper(ch) - 'A' + 10)) % 97;
}

/* Weighted digit sum: sum of w[i] * c[i] for i < len. */
static unsigned wsum(const char *c, const unsigned char *w, size_t len)
{
    unsigned s = 0;
    for (size_t i = 0; i < len; i++)
        s += w[i] * dval(c[i]);
    return s;
}

/* ---- Luhn and payment cards ---- */

bool sg_validate_luhn(const char *s, size_t n)
{
    struct compact c;
    if (!compact_input(s, n, " -", 32, &c) || c.mixed || c.len < 2)
        return false;
    if (!all_digits(c.c, c.len) || digits_all_zero(c.c, c.len))
        return false;
    return luhn_ok(c.c, c.len);
}

#define SG_LENS(lo, hi) ((uint32_t)(((1u << ((hi) + 1)) - 1) & ~((1u << (lo)) - 1)))

struct card_range {
    uint16_t lo, hi;    /* prefix range, inclusive */
    unsigned char plen; /* number of leading digits the range applies to */
    uint32_t lens;      /* bit L set: L digits is a valid length */
};

static const struct card_range card_ranges[] = {
    {4, 4, 1, (1u << 13) | (1u << 16) | (1u << 19)}, /* Visa */
    {51, 55, 2, 1u << 16},                           /* Mastercard */
    {2221, 2720, 4, 1u << 16},                       /* Mastercard 2-series */
    {34, 34, 2, 1u << 15},                           /* American Express */
    {37, 37, 2, 1u << 15},                           /* American Express */
    {6011, 6011, 4, SG_LENS(16, 19)},                /* Discover */
    {644, 649, 3, SG_LENS(16, 19)},                  /* Discover */
    {65, 65, 2, SG_LENS(16, 19)},                    /* Discover */
    {3528, 3589, 4, SG_LENS(16, 19)},                /* JCB */
    {300, 305, 3, SG_LENS(14, 19)},                  /* Diners Club */
    {3095, 3095, 4, SG_LENS(14, 19)},                /* Diners Club */
    {36, 36, 2, SG_LENS(14, 19)},                    /* Diners Club */
    {38, 39, 2, SG_LENS(14, 19)},                    /* Diners Club */
    {62, 62, 2, SG_LENS(16, 19)},                    /* UnionPay */
    {2200, 2204, 4, SG_LENS(16, 19)},                /* Mir */
    {50, 50, 2, SG_LENS(13, 19)},                    /* Maestro */
    {56, 69, 2, SG_LENS(13, 19)},                    /* Maestro */
};

/* Separator layout of a card number: groups of four with a shorter (non-empty) last group,
 * or 4-6-5 / 4-6-4. */
static bool card_groups_ok(const struct compact *c)
{
    size_t glen[20];
    size_t ng = 0, start = 0;
    for (size_t p = 1; p <= c->len; p++) {
        if (p == c->len || (c->seps & bitp((unsigned)p))) {
            glen[ng++] = p - start;
            start = p;
        }
    }
    if (ng == 0)
        return false;
    if (ng == 3 && glen[0] == 4 && glen[1] == 6 && (glen[2] == 5 || glen[2] == 4))
        return true;
    for (size_t i = 0; i + 1 < ng; i++) {
        if (glen[i] != 4)
            return false;
    }
    return glen[ng - 1] >= 1 && glen[ng - 1] <= 4;
}

bool sg_validate_card(const char *s, size_t n)
{
    struct compact c;
    if (!compact_input(s, n, " -", 19, &c) || c.len < 13 || !all_digits(c.c, c.len))
        return false;
    if (c.seps != 0 && (c.mixed || !card_groups_ok(&c)))
        return false;
    if (!luhn_ok(c.c, c.len))
        return false;
    for (size_t i = 0; i < sizeof card_ranges / sizeof card_ranges[0]; i++) {
        const struct card_range *r = &card_ranges[i];
        uint32_t prefix = digits_val(c.c, r->plen);
        if (prefix >= r->lo && prefix <= r->hi && (r->lens & (1u << c.len)))
            return true;
    }
    return false;
}

/* ---- IBAN ---- */

/* The SWIFT IBAN registry: country, total IBAN length and the BBAN structure as runs of
 * <count><class> with n = digits, a = letters, c = alphanumerics. Generated from the
 * registry's text release (as shipped in python-stdnum's iban.dat, 89 countries). */
struct iban_country {
    char cc[3];
    unsigned char len;
    const char *bban;
};

static const struct iban_country iban_countries[] = {
    {"AD", 24, "8n12c"},    {"AE", 23, "19n"},      {"AL", 28, "8n16c"},    {"AT", 20, "16n"},
    {"AZ", 28, "4a20c"},    {"BA", 20, "16n"},      {"BE", 16, "12n"},      {"BG", 22, "4a6n8c"},
    {"BH", 22, "4a14c"},    {"BI", 27, "23n"},      {"BR", 29, "23n1a1c"},  {"BY", 28, "4c4n16c"},
    {"CH", 21, "5n12c"},    {"CR", 22, "18n"},      {"CY", 28, "8n16c"},    {"CZ", 24, "20n"},
    {"DE", 22, "18n"},      {"DJ", 27, "23n"},      {"DK", 18, "14n"},      {"DO", 28, "4c20n"},
    {"EE", 20, "16n"},      {"EG", 29, "25n"},      {"ES", 24, "20n"},      {"FI", 18, "14n"},
    {"FK", 18, "2a12n"},    {"FO", 18, "14n"},      {"FR", 27, "10n11c2n"}, {"GB", 22, "4a14n"},
    {"GE", 22, "2a16n"},    {"GI", 23, "4a15c"},    {"GL", 18, "14n"},      {"GR", 27, "7n16c"},
    {"GT", 28, "24c"},      {"HN", 28, "4a20n"},    {"HR", 21, "17n"},      {"HU", 28, "24n"},
    {"IE", 22, "4a14n"},    {"IL", 23, "19n"},      {"IQ", 23, "4a15n"},    {"IS", 26, "22n"},
    {"IT", 27, "1a10n12c"}, {"JO", 30, "4a4n18c"},  {"KW", 30, "4a22c"},    {"KZ", 20, "3n13c"},
    {"LB", 28, "4n20c"},    {"LC", 32, "4a24c"},    {"LI", 21, "5n12c"},    {"LT", 20, "16n"},
    {"LU", 20, "3n13c"},    {"LV", 21, "4a13c"},    {"LY", 25, "21n"},      {"MC", 27, "10n11c2n"},
    {"MD", 24, "20c"},      {"ME", 22, "18n"},      {"MK", 19, "3n10c2n"},  {"MN", 20, "16n"},
    {"MR", 27, "23n"},      {"MT", 31, "4a5n18c"},  {"MU", 30, "4a19n3a"},  {"NI", 28, "4a20n"},
    {"NL", 18, "4a10n"},    {"NO", 15, "11n"},      {"OM", 23, "3n16c"},    {"PK", 24, "4a16c"},
    {"PL", 28, "24n"},      {"PS", 29, "4a21c"},    {"PT", 25, "21n"},      {"QA", 29, "4a21c"},
    {"RO", 24, "4a16c"},    {"RS", 22, "18n"},      {"RU", 33, "14n15c"},   {"SA", 24, "2n18c"},
    {"SC", 31, "4a20n3a"},  {"SD", 18, "14n"},      {"SE", 24, "20n"},      {"SI", 19, "15n"},
    {"SK", 24, "20n"},      {"SM", 27, "1a10n12c"}, {"SO", 23, "19n"},      {"ST", 25, "21n"},
    {"SV", 28, "4a20n"},    {"TL", 23, "19n"},      {"TN", 24, "20n"},      {"TR", 26, "6n16c"},
    {"UA", 29, "6n19c"},    {"VA", 22, "18n"},      {"VG", 24, "4a16n"},    {"XK", 20, "16n"},
    {"YE", 30, "4a4n18c"},
};

/* Checks c[0..len) against a BBAN structure string such as "4a14n"; the runs must cover
 * exactly `len` characters. */
static bool bban_ok(const char *c, size_t len, const char *pat)
{
    size_t pos = 0;
    while (*pat != '\0') {
        size_t cnt = 0;
        while (is_digit(*pat))
            cnt = cnt * 10 + dval(*pat++);
        char cls = *pat++;
        if (cnt > len - pos)
            return false;
        for (size_t i = 0; i < cnt; i++, pos++) {
            char ch = c[pos];
            bool ok = cls == 'n' ? is_digit(ch) : cls == 'a' ? is_alpha(ch) : is_alnum(ch);
            if (!ok)
                return false;
        }
    }
    return pos == len;
}

bool sg_validate_iban(const char *s, size_t n)
{
    struct compact c;
    if (!compact_input(s, n, " ", 34, &c) || c.len < 5)
        return false;
    if (c.seps != 0) {
        uint64_t want = 0;
        for (unsigned p = 4; p < c.len; p += 4)
            want |= bitp(p);
        if (c.seps != want)
            return false;
    }
    if (!is_alpha(c.c[0]) || !is_alpha(c.c[1]) || !is_digit(c.c[2]) || !is_digit(c.c[3]))
        return false;
    unsigned check = dval(c.c[2]) * 10 + dval(c.c[3]);
    if (check < 2 || check > 98)
        return false;
    char cc0 = to_upper(c.c[0]), cc1 = to_upper(c.c[1]);
    const struct iban_country *country = NULL;
    for (size_t i = 0; i < sizeof iban_countries / sizeof iban_countries[0]; i++) {
        if (iban_countries[i].cc[0] == cc0 && iban_countries[i].cc[1] == cc1) {
            country = &iban_countries[i];
            break;
        }
    }
    if (country == NULL || c.len != country->len || !bban_ok(c.c + 4, c.len - 4, country->bban))
        return false;
    unsigned r = 0;
    for (size_t i = 4; i < c.len; i++)
        r = mod97_step(r, c.c[i]);
    for (size_t i = 0; i < 4; i++)
        r = mod97_step(r, c.c[i]);
    return r == 1;
}

/* ---- national identifiers ---- */

bool sg_validate_us_ssn(const char *s, size_t n)
{
    struct compact c;
    if (!compact_input(s, n, "- ", 9, &c) || c.len != 9 || !all_digits(c.c, 9))
        return false;
    if (c.seps != 0 && (c.mixed || c.seps != (bitp(3) | bitp(5))))
        return false;
    uint32_t area = digits_val(c.c, 3), group = digits_val(c.c + 3, 2);
    uint32_t serial = digits_val(c.c + 5, 4);
    return area != 0 && area != 666 && area < 900 && group != 0 && serial != 0;
}

bool sg_validate_uk_nino(const char *s, size_t n)
{
    static const char bad_pairs[][3] = {"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"};
    struct compact c;
    if (!compact_input(s, n, " ", 9, &c) || c.len != 9)
        return false;
    if (c.seps != 0 && c.seps != (bitp(2) | bitp(4) | bitp(6) | bitp(8)) &&
        c.seps != (bitp(2) | bitp(8)))
        return false;
    if (!is_alpha(c.c[0]) || !is_alpha(c.c[1]) || !all_digits(c.c + 2, 6) || !is_alpha(c.c[8]))
        return false;
    char a = to_upper(c.c[0]), b = to_upper(c.c[1]), sfx = to_upper(c.c[8]);
    if (memchr("DFIQUV", a, 6) != NULL || memchr("DFIOQUV", b, 7) != NULL)
        return false;
    for (size_t i = 0; i < sizeof bad_pairs / sizeof bad_pairs[0]; i++) {
        if (bad_pairs[i][0] == a && bad_pairs[i][1] == b)
            return false;
    }
    return sfx >= 'A' && sfx <= 'D';
}

bool sg_validate_de_steuerid(const char *s, size_t n)
{
    struct compact c;
    if (!compact_input(s, n, " ", 11, &c) || c.len != 11 || !all_digits(c.c, 11))
        return false;
    if (c.seps != 0 && c.seps != (bitp(2) | bitp(5) | bitp(8)) &&
        c.seps != (bitp(3) | bitp(6) | bitp(9)))
        return false;
    if (c.c[0] == '0')
        return false;
    unsigned count[10] = {0};
    for (size_t i = 0; i < 10; i++)
        count[dval(c.c[i])]++;
    unsigned repeated = 0, rep_digit = 0;
    for (unsigned d = 0; d < 10; d++) {
        if (count[d] > 1) {
            repeated++;
            rep_digit = d;
        }
    }
    if (repeated != 1 || count[rep_digit] > 3)
        return false;
    if (count[rep_digit] == 3) {
        for (size_t i = 0; i + 2 < 10; i++) {
            if (dval(c.c[i]) == rep_digit && c.c[i + 1] == c.c[i] && c.c[i + 2] == c.c[i])
                return false;
        }
    }
    return mod11_10_ok(c.c, 11);
}

bool sg_validate_fr_nir(const char *s, size_t n)
{
    struct compact c;
    if (!compact_input(s, n, " .", 15, &c) || c.len != 15)
        return false;
    uint64_t layout = bitp(1) | bitp(3) | bitp(5) | bitp(7) | bitp(10) | bitp(13);
    if (c.seps != 0 && (c.mixed || c.seps != layout))
        return false;
    if (memchr("123478", c.c[0], 6) == NULL)
        return false;
    if (!all_digits(c.c, 5) || !all_digits(c.c + 7, 8))
        return false;
    char d0 = c.c[5], d1 = to_upper(c.c[6]);
    char dep[2];
    if (is_digit(d0) && is_digit(d1)) {
        dep[0] = d0;
        dep[1] = d1;
    } else if (d0 == '2' && d1 == 'A') {
        dep[0] = '1';
        dep[1] = '9';
    } else if (d0 == '2' && d1 == 'B') {
        dep[0] = '1';
        dep[1] = '8';
    } else {
        return false;
    }
    unsigned r = digits_mod(c.c, 5, 97);
    r = (r * 100 + dval(dep[0]) * 10 + dval(dep[1])) % 97;
    for (size_t i = 7; i < 13; i++)
        r = (r * 10 + dval(c.c[i])) % 97;
    return 97 - r == dval(c.c[13]) * 10 + dval(c.c[14]);
}

static const char es_letters[] = "TRWAGMYFPDXBNJZSQVHLCKE";

bool sg_validate_es_dni(const char *s, size_t n)
{
    struct compact c;
    if (!compact_input(s, n, " -", 9, &c) || c.len != 9)
        return false;
    if (c.seps != 0 && c.seps != bitp(8))
        return false;
    if (!all_digits(c.c, 8) || digits_all_zero(c.c, 8))
        return false;
    return to_upper(c.c[8]) == es_letters[digits_val(c.c, 8) % 23];
}

bool sg_validate_es_nie(const char *s, size_t n)
{
    struct compact c;
    if (!compact_input(s, n, " -", 9, &c) || c.len != 9)
        return false;
    if (c.seps != 0 && (c.mixed || (c.seps != bitp(8) && c.seps != (bitp(1) | bitp(8)))))
        return false;
    char x = to_upper(c.c[0]);
    if ((x != 'X' && x != 'Y' && x != 'Z') || !all_digits(c.c + 1, 7))
        return false;
    uint32_t num = (uint32_t)(x - 'X') * 10000000u + digits_val(c.c + 1, 7);
    return to_upper(c.c[8]) == es_letters[num % 23];
}

/* Codice fiscale: value of an omocodia-capable digit position, or -1. */
static int cf_digit(char ch)
{
    static const char omocodia[] = "LMNPQRSTUV";
    if (is_digit(ch))
        return (int)dval(ch);
    for (int i = 0; i < 10; i++) {
        if (omocodia[i] == ch)
            return i;
    }
    return -1;
}

bool sg_validate_it_cf(const char *s, size_t n)
{
    /* check-character values of characters in odd (1st, 3rd, ...) positions, for
     * 0-9 and A-Z alike (a digit counts as the letter of the same index) */
    static const unsigned char odd[26] = {1,  0,  5, 7, 9, 13, 15, 17, 19, 21, 2,  4,  18,
                                          20, 11, 3, 6, 8, 12, 14, 16, 10, 22, 25, 24, 23};
    static const char months[] = "ABCDEHLMPRST";
    static const unsigned char digit_pos[] = {6, 7, 9, 10, 12, 13, 14};
    if (s == NULL || n != 16)
        return false;
    char c[16];
    for (size_t i = 0; i < 16; i++)
        c[i] = to_upper(s[i]);
    for (size_t i = 0; i < 6; i++) {
        if (!is_upper(c[i]))
            return false;
    }
    if (!is_upper(c[8]) || !is_upper(c[11]) || !is_upper(c[15]))
        return false;
    for (size_t i = 0; i < sizeof digit_pos; i++) {
        if (cf_digit(c[digit_pos[i]]) < 0)
            return false;
    }
    const char *m = memchr(months, c[8], 12);
    if (m == NULL)
        return false;
    unsigned month = (unsigned)(m - months) + 1;
    unsigned yy = (unsigned)(cf_digit(c[6]) * 10 + cf_digit(c[7]));
    unsigned day = (unsigned)(cf_digit(c[9]) * 10 + cf_digit(c[10]));
    if (day > 40)
        day -= 40;
    /* The century is not encoded; 19yy and 20yy share leap years except 1900/2000, and
     * 2000 (yy 00) is taken as the leap one. */
    if (!valid_date(2000 + yy, month, day))
        return false;
    unsigned sum = 0;
    for (size_t i = 0; i < 15; i++) {
        unsigned v = is_digit(c[i]) ? dval(c[i]) : (unsigned)(c[i] - 'A');
        sum += (i % 2 == 0) ? odd[v] : v;
    }
    return c[15] == (char)('A' + sum % 26);
}

/* 11-proof of the BSN / RSIN: weights 9..2 and -1 over nine digits. */
static bool elfproef_ok(const char *d)
{
    unsigned s = 0;
    for (size_t i = 0; i < 8; i++)
        s += (unsigned)(9 - i) * dval(d[i]);
    return s % 11 == dval(d[8]) % 11;
}

bool sg_validate_nl_bsn(const char *s, size_t n)
{
    struct compact c;
    if (!compact_input(s, n, " .-", 9, &c) || c.len != 9)
        return false;
    if (c.seps != 0 &&
        (c.mixed || (c.seps != (bitp(3) | bitp(6)) && c.seps != (bitp(4) | bitp(6)))))
        return false;
    if (!all_digits(c.c, 9) || digits_all_zero(c.c, 9))
        return false;
    return elfproef_ok(c.c);
}

/* ---- VAT identification numbers ----
 * Each routine gets the upper-cased number without its country prefix. */

static bool vat_at(const char *b, size_t n)
{
    if (n != 9 || b[0] != 'U' || !all_digits(b + 1, 8))
        return false;
    unsigned s = 0;
    for (size_t i = 0; i < 7; i++) {
        unsigned v = dval(b[1 + i]) * ((i % 2) ? 2 : 1);
        s += v / 10 + v % 10;
    }
    return (10 - (s + 4) % 10) % 10 == dval(b[8]);
}

static bool vat_be(const char *b, size_t n)
{
    char pad[10];
    if (n == 9) {
        /* the pre-2005 nine-digit form, which stands for the same number with a leading 0 */
        pad[0] = '0';
        memcpy(pad + 1, b, 9);
        b = pad;
        n = 10;
    }
    if (n != 10 || !all_digits(b, 10) || (b[0] != '0' && b[0] != '1'))
        return false;
    return (digits_mod(b, 8, 97) + digits_val(b + 8, 2)) % 97 == 0;
}

static bool bg_egn(const char *b)
{
    static const unsigned char w[9] = {2, 4, 8, 5, 10, 9, 7, 3, 6};
    unsigned year = 1900 + digits_val(b, 2), month = digits_val(b + 2, 2);
    if (month > 40) {
        year += 100;
        month -= 40;
    } else if (month > 20) {
        year -= 100;
        month -= 20;
    }
    if (!valid_date(year, month, digits_val(b + 4, 2)))
        return false;
    return wsum(b, w, 9) % 11 % 10 == dval(b[9]);
}

static bool vat_bg(const char *b, size_t n)
{
    if (!all_digits(b, n))
        return false;
    if (n == 9) {
        unsigned s = 0, s2 = 0;
        for (size_t i = 0; i < 8; i++) {
            s += (unsigned)(i + 1) * dval(b[i]);
            s2 += (unsigned)(i + 3) * dval(b[i]);
        }
        unsigned check = s % 11;
        if (check == 10)
            check = s2 % 11;
        return check % 10 == dval(b[8]);
    }
    if (n == 10) {
        static const unsigned char pnf[9] = {21, 19, 17, 13, 11, 9, 7, 3, 1};
        static const unsigned char other[9] = {4, 3, 2, 7, 6, 5, 4, 3, 2};
        if (bg_egn(b) || wsum(b, pnf, 9) % 10 == dval(b[9]))
            return true;
        return (11 - wsum(b, other, 9) % 11) % 11 == dval(b[9]);
    }
    return false;
}

static bool vat_cy(const char *b, size_t n)
{
    static const unsigned char odd[10] = {1, 0, 5, 7, 9, 13, 15, 17, 19, 21};
    if (n != 9 || !all_digits(b, 8) || !is_upper(b[8]) || (b[0] == '1' && b[1] == '2'))
        return false;
    unsigned s = 0;
    for (size_t i = 0; i < 8; i++)
        s += (i % 2 == 0) ? odd[dval(b[i])] : dval(b[i]);
    return b[8] == (char)('A' + s % 26);
}

static bool vat_cz(const char *b, size_t n)
{
    static const unsigned char w[7] = {8, 7, 6, 5, 4, 3, 2};
    if (!all_digits(b, n))
        return false;
    if (n == 8) {
        if (b[0] == '9')
            return false;
        unsigned check = (11 - wsum(b, w, 7) % 11) % 11;
        if (check == 0)
            check = 1;
        return check % 10 == dval(b[7]);
    }
    if (n == 9 && b[0] == '6') {
        unsigned x = (10 - wsum(b + 1, w, 7) % 11) % 11;
        return (18 - x) % 10 == dval(b[8]);
    }
    if (n == 9 || n == 10) {
        /* rodne cislo: YYMMDD with 50 added to the month for women and 20 for overflow
         * serials; 9-digit numbers exist only for births before 1954 */
        unsigned year = 1900 + digits_val(b, 2);
        unsigned month = digits_val(b + 2, 2) % 50 % 20;
        if (n == 9) {
            if (year >= 1980)
                year -= 100;
            if (year > 1953)
                return false;
        } else if (year < 1954) {
            year += 100;
        }
        if (!valid_date(year, month, digits_val(b + 4, 2)))
            return false;
        return n == 9 || digits_mod(b, 9, 11) % 10 == dval(b[9]);
    }
    return false;
}

static bool vat_de(const char *b, size_t n)
{
    return n == 9 && all_digits(b, 9) && b[0] != '0' && mod11_10_ok(b, 9);
}

static bool vat_dk(const char *b, size_t n)
{
    static const unsigned char w[8] = {2, 7, 6, 5, 4, 3, 2, 1};
    return n == 8 && all_digits(b, 8) && b[0] != '0' && wsum(b, w, 8) % 11 == 0;
}

static bool vat_ee(const char *b, size_t n)
{
    static const unsigned char w[9] = {3, 7, 1, 3, 7, 1, 3, 7, 1};
    return n == 9 && all_digits(b, 9) && wsum(b, w, 9) % 10 == 0;
}

static bool vat_el(const char *b, size_t n)
{
    char pad[9];
    if (n == 8) {
        /* the old eight-digit form, which stands for the same number with a leading 0 */
        pad[0] = '0';
        memcpy(pad + 1, b, 8);
        b = pad;
        n = 9;
    }
    if (n != 9 || !all_digits(b, 9))
        return false;
    unsigned s = 0;
    for (size_t i = 0; i < 8; i++)
        s = s * 2 + dval(b[i]);
    return s * 2 % 11 % 10 == dval(b[8]);
}

static bool vat_es(const char *b, size_t n)
{
    if (n != 9 || !all_digits(b + 1, 7))
        return false;
    char first = b[0], last = b[8];
    if (is_digit(first))
        return all_digits(b, 8) && last == es_letters[digits_val(b, 8) % 23];
    if (first == 'X' || first == 'Y' || first == 'Z')
        return last ==
               es_letters[((uint32_t)(first - 'X') * 10000000u + digits_val(b + 1, 7)) % 23];
    if (first == 'K' || first == 'L' || first == 'M')
        return last == es_letters[digits_val(b + 1, 7) % 23];
    if (memchr("ABCDEFGHJNPQRSUVW", first, 17) == NULL)
        return false;
    /* CIF: Luhn check digit of the seven digits, written as a digit or as "JABCDEFGHI" */
    unsigned s = 0;
    for (size_t i = 0; i < 7; i++) {
        unsigned v = dval(b[1 + i]);
        if (i % 2 == 0) {
            v *= 2;
            if (v > 9)
                v -= 9;
        }
        s += v;
    }
    unsigned check = (10 - s % 10) % 10;
    return last == (char)('0' + check) || last == "JABCDEFGHI"[check];
}

static bool vat_fi(const char *b, size_t n)
{
    static const unsigned char w[8] = {7, 9, 10, 5, 8, 4, 2, 1};
    return n == 8 && all_digits(b, 8) && wsum(b, w, 8) % 11 == 0;
}

static bool vat_fr(const char *b, size_t n)
{
    static const char alphabet[] = "0123456789ABCDEFGHJKLMNPQRSTUVWXYZ";
    if (n != 11 || !all_digits(b + 2, 9))
        return false;
    const char *k0 = memchr(alphabet, b[0], sizeof alphabet - 1);
    const char *k1 = memchr(alphabet, b[1], sizeof alphabet - 1);
    if (k0 == NULL || k1 == NULL)
        return false;
    /* SIREN Luhn check, except for Monaco's numbers that start with 000 */
    if (!(b[2] == '0' && b[3] == '0' && b[4] == '0') && !luhn_ok(b + 2, 9))
        return false;
    uint32_t siren = digits_val(b + 2, 9);
    if (is_digit(b[0]) && is_digit(b[1]))
        return digits_val(b, 2) == (12 + 3 * (siren % 97)) % 97;
    unsigned i0 = (unsigned)(k0 - alphabet), i1 = (unsigned)(k1 - alphabet);
    unsigned check = is_digit(b[0]) ? i0 * 24 + i1 - 10 : i0 * 34 + i1 - 100;
    return (siren + 1 + check / 11) % 11 == check % 11;
}

static bool vat_hr(const char *b, size_t n)
{
    return n == 11 && all_digits(b, 11) && mod11_10_ok(b, 11);
}

static bool vat_hu(const char *b, size_t n)
{
    static const unsigned char w[8] = {9, 7, 3, 1, 9, 7, 3, 1};
    return n == 8 && all_digits(b, 8) && wsum(b, w, 8) % 10 == 0;
}

static bool vat_ie(const char *b, size_t n)
{
    static const char alphabet[] = "WABCDEFGHIJKLMNOPQRSTUV";
    if ((n != 8 && n != 9) || !is_digit(b[0]) || !all_digits(b + 2, 5))
        return false;
    const char *chk = memchr(alphabet, b[7], 23);
    if (chk == NULL)
        return false;
    unsigned s;
    if (is_digit(b[1])) {
        /* current form: seven digits, check letter, optional second letter (2013 on) */
        unsigned extra = 0;
        if (n == 9) {
            const char *x = memchr(alphabet, b[8], 23);
            if (x == NULL)
                return false;
            extra = (unsigned)(x - alphabet);
        }
        s = 9 * extra;
        for (size_t i = 0; i < 7; i++)
            s += (unsigned)(8 - i) * dval(b[i]);
    } else {
        /* old form: digit, letter or + or *, five digits, check letter */
        if (n != 8 || (!is_upper(b[1]) && b[1] != '+' && b[1] != '*'))
            return false;
        s = 2 * dval(b[0]);
        for (size_t i = 0; i < 5; i++)
            s += (unsigned)(7 - i) * dval(b[2 + i]);
    }
    return b[7] == alphabet[s % 23];
}

static bool vat_it(const char *b, size_t n)
{
    return n == 11 && all_digits(b, 11) && !digits_all_zero(b, 7) && luhn_ok(b, 11);
}

static bool vat_lt(const char *b, size_t n)
{
    if ((n != 9 && n != 12) || !all_digits(b, n) || b[n - 2] != '1')
        return false;
    unsigned s = 0, s2 = 0;
    for (size_t i = 0; i + 1 < n; i++) {
        s += (unsigned)(1 + i % 9) * dval(b[i]);
        s2 += (unsigned)(1 + (i + 2) % 9) * dval(b[i]);
    }
    unsigned check = s % 11;
    if (check == 10)
        check = s2 % 11;
    return check % 10 == dval(b[n - 1]);
}

static bool vat_lu(const char *b, size_t n)
{
    return n == 8 && all_digits(b, 8) && digits_val(b, 6) % 89 == digits_val(b + 6, 2);
}

static bool vat_lv(const char *b, size_t n)
{
    static const unsigned char w[11] = {9, 1, 4, 8, 3, 10, 2, 5, 7, 6, 1};
    if (n != 11 || !all_digits(b, 11))
        return false;
    if (b[0] > '3')
        return wsum(b, w, 11) % 11 == 3;
    /* Personal codes: format only. Their check routine is not published by an authority
     * (python-stdnum marks its version as unconfirmed), and codes issued since 2017 carry
     * no birth date, so nothing more is checked. */
    return true;
}

static bool vat_mt(const char *b, size_t n)
{
    static const unsigned char w[8] = {3, 4, 6, 7, 8, 9, 10, 1};
    return n == 8 && all_digits(b, 8) && b[0] != '0' && wsum(b, w, 8) % 37 == 0;
}

static bool vat_nl(const char *b, size_t n)
{
    if (n != 12 || !all_digits(b, 9) || b[9] != 'B' || !all_digits(b + 10, 2))
        return false;
    if (digits_all_zero(b, 9) || (b[10] == '0' && b[11] == '0'))
        return false;
    if (elfproef_ok(b))
        return true;
    unsigned r = mod97_step(mod97_step(0, 'N'), 'L');
    for (size_t i = 0; i < 12; i++)
        r = mod97_step(r, b[i]);
    return r == 1;
}

static bool vat_pl(const char *b, size_t n)
{
    static const unsigned char w[9] = {6, 5, 7, 2, 3, 4, 5, 6, 7};
    return n == 10 && all_digits(b, 10) && wsum(b, w, 9) % 11 == dval(b[9]);
}

static bool vat_pt(const char *b, size_t n)
{
    static const unsigned char w[8] = {9, 8, 7, 6, 5, 4, 3, 2};
    if (n != 9 || !all_digits(b, 9) || b[0] == '0')
        return false;
    return (11 - wsum(b, w, 8) % 11) % 11 % 10 == dval(b[8]);
}

static bool vat_ro(const char *b, size_t n)
{
    static const unsigned char w[9] = {7, 5, 3, 2, 1, 7, 5, 3, 2};
    if (n < 2 || n > 10 || !all_digits(b, n) || b[0] == '0')
        return false;
    /* the digits before the check digit, right-aligned against the nine weights */
    size_t body = n - 1, off = 9 - body;
    unsigned s = wsum(b, w + off, body);
    return s * 10 % 11 % 10 == dval(b[n - 1]);
}

static bool vat_se(const char *b, size_t n)
{
    return n == 12 && all_digits(b, 12) && b[10] == '0' && b[11] == '1' && luhn_ok(b, 10);
}

static bool vat_si(const char *b, size_t n)
{
    static const unsigned char w[7] = {8, 7, 6, 5, 4, 3, 2};
    if (n != 8 || !all_digits(b, 8) || b[0] == '0')
        return false;
    unsigned check = 11 - wsum(b, w, 7) % 11;
    if (check == 11)
        return false;
    return check % 10 == dval(b[7]);
}

static bool vat_sk(const char *b, size_t n)
{
    if (n != 10 || !all_digits(b, 10) || b[0] == '0' || memchr("234789", b[2], 6) == NULL)
        return false;
    return digits_mod(b, 10, 11) == 0;
}

static bool vat_gb(const char *b, size_t n)
{
    static const unsigned char w[7] = {8, 7, 6, 5, 4, 3, 2};
    if (n == 5) {
        /* government departments GD000-GD499 and health authorities HA500-HA999 */
        if (!all_digits(b + 2, 3))
            return false;
        uint32_t v = digits_val(b + 2, 3);
        return (b[0] == 'G' && b[1] == 'D' && v < 500) || (b[0] == 'H' && b[1] == 'A' && v >= 500);
    }
    if ((n != 9 && n != 12) || !all_digits(b, n))
        return false;
    unsigned s = wsum(b, w, 7) + digits_val(b + 7, 2);
    if (s % 97 == 0)
        return true;
    /* the "9755" scheme used for numbers issued from 100 0000 00 on */
    return digits_val(b, 3) >= 100 && (s + 55) % 97 == 0;
}

struct vat_country {
    char cc[3];
    bool (*check)(const char *b, size_t n);
};

static const struct vat_country vat_countries[] = {
    {"AT", vat_at}, {"BE", vat_be}, {"BG", vat_bg}, {"CY", vat_cy}, {"CZ", vat_cz}, {"DE", vat_de},
    {"DK", vat_dk}, {"EE", vat_ee}, {"EL", vat_el}, {"GR", vat_el}, {"ES", vat_es}, {"FI", vat_fi},
    {"FR", vat_fr}, {"HR", vat_hr}, {"HU", vat_hu}, {"IE", vat_ie}, {"IT", vat_it}, {"LT", vat_lt},
    {"LU", vat_lu}, {"LV", vat_lv}, {"MT", vat_mt}, {"NL", vat_nl}, {"PL", vat_pl}, {"PT", vat_pt},
    {"RO", vat_ro}, {"SE", vat_se}, {"SI", vat_si}, {"SK", vat_sk}, {"GB", vat_gb}, {"XI", vat_gb},
};

bool sg_validate_eu_vat(const char *s, size_t n)
{
    struct compact c;
    if (!compact_runs(s, n, " .-", 16, 3, &c) || c.len < 4 || (c.seps & bitp(1)))
        return false;
    for (size_t i = 0; i < c.len; i++) {
        if (!is_alnum(c.c[i]) && c.c[i] != '+' && c.c[i] != '*')
            return false;
        c.c[i] = to_upper(c.c[i]);
    }
    if (!is_upper(c.c[0]) || !is_upper(c.c[1]) || digits_all_zero(c.c + 2, c.len - 2))
        return false;
    for (size_t i = 0; i < sizeof vat_countries / sizeof vat_countries[0]; i++) {
        if (vat_countries[i].cc[0] == c.c[0] && vat_countries[i].cc[1] == c.c[1])
            return vat_countries[i].check(c.c + 2, c.len - 2);
    }
    return false;
}

/* ---- network addresses ---- */

bool sg_validate_ipv4(const char *s, size_t n)
{
    if (s == NULL || n < 7 || n > 15)
        return false;
    size_t i = 0;
    for (int part = 0; part < 4; part++) {
        if (part > 0) {
            if (i >= n || s[i] != '.')
                return false;
            i++;
        }
        size_t start = i;
        unsigned v = 0;
        while (i < n && is_digit(s[i]) && i - start < 3)
            v = v * 10 + dval(s[i++]);
        size_t len = i - start;
        if (len == 0 || v > 255 || (len > 1 && s[start] == '0'))
            return false;
    }
    return i == n;
}

bool sg_validate_ipv6(const char *s, size_t n)
{
    if (s == NULL || n < 2 || n > 45)
        return false;
    size_t i = 0;
    unsigned groups = 0;
    bool compressed = false;
    if (s[0] == ':') {
        if (s[1] != ':')
            return false;
        compressed = true;
        i = 2;
    }
    while (i < n) {
        size_t start = i;
        while (i < n && is_hex(s[i]) && i - start < 4)
            i++;
        if (i < n && s[i] == '.') {
            /* embedded IPv4 address: must be the tail and take the last two groups */
            if (!sg_validate_ipv4(s + start, n - start))
                return false;
            groups += 2;
            i = n;
            break;
        }
        if (i == start || (i < n && is_hex(s[i])))
            return false;
        groups++;
        if (i == n)
            break;
        if (s[i] != ':' || i + 1 == n)
            return false; /* a bad character, or a single trailing colon */
        i++;
        if (s[i] == ':') {
            if (compressed)
                return false;
            compressed = true;
            i++;
        }
    }
    return compressed ? groups <= 7 : groups == 8;
}

/* ---- e-mail addresses ---- */

static bool is_atext(char c)
{
    return is_alnum(c) || memchr("!#$%&'*+-/=?^_`{|}~", c, 19) != NULL;
}

static bool is_ldh(char c)
{
    return is_alnum(c) || c == '-';
}

bool sg_validate_email(const char *s, size_t n)
{
    if (s == NULL || n < 6 || n > 254)
        return false;
    const char *at = memchr(s, '@', n);
    if (at == NULL)
        return false;
    size_t llen = (size_t)(at - s), dlen = n - llen - 1;
    const char *d = at + 1;
    if (llen < 1 || llen > 64 || dlen < 4 || dlen > 253)
        return false;
    /* local part: dot-atom */
    if (s[0] == '.' || s[llen - 1] == '.')
        return false;
    for (size_t i = 0; i < llen; i++) {
        if (s[i] == '.') {
            if (s[i + 1] == '.')
                return false;
        } else if (!is_atext(s[i])) {
            return false;
        }
    }
    /* domain: LDH labels, at least two */
    size_t labels = 0, start = 0;
    for (size_t i = 0; i <= dlen; i++) {
        if (i < dlen && d[i] != '.') {
            if (!is_ldh(d[i]))
                return false;
            continue;
        }
        size_t len = i - start;
        if (len < 1 || len > 63 || d[start] == '-' || d[i - 1] == '-')
            return false;
        labels++;
        if (i == dlen) {
            /* top-level label: alphabetic, or an IDNA A-label */
            const char *t = d + start;
            if (len >= 5 && to_upper(t[0]) == 'X' && to_upper(t[1]) == 'N' && t[2] == '-' &&
                t[3] == '-')
                break;
            if (len < 2)
                return false;
            for (size_t k = 0; k < len; k++) {
                if (!is_alpha(t[k]))
                    return false;
            }
        }
        start = i + 1;
    }
    return labels >= 2;
}
