/* Micro benchmark of the per-shard log store (engine/logs/logstore.h) on a real io_uring loop
 * and a temporary directory:
 *   - ingest: MB/s of raw line bytes through logstore_append (WAL in batch mode, commit callbacks
 *     waited for, maintenance ticking with the data time so head cuts run in the background), per
 *     wall second and per CPU second of the shard thread;
 *   - select: GB/s of line bytes iterated by logstore_select over data in blocks (all streams,
 *     forward and backward), the latency of a backward LIMIT 1000 query, and needle queries with
 *     a line hint (chunks skipped by the trigram filters);
 *   - compression: raw line bytes : bytes on disk of the blocks (zstd log chunks with filters and
 *     the block index), and of the snappy head chunks; the CPU the background cuts took (block
 *     chunk encoding: filters and zstd) per GB of raw lines;
 *   - with --compact-level N, compaction: three entries far past the data make the store cut
 *     the rest and compact its 2-hour blocks, re-encoding log chunks at zstd level N (0: passed
 *     through); raw : disk before and after, and the CPU of the background work;
 *   - with --levers, the compression levers outside the engine on the text of the block chunks
 *     (per 2-hour block and stream, cut at chunk_bytes): zstd levels, long mode (window 2^27) and
 *     a dictionary trained per block, each with its ratio and compress / decompress MB per CPU s.
 * Lines come from a deterministic generator of three families (JSON application logs, logfmt,
 * nginx access logs) over 48 streams, about 1000 lines/s in total over 8 hours of data time, or
 * with --workload load from strata-load's logs workload (tools/strata-load/wl_logs.c, compiled in:
 * 96 streams, 6 hours, --format, --lines-per-trace).
 * Prints one JSON object per figure; timed figures are medians of several runs.
 * Usage: bench_logs [mib (default 96)] [dir (default $TMPDIR or /tmp)] [block zstd level (3)]
 *        bench_logs [--workload bench_logs|load] [--format json|logfmt|nginx|mixed]
 *                   [--lines-per-trace N] [--size MiB] [--dir D] [--level N] [--chunk-bytes B]
 *                   [--no-filter] [--raw FILE] [--levers [--lever-block-hours H (2)]]
 *                   [--compression-only] [--compact-level N]
 *        bench_logs --input FILE [...]: the lines of a real log file in one stream instead */
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

#define ZDICT_STATIC_LINKING_ONLY
#include <zdict.h>
#include <zstd.h>

/* strata-load's logs workload generator, compiled in (it is not a library) */
#include "tools/strata-load/wl_logs.c"

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
static const char *b_routes[] = {"/v1/orders", "/v1/items", "/v1/users", "/healthz",
                                 "/v2/search", "/v1/cart",  "/metrics"};
static const char *verbs[] = {"GET", "GET", "GET", "POST", "POST", "PUT", "DELETE"};

static const char *lvl(void)
{
    uint32_t r = below(100);
    return r < 78 ? "info" : r < 90 ? "debug" : r < 97 ? "warn" : "error";
}

/* Requests in flight: a request logs a few lines carrying its trace id and user, interleaved
 * with the lines of other requests. */
struct breq {
    char trace[33];
    uint32_t user, lines;
};
static struct breq reqs[32];

static const struct breq *req_pick(void)
{
    struct breq *q = &reqs[below(32)];
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
    const struct breq *q = req_pick();
    buf_append_str(b, "{\"time\":\"");
    when(b, ts);
    buf_printf(b, "\",\"level\":\"%s\",\"svc\":\"%s\",\"msg\":\"%s\",\"trace\":\"%s\"", lvl(),
               ONE_OF(svc), msgs[zipfish(12)], q->trace);
    buf_printf(b, ",\"user\":%u,\"route\":\"%s\",\"status\":%u,\"latency_ms\":%u}", q->user,
               b_routes[zipfish(7)], below(20) ? 200 : 500, 1 + zipfish(2000));
}

