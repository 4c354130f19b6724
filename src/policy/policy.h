/* The data classification policy, compiled from the configuration (policy.*): which data
 * class each entity type belongs to, what happens to each class on its way to a sovereign
 * or an external backend, which external jurisdictions may receive which classes, and
 * what each client may send. Immutable once built; shared by all threads (one per config
 * snapshot). Pure functions, no I/O: the gateway and `sovgate policy explain` both decide
 * with it.
 *
 * Classes are ordered most sensitive first. The defaults (docs/policy.md):
 *   restricted             CARD IBAN NATIONAL_ID SECRET URL_CREDENTIALS  mask     / mask
 *   personal               EMAIL PHONE PERSON ADDRESS IP DATE_OF_BIRTH   pseudonymize /
 *                          VAT_ID FIELD                                  pseudonymize
 *   business_confidential  custom detectors                              allow    / allow
 *   public                 everything else                               allow    / allow
 * (action towards sovereign / external backends).
 *
 * A class is "left" in a request for a destination when its action there keeps the data
 * (allow, pseudonymize, hash: pseudonymized data is still personal data); mask removes
 * it; block refuses that destination. A sovereign backend may receive every class left.
 * An external backend may receive public data, other classes only under a transfer rule
 * that names the class and covers the backend's jurisdiction, and restricted data never. */
#ifndef SG_POLICY_POLICY_H
#define SG_POLICY_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "core/error.h"
#include "redact/redaction.h"

#define SG_POLICY_MAX_CLASSES 32
/* Transfer rules a verdict can name (the first ones of policy.transfers; a rule past
 * these is applied, and shown as "..." in the verdict's rule). */
#define SG_POLICY_MAX_TRANSFERS_NAMED 64

enum sg_dest { SG_DEST_SOVEREIGN = 0, SG_DEST_EXTERNAL = 1 };

struct sg_policy;

/* Compiles cfg's policy against the detector of `rd` (type names; `rd` must outlive the
 * policy: the snapshot owns both). Returns 0 or an SG_E*
 * code with `err` naming the setting ("policy.classes[1].types: unknown entity type X"). */
int sg_policy_new(const struct sg_config *cfg, const struct sg_redaction *rd,
                  struct sg_policy **out, struct sg_error *err);
void sg_policy_free(struct sg_policy *p);

unsigned sg_policy_nclasses(const struct sg_policy *p);
/* The index of the class named `name`, or -1. */
int sg_policy_class_index(const struct sg_policy *p, const char *name);
const char *sg_policy_class_name(const struct sg_policy *p, unsigned c);
/* The class of an entity type. Own class lists place every detectable type (sg_policy_new
 * refuses one that does not); a type number beyond them maps to the public class, or the
 * last one. */
unsigned sg_policy_class_of(const struct sg_policy *p, unsigned type);

/* A client's rule, or NULL when the client has none. */
const struct sg_policy_client *sg_policy_client(const struct sg_policy *p, const char *name);

/* The per-type actions for requests of `client` (may be NULL) to destination `d`: the
 * class's action, an explicit redaction.actions (or detector) action where configured,
 * and for classes the client may not send, the client's on_violation action (block
 * included). */
void sg_policy_actions(const struct sg_policy *p, const struct sg_redaction *rd,
                       const struct sg_policy_client *client, enum sg_dest d,
                       enum sg_action out[SG_ENT_MAX]);

/* The classes present in a request: bit c for class c, from per-type finding counts. */
uint32_t sg_policy_classes(const struct sg_policy *p, const uint32_t counts[SG_ENT_MAX]);

/* The outcome for one destination. */
struct sg_policy_verdict {
    bool allowed;
    char rule[256]; /* the rule that decided: "restricted-external", "class:NAME",
                       "transfer:ID" (every transfer rule the classes left go out under,
                       "transfer:ID+ID2", ending "+..." if they do not fit), "no-transfer",
                       "sovereign", "client:NAME", "public" */
    int klass;      /* the class that decided a refusal, else -1 */
    uint32_t left;  /* classes left in the request for this destination */
};

/* Whether a request with per-type finding counts `counts`, transformed with `act` (from
 * sg_policy_actions for this destination), may go to a backend that is `sovereign` or
 * external in `jurisdiction`. */
void sg_policy_decide(const struct sg_policy *p, const uint32_t counts[SG_ENT_MAX],
                      const enum sg_action act[SG_ENT_MAX], bool sovereign,
                      const char *jurisdiction, const struct sg_policy_client *client,
                      struct sg_policy_verdict *v);
/* The decision when nothing was classified (redaction off): only the shop's own
 * (sovereign) backends, rule "sovereign" or "unclassified". The gateway and `policy
 * explain` both use it, so that they agree. */
void sg_policy_unclassified(bool sovereign, struct sg_policy_verdict *v);

#endif
