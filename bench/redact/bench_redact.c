/* sg-bench-redact: speed of the redaction engine on one core (bench/redact/run drives it).
 *
 *   sg-bench-redact throughput SIZE CORPUS_FILE...   detection + pseudonymization MB/s on
 *                                                    inputs of SIZE bytes cut from the texts
 *   sg-bench-redact chat4k CORPUS_FILE...            per-request time of what redaction
 *                                                    adds to a 4 KB chat request (the
 *                                                    request stage and the answer filter)
 *   sg-bench-redact adversarial                      MB/s on hostile 10 MB inputs
 *   sg-bench-redact stream-adversarial [MB [PIECE]]  MB/s of the streamed answer's output
 *                                                    scan on hostile answers (2 MB) fed in
 *                                                    PIECE-byte pieces (64; what it holds
 *                                                    back between pieces must stay linear)
 *   sg-bench-redact dump CORPUS_FILE...              not a timing: every text's findings
 *                                                    ("TYPE start end") and transformed
 *                                                    text (under a fixed key), to compare
 *                                                    the output of two builds byte for byte
 *
 * CORPUS_FILE: JSON lines {"text": ...} (tests/data/pii/generate.py output); the files'
 * texts are interleaved. Each mode prints one line "JSON {...}" with its figures. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "core/json.h"
#include "redact/redaction.h"

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static long maxrss_kb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

struct texts {
    char **v;
    size_t *len;
    size_t n, cap;
};

static void texts_add(struct texts *t, const char *s, size_t n)
{
    if (t->n == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 1024;
        t->v = realloc(t->v, t->cap * sizeof(*t->v));
        t->len = realloc(t->len, t->cap * sizeof(*t->len));
        if (!t->v || !t->len)
            abort();
    }
    t->v[t->n] = malloc(n + 1);
    memcpy(t->v[t->n], s, n);
    t->v[t->n][n] = '\0';
    t->len[t->n++] = n;
}

/* Loads the texts of several JSONL files, interleaved line by line. */
static void load(struct texts *t, char **files, int nfiles)
{
    FILE *f[8];
    if (nfiles > 8)
        nfiles = 8;
    for (int i = 0; i < nfiles; i++)
        if (!(f[i] = fopen(files[i], "r"))) {
            fprintf(stderr, "sg-bench-redact: cannot open %s\n", files[i]);
            exit(2);
        }
    char *line = NULL;
    size_t cap = 0;
    for (int open = nfiles; open > 0;) {
        open = 0;
        for (int i = 0; i < nfiles; i++) {
            ssize_t n = f[i] ? getline(&line, &cap, f[i]) : -1;
            if (n < 0)
                continue;
            open++;
            json_t *j = sg_json_parse(line, (size_t)n, 0, NULL);
            json_t *s = json_object_get(j, "text");
            if (json_is_string(s))
                texts_add(t, json_string_value(s), json_string_length(s));
            json_decref(j);
        }
    }
    free(line);
    for (int i = 0; i < nfiles; i++)
        fclose(f[i]);
    if (!t->n) {
        fprintf(stderr, "sg-bench-redact: no texts\n");
        exit(2);
    }
}

/* Inputs of `size` bytes: consecutive texts joined by blank lines, cut at a character. */
static struct texts inputs_of(const struct texts *all, size_t size, size_t total)
{
    struct texts in = {0};
    struct sg_buf b;
    sg_buf_init(&b, size + (1u << 20));
    size_t k = 0, made = 0;
    while (made < total) {
        sg_buf_reset(&b);
        while (b.len < size) {
            sg_buf_append(&b, all->v[k], all->len[k]);
            sg_buf_append(&b, "\n\n", 2);
            k = (k + 1) % all->n;
        }
        size_t n = size;
        while (n > 0 && ((unsigned char)b.data[n] & 0xC0) == 0x80)
            n--;
        texts_add(&in, b.data, n);
        made += n;
    }
    sg_buf_free(&b);
    return in;
}

struct ctx {
    struct sg_redaction *rd;
    struct sg_detect_scratch *sc;
    struct sg_findings f;
    struct sg_buf out;
    uint64_t findings;
};

