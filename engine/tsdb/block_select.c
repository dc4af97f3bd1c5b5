/* Block queries: postings selection by matchers (the rules of memindex_select, over the block's
 * value blocks and postings frames), the chunk series set over the selected series, and label
 * names/values. Reads only the parts of the index a query needs. */
#include <stdlib.h>
#include <string.h>

#include "base/assert.h"
#include "base/error.h"
#include "engine/tsdb/block.h"
#include "engine/tsdb/block_internal.h"

/* Postings frames closer than this are fetched in one read (fewer round trips on ranged
 * sources, a few wasted bytes). */
#define POSTINGS_GAP_BYTES 4096

/* roaring_bitmap_free(NULL) crashes in CRoaring 0.2.66. */
static void bm_free(roaring_bitmap_t *bm)
{
    if (bm)
        roaring_bitmap_free(bm);
}

struct sel_vec {
    struct blockindex_value *v;
    size_t n, cap;
};

static int sel_push(struct sel_vec *s, const struct blockindex_value *v)
{
    if (s->n == s->cap) {
        size_t c = s->cap ? 2 * s->cap : 16;
        void *p = realloc(s->v, c * sizeof *s->v);
        if (!p)
            return ERR_NOMEM;
        s->v = p;
        s->cap = c;
    }
    s->v[s->n++] = *v;
    return 0;
}

/* Symbol refs of the matcher's finite values that exist in the block, ascending. */
static int finite_refs(struct block *b, const struct str *vals, size_t nv, uint32_t **out,
                       size_t *n)
{
    uint32_t ns;
    const struct str *syms = block_symbols(b, &ns);
    *out = malloc((nv + 1) * sizeof **out);
    if (!*out)
        return ERR_NOMEM;
    *n = 0;
    for (size_t i = 0; i < nv; i++) {
        int64_t r = blockindex_symbol_find(syms, ns, vals[i]);
        if (r >= 0)
            (*out)[(*n)++] = (uint32_t)r;
    }
    return 0;
}

/* The values of m's name whose verdict is `want`, with their postings positions. */
static int collect_values(struct block *b, const struct matcher *m, bool want, struct sel_vec *out)
{
    uint32_t nn, ns;
    const struct blockindex_name *names = block_names(b, &nn);
    const struct str *syms = block_symbols(b, &ns);
    int64_t ni = blockindex_name_find(names, nn, syms, m->name);
    if (ni < 0)
        return 0;
    const struct str *vals;
    size_t nv = 0, k = 0;
    uint32_t *refs = NULL;
    bool finite = want && matcher_finite_values(m, &vals, &nv);
    if (finite && finite_refs(b, vals, nv, &refs, &nv))
        return ERR_NOMEM;
    struct buf scratch = BUF_INIT;
    const uint8_t *p;
    int rc = block_values_read(b, (uint32_t)ni, &scratch, &p);
    struct blockindex_values_iter it;
    if (rc == 0)
        rc = blockindex_values_iter_init(&it, p, (size_t)names[ni].values_len, ns, NULL);
    struct blockindex_value v;
    while (rc == 0 && (rc = blockindex_values_iter_next(&it, &v)) == 1) {
        bool sel;
        if (finite) {
            while (k < nv && refs[k] < v.value)
                k++;
            sel = k < nv && refs[k] == v.value;
        } else {
            sel = matcher_matches(m, syms[v.value]) == want;
        }
        rc = sel ? sel_push(out, &v) : 0;
    }
    if (rc < 0 && rc != ERR_NOMEM)
        rc = block_fault_set(b, rc, "index",
                             block_toc(b)->s[BLOCKINDEX_VALUES].off + names[ni].values_off);
    free(refs);
    buf_deinit(&scratch);
    return rc;
}

/* Whether frame j directly follows frame j - 1 closely enough to share one read with i. */
static bool joinable(const struct sel_vec *s, size_t i, size_t j)
{
    uint64_t prev_end = s->v[j - 1].postings_off + s->v[j - 1].postings_len;
    uint64_t end = s->v[j].postings_off + s->v[j].postings_len;
    return s->v[j].postings_off >= prev_end &&
           s->v[j].postings_off - prev_end <= POSTINGS_GAP_BYTES &&
           end - s->v[i].postings_off <= ((uint64_t)64 << 20);
}

