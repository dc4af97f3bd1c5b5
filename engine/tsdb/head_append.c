/* Metrics head append path: the validation rules of head.h, in-order chunk cutting (sample count,
 * bytes, chunk-range boundary, Prometheus's even-spread end prediction), the per-series OOO buffer
 * and its cut into chunks, duplicate lookups across chunks, and WAL replay mode. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/assert.h"
#include "base/error.h"
#include "engine/tsdb/head_internal.h"

int64_t head_range_start(const struct head *h, int64_t t)
{
    int64_t r = h->cfg.chunk_range_ms;
    int64_t q = t / r;
    if (t % r != 0 && t < 0)
        q--;
    return q * r;
}

/* End (exclusive) of the chunk range holding t, saturating at INT64_MAX. */
int64_t head_range_end(const struct head *h, int64_t t)
{
    int64_t start = head_range_start(h, t);
    return start > INT64_MAX - h->cfg.chunk_range_ms ? INT64_MAX : start + h->cfg.chunk_range_ms;
}

void head_note_max_time(struct head *h, int64_t t)
{
    if (t > h->max_t) {
        h->max_t = t;
        HEAD_STAT_SET(h, max_time_ms, t);
    }
    head_min_time_note(h, t);
}

/* Makes room for `extra` more chunk references so a chunk is never written without one. */
int head_reserve_refs(struct head *h, struct head_series *s, size_t extra)
{
    if ((size_t)s->cap_chunks - s->n_chunks >= extra)
        return 0;
    size_t need = (size_t)s->n_chunks + extra;
    if (need > UINT16_MAX)
        return ERR_LIMIT;
    size_t cap = s->cap_chunks ? s->cap_chunks : 1;
    while (cap < need)
        cap *= 2;
    if (cap > UINT16_MAX)
        cap = UINT16_MAX;
    int64_t d;
    struct head_chunk_ref *p = head_realloc(s->chunks, cap * sizeof *p, &d);
    if (!p)
        return ERR_NOMEM;
    HEAD_STAT_ADD(h, bytes_refs, d);
    s->chunks = p;
    s->cap_chunks = (uint16_t)cap;
    return 0;
}

/* Writes one chunk to the chunk files and references it from s (room reserved by the caller). */
int head_write_chunk(struct head *h, struct head_series *s, const uint8_t *data, size_t len,
                     int64_t mint, int64_t maxt, uint32_t samples, uint8_t flags, uint8_t enc)
{
    ASSERT(maxt >= mint && (uint64_t)(maxt - mint) <= UINT32_MAX && samples <= UINT16_MAX);
    struct headchunks_rec rec = {s->id, mint, maxt, (uint16_t)samples, enc, flags};
    uint32_t file, off;
    int rc = headchunks_append(h->hc, &rec, data, len, &file, &off);
    if (rc)
        return rc;
    struct head_chunk_ref ref = {mint,  (uint32_t)(maxt - mint),   file, off, (uint16_t)samples,
                                 flags, enc == CHUNK_XOR ? 0 : enc};
    rc = head_series_push_ref(h, s, &ref);
    ASSERT(rc == 0); /* room was reserved */
    return 0;
}

int head_close_open_chunk(struct head *h, struct head_series *s)
{
    int rc = head_close_open_xor(h, s);
    return rc ? rc : head_close_open_hist(h, s);
}

int head_close_open_xor(struct head *h, struct head_series *s)
{
    uint32_t count = gorilla_enc_count(&s->enc);
    if (count == 0)
        return 0;
    int rc = head_reserve_refs(h, s, 1);
    if (rc)
        return rc;
    struct gorilla_snap snap;
    gorilla_enc_snapshot(&s->enc, &snap);
    rc = head_write_chunk(h, s, snap.data, snap.len, gorilla_enc_first_ts(&s->enc),
                          gorilla_enc_last_ts(&s->enc), count, 0, CHUNK_XOR);
    if (rc)
        return rc;
    /* The chunk's bytes now live in the file: give the buffer back. */
    HEAD_STAT_ADD(h, bytes_chunks, -(int64_t)head_usable(s->enc.b.data));
    gorilla_enc_deinit(&s->enc);
    h->n_chunks_open--;
    HEAD_STAT_SET(h, chunks_open, h->n_chunks_open);
    return 0;
}

