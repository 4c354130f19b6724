/* The `policy` and `egress` sections of the configuration (see docs/policy.md), backend
 * jurisdictions, and their cross-checks. Entity type names are checked for shape here and
 * against the detector when the policy is compiled (src/policy/policy.c). */
#include "config/config_int.h"
#include "core/arena.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static const char *const eu[] = {"AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR",
                                 "DE", "GR", "HU", "IE", "IT", "LV", "LT", "LU", "MT", "NL",
                                 "PL", "PT", "RO", "SK", "SI", "ES", "SE", NULL};
static const char *const eea_extra[] = {"IS", "LI", "NO", NULL};

static bool in_list(const char *const *list, const char *s)
{
    for (; *list; list++)
        if (strcmp(*list, s) == 0)
            return true;
    return false;
}

/* Two codes in common use are not ISO 3166-1 alpha-2 but name the same jurisdictions: EL
 * (the EU's code for Greece) is GR and UK is GB. Compared as their ISO codes. */
static const char *jurisdiction_canon(const char *s)
{
    if (strcmp(s, "EL") == 0)
        return "GR";
    if (strcmp(s, "UK") == 0)
        return "GB";
    return s;
}

bool sg_jurisdiction_covers(const char *to, const char *j)
{
    if (!to || !j)
        return false;
    to = jurisdiction_canon(to);
    j = jurisdiction_canon(j);
    if (strcmp(to, "*") == 0 || strcmp(to, j) == 0)
        return true;
    if (strcmp(to, "EU") == 0)
        return in_list(eu, j);
    if (strcmp(to, "EEA") == 0)
        return in_list(eu, j) || in_list(eea_extra, j) || strcmp(j, "EU") == 0;
    return false;
}

/* A jurisdiction: two upper-case letters (ISO 3166-1 alpha-2) or EU/EEA. */
const char *cfg_jurisdiction_val(struct cfg_ld *l, yaml_node_t *n, const char *path)
{
    const char *s = cfg_str(l, n, path);
    if (!s)
        return NULL;
    if ((strlen(s) == 2 && isupper((unsigned char)s[0]) && isupper((unsigned char)s[1])) ||
        strcmp(s, "EU") == 0 || strcmp(s, "EEA") == 0)
        return s;
    cfg_diag(l, n, path, "must be an ISO 3166 country code (DE, FR, US ...), EU or EEA");
    return NULL;
}

static bool action_ok(const char *s)
{
    static const char *const a[] = {"allow", "mask", "pseudonymize", "hash", "block", NULL};
    return s && in_list(a, s);
}

static bool class_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 48 || !islower((unsigned char)s[0]))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!islower((unsigned char)s[i]) && !isdigit((unsigned char)s[i]) && s[i] != '_')
            return false;
    return true;
}

static const char *action_of(struct cfg_ld *l, yaml_node_t *n, const char *path)
{
    const char *s = cfg_str(l, n, path);
    if (s && !action_ok(s)) {
        cfg_diag(l, n, path, "must be allow, mask, pseudonymize, hash or block");
        return NULL;
    }
    return s;
}

static void load_class(struct cfg_ld *l, yaml_node_t *n, const char *path, void *out)
{
    struct sg_config_class *c = out;
    if (!cfg_map_ok(l, n, path))
        return;
    MAP_FOR(l, n, p)
    {
        char kp[256];
        const char *k = KEYSTR(l, p);
        yaml_node_t *v = cfg_node(l, p->value);
        cfg_join(kp, sizeof(kp), path, k);
        if (strcmp(k, "name") == 0) {
            c->name = cfg_str(l, v, kp);
            if (c->name && !class_name_ok(c->name)) {
                cfg_diag(l, v, kp, "a class name is 1 to 48 of a-z, 0-9 and _");
                c->name = NULL;
            }
        } else if (strcmp(k, "types") == 0) {
            c->types = cfg_str_list(l, v, kp, &c->ntypes);
        } else if (strcmp(k, "sovereign") == 0) {
            c->sovereign = action_of(l, v, kp);
        } else if (strcmp(k, "external") == 0) {
            c->external = action_of(l, v, kp);
        } else {
            cfg_unknown(l, KEYNODE(l, p), kp);
        }
    }
    char kp[256];
    cfg_join(kp, sizeof(kp), path, "name");
    if (!c->name)
        cfg_diag(l, n, kp, "required");
    if (!c->sovereign)
        c->sovereign = "allow";
    if (!c->external)
        c->external = c->sovereign;
}

