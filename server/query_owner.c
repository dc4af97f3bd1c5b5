/* Fan-outs, owner side (query.h): each request becomes a cursor that runs on this shard's thread
 * in bounded steps (at most step_bytes of copying per loop turn over all cursors, round robin):
 * selections are copied series by series into self-contained pieces of about piece_bytes (labels
 * without __tenant__, chunk metas and bytes in the piece's arena) with at most pieces_in_flight
 * unreleased per cursor; label names/values and metadata are answered in one piece; head
 * statistics are aggregated over a few thousand series per step. A cursor checks its fan-out's
 * cancel flag and deadline before every step, then sends its final reply (the request itself)
 * after its last piece, and is freed when every piece came back. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/assert.h"
#include "base/clock.h"
#include "base/error.h"
#include "base/strmap.h"
#include "engine/tsdb/merge.h"
#include "server/ingest_internal.h"
#include "server/query_internal.h"

#define PIECE_ARENA_CHUNK  (64 * 1024)
#define STATS_SERIES_STEP  4096 /* head series aggregated per step */
#define STATS_SERIES_BYTES 64   /* budget charged per aggregated series */
#define ONE_SHOT_BYTES     4096 /* budget charged for a label or metadata answer (at least) */

/* ---- cursors ---- */

static void cursor_link(struct query_shard *q, struct query_cursor *c)
{
    c->prev = NULL;
    c->next = q->cursors;
    if (q->cursors)
        q->cursors->prev = c;
    q->cursors = c;
    q->ncursors++;
}

static void cursor_free(struct query_shard *q, struct query_cursor *c)
{
    if (q->rr == c)
        q->rr = c->next;
    if (c->prev)
        c->prev->next = c->next;
    else
        q->cursors = c->next;
    if (c->next)
        c->next->prev = c->prev;
    q->ncursors--;
    ASSERT(!c->set && !c->stats && !c->log);
    free(c);
}

void query_owner_request(struct query_shard *q, struct query_req *r)
{
    struct query_cursor *c = calloc(1, sizeof *c);
    if (!c) {
        r->rc = ERR_NOMEM;
        mesh_reply(q->mesh, q->self, &r->hdr);
        return;
    }
    c->req = r;
    c->spec = r->spec;
    cursor_link(q, c);
}

/* ---- pieces ---- */

void query_piece_free(struct query_piece *p)
{
    if (p->ex) {
        query_exemplars_result_free(p->ex);
        free(p->ex);
    }
    arena_deinit(&p->arena);
    free(p->heap);
    free(p->heap2);
    free(p);
}

struct query_piece *query_piece_new(struct query_shard *q, struct query_cursor *c)
{
    struct query_piece *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    mesh_msg_init(&p->hdr, QUERY_MSG_PIECE, q->self);
    arena_init(&p->arena, PIECE_ARENA_CHUNK);
    p->cur = c;
    p->req = c->req;
    p->shard = q->self;
    return p;
}

void query_piece_send(struct query_shard *q, struct query_cursor *c, struct query_piece *p)
{
    c->outstanding++;
    c->pieces++;
    c->series += p->n;
    q->stats.pieces_sent++;
    q->stats.series_sent += p->n;
    q->stats.bytes_sent += p->bytes;
    mesh_reply_with(q->mesh, q->self, &c->req->hdr, &p->hdr);
}

void query_owner_released(struct query_shard *q, struct query_piece *p)
{
    struct query_cursor *c = p->cur;
    query_piece_free(p);
    ASSERT(c->outstanding > 0);
    c->outstanding--;
    if (c->finished && c->outstanding == 0)
        cursor_free(q, c);
}

static void stats_free(struct query_cursor *c);

/* The final reply; the cursor lives on until its pieces came back. */
static void finish(struct query_shard *q, struct query_cursor *c, int rc)
{
    chunk_series_set_close(c->set);
    c->set = NULL;
    stats_free(c);
    struct query_req *r = c->req;
    query_log_owner_final(q, c, r);
    query_log_owner_free(q, c);
    c->finished = true;
    r->rc = rc;
    r->pieces = c->pieces;
    r->series = c->series;
    mesh_reply(q->mesh, q->self, &r->hdr);
    if (c->outstanding == 0)
        cursor_free(q, c);
}

