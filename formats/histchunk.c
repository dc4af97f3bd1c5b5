/* Native histogram chunk codec (integer and float histograms); byte layout in
 * docs/formats/histchunk.md. */
#include "formats/histchunk.h"

#include <math.h>
#include <stdlib.h>

#include "base/assert.h"
#include "base/error.h"

#define HDR_HINT_MASK 0x03u
#define HDR_LAYOUT    0x04u

/* ---- validation ---- */

static bool word_negative(uint64_t w, bool is_float)
{
    if (!is_float)
        return false;
    return histchunk_f64(w) < 0;
}

/* Checks one side's spans against its bucket count; *last gets the highest bucket index. */
static int check_spans(const struct histchunk_span *sp, uint32_t n, uint32_t n_buckets,
                       int64_t *last, const char **why)
{
    if (n > HISTCHUNK_SPANS_MAX || n_buckets > HISTCHUNK_BUCKETS_MAX) {
        *why = "too many spans or buckets";
        return ERR_INVALID;
    }
    int64_t idx = 0, total = 0, first = INT64_MIN;
    *last = INT64_MIN;
    for (uint32_t i = 0; i < n; i++) {
        if (i > 0 && sp[i].offset < 0) {
            *why = "span number > 1 has a negative offset";
            return ERR_INVALID;
        }
        idx += sp[i].offset;
        total += sp[i].length;
        if (total > HISTCHUNK_BUCKETS_MAX) {
            *why = "spans describe too many buckets";
            return ERR_INVALID;
        }
        if (sp[i].length && first == INT64_MIN)
            first = idx;
        idx += sp[i].length;
        if (idx < INT32_MIN || idx - 1 > INT32_MAX ||
            (first != INT64_MIN && idx - first > (int64_t)HISTCHUNK_INDEX_RANGE_MAX)) {
            *why = "bucket index out of range";
            return ERR_INVALID;
        }
        if (sp[i].length)
            *last = idx - 1;
    }
    if (total != n_buckets) {
        *why = "spans need a different number of buckets than given";
        return ERR_INVALID;
    }
    return 0;
}

static int check_custom(const struct histchunk_hist *h, int64_t plast, const char **why)
{
    if (h->n_nspans || h->n_nbuckets || h->zero_threshold != 0 || h->zero_count != 0) {
        *why = "custom buckets histogram with negative buckets or a zero bucket";
        return ERR_INVALID;
    }
    if (h->n_custom > HISTCHUNK_CUSTOM_MAX) {
        *why = "too many custom bounds";
        return ERR_INVALID;
    }
    for (uint32_t i = 0; i < h->n_custom; i++) {
        if (!isfinite(h->custom[i]) || (i > 0 && !(h->custom[i] > h->custom[i - 1]))) {
            *why = "custom bounds not finite and strictly ascending";
            return ERR_INVALID;
        }
    }
    if (h->n_pspans && h->pspans[0].offset < 0) {
        *why = "custom buckets histogram with a negative bucket index";
        return ERR_INVALID;
    }
    if (plast != INT64_MIN && plast > (int64_t)h->n_custom) {
        *why = "custom buckets histogram with a bucket beyond its bounds";
        return ERR_INVALID;
    }
    return 0;
}

static int check_counts(const struct histchunk_hist *h, bool is_float, const char **why)
{
    unsigned __int128 total = h->zero_count;
    for (uint32_t i = 0; i < h->n_pbuckets + h->n_nbuckets; i++) {
        uint64_t w = i < h->n_pbuckets ? h->pbuckets[i] : h->nbuckets[i - h->n_pbuckets];
        if (word_negative(w, is_float)) {
            *why = "negative bucket count";
            return ERR_INVALID;
        }
        total += w;
    }
    if (word_negative(h->zero_count, is_float) || word_negative(h->count, is_float)) {
        *why = "negative zero bucket or total count";
        return ERR_INVALID;
    }
    if (is_float)
        return 0;
    if (isnan(h->sum) ? total > h->count : total != h->count) {
        *why = isnan(h->sum) ? "count is smaller than the bucket counts"
                             : "count does not match the bucket counts";
        return ERR_INVALID;
    }
    return 0;
}

