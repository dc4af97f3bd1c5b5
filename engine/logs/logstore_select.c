/* logstore_select: entries of the selected streams merged in time order from the head and the
 * blocks, with duplicates dropped.
 *
 * Sources. Every block chunk of a selected stream that overlaps the range is a source; so is the
 * stream's head (its visible finished chunks and open writers, merged by struct ls_merge). One
 * binary heap orders all sources by (timestamp in the query's direction, stream, unopened first,
 * source order). A block chunk enters the heap unopened, keyed by the bound its block index gives
 * (mint or maxt), and is only read, checked and decompressed when it reaches the top — so chunks a
 * LIMIT never reaches are never touched; a stream's next chunk enters when the previous one opens.
 *
 * The head is read in copied batches that end at a timestamp boundary: between two batches the
 * shard may append to the stream (queries run in steps between ingest), which invalidates writer
 * iterators; the next batch then re-opens the stream's sources narrowed to the part of the range
 * not yet returned (forward: after the last timestamp returned; backward: before it). Entries
 * appended meanwhile at an already returned timestamp are not returned by this select.
 *
 * Duplicates: entries of one stream with the same timestamp come out of the heap together; one
 * whose (line, metadata) hash equals an entry already returned in that group is dropped.
 *
 * Block chunks are read, CRC-checked and decompressed by one work decoder; a chunk whose log chunk
 * blocks are stored plain (as the head cut writes them, zstd around) is then decoded whole in one
 * pass while it is hot in cache — through the select's line filter (logstore_select_with), a batch
 * per block — and the kept entries are copied out (lines, metadata) for the merge, so a query
 * touches each decompressed byte once in sequence and one decompression buffer serves all chunks;
 * the per-block CRCs are skipped there since the block record's CRC covered the compressed bytes.
 * Chunks of snappy blocks keep their decoder and are read entry by entry. With
 * LOGSTORE_ORDER_STREAM the heap orders by stream first, so each stream is read to its end before
 * the next (no cross-stream merge work); everything else is the same. */
#include <stdlib.h>
#include <string.h>

#include "base/arena.h"
#include "base/assert.h"
#include "base/error.h"
#include "base/hash.h"
#include "base/log.h"
#include "engine/logs/logstore_internal.h"
#include "engine/tsdb/block_internal.h"

#define HEAD_BATCH_ENTRIES 256
#define HEAD_BATCH_BYTES   (256u * 1024)

struct sel_stream {
    const struct label *labels;
    size_t n_labels;
    uint64_t hash;
    struct ls_stream *head;
    struct ls_bchunk *chunks; /* in direction order */
    size_t n_chunks, next_chunk;
};

/* A decoder for one open block chunk (pooled: buffers are reused). */
struct dec {
    struct logblock_dec d;
    struct logchunk_reader r;
    struct logchunk_iter it;
    struct buf scratch;
    /* A chunk of plain blocks, materialized: its entries in range that the filter kept, in the
     * query's direction, decoded in one pass while the decompressed chunk is hot, with copies of
     * their lines and metadata in `bytes` (so one decompression buffer serves every chunk). */
    struct logchunk_entry *ents;
    size_t n_ents, cap_ents;
    struct label *md;
    size_t n_md, cap_md;
    struct buf bytes;
    struct dec *next_free;
};

struct hb_ent {
    int64_t ts;
    size_t line_off;
    uint32_t line_len;
    uint32_t md_first, n_md;
};

/* A stream's head, read in copied batches. */
struct head_src {
    struct ls_stream *st;
    uint64_t gen;
    bool gathered, pending; /* pending: m.cur is an entry not copied yet */
    bool have_pos;
    int64_t pos; /* last timestamp of the last batch */
    struct ls_merge m;
    struct buf bytes;
    struct hb_ent *e;
    size_t n, cap, at;
    struct label *md;
    size_t n_md, cap_md;
    struct head_src *next; /* all head sources, for freeing */
};

enum { SRC_BLOCK, SRC_HEAD };

struct src {
    uint8_t kind;
    bool opened;
    bool parked;      /* a block chunk released to bound memory; reopened at its position */
    uint32_t same_ts; /* entries of this source at ts before the current one */
    uint32_t stream, order;
    bool mat;    /* a block chunk read from dec->ents (at: the current one) */
    uint32_t at; /* kept while parked: the position to return to */
    int64_t key;
    struct ls_bchunk *ch;
    struct dec *dec;
    struct head_src *h;
    /* the current entry, once opened */
    int64_t ts;
    struct str line;
    const struct label *md;
    size_t n_md;
    struct src *next_free;
};

