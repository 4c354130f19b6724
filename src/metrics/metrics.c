/* Sharded counters and histograms with text exposition. A series is identified by its
 * family and its rendered label set ({a="x",b="y"}); each shard keeps an open-addressing
 * table of series. */
#include "metrics/metrics.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NBUCKETS 16
static const uint64_t bucket_us[NBUCKETS - 1] = {1000,    2500,    5000,     10000,    25000,
                                                 50000,   100000,  250000,   500000,   1000000,
                                                 2500000, 5000000, 10000000, 30000000, 60000000};
static const char *const bucket_le[NBUCKETS] = {"0.001", "0.0025", "0.005", "0.01", "0.025", "0.05",
                                                "0.1",   "0.25",   "0.5",   "1",    "2.5",   "5",
                                                "10",    "30",     "60",    "+Inf"};

static const struct {
    const char *name, *help;
    bool histogram;
} families[SG_M_COUNT] = {
    [SG_M_REQUESTS] = {"sovgate_requests_total", "Requests answered, by route, status and client.",
                       false},
    [SG_M_DURATION] = {"sovgate_request_duration_seconds",
                       "Time from the first byte of a request to the end of its response.", true},
    [SG_M_TTFB] = {"sovgate_upstream_ttfb_seconds",
                   "Time from sending a request upstream to its first response byte.", true},
    [SG_M_BYTES_IN] = {"sovgate_received_bytes_total", "Request bytes received from clients.",
                       false},
    [SG_M_BYTES_OUT] = {"sovgate_sent_bytes_total", "Response bytes sent to clients.", false},
    [SG_M_UPSTREAM_ERRORS] = {"sovgate_upstream_errors_total",
                              "Failed upstream attempts, by backend and reason.", false},
    [SG_M_FAILOVERS] = {"sovgate_failovers_total",
                        "Requests retried on the next backend of their route.", false},
    [SG_M_RELOADS] = {"sovgate_config_reloads_total", "Configuration reloads, by result.", false},
    [SG_M_REDACTIONS] = {"sovgate_redactions_total",
                         "Entities found in requests, by type and the action taken.", false},
    [SG_M_BLOCKED] = {"sovgate_blocked_requests_total",
                      "Requests refused because they carried a blocked entity type.", false},
    [SG_M_OUTPUT_MASKED] = {"sovgate_output_masked_total",
                            "Restricted values in answers that the request did not carry, "
                            "masked on the way out.",
                            false},
    [SG_M_LIMITED] = {"sovgate_limited_requests_total",
                      "Requests refused by a rate, token, concurrency or exfiltration limit.",
                      false},
    [SG_M_AUDIT_FAILURES] = {"sovgate_audit_failures_total",
                             "Audit records that could not be made durable (the request was "
                             "refused or failed).",
                             false},
    [SG_M_DECISIONS] = {"sovgate_policy_decisions_total",
                        "Policy decisions of proxied requests, by decision and rule.", false},
    [SG_M_INJECTION] = {"sovgate_prompt_injection_total",
                        "Requests the prompt-injection detector flagged, by client and by "
                        "signal that fired.",
                        false},
    [SG_M_RESTORED] = {"sovgate_restored_total",
                       "Surrogates put back in answers (pseudonymized values restored).", false},
};

struct series {
    char *labels; /* NULL = empty slot */
    int family;
    uint64_t value; /* counter value, or histogram count */
    uint64_t sum_us;
    uint64_t buckets[NBUCKETS];
};

struct sg_metrics_shard {
    pthread_mutex_t mu;
    struct series *tab;
    size_t cap, n;
};

struct sg_metrics {
    int nshards;
    struct sg_metrics_shard *shards;
    atomic_long inflight;
};

static bool table_init(struct sg_metrics_shard *s, size_t cap)
{
    s->tab = calloc(cap, sizeof(*s->tab));
    s->cap = cap;
    s->n = 0;
    return s->tab != NULL;
}

struct sg_metrics *sg_metrics_new(int nshards)
{
    struct sg_metrics *m = calloc(1, sizeof(*m));
    if (!m)
        return NULL;
    m->nshards = nshards;
    m->shards = calloc((size_t)nshards, sizeof(*m->shards));
    if (!m->shards) {
        free(m);
        return NULL;
    }
    for (int i = 0; i < nshards; i++) {
        pthread_mutex_init(&m->shards[i].mu, NULL);
        if (!table_init(&m->shards[i], 256)) {
            sg_metrics_free(m);
            return NULL;
        }
    }
    return m;
}

static void table_free(struct sg_metrics_shard *s)
{
    for (size_t i = 0; s->tab && i < s->cap; i++)
        free(s->tab[i].labels);
    free(s->tab);
    s->tab = NULL;
}

