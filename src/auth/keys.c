/* Key generation, hashing, the immutable key table (an open-addressing hash keyed by the
 * digest), and the SQLite keys database. */
#include "auth/keys.h"
#include "core/arena.h"
#include "core/clock.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

struct sg_keytab {
    struct sg_arena *arena;
    struct sg_client *clients;
    size_t n;
    size_t *slots; /* indices + 1 into clients; 0 = empty; size is a power of two */
    size_t mask;
};

int sg_key_generate(char out[SG_KEY_LEN + 1])
{
    uint8_t raw[32];
    if (sg_random_bytes(raw, sizeof(raw)) != 0)
        return SG_ECRYPTO;
    memcpy(out, "sg-", 3);
    sg_b64url_encode(raw, sizeof(raw), out + 3, SG_KEY_LEN + 1 - 3 + 1);
    sg_secure_zero(raw, sizeof(raw));
    out[SG_KEY_LEN] = '\0';
    return 0;
}

void sg_key_hash(const char *key, size_t len, uint8_t out[SG_SHA256_LEN])
{
    sg_sha256(key, len, out);
}

void sg_key_hash_format(const uint8_t h[SG_SHA256_LEN], char out[SG_KEY_HASH_STR])
{
    memcpy(out, "sha256:", 7);
    sg_hex_encode(h, SG_SHA256_LEN, out + 7);
}

bool sg_key_hash_equal(const uint8_t a[SG_SHA256_LEN], const uint8_t b[SG_SHA256_LEN])
{
    return sg_ct_equal(a, b, SG_SHA256_LEN);
}

static size_t slot_of(const uint8_t h[SG_SHA256_LEN], size_t mask)
{
    uint64_t v;
    memcpy(&v, h, sizeof(v));
    return (size_t)v & mask;
}

static int keytab_add(struct sg_keytab *t, size_t cap, const char *name, const char *models_csv,
                      const char *const *models, size_t nmodels, bool all,
                      const uint8_t hash[SG_SHA256_LEN])
{
    if (t->n == cap)
        return SG_ETOOBIG;
    struct sg_client *c = &t->clients[t->n];
    if (!(c->name = sg_arena_strdup(t->arena, name)))
        return SG_ENOMEM;
    memcpy(c->hash, hash, SG_SHA256_LEN);
    c->all_models = all;
    if (models_csv) {
        /* "a,b,c" from the database */
        size_t count = 1;
        for (const char *p = models_csv; *p; p++)
            count += *p == ',';
        c->models = sg_arena_calloc(t->arena, count * sizeof(*c->models));
        if (!c->models)
            return SG_ENOMEM;
        const char *p = models_csv;
        while (*p) {
            const char *e = strchr(p, ',');
            size_t len = e ? (size_t)(e - p) : strlen(p);
            if (len)
                c->models[c->nmodels++] = sg_arena_strndup(t->arena, p, len);
            p += len + (e ? 1 : 0);
        }
    } else if (nmodels) {
        c->models = sg_arena_calloc(t->arena, nmodels * sizeof(*c->models));
        if (!c->models)
            return SG_ENOMEM;
        for (size_t i = 0; i < nmodels; i++)
            c->models[c->nmodels++] = sg_arena_strdup(t->arena, models[i]);
    }
    t->n++;
    return 0;
}

static int open_db(const char *path, bool create, sqlite3 **db, struct sg_error *err)
{
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX;
    if (create) {
        /* Create the file ourselves so that it is private from the start. */
        int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (fd < 0)
            return sg_error_set(err, SG_EIO, "cannot create keys database %s", path);
        close(fd);
    }
    if (sqlite3_open_v2(path, db, flags, NULL) != SQLITE_OK) {
        sg_error_set(err, SG_EIO, "cannot open keys database %s: %s", path,
                     *db ? sqlite3_errmsg(*db) : "out of memory");
        sqlite3_close(*db);
        *db = NULL;
        return SG_EIO;
    }
    sqlite3_busy_timeout(*db, 5000);
    char *msg = NULL;
    const char *schema = "PRAGMA journal_mode=WAL;"
                         "CREATE TABLE IF NOT EXISTS keys ("
                         " id INTEGER PRIMARY KEY,"
                         " name TEXT NOT NULL,"
                         " key_hash TEXT NOT NULL UNIQUE,"
                         " models TEXT NOT NULL DEFAULT '*',"
                         " created_at INTEGER NOT NULL,"
                         " revoked_at INTEGER);";
    if (sqlite3_exec(*db, schema, NULL, NULL, &msg) != SQLITE_OK) {
        sg_error_set(err, SG_EIO, "keys database %s: %s", path, msg ? msg : "error");
        sqlite3_free(msg);
        sqlite3_close(*db);
        *db = NULL;
        return SG_EIO;
    }
    return 0;
}