struct logstore_iter {
    struct logstore *ls;
    int64_t start, end;
    enum logstore_dir dir;
    bool by_stream; /* LOGSTORE_ORDER_STREAM */
    logstore_line_filter_fn filter;
    void *filter_arg;
    uint32_t yield_chunks, opens_quiet; /* opens_quiet: block chunks opened since an entry */
    /* The head's visible_ms when the select began: head chunks a later cut moves into a block
     * (which this select does not read) stay visible to it; the truncation waits for it. */
    int64_t visible_ms;
    struct str *needles;
    size_t n_needles;
    struct ls_coll coll;
    struct sel_stream *streams;
    size_t n_streams;
    struct src **heap;
    size_t heap_n, heap_cap;
    struct src *free_srcs;
    struct dec *free_decs;
    struct dec *work; /* reads and decompresses every block chunk (not held by a source) */
    uint32_t n_decs_held, decs_max; /* decoders held by open block chunks, and the cap */
    struct head_src *heads;
    bool returned; /* heap[0] holds the entry returned last: advance it first */
    struct logstore_entry cur;
    bool grp_started, grp_hashing;
    uint32_t grp_stream;
    int64_t grp_ts;
    uint64_t *grp;
    size_t n_grp, cap_grp;
    int err;
    struct logstore_select_stats st;
};

/* ---- the heap ------------------------------------------------------------------------------- */

static bool before(const struct logstore_iter *it, const struct src *a, const struct src *b)
{
    if (it->by_stream && a->stream != b->stream)
        return a->stream < b->stream;
    if (a->key != b->key)
        return it->dir == LOGSTORE_FORWARD ? a->key < b->key : a->key > b->key;
    if (a->stream != b->stream)
        return a->stream < b->stream;
    if (a->opened != b->opened)
        return !a->opened;
    return a->order < b->order;
}

static void sift_down(struct logstore_iter *it, size_t i)
{
    struct src **h = it->heap;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < it->heap_n && before(it, h[l], h[m]))
            m = l;
        if (r < it->heap_n && before(it, h[r], h[m]))
            m = r;
        if (m == i)
            return;
        struct src *t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

static void sift_up(struct logstore_iter *it, size_t i)
{
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!before(it, it->heap[i], it->heap[p]))
            break;
        struct src *t = it->heap[i];
        it->heap[i] = it->heap[p];
        it->heap[p] = t;
        i = p;
    }
}

static int heap_push(struct logstore_iter *it, struct src *s)
{
    if (ls_grow(&it->heap, &it->heap_cap, it->heap_n + 1, sizeof *it->heap))
        return ERR_NOMEM;
    it->heap[it->heap_n++] = s;
    sift_up(it, it->heap_n - 1);
    return 0;
}

static struct src *heap_pop(struct logstore_iter *it)
{
    struct src *top = it->heap[0];
    it->heap[0] = it->heap[--it->heap_n];
    if (it->heap_n)
        sift_down(it, 0);
    return top;
}

static struct src *src_new(struct logstore_iter *it, uint8_t kind, uint32_t stream, uint32_t order)
{
    struct src *s = it->free_srcs;
    if (s)
        it->free_srcs = s->next_free;
    else if (!(s = malloc(sizeof *s)))
        return NULL;
    memset(s, 0, sizeof *s);
    s->kind = kind;
    s->stream = stream;
    s->order = order;
    return s;
}

static void dec_put(struct logstore_iter *it, struct src *s)
{
    if (!s->dec)
        return;
    s->dec->next_free = it->free_decs;
    it->free_decs = s->dec;
    s->dec = NULL;
    it->n_decs_held--;
}

static void src_free(struct logstore_iter *it, struct src *s)
{
    dec_put(it, s);
    s->next_free = it->free_srcs;
    it->free_srcs = s;
}

/* ---- block chunk sources --------------------------------------------------------------------- */

static int64_t clamp_key(const struct logstore_iter *it, int64_t k)
{
    if (it->dir == LOGSTORE_FORWARD)
        return k < it->start ? it->start : k;
    return k > it->end - 1 ? it->end - 1 : k;
}

/* Puts the stream's next block chunk into the heap, unopened. */
static int push_next_chunk(struct logstore_iter *it, struct sel_stream *ss, uint32_t stream)
{
    if (ss->next_chunk >= ss->n_chunks)
        return 0;
    size_t i = ss->next_chunk++;
    struct ls_bchunk *ch = &ss->chunks[i];
    struct src *s = src_new(it, SRC_BLOCK, stream, (uint32_t)i);
    if (!s)
        return ERR_NOMEM;
    s->ch = ch;
    int64_t k = it->dir == LOGSTORE_FORWARD ? ls_ms_to_ns(ch->c.mint_ms)
                                            : ls_ms_to_ns(ch->c.maxt_ms) + (LS_NS_PER_MS - 1);
    s->key = clamp_key(it, k);
    return heap_push(it, s);
}

