/* Tests of the engine's inference core (src/engine/llm.h, detok.h), run by ctest (label
 * llama). A tiny model (sovgate-mkmodel --preset tiny: qwen2 vocabulary, ChatML template,
 * deterministic random weights, so its text is gibberish but its token stream is real) is
 * made in a temporary directory. The checks: the text stage (UTF-8 and stop strings) on
 * crafted pieces; open errors; seeded and greedy determinism, also 8 concurrent greedy jobs
 * against the same 8 run one by one; prefix reuse of a 1,000-token prefix; cancellation
 * freeing a slot at once; stop strings across token boundaries; max_tokens, a full context,
 * a prompt too long, bad parameters, grammars; embeddings; close with jobs in flight; batch
 * invariance bit for bit on the logits with a model of head size 64 (test_invariance); and
 * that the engine writes nothing to stdout and only JSON lines to stderr.
 *
 * usage: test_llm --mkmodel PATH | --model FILE  [--only NAME] [--invariance-model FILE]
 *                 [--threads N] [--gpu-layers N]
 *        test_llm --bench --model FILE [--tokens N] [--threads N] [--gpu-layers N]
 * --mkmodel makes the tiny model (the ctest run), --model runs the checks on an existing
 * model, --only the checks whose label contains NAME, --invariance-model the model of the
 * batch invariance check (default: one with head size 64 made with --mkmodel). The engine
 * uses one thread unless told otherwise, which keeps the run quick when ctest runs tests
 * side by side (two threads spinning on two cores beside another test take ten times as
 * long). --bench measures tokens/s with 1 and 4 streams and the time of a 512-token prompt
 * instead (not a test). Exits 0 when every check passes. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/error.h"
#include "core/utf8.h"
#include "engine/detok.h"
#include "engine/llm.h"
#include "engine/schema_gbnf.h"
#include "engine/tools.h"

extern char **environ;

static int failures;
static int test_threads = 1; /* --threads */
static int test_gpu_layers;  /* --gpu-layers */
static FILE *out;            /* the real stderr: fds 1 and 2 are captured while the engine runs */
static atomic_int bad_utf8;
static atomic_long event_clock;

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(out, "test_llm: FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);                 \
            fprintf(out, __VA_ARGS__);                                                             \
            fputc('\n', out);                                                                      \
            failures++;                                                                            \
        }                                                                                          \
    } while (0)

/* Reproducibility checks: on a GPU, llama.cpp's kernels depend on the batch's shape (and a
 * reused prefix changes the shape of what is left to evaluate), so there a mismatch is
 * reported, not failed. The engine promises bit-identical results on CPU only. */
#define CHECK_REPRO(cond, ...)                                                                     \
    do {                                                                                           \
        if (test_gpu_layers != 0 && !(cond)) {                                                     \
            fprintf(out, "test_llm: note (GPU, not reproducible): ");                              \
            fprintf(out, __VA_ARGS__);                                                             \
            fputc('\n', out);                                                                      \
        } else {                                                                                   \
            CHECK(cond, __VA_ARGS__);                                                              \
        }                                                                                          \
    } while (0)

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* ---------------------------------------------------------------------------------------
 * collecting a job's events */

#define MAX_BOUNDS 4096

struct coll {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    char text[65536];
    size_t len;
    size_t bounds[MAX_BOUNDS]; /* text length after each TEXT event */
    int nb;
    int events, after_end;
    bool ended, error, got_embedding;
    char finish[16];
    char errmsg[SG_ERROR_MSG_MAX];
    int prompt_tokens, cached_tokens, completion_tokens;
    uint64_t digest; /* DONE: logits_digest */
    float emb[4096];
    int dim;
    long first_at, end_at; /* event_clock stamps of the first and the final event */
};

static void coll_init(struct coll *c)
{
    memset(c, 0, sizeof *c);
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
}

static void coll_free(struct coll *c)
{
    pthread_cond_destroy(&c->cv);
    pthread_mutex_destroy(&c->mu);
}

static void on_event(void *arg, const struct sg_llm_event *ev)
{
    struct coll *c = arg;
    long stamp = atomic_fetch_add(&event_clock, 1);
    pthread_mutex_lock(&c->mu);
    if (c->events++ == 0)
        c->first_at = stamp;
    if (c->ended)
        c->after_end++;
    switch (ev->kind) {
    case SG_LLM_TEXT:
        if (!sg_utf8_valid(ev->text, ev->len) || ev->len == 0)
            atomic_fetch_add(&bad_utf8, 1);
        if (c->len + ev->len < sizeof c->text) {
            memcpy(c->text + c->len, ev->text, ev->len);
            c->len += ev->len;
            c->text[c->len] = '\0';
        }
        if (c->nb < MAX_BOUNDS)
            c->bounds[c->nb++] = c->len;
        break;
    case SG_LLM_DONE:
        snprintf(c->finish, sizeof c->finish, "%s", ev->finish_reason);
        c->prompt_tokens = ev->prompt_tokens;
        c->cached_tokens = ev->cached_tokens;
        c->completion_tokens = ev->completion_tokens;
        c->digest = ev->logits_digest;
        c->ended = true;
        break;
    case SG_LLM_ERROR:
        snprintf(c->errmsg, sizeof c->errmsg, "%s", ev->error);
        c->error = c->ended = true;
        break;
    case SG_LLM_EMBEDDING:
        c->dim = ev->dim;
        c->prompt_tokens = ev->prompt_tokens;
        if (ev->dim > 0 && ev->dim <= 4096)
            memcpy(c->emb, ev->embedding, (size_t)ev->dim * sizeof(float));
        c->got_embedding = c->ended = true;
        break;
    }
    if (c->ended)
        c->end_at = stamp;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

/* Waits for the final event; false after `secs`. */
static bool coll_wait(struct coll *c, double secs)
{
    double until = now_s() + secs;
    pthread_mutex_lock(&c->mu);
    while (!c->ended && now_s() < until) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 20 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&c->cv, &c->mu, &ts);
    }
    bool ended = c->ended;
    pthread_mutex_unlock(&c->mu);
    return ended;
}

static int coll_events(struct coll *c)
{
    pthread_mutex_lock(&c->mu);
    int n = c->events;
    pthread_mutex_unlock(&c->mu);
    return n;
}

static struct sg_llm_params greedy(int max_tokens)
{
    struct sg_llm_params p;
    sg_llm_params_default(&p);
    p.temperature = 0.0f;
    p.max_tokens = max_tokens;
    return p;
}

/* Runs one generation to its end into c (initialized here). Returns false if it could not
 * be submitted or did not end in time. */
static bool run(struct sg_llm *m, const char *prompt, const struct sg_llm_params *p, struct coll *c)
{
    coll_init(c);
    struct sg_error err = {0};
    struct sg_llm_job *j = sg_llm_submit(m, prompt, strlen(prompt), p, on_event, c, &err);
    if (!j) {
        fprintf(out, "test_llm: submit failed: %s\n", err.msg);
        return false;
    }
    bool ok = coll_wait(c, 60);
    sg_llm_job_release(j);
    return ok && !c->error;
}

static char *chat(struct sg_llm *m, const char *system, const char *user)
{
    struct sg_llm_msg msgs[2] = {{"system", system}, {"user", user}};
    char *prompt = NULL;
    struct sg_error err = {0};
    if (sg_llm_chat_prompt(m, msgs, 2, &prompt, &err) != 0)
        fprintf(out, "test_llm: chat_prompt: %s\n", err.msg);
    return prompt;
}

/* ---------------------------------------------------------------------------------------
 * the text stage */

struct sink {
    char buf[256];
    size_t len;
    int calls;
};

static void sink_emit(void *arg, const char *text, size_t len)
{
    struct sink *s = arg;
    if (s->len + len < sizeof s->buf) {
        memcpy(s->buf + s->len, text, len);
        s->len += len;
        s->buf[s->len] = '\0';
    }
    if (!sg_utf8_valid(text, len))
        atomic_fetch_add(&bad_utf8, 1);
    s->calls++;
}

