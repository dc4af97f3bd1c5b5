/* The log store's side of the background jobs (engine/store/cycle.h runs them on the store's job
 * thread, which owns the blocks directory): the head-cut block (each stream's chunks of the range
 * merged in time order without duplicates and re-encoded into zstd envelope chunks with trigram
 * filters), the compaction rewrite (each stream's log chunks of the compacted blocks decoded and
 * re-encoded at compact_zstd_level into chunks of block_chunk_bytes), the checkpoint filter (live
 * streams, entries from the cut on; the cut is persisted first), and retention per stream (blocks
 * rewritten without the expired chunks of streams whose retention is shorter than the overall one).
 */
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/log.h"
#include "engine/logs/logstore_internal.h"
#include "engine/tsdb/block_internal.h"

/* Removes block i from the directory list and deletes it. */
static void cd_delete_at(struct compact_dir *cd, size_t i, const char *why)
{
    struct block *b = cd->blocks[i];
    log_info("logs block deleted", LOG_STR("block", block_dir(b)), LOG_STR("reason", why));
    memmove(cd->blocks + i, cd->blocks + i + 1, (cd->n - i - 1) * sizeof *cd->blocks);
    cd->n--;
    block_mark_deleted(b);
    block_unref(b);
}

static bool same_sources(const struct blockindex_meta *a, const struct blockindex_meta *b)
{
    return a->min_time_ms == b->min_time_ms && a->max_time_ms == b->max_time_ms &&
           blockindex_meta_covers(a, b) && blockindex_meta_covers(b, a);
}

void ls_blocks_drop_rewritten(struct compact_dir *cd)
{
    for (size_t i = 0; i < cd->n; i++) {
        for (size_t j = i + 1; j < cd->n; j++) {
            const struct blockindex_meta *a = block_meta(cd->blocks[i]);
            const struct blockindex_meta *b = block_meta(cd->blocks[j]);
            if (!same_sources(a, b))
                continue;
            /* the newer ULID is the finished rewrite of the older one */
            bool older_i = blockindex_ulid_cmp(&a->ulid, &b->ulid) < 0;
            cd_delete_at(cd, older_i ? i : j, "superseded by a retention rewrite");
            i = (size_t)-1; /* start over: indices moved */
            break;
        }
    }
}

int64_t ls_retention_for(const struct logstore_config *c, const struct label *l, size_t n)
{
    const struct logstore_retention_rule *best = NULL;
    for (size_t i = 0; i < c->n_retention_rules; i++) {
        const struct logstore_retention_rule *r = &c->retention_rules[i];
        bool all = true;
        for (size_t k = 0; k < r->n && all; k++) {
            struct str v = {"", 0};
            for (size_t j = 0; j < n; j++)
                if (str_eq(l[j].name, r->ms[k].name))
                    v = l[j].value;
            all = matcher_matches(&r->ms[k], v);
        }
        if (!all)
            continue;
        if (best && (best->priority > r->priority ||
                     (best->priority == r->priority && best->period_ms <= r->period_ms)))
            continue;
        best = r;
    }
    return best ? best->period_ms : c->retention_ms;
}

/* ---- block chunk encoding: entries in time order into envelope chunks ------------------------
 */

/* Encodes one stream's entries (in time order, duplicates already dropped) into envelope chunks
 * of about block_chunk_bytes uncompressed; shared by the cut and the compaction rewrite. */
struct chunk_enc {
    uint32_t target_bytes;
    struct logchunk_writer w;
    struct logblock_enc enc;
    int64_t c_mint, c_maxt; /* of the chunk being built */
    uint32_t c_entries;
    uint64_t c_lines;
    struct buf data;
    struct chunk_meta *chunks;
    size_t n_chunks, cap_chunks;
    uint64_t raw_bytes, chunk_bytes;
};

static void chunk_enc_init(struct chunk_enc *e, const struct logstore_config *cfg, int zstd_level)
{
    memset(e, 0, sizeof *e);
    e->target_bytes = cfg->block_chunk_bytes;
    struct logchunk_writer_opts o = {.block_target_bytes = cfg->head_block_bytes,
                                     .store_uncompressed = zstd_level > 0};
    logchunk_writer_init(&e->w, &o);
    logblock_enc_init(&e->enc, zstd_level, cfg->block_filter);
    buf_init(&e->data);
}

