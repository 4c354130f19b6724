/* YAML configuration loader. libyaml builds a node tree with positions; the walker below
 * checks every key against what each section allows, converts values, and records every
 * problem with its position. Cross-references (routes -> backends, clients -> routes) are
 * checked once the whole tree has been read. */
#include "config/config.h"
#include "core/arena.h"
#include "core/log.h"
#include "core/secret.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <yaml.h>

#define SG_CONFIG_MAX_BYTES (1u << 20)
#define SG_CONFIG_MAX_VISITS 200000
#define SG_CONFIG_MAX_ITEMS 10000

struct mark {
    size_t line, col; /* 1-based */
};

struct ld {
    const char *file;
    struct sg_config *cfg;
    struct sg_arena *a;
    yaml_document_t doc;
    struct sg_config_diags *diags;
    size_t visits;
    int nerr;
    struct mark *backend_marks, *route_marks, *client_marks;
};

/* ---- diagnostics ---- */

static struct mark mark_of(const yaml_node_t *n)
{
    struct mark m = {1, 1};
    if (n) {
        m.line = n->start_mark.line + 1;
        m.col = n->start_mark.column + 1;
    }
    return m;
}

static void diag_at(struct ld *l, struct mark m, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void diag_at(struct ld *l, struct mark m, const char *key, const char *fmt, ...)
{
    l->nerr++;
    struct sg_config_diags *d = l->diags;
    if (!d || d->n >= 1000)
        return;
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 16;
        struct sg_config_diag *v = realloc(d->v, cap * sizeof(*v));
        if (!v)
            return;
        d->v = v;
        d->cap = cap;
    }
    char reason[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof(reason), fmt, ap);
    va_end(ap);
    snprintf(d->v[d->n].msg, sizeof(d->v[d->n].msg), "%s:%zu:%zu: %s: %s", l->file, m.line, m.col,
             key && *key ? key : "(root)", reason);
    d->n++;
}

#define diag(l, node, key, ...) diag_at((l), mark_of(node), (key), __VA_ARGS__)

void sg_config_diags_free(struct sg_config_diags *d)
{
    free(d->v);
    d->v = NULL;
    d->n = d->cap = 0;
}

/* ---- value helpers ---- */

static yaml_node_t *node(struct ld *l, int id)
{
    l->visits++;
    return yaml_document_get_node(&l->doc, id);
}

static void join(char *out, size_t cap, const char *path, const char *key)
{
    snprintf(out, cap, "%s%s%s", path, *path ? "." : "", key);
}

static void join_idx(char *out, size_t cap, const char *path, size_t i)
{
    snprintf(out, cap, "%s[%zu]", path, i);
}

/* Returns the scalar's text (arena copy) or NULL with a diagnostic. */
static const char *str(struct ld *l, yaml_node_t *n, const char *path)
{
    if (!n || n->type != YAML_SCALAR_NODE) {
        diag(l, n, path, "expected a string");
        return NULL;
    }
    if (memchr(n->data.scalar.value, 0, n->data.scalar.length)) {
        diag(l, n, path, "NUL character not allowed");
        return NULL;
    }
    return sg_arena_strndup(l->a, (const char *)n->data.scalar.value, n->data.scalar.length);
}

/* Plain (unquoted) scalars are YAML's untyped values: true/false/numbers. */
static bool is_plain(const yaml_node_t *n)
{
    return n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
}

static void boolean(struct ld *l, yaml_node_t *n, const char *path, bool *out)
{
    if (n && n->type == YAML_SCALAR_NODE && is_plain(n)) {
        const char *v = (const char *)n->data.scalar.value;
        if (strcmp(v, "true") == 0) {
            *out = true;
            return;
        }
        if (strcmp(v, "false") == 0) {
            *out = false;
            return;
        }
    }
    diag(l, n, path, "expected true or false");
}

static void integer(struct ld *l, yaml_node_t *n, const char *path, long min, long max, long *out)
{
    if (n && n->type == YAML_SCALAR_NODE && is_plain(n)) {
        const char *v = (const char *)n->data.scalar.value;
        char *end;
        errno = 0;
        long x = strtol(v, &end, 10);
        if (*v && !*end && errno == 0) {
            if (x < min || x > max) {
                diag(l, n, path, "must be between %ld and %ld", min, max);
                return;
            }
            *out = x;
            return;
        }
    }
    diag(l, n, path, "expected an integer");
}

static void size_val(struct ld *l, yaml_node_t *n, const char *path, size_t min, size_t max,
                     size_t *out)
{
    size_t v;
    const char *s = str(l, n, path);
    if (!s)
        return;
    if (sg_parse_size(s, &v) != 0) {
        diag(l, n, path, "expected a size such as 4MiB, 512KiB or 1024");
        return;
    }
    if (v < min || v > max) {
        diag(l, n, path, "must be between %zu and %zu bytes", min, max);
        return;
    }
    *out = v;
}

static void duration(struct ld *l, yaml_node_t *n, const char *path, uint32_t min_ms,
                     uint32_t max_ms, uint32_t *out)
{
    uint32_t v;
    const char *s = str(l, n, path);
    if (!s)
        return;
    if (sg_parse_duration_ms(s, &v) != 0) {
        diag(l, n, path, "expected a duration such as 500ms, 10s, 2m or 1h");
        return;
    }
    if (v < min_ms || v > max_ms) {
        diag(l, n, path, "must be between %ums and %ums", min_ms, max_ms);
        return;
    }
    *out = v;
}

/* Validates a mapping node and its keys (scalar, no duplicates). Returns false (with a
 * diagnostic) when `n` is not a usable mapping. */
static bool map_ok(struct ld *l, yaml_node_t *n, const char *path)
{
    if (!n || n->type != YAML_MAPPING_NODE) {
        diag(l, n, path, "expected a mapping");
        return false;
    }
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *k = node(l, p->key);
        if (!k || k->type != YAML_SCALAR_NODE) {
            diag(l, k, path, "keys must be strings");
            return false;
        }
        for (yaml_node_pair_t *q = n->data.mapping.pairs.start; q < p; q++) {
            yaml_node_t *k2 = node(l, q->key);
            if (k2 && k2->type == YAML_SCALAR_NODE &&
                strcmp((char *)k->data.scalar.value, (char *)k2->data.scalar.value) == 0) {
                char kp[256];
                join(kp, sizeof(kp), path, (char *)k->data.scalar.value);
                diag(l, k, kp, "duplicate key");
            }
        }
    }
    return true;
}

