/* The log store's head: the stream table (hash chains, dense ids with deferred reuse, postings),
 * tenants, and per stream its main and late chunk writers, finished chunks, duplicate windows,
 * truncation after a cut and removal of streams left without data. */
#include <stdlib.h>
#include <string.h>

#include "base/assert.h"
#include "base/error.h"
#include "base/hash.h"
#include "base/log.h"
#include "engine/logs/logstore_internal.h"

int ls_grow(void *pp, size_t *cap, size_t need, size_t elem)
{
    void **p = pp;
    if (need <= *cap)
        return 0;
    size_t c = *cap ? *cap : 16;
    while (c < need)
        c *= 2;
    void *q = realloc(*p, c * elem);
    if (!q)
        return ERR_NOMEM;
    *p = q;
    *cap = c;
    return 0;
}

uint64_t ls_entry_key(int64_t ts, struct str line, const struct label *md, size_t n_md)
{
    uint64_t h = hash_bytes_seed(line.ptr, line.len, (uint64_t)ts);
    for (size_t i = 0; i < n_md; i++) {
        h = hash_bytes_seed(md[i].name.ptr, md[i].name.len, h ^ 0x9e3779b97f4a7c15ull);
        h = hash_bytes_seed(md[i].value.ptr, md[i].value.len, h ^ 0xc2b2ae3d27d4eb4full);
    }
    return h;
}

/* ---- key sets ------------------------------------------------------------------------------- */

static bool keyset_has(const struct ls_keyset *s, uint64_t k)
{
    if (!s->n)
        return false;
    k = k ? k : 1;
    for (uint32_t i = (uint32_t)k & (s->cap - 1);; i = (i + 1) & (s->cap - 1)) {
        if (s->slots[i] == k)
            return true;
        if (!s->slots[i])
            return false;
    }
}

static int keyset_add(struct ls_keyset *s, uint64_t k)
{
    k = k ? k : 1;
    if ((s->n + 1) * 4 > s->cap * 3) {
        uint32_t cap = s->cap ? s->cap * 2 : 64;
        uint64_t *t = calloc(cap, sizeof *t);
        if (!t)
            return ERR_NOMEM;
        for (uint32_t i = 0; i < s->cap; i++) {
            uint64_t v = s->slots[i];
            if (!v)
                continue;
            uint32_t j = (uint32_t)v & (cap - 1);
            while (t[j])
                j = (j + 1) & (cap - 1);
            t[j] = v;
        }
        free(s->slots);
        s->slots = t;
        s->cap = cap;
    }
    uint32_t i = (uint32_t)k & (s->cap - 1);
    while (s->slots[i] && s->slots[i] != k)
        i = (i + 1) & (s->cap - 1);
    if (!s->slots[i]) {
        s->slots[i] = k;
        s->n++;
    }
    return 0;
}

static void keyset_free(struct ls_keyset *s)
{
    free(s->slots);
    memset(s, 0, sizeof *s);
}

/* cur becomes prev; cur starts empty (reusing the old prev's table when it is not too large). */
static void keyset_rotate(struct ls_writer *w)
{
    struct ls_keyset old = w->prev;
    w->prev = w->cur;
    w->cur = old;
    if (w->cur.cap > 4 * (w->prev.cap ? w->prev.cap : 64)) {
        keyset_free(&w->cur);
    } else if (w->cur.n) {
        memset(w->cur.slots, 0, w->cur.cap * sizeof *w->cur.slots);
        w->cur.n = 0;
    }
}

/* ---- writers -------------------------------------------------------------------------------- */

static void writer_clear(struct ls_writer *w)
{
    w->entries = 0;
    w->blocks = 0;
    w->line_bytes = 0;
    w->mint_ns = INT64_MAX;
    w->maxt_ns = INT64_MIN;
}

static void writer_free(struct ls_head *h, struct ls_writer *w)
{
    if (w->inited) {
        logchunk_writer_deinit(&w->w);
        h->writers--;
    }
    w->inited = false;
    keyset_free(&w->cur);
    keyset_free(&w->prev);
    writer_clear(w);
}

