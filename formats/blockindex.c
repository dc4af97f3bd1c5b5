/* Block index, chunk-file records, ULIDs and meta.json: encoders and bounds-checked decoders.
 * Byte layout: docs/formats/block.md. */
#include "formats/blockindex.h"

#include <stdio.h>
#include <stdlib.h>

#include "base/assert.h"
#include "base/crc32c.h"
#include "base/error.h"
#include "formats/postings.h"

#define SECTION_ENTRY_BYTES 24
#define TOC_FILES_AT        144
#define TOC_CRC_AT          148
#define TOC_VERSION_AT      152
#define TOC_MAGIC_AT        156
/* The smallest postings frame: the empty bitmap's 8-byte payload in the 16-byte frame. */
#define POSTINGS_FRAME_MIN (POSTINGS_HEADER_BYTES + POSTINGS_TRAILER_BYTES + 8)
/* The smallest series entry: 0 labels, 1 chunk of 7 one-byte fields, CRC. */
#define SERIES_ENTRY_MIN 13

STATIC_ASSERT(BLOCKINDEX_N_SECTIONS *SECTION_ENTRY_BYTES == TOC_FILES_AT, "TOC layout");

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    size_t c = *cap ? *cap : 8;
    while (c < need)
        c *= 2;
    void *q = realloc(*p, c * elem);
    if (!q)
        return ERR_NOMEM;
    *p = q;
    *cap = c;
    return 0;
}

/* ---- header and TOC ------------------------------------------------------------------------ */

int blockindex_header_check(const uint8_t *p, size_t n)
{
    if (n < BLOCKINDEX_HEADER_BYTES)
        return ERR_TRUNCATED;
    if (le32_get(p) != BLOCKINDEX_MAGIC)
        return ERR_CORRUPT;
    if (p[4] != BLOCKINDEX_VERSION)
        return p[4] == 0 ? ERR_CORRUPT : ERR_UNSUPPORTED;
    return (p[5] | p[6] | p[7]) ? ERR_CORRUPT : 0;
}

static void toc_encode(const struct blockindex_toc *t, uint8_t out[BLOCKINDEX_TOC_BYTES])
{
    for (int i = 0; i < BLOCKINDEX_N_SECTIONS; i++) {
        uint8_t *e = out + i * SECTION_ENTRY_BYTES;
        le64_put(e, t->s[i].off);
        le64_put(e + 8, t->s[i].len);
        le32_put(e + 16, t->s[i].count);
        le32_put(e + 20, t->s[i].crc);
    }
    le32_put(out + TOC_FILES_AT, t->chunk_files);
    le32_put(out + TOC_CRC_AT, crc32c(out, TOC_CRC_AT));
    le32_put(out + TOC_VERSION_AT, BLOCKINDEX_VERSION);
    le32_put(out + TOC_MAGIC_AT, BLOCKINDEX_MAGIC);
}

static bool toc_counts_ok(const struct blockindex_toc *t)
{
    const struct blockindex_section_ref *s = t->s;
    uint64_t n_series = s[BLOCKINDEX_SERIES].count;
    if (s[BLOCKINDEX_SYMBOLS].count > s[BLOCKINDEX_SYMBOLS].len)
        return false;
    if (n_series > BLOCKINDEX_SERIES_MAX || n_series * SERIES_ENTRY_MIN > s[BLOCKINDEX_SERIES].len)
        return false;
    if (s[BLOCKINDEX_SERIES_OFFSETS].count != n_series + 1 ||
        s[BLOCKINDEX_SERIES_OFFSETS].len != 8 * (n_series + 1))
        return false;
    if ((uint64_t)s[BLOCKINDEX_POSTINGS].count * POSTINGS_FRAME_MIN > s[BLOCKINDEX_POSTINGS].len)
        return false;
    if (s[BLOCKINDEX_VALUES].count != s[BLOCKINDEX_POSTINGS].count ||
        s[BLOCKINDEX_VALUES].count > s[BLOCKINDEX_VALUES].len)
        return false;
    if (s[BLOCKINDEX_NAMES].count > s[BLOCKINDEX_NAMES].len)
        return false;
    return t->chunk_files <= BLOCKINDEX_CHUNK_FILES_MAX;
}

int blockindex_toc_decode(const uint8_t *p, uint64_t file_size, struct blockindex_toc *toc)
{
    if (file_size < BLOCKINDEX_HEADER_BYTES + BLOCKINDEX_TOC_BYTES)
        return ERR_TRUNCATED;
    if (le32_get(p + TOC_MAGIC_AT) != BLOCKINDEX_MAGIC)
        return ERR_CORRUPT;
    uint32_t version = le32_get(p + TOC_VERSION_AT);
    if (version != BLOCKINDEX_VERSION)
        return (version & 0xff) == 0 || (version >> 8) ? ERR_CORRUPT : ERR_UNSUPPORTED;
    if (crc32c(p, TOC_CRC_AT) != le32_get(p + TOC_CRC_AT))
        return ERR_CORRUPT;
    uint64_t at = BLOCKINDEX_HEADER_BYTES, end = file_size - BLOCKINDEX_TOC_BYTES;
    for (int i = 0; i < BLOCKINDEX_N_SECTIONS; i++) {
        const uint8_t *e = p + i * SECTION_ENTRY_BYTES;
        struct blockindex_section_ref *s = &toc->s[i];
        s->off = le64_get(e);
        s->len = le64_get(e + 8);
        s->count = le32_get(e + 16);
        s->crc = le32_get(e + 20);
        if (s->off != at || s->len > end - at)
            return ERR_CORRUPT;
        at += s->len;
    }
    toc->chunk_files = le32_get(p + TOC_FILES_AT);
    if (at != end || !toc_counts_ok(toc))
        return ERR_CORRUPT;
    return 0;
}

int blockindex_section_check(const struct blockindex_section_ref *s, const uint8_t *p)
{
    return crc32c(p, (size_t)s->len) == s->crc ? 0 : ERR_CORRUPT;
}

/* ---- symbols ------------------------------------------------------------------------------- */

int blockindex_symbols_decode(const uint8_t *p, size_t n, uint32_t count, struct str *out)
{
    struct rd r = rd_make(p, n);
    for (uint32_t i = 0; i < count; i++) {
        uint64_t len;
        const uint8_t *s;
        int rc = rd_uvarint(&r, &len);
        if (rc == 0)
            rc = len > rd_left(&r) ? ERR_CORRUPT : rd_take(&r, (size_t)len, &s);
        if (rc)
            return rc;
        out[i] = (struct str){(const char *)s, (size_t)len};
        if (i && str_cmp(out[i - 1], out[i]) >= 0)
            return ERR_CORRUPT;
    }
    return rd_empty(&r) ? 0 : ERR_CORRUPT;
}

int64_t blockindex_symbol_find(const struct str *syms, uint32_t n, struct str s)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = str_cmp(syms[mid], s);
        if (c == 0)
            return (int64_t)mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

/* ---- series entries ------------------------------------------------------------------------ */

