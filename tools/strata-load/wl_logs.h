/* Logs workload: application log lines pushed Loki-style.
 *
 * Streams: every (pod, level) pair, labelled {level, namespace, pod, service_name} (sorted). Pods
 * belong to services (`pods_per_service` each, Deployment-style names like
 * "checkout-5c8d7f9b6d-xk2lp"); pod p is shipped by agent p % agents (one agent = one group = one
 * request sequence, like one Alloy per node). A request carries `batch` lines of one agent's pods,
 * grouped by stream, timestamps evenly spread over the request's time window and strictly
 * increasing, so every stream stays in order.
 *
 * Lines: each service writes one family (or the --log-format given for all): JSON (zap-style),
 * logfmt, or nginx access lines with the request time. Lines are written per served request:
 * with lines_per_trace 1 a request writes one line (levels weighted info 70%, debug 15%, warn 10%,
 * error 5%; status codes consistent with the level); with more, a JSON or logfmt request writes
 * "request received", steps (info or debug, each in the request's span or a child span; a failing
 * request logs its failure at warn/error) and "request completed"/"request failed" with status,
 * duration and bytes, all sharing the request's trace id, method, path and user; the number of
 * lines is 2 + a geometric number of steps, mean lines_per_trace (at most
 * LD_LINES_PER_TRACE_MAX). nginx access logs write one line per request. Every pod has
 * LD_REQS_PER_POD requests in flight whose lines interleave; a batch holds only whole requests
 * (except when a batch is shorter than a request). Every JSON and logfmt line carries its trace id
 * and span id. Lengths: typically 120-350 bytes with a long tail (stack traces on errors, long
 * query strings) up to line_max. With `metadata`, trace_id and span_id are also attached as
 * structured metadata.
 *
 * Determinism: a request's lines are a pure function of (seed, agent, seq, time window); requests
 * do not span batches.
 * Ownership: ld_logs is read-only after init (shareable across threads); an ld_lbatch belongs to
 * one thread and is reused. */
#ifndef STRATA_TOOLS_LOAD_WL_LOGS_H
#define STRATA_TOOLS_LOAD_WL_LOGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/arena.h"
#include "base/buf.h"
#include "base/str.h"
#include "formats/wire/lokipush.h"

enum ld_log_format { LD_LOG_JSON, LD_LOG_LOGFMT, LD_LOG_NGINX, LD_LOG_MIXED };
enum ld_loki_encoding { LD_LOKI_PROTOBUF, LD_LOKI_JSON };
enum ld_level { LD_DEBUG, LD_INFO, LD_WARN, LD_ERROR, LD_LEVELS };

#define LD_LINES_PER_TRACE_DEFAULT 4  /* lines per request (trace id) when cfg says 0 */
#define LD_LINES_PER_TRACE_MAX     64 /* longest request, in lines */
#define LD_REQS_PER_POD            4  /* requests in flight per pod, interleaved */

#define LD_LOG_LINE_MIN                                                                            \
    512 /* smallest accepted line_max: the longest line without a long tail fits */

struct ld_logs_cfg {
    uint64_t seed;
    uint32_t services;         /* >= 1 */
    uint32_t pods_per_service; /* >= 1 */
    uint32_t agents;           /* >= 1, groups */
    enum ld_log_format format;
    bool metadata;
    uint32_t line_max; /* >= LD_LOG_LINE_MIN */
    /* mean lines per request (JSON, logfmt), <= LD_LINES_PER_TRACE_MAX; 1: every line has its own
     * trace id; 0: LD_LINES_PER_TRACE_DEFAULT */
    uint32_t lines_per_trace;
};

struct ld_lservice {
    struct str name;
    struct str ns;
    uint8_t format; /* enum ld_log_format, never MIXED */
};

struct ld_lpod {
    struct str name;
    uint32_t service;
    uint32_t ip; /* for nginx client addresses */
};

struct ld_logs {
    struct ld_logs_cfg cfg;
    struct ld_lservice *services;
    struct ld_lpod *pods;
    uint32_t n_pods;
    uint32_t n_streams; /* n_pods * LD_LEVELS; stream id = pod * LD_LEVELS + level */
    struct arena strs;
};

int ld_logs_init(struct ld_logs *l, const struct ld_logs_cfg *cfg);
void ld_logs_deinit(struct ld_logs *l);
/* Pods shipped by `agent`: agent, agent + agents, ... */
uint32_t ld_logs_agent_pods(const struct ld_logs *l, uint32_t agent);
/* The sorted labels of a stream. */
void ld_logs_stream_labels(const struct ld_logs *l, uint32_t stream, struct label out[4]);
extern const char *const ld_level_names[LD_LEVELS];

struct ld_lentry {
    int64_t ts_ns;
    uint32_t stream;
    uint32_t off, len; /* line bytes in text */
    uint32_t tid_off;  /* 32 hex trace id in text, followed by the 16 hex span id */
};

struct ld_lreq; /* a request in flight (wl_logs.c) */

struct ld_lbatch {
    struct buf text;
    struct ld_lentry *e;
    size_t n, cap;
    /* encoding scratch, cap_n entries each (streams <= entries) */
    uint32_t *order; /* entry indexes grouped by stream */
    uint32_t *slot;  /* stream slot of each entry */
    uint32_t *sid;   /* stream id of each slot */
    uint32_t *cnt;   /* per slot: entries, then running offsets */
    int32_t *table;  /* stream id -> slot, open addressing */
    size_t cap_n, cap_table, n_table;
    struct lokipush_stream_in *streams;
    struct lokipush_entry *pe;
    struct label *meta, *slabels;
    /* requests in flight while building: LD_REQS_PER_POD slots per pod of the agent */
    struct ld_lreq *req;
    uint32_t *live; /* slots of the requests in flight */
    size_t cap_req, cap_live;
    uint32_t agent, n_live, pending; /* pending: lines the requests in flight still write */
    int64_t cache_sec;               /* formatted second, for the timestamp caches */
    char iso[32], clf[32];
};

void ld_lbatch_init(struct ld_lbatch *b);
void ld_lbatch_deinit(struct ld_lbatch *b);
/* Fills b with n lines of agent's pods, timestamps spread over (lo_ns, hi_ns] (needs
 * hi - lo >= n). Returns 0 or ERR_NOMEM. */
int ld_logs_build(const struct ld_logs *l, uint32_t agent, uint64_t seq, int64_t lo_ns,
                  int64_t hi_ns, uint32_t n, struct ld_lbatch *b);
/* Appends the push body (protobuf uncompressed, or JSON) of b to out. Returns 0 or ERR_NOMEM. */
int ld_logs_encode(const struct ld_logs *l, struct ld_lbatch *b, enum ld_loki_encoding enc,
                   struct buf *out);
/* The level of an entry's stream. */
static inline enum ld_level ld_lentry_level(const struct ld_lentry *e)
{
    return (enum ld_level)(e->stream % LD_LEVELS);
}

#endif
