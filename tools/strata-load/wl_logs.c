/* Application-log workload: services, pods, streams, JSON/logfmt/nginx line generators and Loki
 * push bodies (see wl_logs.h). */
#include "tools/strata-load/wl_logs.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/assert.h"
#include "base/error.h"
#include "formats/jsonw.h"
#include "tools/strata-load/rng.h"

const char *const ld_level_names[LD_LEVELS] = {"debug", "info", "warn", "error"};

static const char *const service_names[] = {
    "checkout", "cart",     "payments", "orders",        "users",     "search",
    "catalog",  "shipping", "auth",     "notifications", "inventory", "recommendations"};
#define N_SERVICE_NAMES (sizeof service_names / sizeof service_names[0])
#define POD_ALPHA       "bcdfghjklmnpqrstvwxz2456789"
#define LINE_SLACK      512 /* bytes reserved past line_max for the trace id and rounding */

/* ---- set-up ---- */

static struct str adup(struct ld_logs *l, const char *s, int *err)
{
    size_t n = strlen(s);
    char *p = arena_dup(&l->strs, s, n, 1);
    if (!p)
        *err = ERR_NOMEM;
    return p ? (struct str){p, n} : STR_LIT("");
}

static void pod_suffix(uint64_t h, int n, char *out)
{
    for (int i = 0; i < n; i++, h /= sizeof POD_ALPHA - 1)
        out[i] = POD_ALPHA[h % (sizeof POD_ALPHA - 1)];
    out[n] = 0;
}

static int setup_services(struct ld_logs *l)
{
    int err = 0;
    char name[64];
    for (uint32_t s = 0; s < l->cfg.services; s++) {
        uint32_t k = s % N_SERVICE_NAMES, round = s / N_SERVICE_NAMES;
        if (round)
            snprintf(name, sizeof name, "%s-%u", service_names[k], round);
        else
            snprintf(name, sizeof name, "%s", service_names[k]);
        l->services[s].name = adup(l, name, &err);
        l->services[s].ns = s % 4 == 3 ? STR_LIT("staging") : STR_LIT("prod");
        l->services[s].format =
            l->cfg.format == LD_LOG_MIXED ? (uint8_t)(s % 3) : (uint8_t)l->cfg.format;
    }
    for (uint32_t p = 0; p < l->n_pods; p++) {
        uint32_t s = p / l->cfg.pods_per_service;
        char rs[11], sfx[6];
        pod_suffix(ld_hash3(l->cfg.seed, s, 21), 10, rs);
        pod_suffix(ld_hash3(l->cfg.seed, p, 22), 5, sfx);
        snprintf(name, sizeof name, "%.*s-%s-%s", (int)l->services[s].name.len,
                 l->services[s].name.ptr, rs, sfx);
        l->pods[p].name = adup(l, name, &err);
        l->pods[p].service = s;
        l->pods[p].ip = 0x0a000000u | (uint32_t)(ld_hash3(l->cfg.seed, p, 23) & 0xffffff);
    }
    return err;
}

int ld_logs_init(struct ld_logs *l, const struct ld_logs_cfg *cfg)
{
    memset(l, 0, sizeof *l);
    uint64_t pods = (uint64_t)cfg->services * cfg->pods_per_service;
    if (!cfg->services || !cfg->pods_per_service || !cfg->agents || pods > (1u << 24) ||
        cfg->line_max < LD_LOG_LINE_MIN || cfg->line_max > (1u << 24) ||
        cfg->lines_per_trace > LD_LINES_PER_TRACE_MAX)
        return ERR_INVALID;
    l->cfg = *cfg;
    l->n_pods = (uint32_t)pods;
    l->n_streams = l->n_pods * LD_LEVELS;
    arena_init(&l->strs, 64 * 1024);
    l->services = calloc(cfg->services, sizeof *l->services);
    l->pods = calloc(l->n_pods, sizeof *l->pods);
    int rc = l->services && l->pods ? setup_services(l) : ERR_NOMEM;
    if (rc)
        ld_logs_deinit(l);
    return rc;
}

void ld_logs_deinit(struct ld_logs *l)
{
    free(l->services);
    free(l->pods);
    arena_deinit(&l->strs);
    memset(l, 0, sizeof *l);
}

uint32_t ld_logs_agent_pods(const struct ld_logs *l, uint32_t agent)
{
    if (agent >= l->n_pods)
        return 0;
    return (l->n_pods - agent + l->cfg.agents - 1) / l->cfg.agents;
}

