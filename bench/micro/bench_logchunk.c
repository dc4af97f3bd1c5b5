/* Micro benchmark of the log chunk codec (formats/logchunk.h): encode and decode throughput (MB/s
 * of raw line bytes) and compression ratio (raw line bytes : chunk bytes) on generated logs of
 * three families: JSON application logs, logfmt lines and nginx access logs. The generator is
 * deterministic (fixed seed); chunks are cut at ~1.5 MiB encoded, like Loki's chunk target.
 * Prints one JSON object per (family, op); each figure is the median of RUNS runs.
 * Usage: bench_logchunk [mib_per_family (default 32)] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/rand.h"
#include "base/buf.h"
#include "base/clock.h"
#include "base/error.h"
#include "formats/logchunk.h"

#define RUNS         7
#define CHUNK_TARGET (1536u * 1024)
#define NS_PER_MS    1000000ll
#define START_NS     1732269600000000000ll /* 2024-11-22T10:00:00Z */

/* ---- deterministic generator ---------------------------------------------------------------- */

static uint64_t rng_state = 0x5eed1091;

static uint64_t rnd(void)
{
    return splitmix64_next(&rng_state);
}

static uint32_t below(uint32_t n)
{
    return (uint32_t)(rnd() % n);
}

/* Skewed pick in [0, n): small indexes far more often (a cheap Zipf-like shape). */
static uint32_t skewed(uint32_t n)
{
    double u = (double)(rnd() >> 11) * 0x1.0p-53;
    return (uint32_t)((double)n * u * u * u);
}

#define PICK(arr)        (arr)[below(sizeof(arr) / sizeof((arr)[0]))]
#define PICK_SKEWED(arr) (arr)[skewed(sizeof(arr) / sizeof((arr)[0]))]

static void hex(struct buf *b, int n)
{
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < n; i++)
        buf_append_u8(b, (uint8_t)digits[below(16)]);
}

/* Requests in flight: each logs a few lines that share its ids, interleaved with the others'. */
struct request {
    char trace[33], span[17];
    uint32_t user, path, lines_left;
};
static struct request inflight[16];

static struct request *request_pick(void)
{
    struct request *q = &inflight[below(16)];
    if (q->lines_left == 0) {
        struct buf h = BUF_INIT;
        hex(&h, 48);
        memcpy(q->trace, h.data, 32);
        memcpy(q->span, h.data + 32, 16);
        q->trace[32] = q->span[16] = 0;
        buf_deinit(&h);
        q->user = 1000 + skewed(90000);
        q->path = skewed(100000);
        q->lines_left = 1 + below(6);
    }
    q->lines_left--;
    return q;
}

static const char *services[] = {"checkout", "cart",   "payments", "catalog",
                                 "auth",     "search", "shipping", "recommendation"};
static const char *json_msgs[] = {
    "request completed",   "request started",        "cache miss",
    "cache hit",           "db query executed",      "user authenticated",
    "token refreshed",     "order created",          "payment authorized",
    "inventory reserved",  "retrying upstream call", "rate limit applied",
    "slow query detected", "upstream timeout",       "feature flag evaluated",
    "message published",   "message consumed",       "session expired",
    "validation failed",   "health check ok"};
static const char *paths[] = {
    "/api/v1/orders", "/api/v1/users", "/api/v1/products", "/api/v1/cart",      "/api/v2/search",
    "/healthz",       "/metrics",      "/api/v1/payments", "/static/js/app.js", "/api/v1/sessions"};
static const char *methods[] = {"GET", "GET", "GET", "GET", "POST", "POST", "PUT", "DELETE"};
static const char *errors[] = {"context deadline exceeded", "connection reset by peer",
                               "no rows in result set", "invalid argument: quantity must be > 0",
                               "upstream returned 503"};

static const char *level(void)
{
    uint32_t r = below(100);
    return r < 80 ? "info" : r < 90 ? "debug" : r < 97 ? "warn" : "error";
}

