/* The gateway configuration: one YAML file parsed into an immutable, validated struct.
 * Loading parses everything and validates everything before anything is applied; every
 * problem is reported as "FILE:LINE:COLUMN: KEY: reason" (unknown keys are errors too).
 * A loaded config owns all its strings (one arena); it is shared read-only between
 * threads and freed with sg_config_free(). Secrets named in it (backend credentials) are
 * only checked to exist here, and loaded by the modules that use them. */
#ifndef SG_CONFIG_CONFIG_H
#define SG_CONFIG_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/crypto.h"
#include "core/error.h"

struct sg_arena;

struct sg_config_client {
    const char *name;
    uint8_t key_hash[SG_SHA256_LEN];
    const char **models; /* public model (route) names; NULL with all_models */
    size_t nmodels;
    bool all_models;
};

enum sg_backend_kind {
    SG_BACKEND_OPENAI = 0, /* a server somewhere, at `url` */
    SG_BACKEND_ENGINE,     /* a sovgate-engine the gateway starts and supervises */
};

/* How the gateway runs an engine backend. */
struct sg_config_engine {
    const char *model;     /* GGUF file, absolute; NULL with model_ref */
    const char *model_ref; /* "name@channel" in the model store (models.store), or NULL */
    const char *binary;    /* sovgate-engine, absolute (default: next to the sovgate binary) */
    int ctx, parallel, threads, gpu_layers;
};

struct sg_config_backend {
    const char *name;
    enum sg_backend_kind kind;
    const char *url;        /* as written: http(s)://host[:port][/prefix] or unix:/path */
    const char *base_url;   /* what requests are made to: "http://localhost" for unix */
    const char *unix_path;  /* NULL unless a unix: url */
    const char *credential; /* env:NAME or file:PATH, or NULL */
    const char *ca_file;    /* CA bundle for https upstreams, or NULL for the system's */
    uint8_t (*pins)[32];    /* pin_sha256: SPKI SHA-256 digests the TLS key must match */
    size_t npins;
    const char *health_path;
    uint32_t connect_timeout_ms;
    struct sg_config_engine engine; /* kind == SG_BACKEND_ENGINE only */
    /* Where the data goes (policy): sovereign backends are the shop's own (default: engines,
     * Unix sockets, loopback and private addresses); others are external. */
    bool sovereign;
    const char *jurisdiction; /* ISO 3166-1 alpha-2 code or a region (EU, EEA), upper case;
                                 NULL when not declared */
    const char *host;         /* the URL's host (NULL for engines and Unix sockets) */
};

struct sg_config_target {
    const char *backend; /* a backend name */
    const char *model;   /* the model name the backend knows, or NULL for the route's */
};

struct sg_config_route {
    const char *model; /* public name */
    const char **aliases;
    size_t naliases;
    struct sg_config_target *targets; /* in failover order */
    size_t ntargets;
};

/* A custom detector (redaction.detectors[]). */
struct sg_config_detector {
    const char *name; /* its type name: A-Z, 0-9, _, at most 24 */
    const char *regex;
    const char **terms;
    size_t nterms;
    bool case_sensitive;
    const char *action; /* or NULL for the default (pseudonymize) */
};

/* A data class of the policy (policy.classes[]), most sensitive first. */
struct sg_config_class {
    const char *name;
    const char **types; /* entity types (built-in or custom detector names) */
    size_t ntypes;
    const char *sovereign; /* action towards sovereign backends */
    const char *external;  /* action towards external backends */
};

/* policy.transfers[]: classes that may go to external backends in these jurisdictions. */
struct sg_config_transfer {
    const char *id;
    const char **to; /* jurisdictions: country codes, EU, EEA or "*" */
    size_t nto;
    const char **classes;
    size_t nclasses;
};

/* policy.clients[]: what one client (by name) may send. */
struct sg_config_client_rule {
    const char *client;
    const char **classes; /* the classes it may send; NULL = any */
    size_t nclasses;
    const char *on_violation; /* block (default), mask or pseudonymize */
};

/* What the gateway does with a request the prompt-injection detector flags
 * (guard.injection.action, and per client guard.clients[].injection). */