void ld_logs_stream_labels(const struct ld_logs *l, uint32_t stream, struct label out[4])
{
    const struct ld_lpod *p = &l->pods[stream / LD_LEVELS];
    const struct ld_lservice *s = &l->services[p->service];
    out[0] = (struct label){STR_LIT("level"), str_from_cstr(ld_level_names[stream % LD_LEVELS])};
    out[1] = (struct label){STR_LIT("namespace"), s->ns};
    out[2] = (struct label){STR_LIT("pod"), p->name};
    out[3] = (struct label){STR_LIT("service_name"), s->name};
}

/* ---- text writer (capacity reserved by the caller) ---- */

struct w {
    char *p;
};

static void w_mem(struct w *w, const char *s, size_t n)
{
    memcpy(w->p, s, n);
    w->p += n;
}

static void w_str(struct w *w, const char *s)
{
    w_mem(w, s, strlen(s));
}

static void w_u64(struct w *w, uint64_t v)
{
    char tmp[24];
    int n = 0;
    do
        tmp[n++] = (char)('0' + v % 10);
    while ((v /= 10) != 0);
    while (n)
        *w->p++ = tmp[--n];
}

/* v with 3 decimals (v >= 0). */
static void w_dec3(struct w *w, double v)
{
    uint64_t m = (uint64_t)llround(v * 1000);
    w_u64(w, m / 1000);
    *w->p++ = '.';
    *w->p++ = (char)('0' + m / 100 % 10);
    *w->p++ = (char)('0' + m / 10 % 10);
    *w->p++ = (char)('0' + m % 10);
}

static void w_hex(struct w *w, uint64_t h, int n)
{
    for (int i = 0; i < n; i++, h >>= 4)
        *w->p++ = "0123456789abcdef"[h & 15];
}

static void w_ip(struct w *w, uint32_t ip)
{
    for (int i = 3; i >= 0; i--) {
        w_u64(w, (ip >> (i * 8)) & 255);
        if (i)
            *w->p++ = '.';
    }
}

/* ---- line content ---- */

/* A request: the lines a service writes while serving it share its trace id, method, path and
 * user (a logger carrying the request's context), and it ends with one line holding the outcome. */
struct ld_lreq {
    uint64_t trace_hi, trace_lo, root_span;
    uint32_t total, left; /* lines of the request, lines still to write */
    uint32_t id, user, status, bytes, client;
    uint32_t pod;     /* index among the agent's pods */
    uint32_t live_at; /* index in the batch's list of requests in flight */
    double dur_ms;    /* the whole request */
    uint8_t outcome;  /* enum ld_level of the last line: info, warn or error */
    uint8_t method, route;
    uint8_t fail_step; /* 1-based step of a warn/error request that logs its failure */
};

enum line_kind {
    LINE_FULL,  /* one line per request: outcome, status, duration, bytes (the whole request) */
    LINE_START, /* "request received" */
    LINE_STEP,  /* a step within the request: its own span, maybe a duration and an error */
};

/* One line's content. */
struct req {
    enum ld_level level;
    enum line_kind kind;
    const char *method, *route, *msg, *err;
    uint32_t id, user, status, bytes, caller_line, client;
    double dur_ms; /* < 0: none (steps without a timed call) */
    uint64_t trace_hi, trace_lo, span;
    uint32_t extra; /* bytes of long-tail content wanted */
};

static const char *pick(struct ld_rng *r, const char *const *v, uint32_t n)
{
    return v[ld_rng_below(r, n)];
}
#define PICK(r, arr) pick((r), (arr), sizeof(arr) / sizeof((arr)[0]))
#define COUNT(arr)   ((uint32_t)(sizeof(arr) / sizeof((arr)[0])))

static const char *const lg_routes[] = {"/api/v1/orders",   "/api/v1/users",  "/api/v1/cart",
                                        "/api/v1/products", "/api/v1/search", "/healthz"};
#define ROUTE_PLAIN 4 /* routes from here on take no resource id */
static const char *const lg_methods[] = {"GET", "POST", "PUT", "DELETE"};
static const char *const lg_m_info[] = {"request completed", "order created", "payment captured",
                                        "cache refreshed", "user signed in"};
static const char *const lg_m_debug[] = {"cache hit", "cache miss", "acquired db connection",
                                         "feature flag evaluated"};
static const char *const lg_m_warn[] = {"slow request", "rate limit exceeded",
                                        "retrying upstream call", "invalid request payload"};
static const char *const lg_m_err[] = {"upstream request failed", "database query failed",
                                       "panic recovered", "payment provider unavailable"};
static const char *const lg_errs[] = {"context deadline exceeded", "connection reset by peer",
                                      "dial tcp 10.0.4.12:5432: i/o timeout",
                                      "pq: deadlock detected", "EOF"};