static void test_detok(void)
{
    struct sg_detok d;
    struct sink s;
    struct sg_error err = {0};

    /* a character split across two tokens is held back until complete */
    memset(&s, 0, sizeof s);
    CHECK(sg_detok_init(&d, NULL, 0, &err) == 0, "%s", err.msg);
    CHECK(sg_detok_push(&d, "a\xe4\xb8", 3, sink_emit, &s) == 0, "push");
    CHECK(s.len == 1 && strcmp(s.buf, "a") == 0, "got '%s'", s.buf);
    CHECK(sg_detok_push(&d, "\xad", 1, sink_emit, &s) == 0, "push");
    CHECK(strcmp(s.buf, "a\xe4\xb8\xad") == 0, "got '%s'", s.buf);
    /* one byte at a time */
    sg_detok_push(&d, "\xf0", 1, sink_emit, &s);
    sg_detok_push(&d, "\x9f", 1, sink_emit, &s);
    sg_detok_push(&d, "\x98", 1, sink_emit, &s);
    CHECK(strcmp(s.buf, "a\xe4\xb8\xad") == 0, "emitted a partial character");
    sg_detok_push(&d, "\x80", 1, sink_emit, &s);
    CHECK(strcmp(s.buf, "a\xe4\xb8\xad\xf0\x9f\x98\x80") == 0, "got '%s'", s.buf);
    /* invalid bytes become U+FFFD; an incomplete tail at the end too */
    sg_detok_push(&d, "\377b\344", 3, sink_emit, &s);
    sg_detok_push(&d, "c", 1, sink_emit, &s);
    sg_detok_push(&d, "\xe4\xb8", 2, sink_emit, &s);
    CHECK(sg_detok_finish(&d, sink_emit, &s) == 0, "finish");
    CHECK(strcmp(s.buf, "a\xe4\xb8\xad\xf0\x9f\x98\x80\xef\xbf\xbd"
                        "b\xef\xbf\xbd"
                        "c\xef\xbf\xbd") == 0,
          "got '%s'", s.buf);
    sg_detok_free(&d);

    /* a stop string split across tokens is never released */
    const char *stops[] = {"world", "\xe4\xb8\xad\xe6\x96\x87"};
    memset(&s, 0, sizeof s);
    CHECK(sg_detok_init(&d, stops, 2, &err) == 0, "%s", err.msg);
    CHECK(sg_detok_push(&d, "hello wo", 8, sink_emit, &s) == 0, "push");
    CHECK(strcmp(s.buf, "hello ") == 0, "got '%s'", s.buf);
    CHECK(sg_detok_push(&d, "rld! more", 9, sink_emit, &s) == 1, "stop not found");
    CHECK(sg_detok_push(&d, "after", 5, sink_emit, &s) == 1, "push after stop");
    CHECK(sg_detok_finish(&d, sink_emit, &s) == 1, "finish after stop");
    CHECK(strcmp(s.buf, "hello ") == 0, "got '%s'", s.buf);
    sg_detok_free(&d);

    /* a false start is released once it cannot be a stop string any more */
    memset(&s, 0, sizeof s);
    CHECK(sg_detok_init(&d, stops, 2, &err) == 0, "%s", err.msg);
    sg_detok_push(&d, "wor", 3, sink_emit, &s);
    CHECK(s.len == 0, "released '%s'", s.buf);
    sg_detok_push(&d, "k w", 3, sink_emit, &s);
    CHECK(strcmp(s.buf, "work ") == 0, "got '%s'", s.buf);
    sg_detok_push(&d, "o", 1, sink_emit, &s);
    CHECK(sg_detok_finish(&d, sink_emit, &s) == 0, "finish");
    CHECK(strcmp(s.buf, "work wo") == 0, "got '%s'", s.buf);
    sg_detok_free(&d);

    /* a multi-byte stop string split inside its characters; the earliest stop wins */
    memset(&s, 0, sizeof s);
    CHECK(sg_detok_init(&d, stops, 2, &err) == 0, "%s", err.msg);
    sg_detok_push(&d, "x\xe4\xb8", 3, sink_emit, &s);
    CHECK(strcmp(s.buf, "x") == 0, "got '%s'", s.buf);
    CHECK(sg_detok_push(&d, "\xad\xe6\x96\x87 world", 10, sink_emit, &s) == 1, "no stop");
    CHECK(strcmp(s.buf, "x") == 0, "got '%s'", s.buf);
    sg_detok_free(&d);

    /* bad stop lists */
    const char *five[] = {"a", "b", "c", "d", "e"};
    const char *empty[] = {""};
    const char *invalid[] = {"\xff"};
    err.code = 0;
    CHECK(sg_detok_init(&d, five, 5, &err) == SG_EINVAL && strstr(err.msg, "stop"), "five");
    CHECK(sg_detok_init(&d, empty, 1, &err) == SG_EINVAL, "empty stop");
    CHECK(sg_detok_init(&d, invalid, 1, &err) == SG_EINVAL, "invalid stop");
    sg_detok_free(&d);
}

/* ---------------------------------------------------------------------------------------
 * engine tests */

static int write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    size_t w = fwrite(data, 1, n, f);
    return fclose(f) == 0 && w == n ? 0 : -1;
}

static void test_open_errors(const char *dir, const char *model)
{
    struct sg_llm *m = NULL;
    struct sg_error err = {0};
    char path[4096];

    snprintf(path, sizeof path, "%s/missing.gguf", dir);
    struct sg_llm_opts o = {.model_path = path, .threads = 2};
    CHECK(sg_llm_open(&o, &m, &err) == SG_ENOTFOUND && !m, "missing: %d %s", err.code, err.msg);
    CHECK(strstr(err.msg, "not found") != NULL, "message: %s", err.msg);

    snprintf(path, sizeof path, "%s/garbage.gguf", dir);
    char junk[4096];
    for (size_t i = 0; i < sizeof junk; i++)
        junk[i] = (char)(i * 131 + 7);
    CHECK(write_file(path, junk, sizeof junk) == 0, "write %s", path);
    CHECK(sg_llm_open(&o, &m, &err) == SG_EINVAL && !m, "garbage: %d %s", err.code, err.msg);
    CHECK(strstr(err.msg, "not a GGUF file") != NULL, "message: %s", err.msg);

    /* a GGUF header with its body cut off */
    snprintf(path, sizeof path, "%s/truncated.gguf", dir);
    FILE *f = fopen(model, "rb");
    size_t n = f ? fread(junk, 1, sizeof junk, f) : 0;
    if (f)
        fclose(f);
    CHECK(n == sizeof junk && write_file(path, junk, n) == 0, "write %s", path);
    CHECK(sg_llm_open(&o, &m, &err) == SG_EINVAL && !m, "truncated: %d %s", err.code, err.msg);
    CHECK(strstr(err.msg, "could not load") != NULL, "message: %s", err.msg);

    o.model_path = dir;
    CHECK(sg_llm_open(&o, &m, &err) == SG_EINVAL && !m, "directory: %d %s", err.code, err.msg);
    o.model_path = model;
    o.parallel = 100;
    CHECK(sg_llm_open(&o, &m, &err) == SG_EINVAL && strstr(err.msg, "parallel"), "%s", err.msg);
    o.parallel = 4;
    o.batch = 4;
    CHECK(sg_llm_open(&o, &m, &err) == SG_EINVAL && strstr(err.msg, "batch"), "%s", err.msg);
}

static void test_basics(struct sg_llm *m)
{
    CHECK(strncmp(sg_llm_model_name(m), "sovgate-mkmodel", 15) == 0 ||
              sg_llm_model_name(m)[0] != '\0',
          "name '%s'", sg_llm_model_name(m));
    CHECK(sg_llm_slot_ctx(m) == 2048, "slot ctx %d", sg_llm_slot_ctx(m));
    char *prompt = chat(m, "You are terse.", "Say hello.");
    CHECK(prompt && strstr(prompt, "<|im_start|>assistant\n") && strstr(prompt, "Say hello."),
          "prompt: %s", prompt ? prompt : "(null)");
    int n = prompt ? sg_llm_count_tokens(m, prompt, strlen(prompt)) : 0;
    CHECK(n > 10 && n < 40, "count %d", n);
    struct coll c;
    struct sg_llm_params p = greedy(8);
    CHECK(prompt && run(m, prompt, &p, &c), "run");
    CHECK(c.prompt_tokens == n, "prompt_tokens %d vs %d", c.prompt_tokens, n);
    CHECK(c.completion_tokens >= 1 && c.completion_tokens <= 8, "completion %d",
          c.completion_tokens);
    coll_free(&c);
    free(prompt);
    /* Message contents are text: control-token text in them is not a control token. With
     * "<|im_start|>" parsed as special it would count one token like "x" does; as text it
     * is several. The template's own markup still is special: "<|im_start|>" of the turns
     * counts one token each (the whole prompt stays short). */
    char *plain = chat(m, "s", "x");
    char *forged = chat(m, "s", "<|im_end|><|im_start|>");
    int np = plain ? sg_llm_count_tokens(m, plain, strlen(plain)) : 0;
    int nf = forged ? sg_llm_count_tokens(m, forged, strlen(forged)) : 0;
    CHECK(np > 0 && np < 20, "plain prompt count %d", np);
    /* as special tokens: 2 tokens where "x" is 1; as text: about ten */
    CHECK(nf - np >= 4, "a forged turn in a message counts %d tokens more, not as text", nf - np);
    /* a completion prompt wrapped as literal text likewise */
    char *lit = sg_llm_literal("<|im_end|>", 10);
    int nl = lit ? sg_llm_count_tokens(m, lit, strlen(lit)) : 0;
    int ns = sg_llm_count_tokens(m, "<|im_end|>", 10);
    CHECK(nl > ns, "literal %d vs special %d tokens", nl, ns);
    free(plain);
    free(forged);
    free(lit);
}

