/* block: writer -> reader round trips on random series, select with random matchers and time
 * ranges against a brute-force evaluation (samples bit-exact, stale NaN included), label
 * names/values, the ranged access path (bytes read through a counting source), corruption of every
 * part detected with file and offset and quarantined, deletion deferred to the last reader, chunk
 * file rotation and spool spill, writer and open errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>

#include "engine/index/matcher.h"
#include "engine/tsdb/block.h"
#include "tests/unit/engine/tsdb/test_block_util.h"
#include "tests/unit/prop.h"

#define HOUR_MS (3600 * 1000LL)

static char root[PATH_MAX];
static char blocks[PATH_MAX + 16];

static int setup(void **state)
{
    (void)state;
    char shard[PATH_MAX + 8];
    tb_tmpdir(root, sizeof root);
    snprintf(shard, sizeof shard, "%s/shard", root);
    snprintf(blocks, sizeof blocks, "%s/shard/blocks", root);
    mkdir(shard, 0755);
    mkdir(blocks, 0755);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    block_remove_dir(root);
    return 0;
}

static const char *const names_pool[] = {"__name__", "instance", "job", "le", "zone"};
static const char *const values_pool[] = {"up", "node", "0",           "1", "10.0.0.1:9100",
                                          "x",  "api",  "\xe2\x82\xac"};

static void random_data(struct prop *p, struct tb_data *d, size_t n)
{
    memset(d, 0, sizeof *d);
    char spec[256];
    for (size_t i = 0; i < n; i++) {
        size_t k = 0;
        spec[0] = 0;
        for (size_t j = 0; j < 5; j++) {
            if (j > 0 && prop_next(p) % 3 == 0)
                continue;
            k += (size_t)snprintf(spec + k, sizeof spec - k, "%s%s=%s", k ? "," : "", names_pool[j],
                                  values_pool[prop_next(p) % 8]);
        }
        k += (size_t)snprintf(spec + k, sizeof spec - k, ",id=%zu", i); /* unique label sets */
        struct tb_series *s = tb_add(d, spec);
        size_t ns = 1 + prop_next(p) % 240;
        tb_samples(s, (int64_t)(prop_next(p) % 3600) * 1000, 15000, ns, 1 + prop_next(p) % 120,
                   prop_next(p));
    }
    tb_sort(d);
}

static struct matcher random_matcher(struct prop *p)
{
    static const char *const res[] = {".*", ".+", "u.*", ".*1", "node|up", "[0-9]+", "", "x|api|1"};
    const char *name = prop_next(p) % 8 == 0 ? "nope" : names_pool[prop_next(p) % 5];
    enum matcher_type t = (enum matcher_type)(prop_next(p) % 4);
    const char *v = (t == MATCHER_RE || t == MATCHER_NRE) && prop_next(p) % 2
                        ? res[prop_next(p) % 8]
                        : (prop_next(p) % 6 == 0 ? "" : values_pool[prop_next(p) % 8]);
    struct matcher m;
    char err[128];
    assert_int_equal(matcher_init(&m, t, str_from_cstr(name), str_from_cstr(v), err, sizeof err),
                     0);
    return m;
}

static struct str value_of(const struct tb_series *s, struct str name)
{
    for (size_t i = 0; i < s->n_labels; i++)
        if (str_eq(s->labels[i].name, name))
            return s->labels[i].value;
    return (struct str){"", 0};
}

static bool brute_match(const struct tb_series *s, const struct matcher *ms, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!matcher_matches(&ms[i], value_of(s, ms[i].name)))
            return false;
    return true;
}

static bool labels_eq(const struct tb_series *a, const struct tb_series *b)
{
    return labels_cmp(a->labels, a->n_labels, b->labels, b->n_labels) == 0;
}

/* Checks a selection against the input: same series, exactly the overlapping chunks, same bytes
 * and samples. */
