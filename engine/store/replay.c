/* The shared WAL replay driver and the series/streams item loop (replay.h). */
#include "engine/store/replay.h"

#include <stdio.h>
#include <stdlib.h>

#include "base/clock.h"
#include "base/error.h"
#include "base/log.h"
#include "engine/tsdb/wal.h"

enum { LABELS_START = 64, LABELS_MAX = 1u << 16 };

int store_replay_series(const struct walrec *rec, struct label **lbuf, size_t *lcap,
                        store_series_fn item, void *arg, uint64_t *bad_payloads)
{
    for (;;) {
        struct walrec_series_iter it;
        walrec_series_iter_init(&it, rec->payload, rec->len, *lbuf, *lcap);
        int rc = 0;
        while (rc == 0 && walrec_series_iter_next(&it))
            rc = item(arg, walrec_series_iter_at(&it));
        if (rc)
            return rc;
        int err = walrec_series_iter_err(&it);
        if (err != ERR_LIMIT || *lcap >= LABELS_MAX) {
            *bad_payloads += err != 0;
            return 0;
        }
        /* A label set larger than the buffer: grow and read the record again. */
        struct label *p = realloc(*lbuf, *lcap * 4 * sizeof *p);
        if (!p)
            return ERR_NOMEM;
        *lbuf = p;
        *lcap *= 4;
    }
}

struct run {
    struct store_replay *r;
    store_replay_fn fn;
    void *arg;
};

static int on_record(void *arg, const struct walrec *rec, const struct wal_replay_at *at)
{
    (void)at;
    struct run *x = arg;
    x->r->records++;
    int rc = x->fn(x->arg, x->r, rec);
    if (rc == STORE_REPLAY_OTHER) {
        x->r->other++;
        return 0;
    }
    return rc;
}

static void note_damaged(void *arg, const struct wal_replay_result *res)
{
    struct store_replay *r = arg;
    char m[96];
    snprintf(m, sizeof m, "%swal replay: damaged log file, skipping to the next segment",
             r->log_prefix);
    log_error(m, LOG_UINT("segment", res->stop_segment),
              LOG_STR("checkpoint", res->stop_in_checkpoint ? "true" : "false"),
              LOG_UINT("offset", res->stop_offset), LOG_UINT("lost_bytes", res->lost_bytes),
              LOG_ERR(res->stop_err));
    r->corrupt_segments++;
    r->lost_bytes += res->lost_bytes;
}

int store_replay_run(struct store_replay *r, const char *log_prefix, const char *wal_dir,
                     store_replay_fn fn, void *arg)
{
    int64_t t0 = clock_mono_ns();
    *r = (struct store_replay){.log_prefix = log_prefix, .lcap = LABELS_START};
    struct run x = {r, fn, arg};
    int rc = (r->lbuf = malloc(r->lcap * sizeof *r->lbuf)) != NULL
                 ? wal_replay_resuming(wal_dir, on_record, &x, note_damaged, r)
                 : ERR_NOMEM;
    free(r->lbuf);
    r->lbuf = NULL;
    r->lcap = 0;
    r->duration_ns = clock_mono_ns() - t0;
    if (rc) {
        char m[64];
        snprintf(m, sizeof m, "%swal replay failed", log_prefix);
        log_error(m, LOG_STR("dir", wal_dir), LOG_ERR(rc));
    }
    return rc;
}