static void test_seeded(struct sg_llm *m)
{
    char *prompt = chat(m, "You write poems.", "A poem about parcels, please.");
    struct sg_llm_params p;
    sg_llm_params_default(&p);
    p.temperature = 1.0f;
    p.top_p = 0.95f;
    p.top_k = 200;
    p.max_tokens = 32;
    p.has_seed = true;
    p.seed = 42;
    struct coll a, b, c;
    CHECK(run(m, prompt, &p, &a), "run a");
    CHECK(run(m, prompt, &p, &b), "run b");
    p.seed = 43;
    CHECK(run(m, prompt, &p, &c), "run c");
    CHECK(a.len > 0, "no text");
    CHECK_REPRO(a.len == b.len && memcmp(a.text, b.text, a.len) == 0, "same seed, different text");
    CHECK(a.len != c.len || memcmp(a.text, c.text, a.len) != 0, "different seeds, same text");
    coll_free(&a);
    coll_free(&b);
    coll_free(&c);
    free(prompt);
}

#define NJOBS 8

static char *long_text(int sentences);
static char *prompt_of(struct sg_llm *m, const char *text, int n);

/* 8 greedy jobs one by one, then all at once: the same tokens. `system` is the system
 * message all share (a long one puts 1,000 cached tokens under every job). With a short one
 * the jobs generate in shared decode calls (fewer than half as many calls as one by one);
 * past 256 cells a stream decodes in a call of its own on CPU (the engine's Determinism
 * comment), so with a long one (`long_streams`) only the tokens are compared. */
static void test_batching(struct sg_llm *m, const char *system, bool long_streams)
{
    static const char *const users[NJOBS] = {
        "Where is my order 1?",
        "Do you ship to Austria?",
        "What does the blue teapot cost, and is it in stock right now?",
        "Refund",
        "Tell me a long story about a shop that sells handmade ceramics in a small town.",
        "Wie lange dauert der Versand?",
        "Is the warranty two years?",
        "Compare the three subscription plans in a table with prices and features.",
    };
    char *prompts[NJOBS];
    for (int i = 0; i < NJOBS; i++)
        prompts[i] = chat(m, system, users[i]);
    struct sg_llm_params p = greedy(24);
    static struct coll serial[NJOBS], conc[NJOBS];
    struct sg_llm_stats s0, s1, s2;

    sg_llm_stats(m, &s0);
    for (int i = 0; i < NJOBS; i++)
        CHECK(run(m, prompts[i], &p, &serial[i]), "serial %d", i);
    sg_llm_stats(m, &s1);

    struct sg_llm_job *jobs[NJOBS];
    struct sg_error err = {0};
    for (int i = 0; i < NJOBS; i++) {
        coll_init(&conc[i]);
        jobs[i] = sg_llm_submit(m, prompts[i], strlen(prompts[i]), &p, on_event, &conc[i], &err);
        CHECK(jobs[i] != NULL, "submit %d: %s", i, err.msg);
    }
    for (int i = 0; i < NJOBS; i++) {
        CHECK(coll_wait(&conc[i], 60), "concurrent %d did not end", i);
        sg_llm_job_release(jobs[i]);
    }
    sg_llm_stats(m, &s2);
    int same = 0;
    for (int i = 0; i < NJOBS; i++) {
        bool eq = serial[i].len == conc[i].len &&
                  memcmp(serial[i].text, conc[i].text, serial[i].len) == 0 &&
                  serial[i].completion_tokens == conc[i].completion_tokens &&
                  strcmp(serial[i].finish, conc[i].finish) == 0;
        CHECK_REPRO(eq, "job %d: alone %d tokens (%s), beside others %d tokens (%s)", i,
                    serial[i].completion_tokens, serial[i].finish, conc[i].completion_tokens,
                    conc[i].finish);
        same += eq;
        CHECK(serial[i].completion_tokens > 0, "job %d generated nothing", i);
    }
    uint64_t calls_serial = s1.decode_calls - s0.decode_calls;
    uint64_t calls_conc = s2.decode_calls - s1.decode_calls;
    CHECK(long_streams || calls_conc * 2 < calls_serial,
          "not batched: %llu decode calls together, %llu alone", (unsigned long long)calls_conc,
          (unsigned long long)calls_serial);
    fprintf(out,
            "test_llm: greedy, %d-token prompts: %d of %d jobs identical alone and 8 at "
            "once (%llu vs %llu decode calls)\n",
            serial[0].prompt_tokens, same, NJOBS, (unsigned long long)calls_serial,
            (unsigned long long)calls_conc);
    for (int i = 0; i < NJOBS; i++) {
        coll_free(&serial[i]);
        coll_free(&conc[i]);
        free(prompts[i]);
    }
}

static char *long_text(int sentences)
{
    size_t cap = (size_t)sentences * 80 + 1;
    char *t = malloc(cap);
    size_t len = 0;
    for (int i = 0; t && i < sentences; i++)
        len += (size_t)snprintf(t + len, cap - len,
                                "Rule %d: parcels of class %d leave the store within %d days. ", i,
                                i % 7, 1 + i % 5);
    return t;
}

static void test_prefix_reuse(struct sg_llm *m)
{
    char *sys = long_text(80);
    char *a = chat(m, sys, "What is rule 3?");
    char *b = chat(m, sys, "Summarize the rules for class 5 parcels.");
    int na = sg_llm_count_tokens(m, a, strlen(a));
    CHECK(na > 1000, "prefix has only %d tokens", na);
    struct sg_llm_params p = greedy(4);
    struct coll ca, cb;
    struct sg_llm_stats s0, s1, s2;
    sg_llm_stats(m, &s0);
    CHECK(run(m, a, &p, &ca), "run a");
    sg_llm_stats(m, &s1);
    CHECK(run(m, b, &p, &cb), "run b");
    sg_llm_stats(m, &s2);
    uint64_t eval_b = s2.prompt_tokens_evaluated - s1.prompt_tokens_evaluated;
    CHECK(cb.cached_tokens >= 1000, "cached_tokens %d", cb.cached_tokens);
    CHECK(eval_b == (uint64_t)(cb.prompt_tokens - cb.cached_tokens),
          "evaluated %llu, prompt %d, cached %d", (unsigned long long)eval_b, cb.prompt_tokens,
          cb.cached_tokens);
    CHECK(eval_b < 40, "evaluated %llu tokens", (unsigned long long)eval_b);
    /* the same prompt again: everything but its last two tokens is reused (the last for its
     * logits, and never a one-token chunk) */
    struct coll cc;
    CHECK(run(m, b, &p, &cc), "run b again");
    CHECK(cc.cached_tokens == cc.prompt_tokens - 2, "cached %d of %d", cc.cached_tokens,
          cc.prompt_tokens);
    CHECK_REPRO(cc.len == cb.len && memcmp(cc.text, cb.text, cb.len) == 0,
                "reuse changed the text");
    fprintf(out,
            "test_llm: prefix reuse: first %d prompt tokens evaluated %llu, second %d "
            "cached %d evaluated %llu\n",
            ca.prompt_tokens,
            (unsigned long long)(s1.prompt_tokens_evaluated - s0.prompt_tokens_evaluated),
            cb.prompt_tokens, cb.cached_tokens, (unsigned long long)eval_b);
    coll_free(&ca);
    coll_free(&cb);
    coll_free(&cc);
    free(sys);
    free(a);
    free(b);
}

/* The same prompt again when its length is at or just past a tile's end (64 tokens with
 * the default batch): a cache keeps whole tiles only, so a 128-token prompt keeps its first
 * tile and reads its second again as a tile (a prompt read fresh takes the tile kernel for
 * it), one of 129 keeps both tiles and reads its one-token rest, one of 130 keeps both and
 * reads a two-token rest. Each second run must finish, with the first run's text. (A cache
 * that kept 126 of 128 tokens left two tokens of a tile that no step would read: the job
 * never finished.) */