static void check_select(struct prop *p, struct block *b, const struct tb_data *in,
                         const struct matcher *ms, size_t n, int64_t mint, int64_t maxt)
{
    struct chunk_series_set *set;
    prop_check(p, block_select(b, ms, n, mint, maxt, &set) == 0);
    struct tb_data got;
    prop_check(p, tb_collect(set, &got) == 0);
    chunk_series_set_close(set);
    size_t k = 0;
    for (size_t i = 0; i < in->n; i++) {
        const struct tb_series *s = &in->s[i];
        size_t keep = 0;
        for (size_t c = 0; c < s->n_chunks; c++)
            keep += s->chunks[c].maxt_ms >= mint && s->chunks[c].mint_ms <= maxt;
        if (!brute_match(s, ms, n) || keep == 0)
            continue;
        prop_check(p, k < got.n);
        const struct tb_series *g = &got.s[k++];
        prop_check(p, labels_eq(s, g));
        prop_check(p, g->n_chunks == keep);
        size_t gc = 0;
        for (size_t c = 0; c < s->n_chunks; c++) {
            const struct chunk_meta *w = &s->chunks[c];
            if (!(w->maxt_ms >= mint && w->mint_ms <= maxt))
                continue;
            const struct chunk_meta *h = &g->chunks[gc++];
            prop_check(p, h->mint_ms == w->mint_ms && h->maxt_ms == w->maxt_ms &&
                              h->samples == w->samples && h->encoding == w->encoding &&
                              h->len == w->len && memcmp(h->data, w->data, w->len) == 0);
        }
        if (keep == s->n_chunks) {
            prop_check(p, g->n == s->n);
            prop_check(p, memcmp(g->ts, s->ts, s->n * sizeof *s->ts) == 0);
            prop_check(p, memcmp(g->v, s->v, s->n * sizeof *s->v) == 0);
        }
    }
    prop_check(p, k == got.n);
    tb_free(&got);
}

static void roundtrip_with(enum block_io io)
{
    struct prop p = prop_begin("block_select_vs_brute_force");
    for (int iter = 0; iter < 6; iter++) {
        struct tb_data d;
        random_data(&p, &d, 20 + prop_next(&p) % 150);
        struct blockindex_meta meta;
        char path[PATH_MAX];
        /* chunks stored as given (float packing off): compared byte for byte below */
        struct block_write_opts asis = {.float_pack_off = true};
        prop_check(&p, tb_write(blocks, &d, 0, 2 * HOUR_MS, &asis, &meta, path, sizeof path) == 0);
        uint64_t samples = 0, chunks = 0;
        for (size_t i = 0; i < d.n; i++) {
            samples += d.s[i].n;
            chunks += d.s[i].n_chunks;
        }
        prop_check(&p, meta.num_series == d.n && meta.num_samples == samples &&
                           meta.num_chunks == chunks && meta.level == 1 && meta.n_sources == 1);
        struct block_source *src;
        struct block *b;
        prop_check(&p, block_source_dir_create(path, io, &src) == 0);
        prop_check(&p, block_open_source(src, path, &b, NULL) == 0);
        prop_check(&p, block_verify(b, NULL) == 0);
        prop_check(&p, blockindex_ulid_cmp(&block_meta(b)->ulid, &meta.ulid) == 0);
        check_select(&p, b, &d, NULL, 0, INT64_MIN, INT64_MAX);
        for (int q = 0; q < 40; q++) {
            struct matcher ms[3];
            size_t n = 1 + prop_next(&p) % 3;
            for (size_t i = 0; i < n; i++)
                ms[i] = random_matcher(&p);
            int64_t mint = (int64_t)(prop_next(&p) % (2 * HOUR_MS)),
                    maxt = mint + (int64_t)(prop_next(&p) % HOUR_MS);
            if (q % 4 == 0)
                mint = INT64_MIN, maxt = INT64_MAX;
            check_select(&p, b, &d, ms, n, mint, maxt);
            for (size_t i = 0; i < n; i++)
                matcher_deinit(&ms[i]);
        }
        block_unref(b);
        blockindex_meta_deinit(&meta);
        tb_free(&d);
    }
}

static void test_roundtrip_mmap(void **state)
{
    (void)state;
    roundtrip_with(BLOCK_IO_MMAP);
}

static void test_roundtrip_pread(void **state)
{
    (void)state;
    roundtrip_with(BLOCK_IO_PREAD);
}

/* ---- label names and values --------------------------------------------------------------------
 */

