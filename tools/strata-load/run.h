/* The load generator's engine: workload kinds set up from the options (kinds.c), worker threads
 * each running an io_uring loop (engine/io/loop.h) over its share of keep-alive HTTP/1.1
 * connections (client.c), and the run around them: start, progress line, stop, report (run.c).
 *
 * Threading: every connection belongs to one worker thread and is touched only there. A worker's
 * statistics are written under its mutex (the main thread reads them once a second for the progress
 * line). The kinds (workloads, plans, request prefixes) are read-only once the workers start. The
 * stop flag and the backfill progress marks are atomics. */
#ifndef STRATA_TOOLS_LOAD_RUN_H
#define STRATA_TOOLS_LOAD_RUN_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "base/buf.h"
#include "engine/io/loop.h"
#include "tools/strata-load/http.h"
#include "tools/strata-load/opts.h"
#include "tools/strata-load/report.h"
#include "tools/strata-load/sched.h"
#include "tools/strata-load/wl_logs.h"
#include "tools/strata-load/wl_metrics.h"
#include "tools/strata-load/wl_query.h"

/* How a kind picks its requests' times. */
enum ld_clock {
    LD_OPEN,     /* on schedule at the rate; times = due times */
    LD_CLOSED,   /* as fast as answered; times = the wall clock (kept increasing per group) */
    LD_BACKFILL, /* as fast as answered; times = the schedule's, from now - backfill to now */
};

struct ld_kind {
    enum ld_kind_id id;
    bool enabled;
    enum ld_clock clock;
    struct ld_url url;
    struct sockaddr_storage addr;
    socklen_t addr_len;
    struct buf prefix; /* POST kinds: request line and fixed headers, before Content-Length */
    const char *path;  /* query: endpoint path override */
    const char *const *hdrs;
    size_t n_hdrs;
    double rate;         /* units/s asked (0: closed loop) */
    double nominal_rate; /* units/s the schedule is built for */
    uint32_t batch;
    uint32_t n_conns;
    struct ld_plan plan;
    int64_t skew_ns; /* backfill: how far a connection may run ahead of the slowest */
    int64_t end_ns;  /* backfill: Unix ns where the history ends */
    uint64_t quota;  /* requests per kind, 0: no limit */
    uint32_t timeout_ms;
    enum ld_rw_protocol proto;
    enum ld_loki_encoding enc;
    struct ld_metrics m;
    struct ld_logs l;
    struct ld_queries q;
    char detail[48];
};

/* Per-connection buffers for building requests. */
struct ld_scratch {
    struct ld_mbatch mb;
    struct ld_lbatch lb;
    struct buf raw;
    struct buf target;
};

void ld_scratch_init(struct ld_scratch *s);
void ld_scratch_deinit(struct ld_scratch *s);

/* ---- kinds.c ---- */

/* Sets up every kind the mode uses: workloads, URL (resolved), request prefix, plan. unix0_ns is
 * the sample clock origin. Returns 0 or an error with the reason in err. */
int ld_kinds_init(struct ld_kind kinds[LD_K_COUNT], const struct ld_opts *o, int64_t unix0_ns,
                  char *err, size_t err_size);
void ld_kinds_deinit(struct ld_kind kinds[LD_K_COUNT]);
/* Builds one whole HTTP request of kind k into out (replacing it): group g, first tick seq, at the
 * times t_ns[0..n_t) (metrics: one per sample; logs: t_ns[0] ends the window that starts at lo_ns;
 * query: t_ns[0] is the evaluation time). Sets *units and *raw_bytes (uncompressed body). Returns
 * 0 or ERR_NOMEM. */
int ld_kind_build(const struct ld_kind *k, struct ld_scratch *s, uint32_t g, uint64_t seq,
                  const int64_t *t_ns, uint32_t n_t, int64_t lo_ns, struct buf *out,
                  uint32_t *units, uint64_t *raw_bytes);

/* ---- client.c ---- */

struct ld_worker;
struct ld_run;

