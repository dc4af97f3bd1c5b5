/* Shard threads: CPU pinning, loop set-up, multishot accept with the connection limit, the tick
 * that drives timeouts, TSDB maintenance and the graceful stop, the mesh wiring (attach, wake tag,
 * poll, ingest messages), and the shard's TSDB (open with WAL replay, WAL group commit in
 * before_wait, close). */
#include "server/shard.h"

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/assert.h"
#include "base/clock.h"
#include "base/error.h"
#include "base/log.h"
#include "engine/logs/logstore.h"
#include "engine/shard/mesh.h"
#include "engine/tsdb/tsdb.h"
#include "server/conn.h"
#include "server/http/encoding.h"
#include "server/ingest.h"
#include "server/query.h"
#include "server/logingest.h"
#include "server/server.h"

#define TICK_MAX_NS     250000000LL
#define TICK_MIN_NS     10000000LL
#define LINGER_NS       2000000000LL
#define MESH_POLL_BATCH 64

enum shard_msg_type { SHARD_MSG_PING = 1 };

struct shard_ping {
    struct mesh_msg hdr; /* first member: mesh rule */
    int64_t sent_ns;
};

static const char reject_503[] = "HTTP/1.1 503 Service Unavailable\r\n"
                                 "Content-Type: text/plain; charset=utf-8\r\n"
                                 "Retry-After: 1\r\n"
                                 "Connection: close\r\n"
                                 "Content-Length: 21\r\n\r\n"
                                 "too many connections\n";

static void check_stopped(struct shard *sh);

/* ---- accept -----------------------------------------------------------------------------------
 */

/* Over the connection limit: answer 503 and close, linked in the ring, without allocating. */
static void reject(struct shard *sh, int fd)
{
    struct io_uring *ring = loop_ring(&sh->loop);
    if (io_uring_sq_space_left(ring) < 2)
        io_uring_submit(ring); /* both SQEs in one submission keeps the link intact */
    struct io_uring_sqe *sqe = loop_sqe(&sh->loop, NULL);
    io_uring_prep_send(sqe, fd, reject_503, sizeof reject_503 - 1, MSG_NOSIGNAL);
    io_uring_sqe_set_data(sqe, NULL);
    sqe->flags |= IOSQE_IO_HARDLINK; /* close even when the send fails */
    loop_close(&sh->loop, fd);
    metric_add(&sh->metrics->conns_rejected, 1);
}

static void arm_accept(struct shard_listener *lst)
{
    lst->armed = true;
    lst->rearm_on_tick = false;
    loop_accept(&lst->sh->loop, &lst->op, lst->fd, lst->multishot);
}

static void accepted(struct shard *sh, int fd)
{
    struct server *srv = sh->srv;
    if (sh->stopping) {
        close(fd);
        return;
    }
    if (atomic_fetch_add(&srv->conns_open, 1) >= srv->cfg->max_connections) {
        atomic_fetch_sub(&srv->conns_open, 1);
        reject(sh, fd);
        return;
    }
    sh->nconns++;
    metric_add(&sh->metrics->conns_accepted, 1);
    metric_set(&sh->metrics->conns_open, sh->nconns);
    conn_accept(sh, fd);
}

static void accept_ended(struct shard_listener *lst, int res)
{
    struct shard *sh = lst->sh;
    lst->armed = false;
    if (res == -ECANCELED || sh->stopping) {
        close(lst->fd);
        lst->fd = -1;
        check_stopped(sh);
    } else if (res == -EINVAL && lst->multishot) {
        lst->multishot = false; /* kernel < 5.19: re-arm one accept at a time */
        log_info("multishot accept unsupported, using single-shot accept");
        arm_accept(lst);
    } else if (res == -EMFILE || res == -ENFILE || res == -ENOBUFS || res == -ENOMEM) {
        log_warn("accept failed, retrying on the next tick", LOG_ERR(res));
        lst->rearm_on_tick = true;
    } else {
        arm_accept(lst);
    }
}

