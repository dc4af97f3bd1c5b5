/* Micro benchmark for formats/jsonr over realistic JSON application log lines (14 top-level
 * fields, ~30 leaves, objects nested 3 deep, a few arrays, escapes and non-ASCII): (a) full
 * tokenization, (a') validation by jsonr_skip, (b) extracting every leaf as a flattened label the
 * way LogQL `| json` does, (c) extracting one field by path (`| json x="http.status"`); and the
 * same work done by jansson and json-c through a DOM (parse, then walk or look up, then free),
 * when their shared libraries are installed (libjansson4, libjson-c5; loaded with dlopen so the
 * benchmark builds and runs without them; jansson's types come from jansson.h (libjansson-dev)
 * when present; json-c's few entry points are declared here, as its header clashes with
 * jansson's).
 * One JSON object per line; each figure is the median of RUNS runs; peers report the ratio
 * (jsonr speed / peer speed). */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/buf.h"
#include "formats/jsonr.h"
#include "formats/jsonw.h"

#if __has_include(<jansson.h>)
#include <jansson.h>
#define HAVE_JANSSON 1
#endif

#define RUNS  7
#define LINES 20000

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts); /* CPU time: the machine is shared */
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static const char *pick(const char *const *v, size_t n)
{
    return v[next_rand() % n];
}
#define PICK(v) pick(v, sizeof v / sizeof *v)

/* ---- the corpus ---- */

struct corpus {
    struct buf text;
    size_t off[LINES + 1];
};

static void hex_str(struct jsonw *w, size_t n)
{
    char s[64];
    for (size_t i = 0; i < n; i++)
        s[i] = "0123456789abcdef"[next_rand() % 16];
    jsonw_str(w, s, n);
}

static void gen_http(struct jsonw *w)
{
    static const char *const methods[] = {"GET", "GET", "GET", "POST", "PUT", "DELETE"};
    static const char *const paths[] = {"/api/v1/users/42", "/api/v1/orders?page=3&sort=desc",
                                        "/healthz", "/static/app.3f9a1c.js",
                                        "/api/v2/search?q=caf%C3%A9"};
    static const char *const agents[] = {
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0",
        "Go-http-client/1.1", "curl/8.5.0", "Grafana/11.0.0"};
    jsonw_key_cstr(w, "http");
    jsonw_obj_begin(w);
    jsonw_key_cstr(w, "method");
    jsonw_cstr(w, PICK(methods));
    jsonw_key_cstr(w, "path");
    jsonw_cstr(w, PICK(paths));
    jsonw_key_cstr(w, "status");
    jsonw_int(w, (int64_t)(next_rand() % 8 ? 200 : 500 + next_rand() % 4));
    jsonw_key_cstr(w, "duration_ms");
    jsonw_float(w, (double)(next_rand() % 100000) / 1000.0);
    jsonw_key_cstr(w, "bytes");
    jsonw_int(w, (int64_t)(next_rand() % 200000));
    jsonw_key_cstr(w, "user_agent");
    jsonw_cstr(w, PICK(agents));
    jsonw_obj_end(w);
}

static void gen_k8s(struct jsonw *w)
{
    static const char *const ns[] = {"prod", "staging", "monitoring"};
    static const char *const zones[] = {"eu-west-1a", "eu-west-1b", "us-east-1c"};
    char pod[48];
    int n = snprintf(pod, sizeof pod, "api-%05u-%04x", (unsigned)(next_rand() % 100000),
                     (unsigned)(next_rand() % 65536));
    jsonw_key_cstr(w, "k8s");
    jsonw_obj_begin(w);
    jsonw_key_cstr(w, "namespace");
    jsonw_cstr(w, PICK(ns));
    jsonw_key_cstr(w, "pod");
    jsonw_str(w, pod, (size_t)n);
    jsonw_key_cstr(w, "container");
    jsonw_cstr(w, "api");
    jsonw_key_cstr(w, "node");
    jsonw_obj_begin(w);
    jsonw_key_cstr(w, "name");
    jsonw_cstr(w, "ip-10-0-12-34.eu-west-1.compute.internal");
    jsonw_key_cstr(w, "zone");
    jsonw_cstr(w, PICK(zones));
    jsonw_obj_end(w);
    jsonw_obj_end(w);
}

