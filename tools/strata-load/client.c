/* Keep-alive HTTP/1.1 connections on io_uring worker loops: scheduling, request building,
 * sending, response parsing, timeouts, retries and statistics (see run.h). */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/assert.h"
#include "base/clock.h"
#include "base/error.h"
#include "tools/strata-load/run.h"

#define TICK_NS          10000000LL /* timeouts, stop flag and backfill marks */
#define IN_CAP0          (16 * 1024)
#define RETRY_MIN_NS     30000000LL
#define RETRY_MAX_NS     5000000000LL
#define RECONNECT_MIN_NS 50000000LL
#define RECONNECT_MAX_NS 1000000000LL
#define BARRIER_WAIT_NS  1000000LL

enum { CS_CLOSED, CS_CONNECTING, CS_IDLE, CS_SENDING, CS_RECEIVING };
enum fail_kind { F_CONNECT, F_RESET, F_TIMEOUT, F_PROTOCOL };

#define CONN_OF(op, field) ((struct ld_conn *)((char *)(op)-offsetof(struct ld_conn, field)))

static void conn_pump(struct ld_conn *c);

static struct ld_stats *stats_lock(struct ld_conn *c)
{
    pthread_mutex_lock(&c->w->mu);
    return &c->w->stats[c->k->id];
}

static void stats_unlock(struct ld_conn *c)
{
    pthread_mutex_unlock(&c->w->mu);
}

static bool stopping(const struct ld_conn *c)
{
    return c->w->stopping;
}

static void close_fd(struct ld_conn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    c->state = CS_CLOSED;
    c->in_len = 0;
    c->reused = false;
}

static void arm(struct ld_conn *c, int64_t ns)
{
    loop_timer_arm(&c->w->loop, &c->timer, ns > 0 ? ns : 1);
}

/* Requests of this connection due by the stop time but never sent. */
static uint64_t behind(const struct ld_conn *c)
{
    if (c->k->clock != LD_OPEN || c->n_groups == 0)
        return 0;
    const struct ld_run *r = c->w->run;
    int64_t t = r->stop_mono_ns ? r->stop_mono_ns : clock_mono_ns();
    if (t > r->end_mono_ns)
        t = r->end_mono_ns;
    uint64_t due = ld_plan_due_count(&c->k->plan, c->index, t - r->mono0_ns - 1);
    if (c->k->quota) {
        uint64_t q = c->k->quota / c->k->n_conns + (c->index < c->k->quota % c->k->n_conns);
        if (due > q)
            due = q;
    }
    uint64_t sent = c->j - (c->have && c->attempts == 0); /* a prebuilt request was not sent */
    return due > sent ? due - sent : 0;
}

static void conn_finish(struct ld_conn *c)
{
    ASSERT(!c->busy && !c->timer.armed);
    close_fd(c);
    c->finished = true;
    c->next_off = INT64_MAX;
    struct ld_stats *s = stats_lock(c);
    if (c->have && c->attempts > 0) /* a retry was pending when the run stopped */
        s->failed++;
    s->behind += behind(c);
    stats_unlock(c);
    c->have = false;
    c->w->active--;
}

static uint64_t conn_quota(const struct ld_conn *c)
{
    const struct ld_kind *k = c->k;
    if (!k->quota)
        return UINT64_MAX;
    return k->quota / k->n_conns + (c->index < k->quota % k->n_conns);
}

/* ---- building the next request ---- */

/* Times of the request (see ld_kind_build) by the kind's clock. Returns the number of times, 0 when
 * the backfill is over. */
