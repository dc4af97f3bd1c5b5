/* strata-load's run: option-driven set-up, the main thread's progress line and stop logic, the
 * final report, --dump and the sink mode (see run.h). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/error.h"
#include "tools/strata-load/run.h"

#define POLL_NS 10000000LL

static _Atomic bool g_interrupted;
static struct ld_sink *g_sink_running;

static void on_signal(int sig)
{
    (void)sig;
    atomic_store(&g_interrupted, true);
    if (g_sink_running)
        atomic_store(&g_sink_running->stop, true);
}

static void install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

static void sleep_ns(int64_t ns)
{
    struct timespec ts = {ns / 1000000000, ns % 1000000000};
    nanosleep(&ts, NULL);
}

/* ---- dump ---- */

struct dump_pos {
    struct ld_kind *k;
    uint32_t conn;
    uint64_t j, quota;
    bool done;
    int64_t off;
};

static void dump_peek(struct dump_pos *p, const struct ld_opts *o)
{
    const struct ld_kind *k = p->k;
    if (ld_plan_groups_of(&k->plan, p->conn) == 0 || p->j >= p->quota) {
        p->done = true;
        return;
    }
    uint32_t g;
    uint64_t seq;
    ld_plan_slot(&k->plan, p->conn, p->j, &g, &seq, &p->off);
    if (o->duration_ns > 0 && o->backfill_ns == 0 && p->off >= o->duration_ns)
        p->done = true;
    if (o->backfill_ns > 0 && p->off >= o->backfill_ns)
        p->done = true;
}

static int dump_one(struct dump_pos *p, struct ld_scratch *s, int64_t unix0, FILE *f,
                    struct buf *out)
{
    const struct ld_kind *k = p->k;
    uint32_t g;
    uint64_t seq;
    int64_t off, t[LD_M_TS_MAX];
    ld_plan_slot(&k->plan, p->conn, p->j, &g, &seq, &off);
    uint32_t n = 0;
    for (; n < k->plan.ticks; n++) {
        t[n] = unix0 + ld_plan_offset(&k->plan, g, seq + n);
        if (k->clock == LD_BACKFILL && t[n] >= k->end_ns)
            break;
    }
    uint32_t units;
    uint64_t raw;
    int rc = ld_kind_build(k, s, g, seq, t, n, t[0] - k->plan.period_ns, out, &units, &raw);
    if (!rc && fwrite(out->data, 1, out->len, f) != out->len)
        rc = -EIO;
    p->j++;
    return rc;
}

int ld_dump(struct ld_kind kinds[LD_K_COUNT], const struct ld_opts *o, int64_t unix0,
            const char *path)
{
    FILE *f = strcmp(path, "-") == 0 ? stdout : fopen(path, "wb");
    if (!f)
        return -errno;
    struct dump_pos pos[256];
    size_t np = 0;
    for (int i = 0; i < LD_K_COUNT; i++) {
        struct ld_kind *k = &kinds[i];
        for (uint32_t c = 0; k->enabled && c < k->n_conns && np < 256; c++) {
            uint64_t q =
                k->quota ? k->quota / k->n_conns + (c < k->quota % k->n_conns) : UINT64_MAX;
            pos[np++] = (struct dump_pos){k, c, 0, q, false, 0};
        }
    }
    struct ld_scratch s;
    ld_scratch_init(&s);
    struct buf out = BUF_INIT;
    int rc = 0;
    for (;;) {
        struct dump_pos *best = NULL;
        for (size_t i = 0; i < np; i++) {
            if (!pos[i].done)
                dump_peek(&pos[i], o);
            if (!pos[i].done && (!best || pos[i].off < best->off))
                best = &pos[i];
        }
        if (!best || (rc = dump_one(best, &s, unix0, f, &out)) != 0)
            break;
    }
    buf_deinit(&out);
    ld_scratch_deinit(&s);
    if (f == stdout)
        fflush(f);
    else if (fclose(f) && !rc)
        rc = -errno;
    return rc;
}

