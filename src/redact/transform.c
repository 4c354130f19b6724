/* Pseudonymization, masking, hashing and tolerant restore. */
#include "redact/transform.h"
#include "core/crypto.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <pthread.h>
#if defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>
#include <immintrin.h>
#define SG_SHA_NI 1
#endif

/* Crockford base32: no I, L, O, U (they read like 1, 1, 0, V). */
static const char b32[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

static int b32_value(unsigned char c)
{
    c = (unsigned char)toupper(c);
    if (c == 'O')
        return 0;
    if (c == 'I' || c == 'L')
        return 1;
    const char *p = c ? strchr(b32, c) : NULL;
    return p ? (int)(p - b32) : -1;
}

const char *sg_action_name(enum sg_action a)
{
    static const char *const n[] = {"allow", "mask", "pseudonymize", "hash", "block"};
    return a <= SG_ACT_BLOCK ? n[a] : "?";
}

int sg_action_parse(const char *s, enum sg_action *out)
{
    for (int i = 0; i <= SG_ACT_BLOCK; i++) {
        if (strcmp(s, sg_action_name((enum sg_action)i)) == 0) {
            *out = (enum sg_action)i;
            return 0;
        }
    }
    return SG_EINVAL;
}

enum sg_action sg_action_default(unsigned type)
{
    switch (type) {
    case SG_ENT_CARD:
    case SG_ENT_IBAN:
    case SG_ENT_NATIONAL_ID:
    case SG_ENT_SECRET:
    case SG_ENT_URL_CREDENTIALS:
        return SG_ACT_MASK;
    default:
        return SG_ACT_PSEUDONYMIZE;
    }
}

/* ---- the vault ---- */

struct entry {
    uint32_t code; /* 30 bits */
    uint16_t type;
    char *value; /* the original, in one of the vault's blocks */
    size_t len;
};

/* The originals are copied into blocks of the vault (one allocation for many values, not
 * one each: a request holds dozens); a block is never moved, so entry.value stays valid,
 * and is zeroed and freed with the vault. */
struct vblock {
    struct vblock *next;
    size_t used, cap;
    char data[];
};

struct sg_vault {
    const struct sg_detector *d;
    uint32_t ipad[8], opad[8]; /* HMAC-SHA256: the states after the key's inner and outer
                                * pad blocks */
    const uint8_t *key;
    size_t keylen;
    struct entry *e;
    size_t n, cap;
    size_t bytes, max_bytes;
    /* the types present, to speed restore */
    bool has_type[SG_ENT_MAX];
    uint16_t types[SG_ENT_MAX];
    unsigned ntypes;
    uint32_t first_letters; /* bit (c - 'A') for the first letter of each present type */
    uint32_t *index;        /* open addressing: entry number + 1 by code, 0 = empty */
    size_t index_cap;       /* a power of two, at least twice the entries */
    uint64_t *noted;        /* digests of values the request carried (sg_vault_note); a set with
                             * open addressing, 0 = empty */
    size_t nnoted, capnoted;
    struct vblock *blocks; /* the newest first */
};

/* ---- HMAC-SHA256 ----
 *
 * Every surrogate code is an HMAC of a short value (one or two SHA-256 blocks). Through
 * OpenSSL 3.0's EVP interface each one cost two context copies, each freeing and
 * allocating the digest's state, more than the hashing itself; so the key's pad states
 * are kept as the eight state words after their block, and the blocks of a value are
 * compressed here: with the CPU's SHA extensions where it has them (x86-64 SHA-NI), with
 * the plain FIPS 180-4 rounds otherwise. Both give the standard HMAC-SHA256. */

static const uint32_t sha256_k[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

static const uint32_t sha256_iv[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                      0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};

static inline uint32_t ror32(uint32_t x, unsigned n)
{
    return (x >> n) | (x << (32 - n));
}

/* One 64-byte block into the state, portably. */
static void sha256_block_c(uint32_t st[8], const uint8_t *b)
{
    uint32_t w[64];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)b[4 * i] << 24 | (uint32_t)b[4 * i + 1] << 16 |
               (uint32_t)b[4 * i + 2] << 8 | b[4 * i + 3];
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = ror32(w[i - 15], 7) ^ ror32(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = ror32(w[i - 2], 17) ^ ror32(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = st[0], bb = st[1], c = st[2], d = st[3], e = st[4], f = st[5], g = st[6],
             h = st[7];
    for (int i = 0; i < 64; i++) {
        uint32_t t1 = h + (ror32(e, 6) ^ ror32(e, 11) ^ ror32(e, 25)) + ((e & f) ^ (~e & g)) +
                      sha256_k[i] + w[i];
        uint32_t t2 = (ror32(a, 2) ^ ror32(a, 13) ^ ror32(a, 22)) + ((a & bb) ^ (a & c) ^ (bb & c));
        h = g;
        g = f;
        f = e;
        e = d + t1;
        d = c;
        c = bb;
        bb = a;
        a = t1 + t2;
    }
    st[0] += a;
    st[1] += bb;
    st[2] += c;
    st[3] += d;
    st[4] += e;
    st[5] += f;
    st[6] += g;
    st[7] += h;
}

#if defined(SG_SHA_NI)
/* One block with the SHA extensions: the state as ABEF/CDGH lanes, two rounds per
 * sha256rnds2, the message schedule four words at a time with sha256msg1/msg2. */
__attribute__((target("sha,sse4.1,ssse3"))) static void sha256_block_ni(uint32_t st[8],
                                                                        const uint8_t *b)
{
    const __m128i bswap = _mm_set_epi64x(0x0c0d0e0f08090a0bLL, 0x0405060700010203LL);
    __m128i tmp = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)&st[0]), 0xB1); /* CDAB */
    __m128i s1 = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)&st[4]), 0x1B);  /* EFGH */
    __m128i s0 = _mm_alignr_epi8(tmp, s1, 8);                                        /* ABEF */
    s1 = _mm_blend_epi16(s1, tmp, 0xF0);                                             /* CDGH */
    __m128i abef = s0, cdgh = s1;
    __m128i w[4];
    for (int i = 0; i < 4; i++)
        w[i] = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(b + 16 * i)), bswap);
    for (int g = 0; g < 16; g++) {
        __m128i m = _mm_add_epi32(w[g & 3], _mm_loadu_si128((const __m128i *)&sha256_k[4 * g]));
        s1 = _mm_sha256rnds2_epu32(s1, s0, m);
        s0 = _mm_sha256rnds2_epu32(s0, s1, _mm_shuffle_epi32(m, 0x0E));
        if (g < 12) /* words 4(g+4).. from the four groups before them */
            w[g & 3] = _mm_sha256msg2_epu32(
                _mm_add_epi32(_mm_sha256msg1_epu32(w[g & 3], w[(g + 1) & 3]),
                              _mm_alignr_epi8(w[(g + 3) & 3], w[(g + 2) & 3], 4)),
                w[(g + 3) & 3]);
    }
    s0 = _mm_add_epi32(s0, abef);
    s1 = _mm_add_epi32(s1, cdgh);
    tmp = _mm_shuffle_epi32(s0, 0x1B);                                   /* FEBA */
    s1 = _mm_shuffle_epi32(s1, 0xB1);                                    /* DCHG */
    _mm_storeu_si128((__m128i *)&st[0], _mm_blend_epi16(tmp, s1, 0xF0)); /* DCBA */
    _mm_storeu_si128((__m128i *)&st[4], _mm_alignr_epi8(s1, tmp, 8));    /* HGFE */
}
#endif

