/* Gorilla XOR sample chunk: encoder and bounds-checked iterator.
 * Byte layout: docs/formats/gorilla.md.
 *
 * Bit I/O is MSB-first. The writer gathers a sample's codes in a 64-bit container that starts at
 * the last partially filled byte and stores all 8 bytes after each sample, so the buffer always
 * holds the complete chunk. The reader caches the 64 bits at its position (one unaligned 8-byte
 * load plus one byte, or a zero-padded copy within 9 bytes of the end) and decodes from that
 * register; a sample whose bits run past the end is rejected after decoding, so the zero padding
 * never leaks into results. Runs of "same interval, same value" samples (two zero bits each) are
 * emitted many at a time. */
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

/* ---- writer ---- */

/* The bit writer keeps the bits from the last partially filled byte on, left-aligned, in a 64-bit
 * container, and stores the whole container (8 bytes, big-endian) after every sample. So the
 * buffer always holds every bit written, padded with zeros, without ever reading it back; the
 * encoder's bytes are a complete chunk after each append. */
struct bw {
    uint8_t *p;   /* byte the container starts at */
    uint64_t acc; /* top n bits valid, the rest zero */
    unsigned n;
};

/* Adds the low n bits of `bits` (higher bits zero); the container must have room: w->n + n <= 64,
 * 1 <= n <= 64. */
HOT void bw_add(struct bw *w, uint64_t bits, unsigned n)
{
    w->acc |= bits << (64 - w->n - n);
    w->n += n;
}

/* Stores the container and drops its whole bytes, leaving at most 7 bits in it. */
HOT void bw_flush(struct bw *w)
{
    be64_put(w->p, w->acc);
    unsigned bytes = w->n >> 3;
    w->p += bytes;
    w->acc = (w->acc << (bytes * 4)) << (bytes * 4); /* bytes may be 8 */
    w->n &= 7;
}

/* Adds the low n bits of `bits` (1 <= n <= 64, higher bits zero), storing first if needed. */
HOT void bw_put(struct bw *w, uint64_t bits, unsigned n)
{
    if (UNLIKELY(w->n + n > 64)) {
        bw_flush(w);
        if (n > 57) { /* still too wide for the at most 7 bits left */
            bw_add(w, bits >> 32, n - 32);
            bw_flush(w);
            bits &= 0xffffffffu;
            n = 32;
        }
    }
    bw_add(w, bits, n);
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

/* Saves the writer into the encoder after a sample. */
HOT void enc_save(struct gorilla_enc *e, const struct bw *w)
{
    e->byte_pos = (size_t)(w->p - e->b.data);
    e->acc = w->acc;
    e->nbits = (uint8_t)w->n;
    e->b.len = e->byte_pos + (w->n != 0);
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
    struct bw w = {d + n, 0, 0};
    put_xor(e, &w, v);
    bw_flush(&w);
    enc_save(e, &w);
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
    struct bw w = {e->b.data + e->byte_pos, e->acc, e->nbits};
    put_dod(&w, (int64_t)(delta - e->delta));
    put_xor(e, &w, v_bits ^ e->v);
    bw_flush(&w);
    enc_save(e, &w);
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
    /* Fast path for the most common sample: same interval, same value, two zero bits. Only the
     * byte they end in is stored: it may be past the container's last store. */
    uint64_t delta = (uint64_t)t_ms - (uint64_t)e->t;
    uint32_t count = e->count;
    if (LIKELY(delta == e->delta && v_bits == e->v && t_ms > e->t &&
               count - 1 < GORILLA_SAMPLES_MAX - 1 && e->b.cap - e->b.len >= APPEND_SLACK)) {
        uint8_t *d = e->b.data;
        unsigned n = e->nbits + 2u;
        unsigned carry = n >> 3;
        size_t byte_pos = e->byte_pos + carry;
        uint64_t acc = e->acc << (carry * 8);
        n &= 7;
        e->byte_pos = byte_pos;
        e->acc = acc;
        e->nbits = (uint8_t)n;
        e->b.len = byte_pos + (n != 0);
        e->t = t_ms;
        e->count = ++count;
        d[byte_pos] = (uint8_t)(acc >> 56);
        d[0] = (uint8_t)count; /* little-endian count */
        d[1] = (uint8_t)(count >> 8);
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

/* Decodes the next sample, whose code is not "00" (see dec_same_run). Returns 0, ERR_TRUNCATED
 * (its bits run past the end) or ERR_CORRUPT. */
HOT int dec_sample(struct dec *s, uint64_t end_bits)
{
    dec_dod(s);
    int rc = dec_xor(s);
    if (UNLIKELY(s->pos > end_bits))
        return ERR_TRUNCATED;
    if (UNLIKELY(rc != 0))
        return rc;
    int64_t t = (int64_t)((uint64_t)s->t + s->delta);
    if (UNLIKELY(t <= s->t))
        return ERR_CORRUPT;
    s->t = t;
    return 0;
}

/* Emits the run of "00" samples (same interval, same value) at the top of the cache, at most
 * `room`, into ts/vs. Returns how many; sets *rc when the run is cut by the end of the bytes or by
 * a timestamp overflow (the samples before it stand). */
HOT size_t dec_same_run(struct dec *s, uint64_t end_bits, int64_t *ts, uint64_t *vs, size_t room,
                        int *rc)
{
    unsigned zeros = s->w ? (unsigned)__builtin_clzll(s->w) : 64;
    if (zeros > s->avail)
        zeros = s->avail;
    size_t run = zeros / 2;
    uint64_t left = (end_bits - s->pos) / 2;
    if (run > left) {
        run = left;
        *rc = ERR_TRUNCATED;
    }
    if (run > room) {
        run = room;
        *rc = 0;
    }
    int64_t t = s->t;
    size_t j = 0;
    for (; j < run; j++) {
        int64_t next = (int64_t)((uint64_t)t + s->delta);
        if (UNLIKELY(next <= t)) {
            *rc = ERR_CORRUPT;
            break;
        }
        t = next;
        ts[j] = t;
        vs[j] = s->v;
    }
    s->t = t;
    unsigned used = (unsigned)(2 * j);
    s->w = used < 64 ? s->w << used : 0;
    s->avail -= used;
    s->pos += used;
    return j;
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
    while (k < want) {
        if (s.avail < 37)
            dec_refill(&s);
        if ((s.w >> 62) == 0) {
            k += dec_same_run(&s, end_bits, ts + k, vs + k, want - k, &err);
            if (UNLIKELY(err != 0))
                break;
            continue;
        }
        struct dec nx = s;
        err = dec_sample(&nx, end_bits);
        if (UNLIKELY(err != 0))
            break;
        s = nx;
        ts[k] = s.t;
        vs[k] = s.v;
        k++;
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
