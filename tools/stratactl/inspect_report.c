/* stratactl inspect: the report as text tables and as one JSON document (field list in
 * docs/stratactl.md). */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "formats/jsonw.h"
#include "tools/stratactl/inspect.h"
#include "tools/stratactl/table.h"

static double per_sample(uint64_t bytes, uint64_t samples)
{
    return samples ? (double)bytes / (double)samples : 0;
}

/* ---- text ---- */

static int text_blocks(const struct ctl_shard *s, struct buf *b)
{
    static const char *const hdr[] = {"ULID",    "MIN TIME", "MAX TIME", "LEVEL",    "SERIES",
                                      "SAMPLES", "CHUNKS",   "SIZE",     "B/SAMPLE", "NOTE"};
    struct ctl_table t;
    ctl_table_init(&t, 10, hdr, "lllrrrrrrl");
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < s->n_blocks; i++) {
        const struct ctl_block *k = &s->blocks[i];
        char mn[32], mx[32], lv[16], se[24], sa[24], ch[24], sz[32], bps[32], note[64];
        ctl_fmt_time(k->min_time_ms, mn);
        ctl_fmt_time(k->max_time_ms, mx);
        snprintf(lv, sizeof lv, "%u", k->level);
        snprintf(se, sizeof se, "%" PRIu64, k->series);
        snprintf(sa, sizeof sa, "%" PRIu64, k->samples);
        snprintf(ch, sizeof ch, "%" PRIu64, k->chunks);
        ctl_fmt_bytes(k->size_bytes, sz);
        snprintf(bps, sizeof bps, "%.2f", per_sample(k->size_bytes, k->samples));
        snprintf(note, sizeof note, "%s",
                 k->err          ? err_str(k->err)
                 : k->superseded ? "superseded"
                                 : "");
        const char *row[] = {k->ulid, mn, mx, lv, se, sa, ch, sz, bps, note};
        if (k->err)
            row[1] = row[2] = row[3] = row[4] = row[5] = row[6] = row[8] = "-";
        rc = ctl_table_row(&t, row);
    }
    if (rc == 0)
        rc = buf_printf(b, "  blocks: %zu (%u more being written or deleted)\n", s->n_blocks,
                        s->tmp_dirs);
    if (rc == 0 && s->n_blocks)
        rc = ctl_table_print(&t, "    ", b);
    ctl_table_deinit(&t);
    return rc;
}

static int text_head(const struct ctl_shard *s, struct buf *b)
{
    const struct ctl_head *h = &s->head;
    char mn[32], mx[32], mv[32], fb[32];
    ctl_fmt_time(h->min_time_ms, mn);
    ctl_fmt_time(h->max_time_ms, mx);
    ctl_fmt_time(h->min_valid_time_ms, mv);
    ctl_fmt_bytes(h->chunk_file_bytes, fb);
    return buf_printf(b,
                      "  head: %" PRIu64 " series (%" PRIu64 " with samples), %" PRIu64
                      " samples, %" PRIu64 " chunks, %s .. %s (min valid time %s)\n"
                      "  head chunk files: %u, %s\n",
                      h->series, h->series_with_samples, h->samples, h->chunks, mn, mx, mv,
                      h->chunk_files, fb);
}

static int text_wal(const struct ctl_shard *s, struct buf *b)
{
    const struct ctl_wal *w = &s->wal;
    char sb[32], cb[32];
    ctl_fmt_bytes(w->segment_bytes, sb);
    ctl_fmt_bytes(w->checkpoint_bytes, cb);
    int rc = buf_printf(b, "  wal: segments %u (%08u..%08u), %s; checkpoint %08u, %s\n",
                        w->segments, w->first_segment, w->last_segment, sb, w->checkpoint, cb);
    if (rc == 0)
        rc = buf_printf(b,
                        "  wal replay: %" PRIu64 " records, %" PRIu64 " series, %" PRIu64
                        " samples (%" PRIu64 " skipped), %" PRIu64 " series conflicts\n",
                        w->records, w->series_items, w->sample_items, w->samples_skipped,
                        w->series_conflicts);
    if (rc == 0 && w->tail_err)
        rc = buf_printf(
            b, "  wal tail: %s in segment %08u at offset %" PRIu64 " (%" PRIu64 " bytes)\n",
            w->tail_err == ERR_TRUNCATED ? "torn" : "damaged", w->tail_segment, w->tail_offset,
            w->tail_lost_bytes);
    if (rc == 0 && w->damaged_files)
        rc = buf_printf(b, "  wal damage: %u files skipped, %" PRIu64 " bytes lost\n",
                        w->damaged_files, w->damaged_lost_bytes);
    return rc;
}

