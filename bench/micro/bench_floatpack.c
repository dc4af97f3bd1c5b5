/* Micro benchmark of the floatpack block chunk (formats/floatpack.h) against the Gorilla XOR chunk
 * on the same samples: bytes/sample, encode and decode ns/sample.
 *
 * Data: the three generated shapes of bench_gorilla.c (constant, node_exporter, random; its
 * generator is included below so both benchmarks see identical samples), and optionally a corpus
 * of real samples: `bench_floatpack <corpus>`, the file bench/micro/floatpack_corpus.py builds from
 * `promtool tsdb dump` ("FPC2", then per series: u32 length and text of the labels as dumped, u32
 * n, n int64 timestamps (ms), n uint64 value bit patterns, little endian). The corpus is measured
 * as scraped ("corpus") and thinned to every 15th sample ("corpus_15s": a 15 s scrape interval
 * from a 1 s scrape). For the corpus the benchmark also writes real blocks (block_write_ex of the
 * series cut into 120-sample Gorilla chunks, as the head cuts them) with float packing off and on
 * and prints their bytes per sample on disk, index and meta.json included ("block_floatpack").
 *
 * Layouts measured per shape:
 *   gorilla_120     Gorilla chunks of 120 samples (what the head cuts; the baseline);
 *   packed_120      each 120-sample chunk as floatpack, or Gorilla where that is smaller;
 *   packed_block    what block_write stores: a series' chunks merged into one floatpack chunk of up
 *                   to BLOCK_SAMPLES samples, kept only where smaller than its Gorilla chunks.
 * Bytes are chunk bytes only (block record and index overhead: see bench_block). Decode runs
 * floatpack_iter_next + _at_bits per sample ("decode") and floatpack_iter_next_batch into 128-slot
 * arrays ("decode_batch") over the packed_block chunks; the Gorilla figures over gorilla_120.
 * Medians of REPS runs of thread CPU time. One JSON object per line. Never pass/fail on time. */
#include "formats/floatpack.h"

int bench_gorilla_main(void);
#define main bench_gorilla_main
#include "bench_gorilla.c"
#undef main

#include <dirent.h>
#include <limits.h>
#include <sys/stat.h>

#include "base/error.h"
#include "engine/tsdb/block.h"

enum { BLOCK_SAMPLES = 16384, BATCH = 128 };

struct pchunks {
    uint8_t **data;
    size_t *len;
    uint8_t *packed; /* 1: floatpack, 0: gorilla */
    size_t n, cap, bytes, n_packed, samples;
};

static void pchunks_push(struct pchunks *c, const uint8_t *p, size_t len, bool packed)
{
    if (c->n == c->cap) {
        c->cap = c->cap ? 2 * c->cap : 1024;
        c->data = realloc(c->data, c->cap * sizeof *c->data);
        c->len = realloc(c->len, c->cap * sizeof *c->len);
        c->packed = realloc(c->packed, c->cap);
        if (!c->data || !c->len || !c->packed)
            abort();
    }
    c->data[c->n] = malloc(len ? len : 1);
    memcpy(c->data[c->n], p, len);
    c->len[c->n] = len;
    c->packed[c->n++] = packed;
    c->bytes += len;
    c->n_packed += packed;
}

static void pchunks_free(struct pchunks *c)
{
    for (size_t i = 0; i < c->n; i++)
        free(c->data[i]);
    free(c->data);
    free(c->len);
    free(c->packed);
    memset(c, 0, sizeof *c);
}