static void redact_one(struct ctx *c, const char *s, size_t n)
{
    struct sg_vault *v = sg_redaction_vault(c->rd, n + 1024);
    sg_findings_reset(&c->f);
    sg_buf_reset(&c->out);
    int rc = sg_redact_text(c->rd, c->sc, v, s, n, &c->f, &c->out, NULL);
    if (rc && rc != SG_ETOOBIG) {
        fprintf(stderr, "sg-bench-redact: redaction failed: %s\n", sg_strerror(rc));
        exit(1);
    }
    c->findings += c->f.n;
    sg_vault_free(v);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static int throughput(struct ctx *c, size_t size, const struct texts *all)
{
    struct texts in = inputs_of(all, size, size < (4u << 20) ? (8u << 20) : (16u << 20));
    long rss0 = maxrss_kb();
    for (size_t i = 0; i < in.n && i < 4; i++) /* warm up */
        redact_one(c, in.v[i], in.len[i]);
    uint64_t bytes = 0, t0 = now_ns(), t;
    size_t i = 0;
    do {
        redact_one(c, in.v[i], in.len[i]);
        bytes += in.len[i];
        i = (i + 1) % in.n;
    } while ((t = now_ns()) - t0 < 3000000000ull);
    double mbps = (double)bytes / 1e6 / ((double)(t - t0) / 1e9);
    printf("JSON {\"mode\":\"throughput\",\"size\":%zu,\"mb_per_s\":%.1f,\"bytes\":%llu,"
           "\"findings_per_kb\":%.2f,\"maxrss_kb\":%ld,\"rss_growth_kb\":%ld}\n",
           size, mbps, (unsigned long long)bytes, (double)c->findings * 1024 / (double)bytes,
           maxrss_kb(), maxrss_kb() - rss0);
    return 0;
}

/* A 4 KB chat request built from the texts: a system prompt and user/assistant turns. */
static json_t *chat_request(const struct texts *all, size_t *k)
{
    json_t *msgs = json_array();
    json_array_append_new(msgs, json_pack("{s:s,s:s}", "role", "system", "content",
                                          "You are the shop's helpful support assistant. Answer "
                                          "briefly and politely, in the customer's language."));
    size_t total = 150;
    for (int turn = 0; total < 4000; turn++) {
        size_t n = all->len[*k];
        if (total + n > 4096)
            n = 4096 - total;
        while (n > 0 && ((unsigned char)all->v[*k][n] & 0xC0) == 0x80)
            n--;
        json_array_append_new(msgs, json_pack("{s:s,s:s%}", "role", turn % 2 ? "assistant" : "user",
                                              "content", all->v[*k], n));
        total += n + 40;
        *k = (*k + 1) % all->n;
    }
    return json_pack("{s:s,s:o}", "model", "assistant", "messages", msgs);
}

static int chat4k(struct ctx *c, const struct texts *all)
{
    enum { N = 20000 };
    static uint64_t lat[N];
    size_t k = 0;
    struct sg_buf a, b;
    sg_buf_init(&a, 1u << 20);
    sg_buf_init(&b, 1u << 20);
    size_t bytes = 0;
    for (int i = -200; i < N; i++) {
        json_t *req = chat_request(all, &k);
        uint64_t t0 = now_ns();
        /* the request stage: every message content, detected and transformed in place */
        struct sg_vault *v = sg_redaction_vault(c->rd, 1u << 20);
        json_t *m;
        size_t j;
        json_array_foreach(json_object_get(req, "messages"), j, m)
        {
            json_t *s = json_object_get(m, "content");
            sg_findings_reset(&c->f);
            sg_buf_reset(&a);
            if (sg_redact_text(c->rd, c->sc, v, json_string_value(s), json_string_length(s), &c->f,
                               &a, NULL) == 0 &&
                c->f.n)
                json_string_setn(s, a.data, a.len);
            if (i == 0)
                bytes += json_string_length(s);
        }
        /* the answer filter: the model answers with the last (transformed) message */
        json_t *last =
            json_object_get(json_array_get(json_object_get(req, "messages"),
                                           json_array_size(json_object_get(req, "messages")) - 1),
                            "content");
        struct sg_outscan os;
        sg_outscan_init(&os, c->rd, c->sc, v);
        sg_buf_reset(&a);
        sg_buf_reset(&b);
        sg_outscan_text(&os, json_string_value(last), json_string_length(last), &a);
        sg_restore(v, SG_RESTORE_RAW, a.data ? a.data : "", a.len, &b);
        sg_outscan_free(&os);
        sg_vault_free(v);
        uint64_t t1 = now_ns();
        if (i >= 0)
            lat[i] = t1 - t0;
        json_decref(req);
    }
    qsort(lat, N, sizeof(lat[0]), cmp_u64);
    printf("JSON {\"mode\":\"chat4k\",\"requests\":%d,\"p50_us\":%.1f,\"p99_us\":%.1f,"
           "\"max_us\":%.1f}\n",
           N, (double)lat[N / 2] / 1e3, (double)lat[N * 99 / 100] / 1e3, (double)lat[N - 1] / 1e3);
    sg_buf_free(&a);
    sg_buf_free(&b);
    return 0;
}

/* Fills buf (n bytes of room) with prefix, then unit repeated: returns the length, whole
 * units only. */
static size_t fill(char *buf, size_t n, const char *prefix, const char *unit)
{
    size_t pl = strlen(prefix), ul = strlen(unit);
    memcpy(buf, prefix, pl);
    size_t len = pl + (n - pl) - (n - pl) % ul;
    for (size_t i = pl; i < len; i++)
        buf[i] = unit[(i - pl) % ul];
    return len;
}

/* Prints one kind's MB/s into the JSON line and keeps the minimum. */
static void report(size_t k, const char *name, size_t len, uint64_t ns, double *min)
{
    double mbps = (double)len / 1e6 / ((double)ns / 1e9);
    if (mbps < *min)
        *min = mbps;
    printf("%s\"%s\":%.1f", k ? "," : "", name, mbps);
    fflush(stdout);
}

static int adversarial(struct ctx *c)
{
    static const struct {
        const char *name, *unit;
    } kinds[] = {{"digits", "1"},
                 {"at_signs", "@"},
                 {"one_letter", "a"},
                 {"a_at", "a@"},
                 {"digits_spaces", "4 "},
                 {"digit_groups", "4111 "},
                 {"capitalised_words", "Anna "},
                 {"colons", "a:"},
                 {"dots", "1."},
                 {"dashes", "--"},
                 {"uppercase", "AB"},
                 {"secret_prefix", "sk-"},
                 {"fullwidth_digits", "\xef\xbc\x91"},
                 {"zero_width", "\xe2\x80\x8b"}};
    size_t n = 10u << 20;
    char *buf = malloc(n);
    printf("JSON {\"mode\":\"adversarial\",\"mb_per_s\":{");
    double min = 1e9;
    for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
        size_t len = fill(buf, n, "", kinds[k].unit);
        uint64_t t0 = now_ns();
        redact_one(c, buf, len);
        report(k, kinds[k].name, len, now_ns() - t0, &min);
    }
    printf("},\"min_mb_per_s\":%.1f}\n", min);
    free(buf);
    return 0;
}

