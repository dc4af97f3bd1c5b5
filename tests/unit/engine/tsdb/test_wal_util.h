/* Helpers shared by the WAL tests (engine/tsdb/wal): temp dirs, file copies, deterministic record
 * payloads, and a replay collector that keeps copies of every record. Header-only; each test
 * program includes it once. */
#ifndef STRATA_TESTS_WAL_UTIL_H
#define STRATA_TESTS_WAL_UTIL_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/rand.h"
#include "base/buf.h"
#include "base/clock.h"
#include "engine/io/loop.h"
#include "engine/tsdb/wal.h"
#include "formats/walrec.h"

/* ---- temp dirs and files ---- */

static inline void tw_mkdtemp(char *out, size_t n)
{
    const char *base = getenv("TMPDIR");
    snprintf(out, n, "%s/strata-wal-XXXXXX", base && *base ? base : "/tmp");
    assert_non_null(mkdtemp(out));
}

static inline int tw_rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
    (void)st;
    (void)flag;
    (void)f;
    return remove(p);
}

static inline void tw_rm_rf(const char *dir)
{
    nftw(dir, tw_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static inline void tw_path(char *out, size_t n, const char *dir, const char *name)
{
    int k = snprintf(out, n, "%s/%s", dir, name);
    assert_true(k > 0 && (size_t)k < n);
}

/* Reads a whole file into b (reset first). */
static inline void tw_read_file(const char *path, struct buf *b)
{
    buf_reset(b);
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    for (;;) {
        assert_int_equal(buf_reserve(b, 65536), 0);
        ssize_t k = read(fd, b->data + b->len, 65536);
        assert_true(k >= 0);
        if (k == 0)
            break;
        b->len += (size_t)k;
    }
    close(fd);
}

static inline void tw_write_file(const char *path, const void *p, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, p, n), (ssize_t)n);
    close(fd);
}

static inline bool tw_exists(const char *dir, const char *name)
{
    char p[512];
    tw_path(p, sizeof p, dir, name);
    struct stat st;
    return stat(p, &st) == 0;
}

static inline uint64_t tw_file_size(const char *dir, const char *name)
{
    char p[512];
    tw_path(p, sizeof p, dir, name);
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    return (uint64_t)st.st_size;
}

/* Copies every regular file of src (and one level of subdirectories) into dst (created). */
static inline void tw_copy_dir(const char *src, const char *dst)
{
    mkdir(dst, 0755);
    DIR *d = opendir(src);
    assert_non_null(d);
    struct dirent *e;
    struct buf b = BUF_INIT;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char s[512], t[512];
        tw_path(s, sizeof s, src, e->d_name);
        tw_path(t, sizeof t, dst, e->d_name);
        struct stat st;
        assert_int_equal(stat(s, &st), 0);
        if (S_ISDIR(st.st_mode)) {
            tw_copy_dir(s, t);
            continue;
        }
        tw_read_file(s, &b);
        tw_write_file(t, b.data, b.len);
    }
    closedir(d);
    buf_deinit(&b);
}

/* ---- payloads ---- */

static inline uint64_t tw_mix(uint64_t x)
{
    return splitmix64_mix(x);
}

/* A SAMPLES payload for batch `seq`: n samples, ids seq*7+i, ts seq*1000+i, values from a hash. */
static inline void tw_samples_payload(struct buf *b, uint64_t seq, size_t n)
{
    struct walrec_sample s[1024];
    assert_true(n <= 1024);
    for (size_t i = 0; i < n; i++) {
        s[i].id = (uint32_t)(seq * 7 + i);
        s[i].ts_ms = (int64_t)(seq * 1000 + i);
        s[i].value_bits = tw_mix(seq * 1315423911u + i);
    }
    assert_int_equal(walrec_samples_encode(b, s, n), 0);
}

/* The batch number a tw_samples_payload encodes (ts of its first sample / 1000), or -1. */
static inline int64_t tw_payload_seq(const void *p, size_t len)
{
    struct walrec_samples_iter it;
    walrec_samples_iter_init(&it, p, len);
    if (!walrec_samples_iter_next(&it))
        return -1;
    return walrec_samples_iter_at(&it)->ts_ms / 1000;
}

/* ---- replay collector ---- */

struct tw_rec {
    enum walrec_type type;
    uint32_t segment;
    bool checkpoint;
    uint64_t offset;
    uint8_t *payload;
    size_t len;
};

struct tw_log {
    struct tw_rec *r;
    size_t n, cap;
};

static inline int tw_collect(void *arg, const struct walrec *rec, const struct wal_replay_at *at)
{
    struct tw_log *l = arg;
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 64;
        l->r = realloc(l->r, l->cap * sizeof *l->r);
        assert_non_null(l->r);
    }
    struct tw_rec *t = &l->r[l->n++];
    t->type = rec->type;
    t->segment = at->segment;
    t->checkpoint = at->checkpoint;
    t->offset = rec->offset;
    t->len = rec->len;
    t->payload = malloc(rec->len ? rec->len : 1);
    assert_non_null(t->payload);
    if (rec->len)
        memcpy(t->payload, rec->payload, rec->len);
    return 0;
}

static inline void tw_log_free(struct tw_log *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->r[i].payload);
    free(l->r);
    memset(l, 0, sizeof *l);
}

/* Replays dir into l (freed first); returns wal_replay's code. */
static inline int tw_replay(const char *dir, uint32_t from, struct tw_log *l,
                            struct wal_replay_result *res)
{
    tw_log_free(l);
    struct wal_replay_opts o = {.from_segment = from, .read_bytes = 0};
    return wal_replay(dir, &o, tw_collect, l, res);
}

static inline bool tw_same_records(const struct tw_log *a, const struct tw_log *b)
{
    if (a->n != b->n)
        return false;
    for (size_t i = 0; i < a->n; i++)
        if (a->r[i].type != b->r[i].type || a->r[i].len != b->r[i].len ||
            memcmp(a->r[i].payload, b->r[i].payload, a->r[i].len) != 0)
            return false;
    return true;
}

/* ---- loop ---- */

/* Runs the loop until *v >= want (5 s at most). */
static inline void tw_run_until(struct loop *l, const int *v, int want)
{
    int64_t deadline = clock_mono_ns() + 5000000000LL;
    while (*v < want && clock_mono_ns() < deadline)
        assert_true(loop_run_once(l, 10000000) >= 0);
    assert_int_equal(*v, want);
}

static inline struct wal_config tw_cfg(enum wal_fsync mode, uint64_t seg_size)
{
    struct wal_config c;
    wal_config_init(&c);
    c.fsync = mode;
    c.segment_size_bytes = seg_size;
    c.free_bytes_min = 0;
    c.free_permille_min = 0;
    return c;
}

#endif
