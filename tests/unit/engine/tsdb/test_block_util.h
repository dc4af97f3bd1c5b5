/* Helpers for the block, merge and compaction tests: in-memory series data (labels + samples cut
 * into Gorilla chunks) served as a chunk series set, reading any set back into the same shape
 * (samples decoded, overlapping chunks merged with the first chunk winning), temp directories. */
#ifndef STRATA_TESTS_UNIT_ENGINE_TSDB_TEST_BLOCK_UTIL_H
#define STRATA_TESTS_UNIT_ENGINE_TSDB_TEST_BLOCK_UTIL_H

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/error.h"
#include "engine/tsdb/block.h"
#include "engine/tsdb/series_set.h"
#include "formats/floatpack.h"
#include "formats/gorilla.h"

struct tb_series {
    struct label labels[16]; /* strings malloc'ed */
    size_t n_labels;
    int64_t *ts;
    uint64_t *v; /* value bits */
    size_t n;
    struct chunk_meta *chunks; /* data malloc'ed */
    size_t n_chunks;
};

struct tb_data {
    struct tb_series *s;
    size_t n, cap;
};

static inline char *tb_strdup(const char *p, size_t n)
{
    char *c = malloc(n + 1);
    memcpy(c, p, n);
    c[n] = 0;
    return c;
}

static inline int tb_label_cmp(const void *a, const void *b)
{
    return str_cmp(((const struct label *)a)->name, ((const struct label *)b)->name);
}

/* Adds a series with labels "n1=v1,n2=v2" (any order; values may be empty). */
static inline struct tb_series *tb_add(struct tb_data *d, const char *spec)
{
    if (d->n == d->cap) {
        d->cap = d->cap ? 2 * d->cap : 16;
        d->s = realloc(d->s, d->cap * sizeof *d->s);
    }
    struct tb_series *s = &d->s[d->n++];
    memset(s, 0, sizeof *s);
    const char *p = spec;
    while (*p) {
        const char *eq = strchr(p, '='), *end = strchr(p, ',');
        if (!end)
            end = p + strlen(p);
        s->labels[s->n_labels].name =
            (struct str){tb_strdup(p, (size_t)(eq - p)), (size_t)(eq - p)};
        s->labels[s->n_labels].value =
            (struct str){tb_strdup(eq + 1, (size_t)(end - eq - 1)), (size_t)(end - eq - 1)};
        s->n_labels++;
        p = *end ? end + 1 : end;
    }
    qsort(s->labels, s->n_labels, sizeof *s->labels, tb_label_cmp);
    return s;
}

/* Appends one chunk holding samples ts[i], bits[i] (strictly increasing ts). */
static inline void tb_chunk(struct tb_series *s, const int64_t *ts, const uint64_t *bits, size_t n)
{
    struct gorilla_enc e;
    gorilla_enc_init(&e);
    for (size_t i = 0; i < n; i++)
        if (gorilla_enc_append_bits(&e, ts[i], bits[i]) != 0)
            abort();
    s->chunks = realloc(s->chunks, (s->n_chunks + 1) * sizeof *s->chunks);
    size_t len;
    uint8_t *data = gorilla_enc_steal(&e, &len);
    s->chunks[s->n_chunks++] =
        (struct chunk_meta){ts[0], ts[n - 1], (uint32_t)n, CHUNK_XOR, data, len};
    gorilla_enc_deinit(&e);
    s->ts = realloc(s->ts, (s->n + n) * sizeof *s->ts);
    s->v = realloc(s->v, (s->n + n) * sizeof *s->v);
    memcpy(s->ts + s->n, ts, n * sizeof *ts);
    memcpy(s->v + s->n, bits, n * sizeof *bits);
    s->n += n;
}