#define MAP_FOR(l, n, p)                                                                           \
    for (yaml_node_pair_t *p = (n)->data.mapping.pairs.start; p < (n)->data.mapping.pairs.top; p++)
#define KEYNODE(l, p) node((l), (p)->key)
#define KEYSTR(l, p) ((const char *)KEYNODE(l, p)->data.scalar.value)

static void unknown(struct ld *l, yaml_node_t *k, const char *kpath)
{
    diag(l, k, kpath, "unknown key");
}

static bool seq_ok(struct ld *l, yaml_node_t *n, const char *path)
{
    if (!n || n->type != YAML_SEQUENCE_NODE) {
        diag(l, n, path, "expected a list");
        return false;
    }
    size_t count = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
    if (count > SG_CONFIG_MAX_ITEMS) {
        diag(l, n, path, "too many items (at most %d)", SG_CONFIG_MAX_ITEMS);
        return false;
    }
    return true;
}

static size_t seq_len(yaml_node_t *n)
{
    return (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
}

/* A list of strings; returns an arena array (NULL and *count 0 on error). */
static const char **str_list(struct ld *l, yaml_node_t *n, const char *path, size_t *count)
{
    *count = 0;
    if (!seq_ok(l, n, path))
        return NULL;
    size_t len = seq_len(n);
    const char **v = sg_arena_calloc(l->a, (len ? len : 1) * sizeof(*v));
    if (!v)
        return NULL;
    for (size_t i = 0; i < len; i++) {
        char ip[256];
        join_idx(ip, sizeof(ip), path, i);
        const char *s = str(l, node(l, n->data.sequence.items.start[i]), ip);
        if (s)
            v[(*count)++] = s;
    }
    return v;
}

/* Names of clients, backends and routes: 1-64 of [A-Za-z0-9._:/-]. */
static bool name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 128)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!isalnum(c) && !strchr("._-:/@+", c))
            return false;
    }
    return true;
}

static const char *name_val(struct ld *l, yaml_node_t *n, const char *path)
{
    const char *s = str(l, n, path);
    if (s && !name_ok(s)) {
        diag(l, n, path, "must be 1-128 characters of letters, digits and . _ - : / @ +");
        return NULL;
    }
    return s;
}

/* A file path, optionally written as file:PATH; resolved against the config's folder
 * and required to be readable. */
static const char *file_val(struct ld *l, yaml_node_t *n, const char *path)
{
    const char *s = str(l, n, path);
    if (!s)
        return NULL;
    if (strncmp(s, "file:", 5) == 0)
        s += 5;
    if (!*s) {
        diag(l, n, path, "empty path");
        return NULL;
    }
    char full[4096];
    if (sg_path_resolve(l->cfg->dir, s, full, sizeof(full)) != 0) {
        diag(l, n, path, "path too long");
        return NULL;
    }
    if (access(full, R_OK) != 0) {
        diag(l, n, path, "cannot read %s: %s", full, strerror(errno));
        return NULL;
    }
    return sg_arena_strdup(l->a, full);
}

/* ---- sections ---- */

static void load_tls(struct ld *l, yaml_node_t *n, const char *path)
{
    struct sg_config *c = l->cfg;
    if (!map_ok(l, n, path))
        return;
    MAP_FOR(l, n, p)
    {
        char kp[256];
        const char *k = KEYSTR(l, p);
        yaml_node_t *v = node(l, p->value);
        join(kp, sizeof(kp), path, k);
        if (strcmp(k, "cert") == 0) {
            c->listen.cert = file_val(l, v, kp);
        } else if (strcmp(k, "key") == 0) {
            c->listen.key = file_val(l, v, kp);
        } else if (strcmp(k, "min_version") == 0) {
            const char *s = str(l, v, kp);
            if (s && strcmp(s, "1.3") == 0)
                c->listen.tls_min = 13;
            else if (s && strcmp(s, "1.2") == 0)
                c->listen.tls_min = 12;
            else if (s)
                diag(l, v, kp, "must be \"1.3\" or \"1.2\"");
        } else {
            unknown(l, KEYNODE(l, p), kp);
        }
    }
}

/* Splits "host:port" / "[v6]:port"; returns false when malformed. */
static bool split_hostport(const char *addr, char *host, size_t cap, long *port)
{
    const char *e;
    size_t hl;
    if (addr[0] == '[') {
        e = strchr(addr, ']');
        if (!e || e[1] != ':')
            return false;
        hl = (size_t)(e - addr - 1);
        if (hl >= cap)
            return false;
        memcpy(host, addr + 1, hl);
        e++;
    } else {
        e = strrchr(addr, ':');
        if (!e)
            return false;
        hl = (size_t)(e - addr);
        if (hl >= cap || memchr(addr, ':', hl))
            return false;
        memcpy(host, addr, hl);
    }
    host[hl] = '\0';
    char *end;
    errno = 0;
    *port = strtol(e + 1, &end, 10);
    return e[1] && !*end && errno == 0 && *port >= 0 && *port <= 65535;
}

