/* strata-load logs workload: deterministic lines per seed, well-formed JSON / logfmt / nginx lines
 * whose level matches their stream, length distribution within bounds with a long tail, increasing
 * timestamps, streams of the agent's own pods, push bodies (protobuf and JSON) that decode, and
 * requests: lines of one request share its trace id, pod, method and path, run from "request
 * received" to their outcome, interleave with other requests of the pod, and their count follows
 * lines_per_trace (1: every line its own trace id). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <regex.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/tools/json_check.h"
#include "tools/strata-load/wl_logs.c"

#define NS0 1700000000000000000LL

static struct ld_logs_cfg cfg(uint64_t seed, enum ld_log_format f, uint32_t line_max, bool md)
{
    return (struct ld_logs_cfg){seed, 5, 4, 3, f, md, line_max, 0};
}

static struct str line_of(const struct ld_lbatch *b, size_t i)
{
    return (struct str){(const char *)b->text.data + b->e[i].off, b->e[i].len};
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

static void test_deterministic(void **state)
{
    struct ld_logs a, c;
    struct ld_logs_cfg ca = cfg(11, LD_LOG_MIXED, 4096, true);
    assert_int_equal(ld_logs_init(&a, &ca), 0);
    ca.seed = 12;
    assert_int_equal(ld_logs_init(&c, &ca), 0);
    struct ld_lbatch b1, b2, b3;
    ld_lbatch_init(&b1), ld_lbatch_init(&b2), ld_lbatch_init(&b3);
    struct buf x = BUF_INIT, y = BUF_INIT, z = BUF_INIT;
    for (uint32_t agent = 0; agent < 3; agent++) {
        for (int enc = LD_LOKI_PROTOBUF; enc <= LD_LOKI_JSON; enc++) {
            buf_reset(&x), buf_reset(&y), buf_reset(&z);
            assert_int_equal(ld_logs_build(&a, agent, 9, NS0, NS0 + 1000000000, 500, &b1), 0);
            assert_int_equal(ld_logs_build(&a, agent, 9, NS0, NS0 + 1000000000, 500, &b2), 0);
            assert_int_equal(ld_logs_build(&c, agent, 9, NS0, NS0 + 1000000000, 500, &b3), 0);
            assert_int_equal(ld_logs_encode(&a, &b1, enc, &x), 0);
            assert_int_equal(ld_logs_encode(&a, &b2, enc, &y), 0);
            assert_int_equal(ld_logs_encode(&c, &b3, enc, &z), 0);
            assert_int_equal(x.len, y.len);
            assert_memory_equal(x.data, y.data, x.len);
            assert_true(x.len != z.len || memcmp(x.data, z.data, x.len) != 0);
        }
    }
    buf_deinit(&x), buf_deinit(&y), buf_deinit(&z);
    ld_lbatch_deinit(&b1), ld_lbatch_deinit(&b2), ld_lbatch_deinit(&b3);
    ld_logs_deinit(&a), ld_logs_deinit(&c);
}

/* logfmt: key=value pairs separated by single spaces; values bare or double-quoted with escapes. */
static bool logfmt_ok(struct str l, const char *level)
{
    const char *p = l.ptr, *e = l.ptr + l.len;
    bool saw_level = false;
    while (p < e) {
        const char *k = p;
        while (p < e && ((*p >= 'a' && *p <= 'z') || *p == '_'))
            p++;
        if (p == k || p >= e || *p++ != '=')
            return false;
        const char *v = p;
        if (p < e && *p == '"') {
            for (p++; p < e && *p != '"'; p++)
                if (*p == '\\' && ++p >= e)
                    return false;
            if (p++ >= e)
                return false;
        } else {
            while (p < e && *p != ' ' && *p != '"' && *p != '=')
                p++;
            if (p == v)
                return false;
        }
        if (p - k == 6 + (long)strlen(level) && strncmp(k, "level=", 6) == 0 &&
            strncmp(v, level, strlen(level)) == 0)
            saw_level = true;
        if (p < e && *p++ != ' ')
            return false;
    }
    return saw_level;
}