/* Releases the decoder of the open block chunk whose next entry is needed last (the latest key
 * in the query's direction); it is reopened and repositioned when it reaches the top again. */
static void park_one(struct logstore_iter *it)
{
    size_t v = 0;
    for (size_t i = 0; i < it->heap_n; i++) {
        const struct src *s = it->heap[i];
        if (s->kind != SRC_BLOCK || !s->dec)
            continue;
        if (!v || (it->dir == LOGSTORE_FORWARD ? s->key > it->heap[v - 1]->key
                                               : s->key < it->heap[v - 1]->key))
            v = i + 1;
    }
    if (!v)
        return;
    struct src *s = it->heap[v - 1];
    dec_put(it, s);
    s->opened = false;
    s->parked = true;
    sift_up(it, v - 1); /* unopened sorts before opened at an equal key */
    it->st.chunks_parked++;
}

/* A decoder from the pool or a new one (not counted as held). */
static struct dec *dec_take(struct logstore_iter *it)
{
    struct dec *d = it->free_decs;
    if (d) {
        it->free_decs = d->next_free;
    } else if ((d = calloc(1, sizeof *d)) != NULL) {
        logblock_dec_init(&d->d);
        logchunk_iter_init(&d->it);
        logchunk_iter_set_filter(&d->it, it->filter, it->filter_arg);
        buf_init(&d->scratch);
        buf_init(&d->bytes);
    }
    return d;
}

/* Makes room under the cap for one more decoder held by a source, and counts it. */
static void dec_hold(struct logstore_iter *it)
{
    if (it->n_decs_held >= it->decs_max)
        park_one(it);
    it->n_decs_held++;
}

static struct dec *dec_get(struct logstore_iter *it)
{
    struct dec *d = dec_take(it);
    if (d)
        dec_hold(it);
    return d;
}

static void dec_free(struct dec *d)
{
    logblock_dec_deinit(&d->d);
    logchunk_iter_deinit(&d->it);
    buf_deinit(&d->scratch);
    buf_deinit(&d->bytes);
    free(d->ents);
    free(d->md);
    free(d);
}

static int chunk_fault(struct ls_bchunk *ch, int rc, uint64_t off)
{
    char name[32];
    block_chunk_file_name(ch->c.file, name, sizeof name);
    return block_fault_set(ch->b, rc, name, ch->c.offset + off);
}

static bool hint_rules_out(const struct logstore_iter *it, const struct logblock_info *bi)
{
    for (size_t i = 0; i < it->n_needles; i++)
        if (!logblock_may_contain(bi, it->needles[i]))
            return true;
    return false;
}

/* With a line hint: decides from the envelope's header and filters alone (covered by their own
 * CRC) whether the chunk is ruled out, reading only them, so that a skipped chunk costs neither
 * the read of its payload nor the record's CRC over it. Anything unusual (a damaged header, a
 * short file) leaves the decision to the full read, which reports it. */
static bool hint_skips_early(const struct logstore_iter *it, struct src *s, struct dec *w)
{
    const struct ls_bchunk *ch = s->ch;
    if (!it->n_needles)
        return false;
    struct block_file *f = block_chunk_file(ch->b, ch->c.file);
    uint64_t off = ch->c.offset + BLOCKINDEX_CHUNK_HEAD_BYTES;
    size_t want = LOGBLOCK_HEADER_BYTES, len = 0;
    const uint8_t *p = NULL;
    for (int k = 0; k < 3; k++) {
        if (want > ch->c.len || block_file_get(f, off, want, &w->scratch, &p))
            return false;
        int rc = logblock_filters_len(p, want, &len);
        if (rc == 0 && len <= want)
            break;
        if ((rc && rc != ERR_TRUNCATED) || len <= want)
            return false;
        want = len;
    }
    struct logblock_info bi;
    if (len > want || logblock_decode_filters(p, want, ch->c.len, &bi))
        return false;
    return bi.maxt_ns >= it->start && bi.mint_ns < it->end && hint_rules_out(it, &bi);
}

static bool src_load(struct src *s)
{
    const struct logchunk_entry *e = logchunk_iter_at(&s->dec->it);
    s->ts = s->key = e->ts_ns;
    s->line = e->line;
    s->md = e->md;
    s->n_md = e->md_count;
    return true;
}

/* Moves a freshly opened chunk to its first entry, or a reopened (parked) one back to where it
 * was: the first entry at its timestamp in the query's direction, then same_ts entries on (the
 * chunk is immutable, so this is the same entry). */
