/* Micro benchmark of the LogQL pipeline executor (engine/logql/exec.h): GB/s per core of raw line
 * bytes pushed through a pipeline, on generated JSON, logfmt and nginx access logs, for
 *   |= "literal" (non-selective and selective), |~ "regex", | json | level="error",
 *   | logfmt | duration > 10ms
 * and, in the same run on the same bytes, ripgrep (`rg -c`, one process per run, the lines in a
 * temporary file in the page cache) with the same pattern for the line filters. Lines kept by the
 * pipeline and lines counted by rg are both reported (they agree for the filters).
 * Prints one JSON object per (family, query); figures are the median of RUNS runs.
 * Usage: bench_logql [mib_per_family (default 32)] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/clock.h"
#include "base/rand.h"
#include "engine/logql/exec.h"
#include "engine/logql/parse.h"

#define RUNS     7
#define RG_RUNS  5
#define START_NS 1732269600000000000ll

/* ---- deterministic line generators ---- */

static uint64_t seed = 0x10f1b3c5;

static uint32_t below(uint32_t n)
{
    return (uint32_t)(splitmix64_next(&seed) % n);
}

/* small values far more often */
static uint32_t skew(uint32_t n)
{
    double u = (double)(splitmix64_next(&seed) >> 11) * 0x1.0p-53;
    return (uint32_t)((double)n * u * u);
}

#define ONE_OF(a) (a)[below(sizeof(a) / sizeof((a)[0]))]

static const char *svc[] = {"checkout", "cart", "payments", "catalog", "auth", "search"};
static const char *msgs[] = {"request completed", "request started",   "cache miss",
                             "cache hit",         "query executed",    "token refreshed",
                             "order created",     "retrying upstream", "upstream timeout",
                             "validation failed"};
static const char *routes[] = {"/api/v1/orders", "/api/v1/users",  "/api/v1/items",
                               "/healthz",       "/api/v2/search", "/metrics"};
static const char *verbs[] = {"GET", "GET", "GET", "POST", "PUT", "DELETE"};
static const char *uas[] = {
    "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15", "curl/8.4.0",
    "kube-probe/1.28", "Go-http-client/1.1"};

static const char *lvl(void)
{
    uint32_t r = below(100);
    return r < 78 ? "info" : r < 90 ? "debug" : r < 97 ? "warn" : "error";
}

static uint32_t code(void)
{
    uint32_t r = below(1000);
    return r < 900 ? 200 : r < 950 ? 304 : r < 985 ? 404 : 503;
}

static void ts_text(struct buf *b, int64_t ns)
{
    time_t s = (time_t)(ns / 1000000000);
    struct tm tm;
    gmtime_r(&s, &tm);
    buf_printf(b, "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", tm.tm_year + 1900, tm.tm_mon + 1,
               tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ns / 1000 % 1000000));
}

static void gen_json(struct buf *b, int64_t ts)
{
    buf_append_str(b, "{\"ts\":\"");
    ts_text(b, ts);
    buf_printf(b, "\",\"level\":\"%s\",\"service\":\"%s\",\"msg\":\"%s\",\"trace_id\":\"%016llx\"",
               lvl(), ONE_OF(svc), ONE_OF(msgs), (unsigned long long)splitmix64_next(&seed));
    buf_printf(b, ",\"http\":{\"method\":\"%s\",\"path\":\"%s/%u\",\"status\":%u}", ONE_OF(verbs),
               ONE_OF(routes), skew(50000), code());
    buf_printf(b, ",\"duration_ms\":%.2f,\"user_id\":%u}", (double)skew(200000) / 100.0,
               skew(90000));
}