static bool writer_dup(const struct ls_writer *w, uint64_t k)
{
    return keyset_has(&w->cur, k) || keyset_has(&w->prev, k);
}

/* Turns the writer's entries into a finished chunk of the stream. 0 or ERR_NOMEM (unchanged). */
static int writer_finish(struct logstore *ls, struct ls_stream *st, struct ls_writer *w)
{
    if (!w->entries)
        return 0;
    struct ls_chunk *c = malloc(sizeof *c);
    if (!c)
        return ERR_NOMEM;
    if (st->n_chunks == st->cap_chunks) {
        size_t cap = st->cap_chunks;
        if (ls_grow(&st->chunks, &cap, (size_t)st->n_chunks + 1, sizeof *st->chunks)) {
            free(c);
            return ERR_NOMEM;
        }
        st->cap_chunks = (uint32_t)cap;
    }
    int rc = logchunk_writer_finish(&w->w, &c->bytes, &c->len);
    if (rc) {
        free(c);
        return rc;
    }
    uint8_t *shrunk = realloc(c->bytes, c->len);
    if (shrunk)
        c->bytes = shrunk;
    c->range_ms = w->range_ms;
    c->mint_ns = w->mint_ns;
    c->maxt_ns = w->maxt_ns;
    c->entries = w->entries;
    c->line_bytes = w->line_bytes;
    st->chunks[st->n_chunks++] = c; /* room reserved above */
    ls->head.chunk_bytes += c->len;
    ls->head.n_chunks++;
    keyset_rotate(w);
    writer_clear(w);
    st->gen++;
    return 0;
}

static void writer_init(struct logstore *ls, struct ls_writer *w)
{
    if (w->inited)
        return;
    struct logchunk_writer_opts o = {.block_target_bytes = ls->cfg.head_block_bytes,
                                     .store_uncompressed = false};
    logchunk_writer_init(&w->w, &o);
    w->inited = true;
    writer_clear(w);
    ls->head.writers++;
}

/* Appends to w (same range). 0, ERR_ORDER (older than a cut block), ERR_LIMIT, ERR_NOMEM. */
static int writer_append(struct logstore *ls, struct ls_writer *w, int64_t ts, struct str line,
                         const struct label *md, size_t n_md, uint64_t key)
{
    writer_init(ls, w);
    int rc = logchunk_writer_append(&w->w, ts, line, md, n_md);
    if (rc)
        return rc;
    w->entries++;
    w->line_bytes += line.len;
    w->mint_ns = ts < w->mint_ns ? ts : w->mint_ns;
    w->maxt_ns = ts > w->maxt_ns ? ts : w->maxt_ns;
    struct logchunk_stats s;
    logchunk_writer_stats(&w->w, &s);
    if (s.blocks != w->blocks) {
        w->blocks = s.blocks;
        keyset_rotate(w);
    }
    /* The entry is in the head block unless the cut took it. A failed insert only narrows the
     * dedup window. */
    (void)keyset_add(s.head_entries ? &w->cur : &w->prev, key);
    return 0;
}

/* ---- streams -------------------------------------------------------------------------------- */

static bool labels_equal(const struct label *a, size_t na, const struct label *b, size_t nb)
{
    if (na != nb)
        return false;
    for (size_t i = 0; i < na; i++)
        if (!str_eq(a[i].name, b[i].name) || !str_eq(a[i].value, b[i].value))
            return false;
    return true;
}

struct ls_stream *ls_stream_lookup(struct logstore *ls, const struct label *l, size_t n,
                                   uint64_t hash)
{
    struct ls_head *h = &ls->head;
    if (!h->n_buckets)
        return NULL;
    for (struct ls_stream *s = h->buckets[hash & (h->n_buckets - 1)]; s; s = s->next_hash)
        if (s->hash == hash && labels_equal(s->labels, s->n_labels, l, n))
            return s;
    return NULL;
}

struct ls_stream *ls_stream_by_id(const struct logstore *ls, uint32_t id)
{
    return id < ls->head.cap_ids ? ls->head.by_id[id] : NULL;
}

