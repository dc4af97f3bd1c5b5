/* Metrics head reads: chunk series sets for queries (head_select) and for the block writer
 * (head_block_series), and the label name/value APIs. A set holds (id, creation stamp) pairs
 * sorted by label set and builds each series lazily in _next(): labels and the open chunk / OOO
 * buffer are copied into the set, closed chunks are views into the pinned chunk-file maps. */
#include <stdlib.h>
#include <string.h>

#include "base/assert.h"
#include "base/buf.h"
#include "base/error.h"
#include "engine/tsdb/head_internal.h"

struct head_set_entry {
    uint32_t id, seq;
};

/* A chunk of the current series before its bytes are fixed in place. */
struct head_set_chunk {
    struct chunk_meta m;
    size_t copy_off; /* SIZE_MAX: m.data is a view; else an offset into copies */
    uint8_t ooo;
};

struct head_set {
    struct chunk_series_set base;
    struct head *h;
    struct head_set_entry *ents;
    size_t n, pos;
    int64_t mint, maxt;
    bool block; /* closed chunks inside [mint, maxt) only */
    struct chunk_series cur;
    struct label *labels;
    size_t labels_cap;
    struct buf strs;   /* label bytes of the current series */
    struct buf copies; /* copied chunk bytes of the current series */
    struct head_set_chunk *tmp;
    struct chunk_meta *metas;
    size_t chunks_cap;
};

/* ---- which series and chunks qualify ---- */

static bool overlaps(int64_t a_min, int64_t a_max, int64_t mint, int64_t maxt)
{
    return a_min <= maxt && a_max >= mint;
}

static bool ref_in_block(const struct head_chunk_ref *r, int64_t mint, int64_t maxt)
{
    return r->mint_ms >= mint && head_ref_maxt(r) < maxt;
}

static bool open_overlaps(const struct head_series *s, int64_t mint, int64_t maxt)
{
    const struct gorilla_enc *e = &s->enc;
    return gorilla_enc_count(e) &&
           overlaps(gorilla_enc_first_ts(e), gorilla_enc_last_ts(e), mint, maxt);
}

static bool hist_overlaps(const struct head_series *s, int64_t mint, int64_t maxt)
{
    int64_t first, last;
    return head_hist_open_range(s, &first, &last) && overlaps(first, last, mint, maxt);
}

static bool ooo_overlaps(const struct head_series *s, int64_t mint, int64_t maxt)
{
    const struct head_ooo *o = s->ooo;
    return o && o->n && overlaps(o->s[0].t, o->s[o->n - 1].t, mint, maxt);
}

static bool series_has_data(const struct head_series *s, int64_t mint, int64_t maxt, bool block)
{
    for (uint32_t i = 0; i < s->n_chunks; i++) {
        const struct head_chunk_ref *r = &s->chunks[i];
        if (block ? ref_in_block(r, mint, maxt)
                  : overlaps(r->mint_ms, head_ref_maxt(r), mint, maxt))
            return true;
    }
    return !block && (open_overlaps(s, mint, maxt) || ooo_overlaps(s, mint, maxt) ||
                      hist_overlaps(s, mint, maxt));
}

/* ---- building the current series ---- */

static int chunks_reserve(struct head_set *hs, size_t n)
{
    if (n <= hs->chunks_cap)
        return 0;
    size_t cap = hs->chunks_cap ? hs->chunks_cap * 2 : 16;
    while (cap < n)
        cap *= 2;
    struct head_set_chunk *t = realloc(hs->tmp, cap * sizeof *t);
    if (!t)
        return ERR_NOMEM;
    hs->tmp = t;
    struct chunk_meta *m = realloc(hs->metas, cap * sizeof *m);
    if (!m)
        return ERR_NOMEM;
    hs->metas = m;
    hs->chunks_cap = cap;
    return 0;
}