int sg_keytab_build(const struct sg_config *cfg, struct sg_keytab **out, struct sg_error *err)
{
    *out = NULL;
    struct sg_keytab *t = calloc(1, sizeof(*t));
    if (!t || !(t->arena = sg_arena_new(256u << 20))) {
        free(t);
        return sg_error_set(err, SG_ENOMEM, "out of memory");
    }
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    size_t ndb = 0;
    int rc = 0;
    if (cfg->keys_db) {
        if ((rc = open_db(cfg->keys_db, true, &db, err)))
            goto fail;
        if (sqlite3_prepare_v2(db, "SELECT count(*) FROM keys WHERE revoked_at IS NULL", -1, &st,
                               NULL) != SQLITE_OK ||
            sqlite3_step(st) != SQLITE_ROW) {
            rc =
                sg_error_set(err, SG_EIO, "keys database %s: %s", cfg->keys_db, sqlite3_errmsg(db));
            goto fail;
        }
        ndb = (size_t)sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
        st = NULL;
    }
    size_t cap = cfg->nclients + ndb;
    t->clients = sg_arena_calloc(t->arena, (cap ? cap : 1) * sizeof(*t->clients));
    if (!t->clients) {
        rc = sg_error_set(err, SG_ENOMEM, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < cfg->nclients; i++) {
        const struct sg_config_client *c = &cfg->clients[i];
        if ((rc = keytab_add(t, cap, c->name, NULL, c->models, c->nmodels, c->all_models,
                             c->key_hash))) {
            sg_error_set(err, rc, "cannot build the key table");
            goto fail;
        }
    }
    if (db) {
        if (sqlite3_prepare_v2(db,
                               "SELECT name, key_hash, models FROM keys WHERE revoked_at IS NULL "
                               "ORDER BY id",
                               -1, &st, NULL) != SQLITE_OK) {
            rc = sg_error_set(err, SG_EIO, "keys database: %s", sqlite3_errmsg(db));
            goto fail;
        }
        int step;
        while ((step = sqlite3_step(st)) == SQLITE_ROW && t->n < cap) {
            const char *name = (const char *)sqlite3_column_text(st, 0);
            const char *hash = (const char *)sqlite3_column_text(st, 1);
            const char *models = (const char *)sqlite3_column_text(st, 2);
            uint8_t h[SG_SHA256_LEN];
            if (!name || !hash || strncmp(hash, "sha256:", 7) != 0 ||
                sg_hex_decode(hash + 7, strlen(hash + 7), h, sizeof(h)) != 0)
                continue; /* a damaged row grants nothing */
            bool all = !models || strcmp(models, "*") == 0;
            if ((rc = keytab_add(t, cap, name, all ? NULL : models, NULL, 0, all, h))) {
                sg_error_set(err, rc, "cannot build the key table");
                goto fail;
            }
        }
        if (step != SQLITE_DONE && step != SQLITE_ROW) {
            rc = sg_error_set(err, SG_EIO, "keys database: %s", sqlite3_errmsg(db));
            goto fail;
        }
        sqlite3_finalize(st);
        st = NULL;
        sqlite3_close(db);
        db = NULL;
    }
    size_t slots = 16;
    while (slots < t->n * 2)
        slots *= 2;
    t->slots = sg_arena_calloc(t->arena, slots * sizeof(*t->slots));
    if (!t->slots) {
        rc = sg_error_set(err, SG_ENOMEM, "out of memory");
        goto fail;
    }
    t->mask = slots - 1;
    for (size_t i = 0; i < t->n; i++) {
        size_t s = slot_of(t->clients[i].hash, t->mask);
        while (t->slots[s])
            s = (s + 1) & t->mask;
        t->slots[s] = i + 1;
    }
    *out = t;
    return 0;
fail:
    sqlite3_finalize(st);
    sqlite3_close(db);
    sg_keytab_free(t);
    return rc ? rc : SG_EIO;
}

void sg_keytab_free(struct sg_keytab *t)
{
    if (!t)
        return;
    sg_arena_free(t->arena);
    free(t);
}

size_t sg_keytab_count(const struct sg_keytab *t)
{
    return t->n;
}

const struct sg_client *sg_keytab_lookup(const struct sg_keytab *t, const char *key, size_t len)
{
    uint8_t h[SG_SHA256_LEN];
    sg_key_hash(key, len, h);
    /* Probing depends only on the digest, which reveals nothing usable about keys; the
     * final comparison is constant-time over the whole digest. */
    for (size_t s = slot_of(h, t->mask); t->slots[s]; s = (s + 1) & t->mask) {
        const struct sg_client *c = &t->clients[t->slots[s] - 1];
        if (sg_key_hash_equal(c->hash, h))
            return c;
    }
    return NULL;
}

const struct sg_client *sg_keytab_find_name(const struct sg_keytab *t, const char *name)
{
    for (size_t i = 0; t && name && i < t->n; i++)
        if (strcmp(t->clients[i].name, name) == 0)
            return &t->clients[i];
    return NULL;
}

bool sg_client_allows(const struct sg_client *c, const struct sg_config_route *route)
{
    if (c->all_models)
        return true;
    for (size_t i = 0; i < c->nmodels; i++) {
        if (strcmp(c->models[i], route->model) == 0)
            return true;
        for (size_t j = 0; j < route->naliases; j++)
            if (strcmp(c->models[i], route->aliases[j]) == 0)
                return true;
    }
    return false;
}

int sg_keydb_create(const char *path, const char *name, const char *const *models, size_t nmodels,
                    char key_out[SG_KEY_LEN + 1], struct sg_error *err)
{
    char models_csv[4096] = "*";
    if (nmodels) {
        size_t off = 0;
        for (size_t i = 0; i < nmodels; i++) {
            int n = snprintf(models_csv + off, sizeof(models_csv) - off, "%s%s", i ? "," : "",
                             models[i]);
            if (n < 0 || (size_t)n >= sizeof(models_csv) - off)
                return sg_error_set(err, SG_ETOOBIG, "model list too long");
            off += (size_t)n;
        }
    }
    sqlite3 *db = NULL;
    int rc = open_db(path, true, &db, err);
    if (rc)
        return rc;
    char key[SG_KEY_LEN + 1];
    uint8_t h[SG_SHA256_LEN];
    char hs[SG_KEY_HASH_STR];
    if ((rc = sg_key_generate(key))) {
        sqlite3_close(db);
        return sg_error_set(err, rc, "cannot generate a random key");
    }
    sg_key_hash(key, strlen(key), h);
    sg_key_hash_format(h, hs);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db,
                           "INSERT INTO keys (name, key_hash, models, created_at) "
                           "VALUES (?, ?, ?, ?)",
                           -1, &st, NULL) != SQLITE_OK) {
        rc = sg_error_set(err, SG_EIO, "keys database: %s", sqlite3_errmsg(db));
    } else {
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, hs, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, models_csv, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 4, sg_clock_unix());
        if (sqlite3_step(st) != SQLITE_DONE)
            rc = sg_error_set(err, SG_EIO, "keys database: %s", sqlite3_errmsg(db));
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    if (rc == 0)
        memcpy(key_out, key, sizeof(key));
    sg_secure_zero(key, sizeof(key));
    return rc;
}

