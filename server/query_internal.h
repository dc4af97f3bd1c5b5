/* Internals shared by server/query*.c (see query.h): the shard's query state, jobs, fan-outs (home
 * side), owner cursors, and the two message types. Not for other modules.
 *
 * Locking: q->lock guards the job queue, the lists query threads post to (posted fan-outs, fans
 * needing attention, finished jobs) and, per fan-out, the piece queues, the release list and the
 * consumer flags. Everything else is confined: owner cursors and the live lists to the shard
 * thread, a job's run to its query thread. */
#ifndef STRATA_SERVER_QUERY_INTERNAL_H
#define STRATA_SERVER_QUERY_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "base/arena.h"
#include "server/query.h"
#include "server/query_exemplars.h"
#include "server/validate.h"

enum query_kind {
    QK_SELECT = 1, /* chunk series (or labels only) */
    QK_NAMES,      /* label names */
    QK_VALUES,     /* label values of spec.name */
    QK_METADATA,   /* remote-write metadata (spec.name: one family, or all) */
    QK_STATS,      /* head statistics of the tenant */
    QK_EXEMPLARS,  /* stored exemplars of the matching series (query_exemplars.c) */
    QK_LOG_SELECT, /* log entries (query_log.c, query_log_owner.c) */
    QK_LOG_NAMES,  /* log label names */
    QK_LOG_VALUES, /* log label values of spec.name */
    QK_LOG_SERIES, /* log streams with their statistics */
};

static inline bool query_kind_is_log(enum query_kind k)
{
    return k >= QK_LOG_SELECT;
}

/* What the owner side reads for the log kinds. The logstore-backed one is the default; tests
 * plug in fakes. Iterators are opaque to the fan-out. */
struct query_log_store_ops {
    /* opts as logstore_select_with (order, batch line filter, yield_chunks); never NULL. */
    int (*select)(void *store, const struct matcher *ms, size_t n, int64_t start_ns, int64_t end_ns,
                  bool backward, const struct logstore_line_hint *hint,
                  const struct logstore_select_opts *opts, void **it);
    int (*next)(void *it); /* 1, 0, LOGSTORE_ITER_YIELD (a step is over), negative */
    const struct logstore_entry *(*at)(void *it);
    void (*stats)(void *it, struct logstore_select_stats *out);
    void (*close)(void *it);
    int (*label_names)(void *store, const struct matcher *ms, size_t n, int64_t start_ns,
                       int64_t end_ns, struct querier_strings *out);
    int (*label_values)(void *store, struct str name, const struct matcher *ms, size_t n,
                        int64_t start_ns, int64_t end_ns, struct querier_strings *out);
    /* *out: one allocation, free() */
    int (*series)(void *store, const struct matcher *ms, size_t n, int64_t start_ns, int64_t end_ns,
                  struct logstore_stream_stats **out, size_t *n_out);
};

/* What the owner side reads. The tsdb-backed one is the default; tests plug in fakes. */
struct query_store_ops {
    int (*select)(void *store, const struct matcher *ms, size_t n, int64_t mint_ms, int64_t maxt_ms,
                  const struct querier_hints *hints, struct chunk_series_set **out);
    int (*label_names)(void *store, const struct matcher *ms, size_t n, int64_t mint_ms,
                       int64_t maxt_ms, struct querier_strings *out);
    int (*label_values)(void *store, struct str name, const struct matcher *ms, size_t n,
                        int64_t mint_ms, int64_t maxt_ms, struct querier_strings *out);
    /* Every head series matching ms (all times); NULL on ERR_NOMEM. */
    struct chunk_series_set *(*head_series)(void *store, const struct matcher *ms, size_t n);
    /* Exemplars of the series matching any set of ms in [mint_ms, maxt_ms] (NULL: none kept). */
    int (*exemplars)(void *store, const struct query_matchsets *ms, int64_t mint_ms,
                     int64_t maxt_ms, struct query_exemplars_result *out);
};

