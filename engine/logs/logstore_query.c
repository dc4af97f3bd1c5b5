/* Stream selection across the head and the blocks (label sets merged, block chunks collected
 * without reading them), and the metadata queries built on it: label names and values, series
 * with per-stream statistics (chunks, entries, line bytes: /series, /index/stats, /index/volume).
 */
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "engine/logs/logstore_internal.h"
#include "engine/tsdb/block_internal.h"

static bool block_overlaps(const struct block *b, int64_t start_ns, int64_t end_ns)
{
    const struct blockindex_meta *m = block_meta(b);
    return m->max_time_ms > ls_ns_to_ms(start_ns) && m->min_time_ms <= ls_ns_to_ms(end_ns - 1);
}

static bool stream_in_range(const struct ls_stream *st, int64_t start_ns, int64_t end_ns)
{
    return st->max_ns >= start_ns && st->min_ns < end_ns;
}

/* Ids of the head streams matching ms (all when n == 0) into bm. */
static int head_ids(struct logstore *ls, const struct matcher *ms, size_t n, roaring_bitmap_t *bm)
{
    if (n)
        return memindex_select(&ls->head.ix, ms, n, bm);
    roaring_bitmap_clear(bm);
    roaring_bitmap_or_inplace(bm, ls->head.ix.all);
    return 0;
}

/* ---- collection ----------------------------------------------------------------------------- */

struct item {
    const struct label *labels;
    size_t n_labels;
    struct ls_stream *head;
    size_t first, count; /* block chunks: [first, first + count) of the raw chunk array */
};

struct collect {
    struct item *items;
    size_t n, cap;
    struct ls_bchunk *raw;
    size_t n_raw, cap_raw;
};

static int add_item(struct collect *c, struct item it)
{
    if (ls_grow(&c->items, &c->cap, c->n + 1, sizeof *c->items))
        return ERR_NOMEM;
    c->items[c->n++] = it;
    return 0;
}

static int collect_head(struct logstore *ls, const struct matcher *ms, size_t n, int64_t start,
                        int64_t end, roaring_bitmap_t *bm, struct collect *c)
{
    int rc = head_ids(ls, ms, n, bm);
    roaring_uint32_iterator_t ri;
    roaring_init_iterator(bm, &ri);
    for (; !rc && ri.has_value; roaring_advance_uint32_iterator(&ri)) {
        struct ls_stream *st = ls_stream_by_id(ls, ri.current_value);
        if (st && stream_in_range(st, start, end))
            rc = add_item(c, (struct item){st->labels, st->n_labels, st, 0, 0});
    }
    return rc;
}

/* One series of a block: its chunks overlapping [lo, hi] (ms) and its labels. */
static int collect_series(struct block *b, const struct blockindex_series *ser, int64_t lo,
                          int64_t hi, struct arena *a, struct collect *c)
{
    size_t first = c->n_raw;
    for (size_t i = 0; i < ser->n_chunks; i++) {
        const struct blockindex_chunk *ch = &ser->chunks[i];
        if (ch->maxt_ms < lo || ch->mint_ms > hi || ch->encoding != CHUNK_LOG)
            continue;
        if (ls_grow(&c->raw, &c->cap_raw, c->n_raw + 1, sizeof *c->raw))
            return ERR_NOMEM;
        c->raw[c->n_raw++] = (struct ls_bchunk){b, *ch, 0};
    }
    if (c->n_raw == first)
        return 0;
    uint32_t n_syms;
    const struct str *syms = block_symbols(b, &n_syms);
    struct label *l = arena_alloc(a, (ser->n_labels ? ser->n_labels : 1) * sizeof *l);
    if (!l)
        return ERR_NOMEM;
    for (size_t i = 0; i < ser->n_labels; i++)
        l[i] = (struct label){syms[ser->refs[2 * i]], syms[ser->refs[2 * i + 1]]};
    return add_item(c, (struct item){l, ser->n_labels, NULL, first, c->n_raw - first});
}

static int collect_block(struct block *b, const struct matcher *ms, size_t n, int64_t start,
                         int64_t end, roaring_bitmap_t *bm, struct ls_coll *out, struct collect *c)
{
    int rc = block_select_ids(b, ms, n, bm);
    struct blockindex_series ser;
    blockindex_series_init(&ser);
    struct buf scratch = BUF_INIT;
    roaring_uint32_iterator_t ri;
    roaring_init_iterator(bm, &ri);
    int64_t lo = ls_ns_to_ms(start), hi = ls_ns_to_ms(end - 1);
    for (; !rc && ri.has_value; roaring_advance_uint32_iterator(&ri)) {
        rc = block_series_read(b, ri.current_value, &scratch, &ser);
        if (!rc)
            rc = collect_series(b, &ser, lo, hi, &out->arena, c);
    }
    blockindex_series_deinit(&ser);
    buf_deinit(&scratch);
    return rc;
}