static const uint32_t lg_st_info[] = {200, 200, 200, 201, 204, 304},
                      lg_st_warn[] = {400, 401, 404, 429}, lg_st_err[] = {500, 502, 503, 504};

/* A message comes from one call site: its source line is a function of the message. */
static uint32_t caller_of(const char *msg)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *msg; msg++)
        h = (h ^ (uint8_t)*msg) * 0x100000001b3ull;
    return 20 + (uint32_t)(ld_mix64(h) % 600);
}

static double lognormal(struct ld_rng *r, double median)
{
    return median * exp(0.8 * (ld_rng_unit(r) + ld_rng_unit(r) + ld_rng_unit(r) - 1.5));
}

static uint32_t long_tail(struct ld_rng *r, enum ld_level lv, uint32_t line_max)
{
    static const double p_long[LD_LEVELS] = {0.05, 0.03, 0.10, 0.40};
    if (ld_rng_unit(r) >= p_long[lv])
        return 0;
    double x = 500 * exp(0.9 * 2 * (ld_rng_unit(r) + ld_rng_unit(r) - 1));
    return x > line_max ? line_max : (uint32_t)x;
}

static enum ld_level pick_level(struct ld_rng *r)
{
    uint32_t x = ld_rng_below(r, 100);
    return x < 70 ? LD_INFO : x < 85 ? LD_DEBUG : x < 95 ? LD_WARN : LD_ERROR;
}

/* Lines of a new request: 1 when the mean is 1 (or for access logs); else the received and the
 * completed line plus a geometric number of steps, so that the mean is `mean`. */
static uint32_t draw_lines(struct ld_rng *r, uint32_t mean)
{
    if (mean <= 1)
        return 1;
    uint32_t k = 2;
    double q = (double)(mean - 2) / (double)(mean - 1); /* P(one more step) */
    while (k < LD_LINES_PER_TRACE_MAX && ld_rng_unit(r) < q)
        k++;
    return k;
}

/* Starts a request of k lines. A one-line request keeps the single-line model: its level is drawn
 * with the line weights; a longer one draws its outcome (2xx/3xx 85 %, 4xx 10 %, 5xx 5 %). */
static void lreq_start(struct ld_rng *r, struct ld_lreq *q, uint32_t pod, uint32_t k)
{
    uint32_t m = ld_rng_below(r, 100), o = ld_rng_below(r, 100);
    q->total = q->left = k;
    q->pod = pod;
    q->method = m < 70 ? 0 : m < 90 ? 1 : m < 95 ? 2 : 3;
    q->route = (uint8_t)ld_rng_below(r, COUNT(lg_routes));
    if (q->route >= ROUTE_PLAIN) /* search and health checks are reads */
        q->method = 0;
    q->id = 1000 + ld_rng_below(r, 90000);
    q->user = ld_rng_below(r, 7919);
    q->client = ld_rng_below(r, 64) * ld_rng_below(r, 64); /* a few clients send most requests */
    q->outcome = k == 1 ? (uint8_t)pick_level(r) : o < 85 ? LD_INFO : o < 95 ? LD_WARN : LD_ERROR;
    if (q->outcome == LD_DEBUG)
        q->status = 200;
    else
        q->status = q->outcome == LD_WARN    ? lg_st_warn[ld_rng_below(r, COUNT(lg_st_warn))]
                    : q->outcome == LD_ERROR ? lg_st_err[ld_rng_below(r, COUNT(lg_st_err))]
                                             : lg_st_info[ld_rng_below(r, COUNT(lg_st_info))];
    double median = q->outcome == LD_ERROR ? 800 : q->outcome == LD_WARN ? 250 : 15;
    q->dur_ms = lognormal(r, median);
    q->bytes = q->status == 204 || q->status == 304 ? 0 : 100 + ld_rng_below(r, 20000);
    q->trace_hi = ld_rng_next(r), q->trace_lo = ld_rng_next(r), q->root_span = ld_rng_next(r);
    /* a failing request logs why in one of its steps (warn: half of them) */
    bool logs_failure =
        k > 2 && (q->outcome == LD_ERROR || (q->outcome == LD_WARN && ld_rng_below(r, 2) == 0));
    q->fail_step = logs_failure ? (uint8_t)(1 + ld_rng_below(r, k - 2)) : 0;
}

static void line_common(const struct ld_lreq *q, struct req *l)
{
    l->method = lg_methods[q->method];
    l->route = lg_routes[q->route];
    l->id = q->route < ROUTE_PLAIN ? q->id : 0;
    l->user = q->user;
    l->client = q->client;
    l->trace_hi = q->trace_hi, l->trace_lo = q->trace_lo, l->span = q->root_span;
    l->status = q->status, l->bytes = q->bytes;
    l->err = NULL;
    l->dur_ms = -1;
}

