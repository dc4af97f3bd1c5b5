/* Direct remote-write protobuf encoders (see rwenc.h). Wire layout, v1: WriteRequest.timeseries = 1
 * (length-delimited); TimeSeries.labels = 1, .samples = 2; Label.name = 1, .value = 2;
 * Sample.value = 1 (64-bit), .timestamp = 2 (varint). v2: Request.symbols = 4, .timeseries = 5;
 * TimeSeries.labels_refs = 1 (packed varints), .samples = 2; Sample as in v1. */
#include "tools/strata-load/rwenc.h"

#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/hash.h"
#include "base/varint.h"

static size_t label_size(const struct label *l)
{
    size_t n = 0;
    if (l->name.len)
        n += 1 + varint_len(l->name.len) + l->name.len;
    if (l->value.len)
        n += 1 + varint_len(l->value.len) + l->value.len;
    return n;
}

static size_t sample_size(const struct rw_sample *s)
{
    return (s->value != 0 ? 9 : 0) + (s->ts_ms != 0 ? 1 + varint_len((uint64_t)s->ts_ms) : 0);
}

static size_t series_size(const struct rw_series *s)
{
    size_t n = 0;
    for (size_t i = 0; i < s->n_labels; i++) {
        size_t k = label_size(&s->labels[i]);
        n += 1 + varint_len(k) + k;
    }
    for (size_t i = 0; i < s->n_samples; i++) {
        size_t k = sample_size(&s->samples[i]);
        n += 1 + varint_len(k) + k;
    }
    return n;
}

static uint8_t *put_bytes(uint8_t *p, uint8_t tag, struct str s)
{
    if (!s.len)
        return p;
    *p++ = tag;
    p += varint_put(p, s.len);
    memcpy(p, s.ptr, s.len);
    return p + s.len;
}

static uint8_t *put_samples(uint8_t *p, const struct rw_series *s);

static uint8_t *put_series(uint8_t *p, const struct rw_series *s, size_t size)
{
    *p++ = 0x0a;
    p += varint_put(p, size);
    for (size_t i = 0; i < s->n_labels; i++) {
        const struct label *l = &s->labels[i];
        *p++ = 0x0a;
        p += varint_put(p, label_size(l));
        p = put_bytes(p, 0x0a, l->name);
        p = put_bytes(p, 0x12, l->value);
    }
    return put_samples(p, s);
}

int ld_rw1_encode(const struct rw_series *series, size_t n, struct buf *out)
{
    for (size_t i = 0; i < n; i++) {
        size_t size = series_size(&series[i]);
        if (buf_reserve(out, 1 + 10 + size))
            return ERR_NOMEM;
        uint8_t *end = put_series(out->data + out->len, &series[i], size);
        out->len = (size_t)(end - out->data);
    }
    return 0;
}

/* ---- remote write 2.0 ---- */

void ld_rw2_enc_init(struct ld_rw2_enc *e)
{
    memset(e, 0, sizeof *e);
}

void ld_rw2_enc_deinit(struct ld_rw2_enc *e)
{
    free(e->syms);
    free(e->slots);
    free(e->refs);
    memset(e, 0, sizeof *e);
}

static int symtab_grow(struct ld_rw2_enc *e)
{
    uint32_t cap = e->cap ? e->cap * 2 : 512, n_slots = cap * 2;
    uint32_t *slots = calloc(n_slots, sizeof *slots);
    struct str *syms = realloc(e->syms, cap * sizeof *syms);
    if (syms)
        e->syms = syms;
    if (!slots || !syms) {
        free(slots);
        return ERR_NOMEM;
    }
    for (uint32_t i = 0; i < e->n; i++) {
        uint32_t h = (uint32_t)hash_bytes(syms[i].ptr, syms[i].len) & (n_slots - 1);
        while (slots[h])
            h = (h + 1) & (n_slots - 1);
        slots[h] = i + 1;
    }
    free(e->slots);
    e->slots = slots;
    e->n_slots = n_slots;
    e->cap = cap;
    return 0;
}