/* ORs the postings of the selected values into out, reading neighbouring frames together. */
static int union_postings(struct block *b, const struct sel_vec *s, roaring_bitmap_t *out)
{
    struct buf scratch = BUF_INIT;
    int rc = 0;
    for (size_t i = 0; i < s->n && rc == 0;) {
        size_t j = i + 1;
        while (j < s->n && joinable(s, i, j))
            j++;
        const uint8_t *p;
        rc = block_postings_span(b, &s->v[i], &s->v[j - 1], &scratch, &p);
        for (size_t k = i; k < j && rc == 0; k++) {
            roaring_bitmap_t *bm;
            rc = block_postings_decode(b, &s->v[k],
                                       p + (s->v[k].postings_off - s->v[i].postings_off), &bm);
            if (rc == 0) {
                roaring_bitmap_or_inplace(out, bm);
                bm_free(bm);
            }
        }
        i = j;
    }
    buf_deinit(&scratch);
    return rc;
}

static int union_matching(struct block *b, const struct matcher *m, bool want,
                          roaring_bitmap_t *out)
{
    struct sel_vec s = {0};
    int rc = collect_values(b, m, want, &s);
    if (rc == 0)
        rc = union_postings(b, &s, out);
    free(s.v);
    return rc;
}

int block_select_ids(struct block *b, const struct matcher *ms, size_t n, roaring_bitmap_t *out)
{
    roaring_bitmap_clear(out);
    roaring_bitmap_t *sub = roaring_bitmap_create(), *tmp = roaring_bitmap_create();
    int rc = sub && tmp ? 0 : ERR_NOMEM;
    bool have_positive = false;
    for (size_t i = 0; i < n && rc == 0; i++) {
        const struct matcher *m = &ms[i];
        if (m->shape == SHAPE_ANY && m->type == MATCHER_RE)
            continue; /* l=~".*" selects everything, with or without the label */
        if (matcher_matches_empty(m)) {
            /* keeps series whose value matches or that lack the label */
            rc = union_matching(b, m, false, sub);
            continue;
        }
        roaring_bitmap_clear(tmp);
        rc = union_matching(b, m, true, tmp);
        if (have_positive)
            roaring_bitmap_and_inplace(out, tmp);
        else
            roaring_bitmap_or_inplace(out, tmp);
        have_positive = true;
    }
    if (rc == 0 && !have_positive)
        roaring_bitmap_add_range(out, 0, block_n_series(b));
    if (rc == 0)
        roaring_bitmap_andnot_inplace(out, sub);
    bm_free(sub);
    bm_free(tmp);
    return rc;
}

/* ---- the series set ------------------------------------------------------------------------ */

struct block_set {
    struct chunk_series_set base;
    struct block *b;
    roaring_bitmap_t *ids;
    roaring_uint32_iterator_t it;
    bool started, done;
    int64_t mint, maxt;
    struct blockindex_series ser;
    struct buf scratch; /* index reads */
    struct buf crec;    /* one chunk record, when its file is not mapped */
    struct buf cbuf;    /* the series' chunk bytes, when copied */
    struct label *labels;
    size_t cap_labels;
    struct chunk_meta *chunks;
    size_t cap_chunks;
    struct chunk_series cur;
};

static int grow_arr(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    size_t c = *cap ? *cap : 8;
    while (c < need)
        c *= 2;
    void *q = realloc(*p, c * elem);
    if (!q)
        return ERR_NOMEM;
    *p = q;
    *cap = c;
    return 0;
}

static bool overlaps(const struct blockindex_chunk *c, int64_t mint, int64_t maxt)
{
    return c->maxt_ms >= mint && c->mint_ms <= maxt;
}

/* Reads the kept chunks' records. Bytes of unmapped files are copied to cbuf; their data
 * pointers hold cbuf offsets until the last copy, then are pointed into cbuf. */
static int bs_chunks(struct block_set *s)
{
    size_t k = 0;
    buf_reset(&s->cbuf);
    for (size_t i = 0; i < s->ser.n_chunks; i++) {
        const struct blockindex_chunk *c = &s->ser.chunks[i];
        if (!overlaps(c, s->mint, s->maxt))
            continue;
        const uint8_t *data;
        int rc = block_chunk_read(s->b, c, &s->crec, &data);
        if (rc)
            return rc;
        struct chunk_meta *cm = &s->chunks[k++];
        *cm = (struct chunk_meta){c->mint_ms, c->maxt_ms, c->samples, c->encoding, data, c->len};
        if (block_chunk_file(s->b, c->file)->map)
            continue;
        cm->data = (const uint8_t *)(uintptr_t)s->cbuf.len;
        if (buf_append(&s->cbuf, data, c->len))
            return ERR_NOMEM;
    }
    k = 0;
    for (size_t i = 0; i < s->ser.n_chunks; i++) {
        const struct blockindex_chunk *c = &s->ser.chunks[i];
        if (!overlaps(c, s->mint, s->maxt))
            continue;
        if (!block_chunk_file(s->b, c->file)->map)
            s->chunks[k].data = s->cbuf.data + (uintptr_t)s->chunks[k].data;
        k++;
    }
    return 0;
}

