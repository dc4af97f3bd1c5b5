/* Log pattern mining for Loki's /loki/api/v1/patterns: a Drain-style clustering of log lines
 * (He et al., "Drain: An Online Log Parsing Approach with Fixed Depth Tree", 2017), as Loki's
 * pattern ingester does it. A line is split into whitespace-separated tokens; lines are grouped
 * by token count and by their first token (a token with a digit is a wildcard key, as numbers
 * rarely make good keys); inside a group the line joins the most similar cluster (share of equal
 * tokens at equal positions, placeholders not counted) when that similarity reaches sim_th,
 * turning the positions that differ into the placeholder `<_>`, or else starts a new cluster. A
 * pattern is its tokens joined by single spaces. Each cluster counts its lines per time bucket of
 * step_ns (Loki's samples: [unix seconds of the bucket start, count]).
 *
 * Limits: at most max_clusters clusters (lines that would start another one are counted in
 * dropped_lines), at most tokens_max tokens per line (longer lines are dropped too).
 *
 * Threading: one thread per instance. */
#ifndef STRATA_ENGINE_LOGS_PATTERNS_H
#define STRATA_ENGINE_LOGS_PATTERNS_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/str.h"

#define LOGPAT_PLACEHOLDER "<_>"

struct logpat_opts {
    double sim_th;         /* 0: 0.3 (Loki's) */
    uint32_t max_clusters; /* 0: 300 (Loki's) */
    uint32_t tokens_max;   /* 0: 128 */
    int64_t step_ns;       /* sample bucket width; 0: 10 s */
};

struct logpat_sample {
    int64_t ts_s; /* bucket start, Unix seconds */
    uint64_t count;
};

struct logpat_pattern {
    struct str pattern;                  /* valid until the next add or destroy */
    const struct logpat_sample *samples; /* by time */
    size_t n_samples;
    uint64_t total;
};

struct logpat;

/* Returns 0 or ERR_NOMEM. */
int logpat_create(const struct logpat_opts *opts, struct logpat **out);
void logpat_destroy(struct logpat *p);
/* Adds one line at ts_ns. Returns 0 or ERR_NOMEM. */
int logpat_add(struct logpat *p, int64_t ts_ns, struct str line);
/* Orders the clusters by total count, largest first (ties: pattern text). Call before reading. */
void logpat_sort(struct logpat *p);
size_t logpat_count(const struct logpat *p);
/* Pattern i (formats the pattern text into internal scratch). Returns 0 or ERR_NOMEM. */
int logpat_get(struct logpat *p, size_t i, struct logpat_pattern *out);
uint64_t logpat_dropped_lines(const struct logpat *p);

#endif
