/* Prometheus text exposition helpers shared by the push pipelines' /metrics renderers
 * (ingest_metrics_render, logingest_metrics_render; dispatch.h). */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "server/dispatch.h"

static int header(struct buf *out, const char *name, const char *type, const char *help)
{
    return buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

int dispatch_metrics_counters(struct buf *out, const struct dispatch_counter *c, size_t nc,
                              const void *const *shards, size_t stats_off, uint32_t n)
{
    int rc = 0;
    for (size_t k = 0; k < nc && !rc; k++) {
        uint64_t sum = 0;
        for (uint32_t i = 0; i < n; i++)
            if (shards[i])
                sum += metric_get(
                    (const metric_u64 *)((const char *)shards[i] + stats_off + c[k].off));
        rc = header(out, c[k].name, "counter", c[k].help);
        if (!rc)
            rc = buf_printf(out, "%s %" PRIu64 "\n", c[k].name, sum);
    }
    return rc;
}

static int render_gauges(struct buf *out, const struct dispatch_store_metrics *m, const uint64_t *g,
                         const bool *present, uint32_t n)
{
    int rc = 0;
    for (size_t k = 0; k < m->ngauges && !rc; k++) {
        rc = header(out, m->gauges[k][0], "gauge", m->gauges[k][1]);
        for (uint32_t i = 0; i < n && !rc; i++)
            if (present[i])
                rc = buf_printf(out, "%s{shard=\"%u\"} %" PRIu64 "\n", m->gauges[k][0], i,
                                g[(size_t)i * m->ngauges + k]);
    }
    return rc;
}

static int render_sums(struct buf *out, const struct dispatch_store_metrics *m, const uint64_t *c,
                       const uint64_t *r)
{
    int rc = 0;
    for (size_t k = 0; k < m->nsums && !rc; k++) {
        rc = header(out, m->sums[k][0], "counter", m->sums[k][1]);
        if (!rc)
            rc = buf_printf(out, "%s %" PRIu64 "\n", m->sums[k][0], c[k]);
    }
    if (!rc)
        rc = header(out, m->reasons_name, "counter", m->reasons_help);
    for (int k = 0; k < m->nreasons && !rc; k++)
        rc =
            buf_printf(out, "%s{reason=\"%s\"} %" PRIu64 "\n", m->reasons_name, m->reason(k), r[k]);
    return rc;
}

int dispatch_metrics_store(struct buf *out, const struct dispatch_store_metrics *m, const void *ctx,
                           uint32_t n)
{
    size_t ng = m->ngauges, nc = m->nsums, nr = (size_t)m->nreasons;
    uint64_t *g = calloc((size_t)(n ? n : 1) * ng + 2 * (nc + nr), sizeof *g);
    bool *present = calloc(n ? n : 1, sizeof *present);
    int rc = ERR_NOMEM;
    if (g && present) {
        uint64_t *sum = g + (size_t)n * ng, *rsum = sum + nc, *c = rsum + nr, *r = c + nc;
        for (uint32_t i = 0; i < n; i++) {
            memset(c, 0, (nc + nr) * sizeof *c);
            present[i] = m->row(ctx, i, &g[(size_t)i * ng], c, r);
            for (size_t k = 0; k < nc; k++)
                sum[k] += c[k];
            for (size_t k = 0; k < nr; k++)
                rsum[k] += r[k];
        }
        rc = render_gauges(out, m, g, present, n);
        if (!rc)
            rc = render_sums(out, m, sum, rsum);
    }
    free(g);
    free(present);
    return rc;
}