static uint32_t slot_times(struct ld_conn *c, uint32_t g, uint64_t seq, int64_t *t, int64_t *lo)
{
    const struct ld_kind *k = c->k;
    const struct ld_run *r = c->w->run;
    if (k->clock != LD_CLOSED) {
        uint32_t n = 0;
        for (; n < k->plan.ticks; n++) {
            t[n] = r->unix0_ns + ld_plan_offset(&k->plan, g, seq + n);
            if (k->clock == LD_BACKFILL && t[n] >= k->end_ns)
                break;
        }
        *lo = t[0] - k->plan.period_ns;
        return n;
    }
    int64_t *last = &c->last_ns[g / k->plan.n_conns], now = clock_real_ns();
    int64_t step = k->id == LD_K_METRICS ? 1000000 : k->id == LD_K_LOGS ? k->batch : 0;
    t[0] = now > *last + step ? now : *last + step;
    if (k->id == LD_K_METRICS)
        t[0] -= t[0] % 1000000;
    *lo = *last ? *last : t[0] - 1000000000;
    *last = t[0];
    return 1;
}

/* Builds the next request (ahead of its due time in open loop, so building is not counted as
 * latency). 1: built; 0: wait *wait_ns (backfill barrier); -1: nothing more to send. */
static int conn_build(struct ld_conn *c, int64_t *wait_ns)
{
    const struct ld_kind *k = c->k;
    struct ld_run *r = c->w->run;
    if (c->n_groups == 0 || c->j >= conn_quota(c))
        return -1;
    uint32_t g;
    uint64_t seq;
    int64_t off, now = clock_mono_ns(), due = now;
    ld_plan_slot(&k->plan, c->index, c->j, &g, &seq, &off);
    c->next_off = off;
    if (k->clock == LD_OPEN)
        due = r->mono0_ns + off;
    if (due >= r->end_mono_ns) { /* the run's duration is over */
        atomic_store_explicit(&r->hit_end, true, memory_order_relaxed);
        return -1;
    }
    if (k->clock == LD_BACKFILL && off > c->w->gmin[k->id] + k->skew_ns) {
        *wait_ns = BARRIER_WAIT_NS;
        return 0;
    }
    int64_t t[LD_M_TS_MAX], lo;
    uint32_t n_t = slot_times(c, g, seq, t, &lo);
    if (n_t == 0)
        return -1;
    if (ld_kind_build(k, &c->s, g, seq, t, n_t, lo, &c->out, &c->units, &c->raw_bytes))
        PANIC("out of memory building a request");
    c->j++;
    c->have = true;
    c->attempts = 0;
    c->resent = false;
    c->due_ns = due;
    return 1;
}

/* ---- I/O ---- */

