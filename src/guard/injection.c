/* The prompt-injection detector: lexicon compilation and the scanner (see inj_int.h for
 * the word/rule model and docs/injection.md for the signals and the score).
 *
 * One pass over the text does everything at once, byte by byte with no backtracking:
 *   - words: UTF-8 decoded, folded (lower case, accents, look-alikes), looked up in the
 *     lexicon (a prefix filter and a 64 Kibit filter first: most words are not in it;
 *     then a 32 KiB table of 32-bit slots and 32-byte word records that hold the word's
 *     first 16 bytes), phrases completed (only after a word that can come before the
 *     last word of a phrase), rules advanced; the same for the word's rot13 decoding in a
 *     second view. Runs of ASCII letters and digits are read 8 bytes at a time (runs too
 *     long for the lexicon skipped 16 at a time with SSE2). The rules advance as bit sets
 *     (one bit per rule, one set per element): a word's class set names the rule
 *     elements it matches (computed once per class set of the lexicon), a word that only
 *     starts rules adds one entry to a ring of the latest starts, only the rules whose
 *     previous element is live cost anything more, and all partial matches are dropped
 *     at once when the latest is older than any gap;
 *   - markup: HTML comments, tags (attributes, and elements hidden by their style), and
 *     markdown alt text and comments make a "hidden" region whose rule hits also count
 *     as hidden_markup; chat-template tokens are recognized where they start;
 *   - invisible characters: Unicode tags (decoded to the ASCII they hide and read as
 *     words too), zero-width characters inside words and in runs, bidi overrides;
 *   - base64/hex runs: a run that ends is decoded (at most once, in 3 KiB pieces) and,
 *     when it decodes to text, the pieces are scanned by a nested scanner one level deep.
 * Every look-ahead is bounded (a tag's attributes up to the next '<' or 1 KiB, a token
 * up to 48 bytes), so the time stays linear for any input. */
#include "guard/injection.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/utf8.h"
#include "guard/inj_int.h"

/* SSE2 (the x86-64 baseline) skips runs of letters and digits too long for the lexicon 16
 * bytes at a time (skip_alnum); elsewhere, or built with -DSG_INJ_NO_SIMD
 * (test_injection_golden_nosimd checks that both give the same results), 8 bytes at a
 * time in a uint64_t. */
#if defined(__SSE2__) && !defined(SG_INJ_NO_SIMD)
#include <emmintrin.h>
#define INJ_SSE2 1
#endif

#define WORD_MAX 40   /* longer words are never in the lexicon */
#define RING 6        /* phrases have at most this many words */
#define DICT_CAP 8192 /* lexicon words (power of two, at most 3/4 used) */
#define PHRASE_CAP 2048
#define B64_MIN 20         /* shorter base64 runs are not decoded */
#define B64_PIECE 3072     /* decoded bytes scanned at once */
#define TAG_LOOKAHEAD 1024 /* a tag's attributes are examined up to here */
#define ID_COLON 1         /* the ':' token */
#define ID_FIRST 2
/* Below this a signal does not fire (weak hits weighted down, e.g. in the system prompt). */
#define FIRE_MIN 15
#define WEAK 40 /* weaker signals are reported but add nothing to the score */
#define BYTES(b) (UINT64_C(0x0101010101010101) * (b)) /* b in each byte of a uint64_t */
#define LEXICAL                                                                                    \
    (SG_INJ_BIT(SG_INJ_OVERRIDE) | SG_INJ_BIT(SG_INJ_ROLEPLAY) | SG_INJ_BIT(SG_INJ_EXTRACTION) |   \
     SG_INJ_BIT(SG_INJ_TOOL_INSTRUCTIONS))

struct dict_ent {
    uint64_t classes;
    uint32_t h, off;
    uint16_t id;
    uint16_t cset; /* index in sg_injection.csets of its classes (0: none a rule uses) */
    uint8_t len;
    uint8_t phrase_max; /* = sg_injection.phrase_max[id], here to save a memory access */
};

/* The scanner's copy of a lexicon word (32 bytes; sg_injection.words[id]): its first 16
 * folded bytes inline, zero-padded, so that a lookup compares two uint64_t instead of
 * reading the pool (the bytes past 16, of a few long words, are compared in the pool). */
struct word_ent {
    uint64_t w[2];
    uint64_t classes;
    uint16_t id;
    uint16_t cset;
    uint8_t len;
    uint8_t phrase_max;
};

/* The lookup table: SLOT_CAP slots of 32 bits (32 KiB, instead of the builder's 196 KiB of
 * dict_ent), each 0 (empty) or a word's id, its index in `words` (the low SLOT_BITS bits), and the
 * high bits of its hash (a tag: a slot whose tag differs is skipped without reading the
 * word). Linear probing from hash & (SLOT_CAP - 1); the lexicon has at most DICT_CAP * 3 /
 * 4 words, under SLOT_CAP. */
#define SLOT_BITS 13
#define SLOT_CAP (1u << SLOT_BITS)
#define SLOT_IX (SLOT_CAP - 1)
_Static_assert(DICT_CAP <= SLOT_CAP, "every word index fits in a slot");

/* The rule elements a set of word classes matches (see el_match), computed once per
 * distinct class set of the lexicon so that a word costs a copy, not a computation. */
struct cset {
    uint64_t classes;
    uint64_t em[INJ_RULE_MAX_EL][2];
    bool need_all; /* some element it matches needs flags (`all`): check per word */
    /* it matches no element that needs flags, of no derivation rule, and no one-element
     * rule: when it continues no live rule either, all a word of it does is start the
     * (signal) rules of em[0] */
    bool starts_only;
};

struct phrase_ent {
    uint64_t key, classes;
    uint16_t ids[RING];
    uint8_t n;
};

struct sg_injection {
    int threshold;
    uint32_t ignore;
    struct dict_ent *dict;  /* the builder's table (freed when compiled: words, slots) */
    struct word_ent *words; /* by word id (ID_FIRST .. ID_FIRST + nwords - 1) */
    uint32_t *slots;
    uint32_t *word_off; /* by word id: the word's bytes in the pool */
    char *pool;
    size_t pool_len, pool_cap;
    uint32_t nwords;
    struct phrase_ent *phrases;
    uint32_t nphrases;
    uint8_t *phrase_max; /* by word id: words of the longest phrase ending in it */
    /* the last two words of every phrase (bit pair_ix(ids[n - 2], ids[n - 1])): the
     * phrases ending at a word are looked up only when the word before it is the last but
     * one of some phrase */
    uint64_t pairs[1024];
    /* per class c and element index e: the rules (bit k = inj_rules[k]) whose element e
     * has c among its `any` classes; a word's classes select the (rule, element) pairs it
     * can match with a few ORs instead of a walk over every element of every rule */
    uint64_t el_of[64][INJ_RULE_MAX_EL][2];
    uint64_t el_all[INJ_RULE_MAX_EL][2];           /* the rules whose element e has `all` flags */
    uint64_t el_last[INJ_RULE_MAX_EL][2];          /* the signal rules whose last element is e */
    uint64_t rule_classes;                         /* every class some rule looks at */
    size_t nderive;                                /* inj_rules[0..nderive) are derivation rules */
    uint64_t derive_rules;                         /* their bits (nderive <= 64) */
    uint64_t signal_rules[2];                      /* the others' */
    uint16_t gap1[INJ_MAX_RULES][INJ_RULE_MAX_EL]; /* el[e].gap + 1 */
    uint16_t max_gap1;                             /* the largest gap1 of an element e > 0 */
    struct cset *csets;                            /* [0]: no class a rule uses */
    uint32_t ncsets;
    struct cset colon;    /* the ':' token */
    uint64_t bloom[1024]; /* 65,536 bits over the low 16 bits of word hashes */
    /* the first three bytes of every lexicon word of three or more, 5 bits of each
     * (PREFIX below; letters and digits share some, which only lets a few more words
     * through to the real lookup), and the same of their rot13 decodings: a word whose
     * prefix is not in them is not looked up, in that view */
    uint64_t prefix[(1 << 15) / 64], prefix13[(1 << 15) / 64];
};

/* ---------------------------------------------------------------- folding ---- */

/* U+00C0..U+017F folded to ASCII: two bytes per code point, '_' for none (U+00D7 and
 * U+00F7 are separators). Generated with Python's unicodedata (NFKD, letters kept). */
static const char latin_fold[] = "a_a_a_a_a_a_aec_e_e_e_e_i_i_i_i_d_n_o_o_o_o_o___o_u_u_u_u_y_thss"
                                 "a_a_a_a_a_a_aec_e_e_e_e_i_i_i_i_d_n_o_o_o_o_o___o_u_u_u_u_y_thy_"
                                 "a_a_a_a_a_a_c_c_c_c_c_c_c_c_d_d_d_d_e_e_e_e_e_e_e_e_e_e_g_g_g_g_"
                                 "g_g_g_g_h_h_h_h_i_i_i_i_i_i_i_i_i_i_ijijj_j_k_k_k_l_l_l_l_l_l_l_"
                                 "l_l_l_n_n_n_n_n_n_n_n_n_o_o_o_o_o_o_oeoer_r_r_r_r_r_s_s_s_s_s_s_"
                                 "s_s_t_t_t_t_t_t_u_u_u_u_u_u_u_u_u_u_u_u_w_w_y_y_y_z_z_z_z_z_z_s_";
/* Greek U+0391..U+03C9 and Cyrillic U+0400..U+045F letters that look like Latin ones
 * ('_': a letter of its own, kept as a placeholder that matches no lexicon word). */
static const char greek_fold[] = "ab__ezh_ik_mn_o_p__ty_x_________aby_e_n_ik__v_o_pc_tu_x_w";
static const char cyr_fold[] = "_____si_j_______a_b__e____k_mho_pcty_x__________a_b__e____k_mho_"
                               "pcty_x_______________si_j_______";

enum { FOLD_SEP = 0, FOLD_DROP = -1, FOLD_OTHER = -2 };
#define PLACEHOLDER 0x7f /* a letter of another script */

/* Folds one non-ASCII code point: returns the number of ASCII letters/digits written to
 * out (1 or 2), FOLD_SEP, FOLD_DROP (invisible: dropped, the word goes on) or
 * FOLD_OTHER (a letter with no ASCII look-alike). */
