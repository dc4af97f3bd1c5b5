/* Micro benchmark of the per-shard log store (engine/logs/logstore.h) on a real io_uring loop
 * and a temporary directory:
 *   - ingest: MB/s of raw line bytes through logstore_append (WAL in batch mode, commit callbacks
 *     waited for, maintenance ticking with the data time so head cuts run in the background), per
 *     wall second and per CPU second of the shard thread;
 *   - select: GB/s of line bytes iterated by logstore_select over data in blocks (all streams,
 *     forward and backward), the latency of a backward LIMIT 1000 query, and needle queries with
 *     a line hint (chunks skipped by the trigram filters);
 *   - compression: raw line bytes : bytes on disk of the blocks (zstd log chunks with filters and
 *     the block index), and of the snappy head chunks.
 * Lines come from a deterministic generator of three families (JSON application logs, logfmt,
 * nginx access logs) over 48 streams, about 1000 lines/s in total over 8 hours of data time.
 * Prints one JSON object per figure; timed figures are medians of several runs.
 * Usage: bench_logs [mib (default 96)] [dir (default $TMPDIR or /tmp)] [block zstd level (3)] */
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/clock.h"
#include "base/error.h"
#include "base/hash.h"
#include "base/log.h"
#include "engine/io/loop.h"
#include "engine/logs/logstore.h"

#define STREAMS     48
#define RUNS        5
#define INGEST_RUNS 3
#define PUSH_LINES  1024                  /* entries per push */
#define START_NS    1732269600000000000ll /* 2024-11-22T10:00:00Z */
#define SPAN_NS     (8ll * 3600 * 1000000000)

/* ---- generator ------------------------------------------------------------------------------ */

static uint64_t rs;

