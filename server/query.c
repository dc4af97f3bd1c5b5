/* A shard's query state (query.h): configuration, the query threads and their job queue, the job
 * life cycle (start, cancel, deadline waits, done on the shard thread), the TSDB as the owner-side
 * store, and the message dispatch and per-turn poll that drive the home side (query_fan.c) and
 * the owner side (query_owner.c). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "base/assert.h"
#include "base/clock.h"
#include "base/error.h"
#include "base/log.h"
#include "engine/logs/logstore.h"
#include "engine/tsdb/querier.h"
#include "engine/tsdb/tsdb.h"
#include "server/query_internal.h"

/* Query threads run below the shard threads: ingest keeps the CPU under a heavy query. */
#define QUERY_THREAD_NICE 5

void query_config_default(struct query_config *c)
{
    *c = (struct query_config){
        .workers = 2,
        .queue_max = 256,
        .timeout_ms = 120000,
        .max_samples = 50000000,
        .max_series = 10000000,
        .lookback_ms = 300000,
        .piece_bytes = 1u << 20,
        .pieces_in_flight = 4,
        .step_bytes = 2u << 20,
        .stats_pairs_max = 1000000,
    };
}

/* ---- the TSDB as the owner's store ---- */

static int tsdb_select(void *store, const struct matcher *ms, size_t n, int64_t mint_ms,
                       int64_t maxt_ms, const struct querier_hints *hints,
                       struct chunk_series_set **out)
{
    return querier_select(store, ms, n, mint_ms, maxt_ms, hints, out);
}

static int tsdb_names(void *store, const struct matcher *ms, size_t n, int64_t mint_ms,
                      int64_t maxt_ms, struct querier_strings *out)
{
    return querier_label_names(store, ms, n, mint_ms, maxt_ms, out);
}

static int tsdb_values(void *store, struct str name, const struct matcher *ms, size_t n,
                       int64_t mint_ms, int64_t maxt_ms, struct querier_strings *out)
{
    return querier_label_values(store, name, ms, n, mint_ms, maxt_ms, out);
}

static struct chunk_series_set *tsdb_head_series(void *store, const struct matcher *ms, size_t n)
{
    return head_select(tsdb_head(store), ms, n, INT64_MIN, INT64_MAX);
}

static int tsdb_exemplars_of(void *store, const struct query_matchsets *ms, int64_t mint_ms,
                             int64_t maxt_ms, struct query_exemplars_result *out)
{
    return query_exemplars_owner(store, ms, mint_ms, maxt_ms, out);
}

static const struct query_store_ops tsdb_ops = {
    .select = tsdb_select,
    .label_names = tsdb_names,
    .label_values = tsdb_values,
    .head_series = tsdb_head_series,
    .exemplars = tsdb_exemplars_of,
};

void query_shard_attach(struct query_shard *q, struct tsdb *t, struct ingest_shard *ingest)
{
    q->ops = &tsdb_ops;
    q->store = t;
    q->ingest = ingest;
}

/* ---- the log store as the owner's log store ---- */

static int ls_select(void *store, const struct matcher *ms, size_t n, int64_t start_ns,
                     int64_t end_ns, bool backward, const struct logstore_line_hint *hint,
                     const struct logstore_select_opts *opts, void **it)
{
    return logstore_select_with(store, ms, n, start_ns, end_ns,
                                backward ? LOGSTORE_BACKWARD : LOGSTORE_FORWARD, hint, opts,
                                (struct logstore_iter **)it);
}

static int ls_next(void *it)
{
    return logstore_iter_next(it);
}

static const struct logstore_entry *ls_at(void *it)
{
    return logstore_iter_at(it);
}

static void ls_stats(void *it, struct logstore_select_stats *out)
{
    logstore_iter_stats(it, out);
}

static void ls_close(void *it)
{
    logstore_iter_close(it);
}