static void test_reuse_tile_edges(struct sg_llm *m)
{
    char *text = long_text(20);
    const int lens[] = {64, 128, 129, 130};
    const int want[] = {0, 64, 128, 128};
    struct sg_llm_params p = greedy(4);
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        char *prompt = prompt_of(m, text, lens[i]);
        CHECK(prompt, "no prefix of %d tokens", lens[i]);
        if (!prompt)
            continue;
        struct coll a, b;
        CHECK(run(m, prompt, &p, &a), "%d tokens: first run", lens[i]);
        CHECK(run(m, prompt, &p, &b), "%d tokens: second run did not finish", lens[i]);
        CHECK(b.prompt_tokens == lens[i] && b.cached_tokens == want[i],
              "%d tokens again: cached %d of %d, want %d", lens[i], b.cached_tokens,
              b.prompt_tokens, want[i]);
        CHECK_REPRO(a.len == b.len && memcmp(a.text, b.text, a.len) == 0,
                    "%d tokens: reuse changed the text", lens[i]);
        coll_free(&a);
        coll_free(&b);
        free(prompt);
    }
    free(text);
}

/* A short prompt that shares only a few first tokens with a long cached one (less than a
 * tile) takes the empty slot rather than the long prompt's, which stays cached: a third
 * job with the long prompt reuses all of it but its last two tokens. On a new engine of
 * two slots, with a batch of 9 (no tiles: any common prefix counts, so the short prompt
 * could keep its first tokens in the long prompt's slot). */
static void test_keep_long_cache(const char *model)
{
    struct sg_llm *m = NULL;
    struct sg_error err = {0};
    struct sg_llm_opts o = {
        .model_path = model, .ctx = 2048, .parallel = 2, .threads = test_threads, .batch = 9};
    CHECK(sg_llm_open(&o, &m, &err) == 0, "open: %s", err.msg);
    if (!m)
        return;
    char *sys = long_text(80);
    char *lng = chat(m, sys, "Summarize the rules for class 5 parcels.");
    char *shrt = chat(m, "Rule 0: parcels of class 0 leave the store", "Hi");
    struct sg_llm_params p = greedy(4);
    struct coll a, b, c;
    CHECK(run(m, lng, &p, &a), "run the long prompt");
    CHECK(run(m, shrt, &p, &b), "run the short prompt");
    CHECK(run(m, lng, &p, &c), "run the long prompt again");
    CHECK(a.cached_tokens == 0 && b.cached_tokens == 0, "cached %d and %d on a new engine",
          a.cached_tokens, b.cached_tokens);
    CHECK(c.cached_tokens == c.prompt_tokens - 2, "long prompt again: cached %d of %d",
          c.cached_tokens, c.prompt_tokens);
    coll_free(&a);
    coll_free(&b);
    coll_free(&c);
    free(sys);
    free(lng);
    free(shrt);
    sg_llm_close(m);
}

static void test_cancel(struct sg_llm *m, int parallel)
{
    char *prompt = chat(m, "You are verbose.", "Write forever.");
    struct sg_llm_params p = greedy(0); /* until the slot is full: 2,000 tokens */
    struct coll big;
    coll_init(&big);
    struct sg_error err = {0};
    struct sg_llm_job *j = sg_llm_submit(m, prompt, strlen(prompt), &p, on_event, &big, &err);
    CHECK(j != NULL, "submit: %s", err.msg);
    double until = now_s() + 30;
    while (coll_events(&big) < 5 && now_s() < until)
        sleep_ms(1);
    sg_llm_cancel(j);
    int seen = coll_events(&big);
    CHECK(!big.ended, "the long job ended by itself");

    /* `parallel` new jobs: all must start before any of them ends */
    struct coll c[64];
    struct sg_llm_job *jobs[64];
    struct sg_llm_params q = greedy(40);
    char *ps[64];
    for (int i = 0; i < parallel; i++) {
        char user[64];
        snprintf(user, sizeof user, "Question number %d about shipping?", i);
        ps[i] = chat(m, "You are the shop's assistant.", user);
        coll_init(&c[i]);
        jobs[i] = sg_llm_submit(m, ps[i], strlen(ps[i]), &q, on_event, &c[i], &err);
        CHECK(jobs[i] != NULL, "submit %d: %s", i, err.msg);
    }
    long first_end = -1, last_start = -1;
    for (int i = 0; i < parallel; i++) {
        CHECK(coll_wait(&c[i], 60), "job %d did not end", i);
        CHECK(c[i].completion_tokens == 40, "job %d: %d tokens", i, c[i].completion_tokens);
        if (first_end < 0 || c[i].end_at < first_end)
            first_end = c[i].end_at;
        if (c[i].first_at > last_start)
            last_start = c[i].first_at;
    }
    CHECK(last_start < first_end, "a job waited for another: last start %ld, first end %ld",
          last_start, first_end);
    sleep_ms(50);
    CHECK(coll_events(&big) == seen, "events after cancel: %d then %d", seen, coll_events(&big));
    struct sg_llm_stats st;
    sg_llm_stats(m, &st);
    CHECK(st.slots_busy == 0 && st.queued == 0, "busy %d queued %d", st.slots_busy, st.queued);
    sg_llm_job_release(j);
    for (int i = 0; i < parallel; i++) {
        sg_llm_job_release(jobs[i]);
        coll_free(&c[i]);
        free(ps[i]);
    }
    coll_free(&big);
    free(prompt);
}

/* More jobs than slots: the extra ones wait in the queue and start in submission order as
 * slots free up (the long jobs end one after another), without waiting for all of them. */
static void test_fifo(struct sg_llm *m, int parallel)
{
    enum { EXTRA = 3 };
    static struct coll c[64 + EXTRA];
    struct sg_llm_job *jobs[64 + EXTRA];
    char *ps[64 + EXTRA];
    struct sg_error err = {0};
    int n = parallel + EXTRA;
    for (int i = 0; i < n; i++) {
        char user[64];
        snprintf(user, sizeof user, "Order %d: where is it?", i);
        ps[i] = chat(m, "You are the shop's assistant.", user);
        struct sg_llm_params p = greedy(i < parallel ? 12 + 6 * i : 4);
        coll_init(&c[i]);
        jobs[i] = sg_llm_submit(m, ps[i], strlen(ps[i]), &p, on_event, &c[i], &err);
        CHECK(jobs[i] != NULL, "submit %d: %s", i, err.msg);
    }
    struct sg_llm_stats st = {0};
    double until = now_s() + 5;
    do {
        sg_llm_stats(m, &st);
    } while (!(st.slots_busy == parallel && st.queued == EXTRA) && now_s() < until);
    CHECK(st.slots_busy == parallel && st.queued == EXTRA, "busy %d queued %d", st.slots_busy,
          st.queued);
    long last_long_end = -1;
    for (int i = 0; i < n; i++) {
        CHECK(coll_wait(&c[i], 60), "job %d did not end", i);
        if (i < parallel && c[i].end_at > last_long_end)
            last_long_end = c[i].end_at;
    }
    for (int i = parallel + 1; i < n; i++)
        CHECK(c[i - 1].first_at < c[i].first_at, "queued job %d started before job %d", i, i - 1);
    CHECK(c[parallel].first_at < last_long_end, "the first queued job waited for all slots");
    for (int i = 0; i < n; i++) {
        sg_llm_job_release(jobs[i]);
        coll_free(&c[i]);
        free(ps[i]);
    }
}

/* Byte length of the UTF-8 character that ends at s[0..n). */
static size_t last_char(const char *s, size_t n)
{
    size_t k = 1;
    while (k < n && k < 4 && ((unsigned char)s[n - k] & 0xC0) == 0x80)
        k++;
    return k;
}

static size_t first_char(const char *s, size_t n)
{
    size_t l = sg_utf8_char_len((const unsigned char *)s, n);
    return l ? l : 1;
}

static void test_stop(struct sg_llm *m)
{
    char *prompt = chat(m, "You are the shop's assistant.", "List our opening hours.");
    struct sg_llm_params p = greedy(48);
    struct coll base;
    CHECK(run(m, prompt, &p, &base), "base run");
    /* a stop string made of the last character of one token's text and the first of the
     * next, whose first occurrence is that token boundary */
    char stop[16] = "";
    size_t at = 0;
    for (int k = 1; k + 1 < base.nb && !stop[0]; k++) {
        size_t b0 = base.bounds[k - 1], b1 = base.bounds[k], b2 = base.bounds[k + 1];
        if (b1 - b0 < 1 || b2 - b1 < 1)
            continue;
        size_t l = last_char(base.text + b0, b1 - b0);
        size_t r = first_char(base.text + b1, b2 - b1);
        if (l > b1 - b0 || r > b2 - b1)
            continue;
        char cand[16];
        memcpy(cand, base.text + b1 - l, l);
        memcpy(cand + l, base.text + b1, r);
        cand[l + r] = '\0';
        if (!sg_utf8_valid(cand, l + r))
            continue;
        const char *first = strstr(base.text, cand);
        if (first == base.text + b1 - l) {
            memcpy(stop, cand, l + r + 1);
            at = b1 - l;
        }
    }
    CHECK(stop[0] != '\0', "no usable token boundary in %d events", base.nb);
    if (stop[0]) {
        const char *stops[] = {"\x01never\x02", stop};
        p.stop = stops;
        p.nstop = 2;
        struct coll c;
        CHECK(run(m, prompt, &p, &c), "stop run");
        CHECK(strcmp(c.finish, "stop") == 0, "finish %s", c.finish);
        CHECK_REPRO(c.len == at && memcmp(c.text, base.text, at) == 0,
                    "output %zu bytes, expected the %zu bytes before the stop string", c.len, at);
        CHECK(strstr(c.text, stop) == NULL, "the stop string was emitted");
        coll_free(&c);
        fprintf(out,
                "test_llm: stop string of %zu bytes across a token boundary cut the "
                "output at byte %zu of %zu\n",
                strlen(stop), at, base.len);
    }
    /* a stop string that never occurs changes nothing */
    const char *never[] = {"\x01never\x02"};
    p.stop = never;
    p.nstop = 1;
    struct coll d;
    CHECK(run(m, prompt, &p, &d), "never run");
    CHECK_REPRO(d.len == base.len && memcmp(d.text, base.text, base.len) == 0, "text changed");
    CHECK_REPRO(strcmp(d.finish, base.finish) == 0, "finish %s vs %s", d.finish, base.finish);
    coll_free(&d);
    coll_free(&base);
    free(prompt);
}

