/* Batch invariance and prompt-processing time of llama.cpp settings: a diagnostic on
 * llama.h alone (not run by ctest), how the figures in docs/engine.md ("How exact it is")
 * were measured. It makes one context as the engine does (one KV stream per sequence, 4
 * sequences) with the settings given and
 *  - with --check: computes the logits of sequence 0 for a 600-token prompt and 8 greedy
 *    steps alone in chunks of the batch size, then again with the prompt split into other
 *    chunks (alone, and beside sequences 1-3 that read their own prompts and generate, all
 *    in one batch per step laid out in sequence order as the engine does) and compares the
 *    logits bit for bit: per scenario how many of the 9 logit vectors differ, the largest
 *    difference and how many greedy tokens changed;
 *  - with --time N: decodes a 512-token prompt (--prompt N) N times from an empty cache
 *    and prints the shortest wall and process CPU time.
 *
 * usage: sg_llama_invariance --model FILE [--flash-attn] [--repack] [--threads N]
 *          [--batch N] [--ubatch N] [--check [--only K] [--cuts A,B,..]
 *          [--beside-cuts A,B,.. [--others A,B,C]]] [--time N [--prompt N]]
 * --only K runs scenario K alone (1-5; 6 is alone split by --cuts, 7 beside the others
 * with their prompt lengths --others and sequence 0's prompt split by --beside-cuts; the
 * rest of the prompt is the last chunk). Exit status: 0, 1 when logits differed, 2 on a
 * usage or load error. */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "llama.h"
#include "engine/backends.h"

#define NSEQ 4
#define PROMPT 600 /* tokens of sequence 0's prompt */
#define STEPS 8    /* greedy steps after it */
#define MAXCUTS 32

static struct llama_model *model;
static struct llama_context *ctx;
static int n_vocab, n_batch = 512;
static int last_idx[NSEQ]; /* batch index of each sequence's logits in the last step */
static uint64_t rng = 88172645463325252ull;

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static double cpu_s(void)
{
    struct rusage r;
    getrusage(RUSAGE_SELF, &r);
    return (double)(r.ru_utime.tv_sec + r.ru_stime.tv_sec) +
           (double)(r.ru_utime.tv_usec + r.ru_stime.tv_usec) / 1e6;
}

/* an ordinary token id (xorshift), the same sequence in every run */
static llama_token rand_token(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (llama_token)(100 + rng % 20000);
}

static void log_cb(enum ggml_log_level level, const char *text, void *user)
{
    (void)user;
    if (level >= GGML_LOG_LEVEL_WARN)
        fputs(text, stderr);
}

/* tokens [from, from + n) of one sequence in a step */
struct part {
    int seq;
    const llama_token *toks;
    int from, n;
};

/* One llama_decode of the parts in order, logits for the last token of each part. */
static bool step(const struct part *p, int np)
{
    struct llama_batch b = llama_batch_init(n_batch, 0, 1);
    if (!b.token)
        return false;
    for (int k = 0; k < np; k++) {
        for (int i = 0; i < p[k].n && b.n_tokens < n_batch; i++) {
            int j = b.n_tokens++;
            b.token[j] = p[k].toks[p[k].from + i];
            b.pos[j] = p[k].from + i;
            b.n_seq_id[j] = 1;
            b.seq_id[j][0] = p[k].seq;
            b.logits[j] = i == p[k].n - 1;
        }
        last_idx[p[k].seq] = b.n_tokens - 1;
    }
    int rc = llama_decode(ctx, b);
    llama_batch_free(b);
    if (rc != 0)
        fprintf(stderr, "invariance: llama_decode returned %d\n", rc);
    return rc == 0;
}

static int argmax(const float *l)
{
    int m = 0;
    for (int i = 1; i < n_vocab; i++)
        if (l[i] > l[m])
            m = i;
    return m;
}

static void keep_logits(int seq, float *out)
{
    memcpy(out, llama_get_logits_ith(ctx, last_idx[seq]), (size_t)n_vocab * sizeof(float));
}

/* Sequence 0 alone: the prompt in chunks of cuts[] (0-terminated, then n_batch each), then
 * STEPS steps of one token. With set_tokens the greedy tokens are written after the
 * prompt (the reference run); otherwise those tokens are fed, so runs compare the logits
 * at the same positions. */
