/* engine/tsdb/wal recovery: the piecewise segment reader agrees with walrec's whole-file reader on
 * random damaged segments (records, stop offset, torn-vs-corrupt verdict) for every piece size;
 * a torn tail cut at every byte offset of the last records is repaired on open and replay yields
 * exactly the complete records before the cut; zero-filled tails; corruption in the middle of the
 * last segment; a corrupt, torn or missing non-last segment is reported with segment and offset
 * and replay can resume after it; records larger than the read piece. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "base/error.h"
#include "engine/tsdb/wal_internal.h"
#include "test_wal_util.h"
#include "tests/unit/prop.h"

struct fixture {
    char dir[256];
    struct loop loop;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    tw_mkdtemp(f->dir, sizeof f->dir);
    if (loop_init(&f->loop, NULL) != 0)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    loop_deinit(&f->loop);
    tw_rm_rf(f->dir);
    free(f);
    return 0;
}

/* Writes records seq first..first+n-1 to dir through a WAL and closes it. */
static void write_wal(struct fixture *f, const char *dir, uint64_t seg_size, int first, int n)
{
    struct wal_config cfg = tw_cfg(WAL_FSYNC_BATCH, seg_size);
    struct wal *w;
    assert_int_equal(wal_open(dir, &cfg, &f->loop, &w), 0);
    for (int i = first; i < first + n; i++) {
        struct buf *b;
        size_t mark;
        assert_int_equal(wal_record_begin(w, &b, &mark), 0);
        tw_samples_payload(b, (uint64_t)i, 1 + (size_t)(i * 5) % 23);
        assert_int_equal(wal_record_end(w, mark, WALREC_SAMPLES, i % 4 ? 0 : WALREC_COMPRESS), 0);
        for (;;) { /* one write per record, so segments roll at their size */
            wal_flush(w);
            if (wal_idle(w))
                break;
            assert_true(loop_run_once(&f->loop, 10000000) >= 0);
        }
    }
    wal_close(w);
}

/* ---- piecewise reader vs the whole-file reader ---- */

struct verdict {
    size_t n;
    uint64_t offs[512];
    int err;
    uint64_t stop;
};

static void whole_file(const uint8_t *p, size_t len, struct verdict *v)
{
    struct walrec_reader r;
    walrec_reader_init(&r, p, len);
    struct walrec rec;
    int rc;
    v->n = 0;
    while ((rc = walrec_reader_next(&r, &rec)) == 1)
        if (v->n < 512)
            v->offs[v->n++] = rec.offset;
    v->err = rc;
    v->stop = walrec_reader_offset(&r);
    walrec_reader_deinit(&r);
}

static void pieces(const char *dir, size_t read_bytes, struct verdict *v)
{
    int dfd = open(dir, O_RDONLY | O_DIRECTORY);
    assert_true(dfd >= 0);
    struct wal_seg_reader s;
    assert_int_equal(wal_seg_open(&s, dfd, "00000001", read_bytes), 0);
    struct walrec rec;
    int rc;
    v->n = 0;
    while ((rc = wal_seg_next(&s, &rec)) == 1)
        if (v->n < 512)
            v->offs[v->n++] = rec.offset;
    v->err = rc;
    v->stop = wal_seg_stop_offset(&s);
    assert_int_equal(wal_seg_next(&s, &rec), rc); /* sticky */
    wal_seg_close(&s);
    close(dfd);
}

/* A random segment: records of random sizes (some far larger than a piece), then random damage. */
static void random_segment(struct prop *p, struct buf *seg)
{
    buf_reset(seg);
    assert_int_equal(walrec_segment_header_append(seg), 0);
    size_t n = prop_next(p) % 12;
    struct buf pl = BUF_INIT;
    for (size_t i = 0; i < n; i++) {
        buf_reset(&pl);
        size_t len = prop_next(p) % 4 == 0 ? prop_next(p) % 3000 : prop_next(p) % 60;
        assert_int_equal(buf_reserve(&pl, len + 1), 0);
        for (size_t j = 0; j < len; j++)
            pl.data[j] = (uint8_t)(prop_next(p) % 3 ? 'a' + j % 7 : prop_next(p));
        pl.len = len;
        unsigned type = 1 + (unsigned)(prop_next(p) % (WALREC_TYPE_END_ - 1));
        assert_int_equal(
            walrec_append(seg, type, pl.data, pl.len, prop_next(p) % 2 ? WALREC_COMPRESS : 0), 0);
    }
    buf_deinit(&pl);
}

