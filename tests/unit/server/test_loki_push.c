/* The Loki push pipeline without HTTP and without a real log store: Content-Type negotiation (Go's
 * media type rules), the per-tenant token buckets, splitting by owner (tenant label, hash, entries
 * and structured metadata passed through exactly, randomized), whole multi-shard pushes driven on
 * one thread over a real mesh with fake stores (deferred durability), reply aggregation (204, 400
 * with Loki's wording and counts, 413, 422, 429 + Retry-After for the rate and stream limits, 500,
 * 503 + Retry-After), label and structured metadata validation, decode errors, a full mesh lane
 * timing out, and the /metrics text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/error.h"
#include "base/hash.h"
#include "engine/shard/mesh.h"
#include "formats/wire/lokipush.h"
#include "formats/wire/lokipush_json.h"
#include "server/api_loki_push.h"
#include "server/logingest.h"
#include "tests/unit/prop.h"
#include "tests/unit/server/push_fixture.h"

#define NS_MAX   PUSH_NS_MAX
#define KEEP_MAX 4096

/* ---- a fake log store: checks ownership, keeps what it got, defers durability ---- */

struct kept {
    uint64_t hash;
    int64_t ts;
    char line[64];
    size_t n_md;
    char md0[32]; /* "name=value" of the first metadata pair */
};

struct fake {
    uint32_t shard, nshards;
    int refuse;           /* logstore_append's return when nonzero */
    size_t line_max;      /* longer lines: LINE_TOO_LONG (0: none) */
    uint32_t streams_max; /* distinct streams accepted (0: no limit) */
    bool wrong_owner, bad_hash, no_tenant, unsorted;
    uint64_t hashes[256];
    uint32_t nhashes;
    struct kept kept[KEEP_MAX];
    uint32_t nkept;
    uint32_t calls;
    struct push_pending *pend; /* the world's, for this shard */
};

static bool fake_has(struct fake *f, uint64_t h)
{
    for (uint32_t i = 0; i < f->nhashes; i++)
        if (f->hashes[i] == h)
            return true;
    return false;
}

static void fake_check_stream(struct fake *f, const struct logstore_stream_in *in)
{
    if (hash_to_range(in->hash, f->nshards) != f->shard)
        f->wrong_owner = true;
    if (hash_labels(in->labels, in->n_labels) != in->hash)
        f->bad_hash = true;
    bool tenant = false;
    for (size_t i = 0; i < in->n_labels; i++) {
        tenant |= str_eq_cstr(in->labels[i].name, "__tenant__");
        if (i && str_cmp(in->labels[i - 1].name, in->labels[i].name) >= 0)
            f->unsorted = true;
    }
    if (!tenant)
        f->no_tenant = true;
}

static void fake_reject(struct logstore_append_result *res, enum logstore_reject k, uint64_t n,
                        const char *reason)
{
    res->rejected[k] += n;
    res->rejected_total += n;
    if (res->first_reject < 0) {
        res->first_reject = (int)k;
        snprintf(res->reason, sizeof res->reason, "%s", reason);
    }
}

static void fake_entry(struct fake *f, const struct logstore_stream_in *in,
                       const struct logstore_entry_in *e, struct logstore_append_result *res)
{
    if (f->line_max && e->line.len > f->line_max) {
        fake_reject(res, LOGSTORE_REJECT_LINE_TOO_LONG, 1, "max entry size exceeded");
        return;
    }
    assert_true(f->nkept < KEEP_MAX);
    struct kept *k = &f->kept[f->nkept++];
    memset(k, 0, sizeof *k);
    k->hash = in->hash;
    k->ts = e->ts_ns;
    snprintf(k->line, sizeof k->line, "%.*s", (int)e->line.len, e->line.ptr);
    k->n_md = e->n_md;
    if (e->n_md)
        snprintf(k->md0, sizeof k->md0, "%.*s=%.*s", (int)e->md[0].name.len, e->md[0].name.ptr,
                 (int)e->md[0].value.len, e->md[0].value.ptr);
    res->accepted++;
    res->bytes += e->line.len;
}

