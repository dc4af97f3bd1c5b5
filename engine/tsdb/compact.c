/* Compaction planning (leveled, Prometheus-like), execution through merge_set (and the store's
 * optional rewrite of the merged series) + block_write,
 * crash-leftover cleanup, superseded-block removal, quarantine and retention by age and size. */
#include "engine/tsdb/compact.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/assert.h"
#include "base/error.h"
#include "base/log.h"
#include "engine/tsdb/block_internal.h"
#include "engine/tsdb/merge.h"

/* ---- ranges and planning ------------------------------------------------------------------- */

size_t compact_ranges(int64_t min_range_ms, int64_t max_range_ms, int64_t *out, size_t cap)
{
    ASSERT(min_range_ms > 0);
    size_t n = 0;
    for (int64_t r = min_range_ms; n < cap && (n == 0 || r <= max_range_ms); r *= 3) {
        out[n++] = r;
        if (r > INT64_MAX / 3)
            break;
    }
    return n;
}

int64_t compact_max_range(int64_t retention_ms)
{
    int64_t r = retention_ms <= 0 ? COMPACT_MAX_RANGE_CAP_MS : retention_ms / 10;
    if (r > COMPACT_MAX_RANGE_CAP_MS)
        r = COMPACT_MAX_RANGE_CAP_MS;
    return r < COMPACT_MIN_RANGE_MS ? COMPACT_MIN_RANGE_MS : r;
}

/* The first group of transitively overlapping blocks. */
static size_t plan_overlapping(const struct compact_plan_block *b, size_t n, size_t *out)
{
    if (n < 2)
        return 0;
    size_t k = 0;
    int64_t maxt = b[0].maxt_ms;
    for (size_t i = 1; i < n; i++) {
        if (b[i].mint_ms < maxt) {
            if (k == 0)
                out[k++] = i - 1;
            out[k++] = i;
        } else if (k > 0) {
            break;
        }
        if (b[i].maxt_ms > maxt)
            maxt = b[i].maxt_ms;
    }
    return k;
}

/* Start of the range-aligned window holding t (floor division, also for negative t). */
static int64_t align_down(int64_t t, int64_t r)
{
    return t >= 0 ? r * (t / r) : r * ((t - r + 1) / r);
}

/* Splits blocks into groups that fall into windows [t0, t0 + r) aligned on r (a block that does
 * not fit in one window is skipped) and takes the first group of two or more blocks that fills
 * its window or ends by `high`. */
static size_t plan_range(const struct compact_plan_block *b, size_t n, int64_t r, int64_t high,
                         size_t *out)
{
    for (size_t i = 0; i < n;) {
        int64_t t0 = align_down(b[i].mint_ms, r);
        if (b[i].maxt_ms > t0 + r) {
            i++;
            continue;
        }
        size_t a = i;
        while (i < n && b[i].maxt_ms <= t0 + r)
            i++;
        int64_t mint = b[a].mint_ms, maxt = b[i - 1].maxt_ms;
        if (i - a > 1 && (maxt - mint == r || maxt <= high)) {
            for (size_t k = a; k < i; k++)
                out[k - a] = k;
            return i - a;
        }
    }
    return 0;
}

size_t compact_plan(const struct compact_plan_block *blocks, size_t n, const int64_t *ranges,
                    size_t n_ranges, size_t *out)
{
    size_t k = plan_overlapping(blocks, n, out);
    if (k)
        return k;
    if (n < 2 || n_ranges < 2)
        return 0;
    n--; /* leave the newest block out: it was just cut from the head */
    int64_t high = blocks[n - 1].mint_ms;
    for (size_t i = 1; i < n_ranges; i++)
        if ((k = plan_range(blocks, n, ranges[i], high, out)))
            return k;
    return 0;
}

/* ---- execution ----------------------------------------------------------------------------- */

static int union_sources(struct block *const *in, size_t n, struct blockindex_meta *m)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += block_meta(in[i])->n_sources;
    struct blockindex_ulid *all = malloc((total + 1) * sizeof *all);
    if (!all)
        return ERR_NOMEM;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const struct blockindex_meta *bm = block_meta(in[i]);
        memcpy(all + k, bm->sources, bm->n_sources * sizeof *all);
        k += bm->n_sources;
    }
    int rc = blockindex_meta_set_sources(m, all, k);
    free(all);
    return rc;
}

