/* Making a backup of a deployment (sg_bak_backup): finds every file the configuration
 * names, decides what goes into the archive, rewrites the configuration so that the
 * restored folder is self-contained (paths into it, relative; what stays outside,
 * absolute), copies SQLite databases with the online backup API while the gateway
 * writes, and walks the model store. What goes in is listed in docs/operations.md. */
#include "backup/backup.h"

#include "config/config.h"
#include "core/crypto.h"
#include "core/secret.h"
#include "model/model.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>
#include <yaml.h>

#define CONFIG_MAX (4u << 20)
#define TMP_PREFIX ".sovgate-backup-" /* temporary database copies */

enum kind {
    K_PUBFILE, /* a public file (certificate, CA): included */
    K_SECFILE, /* a private key path: included only with secrets */
    K_SECREF,  /* env:/file: secret: a file included only with secrets */
    K_PUBREF,  /* env:/file: public key: a file included */
    K_SQLITE,  /* a SQLite database: copied with the backup API */
    K_FRESH,   /* state that is not kept (made afresh): pointed into the folder */
    K_ABS,     /* stays where it is: made absolute */
    K_WEIGHTS, /* an engine's GGUF: included with weights (a store ref stays as it is) */
    K_STORE,   /* the model store folder */
    K_STATE,   /* a small state file of the gateway's own: included when it exists */
};

struct slot {
    const char *key; /* the config key, for notes */
    enum kind kind;
    const char *name; /* its place in the archive */
};

struct repl {
    size_t from, to; /* character indexes (libyaml marks) */
    char *text;
};

struct ctx {
    const struct sg_bak_backup_opts *o;
    struct sg_bak_writer *w;
    char base[PATH_MAX];   /* the config's folder */
    char tmpdir[PATH_MAX]; /* the archive's folder */
    struct repl *repls;
    size_t nrepls;
    json_t *not_included, *databases;
    const char *store; /* the model store's folder, absolute, or NULL */
    char store_buf[PATH_MAX];
    uint64_t nfiles;
};

static void note(struct ctx *c, const char *fmt, const char *a, const char *b)
    __attribute__((format(printf, 2, 0)));

static void note(struct ctx *c, const char *fmt, const char *a, const char *b)
{
    if (!c->o->note)
        return;
    char line[PATH_MAX + 256];
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
    snprintf(line, sizeof(line), fmt, a, b ? b : "");
#pragma GCC diagnostic pop
    c->o->note(c->o->note_arg, line);
}

static int add_repl(struct ctx *c, yaml_node_t *n, const char *prefix, const char *path,
                    struct sg_error *err)
{
    size_t need = strlen(prefix) + 2 * strlen(path) + 3;
    char *t = malloc(need);
    struct repl *r = realloc(c->repls, (c->nrepls + 1) * sizeof(*r));
    if (!t || !r) {
        free(t);
        if (r)
            c->repls = r;
        return sg_error_set(err, SG_ENOMEM, "out of memory");
    }
    c->repls = r;
    size_t k = 0;
    t[k++] = '"';
    for (const char *s = prefix; *s; s++)
        t[k++] = *s;
    for (const char *s = path; *s; s++) {
        if ((unsigned char)*s < 0x20) {
            free(t);
            return sg_error_set(err, SG_EINVAL, "a path with control characters: %.100s", path);
        }
        if (*s == '"' || *s == '\\')
            t[k++] = '\\';
        t[k++] = *s;
    }
    t[k++] = '"';
    t[k] = '\0';
    r[c->nrepls].from = n->start_mark.index;
    r[c->nrepls].to = n->end_mark.index;
    r[c->nrepls].text = t;
    c->nrepls++;
    return 0;
}

