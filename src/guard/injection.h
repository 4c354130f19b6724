/* Prompt-injection signals: a heuristic detector for direct and indirect prompt injection
 * in shop traffic (English, German, French, Spanish, Italian, Dutch). See
 * docs/injection.md for what it detects, how the score is made and its limits.
 *
 * A detector (`struct sg_injection`) is compiled once (word lexicon, phrase table, rules)
 * and then only read: any number of threads may scan with the same detector at once, and
 * a scan needs no scratch space from the caller (its state, a few KiB, is on the stack).
 * Scanning is pure (no I/O, no allocation) and linear in the text's length: one pass over
 * the text, plus one bounded pass over the decoded bytes of each base64 or hex run.
 *
 * The result is a score from 0 to 100 and the signals that fired. It is a signal for
 * logs, flags and a configurable block, never a guarantee: paraphrases it has no words
 * for pass, and a benign text can look like an attack. */
#ifndef SG_GUARD_INJECTION_H
#define SG_GUARD_INJECTION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

struct sg_injection;

/* Where a text comes from. Instruction-like phrases count more in text the model reads
 * as data (tool results, retrieved context) than from the user, and much less in the
 * shop's own system prompt. */
enum sg_inj_source {
    SG_INJ_SRC_USER,
    SG_INJ_SRC_SYSTEM, /* the shop's system (or developer) prompt */
    SG_INJ_SRC_ASSISTANT,
    SG_INJ_SRC_TOOL,    /* tool / function results */
    SG_INJ_SRC_CONTEXT, /* retrieved context: product descriptions, reviews, pages */
    SG_INJ_SRC_COUNT
};

/* The signals. Their names (sg_inj_signal_name) are stable: they are metric labels,
 * header values and configuration words. */
enum sg_inj_signal {
    SG_INJ_OVERRIDE,          /* "override": ignore/forget the previous instructions */
    SG_INJ_ROLEPLAY,          /* "roleplay": DAN, "you are now ...", developer mode */
    SG_INJ_EXTRACTION,        /* "extraction": repeat/reveal the system prompt */
    SG_INJ_ENCODED,           /* "encoded": base64/hex/rot13 payloads, decode-and-follow */
    SG_INJ_INVISIBLE,         /* "invisible": Unicode tags, zero-width text, bidi overrides */
    SG_INJ_HIDDEN_MARKUP,     /* "hidden_markup": instructions in HTML comments, hidden
                                 elements, attributes, markdown alt text and comments */
    SG_INJ_TEMPLATE_TOKENS,   /* "template_tokens": <|im_start|>, [INST], ### System: */
    SG_INJ_TOOL_INSTRUCTIONS, /* "tool_instructions": text addressing the AI ("AI
                                 assistant: ...", "tell the customer ...") */
    SG_INJ_NSIGNALS
};

#define SG_INJ_BIT(sig) (1u << (sig))
#define SG_INJ_DEFAULT_THRESHOLD 50

struct sg_injection_opts {
    int threshold;   /* score (1..100) from which a text is flagged; 0: the default (50) */
    uint32_t ignore; /* SG_INJ_BIT mask of signals that never fire nor count */
};

struct sg_inj_result {
    int score;                         /* 0..100 */
    uint32_t signals;                  /* SG_INJ_BIT of every signal that fired */
    uint8_t strength[SG_INJ_NSIGNALS]; /* per signal, 0..100, after source weighting */
    bool flagged;                      /* score >= the detector's threshold */
    size_t offset;                     /* byte offset in the text of the strongest
                                          evidence (for debugging; never logged with
                                          the text) */
};

/* Compiles a detector. `o` may be NULL: the built-in defaults, independent of any
 * configuration. Returns 0, or SG_EINVAL (bad threshold) / SG_ENOMEM with `err` filled. */
int sg_injection_new(const struct sg_injection_opts *o, struct sg_injection **out,
                     struct sg_error *err);
void sg_injection_free(struct sg_injection *d);
int sg_injection_threshold(const struct sg_injection *d);

/* Scans `len` bytes of `text` (any bytes: invalid UTF-8 and NUL bytes are separators)
 * from `src` into `out`. Returns 0, or SG_EINVAL for a NULL detector/result or an
 * unknown source. */
int sg_injection_scan(const struct sg_injection *d, const char *text, size_t len,
                      enum sg_inj_source src, struct sg_inj_result *out);

/* Folds the result of one text (a message) into the result of a whole request: the
 * highest score and strengths, every signal, flagged when any text was. `acc` starts
 * zeroed. */
void sg_inj_result_merge(struct sg_inj_result *acc, const struct sg_inj_result *r);

/* "override", "roleplay", ...; NULL when out of range. */
const char *sg_inj_signal_name(enum sg_inj_signal sig);
/* The signal of a name, or -1. */
int sg_inj_signal_lookup(const char *name);
/* The source of an OpenAI message role ("user", "system", "developer", "assistant",
 * "tool", "function") or "context"; -1 for anything else. */
int sg_inj_source_from_role(const char *role);
/* Writes the names of the signals in `signals`, comma-separated, NUL-terminated, into
 * buf[0..cap) (for the x-sovgate-injection header); returns the length it needed. */
size_t sg_inj_signals_format(uint32_t signals, char *buf, size_t cap);

#endif