static void gen_logfmt(struct buf *b, int64_t ts)
{
    buf_append_str(b, "ts=");
    ts_text(b, ts);
    buf_printf(b, " level=%s caller=%s.go:%u msg=\"%s\" method=%s path=%s/%u status=%u", lvl(),
               ONE_OF(svc), 10 + skew(500), ONE_OF(msgs), ONE_OF(verbs), ONE_OF(routes),
               skew(50000), code());
    uint32_t us = skew(60000) * (1 + below(40));
    if (us >= 1000)
        buf_printf(b, " duration=%u.%03ums", us / 1000, us % 1000);
    else
        buf_printf(b, " duration=%uus", us);
    buf_printf(b, " bytes=%u request_id=%012llx", 100 + skew(80000),
               (unsigned long long)(splitmix64_next(&seed) >> 16));
}

static void gen_nginx(struct buf *b, int64_t ts)
{
    static const char *mon[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    time_t s = (time_t)(ts / 1000000000);
    struct tm tm;
    gmtime_r(&s, &tm);
    uint32_t c = skew(60000);
    buf_printf(b, "10.%u.%u.%u - - [%02d/%s/%d:%02d:%02d:%02d +0000] \"%s %s/%u HTTP/1.1\" %u %u",
               c >> 12 & 255, c >> 4 & 255, 1 + c % 250, tm.tm_mday, mon[tm.tm_mon],
               tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec, ONE_OF(verbs), ONE_OF(routes),
               skew(100000), code(), 200 + skew(80000));
    buf_printf(b, " \"-\" \"%s\" %.3f", ONE_OF(uas), (double)skew(3000) / 1000.0);
}

struct dataset {
    const char *family;
    struct buf bytes; /* lines separated by '\n' */
    struct str *lines;
    size_t n;
};

static void dataset_make(struct dataset *d, const char *family, void (*gen)(struct buf *, int64_t),
                         size_t target)
{
    d->family = family;
    buf_init(&d->bytes);
    size_t cap = 1 << 16, n = 0;
    size_t *off = malloc(cap * sizeof *off);
    int64_t t = START_NS;
    while (d->bytes.len < target) {
        if (n + 1 >= cap)
            off = realloc(off, (cap *= 2) * sizeof *off);
        off[n++] = d->bytes.len;
        t += 1 + (int64_t)skew(4000000);
        gen(&d->bytes, t);
        buf_append_u8(&d->bytes, '\n');
    }
    d->n = n;
    d->lines = malloc(n * sizeof *d->lines);
    for (size_t i = 0; i < n; i++) {
        size_t end = (i + 1 < n ? off[i + 1] : d->bytes.len) - 1; /* without the '\n' */
        d->lines[i] = (struct str){(const char *)d->bytes.data + off[i], end - off[i]};
    }
    free(off);
}

/* ---- runs ---- */

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

/* Median ns of running the pipeline over every line; *kept: lines kept. */
static int64_t run_pipeline(const char *query, const struct dataset *d, size_t *kept)
{
    struct logql_query *q;
    struct logql_pipeline *p;
    char err[256];
    if (logql_parse(str_from_cstr(query), &q, err, sizeof err) != 0 ||
        logql_pipeline_compile_expr(q->root, NULL, &p, err, sizeof err) != 0) {
        fprintf(stderr, "%s: %s\n", query, err);
        exit(1);
    }
    static const struct label stream[] = {{{"app", 3}, {"shop", 4}}, {{"env", 3}, {"prod", 4}}};
    int64_t t[RUNS];
    for (int r = 0; r < RUNS; r++) {
        size_t k = 0;
        int64_t t0 = clock_mono_ns();
        for (size_t i = 0; i < d->n; i++) {
            struct logql_entry e = {
                .ts_ns = START_NS, .line = d->lines[i], .stream = stream, .n_stream = 2};
            struct logql_result res;
            k += logql_pipeline_process(p, &e, 0, &res) == 1;
        }
        t[r] = clock_mono_ns() - t0;
        *kept = k;
    }
    logql_pipeline_destroy(p);
    logql_query_destroy(q);
    return median(t, RUNS);
}

/* Median ns of `rg -c [-F] pattern file`; *count: rg's count; -1 when rg is not installed. */
static int64_t run_rg(const char *pattern, bool fixed, const char *file, size_t *count)
{
    int64_t t[RG_RUNS];
    for (int r = 0; r < RG_RUNS; r++) {
        int fd[2];
        if (pipe(fd) != 0)
            return -1;
        int64_t t0 = clock_mono_ns();
        pid_t pid = fork();
        if (pid == 0) {
            dup2(fd[1], 1);
            close(fd[0]);
            execlp("rg", "rg", "-c", "--no-mmap", fixed ? "-F" : "-e", pattern, file, (char *)NULL);
            _exit(127);
        }
        close(fd[1]);
        char out[64] = "";
        ssize_t n = read(fd[0], out, sizeof out - 1);
        close(fd[0]);
        int st;
        waitpid(pid, &st, 0);
        t[r] = clock_mono_ns() - t0;
        if (!WIFEXITED(st) || WEXITSTATUS(st) > 1)
            return -1;
        *count = n > 0 ? strtoull(out, NULL, 10) : 0;
    }
    return median(t, RG_RUNS);
}

struct bq {
    const char *name;
    const char *family; /* NULL: every family */
    const char *pipeline;
    const char *rg; /* NULL: no ripgrep comparison */
    bool rg_fixed;
};

static const struct bq queries[] = {
    {"literal_nonselective", NULL, "|= \"GET\"", "GET", true},
    {"literal_selective", NULL, "|= \"upstream timeout\"", "upstream timeout", true},
    {"regex", NULL, "|~ \"status.?.?[=:]503|HTTP/1.1\\\" 503\"", "status.?.?[=:]503|HTTP/1.1\" 503",
     false},
    {"json_level", "json", "| json | level=\"error\"", NULL, false},
    {"logfmt_duration", "logfmt", "| logfmt | duration > 10ms", NULL, false},
};

static void bench_one(const struct bq *bq, const struct dataset *d, const char *file)
{
    char query[256];
    snprintf(query, sizeof query, "{app=\"shop\"} %s", bq->pipeline);
    size_t kept = 0, rg_count = 0;
    int64_t ns = run_pipeline(query, d, &kept);
    double gbps = (double)d->bytes.len / (double)ns;
    printf("{\"bench\":\"logql_pipeline\",\"family\":\"%s\",\"query\":\"%s\",\"lines\":%zu,"
           "\"bytes\":%zu,\"kept\":%zu,\"gb_per_s\":%.3f,\"ns_per_line\":%.1f",
           d->family, bq->name, d->n, d->bytes.len, kept, gbps, (double)ns / (double)d->n);
    if (bq->rg) {
        int64_t rg_ns = run_rg(bq->rg, bq->rg_fixed, file, &rg_count);
        if (rg_ns > 0)
            printf(",\"rg_gb_per_s\":%.3f,\"rg_count\":%zu,\"speedup_vs_rg\":%.2f",
                   (double)d->bytes.len / (double)rg_ns, rg_count, (double)rg_ns / (double)ns);
    }
    printf("}\n");
    fflush(stdout);
}

int main(int argc, char **argv)
{
    size_t mib = argc > 1 ? strtoull(argv[1], NULL, 10) : 32;
    struct {
        const char *name;
        void (*gen)(struct buf *, int64_t);
    } fams[] = {{"json", gen_json}, {"logfmt", gen_logfmt}, {"nginx", gen_nginx}};
    for (size_t f = 0; f < 3; f++) {
        struct dataset d;
        dataset_make(&d, fams[f].name, fams[f].gen, mib << 20);
        char file[] = "/tmp/bench_logql_XXXXXX";
        int fd = mkstemp(file);
        if (fd < 0 || write(fd, d.bytes.data, d.bytes.len) != (ssize_t)d.bytes.len) {
            perror("temp file");
            return 1;
        }
        close(fd);
        for (size_t q = 0; q < sizeof queries / sizeof queries[0]; q++)
            if (!queries[q].family || strcmp(queries[q].family, d.family) == 0)
                bench_one(&queries[q], &d, file);
        unlink(file);
        buf_deinit(&d.bytes);
        free(d.lines);
    }
    return 0;
}
