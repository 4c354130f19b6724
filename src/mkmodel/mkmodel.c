/* sovgate-mkmodel's writer (see mkmodel.h). The metadata is built with gguf.h and written
 * first; the tensor data follows tensor by tensor, generated and quantized in chunks of
 * rows by a few threads and appended with the GGUF alignment padding, so a model of many
 * gigabytes never sits in memory. Every row of every tensor has its own random stream,
 * derived from the seed, the tensor's name and the row number, and the normal deviates are
 * made with integer arithmetic and one float multiplication (by a factor from sqrt(), which
 * IEEE 754 rounds exactly), so the bytes do not depend on the thread count, the libm or the
 * machine. */
#include "mkmodel/mkmodel.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gguf.h"

/* Input floats generated per chunk (all threads together): 16 Mi floats = 64 MiB. */
#define SG_MKMODEL_CHUNK_FLOATS ((size_t)16 << 20)
#define SG_MKMODEL_MAX_THREADS 64
#define SG_MKMODEL_EMBD_STD 0.02f

/* How a tensor is filled. */
enum fill {
    FILL_NORMAL, /* normal(0, std) */
    FILL_ONES,   /* 1.0: RMS norm weights */
};

struct plan {
    char name[GGML_MAX_NAME];
    enum ggml_type type;
    int64_t ne0; /* elements per row (the input dimension) */
    int64_t ne1; /* rows (1 for vectors) */
    enum fill fill;
    float std; /* standard deviation of FILL_NORMAL */
};

struct job {
    const struct plan *t;
    uint64_t stream; /* per-tensor part of the row seeds */
    int64_t row0;    /* first row of the tensor that this job makes */
    int64_t nrows;
    float *f32; /* nrows * ne0 floats of scratch */
    void *out;  /* nrows rows of t->type */
};

const char *sg_mkmodel_arch_name(enum sg_mkmodel_arch arch)
{
    return arch == SG_MKMODEL_ARCH_QWEN2 ? "qwen2" : "llama";
}

static uint64_t splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 0x100000001b3ULL;
    }
    return h;
}

/* Fills one row with deviates of mean 0 and standard deviation t->std: the sum of four
 * uniform 16-bit integers (Irwin-Hall, variance 4/12 of the unit) is centred and scaled.
 * The integer part is exact and the one multiplication is IEEE, so every machine computes
 * the same floats. */
static void fill_row(const struct job *j, int64_t row, float *dst)
{
    const int64_t n = j->t->ne0;
    if (j->t->fill == FILL_ONES) {
        for (int64_t i = 0; i < n; i++)
            dst[i] = 1.0f;
        return;
    }
    /* sqrt(3) / 65536 scales the centred sum of four 16-bit uniforms to unit variance */
    const float k = j->t->std * (1.7320508f / 65536.0f);
    uint64_t state = j->stream ^ ((uint64_t)row * 0xd1b54a32d192ed03ULL);
    splitmix64(&state);
    for (int64_t i = 0; i < n; i++) {
        uint64_t r = splitmix64(&state);
        int32_t s = (int32_t)(r & 0xffff) + (int32_t)((r >> 16) & 0xffff) +
                    (int32_t)((r >> 32) & 0xffff) + (int32_t)(r >> 48);
        dst[i] = (float)(s - 131070) * k;
    }
}

static void run_job(const struct job *j)
{
    const struct plan *t = j->t;
    for (int64_t r = 0; r < j->nrows; r++)
        fill_row(j, j->row0 + r, j->f32 + r * t->ne0);
    const int64_t n = j->nrows * t->ne0;
    switch (t->type) {
    case GGML_TYPE_F32:
        memcpy(j->out, j->f32, (size_t)n * sizeof(float));
        break;
    case GGML_TYPE_F16:
        ggml_fp32_to_fp16_row(j->f32, j->out, n);
        break;
    default:
        ggml_quantize_chunk(t->type, j->f32, j->out, 0, j->nrows, t->ne0, NULL);
        break;
    }
}

static void *job_thread(void *arg)
{
    run_job(arg);
    return NULL;
}