static void conn_connect(struct ld_conn *c)
{
    const struct ld_kind *k = c->k;
    c->fd = socket(k->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        PANIC("socket: %s", strerror(errno));
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->state = CS_CONNECTING;
    c->busy = true;
    c->deadline_ns = clock_mono_ns() + (int64_t)k->timeout_ms * 1000000;
    struct io_uring_sqe *sqe = loop_sqe(&c->w->loop, &c->io);
    io_uring_prep_connect(sqe, c->fd, (const struct sockaddr *)&k->addr, k->addr_len);
    io_uring_sqe_set_data(sqe, &c->io);
}

static void conn_send_more(struct ld_conn *c)
{
    c->busy = true;
    loop_send(&c->w->loop, &c->io, c->fd, c->out.data + c->out_off, c->out.len - c->out_off);
}

static void conn_send(struct ld_conn *c)
{
    c->out_off = 0;
    c->state = CS_SENDING;
    c->sent_ns = clock_mono_ns();
    c->deadline_ns = c->sent_ns + (int64_t)c->k->timeout_ms * 1000000;
    ld_resp_init(&c->resp);
    struct ld_stats *s = stats_lock(c);
    s->bytes_sent += c->out.len;
    if (c->attempts++ == 0 && !c->resent) {
        s->units_sent += c->units;
        s->raw_bytes += c->raw_bytes;
    }
    stats_unlock(c);
    conn_send_more(c);
}

static void conn_recv_more(struct ld_conn *c)
{
    if (c->in_len == c->in_cap) {
        size_t cap = c->in_cap * 2;
        uint8_t *p = cap <= 2 * LD_RESP_HEAD_MAX ? realloc(c->in, cap) : NULL;
        if (!p)
            PANIC("response buffer: out of memory");
        c->in = p;
        c->in_cap = cap;
    }
    c->busy = true;
    loop_recv(&c->w->loop, &c->io, c->fd, c->in + c->in_len, c->in_cap - c->in_len);
}

static int64_t retry_backoff(const struct ld_conn *c)
{
    int64_t b = RETRY_MIN_NS << (c->attempts > 8 ? 8 : c->attempts - 1);
    if (b > RETRY_MAX_NS)
        b = RETRY_MAX_NS;
    int64_t ra = c->resp.retry_after_s > 0 ? c->resp.retry_after_s * 1000000000LL : 0;
    if (c->resp.retry_until_s > 0) {
        int64_t left = c->resp.retry_until_s * 1000000000LL - clock_real_ns();
        ra = left > ra ? left : ra;
    }
    return ra > b ? ra : b;
}

static bool may_retry(const struct ld_conn *c)
{
    const struct ld_opts *o = c->w->run->o;
    return o->retry && c->attempts <= o->retry_max && !stopping(c);
}

/* A kept-alive connection that the server closed while idle fails the next request before any
 * answer byte; like HTTP clients do, that request is sent again once on a new connection without
 * counting an error. */
static bool stale_keepalive(struct ld_conn *c, enum fail_kind f)
{
    if (f != F_RESET || !c->reused || c->resp.bytes > 0 || c->resp.state != LD_RS_HEAD ||
        c->in_len > 0 || !c->have || c->attempts != 1)
        return false;
    close_fd(c);
    c->reused = false;
    c->attempts = 0;
    c->resent = true; /* units are already counted as sent */
    return true;
}

static void conn_fail(struct ld_conn *c, enum fail_kind f)
{
    if (stale_keepalive(c, f))
        return conn_pump(c);
    close_fd(c);
    bool sent = c->have && c->attempts > 0;
    struct ld_stats *s = stats_lock(c);
    uint64_t *ctr[] = {&s->err_connect, &s->err_reset, &s->err_timeout, &s->err_protocol};
    (*ctr[f])++;
    int64_t delay = 0;
    if (sent && may_retry(c)) {
        s->retries++;
        delay = retry_backoff(c);
    } else if (sent) {
        s->failed++;
        c->have = false;
    }
    stats_unlock(c);
    if (f == F_CONNECT && sent && c->have)
        c->attempts++; /* a failed reconnect for a retry counts as an attempt */
    if (f == F_CONNECT) {
        c->reconnect_ns = c->reconnect_ns ? c->reconnect_ns * 2 : RECONNECT_MIN_NS;
        if (c->reconnect_ns > RECONNECT_MAX_NS)
            c->reconnect_ns = RECONNECT_MAX_NS;
        delay = delay > c->reconnect_ns ? delay : c->reconnect_ns;
    }
    if (delay && !stopping(c))
        arm(c, delay);
    else
        conn_pump(c);
}

static void error_sample(struct ld_stats *s, const struct ld_resp *r)
{
    s->last_error_status = r->status;
    size_t n =
        r->snippet_len < sizeof s->last_error - 1 ? r->snippet_len : sizeof s->last_error - 1;
    for (size_t i = 0; i < n; i++) /* printable ASCII only: it goes to a terminal */
        s->last_error[i] = r->snippet[i] >= 32 && r->snippet[i] < 127 ? r->snippet[i] : ' ';
    while (n > 0 && s->last_error[n - 1] == ' ')
        n--;
    s->last_error[n] = 0;
}

/* A whole response arrived. */
static void conn_complete(struct ld_conn *c, bool eof)
{
    int64_t now = clock_mono_ns();
    const struct ld_resp *r = &c->resp;
    int64_t delay = 0;
    struct ld_stats *s = stats_lock(c);
    s->requests++;
    s->status[r->status < LD_STATUS_MAX ? r->status : 0]++;
    s->bytes_recv += r->bytes;
    bool ok = r->status >= 200 && r->status < 300;
    bool retryable = r->status == 429 || r->status >= 500;
    if (!ok && retryable && may_retry(c)) {
        s->retries++;
        delay = retry_backoff(c);
    } else {
        ld_hist_record(&s->lat, (uint64_t)(now - c->due_ns));
        ld_hist_record(&s->svc, (uint64_t)(now - c->sent_ns));
        if (ok) {
            s->ok++;
            s->units_ok += c->units;
            s->v2_unconfirmed +=
                c->k->id == LD_K_METRICS && c->k->proto == LD_RW2 && r->samples_written < 0;
        } else {
            s->failed++;
            error_sample(s, r);
        }
        c->have = false;
    }
    stats_unlock(c);
    c->reconnect_ns = 0;
    if (eof || !r->keep_alive || c->in_len > 0)
        close_fd(c); /* bytes after the response: the framing is lost */
    else {
        c->state = CS_IDLE;
        c->reused = true;
    }
    if (delay && !stopping(c))
        arm(c, delay);
    else
        conn_pump(c);
}

static void on_recv(struct ld_conn *c, int res)
{
    if (res < 0)
        return conn_fail(c, F_RESET);
    if (res == 0) {
        if (ld_resp_eof(&c->resp) == 0)
            return conn_complete(c, true);
        return conn_fail(c, F_RESET);
    }
    c->in_len += (size_t)res;
    long used = ld_resp_feed(&c->resp, c->in, c->in_len);
    if (used < 0)
        return conn_fail(c, F_PROTOCOL);
    memmove(c->in, c->in + used, c->in_len - (size_t)used);
    c->in_len -= (size_t)used;
    if (c->resp.state == LD_RS_DONE)
        return conn_complete(c, false);
    conn_recv_more(c);
}

static void on_io(struct loop *l, struct loop_op *op, int res, uint32_t flags)
{
    struct ld_conn *c = CONN_OF(op, io);
    c->busy = false;
    if (c->timed_out) {
        c->timed_out = false;
        return conn_fail(c, F_TIMEOUT);
    }
    switch (c->state) {
    case CS_CONNECTING:
        if (res < 0)
            return conn_fail(c, F_CONNECT);
        c->state = CS_IDLE;
        return conn_pump(c);
    case CS_SENDING:
        if (res < 0)
            return conn_fail(c, F_RESET);
        c->out_off += (size_t)res;
        if (c->out_off < c->out.len)
            return conn_send_more(c);
        c->state = CS_RECEIVING;
        return conn_recv_more(c);
    case CS_RECEIVING: return on_recv(c, res);
    default: PANIC("BUG: I/O completion in connection state %d", c->state);
    }
}

static void on_timer(struct loop *l, struct loop_op *op, int res, uint32_t flags)
{
    conn_pump(CONN_OF(op, timer.op));
}

/* Drives a connection as far as it can go without waiting. */
static void conn_pump(struct ld_conn *c)
{
    if (c->busy || c->timer.armed || c->finished)
        return;
    if (stopping(c))
        return conn_finish(c); /* nothing in flight here: a pending retry is dropped */
    int64_t wait = 0;
    if (!c->have) {
        if (c->fd < 0 && c->n_groups > 0 && c->j < conn_quota(c))
            return conn_connect(c);
        int r = conn_build(c, &wait);
        if (r < 0)
            return conn_finish(c);
        if (r == 0)
            return arm(c, wait);
    }
    if (c->attempts == 0 && c->k->clock == LD_OPEN &&
        !ld_pacer_take(&c->pacer, clock_mono_ns(), c->due_ns, &wait))
        return arm(c, wait); /* built, not due yet (or held back while catching up) */
    if (c->fd < 0)
        return conn_connect(c);
    conn_send(c);
}

/* ---- workers ---- */

static void refresh_marks(struct ld_worker *w)
{
    struct ld_run *r = w->run;
    for (int k = 0; k < LD_K_COUNT; k++) {
        if (!r->kinds[k].enabled || r->kinds[k].clock != LD_BACKFILL)
            continue;
        int64_t m = INT64_MAX;
        for (uint32_t i = 0; i < w->n_conns; i++)
            if (w->conns[i]->k->id == (enum ld_kind_id)k && w->conns[i]->next_off < m)
                m = w->conns[i]->next_off;
        atomic_store_explicit(&w->vmin[k], m, memory_order_relaxed);
        int64_t g = INT64_MAX;
        for (uint32_t i = 0; i < r->n_workers; i++) {
            int64_t v = atomic_load_explicit(&r->workers[i].vmin[k], memory_order_relaxed);
            g = v < g ? v : g;
        }
        w->gmin[k] = g;
    }
}

static void on_tick(struct loop *l, struct loop_op *op, int res, uint32_t flags)
{
    struct ld_worker *w = (struct ld_worker *)((char *)op - offsetof(struct ld_worker, tick.op));
    int64_t now = clock_mono_ns();
    bool stop = atomic_load_explicit(&w->run->stop, memory_order_acquire);
    if (stop && !w->stopping) {
        w->stopping = true;
        for (uint32_t i = 0; i < w->n_conns; i++) {
            struct ld_conn *c = w->conns[i];
            loop_timer_cancel(l, &c->timer);
            conn_pump(c);
        }
    }
    for (uint32_t i = 0; i < w->n_conns; i++) {
        struct ld_conn *c = w->conns[i];
        if (c->busy && !c->timed_out && now > c->deadline_ns) {
            c->timed_out = true;
            loop_cancel(l, &c->io);
        }
    }
    refresh_marks(w);
    if (w->active > 0)
        loop_timer_arm(l, &w->tick, TICK_NS);
}

static void worker_run(struct ld_worker *w)
{
    w->active = w->n_conns;
    w->tick.fn = on_tick;
    for (uint32_t i = 0; i < w->n_conns; i++)
        w->conns[i]->timer.fn = on_timer;
    refresh_marks(w);
    loop_timer_arm(&w->loop, &w->tick, TICK_NS);
    for (uint32_t i = 0; i < w->n_conns; i++)
        conn_pump(w->conns[i]);
    while (w->active > 0 || w->tick.armed) {
        if (w->active == 0)
            loop_timer_cancel(&w->loop, &w->tick);
        int rc = loop_run_once(&w->loop, -1);
        if (rc < 0)
            PANIC("io_uring wait failed: %s", strerror(-rc));
    }
}

static void *worker_main(void *arg)
{
    struct ld_worker *w = arg;
    struct loop_config cfg = {.sq_entries = 256};
    w->init_err = loop_init(&w->loop, &cfg);
    if (w->init_err == 0) {
        worker_run(w);
        w->done_ns = clock_mono_ns();
        loop_deinit(&w->loop);
    }
    atomic_fetch_add(&w->run->workers_done, 1);
    return NULL;
}

/* ---- set-up ---- */

static int conn_init(struct ld_conn *c, struct ld_run *r, struct ld_kind *k, uint32_t index)
{
    memset(c, 0, sizeof *c);
    c->io.fn = on_io;
    c->k = k;
    c->index = index;
    c->fd = -1;
    c->n_groups = ld_plan_groups_of(&k->plan, index);
    c->next_off = c->n_groups ? ld_plan_offset(&k->plan, index, 0) : INT64_MAX;
    c->last_ns = calloc(c->n_groups ? c->n_groups : 1, sizeof *c->last_ns);
    c->in = malloc(IN_CAP0);
    c->in_cap = IN_CAP0;
    buf_init(&c->out);
    ld_scratch_init(&c->s);
    return c->last_ns && c->in ? 0 : ERR_NOMEM;
}

int ld_client_setup(struct ld_run *r)
{
    uint32_t total = 0;
    for (int i = 0; i < LD_K_COUNT; i++)
        total += r->kinds[i].enabled ? r->kinds[i].n_conns : 0;
    r->n_conns = total;
    r->n_workers = r->o->threads < total ? r->o->threads : total;
    r->conns = calloc(total, sizeof *r->conns);
    r->workers = calloc(r->n_workers, sizeof *r->workers);
    if (!r->conns || !r->workers)
        return ERR_NOMEM;
    for (uint32_t i = 0; i < r->n_workers; i++) {
        struct ld_worker *w = &r->workers[i];
        w->id = i;
        w->run = r;
        pthread_mutex_init(&w->mu, NULL);
        for (int k = 0; k < LD_K_COUNT; k++)
            ld_stats_reset(&w->stats[k]);
        w->conns = calloc(total / r->n_workers + 1, sizeof *w->conns);
        if (!w->conns)
            return ERR_NOMEM;
    }
    uint32_t n = 0;
    for (int k = 0; k < LD_K_COUNT; k++) {
        for (uint32_t c = 0; r->kinds[k].enabled && c < r->kinds[k].n_conns; c++, n++) {
            struct ld_worker *w = &r->workers[n % r->n_workers];
            if (conn_init(&r->conns[n], r, &r->kinds[k], c))
                return ERR_NOMEM;
            r->conns[n].w = w;
            w->conns[w->n_conns++] = &r->conns[n];
        }
    }
    return 0;
}

void ld_client_teardown(struct ld_run *r)
{
    for (uint32_t i = 0; r->conns && i < r->n_conns; i++) {
        struct ld_conn *c = &r->conns[i];
        free(c->last_ns);
        free(c->in);
        buf_deinit(&c->out);
        ld_scratch_deinit(&c->s);
    }
    for (uint32_t i = 0; r->workers && i < r->n_workers; i++) {
        free(r->workers[i].conns);
        pthread_mutex_destroy(&r->workers[i].mu);
    }
    free(r->conns);
    free(r->workers);
    r->conns = NULL;
    r->workers = NULL;
}

int ld_client_start(struct ld_run *r)
{
    for (uint32_t i = 0; i < r->n_conns; i++) {
        struct ld_conn *c = &r->conns[i];
        double per_conn =
            c->k->plan.n_groups ? (double)c->n_groups * 1e9 / (double)c->k->plan.period_ns : 0;
        ld_pacer_init(&c->pacer, c->k->clock == LD_OPEN ? per_conn : 0, r->o->catchup, r->o->burst,
                      r->mono0_ns);
    }
    for (uint32_t i = 0; i < r->n_workers; i++) {
        int rc = pthread_create(&r->workers[i].th, NULL, worker_main, &r->workers[i]);
        if (rc) {
            atomic_store(&r->stop, true);
            for (uint32_t k = 0; k < i; k++)
                pthread_join(r->workers[k].th, NULL);
            return -rc;
        }
    }
    return 0;
}

void ld_client_stop(struct ld_run *r)
{
    if (!r->stop_mono_ns)
        r->stop_mono_ns = clock_mono_ns();
    atomic_store_explicit(&r->stop, true, memory_order_release);
    for (uint32_t i = 0; i < r->n_workers; i++)
        pthread_join(r->workers[i].th, NULL);
}

void ld_client_stats(struct ld_run *r, struct ld_stats out[LD_K_COUNT])
{
    for (int k = 0; k < LD_K_COUNT; k++)
        ld_stats_reset(&out[k]);
    for (uint32_t i = 0; i < r->n_workers; i++) {
        struct ld_worker *w = &r->workers[i];
        pthread_mutex_lock(&w->mu);
        for (int k = 0; k < LD_K_COUNT; k++)
            ld_stats_merge(&out[k], &w->stats[k]);
        pthread_mutex_unlock(&w->mu);
    }
}