static int text_quarantine(const struct ctl_shard *s, struct buf *b)
{
    int rc = buf_printf(b, "  quarantined blocks: %zu\n", s->n_quar);
    if (rc || !s->n_quar)
        return rc;
    static const char *const hdr[] = {"NAME", "SIZE", "MIN TIME", "MAX TIME", "SERIES", "SAMPLES"};
    struct ctl_table t;
    ctl_table_init(&t, 6, hdr, "lrllrr");
    for (size_t i = 0; rc == 0 && i < s->n_quar; i++) {
        const struct ctl_quarantined *q = &s->quar[i];
        char sz[32], mn[32] = "-", mx[32] = "-", se[24] = "-", sa[24] = "-";
        ctl_fmt_bytes(q->size_bytes, sz);
        if (q->have_meta) {
            ctl_fmt_time(q->min_time_ms, mn);
            ctl_fmt_time(q->max_time_ms, mx);
            snprintf(se, sizeof se, "%" PRIu64, q->series);
            snprintf(sa, sizeof sa, "%" PRIu64, q->samples);
        }
        const char *row[] = {q->name, sz, mn, mx, se, sa};
        rc = ctl_table_row(&t, row);
    }
    if (rc == 0)
        rc = ctl_table_print(&t, "    ", b);
    ctl_table_deinit(&t);
    return rc;
}

static int text_totals(const struct ctl_totals *t, const char *indent, struct buf *b)
{
    char mn[32], mx[32], bb[32], wb[32], cb[32], qb[32];
    ctl_fmt_time(t->min_time_ms, mn);
    ctl_fmt_time(t->max_time_ms, mx);
    ctl_fmt_bytes(t->block_bytes, bb);
    ctl_fmt_bytes(t->wal_bytes, wb);
    ctl_fmt_bytes(t->chunk_file_bytes, cb);
    ctl_fmt_bytes(t->quarantined_bytes, qb);
    return buf_printf(b,
                      "%sblocks %" PRIu64 " (%" PRIu64 " series, %" PRIu64 " samples, %s, %.2f "
                      "bytes/sample)\n"
                      "%shead %" PRIu64 " series, %" PRIu64 " samples\n"
                      "%ssamples %" PRIu64 ", time range %s .. %s\n"
                      "%sdisk: blocks %s, wal %s, head chunk files %s; quarantined %" PRIu64
                      " blocks (%s), unreadable %" PRIu64 "\n",
                      indent, t->blocks, t->block_series, t->block_samples, bb,
                      per_sample(t->block_bytes, t->block_samples), indent, t->head_series,
                      t->head_samples, indent, t->samples, mn, mx, indent, bb, wb, cb,
                      t->quarantined, qb, t->unreadable);
}

static int text_top(const struct ctl_report *r, enum ctl_top_kind kind, uint32_t top, struct buf *b)
{
    struct ctl_top_entry *e;
    size_t n;
    int rc = ctl_analysis_top(&r->an, kind, top, &e, &n);
    if (rc)
        return rc;
    static const char *const hdr[] = {"COUNT", "KEY"};
    struct ctl_table t;
    ctl_table_init(&t, 2, hdr, "rl");
    struct buf key = BUF_INIT;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        char cnt[24];
        snprintf(cnt, sizeof cnt, "%" PRIu64, e[i].count);
        buf_reset(&key);
        if (kind == CTL_TOP_VALUE_LENGTHS)
            rc = buf_printf(&key, "%" PRIu64, e[i].length);
        else if (kind == CTL_TOP_PAIR_SERIES)
            rc = ctl_fmt_labels(&key, &(struct label){e[i].name, e[i].value}, 1);
        else
            rc = buf_append(&key, e[i].name.ptr, e[i].name.len);
        if (rc == 0 && (rc = buf_cstr(&key)) == 0)
            rc = ctl_table_row(&t, (const char *const[]){cnt, (const char *)key.data});
    }
    if (rc == 0)
        rc = buf_printf(b, "\n%s:\n", ctl_top_title(kind));
    if (rc == 0)
        rc = ctl_table_print(&t, "  ", b);
    buf_deinit(&key);
    ctl_table_deinit(&t);
    free(e);
    return rc;
}