/* Hostile answers streamed through the output scan the way the gateway feeds it: pieces
 * of `piece` bytes (a streamed chunk's content), each piece's output passed on. Held text is
 * scanned again as pieces arrive, so a hold that grows with its input would make this quadratic. */
static int stream_adversarial(struct ctx *c, size_t n, size_t piece)
{
    static const struct {
        const char *name, *prefix, *unit;
    } kinds[] = {{"digits", "", "1"},
                 {"digit_groups", "", "4111 "},
                 {"one_word", "", "a"},
                 {"key_parts", "", "sk-a="},
                 {"equals_parts", "", "a=a"},
                 {"fullwidth_digits", "", "\xef\xbc\x91"},
                 {"capitalised_words", "", "Anna "},
                 {"pem_words", "-----BEGIN PRIVATE KEY-----\n", "a=a=a=a=a=a=a=\n"},
                 {"pem_one_word", "-----BEGIN PRIVATE KEY-----\n", "a=a"}};
    char *buf = malloc(n);
    struct sg_buf out;
    sg_buf_init(&out, (size_t)64 << 20);
    struct sg_vault *v = sg_redaction_vault(c->rd, 1u << 20);
    printf("JSON {\"mode\":\"stream-adversarial\",\"mb_per_s\":{");
    double min = 1e9;
    int rc = 0;
    for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]) && rc == 0; k++) {
        size_t len = fill(buf, n, kinds[k].prefix, kinds[k].unit);
        struct sg_outscan os;
        sg_outscan_init(&os, c->rd, c->sc, v);
        uint64_t t0 = now_ns();
        for (size_t off = 0; off < len && rc == 0; off += piece) {
            sg_buf_reset(&out);
            rc = sg_outscan_feed(&os, buf + off, len - off < piece ? len - off : piece, &out);
        }
        sg_buf_reset(&out);
        if (rc == 0)
            rc = sg_outscan_finish(&os, &out);
        uint64_t ns = now_ns() - t0;
        sg_outscan_free(&os);
        if (rc != 0) {
            fprintf(stderr, "sg-bench-redact: output scan failed on %s\n", kinds[k].name);
            break;
        }
        report(k, kinds[k].name, len, ns, &min);
    }
    if (rc == 0)
        printf("},\"min_mb_per_s\":%.1f}\n", min);
    sg_vault_free(v);
    sg_buf_free(&out);
    free(buf);
    return rc ? 1 : 0;
}

