/* Latency histogram, HDR-style log-linear buckets: values below 2^LD_HIST_SUB_BITS are exact;
 * above, each power-of-two range is cut into 2^LD_HIST_SUB_BITS equal sub-buckets, so a quantile
 * read back (the middle of the bucket holding the rank, clamped to the observed min and max) is
 * within 2^-(LD_HIST_SUB_BITS+1) = 0.4% of the true sample. Values are unsigned 64-bit (nanoseconds
 * here); the whole range is covered with a fixed 59 KiB array, so recording never allocates.
 * Not thread-safe: one writer; merge/copy under the owner's lock. */
#ifndef STRATA_TOOLS_LOAD_HIST_H
#define STRATA_TOOLS_LOAD_HIST_H

#include <stdint.h>

#define LD_HIST_SUB_BITS 7
#define LD_HIST_SUB      (1u << LD_HIST_SUB_BITS)
#define LD_HIST_BUCKETS  ((64 - LD_HIST_SUB_BITS + 1) * LD_HIST_SUB)

struct ld_hist {
    uint64_t count;
    uint64_t min;
    uint64_t max;
    double sum;
    uint64_t b[LD_HIST_BUCKETS];
};

void ld_hist_reset(struct ld_hist *h);
void ld_hist_record(struct ld_hist *h, uint64_t v);
/* dst += src. */
void ld_hist_merge(struct ld_hist *dst, const struct ld_hist *src);
/* out = now - before, where `before` is an earlier copy of the same histogram (an interval view;
 * min/max of the interval are approximated by its lowest and highest buckets). */
void ld_hist_diff(struct ld_hist *out, const struct ld_hist *now, const struct ld_hist *before);
/* The q-quantile (0 <= q <= 1) by nearest rank: the value at rank ceil(q*count) (1-based, at least
 * 1) of the sorted samples, within the error above. 0 when empty. */
uint64_t ld_hist_quantile(const struct ld_hist *h, double q);
double ld_hist_mean(const struct ld_hist *h);

/* Bucket index of v and the lowest value of bucket i (exposed for tests). */
uint32_t ld_hist_index(uint64_t v);
uint64_t ld_hist_lowest(uint32_t i);

#endif
