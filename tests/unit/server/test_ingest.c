/* The ingest pipeline without HTTP and without a real TSDB: Content-Type negotiation, splitting by
 * owner (tenant label, hash, owner, exact sample bits), a whole multi-shard write driven on one
 * thread over a real mesh with fake stores (deferred durability), reply aggregation (204, 400 with
 * the first bad series and counts, 413, 500, 503 + Retry-After), a full mesh lane timing out,
 * RW 2.0 counts (native histograms validated and stored, exemplars never claimed written),
 * metadata, decode errors, and the per-tenant series limit with its recount. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/error.h"
#include "base/hash.h"
#include "engine/shard/mesh.h"
#include "formats/wire/rw.h"
#include "server/api_write.h"
#include "server/ingest.h"
#include "tests/unit/prop.h"
#include "tests/unit/server/push_fixture.h"

#define NS_MAX PUSH_NS_MAX

/* ---- a fake store: checks ownership, rejects old samples, defers durability ---- */

struct fake {
    uint32_t shard, nshards;
    int refuse;            /* tsdb_append's return when nonzero */
    int64_t reject_before; /* samples older than this: TSDB_REJECT_TOO_OLD */
    uint64_t samples, series_calls;
    bool wrong_owner, bad_hash, no_tenant;
    struct push_pending *pend; /* the world's, for this shard */
    uint64_t hashes[1024];     /* series created */
    uint32_t nhashes;
    uint64_t removed;
    uint64_t tenant_override; /* when nonzero: tenant_series answer */
    uint64_t bits_sum;        /* of every accepted sample's value bits */
};

static bool fake_has(struct fake *f, uint64_t h)
{
    for (uint32_t i = 0; i < f->nhashes; i++)
        if (f->hashes[i] == h)
            return true;
    return false;
}

static bool has_tenant(const struct tsdb_series_in *in)
{
    for (size_t i = 0; i < in->n_labels; i++)
        if (str_eq_cstr(in->labels[i].name, "__tenant__"))
            return true;
    return false;
}

static void fake_series(struct fake *f, const struct tsdb_series_in *in,
                        struct tsdb_append_result *res)
{
    f->series_calls++;
    if (hash_to_range(in->hash, f->nshards) != f->shard)
        f->wrong_owner = true;
    if (hash_labels(in->labels, in->n_labels) != in->hash)
        f->bad_hash = true;
    if (!has_tenant(in))
        f->no_tenant = true;
    if (!fake_has(f, in->hash) && f->nhashes < 1024) {
        f->hashes[f->nhashes++] = in->hash;
        res->series_created++;
    }
    for (size_t k = 0; k < in->n_samples; k++) {
        if (in->samples[k].t_ms < f->reject_before) {
            res->rejected[TSDB_REJECT_TOO_OLD]++;
            res->rejected_total++;
            if (res->first_reject < 0) {
                res->first_reject = TSDB_REJECT_TOO_OLD;
                snprintf(res->reason, sizeof res->reason, "too old sample for series {x}");
            }
            continue;
        }
        res->accepted++;
        f->samples++;
        f->bits_sum += in->samples[k].v_bits;
    }
}

static int fake_append(void *store, const struct tsdb_series_in *series, size_t n,
                       struct tsdb_append_result *res, tsdb_commit_fn cb, void *arg)
{
    struct fake *f = store;
    if (f->refuse)
        return f->refuse;
    memset(res, 0, sizeof *res);
    res->first_reject = -1;
    for (size_t i = 0; i < n; i++)
        fake_series(f, &series[i], res);
    push_pending_add(f->pend, cb, arg);
    return 0;
}

/* Histograms: each must pass the storage rules; all are accepted. */
static int fake_append_hists(void *store, const struct tsdb_series_in *series,
                             const struct tsdb_hists_in *hists, size_t n,
                             struct tsdb_append_result *res, tsdb_commit_fn cb, void *arg)
{
    int rc = fake_append(store, series, n, res, cb, arg);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        for (size_t k = 0; k < hists[i].n; k++) {
            const struct tsdb_hist_sample *x = &hists[i].hists[k];
            assert_int_equal(histchunk_hist_check(&x->h, x->is_float, NULL), 0);
            res->accepted++;
            res->hist_accepted++;
        }
    }
    return rc;
}

