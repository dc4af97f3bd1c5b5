/* The ingest batch of the metrics TSDB: admission (backpressure before anything is applied),
 * series lookup/creation, head_append per sample with Prometheus's rejection reasons, one SERIES
 * and one SAMPLES record per batch, and the durability callback. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/assert.h"
#include "base/error.h"
#include "base/log.h"
#include "engine/tsdb/tsdb_internal.h"

static const char *const reject_str[TSDB_REJECT_KINDS_] = {
    [TSDB_REJECT_OUT_OF_BOUNDS] = "out of bounds",
    [TSDB_REJECT_TOO_OLD] = "too old sample",
    [TSDB_REJECT_OUT_OF_ORDER] = "out of order sample",
    [TSDB_REJECT_DUPLICATE] = "duplicate sample for timestamp",
    [TSDB_REJECT_SERIES] = "series could not be created",
};

const char *tsdb_reject_str(enum tsdb_reject r)
{
    ASSERT((unsigned)r < TSDB_REJECT_KINDS_);
    return reject_str[r];
}

/* ---- the reason string: `<error> for series {a="b", c="d"}` ---- */

struct out {
    char *p;
    size_t len, cap; /* cap excludes the NUL */
    bool cut;
};

static void put(struct out *o, const char *s, size_t n)
{
    size_t room = o->len < o->cap ? o->cap - o->len : 0;
    if (n > room) {
        o->cut = true;
        n = room;
    }
    for (size_t i = 0; i < n; i++) /* short pieces; a loop keeps gcc's bounds analysis quiet */
        o->p[o->len + i] = s[i];
    o->len += n;
}

/* Appends v quoted the way Go's strconv.Quote does for ASCII (other bytes pass through). */
static void put_quoted(struct out *o, struct str v)
{
    put(o, "\"", 1);
    for (size_t i = 0; i < v.len && !o->cut; i++) {
        unsigned char c = (unsigned char)v.ptr[i];
        char esc[8];
        const char *e = NULL;
        switch (c) {
        case '"': e = "\\\""; break;
        case '\\': e = "\\\\"; break;
        case '\a': e = "\\a"; break;
        case '\b': e = "\\b"; break;
        case '\f': e = "\\f"; break;
        case '\n': e = "\\n"; break;
        case '\r': e = "\\r"; break;
        case '\t': e = "\\t"; break;
        case '\v': e = "\\v"; break;
        default:
            if (c < 0x20 || c == 0x7f) {
                snprintf(esc, sizeof esc, "\\x%02x", c);
                e = esc;
            }
        }
        if (e)
            put(o, e, strlen(e));
        else
            put(o, (const char *)&c, 1);
    }
    put(o, "\"", 1);
}

static void format_reason(char *dst, size_t cap, enum tsdb_reject r, const struct label *l,
                          size_t n)
{
    struct out o = {dst, 0, cap - 1, false};
    const char *what = tsdb_reject_str(r);
    put(&o, what, strlen(what));
    put(&o, " for series {", 13);
    bool first = true;
    for (size_t i = 0; i < n && !o.cut; i++) {
        if (str_eq_cstr(l[i].name, "__tenant__"))
            continue;
        if (!first)
            put(&o, ", ", 2);
        first = false;
        put(&o, l[i].name.ptr, l[i].name.len);
        put(&o, "=", 1);
        put_quoted(&o, l[i].value);
    }
    put(&o, "}", 1);
    if (o.cut && cap > 4) {
        memcpy(dst + cap - 4, "...", 3);
        o.len = cap - 1;
    }
    dst[o.len] = '\0';
}

static void reject(struct tsdb_append_result *res, enum tsdb_reject r,
                   const struct tsdb_series_in *s, uint64_t count)
{
    res->rejected[r] += count;
    res->rejected_total += count;
    if (res->first_reject < 0) {
        res->first_reject = (int)r;
        format_reason(res->reason, sizeof res->reason, r, s->labels, s->n_labels);
    }
}

/* ---- admission ---- */

/* Upper bound of the SERIES payload if every series of the batch were new. */
static uint64_t series_bound(const struct tsdb_series_in *in, size_t n)
{
    uint64_t b = 16 + 10;
    for (size_t i = 0; i < n; i++) {
        b += 5 + 5;
        for (size_t k = 0; k < in[i].n_labels; k++)
            b += in[i].labels[k].name.len + in[i].labels[k].value.len + 20;
    }
    return b;
}

static uint64_t samples_count(const struct tsdb_series_in *in, size_t n)
{
    uint64_t c = 0;
    for (size_t i = 0; i < n; i++)
        c += in[i].n_samples;
    return c;
}