/* Makes rows [row0, row0 + nrows) of `t` into `out`, spread over up to `n_threads`. */
static void make_rows(const struct plan *t, uint64_t stream, int64_t row0, int64_t nrows,
                      float *f32, char *out, unsigned n_threads)
{
    struct job jobs[SG_MKMODEL_MAX_THREADS] = {0};
    pthread_t tids[SG_MKMODEL_MAX_THREADS];
    bool started[SG_MKMODEL_MAX_THREADS];
    const size_t row_bytes = ggml_row_size(t->type, t->ne0);
    int64_t nj = n_threads;
    if (nj > nrows)
        nj = nrows;
    if (nj < 1)
        nj = 1;
    int64_t per = nrows / nj, extra = nrows % nj, r = 0;
    for (int64_t i = 0; i < nj; i++) {
        int64_t cnt = per + (i < extra ? 1 : 0);
        jobs[i] = (struct job){.t = t,
                               .stream = stream,
                               .row0 = row0 + r,
                               .nrows = cnt,
                               .f32 = f32 + r * t->ne0,
                               .out = out + (size_t)r * row_bytes};
        r += cnt;
    }
    for (int64_t i = 1; i < nj; i++)
        started[i] = pthread_create(&tids[i], NULL, job_thread, &jobs[i]) == 0;
    run_job(&jobs[0]);
    for (int64_t i = 1; i < nj; i++) {
        if (started[i])
            pthread_join(tids[i], NULL);
        else
            run_job(&jobs[i]); /* no thread: do it here, the result is the same */
    }
}

static bool type_supported(enum ggml_type type)
{
    return type == GGML_TYPE_F16 || type == GGML_TYPE_Q8_0 || type == GGML_TYPE_Q4_0 ||
           type == GGML_TYPE_Q4_K;
}

/* The type a matrix with rows of `ne0` elements gets when `want` is requested: llama.cpp's
 * own quantizer falls back the same way (Q4_K -> Q5_0 -> F16) when a row does not hold a
 * whole number of blocks. */
static enum ggml_type matrix_type(enum ggml_type want, int64_t ne0)
{
    if (ne0 % ggml_blck_size(want) == 0)
        return want;
    if (want == GGML_TYPE_Q4_K && ne0 % ggml_blck_size(GGML_TYPE_Q5_0) == 0)
        return GGML_TYPE_Q5_0;
    return GGML_TYPE_F16;
}

/* general.file_type (a llama_ftype value) for a file whose matrices are mostly `type`. */
static uint32_t file_type(enum ggml_type type)
{
    switch (type) {
    case GGML_TYPE_F16:
        return 1; /* LLAMA_FTYPE_MOSTLY_F16 */
    case GGML_TYPE_Q4_0:
        return 2; /* LLAMA_FTYPE_MOSTLY_Q4_0 */
    case GGML_TYPE_Q8_0:
        return 7; /* LLAMA_FTYPE_MOSTLY_Q8_0 */
    case GGML_TYPE_Q4_K:
        return 14; /* LLAMA_FTYPE_MOSTLY_Q4_K_S: every matrix Q4_K */
    default:
        return 0;
    }
}