static void load_transfer(struct cfg_ld *l, yaml_node_t *n, const char *path, void *out)
{
    struct sg_config_transfer *t = out;
    if (!cfg_map_ok(l, n, path))
        return;
    MAP_FOR(l, n, p)
    {
        char kp[256];
        const char *k = KEYSTR(l, p);
        yaml_node_t *v = cfg_node(l, p->value);
        cfg_join(kp, sizeof(kp), path, k);
        if (strcmp(k, "id") == 0) {
            t->id = cfg_name_val(l, v, kp);
        } else if (strcmp(k, "to") == 0) {
            t->to = cfg_str_list(l, v, kp, &t->nto);
            for (size_t i = 0; i < t->nto; i++) {
                const char *j = t->to[i];
                if (strcmp(j, "*") != 0 && strcmp(j, "EU") != 0 && strcmp(j, "EEA") != 0 &&
                    !(strlen(j) == 2 && isupper((unsigned char)j[0]) &&
                      isupper((unsigned char)j[1])))
                    cfg_diag(l, v, kp, "\"%s\" is not a country code, EU, EEA or *", j);
            }
        } else if (strcmp(k, "classes") == 0) {
            t->classes = cfg_str_list(l, v, kp, &t->nclasses);
        } else {
            cfg_unknown(l, KEYNODE(l, p), kp);
        }
    }
    if (!t->id)
        cfg_diag(l, n, path, "id is required (it names the rule in decisions and audit records)");
    if (!t->nto)
        cfg_diag(l, n, path, "to: at least one jurisdiction is required");
}

static void load_client_rule(struct cfg_ld *l, yaml_node_t *n, const char *path, void *out)
{
    struct sg_config_client_rule *c = out;
    if (!cfg_map_ok(l, n, path))
        return;
    MAP_FOR(l, n, p)
    {
        char kp[256];
        const char *k = KEYSTR(l, p);
        yaml_node_t *v = cfg_node(l, p->value);
        cfg_join(kp, sizeof(kp), path, k);
        if (strcmp(k, "name") == 0) {
            c->client = cfg_name_val(l, v, kp);
        } else if (strcmp(k, "classes") == 0) {
            c->classes = cfg_str_list(l, v, kp, &c->nclasses);
        } else if (strcmp(k, "on_violation") == 0) {
            const char *s = cfg_str(l, v, kp);
            if (s && strcmp(s, "block") != 0 && strcmp(s, "mask") != 0 &&
                strcmp(s, "pseudonymize") != 0)
                cfg_diag(l, v, kp, "must be block, mask or pseudonymize");
            else
                c->on_violation = s;
        } else {
            cfg_unknown(l, KEYNODE(l, p), kp);
        }
    }
    if (!c->client)
        cfg_diag(l, n, path, "name (of the client) is required");
    if (!c->on_violation)
        c->on_violation = "block";
}

void cfg_load_policy(struct cfg_ld *l, yaml_node_t *n, const char *path)
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
        if (strcmp(k, "classes") == 0) {
            c->policy.classes = cfg_load_list(l, v, kp, sizeof(*c->policy.classes),
                                              &c->policy.nclasses, &l->class_marks, load_class);
            if (c->policy.classes && !c->policy.nclasses)
                cfg_diag(l, v, kp, "at least one class is required");
        } else if (strcmp(k, "transfers") == 0) {
            c->policy.transfers =
                cfg_load_list(l, v, kp, sizeof(*c->policy.transfers), &c->policy.ntransfers,
                              &l->transfer_marks, load_transfer);
        } else if (strcmp(k, "clients") == 0) {
            c->policy.clients =
                cfg_load_list(l, v, kp, sizeof(*c->policy.clients), &c->policy.nclients,
                              &l->rule_marks, load_client_rule);
        } else {
            cfg_unknown(l, KEYNODE(l, p), kp);
        }
    }
}

void cfg_load_egress(struct cfg_ld *l, yaml_node_t *n, const char *path)
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
        if (strcmp(k, "allow") == 0) {
            c->egress.allow = cfg_str_list(l, v, kp, &c->egress.nallow);
            c->egress.set = true;
            for (size_t i = 0; i < c->egress.nallow; i++) {
                const char *h = c->egress.allow[i];
                if (!*h || strchr(h, '/') || strchr(h, '*') || strchr(h, ' '))
                    cfg_diag(l, v, kp,
                             "\"%s\": an entry is a host (api.example.eu), a suffix "
                             "(.example.eu) or an IP address",
                             h);
            }
        } else {
            cfg_unknown(l, KEYNODE(l, p), kp);
        }
    }
}

