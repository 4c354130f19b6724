/* The inference core of sovgate-engine: one loaded GGUF model served by one decode thread
 * with continuous batching. The model's context is split into `parallel` slots (llama.cpp
 * sequences, each with its own KV cache stream of sg_llm_slot_ctx() tokens). Every decode
 * step decodes the next token of each generating slot together, then prompt chunks of the
 * slots being prefilled (each in a call of its own, so that greedy results do not depend on
 * what else runs: see llm.c); a new job takes a free slot at the next step, jobs beyond
 * the slots wait in a FIFO queue. A slot keeps its tokens after a job, and a new job goes to
 * the free slot sharing the longest token prefix with its prompt, so only the new tokens
 * are evaluated. Embeddings run on a second, small context on the same decode thread,
 * between steps. Nothing is ever printed to stdout; llama.cpp's warnings and errors go to
 * sg_log as JSON lines.
 *
 * Threads: sg_llm_open, sg_llm_close and the getters are called by the owner. submit,
 * count_tokens, chat_prompt and stats may be called from any thread concurrently. Events
 * are delivered on the decode thread (see sg_llm_event_fn). sg_llm_cancel and
 * sg_llm_job_release may be called from any thread, also after sg_llm_close. */
#ifndef SG_ENGINE_LLM_H
#define SG_ENGINE_LLM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

struct sg_llm;     /* a loaded model, its context(s), and the decode thread */
struct sg_llm_job; /* one generation or embedding request */

struct sg_llm_opts {
    const char *model_path; /* borrowed for the call */
    int ctx;                /* tokens per slot; 0 = the model's training context capped at 4096.
                               llama.cpp rounds it up to a multiple of 256 (sg_llm_slot_ctx) */
    int parallel;           /* slots; 0 = 4 (1..64) */
    int threads;            /* CPU threads; 0 = the number of online processors */
    int gpu_layers;         /* layers offloaded to a GPU: -1 all, 0 none */
    int batch;              /* tokens per decode step (n_batch); 0 = 512; at least 2*parallel+1;
                               below 64+parallel prompts are read without flash attention's
                               tiled kernel (slower; see llm.c, Determinism) */
};

/* Loads the model, creates its context and starts the decode thread. On success *out owns
 * the engine (free with sg_llm_close) and 0 is returned. On failure returns
 * SG_ENOTFOUND (no such file), SG_EINVAL (bad options, not a GGUF file, a file llama.cpp
 * cannot load), SG_EIO, SG_ENOMEM or SG_EUNAVAIL (no backend, context creation failed),
 * with a message in err. */
int sg_llm_open(const struct sg_llm_opts *o, struct sg_llm **out, struct sg_error *err);
/* Cancels every queued and running job (no event is delivered after this returns),
 * joins the decode thread and frees the engine. Callers still own their job references
 * and release them as usual. NULL is a no-op. No other call on m may run or follow. */
void sg_llm_close(struct sg_llm *m);
/* The model's general.name, else its file name without ".gguf". Owned by m. */
const char *sg_llm_model_name(const struct sg_llm *m);
/* Tokens per slot: the longest prompt plus completion one job can have. */
int sg_llm_slot_ctx(const struct sg_llm *m);
/* Length of the vectors of EMBEDDING events. */
int sg_llm_embedding_dim(const struct sg_llm *m);
/* Longest embedding input in tokens (the embedding context, min(slot ctx, 8192)). */
int sg_llm_embedding_ctx(const struct sg_llm *m);

struct sg_llm_msg {
    const char *role;    /* "system", "user", "assistant"; borrowed */
    const char *content; /* borrowed */
};
/* Literal regions of a prompt: text between these two bytes is tokenized as plain text, so
 * that special-token text in it ("<|im_start|>") stays text; the rest of the prompt (the
 * template's own markup) has its special tokens parsed. The marker bytes are dropped. */
#define SG_LLM_LITERAL_BEGIN "\x02"
#define SG_LLM_LITERAL_END "\x03"
/* Wraps text in a literal region (marker bytes inside it become spaces). Returns a malloc'd
 * NUL-terminated string the caller frees, or NULL when out of memory. */
char *sg_llm_literal(const char *text, size_t len);
/* Applies the model's chat template (from the GGUF metadata, ChatML when it has none) to
 * n messages and appends the assistant's turn opening; every message content is a literal
 * region. On success *out is a malloc'd, NUL-terminated prompt the caller frees, and 0 is
 * returned; else SG_EINVAL (a message without role or content, a template llama.cpp does
 * not know) or SG_ENOMEM. */
int sg_llm_chat_prompt(const struct sg_llm *m, const struct sg_llm_msg *msgs, size_t n, char **out,
                       struct sg_error *err);
/* Number of tokens `text` (len bytes) has as a prompt (special tokens parsed outside literal
 * regions, BOS added when the model wants one), exactly what sg_llm_submit counts; negative
 * SG_E* on error. */
int sg_llm_count_tokens(const struct sg_llm *m, const char *text, size_t len);

