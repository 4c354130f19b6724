/* The model store's operations after import: list, verify, channels, remove, and loading
 * verified weights for the engine (see model.h). */
#include "model/model_int.h"
#include "core/secret.h"
#include "model/gguf.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

typedef int (*visit_fn)(void *arg, const char *name, const char *version);

/* The names in `path` without hidden ones, with `suffix` cut off; a folder that cannot be
 * read, or memory that runs out, lists what was read (as verification reports). */
static char **list_dir(const char *path, const char *suffix, size_t *n)
{
    *n = 0;
    int dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return NULL;
    int rc;
    char **v = sg_mstore_names_at(dfd, suffix, false, n, &rc);
    close(dfd);
    return v;
}

/* Calls fn for every manifests/<name>/<version>.json, sorted by name then version. */
static int visit(struct sg_model_store *s, const char *only_name, visit_fn fn, void *arg)
{
    char p[PATH_MAX];
    size_t nn = 0;
    sg_mstore_path(s, p, sizeof(p), "manifests");
    char **names = list_dir(p, NULL, &nn);
    int rc = 0;
    for (size_t i = 0; i < nn && !rc; i++) {
        if (only_name && strcmp(only_name, names[i]) != 0)
            continue;
        if (!sg_model_name_ok(names[i]))
            continue;
        size_t nv = 0;
        sg_mstore_path(s, p, sizeof(p), "manifests/%s", names[i]);
        char **vers = list_dir(p, ".json", &nv);
        for (size_t j = 0; j < nv && !rc; j++)
            if (sg_model_name_ok(vers[j]))
                rc = fn(arg, names[i], vers[j]);
        sg_mstore_names_free(vers, nv);
    }
    sg_mstore_names_free(names, nn);
    return rc;
}

/* ---- list ---- */

struct list_ctx {
    struct sg_model_store *s;
    json_t *out;
};

static int list_one(void *arg, const char *name, const char *version)
{
    struct list_ctx *c = arg;
    struct sg_error err = {0};
    json_t *doc = sg_mstore_load_manifest(c->s, name, version, &err);
    json_t *e;
    if (!doc) {
        e = json_pack("{s:s,s:s,s:s}", "name", name, "version", version, "error", err.msg);
    } else {
        e = json_deep_copy(json_object_get(doc, "payload"));
        json_decref(doc);
    }
    json_t *chs = sg_mstore_load_channels(c->s, name, NULL, &err);
    json_t *mine = json_array();
    const char *ch;
    json_t *cv;
    json_object_foreach(chs, ch, cv)
    {
        const char *v = json_string_value(json_object_get(cv, "version"));
        if (v && strcmp(v, version) == 0)
            json_array_append_new(mine, json_string(ch));
    }
    if (!chs)
        json_object_set_new(e, "channels_error", json_string(err.msg));
    json_decref(chs);
    json_object_set_new(e, "channels", mine);
    json_array_append_new(c->out, e);
    return 0;
}

int sg_model_list(struct sg_model_store *s, json_t **out, struct sg_error *err)
{
    struct list_ctx c = {s, json_array()};
    if (!c.out)
        return sg_error_set(err, SG_ENOMEM, "out of memory");
    visit(s, NULL, list_one, &c);
    *out = c.out;
    return 0;
}

/* ---- channel histories ---- */

/* A channel entry's history: "history" (the versions, oldest first) and, written since
 * histories are pinned, "history_manifests" beside it: per entry the digest of the manifest
 * the channel served while it pointed at that version (null: an entry without a pin, one
 * written before pins, which rollback resolves by version alone as it always did). Two
 * lists, not one of objects, so that an older `sovgate model` still reads the versions (and
 * drops the pins when it rewrites the entry, so that they never fall out of step). Checks
 * both; `*hist` and `*pins` (borrowed; pins NULL when there are none) get them. */
