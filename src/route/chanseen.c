/* See chanseen.h. */
#include "route/chanseen.h"
#include "core/crypto.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct entry {
    char *path;
    uint64_t seq;
    bool has_digest;
    uint8_t digest[32];
};

struct sg_chanseen {
    char *path; /* NULL: in memory only */
    struct entry *v;
    size_t n, cap;
};

static bool path_ok(const char *p, size_t n)
{
    if (n == 0 || n >= PATH_MAX || p[0] != '/')
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f)
            return false;
    return true;
}

static struct entry *find(const struct sg_chanseen *s, const char *p, size_t n)
{
    for (size_t i = 0; i < s->n; i++)
        if (strlen(s->v[i].path) == n && memcmp(s->v[i].path, p, n) == 0)
            return &s->v[i];
    return NULL;
}

static void set_digest(struct entry *e, const uint8_t *digest)
{
    e->has_digest = digest != NULL;
    if (digest)
        memcpy(e->digest, digest, 32);
}

static int add(struct sg_chanseen *s, const char *p, size_t n, uint64_t seq, const uint8_t *digest)
{
    if (s->n == SG_CHANSEEN_MAX)
        return SG_ETOOBIG;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 8;
        struct entry *v = realloc(s->v, cap * sizeof(*v));
        if (!v)
            return SG_ENOMEM;
        s->v = v;
        s->cap = cap;
    }
    char *c = strndup(p, n);
    if (!c)
        return SG_ENOMEM;
    s->v[s->n] = (struct entry){.path = c, .seq = seq};
    set_digest(&s->v[s->n++], digest);
    return 0;
}

/* 64 lowercase hex digits at `l` into `digest`. */
static bool parse_digest(const char *l, uint8_t digest[32])
{
    for (size_t i = 0; i < 64; i++)
        if (!((l[i] >= '0' && l[i] <= '9') || (l[i] >= 'a' && l[i] <= 'f')))
            return false;
    return sg_hex_decode(l, 64, digest, 32) == 0;
}

/* One line without its '\n': "<seq> <digest> <path>", or "<seq> <path>" (digest unknown). */
static const char *parse_line(struct sg_chanseen *s, const char *l, size_t n)
{
    size_t i = 0;
    uint64_t seq = 0;
    if (n == 0 || l[0] < '0' || l[0] > '9' || (l[0] == '0' && n > 1 && l[1] != ' '))
        return "expected a sequence number";
    for (; i < n && l[i] >= '0' && l[i] <= '9'; i++) {
        unsigned d = (unsigned)(l[i] - '0');
        if (seq > (UINT64_MAX - d) / 10)
            return "sequence number out of range";
        seq = seq * 10 + d;
    }
    if (i == n || l[i] != ' ')
        return "expected one space after the sequence number";
    const char *p = l + i + 1;
    size_t pn = n - i - 1;
    uint8_t digest[32];
    bool has_digest = pn > 65 && p[0] != '/' && p[64] == ' ';
    if (has_digest && !parse_digest(p, digest))
        return "expected a digest of 64 lowercase hex digits";
    if (has_digest) {
        p += 65;
        pn -= 65;
    }
    if (!path_ok(p, pn))
        return "expected the absolute path of a channel file";
    if (find(s, p, pn))
        return "channel file listed twice";
    int rc = add(s, p, pn, seq, has_digest ? digest : NULL);
    return rc == SG_ETOOBIG ? "too many channel files" : rc ? "out of memory" : NULL;
}

int sg_chanseen_open(const char *path, struct sg_chanseen **out, struct sg_error *err)
{
    *out = NULL;
    if (!path || !path_ok(path, strlen(path)))
        return sg_error_set(err, SG_EINVAL, "the state file must be an absolute path");
    struct sg_chanseen *s = calloc(1, sizeof(*s));
    if (!s || !(s->path = strdup(path))) {
        free(s);
        return sg_error_set(err, SG_ENOMEM, "out of memory");
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0 && errno == ENOENT) {
        *out = s; /* nothing seen yet */
        return 0;
    }
    char *buf = NULL;
    int rc = 0;
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        rc = sg_error_set(err, SG_EIO, "cannot read %s: %s", path, strerror(errno));
    } else if (!S_ISREG(st.st_mode)) {
        rc = sg_error_set(err, SG_EINVAL, "%s: not a regular file", path);
    } else if (st.st_size > (off_t)SG_CHANSEEN_MAX_BYTES) {
        rc = sg_error_set(err, SG_ETOOBIG, "%s: larger than %u bytes", path, SG_CHANSEEN_MAX_BYTES);
    } else if (!(buf = malloc((size_t)st.st_size + 1))) {
        rc = sg_error_set(err, SG_ENOMEM, "out of memory");
    } else {
        size_t got = 0;
        while (got < (size_t)st.st_size) {
            ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0)
                break;
            got += (size_t)r;
        }
        if (got != (size_t)st.st_size)
            rc = sg_error_set(err, SG_EIO, "cannot read %s: %s", path,
                              got ? "it changed while read" : strerror(errno));
        for (size_t at = 0, line = 1; !rc && at < got; line++) {
            const char *nl = memchr(buf + at, '\n', got - at);
            if (!nl) {
                rc = sg_error_set(err, SG_EINVAL, "%s:%zu: the last line does not end", path, line);
                break;
            }
            const char *why = parse_line(s, buf + at, (size_t)(nl - buf - at));
            if (why)
                rc = sg_error_set(err, SG_EINVAL, "%s:%zu: %s", path, line, why);
            at = (size_t)(nl - buf) + 1;
        }
    }
    free(buf);
    if (fd >= 0)
        close(fd);
    if (rc) {
        sg_chanseen_free(s);
        return rc;
    }
    *out = s;
    return 0;
}