/* Samples t0, t0+step, ... cut into chunks of per_chunk. */
static inline void tb_samples(struct tb_series *s, int64_t t0, int64_t step, size_t n,
                              size_t per_chunk, uint64_t seed)
{
    int64_t *ts = malloc(n * sizeof *ts);
    uint64_t *v = malloc(n * sizeof *v);
    for (size_t i = 0; i < n; i++) {
        ts[i] = t0 + (int64_t)i * step;
        double x = (double)((seed + i * 7) % 1000) / 8.0;
        memcpy(&v[i], &x, 8);
        if ((seed + i) % 97 == 0)
            v[i] = GORILLA_STALE_NAN_BITS;
    }
    for (size_t i = 0; i < n; i += per_chunk)
        tb_chunk(s, ts + i, v + i, n - i < per_chunk ? n - i : per_chunk);
    free(ts);
    free(v);
}

static inline int tb_series_cmp(const void *a, const void *b)
{
    const struct tb_series *x = a, *y = b;
    return labels_cmp(x->labels, x->n_labels, y->labels, y->n_labels);
}

static inline void tb_sort(struct tb_data *d)
{
    qsort(d->s, d->n, sizeof *d->s, tb_series_cmp);
}

static inline void tb_free(struct tb_data *d)
{
    for (size_t i = 0; i < d->n; i++) {
        struct tb_series *s = &d->s[i];
        for (size_t j = 0; j < s->n_labels; j++) {
            free((char *)s->labels[j].name.ptr);
            free((char *)s->labels[j].value.ptr);
        }
        for (size_t j = 0; j < s->n_chunks; j++)
            free((void *)s->chunks[j].data);
        free(s->chunks);
        free(s->ts);
        free(s->v);
    }
    free(d->s);
    memset(d, 0, sizeof *d);
}

/* A chunk series set over tb_data (borrowed; sorted with tb_sort first). */
struct tb_set {
    struct chunk_series_set base;
    const struct tb_data *d;
    size_t i;
    struct chunk_series cur;
    int fail_at; /* >= 0: return this error code instead of series number fail_at */
    int fail_code;
};

static inline int tb_set_next(struct chunk_series_set *b)
{
    struct tb_set *s = (struct tb_set *)b;
    if (s->fail_at >= 0 && s->i == (size_t)s->fail_at)
        return s->base.err = s->fail_code;
    if (s->i >= s->d->n)
        return 0;
    const struct tb_series *t = &s->d->s[s->i++];
    s->cur = (struct chunk_series){t->labels, t->n_labels, t->chunks, t->n_chunks};
    return 1;
}

static inline const struct chunk_series *tb_set_at(struct chunk_series_set *b)
{
    return &((struct tb_set *)b)->cur;
}

static inline void tb_set_close(struct chunk_series_set *b)
{
    free(b);
}

static const struct chunk_series_set_ops tb_set_ops = {tb_set_next, tb_set_at, tb_set_close};

static inline struct chunk_series_set *tb_set(const struct tb_data *d)
{
    struct tb_set *s = calloc(1, sizeof *s);
    s->base.ops = &tb_set_ops;
    s->d = d;
    s->fail_at = -1;
    return &s->base;
}

/* Decodes chunks (in list order) and merges them by timestamp, the earlier chunk winning. */
static inline int tb_decode(const struct chunk_meta *c, size_t n, int64_t **ts_out,
                            uint64_t **v_out, size_t *n_out)
{
    size_t total = 0, k = 0;
    for (size_t i = 0; i < n; i++)
        total += c[i].samples;
    int64_t *ts = malloc((total + 1) * sizeof *ts);
    uint64_t *v = malloc((total + 1) * sizeof *v);
    size_t *rank = malloc((total + 1) * sizeof *rank);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        struct gorilla_iter it;
        struct floatpack_iter pk; /* CHUNK_PACKED chunks written by the block writer */
        bool packed = c[i].encoding == CHUNK_PACKED;
        rc = packed ? floatpack_iter_init(&pk, c[i].data, c[i].len)
                    : gorilla_iter_init(&it, c[i].data, c[i].len);
        int more;
        while (rc == 0 &&
               (more = packed ? floatpack_iter_next(&pk) : gorilla_iter_next(&it)) != 0) {
            if (more < 0 || k == total) {
                rc = more < 0 ? more : ERR_CORRUPT; /* or more samples than the meta says */
                break;
            }
            if (packed)
                floatpack_iter_at_bits(&pk, &ts[k], &v[k]);
            else
                gorilla_iter_at_bits(&it, &ts[k], &v[k]);
            rank[k++] = i;
        }
    }
    /* insertion sort by (ts, chunk rank), then keep the first of equal timestamps */
    for (size_t i = 1; i < k; i++)
        for (size_t j = i;
             j > 0 && (ts[j - 1] > ts[j] || (ts[j - 1] == ts[j] && rank[j - 1] > rank[j])); j--) {
            int64_t t = ts[j];
            ts[j] = ts[j - 1];
            ts[j - 1] = t;
            uint64_t x = v[j];
            v[j] = v[j - 1];
            v[j - 1] = x;
            size_t r = rank[j];
            rank[j] = rank[j - 1];
            rank[j - 1] = r;
        }
    size_t u = 0;
    for (size_t i = 0; i < k; i++)
        if (u == 0 || ts[u - 1] != ts[i]) {
            ts[u] = ts[i];
            v[u++] = v[i];
        }
    free(rank);
    *ts_out = ts;
    *v_out = v;
    *n_out = u;
    return rc;
}