int sg_mkmodel_validate(const struct sg_mkmodel_spec *s, struct sg_error *err)
{
    if (!s->out_path || !*s->out_path)
        return sg_error_set(err, SG_EINVAL, "no output file given");
    if (!s->vocab_path || !*s->vocab_path)
        return sg_error_set(err, SG_EINVAL, "no vocabulary file given");
    if (s->arch != SG_MKMODEL_ARCH_LLAMA && s->arch != SG_MKMODEL_ARCH_QWEN2)
        return sg_error_set(err, SG_EINVAL, "unknown architecture");
    if (s->n_layer < 1 || s->n_layer > 1024)
        return sg_error_set(err, SG_EINVAL, "layers must be 1 to 1024, not %u", s->n_layer);
    if (s->n_embd < 2 || s->n_embd > 65536)
        return sg_error_set(err, SG_EINVAL, "embd must be 2 to 65536, not %u", s->n_embd);
    if (s->n_head < 1 || s->n_head > s->n_embd)
        return sg_error_set(err, SG_EINVAL, "heads must be 1 to embd (%u), not %u", s->n_embd,
                            s->n_head);
    if (s->n_embd % s->n_head != 0)
        return sg_error_set(err, SG_EINVAL, "embd (%u) must be divisible by heads (%u)", s->n_embd,
                            s->n_head);
    if ((s->n_embd / s->n_head) % 2 != 0)
        return sg_error_set(err, SG_EINVAL,
                            "the head size embd/heads (%u) must be even for rotary embeddings",
                            s->n_embd / s->n_head);
    if (s->n_head_kv < 1 || s->n_head_kv > s->n_head)
        return sg_error_set(err, SG_EINVAL, "kv-heads must be 1 to heads (%u), not %u", s->n_head,
                            s->n_head_kv);
    if (s->n_head % s->n_head_kv != 0)
        return sg_error_set(err, SG_EINVAL, "heads (%u) must be divisible by kv-heads (%u)",
                            s->n_head, s->n_head_kv);
    if (s->n_ff < 1 || s->n_ff > (1u << 20))
        return sg_error_set(err, SG_EINVAL, "ff must be 1 to %u, not %u", 1u << 20, s->n_ff);
    if (s->n_ctx < 8 || s->n_ctx > (1u << 24))
        return sg_error_set(err, SG_EINVAL, "ctx must be 8 to %u, not %u", 1u << 24, s->n_ctx);
    if (!type_supported(s->type))
        return sg_error_set(err, SG_EINVAL, "weight type must be f16, q8_0, q4_0 or q4_k");
    if (!(s->rope_freq_base > 0.0f) || !(s->rms_eps > 0.0f))
        return sg_error_set(err, SG_EINVAL, "rope base and rms epsilon must be positive");
    if (s->n_threads > SG_MKMODEL_MAX_THREADS)
        return sg_error_set(err, SG_EINVAL, "threads must be at most %d", SG_MKMODEL_MAX_THREADS);
    return 0;
}

/* Appends the tensor list of the architecture to `p` (room for all of them). */
static size_t plan_tensors(const struct sg_mkmodel_spec *s, uint32_t n_vocab, struct plan *p)
{
    const int64_t embd = s->n_embd, ff = s->n_ff;
    const int64_t embd_gqa = (int64_t)(s->n_embd / s->n_head) * s->n_head_kv;
    size_t n = 0;
    /* Embeddings and biases get normal(0, 0.02) as in the usual initialisation; the
     * matrices get 1/sqrt(fan-in), so that every layer changes the residual stream and the
     * model does not merely echo its last input token. */
#define ADD(fill_, ne0_, ne1_, ...)                                                                \
    do {                                                                                           \
        snprintf(p[n].name, sizeof p[n].name, __VA_ARGS__);                                        \
        p[n].ne0 = (ne0_);                                                                         \
        p[n].ne1 = (ne1_);                                                                         \
        p[n].fill = (fill_);                                                                       \
        p[n].type = (ne1_) == 1 ? GGML_TYPE_F32 : matrix_type(s->type, (ne0_));                    \
        p[n].std = (ne1_) == 1 ? SG_MKMODEL_EMBD_STD : (float)(1.0 / sqrt((double)(ne0_)));        \
        n++;                                                                                       \
    } while (0)
    ADD(FILL_NORMAL, embd, n_vocab, "token_embd.weight");
    p[n - 1].std = SG_MKMODEL_EMBD_STD;
    ADD(FILL_ONES, embd, 1, "output_norm.weight");
    if (!s->tie_embd)
        ADD(FILL_NORMAL, embd, n_vocab, "output.weight");
    for (uint32_t i = 0; i < s->n_layer; i++) {
        ADD(FILL_ONES, embd, 1, "blk.%u.attn_norm.weight", i);
        ADD(FILL_NORMAL, embd, embd, "blk.%u.attn_q.weight", i);
        ADD(FILL_NORMAL, embd, embd_gqa, "blk.%u.attn_k.weight", i);
        ADD(FILL_NORMAL, embd, embd_gqa, "blk.%u.attn_v.weight", i);
        if (s->arch == SG_MKMODEL_ARCH_QWEN2) {
            ADD(FILL_NORMAL, embd, 1, "blk.%u.attn_q.bias", i);
            ADD(FILL_NORMAL, embd_gqa, 1, "blk.%u.attn_k.bias", i);
            ADD(FILL_NORMAL, embd_gqa, 1, "blk.%u.attn_v.bias", i);
        }
        ADD(FILL_NORMAL, embd, embd, "blk.%u.attn_output.weight", i);
        ADD(FILL_ONES, embd, 1, "blk.%u.ffn_norm.weight", i);
        ADD(FILL_NORMAL, embd, ff, "blk.%u.ffn_gate.weight", i);
        ADD(FILL_NORMAL, ff, embd, "blk.%u.ffn_down.weight", i);
        ADD(FILL_NORMAL, embd, ff, "blk.%u.ffn_up.weight", i);
    }
#undef ADD
    return n;
}