static void (*sha256_block)(uint32_t st[8], const uint8_t *b) = sha256_block_c;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void sha256_pick(void)
{
#if defined(SG_SHA_NI)
    unsigned a, b, c, d;
    bool ssse3_sse41 = __get_cpuid(1, &a, &b, &c, &d) && (c & bit_SSSE3) && (c & bit_SSE4_1);
    if (ssse3_sse41 && __get_cpuid_count(7, 0, &a, &b, &c, &d) && (b & bit_SHA))
        sha256_block = sha256_block_ni;
#endif
}

/* Hashes msg (len bytes) on from `st`, a state after `done` bytes (a multiple of 64), and
 * writes the digest. */
static void sha256_finish(uint32_t st[8], size_t done, const uint8_t *msg, size_t len,
                          uint8_t out[32])
{
    size_t total = done + len;
    for (; len >= 64; msg += 64, len -= 64)
        sha256_block(st, msg);
    uint8_t blk[128] = {0};
    memcpy(blk, msg, len);
    blk[len] = 0x80;
    size_t bl = len + 9 <= 64 ? 64 : 128;
    uint64_t bits = (uint64_t)total * 8;
    for (int i = 0; i < 8; i++)
        blk[bl - 1 - i] = (uint8_t)(bits >> (8 * i));
    sha256_block(st, blk);
    if (bl == 128)
        sha256_block(st, blk + 64);
    for (int i = 0; i < 8; i++) {
        out[4 * i] = (uint8_t)(st[i] >> 24);
        out[4 * i + 1] = (uint8_t)(st[i] >> 16);
        out[4 * i + 2] = (uint8_t)(st[i] >> 8);
        out[4 * i + 3] = (uint8_t)st[i];
    }
    sg_secure_zero(blk, bl); /* it held the tail of the value (the rest is still zeros) */
}