struct sg_llm_params {
    float temperature;                         /* 0..2; OpenAI's default 1.0; 0 = greedy */
    float top_p;                               /* (0, 1]; 1.0 = off */
    int top_k;                                 /* >= 0; 0 = off */
    float min_p;                               /* [0, 1]; 0 = off */
    float presence_penalty, frequency_penalty; /* -2..2, OpenAI semantics over the
                                                  generated tokens (penalties sampler) */
    uint64_t seed;
    bool has_seed;           /* without a seed: random */
    int max_tokens;          /* <= 0: until end of generation or the slot is full */
    const char *const *stop; /* up to 4 stop strings, 1..256 bytes of UTF-8; copied */
    size_t nstop;
    const char *grammar; /* optional GBNF (root rule "root"); copied; NULL = none. Under a
                            grammar, tokens whose text is not complete UTF-8 (byte tokens)
                            are never sampled, so the text is exactly what it checked */
    bool logits_digest;  /* fill sg_llm_event.logits_digest (tests of batch invariance) */
};
/* Fills p with OpenAI's defaults: temperature 1, top_p 1, everything else off, no seed. */
void sg_llm_params_default(struct sg_llm_params *p);

enum sg_llm_event_kind { SG_LLM_TEXT, SG_LLM_DONE, SG_LLM_ERROR, SG_LLM_EMBEDDING };
struct sg_llm_event {
    enum sg_llm_event_kind kind;
    const char *text; /* TEXT: new text, complete UTF-8, never any part of a stop string */
    size_t len;
    const char *finish_reason; /* DONE: "stop" (end-of-generation token or stop string) or
                                  "length" (max_tokens or the slot's context is full) */
    int prompt_tokens;         /* DONE / EMBEDDING */
    int cached_tokens;         /* DONE: prompt tokens reused from the slot's KV cache */
    int completion_tokens;     /* DONE: the tokens of the answer, up to and with the one
                                  that completed a stop string, without the end-of-generation
                                  token (it has no text); max_tokens when that ended it */
    uint64_t logits_digest;    /* DONE, with params.logits_digest: a hash (FNV-1a) of the bits
                                  of every logit vector the job sampled from, in order; equal
                                  digests mean bit-identical logits (with high probability) */
    const float *embedding;    /* EMBEDDING: mean-pooled, L2-normalized; valid during the call */
    int dim;
    const char *error; /* ERROR: message (never prompt text) */
};
/* Events are delivered by calling fn on the decode thread with the job's lock held: fn must
 * be quick (copy and wake another thread), must not block, and must not call into sg_llm
 * (not even sg_llm_cancel for its own job). All pointers in ev are valid during the call. */
typedef void (*sg_llm_event_fn)(void *arg, const struct sg_llm_event *ev);

/* Queues a generation of an already templated prompt (len bytes, copied; see the literal
 * regions above). Exactly one DONE
 * or ERROR ends the job, after zero or more TEXT events. Returns the job, of which the
 * caller owns one reference, or NULL with err: SG_ETOOBIG "the prompt has N tokens but the
 * context holds M" when it does not fit a slot, SG_EINVAL naming the parameter for bad
 * parameters, an empty prompt or a grammar that does not parse, SG_EUNAVAIL when the
 * engine is closing, SG_ENOMEM. p NULL means sg_llm_params_default. */
struct sg_llm_job *sg_llm_submit(struct sg_llm *m, const char *prompt, size_t len,
                                 const struct sg_llm_params *p, sg_llm_event_fn fn, void *arg,
                                 struct sg_error *err);
/* Queues an embedding of `text` (len bytes, copied; special tokens are not parsed): one
 * EMBEDDING event, or one ERROR. Returns the job (caller owns one reference) or NULL with
 * err: SG_EINVAL for empty text, SG_ETOOBIG when it has more tokens than
 * sg_llm_embedding_ctx(), SG_EUNAVAIL, SG_ENOMEM. */
struct sg_llm_job *sg_llm_submit_embedding(struct sg_llm *m, const char *text, size_t len,
                                           sg_llm_event_fn fn, void *arg, struct sg_error *err);
/* Cancels the job: after this returns fn is never called again for it, and its slot is
 * freed at the next decode step (a queued job is dropped). Waits only for an event being
 * delivered right now. Idempotent; harmless after the job ended or the engine closed. */
void sg_llm_cancel(struct sg_llm_job *j);
/* Drops the caller's reference, normally after DONE/ERROR/EMBEDDING arrived or after
 * cancel. A job still running is cancelled first, so no event follows a release and the
 * callback's argument may be freed right after. NULL is a no-op. */
void sg_llm_job_release(struct sg_llm_job *j);

/* Counters for tests and metrics. prompt_tokens_evaluated counts prompt tokens of
 * generations decoded (not the reused ones, not embeddings), tokens_generated sampled
 * tokens as completion_tokens counts them (end-of-generation tokens are not), decode_calls
 * llama_decode calls of the generation context. */
struct sg_llm_stats {
    uint64_t prompt_tokens_evaluated, tokens_generated, decode_calls;
    int slots_busy, queued;
};
void sg_llm_stats(const struct sg_llm *m, struct sg_llm_stats *out);

#endif
