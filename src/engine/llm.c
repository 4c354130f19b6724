/* The engine's inference core on llama.cpp's C API (see llm.h): model and context setup,
 * the slots, the job queues, and the decode thread that runs continuous batching, prefix
 * reuse, sampling, stop handling and embeddings.
 *
 * Threads and locks. One decode thread owns the llama contexts, the slots and every job it
 * has taken from a queue. m->mu guards the two FIFO queues (generations, embeddings) and
 * the stop flag; submitters push, the decode thread pops. Each job has its own mutex, held
 * while one of its events is delivered and by sg_llm_cancel, which is what makes "no event
 * after cancel returns" true without the decode thread ever waiting on anything but a
 * callback in progress. Jobs are reference counted: the caller's reference and the
 * engine's; the engine frees a job's llama objects (samplers) when it drops its reference,
 * on the decode thread while the model is alive, so a caller may release after close.
 *
 * Determinism. The generation context keeps one KV stream per slot (kv_unified off) and,
 * on CPU, runs without weight repacking and with flash attention (llama.cpp's choice,
 * "auto"); and the scheduling below keeps every token on one code path whatever else is
 * decoded. With that, the logits of a greedy job are bit for bit the same whether it ran
 * alone or beside other jobs, and whatever prompt prefix it reused (Q8_0 and Q4_0 weights
 * at the pinned release on x86-64 with AVX2: test_llm's "batch invariance" checks; with F16
 * weights the last bits of the logits can differ, the tokens did not in our runs). The
 * path that matters: llama.cpp splits a llama_decode into micro-batches in which every
 * stream has as many tokens, and its CPU flash attention computes a token by one of three
 * kernels chosen by that shape (ggml-cpu/ops.cpp): tiled (F32 queries) when its stream has
 * SG_FA_TILE (64) or more tokens in the micro-batch, row by row (F16 queries) with fewer,
 * and split across the threads and reduced when it is the one token of the only stream of
 * the micro-batch and the KV view has SG_FA_SPLIT_KV (512) or more cells. Each kernel
 * computes a row from that row and the stream's cells alone (masked cells are skipped or
 * add exact zeros), but the three round differently. The rest (softmax, norms, the Q8_0
 * and Q4_0 weight products) does not depend on the shape (measured). So:
 *  - a prompt is read in two parts (chunk_len): its whole tiles (tiled_end) in chunks of
 *    whole tiles, then the rest, fewer than a tile, in chunks of fewer than a tile; the
 *    rest is read in one-token chunks only when it is one token long (so no token that a
 *    fresh read takes through the row kernel takes the split one), and such a chunk shares
 *    no call;
 *  - prompt chunks get llama_decode calls apart from generating slots, shared only by
 *    chunks of the same part and length (a chunk beside the one-token streams of generating
 *    slots, or the rest of the longer of two chunks, would land in a micro-batch with fewer
 *    tokens of its stream);
 *  - a generated token is always the only token of its stream (one per step); one whose
 *    stream's view reaches SG_FA_SPLIT_KV (more than SG_FA_KV_PAD cells) is decoded in a
 *    call of its own, so it always takes the split kernel, the others together (the row
 *    kernel, alone or not; splits()). A throw-away token of another slot beside a job that
 *    generates alone would keep it on the row kernel too, but costs a whole row of every
 *    weight product: twice the time of a step on the 2-core machine, against the batching
 *    that long streams lose here (measured, docs/engine.md);
 *  - reused from a slot's cache are only prompt tokens read the way a fresh read of the new
 *    prompt reads them (reusable(): whole tiles of the tiled part, or, when the new prompt's
 *    tiled part ends where the cached one's did, also cached tokens of the rest), never a
 *    generated token's (made by the one-token path).
 * Without flash attention (what llama.cpp runs where a backend lacks it) the shape that
 * matters is a stream's one token in a micro-batch (ggml's own dot products) against two or
 * more (llamafile's tinyBLAS); the same rules keep that fixed too (by the same reasoning;
 * the engine's earlier rules, measured, were a subset). Without them the difference
 * is real: rounding to F16 (KV cache) and Q8_0 (the next weight product) absorbs some of
 * it, not all: with a 0.5B-shaped Q8_0 model, prompts split at other places or read beside
 * other jobs changed the logits by up to 0.03-0.09 and, now and then, a greedy token
 * (docs/engine.md). A unified KV cache makes far more shapes differ (one attention
 * reduction mixes the cells of all sequences); the repacked Q4_K kernels round differently
 * for one row (gemv) than for several (gemm), and with the repacked Q4_0 kernels the rare
 * differences fall on other shapes; Q8_0 has no repacked kernel on x86, so it loses
 * nothing. With a GPU the defaults (flash attention auto, repacking) are kept and neither
 * the tiles nor the split-kernel rule apply (a prompt chunk is as long as fits); there the
 * results depend on the batch's shape anyway (measured with CUDA on an H200: greedy texts
 * alone and beside others differ, and so does a request run twice when the second reuses
 * the cached prompt).
 *
 * Batching. Each step is one llama_decode of the pending token of every generating slot
 * (laid out in slot order because, with split KV streams, llama.cpp puts only ascending,
 * consecutive sequence ids into one micro-batch; for the same reason a slot between two
 * generating ones that adds nothing gets a throw-away token at the end of its cache,
 * removed right after the call, so that all generating slots decode together; on CPU a
 * slot past SG_FA_KV_PAD cells gets a call of its own instead, see Determinism), then prompt
 * chunks of the slots reading their prompts, oldest job first, chunks of the same length in
 * one llama_decode, until n_batch tokens were decoded in the step. That costs nothing
 * measurable: llama.cpp ran a mixed batch as separate micro-batches anyway (the one-token
 * streams, then the rest of the chunks). A new job joins at the next step; generating slots
 * get a token every step.
 *
 * Embeddings. A second context (made on first use, embeddings on, n_ctx = min(slot ctx,
 * 8192)) runs on the decode thread between steps, one job at a time. For a generative model
 * the hidden states (after the output norm) of chunks of 256 tokens are summed here and
 * divided by the count (mean pooling), then L2-normalized; chunks keep the logits buffer
 * that llama.cpp allocates for every output token small. An embedding model with its own
 * pooling type in the GGUF is pooled by llama.cpp (mean), in one micro-batch. */
#include "engine/llm.h"
#include "core/utf8.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "engine/backends.h"
#include "engine/detok.h"
#include "ggml-backend.h"
#include "llama.h"

#define SG_LLM_MAX_PARALLEL 64
#define SG_LLM_MAX_PROMPT (64u << 20) /* bytes of one prompt or embedding input */
#define SG_LLM_MAX_GRAMMAR (1u << 20) /* bytes of one grammar */
#define SG_LLM_EMBD_CTX_MAX 8192      /* tokens of one embedding input */
#define SG_LLM_EMBD_CHUNK 256         /* tokens per embedding decode (causal models) */
#define SG_LLM_PIECE 256              /* bytes of a token's text, most of the time */
/* llama.cpp's CPU flash attention at the pinned release (ggml-cpu/ops.cpp, see Determinism):
 * a stream with SG_FA_TILE or more tokens in a micro-batch takes the tiled kernel, one with
 * fewer the row kernel; the one token of the only stream of a micro-batch whose KV view
 * (the used cells rounded up to SG_FA_KV_PAD, llama-kv-cache.cpp) has SG_FA_SPLIT_KV or
 * more cells is split across threads instead. */
#define SG_FA_TILE 64
#define SG_FA_SPLIT_KV 512
#define SG_FA_KV_PAD 256

enum job_kind { JOB_GEN, JOB_EMBED };

struct sg_llm_job {
    pthread_mutex_t mu; /* held while an event is delivered, and by cancel */
    atomic_int refs;    /* the caller's and the engine's */
    atomic_bool cancelled;
    bool ended; /* the final event was delivered (under mu) */
    sg_llm_event_fn fn;
    void *arg;
    enum job_kind kind;
    struct sg_llm_job *next; /* queue link, under m->mu */

    /* engine side: the submitting thread until queued, then the decode thread */
    llama_token *tokens;
    int n_tokens;
    struct llama_sampler *chain;   /* penalties, filters, temperature, dist or greedy */
    struct llama_sampler *grammar; /* NULL without a grammar */
    bool argmax;                   /* greedy without penalties or grammar: no chain needed */
    bool digest;                   /* params.logits_digest: hash every sampled logit vector */
    uint64_t hash;                 /* that hash (FNV-1a over the logits' bytes) */
    struct sg_detok detok;
    int max_tokens;
    int n_gen; /* tokens of the answer so far: completion_tokens (see on_logits) */
    int cached;
};