/* The key's inner and outer pad states, computed once per vault. */
static int hmac_init(struct sg_vault *v)
{
    pthread_once(&sha256_once, sha256_pick);
    uint8_t k[64] = {0}, pad[64];
    if (v->keylen > sizeof(k))
        sg_sha256(v->key, v->keylen, k);
    else
        memcpy(k, v->key, v->keylen);
    memcpy(v->ipad, sha256_iv, sizeof(v->ipad));
    memcpy(v->opad, sha256_iv, sizeof(v->opad));
    for (int i = 0; i < 64; i++)
        pad[i] = k[i] ^ 0x36;
    sha256_block(v->ipad, pad);
    for (int i = 0; i < 64; i++)
        pad[i] = k[i] ^ 0x5c;
    sha256_block(v->opad, pad);
    sg_secure_zero(k, sizeof(k));
    sg_secure_zero(pad, sizeof(pad));
    return 0;
}

static void hmac(const struct sg_vault *v, const void *msg, size_t len, uint8_t out[32])
{
    uint32_t st[8];
    uint8_t inner[32];
    memcpy(st, v->ipad, sizeof(st));
    sha256_finish(st, 64, msg, len, inner);
    memcpy(st, v->opad, sizeof(st));
    sha256_finish(st, 64, inner, sizeof(inner), out);
    sg_secure_zero(st, sizeof(st));
}

struct sg_vault *sg_vault_new(const struct sg_detector *d, const uint8_t *key, size_t keylen,
                              size_t max_bytes)
{
    struct sg_vault *v = calloc(1, sizeof(*v));
    if (v) {
        v->d = d;
        v->key = key;
        v->keylen = keylen;
        v->max_bytes = max_bytes;
        if (hmac_init(v) != 0) {
            sg_vault_free(v);
            return NULL;
        }
    }
    return v;
}

void sg_vault_free(struct sg_vault *v)
{
    if (!v)
        return;
    for (struct vblock *b = v->blocks, *next; b; b = next) {
        next = b->next;
        sg_secure_zero(b->data, b->used);
        free(b);
    }
    free(v->e);
    free(v->index);
    free(v->noted);
    sg_secure_zero(v->ipad, sizeof(v->ipad));
    sg_secure_zero(v->opad, sizeof(v->opad));
    free(v);
}

size_t sg_vault_count(const struct sg_vault *v)
{
    return v ? v->n : 0;
}

/* The canonical form of a value for its code: the same value written differently gets
 * the same surrogate. ASCII only, whatever the locale: one loop per kind of type, with no
 * per-byte switch and no ctype calls (this runs for every finding). */