/* ---- sink ---- */

static int sink_main(const struct ld_opts *o)
{
    struct ld_sink s;
    int rc = ld_sink_open(&s, o->listen, o->sink_status, o->sink_fail_every);
    if (rc) {
        fprintf(stderr, "strata-load: cannot listen on %s: %s\n", o->listen, strerror(-rc));
        return 1;
    }
    s.close_every = o->sink_close_every;
    g_sink_running = &s;
    install_signals();
    fprintf(stderr, "strata-load sink: listening on port %d, answering %d\n", s.port, s.status);
    ld_sink_serve(&s);
    g_sink_running = NULL;
    close(s.fd);
    printf("sink: %llu requests, %llu bytes received\n",
           (unsigned long long)atomic_load(&s.requests), (unsigned long long)atomic_load(&s.bytes));
    return 0;
}

/* ---- the run ---- */

struct progress {
    bool on;
    int64_t last_ns;
    struct ld_stats prev[LD_K_COUNT], now[LD_K_COUNT], d[LD_K_COUNT];
    struct ld_report_kind kinds[LD_K_COUNT];
};

static void progress_tick(struct ld_run *r, struct progress *p, int64_t now)
{
    if (!p->on || now - p->last_ns < 1000000000)
        return;
    ld_client_stats(r, p->now);
    for (int k = 0; k < LD_K_COUNT; k++) {
        ld_stats_diff(&p->d[k], &p->now[k], &p->prev[k]);
        p->prev[k] = p->now[k];
    }
    char line[512];
    ld_report_progress(line, sizeof line, (double)(now - r->mono0_ns) / 1e9, p->kinds, p->d,
                       (double)(now - p->last_ns) / 1e9);
    fprintf(stderr, "\r%s\033[K", line);
    p->last_ns = now;
}

/* Waits for the duration, an interrupt, or every worker finishing; returns the end time. */
static int64_t wait_run(struct ld_run *r, struct progress *p)
{
    const struct ld_opts *o = r->o;
    int64_t end = o->duration_ns > 0 ? r->mono0_ns + o->duration_ns : INT64_MAX;
    for (;;) {
        int64_t now = clock_mono_ns();
        if (atomic_load(&r->workers_done) == r->n_workers) {
            int64_t last = r->mono0_ns;
            for (uint32_t i = 0; i < r->n_workers; i++)
                last = r->workers[i].done_ns > last ? r->workers[i].done_ns : last;
            return atomic_load(&r->hit_end) && end > last ? end : last;
        }
        if (now >= end)
            return end;
        if (atomic_load(&g_interrupted))
            return now;
        progress_tick(r, p, now);
        sleep_ns(end - now < POLL_NS ? end - now : POLL_NS);
    }
}

static void fill_report(struct ld_report *rep, struct ld_run *r, double elapsed)
{
    static const char *const units[] = {"samples", "lines", "queries"};
    const struct ld_opts *o = r->o;
    memset(rep, 0, sizeof *rep);
    rep->mode = o->mode_name;
    rep->target = o->target;
    rep->elapsed_s = elapsed;
    rep->seed = o->seed;
    rep->threads = r->n_workers;
    rep->connections = r->n_conns;
    for (int k = 0; k < LD_K_COUNT; k++) {
        rep->kind[k].enabled = r->kinds[k].enabled;
        rep->kind[k].unit = units[k];
        rep->kind[k].detail = r->kinds[k].detail;
        rep->kind[k].target_rate = r->kinds[k].clock == LD_OPEN ? r->kinds[k].rate : 0;
    }
}

static int write_json(const struct ld_report *rep, const char *path)
{
    struct buf b = BUF_INIT;
    int rc = ld_report_json(rep, &b);
    FILE *f = rc ? NULL : strcmp(path, "-") == 0 ? stdout : fopen(path, "w");
    if (!rc && !f)
        rc = -errno;
    if (f && fwrite(b.data, 1, b.len, f) != b.len)
        rc = -EIO;
    if (f == stdout)
        fflush(f);
    else if (f && fclose(f) && !rc)
        rc = -errno;
    buf_deinit(&b);
    return rc;
}

