/* Gorilla XOR sample chunk: encoder and bounds-checked iterator.
 * Byte layout: docs/formats/gorilla.md.
 *
 * Bit I/O is MSB-first. The writer ORs bits into the byte at the bit position with one 8-byte
 * big-endian store (the buffer always has 8 spare bytes past the last one in use). The reader
 * loads the 64 bits at any bit position with one unaligned 8-byte load plus one byte, falling back
 * to a zero-padded copy only within 9 bytes of the end; a sample whose bits run past the end is
 * rejected after decoding, so zero padding never leaks into results. */
#include "formats/gorilla.h"

#include <stdlib.h>

#include "base/error.h"
#include "base/varint.h"

#define LIKELY(x)   __builtin_expect(!!(x), 1)
#define UNLIKELY(x) __builtin_expect(!!(x), 0)
/* The per-sample helpers must melt into their loops: a call would spill the decoder state. */
#define HOT static inline __attribute__((always_inline))

enum {
    HDR_COUNT_LEN = 2,     /* u16 little-endian sample count */
    LEAD_MAX = 31,         /* leading-zero field is 5 bits */
    APPEND_SLACK = 48,     /* bytes reserved per append: 145 bits of sample + an 8-byte store */
    REUSE_EXTRA_BITS = 11, /* a new window costs 11 header bits more than reusing one */
};

static const uint8_t empty_chunk[GORILLA_EMPTY_LEN] = {0, 0};

static inline void be64_put(uint8_t *p, uint64_t v)
{
    v = __builtin_bswap64(v);
    memcpy(p, &v, 8);
}

/* ---- writer ---- */

/* Bits are gathered in `acc` (its low `n` < 64 bits) and stored 64 at a time. The encoder keeps
 * the pending bits between appends; gorilla_enc_snapshot stores them when asked for the bytes. */
struct bw {
    uint8_t *d;
    uint64_t pos; /* where acc goes */
    uint64_t acc;
    unsigned n;
};

/* Stores the low n bits of `bits` (1 <= n <= 57, higher bits zero) at bit `pos`, keeping the bits
 * already in that byte and zeroing everything after them. */
HOT void store_bits(uint8_t *d, uint64_t pos, uint64_t bits, unsigned n)
{
    uint8_t *p = d + (pos >> 3);
    unsigned sh = (unsigned)(pos & 7);
    uint64_t keep = (uint64_t)(*p & (0xff00u >> sh)) << 56;
    be64_put(p, keep | (bits << (64 - sh - n)));
}

/* Stores all 64 bits of `word` at bit `pos` (9 bytes at most). */
HOT void store64(uint8_t *d, uint64_t pos, uint64_t word)
{
    uint8_t *p = d + (pos >> 3);
    unsigned sh = (unsigned)(pos & 7);
    uint64_t keep = (uint64_t)(*p & (0xff00u >> sh)) << 56;
    be64_put(p, keep | (word >> sh));
    p[8] = (uint8_t)(word << (8 - sh));
}

/* Stores n < 64 pending bits (the low bits of acc) at pos. */
HOT void store_pending(uint8_t *d, uint64_t pos, uint64_t acc, unsigned n)
{
    if (n > 57) {
        store_bits(d, pos, acc >> 32, n - 32);
        pos += n - 32;
        acc &= 0xffffffffu;
        n = 32;
    }
    if (n > 0)
        store_bits(d, pos, acc, n);
}

/* Appends the low n bits of `bits` (1 <= n <= 64, higher bits zero). */
HOT void bw_put(struct bw *w, uint64_t bits, unsigned n)
{
    unsigned total = w->n + n;
    if (LIKELY(total < 64)) {
        w->acc = (w->acc << n) | bits;
        w->n = total;
        return;
    }
    unsigned rest = total - 64; /* bits that do not fit in this word */
    store64(w->d, w->pos, ((w->acc << 1) << (63 - w->n)) | (bits >> rest));
    w->pos += 64;
    w->acc = bits & ((1ull << rest) - 1);
    w->n = rest;
}

