/* Push dispatch on its own, with a toy protocol over the N-shard world of push_fixture.h: every
 * item reaches the owner its hash names, exactly once, in parts with the right first index; the
 * request completes once, after every owner made its part durable, and goes back to the pool;
 * parts answered at once and parts refused are merged with the most severe refusal kept; the
 * refusal wording and the /metrics helpers (golden text). Randomized over shard counts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/hash.h"
#include "server/dispatch.h"
#include "tests/unit/prop.h"
#include "tests/unit/server/push_fixture.h"

#define ITEMS_MAX 64
#define TOY_MSG   0x544f0001u

/* ---- a toy protocol: a request is a list of hashes; an owner counts what it got ---- */

struct toy_part {
    DISPATCH_PART_HEAD;
    uint32_t n;
    const uint64_t *hash; /* immutable while in flight */
    uint32_t stored;      /* written by the owner */
};

struct toy_req {
    struct dispatch_req base;
    uint32_t stored, finished;
    int status, retry_after_s;
    char text[DISPATCH_REASON_MAX];
};

struct toy_shard {
    struct dispatch_shard d;
    struct push_pending *pend;
    uint32_t id;
    int refuse;     /* the store's refusal (0: takes parts) */
    bool immediate; /* answers parts at once instead of on durability */
    uint64_t items; /* items applied here */
    bool wrong_owner;
    struct toy_req *last; /* the last request finished here */
};

static int toy_apply(void *proto, struct dispatch_part *part)
{
    struct toy_shard *s = proto;
    struct toy_part *p = (struct toy_part *)part;
    if (s->refuse) {
        p->rc = s->refuse;
        return 1;
    }
    for (uint32_t i = 0; i < p->n; i++)
        s->wrong_owner |= hash_to_range(p->hash[i], s->d.nshards) != s->id;
    s->items += p->n;
    p->stored = p->n;
    if (s->immediate)
        return 1;
    push_pending_add(s->pend, dispatch_part_durable, part);
    return 0;
}

static void toy_absorb(struct dispatch_req *base, struct dispatch_part *part)
{
    struct toy_req *r = (struct toy_req *)base;
    struct toy_part *p = (struct toy_part *)part;
    dispatch_refusal_merge(&r->base.refusal, p->rc);
    r->stored += p->stored;
}

static void toy_finish(struct dispatch_req *base)
{
    struct toy_req *r = (struct toy_req *)base;
    r->finished++;
    r->status = dispatch_refusal_reply(r->base.refusal, &r->retry_after_s, r->text, sizeof r->text);
    if (!r->status)
        r->status = 204;
    struct toy_shard *s = r->base.d->proto;
    s->last = r;
}

static const struct dispatch_ops toy_ops = {
    .msg_type = TOY_MSG,
    .req_size = sizeof(struct toy_req),
    .part_size = sizeof(struct toy_part),
    .expired_msg = "toy: mesh lane full too long",
    .apply = toy_apply,
    .absorb = toy_absorb,
    .finish = toy_finish,
};

struct world {
    struct push_world pw; /* first */
    struct toy_shard shard[PUSH_NS_MAX];
};

static void *toy_create(struct push_world *pw, uint32_t i, const void *cfg)
{
    (void)cfg;
    struct world *w = (struct world *)pw;
    struct toy_shard *s = &w->shard[i];
    memset(s, 0, sizeof *s);
    dispatch_shard_init(&s->d, &toy_ops, s, i, pw->n, pw->mesh);
    s->d.body_bytes_max = 1u << 16;
    s->pend = &pw->pending[i];
    s->id = i;
    return s;
}

static bool toy_on_message(struct toy_shard *s, struct mesh_msg *m)
{
    return dispatch_on_message(&s->d, m);
}
static bool toy_poll(struct toy_shard *s, int64_t now_ns)
{
    return dispatch_poll(&s->d, now_ns);
}
static bool toy_idle(const struct toy_shard *s)
{
    return dispatch_idle(&s->d);
}
static void toy_destroy(struct toy_shard *s)
{
    dispatch_shard_deinit(&s->d);
}