int histchunk_hist_check(const struct histchunk_hist *h, bool is_float, const char **why)
{
    const char *dummy;
    if (!why)
        why = &dummy;
    bool custom = h->schema == HISTCHUNK_SCHEMA_CUSTOM;
    if (!custom && (h->schema < HISTCHUNK_SCHEMA_MIN || h->schema > HISTCHUNK_SCHEMA_MAX)) {
        *why = "schema out of range";
        return ERR_INVALID;
    }
    if (h->hint > HISTCHUNK_HINT_GAUGE) {
        *why = "unknown counter reset hint";
        return ERR_INVALID;
    }
    if (!isfinite(h->zero_threshold) || h->zero_threshold < 0) {
        *why = "zero threshold negative or not finite";
        return ERR_INVALID;
    }
    if (!custom && h->n_custom) {
        *why = "custom bounds on an exponential histogram";
        return ERR_INVALID;
    }
    int64_t plast, nlast;
    int rc = check_spans(h->pspans, h->n_pspans, h->n_pbuckets, &plast, why);
    if (rc == 0)
        rc = check_spans(h->nspans, h->n_nspans, h->n_nbuckets, &nlast, why);
    if (rc == 0 && custom)
        rc = check_custom(h, plast, why);
    if (rc == 0)
        rc = check_counts(h, is_float, why);
    return rc;
}

static bool spans_eq(const struct histchunk_span *a, uint32_t na, const struct histchunk_span *b,
                     uint32_t nb)
{
    if (na != nb)
        return false;
    for (uint32_t i = 0; i < na; i++)
        if (a[i].offset != b[i].offset || a[i].length != b[i].length)
            return false;
    return true;
}

bool histchunk_layout_eq(const struct histchunk_hist *a, const struct histchunk_hist *b)
{
    if (a->schema != b->schema ||
        histchunk_bits(a->zero_threshold) != histchunk_bits(b->zero_threshold) ||
        a->n_custom != b->n_custom)
        return false;
    if (a->n_custom && memcmp(a->custom, b->custom, a->n_custom * sizeof(double)) != 0)
        return false;
    return spans_eq(a->pspans, a->n_pspans, b->pspans, b->n_pspans) &&
           spans_eq(a->nspans, a->n_nspans, b->nspans, b->n_nspans);
}

bool histchunk_hist_eq(const struct histchunk_hist *a, const struct histchunk_hist *b)
{
    if (!histchunk_layout_eq(a, b) || a->hint != b->hint || a->count != b->count ||
        a->zero_count != b->zero_count || histchunk_bits(a->sum) != histchunk_bits(b->sum) ||
        a->n_pbuckets != b->n_pbuckets || a->n_nbuckets != b->n_nbuckets)
        return false;
    return (a->n_pbuckets == 0 || memcmp(a->pbuckets, b->pbuckets, a->n_pbuckets * 8) == 0) &&
           (a->n_nbuckets == 0 || memcmp(a->nbuckets, b->nbuckets, a->n_nbuckets * 8) == 0);
}

/* ---- shared state arrays ---- */

/* Grows *p to hold need elements; never leaves *p NULL (no arithmetic on NULL pointers). */
static int grow(void **p, uint32_t *cap, uint32_t need, size_t elem)
{
    if (need <= *cap && *p)
        return 0;
    uint32_t c = *cap ? *cap : 8;
    while (c < need)
        c *= 2;
    void *q = realloc(*p, (size_t)c * elem);
    if (!q)
        return ERR_NOMEM;
    *p = q;
    *cap = c;
    return 0;
}

/* ---- writer ---- */

void histchunk_enc_init(struct histchunk_enc *e, bool is_float)
{
    memset(e, 0, sizeof *e);
    buf_init(&e->b);
    e->is_float = is_float;
}

void histchunk_enc_deinit(struct histchunk_enc *e)
{
    buf_deinit(&e->b);
    free(e->spans);
    free(e->buckets);
    free(e->custom);
    memset(e, 0, sizeof *e);
}

void histchunk_enc_reset(struct histchunk_enc *e, bool is_float)
{
    buf_reset(&e->b);
    e->is_float = is_float;
    e->count = 0;
    e->first_t = e->t = 0;
    e->delta = 0;
    memset(&e->prev, 0, sizeof e->prev);
}

