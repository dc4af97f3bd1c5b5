/* Prometheus text exposition helpers shared by the push pipelines' /metrics renderers
 * (ingest_metrics_render, logingest_metrics_render; dispatch.h). */
#include <inttypes.h>

#include "server/dispatch.h"

int dispatch_metric_header(struct buf *out, const char *name, const char *type, const char *help)
{
    return buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

int dispatch_metrics_counters(struct buf *out, const struct dispatch_counter *c, size_t nc,
                              const void *const *stats, uint32_t n)
{
    int rc = 0;
    for (size_t k = 0; k < nc && !rc; k++) {
        uint64_t sum = 0;
        for (uint32_t i = 0; i < n; i++)
            if (stats[i])
                sum += metric_get((const metric_u64 *)((const char *)stats[i] + c[k].off));
        rc = dispatch_metric_header(out, c[k].name, "counter", c[k].help);
        if (!rc)
            rc = buf_printf(out, "%s %" PRIu64 "\n", c[k].name, sum);
    }
    return rc;
}

int dispatch_metrics_sums(struct buf *out, const char *const (*names)[2], const uint64_t *sum,
                          size_t nk)
{
    int rc = 0;
    for (size_t k = 0; k < nk && !rc; k++) {
        rc = dispatch_metric_header(out, names[k][0], "counter", names[k][1]);
        if (!rc)
            rc = buf_printf(out, "%s %" PRIu64 "\n", names[k][0], sum[k]);
    }
    return rc;
}

int dispatch_metrics_gauges(struct buf *out, const char *const (*names)[2], size_t nk,
                            const uint64_t *v, const bool *present, uint32_t n)
{
    int rc = 0;
    for (size_t k = 0; k < nk && !rc; k++) {
        rc = dispatch_metric_header(out, names[k][0], "gauge", names[k][1]);
        for (uint32_t i = 0; i < n && !rc; i++)
            if (!present || present[i])
                rc = buf_printf(out, "%s{shard=\"%u\"} %" PRIu64 "\n", names[k][0], i,
                                v[(size_t)i * nk + k]);
    }
    return rc;
}

int dispatch_metrics_reasons(struct buf *out, const char *name, const char *help, const uint64_t *v,
                             int nk, const char *(*reason)(int kind))
{
    int rc = dispatch_metric_header(out, name, "counter", help);
    for (int k = 0; k < nk && !rc; k++)
        rc = buf_printf(out, "%s{reason=\"%s\"} %" PRIu64 "\n", name, reason(k), v[k]);
    return rc;
}
