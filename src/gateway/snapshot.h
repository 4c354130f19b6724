/* A snapshot is everything a request needs from the configuration, built and validated
 * as a whole: the parsed config, the client key table, the TLS context, the compiled
 * redaction settings, and per backend its health state and loaded credential. Snapshots are
 * immutable and reference-counted: a reload builds a new one and publishes it; requests in flight
 * keep the one they started with, which is freed when the last of them ends. A snapshot holds a
 * reference to each of its backends' health states (route/backend.h) and releases them when it
 * is freed: a reload builds the new snapshot (taking its references) before it releases the old
 * one, so a backend that both configurations name keeps its state, "down" included. */
#ifndef SG_GATEWAY_SNAPSHOT_H
#define SG_GATEWAY_SNAPSHOT_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "auth/keys.h"
#include "http/upstream.h"
#include "config/config.h"
#include "guard/injection.h"
#include "policy/policy.h"
#include "redact/redaction.h"
#include "route/backend.h"

struct sg_backend_rt {
    const struct sg_config_backend *cfg;    /* borrowed from the snapshot's config */
    struct sg_backend_state *state;         /* reference held (route/backend.h) */
    char *credential;                       /* owned, zeroed on free; NULL when none */
    struct sg_upstream_headers *headers[2]; /* owned: [0] for JSON answers, [1] for streams */
    struct sg_upstream_target *target;      /* reference held; addresses resolved at load */
};

struct sg_snapshot {
    atomic_int refs;
    uint64_t generation;
    struct sg_config *cfg;          /* owned */
    struct sg_keytab *keys;         /* owned */
    SSL_CTX *tls;                   /* owned; NULL for plaintext */
    struct sg_backend_rt *backends; /* owned; parallel to cfg->backends */
    struct sg_redaction *redaction; /* owned */
    struct sg_policy *policy;       /* owned; borrows redaction's detector */
    struct sg_injection *injection; /* owned; NULL unless guard.injection.enabled */
};

/* Checks everything sg_snapshot_build would build from `cfg` (the keys database, each
 * custom detector's patterns, the policy, the TLS certificate, key and client CA, each
 * backend's credential and address) and appends EVERY problem to `d`, each with the
 * position of its key in the file (sg_config_diag_add). Builds nothing that stays.
 * Returns the number of problems. */
size_t sg_snapshot_check(const struct sg_config *cfg, struct sg_config_diags *d);

/* Builds a snapshot from a loaded config, taking ownership of `cfg` (freed on failure
 * too). Returns 0 or an SG_E* code with `err` filled (the first problem only:
 * sg_snapshot_check lists them all). */
int sg_snapshot_build(struct sg_config *cfg, uint64_t generation, struct sg_snapshot **out,
                      struct sg_error *err);
/* Takes another reference. */
struct sg_snapshot *sg_snapshot_ref(struct sg_snapshot *s);
/* Drops a reference; the last one frees the snapshot. NULL is accepted. */
void sg_snapshot_unref(struct sg_snapshot *s);
/* The runtime backend for a backend name; NULL when unknown. */
const struct sg_backend_rt *sg_snapshot_backend(const struct sg_snapshot *s, const char *name);

#endif
