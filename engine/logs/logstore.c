/* Per-shard log store: configuration, open (directories, blocks, head, WAL replay, WAL writer,
 * worker), close, the persisted min valid time and the statistics snapshot. */
#include "engine/logs/logstore.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/assert.h"
#include "base/clock.h"
#include "base/error.h"
#include "base/log.h"
#include "engine/logs/logstore_internal.h"

void logstore_config_init(struct logstore_config *c)
{
    memset(c, 0, sizeof *c);
    c->block_range_ms = 2LL * 3600 * 1000;
    c->ooo_window_ms = 3600LL * 1000;
    c->retention_ms = 30LL * 24 * 3600 * 1000;
    c->line_bytes_max = 256 * 1024;
    c->streams_per_tenant_max = 100000;
    c->reject_old_ms = 7LL * 24 * 3600 * 1000;
    c->creation_grace_ms = 10LL * 60 * 1000;
    c->chunk_target_bytes = 1536 * 1024;
    c->chunk_max_age_ms = 3600LL * 1000;
    c->chunk_idle_ms = 30LL * 60 * 1000;
    c->head_block_bytes = LOGCHUNK_BLOCK_TARGET_DEFAULT;
    c->block_chunk_bytes = 256 * 1024;
    c->block_zstd_level = 3;
    c->compact_zstd_level = 9;
    c->block_filter = true;
    wal_config_init(&c->wal);
    c->cut_streams_per_tick = 4096;
    c->select_open_chunks_max = 512;
    c->retention_interval_ms = 60 * 1000;
    c->retry_interval_ms = 60 * 1000;
}

static bool config_valid(const struct logstore_config *c)
{
    return c->block_range_ms > 0 && c->ooo_window_ms >= 0 && c->chunk_target_bytes > 0 &&
           c->head_block_bytes > 0 && c->block_chunk_bytes > 0 && c->cut_streams_per_tick > 0 &&
           c->select_open_chunks_max > 0 && c->retention_interval_ms > 0 &&
           c->retry_interval_ms >= 0 && c->max_block_range_ms >= 0 && c->block_zstd_level >= 0 &&
           c->block_zstd_level <= 19 && c->compact_zstd_level >= 0 && c->compact_zstd_level <= 19 &&
           (c->n_retention_rules == 0 || c->retention_rules) &&
           (c->n_tenant_limits == 0 || c->tenant_limits);
}

/* ---- the persisted min valid time: <dir>/head_min_valid_time ---- */

#define STATE_PREFIX "strata-logs-min-valid-time-ms "

static int fsync_dir_of(const char *path)
{
    char dir[4096];
    const char *slash = strrchr(path, '/');
    size_t n = slash ? (size_t)(slash - path) : 1;
    if (n >= sizeof dir)
        return -ENAMETOOLONG;
    memcpy(dir, slash ? path : ".", n);
    dir[n] = '\0';
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    if (fsync(fd) != 0)
        PANIC("fsync of %s failed: %s", dir, strerror(errno));
    close(fd);
    return 0;
}

int ls_state_write(const char *path, int64_t ms)
{
    char tmp[4096], line[64];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
        return -ENAMETOOLONG;
    int len = snprintf(line, sizeof line, STATE_PREFIX "%" PRId64 "\n", ms);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    int rc = write(fd, line, (size_t)len) == len ? 0 : (errno ? -errno : -EIO);
    if (rc == 0 && fdatasync(fd) != 0)
        PANIC("fdatasync of %s failed: %s", tmp, strerror(errno));
    close(fd);
    if (rc == 0 && rename(tmp, path) != 0)
        rc = -errno;
    if (rc) {
        unlink(tmp);
        return rc;
    }
    return fsync_dir_of(path);
}

int ls_state_read(const char *path, int64_t *ms)
{
    *ms = INT64_MIN;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 0 : -errno;
    char line[80];
    ssize_t n = read(fd, line, sizeof line - 1);
    int err = errno;
    close(fd);
    if (n < 0)
        return -err;
    line[n] = '\0';
    size_t plen = strlen(STATE_PREFIX);
    char *end = NULL;
    errno = 0;
    long long v = 0;
    if ((size_t)n > plen && memcmp(line, STATE_PREFIX, plen) == 0)
        v = strtoll(line + plen, &end, 10);
    if (!end || end == line + plen || *end != '\n' || errno != 0) {
        log_warn("ignoring a damaged logs state file", LOG_STR("path", path));
        return ERR_CORRUPT;
    }
    *ms = v;
    return 0;
}

