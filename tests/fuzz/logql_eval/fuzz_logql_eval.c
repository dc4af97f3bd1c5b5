/* Fuzz target: the LogQL evaluator. The input is a query, optionally followed by a newline and
 * parameter bytes (instant/backward/categorize flags, window, step, limit, interval, series
 * limit). A query that parses is evaluated twice over a fixed in-memory source of three streams
 * (logfmt, JSON and plain lines, structured metadata); both runs must agree, and the result must
 * be well formed: the value type matches the query kind, series are sorted by labels with
 * timestamps on the step grid in ascending order, streams hold at most `limit` entries in the
 * query direction, every label set is sorted with unique names. Errors must come with a
 * message. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/assert.h"
#include "base/error.h"
#include "engine/logql/eval.h"
#include "engine/logql/parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define SEC 1000000000LL

static const struct label s_api[] = {{{"app", 3}, {"api", 3}}, {{"level", 5}, {"info", 4}}};
static const struct label s_db[] = {{{"app", 3}, {"db", 2}}, {{"level", 5}, {"error", 5}}};
static const struct label s_web[] = {{{"app", 3}, {"web", 3}}};
static const struct label m_trace[] = {{{"trace", 5}, {"t1", 2}}};

static struct logql_memsrc_entry ents[36];
static struct logql_memsrc src;

static void init_source(void)
{
    static const char *lines[] = {
        "level=info msg=\"ok\" status=200 latency=15ms size=1KB",
        "{\"status\":500,\"latency\":\"2s\",\"nested\":{\"k\":\"v\"},\"n\":1.5}",
        "plain text line with ip 10.0.0.1",
        "level=warn status=404 latency=abc size=12",
    };
    for (size_t i = 0; i < 36; i++) {
        struct logql_memsrc_entry *e = &ents[i];
        e->ts_ns = (int64_t)(i * 17 % 600) * SEC + (int64_t)(i % 3);
        e->line = str_from_cstr(lines[i % 4]);
        const struct label *s = i % 3 == 0 ? s_api : i % 3 == 1 ? s_db : s_web;
        e->stream = s;
        e->n_stream = s == s_web ? 1 : 2;
        e->meta = i % 5 == 0 ? m_trace : NULL;
        e->n_meta = i % 5 == 0 ? 1 : 0;
    }
    src.entries = ents;
    src.n_entries = 36;
}

static void check_labels(const struct label *l, size_t n)
{
    for (size_t i = 1; i < n; i++)
        ASSERT(str_cmp(l[i - 1].name, l[i].name) < 0);
}

static int cmp_labels(const struct label *a, size_t na, const struct label *b, size_t nb)
{
    for (size_t i = 0; i < na && i < nb; i++) {
        int r = str_cmp(a[i].name, b[i].name);
        if (r || (r = str_cmp(a[i].value, b[i].value)))
            return r;
    }
    return (na > nb) - (na < nb);
}

static uint64_t mix(uint64_t h, uint64_t v)
{
    return (h ^ v) * 0x100000001b3ull;
}

static uint64_t check_series(const struct logql_eval_result *r, const struct logql_eval_params *p,
                             bool sorted)
{
    uint64_t h = 0;
    for (size_t i = 0; i < r->n_series; i++) {
        const struct logql_out_series *s = &r->series[i];
        check_labels(s->labels, s->n_labels);
        if (sorted && i)
            ASSERT(cmp_labels(s[-1].labels, s[-1].n_labels, s->labels, s->n_labels) <= 0);
        ASSERT(s->n >= 1 && (!p->instant || s->n == 1));
        for (size_t k = 0; k < s->n; k++) {
            ASSERT(s->ts_ns[k] >= p->start_ns && s->ts_ns[k] <= p->end_ns);
            ASSERT(p->instant || (s->ts_ns[k] - p->start_ns) % p->step_ns == 0);
            ASSERT(k == 0 || s->ts_ns[k] >= s->ts_ns[k - 1]);
            uint64_t bits;
            memcpy(&bits, &s->v[k], sizeof bits);
            h = mix(mix(h, (uint64_t)s->ts_ns[k]), s->v[k] == s->v[k] ? bits : 1);
        }
        h = mix(h, s->n_labels);
    }
    return mix(h, r->n_series);
}

static uint64_t check_streams(const struct logql_eval_result *r, const struct logql_eval_params *p)
{
    uint64_t h = 0;
    size_t total = 0;
    for (size_t i = 0; i < r->n_streams; i++) {
        const struct logql_out_stream *s = &r->streams[i];
        check_labels(s->labels, s->n_labels);
        ASSERT(s->n_entries >= 1);
        for (size_t k = 0; k < s->n_entries; k++) {
            const struct logql_out_entry *e = &s->entries[k];
            ASSERT(e->ts_ns >= p->start_ns && e->ts_ns < p->end_ns);
            if (k)
                ASSERT(p->backward ? e->ts_ns <= e[-1].ts_ns : e->ts_ns >= e[-1].ts_ns);
            check_labels(e->meta, e->n_meta);
            check_labels(e->parsed, e->n_parsed);
            h = mix(mix(h, (uint64_t)e->ts_ns), e->line.len + e->n_meta * 7 + e->n_parsed);
        }
        total += s->n_entries;
    }
    ASSERT(total <= p->limit);
    return mix(h, r->n_streams);
}

static uint64_t check(const struct logql_query *q, const struct logql_eval_params *p,
                      const struct logql_eval_result *r)
{
    if (q->root->kind == LOGQL_EXPR_LOG) {
        ASSERT(r->type == LOGQL_VAL_STREAMS && r->n_series == 0);
        return check_streams(r, p);
    }
    ASSERT(r->n_streams == 0);
    if (r->type == LOGQL_VAL_SCALAR) {
        ASSERT(p->instant && q->root->kind == LOGQL_EXPR_LITERAL);
        return 1;
    }
    ASSERT(r->type == (p->instant ? LOGQL_VAL_VECTOR : LOGQL_VAL_MATRIX));
    if (p->max_series > 0)
        ASSERT((int64_t)r->n_series <= p->max_series);
    return check_series(r, p, !p->instant);
}

static void params_of(const uint8_t *b, size_t n, struct logql_eval_params *p)
{
    uint8_t x[8] = {0};
    memcpy(x, b, n < 8 ? n : 8);
    memset(p, 0, sizeof *p);
    p->instant = x[0] & 1;
    p->backward = x[0] & 2;
    p->categorize_labels = x[0] & 4;
    p->start_ns = (int64_t)(x[1] % 64) * 10 * SEC;
    p->end_ns = p->instant ? p->start_ns : p->start_ns + (int64_t)x[2] * 5 * SEC;
    p->step_ns = p->instant ? 0 : (int64_t)(1 + x[3] % 120) * SEC;
    p->limit = x[4] % 50;
    p->interval_ns = (int64_t)(x[5] % 8) * 20 * SEC;
    p->max_series = x[6] % 8;
    p->max_entries_limit = x[7] & 1 ? 40 : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!src.entries)
        init_source();
    const uint8_t *nl = memchr(data, '\n', size);
    size_t qlen = nl ? (size_t)(nl - data) : size;
    struct logql_query *q = NULL;
    char err[512];
    if (logql_parse((struct str){(const char *)data, qlen}, &q, err, sizeof err) != 0)
        return 0;
    struct logql_eval_params p;
    params_of(nl ? nl + 1 : data, nl ? size - qlen - 1 : 0, &p);
    uint64_t digest[2] = {0, 0};
    int rcs[2];
    for (int round = 0; round < 2; round++) {
        struct logql_eval_result r;
        err[0] = 0;
        rcs[round] = logql_eval(q, &p, &logql_memsrc_ops, &src, &r, err, sizeof err);
        ASSERT(src.n_open == 0);
        if (rcs[round] == 0)
            digest[round] = check(q, &p, &r);
        else
            ASSERT(err[0] != 0 && r.mem == NULL);
        logql_eval_result_free(&r);
    }
    ASSERT(rcs[0] == rcs[1] && digest[0] == digest[1]);
    logql_query_destroy(q);
    return 0;
}
