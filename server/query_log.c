/* Fan-outs over the log stores, home side (query.h "log fan-outs"): the entry selection as an
 * iterator that merges every shard's stream of pieces in time order (ties: stream labels), giving
 * each piece back once read; the partial range aggregation (owners send per step one partial per
 * output label set: gathered step by step from every shard for the evaluator to merge); label
 * names and values gathered from every shard; stream statistics read shard by shard as they
 * stream in, sorted and made unique by label set, and their sums. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/arena.h"
#include "base/clock.h"
#include "base/error.h"
#include "base/log.h"
#include "engine/logql/eval.h"
#include "engine/logql/exec.h"
#include "server/metrics.h"
#include "server/query_internal.h"

/* How long closing a selection waits for the owners' final replies (they stop at their next loop
 * turn; only a stopped shard loop takes longer): a canceled job (the server may be stopping, its
 * loops gone) waits less. */
#define CLONE_WAIT_NS          5000000000LL
#define CLONE_WAIT_CANCELED_NS 200000000LL

/* ---- the entry selection ---- */

struct shard_in {
    struct query_piece *cur;
    size_t idx;
    bool end;
};

struct query_log_iter {
    struct query_job *job;
    struct query_fan *fan;
    uint32_t n;
    struct shard_in *in;
    bool started, backward;
    int err;
    long last; /* the shard of the current entry */
    struct query_log_entry at;
    uint64_t entries, bytes, moved;
    struct logql_pipeline **clones; /* [n] or NULL (owned; the spec borrows them) */
    bool stopped, stop_ok;          /* query_log_iter_stop ran; every owner answered */
};

static void clones_free(struct logql_pipeline **c, uint32_t n)
{
    if (!c)
        return;
    for (uint32_t i = 0; i < n; i++)
        logql_pipeline_destroy(c[i]);
    free(c);
}

/* One clone of p per shard, or NULL when p has no pre-filter (or on ERR_NOMEM: then the
 * selection simply runs unfiltered). */
static struct logql_pipeline **clones_new(struct logql_pipeline *p, uint32_t n)
{
    if (!p || !logql_pipeline_has_prefilter(p))
        return NULL;
    struct logql_pipeline **c = calloc(n, sizeof *c);
    for (uint32_t i = 0; c && i < n; i++) {
        if (logql_pipeline_clone(p, &c[i]) != 0) {
            clones_free(c, n);
            return NULL;
        }
    }
    return c;
}

/* Copies the hint's literals (and their bytes) into one allocation owned by the spec. */
static int spec_hint(struct query_spec *s, const struct logstore_line_hint *h)
{
    if (!h || h->n == 0)
        return 0;
    size_t bytes = h->n * sizeof(struct str);
    for (size_t i = 0; i < h->n; i++)
        bytes += h->contains[i].len;
    s->contains = malloc(bytes);
    if (!s->contains)
        return ERR_NOMEM;
    char *dst = (char *)(s->contains + h->n);
    for (size_t i = 0; i < h->n; i++) {
        if (h->contains[i].len)
            memcpy(dst, h->contains[i].ptr, h->contains[i].len);
        s->contains[i] = (struct str){dst, h->contains[i].len};
        dst += h->contains[i].len;
    }
    s->n_contains = h->n;
    return 0;
}

int query_log_select(struct query_job *j, const struct matcher *ms, size_t n, int64_t start_ns,
                     int64_t end_ns, bool backward, const struct logstore_line_hint *hint,
                     uint64_t limit, struct query_log_iter **out)
{
    return query_log_select_filtered(j, ms, n, start_ns, end_ns, backward, hint, limit, NULL, out);
}

int query_log_select_filtered(struct query_job *j, const struct matcher *ms, size_t n,
                              int64_t start_ns, int64_t end_ns, bool backward,
                              const struct logstore_line_hint *hint, uint64_t limit,
                              struct logql_pipeline *pipeline, struct query_log_iter **out)
{
    if (n == 0)
        return ERR_INVALID;
    struct query_spec spec = {.kind = QK_LOG_SELECT,
                              .start_ns = start_ns,
                              .end_ns = end_ns,
                              .backward = backward,
                              .limit = (int64_t)(limit > INT64_MAX ? 0 : limit)};
    const struct matcher *sets[1] = {ms};
    size_t lens[1] = {n};
    struct query_matchsets m = {sets, lens, 1};
    struct query_log_iter *it = calloc(1, sizeof *it);
    if (it)
        it->in = calloc(j->q->nshards, sizeof *it->in);
    int rc = it && it->in ? query_spec_matchers(&spec, &m, j->tenant) : ERR_NOMEM;
    if (!rc)
        rc = spec_hint(&spec, hint);
    if (rc) {
        query_spec_free(&spec);
        if (it)
            free(it->in);
        free(it);
        return rc;
    }
    it->job = j;
    it->n = j->q->nshards;
    it->backward = backward;
    it->last = -1;
    it->clones = clones_new(pipeline, it->n);
    spec.prefilter = it->clones;
    it->fan = query_fan_start(j, &spec);
    if (!it->fan) {
        clones_free(it->clones, it->n);
        free(it->in);
        free(it);
        return ERR_NOMEM;
    }
    *out = it;
    return 0;
}