static int fake_append(void *store, const struct logstore_stream_in *streams, size_t n,
                       struct logstore_append_result *res, logstore_commit_fn cb, void *arg)
{
    struct fake *f = store;
    f->calls++;
    if (f->refuse)
        return f->refuse;
    memset(res, 0, sizeof *res);
    res->first_reject = -1;
    for (size_t i = 0; i < n; i++) {
        const struct logstore_stream_in *in = &streams[i];
        fake_check_stream(f, in);
        if (!fake_has(f, in->hash)) {
            if (f->streams_max && f->nhashes >= f->streams_max) {
                fake_reject(res, LOGSTORE_REJECT_STREAM_LIMIT, in->n_entries,
                            "maximum active stream limit exceeded");
                continue;
            }
            f->hashes[f->nhashes++] = in->hash;
            res->streams_created++;
        }
        for (size_t k = 0; k < in->n_entries; k++)
            fake_entry(f, in, &in->entries[k], res);
    }
    push_pending_add(f->pend, cb, arg);
    return 0;
}

static const struct logingest_store_ops fake_ops = {.append = fake_append};

/* ---- a world: N shards on one thread (push_fixture.h) ---- */

struct world {
    struct push_world pw; /* first */
    struct logingest_shard *sh[NS_MAX];
    struct fake fake[NS_MAX];
};

static void *shard_create(struct push_world *pw, uint32_t i, const void *cfg)
{
    struct world *w = (struct world *)pw;
    assert_int_equal(logingest_shard_create(cfg, i, pw->n, pw->mesh, &w->sh[i]), 0);
    w->fake[i] = (struct fake){.shard = i, .nshards = pw->n, .pend = &pw->pending[i]};
    logingest_shard_set_store(w->sh[i], &fake_ops, &w->fake[i]);
    return w->sh[i];
}

PUSH_WORLD_OPS(world_ops, struct logingest_shard, shard_create, logingest_on_message,
               logingest_shard_poll, logingest_shard_idle, logingest_shard_destroy);
PUSH_OUTCOME(struct logingest_reply)

static void world_init(struct world *w, uint32_t n, uint32_t lane_cap, struct logingest_config *cfg)
{
    struct logingest_config def;
    logingest_config_default(&def);
    memset(w, 0, sizeof *w);
    push_world_init(&w->pw, &world_ops, n, lane_cap, cfg ? cfg : &def);
}

static void world_deinit(struct world *w)
{
    push_world_deinit(&w->pw);
}

static uint32_t world_kept(const struct world *w)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < w->pw.n; i++) {
        assert_false(w->fake[i].wrong_owner);
        assert_false(w->fake[i].bad_hash);
        assert_false(w->fake[i].no_tenant);
        assert_false(w->fake[i].unsorted);
        n += w->fake[i].nkept;
    }
    return n;
}

/* ---- request builders ---- */

#define ENT_MAX 64

struct spec {
    const char *labels; /* the selector text */
    uint32_t n;         /* entries: ts t0 + k, line "<prefix>-k" */
    int64_t t0;
    const char *prefix;
    size_t line_pad; /* extra 'x' bytes appended to each line */
    uint32_t n_md;   /* metadata pairs per entry ("k<i>"="v<i>") */
};

struct built {
    struct lokipush_stream_in in[16];
    struct lokipush_entry ent[16][ENT_MAX];
    struct label md[16][ENT_MAX > 200 ? ENT_MAX : 200];
    char lines[16][ENT_MAX][600];
    char mdbuf[16][200][2][16];
};

static void build(struct built *b, const struct spec *sp, size_t n)
{
    assert_true(n <= 16);
    for (size_t i = 0; i < n; i++) {
        assert_true(sp[i].n <= ENT_MAX && sp[i].n_md <= 200 && sp[i].line_pad < 500);
        for (uint32_t m = 0; m < sp[i].n_md; m++) {
            snprintf(b->mdbuf[i][m][0], 16, "k%u", m);
            snprintf(b->mdbuf[i][m][1], 16, "v%u", m);
            b->md[i][m] =
                (struct label){str_from_cstr(b->mdbuf[i][m][0]), str_from_cstr(b->mdbuf[i][m][1])};
        }
        for (uint32_t k = 0; k < sp[i].n; k++) {
            int len = snprintf(b->lines[i][k], 600, "%s-%u", sp[i].prefix ? sp[i].prefix : "l", k);
            memset(b->lines[i][k] + len, 'x', sp[i].line_pad);
            b->lines[i][k][len + (int)sp[i].line_pad] = 0;
            b->ent[i][k] = (struct lokipush_entry){sp[i].t0 + k, str_from_cstr(b->lines[i][k]),
                                                   sp[i].n_md ? b->md[i] : NULL, sp[i].n_md};
        }
        b->in[i] = (struct lokipush_stream_in){
            .labels_text = str_from_cstr(sp[i].labels), .entries = b->ent[i], .n_entries = sp[i].n};
    }
}

