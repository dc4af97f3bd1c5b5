/* The log ingest pipeline's shard state, request life cycle and reply aggregation over push
 * dispatch (see logingest.h, dispatch.h). Validation and splitting are in logingest_split.c, the
 * owner side in logingest_owner.c, the token buckets in logingest_rate.c. */
#include "server/logingest.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/assert.h"
#include "base/clock.h"
#include "base/error.h"
#include "base/log.h"
#include "formats/wire/lokipush_json.h"
#include "server/logingest_internal.h"

void logingest_config_default(struct logingest_config *c)
{
    *c = (struct logingest_config){
        .body_bytes_max = 64ull << 20,
        .mesh_full_timeout_ns = 1000000000LL,
        .rate_lines_per_s = 100000,
        .burst_lines = 200000,
        .rate_tenants_max = 100000,
        .labels_per_stream_max = 15,
        .label_name_bytes_max = 1024,
        .label_value_bytes_max = 2048,
        .structured_metadata_entries_max = 128,
        .structured_metadata_bytes_max = 64u << 10,
        .line_bytes_max = 256u << 10,
        .streams_per_tenant_max = 5000,
        .reject_old_ms = 7 * 86400 * 1000LL,
        .creation_grace_ms = 10 * 60 * 1000LL,
    };
}

void logingest_logstore_limits(const struct logingest_config *cfg, uint32_t nshards,
                               struct logstore_config *c)
{
    ASSERT(nshards >= 1);
    c->line_bytes_max = cfg->line_bytes_max;
    c->streams_per_tenant_max = (cfg->streams_per_tenant_max + nshards - 1) / nshards;
    c->reject_old_ms = cfg->reject_old_ms;
    c->creation_grace_ms = cfg->creation_grace_ms;
}

/* ---- the log store as a store ---- */

static int logstore_store_append(void *store, const struct logstore_stream_in *streams, size_t n,
                                 struct logstore_append_result *res, logstore_commit_fn cb,
                                 void *arg)
{
    return logstore_append(store, streams, n, res, cb, arg);
}

/* ---- shard ---- */

static void absorb_part(struct dispatch_req *base, struct dispatch_part *part);
static void finish(struct dispatch_req *base);

static const struct dispatch_ops logingest_dispatch_ops = {
    .msg_type = LOGINGEST_MSG_APPEND,
    .req_size = sizeof(struct logingest_req),
    .part_size = sizeof(struct logingest_part),
    .expired_msg = "mesh lane full too long, refusing log push",
    .apply = logingest_owner_apply,
    .absorb = absorb_part,
    .finish = finish,
};

int logingest_shard_create(const struct logingest_config *cfg, uint32_t self, uint32_t nshards,
                           struct mesh *mesh, struct logingest_shard **out)
{
    ASSERT(nshards >= 1 && self < nshards);
    struct logingest_shard *s = calloc(1, sizeof *s);
    if (!s)
        return ERR_NOMEM;
    s->cfg = *cfg;
    dispatch_shard_init(&s->d, &logingest_dispatch_ops, s, self, nshards, mesh);
    s->d.mesh_full_timeout_ns = cfg->mesh_full_timeout_ns;
    s->d.body_bytes_max = cfg->body_bytes_max;
    s->d.parts_applied = &s->stats.parts_applied;
    s->d.mesh_full_retries = &s->stats.mesh_full_retries;
    s->logstore_ops.append = logstore_store_append;
    if (cfg->rate_lines_per_s) {
        s->rate = logingest_rate_create((double)cfg->rate_lines_per_s / nshards,
                                        (double)cfg->burst_lines / nshards, cfg->rate_tenants_max);
        if (!s->rate) {
            free(s);
            return ERR_NOMEM;
        }
    }
    *out = s;
    return 0;
}

void logingest_shard_destroy(struct logingest_shard *s)
{
    if (!s)
        return;
    if (!logingest_shard_idle(s)) {
        /* stopped past the grace period: other shards' lanes or WAL callbacks may still reference
         * requests and parts; leave them (the process is exiting) */
        log_warn("log ingest state freed with work in flight", LOG_UINT("requests", s->d.inflight),
                 LOG_UINT("parts", s->d.owner_pending));
        return;
    }
    dispatch_shard_deinit(&s->d);
    logingest_rate_destroy(s->rate);
    buf_deinit(&s->body);
    free(s);
}

void logingest_shard_attach_logstore(struct logingest_shard *s, struct logstore *ls)
{
    s->ops = ls ? &s->logstore_ops : NULL;
    s->store = ls;
}

