/* Floatpack chunk codec: encoder (variant choice, frame packing) and bounds-checked iterator.
 * Layout: docs/formats/floatpack.md. */
#include "formats/floatpack.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>

#include "base/error.h"
#include "base/varint.h"

enum { TS_DELTA = 0, TS_GRID = 1 };
enum { V_DEC_DELTA = 0, V_DEC_DOD = 1, V_XOR = 2 };

#define FLAG_TS_MASK 0x03u
#define FLAG_V_SHIFT 2
#define FLAG_V_MASK  0x0cu
#define EXC_FLAG     0x80u
#define SPARSE_BASE  65u /* head width field 65 + w: a sparse frame of w-bit nonzero values */
#define SPARSE_W_MAX 62u

static const double P10[FLOATPACK_SCALE_MAX + 1] = {
    1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,
    1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18,
};

static inline uint64_t f2b(double d)
{
    uint64_t b;
    memcpy(&b, &d, sizeof b);
    return b;
}

static inline double b2f(uint64_t b)
{
    double d;
    memcpy(&d, &b, sizeof d);
    return d;
}

static inline unsigned bitlen(uint64_t v)
{
    return v ? 64u - (unsigned)__builtin_clzll(v) : 0u;
}

static inline uint64_t mask_w(unsigned w)
{
    return w >= 64 ? ~0ull : (1ull << w) - 1;
}

/* ---- bit writer (LSB first) ---------------------------------------------------------------- */

struct bitw {
    struct buf *b;
    uint64_t acc;
    unsigned n; /* bits in acc (< 64) */
    int err;
};

static void bitw_put(struct bitw *w, uint64_t v, unsigned nb)
{
    if (nb == 0)
        return;
    v &= mask_w(nb);
    w->acc |= v << w->n;
    unsigned room = 64 - w->n;
    if (nb < room) {
        w->n += nb;
        return;
    }
    if (buf_append_le64(w->b, w->acc))
        w->err = ERR_NOMEM;
    w->acc = room == 64 ? 0 : v >> room;
    w->n = nb - room;
}

static void bitw_finish(struct bitw *w)
{
    for (unsigned i = 0; i < w->n; i += 8)
        if (buf_append_u8(w->b, (uint8_t)(w->acc >> i)))
            w->err = ERR_NOMEM;
    w->acc = 0;
    w->n = 0;
}

/* ---- frame packing ------------------------------------------------------------------------- */

/* The dense width with the fewest bytes for a frame: k values at width w plus, for each value
 * longer than w, an exception (index byte + uvarint of its high bits, ceil((len - w) / 7) bytes).
 * Computed from the histogram of bit lengths. *cost gets the frame's bytes. */
static unsigned frame_width(const uint64_t *u, size_t k, size_t *cost)
{
    uint8_t cnt[65] = {0};
    unsigned maxw = 0;
    for (size_t i = 0; i < k; i++) {
        unsigned b = bitlen(u[i]);
        cnt[b]++;
        maxw = b > maxw ? b : maxw;
    }
    unsigned best = maxw;
    size_t best_c = 1 + (k * maxw + 7) / 8;
    for (unsigned w = 0; w < maxw; w++) {
        if (!cnt[w])
            continue;
        size_t c = 2 + (k * w + 7) / 8; /* head, exception count */
        for (unsigned b = w + 1; b <= maxw && c < best_c; b++)
            c += cnt[b] * (1 + (b - w + 6) / 7);
        if (c < best_c) {
            best_c = c;
            best = w;
        }
    }
    *cost = best_c;
    return best;
}

/* Sparse frame: head, a bitmap of the nonzero values, then those values at width w. Worth it
 * when most values are zero and the rest similar (jittered scrape timestamps). *w_out = 0: not
 * possible. */
static size_t sparse_cost(const uint64_t *u, size_t k, unsigned *w_out)
{
    size_t nz = 0;
    unsigned w = 0;
    for (size_t i = 0; i < k; i++) {
        unsigned b = bitlen(u[i]);
        nz += b > 0;
        w = b > w ? b : w;
    }
    *w_out = w <= SPARSE_W_MAX ? w : 0;
    return 1 + (k + 7) / 8 + (nz * w + 7) / 8;
}