/* Gorilla bytes of samples [i, end) cut into 120-sample chunks, appended to g when non-NULL. */
static size_t gorilla_bytes(const struct series *s, size_t i, size_t end, struct gorilla_enc *e,
                            struct pchunks *g)
{
    size_t bytes = 0;
    for (size_t j = i; j < end; j += CHUNK_SAMPLES) {
        size_t k_end = j + CHUNK_SAMPLES < end ? j + CHUNK_SAMPLES : end;
        gorilla_enc_reset(e);
        for (size_t k = j; k < k_end; k++)
            if (gorilla_enc_append_bits(e, s->t[k], s->v[k]))
                abort();
        struct gorilla_snap snap;
        gorilla_enc_snapshot(e, &snap);
        bytes += snap.len;
        if (g)
            pchunks_push(g, snap.data, snap.len, false);
    }
    return bytes;
}

/* Cuts every series into groups of `group` samples; each group becomes one floatpack chunk, or
 * its Gorilla chunks when those are smaller. Returns the encode ns (floatpack only). */
static int64_t pack_all(const struct dataset *ds, size_t group, struct pchunks *out)
{
    struct gorilla_enc e;
    gorilla_enc_init(&e);
    struct buf b = BUF_INIT;
    int64_t ns = 0;
    for (size_t k = 0; k < ds->n_series; k++) {
        const struct series *s = &ds->s[k];
        for (size_t i = 0; i < s->n; i += group) {
            size_t end = i + group < s->n ? i + group : s->n;
            buf_reset(&b);
            int64_t t0 = clock_thread_cpu_ns();
            if (floatpack_encode(s->t + i, s->v + i, end - i, &b))
                abort();
            ns += clock_thread_cpu_ns() - t0;
            if (!out)
                continue;
            if (b.len <= gorilla_bytes(s, i, end, &e, NULL))
                pchunks_push(out, b.data, b.len, true);
            else
                gorilla_bytes(s, i, end, &e, out);
        }
    }
    buf_deinit(&b);
    gorilla_enc_deinit(&e);
    return ns;
}

static int64_t decode_all(const struct pchunks *c, bool batch)
{
    uint64_t acc = 0;
    int64_t ts[BATCH];
    double vs[BATCH];
    int64_t t0 = clock_thread_cpu_ns();
    for (size_t k = 0; k < c->n; k++) {
        int64_t t;
        uint64_t v;
        if (!c->packed[k]) {
            struct gorilla_iter it;
            gorilla_iter_init(&it, c->data[k], c->len[k]);
            while (gorilla_iter_next_batch(&it, ts, vs, BATCH) > 0)
                acc += (uint64_t)ts[0];
            continue;
        }
        struct floatpack_iter it;
        floatpack_iter_init(&it, c->data[k], c->len[k]);
        if (batch) {
            int n;
            while ((n = floatpack_iter_next_batch(&it, ts, vs, BATCH)) > 0) {
                memcpy(&v, &vs[n - 1], sizeof v);
                acc += (uint64_t)ts[n - 1] ^ v ^ (uint64_t)n;
            }
            if (n < 0)
                abort();
        } else {
            while (floatpack_iter_next(&it) == 1) {
                floatpack_iter_at_bits(&it, &t, &v);
                acc += (uint64_t)t ^ v;
            }
            if (floatpack_iter_err(&it))
                abort();
        }
    }
    int64_t ns = clock_thread_cpu_ns() - t0;
    sink = acc;
    return ns;
}

/* The whole dataset as Gorilla 120-sample chunks. */
static void gorilla_all(const struct dataset *ds, struct pchunks *out)
{
    struct gorilla_enc e;
    gorilla_enc_init(&e);
    for (size_t k = 0; k < ds->n_series; k++)
        gorilla_bytes(&ds->s[k], 0, ds->s[k].n, &e, out);
    gorilla_enc_deinit(&e);
}

