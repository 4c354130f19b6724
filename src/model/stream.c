/* Streaming copy, hashing, encryption and decryption of model weights: large sequential
 * reads (one chunk at a time), one pass over the data for every transformation, and the
 * work split over two threads (a producer that reads and encrypts or decrypts, and a
 * consumer that hashes and writes) through a ring of chunk buffers, so that SHA-256 and
 * AES-GCM run at the same time on two cores. Memory: NSLOT chunk buffers. */
#include "model/model_int.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#define IO_CHUNK (4u << 20)

static ssize_t read_full(int fd, uint8_t *p, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, p + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        if (r == 0)
            break;
        got += (size_t)r;
    }
    return (ssize_t)got;
}

static EVP_MD_CTX *sha_new(void)
{
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    if (c && EVP_DigestInit_ex(c, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(c);
        return NULL;
    }
    return c;
}

static int sha_end(EVP_MD_CTX *c, uint8_t out[32])
{
    unsigned n = 0;
    int ok = EVP_DigestFinal_ex(c, out, &n) == 1 && n == 32;
    EVP_MD_CTX_free(c);
    return ok ? 0 : SG_ECRYPTO;
}

int sg_mstore_hash_fd(int fd, uint8_t sha[32], uint64_t *size, struct sg_error *err)
{
    uint8_t *buf = malloc(IO_CHUNK);
    EVP_MD_CTX *c = sha_new();
    uint64_t total = 0;
    int rc = 0;
    if (!buf || !c) {
        rc = sg_error_set(err, SG_ENOMEM, "out of memory");
    } else if (lseek(fd, 0, SEEK_SET) != 0) {
        rc = sg_error_set(err, SG_EIO, "cannot read the weights: %s", strerror(errno));
    } else {
        for (;;) {
            ssize_t r = read_full(fd, buf, IO_CHUNK);
            if (r < 0) {
                rc = sg_error_set(err, SG_EIO, "cannot read the weights: %s", strerror(errno));
                break;
            }
            if (r == 0)
                break;
            EVP_DigestUpdate(c, buf, (size_t)r);
            total += (uint64_t)r;
        }
    }
    if (c) {
        if (!rc && sha_end(c, sha) != 0)
            rc = sg_error_set(err, SG_ECRYPTO, "SHA-256 failed");
        else if (rc)
            EVP_MD_CTX_free(c);
    }
    free(buf);
    if (size)
        *size = total;
    return rc;
}

/* ---- the two-stage pipeline ---- */

#define NSLOT 4

struct slot {
    uint8_t *buf;
    size_t len;
    int state; /* 0 free, 1 full, 2 end of stream */
};

struct pipe {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct slot s[NSLOT];
    int rc; /* the first error of either side */
    struct sg_error werr;
    /* the consumer: hashes and/or writes one chunk */
    int (*consume)(void *ctx, const uint8_t *buf, size_t len, struct sg_error *err);
    void *ctx;
};

static void *consumer(void *arg)
{
    struct pipe *p = arg;
    for (uint64_t i = 0;; i++) {
        struct slot *s = &p->s[i % NSLOT];
        pthread_mutex_lock(&p->mu);
        while (s->state == 0 && !p->rc)
            pthread_cond_wait(&p->cv, &p->mu);
        int st = s->state, stop = p->rc;
        pthread_mutex_unlock(&p->mu);
        if (stop || st == 2)
            return NULL;
        int rc = p->consume(p->ctx, s->buf, s->len, &p->werr);
        pthread_mutex_lock(&p->mu);
        s->state = 0;
        if (rc && !p->rc)
            p->rc = rc;
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
        if (rc)
            return NULL;
    }
}

/* The producer side: fills slot buffers of `cap` bytes with `produce` (returns the length,
 * 0 at the end, or a negative code) until the end, an error of either side, or done. */
static int run_pipe(struct pipe *p, size_t cap,
                    ssize_t (*produce)(void *ctx, uint8_t *buf, uint64_t idx, struct sg_error *e),
                    void *ctx, struct sg_error *err)
{
    memset(p->s, 0, sizeof(p->s));
    p->rc = 0;
    memset(&p->werr, 0, sizeof(p->werr));
    for (int i = 0; i < NSLOT; i++)
        if (!(p->s[i].buf = malloc(cap))) {
            for (int j = 0; j < i; j++)
                free(p->s[j].buf);
            return sg_error_set(err, SG_ENOMEM, "out of memory");
        }
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    pthread_t t;
    bool threaded = pthread_create(&t, NULL, consumer, p) == 0;
    int rc = 0;
    for (uint64_t i = 0;; i++) {
        struct slot *s = &p->s[i % NSLOT];
        pthread_mutex_lock(&p->mu);
        while (threaded && s->state != 0 && !p->rc)
            pthread_cond_wait(&p->cv, &p->mu);
        rc = p->rc;
        pthread_mutex_unlock(&p->mu);
        if (rc)
            break;
        ssize_t n = produce(ctx, s->buf, i, err);
        if (n < 0) {
            rc = (int)n;
            pthread_mutex_lock(&p->mu);
            if (!p->rc)
                p->rc = rc;
            pthread_cond_broadcast(&p->cv);
            pthread_mutex_unlock(&p->mu);
            break;
        }
        if (!threaded) { /* no thread: consume inline */
            if (n == 0)
                break;
            if ((rc = p->consume(p->ctx, s->buf, (size_t)n, &p->werr))) {
                p->rc = rc;
                break;
            }
            continue;
        }
        pthread_mutex_lock(&p->mu);
        s->len = (size_t)n;
        s->state = n == 0 ? 2 : 1;
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
        if (n == 0)
            break;
    }
    if (threaded)
        pthread_join(t, NULL);
    if (!rc && p->rc) { /* the consumer failed */
        rc = p->rc;
        if (err)
            *err = p->werr;
    }
    for (int i = 0; i < NSLOT; i++) {
        sg_secure_zero(p->s[i].buf, cap);
        free(p->s[i].buf);
    }
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    return rc;
}

/* ---- import ---- */

struct copy_ctx {
    int in, out;
    struct sg_menc *m; /* NULL: plaintext */
    EVP_MD_CTX *hp, *hb;
    uint64_t done, size;
    size_t bufsz;
};

/* Producer: read, hash the plaintext, encrypt (the buffer then holds chunk + tag). */
static ssize_t copy_produce(void *arg, uint8_t *buf, uint64_t idx, struct sg_error *err)
{
    struct copy_ctx *c = arg;
    size_t want = c->bufsz;
    if (c->m) {
        if (idx >= c->m->nchunks)
            return 0;
        want = sg_menc_chunk_len(c->m, idx);
    }
    ssize_t r = read_full(c->in, buf, want);
    if (r < 0)
        return sg_error_set(err, SG_EIO, "cannot read the model: %s", strerror(errno));
    if ((c->m && (size_t)r != want) || c->done + (uint64_t)r > c->size)
        return sg_error_set(err, SG_EIO, "the model changed while it was imported");
    if (r == 0 && !c->m) {
        if (c->done != c->size)
            return sg_error_set(err, SG_EIO, "the model changed while it was imported");
        return 0;
    }
    EVP_DigestUpdate(c->hp, buf, (size_t)r);
    c->done += (uint64_t)r;
    if (!c->m)
        return r;
    int rc = sg_menc_seal_chunk(c->m, idx, buf, (size_t)r, buf, err);
    return rc ? rc : r + SG_MENC_TAG;
}

static int write_err(struct sg_error *err, int e)
{
    return sg_error_set(err, SG_EIO, "cannot write the blob into the store%s: %s",
                        e == ENOSPC || e == EDQUOT ? " (disk full)" : "", strerror(e));
}

/* Consumer: hash the stored bytes (encrypted only) and write. */
static int copy_consume(void *arg, const uint8_t *buf, size_t len, struct sg_error *err)
{
    struct copy_ctx *c = arg;
    if (c->hb)
        EVP_DigestUpdate(c->hb, buf, len);
    return sg_mstore_write_full(c->out, buf, len) != 0 ? write_err(err, errno) : 0;
}

int sg_mstore_copy_in(const struct sg_model_store *s, int in, const uint8_t *enc_key,
                      uint32_t chunk, char *tmp, size_t cap, struct sg_mstore_copy *out,
                      struct sg_error *err)
{
    memset(out, 0, sizeof(*out));
    struct stat st;
    if (fstat(in, &st) != 0 || !S_ISREG(st.st_mode))
        return sg_error_set(err, SG_EINVAL, "the model is not a regular file");
    uint64_t size = (uint64_t)st.st_size;
    int fd = sg_mstore_tmp(s, tmp, cap, err);
    if (fd < 0)
        return fd;
    struct sg_menc m = {0};
    struct copy_ctx c = {.in = in, .out = fd, .size = size};
    c.bufsz = enc_key ? chunk : IO_CHUNK;
    c.hp = sha_new();
    c.hb = enc_key ? sha_new() : NULL;
    int rc = 0;
    uint64_t stored = enc_key ? sg_menc_encrypted_size(size, chunk) : size;
    if (!c.hp || (enc_key && !c.hb)) {
        rc = sg_error_set(err, SG_ENOMEM, "out of memory");
        goto out;
    }
    /* Reserve the space: a full disk fails here, before any copying. */
    int pa = stored ? posix_fallocate(fd, 0, (off_t)stored) : 0;
    if (pa == ENOSPC || pa == EDQUOT) {
        rc = sg_error_set(err, SG_EIO,
                          "not enough space in the store for %llu bytes (disk full): %s",
                          (unsigned long long)stored, strerror(pa));
        goto out;
    }
    if (lseek(in, 0, SEEK_SET) != 0) {
        rc = sg_error_set(err, SG_EIO, "cannot read the model: %s", strerror(errno));
        goto out;
    }
    if (enc_key) {
        if ((rc = sg_menc_seal_init(&m, enc_key, size, chunk, err)))
            goto out;
        c.m = &m;
        EVP_DigestUpdate(c.hb, m.header, SG_MENC_HEADER);
        if (sg_mstore_write_full(fd, m.header, SG_MENC_HEADER) != 0) {
            rc = write_err(err, errno);
            goto out;
        }
    }
    struct pipe p = {.consume = copy_consume, .ctx = &c};
    if ((rc = run_pipe(&p, c.bufsz + SG_MENC_TAG, copy_produce, &c, err)))
        goto out;
    if (fsync(fd) != 0) {
        rc = write_err(err, errno);
        goto out;
    }
    out->plain_size = size;
    out->blob_size = stored;
    out->chunk = enc_key ? chunk : 0;
    rc = sha_end(c.hp, out->plain_sha);
    c.hp = NULL;
    if (!rc && enc_key)
        rc = sha_end(c.hb, out->blob_sha);
    else if (!rc)
        memcpy(out->blob_sha, out->plain_sha, 32);
    if (enc_key)
        c.hb = NULL;
    if (rc)
        rc = sg_error_set(err, SG_ECRYPTO, "SHA-256 failed");
out:
    sg_menc_clear(&m);
    EVP_MD_CTX_free(c.hp);
    EVP_MD_CTX_free(c.hb);
    if (close(fd) != 0 && !rc)
        rc = write_err(err, errno);
    if (rc)
        unlink(tmp);
    return rc;
}

/* ---- decryption ---- */

struct dec_ctx {
    int in, out;
    struct sg_menc *m;
    EVP_MD_CTX *h;
    uint8_t *map;      /* the output mapped (decrypted straight into it), or NULL */
    uint64_t consumed; /* plaintext bytes the consumer has hashed */
};

/* Producer: read a chunk and its tag, authenticate and decrypt it (into the mapped output
 * when there is one, else in place). */
static ssize_t dec_produce(void *arg, uint8_t *buf, uint64_t idx, struct sg_error *err)
{
    struct dec_ctx *c = arg;
    if (idx >= c->m->nchunks)
        return 0;
    size_t n = sg_menc_chunk_len(c->m, idx) + SG_MENC_TAG;
    ssize_t r = read_full(c->in, buf, n);
    if (r < 0)
        return sg_error_set(err, SG_EIO, "cannot read the weights: %s", strerror(errno));
    if ((size_t)r != n)
        return sg_error_set(err, SG_EINVAL, "the encrypted model is truncated in chunk %llu",
                            (unsigned long long)idx);
    uint8_t *dst = c->map ? c->map + idx * (uint64_t)c->m->chunk : buf;
    int rc = sg_menc_open_chunk(c->m, idx, buf, n, dst, err);
    if (rc)
        return rc;
    if (n == SG_MENC_TAG) /* an empty model: one empty chunk, nothing to pass on */
        return 0;
    return (ssize_t)(n - SG_MENC_TAG);
}

/* Consumer: hash the plaintext and write it out (when asked and not mapped). */
static int dec_consume(void *arg, const uint8_t *buf, size_t len, struct sg_error *err)
{
    struct dec_ctx *c = arg;
    if (c->map) {
        EVP_DigestUpdate(c->h, c->map + c->consumed, len);
        c->consumed += len;
        return 0;
    }
    EVP_DigestUpdate(c->h, buf, len);
    if (c->out >= 0 && sg_mstore_write_full(c->out, buf, len) != 0)
        return sg_error_set(err, SG_EIO, "cannot write the decrypted weights: %s", strerror(errno));
    return 0;
}

int sg_mstore_decrypt_fd(int in, const uint8_t key[SG_MENC_KEY_LEN], int out, uint8_t sha[32],
                         uint64_t *size, struct sg_error *err)
{
    struct stat st;
    uint8_t hdr[SG_MENC_HEADER];
    if (fstat(in, &st) != 0 || lseek(in, 0, SEEK_SET) != 0)
        return sg_error_set(err, SG_EIO, "cannot read the weights: %s", strerror(errno));
    ssize_t r = read_full(in, hdr, sizeof(hdr));
    if (r != (ssize_t)sizeof(hdr))
        return sg_error_set(err, SG_EINVAL,
                            "the encrypted model is truncated (no complete header)");
    struct sg_menc m;
    int rc = sg_menc_open_init(&m, key, hdr, (uint64_t)st.st_size, err);
    if (rc) {
        sg_menc_clear(&m);
        return rc;
    }
    struct dec_ctx c = {.in = in, .out = out, .m = &m, .h = sha_new()};
    if (!c.h) {
        sg_menc_clear(&m);
        return sg_error_set(err, SG_ENOMEM, "out of memory");
    }
    if (out >= 0 && m.size && ftruncate(out, (off_t)m.size) != 0)
        rc = sg_error_set(err, SG_EIO, "cannot size the decrypted weights: %s", strerror(errno));
    /* Decrypt straight into the output's pages (one copy less); write(2) when the output
     * cannot be mapped. Unmapped again before anyone seals the output. */
    /* Allocate the output's pages in one call and map them populated: faulting in a memfd's
     * pages one by one while decrypting doubled the decryption's time. An output that
     * cannot be preallocated this way is faulted in as written. */
    int mflags = MAP_SHARED;
    if (!rc && out >= 0 && m.size) {
        if (fallocate(out, 0, 0, (off_t)m.size) == 0)
            mflags |= MAP_POPULATE;
        else if (errno == ENOSPC)
            rc = sg_error_set(err, SG_EIO, "cannot hold the decrypted weights in memory: %s",
                              strerror(errno));
    }
    if (!rc && out >= 0 && m.size) {
        void *map = mmap(NULL, (size_t)m.size, PROT_READ | PROT_WRITE, mflags, out, 0);
        c.map = map == MAP_FAILED ? NULL : map;
    }
    struct pipe p = {.consume = dec_consume, .ctx = &c};
    if (!rc)
        rc = run_pipe(&p, (size_t)m.chunk + SG_MENC_TAG, dec_produce, &c, err);
    if (c.map)
        munmap(c.map, (size_t)m.size);
    if (!rc && sha_end(c.h, sha) != 0)
        rc = sg_error_set(err, SG_ECRYPTO, "SHA-256 failed");
    else if (rc)
        EVP_MD_CTX_free(c.h);
    if (!rc && size)
        *size = m.size;
    sg_menc_clear(&m);
    return rc;
}
