/* Metrics head: configuration, open/close, the symbol table, the series map and id space, series
 * creation (also with a given id during WAL replay, attaching re-scanned chunk-file records),
 * label access, removal and statistics. The append path is in head_append.c, reads in
 * head_read.c, cut and truncation in head_truncate.c. */
#include <errno.h>
#include <limits.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/assert.h"
#include "base/error.h"
#include "base/varint.h"
#include "engine/tsdb/head_internal.h"

void head_config_default(struct head_config *c)
{
    c->chunk_range_ms = 2 * 3600 * 1000;
    c->samples_per_chunk = 120;
    c->chunk_bytes_max = 1024;
    c->ooo_window_ms = 10 * 60 * 1000;
    c->ooo_cap = 32;
    c->chunk_file_size_max = HEADCHUNKS_FILE_SIZE_DEFAULT;
    c->chunk_write_buf_size = HEADCHUNKS_WBUF_DEFAULT;
}

static bool config_valid(const struct head_config *c)
{
    /* Chunk spans (maxt - mint) are stored in 32 bits. */
    return c->chunk_range_ms > 0 && c->chunk_range_ms <= UINT32_MAX && c->samples_per_chunk >= 4 &&
           c->samples_per_chunk <= GORILLA_SAMPLES_MAX && c->chunk_bytes_max >= 64 &&
           c->ooo_window_ms >= 0 && c->ooo_window_ms <= UINT32_MAX && c->ooo_cap >= 1 &&
           c->ooo_cap <= 4096 && c->chunk_file_size_max >= 4096 &&
           c->chunk_file_size_max <= HEADCHUNKS_FILE_SIZE_MAX && c->chunk_write_buf_size >= 4096;
}

size_t head_usable(const void *p)
{
    return p ? malloc_usable_size((void *)p) : 0;
}

void *head_realloc(void *p, size_t n, int64_t *delta)
{
    size_t before = head_usable(p);
    void *q = realloc(p, n);
    *delta = q ? (int64_t)head_usable(q) - (int64_t)before : 0;
    return q;
}

/* ---- symbols ---- */

static struct str sym_str(const struct head *h, uint32_t id)
{
    const struct head_sym *s = h->syms.by_id[id];
    return (struct str){s->bytes, s->len};
}

/* Interns s, taking a reference. Returns the id or ERR_NOMEM. */
static int64_t sym_intern(struct head *h, struct str s)
{
    struct head_syms *t = &h->syms;
    void *v = strmap_get(&t->map, s);
    if (v) {
        uint32_t id = (uint32_t)((uintptr_t)v - 1);
        t->by_id[id]->refs++;
        return id;
    }
    if (t->n_free == 0 && t->n == t->cap) {
        uint32_t cap = t->cap ? t->cap * 2 : 256;
        int64_t d;
        struct head_sym **p = head_realloc(t->by_id, (size_t)cap * sizeof *p, &d);
        if (!p)
            return ERR_NOMEM;
        HEAD_STAT_ADD(h, bytes_symbols, d);
        t->by_id = p;
        t->cap = cap;
    }
    struct head_sym *sym = malloc(sizeof *sym + s.len + 1);
    if (!sym)
        return ERR_NOMEM;
    sym->refs = 1;
    sym->len = (uint32_t)s.len;
    if (s.len)
        memcpy(sym->bytes, s.ptr, s.len);
    sym->bytes[s.len] = 0;
    uint32_t id = t->n_free ? t->free[t->n_free - 1] : t->n;
    size_t map_before = t->map.cap;
    if (strmap_put(&t->map, (struct str){sym->bytes, sym->len}, (void *)(uintptr_t)(id + 1))) {
        free(sym);
        return ERR_NOMEM;
    }
    if (t->n_free)
        t->n_free--;
    else
        t->n++;
    t->by_id[id] = sym;
    HEAD_STAT_ADD(h, bytes_symbols,
                  head_usable(sym) + (t->map.cap - map_before) * sizeof(struct strmap_slot));
    HEAD_STAT_ADD(h, symbols, 1);
    return id;
}