static bool position(const struct logstore_iter *it, struct src *s)
{
    struct logchunk_iter *ci = &s->dec->it;
    if (!s->parked)
        return logchunk_iter_next(ci);
    s->parked = false;
    bool ok = logchunk_iter_seek(ci, it->dir == LOGSTORE_FORWARD ? s->ts : s->ts + 1);
    for (uint32_t k = 0; ok && k < s->same_ts; k++)
        ok = logchunk_iter_next(ci);
    return ok;
}

/* s (len bytes) appended to d->bytes; its offset there as a pointer (fixed by mat_fix). */
static const char *mat_put(struct dec *d, struct str s, int *rc)
{
    const char *off = (const char *)(uintptr_t)d->bytes.len;
    if (s.len <= d->bytes.cap - d->bytes.len) {
        memcpy(d->bytes.data + d->bytes.len, s.ptr, s.len);
        d->bytes.len += s.len;
    } else if (buf_append(&d->bytes, s.ptr, s.len)) {
        *rc = ERR_NOMEM;
    }
    return off;
}

static void mat_fix(struct dec *d)
{
    const char *base = (const char *)d->bytes.data;
    for (size_t i = 0; i < d->n_md; i++) {
        d->md[i].name.ptr = base + (uintptr_t)d->md[i].name.ptr;
        d->md[i].value.ptr = base + (uintptr_t)d->md[i].value.ptr;
    }
    for (size_t i = 0; i < d->n_ents; i++) {
        struct logchunk_entry *e = &d->ents[i];
        e->line.ptr = base + (uintptr_t)e->line.ptr;
        e->md = e->md_count ? d->md + (uintptr_t)e->md : NULL;
    }
}

/* Copies every entry in range of the chunk open in w (those its filter keeps) into d. */
static int materialize(struct dec *w, struct dec *d)
{
    d->n_ents = d->n_md = 0;
    buf_reset(&d->bytes);
    /* the buffers grow as needed and are kept by the pooled decoder (a filter keeps few lines:
     * reserving a whole chunk for each held source would cost page faults, not copies) */
    int rc = 0;
    while (!rc && logchunk_iter_next(&w->it)) {
        const struct logchunk_entry *e = logchunk_iter_at(&w->it);
        if ((d->n_ents >= d->cap_ents &&
             ls_grow(&d->ents, &d->cap_ents, d->n_ents + 1, sizeof *d->ents)) ||
            (e->md_count && ls_grow(&d->md, &d->cap_md, d->n_md + e->md_count, sizeof *d->md)))
            return ERR_NOMEM;
        d->ents[d->n_ents++] = (struct logchunk_entry){e->ts_ns,
                                                       {mat_put(d, e->line, &rc), e->line.len},
                                                       (const struct label *)(uintptr_t)d->n_md,
                                                       e->md_count};
        for (size_t i = 0; i < e->md_count; i++, d->n_md++) {
            d->md[d->n_md].name = (struct str){mat_put(d, e->md[i].name, &rc), e->md[i].name.len};
            d->md[d->n_md].value =
                (struct str){mat_put(d, e->md[i].value, &rc), e->md[i].value.len};
        }
    }
    if (rc)
        return rc;
    mat_fix(d);
    return logchunk_iter_err(&w->it);
}

/* True when the chunk's blocks are stored uncompressed, so that their lines and symbols live in
 * the chunk bytes themselves (snappy blocks are decoded into a buffer the next block reuses). */
static bool blocks_plain(const struct logchunk_reader *r)
{
    for (uint32_t b = 0; b < r->n_blocks; b++) {
        struct logchunk_block_info bi;
        logchunk_reader_block_info(r, b, &bi);
        if (bi.codec != LOGCHUNK_CODEC_NONE)
            return false;
    }
    return true;
}

static void mat_load(struct src *s)
{
    const struct logchunk_entry *e = &s->dec->ents[s->at];
    s->ts = s->key = e->ts_ns;
    s->line = e->line;
    s->md = e->md;
    s->n_md = e->md_count;
}

/* A chunk of plain blocks (open in w): copied whole, then read from the copy (a reopened, parked
 * one returns to its position). */
static int open_materialized(struct logstore_iter *it, struct src *s, struct dec *w)
{
    uint32_t at = s->parked ? s->at : 0;
    s->parked = false;
    s->mat = true;
    if (!(s->dec = dec_get(it)))
        return ERR_NOMEM;
    int rc = materialize(w, s->dec);
    if (rc)
        return rc == ERR_NOMEM ? rc : chunk_fault(s->ch, rc, BLOCKINDEX_CHUNK_HEAD_BYTES);
    s->at = at;
    if (at >= s->dec->n_ents)
        return 0;
    mat_load(s);
    return 1;
}

/* Reads, checks and decompresses the chunk. 1: positioned on its first entry; 0: nothing in range
 * (or ruled out by the hint); negative: error. */
