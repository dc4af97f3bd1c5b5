/* stratactl inspect: the merged pass over every shard's blocks and head (merge_set by label set):
 * the cardinality analysis and the per-series sample counts. Without chunks, a block is read
 * through its index only (a chunk series set over blockindex_mem whose chunks carry no bytes), so
 * the default report never reads chunk files. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/error.h"
#include "engine/tsdb/merge.h"
#include "engine/tsdb/querier.h"
#include "formats/jsonw.h"
#include "tools/stratactl/inspect.h"

/* ---- a label-only chunk series set over a block's index ---- */

struct ixset {
    struct chunk_series_set base;
    void *map;
    size_t map_len;
    struct blockindex_mem m;
    bool m_open;
    struct blockindex_series s;
    uint32_t next_id, n;
    struct label *labels;
    struct chunk_meta *chunks;
    size_t cap_labels, cap_chunks;
    struct chunk_series cur;
};

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

static int ix_fill(struct ixset *x)
{
    const struct blockindex_series *s = &x->s;
    if (grow((void **)&x->labels, &x->cap_labels, s->n_labels, sizeof *x->labels) ||
        grow((void **)&x->chunks, &x->cap_chunks, s->n_chunks, sizeof *x->chunks))
        return ERR_NOMEM;
    for (size_t i = 0; i < s->n_labels; i++)
        x->labels[i] = (struct label){x->m.syms[s->refs[2 * i]], x->m.syms[s->refs[2 * i + 1]]};
    for (size_t i = 0; i < s->n_chunks; i++) {
        const struct blockindex_chunk *c = &s->chunks[i];
        x->chunks[i] =
            (struct chunk_meta){c->mint_ms, c->maxt_ms, c->samples, c->encoding, NULL, 0};
    }
    x->cur = (struct chunk_series){x->labels, s->n_labels, x->chunks, s->n_chunks};
    return 0;
}

static int ix_next(struct chunk_series_set *base)
{
    struct ixset *x = (struct ixset *)base;
    if (base->err)
        return base->err;
    if (x->next_id >= x->n)
        return 0;
    uint64_t bad;
    int rc = blockindex_mem_series(&x->m, x->next_id++, &x->s, &bad);
    if (rc == 0)
        rc = ix_fill(x);
    if (rc)
        return base->err = rc;
    return 1;
}

static const struct chunk_series *ix_at(struct chunk_series_set *base)
{
    return &((struct ixset *)base)->cur;
}

static void ix_close(struct chunk_series_set *base)
{
    struct ixset *x = (struct ixset *)base;
    if (x->m_open)
        blockindex_mem_close(&x->m);
    if (x->map)
        munmap(x->map, x->map_len);
    blockindex_series_deinit(&x->s);
    free(x->labels);
    free(x->chunks);
    free(x);
}

static const struct chunk_series_set_ops ix_ops = {ix_next, ix_at, ix_close};

static int ixset_open(const char *block_dir, struct chunk_series_set **out)
{
    char path[4096];
    if (snprintf(path, sizeof path, "%s/index", block_dir) >= (int)sizeof path)
        return -ENAMETOOLONG;
    struct ixset *x = calloc(1, sizeof *x);
    if (!x)
        return ERR_NOMEM;
    x->base.ops = &ix_ops;
    blockindex_series_init(&x->s);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    int rc = fd < 0 || fstat(fd, &st) != 0 ? -errno : 0;
    if (rc == 0 && st.st_size > 0) {
        x->map_len = (size_t)st.st_size;
        x->map = mmap(NULL, x->map_len, PROT_READ, MAP_PRIVATE, fd, 0);
        if (x->map == MAP_FAILED) {
            x->map = NULL;
            rc = -errno;
        }
    }
    if (fd >= 0)
        close(fd);
    uint64_t bad;
    if (rc == 0 && (rc = blockindex_mem_open(&x->m, x->map, x->map_len, &bad)) == 0)
        x->m_open = true;
    if (rc) {
        ix_close(&x->base);
        return rc;
    }
    x->n = blockindex_mem_series_count(&x->m);
    *out = &x->base;
    return 0;
}

/* ---- the merged walk ---- */

struct inputs {
    struct chunk_series_set **v;
    size_t n, cap;
};

static int inputs_push(struct inputs *in, struct chunk_series_set *s)
{
    if (grow((void **)&in->v, &in->cap, in->n + 1, sizeof *in->v)) {
        chunk_series_set_close(s);
        return ERR_NOMEM;
    }
    in->v[in->n++] = s;
    return 0;
}

static int block_input(struct ctl_block *b, bool with_chunks, struct chunk_series_set **out)
{
    if (with_chunks)
        return block_select(b->b, NULL, 0, INT64_MIN, INT64_MAX, out);
    return ixset_open(b->dir, out);
}