static bool run_alone(llama_token *toks, const int *cuts, bool set_tokens, float **out)
{
    llama_memory_clear(llama_get_memory(ctx), true);
    int c = 0;
    for (int pos = 0; pos < PROMPT;) {
        int n = cuts && cuts[c] ? cuts[c++] : n_batch;
        if (n > PROMPT - pos)
            n = PROMPT - pos;
        struct part p = {0, toks, pos, n};
        if (!step(&p, 1))
            return false;
        pos += n;
    }
    keep_logits(0, out[0]);
    for (int g = 0; g < STEPS; g++) {
        if (set_tokens)
            toks[PROMPT + g] = (llama_token)argmax(out[g]);
        struct part p = {0, toks, PROMPT + g, 1};
        if (!step(&p, 1))
            return false;
        keep_logits(0, out[g + 1]);
    }
    return true;
}

/* Sequence 0's prompt in chunks of cuts[] (the rest in one chunk) beside sequences 1-3 with
 * prompts of others[] tokens: each step holds sequence 0's chunk, then for each other
 * sequence its prompt (as much as fits) or its next greedy token; then STEPS steps of one
 * token of every sequence. */
static bool run_beside(const llama_token *toks, const int *cuts, const int *others, float **out)
{
    static llama_token o[NSEQ][PROMPT + STEPS + 64];
    int len[NSEQ] = {0}, have[NSEQ] = {0};
    for (int s = 1; s < NSEQ; s++) {
        len[s] = others[s - 1];
        for (int i = 0; i < len[s]; i++)
            o[s][i] = rand_token();
    }
    llama_memory_clear(llama_get_memory(ctx), true);
    int c = 0;
    for (int pos = 0; pos < PROMPT;) {
        struct part p[NSEQ];
        int np = 0;
        int n = cuts[c] ? cuts[c++] : PROMPT - pos;
        if (n > PROMPT - pos)
            n = PROMPT - pos;
        /* the other sequences' next tokens are kept room for; their prompts get the rest */
        int budget = n_batch - n - (NSEQ - 1);
        if (budget < 0) {
            fprintf(stderr, "invariance: a chunk of %d tokens leaves no room in the batch\n", n);
            return false;
        }
        p[np++] = (struct part){0, toks, pos, n};
        for (int s = 1; s < NSEQ; s++) {
            bool reading = have[s] < len[s];
            int m = reading ? len[s] - have[s] : 1;
            if (reading && m > budget)
                m = budget;
            if (m <= 0)
                continue;
            p[np++] = (struct part){s, o[s], have[s], m};
            have[s] += m;
            if (reading)
                budget -= m;
        }
        if (!step(p, np))
            return false;
        for (int k = 1; k < np; k++)
            if (have[p[k].seq] >= len[p[k].seq])
                o[p[k].seq][have[p[k].seq]] =
                    (llama_token)argmax(llama_get_logits_ith(ctx, last_idx[p[k].seq]));
        pos += n;
    }
    keep_logits(0, out[0]);
    for (int g = 0; g < STEPS; g++) {
        struct part p[NSEQ];
        p[0] = (struct part){0, toks, PROMPT + g, 1};
        for (int s = 1; s < NSEQ; s++)
            p[s] = (struct part){s, o[s], have[s]++, 1};
        if (!step(p, NSEQ))
            return false;
        keep_logits(0, out[g + 1]);
        for (int s = 1; s < NSEQ; s++)
            o[s][have[s]] = (llama_token)argmax(llama_get_logits_ith(ctx, last_idx[s]));
    }
    return true;
}

/* Prints how run b's logits differ from reference a; returns true when they are identical. */
static bool compare(const char *name, float **a, float **b)
{
    double maxd = 0;
    int vectors = 0, tokens = 0;
    for (int g = 0; g <= STEPS; g++) {
        bool differ = false;
        for (int i = 0; i < n_vocab; i++) {
            double d = fabs((double)a[g][i] - (double)b[g][i]);
            differ |= a[g][i] != b[g][i];
            if (d > maxd)
                maxd = d;
        }
        vectors += differ;
        tokens += argmax(a[g]) != argmax(b[g]);
    }
    printf("  %-44s %s: %d of %d logit vectors differ, max |diff| %.3g, greedy token "
           "differs %d\n",
           name, vectors ? "DIFF" : "same", vectors, STEPS + 1, maxd, tokens);
    return vectors == 0;
}