static int buckets_grow(struct ls_head *h)
{
    size_t nb = h->n_buckets ? h->n_buckets * 2 : 1024;
    struct ls_stream **b = calloc(nb, sizeof *b);
    if (!b)
        return ERR_NOMEM;
    for (size_t i = 0; i < h->n_buckets; i++) {
        for (struct ls_stream *s = h->buckets[i], *next; s; s = next) {
            next = s->next_hash;
            s->next_hash = b[s->hash & (nb - 1)];
            b[s->hash & (nb - 1)] = s;
        }
    }
    free(h->buckets);
    h->buckets = b;
    h->n_buckets = nb;
    return 0;
}

struct ls_tenant *ls_tenant_get(struct logstore *ls, struct str name)
{
    struct ls_head *h = &ls->head;
    struct ls_tenant *t = strmap_get(&h->tenants, name);
    if (t)
        return t;
    if (!(t = calloc(1, sizeof *t + name.len + 1)))
        return NULL;
    if (name.len)
        memcpy(t->name, name.ptr, name.len);
    t->line_bytes_max = ls->cfg.line_bytes_max;
    t->streams_max = ls->cfg.streams_per_tenant_max;
    for (size_t i = 0; i < ls->cfg.n_tenant_limits; i++) {
        const struct logstore_tenant_limits *tl = &ls->cfg.tenant_limits[i];
        if (tl->tenant && str_eq(name, str_from_cstr(tl->tenant))) {
            t->line_bytes_max = tl->line_bytes_max;
            t->streams_max = tl->streams_max;
        }
    }
    if (strmap_put(&h->tenants, (struct str){t->name, name.len}, t)) {
        free(t);
        return NULL;
    }
    return t;
}

static struct str tenant_of(const struct label *l, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (str_eq_cstr(l[i].name, LS_TENANT_LABEL))
            return l[i].value;
    return STR_LIT("");
}

static struct label *labels_copy(const struct label *l, size_t n)
{
    size_t bytes = n * sizeof(struct label);
    for (size_t i = 0; i < n; i++)
        bytes += l[i].name.len + l[i].value.len;
    struct label *out = malloc(bytes ? bytes : 1);
    if (!out)
        return NULL;
    char *p = (char *)(out + n);
    for (size_t i = 0; i < n; i++) {
        memcpy(p, l[i].name.ptr, l[i].name.len);
        out[i].name = (struct str){p, l[i].name.len};
        p += l[i].name.len;
        memcpy(p, l[i].value.ptr, l[i].value.len);
        out[i].value = (struct str){p, l[i].value.len};
        p += l[i].value.len;
    }
    return out;
}

/* Picks a free id (or checks the given one). */
static int id_take(struct ls_head *h, uint32_t want, uint32_t *id)
{
    if (want == UINT32_MAX) {
        if (h->n_free) {
            *id = h->free_ids[--h->n_free];
            return 0;
        }
        if (h->id_limit > LS_STREAM_ID_MAX)
            return ERR_FULL;
        want = h->id_limit;
    } else if (want > LS_STREAM_ID_MAX) {
        return ERR_RANGE;
    } else if (want < h->cap_ids && h->by_id[want]) {
        return ERR_DUPLICATE;
    } else {
        for (size_t i = 0; i < h->n_free; i++) /* replay: an id listed as free is taken again */
            if (h->free_ids[i] == want)
                h->free_ids[i] = h->free_ids[--h->n_free];
    }
    if (want >= h->cap_ids) {
        size_t cap = h->cap_ids, old = h->cap_ids;
        if (ls_grow(&h->by_id, &cap, (size_t)want + 1, sizeof *h->by_id))
            return ERR_NOMEM;
        memset(h->by_id + old, 0, (cap - old) * sizeof *h->by_id);
        h->cap_ids = (uint32_t)cap;
    }
    *id = want;
    return 0;
}

static void stream_init_fields(struct ls_stream *s)
{
    s->max_ts = INT64_MIN;
    s->min_ns = INT64_MAX;
    s->max_ns = INT64_MIN;
    s->last_append_ms = INT64_MIN;
    s->main.mint_ns = s->late.mint_ns = INT64_MAX;
    s->main.maxt_ns = s->late.maxt_ns = INT64_MIN;
}