static int check_history(json_t *entry, const char *name, const char *channel, json_t **hist,
                         json_t **pins, struct sg_error *err)
{
    json_t *h = json_object_get(entry, "history");
    json_t *p = json_object_get(entry, "history_manifests");
    *hist = *pins = NULL;
    if (h && !json_is_array(h))
        return sg_error_set(err, SG_EINVAL,
                            "channels of %s: channel %s: damaged history (not a list)", name,
                            channel);
    size_t i, n = json_array_size(h);
    json_t *e;
    json_array_foreach(h, i, e)
    {
        if (!json_is_string(e) || !sg_model_name_ok(json_string_value(e)))
            return sg_error_set(err, SG_EINVAL,
                                "channels of %s: channel %s: damaged history (entry %zu of %zu "
                                "is not a version)",
                                name, channel, i + 1, n);
    }
    if (p && !json_is_array(p))
        return sg_error_set(err, SG_EINVAL,
                            "channels of %s: channel %s: damaged history pins (history_manifests "
                            "is not a list)",
                            name, channel);
    if (p && json_array_size(p) != n)
        return sg_error_set(err, SG_EINVAL,
                            "channels of %s: channel %s: damaged history pins (%zu of them for "
                            "%zu history entries)",
                            name, channel, json_array_size(p), n);
    json_array_foreach(p, i, e)
    {
        char hex[SG_MODEL_DIGEST_HEX + 1];
        struct sg_error e2 = {0};
        if (json_is_null(e))
            continue;
        if (!json_is_string(e))
            return sg_error_set(err, SG_EINVAL,
                                "channels of %s: channel %s: damaged history pin %zu of %zu "
                                "(version %s): not a manifest digest (a string of 64 lower-case "
                                "hex digits) or null",
                                name, channel, i + 1, n, json_string_value(json_array_get(h, i)));
        if (sg_model_digest_parse(json_string_value(e), hex, &e2) != 0)
            return sg_error_set(err, SG_EINVAL,
                                "channels of %s: channel %s: damaged history pin %zu of %zu "
                                "(version %s): %s",
                                name, channel, i + 1, n, json_string_value(json_array_get(h, i)),
                                e2.msg);
    }
    *hist = h;
    *pins = p;
    return 0;
}

/* The pin of history entry `i` (NULL: none). */
static const char *history_pin(json_t *pins, size_t i)
{
    return json_string_value(json_array_get(pins, i));
}

/* Whether history entry `i` (`version`, pinned to `pin` or not) can be rolled back to: its
 * manifest verifies and, when pinned, is the one pinned. `mhex` gets its digest. */
static int check_history_entry(struct sg_model_store *s, const char *name, const char *channel,
                               const char *version, const char *pin, char mhex[65],
                               struct sg_error *err)
{
    json_t *doc = sg_mstore_load_manifest(s, name, version, err);
    if (!doc)
        return err && err->code ? err->code : SG_EINVAL;
    int rc = sg_mstore_manifest_digest(doc, mhex);
    json_decref(doc);
    if (rc)
        return sg_error_set(err, rc, "out of memory");
    if (pin && strcmp(pin, mhex) != 0)
        return sg_error_set(err, SG_ECRYPTO,
                            "manifest %s %s is sha256:%s, not sha256:%s, the one channel %s "
                            "served when it left that version (pinned in its history): another "
                            "signed manifest under that version (a file put back?)",
                            name, version, mhex, pin, channel);
    return 0;
}

/* ---- verify ---- */

/* Checks the blob a payload names: size and SHA-256 of the stored bytes; with `key` for
 * encrypted weights the chunks and the plaintext's SHA-256; with `outfd` >= 0 the
 * plaintext is written there (encrypted weights only). `fd_io` (may be NULL) gets the
 * open blob (plaintext weights: checked through it). */