/* Positions shard i on its next piece (blocking); 0 or an error. */
static int fill(struct query_log_iter *it, uint32_t i)
{
    struct shard_in *s = &it->in[i];
    if (s->cur) {
        query_fan_give_back(it->fan, s->cur);
        s->cur = NULL;
    }
    struct query_piece *p;
    int owner_rc = 0;
    int rc = query_fan_next(it->fan, i, &p, &owner_rc);
    if (rc == 1) {
        s->cur = p;
        s->idx = 0;
        it->moved += p->bytes;
        return 0;
    }
    s->end = true;
    return rc == 0 ? owner_rc : rc;
}

static const struct query_log_pentry *head_of(const struct shard_in *s)
{
    return s->cur ? &s->cur->u.entries[s->idx] : NULL;
}

/* Does a come before b (a and b from different shards)? */
#define TIE_LABELS_MAX 64

/* ls with {__tenant__=tenant} put back at its sorted place, into out (n + 1 slots). */
static size_t with_tenant(const struct label *ls, size_t n, struct str tenant, struct label *out)
{
    struct str name = STR_LIT(VALIDATE_TENANT_LABEL);
    size_t k = 0, i = 0;
    while (i < n && str_cmp(ls[i].name, name) < 0)
        out[k++] = ls[i++];
    out[k++] = (struct label){name, tenant};
    while (i < n)
        out[k++] = ls[i++];
    return k;
}

/* The owners order streams by their full label sets, __tenant__ included (a label name sorting
 * before it, e.g. "A" or "_a", makes that differ from the order without it): compare the same. */
static int tie_cmp(const struct query_log_iter *it, const struct query_log_pstream *x,
                   const struct query_log_pstream *y)
{
    if (x->n_labels >= TIE_LABELS_MAX || y->n_labels >= TIE_LABELS_MAX)
        return labels_cmp(x->labels, x->n_labels, y->labels, y->n_labels);
    struct label a[TIE_LABELS_MAX], b[TIE_LABELS_MAX];
    struct str t = it->job->tenant;
    size_t na = with_tenant(x->labels, x->n_labels, t, a);
    size_t nb = with_tenant(y->labels, y->n_labels, t, b);
    return labels_cmp(a, na, b, nb);
}

static bool before(const struct query_log_iter *it, const struct shard_in *sa,
                   const struct shard_in *sb)
{
    const struct query_log_pentry *a = head_of(sa), *b = head_of(sb);
    if (a->ts_ns != b->ts_ns)
        return it->backward ? a->ts_ns > b->ts_ns : a->ts_ns < b->ts_ns;
    const struct query_log_pstream *x = &sa->cur->lstreams[a->stream];
    const struct query_log_pstream *y = &sb->cur->lstreams[b->stream];
    return tie_cmp(it, x, y) < 0;
}

static int advance(struct query_log_iter *it)
{
    if (!it->started) {
        it->started = true;
        for (uint32_t i = 0; i < it->n; i++) {
            int rc = fill(it, i);
            if (rc)
                return rc;
        }
        return 0;
    }
    if (it->last < 0)
        return 0;
    struct shard_in *s = &it->in[it->last];
    if (++s->idx < s->cur->n)
        return 0;
    return fill(it, (uint32_t)it->last);
}

