/* The model store's garbage collection (see model.h, docs/models.md "Orphaned blobs"):
 * removes the blobs that no manifest names (an import or pull that stopped between storing
 * its weights and writing its manifest: a crash, kill -9, power loss) and what failed
 * changes left in tmp/, under the store's lock. The same scan, removing nothing, is what
 * `model verify` reports as orphans (sg_model_orphans): one answer to "what does a manifest
 * name", not two.
 *
 * Why the lock makes this safe: an import or pull takes the lock exclusively before its
 * blob enters blobs/sha256/ and holds it until the manifest that names the blob is written
 * (the blob is copied under tmp/ or downloaded under partial/ first, fsynced, renamed into
 * blobs/sha256/, the folder fsynced, then the manifest written). So while gc holds the lock
 * no change is half done: a blob that no manifest names then is one whose change died.
 *
 * What it touches: only entries of blobs/sha256/ whose name is a blob's (64 lower-case hex
 * digits) and that are regular files (checked without following a link, removed with
 * unlinkat in the folder opened, which never follows a link either), entries of tmp/ that
 * are not folders, and with `partial` the regular files in partial/. Everything else is
 * reported and left alone. A manifest file that cannot be read, or that names no blob,
 * stops it before anything is removed (it may name any blob). */
#include "model/model_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- the blobs the manifests name ---- */

struct refs {
    char (*v)[SG_MODEL_DIGEST_HEX + 1];
    size_t n, cap;
};

static int refs_add(struct refs *r, const char *hex)
{
    if (strlen(hex) != SG_MODEL_DIGEST_HEX)
        return 0; /* names nothing that gc would remove */
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 64;
        void *nv = realloc(r->v, cap * sizeof(*r->v));
        if (!nv)
            return SG_ENOMEM;
        r->v = nv;
        r->cap = cap;
    }
    for (size_t i = 0; i <= SG_MODEL_DIGEST_HEX; i++) /* lower case: as blobs are named */
        r->v[r->n][i] = (char)(hex[i] >= 'A' && hex[i] <= 'F' ? hex[i] - 'A' + 'a' : hex[i]);
    r->n++;
    return 0;
}

static int cmp_ref(const void *a, const void *b)
{
    return strcmp((const char *)a, (const char *)b);
}

static bool refs_has(const struct refs *r, const char *hex)
{
    return r->n && bsearch(hex, r->v, r->n, sizeof(*r->v), cmp_ref) != NULL;
}

/* A file name as it may be printed: bytes outside printable ASCII become '?' (a hostile
 * name must not reach a terminal), at most 80 of them. */
static void printable(const char *in, char *out, size_t cap)
{
    size_t i = 0;
    for (; in[i] && i + 4 < cap && i < 80; i++)
        out[i] = in[i] > 0x20 && in[i] < 0x7f ? in[i] : '?';
    if (in[i] && i + 4 < cap) {
        memcpy(out + i, "...", 3);
        i += 3;
    }
    out[i] = '\0';
}