static int fold_cp(uint32_t cp, char out[2])
{
    if (cp >= 0xC0 && cp < 0x180) {
        const char *f = latin_fold + 2 * (cp - 0xC0);
        if (f[0] == '_')
            return FOLD_SEP;
        out[0] = f[0];
        out[1] = f[1];
        return f[1] == '_' ? 1 : 2;
    }
    if (cp < 0xC0)
        return cp == 0xAD ? FOLD_DROP : FOLD_SEP; /* soft hyphen; Latin-1 punctuation */
    if ((cp >= 0x300 && cp < 0x370) || (cp >= 0x1AB0 && cp < 0x1B00) ||
        (cp >= 0x1DC0 && cp < 0x1E00) || (cp >= 0x20D0 && cp < 0x2100) ||
        (cp >= 0xFE20 && cp < 0xFE30) || (cp >= 0xFE00 && cp < 0xFE10) ||
        (cp >= 0xE0100 && cp < 0xE01F0) || cp == 0x200E || cp == 0x200F)
        return FOLD_DROP; /* combining marks, variation selectors, LRM/RLM */
    if (cp >= 0x391 && cp < 0x391 + sizeof(greek_fold) - 1) {
        char c = greek_fold[cp - 0x391];
        return c == '_' ? FOLD_OTHER : (out[0] = c, 1);
    }
    if (cp >= 0x400 && cp < 0x400 + sizeof(cyr_fold) - 1) {
        char c = cyr_fold[cp - 0x400];
        return c == '_' ? FOLD_OTHER : (out[0] = c, 1);
    }
    if (cp == 0x4BB || cp == 0x501 || cp == 0x4CF) {
        out[0] = cp == 0x4BB ? 'h' : cp == 0x501 ? 'd' : 'l';
        return 1;
    }
    if (cp >= 0xFF01 && cp <= 0xFF5E) { /* full-width ASCII */
        char c = (char)(cp - 0xFEE0);
        if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
            return out[0] = c, 1;
        if (c >= 'A' && c <= 'Z')
            return out[0] = (char)(c | 0x20), 1;
        return FOLD_SEP;
    }
    if (cp >= 0x24B6 && cp <= 0x24E9) /* circled letters */
        return out[0] = (char)('a' + (cp - 0x24B6) % 26), 1;
    if (cp >= 0x1D400 && cp <= 0x1D6A3) /* mathematical bold/italic/... letters */
        return out[0] = (char)('a' + (cp - 0x1D400) % 52 % 26), 1;
    if (cp >= 0x1D7CE && cp <= 0x1D7FF)
        return out[0] = (char)('0' + (cp - 0x1D7CE) % 10), 1;
    if (cp >= 0x1F130 && cp <= 0x1F189 && (cp - 0x1F130) % 32 < 26) /* squared letters */
        return out[0] = (char)('a' + (cp - 0x1F130) % 32), 1;
    if ((cp >= 0x2000 && cp < 0x2C00) || (cp >= 0x3000 && cp < 0x3040) ||
        (cp >= 0xFE30 && cp < 0xFE70) || (cp >= 0xFF00 && cp < 0xFF66) ||
        (cp >= 0x1F000 && cp < 0x1FB00) || cp >= 0xF0000)
        return FOLD_SEP; /* punctuation, symbols, emoji, private use */
    return FOLD_OTHER;
}

/* ---------------------------------------------------------------- lexicon ---- */

static uint32_t fnv(const char *w, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)w[i]) * 16777619u;
    return h;
}

/* The low n bytes of x (n <= 8). */
static inline uint64_t low_bytes(uint64_t x, size_t n)
{
    return n >= 8 ? x : x & ((UINT64_C(1) << (8 * n)) - 1);
}

/* A word's first 16 bytes, zero-padded, and its hash (whash). */
struct wkey {
    uint64_t a, b;
    uint32_t h;
};

/* The hash of a lexicon word. The first 16 bytes (every word but a few long ones) are read
 * as two masked uint64_t with no branch on the length, which varies from word to word and
 * is a coin toss for the branch predictor; the rest 8 bytes at a time. `w` must be
 * readable up to 16 bytes from its start and 7 past its end (the word buffers and the
 * pool have that slack; the bytes are masked off). */
static inline struct wkey wkey(const char *w, size_t n)
{
    struct wkey k;
    uint64_t h = (uint64_t)n * 0x9E3779B97F4A7C15ull, x;
    memcpy(&k.a, w, 8);
    memcpy(&k.b, w + 8, 8);
    k.a = low_bytes(k.a, n);
    k.b = low_bytes(k.b, n > 8 ? n - 8 : 0);
    h = (h ^ k.a) * 0xff51afd7ed558ccdull;
    h ^= h >> 32;
    h = (h ^ k.b) * 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 29;
    for (size_t i = 16; i < n; i += 8) {
        memcpy(&x, w + i, 8);
        h = (h ^ low_bytes(x, n - i)) * 0xff51afd7ed558ccdull;
        h ^= h >> 32;
    }
    k.h = (uint32_t)h ^ (uint32_t)(h >> 32);
    return k;
}

static inline uint32_t whash(const char *w, size_t n)
{
    return wkey(w, n).h;
}

/* Whether two words of n bytes are equal; both readable as for whash. */
static inline bool word_eq(const char *a, const char *b, size_t n)
{
    uint64_t x0, y0, x1, y1;
    memcpy(&x0, a, 8);
    memcpy(&y0, b, 8);
    memcpy(&x1, a + 8, 8);
    memcpy(&y1, b + 8, 8);
    uint64_t diff = low_bytes(x0 ^ y0, n) | low_bytes(x1 ^ y1, n > 8 ? n - 8 : 0);
    for (size_t i = 16; i < n && !diff; i += 8) {
        memcpy(&x0, a + i, 8);
        memcpy(&y0, b + i, 8);
        diff = low_bytes(x0 ^ y0, n - i);
    }
    return diff == 0;
}

static inline uint64_t mix(uint64_t k, uint16_t id)
{
    k = (k ^ id) * 0x9E3779B97F4A7C15ull;
    return k ^ (k >> 29);
}

/* The lexicon word w (n bytes, key k), NULL when it is none: most often one slot and one
 * word read. */
static inline const struct word_ent *find(const struct sg_injection *d, const char *w, size_t n,
                                          struct wkey k)
{
    for (uint32_t j = k.h & SLOT_IX;; j = (j + 1) & SLOT_IX) {
        uint32_t sl = d->slots[j];
        if (!sl)
            return NULL;
        if ((sl ^ k.h) & ~SLOT_IX)
            continue; /* another hash */
        const struct word_ent *e = &d->words[sl & SLOT_IX];
        if (e->w[0] == k.a && e->w[1] == k.b && e->len == n &&
            (n <= 16 || word_eq(d->pool + d->word_off[sl & SLOT_IX] + 16, w + 16, n - 16)))
            return e;
    }
}

/* The prefix filters' index of a folded word of three or more bytes. */
static inline unsigned prefix_ix(const unsigned char *w)
{
    return (w[0] & 31u) << 10 | (w[1] & 31u) << 5 | (w[2] & 31u);
}

static inline bool bit_set(const uint64_t *bits, unsigned x)
{
    return bits[x / 64] >> (x % 64) & 1;
}

static uint8_t r13[256]; /* rot13 of a folded byte */

/* The id of word w (added with no classes when new), 0 when the lexicon is full. */
static uint16_t dict_add(struct sg_injection *d, const char *w, size_t n, uint64_t classes)
{
    uint32_t h = whash(w, n);
    uint32_t j = h & (DICT_CAP - 1);
    for (; d->dict[j].id; j = (j + 1) & (DICT_CAP - 1)) {
        struct dict_ent *e = &d->dict[j];
        if (e->h == h && e->len == n && memcmp(d->pool + e->off, w, n) == 0) {
            e->classes |= classes;
            return e->id;
        }
    }
    if (d->nwords + ID_FIRST >= DICT_CAP * 3 / 4)
        return 0;
    if (d->pool_len + n + 16 > d->pool_cap) { /* 16 bytes of slack: word_eq */
        size_t cap = d->pool_cap ? d->pool_cap * 2 : 16384;
        char *p = realloc(d->pool, cap);
        if (!p)
            return 0;
        memset(p + d->pool_len, 0, cap - d->pool_len);
        d->pool = p;
        d->pool_cap = cap;
    }
    memcpy(d->pool + d->pool_len, w, n);
    if (n >= 3) {
        const unsigned char *u = (const unsigned char *)w;
        unsigned char rot[3] = {r13[u[0]], r13[u[1]], r13[u[2]]};
        unsigned x = prefix_ix(u), y = prefix_ix(rot);
        d->prefix[x / 64] |= UINT64_C(1) << (x % 64);
        /* a word whose rot13 decoding starts like this one starts like `rot` */
        d->prefix13[y / 64] |= UINT64_C(1) << (y % 64);
    }
    struct dict_ent *e = &d->dict[j];
    e->h = h;
    e->off = (uint32_t)d->pool_len;
    e->len = (uint8_t)n;
    e->id = (uint16_t)(ID_FIRST + d->nwords++);
    e->classes = classes;
    d->pool_len += n;
    d->bloom[(h >> 6) & 1023] |= UINT64_C(1) << (h & 63);
    return e->id;
}

static uint64_t phrase_key(const uint16_t *ids, int n)
{
    uint64_t k = 0x5EED;
    for (int i = n - 1; i >= 0; i--) /* from the last word back, as the scanner does */
        k = mix(k, ids[i]);
    return k;
}

/* The pair filter's bit of two consecutive word ids (16 bits of a multiplicative hash). */
static inline unsigned pair_ix(uint16_t prev, uint16_t last)
{
    return ((uint32_t)prev * 0x9E3779B1u ^ (uint32_t)last * 0x85EBCA77u) >> 16;
}

static int phrase_add(struct sg_injection *d, const uint16_t *ids, int n, uint64_t classes)
{
    uint64_t key = phrase_key(ids, n);
    uint32_t j = (uint32_t)key & (PHRASE_CAP - 1);
    for (; d->phrases[j].n; j = (j + 1) & (PHRASE_CAP - 1))
        if (d->phrases[j].key == key && d->phrases[j].n == n &&
            memcmp(d->phrases[j].ids, ids, (size_t)n * sizeof(*ids)) == 0) {
            d->phrases[j].classes |= classes;
            return 0;
        }
    if (d->nphrases >= PHRASE_CAP * 3 / 4)
        return SG_ETOOBIG;
    struct phrase_ent *p = &d->phrases[j];
    p->key = key;
    p->n = (uint8_t)n;
    p->classes = classes;
    memcpy(p->ids, ids, (size_t)n * sizeof(*ids));
    d->nphrases++;
    unsigned x = pair_ix(ids[n - 2], ids[n - 1]);
    d->pairs[x / 64] |= UINT64_C(1) << (x % 64);
    if (d->phrase_max[ids[n - 1]] < n)
        d->phrase_max[ids[n - 1]] = (uint8_t)n;
    return 0;
}

/* Cuts one lexicon phrase into folded words exactly as the scanner does and records it. */
static int lex_phrase(struct sg_injection *d, const char *p, size_t len, uint64_t classes)
{
    uint16_t ids[RING];
    int n = 0;
    char w[WORD_MAX + 8], first[WORD_MAX + 8];
    size_t wl = 0, first_len = 0;
    for (size_t i = 0; i <= len; i++) {
        unsigned char c = i < len ? (unsigned char)p[i] : ' ';
        char f[2];
        int k;
        if (c >= 0x80) {
            size_t l = sg_utf8_char_len((const unsigned char *)p + i, len - i);
            if (!l)
                return SG_EINVAL;
            uint32_t cp = c & (0x3F >> (l - 1));
            for (size_t j = 1; j < l; j++)
                cp = (cp << 6) | ((unsigned char)p[i + j] & 0x3F);
            i += l - 1;
            k = fold_cp(cp, f);
        } else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') {
            f[0] = (char)(c | 0x20);
            k = 1;
        } else if (c >= '0' && c <= '9') {
            f[0] = (char)c;
            k = 1;
        } else {
            k = FOLD_SEP;
        }
        if (k > 0) {
            if (wl + (size_t)k > WORD_MAX)
                return SG_EINVAL;
            memcpy(w + wl, f, (size_t)k);
            wl += (size_t)k;
        } else if (k == FOLD_SEP && wl) {
            if (n == RING)
                return SG_EINVAL;
            if (!(ids[n++] = dict_add(d, w, wl, 0)))
                return SG_ENOMEM;
            if (n == 1)
                memcpy(first, w, first_len = wl);
            wl = 0;
        } else if (k == FOLD_OTHER) {
            return SG_EINVAL;
        }
    }
    if (n == 0)
        return SG_EINVAL;
    if (n == 1)
        return dict_add(d, first, first_len, classes) ? 0 : SG_ENOMEM;
    return phrase_add(d, ids, n, classes);
}