static int check_blob(struct sg_model_store *s, json_t *p, const uint8_t *key, int outfd,
                      bool hash_blob, int *fd_io, struct sg_error *err)
{
    json_t *blob = json_object_get(p, "blob"), *w = json_object_get(p, "weights");
    const char *bhex = json_string_value(json_object_get(blob, "sha256"));
    const char *whex = json_string_value(json_object_get(w, "sha256"));
    json_int_t bsize = json_integer_value(json_object_get(blob, "size"));
    json_t *enc = json_object_get(blob, "encryption");
    uint8_t bsha[32], wsha[32], got[32];
    if (!bhex || !whex || sg_hex_decode(bhex, strlen(bhex), bsha, 32) != 0 ||
        sg_hex_decode(whex, strlen(whex), wsha, 32) != 0)
        return sg_error_set(err, SG_EINVAL, "the manifest names no blob");
    char path[PATH_MAX], what[96];
    sg_mstore_path(s, path, sizeof(path), "blobs/sha256/%s", bhex);
    snprintf(what, sizeof(what), "the weights blob sha256:%.16s...", bhex);
    int fd = sg_mstore_open_read(path, what, err); /* no symbolic link, a regular file */
    if (fd < 0)
        return fd;
    struct stat st;
    int rc = 0;
    uint64_t n = 0;
    if (fstat(fd, &st) != 0) {
        rc = sg_error_set(err, SG_EIO, "%s: fstat: %s", what, strerror(errno));
    } else if ((json_int_t)st.st_size != bsize) {
        rc = sg_error_set(err, SG_EINVAL,
                          "the weights blob has %lld bytes, the manifest says %lld (truncated "
                          "or replaced)",
                          (long long)st.st_size, (long long)bsize);
    } else if (json_is_object(enc) && key) {
        char kid[17];
        const char *want = json_string_value(json_object_get(enc, "key_id"));
        sg_model_enc_key_id(key, kid);
        if (want && strcmp(want, kid) != 0)
            rc = sg_error_set(err, SG_ECRYPTO,
                              "wrong encryption key: the weights were encrypted with key %.16s, "
                              "this key is %s",
                              want, kid);
        else if (!(rc = sg_mstore_decrypt_fd(fd, key, outfd, got, &n, err)) &&
                 !sg_ct_equal(got, wsha, 32))
            rc = sg_error_set(err, SG_ECRYPTO,
                              "the decrypted weights' SHA-256 does not match the manifest");
    } else if (json_is_object(enc) && outfd >= 0) {
        rc = sg_error_set(err, SG_EINVAL, "the weights are encrypted: an encryption key is needed");
    } else if (hash_blob || !json_is_object(enc)) {
        if (!(rc = sg_mstore_hash_fd(fd, got, &n, err)) && !sg_ct_equal(got, bsha, 32))
            rc = sg_error_set(err, SG_ECRYPTO,
                              "the weights' SHA-256 does not match the signed manifest "
                              "(the weights were changed)");
    }
    if (!rc && fd_io) {
        *fd_io = fd;
        return 0;
    }
    close(fd);
    return rc;
}

int sg_mstore_check_blob(struct sg_model_store *s, json_t *payload, int *fd, struct sg_error *err)
{
    *fd = -1;
    return check_blob(s, payload, NULL, -1, true, fd, err);
}

struct verify_ctx {
    struct sg_model_store *s;
    const uint8_t *key;
    sg_model_report_fn fn;
    void *arg;
    int first;
    size_t count;
};

static int verify_one(void *arg, const char *name, const char *version)
{
    struct verify_ctx *c = arg;
    struct sg_error err = {0};
    int rc = 0;
    json_t *doc = sg_mstore_load_manifest(c->s, name, version, &err);
    if (!doc)
        rc = err.code ? err.code : SG_EINVAL;
    else
        rc = check_blob(c->s, json_object_get(doc, "payload"), c->key, -1, true, NULL, &err);
    json_decref(doc);
    c->count++;
    if (rc && !c->first)
        c->first = rc;
    if (c->fn)
        c->fn(c->arg, name, version, rc, rc ? err.msg : "ok");
    return 0;
}

/* A channel's history as rollback would take it: well formed, every version's manifest
 * verifies, and a pinned entry's manifest is the one pinned. One report per failure. */