struct slot {
    int id;             /* llama.cpp sequence id */
    llama_token *cache; /* the tokens in this slot's KV stream, positions 0..n_cache-1 */
    int n_cache;
    int n_exact;            /* cache[0..n_exact) was decoded as prompt tokens by the path
                               a fresh prompt takes: what a new job may reuse */
    int n_tiled;            /* cache[0..n_tiled) by the tiled kernel (whole tiles); n_tiled
                               <= n_exact (see Determinism) */
    struct sg_llm_job *job; /* NULL when free */
    int n_done;             /* prompt tokens in the cache */
    bool generating;        /* prompt done; `next` waits to be decoded */
    llama_token next;
    int i_batch;        /* index of this slot's logits in the current batch, -1 none */
    int n_added;        /* real tokens this slot has in the current batch */
    bool dummy;         /* a throw-away token of this slot is in the current batch */
    uint64_t order;     /* when the job was assigned: older prefills go first */
    uint64_t last_used; /* when the slot was last freed: ties on prefix go to the oldest */
};

struct sg_llm {
    struct llama_model *model;
    struct llama_context *ctx;  /* generation: n_slots streams of slot_ctx */
    struct llama_context *ectx; /* embeddings, made on first use */
    const struct llama_vocab *vocab;
    int n_slots, slot_ctx, n_batch, n_vocab, n_embd, embd_ctx, embd_chunk, n_threads;
    int tile; /* SG_FA_TILE; 0 on a GPU or when a tile never fits a step beside n_slots */
    bool gpu;
    bool embd_native_pool; /* an embedding model with its own pooling: one micro-batch */
    bool embd_failed;
    char name[256];
    const char *tmpl; /* the model's chat template, or "chatml" */

    struct slot *slots;
    struct llama_batch batch;  /* n_batch tokens */
    struct llama_batch ebatch; /* embd_chunk tokens, with ectx */
    llama_token_data *cand;    /* n_vocab candidates for sampling */
    unsigned char *split_utf8; /* per token: its text is not complete, valid UTF-8 (a byte
                                  token); never sampled under a grammar, see sample() */
    double *esum;              /* n_embd sums for pooling */
    float *evec;               /* n_embd result */
    uint64_t clock;

    pthread_t thread;
    bool thread_started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct sg_llm_job *q_head, *q_tail; /* generations waiting for a slot */
    struct sg_llm_job *e_head, *e_tail; /* embeddings */
    atomic_bool stop;

    atomic_uint_fast64_t st_prompt, st_gen, st_decode;
    atomic_int st_busy, st_queued;
};

/* ---------------------------------------------------------------------------------------
 * process-wide llama.cpp setup and logging */

static _Thread_local bool log_quiet; /* set around calls whose errors could echo input */
/* The engine of a decode thread: its lines are dropped once the engine is closing (an
 * aborted llama_decode logs errors that are no errors). */
static _Thread_local struct sg_llm *log_engine;
static bool engine_closing(const struct sg_llm *m);
static pthread_once_t global_once = PTHREAD_ONCE_INIT;

/* llama.cpp's and ggml's log lines: warnings and errors become one JSON line each. */
static void log_cb(enum ggml_log_level level, const char *text, void *user)
{
    (void)user;
    if (log_quiet || !text || (log_engine && engine_closing(log_engine)))
        return;
    if (level != GGML_LOG_LEVEL_WARN && level != GGML_LOG_LEVEL_ERROR)
        return;
    size_t n = strlen(text);
    while (n && (text[n - 1] == '\n' || text[n - 1] == ' ' || text[n - 1] == '\r'))
        n--;
    if (n == 0)
        return;
    if (n > 2000)
        n = 2000;
    sg_log(level == GGML_LOG_LEVEL_ERROR ? SG_LOG_ERROR : SG_LOG_WARN, "llama", "%.*s", (int)n,
           text);
}

static void global_init(void)
{
    llama_log_set(log_cb, NULL);
    llama_backend_init();
    sg_llama_load_backends();
}

/* ---------------------------------------------------------------------------------------
 * jobs */

static void job_unref(struct sg_llm_job *j)
{
    if (atomic_fetch_sub(&j->refs, 1) == 1) {
        pthread_mutex_destroy(&j->mu);
        free(j);
    }
}

/* Frees the engine's side of a job (tokens, samplers, text stage) and drops the engine's
 * reference. Called where the model is alive: on the decode thread, in submit, in close. */
static void job_drop(struct sg_llm_job *j)
{
    free(j->tokens);
    j->tokens = NULL;
    if (j->chain)
        llama_sampler_free(j->chain);
    if (j->grammar)
        llama_sampler_free(j->grammar);
    j->chain = j->grammar = NULL;
    sg_detok_free(&j->detok);
    job_unref(j);
}

/* Delivers ev unless the job was cancelled or has ended; `final` ends it. */
static void deliver(struct sg_llm_job *j, const struct sg_llm_event *ev, bool final)
{
    pthread_mutex_lock(&j->mu);
    if (!atomic_load(&j->cancelled) && !j->ended) {
        j->fn(j->arg, ev);
        if (final)
            j->ended = true;
    }
    pthread_mutex_unlock(&j->mu);
}

static void deliver_error(struct sg_llm_job *j, const char *msg)
{
    struct sg_llm_event ev = {.kind = SG_LLM_ERROR, .error = msg};
    deliver(j, &ev, true);
}

static void emit_text(void *arg, const char *text, size_t len)
{
    struct sg_llm_event ev = {.kind = SG_LLM_TEXT, .text = text, .len = len};
    deliver(arg, &ev, false);
}

void sg_llm_cancel(struct sg_llm_job *j)
{
    if (!j)
        return;
    pthread_mutex_lock(&j->mu);
    atomic_store(&j->cancelled, true);
    pthread_mutex_unlock(&j->mu);
}

void sg_llm_job_release(struct sg_llm_job *j)
{
    if (!j)
        return;
    sg_llm_cancel(j);
    job_unref(j);
}

void sg_llm_params_default(struct sg_llm_params *p)
{
    memset(p, 0, sizeof *p);
    p->temperature = 1.0f;
    p->top_p = 1.0f;
}

/* ---------------------------------------------------------------------------------------
 * open, close, getters */

static int file_check(const char *path, struct sg_error *err)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        if (errno == ENOENT || errno == ENOTDIR)
            return sg_error_set(err, SG_ENOTFOUND, "model file not found: %s", path);
        return sg_error_set(err, SG_EIO, "cannot access the model file %s: %s", path,
                            strerror(errno));
    }
    if (!S_ISREG(st.st_mode))
        return sg_error_set(err, SG_EINVAL, "the model path %s is not a regular file", path);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return sg_error_set(err, SG_EIO, "cannot open the model file %s: %s", path,
                            strerror(errno));
    char magic[4];
    ssize_t n;
    do {
        n = read(fd, magic, sizeof magic);
    } while (n < 0 && errno == EINTR);
    close(fd);
    if (n != (ssize_t)sizeof magic || memcmp(magic, "GGUF", 4) != 0)
        return sg_error_set(err, SG_EINVAL, "the model file %s is not a GGUF file", path);
    return 0;
}

static bool have_gpu(void)
{
    for (size_t i = 0; i < ggml_backend_dev_count(); i++) {
        enum ggml_backend_dev_type t = ggml_backend_dev_type(ggml_backend_dev_get(i));
        if (t == GGML_BACKEND_DEVICE_TYPE_GPU || t == GGML_BACKEND_DEVICE_TYPE_IGPU)
            return true;
    }
    return false;
}

static bool engine_closing(const struct sg_llm *m)
{
    return atomic_load(&m->stop);
}

static bool abort_cb(void *data)
{
    struct sg_llm *m = data;
    return atomic_load(&m->stop);
}

static void model_name(struct sg_llm *m, const char *path)
{
    if (llama_model_meta_val_str(m->model, "general.name", m->name, sizeof m->name) > 0 &&
        m->name[0])
        return;
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t n = strlen(base);
    if (n > 5 && strcmp(base + n - 5, ".gguf") == 0)
        n -= 5;
    snprintf(m->name, sizeof m->name, "%.*s", (int)(n < sizeof m->name ? n : sizeof m->name - 1),
             base);
}

/* True when the GGUF names a pooling type of its own (an embedding model, such as BERT):
 * then llama.cpp pools, and the whole input must be one micro-batch. */
static bool has_native_pooling(const struct llama_model *model)
{
    char arch[64], key[96], val[32];
    if (llama_model_meta_val_str(model, "general.architecture", arch, sizeof arch) <= 0)
        return false;
    snprintf(key, sizeof key, "%s.pooling_type", arch);
    if (llama_model_meta_val_str(model, key, val, sizeof val) <= 0)
        return false;
    return atoi(val) != LLAMA_POOLING_TYPE_NONE;
}

static void *decode_main(void *arg);

