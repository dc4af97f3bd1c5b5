/* PromQL over CHUNK_PACKED chunks (formats/floatpack.h, what blocks store): a storage that hands
 * the evaluator the in-memory store's series with every XOR chunk re-encoded as one packed chunk
 * per series must give exactly the results of the XOR chunks, for instant and range queries whose
 * ranges start before, inside and after the chunks (the packed decoder's seek path), with stale
 * markers, decimal and full-entropy values. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/error.h"
#include "engine/promql/eval.h"
#include "engine/promql/memstore.h"
#include "engine/promql/parse.h"
#include "formats/floatpack.h"
#include "formats/gorilla.h"
#include "tests/unit/prop.h"

#define SEC 1000

/* ---- a storage re-encoding the memstore's float chunks as one packed chunk per series ---- */

struct pk_set {
    struct chunk_series_set base;
    struct chunk_series_set *in;
    struct buf data;
    struct chunk_meta meta;
    struct chunk_series cur;
    int64_t *t;
    uint64_t *v;
    size_t cap;
};

static int pk_next(struct chunk_series_set *b)
{
    struct pk_set *s = (struct pk_set *)b;
    int rc = chunk_series_set_next(s->in);
    if (rc != 1)
        return s->base.err = rc;
    const struct chunk_series *cs = chunk_series_set_at(s->in);
    size_t n = 0;
    for (size_t c = 0; c < cs->n_chunks; c++) {
        assert_int_equal(cs->chunks[c].encoding, CHUNK_XOR);
        if (n + cs->chunks[c].samples > s->cap) {
            s->cap = 2 * (n + cs->chunks[c].samples);
            s->t = realloc(s->t, s->cap * sizeof *s->t);
            s->v = realloc(s->v, s->cap * sizeof *s->v);
        }
        struct gorilla_iter it;
        assert_int_equal(gorilla_iter_init(&it, cs->chunks[c].data, cs->chunks[c].len), 0);
        while (gorilla_iter_next(&it) == 1) {
            gorilla_iter_at_bits(&it, &s->t[n], &s->v[n]);
            assert_true(n == 0 || s->t[n] > s->t[n - 1]); /* no overlaps in this data */
            n++;
        }
    }
    buf_reset(&s->data);
    assert_int_equal(floatpack_encode(s->t, s->v, n, &s->data), 0);
    s->meta = (struct chunk_meta){s->t[0],      s->t[n - 1],  (uint32_t)n,
                                  CHUNK_PACKED, s->data.data, s->data.len};
    s->cur = (struct chunk_series){cs->labels, cs->n_labels, &s->meta, 1};
    return 1;
}

static const struct chunk_series *pk_at(struct chunk_series_set *b)
{
    return &((struct pk_set *)b)->cur;
}

static void pk_close(struct chunk_series_set *b)
{
    struct pk_set *s = (struct pk_set *)b;
    chunk_series_set_close(s->in);
    buf_deinit(&s->data);
    free(s->t);
    free(s->v);
    free(s);
}

static const struct chunk_series_set_ops pk_ops = {pk_next, pk_at, pk_close};

static int pk_select(void *ctx, const struct matcher *ms, size_t n, int64_t mint_ms,
                     int64_t maxt_ms, const struct promql_select_hints *hints,
                     struct chunk_series_set **out)
{
    const struct promql_storage *inner = ctx;
    struct pk_set *s = calloc(1, sizeof *s);
    s->base.ops = &pk_ops;
    int rc = inner->select(inner->ctx, ms, n, mint_ms, maxt_ms, hints, &s->in);
    if (rc) {
        free(s);
        return rc;
    }
    *out = &s->base;
    return 0;
}

/* ---- fixture ---- */

struct fx {
    struct promql_memstore *ms;
    struct promql_storage xor_st, pk_st;
    struct promql_engine_opts o;
    struct buf b;
};

