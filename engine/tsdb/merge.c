/* k-way merge of chunk series sets by label set, and the overlap re-encoder used by compaction. */
#include "engine/tsdb/merge.h"

#include <stdlib.h>
#include <string.h>

#include "base/assert.h"
#include "base/error.h"
#include "formats/floatpack.h"

static int grow(void **p, size_t *cap, size_t need, size_t elem)
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

/* ---- re-encoder ---------------------------------------------------------------------------- */

void merge_reenc_init(struct merge_reenc *r)
{
    memset(r, 0, sizeof *r);
    gorilla_enc_init(&r->enc);
}

void merge_reenc_deinit(struct merge_reenc *r)
{
    buf_deinit(&r->data);
    free(r->out);
    free(r->owned);
    free(r->its);
    free(r->live);
    gorilla_enc_deinit(&r->enc);
    buf_deinit(&r->xdata);
    free(r->xspan);
    memset(r, 0, sizeof *r);
}

static int push_out(struct merge_reenc *r, const struct chunk_meta *c, bool owned)
{
    if (grow((void **)&r->out, &r->cap_out, r->n_out + 1, sizeof *r->out) ||
        grow((void **)&r->owned, &r->cap_owned, r->n_out + 1, 1))
        return ERR_NOMEM;
    r->out[r->n_out] = *c;
    r->owned[r->n_out++] = owned;
    return 0;
}

/* Moves the encoder's samples into a new output chunk (data = offset into r->data for now). */
static int flush_enc(struct merge_reenc *r)
{
    uint32_t n = gorilla_enc_count(&r->enc);
    if (n == 0)
        return 0;
    struct gorilla_snap snap;
    gorilla_enc_snapshot(&r->enc, &snap);
    struct chunk_meta c = {gorilla_enc_first_ts(&r->enc),
                           gorilla_enc_last_ts(&r->enc),
                           n,
                           CHUNK_XOR,
                           (const uint8_t *)(uintptr_t)r->data.len,
                           snap.len};
    if (buf_append(&r->data, snap.data, snap.len) || push_out(r, &c, true))
        return ERR_NOMEM;
    gorilla_enc_reset(&r->enc);
    return 0;
}

/* The live iterator with the smallest timestamp; ties go to the smallest priority, then the
 * earliest listed. -1 when all are done. */
static int pick(const struct merge_reenc *r, const uint32_t *prio, size_t k, int64_t *t_out)
{
    int best = -1;
    int64_t bt = 0;
    for (size_t i = 0; i < k; i++) {
        if (!r->live[i])
            continue;
        int64_t t;
        uint64_t v;
        gorilla_iter_at_bits(&r->its[i], &t, &v);
        if (best < 0 || t < bt || (t == bt && prio && prio[i] < prio[best])) {
            best = (int)i;
            bt = t;
        }
    }
    *t_out = bt;
    return best;
}

static int advance(struct merge_reenc *r, size_t i)
{
    int rc = gorilla_iter_next(&r->its[i]);
    r->live[i] = rc == 1;
    return rc < 0 ? rc : 0;
}

/* Re-encodes the CHUNK_PACKED inputs among in[0..k) as XOR into xdata (overlaps are rare, so
 * the merge keeps one iterator type). */
static int packed_as_xor(struct merge_reenc *r, const struct chunk_meta *in, size_t k)
{
    buf_reset(&r->xdata);
    if (grow((void **)&r->xspan, &r->cap_xspan, 2 * k, sizeof *r->xspan))
        return ERR_NOMEM;
    for (size_t i = 0; i < k; i++) {
        if (in[i].encoding != CHUNK_PACKED)
            continue;
        struct floatpack_iter it;
        int rc = floatpack_iter_init(&it, in[i].data, in[i].len);
        gorilla_enc_reset(&r->enc);
        while (rc == 0 && (rc = floatpack_iter_next(&it)) == 1) {
            int64_t t;
            uint64_t v;
            floatpack_iter_at_bits(&it, &t, &v);
            rc = gorilla_enc_append_bits(&r->enc, t, v);
        }
        if (rc < 0)
            return rc == ERR_ORDER || rc == ERR_FULL ? ERR_CORRUPT : rc;
        struct gorilla_snap snap;
        gorilla_enc_snapshot(&r->enc, &snap);
        r->xspan[2 * i] = r->xdata.len;
        r->xspan[2 * i + 1] = snap.len;
        if (buf_append(&r->xdata, snap.data, snap.len))
            return ERR_NOMEM;
    }
    return 0;
}