/* Copies every tokenizer.* key of `src` into `dst` except the chat template. Returns 0 or
 * SG_EINVAL for a value type this tool does not know. */
static int copy_tokenizer(struct gguf_context *dst, const struct gguf_context *src,
                          struct sg_error *err)
{
    const int64_t n = gguf_get_n_kv(src);
    for (int64_t i = 0; i < n; i++) {
        const char *key = gguf_get_key(src, i);
        if (strncmp(key, "tokenizer.", 10) != 0 || strcmp(key, "tokenizer.chat_template") == 0)
            continue;
        switch (gguf_get_kv_type(src, i)) {
        case GGUF_TYPE_UINT8:
            gguf_set_val_u8(dst, key, gguf_get_val_u8(src, i));
            break;
        case GGUF_TYPE_INT8:
            gguf_set_val_i8(dst, key, gguf_get_val_i8(src, i));
            break;
        case GGUF_TYPE_UINT16:
            gguf_set_val_u16(dst, key, gguf_get_val_u16(src, i));
            break;
        case GGUF_TYPE_INT16:
            gguf_set_val_i16(dst, key, gguf_get_val_i16(src, i));
            break;
        case GGUF_TYPE_UINT32:
            gguf_set_val_u32(dst, key, gguf_get_val_u32(src, i));
            break;
        case GGUF_TYPE_INT32:
            gguf_set_val_i32(dst, key, gguf_get_val_i32(src, i));
            break;
        case GGUF_TYPE_FLOAT32:
            gguf_set_val_f32(dst, key, gguf_get_val_f32(src, i));
            break;
        case GGUF_TYPE_BOOL:
            gguf_set_val_bool(dst, key, gguf_get_val_bool(src, i));
            break;
        case GGUF_TYPE_STRING:
            gguf_set_val_str(dst, key, gguf_get_val_str(src, i));
            break;
        case GGUF_TYPE_UINT64:
            gguf_set_val_u64(dst, key, gguf_get_val_u64(src, i));
            break;
        case GGUF_TYPE_INT64:
            gguf_set_val_i64(dst, key, gguf_get_val_i64(src, i));
            break;
        case GGUF_TYPE_FLOAT64:
            gguf_set_val_f64(dst, key, gguf_get_val_f64(src, i));
            break;
        case GGUF_TYPE_ARRAY: {
            const enum gguf_type at = gguf_get_arr_type(src, i);
            const size_t an = gguf_get_arr_n(src, i);
            if (at == GGUF_TYPE_STRING) {
                const char **v = malloc((an ? an : 1) * sizeof *v);
                if (!v)
                    return sg_error_set(err, SG_ENOMEM, "out of memory copying %s", key);
                for (size_t k = 0; k < an; k++)
                    v[k] = gguf_get_arr_str(src, i, k);
                gguf_set_arr_str(dst, key, v, an);
                free(v);
            } else if (at == GGUF_TYPE_ARRAY) {
                return sg_error_set(err, SG_EINVAL, "vocabulary key %s is a nested array", key);
            } else {
                gguf_set_arr_data(dst, key, at, gguf_get_arr_data(src, i), an);
            }
            break;
        }
        default:
            return sg_error_set(err, SG_EINVAL, "vocabulary key %s has an unknown type", key);
        }
    }
    return 0;
}

static int write_zeros(FILE *f, size_t n)
{
    static const char zeros[64];
    while (n > 0) {
        size_t k = n < sizeof zeros ? n : sizeof zeros;
        if (fwrite(zeros, 1, k, f) != k)
            return -1;
        n -= k;
    }
    return 0;
}

