/* Fuzz target for the log chunk codec (formats/logchunk.h). The first input byte picks a mode:
 *   0: decode the rest as a chunk, as is (exercises header/footer/index checks and the CRCs);
 *   1: reseal the checksums of the rest first, so the index and block-body checks behind the CRCs
 *      are reached (seeds stored with codec none let the fuzzer edit block bodies directly);
 *   2: drive the writer: the rest is a list of appends/cuts, checked against a model.
 * A chunk that decodes is walked forward and backward, seeked, range-queried and re-encoded, and
 * every view must agree. Mismatches abort. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "formats/logchunk.h"

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c))                                                                                  \
            abort();                                                                               \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Entries as decoded (or as a model), strings copied into one owned pool. */
struct fent {
    int64_t ts;
    uint32_t seq;
    size_t line_off, line_len, md_off, md_n; /* md: md_n (name_off,name_len,value_off,value_len) */
};

struct fset {
    struct fent *e;
    size_t n, cap;
    struct buf pool;
    size_t *md; /* 4 words per pair */
    size_t md_n, md_cap;
};

static void fset_free(struct fset *s)
{
    free(s->e);
    free(s->md);
    buf_deinit(&s->pool);
}

static size_t pool_put(struct fset *s, struct str x)
{
    size_t off = s->pool.len;
    CHECK(buf_append(&s->pool, x.len ? x.ptr : "", x.len) == 0);
    return off;
}

static void fset_add(struct fset *s, int64_t ts, struct str line, const struct label *md, size_t n)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 64;
        s->e = realloc(s->e, s->cap * sizeof *s->e);
        CHECK(s->e);
    }
    while (s->md_n + n > s->md_cap) {
        s->md_cap = s->md_cap ? 2 * s->md_cap : 64;
        s->md = realloc(s->md, s->md_cap * 4 * sizeof *s->md);
        CHECK(s->md);
    }
    struct fent *e = &s->e[s->n];
    *e = (struct fent){ts, (uint32_t)s->n, pool_put(s, line), line.len, s->md_n, n};
    for (size_t i = 0; i < n; i++) {
        size_t *m = s->md + 4 * s->md_n++;
        m[1] = md[i].name.len;
        m[0] = pool_put(s, md[i].name);
        m[3] = md[i].value.len;
        m[2] = pool_put(s, md[i].value);
    }
    s->n++;
}

static const char *pool_base(const struct fset *s)
{
    return s->pool.data ? (const char *)s->pool.data : "";
}

static bool same(const struct fset *s, size_t i, const struct logchunk_entry *e)
{
    const struct fent *f = &s->e[i];
    const char *p = pool_base(s);
    if (f->ts != e->ts_ns || f->line_len != e->line.len || f->md_n != e->md_count)
        return false;
    if (f->line_len && memcmp(p + f->line_off, e->line.ptr, f->line_len))
        return false;
    for (size_t k = 0; k < f->md_n; k++) {
        const size_t *m = s->md + 4 * (f->md_off + k);
        if (!str_eq((struct str){p + m[0], m[1]}, e->md[k].name) ||
            !str_eq((struct str){p + m[2], m[3]}, e->md[k].value))
            return false;
    }
    return true;
}

/* The iterator must yield exactly s's entries within [mint, maxt) in its direction. */
static void check_iter(struct logchunk_iter *it, const struct fset *s, int64_t mint, int64_t maxt,
                       enum logchunk_dir dir)
{
    for (size_t k = 0; k < s->n; k++) {
        size_t i = dir == LOGCHUNK_FORWARD ? k : s->n - 1 - k;
        if (s->e[i].ts < mint || s->e[i].ts >= maxt)
            continue;
        CHECK(logchunk_iter_next(it));
        CHECK(same(s, i, logchunk_iter_at(it)));
    }
    CHECK(!logchunk_iter_next(it));
    CHECK(logchunk_iter_err(it) == 0);
}

static void check_seek(struct logchunk_iter *it, const struct fset *s, enum logchunk_dir dir,
                       int64_t t)
{
    long want = -1;
    if (dir == LOGCHUNK_FORWARD) {
        for (size_t i = 0; i < s->n && want < 0; i++)
            if (s->e[i].ts >= t)
                want = (long)i;
    } else {
        for (size_t i = s->n; i-- > 0 && want < 0;)
            if (s->e[i].ts < t)
                want = (long)i;
    }
    bool ok = logchunk_iter_seek(it, t);
    CHECK(ok == (want >= 0));
    if (ok)
        CHECK(same(s, (size_t)want, logchunk_iter_at(it)));
}