static int pack_sparse(const uint64_t *u, size_t k, unsigned w, struct buf *out)
{
    uint8_t bm[FLOATPACK_FRAME / 8] = {0};
    for (size_t i = 0; i < k; i++)
        bm[i / 8] |= (uint8_t)((u[i] != 0) << (i % 8));
    int rc = buf_append_u8(out, (uint8_t)(SPARSE_BASE + w)) | buf_append(out, bm, (k + 7) / 8);
    struct bitw bw = {out, 0, 0, 0};
    for (size_t i = 0; i < k; i++)
        if (u[i])
            bitw_put(&bw, u[i], w);
    bitw_finish(&bw);
    return rc || bw.err ? ERR_NOMEM : 0;
}

static int pack_frame(const uint64_t *u, size_t k, struct buf *out)
{
    uint64_t any = 0;
    for (size_t i = 0; i < k; i++)
        any |= u[i];
    if (any == 0) /* the common frame: regular stamps, an unchanged value */
        return buf_append_u8(out, 0) ? ERR_NOMEM : 0;
    size_t cost;
    unsigned sw, w = frame_width(u, k, &cost);
    if (sparse_cost(u, k, &sw) < cost && sw)
        return pack_sparse(u, k, sw, out);
    uint8_t ne = 0;
    for (size_t i = 0; i < k; i++)
        ne += bitlen(u[i]) > w;
    int rc = buf_append_u8(out, (uint8_t)(w | (ne ? EXC_FLAG : 0)));
    if (ne) {
        rc |= buf_append_u8(out, ne);
        for (size_t i = 0; i < k; i++)
            if (bitlen(u[i]) > w)
                rc |= buf_append_u8(out, (uint8_t)i) | buf_append_uvarint(out, u[i] >> w);
    }
    struct bitw bw = {out, 0, 0, 0};
    for (size_t i = 0; i < k; i++)
        bitw_put(&bw, u[i], w);
    bitw_finish(&bw);
    return rc || bw.err ? ERR_NOMEM : 0;
}

/* Packs u[0..n) as frames; appends the stream's length then its bytes. */
static int pack_stream(const uint64_t *u, size_t n, struct buf *tmp, struct buf *out)
{
    buf_reset(tmp);
    for (size_t i = 0; i < n; i += FLOATPACK_FRAME) {
        size_t k = n - i < FLOATPACK_FRAME ? n - i : FLOATPACK_FRAME;
        if (pack_frame(u + i, k, tmp))
            return ERR_NOMEM;
    }
    if (buf_append_uvarint(out, tmp->len) || buf_append(out, tmp->data, tmp->len))
        return ERR_NOMEM;
    return 0;
}

/* k values of w bits, least significant bit first, from q (nbytes = ceil(k*w/8) readable). */
static void unpack_bits(const uint8_t *q, size_t nbytes, size_t k, unsigned w, uint64_t *out)
{
    if (w == 0) {
        memset(out, 0, k * sizeof *out);
        return;
    }
    uint8_t tmp[FLOATPACK_FRAME * 8 + 16];
    memcpy(tmp, q, nbytes);
    memset(tmp + nbytes, 0, 16);
    uint64_t m = mask_w(w);
    for (size_t i = 0; i < k; i++) {
        size_t bp = i * w, by = bp >> 3;
        unsigned sh = bp & 7;
        uint64_t x = le64_get(tmp + by) >> sh;
        if (sh && sh + w > 64)
            x |= (uint64_t)tmp[by + 8] << (64 - sh);
        out[i] = x & m;
    }
}

static int unpack_sparse(struct rd *r, unsigned h, size_t k, uint64_t *out)
{
    unsigned w = h - SPARSE_BASE;
    const uint8_t *bm, *q;
    if ((h & EXC_FLAG) || w == 0 || w > SPARSE_W_MAX)
        return ERR_CORRUPT;
    size_t nb = (k + 7) / 8, nz = 0;
    if (rd_take(r, nb, &bm))
        return ERR_TRUNCATED;
    if (k % 8 && bm[nb - 1] >> (k % 8))
        return ERR_CORRUPT; /* bits past the frame */
    for (size_t i = 0; i < nb; i++)
        nz += (size_t)__builtin_popcount(bm[i]);
    if (rd_take(r, (nz * w + 7) / 8, &q))
        return ERR_TRUNCATED;
    uint64_t vals[FLOATPACK_FRAME];
    unpack_bits(q, (nz * w + 7) / 8, nz, w, vals);
    for (size_t i = 0, j = 0; i < k; i++)
        out[i] = bm[i / 8] >> (i % 8) & 1 ? vals[j++] : 0;
    return 0;
}

