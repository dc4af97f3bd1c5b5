/* WAL checkpoint: rewrites the newest checkpoint plus the segments up to a given one into
 * checkpoint.<upto>/, keeping only what the caller's keep functions say is still needed (series
 * and streams by id, samples and log entries by id and time, other records whole), then deletes
 * what it replaces. Crash-safe order and the on-disk rules: docs/formats/wal.md, "Segments,
 * checkpoints and recovery on disk". Plain blocking I/O: runs on any thread. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/error.h"
#include "base/log.h"
#include "engine/tsdb/exemplars.h"
#include "engine/tsdb/wal.h"
#include "engine/tsdb/wal_internal.h"

/* Output is written in pieces of this size; checkpoint segments roll over like live ones. */
#define OUT_FLUSH_BYTES  (1u << 20)
#define CKPT_SEGMENT_MAX (128ull << 20)

struct ckpt {
    const struct wal_keep *keep;
    struct wal_checkpoint_result *res;
    const char *dir;
    /* output: checkpoint.<upto>.tmp/<file_no> */
    int tmp_fd;
    uint32_t file_no;
    int fd;
    uint64_t file_len; /* bytes in the file, header included */
    struct buf out;
    /* scratch for filtering */
    struct label *lbuf; /* iterator's per-item labels */
    size_t lbuf_cap;
    struct label *labs; /* labels of the kept items, back to back */
    size_t labs_cap;
    size_t *lofs; /* per kept item: its first label in labs */
    size_t lofs_cap;
    void *items;      /* kept items (walrec_series / _sample / _entry) */
    size_t items_cap; /* in bytes: the item type changes from record to record */
};

/* Grows *p to hold n elements of size sz. */
static int grow(void **p, size_t *cap, size_t n, size_t sz)
{
    if (n <= *cap)
        return 0;
    size_t c = *cap ? *cap : 64;
    while (c < n)
        c *= 2;
    void *q = realloc(*p, c * sz);
    if (!q)
        return ERR_NOMEM;
    *p = q;
    *cap = c;
    return 0;
}

/* ---- output ---- */

static int out_write(struct ckpt *c)
{
    int rc = wal_pwrite_all(c->fd, c->out.data, c->out.len, c->file_len);
    c->file_len += c->out.len;
    c->res->bytes_out += c->out.len;
    buf_reset(&c->out);
    return rc;
}

static int out_close_file(struct ckpt *c)
{
    int rc = out_write(c);
    if (rc == 0)
        rc = wal_fsync(c->fd);
    close(c->fd);
    c->fd = -1;
    return rc;
}

static int out_open_file(struct ckpt *c)
{
    char name[WAL_NAME_MAX];
    wal_seg_name(name, ++c->file_no);
    c->fd = wal_segment_create(c->tmp_fd, name);
    if (c->fd < 0)
        return c->fd;
    c->file_len = WALREC_SEGMENT_HEADER_SIZE;
    c->res->bytes_out += WALREC_SEGMENT_HEADER_SIZE;
    return 0;
}

/* After each record: write out a full piece; start the next file when this one is full. */
static int out_record_done(struct ckpt *c)
{
    c->res->records_out++;
    if (c->out.len < OUT_FLUSH_BYTES && c->file_len + c->out.len < CKPT_SEGMENT_MAX)
        return 0;
    if (c->file_len + c->out.len < CKPT_SEGMENT_MAX)
        return out_write(c);
    int rc = out_close_file(c);
    return rc ? rc : out_open_file(c);
}

static int copy_record(struct ckpt *c, const struct walrec *rec)
{
    int rc = walrec_append(&c->out, rec->type, rec->payload, rec->len, WALREC_COMPRESS);
    return rc ? rc : out_record_done(c);
}

/* ---- filters ---- */

static void drop_corrupt(struct ckpt *c, const struct walrec *rec, int err)
{
    log_warn("wal checkpoint: dropping a record whose payload does not decode",
             LOG_STR("dir", c->dir), LOG_STR("type", walrec_type_name(rec->type)),
             LOG_UINT("offset", rec->offset), LOG_ERR(err));
}

