/* Scan benchmark of LogQL line pipelines over log data in blocks (issue #6): generates realistic
 * application logs with strata-load's logs workload (tools/strata-load/wl_logs.c, compiled in
 * here), writes the raw text to a file (one line per entry, for ripgrep on the same bytes), appends
 * everything to a log store (engine/logs/logstore.h) and has the head cut until every entry is in
 * blocks, then times queries the way the server runs them: select (with the line hint and the
 * pipeline's pre-filter pushed down as the select's batch line filter, so only lines it keeps are
 * merged) + the LogQL executor (engine/logql/exec.h: process the kept lines), CPU seconds of the
 * whole process, median of several runs. Log queries read in time order ("order":"time": the
 * cross-stream merge a LIMIT and direction need), metric queries stream by stream
 * ("order":"stream"). --line-filter times the older path instead: every line through the merge,
 * then the pre-filter line by line ("filter":"line" instead of "block"). Figures are GB/s of raw
 * line bytes in the selected range per CPU second. A needle (a trace id that occurs exactly once)
 * is planted in one line of the middle of the data.
 *
 * Usage: bench_logscan [--size MB (1024)] [--dir D ($TMPDIR or /tmp)] [--raw FILE (none)]
 *        [--format mixed|json|logfmt|nginx] [--level N (3)] [--chunk-bytes B (store default)]
 *        [--runs N (5)] [--no-query] [--line-filter] [--only QUERY]
 * Prints one JSON object per line: logscan_data, logscan_compression, logscan_query (one per
 * query). Never passes or fails on time. */
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "base/error.h"
#include "base/hash.h"
#include "base/log.h"
#include "engine/io/loop.h"
#include "engine/logql/exec.h"
#include "engine/logql/parse.h"
#include "engine/logs/logstore.h"

/* The workload generator of strata-load, compiled into this program (it is not a library). */
#include "tools/strata-load/wl_logs.c"

#define BATCH_LINES 1000
#define START_NS    1732269600000000000ll /* 2024-11-22T10:00:00Z */
#define SPAN_NS     (6ll * 3600 * 1000000000)
#define NEEDLE      "4bf92f3577b34da6a3ce929d0e0e4736"

struct opts {
    size_t mb;
    const char *dir, *raw, *format;
    int level, runs;
    uint32_t chunk_bytes;
    bool query;
    bool line_filter;
    const char *only; /* run only this query (profiling) */
};

struct bench {
    char dir[512];
    struct loop loop;
    struct logstore *ls;
    uint64_t sent, acks;
    /* the data */
    uint64_t lines, line_bytes;
    int64_t mint_ns, maxt_ns;
    bool planted; /* the needle is in the data (not with nginx lines only: they carry no ids) */
    struct ld_logs wl;
    struct label (*labels)[5];
};

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
    (void)st, (void)flag, (void)f;
    return remove(p);
}

static void on_ack(void *arg, int result)
{
    if (result)
        abort();
    ((struct bench *)arg)->acks++;
}

static double cpu_now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void open_store(struct bench *b, const struct opts *o)
{
    snprintf(b->dir, sizeof b->dir, "%s/strata-bench-logscan-XXXXXX", o->dir);
    if (!mkdtemp(b->dir) || loop_init(&b->loop, NULL))
        abort();
    struct logstore_config c;
    logstore_config_init(&c);
    c.reject_old_ms = 0;
    c.creation_grace_ms = 0;
    c.retention_ms = -1;
    c.wal.free_bytes_min = 0;
    c.wal.free_permille_min = 0;
    c.block_zstd_level = o->level;
    if (o->chunk_bytes)
        c.block_chunk_bytes = o->chunk_bytes;
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
    for (int i = 0; i < 10000000; i++) {
        logstore_tick(b->ls, now_ms);
        if (logstore_maintenance_idle(b->ls))
            return;
        loop_run_once(&b->loop, 1000000);
    }
}

/* ---- generation and ingest ------------------------------------------------------------------ */

static enum ld_log_format parse_format(const char *s)
{
    return !strcmp(s, "json")     ? LD_LOG_JSON
           : !strcmp(s, "logfmt") ? LD_LOG_LOGFMT
           : !strcmp(s, "nginx")  ? LD_LOG_NGINX
                                  : LD_LOG_MIXED;
}