static void verify_history(struct sg_model_store *s, const char *name, const char *channel,
                           json_t *entry, struct verify_ctx *c)
{
    char what[SG_MODEL_NAME_MAX + 24];
    snprintf(what, sizeof(what), "(channel %s, history)", channel);
    json_t *hist, *pins;
    struct sg_error e2 = {0};
    int rc = check_history(entry, name, channel, &hist, &pins, &e2);
    size_t n = json_array_size(hist);
    for (size_t i = 0; !rc && i < n; i++) {
        const char *v = json_string_value(json_array_get(hist, i));
        char mhex[65], msg[sizeof(e2.msg)];
        memset(&e2, 0, sizeof(e2));
        int r2 = check_history_entry(s, name, channel, v, history_pin(pins, i), mhex, &e2);
        if (!r2)
            continue;
        if (!c->first)
            c->first = r2;
        snprintf(msg, sizeof(msg), "entry %zu of %zu, version %s: %s", i + 1, n, v, e2.msg);
        if (c->fn)
            c->fn(c->arg, name, what, r2, msg);
    }
    if (!rc)
        return;
    if (!c->first)
        c->first = rc;
    if (c->fn)
        c->fn(c->arg, name, what, rc, e2.msg);
}

int sg_model_verify(struct sg_model_store *s, const char *name, const char *version,
                    const uint8_t *enc_key, sg_model_report_fn fn, void *arg, struct sg_error *err)
{
    struct verify_ctx c = {s, enc_key, fn, arg, 0, 0};
    if (name && version) {
        verify_one(&c, name, version);
    } else {
        visit(s, name, verify_one, &c);
        if (name && c.count == 0)
            return sg_error_set(err, SG_ENOTFOUND, "no model %s in the store", name);
    }
    /* Channels. */
    char p[PATH_MAX];
    size_t nn = 0;
    sg_mstore_path(s, p, sizeof(p), "channels");
    char **names = list_dir(p, ".json", &nn);
    for (size_t i = 0; i < nn; i++) {
        if (name && strcmp(name, names[i]) != 0)
            continue;
        struct sg_error e2 = {0};
        json_t *ch = sg_mstore_load_channels(s, names[i], NULL, &e2);
        if (!ch) {
            if (!c.first)
                c.first = e2.code ? e2.code : SG_EINVAL;
            if (fn)
                fn(arg, names[i], "(channels)", e2.code ? e2.code : SG_EINVAL, e2.msg);
        }
        /* Every channel as the gateway resolves it: its version's manifest exists, verifies
         * and is the one the channel pins. */
        const char *cn;
        json_t *cv;
        json_object_foreach(ch, cn, cv)
        {
            char ref[2 * SG_MODEL_NAME_MAX + 2], what[SG_MODEL_NAME_MAX + 12];
            json_t *rp = NULL;
            snprintf(ref, sizeof(ref), "%s@%s", names[i], cn);
            snprintf(what, sizeof(what), "(channel %s)", cn);
            memset(&e2, 0, sizeof(e2));
            int rc = sg_model_name_ok(cn) ? sg_model_resolve(s, ref, &rp, NULL, &e2)
                                          : sg_error_set(&e2, SG_EINVAL, "invalid channel name");
            json_decref(rp);
            if (rc && !c.first)
                c.first = rc;
            if (rc && fn)
                fn(arg, names[i], what, rc, e2.msg);
            if (sg_model_name_ok(cn))
                verify_history(s, names[i], cn, cv, &c);
        }
        json_decref(ch);
    }
    sg_mstore_names_free(names, nn);
    if (c.first)
        return sg_error_set(err, c.first, "the store does not verify");
    return 0;
}

/* ---- channels ---- */

/* Sets `channel` of the channel file `chs` (owned: freed here) to `version`, its manifest's
 * digest `mhex`, the history `nh` and its pins `np` (both stolen; NULL when they could not
 * be made) and saves the file over `base`. Returns 0 or an error. */
static int save_entry(struct sg_model_store *s, const char *name, json_t *chs, const char *channel,
                      const char *version, const char *mhex, json_t *nh, json_t *np,
                      const struct sg_model_chanver *base, struct sg_model_chanver *out,
                      struct sg_error *err)
{
    json_t *entry = nh && np ? json_pack("{s:s,s:s,s:o,s:o}", "version", version, "manifest", mhex,
                                         "history", nh, "history_manifests", np)
                             : NULL;
    if (!entry) {
        json_decref(chs);
        return sg_error_set(err, SG_ENOMEM, "out of memory");
    }
    json_object_set_new(chs, channel, entry);
    int rc = sg_mstore_save_channels(s, name, chs, base, out, err);
    json_decref(chs);
    return rc;
}

