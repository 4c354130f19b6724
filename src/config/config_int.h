/* Internals of the configuration loader shared by its files (config.c: the sections of
 * the gateway, config_redaction.c, config_policy.c; config_util.c: the value helpers).
 * Not part of the module's contract (config.h is). Every helper reports problems as
 * diagnostics with the node's position and returns "nothing" (NULL, false, or leaves the
 * output unchanged) so that loading goes on and every error is reported at once. */
#ifndef SG_CONFIG_CONFIG_INT_H
#define SG_CONFIG_CONFIG_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <yaml.h>

#include "config/config.h"

#define SG_CONFIG_MAX_BYTES (1u << 20)
#define SG_CONFIG_MAX_VISITS 200000
#define SG_CONFIG_MAX_ITEMS 10000

struct cfg_mark {
    size_t line, col; /* 1-based */
};

struct cfg_ld {
    const char *file;
    struct sg_config *cfg;
    struct sg_arena *a;
    yaml_document_t doc;
    struct sg_config_diags *diags;
    size_t visits;
    int nerr;
    struct cfg_mark *backend_marks, *route_marks, *client_marks;
    struct cfg_mark *class_marks, *transfer_marks, *rule_marks;
};

#define cfg_diag(l, node, key, ...) cfg_diag_at((l), cfg_mark_of(node), (key), __VA_ARGS__)
#define MAP_FOR(l, n, p)                                                                           \
    for (yaml_node_pair_t *p = (n)->data.mapping.pairs.start; p < (n)->data.mapping.pairs.top; p++)
#define KEYNODE(l, p) cfg_node((l), (p)->key)
#define KEYSTR(l, p) ((const char *)KEYNODE(l, p)->data.scalar.value)

void cfg_diag_at(struct cfg_ld *l, struct cfg_mark m, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
struct cfg_mark cfg_mark_of(const yaml_node_t *n);
/* Keeps the position of `key` (at node n) for sg_config_diag_add. */
void cfg_note(struct cfg_ld *l, const yaml_node_t *n, const char *key);
yaml_node_t *cfg_node(struct cfg_ld *l, int id);
void cfg_join(char *out, size_t cap, const char *path, const char *key);
void cfg_join_idx(char *out, size_t cap, const char *path, size_t i);
const char *cfg_str(struct cfg_ld *l, yaml_node_t *n, const char *path);
bool cfg_is_plain(const yaml_node_t *n);
void cfg_boolean(struct cfg_ld *l, yaml_node_t *n, const char *path, bool *out);
void cfg_integer(struct cfg_ld *l, yaml_node_t *n, const char *path, long min, long max, long *out);
void cfg_size_val(struct cfg_ld *l, yaml_node_t *n, const char *path, size_t min, size_t max,
                  size_t *out);
void cfg_duration(struct cfg_ld *l, yaml_node_t *n, const char *path, uint32_t min_ms,
                  uint32_t max_ms, uint32_t *out);
bool cfg_map_ok(struct cfg_ld *l, yaml_node_t *n, const char *path);
void cfg_unknown(struct cfg_ld *l, yaml_node_t *k, const char *kpath);
bool cfg_seq_ok(struct cfg_ld *l, yaml_node_t *n, const char *path);
size_t cfg_seq_len(yaml_node_t *n);
const char **cfg_str_list(struct cfg_ld *l, yaml_node_t *n, const char *path, size_t *count);
const char *cfg_name_val(struct cfg_ld *l, yaml_node_t *n, const char *path);
const char *cfg_path_val(struct cfg_ld *l, yaml_node_t *n, const char *path);
const char *cfg_file_val(struct cfg_ld *l, yaml_node_t *n, const char *path);
void *cfg_load_list(struct cfg_ld *l, yaml_node_t *n, const char *path, size_t size, size_t *count,
                    struct cfg_mark **marks,
                    void (*item)(struct cfg_ld *, yaml_node_t *, const char *, void *));

/* A jurisdiction value: a country code, EU or EEA (config_policy.c). */
const char *cfg_jurisdiction_val(struct cfg_ld *l, yaml_node_t *n, const char *path);

/* Sections in their own files. */
void cfg_load_redaction(struct cfg_ld *l, yaml_node_t *n, const char *path);
void cfg_load_policy(struct cfg_ld *l, yaml_node_t *n, const char *path);
void cfg_load_egress(struct cfg_ld *l, yaml_node_t *n, const char *path);
void cfg_load_guard(struct cfg_ld *l, yaml_node_t *n, const char *path);
void cfg_load_audit(struct cfg_ld *l, yaml_node_t *n, const char *path);
/* config_models.c: the models section, name@channel references, and their cross-check. */
void cfg_load_models(struct cfg_ld *l, yaml_node_t *n, const char *path);
bool cfg_model_ref_ok(const char *s);
void cfg_check_models(struct cfg_ld *l);
void cfg_load_responses(struct cfg_ld *l, yaml_node_t *n, const char *path);
/* Cross-checks of the policy against backends and clients, after everything is loaded. */
void cfg_check_policy(struct cfg_ld *l);

#endif
