/* Per-shard metrics TSDB: configuration, open (directories, blocks, head, WAL replay, WAL writer,
 * worker), close, and the statistics snapshot. */
#include "engine/tsdb/tsdb.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/assert.h"
#include "base/clock.h"
#include "base/error.h"
#include "base/log.h"
#include "engine/tsdb/tsdb_internal.h"

void tsdb_config_init(struct tsdb_config *c)
{
    memset(c, 0, sizeof *c);
    c->chunk_range_ms = 2LL * 3600 * 1000;
    c->ooo_window_ms = 10LL * 60 * 1000;
    c->retention_ms = COMPACT_RETENTION_DEFAULT_MS;
    c->retention_bytes = 0;
    c->max_block_range_ms = 0;
    struct head_config h;
    head_config_default(&h);
    c->samples_per_chunk = h.samples_per_chunk;
    c->chunk_bytes_max = h.chunk_bytes_max;
    c->chunk_file_size_max = h.chunk_file_size_max;
    c->ooo_cap = h.ooo_cap;
    wal_config_init(&c->wal);
    c->cut_series_per_tick = 4096;
    c->retention_interval_ms = 60 * 1000;
    c->retry_interval_ms = 60 * 1000;
    c->verify_blocks_on_open = false;
    c->exemplars_max = EXEMPLARS_DEFAULT_MAX;
}

static bool config_valid(const struct tsdb_config *c)
{
    return c->chunk_range_ms > 0 && c->ooo_window_ms >= 0 && c->cut_series_per_tick > 0 &&
           c->retention_interval_ms > 0 && c->retry_interval_ms >= 0 && c->max_block_range_ms >= 0;
}

static void head_cfg_of(const struct tsdb_config *c, struct head_config *h)
{
    head_config_default(h);
    h->chunk_range_ms = c->chunk_range_ms;
    h->ooo_window_ms = c->ooo_window_ms;
    h->samples_per_chunk = c->samples_per_chunk;
    h->chunk_bytes_max = c->chunk_bytes_max;
    h->chunk_file_size_max = c->chunk_file_size_max;
    h->ooo_cap = c->ooo_cap;
}

static int path_join(char *out, size_t n, const char *dir, const char *name)
{
    int k = snprintf(out, n, "%s/%s", dir, name);
    return k < 0 || (size_t)k >= n ? -ENAMETOOLONG : 0;
}

static int make_dir(const char *p)
{
    return mkdir(p, 0755) == 0 || errno == EEXIST ? 0 : -errno;
}

static int make_dirs(const char *dir)
{
    char p[4096];
    int rc = make_dir(dir);
    if (!rc)
        rc = path_join(p, sizeof p, dir, "wal");
    if (!rc)
        rc = make_dir(p);
    if (!rc)
        rc = path_join(p, sizeof p, dir, "blocks");
    if (!rc)
        rc = make_dir(p);
    return rc;
}

static int open_blocks(struct tsdb *t)
{
    struct tsdb_worker *w = &t->worker;
    char p[4096];
    int rc = path_join(p, sizeof p, t->dir, "blocks");
    if (!rc && (!(w->blocks_dir = strdup(p)) || path_join(p, sizeof p, t->dir, "wal") != 0 ||
                !(w->wal_dir = strdup(p))))
        rc = ERR_NOMEM;
    if (rc)
        return rc;
    struct compact_opts o = {
        .min_range_ms = t->cfg.chunk_range_ms,
        .max_range_ms = t->cfg.max_block_range_ms,
        .retention_ms = t->cfg.retention_ms,
        .retention_bytes = t->cfg.retention_bytes,
        .verify_on_open = t->cfg.verify_blocks_on_open,
    };
    if ((rc = compact_dir_open(&w->cd, w->blocks_dir, &o)) != 0)
        return rc;
    TSDB_STAT_SET(t, blocks_quarantined_total, (uint64_t)w->cd.n_quarantined);
    struct block **b;
    size_t n;
    if ((rc = tsdb_blocks_copy(&w->cd, &b, &n)) != 0)
        return rc;
    tsdb_blocks_swap(t, b, n);
    return 0;
}

/* The head's min valid time: the newest block's end (the head itself never goes below its last
 * truncation, which it persists, so retention deleting every block cannot move it back). */
static int64_t blocks_end(const struct tsdb *t)
{
    int64_t end = INT64_MIN;
    for (size_t i = 0; i < t->n_blocks; i++)
        if (block_meta(t->blocks[i])->max_time_ms > end)
            end = block_meta(t->blocks[i])->max_time_ms;
    return end;
}

static void tsdb_free(struct tsdb *t)
{
    if (t->worker.jt.started)
        tsdb_worker_stop(&t->worker);
    else if (t->worker.cd.dir)
        compact_dir_close(&t->worker.cd);
    wal_close(t->wal);
    head_close(t->head);
    tsdb_blocks_swap(t, NULL, 0);
    tsdb_snap_deinit(&t->cyc.snap);
    free(t->cyc.alive.words);
    while (t->free_commits) {
        struct tsdb_commit *c = t->free_commits;
        t->free_commits = c->next;
        free(c);
    }
    free(t->new_series);
    free(t->acc);
    free(t->hacc);
    free(t->eacc);
    exemplars_destroy(t->ex);
    free(t->worker.wal_dir);
    free(t->worker.blocks_dir);
    free(t->dir);
    free(t);
}