static void setup_workload(struct bench *b, const struct opts *o)
{
    struct ld_logs_cfg cfg = {.seed = 42,
                              .services = 12,
                              .pods_per_service = 2,
                              .agents = 4,
                              .format = parse_format(o->format),
                              .line_max = 4096};
    if (ld_logs_init(&b->wl, &cfg))
        abort();
    b->labels = calloc(b->wl.n_streams, sizeof *b->labels);
    for (uint32_t s = 0; s < b->wl.n_streams; s++) {
        b->labels[s][0] = (struct label){STR_LIT("__tenant__"), STR_LIT("bench")};
        ld_logs_stream_labels(&b->wl, s, &b->labels[s][1]);
    }
}

/* Replaces the trace id inside the first line from entry i on that carries one (nginx lines do
 * not) with the needle. False when no line of the batch from i on has one. */
static bool plant_needle(struct ld_lbatch *lb, size_t i)
{
    for (; i < lb->n; i++) {
        struct ld_lentry *e = &lb->e[i];
        char *text = (char *)lb->text.data;
        char *at = memmem(text + e->off, e->len, text + e->tid_off, 32);
        if (at) {
            memcpy(at, NEEDLE, 32);
            return true;
        }
    }
    return false;
}

/* Appends one generated batch (one agent's streams, in time order per stream). */
static void append_batch(struct bench *b, struct ld_lbatch *lb, struct logstore_entry_in *ents,
                         struct logstore_stream_in *in, uint32_t *count)
{
    uint32_t ns = b->wl.n_streams, n_in = 0;
    memset(count, 0, ns * sizeof *count);
    for (size_t j = 0; j < lb->n; j++)
        count[lb->e[j].stream]++;
    size_t off = 0;
    for (uint32_t s = 0; s < ns; s++) {
        uint32_t c = count[s];
        if (c)
            in[n_in++] = (struct logstore_stream_in){b->labels[s], 5, hash_labels(b->labels[s], 5),
                                                     ents + off, c};
        count[s] = (uint32_t)off;
        off += c;
    }
    for (size_t j = 0; j < lb->n; j++) {
        const struct ld_lentry *e = &lb->e[j];
        ents[count[e->stream]++] = (struct logstore_entry_in){
            e->ts_ns, {(const char *)lb->text.data + e->off, e->len}, NULL, 0};
    }
    struct logstore_append_result r;
    int rc;
    while ((rc = logstore_append(b->ls, in, n_in, &r, on_ack, b)) == ERR_FULL)
        loop_run_once(&b->loop, 1000000);
    if (rc || r.rejected_total) {
        fprintf(stderr, "bench_logscan: append: rc %d, %llu rejected (%s)\n", rc,
                (unsigned long long)r.rejected_total, r.reason);
        abort();
    }
    b->sent++;
}

static void write_raw(FILE *f, const struct ld_lbatch *lb, struct bench *b)
{
    for (size_t j = 0; j < lb->n; j++) {
        const struct ld_lentry *e = &lb->e[j];
        if (f) {
            fwrite(lb->text.data + e->off, 1, e->len, f);
            fputc('\n', f);
        }
        b->lines++;
        b->line_bytes += e->len;
    }
}