static uint64_t rnd(void)
{
    uint64_t z = (rs += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint32_t below(uint32_t n)
{
    return (uint32_t)(rnd() % n);
}

/* Small values far more often than large ones. */
static uint32_t zipfish(uint32_t n)
{
    double u = (double)(rnd() >> 11) * 0x1.0p-53;
    return (uint32_t)((double)n * u * u * u);
}

#define ONE_OF(a) (a)[below(sizeof(a) / sizeof((a)[0]))]

static const char *svc[] = {"orders", "billing", "inventory", "gateway", "auth", "search"};
static const char *msgs[] = {"handled request",  "cache lookup",    "db query",
                             "published event",  "retry scheduled", "token validated",
                             "upstream timeout", "rate limited",    "session created",
                             "payload rejected", "consumer lag",    "config reloaded"};
static const char *routes[] = {"/v1/orders", "/v1/items", "/v1/users", "/healthz",
                               "/v2/search", "/v1/cart",  "/metrics"};
static const char *verbs[] = {"GET", "GET", "GET", "POST", "POST", "PUT", "DELETE"};

static const char *lvl(void)
{
    uint32_t r = below(100);
    return r < 78 ? "info" : r < 90 ? "debug" : r < 97 ? "warn" : "error";
}

/* Requests in flight: a request logs a few lines carrying its trace id and user, interleaved
 * with the lines of other requests. */
struct req {
    char trace[33];
    uint32_t user, lines;
};
static struct req reqs[32];

static const struct req *req_pick(void)
{
    struct req *q = &reqs[below(32)];
    if (!q->lines) {
        for (int i = 0; i < 32; i += 16) {
            uint64_t v = rnd();
            for (int j = 0; j < 16; j++)
                q->trace[i + j] = "0123456789abcdef"[(v >> (4 * j)) & 15];
        }
        q->trace[32] = 0;
        q->user = 1000 + zipfish(50000);
        q->lines = 1 + below(8);
    }
    q->lines--;
    return q;
}

static void when(struct buf *b, int64_t ns)
{
    char s[40];
    clock_fmt_rfc3339_ms(ns, s, sizeof s);
    buf_append_str(b, s);
}

static void gen_json(struct buf *b, int64_t ts)
{
    const struct req *q = req_pick();
    buf_append_str(b, "{\"time\":\"");
    when(b, ts);
    buf_printf(b, "\",\"level\":\"%s\",\"svc\":\"%s\",\"msg\":\"%s\",\"trace\":\"%s\"", lvl(),
               ONE_OF(svc), msgs[zipfish(12)], q->trace);
    buf_printf(b, ",\"user\":%u,\"route\":\"%s\",\"status\":%u,\"latency_ms\":%u}", q->user,
               routes[zipfish(7)], below(20) ? 200 : 500, 1 + zipfish(2000));
}

static void gen_logfmt(struct buf *b, int64_t ts)
{
    const struct req *q = req_pick();
    buf_append_str(b, "ts=");
    when(b, ts);
    buf_printf(b, " level=%s caller=%s/handler.go:%u msg=\"%s\" req=%.16s", lvl(), ONE_OF(svc),
               40 + zipfish(400), msgs[zipfish(12)], q->trace);
    buf_printf(b, " method=%s path=%s status=%u took=%ums", ONE_OF(verbs), routes[zipfish(7)],
               below(30) ? 200 : 404, zipfish(900));
}

static void gen_nginx(struct buf *b, int64_t ts)
{
    uint32_t ip = zipfish(5000);
    buf_printf(b, "10.1.%u.%u - - [", ip >> 8 & 255, ip & 255);
    when(b, ts);
    buf_printf(b,
               "] \"%s %s/%u HTTP/1.1\" %u %u \"-\" \"Mozilla/5.0 (X11; Linux x86_64) "
               "Firefox/12%u.0\" %u.%03u",
               ONE_OF(verbs), routes[zipfish(7)], zipfish(10000), below(25) ? 200 : 304,
               100 + zipfish(90000), below(4), zipfish(3), below(1000));
}

/* ---- dataset: every entry in time order, stream by stream interleaved ------------------------ */

struct entry {
    int64_t ts;
    uint32_t stream;
    size_t off, len;
};

struct dataset {
    struct buf lines;
    struct entry *e;
    size_t n;
    char names[STREAMS][3][24];
    struct label labels[STREAMS][4];
};

static void dataset_make(struct dataset *d, size_t bytes)
{
    memset(d, 0, sizeof *d);
    rs = 0x10c5;
    static void (*const gen[3])(struct buf *, int64_t) = {gen_json, gen_logfmt, gen_nginx};
    static const char *fam[3] = {"json", "logfmt", "nginx"};
    for (uint32_t k = 0; k < STREAMS; k++) {
        snprintf(d->names[k][0], 24, "%s", fam[k % 3]);
        snprintf(d->names[k][1], 24, "%s-%u", svc[k % 6], k / 6);
        d->labels[k][0] = (struct label){STR_LIT("__tenant__"), STR_LIT("bench")};
        d->labels[k][1] = (struct label){STR_LIT("app"), str_from_cstr(d->names[k][1])};
        d->labels[k][2] = (struct label){STR_LIT("format"), str_from_cstr(d->names[k][0])};
        d->labels[k][3] = (struct label){STR_LIT("namespace"), STR_LIT("prod")};
    }
    size_t cap = 1 << 16;
    d->e = malloc(cap * sizeof *d->e);
    size_t est = bytes / 200;
    for (int64_t t = START_NS; d->lines.len < bytes; d->n++) {
        if (d->n == cap)
            d->e = realloc(d->e, (cap *= 2) * sizeof *d->e);
        t += SPAN_NS / (int64_t)est;
        uint32_t k = zipfish(STREAMS);
        size_t off = d->lines.len;
        gen[k % 3](&d->lines, t);
        d->e[d->n] = (struct entry){t, k, off, d->lines.len - off};
    }
}

/* ---- the store ------------------------------------------------------------------------------ */

struct bench {
    char dir[512];
    struct loop loop;
    struct logstore *ls;
    int acks;
};

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
    (void)st;
    (void)flag;
    (void)f;
    return remove(p);
}

static void on_ack(void *arg, int result)
{
    if (result)
        abort();
    ((struct bench *)arg)->acks++;
}

static int zstd_level = 3;

static void open_store(struct bench *b, const char *base)
{
    snprintf(b->dir, sizeof b->dir, "%s/strata-bench-logs-XXXXXX", base);
    if (!mkdtemp(b->dir) || loop_init(&b->loop, NULL))
        abort();
    struct logstore_config c;
    logstore_config_init(&c);
    c.reject_old_ms = 0;
    c.creation_grace_ms = 0;
    c.retention_ms = -1;
    c.wal.free_bytes_min = 0;
    c.wal.free_permille_min = 0;
    c.block_zstd_level = zstd_level;
    if (logstore_open(b->dir, &c, &b->loop, &b->ls))
        abort();
    loop_set_before_wait(&b->loop, logstore_before_wait, b->ls);
}

static void close_store(struct bench *b)
{
    loop_set_before_wait(&b->loop, NULL, NULL);
    logstore_close(b->ls);
    loop_deinit(&b->loop);
    nftw(b->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void settle(struct bench *b, int64_t now_ms)
{
    for (int i = 0; i < 1000000; i++) {
        logstore_tick(b->ls, now_ms);
        if (logstore_maintenance_idle(b->ls))
            return;
        loop_run_once(&b->loop, 1000000);
    }
}

/* Pushes the dataset in batches of PUSH_LINES consecutive entries grouped by stream (what
 * Promtail and Alloy send: one push of about 256 KiB holding several streams). */
static void ingest(struct bench *b, const struct dataset *d, int64_t *wall_ns, int64_t *cpu_ns)
{
    struct logstore_entry_in *ents = malloc(PUSH_LINES * sizeof *ents);
    struct logstore_stream_in in[STREAMS];
    int64_t t0 = clock_mono_ns(), c0 = clock_thread_cpu_ns();
    int sent = 0;
    for (size_t i = 0; i < d->n; i += PUSH_LINES) {
        size_t m = d->n - i < PUSH_LINES ? d->n - i : PUSH_LINES;
        size_t count[STREAMS] = {0}, at[STREAMS];
        for (size_t j = 0; j < m; j++)
            count[d->e[i + j].stream]++;
        size_t n_in = 0, off = 0;
        for (uint32_t k = 0; k < STREAMS; k++) {
            at[k] = off;
            if (count[k])
                in[n_in++] = (struct logstore_stream_in){
                    d->labels[k], 4, hash_labels(d->labels[k], 4), ents + off, count[k]};
            off += count[k];
        }
        for (size_t j = 0; j < m; j++) {
            const struct entry *e = &d->e[i + j];
            ents[at[e->stream]++] = (struct logstore_entry_in){
                e->ts, {(const char *)d->lines.data + e->off, e->len}, NULL, 0};
        }
        struct logstore_append_result r;
        int rc;
        while ((rc = logstore_append(b->ls, in, n_in, &r, on_ack, b)) == ERR_FULL)
            loop_run_once(&b->loop, 1000000);
        if (rc || r.rejected_total)
            abort();
        sent++;
        logstore_tick(b->ls, d->e[i + m - 1].ts / 1000000);
        logstore_flush(b->ls);
        loop_run_once(&b->loop, 0);
    }
    while (b->acks < sent)
        loop_run_once(&b->loop, 1000000);
    *wall_ns = clock_mono_ns() - t0;
    *cpu_ns = clock_thread_cpu_ns() - c0;
    free(ents);
}

static volatile uint64_t sink;

static int64_t select_all(struct bench *b, struct str lname, struct str lvalue, int64_t start,
                          int64_t end, enum logstore_dir dir, size_t limit,
                          const struct logstore_line_hint *hint, uint64_t *bytes,
                          struct logstore_select_stats *st)
{
    struct matcher m;
    char err[64];
    if (matcher_init(&m, MATCHER_EQ, lname, lvalue, err, sizeof err))
        abort();
    int64_t t0 = clock_mono_ns();
    struct logstore_iter *it;
    if (logstore_select(b->ls, &m, 1, start, end, dir, hint, &it))
        abort();
    uint64_t sum = 0, touch = 0;
    size_t n = 0;
    while (n < limit && logstore_iter_next(it) == 1) {
        const struct logstore_entry *e = logstore_iter_at(it);
        sum += e->line.len;
        touch += e->line.len ? (uint8_t)e->line.ptr[e->line.len - 1] : 0;
        n++;
    }
    if (logstore_iter_err(it))
        abort();
    int64_t dt = clock_mono_ns() - t0;
    logstore_iter_stats(it, st);
    logstore_iter_close(it);
    matcher_deinit(&m);
    sink = touch;
    *bytes = sum;
    return dt;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static int64_t median(int64_t *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_i64);
    return v[n / 2];
}

/* Streams {<lname>="<lvalue>"}. */
static void bench_select(struct bench *b, const char *name, const char *lname, const char *lvalue,
                         enum logstore_dir dir, size_t limit, const char *needle, int64_t start,
                         int64_t end)
{
    struct str s = needle ? str_from_cstr(needle) : (struct str){NULL, 0};
    struct logstore_line_hint hint = {&s, 1};
    int64_t t[RUNS];
    uint64_t bytes = 0;
    struct logstore_select_stats st;
    for (int r = 0; r < RUNS; r++)
        t[r] = select_all(b, str_from_cstr(lname), str_from_cstr(lvalue), start, end, dir, limit,
                          needle ? &hint : NULL, &bytes, &st);
    int64_t m = median(t, RUNS);
    printf("{\"bench\":\"logs_select\",\"query\":\"%s\",\"gb_per_s\":%.3f,\"ms\":%.2f,"
           "\"entries\":%llu,\"line_bytes\":%llu,\"chunks\":%llu,\"chunks_opened\":%llu,"
           "\"chunks_skipped_by_hint\":%llu,\"runs\":%d}\n",
           name, (double)bytes / (double)m, (double)m / 1e6, (unsigned long long)st.entries,
           (unsigned long long)bytes, (unsigned long long)st.chunks,
           (unsigned long long)st.chunks_opened, (unsigned long long)st.chunks_skipped_hint, RUNS);
    fflush(stdout);
}

int main(int argc, char **argv)
{
    size_t mib = argc > 1 ? (size_t)strtoul(argv[1], NULL, 10) : 96;
    const char *env = getenv("TMPDIR");
    const char *base = argc > 2 ? argv[2] : env && *env ? env : "/tmp";
    if (argc > 3)
        zstd_level = atoi(argv[3]);
    log_level_set(LOG_WARN);
    struct dataset d;
    dataset_make(&d, (mib ? mib : 96) << 20);
    int64_t wall[INGEST_RUNS], cpu[INGEST_RUNS];
    struct bench b;
    for (int r = 0; r < INGEST_RUNS; r++) {
        memset(&b, 0, sizeof b);
        open_store(&b, base);
        ingest(&b, &d, &wall[r], &cpu[r]);
        if (r < INGEST_RUNS - 1)
            close_store(&b);
    }
    double mb = (double)d.lines.len / 1e6;
    int64_t w = median(wall, INGEST_RUNS), c = median(cpu, INGEST_RUNS);
    printf("{\"bench\":\"logs_ingest\",\"mb_per_s\":%.1f,\"mb_per_cpu_s\":%.1f,\"entries\":%zu,"
           "\"line_bytes\":%zu,\"avg_line_bytes\":%.0f,\"streams\":%d,\"runs\":%d}\n",
           mb / ((double)w / 1e9), mb / ((double)c / 1e9), d.n, d.lines.len,
           (double)d.lines.len / (double)d.n, STREAMS, INGEST_RUNS);
    fflush(stdout);
    /* the last run's store: settle the cuts, then measure on the blocks */
    settle(&b, d.e[d.n - 1].ts / 1000000);
    struct logstore_stats st;
    logstore_stats_get(b.ls, &st);
    printf("{\"bench\":\"logs_compression\",\"zstd_level\":%d,\"raw_to_block_disk\":%.2f,"
           "\"raw_to_block_chunks\":%.2f,"
           "\"raw_to_head_snappy\":%.2f,\"block_raw_bytes\":%llu,\"block_disk_bytes\":%llu,"
           "\"blocks\":%llu,\"head_line_bytes\":%llu,\"head_chunk_bytes\":%llu}\n",
           zstd_level, (double)st.block_raw_bytes_written_total / (double)st.blocks_bytes,
           (double)st.block_raw_bytes_written_total / (double)st.block_chunk_bytes_written_total,
           st.head_chunk_bytes ? (double)st.head_line_bytes / (double)st.head_chunk_bytes : 0.0,
           (unsigned long long)st.block_raw_bytes_written_total,
           (unsigned long long)st.blocks_bytes, (unsigned long long)st.blocks,
           (unsigned long long)st.head_line_bytes, (unsigned long long)st.head_chunk_bytes);
    fflush(stdout);
    int64_t bs = st.blocks_min_time_ms * 1000000, be = st.blocks_max_time_ms * 1000000;
    const char *ns = "namespace", *prod = "prod";
    bench_select(&b, "blocks_forward_48_streams", ns, prod, LOGSTORE_FORWARD, SIZE_MAX, NULL, bs,
                 be);
    bench_select(&b, "blocks_backward_48_streams", ns, prod, LOGSTORE_BACKWARD, SIZE_MAX, NULL, bs,
                 be);
    bench_select(&b, "blocks_forward_1_stream", "app", "orders-0", LOGSTORE_FORWARD, SIZE_MAX, NULL,
                 bs, be);
    bench_select(&b, "blocks_backward_1_stream", "app", "orders-0", LOGSTORE_BACKWARD, SIZE_MAX,
                 NULL, bs, be);
    bench_select(&b, "blocks_backward_limit_1000", ns, prod, LOGSTORE_BACKWARD, 1000, NULL, bs, be);
    bench_select(&b, "blocks_needle_absent", ns, prod, LOGSTORE_FORWARD, SIZE_MAX, "kernel panic",
                 bs, be);
    bench_select(&b, "blocks_needle_in_nginx_only", ns, prod, LOGSTORE_FORWARD, SIZE_MAX,
                 "Firefox/123.0", bs, be);
    bench_select(&b, "head_forward_48_streams", ns, prod, LOGSTORE_FORWARD, SIZE_MAX, NULL, be,
                 START_NS + SPAN_NS * 2);
    close_store(&b);
    buf_deinit(&d.lines);
    free(d.e);
    return 0;
}
