/* Fuzz target for the whole Loki push body path of the server (server/api_loki_push.h,
 * server/logingest.h): the Content-Type media type parser, snappy block decompression (the
 * handler's), JSON or protobuf decoding with label parsing and normalisation, Loki's label and
 * structured metadata limits, the tenant label, hashing, the split by owner shard, the rate limit,
 * dispatch over a real mesh of three shards driven on this thread, the owners' appends into fake
 * log stores (which check every stream they get: owner = hash_to_range of the labels' hash, labels
 * strictly sorted with the tenant label, entries present) and the reply aggregation (status, text,
 * and entries written + rejected = entries in the request).
 *
 * Input: byte 0 picks the body path (bits 0-1: 0 JSON, 1 protobuf, 2 snappy-compressed protobuf,
 * 3 Content-Type given: byte 1 = its length, then the value, then a JSON or protobuf body as the
 * value selects), the accepting shard (bits 2-3, modulo 3) and a tight rate limit (bit 4). The
 * shards persist across inputs (created once), so requests and buckets are reused as in a
 * server. */
#include <stdint.h>
#include <string.h>

#include "base/assert.h"
#include "base/error.h"
#include "base/hash.h"
#include "engine/shard/mesh.h"
#include "server/api_loki_push.h"
#include "server/http/encoding.h"
#include "server/logingest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NSHARDS  3
#define BODY_MAX (4u << 20)
#define PEND_MAX 64

struct fake {
    uint32_t shard;
    struct {
        logstore_commit_fn cb;
        void *arg;
    } pend[PEND_MAX];
    uint32_t npend;
};

struct world {
    struct mesh *mesh;
    struct logingest_shard *sh[NSHARDS];
    struct fake fake[NSHARDS];
};

static void check_stream(const struct fake *f, const struct logstore_stream_in *in)
{
    ASSERT(in->n_labels >= 2 && in->n_entries > 0);
    ASSERT(in->hash == hash_labels(in->labels, in->n_labels));
    ASSERT(hash_to_range(in->hash, NSHARDS) == f->shard);
    bool tenant = false;
    for (size_t i = 0; i < in->n_labels; i++) {
        ASSERT(in->labels[i].name.len > 0 && in->labels[i].value.len > 0);
        ASSERT(i == 0 || str_cmp(in->labels[i - 1].name, in->labels[i].name) < 0);
        if (str_eq_cstr(in->labels[i].name, "__tenant__")) {
            ASSERT(str_eq_cstr(in->labels[i].value, "fuzz"));
            tenant = true;
        }
    }
    ASSERT(tenant);
}

static void reject(struct logstore_append_result *res, enum logstore_reject k, const char *why)
{
    res->rejected[k]++;
    res->rejected_total++;
    if (res->first_reject < 0) {
        res->first_reject = (int)k;
        strcpy(res->reason, why);
    }
}

/* Stores everything except: entries of streams whose hash is 0 mod 7 (stream limit, 429) and
 * entries with odd timestamps (line too long, 400), so every reply path runs. */
static int fake_append(void *store, const struct logstore_stream_in *streams, size_t n,
                       struct logstore_append_result *res, logstore_commit_fn cb, void *arg)
{
    struct fake *f = store;
    memset(res, 0, sizeof *res);
    res->first_reject = -1;
    for (size_t i = 0; i < n; i++) {
        const struct logstore_stream_in *in = &streams[i];
        check_stream(f, in);
        for (size_t k = 0; k < in->n_entries; k++) {
            const struct logstore_entry_in *e = &in->entries[k];
            size_t md_bytes = 0;
            for (size_t j = 0; j < e->n_md; j++)
                md_bytes += e->md[j].name.len + e->md[j].value.len;
            (void)md_bytes;
            if (in->hash % 7 == 0)
                reject(res, LOGSTORE_REJECT_STREAM_LIMIT, "maximum active stream limit exceeded");
            else if (e->ts_ns & 1)
                reject(res, LOGSTORE_REJECT_LINE_TOO_LONG, "max entry size exceeded");
            else
                res->accepted++, res->bytes += e->line.len;
        }
    }
    ASSERT(f->npend < PEND_MAX);
    f->pend[f->npend].cb = cb;
    f->pend[f->npend].arg = arg;
    f->npend++;
    return 0;
}

static const struct logingest_store_ops fake_ops = {.append = fake_append};

