/* Push dispatch: the one mechanism behind both accepting paths, remote write (server/ingest.h) and
 * Loki push (server/logingest.h). A protocol decodes and validates a request on the accepting
 * shard; push dispatch groups its items (series, streams) by owner shard into parts, sends each
 * part to its owner over the mesh (the accepting shard's own part is applied in place), applies it
 * there through the protocol's ops, hands it back when the owner's store says it is durable,
 * merges the replies and completes the request once EVERY part is back (docs/ARCHITECTURE.md,
 * "Write path").
 *
 *   accepting shard A                                  owner shard B (B may be A)
 *   dispatch_req_begin, (protocol decodes, validates)
 *   dispatch_split_place per item, dispatch_split_parts
 *   dispatch_req_send: part ──meshq_send──────────▶    dispatch_on_message: ops->apply (the store
 *     (own part: applied in place, no mesh)             append; dispatch_part_durable once durable)
 *   dispatch_on_message(reply) ◀── mesh_reply ──────────┘
 *   ops->absorb per part; all back: ops->finish (the protocol renders and delivers its answer),
 *   then the request goes back to the shard's pool
 *
 * A protocol supplies a struct dispatch_ops (apply a part on the owner, merge a returned part,
 * render the answer) and embeds: a struct dispatch_shard in its shard, a struct dispatch_req FIRST
 * in its request, DISPATCH_PART_HEAD first in its part struct.
 *
 * OWNERSHIP: a request, its decoder arena and its parts live on the accepting shard and are freed
 * there after the last part came back. While a part is in flight its owner only READS the part's
 * items (immutable from the split until the request is freed) and writes only the part's result
 * fields (rc and the protocol's own).
 *
 * Refusals: an owner's append error is kept per part (rc); the request keeps the most severe
 * (dispatch_refusal_merge): WAL/mesh full, disk low, closing (503 + Retry-After) over a part too
 * large for one WAL batch (413) over anything else (500). dispatch_refusal_reply words them, the
 * same for both protocols.
 *
 * A full mesh lane is backpressure: the part waits on the shard's meshq (server/meshq.h) and is
 * retried once per loop iteration (dispatch_poll); after mesh_full_timeout_ns it comes back with
 * rc = ERR_FULL (503).
 *
 * Threading: a dispatch_shard and its requests belong to one shard thread; parts cross to their
 * owner and back through the mesh (engine/shard/mesh.h). */
#ifndef STRATA_SERVER_DISPATCH_H
#define STRATA_SERVER_DISPATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/arena.h"
#include "base/buf.h"
#include "base/str.h"
#include "engine/shard/mesh.h"
#include "formats/wire/wire.h"
#include "server/meshq.h"
#include "server/metrics.h"
#include "server/validate.h"

#define DISPATCH_REASON_MAX    1024
#define DISPATCH_RETRY_AFTER_S 1
#define DISPATCH_NO_OWNER      UINT32_MAX
#define DISPATCH_POOL_MAX      16 /* idle requests kept for reuse per shard */

struct dispatch_shard;
struct dispatch_req;

/* The fields every part starts with. */
#define DISPATCH_PART_FIELDS                                                                       \
    struct mesh_msg hdr;            /* first: a part is a mesh message */                          \
    struct dispatch_req *req;       /* on the accepting shard */                                   \
    uint32_t owner;                 /* the shard that applies it */                                \
    uint32_t first_index;           /* request index of its first item */                          \
    struct dispatch_shard *applier; /* written by the owner */                                     \
    int rc;                 /* the owner's refusal, or ERR_FULL when the mesh stayed full */       \
    struct meshq_item retry /* accepting shard: waiting for mesh space */

struct dispatch_part {
    DISPATCH_PART_FIELDS;
};

/* Opens a protocol's part struct: its fields are reachable by name (p->owner) and as one struct
 * dispatch_part (&p->base), which is what push dispatch passes to the ops. */