bool sg_host_is_loopback(const char *host)
{
    if (strcmp(host, "localhost") == 0)
        return true;
    struct in_addr a4;
    struct in6_addr a6;
    if (inet_pton(AF_INET, host, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    if (inet_pton(AF_INET6, host, &a6) == 1)
        return IN6_IS_ADDR_LOOPBACK(&a6);
    return false;
}

static void load_listen(struct ld *l, yaml_node_t *n, const char *path)
{
    struct sg_config *c = l->cfg;
    if (!map_ok(l, n, path))
        return;
    yaml_node_t *addr_node = NULL, *tls_node = NULL, *plain_node = NULL;
    MAP_FOR(l, n, p)
    {
        char kp[256];
        const char *k = KEYSTR(l, p);
        yaml_node_t *v = node(l, p->value);
        join(kp, sizeof(kp), path, k);
        if (strcmp(k, "address") == 0) {
            addr_node = v;
            c->listen.address = str(l, v, kp);
        } else if (strcmp(k, "plaintext") == 0) {
            plain_node = v;
            boolean(l, v, kp, &c->listen.plaintext);
        } else if (strcmp(k, "tls") == 0) {
            tls_node = v;
            load_tls(l, v, kp);
        } else {
            unknown(l, KEYNODE(l, p), kp);
        }
    }
    if (!addr_node) {
        diag(l, n, "listen.address", "required");
        return;
    }
    char host[256];
    long port;
    if (c->listen.address && !split_hostport(c->listen.address, host, sizeof(host), &port)) {
        diag(l, addr_node, "listen.address", "expected host:port or [ipv6]:port");
        return;
    }
    if (c->listen.plaintext) {
        if (c->listen.address && !sg_host_is_loopback(host))
            diag(l, plain_node, "listen.plaintext",
                 "plaintext is only allowed on a loopback address (127.0.0.1, ::1)");
        if (tls_node)
            diag(l, tls_node, "listen.tls", "not allowed together with plaintext: true");
    } else if (!tls_node) {
        diag(l, n, "listen.tls", "required (or plaintext: true on a loopback address)");
    } else {
        if (!c->listen.cert && tls_node->type == YAML_MAPPING_NODE)
            diag(l, tls_node, "listen.tls.cert", "required");
        if (!c->listen.key && tls_node->type == YAML_MAPPING_NODE)
            diag(l, tls_node, "listen.tls.key", "required");
    }
}

static void load_client(struct ld *l, yaml_node_t *n, const char *path, struct sg_config_client *cl)
{
    if (!map_ok(l, n, path))
        return;
    bool have_hash = false, hash_given = false;
    MAP_FOR(l, n, p)
    {
        char kp[256];
        const char *k = KEYSTR(l, p);
        yaml_node_t *v = node(l, p->value);
        join(kp, sizeof(kp), path, k);
        if (strcmp(k, "name") == 0) {
            cl->name = name_val(l, v, kp);
        } else if (strcmp(k, "key_hash") == 0) {
            hash_given = true;
            const char *s = str(l, v, kp);
            if (s && (strncmp(s, "sha256:", 7) != 0 ||
                      sg_hex_decode(s + 7, strlen(s + 7), cl->key_hash, SG_SHA256_LEN) != 0))
                diag(l, v, kp, "expected sha256:<64 hex digits> (see `sovgate keys hash`)");
            else if (s)
                have_hash = true;
        } else if (strcmp(k, "models") == 0) {
            if (v && v->type == YAML_SCALAR_NODE &&
                strcmp((char *)v->data.scalar.value, "*") == 0) {
                cl->all_models = true;
            } else {
                cl->models = str_list(l, v, kp, &cl->nmodels);
            }
        } else if (strcmp(k, "key") == 0) {
            diag(l, v, kp, "keys are never written in the config: use key_hash");
        } else {
            unknown(l, KEYNODE(l, p), kp);
        }
    }
    char kp[256];
    if (!cl->name) {
        join(kp, sizeof(kp), path, "name");
        diag(l, n, kp, "required");
    }
    if (!have_hash && !hash_given) {
        join(kp, sizeof(kp), path, "key_hash");
        diag(l, n, kp, "required");
    }
    if (!cl->models && !cl->all_models)
        cl->all_models = true;
}

static void load_backend(struct ld *l, yaml_node_t *n, const char *path,
                         struct sg_config_backend *b)
{
    if (!map_ok(l, n, path))
        return;
    yaml_node_t *url_node = NULL;
    bool engine_keys = false;
    b->health_path = NULL;
    b->connect_timeout_ms = 5000;
    b->engine.parallel = 4;
    MAP_FOR(l, n, p)
    {
        char kp[256];
        const char *k = KEYSTR(l, p);
        yaml_node_t *v = node(l, p->value);
        join(kp, sizeof(kp), path, k);
        if (strcmp(k, "name") == 0) {
            b->name = name_val(l, v, kp);
        } else if (strcmp(k, "kind") == 0) {
            const char *s = str(l, v, kp);
            if (s && strcmp(s, "engine") == 0)
                b->kind = SG_BACKEND_ENGINE;
            else if (s && strcmp(s, "openai") != 0)
                diag(l, v, kp, "must be \"openai\" or \"engine\"");
        } else if (strcmp(k, "model") == 0) {
            engine_keys = true;
            b->engine.model = file_val(l, v, kp);
        } else if (strcmp(k, "engine_binary") == 0) {
            engine_keys = true;
            b->engine.binary = file_val(l, v, kp);
        } else if (strcmp(k, "ctx") == 0) {
            long x = 0;
            engine_keys = true;
            integer(l, v, kp, 0, 1 << 20, &x);
            b->engine.ctx = (int)x;
        } else if (strcmp(k, "parallel") == 0) {
            long x = 4;
            engine_keys = true;
            integer(l, v, kp, 1, 256, &x);
            b->engine.parallel = (int)x;
        } else if (strcmp(k, "threads") == 0) {
            long x = 0;
            engine_keys = true;
            integer(l, v, kp, 0, 1024, &x);
            b->engine.threads = (int)x;
        } else if (strcmp(k, "gpu_layers") == 0) {
            long x = 0;
            engine_keys = true;
            integer(l, v, kp, -1, 100000, &x);
            b->engine.gpu_layers = (int)x;
        } else if (strcmp(k, "url") == 0) {
            url_node = v;
            b->url = str(l, v, kp);
        } else if (strcmp(k, "credential") == 0) {
            const char *s = str(l, v, kp);
            if (s && !sg_secret_is_ref(s)) {
                diag(l, v, kp, "must be a reference env:NAME or file:PATH, never the secret");
            } else if (s) {
                struct sg_secret sec;
                struct sg_error err = {0};
                if (sg_secret_load(s, l->cfg->dir, &sec, &err) != 0)
                    diag(l, v, kp, "%s", err.msg);
                else if (sec.len == 0)
                    diag(l, v, kp, "the credential is empty");
                sg_secret_free(&sec);
                b->credential = s;
            }
        } else if (strcmp(k, "ca") == 0) {
            b->ca_file = file_val(l, v, kp);
        } else if (strcmp(k, "health_path") == 0) {
            const char *s = str(l, v, kp);
            if (s && s[0] != '/')
                diag(l, v, kp, "must start with /");
            else if (s)
                b->health_path = s;
        } else if (strcmp(k, "connect_timeout") == 0) {
            duration(l, v, kp, 10, 600000, &b->connect_timeout_ms);
        } else {
            unknown(l, KEYNODE(l, p), kp);
        }
    }
    char kp[256];
    if (!b->name) {
        join(kp, sizeof(kp), path, "name");
        diag(l, n, kp, "required");
    }
    if (b->kind == SG_BACKEND_ENGINE) {
        /* The gateway runs it: the address is its own (set once runtime_dir is known). */
        if (url_node)
            diag(l, url_node, "url", "not allowed for kind: engine (the gateway runs it)");
        if (!b->engine.model) {
            join(kp, sizeof(kp), path, "model");
            diag(l, n, kp, "required for kind: engine");
        }
        if (!b->health_path)
            b->health_path = "/health";
        b->base_url = "http://localhost";
        return;
    }
    if (!b->health_path)
        b->health_path = "/v1/models";
    if (engine_keys)
        diag(l, n, path,
             "model, engine_binary, ctx, parallel, threads and gpu_layers need "
             "kind: engine");
    join(kp, sizeof(kp), path, "url");
    if (!url_node) {
        diag(l, n, kp, "required");
        return;
    }
    if (!b->url)
        return;
    const char *u = b->url;
    if (strncmp(u, "unix:", 5) == 0) {
        if (u[5] != '/') {
            diag(l, url_node, kp, "unix socket path must be absolute (unix:/path)");
            return;
        }
        b->unix_path = u + 5;
        b->base_url = "http://localhost";
        return;
    }
    size_t skip = strncmp(u, "http://", 7) == 0 ? 7 : strncmp(u, "https://", 8) == 0 ? 8 : 0;
    if (!skip) {
        diag(l, url_node, kp, "must start with http://, https:// or unix:/");
        return;
    }
    const char *host = u + skip;
    if (!*host || *host == '/' || *host == ':') {
        diag(l, url_node, kp, "missing host");
        return;
    }
    for (const char *q = u; *q; q++) {
        if ((unsigned char)*q <= 0x20 || *q == '@' || *q == '?' || *q == '#' || *q == 0x7f) {
            diag(l, url_node, kp,
                 "must not contain spaces, control characters, user info, a "
                 "query or a fragment");
            return;
        }
    }
    /* Keep the prefix path but drop a trailing slash and a trailing /v1: requests append
     * /v1/chat/completions etc., and OpenAI-style base URLs often end in /v1. */
    size_t len = strlen(u);
    if (len > skip && u[len - 1] == '/')
        len--;
    if (len > skip + 3 && memcmp(u + len - 3, "/v1", 3) == 0)
        len -= 3;
    b->base_url = sg_arena_strndup(l->a, u, len);
}

static void load_target(struct ld *l, yaml_node_t *n, const char *path, struct sg_config_target *t)
{
    if (n && n->type == YAML_SCALAR_NODE) {
        t->backend = name_val(l, n, path);
        return;
    }
    if (!map_ok(l, n, path))
        return;
    MAP_FOR(l, n, p)
    {
        char kp[256];
        const char *k = KEYSTR(l, p);
        yaml_node_t *v = node(l, p->value);
        join(kp, sizeof(kp), path, k);
        if (strcmp(k, "name") == 0 || strcmp(k, "backend") == 0)
            t->backend = name_val(l, v, kp);
        else if (strcmp(k, "model") == 0)
            t->model = str(l, v, kp);
        else
            unknown(l, KEYNODE(l, p), kp);
    }
    if (!t->backend) {
        char kp[256];
        join(kp, sizeof(kp), path, "name");
        diag(l, n, kp, "required");
    }
}

static void load_route(struct ld *l, yaml_node_t *n, const char *path, struct sg_config_route *r)
{
    if (!map_ok(l, n, path))
        return;
    bool have_backends = false;
    MAP_FOR(l, n, p)
    {
        char kp[256];
        const char *k = KEYSTR(l, p);
        yaml_node_t *v = node(l, p->value);
        join(kp, sizeof(kp), path, k);
        if (strcmp(k, "model") == 0) {
            r->model = name_val(l, v, kp);
        } else if (strcmp(k, "aliases") == 0) {
            r->aliases = str_list(l, v, kp, &r->naliases);
            for (size_t i = 0; i < r->naliases; i++)
                if (!name_ok(r->aliases[i]))
                    diag(l, v, kp,
                         "alias \"%.64s\" must be 1-128 characters of letters, "
                         "digits and . _ - : / @ +",
                         r->aliases[i]);
        } else if (strcmp(k, "backends") == 0) {
            have_backends = true;
            if (!seq_ok(l, v, kp))
                continue;
            size_t len = seq_len(v);
            if (len == 0) {
                diag(l, v, kp, "at least one backend is required");
                continue;
            }
            r->targets = sg_arena_calloc(l->a, len * sizeof(*r->targets));
            if (!r->targets)
                continue;
            r->ntargets = len;
            for (size_t i = 0; i < len; i++) {
                char ip[256];
                join_idx(ip, sizeof(ip), kp, i);
                load_target(l, node(l, v->data.sequence.items.start[i]), ip, &r->targets[i]);
            }
        } else {
            unknown(l, KEYNODE(l, p), kp);
        }
    }
    char kp[256];
    if (!r->model) {
        join(kp, sizeof(kp), path, "model");
        diag(l, n, kp, "required");
    }
    if (!have_backends) {
        join(kp, sizeof(kp), path, "backends");
        diag(l, n, kp, "required");
    }
}

/* Loads a list section into an arena array of `size`-byte items with positions. */
static void *load_list(struct ld *l, yaml_node_t *n, const char *path, size_t size, size_t *count,
                       struct mark **marks,
                       void (*item)(struct ld *, yaml_node_t *, const char *, void *))
{
    *count = 0;
    if (!seq_ok(l, n, path))
        return NULL;
    size_t len = seq_len(n);
    char *v = sg_arena_calloc(l->a, (len ? len : 1) * size);
    *marks = sg_arena_calloc(l->a, (len ? len : 1) * sizeof(**marks));
    if (!v || !*marks)
        return NULL;
    for (size_t i = 0; i < len; i++) {
        char ip[256];
        yaml_node_t *in = node(l, n->data.sequence.items.start[i]);
        join_idx(ip, sizeof(ip), path, i);
        (*marks)[i] = mark_of(in);
        item(l, in, ip, v + i * size);
    }
    *count = len;
    return v;
}

static void client_item(struct ld *l, yaml_node_t *n, const char *p, void *o)
{
    load_client(l, n, p, o);
}
static void backend_item(struct ld *l, yaml_node_t *n, const char *p, void *o)
{
    load_backend(l, n, p, o);
}
static void route_item(struct ld *l, yaml_node_t *n, const char *p, void *o)
{
    load_route(l, n, p, o);
}

static void load_limits(struct ld *l, yaml_node_t *n, const char *path)
{
    struct sg_config *c = l->cfg;
    if (!map_ok(l, n, path))
        return;
    MAP_FOR(l, n, p)
    {
        char kp[256];
        const char *k = KEYSTR(l, p);
        yaml_node_t *v = node(l, p->value);
        join(kp, sizeof(kp), path, k);
        if (strcmp(k, "max_body") == 0) {
            size_val(l, v, kp, 1024, (size_t)1 << 30, &c->limits.max_body);
        } else if (strcmp(k, "max_header") == 0) {
            size_val(l, v, kp, 1024, (size_t)1 << 20, &c->limits.max_header);
        } else if (strcmp(k, "max_response") == 0) {
            size_val(l, v, kp, 1024, (size_t)1 << 30, &c->limits.max_response);
        } else if (strcmp(k, "max_connections") == 0) {
            long x = 0;
            integer(l, v, kp, 1, 1000000, &x);
            if (x)
                c->limits.max_connections = (size_t)x;
        } else {
            unknown(l, KEYNODE(l, p), kp);
        }
    }
}

static void load_timeouts(struct ld *l, yaml_node_t *n, const char *path)
{
    struct sg_config *c = l->cfg;
    static const struct {
        const char *key;
        size_t off;
    } keys[] = {
        {"header", offsetof(struct sg_config, timeouts.header_ms)},
        {"body", offsetof(struct sg_config, timeouts.body_ms)},
        {"idle", offsetof(struct sg_config, timeouts.idle_ms)},
        {"write", offsetof(struct sg_config, timeouts.write_ms)},
        {"request", offsetof(struct sg_config, timeouts.request_ms)},
        {"upstream_stall", offsetof(struct sg_config, timeouts.upstream_stall_ms)},
        {"drain", offsetof(struct sg_config, timeouts.drain_ms)},
    };
    if (!map_ok(l, n, path))
        return;
    MAP_FOR(l, n, p)
    {
        char kp[256];
        const char *k = KEYSTR(l, p);
        yaml_node_t *v = node(l, p->value);
        join(kp, sizeof(kp), path, k);
        size_t i = 0;
        for (; i < sizeof(keys) / sizeof(keys[0]); i++)
            if (strcmp(k, keys[i].key) == 0)
                break;
        if (i == sizeof(keys) / sizeof(keys[0])) {
            unknown(l, KEYNODE(l, p), kp);
            continue;
        }
        duration(l, v, kp, 10, 24u * 3600 * 1000, (uint32_t *)((char *)c + keys[i].off));
    }
}

static void load_health(struct ld *l, yaml_node_t *n, const char *path)
{
    struct sg_config *c = l->cfg;
    if (!map_ok(l, n, path))
        return;
    MAP_FOR(l, n, p)
    {
        char kp[256];
        const char *k = KEYSTR(l, p);
        yaml_node_t *v = node(l, p->value);
        join(kp, sizeof(kp), path, k);
        if (strcmp(k, "interval") == 0)
            duration(l, v, kp, 100, 3600000, &c->health.interval_ms);
        else if (strcmp(k, "timeout") == 0)
            duration(l, v, kp, 10, 600000, &c->health.timeout_ms);
        else if (strcmp(k, "max_backoff") == 0)
            duration(l, v, kp, 100, 3600000, &c->health.max_backoff_ms);
        else
            unknown(l, KEYNODE(l, p), kp);
    }
}

static void load_log(struct ld *l, yaml_node_t *n, const char *path)
{
    if (!map_ok(l, n, path))
        return;
    MAP_FOR(l, n, p)
    {
        char kp[256];
        const char *k = KEYSTR(l, p);
        yaml_node_t *v = node(l, p->value);
        join(kp, sizeof(kp), path, k);
        if (strcmp(k, "level") == 0) {
            const char *s = str(l, v, kp);
            enum sg_log_level lvl;
            if (s && sg_log_parse_level(s, &lvl) != 0)
                diag(l, v, kp, "must be debug, info, warn or error");
            else if (s)
                l->cfg->log_level = (int)lvl;
        } else {
            unknown(l, KEYNODE(l, p), kp);
        }
    }
}

/* ---- redaction ---- */

static bool type_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 24 || !isupper((unsigned char)s[0]))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isupper((unsigned char)s[i]) && !isdigit((unsigned char)s[i]) && s[i] != '_')
            return false;
    return true;
}

