/* LogQL query evaluation entry point (eval.h): log queries (Loki's readStreams: limit, direction,
 * interval, streams keyed by their label set and sorted by its text) and metric queries (the step
 * loop over the evaluator tree of eval_vec.c, joined into a vector, matrix or scalar with Loki's
 * series limit and ordering, as engine.go's JoinSampleVector does). */
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/error.h"
#include "engine/logql/eval_internal.h"

struct ev_mem {
    struct arena a;
};

size_t logql_eval_line_hint(const struct logql_selector *sel, struct str *out, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < sel->n_stages; i++) {
        const struct logql_stage *st = &sel->stages[i];
        if ((st->kind == LOGQL_STAGE_LINE_FORMAT && !st->elided) ||
            st->kind == LOGQL_STAGE_UNPACK || st->kind == LOGQL_STAGE_DECOLORIZE)
            break; /* later filters read a rewritten line */
        if (st->kind != LOGQL_STAGE_LINE_FILTER || st->line.op != LOGQL_LINE_CONTAINS ||
            st->line.n_terms != 1 || st->line.terms[0].is_ip || st->line.terms[0].value.len == 0)
            continue;
        if (n < max)
            out[n++] = st->line.terms[0].value;
    }
    return n;
}

/* ---- log queries ---- */

struct lq_stream {
    const struct ev_lset *key;
    size_t n_entries;
    struct buf text; /* Go's labels.String(), the sort key */
};

struct lq_entry {
    uint32_t stream;
    struct logql_out_entry e;
};

struct lq_state {
    struct lq_stream *st;
    size_t n_st, cap_st;
    uint32_t *slot; /* stream index + 1 by key, open addressing */
    size_t slot_cap;
    struct lq_entry *ent;
    size_t n_ent, cap_ent;
    bool have_last;
    int64_t last_ns;
};

static const struct ev_lset *stream_key(struct ev_ctx *c, const struct logql_result *r)
{
    if (!c->p->categorize_labels)
        return ev_intern(c, r->labels, r->n_labels);
    if (ev_lbuf_reserve(c, r->n_labels + 1))
        return NULL;
    size_t n = 0;
    for (size_t i = 0; i < r->n_labels; i++)
        if (r->cats[i] == LOGQL_CAT_STREAM)
            c->lbuf[n++] = r->labels[i];
    return ev_intern(c, c->lbuf, n);
}

static int cat_copy(struct ev_ctx *c, const struct logql_result *r, uint8_t cat,
                    const struct label **out, size_t *n_out)
{
    size_t n = 0;
    for (size_t i = 0; i < r->n_labels; i++)
        n += r->cats[i] == cat;
    *out = NULL;
    *n_out = 0;
    if (!n)
        return 0;
    const struct ev_lset *ls;
    if (ev_lbuf_reserve(c, n))
        return ERR_NOMEM;
    n = 0;
    for (size_t i = 0; i < r->n_labels; i++)
        if (r->cats[i] == cat)
            c->lbuf[n++] = r->labels[i];
    if (!(ls = ev_intern(c, c->lbuf, n)))
        return ERR_NOMEM;
    *out = ls->l;
    *n_out = ls->n;
    return 0;
}

static int stream_slots_grow(struct lq_state *s)
{
    size_t cap = s->slot_cap ? s->slot_cap * 2 : 64;
    uint32_t *slot = calloc(cap, sizeof *slot);
    if (!slot)
        return ERR_NOMEM;
    for (size_t i = 0; i < s->n_st; i++) {
        size_t k = s->st[i].key->hash & (cap - 1);
        while (slot[k])
            k = (k + 1) & (cap - 1);
        slot[k] = (uint32_t)i + 1;
    }
    free(s->slot);
    s->slot = slot;
    s->slot_cap = cap;
    return 0;
}

static int stream_index(struct lq_state *s, const struct ev_lset *key, uint32_t *idx)
{
    if ((s->n_st + 1) * 2 > s->slot_cap && stream_slots_grow(s))
        return ERR_NOMEM;
    size_t k = key->hash & (s->slot_cap - 1);
    for (; s->slot[k]; k = (k + 1) & (s->slot_cap - 1))
        if (s->st[s->slot[k] - 1].key == key) {
            *idx = s->slot[k] - 1;
            return 0;
        }
    if (s->n_st == s->cap_st) {
        size_t cap = s->cap_st ? s->cap_st * 2 : 16;
        struct lq_stream *n = realloc(s->st, cap * sizeof *n);
        if (!n)
            return ERR_NOMEM;
        s->st = n;
        s->cap_st = cap;
    }
    s->st[s->n_st] = (struct lq_stream){key, 0, BUF_INIT};
    *idx = (uint32_t)s->n_st++;
    s->slot[k] = *idx + 1;
    return 0;
}