static void sym_unref(struct head *h, uint32_t id)
{
    struct head_syms *t = &h->syms;
    struct head_sym *s = t->by_id[id];
    if (--s->refs > 0)
        return;
    strmap_remove(&t->map, (struct str){s->bytes, s->len});
    if (t->n_free == t->cap_free) {
        uint32_t cap = t->cap_free ? t->cap_free * 2 : 64;
        int64_t d;
        uint32_t *p = head_realloc(t->free, (size_t)cap * sizeof *p, &d);
        if (!p) {
            /* Leave the id unusable rather than fail: it costs one pointer. */
            t->by_id[id] = NULL;
            HEAD_STAT_ADD(h, bytes_symbols, -(int64_t)head_usable(s));
            free(s);
            HEAD_STAT_ADD(h, symbols, -1);
            return;
        }
        HEAD_STAT_ADD(h, bytes_symbols, d);
        t->free = p;
        t->cap_free = cap;
    }
    t->free[t->n_free++] = id;
    t->by_id[id] = NULL;
    HEAD_STAT_ADD(h, bytes_symbols, -(int64_t)head_usable(s));
    HEAD_STAT_ADD(h, symbols, -1);
    free(s);
}

/* ---- label sets ---- */

/* Calls fn on each (name id, value id) pair of s. */
#define LBL_FOREACH(s, name_id, value_id, body)                                                    \
    do {                                                                                           \
        const uint8_t *p_ = (s)->lbl, *end_ = (s)->lbl + (s)->lbl_len;                             \
        while (p_ < end_) {                                                                        \
            uint64_t a_, b_;                                                                       \
            p_ += varint_get_fast_(p_, &a_);                                                       \
            p_ += varint_get_fast_(p_, &b_);                                                       \
            uint32_t name_id = (uint32_t)a_, value_id = (uint32_t)b_;                              \
            body                                                                                   \
        }                                                                                          \
    } while (0)

/* Decodes a uvarint we wrote ourselves (trusted, in memory). */
static inline size_t varint_get_fast_(const uint8_t *p, uint64_t *out)
{
    uint64_t v = 0;
    size_t i = 0;
    for (unsigned shift = 0;; shift += 7) {
        uint8_t b = p[i++];
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            break;
    }
    *out = v;
    return i;
}

/* Grows the materialization scratch to n labels (done when a series is created, so that
 * materializing an existing series never fails). */
static int lbuf_reserve(struct head *h, size_t n)
{
    if (h->lbuf_cap >= n)
        return 0;
    size_t cap = n < 32 ? 32 : n;
    struct label *p = realloc(h->lbuf, cap * sizeof *p);
    if (!p)
        return ERR_NOMEM;
    h->lbuf = p;
    h->lbuf_cap = cap;
    return 0;
}

const struct label *head_series_materialize(struct head *h, const struct head_series *s, size_t *n)
{
    ASSERT(h->lbuf_cap >= s->n_labels);
    size_t i = 0;
    LBL_FOREACH(s, nid, vid, {
        h->lbuf[i].name = sym_str(h, nid);
        h->lbuf[i].value = sym_str(h, vid);
        i++;
    });
    *n = i;
    return h->lbuf;
}

static bool series_labels_eq(const struct head *h, const struct head_series *s,
                             const struct label *labels, size_t n)
{
    if (s->n_labels != n)
        return false;
    size_t i = 0;
    LBL_FOREACH(s, nid, vid, {
        if (!str_eq(sym_str(h, nid), labels[i].name) || !str_eq(sym_str(h, vid), labels[i].value))
            return false;
        i++;
    });
    return true;
}

int head_series_cmp(const struct head *h, const struct head_series *a, const struct head_series *b)
{
    const uint8_t *pa = a->lbl, *ea = a->lbl + a->lbl_len;
    const uint8_t *pb = b->lbl, *eb = b->lbl + b->lbl_len;
    while (pa < ea && pb < eb) {
        uint64_t x, y;
        for (int k = 0; k < 2; k++) { /* name, then value */
            pa += varint_get_fast_(pa, &x);
            pb += varint_get_fast_(pb, &y);
            if (x == y)
                continue;
            int c = str_cmp(sym_str(h, (uint32_t)x), sym_str(h, (uint32_t)y));
            if (c)
                return c;
        }
    }
    return (pa < ea) - (pb < eb);
}