static void check_family(enum ld_log_format f)
{
    struct ld_logs l;
    struct ld_logs_cfg c = cfg(21, f, 4096, false);
    assert_int_equal(ld_logs_init(&l, &c), 0);
    regex_t nginx;
    assert_int_equal(
        regcomp(
            &nginx,
            "^[0-9]+\\.[0-9]+\\.[0-9]+\\.[0-9]+ - - \\[[0-9]{2}/[A-Z][a-z]{2}/[0-9]{4}:[0-9]{2}:"
            "[0-9]{2}:[0-9]{2} \\+0000\\] \"(GET|POST|PUT|DELETE) /[^ \"]* HTTP/1\\.1\" "
            "([0-9]{3}) [0-9]+ \"-\" \"[^\"]*\" [0-9]+\\.[0-9]{3}$",
            REG_EXTENDED),
        0);
    struct ld_lbatch b;
    ld_lbatch_init(&b);
    char tmp[8192];
    for (uint64_t seq = 0; seq < 20; seq++) {
        assert_int_equal(ld_logs_build(&l, (uint32_t)seq % 3, seq, NS0, NS0 + 999999999, 300, &b),
                         0);
        for (size_t i = 0; i < b.n; i++) {
            struct str s = line_of(&b, i);
            const char *lv = ld_level_names[ld_lentry_level(&b.e[i])];
            for (size_t k = 0; k < s.len; k++)
                assert_true(s.ptr[k] >= 32 && s.ptr[k] < 127); /* one printable line */
            memcpy(tmp, s.ptr, s.len);
            tmp[s.len] = 0;
            if (f == LD_LOG_JSON) {
                assert_true(json_valid(s.ptr, s.len));
                char want[64];
                snprintf(want, sizeof want, "\"level\":\"%s\"", lv);
                assert_non_null(strstr(tmp, want));
                assert_int_equal(strncmp(tmp, "{\"ts\":\"20", 9), 0);
            } else if (f == LD_LOG_LOGFMT) {
                if (!logfmt_ok(s, lv))
                    fail_msg("bad logfmt line: %s", tmp);
            } else {
                regmatch_t m[3];
                if (regexec(&nginx, tmp, 3, m, 0))
                    fail_msg("bad nginx line: %s", tmp);
                int status = atoi(tmp + m[2].rm_so);
                enum ld_level level = ld_lentry_level(&b.e[i]);
                assert_true(level == LD_ERROR  ? status >= 500
                            : level == LD_WARN ? status >= 400 && status < 500
                                               : status < 400);
            }
        }
    }
    regfree(&nginx);
    ld_lbatch_deinit(&b);
    ld_logs_deinit(&l);
}

static void test_json_lines(void **state)
{
    check_family(LD_LOG_JSON);
}

static void test_logfmt_lines(void **state)
{
    check_family(LD_LOG_LOGFMT);
}

static void test_nginx_lines(void **state)
{
    check_family(LD_LOG_NGINX);
}

/* Lengths, level shares (per mille bounds for info and error), timestamps and pods of the lines
 * at `lines_per_trace`. */