void sg_metrics_free(struct sg_metrics *m)
{
    if (!m)
        return;
    for (int i = 0; i < m->nshards; i++) {
        table_free(&m->shards[i]);
        pthread_mutex_destroy(&m->shards[i].mu);
    }
    free(m->shards);
    free(m);
}

struct sg_metrics_shard *sg_metrics_shard(struct sg_metrics *m, int i)
{
    return &m->shards[i];
}

void sg_metrics_inflight(struct sg_metrics *m, int delta)
{
    atomic_fetch_add(&m->inflight, delta);
}

static uint64_t hash_str(int family, const char *s)
{
    uint64_t h = 1469598103934665603ULL ^ (uint64_t)family;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

/* The length of the valid UTF-8 sequence at `p` (1 to 4), or 0 when it is not one
 * (a stray continuation byte, a cut or overlong sequence, a surrogate, beyond U+10FFFF). */
static size_t utf8_len(const unsigned char *p)
{
    unsigned c = p[0];
    if (c < 0x80)
        return 1;
    size_t n = c >= 0xC2 && c <= 0xDF   ? 2
               : c >= 0xE0 && c <= 0xEF ? 3
               : c >= 0xF0 && c <= 0xF4 ? 4
                                        : 0;
    for (size_t i = 1; i < n; i++)
        if ((p[i] & 0xC0) != 0x80)
            return 0;
    if ((c == 0xE0 && p[1] < 0xA0) || (c == 0xED && p[1] > 0x9F) || (c == 0xF0 && p[1] < 0x90) ||
        (c == 0xF4 && p[1] > 0x8F))
        return 0;
    return n;
}

/* Renders labels into `out` as {a="x",b="y"} with escaping; bytes that are not UTF-8
 * (client names from the keys database may hold any) become U+FFFD, as the text format
 * needs UTF-8; values that do not fit are cut between characters (the cap is far above
 * any name the config allows). */
static void render_labels(char *out, size_t cap, const struct sg_label *labels, size_t n)
{
    size_t o = 0;
    bool first = true;
    cap -= 2; /* room for '}' and NUL */
    for (size_t li = 0; li < n; li++) {
        const char *name = labels[li].name;
        const char *val = labels[li].value;
        if (!val)
            val = "";
        size_t nl = strlen(name);
        if (o + nl + 4 > cap) /* ,name=" and the closing quote */
            break;
        out[o++] = first ? '{' : ',';
        memcpy(out + o, name, nl);
        o += nl;
        out[o++] = '=';
        out[o++] = '"';
        for (const unsigned char *v = (const unsigned char *)val; *v;) {
            size_t cl = utf8_len(v), sl = cl;
            const char *src = (const char *)v;
            char esc[2] = {'\\', *src == '\n' ? 'n' : *src};
            if (cl == 1 && (*v == '\\' || *v == '"' || *v == '\n')) {
                src = esc;
                sl = 2;
            } else if (cl == 0) {
                src = "\xEF\xBF\xBD"; /* U+FFFD in place of the byte */
                cl = 1;
                sl = 3;
            }
            if (o + sl + 1 > cap) /* and the closing quote */
                break;
            memcpy(out + o, src, sl);
            o += sl;
            v += cl;
        }
        out[o++] = '"';
        first = false;
    }
    if (!first)
        out[o++] = '}';
    out[o] = '\0';
}

static bool table_grow(struct sg_metrics_shard *s);

#define OVERFLOW_LABELS "{overflow=\"_overflow\"}"

/* Finds or creates the series; NULL when the table is full and out of memory. */
static struct series *lookup(struct sg_metrics_shard *s, int family, const char *labels)
{
    if (s->n + 1 > s->cap / 2 && !table_grow(s))
        return NULL;
    size_t i = (size_t)hash_str(family, labels) & (s->cap - 1);
    for (;; i = (i + 1) & (s->cap - 1)) {
        struct series *e = &s->tab[i];
        if (!e->labels) {
            /* A new series past the cap: counted in the family's overflow series instead
             * (series that exist go on counting in their own). */
            if (s->n >= SG_METRICS_MAX_SERIES && strcmp(labels, OVERFLOW_LABELS) != 0)
                return lookup(s, family, OVERFLOW_LABELS);
            if (!(e->labels = strdup(labels)))
                return NULL;
            e->family = family;
            s->n++;
            return e;
        }
        if (e->family == family && strcmp(e->labels, labels) == 0)
            return e;
    }
}

static bool table_grow(struct sg_metrics_shard *s)
{
    if (s->n >= SG_METRICS_MAX_SERIES)
        return true; /* no growth past the cap: new series fold into _overflow */
    struct sg_metrics_shard ns;
    if (!table_init(&ns, s->cap * 2))
        return false;
    for (size_t i = 0; i < s->cap; i++) {
        struct series *e = &s->tab[i];
        if (!e->labels)
            continue;
        size_t j = (size_t)hash_str(e->family, e->labels) & (ns.cap - 1);
        while (ns.tab[j].labels)
            j = (j + 1) & (ns.cap - 1);
        ns.tab[j] = *e;
        ns.n++;
    }
    free(s->tab);
    s->tab = ns.tab;
    s->cap = ns.cap;
    return true;
}

void sg_metrics_add(struct sg_metrics_shard *s, enum sg_metric family, uint64_t v,
                    const struct sg_label *ls, size_t n)
{
    char labels[512];
    render_labels(labels, sizeof(labels), ls, n);
    pthread_mutex_lock(&s->mu);
    struct series *e = lookup(s, (int)family, labels);
    if (e)
        e->value += v;
    pthread_mutex_unlock(&s->mu);
}

void sg_metrics_observe(struct sg_metrics_shard *s, enum sg_metric family, uint64_t us,
                        const struct sg_label *ls, size_t n)
{
    char labels[512];
    render_labels(labels, sizeof(labels), ls, n);
    size_t b = 0;
    while (b < NBUCKETS - 1 && us > bucket_us[b])
        b++;
    pthread_mutex_lock(&s->mu);
    struct series *e = lookup(s, (int)family, labels);
    if (e) {
        e->value++;
        e->sum_us += us;
        e->buckets[b]++;
    }
    pthread_mutex_unlock(&s->mu);
}

static int cmp_series(const void *a, const void *b)
{
    const struct series *x = a, *y = b;
    if (x->family != y->family)
        return x->family - y->family;
    return strcmp(x->labels, y->labels);
}

/* Inserts `le` into a rendered label set: {a="x"} -> {a="x",le="0.1"}. */
static void with_le(char *out, size_t cap, const char *labels, const char *le)
{
    if (labels[0] == '{')
        snprintf(out, cap, "%.*s,le=\"%s\"}", (int)(strlen(labels) - 1), labels, le);
    else
        snprintf(out, cap, "{le=\"%s\"}", le);
}

int sg_metrics_render(struct sg_metrics *m, struct sg_buf *out)
{
    /* Merge all shards into one table. */
    struct sg_metrics_shard all;
    if (!table_init(&all, 512))
        return -1;
    for (int i = 0; i < m->nshards; i++) {
        struct sg_metrics_shard *s = &m->shards[i];
        pthread_mutex_lock(&s->mu);
        for (size_t j = 0; j < s->cap; j++) {
            struct series *e = &s->tab[j];
            if (!e->labels)
                continue;
            struct series *d = lookup(&all, e->family, e->labels);
            if (!d)
                continue;
            d->value += e->value;
            d->sum_us += e->sum_us;
            for (int b = 0; b < NBUCKETS; b++)
                d->buckets[b] += e->buckets[b];
        }
        pthread_mutex_unlock(&s->mu);
    }
    size_t n = 0;
    for (size_t j = 0; j < all.cap; j++)
        if (all.tab[j].labels)
            all.tab[n++] = all.tab[j];
    qsort(all.tab, n, sizeof(*all.tab), cmp_series);

    int rc = 0;
    for (int f = 0; f < SG_M_COUNT && rc == 0; f++) {
        rc |= sg_buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", families[f].name, families[f].help,
                            families[f].name, families[f].histogram ? "histogram" : "counter");
        for (size_t j = 0; j < n && rc == 0; j++) {
            struct series *e = &all.tab[j];
            if (e->family != f)
                continue;
            if (!families[f].histogram) {
                rc |=
                    sg_buf_printf(out, "%s%s %" PRIu64 "\n", families[f].name, e->labels, e->value);
                continue;
            }
            uint64_t cum = 0;
            for (int b = 0; b < NBUCKETS; b++) {
                char lb[600];
                cum += e->buckets[b];
                with_le(lb, sizeof(lb), e->labels, bucket_le[b]);
                rc |= sg_buf_printf(out, "%s_bucket%s %" PRIu64 "\n", families[f].name, lb, cum);
            }
            rc |= sg_buf_printf(out, "%s_sum%s %" PRIu64 ".%06" PRIu64 "\n%s_count%s %" PRIu64 "\n",
                                families[f].name, e->labels, e->sum_us / 1000000,
                                e->sum_us % 1000000, families[f].name, e->labels, e->value);
        }
    }
    rc |= sg_buf_printf(out,
                        "# HELP sovgate_requests_in_flight Requests being processed.\n"
                        "# TYPE sovgate_requests_in_flight gauge\n"
                        "sovgate_requests_in_flight %ld\n",
                        atomic_load(&m->inflight));
    for (size_t j = 0; j < n; j++)
        free(all.tab[j].labels);
    free(all.tab);
    return rc ? -1 : 0;
}
