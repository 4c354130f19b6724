/* The data classification policy: compiling the configuration, actions per destination,
 * and the decision for one backend. */
#include "policy/policy.h"
#include "core/buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct transfer {
    char *id;
    char **to;
    size_t nto;
    uint32_t classes;
};

struct sg_policy_client {
    char *name;
    uint32_t classes; /* allowed */
    enum sg_action on_violation;
};

struct sg_policy {
    const struct sg_detector *det; /* borrowed from the settings it was built with */
    unsigned nclasses;
    char *name[SG_POLICY_MAX_CLASSES];
    enum sg_action action[2][SG_POLICY_MAX_CLASSES]; /* [dest][class] */
    uint8_t class_of[SG_ENT_MAX];
    int restricted, public_; /* class indexes, -1 when there is no class of that name */
    bool explicit_action[SG_ENT_MAX];
    struct transfer *transfers;
    size_t ntransfers;
    struct sg_policy_client *clients;
    size_t nclients;
};

struct default_class {
    const char *name;
    const char *types;
    enum sg_action sovereign, external;
};

static const struct default_class defaults[] = {
    {"restricted", "CARD IBAN NATIONAL_ID SECRET URL_CREDENTIALS", SG_ACT_MASK, SG_ACT_MASK},
    {"personal", "EMAIL PHONE PERSON ADDRESS IP DATE_OF_BIRTH VAT_ID FIELD", SG_ACT_PSEUDONYMIZE,
     SG_ACT_PSEUDONYMIZE},
    {"business_confidential", "", SG_ACT_ALLOW, SG_ACT_ALLOW},
    {"public", "", SG_ACT_ALLOW, SG_ACT_ALLOW},
};

void sg_policy_free(struct sg_policy *p)
{
    if (!p)
        return;
    for (unsigned i = 0; i < p->nclasses; i++)
        free(p->name[i]);
    for (size_t i = 0; i < p->ntransfers; i++) {
        for (size_t j = 0; j < p->transfers[i].nto; j++)
            free(p->transfers[i].to[j]);
        free(p->transfers[i].to);
        free(p->transfers[i].id);
    }
    free(p->transfers);
    for (size_t i = 0; i < p->nclients; i++)
        free(p->clients[i].name);
    free(p->clients);
    free(p);
}

static int class_index(const struct sg_policy *p, const char *name)
{
    for (unsigned i = 0; i < p->nclasses; i++)
        if (strcmp(p->name[i], name) == 0)
            return (int)i;
    return -1;
}

/* Puts `type` (a name) in class c; an error when unknown or already in another class. */
static int assign(struct sg_policy *p, const struct sg_redaction *rd, const char *type, unsigned c,
                  bool *seen, const char *where, struct sg_error *err)
{
    int t = sg_entity_lookup(rd->det, type);
    if (t < 0)
        return sg_error_set(err, SG_EINVAL, "%s: unknown entity type %s", where, type);
    if (seen[t])
        return sg_error_set(err, SG_EINVAL, "%s: %s is already in class %s", where, type,
                            p->name[p->class_of[t]]);
    seen[t] = true;
    p->class_of[t] = (uint8_t)c;
    return 0;
}

