/* A small, bounded reader of a GGUF file's header (the metadata and the tensor table),
 * enough for the model store's manifest: architecture, name, parameter count, file type
 * (quantization), trained context length and the SHA-256 of the chat template. It is
 * written for hostile input: every length is checked against the bytes that remain and
 * against hard caps (SG_GGUF_*), nothing is allocated from a length in the file, nested
 * arrays are refused, and the parameter count is computed with overflow checks. The
 * gateway does not link llama.cpp, so this is its only view of a GGUF file.
 *
 * Ownership: the reader borrows the buffer or descriptor for the duration of the call;
 * the info struct is the caller's and holds no pointers. */
#ifndef SG_MODEL_GGUF_H
#define SG_MODEL_GGUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/crypto.h"
#include "core/error.h"

#define SG_GGUF_MAX_KV 65536              /* metadata pairs */
#define SG_GGUF_MAX_TENSORS (1u << 20)    /* tensor table entries */
#define SG_GGUF_MAX_KEY 1024              /* bytes of one key */
#define SG_GGUF_MAX_STRING (16u << 20)    /* bytes of one string value */
#define SG_GGUF_MAX_HEADER (512ull << 20) /* bytes of metadata + tensor table */
#define SG_GGUF_MAX_DIMS 4                /* dimensions of one tensor */

struct sg_gguf_info {
    uint32_t version; /* 2 or 3 */
    uint64_t n_tensors, n_kv;
    char arch[64];           /* general.architecture ("" when absent) */
    char name[128];          /* general.name ("" when absent; truncated) */
    int64_t file_type;       /* general.file_type (a llama_ftype), -1 when absent */
    uint64_t context_length; /* <arch>.context_length, 0 when absent */
    uint64_t n_params;       /* elements of all tensors */
    bool has_chat_template;  /* tokenizer.chat_template present */
    uint8_t chat_template_sha256[SG_SHA256_LEN];
    uint64_t header_bytes; /* where the metadata and the tensor table end */
    uint32_t alignment;    /* general.alignment: the data section's, 32 when absent */
    int dominant_type;     /* ggml type of most 2-D+ tensors, -1 when none */
};

/* Reads the header of the GGUF file in memory. Returns 0, or SG_EINVAL with `err` naming
 * what is wrong and where (byte offset). */
int sg_gguf_read_mem(const void *p, size_t n, struct sg_gguf_info *out, struct sg_error *err);
/* The same from an open file (read with pread from offset 0; the offset of `fd` is not
 * used). SG_EIO when the file cannot be read. */
int sg_gguf_read_fd(int fd, struct sg_gguf_info *out, struct sg_error *err);

/* Name of a llama_ftype ("Q8_0", "MOSTLY_F16" is "F16", ...) or NULL when unknown. */
const char *sg_gguf_ftype_name(int64_t ftype);
/* Name of a ggml tensor type ("Q4_K", "F16", ...) or NULL when unknown. */
const char *sg_gguf_type_name(int type);

#endif