/* Copies one kept item's labels into labs; returns its offset there through *ofs. */
static int keep_labels(struct ckpt *c, size_t *nlab, const struct label *l, size_t n, size_t k)
{
    if (grow((void **)&c->labs, &c->labs_cap, *nlab + n, sizeof *c->labs) ||
        grow((void **)&c->lofs, &c->lofs_cap, k + 1, sizeof *c->lofs))
        return ERR_NOMEM;
    if (n)
        memcpy(c->labs + *nlab, l, n * sizeof *l);
    c->lofs[k] = *nlab;
    *nlab += n;
    return 0;
}

/* One pass over a SERIES / LOG_STREAMS payload. Returns 0, ERR_LIMIT (label buffer too small),
 * ERR_CORRUPT or ERR_NOMEM; *nkept and *all describe the kept items in c->items. */
static int ids_pass(struct ckpt *c, const struct walrec *rec, bool (*fn)(void *, uint32_t),
                    size_t *nkept, bool *all)
{
    struct walrec_series_iter it;
    walrec_series_iter_init(&it, rec->payload, rec->len, c->lbuf, c->lbuf_cap);
    size_t k = 0, nlab = 0, seen = 0;
    while (walrec_series_iter_next(&it)) {
        const struct walrec_series *s = walrec_series_iter_at(&it);
        seen++;
        if (!fn(c->keep->arg, s->id))
            continue;
        if (grow(&c->items, &c->items_cap, (k + 1) * sizeof(struct walrec_series), 1) ||
            keep_labels(c, &nlab, s->labels, s->n_labels, k))
            return ERR_NOMEM;
        ((struct walrec_series *)c->items)[k++] = *s;
    }
    if (walrec_series_iter_err(&it))
        return walrec_series_iter_err(&it);
    c->res->items_in += seen;
    c->res->items_out += k;
    *nkept = k;
    *all = k == seen;
    return 0;
}

/* Runs pass() with a label buffer grown until every item's labels fit. */
static int with_labels(struct ckpt *c, const struct walrec *rec,
                       int (*pass)(struct ckpt *, const struct walrec *, bool (*)(void *, uint32_t),
                                   size_t *, bool *),
                       bool (*fn)(void *, uint32_t), size_t *nkept, bool *all)
{
    for (;;) {
        int rc = pass(c, rec, fn, nkept, all);
        if (rc != ERR_LIMIT)
            return rc;
        if (grow((void **)&c->lbuf, &c->lbuf_cap, c->lbuf_cap * 2 + 16, sizeof *c->lbuf))
            return ERR_NOMEM;
    }
}

static int filter_ids(struct ckpt *c, const struct walrec *rec, bool (*fn)(void *, uint32_t))
{
    if (!fn) {
        int64_t n = walrec_payload_count(rec->payload, rec->len);
        c->res->items_in += n > 0 ? (uint64_t)n : 0;
        c->res->items_out += n > 0 ? (uint64_t)n : 0;
        return copy_record(c, rec);
    }
    size_t k;
    bool all;
    int rc = with_labels(c, rec, ids_pass, fn, &k, &all);
    if (rc == ERR_CORRUPT) {
        drop_corrupt(c, rec, rc);
        return 0;
    }
    if (rc || k == 0)
        return rc;
    if (all)
        return copy_record(c, rec);
    struct walrec_series *items = c->items;
    for (size_t i = 0; i < k; i++)
        items[i].labels = c->labs + c->lofs[i];
    size_t mark;
    rc = walrec_begin(&c->out, &mark);
    if (rc == 0)
        rc = walrec_series_encode(&c->out, items, k);
    if (rc == 0)
        rc = walrec_end(&c->out, mark, rec->type, WALREC_COMPRESS);
    return rc ? rc : out_record_done(c);
}