static void gen_logfmt(struct buf *b, int64_t ts)
{
    const struct breq *q = req_pick();
    buf_append_str(b, "ts=");
    when(b, ts);
    buf_printf(b, " level=%s caller=%s/handler.go:%u msg=\"%s\" req=%.16s", lvl(), ONE_OF(svc),
               40 + zipfish(400), msgs[zipfish(12)], q->trace);
    buf_printf(b, " method=%s path=%s status=%u took=%ums", ONE_OF(verbs), b_routes[zipfish(7)],
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
               ONE_OF(verbs), b_routes[zipfish(7)], zipfish(10000), below(25) ? 200 : 304,
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
    size_t n, cap;
    uint32_t n_streams, n_labels;
    char names[STREAMS][3][24];
    struct label (*labels)[5];
};

static void dataset_push(struct dataset *d, int64_t ts, uint32_t stream, size_t off, size_t len)
{
    if (d->n == d->cap)
        d->e = realloc(d->e, (d->cap = d->cap ? 2 * d->cap : 1 << 16) * sizeof *d->e);
    if (!d->e)
        abort();
    d->e[d->n++] = (struct entry){ts, stream, off, len};
}

static void dataset_make(struct dataset *d, size_t bytes)
{
    memset(d, 0, sizeof *d);
    rs = 0x10c5;
    d->n_streams = STREAMS, d->n_labels = 4;
    d->labels = calloc(STREAMS, sizeof *d->labels);
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
    size_t est = bytes / 200;
    for (int64_t t = START_NS; d->lines.len < bytes;) {
        t += SPAN_NS / (int64_t)est;
        uint32_t k = zipfish(STREAMS);
        size_t off = d->lines.len;
        gen[k % 3](&d->lines, t);
        dataset_push(d, t, k, off, d->lines.len - off);
    }
}

/* ---- the store ------------------------------------------------------------------------------ */

struct bench {
    char dir[512];
    uint32_t streams;
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
static uint32_t store_chunk_bytes;   /* 0: the store's default */
static bool store_no_filter;         /* block chunks without trigram and gram filters */
static int store_compact_level = -1; /* compact_zstd_level; < 0: the store's default */

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
    if (store_chunk_bytes)
        c.block_chunk_bytes = store_chunk_bytes;
    c.block_filter = !store_no_filter;
    if (store_compact_level >= 0)
        c.compact_zstd_level = store_compact_level;
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
    uint32_t ns = d->n_streams, nl = d->n_labels;
    struct logstore_entry_in *ents = malloc(PUSH_LINES * sizeof *ents);
    struct logstore_stream_in *in = malloc(ns * sizeof *in);
    size_t *count = malloc(ns * sizeof *count), *at = malloc(ns * sizeof *at);
    int64_t t0 = clock_mono_ns(), c0 = clock_thread_cpu_ns();
    int sent = 0;
    for (size_t i = 0; i < d->n; i += PUSH_LINES) {
        size_t m = d->n - i < PUSH_LINES ? d->n - i : PUSH_LINES;
        memset(count, 0, ns * sizeof *count);
        for (size_t j = 0; j < m; j++)
            count[d->e[i + j].stream]++;
        size_t n_in = 0, off = 0;
        for (uint32_t k = 0; k < ns; k++) {
            at[k] = off;
            if (count[k])
                in[n_in++] = (struct logstore_stream_in){
                    d->labels[k], nl, hash_labels(d->labels[k], nl), ents + off, count[k]};
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
    free(ents), free(in), free(count), free(at);
}

struct opts {
    size_t mib;
    const char *dir, *raw, *input;
    int level, compact_level;
    uint32_t chunk_bytes, lines_per_trace;
    enum ld_log_format format;
    bool load, levers, compression_only, no_filter;
};

static volatile uint64_t sink;

static int64_t select_all(struct bench *b, enum matcher_type mt, struct str lname,
                          struct str lvalue, int64_t start, int64_t end, enum logstore_dir dir,
                          size_t limit, const struct logstore_line_hint *hint, uint64_t *bytes,
                          struct logstore_select_stats *st)
{
    struct matcher m;
    char err[64];
    if (matcher_init(&m, mt, lname, lvalue, err, sizeof err))
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

/* Streams {<lname>="<lvalue>"}, or {<lname>=~"<regex>"} for a value "~<regex>". */
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
        t[r] = select_all(b, *lvalue == '~' ? MATCHER_RE : MATCHER_EQ, str_from_cstr(lname),
                          str_from_cstr(lvalue + (*lvalue == '~')), start, end, dir, limit,
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

/* ---- strata-load's logs workload (--workload load) ------------------------------------------ */

/* The services, pods and agents of bench_logscan: 12 services x 2 pods x 4 levels = 96 streams
 * over 4 agents, batches of 1000 lines, 6 hours of data time. */
static void dataset_make_load(struct dataset *d, const struct opts *o, struct ld_logs *wl)
{
    memset(d, 0, sizeof *d);
    struct ld_logs_cfg cfg = {.seed = 42,
                              .services = 12,
                              .pods_per_service = 2,
                              .agents = 4,
                              .format = o->format,
                              .line_max = 4096,
                              .lines_per_trace = o->lines_per_trace};
    if (ld_logs_init(wl, &cfg))
        abort();
    d->n_streams = wl->n_streams, d->n_labels = 5;
    d->labels = calloc(wl->n_streams, sizeof *d->labels);
    for (uint32_t k = 0; k < wl->n_streams; k++) {
        d->labels[k][0] = (struct label){STR_LIT("__tenant__"), STR_LIT("bench")};
        ld_logs_stream_labels(wl, k, &d->labels[k][1]);
    }
    struct ld_lbatch lb;
    ld_lbatch_init(&lb);
    uint32_t agents = cfg.agents;
    uint64_t rounds = ((uint64_t)o->mib << 20) / 260 / 1000 / agents + 1;
    int64_t span = 6ll * 3600 * 1000000000, step = span / (int64_t)rounds;
    for (uint64_t r = 0; r < rounds; r++) {
        int64_t lo = START_NS + (int64_t)r * step;
        for (uint32_t a = 0; a < agents; a++) {
            if (ld_logs_build(wl, a, r, lo, lo + step, 1000, &lb))
                abort();
            for (size_t j = 0; j < lb.n; j++) {
                size_t off = d->lines.len;
                buf_append(&d->lines, lb.text.data + lb.e[j].off, lb.e[j].len);
                dataset_push(d, lb.e[j].ts_ns, lb.e[j].stream, off, lb.e[j].len);
            }
        }
    }
    ld_lbatch_deinit(&lb);
}

/* --input FILE: every line of a real log file, in one stream {job="file"}, timestamps spread
 * evenly over 8 hours (the file's own timestamps are not parsed). */
static void dataset_make_file(struct dataset *d, const char *path)
{
    memset(d, 0, sizeof *d);
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "bench_logs: cannot open %s\n", path);
        exit(2);
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, f)) > 0) {
        size_t len = (size_t)n - (line[n - 1] == '\n');
        if (!len)
            continue;
        dataset_push(d, 0, 0, d->lines.len, len);
        buf_append(&d->lines, line, len);
    }
    free(line);
    fclose(f);
    for (size_t i = 0; i < d->n; i++)
        d->e[i].ts = START_NS + (int64_t)((__int128)SPAN_NS * (int64_t)(i + 1) / (int64_t)d->n);
    d->n_streams = 1, d->n_labels = 2;
    d->labels = calloc(1, sizeof *d->labels);
    d->labels[0][0] = (struct label){STR_LIT("__tenant__"), STR_LIT("bench")};
    d->labels[0][1] = (struct label){STR_LIT("job"), STR_LIT("file")};
}

static void dataset_write_raw(const struct dataset *d, const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f)
        abort();
    for (size_t i = 0; i < d->n; i++) {
        fwrite(d->lines.data + d->e[i].off, 1, d->e[i].len, f);
        fputc('\n', f);
    }
    if (fclose(f))
        abort();
}