/* ---------------------------------------------------------------- scanning ---- */

enum { A_OTHER, A_LOWER, A_UPPER, A_DIGIT, A_NL, A_SENT, A_COLON, A_MARK };
enum { B_LOWER = 1, B_UPPER = 2, B_DIGIT = 4, B_SYM = 8, B_PAD = 16 };

/* Byte classes, filled once (sg_injection_new) so the scanner needs no ctype calls. */
static uint8_t actab[128];
static uint8_t b64tab[256];
static uint8_t wtab[256]; /* ASCII letters and digits folded; 0 for anything else */
static uint8_t ftab[256]; /* their kind: W_LOWER, W_UPPER, W_DIGIT; 0 for anything else */
enum { W_LOWER = 1, W_UPPER = 2, W_DIGIT = 4 };
_Static_assert((int)W_LOWER == (int)B_LOWER && (int)W_UPPER == (int)B_UPPER &&
                   (int)W_DIGIT == (int)B_DIGIT,
               "letters() adds a word's kinds to the base64 run's as they are");
static int8_t b64val[256];

static void tables_init(void)
{
    for (int c = 0; c < 128; c++) {
        uint8_t k = A_OTHER;
        if (c >= 'a' && c <= 'z')
            k = A_LOWER;
        else if (c >= 'A' && c <= 'Z')
            k = A_UPPER;
        else if (c >= '0' && c <= '9')
            k = A_DIGIT;
        else if (c == '\n' || c == '\v' || c == '\f')
            k = A_NL;
        else if (c == '.' || c == '?' || c == ';')
            k = A_SENT;
        else if (c == ':')
            k = A_COLON;
        else if (c && strchr("<>[]!#-", c))
            k = A_MARK;
        actab[c] = k;
    }
    for (int c = 0; c < 256; c++) {
        r13[c] = (uint8_t)(c >= 'a' && c <= 'z' ? 'a' + (c - 'a' + 13) % 26 : c);
        wtab[c] = (uint8_t)(c < 128 && actab[c] >= A_LOWER && actab[c] <= A_DIGIT ? c | 0x20 : 0);
        if (c >= '0' && c <= '9')
            wtab[c] = (uint8_t)c;
        ftab[c] = (uint8_t)(c >= 128              ? 0
                            : actab[c] == A_LOWER ? W_LOWER
                            : actab[c] == A_UPPER ? W_UPPER
                            : actab[c] == A_DIGIT ? W_DIGIT
                                                  : 0);
    }
    for (int c = 0; c < 256; c++) {
        b64val[c] = -1;
        if (c >= 'a' && c <= 'z')
            b64tab[c] = B_LOWER, b64val[c] = (int8_t)(c - 'a' + 26);
        else if (c >= 'A' && c <= 'Z')
            b64tab[c] = B_UPPER, b64val[c] = (int8_t)(c - 'A');
        else if (c >= '0' && c <= '9')
            b64tab[c] = B_DIGIT, b64val[c] = (int8_t)(c - '0' + 52);
        else if (c == '+' || c == '-')
            b64tab[c] = B_SYM, b64val[c] = 62;
        else if (c == '/' || c == '_')
            b64tab[c] = B_SYM, b64val[c] = 63;
        else if (c == '=')
            b64tab[c] = B_PAD;
    }
}

#define RING_MASK 7 /* the ring holds 8 >= RING ids */
/* The words that completed the first element of some signal rule, the latest STARTS of
 * them: a rule's first element matters only while the next can follow within its gap, and
 * rules_compile refuses gaps longer than STARTS words (see started_within). */
#define STARTS 32

struct view {
    uint16_t ring[RING_MASK + 1]; /* ids of the last lexicon words ... */
    uint32_t rpos[RING_MASK + 1]; /* ... and their positions: a phrase is consecutive */
    unsigned head;                /* ring[head] is the latest */
    /* bit k of live[e]: rule k's element e was completed at st[k][e] (maybe too long ago
     * by now: checked when a word could continue it) */
    uint64_t live[INJ_RULE_MAX_EL - 1][2];
    uint32_t st[INJ_MAX_RULES][INJ_RULE_MAX_EL - 1]; /* per rule: where element k was last
                                                        completed (word position), 0: never;
                                                        element 0 of the signal rules: in
                                                        spos/smask instead */
    uint32_t last_st;                                /* the latest of them, 0: none live */
    /* ring of the last STARTS words that completed the first element of signal rules:
     * their positions and those rules (bit k of smask[x][k / 64]); one entry per word
     * instead of one position per rule it starts (a word like "you" starts several) */
    uint32_t spos[STARTS];
    uint64_t smask[STARTS][2];
    unsigned shead; /* spos[shead] is the latest */
};

struct scan {
    const struct sg_injection *d;
    int src, depth;
    char w[WORD_MAX + 8]; /* the word being read, folded (slack: whash, letters) */
    uint8_t wl;
    bool wover;
    uint8_t wkind; /* W_LOWER | W_UPPER | W_DIGIT seen in the word */
    size_t wstart;
    uint32_t pos, line_words;
    struct view v[2]; /* 0: the words, 1: their rot13 decoding */
    bool in_comment, in_tag, md_alt, md_comment;
    uint32_t hidden_tag; /* hash of the name of the hidden element we are in, 0: none */
    uint32_t tags, flag_tags, zw_inword, zw_run, zw_maxrun, bidi_override, bidi_other;
    bool zw_pending, flag_seq;
    bool wobf; /* the word has look-alike letters (math, full-width, Cyrillic) or leet */
    uint32_t obf_last, obf_prev; /* word positions of the last two lexicon words written so */
    size_t inv_where;
    size_t b64_start, b64_len;
    uint8_t b64_kinds;
    uint32_t tmpl_hits;
    uint8_t best[SG_INJ_NSIGNALS];
    uint16_t hits[SG_INJ_NSIGNALS];
    size_t where[SG_INJ_NSIGNALS];
};

#define HIDDEN(s)                                                                                  \
    ((s)->in_comment || (s)->in_tag || (s)->md_alt || (s)->md_comment || (s)->hidden_tag)

static void scan_text(struct scan *s, const unsigned char *t, size_t n);

static void scan_init(struct scan *s, const struct sg_injection *d, int src, int depth)
{
    memset(s, 0, sizeof(*s));
    s->d = d;
    s->src = src;
    s->depth = depth;
    s->pos = 1;
}

/* A hit with its final strength (already weighted). */
static void hit_final(struct scan *s, int sig, int strength, size_t off)
{
    if ((s->d->ignore & SG_INJ_BIT(sig)) || strength <= 0)
        return;
    if (strength > 95)
        strength = 95;
    if (strength >= WEAK && s->hits[sig] < UINT16_MAX) /* weak hits recur by chance */
        s->hits[sig]++;
    if (strength > s->best[sig]) {
        s->best[sig] = (uint8_t)strength;
        s->where[sig] = off;
    }
}

/* A hit with a base strength, weighted for the text's source. */
static void hit(struct scan *s, int sig, int base, size_t off)
{
    hit_final(s, sig, base * inj_weight[sig][s->src] / 100, off);
}

static void fire(struct scan *s, const struct inj_rule *r, int view, bool hidden)
{
    /* in the rot13 view only strong rules count: short common words decode to other
     * short words often enough to complete weak rules by chance */
    if (view && r->strength < 35)
        return;
    hit(s, r->sig, r->strength, s->wstart);
    if (hidden)
        hit(s, SG_INJ_HIDDEN_MARKUP, r->strength + 15, s->wstart);
    if (view)
        hit(s, SG_INJ_ENCODED, r->strength < 55 ? 55 : r->strength, s->wstart);
    /* instruction words spelt with look-alike letters or digits close by: hiding them
     * from filters is the point */
    else if (s->obf_prev && s->pos - s->obf_prev <= 12 &&
             r->strength * inj_weight[r->sig][s->src] / 100 >= FIRE_MIN)
        hit(s, SG_INJ_ENCODED, r->strength + 10 < 55 ? 55 : r->strength + 10, s->wstart);
}

/* Takes away from em the elements that need flags or classes (`all`) m lacks. */
static void el_all(const struct sg_injection *d, uint64_t m, uint64_t em[INJ_RULE_MAX_EL][2])
{
    for (int e = 0; e < INJ_RULE_MAX_EL; e++)
        for (int w = 0; w < 2; w++)
            for (uint64_t b = em[e][w] & d->el_all[e][w]; b; b &= b - 1) {
                uint64_t all = inj_rules[w * 64 + __builtin_ctzll(b)].el[e].all;
                if ((m & all) != all)
                    em[e][w] &= ~(b & -b);
            }
}

/* The elements matched by classes alone (`all` not checked: el_all does that). */
static void el_any(const struct sg_injection *d, uint64_t m, uint64_t em[INJ_RULE_MAX_EL][2])
{
    memset(em, 0, sizeof(uint64_t) * INJ_RULE_MAX_EL * 2);
    for (uint64_t c = m & d->rule_classes; c; c &= c - 1) {
        const uint64_t(*x)[2] = d->el_of[__builtin_ctzll(c)];
        for (int e = 0; e < INJ_RULE_MAX_EL; e++) {
            em[e][0] |= x[e][0];
            em[e][1] |= x[e][1];
        }
    }
}

/* Which rule elements a word with classes (and flags) m matches: bit k of em[e][k / 64]
 * is set when inj_rules[k].el[e] has one of m's classes in `any` and all of its `all`. */
static void el_match(const struct sg_injection *d, uint64_t m, uint64_t em[INJ_RULE_MAX_EL][2])
{
    el_any(d, m, em);
    el_all(d, m, em);
}

/* The elements of a lexicon class set (or the colon's) matched by a word with `flags`. */
static inline void cset_match(const struct sg_injection *d, const struct cset *c, uint64_t flags,
                              uint64_t em[INJ_RULE_MAX_EL][2])
{
    memcpy(em, c->em, sizeof(c->em));
    if (c->need_all)
        el_all(d, c->classes | flags, em);
}

static inline bool within(uint32_t st, uint32_t p, uint16_t gap1)
{
    return st && p - st <= gap1;
}

/* The word at position p completed the first element of the signal rules in x. */
static inline void start_push(struct view *v, const uint64_t x[2], uint32_t p)
{
    v->shead = (v->shead + 1) & (STARTS - 1);
    v->spos[v->shead] = p;
    v->smask[v->shead][0] = x[0];
    v->smask[v->shead][1] = x[1];
    v->live[0][0] |= x[0];
    v->live[0][1] |= x[1];
    v->last_st = p;
}

/* Whether signal rule k (bit `bit` of word w) had its first element completed at most
 * gap1 words before p: within(st, p, gap1) with st the latest position that completed it.
 * The ring is walked from the latest entry back; positions only decrease that way, so
 * the walk stops at the first entry too far back, and the first entry with the bit is
 * the latest completion. A view gets at most one entry per word position (rules() and
 * the starts-only path of cset_rules() run once per view and word, after its checks), so
 * a completion that has left the ring has STARTS later entries at STARTS distinct
 * positions before p: it is more than STARTS >= gap1 words back, not within either.
 * Empty entries have no bits. */
static bool started_within(const struct view *v, int w, uint64_t bit, uint32_t p, uint16_t gap1)
{
    for (unsigned i = 0; i < STARTS; i++) {
        unsigned x = (v->shead - i) & (STARTS - 1);
        if (p - v->spos[x] > gap1)
            return false;
        if (v->smask[x][w] & bit)
            return true;
    }
    return false;
}