static void print_line(const struct dataset *ds, const char *layout, const struct pchunks *c,
                       double gorilla_bps, double enc, double dec, double bat)
{
    double bps = (double)c->bytes / (double)ds->n_samples;
    printf("{\"bench\":\"floatpack\",\"shape\":\"%s\",\"layout\":\"%s\",\"bytes_per_sample\":%.4f,"
           "\"ratio_to_gorilla\":%.3f,\"encode_ns_per_sample\":%.2f,"
           "\"decode_ns_per_sample\":%.2f,\"decode_batch_ns_per_sample\":%.2f,\"chunks\":%zu,"
           "\"packed_chunks\":%zu,\"samples\":%zu,\"series\":%zu,\"reps\":%d}\n",
           ds->shape, layout, bps, bps / gorilla_bps, enc, dec, bat, c->n, c->n_packed,
           ds->n_samples, ds->n_series, REPS);
    fflush(stdout);
}

static void bench_layout(const struct dataset *ds, const char *layout, size_t group,
                         double gorilla_bps)
{
    struct pchunks c = {0};
    pack_all(ds, group, &c);
    int64_t enc[REPS], dec[REPS], bat[REPS];
    for (int r = 0; r < REPS; r++) {
        enc[r] = pack_all(ds, group, NULL);
        dec[r] = decode_all(&c, false);
        bat[r] = decode_all(&c, true);
    }
    double n = (double)ds->n_samples;
    print_line(ds, layout, &c, gorilla_bps, (double)median(enc, REPS) / n,
               (double)median(dec, REPS) / n, (double)median(bat, REPS) / n);
    pchunks_free(&c);
}

static void bench_fp_shape(const struct dataset *ds)
{
    struct pchunks g = {0};
    gorilla_all(ds, &g);
    double gbps = (double)g.bytes / (double)ds->n_samples;
    int64_t dec[REPS];
    for (int r = 0; r < REPS; r++)
        dec[r] = decode_all(&g, true);
    print_line(ds, "gorilla_120", &g, gbps, 0, 0,
               (double)median(dec, REPS) / (double)ds->n_samples);
    pchunks_free(&g);
    bench_layout(ds, "packed_120", CHUNK_SAMPLES, gbps);
    bench_layout(ds, "packed_block", BLOCK_SAMPLES, gbps);
}

/* ---- real corpus ---- */

static bool read_exact(FILE *f, void *p, size_t n)
{
    return fread(p, 1, n, f) == n;
}

/* Labels of the corpus series (parallel to the dataset's series), parsed from the dumped text. */
struct clabels {
    struct label l[32];
    size_t n;
    char *text;
};

static struct clabels *corpus_labels;

/* Parses `{a="b", c="d"}` in place (values unescaped). False when malformed or too many. */
static bool parse_labels(char *p, struct clabels *out)
{
    out->n = 0;
    if (*p++ != '{')
        return false;
    while (*p && *p != '}') {
        char *name = p;
        while (*p && *p != '=')
            p++;
        if (p[0] != '=' || p[1] != '"' || out->n == 32)
            return false;
        size_t name_len = (size_t)(p - name);
        p += 2;
        char *val = p, *w = p;
        while (*p && *p != '"') {
            if (*p == '\\' && p[1]) {
                p++;
                *w++ = *p == 'n' ? '\n' : *p;
                p++;
                continue;
            }
            *w++ = *p++;
        }
        if (*p != '"')
            return false;
        out->l[out->n++] = (struct label){{name, name_len}, {val, (size_t)(w - val)}};
        p++;
        while (*p == ',' || *p == ' ')
            p++;
    }
    return true;
}