static int str_qcmp(const void *a, const void *b)
{
    return str_cmp(*(const struct str *)a, *(const struct str *)b);
}

/* Sorted unique names (value_of == NULL) or values of `name` over matching series. */
static size_t brute_labels(const struct tb_data *d, const struct matcher *ms, size_t n,
                           const struct str *name, struct str *out)
{
    size_t k = 0;
    for (size_t i = 0; i < d->n; i++) {
        if (!brute_match(&d->s[i], ms, n))
            continue;
        for (size_t j = 0; j < d->s[i].n_labels; j++) {
            if (!name)
                out[k++] = d->s[i].labels[j].name;
            else if (str_eq(d->s[i].labels[j].name, *name))
                out[k++] = d->s[i].labels[j].value;
        }
    }
    qsort(out, k, sizeof *out, str_qcmp);
    size_t u = 0;
    for (size_t i = 0; i < k; i++)
        if (u == 0 || !str_eq(out[u - 1], out[i]))
            out[u++] = out[i];
    return u;
}

static void test_label_names_values(void **state)
{
    (void)state;
    struct prop p = prop_begin("block_labels_vs_brute_force");
    struct tb_data d;
    random_data(&p, &d, 120);
    struct blockindex_meta meta;
    char path[PATH_MAX];
    assert_int_equal(tb_write(blocks, &d, 0, 2 * HOUR_MS, NULL, &meta, path, sizeof path), 0);
    struct block *b;
    assert_int_equal(block_open(path, &b, NULL), 0);
    struct str *want = malloc(d.n * 16 * sizeof *want);
    for (int q = 0; q < 60; q++) {
        struct matcher ms[2];
        size_t n = prop_next(&p) % 3;
        for (size_t i = 0; i < n; i++)
            ms[i] = random_matcher(&p);
        struct str *got;
        size_t ng, nw;
        prop_check(&p, block_label_names(b, ms, n, &got, &ng) == 0);
        nw = brute_labels(&d, ms, n, NULL, want);
        prop_check(&p, ng == nw);
        for (size_t i = 0; i < ng; i++)
            prop_check(&p, str_eq(got[i], want[i]));
        free(got);
        struct str name = str_from_cstr(names_pool[prop_next(&p) % 5]);
        prop_check(&p, block_label_values(b, name, ms, n, &got, &ng) == 0);
        nw = brute_labels(&d, ms, n, &name, want);
        prop_check(&p, ng == nw);
        for (size_t i = 0; i < ng; i++)
            prop_check(&p, str_eq(got[i], want[i]));
        free(got);
        for (size_t i = 0; i < n; i++)
            matcher_deinit(&ms[i]);
    }
    struct str *got;
    size_t ng;
    assert_int_equal(block_label_values(b, STR_LIT("nope"), NULL, 0, &got, &ng), 0);
    assert_int_equal(ng, 0);
    free(got);
    free(want);
    block_unref(b);
    blockindex_meta_deinit(&meta);
    tb_free(&d);
}

/* ---- ranged reads -------------------------------------------------------------------------------
 */

struct counting_source {
    struct block_source base;
    struct block_source *inner;
    uint64_t bytes, reads;
};

struct counting_file {
    struct block_file base;
    struct block_file *inner;
    struct counting_source *src;
};

static int cf_read(struct block_file *f, uint64_t off, size_t len, uint8_t *dst)
{
    struct counting_file *c = (struct counting_file *)f;
    c->src->bytes += len;
    c->src->reads++;
    return c->inner->ops->read(c->inner, off, len, dst);
}

static void cf_close(struct block_file *f)
{
    struct counting_file *c = (struct counting_file *)f;
    c->inner->ops->close(c->inner);
    free(c);
}

static const struct block_file_ops cf_ops = {cf_read, cf_close};

static int cs_open(struct block_source *s, const char *name, struct block_file **out)
{
    struct counting_source *cs = (struct counting_source *)s;
    struct counting_file *c = calloc(1, sizeof *c);
    int rc = cs->inner->ops->open(cs->inner, name, &c->inner);
    if (rc) {
        free(c);
        return rc;
    }
    c->base.ops = &cf_ops;
    c->base.size = c->inner->size;
    c->base.map = NULL; /* force reads through the counter */
    c->src = cs;
    *out = &c->base;
    return 0;
}