int blockindex_series_span(const uint8_t p[16], uint64_t series_len, uint64_t *off, uint64_t *len)
{
    uint64_t a = le64_get(p), b = le64_get(p + 8);
    if (a > b || b > series_len || b - a < SERIES_ENTRY_MIN)
        return ERR_CORRUPT;
    *off = a;
    *len = b - a;
    return 0;
}

void blockindex_series_init(struct blockindex_series *s)
{
    memset(s, 0, sizeof *s);
}

void blockindex_series_deinit(struct blockindex_series *s)
{
    free(s->refs);
    free(s->chunks);
    memset(s, 0, sizeof *s);
}

static uint64_t chunk_end(const struct blockindex_chunk *c)
{
    return c->offset + BLOCKINDEX_CHUNK_OVERHEAD + c->len;
}

static bool chunk_place_ok(uint64_t offset, uint64_t len)
{
    return offset >= BLOCKINDEX_CHUNKS_HEADER_BYTES && len >= 1 && len <= UINT32_MAX &&
           offset <= BLOCKINDEX_CHUNK_FILE_MAX &&
           len + BLOCKINDEX_CHUNK_OVERHEAD <= BLOCKINDEX_CHUNK_FILE_MAX - offset;
}

static int decode_times(struct rd *r, const struct blockindex_chunk *prev,
                        struct blockindex_chunk *c)
{
    uint64_t u;
    int rc;
    if (!prev) {
        rc = rd_svarint(r, &c->mint_ms);
    } else {
        rc = rd_uvarint(r, &u);
        if (rc == 0 && u > (uint64_t)INT64_MAX - (uint64_t)prev->mint_ms)
            return ERR_CORRUPT;
        c->mint_ms = (int64_t)((uint64_t)prev->mint_ms + u);
    }
    if (rc || (rc = rd_uvarint(r, &u)))
        return rc;
    if (u > (uint64_t)INT64_MAX - (uint64_t)c->mint_ms)
        return ERR_CORRUPT;
    c->maxt_ms = (int64_t)((uint64_t)c->mint_ms + u);
    if ((rc = rd_uvarint(r, &u)))
        return rc;
    if (u == 0 || u > UINT32_MAX)
        return ERR_CORRUPT;
    c->samples = (uint32_t)u;
    if ((rc = rd_u8(r, &c->encoding)))
        return rc;
    return c->encoding >= 1 && c->encoding <= 5 ? 0 : ERR_CORRUPT;
}

static int decode_place(struct rd *r, const struct blockindex_chunk *prev,
                        struct blockindex_chunk *c)
{
    uint64_t file, off, len;
    int rc = rd_uvarint(r, &file);
    if (rc)
        return rc;
    uint64_t base_file = prev ? prev->file : 0;
    if (file > BLOCKINDEX_CHUNK_FILES_MAX - base_file || (!prev && file == 0))
        return ERR_CORRUPT;
    file += base_file;
    if ((rc = rd_uvarint(r, &off)) || (rc = rd_uvarint(r, &len)))
        return rc;
    if (prev && file == prev->file) {
        if (off > BLOCKINDEX_CHUNK_FILE_MAX)
            return ERR_CORRUPT;
        off += chunk_end(prev);
    }
    if (!chunk_place_ok(off, len))
        return ERR_CORRUPT;
    c->file = (uint32_t)file;
    c->offset = off;
    c->len = (uint32_t)len;
    return 0;
}

int blockindex_series_decode(const uint8_t *p, size_t n, uint32_t n_symbols,
                             struct blockindex_series *s)
{
    s->n_labels = s->n_chunks = 0;
    if (n < SERIES_ENTRY_MIN)
        return ERR_TRUNCATED;
    if (crc32c(p, n - 4) != le32_get(p + n - 4))
        return ERR_CORRUPT;
    struct rd r = rd_make(p, n - 4);
    uint64_t nl, nc, ref;
    int rc = rd_uvarint(&r, &nl);
    if (rc || nl > rd_left(&r) / 2)
        return rc ? rc : ERR_CORRUPT;
    if (grow((void **)&s->refs, &s->cap_refs, 2 * nl + 1, sizeof *s->refs))
        return ERR_NOMEM;
    for (size_t i = 0; i < 2 * nl; i++) {
        if ((rc = rd_uvarint(&r, &ref)))
            return rc;
        if (ref >= n_symbols || (i % 2 == 0 && i > 0 && ref <= s->refs[i - 2]))
            return ERR_CORRUPT;
        s->refs[i] = (uint32_t)ref;
    }
    if ((rc = rd_uvarint(&r, &nc)))
        return rc;
    if (nc == 0 || nc > rd_left(&r) / 7)
        return ERR_CORRUPT;
    if (grow((void **)&s->chunks, &s->cap_chunks, nc, sizeof *s->chunks))
        return ERR_NOMEM;
    for (size_t i = 0; i < nc; i++) {
        const struct blockindex_chunk *prev = i ? &s->chunks[i - 1] : NULL;
        if ((rc = decode_times(&r, prev, &s->chunks[i])) ||
            (rc = decode_place(&r, prev, &s->chunks[i])))
            return rc;
    }
    if (!rd_empty(&r))
        return ERR_CORRUPT;
    s->n_labels = nl;
    s->n_chunks = nc;
    return 0;
}

static bool chunk_ok_after(const struct blockindex_chunk *prev, const struct blockindex_chunk *c)
{
    if (c->maxt_ms < c->mint_ms || c->samples == 0 || c->encoding < 1 || c->encoding > 5)
        return false;
    if (c->file == 0 || c->file > BLOCKINDEX_CHUNK_FILES_MAX || !chunk_place_ok(c->offset, c->len))
        return false;
    if (!prev)
        return true;
    if (c->mint_ms < prev->mint_ms || c->file < prev->file)
        return false;
    return c->file != prev->file || c->offset >= chunk_end(prev);
}

static int encode_chunk(const struct blockindex_chunk *prev, const struct blockindex_chunk *c,
                        struct buf *out)
{
    int rc = prev ? buf_append_uvarint(out, (uint64_t)c->mint_ms - (uint64_t)prev->mint_ms)
                  : buf_append_svarint(out, c->mint_ms);
    rc |= buf_append_uvarint(out, (uint64_t)c->maxt_ms - (uint64_t)c->mint_ms);
    rc |= buf_append_uvarint(out, c->samples);
    rc |= buf_append_u8(out, c->encoding);
    rc |= buf_append_uvarint(out, c->file - (prev ? prev->file : 0));
    bool same = prev && prev->file == c->file;
    rc |= buf_append_uvarint(out, same ? c->offset - chunk_end(prev) : c->offset);
    rc |= buf_append_uvarint(out, c->len);
    return rc ? ERR_NOMEM : 0;
}

