/* engine/logs/logstore compaction re-encoding log chunks (logstore_config.compact_zstd_level):
 * blocks of a 1-minute range (many streams, out-of-order and repeated entries, structured
 * metadata, long lines, 32-hex trace ids) are written with compaction off, then the same
 * directory is reopened with compaction on at zstd level 9 and at level 0. Every entry (stream,
 * ts, line, metadata, order; both directions) reads back identical after compaction; level 9
 * leaves fewer, bigger and in all fewer bytes of block chunks whose filters still rule out chunks
 * and still find a trace id; level 0 passes every block chunk through byte-identical; with small
 * chunks a second compaction passes full chunks of compacted inputs through and entries still
 * match. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "engine/logs/logblock.h"
#include "engine/tsdb/block.h"
#include "engine/tsdb/compact.h"
#include "test_logstore_util.h"

#define T0         (1700000040LL * LT_SEC_NS) /* a multiple of a minute */
#define MIN_MS     60000LL
#define SECS       600
#define STREAMS    6
#define NEEDLE_SEC 200 /* the line of stream 1 at this second carries the needle id */

static void base_cfg(struct logstore_config *c)
{
    c->block_range_ms = MIN_MS;
    c->max_block_range_ms = MIN_MS; /* one range: no compaction */
    c->ooo_window_ms = 20 * 1000;
    c->chunk_target_bytes = 4096;
    c->head_block_bytes = 1024;
    c->block_chunk_bytes = 64 * 1024;
    c->wal.segment_size_bytes = 64 * 1024;
}

