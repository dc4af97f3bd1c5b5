/* /loki/api/v1/query and /loki/api/v1/query_range (api_loki.h): Loki's parameter handling
 * (pkg/loghttp/query.go), LogQL evaluation (engine/logql/eval.h) on a query thread over the
 * cross-shard entry source (query.h), and Loki's result encoding (pkg/util/marshal/query.go:
 * streams with 2- or, with categorize-labels, 3-tuples; vector, matrix, scalar as Prometheus
 * writes them) with a data.stats object shaped like Loki's stats.Result. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/error.h"
#include "engine/logql/eval.h"
#include "server/api_loki_query.h"
#include "server/exchange.h"
#include "server/server.h"

#define ERR_INSTANT_LOG                                                                            \
    "log queries are not supported as an instant query type, please change your query to a "       \
    "range query type"

struct eval_extra {
    struct logql_eval_params p;
};

/* ---- result encodings ---- */

static void write_entry(struct jsonw *w, const struct logql_out_entry *e, bool categorize)
{
    char ts[24];
    int n = snprintf(ts, sizeof ts, "%lld", (long long)e->ts_ns);
    jsonw_arr_begin(w);
    jsonw_str(w, ts, (size_t)n);
    jsonw_str_html(w, e->line.ptr, e->line.len);
    if (categorize) {
        jsonw_obj_begin(w);
        if (e->n_meta) {
            jsonw_key_cstr(w, "structuredMetadata");
            loki_json_labels(w, e->meta, e->n_meta);
        }
        if (e->n_parsed) {
            jsonw_key_cstr(w, "parsed");
            loki_json_labels(w, e->parsed, e->n_parsed);
        }
        jsonw_obj_end(w);
    }
    jsonw_arr_end(w);
}

static void write_streams(struct jsonw *w, const struct logql_eval_result *res, bool categorize)
{
    jsonw_arr_begin(w);
    for (size_t i = 0; i < res->n_streams; i++) {
        const struct logql_out_stream *s = &res->streams[i];
        jsonw_obj_begin(w);
        jsonw_key_cstr(w, "stream");
        loki_json_labels(w, s->labels, s->n_labels);
        jsonw_key_cstr(w, "values");
        jsonw_arr_begin(w);
        for (size_t k = 0; k < s->n_entries; k++)
            write_entry(w, &s->entries[k], categorize);
        jsonw_arr_end(w);
        jsonw_obj_end(w);
    }
    jsonw_arr_end(w);
}

static void write_point(struct jsonw *w, int64_t ts_ns, double v)
{
    jsonw_arr_begin(w);
    jsonw_ts_ms(w, ts_ns / 1000000);
    loki_json_value(w, v);
    jsonw_arr_end(w);
}

static void write_series(struct jsonw *w, const struct logql_eval_result *res, bool vector)
{
    jsonw_arr_begin(w);
    for (size_t i = 0; i < res->n_series; i++) {
        const struct logql_out_series *s = &res->series[i];
        jsonw_obj_begin(w);
        jsonw_key_cstr(w, "metric");
        loki_json_labels(w, s->labels, s->n_labels);
        jsonw_key_cstr(w, vector ? "value" : "values");
        if (vector) {
            write_point(w, s->n ? s->ts_ns[0] : 0, s->n ? s->v[0] : 0);
        } else {
            jsonw_arr_begin(w);
            for (size_t k = 0; k < s->n; k++)
                write_point(w, s->ts_ns[k], s->v[k]);
            jsonw_arr_end(w);
        }
        jsonw_obj_end(w);
    }
    jsonw_arr_end(w);
}

static const char *type_name(enum logql_value_type t)
{
    switch (t) {
    case LOGQL_VAL_STREAMS: return "streams";
    case LOGQL_VAL_VECTOR: return "vector";
    case LOGQL_VAL_MATRIX: return "matrix";
    default: return "scalar";
    }
}

/* ---- stats (Loki's stats.Result) ---- */

static void kv_int(struct jsonw *w, const char *k, int64_t v)
{
    jsonw_key_cstr(w, k);
    jsonw_int(w, v);
}

static void kv_float(struct jsonw *w, const char *k, double v)
{
    jsonw_key_cstr(w, k);
    jsonw_float(w, v);
}