/* ---- open / close ---- */

static int path_join(char *out, size_t n, const char *dir, const char *name)
{
    int k = snprintf(out, n, "%s/%s", dir, name);
    return k < 0 || (size_t)k >= n ? -ENAMETOOLONG : 0;
}

static int make_dir(const char *p)
{
    return mkdir(p, 0755) == 0 || errno == EEXIST ? 0 : -errno;
}

static int make_paths(struct logstore *ls)
{
    struct ls_worker *w = &ls->worker;
    char p[4096];
    int rc = make_dir(ls->dir);
    if (!rc && !(rc = path_join(p, sizeof p, ls->dir, "wal")) && !(rc = make_dir(p)) &&
        !(w->wal_dir = strdup(p)))
        rc = ERR_NOMEM;
    if (!rc && !(rc = path_join(p, sizeof p, ls->dir, "blocks")) && !(rc = make_dir(p)) &&
        !(w->blocks_dir = strdup(p)))
        rc = ERR_NOMEM;
    if (!rc && !(rc = path_join(p, sizeof p, ls->dir, "head_min_valid_time")) &&
        !(w->state_path = strdup(p)))
        rc = ERR_NOMEM;
    return rc;
}

static int open_blocks(struct logstore *ls)
{
    struct ls_worker *w = &ls->worker;
    int64_t longest = ls->cfg.retention_ms;
    for (size_t i = 0; i < ls->cfg.n_retention_rules && longest >= 0; i++)
        if (ls->cfg.retention_rules[i].period_ms > longest)
            longest = ls->cfg.retention_rules[i].period_ms;
    /* Whole blocks go when past every stream's retention; streams with a shorter one are
     * dropped by rewrites (logstore_worker.c). */
    struct compact_opts o = {
        .min_range_ms = ls->cfg.block_range_ms,
        .max_range_ms = ls->cfg.max_block_range_ms,
        .retention_ms = longest <= 0 ? -1 : longest,
        .retention_bytes = 0,
        .verify_on_open = ls->cfg.verify_blocks_on_open,
    };
    int rc = compact_dir_open(&w->cd, w->blocks_dir, &o);
    if (rc)
        return rc;
    ls_blocks_drop_rewritten(&w->cd);
    LS_STAT_SET(ls, blocks_quarantined_total, (uint64_t)w->cd.n_quarantined);
    struct block **b;
    size_t n;
    if ((rc = ls_blocks_copy(&w->cd, &b, &n)) != 0)
        return rc;
    ls_blocks_swap(ls, b, n);
    return 0;
}

/* The newest block's end or the persisted last cut, whichever is later. */
static int min_valid_time(struct logstore *ls, int64_t *out)
{
    int64_t end = INT64_MIN;
    for (size_t i = 0; i < ls->n_blocks; i++)
        if (block_meta(ls->blocks[i])->max_time_ms > end)
            end = block_meta(ls->blocks[i])->max_time_ms;
    int64_t cut;
    int rc = ls_state_read(ls->worker.state_path, &cut);
    if (rc && rc != ERR_CORRUPT)
        return rc;
    *out = cut > end ? cut : end;
    return 0;
}

static void ls_free(struct logstore *ls)
{
    if (ls->worker.jt.started)
        ls_worker_stop(&ls->worker);
    else if (ls->worker.cd.dir)
        compact_dir_close(&ls->worker.cd);
    wal_close(ls->wal);
    ls_head_deinit(ls);
    ls_blocks_swap(ls, NULL, 0);
    ls_snap_clear(&ls->cyc.snap);
    free(ls->cyc.alive.words);
    while (ls->free_commits) {
        struct ls_commit *c = ls->free_commits;
        ls->free_commits = c->next;
        free(c);
    }
    free(ls->new_streams);
    free(ls->acc);
    free(ls->worker.wal_dir);
    free(ls->worker.blocks_dir);
    free(ls->worker.state_path);
    free(ls->worker.exp);
    free(ls->dir);
    free(ls);
}