/* Prometheus's end prediction, once a quarter of the chunk is filled: estimate how many samples
 * the rest of the range [first, end) will bring at the rate seen so far and split it into the
 * fewest chunks of at most samples_per_chunk (Prometheus rounds down and lets chunks grow to twice
 * the size; we round up so the per-chunk limit holds and the last chunk is not a stub). */
static int64_t predict_end(const struct head *h, const struct head_series *s, int64_t end)
{
    int64_t first = gorilla_enc_first_ts(&s->enc), last = gorilla_enc_last_ts(&s->enc);
    uint32_t count = gorilla_enc_count(&s->enc);
    if (last <= first || count < 2 || end <= first)
        return end;
    double span = (double)end - (double)first;
    double est = span * (double)(count - 1) / ((double)last - (double)first);
    double n = ceil(est / h->cfg.samples_per_chunk - 1e-9);
    if (n <= 1)
        return end;
    return first + (int64_t)(span / n);
}

/* Appends t (> the series' newest sample) to the open chunk, cutting it first when due. */
static int append_in_order(struct head *h, struct head_series *s, int64_t t, uint64_t v)
{
    struct gorilla_enc *e = &s->enc;
    uint32_t count = gorilla_enc_count(e);
    int rc;
    if (s->hist && (rc = head_close_open_hist(h, s)) != 0)
        return rc;
    if (count > 0) {
        bool cut = count >= h->cfg.samples_per_chunk || e->b.len > h->cfg.chunk_bytes_max;
        if (!cut && count == h->cfg.samples_per_chunk / 4)
            s->next_at = predict_end(h, s, s->next_at);
        if ((cut || t >= s->next_at) && (rc = head_close_open_chunk(h, s)) != 0)
            return rc;
        count = gorilla_enc_count(e);
    }
    if (count == 0)
        s->next_at = head_range_end(h, t);
    /* Account for the buffer growing (the encoder reallocs when less than ~48 bytes are left). */
    const void *old = e->b.data;
    size_t old_cap = e->b.cap;
    size_t old_usable = e->b.cap - e->b.len < 64 ? head_usable(old) : old_cap;
    if ((rc = gorilla_enc_append_bits(e, t, v)) != 0)
        return rc;
    if (e->b.data != old || e->b.cap != old_cap)
        HEAD_STAT_ADD(h, bytes_chunks, head_usable(e->b.data) - old_usable);
    if (count == 0) {
        h->n_chunks_open++;
        HEAD_STAT_SET(h, chunks_open, h->n_chunks_open);
    }
    s->max_t = t;
    s->last_v = v;
    s->flags |= HEAD_SERIES_LASTV_KNOWN;
    s->flags &= (uint8_t)~HEAD_SERIES_LAST_HIST;
    head_note_max_time(h, t);
    return HEAD_APPENDED;
}

/* ---- finding a stored sample ---- */

/* Looks for timestamp t in chunk bytes; 1 with *v when present, 0 when not, or an error. */
static int chunk_find(const uint8_t *data, size_t len, int64_t t, uint64_t *v)
{
    struct gorilla_iter it;
    int rc = gorilla_iter_init(&it, data, len);
    if (rc == 0)
        rc = gorilla_iter_seek(&it, t);
    if (rc < 0)
        return rc == ERR_TRUNCATED ? ERR_CORRUPT : rc;
    if (rc == 0)
        return 0;
    int64_t at;
    gorilla_iter_at_bits(&it, &at, v);
    return at == t;
}

static struct head_sample *ooo_search(struct head_ooo *o, int64_t t)
{
    uint32_t lo = 0, hi = o->n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (o->s[mid].t < t)
            lo = mid + 1;
        else
            hi = mid;
    }
    return &o->s[lo];
}

