/* The log ingest pipeline behind POST /loki/api/v1/push: decode a push body (JSON or protobuf into
 * one struct lokipush_request), validate each stream's labels and each entry, check the tenant's
 * ingestion rate, split the streams by owner shard, append each part to its owner's log store
 * (over the mesh, or in place for the accepting shard's own part), and answer once EVERY part is
 * durable (api-contract §3). Splitting by owner, sending parts over the mesh, the owner's answer,
 * merging and the refusal wording are push dispatch's (server/dispatch.h), the one mechanism it
 * shares with the metrics pipeline (server/ingest.h).
 *
 *   accepting shard A                                   owner shard B (B may be A)
 *   logingest_write: decode (lokipush / lokipush_json),
 *     per stream: label limits, {__tenant__}, hash,
 *     owner = hash_to_range(hash, nshards); per entry:
 *     structured metadata limits; rate limit (tenant's
 *     token bucket on A); one part per owner
 *   dispatch: part ──meshq_send──────────────────────▶  logingest_on_message: logstore_append
 *     (own part: applied in place)                       (line size, stream limit, time checks,
 *                                                         duplicates: engine/logs/logstore.h);
 *                                                         when the WAL says durable: mesh_reply
 *   logingest_on_message(reply) ◀─────────────────────────┘
 *   all parts back: reply, request freed on A
 *
 * OWNERSHIP RULE (as ingest.h): the decoded request (in the request's wire_decoder arena, borrowing
 * the HTTP body for JSON strings without escapes) and everything built from it (label arrays,
 * entry arrays, the parts) are allocated on the accepting shard and freed there after the last part
 * came back; the HTTP body must stay valid until done runs. Owners only READ a part's streams while
 * it is in flight (logstore_append copies what it keeps) and write only its result fields.
 *
 * Validation on the accepting shard (Loki's distributor rules and wording):
 *   - a stream with more than labels_per_stream_max labels, a label name longer than
 *     label_name_bytes_max or a value longer than label_value_bytes_max, a client label named
 *     __tenant__ (reserved), or a name or value that is not valid UTF-8: all its entries rejected;
 *   - an entry with more than structured_metadata_entries_max structured metadata pairs, or more
 * than structured_metadata_bytes_max bytes of them (names + values): the entry rejected;
 *   - the stream's labels parse and normalise in formats/wire/lokipush.h (an unparsable selector or
 *     a bad timestamp fails the whole request: 400, nothing stored, as in Loki).
 * The rest (line size, streams per tenant, too old / too new, out-of-order window, duplicates) is
 * the owner's log store's.
 *
 * Rate limit: a token bucket of lines per tenant on each accepting shard, refilled at
 * rate_lines_per_s / nshards with a capacity of burst_lines / nshards (the budget split evenly: a
 * tenant's connections spread over the shards). A request takes as many tokens as it has entries
 * that passed validation, all or nothing; without enough it is refused whole (429, nothing stored,
 * no tokens taken) with Retry-After = the seconds until enough tokens are back (at least 1).
 *
 * Replies (struct logingest_reply), the most severe first:
 *   503 + Retry-After  an owner's WAL buffer full, its disk below the free-space guard, a store
 *                      closing or missing, or a mesh lane full for longer than
 * mesh_full_timeout_ns; 413                one owner's part alone exceeds its WAL's pending limit;
 *   500                internal error (out of memory);
 *   429 + Retry-After  the rate limit (above), or an entry refused by the tenant's stream limit
 *                      (Loki answers its stream limit with 429 too; the rest of the request IS
 *                      stored, so a retry only re-sends duplicates);
 *   400                any entry or stream rejected (the valid rest IS stored), or a body that does
 *                      not decode (nothing stored), or no streams at all ... see below;
 *   204                every entry stored (identical duplicates count as stored).
 * A request without streams is 422 "error at least one valid stream is required for ingestion"
 * (Loki). The text of a 400 is the first rejection as Loki words it, followed by counts when there
 * was more than one.
 *
 * Threading: a struct logingest_shard and its requests belong to one shard thread; parts cross to
 * their owner through the mesh (engine/shard/mesh.h) and back. */