static unsigned cpu_count(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1)
        return 1;
    return n > SG_MKMODEL_MAX_THREADS ? SG_MKMODEL_MAX_THREADS : (unsigned)n;
}

/* Writes all tensor data of `p` after the metadata already in `f`. */
static int write_data(FILE *f, const struct sg_mkmodel_spec *s, const struct plan *p, size_t n_plan,
                      size_t alignment, struct sg_error *err)
{
    const unsigned n_threads = s->n_threads ? s->n_threads : cpu_count();
    int64_t max_ne0 = 1;
    size_t max_row_bytes = 1;
    for (size_t i = 0; i < n_plan; i++) {
        if (p[i].ne0 > max_ne0)
            max_ne0 = p[i].ne0;
        size_t rb = ggml_row_size(p[i].type, p[i].ne0);
        if (rb > max_row_bytes)
            max_row_bytes = rb;
    }
    size_t chunk_rows = SG_MKMODEL_CHUNK_FLOATS / (size_t)max_ne0;
    if (chunk_rows < 1)
        chunk_rows = 1;
    float *f32 = malloc(chunk_rows * (size_t)max_ne0 * sizeof(float));
    char *out = malloc(chunk_rows * max_row_bytes);
    if (!f32 || !out) {
        free(f32);
        free(out);
        return sg_error_set(err, SG_ENOMEM, "out of memory for the weight buffers");
    }
    int rc = 0;
    for (size_t i = 0; i < n_plan && rc == 0; i++) {
        const struct plan *t = &p[i];
        const size_t row_bytes = ggml_row_size(t->type, t->ne0);
        uint64_t stream = s->seed ^ fnv1a(t->name);
        splitmix64(&stream);
        if (ggml_is_quantized(t->type))
            ggml_quantize_init(t->type);
        for (int64_t r = 0; r < t->ne1 && rc == 0; r += (int64_t)chunk_rows) {
            int64_t nrows = t->ne1 - r < (int64_t)chunk_rows ? t->ne1 - r : (int64_t)chunk_rows;
            make_rows(t, stream, r, nrows, f32, out, n_threads);
            size_t nb = (size_t)nrows * row_bytes;
            if (fwrite(out, 1, nb, f) != nb)
                rc = sg_error_set(err, SG_EIO, "writing %s: %s", s->out_path, strerror(errno));
        }
        size_t total = (size_t)t->ne1 * row_bytes;
        if (rc == 0 && write_zeros(f, GGML_PAD(total, alignment) - total) != 0)
            rc = sg_error_set(err, SG_EIO, "writing %s: %s", s->out_path, strerror(errno));
    }
    ggml_quantize_free();
    free(f32);
    free(out);
    return rc;
}

/* ChatML as Qwen2 uses it, without Qwen's default system message. */
static const char chatml_template[] =
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + "
    "message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|im_start|>assistant\\n' }}{% endif %}";

/* Meta-Llama-3-8B-Instruct's template, verbatim. */
static const char llama3_template[] =
    "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = "
    "'<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] "
    "| trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}"
    "{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ "
    "'<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}";

const char *sg_mkmodel_builtin_template(const char *name)
{
    if (strcmp(name, "chatml") == 0)
        return chatml_template;
    if (strcmp(name, "llama3") == 0)
        return llama3_template;
    return NULL;
}

static const char *get_str(const struct gguf_context *g, const char *key)
{
    int64_t k = gguf_find_key(g, key);
    if (k < 0 || gguf_get_kv_type(g, k) != GGUF_TYPE_STRING)
        return NULL;
    return gguf_get_val_str(g, k);
}

/* The template a vocabulary gets when none is asked for: Llama 3's for the llama-bpe
 * tokenizer, ChatML for a tokenizer that has <|im_start|> (qwen2), else the vocabulary's own
 * template, else ChatML. */
static const char *default_template(const struct gguf_context *vocab, int64_t tokens)
{
    const char *pre = get_str(vocab, "tokenizer.ggml.pre");
    if (pre && strcmp(pre, "llama-bpe") == 0)
        return llama3_template;
    const size_t n = gguf_get_arr_n(vocab, tokens);
    for (size_t i = 0; i < n; i++) {
        if (strcmp(gguf_get_arr_str(vocab, tokens, i), "<|im_start|>") == 0)
            return chatml_template;
    }
    const char *own = get_str(vocab, "tokenizer.chat_template");
    return own ? own : chatml_template;
}