/* Finds timestamp t among everything stored for s. 1 with *v, 0 when absent, or an error. */
static int find_sample(struct head *h, struct head_series *s, int64_t t, uint64_t *v)
{
    if (s->ooo && s->ooo->n) {
        struct head_sample *p = ooo_search(s->ooo, t);
        if (p < s->ooo->s + s->ooo->n && p->t == t) {
            *v = p->v;
            return 1;
        }
    }
    int rc;
    const struct gorilla_enc *e = &s->enc;
    if (gorilla_enc_count(e) && t >= gorilla_enc_first_ts(e) && t <= gorilla_enc_last_ts(e)) {
        struct gorilla_snap snap;
        gorilla_enc_snapshot(e, &snap);
        if ((rc = chunk_find(snap.data, snap.len, t, v)) != 0)
            return rc;
    }
    for (uint32_t i = 0; i < s->n_chunks; i++) {
        const struct head_chunk_ref *r = &s->chunks[i];
        if (t < r->mint_ms || t > head_ref_maxt(r) || r->enc)
            continue; /* (histogram chunks hold no float sample) */
        const uint8_t *data;
        size_t len;
        rc = headchunks_get(h->hc, r->file, r->off, NULL, &data, &len);
        if (rc == 0)
            rc = chunk_find(data, len, t, v);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* ---- OOO buffer ---- */

uint8_t *head_encode_samples(const struct head_sample *s, size_t n, size_t *len)
{
    struct gorilla_enc e;
    gorilla_enc_init(&e);
    for (size_t i = 0; i < n; i++) {
        if (gorilla_enc_append_bits(&e, s[i].t, s[i].v) != 0) {
            gorilla_enc_deinit(&e);
            return NULL;
        }
    }
    uint8_t *p = gorilla_enc_steal(&e, len);
    gorilla_enc_deinit(&e);
    return p;
}

/* Samples of o from index i that share i's chunk range (and a 32-bit span). */
static size_t ooo_run(const struct head *h, const struct head_ooo *o, size_t i)
{
    int64_t end = head_range_end(h, o->s[i].t);
    size_t j = i + 1;
    while (j < o->n && o->s[j].t < end && (uint64_t)(o->s[j].t - o->s[i].t) <= UINT32_MAX &&
           j - i < GORILLA_SAMPLES_MAX)
        j++;
    return j - i;
}

int head_flush_ooo(struct head *h, struct head_series *s)
{
    struct head_ooo *o = s->ooo;
    if (!o || o->n == 0)
        return 0;
    size_t runs = 0;
    for (size_t i = 0; i < o->n; i += ooo_run(h, o, i))
        runs++;
    int rc = head_reserve_refs(h, s, runs);
    size_t done = 0;
    while (rc == 0 && done < o->n) {
        size_t k = ooo_run(h, o, done), len;
        uint8_t *data = head_encode_samples(o->s + done, k, &len);
        if (!data) {
            rc = ERR_NOMEM;
            break;
        }
        rc = head_write_chunk(h, s, data, len, o->s[done].t, o->s[done + k - 1].t, (uint32_t)k,
                              HEADCHUNKS_F_OOO, CHUNK_XOR);
        free(data);
        if (rc == 0)
            done += k;
    }
    h->n_ooo_samples -= done;
    HEAD_STAT_SET(h, ooo_samples_buffered, h->n_ooo_samples);
    if (done == o->n) { /* empty: give the buffer back until the next OOO sample */
        HEAD_STAT_ADD(h, bytes_chunks, -(int64_t)head_usable(o));
        free(o);
        s->ooo = NULL;
        return rc;
    }
    memmove(o->s, o->s + done, (o->n - done) * sizeof *o->s);
    o->n -= (uint32_t)done;
    return rc;
}

static int ooo_reserve(struct head *h, struct head_series *s)
{
    struct head_ooo *o = s->ooo;
    if (o && o->n < o->cap)
        return 0;
    uint32_t cap = o ? o->cap * 2 : 4;
    if (cap > h->cfg.ooo_cap)
        cap = h->cfg.ooo_cap;
    ASSERT(!o || cap > o->cap);
    int64_t d;
    struct head_ooo *p = head_realloc(o, sizeof *p + cap * sizeof p->s[0], &d);
    if (!p)
        return ERR_NOMEM;
    HEAD_STAT_ADD(h, bytes_chunks, d);
    if (!o)
        p->n = 0;
    p->cap = cap;
    s->ooo = p;
    return 0;
}

/* True when adding t to o would make its span exceed 32 bits (chunk references store maxt - mint
 * that way). */
static bool ooo_span_too_wide(const struct head_ooo *o, int64_t t)
{
    if (!o || o->n == 0)
        return false;
    int64_t lo = t < o->s[0].t ? t : o->s[0].t;
    int64_t hi = t > o->s[o->n - 1].t ? t : o->s[o->n - 1].t;
    return (uint64_t)hi - (uint64_t)lo > UINT32_MAX;
}

/* Inserts (t, v) (absent from s) into the OOO buffer; cuts it into chunks when full. */
static int ooo_insert(struct head *h, struct head_series *s, int64_t t, uint64_t v)
{
    int rc;
    /* A full buffer (its earlier cut failed) or a too wide span: cut first. */
    if (s->ooo && (s->ooo->n >= h->cfg.ooo_cap || ooo_span_too_wide(s->ooo, t)) &&
        (rc = head_flush_ooo(h, s)) != 0)
        return rc;
    if ((rc = ooo_reserve(h, s)) != 0)
        return rc;
    struct head_ooo *o = s->ooo;
    struct head_sample *p = ooo_search(o, t);
    memmove(p + 1, p, (size_t)(o->s + o->n - p) * sizeof *p);
    *p = (struct head_sample){t, v};
    o->n++;
    h->n_ooo_samples++;
    HEAD_STAT_SET(h, ooo_samples_buffered, h->n_ooo_samples);
    head_note_max_time(h, t);
    /* When the cut fails the sample stays buffered and the cut is retried on the next insert or
     * head_cut_open_chunks_before; the sample itself is stored either way. */
    if (o->n >= h->cfg.ooo_cap)
        (void)head_flush_ooo(h, s);
    return HEAD_APPENDED_OOO;
}

/* ---- rules ---- */

/* t equals the series' newest in-order sample: duplicate or conflict. */
static int same_as_newest(struct head *h, struct head_series *s, uint64_t v)
{
    if (s->flags & HEAD_SERIES_LAST_HIST)
        return ERR_DUPLICATE; /* a histogram holds that timestamp */
    if (!(s->flags & HEAD_SERIES_LASTV_KNOWN)) {
        int rc = find_sample(h, s, s->max_t, &s->last_v);
        if (rc < 0)
            return rc;
        if (rc == 0 && s->hist)
            return ERR_DUPLICATE; /* a re-attached histogram chunk defines max_t */
        if (rc == 0)
            return ERR_CORRUPT; /* the chunk that defines max_t lost it */
        s->flags |= HEAD_SERIES_LASTV_KNOWN;
    }
    return s->last_v == v ? HEAD_DUPLICATE : ERR_DUPLICATE;
}

/* An older sample (t < the newest): duplicate, conflict, or a new OOO sample. */
static int append_older(struct head *h, struct head_series *s, int64_t t, uint64_t v)
{
    uint64_t have;
    int rc = find_sample(h, s, t, &have);
    if (rc < 0)
        return rc;
    if (rc == 1)
        return have == v ? HEAD_DUPLICATE : ERR_DUPLICATE;
    return ooo_insert(h, s, t, v);
}

static int append_live(struct head *h, struct head_series *s, int64_t t, uint64_t v)
{
    if (s->max_t == INT64_MIN || t > s->max_t)
        return append_in_order(h, s, t, v);
    if (t == s->max_t)
        return same_as_newest(h, s, v);
    if (h->cfg.ooo_window_ms == 0)
        return ERR_ORDER;
    if (h->max_t >= INT64_MIN + h->cfg.ooo_window_ms && t < h->max_t - h->cfg.ooo_window_ms)
        return ERR_RANGE;
    return append_older(h, s, t, v);
}

/* ---- replay ---- */

struct head_replay *head_replay_slot(struct head *h, uint32_t id)
{
    if (id >= h->replay_cap) {
        size_t cap = h->replay_cap ? h->replay_cap : 1024;
        while (cap <= id)
            cap *= 2;
        struct head_replay *p = realloc(h->replay, cap * sizeof *p);
        if (!p)
            return NULL;
        for (size_t i = h->replay_cap; i < cap; i++)
            p[i] = (struct head_replay){INT64_MIN, INT64_MIN};
        h->replay = p;
        h->replay_cap = cap;
    }
    return &h->replay[id];
}

static int append_replay(struct head *h, struct head_series *s, int64_t t, uint64_t v)
{
    struct head_replay *r = head_replay_slot(h, s->id);
    if (!r)
        return ERR_NOMEM;
    if (t > r->seen_max) {
        /* In order when first accepted: a chunk file holds it when it is not past the newest
         * re-attached in-order sample (the files hold a prefix of what was written). */
        r->seen_max = t;
        if (t <= r->attached_max)
            return HEAD_DUPLICATE;
        if (t > s->max_t || s->max_t == INT64_MIN)
            return append_in_order(h, s, t, v);
    }
    if (t == s->max_t)
        return same_as_newest(h, s, v);
    if (t > s->max_t)
        return append_in_order(h, s, t, v);
    return append_older(h, s, t, v); /* out of order when first accepted: no window check */
}

int head_replay_begin(struct head *h)
{
    if (h->replay)
        return 0;
    if (!head_replay_slot(h, h->n_ids ? h->n_ids - 1 : 0))
        return ERR_NOMEM;
    for (uint32_t id = 0; id < h->n_ids; id++) {
        const struct head_series *s = h->by_id[id];
        if (!s)
            continue;
        int64_t m = INT64_MIN;
        for (uint32_t i = 0; i < s->n_chunks; i++)
            if (!(s->chunks[i].flags & HEADCHUNKS_F_OOO) && head_ref_maxt(&s->chunks[i]) > m)
                m = head_ref_maxt(&s->chunks[i]);
        h->replay[id].attached_max = m;
    }
    return 0;
}

void head_replay_end(struct head *h)
{
    free(h->replay);
    h->replay = NULL;
    h->replay_cap = 0;
    free(h->pending);
    h->pending = NULL;
    h->n_pending = h->cap_pending = 0;
}

/* ---- entry ---- */

void head_count_result(struct head *h, int rc)
{
    switch (rc) {
    case HEAD_APPENDED: HEAD_STAT_ADD(h, samples_appended_total, 1); break;
    case HEAD_APPENDED_OOO:
        HEAD_STAT_ADD(h, samples_appended_total, 1);
        HEAD_STAT_ADD(h, ooo_appended_total, 1);
        break;
    case HEAD_DUPLICATE: HEAD_STAT_ADD(h, duplicates_dropped_total, 1); break;
    case ERR_DUPLICATE: HEAD_STAT_ADD(h, rejected_duplicate_total, 1); break;
    case ERR_RANGE: HEAD_STAT_ADD(h, rejected_too_old_total, 1); break;
    case ERR_ORDER: HEAD_STAT_ADD(h, rejected_order_total, 1); break;
    default: break;
    }
}

int head_append(struct head *h, uint32_t id, int64_t t_ms, uint64_t v_bits)
{
    struct head_series *s = head_series_get(h, id);
    if (!s)
        return ERR_NOT_FOUND;
    int rc;
    if (t_ms < h->min_valid_t)
        rc = ERR_RANGE;
    else if (h->replay)
        rc = append_replay(h, s, t_ms, v_bits);
    else
        rc = append_live(h, s, t_ms, v_bits);
    head_count_result(h, rc);
    return rc;
}
