/* Fan-outs over the log store, owner side (query.h "log fan-outs"): a QK_LOG_SELECT cursor keeps a
 * log store select open and copies its entries, in the select's time order, into self-contained
 * pieces of about piece_bytes (each piece carries the label sets of the streams its entries
 * belong to, without __tenant__, once per piece), stopping after spec.limit entries when set; a
 * pre-filter of the query's pipeline, when the consumer gave this shard a clone of it, drops lines
 * before they are copied (and bounds the step by the bytes read, not copied): when it scans runs
 * of lines at once (prefilter_batched) the log store runs it over whole decoded blocks before its
 * cross-stream merge (logstore_select_opts.filter), else it runs here line by line; a
 * QK_LOG_SERIES cursor takes each matcher set's stream statistics (logstore_series) and copies
 * them into pieces; a QK_LOG_SELECT cursor with a range aggregation (spec.range) runs the whole
 * pipeline and the range windows over the shard's entries (logql_partial_agg, on the consumer's
 * pipeline clone) and sends per step one partial per output label set, yielding when a step's
 * read budget is spent (the store filters its lines with the same batch pre-filter). Selects are
 * opened in time order with yield_chunks: a step whose filter drops block after block ends after
 * OWNER_YIELD_CHUNKS chunks without an entry (LOGSTORE_ITER_YIELD: over, not done). All run in the
 * bounded steps and with the credit of query_owner.c, whose step loop calls them. */
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "engine/logql/eval.h"
#include "engine/logql/exec.h"
#include "server/query_internal.h"

#define SERIES_PIECE_MAX   4096        /* stream statistics per QK_LOG_SERIES piece (at most) */
#define ENTRY_OVERHEAD     32          /* budget bytes charged per entry beyond its strings */
#define FIRST_PIECE        (64 * 1024) /* pieces ramp up from this to piece_bytes */
#define OWNER_YIELD_CHUNKS 4           /* block chunks a select opens without an entry, per _next */

struct log_owner {
    /* QK_LOG_SELECT */
    void *it;
    uint64_t sent;
    uint64_t scanned, scanned_bytes; /* entries the select returned, their line bytes */
    struct logql_pipeline *filter;   /* the store runs its batch pre-filter (NULL: it does not) */
    uint64_t filt_bytes;             /* line bytes the store's filter dropped */
    uint64_t filt_sent, filt_bytes_sent; /* of those (and of `filtered`), reported in pieces */
    uint32_t gen;                        /* the piece being filled (stream map generation) */
    uint32_t *map_gen, *map_idx; /* select stream index -> piece stream index (when gen matches) */
    size_t map_cap;
    size_t ent_cap, str_cap; /* capacities of the current piece's heap arrays */
    /* QK_LOG_SERIES */
    struct logstore_stream_stats *ser;
    size_t ser_n, ser_pos, set, set_off;
    /* QK_LOG_SELECT with a range aggregation */
    struct query_shard *q;
    struct query_cursor *c;
    struct logql_partial_agg *agg;
    uint64_t used, budget;   /* bytes read this turn, and the turn's bound */
    struct label *lbuf, *md; /* the entry's stream labels without __tenant__; sorted metadata */
    size_t lbuf_cap, md_cap;
    const void **key; /* label set key -> piece label set (when key_gen matches) */
    uint32_t *key_gen, *key_idx;
    size_t key_cap, key_n, step_cap;
    uint64_t pend_scanned, pend_bytes, pend_kept; /* not yet reported in a piece */
};

void query_log_owner_free(struct query_shard *q, struct query_cursor *c)
{
    struct log_owner *o = c->log;
    if (!o)
        return;
    logql_partial_agg_destroy(o->agg);
    free(o->lbuf);
    free(o->md);
    free(o->key);
    free(o->key_gen);
    free(o->key_idx);
    if (o->it)
        q->log_ops->close(o->it);
    free(o->map_gen);
    free(o->map_idx);
    free(o->ser);
    free(o);
    c->log = NULL;
}

void query_log_owner_final(struct query_shard *q, struct query_cursor *c, struct query_req *r)
{
    struct log_owner *o = c->log;
    if (o && o->it)
        q->log_ops->stats(o->it, &r->lstats);
    if (o) { /* what the store read: returned, and dropped by its filter */
        r->scanned_entries = o->scanned + (o->it ? r->lstats.filtered : 0);
        r->scanned_bytes = o->scanned_bytes + o->filt_bytes;
    }
}

