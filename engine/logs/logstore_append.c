/* The ingest batch of the log store: admission (backpressure before anything is applied), stream
 * lookup/creation with the tenant's stream limit, the per-entry rules with Loki's rejection
 * wording, one LOG_STREAMS record and LOG_ENTRIES records of exactly the accepted entries, and the
 * durability callback. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/assert.h"
#include "base/clock.h"
#include "base/error.h"
#include "base/log.h"
#include "engine/logs/logstore_internal.h"
#include "formats/wire/lokipush.h"

static const char *const reject_str[LOGSTORE_REJECT_KINDS_] = {
    [LOGSTORE_REJECT_LINE_TOO_LONG] = "line_too_long",
    [LOGSTORE_REJECT_TOO_OLD] = "greater_than_max_sample_age",
    [LOGSTORE_REJECT_TOO_NEW] = "too_far_in_future",
    [LOGSTORE_REJECT_TOO_FAR_BEHIND] = "too_far_behind",
    [LOGSTORE_REJECT_STREAM_LIMIT] = "stream_limit",
    [LOGSTORE_REJECT_STREAM] = "stream_create_failed",
};

const char *logstore_reject_str(enum logstore_reject r)
{
    ASSERT((unsigned)r < LOGSTORE_REJECT_KINDS_);
    return reject_str[r];
}

/* ---- reasons, worded as Loki's distributor and ingester word them ---- */