static int open_block_src(struct logstore_iter *it, struct src *s)
{
    struct ls_bchunk *ch = s->ch;
    struct dec *w = it->work ? it->work : (it->work = dec_take(it));
    if (!w)
        return ERR_NOMEM;
    if (hint_skips_early(it, s, w)) {
        it->st.chunks_skipped_hint++;
        return 0;
    }
    const uint8_t *data;
    int rc = block_chunk_read(ch->b, &ch->c, &w->scratch, &data);
    if (rc)
        return rc;
    struct logblock_info bi;
    if ((rc = logblock_decode(data, ch->c.len, &bi)) != 0)
        return chunk_fault(ch, rc, BLOCKINDEX_CHUNK_HEAD_BYTES);
    if (bi.maxt_ns < it->start || bi.mint_ns >= it->end)
        return 0;
    if (hint_rules_out(it, &bi)) {
        it->st.chunks_skipped_hint++;
        return 0;
    }
    const uint8_t *chunk;
    size_t len;
    if ((rc = logblock_dec_chunk(&w->d, &bi, &chunk, &len)) != 0 ||
        (rc = logchunk_reader_open(&w->r, chunk, len)) != 0)
        return rc == ERR_NOMEM ? rc : chunk_fault(ch, rc, BLOCKINDEX_CHUNK_HEAD_BYTES);
    w->r.crc_verified = true; /* block_chunk_read checked the record's CRC over all of it */
    it->st.chunks_opened++;
    it->st.bytes_decompressed += bi.codec == LOGBLOCK_CODEC_ZSTD ? bi.raw_len : 0;
    logchunk_iter_open_reader(&w->it, &w->r, it->start, it->end,
                              it->dir == LOGSTORE_FORWARD ? LOGCHUNK_FORWARD : LOGCHUNK_BACKWARD);
    s->opened = true;
    if (blocks_plain(&w->r))
        return open_materialized(it, s, w);
    /* snappy blocks: the source keeps this decoder (its entries point into its buffers) */
    it->work = NULL;
    dec_hold(it);
    s->dec = w;
    s->mat = false;
    if (position(it, s))
        return src_load(s);
    rc = logchunk_iter_err(&s->dec->it);
    return rc ? chunk_fault(ch, rc, BLOCKINDEX_CHUNK_HEAD_BYTES) : 0;
}

static int advance_block_src(struct src *s)
{
    if (s->mat) {
        if (++s->at >= s->dec->n_ents)
            return 0;
        mat_load(s);
        return 1;
    }
    int64_t prev = s->ts;
    if (logchunk_iter_next(&s->dec->it)) {
        src_load(s);
        s->same_ts = s->ts == prev ? s->same_ts + 1 : 0;
        return 1;
    }
    int rc = logchunk_iter_err(&s->dec->it);
    return rc ? chunk_fault(s->ch, rc, BLOCKINDEX_CHUNK_HEAD_BYTES) : 0;
}

/* ---- head sources ---------------------------------------------------------------------------- */

static int head_gather(struct logstore_iter *it, struct head_src *h)
{
    const struct ls_stream *st = h->st;
    int64_t lo = it->start, hi = it->end;
    if (h->have_pos && it->dir == LOGSTORE_FORWARD)
        lo = h->pos + 1 > lo ? h->pos + 1 : lo;
    else if (h->have_pos)
        hi = h->pos < hi ? h->pos : hi;
    ls_merge_reset(&h->m, lo, hi,
                   it->dir == LOGSTORE_FORWARD ? LOGCHUNK_FORWARD : LOGCHUNK_BACKWARD);
    int rc = 0;
    int64_t visible = it->visible_ms;
    for (uint32_t i = 0; i < st->n_chunks && !rc; i++) {
        const struct ls_chunk *c = st->chunks[i];
        if (c->range_ms >= visible && c->maxt_ns >= lo && c->mint_ns < hi)
            rc = ls_merge_add_chunk(&h->m, c->bytes, c->len);
    }
    if (!rc && st->late.entries)
        rc = ls_merge_add_writer(&h->m, &st->late.w);
    if (!rc && st->main.entries)
        rc = ls_merge_add_writer(&h->m, &st->main.w);
    h->gen = st->gen;
    h->gathered = true;
    h->pending = false;
    return rc;
}