static void on_accept(struct loop *l, struct loop_op *op, int res, uint32_t flags)
{
    (void)l;
    struct shard_listener *lst = (struct shard_listener *)op;
    if (res >= 0)
        accepted(lst->sh, res);
    if (!(flags & IORING_CQE_F_MORE))
        accept_ended(lst, res >= 0 ? 0 : res);
}

/* ---- mesh -------------------------------------------------------------------------------------
 */

static void mesh_handle(struct shard *sh, struct mesh_msg *m)
{
    if (sh->ingest && ingest_on_message(sh->ingest, m))
        return;
    if (sh->query && query_on_message(sh->query, m))
        return;
    if (sh->logingest && logingest_on_message(sh->logingest, m))
        return;
    if (m->type == SHARD_MSG_PING && (m->flags & MESH_MSG_REPLY)) {
        struct shard_ping *p = (struct shard_ping *)m;
        log_debug("mesh round trip", LOG_UINT("peer", m->from),
                  LOG_INT("rtt_us", (clock_mono_ns() - p->sent_ns) / 1000));
        sh->mesh_ping_ok = true;
        free(p);
        return;
    }
    if (!(m->flags & (MESH_MSG_REPLY | MESH_MSG_RELEASE))) {
        /* a request: PING, or an engine message type this build does not know yet (hook: engine
         * handlers dispatch on m->type here); answering it returns the memory to its owner */
        if (m->type != SHARD_MSG_PING)
            log_warn("unknown mesh message type", LOG_UINT("type", m->type));
        mesh_reply(sh->mesh, sh->id, m);
        return;
    }
    log_error("unexpected mesh reply", LOG_UINT("type", m->type), LOG_UINT("from", m->from));
}

static void mesh_drain(struct shard *sh)
{
    struct mesh_msg *msgs[MESH_POLL_BATCH];
    uint32_t n;
    while ((n = mesh_poll(sh->mesh, sh->id, msgs, MESH_POLL_BATCH)) > 0)
        for (uint32_t i = 0; i < n; i++)
            mesh_handle(sh, msgs[i]);
}

static void on_mesh_cqe(struct loop *l, uint64_t ud, int res, uint32_t flags, void *arg)
{
    (void)l;
    struct shard *sh = arg;
    struct io_uring_cqe cqe = {.user_data = ud, .res = res, .flags = flags};
    mesh_cqe(sh->mesh, sh->id, &cqe);
    mesh_drain(sh);
}

/* Checks the wiring once at start: a ping to the next shard (to itself with one shard). */
static void mesh_ping(struct shard *sh)
{
    struct shard_ping *p = malloc(sizeof *p);
    if (!p)
        return;
    mesh_msg_init(&p->hdr, SHARD_MSG_PING, sh->id);
    p->sent_ns = clock_mono_ns();
    if (mesh_send(sh->mesh, sh->id, (sh->id + 1) % sh->srv->nshards, &p->hdr) != 0)
        free(p);
    else
        sh->mesh_ping_ok = false;
}

/* Runs every iteration before the loop blocks. Order: take the mesh's messages (ingest parts are
 * applied and appended to the WAL), retry ingest parts waiting for mesh space, start the WAL's
 * group commit, then publish what we staged (wal.h: wal_flush after the drain, before the flush).
 */
static bool before_wait(struct loop *l, void *arg)
{
    (void)l;
    struct shard *sh = arg;
    conn_reap(sh);
    if (sh->mesh)
        mesh_drain(sh);
    if (sh->ingest && sh->mesh)
        ingest_shard_poll(sh->ingest, clock_mono_ns());
    if (sh->logingest && sh->mesh)
        logingest_shard_poll(sh->logingest, clock_mono_ns());
    /* query work: answer finished jobs, send fan-outs, one bounded step of owner cursors */
    bool query_busy = sh->query && query_shard_poll(sh->query);
    if (sh->tsdb)
        tsdb_flush(sh->tsdb);
    if (sh->logs)
        logstore_flush(sh->logs);
    if (!sh->mesh)
        return true;
    mesh_flush(sh->mesh, sh->id);
    if (query_busy)
        return false; /* more owner steps to take: do not block */
    return mesh_prepare_sleep(sh->mesh, sh->id);
}