static int build_classes(struct sg_policy *p, const struct sg_config *cfg,
                         const struct sg_redaction *rd, struct sg_error *err)
{
    bool seen[SG_ENT_MAX] = {false};
    int rc = 0;
    if (cfg->policy.classes) {
        if (cfg->policy.nclasses > SG_POLICY_MAX_CLASSES)
            return sg_error_set(err, SG_ETOOBIG, "policy.classes: at most %d classes",
                                SG_POLICY_MAX_CLASSES);
        for (size_t i = 0; i < cfg->policy.nclasses && !rc; i++) {
            const struct sg_config_class *c = &cfg->policy.classes[i];
            if (!(p->name[i] = strdup(c->name)))
                return sg_error_set(err, SG_ENOMEM, "out of memory");
            p->nclasses = (unsigned)i + 1;
            sg_action_parse(c->sovereign, &p->action[SG_DEST_SOVEREIGN][i]);
            sg_action_parse(c->external, &p->action[SG_DEST_EXTERNAL][i]);
            char where[96];
            snprintf(where, sizeof(where), "policy.classes[%zu].types", i);
            for (size_t k = 0; k < c->ntypes && !rc; k++)
                rc = assign(p, rd, c->types[k], (unsigned)i, seen, where, err);
        }
        /* Every type must be placed on purpose: a type no class lists would count as public
         * and go out in clear, so a list written before a type existed (a built-in one of a
         * later version, or a detector added since) or one that forgets a type is refused,
         * not read as "public". A shop that wants a type sent in clear lists it in a class
         * whose actions allow it. */
        for (unsigned t = 0; t < sg_detector_ntypes(rd->det) && !rc; t++) {
            if (seen[t] || (t >= SG_ENT_BUILTIN && t < SG_ENT_CUSTOM))
                continue;
            if (t >= SG_ENT_CUSTOM)
                rc = sg_error_set(err, SG_EINVAL,
                                  "policy.classes: the custom detector %s is in no class; "
                                  "list it (an unlisted type would count as public)",
                                  sg_entity_name(rd->det, t));
            else
                rc = sg_error_set(err, SG_EINVAL,
                                  "policy.classes: %s is in no class; every built-in type "
                                  "must be listed (an unlisted type would count as public)",
                                  sg_entity_name(rd->det, t));
        }
    } else {
        for (size_t i = 0; i < sizeof(defaults) / sizeof(defaults[0]) && !rc; i++) {
            if (!(p->name[i] = strdup(defaults[i].name)))
                return sg_error_set(err, SG_ENOMEM, "out of memory");
            p->nclasses = (unsigned)i + 1;
            p->action[SG_DEST_SOVEREIGN][i] = defaults[i].sovereign;
            p->action[SG_DEST_EXTERNAL][i] = defaults[i].external;
            char types[128];
            snprintf(types, sizeof(types), "%s", defaults[i].types);
            for (char *save = NULL, *t = strtok_r(types, " ", &save); t && !rc;
                 t = strtok_r(NULL, " ", &save))
                rc = assign(p, rd, t, (unsigned)i, seen, "policy", err);
        }
        /* custom detectors are the shop's business secrets by default */
        for (unsigned t = SG_ENT_CUSTOM; t < sg_detector_ntypes(rd->det); t++) {
            seen[t] = true;
            p->class_of[t] = 2;
        }
    }
    if (rc)
        return rc;
    p->restricted = class_index(p, "restricted");
    p->public_ = class_index(p, "public");
    /* type numbers no detector uses (none that can be found) map to the public class, or
     * the least sensitive one */
    unsigned fallback = p->public_ >= 0 ? (unsigned)p->public_ : p->nclasses - 1;
    for (unsigned t = 0; t < SG_ENT_MAX; t++)
        if (!seen[t])
            p->class_of[t] = (uint8_t)fallback;
    return 0;
}

static uint32_t class_mask(const struct sg_policy *p, const char *const *names, size_t n)
{
    uint32_t m = 0;
    for (size_t i = 0; i < n; i++) {
        int c = class_index(p, names[i]);
        if (c >= 0)
            m |= 1u << c;
    }
    return m;
}