static void damage(struct prop *p, struct buf *seg)
{
    switch (prop_next(p) % 7) {
    case 0: break; /* intact */
    case 1:        /* flip one bit anywhere */
        if (seg->len)
            seg->data[prop_next(p) % seg->len] ^= (uint8_t)(1u << (prop_next(p) % 8));
        break;
    case 2: /* cut anywhere */ seg->len = prop_next(p) % (seg->len + 1); break;
    case 3: { /* zero-filled tail (preallocated space) */
        size_t z = prop_next(p) % 5000;
        assert_int_equal(buf_reserve(seg, z), 0);
        memset(seg->data + seg->len, 0, z);
        seg->len += z;
        break;
    }
    case 4: { /* garbage tail */
        size_t z = prop_next(p) % 500;
        assert_int_equal(buf_reserve(seg, z), 0);
        for (size_t i = 0; i < z; i++)
            seg->data[seg->len++] = (uint8_t)prop_next(p);
        break;
    }
    case 5: { /* damage in the middle, then a valid record after garbage */
        if (seg->len > 8)
            seg->data[8 + prop_next(p) % (seg->len - 8)] ^= 0x40;
        size_t z = prop_next(p) % 3000;
        for (size_t i = 0; i < z; i++)
            assert_int_equal(buf_append_u8(seg, (uint8_t)prop_next(p)), 0);
        char big[1500];
        memset(big, 'q', sizeof big);
        assert_int_equal(walrec_append(seg, WALREC_METADATA, big, prop_next(p) % 1500, 0), 0);
        break;
    }
    default: /* zero the header */ memset(seg->data, 0, seg->len < 8 ? seg->len : 8); break;
    }
}

static void test_pieces_match_whole_file(void **state)
{
    struct fixture *f = *state;
    struct prop p = prop_begin("wal_pieces_match_whole_file");
    struct buf seg = BUF_INIT;
    char path[512];
    tw_path(path, sizeof path, f->dir, "00000001");
    static const size_t sizes[] = {64, 65, 100, 257, 1000, 4096, 1u << 20};
    for (int iter = 0; iter < 400; iter++) {
        random_segment(&p, &seg);
        damage(&p, &seg);
        tw_write_file(path, seg.data, seg.len);
        struct verdict want, got;
        whole_file(seg.data, seg.len, &want);
        for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
            pieces(f->dir, sizes[k], &got);
            prop_check(&p, got.n == want.n);
            prop_check(&p, memcmp(got.offs, want.offs, want.n * sizeof want.offs[0]) == 0);
            prop_check(&p, got.err == want.err);
            prop_check(&p, got.stop == want.stop);
        }
    }
    buf_deinit(&seg);
}

/* Records far larger than the read piece straddle many pieces; replay reassembles them. */
static void test_replay_small_pieces(void **state)
{
    struct fixture *f = *state;
    write_wal(f, f->dir, 3000, 0, 200);
    struct tw_log a = {0}, b = {0};
    struct wal_replay_result ra, rb;
    assert_int_equal(tw_replay(f->dir, 0, &a, &ra), 0);
    struct wal_replay_opts o = {.read_bytes = 1}; /* raised to the 64-byte minimum */
    assert_int_equal(wal_replay(f->dir, &o, tw_collect, &b, &rb), 0);
    assert_int_equal(a.n, 200);
    assert_true(tw_same_records(&a, &b));
    assert_int_equal(ra.bytes, rb.bytes);
    assert_int_equal(ra.segments, rb.segments);
    assert_true(ra.segments > 5);
    for (int i = 0; i < 200; i++)
        assert_int_equal(tw_payload_seq(a.r[i].payload, a.r[i].len), i);
    tw_log_free(&a);
    tw_log_free(&b);
}

/* ---- torn tails ---- */