static void body_proto(struct buf *out, const struct spec *sp, size_t n)
{
    struct built *b = calloc(1, sizeof *b);
    assert_non_null(b);
    build(b, sp, n);
    buf_reset(out);
    assert_int_equal(lokipush_encode(b->in, n, out), 0);
    free(b);
}

static void push(struct world *w, uint32_t on, const struct spec *sp, size_t n, struct outcome *o)
{
    struct buf b = BUF_INIT;
    body_proto(&b, sp, n);
    logingest_write(w->sh[on], LOGINGEST_PROTO, STR_LIT("acme"), b.data, b.len, on_done, o);
    buf_deinit(&b);
}

static void push_json(struct world *w, uint32_t on, const char *json, struct outcome *o)
{
    logingest_write(w->sh[on], LOGINGEST_JSON, STR_LIT("acme"), (const uint8_t *)json, strlen(json),
                    on_done, o);
}

/* A selector `{job="jN"}` whose stream (tenant acme) is owned by `owner`. */
static const char *stream_owned_by(uint32_t owner, uint32_t n, int skip)
{
    static char out[8][48];
    static int slot;
    for (int i = 0;; i++) {
        char job[32];
        snprintf(job, sizeof job, "j%d", i);
        struct label ls[2] = {{STR_LIT("__tenant__"), STR_LIT("acme")},
                              {STR_LIT("job"), str_from_cstr(job)}};
        if (hash_to_range(hash_labels(ls, 2), n) == owner && skip-- == 0) {
            slot = (slot + 1) % 8;
            snprintf(out[slot], sizeof out[slot], "{job=\"%s\"}", job);
            return out[slot];
        }
    }
}

/* ---- negotiation ---- */

