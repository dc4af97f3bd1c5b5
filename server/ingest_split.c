/* Splitting a decoded remote-write request: per series validation (validate.h), the tenant label,
 * the identity hash and the owner shard, sample conversion, metadata, and one part per owner
 * (see ingest.h for the ownership rule: everything here borrows the decoded message's strings). */
#include <stdio.h>
#include <string.h>

#include "base/error.h"
#include "base/hash.h"
#include "server/ingest_internal.h"

#define SHOW_LABELS_MAX 12

struct split {
    struct tsdb_series_in *all; /* per request series; n_samples 0 = nothing to store */
    struct tsdb_hists_in *hall; /* per request series: its valid native histograms */
    bool any_hists;
    struct dispatch_split ds; /* owner per series */
};

void ingest_req_reject(struct ingest_req *r, int kind, uint64_t samples, uint32_t idx,
                       const char *reason)
{
    r->rejected[kind] += samples;
    dispatch_req_note_reason(&r->base, idx, reason);
}

/* Validates one series' client labels and, when valid, fills sp->all[idx]'s labels, hash and
 * owner. Returns 1 when the series' samples are to be stored, 0 when not, or ERR_NOMEM. */
static int place_series(struct ingest_req *r, struct split *sp, uint32_t idx,
                        const struct label *client, size_t n, uint64_t samples, uint64_t histograms)
{
    struct ingest_shard *s = ingest_req_shard(r);
    char reason[VALIDATE_REASON_MAX];
    int rc = validate_series(&s->cfg.limits, client, n, reason, sizeof reason);
    if (rc) {
        ingest_req_reject(r, INGEST_REJ_INVALID, samples, idx, reason);
        r->reply.histograms_rejected += histograms;
        r->reply.series_rejected++;
        metric_add(&s->stats.series_invalid, 1);
        return 0;
    }
    if (samples == 0 && histograms == 0)
        return 0;
    struct label *with = arena_alloc(&r->base.arena, (n + 1) * sizeof *with);
    if (!with)
        return ERR_NOMEM;
    size_t k = validate_labels_with_tenant(client, n, r->base.tenant, with);
    uint64_t h = hash_labels(with, k);
    sp->all[idx] = (struct tsdb_series_in){.labels = with, .n_labels = k, .hash = h};
    dispatch_split_place(&sp->ds, idx, h, s->d.nshards);
    return 1;
}

/* After the histograms of a placed series were converted: a series left with nothing to store
 * (every histogram invalid, no samples) is taken out again, so no empty series is created. It is
 * the newest series of its owner, so the owner's first index stays right. */
static void keep_placed(struct split *sp, uint32_t idx)
{
    sp->any_hists |= sp->hall[idx].n > 0 || sp->hall[idx].n_exemplars > 0;
    if (sp->all[idx].n_samples || sp->hall[idx].n || sp->hall[idx].n_exemplars)
        return;
    dispatch_split_unplace(&sp->ds, idx);
}

/* ---- v1 ---- */

static int split_v1_series(struct ingest_req *r, struct split *sp, uint32_t idx)
{
    const rw1_series *ts = r->v1->timeseries[idx];
    struct label *client = arena_alloc(&r->base.arena, (ts->n_labels + 1) * sizeof *client);
    if (!client)
        return ERR_NOMEM;
    size_t n = rw1_series_labels(ts, client, ts->n_labels);
    r->reply.samples_total += ts->n_samples;
    r->reply.histograms_total += ts->n_histograms;
    r->reply.exemplars_total += ts->n_exemplars;
    int placed = place_series(r, sp, idx, client, n, ts->n_samples, ts->n_histograms);
    if (placed <= 0)
        return placed;
    struct tsdb_sample *smp = arena_alloc(&r->base.arena, (ts->n_samples + 1) * sizeof *smp);
    if (!smp)
        return ERR_NOMEM;
    for (size_t i = 0; i < ts->n_samples; i++) {
        smp[i].t_ms = ts->samples[i]->timestamp;
        memcpy(&smp[i].v_bits, &ts->samples[i]->value, 8);
    }
    sp->all[idx].samples = smp;
    sp->all[idx].n_samples = ts->n_samples;
    int rc = ingest_hists_convert(r, idx, ts, false, client, n, &sp->hall[idx]);
    keep_placed(sp, idx);
    return rc;
}

static void meta_v1(struct ingest_req *r)
{
    for (size_t i = 0; i < r->v1->n_metadata; i++) {
        const Prometheus__MetricMetadata *md = r->v1->metadata[i];
        ingest_meta_put(ingest_req_shard(r), wire_str(md->metric_family_name), (uint8_t)md->type,
                        wire_str(md->help), wire_str(md->unit));
    }
}

/* ---- v2 ---- */