/* Element e > 0 (the rules of word w in x, which match it) of the signal rules at position
 * p: those whose element e - 1 was completed too long ago drop out; the others fire (their
 * last element) or complete element e here. Returns the rules that fire. (Element 0 is
 * rules()'s: start_push.) */
static inline uint64_t advance_el(const struct sg_injection *d, struct view *v, int w, int e,
                                  uint64_t x, uint32_t p)
{
    for (uint64_t b = x; b; b &= b - 1) {
        size_t k = (size_t)w * 64 + (size_t)__builtin_ctzll(b);
        if (e == 1 ? !started_within(v, w, b & -b, p, d->gap1[k][1])
                   : !within(v->st[k][e - 1], p, d->gap1[k][e])) {
            x &= ~(b & -b); /* too long ago: the rule starts over */
            v->live[e - 1][w] &= ~(b & -b);
        }
    }
    uint64_t fired = x & d->el_last[e][w];
    x &= ~d->el_last[e][w];
    if (e < INJ_RULE_MAX_EL - 1 && x) { /* (element 3 is always the last) */
        v->live[e][w] |= x;
        for (; x; x &= x - 1)
            v->st[(size_t)w * 64 + (size_t)__builtin_ctzll(x)][e] = p;
        v->last_st = p;
    }
    return fired;
}

/* Advances the rules for a word at position p with classes (and flags) m, that matches
 * the rule elements em (el_match). Element e of a rule advances when the word matches it
 * and element e - 1 was completed at most its gap + 1 positions before (or e is the first
 * element): it is completed here (st = p), or, the last element, the rule fires. Every
 * check uses the state from before this word (elements are taken from the last to the
 * first), so one word never completes two consecutive elements.
 *
 * The derivation rules come first and run one by one: one that completes adds its class
 * to the word, for the elements of itself still to check and for every later rule. The
 * signal rules then run all at once, one bit per rule, element by element: only the
 * words that match a rule's element with its previous element live cost anything, and
 * the order in which the rules of one word fire does not matter (every hit of a word has
 * the same offset and strength only grows). */
static void rules(struct scan *s, struct view *v, uint64_t m, uint64_t em[INJ_RULE_MAX_EL][2],
                  int view, bool hidden)
{
    const struct sg_injection *d = s->d;
    uint32_t p = s->pos;
    if ((em[0][0] | em[1][0] | em[2][0] | em[3][0]) & d->derive_rules)
        for (size_t k = 0; k < d->nderive; k++) {
            const struct inj_rule *r = &inj_rules[k];
            uint64_t bit = UINT64_C(1) << k;
            for (int e = r->n - 1; e >= 0; e--) {
                if (!(em[e][0] & bit))
                    continue;
                if (e > 0 &&
                    !((v->live[e - 1][0] & bit) && within(v->st[k][e - 1], p, d->gap1[k][e])))
                    continue;
                if (e < r->n - 1) {
                    v->st[k][e] = p;
                    v->last_st = p;
                    v->live[e][0] |= bit;
                    continue;
                }
                m |= r->derive;
                el_match(d, m, em);
            }
        }
    uint64_t fired[2] = {0, 0}, start[2] = {0, 0};
    for (int w = 0; w < 2; w++) {
        /* the rules whose element e this word matches, with element e - 1 live */
        uint64_t sig = d->signal_rules[w];
        uint64_t h3 = em[3][w] & sig & v->live[2][w], h2 = em[2][w] & sig & v->live[1][w];
        uint64_t h1 = em[1][w] & sig & v->live[0][w], h0 = em[0][w] & sig;
        if (!(h0 | h1 | h2 | h3))
            continue;
        /* from the last element to the first: every check sees the state from before
         * this word */
        if (h3)
            fired[w] |= advance_el(d, v, w, 3, h3, p);
        if (h2)
            fired[w] |= advance_el(d, v, w, 2, h2, p);
        if (h1)
            fired[w] |= advance_el(d, v, w, 1, h1, p);
        /* element 0: the one-element rules fire, the others start (recorded after the
         * loop, so that every check above, in both halves of the rule set, sees the state
         * from before this word) */
        fired[w] |= h0 & d->el_last[0][w];
        start[w] = h0 & ~d->el_last[0][w];
    }
    if (start[0] | start[1])
        start_push(v, start, p);
    for (int w = 0; w < 2; w++)
        for (; fired[w]; fired[w] &= fired[w] - 1)
            fire(s, &inj_rules[(size_t)w * 64 + (size_t)__builtin_ctzll(fired[w])], view, hidden);
}

/* The classes the phrases ending at the latest word add. */
static uint64_t phrase_classes(const struct sg_injection *d, const struct view *v, uint32_t pos)
{
    uint16_t last = v->ring[v->head];
    uint64_t key = mix(0x5EED, last), m = 0;
    for (int n = 2; n <= d->phrase_max[last]; n++) {
        unsigned x = (v->head - (unsigned)n + 1) & RING_MASK;
        if (v->rpos[x] != pos - (uint32_t)n + 1)
            break; /* not the word right before */
        /* every phrase ending here has the word before as its last but one */
        if (n == 2 && !bit_set(d->pairs, pair_ix(v->ring[x], last)))
            break;
        key = mix(key, v->ring[x]);
        for (uint32_t j = (uint32_t)key & (PHRASE_CAP - 1); d->phrases[j].n;
             j = (j + 1) & (PHRASE_CAP - 1)) {
            const struct phrase_ent *ph = &d->phrases[j];
            if (ph->key != key || ph->n != n)
                continue;
            int q = 0;
            while (q < n && ph->ids[n - 1 - q] == v->ring[(v->head - (unsigned)q) & RING_MASK])
                q++;
            if (q == n) {
                m |= ph->classes;
                break;
            }
        }
    }
    return m;
}

/* Forgets every partial match at once when the latest was completed further back than any
 * gap (a new paragraph, a long stretch of text without rule words): all are too old to go
 * on. advance_el would find each too old only when a word could continue it, and that
 * word would pay for the check (more than half of those checks, in shop text). */
static inline void expire(const struct sg_injection *d, struct view *v, uint32_t p)
{
    if (v->last_st && p - v->last_st > d->max_gap1) {
        memset(v->live, 0, sizeof(v->live));
        v->last_st = 0;
    }
}

/* rules() for a word of class set c (with flags). */
static inline void cset_rules(struct scan *s, struct view *v, const struct cset *c, uint64_t flags,
                              int view, bool hidden)
{
    /* Most lexicon words ("the", "you", "de") start no rule and continue none that is
     * live: nothing to do. (The `all` flags only ever take elements away.) */
    expire(s->d, v, s->pos);
    uint64_t cont = 0;
    for (int w = 0; w < 2; w++)
        cont |= (c->em[1][w] & v->live[0][w]) | (c->em[2][w] & v->live[1][w]) |
                (c->em[3][w] & v->live[2][w]);
    if (!cont && c->starts_only) {
        /* what rules() does then: element 0 of c's rules completed here, nothing fires */
        if (c->em[0][0] | c->em[0][1])
            start_push(v, c->em[0], s->pos);
        return;
    }
    if (!(cont | c->em[0][0] | c->em[0][1]))
        return;
    uint64_t em[INJ_RULE_MAX_EL][2];
    cset_match(s->d, c, flags, em);
    rules(s, v, c->classes | flags, em, view, hidden);
}

/* A lexicon word in a view: phrases, then rules. */
static void view_word(struct scan *s, int view, const struct word_ent *e, uint64_t flags,
                      bool hidden)
{
    struct view *v = &s->v[view];
    v->head = (v->head + 1) & RING_MASK;
    v->ring[v->head] = e->id;
    v->rpos[v->head] = s->pos;
    const struct sg_injection *d = s->d;
    uint64_t m = e->classes, extra = 0;
    if (e->phrase_max)
        extra = phrase_classes(d, v, s->pos) & ~m;
    if (extra) {
        uint64_t em[INJ_RULE_MAX_EL][2];
        el_match(d, m | extra | flags, em);
        expire(d, v, s->pos);
        rules(s, v, m | extra | flags, em, view, hidden);
        return;
    }
    /* a word of no class a rule uses (cset 0, e.g. one that only occurs inside phrases)
     * starts and continues nothing; expire() can wait for the next word that could
     * (dropping partial matches sooner or later changes nothing: advance_el finds them
     * too old as well) */
    if (e->cset)
        cset_rules(s, v, &d->csets[e->cset], flags, view, hidden);
}

static void advance(struct scan *s, uint32_t by)
{
    s->pos += by;
    if (s->pos > 0xF0000000u) { /* 4 G words: forget partial matches, start over */
        for (int k = 0; k < 2; k++) {
            memset(s->v[k].live, 0, sizeof(s->v[k].live));
            memset(s->v[k].st, 0, sizeof(s->v[k].st));
            memset(s->v[k].spos, 0, sizeof(s->v[k].spos));
            memset(s->v[k].smask, 0, sizeof(s->v[k].smask));
            s->v[k].last_st = 0;
        }
        s->pos = 1;
    }
}

static const struct word_ent *lookup(const struct sg_injection *d, const char *w, size_t n)
{
    struct wkey k = wkey(w, n);
    if (!(d->bloom[(k.h >> 6) & 1023] & (UINT64_C(1) << (k.h & 63))))
        return NULL;
    return find(d, w, n, k);
}

/* The word just read (s->w[0..wl), wl > 0) ends: look it up, advance the rules. */
static void flush_word(struct scan *s)
{
    size_t n = s->wl;
    const struct sg_injection *d = s->d;
    const unsigned char *w = (const unsigned char *)s->w;
    const struct word_ent *e = NULL, *r = NULL;
    if (!s->wover) {
        /* both filters at once, without a branch between them (which of the shop's words
         * are in the lexicon is a coin toss for the branch predictor) */
        struct wkey k = wkey(s->w, n);
        unsigned x = n >= 3 ? prefix_ix(w) : 0;
        if ((n < 3 || bit_set(d->prefix, x)) &
            (unsigned)(d->bloom[(k.h >> 6) & 1023] >> (k.h & 63)))
            e = find(d, s->w, n, k);
        if (!e && n >= 3 && !(s->wkind & W_DIGIT) && bit_set(d->prefix13, x)) {
            char t[WORD_MAX + 8];
            for (size_t i = 0; i < n; i++)
                t[i] = (char)r13[w[i]];
            r = lookup(d, t, n);
        }
        if (!e && (s->wkind & W_DIGIT) && (s->wkind & (W_LOWER | W_UPPER))) { /* 1gn0r3 */
            static const char leet[] = "oizeasgtbg";
            char t[WORD_MAX + 8];
            for (size_t i = 0; i < n; i++)
                t[i] = w[i] >= '0' && w[i] <= '9' ? leet[w[i] - '0'] : (char)w[i];
            e = lookup(d, t, n);
            s->wobf = s->wobf || e;
        }
    }
    if ((e || r) && s->wobf) {
        s->obf_prev = s->obf_last;
        s->obf_last = s->pos;
    }
    if (e || r) {
        uint64_t flags = 0;
        if (s->line_words < 5)
            flags |= CB(F_LINEHEAD);
        if ((s->wkind & (W_UPPER | W_LOWER)) == W_UPPER && n >= 2)
            flags |= CB(F_UPPER);
        bool hidden = HIDDEN(s);
        if (e)
            view_word(s, 0, e, flags, hidden);
        if (r)
            view_word(s, 1, r, flags, hidden);
    }
    advance(s, 1);
    s->line_words++;
    s->wl = 0;
    s->wover = false;
    s->wkind = 0;
    s->wobf = false;
    s->zw_pending = false;
}

