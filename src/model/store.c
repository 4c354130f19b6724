/* The model store (see model.h): files, manifests, channels, signing and the audit. */
#include "model/model.h"
#include "audit/audit.h"
#include "core/secret.h"
#include "model/enc.h"
#include "model/gguf.h"
#include "model/model_int.h"
#include "route/chanseen.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

struct sg_model_store {
    char root[PATH_MAX];
    bool has_seed;
    uint8_t seed[32], pub[32];
    char key_id[SG_AUDIT_KEY_ID_STR];
    char audit_path[PATH_MAX]; /* "" : none */
    int lock_fd;
    bool lock_excl;           /* lock_fd holds the lock exclusively (else shared) */
    const char *signer_state; /* NULL: none */
    bool accept_older;
    struct sg_chanseen *signer; /* opened by the first channel change */
    char pending[PATH_MAX];     /* the audit trail's pending file ("": none, or too long) */
    bool deferred;              /* a record was put there (a command without the key) */
};

bool sg_model_name_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > SG_MODEL_NAME_MAX || s[0] == '.' || s[0] == '-')
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

int sg_model_key_load(const char *ref, const char *base_dir, bool is_private, uint8_t key[32],
                      struct sg_error *err)
{
    if (!ref || !sg_secret_is_ref(ref))
        return sg_error_set(err, SG_EINVAL, "the %s key must be a reference file:PATH or env:NAME",
                            is_private ? "signing" : "public");
    struct sg_secret sec = {0};
    int rc = sg_secret_load(ref, base_dir, &sec, err);
    if (!rc)
        rc = is_private ? sg_audit_key_parse(sec.data ? sec.data : "", sec.len, key, err)
                        : sg_audit_pubkey_parse(sec.data ? sec.data : "", sec.len, key, err);
    sg_secret_free(&sec);
    return rc;
}

/* ---- paths and files ---- */

int sg_mstore_path(const struct sg_model_store *s, char *out, size_t cap, const char *fmt, ...)
{
    char rel[PATH_MAX];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(rel, sizeof(rel), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(rel))
        return SG_ETOOBIG;
    n = snprintf(out, cap, "%s/%s", s->root, rel);
    return n < 0 || (size_t)n >= cap ? SG_ETOOBIG : 0;
}

int sg_mstore_fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

static void dir_of(const char *path, char *out, size_t cap)
{
    snprintf(out, cap, "%s", path);
    char *sl = strrchr(out, '/');
    if (sl && sl != out)
        *sl = '\0';
}

int sg_mstore_write_full(int fd, const void *p, size_t n)
{
    const uint8_t *b = p;
    while (n) {
        ssize_t w = write(fd, b, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -1;
        if (w == 0) {
            errno = ENOSPC;
            return -1;
        }
        b += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Opens a file of the store to read it. O_NOFOLLOW: a symbolic link planted in the store
 * (blobs/sha256/<hex> -> /etc/shadow, or to genuine bytes kept elsewhere that may change
 * after they were checked) is refused, never read through; the store itself writes only
 * regular files. O_NONBLOCK: a FIFO put there does not hang the open; the fstat then
 * refuses it (and devices, folders) too. `what` names the file in the error. Returns the
 * descriptor or a negative SG_E* code. */
int sg_mstore_open_read(const char *path, const char *what, struct sg_error *err)
{
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0 && errno == ELOOP)
        return sg_error_set(err, SG_EIO,
                            "%s is not a regular file (a symbolic link, which the store does "
                            "not follow): refused",
                            what);
    if (fd < 0)
        return sg_error_set(err, errno == ENOENT ? SG_ENOTFOUND : SG_EIO, "%s is missing: %s", what,
                            strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return sg_error_set(err, SG_EIO, "%s is not a regular file: refused", what);
    }
    return fd;
}

/* The whole of a small store file (a manifest, a channel file; at most `max` bytes),
 * opened as sg_mstore_open_read does; `*out` (NUL-terminated) is the caller's to free. */
int sg_mstore_read_file(const char *path, size_t max, const char *what, char **out, size_t *len,
                        struct sg_error *err)
{
    *out = NULL;
    *len = 0;
    int fd = sg_mstore_open_read(path, what, err);
    if (fd < 0)
        return fd;
    int rc = sg_read_fd(fd, what, max, out, len, err);
    close(fd);
    return rc;
}

/* A new temporary file in tmp/ (path into `path`). mkostemp creates it with O_CREAT |
 * O_EXCL, which never follows a symbolic link put under that name. */
int sg_mstore_tmp(const struct sg_model_store *s, char *path, size_t cap, struct sg_error *err)
{
    if (sg_mstore_path(s, path, cap, "tmp/new-XXXXXX") != 0)
        return sg_error_set(err, SG_ETOOBIG, "the store path is too long");
    int fd = mkostemp(path, O_CLOEXEC);
    if (fd < 0)
        return sg_error_set(err, SG_EIO, "cannot create a file in %s/tmp: %s", s->root,
                            strerror(errno));
    fchmod(fd, 0640);
    return fd;
}

/* Writes `data` to `dest` atomically: tmp file, fsync, rename, fsync the directory. */
int sg_mstore_write_atomic(struct sg_model_store *s, const char *dest, const char *data, size_t n,
                           struct sg_error *err)
{
    char tmp[PATH_MAX];
    int fd = sg_mstore_tmp(s, tmp, sizeof(tmp), err);
    if (fd < 0)
        return fd;
    if (sg_mstore_write_full(fd, data, n) != 0 || fsync(fd) != 0) {
        int e = errno;
        close(fd);
        unlink(tmp);
        return sg_error_set(err, SG_EIO, "cannot write %s: %s", dest, strerror(e));
    }
    if (close(fd) != 0 || rename(tmp, dest) != 0) {
        int e = errno;
        unlink(tmp);
        return sg_error_set(err, SG_EIO, "cannot write %s: %s", dest, strerror(e));
    }
    char dir[PATH_MAX];
    dir_of(dest, dir, sizeof(dir));
    if (sg_mstore_fsync_dir(dir) != 0)
        return sg_error_set(err, SG_EIO, "cannot sync %s: %s", dir, strerror(errno));
    return 0;
}

int sg_mstore_mkdir_p(const char *path)
{
    char buf[PATH_MAX];
    snprintf(buf, sizeof(buf), "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0750) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    return mkdir(buf, 0750) != 0 && errno != EEXIST ? -1 : 0;
}

/* json_dumps's memory comes from jansson's allocator (which a program may replace). */
static void jfree(void *p)
{
    json_free_t f = NULL;
    json_get_alloc_funcs(NULL, &f);
    if (p)
        (f ? f : free)(p);
}

/* ---- signing ---- */

static int sign_text(const struct sg_model_store *s, const char *msg, size_t len, uint8_t sig[64])
{
    EVP_PKEY *k = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, s->seed, 32);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    size_t n = 64;
    int ok = k && ctx && EVP_DigestSignInit(ctx, NULL, NULL, NULL, k) == 1 &&
             EVP_DigestSign(ctx, sig, &n, (const unsigned char *)msg, len) == 1 && n == 64;
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(k);
    return ok ? 0 : SG_ECRYPTO;
}

static bool sig_ok(const uint8_t pub[32], const char *msg, size_t len, const uint8_t sig[64])
{
    EVP_PKEY *k = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub, 32);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    bool ok = k && ctx && EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, k) == 1 &&
              EVP_DigestVerify(ctx, sig, 64, (const unsigned char *)msg, len) == 1;
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(k);
    return ok;
}

