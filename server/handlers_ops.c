/* Operational endpoints: /ready, /-/ready, /-/healthy, /metrics, and the Prometheus and Loki
 * buildinfo endpoints (api-contract §2.2, §4.3: same six string keys, no "features"). */
#include <stdlib.h>
#include <string.h>

#include "engine/io/loop.h"
#include "engine/shard/mesh.h"
#include "server/buildinfo.h"
#include "server/exchange.h"
#include "server/handlers.h"
#include "server/http/response.h"
#include "server/ingest.h"
#include "server/logingest.h"
#include "server/metrics.h"
#include "server/server.h"
#include "server/shard.h"

void handler_ready(struct http_exchange *x)
{
    switch (server_state_get(x->srv)) {
    case SERVER_SERVING: http_reply_text(x, 200, "ready\n"); return;
    case SERVER_STARTING: http_reply_text(x, 503, "not ready: starting\n"); return;
    default: http_reply_text(x, 503, "not ready: shutting down\n"); return;
    }
}

void handler_healthy(struct http_exchange *x)
{
    http_reply_text(x, 200, "strata is Healthy.\n");
}

void handler_metrics(struct http_exchange *x)
{
    struct server *srv = x->srv;
    struct shard_metrics *ms[256];
    uint64_t busy[256], iters[256];
    uint32_t n = srv->nshards < 256 ? srv->nshards : 256;
    for (uint32_t i = 0; i < n; i++) {
        ms[i] = srv->shards[i]->metrics;
        busy[i] = loop_busy_ns(&srv->shards[i]->loop);
        iters[i] = loop_iterations(&srv->shards[i]->loop);
    }
    const struct buildinfo *bi = buildinfo_get();
    struct metrics_input in = {
        .nshards = n,
        .shards = ms,
        .busy_ns = busy,
        .iterations = iters,
        .route_names = srv->route_names,
        .nroutes = (uint32_t)server_routes_n + 1,
        .mesh = srv->mesh != NULL,
        .version = bi->version,
        .revision = bi->revision,
        .branch = bi->branch,
    };
    uint32_t *depth = srv->mesh ? malloc((size_t)n * n * sizeof *depth) : NULL;
    for (uint32_t f = 0; depth && f < n; f++)
        for (uint32_t t = 0; t < n; t++)
            depth[f * n + t] = mesh_lane_depth(srv->mesh, f, t);
    in.lane_depth = depth;
    buf_reset(x->body_out);
    int rc = metrics_render(x->body_out, &in);
    free(depth);
    if (rc == 0) {
        struct ingest_shard *ing[256];
        struct tsdb *dbs[256];
        for (uint32_t i = 0; i < n; i++) {
            ing[i] = srv->shards[i]->ingest;
            dbs[i] = srv->shards[i]->tsdb;
        }
        rc = ingest_metrics_render(x->body_out, ing, dbs, n);
    }
    if (rc == 0) {
        struct logingest_shard *lis[256];
        struct logstore *lss[256];
        for (uint32_t i = 0; i < n; i++) {
            lis[i] = srv->shards[i]->logingest;
            lss[i] = srv->shards[i]->logs;
        }
        rc = logingest_metrics_render(x->body_out, lis, lss, n);
    }
    if (rc != 0) {
        http_reply_error(x, 500, "out of memory");
        return;
    }
    http_reply(x, 200, "text/plain; version=0.0.4; charset=utf-8");
}

/* {"version":..,"revision":..,"branch":..,"buildUser":..,"buildDate":..,"goVersion":..} */
static int buildinfo_json(struct buf *b)
{
    const struct buildinfo *bi = buildinfo_get();
    const char *keys[] = {"version", "revision", "branch", "buildUser", "buildDate", "goVersion"};
    const char *vals[] = {bi->version,    bi->revision,   bi->branch,
                          bi->build_user, bi->build_date, bi->go_version};
    int rc = buf_append_u8(b, '{');
    for (int i = 0; i < 6 && !rc; i++) {
        if (i)
            rc = buf_append_u8(b, ',');
        if (!rc)
            rc = http_json_append_str(b, keys[i], strlen(keys[i]));
        if (!rc)
            rc = buf_append_u8(b, ':');
        if (!rc)
            rc = http_json_append_str(b, vals[i], strlen(vals[i]));
    }
    return rc ? rc : buf_append_u8(b, '}');
}

void handler_prom_buildinfo(struct http_exchange *x)
{
    struct buf *b = x->body_out;
    buf_reset(b);
    int rc = buf_append_str(b, "{\"status\":\"success\",\"data\":");
    if (!rc)
        rc = buildinfo_json(b);
    if (!rc)
        rc = buf_append_u8(b, '}');
    if (rc) {
        http_reply_error(x, 500, "out of memory");
        return;
    }
    http_reply(x, 200, "application/json");
}

void handler_loki_buildinfo(struct http_exchange *x)
{
    buf_reset(x->body_out);
    if (buildinfo_json(x->body_out) != 0) {
        http_reply_error(x, 500, "out of memory");
        return;
    }
    http_reply(x, 200, "application/json");
}