enum sg_inj_action {
    SG_INJ_ACTION_OFF = 0, /* not scanned (per client only) */
    SG_INJ_ACTION_LOG,     /* a log line, the audit record and the metric */
    SG_INJ_ACTION_FLAG,    /* that, and the x-sovgate-injection response header */
    SG_INJ_ACTION_BLOCK,   /* that, and the request is refused (400 prompt_injection) */
};

/* guard.clients[]: limits of one client (by name; "*" for every client without its own
 * entry). Fields not given (-1) are taken from the "*" entry, else unlimited. */
struct sg_config_client_limits {
    const char *client;
    int64_t rpm, tpm, concurrent; /* requests and tokens per minute, requests at once */
    int64_t distinct_personal;    /* distinct personal values per window */
    int64_t window_ms;            /* of distinct_personal (default 1 h) */
    int64_t max_prompt;           /* bytes of text in one request */
    int injection;                /* enum sg_inj_action; -1: guard.injection.action */
};

/* A "TYPE: value" pair of redaction.actions or redaction.fields. */
struct sg_config_pair {
    const char *key;
    const char *value; /* fields: NULL for "none" */
};

struct sg_config {
    const char *path; /* the file, for messages */
    const char *dir;  /* relative paths in the config are resolved against this */
    struct {
        const char *address;
        bool plaintext;
        const char *cert; /* file paths (file: prefix stripped), absolute */
        const char *key;
        int tls_min;               /* 12 or 13 */
        const char *client_ca;     /* CA bundle of client certificates (mutual TLS), or NULL */
        bool client_cert_required; /* refuse handshakes without a client certificate */
    } listen;
    int workers;      /* resolved: >= 1 */
    const char *user; /* drop to this user after binding (when started as root), or NULL */
    const char *keys_db;
    const char *runtime_dir; /* engine sockets live here */
    struct sg_config_client *clients;
    size_t nclients;
    struct sg_config_backend *backends;
    size_t nbackends;
    struct sg_config_route *routes;
    size_t nroutes;
    struct {
        size_t max_body, max_header, max_response, max_connections;
    } limits;
    struct {
        uint32_t header_ms, body_ms, idle_ms, write_ms, request_ms;
        uint32_t upstream_stall_ms, drain_ms;
    } timeouts;
    struct {
        uint32_t interval_ms, timeout_ms, max_backoff_ms;
    } health;
    struct {
        bool enabled;
        const char *key; /* env:NAME or file:PATH, or NULL (a random key per start) */
        struct sg_config_pair *actions; /* type -> allow|mask|pseudonymize|hash|block */
        size_t nactions;
        struct sg_config_pair *fields; /* field name -> type (NULL: none) */
        size_t nfields;
        struct sg_config_detector *detectors;
        size_t ndetectors;
        const char **output_scan; /* types masked in answers; default CARD SECRET NATIONAL_ID */
        size_t noutput_scan;
        bool output_scan_set;
        size_t max_findings; /* per request */
    } redaction;
    struct {
        struct sg_config_class *classes; /* NULL: the default shop classes */
        size_t nclasses;
        struct sg_config_transfer *transfers;
        size_t ntransfers;
        struct sg_config_client_rule *clients;
        size_t nclients;
    } policy;
    struct {
        const char *path;        /* SQLite file, absolute; NULL: no audit trail */
        const char *signing_key; /* env:/file: reference of the Ed25519 key, or NULL */
        const char *postgres;    /* env:/file: reference of a libpq connection string */
        uint32_t checkpoint_every, checkpoint_interval_ms;
        bool digests; /* records carry keyed digests of the values found */
    } audit;
    struct {
        const char *store; /* OpenAI Responses state: SQLite file, absolute; NULL: in memory */
        const char *key;   /* env:/file: reference of the encryption key; required with store */
        uint32_t ttl_ms;   /* how long a stored response lives; default one hour */
    } responses;
    struct {
        const char *store;          /* model store directory, absolute, or NULL */
        const char *signing_key;    /* env:/file: reference of the Ed25519 key, or NULL */
        const char *public_key;     /* env:/file: reference of its public key, or NULL */
        const char *encryption_key; /* env:/file: reference of the AES-256 key, or NULL */
        const char *audit;          /* the store's audit trail, absolute; NULL: default */
        const char *state;          /* the gateway's record of accepted channel sequence numbers
                                     * (route/chanseen.h), absolute; NULL: kept in memory only */
        uint32_t switch_timeout_ms; /* a new model version's engine must be healthy by then;
                                     * default 180 s */
    } models;
    struct {
        struct sg_config_client_limits *clients;
        size_t nclients;
        int64_t global_rpm, global_concurrent; /* -1: unlimited */
        struct {
            bool enabled;    /* default false: nothing is scanned */
            int threshold;   /* 1..100; 0: the detector's default (50) */
            int action;      /* enum sg_inj_action; default SG_INJ_ACTION_LOG */
            uint32_t ignore; /* SG_INJ_BIT mask (guard/injection.h) of ignored signals */
        } injection;
    } guard;
    struct {
        const char **allow; /* hosts, ".suffix"es and IP addresses backends may be at */
        size_t nallow;
        bool set;
    } egress;
    int log_level; /* enum sg_log_level */
    /* Positions of the keys whose values are only checked after loading (certificates,
     * custom detectors' patterns, backend addresses): see sg_config_diag_add. */
    struct sg_config_where *where;
    struct sg_arena *arena;
};

