/* Native histogram samples in the metrics head: the in-order append path (one open histogram
 * chunk per series, formats/histchunk.h, cut on sample count, bytes, the chunk range end or a
 * change of kind), duplicate rules, WAL replay mode, and the open chunk's life cycle. */
#include <stdlib.h>

#include "base/assert.h"
#include "base/error.h"
#include "engine/tsdb/head_internal.h"

/* Histogram samples are larger than floats: a chunk may grow to this many times chunk_bytes_max. */
#define HIST_BYTES_FACTOR 8u

static uint8_t hist_encoding(bool is_float)
{
    return is_float ? CHUNK_FLOAT_HISTOGRAM : CHUNK_HISTOGRAM;
}

bool head_hist_open_range(const struct head_series *s, int64_t *first, int64_t *last)
{
    if (!s->hist || histchunk_enc_count(&s->hist->enc) == 0)
        return false;
    *first = s->hist->enc.first_t;
    *last = s->hist->enc.t;
    return true;
}

int head_close_open_hist(struct head *h, struct head_series *s)
{
    struct head_hist *x = s->hist;
    if (!x || histchunk_enc_count(&x->enc) == 0)
        return 0;
    int rc = head_reserve_refs(h, s, 1);
    if (rc)
        return rc;
    size_t len;
    const uint8_t *data = histchunk_enc_bytes(&x->enc, &len);
    rc = head_write_chunk(h, s, data, len, x->enc.first_t, x->enc.t, histchunk_enc_count(&x->enc),
                          0, hist_encoding(x->enc.is_float));
    if (rc)
        return rc;
    /* the bytes live in the file now: give the memory back */
    bool is_float = x->enc.is_float;
    HEAD_STAT_ADD(h, bytes_chunks, -(int64_t)head_usable(x->enc.b.data));
    histchunk_enc_deinit(&x->enc);
    histchunk_enc_init(&x->enc, is_float);
    h->n_chunks_open--;
    HEAD_STAT_SET(h, chunks_open, h->n_chunks_open);
    return 0;
}

void head_hist_free(struct head *h, struct head_series *s, bool count)
{
    struct head_hist *x = s->hist;
    if (!x)
        return;
    if (count) {
        HEAD_STAT_ADD(h, bytes_chunks, -(int64_t)(head_usable(x->enc.b.data) + head_usable(x)));
        if (histchunk_enc_count(&x->enc)) {
            h->n_chunks_open--;
            HEAD_STAT_SET(h, chunks_open, h->n_chunks_open);
        }
    }
    histchunk_enc_deinit(&x->enc);
    free(x);
    s->hist = NULL;
}

void head_hist_drop_before(struct head *h, struct head_series *s, int64_t mint)
{
    int64_t first, last;
    if (!head_hist_open_range(s, &first, &last) || last >= mint)
        return;
    struct head_hist *x = s->hist;
    bool is_float = x->enc.is_float;
    HEAD_STAT_ADD(h, bytes_chunks, -(int64_t)head_usable(x->enc.b.data));
    histchunk_enc_deinit(&x->enc);
    histchunk_enc_init(&x->enc, is_float);
    h->n_chunks_open--;
    HEAD_STAT_SET(h, chunks_open, h->n_chunks_open);
}

static int hist_state(struct head *h, struct head_series *s, bool is_float)
{
    if (s->hist)
        return 0;
    struct head_hist *x = calloc(1, sizeof *x);
    if (!x)
        return ERR_NOMEM;
    histchunk_enc_init(&x->enc, is_float);
    s->hist = x;
    HEAD_STAT_ADD(h, bytes_chunks, head_usable(x));
    return 0;
}

/* Closes the open chunk of s when the next histogram at t cannot go into it. */
static int maybe_cut(struct head *h, struct head_series *s, int64_t t, bool is_float)
{
    int rc;
    if (gorilla_enc_count(&s->enc) && (rc = head_close_open_xor(h, s)) != 0)
        return rc;
    struct head_hist *x = s->hist;
    uint32_t count = histchunk_enc_count(&x->enc);
    if (count == 0)
        return 0;
    bool cut = count >= h->cfg.samples_per_chunk || x->enc.is_float != is_float ||
               x->enc.b.len > (size_t)h->cfg.chunk_bytes_max * HIST_BYTES_FACTOR || t >= x->next_at;
    return cut ? head_close_open_hist(h, s) : 0;
}

