/* Prometheus metrics. Each worker thread records into its own shard (a mutex that only
 * the scrape contends for); a scrape merges the shards and renders the text exposition
 * format. Label values come from bounded sets (routes, status codes, configured client
 * and backend names); a shard holds at most SG_METRICS_MAX_SERIES series and folds any
 * beyond that into one series labelled "_overflow". */
#ifndef SG_METRICS_METRICS_H
#define SG_METRICS_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

#define SG_METRICS_MAX_SERIES 4096

struct sg_metrics;
struct sg_metrics_shard;

/* Families of series. Counters count; histograms observe durations in microseconds. */
enum sg_metric {
    SG_M_REQUESTS = 0,    /* counter {route,status,client} */
    SG_M_DURATION,        /* histogram {route} */
    SG_M_TTFB,            /* histogram {backend} */
    SG_M_BYTES_IN,        /* counter {route} */
    SG_M_BYTES_OUT,       /* counter {route} */
    SG_M_UPSTREAM_ERRORS, /* counter {backend,reason} */
    SG_M_FAILOVERS,       /* counter {route} */
    SG_M_RELOADS,         /* counter {result} */
    SG_M_REDACTIONS,      /* counter {type,action}: entities found in requests */
    SG_M_BLOCKED,         /* counter {type}: requests refused by a block action */
    SG_M_OUTPUT_MASKED,   /* counter {type}: restricted values masked in answers */
    SG_M_RESTORED,        /* counter: surrogates put back in answers */
    SG_M_LIMITED,         /* counter {client,limit}: requests refused by a limit */
    SG_M_AUDIT_FAILURES,  /* counter: records that could not be made durable */
    SG_M_DECISIONS,       /* counter {decision,rule}: policy decisions */
    SG_M_INJECTION,       /* counter {client,signal}: requests the injection detector flagged */
    SG_M_COUNT
};

/* Creates a registry with `nshards` shards. NULL on failure. */
struct sg_metrics *sg_metrics_new(int nshards);
void sg_metrics_free(struct sg_metrics *m);
/* Shard `i` (0 <= i < nshards); owned by the registry. */
struct sg_metrics_shard *sg_metrics_shard(struct sg_metrics *m, int i);

/* One label of a series; both strings are borrowed for the call. */
struct sg_label {
    const char *name;
    const char *value; /* NULL is rendered as "" */
};

/* Adds `v` to the counter of `family` whose labels are labels[0..n). */
void sg_metrics_add(struct sg_metrics_shard *s, enum sg_metric family, uint64_t v,
                    const struct sg_label *labels, size_t n);
/* Observes `us` microseconds in the histogram of `family` (labels as above). */
void sg_metrics_observe(struct sg_metrics_shard *s, enum sg_metric family, uint64_t us,
                        const struct sg_label *labels, size_t n);

/* Labels as a compound literal: SG_LABELS({"route", path}, {"status", code}). */
#define SG_LABELS(...)                                                                             \
    (const struct sg_label[]){__VA_ARGS__},                                                        \
        sizeof((const struct sg_label[]){__VA_ARGS__}) / sizeof(struct sg_label)

/* Gauges that are process-wide rather than per shard. */
void sg_metrics_inflight(struct sg_metrics *m, int delta);

/* Renders every family into `out` in the Prometheus text format (version 0.0.4). */
int sg_metrics_render(struct sg_metrics *m, struct sg_buf *out);

#endif
