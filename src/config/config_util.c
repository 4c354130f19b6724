/* Value helpers of the configuration loader: diagnostics with positions, scalars, lists,
 * mappings, sizes, durations, names and files. */
#include "config/config_int.h"
#include "core/arena.h"
#include "core/secret.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
/* ---- diagnostics ---- */

struct cfg_mark cfg_mark_of(const yaml_node_t *n)
{
    struct cfg_mark m = {1, 1};
    if (n) {
        m.line = n->start_mark.line + 1;
        m.col = n->start_mark.column + 1;
    }
    return m;
}

/* A new diagnostic at the end of the list; NULL when it is full or out of memory. */
static struct sg_config_diag *diag_slot(struct sg_config_diags *d)
{
    if (!d || d->n >= 1000)
        return NULL;
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 16;
        struct sg_config_diag *v = realloc(d->v, cap * sizeof(*v));
        if (!v)
            return NULL;
        d->v = v;
        d->cap = cap;
    }
    return &d->v[d->n++];
}

/* Appends "FILE:LINE:COLUMN: KEY: reason", or "FILE: KEY: reason" without a position. */
static void diag_vput(struct sg_config_diags *d, const char *file, const struct cfg_mark *m,
                      const char *key, const char *fmt, va_list ap)
{
    struct sg_config_diag *slot = diag_slot(d);
    if (!slot)
        return;
    char reason[256];
    vsnprintf(reason, sizeof(reason), fmt, ap);
    if (m)
        snprintf(slot->msg, sizeof(slot->msg), "%s:%zu:%zu: %s: %s", file, m->line, m->col, key,
                 reason);
    else
        snprintf(slot->msg, sizeof(slot->msg), "%s: %s: %s", file, key, reason);
}

void cfg_diag_at(struct cfg_ld *l, struct cfg_mark m, const char *key, const char *fmt, ...)
{
    l->nerr++;
    va_list ap;
    va_start(ap, fmt);
    diag_vput(l->diags, l->file, &m, key && *key ? key : "(root)", fmt, ap);
    va_end(ap);
}

void cfg_note(struct cfg_ld *l, const yaml_node_t *n, const char *key)
{
    struct sg_config_where *w = sg_arena_alloc(l->a, sizeof(*w));
    char *k = w ? sg_arena_strdup(l->a, key) : NULL;
    if (!k)
        return; /* a message without a position, nothing worse */
    struct cfg_mark m = cfg_mark_of(n);
    *w = (struct sg_config_where){k, m.line, m.col, l->cfg->where};
    l->cfg->where = w;
}

void sg_config_diag_add(struct sg_config_diags *d, const struct sg_config *c, const char *key,
                        const char *fmt, ...)
{
    const struct sg_config_where *w = c->where;
    while (w && strcmp(w->key, key) != 0)
        w = w->next;
    struct cfg_mark m = {w ? w->line : 0, w ? w->col : 0};
    va_list ap;
    va_start(ap, fmt);
    diag_vput(d, c->path, w ? &m : NULL, key, fmt, ap);
    va_end(ap);
}

void sg_config_diags_free(struct sg_config_diags *d)
{
    free(d->v);
    d->v = NULL;
    d->n = d->cap = 0;
}

/* ---- value helpers ---- */

yaml_node_t *cfg_node(struct cfg_ld *l, int id)
{
    l->visits++;
    return yaml_document_get_node(&l->doc, id);
}

void cfg_join(char *out, size_t cap, const char *path, const char *key)
{
    snprintf(out, cap, "%s%s%s", path, *path ? "." : "", key);
}

void cfg_join_idx(char *out, size_t cap, const char *path, size_t i)
{
    snprintf(out, cap, "%s[%zu]", path, i);
}

/* Returns the scalar's text (arena copy) or NULL with a diagnostic. */
const char *cfg_str(struct cfg_ld *l, yaml_node_t *n, const char *path)
{
    if (!n || n->type != YAML_SCALAR_NODE) {
        cfg_diag(l, n, path, "expected a string");
        return NULL;
    }
    if (memchr(n->data.scalar.value, 0, n->data.scalar.length)) {
        cfg_diag(l, n, path, "NUL character not allowed");
        return NULL;
    }
    return sg_arena_strndup(l->a, (const char *)n->data.scalar.value, n->data.scalar.length);
}

