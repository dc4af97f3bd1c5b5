/* PromQL values shared by the evaluator, the in-memory store and the conformance runner:
 * immutable label sets (struct promql_lset) and float native histograms (struct promql_hist)
 * with the arithmetic Prometheus 3.x defines on them (model/histogram FloatHistogram).
 *
 * Histogram representation: bucket counts are DENSE arrays per side, p[i] being the count of
 * the positive bucket with index p_off + i (n[] likewise for the negative side). A zero count is
 * indistinguishable from an absent bucket; every operation Prometheus defines gives the same
 * result either way (it skips or compacts empty buckets), except Equals, which here compares the
 * populated buckets only. Results of arithmetic are "compacted": no zero buckets at either end
 * of an array (interior zeros are harmless). Custom-bucket histograms (schema -53) use p[] only,
 * indexed by bound position; their bounds array is shared and never modified.
 *
 * Memory: histograms and their arrays live in a caller's arena (base/arena.h); functions that
 * produce a histogram take the arena to allocate from. Nothing here frees; arenas do.
 * Errors: allocation failure returns NULL / ERR_NOMEM; an incompatible pair (exponential with
 * custom buckets) returns PROMQL_HIST_ERR_SCHEMA. Not thread-safe per object; no global state. */
#ifndef STRATA_ENGINE_PROMQL_VALUE_H
#define STRATA_ENGINE_PROMQL_VALUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/arena.h"
#include "base/buf.h"
#include "base/str.h"

/* ---- label sets ---- */

/* An immutable label set: sorted by name (byte order), unique names, with its identity hash
 * (base/hash.h hash_labels). Strings are borrowed from whoever built it (an arena). */
struct promql_lset {
    uint32_t n;
    uint64_t hash;
    struct label l[];
};

/* Builds a set from n labels (any order, unique names; empty values are dropped as Prometheus
 * does) in arena a. Strings are NOT copied (copy_strings false) or copied into a. NULL on
 * allocation failure. */
struct promql_lset *promql_lset_make(struct arena *a, const struct label *ls, size_t n,
                                     bool copy_strings);
/* The value of label `name`, or an empty string when absent. */
struct str promql_lset_get(const struct promql_lset *s, struct str name);
bool promql_lset_has(const struct promql_lset *s, struct str name);
/* labels.Compare order: label by label (name, then value), a prefix first. */
int promql_lset_cmp(const struct promql_lset *a, const struct promql_lset *b);
bool promql_lset_eq(const struct promql_lset *a, const struct promql_lset *b);
/* Go's labels.String(): {a="b", "weird name"="c"}. */
int promql_lset_format(struct buf *b, const struct promql_lset *s);

/* ---- native histograms ---- */

enum promql_hint {
    PROMQL_HINT_UNKNOWN = 0,
    PROMQL_HINT_RESET,
    PROMQL_HINT_NOT_RESET,
    PROMQL_HINT_GAUGE,
};

#define PROMQL_SCHEMA_CUSTOM (-53)
#define PROMQL_SCHEMA_MIN    (-4)
#define PROMQL_SCHEMA_MAX    8
/* Error: an exponential and a custom-buckets histogram meet in one operation. */
#define PROMQL_HIST_ERR_SCHEMA (-20001)
/* The widest dense bucket range one side may span (larger inputs are rejected as corrupt). */
#define PROMQL_HIST_SPAN_MAX (1u << 20)

struct promql_hist {
    int32_t schema;
    uint8_t hint; /* enum promql_hint */
    double zero_threshold, zero_count, count, sum;
    int32_t p_off, n_off;
    uint32_t p_len, n_len;
    double *p, *n;
    uint32_t ncustom;
    const double *custom; /* schema -53: ascending finite upper bounds, +Inf implied */
};

/* One bucket with its bounds, as Prometheus's Bucket[float64]. */
struct promql_bucket {
    double lower, upper;
    bool lower_incl, upper_incl;
    double count;
    int32_t index;
};