static int open_steps(struct tsdb *t)
{
    int64_t t0 = clock_mono_ns();
    int rc = make_dirs(t->dir);
    if (!rc)
        rc = open_blocks(t);
    if (rc)
        return rc;
    int64_t t1 = clock_mono_ns();
    log_info("tsdb blocks opened", LOG_STR("dir", t->dir), LOG_UINT("blocks", t->n_blocks),
             LOG_UINT("quarantined", t->worker.cd.n_quarantined),
             LOG_F64("duration_ms", (double)(t1 - t0) / 1e6));
    struct head_config hc;
    head_cfg_of(&t->cfg, &hc);
    if ((rc = head_open(t->dir, &hc, blocks_end(t), &t->head)) != 0 ||
        (rc = exemplars_create(t->cfg.exemplars_max, &t->ex)) != 0)
        return rc;
    int64_t t2 = clock_mono_ns();
    log_info("tsdb head opened", LOG_STR("dir", t->dir),
             LOG_F64("duration_ms", (double)(t2 - t1) / 1e6));
    if ((rc = tsdb_replay(t, t->worker.wal_dir)) != 0)
        return rc;
    if ((rc = wal_open(t->worker.wal_dir, &t->cfg.wal, t->loop, &t->wal)) != 0)
        return rc;
    struct wal_replay_result rr = {.records = t->st.replay_records,
                                   .duration_ns = t->st.replay_duration_ns};
    wal_stats_note_replay(t->wal, &rr);
    return tsdb_worker_start(&t->worker);
}

int tsdb_open(const char *dir, const struct tsdb_config *cfg, struct loop *loop, struct tsdb **out)
{
    int64_t t0 = clock_mono_ns();
    struct tsdb_config c;
    if (cfg)
        c = *cfg;
    else
        tsdb_config_init(&c);
    if (!config_valid(&c))
        return ERR_INVALID;
    struct tsdb *t = calloc(1, sizeof *t);
    if (!t)
        return ERR_NOMEM;
    t->cfg = c;
    t->loop = loop;
    tsdb_snap_init(&t->cyc.snap);
    t->st.blocks_min_time_ms = INT64_MAX;
    t->st.blocks_max_time_ms = INT64_MIN;
    int rc = (t->dir = strdup(dir)) ? open_steps(t) : ERR_NOMEM;
    if (rc) {
        log_error("tsdb open failed", LOG_STR("dir", dir), LOG_ERR(rc));
        tsdb_free(t);
        return rc;
    }
    tsdb_cycle_init(t);
    TSDB_STAT_SET(t, open_duration_ns, clock_mono_ns() - t0);
    log_info("tsdb opened", LOG_STR("dir", dir), LOG_UINT("blocks", t->n_blocks),
             LOG_UINT("series", head_series_count(t->head)),
             LOG_UINT("wal_segment", wal_segment_current(t->wal)),
             LOG_F64("duration_ms", (double)(clock_mono_ns() - t0) / 1e6));
    *out = t;
    return 0;
}

void tsdb_close(struct tsdb *t)
{
    if (!t)
        return;
    int64_t t0 = clock_mono_ns();
    t->closing = true;
    tsdb_cycle_deinit(t);
    tsdb_worker_stop(&t->worker);
    wal_close(t->wal);
    t->wal = NULL;
    head_close(t->head);
    t->head = NULL;
    log_info("tsdb closed", LOG_STR("dir", t->dir),
             LOG_F64("duration_ms", (double)(clock_mono_ns() - t0) / 1e6));
    tsdb_free(t);
}

void tsdb_flush(struct tsdb *t)
{
    wal_flush(t->wal);
}

bool tsdb_before_wait(struct loop *l, void *arg)
{
    (void)l;
    tsdb_flush(arg);
    return true;
}

struct wal *tsdb_wal(struct tsdb *t)
{
    return t->wal;
}

struct exemplars *tsdb_exemplars(struct tsdb *t)
{
    return t->ex;
}

struct head *tsdb_head(struct tsdb *t)
{
    return t->head;
}

void tsdb_stats_get(const struct tsdb *t, struct tsdb_stats *out)
{
    _Static_assert(sizeof(struct tsdb_stats) % sizeof(uint64_t) == 0, "64-bit fields only");
    const uint64_t *src = (const uint64_t *)&t->st;
    uint64_t *dst = (uint64_t *)out;
    for (size_t i = 0; i < sizeof *out / sizeof(uint64_t); i++)
        dst[i] = __atomic_load_n(&src[i], __ATOMIC_RELAXED);
    head_stats_read(t->head, &out->head);
    wal_stats_get(t->wal, &out->wal);
}