PUSH_WORLD_OPS(world_ops, struct toy_shard, toy_create, toy_on_message, toy_poll, toy_idle,
               toy_destroy);

/* Splits hashes h[0..n) into parts and sends them from shard `from`; the request is returned. */
static struct toy_req *toy_send(struct world *w, uint32_t from, const uint64_t *h, uint32_t n)
{
    struct toy_shard *s = &w->shard[from];
    struct toy_req *r = (struct toy_req *)dispatch_req_begin(&s->d, STR_LIT("acme"));
    assert_non_null(r);
    assert_true(str_eq_cstr(r->base.tenant, "acme"));
    r->stored = r->finished = 0;
    r->status = r->retry_after_s = 0;
    struct dispatch_split sp;
    assert_int_equal(dispatch_split_init(&r->base, &sp, n), 0);
    uint64_t *copy = arena_alloc(&r->base.arena, (n + 1) * sizeof *copy);
    assert_non_null(copy);
    memcpy(copy, h, n * sizeof *h);
    for (uint32_t i = 0; i < n; i++)
        assert_int_equal(dispatch_split_place(&sp, i, h[i], s->d.nshards),
                         hash_to_range(h[i], s->d.nshards));
    uint32_t *slot;
    assert_int_equal(dispatch_split_parts(&r->base, &sp, &slot), 0);
    for (uint32_t k = 0; k < r->base.nparts; k++) {
        struct toy_part *p = (struct toy_part *)dispatch_req_part(&r->base, k);
        assert_int_equal(p->hdr.type, TOY_MSG);
        assert_ptr_equal(p->req, &r->base);
        assert_int_equal(slot[p->owner], k);
        assert_int_equal(hash_to_range(h[p->first_index], s->d.nshards), p->owner);
        p->hash = arena_alloc(&r->base.arena, sp.count[p->owner] * sizeof *p->hash);
        assert_non_null(p->hash);
    }
    for (uint32_t i = 0; i < n; i++) {
        struct toy_part *p = (struct toy_part *)dispatch_req_part(&r->base, slot[sp.owner[i]]);
        ((uint64_t *)p->hash)[p->n++] = copy[i];
    }
    dispatch_req_send(&r->base);
    return r;
}

/* ---- tests ---- */

static void test_every_item_once_on_its_owner(void **state)
{
    (void)state;
    struct prop p = prop_begin("dispatch_every_item_once");
    for (int round = 0; round < 30; round++) {
        struct world w;
        uint32_t n = 1 + (uint32_t)(prop_next(&p) % PUSH_NS_MAX);
        push_world_init(&w.pw, &world_ops, n, 2u << (prop_next(&p) % 4), NULL);
        uint64_t h[ITEMS_MAX];
        uint32_t items = 1 + (uint32_t)(prop_next(&p) % ITEMS_MAX);
        for (uint32_t i = 0; i < items; i++)
            h[i] = prop_next(&p);
        uint32_t from = (uint32_t)(prop_next(&p) % n);
        w.shard[(from + 1) % n].immediate = prop_next(&p) % 2;
        struct toy_req *r = toy_send(&w, from, h, items);
        for (int turn = 0; turn < 50 && !w.shard[from].last; turn++)
            push_world_turn(&w.pw);
        prop_check(&p, w.shard[from].last == r);
        /* the request is back in the pool, its fields still readable */
        prop_check(&p, r->finished == 1 && r->stored == items && r->status == 204);
        uint64_t total = 0;
        for (uint32_t i = 0; i < n; i++) {
            prop_check(&p, !w.shard[i].wrong_owner);
            total += w.shard[i].items;
        }
        prop_check(&p, total == items);
        prop_check(&p, w.shard[from].d.npool == 1);
        push_world_deinit(&w.pw);
    }
}