static void free_engine(struct sg_llm *m)
{
    if (m->slots) {
        for (int i = 0; i < m->n_slots; i++)
            free(m->slots[i].cache);
        free(m->slots);
    }
    if (m->batch.token)
        llama_batch_free(m->batch);
    if (m->ebatch.token)
        llama_batch_free(m->ebatch);
    free(m->cand);
    free(m->split_utf8);
    free(m->esum);
    free(m->evec);
    if (m->ectx)
        llama_free(m->ectx);
    if (m->ctx)
        llama_free(m->ctx);
    if (m->model)
        llama_model_free(m->model);
    pthread_cond_destroy(&m->cv);
    pthread_mutex_destroy(&m->mu);
    free(m);
}

int sg_llm_open(const struct sg_llm_opts *o, struct sg_llm **out, struct sg_error *err)
{
    if (out)
        *out = NULL;
    if (!o || !out || !o->model_path || !o->model_path[0])
        return sg_error_set(err, SG_EINVAL, "model_path is required");
    int parallel = o->parallel ? o->parallel : 4;
    if (parallel < 1 || parallel > SG_LLM_MAX_PARALLEL)
        return sg_error_set(err, SG_EINVAL, "parallel must be between 1 and %d",
                            SG_LLM_MAX_PARALLEL);
    int batch = o->batch ? o->batch : 512;
    if (batch < 2 * parallel + 1 || batch > 65536)
        return sg_error_set(err, SG_EINVAL, "batch must be between %d and 65536", 2 * parallel + 1);
    if (o->ctx < 0 || o->ctx > (1 << 24))
        return sg_error_set(err, SG_EINVAL, "ctx must be between 0 and %d", 1 << 24);
    if (o->gpu_layers < -1)
        return sg_error_set(err, SG_EINVAL, "gpu_layers must be -1 (all), 0 (none) or more");
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    int threads = o->threads ? o->threads : (ncpu > 0 ? (int)ncpu : 1);
    if (threads < 1 || threads > 1024)
        return sg_error_set(err, SG_EINVAL, "threads must be between 0 and 1024");
    int rc = file_check(o->model_path, err);
    if (rc)
        return rc;

    pthread_once(&global_once, global_init);
    if (ggml_backend_dev_count() == 0)
        return sg_error_set(err, SG_EUNAVAIL, "no ggml backend could be loaded");
    /* Asked for a GPU and none works: an error, not a CPU run ten times slower. */
    if (o->gpu_layers != 0 && !have_gpu())
        return sg_error_set(err, SG_EUNAVAIL,
                            "gpu_layers is %d but llama.cpp found no GPU (it needs a CUDA build of "
                            "llama.cpp, the driver and the device nodes; see the ggml_cuda_init "
                            "message above, if any); set gpu_layers: 0 to run on the CPU",
                            o->gpu_layers);

    struct sg_llm *m = calloc(1, sizeof *m);
    if (!m)
        return sg_error_set(err, SG_ENOMEM, "out of memory");
    pthread_mutex_init(&m->mu, NULL);
    pthread_cond_init(&m->cv, NULL);
    m->n_slots = parallel;
    m->n_batch = batch;
    m->n_threads = threads;
    m->gpu = o->gpu_layers != 0;
    m->tile = !m->gpu && batch - parallel >= SG_FA_TILE ? SG_FA_TILE : 0;

    struct llama_model_params mp = llama_model_default_params();
    mp.n_gpu_layers = o->gpu_layers;
    mp.use_extra_bufts = m->gpu; /* repacked CPU kernels are not batch invariant */
    m->model = llama_model_load_from_file(o->model_path, mp);
    if (!m->model) {
        free_engine(m);
        return sg_error_set(err, SG_EINVAL,
                            "could not load the model %s (corrupt, truncated or unsupported GGUF)",
                            o->model_path);
    }
    m->vocab = llama_model_get_vocab(m->model);
    m->n_vocab = llama_vocab_n_tokens(m->vocab);
    m->n_embd = llama_model_n_embd_out(m->model);
    if (m->n_embd <= 0)
        m->n_embd = llama_model_n_embd(m->model);
    model_name(m, o->model_path);
    m->tmpl = llama_model_chat_template(m->model, NULL);
    if (!m->tmpl)
        m->tmpl = "chatml";

    int train = llama_model_n_ctx_train(m->model);
    int want = o->ctx ? o->ctx : (train > 0 && train < 4096 ? train : 4096);
    struct llama_context_params cp = llama_context_default_params();
    cp.n_ctx = (uint32_t)want * (uint32_t)parallel;
    cp.n_batch = (uint32_t)batch;
    cp.n_ubatch = (uint32_t)batch;
    cp.n_seq_max = (uint32_t)parallel;
    cp.kv_unified = false;
    cp.n_threads = threads;
    cp.n_threads_batch = threads;
    cp.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_AUTO; /* on wherever the backend has it */
    cp.embeddings = false;
    cp.no_perf = true;
    cp.abort_callback = abort_cb;
    cp.abort_callback_data = m;
    m->ctx = llama_init_from_model(m->model, cp);
    if (!m->ctx) {
        free_engine(m);
        return sg_error_set(err, SG_EUNAVAIL, "could not create a context of %d slots of %d tokens",
                            parallel, want);
    }
    m->slot_ctx = (int)llama_n_ctx_seq(m->ctx);
    m->embd_native_pool = has_native_pooling(m->model);
    m->embd_ctx = m->slot_ctx < SG_LLM_EMBD_CTX_MAX ? m->slot_ctx : SG_LLM_EMBD_CTX_MAX;
    m->embd_chunk = m->embd_native_pool               ? m->embd_ctx
                    : m->embd_ctx < SG_LLM_EMBD_CHUNK ? m->embd_ctx
                                                      : SG_LLM_EMBD_CHUNK;

    m->slots = calloc((size_t)parallel, sizeof *m->slots);
    m->cand = malloc((size_t)m->n_vocab * sizeof *m->cand);
    m->split_utf8 = calloc((size_t)m->n_vocab, 1);
    for (int t = 0; m->split_utf8 && t < m->n_vocab; t++) {
        char piece[256];
        int n = llama_token_to_piece(m->vocab, t, piece, sizeof piece, 0, false);
        m->split_utf8[t] = n < 0 || !sg_utf8_valid(piece, (size_t)n);
    }
    m->esum = malloc((size_t)m->n_embd * sizeof *m->esum);
    m->evec = malloc((size_t)m->n_embd * sizeof *m->evec);
    m->batch = llama_batch_init(batch, 0, 1);
    bool ok = m->slots && m->cand && m->split_utf8 && m->esum && m->evec && m->batch.token;
    for (int i = 0; ok && i < parallel; i++) {
        m->slots[i].id = i;
        m->slots[i].i_batch = -1;
        m->slots[i].cache = malloc((size_t)m->slot_ctx * sizeof(llama_token));
        ok = m->slots[i].cache != NULL;
    }
    if (!ok) {
        free_engine(m);
        return sg_error_set(err, SG_ENOMEM, "out of memory");
    }
    if (pthread_create(&m->thread, NULL, decode_main, m) != 0) {
        free_engine(m);
        return sg_error_set(err, SG_ENOMEM, "cannot start the decode thread");
    }
    m->thread_started = true;
    sg_log(SG_LOG_INFO, "engine_model",
           "loaded %s: %d slots of %d tokens, batch %d, %d threads, %s", m->name, m->n_slots,
           m->slot_ctx, m->n_batch, m->n_threads, m->gpu ? "GPU offload" : "CPU");
    *out = m;
    return 0;
}

void sg_llm_close(struct sg_llm *m)
{
    if (!m)
        return;
    pthread_mutex_lock(&m->mu);
    atomic_store(&m->stop, true);
    pthread_cond_broadcast(&m->cv);
    pthread_mutex_unlock(&m->mu);
    if (m->thread_started)
        pthread_join(m->thread, NULL);
    /* the decode thread has dropped its jobs; whatever is left in the queues is ours */
    struct sg_llm_job *lists[2] = {m->q_head, m->e_head};
    for (int l = 0; l < 2; l++) {
        for (struct sg_llm_job *j = lists[l], *next; j; j = next) {
            next = j->next;
            sg_llm_cancel(j);
            job_drop(j);
        }
    }
    m->q_head = m->e_head = NULL;
    free_engine(m);
}

const char *sg_llm_model_name(const struct sg_llm *m)
{
    return m->name;
}

int sg_llm_slot_ctx(const struct sg_llm *m)
{
    return m->slot_ctx;
}

int sg_llm_embedding_dim(const struct sg_llm *m)
{
    return m->n_embd;
}

int sg_llm_embedding_ctx(const struct sg_llm *m)
{
    return m->embd_ctx;
}

void sg_llm_stats(const struct sg_llm *m, struct sg_llm_stats *out)
{
    out->prompt_tokens_evaluated = atomic_load(&m->st_prompt);
    out->tokens_generated = atomic_load(&m->st_gen);
    out->decode_calls = atomic_load(&m->st_decode);
    out->slots_busy = atomic_load(&m->st_busy);
    out->queued = atomic_load(&m->st_queued);
}

