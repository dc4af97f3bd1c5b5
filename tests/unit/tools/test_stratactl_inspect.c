/* stratactl inspect end to end, in process: a data directory built through the engine
 * (tests/integration/stratactl_fixture.h: blocks cut by the tsdb, a checkpointed WAL with a torn
 * tail, head chunk files, a quarantined block, a block being written) is scanned, analyzed and
 * listed series by series; the counts must match what was written, and the directory must be
 * byte-for-byte unchanged afterwards. Then the directory is damaged on purpose: a compaction's
 * output next to its inputs (superseded blocks), an unreadable block, a damaged WAL checkpoint;
 * and the scratch directory's removal is checked. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ftw.h>

#include "base/crc32c.h"
#include "tests/unit/tools/json_check.h"
#include "engine/tsdb/compact.h"
#include "tests/integration/stratactl_fixture.h"
#include "tools/stratactl/analyze.c"
#include "tools/stratactl/inspect_common.c"
#include "tools/stratactl/inspect_fmt.c"
#include "tools/stratactl/inspect_head.c"
#include "tools/stratactl/inspect_merge.c"
#include "tools/stratactl/inspect_opts.c"
#include "tools/stratactl/inspect_report.c"
#include "tools/stratactl/inspect_scan.c"
#include "tools/stratactl/tmpdir.c"

#define SERIES 6
#define HOURS  7
#define STEP   60000

static const struct fx_opts fxo = {.shards = 2, .series = SERIES, .step_ms = STEP, .hours = HOURS};

static char root[512], data[600], scratch[600];
static char *expect_text;
static size_t expect_len;
static char *snapshot_before;

/* ---- helpers ---- */

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
    (void)st;
    (void)flag;
    (void)f;
    return remove(p);
}

static uint32_t file_crc(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    uint8_t buf[4096];
    uint32_t crc = 0;
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        crc = crc32c_update(crc, buf, n);
    fclose(f);
    return crc;
}

static FILE *snap_out;

static int snap_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
    (void)f;
    fprintf(snap_out, "%s %o %lld %lld.%09ld %08x\n", p, st->st_mode, (long long)st->st_size,
            (long long)st->st_mtim.tv_sec, st->st_mtim.tv_nsec, flag == FTW_F ? file_crc(p) : 0u);
    return 0;
}

/* Every path under data with mode, size, mtime and content CRC (nftw order is stable for an
 * unchanged directory). */
static char *snapshot(void)
{
    char *text = NULL;
    size_t n = 0;
    snap_out = open_memstream(&text, &n);
    assert_non_null(snap_out);
    assert_int_equal(nftw(data, snap_one, 16, FTW_PHYS), 0);
    fclose(snap_out);
    return text;
}