static void lengths_levels_times(uint32_t lines_per_trace, size_t info_lo, size_t info_hi,
                                 size_t err_lo, size_t err_hi)
{
    struct ld_logs l;
    struct ld_logs_cfg c = cfg(5, LD_LOG_MIXED, 4096, false);
    c.lines_per_trace = lines_per_trace;
    assert_int_equal(ld_logs_init(&l, &c), 0);
    struct ld_lbatch b;
    ld_lbatch_init(&b);
    enum { N = 40000 };
    uint32_t *len = malloc(N * sizeof *len);
    size_t n = 0, levels[LD_LEVELS] = {0};
    for (uint64_t seq = 0; n < N; seq++) {
        int64_t lo = NS0 + (int64_t)seq * 1000000000;
        assert_int_equal(ld_logs_build(&l, (uint32_t)seq % 3, seq, lo, lo + 1000000000, 1000, &b),
                         0);
        for (size_t i = 0; i < b.n && n < N; i++) {
            len[n++] = b.e[i].len;
            levels[ld_lentry_level(&b.e[i])]++;
            assert_true(b.e[i].ts_ns > lo && b.e[i].ts_ns <= lo + 1000000000);
            if (i)
                assert_true(b.e[i].ts_ns > b.e[i - 1].ts_ns);
            uint32_t pod = b.e[i].stream / LD_LEVELS;
            assert_int_equal(pod % 3, seq % 3); /* the agent's own pods */
        }
    }
    qsort(len, N, sizeof *len, cmp_u32);
    assert_true(len[0] >= 60);
    assert_true(len[N - 1] <= 4096);
    assert_true(len[N / 2] >= 120 && len[N / 2] <= 400); /* typical lines */
    assert_true(len[N * 99 / 100] >= 600);               /* a long tail */
    assert_true(len[N - 1] >= 1500);
    assert_in_range(levels[LD_INFO] * 1000 / N, info_lo, info_hi);
    assert_in_range(levels[LD_ERROR] * 1000 / N, err_lo, err_hi);
    free(len);
    /* a small line_max bounds every line */
    struct ld_logs s;
    c.line_max = LD_LOG_LINE_MIN;
    assert_int_equal(ld_logs_init(&s, &c), 0);
    for (uint64_t seq = 0; seq < 30; seq++) {
        assert_int_equal(ld_logs_build(&s, 0, seq, NS0, NS0 + 1000000000, 1000, &b), 0);
        for (size_t i = 0; i < b.n; i++)
            assert_true(b.e[i].len <= LD_LOG_LINE_MIN);
    }
    ld_logs_deinit(&s);
    ld_lbatch_deinit(&b);
    ld_logs_deinit(&l);
}

static void test_lengths_levels_times(void **state)
{
    lengths_levels_times(1, 650, 750, 30, 70); /* one line per request: the line weights */
    lengths_levels_times(0, 600, 800, 10, 50); /* requests of 4 lines: received, 2 steps, outcome */
}

static void test_push_bodies_decode(void **state)
{
    struct ld_logs l;
    struct ld_logs_cfg c = cfg(8, LD_LOG_MIXED, 4096, true);
    assert_int_equal(ld_logs_init(&l, &c), 0);
    struct ld_lbatch b;
    ld_lbatch_init(&b);
    struct buf out = BUF_INIT;
    struct wire_decoder d;
    wire_decoder_init(&d, 64 << 20, 1 << 30);
    for (uint32_t agent = 0; agent < 3; agent++) {
        assert_int_equal(ld_logs_build(&l, agent, 3, NS0, NS0 + 5000000000, 800, &b), 0);
        buf_reset(&out);
        assert_int_equal(ld_logs_encode(&l, &b, LD_LOKI_PROTOBUF, &out), 0);
        struct lokipush_request r;
        assert_int_equal(lokipush_decode(&d, out.data, out.len, &r), 0);
        assert_int_equal(r.n_entries, 800);
        size_t distinct = 0;
        for (size_t s = 0; s < r.n_streams; s++) {
            const struct lokipush_stream *st = &r.streams[s];
            assert_int_equal(st->n_labels, 4);
            struct label want[4];
            uint32_t id = b.sid[s];
            ld_logs_stream_labels(&l, id, want);
            for (int k = 0; k < 4; k++) {
                assert_true(str_eq(st->labels[k].name, want[k].name));
                assert_true(str_eq(st->labels[k].value, want[k].value));
            }
            for (size_t e = 0; e < st->pb->n_entries; e++) {
                const Logproto__EntryAdapter *en = st->pb->entries[e];
                assert_int_equal(en->n_structured_metadata, 2);
                if (e)
                    assert_true(lokipush_entry_ts_ns(en) >
                                lokipush_entry_ts_ns(st->pb->entries[e - 1]));
            }
            distinct++;
        }
        assert_true(distinct >= 2);
        buf_reset(&out);
        assert_int_equal(ld_logs_encode(&l, &b, LD_LOKI_JSON, &out), 0);
        assert_true(json_valid((const char *)out.data, out.len));
        assert_int_equal(memcmp(out.data, "{\"streams\":[{\"stream\":{\"level\":", 31), 0);
    }
    wire_decoder_deinit(&d);
    buf_deinit(&out);
    ld_lbatch_deinit(&b);
    ld_logs_deinit(&l);
}

/* ---- requests ---- */

static const struct ld_lbatch *sort_b; /* for by_trace */

