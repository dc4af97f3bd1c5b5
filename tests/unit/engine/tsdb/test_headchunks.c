/* engine/tsdb/headchunks: record codec (golden header, corruption checks), write/flush/read through
 * the map, file rotation, reopen scans, torn tails cut at every record boundary ± 1, damage in the
 * middle of a file dropping every later file, truncation with pinned views, the persisted floor,
 * random corruption. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/crc32c.h"
#include "base/error.h"
#include "base/log.h"
#include "engine/tsdb/headchunks.h"
#include "engine/tsdb/series_set.h"
#include "formats/gorilla.h"
#include "tests/unit/prop.h"

/* ---- helpers ---- */

struct chunk {
    uint8_t *data;
    size_t len;
    struct headchunks_rec rec;
    uint32_t file, off;
};

/* A gorilla chunk of n samples from t0, step 15 s, values derived from seed. */
static struct chunk make_chunk(uint32_t id, int64_t t0, unsigned n, uint64_t seed, uint8_t flags)
{
    struct gorilla_enc e;
    gorilla_enc_init(&e);
    for (unsigned i = 0; i < n; i++)
        assert_int_equal(gorilla_enc_append_bits(&e, t0 + 15000 * (int64_t)i,
                                                 seed * 0x9e3779b97f4a7c15ull + i * 7),
                         0);
    struct chunk c = {0};
    c.rec = (struct headchunks_rec){id,          t0,        t0 + 15000 * (int64_t)(n - 1),
                                    (uint16_t)n, CHUNK_XOR, flags};
    c.data = gorilla_enc_steal(&e, &c.len);
    gorilla_enc_deinit(&e);
    return c;
}

static void rm_rf(const char *dir)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

static char *tmpdir(char *buf, size_t n)
{
    snprintf(buf, n, "/tmp/strata-hc-XXXXXX");
    assert_non_null(mkdtemp(buf));
    return buf;
}

static void path_of(char *out, size_t n, const char *dir, uint32_t seq)
{
    snprintf(out, n, "%s/%06u", dir, seq);
}

static off_t file_size(const char *dir, uint32_t seq)
{
    char p[512];
    path_of(p, sizeof p, dir, seq);
    struct stat st;
    if (stat(p, &st) != 0)
        return -1;
    return st.st_size;
}

struct seen {
    struct headchunks_rec rec[512];
    uint32_t file[512], off[512];
    size_t n;
};

static int on_rec(void *arg, const struct headchunks_rec *rec, uint32_t file, uint32_t off)
{
    struct seen *s = arg;
    assert_true(s->n < 512);
    s->rec[s->n] = *rec;
    s->file[s->n] = file;
    s->off[s->n] = off;
    s->n++;
    return 0;
}

static struct headchunks *open_hc(const char *dir, uint32_t file_size, struct seen *s)
{
    struct headchunks_config cfg;
    headchunks_config_default(&cfg);
    if (file_size)
        cfg.file_size_max = file_size;
    cfg.write_buf_size = 4096;
    struct headchunks *hc = NULL;
    if (s)
        memset(s, 0, sizeof *s);
    assert_int_equal(headchunks_open(dir, &cfg, on_rec, s, &hc), 0);
    return hc;
}

static void check_get(struct headchunks *hc, const struct chunk *c)
{
    const uint8_t *d;
    size_t len;
    struct headchunks_rec r;
    assert_int_equal(headchunks_get(hc, c->file, c->off, &r, &d, &len), 0);
    assert_int_equal(len, c->len);
    assert_memory_equal(d, c->data, len);
    assert_int_equal(r.series_id, c->rec.series_id);
    assert_int_equal(r.mint_ms, c->rec.mint_ms);
    assert_int_equal(r.maxt_ms, c->rec.maxt_ms);
    assert_int_equal(r.samples, c->rec.samples);
    assert_int_equal(r.flags, c->rec.flags);
}

/* Writes n chunks into dir (one file unless file_size is small) and closes. */
static void write_chunks(const char *dir, struct chunk *cs, size_t n, uint32_t file_size)
{
    struct headchunks *hc = open_hc(dir, file_size, NULL);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(
            headchunks_append(hc, &cs[i].rec, cs[i].data, cs[i].len, &cs[i].file, &cs[i].off), 0);
    headchunks_close(hc);
}