static int item_cmp(const void *a, const void *b)
{
    const struct item *x = a, *y = b;
    return labels_cmp(x->labels, x->n_labels, y->labels, y->n_labels);
}

/* Sorts the items and merges equal label sets into streams with contiguous chunk lists. */
static int group(struct collect *c, struct ls_coll *out)
{
    if (c->n > 1)
        qsort(c->items, c->n, sizeof *c->items, item_cmp);
    out->streams = calloc(c->n ? c->n : 1, sizeof *out->streams);
    out->chunks = malloc((c->n_raw ? c->n_raw : 1) * sizeof *out->chunks);
    if (!out->streams || !out->chunks)
        return ERR_NOMEM;
    out->cap_chunks = c->n_raw;
    for (size_t i = 0; i < c->n;) {
        size_t j = i;
        struct ls_sstream *s = &out->streams[out->n_streams];
        *s = (struct ls_sstream){c->items[i].labels, c->items[i].n_labels, NULL,
                                 out->chunks + out->n_chunks, 0};
        for (; j < c->n && !item_cmp(&c->items[i], &c->items[j]); j++) {
            const struct item *it = &c->items[j];
            if (it->head)
                s->head = it->head;
            for (size_t k = 0; k < it->count; k++) {
                out->chunks[out->n_chunks] = c->raw[it->first + k];
                out->chunks[out->n_chunks++].stream = (uint32_t)out->n_streams;
            }
        }
        s->n_chunks = (size_t)(out->chunks + out->n_chunks - s->chunks);
        out->n_streams++;
        i = j;
    }
    return 0;
}

int ls_collect(struct logstore *ls, const struct matcher *ms, size_t n, int64_t start_ns,
               int64_t end_ns, struct ls_coll *out)
{
    memset(out, 0, sizeof *out);
    arena_init(&out->arena, 16384);
    if (start_ns >= end_ns)
        return 0;
    struct collect c = {0};
    roaring_bitmap_t *bm = roaring_bitmap_create();
    int rc = bm ? collect_head(ls, ms, n, start_ns, end_ns, bm, &c) : ERR_NOMEM;
    if (!rc && !(out->blocks = malloc((ls->n_blocks ? ls->n_blocks : 1) * sizeof *out->blocks)))
        rc = ERR_NOMEM;
    for (size_t i = 0; i < ls->n_blocks && !rc; i++) {
        struct block *b = ls->blocks[i];
        if (!block_overlaps(b, start_ns, end_ns))
            continue;
        block_ref(b);
        out->blocks[out->n_blocks++] = b;
        rc = collect_block(b, ms, n, start_ns, end_ns, bm, out, &c);
    }
    if (!rc)
        rc = group(&c, out);
    roaring_bitmap_free(bm);
    free(c.items);
    free(c.raw);
    return rc;
}

void ls_coll_free(struct ls_coll *c)
{
    for (size_t i = 0; i < c->n_blocks; i++)
        block_unref(c->blocks[i]);
    free(c->blocks);
    free(c->streams);
    free(c->chunks);
    arena_deinit(&c->arena);
    memset(c, 0, sizeof *c);
}

/* ---- label names and values ----------------------------------------------------------------- */

void logstore_strings_free(struct logstore_strings *s)
{
    free(s->v);
    s->v = NULL;
    s->n = 0;
}

static int str_cmp_v(const void *a, const void *b)
{
    return str_cmp(*(const struct str *)a, *(const struct str *)b);
}

/* Sorts, de-duplicates and copies v[0..n) into one allocation. */
static int strings_finish(struct str *v, size_t n, struct logstore_strings *out)
{
    if (n > 1)
        qsort(v, n, sizeof *v, str_cmp_v);
    size_t k = 0, bytes = 0;
    for (size_t i = 0; i < n; i++)
        if (!k || !str_eq(v[k - 1], v[i])) {
            v[k++] = v[i];
            bytes += v[i].len;
        }
    struct str *o = malloc(k * sizeof *o + bytes + 1);
    if (!o)
        return ERR_NOMEM;
    char *p = (char *)(o + k);
    for (size_t i = 0; i < k; i++) {
        if (v[i].len)
            memcpy(p, v[i].ptr, v[i].len);
        o[i] = (struct str){p, v[i].len};
        p += v[i].len;
    }
    out->v = o;
    out->n = k;
    return 0;
}