/* Plain (unquoted) scalars are YAML's untyped values: true/false/numbers. */
bool cfg_is_plain(const yaml_node_t *n)
{
    return n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
}

void cfg_boolean(struct cfg_ld *l, yaml_node_t *n, const char *path, bool *out)
{
    if (n && n->type == YAML_SCALAR_NODE && cfg_is_plain(n)) {
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
    cfg_diag(l, n, path, "expected true or false");
}

void cfg_integer(struct cfg_ld *l, yaml_node_t *n, const char *path, long min, long max, long *out)
{
    if (n && n->type == YAML_SCALAR_NODE && cfg_is_plain(n)) {
        const char *v = (const char *)n->data.scalar.value;
        char *end;
        errno = 0;
        long x = strtol(v, &end, 10);
        if (*v && !*end && errno == 0) {
            if (x < min || x > max) {
                cfg_diag(l, n, path, "must be between %ld and %ld", min, max);
                return;
            }
            *out = x;
            return;
        }
    }
    cfg_diag(l, n, path, "expected an integer");
}

void cfg_size_val(struct cfg_ld *l, yaml_node_t *n, const char *path, size_t min, size_t max,
                  size_t *out)
{
    size_t v;
    const char *s = cfg_str(l, n, path);
    if (!s)
        return;
    if (sg_parse_size(s, &v) != 0) {
        cfg_diag(l, n, path, "expected a size such as 4MiB, 512KiB or 1024");
        return;
    }
    if (v < min || v > max) {
        cfg_diag(l, n, path, "must be between %zu and %zu bytes", min, max);
        return;
    }
    *out = v;
}

void cfg_duration(struct cfg_ld *l, yaml_node_t *n, const char *path, uint32_t min_ms,
                  uint32_t max_ms, uint32_t *out)
{
    uint32_t v;
    const char *s = cfg_str(l, n, path);
    if (!s)
        return;
    if (sg_parse_duration_ms(s, &v) != 0) {
        cfg_diag(l, n, path, "expected a duration such as 500ms, 10s, 2m or 1h");
        return;
    }
    if (v < min_ms || v > max_ms) {
        cfg_diag(l, n, path, "must be between %ums and %ums", min_ms, max_ms);
        return;
    }
    *out = v;
}

/* Validates a mapping node and its keys (scalar, no duplicates). Returns false (with a
 * diagnostic) when `n` is not a usable mapping. */
bool cfg_map_ok(struct cfg_ld *l, yaml_node_t *n, const char *path)
{
    if (!n || n->type != YAML_MAPPING_NODE) {
        cfg_diag(l, n, path, "expected a mapping");
        return false;
    }
    /* The duplicate check is quadratic: bound the keys as lists bound their items. */
    if (n->data.mapping.pairs.top - n->data.mapping.pairs.start > SG_CONFIG_MAX_ITEMS) {
        cfg_diag(l, n, path, "too many keys (at most %d)", SG_CONFIG_MAX_ITEMS);
        return false;
    }
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *k = cfg_node(l, p->key);
        if (!k || k->type != YAML_SCALAR_NODE) {
            cfg_diag(l, k, path, "keys must be strings");
            return false;
        }
        /* not cfg_node: comparing keys visits nothing new (the visit count bounds the
         * expansion of aliases, and must not grow with the square of a mapping's size) */
        for (yaml_node_pair_t *q = n->data.mapping.pairs.start; q < p; q++) {
            yaml_node_t *k2 = yaml_document_get_node(&l->doc, q->key);
            if (k2 && k2->type == YAML_SCALAR_NODE &&
                strcmp((char *)k->data.scalar.value, (char *)k2->data.scalar.value) == 0) {
                char kp[256];
                cfg_join(kp, sizeof(kp), path, (char *)k->data.scalar.value);
                cfg_diag(l, k, kp, "duplicate key");
            }
        }
    }
    return true;
}

void cfg_unknown(struct cfg_ld *l, yaml_node_t *k, const char *kpath)
{
    cfg_diag(l, k, kpath, "unknown key");
}

