/* Detection of personal and restricted data in text. One detector (immutable, shared by
 * all threads) holds what was compiled from the configuration: the first-name gazetteer,
 * the custom detectors (one Hyperscan database for every custom regular expression and
 * dictionary term) and the JSON field names that say what a value is. Scanning a text
 * uses a per-thread scratch and appends findings.
 *
 * How a text is scanned: when it holds non-ASCII bytes it is first normalized for
 * detection (full-width forms and look-alike Cyrillic and Greek letters folded to ASCII,
 * zero-width characters and soft hyphens dropped) with an offset map, so findings always
 * refer to the original bytes. Then single-pass scanners triggered by cheap characters
 * ('@', digits, ':', capital letters, known secret prefixes) find candidates, validators
 * (src/redact/validate.c) confirm them, and overlapping findings are resolved (the longer
 * one wins, then the more specific type). Time is linear in the text's length. */
#ifndef SG_REDACT_DETECT_H
#define SG_REDACT_DETECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

/* Built-in entity types (the names in reports are exactly these). Custom detectors get
 * types from SG_ENT_CUSTOM on. */
enum sg_entity {
    SG_ENT_EMAIL = 0,
    SG_ENT_PHONE,
    SG_ENT_CARD,
    SG_ENT_IBAN,
    SG_ENT_IP,
    SG_ENT_URL_CREDENTIALS,
    SG_ENT_NATIONAL_ID,
    SG_ENT_VAT_ID,
    SG_ENT_SECRET,
    SG_ENT_PERSON,
    SG_ENT_ADDRESS,
    SG_ENT_DATE_OF_BIRTH,
    SG_ENT_FIELD, /* a value named by its JSON field (see sg_detector_field_type) */
    SG_ENT_BUILTIN,
    SG_ENT_CUSTOM = 32,
    SG_ENT_MAX = 256
};

struct sg_finding {
    uint32_t start, end; /* byte offsets into the original text, end exclusive */
    uint16_t type;       /* enum sg_entity or a custom type */
    uint8_t escaped;     /* a quoted field value read inside JSON text: how many times its
                          * text is JSON-escaped there (0, 1, or 2 for \"...\"); the vault
                          * keeps it with the value, for restore into JSON answers */
};

/* A growable list of findings with a hard cap. */
struct sg_findings {
    struct sg_finding *v; /* owned */
    size_t n, cap, max;
    bool truncated; /* more findings than `max` were found; the rest were dropped */
};

void sg_findings_init(struct sg_findings *f, size_t max);
void sg_findings_reset(struct sg_findings *f);
void sg_findings_free(struct sg_findings *f);

/* A custom detector from the configuration. */
struct sg_custom_detector {
    const char *name;         /* its type name in reports, e.g. "UNRELEASED_PRODUCT" */
    const char *regex;        /* a PCRE-style pattern (Hyperscan syntax), or NULL */
    const char *const *terms; /* dictionary terms (matched case-insensitively, on word
                               * boundaries), or NULL */
    size_t nterms;
    bool case_sensitive;
};

/* A field name whose value is of a type whatever it looks like: in JSON ("billing_email":
 * "x", also inside JSON text that is itself a string, \"billing_email\": \"x\"), form
 * data (billing_email=x) and "key: value" lines. Names match case-insensitively; a name
 * with a leading underscore (post meta, "_billing_email") also matches without it. */
struct sg_field_rule {
    const char *name;
    const char *type; /* a built-in or custom type name, or NULL to drop a built-in rule */
};

struct sg_detector_opts {
    const struct sg_custom_detector *custom;
    size_t ncustom;
    const struct sg_field_rule *fields; /* added to (or, by name, replacing) the built-in
                                         * WooCommerce/WordPress rules */
    size_t nfields;
};

struct sg_detector;
struct sg_detect_scratch;

/* Compiles a detector (everything in `o` is copied; `o` may be NULL for the built-in
 * detectors only). Returns 0 or an SG_E* code with `err` naming the custom detector whose
 * pattern does not compile or the field rule with an unknown type. */
int sg_detector_new(const struct sg_detector_opts *o, struct sg_detector **out,
                    struct sg_error *err);
void sg_detector_free(struct sg_detector *d);
/* The report name of a type ("EMAIL", or a custom detector's name). */
const char *sg_entity_name(const struct sg_detector *d, unsigned type);
/* Looks a name up; returns the type or -1. */
int sg_entity_lookup(const struct sg_detector *d, const char *name);
/* Number of types (built-in and custom). */
unsigned sg_detector_ntypes(const struct sg_detector *d);

/* A per-thread scratch (buffers that grow to the largest text seen, Hyperscan scratch).
 * One scratch serves any number of scans, one at a time, with any detector (it grows for
 * a detector it has not seen; `d` may be NULL). */
struct sg_detect_scratch *sg_detect_scratch_new(const struct sg_detector *d);
void sg_detect_scratch_free(struct sg_detect_scratch *s);

/* Scans `len` bytes of `text` and appends its findings, sorted by start and not
 * overlapping, to `out`. Invalid UTF-8 and NUL bytes are scanned like any other bytes.
 * Returns 0 or SG_ENOMEM. */
int sg_detect(const struct sg_detector *d, struct sg_detect_scratch *s, const char *text,
              size_t len, struct sg_findings *out);

/* Field rules of one request (e.g. the WordPress plugin's X-Sovgate-Fields header):
 * "name=TYPE,name=TYPE" with names of [A-Za-z0-9_-] (a leading underscore is ignored) and
 * known types. They only add to the detector's rules (a configured rule of the same name
 * wins; nothing can be turned off this way). At most SG_FIELDSET_MAX_RULES rules in
 * SG_FIELDSET_MAX_BYTES bytes. Returns 0 or SG_EINVAL/SG_ETOOBIG/SG_ENOMEM with `err`
 * (never quoting the input). */
#define SG_FIELDSET_MAX_RULES 128
#define SG_FIELDSET_MAX_BYTES 4096
struct sg_fieldset;
int sg_fieldset_parse(const struct sg_detector *d, const char *spec, size_t len,
                      struct sg_fieldset **out, struct sg_error *err);
void sg_fieldset_free(struct sg_fieldset *fs);
/* sg_detect() with a request's own field rules (may be NULL). */
int sg_detect_ex(const struct sg_detector *d, struct sg_detect_scratch *s,
                 const struct sg_fieldset *fields, const char *text, size_t len,
                 struct sg_findings *out);

/* sg_detect() for a caller that wants only the types set in want[0..SG_ENT_MAX): the
 * scanners that can find none of them (e-mail, IPv6, address, person) are skipped. The
 * findings may still hold other types, and where a skipped finding would have overlapped
 * a wanted one, the wanted one stands alone. (The answer's output scan masks a few
 * restricted types only.) */
int sg_detect_types(const struct sg_detector *d, struct sg_detect_scratch *s, const bool *want,
                    const char *text, size_t len, struct sg_findings *out);

/* The vector code of the classification pass (every scan's first pass over the text):
 * SSE2 everywhere on x86-64, or AVX-512BW where the CPU has it (chosen on first use). Both
 * find exactly the same. sg_detect_simd(level) switches to `level` where the CPU has it
 * (for tests and benchmarks, not while other threads scan) and returns the level in use;
 * any other value only asks. */
enum { SG_DETECT_SIMD_BASE = 0, SG_DETECT_SIMD_AVX512 = 1 };
int sg_detect_simd(int level);

/* Whether the gazetteer knows `word` (n bytes, any case) as a first name. */
bool sg_detect_is_first_name(const char *word, size_t n);

#endif