int ctl_report_text(const struct ctl_report *r, uint32_t top, struct buf *b)
{
    int rc = buf_printf(b, "data directory %s: %zu shards", r->data_dir, r->n_shards);
    if (rc == 0 && r->shards_declared)
        rc = buf_printf(b, " (strata.json: %u)", r->shards_declared);
    if (rc == 0)
        rc = buf_append_u8(b, '\n');
    for (size_t i = 0; rc == 0 && i < r->n_shards; i++) {
        const struct ctl_shard *s = &r->shards[i];
        struct ctl_totals t;
        ctl_shard_totals(s, &t);
        rc = buf_printf(b, "\nshard %u (%s)\n", s->no, s->dir);
        if (rc == 0)
            rc = text_blocks(s, b);
        if (rc == 0)
            rc = text_head(s, b);
        if (rc == 0)
            rc = text_wal(s, b);
        if (rc == 0)
            rc = text_quarantine(s, b);
        if (rc == 0)
            rc = buf_printf(b, "  total:\n");
        if (rc == 0)
            rc = text_totals(&t, "    ", b);
    }
    struct ctl_totals t;
    ctl_report_totals(r, &t);
    if (rc == 0)
        rc = buf_printf(b, "\ntotal:\n");
    if (rc == 0)
        rc = text_totals(&t, "  ", b);
    if (rc == 0 && r->analyzed)
        rc = buf_printf(b,
                        "\ncardinality: %" PRIu64 " distinct series, %zu label names, %zu label "
                        "pairs (blocks and head merged)\n",
                        r->an.series, ctl_analysis_names(&r->an), ctl_analysis_pairs(&r->an));
    for (int k = 0; rc == 0 && r->analyzed && k < CTL_TOP_KINDS_; k++)
        rc = text_top(r, (enum ctl_top_kind)k, top, b);
    if (rc == 0 && r->warn.n)
        rc = buf_printf(b, "\nwarnings: %zu\n", r->warn.n);
    for (size_t i = 0; rc == 0 && i < r->warn.n; i++)
        rc = buf_printf(b, "  %s\n", r->warn.v[i]);
    return rc;
}

/* ---- JSON ---- */

static void j_time(struct jsonw *w, const char *key, int64_t ms)
{
    char k[48], s[32];
    snprintf(k, sizeof k, "%s_ms", key);
    jsonw_key_cstr(w, k);
    if (ms == INT64_MIN || ms == INT64_MAX) {
        jsonw_null(w);
        jsonw_key_cstr(w, key);
        jsonw_null(w);
        return;
    }
    jsonw_int(w, ms);
    ctl_fmt_time(ms, s);
    jsonw_key_cstr(w, key);
    jsonw_cstr(w, s);
}

static void j_uint(struct jsonw *w, const char *key, uint64_t v)
{
    jsonw_key_cstr(w, key);
    jsonw_uint(w, v);
}

static void j_block(struct jsonw *w, const struct ctl_block *k)
{
    jsonw_obj_begin(w);
    jsonw_key_cstr(w, "ulid");
    jsonw_cstr(w, k->ulid);
    jsonw_key_cstr(w, "dir");
    jsonw_cstr(w, k->dir);
    if (k->err) {
        jsonw_key_cstr(w, "error");
        jsonw_cstr(w, err_str(k->err));
        jsonw_key_cstr(w, "fault_file");
        jsonw_cstr(w, k->fault.file);
        j_uint(w, "fault_offset", k->fault.offset);
        j_uint(w, "size_bytes", k->size_bytes);
        jsonw_obj_end(w);
        return;
    }
    j_time(w, "min_time", k->min_time_ms);
    j_time(w, "max_time", k->max_time_ms);
    j_uint(w, "level", k->level);
    j_uint(w, "series", k->series);
    j_uint(w, "samples", k->samples);
    j_uint(w, "chunks", k->chunks);
    j_uint(w, "size_bytes", k->size_bytes);
    jsonw_key_cstr(w, "bytes_per_sample");
    jsonw_float(w, per_sample(k->size_bytes, k->samples));
    jsonw_key_cstr(w, "superseded");
    jsonw_bool(w, k->superseded);
    jsonw_obj_end(w);
}