#define DISPATCH_PART_HEAD                                                                         \
    union {                                                                                        \
        struct dispatch_part base;                                                                 \
        struct {                                                                                   \
            DISPATCH_PART_FIELDS;                                                                  \
        };                                                                                         \
    }

struct dispatch_ops {
    uint32_t msg_type;       /* mesh message type of a part */
    size_t req_size;         /* the protocol's request (a struct dispatch_req first) */
    size_t part_size;        /* the protocol's part (DISPATCH_PART_HEAD first) */
    const char *expired_msg; /* logged when a part found no mesh space in time */
    /* Owner: applies p on this shard (proto: the protocol shard given to dispatch_shard_init).
     * Returns 0 when the store took the part and will call dispatch_part_durable(p, result) once
     * it is durable (possibly before apply returns); nonzero when the part is answered now (p->rc
     * and the result fields set). */
    int (*apply)(void *proto, struct dispatch_part *p);
    /* Accepting shard: merges a part that came back into its request. */
    void (*absorb)(struct dispatch_req *r, struct dispatch_part *p);
    /* Accepting shard: every part is back; builds the answer, counts it and delivers it. The
     * request is freed when this returns. */
    void (*finish)(struct dispatch_req *r);
};

struct dispatch_shard {
    const struct dispatch_ops *ops;
    void *proto; /* the protocol shard, for ops->apply */
    uint32_t self, nshards;
    struct mesh *mesh; /* NULL: one shard, or splitting only */
    int64_t mesh_full_timeout_ns;
    uint64_t body_bytes_max;   /* decoded body limit of a request's wire decoder */
    metric_u64 *parts_applied; /* the protocol's counters (may be NULL) */
    metric_u64 *mesh_full_retries;
    struct meshq retry;        /* parts waiting for mesh space */
    struct dispatch_req *pool; /* idle requests */
    uint32_t npool;
    uint32_t inflight;      /* requests accepted here, not yet answered */
    uint32_t owner_pending; /* parts of any shard applied here, waiting for durability */
};

struct dispatch_req {
    struct dispatch_shard *d;
    struct wire_decoder dec;
    struct arena arena; /* the request's items and parts */
    struct str tenant;  /* in tenant_buf */
    char tenant_buf[VALIDATE_TENANT_BYTES_MAX + 1];
    struct dispatch_part *parts; /* nparts of ops->part_size bytes (dispatch_req_part) */
    uint32_t nparts;
    uint32_t pending;      /* parts not yet back (+1 while sending) */
    int refusal;           /* the most severe refusal seen (dispatch_refusal_merge) */
    uint32_t reason_index; /* request index of the item the reason names (UINT32_MAX: none) */
    char reason[DISPATCH_REASON_MAX];
    struct dispatch_req *next_free;
};

/* ---- shard ---- */

/* The protocol sets mesh_full_timeout_ns, body_bytes_max and the counter pointers after this. */
void dispatch_shard_init(struct dispatch_shard *d, const struct dispatch_ops *ops, void *proto,
                         uint32_t self, uint32_t nshards, struct mesh *mesh);
/* Frees the pooled requests; the shard must be idle. */
void dispatch_shard_deinit(struct dispatch_shard *d);
bool dispatch_idle(const struct dispatch_shard *d);
/* Once per loop iteration before the mesh flush: retries parts waiting for mesh space, fails
 * those waiting longer than mesh_full_timeout_ns. True when parts still wait. */
bool dispatch_poll(struct dispatch_shard *d, int64_t now_ns);
/* Handles a part (apply it here) or a reply to one of ours; false for other message types. */
bool dispatch_on_message(struct dispatch_shard *d, struct mesh_msg *msg);
/* The store's durability callback for a part ops->apply handed to it (arg: the part). */
void dispatch_part_durable(void *arg, int result);

/* ---- request ---- */

/* A request for `tenant` (valid, copied), from the pool or new; the protocol's own fields after
 * the struct dispatch_req are NOT reset. NULL on ERR_NOMEM. */