static uint64_t hists_count(const struct tsdb_hists_in *in, size_t n)
{
    uint64_t c = 0;
    for (size_t i = 0; in && i < n; i++)
        c += in[i].n + in[i].n_exemplars;
    return c;
}

static uint64_t exemplars_count_in(const struct tsdb_hists_in *in, size_t n)
{
    uint64_t c = 0;
    for (size_t i = 0; in && i < n; i++)
        c += in[i].n_exemplars;
    return c;
}

/* Upper bound of the HISTOGRAMS payload. */
static uint64_t hists_bound(const struct tsdb_hists_in *in, size_t n)
{
    uint64_t b = 10;
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < in[i].n; k++) {
            const struct histchunk_hist *h = &in[i].hists[k].h;
            b += 64 + 20 * ((uint64_t)h->n_pspans + h->n_nspans) +
                 10 * ((uint64_t)h->n_pbuckets + h->n_nbuckets) + 8 * (uint64_t)h->n_custom;
        }
        for (size_t k = 0; k < in[i].n_exemplars; k++) {
            const struct exemplar_in *x = &in[i].exemplars[k];
            b += 40;
            for (size_t j = 0; j < x->n_labels; j++)
                b += 20 + x->labels[j].name.len + x->labels[j].value.len;
        }
    }
    return b;
}

/* Refuses the batch before anything is applied. The SERIES record is appended first, so the
 * SAMPLES record's wal_record_begin must still find room after it: the batch is admitted only
 * when the pending bytes plus the SERIES bound stay under the WAL's limit. */
static int admit(struct tsdb *t, const struct tsdb_series_in *in, const struct tsdb_hists_in *hin,
                 size_t n)
{
    if (t->closing)
        return ERR_CLOSED;
    if (!wal_writable(t->wal))
        return -ENOSPC;
    uint64_t max = t->cfg.wal.pending_bytes_max;
    uint64_t sb = series_bound(in, n);
    uint64_t sam = samples_count(in, n) * (5 + 10 + 8) + 10;
    uint64_t hb = hists_count(hin, n) ? hists_bound(hin, n) : 0;
    if (sb > WALREC_PAYLOAD_MAX || sam > WALREC_PAYLOAD_MAX || hb > WALREC_PAYLOAD_MAX ||
        (max && sb >= max))
        return ERR_LIMIT;
    uint64_t pending = wal_pending_bytes(t->wal);
    if (max && pending + sb >= max)
        return ERR_FULL;
    /* with histograms or exemplars more records follow SAMPLES: they too must find room */
    if (hb && max && sb + sam + hb >= max)
        return ERR_LIMIT;
    if (hb && max && pending + sb + sam + hb >= max)
        return ERR_FULL;
    return 0;
}

/* ---- applying ---- */

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    size_t c = *cap ? *cap : 64;
    while (c < need)
        c *= 2;
    void *q = realloc(*p, c * elem);
    if (!q)
        return ERR_NOMEM;
    *p = q;
    *cap = c;
    return 0;
}

/* Makes room for the batch's scratch entries up front, so applying never fails for lack of it. */
static int reserve_scratch(struct tsdb *t, const struct tsdb_series_in *in,
                           const struct tsdb_hists_in *hin, size_t n)
{
    t->n_new = t->n_acc = 0;
    int rc = grow((void **)&t->new_series, &t->cap_new, n, sizeof *t->new_series);
    if (!rc)
        rc = grow((void **)&t->acc, &t->cap_acc, samples_count(in, n), sizeof *t->acc);
    t->n_hacc = 0;
    if (!rc)
        rc = grow((void **)&t->hacc, &t->cap_hacc, hists_count(hin, n), sizeof *t->hacc);
    t->n_eacc = 0;
    if (!rc)
        rc = grow((void **)&t->eacc, &t->cap_eacc, exemplars_count_in(hin, n), sizeof *t->eacc);
    return rc;
}

static int classify(struct tsdb *t, int rc, const struct tsdb_series_in *s, int64_t ts,
                    struct tsdb_append_result *res)
{
    switch (rc) {
    case HEAD_DUPLICATE: res->duplicates++; return 0;
    case ERR_RANGE:
        reject(res,
               ts < head_min_valid_time(t->head) ? TSDB_REJECT_OUT_OF_BOUNDS : TSDB_REJECT_TOO_OLD,
               s, 1);
        return 0;
    case ERR_ORDER: reject(res, TSDB_REJECT_OUT_OF_ORDER, s, 1); return 0;
    case ERR_DUPLICATE: reject(res, TSDB_REJECT_DUPLICATE, s, 1); return 0;
    case ERR_NOT_FOUND: PANIC("BUG: head lost a series during an append batch");
    default: return rc; /* ERR_NOMEM, ERR_CORRUPT, -errno: stop the batch */
    }
}

