/* Start-up WAL replay of the metrics TSDB: streams the newest checkpoint and the segments after
 * it into the head in replay mode (SERIES recreate series with their ids, SAMPLES go through
 * head_append), skipping what the blocks already hold, and resumes after a damaged non-last
 * segment, counting what was lost (engine/store/replay.h drives it). HISTOGRAMS go through
 * head_append_hist. Memory stays bounded: records are handled one at a time. */
#include <stdlib.h>

#include "base/error.h"
#include "base/hash.h"
#include "base/log.h"
#include "engine/store/replay.h"
#include "engine/tsdb/tsdb_internal.h"

struct replay {
    struct tsdb *t;
    struct store_replay *d; /* the driver's state: label buffer, record counts */
    uint64_t series, samples, skipped, conflicts, exemplars;
};

static int series_item(void *arg, const struct walrec_series *s)
{
    struct replay *r = arg;
    uint64_t h = hash_labels(s->labels, s->n_labels);
    int rc = head_series_create_with_id(r->t->head, s->id, s->labels, s->n_labels, h);
    if (rc == ERR_NOMEM)
        return rc;
    if (rc == 0) {
        tsdb_note_id(r->t, s->id);
        r->series++;
    } else {
        /* ERR_DUPLICATE (id or labels taken), ERR_RANGE, ERR_LIMIT: the series cannot come back;
         * its samples are skipped as unknown (or land on the holder of the id, which is what
         * the log said at the time). */
        if (r->conflicts++ < 10)
            log_warn("wal replay: series not recreated", LOG_UINT("id", s->id), LOG_ERR(rc));
    }
    return 0;
}

static int replay_series(struct replay *r, const struct walrec *rec)
{
    return store_replay_series(rec, &r->d->lbuf, &r->d->lcap, series_item, r, &r->d->bad_payloads);
}

static int replay_samples(struct replay *r, const struct walrec *rec)
{
    struct walrec_samples_iter it;
    walrec_samples_iter_init(&it, rec->payload, rec->len);
    while (walrec_samples_iter_next(&it)) {
        const struct walrec_sample *s = walrec_samples_iter_at(&it);
        int rc = head_append(r->t->head, s->id, s->ts_ms, s->value_bits);
        switch (rc) {
        case HEAD_APPENDED:
        case HEAD_APPENDED_OOO:
        case HEAD_DUPLICATE: r->samples++; break;
        case ERR_NOT_FOUND: /* a series the checkpoint dropped */
        case ERR_RANGE:     /* before the newest block's end: in a block */
        case ERR_DUPLICATE:
        case ERR_ORDER: r->skipped++; break;
        default: return rc; /* ERR_NOMEM, chunk file errors */
        }
    }
    if (walrec_samples_iter_err(&it))
        r->d->bad_payloads++;
    return 0;
}

static int replay_hists(struct replay *r, const struct walrec *rec)
{
    struct walrec_hists_iter it;
    walrec_hists_iter_init(&it, rec->payload, rec->len);
    int rc = 0;
    while (rc == 0 && walrec_hists_iter_next(&it)) {
        const struct walrec_hist *x = walrec_hists_iter_at(&it);
        rc = head_append_hist(r->t->head, x->id, x->ts_ms, x->h, x->is_float);
        switch (rc) {
        case HEAD_APPENDED:
        case HEAD_DUPLICATE:
            r->samples++;
            rc = 0;
            break;
        case ERR_NOT_FOUND:
        case ERR_RANGE:
        case ERR_DUPLICATE:
        case ERR_INVALID:
        case ERR_ORDER:
            r->skipped++;
            rc = 0;
            break;
        default: break; /* ERR_NOMEM, chunk file errors */
        }
    }
    if (rc == 0 && walrec_hists_iter_err(&it))
        r->d->bad_payloads++;
    walrec_hists_iter_deinit(&it);
    return rc;
}

/* Exemplars go back into the exemplar storage (series the checkpoint dropped are skipped). */
static int replay_exemplars(struct replay *r, const struct walrec *rec)
{
    struct label ex_labels[EXEMPLARS_LABELS_MAX];
    struct walrec_exemplars_iter it;
    walrec_exemplars_iter_init(&it, rec->payload, rec->len, ex_labels, EXEMPLARS_LABELS_MAX);
    while (walrec_exemplars_iter_next(&it)) {
        const struct walrec_exemplar *x = walrec_exemplars_iter_at(&it);
        size_t n;
        int rc = head_series_labels(r->t->head, x->id, r->d->lbuf, r->d->lcap, &n);
        if (rc == ERR_FULL) {
            struct label *p = realloc(r->d->lbuf, n * sizeof *p);
            if (!p)
                return ERR_NOMEM;
            r->d->lbuf = p;
            r->d->lcap = n;
            rc = head_series_labels(r->t->head, x->id, r->d->lbuf, r->d->lcap, &n);
        }
        if (rc) {
            r->skipped++;
            continue;
        }
        struct exemplar_in in = {x->ts_ms, x->value_bits, x->labels, x->n_labels};
        rc = exemplars_add(r->t->ex, x->id, hash_labels(r->d->lbuf, n), &in);
        if (rc == ERR_NOMEM)
            return rc;
        r->exemplars += rc == 1;
    }
    if (walrec_exemplars_iter_err(&it))
        r->d->bad_payloads++;
    return 0;
}

static int on_record(void *arg, struct store_replay *d, const struct walrec *rec)
{
    struct replay *r = arg;
    r->d = d;
    switch (rec->type) {
    case WALREC_SERIES: return replay_series(r, rec);
    case WALREC_SAMPLES: return replay_samples(r, rec);
    case WALREC_HISTOGRAMS: return replay_hists(r, rec);
    case WALREC_EXEMPLARS: return replay_exemplars(r, rec);
    default: return STORE_REPLAY_OTHER; /* logs records, markers: not ours */
    }
}

int tsdb_replay(struct tsdb *t, const char *wal_dir)
{
    struct replay r = {.t = t};
    struct store_replay d;
    int rc = head_replay_begin(t->head);
    if (rc == 0)
        rc = store_replay_run(&d, "", wal_dir, on_record, &r);
    else {
        d = (struct store_replay){0};
        log_error("wal replay failed", LOG_STR("dir", wal_dir), LOG_ERR(rc));
    }
    head_replay_end(t->head);
    TSDB_STAT_SET(t, replay_records, d.records);
    TSDB_STAT_SET(t, replay_series, r.series);
    TSDB_STAT_SET(t, replay_samples, r.samples);
    TSDB_STAT_SET(t, replay_samples_skipped, r.skipped);
    TSDB_STAT_SET(t, replay_series_conflicts, r.conflicts);
    TSDB_STAT_SET(t, replay_corrupt_segments, d.corrupt_segments);
    TSDB_STAT_SET(t, replay_lost_bytes, d.lost_bytes);
    TSDB_STAT_SET(t, replay_duration_ns, d.duration_ns);
    if (rc)
        return rc;
    log_info("wal replayed", LOG_STR("dir", wal_dir), LOG_UINT("records", d.records),
             LOG_UINT("series", r.series), LOG_UINT("samples", r.samples),
             LOG_UINT("samples_skipped", r.skipped), LOG_UINT("series_conflicts", r.conflicts),
             LOG_UINT("exemplars", r.exemplars), LOG_UINT("bad_payloads", d.bad_payloads),
             LOG_UINT("other_records", d.other),
             LOG_F64("duration_ms", (double)d.duration_ns / 1e6));
    return 0;
}