static int put_xor(struct buf *b, uint64_t x)
{
    if (x == 0)
        return buf_append_u8(b, 0);
    unsigned lead = (unsigned)__builtin_clzll(x) / 8, trail = (unsigned)__builtin_ctzll(x) / 8;
    unsigned sig = 8 - lead - trail;
    uint8_t tmp[9];
    tmp[0] = (uint8_t)(sig << 4 | trail);
    for (unsigned i = 0; i < sig; i++)
        tmp[1 + i] = (uint8_t)(x >> (8 * (trail + sig - 1 - i)));
    return buf_append(b, tmp, 1 + sig);
}

static int put_word(struct buf *b, bool is_float, uint64_t v, uint64_t ref)
{
    return is_float ? put_xor(b, v ^ ref) : buf_append_svarint(b, (int64_t)(v - ref));
}

static int put_spans(struct buf *b, const struct histchunk_span *sp, uint32_t n)
{
    int rc = buf_append_uvarint(b, n);
    for (uint32_t i = 0; i < n && rc == 0; i++) {
        rc = buf_append_svarint(b, sp[i].offset);
        if (rc == 0)
            rc = buf_append_uvarint(b, sp[i].length);
    }
    return rc;
}

static int put_layout(struct buf *b, const struct histchunk_hist *h)
{
    int rc = buf_append_svarint(b, h->schema);
    if (rc == 0)
        rc = buf_append_le64(b, histchunk_bits(h->zero_threshold));
    if (rc == 0)
        rc = put_spans(b, h->pspans, h->n_pspans);
    if (rc == 0)
        rc = put_spans(b, h->nspans, h->n_nspans);
    if (rc == 0 && h->schema == HISTCHUNK_SCHEMA_CUSTOM) {
        rc = buf_append_uvarint(b, h->n_custom);
        for (uint32_t i = 0; i < h->n_custom && rc == 0; i++)
            rc = buf_append_le64(b, histchunk_bits(h->custom[i]));
    }
    return rc;
}

static int put_buckets(struct buf *b, bool is_float, const uint64_t *cur, const uint64_t *prev,
                       uint32_t n)
{
    int rc = 0;
    for (uint32_t i = 0; i < n && rc == 0; i++) {
        uint64_t ref = prev ? prev[i] : (i ? cur[i - 1] : 0);
        rc = put_word(b, is_float, cur[i], ref);
    }
    return rc;
}

static int put_time(struct histchunk_enc *e, int64_t t)
{
    if (e->count == 0)
        return buf_append_svarint(&e->b, t);
    uint64_t d = (uint64_t)t - (uint64_t)e->t;
    if (e->count == 1)
        return buf_append_uvarint(&e->b, d);
    return buf_append_svarint(&e->b, (int64_t)(d - e->delta));
}

static int put_sample(struct histchunk_enc *e, int64_t t, const struct histchunk_hist *h)
{
    bool layout = e->count == 0 || !histchunk_layout_eq(h, &e->prev);
    const struct histchunk_hist *p = e->count ? &e->prev : NULL;
    int rc = buf_append_u8(&e->b, (uint8_t)(h->hint | (layout ? HDR_LAYOUT : 0)));
    if (rc == 0)
        rc = put_time(e, t);
    if (rc == 0 && layout)
        rc = put_layout(&e->b, h);
    if (rc == 0)
        rc = put_word(&e->b, e->is_float, h->count, p ? p->count : 0);
    if (rc == 0)
        rc = put_word(&e->b, e->is_float, h->zero_count, p ? p->zero_count : 0);
    if (rc == 0)
        rc = put_xor(&e->b, histchunk_bits(h->sum) ^ (p ? histchunk_bits(p->sum) : 0));
    if (rc == 0)
        rc = put_buckets(&e->b, e->is_float, h->pbuckets, layout ? NULL : p->pbuckets,
                         h->n_pbuckets);
    if (rc == 0)
        rc = put_buckets(&e->b, e->is_float, h->nbuckets, layout ? NULL : p->nbuckets,
                         h->n_nbuckets);
    return rc;
}

