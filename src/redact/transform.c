/* Pseudonymization, masking, hashing and tolerant restore. */
#include "redact/transform.h"
#include "core/crypto.h"
#include "core/json.h"
#include "core/pool.h"
#include "core/sha256.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

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
    uint8_t escaped; /* the value as found inside JSON text, JSON-escaped this many times */
    char *value;     /* the original, in one of the vault's blocks */
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
 * compressed directly (core/sha256.h: SHA-NI where the CPU has it). The result is the
 * standard HMAC-SHA256. */

/* The key's inner and outer pad states, computed once per vault. */
static int hmac_init(struct sg_vault *v)
{
    uint8_t k[64] = {0}, pad[64];
    if (v->keylen > sizeof(k))
        sg_sha256(v->key, v->keylen, k);
    else
        memcpy(k, v->key, v->keylen);
    memcpy(v->ipad, sg_sha256_iv, sizeof(v->ipad));
    memcpy(v->opad, sg_sha256_iv, sizeof(v->opad));
    for (int i = 0; i < 64; i++)
        pad[i] = k[i] ^ 0x36;
    sg_sha256_blocks(v->ipad, pad, 1);
    for (int i = 0; i < 64; i++)
        pad[i] = k[i] ^ 0x5c;
    sg_sha256_blocks(v->opad, pad, 1);
    sg_secure_zero(k, sizeof(k));
    sg_secure_zero(pad, sizeof(pad));
    return 0;
}

static void hmac(const struct sg_vault *v, const void *msg, size_t len, uint8_t out[32])
{
    uint32_t st[8];
    uint8_t inner[32];
    memcpy(st, v->ipad, sizeof(st));
    sg_sha256_finish(st, 64, msg, len, inner);
    memcpy(st, v->opad, sizeof(st));
    sg_sha256_finish(st, 64, inner, sizeof(inner), out);
    sg_secure_zero(st, sizeof(st));
}

struct sg_vault *sg_vault_new(const struct sg_detector *d, const uint8_t *key, size_t keylen,
                              size_t max_bytes)
{
    struct sg_vault *v = sg_pool_calloc(sizeof(*v)); /* one per request: cached */
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
    sg_pool_free(v);
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
 * digests, hashes), then the value's canonical form, written in place: whole when it has
 * at most 1023 bytes, else its first 990 bytes and the SHA-256 of all of it (two long
 * values that differ only past their first kilobyte get different codes). Returns its
 * length; the caller zeroes that many bytes and one more (the canonical form's NUL) when
 * done: only what was written holds the value. */
#define SG_MSG_CAP (2 + 1024)
#define SG_MSG_HEAD (SG_MSG_CAP - 2 - 1 - SG_SHA256_LEN)
static size_t mac_msg(unsigned char msg[SG_MSG_CAP], unsigned char a, unsigned char b,
                      unsigned type, const char *s, size_t n)
{
    msg[0] = a;
    msg[1] = b;
    char *full = n < SG_MSG_CAP - 2 ? NULL : malloc(n + 1);
    if (!full) /* short (or no memory: its first 1023 bytes, as before) */
        return 2 + canonical(type, s, n, (char *)msg + 2, SG_MSG_CAP - 2);
    size_t l = canonical(type, s, n, full, n + 1);
    if (l < SG_MSG_CAP - 2) {
        memcpy(msg + 2, full, l + 1);
    } else {
        memcpy(msg + 2, full, SG_MSG_HEAD);
        sg_sha256(full, l, msg + 2 + SG_MSG_HEAD);
        l = SG_MSG_HEAD + SG_SHA256_LEN;
        msg[2 + l] = 0;
    }
    sg_secure_zero(full, n + 1);
    free(full);
    return 2 + l;
}

/* Whether two values have the same canonical form, however long. Zeroes what it wrote. */
static bool same_canonical(unsigned type, const char *x, size_t nx, const char *y, size_t ny)
{
    char sa[1024], sb[1024];
    char *a = nx < sizeof(sa) ? sa : malloc(nx + 1), *b = ny < sizeof(sb) ? sb : malloc(ny + 1);
    bool same = false;
    size_t la = 0, lb = 0;
    if (a && b) {
        la = canonical(type, x, nx, a, a == sa ? sizeof(sa) : nx + 1);
        lb = canonical(type, y, ny, b, b == sb ? sizeof(sb) : ny + 1);
        same = la == lb && memcmp(a, b, la) == 0;
        sg_secure_zero(a, la + 1);
        sg_secure_zero(b, lb + 1);
    }
    if (a != sa)
        free(a);
    if (b != sb)
        free(b);
    return same;
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
static int vault_add(struct sg_vault *v, unsigned type, uint32_t code, const char *s, size_t n,
                     unsigned escaped)
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
    v->e[v->n] = (struct entry){code, (uint16_t)type, (uint8_t)escaped, copy, n};
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
        int rc = fn(v->e[i].type, ct, v->e[i].value, v->e[i].len, v->e[i].escaped, ctx);
        if (rc)
            return rc;
    }
    return 0;
}