static size_t canonical(unsigned type, const char *s, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    const unsigned char *u = (const unsigned char *)s;
    if (type == SG_ENT_PHONE || type == SG_ENT_CARD) {
        for (size_t i = 0; i < n && o + 1 < cap; i++)
            if ((u[i] >= '0' && u[i] <= '9') || (u[i] == '+' && o == 0))
                out[o++] = (char)u[i];
    } else if (type == SG_ENT_IBAN || type == SG_ENT_VAT_ID || type == SG_ENT_NATIONAL_ID) {
        for (size_t i = 0; i < n && o + 1 < cap; i++) {
            unsigned char c = u[i];
            if (c >= 'a' && c <= 'z')
                out[o++] = (char)(c - 32);
            else if ((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
                out[o++] = (char)c;
        }
    } else {
        /* lower case, runs of white space as one space, none at the ends */
        bool space = false;
        for (size_t i = 0; i < n && o + 1 < cap; i++) {
            unsigned char c = u[i];
            if (c == ' ' || (c >= '\t' && c <= '\r')) {
                space = o > 0;
                continue;
            }
            if (space) {
                out[o++] = ' ';
                space = false;
                if (o + 1 >= cap)
                    break;
            }
            out[o++] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
        }
    }
    out[o] = '\0';
    return o;
}

/* The message an HMAC is taken of: two bytes that separate the uses (surrogate codes,
 * digests, hashes), then the value's canonical form (at most 1023 bytes), written in
 * place. Returns its length; the caller zeroes that many bytes and one more (the
 * canonical form's NUL) when done: only what was written holds the value. */
#define SG_MSG_CAP (2 + 1024)
static size_t mac_msg(unsigned char msg[SG_MSG_CAP], unsigned char a, unsigned char b,
                      unsigned type, const char *s, size_t n)
{
    msg[0] = a;
    msg[1] = b;
    return 2 + canonical(type, s, n, (char *)msg + 2, SG_MSG_CAP - 2);
}

static uint32_t code_of(const struct sg_vault *v, unsigned type, const char *s, size_t n,
                        uint8_t salt)
{
    unsigned char msg[SG_MSG_CAP];
    size_t ml = mac_msg(msg, (unsigned char)type, salt, type, s, n);
    unsigned char mac[32];
    hmac(v, msg, ml, mac);
    uint32_t c = (uint32_t)mac[0] << 22 | (uint32_t)mac[1] << 14 | (uint32_t)mac[2] << 6 |
                 (uint32_t)mac[3] >> 2;
    sg_secure_zero(msg, ml + 1);
    return c & 0x3FFFFFFF;
}

static void code_text(uint32_t code, char out[SG_SURROGATE_CODE + 1])
{
    for (int i = SG_SURROGATE_CODE - 1; i >= 0; i--) {
        out[i] = b32[code & 31];
        code >>= 5;
    }
    out[SG_SURROGATE_CODE] = '\0';
}

static size_t slot_of(uint32_t code, unsigned type, size_t cap)
{
    return (size_t)((code ^ (uint32_t)type * 0x9E3779B1u) * 0x85EBCA6Bu) & (cap - 1);
}

static struct entry *vault_find(const struct sg_vault *v, unsigned type, uint32_t code)
{
    if (!v->index_cap)
        return NULL;
    for (size_t i = slot_of(code, type, v->index_cap);; i = (i + 1) & (v->index_cap - 1)) {
        uint32_t k = v->index[i];
        if (!k)
            return NULL;
        struct entry *e = &v->e[k - 1];
        if (e->code == code && e->type == type)
            return e;
    }
}

static void index_put(struct sg_vault *v, size_t k)
{
    const struct entry *e = &v->e[k];
    size_t i = slot_of(e->code, e->type, v->index_cap);
    while (v->index[i])
        i = (i + 1) & (v->index_cap - 1);
    v->index[i] = (uint32_t)k + 1;
}

/* Indexes entry number `k` (0-based, == v->n), growing the index to stay half empty. */
static int index_add(struct sg_vault *v, size_t k)
{
    if ((k + 1) * 2 > v->index_cap) {
        size_t cap = v->index_cap ? v->index_cap * 2 : 64;
        uint32_t *ix = calloc(cap, sizeof(*ix));
        if (!ix)
            return SG_ENOMEM;
        free(v->index);
        v->index = ix;
        v->index_cap = cap;
        for (size_t j = 0; j < k; j++)
            index_put(v, j);
    }
    index_put(v, k);
    return 0;
}

static uint64_t digest64(const struct sg_vault *v, unsigned type, const char *s, size_t n)
{
    unsigned char msg[SG_MSG_CAP];
    size_t ml = mac_msg(msg, 'n', (unsigned char)type, type, s, n);
    unsigned char mac[32];
    hmac(v, msg, ml, mac);
    sg_secure_zero(msg, ml + 1);
    uint64_t d = 0;
    for (int i = 0; i < 8; i++)
        d = d << 8 | mac[i];
    return d;
}

static bool noted_insert(uint64_t *set, size_t cap, uint64_t d)
{
    for (size_t i = (size_t)d & (cap - 1);; i = (i + 1) & (cap - 1)) {
        if (set[i] == d)
            return false;
        if (!set[i]) {
            set[i] = d;
            return true;
        }
    }
}

uint64_t sg_vault_digest(const struct sg_vault *v, unsigned type, const char *value, size_t len)
{
    return digest64(v, type, value, len);
}

int sg_vault_note(struct sg_vault *v, unsigned type, const char *value, size_t len)
{
    uint64_t d = digest64(v, type, value, len) | 1; /* never 0, the empty mark */
    if ((v->nnoted + 1) * 2 > v->capnoted) {
        size_t cap = v->capnoted ? v->capnoted * 2 : 32;
        uint64_t *set = calloc(cap, sizeof(*set));
        if (!set)
            return SG_ENOMEM;
        for (size_t i = 0; i < v->capnoted; i++)
            if (v->noted[i])
                noted_insert(set, cap, v->noted[i]);
        free(v->noted);
        v->noted = set;
        v->capnoted = cap;
    }
    if (noted_insert(v->noted, v->capnoted, d))
        v->nnoted++;
    return 0;
}

bool sg_vault_noted(const struct sg_vault *v, unsigned type, const char *value, size_t len)
{
    if (!v || !v->nnoted)
        return false;
    uint64_t d = digest64(v, type, value, len) | 1;
    for (size_t i = (size_t)d & (v->capnoted - 1);; i = (i + 1) & (v->capnoted - 1)) {
        if (v->noted[i] == d)
            return true;
        if (!v->noted[i])
            return false;
    }
}

/* Adds an entry (a copy of the value) under `code`. Returns 0, SG_ETOOBIG or SG_ENOMEM. */
static int vault_add(struct sg_vault *v, unsigned type, uint32_t code, const char *s, size_t n)
{
    if (v->bytes + n > v->max_bytes)
        return SG_ETOOBIG;
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 16;
        struct entry *ne = realloc(v->e, cap * sizeof(*ne));
        if (!ne)
            return SG_ENOMEM;
        v->e = ne;
        v->cap = cap;
    }
    struct vblock *b = v->blocks;
    if (!b || b->cap - b->used < n + 1) {
        /* blocks of 1 KiB doubling up to 64 KiB, or one of the value's size */
        size_t cap = b ? (b->cap < 65536 ? b->cap * 2 : b->cap) : 1024;
        if (cap < n + 1)
            cap = n + 1;
        struct vblock *nb = malloc(sizeof(*nb) + cap);
        if (!nb)
            return SG_ENOMEM;
        nb->next = b;
        nb->used = 0;
        nb->cap = cap;
        v->blocks = b = nb;
    }
    char *copy = b->data + b->used;
    memcpy(copy, s, n);
    copy[n] = '\0';
    v->e[v->n] = (struct entry){code, (uint16_t)type, copy, n};
    if (index_add(v, v->n) != 0) {
        sg_secure_zero(copy, n);
        return SG_ENOMEM;
    }
    b->used += n + 1;
    v->n++;
    v->bytes += n;
    if (type < SG_ENT_MAX && !v->has_type[type]) {
        v->has_type[type] = true;
        v->types[v->ntypes++] = (uint16_t)type;
        v->first_letters |= 1u << (sg_entity_name(v->d, type)[0] - 'A');
    }
    return 0;
}

int sg_vault_each(const struct sg_vault *v, sg_vault_entry_fn fn, void *ctx)
{
    for (size_t i = 0; i < v->n; i++) {
        char ct[SG_SURROGATE_CODE + 1];
        code_text(v->e[i].code, ct);
        int rc = fn(v->e[i].type, ct, v->e[i].value, v->e[i].len, ctx);
        if (rc)
            return rc;
    }
    return 0;
}

int sg_vault_import(struct sg_vault *v, unsigned type, const char *code, const char *value,
                    size_t len)
{
    if (type >= SG_ENT_MAX || strlen(code) != SG_SURROGATE_CODE)
        return SG_EINVAL;
    uint32_t c = 0;
    for (int i = 0; i < SG_SURROGATE_CODE; i++) {
        int x = b32_value((unsigned char)code[i]);
        if (x < 0)
            return SG_EINVAL;
        c = c << 5 | (uint32_t)x;
    }
    if (vault_find(v, type, c))
        return 0; /* known: the value the request carries itself wins */
    return vault_add(v, type, c, value, len);
}

/* Records a value and returns its code (salted again on the rare collision with a
 * different value of the same type). Negative on error. */
static int64_t vault_put(struct sg_vault *v, unsigned type, const char *s, size_t n)
{
    for (uint8_t salt = 0; salt < 8; salt++) {
        uint32_t code = code_of(v, type, s, n, salt);
        struct entry *e = vault_find(v, type, code);
        if (e) {
            char a[1024], b[1024];
            size_t la = canonical(type, e->value, e->len, a, sizeof(a));
            size_t lb = canonical(type, s, n, b, sizeof(b));
            bool same = la == lb && memcmp(a, b, la) == 0;
            sg_secure_zero(a, la + 1);
            sg_secure_zero(b, lb + 1);
            if (same)
                return code;
            continue; /* a collision: try the next salt */
        }
        int rc = vault_add(v, type, code, s, n);
        return rc ? (int64_t)rc : (int64_t)code;
    }
    return SG_EIO;
}

/* Appends a, b and c, of the lengths given (no printf and no strlen on the hot path). */
static int put3(struct sg_buf *out, const char *a, size_t al, const char *b, size_t bl,
                const char *c, size_t cl)
{
    int rc = sg_buf_append(out, a, al);
    rc = rc ? rc : sg_buf_append(out, b, bl);
    return rc ? rc : sg_buf_append(out, c, cl);
}

/* ---- transform ---- */

int sg_transform(struct sg_vault *v, const enum sg_action *actions, const char *text, size_t len,
                 const struct sg_findings *f, struct sg_buf *out, unsigned *blocked_type)
{
    size_t at = 0;
    int rc = 0;
    for (size_t i = 0; i < f->n && !rc; i++) {
        const struct sg_finding *x = &f->v[i];
        if (x->start < at || x->end > len)
            continue;
        enum sg_action a = actions ? actions[x->type] : sg_action_default(x->type);
        if (a == SG_ACT_BLOCK) {
            if (blocked_type)
                *blocked_type = x->type;
            return SG_EDENIED;
        }
        if (a == SG_ACT_ALLOW)
            continue;
        rc = sg_buf_append(out, text + at, x->start - at);
        const char *tn = sg_entity_name(v->d, x->type);
        const char *val = text + x->start;
        size_t vl = x->end - x->start;
        if (!rc && a == SG_ACT_MASK) {
            rc = put3(out, "[", 1, tn, strlen(tn), "]", 1);
        } else if (!rc && a == SG_ACT_PSEUDONYMIZE) {
            int64_t code = vault_put(v, x->type, val, vl);
            if (code < 0)
                return (int)code;
            char ct[SG_SURROGATE_CODE + 1];
            code_text((uint32_t)code, ct);
            rc = put3(out, tn, strlen(tn), "_", 1, ct, SG_SURROGATE_CODE);
        } else if (!rc && a == SG_ACT_HASH) {
            /* domain-separated from the surrogate codes: "h" and the type first */
            unsigned char msg[SG_MSG_CAP];
            size_t ml = mac_msg(msg, 'h', (unsigned char)x->type, x->type, val, vl);
            unsigned char mac[32];
            hmac(v, msg, ml, mac);
            sg_secure_zero(msg, ml + 1);
            char hex[13];
            sg_hex_encode(mac, 6, hex);
            rc = put3(out, tn, strlen(tn), "#", 1, hex, 12);
        }
        at = x->end;
    }
    return rc ? rc : sg_buf_append(out, text + at, len - at);
}

/* ---- restore ---- */

/* Result of trying to read a surrogate at a position. */
enum sur { SUR_NO = 0, SUR_YES, SUR_PARTIAL };

/* Reads a surrogate of a type the vault holds at t[i]: TYPE (any case), then "_", " ", "-"
 * or "\_", then six code characters with at most one space or line break before each.
 * `before` is the byte before t[0] (the end of the previous piece of a stream), -1 for
 * none; `more` says that more text may follow t[n - 1]. Returns SUR_YES (with *end and
 * *entry), SUR_PARTIAL when the text ends inside a possible surrogate (or, with `more`,
 * right after one, which the next byte may make part of a longer word), SUR_NO
 * otherwise. So a stream restores exactly what the whole text restores, however it is
 * cut (found by fuzzing: tests/fuzz/regressions/redact/stream-cut-after-surrogate). */
static enum sur read_surrogate(const struct sg_vault *v, const char *t, size_t n, size_t i,
                               int before, bool more, size_t *end, const struct entry **entry)
{
    int prev = i > 0 ? (unsigned char)t[i - 1] : before;
    if (prev >= 0 && (isalnum(prev) || prev == '_'))
        return SUR_NO;
    enum sur best = SUR_NO;
    for (unsigned ti = 0; ti < v->ntypes; ti++) {
        unsigned type = v->types[ti];
        const char *name = sg_entity_name(v->d, type);
        size_t nl = strlen(name);
        size_t have = n - i < nl ? n - i : nl;
        if (strncasecmp(t + i, name, have) != 0)
            continue;
        if (have < nl) {
            best = SUR_PARTIAL;
            continue;
        }
        size_t k = i + nl;
        if (k < n && t[k] == '\\') /* markdown-escaped underscore */
            k++;
        if (k >= n) {
            best = SUR_PARTIAL;
            continue;
        }
        if (t[k] != '_' && t[k] != ' ' && t[k] != '-')
            continue;
        k++;
        uint32_t code = 0;
        int got = 0;
        bool partial = false;
        while (got < SG_SURROGATE_CODE) {
            if (k < n && got > 0 && (t[k] == ' ' || t[k] == '\n' || t[k] == '\r')) {
                k += (t[k] == '\r' && k + 1 < n && t[k + 1] == '\n') ? 2 : 1;
            }
            if (k >= n) {
                partial = true;
                break;
            }
            int b = b32_value((unsigned char)t[k]);
            if (b < 0)
                break;
            code = code << 5 | (uint32_t)b;
            got++;
            k++;
        }
        if (partial) {
            best = SUR_PARTIAL;
            continue;
        }
        if (got < SG_SURROGATE_CODE)
            continue;
        if (k < n && (isalnum((unsigned char)t[k]) || t[k] == '_'))
            continue; /* a longer word */
        const struct entry *e = vault_find(v, type, code);
        if (!e)
            continue;
        if (k == n && more) {
            best = SUR_PARTIAL;
            continue;
        }
        *end = k;
        *entry = e;
        return SUR_YES;
    }
    return best;
}

static int put_value(struct sg_buf *out, enum sg_restore_mode mode, const struct entry *e)
{
    if (mode == SG_RESTORE_RAW)
        return sg_buf_append(out, e->value, e->len);
    return sg_buf_json_escape(out, e->value, e->len);
}

/* Restores t[0..n) into out. With `stream`, stops at the first possible surrogate that
 * the text cuts short and returns its offset in *held (else n). `before`: see
 * read_surrogate(). Returns the count or -1. */
static int restore_span(const struct sg_vault *v, enum sg_restore_mode mode, const char *t,
                        size_t n, struct sg_buf *out, bool stream, size_t *held, int before)
{
    int count = 0;
    size_t at = 0;
    *held = n;
    if (!v || !v->ntypes)
        return sg_buf_append(out, t, n) ? -1 : 0;
    for (size_t i = 0; i < n; i++) {
        unsigned c = (unsigned char)t[i] & ~0x20u; /* upper-case a letter */
        if (c < 'A' || c > 'Z' || !(v->first_letters & (1u << (c - 'A'))))
            continue;
        /* inside a word: read_surrogate's first test, without the call */
        if (i > 0 && (isalnum((unsigned char)t[i - 1]) || t[i - 1] == '_'))
            continue;
        size_t end = 0;
        const struct entry *e = NULL;
        enum sur r = read_surrogate(v, t, n, i, before, stream, &end, &e);
        if (r == SUR_PARTIAL && stream) {
            *held = i;
            break;
        }
        if (r != SUR_YES)
            continue;
        if (sg_buf_append(out, t + at, i - at) || put_value(out, mode, e))
            return -1;
        count++;
        at = end;
        i = end - 1;
    }
    if (sg_buf_append(out, t + at, *held - at))
        return -1;
    return count;
}

int sg_restore(const struct sg_vault *v, enum sg_restore_mode mode, const char *text, size_t len,
               struct sg_buf *out)
{
    size_t held;
    int rc = restore_span(v, mode, text, len, out, false, &held, -1);
    return rc < 0 ? SG_ETOOBIG : rc;
}

void sg_restorer_init(struct sg_restorer *r, const struct sg_vault *v, enum sg_restore_mode mode)
{
    r->v = v;
    r->mode = mode;
    r->restored = 0;
    r->last = -1;
    sg_buf_init(&r->pending, SG_SURROGATE_HOLD * 4 + 4096);
}

void sg_restorer_free(struct sg_restorer *r)
{
    sg_buf_free(&r->pending);
}

int sg_restorer_feed(struct sg_restorer *r, const char *text, size_t len, struct sg_buf *out)
{
    if (!r->pending.len) {
        /* the common case: nothing held, restore straight from the input */
        size_t held;
        int rc = restore_span(r->v, r->mode, text, len, out, true, &held, r->last);
        if (rc < 0)
            return SG_ETOOBIG;
        r->restored += (unsigned)rc;
        if (held)
            r->last = (unsigned char)text[held - 1];
        return sg_buf_append(&r->pending, text + held, len - held) ? SG_ETOOBIG : 0;
    }
    /* Something is held: look at it with the new text. Only the held part and the start of
     * the new text can form a surrogate across the border, so this is bounded by feeding
     * the new text in slices. */
    while (len) {
        size_t take = len < 4096 ? len : 4096;
        if (sg_buf_append(&r->pending, text, take))
            return SG_ETOOBIG;
        text += take;
        len -= take;
        size_t held;
        int rc =
            restore_span(r->v, r->mode, r->pending.data, r->pending.len, out, true, &held, r->last);
        if (rc < 0)
            return SG_ETOOBIG;
        r->restored += (unsigned)rc;
        if (held)
            r->last = (unsigned char)r->pending.data[held - 1];
        sg_buf_consume(&r->pending, held);
        if (!r->pending.len && len)
            return sg_restorer_feed(r, text, len, out);
    }
    return 0;
}

int sg_restorer_finish(struct sg_restorer *r, struct sg_buf *out)
{
    size_t held;
    int rc = restore_span(r->v, r->mode, r->pending.data ? r->pending.data : "", r->pending.len,
                          out, false, &held, r->last);
    if (rc < 0)
        return SG_ETOOBIG;
    r->restored += (unsigned)rc;
    sg_buf_reset(&r->pending);
    return 0;
}