/* Classifies a histogram outcome (counted apart from float samples). */
static int classify_hist(struct tsdb *t, int rc, const struct tsdb_series_in *s, int64_t ts,
                         struct tsdb_append_result *res)
{
    if (rc == HEAD_DUPLICATE) {
        res->duplicates++;
        res->hist_duplicates++;
        return 0;
    }
    struct tsdb_append_result tmp;
    memset(&tmp, 0, sizeof tmp);
    tmp.first_reject = -1;
    int r = classify(t, rc == ERR_INVALID ? ERR_ORDER : rc, s, ts, &tmp);
    if (r)
        return r;
    res->hist_rejected++;
    if (res->first_reject < 0) {
        res->first_reject = tmp.first_reject;
        memcpy(res->reason, tmp.reason, sizeof res->reason);
    }
    return 0;
}

static int apply_hists(struct tsdb *t, uint32_t id, const struct tsdb_series_in *s,
                       const struct tsdb_hists_in *hin, struct tsdb_append_result *res)
{
    for (size_t i = 0; i < hin->n; i++) {
        const struct tsdb_hist_sample *x = &hin->hists[i];
        int rc = head_append_hist(t->head, id, x->t_ms, &x->h, x->is_float);
        if (rc == HEAD_APPENDED) {
            t->hacc[t->n_hacc++] = (struct walrec_hist){id, x->t_ms, x->is_float, &x->h};
            res->accepted++;
            res->hist_accepted++;
        } else if ((rc = classify_hist(t, rc, s, x->t_ms, res)) != 0) {
            return rc;
        }
    }
    return 0;
}

/* Exemplars: stored when the storage takes them, refusals dropped (Prometheus logs them). */
static void apply_exemplars(struct tsdb *t, uint32_t id, const struct tsdb_series_in *s,
                            const struct tsdb_hists_in *hin, struct tsdb_append_result *res)
{
    for (size_t i = 0; i < hin->n_exemplars; i++) {
        const struct exemplar_in *x = &hin->exemplars[i];
        if (exemplars_add(t->ex, id, s->hash, x) != 1)
            continue;
        t->eacc[t->n_eacc++] =
            (struct walrec_exemplar){id, x->ts_ms, x->value_bits, x->labels, x->n_labels};
        res->exemplars_accepted++;
    }
}

static int apply_series(struct tsdb *t, const struct tsdb_series_in *s,
                        const struct tsdb_hists_in *hin, struct tsdb_append_result *res)
{
    uint32_t id;
    bool created = false;
    int rc = head_series_get_or_create(t->head, s->labels, s->n_labels, s->hash, &id, &created);
    if (rc == ERR_LIMIT || rc == ERR_FULL) {
        if (s->n_samples)
            reject(res, TSDB_REJECT_SERIES, s, s->n_samples);
        res->hist_rejected += hin ? hin->n : 0;
        return 0;
    }
    if (rc)
        return rc;
    if (created) {
        tsdb_note_id(t, id);
        t->new_series[t->n_new++] = (struct walrec_series){id, s->labels, s->n_labels};
        res->series_created++;
    }
    for (size_t i = 0; i < s->n_samples; i++) {
        const struct tsdb_sample *x = &s->samples[i];
        rc = head_append(t->head, id, x->t_ms, x->v_bits);
        if (rc == HEAD_APPENDED || rc == HEAD_APPENDED_OOO) {
            t->acc[t->n_acc++] = (struct walrec_sample){id, x->t_ms, x->v_bits};
            res->accepted++;
        } else if ((rc = classify(t, rc, s, x->t_ms, res)) != 0) {
            return rc;
        }
    }
    if (hin && hin->n_exemplars)
        apply_exemplars(t, id, s, hin, res);
    return hin && hin->n ? apply_hists(t, id, s, hin, res) : 0;
}

/* ---- logging ---- */