static struct log_owner *owner_state(struct query_cursor *c)
{
    if (!c->log)
        c->log = calloc(1, sizeof(struct log_owner));
    return c->log;
}

static bool is_tenant(struct str name)
{
    return str_eq_cstr(name, VALIDATE_TENANT_LABEL);
}

/* Copies ls without __tenant__ into the piece arena. */
static int copy_labels(struct query_piece *p, const struct label *ls, size_t n,
                       const struct label **out, size_t *n_out)
{
    struct label *v = arena_alloc(&p->arena, (n ? n : 1) * sizeof *v);
    if (!v)
        return ERR_NOMEM;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (is_tenant(ls[i].name))
            continue;
        v[k].name = query_dup_str(&p->arena, ls[i].name, &p->bytes);
        v[k].value = query_dup_str(&p->arena, ls[i].value, &p->bytes);
        if (!v[k].name.ptr || !v[k].value.ptr)
            return ERR_NOMEM;
        k++;
    }
    p->bytes += k * sizeof *v;
    *out = v;
    *n_out = k;
    return 0;
}

static int grow(void **v, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return 0;
    size_t ncap = *cap ? *cap * 2 : 64;
    while (ncap < need)
        ncap *= 2;
    void *nv = realloc(*v, ncap * size);
    if (!nv)
        return ERR_NOMEM;
    *v = nv;
    *cap = ncap;
    return 0;
}

/* The piece's index of the entry's stream, adding the stream to the piece when new to it. */
static int piece_stream(struct log_owner *o, struct query_piece *p, const struct logstore_entry *e,
                        uint32_t *idx)
{
    size_t need = (size_t)e->stream + 1;
    if (need > o->map_cap) {
        size_t ncap = o->map_cap ? o->map_cap : 64;
        while (ncap < need)
            ncap *= 2;
        uint32_t *g = realloc(o->map_gen, ncap * sizeof *g);
        if (g)
            o->map_gen = g;
        uint32_t *x = g ? realloc(o->map_idx, ncap * sizeof *x) : NULL;
        if (!g || !x)
            return ERR_NOMEM;
        o->map_idx = x;
        memset(g + o->map_cap, 0, (ncap - o->map_cap) * sizeof *g);
        o->map_cap = ncap;
    }
    if (o->map_gen[e->stream] == o->gen) {
        *idx = o->map_idx[e->stream];
        return 0;
    }
    if (grow(&p->heap2, &o->str_cap, p->n_lstreams + 1, sizeof *p->lstreams))
        return ERR_NOMEM;
    p->lstreams = p->heap2;
    struct query_log_pstream *ps = &p->lstreams[p->n_lstreams];
    int rc = copy_labels(p, e->labels, e->n_labels, &ps->labels, &ps->n_labels);
    if (rc)
        return rc;
    o->map_gen[e->stream] = o->gen;
    o->map_idx[e->stream] = (uint32_t)p->n_lstreams;
    *idx = (uint32_t)p->n_lstreams++;
    return 0;
}

static int copy_entry(struct log_owner *o, struct query_piece *p, const struct logstore_entry *e)
{
    if (grow(&p->heap, &o->ent_cap, p->n + 1, sizeof *p->u.entries))
        return ERR_NOMEM;
    p->u.entries = p->heap;
    struct query_log_pentry *d = &p->u.entries[p->n];
    int rc = piece_stream(o, p, e, &d->stream);
    if (rc)
        return rc;
    d->ts_ns = e->ts_ns;
    d->line = query_dup_str(&p->arena, e->line, &p->bytes);
    if (!d->line.ptr)
        return ERR_NOMEM;
    d->md = NULL;
    d->n_md = 0;
    if (e->n_md) {
        struct label *md = arena_alloc(&p->arena, e->n_md * sizeof *md);
        if (!md)
            return ERR_NOMEM;
        for (size_t i = 0; i < e->n_md; i++) {
            md[i].name = query_dup_str(&p->arena, e->md[i].name, &p->bytes);
            md[i].value = query_dup_str(&p->arena, e->md[i].value, &p->bytes);
            if (!md[i].name.ptr || !md[i].value.ptr)
                return ERR_NOMEM;
        }
        d->md = md;
        d->n_md = (uint32_t)e->n_md;
    }
    p->bytes += ENTRY_OVERHEAD;
    p->n++;
    return 0;
}

