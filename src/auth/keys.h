/* Client API keys. A key is "sg-" followed by 43 base64url characters (256 random bits);
 * only its SHA-256 is ever stored ("sha256:<hex>"), in the config (clients[].key_hash) or
 * in the keys database that `sovgate keys create` writes. Presented keys are hashed and
 * compared digest-to-digest in constant time.
 *
 * A key table is immutable once built and shared read-only by worker threads; it owns
 * every string in it. */
#ifndef SG_AUTH_KEYS_H
#define SG_AUTH_KEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "core/crypto.h"
#include "core/error.h"

#define SG_KEY_LEN 46      /* "sg-" + 43 characters */
#define SG_KEY_HASH_STR 72 /* "sha256:" + 64 hex + NUL */

/* One accepted client identity. */
struct sg_client {
    const char *name;
    const char **models; /* route names or aliases this client may use */
    size_t nmodels;
    bool all_models;
    uint8_t hash[SG_SHA256_LEN];
};

/* Writes a new random key (NUL-terminated) into `out`, which must hold SG_KEY_LEN + 1
 * bytes. Returns 0 or SG_ECRYPTO. */
int sg_key_generate(char out[SG_KEY_LEN + 1]);
/* The stored digest of a presented key. */
void sg_key_hash(const char *key, size_t len, uint8_t out[SG_SHA256_LEN]);
/* Formats a digest as "sha256:<hex>" into `out`. */
void sg_key_hash_format(const uint8_t h[SG_SHA256_LEN], char out[SG_KEY_HASH_STR]);
/* Compares two digests in constant time. */
bool sg_key_hash_equal(const uint8_t a[SG_SHA256_LEN], const uint8_t b[SG_SHA256_LEN]);

struct sg_keytab;

/* Builds the key table from the config's clients and, when cfg->keys_db is set, the
 * non-revoked keys of that database (created when missing). Returns 0 or an SG_E* code
 * with `err` filled. The caller owns the table. */
int sg_keytab_build(const struct sg_config *cfg, struct sg_keytab **out, struct sg_error *err);
void sg_keytab_free(struct sg_keytab *t);
/* Finds the client whose key is the `len` bytes at `key`; NULL when none matches. */
const struct sg_client *sg_keytab_lookup(const struct sg_keytab *t, const char *key, size_t len);
/* Finds a client by name (for mutual TLS identities); NULL when none. */
const struct sg_client *sg_keytab_find_name(const struct sg_keytab *t, const char *name);
/* Number of clients in the table. */
size_t sg_keytab_count(const struct sg_keytab *t);
/* True when `c` may use the route (matched by its name or any alias). */
bool sg_client_allows(const struct sg_client *c, const struct sg_config_route *route);

/* --- the keys database (SQLite) --- */

/* Creates a key for client `name` allowed to use `models` (NULL/0 = all), stores its
 * hash in the database at `path` (created with mode 0600 when missing), and writes the
 * key itself into `key_out` (the only time it exists outside the caller). */
int sg_keydb_create(const char *path, const char *name, const char *const *models, size_t nmodels,
                    char key_out[SG_KEY_LEN + 1], struct sg_error *err);
/* Marks every key of client `name` revoked (or only the one with hash prefix `hash`,
 * when not NULL). Sets *count to the number of keys revoked. */
int sg_keydb_revoke(const char *path, const char *name, const char *hash, int *count,
                    struct sg_error *err);
/* Calls `fn` for each key: name, "sha256:<hex>", models text, created and revoked unix
 * times (revoked 0 when active). */
int sg_keydb_list(const char *path,
                  void (*fn)(void *arg, const char *name, const char *hash, const char *models,
                             int64_t created, int64_t revoked),
                  void *arg, struct sg_error *err);

#endif
