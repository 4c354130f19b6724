/* The `models` section: the model store (docs/models.md), and the check that engine
 * backends naming a store model (name@channel) have a store and a public key. */
#include "config/config_int.h"
#include "core/arena.h"
#include "core/secret.h"
#include "model/model.h"

#include <string.h>

bool cfg_model_ref_ok(const char *s)
{
    const char *at = s ? strchr(s, '@') : NULL;
    if (!at || strchr(s, '/') || (size_t)(at - s) > SG_MODEL_NAME_MAX)
        return false;
    char name[SG_MODEL_NAME_MAX + 1];
    memcpy(name, s, (size_t)(at - s));
    name[at - s] = '\0';
    return sg_model_name_ok(name) && sg_model_name_ok(at + 1);
}

void cfg_load_models(struct cfg_ld *l, yaml_node_t *n, const char *path)
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
        if (strcmp(k, "store") == 0 || strcmp(k, "audit") == 0 || strcmp(k, "state") == 0) {
            const char *s = cfg_path_val(l, v, kp);
            if (s)
                *(strcmp(k, "store") == 0   ? &c->models.store
                  : strcmp(k, "audit") == 0 ? &c->models.audit
                                            : &c->models.state) = s;
        } else if (strcmp(k, "signing_key") == 0 || strcmp(k, "public_key") == 0 ||
                   strcmp(k, "encryption_key") == 0) {
            const char *s = cfg_str(l, v, kp);
            if (s && !sg_secret_is_ref(s)) {
                cfg_diag(l, v, kp, "must be a reference env:NAME or file:PATH");
            } else if (s) {
                struct sg_secret sec;
                struct sg_error err = {0};
                if (sg_secret_load(s, c->dir, &sec, &err) != 0)
                    cfg_diag(l, v, kp, "%s", err.msg);
                sg_secret_free(&sec);
                if (k[0] == 's')
                    c->models.signing_key = s;
                else if (k[0] == 'p')
                    c->models.public_key = s;
                else
                    c->models.encryption_key = s;
            }
        } else if (strcmp(k, "switch_timeout") == 0) {
            cfg_duration(l, v, kp, 1000, 86400000, &c->models.switch_timeout_ms);
        } else {
            cfg_unknown(l, KEYNODE(l, p), kp);
        }
    }
}

void cfg_check_models(struct cfg_ld *l)
{
    struct sg_config *c = l->cfg;
    for (size_t i = 0; i < c->nbackends; i++) {
        const struct sg_config_backend *b = &c->backends[i];
        if (b->kind != SG_BACKEND_ENGINE || !b->engine.model_ref)
            continue;
        if (!c->models.store)
            cfg_diag_at(l, l->backend_marks[i], "models.store",
                        "backend %s names the store model %s: models.store is required", b->name,
                        b->engine.model_ref);
        else if (!c->models.public_key) /* the engine gets the public key, never the private */
            cfg_diag_at(l, l->backend_marks[i], "models.public_key",
                        "backend %s names the store model %s: models.public_key is required",
                        b->name, b->engine.model_ref);
    }
}
