/* Start-up WAL replay of the log store: streams the newest checkpoint and the segments after it
 * into the head (LOG_STREAMS recreate streams with their ids, LOG_ENTRIES go through the stream
 * append path without the ingest limits and windows), skipping what the blocks already hold, and
 * resumes after a damaged non-last segment, counting what was lost. Records are handled one at a
 * time: memory stays bounded by the head itself. */
#include <stdlib.h>

#include "base/clock.h"
#include "base/error.h"
#include "base/hash.h"
#include "base/log.h"
#include "engine/logs/logstore_internal.h"

enum { LABELS_START = 64, LABELS_MAX = 1u << 16, MD_START = 64, MD_MAX = 1u << 16 };

struct replay {
    struct logstore *ls;
    struct label *lbuf;
    size_t lcap;
    struct label *mbuf;
    size_t mcap;
    uint64_t records, streams, entries, skipped, conflicts, other, bad_payloads;
};

static int stream_item(struct replay *r, const struct walrec_series *s)
{
    uint64_t h = hash_labels(s->labels, s->n_labels);
    struct ls_stream *st = ls_stream_by_id(r->ls, s->id);
    if (st && st->hash == h)
        return 0; /* the same stream again (a record read twice after a label-buffer grow) */
    int rc = ls_stream_create(r->ls, s->labels, s->n_labels, h, s->id, &st);
    if (rc == ERR_NOMEM)
        return rc;
    if (rc == 0) {
        r->streams++;
    } else if (r->conflicts++ < 10) {
        /* ERR_DUPLICATE (id taken), ERR_RANGE: its entries are skipped as unknown */
        log_warn("logs wal replay: stream not recreated", LOG_UINT("id", s->id), LOG_ERR(rc));
    }
    return 0;
}

static int replay_streams(struct replay *r, const struct walrec *rec)
{
    for (;;) {
        struct walrec_series_iter it;
        walrec_series_iter_init(&it, rec->payload, rec->len, r->lbuf, r->lcap);
        int rc = 0;
        while (rc == 0 && walrec_series_iter_next(&it))
            rc = stream_item(r, walrec_series_iter_at(&it));
        if (rc)
            return rc;
        int err = walrec_series_iter_err(&it);
        if (err != ERR_LIMIT || r->lcap >= LABELS_MAX) {
            if (err)
                r->bad_payloads++;
            return 0;
        }
        struct label *p = realloc(r->lbuf, r->lcap * 4 * sizeof *p);
        if (!p)
            return ERR_NOMEM;
        r->lbuf = p;
        r->lcap *= 4;
    }
}

static int entry_item(struct replay *r, const struct walrec_entry *e)
{
    struct logstore *ls = r->ls;
    struct ls_stream *st = ls_stream_by_id(ls, e->id);
    if (!st || e->ts_ns < ls_ms_to_ns(ls->head.min_valid_ms)) {
        r->skipped++; /* a stream the checkpoint dropped, or data already in a block */
        return 0;
    }
    int rc = ls_stream_append(ls, st, e->ts_ns, e->line, e->meta, e->n_meta);
    if (rc < 0)
        return rc;
    r->entries++;
    return 0;
}

static int replay_entries(struct replay *r, const struct walrec *rec)
{
    uint64_t applied = 0; /* entries of this record already applied before a retry */
    for (;;) {
        struct walrec_entries_iter it;
        walrec_entries_iter_init(&it, rec->payload, rec->len, r->mbuf, r->mcap);
        uint64_t k = 0;
        int rc = 0;
        while (rc == 0 && walrec_entries_iter_next(&it))
            if (k++ >= applied) {
                rc = entry_item(r, walrec_entries_iter_at(&it));
                applied++;
            }
        if (rc)
            return rc;
        int err = walrec_entries_iter_err(&it);
        if (err != ERR_LIMIT || r->mcap >= MD_MAX) {
            if (err)
                r->bad_payloads++;
            return 0;
        }
        /* An entry with more metadata pairs than the buffer: grow and go on from it. */
        struct label *p = realloc(r->mbuf, r->mcap * 4 * sizeof *p);
        if (!p)
            return ERR_NOMEM;
        r->mbuf = p;
        r->mcap *= 4;
    }
}

static int on_record(void *arg, const struct walrec *rec, const struct wal_replay_at *at)
{
    (void)at;
    struct replay *r = arg;
    r->records++;
    switch (rec->type) {
    case WALREC_LOG_STREAMS: return replay_streams(r, rec);
    case WALREC_LOG_ENTRIES: return replay_entries(r, rec);
    default: r->other++; return 0; /* cut markers */
    }
}

static void note_corrupt(void *arg, const struct wal_replay_result *res)
{
    struct logstore *ls = arg;
    log_error("logs wal replay: damaged log file, skipping to the next segment",
              LOG_UINT("segment", res->stop_segment),
              LOG_STR("checkpoint", res->stop_in_checkpoint ? "true" : "false"),
              LOG_UINT("offset", res->stop_offset), LOG_UINT("lost_bytes", res->lost_bytes),
              LOG_ERR(res->stop_err));
    LS_STAT_ADD(ls, replay_corrupt_segments, 1);
    LS_STAT_ADD(ls, replay_lost_bytes, res->lost_bytes);
}

int ls_replay(struct logstore *ls, const char *wal_dir)
{
    int64_t t0 = clock_mono_ns();
    struct replay r = {.ls = ls, .lcap = LABELS_START, .mcap = MD_START};
    r.lbuf = malloc(r.lcap * sizeof *r.lbuf);
    r.mbuf = malloc(r.mcap * sizeof *r.mbuf);
    int rc = r.lbuf && r.mbuf ? wal_replay_resuming(wal_dir, on_record, &r, note_corrupt, ls)
                              : ERR_NOMEM;
    free(r.lbuf);
    free(r.mbuf);
    int64_t d = clock_mono_ns() - t0;
    LS_STAT_SET(ls, replay_records, r.records);
    LS_STAT_SET(ls, replay_streams, r.streams);
    LS_STAT_SET(ls, replay_entries, r.entries);
    LS_STAT_SET(ls, replay_entries_skipped, r.skipped);
    LS_STAT_SET(ls, replay_duration_ns, d);
    if (rc) {
        log_error("logs wal replay failed", LOG_STR("dir", wal_dir), LOG_ERR(rc));
        return rc;
    }
    log_info("logs wal replayed", LOG_STR("dir", wal_dir), LOG_UINT("records", r.records),
             LOG_UINT("streams", r.streams), LOG_UINT("entries", r.entries),
             LOG_UINT("entries_skipped", r.skipped), LOG_UINT("stream_conflicts", r.conflicts),
             LOG_UINT("bad_payloads", r.bad_payloads), LOG_UINT("other_records", r.other),
             LOG_F64("duration_ms", (double)d / 1e6));
    return 0;
}