static inline bool promql_hist_is_custom(const struct promql_hist *h)
{
    return h->schema == PROMQL_SCHEMA_CUSTOM;
}

/* A zero histogram with room for the given dense lengths (counts zeroed). NULL on ENOMEM. */
struct promql_hist *promql_hist_new(struct arena *a, uint32_t p_len, uint32_t n_len);
/* Deep copy (custom bounds stay shared). */
struct promql_hist *promql_hist_copy(struct arena *a, const struct promql_hist *h);
/* Copy reduced to the coarser exponential schema `schema` (<= h->schema, h exponential). */
struct promql_hist *promql_hist_copy_to_schema(struct arena *a, const struct promql_hist *h,
                                               int32_t schema);
/* In place: trims zero buckets at both ends of each side. */
void promql_hist_compact(struct promql_hist *h);
/* In place: scale counts, sum and buckets; a negative factor makes the hint gauge. Dividing by 0
 * drops every bucket (Prometheus's Div). */
void promql_hist_mul(struct promql_hist *h, double f);
void promql_hist_div(struct promql_hist *h, double f);

/* Result flags of add/sub. */
struct promql_hist_addinfo {
    bool reset_collision; /* one side said reset, the other not_reset */
    bool nhcb_reconciled; /* custom bounds differed and were intersected */
};

/* *h = *h + other (or - other when negate), allocating any new storage in a. h is replaced by
 * a new histogram when its layout must grow (so callers pass the address). Mirrors
 * FloatHistogram.Add/Sub: zero thresholds and schemas are reconciled to the wider/coarser one,
 * custom bounds intersected. Returns 0, PROMQL_HIST_ERR_SCHEMA (h untouched) or ERR_NOMEM. The
 * result is not compacted. */
int promql_hist_add(struct arena *a, struct promql_hist **h, const struct promql_hist *other,
                    bool negate, struct promql_hist_addinfo *info);
/* Kahan-compensated *h += other, with *c the compensation histogram (NULL on the first call:
 * then created). *c always has the layout of *h. Mirrors FloatHistogram.KahanAdd. */
int promql_hist_kahan_add(struct arena *a, struct promql_hist **h, struct promql_hist **c,
                          const struct promql_hist *other, struct promql_hist_addinfo *info);

/* FloatHistogram.DetectReset: did a counter reset happen between prev and h? */
bool promql_hist_detect_reset(const struct promql_hist *h, const struct promql_hist *prev);
/* FloatHistogram.Equals, on populated buckets (see the header comment). */
bool promql_hist_equals(const struct promql_hist *a, const struct promql_hist *b);
/* Any infinite count, sum or bucket. */
bool promql_hist_has_overflow(const struct promql_hist *h);
/* Bounds of bucket `idx` on the positive side (upper = bound(idx), lower = bound(idx-1)). */
double promql_hist_bound(int32_t idx, int32_t schema, const double *custom, uint32_t ncustom);

/* Iterates every bucket ascending (negative side from the most negative, then the zero bucket
 * when its count > 0, then the positive side), or descending with reverse. Zero-count buckets
 * are visited too. */
struct promql_hist_iter {
    const struct promql_hist *h;
    bool reverse;
    int state; /* 0: first side, 1: zero bucket, 2: second side, 3: done */
    int64_t i; /* position within the current side's array */
    struct promql_bucket b;
};
void promql_hist_iter_init(struct promql_hist_iter *it, const struct promql_hist *h, bool reverse);
bool promql_hist_iter_next(struct promql_hist_iter *it);

/* FloatHistogram.TrimBuckets (the </ and >/ operators), in place; upper true for </. */
void promql_hist_trim(struct promql_hist *h, double rhs, bool upper);
/* Go's FloatHistogram.String() (used as a count_values label value). */
int promql_hist_format(struct buf *b, const struct promql_hist *h);

#endif