int ls_stream_create(struct logstore *ls, const struct label *l, size_t n, uint64_t hash,
                     uint32_t want_id, struct ls_stream **out)
{
    struct ls_head *h = &ls->head;
    if ((h->n_streams + 1) > h->n_buckets && buckets_grow(h))
        return ERR_NOMEM;
    struct ls_tenant *t = ls_tenant_get(ls, tenant_of(l, n));
    struct ls_stream *s = calloc(1, sizeof *s);
    if (!t || !s || !(s->labels = labels_copy(l, n))) {
        free(s);
        return ERR_NOMEM;
    }
    uint32_t id;
    size_t n_free = h->n_free;
    int rc = id_take(h, want_id, &id);
    if (!rc && memindex_add(&h->ix, id, s->labels, n)) {
        if (h->n_free < n_free) /* the id came off the free list: put it back */
            h->free_ids[h->n_free++] = id;
        rc = ERR_NOMEM;
    }
    if (rc) {
        free(s->labels);
        free(s);
        return rc;
    }
    s->id = id;
    s->hash = hash;
    s->n_labels = n;
    s->tenant = t;
    stream_init_fields(s);
    h->by_id[id] = s;
    if (id >= h->id_limit)
        h->id_limit = id + 1;
    s->next_hash = h->buckets[hash & (h->n_buckets - 1)];
    h->buckets[hash & (h->n_buckets - 1)] = s;
    h->n_streams++;
    t->streams++;
    *out = s;
    return 0;
}

static void stream_unlink(struct ls_head *h, struct ls_stream *s)
{
    struct ls_stream **pp = &h->buckets[s->hash & (h->n_buckets - 1)];
    while (*pp != s)
        pp = &(*pp)->next_hash;
    *pp = s->next_hash;
    h->by_id[s->id] = NULL;
    memindex_remove(&h->ix, s->id, s->labels, s->n_labels);
    h->n_streams--;
    s->tenant->streams--;
}

static void chunk_free(struct ls_head *h, struct ls_chunk *c)
{
    h->chunk_bytes -= c->len;
    h->n_chunks--;
    free(c->bytes);
    free(c);
}

static void stream_free(struct ls_head *h, struct ls_stream *s)
{
    for (uint32_t i = 0; i < s->n_chunks; i++)
        chunk_free(h, s->chunks[i]);
    free(s->chunks);
    writer_free(h, &s->main);
    writer_free(h, &s->late);
    free(s->labels);
    free(s);
}

/* ---- appending ------------------------------------------------------------------------------ */

void ls_head_note_ts(struct ls_head *h, int64_t ts)
{
    h->min_ns = ts < h->min_ns ? ts : h->min_ns;
    h->max_ns = ts > h->max_ns ? ts : h->max_ns;
}

/* Appends to the late writer, which holds entries of range r only. */
static int append_late(struct logstore *ls, struct ls_stream *st, int64_t r, int64_t ts,
                       struct str line, const struct label *md, size_t n_md, uint64_t key)
{
    struct ls_writer *w = &st->late;
    int rc;
    if (w->entries && w->range_ms != r && (rc = writer_finish(ls, st, w)) != 0)
        return rc;
    w->range_ms = r;
    rc = writer_append(ls, w, ts, line, md, n_md, key);
    if (rc == ERR_ORDER || rc == ERR_LIMIT) {
        if ((rc = writer_finish(ls, st, w)) != 0)
            return rc;
        w->range_ms = r;
        rc = writer_append(ls, w, ts, line, md, n_md, key);
    }
    return rc;
}

