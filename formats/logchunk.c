/* Log chunk codec: writer (head block, sort + cut into columnar snappy blocks, block index), reader
 * (header/index/footer validation) and iterator (forward/backward, seek, block skipping, checked
 * block decoding). Byte layout: docs/formats/logchunk.md. */
#include "formats/logchunk.h"

#include <snappy-c.h>
#include <stdlib.h>
#include <string.h>

#include "base/assert.h"
#include "base/crc32c.h"
#include "base/error.h"
#include "base/hash.h"

/* Per-entry and per-pair overheads: a realistic estimate (drives the cut) and a hard upper bound of
 * the encoded bytes (ts ≤ 10, length ≤ 5, pair count ≤ 5, per pair 2 ids ≤ 10 + 2 symbol lengths ≤
 * 10). */
#define EST_ENTRY   6
#define EST_PAIR    2
#define BOUND_ENTRY 32
#define BOUND_PAIR  20
#define BOUND_BLOCK 16
/* Snappy emits at most 64 bytes per 3 input bytes (a 2-byte-offset copy); anything claiming more is
 * corrupt, which bounds what a block may make us allocate. */
#define SNAPPY_MAX_RATIO 22
/* Smallest body entry: ts (1) + line length (1) + pair count (1); plus the two counts in front. */
#define BODY_MIN_ENTRY 3
#define BODY_MIN_FIXED 2

enum { IT_BEFORE = 0, IT_VALID, IT_END, IT_ERR };

static int grow(void *pp, size_t *cap, size_t need, size_t elem)
{
    void **p = (void **)pp;
    if (need <= *cap)
        return 0;
    size_t n = *cap ? *cap : 16;
    while (n < need)
        n *= 2;
    if (n > SIZE_MAX / elem)
        return ERR_NOMEM;
    void *q = realloc(*p, n * elem);
    if (!q)
        return ERR_NOMEM;
    *p = q;
    *cap = n;
    return 0;
}

static int key_cmp(const void *a, const void *b)
{
    const struct logchunk_sort_key *x = a, *y = b;
    if (x->ts != y->ts)
        return x->ts < y->ts ? -1 : 1;
    return (x->idx > y->idx) - (x->idx < y->idx); /* append order: the sort is stable */
}

/* Fills keys[0..n) with the head's entries in (ts, append order) order. */
static int head_sort(const struct logchunk_writer *w, struct logchunk_sort_key **keys, size_t *cap)
{
    int rc = grow(keys, cap, w->head_n, sizeof **keys);
    if (rc)
        return rc;
    for (uint32_t i = 0; i < w->head_n; i++)
        (*keys)[i] = (struct logchunk_sort_key){w->head[i].ts, i};
    if (!w->head_sorted)
        qsort(*keys, w->head_n, sizeof **keys, key_cmp);
    return 0;
}

static const char *head_base(const struct logchunk_writer *w)
{
    return w->head_bytes.data ? (const char *)w->head_bytes.data : "";
}

/* ---------------------------------------------------------------------------------------------- */
/* Writer                                                                                         */

void logchunk_writer_init(struct logchunk_writer *w, const struct logchunk_writer_opts *opts)
{
    memset(w, 0, sizeof *w);
    w->block_target_bytes = LOGCHUNK_BLOCK_TARGET_DEFAULT;
    if (opts && opts->block_target_bytes)
        w->block_target_bytes = opts->block_target_bytes;
    if (opts)
        w->store_uncompressed = opts->store_uncompressed;
    ASSERT(w->block_target_bytes <= LOGCHUNK_BYTES_MAX);
    w->cut_maxt = INT64_MIN;
    w->head_mint = INT64_MAX;
    w->head_maxt = INT64_MIN;
    w->head_sorted = true;
}

void logchunk_writer_deinit(struct logchunk_writer *w)
{
    buf_deinit(&w->chunk);
    buf_deinit(&w->head_bytes);
    buf_deinit(&w->body);
    buf_deinit(&w->pairs);
    free(w->index);
    free(w->head);
    free(w->head_md);
    free(w->keys);
    free(w->sym_slots);
    free(w->syms);
    memset(w, 0, sizeof *w);
}

static void head_clear(struct logchunk_writer *w)
{
    buf_reset(&w->head_bytes);
    w->head_n = 0;
    w->head_md_n = 0;
    w->head_est = 0;
    w->head_bound = 0;
    w->head_mint = INT64_MAX;
    w->head_maxt = INT64_MIN;
    w->head_sorted = true;
}

void logchunk_writer_reset(struct logchunk_writer *w)
{
    buf_reset(&w->chunk);
    w->n_blocks = 0;
    w->cut_maxt = INT64_MIN;
    w->cut_entries = 0;
    w->cut_uncompressed = 0;
    w->line_bytes = 0;
    head_clear(w);
    w->gen++;
}

/* Sums the metadata string bytes; ERR_LIMIT when any of it is absurd for one chunk. */
static int md_size(const struct label *md, size_t md_count, size_t *out)
{
    size_t n = 0;
    if (md_count > LOGCHUNK_BYTES_MAX / 2)
        return ERR_LIMIT;
    for (size_t i = 0; i < md_count; i++) {
        if (md[i].name.len > LOGCHUNK_BYTES_MAX || md[i].value.len > LOGCHUNK_BYTES_MAX)
            return ERR_LIMIT;
        n += md[i].name.len + md[i].value.len;
        if (n > LOGCHUNK_BYTES_MAX)
            return ERR_LIMIT;
    }
    *out = n;
    return 0;
}