static void ingest(struct bench *b, const struct opts *o)
{
    FILE *f = o->raw ? fopen(o->raw, "w") : NULL;
    if (o->raw && !f)
        abort();
    struct ld_lbatch lb;
    ld_lbatch_init(&lb);
    struct logstore_entry_in *ents = malloc(BATCH_LINES * sizeof *ents);
    struct logstore_stream_in *in = malloc(b->wl.n_streams * sizeof *in);
    uint32_t *count = malloc(b->wl.n_streams * sizeof *count);
    uint32_t agents = b->wl.cfg.agents;
    uint64_t rounds = ((uint64_t)o->mb << 20) / 260 / BATCH_LINES / agents + 1;
    int64_t step = SPAN_NS / (int64_t)rounds;
    b->mint_ns = INT64_MAX, b->maxt_ns = INT64_MIN;
    for (uint64_t r = 0; r < rounds; r++) {
        int64_t lo = START_NS + (int64_t)r * step;
        for (uint32_t a = 0; a < agents; a++) {
            if (ld_logs_build(&b->wl, a, r, lo, lo + step, BATCH_LINES, &lb))
                abort();
            if (r >= rounds / 2 && !b->planted)
                b->planted = plant_needle(&lb, lb.n / 2);
            b->mint_ns = lb.e[0].ts_ns < b->mint_ns ? lb.e[0].ts_ns : b->mint_ns;
            b->maxt_ns = lb.e[lb.n - 1].ts_ns > b->maxt_ns ? lb.e[lb.n - 1].ts_ns : b->maxt_ns;
            write_raw(f, &lb, b);
            append_batch(b, &lb, ents, in, count);
        }
        logstore_tick(b->ls, (lo + step) / 1000000);
        logstore_flush(b->ls);
        loop_run_once(&b->loop, 0);
    }
    while (b->acks < b->sent)
        loop_run_once(&b->loop, 1000000);
    if (f && fclose(f))
        abort();
    ld_lbatch_deinit(&lb);
    free(ents), free(in), free(count);
}

/* One entry of another tenant far past the data: the head then spans more than 1.5 block ranges
 * and is cut until every entry of the data is in blocks. */
static void push_sentinel(struct bench *b)
{
    static const struct label l[2] = {{STR_LIT("__tenant__"), STR_LIT("sentinel")},
                                      {STR_LIT("job"), STR_LIT("sentinel")}};
    int64_t ts = b->maxt_ns + 8ll * 3600 * 1000000000;
    struct logstore_entry_in e = {ts, STR_LIT("sentinel"), NULL, 0};
    struct logstore_stream_in in = {l, 2, hash_labels(l, 2), &e, 1};
    struct logstore_append_result r;
    if (logstore_append(b->ls, &in, 1, &r, on_ack, b) || r.rejected_total)
        abort();
    b->sent++;
    logstore_flush(b->ls);
    while (b->acks < b->sent)
        loop_run_once(&b->loop, 1000000);
    settle(b, ts / 1000000);
}

/* ---- queries -------------------------------------------------------------------------------- */

struct qres {
    uint64_t entries, kept, bytes;
    struct logstore_select_stats st;
};

static size_t prefilter_fn(void *arg, const struct str *lines, size_t n, uint64_t *keep)
{
    return logql_pipeline_prefilter_block(arg, lines, n, keep);
}

static void run_query(struct bench *b, const struct logql_selector *sel, struct logql_pipeline *p,
                      const struct str *hint_s, enum logstore_order order, bool line_filter,
                      struct qres *q)
{
    struct logstore_line_hint hint = {hint_s, 1};
    struct logstore_iter *it;
    bool pre = logql_pipeline_has_prefilter(p);
    struct logstore_select_opts so = {order, pre && !line_filter ? prefilter_fn : NULL, p, 0};
    if (logstore_select_with(b->ls, sel->matchers, sel->n_matchers, b->mint_ns, b->maxt_ns + 1,
                             LOGSTORE_FORWARD, hint_s ? &hint : NULL, &so, &it))
        abort();
    memset(q, 0, sizeof *q);
    while (logstore_iter_next(it) == 1) {
        const struct logstore_entry *e = logstore_iter_at(it);
        q->entries++;
        q->bytes += e->line.len;
        if (pre && line_filter && !logql_pipeline_prefilter(p, e->line))
            continue;
        struct logql_entry le = {e->ts_ns, e->line, e->labels, e->n_labels, e->md, e->n_md};
        struct logql_result res;
        int rc = logql_pipeline_process(p, &le, pre ? LOGQL_PROC_PREFILTERED : 0, &res);
        if (rc < 0)
            abort();
        q->kept += (uint64_t)rc;
    }
    if (logstore_iter_err(it))
        abort();
    logstore_iter_stats(it, &q->st);
    logstore_iter_close(it);
    q->entries += q->st.filtered;
}

static int cmp_dbl(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void print_json_str(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            putchar('\\');
        putchar(*s);
    }
    putchar('"');
}