static inline bool fits_signed(int64_t x, unsigned bits)
{
    int64_t lim = (int64_t)1 << (bits - 1);
    return x >= -lim && x < lim;
}

/* Timestamp delta-of-delta: '0' | '10'+7 | '110'+14 | '1110'+20 | '1111'+64 bits. */
HOT void put_dod(struct bw *w, int64_t dod)
{
    uint64_t u = (uint64_t)dod;
    if (dod == 0)
        bw_put(w, 0, 1);
    else if (fits_signed(dod, 7))
        bw_put(w, (0x2u << 7) | (u & 0x7f), 9);
    else if (fits_signed(dod, 14))
        bw_put(w, (0x6u << 14) | (u & 0x3fff), 17);
    else if (fits_signed(dod, 20))
        bw_put(w, (0xeu << 20) | (u & 0xfffff), 24);
    else {
        bw_put(w, 0xf, 4);
        bw_put(w, u, 64);
    }
}

/* Value XOR: '0' same | '10' + the bits inside the current window | '11' + 5-bit leading zeros +
 * 6-bit (significant bits - 1) + the significant bits, which become the current window. */
HOT void put_xor(struct gorilla_enc *e, struct bw *w, uint64_t x)
{
    if (x == 0) {
        bw_put(w, 0, 1);
        return;
    }
    unsigned lead = (unsigned)__builtin_clzll(x);
    unsigned trail = (unsigned)__builtin_ctzll(x);
    if (lead > LEAD_MAX)
        lead = LEAD_MAX;
    unsigned sig = 64 - lead - trail;
    unsigned wsig = e->sig;
    unsigned wtrail = 64u - e->lead - wsig;
    /* Reuse the window when the bits fit and it is not much wider than a fresh one would be. */
    if (lead >= e->lead && trail >= wtrail && wsig <= sig + REUSE_EXTRA_BITS) {
        if (LIKELY(wsig <= 62)) {
            bw_put(w, (0x2ull << wsig) | (x >> wtrail), 2 + wsig);
        } else {
            bw_put(w, 0x2, 2);
            bw_put(w, x >> wtrail, wsig);
        }
        return;
    }
    uint64_t hdr = (0x3u << 11) | (lead << 6) | (sig - 1);
    if (LIKELY(sig <= 51)) {
        bw_put(w, (hdr << sig) | (x >> trail), 13 + sig);
    } else {
        bw_put(w, hdr, 13);
        bw_put(w, x >> trail, sig);
    }
    e->lead = (uint8_t)lead;
    e->sig = (uint8_t)sig;
}

void gorilla_enc_init(struct gorilla_enc *e)
{
    memset(e, 0, sizeof *e);
    buf_init(&e->b);
}

void gorilla_enc_deinit(struct gorilla_enc *e)
{
    buf_deinit(&e->b);
    gorilla_enc_init(e);
}

void gorilla_enc_reset(struct gorilla_enc *e)
{
    struct buf b = e->b;
    memset(e, 0, sizeof *e);
    e->b = b;
    buf_reset(&e->b);
}

static int append_first(struct gorilla_enc *e, int64_t t, uint64_t v)
{
    if (buf_reserve(&e->b, HDR_COUNT_LEN + VARINT_MAX_LEN + APPEND_SLACK) != 0)
        return ERR_NOMEM;
    uint8_t *d = e->b.data;
    d[0] = 1;
    d[1] = 0;
    size_t n = HDR_COUNT_LEN + svarint_put(d + HDR_COUNT_LEN, t);
    /* The first value is XORed with 0 through an initial 64-bit window. */
    e->lead = 0;
    e->sig = 64;
    struct bw w = {d, (uint64_t)n * 8, 0, 0};
    put_xor(e, &w, v);
    e->bit_pos = w.pos;
    e->acc = w.acc;
    e->nacc = (uint8_t)w.n;
    e->b.len = (size_t)((w.pos + w.n + 7) >> 3);
    e->first_t = e->t = t;
    e->v = v;
    e->delta = 0;
    e->count = 1;
    return 0;
}

