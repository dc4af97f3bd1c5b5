/* The metrics ingest pipeline behind POST /api/v1/write (and /api/v1/push): decode a remote-write
 * body, validate and split its series by owner shard, apply each part on its owner's TSDB (over the
 * mesh, or directly for the accepting shard's own part), and aggregate the owners' answers into one
 * reply once EVERY part is durable (docs/ARCHITECTURE.md, "Write path"; api-contract §1).
 *
 *   accepting shard A                                   owner shard B (B may be A)
 *   ingest_req_begin / _decode (protobuf, limits)
 *   ingest_req_split: per series validate (validate.h),
 *     labels + {__tenant__}, hash_labels, owner =
 *     hash_to_range(hash, nshards); one part per owner
 *   ingest_req_dispatch: part ──mesh_send────────────▶  ingest_on_message: tenant series limit,
 *     (own part: applied in place, no mesh)              tsdb_append (WAL + head), and when the
 *                                                        WAL reports it durable: mesh_reply
 *   ingest_on_message(reply) ◀───────────────────────────┘
 *   all parts back: reply (204 / 400 / 413 / 500 / 503), request freed on A
 *
 * OWNERSHIP RULE (no string copies): the decoded request (protobuf message in the request's
 * wire_decoder arena) and everything built from it (label arrays that borrow its strings, sample
 * arrays, the part messages themselves) are allocated on the accepting shard and freed there, by
 * the request, after the last part came back. While a part is in flight, the owner shard may READ
 * the part's series, labels and samples; nobody writes them (they are immutable from
 * ingest_req_split until the request is freed). The owner writes only the part's result fields,
 * between receiving the part and replying. In practice the owner stops reading the request when
 * tsdb_append returns (the head interns its own copies of new label strings).
 *
 * Replies (see struct ingest_reply): 204 when every sample was stored (identical duplicates count
 * as stored, as in Prometheus); 400 naming the first rejected series with the counts when any
 * sample or histogram was rejected (the valid rest IS stored); 413 when one owner's part is larger
 * than its WAL accepts in one batch; 500 for internal errors; 503 with Retry-After under
 * backpressure (an owner's WAL buffer full, its disk below the free-space threshold, the tsdb
 * closing, or a mesh lane full for longer than mesh_full_timeout_ns) — a retry resends everything,
 * which is idempotent because identical duplicates are dropped. Native histograms (integer and
 * float, custom buckets included) are validated with Prometheus's rules (formats/histchunk.h
 * histchunk_hist_check: an invalid one is a 400 naming its series, the valid rest is stored) and
 * stored like samples (tsdb_append_hists). Exemplars of stored series go to the owner's exemplar
 * storage (engine/tsdb/exemplars.h) with the series' samples; one the storage refuses (out of
 * order, labels too long) is dropped without failing the request, as Prometheus does, and only
 * stored ones are reported as written.
 *
 * Metadata (v1 `metadata`, v2 per-series metadata) is kept per accepting shard in memory, one
 * entry per metric family name (type, help, unit; newest wins), at most metadata_max families
 * per shard (further new families are dropped and counted), for /api/v1/metadata.
 *
 * Tenant series limit: series_per_tenant_max applies to the whole server; each owner shard
 * enforces ceil(max / nshards) for the series it owns (series spread evenly by hash). A sample of
 * a series that does not exist yet is rejected (400) once the tenant's live series on that shard
 * reach the share. The count is kept per shard per tenant: +1 per series created, and recounted
 * from the head when the head removed series (after a head cut).
 *
 * Splitting by owner, sending parts, the owner's answer, merging and the refusal wording are
 * push dispatch's (server/dispatch.h), shared with the Loki push pipeline (server/logingest.h).
 *
 * Threading: a struct ingest_shard and its requests belong to one shard thread. Parts cross to
 * their owner through the mesh (engine/shard/mesh.h); the owner only reads them (rule above). */
#ifndef STRATA_SERVER_INGEST_H
#define STRATA_SERVER_INGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/str.h"
#include "engine/shard/mesh.h"
#include "engine/tsdb/tsdb.h"
#include "server/dispatch.h"
#include "server/metrics.h"
#include "server/validate.h"

/* mesh message type of a part (struct ingest_part) */
#define INGEST_MSG_APPEND 0x494e0001u

#define INGEST_REASON_MAX     DISPATCH_REASON_MAX
#define INGEST_RETRY_AFTER_S  DISPATCH_RETRY_AFTER_S
#define INGEST_DEFAULT_TENANT "anonymous"
#define INGEST_NO_OWNER       DISPATCH_NO_OWNER

