/* Streaming copy, hashing, encryption and decryption of model weights: large sequential
 * reads (one chunk at a time), one pass over the data for every transformation, and the
 * work split over threads (a producer that reads and encrypts, or decrypts from the mapped
 * blob; consumers that hash and write) through a ring of chunk buffers, so that SHA-256,
 * AES-GCM and the kernel's copying run at the same time on two cores. Memory: NSLOT chunk
 * buffers. */
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

/* ---- the pipeline ----
 *
 * A producer (the caller's thread) fills a ring of NSLOT chunk buffers; one or two
 * consumers, each on a thread of its own, see every chunk in order. A slot is refilled
 * only when every consumer is done with it (`pending`), and carries the number of the
 * chunk it holds (`seq`), so a consumer that runs ahead never takes a chunk it already
 * had for the next one. Without threads everything runs inline on the caller's thread. */

#define NSLOT 4
#define NCONSUMER 2

struct slot {
    uint8_t *buf;
    size_t len;
    uint64_t seq; /* the chunk it holds */
    int state;    /* 0 free, 1 full, 2 end of stream */
    int pending;  /* consumers not yet done with it */
};

struct pipe {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct slot s[NSLOT];
    int rc;               /* the first error of any side */
    bool quit;            /* the consumers are to stop (starting the threads failed) */
    struct sg_error werr; /* the first failing consumer's error */
    /* the consumers: hash and/or write one chunk; consume[1] may be NULL */
    int (*consume[NCONSUMER])(void *ctx, const uint8_t *buf, size_t len, struct sg_error *err);
    void *ctx;
};

struct consumer_arg {
    struct pipe *p;
    int which;
};

static void *consumer(void *arg)
{
    struct consumer_arg *a = arg;
    struct pipe *p = a->p;
    struct sg_error e = {0};
    for (uint64_t i = 0;; i++) {
        struct slot *s = &p->s[i % NSLOT];
        pthread_mutex_lock(&p->mu);
        while ((s->state == 0 || s->seq != i) && !p->rc && !p->quit)
            pthread_cond_wait(&p->cv, &p->mu);
        int st = s->state, stop = p->rc || p->quit;
        pthread_mutex_unlock(&p->mu);
        if (stop || st == 2)
            return NULL;
        int rc = p->consume[a->which](p->ctx, s->buf, s->len, &e);
        pthread_mutex_lock(&p->mu);
        if (--s->pending == 0)
            s->state = 0;
        if (rc && !p->rc) {
            p->rc = rc;
            p->werr = e;
        }
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
        if (rc)
            return NULL;
    }
}

/* Runs every consumer on one chunk on the caller's thread (no consumer threads). */
static int consume_inline(struct pipe *p, const uint8_t *buf, size_t len)
{
    for (int k = 0; k < NCONSUMER; k++) {
        int rc = p->consume[k] ? p->consume[k](p->ctx, buf, len, &p->werr) : 0;
        if (rc)
            return rc;
    }
    return 0;
}

/* The producer side: fills slot buffers of `cap` bytes with `produce` (returns the length,
 * 0 at the end, or a negative code) until the end, an error of any side, or done. */