static int head_copy(struct head_src *h, const struct logchunk_entry *e)
{
    if (ls_grow(&h->e, &h->cap, h->n + 1, sizeof *h->e) ||
        ls_grow(&h->md, &h->cap_md, h->n_md + e->md_count, sizeof *h->md))
        return ERR_NOMEM;
    struct hb_ent *x = &h->e[h->n++];
    *x = (struct hb_ent){e->ts_ns, h->bytes.len, (uint32_t)e->line.len, (uint32_t)h->n_md,
                         (uint32_t)e->md_count};
    if (buf_append(&h->bytes, e->line.ptr, e->line.len))
        return ERR_NOMEM;
    for (size_t i = 0; i < e->md_count; i++) { /* offsets for now; pointers after the batch */
        struct label *l = &h->md[h->n_md++];
        l->name = (struct str){(const char *)(uintptr_t)h->bytes.len, e->md[i].name.len};
        if (buf_append(&h->bytes, e->md[i].name.ptr, e->md[i].name.len))
            return ERR_NOMEM;
        l->value = (struct str){(const char *)(uintptr_t)h->bytes.len, e->md[i].value.len};
        if (buf_append(&h->bytes, e->md[i].value.ptr, e->md[i].value.len))
            return ERR_NOMEM;
    }
    return 0;
}

static bool line_kept(struct logstore_iter *it, struct str line)
{
    uint64_t keep;
    if (it->filter(it->filter_arg, &line, 1, &keep))
        return true;
    it->st.filtered++;
    return false;
}

/* Copies the next batch of the stream's head. Returns the number of entries or an error. */
static int head_fill(struct logstore_iter *it, struct head_src *h)
{
    int rc;
    if ((!h->gathered || h->gen != h->st->gen) && (rc = head_gather(it, h)) != 0)
        return rc;
    h->n = h->n_md = h->at = 0;
    buf_reset(&h->bytes);
    for (;;) {
        if (!h->pending && (rc = ls_merge_next(&h->m)) != 1)
            break;
        const struct logchunk_entry *e = h->m.cur;
        if (!h->pending && it->filter && !line_kept(it, e->line))
            continue;
        if (h->n && e->ts_ns != h->e[h->n - 1].ts &&
            (h->n >= HEAD_BATCH_ENTRIES || h->bytes.len >= HEAD_BATCH_BYTES)) {
            h->pending = true;
            break;
        }
        h->pending = false;
        if ((rc = head_copy(h, e)) != 0)
            return rc;
    }
    if (rc < 0)
        return rc;
    const char *base = (const char *)h->bytes.data;
    for (size_t i = 0; i < h->n_md; i++) {
        h->md[i].name.ptr = base + (uintptr_t)h->md[i].name.ptr;
        h->md[i].value.ptr = base + (uintptr_t)h->md[i].value.ptr;
    }
    if (h->n) {
        h->pos = h->e[h->n - 1].ts;
        h->have_pos = true;
    }
    it->st.head_entries += h->n;
    return (int)h->n;
}

static bool head_load(struct src *s)
{
    struct head_src *h = s->h;
    const struct hb_ent *e = &h->e[h->at];
    s->ts = s->key = e->ts;
    s->line = (struct str){(const char *)h->bytes.data + e->line_off, e->line_len};
    s->md = h->md + e->md_first;
    s->n_md = e->n_md;
    return true;
}

static int advance_head_src(struct logstore_iter *it, struct src *s)
{
    struct head_src *h = s->h;
    if (++h->at < h->n)
        return head_load(s);
    int n = head_fill(it, h);
    return n <= 0 ? n : head_load(s);
}

static int open_head_src(struct logstore_iter *it, struct src *s)
{
    s->opened = true;
    int n = head_fill(it, s->h);
    return n <= 0 ? n : head_load(s);
}

/* ---- iteration ------------------------------------------------------------------------------- */

/* Opens the top source (popped); pushes it back positioned, or drops it. */
static int open_top(struct logstore_iter *it)
{
    struct src *s = heap_pop(it);
    int rc;
    if (s->kind == SRC_BLOCK) {
        rc = s->parked ? 0 : push_next_chunk(it, &it->streams[s->stream], s->stream);
        if (!rc)
            rc = open_block_src(it, s);
    } else {
        rc = open_head_src(it, s);
    }
    if (rc == 1)
        return heap_push(it, s);
    src_free(it, s);
    return rc;
}

/* Moves the source of the entry returned last; drops it at its end. */
static int advance_top(struct logstore_iter *it)
{
    struct src *s = it->heap[0];
    int rc = s->kind == SRC_BLOCK ? advance_block_src(s) : advance_head_src(it, s);
    if (rc == 1) {
        sift_down(it, 0);
        return 0;
    }
    src_free(it, heap_pop(it));
    return rc;
}

/* True when another source in the heap holds an entry of the top's stream and timestamp: by the
 * heap property one of the root's children does then. */
static bool group_shared(const struct logstore_iter *it)
{
    const struct src *s = it->heap[0];
    for (size_t c = 1; c <= 2 && c < it->heap_n; c++) {
        const struct src *o = it->heap[c];
        if (o->opened && o->key == s->key && o->stream == s->stream)
            return true;
    }
    return false;
}