/* Copies h into the encoder's previous-sample state (room reserved by the caller). */
static void keep_prev(struct histchunk_enc *e, const struct histchunk_hist *h)
{
    struct histchunk_hist *p = &e->prev;
    *p = *h;
    if (h->n_pspans)
        memcpy(e->spans, h->pspans, h->n_pspans * sizeof *e->spans);
    if (h->n_nspans)
        memcpy(e->spans + h->n_pspans, h->nspans, h->n_nspans * sizeof *e->spans);
    if (h->n_pbuckets)
        memcpy(e->buckets, h->pbuckets, h->n_pbuckets * sizeof *e->buckets);
    if (h->n_nbuckets)
        memcpy(e->buckets + h->n_pbuckets, h->nbuckets, h->n_nbuckets * sizeof *e->buckets);
    if (h->n_custom)
        memcpy(e->custom, h->custom, h->n_custom * sizeof *e->custom);
    p->pspans = e->spans;
    p->nspans = e->spans + h->n_pspans;
    p->pbuckets = e->buckets;
    p->nbuckets = e->buckets + h->n_pbuckets;
    p->custom = e->custom;
}

int histchunk_enc_append(struct histchunk_enc *e, int64_t t, const struct histchunk_hist *h)
{
    ASSERT(histchunk_hist_check(h, e->is_float, NULL) == 0);
    if (e->count >= HISTCHUNK_SAMPLES_MAX)
        return ERR_FULL;
    if (e->count && t <= e->t)
        return ERR_ORDER;
    if (grow((void **)&e->spans, &e->spans_cap, h->n_pspans + h->n_nspans, sizeof *e->spans) ||
        grow((void **)&e->buckets, &e->buckets_cap, h->n_pbuckets + h->n_nbuckets,
             sizeof *e->buckets) ||
        grow((void **)&e->custom, &e->custom_cap, h->n_custom, sizeof *e->custom))
        return ERR_NOMEM;
    /* the arrays may have moved: re-point the previous sample's views */
    e->prev.pspans = e->spans;
    e->prev.nspans = e->spans + e->prev.n_pspans;
    e->prev.pbuckets = e->buckets;
    e->prev.nbuckets = e->buckets + e->prev.n_pbuckets;
    e->prev.custom = e->custom;
    size_t mark = e->b.len;
    int rc = 0;
    if (e->count == 0) {
        uint8_t hdr[HISTCHUNK_HEADER_LEN] = {0, 0, e->is_float ? 1 : 0};
        rc = buf_append(&e->b, hdr, sizeof hdr);
    }
    if (rc == 0)
        rc = put_sample(e, t, h);
    if (rc) {
        e->b.len = mark;
        return rc;
    }
    if (e->count == 0)
        e->first_t = t;
    else
        e->delta = (uint64_t)t - (uint64_t)e->t;
    e->t = t;
    e->count++;
    e->b.data[0] = (uint8_t)(e->count >> 8);
    e->b.data[1] = (uint8_t)e->count;
    keep_prev(e, h);
    return 0;
}

/* ---- reader ---- */

int histchunk_count(const uint8_t *data, size_t len)
{
    if (len < HISTCHUNK_HEADER_LEN)
        return len == 0 ? 0 : ERR_TRUNCATED;
    return (int)data[0] << 8 | data[1];
}

int histchunk_is_float(const uint8_t *data, size_t len)
{
    if (len < HISTCHUNK_HEADER_LEN)
        return ERR_TRUNCATED;
    return data[2] > 1 ? ERR_CORRUPT : data[2];
}

int histchunk_first_ts(const uint8_t *data, size_t len, int64_t *t)
{
    int n = histchunk_count(data, len);
    if (n <= 0)
        return n < 0 ? n : ERR_TRUNCATED;
    if (len == HISTCHUNK_HEADER_LEN)
        return ERR_TRUNCATED;
    struct rd r = rd_make(data + HISTCHUNK_HEADER_LEN + 1, len - HISTCHUNK_HEADER_LEN - 1);
    return rd_svarint(&r, t);
}