/* The content of the next line of request q (advances it). */
static void lreq_line(struct ld_rng *r, struct ld_lreq *q, uint32_t line_max, struct req *l)
{
    uint32_t at = q->total - q->left--; /* 0-based line of the request */
    line_common(q, l);
    if (q->total == 1 || at == q->total - 1) { /* the request's outcome */
        l->kind = LINE_FULL;
        l->level = (enum ld_level)q->outcome;
        l->dur_ms = q->dur_ms;
        if (q->total == 1)
            l->msg = l->level == LD_INFO    ? PICK(r, lg_m_info)
                     : l->level == LD_DEBUG ? PICK(r, lg_m_debug)
                     : l->level == LD_WARN  ? PICK(r, lg_m_warn)
                                            : PICK(r, lg_m_err);
        else
            l->msg = l->level == LD_INFO ? "request completed" : "request failed";
        l->err = l->level >= LD_WARN ? PICK(r, lg_errs) : NULL;
    } else if (at == 0) {
        l->kind = LINE_START;
        l->level = LD_INFO;
        l->msg = "request received";
    } else {
        l->kind = LINE_STEP;
        l->span = ld_rng_below(r, 2) ? ld_rng_next(r) : q->root_span; /* a child span or not */
        if (at == q->fail_step) {
            l->level = (enum ld_level)q->outcome;
            l->msg = l->level == LD_ERROR ? PICK(r, lg_m_err) : PICK(r, lg_m_warn);
            l->err = PICK(r, lg_errs);
        } else {
            l->level = ld_rng_below(r, 2) ? LD_INFO : LD_DEBUG;
            l->msg = l->level == LD_INFO ? lg_m_info[1 + ld_rng_below(r, COUNT(lg_m_info) - 1)]
                                         : PICK(r, lg_m_debug);
        }
        if (l->span != q->root_span)
            l->dur_ms = lognormal(r, 2);
    }
    l->caller_line = caller_of(l->msg);
    l->extra = long_tail(r, l->level, line_max);
}

/* Go stack frames (escaped newlines, valid inside JSON and logfmt quoted strings), whole frames
 * only, while they fit in `room`. The frames are those of the line's call site (a function of
 * the service and the message); only the depth differs between lines, and in a panic's traceback
 * (`zap` false: what debug.Stack() prints) the argument values. zap's stacktrace field prints
 * "function\n\tfile:line" per frame, without arguments. */
static void w_stack(struct w *w, struct ld_rng *r, const char *svc, const char *msg, bool zap,
                    uint32_t want, uint32_t room)
{
    static const char *const pkgs[] = {"orders", "payments", "storage", "httpapi", "cache", "auth"};
    static const char *const fns[] = {"(*Service).Create", "(*Handler).ServeHTTP",
                                      "(*Repo).Query",     "(*Client).Do",
                                      "retry.Do",          "(*Pool).Get"};
    char frame[256];
    uint32_t used = 0;
    uint64_t site = (uint64_t)caller_of(svc) << 32 | caller_of(msg);
    for (uint64_t k = 0; used < want; k++) {
        uint64_t h = ld_hash3(site, k, 31);
        const char *pkg = pkgs[h % COUNT(pkgs)], *fn = fns[(h >> 8) % COUNT(fns)];
        uint32_t line = 20 + (uint32_t)(h >> 16) % 900;
        int n = zap ? snprintf(frame, sizeof frame,
                               "%sgithub.com/acme/%s/internal/%s.%s\\n\\t/src/internal/%s/%s.go:%u",
                               k ? "\\n" : "", svc, pkg, fn, pkg, pkg, line)
                    : snprintf(
                          frame, sizeof frame,
                          "\\n\\tgithub.com/acme/%s/internal/%s.%s(0xc%09llx, 0x%llx)\\n\\t\\t/src/"
                          "internal/%s/%s.go:%u +0x%x",
                          svc, pkg, fn, (unsigned long long)(ld_rng_next(r) & 0xfffffffffull),
                          (unsigned long long)ld_rng_below(r, 4096), pkg, pkg, line,
                          16 + (uint32_t)(h >> 32) % 1024);
        if (used + (uint32_t)n > room)
            break;
        w_mem(w, frame, (size_t)n);
        used += (uint32_t)n;
    }
}

static void w_trace(struct w *w, const struct req *q)
{
    w_hex(w, q->trace_hi, 16);
    w_hex(w, q->trace_lo, 16);
}

static void w_path(struct w *w, const struct req *q)
{
    w_str(w, q->route);
    if (q->id) {
        *w->p++ = '/';
        w_u64(w, q->id);
    }
}