/* logstore_strings and querier_strings are the same shape, both freed with free(v). */
static int ls_names(void *store, const struct matcher *ms, size_t n, int64_t start_ns,
                    int64_t end_ns, struct querier_strings *out)
{
    struct logstore_strings s = {0};
    int rc = logstore_label_names(store, ms, n, start_ns, end_ns, &s);
    *out = (struct querier_strings){s.v, s.n};
    return rc;
}

static int ls_values(void *store, struct str name, const struct matcher *ms, size_t n,
                     int64_t start_ns, int64_t end_ns, struct querier_strings *out)
{
    struct logstore_strings s = {0};
    int rc = logstore_label_values(store, name, ms, n, start_ns, end_ns, &s);
    *out = (struct querier_strings){s.v, s.n};
    return rc;
}

static int ls_series(void *store, const struct matcher *ms, size_t n, int64_t start_ns,
                     int64_t end_ns, struct logstore_stream_stats **out, size_t *n_out)
{
    return logstore_series(store, ms, n, start_ns, end_ns, out, n_out);
}

static const struct query_log_store_ops logstore_ops = {
    .select = ls_select,
    .next = ls_next,
    .at = ls_at,
    .stats = ls_stats,
    .close = ls_close,
    .label_names = ls_names,
    .label_values = ls_values,
    .series = ls_series,
};

void query_shard_attach_logs(struct query_shard *q, struct logstore *logs)
{
    q->log_ops = logs ? &logstore_ops : NULL;
    q->log_store = logs;
}

void query_shard_set_log_store(struct query_shard *q, const struct query_log_store_ops *ops,
                               void *store)
{
    q->log_ops = ops;
    q->log_store = store;
}

void query_shard_set_store(struct query_shard *q, const struct query_store_ops *ops, void *store)
{
    q->ops = ops;
    q->store = store;
}

/* ---- wake-ups and waits ---- */

bool query_need_wake_locked(struct query_shard *q)
{
    if (q->woken)
        return false;
    q->woken = true;
    return true;
}

void query_do_wake(struct query_shard *q)
{
    if (q->wake)
        q->wake(q->wake_arg);
}

int query_wait_locked(struct query_job *j)
{
    if (atomic_load(&j->canceled))
        return -ECANCELED;
    int64_t now = clock_mono_ns();
    if (now >= j->deadline_ns)
        return -ETIMEDOUT;
    struct timespec ts = {.tv_sec = j->deadline_ns / 1000000000,
                          .tv_nsec = j->deadline_ns % 1000000000};
    pthread_cond_timedwait(&j->cond, &j->q->lock, &ts);
    return 0;
}

/* ---- query threads ---- */

static void job_close_fans(struct query_job *j)
{
    struct query_shard *q = j->q;
    for (;;) {
        pthread_mutex_lock(&q->lock);
        struct query_fan *f = j->fans;
        pthread_mutex_unlock(&q->lock);
        if (!f)
            return;
        log_warn("query left a fan-out open; closing it");
        query_fan_close(f);
    }
}

static void run_job(struct query_shard *q, struct query_job *j)
{
    j->run(j, j->arg);
    job_close_fans(j); /* a correct run closed them all */
    pthread_mutex_lock(&q->lock);
    q->running--;
    j->next = q->done;
    q->done = j;
    bool wake = query_need_wake_locked(q);
    pthread_mutex_unlock(&q->lock);
    if (wake)
        query_do_wake(q);
}

static void *query_thread(void *arg)
{
    struct query_shard *q = arg;
    log_set_shard((int)q->self);
    if (setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), QUERY_THREAD_NICE) != 0)
        log_debug("cannot lower the query thread's priority", LOG_ERR(-errno));
    pthread_mutex_lock(&q->lock);
    for (;;) {
        while (!q->queue_head && !q->stopping)
            pthread_cond_wait(&q->work, &q->lock);
        struct query_job *j = q->queue_head;
        if (!j)
            break;
        q->queue_head = j->next;
        if (!q->queue_head)
            q->queue_tail = NULL;
        q->queued--;
        q->running++;
        pthread_mutex_unlock(&q->lock);
        run_job(q, j);
        pthread_mutex_lock(&q->lock);
    }
    pthread_mutex_unlock(&q->lock);
    return NULL;
}