static void chunk_enc_deinit(struct chunk_enc *e)
{
    logchunk_writer_deinit(&e->w);
    logblock_enc_deinit(&e->enc);
    buf_deinit(&e->data);
    free(e->chunks);
}

static void chunk_enc_reset(struct chunk_enc *e)
{
    e->n_chunks = 0;
    buf_reset(&e->data);
}

static int chunk_enc_flush(struct chunk_enc *e)
{
    if (!e->c_entries)
        return 0;
    uint8_t *bytes;
    size_t len;
    int rc = logchunk_writer_finish(&e->w, &bytes, &len);
    if (rc)
        return rc;
    size_t off = e->data.len;
    rc = logblock_enc_finish(&e->enc, bytes, len, e->c_mint, e->c_maxt, e->c_entries, e->c_lines,
                             &e->data);
    free(bytes);
    if (rc)
        return rc;
    if (e->n_chunks == e->cap_chunks) {
        size_t cap = e->cap_chunks ? e->cap_chunks * 2 : 8;
        struct chunk_meta *c = realloc(e->chunks, cap * sizeof *c);
        if (!c)
            return ERR_NOMEM;
        e->chunks = c;
        e->cap_chunks = cap;
    }
    e->chunks[e->n_chunks++] = (struct chunk_meta){
        .mint_ms = ls_ns_to_ms(e->c_mint),
        .maxt_ms = ls_ns_to_ms(e->c_maxt),
        .samples = e->c_entries,
        .encoding = CHUNK_LOG,
        .data = (const uint8_t *)(uintptr_t)off, /* fixed up by chunk_enc_finish */
        .len = e->data.len - off,
    };
    e->raw_bytes += e->c_lines;
    e->chunk_bytes += e->data.len - off;
    e->c_entries = 0;
    e->c_lines = 0;
    return 0;
}

/* Appends an encoded chunk as it is (nothing may be pending). */
static int chunk_enc_pass(struct chunk_enc *e, const struct chunk_meta *c)
{
    if (e->n_chunks == e->cap_chunks) {
        size_t cap = e->cap_chunks ? e->cap_chunks * 2 : 8;
        struct chunk_meta *p = realloc(e->chunks, cap * sizeof *p);
        if (!p)
            return ERR_NOMEM;
        e->chunks = p;
        e->cap_chunks = cap;
    }
    size_t off = e->data.len;
    if (buf_append(&e->data, c->data, c->len))
        return ERR_NOMEM;
    e->chunks[e->n_chunks] = *c;
    e->chunks[e->n_chunks++].data = (const uint8_t *)(uintptr_t)off;
    return 0;
}

/* Appends one entry; a chunk ends at the target size, and only where the millisecond changes, so
 * a stream's chunks never overlap in block time (compaction's merge never meets two). */
static int chunk_enc_entry(struct chunk_enc *e, const struct logchunk_entry *en)
{
    int rc;
    if (e->c_entries && ls_ns_to_ms(en->ts_ns) > ls_ns_to_ms(e->c_maxt)) {
        struct logchunk_stats st;
        logchunk_writer_stats(&e->w, &st);
        if (st.bytes_uncompressed >= e->target_bytes && (rc = chunk_enc_flush(e)) != 0)
            return rc;
    }
    if ((rc = logchunk_writer_append(&e->w, en->ts_ns, en->line, en->md, en->md_count)) != 0 ||
        (rc = logblock_enc_line(&e->enc, en->line)) != 0)
        return rc;
    if (!e->c_entries)
        e->c_mint = en->ts_ns;
    e->c_maxt = en->ts_ns;
    e->c_entries++;
    e->c_lines += en->line.len;
    return 0;
}

/* Flushes the last chunk of the stream and points the chunks at their bytes. */
static int chunk_enc_finish(struct chunk_enc *e)
{
    int rc = chunk_enc_flush(e);
    if (rc)
        return rc;
    for (size_t i = 0; i < e->n_chunks; i++)
        e->chunks[i].data = e->data.data + (uintptr_t)e->chunks[i].data;
    return 0;
}

/* ---- the cut: a chunk series set re-encoding each stream of the snapshot ----------------------
 */

struct cut_set {
    struct chunk_series_set base;
    const struct ls_snap *snap;
    size_t next;
    int64_t mint_ns, maxt_ns;
    struct ls_merge m;
    struct chunk_enc e;
    struct chunk_series cur;
};