static int by_trace(const void *a, const void *b)
{
    uint32_t i = *(const uint32_t *)a, j = *(const uint32_t *)b;
    const char *t = (const char *)sort_b->text.data;
    int c = memcmp(t + sort_b->e[i].tid_off, t + sort_b->e[j].tid_off, 32);
    return c ? c : (i > j) - (i < j);
}

/* The value of `key` ("path":" or path=) in a line, up to the next '"' or ' '. */
static struct str field(struct str line, const char *key)
{
    char tmp[8192];
    memcpy(tmp, line.ptr, line.len);
    tmp[line.len] = 0;
    const char *p = strstr(tmp, key);
    if (!p)
        return (struct str){NULL, 0};
    p += strlen(key);
    size_t n = strcspn(p, "\" ");
    return (struct str){line.ptr + (p - tmp), n};
}

struct req_stats {
    size_t requests, lines, two_line, interleaved;
};

/* Checks one batch's requests (lines grouped by trace id) and counts them. */
static void check_requests(const struct ld_lbatch *b, enum ld_log_format f, uint32_t lpt,
                           struct req_stats *st)
{
    const char *t = (const char *)b->text.data;
    uint32_t *ix = malloc(b->n * sizeof *ix);
    for (uint32_t i = 0; i < b->n; i++) {
        ix[i] = i;
        if (f == LD_LOG_NGINX) /* access lines carry no trace id */
            continue;
        /* tid_off names the line's trace id, which the line holds exactly once */
        struct str l = line_of(b, i);
        const char *at = memmem(l.ptr, l.len, t + b->e[i].tid_off, 32);
        assert_non_null(at);
        assert_null(memmem(at + 1, l.len - (size_t)(at + 1 - l.ptr), t + b->e[i].tid_off, 32));
    }
    sort_b = b;
    qsort(ix, b->n, sizeof *ix, by_trace);
    const char *pkey = f == LD_LOG_JSON ? "\"path\":\"" : "path=";
    for (size_t g = 0, h; g < b->n; g = h) {
        for (h = g + 1; h < b->n && !memcmp(t + b->e[ix[h]].tid_off, t + b->e[ix[g]].tid_off, 32);
             h++)
            ;
        size_t k = h - g;
        st->requests++, st->lines += k, st->two_line += k == 2;
        if (lpt == 1) {
            assert_int_equal(k, 1);
            continue;
        }
        struct str first = line_of(b, ix[g]), last = line_of(b, ix[h - 1]);
        assert_true(k >= 2 && k <= LD_LINES_PER_TRACE_MAX);
        assert_non_null(memmem(first.ptr, first.len, "request received", 16));
        assert_true(memmem(last.ptr, last.len, "request completed", 17) ||
                    memmem(last.ptr, last.len, "request failed", 14));
        struct str path = field(first, pkey);
        assert_true(path.len > 0);
        uint32_t pod = b->e[ix[g]].stream / LD_LEVELS;
        for (size_t m = g + 1; m < h; m++) {
            assert_int_equal(b->e[ix[m]].stream / LD_LEVELS, pod);
            assert_true(str_eq(field(line_of(b, ix[m]), pkey), path));
            struct str mid = line_of(b, ix[m]);
            if (m < h - 1) /* steps */
                assert_null(memmem(mid.ptr, mid.len, "request received", 16));
        }
        /* another request's line of the same pod between this request's first and last */
        for (uint32_t i = ix[g] + 1; i < ix[h - 1]; i++)
            if (b->e[i].stream / LD_LEVELS == pod &&
                memcmp(t + b->e[i].tid_off, t + b->e[ix[g]].tid_off, 32)) {
                st->interleaved++;
                break;
            }
    }
    free(ix);
}