static int bs_load(struct block_set *s, uint32_t id)
{
    int rc = block_series_read(s->b, id, &s->scratch, &s->ser);
    if (rc)
        return rc;
    size_t keep = 0;
    for (size_t i = 0; i < s->ser.n_chunks; i++)
        keep += overlaps(&s->ser.chunks[i], s->mint, s->maxt);
    if (keep == 0)
        return 0;
    if (grow_arr((void **)&s->labels, &s->cap_labels, s->ser.n_labels + 1, sizeof *s->labels) ||
        grow_arr((void **)&s->chunks, &s->cap_chunks, keep, sizeof *s->chunks))
        return ERR_NOMEM;
    uint32_t ns;
    const struct str *syms = block_symbols(s->b, &ns);
    for (size_t i = 0; i < s->ser.n_labels; i++)
        s->labels[i] = (struct label){syms[s->ser.refs[2 * i]], syms[s->ser.refs[2 * i + 1]]};
    rc = bs_chunks(s);
    if (rc < 0)
        return rc;
    s->cur = (struct chunk_series){s->labels, s->ser.n_labels, s->chunks, keep};
    return 1;
}

static int bs_next(struct chunk_series_set *base)
{
    struct block_set *s = (struct block_set *)base;
    if (s->base.err)
        return s->base.err;
    while (!s->done) {
        if (!s->started)
            roaring_init_iterator(s->ids, &s->it);
        else
            roaring_advance_uint32_iterator(&s->it);
        s->started = true;
        if (!s->it.has_value) {
            s->done = true;
            break;
        }
        int rc = bs_load(s, s->it.current_value);
        if (rc < 0) {
            s->done = true;
            return s->base.err = rc;
        }
        if (rc == 1)
            return 1;
    }
    return 0;
}

static const struct chunk_series *bs_at(struct chunk_series_set *base)
{
    return &((struct block_set *)base)->cur;
}

static void bs_close(struct chunk_series_set *base)
{
    struct block_set *s = (struct block_set *)base;
    bm_free(s->ids);
    blockindex_series_deinit(&s->ser);
    buf_deinit(&s->scratch);
    buf_deinit(&s->crec);
    buf_deinit(&s->cbuf);
    free(s->labels);
    free(s->chunks);
    block_unref(s->b);
    free(s);
}

static const struct chunk_series_set_ops block_set_ops = {bs_next, bs_at, bs_close};

int block_select(struct block *b, const struct matcher *ms, size_t n, int64_t mint_ms,
                 int64_t maxt_ms, struct chunk_series_set **out)
{
    *out = NULL;
    struct block_set *s = calloc(1, sizeof *s);
    if (!s)
        return ERR_NOMEM;
    s->base.ops = &block_set_ops;
    s->mint = mint_ms;
    s->maxt = maxt_ms;
    blockindex_series_init(&s->ser);
    s->ids = roaring_bitmap_create();
    block_ref(b);
    s->b = b;
    int rc = s->ids ? block_select_ids(b, ms, n, s->ids) : ERR_NOMEM;
    if (rc) {
        bs_close(&s->base);
        return rc;
    }
    *out = &s->base;
    return 0;
}

/* ---- label names and values ---------------------------------------------------------------- */

static int strs_from_refs(struct block *b, const roaring_bitmap_t *refs, struct str **out,
                          size_t *n_out)
{
    uint32_t ns;
    const struct str *syms = block_symbols(b, &ns);
    uint64_t n = roaring_bitmap_get_cardinality(refs);
    *out = malloc((n + 1) * sizeof **out);
    if (!*out)
        return ERR_NOMEM;
    roaring_uint32_iterator_t it;
    roaring_init_iterator(refs, &it);
    size_t k = 0;
    for (; it.has_value; roaring_advance_uint32_iterator(&it))
        (*out)[k++] = syms[it.current_value];
    *n_out = k;
    return 0;
}

