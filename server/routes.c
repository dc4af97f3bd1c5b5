/* The route table and the path matcher. Routes the engine does not implement yet are absent (they
 * answer 404), never faked. */
#include "server/routes.h"

#include <stdio.h>
#include <string.h>

#include "base/assert.h"
#include "server/api_loki.h"
#include "server/api_loki_push.h"
#include "server/api_loki_tail.h"
#include "server/api_prom.h"
#include "server/api_write.h"
#include "server/handlers.h"
#include "server/http/encoding.h"
#include "server/http/parser.h"
#include "server/http/query.h"

#define PROM   ROUTE_STYLE_PROM
#define TEXT   ROUTE_STYLE_TEXT
#define NOGZ   ROUTE_NO_GZIP
#define C400   ROUTE_CODING_400
#define SNAPPY HTTP_CODING_SNAPPY
#define LOKI   (HTTP_CODING_GZIP | HTTP_CODING_DEFLATE | HTTP_CODING_SNAPPY)

/* clang-format off */
const struct route server_routes[] = {
    /* methods   pattern                           handler                 style  flags  codings  body */
    /* operational endpoints */
    {HTTP_GET,  "/ready",                          handler_ready,           TEXT,  0,     0,       0},
    {HTTP_GET,  "/-/ready",                        handler_ready,           TEXT,  0,     0,       0},
    {HTTP_GET,  "/-/healthy",                      handler_healthy,         TEXT,  0,     0,       0},
    {HTTP_GET,  "/metrics",                        handler_metrics,         TEXT,  0,     0,       0},
    /* Prometheus HTTP API (api-contract §2.2); /api/v1/status/flags is deliberately absent */
    {HTTP_GET,  "/api/v1/status/buildinfo",        handler_prom_buildinfo,  PROM,  0,     0,       0},
    {HTTP_GET|HTTP_POST, "/api/v1/query",        handler_prom_query,      PROM,  0,     0,       0},
    {HTTP_GET|HTTP_POST, "/api/v1/query_range",  handler_prom_query_range, PROM,  0,     0,       0},
    {HTTP_GET|HTTP_POST, "/api/v1/series",       handler_prom_series,     PROM,  0,     0,       0},
    {HTTP_GET|HTTP_POST, "/api/v1/labels",       handler_prom_labels,     PROM,  0,     0,       0},
    {HTTP_GET|HTTP_POST, "/api/v1/label/<name>/values", handler_prom_label_values, PROM, 0, 0,     0},
    {HTTP_GET|HTTP_POST, "/api/v1/metadata",     handler_prom_metadata,   PROM,  0,     0,       0},
    {HTTP_GET|HTTP_POST, "/api/v1/query_exemplars", handler_prom_query_exemplars, PROM, 0, 0,    0},
    {HTTP_GET|HTTP_POST, "/api/v1/format_query", handler_prom_format_query, PROM, 0,     0,       0},
    {HTTP_GET|HTTP_POST, "/api/v1/rules",        handler_prom_rules,      PROM,  0,     0,       0},
    {HTTP_GET,  "/api/v1/status/tsdb",             handler_prom_tsdb_status, PROM, 0,     0,       0},
    /* Prometheus remote write 1.0/2.0 (api-contract §1): plain-text errors, snappy bodies only */
    {HTTP_POST, "/api/v1/write",                   handler_remote_write,    TEXT,  NOGZ,  SNAPPY,  0},
    {HTTP_POST, "/api/v1/push",                    handler_remote_write,    TEXT,  NOGZ,  SNAPPY,  0},
    /* Loki push (api-contract §3): JSON (gzip/deflate) or snappy protobuf, plain-text errors */
    {HTTP_POST, "/loki/api/v1/push",               handler_loki_push,       TEXT,  NOGZ|C400, LOKI, 0},
    /* Loki HTTP API (api-contract §4.3) */
    {HTTP_GET,  "/loki/api/v1/status/buildinfo",   handler_loki_buildinfo,  TEXT,  0,     0,       0},
    /* Loki query API (api-contract §4.2, §4.3) */
    {HTTP_GET|HTTP_POST, "/loki/api/v1/query",     handler_loki_query,      TEXT,  0,     0,       0},
    {HTTP_GET|HTTP_POST, "/loki/api/v1/query_range", handler_loki_query_range, TEXT, 0,   0,       0},
    {HTTP_GET|HTTP_POST, "/loki/api/v1/labels",    handler_loki_labels,     TEXT,  0,     0,       0},
    {HTTP_GET|HTTP_POST, "/loki/api/v1/label",     handler_loki_labels,     TEXT,  0,     0,       0},
    {HTTP_GET|HTTP_POST, "/loki/api/v1/label/<name>/values", handler_loki_label_values, TEXT, 0, 0, 0},
    {HTTP_GET|HTTP_POST, "/loki/api/v1/series",    handler_loki_series,     TEXT,  0,     0,       0},
    {HTTP_GET|HTTP_POST, "/loki/api/v1/index/stats", handler_loki_index_stats, TEXT, 0,   0,       0},
    {HTTP_GET|HTTP_POST, "/loki/api/v1/index/volume", handler_loki_volume,  TEXT,  0,     0,       0},
    {HTTP_GET|HTTP_POST, "/loki/api/v1/index/volume_range", handler_loki_volume_range, TEXT, 0, 0, 0},
    {HTTP_GET|HTTP_POST, "/loki/api/v1/format_query", handler_loki_format_query, TEXT, 0,  0,       0},
    /* Loki tail (WebSocket), detected fields/labels, patterns (docs/api.md) */
    {HTTP_GET,  "/loki/api/v1/tail",               handler_loki_tail,       TEXT,  NOGZ,  0,       0},
    {HTTP_GET|HTTP_POST, "/loki/api/v1/detected_fields", handler_loki_detected_fields, TEXT, 0, 0, 0},
    {HTTP_GET|HTTP_POST, "/loki/api/v1/detected_field/<name>/values", handler_loki_detected_field_values, TEXT, 0, 0, 0},
    {HTTP_GET|HTTP_POST, "/loki/api/v1/detected_labels", handler_loki_detected_labels, TEXT, 0, 0, 0},
    {HTTP_GET|HTTP_POST, "/loki/api/v1/patterns",  handler_loki_patterns,   TEXT,  0,     0,       0},
};
/* clang-format on */
const size_t server_routes_n = sizeof server_routes / sizeof server_routes[0];