/* The store's batch line filter: the pipeline's pre-filter over a decoded block's lines; what it
 * drops is charged to the turn's read budget. */
static size_t owner_filter(void *arg, const struct str *lines, size_t n, uint64_t *keep)
{
    struct log_owner *o = arg;
    size_t kept = logql_pipeline_prefilter_block(o->filter, lines, n, keep);
    uint64_t dropped = 0;
    for (size_t i = 0; i < n; i++)
        if (!(keep[i / 64] >> (i % 64) & 1))
            dropped += lines[i].len;
    o->filt_bytes += dropped;
    o->used += dropped + (n - kept) * ENTRY_OVERHEAD;
    return kept;
}

/* True when pl's pre-filter can run in the store (over runs of lines at once). */
static bool store_can_filter(struct logql_pipeline *pl)
{
    if (!pl || !logql_pipeline_has_prefilter(pl))
        return false;
    struct logql_pipeline_info info;
    logql_pipeline_info(pl, &info);
    return info.prefilter_batched;
}

/* Opens the select in time order (the entry consumer merges shards by time; the partial
 * aggregator needs time order per output series), with pl's pre-filter in the store when it is
 * batchable (pl may be NULL). */
static int open_select(struct query_shard *q, struct query_cursor *c, struct log_owner *o,
                       struct logql_pipeline *pl)
{
    const struct query_spec *s = c->spec;
    struct logstore_line_hint h = {s->contains, s->n_contains};
    o->filter = store_can_filter(pl) ? pl : NULL;
    struct logstore_select_opts opts = {.order = LOGSTORE_ORDER_TIME,
                                        .filter = o->filter ? owner_filter : NULL,
                                        .filter_arg = o->filter ? o : NULL,
                                        .yield_chunks = OWNER_YIELD_CHUNKS};
    return q->log_ops->select(q->log_store, s->matchers, s->lens[0], s->start_ns, s->end_ns,
                              s->backward, s->n_contains ? &h : NULL, &opts, &o->it);
}

/* One piece of entries. */
static size_t step_select(struct query_shard *q, struct query_cursor *c, struct log_owner *o,
                          bool *done, int *rc)
{
    const struct query_spec *s = c->spec;
    struct logql_pipeline *pf = s->prefilter ? s->prefilter[q->self] : NULL;
    o->used = 0; /* line bytes read this step (those filtered out too) */
    if (!o->it && (*rc = open_select(q, c, o, pf)) != 0) {
        o->it = NULL;
        *done = true;
        return 0;
    }
    struct query_piece *p = query_piece_new(q, c);
    if (!p) {
        *rc = ERR_NOMEM;
        *done = true;
        return 0;
    }
    o->gen++;
    if (o->gen == 0) { /* wrapped: forget every mapping */
        memset(o->map_gen, 0, o->map_cap * sizeof *o->map_gen);
        o->gen = 1;
    }
    o->ent_cap = o->str_cap = 0;
    /* small first pieces: a consumer that needs few entries (a limit) gets them sooner, and
     * fewer are copied in vain before it closes */
    uint64_t target = s->piece_bytes;
    if (c->pieces < 8 && ((uint64_t)FIRST_PIECE << c->pieces) < target)
        target = (uint64_t)FIRST_PIECE << c->pieces;
    while (p->bytes < target && o->used < 2 * target) {
        if (s->limit > 0 && o->sent >= (uint64_t)s->limit) {
            *done = true;
            break;
        }
        int r = q->log_ops->next(o->it);
        if (r == LOGSTORE_ITER_YIELD)
            break; /* the store's filter dropped chunk after chunk: this step is over */
        if (r != 1) {
            *rc = r;
            *done = true;
            break;
        }
        const struct logstore_entry *e = q->log_ops->at(o->it);
        o->scanned++;
        o->scanned_bytes += e->line.len;
        o->used += e->line.len + ENTRY_OVERHEAD;
        if (pf && !o->filter && !logql_pipeline_prefilter(pf, e->line))
            continue;
        if ((r = copy_entry(o, p, e)) != 0) {
            *rc = r;
            *done = true;
            break;
        }
        o->sent++;
    }
    size_t bytes = p->bytes > o->used ? p->bytes : o->used;
    if (p->n > 0 && *rc == 0)
        query_piece_send(q, c, p);
    else
        query_piece_free(p);
    return bytes;
}

