/* Distribution of store models through a private OCI registry (the OCI distribution API,
 * e.g. Debian's docker-registry): `sovgate model push/pull REF`.
 *
 * An artifact is an OCI image manifest whose config blob is the model's signed manifest
 * file (media type application/vnd.sovgate.model.manifest.v1+json) and whose one layer is
 * the stored weights (application/vnd.sovgate.model.weights.v1, or ...weights.encrypted.v1:
 * encrypted weights travel encrypted). REF is `host[:port]/repository:tag` or
 * `host[:port]/repository@sha256:<hex>`; HTTPS only, verified against `ca_file` (or the
 * system's CAs); `user:password` from a file:/env: reference, sent as HTTP basic
 * authentication, or to the registry's token service when it answers with a Bearer
 * challenge (the token then authenticates the requests). Uploads are chunked (16 MiB
 * PATCHes) and resume from the registry's Range after a failed chunk; downloads of the
 * weights resume from a partial file kept in <store>/partial/ (removed when its digest
 * does not verify). A pull verifies the manifest's digest (when REF names one), the
 * config's and the weights' SHA-256 digests, and the signed manifest against the store's
 * public key, before anything enters the store; it is audited as "model.pull"
 * ("model.push" for a push). */
#ifndef SG_MODEL_OCI_H
#define SG_MODEL_OCI_H

#include "core/error.h"
#include "model/model.h"

struct sg_oci_opts {
    const char *ca_file;    /* PEM bundle the registry's certificate must chain to, or NULL */
    const char *credential; /* file:/env: reference of "user:password", or NULL */
    const char *base_dir;   /* relative file: references resolve against this */
};

/* Pushes name/version to `ref`; `digest` (72 bytes) gets the manifest's digest. */
int sg_model_push(struct sg_model_store *s, const char *name, const char *version, const char *ref,
                  const struct sg_oci_opts *o, char digest[72], struct sg_error *err);
/* Pulls `ref` into the store; `name`/`version` (SG_MODEL_NAME_MAX + 1 bytes) get what it
 * was. SG_EEXIST when that version exists with other contents. */
int sg_model_pull(struct sg_model_store *s, const char *ref, const struct sg_oci_opts *o,
                  char *name, char *version, struct sg_error *err);

#endif