bool cfg_seq_ok(struct cfg_ld *l, yaml_node_t *n, const char *path)
{
    if (!n || n->type != YAML_SEQUENCE_NODE) {
        cfg_diag(l, n, path, "expected a list");
        return false;
    }
    size_t count = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
    if (count > SG_CONFIG_MAX_ITEMS) {
        cfg_diag(l, n, path, "too many items (at most %d)", SG_CONFIG_MAX_ITEMS);
        return false;
    }
    return true;
}

size_t cfg_seq_len(yaml_node_t *n)
{
    return (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
}

/* A list of strings; returns an arena array (NULL and *count 0 on error). */
const char **cfg_str_list(struct cfg_ld *l, yaml_node_t *n, const char *path, size_t *count)
{
    *count = 0;
    if (!cfg_seq_ok(l, n, path))
        return NULL;
    size_t len = cfg_seq_len(n);
    const char **v = sg_arena_calloc(l->a, (len ? len : 1) * sizeof(*v));
    if (!v)
        return NULL;
    for (size_t i = 0; i < len; i++) {
        char ip[256];
        cfg_join_idx(ip, sizeof(ip), path, i);
        const char *s = cfg_str(l, cfg_node(l, n->data.sequence.items.start[i]), ip);
        if (s)
            v[(*count)++] = s;
    }
    return v;
}

/* Names of clients, backends and routes: 1-64 of [A-Za-z0-9._:/-]. */
bool sg_config_name_ok(const char *s)
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

const char *cfg_name_val(struct cfg_ld *l, yaml_node_t *n, const char *path)
{
    const char *s = cfg_str(l, n, path);
    if (s && !sg_config_name_ok(s)) {
        cfg_diag(l, n, path, "must be 1-128 characters of letters, digits and . _ - : / @ +");
        return NULL;
    }
    return s;
}

/* A path the daemon creates or opens later (a folder, a database): not empty, resolved
 * against the config's folder; NULL (with an error) when it is empty or too long. */
const char *cfg_path_val(struct cfg_ld *l, yaml_node_t *n, const char *path)
{
    const char *s = cfg_str(l, n, path);
    if (!s)
        return NULL;
    char full[4096];
    if (!s[0])
        cfg_diag(l, n, path, "must not be empty");
    else if (sg_path_resolve(l->cfg->dir, s, full, sizeof(full)) != 0)
        cfg_diag(l, n, path, "path too long (at most %zu bytes once resolved)", sizeof(full) - 1);
    else
        return sg_arena_strdup(l->a, full);
    return NULL;
}

/* A file path, optionally written as file:PATH; resolved against the config's folder
 * and required to be readable. */
const char *cfg_file_val(struct cfg_ld *l, yaml_node_t *n, const char *path)
{
    const char *s = cfg_str(l, n, path);
    if (!s)
        return NULL;
    if (strncmp(s, "file:", 5) == 0)
        s += 5;
    if (!*s) {
        cfg_diag(l, n, path, "empty path");
        return NULL;
    }
    char full[4096];
    if (sg_path_resolve(l->cfg->dir, s, full, sizeof(full)) != 0) {
        cfg_diag(l, n, path, "path too long");
        return NULL;
    }
    if (access(full, R_OK) != 0) {
        cfg_diag(l, n, path, "cannot read %s: %s", full, strerror(errno));
        return NULL;
    }
    return sg_arena_strdup(l->a, full);
}

void *cfg_load_list(struct cfg_ld *l, yaml_node_t *n, const char *path, size_t size, size_t *count,
                    struct cfg_mark **marks,
                    void (*item)(struct cfg_ld *, yaml_node_t *, const char *, void *))
{
    *count = 0;
    if (!cfg_seq_ok(l, n, path))
        return NULL;
    size_t len = cfg_seq_len(n);
    char *v = sg_arena_calloc(l->a, (len ? len : 1) * size);
    *marks = sg_arena_calloc(l->a, (len ? len : 1) * sizeof(**marks));
    if (!v || !*marks)
        return NULL;
    for (size_t i = 0; i < len; i++) {
        char ip[256];
        yaml_node_t *in = cfg_node(l, n->data.sequence.items.start[i]);
        cfg_join_idx(ip, sizeof(ip), path, i);
        (*marks)[i] = cfg_mark_of(in);
        item(l, in, ip, v + i * size);
    }
    *count = len;
    return v;
}