/* ---- compression levers outside the engine (--levers) --------------------------------------- */

/* The log store's block chunks, approximated: per block (2 hours, or a compacted block's range)
 * and stream, the stream's lines in
 * time order joined by newlines, cut at a line boundary once a chunk reaches chunk_bytes. */
struct chunks {
    struct buf text;
    size_t *off, *len;
    uint32_t *block;
    size_t n, blocks;
};

static const struct dataset *cmp_d;
static int64_t lever_block_ns =
    7200000000000ll; /* --lever-block-hours: 2 h, the head cut's range */

static int by_block_stream(const void *a, const void *b)
{
    const struct entry *x = &cmp_d->e[*(const size_t *)a], *y = &cmp_d->e[*(const size_t *)b];
    int64_t bx = x->ts / lever_block_ns, by = y->ts / lever_block_ns;
    if (bx != by)
        return bx < by ? -1 : 1;
    if (x->stream != y->stream)
        return x->stream < y->stream ? -1 : 1;
    return (x->ts > y->ts) - (x->ts < y->ts);
}

static void chunks_make(const struct dataset *d, size_t chunk_bytes, struct chunks *c)
{
    memset(c, 0, sizeof *c);
    size_t *ix = malloc(d->n * sizeof *ix);
    for (size_t i = 0; i < d->n; i++)
        ix[i] = i;
    cmp_d = d;
    qsort(ix, d->n, sizeof *ix, by_block_stream);
    c->off = malloc(d->n * sizeof *c->off), c->len = malloc(d->n * sizeof *c->len);
    c->block = malloc(d->n * sizeof *c->block);
    int64_t blk0 = d->e[ix[0]].ts / lever_block_ns;
    for (size_t i = 0; i < d->n; i++) {
        const struct entry *e = &d->e[ix[i]];
        const struct entry *p = i ? &d->e[ix[i - 1]] : NULL;
        int64_t blk = e->ts / lever_block_ns;
        bool cut = !p || p->stream != e->stream || p->ts / lever_block_ns != blk ||
                   c->len[c->n - 1] >= chunk_bytes;
        if (cut) {
            c->off[c->n] = c->text.len, c->len[c->n] = 0;
            c->block[c->n++] = (uint32_t)(blk - blk0);
            c->blocks = (size_t)(blk - blk0) + 1;
        }
        buf_append(&c->text, d->lines.data + e->off, e->len);
        buf_append(&c->text, "\n", 1);
        c->len[c->n - 1] += e->len + 1;
    }
    free(ix);
}

