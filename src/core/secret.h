/* Secrets named by reference in the configuration: `env:NAME` reads an environment
 * variable, `file:/path` reads a file (a trailing newline is dropped). Secrets are never
 * written inline in a config. The loaded bytes are owned by the `struct sg_secret` and
 * are zeroed when it is freed. */
#ifndef SG_CORE_SECRET_H
#define SG_CORE_SECRET_H

#include <stdbool.h>
#include <stddef.h>

#include "core/error.h"

#define SG_SECRET_MAX (64 * 1024)

struct sg_secret {
    char *data; /* owned, NUL-terminated; NULL when empty */
    size_t len;
};

/* True when `ref` has the form env:NAME or file:PATH. */
bool sg_secret_is_ref(const char *ref);
/* Loads the secret `ref`. Relative file paths are resolved against `base_dir` (which may
 * be NULL for the working directory). On failure fills `err` without echoing the secret
 * and returns SG_EINVAL, SG_ENOTFOUND, SG_EIO or SG_ETOOBIG. */
int sg_secret_load(const char *ref, const char *base_dir, struct sg_secret *out,
                   struct sg_error *err);
/* Zeroes and frees the secret. */
void sg_secret_free(struct sg_secret *s);
/* Reads a whole file of at most `max` bytes into a malloc'd NUL-terminated buffer that
 * the caller owns. Returns 0 or an SG_E* code (filling `err`). */
int sg_read_file(const char *path, size_t max, char **out, size_t *len, struct sg_error *err);
/* The same from an open descriptor of a regular file (its owner closes it); `what` names
 * the file in errors. */
int sg_read_fd(int fd, const char *what, size_t max, char **out, size_t *len, struct sg_error *err);
/* Joins `base_dir` and a relative `path` into `out` (absolute paths are copied as they
 * are). Returns 0 or SG_ETOOBIG. */
int sg_path_resolve(const char *base_dir, const char *path, char *out, size_t cap);

#endif
