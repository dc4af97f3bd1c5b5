/* Push dispatch (dispatch.h): the request pool, splitting by owner, sending parts over the mesh,
 * the owner's answer, merging the replies, and the wording of refusals shared by remote write
 * and Loki push. */
#include "server/dispatch.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/assert.h"
#include "base/clock.h"
#include "base/error.h"
#include "base/hash.h"
#include "base/log.h"

#define REQ_ARENA_CHUNK (64 * 1024)

/* ---- shard ---- */

void dispatch_shard_init(struct dispatch_shard *d, const struct dispatch_ops *ops, void *proto,
                         uint32_t self, uint32_t nshards, struct mesh *mesh)
{
    ASSERT(nshards >= 1 && self < nshards);
    ASSERT(ops->req_size >= sizeof(struct dispatch_req));
    ASSERT(ops->part_size >= sizeof(struct dispatch_part));
    *d = (struct dispatch_shard){
        .ops = ops,
        .proto = proto,
        .self = self,
        .nshards = nshards,
        .mesh = mesh,
        .mesh_full_timeout_ns = 1000000000LL,
        .body_bytes_max = 64ull << 20,
    };
}

static void req_destroy(struct dispatch_req *r)
{
    wire_decoder_deinit(&r->dec);
    arena_deinit(&r->arena);
    free(r);
}

void dispatch_shard_deinit(struct dispatch_shard *d)
{
    while (d->pool) {
        struct dispatch_req *r = d->pool;
        d->pool = r->next_free;
        req_destroy(r);
    }
    d->npool = 0;
}

bool dispatch_idle(const struct dispatch_shard *d)
{
    return d->inflight == 0 && d->owner_pending == 0;
}

/* ---- request ---- */

struct dispatch_req *dispatch_req_begin(struct dispatch_shard *d, struct str tenant)
{
    ASSERT(tenant.len <= VALIDATE_TENANT_BYTES_MAX);
    struct dispatch_req *r = d->pool;
    if (r) {
        d->pool = r->next_free;
        d->npool--;
    } else {
        r = calloc(1, d->ops->req_size);
        if (!r)
            return NULL;
        size_t mem = d->body_bytes_max * WIRE_MEM_PER_BODY_BYTE + (1u << 20);
        wire_decoder_init(&r->dec, d->body_bytes_max, mem);
        arena_init(&r->arena, REQ_ARENA_CHUNK);
    }
    r->d = d;
    memcpy(r->tenant_buf, tenant.ptr, tenant.len);
    r->tenant_buf[tenant.len] = 0;
    r->tenant = (struct str){r->tenant_buf, tenant.len};
    r->parts = NULL;
    r->nparts = 0;
    r->pending = 0;
    r->refusal = 0;
    r->reason_index = UINT32_MAX;
    r->reason[0] = 0;
    r->next_free = NULL;
    return r;
}

void dispatch_req_free(struct dispatch_req *r)
{
    struct dispatch_shard *d = r->d;
    if (d->npool >= DISPATCH_POOL_MAX) {
        req_destroy(r);
        return;
    }
    wire_decoder_reset(&r->dec);
    arena_reset(&r->arena);
    r->next_free = d->pool;
    d->pool = r;
    d->npool++;
}

void dispatch_req_note_reason(struct dispatch_req *r, uint32_t idx, const char *reason)
{
    if (idx >= r->reason_index && r->reason[0])
        return;
    r->reason_index = idx;
    snprintf(r->reason, sizeof r->reason, "%s", reason);
}

struct dispatch_part *dispatch_req_part(const struct dispatch_req *r, uint32_t i)
{
    ASSERT(i < r->nparts);
    return (struct dispatch_part *)((char *)r->parts + (size_t)i * r->d->ops->part_size);
}

/* ---- splitting ---- */

int dispatch_split_init(struct dispatch_req *r, struct dispatch_split *sp, uint32_t n)
{
    uint32_t ns = r->d->nshards;
    *sp = (struct dispatch_split){
        .n = n,
        .owner = arena_alloc(&r->arena, (n + 1) * sizeof *sp->owner),
        .count = arena_alloc(&r->arena, ns * sizeof *sp->count),
        .first = arena_alloc(&r->arena, ns * sizeof *sp->first),
    };
    if (!sp->owner || !sp->count || !sp->first)
        return ERR_NOMEM;
    for (uint32_t i = 0; i < n; i++)
        sp->owner[i] = DISPATCH_NO_OWNER;
    memset(sp->count, 0, ns * sizeof *sp->count);
    return 0;
}

uint32_t dispatch_split_place(struct dispatch_split *sp, uint32_t idx, uint64_t hash,
                              uint32_t nshards)
{
    uint32_t owner = hash_to_range(hash, nshards);
    sp->owner[idx] = owner;
    if (sp->count[owner]++ == 0)
        sp->first[owner] = idx;
    return owner;
}

void dispatch_split_unplace(struct dispatch_split *sp, uint32_t idx)
{
    sp->count[sp->owner[idx]]--;
    sp->owner[idx] = DISPATCH_NO_OWNER;
}

int dispatch_split_parts(struct dispatch_req *r, const struct dispatch_split *sp, uint32_t **slot)
{
    struct dispatch_shard *d = r->d;
    size_t size = d->ops->part_size;
    uint32_t nparts = 0;
    for (uint32_t o = 0; o < d->nshards; o++)
        nparts += sp->count[o] > 0;
    *slot = arena_alloc(&r->arena, d->nshards * sizeof **slot);
    if (!*slot)
        return ERR_NOMEM;
    if (nparts == 0)
        return 0;
    r->parts = arena_alloc_aligned(&r->arena, nparts * size, 64);
    if (!r->parts)
        return ERR_NOMEM;
    memset(r->parts, 0, nparts * size);
    r->nparts = nparts;
    uint32_t k = 0;
    for (uint32_t o = 0; o < d->nshards; o++) {
        if (!sp->count[o])
            continue;
        struct dispatch_part *p = dispatch_req_part(r, k);
        mesh_msg_init(&p->hdr, d->ops->msg_type, d->self);
        p->req = r;
        p->owner = o;
        p->first_index = sp->first[o];
        (*slot)[o] = k++;
    }
    return 0;
}