static void test_body_kind(void **state)
{
    (void)state;
    static const struct {
        const char *ct;
        int kind;
        const char *why;
    } cases[] = {
        {"application/json", LOGINGEST_JSON, NULL},
        {"Application/JSON", LOGINGEST_JSON, NULL},
        {" application/json ; charset=utf-8", LOGINGEST_JSON, NULL},
        {"application/json;", LOGINGEST_JSON, NULL},
        {"application/json; a=\"x;y\"; b=c", LOGINGEST_JSON, NULL},
        {"application/x-protobuf", LOGINGEST_PROTO, NULL},
        {"application/x-protobuf;proto=logproto.PushRequest", LOGINGEST_PROTO, NULL},
        {"text/plain", LOGINGEST_PROTO, NULL},
        {"application", LOGINGEST_PROTO, NULL}, /* Go accepts a type without subtype */
        {"", 0, "mime: no media type"},
        {"   ", 0, "mime: no media type"},
        {"/json", 0, "mime: no media type"},
        {"application/", 0, "mime: expected token after slash"},
        {"application json", 0, "mime: expected slash after first token"},
        {"application/json x", 0, "mime: unexpected content after media subtype"},
        {"application/json; charset", 0, "mime: invalid media parameter"},
        {"application/json; a=\"unterminated", 0, "mime: invalid media parameter"},
        {"application/json; a=1; A=2", 0, "mime: duplicate parameter name"},
        {"application/json;;", 0, "mime: invalid media parameter"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char why[128] = "unset";
        int k = api_loki_push_body_kind(str_from_cstr(cases[i].ct), why, sizeof why);
        if (k != cases[i].kind)
            fail_msg("%s: kind %d, want %d (%s)", cases[i].ct, k, cases[i].kind, why);
        if (cases[i].why)
            assert_string_equal(why, cases[i].why);
    }
}

/* ---- rate limit ---- */

static void test_rate_buckets(void **state)
{
    (void)state;
    int ra = 0;
    const int64_t s = 1000000000LL;
    struct logingest_rate *r = logingest_rate_create(10, 20, 2);
    assert_non_null(r);
    assert_int_equal(logingest_rate_take(r, STR_LIT("a"), 20, 0, &ra), 0); /* the burst */
    assert_int_equal(logingest_rate_take(r, STR_LIT("a"), 1, 0, &ra), ERR_LIMIT);
    assert_int_equal(ra, 1);
    assert_int_equal(logingest_rate_take(r, STR_LIT("a"), 15, 0, &ra), ERR_LIMIT);
    assert_int_equal(ra, 2);                                                  /* 15 lines at 10/s */
    assert_int_equal(logingest_rate_take(r, STR_LIT("a"), 5, s / 2, &ra), 0); /* refilled 5 */
    assert_int_equal(logingest_rate_take(r, STR_LIT("a"), 1, s / 2, &ra), ERR_LIMIT);
    /* more than the burst never fits: wait for a full bucket */
    assert_int_equal(logingest_rate_take(r, STR_LIT("a"), 25, 10 * s, &ra), ERR_LIMIT);
    assert_int_equal(logingest_rate_take(r, STR_LIT("a"), 20, 10 * s, &ra), 0);
    assert_int_equal(logingest_rate_take(r, STR_LIT("a"), 25, 10 * s, &ra), ERR_LIMIT);
    assert_int_equal(ra, 2);
    /* tenants are independent; a third one over tenants_max evicts a full bucket or passes */
    assert_int_equal(logingest_rate_take(r, STR_LIT("b"), 20, 10 * s, &ra), 0);
    assert_int_equal(logingest_rate_take(r, STR_LIT("b"), 1, 10 * s, &ra), ERR_LIMIT);
    assert_int_equal(logingest_rate_tenants(r), 2);
    assert_int_equal(logingest_rate_take(r, STR_LIT("c"), 1, 10 * s, &ra), 0); /* untracked */
    assert_int_equal(logingest_rate_tenants(r), 2);
    assert_int_equal(logingest_rate_take(r, STR_LIT("c"), 1000, 100 * s, &ra), ERR_LIMIT);
    assert_int_equal(logingest_rate_tenants(r), 1); /* a and b were full: swept, c tracked */
    assert_int_equal(logingest_rate_take(r, STR_LIT("a"), 20, 100 * s, &ra), 0);
    logingest_rate_destroy(r);
}

/* ---- pipeline ---- */

static void test_multi_shard_push_204(void **state)
{
    (void)state;
    struct world w;
    world_init(&w, 4, 64, NULL);
    struct spec sp[12];
    char sel[12][48];
    for (int i = 0; i < 12; i++) {
        snprintf(sel[i], sizeof sel[i], "{job=\"j%d\", env = \"prod\"}", i);
        sp[i] = (struct spec){sel[i], 5, 1000 * (i + 1), "x", 0, i % 3};
    }
    struct outcome o = {0};
    push(&w, 2, sp, 12, &o);
    w.pw.no_sync = true;
    push_world_turn(&w.pw);
    assert_int_equal(o.calls, 0); /* waits for durability */
    w.pw.no_sync = false;
    push_world_run(&w.pw, &o.calls, 1);
    assert_int_equal(o.reply.status, 204);
    assert_string_equal(o.reply.text, "");
    assert_int_equal(o.reply.entries_total, 60);
    assert_int_equal(o.reply.entries_written, 60);
    assert_int_equal(o.reply.streams_total, 12);
    assert_int_equal(world_kept(&w), 60);
    /* every entry arrived with its timestamp, line and metadata */
    for (int i = 0; i < 12; i++) {
        struct label ls[3] = {{STR_LIT("__tenant__"), STR_LIT("acme")},
                              {STR_LIT("env"), STR_LIT("prod")},
                              {STR_LIT("job"), STR_LIT("")}};
        char job[16];
        snprintf(job, sizeof job, "j%d", i);
        ls[2].value = str_from_cstr(job);
        uint64_t h = hash_labels(ls, 3);
        struct fake *f = &w.fake[hash_to_range(h, 4)];
        uint32_t found = 0;
        for (uint32_t k = 0; k < f->nkept; k++) {
            if (f->kept[k].hash != h)
                continue;
            int64_t off = f->kept[k].ts - 1000 * (i + 1);
            char want[16];
            snprintf(want, sizeof want, "x-%d", (int)off);
            assert_string_equal(f->kept[k].line, want);
            assert_int_equal(f->kept[k].n_md, (size_t)(i % 3));
            if (i % 3)
                assert_string_equal(f->kept[k].md0, "k0=v0");
            found++;
        }
        assert_int_equal(found, 5);
    }
    assert_int_equal(metric_get(&logingest_shard_stats(w.sh[2])->entries_written), 60);
    struct buf m = BUF_INIT;
    assert_int_equal(logingest_metrics_render(&m, w.sh, NULL, 4), 0);
    assert_int_equal(buf_cstr(&m), 0);
    assert_non_null(strstr((char *)m.data, "# TYPE strata_loki_push_entries_written_total counter\n"
                                           "strata_loki_push_entries_written_total 60\n"));
    assert_non_null(strstr((char *)m.data, "strata_loki_push_requests_total 1\n"));
    buf_deinit(&m);
    world_deinit(&w);
}

static void test_json_push_and_normalisation(void **state)
{
    (void)state;
    struct world w;
    world_init(&w, 3, 64, NULL);
    struct outcome o = {0};
    push_json(&w, 1,
              "{\"streams\":[{\"stream\":{\"job\":\"app\",\"level\":\"info\"},"
              "\"values\":[[\"1570818238000000000\",\"line one\"],"
              "[\"1570818238000000001\",\"line two\",{\"trace_id\":\"abc\",\"user\":\"u1\"}]]}]}",
              &o);
    push_world_run(&w.pw, &o.calls, 1);
    assert_int_equal(o.reply.status, 204);
    assert_int_equal(world_kept(&w), 2);
    /* the protobuf selector `{level="info" , job = "app"}` is the same stream */
    struct spec sp[1] = {{"{level=\"info\" , job = \"app\"}", 1, 1570818238000000002LL, "p", 0, 0}};
    struct outcome o2 = {0};
    push(&w, 0, sp, 1, &o2);
    push_world_run(&w.pw, &o2.calls, 1);
    assert_int_equal(o2.reply.status, 204);
    uint32_t streams = 0;
    for (uint32_t i = 0; i < 3; i++) {
        streams += w.fake[i].nhashes;
        for (uint32_t k = 0; k < w.fake[i].nkept; k++)
            if (w.fake[i].kept[k].ts == 1570818238000000001LL)
                assert_string_equal(w.fake[i].kept[k].md0, "trace_id=abc");
    }
    assert_int_equal(streams, 1);
    assert_int_equal(world_kept(&w), 3);
    world_deinit(&w);
}

static void test_partial_rejection_400(void **state)
{
    (void)state;
    struct world w;
    world_init(&w, 3, 64, NULL);
    for (int i = 0; i < 3; i++)
        w.fake[i].line_max = 100;
    struct spec sp[] = {
        {"{job=\"a\"}", 2, 1000, "ok", 0, 0},
        {"{job=\"long\"}", 3, 1000, "long", 200, 0}, /* line too long (store) */
        {"{job=\"b\"}", 4, 1000, "ok", 0, 0},
    };
    struct outcome o = {0};
    push(&w, 0, sp, 3, &o);
    push_world_run(&w.pw, &o.calls, 1);
    assert_int_equal(o.reply.status, 400);
    assert_int_equal(o.reply.entries_total, 9);
    assert_int_equal(o.reply.entries_written, 6);
    assert_int_equal(o.reply.entries_rejected, 3);
    assert_non_null(strstr(o.reply.text, "max entry size exceeded"));
    assert_non_null(strstr(o.reply.text, "rejected 3 of 9 entries: 3 line_too_long"));
    assert_non_null(strstr(o.reply.text, "6 entries written"));
    assert_int_equal(world_kept(&w), 6);
    /* one bad entry: the reason alone, as Loki words a single error */
    struct spec one[] = {{"{job=\"long\"}", 1, 5000, "long", 200, 0}};
    struct outcome o2 = {0};
    push(&w, 1, one, 1, &o2);
    push_world_run(&w.pw, &o2.calls, 1);
    assert_int_equal(o2.reply.status, 400);
    assert_string_equal(o2.reply.text, "max entry size exceeded");
    world_deinit(&w);
}

static void test_stream_limit_429(void **state)
{
    (void)state;
    struct world w;
    world_init(&w, 1, 64, NULL);
    w.fake[0].streams_max = 1;
    struct spec sp[] = {{"{job=\"a\"}", 2, 1000, "a", 0, 0}, {"{job=\"b\"}", 3, 1000, "b", 0, 0}};
    struct outcome o = {0};
    push(&w, 0, sp, 2, &o);
    push_world_run(&w.pw, &o.calls, 1);
    assert_int_equal(o.reply.status, 429);
    assert_int_equal(o.reply.retry_after_s, 1);
    assert_int_equal(o.reply.entries_written, 2);
    assert_non_null(strstr(o.reply.text, "maximum active stream limit exceeded"));
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
        struct spec sp[2] = {{stream_owned_by(0, 2, 0), 2, 1000, "a", 0, 0},
                             {stream_owned_by(1, 2, 0), 2, 1000, "b", 0, 0}};
        struct outcome o = {0};
        push(&w, 0, sp, 2, &o);
        push_world_run(&w.pw, &o.calls, 1);
        assert_int_equal(o.reply.status, rf->status);
        assert_non_null(strstr(o.reply.text, rf->text));
        assert_int_equal(o.reply.retry_after_s, rf->status == 503 ? 1 : 0);
        assert_int_equal(w.fake[0].nkept, 2); /* the other owner stored its part */
        world_deinit(&w);
    }
    /* no store attached (starting or stopping): 503 */
    struct world w;
    world_init(&w, 1, 64, NULL);
    logingest_shard_set_store(w.sh[0], NULL, NULL);
    struct spec sp[1] = {{"{job=\"a\"}", 1, 1000, "a", 0, 0}};
    struct outcome o = {0};
    push(&w, 0, sp, 1, &o);
    push_world_run(&w.pw, &o.calls, 1);
    assert_int_equal(o.reply.status, 503);
    world_deinit(&w);
}