/* Immutable while its fan-out is in flight; owned by the fan (owners read it). */
struct query_spec {
    enum query_kind kind;
    struct matcher *matchers; /* the sets back to back, each ending with the tenant matcher */
    size_t *lens;             /* matchers per set */
    size_t nsets;             /* 0 (names/values/stats: the tenant matcher alone, in tenant_m) */
    struct matcher tenant_m;  /* {__tenant__="<tenant>"} */
    int64_t mint_ms, maxt_ms;
    bool series_only;
    size_t nmatchers; /* initialised entries of matchers (for freeing) */
    bool tenant_ok;   /* tenant_m initialised */
    struct str name;  /* QK_VALUES: the label; QK_METADATA: the family or empty (owned) */
    int64_t limit;    /* strings per shard, 0: all */
    int64_t deadline_ns;
    uint64_t piece_bytes;
    uint32_t pieces_in_flight;
    uint32_t stats_pairs_max;
    /* log kinds: times in ns [start_ns, end_ns) (limit: entries per owner for QK_LOG_SELECT) */
    int64_t start_ns, end_ns;
    bool backward;
    struct str *contains; /* line hint literals (owned, with their bytes) */
    size_t n_contains;
    /* QK_LOG_SELECT: a pipeline clone per owner shard (index = shard) whose pre-filter the owner
     * runs on raw lines; NULL: none. Owned by the consumer (query_log.c), which outlives every
     * owner's use of it. */
    struct logql_pipeline **prefilter;
    /* QK_LOG_SELECT with range set: the owners run this partial range aggregation over their
     * entries (range_pl[shard]: its pipeline clone for each owner) and send partials per step
     * instead of entries (query_log_owner.c). Both owned by the consumer (query_log.c), which
     * outlives every owner's use of them. */
    const struct logql_range_req *range;
    struct logql_pipeline **range_pl;
};

struct query_fan;
struct query_cursor;

/* home -> owner; owned by the home shard. The owner writes the result fields, then sends it back
 * (mesh_reply) as the final message of the fan-out, after all its pieces. */
struct query_req {
    struct mesh_msg hdr; /* first member: mesh rule */
    struct query_fan *fan;
    uint32_t shard;
    const struct query_spec *spec;
    const _Atomic int *cancel;
    struct query_req *send_next; /* home: waiting for mesh space */
    /* written by the owner */
    int rc;
    uint64_t pieces, series;
    struct logstore_select_stats lstats;     /* QK_LOG_SELECT */
    uint64_t scanned_entries, scanned_bytes; /* QK_LOG_SELECT: read before the pre-filter */
};

/* An entry of a QK_LOG_SELECT piece (strings in the piece arena). */
struct query_log_pentry {
    uint32_t stream; /* index into the piece's streams */
    uint32_t n_md;
    int64_t ts_ns;
    struct str line;
    const struct label *md;
};

/* A stream of a QK_LOG_SELECT piece: its labels without __tenant__ (in the piece arena). */
struct query_log_pstream {
    const struct label *labels;
    size_t n_labels;
};

/* A step of a partial range aggregation piece: its partials are [first, first + n) of the
 * piece's partials (in the piece arena). */
struct query_log_pstep {
    int64_t t_ns;
    uint32_t first, n;
};

/* A partial of a range aggregation piece: series indexes the piece's label sets (lstreams). */
struct query_log_ppartial {
    uint32_t series;
    uint64_t count;
    double v;
};

/* A row of a QK_STATS piece (strings in the piece arena). */
struct query_pair_count {
    struct str name, value;
    uint64_t count;
};

/* owner -> home (mesh_reply_with); returned by mesh_release; owned by the owner shard. */
struct query_piece {
    struct mesh_msg hdr;      /* first member: mesh rule */
    struct query_cursor *cur; /* the owner's */
    struct query_req *req;    /* the request it answers (home reads req->fan) */
    struct query_piece *link; /* home: stream queue or release list */
    uint32_t shard;
    size_t n;
    union {
        struct chunk_series *series;         /* QK_SELECT */
        struct str *strs;                    /* QK_NAMES, QK_VALUES */
        struct query_metadata_entry *meta;   /* QK_METADATA */
        struct query_pair_count *pairs;      /* QK_STATS */
        struct query_log_pentry *entries;    /* QK_LOG_SELECT (heap) */
        struct logstore_stream_stats *sst;   /* QK_LOG_SERIES (arena) */
        struct query_log_ppartial *partials; /* QK_LOG_SELECT with a range (heap) */
    } u;
    /* QK_LOG_SELECT with a range: the steps (arena), and what the owner read and kept since
     * its previous piece */
    struct query_log_pstep *steps;
    size_t n_steps;
    uint64_t range_scanned, range_scanned_bytes, range_kept;
    struct query_exemplars_result *ex;  /* QK_EXEMPLARS (freed with the piece) */
    struct query_log_pstream *lstreams; /* QK_LOG_SELECT (heap2) */
    size_t n_lstreams;
    void *heap2;
    uint64_t samples; /* QK_SELECT: samples in the chunks */
    /* QK_STATS */
    uint64_t num_series, chunk_count;
    int64_t min_time_ms, max_time_ms;
    size_t bytes;
    void *heap; /* a malloc'ed array (QK_SELECT series), freed with the piece */
    struct arena arena;
};