static void test_completion_waits_for_durability(void **state)
{
    (void)state;
    struct world w;
    push_world_init(&w.pw, &world_ops, 2, 64, NULL);
    uint64_t h[16];
    for (int i = 0; i < 16; i++)
        h[i] = hash_bytes(&i, sizeof i);
    w.pw.no_sync = true;
    struct toy_req *r = toy_send(&w, 0, h, 16);
    for (int turn = 0; turn < 5; turn++)
        push_world_turn(&w.pw);
    assert_int_equal(r->finished, 0);
    assert_false(dispatch_idle(&w.shard[0].d));
    w.pw.no_sync = false;
    push_world_turn(&w.pw);
    push_world_turn(&w.pw);
    assert_int_equal(r->finished, 1);
    assert_int_equal(r->stored, 16);
    push_world_deinit(&w.pw);
}

static void test_refusals_merge_most_severe(void **state)
{
    (void)state;
    for (size_t c = 0; c < PUSH_REFUSALS; c++) {
        struct world w;
        push_world_init(&w.pw, &world_ops, 2, 64, NULL);
        w.shard[1].refuse = push_refusals[c].rc;
        uint64_t h[32];
        for (int i = 0; i < 32; i++)
            h[i] = hash_bytes(&i, sizeof i);
        struct toy_req *r = toy_send(&w, 0, h, 32);
        for (int turn = 0; turn < 10 && !r->finished; turn++)
            push_world_turn(&w.pw);
        assert_int_equal(r->finished, 1);
        assert_int_equal(r->status, push_refusals[c].status);
        assert_non_null(strstr(r->text, push_refusals[c].text));
        assert_int_equal(r->retry_after_s, r->status == 503 ? 1 : 0);
        assert_int_equal(r->stored, w.shard[0].items); /* the other owner stored its part */
        push_world_deinit(&w.pw);
    }
    int worst = 0;
    dispatch_refusal_merge(&worst, ERR_NOMEM);
    assert_int_equal(worst, ERR_NOMEM);
    dispatch_refusal_merge(&worst, ERR_LIMIT);
    assert_int_equal(worst, ERR_LIMIT);
    dispatch_refusal_merge(&worst, ERR_NOMEM);
    assert_int_equal(worst, ERR_LIMIT);
    dispatch_refusal_merge(&worst, -ENOSPC);
    assert_int_equal(worst, -ENOSPC);
    dispatch_refusal_merge(&worst, ERR_FULL);
    assert_int_equal(worst, -ENOSPC); /* the first of equal severity stays */
    dispatch_refusal_merge(&worst, 0);
    assert_int_equal(worst, -ENOSPC);
    int ra = 0;
    char text[64];
    assert_int_equal(dispatch_refusal_reply(0, &ra, text, sizeof text), 0);
    assert_int_equal(dispatch_refusal_reply(ERR_CLOSED, &ra, text, sizeof text), 503);
    assert_string_equal(text, "shutting down; retry later");
    assert_int_equal(ra, 1);
}

static void test_mesh_full_times_out(void **state)
{
    (void)state;
    struct world w;
    push_world_init(&w.pw, &world_ops, 2, 2, NULL);
    metric_u64 retries = 0;
    w.shard[0].d.mesh_full_retries = &retries;
    w.pw.asleep[1] = true;
    uint64_t h1 = 0;
    for (int i = 0; hash_to_range(h1, 2) != 1; i++)
        h1 = hash_bytes(&i, sizeof i);
    struct toy_req *r[4];
    for (int i = 0; i < 4; i++)
        r[i] = toy_send(&w, 0, &h1, 1);
    push_world_time_out(&w.pw);
    int refused = 0;
    for (int i = 0; i < 4; i++) {
        if (r[i]->finished) {
            assert_int_equal(r[i]->status, 503);
            refused++;
        }
    }
    assert_int_equal(refused, 2); /* lane capacity 2: two got in, two timed out */
    assert_true(metric_get(&retries) > 0);
    w.pw.asleep[1] = false;
    for (int turn = 0; turn < 10; turn++)
        push_world_turn(&w.pw);
    assert_int_equal(w.shard[1].items, 2);
    push_world_deinit(&w.pw);
}

static const char *kind_name(int k)
{
    static const char *const names[] = {"too_old", "too_new", "dup"};
    return names[k];
}