static __attribute__((noinline)) int append_slow(struct gorilla_enc *e, int64_t t_ms,
                                                 uint64_t v_bits)
{
    if (e->count == 0)
        return append_first(e, t_ms, v_bits);
    if (e->count >= GORILLA_SAMPLES_MAX)
        return ERR_FULL;
    if (t_ms <= e->t)
        return ERR_ORDER;
    if (e->b.cap - e->b.len < APPEND_SLACK && buf_reserve(&e->b, APPEND_SLACK) != 0)
        return ERR_NOMEM;
    uint64_t delta = (uint64_t)t_ms - (uint64_t)e->t;
    struct bw w = {e->b.data, e->bit_pos, e->acc, e->nacc};
    put_dod(&w, (int64_t)(delta - e->delta));
    put_xor(e, &w, v_bits ^ e->v);
    e->bit_pos = w.pos;
    e->acc = w.acc;
    e->nacc = (uint8_t)w.n;
    e->b.len = (size_t)((w.pos + w.n + 7) >> 3);
    e->t = t_ms;
    e->delta = delta;
    e->v = v_bits;
    e->count++;
    uint16_t c = (uint16_t)e->count;
    memcpy(e->b.data, &c, sizeof c); /* little-endian count */
    return 0;
}

int gorilla_enc_append_bits(struct gorilla_enc *e, int64_t t_ms, uint64_t v_bits)
{
    /* Fast path for the most common sample: same interval, same value, two zero bits. */
    uint64_t delta = (uint64_t)t_ms - (uint64_t)e->t;
    if (LIKELY(delta == e->delta && v_bits == e->v && e->nacc <= 61 && t_ms > e->t &&
               e->count - 1 < GORILLA_SAMPLES_MAX - 1 && e->b.cap - e->b.len >= APPEND_SLACK)) {
        e->acc <<= 2;
        e->nacc += 2;
        e->b.len = (size_t)((e->bit_pos + e->nacc + 7) >> 3);
        e->t = t_ms;
        e->count++;
        uint16_t c = (uint16_t)e->count;
        memcpy(e->b.data, &c, sizeof c);
        return 0;
    }
    return append_slow(e, t_ms, v_bits);
}

int gorilla_enc_append(struct gorilla_enc *e, int64_t t_ms, double v)
{
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    return gorilla_enc_append_bits(e, t_ms, bits);
}

void gorilla_enc_snapshot(const struct gorilla_enc *e, struct gorilla_snap *out)
{
    if (e->count == 0) {
        out->data = empty_chunk;
        out->len = GORILLA_EMPTY_LEN;
    } else {
        /* Store the pending bits; the bytes are the encoder's, its state does not change. */
        store_pending(e->b.data, e->bit_pos, e->acc, e->nacc);
        out->data = e->b.data;
        out->len = e->b.len;
    }
    out->count = e->count;
}

uint8_t *gorilla_enc_steal(struct gorilla_enc *e, size_t *len_out)
{
    if (e->count == 0) {
        *len_out = 0;
        return NULL;
    }
    store_pending(e->b.data, e->bit_pos, e->acc, e->nacc);
    uint8_t *p = buf_steal(&e->b, len_out);
    gorilla_enc_init(e);
    return p;
}

/* ---- reader ---- */

/* The 64 bits at bit `pos` when fewer than 9 bytes remain: missing bytes read as zero. */
static uint64_t peek_tail(const uint8_t *d, size_t len, size_t byte, unsigned sh)
{
    uint8_t tmp[9] = {0};
    if (byte < len)
        memcpy(tmp, d + byte, len - byte < 9 ? len - byte : 9);
    return (be64_get(tmp) << sh) | ((uint64_t)tmp[8] >> (8 - sh));
}