static int copy_labels(struct head_set *hs, const struct head_series *s)
{
    size_t n;
    const struct label *src = head_series_materialize(hs->h, s, &n);
    if (n > hs->labels_cap) {
        struct label *p = realloc(hs->labels, n * sizeof *p);
        if (!p)
            return ERR_NOMEM;
        hs->labels = p;
        hs->labels_cap = n;
    }
    buf_reset(&hs->strs);
    for (size_t i = 0; i < n; i++) {
        if (buf_append(&hs->strs, src[i].name.ptr, src[i].name.len) ||
            buf_append(&hs->strs, src[i].value.ptr, src[i].value.len))
            return ERR_NOMEM;
    }
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        const char *base = (const char *)hs->strs.data;
        hs->labels[i].name = (struct str){base ? base + off : "", src[i].name.len};
        off += src[i].name.len;
        hs->labels[i].value = (struct str){base ? base + off : "", src[i].value.len};
        off += src[i].value.len;
    }
    hs->cur.labels = hs->labels;
    hs->cur.n_labels = n;
    return 0;
}

static struct head_set_chunk *add_chunk(struct head_set *hs, size_t *n, int64_t mint, int64_t maxt,
                                        uint32_t samples, uint8_t ooo)
{
    struct head_set_chunk *c = &hs->tmp[(*n)++];
    c->m = (struct chunk_meta){mint, maxt, samples, CHUNK_XOR, NULL, 0};
    c->copy_off = SIZE_MAX;
    c->ooo = ooo;
    return c;
}

static int add_copy(struct head_set *hs, struct head_set_chunk *c, const uint8_t *data, size_t len)
{
    c->copy_off = hs->copies.len;
    c->m.len = len;
    return buf_append(&hs->copies, data, len) ? ERR_NOMEM : 0;
}

/* The open chunk and the OOO buffer, copied (select mode only). */
static int add_memory_chunks(struct head_set *hs, const struct head_series *s, size_t *n)
{
    if (open_overlaps(s, hs->mint, hs->maxt)) {
        struct gorilla_snap snap;
        gorilla_enc_snapshot(&s->enc, &snap);
        struct head_set_chunk *c = add_chunk(hs, n, gorilla_enc_first_ts(&s->enc),
                                             gorilla_enc_last_ts(&s->enc), snap.count, 0);
        if (add_copy(hs, c, snap.data, snap.len))
            return ERR_NOMEM;
    }
    if (hist_overlaps(s, hs->mint, hs->maxt)) {
        const struct histchunk_enc *e = &s->hist->enc;
        size_t len;
        const uint8_t *data = histchunk_enc_bytes(e, &len);
        struct head_set_chunk *c = add_chunk(hs, n, e->first_t, e->t, e->count, 0);
        c->m.encoding = e->is_float ? CHUNK_FLOAT_HISTOGRAM : CHUNK_HISTOGRAM;
        if (add_copy(hs, c, data, len))
            return ERR_NOMEM;
    }
    if (ooo_overlaps(s, hs->mint, hs->maxt)) {
        const struct head_ooo *o = s->ooo;
        size_t len;
        uint8_t *data = head_encode_samples(o->s, o->n, &len);
        if (!data)
            return ERR_NOMEM;
        struct head_set_chunk *c = add_chunk(hs, n, o->s[0].t, o->s[o->n - 1].t, o->n, 1);
        int rc = add_copy(hs, c, data, len);
        free(data);
        if (rc)
            return rc;
    }
    return 0;
}

static int tmp_cmp(const void *a, const void *b)
{
    const struct head_set_chunk *x = a, *y = b;
    if (x->m.mint_ms != y->m.mint_ms)
        return x->m.mint_ms < y->m.mint_ms ? -1 : 1;
    return (int)x->ooo - (int)y->ooo;
}