struct ld_conn {
    struct loop_op io;
    struct loop_timer timer;
    struct ld_worker *w;
    struct ld_kind *k;
    uint32_t index; /* connection number within its kind */
    int fd;
    int state;
    bool busy;      /* an I/O operation is in flight */
    bool timed_out; /* the in-flight operation was cancelled by the timeout check */
    bool finished;
    bool reused; /* the open connection has carried a whole exchange (keep-alive) */
    bool resent; /* the current request is being sent again after a stale keep-alive */
    uint32_t n_groups;
    uint64_t j;       /* next request number */
    int64_t next_off; /* schedule offset of request j (backfill barrier) */
    struct ld_pacer pacer;
    int64_t *last_ns; /* closed loop: last time used, per local group */
    int64_t reconnect_ns;
    /* the current request */
    bool have; /* built (attempts == 0: not sent yet) */
    uint32_t units, attempts;
    uint64_t raw_bytes;
    int64_t due_ns, sent_ns, deadline_ns;
    struct buf out;
    size_t out_off;
    uint8_t *in;
    size_t in_len, in_cap;
    struct ld_resp resp;
    struct ld_scratch s;
};

struct ld_worker {
    pthread_t th;
    uint32_t id;
    struct ld_run *run;
    struct loop loop;
    struct loop_timer tick;
    struct ld_conn **conns;
    uint32_t n_conns, active;
    bool stopping;
    int init_err;
    int64_t done_ns;                  /* when its last connection finished */
    _Atomic int64_t vmin[LD_K_COUNT]; /* backfill: lowest next offset of its connections */
    int64_t gmin[LD_K_COUNT];         /* backfill: lowest over all workers (refreshed each tick) */
    pthread_mutex_t mu;
    struct ld_stats stats[LD_K_COUNT]; /* under mu */
};

struct ld_run {
    const struct ld_opts *o;
    struct ld_kind kinds[LD_K_COUNT];
    struct ld_worker *workers;
    uint32_t n_workers;
    struct ld_conn *conns;
    uint32_t n_conns;
    int64_t mono0_ns, unix0_ns;
    int64_t end_mono_ns;  /* nothing is sent from here on (INT64_MAX: no duration) */
    int64_t stop_mono_ns; /* when the stop was asked (behind-schedule accounting) */
    _Atomic bool stop;
    _Atomic bool hit_end; /* some connection stopped because the duration was over */
    _Atomic uint32_t workers_done;
};

/* Creates the connections and workers of r (kinds already set up). Returns 0 or ERR_NOMEM. */
int ld_client_setup(struct ld_run *r);
void ld_client_teardown(struct ld_run *r);
/* Starts the worker threads (after mono0/unix0 are set). Returns 0 or -errno. */
int ld_client_start(struct ld_run *r);
/* Asks the workers to finish (in-flight requests complete or time out) and joins them. */
void ld_client_stop(struct ld_run *r);
/* Sum of every worker's statistics for each kind. */
void ld_client_stats(struct ld_run *r, struct ld_stats out[LD_K_COUNT]);

/* ---- run.c ---- */

/* The whole program after option parsing: run (or dump, or sink), print the report. Returns the
 * process exit code. */
int ld_main(const struct ld_opts *o);
/* Writes the requests the options describe to path instead of sending them. */
int ld_dump(struct ld_kind kinds[LD_K_COUNT], const struct ld_opts *o, int64_t unix0,
            const char *path);

/* ---- sink.c ---- */

struct ld_sink {
    int fd;
    int port;
    int status;
    uint32_t fail_every;
    uint32_t close_every; /* close a connection silently after this many answers (0: never) */
    _Atomic bool stop;
    _Atomic bool hit_end; /* some connection stopped because the duration was over */
    _Atomic uint64_t requests, bytes;
    pthread_t th;
};

/* Binds addr ("host:port", port 0 = any); returns 0 or -errno. */
int ld_sink_open(struct ld_sink *s, const char *addr, int status, uint32_t fail_every);
/* Serves until s->stop (epoll, one thread). */
void ld_sink_serve(struct ld_sink *s);
/* Runs ld_sink_serve in a thread / stops and joins it, closes the socket. */
int ld_sink_start(struct ld_sink *s);
void ld_sink_stop(struct ld_sink *s);

#endif