static void j_head(struct jsonw *w, const struct ctl_head *h)
{
    jsonw_key_cstr(w, "head");
    jsonw_obj_begin(w);
    j_uint(w, "series", h->series);
    j_uint(w, "series_with_samples", h->series_with_samples);
    j_uint(w, "samples", h->samples);
    j_uint(w, "chunks", h->chunks);
    j_time(w, "min_time", h->min_time_ms);
    j_time(w, "max_time", h->max_time_ms);
    j_time(w, "min_valid_time", h->min_valid_time_ms);
    j_uint(w, "chunk_files", h->chunk_files);
    j_uint(w, "chunk_file_bytes", h->chunk_file_bytes);
    jsonw_obj_end(w);
}

static void j_wal(struct jsonw *w, const struct ctl_wal *x)
{
    jsonw_key_cstr(w, "wal");
    jsonw_obj_begin(w);
    j_uint(w, "segments", x->segments);
    j_uint(w, "segment_bytes", x->segment_bytes);
    j_uint(w, "first_segment", x->first_segment);
    j_uint(w, "last_segment", x->last_segment);
    j_uint(w, "checkpoint", x->checkpoint);
    j_uint(w, "checkpoint_bytes", x->checkpoint_bytes);
    j_uint(w, "records", x->records);
    j_uint(w, "series_replayed", x->series_items);
    j_uint(w, "samples_replayed", x->sample_items);
    j_uint(w, "samples_skipped", x->samples_skipped);
    j_uint(w, "series_conflicts", x->series_conflicts);
    j_uint(w, "other_records", x->other_records);
    j_uint(w, "bad_payloads", x->bad_payloads);
    jsonw_key_cstr(w, "tail");
    if (!x->tail_err) {
        jsonw_null(w);
    } else {
        jsonw_obj_begin(w);
        jsonw_key_cstr(w, "kind");
        jsonw_cstr(w, x->tail_err == ERR_TRUNCATED ? "torn" : "damaged");
        j_uint(w, "segment", x->tail_segment);
        j_uint(w, "offset", x->tail_offset);
        j_uint(w, "lost_bytes", x->tail_lost_bytes);
        jsonw_obj_end(w);
    }
    j_uint(w, "damaged_files", x->damaged_files);
    j_uint(w, "damaged_lost_bytes", x->damaged_lost_bytes);
    j_uint(w, "restarts", x->restarts);
    jsonw_obj_end(w);
}

static void j_quar(struct jsonw *w, const struct ctl_quarantined *q)
{
    jsonw_obj_begin(w);
    jsonw_key_cstr(w, "name");
    jsonw_cstr(w, q->name);
    j_uint(w, "size_bytes", q->size_bytes);
    jsonw_key_cstr(w, "meta");
    jsonw_bool(w, q->have_meta);
    if (q->have_meta) {
        jsonw_key_cstr(w, "ulid");
        jsonw_cstr(w, q->ulid);
        j_time(w, "min_time", q->min_time_ms);
        j_time(w, "max_time", q->max_time_ms);
        j_uint(w, "level", q->level);
        j_uint(w, "series", q->series);
        j_uint(w, "samples", q->samples);
    }
    jsonw_obj_end(w);
}

static void j_totals(struct jsonw *w, const char *key, const struct ctl_totals *t)
{
    jsonw_key_cstr(w, key);
    jsonw_obj_begin(w);
    j_uint(w, "blocks", t->blocks);
    j_uint(w, "block_series", t->block_series);
    j_uint(w, "block_samples", t->block_samples);
    j_uint(w, "block_chunks", t->block_chunks);
    j_uint(w, "block_bytes", t->block_bytes);
    jsonw_key_cstr(w, "block_bytes_per_sample");
    jsonw_float(w, per_sample(t->block_bytes, t->block_samples));
    j_uint(w, "head_series", t->head_series);
    j_uint(w, "head_samples", t->head_samples);
    j_uint(w, "samples", t->samples);
    j_time(w, "min_time", t->min_time_ms);
    j_time(w, "max_time", t->max_time_ms);
    j_uint(w, "quarantined_blocks", t->quarantined);
    j_uint(w, "quarantined_bytes", t->quarantined_bytes);
    j_uint(w, "unreadable_blocks", t->unreadable);
    j_uint(w, "wal_segments", t->wal_segments);
    j_uint(w, "wal_bytes", t->wal_bytes);
    j_uint(w, "head_chunk_files", t->chunk_files);
    j_uint(w, "head_chunk_file_bytes", t->chunk_file_bytes);
    j_uint(w, "bytes", t->bytes);
    jsonw_obj_end(w);
}