static void free_chunks(struct chunk *cs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(cs[i].data);
}

/* ---- codec ---- */

static void test_file_header_golden(void **state)
{
    (void)state;
    uint8_t h[HEADCHUNKS_FILE_HDR_SIZE];
    headchunks_file_header_put(h, 7);
    const uint8_t want[12] = {'S', 'T', 'H', 'C', 1, 0, 0, 0, 7, 0, 0, 0};
    assert_memory_equal(h, want, 12);
    size_t valid;
    int tail;
    assert_int_equal(headchunks_parse_file(h, sizeof h, 7, NULL, NULL, &valid, &tail), 0);
    assert_int_equal(valid, HEADCHUNKS_FILE_HDR_SIZE);
    assert_int_equal(tail, 0);
    /* Wrong sequence number, short header, future version, bad CRC. */
    assert_int_equal(headchunks_parse_file(h, sizeof h, 8, NULL, NULL, &valid, &tail), ERR_CORRUPT);
    assert_int_equal(headchunks_parse_file(h, 15, 7, NULL, NULL, &valid, &tail), ERR_TRUNCATED);
    h[12] ^= 1;
    assert_int_equal(headchunks_parse_file(h, sizeof h, 7, NULL, NULL, &valid, &tail), ERR_CORRUPT);
    headchunks_file_header_put(h, 7);
    h[4] = 2;
    uint32_t crc = crc32c(h, 12);
    memcpy(h + 12, &crc, 4);
    assert_int_equal(headchunks_parse_file(h, sizeof h, 7, NULL, NULL, &valid, &tail),
                     ERR_UNSUPPORTED);
}

static void test_record_codec(void **state)
{
    (void)state;
    struct chunk c = make_chunk(42, -30000, 5, 3, HEADCHUNKS_F_OOO);
    size_t size = headchunks_rec_size(c.len);
    uint8_t *b = malloc(size);
    headchunks_rec_put(b, &c.rec, c.data, c.len);
    /* Fixed header fields at their documented offsets. */
    assert_int_equal(b[0], 42);
    assert_int_equal(b[20], 5);
    assert_int_equal(b[22], CHUNK_XOR);
    assert_int_equal(b[23], HEADCHUNKS_F_OOO);
    struct headchunks_rec r;
    const uint8_t *d;
    size_t len, sz;
    assert_int_equal(headchunks_rec_parse(b, size, &r, &d, &len, &sz), 0);
    assert_int_equal(sz, size);
    assert_int_equal(len, c.len);
    assert_memory_equal(d, c.data, len);
    assert_int_equal(r.mint_ms, -30000);
    assert_int_equal(r.maxt_ms, 30000);
    /* Every prefix is truncated; every single-bit flip is rejected. */
    for (size_t n = 0; n < size; n++)
        assert_int_equal(headchunks_rec_parse(b, n, &r, &d, &len, &sz), ERR_TRUNCATED);
    for (size_t i = 0; i < size * 8; i++) {
        b[i / 8] ^= (uint8_t)(1u << (i % 8));
        int rc = headchunks_rec_parse(b, size, &r, &d, &len, &sz);
        assert_true(rc == ERR_CORRUPT || rc == ERR_TRUNCATED);
        b[i / 8] ^= (uint8_t)(1u << (i % 8));
    }
    /* Valid CRC but inconsistent metadata: sample count, first timestamp, encoding, flags. */
    struct headchunks_rec bad[4] = {c.rec, c.rec, c.rec, c.rec};
    bad[0].samples = 4;
    bad[1].mint_ms = -29999;
    bad[2].encoding = 9;
    bad[3].flags = 0x80;
    for (int i = 0; i < 4; i++) {
        headchunks_rec_put(b, &bad[i], c.data, c.len);
        assert_int_equal(headchunks_rec_parse(b, size, &r, &d, &len, &sz), ERR_CORRUPT);
    }
    free(b);
    free(c.data);
}

/* ---- files ---- */