/* Builds the metadata and tensor list in `g`; `tensors` holds the tensor headers. */
static int build_meta(struct gguf_context *g, struct ggml_context *tensors,
                      const struct sg_mkmodel_spec *s, const struct gguf_context *vocab,
                      uint32_t n_vocab, const struct plan *p, size_t n_plan, struct sg_error *err)
{
    const char *arch = sg_mkmodel_arch_name(s->arch);
    char key[128];
#define ARCH_KEY(suffix) (snprintf(key, sizeof key, "%s.%s", arch, (suffix)), key)
    gguf_set_val_str(g, "general.architecture", arch);
    gguf_set_val_str(g, "general.type", "model");
    gguf_set_val_str(g, "general.name", s->name ? s->name : "sovgate-mkmodel");
    gguf_set_val_str(g, "general.description",
                     "synthetic test model made by sovgate-mkmodel: a real tokenizer and "
                     "pseudo-random weights, it produces no meaningful text");
    gguf_set_val_u32(g, "general.file_type", file_type(s->type));
    gguf_set_val_u32(g, "general.quantization_version", GGML_QNT_VERSION);
    gguf_set_val_u64(g, "sovgate.mkmodel.seed", s->seed);
    gguf_set_val_u32(g, ARCH_KEY("vocab_size"), n_vocab);
    gguf_set_val_u32(g, ARCH_KEY("context_length"), s->n_ctx);
    gguf_set_val_u32(g, ARCH_KEY("embedding_length"), s->n_embd);
    gguf_set_val_u32(g, ARCH_KEY("block_count"), s->n_layer);
    gguf_set_val_u32(g, ARCH_KEY("feed_forward_length"), s->n_ff);
    gguf_set_val_u32(g, ARCH_KEY("attention.head_count"), s->n_head);
    gguf_set_val_u32(g, ARCH_KEY("attention.head_count_kv"), s->n_head_kv);
    gguf_set_val_f32(g, ARCH_KEY("attention.layer_norm_rms_epsilon"), s->rms_eps);
    gguf_set_val_u32(g, ARCH_KEY("rope.dimension_count"), s->n_embd / s->n_head);
    gguf_set_val_f32(g, ARCH_KEY("rope.freq_base"), s->rope_freq_base);
#undef ARCH_KEY
    int rc = copy_tokenizer(g, vocab, err);
    if (rc != 0)
        return rc;
    const char *tmpl = s->chat_template;
    if (!tmpl)
        tmpl = default_template(vocab, gguf_find_key(vocab, "tokenizer.ggml.tokens"));
    gguf_set_val_str(g, "tokenizer.chat_template", tmpl);

    for (size_t i = 0; i < n_plan; i++) {
        struct ggml_tensor *t = p[i].ne1 == 1
                                    ? ggml_new_tensor_1d(tensors, p[i].type, p[i].ne0)
                                    : ggml_new_tensor_2d(tensors, p[i].type, p[i].ne0, p[i].ne1);
        if (!t)
            return sg_error_set(err, SG_ENOMEM, "out of memory for tensor headers");
        ggml_set_name(t, p[i].name);
        gguf_add_tensor(g, t);
    }
    return 0;
}

int sg_mkmodel_write(const struct sg_mkmodel_spec *s, struct sg_mkmodel_stats *stats,
                     struct sg_error *err)
{
    int rc = sg_mkmodel_validate(s, err);
    if (rc != 0)
        return rc;

    struct gguf_init_params vp = {.no_alloc = true, .ctx = NULL};
    struct gguf_context *vocab = gguf_init_from_file(s->vocab_path, vp);
    if (!vocab)
        return sg_error_set(err, SG_EIO, "cannot read the vocabulary %s (missing or not GGUF)",
                            s->vocab_path);
    int64_t tok = gguf_find_key(vocab, "tokenizer.ggml.tokens");
    if (tok < 0 || gguf_get_kv_type(vocab, tok) != GGUF_TYPE_ARRAY ||
        gguf_get_arr_type(vocab, tok) != GGUF_TYPE_STRING || gguf_get_arr_n(vocab, tok) < 1 ||
        gguf_get_arr_n(vocab, tok) > (1u << 24)) {
        gguf_free(vocab);
        return sg_error_set(err, SG_EINVAL, "%s has no tokenizer.ggml.tokens list", s->vocab_path);
    }
    const uint32_t n_vocab = (uint32_t)gguf_get_arr_n(vocab, tok);

