/* Log-linear latency histogram (see hist.h for the bucket layout and error bound). */
#include "tools/strata-load/hist.h"

#include <math.h>
#include <string.h>

void ld_hist_reset(struct ld_hist *h)
{
    memset(h, 0, sizeof *h);
    h->min = UINT64_MAX;
}

uint32_t ld_hist_index(uint64_t v)
{
    if (v < LD_HIST_SUB)
        return (uint32_t)v;
    uint32_t e = 63u - (uint32_t)__builtin_clzll(v); /* e >= SUB_BITS */
    uint32_t shift = e - LD_HIST_SUB_BITS;
    return (shift + 1) * LD_HIST_SUB + (uint32_t)((v >> shift) - LD_HIST_SUB);
}

uint64_t ld_hist_lowest(uint32_t i)
{
    if (i < LD_HIST_SUB)
        return i;
    uint32_t shift = i / LD_HIST_SUB - 1;
    return (uint64_t)(LD_HIST_SUB + i % LD_HIST_SUB) << shift;
}

static uint64_t bucket_width(uint32_t i)
{
    return i < LD_HIST_SUB ? 1 : (uint64_t)1 << (i / LD_HIST_SUB - 1);
}

void ld_hist_record(struct ld_hist *h, uint64_t v)
{
    h->b[ld_hist_index(v)]++;
    h->count++;
    h->sum += (double)v;
    if (v < h->min)
        h->min = v;
    if (v > h->max)
        h->max = v;
}

void ld_hist_merge(struct ld_hist *dst, const struct ld_hist *src)
{
    if (src->count == 0)
        return;
    for (uint32_t i = 0; i < LD_HIST_BUCKETS; i++)
        dst->b[i] += src->b[i];
    dst->count += src->count;
    dst->sum += src->sum;
    if (src->min < dst->min)
        dst->min = src->min;
    if (src->max > dst->max)
        dst->max = src->max;
}

void ld_hist_diff(struct ld_hist *out, const struct ld_hist *now, const struct ld_hist *before)
{
    ld_hist_reset(out);
    int64_t lo = -1, hi = -1;
    for (uint32_t i = 0; i < LD_HIST_BUCKETS; i++) {
        out->b[i] = now->b[i] - before->b[i];
        if (out->b[i]) {
            if (lo < 0)
                lo = i;
            hi = i;
        }
    }
    out->count = now->count - before->count;
    out->sum = now->sum - before->sum;
    if (lo >= 0) {
        out->min = ld_hist_lowest((uint32_t)lo);
        out->max = ld_hist_lowest((uint32_t)hi) + bucket_width((uint32_t)hi) - 1;
    }
}

uint64_t ld_hist_quantile(const struct ld_hist *h, double q)
{
    if (h->count == 0)
        return 0;
    if (q < 0)
        q = 0;
    if (q > 1)
        q = 1;
    uint64_t rank = (uint64_t)ceil(q * (double)h->count);
    if (rank < 1)
        rank = 1;
    uint64_t seen = 0;
    uint32_t i = 0;
    for (; i < LD_HIST_BUCKETS; i++) {
        seen += h->b[i];
        if (seen >= rank)
            break;
    }
    if (i == LD_HIST_BUCKETS)
        return h->max;
    uint64_t v = ld_hist_lowest(i) + bucket_width(i) / 2;
    if (v < h->min)
        v = h->min;
    if (v > h->max)
        v = h->max;
    return v;
}

double ld_hist_mean(const struct ld_hist *h)
{
    return h->count ? h->sum / (double)h->count : 0;
}