int sg_policy_new(const struct sg_config *cfg, const struct sg_redaction *rd,
                  struct sg_policy **out, struct sg_error *err)
{
    *out = NULL;
    struct sg_policy *p = calloc(1, sizeof(*p));
    if (!p)
        return sg_error_set(err, SG_ENOMEM, "out of memory");
    p->det = rd->det;
    int rc = build_classes(p, cfg, rd, err);
    memcpy(p->explicit_action, rd->action_set, sizeof(p->explicit_action));
    size_t nt = cfg->policy.ntransfers, nc = cfg->policy.nclients;
    if (!rc && ((nt && !(p->transfers = calloc(nt, sizeof(*p->transfers)))) ||
                (nc && !(p->clients = calloc(nc, sizeof(*p->clients))))))
        rc = sg_error_set(err, SG_ENOMEM, "out of memory");
    for (size_t i = 0; !rc && i < nt; i++) {
        const struct sg_config_transfer *t = &cfg->policy.transfers[i];
        struct transfer *x = &p->transfers[i];
        p->ntransfers = i + 1;
        x->classes = class_mask(p, t->classes, t->nclasses);
        if (!(x->id = strdup(t->id)) || !(x->to = calloc(t->nto ? t->nto : 1, sizeof(char *)))) {
            rc = sg_error_set(err, SG_ENOMEM, "out of memory");
            break;
        }
        for (size_t j = 0; j < t->nto; j++) {
            if (!(x->to[j] = strdup(t->to[j]))) {
                rc = sg_error_set(err, SG_ENOMEM, "out of memory");
                break;
            }
            x->nto = j + 1;
        }
    }
    for (size_t i = 0; !rc && i < nc; i++) {
        const struct sg_config_client_rule *c = &cfg->policy.clients[i];
        struct sg_policy_client *x = &p->clients[i];
        p->nclients = i + 1;
        x->classes = c->classes ? class_mask(p, c->classes, c->nclasses) : UINT32_MAX;
        sg_action_parse(c->on_violation, &x->on_violation);
        if (!(x->name = strdup(c->client)))
            rc = sg_error_set(err, SG_ENOMEM, "out of memory");
    }
    if (rc) {
        sg_policy_free(p);
        return rc;
    }
    *out = p;
    return 0;
}

int sg_policy_class_index(const struct sg_policy *p, const char *name)
{
    return class_index(p, name);
}

unsigned sg_policy_nclasses(const struct sg_policy *p)
{
    return p->nclasses;
}

const char *sg_policy_class_name(const struct sg_policy *p, unsigned c)
{
    return c < p->nclasses ? p->name[c] : "?";
}

unsigned sg_policy_class_of(const struct sg_policy *p, unsigned type)
{
    return type < SG_ENT_MAX ? p->class_of[type] : p->nclasses - 1;
}

const struct sg_policy_client *sg_policy_client(const struct sg_policy *p, const char *name)
{
    for (size_t i = 0; name && i < p->nclients; i++)
        if (strcmp(p->clients[i].name, name) == 0)
            return &p->clients[i];
    return NULL;
}

/* The detector's entity types: counts and actions of higher numbers are never set. The
 * per-request loops stop there instead of at SG_ENT_MAX (256). */
static unsigned ntypes(const struct sg_policy *p)
{
    return p->det ? sg_detector_ntypes(p->det) : SG_ENT_MAX;
}

void sg_policy_actions(const struct sg_policy *p, const struct sg_redaction *rd,
                       const struct sg_policy_client *client, enum sg_dest d,
                       enum sg_action out[SG_ENT_MAX])
{
    unsigned n = ntypes(p);
    for (unsigned t = 0; t < n; t++) {
        unsigned c = p->class_of[t];
        out[t] = p->explicit_action[t] ? rd->actions[t] : p->action[d][c];
        if (client && !(client->classes & (1u << c)))
            out[t] = client->on_violation;
    }
    for (unsigned t = n; t < SG_ENT_MAX; t++)
        out[t] = SG_ACT_ALLOW; /* no such type: nothing of it can be found */
}

uint32_t sg_policy_classes(const struct sg_policy *p, const uint32_t counts[SG_ENT_MAX])
{
    uint32_t m = 0;
    for (unsigned t = 0, n = ntypes(p); t < n; t++)
        if (counts[t])
            m |= 1u << p->class_of[t];
    return m;
}

/* rule = prefix + arg (arg may be NULL) */
static void verdict(struct sg_policy_verdict *v, bool allowed, int klass, const char *prefix,
                    const char *arg)
{
    v->allowed = allowed;
    v->klass = klass;
    size_t l = sg_strlcpy(v->rule, sizeof(v->rule), prefix, SIZE_MAX);
    sg_strlcpy(v->rule + l, sizeof(v->rule) - l, arg ? arg : "", SIZE_MAX);
}

