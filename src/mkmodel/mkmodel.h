/* sovgate-mkmodel's writer: makes a GGUF model file of any llama- or qwen2-shaped
 * architecture that the pinned llama.cpp release loads and runs, from a real tokenizer
 * (copied verbatim from one of llama.cpp's ggml-vocab-*.gguf files) and deterministic
 * pseudo-random weights. No model weights can be downloaded where Sovgate is tested, so
 * this is how the engine's tests and benchmarks get models of a realistic shape. The same
 * spec always produces a byte-identical file, whatever the number of threads. */
#ifndef SG_MKMODEL_MKMODEL_H
#define SG_MKMODEL_MKMODEL_H

#include <stdbool.h>
#include <stdint.h>

#include "ggml.h"

#include "core/error.h"

enum sg_mkmodel_arch {
    SG_MKMODEL_ARCH_LLAMA, /* Llama 2/3 layout: no attention biases */
    SG_MKMODEL_ARCH_QWEN2, /* Qwen2 layout: biases on q, k and v */
};

/* Everything that decides the file's contents. The strings are borrowed for the duration of
 * sg_mkmodel_write(). */
struct sg_mkmodel_spec {
    const char *out_path;      /* the GGUF file to write (replaced atomically) */
    const char *vocab_path;    /* a GGUF whose tokenizer.* keys are copied */
    const char *chat_template; /* Jinja text stored as tokenizer.chat_template; NULL: the
                                  vocabulary's default (Llama 3 for llama-bpe, ChatML for a
                                  tokenizer with <|im_start|>, else its own, else ChatML) */
    const char *name;          /* general.name */
    enum sg_mkmodel_arch arch;
    uint32_t n_layer;
    uint32_t n_embd;
    uint32_t n_head;
    uint32_t n_head_kv;
    uint32_t n_ff;
    uint32_t n_ctx;       /* <arch>.context_length: the trained context */
    enum ggml_type type;  /* type of the 2-D weight matrices: F16, Q8_0, Q4_0 or Q4_K */
    bool tie_embd;        /* no output.weight: the output projection reuses token_embd */
    float rope_freq_base; /* <arch>.rope.freq_base */
    float rms_eps;        /* <arch>.attention.layer_norm_rms_epsilon */
    uint64_t seed;        /* seeds every weight */
    unsigned n_threads;   /* worker threads for generating and quantizing; 0 = CPUs */
};

/* What sg_mkmodel_write() produced. */
struct sg_mkmodel_stats {
    uint64_t n_params;   /* weights, counted as elements */
    uint64_t file_bytes; /* size of the written file */
    uint32_t n_vocab;    /* tokens in the copied tokenizer */
    uint32_t n_tensors;
    uint32_t n_fallback; /* matrices stored in another type because their rows do not fit
                            the requested type's block size */
};

/* Checks a spec without touching any file: every size positive and within bounds, the
 * embedding divisible by the heads, the heads by the kv heads, an even head size, a
 * supported matrix type. Returns 0, or SG_EINVAL with a message in `err` (may be NULL). */
int sg_mkmodel_validate(const struct sg_mkmodel_spec *spec, struct sg_error *err);

/* Writes the model `spec` describes to spec->out_path, streaming the weights in chunks so
 * that memory stays far below the file size. The file is written under a temporary name
 * and renamed into place, so a failure never leaves a partial model behind. Fills `stats`
 * (may be NULL) on success. Returns 0, SG_EINVAL for a bad spec or vocabulary file, SG_EIO
 * when a file cannot be read or written, or SG_ENOMEM; `err` (may be NULL) gets the
 * message. */
int sg_mkmodel_write(const struct sg_mkmodel_spec *spec, struct sg_mkmodel_stats *stats,
                     struct sg_error *err);

/* Returns the Jinja text of a built-in chat template ("chatml" or "llama3"), or NULL for
 * another name. The text is static. */
const char *sg_mkmodel_builtin_template(const char *name);

/* Returns the llama.cpp architecture name of `arch` ("llama", "qwen2"). */
const char *sg_mkmodel_arch_name(enum sg_mkmodel_arch arch);

#endif