int query_log_iter_next(struct query_log_iter *it)
{
    if (it->err)
        return it->err;
    int rc = advance(it);
    if (rc)
        return it->err = rc;
    long best = -1;
    for (uint32_t i = 0; i < it->n; i++)
        if (it->in[i].cur && (best < 0 || before(it, &it->in[i], &it->in[best])))
            best = (long)i;
    it->last = best;
    if (best < 0)
        return 0;
    const struct shard_in *s = &it->in[best];
    const struct query_log_pentry *e = head_of(s);
    const struct query_log_pstream *st = &s->cur->lstreams[e->stream];
    it->at = (struct query_log_entry){st->labels, st->n_labels, e->ts_ns, e->line, e->md, e->n_md};
    it->entries++;
    it->bytes += e->line.len;
    return 1;
}

const struct query_log_entry *query_log_iter_at(const struct query_log_iter *it)
{
    return &it->at;
}

static void add_stats(struct query_log_stats *o, const struct logstore_select_stats *s)
{
    o->owner_entries += s->entries;
    o->streams += s->streams;
    o->chunks += s->chunks;
    o->chunks_opened += s->chunks_opened;
    o->chunks_skipped_hint += s->chunks_skipped_hint;
    o->bytes_decompressed += s->bytes_decompressed;
    o->head_entries += s->head_entries;
    o->duplicates += s->duplicates;
}

/* Stops the owners still working and waits (bounded) until each sent its final reply: then no
 * owner uses a pipeline clone any more and every owner's figures arrived. False when an owner did
 * not answer in time. */
static bool owners_stopped(struct query_fan *f, struct query_job *job)
{
    struct query_shard *q = f->q;
    atomic_store(&f->cancel, 1);
    int64_t now = clock_mono_ns();
    int64_t deadline = now + CLONE_WAIT_NS;
    bool short_wait = false;
    pthread_mutex_lock(&q->lock);
    while (f->owners_left > 0 && (now = clock_mono_ns()) < deadline) {
        if (!short_wait && atomic_load(&job->canceled)) {
            short_wait = true;
            if (now + CLONE_WAIT_CANCELED_NS < deadline)
                deadline = now + CLONE_WAIT_CANCELED_NS;
        }
        int64_t t = clock_mono_ns() + 2000000; /* the job's condition, or 2 ms */
        struct timespec ts = {.tv_sec = t / 1000000000, .tv_nsec = t % 1000000000};
        pthread_cond_timedwait(&job->cond, &q->lock, &ts);
    }
    bool ok = f->owners_left == 0;
    pthread_mutex_unlock(&q->lock);
    return ok;
}

/* The owners' figures of a fan-out (those whose final reply arrived). */
static void owner_stats(struct query_fan *f, uint32_t n, struct query_log_stats *out)
{
    struct query_shard *q = f->q;
    pthread_mutex_lock(&q->lock);
    for (uint32_t i = 0; i < n; i++) {
        if (!f->streams[i].done)
            continue;
        out->shards_done++;
        add_stats(out, &f->reqs[i].lstats);
        out->scanned_entries += f->reqs[i].scanned_entries;
        out->scanned_bytes += f->reqs[i].scanned_bytes;
    }
    pthread_mutex_unlock(&q->lock);
}

void query_log_iter_stats(const struct query_log_iter *it, struct query_log_stats *out)
{
    memset(out, 0, sizeof *out);
    out->entries = it->entries;
    out->bytes = it->bytes;
    out->moved_bytes = it->moved;
    owner_stats(it->fan, it->n, out);
}

void query_log_iter_stop(struct query_log_iter *it)
{
    if (it->stopped)
        return;
    it->stopped = true;
    for (uint32_t i = 0; i < it->n; i++) {
        if (it->in[i].cur)
            query_fan_give_back(it->fan, it->in[i].cur);
        it->in[i].cur = NULL;
        it->in[i].end = true;
    }
    it->last = -1;
    if (!it->err)
        it->err = -ECANCELED; /* _next after a stop */
    /* wait (bounded) for every owner's final reply: their log store selects are closed, their
     * figures complete, and no pre-filter clone is in use any more */
    it->stop_ok = owners_stopped(it->fan, it->job);
}

void query_log_iter_close(struct query_log_iter *it)
{
    if (!it)
        return;
    query_log_iter_stop(it);
    metrics_loki_query_add(it->moved, 0);
    if (!it->stop_ok && it->clones) {
        log_warn("log selection closed while an owner still runs its pre-filter; leaking it");
        it->clones = NULL;
    }
    query_fan_close(it->fan);
    clones_free(it->clones, it->n);
    free(it->in);
    free(it);
}