int compact_blocks(const char *blocks_dir, struct block *const *in, size_t n,
                   struct blockindex_meta *meta_out)
{
    return compact_blocks_with(blocks_dir, in, n, NULL, NULL, meta_out);
}

int compact_blocks_with(const char *blocks_dir, struct block *const *in, size_t n,
                        compact_rewrite_fn rewrite, void *rewrite_arg,
                        struct blockindex_meta *meta_out)
{
    ASSERT(n > 0);
    struct chunk_series_set **sets = calloc(n, sizeof *sets);
    if (!sets)
        return ERR_NOMEM;
    int rc = 0;
    int64_t mint = INT64_MAX, maxt = INT64_MIN;
    uint32_t level = 0;
    for (size_t i = 0; i < n; i++) {
        const struct blockindex_meta *bm = block_meta(in[i]);
        mint = bm->min_time_ms < mint ? bm->min_time_ms : mint;
        maxt = bm->max_time_ms > maxt ? bm->max_time_ms : maxt;
        level = bm->level > level ? bm->level : level;
        if (rc == 0)
            rc = block_select(in[i], NULL, 0, INT64_MIN, INT64_MAX, &sets[i]);
    }
    struct chunk_series_set *merged = NULL;
    if (rc) {
        for (size_t i = 0; i < n; i++)
            chunk_series_set_close(sets[i]);
    } else {
        rc = merge_set_create(sets, n, MERGE_REENCODE, &merged);
    }
    if (rc == 0 && rewrite) {
        struct chunk_series_set *rewritten = NULL;
        rc = rewrite(rewrite_arg, in, n, merged, &rewritten);
        merged = rewritten; /* the rewrite owns (or closed) the merged set */
    }
    free(sets);
    meta_out->level = level + 1;
    if (rc == 0)
        rc = union_sources(in, n, meta_out);
    if (rc == 0)
        rc = block_write(blocks_dir, merged, mint, maxt, meta_out);
    if (merged)
        chunk_series_set_close(merged);
    return rc;
}

/* ---- the blocks directory ------------------------------------------------------------------ */

static int block_order(const void *a, const void *b)
{
    const struct blockindex_meta *x = block_meta(*(struct block *const *)a);
    const struct blockindex_meta *y = block_meta(*(struct block *const *)b);
    if (x->min_time_ms != y->min_time_ms)
        return x->min_time_ms < y->min_time_ms ? -1 : 1;
    return blockindex_ulid_cmp(&x->ulid, &y->ulid);
}

static void sort_blocks(struct compact_dir *d)
{
    if (d->n > 1)
        qsort(d->blocks, d->n, sizeof *d->blocks, block_order);
}

static int push_block(struct compact_dir *d, struct block *b)
{
    if (d->n == d->cap) {
        size_t c = d->cap ? 2 * d->cap : 16;
        void *p = realloc(d->blocks, c * sizeof *d->blocks);
        if (!p)
            return ERR_NOMEM;
        d->blocks = p;
        d->cap = c;
    }
    d->blocks[d->n++] = b;
    return 0;
}

static void drop_at(struct compact_dir *d, size_t i)
{
    if (i + 1 < d->n)
        memmove(d->blocks + i, d->blocks + i + 1, (d->n - i - 1) * sizeof *d->blocks);
    d->n--;
}

static void delete_at(struct compact_dir *d, size_t i, const char *why)
{
    struct block *b = d->blocks[i];
    log_info("block deleted", LOG_STR("block", block_dir(b)), LOG_STR("reason", why));
    drop_at(d, i);
    block_mark_deleted(b);
    block_unref(b);
}

static void quarantine_at(struct compact_dir *d, size_t i)
{
    struct block *b = d->blocks[i];
    drop_at(d, i);
    int rc = block_quarantine(block_dir(b));
    if (rc)
        log_error("block quarantine failed", LOG_STR("block", block_dir(b)), LOG_ERR(rc));
    d->n_quarantined++;
    block_unref(b);
}

