/* The metrics TSDB's background thread: runs one job at a time (write a head-cut block, write a
 * WAL checkpoint, compact + apply retention) with blocking file I/O, owning the blocks directory
 * (struct compact_dir). Jobs come in and go back through a mutex-protected slot; the shard thread
 * posts and polls (tsdb_cycle.c). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/assert.h"
#include "base/clock.h"
#include "base/error.h"
#include "base/log.h"
#include "engine/tsdb/tsdb_internal.h"

int tsdb_blocks_copy(const struct compact_dir *cd, struct block ***out, size_t *n)
{
    size_t k;
    struct block *const *src = compact_dir_blocks(cd, &k);
    struct block **b = malloc((k ? k : 1) * sizeof *b);
    if (!b)
        return ERR_NOMEM;
    for (size_t i = 0; i < k; i++) {
        block_ref(src[i]);
        b[i] = src[i];
    }
    *out = b;
    *n = k;
    return 0;
}

/* ---- jobs ---- */

static int write_block(struct tsdb_worker *w, struct tsdb_job *j)
{
    struct chunk_series_set *set;
    int rc = tsdb_snap_set(j->snap, &set);
    if (rc)
        return rc;
    j->meta.level = 1;
    rc = block_write(w->blocks_dir, set, j->mint_ms, j->maxt_ms, &j->meta);
    chunk_series_set_close(set);
    if (rc)
        return rc;
    char name[BLOCKINDEX_ULID_CHARS + 1];
    blockindex_ulid_format(&j->meta.ulid, name);
    if ((rc = compact_dir_add(&w->cd, name)) != 0)
        return rc;
    j->blocks_changed = true;
    return 0;
}

static bool keep_series(void *arg, uint32_t id)
{
    const struct tsdb_alive *a = arg;
    return id < a->n_bits && (a->words[id / 64] >> (id % 64)) & 1;
}

static bool keep_sample(void *arg, uint32_t id, int64_t ts_ms)
{
    const struct tsdb_alive *a = arg;
    return ts_ms >= a->cut_ms && keep_series(arg, id);
}

/* Other record types are kept whole (the log may be shared with the logs half of the shard),
 * except the cut markers tsdb_cycle.c writes, which only served to start a segment. */
static bool keep_record(void *arg, const struct walrec *rec)
{
    (void)arg;
    return rec->type != WALREC_CHECKPOINT;
}

static int checkpoint(struct tsdb_worker *w, struct tsdb_job *j)
{
    /* Log streams and entries: NULL functions keep them all. */
    struct wal_keep keep = {.arg = (void *)j->alive,
                            .series = keep_series,
                            .sample = keep_sample,
                            .record = keep_record};
    return wal_checkpoint_dir(w->wal_dir, j->upto_segment, &keep, &j->ck);
}

/* Bytes of the regular files in dir and its direct subdirectories (the WAL's checkpoints). */
static uint64_t dir_bytes(const char *dir, int depth)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    uint64_t sum = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        struct stat st;
        if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
            continue;
        if (S_ISREG(st.st_mode)) {
            sum += (uint64_t)st.st_size;
        } else if (S_ISDIR(st.st_mode) && depth > 0) {
            char p[4096];
            size_t n = strlen(dir);
            if (n + strlen(e->d_name) + 2 <= sizeof p) {
                memcpy(p, dir, n);
                p[n] = '/';
                strcpy(p + n + 1, e->d_name);
                sum += dir_bytes(p, depth - 1);
            }
        }
    }
    closedir(d);
    return sum;
}

/* Moves the blocks that recorded a fault (a query hit bad bytes) out of the directory list and
 * into quarantine. Readers holding a reference keep their mapped files. */
static int compact(struct tsdb_worker *w, struct tsdb_job *j)
{
    size_t before_q = w->cd.n_quarantined;
    int rc = 0;
    if (j->quarantine)
        compact_dir_quarantine_faulted(&w->cd, "block corrupt, quarantining");
    if (j->compact)
        rc = compact_dir_compact(&w->cd);
    uint64_t other = j->other_bytes + dir_bytes(w->wal_dir, 1);
    int rr = compact_dir_retention(&w->cd, j->now_ms, other, &j->retention_deleted);
    j->quarantined = w->cd.n_quarantined - before_q;
    j->blocks_changed = true;
    return rc ? rc : rr;
}

static void run(struct tsdb_worker *w, struct tsdb_job *j)
{
    int64_t t0 = clock_mono_ns();
    switch (j->kind) {
    case TSDB_JOB_WRITE_BLOCK: j->rc = write_block(w, j); break;
    case TSDB_JOB_CHECKPOINT: j->rc = checkpoint(w, j); break;
    case TSDB_JOB_COMPACT: j->rc = compact(w, j); break;
    default: PANIC("BUG: unknown tsdb job %d", (int)j->kind);
    }
    if (j->blocks_changed && tsdb_blocks_copy(&w->cd, &j->blocks, &j->n_blocks) != 0) {
        j->blocks_changed = false;
        if (j->rc == 0)
            j->rc = ERR_NOMEM;
    }
    j->duration_ns = clock_mono_ns() - t0;
}

static void run_job(void *ctx, void *job)
{
    run(ctx, job);
}

int tsdb_worker_start(struct tsdb_worker *w)
{
    return jobthread_start(&w->jt, run_job, w);
}

void tsdb_worker_stop(struct tsdb_worker *w)
{
    if (!w->jt.started)
        return;
    jobthread_stop(&w->jt);
    compact_dir_close(&w->cd);
}

void tsdb_worker_post(struct tsdb_worker *w, struct tsdb_job *job)
{
    jobthread_post(&w->jt, job);
}

struct tsdb_job *tsdb_worker_poll(struct tsdb_worker *w)
{
    return jobthread_poll(&w->jt);
}

struct tsdb_job *tsdb_worker_wait(struct tsdb_worker *w)
{
    return jobthread_wait(&w->jt);
}
