/* Metrics head cut and truncation: closing chunks before a block boundary, dropping chunks and OOO
 * samples before the cut, removing series left empty (idle-series GC), deleting chunk files and
 * recycling freed ids. */
#include <stdlib.h>
#include <string.h>

#include "base/assert.h"
#include "base/error.h"
#include "engine/tsdb/head_internal.h"

static void raise_min_valid(struct head *h, int64_t t)
{
    if (t > h->min_valid_t) {
        h->min_valid_t = t;
        HEAD_STAT_SET(h, min_valid_time_ms, t);
    }
}

int head_cut_open_chunks_before(struct head *h, int64_t t_ms)
{
    ASSERT(head_range_start(h, t_ms) == t_ms);
    raise_min_valid(h, t_ms);
    for (uint32_t id = 0; id < h->n_ids; id++) {
        struct head_series *s = h->by_id[id];
        if (!s)
            continue;
        int rc = 0;
        const struct gorilla_enc *e = &s->enc;
        /* Chunks never span a range boundary, so an open chunk is wholly before t or not. */
        int64_t hfirst, hlast;
        if (gorilla_enc_count(e) && gorilla_enc_last_ts(e) < t_ms)
            rc = head_close_open_chunk(h, s);
        if (rc == 0 && head_hist_open_range(s, &hfirst, &hlast) && hlast < t_ms)
            rc = head_close_open_hist(h, s);
        if (rc == 0 && s->ooo && s->ooo->n && s->ooo->s[0].t < t_ms)
            rc = head_flush_ooo(h, s);
        if (rc)
            return rc;
    }
    return headchunks_flush(h->hc);
}

/* Drops s's closed chunks that end before mint and shrinks the array when mostly empty. */
static void drop_old_refs(struct head *h, struct head_series *s, int64_t mint)
{
    uint32_t k = 0;
    for (uint32_t i = 0; i < s->n_chunks; i++)
        if (head_ref_maxt(&s->chunks[i]) >= mint)
            s->chunks[k++] = s->chunks[i];
    h->n_chunks_closed -= s->n_chunks - k;
    s->n_chunks = (uint16_t)k;
    if (k == 0 && s->chunks) {
        HEAD_STAT_ADD(h, bytes_refs, -(int64_t)head_usable(s->chunks));
        free(s->chunks);
        s->chunks = NULL;
        s->cap_chunks = 0;
    } else if (k > 0 && k * 4 <= s->cap_chunks) {
        int64_t d;
        struct head_chunk_ref *p = head_realloc(s->chunks, (size_t)k * 2 * sizeof *p, &d);
        if (p) {
            HEAD_STAT_ADD(h, bytes_refs, d);
            s->chunks = p;
            s->cap_chunks = (uint16_t)(k * 2);
        }
    }
}

/* Drops an open chunk or OOO samples wholly before mint (normally already cut and written). */
static void drop_old_memory(struct head *h, struct head_series *s, int64_t mint)
{
    struct gorilla_enc *e = &s->enc;
    if (gorilla_enc_count(e) && gorilla_enc_last_ts(e) < mint) {
        HEAD_STAT_ADD(h, bytes_chunks, -(int64_t)head_usable(e->b.data));
        gorilla_enc_deinit(e);
        h->n_chunks_open--;
    }
    head_hist_drop_before(h, s, mint);
    struct head_ooo *o = s->ooo;
    if (!o)
        return;
    uint32_t k = 0;
    while (k < o->n && o->s[k].t < mint)
        k++;
    memmove(o->s, o->s + k, (o->n - k) * sizeof *o->s);
    o->n -= k;
    h->n_ooo_samples -= k;
    if (o->n == 0) {
        HEAD_STAT_ADD(h, bytes_chunks, -(int64_t)head_usable(o));
        free(o);
        s->ooo = NULL;
    }
}

/* Oldest sample timestamp of s, or INT64_MAX. */
static int64_t series_min_t(const struct head_series *s)
{
    int64_t m = INT64_MAX;
    for (uint32_t i = 0; i < s->n_chunks; i++)
        if (s->chunks[i].mint_ms < m)
            m = s->chunks[i].mint_ms;
    if (gorilla_enc_count(&s->enc) && gorilla_enc_first_ts(&s->enc) < m)
        m = gorilla_enc_first_ts(&s->enc);
    int64_t hfirst, hlast;
    if (head_hist_open_range(s, &hfirst, &hlast) && hfirst < m)
        m = hfirst;
    if (s->ooo && s->ooo->n && s->ooo->s[0].t < m)
        m = s->ooo->s[0].t;
    return m;
}

int head_truncate(struct head *h, int64_t mint_ms)
{
    raise_min_valid(h, mint_ms);
    int removed = 0;
    int64_t min_t = INT64_MAX;
    for (uint32_t id = 0; id < h->n_ids; id++) {
        struct head_series *s = h->by_id[id];
        if (!s)
            continue;
        drop_old_refs(h, s, mint_ms);
        drop_old_memory(h, s, mint_ms);
        int64_t m = series_min_t(s);
        if (m == INT64_MAX) {
            head_series_remove(h, s);
            removed++;
        } else if (m < min_t) {
            min_t = m;
        }
    }
    h->min_t = min_t;
    if (h->map.len == 0)
        h->max_t = INT64_MIN;
    HEAD_STAT_SET(h, min_time_ms, h->min_t);
    HEAD_STAT_SET(h, max_time_ms, h->max_t);
    HEAD_STAT_SET(h, chunks_closed, h->n_chunks_closed);
    HEAD_STAT_SET(h, chunks_open, h->n_chunks_open);
    HEAD_STAT_SET(h, ooo_samples_buffered, h->n_ooo_samples);
    int rc = headchunks_truncate(h->hc, mint_ms);
    struct head_stats tmp;
    head_stats(h, &tmp); /* refresh the walked figures (index bytes, files) */
    return rc < 0 ? rc : removed;
}

void head_recycle_ids(struct head *h)
{
    roaring_bitmap_or_inplace(h->free_ids, h->pending_ids);
    roaring_bitmap_clear(h->pending_ids);
}