static int hist_in_order(struct head *h, struct head_series *s, int64_t t,
                         const struct histchunk_hist *hh, bool is_float)
{
    int rc = hist_state(h, s, is_float);
    if (rc == 0)
        rc = maybe_cut(h, s, t, is_float);
    if (rc)
        return rc;
    struct head_hist *x = s->hist;
    bool fresh = histchunk_enc_count(&x->enc) == 0;
    if (fresh) {
        histchunk_enc_reset(&x->enc, is_float);
        x->next_at = head_range_end(h, t);
    }
    size_t before = head_usable(x->enc.b.data);
    if ((rc = histchunk_enc_append(&x->enc, t, hh)) != 0)
        return rc;
    HEAD_STAT_ADD(h, bytes_chunks, (int64_t)head_usable(x->enc.b.data) - (int64_t)before);
    if (fresh) {
        h->n_chunks_open++;
        HEAD_STAT_SET(h, chunks_open, h->n_chunks_open);
    }
    s->max_t = t;
    s->flags &= (uint8_t)~HEAD_SERIES_LASTV_KNOWN;
    s->flags |= HEAD_SERIES_LAST_HIST;
    head_note_max_time(h, t);
    return HEAD_APPENDED;
}

/* t equals the newest sample of s. */
static int hist_same(const struct head_series *s, const struct histchunk_hist *hh, bool is_float)
{
    if (!(s->flags & HEAD_SERIES_LAST_HIST))
        return ERR_DUPLICATE; /* a float sample holds that timestamp */
    const struct head_hist *x = s->hist;
    if (x && histchunk_enc_count(&x->enc) && x->enc.t == s->max_t)
        return x->enc.is_float == is_float && histchunk_hist_eq(hh, &x->enc.prev) ? HEAD_DUPLICATE
                                                                                  : ERR_DUPLICATE;
    return HEAD_DUPLICATE; /* in a closed chunk: taken as the same (retries, replay) */
}

/* Looks for t in one histogram chunk: 1 identical, 2 different, 0 absent, or an error. */
static int chunk_find(const uint8_t *data, size_t len, int64_t t, const struct histchunk_hist *hh,
                      bool is_float)
{
    struct histchunk_iter it;
    histchunk_iter_init(&it, data, len);
    int rc;
    while ((rc = histchunk_iter_next(&it)) == 1 && histchunk_iter_t(&it) < t)
        ;
    if (rc == 1)
        rc = histchunk_iter_t(&it) != t                                                 ? 0
             : it.is_float == is_float && histchunk_hist_eq(histchunk_iter_at(&it), hh) ? 1
                                                                                        : 2;
    histchunk_iter_deinit(&it);
    return rc == ERR_TRUNCATED ? ERR_CORRUPT : rc;
}

/* An older t (a retried write): the stored histogram at t, if any, decides. */
static int hist_older(struct head *h, struct head_series *s, int64_t t,
                      const struct histchunk_hist *hh, bool is_float)
{
    int rc = 0;
    int64_t first, last;
    if (head_hist_open_range(s, &first, &last) && t >= first && t <= last) {
        size_t len;
        const uint8_t *data = histchunk_enc_bytes(&s->hist->enc, &len);
        rc = chunk_find(data, len, t, hh, is_float);
    }
    for (uint32_t i = 0; rc == 0 && i < s->n_chunks; i++) {
        const struct head_chunk_ref *r = &s->chunks[i];
        if (!r->enc || t < r->mint_ms || t > head_ref_maxt(r))
            continue;
        const uint8_t *data;
        size_t len;
        rc = headchunks_get(h->hc, r->file, r->off, NULL, &data, &len);
        if (rc == 0)
            rc = chunk_find(data, len, t, hh, is_float);
    }
    if (rc < 0)
        return rc;
    return rc == 1 ? HEAD_DUPLICATE : rc == 2 ? ERR_DUPLICATE : ERR_ORDER;
}

static int hist_replay(struct head *h, struct head_series *s, int64_t t,
                       const struct histchunk_hist *hh, bool is_float)
{
    struct head_replay *r = head_replay_slot(h, s->id);
    if (!r)
        return ERR_NOMEM;
    if (t > r->seen_max) {
        r->seen_max = t;
        if (t <= r->attached_max)
            return HEAD_DUPLICATE;
    }
    if (s->max_t == INT64_MIN || t > s->max_t)
        return hist_in_order(h, s, t, hh, is_float);
    if (t == s->max_t)
        return hist_same(s, hh, is_float);
    return HEAD_DUPLICATE; /* older: never accepted live (no OOO histograms) */
}

int head_append_hist(struct head *h, uint32_t id, int64_t t_ms, const struct histchunk_hist *hh,
                     bool is_float)
{
    struct head_series *s = head_series_get(h, id);
    if (!s)
        return ERR_NOT_FOUND;
    if (histchunk_hist_check(hh, is_float, NULL) != 0)
        return ERR_INVALID;
    int rc;
    if (t_ms < h->min_valid_t)
        rc = ERR_RANGE;
    else if (h->replay)
        rc = hist_replay(h, s, t_ms, hh, is_float);
    else if (s->max_t == INT64_MIN || t_ms > s->max_t)
        rc = hist_in_order(h, s, t_ms, hh, is_float);
    else if (t_ms == s->max_t)
        rc = hist_same(s, hh, is_float);
    else
        rc = hist_older(h, s, t_ms, hh, is_float);
    head_count_result(h, rc);
    return rc;
}