/* Appends s (in order) to a fresh writer and checks the open writer and the finished chunk. */
static void reencode(const struct fset *s, size_t target, struct logchunk_iter *it)
{
    struct logchunk_writer_opts o = {.block_target_bytes = target};
    struct logchunk_writer w;
    logchunk_writer_init(&w, &o);
    const char *p = pool_base(s);
    struct label md[64];
    for (size_t i = 0; i < s->n; i++) {
        const struct fent *f = &s->e[i];
        size_t n = f->md_n;
        struct label *mp = n <= 64 ? md : malloc(n * sizeof *mp);
        CHECK(mp);
        for (size_t k = 0; k < n; k++) {
            const size_t *m = s->md + 4 * (f->md_off + k);
            mp[k] = (struct label){{p + m[0], m[1]}, {p + m[2], m[3]}};
        }
        CHECK(logchunk_writer_append(&w, f->ts, (struct str){p + f->line_off, f->line_len}, mp,
                                     n) == 0);
        if (mp != md)
            free(mp);
    }
    logchunk_iter_open_writer(it, &w, INT64_MIN, INT64_MAX, LOGCHUNK_BACKWARD);
    check_iter(it, s, INT64_MIN, INT64_MAX, LOGCHUNK_BACKWARD);
    uint8_t *bytes;
    size_t len;
    CHECK(logchunk_writer_finish(&w, &bytes, &len) == 0);
    struct logchunk_reader r;
    CHECK(logchunk_reader_open(&r, bytes, len) == 0);
    CHECK(r.entries == s->n);
    logchunk_iter_open_reader(it, &r, INT64_MIN, INT64_MAX, LOGCHUNK_FORWARD);
    check_iter(it, s, INT64_MIN, INT64_MAX, LOGCHUNK_FORWARD);
    free(bytes);
    logchunk_writer_deinit(&w);
}

static int64_t wrap_add(int64_t a, int64_t b)
{
    return (int64_t)((uint64_t)a + (uint64_t)b);
}

/* Collects every entry forward; returns false if the chunk does not decode. */
static bool collect(const struct logchunk_reader *r, struct logchunk_iter *it, struct fset *s)
{
    logchunk_iter_open_reader(it, r, INT64_MIN, INT64_MAX, LOGCHUNK_FORWARD);
    while (logchunk_iter_next(it)) {
        const struct logchunk_entry *e = logchunk_iter_at(it);
        fset_add(s, e->ts_ns, e->line, e->md, e->md_count);
    }
    int err = logchunk_iter_err(it);
    CHECK(err == 0 || err == ERR_CORRUPT || err == ERR_NOMEM);
    return err == 0;
}

static void decode_chunk(const uint8_t *data, size_t size, uint8_t knob)
{
    struct logchunk_reader r;
    int rc = logchunk_reader_open(&r, data, size);
    CHECK(rc == 0 || rc == ERR_CORRUPT || rc == ERR_TRUNCATED);
    if (rc)
        return;
    struct logchunk_iter it;
    logchunk_iter_init(&it);
    struct fset s = {0};
    if (collect(&r, &it, &s)) {
        /* entries at INT64_MAX lie outside every [mint, maxt) and are never returned */
        CHECK(s.n <= r.entries);
        for (size_t i = 1; i < s.n; i++)
            CHECK(s.e[i - 1].ts <= s.e[i].ts);
        logchunk_iter_open_reader(&it, &r, INT64_MIN, INT64_MAX, LOGCHUNK_BACKWARD);
        check_iter(&it, &s, INT64_MIN, INT64_MAX, LOGCHUNK_BACKWARD);
        for (int d = 0; d < 2 && s.n; d++) {
            logchunk_iter_open_reader(&it, &r, INT64_MIN, INT64_MAX, (enum logchunk_dir)d);
            for (size_t k = 0; k < 8; k++) {
                size_t i = (k * 7919 + knob) % s.n;
                check_seek(&it, &s, (enum logchunk_dir)d,
                           wrap_add(s.e[i].ts, (int64_t)(k % 3) - 1));
            }
            int64_t a = s.e[knob % s.n].ts, b = wrap_add(s.e[(knob * 31u) % s.n].ts, 1);
            logchunk_iter_open_reader(&it, &r, a, b, (enum logchunk_dir)d);
            check_iter(&it, &s, a, b, (enum logchunk_dir)d);
        }
        reencode(&s, 16 + (size_t)knob * 64, &it);
    }
    fset_free(&s);
    logchunk_iter_deinit(&it);
}