/* Cuts 00000001 (bytes ref[0..cut)) in a fresh dir, opens (repair) and closes, replays. */
static void check_cut(struct fixture *f, const struct buf *ref, size_t cut, const uint64_t *ends,
                      size_t nrec, bool zero_tail)
{
    char dir[512], path[600];
    snprintf(dir, sizeof dir, "%s/cut", f->dir);
    tw_rm_rf(dir);
    mkdir(dir, 0755);
    tw_path(path, sizeof path, dir, "00000001");
    struct buf b = BUF_INIT;
    assert_int_equal(buf_append(&b, ref->data, cut), 0);
    if (zero_tail) {
        assert_int_equal(buf_reserve(&b, 777), 0);
        memset(b.data + b.len, 0, 777);
        b.len += 777;
    }
    tw_write_file(path, b.data, b.len);
    size_t complete = 0;
    while (complete < nrec && ends[complete] <= cut)
        complete++;
    uint64_t valid_end = complete ? ends[complete - 1] : WALREC_SEGMENT_HEADER_SIZE;
    bool header_ok = cut >= WALREC_SEGMENT_HEADER_SIZE;

    /* replay before repair: the torn tail of the last segment is a normal stop */
    struct tw_log log = {0};
    struct wal_replay_result res;
    assert_int_equal(tw_replay(dir, 0, &log, &res), 0);
    assert_int_equal(log.n, complete);
    bool clean = !zero_tail && (cut == valid_end);
    assert_int_equal(res.stop_err, clean ? 0 : ERR_TRUNCATED);
    if (!clean)
        assert_int_equal(res.stop_offset, header_ok ? valid_end : 0);

    struct wal *w;
    struct wal_config cfg = tw_cfg(WAL_FSYNC_BATCH, 1u << 20);
    assert_int_equal(wal_open(dir, &cfg, &f->loop, &w), 0);
    struct wal_stats st;
    wal_stats_get(w, &st);
    assert_int_equal(st.torn_tails_repaired, clean ? 0 : 1);
    assert_int_equal(wal_segment_current(w), header_ok ? 2 : 1);
    wal_close(w);
    if (header_ok)
        assert_int_equal(tw_file_size(dir, "00000001"), valid_end);
    assert_int_equal(tw_replay(dir, 0, &log, &res), 0);
    assert_int_equal(log.n, complete);
    assert_int_equal(res.stop_err, 0);
    for (size_t i = 0; i < complete; i++)
        assert_int_equal(tw_payload_seq(log.r[i].payload, log.r[i].len), (int64_t)i);
    tw_log_free(&log);
    buf_deinit(&b);
}

static void test_torn_tail_every_offset(void **state)
{
    struct fixture *f = *state;
    char src[512], path[600];
    snprintf(src, sizeof src, "%s/src", f->dir);
    write_wal(f, src, 1u << 20, 0, 6);
    tw_path(path, sizeof path, src, "00000001");
    struct buf ref = BUF_INIT;
    tw_read_file(path, &ref);
    struct tw_log log = {0};
    assert_int_equal(tw_replay(src, 0, &log, NULL), 0);
    assert_int_equal(log.n, 6);
    uint64_t ends[6]; /* where each record ends: the next one's offset, the file end */
    for (size_t i = 0; i + 1 < 6; i++)
        ends[i] = log.r[i + 1].offset;
    ends[5] = ref.len;
    /* every cut inside the segment header, and every byte of the last three records */
    for (size_t cut = 0; cut < WALREC_SEGMENT_HEADER_SIZE; cut++)
        check_cut(f, &ref, cut, ends, 6, false);
    for (size_t cut = (size_t)log.r[3].offset; cut <= ref.len; cut++)
        check_cut(f, &ref, cut, ends, 6, false);
    /* zero-filled tails after a few cuts */
    for (size_t cut = (size_t)log.r[4].offset; cut <= ref.len; cut += 7)
        check_cut(f, &ref, cut, ends, 6, true);
    tw_log_free(&log);
    buf_deinit(&ref);
}

/* A damaged record with good records after it in the LAST segment: replay stops there (normal end,
 * reported as corrupt); open cuts the segment back to it. */
static void test_corrupt_middle_of_last_segment(void **state)
{
    struct fixture *f = *state;
    write_wal(f, f->dir, 1u << 20, 0, 6);
    struct tw_log log = {0};
    assert_int_equal(tw_replay(f->dir, 0, &log, NULL), 0);
    uint64_t bad = log.r[2].offset, size = tw_file_size(f->dir, "00000001");
    char path[512];
    tw_path(path, sizeof path, f->dir, "00000001");
    struct buf b = BUF_INIT;
    tw_read_file(path, &b);
    b.data[bad + WALREC_HEADER_SIZE + 1] ^= 0x10; /* payload byte */
    tw_write_file(path, b.data, b.len);
    struct wal_replay_result res;
    assert_int_equal(tw_replay(f->dir, 0, &log, &res), 0);
    assert_int_equal(log.n, 2);
    assert_int_equal(res.stop_err, ERR_CORRUPT);
    assert_int_equal(res.stop_segment, 1);
    assert_int_equal(res.stop_offset, bad);
    assert_int_equal(res.lost_bytes, size - bad);
    struct wal *w;
    struct wal_config cfg = tw_cfg(WAL_FSYNC_BATCH, 1u << 20);
    assert_int_equal(wal_open(f->dir, &cfg, &f->loop, &w), 0);
    struct wal_stats st;
    wal_stats_get(w, &st);
    assert_int_equal(st.torn_tails_repaired, 1);
    assert_int_equal(st.bytes_cut, size - bad);
    wal_close(w);
    assert_int_equal(tw_file_size(f->dir, "00000001"), bad);
    assert_int_equal(tw_replay(f->dir, 0, &log, &res), 0);
    assert_int_equal(log.n, 2);
    assert_int_equal(res.stop_err, 0);
    tw_log_free(&log);
    buf_deinit(&b);
}