    const size_t max_plan = 3 + (size_t)s->n_layer * 12;
    struct plan *p = calloc(max_plan, sizeof *p);
    struct gguf_context *g = gguf_init_empty();
    struct ggml_init_params ip = {
        .mem_size = max_plan * ggml_tensor_overhead(), .mem_buffer = NULL, .no_alloc = true};
    struct ggml_context *tensors = ggml_init(ip);
    char *tmp_path = NULL;
    FILE *f = NULL;
    if (!p || !g || !tensors) {
        rc = sg_error_set(err, SG_ENOMEM, "out of memory");
        goto out;
    }
    const size_t n_plan = plan_tensors(s, n_vocab, p);
    rc = build_meta(g, tensors, s, vocab, n_vocab, p, n_plan, err);
    if (rc != 0)
        goto out;

    size_t plen = strlen(s->out_path) + 32;
    tmp_path = malloc(plen);
    if (!tmp_path) {
        rc = sg_error_set(err, SG_ENOMEM, "out of memory");
        goto out;
    }
    snprintf(tmp_path, plen, "%s.partial.%ld", s->out_path, (long)getpid());
    f = fopen(tmp_path, "wb");
    if (!f) {
        rc = sg_error_set(err, SG_EIO, "cannot create %s: %s", tmp_path, strerror(errno));
        goto out;
    }
    setvbuf(f, NULL, _IOFBF, (size_t)1 << 20);
    if (!gguf_write_to_file_ptr(g, f, /*only_meta=*/true)) {
        rc = sg_error_set(err, SG_EIO, "writing the metadata of %s failed", tmp_path);
        goto out;
    }
    rc = write_data(f, s, p, n_plan, gguf_get_alignment(g), err);
    if (rc != 0)
        goto out;
    /* the file must end exactly where the last tensor (padded) ends */
    const int64_t last = gguf_get_n_tensors(g) - 1;
    const uint64_t expect = gguf_get_meta_size(g) + gguf_get_tensor_offset(g, last) +
                            GGML_PAD(gguf_get_tensor_size(g, last), gguf_get_alignment(g));
    if (fflush(f) != 0 || ferror(f)) {
        rc = sg_error_set(err, SG_EIO, "writing %s: %s", tmp_path, strerror(errno));
        goto out;
    }
    long pos = ftell(f);
    if (pos < 0 || (uint64_t)pos != expect) {
        rc = sg_error_set(err, SG_EIO, "internal error: %s has %ld bytes, expected %llu", tmp_path,
                          pos, (unsigned long long)expect);
        goto out;
    }
    if (fsync(fileno(f)) != 0 || fclose(f) != 0) {
        f = NULL;
        rc = sg_error_set(err, SG_EIO, "writing %s: %s", tmp_path, strerror(errno));
        goto out;
    }
    f = NULL;
    if (rename(tmp_path, s->out_path) != 0) {
        rc = sg_error_set(err, SG_EIO, "cannot rename %s to %s: %s", tmp_path, s->out_path,
                          strerror(errno));
        goto out;
    }
    if (stats) {
        memset(stats, 0, sizeof *stats);
        for (size_t i = 0; i < n_plan; i++) {
            stats->n_params += (uint64_t)(p[i].ne0 * p[i].ne1);
            if (p[i].ne1 > 1 && p[i].type != s->type)
                stats->n_fallback++;
        }
        stats->file_bytes = expect;
        stats->n_vocab = n_vocab;
        stats->n_tensors = (uint32_t)n_plan;
    }
out:
    if (f)
        fclose(f);
    if (rc != 0 && tmp_path)
        unlink(tmp_path);
    free(tmp_path);
    if (tensors)
        ggml_free(tensors);
    if (g)
        gguf_free(g);
    free(p);
    gguf_free(vocab);
    return rc;
}
