/* The metrics TSDB's side of the background jobs (engine/store/cycle.h runs them on the store's
 * job thread): the head-cut block is the snapshot's chunk series set written as it is, the
 * checkpoint keeps live series and their samples from the cut on, and the WAL and the head's
 * chunk files count toward the size retention. */
#include "base/error.h"
#include "engine/tsdb/tsdb_internal.h"

static int write_block(void *ctx, const char *blocks_dir, struct store_job *j)
{
    (void)ctx;
    struct chunk_series_set *set;
    int rc = tsdb_snap_set(j->snap, &set);
    if (rc)
        return rc;
    rc = block_write(blocks_dir, set, j->mint_ms, j->maxt_ms, &j->meta);
    chunk_series_set_close(set);
    return rc;
}

/* Log streams and entries: NULL functions keep them all (the WAL may be shared). */
static void checkpoint_keep(struct wal_keep *k)
{
    k->series = store_keep_id;
    k->sample = store_keep_ts_ms;
}

static const struct store_worker_ops worker_ops = {
    .quarantine_msg = "block corrupt, quarantining",
    .write_block = write_block,
    .checkpoint_keep = checkpoint_keep,
    .retention_counts_wal = true,
};

int tsdb_worker_start(struct tsdb_worker *w)
{
    w->run = (struct store_worker){&w->cd, w->wal_dir, w->blocks_dir, &worker_ops, w};
    return store_worker_start(&w->jt, &w->run);
}

void tsdb_worker_stop(struct tsdb_worker *w)
{
    store_worker_stop(&w->jt, &w->cd);
}