static bool is_blob_name(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++)
        if (!((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f')))
            return false;
    return n == SG_MODEL_DIGEST_HEX;
}

/* What a scan that stops says happened, and which command to run again: gc's ("nothing was
 * removed", "gc") or verify's. */
struct stop {
    const char *outcome, *cmd;
};

/* Reads one manifest file (without following a link, a regular file of at most 1 MiB) and
 * adds the blob it names. The signature is not checked: a manifest that does not verify
 * with this key (one signed before a key rotation) keeps its blob, as with `remove`. */
static int read_ref(const char *path, const char *dname, const char *fname, struct refs *r,
                    const struct stop *sp, struct sg_error *err)
{
    char pd[96], pf[96], what[256];
    printable(dname, pd, sizeof(pd));
    printable(fname, pf, sizeof(pf));
    snprintf(what, sizeof(what), "manifests/%s/%s", pd, pf);
    char *data = NULL;
    size_t len = 0;
    struct sg_error e2 = {0};
    if (sg_mstore_read_file(path, SG_MSTORE_DOC_MAX, what, &data, &len, &e2) != 0)
        return sg_error_set(err, SG_EINVAL,
                            "%s cannot be read (%s): %s (a manifest that cannot be read may name "
                            "any blob: look at it, repair or remove it, and run %s again)",
                            what, e2.msg, sp->outcome, sp->cmd);
    json_t *doc = json_loadb(data, len, 0, NULL);
    free(data);
    const char *b = json_string_value(
        json_object_get(json_object_get(json_object_get(doc, "payload"), "blob"), "sha256"));
    int rc = 0;
    if (!doc)
        rc = sg_error_set(err, SG_EINVAL,
                          "%s is not JSON: %s (a manifest that cannot be read may name any blob: "
                          "look at it, repair or remove it, and run %s again)",
                          what, sp->outcome, sp->cmd);
    else if (!b)
        rc = sg_error_set(err, SG_EINVAL,
                          "%s names no blob (it is not a manifest: payload.blob.sha256): %s (look "
                          "at it, repair or remove it, and run %s again)",
                          what, sp->outcome, sp->cmd);
    else if (refs_add(r, b) != 0)
        rc = sg_error_set(err, SG_ENOMEM, "out of memory");
    json_decref(doc);
    return rc;
}

/* Every manifests/<folder>/<file>.json, whatever its name (the store reads only valid
 * names, but a file it would not read still keeps what it names: nothing is deleted on a
 * guess). Folders are followed as the operator set them up (a link to a folder too). */
static int collect_refs(struct sg_model_store *s, struct refs *r, const struct stop *sp,
                        struct sg_error *err)
{
    char top[PATH_MAX];
    sg_mstore_path(s, top, sizeof(top), "manifests");
    DIR *d = opendir(top);
    if (!d)
        return sg_error_set(err, SG_EIO, "cannot read %s: %s: %s", top, strerror(errno),
                            sp->outcome);
    int rc = 0;
    errno = 0;
    for (struct dirent *de; !rc && (de = readdir(d)); errno = 0) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        char sub[PATH_MAX];
        struct stat st;
        if (snprintf(sub, sizeof(sub), "%s/%s", top, de->d_name) >= (int)sizeof(sub)) {
            rc = sg_error_set(err, SG_ETOOBIG, "a path under %s is too long", top);
            break;
        }
        if (stat(sub, &st) != 0 || !S_ISDIR(st.st_mode))
            continue; /* not a model's folder: the store reads none there */
        DIR *vd = opendir(sub);
        if (!vd) {
            char pd[96];
            printable(de->d_name, pd, sizeof(pd));
            rc = sg_error_set(err, SG_EIO, "cannot read manifests/%s: %s: %s", pd, strerror(errno),
                              sp->outcome);
            break;
        }
        errno = 0;
        for (struct dirent *ve; !rc && (ve = readdir(vd)); errno = 0) {
            size_t l = strlen(ve->d_name);
            if (l < 5 || strcmp(ve->d_name + l - 5, ".json") != 0)
                continue;
            char f[PATH_MAX];
            if (snprintf(f, sizeof(f), "%s/%s", sub, ve->d_name) >= (int)sizeof(f))
                rc = sg_error_set(err, SG_ETOOBIG, "a path under %s is too long", sub);
            else
                rc = read_ref(f, de->d_name, ve->d_name, r, sp, err);
        }
        if (!rc && errno)
            rc = sg_error_set(err, SG_EIO, "cannot read %s: %s: %s", sub, strerror(errno),
                              sp->outcome);
        closedir(vd);
    }
    if (!rc && errno)
        rc = sg_error_set(err, SG_EIO, "cannot read %s: %s: %s", top, strerror(errno), sp->outcome);
    closedir(d);
    if (!rc && r->n)
        qsort(r->v, r->n, sizeof(*r->v), cmp_ref);
    return rc;
}

bool sg_mstore_blob_named(struct sg_model_store *s, const char *hex)
{
    static const struct stop sp = {"", ""};
    struct refs r = {0};
    struct sg_error err = {0};
    bool named = collect_refs(s, &r, &sp, &err) != 0 || refs_has(&r, hex);
    free(r.v);
    return named;
}

/* ---- the folders gc looks into ---- */

/* The entries of a folder (opened as `*dfd`, following the folder's own link as the
 * operator set it up), sorted; NULL with *n = 0 and *dfd = -1 when it does not exist. */
static char **entries(const char *path, int *dfd, size_t *n, struct sg_error *err, int *rc)
{
    *n = 0;
    *rc = 0;
    *dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (*dfd < 0) {
        if (errno != ENOENT)
            *rc = sg_error_set(err, SG_EIO, "cannot read %s: %s", path, strerror(errno));
        return NULL;
    }
    char **v = sg_mstore_names_at(*dfd, NULL, true, n, rc);
    if (*rc)
        *rc = sg_error_set(err, *rc, "cannot read %s: %s", path,
                           *rc == SG_ENOMEM ? "out of memory" : strerror(errno));
    return v;
}

/* ---- one run ---- */

struct gc_run {
    const struct sg_model_gc_opts *o;
    sg_model_gc_fn fn;
    void *arg;
    struct sg_model_gc_stats *st;
    json_t *removed; /* for the audit record */
    int failed;      /* the first removal that failed */
};

static void report(struct gc_run *g, enum sg_model_gc_action a, const char *folder,
                   const char *name, uint64_t bytes, const char *why)
{
    char pn[96], file[128];
    printable(name, pn, sizeof(pn));
    snprintf(file, sizeof(file), "%s/%s", folder, pn);
    if (a == SG_MODEL_GC_REMOVED && json_array_size(g->removed) < 256)
        json_array_append_new(g->removed, json_string(file));
    if (g->fn)
        g->fn(g->arg, a, file, bytes, why);
}

/* Removes (a dry run: would remove) entry `name` of the folder open as `dfd`. unlinkat
 * removes that name in that folder: a link is removed, never what it names. */
static bool drop(struct gc_run *g, int dfd, const char *folder, const char *name, uint64_t bytes,
                 const char *why)
{
    if (!g->o->dry_run && unlinkat(dfd, name, 0) != 0) {
        char msg[160];
        snprintf(msg, sizeof(msg), "cannot remove it: %s", strerror(errno));
        report(g, SG_MODEL_GC_FAILED, folder, name, bytes, msg);
        if (!g->failed)
            g->failed = SG_EIO;
        return false;
    }
    report(g, g->o->dry_run ? SG_MODEL_GC_WOULD_REMOVE : SG_MODEL_GC_REMOVED, folder, name, bytes,
           why);
    g->st->files++;
    g->st->bytes += bytes;
    return true;
}

static const char *kind_of(mode_t m)
{
    return S_ISLNK(m)   ? "a symbolic link, which the store does not follow"
           : S_ISDIR(m) ? "a folder"
                        : "not a regular file";
}

/* One folder of the store (`rel` under the root): `what` decides per entry. */
enum verdict { V_SKIP, V_DROP, V_KEEP, V_LEAVE };
typedef enum verdict (*judge_fn)(struct gc_run *g, const struct refs *r, const char *name,
                                 const struct stat *st, const char **why);

static int sweep(struct sg_model_store *s, struct gc_run *g, const struct refs *r, const char *rel,
                 judge_fn judge, struct sg_error *err)
{
    char path[PATH_MAX];
    if (sg_mstore_path(s, path, sizeof(path), "%s", rel) != 0)
        return sg_error_set(err, SG_ETOOBIG, "the store path is too long");
    int dfd = -1, rc = 0;
    size_t n = 0;
    char **v = entries(path, &dfd, &n, err, &rc);
    bool changed = false;
    for (size_t i = 0; !rc && i < n; i++) {
        struct stat st;
        if (fstatat(dfd, v[i], &st, AT_SYMLINK_NOFOLLOW) != 0)
            continue; /* gone meanwhile (not by a change: those wait for the lock) */
        const char *why = NULL;
        uint64_t bytes = S_ISREG(st.st_mode) ? (uint64_t)st.st_size : 0;
        switch (judge(g, r, v[i], &st, &why)) {
        case V_DROP:
            changed |= drop(g, dfd, rel, v[i], bytes, why) && !g->o->dry_run;
            break;
        case V_KEEP:
            g->st->kept++;
            g->st->kept_bytes += bytes;
            report(g, SG_MODEL_GC_KEPT, rel, v[i], bytes, why);
            break;
        case V_LEAVE:
            g->st->left++;
            report(g, SG_MODEL_GC_LEFT, rel, v[i], bytes, why);
            break;
        case V_SKIP:
            break;
        }
    }
    if (changed && fsync(dfd) != 0 && !rc)
        rc = sg_error_set(err, SG_EIO, "cannot sync %s: %s", path, strerror(errno));
    if (dfd >= 0)
        close(dfd);
    sg_mstore_names_free(v, n);
    return rc;
}

static enum verdict judge_tmp(struct gc_run *g, const struct refs *r, const char *name,
                              const struct stat *st, const char **why)
{
    (void)g, (void)r, (void)name;
    if (S_ISDIR(st->st_mode)) {
        *why = "a folder (the store makes none there): left alone";
        return V_LEAVE;
    }
    *why = "left by a change that did not finish";
    return V_DROP;
}

static enum verdict judge_blob(struct gc_run *g, const struct refs *r, const char *name,
                               const struct stat *st, const char **why)
{
    (void)g;
    if (!is_blob_name(name)) {
        *why = "not a blob's name (64 lower-case hex digits): left alone";
        return V_LEAVE;
    }
    if (refs_has(r, name))
        return V_SKIP;
    if (!S_ISREG(st->st_mode)) {
        *why = kind_of(st->st_mode);
        return V_LEAVE;
    }
    *why = "named by no manifest (left by an import or pull that stopped before writing its "
           "manifest, or by a manifest removed by hand)";
    return V_DROP;
}

static enum verdict judge_partial(struct gc_run *g, const struct refs *r, const char *name,
                                  const struct stat *st, const char **why)
{
    (void)r, (void)name;
    if (!S_ISREG(st->st_mode)) {
        *why = kind_of(st->st_mode);
        return V_LEAVE;
    }
    if (g->o->partial) {
        *why = "a pull's unfinished download";
        return V_DROP;
    }
    *why = "a pull's unfinished download, resumed by the next pull of it (--partial removes it)";
    return V_KEEP;
}

/* The scan, under the lock the caller holds: the blobs the manifests name, then tmp/,
 * blobs/sha256/ and partial/ (whether anything is removed: g->o). */
static int scan(struct sg_model_store *s, struct gc_run *g, const struct stop *sp,
                struct sg_error *err)
{
    struct refs r = {0};
    int rc;
    if (!(rc = collect_refs(s, &r, sp, err)) && !(rc = sweep(s, g, &r, "tmp", judge_tmp, err)) &&
        !(rc = sweep(s, g, &r, "blobs/sha256", judge_blob, err)))
        rc = sweep(s, g, &r, "partial", judge_partial, err);
    free(r.v);
    return rc;
}

int sg_model_gc(struct sg_model_store *s, const struct sg_model_gc_opts *o, sg_model_gc_fn fn,
                void *arg, struct sg_model_gc_stats *st, struct sg_error *err)
{
    static const struct sg_model_gc_opts none = {0};
    static const struct stop sp = {"nothing was removed", "gc"};
    struct sg_model_gc_stats dummy;
    if (!o)
        o = &none;
    if (!st)
        st = &dummy;
    memset(st, 0, sizeof(*st));
    /* A dry run changes nothing: a shared lock is enough to see no change half done (and
     * leaves tmp/ as it is, to be listed). */
    int rc = sg_mstore_lock_as(s, !o->dry_run, false, err);
    if (rc)
        return rc;
    struct gc_run g = {o, fn, arg, st, json_array(), 0};
    if (!g.removed)
        return sg_error_set(err, SG_ENOMEM, "out of memory");
    rc = scan(s, &g, &sp, err);
    if (!rc && g.failed)
        rc = sg_error_set(err, g.failed, "some files could not be removed");
    if (!o->dry_run && st->files) {
        struct sg_error e2 = {0};
        int arc = sg_mstore_audit(s, "model.gc",
                                  json_pack("{s:O,s:I,s:I}", "removed", g.removed, "files",
                                            (json_int_t)st->files, "bytes", (json_int_t)st->bytes),
                                  &e2);
        if (arc && !rc)
            rc = sg_error_set(err, arc, "%s", e2.msg);
    }
    json_decref(g.removed);
    return rc;
}

int sg_model_orphans(struct sg_model_store *s, sg_model_gc_fn fn, void *arg,
                     struct sg_model_gc_stats *st, struct sg_error *err)
{
    static const struct sg_model_gc_opts dry = {.dry_run = true};
    static const struct stop sp = {"no orphans were looked for", "verify"};
    struct sg_model_gc_stats dummy;
    if (!st)
        st = &dummy;
    memset(st, 0, sizeof(*st));
    /* Shared, without waiting: while a change holds the lock, the blob of an import under
     * way has no manifest yet, and would be taken for an orphan. */
    int lfd = -1;
    if (!sg_mstore_holds_lock(s)) {
        int rc = sg_mstore_lock_peek(s, &lfd, err);
        if (rc)
            return rc;
    }
    struct gc_run g = {&dry, fn, arg, st, NULL, 0}; /* a dry run: nothing removed to audit */
    int rc = scan(s, &g, &sp, err);
    if (lfd >= 0)
        close(lfd);
    return rc;
}