/* Ends the word being read, if any (separators often follow each other: no call then). */
static inline void flush(struct scan *s)
{
    if (s->wl)
        flush_word(s);
}

static inline void push(struct scan *s, char c, size_t i)
{
    if (!s->wl)
        s->wstart = i;
    if (s->zw_pending) {
        s->zw_inword++;
        s->zw_pending = false;
    }
    if (s->wl < WORD_MAX)
        s->w[s->wl++] = c;
    else
        s->wover = true;
}

/* The end of a sentence or line: phrases do not continue across it, and rules see a gap
 * of a few words. */
static void brk(struct scan *s)
{
    flush(s);
    advance(s, 3); /* also keeps phrases from running across the break */
}

static void newline(struct scan *s)
{
    brk(s);
    if (s->line_words == 0) /* a blank line: no rule runs across paragraphs */
        advance(s, 64);
    s->line_words = 0;
    s->md_comment = false;
}

static void colon(struct scan *s, size_t i)
{
    flush(s);
    s->wstart = i;
    uint64_t flags = s->line_words < 5 ? CB(F_LINEHEAD) : 0;
    bool hidden = HIDDEN(s);
    for (int k = 0; k < 2; k++)
        cset_rules(s, &s->v[k], &s->d->colon, flags, k, hidden);
    advance(s, 1);
}

/* One ASCII character that is not markup (also the ASCII hidden in Unicode tags). */
static inline void ascii(struct scan *s, unsigned char c, size_t i)
{
    switch (actab[c]) {
    case A_LOWER:
    case A_UPPER:
    case A_DIGIT:
        push(s, (char)wtab[c], i);
        s->wkind |= ftab[c];
        return;
    case A_NL:
        newline(s);
        return;
    case A_SENT:
        brk(s);
        return;
    case A_COLON:
        colon(s, i);
        return;
    default:
        flush(s);
        if (c == '!')
            brk(s);
        return;
    }
}

static bool starts(const unsigned char *t, size_t n, size_t i, const char *p)
{
    size_t l = strlen(p);
    return n - i >= l && memcmp(t + i, p, l) == 0;
}

/* Case-insensitive for ASCII letters; p is lower case. */
static bool starts_ci(const unsigned char *t, size_t n, size_t i, const char *p)
{
    size_t l = strlen(p);
    if (n - i < l)
        return false;
    for (size_t k = 0; k < l; k++) {
        unsigned char c = t[i + k];
        if ((c >= 'A' && c <= 'Z' ? c | 0x20 : c) != (unsigned char)p[k])
            return false;
    }
    return true;
}

