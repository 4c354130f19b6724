/* sovgate-mkmodel: the command line that makes synthetic GGUF test models (see mkmodel.h
 * and docs/llama.md). It parses and validates every option, applies a preset first and the
 * explicit options over it (in any order), resolves a vocabulary name to one of the
 * ggml-vocab-*.gguf files that scripts/fetch-llama put in .cache/llama/models, reads a
 * chat template file if one is named, and hands the spec to sg_mkmodel_write(). Exits 0 on
 * success, 1 on any error (usage errors included) with a message on stderr. */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "mkmodel/mkmodel.h"

#ifndef SG_MKMODEL_VOCAB_DIR
#define SG_MKMODEL_VOCAB_DIR ".cache/llama/models"
#endif
#define TEMPLATE_MAX ((long)1 << 20)

static const char usage_text[] =
    "usage: sovgate-mkmodel --out FILE [options]\n"
    "Writes a GGUF model with a real tokenizer and deterministic pseudo-random weights.\n"
    "  --out FILE          the model file to write (required)\n"
    "  --preset NAME       tiny | 0.5b | 1b | 8b (shape, vocabulary and type; other options\n"
    "                      override it)\n"
    "  --vocab V           llama-bpe | qwen2 | any NAME of ggml-vocab-NAME.gguf | a path\n"
    "                      (names are looked up in $SOVGATE_VOCAB_DIR, else " SG_MKMODEL_VOCAB_DIR
    ")\n"
    "  --arch A            llama | qwen2\n"
    "  --layers N --embd N --heads N --kv-heads N --ff N --ctx N\n"
    "  --type T            f16 | q8_0 | q4_0 | q4_k (2-D weights; norms stay f32)\n"
    "  --seed S            seed of the weights (default 0)\n"
    "  --template T        chatml | llama3 | a path to a Jinja file\n"
    "                      (default: llama3 for llama-bpe, chatml for qwen2)\n"
    "  --tie-embd | --no-tie-embd   reuse token_embd as the output projection or not\n"
    "  --name NAME         general.name (default: sovgate-mkmodel-<preset or shape>)\n"
    "  --threads N         worker threads (default: all CPUs; does not change the file)\n"
    "  -h, --help          this text\n"
    "Without a preset: llama, llama-bpe, 2 layers, embd 128, 4 heads, 2 kv heads, ff 384,\n"
    "ctx 2048, f16, tied; --vocab qwen2 alone implies --arch qwen2 and vice versa.\n"
    "The same options always give a byte-identical file.\n";

struct preset {
    const char *name;
    const char *vocab;
    enum sg_mkmodel_arch arch;
    uint32_t layers, embd, heads, kv_heads, ff, ctx;
    enum ggml_type type;
    bool tie;
};

/* Shapes of well-known models (random weights, of course). tiny fits the qwen2 tokenizer
 * (151936 tokens) into < 20 MB with Q4_0; 0.5b is Qwen2-0.5B; 1b is Llama-3.2-1B without
 * its rope scaling; 8b is Llama-3-8B. */
static const struct preset presets[] = {
    {"tiny", "qwen2", SG_MKMODEL_ARCH_QWEN2, 2, 128, 4, 2, 512, 4096, GGML_TYPE_Q4_0, true},
    {"0.5b", "qwen2", SG_MKMODEL_ARCH_QWEN2, 24, 896, 14, 2, 4864, 32768, GGML_TYPE_Q8_0, true},
    {"1b", "llama-bpe", SG_MKMODEL_ARCH_LLAMA, 16, 2048, 32, 8, 8192, 131072, GGML_TYPE_Q8_0, true},
    {"8b", "llama-bpe", SG_MKMODEL_ARCH_LLAMA, 32, 4096, 32, 8, 14336, 8192, GGML_TYPE_Q4_K, false},
};