static bool fake_exists(void *store, const struct label *labels, size_t n, uint64_t hash)
{
    (void)labels;
    (void)n;
    return fake_has(store, hash);
}

static uint64_t fake_tenant_series(void *store, struct str tenant)
{
    (void)tenant;
    struct fake *f = store;
    return f->tenant_override ? f->tenant_override : f->nhashes;
}

static uint64_t fake_removed(void *store)
{
    return ((struct fake *)store)->removed;
}

static const struct ingest_store_ops fake_ops = {
    .append = fake_append,
    .append_hists = fake_append_hists,
    .exists = fake_exists,
    .tenant_series = fake_tenant_series,
    .series_removed = fake_removed,
};

/* ---- a world: N shards on one thread (push_fixture.h) ---- */

struct world {
    struct push_world pw; /* first */
    struct ingest_shard *ish[NS_MAX];
    struct fake fake[NS_MAX];
};

static void *shard_create(struct push_world *pw, uint32_t i, const void *cfg)
{
    struct world *w = (struct world *)pw;
    assert_int_equal(ingest_shard_create(cfg, i, pw->n, pw->mesh, &w->ish[i]), 0);
    w->fake[i] = (struct fake){
        .shard = i, .nshards = pw->n, .reject_before = INT64_MIN, .pend = &pw->pending[i]};
    ingest_shard_set_store(w->ish[i], &fake_ops, &w->fake[i]);
    return w->ish[i];
}

PUSH_WORLD_OPS(world_ops, struct ingest_shard, shard_create, ingest_on_message, ingest_shard_poll,
               ingest_shard_idle, ingest_shard_destroy);
PUSH_OUTCOME(struct ingest_reply)

static void world_init(struct world *w, uint32_t n, uint32_t lane_cap, struct ingest_config *cfg)
{
    struct ingest_config def;
    ingest_config_default(&def);
    memset(w, 0, sizeof *w);
    push_world_init(&w->pw, &world_ops, n, lane_cap, cfg ? cfg : &def);
}

static void world_deinit(struct world *w)
{
    push_world_deinit(&w->pw);
}

/* ---- request builders ---- */

struct series_spec {
    const char *name; /* __name__, NULL: none */
    const char *job;  /* job label */
    uint32_t n;       /* samples */
    int64_t t0;       /* first timestamp */
};

/* A v1 body of the given series; samples t0, t0+1000, ... with value i*10+k. */
static void body_v1(struct buf *b, const struct series_spec *sp, size_t n)
{
    struct rw_series rs[64];
    struct label ls[64][2];
    struct rw_sample smp[64][16];
    assert_true(n <= 64);
    for (size_t i = 0; i < n; i++) {
        size_t k = 0;
        if (sp[i].name)
            ls[i][k++] = (struct label){str_from_cstr("__name__"), str_from_cstr(sp[i].name)};
        ls[i][k++] = (struct label){str_from_cstr("job"), str_from_cstr(sp[i].job)};
        for (uint32_t s = 0; s < sp[i].n; s++)
            smp[i][s] = (struct rw_sample){sp[i].t0 + 1000 * s, (double)(i * 10 + s)};
        rs[i] = (struct rw_series){ls[i], k, smp[i], sp[i].n};
    }
    buf_reset(b);
    assert_int_equal(rw1_encode(rs, n, b), 0);
}

static void write_v1(struct world *w, uint32_t on, const struct series_spec *sp, size_t n,
                     struct outcome *o)
{
    struct buf b = BUF_INIT;
    body_v1(&b, sp, n);
    ingest_write(w->ish[on], INGEST_RW1, STR_LIT("acme"), b.data, b.len, on_done, o);
    buf_deinit(&b);
}