/* Loads the next matcher set's streams; false when every set was read. */
static bool next_set(struct query_shard *q, struct query_cursor *c, struct log_owner *o, int *rc)
{
    const struct query_spec *s = c->spec;
    while (!o->ser && o->set < s->nsets) {
        size_t len = s->lens[o->set];
        *rc = q->log_ops->series(q->log_store, s->matchers + o->set_off, len, s->start_ns,
                                 s->end_ns, &o->ser, &o->ser_n);
        o->set_off += len;
        o->set++;
        o->ser_pos = 0;
        if (*rc) {
            o->ser = NULL;
            return false;
        }
        if (o->ser_n == 0) {
            free(o->ser);
            o->ser = NULL;
        }
    }
    return o->ser != NULL;
}

/* One piece of stream statistics. */
static size_t step_series(struct query_shard *q, struct query_cursor *c, struct log_owner *o,
                          bool *done, int *rc)
{
    if (!next_set(q, c, o, rc)) {
        *done = true;
        return 0;
    }
    size_t left = o->ser_n - o->ser_pos;
    size_t max = left < SERIES_PIECE_MAX ? left : SERIES_PIECE_MAX;
    struct query_piece *p = query_piece_new(q, c);
    if (p)
        p->u.sst = arena_alloc(&p->arena, max * sizeof *p->u.sst);
    int r = p && p->u.sst ? 0 : ERR_NOMEM;
    while (r == 0 && p->n < max && p->bytes < c->spec->piece_bytes) {
        const struct logstore_stream_stats *in = &o->ser[o->ser_pos++];
        struct logstore_stream_stats *d = &p->u.sst[p->n];
        *d = *in;
        r = copy_labels(p, in->labels, in->n_labels, &d->labels, &d->n_labels);
        p->bytes += sizeof *d;
        p->n++;
    }
    size_t bytes = p ? p->bytes : 0;
    if (r) {
        *rc = r;
        *done = true;
        if (p)
            query_piece_free(p);
        return bytes;
    }
    query_piece_send(q, c, p);
    if (o->ser_pos == o->ser_n) {
        free(o->ser);
        o->ser = NULL;
        if (o->set >= c->spec->nsets)
            *done = true;
    }
    return bytes;
}

/* ---- partial range aggregation ---- */

/* The shard's entries as a LogQL source for the aggregation: the spec's selection (the request's
 * matchers are the same, with the tenant), __tenant__ left out of the stream labels, structured
 * metadata sorted by name and unique (the first kept), LOGQL_SRC_YIELD once the turn's budget is
 * read. */
static int own_select(void *ctx, const struct logql_select_req *req, void **iter)
{
    struct log_owner *o = ctx;
    (void)req;
    int rc = open_select(o->q, o->c, o, o->c->spec->range_pl[o->q->self]);
    if (rc) {
        o->it = NULL;
        return rc;
    }
    *iter = o;
    return 0;
}

static int strip_tenant(struct log_owner *o, const struct logstore_entry *e, size_t *n_out)
{
    if (grow((void **)&o->lbuf, &o->lbuf_cap, e->n_labels + 1, sizeof *o->lbuf))
        return ERR_NOMEM;
    size_t k = 0;
    for (size_t i = 0; i < e->n_labels; i++)
        if (!is_tenant(e->labels[i].name))
            o->lbuf[k++] = e->labels[i];
    *n_out = k;
    return 0;
}

static int sort_md(struct log_owner *o, const struct label *md, size_t n, size_t *n_out)
{
    if (grow((void **)&o->md, &o->md_cap, n + 1, sizeof *o->md))
        return ERR_NOMEM;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        size_t pos = k;
        while (pos > 0 && str_cmp(o->md[pos - 1].name, md[i].name) > 0)
            pos--;
        if (pos > 0 && str_eq(o->md[pos - 1].name, md[i].name))
            continue;
        memmove(&o->md[pos + 1], &o->md[pos], (k - pos) * sizeof *o->md);
        o->md[pos] = md[i];
        k++;
    }
    *n_out = k;
    return 0;
}