static int filter_samples(struct ckpt *c, const struct walrec *rec)
{
    bool (*fn)(void *, uint32_t, int64_t) = c->keep->sample;
    if (!fn)
        return filter_ids(c, rec, NULL);
    struct walrec_samples_iter it;
    walrec_samples_iter_init(&it, rec->payload, rec->len);
    size_t k = 0, seen = 0;
    while (walrec_samples_iter_next(&it)) {
        const struct walrec_sample *s = walrec_samples_iter_at(&it);
        seen++;
        if (!fn(c->keep->arg, s->id, s->ts_ms))
            continue;
        if (grow(&c->items, &c->items_cap, (k + 1) * sizeof *s, 1))
            return ERR_NOMEM;
        ((struct walrec_sample *)c->items)[k++] = *s;
    }
    if (walrec_samples_iter_err(&it)) {
        drop_corrupt(c, rec, walrec_samples_iter_err(&it));
        return 0;
    }
    c->res->items_in += seen;
    c->res->items_out += k;
    if (k == 0)
        return 0;
    if (k == seen)
        return copy_record(c, rec);
    size_t mark;
    int rc = walrec_begin(&c->out, &mark);
    if (rc == 0)
        rc = walrec_samples_encode(&c->out, c->items, k);
    if (rc == 0)
        rc = walrec_end(&c->out, mark, rec->type, WALREC_COMPRESS);
    return rc ? rc : out_record_done(c);
}

/* HISTOGRAMS: the record is kept whole when any of its items is to be kept (replay skips the
 * others as before the head's min valid time), dropped when none is. */
static int filter_hists(struct ckpt *c, const struct walrec *rec)
{
    bool (*fn)(void *, uint32_t, int64_t) = c->keep->sample;
    if (!fn)
        return filter_ids(c, rec, NULL);
    struct walrec_hists_iter it;
    walrec_hists_iter_init(&it, rec->payload, rec->len);
    size_t k = 0, seen = 0;
    while (walrec_hists_iter_next(&it)) {
        const struct walrec_hist *x = walrec_hists_iter_at(&it);
        seen++;
        k += fn(c->keep->arg, x->id, x->ts_ms);
    }
    int err = walrec_hists_iter_err(&it);
    walrec_hists_iter_deinit(&it);
    if (err == ERR_NOMEM)
        return err;
    if (err) {
        drop_corrupt(c, rec, err);
        return 0;
    }
    c->res->items_in += seen;
    c->res->items_out += k ? seen : 0;
    return k ? copy_record(c, rec) : 0;
}

/* EXEMPLARS: like HISTOGRAMS, kept whole when any item is to be kept. */
static int filter_exemplars(struct ckpt *c, const struct walrec *rec)
{
    bool (*fn)(void *, uint32_t, int64_t) = c->keep->sample;
    if (!fn)
        return filter_ids(c, rec, NULL);
    struct label lb[EXEMPLARS_LABELS_MAX];
    struct walrec_exemplars_iter it;
    walrec_exemplars_iter_init(&it, rec->payload, rec->len, lb, EXEMPLARS_LABELS_MAX);
    size_t k = 0, seen = 0;
    while (walrec_exemplars_iter_next(&it)) {
        const struct walrec_exemplar *x = walrec_exemplars_iter_at(&it);
        seen++;
        k += fn(c->keep->arg, x->id, x->ts_ms);
    }
    int err = walrec_exemplars_iter_err(&it);
    if (err) {
        drop_corrupt(c, rec, err);
        return 0;
    }
    c->res->items_in += seen;
    c->res->items_out += k ? seen : 0;
    return k ? copy_record(c, rec) : 0;
}

/* One pass over a LOG_ENTRIES payload (structured metadata copied like series labels). */
static int entries_pass(struct ckpt *c, const struct walrec *rec, size_t *nkept, bool *all)
{
    struct walrec_entries_iter it;
    walrec_entries_iter_init(&it, rec->payload, rec->len, c->lbuf, c->lbuf_cap);
    size_t k = 0, nlab = 0, seen = 0;
    while (walrec_entries_iter_next(&it)) {
        const struct walrec_entry *e = walrec_entries_iter_at(&it);
        seen++;
        if (!c->keep->entry(c->keep->arg, e->id, e->ts_ns))
            continue;
        if (grow(&c->items, &c->items_cap, (k + 1) * sizeof *e, 1) ||
            keep_labels(c, &nlab, e->meta, e->n_meta, k))
            return ERR_NOMEM;
        ((struct walrec_entry *)c->items)[k++] = *e;
    }
    if (walrec_entries_iter_err(&it))
        return walrec_entries_iter_err(&it);
    c->res->items_in += seen;
    c->res->items_out += k;
    *nkept = k;
    *all = k == seen;
    return 0;
}

