/* Fuzz target for the Prometheus API parameter parsers (server/api_prom.h): the input, as one
 * parameter value, goes through the time, duration and limit parsers, the U__ label-name
 * unescaper and the label-name check; and split at its first newline into a (start, end) pair for
 * the 11,000-points rule. Checked: parsed times lie in [MinTime, MaxTime] and print back to the
 * same millisecond as float seconds; whole-millisecond non-negative durations print back (as
 * Prometheus durations) to the same value; limits print back; unescaping never grows a name by
 * more than its bytes and keeps names without the U__ prefix unchanged. */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "base/assert.h"
#include "base/buf.h"
#include "base/error.h"
#include "engine/promql/print.h"
#include "server/api_prom.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_time(struct str s)
{
    int64_t ms;
    char err[PROM_ERR_MAX];
    if (prom_parse_time(s, &ms, err, sizeof err) != 0) {
        ASSERT(strstr(err, "to a valid timestamp"));
        return;
    }
    ASSERT(ms >= PROM_TIME_MIN_MS && ms <= PROM_TIME_MAX_MS);
    char txt[64];
    uint64_t a = ms < 0 ? (uint64_t)0 - (uint64_t)ms : (uint64_t)ms;
    snprintf(txt, sizeof txt, "%s%" PRIu64 ".%03" PRIu64, ms < 0 ? "-" : "", a / 1000, a % 1000);
    int64_t back;
    ASSERT(prom_parse_time(str_from_cstr(txt), &back, err, sizeof err) == 0);
    if (a < 1000000000000000ull) /* float seconds with 3 decimals keep every millisecond */
        ASSERT(back == ms);
}

static void check_duration(struct str s)
{
    int64_t ns;
    char err[PROM_ERR_MAX];
    if (prom_parse_duration(s, &ns, err, sizeof err) != 0) {
        ASSERT(strstr(err, "to a valid duration"));
        return;
    }
    if (ns <= 0 || ns % 1000000)
        return;
    struct buf b;
    buf_init(&b);
    if (promql_format_duration(&b, ns / 1000000) == 0) {
        int64_t back;
        ASSERT(prom_parse_duration((struct str){(const char *)b.data, b.len}, &back, err,
                                   sizeof err) == 0);
        ASSERT(back == ns);
    }
    buf_deinit(&b);
}

static void check_limit(struct str s)
{
    int64_t l;
    char err[PROM_ERR_MAX];
    if (prom_parse_limit(s, &l, err, sizeof err) != 0)
        return;
    ASSERT(l >= 0);
    char txt[32];
    snprintf(txt, sizeof txt, "%" PRId64, l);
    int64_t back;
    ASSERT(prom_parse_limit(str_from_cstr(txt), &back, err, sizeof err) == 0 && back == l);
}

static void check_name(struct str s)
{
    struct buf b;
    buf_init(&b);
    if (prom_unescape_name(s, &b) == 0) {
        ASSERT(b.len <= s.len);
        if (s.len < 3 || memcmp(s.ptr, "U__", 3) != 0)
            ASSERT(b.len == s.len && (s.len == 0 || memcmp(b.data, s.ptr, s.len) == 0));
        (void)prom_label_name_valid((struct str){(const char *)b.data, b.len});
    }
    buf_deinit(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096)
        return 0;
    struct str s = {(const char *)data, size};
    check_time(s);
    check_duration(s);
    check_limit(s);
    check_name(s);
    const char *nl = size ? memchr(data, '\n', size) : NULL;
    if (nl) {
        struct str a = {(const char *)data, (size_t)(nl - (const char *)data)};
        struct str b = {nl + 1, size - a.len - 1};
        int64_t start, end, step;
        char err[PROM_ERR_MAX];
        if (prom_parse_time(a, &start, err, sizeof err) == 0 &&
            prom_parse_time(b, &end, err, sizeof err) == 0 &&
            prom_parse_duration(b, &step, err, sizeof err) == 0)
            (void)prom_range_too_many_points(start, end, step);
    }
    return 0;
}