/* A job value whose series {__name__="m", job=...} of tenant acme is owned by `owner`. */
static const char *job_owned_by(uint32_t owner, uint32_t n, int skip)
{
    static char out[8][32];
    static int slot;
    for (int i = 0;; i++) {
        char job[32];
        snprintf(job, sizeof job, "j%d", i);
        struct label ls[3] = {{STR_LIT("__name__"), STR_LIT("m")},
                              {STR_LIT("__tenant__"), STR_LIT("acme")},
                              {STR_LIT("job"), str_from_cstr(job)}};
        if (hash_to_range(hash_labels(ls, 3), n) == owner && skip-- == 0) {
            slot = (slot + 1) % 8;
            snprintf(out[slot], sizeof out[slot], "%s", job);
            return out[slot];
        }
    }
}

/* ---- tests ---- */

static void test_proto_negotiation(void **state)
{
    (void)state;
    char why[256];
    assert_int_equal(api_write_proto(STR_LIT(""), why, sizeof why), INGEST_RW1);
    assert_int_equal(api_write_proto(STR_LIT("application/x-protobuf"), why, sizeof why), 1);
    assert_int_equal(api_write_proto(STR_LIT("Application/X-Protobuf"), why, sizeof why), 1);
    assert_int_equal(
        api_write_proto(STR_LIT("application/x-protobuf;proto=prometheus.WriteRequest"), why,
                        sizeof why),
        INGEST_RW1);
    assert_int_equal(
        api_write_proto(STR_LIT("application/x-protobuf; proto=io.prometheus.write.v2.Request"),
                        why, sizeof why),
        INGEST_RW2);
    assert_int_equal(
        api_write_proto(STR_LIT("application/x-protobuf;charset=x;proto=\"io.prometheus.write.v2."
                                "Request\""),
                        why, sizeof why),
        INGEST_RW2);
    assert_int_equal(api_write_proto(STR_LIT("application/x-protobuf;proto=foo"), why, sizeof why),
                     0);
    assert_non_null(strstr(why, "proto=foo"));
    assert_int_equal(api_write_proto(STR_LIT("application/json"), why, sizeof why), 0);
    assert_non_null(strstr(why, "unsupported Content-Type"));
    assert_int_equal(api_write_proto(STR_LIT("application/x-protobuf;proto"), why, sizeof why), 0);
    assert_int_equal(api_write_proto(STR_LIT("application/x-protobufx"), why, sizeof why), 0);
}