enum ingest_proto {
    INGEST_RW1 = 1, /* prometheus.WriteRequest */
    INGEST_RW2 = 2, /* io.prometheus.write.v2.Request */
};

struct ingest_config {
    struct validate_limits limits;
    uint64_t series_per_tenant_max; /* whole server; 0: no limit */
    int64_t mesh_full_timeout_ns;   /* retry a full mesh lane this long, then 503 (1 s) */
    uint32_t metadata_max;          /* metric families with metadata per shard (10000) */
    uint64_t body_bytes_max;        /* decoded protobuf body (64 MiB) */
};

void ingest_config_default(struct ingest_config *c);

/* ---- owner-side storage ---- */

/* What an owner shard stores into: its tsdb (ingest_shard_attach_tsdb) or, in tests, a fake. */
struct ingest_store_ops {
    /* tsdb_append's contract. */
    int (*append)(void *store, const struct tsdb_series_in *series, size_t n,
                  struct tsdb_append_result *res, tsdb_commit_fn cb, void *arg);
    /* For the tenant series limit (both NULL: the limit is not enforced): does the series exist?
     * How many live series carry {__tenant__=tenant} (a recount; may be slow)? */
    bool (*exists)(void *store, const struct label *labels, size_t n, uint64_t hash);
    uint64_t (*tenant_series)(void *store, struct str tenant);
    /* A counter that changes whenever series were removed (NULL: never). */
    uint64_t (*series_removed)(void *store);
    /* tsdb_append_hists's contract (NULL: native histograms are rejected). */
    int (*append_hists)(void *store, const struct tsdb_series_in *series,
                        const struct tsdb_hists_in *hists, size_t n, struct tsdb_append_result *res,
                        tsdb_commit_fn cb, void *arg);
};

/* Counters (single writer: the shard; any thread may read them with metric_get). */
struct ingest_stats {
    metric_u64 requests;            /* write requests decoded (or refused while decoding) */
    metric_u64 requests_failed;     /* answered non-2xx */
    metric_u64 samples_received;    /* float samples in decoded requests */
    metric_u64 samples_written;     /* stored (identical duplicates included) */
    metric_u64 samples_rejected;    /* any reason, validation included */
    metric_u64 histograms_received; /* native histogram samples */
    metric_u64 histograms_written;  /* stored (identical duplicates included) */
    metric_u64 histograms_rejected; /* any reason, validation included */
    metric_u64 exemplars_received;  /* in decoded requests */
    metric_u64 series_invalid;      /* series refused by validation */
    metric_u64 series_limited;      /* series refused by the tenant series limit */
    metric_u64 metadata_received;
    metric_u64 metadata_dropped; /* over metadata_max */
    metric_u64 backpressure;     /* parts refused: WAL full, disk low, closing, mesh full */
    metric_u64 mesh_full_retries;
    metric_u64 parts_applied; /* as an owner */
};

struct ingest_shard;

/* Creates the ingest state of shard `self` of nshards. mesh may be NULL when nshards == 1 (or for
 * splitting only: dispatching a part to another shard needs the mesh). Returns 0 or ERR_NOMEM. */
int ingest_shard_create(const struct ingest_config *cfg, uint32_t self, uint32_t nshards,
                        struct mesh *mesh, struct ingest_shard **out);
/* Frees it; no request may be in flight (ingest_shard_idle). NULL: no-op. */
void ingest_shard_destroy(struct ingest_shard *s);
/* Stores into t (tsdb_append, head lookups for the tenant limit). */
void ingest_shard_attach_tsdb(struct ingest_shard *s, struct tsdb *t);
/* Stores through ops/store instead (tests). */
void ingest_shard_set_store(struct ingest_shard *s, const struct ingest_store_ops *ops,
                            void *store);
const struct ingest_stats *ingest_shard_stats(const struct ingest_shard *s);

/* Once per loop iteration, before the mesh flush (from the shard's before_wait): retries parts
 * waiting for space on a full mesh lane and fails those waiting longer than mesh_full_timeout_ns.
 * Returns true when parts still wait (the mesh wakes the shard when space frees). */
bool ingest_shard_poll(struct ingest_shard *s, int64_t now_ns);
/* Handles a mesh message of type INGEST_MSG_APPEND (a part to apply, or a reply to one of ours).
 * Returns false for other types (not consumed). */
bool ingest_on_message(struct ingest_shard *s, struct mesh_msg *msg);
/* A buffer the HTTP layer may use while it prepares a body for ingest_write (e.g. snappy
 * decoding); the body may live there until ingest_write (or ingest_req_decode) returns. */