/* True when the top entry repeats one returned in its (stream, timestamp) group. Entries are
 * hashed only in groups that more than one source contributes to: a source never repeats an
 * entry itself (head sources merge without duplicates, block chunks are written without), and
 * every source that can contribute to a group is open and in the heap when the group starts
 * (an unopened source sorts before open ones at its bound). */
static int is_dup(struct logstore_iter *it, const struct src *s, bool *dup)
{
    *dup = false;
    if (!it->grp_started || s->stream != it->grp_stream || s->ts != it->grp_ts) {
        it->grp_started = true;
        it->grp_stream = s->stream;
        it->grp_ts = s->ts;
        it->n_grp = 0;
        it->grp_hashing = group_shared(it);
    }
    if (!it->grp_hashing)
        return 0;
    uint64_t k = ls_entry_key(s->ts, s->line, s->md, s->n_md);
    for (size_t i = 0; i < it->n_grp && !*dup; i++)
        *dup = it->grp[i] == k;
    if (*dup)
        return 0;
    if (ls_grow(&it->grp, &it->cap_grp, it->n_grp + 1, sizeof *it->grp))
        return ERR_NOMEM;
    it->grp[it->n_grp++] = k;
    return 0;
}

static void set_cur(struct logstore_iter *it, const struct src *s)
{
    const struct sel_stream *ss = &it->streams[s->stream];
    it->cur = (struct logstore_entry){s->stream, ss->labels, ss->n_labels, ss->hash,
                                      s->ts,     s->line,    s->md,        s->n_md};
}

int logstore_iter_next(struct logstore_iter *it)
{
    if (it->err)
        return it->err;
    int rc = 0;
    if (it->returned) {
        it->returned = false;
        rc = advance_top(it);
    }
    while (rc >= 0 && it->heap_n) {
        struct src *s = it->heap[0];
        if (!s->opened) {
            if (s->kind == SRC_BLOCK && it->yield_chunks && it->opens_quiet >= it->yield_chunks) {
                it->opens_quiet = 0;
                return LOGSTORE_ITER_YIELD;
            }
            it->opens_quiet += s->kind == SRC_BLOCK;
            rc = open_top(it);
            continue;
        }
        bool dup;
        if ((rc = is_dup(it, s, &dup)) != 0)
            break;
        if (!dup) {
            set_cur(it, s);
            it->returned = true;
            it->opens_quiet = 0;
            it->st.entries++;
            return 1;
        }
        it->st.duplicates++;
        rc = advance_top(it);
    }
    if (rc < 0)
        it->err = rc;
    return rc < 0 ? rc : 0;
}

const struct logstore_entry *logstore_iter_at(const struct logstore_iter *it)
{
    return &it->cur;
}

int logstore_iter_err(const struct logstore_iter *it)
{
    return it->err;
}

void logstore_iter_stats(const struct logstore_iter *it, struct logstore_select_stats *out)
{
    *out = it->st;
    for (const struct dec *d = it->free_decs; d; d = d->next_free)
        out->filtered += d->it.filter_dropped;
    if (it->work)
        out->filtered += it->work->it.filter_dropped;
    for (size_t i = 0; i < it->heap_n; i++)
        if (it->heap[i]->dec)
            out->filtered += it->heap[i]->dec->it.filter_dropped;
}

void logstore_iter_close(struct logstore_iter *it)
{
    if (!it)
        return;
    struct logstore *ls = it->ls;
    LS_STAT_ADD(ls, select_chunks_opened_total, it->st.chunks_opened);
    LS_STAT_ADD(ls, select_chunks_skipped_hint_total, it->st.chunks_skipped_hint);
    while (it->heap_n)
        src_free(it, heap_pop(it));
    for (struct src *s = it->free_srcs, *n; s; s = n) {
        n = s->next_free;
        free(s);
    }
    for (struct dec *d = it->free_decs, *n; d; d = n) {
        n = d->next_free;
        dec_free(d);
    }
    if (it->work)
        dec_free(it->work);
    for (struct head_src *h = it->heads, *n; h; h = n) {
        n = h->next;
        ls_merge_deinit(&h->m);
        buf_deinit(&h->bytes);
        free(h->e);
        free(h->md);
        free(h);
    }
    free(it->heap);
    free(it->needles);
    free(it->grp);
    free(it->streams);
    ls_coll_free(&it->coll);
    ASSERT(ls->open_iters > 0);
    ls->open_iters--;
    free(it);
}

/* ---- construction ---------------------------------------------------------------------------- */

static int by_mint(const void *a, const void *b)
{
    const struct ls_bchunk *x = a, *y = b;
    return (x->c.mint_ms > y->c.mint_ms) - (x->c.mint_ms < y->c.mint_ms);
}