static void gen_line(struct jsonw *w, int i)
{
    static const char *const levels[] = {"info", "info", "info", "debug", "warn", "error"};
    static const char *const msgs[] = {"request completed",
                                       "cache miss for key \"user:42\"",
                                       "retrying upstream call\nattempt 2 of 3",
                                       "user caf\xc3\xa9 logged in",
                                       "slow query: SELECT * FROM orders WHERE id = $1",
                                       "connection reset by peer"};
    static const char *const roles[] = {"admin", "dev", "viewer"};
    char ts[40];
    int n = snprintf(ts, sizeof ts, "2024-05-01T12:%02d:%02d.%06dZ", i / 3600 % 60, i / 60 % 60,
                     (int)(next_rand() % 1000000));
    jsonw_obj_begin(w);
    jsonw_key_cstr(w, "ts");
    jsonw_str(w, ts, (size_t)n);
    jsonw_key_cstr(w, "level");
    jsonw_cstr(w, PICK(levels));
    jsonw_key_cstr(w, "logger");
    jsonw_cstr(w, "app.http.server");
    jsonw_key_cstr(w, "msg");
    jsonw_cstr(w, PICK(msgs));
    jsonw_key_cstr(w, "caller");
    jsonw_cstr(w, "server/handler.go:218");
    jsonw_key_cstr(w, "trace_id");
    hex_str(w, 32);
    jsonw_key_cstr(w, "span_id");
    hex_str(w, 16);
    gen_http(w);
    jsonw_key_cstr(w, "user");
    jsonw_obj_begin(w);
    jsonw_key_cstr(w, "id");
    jsonw_int(w, (int64_t)(next_rand() % 100000));
    jsonw_key_cstr(w, "name");
    jsonw_cstr(w, next_rand() % 4 ? "ann" : "j\xc3\xb6rg");
    jsonw_key_cstr(w, "roles");
    jsonw_arr_begin(w);
    for (uint64_t k = next_rand() % 3; k-- > 0;)
        jsonw_cstr(w, PICK(roles));
    jsonw_arr_end(w);
    jsonw_obj_end(w);
    gen_k8s(w);
    jsonw_key_cstr(w, "retry");
    jsonw_bool(w, next_rand() % 10 == 0);
    jsonw_key_cstr(w, "error");
    if (next_rand() % 5)
        jsonw_null(w);
    else
        jsonw_cstr(w, "context deadline exceeded (Client.Timeout exceeded while awaiting headers)");
    jsonw_key_cstr(w, "region");
    jsonw_cstr(w, "eu-west-1");
    jsonw_key_cstr(w, "version");
    jsonw_cstr(w, "v2.14.3");
    jsonw_obj_end(w);
}

static void build_corpus(struct corpus *c)
{
    buf_init(&c->text);
    for (int i = 0; i < LINES; i++) {
        c->off[i] = c->text.len;
        struct jsonw w;
        jsonw_init(&w, &c->text);
        gen_line(&w, i);
        if (jsonw_finish(&w)) {
            fprintf(stderr, "out of memory\n");
            exit(1);
        }
    }
    c->off[LINES] = c->text.len;
}

static inline const char *line_at(const struct corpus *c, int i, size_t *n)
{
    *n = c->off[i + 1] - c->off[i];
    return (const char *)c->text.data + c->off[i];
}

/* ---- cases ---- */

typedef uint64_t (*case_fn)(const struct corpus *c, void *ctx);

static volatile uint64_t sink;

static uint64_t jsonr_tokenize(const struct corpus *c, void *ctx)
{
    (void)ctx;
    uint64_t toks = 0;
    for (int i = 0; i < LINES; i++) {
        size_t n;
        const char *s = line_at(c, i, &n);
        struct jsonr r;
        jsonr_init(&r, s, n, 0);
        int t;
        while ((t = jsonr_next(&r)) > 0)
            toks += jsonr_text(&r).len;
        if (t < 0)
            abort();
    }
    return toks;
}

static uint64_t jsonr_validate(const struct corpus *c, void *ctx)
{
    (void)ctx;
    uint64_t total = 0;
    for (int i = 0; i < LINES; i++) {
        size_t n;
        const char *s = line_at(c, i, &n);
        struct jsonr r;
        struct str raw;
        jsonr_init(&r, s, n, 0);
        if (jsonr_skip(&r, &raw))
            abort();
        total += raw.len;
    }
    return total;
}

struct flat_ctx {
    struct buf name, value;
};

static uint64_t jsonr_flatten(const struct corpus *c, void *ctx)
{
    struct flat_ctx *fc = ctx;
    uint64_t total = 0;
    for (int i = 0; i < LINES; i++) {
        size_t n;
        const char *s = line_at(c, i, &n);
        struct jsonr_flat f;
        jsonr_flat_init(&f, s, n, 0, &fc->name, &fc->value);
        struct str k, v;
        int t;
        while ((t = jsonr_flat_next(&f, &k, &v)) > 0)
            total += k.len + v.len;
        if (t < 0)
            abort();
    }
    return total;
}