static void chunks_free(struct chunks *c)
{
    buf_deinit(&c->text);
    free(c->off), free(c->len), free(c->block);
}

/* A dictionary of dict_bytes for each block, trained on up to 8 MiB of its lines. */
static size_t train_dicts(const struct chunks *c, size_t dict_bytes, struct buf *dicts,
                          size_t *dict_len, int64_t *train_ns)
{
    size_t total = 0, cap_s = 1 << 20;
    size_t *sizes = malloc(cap_s * sizeof *sizes);
    struct buf samples = BUF_INIT;
    int64_t t0 = clock_process_cpu_ns();
    for (size_t b = 0; b < c->blocks; b++) {
        size_t ns = 0;
        buf_reset(&samples);
        for (size_t k = 0; k < c->n && samples.len < (8u << 20); k++) {
            if (c->block[k] != b)
                continue;
            const char *p = (const char *)c->text.data + c->off[k], *e = p + c->len[k];
            while (p < e && ns < cap_s && samples.len < (8u << 20)) {
                const char *nl = memchr(p, '\n', (size_t)(e - p));
                buf_append(&samples, p, (size_t)(nl - p) + 1);
                sizes[ns++] = (size_t)(nl - p) + 1;
                p = nl + 1;
            }
        }
        buf_reserve(&dicts[b], dict_bytes);
        size_t n =
            ZDICT_trainFromBuffer(dicts[b].data, dict_bytes, samples.data, sizes, (unsigned)ns);
        dict_len[b] = ZDICT_isError(n) ? 0 : n;
        total += dict_len[b];
    }
    *train_ns = clock_process_cpu_ns() - t0;
    buf_deinit(&samples);
    free(sizes);
    return total;
}

struct lever {
    const char *name;
    int level;
    bool long_mode;
    size_t dict_bytes;
};