static void cs_destroy(struct block_source *s)
{
    struct counting_source *cs = (struct counting_source *)s;
    cs->inner->ops->destroy(cs->inner);
}

static const struct block_source_ops cs_ops = {cs_open, cs_destroy};

static void test_ranged_reads(void **state)
{
    (void)state;
    struct tb_data d = {0};
    char spec[128];
    for (int i = 0; i < 2000; i++) {
        snprintf(spec, sizeof spec,
                 "__name__=node_cpu_seconds_total,cpu=%d,instance=host-%03d:9100,"
                 "job=node,mode=%s",
                 i % 8, i / 8, (const char *[]){"idle", "user", "system", "iowait"}[i % 4]);
        tb_samples(tb_add(&d, spec), 0, 15000, 480, 120, (uint64_t)i);
    }
    tb_sort(&d);
    struct blockindex_meta meta;
    char path[PATH_MAX];
    assert_int_equal(tb_write(blocks, &d, 0, 2 * HOUR_MS, NULL, &meta, path, sizeof path), 0);
    struct counting_source cs = {{&cs_ops}, NULL, 0, 0};
    assert_int_equal(block_source_dir_create(path, BLOCK_IO_PREAD, &cs.inner), 0);
    struct block *b;
    assert_int_equal(block_open_source(&cs.base, path, &b, NULL), 0);
    uint64_t total = block_size_bytes(b), open_bytes = cs.bytes;
    struct matcher ms[2];
    char err[64];
    matcher_init(&ms[0], MATCHER_EQ, STR_LIT("instance"), STR_LIT("host-042:9100"), err,
                 sizeof err);
    matcher_init(&ms[1], MATCHER_EQ, STR_LIT("mode"), STR_LIT("user"), err, sizeof err);
    struct chunk_series_set *set;
    assert_int_equal(block_select(b, ms, 2, INT64_MIN, INT64_MAX, &set), 0);
    struct tb_data got;
    assert_int_equal(tb_collect(set, &got), 0);
    chunk_series_set_close(set);
    assert_int_equal(got.n, 2); /* cpus 1 and 5 of host 42 */
    assert_int_equal(got.s[0].n, 480);
    uint64_t query_bytes = cs.bytes - open_bytes;
    print_message("block %llu bytes; open read %llu; selective query read %llu in %llu reads\n",
                  (unsigned long long)total, (unsigned long long)open_bytes,
                  (unsigned long long)query_bytes, (unsigned long long)cs.reads);
    assert_true(open_bytes + query_bytes < total / 20);
    /* the query read exactly its chunks plus small index pieces */
    uint64_t chunk_bytes = 0;
    for (size_t i = 0; i < got.n; i++)
        for (size_t c = 0; c < got.s[i].n_chunks; c++)
            chunk_bytes += got.s[i].chunks[c].len + BLOCKINDEX_CHUNK_OVERHEAD;
    assert_true(query_bytes < chunk_bytes + 64 * 1024);
    matcher_deinit(&ms[0]);
    matcher_deinit(&ms[1]);
    tb_free(&got);
    block_unref(b);
    blockindex_meta_deinit(&meta);
    tb_free(&d);
}

/* ---- corruption
 * ---------------------------------------------------------------------------------- */

static void small_data(struct tb_data *d)
{
    memset(d, 0, sizeof *d);
    tb_samples(tb_add(d, "__name__=up,job=a"), 0, 15000, 300, 120, 1);
    tb_samples(tb_add(d, "__name__=up,job=b"), 1000, 15000, 200, 120, 2);
    tb_samples(tb_add(d, "__name__=down,job=a"), 5000, 30000, 100, 50, 3);
    tb_sort(d);
}

static void flip_byte(const char *file, uint64_t off)
{
    int fd = open(file, O_RDWR);
    assert_true(fd >= 0);
    uint8_t c;
    assert_int_equal(pread(fd, &c, 1, (off_t)off), 1);
    c ^= 0x40;
    assert_int_equal(pwrite(fd, &c, 1, (off_t)off), 1);
    close(fd);
}