static const char *action_val(struct ld *l, yaml_node_t *n, const char *path)
{
    static const char *const actions[] = {"allow", "mask", "pseudonymize", "hash", "block"};
    const char *s = str(l, n, path);
    for (size_t i = 0; s && i < sizeof(actions) / sizeof(actions[0]); i++)
        if (strcmp(s, actions[i]) == 0)
            return s;
    if (s)
        diag(l, n, path, "must be allow, mask, pseudonymize, hash or block");
    return NULL;
}

/* A map of string -> string into pairs; `value` parses (and may reject) each value. */
static struct sg_config_pair *pairs(struct ld *l, yaml_node_t *n, const char *path, size_t *count,
                                    bool keys_are_types,
                                    const char *(*value)(struct ld *, yaml_node_t *, const char *))
{
    *count = 0;
    if (!map_ok(l, n, path))
        return NULL;
    size_t len = (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
    struct sg_config_pair *v = sg_arena_calloc(l->a, (len ? len : 1) * sizeof(*v));
    if (!v)
        return NULL;
    MAP_FOR(l, n, p)
    {
        char kp[256];
        const char *k = KEYSTR(l, p);
        join(kp, sizeof(kp), path, k);
        if (keys_are_types && !type_name_ok(k)) {
            diag(l, KEYNODE(l, p), kp, "an entity type is 1 to 24 of A-Z, 0-9 and _");
            continue;
        }
        if (!keys_are_types && (strlen(k) == 0 || strlen(k) > 64)) {
            diag(l, KEYNODE(l, p), kp, "a field name is 1 to 64 characters");
            continue;
        }
        yaml_node_t *vn = node(l, p->value);
        const char *val = value(l, vn, kp);
        if (!val)
            continue;
        v[*count].key = sg_arena_strdup(l->a, k);
        v[*count].value = strcmp(val, "none") == 0 ? NULL : val;
        (*count)++;
    }
    return v;
}

static const char *field_type_val(struct ld *l, yaml_node_t *n, const char *path)
{
    const char *s = str(l, n, path);
    if (s && strcmp(s, "none") == 0)
        return s;
    if (s && !type_name_ok(s)) {
        diag(l, n, path, "must be an entity type (e.g. EMAIL) or none");
        return NULL;
    }
    return s;
}

static void load_detector(struct ld *l, yaml_node_t *n, const char *path,
                          struct sg_config_detector *d)
{
    bool named = false;
    if (!map_ok(l, n, path))
        return;
    MAP_FOR(l, n, p)
    {
        char kp[256];
        const char *k = KEYSTR(l, p);
        yaml_node_t *v = node(l, p->value);
        join(kp, sizeof(kp), path, k);
        if (strcmp(k, "name") == 0) {
            named = true;
            d->name = str(l, v, kp);
            if (d->name && !type_name_ok(d->name)) {
                diag(l, v, kp, "a type name is 1 to 24 of A-Z, 0-9 and _, starting with a letter");
                d->name = NULL;
            }
        } else if (strcmp(k, "regex") == 0) {
            d->regex = str(l, v, kp);
            if (d->regex && !*d->regex)
                diag(l, v, kp, "empty");
        } else if (strcmp(k, "terms") == 0) {
            d->terms = str_list(l, v, kp, &d->nterms);
            for (size_t i = 0; i < d->nterms; i++)
                if (!d->terms[i][0] || strlen(d->terms[i]) > 256)
                    diag(l, v, kp, "terms are 1 to 256 characters");
        } else if (strcmp(k, "case_sensitive") == 0) {
            boolean(l, v, kp, &d->case_sensitive);
        } else if (strcmp(k, "action") == 0) {
            d->action = action_val(l, v, kp);
        } else {
            unknown(l, KEYNODE(l, p), kp);
        }
    }
    if (!named)
        diag(l, n, path, "name is required");
    else if (d->name && !d->regex && !d->nterms)
        diag(l, n, path, "a detector needs a regex or terms");
}

static void detector_item(struct ld *l, yaml_node_t *n, const char *p, void *o)
{
    load_detector(l, n, p, o);
}

static void load_redaction(struct ld *l, yaml_node_t *n, const char *path)
{
    struct sg_config *c = l->cfg;
    if (!map_ok(l, n, path))
        return;
    MAP_FOR(l, n, p)
    {
        char kp[256];
        const char *k = KEYSTR(l, p);
        yaml_node_t *v = node(l, p->value);
        join(kp, sizeof(kp), path, k);
        if (strcmp(k, "enabled") == 0) {
            boolean(l, v, kp, &c->redaction.enabled);
        } else if (strcmp(k, "key") == 0) {
            const char *s = str(l, v, kp);
            if (s && !sg_secret_is_ref(s)) {
                diag(l, v, kp, "must be a reference env:NAME or file:PATH, never the key");
            } else if (s) {
                struct sg_secret sec;
                struct sg_error err = {0};
                if (sg_secret_load(s, c->dir, &sec, &err) != 0)
                    diag(l, v, kp, "%s", err.msg);
                else if (sec.len < 16)
                    diag(l, v, kp, "the key must be at least 16 bytes (32 random bytes are best)");
                sg_secret_free(&sec);
                c->redaction.key = s;
            }
        } else if (strcmp(k, "actions") == 0) {
            c->redaction.actions = pairs(l, v, kp, &c->redaction.nactions, true, action_val);
        } else if (strcmp(k, "fields") == 0) {
            c->redaction.fields = pairs(l, v, kp, &c->redaction.nfields, false, field_type_val);
        } else if (strcmp(k, "detectors") == 0) {
            struct mark *marks;
            c->redaction.detectors = load_list(l, v, kp, sizeof(*c->redaction.detectors),
                                               &c->redaction.ndetectors, &marks, detector_item);
        } else if (strcmp(k, "output_scan") == 0) {
            c->redaction.output_scan = str_list(l, v, kp, &c->redaction.noutput_scan);
            c->redaction.output_scan_set = true;
            for (size_t i = 0; i < c->redaction.noutput_scan; i++)
                if (!type_name_ok(c->redaction.output_scan[i]))
                    diag(l, v, kp, "\"%s\" is not an entity type", c->redaction.output_scan[i]);
        } else if (strcmp(k, "max_findings") == 0) {
            long x = 0;
            integer(l, v, kp, 1, 1000000, &x);
            c->redaction.max_findings = (size_t)x;
        } else {
            unknown(l, KEYNODE(l, p), kp);
        }
    }
}

/* ---- cross-references ---- */

static void check_refs(struct ld *l)
{
    struct sg_config *c = l->cfg;
    for (size_t i = 0; i < c->nbackends; i++) {
        for (size_t j = 0; j < i; j++) {
            if (c->backends[i].name && c->backends[j].name &&
                strcmp(c->backends[i].name, c->backends[j].name) == 0) {
                char kp[64];
                snprintf(kp, sizeof(kp), "backends[%zu].name", i);
                diag_at(l, l->backend_marks[i], kp, "duplicate backend name \"%s\"",
                        c->backends[i].name);
            }
        }
    }
    /* Public names (models and aliases) must be unique across all routes. */
    for (size_t i = 0; i < c->nroutes; i++) {
        struct sg_config_route *r = &c->routes[i];
        char kp[64];
        snprintf(kp, sizeof(kp), "routes[%zu]", i);
        for (size_t n = 0; n <= r->naliases; n++) {
            const char *name = n == 0 ? r->model : r->aliases[n - 1];
            if (!name)
                continue;
            for (size_t j = 0; j <= i; j++) {
                struct sg_config_route *o = &c->routes[j];
                size_t lim = j == i ? n : o->naliases + 1;
                for (size_t m = 0; m < lim; m++) {
                    const char *other = m == 0 ? o->model : o->aliases[m - 1];
                    if (other && strcmp(name, other) == 0)
                        diag_at(l, l->route_marks[i], kp,
                                "model name \"%s\" is already used by routes[%zu]", name, j);
                }
            }
        }
        for (size_t t = 0; t < r->ntargets; t++) {
            if (r->targets[t].backend && !sg_config_find_backend(c, r->targets[t].backend)) {
                char tp[64];
                snprintf(tp, sizeof(tp), "routes[%zu].backends[%zu]", i, t);
                diag_at(l, l->route_marks[i], tp, "unknown backend \"%s\"", r->targets[t].backend);
            }
        }
    }
    for (size_t i = 0; i < c->nclients; i++) {
        struct sg_config_client *cl = &c->clients[i];
        char kp[64];
        snprintf(kp, sizeof(kp), "clients[%zu]", i);
        for (size_t m = 0; m < cl->nmodels; m++) {
            if (!sg_config_find_route(c, cl->models[m]))
                diag_at(l, l->client_marks[i], kp, "unknown model \"%s\" in models", cl->models[m]);
        }
        for (size_t j = 0; j < i; j++) {
            if (cl->name && c->clients[j].name && strcmp(cl->name, c->clients[j].name) == 0)
                diag_at(l, l->client_marks[i], kp, "duplicate client name \"%s\"", cl->name);
            if (sg_ct_equal(cl->key_hash, c->clients[j].key_hash, SG_SHA256_LEN))
                diag_at(l, l->client_marks[i], kp, "same key_hash as clients[%zu]", j);
        }
    }
}

/* ---- entry points ---- */

static void set_defaults(struct sg_config *c)
{
    c->listen.tls_min = 13;
    c->limits.max_body = 4u << 20;
    c->limits.max_header = 16u << 10;
    c->limits.max_response = 32u << 20;
    c->limits.max_connections = 16384;
    c->timeouts.header_ms = 10000;
    c->timeouts.body_ms = 30000;
    c->timeouts.idle_ms = 60000;
    c->timeouts.write_ms = 60000;
    c->timeouts.request_ms = 600000;
    c->timeouts.upstream_stall_ms = 300000;
    c->timeouts.drain_ms = 30000;
    c->health.interval_ms = 5000;
    c->health.timeout_ms = 2000;
    c->health.max_backoff_ms = 30000;
    c->log_level = SG_LOG_INFO;
    c->redaction.enabled = true;
    c->redaction.max_findings = 10000;
}

static void load_root(struct ld *l, yaml_node_t *root)
{
    struct sg_config *c = l->cfg;
    if (!root) {
        diag_at(l, (struct mark){1, 1}, "", "the configuration is empty");
        return;
    }
    if (!map_ok(l, root, ""))
        return;
    bool have_listen = false, have_backends = false, have_routes = false;
    MAP_FOR(l, root, p)
    {
        const char *k = KEYSTR(l, p);
        yaml_node_t *v = node(l, p->value);
        if (strcmp(k, "listen") == 0) {
            have_listen = true;
            load_listen(l, v, "listen");
        } else if (strcmp(k, "workers") == 0) {
            long w = 0;
            integer(l, v, "workers", 0, 256, &w);
            c->workers = (int)w;
        } else if (strcmp(k, "runtime_dir") == 0) {
            const char *s = str(l, v, "runtime_dir");
            char full[4096];
            if (s && sg_path_resolve(c->dir, s, full, sizeof(full)) == 0)
                c->runtime_dir = sg_arena_strdup(l->a, full);
        } else if (strcmp(k, "keys_db") == 0) {
            const char *s = str(l, v, "keys_db");
            char full[4096];
            if (s && sg_path_resolve(c->dir, s, full, sizeof(full)) == 0)
                c->keys_db = sg_arena_strdup(l->a, full);
        } else if (strcmp(k, "clients") == 0) {
            c->clients = load_list(l, v, "clients", sizeof(*c->clients), &c->nclients,
                                   &l->client_marks, client_item);
        } else if (strcmp(k, "backends") == 0) {
            have_backends = true;
            c->backends = load_list(l, v, "backends", sizeof(*c->backends), &c->nbackends,
                                    &l->backend_marks, backend_item);
        } else if (strcmp(k, "routes") == 0) {
            have_routes = true;
            c->routes = load_list(l, v, "routes", sizeof(*c->routes), &c->nroutes, &l->route_marks,
                                  route_item);
        } else if (strcmp(k, "limits") == 0) {
            load_limits(l, v, "limits");
        } else if (strcmp(k, "timeouts") == 0) {
            load_timeouts(l, v, "timeouts");
        } else if (strcmp(k, "health") == 0) {
            load_health(l, v, "health");
        } else if (strcmp(k, "log") == 0) {
            load_log(l, v, "log");
        } else if (strcmp(k, "redaction") == 0) {
            load_redaction(l, v, "redaction");
        } else {
            unknown(l, KEYNODE(l, p), k);
        }
        if (l->visits > SG_CONFIG_MAX_VISITS) {
            diag(l, v, k, "the configuration is too complex (aliases expanding too far?)");
            return;
        }
    }
    if (!have_listen)
        diag(l, root, "listen", "required");
    if (!have_backends)
        diag(l, root, "backends", "required");
    if (!have_routes)
        diag(l, root, "routes", "required");
    if (!c->runtime_dir)
        c->runtime_dir = "/run/sovgate";
    /* Engine backends listen on <runtime_dir>/engine-<name>.sock. */
    for (size_t i = 0; i < c->nbackends; i++) {
        struct sg_config_backend *b = &c->backends[i];
        if (b->kind != SG_BACKEND_ENGINE || !b->name)
            continue;
        b->unix_path = sg_arena_printf(l->a, "%s/engine-%s.sock", c->runtime_dir, b->name);
        b->url = sg_arena_printf(l->a, "unix:%s", b->unix_path);
        if (b->unix_path && strlen(b->unix_path) >= 100)
            diag_at(l, l->backend_marks[i], "runtime_dir",
                    "too long for the Unix socket path of engine %s", b->name);
    }
    if (l->nerr == 0)
        check_refs(l);
    if (c->workers <= 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        c->workers = n > 0 ? (int)(n > 256 ? 256 : n) : 1;
    }
}

int sg_config_load_string(const char *yaml, size_t len, const char *name, const char *dir,
                          struct sg_config **out, struct sg_config_diags *diags)
{
    *out = NULL;
    struct ld l = {0};
    l.file = name;
    l.diags = diags;
    struct sg_arena *a = sg_arena_new(64u << 20);
    struct sg_config *c = a ? sg_arena_calloc(a, sizeof(*c)) : NULL;
    if (!c) {
        sg_arena_free(a);
        diag_at(&l, (struct mark){1, 1}, "", "out of memory");
        return SG_ENOMEM;
    }
    c->arena = a;
    c->path = sg_arena_strdup(a, name);
    c->dir = sg_arena_strdup(a, dir ? dir : ".");
    set_defaults(c);
    l.cfg = c;
    l.a = a;
    if (len > SG_CONFIG_MAX_BYTES) {
        diag_at(&l, (struct mark){1, 1}, "", "the configuration is larger than 1 MiB");
        sg_config_free(c);
        return SG_EINVAL;
    }
    yaml_parser_t parser;
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_string(&parser, (const unsigned char *)yaml, len);
    if (!yaml_parser_load(&parser, &l.doc)) {
        struct mark m = {parser.problem_mark.line + 1, parser.problem_mark.column + 1};
        diag_at(&l, m, "", "YAML syntax error: %s%s%s", parser.problem ? parser.problem : "?",
                parser.context ? " " : "", parser.context ? parser.context : "");
        yaml_parser_delete(&parser);
        sg_config_free(c);
        return SG_EINVAL;
    }
    load_root(&l, yaml_document_get_root_node(&l.doc));
    /* A second document in the same file is a mistake worth reporting. */
    yaml_document_t extra;
    if (yaml_parser_load(&parser, &extra)) {
        if (yaml_document_get_root_node(&extra))
            diag_at(&l, mark_of(yaml_document_get_root_node(&extra)), "",
                    "only one YAML document is allowed");
        yaml_document_delete(&extra);
    }
    yaml_document_delete(&l.doc);
    yaml_parser_delete(&parser);
    if (l.nerr) {
        sg_config_free(c);
        return SG_EINVAL;
    }
    *out = c;
    return 0;
}

int sg_config_load_file(const char *path, struct sg_config **out, struct sg_config_diags *diags)
{
    char *text = NULL;
    size_t len = 0;
    struct sg_error err = {0};
    *out = NULL;
    int rc = sg_read_file(path, SG_CONFIG_MAX_BYTES, &text, &len, &err);
    if (rc) {
        struct ld l = {0};
        l.file = path;
        l.diags = diags;
        diag_at(&l, (struct mark){0, 0}, "", "%s", err.msg);
        return rc == SG_ETOOBIG ? SG_EINVAL : SG_EIO;
    }
    /* Relative paths inside the config are relative to its folder. */
    char dir[4096];
    const char *slash = strrchr(path, '/');
    if (slash) {
        size_t n = (size_t)(slash - path);
        if (n >= sizeof(dir))
            n = sizeof(dir) - 1;
        memcpy(dir, path, n);
        dir[n] = '\0';
        if (n == 0)
            snprintf(dir, sizeof(dir), "/");
    } else {
        snprintf(dir, sizeof(dir), ".");
    }
    rc = sg_config_load_string(text, len, path, dir, out, diags);
    free(text);
    return rc;
}

void sg_config_free(struct sg_config *cfg)
{
    if (cfg)
        sg_arena_free(cfg->arena);
}

const struct sg_config_route *sg_config_find_route(const struct sg_config *cfg, const char *model)
{
    for (size_t i = 0; i < cfg->nroutes; i++) {
        const struct sg_config_route *r = &cfg->routes[i];
        if (r->model && strcmp(r->model, model) == 0)
            return r;
        for (size_t j = 0; j < r->naliases; j++)
            if (strcmp(r->aliases[j], model) == 0)
                return r;
    }
    return NULL;
}

const struct sg_config_backend *sg_config_find_backend(const struct sg_config *cfg,
                                                       const char *name)
{
    for (size_t i = 0; i < cfg->nbackends; i++)
        if (cfg->backends[i].name && strcmp(cfg->backends[i].name, name) == 0)
            return &cfg->backends[i];
    return NULL;
}

int sg_parse_size(const char *s, size_t *out)
{
    const char *p = s;
    if (!isdigit((unsigned char)*p))
        return SG_EINVAL;
    unsigned long long v = 0;
    while (isdigit((unsigned char)*p)) {
        if (v > (1ULL << 50))
            return SG_EINVAL;
        v = v * 10 + (unsigned)(*p++ - '0');
    }
    while (*p == ' ')
        p++;
    static const struct {
        const char *unit;
        unsigned long long mul;
    } units[] = {{"", 1},
                 {"B", 1},
                 {"KiB", 1ULL << 10},
                 {"MiB", 1ULL << 20},
                 {"GiB", 1ULL << 30},
                 {"KB", 1000},
                 {"MB", 1000000},
                 {"GB", 1000000000},
                 {"k", 1000},
                 {"K", 1ULL << 10},
                 {"M", 1ULL << 20},
                 {"G", 1ULL << 30}};
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcmp(p, units[i].unit) == 0) {
            if (v > (unsigned long long)SIZE_MAX / units[i].mul)
                return SG_EINVAL;
            *out = (size_t)(v * units[i].mul);
            return 0;
        }
    }
    return SG_EINVAL;
}

int sg_parse_duration_ms(const char *s, uint32_t *out)
{
    const char *p = s;
    if (!isdigit((unsigned char)*p))
        return SG_EINVAL;
    unsigned long long v = 0;
    while (isdigit((unsigned char)*p)) {
        if (v > 100000000ULL)
            return SG_EINVAL;
        v = v * 10 + (unsigned)(*p++ - '0');
    }
    unsigned long long mul;
    if (strcmp(p, "ms") == 0)
        mul = 1;
    else if (strcmp(p, "s") == 0)
        mul = 1000;
    else if (strcmp(p, "m") == 0)
        mul = 60000;
    else if (strcmp(p, "h") == 0)
        mul = 3600000;
    else if (*p == '\0' && v == 0)
        mul = 1;
    else
        return SG_EINVAL;
    if (v * mul > UINT32_MAX)
        return SG_EINVAL;
    *out = (uint32_t)(v * mul);
    return 0;
}