static void test_split_owners_and_bits(void **state)
{
    (void)state;
    struct prop p = prop_begin("split");
    struct world w;
    world_init(&w, 4, 64, NULL);
    struct rw_series rs[200];
    struct label ls[200][3];
    struct rw_sample smp[200][3];
    char vals[200][2][24];
    for (int i = 0; i < 200; i++) {
        snprintf(vals[i][0], 24, "i%llu", (unsigned long long)(prop_next(&p) % 1000));
        snprintf(vals[i][1], 24, "j%d", i);
        ls[i][0] = (struct label){STR_LIT("__name__"), STR_LIT("up")};
        ls[i][1] = (struct label){STR_LIT("instance"), str_from_cstr(vals[i][0])};
        ls[i][2] = (struct label){STR_LIT("job"), str_from_cstr(vals[i][1])};
        uint64_t stale = 0x7ff0000000000002ull;
        double dstale;
        memcpy(&dstale, &stale, 8);
        smp[i][0] = (struct rw_sample){1000, (double)i};
        uint64_t nan_payload = 0x7ff8000000000001ull;
        double dnan;
        memcpy(&dnan, &nan_payload, 8);
        smp[i][1] = (struct rw_sample){2000, dnan};
        smp[i][2] = (struct rw_sample){3000, dstale};
        rs[i] = (struct rw_series){ls[i], 3, smp[i], 3};
    }
    struct buf b = BUF_INIT;
    assert_int_equal(rw1_encode(rs, 200, &b), 0);
    struct ingest_req *r = ingest_req_begin(w.ish[1], INGEST_RW1, STR_LIT("t1"));
    assert_non_null(r);
    assert_int_equal(ingest_req_decode(r, b.data, b.len), 0);
    buf_deinit(&b); /* the decoded request keeps no reference to the body */
    assert_int_equal(ingest_req_split(r), 0);
    uint32_t total = 0, last_owner = 0;
    for (uint32_t k = 0; k < ingest_req_nparts(r); k++) {
        const struct ingest_part *pt = ingest_req_part(r, k);
        assert_true(k == 0 || pt->owner > last_owner);
        last_owner = pt->owner;
        assert_int_equal(pt->hdr.type, INGEST_MSG_APPEND);
        assert_int_equal(pt->hdr.owner, 1);
        uint32_t prev_idx = 0;
        for (uint32_t s = 0; s < pt->n_series; s++) {
            const struct tsdb_series_in *in = &pt->series[s];
            assert_int_equal(in->n_labels, 4);
            assert_true(str_eq_cstr(in->labels[1].name, "__tenant__"));
            assert_true(str_eq_cstr(in->labels[1].value, "t1"));
            assert_int_equal(in->hash, hash_labels(in->labels, 4));
            assert_int_equal(hash_to_range(in->hash, 4), pt->owner);
            int idx = atoi(in->labels[3].value.ptr + 1);
            assert_true(s == 0 || (uint32_t)idx > prev_idx); /* request order kept */
            if (s == 0)
                assert_int_equal(pt->first_index, idx);
            prev_idx = (uint32_t)idx;
            assert_int_equal(in->n_samples, 3);
            double d = (double)idx;
            uint64_t bits;
            memcpy(&bits, &d, 8);
            assert_int_equal(in->samples[0].v_bits, bits);
            assert_int_equal(in->samples[1].v_bits, 0x7ff8000000000001ull); /* NaN payload */
            assert_int_equal(in->samples[2].v_bits, 0x7ff0000000000002ull); /* stale marker */
            assert_int_equal(in->samples[2].t_ms, 3000);
        }
        total += pt->n_series;
    }
    assert_int_equal(total, 200);
    assert_true(ingest_req_nparts(r) >= 2); /* 200 series spread over 4 shards */
    ingest_req_free(r);
    world_deinit(&w);
}

static void test_multi_shard_write_204(void **state)
{
    (void)state;
    struct world w;
    world_init(&w, 4, 64, NULL);
    struct series_spec sp[24];
    char jobs[24][16];
    for (int i = 0; i < 24; i++) {
        snprintf(jobs[i], sizeof jobs[i], "job%d", i);
        sp[i] = (struct series_spec){"up", jobs[i], 5, 1000};
    }
    struct outcome o = {0};
    write_v1(&w, 2, sp, 24, &o);
    assert_int_equal(o.calls, 0); /* waits for durability */
    push_world_run(&w.pw, &o.calls, 1);
    assert_int_equal(o.reply.status, 204);
    assert_int_equal(o.reply.samples_total, 120);
    assert_int_equal(o.reply.samples_written, 120);
    assert_int_equal(o.reply.samples_rejected, 0);
    assert_string_equal(o.reply.text, "");
    uint64_t stored = 0;
    for (int i = 0; i < 4; i++) {
        assert_false(w.fake[i].wrong_owner);
        assert_false(w.fake[i].bad_hash);
        assert_false(w.fake[i].no_tenant);
        stored += w.fake[i].samples;
    }
    assert_int_equal(stored, 120);
    assert_int_equal(metric_get(&ingest_shard_stats(w.ish[2])->samples_written), 120);
    struct buf m = BUF_INIT;
    assert_int_equal(ingest_metrics_render(&m, w.ish, NULL, 4), 0);
    assert_int_equal(buf_cstr(&m), 0);
    assert_non_null(strstr((char *)m.data, "# TYPE strata_ingest_samples_written_total counter\n"
                                           "strata_ingest_samples_written_total 120\n"));
    assert_non_null(strstr((char *)m.data, "strata_ingest_requests_total 1\n"));
    assert_non_null(strstr((char *)m.data, "strata_ingest_parts_applied_total "));
    buf_deinit(&m);
    world_deinit(&w);
}

