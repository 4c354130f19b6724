/* The backup archive format (backup.h): the chunked AES-256-GCM layer, the record stream
 * inside it, the Ed25519 signature, and the checking reader. Memory is bounded by the
 * chunk size (plus the manifest and one path per entry), whatever the archive's size. */
#include "backup/backup.h"

#include "core/bytes.h"
#include "core/crypto.h"
#include "core/secret.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

static const char MAGIC[8] = {'S', 'G', 'B', 'A', 'C', 'K', '0', '1'};
static const char SIGMAGIC[8] = {'S', 'G', 'B', 'K', 'S', 'I', 'G', '1'};
static const char STRMAGIC[8] = {'S', 'G', 'B', 'K', 'S', 'T', 'R', '1'};
#define RHDR 15 /* type, path length, mode, size */
#define CHDR 5  /* chunk length, flags */
#define SIG_PREFIX "sovgate-backup:1:"

/* ---- small helpers ---- */

/* The file key and key check of a header's salt. */
static int derive(const uint8_t key[SG_BAK_KEY_LEN], const uint8_t salt[16], uint8_t fkey[32],
                  uint8_t check[16])
{
    if (sg_hkdf_sha256(key, SG_BAK_KEY_LEN, salt, 16, "sovgate-backup/1 data", fkey, 32) != 0)
        return SG_ECRYPTO;
    uint8_t c[32];
    if (sg_hkdf_sha256(key, SG_BAK_KEY_LEN, salt, 16, "sovgate-backup/1 check", c, 32) != 0)
        return SG_ECRYPTO;
    memcpy(check, c, 16);
    sg_secure_zero(c, sizeof(c));
    return 0;
}

static void chunk_iv(const uint8_t *header, uint64_t idx, uint8_t iv[12])
{
    memcpy(iv, header + 32, 8);
    iv[8] = (uint8_t)(idx >> 24);
    iv[9] = (uint8_t)(idx >> 16);
    iv[10] = (uint8_t)(idx >> 8);
    iv[11] = (uint8_t)idx;
}

static void chunk_aad(const uint8_t *header, uint64_t idx, const uint8_t chdr[CHDR],
                      uint8_t aad[SG_BAK_HEADER + 8 + CHDR])
{
    memcpy(aad, header, SG_BAK_HEADER);
    for (int i = 0; i < 8; i++)
        aad[SG_BAK_HEADER + i] = (uint8_t)(idx >> (56 - 8 * i));
    memcpy(aad + SG_BAK_HEADER + 8, chdr, CHDR);
}

static void sig_message(const uint8_t digest[32], char msg[sizeof(SIG_PREFIX) + 64])
{
    memcpy(msg, SIG_PREFIX, sizeof(SIG_PREFIX) - 1);
    sg_hex_encode(digest, 32, msg + sizeof(SIG_PREFIX) - 1);
}

static void key_id(const uint8_t pub[32], char out[17])
{
    uint8_t h[SG_SHA256_LEN];
    sg_sha256(pub, 32, h);
    sg_hex_encode(h, 8, out);
}

bool sg_bak_path_ok(const char *p)
{
    size_t n = p ? strlen(p) : 0;
    if (n == 0 || n > SG_BAK_PATH_MAX || p[0] == '/')
        return false;
    const char *comp = p;
    for (size_t i = 0; i <= n; i++) {
        char c = p[i];
        if (c == '/' || c == '\0') {
            size_t cl = (size_t)(p + i - comp);
            if (cl == 0 || (cl == 1 && comp[0] == '.') ||
                (cl == 2 && comp[0] == '.' && comp[1] == '.'))
                return false;
            comp = p + i + 1;
        } else if ((unsigned char)c < 0x21 || (unsigned char)c > 0x7e || c == '\\') {
            return false;
        }
    }
    return true;
}

int sg_bak_key_load(const char *ref, const char *base_dir, uint8_t key[SG_BAK_KEY_LEN],
                    struct sg_error *err)
{
    if (!ref || !sg_secret_is_ref(ref))
        return sg_error_set(err, SG_EINVAL, "backup key: expected file:PATH or env:NAME");
    struct sg_secret s = {0};
    int rc = sg_secret_load(ref, base_dir, &s, err);
    if (rc != 0)
        return rc;
    const char *d = s.data ? s.data : "";
    size_t n = s.len;
    while (n && (d[n - 1] == '\n' || d[n - 1] == '\r' || d[n - 1] == ' '))
        n--;
    if (n == 2 * SG_BAK_KEY_LEN && sg_hex_decode(d, n, key, SG_BAK_KEY_LEN) == 0)
        rc = 0;
    else if (s.len == SG_BAK_KEY_LEN && strncmp(ref, "file:", 5) == 0)
        memcpy(key, d, SG_BAK_KEY_LEN), rc = 0;
    else
        rc = sg_error_set(err, SG_EINVAL,
                          "backup key: expected 64 hex digits (or 32 raw bytes in a file), "
                          "%zu bytes given",
                          s.len);
    sg_secret_free(&s);
    return rc;
}