static int cut_series(struct cut_set *s, const struct ls_snap_stream *ss)
{
    chunk_enc_reset(&s->e);
    ls_merge_reset(&s->m, s->mint_ns, s->maxt_ns, LOGCHUNK_FORWARD);
    int rc = 0;
    for (size_t i = 0; i < ss->n_chunks && !rc; i++)
        rc = ls_merge_add_chunk(&s->m, ss->chunks[i]->bytes, ss->chunks[i]->len);
    while (!rc && (rc = ls_merge_next(&s->m)) == 1)
        rc = chunk_enc_entry(&s->e, s->m.cur);
    if (!rc)
        rc = chunk_enc_finish(&s->e);
    if (rc)
        return rc;
    s->cur = (struct chunk_series){ss->labels, ss->n_labels, s->e.chunks, s->e.n_chunks};
    return 0;
}

static int cut_next(struct chunk_series_set *base)
{
    struct cut_set *s = (struct cut_set *)base;
    if (s->base.err)
        return s->base.err;
    if (s->next >= s->snap->n)
        return 0;
    int rc = cut_series(s, &s->snap->s[s->next++]);
    if (rc)
        return s->base.err = rc;
    return 1;
}

static const struct chunk_series *cut_at(struct chunk_series_set *base)
{
    return &((struct cut_set *)base)->cur;
}

static void cut_close(struct chunk_series_set *base)
{
    (void)base; /* owned by write_block's frame */
}

static const struct chunk_series_set_ops cut_ops = {cut_next, cut_at, cut_close};

static int snap_cmp(const void *a, const void *b)
{
    const struct ls_snap_stream *x = a, *y = b;
    return labels_cmp(x->labels, x->n_labels, y->labels, y->n_labels);
}

static int write_block(void *ctx, const char *blocks_dir, struct store_job *j)
{
    struct ls_worker *w = ctx;
    struct ls_snap *snap = j->snap;
    if (snap->n > 1)
        qsort(snap->s, snap->n, sizeof *snap->s, snap_cmp);
    struct cut_set s = {.base = {.ops = &cut_ops},
                        .snap = snap,
                        .mint_ns = ls_ms_to_ns(j->mint_ms),
                        .maxt_ns = ls_ms_to_ns(j->maxt_ms)};
    ls_merge_init(&s.m);
    chunk_enc_init(&s.e, w->cfg, w->cfg->block_zstd_level);
    int rc = block_write(blocks_dir, &s.base, j->mint_ms, j->maxt_ms, &j->meta);
    j->raw_bytes = s.e.raw_bytes;
    j->chunk_bytes = s.e.chunk_bytes;
    ls_merge_deinit(&s.m);
    chunk_enc_deinit(&s.e);
    return rc;
}

/* ---- compaction: each stream's log chunks re-encoded -----------------------------------------
 */

/* Wraps compaction's merged set: every series' log chunks (sorted, non-overlapping: merge_set
 * refuses overlapping log chunks with ERR_UNSUPPORTED, so the inputs stay as they are then) are
 * decoded in order and re-encoded at compact_zstd_level into chunks of block_chunk_bytes with
 * new filters. Entries come out exactly as they went in. A chunk of at least block_chunk_bytes
 * that comes from an input which is itself the output of a compaction (level >= 2: its chunks are
 * at the compaction level already; told by the chunk's time range, which lies within exactly one
 * input) is passed through as it is, and only runs of smaller chunks are merged: the higher levels
 * do not encode the same data again. */
struct recompact_set {
    struct chunk_series_set base;
    struct chunk_series_set *in;
    struct recompact_input {
        int64_t mint_ms, maxt_ms; /* [mint, maxt) */
        bool compacted;           /* level >= 2 */
    } * inputs;
    size_t n_inputs;
    struct logblock_dec dec;
    struct logchunk_reader r;
    struct logchunk_iter it;
    struct chunk_enc e;
    struct chunk_series cur;
};

/* True when c lies within exactly one input and that input was written by a compaction. */
static bool from_compacted(const struct recompact_set *s, const struct chunk_meta *c)
{
    size_t hits = 0;
    bool compacted = false;
    for (size_t i = 0; i < s->n_inputs; i++) {
        const struct recompact_input *in = &s->inputs[i];
        if (c->mint_ms < in->maxt_ms && c->maxt_ms >= in->mint_ms) {
            hits++;
            compacted = in->compacted && c->mint_ms >= in->mint_ms && c->maxt_ms < in->maxt_ms;
        }
    }
    return hits == 1 && compacted;
}