/* Mode 2: ops of 4 bytes + payload: [kind][ts step][line len][md count]. */
static void drive_writer(const uint8_t *p, size_t n)
{
    struct logchunk_writer_opts o = {.block_target_bytes = n ? 32 + (size_t)p[0] * 8 : 0,
                                     .store_uncompressed = n > 1 && (p[1] & 1)};
    struct logchunk_writer w;
    logchunk_writer_init(&w, &o);
    struct fset s = {0};
    int64_t t = 0, accepted_max = INT64_MIN;
    size_t i = n > 2 ? 2 : n;
    while (i + 4 <= n) {
        uint8_t kind = p[i], step = p[i + 1], ll = p[i + 2], mc = p[i + 3] % 5;
        i += 4;
        if (kind == 0xff) {
            CHECK(logchunk_writer_cut(&w) == 0);
            continue;
        }
        t += (int64_t)step - 64; /* mostly forward, sometimes back */
        size_t line_len = ll <= n - i ? ll : n - i;
        struct str line = {(const char *)p + i, line_len};
        i += line_len;
        struct label md[4];
        for (uint8_t k = 0; k < mc; k++) {
            size_t a = (i + k) % (n ? n : 1), len = (size_t)(kind >> (2 * (k % 4))) % 4;
            len = a + len <= n ? len : 0;
            md[k] = (struct label){{(const char *)p + a, len}, {(const char *)p + a, len / 2}};
        }
        int rc = logchunk_writer_append(&w, t, line, md, mc);
        if (rc == ERR_ORDER) {
            CHECK(t < accepted_max);
            continue;
        }
        CHECK(rc == 0);
        accepted_max = t > accepted_max ? t : accepted_max;
        fset_add(&s, t, line, md, mc);
    }
    /* the model sorted stably by time: insertion sort keeps equal timestamps in append order */
    for (size_t a = 1; a < s.n; a++)
        for (size_t b = a; b > 0 && s.e[b - 1].ts > s.e[b].ts; b--) {
            struct fent x = s.e[b];
            s.e[b] = s.e[b - 1];
            s.e[b - 1] = x;
        }
    struct logchunk_iter it;
    logchunk_iter_init(&it);
    logchunk_iter_open_writer(&it, &w, INT64_MIN, INT64_MAX, LOGCHUNK_FORWARD);
    check_iter(&it, &s, INT64_MIN, INT64_MAX, LOGCHUNK_FORWARD);
    uint8_t *bytes;
    size_t len;
    CHECK(logchunk_writer_finish(&w, &bytes, &len) == 0);
    struct logchunk_reader r;
    CHECK(logchunk_reader_open(&r, bytes, len) == 0);
    logchunk_iter_open_reader(&it, &r, INT64_MIN, INT64_MAX, LOGCHUNK_BACKWARD);
    check_iter(&it, &s, INT64_MIN, INT64_MAX, LOGCHUNK_BACKWARD);
    free(bytes);
    logchunk_iter_deinit(&it);
    fset_free(&s);
    logchunk_writer_deinit(&w);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t mode = data[0] % 3;
    const uint8_t *p = data + 1;
    size_t n = size - 1;
    uint8_t knob = (uint8_t)(data[0] / 3);
    if (mode == 0) {
        decode_chunk(p, n, knob);
    } else if (mode == 1) {
        uint8_t *c = malloc(n ? n : 1); /* exact size: out-of-bounds reads are caught */
        CHECK(c);
        if (n)
            memcpy(c, p, n);
        logchunk_debug_reseal(c, n);
        decode_chunk(c, n, knob);
        free(c);
    } else {
        drive_writer(p, n);
    }
    return 0;
}