struct str query_dup_str(struct arena *a, struct str s, size_t *bytes)
{
    if (s.len == 0)
        return (struct str){"", 0};
    char *p = arena_dup(a, s.ptr, s.len, 0);
    *bytes += s.len;
    return (struct str){p, p ? s.len : 0};
}

static bool is_tenant(struct str name)
{
    return str_eq_cstr(name, VALIDATE_TENANT_LABEL);
}

/* ---- selections ---- */

/* The union of several label-only sets (the series API's match[] sets): the smallest label set
 * of the inputs, each once. (engine/tsdb/merge.h's merge_set sorts chunks even when a series
 * present in several inputs has none; a label-only union needs none of that.) */
struct union_set {
    struct chunk_series_set base;
    struct chunk_series_set **in;
    bool *has, *step;
    size_t n;
    long cur;
    bool started;
};

static int us_next(struct chunk_series_set *base)
{
    struct union_set *u = (struct union_set *)base;
    if (u->base.err)
        return u->base.err;
    for (size_t i = 0; i < u->n; i++) {
        if (u->started && !u->step[i])
            continue;
        int rc = chunk_series_set_next(u->in[i]);
        if (rc < 0)
            return u->base.err = rc;
        u->has[i] = rc == 1;
        u->step[i] = false;
    }
    u->started = true;
    const struct chunk_series *best = NULL;
    u->cur = -1;
    for (size_t i = 0; i < u->n; i++) {
        if (!u->has[i])
            continue;
        const struct chunk_series *cs = chunk_series_set_at(u->in[i]);
        if (!best || labels_cmp(cs->labels, cs->n_labels, best->labels, best->n_labels) < 0) {
            best = cs;
            u->cur = (long)i;
        }
    }
    if (!best)
        return 0;
    for (size_t i = 0; i < u->n; i++) {
        const struct chunk_series *cs = u->has[i] ? chunk_series_set_at(u->in[i]) : NULL;
        u->step[i] = cs && labels_cmp(cs->labels, cs->n_labels, best->labels, best->n_labels) == 0;
    }
    return 1;
}

static const struct chunk_series *us_at(struct chunk_series_set *base)
{
    struct union_set *u = (struct union_set *)base;
    return chunk_series_set_at(u->in[u->cur]);
}

static void us_close(struct chunk_series_set *base)
{
    struct union_set *u = (struct union_set *)base;
    for (size_t i = 0; i < u->n; i++)
        chunk_series_set_close(u->in[i]);
    free(u->in);
    free(u->has);
    free(u->step);
    free(u);
}

static const struct chunk_series_set_ops union_set_ops = {us_next, us_at, us_close};

/* Takes the inputs (closed on failure too). */
static int union_set_create(struct chunk_series_set **in, size_t n, struct chunk_series_set **out)
{
    struct union_set *u = calloc(1, sizeof *u);
    if (u) {
        u->in = calloc(n, sizeof *u->in);
        u->has = calloc(n, sizeof *u->has);
        u->step = calloc(n, sizeof *u->step);
    }
    if (!u || !u->in || !u->has || !u->step) {
        for (size_t i = 0; i < n; i++)
            chunk_series_set_close(in[i]);
        if (u) {
            free(u->in);
            free(u->has);
            free(u->step);
        }
        free(u);
        return ERR_NOMEM;
    }
    u->base.ops = &union_set_ops;
    memcpy(u->in, in, n * sizeof *in);
    u->n = n;
    *out = &u->base;
    return 0;
}

static int open_select(struct query_shard *q, struct query_cursor *c)
{
    const struct query_spec *s = c->spec;
    struct querier_hints h = {.series_only = s->series_only};
    if (s->nsets == 1)
        return q->ops->select(q->store, s->matchers, s->lens[0], s->mint_ms, s->maxt_ms, &h,
                              &c->set);
    struct chunk_series_set **in = calloc(s->nsets, sizeof *in);
    if (!in)
        return ERR_NOMEM;
    int rc = 0;
    size_t off = 0, k = 0;
    for (; k < s->nsets && rc == 0; k++) {
        rc = q->ops->select(q->store, s->matchers + off, s->lens[k], s->mint_ms, s->maxt_ms, &h,
                            &in[k]);
        off += s->lens[k];
    }
    if (rc) {
        for (size_t i = 0; i < k; i++)
            chunk_series_set_close(in[i]);
        free(in);
        return rc;
    }
    /* both take the inputs, also on failure */
    if (s->series_only)
        rc = union_set_create(in, s->nsets, &c->set);
    else
        rc = merge_set_create(in, s->nsets, 0, &c->set);
    free(in);
    return rc;
}