static uint64_t mix(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

/* The 32-hex trace id of stream k at second sec. */
static void trace_id(char out[33], uint32_t k, int sec)
{
    snprintf(out, 33, "%016llx%016llx", (unsigned long long)mix((uint64_t)k << 32 | (unsigned)sec),
             (unsigned long long)mix(~((uint64_t)k << 32 | (unsigned)sec)));
}

/* One generated entry: line, metadata (every third second), buffers owned by the caller. */
struct gen {
    char line[8192];
    char id[33], user[16];
    struct label md[2];
};

static struct logstore_entry_in gen_entry(struct gen *g, uint32_t k, int sec, int64_t ts, bool late)
{
    trace_id(g->id, k, sec);
    int n;
    if (sec % 50 == 7 && !late) { /* a long line */
        n = snprintf(g->line, sizeof g->line, "level=debug stream=%u dump=", k);
        for (int i = 0; n < 5000 + (int)k * 100; i++)
            n += snprintf(g->line + n, sizeof g->line - (size_t)n, "%s/%d ", i % 3 ? "ab" : g->id,
                          i);
    } else {
        n = snprintf(
            g->line, sizeof g->line, "level=%s stream=%u trace_id=%s msg=\"%s\" dur=%dms%s",
            sec % 11 ? "info" : "warn", k, g->id, sec % 3 ? "request served" : "cache miss",
            (int)(mix((uint64_t)ts) % 997), late ? " late=1" : "");
    }
    snprintf(g->user, sizeof g->user, "u%d", sec % 13);
    g->md[0] = (struct label){STR_LIT("trace_id"), {g->id, 32}};
    g->md[1] = (struct label){STR_LIT("user"), str_from_cstr(g->user)};
    return (struct logstore_entry_in){ts, {g->line, (size_t)n}, g->md, sec % 3 == 0 ? 2 : 0};
}

/* Streams [0, STREAMS) over SECS seconds, one batch a second; every 10th second a stream also
 * gets an entry 5 s late, and every 7th second it repeats its entry of 3 s earlier (same ts, line
 * and metadata). Several entries share a millisecond. */
static void feed(struct lt *x)
{
    static struct gen g[STREAMS][3];
    for (int sec = 0; sec < SECS; sec++) {
        struct lt_stream s[STREAMS];
        struct logstore_entry_in e[STREAMS][3];
        struct logstore_stream_in in[STREAMS];
        int64_t t = T0 + sec * LT_SEC_NS;
        for (uint32_t k = 0; k < STREAMS; k++) {
            lt_stream_labels(&s[k], k);
            size_t n = 0;
            e[k][n] = gen_entry(&g[k][n], k, sec, t + k * 1000, false);
            n++;
            if (sec >= 5 && sec % 10 == 0) {
                e[k][n] = gen_entry(&g[k][n], k, sec - 5, t - 5 * LT_SEC_NS + 777, true);
                n++;
            }
            if (sec >= 3 && sec % 7 == 0) {
                e[k][n] = gen_entry(&g[k][n], k, sec - 3, t - 3 * LT_SEC_NS + k * 1000, false);
                n++;
            }
            in[k] = (struct logstore_stream_in){s[k].l, 3, hash_labels(s[k].l, 3), e[k], n};
        }
        lt_append_in(x, in, STREAMS);
        logstore_tick(x->ls, t / 1000000);
    }
}

/* ---- reading every entry ---- */

static void put(struct buf *b, const void *p, size_t n)
{
    assert_int_equal(buf_append(b, p, n), 0);
}

/* Every entry of every stream, serialized (stream, ts, line, metadata) in select order. */
static size_t read_all(struct logstore *ls, enum logstore_dir dir, struct buf *out)
{
    struct matcher m;
    lt_matcher(&m, MATCHER_RE, "__tenant__", "t0|t1");
    struct logstore_iter *it;
    assert_int_equal(
        logstore_select(ls, &m, 1, T0 - LT_MIN_NS, T0 + (SECS + 60) * LT_SEC_NS, dir, NULL, &it),
        0);
    size_t n = 0;
    while (logstore_iter_next(it) == 1) {
        const struct logstore_entry *e = logstore_iter_at(it);
        uint32_t k = lt_entry_k(e);
        put(out, &k, sizeof k);
        put(out, &e->ts_ns, sizeof e->ts_ns);
        put(out, &e->line.len, sizeof e->line.len);
        put(out, e->line.ptr, e->line.len);
        put(out, &e->n_md, sizeof e->n_md);
        for (size_t i = 0; i < e->n_md; i++) {
            put(out, e->md[i].name.ptr, e->md[i].name.len);
            put(out, "=", 1);
            put(out, e->md[i].value.ptr, e->md[i].value.len);
            put(out, ";", 1);
        }
        n++;
    }
    assert_int_equal(logstore_iter_err(it), 0);
    logstore_iter_close(it);
    matcher_deinit(&m);
    return n;
}

/* Lines of stream 1 containing `want`, selected backward with the hint `hint`. */
static long count_hinted(struct logstore *ls, const char *hint, const char *want,
                         struct logstore_select_stats *st)
{
    return lt_count_hinted(ls, 1, T0, T0 + SECS * LT_SEC_NS, LOGSTORE_BACKWARD, hint, want, st);
}

/* ---- the block chunks on disk ---- */

struct chunks_seen {
    struct buf bytes[STREAMS];           /* each stream's envelopes, blocks in time order */
    size_t chunks, blocks, small_chunks; /* small: raw bytes below `target` */
    uint32_t max_level, target;
    uint64_t env_bytes, raw_bytes, line_bytes, entries;
};

static void chunks_read(const char *store_dir, uint32_t target, struct chunks_seen *cs)
{
    memset(cs, 0, sizeof *cs);
    cs->target = target;
    char blocks[512];
    snprintf(blocks, sizeof blocks, "%s/blocks", store_dir);
    struct compact_dir d;
    assert_int_equal(compact_dir_open(&d, blocks, NULL), 0);
    size_t nb;
    struct block *const *b = compact_dir_blocks(&d, &nb);
    cs->blocks = nb;
    for (size_t i = 0; i < nb; i++) {
        if (block_meta(b[i])->level > cs->max_level)
            cs->max_level = block_meta(b[i])->level;
        struct chunk_series_set *set;
        assert_int_equal(block_select(b[i], NULL, 0, INT64_MIN, INT64_MAX, &set), 0);
        while (chunk_series_set_next(set) == 1) {
            const struct chunk_series *s = chunk_series_set_at(set);
            struct logstore_entry fake = {.labels = s->labels, .n_labels = s->n_labels};
            uint32_t k = lt_entry_k(&fake);
            assert_true(k < STREAMS);
            for (size_t j = 0; j < s->n_chunks; j++) {
                const struct chunk_meta *c = &s->chunks[j];
                assert_int_equal(c->encoding, CHUNK_LOG);
                if (j > 0) /* a stream's chunks never share a millisecond */
                    assert_true(c->mint_ms > s->chunks[j - 1].maxt_ms);
                struct logblock_info bi;
                assert_int_equal(logblock_decode(c->data, c->len, &bi), 0);
                assert_int_equal(bi.entries, c->samples);
                put(&cs->bytes[k], c->data, c->len);
                cs->chunks++;
                cs->env_bytes += c->len;
                cs->raw_bytes += bi.raw_len;
                cs->small_chunks += bi.raw_len < cs->target;
                cs->line_bytes += bi.line_bytes;
                cs->entries += bi.entries;
            }
        }
        assert_int_equal(chunk_series_set_err(set), 0);
        chunk_series_set_close(set);
    }
    compact_dir_close(&d);
}

static void chunks_free(struct chunks_seen *cs)
{
    for (int k = 0; k < STREAMS; k++)
        buf_deinit(&cs->bytes[k]);
}

/* ---- the test ---- */

static struct lt base;       /* written with compaction off */
static struct buf before[2]; /* read_all forward, backward */
static size_t n_before;
static struct chunks_seen seen_before;

static int group_setup(void **state)
{
    (void)state;
    lt_setup(&base, base_cfg);
    feed(&base);
    lt_settle(&base, (T0 + SECS * LT_SEC_NS) / 1000000);
    struct logstore_stats st;
    logstore_stats_get(base.ls, &st);
    assert_true(st.blocks >= 8);
    assert_int_equal(st.blocks, st.cuts_total); /* nothing compacted */
    for (int d = 0; d < 2; d++) {
        buf_init(&before[d]);
        size_t n = read_all(base.ls, d ? LOGSTORE_BACKWARD : LOGSTORE_FORWARD, &before[d]);
        assert_true(n > SECS * STREAMS);
        assert_true(d == 0 || n == n_before);
        n_before = n;
    }
    lt_close(&base);
    chunks_read(base.dir, 64 * 1024, &seen_before);
    assert_true(seen_before.chunks >= STREAMS * 8);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    lt_teardown(&base);
    for (int d = 0; d < 2; d++)
        buf_deinit(&before[d]);
    chunks_free(&seen_before);
    return 0;
}

/* A copy of the base store reopened with compaction on at `level`, settled. */
static void open_copy(struct lt *x, int level, uint32_t chunk_bytes)
{
    memset(x, 0, sizeof *x);
    lt_mkdtemp(x->dir, sizeof x->dir);
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "cp -a '%s/.' '%s/'", base.dir, x->dir);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(loop_init(&x->loop, NULL), 0);
    lt_config(x, &x->cfg);
    base_cfg(&x->cfg);
    x->cfg.max_block_range_ms = 9 * MIN_MS;
    x->cfg.compact_zstd_level = level;
    x->cfg.block_chunk_bytes = chunk_bytes;
    lt_open(x);
    lt_settle(x, (T0 + SECS * LT_SEC_NS) / 1000000);
    struct logstore_stats st;
    logstore_stats_get(x->ls, &st);
    assert_int_equal(st.compaction_failures_total, 0);
}