static void lever_run(const struct chunks *c, const struct lever *lv, size_t chunk_bytes)
{
    ZSTD_CCtx *cc = ZSTD_createCCtx();
    ZSTD_DCtx *dc = ZSTD_createDCtx();
    struct buf *dicts = calloc(c->blocks, sizeof *dicts);
    size_t *dict_len = calloc(c->blocks, sizeof *dict_len), dict_total = 0;
    int64_t train_ns = 0;
    if (lv->dict_bytes)
        dict_total = train_dicts(c, lv->dict_bytes, dicts, dict_len, &train_ns);
    ZSTD_CDict **cd = calloc(c->blocks, sizeof *cd);
    ZSTD_DDict **dd = calloc(c->blocks, sizeof *dd);
    for (size_t b = 0; b < c->blocks; b++)
        if (dict_len[b]) {
            cd[b] = ZSTD_createCDict(dicts[b].data, dict_len[b], lv->level);
            dd[b] = ZSTD_createDDict(dicts[b].data, dict_len[b]);
        }
    size_t max_len = 0;
    for (size_t k = 0; k < c->n; k++)
        max_len = c->len[k] > max_len ? c->len[k] : max_len;
    size_t bound = ZSTD_compressBound(max_len);
    char *z = malloc(bound), *back = malloc(max_len);
    uint64_t zbytes = 0;
    int64_t enc = 0, dec = 0;
    for (size_t k = 0; k < c->n; k++) {
        const char *src = (const char *)c->text.data + c->off[k];
        uint32_t b = c->block[k];
        int64_t t0 = clock_thread_cpu_ns();
        size_t n;
        if (cd[b]) {
            n = ZSTD_compress_usingCDict(cc, z, bound, src, c->len[k], cd[b]);
        } else {
            ZSTD_CCtx_reset(cc, ZSTD_reset_session_and_parameters);
            ZSTD_CCtx_setParameter(cc, ZSTD_c_compressionLevel, lv->level);
            if (lv->long_mode) {
                ZSTD_CCtx_setParameter(cc, ZSTD_c_enableLongDistanceMatching, 1);
                ZSTD_CCtx_setParameter(cc, ZSTD_c_windowLog, 27);
            }
            n = ZSTD_compress2(cc, z, bound, src, c->len[k]);
        }
        int64_t t1 = clock_thread_cpu_ns();
        if (ZSTD_isError(n))
            abort();
        ZSTD_DCtx_setParameter(dc, ZSTD_d_windowLogMax, 27);
        size_t m = dd[b] ? ZSTD_decompress_usingDDict(dc, back, max_len, z, n, dd[b])
                         : ZSTD_decompressDCtx(dc, back, max_len, z, n);
        int64_t t2 = clock_thread_cpu_ns();
        if (ZSTD_isError(m) || m != c->len[k] || memcmp(back, src, m))
            abort();
        zbytes += n, enc += t1 - t0, dec += t2 - t1;
    }
    double raw = (double)c->text.len;
    printf("{\"bench\":\"logs_zstd_lever\",\"lever\":\"%s\",\"level\":%d,\"long\":%s,"
           "\"dict_bytes\":%zu,\"chunk_bytes\":%zu,\"chunks\":%zu,\"avg_chunk_bytes\":%.0f,"
           "\"blocks\":%zu,\"raw_bytes\":%.0f,\"ratio\":%.2f,\"ratio_with_dicts\":%.2f,"
           "\"compress_mb_per_cpu_s\":%.1f,\"decompress_mb_per_cpu_s\":%.1f,"
           "\"dict_train_cpu_ms\":%.1f,\"block_hours\":%.1f}\n",
           lv->name, lv->level, lv->long_mode ? "true" : "false", lv->dict_bytes, chunk_bytes, c->n,
           raw / (double)c->n, c->blocks, raw, raw / (double)zbytes,
           raw / (double)(zbytes + dict_total), raw / 1e6 / ((double)enc / 1e9),
           raw / 1e6 / ((double)dec / 1e9), (double)train_ns / 1e6,
           (double)lever_block_ns / 3600e9);
    fflush(stdout);
    for (size_t b = 0; b < c->blocks; b++) {
        ZSTD_freeCDict(cd[b]), ZSTD_freeDDict(dd[b]);
        buf_deinit(&dicts[b]);
    }
    free(cd), free(dd), free(dicts), free(dict_len), free(z), free(back);
    ZSTD_freeCCtx(cc), ZSTD_freeDCtx(dc);
}