/* ---- series map ---- */

static uint32_t map_home(const struct head_map *m, uint64_t hash)
{
    return (uint32_t)hash & (m->cap - 1);
}

static struct head_series *map_find(const struct head *h, const struct label *labels, size_t n,
                                    uint64_t hash)
{
    const struct head_map *m = &h->map;
    if (m->cap == 0)
        return NULL;
    uint32_t hi = (uint32_t)(hash >> 32);
    for (uint32_t i = map_home(m, hash);; i = (i + 1) & (m->cap - 1)) {
        const struct head_map_slot *sl = &m->slots[i];
        if (sl->id1 == 0)
            return NULL;
        if (sl->hash_hi != hi)
            continue;
        struct head_series *s = h->by_id[sl->id1 - 1];
        if (s->hash == hash && series_labels_eq(h, s, labels, n))
            return s;
    }
}

static void map_place(struct head_map *m, uint32_t id, uint64_t hash)
{
    uint32_t i = map_home(m, hash);
    while (m->slots[i].id1)
        i = (i + 1) & (m->cap - 1);
    m->slots[i] = (struct head_map_slot){id + 1, (uint32_t)(hash >> 32)};
    m->len++;
}

static int map_grow(struct head *h)
{
    struct head_map *m = &h->map;
    uint32_t cap = m->cap ? m->cap * 2 : 1024;
    if (cap == 0)
        return ERR_FULL;
    struct head_map_slot *slots = calloc(cap, sizeof *slots);
    if (!slots)
        return ERR_NOMEM;
    struct head_map old = *m;
    m->slots = slots;
    m->cap = cap;
    m->len = 0;
    for (uint32_t i = 0; i < old.cap; i++)
        if (old.slots[i].id1)
            map_place(m, old.slots[i].id1 - 1, h->by_id[old.slots[i].id1 - 1]->hash);
    HEAD_STAT_ADD(h, bytes_map, head_usable(slots) - head_usable(old.slots));
    free(old.slots);
    return 0;
}

static int map_insert(struct head *h, const struct head_series *s)
{
    /* Keep the load factor at most 3/4. */
    if ((uint64_t)(h->map.len + 1) * 4 > (uint64_t)h->map.cap * 3) {
        int rc = map_grow(h);
        if (rc)
            return rc;
    }
    map_place(&h->map, s->id, s->hash);
    return 0;
}

static void map_remove(struct head *h, const struct head_series *s)
{
    struct head_map *m = &h->map;
    uint32_t mask = m->cap - 1, i = map_home(m, s->hash);
    while (m->slots[i].id1 != s->id + 1) {
        ASSERT(m->slots[i].id1 != 0);
        i = (i + 1) & mask;
    }
    /* Backward-shift deletion: pull later entries of the cluster into the hole when their home
     * does not lie (cyclically) between the hole and their slot. */
    for (uint32_t j = (i + 1) & mask;; j = (j + 1) & mask) {
        if (m->slots[j].id1 == 0)
            break;
        uint32_t home = map_home(m, h->by_id[m->slots[j].id1 - 1]->hash);
        if (((j - home) & mask) >= ((j - i) & mask)) {
            m->slots[i] = m->slots[j];
            i = j;
        }
    }
    m->slots[i] = (struct head_map_slot){0, 0};
    m->len--;
}

/* ---- ids ---- */

static int ids_reserve(struct head *h, uint32_t id)
{
    if (id < h->cap_ids)
        return 0;
    size_t cap = h->cap_ids ? h->cap_ids : 1024;
    while (cap <= id)
        cap *= 2;
    int64_t d;
    struct head_series **p = head_realloc(h->by_id, cap * sizeof *p, &d);
    if (!p)
        return ERR_NOMEM;
    memset(p + h->cap_ids, 0, (cap - h->cap_ids) * sizeof *p);
    HEAD_STAT_ADD(h, bytes_map, d);
    h->by_id = p;
    h->cap_ids = (uint32_t)cap;
    return 0;
}