/* Name refs carried by the series in ids (read from their entries). */
static int names_of_series(struct block *b, const roaring_bitmap_t *ids, roaring_bitmap_t *names)
{
    uint32_t nn;
    block_names(b, &nn);
    struct blockindex_series ser;
    blockindex_series_init(&ser);
    struct buf scratch = BUF_INIT;
    roaring_uint32_iterator_t it;
    roaring_init_iterator(ids, &it);
    int rc = 0;
    for (; it.has_value && rc == 0; roaring_advance_uint32_iterator(&it)) {
        rc = block_series_read(b, it.current_value, &scratch, &ser);
        for (size_t i = 0; rc == 0 && i < ser.n_labels; i++)
            roaring_bitmap_add(names, ser.refs[2 * i]);
        if (roaring_bitmap_get_cardinality(names) == nn)
            break; /* every name seen */
    }
    blockindex_series_deinit(&ser);
    buf_deinit(&scratch);
    return rc;
}

int block_label_names(struct block *b, const struct matcher *ms, size_t n, struct str **out,
                      size_t *n_out)
{
    uint32_t nn;
    const struct blockindex_name *names = block_names(b, &nn);
    roaring_bitmap_t *refs = roaring_bitmap_create(), *ids = roaring_bitmap_create();
    int rc = refs && ids ? 0 : ERR_NOMEM;
    if (rc == 0 && n == 0) {
        for (uint32_t i = 0; i < nn; i++)
            roaring_bitmap_add(refs, names[i].name);
    } else if (rc == 0) {
        rc = block_select_ids(b, ms, n, ids);
        if (rc == 0)
            rc = names_of_series(b, ids, refs);
    }
    if (rc == 0)
        rc = strs_from_refs(b, refs, out, n_out);
    bm_free(refs);
    bm_free(ids);
    return rc;
}

/* Values of name i whose postings meet ids (all values when ids is NULL). */
static int values_of(struct block *b, uint32_t i, const roaring_bitmap_t *ids,
                     roaring_bitmap_t *refs)
{
    uint32_t nn, ns;
    const struct blockindex_name *names = block_names(b, &nn);
    block_symbols(b, &ns);
    struct buf scratch = BUF_INIT, pscratch = BUF_INIT;
    const uint8_t *p;
    struct blockindex_values_iter it;
    int rc = block_values_read(b, i, &scratch, &p);
    if (rc == 0)
        rc = blockindex_values_iter_init(&it, p, (size_t)names[i].values_len, ns, NULL);
    struct blockindex_value v;
    while (rc == 0 && (rc = blockindex_values_iter_next(&it, &v)) == 1) {
        roaring_bitmap_t *bm = NULL;
        rc = ids ? block_postings_read(b, &v, &pscratch, &bm) : 0;
        if (rc == 0 && (!ids || roaring_bitmap_intersect(bm, ids)))
            roaring_bitmap_add(refs, v.value);
        bm_free(bm);
    }
    if (rc < 0 && rc != ERR_NOMEM)
        rc = block_fault_set(b, rc, "index",
                             block_toc(b)->s[BLOCKINDEX_VALUES].off + names[i].values_off);
    buf_deinit(&scratch);
    buf_deinit(&pscratch);
    return rc;
}

int block_label_values(struct block *b, struct str name, const struct matcher *ms, size_t n,
                       struct str **out, size_t *n_out)
{
    uint32_t nn, ns;
    const struct blockindex_name *names = block_names(b, &nn);
    const struct str *syms = block_symbols(b, &ns);
    int64_t ni = blockindex_name_find(names, nn, syms, name);
    roaring_bitmap_t *refs = roaring_bitmap_create(), *ids = NULL;
    int rc = refs ? 0 : ERR_NOMEM;
    if (rc == 0 && n > 0 && ni >= 0) {
        ids = roaring_bitmap_create();
        rc = ids ? block_select_ids(b, ms, n, ids) : ERR_NOMEM;
    }
    if (rc == 0 && ni >= 0 && (!ids || !roaring_bitmap_is_empty(ids)))
        rc = values_of(b, (uint32_t)ni, ids, refs);
    if (rc == 0)
        rc = strs_from_refs(b, refs, out, n_out);
    bm_free(refs);
    bm_free(ids);
    return rc;
}