/* Adds the open file `fd` (taken) of `path` as `name`. */
static int add_open_file(struct ctx *c, int fd, const char *path, const char *name,
                         struct sg_error *err)
{
    struct stat st;
    int rc;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
        rc = sg_error_set(err, SG_EINVAL, "%.200s is not a regular file", path);
    else
        rc = sg_bak_writer_add_fd(c->w, name, st.st_mode & 0777, fd, (uint64_t)st.st_size, err);
    close(fd);
    if (rc == 0) {
        c->nfiles++;
        note(c, "added %s (from %s)", name, path);
    }
    return rc;
}

/* Adds the file at `path` (links followed: config files may be links) as `name`. */
static int add_file(struct ctx *c, const char *path, const char *name, struct sg_error *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return sg_error_set(err, SG_EIO, "cannot read %.200s: %s", path, strerror(errno));
    return add_open_file(c, fd, path, name, err);
}

/* The audit records of the model store that wait for the signing key (<trail>.pending,
 * src/model/store.c), copied under that file's own lock, shared, so that no record is half
 * written in the copy (a `push` appends without the store's lock). Missing: nothing to
 * copy. A link or anything but a regular file there is left out and said. */
static int add_pending(struct ctx *c, const char *path, const char *name, struct sg_error *err)
{
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    struct stat st;
    if (fd < 0 && errno == ENOENT)
        return 0;
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        if (fd >= 0)
            close(fd);
        json_array_append_new(c->not_included,
                              json_pack("{s:s,s:s}", "path", path, "why", "not a regular file"));
        note(c, "left out %s: not a regular file", path, NULL);
        return 0;
    }
    if (flock(fd, LOCK_SH) != 0) {
        int e = errno;
        close(fd);
        return sg_error_set(err, SG_EIO, "cannot lock %.200s: %s", path, strerror(e));
    }
    return add_open_file(c, fd, path, name, err); /* closing it unlocks */
}

/* Copies a SQLite database with the online backup API (a consistent snapshot, also while
 * another process writes, in WAL mode or not) into a temporary file, and adds that. */