static int own_next(void *iter, struct logql_entry *out)
{
    struct log_owner *o = iter;
    if (o->used >= o->budget)
        return LOGQL_SRC_YIELD;
    int r = o->q->log_ops->next(o->it);
    if (r == LOGSTORE_ITER_YIELD)
        return LOGQL_SRC_YIELD; /* chunks opened without an entry: end the turn */
    if (r != 1)
        return r;
    const struct logstore_entry *e = o->q->log_ops->at(o->it);
    o->scanned++;
    o->scanned_bytes += e->line.len;
    o->used += e->line.len + ENTRY_OVERHEAD;
    size_t n = 0, n_md = e->n_md;
    if (strip_tenant(o, e, &n))
        return ERR_NOMEM;
    *out = (struct logql_entry){.ts_ns = e->ts_ns,
                                .line = e->line,
                                .stream = o->lbuf,
                                .n_stream = n,
                                .meta = e->md,
                                .n_meta = e->n_md};
    if (n_md > 1) {
        if (sort_md(o, e->md, e->n_md, &n_md))
            return ERR_NOMEM;
        out->meta = o->md;
        out->n_meta = n_md;
    }
    return 1;
}

static void own_close(void *iter)
{
    (void)iter; /* the store select closes with the cursor (its figures go in the final reply) */
}

static const struct logql_source_ops own_ops = {
    .select = own_select, .next = own_next, .close = own_close};

static size_t key_slot(const struct log_owner *o, const void *key)
{
    size_t k = ((uintptr_t)key >> 4) * 0x9E3779B97F4A7C15ull & (o->key_cap - 1);
    while (o->key_gen[k] == o->gen && o->key[k] != key)
        k = (k + 1) & (o->key_cap - 1);
    return k;
}

/* Room for one more key of this piece (keys of older pieces are dropped on growth). */
static int key_reserve(struct log_owner *o)
{
    if ((o->key_n + 1) * 2 <= o->key_cap)
        return 0;
    size_t old_cap = o->key_cap, cap = old_cap ? old_cap * 2 : 64;
    const void **ok = o->key;
    uint32_t *og = o->key_gen, *oi = o->key_idx;
    o->key = calloc(cap, sizeof *o->key);
    o->key_gen = calloc(cap, sizeof *o->key_gen);
    o->key_idx = calloc(cap, sizeof *o->key_idx);
    int rc = o->key && o->key_gen && o->key_idx ? 0 : ERR_NOMEM;
    if (!rc) {
        o->key_cap = cap;
        for (size_t i = 0; i < old_cap; i++) {
            if (og[i] != o->gen)
                continue;
            size_t k = key_slot(o, ok[i]);
            o->key[k] = ok[i];
            o->key_gen[k] = o->gen;
            o->key_idx[k] = oi[i];
        }
    } else {
        free(o->key);
        free(o->key_gen);
        free(o->key_idx);
        o->key = ok;
        o->key_gen = og;
        o->key_idx = oi;
        return rc;
    }
    free(ok);
    free(og);
    free(oi);
    return 0;
}

/* The piece's index of a label set, copying it into the piece when new to it. */
static int piece_series(struct log_owner *o, struct query_piece *p,
                        const struct logql_partial_sample *s, uint32_t *idx)
{
    if (key_reserve(o))
        return ERR_NOMEM;
    size_t k = key_slot(o, s->key);
    if (o->key_gen[k] == o->gen) {
        *idx = o->key_idx[k];
        return 0;
    }
    if (grow(&p->heap2, &o->str_cap, p->n_lstreams + 1, sizeof *p->lstreams))
        return ERR_NOMEM;
    p->lstreams = p->heap2;
    struct query_log_pstream *ps = &p->lstreams[p->n_lstreams];
    int rc = copy_labels(p, s->labels, s->n_labels, &ps->labels, &ps->n_labels);
    if (rc)
        return rc;
    o->key[k] = s->key;
    o->key_gen[k] = o->gen;
    o->key_idx[k] = (uint32_t)p->n_lstreams;
    o->key_n++;
    *idx = (uint32_t)p->n_lstreams++;
    return 0;
}

static int add_step(struct log_owner *o, struct query_piece *p, int64_t t,
                    const struct logql_partial_vec *v)
{
    if (p->n_steps == o->step_cap) { /* steps live in the arena: double by copying */
        size_t cap = o->step_cap ? o->step_cap * 2 : 64;
        struct query_log_pstep *st = arena_alloc(&p->arena, cap * sizeof *st);
        if (!st)
            return ERR_NOMEM;
        if (p->n_steps)
            memcpy(st, p->steps, p->n_steps * sizeof *st);
        p->steps = st;
        o->step_cap = cap;
    }
    if (grow(&p->heap, &o->ent_cap, p->n + v->n + 1, sizeof *p->u.partials))
        return ERR_NOMEM;
    p->u.partials = p->heap;
    p->steps[p->n_steps++] = (struct query_log_pstep){t, (uint32_t)p->n, (uint32_t)v->n};
    for (size_t i = 0; i < v->n; i++) {
        struct query_log_ppartial *d = &p->u.partials[p->n];
        int rc = piece_series(o, p, &v->s[i], &d->series);
        if (rc)
            return rc;
        d->count = v->s[i].p.count;
        d->v = v->s[i].p.v;
        p->n++;
    }
    p->bytes += sizeof(struct query_log_pstep) + v->n * sizeof(struct query_log_ppartial);
    return 0;
}

