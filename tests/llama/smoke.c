/* Smoke test of the pinned llama.cpp and of sovgate-mkmodel, run by ctest (label llama).
 * It makes a tiny model in a temporary directory with sovgate-mkmodel (twice, with one and
 * with two threads, and checks the files are byte-identical), loads it through llama.h,
 * applies the model's chat template, tokenizes, decodes the prompt, samples 16 tokens
 * greedily twice from a cleared cache and checks both runs agree, then detokenizes them.
 * With --model FILE it skips the generation and runs an existing model instead (how the
 * 0.5b preset's load time and speed in docs/llama.md were measured).
 *
 * usage: llama-smoke --mkmodel PATH [--preset NAME] [--keep]
 *        llama-smoke --model FILE [--tokens N] [--threads N] [--gpu-layers N]
 * Exits 0 when every check passes, 1 otherwise. */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ggml-backend.h"
#include "llama.h"
#include "engine/backends.h"

extern char **environ;

#define MAX_TOKENS 256
#define MAX_PROMPT_TOKENS 1024

static int failures;

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "llama-smoke: FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);           \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            failures++;                                                                            \
            goto out;                                                                              \
        }                                                                                          \
    } while (0)

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* llama.cpp logs a lot at INFO; keep warnings and errors. */
static void quiet_log(enum ggml_log_level level, const char *text, void *user)
{
    (void)user;
    if (level == GGML_LOG_LEVEL_WARN || level == GGML_LOG_LEVEL_ERROR)
        fputs(text, stderr);
}