static struct world *world_get(bool tight_rate)
{
    static struct world worlds[2];
    static bool made[2];
    struct world *w = &worlds[tight_rate];
    if (made[tight_rate])
        return w;
    struct logingest_config cfg;
    logingest_config_default(&cfg);
    cfg.body_bytes_max = BODY_MAX;
    cfg.labels_per_stream_max = 6; /* small limits so the limit paths run */
    cfg.label_value_bytes_max = 64;
    cfg.structured_metadata_entries_max = 4;
    cfg.structured_metadata_bytes_max = 128;
    if (tight_rate) {
        cfg.rate_lines_per_s = 300;
        cfg.burst_lines = 60;
    }
    ASSERT(mesh_create(NSHARDS, 64, &w->mesh) == 0);
    for (uint32_t i = 0; i < NSHARDS; i++) {
        ASSERT(logingest_shard_create(&cfg, i, NSHARDS, w->mesh, &w->sh[i]) == 0);
        w->fake[i].shard = i;
        logingest_shard_set_store(w->sh[i], &fake_ops, &w->fake[i]);
    }
    made[tight_rate] = true;
    return w;
}

static void world_turn(struct world *w)
{
    for (uint32_t i = 0; i < NSHARDS; i++) {
        struct mesh_msg *msgs[64];
        uint32_t k = mesh_poll(w->mesh, i, msgs, 64);
        for (uint32_t j = 0; j < k; j++)
            ASSERT(logingest_on_message(w->sh[i], msgs[j]));
    }
    for (uint32_t i = 0; i < NSHARDS; i++) {
        struct fake *f = &w->fake[i];
        uint32_t n = f->npend;
        f->npend = 0;
        for (uint32_t k = 0; k < n; k++)
            f->pend[k].cb(f->pend[k].arg, 0);
    }
    for (uint32_t i = 0; i < NSHARDS; i++)
        mesh_flush(w->mesh, i);
}

static void on_done(void *arg, const struct logingest_reply *y)
{
    int *calls = arg;
    (*calls)++;
    ASSERT(y->status == 204 || y->status == 400 || y->status == 413 || y->status == 422 ||
           y->status == 429);
    ASSERT((y->status == 204) == (y->text[0] == 0));
    ASSERT(y->entries_written + y->entries_rejected == y->entries_total);
    ASSERT((y->retry_after_s > 0) == (y->status == 429));
}

/* The body format and body for the input; false when the handler would answer before decoding. */
static bool body_of(const uint8_t *data, size_t size, enum logingest_body *kind, struct buf *body)
{
    unsigned mode = data[0] & 3;
    const uint8_t *p = data + 1;
    size_t n = size - 1;
    if (mode == 3) {
        if (n < 1 || n - 1 < p[0])
            return false;
        char why[160];
        int k = api_loki_push_body_kind((struct str){(const char *)p + 1, p[0]}, why, sizeof why);
        ASSERT(k == 0 ? why[0] != 0 : (k == LOGINGEST_JSON || k == LOGINGEST_PROTO));
        if (!k)
            return false;
        *kind = (enum logingest_body)k;
        n -= 1u + p[0];
        p += 1u + p[0];
        return buf_append(body, p, n) == 0;
    }
    *kind = mode == 0 ? LOGINGEST_JSON : LOGINGEST_PROTO;
    if (mode != 2)
        return buf_append(body, p, n) == 0;
    int rc = http_decode_body(HTTP_CODING_SNAPPY, p, n, BODY_MAX, body);
    ASSERT(rc == 0 || rc == ERR_CORRUPT || rc == ERR_LIMIT || rc == ERR_TRUNCATED);
    return rc == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    struct buf body = BUF_INIT;
    enum logingest_body kind;
    if (!body_of(data, size, &kind, &body)) {
        buf_deinit(&body);
        return 0;
    }
    struct world *w = world_get((data[0] >> 4) & 1);
    uint32_t on = ((data[0] >> 2) & 3) % NSHARDS;
    int calls = 0;
    logingest_write(w->sh[on], kind, STR_LIT("fuzz"), body.data, body.len, on_done, &calls);
    for (int turn = 0; turn < 16 && calls == 0; turn++)
        world_turn(w);
    ASSERT(calls == 1);
    for (uint32_t i = 0; i < NSHARDS; i++)
        ASSERT(logingest_shard_idle(w->sh[i]));
    buf_deinit(&body);
    return 0;
}
