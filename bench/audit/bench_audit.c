/* sg-bench-audit: throughput of the audit trail with durability as the gateway uses it
 * (bench/audit/run drives it), and a writer for the tests.
 *
 *   sg-bench-audit --db FILE [--threads N] [--window W] [--seconds S | --records N]
 *                  [--size BYTES] [--key HEX64] [--checkpoint-every N] [--postgres CONN]
 *                  [--print-durable]
 *
 * N producer threads each keep up to W records in flight, like N gateway workers with W
 * requests each waiting for their record: a record counts when its done callback reported
 * it durable (committed and fsynced). Records are realistic gateway records of about
 * --size bytes (default 600). With --seconds it runs that long (after a 1 s warm-up) and
 * prints one line "JSON {...}" with records_per_s and the latency from append to durable;
 * with --records it appends exactly that many and closes the trail (which waits for the
 * PostgreSQL sink to catch up). --print-durable prints "D <n>" for each durable record n
 * (the n-th appended, also the "n" member of its JSON) as soon as it is durable, for the
 * kill -9 test. */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "audit/audit.h"
#include "core/crypto.h"

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

struct producer {
    pthread_t thr;
    int id;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    unsigned inflight;
};

struct pending {
    struct producer *p;
    uint64_t t0;
    uint64_t n;
};

static struct sg_audit *trail;
static unsigned window = 64, size = 600;
static bool print_durable;
static atomic_bool running = true, measuring = false;
static atomic_uint_fast64_t next_n = 1, durable, failed, to_append = UINT64_MAX;
static uint64_t *lat;
static atomic_uint_fast64_t nlat;
static const uint64_t lat_cap = 1u << 24;
static pthread_mutex_t out_mu = PTHREAD_MUTEX_INITIALIZER;