struct dispatch_req *dispatch_req_begin(struct dispatch_shard *d, struct str tenant);
/* Gives a request back (not dispatched, or from ops->finish's caller). */
void dispatch_req_free(struct dispatch_req *r);
/* Keeps reason when idx is lower than the index of the reason kept so far. */
void dispatch_req_note_reason(struct dispatch_req *r, uint32_t idx, const char *reason);
struct dispatch_part *dispatch_req_part(const struct dispatch_req *r, uint32_t i);
/* Sends every part to its owner (our own applied here). ops->finish runs exactly once when every
 * part is back, possibly before this returns. */
void dispatch_req_send(struct dispatch_req *r);

/* ---- splitting by owner ---- */

struct dispatch_split {
    uint32_t n;      /* items in the request */
    uint32_t *owner; /* per item, DISPATCH_NO_OWNER when not stored */
    uint32_t *count; /* items per shard */
    uint32_t *first; /* request index of each shard's first item */
};

/* Arrays for n items in the request's arena. Returns 0 or ERR_NOMEM. */
int dispatch_split_init(struct dispatch_req *r, struct dispatch_split *sp, uint32_t n);
/* Item idx (hash: its identity) goes to hash_to_range(hash, nshards); returns that owner. */
uint32_t dispatch_split_place(struct dispatch_split *sp, uint32_t idx, uint64_t hash,
                              uint32_t nshards);
/* Takes the item placed last back out (its owner's first index stays right). */
void dispatch_split_unplace(struct dispatch_split *sp, uint32_t idx);
/* Allocates one zeroed part per owner with items (header, req, owner, first_index set) in the
 * request's arena; *slot (nshards entries) maps an owner to its part index. 0 or ERR_NOMEM. */
int dispatch_split_parts(struct dispatch_req *r, const struct dispatch_split *sp, uint32_t **slot);

/* ---- answers ---- */

/* Keeps the more severe of *worst and err (0: none). */
void dispatch_refusal_merge(int *worst, int err);
/* The answer to a refusal: 503 (retry_after_s set), 413 or 500 with its text; 0 for err 0. */
int dispatch_refusal_reply(int err, int *retry_after_s, char *text, size_t cap);
/* Appends ": 2 name, 1 name" for the nonzero counts[k] (k < nkinds) to dst at *o. */
void dispatch_fmt_kinds(char *dst, size_t cap, size_t *o, const uint64_t *counts, int nkinds,
                        const char *(*name)(int kind));
/* "<reason> (<counts>)" with the reason cut so that the counts fit. */
void dispatch_fmt_rejection(char *text, size_t cap, const char *reason, const char *counts,
                            size_t counts_cap);

/* ---- /metrics ---- */

struct dispatch_counter {
    const char *name, *help;
    size_t off; /* of its metric_u64 in the protocol's stats */
};

/* Every counter summed over n shards: shards[i] (NULL: skipped) holds its counters at
 * stats_off. */
int dispatch_metrics_counters(struct buf *out, const struct dispatch_counter *c, size_t nc,
                              const void *const *shards, size_t stats_off, uint32_t n);

/* The figures of the shards' stores (TSDB, log store): per-shard gauges, counters summed over
 * shards, and one counter by rejection reason summed over shards. */
struct dispatch_store_metrics {
    const char *const (*gauges)[2]; /* {name, help} */
    size_t ngauges;
    const char *const (*sums)[2];
    size_t nsums;
    const char *reasons_name, *reasons_help;
    int nreasons;
    const char *(*reason)(int kind);
    /* Fills shard i's gauges g[ngauges], counters c[nsums] and rejections r[nreasons] (all
     * zeroed before); false when shard i has no store (left out of the gauges). */
    bool (*row)(const void *ctx, uint32_t i, uint64_t *g, uint64_t *c, uint64_t *r);
};

/* Renders m over n shards. Returns 0 or ERR_NOMEM. */
int dispatch_metrics_store(struct buf *out, const struct dispatch_store_metrics *m, const void *ctx,
                           uint32_t n);

#endif