static uint64_t file_size(const char *file)
{
    struct stat st;
    assert_int_equal(stat(file, &st), 0);
    return (uint64_t)st.st_size;
}

struct target {
    const char *file; /* relative to the block */
    int section;      /* index section (middle byte), -1: the TOC, -2: explicit offset */
    uint64_t off;
};

static void corrupt_one(const struct target *t)
{
    struct tb_data d;
    small_data(&d);
    struct blockindex_meta meta;
    char path[PATH_MAX], file[PATH_MAX + 32];
    struct block_write_opts asis = {.float_pack_off = true}; /* offsets below assume XOR sizes */
    assert_int_equal(tb_write(blocks, &d, 0, 2 * HOUR_MS, &asis, &meta, path, sizeof path), 0);
    snprintf(file, sizeof file, "%s/%s", path, t->file);
    uint64_t off = t->off, lo = 0, hi = off; /* a fault names the item holding the byte */
    if (t->section >= 0 || t->section == -1) {
        struct block *b;
        assert_int_equal(block_open(path, &b, NULL), 0);
        struct blockindex_toc toc;
        uint8_t raw[BLOCKINDEX_TOC_BYTES];
        int fd = open(file, O_RDONLY);
        assert_int_equal(pread(fd, raw, sizeof raw, (off_t)(file_size(file) - sizeof raw)),
                         (ssize_t)sizeof raw);
        close(fd);
        assert_int_equal(blockindex_toc_decode(raw, file_size(file), &toc), 0);
        block_unref(b);
        if (t->section == -1) {
            off = file_size(file) - 100;
            lo = file_size(file) - BLOCKINDEX_TOC_BYTES, hi = file_size(file);
        } else {
            off = toc.s[t->section].off + toc.s[t->section].len / 2;
            lo = toc.s[t->section].off;
            hi = lo + toc.s[t->section].len;
        }
    }
    flip_byte(file, off);
    struct block *b = NULL;
    struct block_fault f = {0};
    int rc = block_open(path, &b, &f);
    if (rc == 0)
        rc = block_verify(b, &f);
    block_unref(b);
    if (rc != ERR_CORRUPT)
        fail_msg("%s byte %llu: rc %d", t->file, (unsigned long long)off, rc);
    if (strcmp(f.file, t->file) != 0)
        fail_msg("%s: fault names %s", t->file, f.file);
    if (f.offset < lo || f.offset > hi)
        fail_msg("%s: fault offset %llu outside [%llu, %llu]", t->file,
                 (unsigned long long)f.offset, (unsigned long long)lo, (unsigned long long)hi);
    assert_int_equal(block_quarantine(path), 0);
    char q[PATH_MAX + 64];
    snprintf(q, sizeof q, "%s/shard/quarantine/%s", root, path + strlen(blocks) + 1);
    struct stat st;
    assert_int_equal(stat(q, &st), 0);
    assert_int_equal(stat(path, &st), -1);
    blockindex_meta_deinit(&meta);
    tb_free(&d);
}

static void test_corruption_everywhere(void **state)
{
    (void)state;
    const struct target targets[] = {
        {"meta.json", -2, 20},
        {"index", -2, 2},
        {"index", BLOCKINDEX_SYMBOLS, 0},
        {"index", BLOCKINDEX_SERIES, 0},
        {"index", BLOCKINDEX_SERIES_OFFSETS, 0},
        {"index", BLOCKINDEX_POSTINGS, 0},
        {"index", BLOCKINDEX_VALUES, 0},
        {"index", BLOCKINDEX_NAMES, 0},
        {"index", -1, 0},
        {"chunks/000001", -2, 3},
        {"chunks/000001", -2, 8},   /* first record's length */
        {"chunks/000001", -2, 500}, /* inside some record */
    };
    for (size_t i = 0; i < sizeof targets / sizeof *targets; i++)
        corrupt_one(&targets[i]);
}

/* A corrupt chunk met by a query: that series' read fails with the file and offset, the block is
 * marked, other series stay readable. */