/* Unpacks one frame of k values from [*pos, end) of p. */
static int unpack_frame(const uint8_t *p, size_t *pos, size_t end, size_t k, uint64_t *out)
{
    struct rd r = rd_make(p + *pos, end - *pos);
    uint8_t h, ne = 0, idx[FLOATPACK_FRAME];
    uint64_t hi[FLOATPACK_FRAME];
    if (rd_u8(&r, &h))
        return ERR_TRUNCATED;
    unsigned w = h & 0x7fu;
    if (w >= SPARSE_BASE) {
        int rc = unpack_sparse(&r, h, k, out);
        if (rc == 0)
            *pos = (size_t)(r.p - p);
        return rc;
    }
    if (w > 64)
        return ERR_CORRUPT;
    if ((h & EXC_FLAG) && (rd_u8(&r, &ne) || ne == 0 || ne > k || w == 64))
        return rd_left(&r) ? ERR_CORRUPT : ERR_TRUNCATED;
    for (unsigned e = 0; e < ne; e++) {
        int rc = rd_u8(&r, &idx[e]);
        if (rc == 0)
            rc = rd_uvarint(&r, &hi[e]);
        if (rc)
            return rc;
        if (idx[e] >= k || (e && idx[e] <= idx[e - 1]) || hi[e] == 0 || (w && hi[e] >> (64 - w)))
            return ERR_CORRUPT;
    }
    size_t nbytes = (k * w + 7) / 8;
    const uint8_t *q;
    if (rd_take(&r, nbytes, &q))
        return ERR_TRUNCATED;
    unpack_bits(q, nbytes, k, w, out);
    for (unsigned e = 0; e < ne; e++)
        out[idx[e]] |= hi[e] << w;
    *pos = (size_t)(r.p - p);
    return 0;
}

/* ---- encoder: timestamps ------------------------------------------------------------------- */

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* The median delta: the interval most samples follow. */
static int median_delta(const int64_t *ts, size_t n, int64_t *d)
{
    /* the usual case: one delta is the majority (then it is also the median) */
    int64_t cand = 0;
    size_t votes = 0, same = 0;
    for (size_t i = 1; i < n; i++) {
        int64_t x = (int64_t)((uint64_t)ts[i] - (uint64_t)ts[i - 1]);
        if (votes == 0)
            cand = x;
        votes += x == cand ? 1 : (size_t)-1;
    }
    for (size_t i = 1; i < n; i++)
        same += (int64_t)((uint64_t)ts[i] - (uint64_t)ts[i - 1]) == cand;
    if (2 * same > n - 1) {
        *d = cand;
        return 0;
    }
    int64_t *tmp = malloc((n - 1) * sizeof *tmp);
    if (!tmp)
        return ERR_NOMEM;
    for (size_t i = 1; i < n; i++)
        tmp[i - 1] = (int64_t)((uint64_t)ts[i] - (uint64_t)ts[i - 1]);
    qsort(tmp, n - 1, sizeof *tmp, cmp_i64);
    *d = tmp[(n - 1) / 2];
    free(tmp);
    return 0;
}

/* Appends the timestamp section (after t0) in the smaller mode; *mode gets it. */
static int enc_ts(const int64_t *ts, size_t n, uint64_t *u, struct buf *tmp, struct buf *a,
                  struct buf *b, uint8_t *mode)
{
    int64_t d;
    int rc = median_delta(ts, n, &d);
    if (rc)
        return rc;
    for (size_t i = 1; i < n; i++)
        u[i - 1] = zigzag_enc((int64_t)((uint64_t)ts[i] - (uint64_t)ts[i - 1] - (uint64_t)d));
    rc = buf_append_svarint(a, d) | pack_stream(u, n - 1, tmp, a);
    for (size_t i = 1; i < n; i++)
        u[i - 1] =
            zigzag_enc((int64_t)((uint64_t)ts[i] - (uint64_t)ts[0] - (uint64_t)i * (uint64_t)d));
    rc |= buf_append_svarint(b, d) | pack_stream(u, n - 1, tmp, b);
    if (rc)
        return ERR_NOMEM;
    *mode = b->len < a->len ? TS_GRID : TS_DELTA;
    return 0;
}

/* ---- encoder: values ----------------------------------------------------------------------- */

/* Whether the value is exactly m / 10^s for an integer |m| <= 2^53. */
static bool dec_of(uint64_t bits, unsigned s, int64_t *m)
{
    double x = b2f(bits);
    if (!isfinite(x) || bits == 0x8000000000000000ull)
        return false;
    double y = x * P10[s];
    if (!(fabs(y) <= 9007199254740992.0))
        return false;
    int64_t k = (int64_t)llrint(y);
    if (f2b((double)k / P10[s]) != bits)
        return false;
    *m = k;
    return true;
}