/* Appends to the main writer when the entry fits it; ERR_ORDER sends it to the late writer. */
static int append_main(struct logstore *ls, struct ls_stream *st, int64_t r, int64_t ts,
                       struct str line, const struct label *md, size_t n_md, uint64_t key)
{
    struct ls_writer *w = &st->main;
    int rc;
    if (w->entries && r < w->range_ms)
        return ERR_ORDER;
    bool aged = ls->cfg.chunk_max_age_ms > 0 && w->entries && ts > w->maxt_ns &&
                ts - w->mint_ns >= ls_ms_to_ns(ls->cfg.chunk_max_age_ms);
    if (w->entries && (r > w->range_ms || aged) && (rc = writer_finish(ls, st, w)) != 0)
        return rc;
    w->range_ms = r;
    rc = writer_append(ls, w, ts, line, md, n_md, key);
    if (rc == ERR_LIMIT) { /* the chunk is full: start the next one */
        if ((rc = writer_finish(ls, st, w)) != 0)
            return rc;
        w->range_ms = r;
        rc = writer_append(ls, w, ts, line, md, n_md, key);
    }
    return rc;
}

static int finish_if_full(struct logstore *ls, struct ls_stream *st, struct ls_writer *w)
{
    if (!w->entries)
        return 0;
    struct logchunk_stats s;
    logchunk_writer_stats(&w->w, &s);
    return s.bytes_uncompressed >= ls->cfg.chunk_target_bytes ? writer_finish(ls, st, w) : 0;
}

int ls_stream_append(struct logstore *ls, struct ls_stream *st, int64_t ts, struct str line,
                     const struct label *md, size_t n_md)
{
    uint64_t key = ls_entry_key(ts, line, md, n_md);
    if (ts <= st->max_ts && (writer_dup(&st->main, key) || writer_dup(&st->late, key)))
        return 1;
    int64_t r = ls_range_start(ls_ns_to_ms(ts), ls->cfg.block_range_ms);
    int rc = append_main(ls, st, r, ts, line, md, n_md, key);
    struct ls_writer *w = &st->main;
    if (rc == ERR_ORDER) {
        rc = append_late(ls, st, r, ts, line, md, n_md, key);
        w = &st->late;
    }
    if (rc)
        return rc;
    st->max_ts = ts > st->max_ts ? ts : st->max_ts;
    st->min_ns = ts < st->min_ns ? ts : st->min_ns;
    st->max_ns = ts > st->max_ns ? ts : st->max_ns;
    st->last_append_ms = ls->tick_ms;
    st->gen++;
    ls->head.entries++;
    ls->head.line_bytes += line.len;
    ls_head_note_ts(&ls->head, ts);
    /* A failed finish leaves the entries in the writer: retried by the next append. */
    (void)finish_if_full(ls, st, w);
    return 0;
}

int ls_stream_finish_before(struct logstore *ls, struct ls_stream *st, int64_t before_ms)
{
    int rc = 0;
    if (st->main.entries && st->main.range_ms < before_ms)
        rc = writer_finish(ls, st, &st->main);
    if (!rc && st->late.entries && st->late.range_ms < before_ms)
        rc = writer_finish(ls, st, &st->late);
    return rc;
}

#define IDLE_STREAMS_PER_TICK 4096

void ls_head_finish_idle(struct logstore *ls, int64_t now_ms)
{
    struct ls_head *h = &ls->head;
    if (ls->cfg.chunk_idle_ms <= 0 || !h->id_limit || ls->open_iters)
        return;
    uint32_t i = ls->cyc.idle_next % h->id_limit;
    for (uint32_t k = 0; k < IDLE_STREAMS_PER_TICK && k < h->id_limit; k++) {
        struct ls_stream *st = h->by_id[i];
        if (st && st->last_append_ms == INT64_MIN)
            st->last_append_ms = now_ms; /* appended before the first tick (replay): from now */
        if (st && (st->main.inited || st->late.inited) &&
            st->last_append_ms <= now_ms - ls->cfg.chunk_idle_ms) {
            if (ls_stream_finish_before(ls, st, INT64_MAX) == 0) {
                /* scratch freed; the duplicate window of the last block stays */
                if (st->main.inited) {
                    logchunk_writer_deinit(&st->main.w);
                    st->main.inited = false;
                    h->writers--;
                }
                if (st->late.inited) {
                    logchunk_writer_deinit(&st->late.w);
                    st->late.inited = false;
                    h->writers--;
                }
            }
        }
        i = i + 1 < h->id_limit ? i + 1 : 0;
    }
    ls->cyc.idle_next = i;
}

/* ---- truncation ----------------------------------------------------------------------------- */

