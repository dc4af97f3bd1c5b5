/* Internals shared by server/logingest*.c: the per-shard state, the request and its parts, and the
 * helpers each file provides to the others. Not for other modules. */
#ifndef STRATA_SERVER_LOGINGEST_INTERNAL_H
#define STRATA_SERVER_LOGINGEST_INTERNAL_H

#include "base/arena.h"
#include "base/buf.h"
#include "formats/wire/lokipush.h"
#include "server/logingest.h"
#include "server/validate.h"

#define LOGINGEST_POOL_MAX 16 /* idle requests kept for reuse per shard */

/* Rejection kinds counted in a reply: the log store's, then the accepting shard's own. */
enum logingest_rej {
    LOGINGEST_REJ_INVALID_STREAM = LOGSTORE_REJECT_KINDS_, /* label validation */
    LOGINGEST_REJ_METADATA,                                /* structured metadata limits */
    LOGINGEST_REJ_KINDS_,
};

struct logingest_shard {
    struct logingest_config cfg;
    uint32_t self, nshards;
    struct mesh *mesh;
    const struct logingest_store_ops *ops;
    void *store;
    struct logingest_store_ops logstore_ops;
    struct logingest_rate *rate; /* NULL: no rate limit */
    struct logingest_req *pool;
    uint32_t npool;
    uint32_t inflight;      /* our requests not yet answered */
    uint32_t owner_pending; /* parts of any shard applied here, waiting for durability */
    struct meshq retry;
    struct buf body; /* logingest_shard_body_buf */
    struct logingest_stats stats;
};

/* One part: the streams of a request owned by one shard. A mesh message (hdr first). */
struct logingest_part {
    struct mesh_msg hdr;
    struct logingest_req *req; /* on the accepting shard */
    uint32_t owner;
    uint32_t n_streams;
    const struct logstore_stream_in *streams; /* immutable while in flight */
    uint32_t first_index;                     /* request index of its first stream */
    /* written by the owner */
    struct logingest_shard *applier;
    int rc; /* logstore_append's return, or ERR_FULL when the mesh stayed full */
    struct logstore_append_result res;
    /* accepting shard: waiting for mesh space */
    struct meshq_item retry;
};

struct logingest_req {
    struct logingest_shard *s;
    enum logingest_body kind;
    struct wire_decoder dec;
    struct arena arena; /* labels, entries, metadata, parts */
    struct lokipush_request push;
    struct str tenant; /* in tenant_buf */
    char tenant_buf[VALIDATE_TENANT_BYTES_MAX + 1];
    struct logingest_part *parts;
    uint32_t nparts;
    uint32_t pending;      /* parts not yet answered (+1 while dispatching) */
    int backpressure;      /* worst refusal seen (see severity in logingest.c) */
    uint64_t entries_sent; /* entries in the parts (passed validation) */
    uint64_t rejected[LOGINGEST_REJ_KINDS_];
    struct logingest_reply reply;
    uint32_t reason_index; /* request index of the stream the reason names (UINT32_MAX: none) */
    char reason[LOGINGEST_REASON_MAX];
    logingest_done_fn done;
    void *done_arg;
    struct logingest_req *next_free;
};

/* logingest_split.c */
/* Validates and splits r->push into r->parts. Returns 0 or ERR_NOMEM. */
int logingest_req_split(struct logingest_req *r);
/* Keeps reason when idx is lower than the index of the reason kept so far. */
void logingest_req_note_reason(struct logingest_req *r, uint32_t idx, const char *reason);

/* logingest_owner.c */
/* Applies a part on this (owner) shard; completes it now (refusal) or when durable. */
void logingest_owner_apply(struct logingest_shard *s, struct logingest_part *p);
/* The accepting shard got part p back (directly or through the mesh). */
void logingest_part_returned(struct logingest_shard *s, struct logingest_part *p);

#endif