static int run_pipe(struct pipe *p, size_t cap,
                    ssize_t (*produce)(void *ctx, uint8_t *buf, uint64_t idx, struct sg_error *e),
                    void *ctx, struct sg_error *err)
{
    memset(p->s, 0, sizeof(p->s));
    p->rc = 0;
    p->quit = false;
    memset(&p->werr, 0, sizeof(p->werr));
    for (int i = 0; i < NSLOT; i++)
        if (!(p->s[i].buf = malloc(cap))) {
            for (int j = 0; j < i; j++)
                free(p->s[j].buf);
            return sg_error_set(err, SG_ENOMEM, "out of memory");
        }
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    pthread_t t[NCONSUMER];
    struct consumer_arg args[NCONSUMER];
    int nt = 0; /* consumer threads started */
    bool threaded = true;
    for (int k = 0; k < NCONSUMER && threaded; k++) {
        if (!p->consume[k])
            continue;
        args[nt] = (struct consumer_arg){p, k};
        if (pthread_create(&t[nt], NULL, consumer, &args[nt]) == 0)
            nt++;
        else
            threaded = false;
    }
    if (!threaded) { /* all inline: stop the threads that did start (they consumed nothing) */
        pthread_mutex_lock(&p->mu);
        p->quit = true;
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
        for (int k = 0; k < nt; k++)
            pthread_join(t[k], NULL);
        nt = 0;
    }
    int rc = 0;
    bool mine = false; /* the error is the producer's (in `err` already) */
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
            mine = true;
            pthread_mutex_lock(&p->mu);
            if (!p->rc)
                p->rc = rc;
            pthread_cond_broadcast(&p->cv);
            pthread_mutex_unlock(&p->mu);
            break;
        }
        if (!threaded) {
            if (n == 0)
                break;
            if ((rc = consume_inline(p, s->buf, (size_t)n))) {
                p->rc = rc;
                break;
            }
            continue;
        }
        pthread_mutex_lock(&p->mu);
        s->len = (size_t)n;
        s->seq = i;
        s->pending = nt;
        s->state = n == 0 ? 2 : 1;
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
        if (n == 0)
            break;
    }
    for (int k = 0; k < nt; k++)
        pthread_join(t[k], NULL);
    if (!mine && p->rc) { /* a consumer failed: its error */
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
    uint64_t written, flushed; /* bytes of the blob written, and handed to writeback */
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

/* How much written data the import lets collect before it starts the disk on it. */
#define WRITEBACK_STEP (8u << 20)

/* Consumer: hash the stored bytes (encrypted only) and write. Every WRITEBACK_STEP bytes it
 * starts the disk writing them (sync_file_range, which does not wait for the disk): else
 * the whole blob stays dirty in the page cache (below the kernel's background threshold)
 * until the final fsync, which then writes all of it after the CPU work instead of beside
 * it. Measured, 0.5 GB into ext4 on this VM's busy disk, best of 4: import 2.19 s before,
 * 1.65 s after (median 2.6 s, 2.0 s). The fsync stays: it is what makes the blob durable,
 * and an error of the writeback started here shows there. */
static int copy_consume(void *arg, const uint8_t *buf, size_t len, struct sg_error *err)
{
    struct copy_ctx *c = arg;
    if (c->hb)
        EVP_DigestUpdate(c->hb, buf, len);
    if (sg_mstore_write_full(c->out, buf, len) != 0)
        return write_err(err, errno);
    c->written += len;
    if (c->written - c->flushed >= WRITEBACK_STEP) {
        (void)sync_file_range(c->out, (off_t)c->flushed, (off_t)(c->written - c->flushed),
                              SYNC_FILE_RANGE_WRITE);
        c->flushed = c->written;
    }
    return 0;
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
    /* Checked before the space is reserved below, which is computed from it: a tiny chunk
     * would first ask for up to 17 times the model's size and fail as "disk full". */
    if (enc_key && (chunk < SG_MENC_MIN_CHUNK || chunk > SG_MENC_MAX_CHUNK))
        return sg_error_set(err, SG_EINVAL, "chunk size %u out of range (%u to %u bytes)", chunk,
                            SG_MENC_MIN_CHUNK, SG_MENC_MAX_CHUNK);
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
        c.written = SG_MENC_HEADER;
        EVP_DigestUpdate(c.hb, m.header, SG_MENC_HEADER);
        if (sg_mstore_write_full(fd, m.header, SG_MENC_HEADER) != 0) {
            rc = write_err(err, errno);
            goto out;
        }
    }
    struct pipe p = {.consume = {copy_consume, NULL}, .ctx = &c};
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

/* ---- decryption ----
 *
 * The producer (the caller's thread) authenticates and decrypts chunk i from the mapped
 * input into a ring buffer; one consumer thread runs SHA-256 over that buffer and, when
 * there is an output, a second one write(2)s the same buffer into it. SHA-256 (0.6 CPU
 * s/GB), the slowest step and the whole of a plaintext model's check, thus has a core to
 * itself, while AES-GCM and the output's new pages share the other. Measured, CPU time per
 * thread for 2 GB into a memfd (perf, this 2-core VM): hash 1.23 s, decrypt 0.64 s, write
 * 0.62 s, so on two free cores the hash bounds the load as in the plaintext path. With
 * the write on the decrypting thread (0.5 GB: 0.59 and 0.61 s/GB) that thread bounded the
 * 2 GB load (1.86 s against 1.24 s), since first touching fresh memory is slow in this VM;
 * before that, the memfd's pages were allocated and mapped up front (fallocate +
 * MAP_POPULATE, alone before either thread started), then read(2) and decrypted into that
 * mapping: 0.90 and 0.60 s/GB.
 *
 * The input is mapped rather than read: read(2) copied every byte once more (0.1 s/GB).
 * Should the blob change while it is mapped, a chunk's tag could be checked over other
 * bytes than were decrypted, but the plaintext's SHA-256 is computed over the very buffer
 * that is written out, so weights that do not match the signed digest are still refused.
 * (A blob cut short in place while mapped would raise SIGBUS; the store never does that:
 * blobs are written under tmp/ and renamed.) read(2) is kept for inputs that cannot be
 * mapped.
 *
 * The output (the engine's memfd) is written with write(2), not through a mapping: a write
 * of whole pages gets fresh pages that the kernel need not zero and maps nowhere, where
 * decrypting into a shared mapping first needs every page allocated, zeroed and mapped
 * (page faults, MADV_POPULATE_WRITE, or fallocate + MAP_POPULATE, all measured): 165 ms
 * against 180-200 ms of kernel time per 0.5 GB, and no SIGBUS when memory runs out
 * (write(2) fails with a clear error instead). */

struct dec_ctx {
    int in, out;
    const uint8_t *src;
    struct sg_menc *m;
    EVP_MD_CTX *h;
};

/* Producer: authenticate and decrypt a chunk (mapped, or read into `buf`) into `buf`. */
static ssize_t dec_produce(void *arg, uint8_t *buf, uint64_t idx, struct sg_error *err)
{
    struct dec_ctx *c = arg;
    if (idx >= c->m->nchunks)
        return 0;
    size_t n = sg_menc_chunk_len(c->m, idx) + SG_MENC_TAG;
    const uint8_t *src = buf; /* decrypted in place when read */
    if (c->src) {             /* mapped: its length was checked against the header */
        src = c->src + SG_MENC_HEADER + idx * ((uint64_t)c->m->chunk + SG_MENC_TAG);
    } else {
        ssize_t r = read_full(c->in, buf, n);
        if (r < 0)
            return sg_error_set(err, SG_EIO, "cannot read the weights: %s", strerror(errno));
        if ((size_t)r != n)
            return sg_error_set(err, SG_EINVAL, "the encrypted model is truncated in chunk %llu",
                                (unsigned long long)idx);
    }
    int rc = sg_menc_open_chunk(c->m, idx, src, n, buf, err);
    if (rc)
        return rc;
    return (ssize_t)(n - SG_MENC_TAG); /* 0 for an empty model: nothing to pass on */
}

/* Consumer 0: hash the plaintext. */
static int dec_hash(void *arg, const uint8_t *buf, size_t len, struct sg_error *err)
{
    (void)err;
    struct dec_ctx *c = arg;
    EVP_DigestUpdate(c->h, buf, len);
    return 0;
}

/* Consumer 1 (when there is an output): write the plaintext out. */
static int dec_write(void *arg, const uint8_t *buf, size_t len, struct sg_error *err)
{
    struct dec_ctx *c = arg;
    if (sg_mstore_write_full(c->out, buf, len) != 0)
        return sg_error_set(err, SG_EIO, "cannot write the decrypted weights%s: %s",
                            errno == ENOSPC || errno == ENOMEM ? " (out of memory)" : "",
                            strerror(errno));
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
    /* st.st_size is the length sg_menc_open_init checked: every chunk lies inside it. */
    void *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, in, 0);
    if (map != MAP_FAILED)
        c.src = map;
    struct pipe p = {.consume = {dec_hash, out >= 0 ? dec_write : NULL}, .ctx = &c};
    rc = run_pipe(&p, (size_t)m.chunk + SG_MENC_TAG, dec_produce, &c, err);
    if (map != MAP_FAILED)
        munmap(map, (size_t)st.st_size);
    if (!rc && sha_end(c.h, sha) != 0)
        rc = sg_error_set(err, SG_ECRYPTO, "SHA-256 failed");
    else if (rc)
        EVP_MD_CTX_free(c.h);
    if (!rc && size)
        *size = m.size;
    sg_menc_clear(&m);
    return rc;
}