static int range_start(struct query_shard *q, struct query_cursor *c, struct log_owner *o)
{
    const struct query_spec *s = c->spec;
    o->q = q;
    o->c = c;
    o->budget = 2 * s->piece_bytes; /* the first select may read before the first step */
    char err[256];
    return logql_partial_agg_create(s->range, s->range_pl[q->self], &own_ops, o, &o->agg, err,
                                    sizeof err);
}

/* Adds what the store's filter dropped since the last piece to the piece figures (the
 * aggregation only counts the entries it was given). */
static void range_filtered(struct query_shard *q, struct log_owner *o)
{
    if (!o->it || !o->filter)
        return;
    struct logstore_select_stats st;
    q->log_ops->stats(o->it, &st);
    if (st.filtered > o->filt_sent)
        o->pend_scanned += st.filtered - o->filt_sent;
    o->pend_bytes += o->filt_bytes - o->filt_bytes_sent;
    o->filt_sent = st.filtered > o->filt_sent ? st.filtered : o->filt_sent;
    o->filt_bytes_sent = o->filt_bytes;
}

/* Steps of the aggregation into one piece, until the piece or the turn's read budget is full. */
static size_t step_range(struct query_shard *q, struct query_cursor *c, struct log_owner *o,
                         bool *done, int *rc)
{
    const struct query_spec *s = c->spec;
    o->used = 0;
    if (!o->agg && (*rc = range_start(q, c, o)) != 0) {
        *done = true;
        return 0;
    }
    struct query_piece *p = query_piece_new(q, c);
    if (!p) {
        *rc = ERR_NOMEM;
        *done = true;
        return 0;
    }
    if (++o->gen == 0) { /* wrapped: forget every mapping */
        if (o->key_gen)
            memset(o->key_gen, 0, o->key_cap * sizeof *o->key_gen);
        o->gen = 1;
    }
    o->key_n = 0;
    o->ent_cap = o->str_cap = o->step_cap = 0;
    o->budget = 2 * s->piece_bytes;
    for (;;) {
        struct logql_partial_vec v;
        int64_t t = 0;
        int r = logql_partial_agg_next(o->agg, &t, &v);
        o->pend_scanned += v.entries_scanned;
        o->pend_bytes += v.bytes_scanned;
        o->pend_kept += v.entries_kept;
        if (r == LOGQL_SRC_YIELD)
            break;
        if (r <= 0) {
            *rc = r;
            *done = true;
            break;
        }
        if ((r = add_step(o, p, t, &v)) != 0) {
            *rc = r;
            *done = true;
            break;
        }
        if (p->bytes >= s->piece_bytes || o->used >= o->budget)
            break;
    }
    size_t bytes = p->bytes > o->used ? p->bytes : o->used;
    range_filtered(q, o);
    if (*rc == 0 && (p->n_steps > 0 || (*done && o->pend_scanned))) {
        p->range_scanned = o->pend_scanned;
        p->range_scanned_bytes = o->pend_bytes;
        p->range_kept = o->pend_kept;
        o->pend_scanned = o->pend_bytes = o->pend_kept = 0;
        query_piece_send(q, c, p);
    } else {
        query_piece_free(p);
    }
    return bytes;
}

size_t query_log_owner_step(struct query_shard *q, struct query_cursor *c, bool *done, int *rc)
{
    if (!q->log_ops || c->spec->nsets == 0) {
        *done = true; /* no log store here: no streams */
        return 0;
    }
    struct log_owner *o = owner_state(c);
    if (!o) {
        *rc = ERR_NOMEM;
        *done = true;
        return 0;
    }
    if (c->spec->kind == QK_LOG_SELECT && c->spec->range)
        return step_range(q, c, o, done, rc);
    if (c->spec->kind == QK_LOG_SELECT)
        return step_select(q, c, o, done, rc);
    return step_series(q, c, o, done, rc);
}