/* A store per even shard: gauges 10*i and 10*i+1, counter i+3, rejections 1 and 2 each. */
static bool toy_row(const void *ctx, uint32_t i, uint64_t *g, uint64_t *c, uint64_t *r)
{
    (void)ctx;
    if (i % 2)
        return false;
    g[0] = 10 * i;
    g[1] = 10 * i + 1;
    c[0] = i + 3;
    r[0] = 1;
    r[1] = 2;
    return true;
}

static const char *const toy_gauges[2][2] = {{"x_g", "G."}, {"x_h", "H."}};
static const char *const toy_sums[1][2] = {{"x_s_total", "S."}};
static const struct dispatch_store_metrics toy_store = {
    .gauges = toy_gauges,
    .ngauges = 2,
    .sums = toy_sums,
    .nsums = 1,
    .reasons_name = "x_r_total",
    .reasons_help = "R.",
    .nreasons = 2,
    .reason = kind_name,
    .row = toy_row,
};

static void test_wording_and_metrics(void **state)
{
    (void)state;
    char counts[64];
    size_t o = (size_t)snprintf(counts, sizeof counts, "rejected 3 of 9");
    uint64_t kinds[3] = {2, 0, 1};
    dispatch_fmt_kinds(counts, sizeof counts, &o, kinds, 3, kind_name);
    assert_string_equal(counts, "rejected 3 of 9: 2 too_old, 1 dup");
    char text[80];
    dispatch_fmt_rejection(text, sizeof text, "bad thing", counts, 32);
    assert_string_equal(text, "bad thing (rejected 3 of 9: 2 too_old, 1 dup)");
    char longr[200];
    memset(longr, 'x', sizeof longr - 1);
    longr[sizeof longr - 1] = 0;
    dispatch_fmt_rejection(text, sizeof text, longr, "c", 32);
    assert_int_equal(strlen(text), 80 - 32 - 8 + 4); /* reason cut, the counts kept */
    assert_non_null(strstr(text, " (c)"));

    struct shard {
        int other;
        struct {
            metric_u64 a, b;
        } st;
    } s0 = {0, {1, 2}}, s2 = {0, {10, 20}};
    const void *shards[3] = {&s0, NULL, &s2};
    static const struct dispatch_counter c[] = {
        {"x_a_total", "A.", 0},
        {"x_b_total", "B.", sizeof(metric_u64)},
    };
    struct buf m = BUF_INIT;
    assert_int_equal(dispatch_metrics_counters(&m, c, 2, shards, offsetof(struct shard, st), 3), 0);
    assert_int_equal(dispatch_metrics_store(&m, &toy_store, NULL, 3), 0);
    assert_int_equal(buf_cstr(&m), 0);
    assert_string_equal((char *)m.data, "# HELP x_a_total A.\n# TYPE x_a_total counter\n"
                                        "x_a_total 11\n"
                                        "# HELP x_b_total B.\n# TYPE x_b_total counter\n"
                                        "x_b_total 22\n"
                                        "# HELP x_g G.\n# TYPE x_g gauge\n"
                                        "x_g{shard=\"0\"} 0\nx_g{shard=\"2\"} 20\n"
                                        "# HELP x_h H.\n# TYPE x_h gauge\n"
                                        "x_h{shard=\"0\"} 1\nx_h{shard=\"2\"} 21\n"
                                        "# HELP x_s_total S.\n# TYPE x_s_total counter\n"
                                        "x_s_total 8\n"
                                        "# HELP x_r_total R.\n# TYPE x_r_total counter\n"
                                        "x_r_total{reason=\"too_old\"} 2\n"
                                        "x_r_total{reason=\"too_new\"} 4\n");
    buf_deinit(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_item_once_on_its_owner),
        cmocka_unit_test(test_completion_waits_for_durability),
        cmocka_unit_test(test_refusals_merge_most_severe),
        cmocka_unit_test(test_mesh_full_times_out),
        cmocka_unit_test(test_wording_and_metrics),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