static void done(void *arg, int result)
{
    struct pending *pd = arg;
    struct producer *p = pd->p;
    if (result == 0) {
        if (atomic_load(&measuring)) {
            atomic_fetch_add(&durable, 1);
            uint64_t i = atomic_fetch_add(&nlat, 1);
            if (i < lat_cap)
                lat[i] = now_us() - pd->t0;
        }
        if (print_durable) {
            pthread_mutex_lock(&out_mu);
            printf("D %" PRIu64 "\n", pd->n);
            fflush(stdout);
            pthread_mutex_unlock(&out_mu);
        }
    } else {
        atomic_fetch_add(&failed, 1);
    }
    free(pd);
    pthread_mutex_lock(&p->mu);
    p->inflight--;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

/* A gateway record: request metadata, classes, entity counts per type and action,
 * decision, tokens, durations and an HMAC digest (about 560 bytes); padded to `size` bytes
 * when that is larger. */
static int make_record(char *out, size_t cap, uint64_t n, int thread)
{
    uint8_t r[16];
    char rid[33], d1[65];
    sg_random_bytes(r, sizeof(r));
    sg_hex_encode(r, sizeof(r), rid);
    uint8_t h[32];
    sg_sha256(r, sizeof(r), h);
    sg_hex_encode(h, 32, d1);
    int len = snprintf(
        out, cap,
        "{\"n\":%" PRIu64 ",\"request_id\":\"req_%s\",\"worker\":%d,"
        "\"client\":\"woocommerce\",\"source\":\"wp:product-descriptions\","
        "\"endpoint\":\"/v1/chat/completions\",\"model\":\"assistant\",\"backend\":\"local\","
        "\"jurisdiction\":\"DE\",\"sovereign\":true,\"decision\":\"allow\","
        "\"rule\":\"personal-sovereign-only\",\"classes\":[\"personal\",\"restricted\"],"
        "\"entities\":{\"EMAIL\":{\"count\":2,\"action\":\"pseudonymize\"},\"CARD\":"
        "{\"count\":1,\"action\":\"mask\"}},\"tokens\":{\"prompt\":812,\"completion\":233},"
        "\"durations_ms\":{\"total\":1234.5,\"upstream\":1180.2,\"redact\":1.3},"
        "\"status\":200,\"digests\":{\"email\":\"hmac-sha256:%s\"}",
        n, rid, thread, d1);
    if (len < 0 || (size_t)len + 16 > cap)
        return -1;
    if ((unsigned)len + 12 < size) {
        int pad = (int)size - len - 12;
        len += snprintf(out + len, cap - (size_t)len, ",\"pad\":\"%.*s\"", pad,
                        "................................................................"
                        "................................................................"
                        "................................................................"
                        "................................................................"
                        "................................................................");
    }
    out[len++] = '}';
    out[len] = '\0';
    return len;
}

static void *produce(void *arg)
{
    struct producer *p = arg;
    char rec[4096];
    while (atomic_load(&running)) {
        pthread_mutex_lock(&p->mu);
        while (p->inflight >= window && atomic_load(&running))
            pthread_cond_wait(&p->cv, &p->mu);
        p->inflight++;
        pthread_mutex_unlock(&p->mu);
        uint64_t n = atomic_fetch_add(&next_n, 1);
        if (n > atomic_load(&to_append)) {
            pthread_mutex_lock(&p->mu);
            p->inflight--;
            pthread_mutex_unlock(&p->mu);
            break;
        }
        int len = make_record(rec, sizeof(rec), n, p->id);
        struct pending *pd = malloc(sizeof(*pd));
        if (len < 0 || !pd) {
            fprintf(stderr, "sg-bench-audit: cannot make a record\n");
            exit(1);
        }
        pd->p = p;
        pd->t0 = now_us();
        pd->n = n;
        if (sg_audit_append(trail, rec, (size_t)len, done, pd) != 0)
            usleep(1000); /* refused (done was called): the store failed or the queue is full */
    }
    /* Wait for this producer's records. */
    pthread_mutex_lock(&p->mu);
    while (p->inflight)
        pthread_cond_wait(&p->cv, &p->mu);
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    const char *db = NULL, *key = NULL, *pg = NULL;
    unsigned threads = 4, seconds = 5, every = 1000;
    uint64_t records = 0;
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(o, "--print-durable") == 0) {
            print_durable = true;
            continue;
        }
        if (!v) {
            fprintf(stderr, "sg-bench-audit: %s needs a value\n", o);
            return 2;
        }
        i++;
        if (strcmp(o, "--db") == 0)
            db = v;
        else if (strcmp(o, "--threads") == 0)
            threads = (unsigned)atoi(v);
        else if (strcmp(o, "--window") == 0)
            window = (unsigned)atoi(v);
        else if (strcmp(o, "--seconds") == 0)
            seconds = (unsigned)atoi(v);
        else if (strcmp(o, "--records") == 0)
            records = strtoull(v, NULL, 10);
        else if (strcmp(o, "--size") == 0)
            size = (unsigned)atoi(v);
        else if (strcmp(o, "--key") == 0)
            key = v;
        else if (strcmp(o, "--checkpoint-every") == 0)
            every = (unsigned)atoi(v);
        else if (strcmp(o, "--postgres") == 0)
            pg = v;
        else {
            fprintf(stderr, "sg-bench-audit: unknown option %s\n", o);
            return 2;
        }
    }
    if (!db || threads < 1 || threads > 256 || window < 1 || size > 3000) {
        fprintf(stderr, "usage: sg-bench-audit --db FILE [--threads N] [--window W] "
                        "[--seconds S | --records N] [--size B] [--key HEX64] "
                        "[--checkpoint-every N] [--postgres CONN] [--print-durable]\n");
        return 2;
    }
    uint8_t seed[SG_AUDIT_KEY_LEN];
    struct sg_error err = {0};
    if (key && sg_audit_key_parse(key, strlen(key), seed, &err) != 0) {
        fprintf(stderr, "sg-bench-audit: %s\n", err.msg);
        return 2;
    }
    struct sg_audit_opts o = {
        .path = db, .signing_key = key ? seed : NULL, .checkpoint_every = every, .postgres = pg};
    if (sg_audit_open(&o, &trail, &err) != 0) {
        fprintf(stderr, "sg-bench-audit: %s\n", err.msg);
        return 1;
    }
    lat = malloc(lat_cap * sizeof(*lat));
    if (!lat)
        return 1;
    if (records)
        atomic_store(&to_append, records);
    if (records || print_durable)
        atomic_store(&measuring, true);
    struct producer *ps = calloc(threads, sizeof(*ps));
    for (unsigned i = 0; i < threads; i++) {
        ps[i].id = (int)i;
        pthread_mutex_init(&ps[i].mu, NULL);
        pthread_cond_init(&ps[i].cv, NULL);
        pthread_create(&ps[i].thr, NULL, produce, &ps[i]);
    }
    uint64_t t0 = 0, t1 = 0;
    struct sg_audit_stats s0 = {0}, s1 = {0};
    if (!records) {
        usleep(1000000); /* warm-up */
        sg_audit_stats(trail, &s0);
        t0 = now_us();
        atomic_store(&measuring, true);
        usleep(seconds * 1000000u);
        atomic_store(&measuring, false);
        t1 = now_us();
        sg_audit_stats(trail, &s1);
        atomic_store(&running, false);
    }
    for (unsigned i = 0; i < threads; i++) {
        pthread_mutex_lock(&ps[i].mu);
        pthread_cond_broadcast(&ps[i].cv);
        pthread_mutex_unlock(&ps[i].mu);
        pthread_join(ps[i].thr, NULL);
    }
    sg_audit_close(trail);
    if (!records) {
        uint64_t n = atomic_load(&nlat) < lat_cap ? atomic_load(&nlat) : lat_cap;
        qsort(lat, n, sizeof(*lat), cmp_u64);
        double secs = (double)(t1 - t0) / 1e6;
        uint64_t commits = s1.commits - s0.commits;
        printf("JSON {\"records_per_s\":%.0f,\"records\":%" PRIu64 ",\"seconds\":%.2f,"
               "\"threads\":%u,\"window\":%u,\"size\":%u,\"commits_per_s\":%.0f,"
               "\"records_per_commit\":%.1f,\"latency_ms_p50\":%.2f,\"latency_ms_p99\":%.2f,"
               "\"failed\":%" PRIu64 "}\n",
               (double)atomic_load(&durable) / secs, (uint64_t)atomic_load(&durable), secs, threads,
               window, size, (double)commits / secs,
               commits ? (double)(s1.records - s0.records) / (double)commits : 0.0,
               n ? (double)lat[n / 2] / 1000.0 : 0.0, n ? (double)lat[n * 99 / 100] / 1000.0 : 0.0,
               (uint64_t)atomic_load(&failed));
    } else {
        printf("DONE durable=%" PRIu64 " failed=%" PRIu64 "\n", (uint64_t)atomic_load(&durable),
               (uint64_t)atomic_load(&failed));
    }
    for (unsigned i = 0; i < threads; i++) {
        pthread_mutex_destroy(&ps[i].mu);
        pthread_cond_destroy(&ps[i].cv);
    }
    free(ps);
    free(lat);
    return atomic_load(&failed) && records ? 1 : 0;
}
