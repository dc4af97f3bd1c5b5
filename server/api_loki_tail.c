/* GET /loki/api/v1/tail: Loki's live tail over a WebSocket (RFC 6455, server/http/websocket.h).
 *
 * After the handshake the tail is a chain of short query jobs on the shard's query threads, one
 * every POLL_NS: each reads the entries newer than the last poll through the cross-shard fan-out
 * (query_log_select, via the LogQL entry source), runs the query's pipeline and writes one text
 * frame {"streams":[{"stream":{..},"values":[["<ns>","<line>"],..]},..],"dropped_entries":null};
 * its done callback (shard thread) sends the frame and arms a loop timer for the next poll. The
 * first poll sends the newest `limit` entries since `start` (oldest first), as Loki does; later
 * polls send everything new. Entries may be stored a little after their timestamp (a push in
 * flight), so each poll looks LAG_NS back and skips the entries it already sent (a set of
 * (timestamp, hash) over that window).
 *
 * The tail ends with its connection (peer close, reset, server stop: the running job is
 * canceled) or on a send the client cannot keep up with (close 1011). At most LOKI_TAIL_MAX tails
 * run at once (400 with Loki's message beyond). */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/error.h"
#include "base/hash.h"
#include "engine/logql/eval.h"
#include "engine/logql/parse.h"
#include "formats/jsonw.h"
#include "server/api_loki_query.h"
#include "server/api_loki_tail.h"
#include "server/exchange.h"
#include "server/http/websocket.h"
#include "server/query.h"
#include "server/shard.h"
#include "server/tenant.h"
#include "server/validate.h"

#define POLL_NS          (250LL * 1000000LL)
#define LAG_NS           (5LL * 1000000000LL)
#define FRAME_ENTRIES    1000 /* entries per frame; more wait for the next poll */
#define SENT_MAX         (256 * 1024)
#define DELAY_MAX_S      5
#define TAIL_DEFAULT_LIM 100

static _Atomic int tails_open;

struct sent {
    int64_t ts;
    uint64_t h;
};

/* An entry collected by a poll: offsets into the poll's store. */
struct rec {
    int64_t ts;
    uint64_t h;
    size_t lab_off, lab_len; /* the label set as a JSON object */
    size_t line_off, line_len;
};

struct tail {
    struct shard *sh;
    struct http_ws *ws;
    char tenant[VALIDATE_TENANT_BYTES_MAX + 1];
    size_t tenant_len;
    struct logql_query *q;
    struct logql_pipeline *pipe;
    int64_t start_ns, delay_ns;
    uint32_t limit;
    uint32_t max; /* entries the running poll collects, at most */
    bool first, closed, failed;
    struct query_job *job;
    struct loop_timer timer;
    /* the poll's work (query thread while the job runs) */
    struct rec *recs;
    size_t nrec, caprec;
    struct buf store, frame;
    struct sent *sent; /* sent entries with ts >= the last poll's end - LAG_NS */
    size_t nsent, capsent;
    int64_t hi_ns;    /* the last poll's end: entries below it were looked at */
    int64_t floor_ns; /* the first poll's end: older entries belong to the history */
};

static void tail_free(struct tail *t)
{
    if (t->pipe)
        logql_pipeline_destroy(t->pipe);
    if (t->q)
        logql_query_destroy(t->q);
    free(t->recs);
    free(t->sent);
    buf_deinit(&t->store);
    buf_deinit(&t->frame);
    free(t);
    atomic_fetch_sub(&tails_open, 1);
}

/* ---- a poll (query thread) ------------------------------------------------------------------- */

/* sent[] is sorted by (ts, h): a binary search for ts, then its few hashes. */
static bool was_sent(const struct tail *t, int64_t ts, uint64_t h)
{
    size_t lo = 0, hi = t->nsent;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (t->sent[mid].ts < ts)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (size_t i = lo; i < t->nsent && t->sent[i].ts == ts; i++)
        if (t->sent[i].h == h)
            return true;
    return false;
}