static void test_write_read_reopen(void **state)
{
    (void)state;
    char dir[64];
    tmpdir(dir, sizeof dir);
    struct chunk cs[40];
    for (int i = 0; i < 40; i++)
        cs[i] = make_chunk((uint32_t)i % 7, i * 100000, 1 + (unsigned)i * 3, (uint64_t)i,
                           i % 5 == 0 ? HEADCHUNKS_F_OOO : 0);
    struct headchunks *hc = open_hc(dir, 0, NULL);
    for (int i = 0; i < 40; i++) {
        assert_int_equal(
            headchunks_append(hc, &cs[i].rec, cs[i].data, cs[i].len, &cs[i].file, &cs[i].off), 0);
        check_get(hc, &cs[i]); /* reads what is still buffered (flushes first) */
    }
    for (int i = 0; i < 40; i++)
        check_get(hc, &cs[i]);
    struct headchunks_stats st;
    headchunks_stats(hc, &st);
    assert_int_equal(st.files, 1);
    assert_int_equal(st.records_written, 40);
    assert_int_equal(headchunks_get(hc, cs[0].file + 1, cs[0].off, NULL, NULL, NULL),
                     ERR_NOT_FOUND);
    assert_int_equal(headchunks_get(hc, cs[0].file, 3, NULL, NULL, NULL), ERR_NOT_FOUND);
    /* An offset inside a record is not a record. */
    const uint8_t *d;
    size_t len;
    assert_int_equal(headchunks_get(hc, cs[1].file, cs[1].off + 1, NULL, &d, &len), ERR_CORRUPT);
    headchunks_close(hc);

    struct seen s;
    hc = open_hc(dir, 0, &s);
    assert_int_equal(s.n, 40);
    for (int i = 0; i < 40; i++) {
        assert_int_equal(s.file[i], cs[i].file);
        assert_int_equal(s.off[i], cs[i].off);
        assert_int_equal(s.rec[i].series_id, cs[i].rec.series_id);
        check_get(hc, &cs[i]);
    }
    /* New records go to a new file. */
    struct chunk x = make_chunk(9, 5000000, 10, 99, 0);
    assert_int_equal(headchunks_append(hc, &x.rec, x.data, x.len, &x.file, &x.off), 0);
    assert_int_equal(x.file, cs[0].file + 1);
    check_get(hc, &x);
    headchunks_close(hc);
    free(x.data);
    free_chunks(cs, 40);
    rm_rf(dir);
}

static void test_rotation(void **state)
{
    (void)state;
    char dir[64];
    tmpdir(dir, sizeof dir);
    struct chunk cs[60];
    for (int i = 0; i < 60; i++)
        cs[i] = make_chunk((uint32_t)i, i * 1000000, 40, (uint64_t)i, 0);
    /* Files of 1 KiB hold a couple of ~100-byte records each. */
    write_chunks(dir, cs, 60, 1024);
    uint32_t files = cs[59].file;
    assert_true(files > 5);
    for (uint32_t f = 1; f <= files; f++)
        assert_true(file_size(dir, f) <= 1024);
    struct seen s;
    struct headchunks *hc = open_hc(dir, 1024, &s);
    assert_int_equal(s.n, 60);
    for (int i = 0; i < 60; i++)
        check_get(hc, &cs[i]);
    /* A record that can never fit in a file. */
    struct chunk big = make_chunk(1, 0, 2000, 1, 0);
    uint32_t f, o;
    assert_int_equal(headchunks_append(hc, &big.rec, big.data, big.len, &f, &o), ERR_LIMIT);
    headchunks_close(hc);
    free(big.data);
    free_chunks(cs, 60);
    rm_rf(dir);
}

/* Copies file 1 of src to dst truncated at len bytes. */
static void copy_truncated(const char *src, const char *dst, size_t len)
{
    char a[512], b[512];
    path_of(a, sizeof a, src, 1);
    path_of(b, sizeof b, dst, 1);
    FILE *in = fopen(a, "rb");
    FILE *out = fopen(b, "wb");
    assert_non_null(in);
    assert_non_null(out);
    uint8_t buf[8192];
    size_t n = fread(buf, 1, sizeof buf, in);
    assert_true(len <= n);
    assert_int_equal(fwrite(buf, 1, len, out), len);
    fclose(in);
    fclose(out);
}