int sg_model_promote(struct sg_model_store *s, const char *name, const char *version,
                     const char *channel, struct sg_error *err)
{
    if (!sg_model_name_ok(channel))
        return sg_error_set(err, SG_EINVAL, "invalid channel name");
    int rc = sg_mstore_lock(s, err);
    if (rc)
        return rc;
    json_t *doc = sg_mstore_load_manifest(s, name, version, err);
    if (!doc)
        return err && err->code ? err->code : SG_EINVAL;
    char mhex[65];
    rc = sg_mstore_manifest_digest(doc, mhex);
    json_decref(doc);
    if (rc)
        return sg_error_set(err, rc, "out of memory");
    struct sg_model_chanver ver, nv;
    json_t *chs = sg_mstore_load_channels(s, name, &ver, err);
    if (!chs)
        return err && err->code ? err->code : SG_EINVAL;
    json_t *c = json_object_get(chs, channel);
    const char *prev = json_string_value(json_object_get(c, "version"));
    const char *pin = json_string_value(json_object_get(c, "manifest"));
    /* Already there: unless the version's manifest is another one than the channel pins
     * (a version imported again after a remove), then the channel is pinned anew. */
    if (prev && strcmp(prev, version) == 0 && pin && strcmp(pin, mhex) == 0) {
        json_decref(chs);
        return 0; /* already there */
    }
    json_t *hist, *pins;
    if ((rc = check_history(c, name, channel, &hist, &pins, err))) {
        json_decref(chs);
        return rc;
    }
    /* The history's versions and, beside them, their manifests' digests (null for entries
     * from before pins: a channel file written by an older version). */
    json_t *nh = hist ? json_deep_copy(hist) : json_array();
    json_t *np = pins ? json_deep_copy(pins) : json_array();
    while (np && json_array_size(np) < json_array_size(nh))
        json_array_append_new(np, json_null());
    char prev_copy[SG_MODEL_NAME_MAX + 1] = "";
    if (prev && strcmp(prev, version) == 0)
        prev = NULL; /* re-pinned in place: no history entry of itself */
    if (prev && nh && np) {
        snprintf(prev_copy, sizeof(prev_copy), "%s", prev);
        /* The manifest the channel served: its pin; for an entry from before pins, the
         * manifest under that version now (when it verifies), so that rollback pins it. */
        char phex[65] = "";
        struct sg_error e2 = {0};
        if (pin && strlen(pin) == 64)
            snprintf(phex, sizeof(phex), "%s", pin);
        else if (!pin && check_history_entry(s, name, channel, prev, NULL, phex, &e2) != 0)
            phex[0] = '\0';
        json_array_append_new(nh, json_string(prev));
        json_array_append_new(np, phex[0] ? json_string(phex) : json_null());
        while (json_array_size(nh) > 32) {
            json_array_remove(nh, 0);
            json_array_remove(np, 0);
        }
    }
    /* The channel names the manifest's digest too, not only its version, and so does every
     * entry of its history (docs/models.md). */
    if ((rc = save_entry(s, name, chs, channel, version, mhex, nh, np, &ver, &nv, err)))
        return rc;
    rc = sg_mstore_audit(s, "model.promote",
                         json_pack("{s:s,s:s,s:s,s:s?}", "name", name, "version", version,
                                   "channel", channel, "previous", prev_copy[0] ? prev_copy : NULL),
                         err);
    return sg_mstore_signer_note(s, name, &nv, rc, err);
}