static void test_select_meets_corrupt_chunk(void **state)
{
    (void)state;
    struct tb_data d;
    small_data(&d);
    struct blockindex_meta meta;
    char path[PATH_MAX], file[PATH_MAX + 32];
    assert_int_equal(tb_write(blocks, &d, 0, 2 * HOUR_MS, NULL, &meta, path, sizeof path), 0);
    snprintf(file, sizeof file, "%s/chunks/000001", path);
    /* d.s[0] is {__name__="down"}: its first chunk is the first record at offset 8 */
    flip_byte(file, 8 + 5 + 3);
    struct block *b;
    assert_int_equal(block_open(path, &b, NULL), 0);
    struct matcher m;
    char err[64];
    matcher_init(&m, MATCHER_EQ, STR_LIT("__name__"), STR_LIT("down"), err, sizeof err);
    struct chunk_series_set *set;
    assert_int_equal(block_select(b, &m, 1, INT64_MIN, INT64_MAX, &set), 0);
    assert_int_equal(chunk_series_set_next(set), ERR_CORRUPT);
    assert_int_equal(chunk_series_set_err(set), ERR_CORRUPT);
    assert_int_equal(chunk_series_set_next(set), ERR_CORRUPT);
    chunk_series_set_close(set);
    struct block_fault f;
    assert_true(block_fault(b, &f));
    assert_string_equal(f.file, "chunks/000001");
    assert_int_equal(f.offset, 8);
    matcher_deinit(&m);
    matcher_init(&m, MATCHER_EQ, STR_LIT("__name__"), STR_LIT("up"), err, sizeof err);
    assert_int_equal(block_select(b, &m, 1, INT64_MIN, INT64_MAX, &set), 0);
    struct tb_data got;
    assert_int_equal(tb_collect(set, &got), 0);
    assert_int_equal(got.n, 2);
    chunk_series_set_close(set);
    tb_free(&got);
    matcher_deinit(&m);
    block_unref(b);
    blockindex_meta_deinit(&meta);
    tb_free(&d);
}

/* ---- lifetime
 * ------------------------------------------------------------------------------------ */

static void test_delete_waits_for_readers(void **state)
{
    (void)state;
    struct tb_data d;
    small_data(&d);
    struct blockindex_meta meta;
    char path[PATH_MAX], gone[PATH_MAX + 32];
    assert_int_equal(tb_write(blocks, &d, 0, 2 * HOUR_MS, NULL, &meta, path, sizeof path), 0);
    snprintf(gone, sizeof gone, "%s.tmp-for-deletion", path);
    struct block *b;
    assert_int_equal(block_open(path, &b, NULL), 0);
    struct chunk_series_set *set;
    assert_int_equal(block_select(b, NULL, 0, INT64_MIN, INT64_MAX, &set), 0);
    block_mark_deleted(b);
    block_mark_deleted(b);
    block_unref(b); /* the set still holds a reference */
    struct stat st;
    assert_int_equal(stat(path, &st), -1);
    assert_int_equal(stat(gone, &st), 0);
    struct tb_data got;
    assert_int_equal(tb_collect(set, &got), 0);
    assert_int_equal(got.n, 3);
    for (size_t i = 0; i < 3; i++)
        assert_memory_equal(got.s[i].v, d.s[i].v, d.s[i].n * 8);
    chunk_series_set_close(set);
    assert_int_equal(stat(gone, &st), -1);
    tb_free(&got);
    blockindex_meta_deinit(&meta);
    tb_free(&d);
}

static void test_rotation_and_spool(void **state)
{
    (void)state;
    struct prop p = prop_begin("block_rotation_spool");
    struct tb_data d;
    random_data(&p, &d, 300);
    struct blockindex_meta meta;
    char path[PATH_MAX], file[PATH_MAX + 32];
    struct block_write_opts o = {
        .chunk_file_bytes_max = 4096, .spool_mem_bytes_max = 1000, .float_pack_off = true};
    assert_int_equal(tb_write(blocks, &d, 0, 2 * HOUR_MS, &o, &meta, path, sizeof path), 0);
    snprintf(file, sizeof file, "%s/chunks/000003", path);
    struct stat st;
    assert_int_equal(stat(file, &st), 0);
    assert_true(st.st_size <= 4096);
    snprintf(file, sizeof file, "%s/series.spool", path);
    assert_int_equal(stat(file, &st), -1);
    snprintf(file, sizeof file, "%s/chunks", path);
    assert_true(tb_count_entries(file) > 10);
    struct block *b;
    assert_int_equal(block_open(path, &b, NULL), 0);
    assert_int_equal(block_verify(b, NULL), 0);
    check_select(&p, b, &d, NULL, 0, INT64_MIN, INT64_MAX);
    block_unref(b);
    blockindex_meta_deinit(&meta);
    tb_free(&d);
}