static int copy_series(struct query_piece *p, size_t *cap, const struct chunk_series *cs,
                       bool series_only)
{
    if (p->n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 64;
        struct chunk_series *v = realloc(p->heap, ncap * sizeof *v);
        if (!v)
            return ERR_NOMEM;
        p->heap = v;
        p->u.series = v;
        *cap = ncap;
    }
    struct chunk_series *out = &p->u.series[p->n];
    struct label *ls = arena_alloc(&p->arena, (cs->n_labels ? cs->n_labels : 1) * sizeof *ls);
    if (!ls)
        return ERR_NOMEM;
    size_t nl = 0;
    for (size_t i = 0; i < cs->n_labels; i++) {
        if (is_tenant(cs->labels[i].name))
            continue;
        ls[nl].name = query_dup_str(&p->arena, cs->labels[i].name, &p->bytes);
        ls[nl].value = query_dup_str(&p->arena, cs->labels[i].value, &p->bytes);
        if ((!ls[nl].name.ptr) || (!ls[nl].value.ptr))
            return ERR_NOMEM;
        nl++;
    }
    *out = (struct chunk_series){.labels = ls, .n_labels = nl};
    p->bytes += sizeof *out + nl * sizeof *ls;
    if (!series_only && cs->n_chunks) {
        struct chunk_meta *cm = arena_alloc(&p->arena, cs->n_chunks * sizeof *cm);
        if (!cm)
            return ERR_NOMEM;
        for (size_t i = 0; i < cs->n_chunks; i++) {
            cm[i] = cs->chunks[i];
            cm[i].data = cs->chunks[i].len
                             ? arena_dup(&p->arena, cs->chunks[i].data, cs->chunks[i].len, 0)
                             : NULL;
            if (cs->chunks[i].len && !cm[i].data)
                return ERR_NOMEM;
            p->bytes += cm[i].len + sizeof *cm;
            p->samples += cm[i].samples;
        }
        out->chunks = cm;
        out->n_chunks = cs->n_chunks;
    }
    p->n++;
    return 0;
}

/* One piece of a selection. Returns the bytes copied; *done with *rc when the set ended. */
static size_t step_select(struct query_shard *q, struct query_cursor *c, bool *done, int *rc)
{
    const struct query_spec *s = c->spec;
    if (!c->opened) {
        c->opened = true;
        if ((*rc = open_select(q, c)) != 0) {
            *done = true;
            return 0;
        }
    }
    struct query_piece *p = query_piece_new(q, c);
    if (!p) {
        *rc = ERR_NOMEM;
        *done = true;
        return 0;
    }
    size_t cap = 0;
    while (p->bytes < s->piece_bytes) {
        int r = chunk_series_set_next(c->set);
        if (r <= 0) {
            *rc = r;
            *done = true;
            break;
        }
        if ((r = copy_series(p, &cap, chunk_series_set_at(c->set), s->series_only)) != 0) {
            *rc = r;
            *done = true;
            break;
        }
    }
    size_t bytes = p->bytes;
    if (p->n > 0 && *rc == 0)
        query_piece_send(q, c, p);
    else
        query_piece_free(p);
    return bytes;
}

/* ---- label names and values ---- */

static int label_call(struct query_shard *q, const struct query_spec *s, const struct matcher *ms,
                      size_t n, struct querier_strings *out)
{
    if (query_kind_is_log(s->kind)) {
        if (!q->log_ops) {
            *out = (struct querier_strings){NULL, 0};
            return 0;
        }
        if (s->kind == QK_LOG_NAMES)
            return q->log_ops->label_names(q->log_store, ms, n, s->start_ns, s->end_ns, out);
        return q->log_ops->label_values(q->log_store, s->name, ms, n, s->start_ns, s->end_ns, out);
    }
    if (s->kind == QK_NAMES)
        return q->ops->label_names(q->store, ms, n, s->mint_ms, s->maxt_ms, out);
    return q->ops->label_values(q->store, s->name, ms, n, s->mint_ms, s->maxt_ms, out);
}