static bool interval_keeps(const struct logql_eval_params *p, struct lq_state *s, int64_t ts)
{
    if (p->interval_ns <= 0 || !s->have_last || s->last_ns < 0)
        return true;
    if (p->backward)
        return ts <= ev_sat_sub(s->last_ns, p->interval_ns);
    return ts >= ev_sat_add(s->last_ns, p->interval_ns);
}

static int keep_entry(struct ev_ctx *c, struct lq_state *s, const struct logql_entry *in,
                      const struct logql_result *r)
{
    const struct ev_lset *key = stream_key(c, r);
    uint32_t idx;
    if (!key || stream_index(s, key, &idx))
        return ERR_NOMEM;
    if (s->n_ent == s->cap_ent) {
        size_t cap = s->cap_ent ? s->cap_ent * 2 : 64;
        struct lq_entry *n = realloc(s->ent, cap * sizeof *n);
        if (!n)
            return ERR_NOMEM;
        s->ent = n;
        s->cap_ent = cap;
    }
    struct lq_entry *e = &s->ent[s->n_ent];
    memset(e, 0, sizeof *e);
    e->stream = idx;
    e->e.ts_ns = in->ts_ns;
    char *line = arena_dup(c->mem, r->line.len ? r->line.ptr : "", r->line.len, 0);
    if (!line)
        return ERR_NOMEM;
    e->e.line = (struct str){line, r->line.len};
    if (c->p->categorize_labels && (cat_copy(c, r, LOGQL_CAT_META, &e->e.meta, &e->e.n_meta) ||
                                    cat_copy(c, r, LOGQL_CAT_PARSED, &e->e.parsed, &e->e.n_parsed)))
        return ERR_NOMEM;
    s->st[idx].n_entries++;
    s->n_ent++;
    s->have_last = true;
    s->last_ns = in->ts_ns;
    return 0;
}

static int read_entries(struct ev_ctx *c, struct logql_pipeline *pl, void *it, struct lq_state *s)
{
    uint32_t limit = c->p->limit;
    while (s->n_ent < limit) {
        struct logql_entry in;
        struct logql_result r;
        int rc = c->ops->next(it, &in);
        if (rc == 0)
            return 0;
        if (rc < 0)
            return ev_fail(c, rc, "reading entries: %s", err_str(rc));
        c->stats->entries_scanned++;
        c->stats->bytes_scanned += in.line.len;
        if ((rc = ev_poll(c)))
            return rc;
        if ((rc = logql_pipeline_process(pl, &in, 0, &r)) < 0)
            return rc;
        if (rc == 0 || !interval_keeps(c->p, s, in.ts_ns))
            continue;
        c->stats->entries_kept++;
        if ((rc = keep_entry(c, s, &in, &r)))
            return rc;
    }
    return 0;
}

static int cmp_stream_text(const void *pa, const void *pb)
{
    const struct lq_stream *a = *(const struct lq_stream *const *)pa;
    const struct lq_stream *b = *(const struct lq_stream *const *)pb;
    return str_cmp((struct str){(const char *)a->text.data, a->text.len},
                   (struct str){(const char *)b->text.data, b->text.len});
}