/* ---- shard ---- */

int query_shard_create(const struct query_config *cfg, uint32_t self, uint32_t nshards,
                       struct mesh *mesh, void (*wake)(void *arg), void *wake_arg,
                       struct query_shard **out)
{
    ASSERT(nshards >= 1 && self < nshards && mesh);
    struct query_shard *q = calloc(1, sizeof *q);
    if (!q)
        return ERR_NOMEM;
    q->cfg = *cfg;
    if (q->cfg.workers == 0)
        q->cfg.workers = 1;
    if (q->cfg.pieces_in_flight < 2)
        q->cfg.pieces_in_flight = 2; /* one being read, one on its way: the merge never waits */
    q->self = self;
    q->nshards = nshards;
    q->mesh = mesh;
    q->wake = wake;
    q->wake_arg = wake_arg;
    q->ops = &tsdb_ops;
    pthread_mutex_init(&q->lock, NULL);
    pthread_cond_init(&q->work, NULL);
    q->threads = calloc(q->cfg.workers, sizeof *q->threads);
    if (!q->threads) {
        query_shard_destroy(q);
        return ERR_NOMEM;
    }
    for (uint32_t i = 0; i < q->cfg.workers; i++) {
        int rc = pthread_create(&q->threads[i], NULL, query_thread, q);
        if (rc) {
            query_shard_destroy(q);
            return -rc;
        }
        q->nthreads++;
    }
    *out = q;
    return 0;
}

static void job_free(struct query_job *j)
{
    pthread_cond_destroy(&j->cond);
    free(j);
}

static void live_unlink(struct query_shard *q, struct query_job *j)
{
    if (j->live_prev)
        j->live_prev->live_next = j->live_next;
    else
        q->jobs = j->live_next;
    if (j->live_next)
        j->live_next->live_prev = j->live_prev;
    q->njobs--;
}

/* Answers the finished jobs (shard thread). */
static void finish_jobs(struct query_shard *q, struct query_job *done)
{
    while (done) {
        struct query_job *j = done;
        done = j->next;
        live_unlink(q, j);
        j->done(j, j->arg);
        job_free(j);
    }
}

void query_shard_destroy(struct query_shard *q)
{
    if (!q)
        return;
    for (struct query_job *j = q->jobs; j; j = j->live_next)
        query_job_cancel(j);
    pthread_mutex_lock(&q->lock);
    q->stopping = true;
    pthread_cond_broadcast(&q->work);
    pthread_mutex_unlock(&q->lock);
    for (uint32_t i = 0; i < q->nthreads; i++)
        pthread_join(q->threads[i], NULL);
    free(q->threads);
    if (q->nlive || q->ncursors || q->send_head) {
        /* stopped past the grace period: other shards may still reference fan-outs, requests or
         * pieces of ours; leave them (the process is exiting) */
        log_warn("query state freed with work in flight", LOG_UINT("fanouts", q->nlive),
                 LOG_UINT("cursors", q->ncursors));
        /* the log store closes next: no select of ours may stay open on it */
        for (struct query_cursor *c = q->cursors; c; c = c->next)
            query_log_owner_free(q, c);
        return;
    }
    struct query_job *done = q->done;
    q->done = NULL;
    finish_jobs(q, done);
    pthread_cond_destroy(&q->work);
    pthread_mutex_destroy(&q->lock);
    free(q);
}

/* ---- jobs ---- */

