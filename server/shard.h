/* A shard: one thread pinned to one CPU, with its own io_uring loop, its own SO_REUSEPORT listening
 * socket per address (multishot accept), its connections, its metrics, its end of the cross-core
 * mesh, and its slice of the data: the metrics TSDB in <data-dir>/shard-NNN (opened and
 * WAL-replayed before the shard reports RUNNING, ticked on the shard's timer, closed after the loop
 * ends) and the ingest state that applies remote-write parts to it (server/ingest.h). Everything in
 * a shard is touched only by its thread, except: `status` (atomic), the metrics (single-writer
 * atomics read by /metrics on any shard), and shard_wake() (any thread).
 *
 * Stopping: a shard stops accepting, lets its connections finish, and then counts itself quiesced;
 * it keeps running (applying other shards' ingest parts, flushing its WAL, answering mesh
 * messages) until EVERY shard is quiesced and its own ingest state, WAL commits and mesh lanes are
 * idle, so no in-flight write loses its owner; the grace period bounds all of it.
 *
 * Timeouts: connections sit on one of a few deadline lists, each with a fixed timeout, so every
 * list stays sorted by deadline when a connection is appended at its tail; a periodic tick
 * (IORING_OP_TIMEOUT) pops the expired heads. */
#ifndef STRATA_SERVER_SHARD_H
#define STRATA_SERVER_SHARD_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/buf.h"
#include "engine/io/loop.h"
#include "server/config.h"
#include "server/http/parser.h"
#include "server/metrics.h"

struct server;
struct conn;
struct tsdb;
struct ingest_shard;
struct query_shard;
struct logstore;
struct logingest_shard;
struct mesh;
struct http_gzip;

enum conn_timer_list {
    CONN_TL_NONE = 0, /* no deadline (handler running, closing) */
    CONN_TL_HEADER,   /* --http.header-timeout: request head must arrive */
    CONN_TL_IDLE,     /* --http.idle-timeout: keep-alive idle, stalled body or send */
    CONN_TL_LINGER,   /* lingering close after the last response */
    CONN_TL_N
};

struct conn_list {
    struct conn *head;
    struct conn *tail;
    uint32_t n;
};

struct shard_listener {
    struct loop_op op;
    struct shard *sh;
    int fd;
    bool armed;
    bool multishot;
    bool rearm_on_tick; /* accept failed with EMFILE/ENFILE: retry later, not in a hot loop */
};

enum shard_status { SHARD_STARTING = 0, SHARD_RUNNING = 1, SHARD_EXITED = 2 };

struct shard {
    uint32_t id;
    int cpu; /* -1: not pinned */
    struct server *srv;
    pthread_t thread;
    bool started;       /* the thread exists (main thread's view) */
    _Atomic int status; /* enum shard_status, or -errno when start-up failed */
    struct loop loop;
    struct shard_listener listeners[CONFIG_LISTEN_MAX];
    uint32_t nlisteners;
    struct conn_list lists[CONN_TL_N];
    int64_t list_timeout_ns[CONN_TL_N];
    uint32_t nconns;   /* including dead ones not yet reaped */
    struct conn *dead; /* closed, freed by conn_reap */
    struct loop_timer tick;
    int64_t tick_ns;
    struct shard_metrics *metrics;
    struct http_gzip *gzip;
    struct buf scratch; /* gzip output */
    struct http_limits limits;
    bool stopping;
    int64_t stop_started_ns;
    int64_t grace_deadline_ns;
    struct mesh *mesh; /* NULL when the mesh is not wired */
    bool mesh_ping_ok;
    struct tsdb *tsdb;           /* this shard's metrics TSDB */
    struct ingest_shard *ingest; /* remote-write pipeline (accepting and owner side) */
    struct query_shard *query;   /* query threads, fan-outs, owner cursors (server/query.h) */
    bool quiesced;               /* stopping, no connections left (counted in the server) */
    /* this shard's log store (<shard dir>/logs) and the Loki push pipeline (accepting and owner
     * side) over it */
    struct logstore *logs;
    struct logingest_shard *logingest;
};

/* Allocates a shard that will serve the given listening fds (taking ownership of them). */
int shard_create(struct server *srv, uint32_t id, int cpu, const int *listen_fds, uint32_t nfds,
                 struct shard **out);
/* Starts the thread. Poll `status` for SHARD_RUNNING or a negative error. */
int shard_start(struct shard *sh);
void shard_join(struct shard *sh);
void shard_destroy(struct shard *sh);
/* Any thread: makes the shard look at the server state (used to begin a graceful stop). */
void shard_wake(struct shard *sh);

/* Called by conn.c when a connection is freed. */
void shard_conn_closed(struct shard *sh);

#endif
