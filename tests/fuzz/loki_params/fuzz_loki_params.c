/* Fuzz target for the Loki query API parameter parsers (server/api_loki.h): the input, as one
 * parameter value, goes through the time, duration, limit and direction parsers and the encoding
 * flags check; split at its first two newlines into (start, end, since) for the bounds. Checked:
 * errors carry Loki's wording; integer times print back (seconds for up to 10 characters,
 * nanoseconds beyond) to the same instant; limits print back; bounds with a given start and end
 * return exactly those; the default step is a positive whole number of seconds. */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "base/assert.h"
#include "base/error.h"
#include "server/api_loki.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_time(struct str s)
{
    int64_t ns;
    char err[LOKI_ERR_MAX];
    if (loki_parse_time(s, &ns, err, sizeof err) != 0) {
        ASSERT(strstr(err, "strconv.ParseInt: parsing "));
        return;
    }
    char txt[32];
    snprintf(txt, sizeof txt, "%" PRId64, ns);
    int64_t back;
    if (strlen(txt) > 10) { /* printed back as nanoseconds */
        ASSERT(loki_parse_time(str_from_cstr(txt), &back, err, sizeof err) == 0);
        ASSERT(back == ns);
    }
    if (ns % 1000000000 == 0 && ns / 1000000000 < 9999999999LL && ns >= 0) {
        snprintf(txt, sizeof txt, "%" PRId64, ns / 1000000000);
        ASSERT(loki_parse_time(str_from_cstr(txt), &back, err, sizeof err) == 0);
        ASSERT(back == ns);
    }
}

static void check_limit(struct str s)
{
    uint32_t l;
    char err[LOKI_ERR_MAX];
    if (loki_parse_limit(s, 100, &l, err, sizeof err) != 0) {
        ASSERT(strstr(err, "strconv.Atoi") || strstr(err, "limit"));
        return;
    }
    ASSERT(l > 0);
    char txt[16];
    snprintf(txt, sizeof txt, "%u", l);
    uint32_t back;
    ASSERT(loki_parse_limit(str_from_cstr(txt), 100, &back, err, sizeof err) == 0 && back == l);
}

static void check_misc(struct str s)
{
    int64_t ns;
    char err[LOKI_ERR_MAX];
    if (loki_parse_duration(s, &ns, err, sizeof err) != 0)
        ASSERT(strstr(err, "to a valid duration"));
    bool back;
    if (loki_parse_direction(s, &back, err, sizeof err) != 0)
        ASSERT(strstr(err, "invalid direction '"));
    (void)loki_flags_categorize(s);
}

static void check_bounds(struct str a, struct str b, struct str c)
{
    int64_t s, e, now = 1700000000000000000LL;
    char err[LOKI_ERR_MAX];
    if (loki_parse_bounds(a, b, c, now, &s, &e, err, sizeof err) != 0) {
        ASSERT(strstr(err, "could not parse '"));
        return;
    }
    int64_t x;
    if (a.len) {
        ASSERT(loki_parse_time(a, &x, err, sizeof err) == 0 && x == s);
    }
    if (b.len) {
        ASSERT(loki_parse_time(b, &x, err, sizeof err) == 0 && x == e);
    } else {
        ASSERT(e == now);
    }
    int64_t step = loki_default_step_ns(s, e);
    ASSERT(step >= 1000000000 && step % 1000000000 == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096)
        return 0;
    struct str s = {(const char *)data, size};
    check_time(s);
    check_limit(s);
    check_misc(s);
    const char *nl = memchr(data, '\n', size);
    struct str a = s, b = {"", 0}, c = {"", 0};
    if (nl) {
        a.len = (size_t)(nl - (const char *)data);
        b = (struct str){nl + 1, size - a.len - 1};
        const char *nl2 = memchr(b.ptr, '\n', b.len);
        if (nl2) {
            c = (struct str){nl2 + 1, b.len - (size_t)(nl2 - b.ptr) - 1};
            b.len = (size_t)(nl2 - b.ptr);
        }
    }
    check_bounds(a, b, c);
    return 0;
}