__attribute__((format(printf, 1, 0))) static void vreport(const char *fmt, va_list ap)
{
    fputs("sovgate-mkmodel: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

/* Prints an error and returns 1, the exit status of a failed run. */
__attribute__((format(printf, 1, 2))) static int die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport(fmt, ap);
    va_end(ap);
    return 1;
}

/* Prints a usage error with a hint at --help and returns 1. */
__attribute__((format(printf, 1, 2))) static int usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport(fmt, ap);
    va_end(ap);
    fputs("run 'sovgate-mkmodel --help' for the options\n", stderr);
    return 1;
}

/* Parses a decimal unsigned integer in [lo, hi] into *out; returns 0 or -1. */
static int parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
    if (!s || *s < '0' || *s > '9')
        return -1;
    errno = 0;
    char *end = NULL;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

static int parse_type(const char *s, enum ggml_type *out)
{
    static const struct {
        const char *name;
        enum ggml_type type;
    } types[] = {{"f16", GGML_TYPE_F16},
                 {"q8_0", GGML_TYPE_Q8_0},
                 {"q4_0", GGML_TYPE_Q4_0},
                 {"q4_k", GGML_TYPE_Q4_K}};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        if (strcasecmp(s, types[i].name) == 0) {
            *out = types[i].type;
            return 0;
        }
    }
    return -1;
}

static const char *type_name(enum ggml_type t)
{
    switch (t) {
    case GGML_TYPE_F16:
        return "f16";
    case GGML_TYPE_Q8_0:
        return "q8_0";
    case GGML_TYPE_Q4_0:
        return "q4_0";
    case GGML_TYPE_Q4_K:
        return "q4_k";
    default:
        return "?";
    }
}

/* Reads a whole text file of at most TEMPLATE_MAX bytes; returns a malloc'd string the
 * caller frees, or NULL with a message printed. */
static char *read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        die("cannot open the template %s: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = NULL;
    long n = -1;
    if (fseek(f, 0, SEEK_END) == 0)
        n = ftell(f);
    if (n < 0 || n > TEMPLATE_MAX || fseek(f, 0, SEEK_SET) != 0) {
        die("the template %s is unreadable or larger than 1 MiB", path);
        goto out;
    }
    buf = malloc((size_t)n + 1);
    if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) {
        die("cannot read the template %s", path);
        free(buf);
        buf = NULL;
        goto out;
    }
    buf[n] = '\0';
    if (strlen(buf) != (size_t)n) {
        die("the template %s contains a NUL byte", path);
        free(buf);
        buf = NULL;
    }
out:
    fclose(f);
    return buf;
}

/* Turns a vocabulary argument into a path: a value with a '/' or ending in .gguf is a path,
 * anything else a NAME of ggml-vocab-NAME.gguf in the vocabulary directory. */
static int vocab_path(const char *v, char *out, size_t cap)
{
    size_t len = strlen(v);
    if (strchr(v, '/') || (len > 5 && strcmp(v + len - 5, ".gguf") == 0)) {
        if ((size_t)snprintf(out, cap, "%s", v) >= cap)
            return -1;
        return 0;
    }
    for (const char *c = v; *c; c++) {
        if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '-' || *c == '_'))
            return -1;
    }
    const char *dir = getenv("SOVGATE_VOCAB_DIR");
    if (!dir || !*dir)
        dir = SG_MKMODEL_VOCAB_DIR;
    if ((size_t)snprintf(out, cap, "%s/ggml-vocab-%s.gguf", dir, v) >= cap)
        return -1;
    return 0;
}