static int build_streams(struct ev_ctx *c, struct lq_state *s, struct logql_eval_result *out)
{
    struct lq_stream **order = calloc(s->n_st + 1, sizeof *order);
    struct logql_out_stream *os = arena_alloc(c->mem, (s->n_st + 1) * sizeof *os);
    size_t *fill = calloc(s->n_st + 1, sizeof *fill);
    int rc = order && os && fill ? 0 : ERR_NOMEM;
    for (size_t i = 0; i < s->n_st && !rc; i++) {
        order[i] = &s->st[i];
        rc = ev_labels_string(&s->st[i].text, s->st[i].key->l, s->st[i].key->n);
    }
    if (!rc)
        qsort(order, s->n_st, sizeof *order, cmp_stream_text);
    for (size_t i = 0; i < s->n_st && !rc; i++) {
        struct lq_stream *st = order[i];
        os[i] = (struct logql_out_stream){st->key->l, st->key->n, NULL, st->n_entries};
        os[i].entries = arena_alloc(c->mem, (st->n_entries + 1) * sizeof *os[i].entries);
        if (!os[i].entries)
            rc = ERR_NOMEM;
        st->n_entries = i; /* from here on: the output position of the stream */
    }
    for (size_t i = 0; i < s->n_ent && !rc; i++) {
        size_t pos = s->st[s->ent[i].stream].n_entries;
        os[pos].entries[fill[pos]++] = s->ent[i].e;
    }
    out->type = LOGQL_VAL_STREAMS;
    out->streams = os;
    out->n_streams = rc ? 0 : s->n_st;
    c->stats->series = out->n_streams;
    free(order);
    free(fill);
    return rc;
}

static int eval_log(struct ev_ctx *c, const struct logql_expr *e, struct logql_eval_result *out)
{
    const struct logql_eval_params *p = c->p;
    if (p->max_entries_limit > 0 && (int64_t)p->limit > p->max_entries_limit)
        return ev_fail(
            c, ERR_INVALID,
            "max entries limit per query exceeded, limit > max_entries_limit (%u > %lld)", p->limit,
            (long long)p->max_entries_limit);
    struct logql_pipeline *pl = NULL;
    int rc = logql_pipeline_compile_expr(e, NULL, &pl, c->err, c->err_size);
    if (rc)
        return rc;
    struct str hint[16];
    struct logql_select_req req = {
        .matchers = e->sel.matchers,
        .n_matchers = e->sel.n_matchers,
        .start_ns = p->start_ns,
        .end_ns = p->end_ns,
        .backward = p->backward,
        .contains = hint,
        .n_contains = logql_eval_line_hint(&e->sel, hint, 16),
        .pipeline = pl,
    };
    void *it = NULL;
    struct lq_state s = {0};
    if ((rc = c->ops->select(c->src, &req, &it)))
        rc = ev_fail(c, rc, "selecting entries: %s", err_str(rc));
    else {
        rc = read_entries(c, pl, it, &s);
        c->ops->close(it);
    }
    if (!rc)
        rc = build_streams(c, &s, out);
    for (size_t i = 0; i < s.n_st; i++)
        buf_deinit(&s.st[i].text);
    free(s.st);
    free(s.slot);
    free(s.ent);
    logql_pipeline_destroy(pl);
    return rc;
}

/* ---- entry point ---- */

static void ctx_deinit(struct ev_ctx *c)
{
    arena_deinit(&c->step);
    free(c->tab);
    free(c->lbuf);
}

int logql_eval(const struct logql_query *q, const struct logql_eval_params *p,
               const struct logql_source_ops *ops, void *ctx, struct logql_eval_result *out,
               char *err, size_t err_size)
{
    int64_t t0 = clock_mono_ns();
    memset(out, 0, sizeof *out);
    if (err && err_size)
        err[0] = 0;
    struct ev_mem *m = malloc(sizeof *m);
    if (!m)
        return ERR_NOMEM;
    arena_init(&m->a, 64 * 1024);
    struct ev_ctx c = {.p = p,
                       .ops = ops,
                       .src = ctx,
                       .mem = &m->a,
                       .stats = &out->stats,
                       .err = err,
                       .err_size = err_size};
    arena_init(&c.step, 64 * 1024);
    const struct logql_expr *e = q->root;
    int rc = e->kind == LOGQL_EXPR_LOG ? eval_log(&c, e, out) : ev_eval_metric(&c, e, out);
    ctx_deinit(&c);
    if (rc) {
        if (rc == ERR_NOMEM && err && err_size && !err[0])
            ev_fail(&c, rc, "out of memory");
        arena_deinit(&m->a);
        free(m);
        memset(out, 0, sizeof *out);
        return rc;
    }
    out->mem = m;
    out->stats.exec_ns = clock_mono_ns() - t0;
    return 0;
}

void logql_eval_result_free(struct logql_eval_result *r)
{
    struct ev_mem *m = r->mem;
    if (m) {
        arena_deinit(&m->a);
        free(m);
    }
    memset(r, 0, sizeof *r);
}
