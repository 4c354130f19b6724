/* Internals shared by the detector's files (detect.c, detect_names.c, detect_fields.c,
 * detect_custom.c). Not part of the module's contract. */
#ifndef SG_REDACT_DETECT_INT_H
#define SG_REDACT_DETECT_INT_H

#include "redact/detect.h"

#include <hs/hs.h>

/* Character classes of the scanner. */
enum {
    C_LOWER = 1,  /* a-z */
    C_UPPER = 2,  /* A-Z */
    C_DIGIT = 4,  /* 0-9 */
    C_SPACE = 8,  /* space, tab, CR, LF */
    C_HIGH = 16,  /* bytes >= 0x80 (part of a UTF-8 letter, most often) */
    C_EMAILC = 32 /* characters allowed in an e-mail local part besides letters/digits */
};
extern const unsigned char sg_ccls[256];

static inline bool sg_is_alpha(unsigned char c)
{
    return sg_ccls[c] & (C_LOWER | C_UPPER | C_HIGH);
}
static inline bool sg_is_alnum(unsigned char c)
{
    return sg_ccls[c] & (C_LOWER | C_UPPER | C_DIGIT | C_HIGH);
}
static inline bool sg_is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}
static inline bool sg_is_upper(unsigned char c)
{
    return c >= 'A' && c <= 'Z';
}
static inline bool sg_is_lower(unsigned char c)
{
    return c >= 'a' && c <= 'z';
}
static inline bool sg_is_space(unsigned char c)
{
    return sg_ccls[c] & C_SPACE;
}

/* The byte at t[i] folded to lower case: ASCII capitals, and the Latin-1 capitals of
 * UTF-8 (C3 80..9E, the second byte of À..Þ) to their small letters. */
static inline unsigned char sg_fold_at(const unsigned char *t, size_t i)
{
    unsigned char c = t[i];
    if (c >= 'A' && c <= 'Z')
        return (unsigned char)(c + 32);
    if (c >= 0x80 && c <= 0x9E && c != 0x97 && i > 0 && t[i - 1] == 0xC3)
        return (unsigned char)(c + 0x20);
    return c;
}

/* A set of words and phrases, looked up case-insensitively (sg_fold_at) in O(length)
 * with no string comparisons of misses: a hash of the folded bytes, computed backwards
 * from where a phrase would end, probes an open-addressing table. Entries are lower-case;
 * one ending in '*' matches as a prefix of a longer word. Built once, then read-only.
 * Two bit filters answer most misses before any hashing: the last two bytes of the exact
 * entries (for sg_ws_ends_at, which does not know where an entry would start) and the
 * first two bytes of all entries (for sg_ws_has, which does). */
struct sg_ws_slot {
    /* the entry's index + 1 (0 when empty), its length (without the '*') and whether it is
     * a prefix entry: a probe tells most entries apart without reading them (the
     * gazetteer's per-entry arrays would be one cache miss each) */
    unsigned e1 : 24;
    unsigned len : 7;
    unsigned prefix : 1;
    uint32_t hash; /* the entry's: a probe compares it without reading the entry */
};
struct sg_wordset {
    const char *const *words; /* NULL-terminated */
    size_t count;             /* or, when words is not NULL-terminated, its length */
    struct sg_ws_slot *slot;  /* the table: a probe compares the hash in the slot (one cache
                               * line for eight), the entry's length and text on a match */
    uint32_t mask;
    uint64_t lens;       /* bit L: an exact entry of L bytes (L < 64) */
    uint64_t plens;      /* bit L: a prefix entry of L bytes */
    uint64_t tail[64];   /* a 4096-bit filter of the last two bytes of the exact entries */
    uint64_t head[64];   /* a 4096-bit filter of the first two bytes of every entry (one
                          * byte and 0 for an entry of one byte) */
    bool nohead;         /* a one-byte prefix entry: the head filter cannot be used */
    const uint8_t *tags; /* optional, per word of `words`: bits sg_ws_tags returns */
};
#define SG_WORDSET(list)                                                                           \
    {                                                                                              \
        .words = (list)                                                                            \
    }

/* Builds a set (once, from sg_detect_init). Aborts on out-of-memory at start-up. */
void sg_wordset_build(struct sg_wordset *ws);
/* Length of the longest exact entry that ends at `at` and starts at or after `lo`, the
 * byte before it not being a letter or digit when the entry starts with one; 0 if none. */
size_t sg_ws_ends_at(const struct sg_wordset *ws, const unsigned char *t, size_t lo, size_t at);
/* Whether the n bytes at w are an entry (exact, or a prefix entry of the word). */
bool sg_ws_has(const struct sg_wordset *ws, const unsigned char *w, size_t n);
/* The hash sg_ws_has computes for the n bytes at w (the same for every set), and
 * sg_ws_has with it given: a word looked up in several sets is hashed once. */
uint32_t sg_ws_hash(const unsigned char *w, size_t n);
bool sg_ws_has_h(const struct sg_wordset *ws, uint32_t h, const unsigned char *w, size_t n);
/* For a set built with tags: the tags of every exact entry equal to the n bytes at w (h
 * their sg_ws_hash), OR-ed; 0 when none. One lookup answers for several word lists merged
 * into one set. */