/* Picks the id for a new series (lowest free, else the next new one) without taking it. */
static int next_free_id(const struct head *h, uint32_t *id)
{
    if (!roaring_bitmap_is_empty(h->free_ids)) {
        *id = roaring_bitmap_minimum(h->free_ids);
        return 0;
    }
    if (h->n_ids > HEAD_SERIES_ID_MAX)
        return ERR_FULL;
    *id = h->n_ids;
    return 0;
}

/* Marks id as used: removes it from the free set, or extends [0, n_ids) (the gap becomes free). */
static void take_id(struct head *h, uint32_t id)
{
    if (id < h->n_ids) {
        roaring_bitmap_remove(h->free_ids, id);
        roaring_bitmap_remove(h->pending_ids, id);
        return;
    }
    if (id > h->n_ids)
        roaring_bitmap_add_range(h->free_ids, h->n_ids, id);
    h->n_ids = id + 1;
}

struct head_series *head_series_get(const struct head *h, uint32_t id)
{
    return id < h->n_ids ? h->by_id[id] : NULL;
}

/* ---- creation ---- */

/* Drops the symbol references held by an encoded label set. */
static void unref_lbl(struct head *h, const uint8_t *p, size_t len)
{
    const uint8_t *end = p + len;
    while (p < end) {
        uint64_t v;
        p += varint_get_fast_(p, &v);
        sym_unref(h, (uint32_t)v);
    }
}

/* Interns the labels and encodes their symbol ids; *out is malloc'd. On error nothing is held. */
static int encode_labels(struct head *h, const struct label *labels, size_t n, uint8_t **out,
                         size_t *len)
{
    uint8_t *b = malloc(n * 2 * VARINT_MAX_LEN + 1);
    if (!b)
        return ERR_NOMEM;
    size_t pos = 0;
    for (size_t i = 0; i < n * 2; i++) {
        int64_t id = sym_intern(h, i & 1 ? labels[i / 2].value : labels[i / 2].name);
        if (id < 0) {
            unref_lbl(h, b, pos); /* release what was interned so far */
            free(b);
            return (int)id;
        }
        pos += varint_put(b + pos, (uint64_t)id);
    }
    *out = b;
    *len = pos;
    return 0;
}

static void release_labels(struct head *h, const struct head_series *s)
{
    unref_lbl(h, s->lbl, s->lbl_len);
}

static void attach_pending(struct head *h, struct head_series *s);

/* Creates series `id` (which must be free) with labels. */
static int series_new(struct head *h, uint32_t id, const struct label *labels, size_t n,
                      uint64_t hash, struct head_series **out)
{
    if (n > UINT16_MAX)
        return ERR_LIMIT;
    int rc = lbuf_reserve(h, n);
    if (rc == 0)
        rc = ids_reserve(h, id);
    uint8_t *lbl = NULL;
    size_t lbl_len = 0;
    if (rc || (rc = encode_labels(h, labels, n, &lbl, &lbl_len)) != 0)
        return rc;
    struct head_series *s = NULL;
    if (lbl_len > UINT16_MAX)
        rc = ERR_LIMIT;
    else if (!(s = malloc(sizeof *s + lbl_len)))
        rc = ERR_NOMEM;
    if (rc)
        goto fail;
    memset(s, 0, sizeof *s);
    gorilla_enc_init(&s->enc);
    s->hash = hash;
    s->max_t = INT64_MIN;
    s->id = id;
    s->seq = ++h->seq;
    s->n_labels = (uint16_t)n;
    s->lbl_len = (uint16_t)lbl_len;
    memcpy(s->lbl, lbl, lbl_len);
    if ((rc = memindex_add(&h->ix, id, labels, n)) != 0)
        goto fail;
    h->by_id[id] = s;
    if ((rc = map_insert(h, s)) != 0) {
        h->by_id[id] = NULL;
        memindex_remove(&h->ix, id, labels, n);
        goto fail;
    }
    free(lbl);
    take_id(h, id);
    HEAD_STAT_ADD(h, bytes_series, head_usable(s));
    HEAD_STAT_ADD(h, series, 1);
    HEAD_STAT_ADD(h, series_created_total, 1);
    *out = s;
    return 0;
fail:
    unref_lbl(h, lbl, lbl_len);
    free(s);
    free(lbl);
    return rc;
}