int blockindex_series_encode(const uint32_t *refs, size_t n_labels,
                             const struct blockindex_chunk *chunks, size_t n_chunks,
                             struct buf *out)
{
    if (n_chunks == 0)
        return ERR_INVALID;
    for (size_t i = 1; i < n_labels; i++)
        if (refs[2 * i] <= refs[2 * i - 2])
            return ERR_INVALID;
    for (size_t i = 0; i < n_chunks; i++)
        if (!chunk_ok_after(i ? &chunks[i - 1] : NULL, &chunks[i]))
            return ERR_INVALID;
    size_t start = out->len;
    int rc = buf_append_uvarint(out, n_labels);
    for (size_t i = 0; i < 2 * n_labels && rc == 0; i++)
        rc = buf_append_uvarint(out, refs[i]);
    if (rc == 0)
        rc = buf_append_uvarint(out, n_chunks);
    for (size_t i = 0; i < n_chunks && rc == 0; i++)
        rc = encode_chunk(i ? &chunks[i - 1] : NULL, &chunks[i], out);
    if (rc == 0)
        rc = buf_append_le32(out, crc32c(out->data + start, out->len - start));
    if (rc)
        out->len = start;
    return rc ? ERR_NOMEM : 0;
}

/* ---- names and value blocks ---------------------------------------------------------------- */

int blockindex_names_decode(const uint8_t *p, size_t n, uint32_t count, uint32_t n_symbols,
                            uint64_t values_len, struct blockindex_name *out)
{
    struct rd r = rd_make(p, n);
    uint64_t at = 0, ref = 0, d, vlen;
    for (uint32_t i = 0; i < count; i++) {
        int rc = rd_uvarint(&r, &d);
        if (rc == 0)
            rc = rd_uvarint(&r, &vlen);
        if (rc == 0)
            rc = rd_le32(&r, &out[i].crc);
        if (rc)
            return rc;
        if ((i > 0 && d == 0) || d >= n_symbols || d >= n_symbols - ref)
            return ERR_CORRUPT;
        ref = i ? ref + d : d;
        if (vlen == 0 || vlen > values_len - at)
            return ERR_CORRUPT;
        out[i].name = (uint32_t)ref;
        out[i].values_off = at;
        out[i].values_len = vlen;
        at += vlen;
    }
    return rd_empty(&r) && at == values_len ? 0 : ERR_CORRUPT;
}

int64_t blockindex_name_find(const struct blockindex_name *names, uint32_t n,
                             const struct str *syms, struct str name)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = str_cmp(syms[names[mid].name], name);
        if (c == 0)
            return (int64_t)mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

int blockindex_values_check(const struct blockindex_name *nm, const uint8_t *block)
{
    return crc32c(block, (size_t)nm->values_len) == nm->crc ? 0 : ERR_CORRUPT;
}

int blockindex_values_iter_init(struct blockindex_values_iter *it, const uint8_t *block, size_t n,
                                uint32_t n_symbols, uint32_t *n_values)
{
    memset(it, 0, sizeof *it);
    it->r = rd_make(block, n);
    it->n_symbols = n_symbols;
    it->prev = -1;
    uint64_t nv, first;
    int rc = rd_uvarint(&it->r, &nv);
    if (rc == 0)
        rc = rd_uvarint(&it->r, &first);
    if (rc == 0 && (nv == 0 || nv > rd_left(&it->r) / 2 || first > (1ull << 62)))
        rc = ERR_CORRUPT;
    if (rc)
        return it->err = rc;
    it->left = it->n_values = (uint32_t)nv;
    it->next_off = first;
    if (n_values)
        *n_values = (uint32_t)nv;
    return 0;
}

int blockindex_values_iter_next(struct blockindex_values_iter *it, struct blockindex_value *out)
{
    if (it->err)
        return it->err;
    if (it->left == 0)
        return rd_empty(&it->r) ? 0 : (it->err = ERR_CORRUPT);
    uint64_t d, plen;
    int rc = rd_uvarint(&it->r, &d);
    if (rc == 0)
        rc = rd_uvarint(&it->r, &plen);
    if (rc)
        return it->err = rc;
    uint64_t base = it->prev < 0 ? 0 : (uint64_t)it->prev;
    if ((it->prev >= 0 && d == 0) || d >= it->n_symbols || d >= it->n_symbols - base ||
        plen < POSTINGS_FRAME_MIN || plen > UINT32_MAX)
        return it->err = ERR_CORRUPT;
    it->prev = (int64_t)(base + d);
    out->value = (uint32_t)it->prev;
    out->postings_off = it->next_off;
    out->postings_len = (uint32_t)plen;
    it->next_off += plen;
    it->left--;
    return 1;
}

/* ---- streaming writer ---------------------------------------------------------------------- */

enum { ST_INIT, ST_SERIES, ST_LABELS, ST_DONE };

/* Accounts for the bytes appended to w->out since `from`: section CRC and position. */
static void took(struct blockindex_writer *w, size_t from)
{
    w->crc = crc32c_update(w->crc, w->out.data + from, w->out.len - from);
    w->pos += w->out.len - from;
}

static void sec_begin(struct blockindex_writer *w, int s)
{
    w->toc.s[s].off = w->pos;
    w->crc = 0;
}

static void sec_end(struct blockindex_writer *w, int s)
{
    w->toc.s[s].len = w->pos - w->toc.s[s].off;
    w->toc.s[s].crc = w->crc;
}

static int fail(struct blockindex_writer *w, int rc)
{
    if (rc && !w->err)
        w->err = rc;
    return rc;
}

int blockindex_writer_init(struct blockindex_writer *w, uint32_t chunk_files)
{
    memset(w, 0, sizeof *w);
    blockindex_series_init(&w->tmp);
    w->last_name = -1;
    if (chunk_files > BLOCKINDEX_CHUNK_FILES_MAX)
        return fail(w, ERR_INVALID);
    w->toc.chunk_files = chunk_files;
    uint8_t h[BLOCKINDEX_HEADER_BYTES] = {0};
    le32_put(h, BLOCKINDEX_MAGIC);
    h[4] = BLOCKINDEX_VERSION;
    if (buf_append(&w->out, h, sizeof h))
        return fail(w, ERR_NOMEM);
    took(w, 0);
    return 0;
}

void blockindex_writer_deinit(struct blockindex_writer *w)
{
    buf_deinit(&w->out);
    buf_deinit(&w->values);
    buf_deinit(&w->names);
    free(w->series_off);
    blockindex_series_deinit(&w->tmp);
    memset(w, 0, sizeof *w);
}

int blockindex_writer_symbols(struct blockindex_writer *w, const struct str *syms, size_t n)
{
    ASSERT(w->stage == ST_INIT);
    if (w->err)
        return w->err;
    if (n > UINT32_MAX)
        return fail(w, ERR_LIMIT);
    sec_begin(w, BLOCKINDEX_SYMBOLS);
    for (size_t i = 0; i < n; i++) {
        if (i && str_cmp(syms[i - 1], syms[i]) >= 0)
            return fail(w, ERR_INVALID);
        size_t from = w->out.len;
        if (buf_append_uvarint(&w->out, syms[i].len) ||
            buf_append(&w->out, syms[i].ptr, syms[i].len))
            return fail(w, ERR_NOMEM);
        took(w, from);
    }
    w->toc.s[BLOCKINDEX_SYMBOLS].count = (uint32_t)n;
    sec_end(w, BLOCKINDEX_SYMBOLS);
    w->n_symbols = (uint32_t)n;
    sec_begin(w, BLOCKINDEX_SERIES);
    if (grow((void **)&w->series_off, &w->cap_series, 1, sizeof *w->series_off))
        return fail(w, ERR_NOMEM);
    w->series_off[0] = 0;
    w->stage = ST_SERIES;
    return 0;
}

