/* The ingest pipeline's shard state, request life cycle and reply aggregation over push dispatch
 * (see ingest.h, dispatch.h). Splitting is in ingest_split.c, the owner side in ingest_owner.c,
 * metadata in ingest_meta.c. */
#include "server/ingest.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/assert.h"
#include "base/error.h"
#include "base/log.h"
#include "server/ingest_internal.h"

void ingest_config_default(struct ingest_config *c)
{
    *c = (struct ingest_config){
        .series_per_tenant_max = 5000000,
        .mesh_full_timeout_ns = 1000000000LL,
        .metadata_max = 10000,
        .body_bytes_max = 64ull << 20,
    };
    validate_limits_default(&c->limits);
}

/* ---- the tsdb as a store ---- */

static int tsdb_store_append(void *store, const struct tsdb_series_in *series, size_t n,
                             struct tsdb_append_result *res, tsdb_commit_fn cb, void *arg)
{
    return tsdb_append(store, series, n, res, cb, arg);
}

static int tsdb_store_append_hists(void *store, const struct tsdb_series_in *series,
                                   const struct tsdb_hists_in *hists, size_t n,
                                   struct tsdb_append_result *res, tsdb_commit_fn cb, void *arg)
{
    return tsdb_append_hists(store, series, hists, n, res, cb, arg);
}

static bool tsdb_store_exists(void *store, const struct label *labels, size_t n, uint64_t hash)
{
    uint32_t id;
    return head_series_lookup(tsdb_head(store), labels, n, hash, &id) == 0;
}

static uint64_t tsdb_store_tenant_series(void *store, struct str tenant)
{
    struct matcher m;
    char err[64];
    if (matcher_init(&m, MATCHER_EQ, STR_LIT(VALIDATE_TENANT_LABEL), tenant, err, sizeof err))
        return 0;
    uint64_t n = 0;
    struct chunk_series_set *set = head_select(tsdb_head(store), &m, 1, INT64_MIN, INT64_MAX);
    while (set && chunk_series_set_next(set) == 1)
        n++;
    chunk_series_set_close(set);
    matcher_deinit(&m);
    return n;
}

static uint64_t tsdb_store_removed(void *store)
{
    struct head_stats st;
    head_stats_read(tsdb_head(store), &st);
    return st.series_removed_total;
}

/* ---- shard ---- */

static void absorb_part(struct dispatch_req *base, struct dispatch_part *part);
static void finish(struct dispatch_req *base);

static const struct dispatch_ops ingest_dispatch_ops = {
    .msg_type = INGEST_MSG_APPEND,
    .req_size = sizeof(struct ingest_req),
    .part_size = sizeof(struct ingest_part),
    .expired_msg = "mesh lane full too long, refusing write",
    .apply = ingest_owner_apply,
    .absorb = absorb_part,
    .finish = finish,
};

int ingest_shard_create(const struct ingest_config *cfg, uint32_t self, uint32_t nshards,
                        struct mesh *mesh, struct ingest_shard **out)
{
    ASSERT(nshards >= 1 && self < nshards);
    struct ingest_shard *s = calloc(1, sizeof *s);
    if (!s)
        return ERR_NOMEM;
    s->cfg = *cfg;
    dispatch_shard_init(&s->d, &ingest_dispatch_ops, s, self, nshards, mesh);
    s->d.mesh_full_timeout_ns = cfg->mesh_full_timeout_ns;
    s->d.body_bytes_max = cfg->body_bytes_max;
    s->d.parts_applied = &s->stats.parts_applied;
    s->d.mesh_full_retries = &s->stats.mesh_full_retries;
    if (cfg->series_per_tenant_max)
        s->tenant_share = (cfg->series_per_tenant_max + nshards - 1) / nshards;
    s->tsdb_ops = (struct ingest_store_ops){
        .append = tsdb_store_append,
        .append_hists = tsdb_store_append_hists,
        .exists = tsdb_store_exists,
        .tenant_series = tsdb_store_tenant_series,
        .series_removed = tsdb_store_removed,
    };
    ingest_meta_init(s);
    if (ingest_tenants_init(s)) {
        ingest_shard_destroy(s);
        return ERR_NOMEM;
    }
    *out = s;
    return 0;
}