static void test_partial_rejection_400(void **state)
{
    (void)state;
    struct world w;
    world_init(&w, 3, 64, NULL);
    for (int i = 0; i < 3; i++)
        w.fake[i].reject_before = 5000; /* samples at 1000..3000 of old series are too old */
    struct series_spec sp[] = {
        {"ok_a", "a", 2, 10000},
        {NULL, "nameless", 3, 10000}, /* invalid: no __name__ */
        {"old", "o", 3, 1000},        /* too old (storage) */
        {"ok_b", "b", 4, 10000},
    };
    struct outcome o = {0};
    write_v1(&w, 0, sp, 4, &o);
    push_world_run(&w.pw, &o.calls, 1);
    assert_int_equal(o.reply.status, 400);
    assert_int_equal(o.reply.samples_total, 12);
    assert_int_equal(o.reply.samples_written, 6);
    assert_int_equal(o.reply.samples_rejected, 6);
    assert_int_equal(o.reply.series_rejected, 1);
    /* the first bad series (index 1) is named, then the counts */
    assert_non_null(strstr(o.reply.text, "series {job=\"nameless\"}: no metric name"));
    assert_non_null(strstr(o.reply.text, "rejected 6 of 12 samples"));
    assert_non_null(strstr(o.reply.text, "3 too old"));
    assert_non_null(strstr(o.reply.text, "3 invalid series"));
    assert_non_null(strstr(o.reply.text, "6 samples written"));
    world_deinit(&w);
}

static void test_refusals(void **state)
{
    (void)state;
    for (size_t c = 0; c < PUSH_REFUSALS; c++) {
        const struct push_refusal *rf = &push_refusals[c];
        struct world w;
        world_init(&w, 2, 64, NULL);
        w.fake[1].refuse = rf->rc;
        struct series_spec sp[2] = {{"m", job_owned_by(0, 2, 0), 2, 1000},
                                    {"m", job_owned_by(1, 2, 0), 2, 1000}};
        struct outcome o = {0};
        write_v1(&w, 0, sp, 2, &o);
        push_world_run(&w.pw, &o.calls, 1);
        assert_int_equal(o.reply.status, rf->status);
        assert_non_null(strstr(o.reply.text, rf->text));
        assert_int_equal(o.reply.retry_after_s, rf->status == 503 ? 1 : 0);
        assert_int_equal(w.fake[0].samples, 2); /* the other owner stored its part */
        world_deinit(&w);
    }
}

static void test_mesh_full_times_out_503(void **state)
{
    (void)state;
    struct ingest_config cfg;
    ingest_config_default(&cfg);
    cfg.mesh_full_timeout_ns = 1000000000LL;
    struct world w;
    world_init(&w, 2, 2, &cfg);
    w.pw.asleep[1] = true; /* shard 1 does not drain its lanes */
    struct series_spec sp[1] = {{"m", job_owned_by(1, 2, 0), 1, 1000}};
    struct outcome o[4] = {{0}};
    for (int i = 0; i < 4; i++)
        write_v1(&w, 0, sp, 1, &o[i]);
    push_world_turn(&w.pw);
    assert_int_equal(o[0].calls + o[1].calls + o[2].calls + o[3].calls, 0);
    push_world_time_out(&w.pw);
    assert_int_equal(outcomes_503(o, 4), 2); /* lane capacity 2: two parts got in, two timed out */
    assert_true(metric_get(&ingest_shard_stats(w.ish[0])->mesh_full_retries) > 0);
    w.pw.asleep[1] = false;
    for (int turn = 0; turn < 10; turn++)
        push_world_turn(&w.pw);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(o[i].calls, 1);
        assert_true(o[i].reply.status == 503 || o[i].reply.status == 204);
    }
    assert_int_equal(w.fake[1].samples, 2);
    world_deinit(&w);
}