int sg_keydb_revoke(const char *path, const char *name, const char *hash, int *count,
                    struct sg_error *err)
{
    sqlite3 *db = NULL;
    *count = 0;
    if (access(path, F_OK) != 0)
        return sg_error_set(err, SG_ENOTFOUND, "keys database %s does not exist", path);
    int rc = open_db(path, false, &db, err);
    if (rc)
        return rc;
    sqlite3_stmt *st = NULL;
    const char *sql = hash ? "UPDATE keys SET revoked_at = ? WHERE name = ? AND revoked_at IS "
                             "NULL AND substr(key_hash, 1, length(?)) = ?"
                           : "UPDATE keys SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL";
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        rc = sg_error_set(err, SG_EIO, "keys database: %s", sqlite3_errmsg(db));
    } else {
        sqlite3_bind_int64(st, 1, sg_clock_unix());
        sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
        if (hash) {
            sqlite3_bind_text(st, 3, hash, -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 4, hash, -1, SQLITE_STATIC);
        }
        if (sqlite3_step(st) != SQLITE_DONE)
            rc = sg_error_set(err, SG_EIO, "keys database: %s", sqlite3_errmsg(db));
        else
            *count = sqlite3_changes(db);
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return rc;
}

int sg_keydb_list(const char *path,
                  void (*fn)(void *arg, const char *name, const char *hash, const char *models,
                             int64_t created, int64_t revoked),
                  void *arg, struct sg_error *err)
{
    sqlite3 *db = NULL;
    if (access(path, F_OK) != 0)
        return sg_error_set(err, SG_ENOTFOUND, "keys database %s does not exist", path);
    int rc = open_db(path, false, &db, err);
    if (rc)
        return rc;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db,
                           "SELECT name, key_hash, models, created_at, coalesce(revoked_at, 0) "
                           "FROM keys ORDER BY id",
                           -1, &st, NULL) != SQLITE_OK) {
        rc = sg_error_set(err, SG_EIO, "keys database: %s", sqlite3_errmsg(db));
    } else {
        while (sqlite3_step(st) == SQLITE_ROW)
            fn(arg, (const char *)sqlite3_column_text(st, 0),
               (const char *)sqlite3_column_text(st, 1), (const char *)sqlite3_column_text(st, 2),
               sqlite3_column_int64(st, 3), sqlite3_column_int64(st, 4));
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return rc;
}