struct raw_params {
    uint32_t n;
    struct str name[ROUTE_PARAMS_MAX];
    struct str raw[ROUTE_PARAMS_MAX];
};

static bool match_path(const char *pat, struct str path, struct raw_params *rp)
{
    size_t i = 0;
    rp->n = 0;
    while (*pat) {
        if (*pat != '<') {
            if (i >= path.len || path.ptr[i] != *pat)
                return false;
            i++;
            pat++;
            continue;
        }
        const char *close = strchr(pat, '>');
        ASSERT(close && rp->n < ROUTE_PARAMS_MAX);
        size_t j = i;
        while (j < path.len && path.ptr[j] != '/')
            j++;
        if (j == i)
            return false;
        rp->name[rp->n] = (struct str){pat + 1, (size_t)(close - pat - 1)};
        rp->raw[rp->n] = (struct str){path.ptr + i, j - i};
        rp->n++;
        i = j;
        pat = close + 1;
    }
    return i == path.len;
}

static bool decode_params(const struct raw_params *rp, struct route_params *out)
{
    size_t used = 0;
    out->n = 0;
    for (uint32_t k = 0; k < rp->n; k++) {
        if (rp->raw[k].len > sizeof out->storage - used)
            return false;
        char *dst = out->storage + used;
        int64_t n = http_pct_decode(dst, rp->raw[k].ptr, rp->raw[k].len, false);
        if (n < 0)
            return false;
        out->items[k].name = rp->name[k];
        out->items[k].value = (struct str){dst, (size_t)n};
        used += (size_t)n;
        out->n++;
    }
    return true;
}

static bool method_ok(unsigned allowed, unsigned method)
{
    return (allowed & method) || (method == HTTP_HEAD && (allowed & HTTP_GET));
}

enum route_result route_match(const struct route *table, size_t n, unsigned method, struct str path,
                              const struct route **out, struct route_params *params,
                              unsigned *allow)
{
    struct raw_params rp;
    *allow = 0;
    for (size_t i = 0; i < n; i++) {
        if (!match_path(table[i].pattern, path, &rp))
            continue;
        if (!method_ok(table[i].methods, method)) {
            *allow |= table[i].methods;
            continue;
        }
        if (!decode_params(&rp, params))
            return ROUTE_BAD_PARAM;
        *out = &table[i];
        return ROUTE_FOUND;
    }
    return *allow ? ROUTE_NOT_ALLOWED : ROUTE_NOT_FOUND;
}

bool route_param(const struct route_params *params, const char *name, struct str *value)
{
    for (uint32_t i = 0; i < params->n; i++) {
        if (str_eq_cstr(params->items[i].name, name)) {
            *value = params->items[i].value;
            return true;
        }
    }
    return false;
}

void route_allow_header(unsigned methods, char *out, size_t size)
{
    static const unsigned order[] = {HTTP_GET,    HTTP_HEAD,    HTTP_POST, HTTP_PUT,
                                     HTTP_DELETE, HTTP_OPTIONS, HTTP_PATCH};
    if (methods & HTTP_GET)
        methods |= HTTP_HEAD;
    size_t o = 0;
    out[0] = 0;
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
        if (!(methods & order[i]))
            continue;
        int w = snprintf(out + o, size - o, "%s%s", o ? ", " : "", http_method_name(order[i]));
        if (w < 0 || (size_t)w >= size - o)
            return;
        o += (size_t)w;
    }
}

enum route_style route_style_for_path(struct str path)
{
    static const char prefix[] = "/api/v1/";
    if (path.len >= sizeof prefix - 1 && memcmp(path.ptr, prefix, sizeof prefix - 1) == 0)
        return ROUTE_STYLE_PROM;
    return ROUTE_STYLE_TEXT;
}