static uint32_t head_put(struct logchunk_writer *w, struct str s)
{
    uint32_t off = (uint32_t)w->head_bytes.len;
    if (s.len) {
        memcpy(w->head_bytes.data + w->head_bytes.len, s.ptr, s.len);
        w->head_bytes.len += s.len;
    }
    return off;
}

static int head_reserve(struct logchunk_writer *w, size_t md_count, size_t bytes)
{
    int rc = grow(&w->head, &w->head_cap, (size_t)w->head_n + 1, sizeof *w->head);
    if (!rc)
        rc =
            grow(&w->head_md, &w->head_md_cap, (size_t)w->head_md_n + md_count, sizeof *w->head_md);
    if (!rc)
        rc = buf_reserve(&w->head_bytes, bytes);
    return rc;
}

int logchunk_writer_append(struct logchunk_writer *w, int64_t ts_ns, struct str line,
                           const struct label *md, size_t md_count)
{
    ASSERT(line.len == 0 || line.ptr);
    ASSERT(md_count == 0 || md);
    int rc;
    if (w->head_n && w->head_est >= w->block_target_bytes && (rc = logchunk_writer_cut(w)))
        return rc; /* an earlier cut failed for memory; retry before growing further */
    if (ts_ns < w->cut_maxt)
        return ERR_ORDER;
    size_t md_bytes;
    if (line.len > LOGCHUNK_BYTES_MAX || (rc = md_size(md, md_count, &md_bytes)))
        return ERR_LIMIT;
    size_t bound = line.len + md_bytes + BOUND_ENTRY + BOUND_PAIR * md_count;
    uint64_t total = (uint64_t)LOGCHUNK_HEADER_BYTES + w->chunk.len + w->head_bound + bound +
                     BOUND_BLOCK + (uint64_t)(w->n_blocks + 1) * LOGCHUNK_INDEX_ENTRY_BYTES +
                     LOGCHUNK_FOOTER_BYTES;
    if (total > LOGCHUNK_BYTES_MAX)
        return ERR_LIMIT;
    if ((rc = head_reserve(w, md_count, line.len + md_bytes)))
        return rc;

    struct logchunk_head_ent *e = &w->head[w->head_n];
    e->ts = ts_ns;
    e->line_off = head_put(w, line);
    e->line_len = (uint32_t)line.len;
    e->md_first = w->head_md_n;
    e->md_count = (uint32_t)md_count;
    for (size_t i = 0; i < md_count; i++) {
        struct logchunk_head_md *m = &w->head_md[w->head_md_n++];
        m->name_len = (uint32_t)md[i].name.len;
        m->name_off = head_put(w, md[i].name);
        m->value_len = (uint32_t)md[i].value.len;
        m->value_off = head_put(w, md[i].value);
    }
    if (w->head_n && ts_ns < w->head[w->head_n - 1].ts)
        w->head_sorted = false;
    w->head_n++;
    w->head_est += line.len + md_bytes + EST_ENTRY + EST_PAIR * md_count;
    w->head_bound += bound;
    w->head_mint = ts_ns < w->head_mint ? ts_ns : w->head_mint;
    w->head_maxt = ts_ns > w->head_maxt ? ts_ns : w->head_maxt;
    w->line_bytes += line.len;
    w->gen++;
    if (w->head_est >= w->block_target_bytes)
        (void)logchunk_writer_cut(w); /* on ERR_NOMEM the entry stays in the head; retried later */
    return 0;
}

/* Symbol table of one block: open addressing over ids into w->syms. */
static int symtab_prepare(struct logchunk_writer *w, size_t max_syms, size_t *mask)
{
    size_t cap = 16;
    while (cap < 2 * max_syms)
        cap *= 2;
    int rc = grow(&w->sym_slots, &w->sym_slots_cap, cap, sizeof *w->sym_slots);
    if (!rc)
        rc = grow(&w->syms, &w->syms_cap, max_syms, sizeof *w->syms);
    if (rc)
        return rc;
    memset(w->sym_slots, 0, cap * sizeof *w->sym_slots); /* only the part this block uses */
    w->syms_n = 0;
    *mask = cap - 1;
    return 0;
}

static uint32_t symtab_intern(struct logchunk_writer *w, struct str s, size_t mask)
{
    size_t i = hash_bytes(s.ptr, s.len) & mask;
    uint32_t slot;
    while ((slot = w->sym_slots[i])) {
        if (str_eq(w->syms[slot - 1], s))
            return slot - 1;
        i = (i + 1) & mask;
    }
    w->syms[w->syms_n] = s;
    w->sym_slots[i] = ++w->syms_n;
    return w->syms_n - 1;
}

/* Interns every metadata string in sorted entry order, writing the pair column into w->pairs. */
static int encode_pairs(struct logchunk_writer *w)
{
    buf_reset(&w->pairs);
    w->syms_n = 0;
    if (!w->head_md_n)
        return 0;
    size_t mask;
    int rc = symtab_prepare(w, 2 * (size_t)w->head_md_n, &mask);
    if (!rc)
        rc = buf_reserve(&w->pairs, 2 * VARINT_MAX_LEN * (size_t)w->head_md_n);
    if (rc)
        return rc;
    const char *base = head_base(w);
    uint8_t *o = w->pairs.data;
    for (uint32_t i = 0; i < w->head_n; i++) {
        const struct logchunk_head_ent *e = &w->head[w->keys[i].idx];
        for (uint32_t j = 0; j < e->md_count; j++) {
            const struct logchunk_head_md *m = &w->head_md[e->md_first + j];
            struct str name = {base + m->name_off, m->name_len};
            struct str value = {base + m->value_off, m->value_len};
            o += varint_put(o, symtab_intern(w, name, mask));
            o += varint_put(o, symtab_intern(w, value, mask));
        }
    }
    w->pairs.len = (size_t)(o - w->pairs.data);
    return 0;
}