/* Entries read back identical (both directions), also after a restart. */
static void check_entries(struct lt *x)
{
    for (int round = 0; round < 2; round++) {
        for (int d = 0; d < 2; d++) {
            struct buf got = BUF_INIT;
            size_t n = read_all(x->ls, d ? LOGSTORE_BACKWARD : LOGSTORE_FORWARD, &got);
            assert_int_equal(n, n_before);
            assert_int_equal(got.len, before[d].len);
            assert_memory_equal(got.data, before[d].data, got.len);
            buf_deinit(&got);
        }
        lt_reopen(x);
    }
}

static void test_recompact_level9(void **state)
{
    (void)state;
    struct lt x;
    open_copy(&x, 9, 64 * 1024);
    check_entries(&x);
    /* the needle: a 32-hex id of one line, found through the rebuilt filters, which rule out most
     * chunks for it and for an absent id */
    char needle[33];
    trace_id(needle, 1, NEEDLE_SEC);
    struct logstore_select_stats ss;
    assert_int_equal(count_hinted(x.ls, needle, needle, &ss), 1); /* its repeat was dropped */
    assert_true(ss.chunks >= 2);
    assert_true(ss.chunks_skipped_hint >= 1);
    assert_true(ss.chunks_skipped_hint + 1 >= ss.chunks);
    assert_int_equal(
        count_hinted(x.ls, "0123456789abcdef0123456789abcdef", "0123456789abcdef", &ss), 0);
    assert_int_equal(ss.chunks_skipped_hint, ss.chunks);
    lt_close(&x);
    /* fewer, bigger chunks holding the same entries in fewer bytes */
    struct chunks_seen after;
    chunks_read(x.dir, 64 * 1024, &after);
    assert_true(after.blocks < seen_before.blocks);
    assert_int_equal(after.entries, seen_before.entries);
    assert_int_equal(after.line_bytes, seen_before.line_bytes);
    print_message(
        "recompact: blocks %zu -> %zu, %zu -> %zu chunks, raw %llu: envelopes %llu -> %llu bytes "
        "(%.2fx -> %.2fx)\n",
        seen_before.blocks, after.blocks, seen_before.chunks, after.chunks,
        (unsigned long long)seen_before.line_bytes, (unsigned long long)seen_before.env_bytes,
        (unsigned long long)after.env_bytes,
        (double)seen_before.line_bytes / (double)seen_before.env_bytes,
        (double)after.line_bytes / (double)after.env_bytes);
    assert_true(after.chunks * 2 <= seen_before.chunks);
    assert_true(after.raw_bytes / after.chunks >= 2 * (seen_before.raw_bytes / seen_before.chunks));
    assert_true(after.env_bytes < seen_before.env_bytes);
    chunks_free(&after);
    lt_open(&x);
    lt_teardown(&x);
}

