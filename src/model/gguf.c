/* Bounded GGUF header reader (see gguf.h). */
#include "model/gguf.h"
#include "core/utf8.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

enum {
    T_U8 = 0,
    T_I8,
    T_U16,
    T_I16,
    T_U32,
    T_I32,
    T_F32,
    T_BOOL,
    T_STRING,
    T_ARRAY,
    T_U64,
    T_I64,
    T_F64,
    T_COUNT
};

/* A bounded cursor over a buffer or a file. */
struct rd {
    const uint8_t *mem; /* NULL: read from fd */
    int fd;
    uint64_t pos, size;
    uint8_t buf[65536];
    uint64_t bufpos; /* file offset of buf[0] */
    size_t buflen;
    struct sg_error *err;
    bool io_error;
};

static int bad(struct rd *r, const char *what)
{
    return sg_error_set(r->err, SG_EINVAL, "not a usable GGUF file: %s (at byte %llu)", what,
                        (unsigned long long)r->pos);
}

static int rd_get(struct rd *r, void *out, size_t n, const char *what)
{
    if (n > r->size - r->pos || r->pos > SG_GGUF_MAX_HEADER)
        return bad(r, what);
    if (r->mem) {
        memcpy(out, r->mem + r->pos, n);
        r->pos += n;
        return 0;
    }
    uint8_t *o = out;
    while (n) {
        if (r->pos >= r->bufpos && r->pos < r->bufpos + r->buflen) {
            size_t off = (size_t)(r->pos - r->bufpos), k = r->buflen - off;
            if (k > n)
                k = n;
            memcpy(o, r->buf + off, k);
            o += k;
            n -= k;
            r->pos += k;
            continue;
        }
        ssize_t got;
        do
            got = pread(r->fd, r->buf, sizeof(r->buf), (off_t)r->pos);
        while (got < 0 && errno == EINTR);
        if (got <= 0) {
            r->io_error = got < 0;
            if (got < 0)
                return sg_error_set(r->err, SG_EIO, "cannot read the GGUF file: %s",
                                    strerror(errno));
            return bad(r, what);
        }
        r->bufpos = r->pos;
        r->buflen = (size_t)got;
    }
    return 0;
}

static int rd_u32(struct rd *r, uint32_t *v, const char *what)
{
    uint8_t b[4];
    int rc = rd_get(r, b, 4, what);
    if (!rc)
        *v = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
    return rc;
}

static int rd_u64(struct rd *r, uint64_t *v, const char *what)
{
    uint8_t b[8];
    int rc = rd_get(r, b, 8, what);
    if (!rc) {
        *v = 0;
        for (int i = 7; i >= 0; i--)
            *v = *v << 8 | b[i];
    }
    return rc;
}

static int rd_skip(struct rd *r, uint64_t n, const char *what)
{
    if (n > r->size - r->pos || r->pos + n > SG_GGUF_MAX_HEADER)
        return bad(r, what);
    r->pos += n;
    return 0;
}

/* A string: its length, then (optionally) its first `cap - 1` bytes into `out` (NUL-ended)
 * and all of it into `md`. */
static int rd_string(struct rd *r, char *out, size_t cap, EVP_MD_CTX *md, uint64_t max,
                     const char *what)
{
    uint64_t len;
    int rc = rd_u64(r, &len, what);
    if (rc)
        return rc;
    if (len > max)
        return bad(r, what);
    if (len > r->size - r->pos)
        return bad(r, what);
    if (!out && !md)
        return rd_skip(r, len, what);
    size_t o = 0;
    char tmp[4096];
    while (len) {
        size_t k = len > sizeof(tmp) ? sizeof(tmp) : (size_t)len;
        if ((rc = rd_get(r, tmp, k, what)))
            return rc;
        if (md && EVP_DigestUpdate(md, tmp, k) != 1)
            return sg_error_set(r->err, SG_ECRYPTO, "SHA-256 failed");
        if (out && memchr(tmp, 0, k))
            return bad(r, "a key or name with a NUL byte");
        for (size_t i = 0; out && i < k && o + 1 < cap; i++)
            out[o++] = tmp[i];
        len -= k;
    }
    if (out)
        out[o] = '\0';
    return 0;
}

static const uint8_t scalar_size[T_COUNT] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};

