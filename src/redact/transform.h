/* Transforming detected entities, and putting pseudonymized ones back.
 *
 * Actions: allow (unchanged), mask (an irreversible typed placeholder "[CARD]"),
 * pseudonymize (a reversible surrogate "PERSON_7F3K2Q"), hash (an irreversible but
 * consistent keyed digest "PHONE#9c1b4e5d6a7f"), block (the request is refused).
 *
 * Surrogates are consistent without storing raw values anywhere: the code is derived with
 * HMAC-SHA256 under a per-deployment key from the entity's type and its canonical form
 * (e-mail lower-cased, numbers as digits, names and addresses case-folded with collapsed
 * whitespace), so the same value gets the same surrogate in every message and every turn.
 * A request's vault (surrogate -> original value, in memory, for that request only) lets
 * the answer be restored.
 *
 * Restore is tolerant: surrogates are recognized case-insensitively, with markdown around
 * them, with the underscore written as a space, a dash or an escaped "\_", and with line
 * breaks or spaces inside the code. The streaming restorer holds back at most
 * SG_SURROGATE_HOLD bytes (the longest surrogate with that tolerance) at a chunk's end.
 *
 * Ownership: a vault owns copies of the original values and zeroes them when freed. */
#ifndef SG_REDACT_TRANSFORM_H
#define SG_REDACT_TRANSFORM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/error.h"
#include "redact/detect.h"

enum sg_action { SG_ACT_ALLOW = 0, SG_ACT_MASK, SG_ACT_PSEUDONYMIZE, SG_ACT_HASH, SG_ACT_BLOCK };

#define SG_SURROGATE_CODE 6
/* The longest surrogate as it may come back: the longest type name (24) with its
 * underscores escaped ("\_": at most 11 more bytes), a separator of up to two characters
 * ("\_"), and the code with up to one line break (CR LF: two bytes) or space before each
 * of its characters but the first. */
#define SG_SURROGATE_HOLD (24 + 11 + 2 + 3 * SG_SURROGATE_CODE - 2)

const char *sg_action_name(enum sg_action a);
/* Parses "allow", "mask", "pseudonymize", "hash", "block". Returns 0 or SG_EINVAL. */
int sg_action_parse(const char *s, enum sg_action *out);
/* The built-in default per entity type: mask for restricted data (cards, IBANs, national
 * IDs, secrets, URL credentials), pseudonymize for personal data and custom detectors. */
enum sg_action sg_action_default(unsigned type);

struct sg_vault;

/* A vault for one request; `key` (at least 16 bytes) keys the HMAC and `d` names the types;
 * both are borrowed for the vault's life. `max_bytes` caps the originals it may hold. NULL
 * when out of memory. */
struct sg_vault *sg_vault_new(const struct sg_detector *d, const uint8_t *key, size_t keylen,
                              size_t max_bytes);
/* Zeroes and frees. NULL is accepted. */
void sg_vault_free(struct sg_vault *v);
/* Number of distinct values pseudonymized so far. */
size_t sg_vault_count(const struct sg_vault *v);
/* Notes that the request carried a value (whatever its action), as a keyed digest only, so
 * that output scanning can tell values the user sent from values the model made up.
 * Returns 0 or SG_ENOMEM. */
int sg_vault_note(struct sg_vault *v, unsigned type, const char *value, size_t len);
/* A keyed 64-bit digest of a value (its canonical form), for counting distinct values
 * and for audit records an investigator can correlate without the value. */
uint64_t sg_vault_digest(const struct sg_vault *v, unsigned type, const char *value, size_t len);
/* Whether sg_vault_note() saw this value (same canonical form) in the request. */
bool sg_vault_noted(const struct sg_vault *v, unsigned type, const char *value, size_t len);

/* Calls fn(type, code, value, len, escaped, ctx) for each pseudonymized value of the vault
 * (`code`: the SG_SURROGATE_CODE characters after "TYPE_"; `escaped`: how many times the
 * value is JSON-escaped as it was found, struct sg_finding, at most SG_ESCAPED_MAX); a
 * non-zero return stops and is returned. For state that outlives a request (stored
 * conversations, encrypted). */
#define SG_ESCAPED_MAX 2
typedef int (*sg_vault_entry_fn)(unsigned type, const char *code, const char *value, size_t len,
                                 unsigned escaped, void *ctx);
int sg_vault_each(const struct sg_vault *v, sg_vault_entry_fn fn, void *ctx);
/* Adds a surrogate made by another request (possibly under another key) so that it is
 * restored in this request's answer. A code the vault already holds for the type is kept.
 * Returns 0, SG_EINVAL (bad type, code or `escaped`), SG_ETOOBIG or SG_ENOMEM. */
int sg_vault_import(struct sg_vault *v, unsigned type, const char *code, const char *value,
                    size_t len, unsigned escaped);

/* Rewrites `text` into `out`, applying `actions[type]` (NULL: the defaults) to each
 * finding (sorted, not overlapping, as sg_detect() produces them). Pseudonyms are recorded
 * in `v`. Returns 0, an sg_buf error, SG_ETOOBIG when the vault is full, or SG_EDENIED
 * when a finding's action is block (its type is then in *blocked_type; `out` is then
 * incomplete). */
int sg_transform(struct sg_vault *v, const enum sg_action *actions, const char *text, size_t len,
                 const struct sg_findings *f, struct sg_buf *out, unsigned *blocked_type);

/* How restored values are written. */
enum sg_restore_mode {
    SG_RESTORE_RAW = 0, /* as they were */
    SG_RESTORE_JSON,    /* escaped for the inside of a JSON string (text that is JSON, such as
                         * tool-call arguments) */
};

/* Appends `text` to `out` with every surrogate of `v` replaced by its original value.
 * Returns the number of surrogates restored, or a negative sg_buf error. */
int sg_restore(const struct sg_vault *v, enum sg_restore_mode mode, const char *text, size_t len,
               struct sg_buf *out);

/* Streaming restore of one text field (e.g. one choice's content deltas). */
struct sg_restorer {
    const struct sg_vault *v; /* borrowed */
    enum sg_restore_mode mode;
    struct sg_buf pending; /* held back: may be the start of a surrogate */
    unsigned restored;
    int last; /* the byte of the text before `pending`, -1 at the start */
};

void sg_restorer_init(struct sg_restorer *r, const struct sg_vault *v, enum sg_restore_mode mode);
void sg_restorer_free(struct sg_restorer *r);
/* Feeds a piece of text; appends what is certain to `out`. Returns 0 or an sg_buf
 * error. */
int sg_restorer_feed(struct sg_restorer *r, const char *text, size_t len, struct sg_buf *out);
/* The text ended: appends everything still held back. */
int sg_restorer_finish(struct sg_restorer *r, struct sg_buf *out);

#endif
