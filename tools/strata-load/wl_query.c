/* Query workload: query file parsing and request targets (see wl_query.h). */
#include "tools/strata-load/wl_query.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"

int ld_queries_parse(struct ld_queries *qs, const char *text, size_t n)
{
    qs->q = NULL;
    qs->n = 0;
    uint32_t cap = 0;
    for (size_t i = 0; i < n;) {
        size_t e = i;
        while (e < n && text[e] != '\n')
            e++;
        size_t a = i, b = e;
        while (a < b && (text[a] == ' ' || text[a] == '\t'))
            a++;
        while (b > a && (text[b - 1] == ' ' || text[b - 1] == '\t' || text[b - 1] == '\r'))
            b--;
        i = e + 1;
        if (a == b || text[a] == '#')
            continue;
        if (qs->n == cap) {
            cap = cap ? cap * 2 : 16;
            char **nq = realloc(qs->q, cap * sizeof *nq);
            if (!nq)
                goto nomem;
            qs->q = nq;
        }
        if (!(qs->q[qs->n] = strndup(text + a, b - a)))
            goto nomem;
        qs->n++;
    }
    return qs->n ? 0 : ERR_INVALID;
nomem:
    ld_queries_free(qs);
    return ERR_NOMEM;
}

int ld_queries_load(struct ld_queries *qs, const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -errno;
    struct buf b = BUF_INIT;
    char tmp[4096];
    size_t k;
    int rc = 0;
    while (!rc && (k = fread(tmp, 1, sizeof tmp, f)) > 0)
        rc = buf_append(&b, tmp, k);
    if (!rc && ferror(f))
        rc = -EIO;
    fclose(f);
    if (!rc)
        rc = ld_queries_parse(qs, (const char *)b.data, b.len);
    buf_deinit(&b);
    return rc;
}

void ld_queries_free(struct ld_queries *qs)
{
    for (uint32_t i = 0; i < qs->n; i++)
        free(qs->q[i]);
    free(qs->q);
    qs->q = NULL;
    qs->n = 0;
}

const char *ld_query_path(const struct ld_queries *qs)
{
    if (qs->lang == LD_LOGQL)
        return qs->range ? "/loki/api/v1/query_range" : "/loki/api/v1/query";
    return qs->range ? "/api/v1/query_range" : "/api/v1/query";
}

/* Prometheus float seconds with millisecond precision. */
static int prom_time(struct buf *out, const char *key, int64_t t_ns)
{
    int64_t ms = t_ns / 1000000;
    return buf_printf(out, "&%s=%" PRId64 ".%03d", key, ms / 1000, (int)(ms % 1000));
}

int ld_query_target(const struct ld_queries *qs, const struct ld_url *u, const char *path,
                    uint32_t i, int64_t t_ns, struct buf *out)
{
    const char *q = qs->q[i % qs->n];
    int rc = buf_printf(out, "%s%s?query=", u->path, path ? path : ld_query_path(qs));
    if (!rc)
        rc = ld_urlenc(out, q, strlen(q));
    if (rc)
        return rc;
    int64_t start = t_ns - qs->range_ns;
    if (qs->lang == LD_PROMQL) {
        if (!qs->range)
            return prom_time(out, "time", t_ns);
        int64_t step_ms = qs->step_ns / 1000000;
        rc = prom_time(out, "start", start);
        if (!rc)
            rc = prom_time(out, "end", t_ns);
        if (!rc)
            rc = buf_printf(out, "&step=%" PRId64 ".%03d", step_ms / 1000, (int)(step_ms % 1000));
        return rc;
    }
    if (!qs->range)
        rc = buf_printf(out, "&time=%" PRId64, t_ns);
    else
        rc = buf_printf(out, "&start=%" PRId64 "&end=%" PRId64 "&step=%" PRId64 "ms", start, t_ns,
                        qs->step_ns / 1000000);
    if (!rc && qs->limit)
        rc = buf_printf(out, "&limit=%u", qs->limit);
    return rc;
}