/* Runs the workers and reports. Returns the exit code. */
static int run_and_report(struct ld_run *r)
{
    const struct ld_opts *o = r->o;
    struct progress *p = calloc(1, sizeof *p);
    struct ld_report *rep = calloc(1, sizeof *rep);
    if (!p || !rep || ld_client_setup(r))
        return free(p), free(rep), fprintf(stderr, "strata-load: out of memory\n"), 1;
    fill_report(rep, r, 0);
    p->on = !o->quiet && isatty(2);
    memcpy(p->kinds, rep->kind, sizeof p->kinds);
    for (int k = 0; k < LD_K_COUNT; k++)
        ld_stats_reset(&p->prev[k]);
    install_signals();
    int64_t cpu0 = clock_process_cpu_ns();
    r->mono0_ns = p->last_ns = clock_mono_ns();
    r->end_mono_ns = o->duration_ns > 0 ? r->mono0_ns + o->duration_ns : INT64_MAX;
    int rc = ld_client_start(r);
    if (rc) {
        fprintf(stderr, "strata-load: cannot start threads: %s\n", strerror(-rc));
        ld_client_teardown(r);
        return free(p), free(rep), 1;
    }
    r->stop_mono_ns = wait_run(r, p);
    ld_client_stop(r);
    if (p->on)
        fprintf(stderr, "\r\033[K");
    int exit_code = 0;
    for (uint32_t i = 0; i < r->n_workers; i++) {
        if (r->workers[i].init_err) {
            fprintf(stderr, "strata-load: io_uring set-up failed: %s\n",
                    strerror(-r->workers[i].init_err));
            exit_code = 1;
        }
    }
    fill_report(rep, r, (double)(r->stop_mono_ns - r->mono0_ns) / 1e9);
    rep->cpu_s = (double)(clock_process_cpu_ns() - cpu0) / 1e9;
    struct ld_stats *all = calloc(LD_K_COUNT, sizeof *all);
    if (all) {
        ld_client_stats(r, all);
        uint64_t ok = 0, sent = 0;
        for (int k = 0; k < LD_K_COUNT; k++) {
            rep->kind[k].stats = all[k];
            ok += all[k].ok;
            sent += all[k].ok + all[k].failed;
        }
        if (!exit_code && sent > 0 && ok == 0)
            exit_code = 3;
        free(all);
    }
    ld_report_text(rep, stdout);
    fflush(stdout);
    if (o->json_path && write_json(rep, o->json_path)) {
        fprintf(stderr, "strata-load: cannot write %s\n", o->json_path);
        exit_code = exit_code ? exit_code : 1;
    }
    ld_client_teardown(r);
    free(p);
    free(rep);
    return exit_code;
}

int ld_main(const struct ld_opts *o)
{
    if (o->mode == LD_MODE_SINK)
        return sink_main(o);
    int64_t now = clock_real_ns();
    int64_t unix0 = o->start_ns > 0 ? o->start_ns : now + o->start_ns;
    struct ld_run *r = calloc(1, sizeof *r);
    if (!r)
        return 1;
    r->o = o;
    r->unix0_ns = unix0;
    char err[256];
    if (ld_kinds_init(r->kinds, o, unix0, err, sizeof err)) {
        fprintf(stderr, "strata-load: %s\n", err);
        free(r);
        return 2;
    }
    int rc;
    if (o->dump_path) {
        rc = ld_dump(r->kinds, o, unix0, o->dump_path);
        if (rc)
            fprintf(stderr, "strata-load: dump to %s failed: %s\n", o->dump_path, err_str(rc));
        rc = rc ? 1 : 0;
    } else {
        rc = run_and_report(r);
    }
    ld_kinds_deinit(r->kinds);
    free(r);
    return rc;
}