unsigned sg_ws_tags(const struct sg_wordset *ws, uint32_t h, const unsigned char *w, size_t n);
/* Whether an entry ends (exact) or a word starts with a prefix entry within `window`
 * bytes before `at`. Runs in O(window x longest entry). */
bool sg_ws_within(const struct sg_wordset *ws, const unsigned char *t, size_t at, size_t window);

/* One-time initialization of every word set (thread-safe, cheap after the first call). */
void sg_detect_init(void);
void sg_names_init(void);

/* The text being scanned, after normalization, and the findings in its coordinates. */
struct scan {
    const unsigned char *t; /* normalized text */
    size_t n;
    struct sg_findings *raw; /* findings in normalized coordinates */
    size_t addr_lo, addr_hi; /* raw->v[addr_lo, addr_hi): the ADDRESS findings, by start */
    /* Token starts: a capital, a digit or a Latin lead byte after a byte that is not glue
     * (see sg_glue). Lists of them, in text order (made by classify in detect.c): */
    const uint32_t *caps; /* those that are not digits: A-Z or a Latin lead byte (C3, C4,
                             C5; whether a capital follows is not checked) */
    size_t ncaps;
    const uint32_t *pairs; /* those that hold a digit or A-Z followed by a digit, A-Z, '-'
                              or a space: where identifiers and postcodes start */
    size_t npairs;
    const uint32_t *upairs; /* those of the pairs that hold A-Z */
    size_t nupairs;
    /* Bitmaps of byte classes, made in the same pass as the lists above (bit i & 63 of
     * word i / 64 says whether t[i] is in the class; no bit at or past n is set): the
     * scanners jump from one byte of their class to the next with sg_bm_next instead of
     * each searching the text for its own bytes. */
    const uint64_t *digits; /* 0-9 */
    const uint64_t *colons; /* ':' */
    const uint64_t *kv;     /* ':' and '=' (the separators after a key) */
    const uint64_t *strig;  /* where scan_secrets looks: '-', '_', ':', '=', a ',' after a
                               quote, a 'w' or 'W' after an 's' or 'S'; never bit 0 */
    const uint64_t *marks;  /* the 'B' of "-B" and the 'J' of "yJ" (PEM blocks, JWTs) */
};

/* The first position at or after i whose bit is set in `bm` (a bitmap of struct scan for
 * a text of n bytes), or n. Reads the words from i's on: a scanner whose i only grows
 * spends O(n / 64 + jumps) on them in all. */
static inline size_t sg_bm_next(const uint64_t *bm, size_t i, size_t n)
{
    if (i >= n)
        return n;
    size_t w = i >> 6, last = (n - 1) >> 6;
    uint64_t bits = bm[w] & (~0ull << (i & 63));
    while (!bits) {
        if (++w > last)
            return n;
        bits = bm[w];
    }
    return (w << 6) + (size_t)__builtin_ctzll(bits);
}

/* Bytes that glue a token to the one before it (letters, digits, _ @ / . - ' &): nothing
 * that scan.caps or scan.pairs lists starts after one. */
extern const unsigned char sg_glue[256];

/* Adds a raw finding [start, end) of `type`. Returns 0 or SG_ENOMEM. */
int sg_scan_add(struct scan *s, size_t start, size_t end, unsigned type);
/* The same for a value whose text is JSON-escaped `escaped` times (struct sg_finding). */
int sg_scan_add_escaped(struct scan *s, size_t start, size_t end, unsigned type, unsigned escaped);

/* Names and addresses (detect_names.c). */
int sg_detect_names(struct scan *s);
int sg_detect_addresses(struct scan *s);

/* Field names (detect_fields.c). */
int sg_fields_build(struct sg_detector *d, const struct sg_field_rule *extra, size_t nextra,
                    struct sg_error *err);
int sg_detect_fields(const struct sg_detector *d, const struct sg_fieldset *extra, struct scan *s);

/* Per-request field rules (sg_fieldset_parse): sorted like the detector's. */
struct sg_fieldset {
    struct sg_field *v;
    size_t n;
    uint64_t filter[64]; /* see sg_detector.field_filter */
};

/* Custom detectors (detect_custom.c). */
int sg_detect_custom(const struct sg_detector *d, struct scan *s, hs_scratch_t *hs);

/* A field rule, compiled: lower-case name without a leading underscore. */
struct sg_field {
    char name[65];
    int type;
};

struct sg_detector {
    uint64_t serial;         /* unique per detector made (never reused, unlike addresses) */
    struct sg_field *fields; /* sorted by name */
    size_t nfields;
    uint64_t field_filter[64]; /* 4096 bits of the names' length, first and last letters:
                                * most keys before a ':' are no field name, and this says
                                * so before the name is copied and searched for */
    unsigned ncustom;
    char **names;           /* custom type names */
    hs_database_t *db;      /* custom regexes and dictionary terms, or NULL */
    unsigned *pattern_type; /* Hyperscan id -> type */
    unsigned npatterns;
};

#endif