static void test_validation(void **state)
{
    (void)state;
    struct logingest_config cfg;
    logingest_config_default(&cfg);
    cfg.labels_per_stream_max = 2;
    cfg.label_value_bytes_max = 8;
    cfg.structured_metadata_entries_max = 3;
    cfg.structured_metadata_bytes_max = 12;
    struct world w;
    world_init(&w, 2, 64, &cfg);
    struct spec sp[] = {
        {"{job=\"ok\"}", 2, 1000, "a", 0, 0},
        {"{a=\"1\", b=\"2\", c=\"3\"}", 3, 1000, "b", 0, 0},       /* 3 labels > 2 */
        {"{job=\"waytoolongvalue\"}", 1, 1000, "c", 0, 0},         /* value > 8 bytes */
        {"{__tenant__=\"other\", job=\"x\"}", 2, 1000, "d", 0, 0}, /* reserved */
        {"{job=\"md\"}", 2, 1000, "e", 0, 4},                      /* 4 pairs > 3 */
        {"{job=\"mdsize\"}", 2, 1000, "f", 0, 3},                  /* 3 pairs = 12 bytes: ok */
    };
    struct outcome o = {0};
    push(&w, 0, sp, 6, &o);
    push_world_run(&w.pw, &o.calls, 1);
    assert_int_equal(o.reply.status, 400);
    assert_int_equal(o.reply.entries_total, 12);
    assert_int_equal(o.reply.entries_written, 4);
    assert_int_equal(o.reply.entries_rejected, 8);
    assert_int_equal(o.reply.streams_rejected, 3);
    assert_non_null(strstr(o.reply.text,
                           "entry for stream '{a=\"1\", b=\"2\", c=\"3\"}' has 3 label names; "
                           "limit 2"));
    assert_non_null(strstr(o.reply.text, "6 invalid_labels, 2 structured_metadata_too_large"));
    assert_int_equal(world_kept(&w), 4);
    assert_int_equal(metric_get(&logingest_shard_stats(w.sh[0])->streams_invalid), 3);
    /* each reason on its own */
    const char *want[] = {
        "stream '{job=\"waytoolongvalue\"}' has label value too long: 'waytoolongvalue'",
        "stream '{__tenant__=\"other\", job=\"x\"}' uses the reserved label name '__tenant__'",
        "stream '{job=\"md\"}' has too many structured metadata labels: '4', limit: '3'",
    };
    for (int i = 0; i < 3; i++) {
        struct outcome oi = {0};
        push(&w, 1, &sp[i + 2], 1, &oi);
        push_world_run(&w.pw, &oi.calls, 1);
        assert_int_equal(oi.reply.status, 400);
        if (!strstr(oi.reply.text, want[i]))
            fail_msg("got %s", oi.reply.text);
    }
    cfg.structured_metadata_bytes_max = 11;
    struct world w2;
    world_init(&w2, 1, 64, &cfg);
    struct outcome o2 = {0};
    push(&w2, 0, &sp[5], 1, &o2);
    push_world_run(&w2.pw, &o2.calls, 1);
    assert_int_equal(o2.reply.status, 400);
    assert_non_null(
        strstr(o2.reply.text, "structured metadata too large: '12' bytes, limit: '11'"));
    world_deinit(&w2);
    world_deinit(&w);
}