static int write_all(int fd, const void *p, size_t n, struct sg_error *err)
{
    const uint8_t *b = p;
    while (n) {
        ssize_t w = write(fd, b, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return sg_error_set(err, SG_EIO, "writing the archive: %s",
                                w < 0 ? strerror(errno) : "short write");
        b += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Reads exactly `n` bytes at `off`. */
static int read_at(int fd, void *p, size_t n, uint64_t off, struct sg_error *err)
{
    uint8_t *b = p;
    while (n) {
        ssize_t r = pread(fd, b, n, (off_t)off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return sg_error_set(err, SG_EIO, "reading the archive: %s", strerror(errno));
        if (r == 0)
            return sg_error_set(err, SG_EINVAL, "the archive is truncated");
        b += r;
        n -= (size_t)r;
        off += (uint64_t)r;
    }
    return 0;
}

/* ---- writer ---- */

struct sg_bak_writer {
    int fd;
    uint32_t chunk;
    uint8_t header[SG_BAK_HEADER];
    uint8_t fkey[32];
    uint8_t seed[32];
    EVP_CIPHER_CTX *cipher;
    EVP_MD_CTX *hash; /* of every byte written */
    uint8_t *buf;     /* plaintext of the current chunk, then its ciphertext */
    uint8_t *out;
    size_t used;
    uint64_t idx;
    bool unchecked;
    json_t *entries;
    char **paths;
    size_t npaths;
    int failed;
};

static int w_emit(struct sg_bak_writer *w, bool final, struct sg_error *err)
{
    if (w->idx > UINT32_MAX)
        return sg_error_set(err, SG_ETOOBIG, "the archive has too many chunks");
    uint8_t chdr[CHDR], iv[12], aad[SG_BAK_HEADER + 8 + CHDR];
    sg_put_le32(chdr, (uint32_t)w->used);
    chdr[4] = final ? 1 : 0;
    chunk_iv(w->header, w->idx, iv);
    chunk_aad(w->header, w->idx, chdr, aad);
    int len = 0;
    uint8_t *ct = w->out + CHDR;
    bool ok = EVP_EncryptInit_ex(w->cipher, EVP_aes_256_gcm(), NULL, w->fkey, iv) == 1 &&
              EVP_EncryptUpdate(w->cipher, NULL, &len, aad, (int)sizeof(aad)) == 1 &&
              (w->used == 0 || EVP_EncryptUpdate(w->cipher, ct, &len, w->buf, (int)w->used) == 1) &&
              EVP_EncryptFinal_ex(w->cipher, ct + w->used, &len) == 1 &&
              EVP_CIPHER_CTX_ctrl(w->cipher, EVP_CTRL_GCM_GET_TAG, SG_BAK_TAG, ct + w->used) == 1;
    if (!ok)
        return sg_error_set(err, SG_ECRYPTO, "encrypting chunk %llu failed",
                            (unsigned long long)w->idx);
    memcpy(w->out, chdr, CHDR);
    size_t n = CHDR + w->used + SG_BAK_TAG;
    EVP_DigestUpdate(w->hash, w->out, n);
    int rc = write_all(w->fd, w->out, n, err);
    if (rc != 0)
        return rc;
    w->idx++;
    w->used = 0;
    return 0;
}

static int w_put(struct sg_bak_writer *w, const void *p, size_t n, struct sg_error *err)
{
    const uint8_t *b = p;
    while (n) {
        if (w->used == w->chunk) {
            int rc = w_emit(w, false, err);
            if (rc != 0)
                return rc;
        }
        size_t take = w->chunk - w->used;
        if (take > n)
            take = n;
        memcpy(w->buf + w->used, b, take);
        w->used += take;
        b += take;
        n -= take;
    }
    return 0;
}

int sg_bak_writer_open(const struct sg_bak_writer_opts *o, struct sg_bak_writer **out,
                       struct sg_error *err)
{
    uint32_t chunk = o->chunk ? o->chunk : SG_BAK_DEFAULT_CHUNK;
    if (chunk < SG_BAK_MIN_CHUNK || chunk > SG_BAK_MAX_CHUNK)
        return sg_error_set(err, SG_EINVAL, "chunk size must be %u..%u bytes", SG_BAK_MIN_CHUNK,
                            SG_BAK_MAX_CHUNK);
    struct sg_bak_writer *w = calloc(1, sizeof(*w));
    if (!w)
        return sg_error_set(err, SG_ENOMEM, "out of memory");
    w->fd = o->fd;
    w->chunk = chunk;
    w->unchecked = o->unchecked_paths;
    w->buf = malloc(chunk);
    w->out = malloc((size_t)chunk + CHDR + SG_BAK_TAG);
    w->cipher = EVP_CIPHER_CTX_new();
    w->hash = EVP_MD_CTX_new();
    w->entries = json_array();
    w->paths = calloc(64, sizeof(char *));
    memcpy(w->seed, o->signing_seed, 32);
    uint8_t check[16];
    int rc = SG_ENOMEM;
    if (!w->buf || !w->out || !w->cipher || !w->hash || !w->entries || !w->paths) {
        sg_error_set(err, SG_ENOMEM, "out of memory");
        goto fail;
    }
    memcpy(w->header, MAGIC, 8);
    sg_put_le32(w->header + 8, 1);
    sg_put_le32(w->header + 12, chunk);
    rc = SG_ECRYPTO;
    if (sg_random_bytes(w->header + 16, 16) != 0 || sg_random_bytes(w->header + 32, 8) != 0 ||
        derive(o->key, w->header + 16, w->fkey, check) != 0 ||
        EVP_DigestInit_ex(w->hash, EVP_sha256(), NULL) != 1) {
        sg_error_set(err, SG_ECRYPTO, "cannot set up the archive's encryption");
        goto fail;
    }
    /* salt 16..31, nonce prefix 32..39, key check 40..55, zero 56..63 */
    memcpy(w->header + 40, check, 16);
    EVP_DigestUpdate(w->hash, w->header, SG_BAK_HEADER);
    rc = write_all(w->fd, w->header, SG_BAK_HEADER, err);
    if (rc != 0)
        goto fail;
    rc = w_put(w, STRMAGIC, 8, err);
    if (rc != 0)
        goto fail;
    *out = w;
    return 0;
fail:
    sg_bak_writer_abort(w);
    return rc;
}

static int w_record_head(struct sg_bak_writer *w, char type, const char *path, uint32_t mode,
                         uint64_t size, struct sg_error *err)
{
    size_t pl = strlen(path);
    if (type == 'F' || type == 'D') {
        if (!w->unchecked && !sg_bak_path_ok(path))
            return sg_error_set(err, SG_EINVAL, "not an allowed archive path: %.200s", path);
        if (pl > SG_BAK_PATH_MAX)
            return sg_error_set(err, SG_EINVAL, "archive path too long");
        if (w->npaths >= SG_BAK_MAX_ENTRIES)
            return sg_error_set(err, SG_ETOOBIG, "more than %d files", SG_BAK_MAX_ENTRIES);
        for (size_t i = 0; !w->unchecked && i < w->npaths; i++)
            if (strcmp(w->paths[i], path) == 0)
                return sg_error_set(err, SG_EINVAL, "%.200s added twice", path);
        if (w->npaths % 64 == 0 && w->npaths) {
            char **np = realloc(w->paths, (w->npaths + 64) * sizeof(char *));
            if (!np)
                return sg_error_set(err, SG_ENOMEM, "out of memory");
            w->paths = np;
        }
        if (!(w->paths[w->npaths] = strdup(path)))
            return sg_error_set(err, SG_ENOMEM, "out of memory");
        w->npaths++;
    }
    uint8_t h[RHDR];
    h[0] = (uint8_t)type;
    h[1] = (uint8_t)pl;
    h[2] = (uint8_t)(pl >> 8);
    sg_put_le32(h + 3, mode);
    sg_put_le64(h + 7, size);
    int rc = w_put(w, h, RHDR, err);
    return rc ? rc : w_put(w, path, pl, err);
}

static int w_record_end(struct sg_bak_writer *w, const char *path, uint32_t mode, uint64_t size,
                        EVP_MD_CTX *md, bool dir, struct sg_error *err)
{
    uint8_t dg[32];
    unsigned dl = 0;
    EVP_DigestFinal_ex(md, dg, &dl);
    int rc = w_put(w, dg, 32, err);
    if (rc != 0 || !path)
        return rc;
    char hex[65];
    sg_hex_encode(dg, 32, hex);
    json_t *e = json_pack("{s:s,s:I,s:I,s:s}", "path", path, "mode", (json_int_t)mode, "size",
                          (json_int_t)size, "sha256", hex);
    if (e && dir)
        json_object_set_new(e, "type", json_string("dir"));
    if (!e || json_array_append_new(w->entries, e) != 0)
        return sg_error_set(err, SG_ENOMEM, "out of memory");
    return 0;
}

int sg_bak_writer_add_fd(struct sg_bak_writer *w, const char *path, uint32_t mode, int fd,
                         uint64_t size, struct sg_error *err)
{
    if (w->failed)
        return sg_error_set(err, w->failed, "the archive already failed");
    mode &= 0777;
    int rc = w_record_head(w, 'F', path, mode, size, err);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (rc == 0 && (!md || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1))
        rc = sg_error_set(err, SG_ECRYPTO, "sha256 unavailable");
    uint64_t left = size;
    while (rc == 0 && left) {
        /* Read straight into the chunk buffer's free space (or flush it first). */
        if (w->used == w->chunk && (rc = w_emit(w, false, err)) != 0)
            break;
        size_t room = w->chunk - w->used;
        if (room > left)
            room = (size_t)left;
        ssize_t r = read(fd, w->buf + w->used, room);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            rc = sg_error_set(err, SG_EIO, "reading %.200s: %s", path,
                              r < 0 ? strerror(errno) : "the file shrank while being read");
            break;
        }
        EVP_DigestUpdate(md, w->buf + w->used, (size_t)r);
        w->used += (size_t)r;
        left -= (uint64_t)r;
    }
    if (rc == 0)
        rc = w_record_end(w, path, mode, size, md, false, err);
    EVP_MD_CTX_free(md);
    if (rc != 0)
        w->failed = rc;
    return rc;
}

int sg_bak_writer_add_bytes(struct sg_bak_writer *w, const char *path, uint32_t mode, const void *p,
                            size_t n, struct sg_error *err)
{
    if (w->failed)
        return sg_error_set(err, w->failed, "the archive already failed");
    mode &= 0777;
    int rc = w_record_head(w, 'F', path, mode, n, err);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (rc == 0 && (!md || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1))
        rc = sg_error_set(err, SG_ECRYPTO, "sha256 unavailable");
    if (rc == 0) {
        EVP_DigestUpdate(md, p, n);
        rc = w_put(w, p, n, err);
    }
    if (rc == 0)
        rc = w_record_end(w, path, mode, n, md, false, err);
    EVP_MD_CTX_free(md);
    if (rc != 0)
        w->failed = rc;
    return rc;
}

int sg_bak_writer_add_dir(struct sg_bak_writer *w, const char *path, uint32_t mode,
                          struct sg_error *err)
{
    if (w->failed)
        return sg_error_set(err, w->failed, "the archive already failed");
    mode &= 0777;
    int rc = w_record_head(w, 'D', path, mode, 0, err);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (rc == 0 && (!md || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1))
        rc = sg_error_set(err, SG_ECRYPTO, "sha256 unavailable");
    if (rc == 0)
        rc = w_record_end(w, path, mode, 0, md, true, err);
    EVP_MD_CTX_free(md);
    if (rc != 0)
        w->failed = rc;
    return rc;
}

int sg_bak_writer_finish(struct sg_bak_writer *w, json_t *meta, struct sg_error *err)
{
    int rc = w->failed ? sg_error_set(err, w->failed, "the archive already failed") : 0;
    json_t *m = meta ? json_deep_copy(meta) : json_object();
    char *text = NULL;
    if (rc == 0) {
        if (!m || json_object_set_new(m, "format", json_string("sovgate-backup/1")) != 0 ||
            json_object_set(m, "entries", w->entries) != 0 ||
            !(text = json_dumps(m, JSON_COMPACT | JSON_SORT_KEYS)))
            rc = sg_error_set(err, SG_ENOMEM, "out of memory");
    }
    size_t tl = text ? strlen(text) : 0;
    if (rc == 0 && tl > SG_BAK_MANIFEST_MAX)
        rc = sg_error_set(err, SG_ETOOBIG, "the manifest is too large");
    if (rc == 0)
        rc = w_record_head(w, 'M', "", 0, tl, err);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (rc == 0 && (!md || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1))
        rc = sg_error_set(err, SG_ECRYPTO, "sha256 unavailable");
    if (rc == 0) {
        EVP_DigestUpdate(md, text, tl);
        rc = w_put(w, text, tl, err);
    }
    if (rc == 0)
        rc = w_record_end(w, NULL, 0, tl, md, false, err);
    EVP_MD_CTX_free(md);
    free(text);
    json_decref(m);
    if (rc == 0)
        rc = w_emit(w, true, err);
    if (rc == 0) {
        uint8_t digest[32], trailer[SG_BAK_TRAILER];
        unsigned dl = 0;
        char msg[sizeof(SIG_PREFIX) + 64];
        EVP_DigestFinal_ex(w->hash, digest, &dl);
        sig_message(digest, msg);
        EVP_PKEY *k = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, w->seed, 32);
        EVP_MD_CTX *sctx = EVP_MD_CTX_new();
        size_t pl = 32, sl = 64;
        memcpy(trailer, SIGMAGIC, 8);
        bool ok =
            k && sctx && EVP_PKEY_get_raw_public_key(k, trailer + 8, &pl) == 1 &&
            EVP_DigestSignInit(sctx, NULL, NULL, NULL, k) == 1 &&
            EVP_DigestSign(sctx, trailer + 40, &sl, (const uint8_t *)msg, sizeof(msg) - 1) == 1 &&
            sl == 64;
        EVP_MD_CTX_free(sctx);
        EVP_PKEY_free(k);
        rc = ok ? write_all(w->fd, trailer, sizeof(trailer), err)
                : sg_error_set(err, SG_ECRYPTO, "signing the archive failed (signing key?)");
    }
    sg_bak_writer_abort(w);
    return rc;
}

void sg_bak_writer_abort(struct sg_bak_writer *w)
{
    if (!w)
        return;
    sg_secure_zero(w->fkey, sizeof(w->fkey));
    sg_secure_zero(w->seed, sizeof(w->seed));
    if (w->buf)
        sg_secure_zero(w->buf, w->chunk);
    free(w->buf);
    free(w->out);
    EVP_CIPHER_CTX_free(w->cipher);
    EVP_MD_CTX_free(w->hash);
    json_decref(w->entries);
    for (size_t i = 0; i < w->npaths; i++)
        free(w->paths[i]);
    free(w->paths);
    free(w);
}

/* ---- reader ---- */

struct rec {
    char *path;
    char type; /* 'F' or 'D' */
    uint32_t mode;
    uint64_t size;
    uint8_t sha[32];
};

enum pstate { P_MAGIC, P_HDR, P_PATH, P_DATA, P_HASH, P_DONE };

struct rd {
    const struct sg_bak_sink *sink;
    enum pstate st;
    uint8_t tmp[SG_BAK_PATH_MAX + RHDR + 8];
    size_t have, need;
    char type;
    uint32_t mode;
    uint64_t size, left;
    char path[SG_BAK_PATH_MAX + 1];
    EVP_MD_CTX *md;
    struct rec *recs;
    size_t nrecs, caprecs;
    uint8_t *manifest;
    size_t mlen;
    uint64_t bytes;
};

static int p_start_record(struct rd *r, struct sg_error *err)
{
    r->type = (char)r->tmp[0];
    size_t pl = (size_t)r->tmp[1] | (size_t)r->tmp[2] << 8;
    r->mode = sg_get_le32(r->tmp + 3);
    r->size = sg_get_le64(r->tmp + 7);
    if (r->type == 'M') {
        if (pl != 0 || r->mode != 0)
            return sg_error_set(err, SG_EINVAL, "malformed manifest record");
        if (r->size > SG_BAK_MANIFEST_MAX)
            return sg_error_set(err, SG_ETOOBIG, "the manifest is larger than %u bytes",
                                SG_BAK_MANIFEST_MAX);
        r->manifest = malloc(r->size ? (size_t)r->size : 1);
        if (!r->manifest)
            return sg_error_set(err, SG_ENOMEM, "out of memory");
        r->mlen = 0;
    } else if (r->type == 'F' || r->type == 'D') {
        if (r->type == 'D' && r->size != 0)
            return sg_error_set(err, SG_EINVAL, "record %zu: a folder with content", r->nrecs);
        if (pl == 0 || pl > SG_BAK_PATH_MAX)
            return sg_error_set(err, SG_EINVAL, "record %zu: path length %zu out of range",
                                r->nrecs, pl);
        if (r->mode & ~0777u)
            return sg_error_set(err, SG_EINVAL, "record %zu: mode %o is not a plain file mode",
                                r->nrecs, r->mode);
        if (r->nrecs >= SG_BAK_MAX_ENTRIES)
            return sg_error_set(err, SG_ETOOBIG, "more than %d files", SG_BAK_MAX_ENTRIES);
    } else {
        return sg_error_set(err, SG_EINVAL,
                            "record %zu: unknown type 0x%02x (only regular files and folders "
                            "are allowed)",
                            r->nrecs, (unsigned)(uint8_t)r->type);
    }
    EVP_DigestInit_ex(r->md, EVP_sha256(), NULL);
    r->left = r->size;
    r->have = 0;
    r->need = pl;
    r->st = P_PATH;
    return 0;
}

static int p_path_done(struct rd *r, struct sg_error *err)
{
    memcpy(r->path, r->tmp, r->need);
    r->path[r->need] = '\0';
    if (r->type == 'F' || r->type == 'D') {
        if (memchr(r->tmp, 0, r->need) || !sg_bak_path_ok(r->path))
            return sg_error_set(err, SG_EINVAL,
                                "refused entry path \"%.200s\": absolute, \"..\", \".\", empty "
                                "or unusual characters",
                                r->path);
        int rc = 0;
        if (r->type == 'D' && r->sink && r->sink->mkdir)
            rc = r->sink->mkdir(r->sink->arg, r->path, r->mode, err);
        else if (r->type == 'F' && r->sink && r->sink->begin)
            rc = r->sink->begin(r->sink->arg, r->path, r->mode, r->size, err);
        if (rc != 0)
            return rc;
    }
    r->st = r->size ? P_DATA : P_HASH;
    r->have = 0;
    r->need = 32;
    return 0;
}

static int p_hash_done(struct rd *r, struct sg_error *err)
{
    uint8_t dg[32];
    unsigned dl = 0;
    EVP_DigestFinal_ex(r->md, dg, &dl);
    if (!sg_ct_equal(dg, r->tmp, 32))
        return sg_error_set(err, SG_EINVAL, "%s%.200s: content does not match its SHA-256",
                            r->type == 'M' ? "the manifest" : "entry ",
                            r->type == 'M' ? "" : r->path);
    if (r->type == 'M') {
        r->st = P_DONE;
        return 0;
    }
    if (r->nrecs == r->caprecs) {
        size_t nc = r->caprecs ? 2 * r->caprecs : 64;
        struct rec *n = realloc(r->recs, nc * sizeof(*n));
        if (!n)
            return sg_error_set(err, SG_ENOMEM, "out of memory");
        r->recs = n;
        r->caprecs = nc;
    }
    struct rec *e = &r->recs[r->nrecs];
    if (!(e->path = strdup(r->path)))
        return sg_error_set(err, SG_ENOMEM, "out of memory");
    e->type = r->type;
    e->mode = r->mode;
    e->size = r->size;
    memcpy(e->sha, dg, 32);
    r->nrecs++;
    r->bytes += r->size;
    int rc = r->type == 'F' && r->sink && r->sink->end ? r->sink->end(r->sink->arg, err) : 0;
    r->st = P_HDR;
    r->have = 0;
    r->need = RHDR;
    return rc;
}

/* Feeds plaintext of the inner stream to the record parser. */
static int p_feed(struct rd *r, const uint8_t *p, size_t n, struct sg_error *err)
{
    while (n) {
        if (r->st == P_DONE)
            return sg_error_set(err, SG_EINVAL, "data after the manifest");
        if (r->st == P_DATA) {
            size_t take = r->left < n ? (size_t)r->left : n;
            EVP_DigestUpdate(r->md, p, take);
            if (r->type == 'M') {
                memcpy(r->manifest + r->mlen, p, take);
                r->mlen += take;
            } else if (r->sink && r->sink->data) {
                int rc = r->sink->data(r->sink->arg, p, take, err);
                if (rc != 0)
                    return rc;
            }
            p += take;
            n -= take;
            r->left -= take;
            if (r->left == 0) {
                r->st = P_HASH;
                r->have = 0;
                r->need = 32;
            }
            continue;
        }
        size_t take = r->need - r->have < n ? r->need - r->have : n;
        memcpy(r->tmp + r->have, p, take);
        r->have += take;
        p += take;
        n -= take;
        if (r->have < r->need)
            continue;
        int rc = 0;
        switch (r->st) {
        case P_MAGIC:
            if (memcmp(r->tmp, STRMAGIC, 8) != 0)
                return sg_error_set(err, SG_EINVAL, "the archive's content has a bad magic");
            r->st = P_HDR;
            r->have = 0;
            r->need = RHDR;
            break;
        case P_HDR:
            rc = p_start_record(r, err);
            if (rc == 0 && r->need == 0)
                rc = p_path_done(r, err);
            break;
        case P_PATH:
            rc = p_path_done(r, err);
            break;
        case P_HASH:
            rc = p_hash_done(r, err);
            break;
        default:
            break;
        }
        if (rc != 0)
            return rc;
    }
    return 0;
}

static int cmp_rec(const void *a, const void *b)
{
    return strcmp((*(struct rec *const *)a)->path, (*(struct rec *const *)b)->path);
}

/* Duplicates, and files that are another entry's folder. */
static int check_paths(struct rd *r, struct sg_error *err)
{
    if (r->nrecs == 0)
        return 0;
    struct rec **v = malloc(r->nrecs * sizeof(*v));
    if (!v)
        return sg_error_set(err, SG_ENOMEM, "out of memory");
    for (size_t i = 0; i < r->nrecs; i++)
        v[i] = &r->recs[i];
    qsort(v, r->nrecs, sizeof(*v), cmp_rec);
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < r->nrecs; i++) {
        if (i && strcmp(v[i]->path, v[i - 1]->path) == 0) {
            rc = sg_error_set(err, SG_EINVAL, "duplicate entry %.200s", v[i]->path);
            break;
        }
        char pre[SG_BAK_PATH_MAX + 1];
        snprintf(pre, sizeof(pre), "%s", v[i]->path);
        for (char *s = strrchr(pre, '/'); s; s = strrchr(pre, '/')) {
            *s = '\0';
            struct rec k = {.path = pre}, *kp = &k;
            struct rec **hit = bsearch(&kp, v, r->nrecs, sizeof(*v), cmp_rec);
            if (hit && (*hit)->type != 'D') {
                rc = sg_error_set(err, SG_EINVAL, "entry %.200s is also a folder of %.200s", pre,
                                  v[i]->path);
                break;
            }
        }
    }
    free(v);
    return rc;
}

static int check_manifest(struct rd *r, json_t **out, struct sg_error *err)
{
    json_error_t je;
    json_t *m = json_loadb((const char *)r->manifest, r->mlen, JSON_REJECT_DUPLICATES, &je);
    if (!json_is_object(m)) {
        json_decref(m);
        return sg_error_set(err, SG_EINVAL, "the manifest is not a JSON object");
    }
    json_t *ents = json_object_get(m, "entries");
    const char *fmt = json_string_value(json_object_get(m, "format"));
    int rc = 0;
    if (!fmt || strcmp(fmt, "sovgate-backup/1") != 0)
        rc = sg_error_set(err, SG_EINVAL, "the manifest's format is not sovgate-backup/1");
    else if (!json_is_array(ents) || json_array_size(ents) != r->nrecs)
        rc = sg_error_set(err, SG_EINVAL, "the manifest lists %zu entries, the archive holds %zu",
                          json_is_array(ents) ? json_array_size(ents) : 0, r->nrecs);
    for (size_t i = 0; rc == 0 && i < r->nrecs; i++) {
        json_t *e = json_array_get(ents, i);
        const char *p = json_string_value(json_object_get(e, "path"));
        const char *h = json_string_value(json_object_get(e, "sha256"));
        json_t *mo = json_object_get(e, "mode"), *sz = json_object_get(e, "size");
        const char *ty = json_string_value(json_object_get(e, "type"));
        char type = !json_object_get(e, "type") ? 'F' : ty && strcmp(ty, "dir") == 0 ? 'D' : 0;
        uint8_t sha[32];
        if (!p || !h || type != r->recs[i].type || !json_is_integer(mo) || !json_is_integer(sz) ||
            strcmp(p, r->recs[i].path) != 0 || json_integer_value(mo) != r->recs[i].mode ||
            json_integer_value(sz) < 0 || (uint64_t)json_integer_value(sz) != r->recs[i].size ||
            strlen(h) != 64 || sg_hex_decode(h, 64, sha, 32) != 0 ||
            memcmp(sha, r->recs[i].sha, 32) != 0)
            rc = sg_error_set(err, SG_EINVAL, "the manifest's entry %zu does not match %.200s", i,
                              r->recs[i].path);
    }
    if (rc == 0 && out)
        *out = m;
    else
        json_decref(m);
    return rc;
}

int sg_bak_read(int fd, const uint8_t key[SG_BAK_KEY_LEN], const uint8_t pubkey[32],
                const struct sg_bak_sink *sink, struct sg_bak_info *info, struct sg_error *err)
{
    struct sg_bak_info dummy;
    bool keep = info != NULL;
    if (!info)
        info = &dummy;
    memset(info, 0, sizeof(*info));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
        return sg_error_set(err, SG_EINVAL, "the archive is not a regular file");
    uint64_t fsize = (uint64_t)st.st_size;
    if (fsize < SG_BAK_HEADER + CHDR + SG_BAK_TAG + SG_BAK_TRAILER)
        return sg_error_set(err, SG_EINVAL, "not a sovgate backup, or truncated (%llu bytes)",
                            (unsigned long long)fsize);
    uint8_t header[SG_BAK_HEADER], trailer[SG_BAK_TRAILER];
    int rc = read_at(fd, header, SG_BAK_HEADER, 0, err);
    if (rc != 0)
        return rc;
    static const uint8_t zero8[8] = {0};
    uint32_t chunk = sg_get_le32(header + 12);
    if (memcmp(header, MAGIC, 8) != 0)
        return sg_error_set(err, SG_EINVAL, "not a sovgate backup (bad magic)");
    if (sg_get_le32(header + 8) != 1)
        return sg_error_set(err, SG_EINVAL, "unsupported backup version %u",
                            sg_get_le32(header + 8));
    if (chunk < SG_BAK_MIN_CHUNK || chunk > SG_BAK_MAX_CHUNK || memcmp(header + 56, zero8, 8))
        return sg_error_set(err, SG_EINVAL, "malformed backup header");
    uint64_t end = fsize - SG_BAK_TRAILER;
    if ((rc = read_at(fd, trailer, SG_BAK_TRAILER, end, err)) != 0)
        return rc;
    if (memcmp(trailer, SIGMAGIC, 8) != 0)
        return sg_error_set(err, SG_EINVAL,
                            "the archive is truncated or damaged: no signature at its end");
    if (!sg_ct_equal(trailer + 8, pubkey, 32)) {
        char a[17], b[17];
        key_id(trailer + 8, a);
        key_id(pubkey, b);
        return sg_error_set(err, SG_EDENIED,
                            "the archive is signed by key %s, not by the given public key %s", a,
                            b);
    }
    uint8_t fkey[32], check[16];
    if (derive(key, header + 16, fkey, check) != 0)
        return sg_error_set(err, SG_ECRYPTO, "key derivation failed");
    if (!sg_ct_equal(check, header + 40, 16)) {
        sg_secure_zero(fkey, sizeof(fkey));
        return sg_error_set(err, SG_ECRYPTO, "wrong backup key (the key check does not match)");
    }

    struct rd r = {.sink = sink, .st = P_MAGIC, .need = 8};
    EVP_CIPHER_CTX *cipher = EVP_CIPHER_CTX_new();
    EVP_MD_CTX *hash = EVP_MD_CTX_new();
    r.md = EVP_MD_CTX_new();
    uint8_t *buf = malloc((size_t)chunk + SG_BAK_TAG);
    uint8_t *plain = malloc(chunk ? chunk : 1);
    if (!cipher || !hash || !r.md || !buf || !plain ||
        EVP_DigestInit_ex(hash, EVP_sha256(), NULL) != 1) {
        rc = sg_error_set(err, SG_ENOMEM, "out of memory");
        goto done;
    }
    EVP_DigestUpdate(hash, header, SG_BAK_HEADER);
    uint64_t pos = SG_BAK_HEADER, idx = 0;
    bool final = false;
    while (!final) {
        uint8_t chdr[CHDR];
        if (pos + CHDR + SG_BAK_TAG > end) {
            rc = sg_error_set(err, SG_EINVAL,
                              "the archive is truncated: it ends after chunk %llu without its "
                              "final chunk",
                              (unsigned long long)idx);
            goto done;
        }
        if ((rc = read_at(fd, chdr, CHDR, pos, err)) != 0)
            goto done;
        uint32_t len = sg_get_le32(chdr);
        uint8_t flags = chdr[4];
        final = flags == 1;
        if (flags > 1 || len > chunk || (!final && len != chunk) || idx > UINT32_MAX) {
            rc = sg_error_set(err, SG_EINVAL,
                              "chunk %llu (archive bytes %llu-) has a bad length or flags: the "
                              "archive is damaged or was changed",
                              (unsigned long long)idx, (unsigned long long)pos);
            goto done;
        }
        if (pos + CHDR + len + SG_BAK_TAG > end) {
            rc = sg_error_set(err, SG_EINVAL,
                              "the archive is truncated: chunk %llu (archive bytes %llu-) runs "
                              "past its end",
                              (unsigned long long)idx, (unsigned long long)pos);
            goto done;
        }
        if ((rc = read_at(fd, buf, (size_t)len + SG_BAK_TAG, pos + CHDR, err)) != 0)
            goto done;
        EVP_DigestUpdate(hash, chdr, CHDR);
        EVP_DigestUpdate(hash, buf, (size_t)len + SG_BAK_TAG);
        uint8_t iv[12], aad[SG_BAK_HEADER + 8 + CHDR];
        chunk_iv(header, idx, iv);
        chunk_aad(header, idx, chdr, aad);
        int ol = 0;
        bool ok = EVP_DecryptInit_ex(cipher, EVP_aes_256_gcm(), NULL, fkey, iv) == 1 &&
                  EVP_DecryptUpdate(cipher, NULL, &ol, aad, (int)sizeof(aad)) == 1 &&
                  (len == 0 || EVP_DecryptUpdate(cipher, plain, &ol, buf, (int)len) == 1) &&
                  EVP_CIPHER_CTX_ctrl(cipher, EVP_CTRL_GCM_SET_TAG, SG_BAK_TAG, buf + len) == 1 &&
                  EVP_DecryptFinal_ex(cipher, plain + len, &ol) == 1;
        if (!ok) {
            rc = sg_error_set(err, SG_ECRYPTO,
                              "chunk %llu (archive bytes %llu-%llu) failed authentication: the "
                              "archive is damaged or was changed",
                              (unsigned long long)idx, (unsigned long long)pos,
                              (unsigned long long)(pos + CHDR + len + SG_BAK_TAG - 1));
            goto done;
        }
        pos += CHDR + (uint64_t)len + SG_BAK_TAG;
        idx++;
        if ((rc = p_feed(&r, plain, len, err)) != 0)
            goto done;
    }
    if (pos != end) {
        rc = sg_error_set(err, SG_EINVAL, "%llu bytes after the final chunk",
                          (unsigned long long)(end - pos));
        goto done;
    }
    if (r.st != P_DONE) {
        rc = sg_error_set(err, SG_EINVAL, "the archive's content ends without its manifest");
        goto done;
    }
    unsigned dl = 0;
    EVP_DigestFinal_ex(hash, info->digest, &dl);
    char msg[sizeof(SIG_PREFIX) + 64];
    sig_message(info->digest, msg);
    EVP_PKEY *k = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pubkey, 32);
    EVP_MD_CTX *vctx = EVP_MD_CTX_new();
    bool sig_ok =
        k && vctx && EVP_DigestVerifyInit(vctx, NULL, NULL, NULL, k) == 1 &&
        EVP_DigestVerify(vctx, trailer + 40, 64, (const uint8_t *)msg, sizeof(msg) - 1) == 1;
    EVP_MD_CTX_free(vctx);
    EVP_PKEY_free(k);
    if (!sig_ok) {
        rc = sg_error_set(err, SG_EDENIED, "the archive's signature does not verify");
        goto done;
    }
    if ((rc = check_paths(&r, err)) != 0)
        goto done;
    if ((rc = check_manifest(&r, &info->manifest, err)) != 0)
        goto done;
    info->entries = r.nrecs;
    info->bytes = r.bytes;
    info->chunks = idx;
done:
    sg_secure_zero(fkey, sizeof(fkey));
    if (plain)
        sg_secure_zero(plain, chunk);
    free(plain);
    free(buf);
    EVP_CIPHER_CTX_free(cipher);
    EVP_MD_CTX_free(hash);
    EVP_MD_CTX_free(r.md);
    for (size_t i = 0; i < r.nrecs; i++)
        free(r.recs[i].path);
    free(r.recs);
    free(r.manifest);
    if (!keep) {
        json_decref(info->manifest);
        info->manifest = NULL;
    }
    return rc;
}