static void requests_at(enum ld_log_format f, uint32_t lpt)
{
    struct ld_logs l;
    struct ld_logs_cfg c = cfg(77, f, 4096, false);
    c.lines_per_trace = lpt;
    assert_int_equal(ld_logs_init(&l, &c), 0);
    struct ld_lbatch b;
    ld_lbatch_init(&b);
    struct req_stats st = {0};
    for (uint64_t seq = 0; seq < 40; seq++) {
        assert_int_equal(ld_logs_build(&l, (uint32_t)seq % 3, seq, NS0, NS0 + 999999999, 1000, &b),
                         0);
        check_requests(&b, f, lpt, &st);
    }
    double mean = (double)st.lines / (double)st.requests;
    uint32_t want = lpt ? lpt : LD_LINES_PER_TRACE_DEFAULT;
    assert_true(mean > want * 0.93 && mean < want * 1.07);
    if (want > 2) { /* 2 + geometric steps: P(no step) = 1 / (mean - 1) */
        double p2 = (double)st.two_line / (double)st.requests;
        assert_true(p2 > 0.85 / (want - 1) && p2 < 1.15 / (want - 1));
    }
    if (want > 1)
        assert_true(st.interleaved > st.requests / 4);
    ld_lbatch_deinit(&b);
    ld_logs_deinit(&l);
}

static void test_requests_share_trace(void **state)
{
    requests_at(LD_LOG_JSON, 0);
    requests_at(LD_LOG_LOGFMT, 0);
    requests_at(LD_LOG_JSON, 1);
    requests_at(LD_LOG_LOGFMT, 2);
    requests_at(LD_LOG_JSON, 8);
}

/* nginx access logs write one line per request whatever lines_per_trace says; a batch shorter
 * than a request still fills; lines_per_trace above the maximum is refused. */
static void test_requests_edges(void **state)
{
    struct ld_logs l;
    struct ld_logs_cfg c = cfg(3, LD_LOG_NGINX, 4096, false);
    c.lines_per_trace = 6;
    assert_int_equal(ld_logs_init(&l, &c), 0);
    struct ld_lbatch b;
    ld_lbatch_init(&b);
    assert_int_equal(ld_logs_build(&l, 0, 1, NS0, NS0 + 999999999, 500, &b), 0);
    struct req_stats st = {0};
    check_requests(&b, LD_LOG_NGINX, 1, &st);
    assert_int_equal(st.requests, 500);
    ld_logs_deinit(&l);
    c.format = LD_LOG_JSON;
    c.lines_per_trace = LD_LINES_PER_TRACE_MAX;
    assert_int_equal(ld_logs_init(&l, &c), 0);
    for (uint32_t n = 1; n < 8; n++) {
        assert_int_equal(ld_logs_build(&l, 1, n, NS0, NS0 + 999999999, n, &b), 0);
        assert_int_equal(b.n, n);
    }
    ld_logs_deinit(&l);
    c.lines_per_trace = LD_LINES_PER_TRACE_MAX + 1;
    assert_int_equal(ld_logs_init(&l, &c), ERR_INVALID);
    ld_lbatch_deinit(&b);
}

static void test_setup(void **state)
{
    struct ld_logs l;
    struct ld_logs_cfg c = cfg(1, LD_LOG_MIXED, 4096, false);
    c.services = 14; /* more than the name list: suffixed names */
    assert_int_equal(ld_logs_init(&l, &c), 0);
    assert_int_equal(l.n_streams, 14 * 4 * LD_LEVELS);
    assert_string_equal(l.services[12].name.ptr, "checkout-1");
    struct label ls[4];
    ld_logs_stream_labels(&l, 5 * LD_LEVELS + LD_WARN, ls);
    assert_true(str_eq_cstr(ls[0].value, "warn"));
    assert_true(str_eq_cstr(ls[3].value, "cart")); /* pod 5 of 4 per service: service 1 */
    assert_int_equal(strncmp(ls[2].value.ptr, "cart-", 5), 0);
    for (int k = 1; k < 4; k++)
        assert_true(str_cmp(ls[k - 1].name, ls[k].name) < 0);
    assert_int_equal(ld_logs_agent_pods(&l, 0), 19); /* 56 pods over 3 agents */
    assert_int_equal(ld_logs_agent_pods(&l, 2), 18);
    ld_logs_deinit(&l);
    c.line_max = 100;
    assert_int_equal(ld_logs_init(&l, &c), ERR_INVALID);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_deterministic),
        cmocka_unit_test(test_json_lines),
        cmocka_unit_test(test_logfmt_lines),
        cmocka_unit_test(test_nginx_lines),
        cmocka_unit_test(test_lengths_levels_times),
        cmocka_unit_test(test_push_bodies_decode),
        cmocka_unit_test(test_setup),
        cmocka_unit_test(test_requests_share_trace),
        cmocka_unit_test(test_requests_edges),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