static struct str metric_name(const struct label *labels, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (str_eq_cstr(labels[i].name, VALIDATE_METRIC_NAME))
            return labels[i].value;
    return (struct str){"", 0};
}

static void meta_v2(struct ingest_req *r, const rw2_series *ts, const struct label *client,
                    size_t n)
{
    const Io__Prometheus__Write__V2__Metadata *md = ts->metadata;
    if (!md || (md->type == 0 && md->help_ref == 0 && md->unit_ref == 0))
        return;
    struct str family = metric_name(client, n);
    if (family.len == 0)
        return;
    ingest_meta_put(ingest_req_shard(r), family, (uint8_t)md->type, rw2_symbol(r->v2, md->help_ref),
                    rw2_symbol(r->v2, md->unit_ref));
}

static int split_v2_series(struct ingest_req *r, struct split *sp, uint32_t idx)
{
    const rw2_series *ts = r->v2->timeseries[idx];
    size_t cap = ts->n_labels_refs / 2 + 1;
    struct label *client = arena_alloc(&r->base.arena, cap * sizeof *client);
    if (!client)
        return ERR_NOMEM;
    size_t n = rw2_series_labels(r->v2, ts, client, cap);
    r->reply.samples_total += ts->n_samples;
    r->reply.histograms_total += ts->n_histograms;
    r->reply.exemplars_total += ts->n_exemplars;
    meta_v2(r, ts, client, n);
    int placed = place_series(r, sp, idx, client, n, ts->n_samples, ts->n_histograms);
    if (placed <= 0)
        return placed;
    struct tsdb_sample *smp = arena_alloc(&r->base.arena, (ts->n_samples + 1) * sizeof *smp);
    if (!smp)
        return ERR_NOMEM;
    for (size_t i = 0; i < ts->n_samples; i++) {
        smp[i].t_ms = ts->samples[i]->timestamp;
        memcpy(&smp[i].v_bits, &ts->samples[i]->value, 8);
    }
    sp->all[idx].samples = smp;
    sp->all[idx].n_samples = ts->n_samples;
    int rc = ingest_hists_convert(r, idx, ts, true, client, n, &sp->hall[idx]);
    keep_placed(sp, idx);
    return rc;
}

/* ---- parts ---- */

static int build_parts(struct ingest_req *r, struct split *sp)
{
    uint32_t *slot;
    int rc = dispatch_split_parts(&r->base, &sp->ds, &slot);
    for (uint32_t k = 0; rc == 0 && k < r->base.nparts; k++) {
        struct ingest_part *p = (struct ingest_part *)dispatch_req_part(&r->base, k);
        uint32_t count = sp->ds.count[p->owner];
        p->series = arena_alloc(&r->base.arena, count * sizeof *p->series);
        if (sp->any_hists)
            p->hists = arena_alloc(&r->base.arena, count * sizeof *p->hists);
        if (!p->series || (sp->any_hists && !p->hists))
            rc = ERR_NOMEM;
    }
    for (uint32_t i = 0; rc == 0 && i < sp->ds.n; i++) {
        if (sp->ds.owner[i] == INGEST_NO_OWNER)
            continue;
        struct ingest_part *p =
            (struct ingest_part *)dispatch_req_part(&r->base, slot[sp->ds.owner[i]]);
        if (p->hists)
            ((struct tsdb_hists_in *)p->hists)[p->n_series] = sp->hall[i];
        ((struct tsdb_series_in *)p->series)[p->n_series++] = sp->all[i];
    }
    return rc;
}

int ingest_req_split(struct ingest_req *r)
{
    struct ingest_shard *s = ingest_req_shard(r);
    uint32_t n = r->v2 ? (uint32_t)r->v2->n_timeseries : (uint32_t)r->v1->n_timeseries;
    struct split sp = {
        .all = arena_alloc(&r->base.arena, (n + 1) * sizeof *sp.all),
        .hall = arena_alloc(&r->base.arena, (n + 1) * sizeof *sp.hall),
    };
    if (!sp.all || !sp.hall || dispatch_split_init(&r->base, &sp.ds, n))
        return ERR_NOMEM;
    memset(sp.hall, 0, (n + 1) * sizeof *sp.hall);
    r->reply.series_total = n;
    for (uint32_t i = 0; i < n; i++) {
        int rc = r->v2 ? split_v2_series(r, &sp, i) : split_v1_series(r, &sp, i);
        if (rc)
            return rc;
    }
    if (r->v1)
        meta_v1(r);
    metric_add(&s->stats.samples_received, r->reply.samples_total);
    metric_add(&s->stats.histograms_received, r->reply.histograms_total);
    metric_add(&s->stats.exemplars_received, r->reply.exemplars_total);
    return build_parts(r, &sp);
}