static inline bool is_alnum(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* A chat-template token. Tokens in backticks are talked about (a question about ChatML),
 * not used, and count little; several tokens in one text count more. */
static void tmpl(struct scan *s, int base, const unsigned char *t, size_t i)
{
    if (i > 0 && t[i - 1] == '`') {
        hit(s, SG_INJ_TEMPLATE_TOKENS, 20, i);
        return;
    }
    s->tmpl_hits++;
    int more = s->tmpl_hits > 3 ? 2 : (int)s->tmpl_hits - 1;
    hit(s, SG_INJ_TEMPLATE_TOKENS, base + 15 * more, i);
}

/* <|im_start|>, <|system|>, <|eot_id|>, and the full-width bar variant "<｜...｜>". */
static size_t pipe_token(struct scan *s, const unsigned char *t, size_t n, size_t i, size_t open)
{
    size_t j = i + open, lim = n - j > 48 ? j + 48 : n;
    while (j < lim && t[j] != '|' && t[j] != '>' && t[j] != '<' && t[j] != ' ' && t[j] != '\n' &&
           !starts(t, n, j, "\xEF\xBD\x9C"))
        j++;
    size_t close = starts(t, n, j, "|>") ? 2 : starts(t, n, j, "\xEF\xBD\x9C>") ? 4 : 0;
    if (!close || j == i + open)
        return i + 1;
    int strength = 45;
    for (size_t k = i + open; k + 6 <= j; k++)
        if (starts_ci(t, j, k, "system"))
            strength = 60;
    size_t k = j + close;
    while (k < n && k < j + close + 4 && (t[k] == ' ' || t[k] == '\n' || t[k] == '\r'))
        k++;
    if (starts_ci(t, n, k, "system"))
        strength = 60;
    tmpl(s, strength, t, i);
    return j + close;
}

static bool hex_digit(unsigned char c)
{
    return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f');
}

/* Whether a tag's attributes hide its content: the hidden attribute, or a style that
 * makes text invisible (display:none, visibility:hidden, zero size or opacity, white or
 * transparent text, off-screen). */
static bool hidden_attrs(const unsigned char *a, size_t n)
{
    for (size_t i = 1; i + 6 <= n; i++)
        if ((a[i - 1] == ' ' || a[i - 1] == '\t' || a[i - 1] == '\n') &&
            starts_ci(a, n, i, "hidden") && (i + 6 == n || strchr(" \t\n/=", a[i + 6])))
            return true;
    if (!memchr(a, ':', n)) /* every style below has one */
        return false;
    char b[256];
    size_t m = 0;
    for (size_t i = 0; i < n && m < sizeof(b) - 1; i++)
        if (a[i] != ' ' && a[i] != '\t' && a[i] != '\n' && a[i] != '\r' && a[i] != '"' &&
            a[i] != '\'')
            b[m++] = (char)(a[i] >= 'A' && a[i] <= 'Z' ? a[i] | 0x20 : a[i]);
    b[m] = '\0';
    static const char *const plain[] = {"display:none", "visibility:hidden", "color:transparent",
                                        "color:white",  "clip:rect(0",       "text-indent:-9",
                                        "left:-9"};
    for (size_t k = 0; k < sizeof(plain) / sizeof(plain[0]); k++)
        if (strstr(b, plain[k]))
            return true;
    static const char *const zero[] = {"font-size:0", "opacity:0", "height:0", "width:0"};
    for (size_t k = 0; k < sizeof(zero) / sizeof(zero[0]); k++) {
        const char *p = b;
        size_t l = strlen(zero[k]);
        while ((p = strstr(p, zero[k]))) { /* 0, 0px, 0;  but not 0.9em */
            if (p[l] != '.' && !(p[l] >= '0' && p[l] <= '9'))
                return true;
            p += l;
        }
    }
    for (const char *p = b; (p = strstr(p, "color:#fff")); p += 10) { /* #fff or #ffffff */
        const unsigned char *q = (const unsigned char *)p + 10;
        if (!hex_digit(q[0]) || (starts_ci(q, 3, 0, "fff") && !hex_digit(q[3])))
            return true;
    }
    return false;
}

static bool void_tag(const char *name)
{
    static const char *const v[] = {"img",  "br",   "hr",  "input", "meta",  "link",  "source",
                                    "area", "base", "col", "embed", "param", "track", "wbr"};
    for (size_t k = 0; k < sizeof(v) / sizeof(v[0]); k++)
        if (strcmp(name, v[k]) == 0)
            return true;
    return false;
}

static size_t angle(struct scan *s, const unsigned char *t, size_t n, size_t i)
{
    if (starts(t, n, i, "<!--")) {
        s->in_comment = true;
        s->line_words = 0;
        return i + 4;
    }
    if (i + 1 < n && t[i + 1] == '|')
        return pipe_token(s, t, n, i, 2);
    if (starts(t, n, i, "<\xEF\xBD\x9C"))
        return pipe_token(s, t, n, i, 4);
    if (starts_ci(t, n, i, "<<sys>>") || starts_ci(t, n, i, "<</sys>>")) {
        tmpl(s, 55, t, i);
        return i + (t[i + 2] == '/' ? 8 : 7);
    }
    size_t j = i + 1;
    bool closing = j < n && t[j] == '/';
    j += closing;
    size_t ns = j;
    char name[25] = "";
    while (j < n && j - ns < 24 && (is_alnum(t[j]) || t[j] == '_' || t[j] == '-')) {
        name[j - ns] = (char)(t[j] >= 'A' && t[j] <= 'Z' ? t[j] | 0x20 : t[j]);
        j++;
    }
    if (j == ns || !(name[0] >= 'a' && name[0] <= 'z'))
        return i + 1;
    name[j - ns] = '\0';
    if (j < n && t[j] == '>' && (name[0] == 's' || name[0] == 'e' || name[0] == 'i')) {
        /* (every name below starts with one of these letters) */
        static const char *const turn[] = {"start_of_turn", "end_of_turn", "im_start", "im_end"};
        static const char *const sys[] = {"system", "sys", "system_prompt"};
        for (size_t k = 0; k < sizeof(turn) / sizeof(turn[0]); k++)
            if (strcmp(name, turn[k]) == 0)
                tmpl(s, 45, t, i);
        for (size_t k = 0; k < sizeof(sys) / sizeof(sys[0]); k++)
            if (strcmp(name, sys[k]) == 0)
                tmpl(s, 30, t, i);
    }
    size_t e = j, lim = n - j > TAG_LOOKAHEAD ? j + TAG_LOOKAHEAD : n;
    while (e < lim && t[e] != '>' && t[e] != '<')
        e++;
    if (e >= lim || t[e] != '>')
        return i + 1; /* "a < b", not a tag */
    uint32_t h = fnv(name, j - ns) | 1;
    if (closing) {
        if (s->hidden_tag == h)
            s->hidden_tag = 0;
    } else if (!s->hidden_tag && t[e - 1] != '/' && hidden_attrs(t + j, e - j) && !void_tag(name)) {
        s->hidden_tag = h;
    }
    s->in_tag = true; /* the attributes are read as words, hidden */
    s->line_words = 0;
    return j;
}

/* "[INST]", "[/INST]", "[SYSTEM_PROMPT]", ... */
static size_t bracket(struct scan *s, const unsigned char *t, size_t n, size_t i)
{
    static const struct {
        const char *tok;
        uint8_t strength;
    } b[] = {{"[inst]", 45},
             {"[/inst]", 45},
             {"[system_prompt]", 55},
             {"[/system_prompt]", 55},
             {"[available_tools]", 40},
             {"[tool_results]", 40},
             {"[system]", 40},
             {"[sys]", 35},
             /* the same pseudo role label in the other languages */
             {"[syst\xC3\xA8me]", 40},
             {"[systeme]", 40},
             {"[sistema]", 40},
             {"[systeem]", 40},
             {"[admin]", 35},
             {"[developer]", 35}};
    for (size_t k = 0; k < sizeof(b) / sizeof(b[0]); k++)
        if (starts_ci(t, n, i, b[k].tok)) {
            tmpl(s, b[k].strength, t, i);
            return i + strlen(b[k].tok);
        }
    s->line_words = 0;
    return i + 1;
}

/* "### System:", "### Instruction:", "## Assistant" at the start of a line. */
static size_t hashes(struct scan *s, const unsigned char *t, size_t n, size_t i)
{
    size_t j = i;
    while (j < n && t[j] == '#' && j - i < 8)
        j++;
    if (j - i < 2)
        return i + 1;
    size_t w = j;
    while (w < n && w - j < 4 && t[w] == ' ')
        w++;
    static const struct {
        const char *word;
        uint8_t strength;
    } r[] = {{"system", 40},       {"assistant", 40},   {"human", 40},    {"user", 30},
             {"instructions", 30}, {"instruction", 30}, {"response", 30}, {"input", 25}};
    for (size_t k = 0; k < sizeof(r) / sizeof(r[0]); k++) {
        size_t l = strlen(r[k].word);
        if (!starts_ci(t, n, w, r[k].word) || (w + l < n && is_alnum(t[w + l])))
            continue;
        size_t e = w + l;
        while (e < n && t[e] == ' ')
            e++;
        if (e >= n || t[e] == ':' || t[e] == '\n' || t[e] == '\r')
            tmpl(s, r[k].strength, t, i);
        break;
    }
    return j;
}

/* After a markdown image's alt text: a URL whose query holds a placeholder
 * (?q={conversation}, ?d=[DATA]) asks the model to leak data through an image. */
static void md_target(struct scan *s, const unsigned char *t, size_t n, size_t i)
{
    if (i >= n || t[i] != '(')
        return;
    bool query = false;
    for (size_t j = i + 1; j < n && j - i < 2048; j++) {
        unsigned char c = t[j];
        if (c == ')' || c == ' ' || c == '\n' || c == '[' || c == ']')
            return;
        if (c == '?')
            query = true;
        else if (query && (c == '{' || c == '<' || c == '$' || starts_ci(t, n, j, "%7b") ||
                           starts_ci(t, n, j, "%5b"))) {
            hit(s, SG_INJ_HIDDEN_MARKUP, 45, i);
            return;
        }
    }
}

/* Not inlined: scan_text()'s loop runs for every byte and markup() for few, and inlined,
 * its many locals (angle, hidden_attrs, bracket, ...) made the compiler spill the loop's
 * registers (measured: about 1 us per 4 KB slower, gcc 12 -O2). */
__attribute__((noinline)) static size_t markup(struct scan *s, const unsigned char *t, size_t n,
                                               size_t i)
{
    switch (t[i]) {
    case '<':
        return angle(s, t, n, i);
    case '>':
        if (s->in_tag) {
            s->in_tag = false;
            s->line_words = 0;
        }
        return i + 1;
    case '-':
        if (s->in_comment && starts(t, n, i, "-->")) {
            s->in_comment = false;
            s->line_words = 0;
            return i + 3;
        }
        return i + 1;
    case '!':
        if (i + 1 < n && t[i + 1] == '[') {
            s->md_alt = true;
            s->line_words = 0;
            return i + 2;
        }
        brk(s);
        return i + 1;
    case '[':
        return bracket(s, t, n, i);
    case ']':
        if (s->md_alt) {
            s->md_alt = false;
            md_target(s, t, n, i + 1);
        }
        if (starts(t, n, i, "]: #") || starts(t, n, i, "]:#") || starts(t, n, i, "]: <>")) {
            s->md_comment = true; /* [//]: # (a markdown comment) */
            s->line_words = 0;
        }
        return i + 1;
    case '#':
        return s->line_words == 0 ? hashes(s, t, n, i) : i + 1;
    default:
        return i + 1;
    }
}

static bool is_zero_width(uint32_t cp)
{
    return (cp >= 0x200B && cp <= 0x200D) || (cp >= 0x2060 && cp <= 0x2064) || cp == 0xFEFF ||
           cp == 0x180E || cp == 0x115F || cp == 0x1160 || cp == 0x3164 || cp == 0xFFA0 ||
           cp == 0x17B4 || cp == 0x17B5;
}

/* A zero-width character: dropped ("ig\u200bnore" is "ignore"), counted in words and
 * runs. */
static inline void zero_width(struct scan *s, size_t i)
{
    if (s->wl)
        s->zw_pending = true;
    if (++s->zw_run > s->zw_maxrun) {
        s->zw_maxrun = s->zw_run;
        if (s->zw_run == 8)
            s->inv_where = i;
    }
}

static void unicode(struct scan *s, uint32_t cp, size_t i)
{
    if (cp >= 0xE0000 && cp <= 0xE007F) {
        /* Tags spell flags of regions after U+1F3F4 (England: 5 tags and a cancel tag);
         * anything else is ASCII hidden from the reader, read here as text. */
        if (s->flag_seq && s->flag_tags < 7) {
            s->flag_tags++;
            if (cp == 0xE007F)
                s->flag_seq = false;
            return;
        }
        if (!s->tags++)
            s->inv_where = i;
        if (cp >= 0xE0020 && cp <= 0xE007E)
            ascii(s, (unsigned char)(cp - 0xE0000), i);
        return;
    }
    if (is_zero_width(cp)) {
        zero_width(s, i);
        return;
    }
    if (cp == 0x202D || cp == 0x202E) { /* LRO, RLO: text displayed in another order */
        if (!s->bidi_override++)
            s->inv_where = i;
        return;
    }
    if ((cp >= 0x202A && cp <= 0x202C) || (cp >= 0x2066 && cp <= 0x2069)) {
        s->bidi_other++;
        return;
    }
    s->zw_run = 0;
    s->flag_seq = cp == 0x1F3F4;
    s->flag_tags = 0;
    char f[2];
    int k = fold_cp(cp, f);
    if (k > 0) {
        for (int j = 0; j < k; j++)
            push(s, f[j], i);
        s->wkind |= W_LOWER;
        if (cp >= 0x370) /* not an accented Latin letter: a look-alike */
            s->wobf = true;
    } else if (k == FOLD_OTHER) {
        push(s, PLACEHOLDER, i);
        s->wkind |= W_LOWER;
    } else if (k == FOLD_SEP) {
        if (cp == 0x2028 || cp == 0x2029 || cp == 0x85)
            newline(s);
        else if (cp == 0x3002 || cp == 0xFF01 || cp == 0xFF1F || cp == 0x2026)
            brk(s);
        else if (cp == 0xFF1A)
            colon(s, i);
        else
            flush(s);
    }
}

/* A Latin letter U+00C0..U+017F (two bytes, 0xC3..0xC5 and a continuation byte: the
 * accented letters of the lexicon's languages), what unicode() does for it, shortened: it
 * is no tag, zero-width or bidi character, and fold_cp gives one or two letters or, for
 * U+00D7 and U+00F7, a separator. */
static inline void latin(struct scan *s, uint32_t cp, size_t i)
{
    const char *f = latin_fold + 2 * (cp - 0xC0);
    s->zw_run = 0;
    s->flag_seq = false;
    s->flag_tags = 0;
    if (f[0] == '_') {
        flush(s);
        return;
    }
    push(s, f[0], i);
    if (f[1] != '_')
        push(s, f[1], i);
    s->wkind |= W_LOWER;
}

#define TEXTLIKE_MAX 512 /* textlike() looks at this many bytes */

/* Whether decoded bytes are text: printable ASCII or valid UTF-8, with spaces. */
static bool textlike(const unsigned char *b, size_t m)
{
    size_t k = m < TEXTLIKE_MAX ? m : TEXTLIKE_MAX, ok = 0, sp = 0;
    for (size_t i = 0; i < k;) {
        if (k - i >= 8) { /* 8 printable ASCII bytes (0x20..0x7e) at once (SWAR) */
            uint64_t x, y;
            memcpy(&x, b + i, 8);
            y = x & BYTES(0x7f);
            uint64_t printable = (y + BYTES(0x80 - 0x20)) & ~(y + BYTES(0x7f - 0x7e)) & ~x;
            if ((printable & BYTES(0x80)) == BYTES(0x80)) {
                uint64_t t = x ^ BYTES(' '); /* a zero byte where x has a space */
                uint64_t zero = ~(((t & BYTES(0x7f)) + BYTES(0x7f)) | t) & BYTES(0x80);
                ok += 8;
                /* the number of top bits set: summed into the top byte by a multiply
                 * (at most 8: no carry), without a popcount call where the target has
                 * no popcount instruction (the x86-64 baseline) */
                sp += (size_t)(((zero >> 7) * BYTES(1)) >> 56);
                i += 8;
                continue;
            }
        }
        unsigned char c = b[i];
        if ((c >= 0x20 && c < 0x7f) || c == '\n' || c == '\r' || c == '\t') {
            ok++;
            sp += c == ' ' || c == '\n';
            i++;
        } else if (c >= 0x80) {
            size_t l = sg_utf8_char_len(b + i, k - i);
            ok += l;
            i += l ? l : 1;
        } else {
            i++;
        }
    }
    return ok * 10 >= k * 9 && sp > 0 && sp * 40 >= k;
}

/* What a nested scan of decoded text found becomes the outer text's: its own signals,
 * and "encoded" when it found anything instruction-like. */
static void merge_decoded(struct scan *s, const struct scan *sub, size_t off)
{
    int strongest = 0;
    for (int sig = 0; sig < SG_INJ_NSIGNALS; sig++) {
        if (!sub->best[sig])
            continue;
        hit_final(s, sig, sub->best[sig], off);
        if (sig != SG_INJ_INVISIBLE && sub->best[sig] > strongest)
            strongest = sub->best[sig];
    }
    /* hidden text has no business saying anything instruction-like, even weakly */
    if (strongest >= FIRE_MIN)
        hit(s, SG_INJ_ENCODED, strongest + 10 < 60 ? 60 : strongest + 10, off);
}

static void scan_finish(struct scan *s);

/* Decodes a base64 (standard or URL alphabet) or hex run in pieces and scans the pieces
 * with a nested scanner, when the first piece is text. */
static void decode_scan(struct scan *s, const unsigned char *r, size_t n, bool hex, size_t off)
{
    unsigned char buf[B64_PIECE];
    struct scan sub;
    scan_init(&sub, s->d, s->src, s->depth + 1);
    size_t m = 0;
    bool first = true, checked = false;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int8_t a, b, c, e;
        /* four base64 characters at once when they are neither padding nor line breaks
         * (b64val < 0) and start on a byte boundary (bits == 0: m is then a multiple of
         * 3, and so is sizeof(buf)): the three bytes the per-character path makes */
        if (!hex && bits == 0 && n - i >= 4 && sizeof(buf) - m >= 3 &&
            ((a = b64val[r[i]]) | (b = b64val[r[i + 1]]) | (c = b64val[r[i + 2]]) |
             (e = b64val[r[i + 3]])) >= 0) {
            buf[m++] = (unsigned char)(a << 2 | b >> 4);
            buf[m++] = (unsigned char)(b << 4 | c >> 2);
            buf[m++] = (unsigned char)(c << 6 | e);
            i += 3;
        } else {
            unsigned char ch = r[i];
            if (ch == '\r' || ch == '\n')
                continue;
            if (hex) {
                acc = (acc << 4) | (uint32_t)(ch <= '9' ? ch - '0' : (ch | 0x20) - 'a' + 10);
                bits += 4;
            } else {
                if (ch == '=')
                    break;
                acc = (acc << 6) | (uint32_t)b64val[ch];
                bits += 6;
            }
            if (bits >= 8) {
                bits -= 8;
                buf[m++] = (unsigned char)(acc >> bits);
                acc &= (1u << bits) - 1;
            }
        }
        /* textlike() reads the first TEXTLIKE_MAX bytes at most: no need to decode more
         * of a run that is not text */
        if (first && !checked && m >= TEXTLIKE_MAX) {
            if (!textlike(buf, m))
                return;
            checked = true;
        }
        if (m == sizeof(buf)) {
            if (first && !textlike(buf, m))
                return;
            first = false;
            scan_text(&sub, buf, m);
            m = 0;
        }
    }
    if (first && (!m || !textlike(buf, m)))
        return;
    if (m)
        scan_text(&sub, buf, m);
    scan_finish(&sub);
    merge_decoded(s, &sub, off);
}

/* A run of base64 characters ended at `end`. */
static void b64_end(struct scan *s, const unsigned char *t, size_t end)
{
    uint8_t k = s->b64_kinds;
    size_t a = s->b64_start;
    s->b64_len = 0;
    if (end - a < B64_MIN)
        return;
    bool mixed = (k & B_LOWER) && (k & B_UPPER);
    if (!(k & B_DIGIT) && !mixed)
        return; /* a long word, not an encoding */
    bool hex = !mixed && !(k & (B_SYM | B_PAD));
    for (size_t i = a; hex && i < end; i++)
        hex = hex_digit(t[i]) || t[i] == '\n' || t[i] == '\r';
    decode_scan(s, t + a, end - a, hex, a);
}