/* ---------------------------------------------------------------------------------------
 * templates and tokens */

char *sg_llm_literal(const char *text, size_t len)
{
    char *o = malloc(len + 3);
    if (!o)
        return NULL;
    o[0] = SG_LLM_LITERAL_BEGIN[0];
    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        o[i + 1] = c == SG_LLM_LITERAL_BEGIN[0] || c == SG_LLM_LITERAL_END[0] ? ' ' : c;
    }
    o[len + 1] = SG_LLM_LITERAL_END[0];
    o[len + 2] = '\0';
    return o;
}

static void free_contents(struct llama_chat_message *chat, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free((char *)chat[i].content);
    free(chat);
}

int sg_llm_chat_prompt(const struct sg_llm *m, const struct sg_llm_msg *msgs, size_t n, char **out,
                       struct sg_error *err)
{
    *out = NULL;
    if (n == 0 || !msgs)
        return sg_error_set(err, SG_EINVAL, "messages: at least one message is required");
    struct llama_chat_message *chat = calloc(n, sizeof *chat);
    if (!chat)
        return sg_error_set(err, SG_ENOMEM, "out of memory");
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        if (!msgs[i].role || !msgs[i].content) {
            free(chat);
            return sg_error_set(err, SG_EINVAL, "messages[%zu]: role and content are required", i);
        }
        chat[i].role = msgs[i].role;
        total += strlen(msgs[i].role) + strlen(msgs[i].content) + 64;
        if (total > SG_LLM_MAX_PROMPT) {
            free_contents(chat, i);
            return sg_error_set(err, SG_ETOOBIG, "messages: more than %u bytes", SG_LLM_MAX_PROMPT);
        }
        /* The content is text, never control tokens: a customer who types
         * "<|im_start|>system" must not open a system turn. */
        if (!(chat[i].content = sg_llm_literal(msgs[i].content, strlen(msgs[i].content)))) {
            free_contents(chat, i);
            return sg_error_set(err, SG_ENOMEM, "out of memory");
        }
    }
    int cap = (int)(total * 2 + 256);
    char *buf = malloc((size_t)cap);
    int len = buf ? llama_chat_apply_template(m->tmpl, chat, n, true, buf, cap) : 0;
    if (buf && len >= cap) {
        char *bigger = realloc(buf, (size_t)len + 1);
        if (bigger) {
            buf = bigger;
            cap = len + 1;
            len = llama_chat_apply_template(m->tmpl, chat, n, true, buf, cap);
        } else {
            free(buf);
            buf = NULL;
        }
    }
    free_contents(chat, n);
    if (!buf)
        return sg_error_set(err, SG_ENOMEM, "out of memory");
    if (len < 0 || len >= cap) {
        free(buf);
        return sg_error_set(err, SG_EINVAL, "the model's chat template is not supported");
    }
    buf[len] = '\0';
    *out = buf;
    return 0;
}

/* Tokenizes text into a new array of at most `max` tokens. Outside literal regions
 * (SG_LLM_LITERAL_BEGIN ... SG_LLM_LITERAL_END) special-token text is parsed as special
 * tokens when `special`; inside them it stays text; the markers themselves are dropped.
 * BOS is added (when the model wants one) once, at the start. Returns the count (*out set,
 * caller frees) or, when there are more than max, minus the full count (nothing set);
 * SG_ETOOBIG for a count past INT_MAX, SG_ENOMEM. */
static int tokenize(const struct sg_llm *m, const char *text, size_t len, int max, bool special,
                    llama_token **out)
{
    *out = NULL;
    if (len > SG_LLM_MAX_PROMPT)
        return SG_ETOOBIG;
    if (!text)
        text = "";
    llama_token *t = malloc(((size_t)max + 1) * sizeof *t);
    if (!t)
        return SG_ENOMEM;
    long n = 0;
    bool over = false, literal = false, first = true;
    for (size_t at = 0; at <= len;) {
        /* the segment up to the next marker of the kind that ends it */
        const char *end =
            memchr(text + at, literal ? SG_LLM_LITERAL_END[0] : SG_LLM_LITERAL_BEGIN[0], len - at);
        size_t seg = end ? (size_t)(end - (text + at)) : len - at;
        if (seg || first) {
            int room = over ? 0 : (int)((long)max + 1 - n);
            int k = llama_tokenize(m->vocab, text + at, (int32_t)seg, over ? NULL : t + n, room,
                                   first, special && !literal);
            if (k == INT32_MIN) {
                free(t);
                return SG_ETOOBIG;
            }
            if (k < 0) { /* no room: from now on only count */
                over = true;
                k = -k;
            }
            n += k;
            if (n > INT32_MAX) {
                free(t);
                return SG_ETOOBIG;
            }
        }
        first = false;
        if (!end)
            break;
        at += seg + 1;
        literal = !literal;
    }
    if (over || n > max) {
        free(t);
        return (int)-n;
    }
    *out = t;
    return (int)n;
}

int sg_llm_count_tokens(const struct sg_llm *m, const char *text, size_t len)
{
    llama_token *t = NULL;
    int n = tokenize(m, text, len, m->slot_ctx, true, &t);
    free(t);
    return n < 0 && n != SG_ETOOBIG && n != SG_ENOMEM ? -n : n;
}

/* ---------------------------------------------------------------------------------------
 * submit */

static int check_params(const struct sg_llm_params *p, struct sg_error *err)
{
    if (!(p->temperature >= 0.0f && p->temperature <= 2.0f))
        return sg_error_set(err, SG_EINVAL, "temperature must be between 0 and 2");
    if (!(p->top_p > 0.0f && p->top_p <= 1.0f))
        return sg_error_set(err, SG_EINVAL, "top_p must be greater than 0 and at most 1");
    if (p->top_k < 0)
        return sg_error_set(err, SG_EINVAL, "top_k must not be negative");
    if (!(p->min_p >= 0.0f && p->min_p <= 1.0f))
        return sg_error_set(err, SG_EINVAL, "min_p must be between 0 and 1");
    if (!(p->presence_penalty >= -2.0f && p->presence_penalty <= 2.0f))
        return sg_error_set(err, SG_EINVAL, "presence_penalty must be between -2 and 2");
    if (!(p->frequency_penalty >= -2.0f && p->frequency_penalty <= 2.0f))
        return sg_error_set(err, SG_EINVAL, "frequency_penalty must be between -2 and 2");
    if (p->grammar && strnlen(p->grammar, SG_LLM_MAX_GRAMMAR + 1) > SG_LLM_MAX_GRAMMAR)
        return sg_error_set(err, SG_EINVAL, "grammar: longer than %u bytes", SG_LLM_MAX_GRAMMAR);
    return 0;
}

/* llama_sampler_init_grammar, quietly. llama.cpp's grammar parser writes its errors with
 * the whole grammar straight to stderr, which would break the one-JSON-object-per-line
 * stderr and could echo request content. So fd 2 points at a memory file during the call
 * (one call at a time): lines that other threads logged meanwhile (JSON objects) are
 * written to the real stderr afterwards, the parser's lines are dropped, and the reason it
 * gave (the text before " at ", which would quote the grammar) lands in why. */
static pthread_mutex_t stderr_mu = PTHREAD_MUTEX_INITIALIZER;

static void replay_stderr(int fd, char *why, size_t whylen)
{
    static const char mark[] = "error parsing grammar: ";
    char buf[8192];
    size_t have = 0;
    ssize_t n;
    if (lseek(fd, 0, SEEK_SET) != 0)
        return;
    for (;;) {
        n = read(fd, buf + have, sizeof buf - 1 - have);
        if (n < 0 && errno == EINTR)
            continue;
        if (n > 0)
            have += (size_t)n;
        buf[have] = '\0';
        char *line = buf, *nl;
        while ((nl = memchr(line, '\n', have - (size_t)(line - buf))) != NULL) {
            *nl = '\0';
            if (line[0] == '{') {
                *nl = '\n';
                sg_log_write_raw(line, (size_t)(nl - line));
            } else if (!why[0] && strstr(line, mark)) {
                const char *r = strstr(line, mark) + sizeof mark - 1;
                const char *at = strstr(r, " at ");
                size_t len = at ? (size_t)(at - r) : strlen(r);
                snprintf(why, whylen, "%.*s", (int)(len < whylen ? len : whylen - 1), r);
            }
            line = nl + 1;
        }
        size_t rest = have - (size_t)(line - buf);
        if (rest == sizeof buf - 1)
            rest = 0; /* a line longer than the buffer: drop it */
        memmove(buf, line, rest);
        have = rest;
        if (n <= 0)
            break;
    }
}