int head_series_lookup(const struct head *h, const struct label *labels, size_t n, uint64_t hash,
                       uint32_t *id)
{
    const struct head_series *s = map_find(h, labels, n, hash);
    if (!s)
        return ERR_NOT_FOUND;
    *id = s->id;
    return 0;
}

int head_series_get_or_create(struct head *h, const struct label *labels, size_t n, uint64_t hash,
                              uint32_t *id, bool *created)
{
    const struct head_series *found = map_find(h, labels, n, hash);
    if (found) {
        *id = found->id;
        *created = false;
        return 0;
    }
    uint32_t nid;
    int rc = next_free_id(h, &nid);
    struct head_series *s;
    if (rc || (rc = series_new(h, nid, labels, n, hash, &s)) != 0)
        return rc;
    *id = nid;
    *created = true;
    return 0;
}

int head_series_create_with_id(struct head *h, uint32_t id, const struct label *labels, size_t n,
                               uint64_t hash)
{
    if (id > HEAD_SERIES_ID_MAX)
        return ERR_RANGE;
    struct head_series *cur = head_series_get(h, id);
    struct head_series *same = map_find(h, labels, n, hash);
    if (cur || same)
        return cur && cur == same ? 0 : ERR_DUPLICATE;
    struct head_series *s;
    int rc = series_new(h, id, labels, n, hash, &s);
    if (rc)
        return rc;
    attach_pending(h, s);
    return 0;
}

bool head_series_exists(const struct head *h, uint32_t id)
{
    return head_series_get(h, id) != NULL;
}

int head_series_labels(const struct head *h, uint32_t id, struct label *out, size_t cap, size_t *n)
{
    const struct head_series *s = head_series_get(h, id);
    if (!s)
        return ERR_NOT_FOUND;
    *n = s->n_labels;
    if (cap < s->n_labels)
        return ERR_FULL;
    size_t i = 0;
    LBL_FOREACH(s, nid, vid, {
        out[i].name = sym_str(h, nid);
        out[i].value = sym_str(h, vid);
        i++;
    });
    return 0;
}

uint64_t head_series_count(const struct head *h)
{
    return h->map.len;
}

int head_series_push_ref(struct head *h, struct head_series *s, const struct head_chunk_ref *r)
{
    if (s->n_chunks == s->cap_chunks) {
        if (s->cap_chunks == UINT16_MAX)
            return ERR_LIMIT;
        uint32_t cap = s->cap_chunks ? (uint32_t)s->cap_chunks * 2 : 1;
        if (cap > UINT16_MAX)
            cap = UINT16_MAX;
        int64_t d;
        struct head_chunk_ref *p = head_realloc(s->chunks, cap * sizeof *p, &d);
        if (!p)
            return ERR_NOMEM;
        HEAD_STAT_ADD(h, bytes_refs, d);
        s->chunks = p;
        s->cap_chunks = (uint16_t)cap;
    }
    s->chunks[s->n_chunks++] = *r;
    h->n_chunks_closed++;
    HEAD_STAT_SET(h, chunks_closed, h->n_chunks_closed);
    return 0;
}

void head_series_remove(struct head *h, struct head_series *s)
{
    ASSERT(h->by_id[s->id] == s);
    size_t n;
    const struct label *labels = head_series_materialize(h, s, &n);
    memindex_remove(&h->ix, s->id, labels, n);
    map_remove(h, s);
    release_labels(h, s);
    h->by_id[s->id] = NULL;
    roaring_bitmap_add(h->pending_ids, s->id);
    HEAD_STAT_ADD(h, bytes_series, -(int64_t)head_usable(s));
    HEAD_STAT_ADD(h, bytes_refs, -(int64_t)head_usable(s->chunks));
    HEAD_STAT_ADD(h, bytes_chunks, -(int64_t)(head_usable(s->ooo) + head_usable(s->enc.b.data)));
    h->n_chunks_closed -= s->n_chunks;
    HEAD_STAT_SET(h, chunks_closed, h->n_chunks_closed);
    if (gorilla_enc_count(&s->enc)) {
        h->n_chunks_open--;
        HEAD_STAT_SET(h, chunks_open, h->n_chunks_open);
    }
    if (s->ooo) {
        h->n_ooo_samples -= s->ooo->n;
        HEAD_STAT_SET(h, ooo_samples_buffered, h->n_ooo_samples);
    }
    gorilla_enc_deinit(&s->enc);
    head_hist_free(h, s, true);
    free(s->chunks);
    free(s->ooo);
    free(s);
    HEAD_STAT_ADD(h, series, -1);
    HEAD_STAT_ADD(h, series_removed_total, 1);
}