/* v2: a series with samples, exemplars and metadata, and a series with a native histogram. */
static void test_v2_counts(void **state)
{
    (void)state;
    struct world w;
    world_init(&w, 2, 64, NULL);
    ProtobufCBinaryData syms[] = {wire_bytes(STR_LIT("")),
                                  wire_bytes(STR_LIT("__name__")),
                                  wire_bytes(STR_LIT("rpc_seconds")),
                                  wire_bytes(STR_LIT("job")),
                                  wire_bytes(STR_LIT("api")),
                                  wire_bytes(STR_LIT("Latency of RPCs.")),
                                  wire_bytes(STR_LIT("seconds")),
                                  wire_bytes(STR_LIT("trace_id")),
                                  wire_bytes(STR_LIT("abc")),
                                  wire_bytes(STR_LIT("rpc_hist"))};
    uint32_t refs1[] = {1, 2, 3, 4}, refs2[] = {1, 9, 3, 4}, exrefs[] = {7, 8};
    Io__Prometheus__Write__V2__Sample s1 = IO__PROMETHEUS__WRITE__V2__SAMPLE__INIT,
                                      s2 = IO__PROMETHEUS__WRITE__V2__SAMPLE__INIT;
    s1.value = 0.5, s1.timestamp = 1000, s2.value = 0.7, s2.timestamp = 2000;
    Io__Prometheus__Write__V2__Sample *sp[] = {&s1, &s2};
    Io__Prometheus__Write__V2__Exemplar ex = IO__PROMETHEUS__WRITE__V2__EXEMPLAR__INIT;
    ex.labels_refs = exrefs, ex.n_labels_refs = 2, ex.value = 0.5, ex.timestamp = 1000;
    Io__Prometheus__Write__V2__Exemplar *exp_[] = {&ex};
    Io__Prometheus__Write__V2__Metadata md = IO__PROMETHEUS__WRITE__V2__METADATA__INIT;
    md.type = IO__PROMETHEUS__WRITE__V2__METADATA__METRIC_TYPE__METRIC_TYPE_GAUGE;
    md.help_ref = 5, md.unit_ref = 6;
    rw2_series t1 = IO__PROMETHEUS__WRITE__V2__TIME_SERIES__INIT;
    t1.labels_refs = refs1, t1.n_labels_refs = 4, t1.samples = sp, t1.n_samples = 2;
    t1.exemplars = exp_, t1.n_exemplars = 1, t1.metadata = &md;
    Io__Prometheus__Write__V2__Histogram h = IO__PROMETHEUS__WRITE__V2__HISTOGRAM__INIT;
    h.count_case = IO__PROMETHEUS__WRITE__V2__HISTOGRAM__COUNT_COUNT_INT;
    h.count_int = 3, h.timestamp = 1000;
    Io__Prometheus__Write__V2__Histogram *hp[] = {&h};
    rw2_series t2 = IO__PROMETHEUS__WRITE__V2__TIME_SERIES__INIT;
    t2.labels_refs = refs2, t2.n_labels_refs = 4, t2.histograms = hp, t2.n_histograms = 1;
    rw2_series *ts[] = {&t1, &t2};
    rw2_request req = IO__PROMETHEUS__WRITE__V2__REQUEST__INIT;
    req.symbols = syms, req.n_symbols = 10, req.timeseries = ts, req.n_timeseries = 2;
    struct buf b = BUF_INIT;
    assert_int_equal(rw2_pack(&req, &b), 0);
    struct outcome o = {0};
    ingest_write(w.ish[0], INGEST_RW2, STR_LIT("acme"), b.data, b.len, on_done, &o);
    push_world_run(&w.pw, &o.calls, 1);
    assert_int_equal(o.reply.proto, INGEST_RW2);
    assert_int_equal(o.reply.status, 400); /* the histogram is invalid: count != buckets */
    assert_int_equal(o.reply.samples_written, 2);
    assert_int_equal(o.reply.histograms_total, 1);
    assert_int_equal(o.reply.histograms_rejected, 1);
    assert_int_equal(o.reply.histograms_written, 0);
    assert_int_equal(o.reply.exemplars_total, 1);
    assert_int_equal(o.reply.exemplars_written, 0); /* dropped, never claimed */
    assert_non_null(strstr(o.reply.text, "invalid native histogram at 1000"));
    assert_non_null(strstr(o.reply.text, "rpc_hist"));
    struct ingest_metadata m;
    assert_true(ingest_metadata_get(w.ish[0], STR_LIT("rpc_seconds"), &m));
    assert_int_equal(m.type, 2);
    assert_true(str_eq_cstr(m.help, "Latency of RPCs."));
    assert_true(str_eq_cstr(m.unit, "seconds"));
    assert_false(ingest_metadata_get(w.ish[0], STR_LIT("rpc_hist"), &m));

    /* a valid histogram (3 observations in the zero bucket) is stored */
    h.zero_count_case = IO__PROMETHEUS__WRITE__V2__HISTOGRAM__ZERO_COUNT_ZERO_COUNT_INT;
    h.zero_count_int = 3;
    buf_reset(&b);
    assert_int_equal(rw2_pack(&req, &b), 0);
    o.calls = 0;
    ingest_write(w.ish[0], INGEST_RW2, STR_LIT("acme"), b.data, b.len, on_done, &o);
    push_world_run(&w.pw, &o.calls, 1);
    assert_int_equal(o.reply.status, 204);
    assert_int_equal(o.reply.histograms_written, 1);
    assert_int_equal(o.reply.histograms_rejected, 0);

    /* the same series without the histogram: 204 with the counts */
    req.n_timeseries = 1;
    buf_reset(&b);
    assert_int_equal(rw2_pack(&req, &b), 0);
    o.calls = 0;
    ingest_write(w.ish[1], INGEST_RW2, STR_LIT("acme"), b.data, b.len, on_done, &o);
    push_world_run(&w.pw, &o.calls, 1);
    assert_int_equal(o.reply.status, 204);
    assert_int_equal(o.reply.samples_written, 2); /* identical duplicates count as written */
    buf_deinit(&b);
    world_deinit(&w);
}