/* Writes the uncompressed columnar body of the (sorted) head into w->body. */
static int encode_body(struct logchunk_writer *w)
{
    int rc = encode_pairs(w);
    if (!rc) {
        buf_reset(&w->body);
        rc = buf_reserve(&w->body, w->head_bound + BOUND_BLOCK);
    }
    if (rc)
        return rc;
    const char *base = head_base(w);
    const struct logchunk_sort_key *k = w->keys;
    uint32_t n = w->head_n;
    uint8_t *o = w->body.data;
    o += varint_put(o, n);
    o += svarint_put(o, k[0].ts);
    for (uint32_t i = 1; i < n; i++)
        o += varint_put(o, (uint64_t)k[i].ts - (uint64_t)k[i - 1].ts);
    for (uint32_t i = 0; i < n; i++)
        o += varint_put(o, w->head[k[i].idx].line_len);
    o += varint_put(o, w->syms_n);
    for (uint32_t s = 0; s < w->syms_n; s++)
        o += varint_put(o, w->syms[s].len);
    for (uint32_t s = 0; s < w->syms_n; s++) {
        if (w->syms[s].len)
            memcpy(o, w->syms[s].ptr, w->syms[s].len);
        o += w->syms[s].len;
    }
    for (uint32_t i = 0; i < n; i++)
        o += varint_put(o, w->head[k[i].idx].md_count);
    if (w->pairs.len)
        memcpy(o, w->pairs.data, w->pairs.len);
    o += w->pairs.len;
    for (uint32_t i = 0; i < n; i++) {
        const struct logchunk_head_ent *e = &w->head[k[i].idx];
        if (e->line_len)
            memcpy(o, base + e->line_off, e->line_len);
        o += e->line_len;
    }
    w->body.len = (size_t)(o - w->body.data);
    ASSERT(w->body.len <= w->head_bound + BOUND_BLOCK);
    return 0;
}

static int chunk_start(struct logchunk_writer *w)
{
    if (w->chunk.len)
        return 0;
    uint8_t h[LOGCHUNK_HEADER_BYTES] = {0};
    le32_put(h, LOGCHUNK_MAGIC);
    h[4] = LOGCHUNK_VERSION;
    return buf_append(&w->chunk, h, sizeof h);
}

/* Compresses w->body onto the chunk and records its index entry (room reserved by the caller). */
static int store_block(struct logchunk_writer *w)
{
    size_t ulen = w->body.len;
    int rc = buf_reserve(&w->chunk, snappy_max_compressed_length(ulen));
    if (rc)
        return rc;
    uint8_t *dst = w->chunk.data + w->chunk.len;
    struct logchunk_block_info *bi = &w->index[w->n_blocks];
    bi->codec = LOGCHUNK_CODEC_NONE;
    bi->size_stored = (uint32_t)ulen;
    size_t clen = snappy_max_compressed_length(ulen);
    if (!w->store_uncompressed &&
        snappy_compress((const char *)w->body.data, ulen, (char *)dst, &clen) == SNAPPY_OK &&
        clen < ulen) {
        bi->codec = LOGCHUNK_CODEC_SNAPPY;
        bi->size_stored = (uint32_t)clen;
    } else {
        memcpy(dst, w->body.data, ulen);
    }
    bi->mint = w->keys[0].ts;
    bi->maxt = w->keys[w->head_n - 1].ts;
    bi->offset = (uint32_t)w->chunk.len;
    bi->size_uncompressed = (uint32_t)ulen;
    bi->entries = w->head_n;
    bi->crc = crc32c(dst, bi->size_stored);
    w->chunk.len += bi->size_stored;
    w->n_blocks++;
    return 0;
}

int logchunk_writer_cut(struct logchunk_writer *w)
{
    if (!w->head_n)
        return 0;
    size_t chunk_len = w->chunk.len;
    int rc = chunk_start(w);
    if (!rc)
        rc = grow(&w->index, &w->cap_blocks, (size_t)w->n_blocks + 1, sizeof *w->index);
    if (!rc)
        rc = head_sort(w, &w->keys, &w->keys_cap);
    if (!rc)
        rc = encode_body(w);
    if (!rc)
        rc = store_block(w);
    if (rc) {
        w->chunk.len = chunk_len;
        return rc;
    }
    const struct logchunk_block_info *bi = &w->index[w->n_blocks - 1];
    w->cut_maxt = bi->maxt;
    w->cut_entries += bi->entries;
    w->cut_uncompressed += bi->size_uncompressed;
    head_clear(w);
    w->gen++;
    return 0;
}

static void index_entry_put(uint8_t *p, const struct logchunk_block_info *bi)
{
    le64_put(p, (uint64_t)bi->mint);
    le64_put(p + 8, (uint64_t)bi->maxt);
    le32_put(p + 16, bi->offset);
    le32_put(p + 20, bi->size_stored);
    le32_put(p + 24, bi->size_uncompressed);
    le32_put(p + 28, bi->entries);
    le32_put(p + 32, bi->crc);
    p[36] = bi->codec;
    p[37] = p[38] = p[39] = 0;
}

