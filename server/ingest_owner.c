/* The owner side of ingest: the per-tenant series limit, the append into the shard's store, and
 * its answer through push dispatch once the part is durable (see ingest.h, dispatch.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/log.h"
#include "server/ingest_internal.h"

#define SHOW_LABELS_MAX 12

/* ---- tenants ---- */

int ingest_tenants_init(struct ingest_shard *s)
{
    strmap_init(&s->tenants);
    return 0;
}

void ingest_tenants_deinit(struct ingest_shard *s)
{
    const struct strmap_slot *slot;
    for (size_t i = 0; strmap_next(&s->tenants, &i, &slot);)
        free(slot->value);
    strmap_deinit(&s->tenants);
}

/* Recounts every tenant's live series after the store removed series; forgets tenants left
 * without series. */
static void recount(struct ingest_shard *s)
{
    if (!s->ops->series_removed)
        return;
    uint64_t removed = s->ops->series_removed(s->store);
    if (removed == s->removed_seen)
        return;
    s->removed_seen = removed;
    struct ingest_tenant *gone[64];
    size_t ngone = 0;
    const struct strmap_slot *slot;
    for (size_t i = 0; strmap_next(&s->tenants, &i, &slot);) {
        struct ingest_tenant *t = slot->value;
        t->series = s->ops->tenant_series(s->store, slot->key);
        if (t->series == 0 && ngone < sizeof gone / sizeof gone[0])
            gone[ngone++] = t;
    }
    for (size_t i = 0; i < ngone; i++) {
        strmap_remove(&s->tenants, str_from_cstr(gone[i]->name));
        free(gone[i]);
    }
}

/* The tenant's entry, created (with a count from the store) on first sight; NULL on ERR_NOMEM. */
static struct ingest_tenant *tenant_get(struct ingest_shard *s, struct str name)
{
    struct ingest_tenant *t = strmap_get(&s->tenants, name);
    if (t)
        return t;
    t = malloc(sizeof *t + name.len + 1);
    if (!t)
        return NULL;
    memcpy(t->name, name.ptr, name.len);
    t->name[name.len] = 0;
    t->series = s->ops->tenant_series(s->store, name);
    if (strmap_put(&s->tenants, (struct str){t->name, name.len}, t)) {
        free(t);
        return NULL;
    }
    return t;
}

static void note_limited(struct ingest_part *p, uint32_t i, struct str tenant, uint64_t share)
{
    const struct tsdb_series_in *in = &p->series[i];
    p->limited_series++;
    p->limited_samples += in->n_samples;
    p->limited_hists += p->hists ? p->hists[i].n : 0;
    if (p->limited_reason[0])
        return;
    char shown[200];
    size_t n = in->n_labels < SHOW_LABELS_MAX ? in->n_labels : SHOW_LABELS_MAX;
    validate_fmt_labels(shown, sizeof shown, in->labels, n);
    snprintf(p->limited_reason, sizeof p->limited_reason,
             "series %s: per-tenant series limit reached for tenant \"%.*s\" (%llu series per "
             "shard; --limits.max-series-per-tenant)",
             shown, (int)tenant.len, tenant.ptr, (unsigned long long)share);
}

/* Applies the tenant series limit to p: the series that may be stored go to s->scratch (or, when
 * no series can cross the limit, p->series is used as is). Returns the count kept; *out the array.
 */
static size_t limit_series(struct ingest_shard *s, struct ingest_part *p,
                           const struct tsdb_series_in **out, const struct tsdb_hists_in **hout,
                           struct ingest_tenant **tenant)
{
    *out = p->series;
    *hout = p->hists;
    *tenant = NULL;
    if (!s->tenant_share || !s->ops->exists || !s->ops->tenant_series)
        return p->n_series;
    recount(s);
    struct str name = p->req->tenant; /* immutable while the part is in flight */
    struct ingest_tenant *t = tenant_get(s, name);
    *tenant = t;
    if (!t || t->series + p->n_series <= s->tenant_share)
        return p->n_series; /* cannot cross the limit: no lookups needed */
    if (s->scratch_cap < p->n_series) {
        struct tsdb_series_in *g = realloc(s->scratch, p->n_series * sizeof *g);
        if (g)
            s->scratch = g;
        struct tsdb_hists_in *hg = g ? realloc(s->hscratch, p->n_series * sizeof *hg) : NULL;
        if (!hg)
            return p->n_series; /* fail open: the limit is a guard, not a correctness rule */
        s->hscratch = hg;
        s->scratch_cap = p->n_series;
    }
    uint64_t live = t->series;
    size_t k = 0;
    for (uint32_t i = 0; i < p->n_series; i++) {
        const struct tsdb_series_in *in = &p->series[i];
        bool exists = s->ops->exists(s->store, in->labels, in->n_labels, in->hash);
        if (!exists && live >= s->tenant_share) {
            note_limited(p, i, name, s->tenant_share);
            continue;
        }
        live += !exists;
        if (p->hists)
            s->hscratch[k] = p->hists[i];
        s->scratch[k++] = *in;
    }
    if (p->limited_series)
        metric_add(&s->stats.series_limited, p->limited_series);
    *out = s->scratch;
    *hout = p->hists ? s->hscratch : NULL;
    return k;
}

/* ---- apply ---- */

int ingest_owner_apply(void *proto, struct dispatch_part *part)
{
    struct ingest_shard *s = proto;
    struct ingest_part *p = (struct ingest_part *)part;
    if (!s->ops) {
        p->rc = ERR_CLOSED; /* no store attached (starting or stopping) */
        return 1;
    }
    const struct tsdb_series_in *series;
    const struct tsdb_hists_in *hists;
    struct ingest_tenant *t;
    size_t n = limit_series(s, p, &series, &hists, &t);
    if (n == 0)
        return 1;
    if (hists && s->ops->append_hists)
        p->rc =
            s->ops->append_hists(s->store, series, hists, n, &p->res, dispatch_part_durable, part);
    else
        p->rc = s->ops->append(s->store, series, n, &p->res, dispatch_part_durable, part);
    if (hists && !s->ops->append_hists && (p->rc == 0 || p->rc == ERR_NOMEM))
        for (size_t i = 0; i < n; i++)
            p->res.hist_rejected += hists[i].n; /* a store without histograms */
    if ((p->rc == 0 || p->rc == ERR_NOMEM) && t)
        t->series += p->res.series_created;
    if (p->rc != 0 && p->rc != ERR_FULL && p->rc != -ENOSPC && p->rc != ERR_CLOSED)
        log_warn("ingest: append failed", LOG_ERR(p->rc), LOG_UINT("series", n));
    return p->rc != 0;
}