static int merge_group(struct merge_reenc *r, const struct chunk_meta *in, const uint32_t *prio,
                       size_t k)
{
    if (grow((void **)&r->its, &r->cap_its, k, sizeof *r->its) ||
        grow((void **)&r->live, &r->cap_live, k, 1))
        return ERR_NOMEM;
    int rc = 0;
    for (size_t i = 0; i < k; i++)
        if (in[i].encoding != CHUNK_XOR && in[i].encoding != CHUNK_PACKED)
            return ERR_UNSUPPORTED;
    if ((rc = packed_as_xor(r, in, k)))
        return rc;
    for (size_t i = 0; i < k && rc == 0; i++) {
        if (in[i].encoding == CHUNK_PACKED)
            rc =
                gorilla_iter_init(&r->its[i], r->xdata.data + r->xspan[2 * i], r->xspan[2 * i + 1]);
        else
            rc = gorilla_iter_init(&r->its[i], in[i].data, in[i].len);
        if (rc == 0)
            rc = advance(r, i);
    }
    gorilla_enc_reset(&r->enc);
    int64_t t;
    int w;
    while (rc == 0 && (w = pick(r, prio, k, &t)) >= 0) {
        int64_t wt;
        uint64_t v;
        gorilla_iter_at_bits(&r->its[w], &wt, &v);
        if (gorilla_enc_count(&r->enc) == MERGE_CHUNK_SAMPLES)
            rc = flush_enc(r);
        if (rc == 0)
            rc = gorilla_enc_append_bits(&r->enc, t, v);
        for (size_t i = 0; i < k && rc == 0; i++) {
            int64_t ti;
            uint64_t vi;
            if (!r->live[i])
                continue;
            gorilla_iter_at_bits(&r->its[i], &ti, &vi);
            if (ti == t)
                rc = advance(r, i);
        }
    }
    return rc ? rc : flush_enc(r);
}

/* A group holding a native histogram chunk is passed through as it is (chunks may then overlap;
 * readers merge overlapping chunks): histogram chunks are not re-encoded. */
static bool group_has_hist(const struct chunk_meta *in, size_t k)
{
    for (size_t i = 0; i < k; i++)
        if (in[i].encoding == CHUNK_HISTOGRAM || in[i].encoding == CHUNK_FLOAT_HISTOGRAM)
            return true;
    return false;
}

int merge_reenc_run(struct merge_reenc *r, const struct chunk_meta *in, const uint32_t *prio,
                    size_t n, const struct chunk_meta **out, size_t *n_out)
{
    r->n_out = 0;
    buf_reset(&r->data);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0;) {
        size_t j = i + 1;
        int64_t maxt = in[i].maxt_ms;
        for (; j < n && in[j].mint_ms <= maxt; j++)
            if (in[j].maxt_ms > maxt)
                maxt = in[j].maxt_ms;
        if (j == i + 1)
            rc = push_out(r, &in[i], false);
        else if (group_has_hist(in + i, j - i))
            for (size_t k = i; k < j && rc == 0; k++)
                rc = push_out(r, &in[k], false);
        else
            rc = merge_group(r, in + i, prio ? prio + i : NULL, j - i);
        i = j;
    }
    if (rc)
        return rc;
    for (size_t i = 0; i < r->n_out; i++)
        if (r->owned[i])
            r->out[i].data = r->data.data + (uintptr_t)r->out[i].data;
    *out = r->out;
    *n_out = r->n_out;
    return 0;
}

/* ---- merged set ---------------------------------------------------------------------------- */

struct merge_set {
    struct chunk_series_set base;
    struct chunk_series_set **in;
    size_t n;
    uint8_t *has;  /* input i is positioned on a series */
    uint8_t *step; /* input i must advance before the next pick */
    bool started, done;
    unsigned flags;
    struct chunk_meta *chunks;
    uint32_t *prio;
    size_t *order;
    struct chunk_meta *sorted;
    uint32_t *sorted_prio;
    size_t cap, cap_prio, cap_order, cap_sorted, cap_sprio;
    struct merge_reenc re;
    struct chunk_series cur;
};

static int advance_inputs(struct merge_set *s)
{
    for (size_t i = 0; i < s->n; i++) {
        if (s->started && !s->step[i])
            continue;
        s->step[i] = 0;
        int rc = chunk_series_set_next(s->in[i]);
        if (rc < 0)
            return rc;
        s->has[i] = rc == 1;
    }
    s->started = true;
    return 0;
}

/* Index of the input holding the smallest label set, or -1. */
static long smallest(struct merge_set *s)
{
    long best = -1;
    const struct chunk_series *bs = NULL;
    for (size_t i = 0; i < s->n; i++) {
        if (!s->has[i])
            continue;
        const struct chunk_series *cs = chunk_series_set_at(s->in[i]);
        if (!bs || labels_cmp(cs->labels, cs->n_labels, bs->labels, bs->n_labels) < 0) {
            best = (long)i;
            bs = cs;
        }
    }
    return best;
}

static int order_cmp(const void *a, const void *b, void *ctx)
{
    const struct merge_set *sort_ctx = ctx;
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    const struct chunk_meta *cx = &sort_ctx->chunks[x], *cy = &sort_ctx->chunks[y];
    if (cx->mint_ms != cy->mint_ms)
        return cx->mint_ms < cy->mint_ms ? -1 : 1;
    if (sort_ctx->prio[x] != sort_ctx->prio[y])
        return sort_ctx->prio[x] < sort_ctx->prio[y] ? -1 : 1;
    return (x > y) - (x < y);
}