static int sent_cmp(const void *a, const void *b)
{
    const struct sent *x = a, *y = b;
    if (x->ts != y->ts)
        return x->ts < y->ts ? -1 : 1;
    return x->h < y->h ? -1 : x->h > y->h;
}

static int collect(struct tail *t, const struct logql_entry *e, const struct logql_result *res)
{
    uint64_t h = hash_labels(res->labels, res->n_labels) ^ hash_bytes(res->line.ptr, res->line.len);
    if (e->ts_ns >= t->hi_ns - LAG_NS && was_sent(t, e->ts_ns, h))
        return 0;
    if (loki_grow((void **)&t->recs, &t->caprec, t->nrec + 1, sizeof *t->recs))
        return ERR_NOMEM;
    struct rec *r = &t->recs[t->nrec];
    r->ts = e->ts_ns;
    r->h = h;
    r->lab_off = t->store.len;
    struct jsonw w;
    jsonw_init(&w, &t->store);
    jsonw_obj_begin(&w);
    for (size_t i = 0; i < res->n_labels; i++) {
        jsonw_key(&w, res->labels[i].name.ptr, res->labels[i].name.len);
        jsonw_str(&w, res->labels[i].value.ptr, res->labels[i].value.len);
    }
    jsonw_obj_end(&w);
    if (jsonw_finish(&w))
        return ERR_NOMEM;
    r->lab_len = t->store.len - r->lab_off;
    r->line_off = t->store.len;
    if (buf_append(&t->store, res->line.ptr, res->line.len))
        return ERR_NOMEM;
    r->line_len = res->line.len;
    t->nrec++;
    return 0;
}

static int rec_cmp(const void *a, const void *b)
{
    const struct rec *x = a, *y = b;
    return x->ts < y->ts ? -1 : x->ts > y->ts;
}

/* The frame of the collected entries, oldest first; consecutive entries of one label set share
 * a stream object. */
static int build_frame(struct tail *t)
{
    buf_reset(&t->frame);
    if (t->nrec == 0)
        return 0;
    qsort(t->recs, t->nrec, sizeof *t->recs, rec_cmp);
    struct jsonw w;
    jsonw_init(&w, &t->frame);
    jsonw_obj_begin(&w);
    jsonw_key_cstr(&w, "streams");
    jsonw_arr_begin(&w);
    for (size_t i = 0; i < t->nrec; i++) {
        const struct rec *r = &t->recs[i];
        const struct rec *p = i ? &t->recs[i - 1] : NULL;
        bool same = p && p->lab_len == r->lab_len &&
                    memcmp(t->store.data + p->lab_off, t->store.data + r->lab_off, r->lab_len) == 0;
        if (!same) {
            if (p) {
                jsonw_arr_end(&w);
                jsonw_obj_end(&w);
            }
            jsonw_obj_begin(&w);
            jsonw_key_cstr(&w, "stream");
            jsonw_raw(&w, (const char *)t->store.data + r->lab_off, r->lab_len);
            jsonw_key_cstr(&w, "values");
            jsonw_arr_begin(&w);
        }
        char ts[24];
        int n = snprintf(ts, sizeof ts, "%lld", (long long)r->ts);
        jsonw_arr_begin(&w);
        jsonw_str(&w, ts, (size_t)n);
        jsonw_str(&w, (const char *)t->store.data + r->line_off, r->line_len);
        jsonw_arr_end(&w);
    }
    jsonw_arr_end(&w);
    jsonw_obj_end(&w);
    jsonw_arr_end(&w);
    jsonw_key_cstr(&w, "dropped_entries");
    jsonw_null(&w);
    jsonw_obj_end(&w);
    return jsonw_finish(&w);
}