#ifndef STRATA_SERVER_LOGINGEST_H
#define STRATA_SERVER_LOGINGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/str.h"
#include "engine/logs/logstore.h"
#include "engine/shard/mesh.h"
#include "server/meshq.h"
#include "server/metrics.h"

/* mesh message type of a part (struct logingest_part) */
#define LOGINGEST_MSG_APPEND 0x4c4f0001u

#define LOGINGEST_REASON_MAX    1024
#define LOGINGEST_RETRY_AFTER_S 1

enum logingest_body {
    LOGINGEST_PROTO = 1, /* logproto.PushRequest, uncompressed (snappy is the caller's job) */
    LOGINGEST_JSON = 2,  /* {"streams":[...]} */
};

struct logingest_config {
    uint64_t body_bytes_max;        /* decoded body (64 MiB, = --http.max-body-bytes) */
    int64_t mesh_full_timeout_ns;   /* retry a full mesh lane this long, then 503 (1 s) */
    uint64_t rate_lines_per_s;      /* per tenant, whole server (100000); 0: no rate limit */
    uint64_t burst_lines;           /* per tenant, whole server (200000) */
    uint32_t rate_tenants_max;      /* token buckets kept per shard (100000) */
    uint32_t labels_per_stream_max; /* 15; 0: no limit */
    uint32_t label_name_bytes_max;  /* 1024; 0: no limit */
    uint32_t label_value_bytes_max; /* 2048; 0: no limit */
    uint32_t structured_metadata_entries_max; /* per entry (128); 0: no limit */
    uint64_t structured_metadata_bytes_max;   /* per entry, names + values (64 KiB); 0: none */
    /* Enforced by the owners' log stores (copied into their struct logstore_config): */
    uint64_t line_bytes_max;         /* 256 KiB; 0: no limit */
    uint64_t streams_per_tenant_max; /* whole server (5000); each shard gets ceil(max / nshards) */
    int64_t reject_old_ms;           /* entries older than now - this are refused (7 d); 0: off */
    int64_t creation_grace_ms; /* entries newer than now + this are refused (10 min); 0: off */
};

void logingest_config_default(struct logingest_config *c);

/* What an owner appends into: its log store (logingest_shard_attach_logstore) or, in tests, a fake
 * with logstore_append's contract. */
struct logingest_store_ops {
    int (*append)(void *store, const struct logstore_stream_in *streams, size_t n,
                  struct logstore_append_result *res, logstore_commit_fn cb, void *arg);
};

/* Counters (single writer: the shard; any thread may read them with metric_get). */
struct logingest_stats {
    metric_u64 requests;          /* push requests decoded (or refused while decoding) */
    metric_u64 requests_failed;   /* answered non-2xx */
    metric_u64 entries_received;  /* entries in decoded requests */
    metric_u64 bytes_received;    /* their line bytes */
    metric_u64 entries_written;   /* stored (identical duplicates included) */
    metric_u64 entries_duplicate; /* of which identical duplicates */
    metric_u64 entries_rejected;  /* any reason, validation and rate limit included */
    metric_u64 streams_invalid;   /* streams refused by label validation */
    metric_u64 rate_limited;      /* requests refused by the ingestion rate limit */
    metric_u64 backpressure;      /* requests answered 503 */
    metric_u64 mesh_full_retries;
    metric_u64 parts_applied; /* as an owner */
};

struct logingest_shard;

/* Creates the log ingest state of shard `self` of nshards. mesh may be NULL when nshards == 1.
 * Returns 0 or ERR_NOMEM. */
int logingest_shard_create(const struct logingest_config *cfg, uint32_t self, uint32_t nshards,
                           struct mesh *mesh, struct logingest_shard **out);