void head_min_time_note(struct head *h, int64_t t)
{
    if (t < h->min_t) {
        h->min_t = t;
        HEAD_STAT_SET(h, min_time_ms, t);
    }
}

/* ---- re-attaching chunk-file records ---- */

static int pending_cmp(const void *a, const void *b)
{
    const struct head_pending *x = a, *y = b;
    if (x->id != y->id)
        return x->id < y->id ? -1 : 1;
    return (x->order > y->order) - (x->order < y->order);
}

static int on_scanned(void *arg, const struct headchunks_rec *rec, uint32_t file, uint32_t off)
{
    struct head *h = arg;
    if ((rec->encoding != CHUNK_XOR && rec->encoding != CHUNK_HISTOGRAM &&
         rec->encoding != CHUNK_FLOAT_HISTOGRAM) ||
        rec->maxt_ms < h->min_valid_t || (uint64_t)(rec->maxt_ms - rec->mint_ms) > UINT32_MAX)
        return 0;
    if (h->n_pending == h->cap_pending) {
        size_t cap = h->cap_pending ? h->cap_pending * 2 : 1024;
        struct head_pending *p = realloc(h->pending, cap * sizeof *p);
        if (!p)
            return ERR_NOMEM;
        h->pending = p;
        h->cap_pending = cap;
    }
    struct head_pending *p = &h->pending[h->n_pending];
    p->id = rec->series_id;
    p->order = (uint32_t)h->n_pending;
    p->ref = (struct head_chunk_ref){
        rec->mint_ms, (uint32_t)(rec->maxt_ms - rec->mint_ms),       file, off, rec->samples,
        rec->flags,   rec->encoding == CHUNK_XOR ? 0 : rec->encoding};
    h->n_pending++;
    return 0;
}

/* Attaches the pending records of s->id (sorted by id at open). */
static void attach_pending(struct head *h, struct head_series *s)
{
    size_t lo = 0, hi = h->n_pending;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (h->pending[mid].id < s->id)
            lo = mid + 1;
        else
            hi = mid;
    }
    int64_t attached_max = INT64_MIN;
    for (size_t i = lo; i < h->n_pending && h->pending[i].id == s->id; i++) {
        const struct head_chunk_ref *r = &h->pending[i].ref;
        if (head_series_push_ref(h, s, r) != 0)
            break; /* out of memory: the WAL replay re-appends what is missing */
        head_min_time_note(h, r->mint_ms);
        if (head_ref_maxt(r) > h->max_t) {
            h->max_t = head_ref_maxt(r);
            HEAD_STAT_SET(h, max_time_ms, h->max_t);
        }
        if (!(r->flags & HEADCHUNKS_F_OOO) && head_ref_maxt(r) > attached_max) {
            attached_max = head_ref_maxt(r);
            if (r->enc)
                s->flags |= HEAD_SERIES_LAST_HIST;
            else
                s->flags &= (uint8_t)~HEAD_SERIES_LAST_HIST;
        }
    }
    s->max_t = attached_max; /* last_v is decoded from the chunk when first needed */
    struct head_replay *r = h->replay ? head_replay_slot(h, s->id) : NULL;
    if (r) /* (out of memory: replayed samples then take the slower lookup path) */
        r->attached_max = attached_max;
}

/* ---- open / close ---- */