/* Prints a line with the string escaped (\n, \\ and \xHH for other control bytes). */
static void dump_line(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\n')
            fputs("\\n", stdout);
        else if (c == '\\')
            fputs("\\\\", stdout);
        else if (c < 32 || c == 127)
            printf("\\x%02x", c);
        else
            putchar(c);
    }
    putchar('\n');
}

/* Findings and output of every text, for an equivalence check of two builds (an
 * optimization must not change what is found): diff the two files. */
static int dump(struct ctx *c, const struct texts *all)
{
    memset(c->rd->key, 'k', 32); /* a fixed key: the same surrogates in both builds */
    c->rd->keylen = 32;
    for (size_t i = 0; i < all->n; i++) {
        struct sg_vault *v = sg_redaction_vault(c->rd, all->len[i] * 4 + 4096);
        sg_findings_reset(&c->f);
        sg_buf_reset(&c->out);
        int rc = sg_redact_text(c->rd, c->sc, v, all->v[i], all->len[i], &c->f, &c->out, NULL);
        printf("## %zu len=%zu rc=%d n=%zu\n", i, all->len[i], rc, c->f.n);
        for (size_t k = 0; k < c->f.n; k++)
            printf("%s %u %u\n", sg_entity_name(c->rd->det, c->f.v[k].type), c->f.v[k].start,
                   c->f.v[k].end);
        dump_line(c->out.data ? c->out.data : "", c->out.len);
        sg_vault_free(v);
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: sg-bench-redact throughput SIZE FILE... | chat4k FILE... | "
                        "adversarial | stream-adversarial | dump FILE...\n");
        return 2;
    }
    struct ctx c = {0};
    struct sg_error err = {0};
    if (sg_redaction_default(&c.rd, &err) != 0) {
        fprintf(stderr, "sg-bench-redact: %s\n", err.msg);
        return 1;
    }
    c.sc = sg_detect_scratch_new(c.rd->det);
    sg_findings_init(&c.f, (size_t)1 << 22);
    sg_buf_init(&c.out, (size_t)64 << 20);
    int rc = 2;
    struct texts all = {0};
    if (strcmp(argv[1], "throughput") == 0 && argc >= 4) {
        load(&all, argv + 3, argc - 3);
        rc = throughput(&c, (size_t)strtoull(argv[2], NULL, 10), &all);
    } else if (strcmp(argv[1], "chat4k") == 0 && argc >= 3) {
        load(&all, argv + 2, argc - 2);
        rc = chat4k(&c, &all);
    } else if (strcmp(argv[1], "adversarial") == 0) {
        rc = adversarial(&c);
    } else if (strcmp(argv[1], "stream-adversarial") == 0) {
        size_t mb = argc > 2 ? strtoull(argv[2], NULL, 10) : 2;
        size_t piece = argc > 3 ? strtoull(argv[3], NULL, 10) : 64;
        rc = mb && piece ? stream_adversarial(&c, mb << 20, piece) : 2;
    } else if (strcmp(argv[1], "dump") == 0 && argc >= 3) {
        load(&all, argv + 2, argc - 2);
        rc = dump(&c, &all);
    } else {
        fprintf(stderr, "sg-bench-redact: unknown mode\n");
    }
    return rc;
}