static struct llama_sampler *grammar_init(struct sg_llm *m, const char *text, char *why,
                                          size_t whylen)
{
    pthread_mutex_lock(&stderr_mu);
    int cap = memfd_create("sg-grammar-stderr", MFD_CLOEXEC);
    int saved = cap >= 0 ? dup(STDERR_FILENO) : -1;
    bool redirected = saved >= 0 && dup2(cap, STDERR_FILENO) >= 0;
    log_quiet = true; /* llama.cpp's own log line adds nothing */
    struct llama_sampler *g = llama_sampler_init_grammar(m->vocab, text, "root");
    log_quiet = false;
    fflush(stderr);
    if (redirected) {
        dup2(saved, STDERR_FILENO);
        replay_stderr(cap, why, whylen);
    }
    if (saved >= 0)
        close(saved);
    if (cap >= 0)
        close(cap);
    pthread_mutex_unlock(&stderr_mu);
    return g;
}

/* The sampler chain for p: penalties over the generated tokens, then greedy, or top_k,
 * top_p, min_p, temperature and a seeded draw. The grammar is kept apart (see sample()). */
static int build_samplers(struct sg_llm *m, struct sg_llm_job *j, const struct sg_llm_params *p,
                          struct sg_error *err)
{
    struct llama_sampler_chain_params scp = llama_sampler_chain_default_params();
    scp.no_perf = true;
    j->chain = llama_sampler_chain_init(scp);
    if (!j->chain)
        return sg_error_set(err, SG_ENOMEM, "out of memory");
    if (p->presence_penalty != 0.0f || p->frequency_penalty != 0.0f)
        llama_sampler_chain_add(j->chain, llama_sampler_init_penalties(m->n_vocab, m->slot_ctx,
                                                                       1.0f, p->frequency_penalty,
                                                                       p->presence_penalty));
    if (p->temperature == 0.0f) {
        llama_sampler_chain_add(j->chain, llama_sampler_init_greedy());
        j->argmax = p->presence_penalty == 0.0f && p->frequency_penalty == 0.0f && !p->grammar;
    } else {
        if (p->top_k > 0)
            llama_sampler_chain_add(j->chain, llama_sampler_init_top_k(p->top_k));
        if (p->top_p < 1.0f)
            llama_sampler_chain_add(j->chain, llama_sampler_init_top_p(p->top_p, 1));
        if (p->min_p > 0.0f)
            llama_sampler_chain_add(j->chain, llama_sampler_init_min_p(p->min_p, 1));
        llama_sampler_chain_add(j->chain, llama_sampler_init_temp(p->temperature));
        uint32_t seed = LLAMA_DEFAULT_SEED; /* llama.cpp draws a random one */
        if (p->has_seed) {
            seed = (uint32_t)(p->seed ^ (p->seed >> 32));
            if (seed == LLAMA_DEFAULT_SEED)
                seed = 0x9E3779B9u;
        }
        llama_sampler_chain_add(j->chain, llama_sampler_init_dist(seed));
    }
    if (p->grammar) {
        char why[96] = "";
        j->grammar = grammar_init(m, p->grammar, why, sizeof why);
        if (!j->grammar)
            return sg_error_set(err, SG_EINVAL,
                                "grammar: not a valid GBNF grammar with a rule "
                                "named root%s%s%s",
                                why[0] ? " (" : "", why, why[0] ? ")" : "");
    }
    return 0;
}

static struct sg_llm_job *job_new(enum job_kind kind, sg_llm_event_fn fn, void *arg)
{
    struct sg_llm_job *j = calloc(1, sizeof *j);
    if (!j)
        return NULL;
    pthread_mutex_init(&j->mu, NULL);
    atomic_init(&j->refs, 2);
    atomic_init(&j->cancelled, false);
    j->kind = kind;
    j->fn = fn;
    j->arg = arg;
    sg_buf_init(&j->detok.pend, 0);
    return j;
}

/* Frees a job that was never queued. */
static void job_discard(struct sg_llm_job *j)
{
    job_drop(j);
    job_unref(j);
}

static struct sg_llm_job *enqueue(struct sg_llm *m, struct sg_llm_job *j, struct sg_error *err)
{
    pthread_mutex_lock(&m->mu);
    if (atomic_load(&m->stop)) {
        pthread_mutex_unlock(&m->mu);
        job_discard(j);
        sg_error_set(err, SG_EUNAVAIL, "the engine is shutting down");
        return NULL;
    }
    struct sg_llm_job **head = j->kind == JOB_GEN ? &m->q_head : &m->e_head;
    struct sg_llm_job **tail = j->kind == JOB_GEN ? &m->q_tail : &m->e_tail;
    if (*tail)
        (*tail)->next = j;
    else
        *head = j;
    *tail = j;
    atomic_fetch_add(&m->st_queued, 1);
    pthread_cond_signal(&m->cv);
    pthread_mutex_unlock(&m->mu);
    return j;
}

struct sg_llm_job *sg_llm_submit(struct sg_llm *m, const char *prompt, size_t len,
                                 const struct sg_llm_params *p, sg_llm_event_fn fn, void *arg,
                                 struct sg_error *err)
{
    struct sg_llm_params defaults;
    if (!p) {
        sg_llm_params_default(&defaults);
        p = &defaults;
    }
    if (!m || !fn || (!prompt && len)) {
        sg_error_set(err, SG_EINVAL, "submit: engine, prompt and callback are required");
        return NULL;
    }
    if (check_params(p, err))
        return NULL;
    struct sg_llm_job *j = job_new(JOB_GEN, fn, arg);
    if (!j) {
        sg_error_set(err, SG_ENOMEM, "out of memory");
        return NULL;
    }
    int n = tokenize(m, prompt, len, m->slot_ctx, true, &j->tokens);
    if (n < 0) {
        if (n == SG_ENOMEM)
            sg_error_set(err, SG_ENOMEM, "out of memory");
        else if (n == SG_ETOOBIG)
            sg_error_set(err, SG_ETOOBIG, "the prompt is too long");
        else
            sg_error_set(err, SG_ETOOBIG, "the prompt has %d tokens but the context holds %d", -n,
                         m->slot_ctx);
        job_discard(j);
        return NULL;
    }
    if (n == 0) {
        sg_error_set(err, SG_EINVAL, "the prompt is empty");
        job_discard(j);
        return NULL;
    }
    j->n_tokens = n;
    j->max_tokens = p->max_tokens > 0 ? p->max_tokens : 0;
    j->digest = p->logits_digest;
    j->hash = 0xcbf29ce484222325ull; /* FNV-1a offset basis */
    if (sg_detok_init(&j->detok, p->stop, p->nstop, err) || build_samplers(m, j, p, err)) {
        job_discard(j);
        return NULL;
    }
    return enqueue(m, j, err);
}

struct sg_llm_job *sg_llm_submit_embedding(struct sg_llm *m, const char *text, size_t len,
                                           sg_llm_event_fn fn, void *arg, struct sg_error *err)
{
    if (!m || !fn || (!text && len)) {
        sg_error_set(err, SG_EINVAL, "submit: engine, input and callback are required");
        return NULL;
    }
    struct sg_llm_job *j = job_new(JOB_EMBED, fn, arg);
    if (!j) {
        sg_error_set(err, SG_ENOMEM, "out of memory");
        return NULL;
    }
    int n = tokenize(m, text, len, m->embd_ctx, false, &j->tokens);
    if (n < 0) {
        if (n == SG_ENOMEM)
            sg_error_set(err, SG_ENOMEM, "out of memory");
        else if (n == SG_ETOOBIG)
            sg_error_set(err, SG_ETOOBIG, "the input is too long");
        else
            sg_error_set(err, SG_ETOOBIG, "the input has %d tokens but the context holds %d", -n,
                         m->embd_ctx);
        job_discard(j);
        return NULL;
    }
    if (n == 0) {
        sg_error_set(err, SG_EINVAL, "the input is empty");
        job_discard(j);
        return NULL;
    }
    j->n_tokens = n;
    return enqueue(m, j, err);
}

/* ---------------------------------------------------------------------------------------
 * the decode thread: slots */

static void slot_free(struct sg_llm *m, struct slot *s)
{
    if (!s->job)
        return;
    job_drop(s->job);
    s->job = NULL;
    s->generating = false;
    s->i_batch = -1;
    s->last_used = ++m->clock;
    atomic_fetch_sub(&m->st_busy, 1);
}

/* The end of the tiled part of a prompt of n tokens: its whole tiles (see Determinism). */
static int tiled_end(const struct sg_llm *m, int n)
{
    return m->tile ? n - n % m->tile : 0;
}

/* How many of the first lcp tokens of job j's prompt slot s may keep, so that every kept
 * token was decoded by the path a fresh read of the prompt takes (see Determinism), and at
 * least one prompt token is left to decode for the logits: whole tiles of the tiled part;
 * or, when the prompt's tiled part ends where the cached one did, also the cached tokens of
 * the rest but two (its last chunk is then never one token, as it is not when read fresh).
 * Keeping "all but two" never reaches back into the tiled part: a prompt of 128 tokens
 * with a 64-token tile keeps its first tile, not 126 tokens (the two left would be part of
 * a tile, which no step reads as less than a whole one). */