/* Reads one value of type `t` whose key is `key`. */
static int rd_value(struct rd *r, struct sg_gguf_info *g, const char *key, uint32_t t, int depth)
{
    char what[SG_GGUF_MAX_KEY + 32];
    snprintf(what, sizeof(what), "the value of %s", key);
    if (t >= T_COUNT)
        return bad(r, "an unknown value type");
    if (t == T_STRING) {
        if (strcmp(key, "general.architecture") == 0 && depth == 0)
            return rd_string(r, g->arch, sizeof(g->arch), NULL, SG_GGUF_MAX_STRING, what);
        if (strcmp(key, "general.name") == 0 && depth == 0)
            return rd_string(r, g->name, sizeof(g->name), NULL, SG_GGUF_MAX_STRING, what);
        if (strcmp(key, "tokenizer.chat_template") == 0 && depth == 0) {
            EVP_MD_CTX *md = EVP_MD_CTX_new();
            if (!md || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
                EVP_MD_CTX_free(md);
                return sg_error_set(r->err, SG_ECRYPTO, "SHA-256 failed");
            }
            int rc = rd_string(r, NULL, 0, md, SG_GGUF_MAX_STRING, what);
            unsigned int n = 0;
            if (!rc && EVP_DigestFinal_ex(md, g->chat_template_sha256, &n) != 1)
                rc = sg_error_set(r->err, SG_ECRYPTO, "SHA-256 failed");
            EVP_MD_CTX_free(md);
            g->has_chat_template = rc == 0;
            return rc;
        }
        return rd_string(r, NULL, 0, NULL, SG_GGUF_MAX_STRING, what);
    }
    if (t == T_ARRAY) {
        if (depth > 0)
            return bad(r, "a nested array");
        uint32_t et;
        uint64_t n;
        int rc = rd_u32(r, &et, what);
        if (!rc)
            rc = rd_u64(r, &n, what);
        if (rc)
            return rc;
        if (et >= T_COUNT || et == T_ARRAY)
            return bad(r, et == T_ARRAY ? "a nested array" : "an unknown array element type");
        if (et != T_STRING) {
            /* n * size must fit what is left; check without overflow. */
            if (n > (r->size - r->pos) / scalar_size[et])
                return bad(r, what);
            return rd_skip(r, n * scalar_size[et], what);
        }
        if (n > (r->size - r->pos) / 8) /* every string has at least its 8-byte length */
            return bad(r, what);
        for (uint64_t i = 0; i < n; i++)
            if ((rc = rd_value(r, g, key, T_STRING, depth + 1)))
                return rc;
        return 0;
    }
    uint8_t v[8] = {0};
    int rc = rd_get(r, v, scalar_size[t], what);
    if (rc || depth)
        return rc;
    uint64_t u = 0;
    for (int i = scalar_size[t] - 1; i >= 0; i--)
        u = u << 8 | v[i];
    bool is_int = t == T_U8 || t == T_U16 || t == T_U32 || t == T_U64 || t == T_I8 || t == T_I16 ||
                  t == T_I32 || t == T_I64;
    bool negative = (t == T_I8 && (v[0] & 0x80)) || (t == T_I16 && (v[1] & 0x80)) ||
                    (t == T_I32 && (v[3] & 0x80)) || (t == T_I64 && (v[7] & 0x80));
    if (strcmp(key, "general.alignment") == 0) {
        /* where the tensor data starts: a power of two (ggml's own check) */
        if (!is_int || negative || u == 0 || u > (1u << 30) || (u & (u - 1)))
            return bad(r, "general.alignment is not a power of two");
        g->alignment = (uint32_t)u;
    } else if (strcmp(key, "general.file_type") == 0) {
        if (!is_int || negative || u > 1000)
            return bad(r, "general.file_type is not a small non-negative integer");
        g->file_type = (int64_t)u;
    } else if (g->arch[0]) {
        size_t al = strlen(g->arch);
        if (strncmp(key, g->arch, al) == 0 && strcmp(key + al, ".context_length") == 0) {
            if (!is_int || negative)
                return bad(r, "the context length is not a non-negative integer");
            g->context_length = u;
        }
    }
    return 0;
}

/* Makes a string from the file printable UTF-8 in place: every byte that does not start a
 * well-formed character (no overlong forms, surrogates or code points above U+10FFFF) and
 * every C0/C1 control character becomes '?', and a character cut in two at the end (the
 * string was truncated to its field) is dropped. The manifest needs valid UTF-8 (jansson
 * refuses anything else, and the field would silently be missing), and `model inspect`
 * prints these names to a terminal. */