static void write_store(struct jsonw *w, const struct query_log_stats *s)
{
    jsonw_obj_begin(w);
    kv_int(w, "totalChunksRef", (int64_t)s->chunks);
    kv_int(w, "totalChunksDownloaded", (int64_t)s->chunks_opened);
    kv_int(w, "chunksDownloadTime", 0);
    jsonw_key_cstr(w, "queryReferencedStructuredMetadata");
    jsonw_bool(w, false);
    jsonw_key_cstr(w, "chunk");
    jsonw_obj_begin(w);
    kv_int(w, "headChunkBytes", 0);
    kv_int(w, "headChunkLines", (int64_t)s->head_entries);
    kv_int(w, "decompressedBytes", (int64_t)s->bytes_decompressed);
    kv_int(w, "decompressedLines", (int64_t)(s->owner_entries - s->head_entries));
    kv_int(w, "compressedBytes", 0);
    kv_int(w, "totalDuplicates", (int64_t)s->duplicates);
    kv_int(w, "postFilterLines", 0);
    kv_int(w, "headChunkStructuredMetadataBytes", 0);
    kv_int(w, "decompressedStructuredMetadataBytes", 0);
    jsonw_obj_end(w);
    kv_int(w, "chunkRefsFetchTime", 0);
    kv_int(w, "congestionControlLatency", 0);
    kv_int(w, "pipelineWrapperFilteredLines", 0);
    jsonw_obj_end(w);
}

static void write_caches(struct jsonw *w)
{
    static const char *const names[] = {
        "chunk",        "index",        "result",      "statsResult",
        "volumeResult", "seriesResult", "labelResult", "instantMetricResult",
        "logResult"};
    static const char *const fields[] = {"entriesFound",  "entriesRequested", "entriesStored",
                                         "bytesReceived", "bytesSent",        "requests",
                                         "downloadTime",  "queryLengthServed"};
    jsonw_obj_begin(w);
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        jsonw_key_cstr(w, names[i]);
        jsonw_obj_begin(w);
        for (size_t k = 0; k < sizeof fields / sizeof fields[0]; k++)
            kv_int(w, fields[k], 0);
        jsonw_obj_end(w);
    }
    jsonw_obj_end(w);
}

static void write_stats(struct jsonw *w, const struct logql_eval_result *res,
                        const struct query_log_stats *s, int64_t exec_ns, int64_t queue_ns)
{
    double exec_s = exec_ns / 1e9;
    /* what the owners read (their pre-filter included), else what the evaluator saw */
    uint64_t bytes =
        res->stats.bytes_scanned > s->scanned_bytes ? res->stats.bytes_scanned : s->scanned_bytes;
    uint64_t lines = res->stats.entries_scanned > s->scanned_entries ? res->stats.entries_scanned
                                                                     : s->scanned_entries;
    jsonw_key_cstr(w, "stats");
    jsonw_obj_begin(w);
    jsonw_key_cstr(w, "summary");
    jsonw_obj_begin(w);
    kv_int(w, "bytesProcessedPerSecond", exec_s > 0 ? (int64_t)(bytes / exec_s) : 0);
    kv_int(w, "linesProcessedPerSecond", exec_s > 0 ? (int64_t)(lines / exec_s) : 0);
    kv_int(w, "totalBytesProcessed", (int64_t)bytes);
    kv_int(w, "totalLinesProcessed", (int64_t)lines);
    kv_float(w, "execTime", exec_s);
    kv_float(w, "queueTime", queue_ns / 1e9);
    kv_int(w, "subqueries", 0);
    kv_int(w, "totalEntriesReturned", (int64_t)res->stats.entries_kept);
    kv_int(w, "splits", 0);
    kv_int(w, "shards", 0);
    kv_int(w, "totalPostFilterLines", (int64_t)res->stats.entries_kept);
    kv_int(w, "totalStructuredMetadataBytesProcessed", 0);
    jsonw_obj_end(w);
    jsonw_key_cstr(w, "querier");
    jsonw_obj_begin(w);
    jsonw_key_cstr(w, "store");
    write_store(w, s);
    kv_float(w, "querierExecTime", exec_s);
    jsonw_obj_end(w);
    jsonw_key_cstr(w, "ingester");
    jsonw_obj_begin(w);
    kv_int(w, "totalReached", s->shards_done);
    kv_int(w, "totalChunksMatched", 0);
    kv_int(w, "totalBatches", 0);
    kv_int(w, "totalLinesSent", 0);
    jsonw_key_cstr(w, "store");
    write_store(w, &(struct query_log_stats){0});
    jsonw_obj_end(w);
    jsonw_key_cstr(w, "cache");
    write_caches(w);
    jsonw_key_cstr(w, "index");
    jsonw_obj_begin(w);
    kv_int(w, "totalChunks", (int64_t)s->chunks);
    kv_int(w, "postFilterChunks", (int64_t)(s->chunks - s->chunks_skipped_hint));
    kv_int(w, "shardsDuration", 0);
    jsonw_key_cstr(w, "usedBloomFilters");
    jsonw_bool(w, false);
    kv_int(w, "totalStreams", (int64_t)s->streams);
    jsonw_obj_end(w);
    jsonw_obj_end(w);
}