static void j_shard(struct jsonw *w, const struct ctl_shard *s)
{
    jsonw_obj_begin(w);
    j_uint(w, "shard", s->no);
    jsonw_key_cstr(w, "dir");
    jsonw_cstr(w, s->dir);
    jsonw_key_cstr(w, "blocks");
    jsonw_arr_begin(w);
    for (size_t i = 0; i < s->n_blocks; i++)
        j_block(w, &s->blocks[i]);
    jsonw_arr_end(w);
    j_uint(w, "blocks_in_progress", s->tmp_dirs);
    j_head(w, &s->head);
    j_wal(w, &s->wal);
    jsonw_key_cstr(w, "quarantine");
    jsonw_arr_begin(w);
    for (size_t i = 0; i < s->n_quar; i++)
        j_quar(w, &s->quar[i]);
    jsonw_arr_end(w);
    struct ctl_totals t;
    ctl_shard_totals(s, &t);
    j_totals(w, "totals", &t);
    jsonw_obj_end(w);
}

static int j_top(struct jsonw *w, const struct ctl_analysis *a, enum ctl_top_kind kind, uint32_t k)
{
    struct ctl_top_entry *e;
    size_t n;
    int rc = ctl_analysis_top(a, kind, k, &e, &n);
    if (rc)
        return rc;
    static const char *const count_key[CTL_TOP_KINDS_] = {"values", "series", "series",
                                                          "series", "values", "bytes"};
    jsonw_key_cstr(w, ctl_top_key(kind));
    jsonw_arr_begin(w);
    for (size_t i = 0; i < n; i++) {
        jsonw_obj_begin(w);
        if (kind == CTL_TOP_VALUE_LENGTHS) {
            j_uint(w, "length", e[i].length);
        } else {
            jsonw_key_cstr(w, "name");
            jsonw_str(w, e[i].name.ptr, e[i].name.len);
        }
        if (kind == CTL_TOP_PAIR_SERIES) {
            jsonw_key_cstr(w, "value");
            jsonw_str(w, e[i].value.ptr, e[i].value.len);
        }
        j_uint(w, count_key[kind], e[i].count);
        jsonw_obj_end(w);
    }
    jsonw_arr_end(w);
    free(e);
    return 0;
}

static int j_analysis(struct jsonw *w, const struct ctl_report *r, uint32_t top)
{
    jsonw_key_cstr(w, "analysis");
    if (!r->analyzed) {
        jsonw_null(w);
        return 0;
    }
    jsonw_obj_begin(w);
    j_uint(w, "series", r->an.series);
    j_uint(w, "label_names", ctl_analysis_names(&r->an));
    j_uint(w, "label_pairs", ctl_analysis_pairs(&r->an));
    j_uint(w, "top", top);
    int rc = 0;
    for (int k = 0; rc == 0 && k < CTL_TOP_KINDS_; k++)
        rc = j_top(w, &r->an, (enum ctl_top_kind)k, top);
    jsonw_obj_end(w);
    return rc;
}

int ctl_report_json(const struct ctl_report *r, uint32_t top, struct buf *b)
{
    struct jsonw w;
    jsonw_init(&w, b);
    jsonw_obj_begin(&w);
    jsonw_key_cstr(&w, "data_dir");
    jsonw_cstr(&w, r->data_dir);
    j_uint(&w, "shards_declared", r->shards_declared);
    jsonw_key_cstr(&w, "shards");
    jsonw_arr_begin(&w);
    for (size_t i = 0; i < r->n_shards; i++)
        j_shard(&w, &r->shards[i]);
    jsonw_arr_end(&w);
    struct ctl_totals t;
    ctl_report_totals(r, &t);
    j_totals(&w, "total", &t);
    int rc = j_analysis(&w, r, top);
    jsonw_key_cstr(&w, "warnings");
    jsonw_arr_begin(&w);
    for (size_t i = 0; i < r->warn.n; i++)
        jsonw_cstr(&w, r->warn.v[i]);
    jsonw_arr_end(&w);
    jsonw_obj_end(&w);
    int frc = jsonw_finish(&w);
    if (rc == 0)
        rc = frc;
    return rc ? rc : buf_append_u8(b, '\n');
}