int sg_model_rollback(struct sg_model_store *s, const char *name, const char *channel,
                      struct sg_model_rollback_result *res, struct sg_error *err)
{
    if (res)
        memset(res, 0, sizeof(*res));
    if (!sg_model_name_ok(name) || !sg_model_name_ok(channel))
        return sg_error_set(err, SG_EINVAL, "invalid model or channel name");
    int rc = sg_mstore_lock(s, err);
    if (rc)
        return rc;
    struct sg_model_chanver ver, nv;
    json_t *chs = sg_mstore_load_channels(s, name, &ver, err);
    if (!chs)
        return err && err->code ? err->code : SG_EINVAL;
    json_t *c = json_object_get(chs, channel);
    const char *cur = json_string_value(json_object_get(c, "version"));
    json_t *hist, *pins;
    if ((rc = check_history(c, name, channel, &hist, &pins, err))) {
        json_decref(chs);
        return rc;
    }
    size_t hn = json_array_size(hist);
    if (!cur || hn == 0) {
        json_decref(chs);
        return sg_error_set(err, SG_ENOTFOUND, "channel %s of %s has no earlier version", channel,
                            name);
    }
    char prev[SG_MODEL_NAME_MAX + 1], from[SG_MODEL_NAME_MAX + 1], pin[65] = "";
    snprintf(prev, sizeof(prev), "%s", json_string_value(json_array_get(hist, hn - 1)));
    snprintf(from, sizeof(from), "%s", cur);
    if (history_pin(pins, hn - 1))
        snprintf(pin, sizeof(pin), "%s", history_pin(pins, hn - 1));
    /* The manifest under the previous version must verify and, when the history pins it
     * (every entry promote wrote since histories are pinned), be the one the channel served
     * then: another genuinely signed manifest put under that version is refused, and
     * nothing is changed. An entry from before pins is resolved by version alone. */
    char mhex[65];
    if ((rc = check_history_entry(s, name, channel, prev, pin[0] ? pin : NULL, mhex, err))) {
        json_decref(chs);
        return rc;
    }
    json_t *nh = json_deep_copy(hist);
    json_t *np = pins ? json_deep_copy(pins) : json_array();
    json_array_remove(nh, hn - 1);
    if (pins)
        json_array_remove(np, hn - 1);
    else /* from now on the entry has pins: none for the entries from before them */
        while (np && json_array_size(np) < json_array_size(nh))
            json_array_append_new(np, json_null());
    if ((rc = save_entry(s, name, chs, channel, prev, mhex, nh, np, &ver, &nv, err)))
        return rc;
    if (res) {
        snprintf(res->version, sizeof(res->version), "%s", prev);
        snprintf(res->manifest, sizeof(res->manifest), "%s", mhex);
        res->unpinned = !pin[0];
    }
    rc = sg_mstore_audit(s, "model.rollback",
                         json_pack("{s:s,s:s,s:s,s:s,s:s,s:b}", "name", name, "channel", channel,
                                   "version", prev, "from", from, "manifest", mhex, "pinned",
                                   pin[0] != 0),
                         err);
    return sg_mstore_signer_note(s, name, &nv, rc, err);
}

/* ---- remove ---- */

int sg_model_remove(struct sg_model_store *s, const char *name, const char *version,
                    struct sg_error *err)
{
    /* The names become paths: checked before anything is looked up or removed. */
    if (!sg_model_name_ok(name) || !sg_model_name_ok(version))
        return sg_error_set(err, SG_EINVAL,
                            "invalid model name or version (1 to 64 of A-Z a-z 0-9 . _ -, not "
                            "starting with . or -)");
    int rc = sg_mstore_lock(s, err);
    if (rc)
        return rc;
    /* Only a manifest that verifies is removed (its blob is known from it). */
    json_t *doc = sg_mstore_load_manifest(s, name, version, err);
    if (!doc)
        return err && err->code ? err->code : SG_EINVAL;
    json_t *chs = sg_mstore_load_channels(s, name, NULL, err);
    if (!chs) {
        json_decref(doc);
        return err && err->code ? err->code : SG_EINVAL;
    }
    const char *ch;
    json_t *cv;
    json_object_foreach(chs, ch, cv)
    {
        const char *v = json_string_value(json_object_get(cv, "version"));
        bool in_hist = false;
        size_t i;
        json_t *h;
        json_array_foreach(json_object_get(cv, "history"), i,
                           h) if (json_string_value(h) &&
                                  strcmp(json_string_value(h), version) == 0) in_hist = true;
        if ((v && strcmp(v, version) == 0) || in_hist) {
            rc =
                sg_error_set(err, SG_EEXIST,
                             "model %s version %s is %s of channel %s: promote another version "
                             "first",
                             name, version, in_hist ? "in the rollback history" : "the target", ch);
            json_decref(chs);
            json_decref(doc);
            return rc;
        }
    }
    json_decref(chs);
    char blob[65] = "";
    const char *b = json_string_value(
        json_object_get(json_object_get(json_object_get(doc, "payload"), "blob"), "sha256"));
    uint8_t braw[32];
    if (b && strlen(b) == 64 && sg_hex_decode(b, 64, braw, 32) == 0) /* a file name, no path */
        sg_hex_encode(braw, 32, blob); /* lower case, as blobs are named */
    json_decref(doc);
    char p[PATH_MAX], dir[PATH_MAX];
    sg_mstore_path(s, p, sizeof(p), "manifests/%s/%s.json", name, version);
    sg_mstore_path(s, dir, sizeof(dir), "manifests/%s", name);
    if (unlink(p) != 0)
        return sg_error_set(err, SG_EIO, "cannot remove %s: %s", p, strerror(errno));
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    rmdir(dir); /* when it was the last version */
    bool blob_removed = false;
    /* the blob goes when no manifest file names it any more: gc's answer (a manifest
     * that does not verify with this key, one signed before a key rotation, keeps it too) */
    if (blob[0] && !sg_mstore_blob_named(s, blob)) {
        sg_mstore_path(s, p, sizeof(p), "blobs/sha256/%s", blob);
        blob_removed = unlink(p) == 0;
    }
    return sg_mstore_audit(s, "model.remove",
                           json_pack("{s:s,s:s,s:s,s:b}", "name", name, "version", version, "blob",
                                     blob, "blob_removed", blob_removed),
                           err);
}