/* Go's time.Time.Format(time.RFC3339) in UTC: 2006-01-02T15:04:05Z. */
static void fmt_rfc3339(char *out, size_t n, int64_t ns)
{
    time_t sec = (time_t)ls_floor_div(ns, 1000000000LL);
    struct tm tm;
    if (!gmtime_r(&sec, &tm)) {
        snprintf(out, n, "%" PRId64, ns);
        return;
    }
    snprintf(out, n, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
             tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* Go's time.Time.String() in UTC: 2006-01-02 15:04:05.123 +0000 UTC (fraction without trailing
 * zeros, left out when zero). */
static void fmt_go_time(char *out, size_t n, int64_t ns)
{
    int64_t s = ls_floor_div(ns, 1000000000LL);
    time_t sec = (time_t)s;
    struct tm tm;
    if (!gmtime_r(&sec, &tm)) {
        snprintf(out, n, "%" PRId64, ns);
        return;
    }
    char frac[16] = "";
    int64_t f = ns - s * 1000000000LL;
    if (f) {
        snprintf(frac, sizeof frac, ".%09" PRId64, f);
        size_t k = strlen(frac);
        while (frac[k - 1] == '0')
            frac[--k] = '\0';
    }
    snprintf(out, n, "%04d-%02d-%02d %02d:%02d:%02d%s +0000 UTC", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
}

/* `{a="b", c="d"}` without __tenant__, NUL-terminated in b (empty on ERR_NOMEM). */
static const char *labels_text(struct buf *b, const struct label *l, size_t n)
{
    struct label tmp[64];
    size_t k = 0;
    for (size_t i = 0; i < n && k < 64; i++)
        if (!str_eq_cstr(l[i].name, LS_TENANT_LABEL))
            tmp[k++] = l[i];
    buf_reset(b);
    if (lokipush_format_labels(tmp, k, b) || buf_cstr(b))
        return "";
    return (const char *)b->data;
}

static void set_reason(struct logstore_append_result *res, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void set_reason(struct logstore_append_result *res, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(res->reason, sizeof res->reason, fmt, ap);
    va_end(ap);
    if (k >= (int)sizeof res->reason)
        memcpy(res->reason + sizeof res->reason - 4, "...", 4);
}

struct rejection {
    enum logstore_reject kind;
    int64_t ts, cutoff;
    uint64_t len, limit;
};

static void word_reason(struct logstore_append_result *res, const struct rejection *r,
                        const struct logstore_stream_in *s, const struct ls_tenant *t)
{
    struct buf b = BUF_INIT;
    const char *lbl = labels_text(&b, s->labels, s->n_labels);
    char t1[64], t2[64], t3[64];
    switch (r->kind) {
    case LOGSTORE_REJECT_LINE_TOO_LONG:
        set_reason(res,
                   "max entry size '%" PRIu64 "' bytes exceeded for stream '%s' while adding an "
                   "entry with length '%" PRIu64 "' bytes",
                   r->limit, lbl, r->len);
        break;
    case LOGSTORE_REJECT_TOO_OLD:
        fmt_rfc3339(t1, sizeof t1, r->ts);
        fmt_rfc3339(t2, sizeof t2, r->cutoff);
        set_reason(res,
                   "entry for stream '%s' has timestamp too old: %s, oldest acceptable timestamp "
                   "is: %s",
                   lbl, t1, t2);
        break;
    case LOGSTORE_REJECT_TOO_NEW:
        fmt_rfc3339(t1, sizeof t1, r->ts);
        set_reason(res, "entry for stream '%s' has timestamp too new: %s", lbl, t1);
        break;
    case LOGSTORE_REJECT_TOO_FAR_BEHIND:
        fmt_go_time(t1, sizeof t1, r->ts);
        fmt_rfc3339(t2, sizeof t2, r->ts);
        fmt_rfc3339(t3, sizeof t3, r->cutoff);
        set_reason(res,
                   "entry with timestamp %s ignored, reason: 'entry too far behind, entry "
                   "timestamp is: %s, oldest acceptable timestamp is: %s' for stream: %s",
                   t1, t2, t3, lbl);
        break;
    case LOGSTORE_REJECT_STREAM_LIMIT:
        set_reason(res,
                   "maximum active stream limit exceeded when trying to create stream %s, reduce "
                   "the number of active streams (reduce labels or reduce label values), or "
                   "contact your Loki administrator to see if the limit can be increased, user: "
                   "'%.*s'",
                   lbl, t ? (int)strlen(t->name) : 0, t ? t->name : "");
        break;
    default: set_reason(res, "stream %s could not be created: no stream ids left", lbl); break;
    }
    buf_deinit(&b);
}

static void reject(struct logstore_append_result *res, const struct rejection *r,
                   const struct logstore_stream_in *s, const struct ls_tenant *t, uint64_t count)
{
    res->rejected[r->kind] += count;
    res->rejected_total += count;
    if (res->first_reject < 0) {
        res->first_reject = (int)r->kind;
        word_reason(res, r, s, t);
    }
}

/* ---- admission ---- */

static uint64_t streams_bound(const struct logstore_stream_in *in, size_t n)
{
    uint64_t b = 16 + 10;
    for (size_t i = 0; i < n; i++) {
        b += 10;
        for (size_t k = 0; k < in[i].n_labels; k++)
            b += in[i].labels[k].name.len + in[i].labels[k].value.len + 20;
    }
    return b;
}

static uint64_t entry_bound(const struct logstore_entry_in *e)
{
    uint64_t b = 5 + 10 + 10 + e->line.len + 10;
    for (size_t i = 0; i < e->n_md; i++)
        b += e->md[i].name.len + e->md[i].value.len + 20;
    return b;
}

static uint64_t entries_bound(const struct logstore_stream_in *in, size_t n, uint64_t *count)
{
    uint64_t b = 0, c = 0;
    for (size_t i = 0; i < n; i++) {
        c += in[i].n_entries;
        for (size_t k = 0; k < in[i].n_entries; k++)
            b += entry_bound(&in[i].entries[k]);
    }
    *count = c;
    return b;
}

/* Refuses the batch before anything is applied: the streams record and every entries record must
 * fit under the WAL's pending limit. */
static int admit(struct logstore *ls, const struct logstore_stream_in *in, size_t n)
{
    if (ls->closing)
        return ERR_CLOSED;
    if (!wal_writable(ls->wal))
        return -ENOSPC;
    uint64_t max = ls->cfg.wal.pending_bytes_max, count;
    uint64_t b = streams_bound(in, n) + entries_bound(in, n, &count);
    b += (b / (4u << 20) + 2) * (WALREC_HEADER_SIZE + 16);
    if (max && b >= max)
        return ERR_LIMIT;
    if (max && wal_pending_bytes(ls->wal) + b >= max)
        return ERR_FULL;
    return 0;
}

/* ---- applying ---- */

static int reserve_scratch(struct logstore *ls, const struct logstore_stream_in *in, size_t n)
{
    uint64_t count;
    (void)entries_bound(in, n, &count);
    ls->n_new = ls->n_acc = 0;
    int rc = ls_grow((void **)&ls->new_streams, &ls->cap_new, n, sizeof *ls->new_streams);
    if (!rc)
        rc = ls_grow((void **)&ls->acc, &ls->cap_acc, (size_t)count, sizeof *ls->acc);
    return rc;
}

/* Checks one entry against the limits and windows: true (with *r) when it is refused. */
static bool entry_rejected(const struct logstore *ls, const struct ls_stream *st,
                           const struct ls_tenant *t, const struct logstore_entry_in *e,
                           int64_t now_ns, struct rejection *r)
{
    const struct logstore_config *c = &ls->cfg;
    int64_t ts = e->ts_ns;
    *r = (struct rejection){.ts = ts, .len = e->line.len, .limit = t->line_bytes_max};
    if (t->line_bytes_max && e->line.len > t->line_bytes_max)
        return r->kind = LOGSTORE_REJECT_LINE_TOO_LONG, true;
    if (c->reject_old_ms > 0 && ts < now_ns - ls_ms_to_ns(c->reject_old_ms)) {
        r->cutoff = now_ns - ls_ms_to_ns(c->reject_old_ms);
        return r->kind = LOGSTORE_REJECT_TOO_OLD, true;
    }
    if (c->creation_grace_ms > 0 && ts > now_ns + ls_ms_to_ns(c->creation_grace_ms))
        return r->kind = LOGSTORE_REJECT_TOO_NEW, true;
    int64_t cutoff = ls_ms_to_ns(ls->head.min_valid_ms);
    int64_t window = ls_ms_to_ns(c->ooo_window_ms);
    if (st->max_ts != INT64_MIN && st->max_ts >= INT64_MIN + window && st->max_ts - window > cutoff)
        cutoff = st->max_ts - window;
    if (ts < cutoff) {
        r->cutoff = cutoff;
        return r->kind = LOGSTORE_REJECT_TOO_FAR_BEHIND, true;
    }
    return false;
}

static struct str tenant_name(const struct logstore_stream_in *s)
{
    for (size_t i = 0; i < s->n_labels; i++)
        if (str_eq_cstr(s->labels[i].name, LS_TENANT_LABEL))
            return s->labels[i].value;
    return STR_LIT("");
}

/* Finds or creates the stream; NULL (with *rc 0) when it was refused (counted in res). */
static struct ls_stream *stream_for(struct logstore *ls, const struct logstore_stream_in *s,
                                    struct logstore_append_result *res, int *rc)
{
    *rc = 0;
    struct ls_stream *st = ls_stream_lookup(ls, s->labels, s->n_labels, s->hash);
    if (st)
        return st;
    struct ls_tenant *t = ls_tenant_get(ls, tenant_name(s));
    if (!t) {
        *rc = ERR_NOMEM;
        return NULL;
    }
    struct rejection r = {.kind = LOGSTORE_REJECT_STREAM_LIMIT};
    if (t->streams_max && t->streams >= t->streams_max) {
        reject(res, &r, s, t, s->n_entries);
        return NULL;
    }
    int e = ls_stream_create(ls, s->labels, s->n_labels, s->hash, UINT32_MAX, &st);
    if (e == ERR_FULL || e == ERR_RANGE) {
        r.kind = LOGSTORE_REJECT_STREAM;
        reject(res, &r, s, t, s->n_entries);
        return NULL;
    }
    if (e) {
        *rc = e;
        return NULL;
    }
    ls->new_streams[ls->n_new++] = (struct walrec_series){st->id, st->labels, st->n_labels};
    res->streams_created++;
    return st;
}

static int apply_stream(struct logstore *ls, const struct logstore_stream_in *s, int64_t now_ns,
                        struct logstore_append_result *res)
{
    int rc;
    struct ls_stream *st = stream_for(ls, s, res, &rc);
    if (!st)
        return rc;
    for (size_t i = 0; i < s->n_entries; i++) {
        const struct logstore_entry_in *e = &s->entries[i];
        struct rejection r;
        if (entry_rejected(ls, st, st->tenant, e, now_ns, &r)) {
            reject(res, &r, s, st->tenant, 1);
            continue;
        }
        rc = ls_stream_append(ls, st, e->ts_ns, e->line, e->md, e->n_md);
        if (rc < 0)
            return rc;
        if (rc == 1) {
            res->duplicates++;
            continue;
        }
        ls->acc[ls->n_acc++] = (struct walrec_entry){st->id, e->ts_ns, e->line, e->md, e->n_md};
        res->accepted++;
        res->bytes += e->line.len;
    }
    return 0;
}

/* ---- logging ---- */

#define ENTRIES_RECORD_BYTES (4u << 20)

static int log_one(struct logstore *ls, enum walrec_type type, const void *items, size_t n)
{
    struct buf *b;
    size_t mark;
    int rc = wal_record_begin(ls->wal, &b, &mark);
    if (rc)
        return rc;
    rc = type == WALREC_LOG_STREAMS ? walrec_series_encode(b, items, n)
                                    : walrec_entries_encode(b, items, n);
    if (rc) {
        wal_record_cancel(ls->wal, mark);
        return rc;
    }
    return wal_record_end(ls->wal, mark, type, WALREC_COMPRESS);
}

static void log_records(struct logstore *ls)
{
    int rc = 0;
    if (ls->n_new)
        rc = log_one(ls, WALREC_LOG_STREAMS, ls->new_streams, ls->n_new);
    for (size_t i = 0; i < ls->n_acc && !rc;) { /* records of about ENTRIES_RECORD_BYTES */
        size_t j = i;
        uint64_t bytes = 0;
        while (j < ls->n_acc && (j == i || bytes < ENTRIES_RECORD_BYTES)) {
            bytes += ls->acc[j].line.len + 32;
            j++;
        }
        rc = log_one(ls, WALREC_LOG_ENTRIES, ls->acc + i, j - i);
        i = j;
    }
    /* admit() guarantees room and sizes; what is left is memory exhaustion after the head took
     * the entries: the head would hold what the WAL does not. */
    if (rc)
        PANIC("cannot log an applied batch to the WAL: %s", err_str(rc));
}

static void on_durable(void *arg)
{
    struct ls_commit *c = arg;
    struct logstore *ls = c->ls;
    logstore_commit_fn fn = c->fn;
    void *a = c->arg;
    c->next = ls->free_commits;
    ls->free_commits = c;
    fn(a, 0);
}

static struct ls_commit *commit_get(struct logstore *ls)
{
    struct ls_commit *c = ls->free_commits;
    if (c)
        ls->free_commits = c->next;
    else if (!(c = malloc(sizeof *c)))
        return NULL;
    c->ls = ls;
    return c;
}

static void commit_put(struct logstore *ls, struct ls_commit *c)
{
    c->next = ls->free_commits;
    ls->free_commits = c;
}

static void count_batch(struct logstore *ls, const struct logstore_append_result *res)
{
    LS_STAT_ADD(ls, batches_total, 1);
    LS_STAT_ADD(ls, entries_accepted_total, res->accepted);
    LS_STAT_ADD(ls, bytes_accepted_total, res->bytes);
    LS_STAT_ADD(ls, entries_duplicate_total, res->duplicates);
    LS_STAT_ADD(ls, streams_created_total, res->streams_created);
    for (int k = 0; k < LOGSTORE_REJECT_KINDS_; k++)
        if (res->rejected[k])
            LS_STAT_ADD(ls, entries_rejected_total[k], res->rejected[k]);
    ls_head_publish(ls);
}

int logstore_append(struct logstore *ls, const struct logstore_stream_in *streams, size_t n,
                    struct logstore_append_result *res, logstore_commit_fn cb, void *arg)
{
    ASSERT(cb != NULL);
    memset(res, 0, sizeof *res);
    res->first_reject = -1;
    int rc = admit(ls, streams, n);
    if (rc == -ENOSPC)
        LS_STAT_ADD(ls, batches_refused_disk_total, 1);
    else if (rc == ERR_FULL || rc == ERR_LIMIT)
        LS_STAT_ADD(ls, batches_refused_full_total, 1);
    struct ls_commit *c = NULL;
    if (!rc && !(c = commit_get(ls)))
        rc = ERR_NOMEM;
    if (!rc && (rc = reserve_scratch(ls, streams, n)) != 0)
        commit_put(ls, c);
    if (rc)
        return rc;
    int64_t now_ns = ls->cfg.now_ns ? ls->cfg.now_ns(ls->cfg.now_arg) : clock_real_ns();
    for (size_t i = 0; i < n && !res->err; i++)
        res->err = apply_stream(ls, &streams[i], now_ns, res);
    if (res->err)
        log_error("logs append batch stopped", LOG_ERR(res->err));
    log_records(ls);
    count_batch(ls, res);
    c->fn = cb;
    c->arg = arg;
    if ((rc = wal_commit(ls->wal, on_durable, c)) != 0) {
        commit_put(ls, c);
        return rc;
    }
    return 0;
}
