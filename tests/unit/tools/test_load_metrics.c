/* strata-load metrics workload: deterministic bytes per seed, sorted and valid label sets, unique
 * series, counters monotonic, histogram buckets cumulative with +Inf == _count, churn giving new
 * instance/pod values at the configured pace, and bodies that our remote-write decoders accept. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/hash.h"
#include "formats/wire/rw.h"
#include "tests/unit/prop.h"
#include "tools/strata-load/rwenc.c"
#include "tools/strata-load/wl_metrics.c"

#define T0 1700000000000LL /* ms */

static struct ld_metrics_cfg cfg(uint64_t seed, uint32_t targets, uint32_t spt, uint32_t batch,
                                 double churn)
{
    return (struct ld_metrics_cfg){seed, targets, spt, batch, 15000, churn, T0};
}

static bool name_ok(struct str s, bool metric)
{
    if (s.len == 0)
        return false;
    for (size_t i = 0; i < s.len; i++) {
        char c = s.ptr[i];
        bool alpha =
            (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (metric && c == ':');
        if (!(alpha || (i > 0 && c >= '0' && c <= '9')))
            return false;
    }
    return true;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static struct str label_of(const struct rw_series *s, const char *name)
{
    for (size_t i = 0; i < s->n_labels; i++)
        if (str_eq_cstr(s->labels[i].name, name))
            return s->labels[i].value;
    fail_msg("no label %s", name);
    return STR_LIT("");
}

static void encode(const struct ld_metrics *m, uint32_t g, const int64_t *ts, uint32_t n,
                   enum ld_rw_protocol proto, struct buf *out)
{
    struct ld_mbatch b;
    ld_mbatch_init(&b);
    assert_int_equal(ld_metrics_build(m, g, ts, n, &b), 0);
    buf_reset(out);
    assert_int_equal(ld_metrics_encode(&b, proto, out), 0);
    ld_mbatch_deinit(&b);
}

static void test_deterministic(void **state)
{
    struct ld_metrics a, b, c;
    struct ld_metrics_cfg ca = cfg(42, 7, 300, 500, 0.1);
    assert_int_equal(ld_metrics_init(&a, &ca), 0);
    assert_int_equal(ld_metrics_init(&b, &ca), 0);
    ca.seed = 43;
    assert_int_equal(ld_metrics_init(&c, &ca), 0);
    struct buf x = BUF_INIT, y = BUF_INIT, z = BUF_INIT;
    int64_t ts[3] = {T0 + 15000 * 40, T0 + 15000 * 41, T0 + 15000 * 42};
    for (uint32_t g = 0; g < a.n_groups; g++) {
        for (int proto = LD_RW1; proto <= LD_RW2; proto++) {
            encode(&a, g, ts, 3, proto, &x);
            encode(&b, g, ts, 3, proto, &y);
            encode(&c, g, ts, 3, proto, &z);
            assert_int_equal(x.len, y.len);
            assert_memory_equal(x.data, y.data, x.len); /* same seed: same bytes */
            assert_true(x.len != z.len || memcmp(x.data, z.data, x.len) != 0);
        }
    }
    buf_deinit(&x), buf_deinit(&y), buf_deinit(&z);
    ld_metrics_deinit(&a), ld_metrics_deinit(&b), ld_metrics_deinit(&c);
}

static void test_labels_valid_sorted_unique(void **state)
{
    uint32_t spts[] = {1, 3, 14, 15, 36, 51, 500, 1234};
    for (size_t k = 0; k < sizeof spts / sizeof spts[0]; k++) {
        struct ld_metrics m;
        struct ld_metrics_cfg c = cfg(7, 5, spts[k], 333, 0);
        assert_int_equal(ld_metrics_init(&m, &c), 0);
        assert_int_equal(m.n_series, 5ull * spts[k]);
        uint64_t *hashes = malloc(m.n_series * sizeof *hashes);
        size_t nh = 0, fams_hist = 0;
        struct ld_mbatch b;
        ld_mbatch_init(&b);
        int64_t ts = T0 + 1000;
        for (uint32_t g = 0; g < m.n_groups; g++) {
            assert_int_equal(ld_metrics_build(&m, g, &ts, 1, &b), 0);
            assert_int_equal(b.n_series, ld_metrics_group_size(&m, g));
            for (size_t i = 0; i < b.n_series; i++) {
                const struct rw_series *s = &b.series[i];
                assert_true(s->n_labels >= 5 && s->n_labels <= LD_M_LABELS_MAX);
                assert_true(str_eq_cstr(s->labels[0].name, "__name__"));
                assert_true(name_ok(s->labels[0].value, true));
                fams_hist += str_eq_cstr(s->labels[0].value, "http_request_duration_seconds_count");
                for (size_t l = 0; l < s->n_labels; l++) {
                    assert_true(name_ok(s->labels[l].name, false));
                    assert_true(s->labels[l].value.len > 0);
                    if (l)
                        assert_true(str_cmp(s->labels[l - 1].name, s->labels[l].name) < 0);
                }
                hashes[nh++] = hash_labels(s->labels, s->n_labels);
            }
        }
        assert_int_equal(nh, m.n_series);
        qsort(hashes, nh, sizeof *hashes, cmp_u64);
        for (size_t i = 1; i < nh; i++) /* every series distinct */
            assert_true(hashes[i - 1] != hashes[i]);
        if (spts[k] >= 51)
            assert_true(fams_hist > 0); /* big enough targets carry histograms */
        free(hashes);
        ld_mbatch_deinit(&b);
        ld_metrics_deinit(&m);
    }
}

/* Values have the precision real exporters give them: cpu seconds in 1/100 s ticks, io time in
 * milliseconds, load averages with two decimals, whole degrees and bytes; only measured
 * durations (scrape_duration_seconds, the histogram _sum) use every bit of a float64. */
static bool has_decimals(double v, int d)
{
    double unit = pow(10, d);
    return round(v * unit) / unit == v;
}

static void test_value_precision(void **state)
{
    (void)state;
    struct ld_metrics m;
    struct ld_metrics_cfg c = cfg(7, 2, 400, 1000, 0);
    assert_int_equal(ld_metrics_init(&m, &c), 0);
    int full = 0, checked = 0, pages = 0;
    for (uint64_t s = 0; s < m.n_series; s++) {
        const struct ld_mtmpl *t = &m.tmpl[s % 400];
        struct str name = t->labels[0].value;
        int want = 0; /* decimals */
        if (str_eq(name, STR_LIT("node_cpu_seconds_total")) ||
            str_eq(name, STR_LIT("node_load1")) || str_eq(name, STR_LIT("node_load5")) ||
            str_eq(name, STR_LIT("node_load15")))
            want = 2;
        else if (str_eq(name, STR_LIT("node_disk_io_time_seconds_total")))
            want = 3;
        else if (str_eq(name, STR_LIT("scrape_duration_seconds")) ||
                 str_eq(name, STR_LIT("http_request_duration_seconds_sum")))
            want = -1;
        if (t->pages) { /* byte gauges: whole pages, following their wave between scrapes */
            for (int i = 0; i < 50; i++) {
                double v = ld_metrics_value(&m, s, 0, T0 + i * 15000);
                double w = ld_metrics_value(&m, s, 0, T0 + (i + 1) * 15000);
                assert_true(fmod(v, 4096) == 0 && v > 0);
                assert_true(fabs(w - v) < 0.1 * v);
            }
            pages++;
        }
        for (int i = 0; i < 50; i++) {
            double v = ld_metrics_value(&m, s, 0, T0 + i * 15000 + 1234);
            if (want < 0) {
                full += !has_decimals(v, 6);
                continue;
            }
            checked++;
            if (!has_decimals(v, want))
                fail_msg("%.*s = %.17g has more than %d decimals", (int)name.len, name.ptr, v,
                         want);
        }
    }
    assert_true(checked > 1000);
    assert_true(full > 0); /* the measured durations do stay full precision */
    assert_true(pages > 0);
    ld_metrics_deinit(&m);
}

static void test_counters_monotonic_histograms_cumulative(void **state)
{
    struct ld_metrics m;
    struct ld_metrics_cfg c = cfg(99, 2, 500, 1000, 0);
    assert_int_equal(ld_metrics_init(&m, &c), 0);
    struct prop p = prop_begin("metrics_values");
    for (uint64_t s = 0; s < m.n_series; s++) {
        const struct ld_mtmpl *t = &m.tmpl[s % 500];
        double prev = -INFINITY;
        int64_t ts = T0 - 3600000;
        for (int i = 0; i < 300; i++) {
            ts += 1 + (int64_t)(prop_next(&p) % 20000); /* irregular, increasing */
            double v = ld_metrics_value(&m, s, 0, ts);
            prop_check(&p, isfinite(v) && v >= 0);
            if (t->kind != LD_M_GAUGE)
                prop_check(&p, v >= prev); /* counters, buckets, _sum and _count never drop */
            prev = v;
            if (t->kind == LD_M_BUCKET && t->le_idx > 0) /* cumulative in le */
                prop_check(&p, v >= ld_metrics_value(&m, s - 1, 0, ts));
            if (t->kind == LD_M_HCOUNT) /* +Inf bucket == _count, two series back */
                prop_check(&p, v == ld_metrics_value(&m, s - 2, 0, ts));
        }
    }
    ld_metrics_deinit(&m);
}

static void test_churn(void **state)
{
    struct ld_metrics m;
    struct ld_metrics_cfg c = cfg(5, 20, 50, 100, 0.1); /* 2 targets replaced per interval */
    assert_int_equal(ld_metrics_init(&m, &c), 0);
    for (uint32_t e = 0; e < 40; e++) {
        int64_t ts = T0 + (int64_t)e * 15000 + 7;
        uint32_t sum = 0;
        for (uint32_t t = 0; t < 20; t++)
            sum += ld_metrics_gen(&m, t, ts);
        assert_int_equal(sum, 2 * e); /* generations handed out so far */
        for (uint32_t t = 0; t < 20; t++) {
            uint32_t g = ld_metrics_gen(&m, t, ts);
            int64_t birth = ld_metrics_birth_ms(&m, t, g);
            assert_true(birth <= ts);
            if (g > 0) {
                assert_int_equal(ld_metrics_gen(&m, t, birth), g);
                assert_int_equal(ld_metrics_gen(&m, t, birth - 1), g - 1);
            }
        }
    }
    /* a replaced target's series carry a new instance and pod */
    struct ld_mbatch b;
    ld_mbatch_init(&b);
    int64_t before = T0 + 5, after = T0 + 15000 + 5;
    assert_int_equal(ld_metrics_build(&m, 0, &before, 1, &b), 0);
    char inst0[64], pod0[64];
    struct str v = label_of(&b.series[0], "instance");
    snprintf(inst0, sizeof inst0, "%.*s", (int)v.len, v.ptr);
    v = label_of(&b.series[0], "pod");
    snprintf(pod0, sizeof pod0, "%.*s", (int)v.len, v.ptr);
    assert_string_equal(inst0, "10.0.0.0:9100");
    assert_int_equal(strncmp(pod0, "node-exporter-", 14), 0);
    assert_int_equal(strlen(pod0), 19);
    assert_int_equal(ld_metrics_build(&m, 0, &after, 1, &b), 0);
    assert_false(str_eq_cstr(label_of(&b.series[0], "instance"), inst0));
    assert_false(str_eq_cstr(label_of(&b.series[0], "pod"), pod0));
    /* a request spanning the change holds the series once per generation */
    int64_t both[2] = {before, after};
    assert_int_equal(ld_metrics_build(&m, 0, both, 2, &b), 0);
    assert_int_equal(b.n_series, 2 * ld_metrics_group_size(&m, 0));
    assert_int_equal(b.n_samples, 2 * ld_metrics_group_size(&m, 0));
    ld_mbatch_deinit(&b);
    ld_metrics_deinit(&m);
}

static void test_decodes(void **state)
{
    struct ld_metrics m;
    struct ld_metrics_cfg c = cfg(3, 4, 200, 300, 0);
    assert_int_equal(ld_metrics_init(&m, &c), 0);
    struct wire_decoder d;
    wire_decoder_init(&d, 64 << 20, 1 << 30);
    struct buf out = BUF_INIT;
    int64_t ts[4] = {T0, T0 + 15000, T0 + 30000, T0 + 45000};
    for (uint32_t g = 0; g < m.n_groups; g++) {
        uint32_t n = ld_metrics_group_size(&m, g);
        encode(&m, g, ts, 4, LD_RW1, &out);
        const rw1_request *r1;
        assert_int_equal(rw1_decode(&d, out.data, out.len, &r1), 0);
        assert_int_equal(r1->n_timeseries, n);
        for (size_t i = 0; i < r1->n_timeseries; i++) {
            assert_int_equal(r1->timeseries[i]->n_samples, 4);
            assert_int_equal(r1->timeseries[i]->samples[3]->timestamp, T0 + 45000);
        }
        encode(&m, g, ts, 4, LD_RW2, &out);
        const rw2_request *r2;
        assert_int_equal(rw2_decode(&d, out.data, out.len, &r2), 0);
        assert_int_equal(r2->n_timeseries, n);
    }
    buf_deinit(&out);
    wire_decoder_deinit(&d);
    ld_metrics_deinit(&m);
}

static void test_bad_config(void **state)
{
    struct ld_metrics m;
    struct ld_metrics_cfg c = cfg(1, 0, 10, 10, 0);
    assert_int_equal(ld_metrics_init(&m, &c), ERR_INVALID);
    c = cfg(1, 1, 10, 10, 1.5);
    assert_int_equal(ld_metrics_init(&m, &c), ERR_INVALID);
    c = cfg(1, 1, 10, 0, 0);
    assert_int_equal(ld_metrics_init(&m, &c), ERR_INVALID);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_deterministic),
        cmocka_unit_test(test_labels_valid_sorted_unique),
        cmocka_unit_test(test_counters_monotonic_histograms_cumulative),
        cmocka_unit_test(test_value_precision),
        cmocka_unit_test(test_churn),
        cmocka_unit_test(test_decodes),
        cmocka_unit_test(test_bad_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