/* Fills cur.chunks for s; returns how many, or an error. */
static int build_chunks(struct head_set *hs, const struct head_series *s)
{
    int rc = chunks_reserve(hs, (size_t)s->n_chunks + 3);
    if (rc)
        return rc;
    buf_reset(&hs->copies);
    size_t n = 0;
    for (uint32_t i = 0; i < s->n_chunks; i++) {
        const struct head_chunk_ref *r = &s->chunks[i];
        bool want = hs->block ? ref_in_block(r, hs->mint, hs->maxt)
                              : overlaps(r->mint_ms, head_ref_maxt(r), hs->mint, hs->maxt);
        if (!want)
            continue;
        struct head_set_chunk *c = add_chunk(hs, &n, r->mint_ms, head_ref_maxt(r), r->samples,
                                             r->flags & HEADCHUNKS_F_OOO);
        c->m.encoding = head_ref_encoding(r);
        rc = headchunks_get(hs->h->hc, r->file, r->off, NULL, &c->m.data, &c->m.len);
        if (rc)
            return rc;
    }
    if (!hs->block && (rc = add_memory_chunks(hs, s, &n)) != 0)
        return rc;
    qsort(hs->tmp, n, sizeof *hs->tmp, tmp_cmp);
    for (size_t i = 0; i < n; i++) {
        hs->metas[i] = hs->tmp[i].m;
        if (hs->tmp[i].copy_off != SIZE_MAX)
            hs->metas[i].data = hs->copies.data + hs->tmp[i].copy_off;
    }
    hs->cur.chunks = hs->metas;
    hs->cur.n_chunks = n;
    return (int)n;
}

/* ---- set ops ---- */

static int set_next(struct chunk_series_set *base)
{
    struct head_set *hs = (struct head_set *)base;
    if (base->err)
        return base->err;
    while (hs->pos < hs->n) {
        struct head_set_entry e = hs->ents[hs->pos++];
        const struct head_series *s = head_series_get(hs->h, e.id);
        if (!s || s->seq != e.seq)
            continue; /* removed (and maybe the id reused) since the set was made */
        int rc = build_chunks(hs, s);
        if (rc == 0)
            continue; /* its data in range was truncated meanwhile */
        if (rc > 0)
            rc = copy_labels(hs, s);
        if (rc < 0) {
            base->err = rc;
            return rc;
        }
        return 1;
    }
    return 0;
}

static const struct chunk_series *set_at(struct chunk_series_set *base)
{
    return &((struct head_set *)base)->cur;
}

static void set_close(struct chunk_series_set *base)
{
    struct head_set *hs = (struct head_set *)base;
    headchunks_unpin(hs->h->hc);
    hs->h->open_sets--;
    free(hs->ents);
    free(hs->labels);
    free(hs->tmp);
    free(hs->metas);
    buf_deinit(&hs->strs);
    buf_deinit(&hs->copies);
    free(hs);
}

static const struct chunk_series_set_ops head_set_ops = {set_next, set_at, set_close};

/* ---- creation ---- */

static int ent_cmp(const void *a, const void *b, void *arg)
{
    const struct head *h = arg;
    const struct head_set_entry *x = a, *y = b;
    return head_series_cmp(h, h->by_id[x->id], h->by_id[y->id]);
}

static bool set_push(struct head_set *hs, size_t *cap, const struct head_series *s)
{
    if (hs->n == *cap) {
        size_t c = *cap ? *cap * 2 : 64;
        struct head_set_entry *p = realloc(hs->ents, c * sizeof *p);
        if (!p)
            return false;
        hs->ents = p;
        *cap = c;
    }
    hs->ents[hs->n++] = (struct head_set_entry){s->id, s->seq};
    return true;
}

static struct head_set *set_new(struct head *h, int64_t mint, int64_t maxt, bool block)
{
    struct head_set *hs = calloc(1, sizeof *hs);
    if (!hs)
        return NULL;
    hs->base.ops = &head_set_ops;
    hs->h = h;
    hs->mint = mint;
    hs->maxt = maxt;
    hs->block = block;
    buf_init(&hs->strs);
    buf_init(&hs->copies);
    headchunks_pin(h->hc);
    h->open_sets++;
    return hs;
}

/* Adds the series among ids (all live series when NULL) that have data for the set. */
static int set_fill(struct head_set *hs, const roaring_bitmap_t *ids)
{
    struct head *h = hs->h;
    size_t cap = 0;
    if (!ids) {
        for (uint32_t id = 0; id < h->n_ids; id++) {
            const struct head_series *s = h->by_id[id];
            if (s && series_has_data(s, hs->mint, hs->maxt, hs->block) && !set_push(hs, &cap, s))
                return ERR_NOMEM;
        }
    } else {
        roaring_uint32_iterator_t it;
        roaring_init_iterator(ids, &it);
        for (; it.has_value; roaring_advance_uint32_iterator(&it)) {
            const struct head_series *s = head_series_get(h, it.current_value);
            if (s && series_has_data(s, hs->mint, hs->maxt, hs->block) && !set_push(hs, &cap, s))
                return ERR_NOMEM;
        }
    }
    if (hs->n > 1)
        qsort_r(hs->ents, hs->n, sizeof *hs->ents, ent_cmp, h);
    return 0;
}