static void line_json(struct w *w, struct ld_rng *r, const struct ld_lbatch *b, const char *svc,
                      const struct req *q, uint32_t room)
{
    char *start = w->p;
    w_str(w, "{\"ts\":\"");
    w_str(w, b->iso);
    w_str(w, "\",\"level\":\"");
    w_str(w, ld_level_names[q->level]);
    w_str(w, "\",\"logger\":\"");
    w_str(w, svc);
    w_str(w, "\",\"caller\":\"server/handler.go:");
    w_u64(w, q->caller_line);
    w_str(w, "\",\"msg\":\"");
    w_str(w, q->msg);
    w_str(w, "\",\"method\":\"");
    w_str(w, q->method);
    w_str(w, "\",\"path\":\"");
    w_path(w, q);
    *w->p++ = '"';
    if (q->kind == LINE_FULL) {
        w_str(w, ",\"status\":");
        w_u64(w, q->status);
    }
    if (q->dur_ms >= 0) {
        w_str(w, ",\"duration_ms\":");
        w_dec3(w, q->dur_ms);
    }
    if (q->kind == LINE_FULL) {
        w_str(w, ",\"bytes\":");
        w_u64(w, q->bytes);
    }
    w_str(w, ",\"trace_id\":\"");
    w_trace(w, q);
    w_str(w, "\",\"span_id\":\"");
    w_hex(w, q->span, 16);
    w_str(w, "\",\"user_id\":\"u-");
    w_u64(w, q->user);
    if (q->err) {
        w_str(w, "\",\"error\":\"");
        w_str(w, q->err);
    }
    if (q->extra) {
        w_str(w, "\",\"stacktrace\":\"");
        uint32_t used = (uint32_t)(w->p - start);
        w_stack(w, r, svc, q->msg, true, q->extra, room > used + 2 ? room - used - 2 : 0);
    }
    w_str(w, "\"}");
}

static void line_logfmt(struct w *w, struct ld_rng *r, const struct ld_lbatch *b, const char *svc,
                        const struct req *q, uint32_t room)
{
    char *start = w->p;
    w_str(w, "ts=");
    w_str(w, b->iso);
    w_str(w, " level=");
    w_str(w, ld_level_names[q->level]);
    w_str(w, " caller=handler.go:");
    w_u64(w, q->caller_line);
    w_str(w, " msg=\"");
    w_str(w, q->msg);
    w_str(w, "\" method=");
    w_str(w, q->method);
    w_str(w, " path=");
    w_path(w, q);
    if (q->kind == LINE_FULL) {
        w_str(w, " status=");
        w_u64(w, q->status);
    }
    if (q->dur_ms >= 0) {
        w_str(w, " duration=");
        w_dec3(w, q->dur_ms);
        w_str(w, "ms");
    }
    if (q->kind == LINE_FULL) {
        w_str(w, " bytes=");
        w_u64(w, q->bytes);
    }
    w_str(w, " trace_id=");
    w_trace(w, q);
    w_str(w, " span_id=");
    w_hex(w, q->span, 16);
    if (q->err) {
        w_str(w, " err=\"");
        w_str(w, q->err);
        *w->p++ = '"';
    }
    if (q->extra) {
        w_str(w, " stacktrace=\"goroutine 1 [running]:");
        uint32_t used = (uint32_t)(w->p - start);
        w_stack(w, r, svc, q->msg, false, q->extra, room > used + 1 ? room - used - 1 : 0);
        *w->p++ = '"';
    }
}

static void line_nginx(struct w *w, struct ld_rng *r, const struct ld_lbatch *b,
                       const struct ld_lpod *pod, const struct req *q, uint32_t room)
{
    static const char *const agents[] = {
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 "
        "Safari/537.36",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
        "Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
        "curl/8.5.0", "Go-http-client/1.1", "kube-probe/1.30"};
    char *start = w->p;
    /* a client has one address and one user agent */
    uint64_t c = ld_mix64(q->client + 0x51ed27);
    w_ip(w, pod->ip ^ (uint32_t)(c & 0xffff));
    w_str(w, " - - [");
    w_str(w, b->clf);
    w_str(w, "] \"");
    w_str(w, q->method);
    *w->p++ = ' ';
    w_path(w, q);
    if (q->extra) { /* a long query string */
        w_str(w, "?q=");
        uint32_t used = (uint32_t)(w->p - start), tail = 420;
        uint32_t want = q->extra, fit = room > used + tail ? room - used - tail : 0;
        for (uint32_t k = 0; k + 22 <= want && k + 22 <= fit; k += 22) {
            w_str(w, "&f");
            w_hex(w, ld_rng_next(r), 4);
            *w->p++ = '=';
            w_hex(w, ld_rng_next(r), 12);
        }
    }
    w_str(w, " HTTP/1.1\" ");
    w_u64(w, q->status);
    *w->p++ = ' ';
    w_u64(w, q->bytes);
    w_str(w, " \"-\" \"");
    w_str(w, agents[(c >> 16) % COUNT(agents)]);
    w_str(w, "\" ");
    w_dec3(w, q->dur_ms / 1000);
}