void ingest_shard_destroy(struct ingest_shard *s)
{
    if (!s)
        return;
    if (!ingest_shard_idle(s)) {
        /* stopped past the grace period: requests and parts may still be referenced by other
         * shards' lanes or WAL callbacks; leave them (the process is exiting) */
        log_warn("ingest state freed with work in flight", LOG_UINT("requests", s->d.inflight),
                 LOG_UINT("parts", s->d.owner_pending));
        return;
    }
    dispatch_shard_deinit(&s->d);
    ingest_meta_deinit(s);
    ingest_tenants_deinit(s);
    free(s->scratch);
    free(s->hscratch);
    buf_deinit(&s->body);
    free(s);
}

void ingest_shard_attach_tsdb(struct ingest_shard *s, struct tsdb *t)
{
    s->ops = &s->tsdb_ops;
    s->store = t;
}

void ingest_shard_set_store(struct ingest_shard *s, const struct ingest_store_ops *ops, void *store)
{
    s->ops = ops;
    s->store = store;
}

const struct ingest_stats *ingest_shard_stats(const struct ingest_shard *s)
{
    return &s->stats;
}

struct buf *ingest_shard_body_buf(struct ingest_shard *s)
{
    return &s->body;
}

bool ingest_shard_idle(const struct ingest_shard *s)
{
    return dispatch_idle(&s->d);
}

uint32_t ingest_shard_inflight(const struct ingest_shard *s)
{
    return s->d.inflight;
}

bool ingest_shard_poll(struct ingest_shard *s, int64_t now_ns)
{
    return dispatch_poll(&s->d, now_ns);
}

bool ingest_on_message(struct ingest_shard *s, struct mesh_msg *msg)
{
    return dispatch_on_message(&s->d, msg);
}

/* ---- requests ---- */

struct ingest_req *ingest_req_begin(struct ingest_shard *s, enum ingest_proto proto,
                                    struct str tenant)
{
    struct ingest_req *r = (struct ingest_req *)dispatch_req_begin(&s->d, tenant);
    if (!r)
        return NULL;
    r->proto = proto;
    r->v1 = NULL;
    r->v2 = NULL;
    memset(r->rejected, 0, sizeof r->rejected);
    r->duplicates = 0;
    memset(&r->reply, 0, sizeof r->reply);
    r->reply.proto = proto;
    r->done = NULL;
    r->done_arg = NULL;
    return r;
}

void ingest_req_free(struct ingest_req *r)
{
    dispatch_req_free(&r->base);
}

static void set_reply_text(struct ingest_req *r, int status, const char *text)
{
    r->reply.status = status;
    snprintf(r->reply.text, sizeof r->reply.text, "%s", text);
}

int ingest_req_decode(struct ingest_req *r, const uint8_t *body, size_t n)
{
    struct wire_decoder *dec = &r->base.dec;
    metric_add(&ingest_req_shard(r)->stats.requests, 1);
    int rc = r->proto == INGEST_RW2 ? rw2_decode(dec, body, n, &r->v2)
                                    : rw1_decode(dec, body, n, &r->v1);
    if (rc == 0)
        return 0;
    const char *what =
        r->proto == INGEST_RW2 ? "io.prometheus.write.v2.Request" : "prometheus.WriteRequest";
    char text[INGEST_REASON_MAX];
    snprintf(text, sizeof text, "cannot decode %s: %s", what, wire_decoder_err(dec));
    set_reply_text(r, rc == ERR_LIMIT ? 413 : rc == ERR_NOMEM ? 500 : 400, text);
    return rc;
}

uint32_t ingest_req_nparts(const struct ingest_req *r)
{
    return r->base.nparts;
}

const struct ingest_part *ingest_req_part(const struct ingest_req *r, uint32_t i)
{
    return (const struct ingest_part *)dispatch_req_part(&r->base, i);
}

const struct ingest_reply *ingest_req_reply(struct ingest_req *r)
{
    return &r->reply;
}

/* ---- aggregation ---- */