static int open_steps(struct logstore *ls)
{
    int64_t t0 = clock_mono_ns();
    int rc = make_paths(ls);
    if (!rc)
        rc = open_blocks(ls);
    if (!rc)
        rc = ls_head_init(ls);
    int64_t mvt;
    if (!rc)
        rc = min_valid_time(ls, &mvt);
    if (rc)
        return rc;
    ls->head.min_valid_ms = mvt;
    ls->head.visible_ms = mvt;
    log_info("logs blocks opened", LOG_STR("dir", ls->dir), LOG_UINT("blocks", ls->n_blocks),
             LOG_UINT("quarantined", ls->worker.cd.n_quarantined),
             LOG_F64("duration_ms", (double)(clock_mono_ns() - t0) / 1e6));
    if ((rc = ls_replay(ls, ls->worker.wal_dir)) != 0)
        return rc;
    if ((rc = wal_open(ls->worker.wal_dir, &ls->cfg.wal, ls->loop, &ls->wal)) != 0)
        return rc;
    struct wal_replay_result rr = {.records = ls->st.replay_records,
                                   .duration_ns = ls->st.replay_duration_ns};
    wal_stats_note_replay(ls->wal, &rr);
    ls->worker.cfg = &ls->cfg;
    return ls_worker_start(&ls->worker);
}

int logstore_open(const char *dir, const struct logstore_config *cfg, struct loop *loop,
                  struct logstore **out)
{
    int64_t t0 = clock_mono_ns();
    struct logstore_config c;
    if (cfg)
        c = *cfg;
    else
        logstore_config_init(&c);
    if (!config_valid(&c))
        return ERR_INVALID;
    struct logstore *ls = calloc(1, sizeof *ls);
    if (!ls)
        return ERR_NOMEM;
    ls->cfg = c;
    ls->loop = loop;
    ls->tick_ms = INT64_MIN;
    ls->st.blocks_min_time_ms = INT64_MAX;
    ls->st.blocks_max_time_ms = INT64_MIN;
    int rc = (ls->dir = strdup(dir)) ? open_steps(ls) : ERR_NOMEM;
    if (rc) {
        log_error("logs open failed", LOG_STR("dir", dir), LOG_ERR(rc));
        ls_free(ls);
        return rc;
    }
    ls_cycle_init(ls);
    ls_head_publish(ls);
    LS_STAT_SET(ls, open_duration_ns, clock_mono_ns() - t0);
    log_info("logs opened", LOG_STR("dir", dir), LOG_UINT("blocks", ls->n_blocks),
             LOG_UINT("streams", ls->head.n_streams),
             LOG_UINT("wal_segment", wal_segment_current(ls->wal)),
             LOG_F64("duration_ms", (double)(clock_mono_ns() - t0) / 1e6));
    *out = ls;
    return 0;
}

void logstore_close(struct logstore *ls)
{
    if (!ls)
        return;
    ASSERT(ls->open_iters == 0);
    int64_t t0 = clock_mono_ns();
    ls->closing = true;
    ls_cycle_deinit(ls);
    ls_worker_stop(&ls->worker);
    wal_close(ls->wal);
    ls->wal = NULL;
    log_info("logs closed", LOG_STR("dir", ls->dir),
             LOG_F64("duration_ms", (double)(clock_mono_ns() - t0) / 1e6));
    ls_free(ls);
}

void logstore_flush(struct logstore *ls)
{
    wal_flush(ls->wal);
}

bool logstore_before_wait(struct loop *l, void *arg)
{
    (void)l;
    logstore_flush(arg);
    return true;
}

/* ---- stats ---- */

void ls_head_publish(struct logstore *ls)
{
    const struct ls_head *h = &ls->head;
    LS_STAT_SET(ls, streams, (uint64_t)h->n_streams);
    LS_STAT_SET(ls, head_entries, h->entries);
    LS_STAT_SET(ls, head_line_bytes, h->line_bytes);
    LS_STAT_SET(ls, head_chunk_bytes, h->chunk_bytes);
    LS_STAT_SET(ls, head_chunks, h->n_chunks);
    LS_STAT_SET(ls, head_writers, h->writers);
    LS_STAT_SET(ls, head_min_time_ns, h->min_ns);
    LS_STAT_SET(ls, head_max_time_ns, h->max_ns);
    LS_STAT_SET(ls, head_min_valid_ms, h->min_valid_ms);
}

void logstore_stats_get(const struct logstore *ls, struct logstore_stats *out)
{
    _Static_assert(sizeof(struct logstore_stats) % sizeof(uint64_t) == 0, "64-bit fields only");
    const uint64_t *src = (const uint64_t *)&ls->st;
    uint64_t *dst = (uint64_t *)out;
    for (size_t i = 0; i < sizeof *out / sizeof(uint64_t); i++)
        dst[i] = __atomic_load_n(&src[i], __ATOMIC_RELAXED);
    wal_stats_get(ls->wal, &out->wal);
}