static void bench_query(struct bench *b, const struct opts *o, const char *name, const char *text,
                        const char *hint, enum logstore_order order)
{
    if (o->only && strcmp(o->only, name))
        return;
    struct logql_query *q;
    struct logql_pipeline *p;
    char err[256];
    /* a metric query (stream order here) compiles as the evaluator does for one without grouping */
    struct logql_pipeline_opts mo = {.metric = true, .no_labels = true};
    if (logql_parse(str_from_cstr(text), &q, err, sizeof err) ||
        logql_pipeline_compile_expr(q->root, order == LOGSTORE_ORDER_STREAM ? &mo : NULL, &p, err,
                                    sizeof err)) {
        fprintf(stderr, "%s: %s\n", text, err);
        abort();
    }
    struct str hs = hint ? str_from_cstr(hint) : (struct str){NULL, 0};
    double cpu[32], wall[32];
    struct qres r;
    int runs = o->runs < 32 ? o->runs : 32;
    for (int i = 0; i < runs; i++) {
        double c0 = cpu_now_s();
        int64_t w0 = clock_mono_ns();
        run_query(b, &q->root->sel, p, hint ? &hs : NULL, order, o->line_filter, &r);
        cpu[i] = cpu_now_s() - c0;
        wall[i] = (double)(clock_mono_ns() - w0) * 1e-9;
    }
    qsort(cpu, (size_t)runs, sizeof *cpu, cmp_dbl);
    qsort(wall, (size_t)runs, sizeof *wall, cmp_dbl);
    double c = cpu[runs / 2], w = wall[runs / 2];
    printf("{\"bench\":\"logscan_query\",\"engine\":\"strata\",\"query\":\"%s\",\"logql\":", name);
    print_json_str(text);
    printf(",\"order\":\"%s\",\"filter\":\"%s\",\"entries_filtered\":%llu",
           order == LOGSTORE_ORDER_STREAM ? "stream" : "time", o->line_filter ? "line" : "block",
           (unsigned long long)r.st.filtered);
    printf(",\"hint\":%s%s%s,\"raw_bytes\":%llu,\"gb_per_cpu_s\":%.3f,\"gb_per_s\":%.3f,"
           "\"cpu_ms\":%.1f,\"wall_ms\":%.1f,\"entries_scanned\":%llu,\"line_bytes_scanned\":%llu,"
           "\"matched\":%llu,\"chunks\":%llu,\"chunks_opened\":%llu,\"chunks_skipped_hint\":%llu,"
           "\"head_entries\":%llu,\"runs\":%d}\n",
           hint ? "\"" : "", hint ? hint : "null", hint ? "\"" : "",
           (unsigned long long)b->line_bytes, (double)b->line_bytes / c * 1e-9,
           (double)b->line_bytes / w * 1e-9, c * 1e3, w * 1e3, (unsigned long long)r.entries,
           (unsigned long long)r.bytes, (unsigned long long)r.kept, (unsigned long long)r.st.chunks,
           (unsigned long long)r.st.chunks_opened, (unsigned long long)r.st.chunks_skipped_hint,
           (unsigned long long)r.st.head_entries, runs);
    fflush(stdout);
    logql_pipeline_destroy(p);
    logql_query_destroy(q);
}

/* ---- main ----------------------------------------------------------------------------------- */

static void parse_opts(int argc, char **argv, struct opts *o)
{
    const char *env = getenv("TMPDIR");
    *o = (struct opts){1024, env && *env ? env : "/tmp", NULL, "mixed", 3, 5, 0, true, false, NULL};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--no-query")) {
            o->query = false;
            continue;
        }
        if (!strcmp(a, "--line-filter")) {
            o->line_filter = true;
            continue;
        }
        if (!v) {
            fprintf(stderr, "bench_logscan: %s needs a value\n", a);
            exit(2);
        }
        i++;
        if (!strcmp(a, "--size"))
            o->mb = strtoul(v, NULL, 10);
        else if (!strcmp(a, "--dir"))
            o->dir = v;
        else if (!strcmp(a, "--raw"))
            o->raw = v;
        else if (!strcmp(a, "--format"))
            o->format = v;
        else if (!strcmp(a, "--level"))
            o->level = atoi(v);
        else if (!strcmp(a, "--chunk-bytes"))
            o->chunk_bytes = (uint32_t)strtoul(v, NULL, 10);
        else if (!strcmp(a, "--only"))
            o->only = v;
        else if (!strcmp(a, "--runs"))
            o->runs = atoi(v) > 0 ? atoi(v) : 1;
        else {
            fprintf(stderr, "bench_logscan: unknown option %s\n", a);
            exit(2);
        }
    }
}