static inline void b64_step(struct scan *s, const unsigned char *t, size_t n, size_t i)
{
    unsigned char c = t[i];
    uint8_t k = b64tab[c];
    if (k) {
        if (!s->b64_len) {
            s->b64_start = i;
            s->b64_kinds = 0;
        }
        s->b64_len++;
        s->b64_kinds |= k;
        return;
    }
    if (s->b64_len < B64_MIN) {
        s->b64_len = 0;
        return;
    }
    /* MIME line breaks: a full line of base64 goes on on the next line */
    if ((c == '\n' || c == '\r') && s->b64_len >= B64_MIN && s->b64_len % 4 == 0 &&
        !(s->b64_kinds & B_PAD) && i + 1 < n && (b64tab[t[i + 1]] || t[i + 1] == '\n'))
        return;
    b64_end(s, t, i);
}

/* Eight bytes at once (SWAR): the top bit of each byte of the result is set when that
 * byte of x is an ASCII letter or digit; the letters' and digits' kinds are ORed into
 * *kind (W_LOWER, W_UPPER, W_DIGIT) for the first `take` bytes (0..8). Range checks on
 * 7-bit values: v + (0x80 - lo) has its top bit set iff v >= lo, v + (0x7f - hi) iff
 * v > hi, and neither sum carries into the next byte (0x7f + 0x80 = 0xff). */
static inline uint64_t alnum8(uint64_t x)
{
    uint64_t y = x & BYTES(0x7f), l = y | BYTES(0x20); /* l: letters in lower case */
    uint64_t letter = (l + BYTES(0x80 - 'a')) & ~(l + BYTES(0x7f - 'z'));
    uint64_t digit = (y + BYTES(0x80 - '0')) & ~(y + BYTES(0x7f - '9'));
    return (letter | digit) & ~x & BYTES(0x80); /* ~x: not a byte >= 0x80 */
}

static inline unsigned kinds8(uint64_t x, uint64_t ok)
{
    /* among letters and digits, letters have bit 0x40 and lower-case letters bit 0x20:
     * shifted to the top bit of their byte (bits that cross into the next byte are
     * masked off by `ok`, which only has top bits) */
    uint64_t letter = (x << 1) & ok, lower = (x << 2) & letter;
    return (unsigned)(lower != 0) * W_LOWER + (unsigned)(letter != lower) * W_UPPER +
           (unsigned)(letter != ok) * W_DIGIT;
}

/* The end of a run of ASCII letters and digits that goes on at t[j] and is too long for
 * the lexicon (a base64 or hex blob, a flood of letters): only its kinds (W_LOWER, W_UPPER,
 * W_DIGIT, ORed into *kind) and its end matter, taken 16 bytes at a time (SSE2) or 8. */
static size_t skip_alnum(const unsigned char *t, size_t n, size_t j, unsigned *kind)
{
    unsigned k = 0, f;
#ifdef INJ_SSE2
    /* The compares are signed: bytes >= 0x80 are negative and in neither range. */
    while (j + 16 <= n) {
        __m128i x = _mm_loadu_si128((const __m128i *)(const void *)(t + j));
        __m128i l = _mm_or_si128(x, _mm_set1_epi8(0x20));
        __m128i letter = _mm_and_si128(_mm_cmpgt_epi8(l, _mm_set1_epi8('a' - 1)),
                                       _mm_cmplt_epi8(l, _mm_set1_epi8('z' + 1)));
        __m128i digit = _mm_and_si128(_mm_cmpgt_epi8(x, _mm_set1_epi8('0' - 1)),
                                      _mm_cmplt_epi8(x, _mm_set1_epi8('9' + 1)));
        unsigned lm = (unsigned)_mm_movemask_epi8(letter);
        unsigned dm = (unsigned)_mm_movemask_epi8(digit);
        /* bit 0x20 of each byte (lower case, among letters) shifted to its top bit: a
         * 16-bit shift by 2 moves no bit of one byte into the top bit of the next */
        unsigned cm = (unsigned)_mm_movemask_epi8(_mm_slli_epi16(x, 2));
        /* the bytes before the first that ends the run (~(lm | dm) has bit 16 set: all 16
         * when none does) */
        unsigned take = (unsigned)__builtin_ctz(~(lm | dm)), m = (1u << take) - 1;
        k |= (unsigned)((lm & cm & m) != 0) * W_LOWER + (unsigned)((lm & ~cm & m) != 0) * W_UPPER +
             (unsigned)((dm & m) != 0) * W_DIGIT;
        j += take;
        if (take < 16) {
            *kind |= k;
            return j;
        }
    }
#elif defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    while (j + 8 <= n) { /* as in letters() */
        uint64_t x, ok;
        memcpy(&x, t + j, 8);
        ok = alnum8(x);
        if (ok != BYTES(0x80)) {
            uint64_t stop = ~ok & BYTES(0x80);
            ok &= (stop & -stop) - 1;
            *kind |= k | kinds8(x, ok);
            return j + (unsigned)__builtin_ctzll(stop) / 8;
        }
        k |= kinds8(x, ok);
        j += 8;
    }
#endif
    while (j < n && (f = ftab[t[j]])) {
        k |= f;
        j++;
    }
    *kind |= k;
    return j;
}

/* A run of ASCII letters and digits, in a tight loop on locals (stores into the word
 * buffer would otherwise make the compiler reload the scanner's fields every byte). */
static size_t letters(struct scan *s, const unsigned char *t, size_t n, size_t i)
{
    unsigned wl = s->wl, kind = 0, f;
    char *w = s->w;
    size_t j = i, lim = n - i > WORD_MAX - wl ? i + (WORD_MAX - wl) : n;
    bool ended = false; /* the run ended before lim */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    /* Eight bytes at a time while they fit in the word buffer (wl + 8 <= WORD_MAX): all
     * eight are folded and stored (ASCII letters and digits fold to c | 0x20), but only
     * those before the first byte that is not a letter or digit count; the rest of the
     * buffer is never read (wl marks the end). The first byte is a letter or digit. */
    while (!ended && j + 8 <= lim) {
        uint64_t x, ok;
        memcpy(&x, t + j, 8);
        ok = alnum8(x);
        uint64_t folded = x | BYTES(0x20);
        memcpy(w + wl, &folded, 8);
        if (ok == BYTES(0x80)) {
            kind |= kinds8(x, ok);
            wl += 8;
            j += 8;
            continue;
        }
        uint64_t stop = ~ok & BYTES(0x80); /* the top bit of the bytes that end it */
        unsigned take = (unsigned)__builtin_ctzll(stop) / 8;
        ok &= (stop & -stop) - 1; /* only the bytes before the first that ends it */
        kind |= kinds8(x, ok);
        wl += take;
        j += take;
        ended = true;
        break;
    }
#endif
    while (!ended && j < lim && (f = ftab[t[j]])) {
        kind |= f;
        w[wl++] = (char)wtab[t[j++]];
    }
    if (!ended && j == lim && j < n && ftab[t[j]]) { /* longer than any lexicon word */
        s->wover = true;
        j = skip_alnum(t, n, j, &kind);
    }
    if (!s->wl)
        s->wstart = i;
    if (s->zw_pending) {
        s->zw_inword++;
        s->zw_pending = false;
    }
    s->wl = (uint8_t)wl;
    s->wkind |= (uint8_t)kind;
    if (s->depth == 0) { /* letters and digits are all base64 characters */
        if (!s->b64_len) {
            s->b64_start = i;
            s->b64_kinds = 0;
        }
        s->b64_len += j - i;
        s->b64_kinds |= (uint8_t)kind; /* the same bits (static assert at W_LOWER) */
    }
    return j;
}

/* A space at t[i]: what b64_step() and ascii() do for it, shortened (the most frequent
 * separator). */
static inline void space(struct scan *s, const unsigned char *t, size_t i)
{
    if (s->depth == 0 && s->b64_len) {
        if (s->b64_len >= B64_MIN)
            b64_end(s, t, i);
        s->b64_len = 0;
    }
    flush(s);
}

static void scan_text(struct scan *s, const unsigned char *t, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned char c = t[i];
        if (c < 0x80) {
            s->zw_run = 0;
            s->flag_seq = false;
            if (ftab[c]) {
                i = letters(s, t, n, i);
                /* a word is most often followed by a space (zw_run and flag_seq are
                 * already reset: they were before the word) */
                if (i < n && t[i] == ' ')
                    space(s, t, i++);
                continue;
            }
            if (c == ' ') {
                space(s, t, i++);
                continue;
            }
            if (s->depth == 0)
                b64_step(s, t, n, i);
            if (actab[c] == A_MARK) {
                flush(s);
                i = markup(s, t, n, i);
            } else {
                ascii(s, c, i);
                i++;
            }
            continue;
        }
        if (s->b64_len >= B64_MIN)
            b64_end(s, t, i);
        s->b64_len = 0;
        if (c >= 0xC3 && c <= 0xC5 && i + 1 < n && (t[i + 1] & 0xC0) == 0x80) {
            latin(s, (uint32_t)(c & 0x1F) << 6 | (t[i + 1] & 0x3Fu), i);
            i += 2;
            continue;
        }
        /* U+200B..U+200D (E2 80 8B..8D), the zero-width characters of steganography, as
         * unicode() takes them */
        if (c == 0xE2 && n - i >= 3 && t[i + 1] == 0x80 && t[i + 2] >= 0x8B && t[i + 2] <= 0x8D) {
            zero_width(s, i);
            i += 3;
            continue;
        }
        size_t l = sg_utf8_char_len(t + i, n - i);
        if (!l) { /* invalid UTF-8: a separator */
            flush(s);
            i++;
            continue;
        }
        uint32_t cp = c & (0x3Fu >> (l - 1));
        for (size_t j = 1; j < l; j++)
            cp = (cp << 6) | (t[i + j] & 0x3Fu);
        unicode(s, cp, i);
        i += l;
    }
}

static void scan_finish(struct scan *s)
{
    flush(s);
    int inv = 0;
    if (s->tags)
        inv = s->tags >= 4 ? 75 : 50;
    if (s->zw_inword >= 3 && inv < (s->zw_inword >= 8 ? 60 : 45))
        inv = s->zw_inword >= 8 ? 60 : 45;
    if (s->zw_maxrun >= 8 && inv < (s->zw_maxrun >= 32 ? 70 : 55))
        inv = s->zw_maxrun >= 32 ? 70 : 55;
    /* a right-to-left override in Latin text shows the reader reversed text: only text
     * meant not to be read is written that way */
    if (s->bidi_override && inv < 55)
        inv = 55;
    if (s->bidi_other >= 4 && inv < 20)
        inv = 20;
    if (inv)
        hit(s, SG_INJ_INVISIBLE, inv, s->inv_where);
}

/* ------------------------------------------------------------------ API ---- */

static const char *const signal_names[SG_INJ_NSIGNALS] = {
    "override",  "roleplay",      "extraction",      "encoded",
    "invisible", "hidden_markup", "template_tokens", "tool_instructions"};

