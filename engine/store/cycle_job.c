/* The store jobs on the job thread (cycle.h): write the cut's block, checkpoint the WAL behind
 * the cut, and quarantine + compact + apply retention, each handing the new block list back to
 * the shard thread; plus the block list helpers both threads use. */
#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/assert.h"
#include "base/clock.h"
#include "base/error.h"
#include "engine/store/cycle.h"
#include "formats/walrec.h"

/* ---- the checkpoint filter ---- */

bool store_keep_id(void *alive, uint32_t id)
{
    const struct store_alive *a = alive;
    return id < a->n_bits && (a->words[id / 64] >> (id % 64)) & 1;
}

bool store_keep_ts_ms(void *alive, uint32_t id, int64_t ts_ms)
{
    const struct store_alive *a = alive;
    return ts_ms >= a->cut_ms && store_keep_id(alive, id);
}

bool store_keep_ts_ns(void *alive, uint32_t id, int64_t ts_ns)
{
    const struct store_alive *a = alive;
    int64_t cut_ns = a->cut_ms >= INT64_MAX / 1000000   ? INT64_MAX
                     : a->cut_ms <= INT64_MIN / 1000000 ? INT64_MIN
                                                        : a->cut_ms * 1000000;
    return ts_ns >= cut_ns && store_keep_id(alive, id);
}

/* Other record types are kept whole (one WAL may carry both stores' records), except the cut
 * markers, which only served to start a segment. */
static bool keep_record(void *arg, const struct walrec *rec)
{
    (void)arg;
    return rec->type != WALREC_CHECKPOINT;
}

/* ---- block lists ---- */

void store_job_reset(struct store_job *j)
{
    blockindex_meta_deinit(&j->meta);
    if (j->blocks) {
        for (size_t i = 0; i < j->n_blocks; i++)
            block_unref(j->blocks[i]);
        free(j->blocks);
    }
    memset(j, 0, sizeof *j);
    blockindex_meta_init(&j->meta);
}

int store_blocks_copy(const struct compact_dir *cd, struct block ***out, size_t *n)
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

void store_blocks_replace(struct block ***cur, size_t *n_cur, struct block **blocks, size_t n,
                          struct store_blocks_sum *sum)
{
    for (size_t i = 0; i < *n_cur; i++)
        block_unref((*cur)[i]);
    free(*cur);
    *cur = blocks;
    *n_cur = n;
    *sum = (struct store_blocks_sum){0, 0, INT64_MAX, INT64_MIN};
    for (size_t i = 0; i < n; i++) {
        const struct blockindex_meta *m = block_meta(blocks[i]);
        sum->bytes += block_size_bytes(blocks[i]);
        sum->samples += m->num_samples;
        sum->min_time_ms = m->min_time_ms < sum->min_time_ms ? m->min_time_ms : sum->min_time_ms;
        sum->max_time_ms = m->max_time_ms > sum->max_time_ms ? m->max_time_ms : sum->max_time_ms;
    }
}

/* ---- jobs ---- */

static int write_block(struct store_worker *w, struct store_job *j)
{
    j->meta.level = 1;
    int rc = w->ops->write_block(w->ctx, w->blocks_dir, j);
    if (rc)
        return rc;
    char name[BLOCKINDEX_ULID_CHARS + 1];
    blockindex_ulid_format(&j->meta.ulid, name);
    if ((rc = compact_dir_add(w->cd, name)) != 0)
        return rc;
    j->blocks_changed = true;
    return 0;
}

static int checkpoint(struct store_worker *w, struct store_job *j)
{
    struct wal_keep keep = {.arg = (void *)j->alive, .record = keep_record};
    w->ops->checkpoint_keep(&keep);
    int rc = w->ops->checkpoint_before ? w->ops->checkpoint_before(w->ctx, j) : 0;
    if (rc)
        return rc;
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

/* Quarantines the blocks that recorded a fault (a query hit bad bytes; readers holding a
 * reference keep their mapped files), compacts, applies retention. */
static int compact(struct store_worker *w, struct store_job *j)
{
    size_t before_q = w->cd->n_quarantined;
    int rc = 0;
    if (j->quarantine)
        compact_dir_quarantine_faulted(w->cd, w->ops->quarantine_msg);
    if (j->compact)
        rc = compact_dir_compact(w->cd);
    uint64_t other = j->other_bytes;
    if (w->ops->retention_counts_wal)
        other += dir_bytes(w->wal_dir, 1);
    int rr = compact_dir_retention(w->cd, j->now_ms, other, &j->retention_deleted);
    int rs = w->ops->retention ? w->ops->retention(w->ctx, w->cd, j) : 0;
    j->quarantined = w->cd->n_quarantined - before_q;
    j->blocks_changed = true;
    return rc ? rc : rr ? rr : rs;
}

void store_worker_run(void *ctx, void *job)
{
    struct store_worker *w = ctx;
    struct store_job *j = job;
    int64_t t0 = clock_mono_ns();
    switch (j->kind) {
    case STORE_JOB_WRITE_BLOCK: j->rc = write_block(w, j); break;
    case STORE_JOB_CHECKPOINT: j->rc = checkpoint(w, j); break;
    case STORE_JOB_COMPACT: j->rc = compact(w, j); break;
    default: PANIC("BUG: unknown store job %d", (int)j->kind);
    }
    if (j->blocks_changed && store_blocks_copy(w->cd, &j->blocks, &j->n_blocks) != 0) {
        j->blocks_changed = false;
        if (j->rc == 0)
            j->rc = ERR_NOMEM;
    }
    j->duration_ns = clock_mono_ns() - t0;
}

int store_worker_start(struct jobthread *t, struct store_worker *w)
{
    return jobthread_start(t, store_worker_run, w);
}

void store_worker_stop(struct jobthread *t, struct compact_dir *cd)
{
    if (!t->started)
        return;
    jobthread_stop(t);
    compact_dir_close(cd);
}