static uint32_t index_crc(const uint8_t *data, uint32_t index_off, uint32_t n_blocks)
{
    uint32_t crc = crc32c(data, LOGCHUNK_HEADER_BYTES);
    return crc32c_update(crc, data + index_off, (size_t)n_blocks * LOGCHUNK_INDEX_ENTRY_BYTES + 8);
}

int logchunk_writer_finish(struct logchunk_writer *w, uint8_t **bytes, size_t *len)
{
    int rc = logchunk_writer_cut(w);
    if (!rc)
        rc = chunk_start(w);
    size_t tail = (size_t)w->n_blocks * LOGCHUNK_INDEX_ENTRY_BYTES + LOGCHUNK_FOOTER_BYTES;
    if (!rc)
        rc = buf_reserve(&w->chunk, tail);
    if (rc)
        return rc;
    uint32_t index_off = (uint32_t)w->chunk.len;
    uint8_t *p = w->chunk.data + index_off;
    for (uint32_t i = 0; i < w->n_blocks; i++, p += LOGCHUNK_INDEX_ENTRY_BYTES)
        index_entry_put(p, &w->index[i]);
    le32_put(p, index_off);
    le32_put(p + 4, w->n_blocks);
    le32_put(p + 8, index_crc(w->chunk.data, index_off, w->n_blocks));
    le32_put(p + 12, LOGCHUNK_MAGIC);
    w->chunk.len += tail;
    *bytes = buf_steal(&w->chunk, len);
    logchunk_writer_reset(w);
    return 0;
}

void logchunk_writer_stats(const struct logchunk_writer *w, struct logchunk_stats *out)
{
    memset(out, 0, sizeof *out);
    out->entries = w->cut_entries + w->head_n;
    out->head_entries = w->head_n;
    out->line_bytes = w->line_bytes;
    out->bytes_uncompressed = w->cut_uncompressed + w->head_est;
    out->bytes_compressed = (w->chunk.len ? w->chunk.len : LOGCHUNK_HEADER_BYTES) +
                            (uint64_t)w->n_blocks * LOGCHUNK_INDEX_ENTRY_BYTES +
                            LOGCHUNK_FOOTER_BYTES;
    out->mem_bytes = w->chunk.cap + w->head_bytes.cap + w->body.cap + w->pairs.cap +
                     w->cap_blocks * sizeof *w->index + w->head_cap * sizeof *w->head +
                     w->head_md_cap * sizeof *w->head_md + w->keys_cap * sizeof *w->keys +
                     w->sym_slots_cap * sizeof *w->sym_slots + w->syms_cap * sizeof *w->syms;
    out->blocks = w->n_blocks;
    out->mint = w->n_blocks ? w->index[0].mint : w->head_mint;
    out->maxt = w->head_n ? w->head_maxt : w->cut_maxt;
    if (!out->entries)
        out->mint = INT64_MAX;
}

/* ---------------------------------------------------------------------------------------------- */
/* Reader                                                                                         */

static void index_entry_get(const uint8_t *p, struct logchunk_block_info *bi)
{
    bi->mint = (int64_t)le64_get(p);
    bi->maxt = (int64_t)le64_get(p + 8);
    bi->offset = le32_get(p + 16);
    bi->size_stored = le32_get(p + 20);
    bi->size_uncompressed = le32_get(p + 24);
    bi->entries = le32_get(p + 28);
    bi->crc = le32_get(p + 32);
    bi->codec = p[36];
}

void logchunk_reader_block_info(const struct logchunk_reader *r, uint32_t i,
                                struct logchunk_block_info *out)
{
    ASSERT(i < r->n_blocks);
    index_entry_get(r->index + (size_t)i * LOGCHUNK_INDEX_ENTRY_BYTES, out);
}

/* One index entry against its neighbours and the chunk's bounds. */
static int check_block(const uint8_t *p, uint32_t want_off, uint32_t index_off, int64_t prev_maxt,
                       bool first)
{
    struct logchunk_block_info bi;
    index_entry_get(p, &bi);
    if (p[37] || p[38] || p[39] || bi.codec > LOGCHUNK_CODEC_SNAPPY)
        return ERR_CORRUPT;
    if (bi.entries == 0 || bi.mint > bi.maxt || (!first && bi.mint < prev_maxt))
        return ERR_CORRUPT;
    if (bi.offset != want_off || bi.size_stored == 0 || bi.size_stored > index_off - want_off)
        return ERR_CORRUPT;
    uint64_t ulen = bi.size_uncompressed;
    if (ulen > LOGCHUNK_BYTES_MAX || ulen < BODY_MIN_FIXED + BODY_MIN_ENTRY * (uint64_t)bi.entries)
        return ERR_CORRUPT;
    if (bi.codec == LOGCHUNK_CODEC_NONE && ulen != bi.size_stored)
        return ERR_CORRUPT;
    if (bi.codec == LOGCHUNK_CODEC_SNAPPY && ulen > (uint64_t)bi.size_stored * SNAPPY_MAX_RATIO)
        return ERR_CORRUPT;
    return 0;
}

static int check_index(struct logchunk_reader *r, uint32_t index_off)
{
    uint32_t want_off = LOGCHUNK_HEADER_BYTES;
    for (uint32_t i = 0; i < r->n_blocks; i++) {
        const uint8_t *p = r->index + (size_t)i * LOGCHUNK_INDEX_ENTRY_BYTES;
        int rc = check_block(p, want_off, index_off, r->maxt, i == 0);
        if (rc)
            return rc;
        struct logchunk_block_info bi;
        index_entry_get(p, &bi);
        want_off += bi.size_stored;
        r->entries += bi.entries;
        r->bytes_uncompressed += bi.size_uncompressed;
        if (i == 0)
            r->mint = bi.mint;
        r->maxt = bi.maxt;
    }
    return want_off == index_off ? 0 : ERR_CORRUPT;
}