/* ---- errors
 * -------------------------------------------------------------------------------------- */

static void test_write_errors(void **state)
{
    (void)state;
    struct tb_data d;
    small_data(&d);
    struct blockindex_meta meta;
    /* chunk outside [mint, maxt) */
    assert_int_equal(tb_write(blocks, &d, 0, 3000 * 1000, NULL, &meta, NULL, 0), ERR_RANGE);
    blockindex_meta_deinit(&meta);
    assert_int_equal(tb_write(blocks, &d, 2000, 2 * HOUR_MS, NULL, &meta, NULL, 0), ERR_RANGE);
    blockindex_meta_deinit(&meta);
    assert_int_equal(tb_write(blocks, &d, 10, 10, NULL, &meta, NULL, 0), ERR_INVALID);
    blockindex_meta_deinit(&meta);
    /* not sorted */
    struct tb_series t = d.s[0];
    d.s[0] = d.s[1];
    d.s[1] = t;
    assert_int_equal(tb_write(blocks, &d, 0, 2 * HOUR_MS, NULL, &meta, NULL, 0), ERR_INVALID);
    blockindex_meta_deinit(&meta);
    tb_sort(&d);
    /* the input set fails */
    struct chunk_series_set *set = tb_set(&d);
    ((struct tb_set *)set)->fail_at = 2;
    ((struct tb_set *)set)->fail_code = ERR_CORRUPT;
    blockindex_meta_init(&meta);
    assert_int_equal(block_write(blocks, set, 0, 2 * HOUR_MS, &meta), ERR_CORRUPT);
    chunk_series_set_close(set);
    blockindex_meta_deinit(&meta);
    /* nothing to write */
    struct tb_data none = {0};
    tb_add(&none, "a=b"); /* a series without chunks is skipped */
    assert_int_equal(tb_write(blocks, &none, 0, 2 * HOUR_MS, NULL, &meta, NULL, 0), ERR_EMPTY);
    blockindex_meta_deinit(&meta);
    tb_free(&none);
    assert_int_equal(tb_count_entries(blocks), 0); /* no leftovers */
    tb_free(&d);
}

static void test_open_errors(void **state)
{
    (void)state;
    struct block *b;
    struct block_fault f = {0};
    char path[PATH_MAX + 32], file[PATH_MAX + 64];
    if (snprintf(path, sizeof path, "%s/01ARZ3NDEKTSV4RRFFQ69G5FAV", blocks) >= (int)sizeof path)
        abort();
    mkdir(path, 0755);
    assert_int_equal(block_open(path, &b, &f), ERR_NOT_FOUND);
    snprintf(file, sizeof file, "%s/meta.json", path);
    FILE *fp = fopen(file, "w");
    fputs("{\"ulid\":\"01ARZ3NDEKTSV4RRFFQ69G5FAV\",\"minTime\":0,\"maxTime\":10,\"stats\":{"
          "\"numSamples\":1,\"numSeries\":1,\"numChunks\":1},\"compaction\":{\"level\":1,"
          "\"sources\":[]},\"version\":7}",
          fp);
    fclose(fp);
    assert_int_equal(block_open(path, &b, &f), ERR_UNSUPPORTED);
    assert_string_equal(f.file, "meta.json");
    block_remove_dir(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_roundtrip_mmap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_roundtrip_pread, setup, teardown),
        cmocka_unit_test_setup_teardown(test_label_names_values, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ranged_reads, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corruption_everywhere, setup, teardown),
        cmocka_unit_test_setup_teardown(test_select_meets_corrupt_chunk, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delete_waits_for_readers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rotation_and_spool, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_errors, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