static int recompact_chunk(struct recompact_set *s, const struct chunk_meta *c)
{
    if (c->encoding != CHUNK_LOG)
        return ERR_UNSUPPORTED;
    struct logblock_info bi;
    const uint8_t *raw;
    size_t len;
    int rc = logblock_decode(c->data, c->len, &bi);
    if (!rc && bi.raw_len >= s->e.target_bytes && from_compacted(s, c)) {
        rc = chunk_enc_flush(&s->e);
        return rc ? rc : chunk_enc_pass(&s->e, c);
    }
    if (!rc)
        rc = logblock_dec_chunk(&s->dec, &bi, &raw, &len);
    if (!rc)
        rc = logchunk_reader_open(&s->r, raw, len);
    if (rc)
        return rc;
    logchunk_iter_open_reader(&s->it, &s->r, INT64_MIN, INT64_MAX, LOGCHUNK_FORWARD);
    uint32_t n = 0;
    while (!rc && logchunk_iter_next(&s->it)) {
        rc = chunk_enc_entry(&s->e, logchunk_iter_at(&s->it));
        n++;
    }
    if (!rc)
        rc = logchunk_iter_err(&s->it);
    if (!rc && n != bi.entries)
        rc = ERR_CORRUPT; /* the envelope and its chunk disagree */
    return rc;
}

static int recompact_next(struct chunk_series_set *base)
{
    struct recompact_set *s = (struct recompact_set *)base;
    if (s->base.err)
        return s->base.err;
    int rc = chunk_series_set_next(s->in);
    if (rc != 1)
        return rc < 0 ? (s->base.err = rc) : 0;
    const struct chunk_series *cs = chunk_series_set_at(s->in);
    chunk_enc_reset(&s->e);
    rc = 0;
    for (size_t i = 0; i < cs->n_chunks && !rc; i++)
        rc = recompact_chunk(s, &cs->chunks[i]);
    rc = rc ? rc : chunk_enc_finish(&s->e);
    if (rc)
        return s->base.err = rc;
    s->cur = (struct chunk_series){cs->labels, cs->n_labels, s->e.chunks, s->e.n_chunks};
    return 1;
}

static const struct chunk_series *recompact_at(struct chunk_series_set *base)
{
    return &((struct recompact_set *)base)->cur;
}

static void recompact_close(struct chunk_series_set *base)
{
    struct recompact_set *s = (struct recompact_set *)base;
    chunk_series_set_close(s->in);
    logblock_dec_deinit(&s->dec);
    logchunk_iter_deinit(&s->it);
    chunk_enc_deinit(&s->e);
    free(s->inputs);
    free(s);
}

static const struct chunk_series_set_ops recompact_ops = {recompact_next, recompact_at,
                                                          recompact_close};

/* compact_rewrite_fn of the log store; arg is the store's config. */
static int recompact_wrap(void *arg, struct block *const *in, size_t n,
                          struct chunk_series_set *merged, struct chunk_series_set **out)
{
    const struct logstore_config *cfg = arg;
    struct recompact_set *s = calloc(1, sizeof *s);
    struct recompact_input *inputs = calloc(n ? n : 1, sizeof *inputs);
    if (!s || !inputs) {
        free(s);
        free(inputs);
        chunk_series_set_close(merged);
        return ERR_NOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        const struct blockindex_meta *m = block_meta(in[i]);
        inputs[i] = (struct recompact_input){m->min_time_ms, m->max_time_ms, m->level >= 2};
    }
    s->base.ops = &recompact_ops;
    s->in = merged;
    s->inputs = inputs;
    s->n_inputs = n;
    logblock_dec_init(&s->dec);
    logchunk_iter_init(&s->it);
    chunk_enc_init(&s->e, cfg, cfg->compact_zstd_level);
    *out = &s->base;
    return 0;
}

/* ---- checkpoint ---------------------------------------------------------------------------- */

static void checkpoint_keep(struct wal_keep *k)
{
    k->stream = store_keep_id;
    k->entry = store_keep_ts_ns;
}

/* Once the checkpoint drops removed streams their ids may be reused: never again accept (or
 * replay) entries before the cut. */
