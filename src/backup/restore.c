/* Restoring a backup archive into a folder: a first pass checks everything and writes
 * nothing; a second pass writes into a fresh temporary folder next to the target (files
 * created exclusively, never through links) and checks everything again; only then is
 * the folder renamed into place (atomically exchanged with an existing one). A model store
 * inside a target that `--force` replaces is swapped out with it: its lock (the one every
 * change of it holds) is taken before the second pass and held until the old folder is
 * gone. */
#include "backup/backup.h"
#include "model/model.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct wsink {
    int root; /* the temporary folder */
    int fd;   /* the file being written, or -1 */
    const char *path;
};

/* Opens (creating when missing) the folder of `path` below the root; returns a descriptor
 * and points `*base` at the file name, or -1 with `err`. */
static int open_parent(int root, const char *path, const char **base, struct sg_error *err)
{
    char comp[SG_BAK_PATH_MAX + 1];
    int dfd = dup(root);
    const char *p = path;
    for (const char *s = strchr(p, '/'); dfd >= 0 && s; s = strchr(p, '/')) {
        size_t n = (size_t)(s - p);
        memcpy(comp, p, n);
        comp[n] = '\0';
        if (mkdirat(dfd, comp, 0700) != 0 && errno != EEXIST) {
            sg_error_set(err, SG_EIO, "creating a folder for %.200s: %s", path, strerror(errno));
            close(dfd);
            return -1;
        }
        int nfd = openat(dfd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        close(dfd);
        dfd = nfd;
        p = s + 1;
    }
    if (dfd < 0)
        sg_error_set(err, SG_EIO, "opening the folder of %.200s: %s", path, strerror(errno));
    *base = p;
    return dfd;
}

static int ws_begin(void *arg, const char *path, uint32_t mode, uint64_t size, struct sg_error *err)
{
    struct wsink *w = arg;
    const char *base = NULL;
    int dfd = open_parent(w->root, path, &base, err);
    if (dfd < 0)
        return SG_EIO;
    w->fd = openat(dfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    int e = errno;
    close(dfd);
    if (w->fd < 0)
        return sg_error_set(err, SG_EIO, "creating %.200s: %s", path, strerror(e));
    if (fchmod(w->fd, mode & 0777) != 0)
        return sg_error_set(err, SG_EIO, "chmod %.200s: %s", path, strerror(errno));
    w->path = path;
    return 0;
}

static int ws_data(void *arg, const uint8_t *p, size_t n, struct sg_error *err)
{
    struct wsink *w = arg;
    while (n) {
        ssize_t r = write(w->fd, p, n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return sg_error_set(err, SG_EIO, "writing %.200s: %s", w->path,
                                r < 0 ? strerror(errno) : "short write");
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

static int ws_end(void *arg, struct sg_error *err)
{
    struct wsink *w = arg;
    int rc = 0;
    if (fsync(w->fd) != 0)
        rc = sg_error_set(err, SG_EIO, "fsync %.200s: %s", w->path, strerror(errno));
    close(w->fd);
    w->fd = -1;
    return rc;
}

static int ws_mkdir(void *arg, const char *path, uint32_t mode, struct sg_error *err)
{
    struct wsink *w = arg;
    const char *base = NULL;
    int dfd = open_parent(w->root, path, &base, err);
    if (dfd < 0)
        return SG_EIO;
    int rc = 0;
    if (mkdirat(dfd, base, 0700) != 0 && errno != EEXIST)
        rc = sg_error_set(err, SG_EIO, "creating %.200s: %s", path, strerror(errno));
    int fd = rc ? -1 : openat(dfd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (rc == 0 && (fd < 0 || fchmod(fd, (mode & 0777) | 0700) != 0))
        rc = sg_error_set(err, SG_EIO, "creating %.200s: %s", path, strerror(errno));
    if (fd >= 0)
        close(fd);
    close(dfd);
    return rc;
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
    (void)st;
    (void)flag;
    (void)f;
    return remove(p) == 0 || errno == ENOENT ? 0 : -1;
}

static void rm_tree(const char *dir)
{
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* Whether the resolved path `p` is `dir` or lies below it (both resolved). */
static bool within(const char *p, const char *dir)
{
    size_t n = strlen(dir);
    if (strcmp(dir, "/") == 0)
        return true;
    return strncmp(p, dir, n) == 0 && (p[n] == '\0' || p[n] == '/');
}

/* Whether `path` (absolute, as the configuration names it) lies inside the resolved folder
 * `rdir`: the file it names, or the name itself (a link in the folder to a file outside
 * is deleted with the folder too). */
static bool names_inside(const char *path, const char *rdir)
{
    char r[PATH_MAX], parent[PATH_MAX];
    struct stat st;
    if (lstat(path, &st) != 0)
        return false; /* nothing there to delete */
    if (realpath(path, r) && within(r, rdir))
        return true;
    const char *slash = strrchr(path, '/');
    if (!slash || slash == path)
        return false;
    snprintf(parent, sizeof(parent), "%.*s", (int)(slash - path), path);
    return realpath(parent, r) && within(r, rdir);
}

/* `--force` deletes what the target holds. A file that the restored configuration names
 * by its absolute path because the archive left it out (a secret without --with-secrets,
 * weights without --with-weights: the manifest's "not_included" entries with a "key") is
 * not in the archive: when it lies inside the target, the restore would delete the only
 * copy. Refused, naming it. */
static int check_left_out(json_t *manifest, const char *dir, const char *rdir, struct sg_error *err)
{
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(manifest, "not_included"), i, e)
    {
        const char *key = json_string_value(json_object_get(e, "key"));
        const char *path = json_string_value(json_object_get(e, "path"));
        if (!key || !path || path[0] != '/' || !names_inside(path, rdir))
            continue;
        return sg_error_set(err, SG_EEXIST,
                            "%.160s (%.40s, left out of the archive) lies inside %.160s, which "
                            "--force deletes: move it out of the folder first",
                            path, key, dir);
    }
    return 0;
}

/* ---- the model stores inside the target ---- */

#define STORE_DEPTH 32 /* folders below the target looked into for model stores */

/* The model stores that `--force` replaces with the target: the folders inside it, not
 * reached through a link (the exchange and rm_tree leave what a link names alone), that
 * hold a lock file beside manifests/ (src/model/model.h). A store without a lock file was
 * never changed: no change holds its lock, and none is made here (the restore may run as
 * another user than the store's owner). */
struct stores {
    char **path;
    int *fd; /* the descriptor holding each one's lock, or -1 */
    size_t n;
};

static bool is_store(const char *d)
{
    char p[PATH_MAX];
    struct stat st;
    if (snprintf(p, sizeof(p), "%s/.lock", d) >= (int)sizeof(p) || lstat(p, &st) != 0 ||
        !S_ISREG(st.st_mode))
        return false;
    snprintf(p, sizeof(p), "%s/manifests", d);
    return lstat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int stores_add(struct stores *ss, const char *d, struct sg_error *err)
{
    char **np = realloc(ss->path, (ss->n + 1) * sizeof(*np));
    if (np)
        ss->path = np;
    int *nf = np ? realloc(ss->fd, (ss->n + 1) * sizeof(*nf)) : NULL;
    if (nf)
        ss->fd = nf;
    char *dup = nf ? strdup(d) : NULL;
    if (!dup)
        return sg_error_set(err, SG_ENOMEM, "out of memory");
    ss->path[ss->n] = dup;
    ss->fd[ss->n++] = -1;
    return 0;
}

static int find_stores(const char *d, int depth, struct stores *ss, struct sg_error *err)
{
    if (is_store(d))
        return stores_add(ss, d, err); /* what lies below it is the store's */
    if (depth >= STORE_DEPTH)
        return sg_error_set(err, SG_ETOOBIG,
                            "%.200s is nested too deep to look into for model stores", d);
    DIR *dd = opendir(d);
    if (!dd)
        return sg_error_set(err, SG_EIO, "cannot look into %.200s for model stores: %s", d,
                            strerror(errno));
    int rc = 0;
    for (struct dirent *e; !rc && (e = readdir(dd));) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char p[PATH_MAX];
        struct stat st;
        if (snprintf(p, sizeof(p), "%s/%s", d, e->d_name) >= (int)sizeof(p))
            rc = sg_error_set(err, SG_ETOOBIG, "a path in %.200s is too long", d);
        else if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
            rc = find_stores(p, depth + 1, ss, err);
    }
    closedir(dd);
    return rc;
}

struct wait_note {
    const struct sg_bak_restore_opts *o;
    const char *store;
};

static void waiting(void *arg)
{
    const struct wait_note *w = arg;
    char line[PATH_MAX + 128];
    snprintf(line, sizeof(line),
             "the model store %s in the target is being changed; waiting for its lock", w->store);
    w->o->note(w->o->note_arg, line);
}

/* Takes the lock of every model store inside `dir` (exclusive), each waited for up to
 * o->store_wait_ms. On failure the ones taken are let go by stores_free. */
static int lock_stores(const struct sg_bak_restore_opts *o, const char *dir, struct stores *ss,
                       struct sg_error *err)
{
    int rc = find_stores(dir, 0, ss, err);
    unsigned wait_ms = o->store_wait_ms ? o->store_wait_ms : 30000;
    for (size_t i = 0; !rc && i < ss->n; i++) {
        struct wait_note w = {o, ss->path[i]};
        struct sg_error e2 = {0};
        rc = sg_model_lock_root(ss->path[i], true, wait_ms, o->note ? waiting : NULL, &w,
                                &ss->fd[i], &e2);
        if (rc)
            sg_error_set(err, rc, "%s; it lies in the target, which --force replaces", e2.msg);
    }
    return rc;
}

static void stores_free(struct stores *ss)
{
    for (size_t i = 0; i < ss->n; i++) {
        if (ss->fd[i] >= 0)
            close(ss->fd[i]);
        free(ss->path[i]);
    }
    free(ss->path);
    free(ss->fd);
}

/* 0: missing; 1: an empty folder; 2: a folder with something in it; -1: not a folder. */
static int dir_state(const char *dir)
{
    struct stat st;
    if (lstat(dir, &st) != 0)
        return errno == ENOENT ? 0 : -1;
    if (!S_ISDIR(st.st_mode))
        return -1;
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    int state = 1;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            state = 2;
            break;
        }
    }
    closedir(d);
    return state;
}

int sg_bak_restore(const struct sg_bak_restore_opts *o, struct sg_bak_info *info,
                   struct sg_error *err)
{
    struct sg_bak_info local;
    if (!info)
        info = &local;
    memset(info, 0, sizeof(*info));
    size_t dl = strlen(o->dir);
    while (dl > 1 && o->dir[dl - 1] == '/')
        dl--;
    if (dl == 0 || dl >= PATH_MAX - 40)
        return sg_error_set(err, SG_EINVAL, "bad target folder");
    char dir[PATH_MAX], parent[PATH_MAX], tmp[PATH_MAX];
    memcpy(dir, o->dir, dl);
    dir[dl] = '\0';
    /* The archive must outlive the restore: --force deletes what the target held. */
    char rdir[PATH_MAX], rarch[PATH_MAX];
    bool have_rdir = realpath(dir, rdir) != NULL;
    if (have_rdir && realpath(o->archive, rarch) && within(rarch, rdir))
        return sg_error_set(err, SG_EINVAL,
                            strcmp(rarch, rdir) == 0
                                ? "the archive %.110s is the target %.110s: restore into a folder"
                                : "the archive %.110s lies inside the target folder %.110s, "
                                  "which the restore replaces: move the archive out first",
                            rarch, dir);
    int state = dir_state(dir);
    if (state < 0)
        return sg_error_set(err, SG_EEXIST, "%s exists and is not a folder", dir);
    if (state == 2 && !o->force)
        return sg_error_set(err, SG_EEXIST,
                            "%s exists and is not empty (use --force to replace it)", dir);
    const char *slash = strrchr(dir, '/');
    const char *base = slash ? slash + 1 : dir;
    if (!*base || strcmp(base, ".") == 0 || strcmp(base, "..") == 0)
        return sg_error_set(err, SG_EINVAL, "name the target folder itself, not . or ..");
    if (slash == dir)
        snprintf(parent, sizeof(parent), "/");
    else if (slash)
        snprintf(parent, sizeof(parent), "%.*s", (int)(slash - dir), dir);
    else
        snprintf(parent, sizeof(parent), ".");
    struct stat pst;
    if (stat(parent, &pst) != 0 || !S_ISDIR(pst.st_mode))
        return sg_error_set(err, SG_ENOTFOUND, "the folder %s (where %s goes) does not exist",
                            parent, base);

    int fd = open(o->archive, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return sg_error_set(err, SG_ENOTFOUND, "cannot open %s: %s", o->archive, strerror(errno));
    /* Pass 1: everything is checked, nothing is written. */
    struct sg_bak_info first;
    int rc = sg_bak_read(fd, o->key, o->pubkey, NULL, &first, err);
    if (rc != 0) {
        close(fd);
        return rc;
    }
    if (state == 2 && !have_rdir)
        rc = sg_error_set(err, SG_EIO, "cannot resolve the target folder %s", dir);
    else if (state == 2)
        rc = check_left_out(first.manifest, dir, rdir, err);
    json_decref(first.manifest);
    /* The model stores that the exchange swaps out with the target: locked before anything
     * is written (a change under way is waited for, and one that starts now waits, then
     * finds the restored store), until the old folder is gone. */
    struct stores ss = {0};
    if (rc == 0 && state == 2)
        rc = lock_stores(o, dir, &ss, err);
    if (rc != 0) {
        stores_free(&ss);
        close(fd);
        return rc;
    }

    /* Pass 2: into a temporary folder, checked again. */
    snprintf(tmp, sizeof(tmp), "%s/.%s.restore-XXXXXX", parent, base);
    if (!mkdtemp(tmp)) {
        stores_free(&ss);
        close(fd);
        return sg_error_set(err, SG_EIO, "cannot create a folder in %s: %s", parent,
                            strerror(errno));
    }
    struct wsink ws = {.root = open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC), .fd = -1};
    struct sg_bak_sink sink = {ws_begin, ws_data, ws_end, ws_mkdir, &ws};
    if (ws.root < 0)
        rc = sg_error_set(err, SG_EIO, "cannot open %s: %s", tmp, strerror(errno));
    else
        rc = sg_bak_read(fd, o->key, o->pubkey, &sink, info, err);
    close(fd);
    if (ws.fd >= 0)
        close(ws.fd);
    if (rc == 0 && memcmp(info->digest, first.digest, 32) != 0)
        rc = sg_error_set(err, SG_EINVAL, "the archive changed while it was being restored");
    if (rc == 0 && fsync(ws.root) != 0)
        rc = sg_error_set(err, SG_EIO, "fsync %s: %s", tmp, strerror(errno));
    if (ws.root >= 0)
        close(ws.root);
    if (rc == 0) {
        /* An empty folder is taken only while it is still empty: rmdir refuses it when
         * something was put there since it was looked at (an exchange would delete that). */
        struct stat est;
        bool take_empty = state == 1 && !o->force && lstat(dir, &est) == 0;
        if (take_empty && rmdir(dir) != 0)
            rc = errno == ENOTEMPTY || errno == EEXIST
                     ? sg_error_set(err, SG_EEXIST,
                                    "%s exists and is not empty (something was put there during "
                                    "the restore; use --force to replace it)",
                                    dir)
                     : sg_error_set(err, SG_EIO, "cannot replace the empty folder %s: %s", dir,
                                    strerror(errno));
        int r = 0;
        if (rc == 0 && (state == 0 || take_empty))
            r = renameat2(AT_FDCWD, tmp, AT_FDCWD, dir, RENAME_NOREPLACE);
        else if (rc == 0)
            r = renameat2(AT_FDCWD, tmp, AT_FDCWD, dir, RENAME_EXCHANGE);
        if (r != 0) {
            rc = sg_error_set(err, errno == EEXIST ? SG_EEXIST : SG_EIO,
                              "cannot move the restored folder to %s: %s", dir, strerror(errno));
            if (take_empty) /* put the empty folder back */
                mkdir(dir, est.st_mode & 07777);
        }
    }
    /* On success `tmp` now holds the replaced folder (or nothing); on failure, the partial
     * restore. Either way it goes; then the old stores' locks. */
    rm_tree(tmp);
    stores_free(&ss);
    if (rc == 0) {
        int pfd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (pfd >= 0) {
            fsync(pfd);
            close(pfd);
        }
    }
    if (rc != 0 || info == &local) {
        json_decref(info->manifest);
        info->manifest = NULL;
    }
    return rc;
}
