/* Circular exemplar storage of one shard (see exemplars.h). */
#include "engine/tsdb/exemplars.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/error.h"
#include "base/hash.h"

struct slot {
    int64_t ts;
    uint64_t vbits;
    uint64_t shash; /* series label-set hash */
    uint32_t id;
    uint32_t len; /* bytes of lbl */
    uint8_t *lbl; /* labels: u16 count, then (u16 len, bytes) per name and value */
    uint8_t used;
};

/* Newest exemplar per series (open addressing on id + 1). */
struct newest {
    uint32_t id1;
    int64_t ts;
    uint64_t vbits, lhash;
};

struct exemplars {
    struct slot *ring;
    uint32_t max, next, count;
    struct newest *idx;
    uint32_t idx_cap, idx_len;
};

int exemplars_create(uint32_t max, struct exemplars **out)
{
    struct exemplars *e = calloc(1, sizeof *e);
    if (!e || (max && !(e->ring = calloc(max, sizeof *e->ring)))) {
        free(e);
        return ERR_NOMEM;
    }
    e->max = max;
    *out = e;
    return 0;
}

void exemplars_destroy(struct exemplars *e)
{
    if (!e)
        return;
    for (uint32_t i = 0; i < e->max; i++)
        free(e->ring[i].lbl);
    free(e->ring);
    free(e->idx);
    free(e);
}

size_t exemplars_count(const struct exemplars *e)
{
    return e->count;
}

size_t exemplars_max(const struct exemplars *e)
{
    return e->max;
}

/* ---- per-series newest ---- */

static struct newest *idx_find(const struct exemplars *e, uint32_t id)
{
    if (!e->idx_cap)
        return NULL;
    uint32_t m = e->idx_cap - 1;
    for (uint32_t i = (uint32_t)hash_bytes(&id, sizeof id) & m;; i = (i + 1) & m) {
        if (e->idx[i].id1 == id + 1)
            return &e->idx[i];
        if (e->idx[i].id1 == 0)
            return NULL;
    }
}

static int idx_grow(struct exemplars *e)
{
    uint32_t cap = e->idx_cap ? e->idx_cap * 2 : 64;
    struct newest *n = calloc(cap, sizeof *n);
    if (!n)
        return ERR_NOMEM;
    for (uint32_t k = 0; k < e->idx_cap; k++) {
        if (!e->idx[k].id1)
            continue;
        uint32_t id = e->idx[k].id1 - 1;
        uint32_t i = (uint32_t)hash_bytes(&id, sizeof id) & (cap - 1);
        while (n[i].id1)
            i = (i + 1) & (cap - 1);
        n[i] = e->idx[k];
    }
    free(e->idx);
    e->idx = n;
    e->idx_cap = cap;
    return 0;
}

static struct newest *idx_get(struct exemplars *e, uint32_t id)
{
    struct newest *p = idx_find(e, id);
    if (p)
        return p;
    if ((e->idx_len + 1) * 2 > e->idx_cap && idx_grow(e))
        return NULL;
    uint32_t m = e->idx_cap - 1;
    uint32_t i = (uint32_t)hash_bytes(&id, sizeof id) & m;
    while (e->idx[i].id1)
        i = (i + 1) & m;
    e->idx[i] = (struct newest){id + 1, INT64_MIN, 0, 0};
    e->idx_len++;
    return &e->idx[i];
}

/* ---- labels ---- */

static size_t runes(struct str s)
{
    size_t n = 0;
    for (size_t i = 0; i < s.len; i++)
        n += ((unsigned char)s.ptr[i] & 0xc0) != 0x80;
    return n;
}

static int encode_labels(const struct exemplar_in *x, uint8_t **out, uint32_t *len)
{
    size_t r = 0, bytes = 2;
    if (x->n_labels > EXEMPLARS_LABELS_MAX)
        return ERR_INVALID;
    for (size_t i = 0; i < x->n_labels; i++) {
        r += runes(x->labels[i].name) + runes(x->labels[i].value);
        bytes += 4 + x->labels[i].name.len + x->labels[i].value.len;
    }
    if (r > EXEMPLARS_LABEL_RUNES_MAX || bytes > UINT16_MAX)
        return ERR_INVALID;
    uint8_t *p = malloc(bytes), *o = p;
    if (!p)
        return ERR_NOMEM;
    *o++ = (uint8_t)x->n_labels;
    *o++ = (uint8_t)(x->n_labels >> 8);
    for (size_t i = 0; i < x->n_labels; i++) {
        const struct str *s2[2] = {&x->labels[i].name, &x->labels[i].value};
        for (int k = 0; k < 2; k++) {
            *o++ = (uint8_t)s2[k]->len;
            *o++ = (uint8_t)(s2[k]->len >> 8);
            if (s2[k]->len)
                memcpy(o, s2[k]->ptr, s2[k]->len);
            o += s2[k]->len;
        }
    }
    *out = p;
    *len = (uint32_t)bytes;
    return 0;
}

static size_t decode_labels(const uint8_t *p, struct label *out)
{
    size_t n = (size_t)p[0] | (size_t)p[1] << 8, off = 2;
    for (size_t i = 0; i < n; i++) {
        struct str *s2[2] = {&out[i].name, &out[i].value};
        for (int k = 0; k < 2; k++) {
            size_t l = (size_t)p[off] | (size_t)p[off + 1] << 8;
            *s2[k] = (struct str){(const char *)p + off + 2, l};
            off += 2 + l;
        }
    }
    return n;
}

/* ---- add / query ---- */

int exemplars_add(struct exemplars *e, uint32_t series_id, uint64_t series_hash,
                  const struct exemplar_in *x)
{
    if (e->max == 0)
        return ERR_LIMIT;
    uint8_t *lbl;
    uint32_t len;
    int rc = encode_labels(x, &lbl, &len);
    if (rc)
        return rc;
    uint64_t lhash = hash_bytes(lbl, len);
    struct newest *nw = idx_get(e, series_id);
    if (!nw) {
        free(lbl);
        return ERR_NOMEM;
    }
    if (nw->ts != INT64_MIN && x->ts_ms <= nw->ts) {
        bool same = x->ts_ms == nw->ts && x->value_bits == nw->vbits && lhash == nw->lhash;
        free(lbl);
        return same ? 0 : ERR_ORDER;
    }
    struct slot *s = &e->ring[e->next];
    free(s->lbl);
    e->count += !s->used;
    *s = (struct slot){x->ts_ms, x->value_bits, series_hash, series_id, len, lbl, 1};
    e->next = (e->next + 1) % e->max;
    nw->ts = x->ts_ms;
    nw->vbits = x->value_bits;
    nw->lhash = lhash;
    return 1;
}

int exemplars_query(const struct exemplars *e, int64_t mint_ms, int64_t maxt_ms,
                    exemplars_visit_fn fn, void *arg)
{
    struct label labels[EXEMPLARS_LABELS_MAX];
    for (uint32_t k = 0; k < e->max; k++) {
        const struct slot *s = &e->ring[(e->next + k) % e->max];
        if (!s->used || s->ts < mint_ms || s->ts > maxt_ms)
            continue;
        struct exemplar_in x = {s->ts, s->vbits, labels, decode_labels(s->lbl, labels)};
        int rc = fn(arg, s->id, s->shash, &x);
        if (rc)
            return rc;
    }
    return 0;
}
