/* The "responses" section: where and how the OpenAI Responses dialect keeps conversation
 * state (previous_response_id). */
#include "config/config_int.h"
#include "core/arena.h"
#include "core/secret.h"

#include <string.h>

void cfg_load_responses(struct cfg_ld *l, yaml_node_t *n, const char *path)
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
        if (strcmp(k, "store") == 0) {
            const char *s = cfg_path_val(l, v, kp);
            if (s)
                c->responses.store = s;
        } else if (strcmp(k, "key") == 0) {
            const char *s = cfg_str(l, v, kp);
            if (s && !sg_secret_is_ref(s)) {
                cfg_diag(l, v, kp, "must be a reference env:NAME or file:PATH");
            } else if (s) {
                struct sg_secret sec;
                struct sg_error err = {0};
                if (sg_secret_load(s, c->dir, &sec, &err) != 0)
                    cfg_diag(l, v, kp, "%s", err.msg);
                else if (sec.len < 32)
                    cfg_diag(l, v, kp, "at least 32 bytes are needed (e.g. 64 hex digits)");
                sg_secret_free(&sec);
                c->responses.key = s;
            }
        } else if (strcmp(k, "ttl") == 0) {
            cfg_duration(l, v, kp, 1000, 30u * 24 * 3600 * 1000, &c->responses.ttl_ms);
        } else {
            cfg_unknown(l, KEYNODE(l, p), kp);
        }
    }
    if (c->responses.store && !c->responses.key)
        cfg_diag(l, n, path, "key is required with store (the store is encrypted)");
}