/* "A,B,C" into at most max - 1 positive numbers, 0-terminated; false when malformed */
static bool parse_list(const char *s, int *out, int max)
{
    int k = 0;
    while (*s && k < max - 1) {
        char *end;
        long v = strtol(s, &end, 10);
        if (end == s || v < 1 || v > 100000)
            return false;
        out[k++] = (int)v;
        s = *end == ',' ? end + 1 : end;
        if (*end && *end != ',')
            return false;
    }
    out[k] = 0;
    return *s == '\0';
}

static int usage(void)
{
    fprintf(stderr, "usage: sg_llama_invariance --model FILE [--flash-attn] [--repack] "
                    "[--threads N] [--batch N] [--ubatch N] [--check [--only K] [--cuts LIST] "
                    "[--beside-cuts LIST [--others A,B,C]]] [--time N [--prompt N]]\n");
    return 2;
}

static bool check(int only, const int *cuts, const int *bcuts, const int *others)
{
    static llama_token toks[PROMPT + STEPS];
    for (int i = 0; i < PROMPT; i++)
        toks[i] = rand_token();
    float *a[STEPS + 1], *b[STEPS + 1];
    for (int g = 0; g <= STEPS; g++) {
        a[g] = malloc((size_t)n_vocab * sizeof(float));
        b[g] = malloc((size_t)n_vocab * sizeof(float));
        if (!a[g] || !b[g]) {
            fprintf(stderr, "invariance: out of memory\n");
            exit(2);
        }
    }
    static const int split1[] = {1, 63, 64, 7, 300, 0}, split2[] = {33, 0};
    static const int bsplit1[] = {100, 37, 0}, others1[] = {70, 5, 300};
    static const int bsplit2[] = {1, 63, 64, 7, 300, 0}, others2[] = {1, 130, 64};
    bool ok = run_alone(toks, NULL, true, a), same = true;
    for (int k = 1; ok && k <= 7; k++) {
        if (only ? only != k : k > 5)
            continue;
        const char *name;
        switch (k) {
        case 1:
            name = "alone, again";
            ok = run_alone(toks, NULL, false, b);
            break;
        case 2:
            name = "alone, prompt 1+63+64+7+300+165";
            ok = run_alone(toks, split1, false, b);
            break;
        case 3:
            name = "alone, prompt 33+512+55";
            ok = run_alone(toks, split2, false, b);
            break;
        case 4:
            name = "beside 70/5/300, prompt 100+37+463";
            ok = run_beside(toks, bsplit1, others1, b);
            break;
        case 5:
            name = "beside 1/130/64, prompt 1+63+64+7+300+165";
            ok = run_beside(toks, bsplit2, others2, b);
            break;
        case 6:
            name = "alone, prompt split by --cuts";
            ok = run_alone(toks, cuts, false, b);
            break;
        default:
            name = "beside --others, prompt split by --beside-cuts";
            ok = run_beside(toks, bcuts, others, b);
            break;
        }
        if (ok && !compare(name, a, b))
            same = false;
    }
    for (int g = 0; g <= STEPS; g++) {
        free(a[g]);
        free(b[g]);
    }
    if (!ok)
        exit(2);
    printf("  %s\n", same ? "invariant" : "NOT invariant");
    return same;
}