int main(int argc, char **argv)
{
    struct sg_mkmodel_spec spec = {
        .arch = SG_MKMODEL_ARCH_LLAMA,
        .n_layer = 2,
        .n_embd = 128,
        .n_head = 4,
        .n_head_kv = 2,
        .n_ff = 384,
        .n_ctx = 2048,
        .type = GGML_TYPE_F16,
        .tie_embd = true,
        .seed = 0,
    };
    const char *vocab = "llama-bpe";
    const char *tmpl_arg = NULL;
    const char *preset_name = NULL;
    bool arch_given = false, vocab_given = false;

    /* first pass: help and the preset, which the other options override */
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            fputs(usage_text, stdout);
            return 0;
        }
        if (strcmp(argv[i], "--preset") == 0) {
            if (i + 1 >= argc)
                return usage_error("--preset needs a value");
            preset_name = argv[++i];
        }
    }
    if (preset_name) {
        const struct preset *p = NULL;
        for (size_t k = 0; k < sizeof presets / sizeof presets[0]; k++) {
            if (strcmp(presets[k].name, preset_name) == 0)
                p = &presets[k];
        }
        if (!p)
            return usage_error("unknown preset '%s' (tiny, 0.5b, 1b, 8b)", preset_name);
        vocab = p->vocab;
        spec.arch = p->arch;
        spec.n_layer = p->layers;
        spec.n_embd = p->embd;
        spec.n_head = p->heads;
        spec.n_head_kv = p->kv_heads;
        spec.n_ff = p->ff;
        spec.n_ctx = p->ctx;
        spec.type = p->type;
        spec.tie_embd = p->tie;
    }

    for (int i = 1; i < argc; i++) {
        const char *opt = argv[i];
        if (strcmp(opt, "--tie-embd") == 0) {
            spec.tie_embd = true;
            continue;
        }
        if (strcmp(opt, "--no-tie-embd") == 0) {
            spec.tie_embd = false;
            continue;
        }
        if (strncmp(opt, "--", 2) != 0)
            return usage_error("unexpected argument '%s'", opt);
        if (i + 1 >= argc)
            return usage_error("%s needs a value", opt);
        const char *val = argv[++i];
        uint64_t v = 0;
        struct {
            const char *name;
            uint32_t *dst;
            uint64_t lo, hi;
        } nums[] = {{"--layers", &spec.n_layer, 1, 1024}, {"--embd", &spec.n_embd, 2, 65536},
                    {"--heads", &spec.n_head, 1, 65536},  {"--kv-heads", &spec.n_head_kv, 1, 65536},
                    {"--ff", &spec.n_ff, 1, 1u << 20},    {"--ctx", &spec.n_ctx, 8, 1u << 24},
                    {"--threads", &spec.n_threads, 1, 64}};
        bool done = false;
        for (size_t k = 0; k < sizeof nums / sizeof nums[0]; k++) {
            if (strcmp(opt, nums[k].name) != 0)
                continue;
            if (parse_u64(val, nums[k].lo, nums[k].hi, &v) != 0) {
                char range[64];
                snprintf(range, sizeof range, "an integer from %llu to %llu",
                         (unsigned long long)nums[k].lo, (unsigned long long)nums[k].hi);
                return usage_error("%s needs %s, not '%s'", opt, range, val);
            }
            *nums[k].dst = (uint32_t)v;
            done = true;
        }
        if (done)
            continue;
        if (strcmp(opt, "--out") == 0) {
            if (!*val)
                return usage_error("--out needs a file name");
            spec.out_path = val;
        } else if (strcmp(opt, "--preset") == 0) {
            /* applied in the first pass */
        } else if (strcmp(opt, "--vocab") == 0) {
            vocab = val;
            vocab_given = true;
        } else if (strcmp(opt, "--arch") == 0) {
            if (strcmp(val, "llama") == 0)
                spec.arch = SG_MKMODEL_ARCH_LLAMA;
            else if (strcmp(val, "qwen2") == 0)
                spec.arch = SG_MKMODEL_ARCH_QWEN2;
            else
                return usage_error("--arch must be llama or qwen2, not '%s'", val);
            arch_given = true;
        } else if (strcmp(opt, "--type") == 0) {
            if (parse_type(val, &spec.type) != 0)
                return usage_error("--type must be f16, q8_0, q4_0 or q4_k, not '%s'", val);
        } else if (strcmp(opt, "--seed") == 0) {
            if (parse_u64(val, 0, UINT64_MAX, &v) != 0)
                return usage_error("--seed needs an unsigned 64-bit integer, not '%s'", val);
            spec.seed = v;
        } else if (strcmp(opt, "--template") == 0) {
            if (!*val)
                return usage_error("--template needs chatml, llama3 or a file");
            tmpl_arg = val;
        } else if (strcmp(opt, "--name") == 0) {
            spec.name = val;
        } else {
            return usage_error("unknown option '%s'", opt);
        }
    }
    if (!spec.out_path)
        return usage_error("--out FILE is required");
    /* without a preset, a qwen2 vocabulary suggests the qwen2 layout and vice versa */
    if (!preset_name && !arch_given && vocab_given && strcmp(vocab, "qwen2") == 0)
        spec.arch = SG_MKMODEL_ARCH_QWEN2;
    if (!preset_name && arch_given && !vocab_given && spec.arch == SG_MKMODEL_ARCH_QWEN2)
        vocab = "qwen2";

    /* the rotary base and norm epsilon of the real models of each layout */
    if (spec.arch == SG_MKMODEL_ARCH_QWEN2) {
        spec.rope_freq_base = 1000000.0f;
        spec.rms_eps = 1e-6f;
    } else {
        spec.rope_freq_base = 500000.0f;
        spec.rms_eps = 1e-5f;
    }

    char vpath[PATH_MAX];
    if (vocab_path(vocab, vpath, sizeof vpath) != 0)
        return usage_error("--vocab: '%s' is neither a vocabulary name nor a path", vocab);
    struct stat st;
    if (stat(vpath, &st) != 0 || !S_ISREG(st.st_mode))
        return die("vocabulary %s not found (run scripts/fetch-llama, set SOVGATE_VOCAB_DIR or "
                   "pass a path)%s",
                   vpath, "");
    spec.vocab_path = vpath;

    char *tmpl_owned = NULL;
    if (tmpl_arg) {
        spec.chat_template = sg_mkmodel_builtin_template(tmpl_arg);
        if (!spec.chat_template) {
            tmpl_owned = read_text(tmpl_arg);
            if (!tmpl_owned)
                return 1;
            spec.chat_template = tmpl_owned;
        }
    }
    char name[96];
    if (!spec.name) {
        if (preset_name)
            snprintf(name, sizeof name, "sovgate-mkmodel-%s", preset_name);
        else
            snprintf(name, sizeof name, "sovgate-mkmodel-%s-%ux%u", sg_mkmodel_arch_name(spec.arch),
                     spec.n_layer, spec.n_embd);
        spec.name = name;
    }

    struct sg_error err = {0};
    if (sg_mkmodel_validate(&spec, &err) != 0) {
        free(tmpl_owned);
        return usage_error("%s", err.msg);
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    struct sg_mkmodel_stats stats;
    int rc = sg_mkmodel_write(&spec, &stats, &err);
    free(tmpl_owned);
    if (rc != 0)
        return die("%s", err.msg);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("sovgate-mkmodel: wrote %s: %s, %u layers, embd %u, heads %u/%u, ff %u, vocab %u, "
           "%s%s, %u tensors, %.1fM params, %.1f MB in %.1f s\n",
           spec.out_path, sg_mkmodel_arch_name(spec.arch), spec.n_layer, spec.n_embd, spec.n_head,
           spec.n_head_kv, spec.n_ff, stats.n_vocab, type_name(spec.type),
           spec.tie_embd ? " (tied)" : "", stats.n_tensors, (double)stats.n_params / 1e6,
           (double)stats.file_bytes / 1e6, secs);
    if (stats.n_fallback > 0)
        printf("sovgate-mkmodel: %u matrices have rows that are not a multiple of the %s block "
               "and were stored as q5_0 or f16, as llama-quantize does\n",
               stats.n_fallback, type_name(spec.type));
    return 0;
}