/* The union of k sorted lists into p (copies), without __tenant__, at most max (0: all). */
static int union_into(struct query_piece *p, struct querier_strings *in, size_t k, int64_t max)
{
    size_t total = 0;
    for (size_t i = 0; i < k; i++)
        total += in[i].n;
    p->u.strs = arena_alloc(&p->arena, (total ? total : 1) * sizeof(struct str));
    size_t *pos = calloc(k ? k : 1, sizeof *pos);
    if (!p->u.strs || !pos) {
        free(pos);
        return ERR_NOMEM;
    }
    int rc = 0;
    while (rc == 0 && (max <= 0 || p->n < (size_t)max)) {
        const struct str *min = NULL;
        for (size_t i = 0; i < k; i++)
            if (pos[i] < in[i].n && (!min || str_cmp(in[i].v[pos[i]], *min) < 0))
                min = &in[i].v[pos[i]];
        if (!min)
            break;
        struct str v = *min;
        for (size_t i = 0; i < k; i++)
            if (pos[i] < in[i].n && str_eq(in[i].v[pos[i]], v))
                pos[i]++;
        struct str c = query_dup_str(&p->arena, v, &p->bytes);
        if (!c.ptr)
            rc = ERR_NOMEM;
        else
            p->u.strs[p->n++] = c;
    }
    free(pos);
    return rc;
}

static int step_labels(struct query_shard *q, struct query_cursor *c)
{
    const struct query_spec *s = c->spec;
    if ((s->kind == QK_VALUES || s->kind == QK_LOG_VALUES) && is_tenant(s->name))
        return 0; /* never reveal tenants: an empty answer */
    size_t k = s->nsets ? s->nsets : 1;
    struct querier_strings *res = calloc(k, sizeof *res);
    if (!res)
        return ERR_NOMEM;
    int rc = 0;
    size_t off = 0, done = 0;
    for (; done < k && rc == 0; done++) {
        if (s->nsets == 0)
            rc = label_call(q, s, &s->tenant_m, 1, &res[done]);
        else
            rc = label_call(q, s, s->matchers + off, s->lens[done], &res[done]);
        off += s->nsets ? s->lens[done] : 0;
    }
    struct query_piece *p = rc ? NULL : query_piece_new(q, c);
    if (!rc && !p)
        rc = ERR_NOMEM;
    if (!rc) {
        /* drop __tenant__ from names before the cap so it never takes a slot */
        for (size_t i = 0; i < k && (s->kind == QK_NAMES || s->kind == QK_LOG_NAMES); i++)
            for (size_t j = 0; j < res[i].n; j++)
                if (is_tenant(res[i].v[j])) {
                    memmove(&res[i].v[j], &res[i].v[j + 1], (res[i].n - j - 1) * sizeof *res[i].v);
                    res[i].n--;
                    break;
                }
        rc = union_into(p, res, k, s->limit > 0 ? s->limit + 1 : 0);
    }
    for (size_t i = 0; i < done; i++)
        querier_strings_free(&res[i]);
    free(res);
    if (rc) {
        if (p)
            query_piece_free(p);
        return rc;
    }
    if (p->n)
        query_piece_send(q, c, p);
    else
        query_piece_free(p);
    return 0;
}

/* ---- metadata ---- */

static int step_metadata(struct query_shard *q, struct query_cursor *c)
{
    const struct query_spec *s = c->spec;
    struct ingest_shard *ing = q->ingest;
    if (!ing)
        return 0;
    size_t total = ingest_metadata_count(ing);
    struct query_piece *p = query_piece_new(q, c);
    if (!p)
        return ERR_NOMEM;
    p->u.meta = arena_alloc(&p->arena, (total ? total : 1) * sizeof *p->u.meta);
    if (!p->u.meta) {
        query_piece_free(p);
        return ERR_NOMEM;
    }
    const struct strmap_slot *slot;
    for (size_t i = 0; p->n < total && strmap_next(&ing->metadata, &i, &slot);) {
        struct ingest_metadata md;
        if (s->name.len && !str_eq(slot->key, s->name))
            continue;
        if (!ingest_metadata_get(ing, slot->key, &md))
            continue;
        struct query_metadata_entry *e = &p->u.meta[p->n];
        e->family = query_dup_str(&p->arena, slot->key, &p->bytes);
        e->help = query_dup_str(&p->arena, md.help, &p->bytes);
        e->unit = query_dup_str(&p->arena, md.unit, &p->bytes);
        e->type = md.type;
        if (!e->family.ptr || !e->help.ptr || !e->unit.ptr) {
            query_piece_free(p);
            return ERR_NOMEM;
        }
        p->n++;
    }
    if (p->n)
        query_piece_send(q, c, p);
    else
        query_piece_free(p);
    return 0;
}