static void test_torn_tail_every_boundary(void **state)
{
    (void)state;
    log_level_set(LOG_ERROR);
    char src[64];
    tmpdir(src, sizeof src);
    struct chunk cs[12];
    for (int i = 0; i < 12; i++)
        cs[i] = make_chunk((uint32_t)i, i * 3600000, 5 + (unsigned)i, (uint64_t)i, 0);
    write_chunks(src, cs, 12, 0);
    size_t total = (size_t)file_size(src, 1);
    for (int r = 0; r <= 12; r++) {
        size_t boundary = r < 12 ? cs[r].off : total;
        for (int d = -1; d <= 1; d++) {
            if ((d < 0 && boundary == 0) || boundary + (size_t)(d + 1) > total + 1)
                continue;
            size_t cut = boundary + (size_t)d;
            if (cut > total)
                continue;
            char dst[64];
            tmpdir(dst, sizeof dst);
            copy_truncated(src, dst, cut);
            struct seen s;
            struct headchunks *hc = open_hc(dst, 0, &s);
            /* Records wholly before the cut survive; a torn one and everything after do not. */
            size_t want = 0;
            while (want < 12 && cs[want].off + headchunks_rec_size(cs[want].len) <= cut)
                want++;
            if (cut < HEADCHUNKS_FILE_HDR_SIZE)
                want = 0;
            assert_int_equal(s.n, want);
            for (size_t i = 0; i < want; i++)
                check_get(hc, &cs[i]);
            off_t sz = file_size(dst, 1);
            if (cut < HEADCHUNKS_FILE_HDR_SIZE)
                assert_int_equal(sz, -1); /* header torn: file deleted */
            else
                assert_int_equal(
                    sz, want ? (off_t)(cs[want - 1].off + headchunks_rec_size(cs[want - 1].len))
                             : (off_t)HEADCHUNKS_FILE_HDR_SIZE);
            /* Writing after repair and reopening again keeps everything consistent. */
            struct chunk x = make_chunk(77, 99999999, 3, 5, 0);
            assert_int_equal(headchunks_append(hc, &x.rec, x.data, x.len, &x.file, &x.off), 0);
            headchunks_close(hc);
            hc = open_hc(dst, 0, &s);
            assert_int_equal(s.n, want + 1);
            check_get(hc, &x);
            headchunks_close(hc);
            free(x.data);
            rm_rf(dst);
        }
    }
    free_chunks(cs, 12);
    rm_rf(src);
}

static void test_damage_drops_later_files(void **state)
{
    (void)state;
    log_level_set(LOG_ERROR);
    char dir[64];
    tmpdir(dir, sizeof dir);
    struct chunk cs[30];
    for (int i = 0; i < 30; i++)
        cs[i] = make_chunk((uint32_t)i, i * 1000000, 30, (uint64_t)i, 0);
    write_chunks(dir, cs, 30, 512);
    uint32_t last = cs[29].file;
    assert_true(last >= 4);
    /* Flip a byte inside the second record of file 2. */
    int k = 0;
    while (cs[k].file != 2)
        k++;
    k++;
    assert_int_equal(cs[k].file, 2);
    char p[512];
    path_of(p, sizeof p, dir, 2);
    int fd = open(p, O_RDWR);
    uint8_t byte;
    assert_int_equal(pread(fd, &byte, 1, cs[k].off + 30), 1);
    byte ^= 0x40;
    assert_int_equal(pwrite(fd, &byte, 1, cs[k].off + 30), 1);
    close(fd);
    struct seen s;
    struct headchunks *hc = open_hc(dir, 512, &s);
    assert_int_equal(s.n, (size_t)k);
    for (int i = 0; i < k; i++)
        check_get(hc, &cs[i]);
    assert_int_equal(headchunks_get(hc, cs[k].file, cs[k].off, NULL, NULL, NULL), ERR_NOT_FOUND);
    for (uint32_t f = 3; f <= last; f++)
        assert_int_equal(file_size(dir, f), -1);
    headchunks_close(hc);
    /* A bad header on file 1: it and everything after go. */
    path_of(p, sizeof p, dir, 1);
    fd = open(p, O_RDWR);
    assert_int_equal(pwrite(fd, "XXXX", 4, 0), 4);
    close(fd);
    hc = open_hc(dir, 512, &s);
    assert_int_equal(s.n, 0);
    assert_int_equal(file_size(dir, 1), -1);
    assert_int_equal(file_size(dir, 2), -1);
    headchunks_close(hc);
    free_chunks(cs, 30);
    rm_rf(dir);
}