/* The 64 bits starting at bit `pos`, MSB first; bits past the end read as zero. */
HOT uint64_t peek(const uint8_t *d, size_t len, uint64_t pos)
{
    size_t byte = (size_t)(pos >> 3);
    unsigned sh = (unsigned)(pos & 7);
    if (LIKELY(byte + 9 <= len))
        return (be64_get(d + byte) << sh) | ((uint64_t)d[byte + 8] >> (8 - sh));
    return peek_tail(d, len, byte, sh);
}

/* The decoder's working state, kept in registers by the hot loop. `w` caches the bits at `pos`
 * (left-aligned); its top `avail` bits are valid. */
struct dec {
    const uint8_t *d;
    size_t len;
    uint64_t pos;
    uint64_t w;
    unsigned avail;
    int64_t t;
    uint64_t v;
    uint64_t delta;
    unsigned lead, sig;
};

HOT void dec_refill(struct dec *s)
{
    s->w = peek(s->d, s->len, s->pos);
    s->avail = 64;
}

/* Drops n < 64 bits from the cache. */
HOT void dec_skip(struct dec *s, unsigned n)
{
    s->w <<= n;
    s->avail -= n;
    s->pos += n;
}

/* Reads one timestamp delta-of-delta code into s->delta; needs 24 cached bits. */
HOT void dec_dod(struct dec *s)
{
    uint64_t w = s->w;
    if (LIKELY(!(w >> 63))) {
        dec_skip(s, 1);
        return;
    }
    switch (__builtin_clzll(~w | (1ull << 59))) { /* leading ones, at most 4 */
    case 1:
        s->delta += (uint64_t)((int64_t)(w << 2) >> 57);
        dec_skip(s, 9);
        return;
    case 2:
        s->delta += (uint64_t)((int64_t)(w << 3) >> 50);
        dec_skip(s, 17);
        return;
    case 3:
        s->delta += (uint64_t)((int64_t)(w << 4) >> 44);
        dec_skip(s, 24);
        return;
    default:
        s->delta += peek(s->d, s->len, s->pos + 4);
        s->pos += 68;
        dec_refill(s);
        return;
    }
}

/* Reads `sig` bits after a `hdr`-bit code (the code is still cached) and consumes both. */
HOT uint64_t dec_payload(struct dec *s, unsigned hdr, unsigned sig)
{
    uint64_t x;
    if (UNLIKELY(hdr + sig >= s->avail))
        dec_refill(s);
    if (LIKELY(hdr + sig < 64)) {
        x = (s->w << hdr) >> (64 - sig);
        dec_skip(s, hdr + sig);
        return x;
    }
    x = peek(s->d, s->len, s->pos + hdr) >> (64 - sig);
    s->pos += hdr + sig;
    dec_refill(s);
    return x;
}

/* Reads one value XOR code into s->v. Returns 0, or ERR_CORRUPT for a window wider than 64 bits. */
HOT int dec_xor(struct dec *s)
{
    if (UNLIKELY(s->avail < 13))
        dec_refill(s);
    uint64_t w = s->w;
    if (!(w >> 63)) {
        dec_skip(s, 1);
        return 0;
    }
    if (!((w >> 62) & 1)) {
        uint64_t x = dec_payload(s, 2, s->sig);
        s->v ^= x << (64 - s->lead - s->sig);
        return 0;
    }
    unsigned lead = (unsigned)(w >> 57) & 0x1f;
    unsigned sig = ((unsigned)(w >> 51) & 0x3f) + 1;
    if (UNLIKELY(lead + sig > 64))
        return ERR_CORRUPT;
    s->lead = lead;
    s->sig = sig;
    uint64_t x = dec_payload(s, 13, sig);
    s->v ^= x << (64 - lead - sig);
    return 0;
}