static int reusable(const struct sg_llm *m, const struct slot *s, const struct sg_llm_job *j,
                    int lcp)
{
    int n = j->n_tokens;
    int keep = lcp < n - 1 ? lcp : n - 1;
    keep = tiled_end(m, keep < s->n_tiled ? keep : s->n_tiled);
    if (lcp >= s->n_tiled && tiled_end(m, n) == s->n_tiled) {
        int rest = lcp < n - 2 ? lcp : n - 2;
        if (rest >= s->n_tiled && rest > keep)
            keep = rest;
    }
    return keep > 0 ? keep : 0;
}

/* Gives job j the free slot whose cache lets it keep the longest prefix of its prompt
 * (reusable(); the least recently used among equals), drops the rest of that cache, and
 * keeps the prefix. Only tokens decoded as prompt tokens count (n_exact: a generated
 * token's KV entry was made by the one-token path, a prompt token's by another). A prefix
 * shorter than a tile (a chat template's first tokens, say) is not worth a longer cache:
 * then the job takes the free slot that caches the fewest tokens (the least recently used
 * among equals) when that drops fewer cached tokens, so that a long system prompt stays
 * cached for the jobs that share it. */
static void slot_assign(struct sg_llm *m, struct sg_llm_job *j)
{
    struct slot *best = NULL, *spare = NULL;
    int reuse = -1, spare_keep = 0;
    for (int i = 0; i < m->n_slots; i++) {
        struct slot *s = &m->slots[i];
        if (s->job)
            continue;
        int lim = s->n_exact < j->n_tokens ? s->n_exact : j->n_tokens;
        int lcp = 0;
        while (lcp < lim && s->cache[lcp] == j->tokens[lcp])
            lcp++;
        int keep = reusable(m, s, j, lcp);
        if (!best || keep > reuse || (keep == reuse && s->last_used < best->last_used)) {
            best = s;
            reuse = keep;
        }
        if (!spare || s->n_exact < spare->n_exact ||
            (s->n_exact == spare->n_exact && s->last_used < spare->last_used)) {
            spare = s;
            spare_keep = keep;
        }
    }
    if (!best) /* cannot happen: decode_main takes a job only for a free slot */
        return;
    if (reuse < SG_FA_TILE && spare->n_exact - spare_keep < best->n_exact - reuse) {
        best = spare;
        reuse = spare_keep;
    }
    llama_memory_t mem = llama_get_memory(m->ctx);
    if (!llama_memory_seq_rm(mem, best->id, reuse, -1)) {
        llama_memory_seq_rm(mem, best->id, -1, -1);
        reuse = 0;
    }
    best->n_cache = reuse;
    best->n_exact = reuse;
    best->n_tiled = reuse < best->n_tiled ? reuse : best->n_tiled;
    best->n_done = reuse;
    best->job = j;
    best->generating = false;
    best->i_batch = -1;
    best->order = ++m->clock;
    j->cached = reuse;
    atomic_fetch_add(&m->st_busy, 1);
}

static void finish(struct sg_llm *m, struct slot *s, const char *reason, bool flush)
{
    struct sg_llm_job *j = s->job;
    if (flush)
        sg_detok_finish(&j->detok, emit_text, j);
    struct sg_llm_event ev = {
        .kind = SG_LLM_DONE,
        .finish_reason = reason,
        .prompt_tokens = j->n_tokens,
        .cached_tokens = j->cached,
        .completion_tokens = j->n_gen,
        .logits_digest = j->digest ? j->hash : 0,
    };
    deliver(j, &ev, true);
    slot_free(m, s);
}

static void fail(struct sg_llm *m, struct slot *s, const char *msg)
{
    deliver_error(s->job, msg);
    slot_free(m, s);
}

/* Samples the next token of job j from the logits at batch index idx. The grammar is
 * checked on the chosen token only, and applied to all candidates (and the chain run again)
 * when it rejects it, as llama.cpp's own common sampler does. Returns -1 when no token is
 * possible (the grammar rejects them all). */
static llama_token sample(struct sg_llm *m, struct sg_llm_job *j, int idx)
{
    const float *logits = llama_get_logits_ith(m->ctx, idx);
    if (!logits)
        return -1;
    if (j->digest) {
        const unsigned char *bytes = (const unsigned char *)logits;
        for (size_t i = 0; i < (size_t)m->n_vocab * sizeof(float); i++)
            j->hash = (j->hash ^ bytes[i]) * 0x100000001b3ull; /* FNV-1a prime */
    }
    if (j->argmax) { /* what the greedy sampler picks (the first maximum), without the copy */
        int best = 0;
        for (int i = 1; i < m->n_vocab; i++)
            if (logits[i] > logits[best])
                best = i;
        return best;
    }
    for (int i = 0; i < m->n_vocab; i++)
        m->cand[i] = (llama_token_data){i, logits[i], 0.0f};
    llama_token_data_array arr = {m->cand, (size_t)m->n_vocab, -1, false};
    llama_sampler_apply(j->chain, &arr);
    if (arr.selected < 0 || (size_t)arr.selected >= arr.size)
        return -1;
    llama_token tok = arr.data[arr.selected].id;
    if (j->grammar) {
        /* Tokens whose text is not complete UTF-8 (byte tokens) are never taken under a
         * grammar: llama.cpp's grammar would let the next token's bytes finish the split
         * character whatever they are, and the text would no longer be what the grammar
         * checked (an invalid sequence becomes U+FFFD, a quote inside it escapes). */
        llama_token_data one = {tok, m->split_utf8[tok] ? -INFINITY : 1.0f, 0.0f};
        llama_token_data_array single = {&one, 1, -1, false};
        if (one.logit != -INFINITY)
            llama_sampler_apply(j->grammar, &single);
        if (one.logit == -INFINITY) {
            for (int i = 0; i < m->n_vocab; i++)
                m->cand[i] = (llama_token_data){i, m->split_utf8[i] ? -INFINITY : logits[i], 0.0f};
            arr = (llama_token_data_array){m->cand, (size_t)m->n_vocab, -1, false};
            llama_sampler_apply(j->grammar, &arr);
            llama_sampler_apply(j->chain, &arr);
            if (arr.selected < 0 || (size_t)arr.selected >= arr.size ||
                arr.data[arr.selected].logit == -INFINITY)
                return -1;
            tok = arr.data[arr.selected].id;
        }
        if (!llama_vocab_is_eog(m->vocab, tok))
            llama_sampler_accept(j->grammar, tok);
    }
    llama_sampler_accept(j->chain, tok);
    return tok;
}

/* The slot's logits are ready: sample, release text, decide whether the job goes on. */
static void on_logits(struct sg_llm *m, struct slot *s)
{
    struct sg_llm_job *j = s->job;
    s->generating = true;
    llama_token tok = sample(m, j, s->i_batch);
    if (tok < 0 && j->grammar) {
        /* "stop" would tell the client the text is complete (valid JSON, for a schema) */
        fail(m, s,
             "the output grammar allows no token the model can write here; the answer "
             "is incomplete");
        return;
    }
    if (tok < 0) {
        fail(m, s, "the model produced no logits");
        return;
    }
    /* The end-of-generation token has no text and is not part of the answer, so it is not
     * counted (OpenAI counts the tokens of the completion). Every token up to the one that
     * completes a stop string is: the model wrote them, and a token's text before the stop
     * string is in the answer (one token may hold both). */
    if (llama_vocab_is_eog(m->vocab, tok)) {
        finish(m, s, "stop", true);
        return;
    }
    j->n_gen++;
    atomic_fetch_add(&m->st_gen, 1);
    char small[SG_LLM_PIECE];
    char *piece = small;
    int n = llama_token_to_piece(m->vocab, tok, small, sizeof small, 0, false);
    if (n < 0) {
        piece = malloc((size_t)-n);
        n = piece ? llama_token_to_piece(m->vocab, tok, piece, -n, 0, false) : -1;
    }
    int rc = n > 0 ? sg_detok_push(&j->detok, piece, (size_t)n, emit_text, j) : 0;
    if (piece != small)
        free(piece);
    if (n < 0 || rc < 0) {
        fail(m, s, "the generated text could not be decoded");
        return;
    }
    if (rc == 1)
        finish(m, s, "stop", false);
    else if (j->max_tokens > 0 && j->n_gen >= j->max_tokens)
        finish(m, s, "length", true);
    else if (s->n_cache >= m->slot_ctx)
        finish(m, s, "length", true);
    else
        s->next = tok;
}

static void batch_add(struct llama_batch *b, llama_token t, int pos, int seq, bool logits)
{
    int k = b->n_tokens++;
    b->token[k] = t;
    b->pos[k] = pos;
    b->n_seq_id[k] = 1;
    b->seq_id[k][0] = seq;
    b->logits[k] = logits;
}