/* ---- tick, stop -------------------------------------------------------------------------------
 */

/* This shard has no connections left: count it, and wake the others once all are quiesced. */
static void quiesce(struct shard *sh)
{
    struct server *srv = sh->srv;
    sh->quiesced = true;
    if (atomic_fetch_add(&srv->shards_quiesced, 1) + 1 < srv->nshards)
        return;
    for (uint32_t i = 0; i < srv->nshards; i++)
        if (srv->shards[i] && srv->shards[i] != sh)
            shard_wake(srv->shards[i]);
}

/* Work that must finish before the loop may end (bounded by the grace period): other shards may
 * still send us ingest parts until they are all quiesced; our own requests and parts applied here
 * must be answered; our messages must come home. */
static bool work_left(struct shard *sh)
{
    if (atomic_load(&sh->srv->shards_quiesced) < sh->srv->nshards)
        return true;
    if (sh->ingest && !ingest_shard_idle(sh->ingest))
        return true;
    if (sh->query && !query_shard_idle(sh->query))
        return true;
    if (sh->logingest && !logingest_shard_idle(sh->logingest))
        return true;
    return sh->mesh && (!sh->mesh_ping_ok || !mesh_flushed(sh->mesh, sh->id));
}

static void check_stopped(struct shard *sh)
{
    if (!sh->stopping || sh->nconns > 0)
        return;
    for (uint32_t i = 0; i < sh->nlisteners; i++)
        if (sh->listeners[i].fd >= 0)
            return;
    if (!sh->quiesced)
        quiesce(sh);
    bool overdue = clock_mono_ns() > sh->grace_deadline_ns;
    if (!overdue && work_left(sh))
        return;
    if (overdue && sh->ingest && !ingest_shard_idle(sh->ingest))
        log_warn("grace period over with ingest work in flight",
                 LOG_UINT("requests", ingest_shard_inflight(sh->ingest)));
    if (overdue && sh->logingest && !logingest_shard_idle(sh->logingest))
        log_warn("grace period over with log push work in flight",
                 LOG_UINT("requests", logingest_shard_inflight(sh->logingest)));
    loop_stop(&sh->loop);
}

static void begin_stop(struct shard *sh)
{
    sh->stopping = true;
    sh->stop_started_ns = clock_mono_ns();
    sh->grace_deadline_ns = sh->stop_started_ns + sh->srv->cfg->shutdown_grace_ns;
    for (uint32_t i = 0; i < sh->nlisteners; i++) {
        struct shard_listener *lst = &sh->listeners[i];
        if (lst->armed) {
            loop_cancel(&sh->loop, &lst->op);
        } else if (lst->fd >= 0) {
            close(lst->fd);
            lst->fd = -1;
        }
    }
    conn_shutdown_all(sh);
    check_stopped(sh);
}

static void on_wake(struct loop *l, struct loop_op *op, int res, uint32_t flags)
{
    (void)op;
    (void)res;
    (void)flags;
    struct shard *sh = loop_wake_arg(l);
    if (!sh->stopping && server_state_get(sh->srv) == SERVER_STOPPING)
        begin_stop(sh);
    else
        check_stopped(sh); /* e.g. the last shard quiesced */
}

static void snapshot_mesh(struct shard *sh)
{
    struct mesh_stats st;
    mesh_stats_get(sh->mesh, sh->id, &st);
    metric_set(&sh->metrics->mesh_sent, st.sent);
    metric_set(&sh->metrics->mesh_received, st.received);
    metric_set(&sh->metrics->mesh_full, st.full);
    metric_set(&sh->metrics->mesh_wakes_sent, st.wakes_sent);
}