int main(int argc, char **argv)
{
    const char *path = NULL;
    bool fa = false, repack = false, do_check = false;
    int threads = 2, n_ubatch = 0, time_runs = 0, prompt = 512, only = 0;
    int cuts[MAXCUTS] = {0}, bcuts[MAXCUTS] = {0}, others[MAXCUTS] = {1, 1, 1, 0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--flash-attn") == 0)
            fa = true;
        else if (strcmp(a, "--repack") == 0)
            repack = true;
        else if (strcmp(a, "--check") == 0)
            do_check = true;
        else if (!v)
            return usage();
        else if (strcmp(a, "--model") == 0)
            path = v, i++;
        else if (strcmp(a, "--threads") == 0)
            threads = atoi(v), i++;
        else if (strcmp(a, "--batch") == 0)
            n_batch = atoi(v), i++;
        else if (strcmp(a, "--ubatch") == 0)
            n_ubatch = atoi(v), i++;
        else if (strcmp(a, "--time") == 0)
            time_runs = atoi(v), i++;
        else if (strcmp(a, "--prompt") == 0)
            prompt = atoi(v), i++;
        else if (strcmp(a, "--only") == 0)
            only = atoi(v), i++;
        else if (strcmp(a, "--cuts") == 0 && parse_list(v, cuts, MAXCUTS))
            i++;
        else if (strcmp(a, "--beside-cuts") == 0 && parse_list(v, bcuts, MAXCUTS))
            i++;
        else if (strcmp(a, "--others") == 0 && parse_list(v, others, MAXCUTS) && others[2])
            i++;
        else
            return usage();
    }
    if (!n_ubatch)
        n_ubatch = n_batch;
    if (!path || threads < 1 || n_batch < 2 * NSEQ + PROMPT / 2 || n_batch > 65536 ||
        n_ubatch < NSEQ || n_ubatch > n_batch || time_runs < 0 || prompt < 1 || only < 0 ||
        only > 7 || (!do_check && !time_runs))
        return usage();

    llama_log_set(log_cb, NULL);
    llama_backend_init();
    sg_llama_load_backends();
    struct llama_model_params mp = llama_model_default_params();
    mp.n_gpu_layers = 0;
    mp.use_extra_bufts = repack;
    model = llama_model_load_from_file(path, mp);
    if (!model) {
        fprintf(stderr, "invariance: cannot load %s\n", path);
        return 2;
    }
    n_vocab = llama_vocab_n_tokens(llama_model_get_vocab(model));
    struct llama_context_params cp = llama_context_default_params();
    cp.n_ctx = (uint32_t)(2048 * NSEQ);
    cp.n_batch = (uint32_t)n_batch;
    cp.n_ubatch = (uint32_t)n_ubatch;
    cp.n_seq_max = NSEQ;
    cp.kv_unified = false;
    cp.n_threads = threads;
    cp.n_threads_batch = threads;
    cp.flash_attn_type = fa ? LLAMA_FLASH_ATTN_TYPE_ENABLED : LLAMA_FLASH_ATTN_TYPE_DISABLED;
    cp.no_perf = true;
    ctx = llama_init_from_model(model, cp);
    if (!ctx) {
        fprintf(stderr, "invariance: cannot make a context\n");
        return 2;
    }
    printf("%s: flash attention %s, repacking %s, %d threads, batch %d, micro-batch %d\n", path,
           fa ? "on" : "off", repack ? "on" : "off", threads, n_batch, n_ubatch);
    bool same = true;
    if (time_runs) {
        llama_token *toks = malloc((size_t)prompt * sizeof *toks);
        double best = 1e30, best_cpu = 1e30;
        for (int r = 0; toks && r < time_runs; r++) {
            for (int i = 0; i < prompt; i++)
                toks[i] = rand_token();
            llama_memory_clear(llama_get_memory(ctx), true);
            double t0 = now_s(), c0 = cpu_s();
            for (int pos = 0; pos < prompt; pos += n_batch) {
                struct part p = {0, toks, pos, prompt - pos < n_batch ? prompt - pos : n_batch};
                if (!step(&p, 1))
                    return 2;
            }
            double t = now_s() - t0, c = cpu_s() - c0;
            best = t < best ? t : best;
            best_cpu = c < best_cpu ? c : best_cpu;
        }
        free(toks);
        printf("  %d-token prompt: shortest of %d runs %.1f ms wall, %.1f ms CPU\n", prompt,
               time_runs, best * 1e3, best_cpu * 1e3);
    }
    if (do_check)
        same = check(only, cuts, bcuts, others);
    llama_free(ctx);
    llama_model_free(model);
    llama_backend_free();
    return same ? 0 : 1;
}