/* Reads a whole set into out (labels copied, samples decoded, chunk metas copied with data). */
static inline int tb_collect(struct chunk_series_set *set, struct tb_data *out)
{
    int rc;
    memset(out, 0, sizeof *out);
    while ((rc = chunk_series_set_next(set)) == 1) {
        const struct chunk_series *cs = chunk_series_set_at(set);
        struct tb_series *s = tb_add(out, "");
        s->n_labels = cs->n_labels;
        for (size_t i = 0; i < cs->n_labels; i++) {
            s->labels[i].name =
                (struct str){tb_strdup(cs->labels[i].name.ptr ? cs->labels[i].name.ptr : "",
                                       cs->labels[i].name.len),
                             cs->labels[i].name.len};
            s->labels[i].value =
                (struct str){tb_strdup(cs->labels[i].value.ptr ? cs->labels[i].value.ptr : "",
                                       cs->labels[i].value.len),
                             cs->labels[i].value.len};
        }
        s->chunks = malloc((cs->n_chunks + 1) * sizeof *s->chunks);
        for (size_t i = 0; i < cs->n_chunks; i++) {
            s->chunks[i] = cs->chunks[i];
            uint8_t *copy = malloc(cs->chunks[i].len);
            memcpy(copy, cs->chunks[i].data, cs->chunks[i].len);
            s->chunks[i].data = copy;
        }
        s->n_chunks = cs->n_chunks;
        int drc = tb_decode(s->chunks, s->n_chunks, &s->ts, &s->v, &s->n);
        if (drc)
            return drc;
    }
    return rc;
}

static inline void tb_tmpdir(char *out, size_t n)
{
    const char *base = getenv("TMPDIR");
    snprintf(out, n, "%s/strata-block-XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(out))
        abort();
}

/* Number of directory entries (excluding . and ..) in path; -1 when it does not exist. */
static inline int tb_count_entries(const char *path)
{
    char cmd[2 * PATH_MAX];
    if (snprintf(cmd, sizeof cmd, "ls -A '%s' 2>/dev/null | wc -l", path) >= (int)sizeof cmd)
        abort();
    struct stat st;
    if (stat(path, &st) != 0)
        return -1;
    FILE *f = popen(cmd, "r");
    int n = -1;
    if (f && fscanf(f, "%d", &n) != 1)
        n = -1;
    if (f)
        pclose(f);
    return n;
}

/* Writes d as one block under dir; returns the block path in path_out. */
static inline int tb_write(const char *dir, const struct tb_data *d, int64_t mint, int64_t maxt,
                           const struct block_write_opts *o, struct blockindex_meta *meta,
                           char *path_out, size_t n)
{
    struct chunk_series_set *set = tb_set(d);
    blockindex_meta_init(meta);
    int rc = block_write_ex(dir, set, mint, maxt, o, meta);
    chunk_series_set_close(set);
    char id[BLOCKINDEX_ULID_CHARS + 1];
    blockindex_ulid_format(&meta->ulid, id);
    if (path_out && snprintf(path_out, n, "%s/%s", dir, id) >= (int)n)
        abort();
    return rc;
}

#endif