void sg_policy_unclassified(bool sovereign, struct sg_policy_verdict *v)
{
    v->allowed = sovereign;
    v->klass = -1;
    v->left = 0;
    sg_strlcpy(v->rule, sizeof(v->rule), sovereign ? "sovereign" : "unclassified", SIZE_MAX);
}

void sg_policy_decide(const struct sg_policy *p, const uint32_t counts[SG_ENT_MAX],
                      const enum sg_action act[SG_ENT_MAX], bool sovereign,
                      const char *jurisdiction, const struct sg_policy_client *client,
                      struct sg_policy_verdict *v)
{
    v->left = 0;
    /* blocks first, most sensitive class first */
    int bc = -1;
    unsigned btype = 0;
    for (unsigned t = 0, n = ntypes(p); t < n; t++) {
        if (!counts[t])
            continue;
        unsigned c = p->class_of[t];
        if (act[t] == SG_ACT_BLOCK && (bc < 0 || (int)c < bc)) {
            bc = (int)c;
            btype = t;
        }
        if (act[t] == SG_ACT_ALLOW || act[t] == SG_ACT_PSEUDONYMIZE || act[t] == SG_ACT_HASH)
            v->left |= 1u << c;
    }
    if (bc >= 0) {
        if (client && !(client->classes & (1u << bc)))
            verdict(v, false, bc, "client:", client->name);
        else if (p->explicit_action[btype])
            verdict(v, false, bc, "type:", sg_entity_name(p->det, btype));
        else
            verdict(v, false, bc, "class:", p->name[bc]);
        return;
    }
    if (sovereign) {
        verdict(v, true, -1, "sovereign", NULL);
        return;
    }
    if (p->restricted >= 0 && (v->left & (1u << p->restricted))) {
        verdict(v, false, p->restricted, "restricted-external", NULL);
        return;
    }
    /* every class left other than public needs a transfer rule for this jurisdiction; the
     * rule names each one used (the legal basis of each class's transfer) */
    bool used[SG_POLICY_MAX_TRANSFERS_NAMED] = {false}, more = false;
    size_t nused = 0;
    for (unsigned c = 0; c < p->nclasses; c++) {
        if (!(v->left & (1u << c)) || (int)c == p->public_)
            continue;
        size_t ok = p->ntransfers;
        for (size_t i = 0; i < p->ntransfers && ok == p->ntransfers; i++) {
            const struct transfer *x = &p->transfers[i];
            if (!(x->classes & (1u << c)))
                continue;
            for (size_t j = 0; j < x->nto && ok == p->ntransfers; j++)
                if (sg_jurisdiction_covers(x->to[j], jurisdiction))
                    ok = i;
        }
        if (ok == p->ntransfers) {
            verdict(v, false, (int)c, "no-transfer", NULL);
            return;
        }
        if (ok >= SG_POLICY_MAX_TRANSFERS_NAMED)
            more = true;
        else
            used[ok] = true;
        nused++;
    }
    if (!nused) {
        verdict(v, true, -1, "public", NULL);
        return;
    }
    verdict(v, true, -1, "transfer:", NULL);
    size_t len = strlen(v->rule), cap = sizeof(v->rule);
    bool first = true;
    for (size_t i = 0; i < SG_POLICY_MAX_TRANSFERS_NAMED && i < p->ntransfers; i++) {
        if (!used[i])
            continue;
        const char *id = p->transfers[i].id;
        size_t need = strlen(id) + (first ? 0 : 1);
        if (len + need + 4 >= cap) { /* room kept for "+..." */
            more = true;
            break;
        }
        if (!first)
            v->rule[len++] = '+';
        len += sg_strlcpy(v->rule + len, cap - len, id, SIZE_MAX);
        first = false;
    }
    if (more) /* a rule that could not be named: said, not dropped */
        sg_strlcpy(v->rule + len, cap - len, first ? "..." : "+...", SIZE_MAX);
}