static uint32_t status(void)
{
    uint32_t r = below(1000);
    return r < 900 ? 200 : r < 930 ? 201 : r < 950 ? 304 : r < 980 ? 404 : r < 992 ? 400 : 500;
}

static void rfc3339(struct buf *b, int64_t ns, int digits)
{
    char s[40];
    clock_fmt_rfc3339_ms(ns, s, sizeof s); /* "...T10:00:00.123Z" */
    size_t n = strlen(s);
    buf_append(b, s, n - 1);
    if (digits > 3)
        buf_printf(b, "%03d", (int)(ns / 1000 % 1000));
    buf_append_u8(b, 'Z');
}

static void gen_json(struct buf *b, int64_t ts)
{
    const char *lvl = level();
    buf_append_str(b, "{\"ts\":\"");
    rfc3339(b, ts, 3);
    struct request *q = request_pick();
    buf_printf(b, "\",\"level\":\"%s\",\"service\":\"%s\",\"msg\":\"%s\"", lvl,
               PICK_SKEWED(services), PICK_SKEWED(json_msgs));
    buf_printf(b, ",\"trace_id\":\"%s\",\"span_id\":\"%s\",\"user_id\":%u", q->trace, q->span,
               q->user);
    buf_printf(b, ",\"method\":\"%s\",\"path\":\"%s/%u\",\"status\":%u", PICK(methods),
               PICK_SKEWED(paths), q->path, status());
    buf_printf(b, ",\"duration_ms\":%.1f", (double)(1 + skewed(3000)) * (1 + below(100)) / 97.0);
    if (below(4) == 0)
        buf_printf(b, ",\"cart_items\":%u,\"region\":\"eu-west-%u\"", below(12), 1 + below(3));
    if (lvl[0] == 'e' || lvl[0] == 'w') {
        buf_printf(b, ",\"error\":\"%s\"", PICK(errors));
        if (below(5) == 0) { /* a stack trace now and then: long lines */
            buf_append_str(b, ",\"stacktrace\":\"");
            for (uint32_t f = 0, n = 8 + below(30); f < n; f++)
                buf_printf(b, "\\n\\tat com.example.%s.Handler.process%u(Handler.java:%u)",
                           PICK(services), below(20), 20 + below(400));
            buf_append_u8(b, '"');
        }
    }
    buf_append_u8(b, '}');
}

static void gen_logfmt(struct buf *b, int64_t ts)
{
    buf_append_str(b, "ts=");
    rfc3339(b, ts, 6);
    buf_printf(b, " level=%s caller=%s.go:%u msg=\"%s\"", level(), PICK_SKEWED(services),
               20 + skewed(600), PICK_SKEWED(json_msgs));
    struct request *q = request_pick();
    buf_printf(b, " method=%s path=%s/%u status=%u duration=%.2fms bytes=%u", PICK(methods),
               PICK_SKEWED(paths), q->path, status(),
               (double)(1 + skewed(5000)) * (1 + below(100)) / 100.0, 100 + skewed(60000));
    buf_printf(b, " request_id=%s", q->span);
    if (below(3) == 0)
        buf_printf(b, " user=u%u tenant=t%u", skewed(50000), skewed(40));
}