/* Remembers what this poll sends, forgetting what fell out of the lag window. */
static int remember(struct tail *t, int64_t end_ns)
{
    size_t k = 0;
    for (size_t i = 0; i < t->nsent; i++)
        if (t->sent[i].ts >= end_ns - LAG_NS)
            t->sent[k++] = t->sent[i];
    t->nsent = k;
    for (size_t i = 0; i < t->nrec; i++) {
        if (t->recs[i].ts < end_ns - LAG_NS || t->nsent >= SENT_MAX)
            continue;
        if (loki_grow((void **)&t->sent, &t->capsent, t->nsent + 1, sizeof *t->sent))
            return ERR_NOMEM;
        t->sent[t->nsent++] = (struct sent){t->recs[i].ts, t->recs[i].h};
    }
    if (t->nsent > 1)
        qsort(t->sent, t->nsent, sizeof *t->sent, sent_cmp); /* entries may come late */
    return 0;
}

/* fn of the poll's scan: collects until max entries. */
static int poll_entry(void *arg, const struct logql_entry *e, const struct logql_result *res)
{
    struct tail *t = arg;
    int rc = collect(t, e, res);
    return rc ? rc : t->nrec >= t->max ? LOKI_SCAN_STOP : 0;
}

static int poll_select(struct tail *t, struct query_job *j, int64_t from, int64_t to, bool backward,
                       uint32_t max)
{
    t->max = max;
    struct loki_scan s = {.q = t->q,
                          .pipe = t->pipe,
                          .start_ns = from,
                          .end_ns = to,
                          .backward = backward,
                          .max_kept = UINT32_MAX,
                          .fn = poll_entry,
                          .arg = t};
    return loki_scan_run(j, &s);
}

static void tail_run(struct query_job *j, void *arg)
{
    struct tail *t = arg;
    t->nrec = 0;
    buf_reset(&t->store);
    buf_reset(&t->frame);
    int64_t end = clock_real_ns() - t->delay_ns + 1;
    int rc;
    if (t->first) {
        rc = poll_select(t, j, t->start_ns, end, true, t->limit);
    } else {
        int64_t from = t->hi_ns - LAG_NS > t->floor_ns ? t->hi_ns - LAG_NS : t->floor_ns;
        rc = poll_select(t, j, from, end, false, FRAME_ENTRIES);
        if (rc == 0 && t->nrec == FRAME_ENTRIES)
            end = t->recs[t->nrec - 1].ts + 1; /* the rest in the next poll */
    }
    if (rc == 0)
        rc = build_frame(t);
    if (rc == 0)
        rc = remember(t, end);
    if (rc == 0) {
        t->hi_ns = end > t->hi_ns ? end : t->hi_ns;
        if (t->first)
            t->floor_ns = end;
        t->first = false;
    } else if (rc != -ETIMEDOUT && rc != -ECANCELED) {
        t->failed = true;
    }
}

/* ---- the poll chain (shard thread) ----------------------------------------------------------- */

static void tail_done(struct query_job *j, void *arg);

static void tail_schedule(struct tail *t, int64_t ns)
{
    loop_timer_arm(&t->sh->loop, &t->timer, ns);
}

static void tail_start_job(struct tail *t)
{
    int rc;
    struct str tenant = {t->tenant, t->tenant_len};
    t->job =
        t->sh->query ? query_job_start(t->sh->query, tenant, 0, tail_run, tail_done, t, &rc) : NULL;
    if (!t->job)
        tail_schedule(t, POLL_NS); /* no query thread free: try again at the next tick */
}

static void on_timer(struct loop *l, struct loop_op *op, int res, uint32_t flags)
{
    (void)l;
    (void)res;
    (void)flags;
    struct tail *t = (struct tail *)((char *)op - offsetof(struct tail, timer.op));
    if (t->closed) {
        tail_free(t);
        return;
    }
    tail_start_job(t);
}

static void tail_done(struct query_job *j, void *arg)
{
    (void)j;
    struct tail *t = arg;
    t->job = NULL;
    if (t->closed) {
        tail_free(t);
        return;
    }
    if (t->failed) {
        http_ws_close(t->ws, WS_CLOSE_INTERNAL, "tail query failed");
        tail_free(t);
        return;
    }
    if (t->frame.len && http_ws_send_text(t->ws, t->frame.data, t->frame.len) != 0) {
        http_ws_close(t->ws, WS_CLOSE_INTERNAL, "client too slow: tail frames not read");
        tail_free(t);
        return;
    }
    tail_schedule(t, POLL_NS);
}