void compact_dir_quarantine_faulted(struct compact_dir *d, const char *log_msg)
{
    for (size_t i = 0; i < d->n;) {
        struct block_fault f;
        if (!block_fault(d->blocks[i], &f)) {
            i++;
            continue;
        }
        log_error(log_msg, LOG_STR("block", block_dir(d->blocks[i])), LOG_STR("file", f.file),
                  LOG_UINT("offset", f.offset), LOG_ERR(f.code));
        quarantine_at(d, i);
    }
}

static bool has_suffix(const char *s, const char *suf)
{
    size_t n = strlen(s), m = strlen(suf);
    return n >= m && strcmp(s + n - m, suf) == 0;
}

/* A leftover of an interrupted write or deletion: "<ULID>.tmp" or "<ULID>.tmp-for-deletion". */
static bool is_leftover(const char *name)
{
    struct blockindex_ulid u;
    size_t n = strlen(name);
    return n > BLOCKINDEX_ULID_CHARS &&
           blockindex_ulid_parse(name, BLOCKINDEX_ULID_CHARS, &u) == 0 &&
           (strcmp(name + BLOCKINDEX_ULID_CHARS, BLOCK_TMP_SUFFIX) == 0 ||
            has_suffix(name, BLOCK_DELETED_SUFFIX));
}

static bool bad_block_code(int rc)
{
    return rc == ERR_CORRUPT || rc == ERR_TRUNCATED || rc == ERR_NOT_FOUND;
}

/* Opens one block directory; broken ones are quarantined (returns 0 then). */
static int open_one(struct compact_dir *d, const char *name)
{
    char path[PATH_MAX];
    if (snprintf(path, sizeof path, "%s/%s", d->dir, name) >= (int)sizeof path)
        return -ENAMETOOLONG;
    struct block *b = NULL;
    struct block_fault f = {0};
    int rc = block_open(path, &b, &f);
    if (rc == 0 && d->o.verify_on_open)
        rc = block_verify(b, &f);
    char id[BLOCKINDEX_ULID_CHARS + 1];
    if (rc == 0) {
        blockindex_ulid_format(&block_meta(b)->ulid, id);
        if (strcmp(id, name) != 0) {
            rc = ERR_CORRUPT; /* meta.json names another block */
            snprintf(f.file, sizeof f.file, "meta.json");
        }
    }
    if (rc == 0 && (rc = push_block(d, b)) == 0)
        return 0;
    block_unref(b);
    if (!bad_block_code(rc))
        return rc;
    log_error("block unusable, quarantining", LOG_STR("block", path), LOG_ERR(rc),
              LOG_STR("file", f.file), LOG_UINT("offset", f.offset));
    d->n_quarantined++;
    int q = block_quarantine(path);
    return q ? q : 0;
}

/* True when block j supersedes block i: it holds all of i's sources and more (or the same ones
 * and a later ULID, which only a repeated compaction could produce). */
static bool supersedes(const struct block *j, const struct block *i)
{
    const struct blockindex_meta *mj = block_meta(j), *mi = block_meta(i);
    if (!blockindex_meta_covers(mj, mi))
        return false;
    return mj->n_sources > mi->n_sources || blockindex_ulid_cmp(&mj->ulid, &mi->ulid) > 0;
}

static void delete_superseded(struct compact_dir *d)
{
    for (size_t i = 0; i < d->n;) {
        bool gone = false;
        for (size_t j = 0; j < d->n && !gone; j++)
            gone = j != i && supersedes(d->blocks[j], d->blocks[i]);
        if (gone)
            delete_at(d, i, "superseded by a compacted block");
        else
            i++;
    }
}

static void set_opts(struct compact_dir *d, const struct compact_opts *o)
{
    if (o)
        d->o = *o;
    if (d->o.min_range_ms <= 0)
        d->o.min_range_ms = COMPACT_MIN_RANGE_MS;
    if (d->o.retention_ms == 0)
        d->o.retention_ms = COMPACT_RETENTION_DEFAULT_MS;
    if (d->o.max_range_ms <= 0)
        d->o.max_range_ms = compact_max_range(d->o.retention_ms);
    d->n_ranges =
        compact_ranges(d->o.min_range_ms, d->o.max_range_ms, d->ranges, COMPACT_RANGES_MAX);
}