static void levers(const struct dataset *d, size_t chunk_bytes)
{
    static const struct lever lv[] = {
        {"level", 1, false, 0},        {"level", 3, false, 0},        {"level", 6, false, 0},
        {"level", 9, false, 0},        {"level", 19, false, 0},       {"long", 3, true, 0},
        {"dict", 3, false, 32 << 10},  {"dict", 3, false, 112 << 10}, {"dict", 9, false, 112 << 10},
        {"dict", 19, false, 112 << 10}};
    struct chunks c;
    chunks_make(d, chunk_bytes, &c);
    for (size_t i = 0; i < sizeof lv / sizeof lv[0]; i++)
        lever_run(&c, &lv[i], chunk_bytes);
    chunks_free(&c);
}

/* ---- main ----------------------------------------------------------------------------------- */

static void parse_opts(int argc, char **argv, struct opts *o)
{
    const char *env = getenv("TMPDIR");
    *o = (struct opts){
        .mib = 96, .dir = env && *env ? env : "/tmp", .level = 3, .compact_level = -1};
    o->format = LD_LOG_MIXED;
    if (argc > 1 && argv[1][0] != '-') { /* bench_logs [mib] [dir] [level] */
        o->mib = (size_t)strtoul(argv[1], NULL, 10);
        o->dir = argc > 2 ? argv[2] : o->dir;
        o->level = argc > 3 ? atoi(argv[3]) : o->level;
        return;
    }
    static const char *const fmts[] = {"json", "logfmt", "nginx", "mixed"};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : "";
        if (!strcmp(a, "--levers") || !strcmp(a, "--compression-only") ||
            !strcmp(a, "--no-filter")) {
            *(a[2] == 'l' ? &o->levers : a[2] == 'c' ? &o->compression_only : &o->no_filter) = true;
            continue;
        }
        i++;
        if (!strcmp(a, "--workload"))
            o->load = !strcmp(v, "load");
        else if (!strcmp(a, "--format"))
            for (int k = 0; k < 4; k++)
                o->format = !strcmp(v, fmts[k]) ? (enum ld_log_format)k : o->format;
        else if (!strcmp(a, "--lines-per-trace"))
            o->lines_per_trace = (uint32_t)strtoul(v, NULL, 10);
        else if (!strcmp(a, "--size"))
            o->mib = (size_t)strtoul(v, NULL, 10);
        else if (!strcmp(a, "--dir"))
            o->dir = v;
        else if (!strcmp(a, "--level"))
            o->level = atoi(v);
        else if (!strcmp(a, "--compact-level"))
            o->compact_level = atoi(v);
        else if (!strcmp(a, "--chunk-bytes"))
            o->chunk_bytes = (uint32_t)strtoul(v, NULL, 10);
        else if (!strcmp(a, "--raw"))
            o->raw = v;
        else if (!strcmp(a, "--lever-block-hours"))
            lever_block_ns = (int64_t)(strtod(v, NULL) * 3600e9);
        else if (!strcmp(a, "--input"))
            o->input = v, o->compression_only = true;
        else {
            fprintf(stderr, "bench_logs: unknown option %s\n", a);
            exit(2);
        }
    }
}

/* Three entries of the first stream far past the data (3 days, then 2.5 h and 7 h later): the
 * head spans more than 1.5 block ranges, the data is cut, and compaction merges the 2-hour
 * blocks (re-encoding their log chunks at the configured level) until the store is idle. */