int sg_vault_import(struct sg_vault *v, unsigned type, const char *code, const char *value,
                    size_t len, unsigned escaped)
{
    if (type >= SG_ENT_MAX || strlen(code) != SG_SURROGATE_CODE || escaped > SG_ESCAPED_MAX)
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
    return vault_add(v, type, c, value, len, escaped);
}

/* Records a value and returns its code (salted again on the rare collision with a
 * different value of the same type). Negative on error. */
static int64_t vault_put(struct sg_vault *v, unsigned type, const char *s, size_t n,
                         unsigned escaped)
{
    for (uint8_t salt = 0; salt < 8; salt++) {
        uint32_t code = code_of(v, type, s, n, salt);
        struct entry *e = vault_find(v, type, code);
        if (e) {
            if (same_canonical(type, e->value, e->len, s, n))
                return code;
            continue; /* a collision: try the next salt */
        }
        int rc = vault_add(v, type, code, s, n, escaped);
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
            int64_t code = vault_put(v, x->type, val, vl, x->escaped);
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

/* Matches the type name `name` at t[i, n) in any case, each '_' in it written as "_", "\_",
 * " " or "-" (as the separator after the name may be: a model that escapes underscores in
 * markdown escapes all of them). Returns the index after it, 0 when it is not there, or
 * SIZE_MAX when the text ends inside a possible match. */
static size_t match_name(const char *t, size_t n, size_t i, const char *name)
{
    size_t k = i;
    for (const char *p = name; *p; p++, k++) {
        if (k >= n)
            return SIZE_MAX;
        if (*p != '_') {
            if (tolower((unsigned char)t[k]) != tolower((unsigned char)*p))
                return 0;
        } else if (t[k] == '\\') {
            if (++k >= n)
                return SIZE_MAX;
            if (t[k] != '_')
                return 0;
        } else if (t[k] != '_' && t[k] != ' ' && t[k] != '-') {
            return 0;
        }
    }
    return k;
}

/* Reads a surrogate of a type the vault holds at t[i]: TYPE (any case; see match_name),
 * then "_", " ", "-" or "\_", then six code characters with at most one space or line
 * break before each.
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
        size_t k = match_name(t, n, i, sg_entity_name(v->d, type));
        if (k == SIZE_MAX) {
            best = SUR_PARTIAL;
            continue;
        }
        if (!k)
            continue;
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
        return sg_buf_append(out, e->value, e->len); /* as it was, escapes included */
    if (!e->escaped || !memchr(e->value, '\\', e->len))
        return sg_buf_json_escape(out, e->value, e->len);
    /* A value found inside JSON text: escaped once for the JSON answer after its own
     * escapes are decoded, or it would come back escaped twice. Text that is not valid
     * escaped JSON after all is escaped as it is. */
    char *d = malloc(e->len);
    if (!d)
        return SG_ENOMEM;
    size_t n = e->len, at;
    memcpy(d, e->value, n);
    const char *why = NULL;
    for (unsigned i = 0; i < e->escaped && !why; i++)
        why = sg_json_unescape(d, n, d, &n, &at); /* in place: never longer */
    int rc = why ? sg_buf_json_escape(out, e->value, e->len) : sg_buf_json_escape(out, d, n);
    sg_secure_zero(d, e->len);
    free(d);
    return rc;
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