static int scan_dir(struct compact_dir *d)
{
    DIR *dp = opendir(d->dir);
    if (!dp)
        return -errno;
    int rc = 0;
    struct dirent *e;
    struct blockindex_ulid u;
    while (rc == 0 && (e = readdir(dp))) {
        char path[PATH_MAX];
        if (is_leftover(e->d_name)) {
            snprintf(path, sizeof path, "%s/%s", d->dir, e->d_name);
            log_info("removing leftover", LOG_STR("dir", path));
            rc = block_remove_dir(path);
        } else if (blockindex_ulid_parse(e->d_name, strlen(e->d_name), &u) == 0) {
            rc = open_one(d, e->d_name);
        }
    }
    closedir(dp);
    return rc;
}

int compact_dir_open(struct compact_dir *d, const char *blocks_dir, const struct compact_opts *o)
{
    memset(d, 0, sizeof *d);
    set_opts(d, o);
    if (!(d->dir = strdup(blocks_dir)))
        return ERR_NOMEM;
    if (mkdir(blocks_dir, 0755) != 0 && errno != EEXIST) {
        int rc = -errno;
        compact_dir_close(d);
        return rc;
    }
    int rc = scan_dir(d);
    if (rc) {
        compact_dir_close(d);
        return rc;
    }
    delete_superseded(d);
    sort_blocks(d);
    return 0;
}

void compact_dir_close(struct compact_dir *d)
{
    for (size_t i = 0; i < d->n; i++)
        block_unref(d->blocks[i]);
    free(d->blocks);
    free(d->dir);
    free(d->failed);
    memset(d, 0, sizeof *d);
}

int compact_dir_add(struct compact_dir *d, const char *name)
{
    size_t before = d->n;
    int rc = open_one(d, name);
    if (rc == 0 && d->n == before)
        return ERR_CORRUPT; /* it was quarantined */
    sort_blocks(d);
    return rc;
}

struct block *const *compact_dir_blocks(const struct compact_dir *d, size_t *n)
{
    *n = d->n;
    return d->blocks;
}

static size_t index_of(const struct compact_dir *d, const struct block *b)
{
    for (size_t i = 0; i < d->n; i++)
        if (d->blocks[i] == b)
            return i;
    PANIC("BUG: block not in its directory list");
}

/* After a failed compaction: quarantine every input that recorded a fault. */
static bool quarantine_faulted(struct compact_dir *d, struct block **in, size_t k)
{
    bool any = false;
    for (size_t i = 0; i < k; i++) {
        if (block_fault(in[i], NULL)) {
            quarantine_at(d, index_of(d, in[i]));
            any = true;
        }
    }
    return any;
}

static int finish_compaction(struct compact_dir *d, struct block **in, size_t k,
                             const struct blockindex_meta *m, int rc)
{
    if (rc == 0) {
        char name[BLOCKINDEX_ULID_CHARS + 1];
        blockindex_ulid_format(&m->ulid, name);
        if ((rc = compact_dir_add(d, name)))
            return rc;
        log_info("compacted", LOG_STR("block", name), LOG_UINT("inputs", k),
                 LOG_UINT("level", m->level), LOG_UINT("series", m->num_series),
                 LOG_UINT("samples", m->num_samples));
    } else if (rc != ERR_EMPTY) {
        return rc;
    }
    for (size_t i = 0; i < k; i++)
        delete_at(d, index_of(d, in[i]), "compacted");
    return 0;
}

static bool has_failed(const struct compact_dir *d, const struct block *b)
{
    for (size_t i = 0; i < d->n_failed; i++)
        if (blockindex_ulid_cmp(&d->failed[i], &block_meta(b)->ulid) == 0)
            return true;
    return false;
}

/* Remembers inputs whose compaction can never succeed. */
static void mark_failed(struct compact_dir *d, struct block **in, size_t k, int rc)
{
    for (size_t i = 0; i < k; i++) {
        log_error("compaction failed, block left out of compaction",
                  LOG_STR("block", block_dir(in[i])), LOG_ERR(rc));
        if (d->n_failed == d->cap_failed) {
            size_t c = d->cap_failed ? 2 * d->cap_failed : 8;
            void *p = realloc(d->failed, c * sizeof *d->failed);
            if (!p)
                return;
            d->failed = p;
            d->cap_failed = c;
        }
        d->failed[d->n_failed++] = block_meta(in[i])->ulid;
    }
}