static bool load_corpus(const char *path, struct dataset *ds, size_t thin)
{
    FILE *f = fopen(path, "rb");
    char magic[4];
    if (!f || !read_exact(f, magic, 4) || memcmp(magic, "FPC2", 4) != 0) {
        fprintf(stderr, "bench_floatpack: %s is not a corpus file\n", path);
        if (f)
            fclose(f);
        return false;
    }
    size_t cap = 0;
    memset(ds, 0, sizeof *ds);
    ds->shape = thin > 1 ? "corpus_15s" : "corpus";
    uint32_t n, tl;
    while (read_exact(f, &tl, sizeof tl)) {
        char *text = malloc(tl + 1);
        if (!text || !read_exact(f, text, tl) || !read_exact(f, &n, sizeof n))
            abort();
        text[tl] = 0;
        int64_t *t = malloc((n ? n : 1) * sizeof *t);
        uint64_t *v = malloc((n ? n : 1) * sizeof *v);
        if (!t || !v || !read_exact(f, t, n * sizeof *t) || !read_exact(f, v, n * sizeof *v))
            abort();
        size_t m = 0;
        for (size_t i = 0; i < n; i += thin, m++) {
            t[m] = t[i];
            v[m] = v[i];
        }
        if (ds->n_series == cap) {
            cap = cap ? 2 * cap : 256;
            ds->s = realloc(ds->s, cap * sizeof *ds->s);
            corpus_labels = realloc(corpus_labels, cap * sizeof *corpus_labels);
        }
        struct clabels *cl = &corpus_labels[ds->n_series];
        if (m == 0 || m > FLOATPACK_SAMPLES_MAX || !parse_labels(text, cl)) {
            free(t);
            free(v);
            free(text);
            continue;
        }
        cl->text = text;
        ds->s[ds->n_series++] = (struct series){t, v, m};
        ds->n_samples += m;
    }
    fclose(f);
    return ds->n_series > 0;
}

static void corpus_free(struct dataset *ds)
{
    for (size_t k = 0; k < ds->n_series; k++)
        free(corpus_labels[k].text);
    free(corpus_labels);
    corpus_labels = NULL;
    dataset_free(ds);
}

/* ---- corpus as a block ---- */

struct cset {
    struct chunk_series_set base;
    const struct dataset *ds;
    size_t *order; /* series in label order */
    size_t i;
    struct pchunks g; /* current series' Gorilla chunks */
    struct chunk_meta *metas;
    struct chunk_series cur;
};

static const struct dataset *sort_ds;

static int label_order(const void *a, const void *b)
{
    const struct clabels *x = &corpus_labels[*(const size_t *)a];
    const struct clabels *y = &corpus_labels[*(const size_t *)b];
    (void)sort_ds;
    return labels_cmp(x->l, x->n, y->l, y->n);
}

static int cset_next(struct chunk_series_set *base)
{
    struct cset *c = (struct cset *)base;
    if (c->i == c->ds->n_series)
        return 0;
    size_t k = c->order[c->i++];
    const struct series *s = &c->ds->s[k];
    pchunks_free(&c->g);
    struct gorilla_enc e;
    gorilla_enc_init(&e);
    gorilla_bytes(s, 0, s->n, &e, &c->g);
    gorilla_enc_deinit(&e);
    c->metas = realloc(c->metas, (c->g.n + 1) * sizeof *c->metas);
    for (size_t j = 0, i = 0; j < c->g.n; j++, i += CHUNK_SAMPLES) {
        size_t end = i + CHUNK_SAMPLES < s->n ? i + CHUNK_SAMPLES : s->n;
        c->metas[j] = (struct chunk_meta){s->t[i],   s->t[end - 1], (uint32_t)(end - i),
                                          CHUNK_XOR, c->g.data[j],  c->g.len[j]};
    }
    c->cur = (struct chunk_series){corpus_labels[k].l, corpus_labels[k].n, c->metas, c->g.n};
    return 1;
}

static const struct chunk_series *cset_at(struct chunk_series_set *base)
{
    return &((struct cset *)base)->cur;
}

static void cset_close(struct chunk_series_set *base)
{
    (void)base;
}

static const struct chunk_series_set_ops cset_ops = {cset_next, cset_at, cset_close};

static uint64_t dir_bytes(const char *path)
{
    DIR *d = opendir(path);
    uint64_t total = 0;
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char p[PATH_MAX + 256];
        snprintf(p, sizeof p, "%s/%s", path, e->d_name);
        struct stat st;
        if (stat(p, &st) == 0)
            total += S_ISDIR(st.st_mode) ? dir_bytes(p) : (uint64_t)st.st_size;
    }
    if (d)
        closedir(d);
    return total;
}