void query_log_stats_add(struct query_log_stats *t, const struct query_log_stats *s)
{
    t->entries += s->entries;
    t->bytes += s->bytes;
    t->owner_entries += s->owner_entries;
    t->streams += s->streams;
    t->chunks += s->chunks;
    t->chunks_opened += s->chunks_opened;
    t->chunks_skipped_hint += s->chunks_skipped_hint;
    t->bytes_decompressed += s->bytes_decompressed;
    t->head_entries += s->head_entries;
    t->duplicates += s->duplicates;
    t->shards_done += s->shards_done;
    t->scanned_entries += s->scanned_entries;
    t->scanned_bytes += s->scanned_bytes;
    t->moved_bytes += s->moved_bytes;
    t->partial_ranges += s->partial_ranges;
}

/* ---- partial range aggregation ---- */

struct range_in {
    struct query_piece *cur;
    size_t step; /* the next step record of cur */
    bool end;
};

struct query_log_range {
    struct query_job *job;
    struct query_fan *fan;
    uint32_t n;
    struct range_in *in;
    struct logql_range_req req;
    struct logql_pipeline **clones; /* [n] */
    struct logql_partial_sample *buf;
    size_t cap;
    int err;
    uint64_t moved, scanned, scanned_bytes, kept; /* the last three: not yet handed out */
};

static void range_free(struct query_log_range *r)
{
    clones_free(r->clones, r->n);
    free(r->in);
    free(r->buf);
    free(r);
}

int query_log_range_open(struct query_job *j, const struct logql_range_req *req,
                         struct query_log_range **out)
{
    const struct logql_select_req *sel = &req->sel;
    if (sel->n_matchers == 0 || !sel->pipeline)
        return ERR_INVALID;
    struct query_log_range *r = calloc(1, sizeof *r);
    uint32_t n = j->q->nshards;
    if (!r || !(r->in = calloc(n, sizeof *r->in)) || !(r->clones = calloc(n, sizeof *r->clones))) {
        if (r)
            free(r->in);
        free(r);
        return ERR_NOMEM;
    }
    r->job = j;
    r->n = n;
    r->req = *req;
    int rc = 0;
    for (uint32_t i = 0; i < n && !rc; i++)
        rc = logql_pipeline_clone(sel->pipeline, &r->clones[i]);
    struct query_spec spec = {.kind = QK_LOG_SELECT,
                              .start_ns = sel->start_ns,
                              .end_ns = sel->end_ns,
                              .range = &r->req,
                              .range_pl = r->clones};
    const struct matcher *sets[1] = {sel->matchers};
    size_t lens[1] = {sel->n_matchers};
    struct query_matchsets m = {sets, lens, 1};
    struct logstore_line_hint h = {sel->contains, sel->n_contains};
    if (!rc)
        rc = query_spec_matchers(&spec, &m, j->tenant);
    if (!rc)
        rc = spec_hint(&spec, sel->n_contains ? &h : NULL);
    if (rc) {
        query_spec_free(&spec);
        range_free(r);
        return rc;
    }
    if (!(r->fan = query_fan_start(j, &spec))) {
        range_free(r);
        return ERR_NOMEM;
    }
    *out = r;
    return 0;
}

/* Moves shard i to its next piece (blocking): 0 (maybe at its end) or an error. */
static int range_fill(struct query_log_range *r, uint32_t i)
{
    struct range_in *s = &r->in[i];
    if (s->cur)
        query_fan_give_back(r->fan, s->cur);
    s->cur = NULL;
    struct query_piece *p;
    int owner_rc = 0;
    int rc = query_fan_next(r->fan, i, &p, &owner_rc);
    if (rc == 1) {
        s->cur = p;
        s->step = 0;
        r->moved += p->bytes;
        r->scanned += p->range_scanned;
        r->scanned_bytes += p->range_scanned_bytes;
        r->kept += p->range_kept;
        return 0;
    }
    s->end = true;
    return rc == 0 ? owner_rc : rc;
}

static int range_append(struct query_log_range *r, const struct query_piece *p,
                        const struct query_log_pstep *st, size_t *n)
{
    if (*n + st->n > r->cap) {
        size_t cap = r->cap ? r->cap : 64;
        while (cap < *n + st->n)
            cap *= 2;
        struct logql_partial_sample *b = realloc(r->buf, cap * sizeof *b);
        if (!b)
            return ERR_NOMEM;
        r->buf = b;
        r->cap = cap;
    }
    for (uint32_t k = 0; k < st->n; k++) {
        const struct query_log_ppartial *pp = &p->u.partials[st->first + k];
        const struct query_log_pstream *ls = &p->lstreams[pp->series];
        r->buf[(*n)++] =
            (struct logql_partial_sample){ls->labels, ls->n_labels, ls, {pp->count, pp->v}};
    }
    return 0;
}