static int filter_entries(struct ckpt *c, const struct walrec *rec)
{
    if (!c->keep->entry)
        return filter_ids(c, rec, NULL);
    size_t k = 0;
    bool all = false;
    int rc;
    while ((rc = entries_pass(c, rec, &k, &all)) == ERR_LIMIT)
        if (grow((void **)&c->lbuf, &c->lbuf_cap, c->lbuf_cap * 2 + 16, sizeof *c->lbuf))
            return ERR_NOMEM;
    if (rc == ERR_CORRUPT) {
        drop_corrupt(c, rec, rc);
        return 0;
    }
    if (rc || k == 0)
        return rc;
    if (all)
        return copy_record(c, rec);
    struct walrec_entry *items = c->items;
    for (size_t i = 0; i < k; i++)
        items[i].meta = c->labs + c->lofs[i];
    size_t mark;
    rc = walrec_begin(&c->out, &mark);
    if (rc == 0)
        rc = walrec_entries_encode(&c->out, items, k);
    if (rc == 0)
        rc = walrec_end(&c->out, mark, rec->type, WALREC_COMPRESS);
    return rc ? rc : out_record_done(c);
}

static int keep_record(struct ckpt *c, const struct walrec *rec)
{
    c->res->records_in++;
    const struct wal_keep *k = c->keep;
    switch (rec->type) {
    case WALREC_SERIES: return filter_ids(c, rec, k->series);
    case WALREC_LOG_STREAMS: return filter_ids(c, rec, k->stream);
    case WALREC_SAMPLES: return filter_samples(c, rec);
    case WALREC_HISTOGRAMS: return filter_hists(c, rec);
    case WALREC_EXEMPLARS: return filter_exemplars(c, rec);
    case WALREC_LOG_ENTRIES: return filter_entries(c, rec);
    default:
        if (k->record && !k->record(k->arg, rec))
            return 0;
        return copy_record(c, rec);
    }
}

/* ---- sources ---- */

/* Feeds one source file through the filters. A damaged file keeps its valid prefix. */
static int read_source(struct ckpt *c, int dirfd, const char *name)
{
    struct wal_seg_reader s;
    int rc = wal_seg_open(&s, dirfd, name, WAL_READ_BYTES_DEF);
    if (rc)
        return rc;
    struct walrec rec;
    while ((rc = wal_seg_next(&s, &rec)) == 1) {
        int krc = keep_record(c, &rec);
        if (krc) {
            wal_seg_close(&s);
            return krc;
        }
    }
    c->res->segments_read++;
    uint64_t off = wal_seg_stop_offset(&s), size = s.size;
    wal_seg_close(&s);
    if (rc == ERR_TRUNCATED || rc == ERR_CORRUPT) {
        c->res->damaged++;
        log_warn("wal checkpoint: damaged source file, keeping its valid prefix",
                 LOG_STR("dir", c->dir), LOG_STR("file", name),
                 LOG_STR("reason", wal_stop_reason(rc)), LOG_UINT("offset", off),
                 LOG_UINT("lost_bytes", size - off));
        return 0;
    }
    return rc;
}

static int read_prev_checkpoint(struct ckpt *c, int dirfd, uint32_t no)
{
    char name[WAL_NAME_MAX], seg[WAL_NAME_MAX];
    wal_ckpt_name(name, no, false);
    int cfd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (cfd < 0)
        return -errno;
    struct wal_dirlist l;
    int rc = wal_dir_list(cfd, &l);
    for (size_t i = 0; rc == 0 && i < l.nsegs; i++) {
        wal_seg_name(seg, l.segs[i]);
        rc = read_source(c, cfd, seg);
    }
    wal_dir_list_free(&l);
    close(cfd);
    return rc;
}