struct sg_chanseen *sg_chanseen_new(void)
{
    return calloc(1, sizeof(struct sg_chanseen));
}

void sg_chanseen_free(struct sg_chanseen *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i].path);
    free(s->v);
    free(s->path);
    free(s);
}

const char *sg_chanseen_path(const struct sg_chanseen *s)
{
    return s->path;
}

uint64_t sg_chanseen_get(const struct sg_chanseen *s, const char *chan_path)
{
    const struct entry *e = s && chan_path ? find(s, chan_path, strlen(chan_path)) : NULL;
    return e ? e->seq : 0;
}

enum sg_chanseen_verdict sg_chanseen_check(const struct sg_chanseen *s, const char *chan_path,
                                           uint64_t seq, const uint8_t *digest, uint64_t *recorded)
{
    const struct entry *e = s && chan_path ? find(s, chan_path, strlen(chan_path)) : NULL;
    if (recorded)
        *recorded = e ? e->seq : 0;
    if (!e)
        return SG_CHANSEEN_OK;
    if (seq < e->seq)
        return SG_CHANSEEN_OLDER;
    if (seq == e->seq && seq > 0 && digest && e->has_digest && memcmp(digest, e->digest, 32) != 0)
        return SG_CHANSEEN_OTHER;
    return SG_CHANSEEN_OK;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* The whole set into a temporary file next to the state file, then renamed over it. */
static int save(const struct sg_chanseen *s, struct sg_error *err)
{
    char tmp[PATH_MAX + 16], dir[PATH_MAX];
    int n = snprintf(tmp, sizeof(tmp), "%s.XXXXXX", s->path);
    if (n < 0 || (size_t)n >= sizeof(tmp))
        return sg_error_set(err, SG_EINVAL, "%s: path too long", s->path);
    int fd = mkostemp(tmp, O_CLOEXEC); /* mode 0600 */
    if (fd < 0)
        return sg_error_set(err, SG_EIO, "cannot write %s: %s", s->path, strerror(errno));
    int ok = 1;
    for (size_t i = 0; ok && i < s->n; i++) {
        char num[24 + 65];
        int k = snprintf(num, sizeof(num), "%llu ", (unsigned long long)s->v[i].seq);
        if (s->v[i].has_digest) {
            sg_hex_encode(s->v[i].digest, 32, num + k);
            num[k + 64] = ' ';
            k += 65;
        }
        ok = write_all(fd, num, (size_t)k) == 0 &&
             write_all(fd, s->v[i].path, strlen(s->v[i].path)) == 0 && write_all(fd, "\n", 1) == 0;
    }
    ok = ok && fsync(fd) == 0;
    int e = errno;
    if (close(fd) != 0 && ok) {
        ok = 0;
        e = errno;
    }
    if (!ok || rename(tmp, s->path) != 0) {
        e = ok ? errno : e;
        unlink(tmp);
        return sg_error_set(err, SG_EIO, "cannot write %s: %s", s->path, strerror(e));
    }
    snprintf(dir, sizeof(dir), "%s", s->path);
    char *sl = strrchr(dir, '/');
    if (sl)
        *(sl == dir ? sl + 1 : sl) = '\0';
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0 || fsync(dfd) != 0) {
        e = errno;
        if (dfd >= 0)
            close(dfd);
        return sg_error_set(err, SG_EIO, "cannot sync %s: %s", dir, strerror(e));
    }
    close(dfd);
    return 0;
}

/* Records one entry in memory; `*changed` tells whether anything did. */
static int record(struct sg_chanseen *s, const char *chan_path, uint64_t seq, const uint8_t *digest,
                  bool *changed, struct sg_error *err)
{
    size_t n = chan_path ? strlen(chan_path) : 0;
    if (!path_ok(chan_path, n))
        return sg_error_set(err, SG_EINVAL, "not an absolute channel file path");
    struct entry *e = find(s, chan_path, n);
    if (e && (e->seq > seq || (e->seq == seq && (e->has_digest || !digest))))
        return 0;
    int rc = 0;
    if (e) {
        e->seq = seq;
        set_digest(e, digest);
    } else if ((rc = add(s, chan_path, n, seq, digest)) == SG_ETOOBIG) {
        return sg_error_set(err, rc, "%s: more than %d channel files",
                            s->path ? s->path : "the record", SG_CHANSEEN_MAX);
    } else if (rc) {
        return sg_error_set(err, rc, "out of memory");
    }
    *changed = true;
    return 0;
}

int sg_chanseen_put(struct sg_chanseen *s, const char *chan_path, uint64_t seq,
                    const uint8_t *digest, struct sg_error *err)
{
    bool changed = false;
    int rc = record(s, chan_path, seq, digest, &changed, err);
    return rc || !changed || !s->path ? rc : save(s, err);
}

int sg_chanseen_merge(struct sg_chanseen *dst, const struct sg_chanseen *src, struct sg_error *err)
{
    bool changed = false;
    int first = 0;
    for (size_t i = 0; src && i < src->n; i++) {
        const struct entry *e = &src->v[i];
        int rc = record(dst, e->path, e->seq, e->has_digest ? e->digest : NULL, &changed,
                        first ? NULL : err);
        first = first ? first : rc;
    }
    int rc = !changed || !dst->path ? 0 : save(dst, first ? NULL : err);
    return first ? first : rc;
}