/* Appends shard i's partials of step t (none when the shard ended without it). */
static int range_shard_step(struct query_log_range *r, uint32_t i, int64_t t, size_t *n)
{
    struct range_in *s = &r->in[i];
    while (!s->end) {
        if (!s->cur || s->step >= s->cur->n_steps) {
            int rc = range_fill(r, i);
            if (rc)
                return rc;
            continue;
        }
        const struct query_log_pstep *st = &s->cur->steps[s->step];
        if (st->t_ns > t)
            return 0;
        s->step++;
        if (st->t_ns == t)
            return range_append(r, s->cur, st, n);
    }
    return 0;
}

int query_log_range_next(struct query_log_range *r, int64_t t_ns, struct logql_partial_vec *out)
{
    memset(out, 0, sizeof *out);
    if (r->err)
        return r->err;
    size_t n = 0;
    for (uint32_t i = 0; i < r->n; i++) {
        int rc = range_shard_step(r, i, t_ns, &n);
        if (rc)
            return r->err = rc;
    }
    out->s = r->buf;
    out->n = n;
    out->entries_scanned = r->scanned;
    out->bytes_scanned = r->scanned_bytes;
    out->entries_kept = r->kept;
    r->scanned = r->scanned_bytes = r->kept = 0;
    return 0;
}

void query_log_range_close(struct query_log_range *r, struct query_log_stats *stats)
{
    if (!r)
        return;
    for (uint32_t i = 0; i < r->n; i++) {
        if (r->in[i].cur)
            query_fan_give_back(r->fan, r->in[i].cur);
        r->in[i].cur = NULL;
    }
    bool ok = owners_stopped(r->fan, r->job);
    metrics_loki_query_add(r->moved, 1);
    if (stats) {
        struct query_log_stats st = {.moved_bytes = r->moved, .partial_ranges = 1};
        owner_stats(r->fan, r->n, &st);
        query_log_stats_add(stats, &st);
    }
    query_fan_close(r->fan);
    if (!ok) { /* the owner still reads r->req and its clone: leave both behind */
        log_warn("partial range aggregation closed while an owner still runs it; leaking it");
        return;
    }
    range_free(r);
}

/* ---- label names and values ---- */

static int log_strings(struct query_job *j, enum query_kind kind, struct str name,
                       const struct matcher *ms, size_t n, int64_t start_ns, int64_t end_ns,
                       struct querier_strings *out)
{
    out->v = NULL;
    out->n = 0;
    struct query_spec spec = {.kind = kind, .start_ns = start_ns, .end_ns = end_ns};
    const struct matcher *sets[1] = {ms};
    size_t lens[1] = {n};
    struct query_matchsets m = {sets, lens, n ? 1 : 0};
    int rc = query_spec_matchers(&spec, &m, j->tenant);
    if (!rc && name.len) {
        char *nb = malloc(name.len);
        if (nb) {
            memcpy(nb, name.ptr, name.len);
            spec.name = (struct str){nb, name.len};
        } else {
            rc = ERR_NOMEM;
        }
    }
    if (rc) {
        query_spec_free(&spec);
        return rc;
    }
    return query_gather_strings(j, &spec, out);
}

int query_log_label_names(struct query_job *j, const struct matcher *ms, size_t n, int64_t start_ns,
                          int64_t end_ns, struct querier_strings *out)
{
    return log_strings(j, QK_LOG_NAMES, (struct str){NULL, 0}, ms, n, start_ns, end_ns, out);
}

int query_log_label_values(struct query_job *j, struct str name, const struct matcher *ms, size_t n,
                           int64_t start_ns, int64_t end_ns, struct querier_strings *out)
{
    if (name.len == 0) {
        out->v = NULL;
        out->n = 0;
        return 0;
    }
    return log_strings(j, QK_LOG_VALUES, name, ms, n, start_ns, end_ns, out);
}

/* ---- series and index statistics ---- */

struct series_acc {
    struct logstore_stream_stats *v;
    size_t n, cap;
    struct arena arena;
    int64_t max;
};

