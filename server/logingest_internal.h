/* Internals shared by server/logingest*.c: the per-shard state, the request and its parts, and the
 * helpers each file provides to the others. Not for other modules. */
#ifndef STRATA_SERVER_LOGINGEST_INTERNAL_H
#define STRATA_SERVER_LOGINGEST_INTERNAL_H

#include "base/arena.h"
#include "base/buf.h"
#include "formats/wire/lokipush.h"
#include "server/dispatch.h"
#include "server/logingest.h"
#include "server/validate.h"

/* Rejection kinds counted in a reply: the log store's, then the accepting shard's own. */
enum logingest_rej {
    LOGINGEST_REJ_INVALID_STREAM = LOGSTORE_REJECT_KINDS_, /* label validation */
    LOGINGEST_REJ_METADATA,                                /* structured metadata limits */
    LOGINGEST_REJ_KINDS_,
};

struct logingest_shard {
    struct logingest_config cfg;
    struct dispatch_shard d; /* self, nshards, mesh, request pool, parts waiting for mesh space */
    const struct logingest_store_ops *ops;
    void *store;
    struct logingest_store_ops logstore_ops;
    struct logingest_rate *rate; /* NULL: no rate limit */
    struct buf body;             /* logingest_shard_body_buf */
    struct logingest_stats stats;
};

/* One part: the streams of a request owned by one shard; a push dispatch part (dispatch.h). */
struct logingest_part {
    DISPATCH_PART_HEAD;
    uint32_t n_streams;
    const struct logstore_stream_in *streams; /* immutable while in flight */
    /* written by the owner (rc: logstore_append's return, or ERR_FULL when the mesh stayed full) */
    struct logstore_append_result res;
};

struct logingest_req {
    struct dispatch_req base; /* first: decoder, arena, tenant, parts, refusal, reason */
    enum logingest_body kind;
    struct lokipush_request push;
    uint64_t entries_sent; /* entries in the parts (passed validation) */
    uint64_t rejected[LOGINGEST_REJ_KINDS_];
    struct logingest_reply reply;
    logingest_done_fn done;
    void *done_arg;
};

static inline struct logingest_shard *logingest_req_shard(const struct logingest_req *r)
{
    return r->base.d->proto;
}

/* logingest_split.c */
/* Validates and splits r->push into r->parts. Returns 0 or ERR_NOMEM. */
int logingest_req_split(struct logingest_req *r);

/* logingest_owner.c */
/* dispatch_ops.apply: applies a part on this (owner) shard (proto: the logingest_shard). */
int logingest_owner_apply(void *proto, struct dispatch_part *part);

#endif