/* Label-set order over symbol refs (refs order like their strings). */
static int refs_cmp(const uint32_t *a, size_t na, const uint32_t *b, size_t nb)
{
    size_t n = na < nb ? na : nb;
    for (size_t i = 0; i < 2 * n; i++)
        if (a[i] != b[i])
            return a[i] < b[i] ? -1 : 1;
    return (na > nb) - (na < nb);
}

int blockindex_writer_series(struct blockindex_writer *w, const uint32_t *refs, size_t n_labels,
                             const struct blockindex_chunk *chunks, size_t n_chunks)
{
    ASSERT(w->stage == ST_SERIES);
    if (w->err)
        return w->err;
    uint32_t id = w->toc.s[BLOCKINDEX_SERIES].count;
    if (id >= BLOCKINDEX_SERIES_MAX)
        return fail(w, ERR_LIMIT);
    for (size_t i = 0; i < 2 * n_labels; i++)
        if (refs[i] >= w->n_symbols)
            return fail(w, ERR_INVALID);
    if (id > 0 && refs_cmp(w->tmp.refs, w->tmp.n_labels, refs, n_labels) >= 0)
        return fail(w, ERR_INVALID);
    if (grow((void **)&w->tmp.refs, &w->tmp.cap_refs, 2 * n_labels + 1, sizeof *refs) ||
        grow((void **)&w->series_off, &w->cap_series, (size_t)id + 2, sizeof *w->series_off))
        return fail(w, ERR_NOMEM);
    size_t from = w->out.len;
    int rc = blockindex_series_encode(refs, n_labels, chunks, n_chunks, &w->out);
    if (rc)
        return fail(w, rc);
    took(w, from);
    if (n_labels)
        memcpy(w->tmp.refs, refs, 2 * n_labels * sizeof *refs);
    w->tmp.n_labels = n_labels;
    w->series_off[id + 1] = w->pos - w->toc.s[BLOCKINDEX_SERIES].off;
    w->toc.s[BLOCKINDEX_SERIES].count = id + 1;
    return 0;
}

static int close_series(struct blockindex_writer *w)
{
    ASSERT(w->stage == ST_SERIES);
    sec_end(w, BLOCKINDEX_SERIES);
    sec_begin(w, BLOCKINDEX_SERIES_OFFSETS);
    uint32_t n = w->toc.s[BLOCKINDEX_SERIES].count;
    for (size_t i = 0; i <= n; i++) {
        size_t from = w->out.len;
        if (buf_append_le64(&w->out, w->series_off[i]))
            return fail(w, ERR_NOMEM);
        took(w, from);
    }
    w->toc.s[BLOCKINDEX_SERIES_OFFSETS].count = n + 1;
    sec_end(w, BLOCKINDEX_SERIES_OFFSETS);
    sec_begin(w, BLOCKINDEX_POSTINGS);
    w->stage = ST_LABELS;
    return 0;
}

static int label_args_ok(const struct blockindex_writer *w, uint32_t name, const uint32_t *values,
                         roaring_bitmap_t *const *postings, size_t n_values)
{
    if (name >= w->n_symbols || (int64_t)name <= w->last_name || n_values == 0)
        return 0;
    uint32_t n_series = w->toc.s[BLOCKINDEX_SERIES].count;
    for (size_t i = 0; i < n_values; i++) {
        if (values[i] >= w->n_symbols || (i && values[i] <= values[i - 1]))
            return 0;
        if (roaring_bitmap_is_empty(postings[i]) || roaring_bitmap_maximum(postings[i]) >= n_series)
            return 0;
    }
    return 1;
}

int blockindex_writer_label(struct blockindex_writer *w, uint32_t name, const uint32_t *values,
                            roaring_bitmap_t *const *postings, size_t n_values)
{
    if (w->err)
        return w->err;
    if (w->stage == ST_SERIES && close_series(w))
        return w->err;
    ASSERT(w->stage == ST_LABELS);
    if (!label_args_ok(w, name, values, postings, n_values) || n_values > UINT32_MAX)
        return fail(w, ERR_INVALID);
    size_t vstart = w->values.len;
    int rc = buf_append_uvarint(&w->values, n_values);
    rc |= buf_append_uvarint(&w->values, w->pos - w->toc.s[BLOCKINDEX_POSTINGS].off);
    for (size_t i = 0; i < n_values && rc == 0; i++) {
        roaring_bitmap_run_optimize(postings[i]);
        size_t from = w->out.len;
        rc = postings_encode(postings[i], &w->out);
        if (rc)
            break;
        took(w, from);
        rc = buf_append_uvarint(&w->values, i ? values[i] - values[i - 1] : values[i]);
        rc |= buf_append_uvarint(&w->values, w->out.len - from);
    }
    uint64_t vlen = w->values.len - vstart;
    uint64_t d = w->last_name < 0 ? name : name - (uint64_t)w->last_name;
    rc |= buf_append_uvarint(&w->names, d);
    rc |= buf_append_uvarint(&w->names, vlen);
    rc |= buf_append_le32(&w->names, crc32c(w->values.data + vstart, vlen));
    if (rc)
        return fail(w, ERR_NOMEM);
    w->last_name = name;
    w->toc.s[BLOCKINDEX_POSTINGS].count += (uint32_t)n_values;
    w->toc.s[BLOCKINDEX_VALUES].count += (uint32_t)n_values;
    w->toc.s[BLOCKINDEX_NAMES].count++;
    return 0;
}

static int emit_section(struct blockindex_writer *w, int s, const struct buf *b)
{
    sec_begin(w, s);
    size_t from = w->out.len;
    if (b->len && buf_append(&w->out, b->data, b->len))
        return fail(w, ERR_NOMEM);
    took(w, from);
    sec_end(w, s);
    return 0;
}

int blockindex_writer_finish(struct blockindex_writer *w)
{
    if (w->err)
        return w->err;
    if (w->stage == ST_INIT)
        blockindex_writer_symbols(w, NULL, 0);
    if (w->stage == ST_SERIES && close_series(w))
        return w->err;
    ASSERT(w->stage == ST_LABELS);
    sec_end(w, BLOCKINDEX_POSTINGS);
    if (emit_section(w, BLOCKINDEX_VALUES, &w->values) ||
        emit_section(w, BLOCKINDEX_NAMES, &w->names))
        return w->err;
    uint8_t toc[BLOCKINDEX_TOC_BYTES];
    toc_encode(&w->toc, toc);
    size_t from = w->out.len;
    if (buf_append(&w->out, toc, sizeof toc))
        return fail(w, ERR_NOMEM);
    took(w, from);
    w->stage = ST_DONE;
    return 0;
}

/* ---- whole index in memory ----------------------------------------------------------------- */

void blockindex_mem_close(struct blockindex_mem *m)
{
    free(m->syms);
    free(m->names);
    memset(m, 0, sizeof *m);
}