/* ---- batches ---- */

void ld_lbatch_init(struct ld_lbatch *b)
{
    memset(b, 0, sizeof *b);
    b->cache_sec = INT64_MIN;
}

void ld_lbatch_deinit(struct ld_lbatch *b)
{
    buf_deinit(&b->text);
    free(b->e);
    free(b->order);
    free(b->slot);
    free(b->sid);
    free(b->cnt);
    free(b->table);
    free(b->streams);
    free(b->pe);
    free(b->meta);
    free(b->slabels);
    free(b->req);
    free(b->live);
    memset(b, 0, sizeof *b);
}

static int lb_grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    size_t n = *cap ? *cap : 64;
    while (n < need)
        n *= 2;
    void *q = realloc(*p, n * elem);
    if (!q)
        return ERR_NOMEM;
    *p = q;
    *cap = n;
    return 0;
}

/* Refreshes the per-second parts of the timestamps and writes the milliseconds. */
static void time_text(struct ld_lbatch *b, int64_t ts_ns)
{
    int64_t sec = ts_ns / 1000000000;
    if (sec != b->cache_sec) {
        static const char *const mon[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                          "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
        time_t t = (time_t)sec;
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(b->iso, sizeof b->iso, "%Y-%m-%dT%H:%M:%S.", &tm);
        snprintf(b->clf, sizeof b->clf, "%02d/%s/%04d:%02d:%02d:%02d +0000", tm.tm_mday,
                 mon[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
        b->cache_sec = sec;
    }
    int ms = (int)(ts_ns / 1000000 % 1000);
    char *p = b->iso + 20;
    p[0] = (char)('0' + ms / 100);
    p[1] = (char)('0' + ms / 10 % 10);
    p[2] = (char)('0' + ms % 10);
    p[3] = 'Z';
    p[4] = 0;
}

/* The request the next line belongs to: one of the LD_REQS_PER_POD slots of a random pod of the
 * agent (so the lines of concurrent requests interleave), a new request when that slot is free. New
 * requests start only while the batch has room for all their lines; then the lines go to the
 * requests in flight, so every request of a batch is complete. */
static struct ld_lreq *next_req(const struct ld_logs *l, struct ld_rng *r, uint32_t pods,
                                uint32_t room, struct ld_lbatch *b)
{
    uint32_t j = ld_rng_below(r, pods);
    uint32_t slot = j * LD_REQS_PER_POD + ld_rng_below(r, LD_REQS_PER_POD);
    struct ld_lreq *q = &b->req[slot];
    if (q->left)
        return q;
    uint32_t pod = (uint32_t)(b->agent + (uint64_t)j * l->cfg.agents);
    const struct ld_lservice *s = &l->services[l->pods[pod].service];
    uint32_t mean = l->cfg.lines_per_trace ? l->cfg.lines_per_trace : LD_LINES_PER_TRACE_DEFAULT;
    uint32_t k = draw_lines(r, s->format == LD_LOG_NGINX ? 1 : mean);
    uint32_t free_lines = room - b->pending; /* changes only here: by k */
    if (k > free_lines) {
        if (b->n_live)
            return &b->req[b->live[ld_rng_below(r, b->n_live)]];
        k = free_lines; /* only when the batch is shorter than a request */
    } else if (k > 1 && free_lines - k == 1) {
        k = k < LD_LINES_PER_TRACE_MAX ? k + 1 : k - 1; /* leave no single line at the end */
    }
    lreq_start(r, q, j, k);
    q->live_at = b->n_live;
    b->live[b->n_live++] = slot;
    b->pending += k;
    return q;
}

static void req_done(struct ld_lbatch *b, const struct ld_lreq *q)
{
    b->pending--;
    if (q->left)
        return;
    uint32_t last = b->live[--b->n_live];
    b->live[q->live_at] = last;
    b->req[last].live_at = q->live_at;
}

static void one_line(const struct ld_logs *l, struct ld_rng *r, uint32_t pods, uint32_t room,
                     int64_t ts, struct ld_lbatch *b)
{
    struct ld_lreq *rq = next_req(l, r, pods, room, b);
    uint32_t pod = (uint32_t)(b->agent + (uint64_t)rq->pod * l->cfg.agents);
    const struct ld_lpod *p = &l->pods[pod];
    const struct ld_lservice *s = &l->services[p->service];
    struct req q;
    lreq_line(r, rq, l->cfg.line_max, &q);
    req_done(b, rq);
    time_text(b, ts);
    struct ld_lentry *e = &b->e[b->n++];
    e->ts_ns = ts;
    e->stream = pod * LD_LEVELS + q.level;
    e->off = (uint32_t)b->text.len;
    struct w w = {(char *)b->text.data + b->text.len};
    if (s->format == LD_LOG_JSON)
        line_json(&w, r, b, s->name.ptr, &q, l->cfg.line_max);
    else if (s->format == LD_LOG_LOGFMT)
        line_logfmt(&w, r, b, s->name.ptr, &q, l->cfg.line_max);
    else
        line_nginx(&w, r, b, p, &q, l->cfg.line_max);
    e->len = (uint32_t)(w.p - ((char *)b->text.data + e->off));
    ASSERT(e->len <= l->cfg.line_max);
    e->tid_off = e->off + e->len;
    w_trace(&w, &q);
    w_hex(&w, q.span, 16);
    b->text.len = (size_t)(w.p - (char *)b->text.data);
}

int ld_logs_build(const struct ld_logs *l, uint32_t agent, uint64_t seq, int64_t lo_ns,
                  int64_t hi_ns, uint32_t n, struct ld_lbatch *b)
{
    ASSERT(agent < l->cfg.agents && ld_logs_agent_pods(l, agent) > 0 && hi_ns - lo_ns >= n);
    b->n = 0;
    buf_reset(&b->text);
    uint32_t pods = ld_logs_agent_pods(l, agent);
    size_t slots = (size_t)pods * LD_REQS_PER_POD;
    if (lb_grow((void **)&b->e, &b->cap, n, sizeof *b->e) ||
        lb_grow((void **)&b->live, &b->cap_live, slots, sizeof *b->live) ||
        lb_grow((void **)&b->req, &b->cap_req, slots, sizeof *b->req))
        return ERR_NOMEM;
    memset(b->req, 0, slots * sizeof *b->req);
    b->agent = agent, b->n_live = 0, b->pending = 0;
    struct ld_rng r = ld_rng_make(ld_hash3(l->cfg.seed, agent, seq));
    __int128 span = hi_ns - lo_ns;
    for (uint32_t i = 0; i < n; i++) {
        if (buf_reserve(&b->text, l->cfg.line_max + LINE_SLACK))
            return ERR_NOMEM;
        int64_t ts = lo_ns + (int64_t)(span * (i + 1) / n);
        one_line(l, &r, pods, n - i, ts, b);
    }
    return 0;
}

/* ---- encoding ---- */

static int scratch(struct ld_lbatch *b, size_t n)
{
    size_t tab = 16;
    while (tab < 2 * n)
        tab *= 2;
    if (n > b->cap_n) {
        size_t c = n;
        void *p[8] = {realloc(b->order, c * 4),
                      realloc(b->slot, c * 4),
                      realloc(b->sid, c * 4),
                      realloc(b->cnt, c * 4),
                      realloc(b->streams, c * sizeof *b->streams),
                      realloc(b->pe, c * sizeof *b->pe),
                      realloc(b->meta, 2 * c * sizeof *b->meta),
                      realloc(b->slabels, 4 * c * sizeof *b->slabels)};
        b->order = p[0] ? p[0] : b->order, b->slot = p[1] ? p[1] : b->slot;
        b->sid = p[2] ? p[2] : b->sid, b->cnt = p[3] ? p[3] : b->cnt;
        b->streams = p[4] ? p[4] : b->streams, b->pe = p[5] ? p[5] : b->pe;
        b->meta = p[6] ? p[6] : b->meta, b->slabels = p[7] ? p[7] : b->slabels;
        for (int i = 0; i < 8; i++)
            if (!p[i])
                return ERR_NOMEM;
        b->cap_n = c;
    }
    if (tab > b->cap_table) {
        int32_t *t = realloc(b->table, tab * sizeof *t);
        if (!t)
            return ERR_NOMEM;
        b->table = t;
        b->cap_table = tab;
    }
    b->n_table = tab;
    return 0;
}

/* Streams by first appearance; b->order = entry indexes grouped by stream, in time order within
 * each. Returns the number of streams. */
static size_t group_streams(struct ld_lbatch *b)
{
    memset(b->table, 0xff, b->n_table * sizeof *b->table);
    size_t ns = 0, mask = b->n_table - 1;
    for (size_t i = 0; i < b->n; i++) {
        uint32_t id = b->e[i].stream;
        size_t h = (size_t)ld_mix64(id) & mask;
        while (b->table[h] >= 0 && b->sid[b->table[h]] != id)
            h = (h + 1) & mask;
        if (b->table[h] < 0) {
            b->table[h] = (int32_t)ns;
            b->sid[ns] = id;
            b->cnt[ns++] = 0;
        }
        b->slot[i] = (uint32_t)b->table[h];
        b->cnt[b->slot[i]]++;
    }
    uint32_t off = 0;
    for (size_t k = 0; k < ns; k++) {
        uint32_t c = b->cnt[k];
        b->cnt[k] = off;
        off += c;
    }
    for (size_t i = 0; i < b->n; i++)
        b->order[b->cnt[b->slot[i]]++] = (uint32_t)i;
    return ns;
}

static struct str text_at(const struct ld_lbatch *b, uint32_t off, uint32_t len)
{
    return (struct str){(const char *)b->text.data + off, len};
}

static int encode_protobuf(const struct ld_logs *l, struct ld_lbatch *b, size_t ns, struct buf *out)
{
    bool md = l->cfg.metadata;
    size_t pos = 0;
    for (size_t k = 0; k < ns; k++) {
        size_t first = pos;
        while (pos < b->n && b->slot[b->order[pos]] == k) {
            const struct ld_lentry *e = &b->e[b->order[pos]];
            struct label *m = &b->meta[2 * pos];
            m[0] = (struct label){STR_LIT("trace_id"), text_at(b, e->tid_off, 32)};
            m[1] = (struct label){STR_LIT("span_id"), text_at(b, e->tid_off + 32, 16)};
            b->pe[pos] = (struct lokipush_entry){e->ts_ns, text_at(b, e->off, e->len),
                                                 md ? m : NULL, md ? 2 : 0};
            pos++;
        }
        ld_logs_stream_labels(l, b->sid[k], &b->slabels[4 * k]);
        b->streams[k] = (struct lokipush_stream_in){
            &b->slabels[4 * k], 4, {NULL, 0}, &b->pe[first], pos - first};
    }
    return lokipush_encode(b->streams, ns, out);
}

static void json_ns(struct jsonw *j, int64_t ns)
{
    char tmp[24];
    int n = snprintf(tmp, sizeof tmp, "%lld", (long long)ns);
    jsonw_str(j, tmp, (size_t)n);
}

static int encode_json(const struct ld_logs *l, struct ld_lbatch *b, size_t ns, struct buf *out)
{
    struct jsonw j;
    jsonw_init(&j, out);
    jsonw_obj_begin(&j);
    jsonw_key_cstr(&j, "streams");
    jsonw_arr_begin(&j);
    size_t pos = 0;
    for (size_t k = 0; k < ns; k++) {
        struct label ls[4];
        ld_logs_stream_labels(l, b->sid[k], ls);
        jsonw_obj_begin(&j);
        jsonw_key_cstr(&j, "stream");
        jsonw_obj_begin(&j);
        for (int i = 0; i < 4; i++) {
            jsonw_key(&j, ls[i].name.ptr, ls[i].name.len);
            jsonw_str(&j, ls[i].value.ptr, ls[i].value.len);
        }
        jsonw_obj_end(&j);
        jsonw_key_cstr(&j, "values");
        jsonw_arr_begin(&j);
        for (; pos < b->n && b->slot[b->order[pos]] == k; pos++) {
            const struct ld_lentry *e = &b->e[b->order[pos]];
            jsonw_arr_begin(&j);
            json_ns(&j, e->ts_ns);
            jsonw_str(&j, (const char *)b->text.data + e->off, e->len);
            if (l->cfg.metadata) {
                jsonw_obj_begin(&j);
                jsonw_key_cstr(&j, "trace_id");
                jsonw_str(&j, (const char *)b->text.data + e->tid_off, 32);
                jsonw_key_cstr(&j, "span_id");
                jsonw_str(&j, (const char *)b->text.data + e->tid_off + 32, 16);
                jsonw_obj_end(&j);
            }
            jsonw_arr_end(&j);
        }
        jsonw_arr_end(&j);
        jsonw_obj_end(&j);
    }
    jsonw_arr_end(&j);
    jsonw_obj_end(&j);
    return jsonw_finish(&j);
}

int ld_logs_encode(const struct ld_logs *l, struct ld_lbatch *b, enum ld_loki_encoding enc,
                   struct buf *out)
{
    int rc = scratch(b, b->n ? b->n : 1);
    if (rc)
        return rc;
    size_t ns = group_streams(b);
    return enc == LD_LOKI_JSON ? encode_json(l, b, ns, out) : encode_protobuf(l, b, ns, out);
}