/* One owner's queue of a fan-out, at home (under q->lock). */
struct query_stream {
    struct query_piece *head, *tail;
    bool done; /* the final reply arrived */
    int rc;
};

struct query_job;

struct query_fan {
    struct query_shard *q;
    struct query_job *job; /* valid while !consumer_closed */
    struct query_spec spec;
    _Atomic int cancel;     /* owners read it each step */
    struct query_req *reqs; /* [nshards] */
    /* under q->lock */
    struct query_stream *streams; /* [nshards] */
    uint32_t owners_left;
    struct query_piece *release;
    bool consumer_closed;
    bool in_attn;
    struct query_fan *attn_next; /* q->attn */
    struct query_fan *post_next; /* q->posted */
    struct query_fan *job_next;  /* the job's open fans */
    /* shard thread only */
    uint32_t held; /* pieces at home not yet released */
    struct query_fan *check_next;
    struct query_fan *live_prev, *live_next;
};

struct query_job {
    struct query_shard *q;
    char tenant_buf[VALIDATE_TENANT_BYTES_MAX + 1];
    struct str tenant;
    int64_t deadline_ns;
    _Atomic int canceled;
    query_run_fn run;
    query_done_fn done;
    void *arg;
    pthread_cond_t cond;                     /* the query thread waits here, with q->lock */
    struct query_fan *fans;                  /* open fan-outs (under q->lock) */
    struct query_job *next;                  /* queue or done list (under q->lock) */
    struct query_job *live_prev, *live_next; /* shard thread */
    _Atomic uint64_t samples_loaded;
};

/* Owner side: one fan-out request being answered here. */
struct query_cursor {
    struct query_req *req;
    const struct query_spec *spec;
    struct chunk_series_set *set;
    bool opened, finished;
    uint32_t outstanding; /* pieces sent, not yet released */
    uint64_t pieces, series;
    void *stats; /* QK_STATS aggregation (query_owner.c) */
    void *log;   /* log kinds: the owner state (query_log_owner.c) */
    struct query_cursor *prev, *next;
};

struct query_shard {
    struct query_config cfg;
    uint32_t self, nshards;
    struct mesh *mesh;
    void (*wake)(void *arg);
    void *wake_arg;
    const struct query_store_ops *ops;
    void *store;
    struct ingest_shard *ingest;
    const struct query_log_store_ops *log_ops;
    void *log_store;
    /* owner side (shard thread) */
    struct query_cursor *cursors; /* ring order: the next to step is rr */
    struct query_cursor *rr;
    uint32_t ncursors;
    /* home side (shard thread) */
    struct query_fan *live;
    uint32_t nlive;
    struct query_req *send_head, *send_tail;
    struct query_job *jobs; /* live jobs */
    uint32_t njobs;
    /* shared with the query threads (lock) */
    pthread_mutex_t lock;
    pthread_cond_t work; /* query threads wait for jobs */
    struct query_job *queue_head, *queue_tail;
    uint32_t queued, running;
    struct query_fan *posted; /* new fan-outs to send */
    struct query_fan *attn;   /* pieces to release, consumers closed */
    struct query_job *done;   /* finished jobs to answer */
    bool stopping;
    bool woken; /* a wake is pending (avoid waking for every post) */
    pthread_t *threads;
    uint32_t nthreads;
    struct query_shard_stats stats;
};

/* query.c */
/* Wakes the shard (query thread side; call with q->lock held, returns the wake to do after
 * unlocking). */