static int checkpoint_before(void *ctx, const struct store_job *j)
{
    const struct ls_worker *w = ctx;
    return ls_state_write(w->state_path, j->alive->cut_ms);
}

/* ---- retention per stream ------------------------------------------------------------------ */

/* A block's series with the chunks that have not expired (chunk end >= now - the stream's
 * retention); series left without chunks are skipped. */
struct keep_set {
    struct chunk_series_set base;
    struct chunk_series_set *in;
    const struct logstore_config *cfg;
    int64_t now_ms;
    struct chunk_meta *chunks;
    size_t cap;
    struct chunk_series cur;
    size_t dropped;
};

static bool expired(const struct logstore_config *cfg, int64_t now_ms, const struct label *l,
                    size_t n, const struct chunk_meta *c)
{
    int64_t period = ls_retention_for(cfg, l, n);
    return period > 0 && c->maxt_ms < now_ms - period;
}

static int keep_next(struct chunk_series_set *base)
{
    struct keep_set *s = (struct keep_set *)base;
    int rc;
    while ((rc = chunk_series_set_next(s->in)) == 1) {
        const struct chunk_series *cs = chunk_series_set_at(s->in);
        if (cs->n_chunks > s->cap) {
            struct chunk_meta *c = realloc(s->chunks, cs->n_chunks * sizeof *c);
            if (!c)
                return s->base.err = ERR_NOMEM;
            s->chunks = c;
            s->cap = cs->n_chunks;
        }
        size_t k = 0;
        for (size_t i = 0; i < cs->n_chunks; i++) {
            if (expired(s->cfg, s->now_ms, cs->labels, cs->n_labels, &cs->chunks[i]))
                s->dropped++;
            else
                s->chunks[k++] = cs->chunks[i];
        }
        if (!k)
            continue;
        s->cur = (struct chunk_series){cs->labels, cs->n_labels, s->chunks, k};
        return 1;
    }
    return rc < 0 ? (s->base.err = rc) : 0;
}

static const struct chunk_series *keep_at(struct chunk_series_set *base)
{
    return &((struct keep_set *)base)->cur;
}

static const struct chunk_series_set_ops keep_ops = {keep_next, keep_at, cut_close};

/* The earliest time (ms) at which some chunk of b expires; INT64_MAX: never. *due when one
 * already has. Reads only the block's series entries (labels and chunk refs). */
static int block_expiry(struct block *b, const struct logstore_config *cfg, int64_t now_ms,
                        int64_t *next, bool *due)
{
    struct blockindex_series ser;
    blockindex_series_init(&ser);
    struct buf scratch = BUF_INIT;
    uint32_t n_syms;
    const struct str *syms = block_symbols(b, &n_syms);
    struct label *lbuf = NULL;
    size_t cap = 0;
    *next = INT64_MAX;
    *due = false;
    int rc = 0;
    for (uint32_t id = 0; id < block_n_series(b) && !rc; id++) {
        if ((rc = block_series_read(b, id, &scratch, &ser)) != 0)
            break;
        if (ser.n_labels > cap) {
            struct label *p = realloc(lbuf, ser.n_labels * sizeof *p);
            if (!p) {
                rc = ERR_NOMEM;
                break;
            }
            lbuf = p;
            cap = ser.n_labels;
        }
        for (size_t i = 0; i < ser.n_labels; i++)
            lbuf[i] = (struct label){syms[ser.refs[2 * i]], syms[ser.refs[2 * i + 1]]};
        int64_t period = ls_retention_for(cfg, lbuf, ser.n_labels);
        if (period <= 0)
            continue;
        for (size_t i = 0; i < ser.n_chunks; i++) {
            int64_t at = ser.chunks[i].maxt_ms + period + 1;
            *due |= at <= now_ms;
            *next = at < *next ? at : *next;
        }
    }
    free(lbuf);
    blockindex_series_deinit(&ser);
    buf_deinit(&scratch);
    return rc;
}

/* The remembered earliest expiry of a block (INT64_MIN: not known yet). */
static int64_t expiry_get(const struct ls_worker *w, const struct block *b)
{
    for (size_t i = 0; i < w->n_exp; i++)
        if (!blockindex_ulid_cmp(&w->exp[i].ulid, &block_meta(b)->ulid))
            return w->exp[i].next_ms;
    return INT64_MIN;
}