/* Frees it; no request may be in flight (logingest_shard_idle). NULL: no-op. */
void logingest_shard_destroy(struct logingest_shard *s);
void logingest_shard_attach_logstore(struct logingest_shard *s, struct logstore *ls);
void logingest_shard_set_store(struct logingest_shard *s, const struct logingest_store_ops *ops,
                               void *store);
const struct logingest_stats *logingest_shard_stats(const struct logingest_shard *s);
/* The per-shard log store config for these limits: *c with line_bytes_max, the time limits and the
 * shard's share of streams_per_tenant_max filled in. */
void logingest_logstore_limits(const struct logingest_config *cfg, uint32_t nshards,
                               struct logstore_config *c);

/* Once per loop iteration before the mesh flush: retries parts waiting for mesh space. Returns true
 * when parts still wait. */
bool logingest_shard_poll(struct logingest_shard *s, int64_t now_ns);
/* Handles a LOGINGEST_MSG_APPEND mesh message; false for other types (not consumed). */
bool logingest_on_message(struct logingest_shard *s, struct mesh_msg *msg);
/* Scratch for the HTTP layer's snappy decoding; the body may live there until logingest_write
 * returns (protobuf bodies are copied by the decoder). */
struct buf *logingest_shard_body_buf(struct logingest_shard *s);
bool logingest_shard_idle(const struct logingest_shard *s);
uint32_t logingest_shard_inflight(const struct logingest_shard *s);

/* ---- one push ---- */

struct logingest_reply {
    int status;                          /* 204, 400, 413, 422, 429, 500, 503 */
    int retry_after_s;                   /* > 0 with 429 and 503 */
    uint64_t entries_total, bytes_total; /* in the request */
    uint64_t entries_written;            /* stored, duplicates included */
    uint64_t entries_duplicate;
    uint64_t entries_rejected;
    uint32_t streams_total, streams_rejected;
    char text[LOGINGEST_REASON_MAX]; /* plain-text body of a non-2xx answer, "" for 204 */
};

typedef void (*logingest_done_fn)(void *arg, const struct logingest_reply *reply);

/* Decodes body[0..n) as `kind` for `tenant` (a valid tenant id, copied), validates, rate-limits,
 * splits and dispatches it; done(arg, reply) runs exactly once on this shard (possibly before this
 * returns: decode errors, rate limit, nothing to store). body must stay valid until done runs. */
void logingest_write(struct logingest_shard *s, enum logingest_body kind, struct str tenant,
                     const uint8_t *body, size_t n, logingest_done_fn done, void *arg);

/* ---- internals exposed for tests ---- */

/* Token buckets of one shard (see "Rate limit"). */
struct logingest_rate;
/* rate and burst are this shard's share. NULL on ERR_NOMEM. */
struct logingest_rate *logingest_rate_create(double lines_per_s, double burst_lines,
                                             uint32_t tenants_max);
void logingest_rate_destroy(struct logingest_rate *r);
/* Takes n tokens from tenant's bucket at now_ns: 0, or ERR_LIMIT with *retry_after_s (>= 1) when
 * there are fewer than n (nothing taken). A tenant that cannot be tracked (memory, tenants_max)
 * is let through. */
int logingest_rate_take(struct logingest_rate *r, struct str tenant, uint64_t n, int64_t now_ns,
                        int *retry_after_s);
size_t logingest_rate_tenants(const struct logingest_rate *r);

/* ---- /metrics ---- */

/* Appends the strata_loki_push_* counters (summed over shards) and, when stores is not NULL, the
 * strata_logstore_* figures of every shard's log store. Any thread; NULL entries are skipped.
 * Returns 0 or ERR_NOMEM. */
int logingest_metrics_render(struct buf *out, struct logingest_shard *const *shards,
                             struct logstore *const *stores, uint32_t n);

#endif
