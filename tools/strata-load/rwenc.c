/* Direct remote-write 1.0 protobuf encoder (see rwenc.h). Wire layout: WriteRequest.timeseries = 1
 * (length-delimited); TimeSeries.labels = 1, .samples = 2; Label.name = 1, .value = 2;
 * Sample.value = 1 (64-bit), .timestamp = 2 (varint). */
#include "tools/strata-load/rwenc.h"

#include <string.h>

#include "base/error.h"
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