/* ---- non-last segments ---- */

static void segment_offsets(const struct tw_log *log, uint32_t seg, uint64_t *first, size_t *idx)
{
    *first = 0;
    *idx = 0;
    for (size_t i = 0; i < log->n; i++)
        if (log->r[i].segment == seg) {
            *first = log->r[i].offset;
            *idx = i;
            return;
        }
    fail();
}

static void test_corrupt_non_last_segment(void **state)
{
    struct fixture *f = *state;
    write_wal(f, f->dir, 1500, 0, 40);
    struct tw_log all = {0}, log = {0};
    struct wal_replay_result res;
    assert_int_equal(tw_replay(f->dir, 0, &all, &res), 0);
    uint32_t last = res.last_segment;
    assert_true(last >= 4);
    uint64_t off;
    size_t idx;
    segment_offsets(&all, 2, &off, &idx);
    uint64_t bad = all.r[idx + 1].offset; /* second record of segment 2 */
    char path[512];
    tw_path(path, sizeof path, f->dir, "00000002");
    struct buf b = BUF_INIT, orig = BUF_INIT;
    tw_read_file(path, &orig);
    assert_int_equal(buf_append(&b, orig.data, orig.len), 0);
    b.data[bad + 3] ^= 0x01; /* the header's length: header CRC fails */
    tw_write_file(path, b.data, b.len);
    assert_int_equal(tw_replay(f->dir, 0, &log, &res), ERR_CORRUPT);
    assert_int_equal(res.stop_err, ERR_CORRUPT);
    assert_int_equal(res.stop_segment, 2);
    assert_false(res.stop_in_checkpoint);
    assert_int_equal(res.stop_offset, bad);
    assert_int_equal(res.lost_bytes, orig.len - bad);
    assert_int_equal(log.n, idx + 1);
    /* the caller resumes after the damaged segment */
    assert_int_equal(tw_replay(f->dir, 3, &log, &res), 0);
    size_t idx3;
    segment_offsets(&all, 3, &off, &idx3);
    assert_int_equal(log.n, all.n - idx3);
    assert_int_equal(log.r[0].segment, 3);

    /* a torn non-last segment is reported the same way (reason: torn) */
    tw_write_file(path, orig.data, bad + 5);
    assert_int_equal(tw_replay(f->dir, 0, &log, &res), ERR_CORRUPT);
    assert_int_equal(res.stop_err, ERR_TRUNCATED);
    assert_int_equal(res.stop_segment, 2);
    assert_int_equal(res.stop_offset, bad);

    /* a missing segment */
    assert_int_equal(unlink(path), 0);
    assert_int_equal(tw_replay(f->dir, 0, &log, &res), ERR_CORRUPT);
    assert_int_equal(res.stop_segment, 2);
    assert_int_equal(res.stop_offset, 0);
    assert_int_equal(log.n, idx);
    assert_int_equal(tw_replay(f->dir, 3, &log, &res), 0);
    assert_int_equal(log.n, all.n - idx3);

    tw_log_free(&all);
    tw_log_free(&log);
    buf_deinit(&b);
    buf_deinit(&orig);
}

static int stop_after_3(void *arg, const struct walrec *rec, const struct wal_replay_at *at)
{
    (void)rec;
    (void)at;
    int *n = arg;
    return ++*n == 3 ? -ECANCELED : 0;
}

static void test_replay_callback_stop(void **state)
{
    struct fixture *f = *state;
    write_wal(f, f->dir, 1u << 20, 0, 10);
    int n = 0;
    struct wal_replay_result res;
    assert_int_equal(wal_replay(f->dir, NULL, stop_after_3, &n, &res), -ECANCELED);
    assert_int_equal(n, 3);
    assert_int_equal(res.records, 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_pieces_match_whole_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replay_small_pieces, setup, teardown),
        cmocka_unit_test_setup_teardown(test_torn_tail_every_offset, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_middle_of_last_segment, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_non_last_segment, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replay_callback_stop, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