static int mem_fail(struct blockindex_mem *m, int rc, uint64_t off, uint64_t *bad_off)
{
    if (bad_off)
        *bad_off = off;
    blockindex_mem_close(m);
    return rc;
}

int blockindex_mem_open(struct blockindex_mem *m, const uint8_t *p, size_t n, uint64_t *bad_off)
{
    memset(m, 0, sizeof *m);
    int rc = blockindex_header_check(p, n);
    if (rc)
        return mem_fail(m, rc, 0, bad_off);
    if (n < BLOCKINDEX_HEADER_BYTES + BLOCKINDEX_TOC_BYTES)
        return mem_fail(m, ERR_TRUNCATED, n, bad_off);
    if ((rc = blockindex_toc_decode(p + n - BLOCKINDEX_TOC_BYTES, n, &m->toc)))
        return mem_fail(m, rc, n - BLOCKINDEX_TOC_BYTES, bad_off);
    m->p = p;
    m->n = n;
    for (int i = 0; i < BLOCKINDEX_N_SECTIONS; i++) {
        const struct blockindex_section_ref *s = &m->toc.s[i];
        if ((rc = blockindex_section_check(s, p + s->off)))
            return mem_fail(m, rc, s->off, bad_off);
    }
    const struct blockindex_section_ref *sy = &m->toc.s[BLOCKINDEX_SYMBOLS];
    const struct blockindex_section_ref *nm = &m->toc.s[BLOCKINDEX_NAMES];
    m->syms = malloc(((size_t)sy->count + 1) * sizeof *m->syms);
    m->names = malloc(((size_t)nm->count + 1) * sizeof *m->names);
    if (!m->syms || !m->names)
        return mem_fail(m, ERR_NOMEM, 0, bad_off);
    if ((rc = blockindex_symbols_decode(p + sy->off, sy->len, sy->count, m->syms)))
        return mem_fail(m, rc, sy->off, bad_off);
    rc = blockindex_names_decode(p + nm->off, nm->len, nm->count, sy->count,
                                 m->toc.s[BLOCKINDEX_VALUES].len, m->names);
    if (rc)
        return mem_fail(m, rc, nm->off, bad_off);
    return 0;
}

int blockindex_mem_series(const struct blockindex_mem *m, uint32_t id, struct blockindex_series *s,
                          uint64_t *bad_off)
{
    ASSERT(id < blockindex_mem_series_count(m));
    const struct blockindex_section_ref *so = &m->toc.s[BLOCKINDEX_SERIES_OFFSETS];
    const struct blockindex_section_ref *se = &m->toc.s[BLOCKINDEX_SERIES];
    uint64_t off, len;
    int rc = blockindex_series_span(m->p + so->off + 8 * (uint64_t)id, se->len, &off, &len);
    if (rc) {
        *bad_off = so->off + 8 * (uint64_t)id;
        return rc;
    }
    rc = blockindex_series_decode(m->p + se->off + off, len, m->toc.s[BLOCKINDEX_SYMBOLS].count, s);
    for (size_t i = 0; rc == 0 && i < s->n_chunks; i++)
        if (s->chunks[i].file > m->toc.chunk_files)
            rc = ERR_CORRUPT;
    if (rc)
        *bad_off = se->off + off;
    return rc;
}

int blockindex_mem_values(const struct blockindex_mem *m, uint32_t i, const uint8_t **block,
                          size_t *len, uint64_t *bad_off)
{
    ASSERT(i < m->toc.s[BLOCKINDEX_NAMES].count);
    const struct blockindex_name *nm = &m->names[i];
    uint64_t at = m->toc.s[BLOCKINDEX_VALUES].off + nm->values_off;
    *block = m->p + at;
    *len = (size_t)nm->values_len;
    if (blockindex_values_check(nm, *block)) {
        *bad_off = at;
        return ERR_CORRUPT;
    }
    return 0;
}

int blockindex_mem_postings(const struct blockindex_mem *m, const struct blockindex_value *v,
                            roaring_bitmap_t **out, uint64_t *bad_off)
{
    const struct blockindex_section_ref *ps = &m->toc.s[BLOCKINDEX_POSTINGS];
    *out = NULL;
    *bad_off = ps->off + v->postings_off;
    if (v->postings_off > ps->len || v->postings_len > ps->len - v->postings_off)
        return ERR_CORRUPT;
    size_t used = 0;
    int rc = postings_decode(m->p + *bad_off, v->postings_len, out, &used);
    if (rc == 0 && (used != v->postings_len || roaring_bitmap_is_empty(*out) ||
                    roaring_bitmap_maximum(*out) >= blockindex_mem_series_count(m)))
        rc = ERR_CORRUPT;
    if (rc) {
        if (*out)
            roaring_bitmap_free(*out);
        *out = NULL;
        return rc == ERR_TRUNCATED ? ERR_CORRUPT : rc;
    }
    return 0;
}

/* ---- full verification --------------------------------------------------------------------- */

struct verify_refs {
    uint32_t *refs;  /* every series' label refs, back to back */
    size_t *start;   /* series i: refs[start[i] .. start[i+1]) */
    size_t n_labels; /* total */
    size_t cap;
};

static int verify_series(const struct blockindex_mem *m, struct verify_refs *v, uint64_t *bad_off)
{
    const struct blockindex_section_ref *so = &m->toc.s[BLOCKINDEX_SERIES_OFFSETS];
    uint32_t n = blockindex_mem_series_count(m);
    if (le64_get(m->p + so->off) != 0 ||
        le64_get(m->p + so->off + 8 * (uint64_t)n) != m->toc.s[BLOCKINDEX_SERIES].len) {
        *bad_off = so->off;
        return ERR_CORRUPT;
    }
    v->start = malloc(((size_t)n + 1) * sizeof *v->start);
    if (!v->start)
        return ERR_NOMEM;
    struct blockindex_series s;
    blockindex_series_init(&s);
    int rc = 0;
    v->start[0] = 0;
    for (uint32_t id = 0; id < n && rc == 0; id++) {
        if ((rc = blockindex_mem_series(m, id, &s, bad_off)))
            break;
        if (id && refs_cmp(v->refs + v->start[id - 1], (v->start[id] - v->start[id - 1]) / 2,
                           s.refs, s.n_labels) >= 0) {
            rc = ERR_CORRUPT;
            *bad_off = m->toc.s[BLOCKINDEX_SERIES].off + le64_get(m->p + so->off + 8 * id);
            break;
        }
        if (grow((void **)&v->refs, &v->cap, v->start[id] + 2 * s.n_labels + 1, sizeof *v->refs)) {
            rc = ERR_NOMEM;
            break;
        }
        memcpy(v->refs + v->start[id], s.refs, 2 * s.n_labels * sizeof *s.refs);
        v->start[id + 1] = v->start[id] + 2 * s.n_labels;
        v->n_labels += s.n_labels;
    }
    blockindex_series_deinit(&s);
    return rc;
}