int head_open(const char *dir, const struct head_config *cfg, int64_t min_valid_time_ms,
              struct head **out)
{
    if (!config_valid(cfg))
        return ERR_INVALID;
    struct head *h = calloc(1, sizeof *h);
    if (!h)
        return ERR_NOMEM;
    h->cfg = *cfg;
    h->min_valid_t = min_valid_time_ms;
    h->min_t = INT64_MAX;
    h->max_t = INT64_MIN;
    h->st.min_time_ms = INT64_MAX;
    h->st.max_time_ms = INT64_MIN;
    h->st.min_valid_time_ms = min_valid_time_ms;
    strmap_init(&h->syms.map);
    h->free_ids = roaring_bitmap_create();
    h->pending_ids = roaring_bitmap_create();
    int rc = memindex_init(&h->ix);
    if (!h->free_ids || !h->pending_ids)
        rc = ERR_NOMEM;
    char path[4096];
    if (!rc && snprintf(path, sizeof path, "%s/chunks_head", dir) >= (int)sizeof path)
        rc = -ENAMETOOLONG;
    struct headchunks_config hcfg = {cfg->chunk_file_size_max, cfg->chunk_write_buf_size};
    if (!rc)
        rc = headchunks_open(path, &hcfg, on_scanned, h, &h->hc);
    if (rc) {
        head_close(h);
        return rc;
    }
    if (h->n_pending > 1)
        qsort(h->pending, h->n_pending, sizeof *h->pending, pending_cmp);
    /* The last truncation's cut survives restarts even when no block tells the caller about it. */
    if (headchunks_floor(h->hc) > h->min_valid_t) {
        h->min_valid_t = headchunks_floor(h->hc);
        h->st.min_valid_time_ms = h->min_valid_t;
    }
    *out = h;
    return 0;
}

void head_close(struct head *h)
{
    if (!h)
        return;
    ASSERT(h->open_sets == 0);
    for (uint32_t i = 0; i < h->n_ids; i++) {
        struct head_series *s = h->by_id ? h->by_id[i] : NULL;
        if (!s)
            continue;
        gorilla_enc_deinit(&s->enc);
        head_hist_free(h, s, false);
        free(s->chunks);
        free(s->ooo);
        free(s);
    }
    for (uint32_t i = 0; i < h->syms.n; i++)
        free(h->syms.by_id[i]);
    free(h->syms.by_id);
    free(h->syms.free);
    strmap_deinit(&h->syms.map);
    free(h->by_id);
    free(h->map.slots);
    free(h->pending);
    free(h->replay);
    free(h->lbuf);
    if (h->free_ids)
        roaring_bitmap_free(h->free_ids);
    if (h->pending_ids)
        roaring_bitmap_free(h->pending_ids);
    if (h->ix.all)
        memindex_deinit(&h->ix);
    headchunks_close(h->hc);
    free(h);
}

/* ---- time and stats ---- */

int64_t head_min_time(const struct head *h)
{
    return h->min_t;
}

int64_t head_max_time(const struct head *h)
{
    return h->max_t;
}

int64_t head_min_valid_time(const struct head *h)
{
    return h->min_valid_t;
}

static uint64_t bitmaps_bytes(const struct head *h)
{
    return roaring_bitmap_size_in_bytes(h->free_ids) + roaring_bitmap_size_in_bytes(h->pending_ids);
}

void head_stats(struct head *h, struct head_stats *out)
{
    HEAD_STAT_SET(h, bytes_index, memindex_bytes(&h->ix) + bitmaps_bytes(h));
    struct headchunks_stats hs;
    headchunks_stats(h->hc, &hs);
    HEAD_STAT_SET(h, chunk_files, hs.files);
    HEAD_STAT_SET(h, chunk_file_bytes, hs.bytes_on_disk);
    head_stats_read(h, out);
}

void head_stats_read(const struct head *h, struct head_stats *out)
{
    const uint64_t *src = (const uint64_t *)&h->st;
    uint64_t *dst = (uint64_t *)out;
    STATIC_ASSERT(sizeof(struct head_stats) % sizeof(uint64_t) == 0, "stats are 64-bit words");
    for (size_t i = 0; i < sizeof *out / sizeof(uint64_t); i++)
        dst[i] = __atomic_load_n(&src[i], __ATOMIC_RELAXED);
    out->bytes_total = out->bytes_series + out->bytes_chunks + out->bytes_refs +
                       out->bytes_symbols + out->bytes_map + out->bytes_index;
}