/* The signed text of a payload: "<domain>:" + compact JSON with sorted keys. */
static char *signed_text(const char *domain, json_t *payload)
{
    char *body = json_dumps(payload, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII);
    if (!body)
        return NULL;
    size_t n = strlen(domain) + strlen(body) + 2;
    char *t = malloc(n);
    if (t)
        snprintf(t, n, "%s:%s", domain, body);
    jfree(body);
    return t;
}

/* Wraps a payload into {"payload":..., "signature":{...}} (takes `payload`). */
static json_t *sign_doc(const struct sg_model_store *s, const char *domain, json_t *payload,
                        struct sg_error *err)
{
    if (!s->has_seed) {
        json_decref(payload);
        sg_error_set(err, SG_EINVAL, "this change needs the signing key (models.signing_key)");
        return NULL;
    }
    char *t = signed_text(domain, payload);
    uint8_t sig[64];
    if (!t || sign_text(s, t, strlen(t), sig) != 0) {
        free(t);
        json_decref(payload);
        sg_error_set(err, SG_ECRYPTO, "cannot sign the %s", domain);
        return NULL;
    }
    free(t);
    char hex[129];
    sg_hex_encode(sig, 64, hex);
    return json_pack("{s:o,s:{s:s,s:s,s:s}}", "payload", payload, "signature", "alg", "ed25519",
                     "key_id", s->key_id, "value", hex);
}

/* Checks a signed document; returns its payload (borrowed from `doc`) or NULL with err. */
static json_t *check_doc(const struct sg_model_store *s, const char *domain, json_t *doc,
                         const char *what, struct sg_error *err)
{
    json_t *payload = json_object_get(doc, "payload");
    json_t *sig = json_object_get(doc, "signature");
    const char *hex = json_string_value(json_object_get(sig, "value"));
    const char *alg = json_string_value(json_object_get(sig, "alg"));
    const char *kid = json_string_value(json_object_get(sig, "key_id"));
    uint8_t raw[64];
    if (!json_is_object(payload) || !hex || !alg || strcmp(alg, "ed25519") != 0 ||
        sg_hex_decode(hex, strlen(hex), raw, 64) != 0) {
        sg_error_set(err, SG_EINVAL, "%s: not a signed document (payload, signature)", what);
        return NULL;
    }
    char *t = signed_text(domain, payload);
    bool ok = t && sig_ok(s->pub, t, strlen(t), raw);
    free(t);
    if (!ok) {
        if (kid && strcmp(kid, s->key_id) != 0)
            sg_error_set(err, SG_ECRYPTO, "%s: signed by key %.16s, not by the configured key %s",
                         what, kid, s->key_id);
        else
            sg_error_set(err, SG_ECRYPTO,
                         "%s: the signature does not verify (the document or its signature "
                         "was changed)",
                         what);
        return NULL;
    }
    return payload;
}

static json_t *load_json(const char *path, const char *what, struct sg_error *err)
{
    char *data = NULL;
    size_t len = 0;
    int rc = sg_mstore_read_file(path, SG_MSTORE_DOC_MAX, what, &data, &len, err);
    if (rc)
        return NULL;
    json_error_t je;
    json_t *j = json_loadb(data, len, JSON_REJECT_DUPLICATES, &je);
    free(data);
    if (!j || !json_is_object(j)) {
        json_decref(j);
        sg_error_set(err, SG_EINVAL, "%s: not a JSON object (%s, line %d)", path, je.text, je.line);
        return NULL;
    }
    return j;
}

/* Loads and checks manifest name/version; returns the whole document (payload checked,
 * and its name/version must be the path's). */
json_t *sg_mstore_load_manifest(struct sg_model_store *s, const char *name, const char *version,
                                struct sg_error *err)
{
    char path[PATH_MAX], what[200];
    if (!sg_model_name_ok(name) || !sg_model_name_ok(version)) {
        sg_error_set(err, SG_EINVAL, "invalid model name or version");
        return NULL;
    }
    sg_mstore_path(s, path, sizeof(path), "manifests/%s/%s.json", name, version);
    snprintf(what, sizeof(what), "manifest %s %s", name, version);
    /* lstat: a symbolic link under that name is not "no model" but refused by load_json. */
    struct stat st;
    if (lstat(path, &st) != 0) {
        sg_error_set(err, SG_ENOTFOUND, "no model %s version %s in the store", name, version);
        return NULL;
    }
    json_t *doc = load_json(path, what, err);
    if (!doc)
        return NULL;
    json_t *p = check_doc(s, "sovgate-model-manifest:1", doc, what, err);
    if (p) {
        const char *n = json_string_value(json_object_get(p, "name"));
        const char *v = json_string_value(json_object_get(p, "version"));
        if (!n || !v || strcmp(n, name) != 0 || strcmp(v, version) != 0) {
            sg_error_set(err, SG_EINVAL, "%s: the signed payload names another model", what);
            p = NULL;
        }
    }
    if (!p) {
        json_decref(doc);
        return NULL;
    }
    return doc;
}