static int intern(struct ld_rw2_enc *e, struct str s, uint32_t *ref)
{
    if (e->n >= e->cap && symtab_grow(e))
        return ERR_NOMEM;
    uint32_t mask = e->n_slots - 1, h = (uint32_t)hash_bytes(s.ptr, s.len) & mask;
    for (; e->slots[h]; h = (h + 1) & mask) {
        if (str_eq(e->syms[e->slots[h] - 1], s)) {
            *ref = e->slots[h] - 1;
            return 0;
        }
    }
    e->syms[e->n] = s;
    e->slots[h] = ++e->n;
    *ref = e->n - 1;
    return 0;
}

static int intern_all(struct ld_rw2_enc *e, const struct rw_series *series, size_t n)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += 2 * series[i].n_labels;
    if (total > e->cap_refs) {
        uint32_t *r = realloc(e->refs, total * sizeof *r);
        if (!r)
            return ERR_NOMEM;
        e->refs = r;
        e->cap_refs = total;
    }
    if (e->n_slots)
        memset(e->slots, 0, e->n_slots * sizeof *e->slots);
    e->n = 0;
    uint32_t ref, *r = e->refs;
    if (intern(e, (struct str){"", 0}, &ref))
        return ERR_NOMEM;
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < series[i].n_labels; k++) {
            if (intern(e, series[i].labels[k].name, r++) ||
                intern(e, series[i].labels[k].value, r++))
                return ERR_NOMEM;
        }
    }
    return 0;
}

static uint8_t *put_samples(uint8_t *p, const struct rw_series *s)
{
    for (size_t i = 0; i < s->n_samples; i++) {
        const struct rw_sample *m = &s->samples[i];
        *p++ = 0x12;
        p += varint_put(p, sample_size(m));
        if (m->value != 0) {
            uint64_t bits;
            memcpy(&bits, &m->value, 8);
            *p++ = 0x09;
            le64_put(p, bits);
            p += 8;
        }
        if (m->ts_ms != 0) {
            *p++ = 0x10;
            p += varint_put(p, (uint64_t)m->ts_ms);
        }
    }
    return p;
}

static int put_v2_series(struct buf *out, const struct rw_series *s, const uint32_t *refs)
{
    size_t packed = 0, n_refs = 2 * s->n_labels, size = 0;
    for (size_t k = 0; k < n_refs; k++)
        packed += varint_len(refs[k]);
    if (n_refs)
        size += 1 + varint_len(packed) + packed;
    for (size_t i = 0; i < s->n_samples; i++) {
        size_t k = sample_size(&s->samples[i]);
        size += 1 + varint_len(k) + k;
    }
    if (buf_reserve(out, 11 + size))
        return ERR_NOMEM;
    uint8_t *p = out->data + out->len;
    *p++ = 0x2a;
    p += varint_put(p, size);
    if (n_refs) {
        *p++ = 0x0a;
        p += varint_put(p, packed);
        for (size_t k = 0; k < n_refs; k++)
            p += varint_put(p, refs[k]);
    }
    p = put_samples(p, s);
    out->len = (size_t)(p - out->data);
    return 0;
}

int ld_rw2_encode(struct ld_rw2_enc *e, const struct rw_series *series, size_t n, struct buf *out)
{
    if (intern_all(e, series, n))
        return ERR_NOMEM;
    for (uint32_t i = 0; i < e->n; i++) {
        struct str s = e->syms[i];
        if (buf_reserve(out, 11 + s.len))
            return ERR_NOMEM;
        uint8_t *p = out->data + out->len;
        *p++ = 0x22;
        p += varint_put(p, s.len);
        memcpy(p, s.ptr, s.len);
        out->len = (size_t)(p + s.len - out->data);
    }
    const uint32_t *refs = e->refs;
    for (size_t i = 0; i < n; i++) {
        if (put_v2_series(out, &series[i], refs))
            return ERR_NOMEM;
        refs += 2 * series[i].n_labels;
    }
    return 0;
}
