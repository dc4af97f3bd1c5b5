/* Start-up WAL replay of the log store: streams the newest checkpoint and the segments after it
 * into the head (LOG_STREAMS recreate streams with their ids, LOG_ENTRIES go through the stream
 * append path without the ingest limits and windows), skipping what the blocks already hold, and
 * resumes after a damaged non-last segment, counting what was lost (engine/store/replay.h drives
 * it). Records are handled one at a time: memory stays bounded by the head itself. */
#include <stdlib.h>

#include "base/error.h"
#include "base/hash.h"
#include "base/log.h"
#include "engine/logs/logstore_internal.h"
#include "engine/store/replay.h"

enum { MD_START = 64, MD_MAX = 1u << 16 };

struct replay {
    struct logstore *ls;
    struct store_replay *d; /* the driver's state: label buffer, record counts */
    struct label *mbuf;     /* structured metadata of an entry */
    size_t mcap;
    uint64_t streams, entries, skipped, conflicts;
};

static int stream_item(void *arg, const struct walrec_series *s)
{
    struct replay *r = arg;
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
    return store_replay_series(rec, &r->d->lbuf, &r->d->lcap, stream_item, r, &r->d->bad_payloads);
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
                r->d->bad_payloads++;
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

static int on_record(void *arg, struct store_replay *d, const struct walrec *rec)
{
    struct replay *r = arg;
    r->d = d;
    switch (rec->type) {
    case WALREC_LOG_STREAMS: return replay_streams(r, rec);
    case WALREC_LOG_ENTRIES: return replay_entries(r, rec);
    default: return STORE_REPLAY_OTHER; /* cut markers, metrics records */
    }
}

int ls_replay(struct logstore *ls, const char *wal_dir)
{
    struct replay r = {.ls = ls, .mcap = MD_START};
    struct store_replay d = {0};
    int rc = (r.mbuf = malloc(r.mcap * sizeof *r.mbuf)) != NULL
                 ? store_replay_run(&d, "logs ", wal_dir, on_record, &r)
                 : ERR_NOMEM;
    free(r.mbuf);
    LS_STAT_SET(ls, replay_records, d.records);
    LS_STAT_SET(ls, replay_streams, r.streams);
    LS_STAT_SET(ls, replay_entries, r.entries);
    LS_STAT_SET(ls, replay_entries_skipped, r.skipped);
    LS_STAT_SET(ls, replay_corrupt_segments, d.corrupt_segments);
    LS_STAT_SET(ls, replay_lost_bytes, d.lost_bytes);
    LS_STAT_SET(ls, replay_duration_ns, d.duration_ns);
    if (rc)
        return rc;
    log_info("logs wal replayed", LOG_STR("dir", wal_dir), LOG_UINT("records", d.records),
             LOG_UINT("streams", r.streams), LOG_UINT("entries", r.entries),
             LOG_UINT("entries_skipped", r.skipped), LOG_UINT("stream_conflicts", r.conflicts),
             LOG_UINT("bad_payloads", d.bad_payloads), LOG_UINT("other_records", d.other),
             LOG_F64("duration_ms", (double)d.duration_ns / 1e6));
    return 0;
}