/* Runs argv (argv[0] a path) and returns its exit status, or -1. */
static int run(char *const argv[])
{
    pid_t pid;
    if (posix_spawn(&pid, argv[0], NULL, NULL, argv, environ) != 0)
        return -1;
    int st = 0;
    while (waitpid(pid, &st, 0) < 0) {
        if (errno != EINTR)
            return -1;
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Returns 1 when the two files have the same bytes, 0 when not, -1 on a read error. */
static int same_file(const char *a, const char *b)
{
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    int rc = -1;
    if (fa && fb) {
        static char ba[1 << 16], bb[1 << 16];
        rc = 1;
        for (;;) {
            size_t na = fread(ba, 1, sizeof ba, fa), nb = fread(bb, 1, sizeof bb, fb);
            if (na != nb || memcmp(ba, bb, na) != 0) {
                rc = 0;
                break;
            }
            if (na == 0)
                break;
        }
    }
    if (fa)
        fclose(fa);
    if (fb)
        fclose(fb);
    return rc;
}

/* Decodes `prompt` from an empty cache and samples `n` tokens greedily into `out`.
 * Returns the number of tokens made, or -1. */
static int generate(struct llama_context *ctx, llama_token *prompt, int n_prompt, llama_token *out,
                    int n, double *prompt_s, double *gen_s)
{
    llama_memory_clear(llama_get_memory(ctx), true);
    struct llama_sampler *smpl = llama_sampler_chain_init(llama_sampler_chain_default_params());
    llama_sampler_chain_add(smpl, llama_sampler_init_greedy());
    double t0 = now_s();
    int made = -1;
    if (llama_decode(ctx, llama_batch_get_one(prompt, n_prompt)) != 0)
        goto done;
    const float *logits = llama_get_logits_ith(ctx, -1);
    const int n_vocab = llama_vocab_n_tokens(llama_model_get_vocab(llama_get_model(ctx)));
    for (int i = 0; i < n_vocab; i++) {
        if (!isfinite(logits[i])) {
            fprintf(stderr, "llama-smoke: logit %d is not finite\n", i);
            goto done;
        }
    }
    double t1 = now_s();
    for (made = 0; made < n; made++) {
        llama_token tok = llama_sampler_sample(smpl, ctx, -1);
        out[made] = tok;
        if (made + 1 == n)
            break;
        if (llama_decode(ctx, llama_batch_get_one(&out[made], 1)) != 0) {
            made = -1;
            goto done;
        }
    }
    made = n;
    *prompt_s = t1 - t0;
    *gen_s = now_s() - t1;
done:
    llama_sampler_free(smpl);
    return made;
}

/* Loads `path`, chats with it and checks determinism. */
static void exercise(const char *path, int n_gen, int n_threads, int gpu_layers,
                     bool expect_synthetic)
{
    struct llama_model *model = NULL;
    struct llama_context *ctx = NULL;
    char *prompt = NULL;
    llama_token tokens[MAX_PROMPT_TOKENS], run1[MAX_TOKENS], run2[MAX_TOKENS];

    struct llama_model_params mp = llama_model_default_params();
    if (gpu_layers >= -1)
        mp.n_gpu_layers = gpu_layers;
    double t0 = now_s();
    model = llama_model_load_from_file(path, mp);
    double load_s = now_s() - t0;
    CHECK(model != NULL, "cannot load %s", path);
    const struct llama_vocab *vocab = llama_model_get_vocab(model);
    const int n_vocab = llama_vocab_n_tokens(vocab);
    CHECK(n_vocab > 1000, "vocabulary of %d tokens", n_vocab);

    char name[128] = "";
    llama_model_meta_val_str(model, "general.name", name, sizeof name);
    if (expect_synthetic)
        CHECK(strncmp(name, "sovgate-mkmodel", 15) == 0, "general.name is '%s'", name);

    const char *tmpl = llama_model_chat_template(model, NULL);
    CHECK(tmpl != NULL, "the model has no chat template");
    const struct llama_chat_message chat[] = {
        {"system", "You are a terse assistant."},
        {"user", "Say hello to Sovgate."},
    };
    int cap = 1024;
    prompt = malloc((size_t)cap);
    CHECK(prompt != NULL, "out of memory");
    int len = llama_chat_apply_template(tmpl, chat, 2, true, prompt, cap);
    if (len > cap) {
        char *bigger = realloc(prompt, (size_t)len + 1);
        CHECK(bigger != NULL, "out of memory");
        prompt = bigger;
        cap = len + 1;
        len = llama_chat_apply_template(tmpl, chat, 2, true, prompt, cap);
    }
    CHECK(len > 0 && len < cap, "llama_chat_apply_template returned %d", len);
    prompt[len] = '\0';
    CHECK(strstr(prompt, "Say hello to Sovgate.") != NULL, "prompt lacks the message: %s", prompt);
    if (strstr(tmpl, "<|im_start|>"))
        CHECK(strstr(prompt, "<|im_start|>assistant\n") != NULL, "not a ChatML prompt: %s", prompt);

    int n_prompt = llama_tokenize(vocab, prompt, len, tokens, MAX_PROMPT_TOKENS, true, true);
    CHECK(n_prompt > 4, "llama_tokenize returned %d", n_prompt);
    /* a chat marker the vocabulary has as a special token must tokenize to that token, not
     * be spelled out (vocabularies without it, such as llama-spm, spell it) */
    const char *marker = strncmp(prompt, "<|im_start|>", 12) == 0          ? "<|im_start|>"
                         : strncmp(prompt, "<|start_header_id|>", 19) == 0 ? "<|start_header_id|>"
                                                                           : NULL;
    llama_token special[8];
    if (marker &&
        llama_tokenize(vocab, marker, (int32_t)strlen(marker), special, 8, false, true) == 1) {
        int first = llama_vocab_get_add_bos(vocab) ? 1 : 0;
        CHECK(tokens[first] == special[0], "token %d is %d, expected %s (%d)", first, tokens[first],
              marker, special[0]);
    }

    struct llama_context_params cp = llama_context_default_params();
    cp.n_ctx = 1024;
    cp.n_batch = 1024;
    cp.n_threads = n_threads;
    cp.n_threads_batch = n_threads;
    cp.no_perf = true;
    ctx = llama_init_from_model(model, cp);
    CHECK(ctx != NULL, "llama_init_from_model failed");

    double p1 = 0, g1 = 0, p2 = 0, g2 = 0;
    CHECK(generate(ctx, tokens, n_prompt, run1, n_gen, &p1, &g1) == n_gen, "first run failed");
    CHECK(generate(ctx, tokens, n_prompt, run2, n_gen, &p2, &g2) == n_gen, "second run failed");
    for (int i = 0; i < n_gen; i++)
        CHECK(run1[i] == run2[i], "runs differ at token %d: %d vs %d", i, run1[i], run2[i]);
    for (int i = 0; i < n_gen; i++)
        CHECK(run1[i] >= 0 && run1[i] < n_vocab, "token %d out of range: %d", i, run1[i]);

    char text[8192];
    int tl = llama_detokenize(vocab, run1, n_gen, text, sizeof text - 1, false, true);
    CHECK(tl >= 0, "llama_detokenize returned %d", tl);
    text[tl] = '\0';

    char size_note[64] = "";
    struct stat st;
    if (stat(path, &st) == 0)
        snprintf(size_note, sizeof size_note, ", %.1f MB", (double)st.st_size / 1e6);
    printf("llama-smoke: model %s (%s%s, %d tokens vocab)\n", path, name, size_note, n_vocab);
    printf("llama-smoke: prompt of %d tokens, %d tokens generated twice, identical\n", n_prompt,
           n_gen);
    printf("llama-smoke: load %.2f s, prompt %.1f tok/s, generation %.1f tok/s (%d threads)\n",
           load_s, (double)n_prompt / (p2 > 0 ? p2 : 1e-9),
           (double)(n_gen - 1) / (g2 > 0 ? g2 : 1e-9), n_threads);
    printf("llama-smoke: tokens:");
    for (int i = 0; i < n_gen; i++)
        printf(" %d", run1[i]);
    printf("\nllama-smoke: text (%d bytes): ", tl);
    for (int i = 0; i < tl; i++)
        putchar(text[i] == '\n' ? ' ' : text[i]);
    putchar('\n');
out:
    free(prompt);
    if (ctx)
        llama_free(ctx);
    if (model)
        llama_model_free(model);
}

static void remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        char p[4096];
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            unlink(p);
        }
        closedir(d);
    }
    rmdir(dir);
}