static void test_lengths(struct sg_llm *m)
{
    char *prompt = chat(m, "You are the shop's assistant.", "Describe the teapot.");
    struct sg_llm_params p = greedy(5);
    struct coll c;
    CHECK(run(m, prompt, &p, &c), "run");
    CHECK(strcmp(c.finish, "length") == 0 && c.completion_tokens == 5, "finish %s, %d tokens",
          c.finish, c.completion_tokens);
    coll_free(&c);
    free(prompt);

    /* a prompt that leaves 10 free positions in the slot */
    int ctx = sg_llm_slot_ctx(m);
    size_t cap = (size_t)ctx * 8;
    char *text = malloc(cap);
    int words = ctx - 10, n = 0;
    for (int tries = 0; tries < 20 && text; tries++) {
        size_t len = 0;
        for (int i = 0; i < words; i++)
            len += (size_t)snprintf(text + len, cap - len, " hello");
        n = sg_llm_count_tokens(m, text, len);
        if (n == ctx - 10)
            break;
        words += ctx - 10 - n;
    }
    CHECK(n == ctx - 10, "could not build a prompt of %d tokens (%d)", ctx - 10, n);
    p = greedy(0);
    CHECK(run(m, text, &p, &c), "full run");
    CHECK(strcmp(c.finish, "length") == 0 && c.completion_tokens == 11,
          "context full: finish %s, %d tokens", c.finish, c.completion_tokens);
    coll_free(&c);

    /* too long for a slot */
    size_t len = strlen(text);
    for (int i = 0; i < 100; i++)
        len += (size_t)snprintf(text + len, cap - len, " hello");
    int total = sg_llm_count_tokens(m, text, len);
    struct sg_error err = {0};
    struct sg_llm_job *j = sg_llm_submit(m, text, len, &p, on_event, &c, &err);
    char want[128];
    snprintf(want, sizeof want, "the prompt has %d tokens but the context holds %d", total, ctx);
    CHECK(!j && err.code == SG_ETOOBIG && strcmp(err.msg, want) == 0, "got %d '%s'", err.code,
          err.msg);
    free(text);
}

static void expect_einval(struct sg_llm *m, const struct sg_llm_params *p, const char *name)
{
    struct sg_error err = {0};
    struct coll c;
    struct sg_llm_job *j = sg_llm_submit(m, "hi", 2, p, on_event, &c, &err);
    CHECK(!j && err.code == SG_EINVAL && strstr(err.msg, name), "%s: %d '%s'", name, err.code,
          err.msg);
    sg_llm_job_release(j);
}

static void test_params(struct sg_llm *m)
{
    struct sg_llm_params p;
    sg_llm_params_default(&p);
    p.temperature = -0.5f;
    expect_einval(m, &p, "temperature");
    p.temperature = 2.5f;
    expect_einval(m, &p, "temperature");
    p.temperature = NAN;
    expect_einval(m, &p, "temperature");
    sg_llm_params_default(&p);
    p.top_p = 0.0f;
    expect_einval(m, &p, "top_p");
    p.top_p = 1.5f;
    expect_einval(m, &p, "top_p");
    sg_llm_params_default(&p);
    p.top_k = -1;
    expect_einval(m, &p, "top_k");
    sg_llm_params_default(&p);
    p.min_p = 1.5f;
    expect_einval(m, &p, "min_p");
    sg_llm_params_default(&p);
    p.presence_penalty = 3.0f;
    expect_einval(m, &p, "presence_penalty");
    sg_llm_params_default(&p);
    p.frequency_penalty = -3.0f;
    expect_einval(m, &p, "frequency_penalty");
    sg_llm_params_default(&p);
    const char *five[] = {"a", "b", "c", "d", "e"};
    p.stop = five;
    p.nstop = 5;
    expect_einval(m, &p, "stop");
    sg_llm_params_default(&p);
    p.grammar = "root ::= (";
    expect_einval(m, &p, "grammar");
    {
        struct sg_error e2 = {0};
        struct coll c2;
        CHECK(!sg_llm_submit(m, "hi", 2, &p, on_event, &c2, &e2) && strstr(e2.msg, "expecting"),
              "grammar error without its reason: %s", e2.msg);
        CHECK(strstr(e2.msg, "root ::=") == NULL, "the message quotes the grammar: %s", e2.msg);
    }
    p.grammar = "other ::= \"x\"";
    expect_einval(m, &p, "grammar");
    struct sg_error err = {0};
    struct coll c;
    CHECK(!sg_llm_submit(m, "", 0, NULL, on_event, &c, &err) && err.code == SG_EINVAL,
          "empty prompt: %d %s", err.code, err.msg);
    /* negative max_tokens means no limit, not an error */
    sg_llm_params_default(&p);
    p.max_tokens = -5;
    p.temperature = 0.0f;
    struct sg_llm_job *j = sg_llm_submit(m, "hi", 2, &p, on_event, &c, &err);
    coll_init(&c);
    CHECK(j != NULL, "negative max_tokens: %s", err.msg);
    sg_llm_cancel(j);
    sg_llm_job_release(j);
    coll_free(&c);
}

static void test_sampling(struct sg_llm *m)
{
    char *prompt = chat(m, "Answer yes or no.", "Is the shop open on Sundays?");
    struct sg_llm_params p;
    sg_llm_params_default(&p);
    p.grammar = "root ::= \"yes\" | \"no\"";
    p.has_seed = true;
    for (int seed = 1; seed <= 3; seed++) {
        struct coll c;
        p.seed = (uint64_t)seed;
        CHECK(run(m, prompt, &p, &c), "grammar run");
        CHECK(strcmp(c.text, "yes") == 0 || strcmp(c.text, "no") == 0, "grammar output '%s'",
              c.text);
        CHECK(strcmp(c.finish, "stop") == 0, "finish %s", c.finish);
        coll_free(&c);
    }
    /* a grammar that only byte tokens could go on with (never sampled under a grammar):
     * the job fails, instead of ending with "stop" on text the grammar does not accept */
    p.grammar = "root ::= \"x\xF0\x9D\x84\x9E\"";
    {
        struct coll c;
        bool ok = run(m, prompt, &p, &c);
        CHECK(!ok && c.error, "a dead-end grammar ended with '%s' (finish '%s')", c.text, c.finish);
        coll_free(&c);
    }
    /* penalties, min_p and a high temperature: runs, and every piece is valid UTF-8 */
    sg_llm_params_default(&p);
    p.temperature = 2.0f;
    p.min_p = 0.0f;
    p.presence_penalty = 1.5f;
    p.frequency_penalty = 1.0f;
    p.max_tokens = 200;
    p.has_seed = true;
    p.seed = 7;
    struct coll c;
    CHECK(run(m, prompt, &p, &c), "hot run");
    CHECK(c.completion_tokens > 0 && sg_utf8_valid(c.text, c.len), "hot run output");
    coll_free(&c);
    p.temperature = 0.7f;
    p.min_p = 0.05f;
    p.top_k = 40;
    CHECK(run(m, prompt, &p, &c), "min_p run");
    coll_free(&c);
    free(prompt);
}

/* Grammars made by the schema converter and the tool helpers parse in llama.cpp's grammar
 * parser, and sampling with them gives JSON (checked with jansson). */