static void bench_compaction(struct bench *b, const struct dataset *d, int level)
{
    struct logstore_stats s0, s1;
    logstore_stats_get(b->ls, &s0);
    int64_t far = d->e[d->n - 1].ts + 72ll * 3600 * 1000000000;
    struct logstore_entry_in e[3] = {{far, {"x", 1}, NULL, 0},
                                     {far + 9000ll * 1000000000, {"y", 1}, NULL, 0},
                                     {far + 7ll * 3600 * 1000000000, {"z", 1}, NULL, 0}};
    struct logstore_stream_in in = {d->labels[0], d->n_labels,
                                    hash_labels(d->labels[0], d->n_labels), e, 3};
    struct logstore_append_result r;
    int want = b->acks + 1;
    int64_t p0 = clock_process_cpu_ns(), t0 = clock_thread_cpu_ns();
    if (logstore_append(b->ls, &in, 1, &r, on_ack, b) || r.rejected_total)
        abort();
    logstore_flush(b->ls);
    while (b->acks < want)
        loop_run_once(&b->loop, 1000000);
    settle(b, far / 1000000 + 7 * 3600 * 1000);
    int64_t bg = clock_process_cpu_ns() - p0 - (clock_thread_cpu_ns() - t0);
    logstore_stats_get(b->ls, &s1);
    printf("{\"bench\":\"logs_compaction\",\"compact_zstd_level\":%d,\"blocks_before\":%llu,"
           "\"blocks_after\":%llu,\"compactions\":%llu,\"disk_before\":%llu,\"disk_after\":%llu,"
           "\"raw_to_disk_before\":%.3f,\"raw_to_disk_after\":%.3f,\"background_cpu_s\":%.3f}\n",
           level, (unsigned long long)s0.blocks, (unsigned long long)s1.blocks,
           (unsigned long long)(s1.compactions_total - s0.compactions_total),
           (unsigned long long)s0.blocks_bytes, (unsigned long long)s1.blocks_bytes,
           (double)s0.block_raw_bytes_written_total / (double)s0.blocks_bytes,
           (double)s1.block_raw_bytes_written_total / (double)s1.blocks_bytes, (double)bg / 1e9);
    fflush(stdout);
}

static void print_compression(struct bench *b, const struct opts *o, int64_t write_cpu_ns)
{
    struct logstore_stats st;
    logstore_stats_get(b->ls, &st);
    static const char *const fmts[] = {"json", "logfmt", "nginx", "mixed"};
    printf("{\"bench\":\"logs_compression\",\"workload\":\"%s\",\"format\":\"%s\","
           "\"lines_per_trace\":%u,\"zstd_level\":%d,\"chunk_bytes\":%u,\"filters\":%s,"
           "\"raw_to_block_disk\":%.2f,\"raw_to_block_chunks\":%.2f,"
           "\"raw_to_head_snappy\":%.2f,\"block_raw_bytes\":%llu,\"block_disk_bytes\":%llu,"
           "\"blocks\":%llu,\"head_line_bytes\":%llu,\"head_chunk_bytes\":%llu,"
           "\"background_cpu_s_per_raw_gb\":%.2f}\n",
           o->input  ? o->input
           : o->load ? "load"
                     : "bench_logs",
           o->load    ? fmts[o->format]
           : o->input ? "file"
                      : "mixed",
           o->load ? (o->lines_per_trace ? o->lines_per_trace : LD_LINES_PER_TRACE_DEFAULT) : 0,
           o->level, o->chunk_bytes, o->no_filter ? "false" : "true",
           (double)st.block_raw_bytes_written_total / (double)st.blocks_bytes,
           (double)st.block_raw_bytes_written_total / (double)st.block_chunk_bytes_written_total,
           st.head_chunk_bytes ? (double)st.head_line_bytes / (double)st.head_chunk_bytes : 0.0,
           (unsigned long long)st.block_raw_bytes_written_total,
           (unsigned long long)st.blocks_bytes, (unsigned long long)st.blocks,
           (unsigned long long)st.head_line_bytes, (unsigned long long)st.head_chunk_bytes,
           (double)write_cpu_ns / ((double)st.block_raw_bytes_written_total / 1e9) / 1e9);
    fflush(stdout);
}