static const char *agents[] = {
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.1 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
    "curl/8.4.0",
    "Prometheus/2.48.0",
    "kube-probe/1.28",
    "Go-http-client/1.1",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"};
static const char *referers[] = {"-",
                                 "-",
                                 "https://shop.example.com/",
                                 "https://shop.example.com/cart",
                                 "https://www.google.com/",
                                 "https://shop.example.com/products"};

static void gen_nginx(struct buf *b, int64_t ts)
{
    static const char *mon[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    time_t sec = (time_t)(ts / 1000000000);
    struct tm tm;
    gmtime_r(&sec, &tm);
    uint32_t client = skewed(4000);
    buf_printf(b, "10.%u.%u.%u - - [%02d/%s/%d:%02d:%02d:%02d +0000] ", client >> 8 & 255,
               client & 255, 1 + (client * 7) % 250, tm.tm_mday, mon[tm.tm_mon], tm.tm_year + 1900,
               tm.tm_hour, tm.tm_min, tm.tm_sec);
    buf_printf(b, "\"%s %s/%u", PICK(methods), PICK_SKEWED(paths), skewed(100000));
    if (below(3) == 0)
        buf_printf(b, "?page=%u&limit=%u", 1 + skewed(20), 10 * (1 + below(5)));
    uint32_t st = status();
    buf_printf(b, " HTTP/1.1\" %u %u \"%s\" \"%s\" %.3f %.3f", st,
               st == 304 ? 0 : 200 + skewed(80000), PICK(referers), PICK_SKEWED(agents),
               (double)skewed(2000) / 1000.0, (double)skewed(1900) / 1000.0);
}

/* ---- dataset -------------------------------------------------------------------------------- */

struct dataset {
    const char *family;
    struct buf bytes;
    size_t *off; /* n + 1 offsets */
    int64_t *ts;
    size_t n;
};

static void dataset_make(struct dataset *d, const char *family, void (*gen)(struct buf *, int64_t),
                         size_t target_bytes)
{
    d->family = family;
    buf_init(&d->bytes);
    size_t cap = 1024;
    d->off = malloc(cap * sizeof *d->off);
    d->ts = malloc(cap * sizeof *d->ts);
    int64_t t = START_NS;
    d->off[0] = 0;
    for (d->n = 0; d->bytes.len < target_bytes; d->n++) {
        if (d->n + 1 >= cap) {
            cap *= 2;
            d->off = realloc(d->off, cap * sizeof *d->off);
            d->ts = realloc(d->ts, cap * sizeof *d->ts);
        }
        t += 1 + (int64_t)skewed(4 * NS_PER_MS); /* bursty arrival, ~1k lines/s */
        /* a few lines arrive slightly late (the head block reorders them) */
        d->ts[d->n] = below(50) == 0 ? t - (int64_t)below(NS_PER_MS) : t;
        gen(&d->bytes, t);
        d->off[d->n + 1] = d->bytes.len;
    }
}

static void dataset_free(struct dataset *d)
{
    buf_deinit(&d->bytes);
    free(d->off);
    free(d->ts);
}

/* ---- runs ----------------------------------------------------------------------------------- */

struct chunks {
    uint8_t **bytes;
    size_t *len;
    size_t n, total;
};

static void chunks_free(struct chunks *c)
{
    for (size_t i = 0; i < c->n; i++)
        free(c->bytes[i]);
    free(c->bytes);
    free(c->len);
    memset(c, 0, sizeof *c);
}

static void emit(struct logchunk_writer *w, struct chunks *c)
{
    c->bytes = realloc(c->bytes, (c->n + 1) * sizeof *c->bytes);
    c->len = realloc(c->len, (c->n + 1) * sizeof *c->len);
    if (logchunk_writer_finish(w, &c->bytes[c->n], &c->len[c->n]))
        abort();
    c->total += c->len[c->n++];
}

static int64_t run_encode(const struct dataset *d, struct chunks *c)
{
    struct logchunk_writer w;
    logchunk_writer_init(&w, NULL);
    int64_t t0 = clock_mono_ns();
    for (size_t i = 0; i < d->n; i++) {
        struct str line = {(const char *)d->bytes.data + d->off[i], d->off[i + 1] - d->off[i]};
        int rc = logchunk_writer_append(&w, d->ts[i], line, NULL, 0);
        if (rc == ERR_ORDER) /* late beyond a cut block: the engine would open a new chunk */
            continue;
        if (rc)
            abort();
        if ((i & 255) == 0) {
            struct logchunk_stats st;
            logchunk_writer_stats(&w, &st);
            if (st.bytes_compressed >= CHUNK_TARGET)
                emit(&w, c);
        }
    }
    emit(&w, c);
    int64_t dt = clock_mono_ns() - t0;
    logchunk_writer_deinit(&w);
    return dt;
}

static volatile uint64_t sink;

static int64_t run_decode(const struct chunks *c, enum logchunk_dir dir, uint64_t *lines,
                          uint64_t *line_bytes)
{
    struct logchunk_iter it;
    logchunk_iter_init(&it);
    uint64_t n = 0, bytes = 0, touch = 0;
    int64_t t0 = clock_mono_ns();
    for (size_t k = 0; k < c->n; k++) {
        struct logchunk_reader r;
        if (logchunk_reader_open(&r, c->bytes[k], c->len[k]))
            abort();
        logchunk_iter_open_reader(&it, &r, INT64_MIN, INT64_MAX, dir);
        while (logchunk_iter_next(&it)) {
            const struct logchunk_entry *e = logchunk_iter_at(&it);
            bytes += e->line.len;
            touch += e->line.len ? (uint8_t)e->line.ptr[e->line.len - 1] : 0;
            n++;
        }
        if (logchunk_iter_err(&it))
            abort();
    }
    int64_t dt = clock_mono_ns() - t0;
    sink = touch;
    logchunk_iter_deinit(&it);
    *lines = n;
    *line_bytes = bytes;
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

static void bench_family(const struct dataset *d)
{
    int64_t enc[RUNS], fwd[RUNS], bwd[RUNS];
    struct chunks c = {0};
    uint64_t lines = 0, bytes = 0;
    for (int r = 0; r < RUNS; r++) {
        chunks_free(&c);
        enc[r] = run_encode(d, &c);
        fwd[r] = run_decode(&c, LOGCHUNK_FORWARD, &lines, &bytes);
        bwd[r] = run_decode(&c, LOGCHUNK_BACKWARD, &lines, &bytes);
    }
    double mb = (double)bytes / 1e6;
    double ratio = (double)bytes / (double)c.total;
    int64_t e = median(enc, RUNS), f = median(fwd, RUNS), b = median(bwd, RUNS);
    printf("{\"bench\":\"logchunk\",\"family\":\"%s\",\"op\":\"encode\",\"mb_per_s\":%.1f,"
           "\"ns_per_entry\":%.1f,\"ratio\":%.2f,\"line_bytes\":%llu,\"chunk_bytes\":%zu,"
           "\"entries\":%llu,\"avg_line_bytes\":%.0f,\"chunks\":%zu,\"runs\":%d}\n",
           d->family, mb / ((double)e / 1e9), (double)e / (double)lines, ratio,
           (unsigned long long)bytes, c.total, (unsigned long long)lines,
           (double)bytes / (double)lines, c.n, RUNS);
    printf("{\"bench\":\"logchunk\",\"family\":\"%s\",\"op\":\"decode_forward\",\"mb_per_s\":%.1f,"
           "\"ns_per_entry\":%.1f,\"ratio\":%.2f,\"runs\":%d}\n",
           d->family, mb / ((double)f / 1e9), (double)f / (double)lines, ratio, RUNS);
    printf("{\"bench\":\"logchunk\",\"family\":\"%s\",\"op\":\"decode_backward\",\"mb_per_s\":%.1f,"
           "\"ns_per_entry\":%.1f,\"ratio\":%.2f,\"runs\":%d}\n",
           d->family, mb / ((double)b / 1e9), (double)b / (double)lines, ratio, RUNS);
    fflush(stdout);
    chunks_free(&c);
}

int main(int argc, char **argv)
{
    size_t mib = argc > 1 ? (size_t)strtoul(argv[1], NULL, 10) : 32;
    if (!mib)
        mib = 32;
    struct {
        const char *name;
        void (*gen)(struct buf *, int64_t);
    } families[] = {{"json", gen_json}, {"logfmt", gen_logfmt}, {"nginx", gen_nginx}};
    for (size_t i = 0; i < 3; i++) {
        struct dataset d;
        rng_state = 0x5eed1091 + i;
        memset(inflight, 0, sizeof inflight);
        dataset_make(&d, families[i].name, families[i].gen, mib << 20);
        bench_family(&d);
        dataset_free(&d);
    }
    return 0;
}