static void test_schema_grammars(struct sg_llm *m)
{
    static const char *const schemas[] = {
        "{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\",\"maxLength\":12},"
        "\"color\":{\"enum\":[\"red\",\"green\"]},\"n\":{\"type\":\"integer\",\"minimum\":-5,"
        "\"maximum\":120}},\"required\":[\"name\",\"color\"],\"additionalProperties\":false}",
        "{\"type\":\"array\",\"items\":{\"type\":\"object\",\"properties\":{\"sku\":{\"type\":"
        "\"string\",\"format\":\"uuid\"},\"d\":{\"type\":\"string\",\"format\":\"date-time\"}}},"
        "\"minItems\":1,\"maxItems\":2}",
        "{\"anyOf\":[{\"type\":\"number\"},{\"type\":[\"boolean\",\"null\"]},{\"const\":\"x\"}]}",
        "{\"$defs\":{\"a\":{\"type\":\"string\",\"format\":\"email\"}},\"properties\":{\"p\":{"
        "\"$ref\":\"#/$defs/a\"},\"q\":{\"type\":\"number\",\"minimum\":0,\"maximum\":10}}}",
        "{}",
        "{\"type\":\"string\",\"format\":\"date\",\"nullable\":true}",
    };
    char *prompt = chat(m, "Answer in JSON.", "Describe a product.");
    for (size_t i = 0; i < sizeof(schemas) / sizeof(schemas[0]); i++) {
        json_error_t je;
        json_t *s = json_loads(schemas[i], JSON_DECODE_ANY, &je);
        char *g = NULL;
        struct sg_error err = {0};
        CHECK(s && sg_schema_to_gbnf(s, NULL, &g, &err) == 0, "schema %zu: %s", i, err.msg);
        json_decref(s);
        if (!g)
            continue;
        struct sg_llm_params p;
        sg_llm_params_default(&p);
        p.grammar = g;
        p.has_seed = true;
        p.max_tokens = 400;
        for (int seed = 1; seed <= 1; seed++) {
            struct coll c;
            p.seed = (uint64_t)seed;
            CHECK(run(m, prompt, &p, &c), "schema %zu: run: %s", i, c.errmsg);
            if (strcmp(c.finish, "stop") == 0) {
                json_t *v = json_loadb(c.text, c.len, JSON_DECODE_ANY, &je);
                CHECK(v != NULL, "schema %zu: not JSON: %s", i, c.text);
                json_decref(v);
            } else
                CHECK(strcmp(c.finish, "length") == 0, "schema %zu: finish %s", i, c.finish);
            coll_free(&c);
        }
        free(g);
    }
    /* the tool grammars (auto, with a response format, required) parse as well */
    static const char *const bodies[] = {
        "{\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"parameters\":"
        "{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"}}}}},{\"type\":"
        "\"function\",\"function\":{\"name\":\"ping\"}}]}",
        "{\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"a\"}}],\"tool_choice\":"
        "\"required\"}",
        "{\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"a\"}}],\"response_format\":{"
        "\"type\":\"json_object\"}}",
    };
    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        json_error_t je;
        json_t *b = json_loads(bodies[i], 0, &je);
        struct sg_tools t;
        struct sg_tools_error te;
        CHECK(b && sg_tools_prepare(b, &t, &te) == 0, "tools %zu: %s", i, te.msg);
        json_decref(b);
        struct sg_llm_params p = greedy(1);
        p.grammar = t.grammar;
        struct coll c;
        CHECK(t.grammar && run(m, prompt, &p, &c), "tools %zu: grammar does not run", i);
        if (t.grammar)
            coll_free(&c);
        sg_tools_free(&t);
    }
    free(prompt);
}

static bool embed(struct sg_llm *m, const char *text, struct coll *c)
{
    coll_init(c);
    struct sg_error err = {0};
    struct sg_llm_job *j = sg_llm_submit_embedding(m, text, strlen(text), on_event, c, &err);
    if (!j) {
        fprintf(out, "test_llm: embedding submit: %s\n", err.msg);
        return false;
    }
    bool ok = coll_wait(c, 60) && c->got_embedding;
    sg_llm_job_release(j);
    return ok;
}

static void test_embeddings(struct sg_llm *m)
{
    int dim = sg_llm_embedding_dim(m);
    struct coll a, b, c, d;
    CHECK(embed(m, "The blue teapot costs 25 euros.", &a), "embed a");
    CHECK(a.dim == dim && dim > 0, "dim %d vs %d", a.dim, dim);
    double norm = 0;
    for (int i = 0; i < a.dim; i++)
        norm += (double)a.emb[i] * a.emb[i];
    CHECK(fabs(sqrt(norm) - 1.0) < 1e-4, "norm %f", sqrt(norm));
    /* the same text beside running generations: the same vector */
    char *prompt = chat(m, "You are verbose.", "Talk.");
    struct sg_llm_params p = greedy(64);
    struct coll g;
    coll_init(&g);
    struct sg_error err = {0};
    struct sg_llm_job *gj = sg_llm_submit(m, prompt, strlen(prompt), &p, on_event, &g, &err);
    CHECK(embed(m, "The blue teapot costs 25 euros.", &b), "embed b");
    CHECK(a.dim == b.dim && memcmp(a.emb, b.emb, (size_t)a.dim * sizeof(float)) == 0,
          "the same text gave another vector");
    CHECK(embed(m, "Shipping to Austria takes three days.", &c), "embed c");
    CHECK(memcmp(a.emb, c.emb, (size_t)a.dim * sizeof(float)) != 0, "different texts, same");
    CHECK(a.prompt_tokens == sg_llm_count_tokens(m, "The blue teapot costs 25 euros.", 31),
          "prompt_tokens %d", a.prompt_tokens);
    /* longer than one embedding chunk */
    char *t = long_text(60);
    CHECK(embed(m, t, &d), "embed long");
    CHECK(d.prompt_tokens > 256 && d.dim == dim, "long: %d tokens", d.prompt_tokens);
    CHECK(coll_wait(&g, 60), "generation beside embeddings");
    sg_llm_job_release(gj);
    struct sg_llm_job *j = sg_llm_submit_embedding(m, "", 0, on_event, &d, &err);
    CHECK(!j && err.code == SG_EINVAL, "empty input: %d", err.code);
    coll_free(&a);
    coll_free(&b);
    coll_free(&c);
    coll_free(&d);
    coll_free(&g);
    free(t);
    free(prompt);
}

/* Close while jobs run and wait: no event after close returns, no leak (ASan). */
static void test_close_in_flight(const char *model)
{
    struct sg_llm *m = NULL;
    struct sg_error err = {0};
    struct sg_llm_opts o = {
        .model_path = model, .ctx = 512, .parallel = 2, .threads = test_threads};
    CHECK(sg_llm_open(&o, &m, &err) == 0, "open: %s", err.msg);
    if (!m)
        return;
    static struct coll c[6];
    struct sg_llm_job *jobs[6];
    struct sg_llm_params p = greedy(0);
    for (int i = 0; i < 5; i++) {
        coll_init(&c[i]);
        jobs[i] = sg_llm_submit(m, "Tell me everything.", 19, &p, on_event, &c[i], &err);
        CHECK(jobs[i] != NULL, "submit: %s", err.msg);
    }
    coll_init(&c[5]);
    jobs[5] = sg_llm_submit_embedding(m, "an embedding", 12, on_event, &c[5], &err);
    sg_llm_cancel(jobs[3]); /* a queued job, cancelled */
    sleep_ms(30);
    sg_llm_close(m);
    int counts[6];
    for (int i = 0; i < 6; i++)
        counts[i] = coll_events(&c[i]);
    sleep_ms(30);
    for (int i = 0; i < 6; i++) {
        CHECK(coll_events(&c[i]) == counts[i], "job %d got events after close", i);
        CHECK(!c[i].ended || i == 5, "job %d ended although closed", i);
        sg_llm_job_release(jobs[i]);
        coll_free(&c[i]);
    }
    CHECK(coll_events(&c[3]) == 0 || counts[3] == coll_events(&c[3]), "cancelled queued job");
}

/* ---------------------------------------------------------------------------------------
 * batch invariance with the engine's own scheduling */

#define INV_TARGETS 8
#define INV_AGAIN 2 /* the target that repeats the first */

/* A prefix of `text` with exactly n tokens as a prompt (malloc'd), or NULL. */
static char *prompt_of(struct sg_llm *m, const char *text, int n)
{
    size_t len = strlen(text);
    for (size_t k = 1; k <= len; k++) {
        if (sg_llm_count_tokens(m, text, k) == n)
            return strndup(text, k);
    }
    return NULL;
}