static bool permanent(int rc)
{
    return rc == ERR_UNSUPPORTED || rc == ERR_INVALID || rc == ERR_RANGE || rc == ERR_LIMIT;
}

/* Plans over the blocks not marked failed; in[] receives the chosen ones. */
static size_t plan_dir(const struct compact_dir *d, struct compact_plan_block *pb, size_t *idx,
                       struct block **cand, struct block **in)
{
    size_t n = 0;
    for (size_t i = 0; i < d->n; i++) {
        if (has_failed(d, d->blocks[i]))
            continue;
        const struct blockindex_meta *m = block_meta(d->blocks[i]);
        cand[n] = d->blocks[i];
        pb[n++] = (struct compact_plan_block){m->min_time_ms, m->max_time_ms};
    }
    size_t k = compact_plan(pb, n, d->ranges, d->n_ranges, idx);
    for (size_t i = 0; i < k; i++)
        in[i] = cand[idx[i]];
    return k;
}

int compact_dir_compact_once(struct compact_dir *d, bool *did)
{
    *did = false;
    if (d->n == 0)
        return 0;
    struct compact_plan_block *pb = malloc(d->n * sizeof *pb);
    size_t *idx = malloc(d->n * sizeof *idx);
    struct block **in = malloc(d->n * sizeof *in), **cand = malloc(d->n * sizeof *cand);
    int rc = pb && idx && in && cand ? 0 : ERR_NOMEM;
    size_t k = rc ? 0 : plan_dir(d, pb, idx, cand, in);
    if (k > 0) {
        struct blockindex_meta m;
        blockindex_meta_init(&m);
        rc = compact_blocks_with(d->dir, in, k, d->o.rewrite, d->o.rewrite_arg, &m);
        if (rc == ERR_CORRUPT && quarantine_faulted(d, in, k))
            *did = true;
        else if ((rc = finish_compaction(d, in, k, &m, rc)) == 0)
            *did = true;
        else if (permanent(rc))
            mark_failed(d, in, k, rc);
        blockindex_meta_deinit(&m);
    }
    free(pb);
    free(idx);
    free(in);
    free(cand);
    return rc;
}

int compact_dir_compact(struct compact_dir *d)
{
    for (;;) {
        bool did;
        int rc = compact_dir_compact_once(d, &did);
        if (rc && !(rc == ERR_CORRUPT && did))
            return rc;
        if (!did)
            return 0;
    }
}

/* Newest first: by maxTime, then minTime, descending. */
static int newest_first(const void *a, const void *b)
{
    const struct blockindex_meta *x = block_meta(*(struct block *const *)a);
    const struct blockindex_meta *y = block_meta(*(struct block *const *)b);
    if (x->max_time_ms != y->max_time_ms)
        return x->max_time_ms > y->max_time_ms ? -1 : 1;
    if (x->min_time_ms != y->min_time_ms)
        return x->min_time_ms > y->min_time_ms ? -1 : 1;
    return -blockindex_ulid_cmp(&x->ulid, &y->ulid);
}

int compact_dir_retention(struct compact_dir *d, int64_t now_ms, uint64_t other_bytes,
                          size_t *n_deleted)
{
    size_t gone = 0;
    if (d->o.retention_ms > 0) {
        int64_t cutoff = now_ms - d->o.retention_ms;
        for (size_t i = 0; i < d->n;) {
            if (block_meta(d->blocks[i])->max_time_ms <= cutoff) {
                delete_at(d, i, "retention: age");
                gone++;
            } else {
                i++;
            }
        }
    }
    if (d->o.retention_bytes) {
        if (d->n > 1)
            qsort(d->blocks, d->n, sizeof *d->blocks, newest_first);
        uint64_t total = other_bytes;
        size_t keep = 0;
        while (keep < d->n && (total += block_size_bytes(d->blocks[keep])) <= d->o.retention_bytes)
            keep++;
        while (d->n > keep) {
            delete_at(d, d->n - 1, "retention: size");
            gone++;
        }
        sort_blocks(d);
    }
    if (n_deleted)
        *n_deleted = gone;
    return 0;
}