static void test_recompact_level0_passes_through(void **state)
{
    (void)state;
    struct lt x;
    open_copy(&x, 0, 64 * 1024);
    check_entries(&x);
    lt_close(&x);
    struct chunks_seen after;
    chunks_read(x.dir, 64 * 1024, &after);
    assert_true(after.blocks < seen_before.blocks);
    assert_int_equal(after.chunks, seen_before.chunks);
    for (int k = 0; k < STREAMS; k++) {
        assert_int_equal(after.bytes[k].len, seen_before.bytes[k].len);
        assert_memory_equal(after.bytes[k].data, seen_before.bytes[k].data, after.bytes[k].len);
    }
    chunks_free(&after);
    lt_open(&x);
    lt_teardown(&x);
}

/* Small chunks: the first compaction (inputs cut by the head) re-encodes everything into 8 KiB
 * chunks; the next one (inputs of level 2) passes those through and merges only runs of smaller
 * ones. Entries still read back identical, and each stream keeps at most one small chunk per input
 * of the last compaction. */
static void test_recompact_passes_full_chunks(void **state)
{
    (void)state;
    struct lt x;
    open_copy(&x, 9, 8 * 1024);
    check_entries(&x);
    lt_close(&x);
    struct chunks_seen after;
    chunks_read(x.dir, 8 * 1024, &after);
    assert_true(after.max_level >= 3);
    assert_int_equal(after.entries, seen_before.entries);
    assert_true(after.chunks > seen_before.chunks);
    assert_true(after.small_chunks <= 3 * STREAMS * after.blocks);
    chunks_free(&after);
    lt_open(&x);
    lt_teardown(&x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_recompact_level9),
        cmocka_unit_test(test_recompact_level0_passes_through),
        cmocka_unit_test(test_recompact_passes_full_chunks),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