void logingest_shard_set_store(struct logingest_shard *s, const struct logingest_store_ops *ops,
                               void *store)
{
    s->ops = ops;
    s->store = store;
}

const struct logingest_stats *logingest_shard_stats(const struct logingest_shard *s)
{
    return &s->stats;
}

struct buf *logingest_shard_body_buf(struct logingest_shard *s)
{
    return &s->body;
}

bool logingest_shard_idle(const struct logingest_shard *s)
{
    return dispatch_idle(&s->d);
}

uint32_t logingest_shard_inflight(const struct logingest_shard *s)
{
    return s->d.inflight;
}

bool logingest_shard_poll(struct logingest_shard *s, int64_t now_ns)
{
    return dispatch_poll(&s->d, now_ns);
}

bool logingest_on_message(struct logingest_shard *s, struct mesh_msg *msg)
{
    return dispatch_on_message(&s->d, msg);
}

/* ---- requests ---- */

static struct logingest_req *req_begin(struct logingest_shard *s, enum logingest_body kind,
                                       struct str tenant)
{
    struct logingest_req *r = (struct logingest_req *)dispatch_req_begin(&s->d, tenant);
    if (!r)
        return NULL;
    r->kind = kind;
    memset(&r->push, 0, sizeof r->push);
    r->entries_sent = 0;
    memset(r->rejected, 0, sizeof r->rejected);
    memset(&r->reply, 0, sizeof r->reply);
    r->done = NULL;
    r->done_arg = NULL;
    return r;
}

static void set_reply_text(struct logingest_req *r, int status, const char *text)
{
    r->reply.status = status;
    snprintf(r->reply.text, sizeof r->reply.text, "%s", text);
}

static int req_decode(struct logingest_req *r, const uint8_t *body, size_t n)
{
    struct wire_decoder *dec = &r->base.dec;
    metric_add(&logingest_req_shard(r)->stats.requests, 1);
    int rc = r->kind == LOGINGEST_JSON ? lokipush_json_decode(dec, body, n, &r->push)
                                       : lokipush_decode(dec, body, n, &r->push);
    if (rc == 0)
        return 0;
    char text[LOGINGEST_REASON_MAX];
    if (rc == ERR_LIMIT)
        snprintf(text, sizeof text, "request body too large: %s", wire_decoder_err(dec));
    else
        snprintf(text, sizeof text, "%s", wire_decoder_err(dec));
    set_reply_text(r, rc == ERR_LIMIT ? 413 : rc == ERR_NOMEM ? 500 : 400, text);
    return rc;
}

/* ---- aggregation ---- */

static void absorb_part(struct dispatch_req *base, struct dispatch_part *part)
{
    struct logingest_req *r = (struct logingest_req *)base;
    struct logingest_part *p = (struct logingest_part *)part;
    dispatch_refusal_merge(&r->base.refusal, p->rc ? p->rc : p->res.err);
    if (p->rc != 0 && p->rc != ERR_NOMEM)
        return; /* refused up front: nothing applied (res zeroed by the owner) */
    r->reply.entries_written += p->res.accepted + p->res.duplicates;
    r->reply.entries_duplicate += p->res.duplicates;
    for (int k = 0; k < LOGSTORE_REJECT_KINDS_; k++)
        r->rejected[k] += p->res.rejected[k];
    if (p->res.rejected_total && p->res.reason[0])
        dispatch_req_note_reason(&r->base, p->first_index, p->res.reason);
}

static const char *rej_name(int k)
{
    switch (k) {
    case LOGINGEST_REJ_INVALID_STREAM: return "invalid_labels";
    case LOGINGEST_REJ_METADATA: return "structured_metadata_too_large";
    default: return logstore_reject_str((enum logstore_reject)k);
    }
}

/* "<reason> (rejected 3 of 10 entries: 2 line_too_long, 1 too_far_behind; 7 entries written)"
 * when more than one entry was rejected; the reason alone for one. */
static void format_rejection(struct logingest_req *r)
{
    struct logingest_reply *y = &r->reply;
    if (y->entries_rejected <= 1) {
        snprintf(y->text, sizeof y->text, "%s", r->base.reason);
        return;
    }
    char counts[384];
    size_t o =
        (size_t)snprintf(counts, sizeof counts, "rejected %" PRIu64 " of %" PRIu64 " entries",
                         y->entries_rejected, y->entries_total);
    dispatch_fmt_kinds(counts, sizeof counts, &o, r->rejected, LOGINGEST_REJ_KINDS_, rej_name);
    if (o < sizeof counts)
        snprintf(counts + o, sizeof counts - o, "; %" PRIu64 " entries written",
                 y->entries_written);
    dispatch_fmt_rejection(y->text, sizeof y->text, r->base.reason, counts, sizeof counts);
}

