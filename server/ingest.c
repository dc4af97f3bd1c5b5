/* The ingest pipeline's shard state, request life cycle, dispatch over the mesh and reply
 * aggregation (see ingest.h). Splitting is in ingest_split.c, the owner side in ingest_owner.c,
 * metadata in ingest_meta.c. */
#include "server/ingest.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/assert.h"
#include "base/clock.h"
#include "base/error.h"
#include "base/log.h"
#include "server/ingest_internal.h"

#define REQ_ARENA_CHUNK (64 * 1024)

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

int ingest_shard_create(const struct ingest_config *cfg, uint32_t self, uint32_t nshards,
                        struct mesh *mesh, struct ingest_shard **out)
{
    ASSERT(nshards >= 1 && self < nshards);
    struct ingest_shard *s = calloc(1, sizeof *s);
    if (!s)
        return ERR_NOMEM;
    s->cfg = *cfg;
    s->self = self;
    s->nshards = nshards;
    s->mesh = mesh;
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

static void req_destroy(struct ingest_req *r)
{
    wire_decoder_deinit(&r->dec);
    arena_deinit(&r->arena);
    free(r);
}

void ingest_shard_destroy(struct ingest_shard *s)
{
    if (!s)
        return;
    if (!ingest_shard_idle(s)) {
        /* stopped past the grace period: requests and parts may still be referenced by other
         * shards' lanes or WAL callbacks; leave them (the process is exiting) */
        log_warn("ingest state freed with work in flight", LOG_UINT("requests", s->inflight),
                 LOG_UINT("parts", s->owner_pending));
        return;
    }
    while (s->pool) {
        struct ingest_req *r = s->pool;
        s->pool = r->next_free;
        req_destroy(r);
    }
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
    return s->inflight == 0 && s->owner_pending == 0;
}

uint32_t ingest_shard_inflight(const struct ingest_shard *s)
{
    return s->inflight;
}

/* ---- mesh ---- */

static void part_expired(void *arg, struct meshq_item *it)
{
    struct ingest_shard *s = arg;
    struct ingest_part *p = (struct ingest_part *)it->msg;
    log_warn("mesh lane full too long, refusing write", LOG_UINT("owner", p->owner));
    p->rc = ERR_FULL;
    ingest_part_returned(s, p);
}

bool ingest_shard_poll(struct ingest_shard *s, int64_t now_ns)
{
    if (!meshq_waiting(&s->retry))
        return false;
    uint32_t kept = meshq_poll(&s->retry, s->mesh, s->self, now_ns, s->cfg.mesh_full_timeout_ns,
                               part_expired, s);
    metric_add(&s->stats.mesh_full_retries, kept);
    return meshq_waiting(&s->retry);
}

bool ingest_on_message(struct ingest_shard *s, struct mesh_msg *msg)
{
    if (msg->type != INGEST_MSG_APPEND)
        return false;
    struct ingest_part *p = (struct ingest_part *)msg;
    if (msg->flags & MESH_MSG_REPLY)
        ingest_part_returned(s, p);
    else
        ingest_owner_apply(s, p);
    return true;
}

/* ---- requests ---- */

struct ingest_req *ingest_req_begin(struct ingest_shard *s, enum ingest_proto proto,
                                    struct str tenant)
{
    ASSERT(tenant.len <= VALIDATE_TENANT_BYTES_MAX);
    struct ingest_req *r = s->pool;
    if (r) {
        s->pool = r->next_free;
        s->npool--;
    } else {
        r = calloc(1, sizeof *r);
        if (!r)
            return NULL;
        size_t mem = s->cfg.body_bytes_max * WIRE_MEM_PER_BODY_BYTE + (1u << 20);
        wire_decoder_init(&r->dec, s->cfg.body_bytes_max, mem);
        arena_init(&r->arena, REQ_ARENA_CHUNK);
    }
    r->s = s;
    r->proto = proto;
    r->v1 = NULL;
    r->v2 = NULL;
    memcpy(r->tenant_buf, tenant.ptr, tenant.len);
    r->tenant_buf[tenant.len] = 0;
    r->tenant = (struct str){r->tenant_buf, tenant.len};
    r->parts = NULL;
    r->nparts = 0;
    r->pending = 0;
    r->backpressure = 0;
    memset(r->rejected, 0, sizeof r->rejected);
    r->duplicates = 0;
    memset(&r->reply, 0, sizeof r->reply);
    r->reply.proto = proto;
    r->reason_index = UINT32_MAX;
    r->reason[0] = 0;
    r->done = NULL;
    r->done_arg = NULL;
    r->next_free = NULL;
    return r;
}

void ingest_req_free(struct ingest_req *r)
{
    struct ingest_shard *s = r->s;
    if (s->npool >= INGEST_POOL_MAX) {
        req_destroy(r);
        return;
    }
    wire_decoder_reset(&r->dec);
    arena_reset(&r->arena);
    r->next_free = s->pool;
    s->pool = r;
    s->npool++;
}

static void set_reply_text(struct ingest_req *r, int status, const char *text)
{
    r->reply.status = status;
    snprintf(r->reply.text, sizeof r->reply.text, "%s", text);
}

int ingest_req_decode(struct ingest_req *r, const uint8_t *body, size_t n)
{
    metric_add(&r->s->stats.requests, 1);
    int rc = r->proto == INGEST_RW2 ? rw2_decode(&r->dec, body, n, &r->v2)
                                    : rw1_decode(&r->dec, body, n, &r->v1);
    if (rc == 0)
        return 0;
    const char *what =
        r->proto == INGEST_RW2 ? "io.prometheus.write.v2.Request" : "prometheus.WriteRequest";
    char text[INGEST_REASON_MAX];
    snprintf(text, sizeof text, "cannot decode %s: %s", what, wire_decoder_err(&r->dec));
    set_reply_text(r, rc == ERR_LIMIT ? 413 : rc == ERR_NOMEM ? 500 : 400, text);
    return rc;
}

uint32_t ingest_req_nparts(const struct ingest_req *r)
{
    return r->nparts;
}

const struct ingest_part *ingest_req_part(const struct ingest_req *r, uint32_t i)
{
    ASSERT(i < r->nparts);
    return &r->parts[i];
}

const struct ingest_reply *ingest_req_reply(struct ingest_req *r)
{
    return &r->reply;
}

/* ---- aggregation ---- */

/* Keeps the most severe refusal: mesh/WAL full and disk (503) over 413 over 500. */
static int severity(int rc)
{
    switch (rc) {
    case 0: return 0;
    case ERR_LIMIT: return 2;
    case ERR_FULL:
    case ERR_CLOSED:
    case -ENOSPC: return 3;
    default: return 1; /* internal */
    }
}

static void absorb_part(struct ingest_req *r, struct ingest_part *p)
{
    if (p->limited_series) {
        ingest_req_reject(r, INGEST_REJ_LIMIT, p->limited_samples, p->first_index,
                          p->limited_reason);
        r->reply.histograms_rejected += p->limited_hists;
        r->reply.series_rejected += p->limited_series;
    }
    int err = p->rc ? p->rc : p->res.err;
    if (severity(err) > severity(r->backpressure))
        r->backpressure = err;
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
        ingest_req_note_reason(r, p->first_index, p->res.reason);
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
    size_t o = 0;
    o += (size_t)snprintf(counts + o, sizeof counts - o,
                          "rejected %" PRIu64 " of %" PRIu64 " samples", y->samples_rejected,
                          y->samples_total);
    const char *sep = ": ";
    for (int k = 0; k < INGEST_REJ_KINDS_ && o < sizeof counts; k++) {
        if (!r->rejected[k])
            continue;
        o += (size_t)snprintf(counts + o, sizeof counts - o, "%s%" PRIu64 " %s", sep,
                              r->rejected[k], rej_name(k));
        sep = ", ";
    }
    if (o < sizeof counts && y->histograms_total)
        o += (size_t)snprintf(counts + o, sizeof counts - o,
                              "; %" PRIu64 " of %" PRIu64 " native histograms",
                              y->histograms_rejected, y->histograms_total);
    if (o < sizeof counts)
        snprintf(counts + o, sizeof counts - o, "; %" PRIu64 " samples written",
                 y->samples_written);
    snprintf(y->text, sizeof y->text, "%.*s (%s)", (int)(sizeof y->text - sizeof counts - 8),
             r->reason, counts);
}

static void build_reply(struct ingest_req *r)
{
    struct ingest_reply *y = &r->reply;
    y->samples_rejected = 0;
    for (int k = 0; k < INGEST_REJ_KINDS_; k++)
        y->samples_rejected += r->rejected[k];
    switch (severity(r->backpressure)) {
    case 3:
        y->status = 503;
        y->retry_after_s = INGEST_RETRY_AFTER_S;
        snprintf(y->text, sizeof y->text, "%s; retry later",
                 r->backpressure == -ENOSPC      ? "disk space is low, writes are refused"
                 : r->backpressure == ERR_CLOSED ? "shutting down"
                                                 : "overloaded: write buffer or queue full");
        return;
    case 2:
        y->status = 413;
        snprintf(y->text, sizeof y->text,
                 "request too large: one shard's part exceeds the WAL batch limit; send smaller "
                 "batches");
        return;
    case 1:
        y->status = 500;
        snprintf(y->text, sizeof y->text, "internal error while storing: %s",
                 err_str(r->backpressure));
        return;
    default: break;
    }
    if (y->samples_rejected || y->histograms_rejected) {
        y->status = 400;
        format_rejection(r);
        return;
    }
    y->status = 204;
    y->text[0] = 0;
}

static void finish(struct ingest_req *r)
{
    struct ingest_shard *s = r->s;
    build_reply(r);
    metric_add(&s->stats.samples_written, r->reply.samples_written);
    metric_add(&s->stats.samples_rejected, r->reply.samples_rejected);
    metric_add(&s->stats.histograms_rejected, r->reply.histograms_rejected);
    metric_add(&s->stats.histograms_written, r->reply.histograms_written);
    if (r->reply.status >= 300)
        metric_add(&s->stats.requests_failed, 1);
    if (r->reply.status == 503)
        metric_add(&s->stats.backpressure, 1);
    s->inflight--;
    r->done(r->done_arg, &r->reply);
    ingest_req_free(r);
}

void ingest_part_returned(struct ingest_shard *s, struct ingest_part *p)
{
    (void)s;
    struct ingest_req *r = p->req;
    absorb_part(r, p);
    ASSERT(r->pending > 0);
    if (--r->pending == 0)
        finish(r);
}

void ingest_req_dispatch(struct ingest_req *r, ingest_done_fn done, void *arg)
{
    struct ingest_shard *s = r->s;
    r->done = done;
    r->done_arg = arg;
    s->inflight++;
    r->pending = r->nparts + 1; /* +1: no completion while we are still sending */
    int64_t now = clock_mono_ns();
    for (uint32_t i = 0; i < r->nparts; i++) {
        struct ingest_part *p = &r->parts[i];
        if (p->owner == s->self) {
            ingest_owner_apply(s, p);
            continue;
        }
        ASSERT(s->mesh); /* a shard without a mesh may split for other shards, not send */
        meshq_send(&s->retry, s->mesh, s->self, p->owner, &p->hdr, &p->retry, now);
    }
    if (--r->pending == 0)
        finish(r);
}

struct write_failed {
    ingest_done_fn done;
    void *arg;
};

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