/* ---- accepting shard: sending and merging ---- */

static void finish(struct dispatch_req *r)
{
    struct dispatch_shard *d = r->d;
    d->inflight--;
    d->ops->finish(r);
    dispatch_req_free(r);
}

static void part_returned(struct dispatch_part *p)
{
    struct dispatch_req *r = p->req;
    r->d->ops->absorb(r, p);
    ASSERT(r->pending > 0);
    if (--r->pending == 0)
        finish(r);
}

/* ---- owner shard ---- */

/* Hands p back: to ourselves when we accepted it, else over the mesh. */
static void complete(struct dispatch_shard *d, struct dispatch_part *p)
{
    if (p->hdr.owner == d->self)
        part_returned(p);
    else
        mesh_reply(d->mesh, d->self, &p->hdr);
}

void dispatch_part_durable(void *arg, int result)
{
    (void)result;
    struct dispatch_part *p = arg;
    struct dispatch_shard *d = p->applier;
    d->owner_pending--;
    complete(d, p);
}

static void owner_apply(struct dispatch_shard *d, struct dispatch_part *p)
{
    p->applier = d;
    if (d->parts_applied)
        metric_add(d->parts_applied, 1);
    d->owner_pending++;
    if (d->ops->apply(d->proto, p) == 0)
        return; /* dispatch_part_durable completes it */
    d->owner_pending--;
    complete(d, p);
}

void dispatch_req_send(struct dispatch_req *r)
{
    struct dispatch_shard *d = r->d;
    d->inflight++;
    r->pending = r->nparts + 1; /* +1: no completion while we are still sending */
    int64_t now = clock_mono_ns();
    for (uint32_t i = 0; i < r->nparts; i++) {
        struct dispatch_part *p = dispatch_req_part(r, i);
        if (p->owner == d->self) {
            owner_apply(d, p);
            continue;
        }
        ASSERT(d->mesh); /* a shard without a mesh may split for other shards, not send */
        meshq_send(&d->retry, d->mesh, d->self, p->owner, &p->hdr, &p->retry, now);
    }
    if (--r->pending == 0)
        finish(r);
}

bool dispatch_on_message(struct dispatch_shard *d, struct mesh_msg *msg)
{
    if (msg->type != d->ops->msg_type)
        return false;
    struct dispatch_part *p = (struct dispatch_part *)msg;
    if (msg->flags & MESH_MSG_REPLY)
        part_returned(p);
    else
        owner_apply(d, p);
    return true;
}

static void part_expired(void *arg, struct meshq_item *it)
{
    struct dispatch_shard *d = arg;
    struct dispatch_part *p = (struct dispatch_part *)it->msg;
    log_warn(d->ops->expired_msg, LOG_UINT("owner", p->owner));
    p->rc = ERR_FULL;
    part_returned(p);
}

bool dispatch_poll(struct dispatch_shard *d, int64_t now_ns)
{
    if (!meshq_waiting(&d->retry))
        return false;
    uint32_t kept =
        meshq_poll(&d->retry, d->mesh, d->self, now_ns, d->mesh_full_timeout_ns, part_expired, d);
    if (d->mesh_full_retries)
        metric_add(d->mesh_full_retries, kept);
    return meshq_waiting(&d->retry);
}

/* ---- answers ---- */

/* mesh/WAL full, disk low, closing (3) over a part too large (2) over internal errors (1). */
static int severity(int rc)
{
    switch (rc) {
    case 0: return 0;
    case ERR_LIMIT: return 2;
    case ERR_FULL:
    case ERR_CLOSED:
    case -ENOSPC: return 3;
    default: return 1;
    }
}

void dispatch_refusal_merge(int *worst, int err)
{
    if (severity(err) > severity(*worst))
        *worst = err;
}

int dispatch_refusal_reply(int err, int *retry_after_s, char *text, size_t cap)
{
    switch (severity(err)) {
    case 3:
        *retry_after_s = DISPATCH_RETRY_AFTER_S;
        snprintf(text, cap, "%s; retry later",
                 err == -ENOSPC      ? "disk space is low, writes are refused"
                 : err == ERR_CLOSED ? "shutting down"
                                     : "overloaded: write buffer or queue full");
        return 503;
    case 2:
        snprintf(text, cap,
                 "request too large: one shard's part exceeds the WAL batch limit; send smaller "
                 "batches");
        return 413;
    case 1: snprintf(text, cap, "internal error while storing: %s", err_str(err)); return 500;
    default: return 0;
    }
}

void dispatch_fmt_kinds(char *dst, size_t cap, size_t *o, const uint64_t *counts, int nkinds,
                        const char *(*name)(int kind))
{
    const char *sep = ": ";
    for (int k = 0; k < nkinds && *o < cap; k++) {
        if (!counts[k])
            continue;
        *o += (size_t)snprintf(dst + *o, cap - *o, "%s%" PRIu64 " %s", sep, counts[k], name(k));
        sep = ", ";
    }
}

void dispatch_fmt_rejection(char *text, size_t cap, const char *reason, const char *counts,
                            size_t counts_cap)
{
    snprintf(text, cap, "%.*s (%s)", (int)(cap - counts_cap - 8), reason, counts);
}