static void test_v1_metadata_only_and_limit(void **state)
{
    (void)state;
    struct ingest_config cfg;
    ingest_config_default(&cfg);
    cfg.metadata_max = 2;
    struct world w;
    world_init(&w, 1, 8, &cfg);
    Prometheus__MetricMetadata md[3];
    Prometheus__MetricMetadata *mdp[3];
    const char *names[] = {"a_total", "b", "c"};
    for (int i = 0; i < 3; i++) {
        prometheus__metric_metadata__init(&md[i]);
        md[i].type = PROMETHEUS__METRIC_METADATA__METRIC_TYPE__COUNTER;
        md[i].metric_family_name = wire_bytes(str_from_cstr(names[i]));
        md[i].help = wire_bytes(STR_LIT("help text"));
        mdp[i] = &md[i];
    }
    rw1_request req = PROMETHEUS__WRITE_REQUEST__INIT;
    req.metadata = mdp, req.n_metadata = 3;
    struct buf b = BUF_INIT;
    assert_int_equal(rw1_pack(&req, &b), 0);
    struct outcome o = {0};
    ingest_write(w.ish[0], INGEST_RW1, STR_LIT("acme"), b.data, b.len, on_done, &o);
    assert_int_equal(o.calls, 1); /* nothing to store: answered at once */
    assert_int_equal(o.reply.status, 204);
    assert_int_equal(ingest_metadata_count(w.ish[0]), 2);
    assert_int_equal(metric_get(&ingest_shard_stats(w.ish[0])->metadata_dropped), 1);
    struct ingest_metadata m;
    assert_true(ingest_metadata_get(w.ish[0], STR_LIT("a_total"), &m));
    assert_int_equal(m.type, 1);
    assert_int_equal(m.unit.len, 0);
    /* newest wins for a known family even at the limit */
    md[0].help = wire_bytes(STR_LIT("new help"));
    buf_reset(&b);
    assert_int_equal(rw1_pack(&req, &b), 0);
    ingest_write(w.ish[0], INGEST_RW1, STR_LIT("acme"), b.data, b.len, on_done, &o);
    assert_true(ingest_metadata_get(w.ish[0], STR_LIT("a_total"), &m));
    assert_true(str_eq_cstr(m.help, "new help"));
    buf_deinit(&b);
    world_deinit(&w);
}