int logchunk_reader_open(struct logchunk_reader *r, const void *data, size_t len)
{
    const uint8_t *p = data;
    memset(r, 0, sizeof *r);
    r->mint = INT64_MAX;
    r->maxt = INT64_MIN;
    if (len < LOGCHUNK_HEADER_BYTES)
        return ERR_TRUNCATED;
    if (le32_get(p) != LOGCHUNK_MAGIC || p[4] != LOGCHUNK_VERSION || p[5] || p[6] || p[7])
        return ERR_CORRUPT;
    if (len < LOGCHUNK_EMPTY_CHUNK_BYTES)
        return ERR_TRUNCATED;
    if (len > LOGCHUNK_BYTES_MAX)
        return ERR_CORRUPT;
    const uint8_t *f = p + len - LOGCHUNK_FOOTER_BYTES;
    if (le32_get(f + 12) != LOGCHUNK_MAGIC)
        return ERR_TRUNCATED; /* most likely a write cut short */
    uint32_t index_off = le32_get(f), n = le32_get(f + 4);
    if (index_off < LOGCHUNK_HEADER_BYTES ||
        (uint64_t)index_off + (uint64_t)n * LOGCHUNK_INDEX_ENTRY_BYTES + LOGCHUNK_FOOTER_BYTES !=
            len)
        return ERR_CORRUPT;
    if (index_crc(p, index_off, n) != le32_get(f + 8))
        return ERR_CORRUPT;
    r->data = p;
    r->len = len;
    r->index = p + index_off;
    r->n_blocks = n;
    int rc = check_index(r, index_off);
    if (rc) {
        memset(r, 0, sizeof *r);
        r->mint = INT64_MAX;
        r->maxt = INT64_MIN;
    }
    return rc;
}

int logchunk_debug_reseal(uint8_t *data, size_t len)
{
    if (len < LOGCHUNK_EMPTY_CHUNK_BYTES || len > LOGCHUNK_BYTES_MAX)
        return 0;
    uint8_t *f = data + len - LOGCHUNK_FOOTER_BYTES;
    uint32_t index_off = le32_get(f), n = le32_get(f + 4);
    if (index_off < LOGCHUNK_HEADER_BYTES ||
        (uint64_t)index_off + (uint64_t)n * LOGCHUNK_INDEX_ENTRY_BYTES + LOGCHUNK_FOOTER_BYTES !=
            len)
        return 0;
    int written = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint8_t *e = data + index_off + (size_t)i * LOGCHUNK_INDEX_ENTRY_BYTES;
        uint32_t off = le32_get(e + 16), size = le32_get(e + 20);
        if (off <= len && size <= len - off) {
            le32_put(e + 32, crc32c(data + off, size));
            written++;
        }
    }
    le32_put(f + 8, index_crc(data, index_off, n));
    return written + 1;
}

/* ---------------------------------------------------------------------------------------------- */
/* Iterator: block loading                                                                        */

void logchunk_iter_init(struct logchunk_iter *it)
{
    memset(it, 0, sizeof *it);
    it->state = IT_END;
}

void logchunk_iter_deinit(struct logchunk_iter *it)
{
    free(it->ubuf);
    free(it->ents);
    free(it->md);
    free(it->syms);
    free(it->keys);
    free(it->keep);
    free(it->flines);
    memset(it, 0, sizeof *it);
}

void logchunk_iter_set_filter(struct logchunk_iter *it, logchunk_line_filter_fn fn, void *arg)
{
    it->filter = fn;
    it->filter_arg = arg;
    it->loaded = false;
}

static void iter_open(struct logchunk_iter *it, int64_t mint, int64_t maxt, enum logchunk_dir dir)
{
    it->mint = mint;
    it->maxt = maxt;
    it->dir = dir;
    it->state = IT_BEFORE;
    it->err = 0;
    it->err_offset = 0;
    it->loaded = false;
    it->n = 0;
    it->md_n = 0;
}

void logchunk_iter_open_reader(struct logchunk_iter *it, const struct logchunk_reader *r,
                               int64_t mint, int64_t maxt, enum logchunk_dir dir)
{
    it->data = r->data;
    it->len = r->len;
    it->index = r->index;
    it->crc_verified = r->crc_verified;
    it->w = NULL;
    it->n_blocks = r->n_blocks;
    iter_open(it, mint, maxt, dir);
}

void logchunk_iter_open_writer(struct logchunk_iter *it, const struct logchunk_writer *w,
                               int64_t mint, int64_t maxt, enum logchunk_dir dir)
{
    it->data = w->chunk.data;
    it->len = w->chunk.len;
    it->index = NULL;
    it->crc_verified = false;
    it->w = w;
    it->w_gen = w->gen;
    it->n_blocks = w->n_blocks + (w->head_n > 0);
    iter_open(it, mint, maxt, dir);
}

static bool is_head(const struct logchunk_iter *it, uint32_t b)
{
    return it->w && b == it->w->n_blocks;
}