static void test_truncate_and_pins(void **state)
{
    (void)state;
    char dir[64];
    tmpdir(dir, sizeof dir);
    struct chunk cs[20];
    for (int i = 0; i < 20; i++)
        cs[i] = make_chunk((uint32_t)i, i * 1000000, 30, (uint64_t)i, 0);
    struct headchunks *hc = open_hc(dir, 512, NULL);
    for (int i = 0; i < 20; i++)
        assert_int_equal(
            headchunks_append(hc, &cs[i].rec, cs[i].data, cs[i].len, &cs[i].file, &cs[i].off), 0);
    /* A view of chunk 0 taken while pinned survives the deletion of its file. */
    const uint8_t *d0;
    size_t l0;
    headchunks_pin(hc);
    assert_int_equal(headchunks_get(hc, cs[0].file, cs[0].off, NULL, &d0, &l0), 0);
    int64_t cut = cs[10].rec.mint_ms; /* chunks 0..9 end before it */
    int del = headchunks_truncate(hc, cut);
    assert_true(del >= 1);
    assert_memory_equal(d0, cs[0].data, l0);
    headchunks_unpin(hc);
    for (int i = 0; i < 20; i++) {
        int deleted = file_size(dir, cs[i].file) < 0;
        /* A file goes only when all its chunks end before the cut. */
        if (i >= 10)
            assert_false(deleted);
        if (deleted)
            assert_int_equal(headchunks_get(hc, cs[i].file, cs[i].off, NULL, NULL, NULL),
                             ERR_NOT_FOUND);
        else
            check_get(hc, &cs[i]);
    }
    /* Truncating past everything rotates the current file and deletes all. */
    int64_t past = cs[19].rec.maxt_ms + 1;
    del = headchunks_truncate(hc, past);
    assert_true(del >= 1);
    assert_int_equal(headchunks_floor(hc), past);
    struct headchunks_stats st;
    headchunks_stats(hc, &st);
    assert_int_equal(st.files, 0);
    struct chunk x = make_chunk(1, past, 3, 1, 0);
    assert_int_equal(headchunks_append(hc, &x.rec, x.data, x.len, &x.file, &x.off), 0);
    assert_int_equal(x.file, cs[19].file + 1);
    check_get(hc, &x);
    headchunks_close(hc);
    struct seen s;
    hc = open_hc(dir, 512, &s);
    assert_int_equal(s.n, 1);
    assert_int_equal(headchunks_floor(hc), past);
    headchunks_close(hc);
    free(x.data);
    free_chunks(cs, 20);
    rm_rf(dir);
}