int sg_injection_scan(const struct sg_injection *d, const char *text, size_t len,
                      enum sg_inj_source src, struct sg_inj_result *out)
{
    if (!d || !out || (unsigned)src >= SG_INJ_SRC_COUNT || (!text && len))
        return SG_EINVAL;
    struct scan s;
    scan_init(&s, d, (int)src, 0);
    const unsigned char *t = (const unsigned char *)text;
    scan_text(&s, t, len);
    flush(&s);
    if (s.b64_len)
        b64_end(&s, t, len);
    scan_finish(&s);
    memset(out, 0, sizeof(*out));
    double keep = 1.0;
    int top = 0;
    for (int sig = 0; sig < SG_INJ_NSIGNALS; sig++) {
        if (s.best[sig] < FIRE_MIN)
            continue;
        /* a structural signal seen again and again (several chat-template tokens, hidden
         * regions, encoded runs) is a little stronger, at most +15; a phrase that recurs in
         * a long text is not: near misses recur by chance */
        int more = 0;
        if (!(LEXICAL & SG_INJ_BIT(sig)))
            more = s.hits[sig] > 4 ? 3 : s.hits[sig] > 1 ? s.hits[sig] - 1 : 0;
        int st = s.best[sig] + 5 * more;
        if (st > 95)
            st = 95;
        out->strength[sig] = (uint8_t)st;
        out->signals |= SG_INJ_BIT(sig);
        if (st > top) {
            top = st;
            out->offset = s.where[sig];
        }
    }
    /* noisy-or: independent pieces of evidence add up, but weak ones (below WEAK) only
     * show: in a long text they turn up by chance and would add up to a flag */
    bool top_used = false;
    for (int sig = 0; sig < SG_INJ_NSIGNALS; sig++) {
        int st = out->strength[sig];
        if (!st)
            continue;
        if (st == top && !top_used)
            top_used = true;
        else if (st < WEAK)
            continue;
        keep *= 1.0 - st / 100.0;
    }
    out->score = (int)(100.0 * (1.0 - keep) + 0.5);
    out->flagged = out->score >= d->threshold;
    return 0;
}

void sg_inj_result_merge(struct sg_inj_result *acc, const struct sg_inj_result *r)
{
    if (r->score > acc->score) {
        acc->score = r->score;
        acc->offset = r->offset;
    }
    acc->signals |= r->signals;
    for (int sig = 0; sig < SG_INJ_NSIGNALS; sig++)
        if (r->strength[sig] > acc->strength[sig])
            acc->strength[sig] = r->strength[sig];
    acc->flagged = acc->flagged || r->flagged;
}

/* The rule tables: which rule elements each class is in, and the rules' gaps. The
 * derivation rules must come first (rules() runs them before the others). */
_Static_assert(INJ_MAX_RULES <= 128, "the rules are the bits of two uint64_t");

static int rules_compile(struct sg_injection *d)
{
    if (inj_nrules > INJ_MAX_RULES)
        return SG_EINVAL;
    while (d->nderive < inj_nrules && inj_rules[d->nderive].sig == INJ_DERIVE) {
        if (d->nderive == 64)
            return SG_EINVAL; /* rules() keeps them in one word */
        d->derive_rules |= UINT64_C(1) << d->nderive++;
    }
    for (size_t k = 0; k < inj_nrules; k++) {
        const struct inj_rule *r = &inj_rules[k];
        uint64_t bit = UINT64_C(1) << (k % 64);
        if (r->n < 1 || r->n > INJ_RULE_MAX_EL || (k >= d->nderive && r->sig == INJ_DERIVE))
            return SG_EINVAL;
        if (r->sig != INJ_DERIVE) {
            d->el_last[r->n - 1][k / 64] |= bit;
            d->signal_rules[k / 64] |= bit;
        }
        for (int e = 0; e < r->n; e++) {
            d->gap1[k][e] = (uint16_t)(r->el[e].gap + 1);
            if (e > 0 && d->gap1[k][e] > d->max_gap1)
                d->max_gap1 = d->gap1[k][e];
            if (r->el[e].all)
                d->el_all[e][k / 64] |= bit;
            for (int c = 0; c < 64; c++)
                if (r->el[e].any & CB(c)) {
                    d->el_of[c][e][k / 64] |= bit;
                    d->rule_classes |= CB(c);
                }
        }
    }
    if (d->max_gap1 > STARTS)
        return SG_EINVAL; /* started_within() looks STARTS words back */
    return 0;
}

static void cset_init(const struct sg_injection *d, struct cset *c, uint64_t classes)
{
    c->classes = classes;
    el_any(d, classes, c->em);
    c->need_all = false;
    uint64_t derive = 0;
    for (int e = 0; e < INJ_RULE_MAX_EL; e++) {
        derive |= c->em[e][0] & d->derive_rules;
        for (int w = 0; w < 2; w++)
            c->need_all = c->need_all || (c->em[e][w] & d->el_all[e][w]);
    }
    c->starts_only = !c->need_all && !derive && !(c->em[0][0] & d->el_last[0][0]) &&
                     !(c->em[0][1] & d->el_last[0][1]);
}

/* One struct cset per distinct class set of the lexicon's words that have a class some
 * rule uses (the others keep cset 0, which matches nothing). */
static int csets_compile(struct sg_injection *d)
{
    d->csets = calloc(d->nwords + 1, sizeof(*d->csets));
    if (!d->csets)
        return SG_ENOMEM;
    d->ncsets = 1; /* [0]: no class */
    for (uint32_t j = 0; j < DICT_CAP; j++) {
        struct dict_ent *e = &d->dict[j];
        uint64_t c = e->classes & d->rule_classes;
        if (!e->id || !c)
            continue;
        uint32_t x = 1;
        while (x < d->ncsets && d->csets[x].classes != e->classes)
            x++;
        if (x == d->ncsets)
            cset_init(d, &d->csets[d->ncsets++], e->classes);
        e->cset = (uint16_t)x;
    }
    cset_init(d, &d->colon, CB(C_COLON));
    for (uint32_t j = 0; j < DICT_CAP; j++)
        d->dict[j].phrase_max = d->phrase_max[d->dict[j].id];
    return 0;
}

/* The scanner's lookup table (words, slots) from the builder's, which is freed. A word's
 * index is its id (ID_FIRST and up: never 0, the empty slot). */
static int words_compile(struct sg_injection *d)
{
    size_t nw = d->nwords + ID_FIRST;
    d->words = calloc(nw, sizeof(*d->words));
    d->word_off = calloc(nw, sizeof(*d->word_off));
    d->slots = calloc(SLOT_CAP, sizeof(*d->slots));
    if (!d->words || !d->word_off || !d->slots)
        return SG_ENOMEM;
    for (uint32_t j = 0; j < DICT_CAP; j++) {
        const struct dict_ent *de = &d->dict[j];
        if (!de->id)
            continue;
        struct wkey k = wkey(d->pool + de->off, de->len);
        struct word_ent *e = &d->words[de->id];
        e->w[0] = k.a;
        e->w[1] = k.b;
        e->classes = de->classes;
        e->id = de->id;
        e->cset = de->cset;
        e->len = de->len;
        e->phrase_max = de->phrase_max;
        d->word_off[de->id] = de->off;
        uint32_t x = k.h & SLOT_IX;
        while (d->slots[x])
            x = (x + 1) & SLOT_IX;
        d->slots[x] = (k.h & ~SLOT_IX) | de->id;
    }
    free(d->dict);
    d->dict = NULL;
    return 0;
}

int sg_injection_new(const struct sg_injection_opts *o, struct sg_injection **out,
                     struct sg_error *err)
{
    *out = NULL;
    int threshold = o && o->threshold ? o->threshold : SG_INJ_DEFAULT_THRESHOLD;
    if (threshold < 1 || threshold > 100)
        return sg_error_set(err, SG_EINVAL, "injection threshold: 1 to 100, not %d", threshold);
    if (o && (o->ignore >> SG_INJ_NSIGNALS))
        return sg_error_set(err, SG_EINVAL, "injection: unknown signal in the ignore mask");
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, tables_init);
    struct sg_injection *d = calloc(1, sizeof(*d));
    if (!d)
        return sg_error_set(err, SG_ENOMEM, "out of memory");
    d->threshold = threshold;
    d->ignore = o ? o->ignore : 0;
    d->dict = calloc(DICT_CAP, sizeof(*d->dict));
    d->phrases = calloc(PHRASE_CAP, sizeof(*d->phrases));
    d->phrase_max = calloc(DICT_CAP, 1);
    if (!d->dict || !d->phrases || !d->phrase_max) {
        sg_injection_free(d);
        return sg_error_set(err, SG_ENOMEM, "out of memory");
    }
    for (size_t k = 0; k < inj_nlexicon; k++) {
        const char *p = inj_lexicon[k].phrases;
        while (*p) {
            size_t l = strcspn(p, "|");
            int rc = lex_phrase(d, p, l, inj_lexicon[k].classes);
            if (rc) {
                sg_injection_free(d);
                return sg_error_set(err, rc, "injection lexicon: cannot use \"%.*s\"",
                                    (int)(l > 60 ? 60 : l), p);
            }
            p += l + (p[l] == '|');
        }
    }
    int rc = rules_compile(d);
    if (rc || (rc = csets_compile(d)) || (rc = words_compile(d))) {
        sg_injection_free(d);
        return sg_error_set(err, rc,
                            rc == SG_ENOMEM ? "out of memory" : "injection rules: cannot compile");
    }
    *out = d;
    return 0;
}

void sg_injection_free(struct sg_injection *d)
{
    if (!d)
        return;
    free(d->dict);
    free(d->words);
    free(d->word_off);
    free(d->slots);
    free(d->pool);
    free(d->phrases);
    free(d->phrase_max);
    free(d->csets);
    free(d);
}

int sg_injection_threshold(const struct sg_injection *d)
{
    return d->threshold;
}

const char *sg_inj_signal_name(enum sg_inj_signal sig)
{
    return (unsigned)sig < SG_INJ_NSIGNALS ? signal_names[sig] : NULL;
}

int sg_inj_signal_lookup(const char *name)
{
    for (int sig = 0; sig < SG_INJ_NSIGNALS; sig++)
        if (name && strcmp(name, signal_names[sig]) == 0)
            return sig;
    return -1;
}

int sg_inj_source_from_role(const char *role)
{
    static const struct {
        const char *role;
        enum sg_inj_source src;
    } m[] = {{"user", SG_INJ_SRC_USER},        {"system", SG_INJ_SRC_SYSTEM},
             {"developer", SG_INJ_SRC_SYSTEM}, {"assistant", SG_INJ_SRC_ASSISTANT},
             {"tool", SG_INJ_SRC_TOOL},        {"function", SG_INJ_SRC_TOOL},
             {"context", SG_INJ_SRC_CONTEXT}};
    for (size_t k = 0; role && k < sizeof(m) / sizeof(m[0]); k++)
        if (strcmp(role, m[k].role) == 0)
            return (int)m[k].src;
    return -1;
}

size_t sg_inj_signals_format(uint32_t signals, char *buf, size_t cap)
{
    size_t need = 0;
    for (int sig = 0; sig < SG_INJ_NSIGNALS; sig++)
        if (signals & SG_INJ_BIT(sig))
            need += strlen(signal_names[sig]) + (need ? 1 : 0);
    if (!buf || !cap)
        return need;
    if (need >= cap) { /* all or nothing: a cut name would be another word */
        buf[0] = '\0';
        return need;
    }
    size_t o = 0;
    for (int sig = 0; sig < SG_INJ_NSIGNALS; sig++) {
        if (!(signals & SG_INJ_BIT(sig)))
            continue;
        if (o)
            buf[o++] = ',';
        size_t l = strlen(signal_names[sig]);
        memcpy(buf + o, signal_names[sig], l);
        o += l;
    }
    buf[o] = '\0';
    return need;
}