static void on_tick(struct loop *l, struct loop_op *op, int res, uint32_t flags)
{
    (void)op;
    (void)flags;
    struct shard *sh = (struct shard *)((char *)l - offsetof(struct shard, loop));
    if (res == -ECANCELED)
        return;
    int64_t now = clock_mono_coarse_ns();
    conn_expire(sh, now);
    for (uint32_t i = 0; i < sh->nlisteners; i++)
        if (sh->listeners[i].rearm_on_tick && !sh->stopping)
            arm_accept(&sh->listeners[i]);
    if (sh->mesh)
        snapshot_mesh(sh);
    if (sh->tsdb)
        tsdb_tick(sh->tsdb, clock_real_ms());
    if (sh->logs)
        logstore_tick(sh->logs, clock_real_ms());
    if (sh->stopping && clock_mono_ns() > sh->grace_deadline_ns && sh->nconns > 0) {
        log_warn("grace period over, closing connections", LOG_UINT("open", sh->nconns));
        conn_abort_all(sh);
    }
    check_stopped(sh);
    loop_timer_arm(&sh->loop, &sh->tick, sh->tick_ns);
}

void shard_conn_closed(struct shard *sh)
{
    sh->nconns--;
    atomic_fetch_sub(&sh->srv->conns_open, 1);
    metric_set(&sh->metrics->conns_open, sh->nconns);
    if (sh->stopping)
        check_stopped(sh);
}

void shard_wake(struct shard *sh)
{
    /* before RUNNING the loop may not exist yet; the shard checks the state itself after starting
     */
    if (atomic_load(&sh->status) == SHARD_RUNNING)
        loop_wake(&sh->loop);
}

/* ---- thread -----------------------------------------------------------------------------------
 */

static void pin(struct shard *sh)
{
    if (sh->cpu < 0)
        return;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(sh->cpu, &set);
    int rc = pthread_setaffinity_np(pthread_self(), sizeof set, &set);
    if (rc)
        log_warn("cannot pin shard to its CPU", LOG_INT("cpu", sh->cpu), LOG_ERR(-rc));
}

static int attach_mesh(struct shard *sh)
{
    int rc = mesh_attach(sh->mesh, sh->id, loop_ring(&sh->loop));
    if (rc == 0)
        rc = loop_tag_register(&sh->loop, MESH_TAG, MESH_TAG_MASK, on_mesh_cqe, sh);
    return rc;
}

/* Opens <shard dir>/logs (WAL replay included) with the Loki push limits, the log retention
 * (overall and per stream selector), the compaction zstd level and the server's WAL fsync mode,
 * and the log ingest state over it. */
static int open_logs(struct shard *sh, const char *shard_dir)
{
    const struct server_config *cfg = sh->srv->cfg;
    uint32_t n = sh->srv->nshards;
    char dir[4096 + 8];
    snprintf(dir, sizeof dir, "%s/logs", shard_dir);
    struct logstore_config lcfg;
    logstore_config_init(&lcfg);
    lcfg.wal.fsync = cfg->tsdb.wal.fsync; /* --wal.fsync applies to both WALs */
    logingest_logstore_limits(&cfg->logingest, n, &lcfg);
    lcfg.retention_ms = cfg->loki_retention_ms;
    lcfg.retention_rules = cfg->loki_retention_rules; /* the config outlives the shards */
    lcfg.n_retention_rules = cfg->n_loki_retention_rules;
    lcfg.compact_zstd_level = cfg->logs_compact_zstd_level;
    int rc = logstore_open(dir, &lcfg, &sh->loop, &sh->logs);
    if (rc) {
        log_error("cannot open the shard's log store", LOG_STR("dir", dir), LOG_ERR(rc));
        sh->logs = NULL;
        return rc;
    }
    rc = logingest_shard_create(&cfg->logingest, sh->id, n, sh->mesh, &sh->logingest);
    if (rc)
        return rc;
    logingest_shard_attach_logstore(sh->logingest, sh->logs);
    return 0;
}

