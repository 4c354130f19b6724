/* Internals shared by the detector's files (detect.c, detect_names.c, detect_custom.c).
 * Not part of the module's contract. */
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
static inline bool sg_is_space(unsigned char c)
{
    return sg_ccls[c] & C_SPACE;
}

/* The text being scanned, after normalization, and the findings in its coordinates. */
struct scan {
    const unsigned char *t; /* normalized text */
    size_t n;
    struct sg_findings *raw; /* findings in normalized coordinates */
};

/* Adds a raw finding [start, end) of `type`. Returns 0 or SG_ENOMEM. */
int sg_scan_add(struct scan *s, size_t start, size_t end, unsigned type);

/* True when one of the NUL-terminated, lower-case `words` ends within `window` bytes
 * before position `at` (compared case-insensitively). */
bool sg_scan_context_before(const struct scan *s, size_t at, size_t window,
                            const char *const *words);

/* Names and addresses (detect_names.c). */
int sg_detect_names(struct scan *s);
int sg_detect_addresses(struct scan *s);

/* Field names (detect_fields.c). */
int sg_fields_build(struct sg_detector *d, const struct sg_field_rule *extra, size_t nextra,
                    struct sg_error *err);
int sg_detect_fields(const struct sg_detector *d, struct scan *s);

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
    unsigned ncustom;
    char **names;           /* custom type names */
    hs_database_t *db;      /* custom regexes and dictionary terms, or NULL */
    unsigned *pattern_type; /* Hyperscan id -> type */
    unsigned npatterns;
};

#endif