static void block_info(const struct logchunk_iter *it, uint32_t b, struct logchunk_block_info *bi)
{
    if (!it->w) {
        index_entry_get(it->index + (size_t)b * LOGCHUNK_INDEX_ENTRY_BYTES, bi);
    } else if (b < it->w->n_blocks) {
        *bi = it->w->index[b];
    } else {
        memset(bi, 0, sizeof *bi);
        bi->mint = it->w->head_mint;
        bi->maxt = it->w->head_maxt;
        bi->entries = it->w->head_n;
        bi->offset = (uint32_t)it->w->chunk.len;
        bi->size_uncompressed = (uint32_t)it->w->head_est;
    }
}

/* rd_uvarint with the common short forms inline (same acceptance: at most 10 bytes, the 10th
 * at most 1, truncation an error). */
static inline bool get_uv(struct rd *r, uint64_t *v)
{
    const uint8_t *p = r->p;
    if (p < r->end && *p < 0x80) {
        *v = *p;
        r->p = p + 1;
        return true;
    }
    if (r->end - p < 10)
        return rd_uvarint(r, v) == 0;
    uint64_t x = 0;
    for (int i = 0; i < 10; i++) {
        uint8_t b = p[i];
        x |= (uint64_t)(b & 0x7f) << (7 * i);
        if (b < 0x80) {
            if (i == 9 && b > 1)
                return false;
            *v = x;
            r->p = p + i + 1;
            return true;
        }
    }
    return false;
}

static int decode_ts(struct logchunk_iter *it, struct rd *r, const struct logchunk_block_info *bi)
{
    uint64_t u;
    if (!get_uv(r, &u) || zigzag_dec(u) != bi->mint)
        return ERR_CORRUPT;
    int64_t prev = bi->mint;
    it->ents[0].ts = prev;
    for (uint32_t i = 1; i < bi->entries; i++) {
        if (!get_uv(r, &u) || u > (uint64_t)bi->maxt - (uint64_t)prev)
            return ERR_CORRUPT;
        prev = (int64_t)((uint64_t)prev + u);
        it->ents[i].ts = prev;
    }
    return prev == bi->maxt ? 0 : ERR_CORRUPT;
}

static int decode_lens(struct logchunk_iter *it, struct rd *r, uint32_t n, uint64_t *total)
{
    uint64_t sum = 0, l;
    for (uint32_t i = 0; i < n; i++) {
        if (!get_uv(r, &l) || l > LOGCHUNK_BYTES_MAX)
            return ERR_CORRUPT;
        it->ents[i].line_len = (uint32_t)l;
        sum += l;
    }
    *total = sum;
    return 0;
}

static int decode_syms(struct logchunk_iter *it, struct rd *r, uint64_t *n_syms)
{
    uint64_t n, l, sum = 0;
    if (!get_uv(r, &n) || n > rd_left(r))
        return ERR_CORRUPT; /* each symbol needs at least its length byte */
    if (grow(&it->syms, &it->syms_cap, n, sizeof *it->syms))
        return ERR_NOMEM;
    for (uint64_t s = 0; s < n; s++) {
        if (!get_uv(r, &l) || l > rd_left(r))
            return ERR_CORRUPT;
        it->syms[s].len = l;
        sum += l;
    }
    const uint8_t *p;
    if (sum > rd_left(r) || rd_take(r, sum, &p))
        return ERR_CORRUPT;
    for (uint64_t s = 0; s < n; s++) {
        it->syms[s].ptr = (const char *)p;
        p += it->syms[s].len;
    }
    *n_syms = n;
    return 0;
}

static int decode_md(struct logchunk_iter *it, struct rd *r, uint32_t n, uint64_t n_syms)
{
    uint64_t total = 0, c, a, b;
    for (uint32_t i = 0; i < n; i++) {
        if (!get_uv(r, &c) || c > LOGCHUNK_BYTES_MAX)
            return ERR_CORRUPT;
        it->ents[i].md_first = (uint32_t)total;
        total += c;
        if (total > LOGCHUNK_BYTES_MAX)
            return ERR_CORRUPT;
    }
    if (total > rd_left(r) / 2) /* every pair needs two id bytes */
        return ERR_CORRUPT;
    if (grow(&it->md, &it->md_cap, total, sizeof *it->md))
        return ERR_NOMEM;
    for (uint64_t k = 0; k < total; k++) {
        if (!get_uv(r, &a) || !get_uv(r, &b) || a >= n_syms || b >= n_syms)
            return ERR_CORRUPT;
        it->md[k].name = it->syms[a];
        it->md[k].value = it->syms[b];
    }
    it->md_n = (uint32_t)total;
    return 0;
}

/* Parses a block body (docs/formats/logchunk.md "Block body") into it->ents / it->md. */
static int decode_body(struct logchunk_iter *it, const uint8_t *body,
                       const struct logchunk_block_info *bi)
{
    struct rd r = rd_make(body, bi->size_uncompressed);
    uint64_t n, lines, n_syms;
    if (!get_uv(&r, &n) || n != bi->entries)
        return ERR_CORRUPT;
    if (grow(&it->ents, &it->ents_cap, n, sizeof *it->ents))
        return ERR_NOMEM;
    int rc = decode_ts(it, &r, bi);
    if (!rc)
        rc = decode_lens(it, &r, (uint32_t)n, &lines);
    if (!rc)
        rc = decode_syms(it, &r, &n_syms);
    if (!rc)
        rc = decode_md(it, &r, (uint32_t)n, n_syms);
    if (rc)
        return rc;
    if (rd_left(&r) != lines)
        return ERR_CORRUPT;
    const char *p = (const char *)r.p;
    for (uint32_t i = 0; i < n; i++) {
        it->ents[i].line = p;
        p += it->ents[i].line_len;
    }
    it->n = (uint32_t)n;
    return 0;
}