int main(int argc, char **argv)
{
    const char *mkmodel = NULL, *model = NULL, *preset = "tiny";
    int n_gen = 16, n_threads = 0, gpu_layers = -2;
    bool keep = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--mkmodel") == 0 && v)
            mkmodel = argv[++i];
        else if (strcmp(a, "--model") == 0 && v)
            model = argv[++i];
        else if (strcmp(a, "--preset") == 0 && v)
            preset = argv[++i];
        else if (strcmp(a, "--tokens") == 0 && v)
            n_gen = atoi(argv[++i]);
        else if (strcmp(a, "--threads") == 0 && v)
            n_threads = atoi(argv[++i]);
        else if (strcmp(a, "--gpu-layers") == 0 && v)
            gpu_layers = atoi(argv[++i]);
        else if (strcmp(a, "--keep") == 0)
            keep = true;
        else {
            fprintf(stderr, "usage: llama-smoke --mkmodel PATH [--preset NAME] [--keep] | "
                            "--model FILE [--tokens N] [--threads N] [--gpu-layers N]\n");
            return 1;
        }
    }
    if ((!mkmodel && !model) || n_gen < 1 || n_gen > MAX_TOKENS) {
        fprintf(stderr, "llama-smoke: need --mkmodel or --model, and 1 to %d tokens\n", MAX_TOKENS);
        return 1;
    }
    if (n_threads <= 0) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        n_threads = cpus < 1 ? 1 : cpus > 8 ? 8 : (int)cpus;
    }

    char dir[4096] = "", path[4200] = "", path2[4200] = "";
    if (!model) {
        const char *tmp = getenv("TMPDIR");
        snprintf(dir, sizeof dir, "%s/sg-llama-smoke.XXXXXX", tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp(dir)) {
            perror("llama-smoke: mkdtemp");
            return 1;
        }
        snprintf(path, sizeof path, "%s/model.gguf", dir);
        snprintf(path2, sizeof path2, "%s/model-1thread.gguf", dir);
        char *const a1[] = {(char *)mkmodel, "--preset", (char *)preset, "--seed", "42",
                            "--out",         path,       "--threads",    "2",      NULL};
        char *const a2[] = {(char *)mkmodel, "--preset", (char *)preset, "--seed", "42",
                            "--out",         path2,      "--threads",    "1",      NULL};
        double t0 = now_s();
        int rc1 = run(a1);
        double mk_s = now_s() - t0;
        int rc2 = rc1 == 0 ? run(a2) : -1;
        if (rc1 != 0 || rc2 != 0) {
            fprintf(stderr, "llama-smoke: FAIL: %s exited with %d/%d\n", mkmodel, rc1, rc2);
            failures++;
        } else if (same_file(path, path2) != 1) {
            fprintf(stderr, "llama-smoke: FAIL: the same spec gave different files\n");
            failures++;
        } else {
            printf("llama-smoke: sovgate-mkmodel --preset %s made the model in %.2f s, "
                   "byte-identical with 1 and 2 threads\n",
                   preset, mk_s);
        }
        model = path;
    }

    if (failures == 0) {
        llama_log_set(quiet_log, NULL);
        llama_backend_init();
        sg_llama_load_backends();
        if (ggml_backend_dev_count() == 0) {
            fprintf(stderr, "llama-smoke: FAIL: no ggml backend could be loaded\n");
            failures++;
        } else {
            for (size_t i = 0; i < ggml_backend_dev_count(); i++) {
                ggml_backend_dev_t dev = ggml_backend_dev_get(i);
                printf("llama-smoke: device %s (%s)\n", ggml_backend_dev_name(dev),
                       ggml_backend_dev_description(dev));
            }
            exercise(model, n_gen, n_threads, gpu_layers, dir[0] != '\0');
        }
        llama_backend_free();
    }
    if (dir[0] && !keep)
        remove_dir(dir);
    else if (dir[0])
        printf("llama-smoke: kept %s\n", dir);
    printf("llama-smoke: %s\n", failures ? "FAILED" : "ok");
    return failures ? 1 : 0;
}
