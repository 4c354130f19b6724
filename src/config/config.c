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
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <yaml.h>

#include "config/config_int.h"

/* ---- sections ---- */

static void load_tls(struct cfg_ld *l, yaml_node_t *n, const char *path)
{
    struct sg_config *c = l->cfg;
    yaml_node_t *client_cert_node = NULL;
    if (!cfg_map_ok(l, n, path))
        return;
    MAP_FOR(l, n, p)
    {
        char kp[256];
        const char *k = KEYSTR(l, p);
        yaml_node_t *v = cfg_node(l, p->value);
        cfg_join(kp, sizeof(kp), path, k);
        cfg_note(l, v, kp); /* the files are read when the TLS context is made */
        if (strcmp(k, "cert") == 0) {
            c->listen.cert = cfg_file_val(l, v, kp);
        } else if (strcmp(k, "key") == 0) {
            c->listen.key = cfg_file_val(l, v, kp);
        } else if (strcmp(k, "client_ca") == 0) {
            c->listen.client_ca = cfg_file_val(l, v, kp);
        } else if (strcmp(k, "client_cert") == 0) {
            const char *s = cfg_str(l, v, kp);
            if (s && strcmp(s, "required") == 0)
                c->listen.client_cert_required = true;
            else if (s && strcmp(s, "optional") != 0)
                cfg_diag(l, v, kp, "must be \"optional\" or \"required\"");
            client_cert_node = v;
        } else if (strcmp(k, "min_version") == 0) {
            const char *s = cfg_str(l, v, kp);
            if (s && strcmp(s, "1.3") == 0)
                c->listen.tls_min = 13;
            else if (s && strcmp(s, "1.2") == 0)
                c->listen.tls_min = 12;
            else if (s)
                cfg_diag(l, v, kp, "must be \"1.3\" or \"1.2\"");
        } else {
            cfg_unknown(l, KEYNODE(l, p), kp);
        }
    }
    if (client_cert_node && !c->listen.client_ca)
        cfg_diag(l, client_cert_node, "listen.tls.client_cert", "needs listen.tls.client_ca");
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

bool sg_host_is_private(const char *host)
{
    struct in_addr a4;
    struct in6_addr a6;
    if (sg_host_is_loopback(host))
        return true;
    if (inet_pton(AF_INET, host, &a4) == 1) {
        uint32_t a = ntohl(a4.s_addr);
        return (a >> 24) == 10 || (a >> 20) == (172u << 4 | 1) || (a >> 16) == (192u << 8 | 168);
    }
    if (inet_pton(AF_INET6, host, &a6) == 1)
        return (a6.s6_addr[0] & 0xFE) == 0xFC; /* unique local fc00::/7 */
    return false;
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

static void load_listen(struct cfg_ld *l, yaml_node_t *n, const char *path)
{
    struct sg_config *c = l->cfg;
    if (!cfg_map_ok(l, n, path))
        return;
    yaml_node_t *addr_node = NULL, *tls_node = NULL, *plain_node = NULL;
    MAP_FOR(l, n, p)
    {
        char kp[256];
        const char *k = KEYSTR(l, p);
        yaml_node_t *v = cfg_node(l, p->value);
        cfg_join(kp, sizeof(kp), path, k);
        if (strcmp(k, "address") == 0) {
            addr_node = v;
            c->listen.address = cfg_str(l, v, kp);
        } else if (strcmp(k, "plaintext") == 0) {
            plain_node = v;
            cfg_boolean(l, v, kp, &c->listen.plaintext);
        } else if (strcmp(k, "tls") == 0) {
            tls_node = v;
            load_tls(l, v, kp);
        } else {
            cfg_unknown(l, KEYNODE(l, p), kp);
        }
    }
    if (!addr_node) {
        cfg_diag(l, n, "listen.address", "required");
        return;
    }
    char host[256];
    long port;
    if (c->listen.address && !split_hostport(c->listen.address, host, sizeof(host), &port)) {
        cfg_diag(l, addr_node, "listen.address", "expected host:port or [ipv6]:port");
        return;
    }
    if (c->listen.plaintext) {
        if (c->listen.address && !sg_host_is_loopback(host))
            cfg_diag(l, plain_node, "listen.plaintext",
                     "plaintext is only allowed on a loopback address (127.0.0.1, ::1)");
        if (tls_node)
            cfg_diag(l, tls_node, "listen.tls", "not allowed together with plaintext: true");
    } else if (!tls_node) {
        cfg_diag(l, n, "listen.tls", "required (or plaintext: true on a loopback address)");
    } else {
        if (!c->listen.cert && tls_node->type == YAML_MAPPING_NODE)
            cfg_diag(l, tls_node, "listen.tls.cert", "required");
        if (!c->listen.key && tls_node->type == YAML_MAPPING_NODE)
            cfg_diag(l, tls_node, "listen.tls.key", "required");
    }
}

static void load_client(struct cfg_ld *l, yaml_node_t *n, const char *path,
                        struct sg_config_client *cl)
{
    if (!cfg_map_ok(l, n, path))
        return;
    bool have_hash = false, hash_given = false;
    MAP_FOR(l, n, p)
    {
        char kp[256];
        const char *k = KEYSTR(l, p);
        yaml_node_t *v = cfg_node(l, p->value);
        cfg_join(kp, sizeof(kp), path, k);
        if (strcmp(k, "name") == 0) {
            cl->name = cfg_name_val(l, v, kp);
        } else if (strcmp(k, "key_hash") == 0) {
            hash_given = true;
            const char *s = cfg_str(l, v, kp);
            if (s && (strncmp(s, "sha256:", 7) != 0 ||
                      sg_hex_decode(s + 7, strlen(s + 7), cl->key_hash, SG_SHA256_LEN) != 0))
                cfg_diag(l, v, kp, "expected sha256:<64 hex digits> (see `sovgate keys hash`)");
            else if (s)
                have_hash = true;
        } else if (strcmp(k, "models") == 0) {
            if (v && v->type == YAML_SCALAR_NODE &&
                strcmp((char *)v->data.scalar.value, "*") == 0) {
                cl->all_models = true;
            } else {
                cl->models = cfg_str_list(l, v, kp, &cl->nmodels);
            }
        } else if (strcmp(k, "key") == 0) {
            cfg_diag(l, v, kp, "keys are never written in the config: use key_hash");
        } else {
            cfg_unknown(l, KEYNODE(l, p), kp);
        }
    }
    char kp[256];
    if (!cl->name) {
        cfg_join(kp, sizeof(kp), path, "name");
        cfg_diag(l, n, kp, "required");
    }
    if (!have_hash && !hash_given) {
        cfg_join(kp, sizeof(kp), path, "key_hash");
        cfg_diag(l, n, kp, "required");
    }
    if (!cl->models && !cl->all_models)
        cl->all_models = true;
}

static void load_backend(struct cfg_ld *l, yaml_node_t *n, const char *path,
                         struct sg_config_backend *b)
{
    if (!cfg_map_ok(l, n, path))
        return;
    yaml_node_t *url_node = NULL;
    bool engine_keys = false;
    b->health_path = NULL;
    b->connect_timeout_ms = 5000;
    b->engine.parallel = 4;
    bool sovereign_set = false;
    MAP_FOR(l, n, p)
    {
        char kp[256];
        const char *k = KEYSTR(l, p);
        yaml_node_t *v = cfg_node(l, p->value);
        cfg_join(kp, sizeof(kp), path, k);
        if (strcmp(k, "name") == 0) {
            b->name = cfg_name_val(l, v, kp);
        } else if (strcmp(k, "kind") == 0) {
            const char *s = cfg_str(l, v, kp);
            if (s && strcmp(s, "engine") == 0)
                b->kind = SG_BACKEND_ENGINE;
            else if (s && strcmp(s, "openai") != 0)
                cfg_diag(l, v, kp, "must be \"openai\" or \"engine\"");
        } else if (strcmp(k, "model") == 0) {
            engine_keys = true;
            if (v->type == YAML_SCALAR_NODE && cfg_model_ref_ok((const char *)v->data.scalar.value))
                b->engine.model_ref = cfg_str(l, v, kp); /* name@channel in the model store */
            else
                b->engine.model = cfg_file_val(l, v, kp);
        } else if (strcmp(k, "engine_binary") == 0) {
            engine_keys = true;
            b->engine.binary = cfg_file_val(l, v, kp);
        } else if (strcmp(k, "ctx") == 0) {
            long x = 0;
            engine_keys = true;
            cfg_integer(l, v, kp, 0, 1 << 20, &x);
            b->engine.ctx = (int)x;
        } else if (strcmp(k, "parallel") == 0) {
            long x = 4;
            engine_keys = true;
            cfg_integer(l, v, kp, 1, 256, &x);
            b->engine.parallel = (int)x;
        } else if (strcmp(k, "threads") == 0) {
            long x = 0;
            engine_keys = true;
            cfg_integer(l, v, kp, 0, 1024, &x);
            b->engine.threads = (int)x;
        } else if (strcmp(k, "gpu_layers") == 0) {
            long x = 0;
            engine_keys = true;
            cfg_integer(l, v, kp, -1, 100000, &x);
            b->engine.gpu_layers = (int)x;
        } else if (strcmp(k, "url") == 0) {
            url_node = v;
            b->url = cfg_str(l, v, kp);
            cfg_note(l, v, kp); /* resolved when the snapshot is built */
        } else if (strcmp(k, "credential") == 0) {
            const char *s = cfg_str(l, v, kp);
            if (s && !sg_secret_is_ref(s)) {
                cfg_diag(l, v, kp, "must be a reference env:NAME or file:PATH, never the secret");
            } else if (s) {
                struct sg_secret sec;
                struct sg_error err = {0};
                if (sg_secret_load(s, l->cfg->dir, &sec, &err) != 0)
                    cfg_diag(l, v, kp, "%s", err.msg);
                else if (sec.len == 0)
                    cfg_diag(l, v, kp, "the credential is empty");
                sg_secret_free(&sec);
                b->credential = s;
            }
        } else if (strcmp(k, "ca") == 0) {
            b->ca_file = cfg_file_val(l, v, kp);
        } else if (strcmp(k, "pin_sha256") == 0) {
            size_t np = 0;
            const char **pins = cfg_str_list(l, v, kp, &np);
            /* a repeated key (reported elsewhere) replaces the list: count from zero */
            b->npins = 0;
            b->pins = sg_arena_calloc(l->a, (np ? np : 1) * 32);
            for (size_t i = 0; b->pins && i < np; i++) {
                unsigned char raw[48];
                size_t pl = strlen(pins[i]);
                int got = pl == 44 ? EVP_DecodeBlock(raw, (const unsigned char *)pins[i], 44) : -1;
                if (got != 33 || pins[i][43] != '=') /* 32 bytes: 44 characters, one '=' */
                    cfg_diag(l, v, kp, "\"%.60s\" is not a base64 SHA-256 digest (44 characters)",
                             pins[i]);
                else
                    memcpy(b->pins[b->npins++], raw, 32);
            }
        } else if (strcmp(k, "health_path") == 0) {
            const char *s = cfg_str(l, v, kp);
            if (s && s[0] != '/')
                cfg_diag(l, v, kp, "must start with /");
            else if (s)
                b->health_path = s;
        } else if (strcmp(k, "connect_timeout") == 0) {
            cfg_duration(l, v, kp, 10, 600000, &b->connect_timeout_ms);
        } else if (strcmp(k, "sovereign") == 0) {
            sovereign_set = true;
            cfg_boolean(l, v, kp, &b->sovereign);
        } else if (strcmp(k, "jurisdiction") == 0) {
            b->jurisdiction = cfg_jurisdiction_val(l, v, kp);
        } else {
            cfg_unknown(l, KEYNODE(l, p), kp);
        }
    }
    char kp[256];
    if (!b->name) {
        cfg_join(kp, sizeof(kp), path, "name");
        cfg_diag(l, n, kp, "required");
    }
    if (b->kind == SG_BACKEND_ENGINE) {
        /* The gateway runs it: the address is its own (set once runtime_dir is known). */
        cfg_join(kp, sizeof(kp), path, "url");
        if (url_node)
            cfg_diag(l, url_node, kp, "not allowed for kind: engine (the gateway runs it)");
        if (!b->engine.model && !b->engine.model_ref) {
            cfg_join(kp, sizeof(kp), path, "model");
            cfg_diag(l, n, kp, "required for kind: engine");
        }
        if (!b->health_path)
            b->health_path = "/health";
        b->base_url = "http://localhost";
        if (!sovereign_set)
            b->sovereign = true;
        else if (!b->sovereign)
            cfg_diag(l, n, path, "an engine backend runs on this machine: it is sovereign");
        return;
    }
    if (!b->health_path)
        b->health_path = "/v1/models";
    if (engine_keys)
        cfg_diag(l, n, path,
                 "model, engine_binary, ctx, parallel, threads and gpu_layers need "
                 "kind: engine");
    cfg_join(kp, sizeof(kp), path, "url");
    if (!url_node) {
        cfg_diag(l, n, kp, "required");
        return;
    }
    if (!b->url)
        return;
    const char *u = b->url;
    if (strncmp(u, "unix:", 5) == 0) {
        if (u[5] != '/') {
            cfg_diag(l, url_node, kp, "unix socket path must be absolute (unix:/path)");
            return;
        }
        b->unix_path = u + 5;
        b->base_url = "http://localhost";
        if (!sovereign_set)
            b->sovereign = true; /* a socket on this machine */
        return;
    }
    size_t skip = strncmp(u, "http://", 7) == 0 ? 7 : strncmp(u, "https://", 8) == 0 ? 8 : 0;
    if (!skip) {
        cfg_diag(l, url_node, kp, "must start with http://, https:// or unix:/");
        return;
    }
    const char *host = u + skip;
    if (!*host || *host == '/' || *host == ':') {
        cfg_diag(l, url_node, kp, "missing host");
        return;
    }
    for (const char *q = u; *q; q++) {
        if ((unsigned char)*q <= 0x20 || *q == '@' || *q == '?' || *q == '#' || *q == 0x7f) {
            cfg_diag(l, url_node, kp,
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
    /* the host, for the egress allow-list and the sovereign default */
    const char *he = *host == '[' ? strchr(host, ']') : host + strcspn(host, ":/");
    if (*host == '[' && he)
        b->host = sg_arena_strndup(l->a, host + 1, (size_t)(he - host - 1));
    else if (*host != '[')
        b->host = sg_arena_strndup(l->a, host, (size_t)(he - host));
    if (!sovereign_set && b->host)
        b->sovereign = sg_host_is_private(b->host);
}

static void load_target(struct cfg_ld *l, yaml_node_t *n, const char *path,
                        struct sg_config_target *t)
{
    if (n && n->type == YAML_SCALAR_NODE) {
        t->backend = cfg_name_val(l, n, path);
        return;
    }
    if (!cfg_map_ok(l, n, path))
        return;
    MAP_FOR(l, n, p)
    {
        char kp[256];
        const char *k = KEYSTR(l, p);
        yaml_node_t *v = cfg_node(l, p->value);
        cfg_join(kp, sizeof(kp), path, k);
        if (strcmp(k, "name") == 0 || strcmp(k, "backend") == 0)
            t->backend = cfg_name_val(l, v, kp);
        else if (strcmp(k, "model") == 0)
            t->model = cfg_str(l, v, kp);
        else
            cfg_unknown(l, KEYNODE(l, p), kp);
    }
    if (!t->backend) {
        char kp[256];
        cfg_join(kp, sizeof(kp), path, "name");
        cfg_diag(l, n, kp, "required");
    }
}

static void load_route(struct cfg_ld *l, yaml_node_t *n, const char *path,
                       struct sg_config_route *r)
{
    if (!cfg_map_ok(l, n, path))
        return;
    bool have_backends = false;
    MAP_FOR(l, n, p)
    {
        char kp[256];
        const char *k = KEYSTR(l, p);
        yaml_node_t *v = cfg_node(l, p->value);
        cfg_join(kp, sizeof(kp), path, k);
        if (strcmp(k, "model") == 0) {
            r->model = cfg_name_val(l, v, kp);
        } else if (strcmp(k, "aliases") == 0) {
            r->aliases = cfg_str_list(l, v, kp, &r->naliases);
            for (size_t i = 0; i < r->naliases; i++)
                if (!sg_config_name_ok(r->aliases[i]))
                    cfg_diag(l, v, kp,
                             "alias \"%.64s\" must be 1-128 characters of letters, "
                             "digits and . _ - : / @ +",
                             r->aliases[i]);
        } else if (strcmp(k, "backends") == 0) {
            have_backends = true;
            if (!cfg_seq_ok(l, v, kp))
                continue;
            size_t len = cfg_seq_len(v);
            if (len == 0) {
                cfg_diag(l, v, kp, "at least one backend is required");
                continue;
            }
            r->targets = sg_arena_calloc(l->a, len * sizeof(*r->targets));
            if (!r->targets)
                continue;
            r->ntargets = len;
            for (size_t i = 0; i < len; i++) {
                char ip[256];
                cfg_join_idx(ip, sizeof(ip), kp, i);
                load_target(l, cfg_node(l, v->data.sequence.items.start[i]), ip, &r->targets[i]);
            }
        } else {
            cfg_unknown(l, KEYNODE(l, p), kp);
        }
    }
    char kp[256];
    if (!r->model) {
        cfg_join(kp, sizeof(kp), path, "model");
        cfg_diag(l, n, kp, "required");
    }
    if (!have_backends) {
        cfg_join(kp, sizeof(kp), path, "backends");
        cfg_diag(l, n, kp, "required");
    }
}

/* Loads a list section into an arena array of `size`-byte items with positions. */

static void client_item(struct cfg_ld *l, yaml_node_t *n, const char *p, void *o)
{
    load_client(l, n, p, o);
}
static void backend_item(struct cfg_ld *l, yaml_node_t *n, const char *p, void *o)
{
    load_backend(l, n, p, o);
}
static void route_item(struct cfg_ld *l, yaml_node_t *n, const char *p, void *o)
{
    load_route(l, n, p, o);
}

static void load_limits(struct cfg_ld *l, yaml_node_t *n, const char *path)
{
    struct sg_config *c = l->cfg;
    if (!cfg_map_ok(l, n, path))
        return;
    MAP_FOR(l, n, p)
    {
        char kp[256];
        const char *k = KEYSTR(l, p);
        yaml_node_t *v = cfg_node(l, p->value);
        cfg_join(kp, sizeof(kp), path, k);
        if (strcmp(k, "max_body") == 0) {
            cfg_size_val(l, v, kp, 1024, (size_t)1 << 30, &c->limits.max_body);
        } else if (strcmp(k, "max_header") == 0) {
            cfg_size_val(l, v, kp, 1024, (size_t)1 << 20, &c->limits.max_header);
        } else if (strcmp(k, "max_response") == 0) {
            cfg_size_val(l, v, kp, 1024, (size_t)1 << 30, &c->limits.max_response);
        } else if (strcmp(k, "max_connections") == 0) {
            long x = 0;
            cfg_integer(l, v, kp, 1, 1000000, &x);
            if (x)
                c->limits.max_connections = (size_t)x;
        } else {
            cfg_unknown(l, KEYNODE(l, p), kp);
        }
    }
}

static void load_timeouts(struct cfg_ld *l, yaml_node_t *n, const char *path)
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
    if (!cfg_map_ok(l, n, path))
        return;
    MAP_FOR(l, n, p)
    {
        char kp[256];
        const char *k = KEYSTR(l, p);
        yaml_node_t *v = cfg_node(l, p->value);
        cfg_join(kp, sizeof(kp), path, k);
        size_t i = 0;
        for (; i < sizeof(keys) / sizeof(keys[0]); i++)
            if (strcmp(k, keys[i].key) == 0)
                break;
        if (i == sizeof(keys) / sizeof(keys[0])) {
            cfg_unknown(l, KEYNODE(l, p), kp);
            continue;
        }
        cfg_duration(l, v, kp, 10, 24u * 3600 * 1000, (uint32_t *)((char *)c + keys[i].off));
    }
}

static void load_health(struct cfg_ld *l, yaml_node_t *n, const char *path)
{
    struct sg_config *c = l->cfg;
    if (!cfg_map_ok(l, n, path))
        return;
    MAP_FOR(l, n, p)
    {
        char kp[256];
        const char *k = KEYSTR(l, p);
        yaml_node_t *v = cfg_node(l, p->value);
        cfg_join(kp, sizeof(kp), path, k);
        if (strcmp(k, "interval") == 0)
            cfg_duration(l, v, kp, 100, 3600000, &c->health.interval_ms);
        else if (strcmp(k, "timeout") == 0)
            cfg_duration(l, v, kp, 10, 600000, &c->health.timeout_ms);
        else if (strcmp(k, "max_backoff") == 0)
            cfg_duration(l, v, kp, 100, 3600000, &c->health.max_backoff_ms);
        else
            cfg_unknown(l, KEYNODE(l, p), kp);
    }
}

static void load_log(struct cfg_ld *l, yaml_node_t *n, const char *path)
{
    if (!cfg_map_ok(l, n, path))
        return;
    MAP_FOR(l, n, p)
    {
        char kp[256];
        const char *k = KEYSTR(l, p);
        yaml_node_t *v = cfg_node(l, p->value);
        cfg_join(kp, sizeof(kp), path, k);
        if (strcmp(k, "level") == 0) {
            const char *s = cfg_str(l, v, kp);
            enum sg_log_level lvl;
            if (s && sg_log_parse_level(s, &lvl) != 0)
                cfg_diag(l, v, kp, "must be debug, info, warn or error");
            else if (s)
                l->cfg->log_level = (int)lvl;
        } else {
            cfg_unknown(l, KEYNODE(l, p), kp);
        }
    }
}

/* ---- cross-references ---- */

static void check_refs(struct cfg_ld *l)
{
    struct sg_config *c = l->cfg;
    for (size_t i = 0; i < c->nbackends; i++) {
        for (size_t j = 0; j < i; j++) {
            if (c->backends[i].name && c->backends[j].name &&
                strcmp(c->backends[i].name, c->backends[j].name) == 0) {
                char kp[64];
                snprintf(kp, sizeof(kp), "backends[%zu].name", i);
                cfg_diag_at(l, l->backend_marks[i], kp, "duplicate backend name \"%s\"",
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
                        cfg_diag_at(l, l->route_marks[i], kp,
                                    "model name \"%s\" is already used by routes[%zu]", name, j);
                }
            }
        }
        for (size_t t = 0; t < r->ntargets; t++) {
            if (r->targets[t].backend && !sg_config_find_backend(c, r->targets[t].backend)) {
                char tp[64];
                snprintf(tp, sizeof(tp), "routes[%zu].backends[%zu]", i, t);
                cfg_diag_at(l, l->route_marks[i], tp, "unknown backend \"%s\"",
                            r->targets[t].backend);
            }
        }
    }
    for (size_t i = 0; i < c->nclients; i++) {
        struct sg_config_client *cl = &c->clients[i];
        char kp[64];
        snprintf(kp, sizeof(kp), "clients[%zu]", i);
        for (size_t m = 0; m < cl->nmodels; m++) {
            if (!sg_config_find_route(c, cl->models[m]))
                cfg_diag_at(l, l->client_marks[i], kp, "unknown model \"%s\" in models",
                            cl->models[m]);
        }
        for (size_t j = 0; j < i; j++) {
            if (cl->name && c->clients[j].name && strcmp(cl->name, c->clients[j].name) == 0)
                cfg_diag_at(l, l->client_marks[i], kp, "duplicate client name \"%s\"", cl->name);
            if (sg_ct_equal(cl->key_hash, c->clients[j].key_hash, SG_SHA256_LEN))
                cfg_diag_at(l, l->client_marks[i], kp, "same key_hash as clients[%zu]", j);
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
    c->models.switch_timeout_ms = 180000;
    c->log_level = SG_LOG_INFO;
    c->redaction.enabled = true;
    c->guard.global_rpm = c->guard.global_concurrent = -1;
    c->redaction.max_findings = 10000;
    c->responses.ttl_ms = 3600u * 1000;
}

static void load_root(struct cfg_ld *l, yaml_node_t *root)
{
    struct sg_config *c = l->cfg;
    if (!root) {
        cfg_diag_at(l, (struct cfg_mark){1, 1}, "", "the configuration is empty");
        return;
    }
    if (!cfg_map_ok(l, root, ""))
        return;
    bool have_listen = false, have_backends = false, have_routes = false;
    MAP_FOR(l, root, p)
    {
        const char *k = KEYSTR(l, p);
        yaml_node_t *v = cfg_node(l, p->value);
        cfg_note(l, v, k); /* for problems of a section found after loading */
        if (strcmp(k, "listen") == 0) {
            have_listen = true;
            load_listen(l, v, "listen");
        } else if (strcmp(k, "workers") == 0) {
            long w = 0;
            cfg_integer(l, v, "workers", 0, 256, &w);
            c->workers = (int)w;
        } else if (strcmp(k, "user") == 0) {
            c->user = cfg_name_val(l, v, "user");
            if (c->user && !getpwnam(c->user)) {
                cfg_diag(l, v, "user", "no such user \"%s\"", c->user);
                c->user = NULL;
            }
        } else if (strcmp(k, "runtime_dir") == 0) {
            const char *s = cfg_path_val(l, v, "runtime_dir");
            if (s)
                c->runtime_dir = s;
        } else if (strcmp(k, "keys_db") == 0) {
            const char *s = cfg_path_val(l, v, "keys_db");
            if (s)
                c->keys_db = s;
        } else if (strcmp(k, "clients") == 0) {
            c->clients = cfg_load_list(l, v, "clients", sizeof(*c->clients), &c->nclients,
                                       &l->client_marks, client_item);
        } else if (strcmp(k, "backends") == 0) {
            have_backends = true;
            c->backends = cfg_load_list(l, v, "backends", sizeof(*c->backends), &c->nbackends,
                                        &l->backend_marks, backend_item);
        } else if (strcmp(k, "routes") == 0) {
            have_routes = true;
            c->routes = cfg_load_list(l, v, "routes", sizeof(*c->routes), &c->nroutes,
                                      &l->route_marks, route_item);
        } else if (strcmp(k, "limits") == 0) {
            load_limits(l, v, "limits");
        } else if (strcmp(k, "timeouts") == 0) {
            load_timeouts(l, v, "timeouts");
        } else if (strcmp(k, "health") == 0) {
            load_health(l, v, "health");
        } else if (strcmp(k, "log") == 0) {
            load_log(l, v, "log");
        } else if (strcmp(k, "redaction") == 0) {
            cfg_load_redaction(l, v, "redaction");
        } else if (strcmp(k, "policy") == 0) {
            cfg_load_policy(l, v, "policy");
        } else if (strcmp(k, "egress") == 0) {
            cfg_load_egress(l, v, "egress");
        } else if (strcmp(k, "guard") == 0) {
            cfg_load_guard(l, v, "guard");
        } else if (strcmp(k, "audit") == 0) {
            cfg_load_audit(l, v, "audit");
        } else if (strcmp(k, "models") == 0) {
            cfg_load_models(l, v, "models");
        } else if (strcmp(k, "responses") == 0) {
            cfg_load_responses(l, v, "responses");
        } else {
            cfg_unknown(l, KEYNODE(l, p), k);
        }
        if (l->visits > SG_CONFIG_MAX_VISITS) {
            cfg_diag(l, v, k, "the configuration is too complex (aliases expanding too far?)");
            return;
        }
    }
    if (!have_listen)
        cfg_diag(l, root, "listen", "required");
    if (!have_backends)
        cfg_diag(l, root, "backends", "required");
    if (!have_routes)
        cfg_diag(l, root, "routes", "required");
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
            cfg_diag_at(l, l->backend_marks[i], "runtime_dir",
                        "too long for the Unix socket path of engine %s", b->name);
    }
    if (l->nerr == 0)
        check_refs(l);
    if (l->nerr == 0)
        cfg_check_models(l);
    if (l->nerr == 0)
        cfg_check_policy(l);
    if (c->workers <= 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        c->workers = n > 0 ? (int)(n > 256 ? 256 : n) : 1;
    }
}

/* Reports the parser's error with its position. A reader error (bytes that are not UTF-8)
 * has only a byte offset: its line and column are counted from the text. */
static void syntax_error(struct cfg_ld *l, const yaml_parser_t *parser, const char *yaml,
                         size_t len)
{
    struct cfg_mark m = {parser->problem_mark.line + 1, parser->problem_mark.column + 1};
    if (parser->error == YAML_READER_ERROR) {
        m.line = m.col = 1;
        for (size_t i = 0; i < parser->problem_offset && i < len; i++) {
            unsigned char c = (unsigned char)yaml[i];
            if (c == '\n' || (c == '\r' && (i + 1 >= len || yaml[i + 1] != '\n'))) {
                m.line++;
                m.col = 1;
            } else if ((c & 0xC0) != 0x80 && c != '\r') { /* characters, as libyaml counts */
                m.col++;
            }
        }
    }
    cfg_diag_at(l, m, "", "YAML syntax error: %s%s%s", parser->problem ? parser->problem : "?",
                parser->context ? " " : "", parser->context ? parser->context : "");
}

int sg_config_load_string(const char *yaml, size_t len, const char *name, const char *dir,
                          struct sg_config **out, struct sg_config_diags *diags)
{
    *out = NULL;
    struct cfg_ld l = {0};
    l.file = name;
    l.diags = diags;
    struct sg_arena *a = sg_arena_new(64u << 20);
    struct sg_config *c = a ? sg_arena_calloc(a, sizeof(*c)) : NULL;
    if (!c) {
        sg_arena_free(a);
        cfg_diag_at(&l, (struct cfg_mark){1, 1}, "", "out of memory");
        return SG_ENOMEM;
    }
    c->arena = a;
    c->path = sg_arena_strdup(a, name);
    c->dir = sg_arena_strdup(a, dir ? dir : ".");
    set_defaults(c);
    l.cfg = c;
    l.a = a;
    if (len > SG_CONFIG_MAX_BYTES) {
        cfg_diag_at(&l, (struct cfg_mark){1, 1}, "", "the configuration is larger than 1 MiB");
        sg_config_free(c);
        return SG_EINVAL;
    }
    yaml_parser_t parser;
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_string(&parser, (const unsigned char *)yaml, len);
    if (!yaml_parser_load(&parser, &l.doc)) {
        syntax_error(&l, &parser, yaml, len);
        yaml_parser_delete(&parser);
        sg_config_free(c);
        return SG_EINVAL;
    }
    load_root(&l, yaml_document_get_root_node(&l.doc));
    /* A second document in the same file is a mistake worth reporting. */
    yaml_document_t extra;
    if (yaml_parser_load(&parser, &extra)) {
        if (yaml_document_get_root_node(&extra))
            cfg_diag_at(&l, cfg_mark_of(yaml_document_get_root_node(&extra)), "",
                        "only one YAML document is allowed");
        yaml_document_delete(&extra);
    } else {
        syntax_error(&l, &parser, yaml, len); /* after the first document: not ignored */
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
        struct cfg_ld l = {0};
        l.file = path;
        l.diags = diags;
        cfg_diag_at(&l, (struct cfg_mark){0, 0}, "", "%s", err.msg);
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