static void tail_on_close(void *arg)
{
    struct tail *t = arg;
    t->closed = true;
    if (t->job)
        query_job_cancel(t->job); /* tail_done frees */
    else if (t->timer.armed)
        loop_timer_cancel(&t->sh->loop, &t->timer); /* on_timer frees */
    else
        tail_free(t);
}

static const struct http_ws_ops tail_ws_ops = {.on_close = tail_on_close};

/* ---- the handler ----------------------------------------------------------------------------- */

/* Parameters into t (taking over r's query). False after answering 400. */
static bool tail_params(struct loki_req *r, struct tail *t)
{
    char err[LOKI_ERR_MAX + 64], why[LOKI_ERR_MAX];
    struct str s = loki_param(r, "start");
    t->start_ns = clock_real_ns() - LOKI_DEFAULT_SINCE_NS;
    if (s.len && loki_parse_time(s, &t->start_ns, why, sizeof why)) {
        snprintf(err, sizeof err, "could not parse 'start' parameter: %s", why);
        return loki_bad(r, err);
    }
    s = loki_param(r, "delay_for");
    if (s.len) {
        int64_t d;
        if (loki_parse_duration(s, &d, why, sizeof why) || d % 1000000000LL || d < 0)
            return loki_bad(r, "invalid delay_for: must be whole seconds");
        if (d > DELAY_MAX_S * 1000000000LL)
            return loki_bad(r, "delay_for can't be greater than 5");
        t->delay_ns = d;
    }
    if (logql_pipeline_compile_expr(r->q->root, NULL, &t->pipe, err, sizeof err))
        return loki_bad(r, err);
    t->q = r->q;
    r->q = NULL;
    return true;
}

static struct tail *tail_new(struct http_exchange *x)
{
    int open = atomic_fetch_add(&tails_open, 1) + 1;
    if (open > LOKI_TAIL_MAX) {
        atomic_fetch_sub(&tails_open, 1);
        char msg[128];
        snprintf(msg, sizeof msg,
                 "max concurrent tail requests limit exceeded, count > limit (%d > %d)", open,
                 LOKI_TAIL_MAX);
        http_reply_error(x, 400, msg);
        return NULL;
    }
    struct tail *t = calloc(1, sizeof *t);
    if (!t) {
        atomic_fetch_sub(&tails_open, 1);
        http_reply_error(x, 500, "out of memory");
        return NULL;
    }
    t->sh = x->shard;
    t->first = true;
    t->timer.fn = on_timer;
    buf_init(&t->store);
    buf_init(&t->frame);
    return t;
}

/* The tail of r's parameters, taking over its query; NULL after answering. */
static struct tail *tail_open(struct loki_req *r, struct str tenant)
{
    uint32_t limit;
    if (!loki_param_query(r, LOKI_QUERY_LOG | LOKI_QUERY_REQUIRED) ||
        !loki_param_limit(r, "limit", TAIL_DEFAULT_LIM, &limit))
        return NULL;
    struct tail *t = tail_new(r->x);
    if (!t)
        return NULL;
    t->limit = limit;
    memcpy(t->tenant, tenant.ptr, tenant.len);
    t->tenant_len = tenant.len;
    if (!tail_params(r, t)) {
        tail_free(t);
        return NULL;
    }
    return t;
}

void handler_loki_tail(struct http_exchange *x)
{
    struct str tenant;
    if (!tenant_from_request(x, &tenant))
        return;
    struct loki_req *r = loki_req_new(x, NULL, 0);
    struct tail *t = r ? tail_open(r, tenant) : NULL;
    loki_req_free(r);
    if (!t)
        return;
    const char *why = "invalid WebSocket handshake";
    if (http_reply_websocket(x, &tail_ws_ops, t, &t->ws, &why) != 0) {
        if (!x->replied)
            http_reply_error(x, 400, why);
        tail_free(t);
        return;
    }
    tail_start_job(t);
}