int sg_model_manifest_sha256(json_t *payload, char hex[SG_MODEL_DIGEST_HEX + 1])
{
    char *t = json_is_object(payload) ? signed_text("sovgate-model-manifest:1", payload) : NULL;
    if (!t)
        return json_is_object(payload) ? SG_ENOMEM : SG_EINVAL;
    uint8_t d[32];
    sg_sha256(t, strlen(t), d);
    free(t);
    sg_hex_encode(d, 32, hex);
    return 0;
}

int sg_mstore_manifest_digest(json_t *doc, char hex[65])
{
    return sg_model_manifest_sha256(json_object_get(doc, "payload"), hex);
}

int sg_model_digest_parse(const char *s, char hex[SG_MODEL_DIGEST_HEX + 1], struct sg_error *err)
{
    /* Only the length is named, never the value: it comes from a command line and may be
     * anything (a terminal control sequence, say). */
    size_t n = s ? strnlen(s, SG_MODEL_DIGEST_HEX + 1) : 0;
    if (n == 0)
        return sg_error_set(err, SG_EINVAL,
                            "the pinned manifest digest is empty: 64 lower-case hex digits "
                            "expected (the SHA-256 of the manifest's signed text)");
    if (n > SG_MODEL_DIGEST_HEX)
        return sg_error_set(err, SG_EINVAL,
                            "the pinned manifest digest is longer than 64 characters: 64 "
                            "lower-case hex digits expected");
    if (n < SG_MODEL_DIGEST_HEX)
        return sg_error_set(err, SG_EINVAL,
                            "the pinned manifest digest has %zu characters, not 64 lower-case "
                            "hex digits",
                            n);
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))
            continue;
        return sg_error_set(err, SG_EINVAL,
                            "the pinned manifest digest has %s at position %zu: 64 lower-case "
                            "hex digits expected",
                            c >= 'A' && c <= 'F'
                                ? "an upper-case hex digit (write it in lower case, "
                                  "as the store does)"
                                : "a character that is not a hex digit",
                            i + 1);
    }
    memcpy(hex, s, SG_MODEL_DIGEST_HEX);
    hex[SG_MODEL_DIGEST_HEX] = '\0';
    return 0;
}

json_t *sg_mstore_check_manifest(struct sg_model_store *s, json_t *doc, struct sg_error *err)
{
    return check_doc(s, "sovgate-model-manifest:1", doc, "the pulled manifest", err);
}

#define CHANNELS_DOMAIN "sovgate-model-channels:1"

/* SHA-256 of a channel payload's signed text: what tells two files under one sequence
 * number apart. */
static int chan_digest(json_t *payload, uint8_t out[32])
{
    char *t = signed_text(CHANNELS_DOMAIN, payload);
    if (!t)
        return SG_ENOMEM;
    sg_sha256(t, strlen(t), out);
    free(t);
    return 0;
}

/* Channels of a model: the checked payload's "channels" object, as a new reference. A
 * missing file is an empty object. */
json_t *sg_mstore_load_channels(struct sg_model_store *s, const char *name,
                                struct sg_model_chanver *ver, struct sg_error *err)
{
    char path[PATH_MAX], what[120];
    if (ver)
        memset(ver, 0, sizeof(*ver));
    if (!sg_model_name_ok(name)) {
        sg_error_set(err, SG_EINVAL, "invalid model name");
        return NULL;
    }
    sg_mstore_path(s, path, sizeof(path), "channels/%s.json", name);
    snprintf(what, sizeof(what), "channels of %s", name);
    struct stat st;
    if (lstat(path, &st) != 0) /* a dangling link is refused by load_json, not "no file" */
        return json_object();
    json_t *doc = load_json(path, what, err);
    if (!doc)
        return NULL;
    json_t *p = check_doc(s, CHANNELS_DOMAIN, doc, what, err);
    json_t *ch = p ? json_object_get(p, "channels") : NULL;
    const char *n = p ? json_string_value(json_object_get(p, "name")) : NULL;
    json_t *sq = p ? json_object_get(p, "seq") : NULL;
    if (p && (!json_is_object(ch) || !n || strcmp(n, name) != 0 ||
              (sq && (!json_is_integer(sq) || json_integer_value(sq) < 1)))) {
        sg_error_set(err, SG_EINVAL, "%s: damaged payload", what);
        ch = NULL;
    }
    if (ch && ver) {
        ver->seq = sq ? (uint64_t)json_integer_value(sq) : 0;
        if (chan_digest(p, ver->digest) != 0) {
            sg_error_set(err, SG_ENOMEM, "out of memory");
            ch = NULL;
        }
    }
    if (ch)
        json_incref(ch);
    json_decref(doc);
    return ch;
}

/* ---- the signer's state ---- */

/* The signer's key for a channel file: its absolute path through the store's real path. */
static int signer_key(const struct sg_model_store *s, const char *name, char *out, size_t cap,
                      struct sg_error *err)
{
    char real[PATH_MAX];
    if (!realpath(s->root, real))
        return sg_error_set(err, SG_EIO, "cannot resolve the store path %s: %s", s->root,
                            strerror(errno));
    int n = snprintf(out, cap, "%s/channels/%s.json", real, name);
    return n < 0 || (size_t)n >= cap ? sg_error_set(err, SG_ETOOBIG, "the store path is too long")
                                     : 0;
}

/* Whether the signer may build on channel file `base` of `name`; `seq` gets the new file's
 * sequence number. A file older than the one the signer last signed for it, or another
 * file under that number, is a signed file put back (docs/models.md). */