/* The floor survives restarts and hides records older than it whose file had to stay. */
static void test_floor(void **state)
{
    (void)state;
    log_level_set(LOG_ERROR);
    char dir[64];
    tmpdir(dir, sizeof dir);
    struct chunk a = make_chunk(1, 0, 5, 1, 0);                    /* ends at 60 s */
    struct chunk b = make_chunk(1, 100000, 5, 2, 0);               /* 100 s .. 160 s */
    struct chunk c = make_chunk(2, 50000, 5, 3, HEADCHUNKS_F_OOO); /* 50 s .. 110 s */
    struct headchunks *hc = open_hc(dir, 0, NULL);
    assert_int_equal(headchunks_floor(hc), INT64_MIN);
    assert_int_equal(headchunks_append(hc, &a.rec, a.data, a.len, &a.file, &a.off), 0);
    assert_int_equal(headchunks_append(hc, &b.rec, b.data, b.len, &b.file, &b.off), 0);
    assert_int_equal(headchunks_append(hc, &c.rec, c.data, c.len, &c.file, &c.off), 0);
    assert_int_equal(headchunks_truncate(hc, 90000), 0); /* the file holds newer chunks: kept */
    check_get(hc, &a);                                   /* still readable until the restart */
    /* A lower cut never lowers the floor. */
    assert_int_equal(headchunks_truncate(hc, 1000), 0);
    assert_int_equal(headchunks_floor(hc), 90000);
    headchunks_close(hc);
    struct seen s;
    hc = open_hc(dir, 0, &s);
    assert_int_equal(headchunks_floor(hc), 90000);
    assert_int_equal(s.n, 2); /* b and c; a ended before the floor */
    assert_int_equal(s.off[0], b.off);
    assert_int_equal(s.off[1], c.off);
    headchunks_close(hc);
    /* Codec: round trip and damage. */
    uint8_t fb[HEADCHUNKS_FLOOR_SIZE];
    int64_t f;
    headchunks_floor_put(fb, -12345);
    assert_int_equal(headchunks_floor_parse(fb, sizeof fb, &f), 0);
    assert_int_equal(f, -12345);
    assert_int_equal(headchunks_floor_parse(fb, sizeof fb - 1, &f), ERR_CORRUPT);
    fb[5] ^= 1;
    assert_int_equal(headchunks_floor_parse(fb, sizeof fb, &f), ERR_CORRUPT);
    /* A damaged floor file is ignored (everything is reported again). */
    char p[512];
    snprintf(p, sizeof p, "%s/floor", dir);
    FILE *fp = fopen(p, "wb");
    assert_non_null(fp);
    fputs("garbage", fp);
    fclose(fp);
    hc = open_hc(dir, 0, &s);
    assert_int_equal(headchunks_floor(hc), INT64_MIN);
    assert_int_equal(s.n, 3);
    headchunks_close(hc);
    free(a.data);
    free(b.data);
    free(c.data);
    rm_rf(dir);
}

/* Random byte damage anywhere: open never fails or crashes, and what it reports is a prefix of
 * what was written. */
static void test_random_corruption(void **state)
{
    (void)state;
    log_level_set(LOG_ERROR);
    struct prop p = prop_begin("headchunks_random_corruption");
    char src[64];
    tmpdir(src, sizeof src);
    struct chunk cs[16];
    for (int i = 0; i < 16; i++)
        cs[i] = make_chunk((uint32_t)i, i * 100000, 1 + (unsigned)(prop_next(&p) % 40),
                           prop_next(&p), (uint8_t)(prop_next(&p) & 1));
    write_chunks(src, cs, 16, 0);
    size_t total = (size_t)file_size(src, 1);
    for (int round = 0; round < 60; round++) {
        char dst[64];
        tmpdir(dst, sizeof dst);
        copy_truncated(src, dst, total);
        char path[512];
        path_of(path, sizeof path, dst, 1);
        int fd = open(path, O_RDWR);
        int flips = 1 + (int)(prop_next(&p) % 3);
        for (int f = 0; f < flips; f++) {
            off_t at = (off_t)(prop_next(&p) % total);
            uint8_t b;
            assert_int_equal(pread(fd, &b, 1, at), 1);
            b ^= (uint8_t)(1 + prop_next(&p) % 255);
            assert_int_equal(pwrite(fd, &b, 1, at), 1);
        }
        close(fd);
        struct seen s;
        struct headchunks *hc = open_hc(dst, 0, &s);
        prop_check(&p, s.n <= 16);
        for (size_t i = 0; i < s.n; i++) {
            prop_check(&p, s.off[i] == cs[i].off);
            prop_check(&p, s.rec[i].series_id == cs[i].rec.series_id);
            const uint8_t *d;
            size_t len;
            prop_check(&p, headchunks_get(hc, s.file[i], s.off[i], NULL, &d, &len) == 0);
            prop_check(&p, len == cs[i].len && memcmp(d, cs[i].data, len) == 0);
        }
        headchunks_close(hc);
        rm_rf(dst);
    }
    free_chunks(cs, 16);
    rm_rf(src);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_file_header_golden),
        cmocka_unit_test(test_record_codec),
        cmocka_unit_test(test_write_read_reopen),
        cmocka_unit_test(test_rotation),
        cmocka_unit_test(test_torn_tail_every_boundary),
        cmocka_unit_test(test_damage_drops_later_files),
        cmocka_unit_test(test_truncate_and_pins),
        cmocka_unit_test(test_floor),
        cmocka_unit_test(test_random_corruption),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
