/* Block writer: consumes a chunk series set once, streaming chunk records into chunks/NNNNNN and
 * spooling each series (labels as strings, chunk refs) to memory or a spool file, while the
 * postings are gathered in a memindex; then writes the index (symbols are known only at the end),
 * meta.json, fsyncs everything and renames `<ULID>.tmp/` to `<ULID>/`. Also ULID generation.
 * Layout: docs/formats/block.md. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/assert.h"
#include "base/clock.h"
#include "base/error.h"
#include "base/hash.h"
#include "base/log.h"
#include "engine/index/memindex.h"
#include "engine/tsdb/block.h"
#include "engine/tsdb/block_internal.h"
#include "formats/floatpack.h"
#include "formats/gorilla.h"

#define FLUSH_BYTES       (1u << 20) /* buffered chunk and index bytes before a write(2) */
#define SPOOL_SPILL_BYTES (8u << 20) /* series spool kept in memory up to this much */

struct bw {
    char tmp[PATH_MAX];
    bool made; /* tmp was created by us (and is removed on failure) */
    uint64_t file_max;
    uint64_t spool_max;
    int64_t mint, maxt;
    int cfd; /* current chunk file */
    uint32_t cfile;
    uint64_t cpos; /* its size including buffered bytes */
    struct buf cbuf;
    struct memindex ix;
    uint32_t n_series;
    uint64_t n_samples, n_chunks;
    struct buf spool; /* series records not yet spilled */
    int spool_fd;
    uint64_t spilled;
    struct buf prev; /* the previous series' labels, copied */
    struct label *prev_labels;
    size_t prev_n, cap_prev;
    struct blockindex_chunk *refs;
    size_t cap_refs;
    bool pack;     /* re-encode float chunks as CHUNK_PACKED when smaller */
    struct buf pk; /* a packed chunk being written */
    int64_t *pt;   /* samples of a group of float chunks */
    uint64_t *pv;
    size_t cap_p;
};