/* ---- loading ---- */

int sg_model_resolve(struct sg_model_store *s, const char *ref, json_t **payload,
                     struct sg_model_chanver *chan, struct sg_error *err)
{
    *payload = NULL;
    if (chan)
        memset(chan, 0, sizeof(*chan));
    char name[SG_MODEL_NAME_MAX + 1], ver[SG_MODEL_NAME_MAX + 1];
    const char *at = strchr(ref, '@'), *colon = strchr(ref, ':');
    const char *sep = at ? at : colon;
    if (!sep || (size_t)(sep - ref) > SG_MODEL_NAME_MAX || strlen(sep + 1) > SG_MODEL_NAME_MAX)
        return sg_error_set(err, SG_EINVAL,
                            "model reference must be name@channel or "
                            "name:version");
    snprintf(name, sizeof(name), "%.*s", (int)(sep - ref), ref);
    snprintf(ver, sizeof(ver), "%s", sep + 1);
    if (!sg_model_name_ok(name) || !sg_model_name_ok(ver))
        return sg_error_set(err, SG_EINVAL, "invalid model reference");
    char channel[SG_MODEL_NAME_MAX + 1] = "", pin[65] = "";
    if (at) {
        json_t *chs = sg_mstore_load_channels(s, name, chan, err);
        if (!chs)
            return err && err->code ? err->code : SG_EINVAL;
        json_t *c = json_object_get(chs, ver);
        const char *v = json_string_value(json_object_get(c, "version"));
        json_t *m = json_object_get(c, "manifest");
        if (!v) {
            json_decref(chs);
            return sg_error_set(err, SG_ENOTFOUND,
                                "model %s has no channel %s (promote a "
                                "version to it)",
                                name, ver);
        }
        if (m && (!json_is_string(m) || strlen(json_string_value(m)) != 64)) {
            json_decref(chs);
            return sg_error_set(err, SG_EINVAL, "channels of %s: damaged payload (channel %s)",
                                name, ver);
        }
        snprintf(channel, sizeof(channel), "%s", ver);
        snprintf(ver, sizeof(ver), "%s", v);
        if (m) /* files written before channels pinned manifests have none */
            snprintf(pin, sizeof(pin), "%s", json_string_value(m));
        json_decref(chs);
    }
    json_t *doc = sg_mstore_load_manifest(s, name, ver, err);
    if (!doc)
        return err && err->code ? err->code : SG_EINVAL;
    if (pin[0]) {
        /* The channel pins the manifest it was pointed at: another genuinely signed
         * manifest under the same version (one removed and imported again, its old file
         * put back) is not it. */
        char mhex[65];
        int rc = sg_mstore_manifest_digest(doc, mhex);
        if (rc || strcmp(mhex, pin) != 0) {
            json_decref(doc);
            if (chan)
                memset(chan, 0, sizeof(*chan));
            return rc ? sg_error_set(err, rc, "out of memory")
                      : sg_error_set(err, SG_ECRYPTO,
                                     "manifest %s %s is not the one promoted to channel %s "
                                     "(another signed manifest under that version: a file "
                                     "put back?)",
                                     name, ver, channel);
        }
    }
    *payload = json_incref(json_object_get(doc, "payload"));
    json_decref(doc);
    return 0;
}