/* Writes checkpoint.<upto>.tmp/ from the previous checkpoint and segments (prev, upto]. */
static int write_tmp(struct ckpt *c, int dirfd, const struct wal_dirlist *l, uint32_t prev,
                     uint32_t upto)
{
    char name[WAL_NAME_MAX];
    int rc = out_open_file(c);
    if (rc == 0 && prev)
        rc = read_prev_checkpoint(c, dirfd, prev);
    for (size_t i = 0; rc == 0 && i < l->nsegs && l->segs[i] <= upto; i++) {
        if (l->segs[i] <= prev)
            continue;
        wal_seg_name(name, l->segs[i]);
        rc = read_source(c, dirfd, name);
    }
    if (rc == 0)
        rc = out_close_file(c);
    if (rc == 0)
        rc = wal_fsync(c->tmp_fd);
    return rc;
}

/* After the rename: the replaced segments (oldest first, so a crash leaves no hole in the
 * numbers) and checkpoints go. Failures only leave garbage that replay ignores. */
static void delete_replaced(struct ckpt *c, int dirfd, const struct wal_dirlist *l, uint32_t upto)
{
    char name[WAL_NAME_MAX];
    for (size_t i = 0; i < l->nsegs && l->segs[i] <= upto; i++) {
        wal_seg_name(name, l->segs[i]);
        if (unlinkat(dirfd, name, 0) == 0)
            c->res->segments_deleted++;
    }
    for (size_t i = 0; i < l->nckpts; i++) {
        if (l->ckpts[i] >= upto)
            continue;
        wal_ckpt_name(name, l->ckpts[i], false);
        if (wal_rmdir_files_at(dirfd, name) == 0)
            c->res->checkpoints_deleted++;
    }
    wal_fsync(dirfd);
}

static int make_checkpoint(struct ckpt *c, int dirfd, const struct wal_dirlist *l, uint32_t upto)
{
    uint32_t prev = l->nckpts ? l->ckpts[l->nckpts - 1] : 0;
    if (prev >= upto || ((l->nsegs == 0 || l->segs[0] > upto) && prev == 0))
        return 0; /* done already, or nothing to checkpoint */
    char tmp[WAL_NAME_MAX], fin[WAL_NAME_MAX];
    wal_ckpt_name(tmp, upto, true);
    wal_ckpt_name(fin, upto, false);
    int rc = wal_rmdir_files_at(dirfd, tmp);
    if (rc == 0 && mkdirat(dirfd, tmp, 0755) != 0)
        rc = -errno;
    if (rc)
        return rc;
    c->tmp_fd = openat(dirfd, tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    rc = c->tmp_fd < 0 ? -errno : write_tmp(c, dirfd, l, prev, upto);
    if (c->fd >= 0)
        close(c->fd);
    if (c->tmp_fd >= 0)
        close(c->tmp_fd);
    if (rc == 0 && renameat(dirfd, tmp, dirfd, fin) != 0)
        rc = -errno;
    if (rc == 0)
        rc = wal_fsync(dirfd);
    if (rc) {
        wal_rmdir_files_at(dirfd, tmp);
        return rc;
    }
    delete_replaced(c, dirfd, l, upto);
    return 0;
}

int wal_checkpoint_dir(const char *dir, uint32_t upto_segment, const struct wal_keep *keep,
                       struct wal_checkpoint_result *res)
{
    struct wal_checkpoint_result local;
    static const struct wal_keep keep_all;
    if (!res)
        res = &local;
    memset(res, 0, sizeof *res);
    int64_t t0 = clock_mono_ns();
    struct ckpt c = {
        .keep = keep ? keep : &keep_all, .res = res, .dir = dir, .fd = -1, .tmp_fd = -1};
    int dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dirfd < 0)
        return -errno;
    struct wal_dirlist l;
    int rc = wal_dir_list(dirfd, &l);
    if (rc == 0) {
        rc = make_checkpoint(&c, dirfd, &l, upto_segment);
        wal_dir_list_free(&l);
    }
    close(dirfd);
    buf_deinit(&c.out);
    free(c.lbuf);
    free(c.labs);
    free(c.lofs);
    free(c.items);
    res->duration_ns = clock_mono_ns() - t0;
    if (rc)
        log_error("wal checkpoint failed", LOG_STR("dir", dir), LOG_UINT("upto", upto_segment),
                  LOG_ERR(rc));
    return rc;
}