/* The default classes' names, when policy.classes is not given. */
static const char *const default_classes[] = {"restricted", "personal", "business_confidential",
                                              "public", NULL};

static bool class_known(const struct sg_config *c, const char *name)
{
    if (!c->policy.classes)
        return in_list(default_classes, name);
    for (size_t i = 0; i < c->policy.nclasses; i++)
        if (c->policy.classes[i].name && strcmp(c->policy.classes[i].name, name) == 0)
            return true;
    return false;
}

/* Whether `host` may be reached: an entry equal to it, or a ".suffix" it ends with. */
static bool egress_allows(const struct sg_config *c, const char *host)
{
    size_t hl = strlen(host);
    for (size_t i = 0; i < c->egress.nallow; i++) {
        const char *e = c->egress.allow[i];
        size_t el = strlen(e);
        if (strcasecmp(e, host) == 0)
            return true;
        if (e[0] == '.' && hl > el && strcasecmp(host + hl - el, e) == 0)
            return true;
    }
    return false;
}

void cfg_check_policy(struct cfg_ld *l)
{
    struct sg_config *c = l->cfg;
    char kp[96];
    for (size_t i = 0; i < c->policy.nclasses; i++) {
        for (size_t j = 0; j < i; j++) {
            if (c->policy.classes[i].name && c->policy.classes[j].name &&
                strcmp(c->policy.classes[i].name, c->policy.classes[j].name) == 0) {
                snprintf(kp, sizeof(kp), "policy.classes[%zu].name", i);
                cfg_diag_at(l, l->class_marks[i], kp, "class \"%s\" is defined twice",
                            c->policy.classes[i].name);
            }
        }
    }
    for (size_t i = 0; i < c->policy.ntransfers; i++) {
        const struct sg_config_transfer *t = &c->policy.transfers[i];
        for (size_t k = 0; k < t->nclasses; k++) {
            if (!class_known(c, t->classes[k])) {
                snprintf(kp, sizeof(kp), "policy.transfers[%zu].classes", i);
                cfg_diag_at(l, l->transfer_marks[i], kp, "unknown class \"%s\"", t->classes[k]);
            }
        }
        for (size_t j = 0; j < i; j++) {
            if (t->id && c->policy.transfers[j].id &&
                strcmp(t->id, c->policy.transfers[j].id) == 0) {
                snprintf(kp, sizeof(kp), "policy.transfers[%zu].id", i);
                cfg_diag_at(l, l->transfer_marks[i], kp, "id \"%s\" is used twice", t->id);
            }
        }
    }
    for (size_t i = 0; i < c->policy.nclients; i++) {
        const struct sg_config_client_rule *r = &c->policy.clients[i];
        for (size_t k = 0; k < r->nclasses; k++) {
            if (!class_known(c, r->classes[k])) {
                snprintf(kp, sizeof(kp), "policy.clients[%zu].classes", i);
                cfg_diag_at(l, l->rule_marks[i], kp, "unknown class \"%s\"", r->classes[k]);
            }
        }
    }
    /* Egress: a backend off this machine must be on the allow-list. */
    for (size_t i = 0; i < c->nbackends; i++) {
        const struct sg_config_backend *b = &c->backends[i];
        if (!b->host || sg_host_is_loopback(b->host) || egress_allows(c, b->host))
            continue;
        snprintf(kp, sizeof(kp), "backends[%zu].url", i);
        cfg_diag_at(l, l->backend_marks[i], kp,
                    "host \"%s\" is not in egress.allow (the gateway only connects to hosts "
                    "listed there)",
                    b->host);
    }
    for (size_t i = 0; i < c->nbackends; i++) {
        const struct sg_config_backend *b = &c->backends[i];
        if (!b->sovereign && !b->jurisdiction) {
            snprintf(kp, sizeof(kp), "backends[%zu]", i);
            cfg_diag_at(l, l->backend_marks[i], kp,
                        "an external backend (%s) needs a jurisdiction (e.g. jurisdiction: DE) "
                        "for transfer decisions; or declare it sovereign: true",
                        b->host ? b->host : b->name);
        }
    }
}