static void write_result(struct loki_req *r, const struct logql_eval_result *res,
                         const struct query_log_stats *s, int64_t exec_ns, int64_t queue_ns)
{
    const struct eval_extra *e = r->extra;
    bool categorize = e->p.categorize_labels;
    struct jsonw w;
    loki_json_begin(r, &w);
    jsonw_obj_begin(&w);
    jsonw_key_cstr(&w, "resultType");
    jsonw_cstr(&w, type_name(res->type));
    if (categorize) {
        jsonw_key_cstr(&w, "encodingFlags");
        jsonw_arr_begin(&w);
        jsonw_cstr(&w, "categorize-labels");
        jsonw_arr_end(&w);
    }
    jsonw_key_cstr(&w, "result");
    if (res->type == LOGQL_VAL_STREAMS)
        write_streams(&w, res, categorize);
    else if (res->type == LOGQL_VAL_SCALAR)
        write_point(&w, res->scalar_ts_ns, res->scalar);
    else
        write_series(&w, res, res->type == LOGQL_VAL_VECTOR);
    write_stats(&w, res, s, exec_ns, queue_ns);
    jsonw_obj_end(&w);
    loki_json_end(r, &w);
}

/* ---- evaluation (query thread) ---- */

static void run_eval(struct loki_req *r, struct query_job *j)
{
    struct eval_extra *e = r->extra;
    struct query_log_source src = {.job = j};
    struct logql_eval_result res = {0};
    char err[LOKI_ERR_MAX] = "";
    int64_t t0 = clock_mono_ns();
    int rc = logql_eval(r->q, &e->p, query_log_source_ops(), &src, &res, err, sizeof err);
    int64_t exec_ns = clock_mono_ns() - t0;
    if (rc == 0 && (rc = query_job_check(j)) != 0)
        logql_eval_result_free(&res);
    if (rc) {
        loki_fail_rc(r, rc, err);
        return;
    }
    write_result(r, &res, &src.stats, exec_ns, t0 - r->received_ns);
    logql_eval_result_free(&res);
}

/* ---- handlers (shard thread) ---- */

static struct loki_req *eval_req(struct http_exchange *x)
{
    struct loki_req *r = loki_req_new(x, run_eval, sizeof(struct eval_extra));
    if (!r)
        return NULL;
    struct eval_extra *e = r->extra;
    e->p.max_series = x->srv->cfg->loki_max_query_series;
    e->p.max_entries_limit = x->srv->cfg->loki_max_entries_limit;
    e->p.categorize_labels =
        loki_flags_categorize(http_header(x, "x-loki-response-encoding-flags"));
    return r;
}

/* limit and direction; answers 400 on errors. */
static bool limit_direction(struct loki_req *r, struct eval_extra *e)
{
    char err[LOKI_ERR_MAX];
    if (!loki_param_limit(r, "limit", LOKI_DEFAULT_LIMIT, &e->p.limit))
        return false;
    if (loki_parse_direction(loki_param(r, "direction"), &e->p.backward, err, sizeof err))
        return loki_bad(r, err);
    return true;
}

void handler_loki_query(struct http_exchange *x)
{
    struct loki_req *r = eval_req(x);
    if (!r)
        return;
    struct eval_extra *e = r->extra;
    char err[LOKI_ERR_MAX];
    int64_t t = clock_real_ns();
    struct str tv = loki_param(r, "time");
    bool ok = limit_direction(r, e);
    if (ok && tv.len && loki_parse_time(tv, &t, err, sizeof err))
        ok = loki_bad(r, err);
    if (ok)
        ok = loki_param_query(r, LOKI_QUERY_ANY);
    if (ok && r->q->root->kind == LOGQL_EXPR_LOG)
        ok = loki_bad(r, ERR_INSTANT_LOG);
    e->p.instant = true;
    e->p.start_ns = e->p.end_ns = t;
    e->p.step_ns = 0;
    loki_req_submit(r, ok);
}

/* start, end, step and interval of a range query; answers 400 on errors. */
static bool range_params(struct loki_req *r, struct eval_extra *e)
{
    int64_t step, interval = 0;
    if (!loki_param_bounds(r, true) || !limit_direction(r, e) || !loki_param_step(r, &step) ||
        !loki_param_duration(r, "interval", &interval))
        return false;
    if (interval < 0)
        return loki_bad(r, "interval must be >= 0");
    e->p.start_ns = r->start_ns;
    e->p.end_ns = r->end_ns;
    e->p.step_ns = step;
    e->p.interval_ns = interval;
    return true;
}

void handler_loki_query_range(struct http_exchange *x)
{
    struct loki_req *r = eval_req(x);
    if (!r)
        return;
    loki_req_submit(r, range_params(r, r->extra) && loki_param_query(r, LOKI_QUERY_ANY));
}