static int append_strs(struct str **v, size_t *n, size_t *cap, const struct str *add, size_t k)
{
    if (!k)
        return 0;
    if (ls_grow(v, cap, *n + k, sizeof **v))
        return ERR_NOMEM;
    memcpy(*v + *n, add, k * sizeof *add);
    *n += k;
    return 0;
}

/* Head streams matching ms with data in range, as a memindex filter. */
static int head_filter(struct logstore *ls, const struct matcher *ms, size_t n, int64_t start,
                       int64_t end, roaring_bitmap_t *bm)
{
    roaring_bitmap_t *all = roaring_bitmap_create();
    int rc = all ? head_ids(ls, ms, n, all) : ERR_NOMEM;
    roaring_bitmap_clear(bm);
    roaring_uint32_iterator_t ri;
    if (!rc)
        roaring_init_iterator(all, &ri);
    for (; !rc && ri.has_value; roaring_advance_uint32_iterator(&ri)) {
        struct ls_stream *st = ls_stream_by_id(ls, ri.current_value);
        if (st && stream_in_range(st, start, end))
            roaring_bitmap_add(bm, ri.current_value);
    }
    roaring_bitmap_free(all);
    return rc;
}

/* name.ptr == NULL: label names; else the values of `name`. */
static int labels_query(struct logstore *ls, struct str name, const struct matcher *ms, size_t n,
                        int64_t start, int64_t end, struct logstore_strings *out)
{
    memset(out, 0, sizeof *out);
    struct str *v = NULL, *part = NULL;
    size_t nv = 0, cap = 0, k = 0;
    struct block **held = malloc((ls->n_blocks ? ls->n_blocks : 1) * sizeof *held);
    size_t n_held = 0;
    roaring_bitmap_t *bm = roaring_bitmap_create();
    int rc = bm && held ? (start < end ? head_filter(ls, ms, n, start, end, bm) : 0) : ERR_NOMEM;
    if (!rc && start < end) {
        rc = name.ptr ? memindex_label_values(&ls->head.ix, name, bm, &part, &k)
                      : memindex_label_names(&ls->head.ix, bm, &part, &k);
        if (!rc)
            rc = append_strs(&v, &nv, &cap, part, k);
        free(part);
    }
    for (size_t i = 0; i < ls->n_blocks && !rc && start < end; i++) {
        struct block *b = ls->blocks[i];
        if (!block_overlaps(b, start, end))
            continue;
        block_ref(b);
        held[n_held++] = b; /* strings borrow from the block until they are copied */
        part = NULL;
        rc = name.ptr ? block_label_values(b, name, ms, n, &part, &k)
                      : block_label_names(b, ms, n, &part, &k);
        if (!rc)
            rc = append_strs(&v, &nv, &cap, part, k);
        free(part);
    }
    if (!rc)
        rc = strings_finish(v, nv, out);
    for (size_t i = 0; i < n_held; i++)
        block_unref(held[i]);
    free(held);
    free(v);
    roaring_bitmap_free(bm);
    return rc;
}

int logstore_label_names(struct logstore *ls, const struct matcher *ms, size_t n, int64_t start_ns,
                         int64_t end_ns, struct logstore_strings *out)
{
    return labels_query(ls, (struct str){NULL, 0}, ms, n, start_ns, end_ns, out);
}

int logstore_label_values(struct logstore *ls, struct str name, const struct matcher *ms, size_t n,
                          int64_t start_ns, int64_t end_ns, struct logstore_strings *out)
{
    if (!name.ptr)
        name.ptr = "";
    return labels_query(ls, name, ms, n, start_ns, end_ns, out);
}

/* ---- series and statistics ------------------------------------------------------------------ */

