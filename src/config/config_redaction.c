/* The `redaction` section of the configuration (see docs/configuration.md). Semantic
 * checks that need the detector (unknown types, patterns that do not compile) are made
 * when the settings are compiled (src/redact/redaction.c); this file checks the shape. */
#include "config/config_int.h"
#include "core/arena.h"
#include "core/secret.h"

#include <ctype.h>
#include <string.h>

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

static const char *action_val(struct cfg_ld *l, yaml_node_t *n, const char *path)
{
    static const char *const actions[] = {"allow", "mask", "pseudonymize", "hash", "block"};
    const char *s = cfg_str(l, n, path);
    for (size_t i = 0; s && i < sizeof(actions) / sizeof(actions[0]); i++)
        if (strcmp(s, actions[i]) == 0)
            return s;
    if (s)
        cfg_diag(l, n, path, "must be allow, mask, pseudonymize, hash or block");
    return NULL;
}

/* A map of string -> string into pairs; `value` parses (and may reject) each value. */
static struct sg_config_pair *
pairs(struct cfg_ld *l, yaml_node_t *n, const char *path, size_t *count, bool keys_are_types,
      const char *(*value)(struct cfg_ld *, yaml_node_t *, const char *))
{
    *count = 0;
    if (!cfg_map_ok(l, n, path))
        return NULL;
    size_t len = (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
    struct sg_config_pair *v = sg_arena_calloc(l->a, (len ? len : 1) * sizeof(*v));
    if (!v)
        return NULL;
    MAP_FOR(l, n, p)
    {
        char kp[256];
        const char *k = KEYSTR(l, p);
        cfg_join(kp, sizeof(kp), path, k);
        if (keys_are_types && !type_name_ok(k)) {
            cfg_diag(l, KEYNODE(l, p), kp, "an entity type is 1 to 24 of A-Z, 0-9 and _");
            continue;
        }
        if (!keys_are_types && (strlen(k) == 0 || strlen(k) > 64)) {
            cfg_diag(l, KEYNODE(l, p), kp, "a field name is 1 to 64 characters");
            continue;
        }
        yaml_node_t *vn = cfg_node(l, p->value);
        const char *val = value(l, vn, kp);
        if (!val)
            continue;
        v[*count].key = sg_arena_strdup(l->a, k);
        v[*count].value = strcmp(val, "none") == 0 ? NULL : val;
        (*count)++;
    }
    return v;
}

static const char *field_type_val(struct cfg_ld *l, yaml_node_t *n, const char *path)
{
    const char *s = cfg_str(l, n, path);
    if (s && strcmp(s, "none") == 0)
        return s;
    if (s && !type_name_ok(s)) {
        cfg_diag(l, n, path, "must be an entity type (e.g. EMAIL) or none");
        return NULL;
    }
    return s;
}

static void load_detector(struct cfg_ld *l, yaml_node_t *n, const char *path,
                          struct sg_config_detector *d)
{
    bool named = false;
    if (!cfg_map_ok(l, n, path))
        return;
    MAP_FOR(l, n, p)
    {
        char kp[256];
        const char *k = KEYSTR(l, p);
        yaml_node_t *v = cfg_node(l, p->value);
        cfg_join(kp, sizeof(kp), path, k);
        if (strcmp(k, "name") == 0) {
            named = true;
            d->name = cfg_str(l, v, kp);
            if (d->name && !type_name_ok(d->name)) {
                cfg_diag(l, v, kp,
                         "a type name is 1 to 24 of A-Z, 0-9 and _, starting with a letter");
                d->name = NULL;
            }
        } else if (strcmp(k, "regex") == 0) {
            cfg_note(l, v, kp); /* compiled when the snapshot is built */
            d->regex = cfg_str(l, v, kp);
            if (d->regex && !*d->regex)
                cfg_diag(l, v, kp, "empty");
        } else if (strcmp(k, "terms") == 0) {
            cfg_note(l, v, kp);
            d->terms = cfg_str_list(l, v, kp, &d->nterms);
            for (size_t i = 0; i < d->nterms; i++)
                if (!d->terms[i][0] || strlen(d->terms[i]) > 256)
                    cfg_diag(l, v, kp, "terms are 1 to 256 characters");
        } else if (strcmp(k, "case_sensitive") == 0) {
            cfg_boolean(l, v, kp, &d->case_sensitive);
        } else if (strcmp(k, "action") == 0) {
            d->action = action_val(l, v, kp);
        } else {
            cfg_unknown(l, KEYNODE(l, p), kp);
        }
    }
    if (!named)
        cfg_diag(l, n, path, "name is required");
    else if (d->name && !d->regex && !d->nterms)
        cfg_diag(l, n, path, "a detector needs a regex or terms");
}

static void detector_item(struct cfg_ld *l, yaml_node_t *n, const char *p, void *o)
{
    load_detector(l, n, p, o);
}

void cfg_load_redaction(struct cfg_ld *l, yaml_node_t *n, const char *path)
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
        if (strcmp(k, "enabled") == 0) {
            cfg_boolean(l, v, kp, &c->redaction.enabled);
        } else if (strcmp(k, "key") == 0) {
            const char *s = cfg_str(l, v, kp);
            if (s && !sg_secret_is_ref(s)) {
                cfg_diag(l, v, kp, "must be a reference env:NAME or file:PATH, never the key");
            } else if (s) {
                struct sg_secret sec;
                struct sg_error err = {0};
                if (sg_secret_load(s, c->dir, &sec, &err) != 0)
                    cfg_diag(l, v, kp, "%s", err.msg);
                else if (sec.len < 16)
                    cfg_diag(l, v, kp,
                             "the key must be at least 16 bytes (32 random bytes are best)");
                sg_secret_free(&sec);
                c->redaction.key = s;
            }
        } else if (strcmp(k, "actions") == 0) {
            c->redaction.actions = pairs(l, v, kp, &c->redaction.nactions, true, action_val);
        } else if (strcmp(k, "fields") == 0) {
            c->redaction.fields = pairs(l, v, kp, &c->redaction.nfields, false, field_type_val);
        } else if (strcmp(k, "detectors") == 0) {
            struct cfg_mark *marks;
            c->redaction.detectors = cfg_load_list(l, v, kp, sizeof(*c->redaction.detectors),
                                                   &c->redaction.ndetectors, &marks, detector_item);
        } else if (strcmp(k, "output_scan") == 0) {
            c->redaction.output_scan = cfg_str_list(l, v, kp, &c->redaction.noutput_scan);
            c->redaction.output_scan_set = true;
            for (size_t i = 0; i < c->redaction.noutput_scan; i++)
                if (!type_name_ok(c->redaction.output_scan[i]))
                    cfg_diag(l, v, kp, "\"%s\" is not an entity type", c->redaction.output_scan[i]);
        } else if (strcmp(k, "max_findings") == 0) {
            long x = 0;
            cfg_integer(l, v, kp, 1, 1000000, &x);
            c->redaction.max_findings = (size_t)x;
        } else {
            cfg_unknown(l, KEYNODE(l, p), kp);
        }
    }
}