static uint64_t jsonr_path(const struct corpus *c, void *ctx)
{
    (void)ctx;
    static const struct jsonr_path_seg path[] = {{false, 0, STR_LIT("http")},
                                                 {false, 0, STR_LIT("status")}};
    uint64_t total = 0;
    for (int i = 0; i < LINES; i++) {
        size_t n;
        const char *s = line_at(c, i, &n);
        struct jsonr r;
        jsonr_init(&r, s, n, 0);
        if (jsonr_find_path(&r, path, 2) != JSONR_NUMBER)
            abort();
        total += (uint64_t)jsonr_text(&r).ptr[0];
    }
    return total;
}

/* Runs fn RUNS times; returns the median seconds per pass. */
static double time_case(case_fn fn, const struct corpus *c, void *ctx)
{
    double t[RUNS];
    sink += fn(c, ctx); /* warm-up */
    for (int r = 0; r < RUNS; r++) {
        double t0 = now_ns();
        sink += fn(c, ctx);
        t[r] = (now_ns() - t0) / 1e9;
    }
    qsort(t, RUNS, sizeof *t, cmp_double);
    return t[RUNS / 2];
}

static void report(const char *impl, const char *what, const struct corpus *c, double sec,
                   double ours_sec)
{
    double bytes = (double)c->text.len;
    printf("{\"bench\":\"jsonr\",\"impl\":\"%s\",\"case\":\"%s\",\"lines\":%d,\"bytes\":%.0f,"
           "\"gb_per_s\":%.3f,\"ns_per_line\":%.1f",
           impl, what, LINES, bytes, bytes / sec / 1e9, sec * 1e9 / LINES);
    if (ours_sec > 0)
        printf(",\"jsonr_speedup\":%.2f", sec / ours_sec);
    printf(",\"runs\":%d}\n", RUNS);
    fflush(stdout);
}

/* ---- peers, loaded at run time ---- */

#ifdef HAVE_JANSSON
static struct {
    typeof(json_loadb) *loadb;
    typeof(json_delete) *del;
    typeof(json_object_iter) *iter;
    typeof(json_object_iter_next) *iter_next;
    typeof(json_object_iter_key) *iter_key;
    typeof(json_object_iter_value) *iter_value;
    typeof(json_object_get) *get;
    typeof(json_string_length) *string_length;
} jns;

static json_t *jn_parse(const char *s, size_t n)
{
    json_error_t err;
    json_t *j = jns.loadb(s, n, 0, &err);
    if (!j)
        abort();
    return j;
}

static uint64_t jansson_parse(const struct corpus *c, void *ctx)
{
    (void)ctx;
    uint64_t total = 0;
    for (int i = 0; i < LINES; i++) {
        size_t n;
        const char *s = line_at(c, i, &n);
        json_t *j = jn_parse(s, n);
        total += json_typeof(j);
        jns.del(j);
    }
    return total;
}

/* `| json` over a DOM: walk objects, build a_b_c names, take leaf values. */
static uint64_t jn_walk(json_t *o, char *name, size_t len)
{
    uint64_t total = 0;
    for (void *it = jns.iter(o); it; it = jns.iter_next(o, it)) {
        const char *k = jns.iter_key(it);
        json_t *v = jns.iter_value(it);
        size_t kl = strlen(k), nl = len;
        if (nl + kl + 2 > 256)
            continue;
        if (nl)
            name[nl++] = '_';
        for (size_t i = 0; i < kl; i++) {
            char ch = k[i];
            bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                      (ch >= '0' && ch <= '9') || ch == '_';
            name[nl++] = ok ? ch : '_';
        }
        switch (json_typeof(v)) {
        case JSON_OBJECT: total += jn_walk(v, name, nl); break;
        case JSON_STRING: total += nl + jns.string_length(v); break;
        case JSON_INTEGER:
        case JSON_REAL:
        case JSON_TRUE:
        case JSON_FALSE: total += nl + 1; break;
        default: break;
        }
    }
    return total;
}

static uint64_t jansson_flatten(const struct corpus *c, void *ctx)
{
    (void)ctx;
    uint64_t total = 0;
    char name[256];
    for (int i = 0; i < LINES; i++) {
        size_t n;
        const char *s = line_at(c, i, &n);
        json_t *j = jn_parse(s, n);
        total += jn_walk(j, name, 0);
        jns.del(j);
    }
    return total;
}

static uint64_t jansson_path(const struct corpus *c, void *ctx)
{
    (void)ctx;
    uint64_t total = 0;
    for (int i = 0; i < LINES; i++) {
        size_t n;
        const char *s = line_at(c, i, &n);
        json_t *j = jn_parse(s, n);
        json_t *v = jns.get(jns.get(j, "http"), "status");
        if (!v)
            abort();
        total += json_typeof(v);
        jns.del(j);
    }
    return total;
}