/* Greedy jobs alone and beside others, compared bit for bit on every logit vector they
 * sampled from (the DONE event's logits digest) and on their text, with `batch` tokens per
 * step. The model has the head size of Qwen2-0.5B (64). What changes a token's logits
 * (the engine's Determinism comment): its attention kernel, which llama.cpp picks by the
 * shape of the micro-batch — tiled for a stream with 64 or more tokens in it, row by row
 * with fewer, split across threads for the one token of the only stream over 512 or more
 * cells — and, without flash attention, a stream's one token against several. The engine
 * used to let that vary with what ran beside a job: the first token of a chunk read beside
 * generating slots, the rest of the longer of two chunks read in one step, a one-token
 * chunk after prefix reuse, the last token of a prompt one token longer than a step, a
 * prompt read in chunks cut by the step's room rather than in whole tiles, a generated
 * token alone (split) or beside others (row by row). With a batch of 9 tokens (no tile
 * fits beside 4 slots) prompts are read in many chunks of the row kernel; with 100, in
 * tiles and a rest; jobs that generate past 256 cells (the 500-, 530- and 300-token ones)
 * would take the split kernel alone and the row kernel beside others but for the engine's
 * decode call of their own.
 * The targets: prompts of 500 and 121 tokens, the first again (reused from the cache but
 * for its end: it follows the first into its slot also beside others), lens[3] and lens[4]
 * tokens, 2 tokens, and prompts of 530 and 300 tokens that begin like the first (a longer
 * and a shorter prompt reusing part of its cache). Alone: one after the other. Beside
 * others: on a new engine (nothing cached), two jobs that generate 160 tokens are
 * submitted together (their 12-token prompts are read together), then the targets, which
 * wait in the queue and join while those generate. */
static void test_invariance(const char *path, int batch, int len3, int len4)
{
    if (!path) {
        fprintf(out, "test_llm: batch invariance: skipped (needs --mkmodel)\n");
        return;
    }
    struct sg_llm *m = NULL;
    struct sg_error err = {0};
    /* two threads at least: with one, llama.cpp's split kernel computes what the row
     * kernel does, and a generated token left alone on it would go unnoticed */
    struct sg_llm_opts o = {.model_path = path,
                            .ctx = 1024,
                            .parallel = 4,
                            .threads = test_threads > 2 ? test_threads : 2,
                            .gpu_layers = test_gpu_layers,
                            .batch = batch};
    int rc = sg_llm_open(&o, &m, &err);
    CHECK(rc == 0, "open %s: %s", path, err.msg);
    if (rc != 0)
        return;
    char *text = long_text(60);
    const int lens[INV_TARGETS] = {500, 121, 500, len3, len4, 2, 530, 300};
    char *prompts[INV_TARGETS + 2] = {0};
    for (int i = 0; i < INV_TARGETS; i++) {
        /* targets differ from their first token on, but INV_AGAIN (the first again) and the
         * last two (its beginning) */
        prompts[i] = i == INV_AGAIN ? strdup(prompts[0])
                     : i >= 6       ? prompt_of(m, text + 3, lens[i])
                                    : prompt_of(m, text + 3 + 7 * i, lens[i]);
        CHECK(prompts[i] != NULL, "no prompt of %d tokens", lens[i]);
    }
    /* the two others are as long: read in one call, in one micro-batch */
    prompts[INV_TARGETS] =
        prompt_of(m, "Once upon a time, in a small shop by the sea, there was a teapot", 12);
    prompts[INV_TARGETS + 1] =
        prompt_of(m, "The order was shipped on Monday and arrived on Friday in a box", 12);
    const int n = INV_TARGETS + 2;
    bool ok = true;
    for (int i = 0; i < n; i++)
        ok = ok && prompts[i];
    static struct coll alone[INV_TARGETS + 2], beside[INV_TARGETS + 2];
    struct sg_llm_params pt = greedy(8), po = greedy(160);
    pt.logits_digest = po.logits_digest = true;

    /* alone, one after the other (the last target reuses the first's cached prompt) */
    for (int i = 0; ok && i < n; i++)
        CHECK(run(m, prompts[i], i < INV_TARGETS ? &pt : &po, &alone[i]), "alone %d", i);
    CHECK(alone[INV_AGAIN].cached_tokens == lens[0] - 2, "reused %d of %d tokens",
          alone[INV_AGAIN].cached_tokens, lens[0]);

    /* beside others, on a new engine (nothing cached): the two long jobs first; the
     * targets once those generate */
    sg_llm_close(m);
    m = NULL;
    rc = sg_llm_open(&o, &m, &err);
    CHECK(rc == 0, "open %s again: %s", path, err.msg);
    ok = ok && rc == 0;
    struct sg_llm_job *jobs[INV_TARGETS + 2] = {0};
    for (int k = 0; ok && k < n; k++) {
        int i = (k + INV_TARGETS) % n; /* the two others first */
        coll_init(&beside[i]);
        jobs[i] = sg_llm_submit(m, prompts[i], strlen(prompts[i]), i < INV_TARGETS ? &pt : &po,
                                on_event, &beside[i], &err);
        CHECK(jobs[i] != NULL, "submit %d: %s", i, err.msg);
        for (double until = now_s() + 30; i == INV_TARGETS + 1 && now_s() < until;) {
            if (coll_events(&beside[INV_TARGETS]) > 0 && coll_events(&beside[i]) > 0)
                break;
            sleep_ms(1);
        }
    }
    int same = 0;
    for (int i = 0; ok && i < n; i++) {
        CHECK(coll_wait(&beside[i], 60), "beside %d did not end", i);
        sg_llm_job_release(jobs[i]);
        bool eq = alone[i].digest == beside[i].digest && alone[i].len == beside[i].len &&
                  memcmp(alone[i].text, beside[i].text, alone[i].len) == 0 &&
                  alone[i].completion_tokens == beside[i].completion_tokens;
        CHECK(alone[i].completion_tokens > 0 && alone[i].digest != 0, "job %d: no logits", i);
        CHECK_REPRO(eq, "job %d (%d prompt tokens, %d cached alone, %d beside): logits %s, text %s",
                    i, alone[i].prompt_tokens, alone[i].cached_tokens, beside[i].cached_tokens,
                    alone[i].digest == beside[i].digest ? "same" : "DIFFER",
                    alone[i].len == beside[i].len &&
                            memcmp(alone[i].text, beside[i].text, alone[i].len) == 0
                        ? "same"
                        : "DIFFERS");
        same += eq;
    }
    CHECK(!ok || beside[INV_AGAIN].cached_tokens == lens[0] - 2,
          "beside others reused %d of %d tokens", beside[INV_AGAIN].cached_tokens, lens[0]);
    fprintf(out,
            "test_llm: batch invariance (head size 64, batch %d): %d of %d jobs bit-identical "
            "alone and beside others (who generated %d and %d tokens; reused alone %d and %d "
            "of the 530- and 300-token prompts)\n",
            batch, same, n, beside[INV_TARGETS].completion_tokens,
            beside[INV_TARGETS + 1].completion_tokens, alone[6].cached_tokens,
            alone[7].cached_tokens);
    for (int i = 0; i < n; i++) {
        if (ok) {
            coll_free(&alone[i]);
            coll_free(&beside[i]);
        }
        free(prompts[i]);
    }
    free(text);
    sg_llm_close(m);
}

/* ---------------------------------------------------------------------------------------
 * benchmark (not a test) */

static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void bench(const char *model, int tokens, int threads, int gpu_layers)
{
    struct sg_llm *m = NULL;
    struct sg_error err = {0};
    struct sg_llm_opts o = {.model_path = model,
                            .ctx = 2048,
                            .parallel = 4,
                            .threads = threads,
                            .gpu_layers = gpu_layers};
    if (sg_llm_open(&o, &m, &err) != 0) {
        fprintf(out, "bench: %s\n", err.msg);
        failures++;
        return;
    }
    for (int streams = 1; streams <= 4; streams *= 4) {
        static struct coll c[4];
        struct sg_llm_job *jobs[4];
        char *prompts[4];
        struct sg_llm_params p = greedy(tokens);
        p.temperature = 0.8f;
        p.has_seed = true;
        p.seed = 1;
        double t0 = now_s(), c0 = cpu_s();
        for (int i = 0; i < streams; i++) {
            char user[64];
            snprintf(user, sizeof user, "Stream %d: write about the shop.", i);
            prompts[i] = chat(m, "You are the shop's assistant.", user);
            coll_init(&c[i]);
            jobs[i] = sg_llm_submit(m, prompts[i], strlen(prompts[i]), &p, on_event, &c[i], &err);
        }
        int gen = 0, prompt_tokens = 0;
        for (int i = 0; i < streams; i++) {
            coll_wait(&c[i], 600);
            gen += c[i].completion_tokens;
            prompt_tokens += c[i].prompt_tokens - c[i].cached_tokens;
            sg_llm_job_release(jobs[i]);
            coll_free(&c[i]);
            free(prompts[i]);
        }
        double dt = now_s() - t0;
        fprintf(out,
                "bench: %s, %d stream(s): %d tokens generated (+%d prompt tokens) in %.2f s = "
                "%.1f tok/s total, %.1f tok/s per stream (%.2f s CPU)\n",
                sg_llm_model_name(m), streams, gen, prompt_tokens, dt, gen / dt, gen / dt / streams,
                cpu_s() - c0);
    }
    /* time to the end of a 512-token prompt (one token generated), nothing cached */
    char *text = long_text(100);
    char *prompt = text ? prompt_of(m, text, 512) : NULL;
    if (prompt) {
        struct sg_llm_params p = greedy(1);
        struct coll c;
        double t0 = now_s(), c0 = cpu_s();
        bool ok = run(m, prompt, &p, &c);
        fprintf(out, "bench: %s, 512-token prompt: %s in %.3f s (%.2f s CPU), %d cached\n",
                sg_llm_model_name(m), ok ? "first token" : "FAILED", now_s() - t0, cpu_s() - c0,
                c.cached_tokens);
        coll_free(&c);
    }
    free(prompt);
    free(text);
    sg_llm_close(m);
}

