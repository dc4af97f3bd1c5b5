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
 * logfmt, or nginx access lines with the request time. All carry levels, methods, paths, status
 * codes consistent with the level, durations and (JSON, logfmt) trace ids. Levels are weighted
 * info 70%, debug 15%, warn 10%, error 5%. Lengths: typically 120-350 bytes with a long tail (stack
 * traces on errors, long query strings) up to line_max. With `metadata`, trace_id and span_id are
 * also attached as structured metadata.
 *
 * Determinism: a request's lines are a pure function of (seed, agent, seq, time window).
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
    int64_t cache_sec; /* formatted second, for the timestamp caches */
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