/* Decodes the next sample. Returns 0, ERR_TRUNCATED (its bits run past the end) or ERR_CORRUPT. */
HOT int dec_sample(struct dec *s, uint64_t end_bits)
{
    if (s->avail < 37)
        dec_refill(s);
    if ((s->w >> 62) == 0) { /* the common "same interval, same value" sample */
        dec_skip(s, 2);
    } else {
        dec_dod(s);
        int rc = dec_xor(s);
        if (UNLIKELY(rc != 0))
            return s->pos > end_bits ? ERR_TRUNCATED : rc;
    }
    if (UNLIKELY(s->pos > end_bits))
        return ERR_TRUNCATED;
    int64_t t = (int64_t)((uint64_t)s->t + s->delta);
    if (UNLIKELY(t <= s->t))
        return ERR_CORRUPT;
    s->t = t;
    return 0;
}

static __attribute__((noinline)) int dec_first(struct dec *s, uint64_t end_bits)
{
    dec_refill(s);
    int rc = dec_xor(s);
    if (UNLIKELY(s->pos > end_bits))
        return ERR_TRUNCATED;
    return rc;
}

static int iter_fail(struct gorilla_iter *it, int err)
{
    it->err = err;
    it->cur = it->n_ahead = 0;
    return err;
}

/* Decodes up to `want` samples after the iterator's state into ts[]/vs[] and advances the state
 * past them. Returns how many; *rc gets the error that stopped it early (the failed sample is not
 * consumed, so decoding again meets the same error). */
static size_t decode_run(struct gorilla_iter *it, int64_t *ts, uint64_t *vs, size_t want, int *rc)
{
    size_t k = 0;
    *rc = 0;
    if (want == 0)
        return 0;
    uint64_t end_bits = it->end_bits;
    if (it->n == 0) { /* the first sample: timestamp in the header, value XORed with 0 */
        struct dec f = {it->data, it->len, it->pos, 0, 0, it->t, 0, 0, 0, 64};
        *rc = dec_first(&f, end_bits);
        if (*rc != 0)
            return 0;
        it->pos = f.pos;
        it->v = f.v;
        it->lead = (uint8_t)f.lead;
        it->sig = (uint8_t)f.sig;
        ts[k] = it->t;
        vs[k] = it->v;
        k++;
    }
    /* Only this local copy is touched in the loop, so it stays in registers. */
    struct dec s = {it->data, it->len, it->pos, 0, 0, it->t, it->v, it->delta, it->lead, it->sig};
    int err = 0;
    for (; k < want; k++) {
        struct dec nx = s;
        err = dec_sample(&nx, end_bits);
        if (UNLIKELY(err != 0))
            break;
        s = nx;
        ts[k] = s.t;
        vs[k] = s.v;
    }
    *rc = err;
    it->pos = s.pos;
    it->t = s.t;
    it->v = s.v;
    it->delta = s.delta;
    it->lead = (uint8_t)s.lead;
    it->sig = (uint8_t)s.sig;
    it->n += (uint32_t)k;
    return k;
}

static int parse_header(struct gorilla_iter *it)
{
    const uint8_t *d = it->data;
    size_t len = it->len;
    if (len < HDR_COUNT_LEN)
        return ERR_TRUNCATED;
    it->count = le16_get(d);
    if (it->count == 0)
        return len == HDR_COUNT_LEN ? 0 : ERR_CORRUPT;
    int64_t t = 0;
    int n = svarint_get(d + HDR_COUNT_LEN, d + len, &t);
    if (n < 0)
        return n;
    it->t = t;
    it->pos = (uint64_t)(HDR_COUNT_LEN + (size_t)n) * 8;
    return 0;
}

int gorilla_iter_init(struct gorilla_iter *it, const uint8_t *data, size_t len)
{
    memset(it, 0, offsetof(struct gorilla_iter, ahead_t));
    it->data = data;
    it->len = len;
    it->end_bits = (uint64_t)len * 8;
    it->sig = 64;
    int rc = parse_header(it);
    if (rc != 0) {
        it->count = 0;
        return iter_fail(it, rc);
    }
    return 0;
}