static void load(struct fx *f, struct prop *p)
{
    static const char *const names[] = {"cpu_seconds_total", "load1", "duration_seconds"};
    for (int i = 0; i < 12; i++) {
        char inst[16];
        snprintf(inst, sizeof inst, "i%d", i);
        struct label l[2] = {{STR_LIT("__name__"), str_from_cstr(names[i % 3])},
                             {STR_LIT("instance"), str_from_cstr(inst)}};
        int64_t t = (int64_t)(prop_next(p) % 15000);
        int64_t m = (int64_t)(prop_next(p) % 100000);
        for (int j = 0; j < 900; j++) {
            t += prop_next(p) % 40 == 0 ? 400 * SEC : 15 * SEC + (int64_t)(prop_next(p) % 5);
            m += (int64_t)(prop_next(p) % 300);
            double v = i % 3 == 0   ? (double)m / 100
                       : i % 3 == 1 ? (double)(int64_t)(prop_next(p) % 400) / 100
                                    : prop_unit(p) * 0.02;
            uint64_t bits = GORILLA_STALE_NAN_BITS;
            if (prop_next(p) % 60 == 0)
                memcpy(&v, &bits, sizeof v);
            assert_int_equal(promql_memstore_add_float(f->ms, l, 2, t, v, 0), 0);
        }
    }
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    f->ms = promql_memstore_create();
    promql_memstore_storage(f->ms, &f->xor_st);
    f->pk_st = (struct promql_storage){pk_select, &f->xor_st};
    promql_engine_opts_default(&f->o);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    promql_memstore_destroy(f->ms);
    buf_deinit(&f->b);
    free(f);
    return 0;
}

static struct promql_result *query(struct fx *f, const struct promql_storage *st, const char *q,
                                   int64_t start, int64_t end, int64_t step)
{
    struct promql_ast *ast = NULL;
    struct promql_error pe;
    assert_int_equal(promql_parse(q, strlen(q), NULL, &ast, &pe), 0);
    struct promql_result *r = NULL;
    char err[256];
    int rc = promql_eval(st, ast, q, strlen(q), &f->o, start, end, step, &r, err, sizeof err);
    promql_ast_destroy(ast);
    if (rc)
        print_error("%s: %s\n", q, err);
    assert_int_equal(rc, 0);
    return r;
}

static size_t compared; /* points compared: the queries must not all come back empty */

static void same_results(struct fx *f, const char *q, int64_t start, int64_t end, int64_t step)
{
    struct promql_result *a = query(f, &f->xor_st, q, start, end, step);
    struct promql_result *b = query(f, &f->pk_st, q, start, end, step);
    assert_int_equal(a->type, b->type);
    assert_memory_equal(&a->scalar, &b->scalar, sizeof a->scalar);
    assert_int_equal(a->nseries, b->nseries);
    for (size_t i = 0; i < a->nseries; i++) {
        buf_reset(&f->b);
        assert_int_equal(promql_lset_format(&f->b, a->series[i].labels), 0);
        size_t la = f->b.len;
        assert_int_equal(promql_lset_format(&f->b, b->series[i].labels), 0);
        assert_int_equal(f->b.len, 2 * la);
        assert_memory_equal(f->b.data, f->b.data + la, la);
        assert_int_equal(a->series[i].nfloats, b->series[i].nfloats);
        compared += a->series[i].nfloats;
        for (size_t j = 0; j < a->series[i].nfloats; j++) {
            assert_int_equal(a->series[i].floats[j].t, b->series[i].floats[j].t);
            assert_memory_equal(&a->series[i].floats[j].v, &b->series[i].floats[j].v,
                                sizeof(double));
        }
    }
    promql_result_free(a);
    promql_result_free(b);
}

static void test_packed_equals_xor(void **state)
{
    struct fx *f = *state;
    struct prop p = prop_begin("eval_packed_equals_xor");
    load(f, &p);
    static const char *const qs[] = {
        "cpu_seconds_total",
        "load1",
        "duration_seconds",
        "rate(cpu_seconds_total[5m])",
        "max_over_time(load1[10m])",
        "sum by (instance) (count_over_time(duration_seconds[3m]))",
        "last_over_time(duration_seconds[1h])",
        "cpu_seconds_total[2m]",
        "changes(load1[30m])",
    };
    for (size_t i = 0; i < sizeof qs / sizeof *qs; i++) {
        for (int k = 0; k < 6; k++) {
            int64_t t = (int64_t)(prop_next(&p) % (5 * 3600)) * SEC - 600 * SEC;
            bool matrix = strchr(qs[i], '[') && qs[i][strlen(qs[i]) - 1] == ']';
            same_results(f, qs[i], t, t, 0);
            if (!matrix)
                same_results(f, qs[i], t, t + 1800 * SEC, 60 * SEC);
        }
    }
    assert_true(compared > 5000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_packed_equals_xor, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
