/* A deployment's redaction settings, compiled from the configuration: the detector, the
 * action per entity type, the types masked in answers, and the HMAC key. Immutable once
 * built and shared by all threads (one per config snapshot). Also the two operations the
 * gateway and the `sovgate redact` command build on: redacting one text, and scanning
 * model output for restricted values (also as a stream).
 *
 * Default actions when the configuration names none: mask for restricted data (CARD,
 * IBAN, NATIONAL_ID, SECRET, URL_CREDENTIALS), pseudonymize for personal data and custom
 * detectors. Default output scan: CARD, SECRET, NATIONAL_ID. */
#ifndef SG_REDACT_REDACTION_H
#define SG_REDACT_REDACTION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "core/buf.h"
#include "core/error.h"
#include "redact/detect.h"
#include "redact/transform.h"

struct sg_redaction {
    bool enabled;
    struct sg_detector *det; /* owned */
    enum sg_action actions[SG_ENT_MAX];
    bool action_set[SG_ENT_MAX]; /* configured explicitly (redaction.actions or a detector's
                                    action): the policy's class actions do not override it */
    bool output_scan[SG_ENT_MAX];
    uint8_t key[64]; /* HMAC key; zeroed on free */
    size_t keylen;
    bool key_generated; /* no redaction.key configured: random for this process */
    size_t max_findings;
};

/* Builds the settings of `cfg` (which is only read). Loads the key (or makes a random one
 * when none is configured). Returns 0 or an SG_E* code with `err` saying which setting is
 * wrong ("redaction.detectors: ..."). */
int sg_redaction_new(const struct sg_config *cfg, struct sg_redaction **out, struct sg_error *err);
/* The built-in settings with a random key (for `sovgate redact` without a config). */
int sg_redaction_default(struct sg_redaction **out, struct sg_error *err);
void sg_redaction_free(struct sg_redaction *r);

/* A new vault for one request under these settings (NULL when out of memory). */
struct sg_vault *sg_redaction_vault(const struct sg_redaction *r, size_t max_bytes);

/* Detects and transforms one text: findings are appended to `f` (in the text's
 * coordinates) and the transformed text to `out`. Values of output-scanned types are also
 * noted in the vault. Returns 0, SG_EDENIED (a block action: *blocked_type set),
 * SG_ETOOBIG (too many findings, or the vault is full) or SG_ENOMEM. */
int sg_redact_text(const struct sg_redaction *r, struct sg_detect_scratch *sc, struct sg_vault *v,
                   const char *text, size_t len, struct sg_findings *f, struct sg_buf *out,
                   unsigned *blocked_type);

/* Output scanning of one text field of an answer. Restricted values (the output-scan
 * types) the request did not carry are replaced by "[TYPE]". As a stream, the scanner
 * holds back the end of the text that could still grow into such a value: a trailing run
 * of digits and separators, an upper-case or secret-looking word, a word after a
 * password-like label, a PEM block until its end line (at most SG_OUTSCAN_MAX_HOLD bytes;
 * past that, what is held is scanned as it is). Ordinary words are never held. A hold of
 * SG_OUTSCAN_LONG_HOLD bytes or more is worked out again only after it grew by a quarter
 * (the stream as if cut into larger pieces), so the scan stays linear in the text. */
#define SG_OUTSCAN_MAX_HOLD 16384
#define SG_OUTSCAN_LONG_HOLD 1024

struct sg_outscan {
    const struct sg_redaction *r; /* borrowed */
    struct sg_detect_scratch *sc; /* borrowed */
    const struct sg_vault *v;     /* borrowed; may be NULL */
    struct sg_buf pending;        /* not yet scanned and written */
    size_t next_check;            /* pending.len at which the hold is worked out again */
    char ctx[48];                 /* the end of what was written: context for the next scan */
    size_t nctx;
    unsigned masked;                  /* values masked so far */
    unsigned masked_type[SG_ENT_MAX]; /* by type */
    struct sg_findings f;
    struct sg_buf tmp;
};

void sg_outscan_init(struct sg_outscan *o, const struct sg_redaction *r,
                     struct sg_detect_scratch *sc, const struct sg_vault *v);
void sg_outscan_free(struct sg_outscan *o);
/* Feeds text; appends what is safe to pass on (scanned and masked) to `out`. Returns 0 or
 * SG_ENOMEM/SG_ETOOBIG. */
int sg_outscan_feed(struct sg_outscan *o, const char *text, size_t len, struct sg_buf *out);
/* The text ended: scans and appends everything held. */
int sg_outscan_finish(struct sg_outscan *o, struct sg_buf *out);
/* A whole text at once (any size; nothing held): for answers that are not streamed. */
int sg_outscan_text(struct sg_outscan *o, const char *text, size_t len, struct sg_buf *out);

#endif
