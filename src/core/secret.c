/* Loading secrets from env: and file: references, and whole-file reads. */
#include "core/secret.h"
#include "core/crypto.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

bool sg_secret_is_ref(const char *ref)
{
    return (strncmp(ref, "env:", 4) == 0 && ref[4]) || (strncmp(ref, "file:", 5) == 0 && ref[5]);
}

int sg_path_resolve(const char *base_dir, const char *path, char *out, size_t cap)
{
    int n;
    if (path[0] == '/' || !base_dir || !base_dir[0])
        n = snprintf(out, cap, "%s", path);
    else
        n = snprintf(out, cap, "%s/%s", base_dir, path);
    return n < 0 || (size_t)n >= cap ? SG_ETOOBIG : 0;
}

int sg_read_fd(int fd, const char *what, size_t max, char **out, size_t *len, struct sg_error *err)
{
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
        return sg_error_set(err, SG_EIO, "%s is not a regular file", what);
    if ((size_t)st.st_size > max)
        return sg_error_set(err, SG_ETOOBIG, "%s is larger than %zu bytes", what, max);
    size_t cap = (size_t)st.st_size + 1, got = 0;
    char *p = malloc(cap);
    if (!p)
        return sg_error_set(err, SG_ENOMEM, "out of memory reading %s", what);
    for (;;) {
        if (got == cap - 1) {
            /* The file grew while we read it; accept up to max. */
            if (cap - 1 >= max) {
                free(p);
                return sg_error_set(err, SG_ETOOBIG, "%s is larger than %zu bytes", what, max);
            }
            size_t ncap = cap * 2 > max + 1 ? max + 1 : cap * 2;
            char *np = realloc(p, ncap);
            if (!np) {
                free(p);
                return sg_error_set(err, SG_ENOMEM, "out of memory reading %s", what);
            }
            p = np;
            cap = ncap;
        }
        ssize_t r = read(fd, p + got, cap - 1 - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            free(p);
            return sg_error_set(err, SG_EIO, "cannot read %s: %s", what, strerror(e));
        }
        if (r == 0)
            break;
        got += (size_t)r;
    }
    p[got] = '\0';
    *out = p;
    if (len)
        *len = got;
    return 0;
}

int sg_read_file(const char *path, size_t max, char **out, size_t *len, struct sg_error *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return sg_error_set(err, errno == ENOENT ? SG_ENOTFOUND : SG_EIO, "cannot open %s: %s",
                            path, strerror(errno));
    int rc = sg_read_fd(fd, path, max, out, len, err);
    close(fd);
    return rc;
}

int sg_secret_load(const char *ref, const char *base_dir, struct sg_secret *out,
                   struct sg_error *err)
{
    out->data = NULL;
    out->len = 0;
    if (strncmp(ref, "env:", 4) == 0 && ref[4]) {
        const char *v = getenv(ref + 4);
        if (!v)
            return sg_error_set(err, SG_ENOTFOUND, "environment variable %s is not set", ref + 4);
        size_t n = strlen(v);
        if (n > SG_SECRET_MAX)
            return sg_error_set(err, SG_ETOOBIG, "environment variable %s is too long", ref + 4);
        if (!(out->data = malloc(n + 1)))
            return sg_error_set(err, SG_ENOMEM, "out of memory");
        memcpy(out->data, v, n + 1);
        out->len = n;
        return 0;
    }
    if (strncmp(ref, "file:", 5) == 0 && ref[5]) {
        char path[4096];
        if (sg_path_resolve(base_dir, ref + 5, path, sizeof(path)))
            return sg_error_set(err, SG_ETOOBIG, "path too long");
        int rc = sg_read_file(path, SG_SECRET_MAX, &out->data, &out->len, err);
        if (rc)
            return rc;
        while (out->len && (out->data[out->len - 1] == '\n' || out->data[out->len - 1] == '\r'))
            out->data[--out->len] = '\0';
        return 0;
    }
    return sg_error_set(err, SG_EINVAL, "secret must be a reference: env:NAME or file:PATH");
}

void sg_secret_free(struct sg_secret *s)
{
    if (s->data) {
        sg_secure_zero(s->data, s->len);
        free(s->data);
    }
    s->data = NULL;
    s->len = 0;
}