static void absorb_part(struct dispatch_req *base, struct dispatch_part *part)
{
    struct ingest_req *r = (struct ingest_req *)base;
    struct ingest_part *p = (struct ingest_part *)part;
    if (p->limited_series) {
        ingest_req_reject(r, INGEST_REJ_LIMIT, p->limited_samples, p->first_index,
                          p->limited_reason);
        r->reply.histograms_rejected += p->limited_hists;
        r->reply.series_rejected += p->limited_series;
    }
    dispatch_refusal_merge(&r->base.refusal, p->rc ? p->rc : p->res.err);
    if (p->rc != 0 && p->rc != ERR_NOMEM)
        return; /* refused up front: nothing applied, res unset */
    const struct tsdb_append_result *x = &p->res;
    r->reply.samples_written +=
        (x->accepted - x->hist_accepted) + (x->duplicates - x->hist_duplicates);
    r->reply.histograms_written += x->hist_accepted + x->hist_duplicates;
    r->reply.histograms_rejected += x->hist_rejected;
    r->reply.exemplars_written += x->exemplars_accepted;
    r->duplicates += p->res.duplicates;
    for (int k = 0; k < TSDB_REJECT_KINDS_; k++)
        r->rejected[k] += p->res.rejected[k];
    if ((p->res.rejected_total || x->hist_rejected) && p->res.reason[0])
        dispatch_req_note_reason(&r->base, p->first_index, p->res.reason);
}

static const char *rej_name(int k)
{
    switch (k) {
    case INGEST_REJ_INVALID: return "invalid series";
    case INGEST_REJ_LIMIT: return "tenant series limit";
    default: return tsdb_reject_str((enum tsdb_reject)k);
    }
}

/* "<reason> (rejected 3 of 10 samples: 2 out of order sample, 1 invalid series; 1 of 1
 * histograms; 7 samples written)" */
static void format_rejection(struct ingest_req *r)
{
    struct ingest_reply *y = &r->reply;
    char counts[384];
    size_t o =
        (size_t)snprintf(counts, sizeof counts, "rejected %" PRIu64 " of %" PRIu64 " samples",
                         y->samples_rejected, y->samples_total);
    dispatch_fmt_kinds(counts, sizeof counts, &o, r->rejected, INGEST_REJ_KINDS_, rej_name);
    if (o < sizeof counts && y->histograms_total)
        o += (size_t)snprintf(counts + o, sizeof counts - o,
                              "; %" PRIu64 " of %" PRIu64 " native histograms",
                              y->histograms_rejected, y->histograms_total);
    if (o < sizeof counts)
        snprintf(counts + o, sizeof counts - o, "; %" PRIu64 " samples written",
                 y->samples_written);
    dispatch_fmt_rejection(y->text, sizeof y->text, r->base.reason, counts, sizeof counts);
}

static void build_reply(struct ingest_req *r)
{
    struct ingest_reply *y = &r->reply;
    y->samples_rejected = 0;
    for (int k = 0; k < INGEST_REJ_KINDS_; k++)
        y->samples_rejected += r->rejected[k];
    y->status = dispatch_refusal_reply(r->base.refusal, &y->retry_after_s, y->text, sizeof y->text);
    if (y->status)
        return;
    if (y->samples_rejected || y->histograms_rejected) {
        y->status = 400;
        format_rejection(r);
        return;
    }
    y->status = 204;
    y->text[0] = 0;
}

static void finish(struct dispatch_req *base)
{
    struct ingest_req *r = (struct ingest_req *)base;
    struct ingest_shard *s = ingest_req_shard(r);
    build_reply(r);
    metric_add(&s->stats.samples_written, r->reply.samples_written);
    metric_add(&s->stats.samples_rejected, r->reply.samples_rejected);
    metric_add(&s->stats.histograms_rejected, r->reply.histograms_rejected);
    metric_add(&s->stats.histograms_written, r->reply.histograms_written);
    if (r->reply.status >= 300)
        metric_add(&s->stats.requests_failed, 1);
    if (r->reply.status == 503)
        metric_add(&s->stats.backpressure, 1);
    r->done(r->done_arg, &r->reply);
}

void ingest_req_dispatch(struct ingest_req *r, ingest_done_fn done, void *arg)
{
    r->done = done;
    r->done_arg = arg;
    dispatch_req_send(&r->base);
}

void ingest_write(struct ingest_shard *s, enum ingest_proto proto, struct str tenant,
                  const uint8_t *body, size_t n, ingest_done_fn done, void *arg)
{
    struct ingest_req *r = ingest_req_begin(s, proto, tenant);
    if (!r) {
        struct ingest_reply y = {.proto = proto, .status = 500};
        snprintf(y.text, sizeof y.text, "out of memory");
        done(arg, &y);
        return;
    }
    int rc = ingest_req_decode(r, body, n);
    if (rc == 0 && (rc = ingest_req_split(r)) != 0)
        set_reply_text(r, 500, "out of memory");
    if (rc) {
        metric_add(&s->stats.requests_failed, 1);
        done(arg, &r->reply);
        ingest_req_free(r);
        return;
    }
    ingest_req_dispatch(r, done, arg);
}