static void printable_utf8(char *str)
{
    unsigned char *p = (unsigned char *)str;
    size_t i = 0, o = 0, n = strlen(str);
    while (i < n) {
        size_t len = sg_utf8_char_len(p + i, n - i);
        if (!len) {
            /* a lead byte whose continuation bytes all fit but ran out: cut at the end */
            unsigned c = p[i];
            size_t want = c >= 0xc2 && c < 0xe0   ? 2
                          : c >= 0xe0 && c < 0xf0 ? 3
                          : c >= 0xf0 && c < 0xf5 ? 4
                                                  : 1,
                   k = 1;
            while (k < want && i + k < n && (p[i + k] & 0xc0) == 0x80)
                k++;
            if (want > 1 && i + k == n && k < want)
                break;
            p[o++] = '?'; /* a byte that starts no character */
            i++;
            continue;
        }
        bool control =
            len == 1 ? p[i] < 0x20 || p[i] == 0x7f : len == 2 && p[i] == 0xc2 && p[i + 1] < 0xa0;
        if (control) {
            p[o++] = '?'; /* a control character, one '?' for all its bytes */
        } else {
            memmove(p + o, p + i, len);
            o += len;
        }
        i += len;
    }
    p[o] = '\0';
}

static int read_all(struct rd *r, struct sg_gguf_info *g)
{
    memset(g, 0, sizeof(*g));
    g->file_type = -1;
    g->dominant_type = -1;
    g->alignment = 32;
    uint8_t magic[4];
    int rc = rd_get(r, magic, 4, "the magic");
    if (rc)
        return rc;
    if (memcmp(magic, "GGUF", 4) != 0)
        return bad(r, "no GGUF magic");
    if ((rc = rd_u32(r, &g->version, "the version")))
        return rc;
    if (g->version != 2 && g->version != 3)
        return sg_error_set(r->err, SG_EINVAL, "unsupported GGUF version %u (2 and 3 are read)",
                            g->version);
    if ((rc = rd_u64(r, &g->n_tensors, "the tensor count")) ||
        (rc = rd_u64(r, &g->n_kv, "the metadata count")))
        return rc;
    if (g->n_tensors > SG_GGUF_MAX_TENSORS)
        return bad(r, "too many tensors");
    if (g->n_kv > SG_GGUF_MAX_KV)
        return bad(r, "too many metadata pairs");
    for (uint64_t i = 0; i < g->n_kv; i++) {
        char key[SG_GGUF_MAX_KEY + 1]; /* rd_string refuses longer keys and NUL bytes */
        if ((rc = rd_string(r, key, sizeof(key), NULL, SG_GGUF_MAX_KEY, "a metadata key")))
            return rc;
        if (!key[0])
            return bad(r, "an empty metadata key");
        uint32_t t;
        if ((rc = rd_u32(r, &t, "a value type")) || (rc = rd_value(r, g, key, t, 0)))
            return rc;
    }
    unsigned counts[64] = {0};
    uint64_t max_off = 0;
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        uint32_t nd, type;
        if ((rc = rd_string(r, NULL, 0, NULL, 64 * 1024, "a tensor name")) ||
            (rc = rd_u32(r, &nd, "a tensor's dimensions")))
            return rc;
        if (nd == 0 || nd > SG_GGUF_MAX_DIMS)
            return bad(r, "a tensor with 0 or more than 4 dimensions");
        uint64_t el = 1;
        for (uint32_t d = 0; d < nd; d++) {
            uint64_t ne;
            if ((rc = rd_u64(r, &ne, "a tensor dimension")))
                return rc;
            if (ne == 0 || ne > INT64_MAX || el > UINT64_MAX / ne)
                return bad(r, "a tensor dimension out of range");
            el *= ne;
        }
        uint64_t off;
        if ((rc = rd_u32(r, &type, "a tensor type")) || (rc = rd_u64(r, &off, "a tensor offset")))
            return rc;
        if (type >= 64 || !sg_gguf_type_name((int)type))
            return bad(r, "a tensor of an unknown type");
        if (off >= r->size)
            return bad(r, "a tensor offset past the end of the file");
        if (off > max_off)
            max_off = off;
        if (g->n_params > UINT64_MAX - el)
            return bad(r, "the parameter count overflows");
        g->n_params += el;
        if (nd >= 2)
            counts[type]++;
    }
    unsigned best = 0;
    for (int t = 0; t < 64; t++)
        if (counts[t] > best)
            best = counts[t], g->dominant_type = t;
    g->header_bytes = r->pos;
    /* Offsets count from the data section, which starts at the next multiple of the
     * alignment after the tensor table: each tensor must start inside it. */
    uint64_t data = (r->pos + g->alignment - 1) / g->alignment * g->alignment;
    if (g->n_tensors && (data >= r->size || max_off >= r->size - data))
        return bad(r, "a tensor offset past the end of the data section");
    /* after the metadata: <arch>.context_length was matched on the raw bytes */
    printable_utf8(g->arch);
    printable_utf8(g->name);
    return 0;
}