void block_ulid_new(uint64_t ms, struct blockindex_ulid *out)
{
    for (int i = 5; i >= 0; i--, ms >>= 8)
        out->b[i] = (uint8_t)ms;
    if (getrandom(out->b + 6, 10, 0) != 10) {
        /* no entropy source: still unique enough for a directory name within this host */
        uint64_t a = hash_bytes_seed(out->b, 6, (uint64_t)clock_mono_ns());
        uint64_t c = hash_bytes_seed(&a, sizeof a, (uint64_t)getpid());
        memcpy(out->b + 6, &a, 8);
        memcpy(out->b + 14, &c, 2);
    }
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
    while (n) {
        ssize_t k = write(fd, p, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return -errno;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

static void fsync_or_panic(int fd, const char *what)
{
    if (fsync(fd) != 0)
        PANIC("fsync of %s failed: %s", what, strerror(errno));
}

static void fsync_dir(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        PANIC("open of directory %s for fsync failed: %s", path, strerror(errno));
    fsync_or_panic(fd, path);
    close(fd);
}

static int open_in_tmp(struct bw *w, const char *name, int *fd)
{
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/%s", w->tmp, name);
    *fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    return *fd < 0 ? -errno : 0;
}

/* ---- chunk files --------------------------------------------------------------------------- */

static int chunks_flush(struct bw *w)
{
    int rc = write_all(w->cfd, w->cbuf.data, w->cbuf.len);
    buf_reset(&w->cbuf);
    return rc;
}

static int chunks_close(struct bw *w)
{
    if (w->cfd < 0)
        return 0;
    int rc = chunks_flush(w);
    if (rc == 0)
        fsync_or_panic(w->cfd, "chunk file");
    close(w->cfd);
    w->cfd = -1;
    return rc;
}

static int chunks_next_file(struct bw *w)
{
    int rc = chunks_close(w);
    if (rc)
        return rc;
    if (w->cfile == BLOCKINDEX_CHUNK_FILES_MAX)
        return ERR_LIMIT;
    char name[24];
    block_chunk_file_name(++w->cfile, name, sizeof name);
    if ((rc = open_in_tmp(w, name, &w->cfd)))
        return rc;
    uint8_t h[BLOCKINDEX_CHUNKS_HEADER_BYTES];
    blockindex_chunks_header_encode(h);
    w->cpos = sizeof h;
    return buf_append(&w->cbuf, h, sizeof h);
}

static int chunk_write(struct bw *w, const struct chunk_meta *c, struct blockindex_chunk *ref)
{
    uint64_t rec = (uint64_t)c->len + BLOCKINDEX_CHUNK_OVERHEAD;
    if (rec + BLOCKINDEX_CHUNKS_HEADER_BYTES > w->file_max)
        return ERR_LIMIT;
    int rc = 0;
    if (w->cfd < 0 || w->cpos + rec > w->file_max)
        rc = chunks_next_file(w);
    if (rc == 0)
        rc = blockindex_chunk_encode(c->encoding, c->data, (uint32_t)c->len, &w->cbuf);
    if (rc)
        return rc;
    *ref = (struct blockindex_chunk){c->mint_ms, c->maxt_ms, c->samples,      c->encoding,
                                     w->cfile,   w->cpos,    (uint32_t)c->len};
    w->cpos += rec;
    return w->cbuf.len >= FLUSH_BYTES ? chunks_flush(w) : 0;
}

/* ---- series intake ------------------------------------------------------------------------- */

static int check_series(const struct bw *w, const struct chunk_series *cs)
{
    for (size_t i = 1; i < cs->n_labels; i++)
        if (str_cmp(cs->labels[i - 1].name, cs->labels[i].name) >= 0)
            return ERR_INVALID;
    if (w->n_series && labels_cmp(w->prev_labels, w->prev_n, cs->labels, cs->n_labels) >= 0)
        return ERR_INVALID;
    for (size_t i = 0; i < cs->n_chunks; i++) {
        const struct chunk_meta *c = &cs->chunks[i];
        if (c->encoding < 1 || c->encoding > CHUNK_PACKED || c->samples == 0 || c->len == 0 ||
            c->len > UINT32_MAX || !c->data || c->maxt_ms < c->mint_ms ||
            (i && c->mint_ms < cs->chunks[i - 1].mint_ms))
            return ERR_INVALID;
        if (c->mint_ms < w->mint || c->maxt_ms >= w->maxt)
            return ERR_RANGE;
    }
    return w->n_series < BLOCKINDEX_SERIES_MAX ? 0 : ERR_LIMIT;
}

static int remember_labels(struct bw *w, const struct chunk_series *cs)
{
    buf_reset(&w->prev);
    if (cs->n_labels > w->cap_prev) {
        void *p = realloc(w->prev_labels, cs->n_labels * sizeof *w->prev_labels);
        if (!p)
            return ERR_NOMEM;
        w->prev_labels = p;
        w->cap_prev = cs->n_labels;
    }
    for (size_t i = 0; i < cs->n_labels; i++)
        if (buf_append(&w->prev, cs->labels[i].name.ptr, cs->labels[i].name.len) ||
            buf_append(&w->prev, cs->labels[i].value.ptr, cs->labels[i].value.len))
            return ERR_NOMEM;
    const char *p = (const char *)w->prev.data;
    for (size_t i = 0; i < cs->n_labels; i++) {
        w->prev_labels[i].name = (struct str){p ? p : "", cs->labels[i].name.len};
        p += cs->labels[i].name.len;
        w->prev_labels[i].value = (struct str){p ? p : "", cs->labels[i].value.len};
        p += cs->labels[i].value.len;
    }
    w->prev_n = cs->n_labels;
    return 0;
}

/* Spool record: n_labels, {name, value} as uvarint-length strings, n_chunks, raw chunk refs. */
static int spool_series(struct bw *w, const struct chunk_series *cs, size_t n_refs)
{
    int rc = buf_append_uvarint(&w->spool, cs->n_labels);
    for (size_t i = 0; i < cs->n_labels && rc == 0; i++) {
        const struct label *l = &cs->labels[i];
        rc = buf_append_uvarint(&w->spool, l->name.len) |
             buf_append(&w->spool, l->name.ptr, l->name.len) |
             buf_append_uvarint(&w->spool, l->value.len) |
             buf_append(&w->spool, l->value.ptr, l->value.len);
    }
    rc |= buf_append_uvarint(&w->spool, n_refs);
    rc |= buf_append(&w->spool, w->refs, n_refs * sizeof *w->refs);
    if (rc)
        return ERR_NOMEM;
    if (w->spool.len < w->spool_max)
        return 0;
    if (w->spool_fd < 0 && (rc = open_in_tmp(w, "series.spool", &w->spool_fd)))
        return rc;
    rc = write_all(w->spool_fd, w->spool.data, w->spool.len);
    w->spilled += w->spool.len;
    buf_reset(&w->spool);
    return rc;
}

/* ---- float chunk packing ------------------------------------------------------------------ */

static bool is_float(const struct chunk_meta *c)
{
    return c->encoding == CHUNK_XOR || c->encoding == CHUNK_PACKED;
}

/* End of the run of float chunks starting at i that pack together: each starts after the last
 * one ends, and the run stays within the sample and span caps. i itself when chunk i is not a
 * float chunk. */
static size_t pack_group_end(const struct chunk_meta *c, size_t n, size_t i)
{
    if (!is_float(&c[i]))
        return i;
    uint64_t samples = c[i].samples;
    size_t j = i + 1;
    for (; j < n && is_float(&c[j]) && c[j].mint_ms > c[j - 1].maxt_ms; j++) {
        if (samples + c[j].samples > BLOCK_PACK_SAMPLES_MAX ||
            c[j].maxt_ms - c[i].mint_ms >= BLOCK_PACK_SPAN_MS)
            break;
        samples += c[j].samples;
    }
    return j;
}

/* Decodes one float chunk, appending its samples to pt/pv from *k on. 0, or ERR_INVALID when the
 * chunk does not decode to exactly its announced samples and range. */
static int unpack_chunk(struct bw *w, const struct chunk_meta *c, size_t *k)
{
    struct gorilla_iter gi;
    struct floatpack_iter fi;
    bool xor = c->encoding == CHUNK_XOR;
    int rc =
        xor? gorilla_iter_init(&gi, c->data, c->len) : floatpack_iter_init(&fi, c->data, c->len);
    size_t end = *k + c->samples;
    /* one step past the announced count: the chunk must end there */
    for (size_t i = 0; rc == 0 && i <= c->samples; i++) {
        rc = xor? gorilla_iter_next(&gi) : floatpack_iter_next(&fi);
        if (rc != 1 || *k == end)
            break;
        if (xor)
            gorilla_iter_at_bits(&gi, &w->pt[*k], &w->pv[*k]);
        else
            floatpack_iter_at_bits(&fi, &w->pt[*k], &w->pv[*k]);
        (*k)++;
        rc = 0;
    }
    if (rc != 0 || *k != end || w->pt[end - c->samples] != c->mint_ms ||
        w->pt[end - 1] != c->maxt_ms)
        return ERR_INVALID;
    return 0;
}

/* Writes chunks c[0..n) (float, ascending, non-overlapping) as one packed chunk when that is
 * smaller than writing them as they are; otherwise as they are. */
static int pack_group(struct bw *w, const struct chunk_meta *c, size_t n, size_t *n_refs)
{
    size_t total = 0, plain = 0;
    for (size_t i = 0; i < n; i++) {
        total += c[i].samples;
        plain += c[i].len + BLOCKINDEX_CHUNK_OVERHEAD;
    }
    if (total > w->cap_p) {
        free(w->pt);
        free(w->pv);
        w->pt = malloc(total * sizeof *w->pt);
        w->pv = malloc(total * sizeof *w->pv);
        w->cap_p = w->pt && w->pv ? total : 0;
        if (!w->cap_p)
            return ERR_NOMEM;
    }
    size_t k = 0;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = unpack_chunk(w, &c[i], &k);
    buf_reset(&w->pk);
    /* chunks that do not decode as announced are kept as they are (readers report them) */
    if (rc == 0 && (rc = floatpack_encode(w->pt, w->pv, total, &w->pk)) == ERR_NOMEM)
        return rc;
    if (rc || w->pk.len + BLOCKINDEX_CHUNK_OVERHEAD >= plain) {
        rc = 0;
        for (size_t i = 0; i < n && rc == 0; i++)
            rc = chunk_write(w, &c[i], &w->refs[(*n_refs)++]);
        return rc;
    }
    struct chunk_meta m = {c[0].mint_ms, c[n - 1].maxt_ms, (uint32_t)total,
                           CHUNK_PACKED, w->pk.data,       w->pk.len};
    return chunk_write(w, &m, &w->refs[(*n_refs)++]);
}

static int take_series(struct bw *w, const struct chunk_series *cs)
{
    if (cs->n_chunks == 0)
        return 0;
    int rc = check_series(w, cs);
    if (rc)
        return rc;
    if (cs->n_chunks > w->cap_refs) {
        void *p = realloc(w->refs, cs->n_chunks * sizeof *w->refs);
        if (!p)
            return ERR_NOMEM;
        w->refs = p;
        w->cap_refs = cs->n_chunks;
    }
    size_t n_refs = 0;
    for (size_t i = 0; i < cs->n_chunks; i++)
        w->n_samples += cs->chunks[i].samples;
    for (size_t i = 0; i < cs->n_chunks;) {
        size_t j = w->pack ? pack_group_end(cs->chunks, cs->n_chunks, i) : i;
        if (j > i) {
            rc = pack_group(w, cs->chunks + i, j - i, &n_refs);
            i = j;
        } else {
            rc = chunk_write(w, &cs->chunks[i++], &w->refs[n_refs++]);
        }
        if (rc)
            return rc;
    }
    if ((rc = memindex_add(&w->ix, w->n_series, cs->labels, cs->n_labels)) ||
        (rc = spool_series(w, cs, n_refs)) || (rc = remember_labels(w, cs)))
        return rc;
    w->n_chunks += n_refs;
    w->n_series++;
    return 0;
}

/* ---- index --------------------------------------------------------------------------------- */

struct symtab {
    struct str *names; /* sorted label names (borrowed from the memindex) */
    size_t n_names;
    struct str **vals; /* per name: its sorted values */
    size_t *n_vals;
    struct str *syms; /* sorted unique union of names and values */
    size_t n_syms;
};

static int str_qcmp(const void *a, const void *b)
{
    return str_cmp(*(const struct str *)a, *(const struct str *)b);
}

static void symtab_free(struct symtab *t)
{
    for (size_t i = 0; t->vals && i < t->n_names; i++)
        free(t->vals[i]);
    free(t->vals);
    free(t->n_vals);
    free(t->names);
    free(t->syms);
}

static int symtab_build(const struct memindex *ix, struct symtab *t)
{
    int rc = memindex_label_names(ix, NULL, &t->names, &t->n_names);
    if (rc)
        return rc;
    t->vals = calloc(t->n_names + 1, sizeof *t->vals);
    t->n_vals = calloc(t->n_names + 1, sizeof *t->n_vals);
    if (!t->vals || !t->n_vals)
        return ERR_NOMEM;
    size_t total = t->n_names;
    for (size_t i = 0; i < t->n_names; i++) {
        if ((rc = memindex_label_values(ix, t->names[i], NULL, &t->vals[i], &t->n_vals[i])))
            return rc;
        total += t->n_vals[i];
    }
    if (!(t->syms = malloc((total + 1) * sizeof *t->syms)))
        return ERR_NOMEM;
    size_t k = 0;
    for (size_t i = 0; i < t->n_names; i++) {
        t->syms[k++] = t->names[i];
        for (size_t j = 0; j < t->n_vals[i]; j++)
            t->syms[k++] = t->vals[i][j];
    }
    qsort(t->syms, k, sizeof *t->syms, str_qcmp);
    t->n_syms = 0;
    for (size_t i = 0; i < k; i++)
        if (t->n_syms == 0 || !str_eq(t->syms[t->n_syms - 1], t->syms[i]))
            t->syms[t->n_syms++] = t->syms[i];
    return 0;
}

static uint32_t sym_ref(const struct symtab *t, struct str s)
{
    int64_t r = blockindex_symbol_find(t->syms, (uint32_t)t->n_syms, s);
    ASSERT(r >= 0);
    return (uint32_t)r;
}

static int drain(int fd, struct blockindex_writer *iw, bool all)
{
    if (!all && iw->out.len < FLUSH_BYTES)
        return 0;
    int rc = write_all(fd, iw->out.data, iw->out.len);
    buf_reset(&iw->out);
    return rc;
}

static struct str spool_str(struct rd *r)
{
    uint64_t n;
    const uint8_t *p;
    ASSERT(rd_uvarint(r, &n) == 0 && rd_take(r, (size_t)n, &p) == 0);
    return (struct str){(const char *)p, (size_t)n};
}

/* Re-reads the spooled series in order and writes their entries with final symbol refs. */
static int write_series(struct bw *w, const struct symtab *t, struct blockindex_writer *iw, int fd,
                        const uint8_t *p, size_t n)
{
    struct rd r = rd_make(p, n);
    struct blockindex_series tmp;
    blockindex_series_init(&tmp);
    int rc = 0;
    for (uint32_t id = 0; id < w->n_series && rc == 0; id++) {
        uint64_t nl, nc;
        const uint8_t *raw;
        ASSERT(rd_uvarint(&r, &nl) == 0);
        if (2 * nl + 1 > tmp.cap_refs) {
            free(tmp.refs);
            tmp.cap_refs = 2 * nl + 1;
            if (!(tmp.refs = malloc(tmp.cap_refs * sizeof *tmp.refs))) {
                tmp.cap_refs = 0;
                rc = ERR_NOMEM;
                break;
            }
        }
        for (size_t i = 0; i < 2 * nl; i++)
            tmp.refs[i] = sym_ref(t, spool_str(&r));
        ASSERT(rd_uvarint(&r, &nc) == 0 && rd_take(&r, nc * sizeof *tmp.chunks, &raw) == 0);
        if (nc > tmp.cap_chunks) {
            free(tmp.chunks);
            if (!(tmp.chunks = malloc(nc * sizeof *tmp.chunks))) {
                tmp.cap_chunks = 0;
                rc = ERR_NOMEM;
                break;
            }
            tmp.cap_chunks = nc;
        }
        memcpy(tmp.chunks, raw, nc * sizeof *tmp.chunks);
        rc = blockindex_writer_series(iw, tmp.refs, nl, tmp.chunks, nc);
        if (rc == 0)
            rc = drain(fd, iw, false);
    }
    blockindex_series_deinit(&tmp);
    return rc;
}

/* The spooled bytes: the in-memory buffer, or the spool file (mapped) when it spilled. */
static int spool_bytes(struct bw *w, const uint8_t **p, size_t *n)
{
    if (w->spool_fd < 0) {
        *p = w->spool.data;
        *n = w->spool.len;
        return 0;
    }
    int rc = write_all(w->spool_fd, w->spool.data, w->spool.len);
    w->spilled += w->spool.len;
    buf_deinit(&w->spool);
    if (rc)
        return rc;
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/series.spool", w->tmp);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    void *m = fd < 0 ? MAP_FAILED : mmap(NULL, w->spilled, PROT_READ, MAP_PRIVATE, fd, 0);
    rc = m == MAP_FAILED ? -errno : 0;
    if (fd >= 0)
        close(fd);
    *p = rc ? NULL : m;
    *n = w->spilled;
    return rc;
}

static int write_labels(struct bw *w, const struct symtab *t, struct blockindex_writer *iw, int fd)
{
    int rc = 0;
    for (size_t i = 0; i < t->n_names && rc == 0; i++) {
        size_t nv = t->n_vals[i];
        uint32_t *refs = malloc((nv + 1) * sizeof *refs);
        roaring_bitmap_t **bms = malloc((nv + 1) * sizeof *bms);
        rc = refs && bms ? 0 : ERR_NOMEM;
        for (size_t j = 0; j < nv && rc == 0; j++) {
            refs[j] = sym_ref(t, t->vals[i][j]);
            /* the memindex is the writer's own and about to go: run-optimizing in place is fine */
            bms[j] = (roaring_bitmap_t *)memindex_postings(&w->ix, t->names[i], t->vals[i][j]);
        }
        if (rc == 0)
            rc = blockindex_writer_label(iw, sym_ref(t, t->names[i]), refs, bms, nv);
        if (rc == 0)
            rc = drain(fd, iw, false);
        free(refs);
        free(bms);
    }
    return rc;
}

static int write_index(struct bw *w)
{
    struct symtab t = {0};
    struct blockindex_writer iw;
    const uint8_t *sp = NULL;
    size_t sn = 0;
    int fd = -1;
    int rc = blockindex_writer_init(&iw, w->cfile);
    if (rc == 0)
        rc = symtab_build(&w->ix, &t);
    if (rc == 0)
        rc = open_in_tmp(w, "index", &fd);
    if (rc == 0)
        rc = blockindex_writer_symbols(&iw, t.syms, t.n_syms);
    if (rc == 0)
        rc = spool_bytes(w, &sp, &sn);
    if (rc == 0)
        rc = write_series(w, &t, &iw, fd, sp, sn);
    if (rc == 0)
        rc = write_labels(w, &t, &iw, fd);
    if (rc == 0)
        rc = blockindex_writer_finish(&iw);
    if (rc == 0)
        rc = drain(fd, &iw, true);
    if (rc == 0)
        fsync_or_panic(fd, "index");
    if (fd >= 0)
        close(fd);
    if (w->spool_fd >= 0 && sp)
        munmap((void *)sp, sn);
    blockindex_writer_deinit(&iw);
    symtab_free(&t);
    return rc;
}

/* ---- meta.json and the whole block --------------------------------------------------------- */

static int write_meta(struct bw *w, const struct blockindex_meta *m)
{
    struct buf b = BUF_INIT;
    int fd = -1;
    int rc = blockindex_meta_encode(m, &b);
    if (rc == 0)
        rc = open_in_tmp(w, "meta.json", &fd);
    if (rc == 0)
        rc = write_all(fd, b.data, b.len);
    if (rc == 0)
        fsync_or_panic(fd, "meta.json");
    if (fd >= 0)
        close(fd);
    buf_deinit(&b);
    return rc;
}

static int fill_meta(struct bw *w, const struct blockindex_ulid *id, struct blockindex_meta *m)
{
    m->ulid = *id;
    m->min_time_ms = w->mint;
    m->max_time_ms = w->maxt;
    m->num_samples = w->n_samples;
    m->num_series = w->n_series;
    m->num_chunks = w->n_chunks;
    m->version = BLOCKINDEX_META_VERSION;
    if (m->level == 0)
        m->level = 1;
    return m->n_sources ? 0 : blockindex_meta_set_sources(m, id, 1);
}

static int make_tmp_dir(struct bw *w, const char *blocks_dir, struct blockindex_ulid *id)
{
    for (int attempt = 0;; attempt++) {
        char name[BLOCKINDEX_ULID_CHARS + 1];
        block_ulid_new((uint64_t)clock_real_ms(), id);
        blockindex_ulid_format(id, name);
        if (snprintf(w->tmp, sizeof w->tmp, "%s/%s%s", blocks_dir, name, BLOCK_TMP_SUFFIX) >=
            (int)sizeof w->tmp)
            return -ENAMETOOLONG;
        if (mkdir(w->tmp, 0755) == 0) {
            w->made = true;
            break;
        }
        if (errno != EEXIST || attempt == 3)
            return -errno;
    }
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/chunks", w->tmp);
    return mkdir(path, 0755) == 0 ? 0 : -errno;
}

static int consume(struct bw *w, struct chunk_series_set *set)
{
    int rc;
    while ((rc = chunk_series_set_next(set)) == 1)
        if ((rc = take_series(w, chunk_series_set_at(set))))
            return rc;
    if (rc == 0 && w->n_series == 0)
        rc = ERR_EMPTY;
    if (rc == 0)
        rc = chunks_close(w);
    return rc;
}

/* Renames the finished temporary directory into place, durably. */
static int publish(struct bw *w, const char *blocks_dir)
{
    char path[PATH_MAX + 32], final[PATH_MAX];
    snprintf(path, sizeof path, "%s/series.spool", w->tmp);
    if (w->spool_fd >= 0 && unlink(path) != 0)
        return -errno;
    snprintf(path, sizeof path, "%s/chunks", w->tmp);
    fsync_dir(path);
    fsync_dir(w->tmp);
    size_t n = strlen(w->tmp) - strlen(BLOCK_TMP_SUFFIX);
    memcpy(final, w->tmp, n);
    final[n] = 0;
    if (rename(w->tmp, final) != 0)
        return -errno;
    fsync_dir(blocks_dir);
    return 0;
}

int block_write_ex(const char *blocks_dir, struct chunk_series_set *set, int64_t mint_ms,
                   int64_t maxt_ms, const struct block_write_opts *opts,
                   struct blockindex_meta *meta)
{
    if (mint_ms >= maxt_ms)
        return ERR_INVALID;
    struct bw w = {.cfd = -1, .spool_fd = -1, .mint = mint_ms, .maxt = maxt_ms};
    w.file_max =
        opts && opts->chunk_file_bytes_max ? opts->chunk_file_bytes_max : BLOCKINDEX_CHUNK_FILE_MAX;
    w.spool_max = opts && opts->spool_mem_bytes_max ? opts->spool_mem_bytes_max : SPOOL_SPILL_BYTES;
    w.pack = !(opts && opts->float_pack_off);
    if (w.file_max > BLOCKINDEX_CHUNK_FILE_MAX)
        w.file_max = BLOCKINDEX_CHUNK_FILE_MAX;
    struct blockindex_ulid id;
    int rc = memindex_init(&w.ix);
    if (rc == 0)
        rc = make_tmp_dir(&w, blocks_dir, &id);
    if (rc == 0)
        rc = consume(&w, set);
    if (rc == 0)
        rc = write_index(&w);
    if (rc == 0)
        rc = fill_meta(&w, &id, meta);
    if (rc == 0)
        rc = write_meta(&w, meta);
    if (w.spool_fd >= 0)
        close(w.spool_fd);
    if (w.cfd >= 0)
        close(w.cfd);
    if (rc == 0)
        rc = publish(&w, blocks_dir);
    if (rc && w.made)
        block_remove_dir(w.tmp);
    memindex_deinit(&w.ix);
    buf_deinit(&w.cbuf);
    buf_deinit(&w.spool);
    buf_deinit(&w.prev);
    free(w.prev_labels);
    free(w.refs);
    buf_deinit(&w.pk);
    free(w.pt);
    free(w.pv);
    return rc;
}

int block_write(const char *blocks_dir, struct chunk_series_set *set, int64_t mint_ms,
                int64_t maxt_ms, struct blockindex_meta *meta)
{
    return block_write_ex(blocks_dir, set, mint_ms, maxt_ms, NULL, meta);
}