static int signer_check(struct sg_model_store *s, const char *name,
                        const struct sg_model_chanver *base, uint64_t *seq, struct sg_error *err)
{
    *seq = base->seq + 1;
    if (!s->signer_state)
        return 0;
    char key[PATH_MAX];
    int rc = s->signer ? 0 : sg_chanseen_open(s->signer_state, &s->signer, err);
    if (rc || (rc = signer_key(s, name, key, sizeof(key), err)))
        return rc;
    uint64_t rec = 0;
    enum sg_chanseen_verdict v =
        sg_chanseen_check(s->signer, key, base->seq, base->seq ? base->digest : NULL, &rec);
    if (v == SG_CHANSEEN_OK)
        return 0;
    if (s->accept_older) {
        *seq = (rec > base->seq ? rec : base->seq) + 1;
        return 0;
    }
    if (v == SG_CHANSEEN_OLDER)
        return sg_error_set(err, SG_EINVAL,
                            "channels/%s.json has sequence %llu, older than the %llu this "
                            "signer signed: a replayed file? Put the newest back or pass "
                            "--accept-older-channels",
                            name, (unsigned long long)base->seq, (unsigned long long)rec);
    return sg_error_set(err, SG_EINVAL,
                        "channels/%s.json is not the file this signer signed as sequence %llu: "
                        "a replayed file? Put the newest back or pass --accept-older-channels",
                        name, (unsigned long long)rec);
}

int sg_mstore_signer_note(struct sg_model_store *s, const char *name,
                          const struct sg_model_chanver *ver, int rc, struct sg_error *err)
{
    char key[PATH_MAX];
    struct sg_error e2 = {0};
    if (!s->signer)
        return rc;
    if (signer_key(s, name, key, sizeof(key), &e2) == 0 &&
        sg_chanseen_put(s->signer, key, ver->seq, ver->digest, &e2) == 0)
        return rc;
    if (rc)
        return rc;
    return sg_error_set(err, e2.code ? e2.code : SG_EIO,
                        "channels/%s.json was written (sequence %llu), the signer's state was "
                        "not: %s",
                        name, (unsigned long long)ver->seq, e2.msg);
}

int sg_mstore_save_channels(struct sg_model_store *s, const char *name, json_t *channels,
                            const struct sg_model_chanver *base, struct sg_model_chanver *out,
                            struct sg_error *err)
{
    /* The sequence number is signed with the rest: a gateway that has seen sequence N
     * refuses an older, genuinely signed channel file put back (docs/models.md). */
    uint64_t seq = 0;
    int rc = signer_check(s, name, base, &seq, err);
    if (rc)
        return rc;
    json_t *payload = json_pack("{s:s,s:s,s:O,s:I}", "schema", "sovgate-model-channels/1", "name",
                                name, "channels", channels, "seq", (json_int_t)seq);
    out->seq = seq;
    if (!payload || chan_digest(payload, out->digest) != 0) {
        json_decref(payload);
        return sg_error_set(err, SG_ENOMEM, "out of memory");
    }
    json_t *doc = sign_doc(s, CHANNELS_DOMAIN, payload, err);
    if (!doc)
        return err && err->code ? err->code : SG_ENOMEM;
    char *text = json_dumps(doc, JSON_INDENT(2) | JSON_SORT_KEYS);
    json_decref(doc);
    if (!text)
        return sg_error_set(err, SG_ENOMEM, "out of memory");
    char path[PATH_MAX];
    sg_mstore_path(s, path, sizeof(path), "channels/%s.json", name);
    size_t n = strlen(text);
    text[n] = '\n'; /* json_dumps's NUL becomes the newline; write n+1 bytes */
    rc = sg_mstore_write_atomic(s, path, text, n + 1, err);
    jfree(text);
    return rc;
}

/* ---- audit ---- */

/* A command without the signing key (pull, push, gc on a host that holds only the public
 * key) cannot sign the checkpoint that an append to the trail ends with, and one unsigned
 * checkpoint makes `sovgate audit verify --pubkey` refuse the trail for good. So its record
 * waits in the pending file beside the trail (<audit>.pending, one JSON object a line, with
 * "deferred_at") until the next command with the key moves it into the trail, ahead of its
 * own record, under checkpoints it signs (docs/models.md "Audit"). The file has a lock of
 * its own (flock) because push appends without the store's lock. */
#define PENDING_MAX (16u << 20)

static int lock_file(const char *path, bool create, int op, int *fd, int *e);
static void now_iso(char out[32]);

struct audit_wait {
    size_t done;
    int rc;
};

static void audit_done(void *arg, int result)
{
    struct audit_wait *w = arg;
    w->done++;
    if (result && !w->rc)
        w->rc = result;
}

/* Opens the pending file locked (made when `create`; *fd -1 when it is missing and not
 * made). A link or anything but a regular file there is refused, never followed. */
static int pending_open(const char *path, bool create, int *fd, struct sg_error *err)
{
    int e = 0;
    int rc = lock_file(path, create, LOCK_EX, fd, &e);
    if (rc)
        return sg_error_set(err, SG_EIO, "cannot open it: %s",
                            e == ELOOP ? "a symbolic link, which the store does not follow"
                                       : strerror(e));
    struct stat st;
    if (*fd >= 0 && (fstat(*fd, &st) != 0 || !S_ISREG(st.st_mode))) {
        close(*fd);
        *fd = -1;
        return sg_error_set(err, SG_EIO, "it is not a regular file");
    }
    return 0;
}

/* Appends `rec` (taken) to the pending file, with the time of the change. A write that
 * fails is cut off again, so the file holds whole lines only. */