int sg_gguf_read_mem(const void *p, size_t n, struct sg_gguf_info *out, struct sg_error *err)
{
    struct rd *rd = calloc(1, sizeof(*rd));
    if (!rd)
        return sg_error_set(err, SG_ENOMEM, "out of memory");
    rd->mem = p;
    rd->size = n;
    rd->err = err;
    int rc = read_all(rd, out);
    free(rd);
    return rc;
}

int sg_gguf_read_fd(int fd, struct sg_gguf_info *out, struct sg_error *err)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return sg_error_set(err, SG_EIO, "cannot stat the GGUF file: %s", strerror(errno));
    if (!S_ISREG(st.st_mode))
        return sg_error_set(err, SG_EINVAL, "the model is not a regular file");
    struct rd *rd = calloc(1, sizeof(*rd));
    if (!rd)
        return sg_error_set(err, SG_ENOMEM, "out of memory");
    rd->fd = fd;
    rd->size = (uint64_t)st.st_size;
    rd->err = err;
    int rc = read_all(rd, out);
    free(rd);
    return rc;
}

const char *sg_gguf_ftype_name(int64_t ft)
{
    static const char *const names[] = {
        [0] = "F32",      [1] = "F16",      [2] = "Q4_0",    [3] = "Q4_1",    [7] = "Q8_0",
        [8] = "Q5_0",     [9] = "Q5_1",     [10] = "Q2_K",   [11] = "Q3_K_S", [12] = "Q3_K_M",
        [13] = "Q3_K_L",  [14] = "Q4_K_S",  [15] = "Q4_K_M", [16] = "Q5_K_S", [17] = "Q5_K_M",
        [18] = "Q6_K",    [19] = "IQ2_XXS", [20] = "IQ2_XS", [21] = "Q2_K_S", [22] = "IQ3_XS",
        [23] = "IQ3_XXS", [24] = "IQ1_S",   [25] = "IQ4_NL", [26] = "IQ3_S",  [27] = "IQ3_M",
        [28] = "IQ2_S",   [29] = "IQ2_M",   [30] = "IQ4_XS", [31] = "IQ1_M",  [32] = "BF16",
        [36] = "TQ1_0",   [37] = "TQ2_0"};
    if (ft < 0 || ft >= (int64_t)(sizeof(names) / sizeof(names[0])))
        return NULL;
    return names[ft];
}

const char *sg_gguf_type_name(int t)
{
    static const char *const names[] = {
        [0] = "F32",     [1] = "F16",      [2] = "Q4_0",   [3] = "Q4_1",    [6] = "Q5_0",
        [7] = "Q5_1",    [8] = "Q8_0",     [9] = "Q8_1",   [10] = "Q2_K",   [11] = "Q3_K",
        [12] = "Q4_K",   [13] = "Q5_K",    [14] = "Q6_K",  [15] = "Q8_K",   [16] = "IQ2_XXS",
        [17] = "IQ2_XS", [18] = "IQ3_XXS", [19] = "IQ1_S", [20] = "IQ4_NL", [21] = "IQ3_S",
        [22] = "IQ2_S",  [23] = "IQ4_XS",  [24] = "I8",    [25] = "I16",    [26] = "I32",
        [27] = "I64",    [28] = "F64",     [29] = "IQ1_M", [30] = "BF16",   [34] = "TQ1_0",
        [35] = "TQ2_0"};
    if (t < 0 || t >= (int)(sizeof(names) / sizeof(names[0])))
        return NULL;
    return names[t];
}