static int acc_piece(struct series_acc *a, const struct query_piece *p)
{
    for (size_t i = 0; i < p->n; i++) {
        if (a->max > 0 && a->n >= (size_t)a->max)
            return ERR_LIMIT;
        if (a->n == a->cap) {
            size_t ncap = a->cap ? a->cap * 2 : 256;
            void *nv = realloc(a->v, ncap * sizeof *a->v);
            if (!nv)
                return ERR_NOMEM;
            a->v = nv;
            a->cap = ncap;
        }
        const struct logstore_stream_stats *in = &p->u.sst[i];
        struct label *ls = arena_alloc(&a->arena, (in->n_labels ? in->n_labels : 1) * sizeof *ls);
        if (!ls)
            return ERR_NOMEM;
        size_t unused = 0;
        for (size_t k = 0; k < in->n_labels; k++) {
            ls[k].name = query_dup_str(&a->arena, in->labels[k].name, &unused);
            ls[k].value = query_dup_str(&a->arena, in->labels[k].value, &unused);
            if (!ls[k].name.ptr || !ls[k].value.ptr)
                return ERR_NOMEM;
        }
        a->v[a->n] = *in;
        a->v[a->n].labels = ls;
        a->n++;
    }
    return 0;
}

static int sst_cmp(const void *x, const void *y)
{
    const struct logstore_stream_stats *a = x, *b = y;
    return labels_cmp(a->labels, a->n_labels, b->labels, b->n_labels);
}

/* Reads every shard's pieces in turn (owners wait for credit meanwhile). */
static int collect_series(struct query_job *j, struct query_fan *f, struct series_acc *a)
{
    int rc = 0;
    for (uint32_t i = 0; i < j->q->nshards && rc == 0; i++) {
        for (;;) {
            struct query_piece *p;
            int owner_rc = 0;
            int r = query_fan_next(f, i, &p, &owner_rc);
            if (r == 1) {
                rc = acc_piece(a, p);
                query_fan_give_back(f, p);
                if (rc)
                    break;
                continue;
            }
            rc = r == 0 ? owner_rc : r;
            break;
        }
    }
    return rc;
}

struct series_mem {
    struct arena arena;
    struct logstore_stream_stats *v;
};

int query_log_series(struct query_job *j, const struct query_matchsets *ms, int64_t start_ns,
                     int64_t end_ns, struct query_log_series *out)
{
    memset(out, 0, sizeof *out);
    struct query_spec spec = {.kind = QK_LOG_SERIES, .start_ns = start_ns, .end_ns = end_ns};
    int rc = query_spec_matchers(&spec, ms, j->tenant);
    if (rc) {
        query_spec_free(&spec);
        return rc;
    }
    struct query_fan *f = query_fan_start(j, &spec);
    if (!f)
        return ERR_NOMEM;
    struct series_acc a = {.max = j->q->cfg.max_series};
    arena_init(&a.arena, 64 * 1024);
    rc = collect_series(j, f, &a);
    query_fan_close(f);
    struct series_mem *mem = rc ? NULL : malloc(sizeof *mem);
    if (!mem) {
        arena_deinit(&a.arena);
        free(a.v);
        return rc ? rc : ERR_NOMEM;
    }
    if (a.n > 1)
        qsort(a.v, a.n, sizeof *a.v, sst_cmp);
    size_t u = 0;
    for (size_t i = 0; i < a.n; i++)
        if (u == 0 || sst_cmp(&a.v[u - 1], &a.v[i]) != 0)
            a.v[u++] = a.v[i];
    mem->arena = a.arena;
    mem->v = a.v;
    *out = (struct query_log_series){a.v, u, mem};
    return 0;
}

void query_log_series_free(struct query_log_series *s)
{
    struct series_mem *mem = s->mem;
    if (mem) {
        arena_deinit(&mem->arena);
        free(mem->v);
        free(mem);
    }
    memset(s, 0, sizeof *s);
}

int query_log_index_stats(struct query_job *j, const struct matcher *ms, size_t n, int64_t start_ns,
                          int64_t end_ns, struct logstore_index_stats *out)
{
    memset(out, 0, sizeof *out);
    const struct matcher *sets[1] = {ms};
    size_t lens[1] = {n};
    struct query_matchsets m = {sets, lens, 1};
    struct query_log_series s;
    int rc = query_log_series(j, &m, start_ns, end_ns, &s);
    if (rc)
        return rc;
    out->streams = s.n;
    for (size_t i = 0; i < s.n; i++) {
        out->chunks += s.v[i].chunks;
        out->entries += s.v[i].entries;
        out->bytes += s.v[i].bytes;
    }
    query_log_series_free(&s);
    return 0;
}