static void stream_recompute_span(struct ls_stream *st)
{
    st->min_ns = INT64_MAX;
    st->max_ns = INT64_MIN;
    for (uint32_t i = 0; i < st->n_chunks; i++) {
        st->min_ns = st->chunks[i]->mint_ns < st->min_ns ? st->chunks[i]->mint_ns : st->min_ns;
        st->max_ns = st->chunks[i]->maxt_ns > st->max_ns ? st->chunks[i]->maxt_ns : st->max_ns;
    }
    const struct ls_writer *ws[2] = {&st->main, &st->late};
    for (int k = 0; k < 2; k++) {
        if (!ws[k]->entries)
            continue;
        st->min_ns = ws[k]->mint_ns < st->min_ns ? ws[k]->mint_ns : st->min_ns;
        st->max_ns = ws[k]->maxt_ns > st->max_ns ? ws[k]->maxt_ns : st->max_ns;
    }
}

static int pending_push(struct ls_head *h, uint32_t id)
{
    return ls_grow(&h->pending_ids, &h->cap_pending, h->n_pending + 1, sizeof *h->pending_ids)
               ? ERR_NOMEM
               : (h->pending_ids[h->n_pending++] = id, 0);
}

size_t ls_head_truncate(struct logstore *ls, int64_t mint_ms)
{
    struct ls_head *h = &ls->head;
    size_t removed = 0;
    h->min_ns = INT64_MAX;
    h->max_ns = INT64_MIN;
    for (uint32_t id = 0; id < h->id_limit; id++) {
        struct ls_stream *st = h->by_id[id];
        if (!st)
            continue;
        uint32_t k = 0;
        for (uint32_t i = 0; i < st->n_chunks; i++) {
            struct ls_chunk *c = st->chunks[i];
            if (c->range_ms < mint_ms) {
                h->entries -= c->entries;
                h->line_bytes -= c->line_bytes;
                chunk_free(h, c);
            } else {
                st->chunks[k++] = c;
            }
        }
        if (k != st->n_chunks)
            st->gen++;
        st->n_chunks = k;
        stream_recompute_span(st);
        if (st->n_chunks || st->main.entries || st->late.entries) {
            ls_head_note_ts(h, st->min_ns);
            ls_head_note_ts(h, st->max_ns);
            continue;
        }
        if (pending_push(h, id) != 0)
            continue; /* keep the stream: its id must not be reused before the checkpoint */
        stream_unlink(h, st);
        stream_free(h, st);
        removed++;
    }
    return removed;
}

void ls_head_recycle_ids(struct logstore *ls)
{
    struct ls_head *h = &ls->head;
    if (!h->n_pending ||
        ls_grow(&h->free_ids, &h->cap_free, h->n_free + h->n_pending, sizeof *h->free_ids))
        return;
    memcpy(h->free_ids + h->n_free, h->pending_ids, h->n_pending * sizeof *h->free_ids);
    h->n_free += h->n_pending;
    h->n_pending = 0;
}

/* ---- life cycle ----------------------------------------------------------------------------- */

int ls_head_init(struct logstore *ls)
{
    struct ls_head *h = &ls->head;
    memset(h, 0, sizeof *h);
    strmap_init(&h->tenants);
    h->min_valid_ms = INT64_MIN;
    h->visible_ms = INT64_MIN;
    h->min_ns = INT64_MAX;
    h->max_ns = INT64_MIN;
    return memindex_init(&h->ix);
}

void ls_head_deinit(struct logstore *ls)
{
    struct ls_head *h = &ls->head;
    for (uint32_t id = 0; id < h->cap_ids; id++)
        if (h->by_id[id])
            stream_free(h, h->by_id[id]);
    free(h->by_id);
    free(h->free_ids);
    free(h->pending_ids);
    free(h->buckets);
    if (h->ix.all)
        memindex_deinit(&h->ix);
    size_t pos = 0;
    const struct strmap_slot *sl;
    while (strmap_next(&h->tenants, &pos, &sl))
        free(sl->value);
    strmap_deinit(&h->tenants);
    memset(h, 0, sizeof *h);
}