static void log_records(struct tsdb *t)
{
    struct buf *b;
    size_t mark;
    int rc = 0;
    if (t->n_new) {
        rc = wal_record_begin(t->wal, &b, &mark);
        if (!rc && (rc = walrec_series_encode(b, t->new_series, t->n_new)) != 0)
            wal_record_cancel(t->wal, mark);
        else if (!rc)
            rc = wal_record_end(t->wal, mark, WALREC_SERIES, WALREC_COMPRESS);
    }
    if (!rc && t->n_acc) {
        rc = wal_record_begin(t->wal, &b, &mark);
        if (!rc && (rc = walrec_samples_encode(b, t->acc, t->n_acc)) != 0)
            wal_record_cancel(t->wal, mark);
        else if (!rc)
            rc = wal_record_end(t->wal, mark, WALREC_SAMPLES, WALREC_COMPRESS);
    }
    if (!rc && t->n_hacc) {
        rc = wal_record_begin(t->wal, &b, &mark);
        if (!rc && (rc = walrec_hists_encode(b, t->hacc, t->n_hacc)) != 0)
            wal_record_cancel(t->wal, mark);
        else if (!rc)
            rc = wal_record_end(t->wal, mark, WALREC_HISTOGRAMS, WALREC_COMPRESS);
    }
    if (!rc && t->n_eacc) {
        rc = wal_record_begin(t->wal, &b, &mark);
        if (!rc && (rc = walrec_exemplars_encode(b, t->eacc, t->n_eacc)) != 0)
            wal_record_cancel(t->wal, mark);
        else if (!rc)
            rc = wal_record_end(t->wal, mark, WALREC_EXEMPLARS, WALREC_COMPRESS);
    }
    /* admit() guarantees room and sizes; what is left is memory exhaustion, after the head
     * already took the samples: the head would hold what the WAL does not. */
    if (rc)
        PANIC("cannot log an applied batch to the WAL: %s", err_str(rc));
}

static void on_durable(void *arg)
{
    struct tsdb_commit *c = arg;
    struct tsdb *t = c->t;
    tsdb_commit_fn fn = c->fn;
    void *a = c->arg;
    c->next = t->free_commits;
    t->free_commits = c;
    fn(a, 0);
}

static struct tsdb_commit *commit_get(struct tsdb *t)
{
    struct tsdb_commit *c = t->free_commits;
    if (c)
        t->free_commits = c->next;
    else if (!(c = malloc(sizeof *c)))
        return NULL;
    c->t = t;
    return c;
}

static void count_batch(struct tsdb *t, const struct tsdb_append_result *res)
{
    TSDB_STAT_ADD(t, batches_total, 1);
    TSDB_STAT_ADD(t, samples_accepted_total, res->accepted);
    TSDB_STAT_ADD(t, samples_duplicate_total, res->duplicates);
    TSDB_STAT_ADD(t, series_created_total, res->series_created);
    for (int k = 0; k < TSDB_REJECT_KINDS_; k++)
        if (res->rejected[k])
            TSDB_STAT_ADD(t, samples_rejected_total[k], res->rejected[k]);
}

int tsdb_append(struct tsdb *t, const struct tsdb_series_in *series, size_t n,
                struct tsdb_append_result *res, tsdb_commit_fn cb, void *arg)
{
    return tsdb_append_hists(t, series, NULL, n, res, cb, arg);
}

int tsdb_append_hists(struct tsdb *t, const struct tsdb_series_in *series,
                      const struct tsdb_hists_in *hists, size_t n, struct tsdb_append_result *res,
                      tsdb_commit_fn cb, void *arg)
{
    ASSERT(cb != NULL);
    memset(res, 0, sizeof *res);
    res->first_reject = -1;
    int rc = admit(t, series, hists, n);
    if (rc == -ENOSPC)
        TSDB_STAT_ADD(t, batches_refused_disk_total, 1);
    else if (rc == ERR_FULL || rc == ERR_LIMIT)
        TSDB_STAT_ADD(t, batches_refused_full_total, 1);
    struct tsdb_commit *c = NULL;
    if (!rc && !(c = commit_get(t)))
        rc = ERR_NOMEM;
    if (!rc && (rc = reserve_scratch(t, series, hists, n)) != 0) {
        c->next = t->free_commits;
        t->free_commits = c;
    }
    if (rc)
        return rc;
    for (size_t i = 0; i < n && !res->err; i++)
        res->err = apply_series(t, &series[i], hists ? &hists[i] : NULL, res);
    if (res->err)
        log_error("append batch stopped", LOG_ERR(res->err));
    log_records(t);
    count_batch(t, res);
    c->fn = cb;
    c->arg = arg;
    if ((rc = wal_commit(t->wal, on_durable, c)) != 0) {
        c->next = t->free_commits;
        t->free_commits = c;
        return rc;
    }
    return 0;
}