/* ---- exemplars ---- */

/* The shard's exemplars for the spec's matcher sets, as one piece (none when there are none). */
static int step_exemplars(struct query_shard *q, struct query_cursor *c)
{
    const struct query_spec *s = c->spec;
    if (!q->ops || !q->ops->exemplars || s->nsets == 0)
        return 0;
    const struct matcher **sets = calloc(s->nsets, sizeof *sets);
    struct query_exemplars_result *res = calloc(1, sizeof *res);
    int rc = sets && res ? 0 : ERR_NOMEM;
    for (size_t i = 0, off = 0; rc == 0 && i < s->nsets; off += s->lens[i++])
        sets[i] = s->matchers + off;
    struct query_matchsets ms = {sets, s->lens, s->nsets};
    if (rc == 0) /* on failure the result is already freed */
        rc = q->ops->exemplars(q->store, &ms, s->mint_ms, s->maxt_ms, res);
    free(sets);
    if (rc || res->n == 0) {
        if (rc == 0)
            query_exemplars_result_free(res);
        free(res);
        return rc;
    }
    struct query_piece *p = query_piece_new(q, c);
    if (!p) {
        query_exemplars_result_free(res);
        free(res);
        return ERR_NOMEM;
    }
    p->ex = res;
    p->n = res->n;
    query_piece_send(q, c, p);
    return 0;
}

/* ---- head statistics ---- */

struct stats_agg {
    struct strmap pairs; /* "name\xffvalue" -> struct query_pair_count * */
    struct arena arena;
    struct buf key;
    uint64_t series, chunks;
    int64_t mint, maxt;
};

static void stats_free(struct query_cursor *c)
{
    struct stats_agg *a = c->stats;
    if (!a)
        return;
    strmap_deinit(&a->pairs);
    arena_deinit(&a->arena);
    buf_deinit(&a->key);
    free(a);
    c->stats = NULL;
}

static int stats_count(struct stats_agg *a, const struct label *l)
{
    buf_reset(&a->key);
    if (buf_append(&a->key, l->name.ptr, l->name.len) || buf_append_u8(&a->key, 0xff) ||
        buf_append(&a->key, l->value.ptr, l->value.len))
        return ERR_NOMEM;
    struct str k = {(const char *)a->key.data, a->key.len};
    struct query_pair_count *e = strmap_get(&a->pairs, k);
    if (e) {
        e->count++;
        return 0;
    }
    e = arena_alloc(&a->arena, sizeof *e);
    char *kb = arena_dup(&a->arena, k.ptr, k.len, 0);
    if (!e || !kb)
        return ERR_NOMEM;
    e->name = (struct str){kb, l->name.len};
    e->value = (struct str){kb + l->name.len + 1, l->value.len};
    e->count = 1;
    return strmap_put(&a->pairs, (struct str){kb, k.len}, e);
}

static int stats_series(struct stats_agg *a, const struct chunk_series *cs)
{
    a->series++;
    a->chunks += cs->n_chunks;
    for (size_t i = 0; i < cs->n_chunks; i++) {
        if (cs->chunks[i].mint_ms < a->mint)
            a->mint = cs->chunks[i].mint_ms;
        if (cs->chunks[i].maxt_ms > a->maxt)
            a->maxt = cs->chunks[i].maxt_ms;
    }
    for (size_t i = 0; i < cs->n_labels; i++) {
        if (is_tenant(cs->labels[i].name))
            continue;
        int rc = stats_count(a, &cs->labels[i]);
        if (rc)
            return rc;
    }
    return 0;
}