/* The scale with the fewest values that are not decimals (ties: the smaller); *miss = how many. */
static unsigned pick_scale(const uint64_t *v, size_t n, size_t *miss)
{
    /* A decimal at scale s is one at every larger scale too, so the smallest scales of the
     * first few values tell which scales can keep misses rare: skip a scale where two of them
     * miss (full-entropy values then cost a few checks, not a pass per scale). */
    unsigned smin[8];
    size_t nf = 0;
    int64_t m;
    for (size_t i = 0; i < n && nf < 8; i++) {
        unsigned s = 0;
        while (s <= FLOATPACK_SCALE_MAX && !dec_of(v[i], s, &m))
            s++;
        smin[nf++] = s;
    }
    unsigned best = 0;
    size_t best_miss = SIZE_MAX, limit = n / 8 + 1;
    for (unsigned s = 0; s <= FLOATPACK_SCALE_MAX && best_miss; s++) {
        size_t early = 0;
        for (size_t j = 0; j < nf; j++)
            early += smin[j] > s;
        if (early > 1)
            continue;
        size_t k = 0;
        for (size_t i = 0; i < n && k <= limit && k < best_miss; i++)
            k += !dec_of(v[i], s, &m);
        if (k < best_miss && k <= limit) {
            best_miss = k;
            best = s;
        }
    }
    *miss = best_miss;
    return best;
}