static void test_decode_errors(void **state)
{
    (void)state;
    struct ingest_config cfg;
    ingest_config_default(&cfg);
    cfg.body_bytes_max = 64;
    struct world w;
    world_init(&w, 1, 8, &cfg);
    struct outcome o = {0};
    static const uint8_t garbage[] = {0x0a, 0xff, 0xff, 0xff, 0x0f, 0x01};
    ingest_write(w.ish[0], INGEST_RW1, STR_LIT("acme"), garbage, sizeof garbage, on_done, &o);
    assert_int_equal(o.calls, 1);
    assert_int_equal(o.reply.status, 400);
    assert_non_null(strstr(o.reply.text, "cannot decode prometheus.WriteRequest"));
    uint8_t big[100] = {0};
    ingest_write(w.ish[0], INGEST_RW1, STR_LIT("acme"), big, sizeof big, on_done, &o);
    assert_int_equal(o.reply.status, 413);
    /* v2: symbols[0] must be "" */
    ProtobufCBinaryData syms[] = {wire_bytes(STR_LIT("x")), wire_bytes(STR_LIT("__name__"))};
    rw2_request req = IO__PROMETHEUS__WRITE__V2__REQUEST__INIT;
    req.symbols = syms, req.n_symbols = 2;
    struct buf b = BUF_INIT;
    assert_int_equal(rw2_pack(&req, &b), 0);
    ingest_write(w.ish[0], INGEST_RW2, STR_LIT("acme"), b.data, b.len, on_done, &o);
    assert_int_equal(o.reply.status, 400);
    assert_non_null(strstr(o.reply.text, "io.prometheus.write.v2.Request"));
    assert_int_equal(o.calls, 3);
    buf_deinit(&b);
    world_deinit(&w);
}

static void test_tenant_series_limit(void **state)
{
    (void)state;
    struct ingest_config cfg;
    ingest_config_default(&cfg);
    cfg.series_per_tenant_max = 4;
    struct world w;
    world_init(&w, 1, 8, &cfg);
    struct series_spec a[] = {{"m", "a", 1, 1000}, {"m", "b", 1, 1000}, {"m", "c", 1, 1000}};
    struct outcome o = {0};
    write_v1(&w, 0, a, 3, &o);
    push_world_run(&w.pw, &o.calls, 1);
    assert_int_equal(o.reply.status, 204);
    /* one more new series fits, the next two do not; existing series go on */
    struct series_spec b[] = {
        {"m", "a", 1, 2000}, {"m", "d", 1, 2000}, {"m", "e", 2, 2000}, {"m", "f", 3, 2000}};
    write_v1(&w, 0, b, 4, &o);
    push_world_run(&w.pw, &o.calls, 2);
    assert_int_equal(o.reply.status, 400);
    assert_int_equal(o.reply.samples_written, 2);
    assert_int_equal(o.reply.samples_rejected, 5);
    assert_int_equal(o.reply.series_rejected, 2);
    assert_non_null(strstr(o.reply.text, "per-tenant series limit reached for tenant \"acme\""));
    assert_non_null(strstr(o.reply.text, "job=\"e\""));
    assert_non_null(strstr(o.reply.text, "5 tenant series limit"));
    assert_int_equal(w.fake[0].nhashes, 4);
    /* the head dropped series: the recount makes room */
    w.fake[0].removed++;
    w.fake[0].tenant_override = 1;
    write_v1(&w, 0, b + 2, 1, &o);
    push_world_run(&w.pw, &o.calls, 3);
    assert_int_equal(o.reply.status, 204);
    world_deinit(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_proto_negotiation),
        cmocka_unit_test(test_split_owners_and_bits),
        cmocka_unit_test(test_multi_shard_write_204),
        cmocka_unit_test(test_partial_rejection_400),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_mesh_full_times_out_503),
        cmocka_unit_test(test_v2_counts),
        cmocka_unit_test(test_v1_metadata_only_and_limit),
        cmocka_unit_test(test_decode_errors),
        cmocka_unit_test(test_tenant_series_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