static int load_stored(struct logchunk_iter *it, const struct logchunk_block_info *bi)
{
    const uint8_t *src = it->data + bi->offset;
    if (!it->crc_verified && crc32c(src, bi->size_stored) != bi->crc)
        return ERR_CORRUPT;
    if (bi->codec == LOGCHUNK_CODEC_NONE)
        return decode_body(it, src, bi);
    size_t ulen;
    if (snappy_uncompressed_length((const char *)src, bi->size_stored, &ulen) != SNAPPY_OK ||
        ulen != bi->size_uncompressed)
        return ERR_CORRUPT;
    if (grow(&it->ubuf, &it->ubuf_cap, ulen, 1))
        return ERR_NOMEM;
    if (snappy_uncompress((const char *)src, bi->size_stored, (char *)it->ubuf, &ulen) !=
            SNAPPY_OK ||
        ulen != bi->size_uncompressed)
        return ERR_CORRUPT;
    return decode_body(it, it->ubuf, bi);
}

/* Presents an open writer's head block, sorted by time, without changing the writer. */
static int load_head(struct logchunk_iter *it)
{
    const struct logchunk_writer *w = it->w;
    if (head_sort(w, &it->keys, &it->keys_cap) ||
        grow(&it->ents, &it->ents_cap, w->head_n, sizeof *it->ents) ||
        grow(&it->md, &it->md_cap, w->head_md_n, sizeof *it->md))
        return ERR_NOMEM;
    const char *base = head_base(w);
    uint32_t k = 0;
    for (uint32_t i = 0; i < w->head_n; i++) {
        const struct logchunk_head_ent *e = &w->head[it->keys[i].idx];
        it->ents[i] = (struct logchunk_dec_ent){e->ts, base + e->line_off, e->line_len, k};
        for (uint32_t j = 0; j < e->md_count; j++) {
            const struct logchunk_head_md *m = &w->head_md[e->md_first + j];
            it->md[k].name = (struct str){base + m->name_off, m->name_len};
            it->md[k].value = (struct str){base + m->value_off, m->value_len};
            k++;
        }
    }
    it->n = w->head_n;
    it->md_n = k;
    return 0;
}

static bool iter_fail(struct logchunk_iter *it, int err, size_t offset)
{
    it->state = IT_ERR;
    it->err = err;
    it->err_offset = offset;
    it->loaded = false;
    return false;
}

/* Runs the line filter over the loaded block's lines. */
static int apply_filter(struct logchunk_iter *it)
{
    size_t words = ((size_t)it->n + 63) / 64;
    if (grow(&it->keep, &it->keep_cap, words ? words : 1, sizeof *it->keep) ||
        grow(&it->flines, &it->flines_cap, it->n ? it->n : 1, sizeof *it->flines))
        return ERR_NOMEM;
    for (uint32_t i = 0; i < it->n; i++)
        it->flines[i] = (struct str){it->ents[i].line, it->ents[i].line_len};
    size_t kept = it->filter(it->filter_arg, it->flines, it->n, it->keep);
    it->filter_lines += it->n;
    it->filter_dropped += it->n - kept;
    return 0;
}

static bool load_block(struct logchunk_iter *it, uint32_t b, const struct logchunk_block_info *bi)
{
    if (it->loaded && it->blk == b)
        return true;
    it->loaded = false;
    int rc = is_head(it, b) ? load_head(it) : load_stored(it, bi);
    if (!rc && it->filter)
        rc = apply_filter(it);
    if (rc)
        return iter_fail(it, rc, bi->offset);
    it->loaded = true;
    it->blk = b;
    it->blocks_loaded++;
    it->bytes_decompressed += bi->size_uncompressed;
    return true;
}

/* ---------------------------------------------------------------------------------------------- */
/* Iterator: navigation                                                                           */

static void check_gen(const struct logchunk_iter *it)
{
    if (it->w && it->w->gen != it->w_gen)
        PANIC("BUG: logchunk iterator used after its writer changed");
}