/* A query thread has work for the loop (query_shard_poll). */
static void query_wake(void *arg)
{
    shard_wake(arg);
}

/* Opens <data-dir>/shard-NNN (WAL replay included) and the ingest state over it. */
static int open_storage(struct shard *sh)
{
    const struct server_config *cfg = sh->srv->cfg;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/shard-%03u", cfg->data_dir, sh->id);
    int64_t t0 = clock_mono_ns();
    int rc = tsdb_open(dir, &cfg->tsdb, &sh->loop, &sh->tsdb);
    if (rc) {
        log_error("cannot open the shard's TSDB", LOG_STR("dir", dir), LOG_ERR(rc));
        sh->tsdb = NULL;
        return rc;
    }
    rc = ingest_shard_create(&cfg->ingest, sh->id, sh->srv->nshards, sh->mesh, &sh->ingest);
    if (rc)
        return rc;
    ingest_shard_attach_tsdb(sh->ingest, sh->tsdb);
    if (sh->mesh) {
        rc = query_shard_create(&cfg->query, sh->id, sh->srv->nshards, sh->mesh, query_wake, sh,
                                &sh->query);
        if (rc)
            return rc;
        query_shard_attach(sh->query, sh->tsdb, sh->ingest);
    }
    if ((rc = open_logs(sh, dir)) != 0)
        return rc;
    if (sh->query)
        query_shard_attach_logs(sh->query, sh->logs);
    log_info("shard storage open", LOG_STR("dir", dir),
             LOG_F64("open_ms", (double)(clock_mono_ns() - t0) / 1e6));
    return 0;
}

/* After the loop ended: flush and close the TSDB (running the loop for its last WAL writes). */
static void close_storage(struct shard *sh)
{
    query_shard_destroy(sh->query); /* first: its cursors read the TSDB and ingest metadata */
    sh->query = NULL;
    if (sh->logs) {
        loop_set_before_wait(&sh->loop, logstore_before_wait, sh->logs);
        logstore_close(sh->logs);
        sh->logs = NULL;
    }
    logingest_shard_destroy(sh->logingest);
    sh->logingest = NULL;
    if (sh->tsdb) {
        loop_set_before_wait(&sh->loop, tsdb_before_wait, sh->tsdb);
        int64_t t0 = clock_mono_ns();
        tsdb_close(sh->tsdb);
        sh->tsdb = NULL;
        log_info("shard storage closed", LOG_F64("close_ms", (double)(clock_mono_ns() - t0) / 1e6));
    }
    ingest_shard_destroy(sh->ingest);
    sh->ingest = NULL;
}

static void teardown(struct shard *sh)
{
    close_storage(sh);
    conn_reap(sh);
    for (uint32_t i = 0; i < sh->nlisteners; i++) {
        if (sh->listeners[i].fd >= 0)
            close(sh->listeners[i].fd);
        sh->listeners[i].fd = -1;
    }
    io_uring_submit(loop_ring(&sh->loop)); /* queued closes */
    loop_deinit(&sh->loop);
}