struct query_job *query_job_start(struct query_shard *q, struct str tenant, int64_t timeout_ms,
                                  query_run_fn run, query_done_fn done, void *arg, int *rc)
{
    ASSERT(tenant.len <= VALIDATE_TENANT_BYTES_MAX);
    pthread_mutex_lock(&q->lock);
    bool full = q->queued >= q->cfg.queue_max;
    pthread_mutex_unlock(&q->lock);
    struct query_job *j = full ? NULL : calloc(1, sizeof *j);
    if (!j) {
        *rc = full ? ERR_FULL : ERR_NOMEM;
        q->stats.jobs_refused++;
        return NULL;
    }
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&j->cond, &ca);
    pthread_condattr_destroy(&ca);
    j->q = q;
    memcpy(j->tenant_buf, tenant.ptr, tenant.len);
    j->tenant = (struct str){j->tenant_buf, tenant.len};
    if (timeout_ms <= 0 || timeout_ms > q->cfg.timeout_ms)
        timeout_ms = q->cfg.timeout_ms;
    j->deadline_ns = clock_mono_ns() + timeout_ms * 1000000;
    j->run = run;
    j->done = done;
    j->arg = arg;
    j->live_next = q->jobs;
    if (q->jobs)
        q->jobs->live_prev = j;
    q->jobs = j;
    q->njobs++;
    q->stats.jobs_started++;
    pthread_mutex_lock(&q->lock);
    if (q->queue_tail)
        q->queue_tail->next = j;
    else
        q->queue_head = j;
    q->queue_tail = j;
    q->queued++;
    pthread_cond_signal(&q->work);
    pthread_mutex_unlock(&q->lock);
    *rc = 0;
    return j;
}

void query_job_cancel(struct query_job *j)
{
    struct query_shard *q = j->q;
    if (atomic_exchange(&j->canceled, 1))
        return;
    q->stats.jobs_canceled++;
    pthread_mutex_lock(&q->lock);
    for (struct query_fan *f = j->fans; f; f = f->job_next)
        atomic_store(&f->cancel, 1);
    pthread_cond_broadcast(&j->cond);
    pthread_mutex_unlock(&q->lock);
}

struct str query_job_tenant(const struct query_job *j)
{
    return j->tenant;
}

int64_t query_job_deadline_ns(const struct query_job *j)
{
    return j->deadline_ns;
}

int query_job_check(const struct query_job *j)
{
    if (atomic_load(&j->canceled))
        return -ECANCELED;
    if (clock_mono_ns() >= j->deadline_ns)
        return -ETIMEDOUT;
    return 0;
}

const struct query_config *query_job_config(const struct query_job *j)
{
    return &j->q->cfg;
}

uint64_t query_job_samples_loaded(const struct query_job *j)
{
    return atomic_load(&j->samples_loaded);
}

/* ---- messages and the poll ---- */

bool query_on_message(struct query_shard *q, struct mesh_msg *m)
{
    if (m->type == QUERY_MSG_REQ) {
        struct query_req *r = (struct query_req *)m;
        if (m->flags & MESH_MSG_REPLY)
            query_home_final(q, r);
        else
            query_owner_request(q, r);
        return true;
    }
    if (m->type == QUERY_MSG_PIECE) {
        struct query_piece *p = (struct query_piece *)m;
        if (m->flags & MESH_MSG_RELEASE)
            query_owner_released(q, p);
        else
            query_home_piece(q, p);
        return true;
    }
    return false;
}

bool query_shard_poll(struct query_shard *q)
{
    struct query_home_work w;
    pthread_mutex_lock(&q->lock);
    q->woken = false;
    query_home_take_locked(q, &w);
    struct query_job *done = q->done;
    q->done = NULL;
    pthread_mutex_unlock(&q->lock);
    query_home_process(q, &w);
    finish_jobs(q, done);
    query_home_send_pending(q);
    return query_owner_step(q);
}

bool query_shard_idle(const struct query_shard *q)
{
    return q->njobs == 0 && q->nlive == 0 && q->ncursors == 0 && !q->send_head;
}

void query_shard_stats_get(struct query_shard *q, struct query_shard_stats *out)
{
    *out = q->stats;
    pthread_mutex_lock(&q->lock);
    out->jobs_queued = q->queued;
    out->jobs_running = q->running;
    pthread_mutex_unlock(&q->lock);
    out->cursors = q->ncursors;
}