static void head_stats(const struct logstore *ls, const struct ls_stream *st, int64_t start,
                       int64_t end, struct logstore_stream_stats *o)
{
    for (uint32_t i = 0; i < st->n_chunks; i++) {
        const struct ls_chunk *c = st->chunks[i];
        if (c->range_ms < ls->head.visible_ms || c->maxt_ns < start || c->mint_ns >= end)
            continue;
        o->chunks++;
        o->entries += c->entries;
        o->bytes += c->line_bytes;
    }
    const struct ls_writer *ws[2] = {&st->main, &st->late};
    for (int k = 0; k < 2; k++) {
        if (!ws[k]->entries || ws[k]->maxt_ns < start || ws[k]->mint_ns >= end)
            continue;
        o->chunks++;
        o->entries += ws[k]->entries;
        o->bytes += ws[k]->line_bytes;
    }
}

static void block_chunk_stats(struct ls_bchunk *bc, struct buf *scratch,
                              struct logstore_stream_stats *o)
{
    o->chunks++;
    o->entries += bc->c.samples;
    const uint8_t *p;
    uint32_t entries;
    uint64_t bytes;
    if (bc->c.len >= LOGBLOCK_HEADER_BYTES &&
        block_file_get(block_chunk_file(bc->b, bc->c.file),
                       bc->c.offset + BLOCKINDEX_CHUNK_HEAD_BYTES, LOGBLOCK_HEADER_BYTES, scratch,
                       &p) == 0 &&
        logblock_peek(p, LOGBLOCK_HEADER_BYTES, &entries, &bytes) == 0)
        o->bytes += bytes;
}

/* One allocation: the stats array, then label arrays, then strings. */
static int series_out(const struct ls_coll *c, struct logstore_stream_stats **out)
{
    size_t bytes = c->n_streams * sizeof **out;
    for (size_t i = 0; i < c->n_streams; i++) {
        bytes += c->streams[i].n_labels * sizeof(struct label);
        for (size_t k = 0; k < c->streams[i].n_labels; k++)
            bytes += c->streams[i].labels[k].name.len + c->streams[i].labels[k].value.len;
    }
    struct logstore_stream_stats *o = calloc(1, bytes ? bytes : 1);
    if (!o)
        return ERR_NOMEM;
    struct label *l = (struct label *)(o + c->n_streams);
    size_t n_lab = 0;
    for (size_t i = 0; i < c->n_streams; i++)
        n_lab += c->streams[i].n_labels;
    char *p = (char *)(l + n_lab);
    for (size_t i = 0; i < c->n_streams; i++) {
        const struct ls_sstream *s = &c->streams[i];
        o[i].labels = l;
        o[i].n_labels = s->n_labels;
        for (size_t k = 0; k < s->n_labels; k++, l++) {
            memcpy(p, s->labels[k].name.ptr, s->labels[k].name.len);
            l->name = (struct str){p, s->labels[k].name.len};
            p += l->name.len;
            memcpy(p, s->labels[k].value.ptr, s->labels[k].value.len);
            l->value = (struct str){p, s->labels[k].value.len};
            p += l->value.len;
        }
    }
    *out = o;
    return 0;
}

int logstore_series(struct logstore *ls, const struct matcher *ms, size_t n, int64_t start_ns,
                    int64_t end_ns, struct logstore_stream_stats **out, size_t *n_out)
{
    if (n == 0)
        return ERR_INVALID;
    struct ls_coll c;
    int rc = ls_collect(ls, ms, n, start_ns, end_ns, &c);
    struct logstore_stream_stats *o = NULL;
    if (!rc)
        rc = series_out(&c, &o);
    struct buf scratch = BUF_INIT;
    for (size_t i = 0; !rc && i < c.n_streams; i++) {
        if (c.streams[i].head)
            head_stats(ls, c.streams[i].head, start_ns, end_ns, &o[i]);
        for (size_t k = 0; k < c.streams[i].n_chunks; k++)
            block_chunk_stats(&c.streams[i].chunks[k], &scratch, &o[i]);
    }
    buf_deinit(&scratch);
    if (!rc) {
        *out = o;
        *n_out = c.n_streams;
    }
    ls_coll_free(&c);
    return rc;
}

int logstore_index_stats(struct logstore *ls, const struct matcher *ms, size_t n, int64_t start_ns,
                         int64_t end_ns, struct logstore_index_stats *out)
{
    memset(out, 0, sizeof *out);
    struct logstore_stream_stats *s;
    size_t k;
    int rc = logstore_series(ls, ms, n, start_ns, end_ns, &s, &k);
    if (rc)
        return rc;
    out->streams = k;
    for (size_t i = 0; i < k; i++) {
        out->chunks += s[i].chunks;
        out->entries += s[i].entries;
        out->bytes += s[i].bytes;
    }
    free(s);
    return 0;
}