/* Every shard's live blocks (oldest first), then every head. */
static int collect_inputs(struct ctl_report *r, bool with_chunks, const struct matcher *all,
                          struct inputs *in)
{
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < r->n_shards; i++) {
        struct ctl_shard *s = &r->shards[i];
        for (size_t j = 0; rc == 0 && j < s->n_blocks; j++) {
            struct ctl_block *b = &s->blocks[j];
            struct chunk_series_set *set = NULL;
            if (!b->b || b->superseded)
                continue;
            rc = block_input(b, with_chunks, &set);
            if (rc == -ENOENT) { /* index gone since the block was opened */
                ctl_warn(&r->warn, "block %s vanished: left out", b->dir);
                rc = 0;
                continue;
            }
            if (rc == ERR_CORRUPT || rc == ERR_TRUNCATED) {
                ctl_warn(&r->warn, "block %s: index damaged (%s): left out", b->dir, err_str(rc));
                rc = 0;
                continue;
            }
            if (rc == 0)
                rc = inputs_push(in, set);
        }
    }
    for (size_t i = 0; rc == 0 && i < r->n_shards; i++) {
        if (!r->shards[i].h)
            continue;
        struct chunk_series_set *set = head_select(r->shards[i].h, all, 1, INT64_MIN, INT64_MAX);
        rc = set ? inputs_push(in, set) : ERR_NOMEM;
    }
    return rc;
}

int ctl_merge_walk(struct ctl_report *r, bool with_chunks, ctl_series_fn fn, void *arg)
{
    struct matcher all;
    char err[128];
    int rc = matcher_init(&all, MATCHER_RE, STR_LIT("__name__"), STR_LIT(".*"), err, sizeof err);
    if (rc)
        return rc;
    struct inputs in = {0};
    struct chunk_series_set *m = NULL;
    rc = collect_inputs(r, with_chunks, &all, &in);
    if (rc == 0) {
        rc = merge_set_create(in.v, in.n, 0, &m);
        in.n = 0; /* owned by the merged set now (closed by it on failure too) */
    }
    while (rc == 0 && (rc = chunk_series_set_next(m)) == 1)
        rc = fn(arg, chunk_series_set_at(m));
    chunk_series_set_close(m);
    for (size_t i = 0; i < in.n; i++)
        chunk_series_set_close(in.v[i]);
    free(in.v);
    matcher_deinit(&all);
    return rc;
}

static int analyze_one(void *arg, const struct chunk_series *cs)
{
    struct ctl_report *r = arg;
    return ctl_analysis_add(&r->an, cs->labels, cs->n_labels);
}

int ctl_analyze(struct ctl_report *r)
{
    int rc = ctl_merge_walk(r, false, analyze_one, r);
    r->analyzed = rc == 0;
    return rc;
}

/* ---- --series-samples ---- */

struct ss_ctx {
    struct ctl_report *r;
    bool json;
    FILE *out;
    struct buf line;
    uint64_t series, samples;
};

static int ss_one(void *arg, const struct chunk_series *cs)
{
    struct ss_ctx *c = arg;
    struct querier_sample_iter it;
    querier_sample_iter_init(&it, cs);
    uint64_t n = 0;
    int64_t mint = INT64_MAX, maxt = INT64_MIN, t;
    uint64_t v;
    int rc;
    while ((rc = querier_sample_iter_next(&it)) == 1) {
        querier_sample_iter_at(&it, &t, &v);
        mint = n ? mint : t;
        maxt = t;
        n++;
    }
    querier_sample_iter_deinit(&it);
    buf_reset(&c->line);
    int frc = ctl_series_line(&c->line, cs->labels, cs->n_labels, n, mint, maxt, c->json);
    if (frc)
        return frc;
    if (rc < 0)
        ctl_warn(&c->r->warn, "series %.*s: samples after %llu cannot be read: %s",
                 (int)c->line.len, (const char *)c->line.data, (unsigned long long)n, err_str(rc));
    if (fwrite(c->line.data, 1, c->line.len, c->out) != c->line.len)
        return -EPIPE; /* the reader went away (SIGPIPE is ignored) */
    c->series++;
    c->samples += n;
    return 0;
}

static int ss_total(struct ss_ctx *c)
{
    buf_reset(&c->line);
    if (!c->json) {
        buf_printf(&c->line, "# series %llu samples %llu warnings %zu\n",
                   (unsigned long long)c->series, (unsigned long long)c->samples, c->r->warn.n);
    } else {
        struct jsonw w;
        jsonw_init(&w, &c->line);
        jsonw_obj_begin(&w);
        jsonw_key_cstr(&w, "total");
        jsonw_obj_begin(&w);
        jsonw_key_cstr(&w, "series");
        jsonw_uint(&w, c->series);
        jsonw_key_cstr(&w, "samples");
        jsonw_uint(&w, c->samples);
        jsonw_obj_end(&w);
        jsonw_key_cstr(&w, "warnings");
        jsonw_arr_begin(&w);
        for (size_t i = 0; i < c->r->warn.n; i++)
            jsonw_cstr(&w, c->r->warn.v[i]);
        jsonw_arr_end(&w);
        jsonw_obj_end(&w);
        int rc = jsonw_finish(&w);
        if (rc == 0)
            rc = buf_append_u8(&c->line, '\n');
        if (rc)
            return rc;
    }
    fwrite(c->line.data, 1, c->line.len, c->out);
    return 0;
}

int ctl_series_samples(struct ctl_report *r, bool json, FILE *out)
{
    struct ss_ctx c = {.r = r, .json = json, .out = out, .line = BUF_INIT};
    int rc = ctl_merge_walk(r, true, ss_one, &c);
    r->samples_merged = c.samples;
    if (rc == 0)
        rc = ss_total(&c);
    buf_deinit(&c.line);
    return rc;
}