static int by_maxt_desc(const void *a, const void *b)
{
    const struct ls_bchunk *x = a, *y = b;
    return (x->c.maxt_ms < y->c.maxt_ms) - (x->c.maxt_ms > y->c.maxt_ms);
}

static int add_head_src(struct logstore_iter *it, struct sel_stream *ss, uint32_t i)
{
    struct ls_stream *st = ss->head;
    if (st->max_ns < it->start || st->min_ns >= it->end)
        return 0;
    struct head_src *h = calloc(1, sizeof *h);
    struct src *s = h ? src_new(it, SRC_HEAD, i, (uint32_t)ss->n_chunks) : NULL;
    if (!s) {
        free(h);
        return ERR_NOMEM;
    }
    h->st = st;
    ls_merge_init(&h->m);
    buf_init(&h->bytes);
    h->next = it->heads;
    it->heads = h;
    s->h = h;
    s->key = clamp_key(it, it->dir == LOGSTORE_FORWARD ? st->min_ns : st->max_ns);
    return heap_push(it, s);
}

static int build(struct logstore_iter *it)
{
    struct ls_coll *c = &it->coll;
    if (!(it->streams = calloc(c->n_streams ? c->n_streams : 1, sizeof *it->streams)))
        return ERR_NOMEM;
    it->n_streams = c->n_streams;
    int rc = 0;
    for (uint32_t i = 0; i < c->n_streams && !rc; i++) {
        struct sel_stream *ss = &it->streams[i];
        const struct ls_sstream *cs = &c->streams[i];
        *ss = (struct sel_stream){cs->labels, cs->n_labels, hash_labels(cs->labels, cs->n_labels),
                                  cs->head,   cs->chunks,   cs->n_chunks,
                                  0};
        if (ss->n_chunks > 1)
            qsort(ss->chunks, ss->n_chunks, sizeof *ss->chunks,
                  it->dir == LOGSTORE_FORWARD ? by_mint : by_maxt_desc);
        it->st.chunks += ss->n_chunks;
        rc = push_next_chunk(it, ss, i);
        if (!rc && ss->head)
            rc = add_head_src(it, ss, i);
    }
    it->st.streams = c->n_streams;
    return rc;
}

/* The hint's strings, copied into one allocation. */
static int copy_needles(struct logstore_iter *it, const struct logstore_line_hint *hint)
{
    size_t bytes = hint->n * sizeof(struct str);
    for (size_t i = 0; i < hint->n; i++)
        bytes += hint->contains[i].len;
    if (!hint->n || !(it->needles = malloc(bytes)))
        return hint->n ? ERR_NOMEM : 0;
    char *p = (char *)(it->needles + hint->n);
    for (size_t i = 0; i < hint->n; i++) {
        if (hint->contains[i].len)
            memcpy(p, hint->contains[i].ptr, hint->contains[i].len);
        it->needles[i] = (struct str){p, hint->contains[i].len};
        p += hint->contains[i].len;
    }
    it->n_needles = hint->n;
    return 0;
}

int logstore_select(struct logstore *ls, const struct matcher *ms, size_t n, int64_t start_ns,
                    int64_t end_ns, enum logstore_dir dir, const struct logstore_line_hint *hint,
                    struct logstore_iter **out)
{
    return logstore_select_with(ls, ms, n, start_ns, end_ns, dir, hint, NULL, out);
}

int logstore_select_with(struct logstore *ls, const struct matcher *ms, size_t n, int64_t start_ns,
                         int64_t end_ns, enum logstore_dir dir,
                         const struct logstore_line_hint *hint,
                         const struct logstore_select_opts *opts, struct logstore_iter **out)
{
    if (n == 0)
        return ERR_INVALID;
    struct logstore_iter *it = calloc(1, sizeof *it);
    if (!it)
        return ERR_NOMEM;
    it->ls = ls;
    it->start = start_ns;
    it->end = end_ns;
    it->dir = dir;
    if (opts) {
        it->by_stream = opts->order == LOGSTORE_ORDER_STREAM;
        it->filter = opts->filter;
        it->filter_arg = opts->filter_arg;
        it->yield_chunks = opts->yield_chunks;
    }
    it->visible_ms = ls->head.visible_ms;
    it->decs_max = ls->cfg.select_open_chunks_max;
    ls->open_iters++;
    int rc = hint ? copy_needles(it, hint) : 0;
    if (!rc && start_ns < end_ns)
        rc = ls_collect(ls, ms, n, start_ns, end_ns, &it->coll);
    if (!rc)
        rc = build(it);
    if (rc) {
        logstore_iter_close(it);
        return rc;
    }
    LS_STAT_ADD(ls, selects_total, 1);
    *out = it;
    return 0;
}
