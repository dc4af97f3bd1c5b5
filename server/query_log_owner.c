/* Fan-outs over the log store, owner side (query.h "log fan-outs"): a QK_LOG_SELECT cursor keeps a
 * log store select open and copies its entries, in the select's time order, into self-contained
 * pieces of about piece_bytes (each piece carries the label sets of the streams its entries
 * belong to, without __tenant__, once per piece), stopping after spec.limit entries when set; a
 * pre-filter of the query's pipeline, when the consumer gave this shard a clone of it, drops lines
 * before they are copied (and bounds the step by the bytes read, not copied); a
 * QK_LOG_SERIES cursor takes each matcher set's stream statistics (logstore_series) and copies
 * them into pieces. Both run in the bounded steps and with the credit of query_owner.c, whose step
 * loop calls them. */
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "engine/logql/exec.h"
#include "server/query_internal.h"

#define SERIES_PIECE_MAX 4096        /* stream statistics per QK_LOG_SERIES piece (at most) */
#define ENTRY_OVERHEAD   32          /* budget bytes charged per entry beyond its strings */
#define FIRST_PIECE      (64 * 1024) /* pieces ramp up from this to piece_bytes */

struct log_owner {
    /* QK_LOG_SELECT */
    void *it;
    uint64_t sent;
    uint64_t scanned, scanned_bytes; /* entries read, before the pre-filter */
    uint32_t gen;                    /* the piece being filled (stream map generation) */
    uint32_t *map_gen, *map_idx; /* select stream index -> piece stream index (when gen matches) */
    size_t map_cap;
    size_t ent_cap, str_cap; /* capacities of the current piece's heap arrays */
    /* QK_LOG_SERIES */
    struct logstore_stream_stats *ser;
    size_t ser_n, ser_pos, set, set_off;
};

void query_log_owner_free(struct query_shard *q, struct query_cursor *c)
{
    struct log_owner *o = c->log;
    if (!o)
        return;
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
    if (o) {
        r->scanned_entries = o->scanned;
        r->scanned_bytes = o->scanned_bytes;
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

static int open_select(struct query_shard *q, struct query_cursor *c, struct log_owner *o)
{
    const struct query_spec *s = c->spec;
    struct logstore_line_hint h = {s->contains, s->n_contains};
    return q->log_ops->select(q->log_store, s->matchers, s->lens[0], s->start_ns, s->end_ns,
                              s->backward, s->n_contains ? &h : NULL, &o->it);
}

/* One piece of entries. */
static size_t step_select(struct query_shard *q, struct query_cursor *c, struct log_owner *o,
                          bool *done, int *rc)
{
    const struct query_spec *s = c->spec;
    if (!o->it && (*rc = open_select(q, c, o)) != 0) {
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
    struct logql_pipeline *pf = s->prefilter ? s->prefilter[q->self] : NULL;
    /* small first pieces: a consumer that needs few entries (a limit) gets them sooner, and
     * fewer are copied in vain before it closes */
    uint64_t target = s->piece_bytes;
    if (c->pieces < 8 && ((uint64_t)FIRST_PIECE << c->pieces) < target)
        target = (uint64_t)FIRST_PIECE << c->pieces;
    size_t read = 0; /* line bytes read this step (filtered out ones too) */
    while (p->bytes < target && read < 2 * target) {
        if (s->limit > 0 && o->sent >= (uint64_t)s->limit) {
            *done = true;
            break;
        }
        int r = q->log_ops->next(o->it);
        if (r != 1) {
            *rc = r;
            *done = true;
            break;
        }
        const struct logstore_entry *e = q->log_ops->at(o->it);
        o->scanned++;
        o->scanned_bytes += e->line.len;
        read += e->line.len + ENTRY_OVERHEAD;
        if (pf && !logql_pipeline_prefilter(pf, e->line))
            continue;
        if ((r = copy_entry(o, p, e)) != 0) {
            *rc = r;
            *done = true;
            break;
        }
        o->sent++;
    }
    size_t bytes = p->bytes > read ? p->bytes : read;
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
    if (c->spec->kind == QK_LOG_SELECT)
        return step_select(q, c, o, done, rc);
    return step_series(q, c, o, done, rc);
}