struct chunk_series_set *head_select(struct head *h, const struct matcher *ms, size_t n,
                                     int64_t mint_ms, int64_t maxt_ms)
{
    ASSERT(n >= 1);
    struct head_set *hs = set_new(h, mint_ms, maxt_ms, false);
    if (!hs)
        return NULL;
    roaring_bitmap_t *ids = roaring_bitmap_create();
    int rc = ids ? memindex_select(&h->ix, ms, n, ids) : ERR_NOMEM;
    if (rc == 0 && mint_ms <= maxt_ms)
        rc = set_fill(hs, ids);
    if (ids)
        roaring_bitmap_free(ids);
    if (rc) {
        set_close(&hs->base);
        return NULL;
    }
    return &hs->base;
}

struct chunk_series_set *head_block_series(struct head *h, int64_t mint_ms, int64_t maxt_ms)
{
    struct head_set *hs = set_new(h, mint_ms, maxt_ms, true);
    if (!hs)
        return NULL;
    if (mint_ms < maxt_ms && set_fill(hs, NULL) != 0) {
        set_close(&hs->base);
        return NULL;
    }
    return &hs->base;
}

/* ---- label names and values ---- */

/* The ids the label APIs look at: matching ms (all when n == 0) with data in [mint, maxt].
 * *out is NULL when that is every live series. */
static int label_filter(struct head *h, const struct matcher *ms, size_t n, int64_t mint,
                        int64_t maxt, roaring_bitmap_t **out)
{
    *out = NULL;
    bool whole_range = mint <= h->min_t && maxt >= h->max_t;
    if (n == 0 && whole_range)
        return 0;
    roaring_bitmap_t *ids = n ? roaring_bitmap_create() : roaring_bitmap_copy(h->ix.all);
    if (!ids)
        return ERR_NOMEM;
    int rc = n ? memindex_select(&h->ix, ms, n, ids) : 0;
    if (rc == 0 && !whole_range) {
        roaring_bitmap_t *keep = roaring_bitmap_create();
        if (!keep)
            rc = ERR_NOMEM;
        roaring_uint32_iterator_t it;
        roaring_init_iterator(ids, &it);
        for (; keep && it.has_value; roaring_advance_uint32_iterator(&it)) {
            const struct head_series *s = head_series_get(h, it.current_value);
            if (s && series_has_data(s, mint, maxt, false))
                roaring_bitmap_add(keep, it.current_value);
        }
        roaring_bitmap_free(ids);
        ids = keep;
    }
    if (rc) {
        if (ids)
            roaring_bitmap_free(ids);
        return rc;
    }
    *out = ids;
    return 0;
}

int head_label_names(struct head *h, const struct matcher *ms, size_t n, int64_t mint_ms,
                     int64_t maxt_ms, struct str **out, size_t *n_out)
{
    roaring_bitmap_t *filter;
    int rc = label_filter(h, ms, n, mint_ms, maxt_ms, &filter);
    if (rc)
        return rc;
    rc = memindex_label_names(&h->ix, filter, out, n_out);
    if (filter)
        roaring_bitmap_free(filter);
    return rc;
}

int head_label_values(struct head *h, struct str name, const struct matcher *ms, size_t n,
                      int64_t mint_ms, int64_t maxt_ms, struct str **out, size_t *n_out)
{
    roaring_bitmap_t *filter;
    int rc = label_filter(h, ms, n, mint_ms, maxt_ms, &filter);
    if (rc)
        return rc;
    rc = memindex_label_values(&h->ix, name, filter, out, n_out);
    if (filter)
        roaring_bitmap_free(filter);
    return rc;
}