/* llama_decode of m->batch, whose real tokens belong to the slots with n_added > 0; the
 * throw-away tokens of slots marked dummy are removed from the cache right after. On failure
 * those slots start over with an empty cache and their jobs fail (nothing is reported when
 * the engine is closing: the abort callback stopped the call). Returns true on success. */
static bool decode(struct sg_llm *m)
{
    llama_memory_t mem = llama_get_memory(m->ctx);
    int rc = llama_decode(m->ctx, m->batch);
    atomic_fetch_add(&m->st_decode, 1);
    for (int i = 0; i < m->n_slots; i++) {
        struct slot *s = &m->slots[i];
        if (s->dummy)
            llama_memory_seq_rm(mem, s->id, s->n_cache, -1);
        s->dummy = false;
    }
    if (rc == 0)
        return true;
    if (atomic_load(&m->stop))
        return false;
    sg_log(SG_LOG_ERROR, "engine_decode", "llama_decode failed with %d (%d tokens)", rc,
           m->batch.n_tokens);
    for (int i = 0; i < m->n_slots; i++) {
        struct slot *s = &m->slots[i];
        if (s->n_added == 0)
            continue;
        /* the memory may hold part of the batch: start this slot over */
        llama_memory_seq_rm(mem, s->id, -1, -1);
        s->n_cache = 0;
        s->n_exact = 0;
        s->n_tiled = 0;
        s->n_added = 0;
        if (s->job)
            fail(m, s, "the model could not process the request");
    }
    return false;
}

/* The slots whose logits were asked for in the last call sample their next token. */
static void after_decode(struct sg_llm *m)
{
    for (int i = 0; i < m->n_slots; i++) {
        struct slot *s = &m->slots[i];
        s->n_added = 0;
        if (s->i_batch < 0 || !s->job)
            continue;
        if (atomic_load(&s->job->cancelled))
            slot_free(m, s);
        else
            on_logits(m, s);
        s->i_batch = -1;
    }
}

/* The KV view llama.cpp gives a micro-batch whose longest stream holds n cells. */
static int kv_view(const struct sg_llm *m, int n)
{
    int v = (n + SG_FA_KV_PAD - 1) / SG_FA_KV_PAD * SG_FA_KV_PAD;
    v = v > SG_FA_KV_PAD ? v : SG_FA_KV_PAD;
    return v < m->slot_ctx ? v : m->slot_ctx;
}

/* Whether slot s's next generated token would take the split kernel were it alone in its
 * micro-batch (see Determinism): such a token is always decoded in a call of its own. */
static bool splits(const struct sg_llm *m, const struct slot *s)
{
    return !m->gpu && kv_view(m, s->n_cache + 1) >= SG_FA_SPLIT_KV;
}

/* One llama_decode of the pending token of the generating slots marked in `with`, laid out
 * in slot order because llama.cpp puts only ascending, consecutive sequence ids into one
 * micro-batch; a slot between two of them that adds nothing gets a throw-away token at the
 * end of its cache, so that all of them decode together. Returns the number of tokens
 * generated, or -1 when the call failed with the engine closing. */
static int generate(struct sg_llm *m, const bool *with)
{
    struct llama_batch *b = &m->batch;
    b->n_tokens = 0;
    int lo = m->n_slots, hi = -1, used = 0;
    for (int i = 0; i < m->n_slots; i++) {
        if (with[i]) {
            lo = i < lo ? i : lo;
            hi = i;
        }
    }
    for (int i = lo; i <= hi; i++) {
        struct slot *s = &m->slots[i];
        if (with[i]) {
            s->n_added = 1;
            s->i_batch = b->n_tokens;
            batch_add(b, s->next, s->n_cache, s->id, true);
            used++;
        } else if (s->n_cache < m->slot_ctx) {
            s->dummy = true;
            batch_add(b, s->n_cache ? s->cache[s->n_cache - 1] : 0, s->n_cache, s->id, false);
        }
    }
    if (used == 0)
        return 0;
    if (!decode(m))
        return atomic_load(&m->stop) ? -1 : used;
    for (int i = lo; i <= hi; i++) {
        struct slot *s = &m->slots[i];
        if (s->n_added)
            s->cache[s->n_cache++] = s->next; /* in the KV cache now */
    }
    after_decode(m);
    return used;
}

/* The pending tokens of every generating slot: those that would take the split kernel
 * alone (splits()) one call each, the others in one call together. Returns the number of
 * tokens generated, or -1 when a call failed with the engine closing. */
static int step_generate(struct sg_llm *m)
{
    bool together[SG_LLM_MAX_PARALLEL] = {false}, alone[SG_LLM_MAX_PARALLEL] = {false};
    for (int i = 0; i < m->n_slots; i++) {
        struct slot *s = &m->slots[i];
        if (s->job && s->generating)
            *(splits(m, s) ? &alone[i] : &together[i]) = true;
    }
    int used = generate(m, together);
    for (int i = 0; i < m->n_slots && used >= 0; i++) {
        if (!alone[i] || !m->slots[i].job)
            continue;
        bool one[SG_LLM_MAX_PARALLEL] = {false};
        one[i] = true;
        int n = generate(m, one);
        used = n < 0 ? -1 : used + n;
    }
    return used;
}

/* The tokens of slot s's next prompt chunk when `budget` tokens fit in this step, 0 when
 * none fit (see Determinism). On a GPU, whose kernels are not batch invariant anyway: as
 * many as fit. In the tiled part of the prompt: whole tiles, as many as fit. In the rest
 * (fewer than a tile, or any length when m->tile is 0): at most a tile less one, all of
 * them when they fit, else as many as fit without leaving exactly one for the last chunk
 * (n-2 then 2 rather than n-1 then 1), so the rest is read in one-token chunks only when it
 * is one token long. *tiled says which part the chunk is of. */
static int chunk_len(const struct sg_llm *m, const struct slot *s, int budget, bool *tiled)
{
    int n = s->job->n_tokens, end = tiled_end(m, n), left;
    *tiled = s->n_done < end;
    if (m->gpu) {
        left = n - s->n_done;
        return left < budget ? left : budget;
    }
    if (*tiled) {
        left = end - s->n_done < budget ? end - s->n_done : budget;
        return left - left % m->tile;
    }
    left = n - s->n_done;
    int cap = budget < SG_FA_TILE - 1 ? budget : SG_FA_TILE - 1;
    if (left <= cap)
        return left;
    int k = left - cap == 1 ? cap - 1 : cap;
    return k >= 2 ? k : 0;
}

/* One llama_decode of the next n prompt tokens of each slot marked in `with` (laid out in
 * slot order, so that consecutive ones share a micro-batch). Every stream then has its n
 * tokens in one micro-batch, since they fit in n_batch = n_ubatch tokens. Returns false
 * when the call failed with the engine closing. */
static bool step_prompt(struct sg_llm *m, const bool *with, int n, bool tiled)
{
    struct llama_batch *b = &m->batch;
    b->n_tokens = 0;
    for (int i = 0; i < m->n_slots; i++) {
        struct slot *s = &m->slots[i];
        if (!with[i])
            continue;
        for (int k = 0; k < n; k++) {
            int t = s->n_done + k;
            batch_add(b, s->job->tokens[t], s->n_cache + k, s->id, t == s->job->n_tokens - 1);
        }
        s->n_added = n;
        s->i_batch = s->n_done + n == s->job->n_tokens ? b->n_tokens - 1 : -1;
    }
    if (!decode(m)) {
        for (int i = 0; i < m->n_slots; i++)
            if (with[i])
                m->slots[i].i_batch = -1;
        return !atomic_load(&m->stop);
    }
    for (int i = 0; i < m->n_slots; i++) {
        struct slot *s = &m->slots[i];
        if (!with[i] || s->n_added == 0)
            continue;
        memcpy(s->cache + s->n_cache, s->job->tokens + s->n_done, (size_t)n * sizeof(llama_token));
        s->n_cache += n;
        s->n_done += n;
        if (n >= 2 && s->n_exact == s->n_cache - n)
            s->n_exact = s->n_cache;
        if (tiled && s->n_tiled == s->n_cache - n)
            s->n_tiled = s->n_cache;
        atomic_fetch_add(&m->st_prompt, (uint64_t)n);
    }
    after_decode(m);
    return true;
}

/* Whether slot c reads its prompt and has not read a chunk in this step. */
static bool reading(const struct slot *c, const bool *read)
{
    return c->job && !c->generating && !read[c->id] && c->n_done < c->job->n_tokens &&
           !atomic_load(&c->job->cancelled);
}

/* One decode step over all busy slots: first one llama_decode of the next token of every
 * generating slot, then prompt chunks of the slots reading their prompts, oldest job first,
 * until n_batch tokens were decoded in the step. Prompt chunks never share a call with
 * generated tokens, only with chunks of the same part of their prompts and the same length
 * (see Determinism and chunk_len). The oldest reading slot sets the chunk length n; other
 * reading slots join its call when n tokens of that part of theirs fit and, in the rest, do
 * not leave exactly one (prompts that arrive together are read together, as one
 * micro-batch when they are as long and in consecutive slots). */
