/* Fuzz target for the whole remote-write body path of the server (server/ingest.h): snappy block
 * decompression (the HTTP content decoder), protobuf decode + validation (v1 or v2), per-series
 * validation, tenant label, hashing and the split by owner shard; then every part is checked
 * (owner = hash_to_range of the labels' hash, tenant label present, labels strictly sorted, sample
 * counts add up) and, on a one-shard server with a fake store, the request is dispatched and its
 * reply aggregated.
 *
 * Input: byte 0 picks the schema (bit 0: v1 / v2) and the shard count (bits 1-3: 1..8); the rest
 * is the snappy-compressed body as a client would send it. */
#include <stdint.h>
#include <string.h>

#include "base/assert.h"
#include "base/error.h"
#include "base/hash.h"
#include "server/http/encoding.h"
#include "server/ingest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define BODY_MAX (4u << 20)

struct fake {
    tsdb_commit_fn cb;
    void *arg;
    uint64_t samples;
};

static int fake_append(void *store, const struct tsdb_series_in *series, size_t n,
                       struct tsdb_append_result *res, tsdb_commit_fn cb, void *arg)
{
    struct fake *f = store;
    memset(res, 0, sizeof *res);
    res->first_reject = -1;
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < series[i].n_samples; k++) {
            /* reject odd timestamps so the 400 path and its reason formatting run too */
            if (series[i].samples[k].t_ms & 1) {
                res->rejected[TSDB_REJECT_OUT_OF_ORDER]++;
                res->rejected_total++;
                if (res->first_reject < 0) {
                    res->first_reject = TSDB_REJECT_OUT_OF_ORDER;
                    strcpy(res->reason, "out of order sample for series {...}");
                }
            } else {
                res->accepted++;
            }
        }
    }
    f->samples += res->accepted;
    f->cb = cb;
    f->arg = arg;
    return 0;
}

/* Histograms reaching the store passed validation; all are taken. */
static int fake_append_hists(void *store, const struct tsdb_series_in *series,
                             const struct tsdb_hists_in *hists, size_t n,
                             struct tsdb_append_result *res, tsdb_commit_fn cb, void *arg)
{
    int rc = fake_append(store, series, n, res, cb, arg);
    for (size_t i = 0; i < n; i++) {
        ASSERT(series[i].n_samples || hists[i].n || hists[i].n_exemplars);
        for (size_t k = 0; k < hists[i].n; k++) {
            const struct tsdb_hist_sample *x = &hists[i].hists[k];
            ASSERT(histchunk_hist_check(&x->h, x->is_float, NULL) == 0);
            res->accepted++;
            res->hist_accepted++;
        }
    }
    return rc;
}

static const struct ingest_store_ops fake_ops = {.append = fake_append,
                                                 .append_hists = fake_append_hists};

static void check_series(const struct tsdb_series_in *in, uint32_t owner, uint32_t nshards)
{
    ASSERT(in->n_labels >= 2); /* (samples, or histograms in the part's hists) */
    ASSERT(in->hash == hash_labels(in->labels, in->n_labels));
    ASSERT(hash_to_range(in->hash, nshards) == owner);
    bool tenant = false, name = false;
    for (size_t i = 0; i < in->n_labels; i++) {
        ASSERT(in->labels[i].name.len > 0 && in->labels[i].value.len > 0);
        ASSERT(i == 0 || str_cmp(in->labels[i - 1].name, in->labels[i].name) < 0);
        tenant |= str_eq_cstr(in->labels[i].name, "__tenant__");
        name |= str_eq_cstr(in->labels[i].name, "__name__");
    }
    ASSERT(tenant && name);
}

static void on_done(void *arg, const struct ingest_reply *y)
{
    int *calls = arg;
    (*calls)++;
    ASSERT(y->status == 204 || y->status == 400);
    ASSERT(y->samples_written + y->samples_rejected == y->samples_total);
    ASSERT((y->status == 204) == (y->text[0] == 0));
    ASSERT(y->histograms_written + y->histograms_rejected == y->histograms_total);
}

static void run(struct ingest_shard *s, enum ingest_proto proto, uint32_t nshards,
                const struct buf *body)
{
    struct ingest_req *r = ingest_req_begin(s, proto, STR_LIT("fuzz"));
    ASSERT(r);
    if (ingest_req_decode(r, body->data, body->len) != 0) {
        const struct ingest_reply *y = ingest_req_reply(r);
        ASSERT(y->status == 400 || y->status == 413 || y->status == 500);
        ingest_req_free(r);
        return;
    }
    if (ingest_req_split(r) != 0) {
        ingest_req_free(r);
        return;
    }
    uint64_t series = 0;
    for (uint32_t k = 0; k < ingest_req_nparts(r); k++) {
        const struct ingest_part *p = ingest_req_part(r, k);
        ASSERT(p->owner < nshards && p->n_series > 0);
        for (uint32_t i = 0; i < p->n_series; i++)
            check_series(&p->series[i], p->owner, nshards);
        series += p->n_series;
    }
    ASSERT(series <= ingest_req_reply(r)->series_total);
    if (nshards > 1) {
        ingest_req_free(r);
        return;
    }
    struct fake f = {0};
    ingest_shard_set_store(s, &fake_ops, &f);
    int calls = 0;
    ingest_req_dispatch(r, on_done, &calls);
    if (f.cb)
        f.cb(f.arg, 0);
    ASSERT(calls == 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    enum ingest_proto proto = (data[0] & 1) ? INGEST_RW2 : INGEST_RW1;
    uint32_t nshards = 1 + ((data[0] >> 1) & 7);
    struct buf body = BUF_INIT;
    int rc = http_decode_body(HTTP_CODING_SNAPPY, data + 1, size - 1, BODY_MAX, &body);
    if (rc) {
        ASSERT(rc == ERR_CORRUPT || rc == ERR_LIMIT || rc == ERR_TRUNCATED);
        buf_deinit(&body);
        return 0;
    }
    struct ingest_config cfg;
    ingest_config_default(&cfg);
    cfg.body_bytes_max = BODY_MAX;
    cfg.limits.labels_per_series_max = 8; /* small limits so the limit paths run */
    cfg.limits.label_value_bytes_max = 64;
    cfg.metadata_max = 4;
    struct ingest_shard *s;
    ASSERT(ingest_shard_create(&cfg, 0, nshards, NULL, &s) == 0);
    run(s, proto, nshards, &body);
    ingest_shard_destroy(s);
    buf_deinit(&body);
    return 0;
}