static bool series_has(const struct verify_refs *v, uint32_t id, uint32_t name, uint32_t value)
{
    size_t lo = v->start[id] / 2, hi = v->start[id + 1] / 2;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        uint32_t nm = v->refs[2 * mid];
        if (nm == name)
            return v->refs[2 * mid + 1] == value;
        if (nm < name)
            lo = mid + 1;
        else
            hi = mid;
    }
    return false;
}

/* Every id of the postings of (name, value) carries that label. */
static int verify_one_postings(const struct blockindex_mem *m, const struct verify_refs *v,
                               uint32_t name, const struct blockindex_value *val,
                               uint64_t *cardinality, uint64_t *bad_off)
{
    roaring_bitmap_t *bm;
    int rc = blockindex_mem_postings(m, val, &bm, bad_off);
    if (rc)
        return rc;
    roaring_uint32_iterator_t it;
    roaring_init_iterator(bm, &it);
    for (; it.has_value && rc == 0; roaring_advance_uint32_iterator(&it))
        if (!series_has(v, it.current_value, name, val->value))
            rc = ERR_CORRUPT;
    *cardinality += roaring_bitmap_get_cardinality(bm);
    roaring_bitmap_free(bm);
    return rc;
}

static int verify_labels(const struct blockindex_mem *m, const struct verify_refs *v,
                         uint64_t *bad_off)
{
    uint64_t expect_off = 0, card = 0, n_values = 0;
    uint32_t n_syms = m->toc.s[BLOCKINDEX_SYMBOLS].count;
    for (uint32_t i = 0; i < m->toc.s[BLOCKINDEX_NAMES].count; i++) {
        const uint8_t *block;
        size_t len;
        int rc = blockindex_mem_values(m, i, &block, &len, bad_off);
        struct blockindex_values_iter it;
        if (rc == 0)
            rc = blockindex_values_iter_init(&it, block, len, n_syms, NULL);
        struct blockindex_value val;
        while (rc == 0 && (rc = blockindex_values_iter_next(&it, &val)) == 1) {
            rc = val.postings_off == expect_off ? 0 : ERR_CORRUPT;
            if (rc == 0)
                rc = verify_one_postings(m, v, m->names[i].name, &val, &card, bad_off);
            expect_off = val.postings_off + val.postings_len;
            n_values++;
        }
        if (rc) {
            if (rc != ERR_NOMEM && *bad_off < m->toc.s[BLOCKINDEX_POSTINGS].off)
                *bad_off = m->toc.s[BLOCKINDEX_VALUES].off + m->names[i].values_off;
            return rc == ERR_TRUNCATED ? ERR_CORRUPT : rc;
        }
    }
    *bad_off = m->toc.s[BLOCKINDEX_POSTINGS].off;
    if (expect_off != m->toc.s[BLOCKINDEX_POSTINGS].len ||
        n_values != m->toc.s[BLOCKINDEX_VALUES].count || card != v->n_labels)
        return ERR_CORRUPT;
    return 0;
}

int blockindex_verify(const uint8_t *p, size_t n, uint64_t *bad_off)
{
    struct blockindex_mem m;
    uint64_t bad = 0;
    int rc = blockindex_mem_open(&m, p, n, &bad);
    if (rc == 0) {
        struct verify_refs v = {0};
        rc = verify_series(&m, &v, &bad);
        if (rc == 0)
            rc = verify_labels(&m, &v, &bad);
        free(v.refs);
        free(v.start);
        blockindex_mem_close(&m);
    }
    if (bad_off)
        *bad_off = bad;
    return rc == ERR_TRUNCATED && bad != 0 ? ERR_CORRUPT : rc;
}

/* ---- chunk files --------------------------------------------------------------------------- */

void blockindex_chunks_header_encode(uint8_t out[BLOCKINDEX_CHUNKS_HEADER_BYTES])
{
    le32_put(out, BLOCKINDEX_CHUNKS_MAGIC);
    le32_put(out + 4, BLOCKINDEX_CHUNKS_VERSION);
}

int blockindex_chunks_header_check(const uint8_t *p, size_t n)
{
    if (n < BLOCKINDEX_CHUNKS_HEADER_BYTES)
        return ERR_TRUNCATED;
    if (le32_get(p) != BLOCKINDEX_CHUNKS_MAGIC)
        return ERR_CORRUPT;
    if (p[4] != BLOCKINDEX_CHUNKS_VERSION)
        return p[4] == 0 ? ERR_CORRUPT : ERR_UNSUPPORTED;
    return (p[5] | p[6] | p[7]) ? ERR_CORRUPT : 0;
}

int blockindex_chunk_encode(uint8_t encoding, const uint8_t *data, uint32_t len, struct buf *out)
{
    size_t start = out->len;
    if (buf_reserve(out, (size_t)len + BLOCKINDEX_CHUNK_OVERHEAD))
        return ERR_NOMEM;
    buf_append_le32(out, len);
    buf_append_u8(out, encoding);
    buf_append(out, data, len);
    buf_append_le32(out, crc32c(out->data + start, (size_t)len + BLOCKINDEX_CHUNK_HEAD_BYTES));
    return 0;
}

int blockindex_chunk_check(const uint8_t *p, size_t n, uint32_t len, uint8_t encoding,
                           const uint8_t **data)
{
    size_t body = (size_t)len + BLOCKINDEX_CHUNK_HEAD_BYTES;
    if (n < body + 4)
        return ERR_TRUNCATED;
    if (le32_get(p) != len || p[4] != encoding || crc32c(p, body) != le32_get(p + body))
        return ERR_CORRUPT;
    *data = p + BLOCKINDEX_CHUNK_HEAD_BYTES;
    return 0;
}

int blockindex_chunk_next(const uint8_t *p, size_t n, uint8_t *encoding, const uint8_t **data,
                          uint32_t *len, size_t *used)
{
    if (n < BLOCKINDEX_CHUNK_OVERHEAD)
        return ERR_TRUNCATED;
    uint32_t l = le32_get(p);
    if (l == 0 || p[4] < 1 || p[4] > 3)
        return ERR_CORRUPT;
    if (l > n - BLOCKINDEX_CHUNK_OVERHEAD)
        return ERR_TRUNCATED;
    int rc = blockindex_chunk_check(p, n, l, p[4], data);
    if (rc)
        return rc;
    *encoding = p[4];
    *len = l;
    *used = (size_t)l + BLOCKINDEX_CHUNK_OVERHEAD;
    return 0;
}

/* ---- ULIDs --------------------------------------------------------------------------------- */