/* Writes the corpus as one block (packing off, then on) and prints bytes per sample on disk. */
static void bench_corpus_block(const struct dataset *ds)
{
    char dir[] = "/tmp/strata-bench-floatpack-XXXXXX";
    if (!mkdtemp(dir))
        abort();
    size_t *order = malloc(ds->n_series * sizeof *order);
    int64_t mint = INT64_MAX, maxt = INT64_MIN;
    for (size_t k = 0; k < ds->n_series; k++) {
        order[k] = k;
        mint = ds->s[k].t[0] < mint ? ds->s[k].t[0] : mint;
        maxt = ds->s[k].t[ds->s[k].n - 1] > maxt ? ds->s[k].t[ds->s[k].n - 1] : maxt;
    }
    sort_ds = ds;
    qsort(order, ds->n_series, sizeof *order, label_order);
    uint64_t bytes[2] = {0, 0}, idx[2] = {0, 0}, nchunks[2] = {0, 0};
    for (int on = 0; on < 2; on++) {
        struct cset c = {.base = {&cset_ops, 0}, .ds = ds, .order = order};
        struct block_write_opts o = {.float_pack_off = !on};
        struct blockindex_meta meta;
        blockindex_meta_init(&meta);
        int rc = block_write_ex(dir, &c.base, mint, maxt + 1, &o, &meta);
        pchunks_free(&c.g);
        free(c.metas);
        if (rc) {
            fprintf(stderr, "bench_floatpack: block_write: %s\n", err_str(rc));
            exit(1);
        }
        char id[BLOCKINDEX_ULID_CHARS + 1], p[sizeof dir + 64];
        blockindex_ulid_format(&meta.ulid, id);
        snprintf(p, sizeof p, "%s/%s", dir, id);
        bytes[on] = dir_bytes(p);
        snprintf(p, sizeof p, "%s/%s/index", dir, id);
        struct stat st;
        idx[on] = stat(p, &st) == 0 ? (uint64_t)st.st_size : 0;
        nchunks[on] = meta.num_chunks;
        blockindex_meta_deinit(&meta);
    }
    double n = (double)ds->n_samples;
    printf("{\"bench\":\"block_floatpack\",\"shape\":\"%s\",\"series\":%zu,\"samples\":%zu,"
           "\"xor_block_bytes\":%" PRIu64 ",\"xor_bytes_per_sample\":%.4f,\"xor_chunks\":%" PRIu64
           ",\"packed_block_bytes\":%" PRIu64 ",\"packed_bytes_per_sample\":%.4f,"
           "\"packed_chunks\":%" PRIu64 ",\"packed_index_bytes\":%" PRIu64 ",\"ratio\":%.3f}\n",
           ds->shape, ds->n_series, ds->n_samples, bytes[0], (double)bytes[0] / n, nchunks[0],
           bytes[1], (double)bytes[1] / n, nchunks[1], idx[1], (double)bytes[1] / (double)bytes[0]);
    fflush(stdout);
    free(order);
    block_remove_dir(dir);
}

int main(int argc, char **argv)
{
    struct dataset ds;
    gen_simple(&ds, "constant", false);
    bench_fp_shape(&ds);
    dataset_free(&ds);
    gen_node_exporter(&ds);
    bench_fp_shape(&ds);
    dataset_free(&ds);
    gen_simple(&ds, "random", true);
    bench_fp_shape(&ds);
    dataset_free(&ds);
    for (size_t thin = 1; argc > 1 && thin <= 15; thin += 14) {
        if (!load_corpus(argv[1], &ds, thin))
            return 1;
        bench_fp_shape(&ds);
        bench_corpus_block(&ds);
        corpus_free(&ds);
    }
    return 0;
}