static void print_data(struct bench *b, const struct opts *o, double ingest_cpu_s)
{
    struct logstore_stats st;
    logstore_stats_get(b->ls, &st);
    printf("{\"bench\":\"logscan_data\",\"format\":\"%s\",\"lines\":%llu,\"raw_bytes\":%llu,"
           "\"avg_line_bytes\":%.1f,\"streams\":%u,\"needle\":\"%s\",\"raw_file\":\"%s\","
           "\"generate_ingest_cut_mb_per_cpu_s\":%.1f}\n",
           o->format, (unsigned long long)b->lines, (unsigned long long)b->line_bytes,
           (double)b->line_bytes / (double)b->lines, b->wl.n_streams, b->planted ? NEEDLE : "",
           o->raw ? o->raw : "", (double)b->line_bytes / ingest_cpu_s * 1e-6);
    printf("{\"bench\":\"logscan_compression\",\"format\":\"%s\",\"zstd_level\":%d,"
           "\"chunk_bytes\":%u,\"raw_to_block_disk\":%.2f,\"raw_to_block_chunks\":%.2f,"
           "\"block_raw_bytes\":%llu,\"block_chunk_bytes\":%llu,\"block_disk_bytes\":%llu,"
           "\"blocks\":%llu}\n",
           o->format, o->level, o->chunk_bytes,
           (double)st.block_raw_bytes_written_total / (double)st.blocks_bytes,
           (double)st.block_raw_bytes_written_total / (double)st.block_chunk_bytes_written_total,
           (unsigned long long)st.block_raw_bytes_written_total,
           (unsigned long long)st.block_chunk_bytes_written_total,
           (unsigned long long)st.blocks_bytes, (unsigned long long)st.blocks);
    fflush(stdout);
}

int main(int argc, char **argv)
{
    struct opts o;
    parse_opts(argc, argv, &o);
    log_level_set(LOG_WARN);
    static struct bench b;
    setup_workload(&b, &o);
    open_store(&b, &o);
    double c0 = cpu_now_s();
    ingest(&b, &o);
    double ingest_cpu = cpu_now_s() - c0;
    push_sentinel(&b);
    print_data(&b, &o, ingest_cpu);
    if (o.query) {
        const enum logstore_order t = LOGSTORE_ORDER_TIME, s = LOGSTORE_ORDER_STREAM;
        bench_query(&b, &o, "literal", "{namespace=~\"prod|staging\"} |= \"api/v1/orders\"",
                    "api/v1/orders", t);
        bench_query(&b, &o, "regex", "{namespace=~\"prod|staging\"} |~ \"status.{1,3}50[0-9]\"",
                    NULL, t);
        bench_query(&b, &o, "json_level_error",
                    "{namespace=~\"prod|staging\"} | json | level=\"error\"", NULL, t);
        bench_query(&b, &o, "needle", "{namespace=~\"prod|staging\"} |= \"" NEEDLE "\"", NEEDLE, t);
        bench_query(&b, &o, "needle_no_hint", "{namespace=~\"prod|staging\"} |= \"" NEEDLE "\"",
                    NULL, t);
        bench_query(&b, &o, "count_literal",
                    "count_over_time({namespace=~\"prod|staging\"} |= \"api/v1/orders\" [1m])",
                    "api/v1/orders", s);
        bench_query(&b, &o, "count_json_level_error",
                    "count_over_time({namespace=~\"prod|staging\"} | json | level=\"error\" [1m])",
                    NULL, s);
    }
    close_store(&b);
    free(b.labels);
    ld_logs_deinit(&b.wl);
    return 0;
}