static const char crockford[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

void blockindex_ulid_format(const struct blockindex_ulid *u, char out[BLOCKINDEX_ULID_CHARS + 1])
{
    unsigned __int128 v = 0;
    for (int i = 0; i < 16; i++)
        v = v << 8 | u->b[i];
    for (int i = BLOCKINDEX_ULID_CHARS - 1; i >= 0; i--) {
        out[i] = crockford[(unsigned)(v & 31)];
        v >>= 5;
    }
    out[BLOCKINDEX_ULID_CHARS] = 0;
}

static int crockford_digit(char c)
{
    const char *p = c ? strchr(crockford, c) : NULL;
    return p ? (int)(p - crockford) : -1;
}

int blockindex_ulid_parse(const char *s, size_t n, struct blockindex_ulid *out)
{
    if (n != BLOCKINDEX_ULID_CHARS)
        return ERR_INVALID;
    unsigned __int128 v = 0;
    for (size_t i = 0; i < n; i++) {
        int d = crockford_digit(s[i]);
        if (d < 0 || (i == 0 && d > 7))
            return ERR_INVALID;
        v = v << 5 | (unsigned)d;
    }
    for (int i = 15; i >= 0; i--) {
        out->b[i] = (uint8_t)v;
        v >>= 8;
    }
    return 0;
}

int blockindex_ulid_cmp(const struct blockindex_ulid *a, const struct blockindex_ulid *b)
{
    return memcmp(a->b, b->b, sizeof a->b);
}

uint64_t blockindex_ulid_time_ms(const struct blockindex_ulid *u)
{
    uint64_t t = 0;
    for (int i = 0; i < 6; i++)
        t = t << 8 | u->b[i];
    return t;
}

/* ---- meta.json ----------------------------------------------------------------------------- */

void blockindex_meta_init(struct blockindex_meta *m)
{
    memset(m, 0, sizeof *m);
    m->level = 1;
    m->version = BLOCKINDEX_META_VERSION;
}

void blockindex_meta_deinit(struct blockindex_meta *m)
{
    free(m->sources);
    m->sources = NULL;
    m->n_sources = 0;
}

static int ulid_qcmp(const void *a, const void *b)
{
    return blockindex_ulid_cmp(a, b);
}

int blockindex_meta_set_sources(struct blockindex_meta *m, const struct blockindex_ulid *src,
                                size_t n)
{
    struct blockindex_ulid *s = malloc((n + 1) * sizeof *s);
    if (!s)
        return ERR_NOMEM;
    if (n)
        memcpy(s, src, n * sizeof *s);
    qsort(s, n, sizeof *s, ulid_qcmp);
    size_t u = 0;
    for (size_t i = 0; i < n; i++)
        if (u == 0 || blockindex_ulid_cmp(&s[u - 1], &s[i]) != 0)
            s[u++] = s[i];
    free(m->sources);
    m->sources = s;
    m->n_sources = u;
    return 0;
}

int blockindex_meta_encode(const struct blockindex_meta *m, struct buf *out)
{
    char id[BLOCKINDEX_ULID_CHARS + 1];
    blockindex_ulid_format(&m->ulid, id);
    int rc = buf_printf(out,
                        "{\n  \"ulid\": \"%s\",\n  \"minTime\": %lld,\n  \"maxTime\": %lld,\n"
                        "  \"stats\": {\n    \"numSamples\": %llu,\n    \"numSeries\": %llu,\n"
                        "    \"numChunks\": %llu\n  },\n  \"compaction\": {\n    \"level\": %u,\n"
                        "    \"sources\": [",
                        id, (long long)m->min_time_ms, (long long)m->max_time_ms,
                        (unsigned long long)m->num_samples, (unsigned long long)m->num_series,
                        (unsigned long long)m->num_chunks, m->level);
    for (size_t i = 0; i < m->n_sources && rc == 0; i++) {
        blockindex_ulid_format(&m->sources[i], id);
        rc = buf_printf(out, "%s\n      \"%s\"", i ? "," : "", id);
    }
    if (rc == 0)
        rc = buf_printf(out, "%s]\n  },\n  \"version\": %u\n}\n", m->n_sources ? "\n    " : "",
                        m->version);
    return rc ? ERR_NOMEM : 0;
}

/* A strict little JSON reader: just enough for meta.json, bounded nesting when skipping. */
struct jp {
    const char *p, *end;
};

#define JP_DEPTH_MAX 32

static void jp_ws(struct jp *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\n' || *j->p == '\r' || *j->p == '\t'))
        j->p++;
}

static int jp_char(struct jp *j, char c)
{
    jp_ws(j);
    if (j->p >= j->end || *j->p != c)
        return ERR_CORRUPT;
    j->p++;
    return 0;
}

static bool jp_peek(struct jp *j, char c)
{
    jp_ws(j);
    return j->p < j->end && *j->p == c;
}

/* A string token; *out is its raw contents (escapes left as they are). */
static int jp_string(struct jp *j, struct str *out)
{
    if (jp_char(j, '"'))
        return ERR_CORRUPT;
    const char *start = j->p;
    while (j->p < j->end && *j->p != '"') {
        unsigned char c = (unsigned char)*j->p++;
        if (c < 0x20)
            return ERR_CORRUPT;
        if (c != '\\')
            continue;
        if (j->p >= j->end || !strchr("\"\\/bfnrtu", *j->p))
            return ERR_CORRUPT;
        if (*j->p++ != 'u')
            continue;
        for (int i = 0; i < 4; i++, j->p++)
            if (j->p >= j->end || !strchr("0123456789abcdefABCDEF", *j->p))
                return ERR_CORRUPT;
    }
    if (j->p >= j->end)
        return ERR_CORRUPT;
    *out = (struct str){start, (size_t)(j->p - start)};
    j->p++;
    return 0;
}

static int jp_skip(struct jp *j, int depth);

static int jp_skip_items(struct jp *j, char close, bool keys, int depth)
{
    if (jp_peek(j, close)) {
        j->p++;
        return 0;
    }
    for (;;) {
        struct str k;
        if (keys && (jp_string(j, &k) || jp_char(j, ':')))
            return ERR_CORRUPT;
        if (jp_skip(j, depth + 1))
            return ERR_CORRUPT;
        if (jp_peek(j, ',')) {
            j->p++;
            continue;
        }
        return jp_char(j, close);
    }
}

static int jp_skip(struct jp *j, int depth)
{
    if (depth > JP_DEPTH_MAX)
        return ERR_CORRUPT;
    jp_ws(j);
    if (j->p >= j->end)
        return ERR_CORRUPT;
    struct str s;
    switch (*j->p) {
    case '"': return jp_string(j, &s);
    case '{': j->p++; return jp_skip_items(j, '}', true, depth);
    case '[': j->p++; return jp_skip_items(j, ']', false, depth);
    default: break;
    }
    const char *start = j->p;
    while (j->p < j->end && strchr("+-.0123456789eEtruefalsn", *j->p) && *j->p)
        j->p++;
    size_t n = (size_t)(j->p - start);
    if (n == 0)
        return ERR_CORRUPT;
    if ((*start >= 'a' && *start <= 'z') &&
        !((n == 4 && !memcmp(start, "true", 4)) || (n == 5 && !memcmp(start, "false", 5)) ||
          (n == 4 && !memcmp(start, "null", 4))))
        return ERR_CORRUPT;
    return 0;
}

/* An integer number token within [lo, hi]. */
static int jp_int(struct jp *j, int64_t lo, uint64_t hi, int64_t *s_out, uint64_t *u_out)
{
    jp_ws(j);
    bool neg = j->p < j->end && *j->p == '-';
    if (neg)
        j->p++;
    uint64_t v = 0;
    const char *start = j->p;
    while (j->p < j->end && *j->p >= '0' && *j->p <= '9') {
        unsigned d = (unsigned)(*j->p++ - '0');
        if (v > (UINT64_MAX - d) / 10)
            return ERR_CORRUPT;
        v = v * 10 + d;
    }
    if (j->p == start || (j->p < j->end && strchr(".eE", *j->p) && *j->p))
        return ERR_CORRUPT;
    if (neg ? (v > (uint64_t)INT64_MAX + 1 || (lo >= 0 && v > 0) ||
               (lo < 0 && v > (uint64_t)(-(lo + 1)) + 1))
            : v > hi)
        return ERR_CORRUPT;
    if (s_out)
        *s_out = neg ? (int64_t)(0 - v) : (int64_t)v;
    if (u_out)
        *u_out = v;
    return 0;
}

/* Member iteration: returns 1 with the key (its ':' consumed), 0 at the closing brace. */
static int jp_member(struct jp *j, bool *first, struct str *key)
{
    if (jp_peek(j, '}')) {
        j->p++;
        return 0;
    }
    if (!*first && jp_char(j, ','))
        return ERR_CORRUPT;
    *first = false;
    if (jp_string(j, key) || jp_char(j, ':'))
        return ERR_CORRUPT;
    return 1;
}

enum {
    F_ULID = 1,
    F_MINT = 2,
    F_MAXT = 4,
    F_SAMPLES = 8,
    F_SERIES = 16,
    F_CHUNKS = 32,
    F_LEVEL = 64,
    F_SOURCES = 128,
    F_VERSION = 256,
    F_ALL = 511,
};

static int jp_ulid(struct jp *j, struct blockindex_ulid *u)
{
    struct str s;
    if (jp_string(j, &s) || blockindex_ulid_parse(s.ptr, s.len, u))
        return ERR_CORRUPT;
    return 0;
}

static int meta_stats(struct jp *j, struct blockindex_meta *m, unsigned *seen)
{
    if (jp_char(j, '{'))
        return ERR_CORRUPT;
    bool first = true;
    struct str k;
    int r;
    while ((r = jp_member(j, &first, &k)) == 1) {
        int rc;
        if (str_eq_cstr(k, "numSamples"))
            rc = jp_int(j, 0, UINT64_MAX, NULL, &m->num_samples), *seen |= F_SAMPLES;
        else if (str_eq_cstr(k, "numSeries"))
            rc = jp_int(j, 0, UINT64_MAX, NULL, &m->num_series), *seen |= F_SERIES;
        else if (str_eq_cstr(k, "numChunks"))
            rc = jp_int(j, 0, UINT64_MAX, NULL, &m->num_chunks), *seen |= F_CHUNKS;
        else
            rc = jp_skip(j, 2);
        if (rc)
            return rc;
    }
    return r;
}

static int meta_sources(struct jp *j, struct blockindex_meta *m)
{
    size_t cap = 0;
    m->n_sources = 0;
    if (jp_char(j, '['))
        return ERR_CORRUPT;
    if (jp_peek(j, ']')) {
        j->p++;
        return 0;
    }
    for (;;) {
        if (m->n_sources >= BLOCKINDEX_META_SOURCES_MAX)
            return ERR_CORRUPT;
        if (grow((void **)&m->sources, &cap, m->n_sources + 1, sizeof *m->sources))
            return ERR_NOMEM;
        if (jp_ulid(j, &m->sources[m->n_sources]))
            return ERR_CORRUPT;
        if (m->n_sources &&
            blockindex_ulid_cmp(&m->sources[m->n_sources - 1], &m->sources[m->n_sources]) >= 0)
            return ERR_CORRUPT;
        m->n_sources++;
        if (!jp_peek(j, ','))
            return jp_char(j, ']');
        j->p++;
    }
}

static int meta_compaction(struct jp *j, struct blockindex_meta *m, unsigned *seen)
{
    if (jp_char(j, '{'))
        return ERR_CORRUPT;
    bool first = true;
    struct str k;
    int r;
    while ((r = jp_member(j, &first, &k)) == 1) {
        int rc;
        uint64_t u;
        if (str_eq_cstr(k, "level")) {
            rc = jp_int(j, 0, UINT32_MAX, NULL, &u);
            m->level = (uint32_t)u;
            *seen |= F_LEVEL;
        } else if (str_eq_cstr(k, "sources")) {
            rc = (*seen & F_SOURCES) ? ERR_CORRUPT : meta_sources(j, m);
            *seen |= F_SOURCES;
        } else {
            rc = jp_skip(j, 2);
        }
        if (rc)
            return rc;
    }
    return r;
}

static int meta_member(struct jp *j, struct str k, struct blockindex_meta *m, unsigned *seen)
{
    uint64_t u;
    if (str_eq_cstr(k, "ulid"))
        return *seen |= F_ULID, jp_ulid(j, &m->ulid);
    if (str_eq_cstr(k, "minTime"))
        return *seen |= F_MINT, jp_int(j, INT64_MIN, INT64_MAX, &m->min_time_ms, NULL);
    if (str_eq_cstr(k, "maxTime"))
        return *seen |= F_MAXT, jp_int(j, INT64_MIN, INT64_MAX, &m->max_time_ms, NULL);
    if (str_eq_cstr(k, "stats"))
        return meta_stats(j, m, seen);
    if (str_eq_cstr(k, "compaction"))
        return meta_compaction(j, m, seen);
    if (str_eq_cstr(k, "version")) {
        *seen |= F_VERSION;
        int rc = jp_int(j, 0, UINT32_MAX, NULL, &u);
        m->version = (uint32_t)u;
        return rc;
    }
    return jp_skip(j, 1);
}

int blockindex_meta_decode(const char *p, size_t n, struct blockindex_meta *m)
{
    blockindex_meta_init(m);
    struct jp j = {p, p + n};
    unsigned seen = 0;
    bool first = true;
    struct str k;
    int r = n > BLOCKINDEX_META_BYTES_MAX ? ERR_CORRUPT : jp_char(&j, '{');
    while (r == 0 && (r = jp_member(&j, &first, &k)) == 1)
        r = meta_member(&j, k, m, &seen);
    jp_ws(&j);
    if (r == 0 && (j.p != j.end || seen != F_ALL))
        r = ERR_CORRUPT;
    if (r == 0 && m->version != BLOCKINDEX_META_VERSION)
        r = ERR_UNSUPPORTED;
    if (r == 0 && (m->min_time_ms > m->max_time_ms || m->level == 0))
        r = ERR_CORRUPT;
    if (r) {
        blockindex_meta_deinit(m);
        blockindex_meta_init(m);
    }
    return r == ERR_NOMEM || r == ERR_UNSUPPORTED ? r : r ? ERR_CORRUPT : 0;
}

bool blockindex_meta_covers(const struct blockindex_meta *outer,
                            const struct blockindex_meta *inner)
{
    size_t i = 0;
    for (size_t k = 0; k < inner->n_sources; k++) {
        while (i < outer->n_sources &&
               blockindex_ulid_cmp(&outer->sources[i], &inner->sources[k]) < 0)
            i++;
        if (i == outer->n_sources || blockindex_ulid_cmp(&outer->sources[i], &inner->sources[k]))
            return false;
    }
    return true;
}
