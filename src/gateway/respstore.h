/* The conversation state store of the OpenAI Responses dialect: one record per stored
 * response, encrypted at rest with AES-256-GCM (a random 96-bit nonce per record; the
 * response id and the client name are the associated data, so a record cannot be moved
 * to another id or read as another client), with a time to live enforced on every read
 * and by pruning (at open and at most once a minute on writes). Kept in SQLite (WAL) at
 * a path, or in memory (lost at restart) when no path is configured.
 *
 * The store does not know what a record holds: the caller (responses.c) encrypts only
 * transformed conversation state. A key check row written at creation makes opening a
 * store with another key fail with a clear error instead of losing every record.
 *
 * Thread safety: one SQLite connection behind a mutex; every function may be called from
 * any worker thread. */
#ifndef SG_GATEWAY_RESPSTORE_H
#define SG_GATEWAY_RESPSTORE_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

#define SG_RESPSTORE_KEY_LEN 32

struct sg_respstore;

struct sg_respstore_opts {
    const char *path;   /* SQLite file; NULL keeps the store in memory */
    const uint8_t *key; /* SG_RESPSTORE_KEY_LEN bytes of key material; borrowed */
    uint32_t ttl_s;     /* time to live of a record, seconds (> 0) */
    size_t max_record;  /* largest plaintext a record may hold */
};

/* Opens (creating when needed) the store. Returns 0 and a new store in *out, or an SG_E*
 * code with `err` filled: SG_EDENIED when the key does not open an existing store. */
int sg_respstore_open(const struct sg_respstore_opts *o, struct sg_respstore **out,
                      struct sg_error *err);
/* Closes and frees; NULL is accepted. */
void sg_respstore_close(struct sg_respstore *s);

/* Stores `len` bytes for (id, client), replacing a record with that id, expiring ttl_s
 * after `now_s`. Returns 0, SG_ETOOBIG, SG_ECRYPTO or SG_EIO. */
int sg_respstore_put(struct sg_respstore *s, const char *id, const char *client, const char *data,
                     size_t len, uint64_t now_s);
/* Reads the record of (id, client) that has not expired at `now_s`: *data is a malloc'd,
 * NUL-terminated copy the caller owns (and should zero). Returns 0, or SG_ENOTFOUND when
 * there is none for this client (another client's record, an expired one and one that
 * does not decrypt all read as none), SG_EIO or SG_ENOMEM. */
int sg_respstore_get(struct sg_respstore *s, const char *id, const char *client, uint64_t now_s,
                     char **data, size_t *len);
/* Deletes the record of (id, client). Returns 0, SG_ENOTFOUND or SG_EIO. */
int sg_respstore_delete(struct sg_respstore *s, const char *id, const char *client, uint64_t now_s);
/* Deletes every expired record; returns how many, or a negative SG_E* code. */
int64_t sg_respstore_prune(struct sg_respstore *s, uint64_t now_s);

#endif