int sg_model_open_weights(struct sg_model_store *s, json_t *payload, const uint8_t *enc_key,
                          int *fd, struct sg_error *err)
{
    *fd = -1;
    json_t *enc = json_object_get(json_object_get(payload, "blob"), "encryption");
    if (!json_is_object(enc))
        return check_blob(s, payload, NULL, -1, true, fd, err);
    if (!enc_key)
        return sg_error_set(err, SG_EINVAL,
                            "the weights are encrypted: an encryption key is needed "
                            "(models.encryption_key)");
    int mfd = memfd_create("sovgate-model", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (mfd < 0)
        return sg_error_set(err, SG_EIO, "memfd_create: %s", strerror(errno));
    int rc = check_blob(s, payload, enc_key, mfd, false, NULL, err);
    if (!rc &&
        fcntl(mfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) != 0)
        rc = sg_error_set(err, SG_EIO, "cannot seal the decrypted weights: %s", strerror(errno));
    if (!rc && lseek(mfd, 0, SEEK_SET) != 0)
        rc = sg_error_set(err, SG_EIO, "lseek: %s", strerror(errno));
    if (rc) {
        close(mfd);
        return rc;
    }
    *fd = mfd;
    return 0;
}

/* Whether the verified manifest `p` is the one pinned by digest (`want`, parsed). */
static int check_pin(json_t *p, const char *want, struct sg_error *err)
{
    char got[SG_MODEL_DIGEST_HEX + 1];
    int rc = sg_model_manifest_sha256(p, got);
    if (rc)
        return sg_error_set(err, rc, "cannot compute the manifest's digest");
    if (strcmp(got, want) == 0)
        return 0;
    const char *n = json_string_value(json_object_get(p, "name"));
    const char *v = json_string_value(json_object_get(p, "version"));
    return sg_error_set(err, SG_ECRYPTO,
                        "manifest %s %s is sha256:%s, not the one pinned by --manifest-sha256 "
                        "(sha256:%s): another signed manifest under that version (one put "
                        "back after the channel was resolved?)",
                        n ? n : "?", v ? v : "?", got, want);
}

int sg_model_open_ref(const char *root, const char *ref, const char *pubkey_ref,
                      const char *enc_ref, const char *manifest_sha256, int *fd, json_t **payload,
                      struct sg_error *err)
{
    *fd = -1;
    if (payload)
        *payload = NULL;
    char pin[SG_MODEL_DIGEST_HEX + 1];
    int rc;
    if (manifest_sha256 && (rc = sg_model_digest_parse(manifest_sha256, pin, err)))
        return rc;
    uint8_t pub[32], key[SG_MENC_KEY_LEN];
    if ((rc = sg_model_key_load(pubkey_ref, NULL, false, pub, err)))
        return rc;
    if (enc_ref && enc_ref[0] && (rc = sg_menc_key_load(enc_ref, NULL, key, err)))
        return rc;
    struct sg_model_store_opts o = {.root = root, .public_key = pub, .audit_path = ""};
    struct sg_model_store *s = NULL;
    json_t *p = NULL;
    /* The pin is checked on the manifest resolved (signature verified), before any weights
     * are read or decrypted. */
    if (!(rc = sg_model_store_open(&o, &s, err)) &&
        !(rc = sg_model_resolve(s, ref, &p, NULL, err)) &&
        !(rc = manifest_sha256 ? check_pin(p, pin, err) : 0))
        rc = sg_model_open_weights(s, p, enc_ref && enc_ref[0] ? key : NULL, fd, err);
    sg_secure_zero(key, sizeof(key));
    sg_model_store_free(s);
    if (!rc && payload)
        *payload = p;
    else
        json_decref(p);
    return rc;
}