static int line_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The lines of text, sorted, joined again. */
static char *sorted_lines(const char *text)
{
    char *copy = strdup(text), *save = NULL;
    char **v = calloc(strlen(text) + 1, sizeof *v);
    size_t n = 0;
    for (char *l = strtok_r(copy, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
        v[n++] = l;
    qsort(v, n, sizeof *v, line_cmp);
    char *out = calloc(strlen(text) + 2, 1);
    for (size_t i = 0; i < n; i++) {
        strcat(out, v[i]);
        strcat(out, "\n");
    }
    free(v);
    free(copy);
    return out;
}

static void scan(struct ctl_report *r, int only)
{
    ctl_report_init(r, data);
    assert_int_equal(ctl_scan(r, only, scratch), 0);
}

/* --series-samples as text, with the summary line removed and the separators as the fixture's. */
static char *series_samples(struct ctl_report *r)
{
    char *text = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&text, &n);
    assert_int_equal(ctl_series_samples(r, false, f), 0);
    fclose(f);
    char *hash = strstr(text, "\n# series ");
    assert_non_null(hash);
    hash[1] = '\0';
    for (char *p = text; *p; p++) {
        if (*p != '\n')
            continue;
        /* the last three spaces of each line become tabs */
        char *q = p;
        for (int k = 0; k < 3; k++) {
            do
                q--;
            while (*q != ' ');
            *q = '\t';
        }
    }
    char *s = sorted_lines(text);
    free(text);
    return s;
}

static uint64_t expected_total(void)
{
    return (uint64_t)fxo.shards * SERIES * (HOURS * 60) + fxo.shards * FX_OOO_N;
}

/* ---- setup ---- */

static int group_setup(void **state)
{
    (void)state;
    const char *base = getenv("TMPDIR");
    snprintf(root, sizeof root, "%s/stratactl-test-XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(root))
        return -1;
    snprintf(data, sizeof data, "%s/data", root);
    snprintf(scratch, sizeof scratch, "%s/scratch", root);
    if (mkdir(scratch, 0755) != 0)
        return -1;
    FILE *f = open_memstream(&expect_text, &expect_len);
    int rc = fx_build(data, &fxo, f);
    fclose(f);
    if (rc == 77) {
        fprintf(stderr, "io_uring unavailable: skipping\n");
        exit(77);
    }
    return rc;
}

static int group_teardown(void **state)
{
    (void)state;
    nftw(root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    free(expect_text);
    free(snapshot_before);
    return 0;
}

/* ---- read-only tests (the directory must not change) ---- */

static void test_snapshot_before(void **state)
{
    (void)state;
    snapshot_before = snapshot();
    assert_true(strlen(snapshot_before) > 0);
}

static void test_scan(void **state)
{
    (void)state;
    struct ctl_report r;
    scan(&r, -1);
    assert_int_equal(r.n_shards, 2);
    assert_int_equal(r.shards_declared, 2);
    uint64_t per_block = (uint64_t)SERIES * (2 * 60);
    for (size_t i = 0; i < 2; i++) {
        const struct ctl_shard *s = &r.shards[i];
        assert_int_equal(s->no, i);
        /* 7 h of data with 2 h ranges: [0,2h) and [2h,4h) were cut, 4h..7h is the head */
        assert_int_equal(s->n_blocks, 2);
        for (size_t j = 0; j < 2; j++) {
            const struct ctl_block *b = &s->blocks[j];
            assert_int_equal(b->err, 0);
            assert_false(b->superseded);
            assert_int_equal(b->level, 1);
            assert_int_equal(b->series, SERIES);
            assert_int_equal(b->samples, per_block);
            assert_int_equal(b->min_time_ms, FX_T0 + (int64_t)j * 2 * FX_HOUR_MS);
            assert_int_equal(b->max_time_ms, FX_T0 + (int64_t)(j + 1) * 2 * FX_HOUR_MS);
            assert_true(b->size_bytes > 0);
            assert_int_equal(strlen(b->ulid), 26);
        }
        assert_int_equal(s->head.series, SERIES);
        assert_int_equal(s->head.series_with_samples, SERIES);
        assert_int_equal(s->head.samples, (uint64_t)SERIES * 3 * 60 + FX_OOO_N);
        assert_int_equal(s->head.min_time_ms, FX_T0 + 4 * FX_HOUR_MS);
        assert_int_equal(s->head.max_time_ms, FX_T0 + HOURS * FX_HOUR_MS - STEP);
        assert_int_equal(s->head.min_valid_time_ms, FX_T0 + 4 * FX_HOUR_MS);
        assert_true(s->head.chunk_files >= 1 && s->head.chunk_file_bytes > 0);
        assert_true(s->wal.segments >= 1 && s->wal.segment_bytes > 0);
        assert_true(s->wal.checkpoint >= 1 && s->wal.checkpoint_bytes > 0);
        assert_int_equal(s->wal.series_conflicts, 0);
        assert_int_equal(s->wal.damaged_files, 0);
        assert_int_equal(s->wal.restarts, 0);
        assert_non_null(s->h);
    }
    /* shard 0: the torn record; shard 1: the quarantined block and the block being written */
    assert_int_equal(r.shards[0].wal.tail_err, ERR_TRUNCATED);
    assert_int_equal(r.shards[0].wal.tail_segment, r.shards[0].wal.last_segment);
    assert_true(r.shards[0].wal.tail_lost_bytes > 0);
    assert_int_equal(r.shards[1].wal.tail_err, 0);
    assert_int_equal(r.shards[0].n_quar, 0);
    assert_int_equal(r.shards[1].n_quar, 1);
    const struct ctl_quarantined *q = &r.shards[1].quar[0];
    assert_true(q->have_meta);
    assert_string_equal(q->name, q->ulid);
    assert_int_equal(q->series, 1);
    assert_int_equal(q->samples, 120);
    assert_int_equal(q->min_time_ms, FX_T0 - 2 * FX_HOUR_MS);
    assert_int_equal(r.shards[0].tmp_dirs, 0);
    assert_int_equal(r.shards[1].tmp_dirs, 1);
    assert_int_equal(r.warn.n, 1); /* the torn tail */
    assert_non_null(strstr(r.warn.v[0], "torn record"));
    struct ctl_totals t;
    ctl_report_totals(&r, &t);
    assert_int_equal(t.blocks, 4);
    assert_int_equal(t.samples, expected_total());
    assert_int_equal(t.quarantined, 1);
    assert_int_equal(t.min_time_ms, FX_T0);
    assert_int_equal(t.max_time_ms, FX_T0 + HOURS * FX_HOUR_MS - STEP);
    ctl_report_deinit(&r);
    /* the per-shard scratch heads are gone */
    assert_int_equal(rmdir(scratch), 0);
    assert_int_equal(mkdir(scratch, 0755), 0);
}

static void test_analysis(void **state)
{
    (void)state;
    struct ctl_report r;
    scan(&r, -1);
    assert_int_equal(ctl_analyze(&r), 0);
    assert_true(r.analyzed);
    assert_int_equal(r.an.series, 2 * SERIES); /* blocks and heads merged: each series once */
    struct ctl_top_entry *e;
    size_t n;
    assert_int_equal(ctl_analysis_top(&r.an, CTL_TOP_METRIC_SERIES, 10, &e, &n), 0);
    assert_int_equal(n, 3); /* k%3 over 6 series per shard: two each, per shard */
    for (size_t i = 0; i < n; i++)
        assert_int_equal(e[i].count, 4);
    free(e);
    assert_int_equal(ctl_analysis_top(&r.an, CTL_TOP_LABEL_VALUES, 1, &e, &n), 0);
    assert_int_equal(n, 1);
    assert_true(str_eq_cstr(e[0].name, "instance"));
    assert_int_equal(e[0].count, 2 * SERIES);
    free(e);
    struct buf b = BUF_INIT;
    assert_int_equal(ctl_report_json(&r, 20, &b), 0);
    assert_int_equal(buf_cstr(&b), 0);
    assert_non_null(strstr((const char *)b.data, "\"metric_names_most_series\":[{\"name\":"
                                                 "\"fx_metric_0\",\"series\":4},"));
    buf_reset(&b);
    assert_int_equal(ctl_report_text(&r, 20, &b), 0);
    assert_int_equal(buf_cstr(&b), 0);
    assert_non_null(strstr((const char *)b.data, "cardinality: 12 distinct series"));
    buf_deinit(&b);
    ctl_report_deinit(&r);
}

static void test_series_samples(void **state)
{
    (void)state;
    struct ctl_report r;
    scan(&r, -1);
    char *got = series_samples(&r);
    char *want = sorted_lines(expect_text);
    assert_string_equal(got, want);
    assert_int_equal(r.samples_merged, expected_total());
    free(got);
    free(want);
    /* JSON lines: one per series plus the total */
    char *text = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&text, &n);
    assert_int_equal(ctl_series_samples(&r, true, f), 0);
    fclose(f);
    size_t lines = 0;
    for (char *p = text, *nl; (nl = strchr(p, '\n')); p = nl + 1, lines++)
        assert_true(json_valid(p, (size_t)(nl - p)));
    assert_int_equal(lines, 2 * SERIES + 1);
    char want_total[96];
    snprintf(want_total, sizeof want_total, "{\"total\":{\"series\":%d,\"samples\":%llu}",
             2 * SERIES, (unsigned long long)expected_total());
    assert_non_null(strstr(text, want_total));
    assert_non_null(strstr(text, "\"labels\":{\"__name__\":\"fx_metric_1\",\"__tenant__\":"
                                 "\"anonymous\",\"instance\":\"host-0-1\",\"job\":\"job1\","
                                 "\"path\":\"a\\\"b\\n\"}"));
    free(text);
    ctl_report_deinit(&r);
}

static void test_one_shard_and_missing(void **state)
{
    (void)state;
    struct ctl_report r;
    scan(&r, 1);
    assert_int_equal(r.n_shards, 1);
    assert_int_equal(r.shards[0].no, 1);
    assert_int_equal(ctl_analyze(&r), 0);
    assert_int_equal(r.an.series, SERIES);
    ctl_report_deinit(&r);
    ctl_report_init(&r, data);
    assert_int_equal(ctl_scan(&r, 7, scratch), ERR_NOT_FOUND);
    ctl_report_deinit(&r);
    char missing[700];
    snprintf(missing, sizeof missing, "%s/nope", root);
    ctl_report_init(&r, missing);
    assert_int_equal(ctl_scan(&r, -1, scratch), ERR_NOT_FOUND);
    ctl_report_deinit(&r);
    /* a directory without shards: a warning, nothing else */
    ctl_report_init(&r, scratch);
    assert_int_equal(ctl_scan(&r, -1, scratch), 0);
    assert_int_equal(r.n_shards, 0);
    assert_int_equal(r.warn.n, 1);
    ctl_report_deinit(&r);
}

static void test_snapshot_after(void **state)
{
    (void)state;
    char *after = snapshot();
    assert_string_equal(after, snapshot_before);
    free(after);
}

/* ---- damaged and changing directories ---- */

static void test_superseded(void **state)
{
    (void)state;
    struct ctl_report r;
    scan(&r, 0);
    char blocks[700];
    snprintf(blocks, sizeof blocks, "%s/shard-000/blocks", data);
    struct block *in[2] = {r.shards[0].blocks[0].b, r.shards[0].blocks[1].b};
    struct blockindex_meta m;
    blockindex_meta_init(&m);
    /* a compaction that finished writing but has not deleted its inputs yet */
    assert_int_equal(compact_blocks(blocks, in, 2, &m), 0);
    blockindex_meta_deinit(&m);
    ctl_report_deinit(&r);
    scan(&r, -1);
    const struct ctl_shard *s = &r.shards[0];
    assert_int_equal(s->n_blocks, 3);
    size_t superseded = 0;
    for (size_t i = 0; i < 3; i++)
        superseded += s->blocks[i].superseded;
    assert_int_equal(superseded, 2);
    struct ctl_totals t;
    ctl_report_totals(&r, &t);
    assert_int_equal(t.blocks, 3); /* 1 in shard 0, 2 in shard 1 */
    assert_int_equal(t.samples, expected_total());
    char *got = series_samples(&r);
    char *want = sorted_lines(expect_text);
    assert_string_equal(got, want);
    free(got);
    free(want);
    ctl_report_deinit(&r);
}

static void test_unreadable_block(void **state)
{
    (void)state;
    char dir[700], meta[760];
    snprintf(dir, sizeof dir, "%s/shard-001/blocks/01HXXXXXXXXXXXXXXXXXXXXXXX", data);
    assert_int_equal(mkdir(dir, 0755), 0);
    snprintf(meta, sizeof meta, "%s/meta.json", dir);
    assert_int_equal(fx_write_file(meta, "{\"ulid\": 12"), 0);
    struct ctl_report r;
    scan(&r, 1);
    const struct ctl_shard *s = &r.shards[0];
    assert_int_equal(s->n_blocks, 3);
    const struct ctl_block *bad = NULL;
    for (size_t i = 0; i < 3; i++)
        if (s->blocks[i].err)
            bad = &s->blocks[i];
    assert_non_null(bad);
    assert_null(bad->b);
    assert_string_equal(bad->ulid, "01HXXXXXXXXXXXXXXXXXXXXXXX");
    assert_true(bad->size_bytes > 0);
    struct ctl_totals t;
    ctl_report_totals(&r, &t);
    assert_int_equal(t.unreadable, 1);
    assert_int_equal(t.blocks, 2);
    bool warned = false;
    for (size_t i = 0; i < r.warn.n; i++)
        warned |= strstr(r.warn.v[i], "01HXXXXXXXXXXXXXXXXXXXXXXX cannot be read") != NULL;
    assert_true(warned);
    assert_int_equal(ctl_analyze(&r), 0); /* the unreadable block is left out */
    assert_int_equal(r.an.series, SERIES);
    ctl_report_deinit(&r);
    block_remove_dir(dir);
}

static void test_damaged_checkpoint(void **state)
{
    (void)state;
    char wal[700], path[1200];
    snprintf(wal, sizeof wal, "%s/shard-001/wal", data);
    DIR *d = opendir(wal);
    assert_non_null(d);
    struct dirent *e;
    path[0] = '\0';
    while ((e = readdir(d)))
        if (strncmp(e->d_name, "checkpoint.", 11) == 0)
            snprintf(path, sizeof path, "%s/%s/00000001", wal, e->d_name);
    closedir(d);
    assert_true(path[0] != '\0');
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    uint8_t byte;
    assert_int_equal(pread(fd, &byte, 1, 40), 1);
    byte ^= 0xff;
    assert_int_equal(pwrite(fd, &byte, 1, 40), 1);
    close(fd);
    struct ctl_report r;
    scan(&r, 1);
    const struct ctl_shard *s = &r.shards[0];
    assert_int_equal(s->wal.damaged_files, 1);
    assert_true(s->wal.damaged_lost_bytes > 0);
    assert_true(s->head.samples < (uint64_t)SERIES * 3 * 60); /* what the checkpoint held */
    bool warned = false;
    for (size_t i = 0; i < r.warn.n; i++)
        warned |= strstr(r.warn.v[i], "damaged checkpoint") != NULL;
    assert_true(warned);
    ctl_report_deinit(&r);
}

static void test_persisted_cut(void **state)
{
    (void)state;
    char path[700], line[80];
    snprintf(path, sizeof path, "%s/shard-000/head_min_valid_time", data);
    snprintf(line, sizeof line, "strata-head-min-valid-time-ms %lld\n",
             (long long)(FX_T0 + 6 * FX_HOUR_MS)); /* a chunk boundary: [4h, 6h) is dropped */
    assert_int_equal(fx_write_file(path, line), 0);
    struct ctl_report r;
    scan(&r, 0);
    const struct ctl_shard *s = &r.shards[0];
    assert_int_equal(s->head.min_valid_time_ms, FX_T0 + 6 * FX_HOUR_MS);
    assert_int_equal(s->head.samples, (uint64_t)SERIES * 60 + FX_OOO_N);
    assert_int_equal(s->head.min_time_ms, FX_T0 + 6 * FX_HOUR_MS);
    assert_int_equal(s->wal.samples_skipped, (uint64_t)SERIES * 120);
    ctl_report_deinit(&r);
    assert_int_equal(fx_write_file(path, "strata-head-min-valid-time-ms 12x\n"), 0);
    scan(&r, 0); /* damaged: ignored */
    assert_int_equal(r.shards[0].head.min_valid_time_ms, FX_T0 + 4 * FX_HOUR_MS);
    ctl_report_deinit(&r);
    unlink(path);
}

/* A block whose series section is damaged still opens (the open reads the TOC, symbols and
 * names only); the analysis leaves it out with a warning. */
static void test_damaged_series_section(void **state)
{
    (void)state;
    struct ctl_report r;
    scan(&r, 1);
    char path[700];
    snprintf(path, sizeof path, "%s/index", r.shards[0].blocks[0].dir);
    ctl_report_deinit(&r);
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    uint8_t tocb[BLOCKINDEX_TOC_BYTES], byte;
    assert_int_equal(pread(fd, tocb, sizeof tocb, st.st_size - BLOCKINDEX_TOC_BYTES),
                     (ssize_t)sizeof tocb);
    struct blockindex_toc toc;
    assert_int_equal(blockindex_toc_decode(tocb, (uint64_t)st.st_size, &toc), 0);
    off_t at = (off_t)toc.s[BLOCKINDEX_SERIES].off + 3;
    assert_int_equal(pread(fd, &byte, 1, at), 1);
    byte ^= 0x10;
    assert_int_equal(pwrite(fd, &byte, 1, at), 1);
    close(fd);
    scan(&r, 1);
    assert_int_equal(r.shards[0].blocks[0].err, 0);
    assert_int_equal(ctl_analyze(&r), 0);
    assert_int_equal(r.an.series, SERIES); /* from the other blocks and the head */
    bool warned = false;
    for (size_t i = 0; i < r.warn.n; i++)
        warned |= strstr(r.warn.v[i], "index damaged") != NULL;
    assert_true(warned);
    ctl_report_deinit(&r);
}

static void test_tmpdir(void **state)
{
    (void)state;
    const char *t = ctl_tmpdir_create(scratch);
    assert_non_null(t);
    char p[700];
    snprintf(p, sizeof p, "%s/a", t);
    assert_int_equal(mkdir(p, 0755), 0);
    snprintf(p, sizeof p, "%s/a/b", t);
    assert_int_equal(mkdir(p, 0755), 0);
    for (int i = 0; i < 300; i++) { /* more entries than one getdents buffer */
        snprintf(p, sizeof p, "%s/a/b/file-with-a-longish-name-%03d", t, i);
        assert_int_equal(fx_write_file(p, "x"), 0);
    }
    snprintf(p, sizeof p, "%s/f", t);
    assert_int_equal(fx_write_file(p, "y"), 0);
    snprintf(p, sizeof p, "%s", t);
    ctl_tmpdir_remove();
    struct stat st;
    assert_int_not_equal(stat(p, &st), 0);
    ctl_tmpdir_remove(); /* idempotent */
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGHUP, SIG_DFL);
    signal(SIGPIPE, SIG_DFL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_snapshot_before),
        cmocka_unit_test(test_scan),
        cmocka_unit_test(test_analysis),
        cmocka_unit_test(test_series_samples),
        cmocka_unit_test(test_one_shard_and_missing),
        cmocka_unit_test(test_snapshot_after),
        cmocka_unit_test(test_superseded),
        cmocka_unit_test(test_unreadable_block),
        cmocka_unit_test(test_damaged_checkpoint),
        cmocka_unit_test(test_persisted_cut),
        cmocka_unit_test(test_damaged_series_section),
        cmocka_unit_test(test_tmpdir),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