static void expiry_set(struct ls_worker *w, const struct block *b, int64_t next_ms)
{
    if (w->n_exp > 2 * w->cd.n + 16)
        w->n_exp = 0; /* forget blocks that went away */
    if (w->n_exp == w->cap_exp) {
        size_t cap = w->cap_exp ? w->cap_exp * 2 : 16;
        void *p = realloc(w->exp, cap * sizeof *w->exp);
        if (!p)
            return; /* computed again next time */
        w->exp = p;
        w->cap_exp = cap;
    }
    w->exp[w->n_exp++] = (struct ls_expiry){block_meta(b)->ulid, next_ms};
}

static int rewrite_block(struct ls_worker *w, size_t i, int64_t now_ms, struct store_job *j)
{
    struct block *b = w->cd.blocks[i];
    const struct blockindex_meta *bm = block_meta(b);
    struct keep_set ks = {.base = {.ops = &keep_ops}, .cfg = w->cfg, .now_ms = now_ms};
    int rc = block_select(b, NULL, 0, INT64_MIN, INT64_MAX, &ks.in);
    if (rc)
        return rc;
    struct blockindex_meta meta;
    blockindex_meta_init(&meta);
    meta.level = bm->level;
    rc = blockindex_meta_set_sources(&meta, bm->sources, bm->n_sources);
    if (!rc)
        rc = block_write(w->blocks_dir, &ks.base, bm->min_time_ms, bm->max_time_ms, &meta);
    chunk_series_set_close(ks.in);
    free(ks.chunks);
    char name[BLOCKINDEX_ULID_CHARS + 1];
    blockindex_ulid_format(&meta.ulid, name);
    blockindex_meta_deinit(&meta);
    if (rc && rc != ERR_EMPTY)
        return rc;
    j->chunks_dropped += ks.dropped;
    if (rc == 0 && (rc = compact_dir_add(&w->cd, name)) != 0)
        return rc;
    for (size_t k = 0; k < w->cd.n; k++) /* compact_dir_add re-sorted the list */
        if (w->cd.blocks[k] == b) {
            cd_delete_at(&w->cd, k, "retention: streams rewritten");
            break;
        }
    j->rewritten++;
    return 0;
}

/* Rewrites every block holding chunks past their stream's retention. A block is read again
 * only once its earliest expiry (remembered while the store runs) has come. */
static int retention_streams(void *ctx, struct compact_dir *cd, struct store_job *j)
{
    struct ls_worker *w = ctx;
    (void)cd; /* w->cd */
    if (!w->cfg->n_retention_rules)
        return 0;
    for (size_t i = 0; i < w->cd.n;) {
        struct block *b = w->cd.blocks[i];
        int64_t next = expiry_get(w, b);
        bool due = false;
        if (next != INT64_MIN && next > j->now_ms) {
            i++;
            continue;
        }
        int rc = block_expiry(b, w->cfg, j->now_ms, &next, &due);
        if (rc == ERR_CORRUPT) {
            i++;
            continue; /* the block recorded its fault: quarantined by the next compaction job */
        }
        if (rc)
            return rc;
        if (!due) {
            expiry_set(w, b, next);
            i++;
            continue;
        }
        if ((rc = rewrite_block(w, i, j->now_ms, j)) != 0)
            return rc;
        i = 0; /* the list changed; the rewrite is no longer due */
    }
    return 0;
}

/* ---- the worker ---------------------------------------------------------------------------- */

static const struct store_worker_ops worker_ops = {
    .quarantine_msg = "logs block corrupt, quarantining",
    .write_block = write_block,
    .checkpoint_keep = checkpoint_keep,
    .checkpoint_before = checkpoint_before,
    .retention = retention_streams,
};

int ls_worker_start(struct ls_worker *w)
{
    /* compaction runs on the worker thread only: its rewrite is installed before that starts */
    if (w->cfg->compact_zstd_level > 0) {
        w->cd.o.rewrite = recompact_wrap;
        w->cd.o.rewrite_arg = (void *)w->cfg;
    }
    w->run = (struct store_worker){&w->cd, w->wal_dir, w->blocks_dir, &worker_ops, w};
    return store_worker_start(&w->jt, &w->run);
}

void ls_worker_stop(struct ls_worker *w)
{
    store_worker_stop(&w->jt, &w->cd);
}