static uint64_t gcd_u64(uint64_t a, uint64_t b)
{
    while (b) {
        uint64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

/* Turns x[0..k) (signed as int64) into zigzag codes divided by their common factor *g. */
static void factor_out(uint64_t *x, size_t k, uint64_t *g)
{
    uint64_t c = 0;
    for (size_t i = 0; i < k && c != 1; i++) {
        int64_t s = (int64_t)x[i];
        uint64_t a = s < 0 ? -(uint64_t)s : (uint64_t)s;
        c = gcd_u64(c, a);
    }
    if (c == 0 || c > (uint64_t)INT64_MAX)
        c = 1;
    for (size_t i = 0; i < k; i++)
        x[i] = zigzag_enc((int64_t)x[i] / (int64_t)c);
    *g = c;
}

/* Decimal section: scale, m0, factor, stream of deltas (or deltas of deltas), specials. */
/* The integers of v at scale s into m[] (a special repeats the previous integer, 0 at the
 * start) with sp[i] = 1 for specials. Returns the number of specials. */
static size_t dec_ints(const uint64_t *v, size_t n, unsigned s, uint64_t *m, uint8_t *sp)
{
    uint64_t prev = 0;
    size_t nsp = 0;
    for (size_t i = 0; i < n; i++) {
        int64_t x;
        sp[i] = !dec_of(v[i], s, &x);
        prev = sp[i] ? prev : (uint64_t)x;
        m[i] = prev;
        nsp += sp[i];
    }
    return nsp;
}

static int enc_dec(const uint64_t *v, const uint64_t *m, const uint8_t *sp, size_t n, size_t nsp,
                   unsigned s, bool dod, uint64_t *u, struct buf *tmp, struct buf *out)
{
    uint64_t pd = 0;
    for (size_t i = 1; i < n; i++) {
        uint64_t dlt = m[i] - m[i - 1];
        u[i - 1] = dod ? dlt - pd : dlt;
        pd = dlt;
    }
    uint64_t g;
    factor_out(u, n - 1, &g);
    int rc = buf_append_u8(out, (uint8_t)s) | buf_append_svarint(out, (int64_t)m[0]) |
             buf_append_uvarint(out, g) | pack_stream(u, n - 1, tmp, out) |
             buf_append_uvarint(out, nsp);
    size_t last = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (!sp[i])
            continue;
        rc = buf_append_uvarint(out, i - last) | buf_append_le64(out, v[i]);
        last = i + 1;
    }
    return rc ? ERR_NOMEM : 0;
}

/* XOR section: byte length, then the bit stream. */
static int enc_xor(const uint64_t *v, size_t n, struct buf *tmp, struct buf *out)
{
    buf_reset(tmp);
    struct bitw bw = {tmp, 0, 0, 0};
    bitw_put(&bw, v[0], 64);
    unsigned plead = 0, psig = 0;
    for (size_t i = 1; i < n; i++) {
        uint64_t x = v[i] ^ v[i - 1];
        if (x == 0) {
            bitw_put(&bw, 0, 1);
            continue;
        }
        unsigned lead = (unsigned)__builtin_clzll(x), trail = (unsigned)__builtin_ctzll(x);
        if (psig && lead >= plead && trail >= 64 - plead - psig) {
            bitw_put(&bw, 1, 2); /* bits: 1, 0 */
            bitw_put(&bw, x >> (64 - plead - psig), psig);
            continue;
        }
        unsigned sig = 64 - lead - trail;
        bitw_put(&bw, 3, 2);
        bitw_put(&bw, lead, 6);
        bitw_put(&bw, sig - 1, 6);
        bitw_put(&bw, x >> trail, sig);
        plead = lead;
        psig = sig;
    }
    bitw_finish(&bw);
    if (bw.err || buf_append_uvarint(out, tmp->len) || buf_append(out, tmp->data, tmp->len))
        return ERR_NOMEM;
    return 0;
}

struct encs {
    struct buf tmp, ta, tb, va, vb, vc;
    uint64_t *u, *m;
    uint8_t *sp;
};

static void encs_free(struct encs *e)
{
    buf_deinit(&e->tmp);
    buf_deinit(&e->ta);
    buf_deinit(&e->tb);
    buf_deinit(&e->va);
    buf_deinit(&e->vb);
    buf_deinit(&e->vc);
    free(e->u);
    free(e->m);
    free(e->sp);
}

static const struct buf *smallest(const struct buf *a, const struct buf *b, const struct buf *c,
                                  uint8_t *which)
{
    /* empty: not built; the first of equal sizes wins */
    const struct buf *cand[3] = {a, b, c}, *best = NULL;
    static const uint8_t modes[3] = {V_DEC_DELTA, V_DEC_DOD, V_XOR};
    for (int i = 0; i < 3; i++)
        if (cand[i]->len && (!best || cand[i]->len < best->len)) {
            best = cand[i];
            *which = modes[i];
        }
    ASSERT(best);
    return best;
}

/* Builds every variant into e; picks timestamps and values separately and writes the chunk. */
static int enc_all(const int64_t *ts, const uint64_t *v, size_t n, struct encs *e, struct buf *out)
{
    uint8_t tmode = TS_DELTA, vmode = V_XOR;
    int rc = 0;
    if (n > 1)
        rc = enc_ts(ts, n, e->u, &e->tmp, &e->ta, &e->tb, &tmode);
    size_t miss;
    unsigned s = pick_scale(v, n, &miss);
    if (rc == 0 && miss != SIZE_MAX) {
        size_t nsp = dec_ints(v, n, s, e->m, e->sp);
        rc = enc_dec(v, e->m, e->sp, n, nsp, s, false, e->u, &e->tmp, &e->va);
        if (rc == 0 && n > 2)
            rc = enc_dec(v, e->m, e->sp, n, nsp, s, true, e->u, &e->tmp, &e->vb);
    }
    /* xor needs 64 bits plus one per further sample: skip it when a decimal form is no larger */
    size_t dec_len = e->va.len && (!e->vb.len || e->va.len < e->vb.len) ? e->va.len : e->vb.len;
    if (rc == 0 && (dec_len == 0 || dec_len > 9 + (n - 1) / 8))
        rc = enc_xor(v, n, &e->tmp, &e->vc);
    if (rc)
        return rc;
    const struct buf *vs = smallest(&e->va, &e->vb, &e->vc, &vmode);
    const struct buf *tsec = tmode == TS_GRID ? &e->tb : &e->ta;
    rc = buf_append_u8(out, (uint8_t)(tmode | vmode << FLAG_V_SHIFT)) | buf_append_uvarint(out, n) |
         buf_append_svarint(out, ts[0]) | buf_append(out, tsec->data, tsec->len) |
         buf_append(out, vs->data, vs->len);
    return rc ? ERR_NOMEM : 0;
}

int floatpack_encode(const int64_t *ts, const uint64_t *v_bits, size_t n, struct buf *out)
{
    if (n == 0 || n > FLOATPACK_SAMPLES_MAX)
        return ERR_INVALID;
    for (size_t i = 1; i < n; i++)
        if (ts[i] <= ts[i - 1])
            return ERR_INVALID;
    struct encs e = {BUF_INIT, BUF_INIT, BUF_INIT, BUF_INIT, BUF_INIT, BUF_INIT, NULL, NULL, NULL};
    e.u = malloc(n * sizeof *e.u);
    e.m = malloc(n * sizeof *e.m);
    e.sp = malloc(n);
    int rc = e.u && e.m && e.sp ? enc_all(ts, v_bits, n, &e, out) : ERR_NOMEM;
    encs_free(&e);
    return rc;
}

/* ---- iterator ------------------------------------------------------------------------------ */

static int fail(struct floatpack_iter *it, int err)
{
    it->err = err;
    it->cur = it->n_ahead = 0;
    return err;
}

/* Reads a uvarint length and checks the section fits; *start gets its offset. */
static int section(struct rd *r, const uint8_t *base, size_t *start, size_t *end)
{
    uint64_t n;
    int rc = rd_uvarint(r, &n);
    if (rc)
        return rc;
    if (n > rd_left(r))
        return ERR_TRUNCATED;
    *start = (size_t)(r->p - base);
    *end = *start + (size_t)n;
    r->p += n;
    return 0;
}

/* Walks the specials list once: indexes increase and stay below n, and the chunk ends there. */
static int check_specials(struct floatpack_iter *it, struct rd *r)
{
    uint64_t k;
    int rc = rd_uvarint(r, &k);
    if (rc)
        return rc;
    if (k > it->n)
        return ERR_CORRUPT;
    it->sp_left = (uint32_t)k;
    it->sp_pos = (size_t)(r->p - it->data);
    uint64_t next = 0;
    for (uint64_t i = 0; i < k; i++) {
        uint64_t gap, bits;
        if ((rc = rd_uvarint(r, &gap)) || (rc = rd_le64(r, &bits)))
            return rc;
        if (gap >= it->n || next + gap >= it->n)
            return ERR_CORRUPT;
        next += gap + 1;
    }
    return 0;
}

static int parse_values(struct floatpack_iter *it, struct rd *r)
{
    int rc;
    if (it->v_mode == V_XOR) {
        if ((rc = section(r, it->data, &it->v_pos, &it->v_end)))
            return rc;
        it->v_bit = 0;
        return 0;
    }
    uint8_t s;
    int64_t m0;
    if ((rc = rd_u8(r, &s)) || (rc = rd_svarint(r, &m0)) || (rc = rd_uvarint(r, &it->g)))
        return rc;
    if (s > FLOATPACK_SCALE_MAX || it->g == 0)
        return ERR_CORRUPT;
    it->scale = s;
    it->m = (uint64_t)m0;
    if ((rc = section(r, it->data, &it->v_pos, &it->v_end)))
        return rc;
    return check_specials(it, r);
}

static int parse(struct floatpack_iter *it)
{
    struct rd r = rd_make(it->data, it->len);
    uint8_t f;
    uint64_t n;
    int rc;
    if ((rc = rd_u8(&r, &f)) || (rc = rd_uvarint(&r, &n)) || (rc = rd_svarint(&r, &it->t0)))
        return rc;
    it->ts_mode = f & FLAG_TS_MASK;
    it->v_mode = (f & FLAG_V_MASK) >> FLAG_V_SHIFT;
    if ((f & ~(FLAG_TS_MASK | FLAG_V_MASK)) || it->ts_mode > TS_GRID || it->v_mode > V_XOR ||
        n == 0 || n > FLOATPACK_SAMPLES_MAX)
        return ERR_CORRUPT;
    it->n = (uint32_t)n;
    if (n > 1) {
        if ((rc = rd_svarint(&r, &it->d)) || (rc = section(&r, it->data, &it->ts_pos, &it->ts_end)))
            return rc;
    }
    if ((rc = parse_values(it, &r)))
        return rc;
    return rd_empty(&r) ? 0 : ERR_CORRUPT;
}

int floatpack_iter_init(struct floatpack_iter *it, const uint8_t *data, size_t len)
{
    memset(it, 0, offsetof(struct floatpack_iter, ahead_t));
    it->data = data;
    it->len = len;
    int rc = data ? parse(it) : ERR_TRUNCATED;
    if (rc == 0 && it->sp_left) {
        uint64_t gap;
        struct rd r = rd_make(data + it->sp_pos, len - it->sp_pos);
        ASSERT(rd_uvarint(&r, &gap) == 0);
        it->sp_next = (uint32_t)gap;
    }
    return rc ? fail(it, rc) : 0;
}

/* Timestamps of samples [done, done + k) into ahead_t + off (stream entries done-1...). */
static int fill_ts(struct floatpack_iter *it, size_t off, size_t k)
{
    uint64_t u[FLOATPACK_FRAME];
    int rc = unpack_frame(it->data, &it->ts_pos, it->ts_end, k, u);
    if (rc)
        return rc;
    uint64_t t = (uint64_t)it->t, d = (uint64_t)it->d;
    /* grid: t0 + i*d + e; delta: t + d + e. Both as a running base plus e. */
    uint64_t base = it->ts_mode == TS_GRID ? (uint64_t)it->t0 + (uint64_t)(it->done - 1) * d : t;
    bool grid = it->ts_mode == TS_GRID;
    bool bad = false;
    for (size_t i = 0; i < k; i++) {
        base += d;
        uint64_t nt = base + (uint64_t)zigzag_dec(u[i]);
        bad |= (int64_t)nt <= (int64_t)t;
        it->ahead_t[off + i] = (int64_t)nt;
        t = nt;
        base = grid ? base : nt;
    }
    if (bad)
        return ERR_CORRUPT;
    it->t = (int64_t)t;
    return 0;
}

static int fill_dec(struct floatpack_iter *it, size_t off, size_t k)
{
    uint64_t u[FLOATPACK_FRAME];
    int rc = unpack_frame(it->data, &it->v_pos, it->v_end, k, u);
    if (rc)
        return rc;
    double p = P10[it->scale];
    uint64_t m = it->m, dm = it->dm, g = it->g;
    /* runs of one value are common (constant series, idle counters): divide once per run */
    uint64_t last_m = m, last_v = f2b((double)(int64_t)m / p);
    if (it->v_mode == V_DEC_DOD) {
        for (size_t i = 0; i < k; i++) {
            dm += (uint64_t)zigzag_dec(u[i]) * g;
            m += dm;
            if (m != last_m) {
                last_m = m;
                last_v = f2b((double)(int64_t)m / p);
            }
            it->ahead_v[off + i] = last_v;
        }
    } else {
        for (size_t i = 0; i < k; i++) {
            dm = (uint64_t)zigzag_dec(u[i]) * g;
            m += dm;
            if (m != last_m) {
                last_m = m;
                last_v = f2b((double)(int64_t)m / p);
            }
            it->ahead_v[off + i] = last_v;
        }
    }
    it->m = m;
    it->dm = dm;
    return 0;
}

/* Reads nb (<= 64) bits of the xor stream. */
static inline int xor_bits(struct floatpack_iter *it, unsigned nb, uint64_t *out)
{
    size_t len = it->v_end - it->v_pos;
    if (__builtin_expect(it->v_bit + nb > (uint64_t)len * 8, 0))
        return ERR_TRUNCATED;
    const uint8_t *p = it->data + it->v_pos;
    size_t by = (size_t)(it->v_bit >> 3);
    unsigned sh = (unsigned)(it->v_bit & 7);
    uint64_t x;
    uint8_t extra;
    if (__builtin_expect(by + 9 <= len, 1)) {
        x = le64_get(p + by);
        extra = p[by + 8];
    } else {
        uint8_t tmp[9] = {0};
        memcpy(tmp, p + by, len - by);
        x = le64_get(tmp);
        extra = tmp[8];
    }
    x >>= sh;
    if (sh && sh + nb > 64)
        x |= (uint64_t)extra << (64 - sh);
    *out = x & mask_w(nb);
    it->v_bit += nb;
    return 0;
}

static int xor_one(struct floatpack_iter *it, uint64_t *v)
{
    uint64_t c, x;
    int rc = xor_bits(it, 1, &c);
    if (rc || c == 0)
        return rc;
    if ((rc = xor_bits(it, 1, &c)))
        return rc;
    if (c == 1) {
        uint64_t lead, sig;
        if ((rc = xor_bits(it, 6, &lead)) || (rc = xor_bits(it, 6, &sig)))
            return rc;
        if (lead + sig + 1 > 64)
            return ERR_CORRUPT;
        it->lead = (uint8_t)lead;
        it->sig = (uint8_t)(sig + 1);
    } else if (it->sig == 0) {
        return ERR_CORRUPT;
    }
    if ((rc = xor_bits(it, it->sig, &x)))
        return rc;
    if (x == 0 && c == 1)
        return ERR_CORRUPT; /* a window must hold a set bit */
    *v ^= x << (64 - it->lead - it->sig);
    return 0;
}

static int fill_xor(struct floatpack_iter *it, size_t off, size_t k)
{
    uint64_t v = it->v;
    for (size_t i = 0; i < k; i++) {
        int rc = xor_one(it, &v);
        if (rc)
            return rc;
        it->ahead_v[off + i] = v;
    }
    it->v = v;
    return 0;
}

/* Overwrites the special values among samples [first, first + k). */
static void apply_specials(struct floatpack_iter *it, uint32_t first, size_t k)
{
    while (it->sp_left && it->sp_next < first + k) {
        struct rd r = rd_make(it->data + it->sp_pos, it->len - it->sp_pos);
        uint64_t gap, bits;
        ASSERT(rd_uvarint(&r, &gap) == 0 && rd_le64(&r, &bits) == 0);
        it->ahead_v[it->sp_next - first] = bits;
        it->sp_pos = (size_t)(r.p - it->data);
        if (--it->sp_left) {
            ASSERT(rd_uvarint(&r, &gap) == 0);
            it->sp_next += 1 + (uint32_t)gap;
        }
    }
}

/* The first sample (its own, not part of any stream). */
static int fill_first(struct floatpack_iter *it)
{
    it->t = it->t0;
    it->ahead_t[0] = it->t0;
    if (it->v_mode == V_XOR) {
        int rc = xor_bits(it, 64, &it->v);
        if (rc)
            return rc;
        it->ahead_v[0] = it->v;
    } else {
        it->ahead_v[0] = f2b((double)(int64_t)it->m / P10[it->scale]);
    }
    it->done = 1;
    return 0;
}

int floatpack_iter_fill_(struct floatpack_iter *it)
{
    if (it->err)
        return it->err;
    uint32_t first = it->done;
    if (first == it->n) {
        it->cur = it->n_ahead = 0;
        bool left = (it->n > 1 && it->ts_pos != it->ts_end) ||
                    (it->v_mode != V_XOR && it->v_pos != it->v_end) ||
                    (it->v_mode == V_XOR && (it->v_bit + 7) / 8 != it->v_end - it->v_pos);
        return left ? fail(it, ERR_CORRUPT) : 0;
    }
    size_t off = 0;
    int rc = 0;
    if (first == 0) {
        rc = fill_first(it);
        off = 1;
    }
    size_t k = it->n - it->done;
    if (k > FLOATPACK_FRAME)
        k = FLOATPACK_FRAME;
    if (rc == 0 && k)
        rc = fill_ts(it, off, k);
    if (rc == 0 && k)
        rc = it->v_mode == V_XOR ? fill_xor(it, off, k) : fill_dec(it, off, k);
    if (rc)
        return fail(it, rc);
    apply_specials(it, first, off + k);
    it->done += (uint32_t)k;
    it->cur = 0;
    it->n_ahead = (uint8_t)(off + k);
    return 1;
}

int floatpack_iter_seek(struct floatpack_iter *it, int64_t t_ms)
{
    if (it->err)
        return it->err;
    if (it->n_ahead == 0 || it->cur >= it->n_ahead) {
        int rc = floatpack_iter_fill_(it);
        if (rc != 1)
            return rc;
    }
    while (it->ahead_t[it->n_ahead - 1] < t_ms) {
        int rc = floatpack_iter_fill_(it);
        if (rc != 1)
            return rc;
    }
    while (it->ahead_t[it->cur] < t_ms)
        it->cur++;
    return 1;
}

int floatpack_iter_next_batch(struct floatpack_iter *it, int64_t *ts, double *v, size_t cap)
{
    ASSERT(cap > 0);
    size_t got = 0;
    bool started = it->n_ahead > 0;
    while (got < cap) {
        if (!started || it->cur + 1 >= it->n_ahead) {
            int rc = floatpack_iter_fill_(it);
            if (rc <= 0)
                return got ? (int)got : rc;
            started = true;
        } else {
            it->cur++;
        }
        size_t take = (size_t)(it->n_ahead - it->cur);
        if (take > cap - got)
            take = cap - got;
        memcpy(ts + got, it->ahead_t + it->cur, take * sizeof *ts);
        memcpy(v + got, it->ahead_v + it->cur, take * sizeof *v);
        got += take;
        it->cur = (uint8_t)(it->cur + take - 1);
    }
    return (int)got;
}

int floatpack_chunk_count(const uint8_t *data, size_t len)
{
    struct rd r = rd_make(data, len);
    uint8_t f;
    uint64_t n;
    int rc;
    if ((rc = rd_u8(&r, &f)) || (rc = rd_uvarint(&r, &n)))
        return rc;
    return n == 0 || n > FLOATPACK_SAMPLES_MAX ? ERR_CORRUPT : (int)n;
}