void histchunk_iter_init(struct histchunk_iter *it, const uint8_t *data, size_t len)
{
    memset(it, 0, sizeof *it);
    int n = histchunk_count(data, len);
    int fl = histchunk_is_float(data, len);
    if (len == 0)
        return;
    if (n < 0 || fl < 0) {
        it->err = n < 0 ? n : fl;
        return;
    }
    it->is_float = fl == 1;
    it->left = (uint32_t)n;
    it->r = rd_make(data + HISTCHUNK_HEADER_LEN, len - HISTCHUNK_HEADER_LEN);
}

void histchunk_iter_deinit(struct histchunk_iter *it)
{
    free(it->spans);
    free(it->buckets);
    free(it->custom);
    memset(it, 0, sizeof *it);
}

static int get_xor(struct rd *r, uint64_t *x)
{
    uint8_t c;
    int rc = rd_u8(r, &c);
    if (rc)
        return rc;
    unsigned sig = c >> 4, trail = c & 15;
    if (sig == 0) {
        *x = 0;
        return trail ? ERR_CORRUPT : 0;
    }
    if (sig + trail > 8)
        return ERR_CORRUPT;
    const uint8_t *p;
    if ((rc = rd_take(r, sig, &p)) != 0)
        return rc;
    uint64_t v = 0;
    for (unsigned i = 0; i < sig; i++)
        v = v << 8 | p[i];
    *x = v << (8 * trail);
    return 0;
}

static int get_word(struct rd *r, bool is_float, uint64_t ref, uint64_t *out)
{
    if (is_float) {
        uint64_t x = 0;
        int rc = get_xor(r, &x);
        *out = ref ^ x;
        return rc;
    }
    int64_t d = 0;
    int rc = rd_svarint(r, &d);
    *out = ref + (uint64_t)d;
    return rc;
}

static int get_spans(struct histchunk_iter *it, uint32_t at, uint32_t *n)
{
    uint64_t v;
    int rc = rd_uvarint(&it->r, &v);
    if (rc)
        return rc;
    if (v > HISTCHUNK_SPANS_MAX || v > rd_left(&it->r) / 2)
        return v > HISTCHUNK_SPANS_MAX ? ERR_CORRUPT : ERR_TRUNCATED;
    *n = (uint32_t)v;
    if (grow((void **)&it->spans, &it->spans_cap, at + *n, sizeof *it->spans))
        return ERR_NOMEM;
    for (uint32_t i = 0; i < *n; i++) {
        int64_t off;
        uint64_t l;
        if ((rc = rd_svarint(&it->r, &off)) || (rc = rd_uvarint(&it->r, &l)))
            return rc;
        if (off < INT32_MIN || off > INT32_MAX || l > HISTCHUNK_BUCKETS_MAX)
            return ERR_CORRUPT;
        it->spans[at + i] = (struct histchunk_span){(int32_t)off, (uint32_t)l};
    }
    return 0;
}

static uint32_t spans_total(const struct histchunk_span *sp, uint32_t n)
{
    uint64_t t = 0;
    for (uint32_t i = 0; i < n; i++)
        t += sp[i].length;
    return t > HISTCHUNK_BUCKETS_MAX ? UINT32_MAX : (uint32_t)t;
}