struct buf *ingest_shard_body_buf(struct ingest_shard *s);
/* No request of ours in flight and no part of another shard being applied here. */
bool ingest_shard_idle(const struct ingest_shard *s);
/* Requests in flight that this shard accepted. */
uint32_t ingest_shard_inflight(const struct ingest_shard *s);

/* ---- /metrics ---- */

/* Appends the strata_ingest_* counters of every shard (summed over shards) and, when tsdbs is not
 * NULL, the strata_tsdb_* figures (per-shard gauges, summed counters) in the text exposition
 * format 0.0.4. Any thread (relaxed reads of single-writer counters); NULL entries are skipped.
 * Returns 0 or ERR_NOMEM. */
int ingest_metrics_render(struct buf *out, struct ingest_shard *const *ingest,
                          struct tsdb *const *tsdbs, uint32_t n);

/* ---- metadata ---- */

struct ingest_metadata {
    uint8_t type; /* Prometheus MetricType enum (0 unknown .. 7 stateset) */
    struct str help, unit;
};
/* The metadata stored for a family, or false. Strings valid until the next write on the shard. */
bool ingest_metadata_get(const struct ingest_shard *s, struct str family,
                         struct ingest_metadata *out);
size_t ingest_metadata_count(const struct ingest_shard *s);

/* ---- one write request ---- */

struct ingest_reply {
    enum ingest_proto proto;
    int status;                                                      /* 204, 400, 413, 500, 503 */
    int retry_after_s;                                               /* > 0 with 503 */
    uint64_t samples_total, histograms_total, exemplars_total;       /* in the request */
    uint64_t samples_written, histograms_written, exemplars_written; /* stored */
    uint64_t samples_rejected, histograms_rejected;
    uint32_t series_total, series_rejected;
    char text[INGEST_REASON_MAX]; /* the plain-text body of a non-2xx answer, "" for 204 */
};

/* One part: the series of a request owned by one shard; a push dispatch part (server/dispatch.h:
 * hdr, req, owner, first_index, applier, rc, retry). */
struct ingest_part {
    DISPATCH_PART_HEAD;
    uint32_t n_series;
    const struct tsdb_series_in *series; /* immutable while in flight */
    const struct tsdb_hists_in *hists;   /* parallel to series; NULL: no histograms */
    /* written by the owner (rc: tsdb_append's return, or ERR_FULL when the mesh stayed full) */
    uint32_t limited_series; /* refused by the tenant series limit */
    uint64_t limited_samples, limited_hists;
    char limited_reason[VALIDATE_REASON_MAX];
    struct tsdb_append_result res;
};

struct ingest_req;
typedef void (*ingest_done_fn)(void *arg, const struct ingest_reply *reply);

/* Starts a request for `tenant` (a valid tenant id, copied). NULL on ERR_NOMEM. */
struct ingest_req *ingest_req_begin(struct ingest_shard *s, enum ingest_proto proto,
                                    struct str tenant);
/* Decodes an uncompressed protobuf body (the message copies what it keeps; body may go away after).
 * Returns 0, or ERR_CORRUPT / ERR_INVALID / ERR_LIMIT / ERR_NOMEM with the reply prepared (400 /
 * 400 / 413 / 500: see ingest_req_reply). */
int ingest_req_decode(struct ingest_req *r, const uint8_t *body, size_t n);
/* Validates every series, stores metadata, builds the parts. Returns 0 or ERR_NOMEM. */
int ingest_req_split(struct ingest_req *r);
uint32_t ingest_req_nparts(const struct ingest_req *r);
const struct ingest_part *ingest_req_part(const struct ingest_req *r, uint32_t i);
/* Sends every part to its owner (applying our own part here); done(arg, reply) runs exactly once
 * on this shard when every part answered (possibly before this returns, e.g. with no parts), and
 * the request is freed right after done returns. */
void ingest_req_dispatch(struct ingest_req *r, ingest_done_fn done, void *arg);
/* The reply as it stands (after a failed decode: the error reply). */
const struct ingest_reply *ingest_req_reply(struct ingest_req *r);
/* Frees a request that was not dispatched. */
void ingest_req_free(struct ingest_req *r);

/* begin + decode + split + dispatch in one call; done runs exactly once (also on errors). */
void ingest_write(struct ingest_shard *s, enum ingest_proto proto, struct str tenant,
                  const uint8_t *body, size_t n, ingest_done_fn done, void *arg);

#endif