static void *shard_main(void *arg)
{
    struct shard *sh = arg;
    log_set_shard((int)sh->id);
    pin(sh);
    int rc = loop_init(&sh->loop, NULL);
    bool loop_ok = rc == 0;
    if (rc == 0 && sh->mesh)
        rc = attach_mesh(sh);
    if (rc == 0)
        rc = open_storage(sh);
    if (rc && loop_ok) {
        close_storage(sh);
        loop_deinit(&sh->loop);
    }
    if (rc) {
        log_error("shard start failed", LOG_ERR(rc));
        atomic_store(&sh->status, rc < 0 && rc > -4096 ? rc : -EIO);
        atomic_fetch_add(&sh->srv->shards_exited, 1);
        return NULL;
    }
    loop_set_wake_fn(&sh->loop, on_wake, sh);
    loop_set_before_wait(&sh->loop, before_wait, sh);
    for (uint32_t i = 0; i < sh->nlisteners; i++)
        arm_accept(&sh->listeners[i]);
    loop_timer_arm(&sh->loop, &sh->tick, sh->tick_ns);
    if (sh->mesh)
        mesh_ping(sh);
    atomic_store(&sh->status, SHARD_RUNNING);
    if (server_state_get(sh->srv) == SERVER_STOPPING)
        begin_stop(sh); /* a stop requested while we started (pairs with server_request_stop) */
    log_debug("shard running", LOG_INT("cpu", sh->cpu),
              LOG_UINT("ring_flags", sh->loop.setup_flags));
    loop_run(&sh->loop);
    teardown(sh);
    log_debug("shard stopped");
    atomic_store(&sh->status, SHARD_EXITED);
    atomic_fetch_add(&sh->srv->shards_exited, 1);
    return NULL;
}

int shard_create(struct server *srv, uint32_t id, int cpu, const int *listen_fds, uint32_t nfds,
                 struct shard **out)
{
    ASSERT(nfds <= CONFIG_LISTEN_MAX);
    struct shard *sh = calloc(1, sizeof *sh);
    if (!sh)
        return ERR_NOMEM;
    const struct server_config *cfg = srv->cfg;
    sh->id = id;
    sh->cpu = cpu;
    sh->srv = srv;
    sh->mesh = srv->mesh;
    sh->metrics = aligned_alloc(64, (sizeof *sh->metrics + 63) & ~(size_t)63);
    sh->gzip = http_gzip_create(4);
    if (!sh->metrics || !sh->gzip) {
        shard_destroy(sh);
        return ERR_NOMEM;
    }
    memset(sh->metrics, 0, sizeof *sh->metrics);
    sh->limits = (struct http_limits){.head_bytes_max = cfg->max_header_bytes,
                                      .headers_max = HTTP_HEADERS_CAP,
                                      .body_bytes_max = cfg->max_body_bytes};
    sh->list_timeout_ns[CONN_TL_HEADER] = cfg->header_timeout_ns;
    sh->list_timeout_ns[CONN_TL_IDLE] = cfg->idle_timeout_ns;
    sh->list_timeout_ns[CONN_TL_LINGER] = LINGER_NS;
    int64_t t = TICK_MAX_NS;
    if (cfg->header_timeout_ns / 4 < t)
        t = cfg->header_timeout_ns / 4;
    if (cfg->idle_timeout_ns / 4 < t)
        t = cfg->idle_timeout_ns / 4;
    sh->tick_ns = t < TICK_MIN_NS ? TICK_MIN_NS : t;
    sh->tick.fn = on_tick;
    sh->mesh_ping_ok = true;
    sh->nlisteners = nfds;
    for (uint32_t i = 0; i < nfds; i++)
        sh->listeners[i] = (struct shard_listener){
            .op.fn = on_accept, .sh = sh, .fd = listen_fds[i], .multishot = true};
    *out = sh;
    return 0;
}

int shard_start(struct shard *sh)
{
    int rc = pthread_create(&sh->thread, NULL, shard_main, sh);
    sh->started = rc == 0;
    return rc ? -rc : 0;
}

void shard_join(struct shard *sh)
{
    if (sh->started)
        pthread_join(sh->thread, NULL);
    sh->started = false;
}

void shard_destroy(struct shard *sh)
{
    if (!sh)
        return;
    for (uint32_t i = 0; i < sh->nlisteners; i++)
        if (sh->listeners[i].fd >= 0)
            close(sh->listeners[i].fd);
    buf_deinit(&sh->scratch);
    http_gzip_destroy(sh->gzip);
    free(sh->metrics);
    free(sh);
}