/* First index in the loaded block with ts >= t (n when none). */
static uint32_t lower_bound(const struct logchunk_iter *it, int64_t t)
{
    uint32_t lo = 0, hi = it->n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (it->ents[mid].ts < t)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* First kept index >= i in the loaded block (n when none). */
static uint32_t next_kept(const struct logchunk_iter *it, uint32_t i)
{
    if (!it->filter || i >= it->n)
        return i < it->n ? i : it->n;
    size_t w = i >> 6;
    uint64_t m = it->keep[w] & (~0ull << (i & 63));
    size_t words = ((size_t)it->n + 63) / 64;
    while (!m && ++w < words)
        m = it->keep[w];
    if (!m)
        return it->n;
    uint32_t k = (uint32_t)(w * 64 + (size_t)__builtin_ctzll(m));
    return k < it->n ? k : it->n;
}

/* Last kept index <= i in the loaded block (UINT32_MAX when none). */
static uint32_t prev_kept(const struct logchunk_iter *it, uint32_t i)
{
    if (!it->filter || i == UINT32_MAX)
        return i;
    size_t w = i >> 6;
    uint64_t m = it->keep[w] & (~0ull >> (63 - (i & 63)));
    while (!m && w > 0)
        m = it->keep[--w];
    if (!m)
        return UINT32_MAX;
    return (uint32_t)(w * 64 + 63 - (size_t)__builtin_clzll(m));
}

static bool set_valid(struct logchunk_iter *it, uint32_t pos)
{
    const struct logchunk_dec_ent *e = &it->ents[pos];
    bool in = it->dir == LOGCHUNK_FORWARD ? e->ts < it->maxt : e->ts >= it->mint;
    if (!in) {
        it->state = IT_END;
        return false;
    }
    uint32_t end = pos + 1 < it->n ? it->ents[pos + 1].md_first : it->md_n;
    it->pos = pos;
    it->state = IT_VALID;
    it->cur.ts_ns = e->ts;
    it->cur.line = (struct str){e->line, e->line_len};
    it->cur.md_count = end - e->md_first;
    it->cur.md = it->cur.md_count ? it->md + e->md_first : NULL;
    return true;
}

static bool end_here(struct logchunk_iter *it)
{
    it->state = IT_END;
    return false;
}

/* The first kept entry at or after pos of the loaded block, continuing into later blocks. */
static bool forward_from(struct logchunk_iter *it, uint32_t pos)
{
    for (;;) {
        uint32_t k = next_kept(it, pos);
        if (k < it->n)
            return set_valid(it, k);
        if (it->n && it->ents[it->n - 1].ts >= it->maxt)
            return end_here(it);
        uint32_t b = it->blk + 1;
        struct logchunk_block_info bi;
        if (b >= it->n_blocks)
            return end_here(it);
        block_info(it, b, &bi);
        if (bi.mint >= it->maxt)
            return end_here(it);
        if (!load_block(it, b, &bi))
            return false;
        pos = 0;
    }
}

/* The last kept entry at or before pos of the loaded block, continuing into earlier blocks. */
static bool backward_from(struct logchunk_iter *it, uint32_t pos)
{
    for (;;) {
        uint32_t k = prev_kept(it, pos);
        if (k != UINT32_MAX)
            return set_valid(it, k);
        if (it->n && it->ents[0].ts < it->mint)
            return end_here(it);
        struct logchunk_block_info bi;
        if (it->blk == 0)
            return end_here(it);
        block_info(it, it->blk - 1, &bi);
        if (bi.maxt < it->mint)
            return end_here(it);
        if (!load_block(it, it->blk - 1, &bi))
            return false;
        pos = it->n - 1;
    }
}

static bool seek_forward(struct logchunk_iter *it, int64_t t)
{
    if (t < it->mint)
        t = it->mint;
    if (t >= it->maxt)
        return end_here(it);
    struct logchunk_block_info bi;
    uint32_t lo = 0, hi = it->n_blocks;
    while (lo < hi) { /* first block with maxt >= t (maxt never decreases along the chunk) */
        uint32_t mid = lo + (hi - lo) / 2;
        block_info(it, mid, &bi);
        if (bi.maxt >= t)
            hi = mid;
        else
            lo = mid + 1;
    }
    if (lo == it->n_blocks)
        return end_here(it);
    block_info(it, lo, &bi);
    if (bi.mint >= it->maxt)
        return end_here(it); /* skipped without decompressing */
    if (!load_block(it, lo, &bi))
        return false;
    uint32_t pos = lower_bound(it, t);
    ASSERT(pos < it->n); /* decode checked that the last ts equals the block's maxt >= t */
    return forward_from(it, pos);
}

static bool seek_backward(struct logchunk_iter *it, int64_t t)
{
    if (t > it->maxt)
        t = it->maxt;
    if (t <= it->mint)
        return end_here(it);
    struct logchunk_block_info bi;
    uint32_t lo = 0, hi = it->n_blocks;
    while (lo < hi) { /* number of blocks with mint < t (mint never decreases either) */
        uint32_t mid = lo + (hi - lo) / 2;
        block_info(it, mid, &bi);
        if (bi.mint < t)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0)
        return end_here(it);
    block_info(it, lo - 1, &bi);
    if (bi.maxt < it->mint)
        return end_here(it);
    if (!load_block(it, lo - 1, &bi))
        return false;
    uint32_t pos = lower_bound(it, t);
    ASSERT(pos > 0); /* the first ts equals the block's mint < t */
    return backward_from(it, pos - 1);
}

bool logchunk_iter_seek(struct logchunk_iter *it, int64_t t)
{
    check_gen(it);
    if (it->state == IT_ERR)
        return false;
    return it->dir == LOGCHUNK_FORWARD ? seek_forward(it, t) : seek_backward(it, t);
}

static bool step_forward(struct logchunk_iter *it)
{
    if (!it->filter && it->pos + 1 < it->n)
        return set_valid(it, it->pos + 1);
    return forward_from(it, it->pos + 1);
}

static bool step_backward(struct logchunk_iter *it)
{
    if (!it->filter && it->pos > 0)
        return set_valid(it, it->pos - 1);
    return backward_from(it, it->pos - 1); /* pos 0: UINT32_MAX, "none kept here" */
}

bool logchunk_iter_next(struct logchunk_iter *it)
{
    check_gen(it);
    switch (it->state) {
    case IT_BEFORE:
        return logchunk_iter_seek(it, it->dir == LOGCHUNK_FORWARD ? it->mint : it->maxt);
    case IT_VALID: return it->dir == LOGCHUNK_FORWARD ? step_forward(it) : step_backward(it);
    default: return false;
    }
}

const struct logchunk_entry *logchunk_iter_at(const struct logchunk_iter *it)
{
    check_gen(it);
    ASSERT(it->state == IT_VALID);
    return &it->cur;
}

int logchunk_iter_err(const struct logchunk_iter *it)
{
    return it->err;
}