struct sg_config_where {
    const char *key; /* "listen.tls.cert", "backends[2].url", ... */
    size_t line, col;
    struct sg_config_where *next;
};

/* One problem found while loading. */
struct sg_config_diag {
    char msg[384]; /* "FILE:LINE:COLUMN: KEY: reason" */
};

struct sg_config_diags {
    struct sg_config_diag *v; /* owned; free with sg_config_diags_free() */
    size_t n, cap;
};

/* Loads and validates the YAML file at `path`. On success returns 0 and a new config in
 * `*out` (caller owns it). On failure returns SG_EINVAL (or SG_EIO when the file cannot
 * be read) and appends every problem found to `diags` (caller frees). */
int sg_config_load_file(const char *path, struct sg_config **out, struct sg_config_diags *diags);
/* Same, from YAML text in memory; `name` is used in messages, `dir` resolves relative
 * paths. */
int sg_config_load_string(const char *yaml, size_t len, const char *name, const char *dir,
                          struct sg_config **out, struct sg_config_diags *diags);
void sg_config_free(struct sg_config *cfg);

/* The rule for every name in the configuration (backends, routes, clients, ...) and for
 * the client names `sovgate keys create` stores: 1-128 bytes of letters, digits and
 * . _ - : / @ + (names show in logs, metrics labels and audit records). */
bool sg_config_name_ok(const char *s);
void sg_config_diags_free(struct sg_config_diags *d);
/* Appends a problem found after loading (the daemon's start, check-config: a certificate
 * that does not parse, a pattern the matcher refuses, a host that does not resolve) in
 * the loader's form "FILE:LINE:COLUMN: KEY: reason", with the position the key had in the
 * file; "FILE: KEY: reason" for a key whose position was not kept. */
void sg_config_diag_add(struct sg_config_diags *d, const struct sg_config *c, const char *key,
                        const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Looks up a route by public name or alias; NULL when unknown. */
const struct sg_config_route *sg_config_find_route(const struct sg_config *cfg, const char *model);
/* Looks up a backend by name; NULL when unknown. */
const struct sg_config_backend *sg_config_find_backend(const struct sg_config *cfg,
                                                       const char *name);
/* The effective limits of `client` (guard.clients: its own entry completed from "*";
 * -1 where unlimited; window_ms defaults to one hour). */
void sg_config_client_limits(const struct sg_config *c, const char *client,
                             struct sg_config_client_limits *out);
/* Parses sizes like "4MiB", "512 KiB", "1GB", "1024" (bytes). Returns 0 or SG_EINVAL. */
int sg_parse_size(const char *s, size_t *out);
/* Parses durations like "500ms", "10s", "2m", "1h" into milliseconds. */
int sg_parse_duration_ms(const char *s, uint32_t *out);
/* True when `host` (an IP literal or "localhost") is a loopback address. */
bool sg_host_is_loopback(const char *host);
/* True for loopback and private addresses (10/8, 172.16/12, 192.168/16, fc00::/7). */
bool sg_host_is_private(const char *host);
/* Whether a backend in jurisdiction `j` is covered by `to` (a country code, "EU", "EEA"
 * or "*"): EU covers the 27 member states, EEA those and IS, LI, NO. EL and UK are taken
 * as GR and GB. */
bool sg_jurisdiction_covers(const char *to, const char *j);

#endif