/* After the last sample: the bit stream must fill the bytes exactly. */
static int iter_end(struct gorilla_iter *it)
{
    it->cur = it->n_ahead = 0;
    if (it->count > 0 && (it->pos + 7) >> 3 != it->len)
        return iter_fail(it, ERR_CORRUPT);
    return 0;
}

int gorilla_iter_fill_(struct gorilla_iter *it)
{
    if (it->err != 0)
        return it->err;
    if (it->n >= it->count)
        return iter_end(it);
    size_t want = it->count - it->n;
    if (want > GORILLA_ITER_AHEAD)
        want = GORILLA_ITER_AHEAD;
    int rc;
    size_t k = decode_run(it, it->ahead_t, it->ahead_v, want, &rc);
    if (k == 0)
        return iter_fail(it, rc);
    it->cur = 0;
    it->n_ahead = (uint8_t)k;
    return 1;
}

int gorilla_iter_seek(struct gorilla_iter *it, int64_t t_ms)
{
    if (it->err != 0)
        return it->err;
    if (it->cur < it->n_ahead && it->ahead_t[it->cur] >= t_ms)
        return 1;
    if (it->n_ahead == 0 && it->n > 0 && it->n >= it->count)
        return 0; /* already past the end */
    int rc;
    while ((rc = gorilla_iter_next(it)) == 1) {
        if (it->ahead_t[it->cur] >= t_ms)
            return 1;
    }
    return rc;
}

int gorilla_iter_next_batch(struct gorilla_iter *it, int64_t *ts, double *v, size_t cap)
{
    ASSERT(cap > 0);
    if (it->err != 0)
        return it->err;
    size_t k = 0;
    /* First hand out samples already decoded ahead. */
    while (it->cur + 1 < it->n_ahead && k < cap) {
        it->cur++;
        ts[k] = it->ahead_t[it->cur];
        memcpy(&v[k], &it->ahead_v[it->cur], 8);
        k++;
    }
    if (k < cap && it->n < it->count) {
        int rc;
        size_t want = cap - k < it->count - it->n ? cap - k : it->count - it->n;
        /* uint64_t and double share size and alignment; values are moved as bits. */
        size_t got = decode_run(it, ts + k, (uint64_t *)(void *)(v + k), want, &rc);
        k += got;
        if (k == 0)
            return iter_fail(it, rc);
    }
    if (k == 0)
        return iter_end(it);
    it->ahead_t[0] = ts[k - 1];
    memcpy(&it->ahead_v[0], &v[k - 1], 8);
    it->cur = 0;
    it->n_ahead = 1;
    return (int)k;
}

void gorilla_iter_rebase(struct gorilla_iter *it, const uint8_t *data)
{
    it->data = data;
}

int gorilla_chunk_count(const uint8_t *data, size_t len)
{
    if (len < HDR_COUNT_LEN)
        return ERR_TRUNCATED;
    return le16_get(data);
}

int gorilla_chunk_first_ts(const uint8_t *data, size_t len, int64_t *t_ms)
{
    struct gorilla_iter it;
    int rc = gorilla_iter_init(&it, data, len);
    if (rc != 0)
        return rc;
    if (it.count == 0)
        return ERR_EMPTY;
    *t_ms = it.t;
    return 0;
}

int gorilla_chunk_last_ts(const uint8_t *data, size_t len, int64_t *t_ms)
{
    struct gorilla_iter it;
    int rc = gorilla_iter_init(&it, data, len);
    if (rc != 0)
        return rc;
    if (it.count == 0)
        return ERR_EMPTY;
    int64_t ts[64];
    double vs[64];
    while ((rc = gorilla_iter_next_batch(&it, ts, vs, 64)) > 0)
        *t_ms = ts[rc - 1];
    return rc;
}