static void run_selects(struct bench *b, const struct opts *o)
{
    struct logstore_stats st;
    logstore_stats_get(b->ls, &st);
    int64_t bs = st.blocks_min_time_ms * 1000000, be = st.blocks_max_time_ms * 1000000;
    const char *ns = o->input ? "job" : "namespace";
    const char *all = o->input ? "file" : o->load ? "~.+" : "prod";
    const char *app = o->load ? "service_name" : "app", *one = o->load ? "orders" : "orders-0";
    char n1[64], n2[64], n3[64];
    snprintf(n1, sizeof n1, "blocks_forward_%u_streams", b->streams);
    snprintf(n2, sizeof n2, "blocks_backward_%u_streams", b->streams);
    snprintf(n3, sizeof n3, "head_forward_%u_streams", b->streams);
    bench_select(b, n1, ns, all, LOGSTORE_FORWARD, SIZE_MAX, NULL, bs, be);
    if (o->compression_only)
        return;
    bench_select(b, n2, ns, all, LOGSTORE_BACKWARD, SIZE_MAX, NULL, bs, be);
    bench_select(b, "blocks_forward_1_stream", app, one, LOGSTORE_FORWARD, SIZE_MAX, NULL, bs, be);
    bench_select(b, "blocks_backward_1_stream", app, one, LOGSTORE_BACKWARD, SIZE_MAX, NULL, bs,
                 be);
    bench_select(b, "blocks_backward_limit_1000", ns, all, LOGSTORE_BACKWARD, 1000, NULL, bs, be);
    bench_select(b, "blocks_needle_absent", ns, all, LOGSTORE_FORWARD, SIZE_MAX, "kernel panic", bs,
                 be);
    bench_select(b, "blocks_needle_in_nginx_only", ns, all, LOGSTORE_FORWARD, SIZE_MAX,
                 o->load ? "kube-probe/1.30" : "Firefox/123.0", bs, be);
    bench_select(b, n3, ns, all, LOGSTORE_FORWARD, SIZE_MAX, NULL, be, START_NS + SPAN_NS * 2);
}

int main(int argc, char **argv)
{
    struct opts o;
    parse_opts(argc, argv, &o);
    zstd_level = o.level, store_chunk_bytes = o.chunk_bytes, store_no_filter = o.no_filter;
    store_compact_level = o.compact_level;
    log_level_set(LOG_WARN);
    struct dataset d;
    struct ld_logs wl;
    if (o.input)
        dataset_make_file(&d, o.input);
    else if (o.load)
        dataset_make_load(&d, &o, &wl);
    else
        dataset_make(&d, (o.mib ? o.mib : 96) << 20);
    if (o.raw)
        dataset_write_raw(&d, o.raw);
    if (o.levers)
        levers(&d, o.chunk_bytes ? o.chunk_bytes : 1 << 20);
    int runs = o.compression_only ? 1 : INGEST_RUNS;
    int64_t wall[INGEST_RUNS], cpu[INGEST_RUNS], proc0 = 0, thread0 = 0;
    struct bench b;
    for (int r = 0; r < runs; r++) {
        memset(&b, 0, sizeof b);
        open_store(&b, o.dir);
        proc0 = clock_process_cpu_ns(), thread0 = clock_thread_cpu_ns();
        ingest(&b, &d, &wall[r], &cpu[r]);
        if (r < runs - 1)
            close_store(&b);
    }
    double mb = (double)d.lines.len / 1e6;
    int64_t w = median(wall, runs), c = median(cpu, runs);
    printf("{\"bench\":\"logs_ingest\",\"mb_per_s\":%.1f,\"mb_per_cpu_s\":%.1f,\"entries\":%zu,"
           "\"line_bytes\":%zu,\"avg_line_bytes\":%.0f,\"streams\":%u,\"runs\":%d}\n",
           mb / ((double)w / 1e9), mb / ((double)c / 1e9), d.n, d.lines.len,
           (double)d.lines.len / (double)d.n, d.n_streams, runs);
    fflush(stdout);
    /* the last run's store: settle the cuts, then measure on the blocks; the CPU the process
     * spent besides this (the shard) thread is the background cut and block writing */
    settle(&b, d.e[d.n - 1].ts / 1000000);
    print_compression(&b, &o, clock_process_cpu_ns() - proc0 - (clock_thread_cpu_ns() - thread0));
    b.streams = d.n_streams;
    run_selects(&b, &o);
    if (o.compact_level >= 0)
        bench_compaction(&b, &d, o.compact_level);
    close_store(&b);
    if (o.load)
        ld_logs_deinit(&wl);
    buf_deinit(&d.lines);
    free(d.e), free(d.labels);
    return 0;
}