static int defer_record(struct sg_model_store *s, json_t *rec, struct sg_error *err)
{
    char at[32];
    now_iso(at);
    json_object_set_new(rec, "deferred_at", json_string(at));
    char *text = json_dumps(rec, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(rec);
    if (!text)
        return sg_error_set(err, SG_ENOMEM, "out of memory");
    struct sg_error e2 = {0};
    int fd = -1, rc = s->pending[0] ? pending_open(s->pending, true, &fd, &e2)
                                    : sg_error_set(&e2, SG_ETOOBIG, "the path is too long");
    off_t end = fd >= 0 ? lseek(fd, 0, SEEK_END) : -1;
    if (!rc && end < 0)
        rc = sg_error_set(&e2, SG_EIO, "%s", strerror(errno));
    if (!rc) {
        size_t n = strlen(text);
        text[n] = '\n'; /* json_dumps's NUL becomes the newline; n+1 bytes written */
        if (sg_mstore_write_full(fd, text, n + 1) != 0 || fsync(fd) != 0) {
            rc = sg_error_set(&e2, SG_EIO, "%s", strerror(errno));
            if (ftruncate(fd, end) == 0)
                fsync(fd);
        } else if (end == 0) { /* a new file: its name made durable too */
            char dir[PATH_MAX];
            dir_of(s->pending, dir, sizeof(dir));
            sg_mstore_fsync_dir(dir);
        }
    }
    if (fd >= 0)
        close(fd);
    jfree(text);
    if (rc)
        return sg_error_set(err, rc,
                            "the change was made but its audit record could not be written to "
                            "%s (where it waits for the signing key): %s",
                            s->pending[0] ? s->pending : s->audit_path, e2.msg);
    s->deferred = true;
    return 0;
}

/* The records waiting in the pending file `fd`, each checked to be what defer_record
 * wrote: a JSON object with the store's "event" ("model.*") and "deferred_at", and none of
 * the members the trail adds. `*recs` gets them as the text to append (an array). */
static int pending_read(int fd, json_t **recs, struct sg_error *err)
{
    char *data = NULL;
    size_t len = 0, line = 0;
    *recs = NULL;
    int rc = sg_read_fd(fd, "it", PENDING_MAX, &data, &len, err);
    if (rc)
        return rc;
    json_t *v = json_array();
    for (size_t i = 0; v && !rc && i < len; line++) {
        char *nl = memchr(data + i, '\n', len - i);
        size_t n = nl ? (size_t)(nl - data) - i : len - i;
        json_t *r = nl ? json_loadb(data + i, n, JSON_REJECT_DUPLICATES, NULL) : NULL;
        const char *ev = json_string_value(json_object_get(r, "event"));
        char *t = NULL;
        if (!json_is_object(r) || !ev || strncmp(ev, "model.", 6) != 0 ||
            !json_is_string(json_object_get(r, "deferred_at")) || json_object_get(r, "seq") ||
            json_object_get(r, "ts") || !(t = json_dumps(r, JSON_COMPACT | JSON_SORT_KEYS)) ||
            strlen(t) > SG_AUDIT_RECORD_MAX)
            rc = sg_error_set(err, SG_EINVAL,
                              "line %zu is not a deferred audit record%s: repair or remove the "
                              "file",
                              line + 1, nl ? "" : " (cut short: no newline)");
        else if (json_array_append_new(v, json_string(t)) != 0)
            rc = sg_error_set(err, SG_ENOMEM, "out of memory");
        jfree(t);
        json_decref(r);
        i += n + 1;
    }
    free(data);
    if (!v && !rc)
        rc = sg_error_set(err, SG_ENOMEM, "out of memory");
    if (rc)
        json_decref(v);
    else
        *recs = v;
    return rc;
}

/* Appends one record {"event":..., members of `rec`} (takes `rec`); with the signing key,
 * after the records that wait in the pending file, which is then removed. */
int sg_mstore_audit(struct sg_model_store *s, const char *event, json_t *rec, struct sg_error *err)
{
    if (!s->audit_path[0]) {
        json_decref(rec);
        return 0;
    }
    json_object_set_new(rec, "event", json_string(event));
    json_object_set_new(rec, "store", json_string(s->root));
    if (!s->has_seed)
        return defer_record(s, rec, err);
    char *text = json_dumps(rec, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(rec);
    if (!text)
        return sg_error_set(err, SG_ENOMEM, "out of memory");
    /* Locked until they are in the trail and the file is gone: a record deferred meanwhile
     * waits for the lock and goes into a new file. */
    struct sg_error pe = {0};
    int pfd = -1;
    json_t *pend = NULL;
    int prc = s->pending[0] ? pending_open(s->pending, false, &pfd, &pe) : 0;
    if (!prc && pfd >= 0)
        prc = pending_read(pfd, &pend, &pe);
    struct sg_audit_opts o = {.path = s->audit_path, .signing_key = s->seed};
    struct sg_audit *a = NULL;
    struct sg_error e2 = {0};
    struct audit_wait w = {0, 0};
    size_t n = 0;
    int rc = sg_audit_open(&o, &a, &e2);
    if (!rc) {
        size_t i;
        json_t *t;
        json_array_foreach(pend, i, t)
        {
            const char *p = json_string_value(t);
            if (!rc && (rc = sg_audit_append(a, p, strlen(p), audit_done, &w)) == 0)
                n++;
        }
        if (!rc && (rc = sg_audit_append(a, text, strlen(text), audit_done, &w)) == 0)
            n++;
        sg_audit_close(a); /* every done callback has run */
        if (!rc)
            rc = w.rc ? w.rc : w.done == n ? 0 : SG_EIO;
    }
    jfree(text);
    json_decref(pend);
    if (!rc && !prc && pfd >= 0) {
        char dir[PATH_MAX];
        dir_of(s->pending, dir, sizeof(dir));
        if (unlink(s->pending) != 0 || sg_mstore_fsync_dir(dir) != 0)
            prc = sg_error_set(&pe, SG_EIO,
                               "they are in the trail now, but the file cannot be removed: %s "
                               "(remove it by hand)",
                               strerror(errno));
    }
    if (pfd >= 0)
        close(pfd);
    if (rc)
        return sg_error_set(err, rc,
                            "the change was made but its audit record could not be written "
                            "to %s: %s",
                            s->audit_path, e2.msg[0] ? e2.msg : sg_strerror(rc));
    if (prc)
        return sg_error_set(err, prc,
                            "the change was made and audited, but the records waiting in %s "
                            "were not: %s",
                            s->pending, pe.msg);
    return 0;
}

/* ---- open / lock ---- */

int sg_model_store_open(const struct sg_model_store_opts *o, struct sg_model_store **out,
                        struct sg_error *err)
{
    *out = NULL;
    if (!o->root || !o->root[0])
        return sg_error_set(err, SG_EINVAL, "no model store (models.store or --store)");
    struct sg_model_store *s = calloc(1, sizeof(*s));
    if (!s)
        return sg_error_set(err, SG_ENOMEM, "out of memory");
    s->lock_fd = -1;
    s->signer_state = o->signer_state;
    s->accept_older = o->accept_older_channels;
    if (snprintf(s->root, sizeof(s->root), "%s", o->root) >= (int)sizeof(s->root) - 64) {
        free(s);
        return sg_error_set(err, SG_ETOOBIG, "the store path is too long");
    }
    if (o->signing_key) {
        s->has_seed = true;
        memcpy(s->seed, o->signing_key, 32);
        if (sg_audit_key_public(s->seed, s->pub) != 0) {
            sg_model_store_free(s);
            return sg_error_set(err, SG_ECRYPTO, "unusable signing key");
        }
        if (o->public_key && memcmp(o->public_key, s->pub, 32) != 0) {
            sg_model_store_free(s);
            return sg_error_set(err, SG_EINVAL,
                                "the public key is not the signing key's public key");
        }
    } else if (o->public_key) {
        memcpy(s->pub, o->public_key, 32);
    } else {
        sg_model_store_free(s);
        return sg_error_set(err, SG_EINVAL,
                            "no key to verify the store with (models.public_key or "
                            "models.signing_key)");
    }
    sg_audit_key_id(s->pub, s->key_id);
    if (!o->audit_path)
        snprintf(s->audit_path, sizeof(s->audit_path), "%s/audit.db", s->root);
    else
        snprintf(s->audit_path, sizeof(s->audit_path), "%s", o->audit_path);
    if (s->audit_path[0] && snprintf(s->pending, sizeof(s->pending), "%s.pending", s->audit_path) >=
                                (int)sizeof(s->pending))
        s->pending[0] = '\0';
    static const char *const dirs[] = {"blobs/sha256", "manifests", "channels", "tmp"};
    for (size_t i = 0; i < 4; i++) {
        char p[PATH_MAX];
        sg_mstore_path(s, p, sizeof(p), "%s", dirs[i]);
        struct stat st;
        if (stat(p, &st) == 0 && S_ISDIR(st.st_mode))
            continue;
        if (!o->create || sg_mstore_mkdir_p(p) != 0) {
            int e = errno;
            sg_model_store_free(s);
            return sg_error_set(err, o->create ? SG_EIO : SG_ENOTFOUND,
                                "%s is not a model store (%s missing%s%s)", o->root, dirs[i],
                                o->create ? ": " : "", o->create ? strerror(e) : "");
        }
    }
    *out = s;
    return 0;
}

void sg_model_store_free(struct sg_model_store *s)
{
    if (!s)
        return;
    if (s->lock_fd >= 0)
        close(s->lock_fd);
    sg_chanseen_free(s->signer);
    sg_secure_zero(s->seed, sizeof(s->seed));
    free(s);
}

const char *sg_model_store_deferred(const struct sg_model_store *s)
{
    return s->deferred ? s->pending : NULL;
}

/* Removes what failed changes left in tmp/ (regular files and links; unlink never follows
 * a link). */
static void clean_tmp(struct sg_model_store *s)
{
    char p[PATH_MAX];
    sg_mstore_path(s, p, sizeof(p), "tmp");
    DIR *d = opendir(p);
    for (struct dirent *de; d && (de = readdir(d));) {
        if (de->d_name[0] == '.')
            continue;
        char f[PATH_MAX];
        if (snprintf(f, sizeof(f), "%s/%s", p, de->d_name) < (int)sizeof(f))
            unlink(f);
    }
    if (d)
        closedir(d);
}

/* Who holds the store's lock, for a command that finds it held: exclusively every change
 * (sg_mstore_lock, and `sovgate restore --force` through sg_model_lock_root), shared the
 * readers that must see no change half done (`model gc --dry-run`, the orphan scan of
 * `model verify`, `sovgate backup`). A shared lock waits only for the changes. Kept short:
 * the message that names them holds a path and the caller's hint too (SG_ERROR_MSG_MAX). */
#define LOCK_CHANGERS "a model import, pull, promote, rollback, remove or gc, or a restore --force"
#define LOCK_CHANGERS_READERS                                                                      \
    "a model import, pull, promote, rollback, remove, gc or verify, a backup or a restore --force"

/* Locks the lock file `path` with `op` (flock: LOCK_SH or LOCK_EX, with LOCK_NB or not) on
 * a new descriptor, and checks, once the lock is granted, that `path` still names the file
 * locked: the folder holding a store may have been replaced while this waited (`sovgate
 * restore --force` swaps it under the old store's lock), and the lock of a file that is
 * gone protects nothing; then it starts again on the file now there. `create`: the file is
 * created when missing (a change; mode 0640), else a missing file gives *fd = -1 and 0.
 * Returns 0 with *fd holding the lock, SG_EUNAVAIL (LOCK_NB: held by another), or SG_EIO
 * with *e the errno. Also the lock of the audit trail's pending file (see above). */
static int lock_file(const char *path, bool create, int op, int *fd, int *e)
{
    *fd = -1;
    *e = 0;
    for (;;) {
        /* O_NONBLOCK: a FIFO put there does not hang the open (flock waits all the same) */
        int f =
            open(path, (create ? O_RDWR | O_CREAT : O_RDONLY) | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC,
                 0640);
        if (f < 0) {
            *e = errno;
            return !create && *e == ENOENT ? 0 : SG_EIO;
        }
        int r;
        while ((r = flock(f, op)) != 0 && errno == EINTR)
            ;
        if (r != 0) {
            *e = errno;
            close(f);
            return *e == EWOULDBLOCK ? SG_EUNAVAIL : SG_EIO;
        }
        struct stat held, now;
        if (fstat(f, &held) != 0) {
            *e = errno;
            close(f);
            return SG_EIO;
        }
        if (lstat(path, &now) == 0 && now.st_dev == held.st_dev && now.st_ino == held.st_ino) {
            *fd = f;
            return 0;
        }
        close(f); /* replaced (or removed) while this waited: the file there now */
    }
}

int sg_mstore_lock_as(struct sg_model_store *s, bool exclusive, bool clean, struct sg_error *err)
{
    if (s->lock_fd >= 0 && (s->lock_excl || !exclusive))
        return 0;
    char p[PATH_MAX];
    sg_mstore_path(s, p, sizeof(p), ".lock");
    int fd = s->lock_fd, e = 0;
    if (fd >= 0) { /* shared already: made exclusive on the same descriptor */
        int r;
        while ((r = flock(fd, LOCK_EX)) != 0 && errno == EINTR)
            ;
        e = r ? errno : 0;
    } else {
        lock_file(p, true, exclusive ? LOCK_EX : LOCK_SH, &fd, &e);
    }
    if (fd < 0 || e)
        return sg_error_set(err, SG_EIO, "cannot lock the store %s: %s", s->root, strerror(e));
    s->lock_fd = fd;
    s->lock_excl = exclusive;
    if (exclusive && clean)
        clean_tmp(s);
    return 0;
}

bool sg_mstore_holds_lock(const struct sg_model_store *s)
{
    return s->lock_fd >= 0;
}

int sg_mstore_lock_peek(const struct sg_model_store *s, int *fd, struct sg_error *err)
{
    char p[PATH_MAX];
    int e = 0;
    *fd = -1;
    if (sg_mstore_path(s, p, sizeof(p), ".lock") != 0)
        return sg_error_set(err, SG_ETOOBIG, "the store path is too long");
    int rc = lock_file(p, false, LOCK_SH | LOCK_NB, fd, &e);
    if (rc == SG_EUNAVAIL)
        return sg_error_set(
            err, rc, "a change of the store is under way (" LOCK_CHANGERS " holds its lock)");
    if (rc)
        return sg_error_set(err, rc, "cannot lock the store %s: %s", s->root, strerror(e));
    return 0;
}

int sg_model_lock_root(const char *root, bool exclusive, unsigned wait_ms,
                       void (*waiting)(void *arg), void *arg, int *fd, struct sg_error *err)
{
    char p[PATH_MAX];
    *fd = -1;
    if (snprintf(p, sizeof(p), "%s/.lock", root) >= (int)sizeof(p))
        return sg_error_set(err, SG_ETOOBIG, "path too long in the model store");
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    bool told = false;
    for (;;) {
        int e = 0;
        int rc = lock_file(p, false, (exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB, fd, &e);
        if (rc == 0)
            return 0; /* locked, or no lock file (*fd -1) */
        if (rc != SG_EUNAVAIL)
            return sg_error_set(err, SG_EIO, "cannot lock the model store %.200s: %s", root,
                                strerror(e));
        clock_gettime(CLOCK_MONOTONIC, &now);
        int64_t ms =
            (int64_t)(now.tv_sec - t0.tv_sec) * 1000 + (now.tv_nsec - t0.tv_nsec) / 1000000;
        if (ms >= (int64_t)wait_ms)
            return sg_error_set(err, SG_EUNAVAIL,
                                "the model store is busy (%s holds its lock); try again (waited "
                                "%u s for %.120s)",
                                exclusive ? LOCK_CHANGERS_READERS : LOCK_CHANGERS,
                                (wait_ms + 999) / 1000, p);
        if (!told && waiting)
            waiting(arg);
        told = true;
        struct timespec d = {0, 50 * 1000 * 1000};
        nanosleep(&d, NULL);
    }
}

/* Takes the store's lock and removes what failed changes left in tmp/. */
int sg_mstore_lock(struct sg_model_store *s, struct sg_error *err)
{
    return sg_mstore_lock_as(s, true, true, err);
}

/* ---- import ---- */

static void now_iso(char out[32])
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static json_t *gguf_json(const struct sg_gguf_info *g)
{
    json_t *j = json_object();
    json_object_set_new(j, "gguf_version", json_integer(g->version));
    json_object_set_new(j, "architecture", json_string(g->arch));
    json_object_set_new(j, "model_name", json_string(g->name));
    json_object_set_new(j, "parameters", json_integer((json_int_t)g->n_params));
    json_object_set_new(j, "tensors", json_integer((json_int_t)g->n_tensors));
    const char *ft = sg_gguf_ftype_name(g->file_type);
    if (!ft && g->dominant_type >= 0)
        ft = sg_gguf_type_name(g->dominant_type);
    json_object_set_new(j, "file_type", ft ? json_string(ft) : json_null());
    json_object_set_new(j, "context_length", json_integer((json_int_t)g->context_length));
    if (g->has_chat_template) {
        char hex[65];
        sg_hex_encode(g->chat_template_sha256, 32, hex);
        json_object_set_new(j, "chat_template_sha256", json_string(hex));
    } else {
        json_object_set_new(j, "chat_template_sha256", json_null());
    }
    return j;
}

void sg_model_enc_key_id(const uint8_t key[SG_MENC_KEY_LEN], char out[17])
{
    uint8_t buf[21 + SG_MENC_KEY_LEN], h[32];
    memcpy(buf, "sovgate-model-key-id:", 21);
    memcpy(buf + 21, key, SG_MENC_KEY_LEN);
    sg_sha256(buf, sizeof(buf), h);
    sg_secure_zero(buf, sizeof(buf));
    sg_hex_encode(h, 8, out);
}

int sg_model_import(struct sg_model_store *s, const struct sg_model_import_opts *o,
                    json_t **manifest, struct sg_error *err)
{
    if (manifest)
        *manifest = NULL;
    if (!sg_model_name_ok(o->name) || !sg_model_name_ok(o->version))
        return sg_error_set(err, SG_EINVAL,
                            "name and version: 1 to 64 of A-Z a-z 0-9 . _ -, not starting "
                            "with . or -");
    if (!s->has_seed)
        return sg_error_set(err, SG_EINVAL, "import needs the signing key (models.signing_key)");
    int rc = sg_mstore_lock(s, err);
    if (rc)
        return rc;
    char mpath[PATH_MAX], mdir[PATH_MAX];
    sg_mstore_path(s, mdir, sizeof(mdir), "manifests/%s", o->name);
    sg_mstore_path(s, mpath, sizeof(mpath), "manifests/%s/%s.json", o->name, o->version);
    struct stat st;
    if (lstat(mpath, &st) == 0)
        return sg_error_set(err, SG_EEXIST, "model %s version %s already exists", o->name,
                            o->version);
    int in = open(o->file, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return sg_error_set(err, errno == ENOENT ? SG_ENOTFOUND : SG_EIO, "cannot open %s: %s",
                            o->file, strerror(errno));
    struct sg_gguf_info g;
    if ((rc = sg_gguf_read_fd(in, &g, err))) {
        close(in);
        return rc;
    }
    struct sg_mstore_copy cp = {0};
    char tmp[PATH_MAX];
    rc = sg_mstore_copy_in(s, in, o->enc_key, o->chunk ? o->chunk : SG_MENC_DEFAULT_CHUNK, tmp,
                           sizeof(tmp), &cp, err);
    close(in);
    if (rc)
        return rc;
    char blob_hex[65], plain_hex[65], blob[PATH_MAX], bdir[PATH_MAX];
    sg_hex_encode(cp.blob_sha, 32, blob_hex);
    sg_hex_encode(cp.plain_sha, 32, plain_hex);
    sg_mstore_path(s, blob, sizeof(blob), "blobs/sha256/%s", blob_hex);
    sg_mstore_path(s, bdir, sizeof(bdir), "blobs/sha256");
    /* The copy just made and hashed goes into place even when a blob of that name exists
     * (the same weights imported before): a file under that name is not taken on trust (it
     * may be damaged), and renaming over it costs no more than removing the copy. Another
     * version that shares the blob gets the same bytes; an engine that has the old file
     * open keeps it. */
    bool existed = stat(blob, &st) == 0;
    if (chmod(tmp, SG_MSTORE_BLOB_MODE) != 0 || rename(tmp, blob) != 0 ||
        sg_mstore_fsync_dir(bdir) != 0) {
        int e = errno;
        unlink(tmp);
        if (!existed)
            unlink(blob);
        return sg_error_set(err, SG_EIO, "cannot store the blob: %s", strerror(e));
    }
    bool created = !existed;
    char created_at[32];
    now_iso(created_at);
    json_t *enc = json_null();
    if (o->enc_key) {
        char kid[17];
        sg_model_enc_key_id(o->enc_key, kid);
        enc = json_pack("{s:s,s:i,s:s}", "alg", "aes-256-gcm-chunked/1", "chunk",
                        (json_int_t)cp.chunk, "key_id", kid);
    }
    json_t *payload =
        json_pack("{s:s,s:s,s:s,s:s*,s:s*,s:s,s:o,s:{s:s,s:I},s:{s:s,s:I,s:o}}", "schema",
                  "sovgate-model/1", "name", o->name, "version", o->version, "license", o->license,
                  "source", o->source, "created", created_at, "gguf", gguf_json(&g), "weights",
                  "sha256", plain_hex, "size", (json_int_t)cp.plain_size, "blob", "sha256",
                  blob_hex, "size", (json_int_t)cp.blob_size, "encryption", enc);
    json_t *doc =
        payload ? sign_doc(s, "sovgate-model-manifest:1", json_incref(payload), err) : NULL;
    char *text = doc ? json_dumps(doc, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;
    rc = text ? 0 : (err && err->code ? err->code : SG_ENOMEM);
    if (!rc && sg_mstore_mkdir_p(mdir) != 0)
        rc = sg_error_set(err, SG_EIO, "cannot create %s: %s", mdir, strerror(errno));
    if (!rc) {
        size_t n = strlen(text);
        text[n] = '\n';
        rc = sg_mstore_write_atomic(s, mpath, text, n + 1, err);
    }
    jfree(text);
    if (rc) {
        if (created) {
            unlink(blob);
            sg_mstore_fsync_dir(bdir);
        }
        json_decref(payload);
        json_decref(doc);
        return rc;
    }
    rc = sg_mstore_audit(s, "model.import",
                         json_pack("{s:s,s:s,s:s,s:s,s:b}", "name", o->name, "version", o->version,
                                   "sha256", plain_hex, "blob", blob_hex, "encrypted",
                                   o->enc_key != NULL),
                         err);
    json_decref(payload);
    if (manifest)
        *manifest = doc;
    else
        json_decref(doc);
    return rc;
}

/* ---- folder listings (ops.c, gc.c) ---- */

static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

char **sg_mstore_names_at(int dfd, const char *suffix, bool hidden, size_t *n, int *rc)
{
    *n = 0;
    *rc = 0;
    int d2 = dup(dfd);
    DIR *d = d2 >= 0 ? fdopendir(d2) : NULL;
    if (!d) {
        if (d2 >= 0)
            close(d2);
        *rc = SG_EIO;
        return NULL;
    }
    rewinddir(d);
    char **v = NULL;
    size_t cap = 0, sl = suffix ? strlen(suffix) : 0;
    for (struct dirent *de; (de = readdir(d));) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 ||
            (!hidden && de->d_name[0] == '.'))
            continue;
        size_t l = strlen(de->d_name);
        if (suffix && (l <= sl || strcmp(de->d_name + l - sl, suffix) != 0))
            continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 32;
            char **nv = realloc(v, cap * sizeof(*v));
            if (!nv) {
                *rc = SG_ENOMEM;
                break;
            }
            v = nv;
        }
        if (!(v[*n] = strndup(de->d_name, l - sl))) {
            *rc = SG_ENOMEM;
            break;
        }
        (*n)++;
    }
    closedir(d);
    if (*n)
        qsort(v, *n, sizeof(*v), cmp_name);
    return v;
}

void sg_mstore_names_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}