static void step(struct sg_llm *m)
{
    bool read[SG_LLM_MAX_PARALLEL] = {false}; /* slots that read a chunk in this step */
    for (int i = 0; i < m->n_slots; i++) {
        struct slot *s = &m->slots[i];
        s->i_batch = -1;
        s->n_added = 0;
        s->dummy = false;
        if (s->job && atomic_load(&s->job->cancelled))
            slot_free(m, s);
    }
    int used = step_generate(m);
    if (used < 0)
        return;
    int budget = m->n_batch - used;
    for (;;) {
        struct slot *s = NULL;
        for (int i = 0; i < m->n_slots; i++) {
            struct slot *c = &m->slots[i];
            if (reading(c, read) && (!s || c->order < s->order))
                s = c;
        }
        if (!s)
            break;
        read[s->id] = true;
        bool tiled;
        int n = chunk_len(m, s, budget, &tiled);
        if (n == 0)
            continue;
        budget -= n;
        bool with[SG_LLM_MAX_PARALLEL] = {false};
        with[s->id] = true;
        /* others join with a chunk of the same part and length; a one-token chunk never */
        for (int i = 0; i < m->n_slots && budget >= n && n >= 2; i++) {
            struct slot *c = &m->slots[i];
            if (!reading(c, read))
                continue;
            int len = c->job->n_tokens, end = tiled_end(m, len);
            int left = tiled ? end - c->n_done : c->n_done >= end ? len - c->n_done : 0;
            if (left >= n && (tiled || left - n != 1)) {
                with[i] = read[i] = true;
                budget -= n;
            }
        }
        if (!step_prompt(m, with, n, tiled))
            return;
    }
}

/* ---------------------------------------------------------------------------------------
 * the decode thread: embeddings */

static int embd_context(struct sg_llm *m)
{
    if (m->ectx)
        return 0;
    if (m->embd_failed)
        return -1;
    struct llama_context_params cp = llama_context_default_params();
    cp.n_ctx = (uint32_t)m->embd_ctx;
    cp.n_batch = (uint32_t)m->embd_chunk;
    cp.n_ubatch = (uint32_t)m->embd_chunk;
    cp.n_seq_max = 1;
    cp.n_threads = m->n_threads;
    cp.n_threads_batch = m->n_threads;
    cp.embeddings = true;
    /* a generative model's default is no pooling: the mean is taken here, chunk by chunk */
    cp.pooling_type =
        m->embd_native_pool ? LLAMA_POOLING_TYPE_MEAN : LLAMA_POOLING_TYPE_UNSPECIFIED;
    cp.flash_attn_type = m->gpu ? LLAMA_FLASH_ATTN_TYPE_AUTO : LLAMA_FLASH_ATTN_TYPE_DISABLED;
    cp.no_perf = true;
    cp.abort_callback = abort_cb;
    cp.abort_callback_data = m;
    m->ectx = llama_init_from_model(m->model, cp);
    if (m->ectx && !m->embd_native_pool && llama_pooling_type(m->ectx) != LLAMA_POOLING_TYPE_NONE) {
        llama_free(m->ectx); /* pools by itself after all: one micro-batch, llama.cpp's mean */
        m->embd_native_pool = true;
        m->embd_chunk = m->embd_ctx;
        cp.n_batch = cp.n_ubatch = (uint32_t)m->embd_ctx;
        cp.pooling_type = LLAMA_POOLING_TYPE_MEAN;
        m->ectx = llama_init_from_model(m->model, cp);
    }
    if (m->ectx)
        m->ebatch = llama_batch_init(m->embd_chunk, 0, 1);
    if (!m->ectx || !m->ebatch.token) {
        m->embd_failed = true;
        sg_log(SG_LOG_ERROR, "engine_embeddings", "cannot create the embedding context");
        return -1;
    }
    return 0;
}

static void run_embedding(struct sg_llm *m, struct sg_llm_job *j)
{
    if (atomic_load(&j->cancelled)) {
        job_drop(j);
        return;
    }
    if (embd_context(m) != 0) {
        deliver_error(j, "embeddings are not available");
        job_drop(j);
        return;
    }
    llama_memory_clear(llama_get_memory(m->ectx), true);
    for (int i = 0; i < m->n_embd; i++)
        m->esum[i] = 0.0;
    const char *bad = NULL;
    for (int at = 0; at < j->n_tokens && !bad; at += m->embd_chunk) {
        int n = j->n_tokens - at < m->embd_chunk ? j->n_tokens - at : m->embd_chunk;
        m->ebatch.n_tokens = 0;
        for (int k = 0; k < n; k++)
            batch_add(&m->ebatch, j->tokens[at + k], at + k, 0, true);
        bool enc = llama_model_has_encoder(m->model) && !llama_model_has_decoder(m->model);
        int rc = enc ? llama_encode(m->ectx, m->ebatch) : llama_decode(m->ectx, m->ebatch);
        if (rc != 0) {
            bad = "the model could not process the input";
            break;
        }
        if (m->embd_native_pool) {
            const float *e = llama_get_embeddings_seq(m->ectx, 0);
            if (!e) {
                bad = "the model gave no embedding";
                break;
            }
            for (int i = 0; i < m->n_embd; i++)
                m->esum[i] = e[i];
            continue;
        }
        for (int k = 0; k < n && !bad; k++) {
            const float *e = llama_get_embeddings_ith(m->ectx, k);
            if (!e)
                bad = "the model gave no embedding";
            for (int i = 0; e && i < m->n_embd; i++)
                m->esum[i] += e[i];
        }
    }
    if (bad) {
        if (!atomic_load(&m->stop))
            deliver_error(j, bad);
        job_drop(j);
        return;
    }
    double norm = 0.0, scale = m->embd_native_pool ? 1.0 : 1.0 / j->n_tokens;
    for (int i = 0; i < m->n_embd; i++) {
        m->esum[i] *= scale;
        norm += m->esum[i] * m->esum[i];
    }
    norm = sqrt(norm);
    for (int i = 0; i < m->n_embd; i++)
        m->evec[i] = (float)(norm > 0.0 ? m->esum[i] / norm : 0.0);
    struct sg_llm_event ev = {
        .kind = SG_LLM_EMBEDDING,
        .prompt_tokens = j->n_tokens,
        .embedding = m->evec,
        .dim = m->n_embd,
    };
    deliver(j, &ev, true);
    job_drop(j);
}

/* ---------------------------------------------------------------------------------------
 * the decode thread: the loop */

static bool any_busy(const struct sg_llm *m)
{
    for (int i = 0; i < m->n_slots; i++)
        if (m->slots[i].job)
            return true;
    return false;
}

static int free_slots(const struct sg_llm *m)
{
    int n = 0;
    for (int i = 0; i < m->n_slots; i++)
        n += m->slots[i].job == NULL;
    return n;
}

/* Pops the head of a queue (under m->mu), dropping cancelled jobs on the way. */
static struct sg_llm_job *pop(struct sg_llm *m, struct sg_llm_job **head, struct sg_llm_job **tail)
{
    while (*head) {
        struct sg_llm_job *j = *head;
        *head = j->next;
        if (!*head)
            *tail = NULL;
        j->next = NULL;
        atomic_fetch_sub(&m->st_queued, 1);
        if (!atomic_load(&j->cancelled))
            return j;
        job_drop(j);
    }
    return NULL;
}

static void *decode_main(void *arg)
{
    struct sg_llm *m = arg;
    struct sg_llm_job *taken[SG_LLM_MAX_PARALLEL];
    log_engine = m;
    for (;;) {
        pthread_mutex_lock(&m->mu);
        bool busy = any_busy(m);
        while (!atomic_load(&m->stop) && !busy && !m->q_head && !m->e_head)
            pthread_cond_wait(&m->cv, &m->mu);
        if (atomic_load(&m->stop)) {
            pthread_mutex_unlock(&m->mu);
            break;
        }
        struct sg_llm_job *emb = pop(m, &m->e_head, &m->e_tail);
        int n_taken = 0, room = free_slots(m);
        while (n_taken < room) {
            struct sg_llm_job *j = pop(m, &m->q_head, &m->q_tail);
            if (!j)
                break;
            taken[n_taken++] = j;
        }
        pthread_mutex_unlock(&m->mu);

        for (int i = 0; i < n_taken; i++)
            slot_assign(m, taken[i]);
        if (emb)
            run_embedding(m, emb);
        if (any_busy(m))
            step(m);
    }
    /* closing: end every job without another event */
    for (int i = 0; i < m->n_slots; i++) {
        struct slot *s = &m->slots[i];
        if (s->job) {
            sg_llm_cancel(s->job);
            slot_free(m, s);
        }
    }
    return NULL;
}