static bool jansson_load(void)
{
    void *h = dlopen("libjansson.so.4", RTLD_NOW | RTLD_LOCAL);
    if (!h)
        return false;
    *(void **)&jns.loadb = dlsym(h, "json_loadb");
    *(void **)&jns.del = dlsym(h, "json_delete");
    *(void **)&jns.iter = dlsym(h, "json_object_iter");
    *(void **)&jns.iter_next = dlsym(h, "json_object_iter_next");
    *(void **)&jns.iter_key = dlsym(h, "json_object_iter_key");
    *(void **)&jns.iter_value = dlsym(h, "json_object_iter_value");
    *(void **)&jns.get = dlsym(h, "json_object_get");
    *(void **)&jns.string_length = dlsym(h, "json_string_length");
    return jns.loadb && jns.del && jns.iter && jns.iter_next && jns.iter_key && jns.iter_value &&
           jns.get && jns.string_length;
}
#endif

/* json-c 0.16's entry points (json_tokener.h, json_object.h) with opaque pointer types. */
static struct {
    void *(*tok_new)(void);
    void (*tok_free)(void *tok);
    void *(*parse_ex)(void *tok, const char *str, int len);
    void (*reset)(void *tok);
    int (*put)(void *obj);
    int (*get_ex)(void *obj, const char *key, void **value);
    int (*type)(void *obj);
} jc;

static uint64_t jsonc_run(const struct corpus *c, void *tok, bool lookup)
{
    uint64_t total = 0;
    for (int i = 0; i < LINES; i++) {
        size_t n;
        const char *s = line_at(c, i, &n);
        jc.reset(tok);
        void *o = jc.parse_ex(tok, s, (int)n);
        if (!o)
            abort();
        if (lookup) {
            void *http, *status;
            if (!jc.get_ex(o, "http", &http) || !jc.get_ex(http, "status", &status))
                abort();
            total += (uint64_t)jc.type(status);
        }
        total += (uint64_t)jc.type(o);
        jc.put(o);
    }
    return total;
}

static uint64_t jsonc_parse(const struct corpus *c, void *ctx)
{
    return jsonc_run(c, ctx, false);
}

static uint64_t jsonc_path(const struct corpus *c, void *ctx)
{
    return jsonc_run(c, ctx, true);
}

static bool jsonc_load(void)
{
    void *h = dlopen("libjson-c.so.5", RTLD_NOW | RTLD_LOCAL);
    if (!h)
        return false;
    *(void **)&jc.tok_new = dlsym(h, "json_tokener_new");
    *(void **)&jc.tok_free = dlsym(h, "json_tokener_free");
    *(void **)&jc.parse_ex = dlsym(h, "json_tokener_parse_ex");
    *(void **)&jc.reset = dlsym(h, "json_tokener_reset");
    *(void **)&jc.put = dlsym(h, "json_object_put");
    *(void **)&jc.get_ex = dlsym(h, "json_object_object_get_ex");
    *(void **)&jc.type = dlsym(h, "json_object_get_type");
    return jc.tok_new && jc.tok_free && jc.parse_ex && jc.reset && jc.put && jc.get_ex && jc.type;
}

static void skipped(const char *impl, const char *why)
{
    printf("{\"bench\":\"jsonr\",\"impl\":\"%s\",\"skipped\":\"%s\"}\n", impl, why);
}

int main(void)
{
    static struct corpus c;
    build_corpus(&c);
    struct flat_ctx fc = {BUF_INIT, BUF_INIT};

    double tok = time_case(jsonr_tokenize, &c, NULL);
    double val = time_case(jsonr_validate, &c, NULL);
    double flat = time_case(jsonr_flatten, &c, &fc);
    double path = time_case(jsonr_path, &c, NULL);
    report("jsonr", "tokenize", &c, tok, 0);
    report("jsonr", "validate_skip", &c, val, 0);
    report("jsonr", "flatten_all_fields", &c, flat, 0);
    report("jsonr", "extract_one_path", &c, path, 0);

#ifdef HAVE_JANSSON
    if (jansson_load()) {
        report("jansson", "dom_parse_free", &c, time_case(jansson_parse, &c, NULL), tok);
        report("jansson", "flatten_all_fields", &c, time_case(jansson_flatten, &c, NULL), flat);
        report("jansson", "extract_one_path", &c, time_case(jansson_path, &c, NULL), path);
    } else {
        skipped("jansson", "libjansson.so.4 not installed");
    }
#else
    skipped("jansson", "built without jansson.h (libjansson-dev)");
#endif
    if (jsonc_load()) {
        void *t = jc.tok_new();
        report("json-c", "dom_parse_free", &c, time_case(jsonc_parse, &c, t), tok);
        report("json-c", "extract_one_path", &c, time_case(jsonc_path, &c, t), path);
        jc.tok_free(t);
    } else {
        skipped("json-c", "libjson-c.so.5 not installed");
    }
    buf_deinit(&fc.name);
    buf_deinit(&fc.value);
    buf_deinit(&c.text);
    return sink == 42 ? 1 : 0;
}