static void test_decode_errors(void **state)
{
    (void)state;
    struct logingest_config cfg;
    logingest_config_default(&cfg);
    cfg.body_bytes_max = 4096;
    struct world w;
    world_init(&w, 2, 64, &cfg);
    static const struct {
        const char *json;
        int status;
        const char *text;
    } cases[] = {
        {"{\"streams\":[{\"stream\":{\"job\":\"a\"},\"values\":[[1570818238000000000,\"x\"]]}]}",
         400, ""},
        {"{\"streams\":[", 400, ""},
        {"{\"streams\":[{\"stream\":{},\"values\":[[\"1\",\"x\"]]}]}", 400, ""},
        {"{\"streams\":[]}", 422, "error at least one valid stream is required for ingestion"},
        {"{}", 422, "error at least one valid stream is required for ingestion"},
        {"{\"streams\":[{\"stream\":{\"job\":\"a\"},\"values\":[]}]}", 204, ""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct outcome o = {0};
        push_json(&w, 0, cases[i].json, &o);
        push_world_run(&w.pw, &o.calls, 1);
        if (o.reply.status != cases[i].status)
            fail_msg("%s: %d %s", cases[i].json, o.reply.status, o.reply.text);
        assert_non_null(strstr(o.reply.text, cases[i].text));
        assert_true(cases[i].status == 204 || o.reply.text[0]);
    }
    /* protobuf: garbage, and a body over the limit */
    struct outcome o = {0};
    logingest_write(w.sh[0], LOGINGEST_PROTO, STR_LIT("acme"), (const uint8_t *)"\xff\xff\xff", 3,
                    on_done, &o);
    assert_int_equal(o.calls, 1);
    assert_int_equal(o.reply.status, 400);
    struct spec big[1] = {{"{job=\"a\"}", 20, 1000, "l", 400, 0}};
    struct outcome o2 = {0};
    push(&w, 0, big, 1, &o2);
    assert_int_equal(o2.calls, 1);
    assert_int_equal(o2.reply.status, 413);
    assert_int_equal(world_kept(&w), 0);
    assert_int_equal(metric_get(&logingest_shard_stats(w.sh[0])->requests_failed), 7);
    world_deinit(&w);
}

static void test_rate_limit_429(void **state)
{
    (void)state;
    struct logingest_config cfg;
    logingest_config_default(&cfg);
    cfg.rate_lines_per_s = 20; /* 10/s and a burst of 20 per shard */
    cfg.burst_lines = 40;
    struct world w;
    world_init(&w, 2, 64, &cfg);
    struct spec sp[2] = {{"{job=\"a\"}", 8, 1000, "a", 0, 0}, {"{job=\"b\"}", 8, 1000, "b", 0, 0}};
    struct outcome o = {0};
    push(&w, 0, sp, 2, &o); /* 16 of 20 */
    push_world_run(&w.pw, &o.calls, 1);
    assert_int_equal(o.reply.status, 204);
    struct outcome o2 = {0};
    push(&w, 0, sp, 2, &o2); /* 16 more: refused whole, nothing taken */
    assert_int_equal(o2.calls, 1);
    assert_int_equal(o2.reply.status, 429);
    assert_true(o2.reply.retry_after_s >= 1 && o2.reply.retry_after_s <= 2);
    assert_non_null(strstr(o2.reply.text, "ingestion rate limit exceeded for user acme (limit: 20 "
                                          "lines/sec) while attempting to ingest '16' lines"));
    assert_int_equal(world_kept(&w), 16);
    struct outcome o3 = {0};
    push(&w, 1, sp, 2, &o3); /* the other shard has its own bucket */
    push_world_run(&w.pw, &o3.calls, 1);
    assert_int_equal(o3.reply.status, 204);
    struct outcome o4 = {0};
    push(&w, 0, sp, 1, &o4); /* 8 fit into the 4 left? no */
    assert_int_equal(o4.reply.status, 429);
    assert_int_equal(metric_get(&logingest_shard_stats(w.sh[0])->rate_limited), 2);
    world_deinit(&w);
}

static void test_mesh_full_times_out_503(void **state)
{
    (void)state;
    struct world w;
    world_init(&w, 2, 2, NULL);
    w.pw.asleep[1] = true;
    struct spec sp[1] = {{stream_owned_by(1, 2, 0), 1, 1000, "a", 0, 0}};
    struct outcome o[4] = {{0}};
    for (int i = 0; i < 4; i++)
        push(&w, 0, sp, 1, &o[i]);
    push_world_turn(&w.pw);
    assert_int_equal(o[0].calls + o[1].calls + o[2].calls + o[3].calls, 0);
    push_world_time_out(&w.pw);
    assert_int_equal(outcomes_503(o, 4), 2); /* lane capacity 2: two parts got in, two timed out */
    assert_true(metric_get(&logingest_shard_stats(w.sh[0])->mesh_full_retries) > 0);
    w.pw.asleep[1] = false;
    for (int turn = 0; turn < 10; turn++)
        push_world_turn(&w.pw);
    for (int i = 0; i < 4; i++)
        assert_int_equal(o[i].calls, 1);
    assert_int_equal(w.fake[1].nkept, 2);
    world_deinit(&w);
}

/* Random pushes from random shards: every entry lands exactly once, on its owner. */
static void test_random_split(void **state)
{
    (void)state;
    struct prop p = prop_begin("loki_push_random_split");
    for (int round = 0; round < 20; round++) {
        uint32_t n = 1 + (uint32_t)(prop_next(&p) % NS_MAX);
        struct world w;
        world_init(&w, n, 2u << (prop_next(&p) % 4), NULL);
        struct spec sp[16];
        char sel[16][64];
        size_t ns = 1 + prop_next(&p) % 16;
        uint64_t want = 0;
        for (size_t i = 0; i < ns; i++) {
            snprintf(sel[i], sizeof sel[i], "{app=\"a%u\",pod=\"p%u\"}",
                     (unsigned)(prop_next(&p) % 5), (unsigned)(prop_next(&p) % 7));
            sp[i] = (struct spec){sel[i], (uint32_t)(prop_next(&p) % 20), (int64_t)(i * 100), "r",
                                  0,      (uint32_t)(prop_next(&p) % 3)};
            want += sp[i].n;
        }
        struct outcome o = {0};
        push(&w, (uint32_t)(prop_next(&p) % n), sp, ns, &o);
        for (int turn = 0; turn < 50 && !o.calls; turn++)
            push_world_turn(&w.pw);
        prop_check(&p, o.calls == 1 && o.reply.status == 204);
        prop_check(&p, o.reply.entries_written == want);
        prop_check(&p, world_kept(&w) == want);
        world_deinit(&w);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_body_kind),
        cmocka_unit_test(test_rate_buckets),
        cmocka_unit_test(test_multi_shard_push_204),
        cmocka_unit_test(test_json_push_and_normalisation),
        cmocka_unit_test(test_partial_rejection_400),
        cmocka_unit_test(test_stream_limit_429),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_validation),
        cmocka_unit_test(test_decode_errors),
        cmocka_unit_test(test_rate_limit_429),
        cmocka_unit_test(test_mesh_full_times_out_503),
        cmocka_unit_test(test_random_split),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