static int stats_send(struct query_shard *q, struct query_cursor *c)
{
    struct stats_agg *a = c->stats;
    size_t n = strmap_len(&a->pairs);
    if (n > c->spec->stats_pairs_max)
        return ERR_LIMIT;
    struct query_piece *p = query_piece_new(q, c);
    if (!p)
        return ERR_NOMEM;
    p->u.pairs = arena_alloc(&p->arena, (n ? n : 1) * sizeof *p->u.pairs);
    if (!p->u.pairs) {
        query_piece_free(p);
        return ERR_NOMEM;
    }
    const struct strmap_slot *slot;
    for (size_t i = 0; strmap_next(&a->pairs, &i, &slot);) {
        const struct query_pair_count *e = slot->value;
        struct query_pair_count *o = &p->u.pairs[p->n++];
        o->name = query_dup_str(&p->arena, e->name, &p->bytes);
        o->value = query_dup_str(&p->arena, e->value, &p->bytes);
        o->count = e->count;
        if (!o->name.ptr || !o->value.ptr) {
            query_piece_free(p);
            return ERR_NOMEM;
        }
    }
    p->num_series = a->series;
    p->chunk_count = a->chunks;
    p->min_time_ms = a->mint;
    p->max_time_ms = a->maxt;
    query_piece_send(q, c, p);
    return 0;
}

static size_t step_stats(struct query_shard *q, struct query_cursor *c, bool *done, int *rc)
{
    if (!c->opened) {
        c->opened = true;
        struct stats_agg *a = calloc(1, sizeof *a);
        if (a) {
            strmap_init(&a->pairs);
            arena_init(&a->arena, PIECE_ARENA_CHUNK);
            a->mint = INT64_MAX;
            a->maxt = INT64_MIN;
            c->stats = a;
            c->set = q->ops->head_series(q->store, &c->spec->tenant_m, 1);
        }
        if (!a || !c->set) {
            *rc = ERR_NOMEM;
            *done = true;
            return 0;
        }
    }
    size_t k = 0;
    for (; k < STATS_SERIES_STEP && !*done; k++) {
        int r = chunk_series_set_next(c->set);
        if (r > 0) {
            r = stats_series(c->stats, chunk_series_set_at(c->set));
            if (r == 0)
                continue;
        } else if (r == 0) {
            r = stats_send(q, c);
        }
        *rc = r;
        *done = true;
    }
    return k * STATS_SERIES_BYTES;
}

/* ---- the step loop ---- */

static int stop_reason(const struct query_cursor *c)
{
    if (atomic_load(c->req->cancel))
        return -ECANCELED;
    if (clock_mono_ns() >= c->spec->deadline_ns)
        return -ETIMEDOUT;
    return 0;
}

/* One step of c; returns the work done in budget bytes. */
static size_t step(struct query_shard *q, struct query_cursor *c)
{
    int rc = stop_reason(c);
    bool done = rc != 0;
    size_t used = ONE_SHOT_BYTES;
    if (!done) {
        switch (c->spec->kind) {
        case QK_SELECT: used = step_select(q, c, &done, &rc); break;
        case QK_STATS: used = step_stats(q, c, &done, &rc); break;
        case QK_LOG_SELECT:
        case QK_LOG_SERIES: used = query_log_owner_step(q, c, &done, &rc); break;
        case QK_METADATA:
            rc = step_metadata(q, c);
            done = true;
            break;
        case QK_EXEMPLARS:
            rc = step_exemplars(q, c);
            done = true;
            break;
        default:
            rc = step_labels(q, c);
            done = true;
            break;
        }
    }
    if (done)
        finish(q, c, rc);
    return used < ONE_SHOT_BYTES ? ONE_SHOT_BYTES : used;
}

static bool eligible(const struct query_shard *q, const struct query_cursor *c)
{
    if (c->finished)
        return false;
    /* a cursor waiting for credit still has to notice a cancel or its deadline */
    (void)q;
    return c->outstanding < c->spec->pieces_in_flight || stop_reason(c) != 0;
}

bool query_owner_step(struct query_shard *q)
{
    if (!q->cursors)
        return false;
    uint64_t budget = q->cfg.step_bytes;
    uint32_t n = q->ncursors;
    struct query_cursor *c = q->rr ? q->rr : q->cursors;
    for (uint32_t i = 0; i < n && c && budget > 0; i++) {
        struct query_cursor *next = c->next ? c->next : q->cursors;
        if (next == c)
            next = NULL;
        if (eligible(q, c)) {
            size_t used = step(q, c); /* may free c */
            budget = used >= budget ? 0 : budget - used;
        }
        c = next;
    }
    q->rr = c;
    for (struct query_cursor *k = q->cursors; k; k = k->next)
        if (eligible(q, k))
            return true;
    return false;
}