static int add_sqlite(struct ctx *c, const char *path, const char *name, struct sg_error *err)
{
    /* The plaintext copy is made next to the database (the same protection, the same file
     * system), else in $TMPDIR; never on the archive's volume. */
    char tmp[PATH_MAX];
    const char *slash = strrchr(path, '/');
    int dl = slash ? (int)(slash - path) : 1;
    if (snprintf(tmp, sizeof(tmp), "%.*s/" TMP_PREFIX "XXXXXX", dl, slash ? path : ".") >=
        (int)sizeof(tmp))
        return sg_error_set(err, SG_ETOOBIG, "path too long");
    int tfd = mkstemp(tmp);
    if (tfd < 0) {
        const char *td = getenv("TMPDIR");
        snprintf(tmp, sizeof(tmp), "%s/" TMP_PREFIX "XXXXXX", td && *td ? td : "/tmp");
        tfd = mkstemp(tmp);
    }
    if (tfd < 0)
        return sg_error_set(err, SG_EIO, "cannot create a temporary copy of %.200s: %s", path,
                            strerror(errno));
    close(tfd);
    sqlite3 *src = NULL, *dst = NULL;
    int rc = 0;
    if (sqlite3_open_v2(path, &src, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
        sqlite3_close(src);
        src = NULL;
        if (sqlite3_open_v2(path, &src, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
            rc = sg_error_set(err, SG_EIO, "cannot open the database %.200s: %s", path,
                              src ? sqlite3_errmsg(src) : "out of memory");
    }
    if (rc == 0 && sqlite3_open_v2(tmp, &dst, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK)
        rc = sg_error_set(err, SG_EIO, "cannot open %s", tmp);
    if (rc == 0) {
        sqlite3_busy_timeout(src, 10000);
        sqlite3_backup *b = sqlite3_backup_init(dst, "main", src, "main");
        if (!b) {
            rc = sg_error_set(err, SG_EIO, "cannot copy %.200s: %s", path, sqlite3_errmsg(dst));
        } else {
            int s, tries = 0;
            /* One step copies every page inside one read transaction: a snapshot. */
            while ((s = sqlite3_backup_step(b, -1)) == SQLITE_BUSY || s == SQLITE_LOCKED) {
                if (++tries > 200)
                    break;
                sqlite3_sleep(50);
            }
            sqlite3_backup_finish(b);
            if (s != SQLITE_DONE)
                rc =
                    sg_error_set(err, SG_EIO, "copying %.200s failed: %s", path, sqlite3_errstr(s));
        }
    }
    sqlite3_close(src);
    if (dst && sqlite3_close(dst) != SQLITE_OK && rc == 0)
        rc = sg_error_set(err, SG_EIO, "closing the copy of %.200s", path);
    if (rc == 0) {
        int fd = open(tmp, O_RDONLY | O_CLOEXEC);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) != 0)
            rc = sg_error_set(err, SG_EIO, "cannot read %s", tmp);
        else
            rc = sg_bak_writer_add_fd(c->w, name, 0600, fd, (uint64_t)st.st_size, err);
        if (fd >= 0)
            close(fd);
    }
    unlink(tmp);
    if (rc == 0) {
        c->nfiles++;
        json_array_append_new(c->databases, json_pack("{s:s,s:s}", "path", name, "from", path));
        note(c, "added %s (SQLite snapshot of %s)", name, path);
    }
    return rc;
}

static bool is_sqlite(int dfd, const char *name)
{
    int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return false;
    char h[16] = {0};
    bool yes = read(fd, h, 16) == 16 && memcmp(h, "SQLite format 3", 16) == 0;
    close(fd);
    return yes;
}

static bool ends_with(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

/* Adds the model store's folder `abs` below archive path `rel`. */
static int walk_store(struct ctx *c, const char *abs, const char *rel, int depth,
                      struct sg_error *err)
{
    if (depth > 16)
        return sg_error_set(err, SG_ETOOBIG, "the model store is nested too deep at %.200s", abs);
    DIR *d = opendir(abs);
    if (!d)
        return sg_error_set(err, SG_EIO, "cannot read the model store folder %.200s: %s", abs,
                            strerror(errno));
    int rc = 0;
    struct dirent *e;
    while (rc == 0 && (e = readdir(d))) {
        const char *n = e->d_name;
        if (strcmp(n, ".") == 0 || strcmp(n, "..") == 0)
            continue;
        char ap[PATH_MAX], rp[PATH_MAX];
        if (snprintf(ap, sizeof(ap), "%s/%s", abs, n) >= (int)sizeof(ap) ||
            snprintf(rp, sizeof(rp), "%s/%s", rel, n) >= (int)sizeof(rp)) {
            rc = sg_error_set(err, SG_ETOOBIG, "path too long in the model store");
            break;
        }
        bool top = depth == 0;
        if (top && strcmp(n, ".lock") == 0)
            continue; /* the lock (made again when needed) */
        if (top && strcmp(n, "tmp") == 0) {
            rc = sg_bak_writer_add_dir(c->w, rp, 0700, err); /* empty: files being written */
            continue;
        }
        /* blobs/: the weights; partial/: weights of a pull that did not finish */
        if (top && (strcmp(n, "blobs") == 0 || strcmp(n, "partial") == 0) && !c->o->with_weights) {
            note(c, "left out %s (weights: use --with-weights)", rp, NULL);
            continue;
        }
        if (strncmp(n, TMP_PREFIX, strlen(TMP_PREFIX)) == 0)
            continue; /* a copy being made by this or another backup */
        if (top && strcmp(n, "audit.db.pending") == 0) {
            rc = add_pending(c, ap, rp, err); /* the store's trail's waiting records */
            continue;
        }
        if (ends_with(n, "-wal") || ends_with(n, "-shm") || ends_with(n, "-journal"))
            continue; /* part of a database, copied through SQLite */
        struct stat st;
        if (fstatat(dirfd(d), n, &st, AT_SYMLINK_NOFOLLOW) != 0) {
            rc = sg_error_set(err, SG_EIO, "cannot stat %.200s: %s", ap, strerror(errno));
        } else if (S_ISDIR(st.st_mode)) {
            rc = sg_bak_writer_add_dir(c->w, rp, st.st_mode & 0777, err);
            if (rc == 0)
                rc = walk_store(c, ap, rp, depth + 1, err);
        } else if (!S_ISREG(st.st_mode)) {
            json_array_append_new(c->not_included,
                                  json_pack("{s:s,s:s}", "path", ap, "why", "not a regular file"));
            note(c, "left out %s: not a regular file", ap, NULL);
        } else if (is_sqlite(dirfd(d), n)) {
            rc = add_sqlite(c, ap, rp, err);
        } else {
            rc = add_file(c, ap, rp, err);
        }
    }
    closedir(d);
    return rc;
}

/* Takes the model store's lock (<store>/.lock, the flock(2) that `model import`, `pull`,
 * `promote`, `rollback`, `remove` and `gc` hold exclusively while they change the store;
 * src/model, docs/models.md "Who holds the lock")
 * shared, so that the walk sees no change half done, while other readers go on. Waits up
 * to `wait_ms` for a change to finish (sg_model_lock_root, the lock `restore --force`
 * takes too). The lock file is not created: a store without one was never changed by
 * `sovgate model` (and the backup must not leave a file there that the store's owner
 * cannot open). `*fd` gets the descriptor holding the lock, or -1. */
struct wait_note {
    struct ctx *c;
    const char *abs;
};

static void waiting(void *arg)
{
    struct wait_note *w = arg;
    note(w->c, "the model store %s is being changed; waiting for its lock", w->abs, NULL);
}

static int lock_store(struct ctx *c, const char *abs, unsigned wait_ms, int *fd,
                      struct sg_error *err)
{
    struct wait_note w = {c, abs};
    int rc = sg_model_lock_root(abs, false, wait_ms, waiting, &w, fd, err);
    if (rc == 0 && *fd < 0)
        note(c, "the model store %s has no lock file (never changed by sovgate model)", abs, NULL);
    return rc;
}

/* ---- the configuration's file references ---- */

static yaml_node_t *map_get(yaml_document_t *doc, yaml_node_t *m, const char *key)
{
    if (!m || m->type != YAML_MAPPING_NODE)
        return NULL;
    for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(doc, p->key);
        if (k && k->type == YAML_SCALAR_NODE && strcmp((char *)k->data.scalar.value, key) == 0)
            return yaml_document_get_node(doc, p->value);
    }
    return NULL;
}

static int handle(struct ctx *c, yaml_node_t *n, const char *key, enum kind kind, const char *name,
                  struct sg_error *err)
{
    if (!n)
        return 0;
    if (n->type != YAML_SCALAR_NODE)
        return sg_error_set(err, SG_EINVAL, "%s: not a string", key);
    if (n->data.scalar.style == YAML_LITERAL_SCALAR_STYLE ||
        n->data.scalar.style == YAML_FOLDED_SCALAR_STYLE)
        return sg_error_set(err, SG_EINVAL, "%s: write paths as plain or quoted strings", key);
    const char *v = (const char *)n->data.scalar.value;
    const char *prefix = "";
    if (strncmp(v, "env:", 4) == 0)
        return 0; /* lives in the environment: nothing to copy or rewrite */
    if (strncmp(v, "file:", 5) == 0) {
        prefix = "file:";
        v += 5;
    } else if (kind == K_SECREF || kind == K_PUBREF) {
        return 0; /* the loader refuses it; nothing to do */
    }
    if (kind == K_WEIGHTS && strchr(v, '@') && !strchr(v, '/'))
        return 0; /* name@channel in the model store */
    char abs[PATH_MAX];
    if (sg_path_resolve(c->base, v, abs, sizeof(abs)) != 0)
        return sg_error_set(err, SG_ETOOBIG, "%s: path too long", key);
    bool include = kind == K_PUBFILE || kind == K_PUBREF || kind == K_SQLITE || kind == K_STORE ||
                   kind == K_STATE ||
                   ((kind == K_SECFILE || kind == K_SECREF) && c->o->with_secrets) ||
                   (kind == K_WEIGHTS && c->o->with_weights);
    int rc = 0;
    if (kind == K_FRESH)
        return add_repl(c, n, prefix, name, err);
    if (kind == K_ABS || !include) {
        if (kind == K_SECFILE || kind == K_SECREF || kind == K_WEIGHTS) {
            json_array_append_new(c->not_included,
                                  json_pack("{s:s,s:s,s:s}", "key", key, "path", abs, "why",
                                            kind == K_WEIGHTS ? "weights (--with-weights)"
                                                              : "secret (--with-secrets)"));
            note(c, "left out %s (%s): put it back before starting the restored gateway", key, abs);
        }
        return add_repl(c, n, prefix, abs, err);
    }
    if (kind == K_SQLITE || kind == K_STATE) {
        if (access(abs, F_OK) != 0) {
            note(c, "%s: %s does not exist yet; the restored gateway creates it", key, abs);
            return add_repl(c, n, prefix, name, err);
        }
        rc = kind == K_SQLITE ? add_sqlite(c, abs, name, err) : add_file(c, abs, name, err);
        if (rc == 0 && strcmp(key, "models.audit") == 0) {
            /* the trail's records that wait for the signing key, beside it */
            char p[PATH_MAX], pn[PATH_MAX];
            if (snprintf(p, sizeof(p), "%s.pending", abs) >= (int)sizeof(p) ||
                snprintf(pn, sizeof(pn), "%s.pending", name) >= (int)sizeof(pn))
                rc = sg_error_set(err, SG_ETOOBIG, "%s: path too long", key);
            else
                rc = add_pending(c, p, pn, err);
        }
    } else if (kind == K_STORE) {
        snprintf(c->store_buf, sizeof(c->store_buf), "%s", abs);
        c->store = c->store_buf;
        struct stat st;
        if (stat(abs, &st) != 0)
            note(c, "%s: %s does not exist; nothing to copy", key, abs);
        else if ((rc = sg_bak_writer_add_dir(c->w, name, st.st_mode & 0777, err)) == 0) {
            /* held for the walk only */
            int lfd = -1;
            rc = lock_store(c, abs, c->o->store_wait_ms ? c->o->store_wait_ms : 30000, &lfd, err);
            if (rc == 0)
                rc = walk_store(c, abs, name, 0, err);
            if (lfd >= 0)
                close(lfd);
        }
    } else {
        rc = add_file(c, abs, name, err);
    }
    return rc ? rc : add_repl(c, n, prefix, name, err);
}

static const char *base_name(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

static int walk_config(struct ctx *c, yaml_document_t *doc, struct sg_error *err)
{
    yaml_node_t *root = yaml_document_get_root_node(doc);
    if (!root || root->type != YAML_MAPPING_NODE)
        return sg_error_set(err, SG_EINVAL, "the configuration is not a mapping");
    yaml_node_t *listen = map_get(doc, root, "listen");
    yaml_node_t *tls = map_get(doc, listen, "tls");
    yaml_node_t *audit = map_get(doc, root, "audit");
    yaml_node_t *red = map_get(doc, root, "redaction");
    yaml_node_t *resp = map_get(doc, root, "responses");
    yaml_node_t *models = map_get(doc, root, "models");
    struct {
        yaml_node_t *n;
        const char *key;
        enum kind kind;
        const char *name;
    } fixed[] = {
        {map_get(doc, tls, "cert"), "listen.tls.cert", K_PUBFILE, "tls/cert.pem"},
        {map_get(doc, tls, "key"), "listen.tls.key", K_SECFILE, "secrets/tls-key.pem"},
        {map_get(doc, tls, "client_ca"), "listen.tls.client_ca", K_PUBFILE, "tls/client-ca.pem"},
        {map_get(doc, root, "keys_db"), "keys_db", K_SQLITE, "state/keys.db"},
        {map_get(doc, root, "runtime_dir"), "runtime_dir", K_ABS, ""},
        {map_get(doc, audit, "path"), "audit.path", K_SQLITE, "state/audit.db"},
        {map_get(doc, audit, "signing_key"), "audit.signing_key", K_SECREF,
         "secrets/audit-signing.key"},
        {map_get(doc, audit, "postgres"), "audit.postgres", K_SECREF, "secrets/audit-postgres"},
        {map_get(doc, red, "key"), "redaction.key", K_SECREF, "secrets/redaction.key"},
        {map_get(doc, resp, "store"), "responses.store", K_FRESH, "state/responses.db"},
        {map_get(doc, resp, "key"), "responses.key", K_SECREF, "secrets/responses.key"},
        /* models.state before the store: the sequence numbers it records must not be
         * newer than the channel files in the archive (a restored gateway refuses a
         * channel file older than its record). */
        {map_get(doc, models, "state"), "models.state", K_STATE, "state/model-channels.state"},
        {map_get(doc, models, "store"), "models.store", K_STORE, "models"},
        {map_get(doc, models, "audit"), "models.audit", K_SQLITE, "state/models-audit.db"},
        {map_get(doc, models, "signing_key"), "models.signing_key", K_SECREF,
         "secrets/models-signing.key"},
        {map_get(doc, models, "public_key"), "models.public_key", K_PUBREF,
         "keys/models-public.key"},
        {map_get(doc, models, "encryption_key"), "models.encryption_key", K_SECREF,
         "secrets/models-encryption.key"},
    };
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < sizeof(fixed) / sizeof(fixed[0]); i++)
        rc = handle(c, fixed[i].n, fixed[i].key, fixed[i].kind, fixed[i].name, err);
    yaml_node_t *bs = map_get(doc, root, "backends");
    if (rc == 0 && bs && bs->type == YAML_SEQUENCE_NODE) {
        size_t i = 0;
        for (yaml_node_item_t *it = bs->data.sequence.items.start;
             rc == 0 && it < bs->data.sequence.items.top; it++, i++) {
            yaml_node_t *b = yaml_document_get_node(doc, *it);
            char key[64], name[PATH_MAX];
            yaml_node_t *m = map_get(doc, b, "model");
            snprintf(key, sizeof(key), "backends[%zu].model", i);
            snprintf(name, sizeof(name), "weights/%zu-%.200s", i,
                     m && m->type == YAML_SCALAR_NODE
                         ? base_name((const char *)m->data.scalar.value)
                         : "model");
            for (char *q = name; *q; q++)
                if ((unsigned char)*q < 0x21 || (unsigned char)*q > 0x7e || *q == '\\')
                    *q = '_';
            rc = handle(c, m, key, K_WEIGHTS, name, err);
            snprintf(key, sizeof(key), "backends[%zu].engine_binary", i);
            if (rc == 0)
                rc = handle(c, map_get(doc, b, "engine_binary"), key, K_ABS, "", err);
            snprintf(key, sizeof(key), "backends[%zu].credential", i);
            snprintf(name, sizeof(name), "secrets/backend-%zu-credential", i);
            if (rc == 0)
                rc = handle(c, map_get(doc, b, "credential"), key, K_SECREF, name, err);
            snprintf(key, sizeof(key), "backends[%zu].ca", i);
            snprintf(name, sizeof(name), "tls/backend-%zu-ca.pem", i);
            if (rc == 0)
                rc = handle(c, map_get(doc, b, "ca"), key, K_PUBFILE, name, err);
        }
    }
    return rc;
}

static int cmp_repl(const void *a, const void *b)
{
    const struct repl *x = a, *y = b;
    return x->from < y->from ? -1 : x->from > y->from;
}

/* The configuration text with the replacements applied. libyaml's marks count characters,
 * so they are mapped to byte offsets on the way. Caller frees. */
static char *rewrite(struct ctx *c, const char *text, size_t len, size_t *outlen,
                     struct sg_error *err)
{
    qsort(c->repls, c->nrepls, sizeof(*c->repls), cmp_repl);
    size_t extra = 0;
    for (size_t i = 0; i < c->nrepls; i++) {
        if (i && c->repls[i].from < c->repls[i - 1].to) {
            sg_error_set(err, SG_EINVAL, "the configuration uses one value for two paths");
            return NULL;
        }
        extra += strlen(c->repls[i].text);
    }
    char *out = malloc(len + extra + 1);
    if (!out) {
        sg_error_set(err, SG_ENOMEM, "out of memory");
        return NULL;
    }
    size_t bi = 0, ci = 0, o = 0, r = 0;
    bool skipping = false;
    /* libyaml skips a UTF-8 byte order mark without counting it in its marks. */
    if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0) {
        memcpy(out, text, 3);
        bi = o = 3;
    }
    while (bi <= len) {
        if (r < c->nrepls && !skipping && ci == c->repls[r].from) {
            size_t tl = strlen(c->repls[r].text);
            memcpy(out + o, c->repls[r].text, tl);
            o += tl;
            skipping = true;
        }
        if (skipping && ci == c->repls[r].to) {
            skipping = false;
            r++;
            continue; /* the next replacement may start here */
        }
        if (bi == len)
            break;
        size_t w = 1;
        unsigned char ch = (unsigned char)text[bi];
        if (ch >= 0xf0)
            w = 4;
        else if (ch >= 0xe0)
            w = 3;
        else if (ch >= 0xc0)
            w = 2;
        if (bi + w > len)
            w = len - bi;
        if (!skipping) {
            memcpy(out + o, text + bi, w);
            o += w;
        }
        bi += w;
        ci++;
    }
    if (r != c->nrepls) {
        free(out);
        sg_error_set(err, SG_EINVAL, "cannot rewrite the configuration's paths");
        return NULL;
    }
    out[o] = '\0';
    *outlen = o;
    return out;
}

int sg_bak_backup(const struct sg_bak_backup_opts *o, struct sg_error *err)
{
    struct ctx c = {.o = o};
    char real[PATH_MAX], tmpout[PATH_MAX];
    /* The configuration must load: a backup of a broken deployment is refused. */
    struct sg_config *cfg = NULL;
    struct sg_config_diags diags = {0};
    if (sg_config_load_file(o->config, &cfg, &diags) != 0) {
        int rc = sg_error_set(err, SG_EINVAL, "the configuration does not load: %s",
                              diags.n ? diags.v[0].msg : "unreadable");
        sg_config_diags_free(&diags);
        return rc;
    }
    sg_config_free(cfg);
    sg_config_diags_free(&diags);
    if (!realpath(o->config, real))
        return sg_error_set(err, SG_EIO, "cannot resolve %s: %s", o->config, strerror(errno));
    snprintf(c.base, sizeof(c.base), "%s", real);
    *strrchr(c.base, '/') = '\0';
    if (!c.base[0])
        snprintf(c.base, sizeof(c.base), "/");
    snprintf(c.tmpdir, sizeof(c.tmpdir), "%s", o->out);
    char *sl = strrchr(c.tmpdir, '/');
    if (sl == c.tmpdir)
        sl[1] = '\0';
    else if (sl)
        *sl = '\0';
    else
        snprintf(c.tmpdir, sizeof(c.tmpdir), ".");

    char *text = NULL, *newtext = NULL;
    size_t len = 0, newlen = 0;
    int rc = sg_read_file(real, CONFIG_MAX, &text, &len, err);
    if (rc != 0)
        return rc;
    yaml_parser_t parser;
    yaml_document_t doc;
    bool have_doc = false;
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &doc)) {
        yaml_parser_delete(&parser);
        free(text);
        return sg_error_set(err, SG_EINVAL, "the configuration is not YAML");
    }
    have_doc = true;
    /* The rewrite works on UTF-8 text (libyaml's marks count characters of it). */
    bool utf8 = parser.encoding == YAML_UTF8_ENCODING;
    yaml_parser_delete(&parser);
    if (!utf8) {
        yaml_document_delete(&doc);
        free(text);
        return sg_error_set(err, SG_EINVAL,
                            "the configuration is not UTF-8: save it as UTF-8 to back it up");
    }

    snprintf(tmpout, sizeof(tmpout), "%s.partial-XXXXXX", o->out);
    int fd = mkstemp(tmpout);
    if (fd < 0) {
        rc = sg_error_set(err, SG_EIO, "cannot create %s: %s", tmpout, strerror(errno));
        tmpout[0] = '\0';
        goto out;
    }
    struct sg_bak_writer_opts wo = {
        .fd = fd, .key = o->key, .signing_seed = o->seed, .chunk = o->chunk};
    if ((rc = sg_bak_writer_open(&wo, &c.w, err)) != 0)
        goto out;
    c.not_included = json_array();
    c.databases = json_array();
    if ((rc = walk_config(&c, &doc, err)) != 0)
        goto out;
    if (!(newtext = rewrite(&c, text, len, &newlen, err))) {
        rc = err ? err->code : SG_EINVAL;
        goto out;
    }
    if ((rc = sg_bak_writer_add_bytes(c.w, "sovgate.yaml", 0600, newtext, newlen, err)) != 0 ||
        (rc = sg_bak_writer_add_bytes(c.w, "original/sovgate.yaml", 0600, text, len, err)) != 0)
        goto out;
    char host[256] = "";
    gethostname(host, sizeof(host) - 1);
    char ts[32];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
    json_t *meta = json_pack("{s:s,s:s,s:s,s:s,s:s,s:b,s:b,s:O,s:O,s:s}", "created", ts, "sovgate",
                             SG_VERSION, "host", host, "config", "sovgate.yaml", "original_config",
                             real, "with_weights", o->with_weights, "with_secrets", o->with_secrets,
                             "databases", c.databases, "not_included", c.not_included,
                             "vector_indexes", "none: no configuration key names a vector index");
    rc = sg_bak_writer_finish(c.w, meta, err);
    c.w = NULL;
    json_decref(meta);
    if (rc == 0 && fsync(fd) != 0)
        rc = sg_error_set(err, SG_EIO, "fsync %s: %s", tmpout, strerror(errno));
    if (rc == 0 && close(fd) != 0)
        rc = sg_error_set(err, SG_EIO, "closing %s: %s", tmpout, strerror(errno));
    fd = -1;
    if (rc == 0 && rename(tmpout, o->out) != 0)
        rc = sg_error_set(err, SG_EIO, "cannot rename to %s: %s", o->out, strerror(errno));
    if (rc == 0) {
        tmpout[0] = '\0';
        int dfd = open(c.tmpdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
            fsync(dfd);
            close(dfd);
        }
    }
out:
    if (c.w)
        sg_bak_writer_abort(c.w);
    if (fd >= 0)
        close(fd);
    if (tmpout[0])
        unlink(tmpout);
    for (size_t i = 0; i < c.nrepls; i++)
        free(c.repls[i].text);
    free(c.repls);
    json_decref(c.not_included);
    json_decref(c.databases);
    if (have_doc)
        yaml_document_delete(&doc);
    free(newtext);
    free(text);
    return rc;
}