static int get_layout(struct histchunk_iter *it)
{
    struct histchunk_hist *h = &it->cur;
    int64_t schema;
    uint64_t zt, nc = 0;
    uint32_t np, nn;
    int rc = rd_svarint(&it->r, &schema);
    if (rc == 0)
        rc = rd_le64(&it->r, &zt);
    if (rc == 0)
        rc = get_spans(it, 0, &np);
    if (rc == 0)
        rc = get_spans(it, np, &nn);
    if (rc)
        return rc;
    if (schema != HISTCHUNK_SCHEMA_CUSTOM &&
        (schema < HISTCHUNK_SCHEMA_MIN || schema > HISTCHUNK_SCHEMA_MAX))
        return ERR_CORRUPT;
    if (schema == HISTCHUNK_SCHEMA_CUSTOM) {
        if ((rc = rd_uvarint(&it->r, &nc)) != 0)
            return rc;
        if (nc > HISTCHUNK_CUSTOM_MAX)
            return ERR_CORRUPT;
        if (nc > rd_left(&it->r) / 8)
            return ERR_TRUNCATED;
        if (grow((void **)&it->custom, &it->custom_cap, (uint32_t)nc, sizeof *it->custom))
            return ERR_NOMEM;
        for (uint32_t i = 0; i < nc; i++) {
            uint64_t w;
            rd_le64(&it->r, &w);
            it->custom[i] = histchunk_f64(w);
        }
    }
    h->schema = (int32_t)schema;
    h->zero_threshold = histchunk_f64(zt);
    h->pspans = it->spans;
    h->n_pspans = np;
    h->nspans = it->spans + np;
    h->n_nspans = nn;
    h->custom = it->custom;
    h->n_custom = (uint32_t)nc;
    h->n_pbuckets = spans_total(h->pspans, np);
    h->n_nbuckets = spans_total(h->nspans, nn);
    if (h->n_pbuckets == UINT32_MAX || h->n_nbuckets == UINT32_MAX ||
        h->n_pbuckets + h->n_nbuckets > HISTCHUNK_BUCKETS_MAX)
        return ERR_CORRUPT;
    return grow((void **)&it->buckets, &it->buckets_cap, h->n_pbuckets + h->n_nbuckets,
                sizeof *it->buckets);
}

static int get_buckets(struct histchunk_iter *it, uint64_t *b, uint32_t n, bool layout)
{
    for (uint32_t i = 0; i < n; i++) {
        uint64_t ref = layout ? (i ? b[i - 1] : 0) : b[i];
        int rc = get_word(&it->r, it->is_float, ref, &b[i]);
        if (rc)
            return rc;
    }
    return 0;
}

static int get_time(struct histchunk_iter *it)
{
    if (it->index == 0)
        return rd_svarint(&it->r, &it->t);
    uint64_t d;
    int rc;
    if (it->index == 1) {
        rc = rd_uvarint(&it->r, &d);
    } else {
        int64_t dod;
        rc = rd_svarint(&it->r, &dod);
        d = it->delta + (uint64_t)dod;
    }
    if (rc)
        return rc;
    if (d == 0 || d > (uint64_t)INT64_MAX - (uint64_t)it->t)
        return ERR_CORRUPT;
    it->delta = d;
    it->t = (int64_t)((uint64_t)it->t + d);
    return 0;
}

static int read_sample(struct histchunk_iter *it)
{
    struct histchunk_hist *h = &it->cur;
    uint8_t hdr;
    int rc = rd_u8(&it->r, &hdr);
    if (rc)
        return rc;
    bool layout = hdr & HDR_LAYOUT;
    if ((hdr & ~(HDR_LAYOUT | HDR_HINT_MASK)) || (it->index == 0 && !layout))
        return ERR_CORRUPT;
    uint64_t count = h->count, zero = h->zero_count, sum = histchunk_bits(h->sum);
    if (it->index == 0)
        count = zero = sum = 0;
    if ((rc = get_time(it)) || (layout && (rc = get_layout(it))))
        return rc;
    h->hint = hdr & HDR_HINT_MASK;
    if ((rc = get_word(&it->r, it->is_float, count, &h->count)) ||
        (rc = get_word(&it->r, it->is_float, zero, &h->zero_count)) ||
        (rc = get_word(&it->r, true, sum, &sum)))
        return rc;
    h->sum = histchunk_f64(sum);
    h->pbuckets = it->buckets;
    h->nbuckets = it->buckets + h->n_pbuckets;
    if ((rc = get_buckets(it, it->buckets, h->n_pbuckets, layout)) ||
        (rc = get_buckets(it, it->buckets + h->n_pbuckets, h->n_nbuckets, layout)))
        return rc;
    return histchunk_hist_check(h, it->is_float, NULL) ? ERR_CORRUPT : 0;
}

int histchunk_iter_next(struct histchunk_iter *it)
{
    if (it->err)
        return it->err;
    if (it->left == 0) {
        if (!rd_empty(&it->r))
            it->err = ERR_CORRUPT;
        return it->err;
    }
    int rc = read_sample(it);
    if (rc) {
        it->err = rc;
        return rc;
    }
    it->index++;
    it->left--;
    return 1;
}