/* Sorts the gathered chunks by (mint, input, position) into sorted/sorted_prio. */
static int sort_chunks(struct merge_set *s, size_t k)
{
    if (grow((void **)&s->order, &s->cap_order, k, sizeof *s->order) ||
        grow((void **)&s->sorted, &s->cap_sorted, k, sizeof *s->sorted) ||
        grow((void **)&s->sorted_prio, &s->cap_sprio, k, sizeof *s->sorted_prio))
        return ERR_NOMEM;
    for (size_t i = 0; i < k; i++)
        s->order[i] = i;
    qsort_r(s->order, k, sizeof *s->order, order_cmp, s);
    for (size_t i = 0; i < k; i++) {
        s->sorted[i] = s->chunks[s->order[i]];
        s->sorted_prio[i] = s->prio[s->order[i]];
    }
    return 0;
}

/* Gathers the chunks of every input positioned on the label set of input `first`. */
static int gather(struct merge_set *s, size_t first, size_t *k_out, bool *single)
{
    const struct chunk_series *fs = chunk_series_set_at(s->in[first]);
    size_t k = 0, inputs = 0;
    for (size_t i = first; i < s->n; i++) {
        if (!s->has[i])
            continue;
        const struct chunk_series *cs = chunk_series_set_at(s->in[i]);
        if (i != first && labels_cmp(cs->labels, cs->n_labels, fs->labels, fs->n_labels) != 0)
            continue;
        if (grow((void **)&s->chunks, &s->cap, k + cs->n_chunks, sizeof *s->chunks) ||
            grow((void **)&s->prio, &s->cap_prio, k + cs->n_chunks, sizeof *s->prio))
            return ERR_NOMEM;
        for (size_t j = 0; j < cs->n_chunks; j++) {
            s->chunks[k] = cs->chunks[j];
            s->prio[k++] = (uint32_t)i;
        }
        s->step[i] = 1;
        inputs++;
    }
    *k_out = k;
    *single = inputs == 1;
    return 0;
}

static int ms_next(struct chunk_series_set *base)
{
    struct merge_set *s = (struct merge_set *)base;
    if (s->base.err || s->done)
        return s->base.err;
    int rc = advance_inputs(s);
    long first = rc ? -1 : smallest(s);
    size_t k = 0;
    bool single = true;
    if (rc == 0 && first >= 0)
        rc = gather(s, (size_t)first, &k, &single);
    if (rc == 0 && first >= 0 && !single)
        rc = sort_chunks(s, k);
    const struct chunk_meta *chunks = single ? s->chunks : s->sorted;
    const uint32_t *prio = single ? s->prio : s->sorted_prio;
    if (rc == 0 && first >= 0 && (s->flags & MERGE_REENCODE))
        rc = merge_reenc_run(&s->re, chunks, prio, k, &chunks, &k);
    if (rc) {
        s->done = true;
        return s->base.err = rc;
    }
    if (first < 0) {
        s->done = true;
        return 0;
    }
    const struct chunk_series *fs = chunk_series_set_at(s->in[first]);
    s->cur = (struct chunk_series){fs->labels, fs->n_labels, chunks, k};
    return 1;
}

static const struct chunk_series *ms_at(struct chunk_series_set *base)
{
    return &((struct merge_set *)base)->cur;
}

static void ms_close(struct chunk_series_set *base)
{
    struct merge_set *s = (struct merge_set *)base;
    for (size_t i = 0; i < s->n; i++)
        chunk_series_set_close(s->in[i]);
    free(s->in);
    free(s->has);
    free(s->step);
    free(s->chunks);
    free(s->prio);
    free(s->order);
    free(s->sorted);
    free(s->sorted_prio);
    merge_reenc_deinit(&s->re);
    free(s);
}

static const struct chunk_series_set_ops merge_set_ops = {ms_next, ms_at, ms_close};

int merge_set_create(struct chunk_series_set **inputs, size_t n, unsigned flags,
                     struct chunk_series_set **out)
{
    *out = NULL;
    struct merge_set *s = calloc(1, sizeof *s);
    if (s) {
        s->in = calloc(n + 1, sizeof *s->in);
        s->has = calloc(n + 1, 1);
        s->step = calloc(n + 1, 1);
    }
    if (!s || !s->in || !s->has || !s->step) {
        for (size_t i = 0; i < n; i++)
            chunk_series_set_close(inputs[i]);
        if (s) {
            free(s->in);
            free(s->has);
            free(s->step);
            free(s);
        }
        return ERR_NOMEM;
    }
    s->base.ops = &merge_set_ops;
    s->n = n;
    s->flags = flags;
    if (n)
        memcpy(s->in, inputs, n * sizeof *inputs);
    merge_reenc_init(&s->re);
    *out = &s->base;
    return 0;
}