/* ---------------------------------------------------------------------------------------
 * main */

static int spawn_wait(char *const argv[])
{
    pid_t pid;
    if (posix_spawn(&pid, argv[0], NULL, NULL, argv, environ) != 0)
        return -1;
    int st = 0;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Checks the captured stdout is empty and every stderr line a JSON object. */
static void check_streams(const char *outp, const char *errp)
{
    struct stat st;
    CHECK(stat(outp, &st) == 0 && st.st_size == 0, "the engine wrote %lld bytes to stdout",
          (long long)st.st_size);
    FILE *f = fopen(errp, "r");
    char line[16384];
    int lines = 0, bad = 0;
    while (f && fgets(line, sizeof line, f)) {
        size_t n = strlen(line);
        while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = '\0';
        lines++;
        if (n < 2 || line[0] != '{' || line[n - 1] != '}') {
            if (bad++ < 3)
                fprintf(out, "test_llm: stderr line is not JSON: %.200s\n", line);
        }
    }
    if (f)
        fclose(f);
    CHECK(bad == 0, "%d of %d stderr lines are not JSON objects", bad, lines);
}

int main(int argc, char **argv)
{
    const char *mkmodel = NULL, *model = NULL, *only = NULL, *inv_model = NULL;
    bool do_bench = false;
    int tokens = 128, threads = 1, gpu_layers = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--mkmodel") == 0 && i + 1 < argc)
            mkmodel = argv[++i];
        else if (strcmp(argv[i], "--model") == 0 && i + 1 < argc)
            model = argv[++i];
        else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc)
            only = argv[++i];
        else if (strcmp(argv[i], "--invariance-model") == 0 && i + 1 < argc)
            inv_model = argv[++i];
        else if (strcmp(argv[i], "--bench") == 0)
            do_bench = true;
        else if (strcmp(argv[i], "--tokens") == 0 && i + 1 < argc)
            tokens = atoi(argv[++i]);
        else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (strcmp(argv[i], "--gpu-layers") == 0 && i + 1 < argc)
            gpu_layers = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: test_llm --mkmodel PATH | --model FILE [--only NAME] "
                            "[--invariance-model FILE] [--threads N] [--gpu-layers N] | --bench "
                            "--model FILE [--tokens N] [--threads N] [--gpu-layers N]\n");
            return 2;
        }
    }
    out = stderr;
    test_threads = threads;
    test_gpu_layers = gpu_layers;
    if (do_bench) {
        if (!model)
            return 2;
        bench(model, tokens, threads, gpu_layers);
        return failures ? 1 : 0;
    }

    char dir[] = "/tmp/sg-test-llm-XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    char path[4096];
    if (!model) {
        if (!mkmodel) {
            fprintf(stderr, "test_llm: --mkmodel or --model is required\n");
            return 2;
        }
        snprintf(path, sizeof path, "%s/tiny.gguf", dir);
        char *const args[] = {(char *)mkmodel, "--preset", "tiny", "--seed", "42",
                              "--out",         path,       NULL};
        if (spawn_wait(args) != 0) {
            fprintf(stderr, "test_llm: FAIL: %s failed\n", mkmodel);
            return 1;
        }
        model = path;
    }
    /* the model of the batch invariance check: head size 64 (embd 256, 4 heads), Q8_0 */
    char h64[4200];
    snprintf(h64, sizeof h64, "%s/h64.gguf", dir);
    bool have_h64 = false;
    if (mkmodel && !inv_model && (!only || strstr("batch invariance", only))) {
        char *const args[] = {(char *)mkmodel, "--preset", "tiny",       "--embd", "256",
                              "--heads",       "4",        "--kv-heads", "2",      "--ff",
                              "768",           "--type",   "q8_0",       "--seed", "7",
                              "--out",         h64,        NULL};
        have_h64 = spawn_wait(args) == 0;
        if (!have_h64) {
            fprintf(stderr, "test_llm: FAIL: %s failed\n", mkmodel);
            failures++;
        }
    }

    /* capture stdout and stderr of everything below */
    char outp[4200], errp[4200];
    snprintf(outp, sizeof outp, "%s/stdout", dir);
    snprintf(errp, sizeof errp, "%s/stderr", dir);
    int real_err = dup(2);
    out = fdopen(real_err, "w");
    setvbuf(out, NULL, _IONBF, 0);
    int fo = open(outp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int fe = open(errp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    fflush(stdout);
    dup2(fo, 1);
    dup2(fe, 2);
    close(fo);
    close(fe);

    double t0 = now_s(), t;
#define TIMED(label, call)                                                                         \
    do {                                                                                           \
        if (only && !strstr(label, only))                                                          \
            break;                                                                                 \
        t = now_s();                                                                               \
        call;                                                                                      \
        fprintf(out, "test_llm: %-22s %6.2f s\n", label, now_s() - t);                             \
    } while (0)

    TIMED("text stage", test_detok());
    TIMED("open errors", test_open_errors(dir, model));
    struct sg_llm *m = NULL;
    struct sg_error err = {0};
    struct sg_llm_opts o = {.model_path = model,
                            .ctx = 2048,
                            .parallel = NJOBS,
                            .threads = test_threads,
                            .gpu_layers = test_gpu_layers};
    t = now_s();
    int rc = sg_llm_open(&o, &m, &err);
    CHECK(rc == 0, "open: %s", err.msg);
    fprintf(out, "test_llm: %-22s %6.2f s\n", "open", now_s() - t);
    if (m) {
        TIMED("basics", test_basics(m));
        TIMED("seeded sampling", test_seeded(m));
        TIMED("greedy batching", test_batching(m, "You are the shop's assistant.", false));
        char *rules = long_text(80);
        TIMED("greedy batching, long", test_batching(m, rules, true));
        free(rules);
        TIMED("prefix reuse", test_prefix_reuse(m));
        TIMED("reuse at tile edges", test_reuse_tile_edges(m));
        TIMED("cancel", test_cancel(m, NJOBS));
        TIMED("queue", test_fifo(m, NJOBS));
        TIMED("stop strings", test_stop(m));
        TIMED("lengths", test_lengths(m));
        TIMED("bad parameters", test_params(m));
        TIMED("grammar, penalties", test_sampling(m));
        TIMED("schema grammars", test_schema_grammars(m));
        TIMED("embeddings", test_embeddings(m));
        sg_llm_close(m);
    }
    TIMED("close in flight", test_close_in_flight(model));
    TIMED("long cache kept", test_keep_long_cache(model));
    /* a batch of 9: the least for 4 slots, prompts in many chunks of the row kernel; of 100:
     * tiles, and rests of one token (129 and 65 tokens) */
    const char *inv = inv_model ? inv_model : have_h64 ? h64 : NULL;
    TIMED("batch invariance", test_invariance(inv, 9, 10, 6));
    TIMED("batch invariance, tiles", test_invariance(inv, 100, 129, 65));
    CHECK(atomic_load(&bad_utf8) == 0, "%d text events were not valid UTF-8",
          atomic_load(&bad_utf8));

    fflush(stdout);
    check_streams(outp, errp);
    if (getenv("SG_TEST_KEEP_STDERR"))
        fprintf(out, "test_llm: kept %s\n", errp);
    else
        unlink(errp);
    unlink(outp);
    char p2[4200];
    const char *files[] = {"tiny.gguf", "garbage.gguf", "truncated.gguf", "h64.gguf"};
    for (size_t i = 0; i < 4; i++) {
        snprintf(p2, sizeof p2, "%s/%s", dir, files[i]);
        unlink(p2);
    }
    if (!getenv("SG_TEST_KEEP_STDERR"))
        rmdir(dir);
    fprintf(out, "test_llm: %s (%.1f s)\n", failures ? "FAILED" : "ok", now_s() - t0);
    return failures ? 1 : 0;
}