bool query_need_wake_locked(struct query_shard *q);
void query_do_wake(struct query_shard *q);
/* Waits on the job's condition until woken, the deadline or a cancel: 0, -ETIMEDOUT or
 * -ECANCELED. Called with q->lock held. */
int query_wait_locked(struct query_job *j);

/* query_fan.c (home side) */
/* Query thread: creates a fan-out with spec (taken over: matchers etc. now belong to the fan)
 * and posts it to the shard loop. NULL on ERR_NOMEM (spec freed). */
struct query_fan *query_fan_start(struct query_job *j, struct query_spec *spec);
/* Query thread: the next piece of shard i: 1 with *out, 0 when that owner is done (its rc in
 * *rc_out, 0 on success), or -ETIMEDOUT / -ECANCELED. */
int query_fan_next(struct query_fan *f, uint32_t i, struct query_piece **out, int *rc_out);
/* Query thread: the consumer is done with a piece. */
void query_fan_give_back(struct query_fan *f, struct query_piece *p);
/* Query thread: the consumer is done with the fan-out (releases everything queued, cancels owners
 * still working); f must not be used afterwards. */
void query_fan_close(struct query_fan *f);
/* Query thread: waits until every owner answered; on success every piece is queued in
 * f->streams (read them with query_fan_next). Returns the first owner error, -ETIMEDOUT,
 * -ECANCELED or 0. */
int query_fan_wait_all(struct query_fan *f);
void query_spec_free(struct query_spec *s);

/* query_calls.c: starts a fan-out with spec (taken over) and waits for every shard; then g->v
 * holds every piece (in shard order). Returns 0 or the first error; call query_gathered_done in
 * any case. */
struct query_gathered {
    struct query_fan *fan;
    struct query_piece **v;
    size_t n;
};
int query_gather(struct query_job *j, struct query_spec *spec, struct query_gathered *g);
void query_gathered_done(struct query_gathered *g);
/* query_gather of a names/values spec (taken over), the strings merged: sorted, unique, at most
 * spec->limit + 1 when spec->limit > 0. */
int query_gather_strings(struct query_job *j, struct query_spec *spec, struct querier_strings *out);
/* Builds spec matchers: copies of ms' sets, each followed by the tenant matcher. */
int query_spec_matchers(struct query_spec *s, const struct query_matchsets *ms, struct str tenant);

/* Shard thread. query_home_take_locked (q->lock held) detaches the posted fan-outs and what the
 * consumers gave back; query_home_process (unlocked) sends the former and releases the latter. */
struct query_home_work {
    struct query_fan *posted;
    struct query_piece *release;
    struct query_fan *check;
};
void query_home_take_locked(struct query_shard *q, struct query_home_work *w);
void query_home_process(struct query_shard *q, struct query_home_work *w);
void query_home_send_pending(struct query_shard *q);
void query_home_piece(struct query_shard *q, struct query_piece *p);
void query_home_final(struct query_shard *q, struct query_req *r);

/* query_owner.c (owner side, shard thread) */
void query_owner_request(struct query_shard *q, struct query_req *r);
void query_owner_released(struct query_shard *q, struct query_piece *p);
/* One round of bounded owner work; true when work remains. */
bool query_owner_step(struct query_shard *q);
void query_piece_free(struct query_piece *p);

/* For tests: replace the owner's store. */
void query_shard_set_store(struct query_shard *q, const struct query_store_ops *ops, void *store);
void query_shard_set_log_store(struct query_shard *q, const struct query_log_store_ops *ops,
                               void *store);

/* query_log_owner.c (owner side of the log kinds, shard thread) */
/* One step of a log cursor; returns the budget bytes used, *done with *rc at its end. */
size_t query_log_owner_step(struct query_shard *q, struct query_cursor *c, bool *done, int *rc);
/* Frees the cursor's log state (closing an open iterator). */
void query_log_owner_free(struct query_shard *q, struct query_cursor *c);
/* Fills r->lstats before the final reply. */
void query_log_owner_final(struct query_shard *q, struct query_cursor *c, struct query_req *r);

/* query_owner.c, shared with query_log_owner.c */
struct query_piece *query_piece_new(struct query_shard *q, struct query_cursor *c);
void query_piece_send(struct query_shard *q, struct query_cursor *c, struct query_piece *p);
struct str query_dup_str(struct arena *a, struct str s, size_t *bytes);

#endif