static void build_reply(struct logingest_req *r)
{
    struct logingest_reply *y = &r->reply;
    y->entries_rejected = 0;
    for (int k = 0; k < LOGINGEST_REJ_KINDS_; k++)
        y->entries_rejected += r->rejected[k];
    if (r->base.refusal) {
        y->status =
            dispatch_refusal_reply(r->base.refusal, &y->retry_after_s, y->text, sizeof y->text);
        return;
    }
    if (y->entries_rejected) {
        format_rejection(r);
        /* Loki answers its stream limit with 429 (the rest of the push is stored) */
        y->status = r->rejected[LOGSTORE_REJECT_STREAM_LIMIT] ? 429 : 400;
        if (y->status == 429)
            y->retry_after_s = LOGINGEST_RETRY_AFTER_S;
        return;
    }
    y->status = 204;
    y->text[0] = 0;
}

static void count_reply(struct logingest_shard *s, const struct logingest_reply *y)
{
    metric_add(&s->stats.entries_written, y->entries_written);
    metric_add(&s->stats.entries_duplicate, y->entries_duplicate);
    metric_add(&s->stats.entries_rejected, y->entries_rejected);
    if (y->status >= 300)
        metric_add(&s->stats.requests_failed, 1);
    if (y->status == 503)
        metric_add(&s->stats.backpressure, 1);
}

static void finish(struct dispatch_req *base)
{
    struct logingest_req *r = (struct logingest_req *)base;
    build_reply(r);
    count_reply(logingest_req_shard(r), &r->reply);
    r->done(r->done_arg, &r->reply);
}

/* Answers a request that was not dispatched and frees it. */
static void answer_now(struct logingest_req *r, logingest_done_fn done, void *arg)
{
    struct logingest_reply *y = &r->reply;
    if (y->status == 0)
        build_reply(r);
    count_reply(logingest_req_shard(r), y);
    done(arg, y);
    dispatch_req_free(&r->base);
}

/* The rate limit over the entries that passed validation: 0, or the 429 reply prepared. */
static int rate_check(struct logingest_req *r)
{
    struct logingest_shard *s = logingest_req_shard(r);
    int retry_after = 0;
    if (!s->rate || r->entries_sent == 0 ||
        logingest_rate_take(s->rate, r->base.tenant, r->entries_sent, clock_mono_ns(),
                            &retry_after) == 0)
        return 0;
    struct logingest_reply *y = &r->reply;
    metric_add(&s->stats.rate_limited, 1);
    y->status = 429;
    y->retry_after_s = retry_after;
    y->entries_rejected = y->entries_total;
    y->entries_written = 0;
    snprintf(y->text, sizeof y->text,
             "ingestion rate limit exceeded for user %.*s (limit: %" PRIu64
             " lines/sec) while attempting to ingest '%" PRIu64 "' lines totaling '%" PRIu64
             "' bytes, reduce log volume or contact your administrator to see if the limit can be "
             "increased (--limits.loki.ingestion-rate, --limits.loki.ingestion-burst)",
             (int)r->base.tenant.len, r->base.tenant.ptr, s->cfg.rate_lines_per_s, r->entries_sent,
             y->bytes_total);
    return ERR_LIMIT;
}

void logingest_write(struct logingest_shard *s, enum logingest_body kind, struct str tenant,
                     const uint8_t *body, size_t n, logingest_done_fn done, void *arg)
{
    struct logingest_req *r = req_begin(s, kind, tenant);
    if (!r) {
        struct logingest_reply y = {.status = 500};
        snprintf(y.text, sizeof y.text, "out of memory");
        metric_add(&s->stats.requests_failed, 1);
        done(arg, &y);
        return;
    }
    if (req_decode(r, body, n) != 0) {
        answer_now(r, done, arg);
        return;
    }
    if (r->push.n_streams == 0) {
        set_reply_text(r, 422, "error at least one valid stream is required for ingestion");
        answer_now(r, done, arg);
        return;
    }
    if (logingest_req_split(r) != 0) {
        set_reply_text(r, 500, "out of memory");
        answer_now(r, done, arg);
        return;
    }
    if (rate_check(r) != 0 || r->base.nparts == 0) {
        answer_now(r, done, arg); /* refused, or nothing valid to store (400 or 204) */
        return;
    }
    r->done = done;
    r->done_arg = arg;
    dispatch_req_send(&r->base);
}
