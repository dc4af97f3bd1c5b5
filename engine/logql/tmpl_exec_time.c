/* Time in templates: Go's reference-time layouts ("2006-01-02T15:04:05.000Z07:00") for
 * formatting and parsing, and the time functions Loki offers (now, date, toDate, toDateInZone,
 * unixEpoch, unixEpochMillis, unixEpochNanos, unixToTime, __timestamp__). All times are UTC. */
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "base/error.h"
#include "engine/logql/exec_tmpl.h"
#include "engine/logql/units.h"

#define ZERO_TIME_SEC (-62135596800LL) /* Go's time.Time{}: 0001-01-01 00:00:00 UTC */

enum std {
    STD_NONE,
    STD_LONG_MONTH,
    STD_MONTH,
    STD_NUM_MONTH,
    STD_ZERO_MONTH,
    STD_LONG_WEEKDAY,
    STD_WEEKDAY,
    STD_DAY,
    STD_UNDER_DAY,
    STD_ZERO_DAY,
    STD_UNDER_YEARDAY,
    STD_ZERO_YEARDAY,
    STD_HOUR,
    STD_HOUR12,
    STD_ZERO_HOUR12,
    STD_MINUTE,
    STD_ZERO_MINUTE,
    STD_SECOND,
    STD_ZERO_SECOND,
    STD_LONG_YEAR,
    STD_YEAR,
    STD_PM,
    STD_pm,
    STD_TZ,
    STD_ISO8601_TZ, /* Z0700 and friends */
    STD_NUM_TZ,     /* -0700 and friends */
    STD_FRAC0,      /* .000 */
    STD_FRAC9,      /* .999 */
};

struct chunk {
    size_t prefix; /* literal bytes before the element */
    enum std std;
    size_t len; /* length of the element in the layout */
    int arg;    /* TZ: form (0 hhmmss, 1 hh:mm:ss, 2 hhmm, 3 hh:mm, 4 hh); FRAC: digits */
};

static bool starts(struct str s, size_t i, const char *p)
{
    size_t n = strlen(p);
    return i + n <= s.len && memcmp(s.ptr + i, p, n) == 0;
}

static bool tz_form(struct str l, size_t i, struct chunk *c, enum std std)
{
    static const char *const forms[] = {"070000", "07:00:00", "0700", "07:00", "07"};
    for (int f = 0; f < 5; f++)
        if (starts(l, i + 1, forms[f])) {
            *c = (struct chunk){i, std, 1 + strlen(forms[f]), f};
            return true;
        }
    return false;
}

/* Go's nextStdChunk, from position `from`. */
static struct chunk next_chunk(struct str l, size_t from)
{
    for (size_t i = from; i < l.len; i++) {
        struct chunk c = {i, STD_NONE, 0, 0};
        char ch = l.ptr[i];
#define HIT(p, s)                                                                                  \
    if (starts(l, i, p))                                                                           \
        return (struct chunk){i, s, strlen(p), 0};
        switch (ch) {
        case 'J': HIT("January", STD_LONG_MONTH) HIT("Jan", STD_MONTH) break;
        case 'M': HIT("Monday", STD_LONG_WEEKDAY) HIT("Mon", STD_WEEKDAY) HIT("MST", STD_TZ) break;
        case '0':
            HIT("002", STD_ZERO_YEARDAY)
            if (i + 1 < l.len && l.ptr[i + 1] >= '1' && l.ptr[i + 1] <= '6') {
                static const enum std z[] = {STD_ZERO_MONTH,  STD_ZERO_DAY,    STD_ZERO_HOUR12,
                                             STD_ZERO_MINUTE, STD_ZERO_SECOND, STD_YEAR};
                return (struct chunk){i, z[l.ptr[i + 1] - '1'], 2, 0};
            }
            break;
        case '1': HIT("15", STD_HOUR) return (struct chunk){i, STD_NUM_MONTH, 1, 0};
        case '2': HIT("2006", STD_LONG_YEAR) return (struct chunk){i, STD_DAY, 1, 0};
        case '_':
            if (starts(l, i, "_2006"))
                return (struct chunk){i + 1, STD_LONG_YEAR, 4, 0};
            HIT("_2", STD_UNDER_DAY) HIT("__2", STD_UNDER_YEARDAY) break;
        case '3': return (struct chunk){i, STD_HOUR12, 1, 0};
        case '4': return (struct chunk){i, STD_MINUTE, 1, 0};
        case '5': return (struct chunk){i, STD_SECOND, 1, 0};
        case 'P': HIT("PM", STD_PM) break;
        case 'p': HIT("pm", STD_pm) break;
        case '-':
            if (tz_form(l, i, &c, STD_NUM_TZ))
                return c;
            break;
        case 'Z':
            if (tz_form(l, i, &c, STD_ISO8601_TZ))
                return c;
            break;
        case '.':
        case ',':
            if (i + 1 < l.len && (l.ptr[i + 1] == '0' || l.ptr[i + 1] == '9')) {
                char d = l.ptr[i + 1];
                size_t j = i + 1;
                while (j < l.len && l.ptr[j] == d)
                    j++;
                if (!(j < l.len && l.ptr[j] >= '0' && l.ptr[j] <= '9'))
                    return (struct chunk){i, d == '0' ? STD_FRAC0 : STD_FRAC9, j - i,
                                          (int)(j - i - 1)};
            }
            break;
        }
#undef HIT
    }
    return (struct chunk){l.len, STD_NONE, 0, 0};
}

/* ---- civil dates ---- */

static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static bool leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static const char *const month_names[] = {"January",   "February", "March",    "April",
                                          "May",       "June",     "July",     "August",
                                          "September", "October",  "November", "December"};
static const char *const day_names[] = {"Sunday",   "Monday", "Tuesday", "Wednesday",
                                        "Thursday", "Friday", "Saturday"};

struct civil {
    int64_t year;
    int month, day, hour, min, sec, yday, wday;
};

static struct civil to_civil(int64_t sec)
{
    int64_t days = sec / 86400, rem = sec % 86400;
    if (rem < 0) {
        rem += 86400;
        days--;
    }
    struct civil c;
    civil_from_days(days, &c.year, &c.month, &c.day);
    c.hour = (int)(rem / 3600);
    c.min = (int)(rem / 60 % 60);
    c.sec = (int)(rem % 60);
    c.yday = (int)(days - days_from_civil(c.year, 1, 1)) + 1;
    c.wday = (int)(((days % 7) + 11) % 7); /* 1970-01-01 was a Thursday */
    return c;
}

/* ---- formatting ---- */

static int fmt_frac(struct buf *b, const struct chunk *ch, int32_t nsec)
{
    char d[10];
    snprintf(d, sizeof d, "%09d", nsec);
    int n = ch->arg > 9 ? 9 : ch->arg;
    if (ch->std == STD_FRAC9) {
        while (n > 0 && d[n - 1] == '0')
            n--;
        if (n == 0)
            return 0;
    }
    return buf_append_u8(b, '.') || buf_append(b, d, (size_t)n);
}

static int fmt_elem(struct buf *b, const struct chunk *ch, const struct civil *c, int32_t nsec)
{
    int h12 = c->hour % 12 ? c->hour % 12 : 12;
    switch (ch->std) {
    case STD_LONG_MONTH: return buf_append_str(b, month_names[c->month - 1]);
    case STD_MONTH: return buf_append(b, month_names[c->month - 1], 3);
    case STD_NUM_MONTH: return buf_printf(b, "%d", c->month);
    case STD_ZERO_MONTH: return buf_printf(b, "%02d", c->month);
    case STD_LONG_WEEKDAY: return buf_append_str(b, day_names[c->wday]);
    case STD_WEEKDAY: return buf_append(b, day_names[c->wday], 3);
    case STD_DAY: return buf_printf(b, "%d", c->day);
    case STD_UNDER_DAY: return buf_printf(b, "%2d", c->day);
    case STD_ZERO_DAY: return buf_printf(b, "%02d", c->day);
    case STD_UNDER_YEARDAY: return buf_printf(b, "%3d", c->yday);
    case STD_ZERO_YEARDAY: return buf_printf(b, "%03d", c->yday);
    case STD_HOUR: return buf_printf(b, "%02d", c->hour);
    case STD_HOUR12: return buf_printf(b, "%d", h12);
    case STD_ZERO_HOUR12: return buf_printf(b, "%02d", h12);
    case STD_MINUTE: return buf_printf(b, "%d", c->min);
    case STD_ZERO_MINUTE: return buf_printf(b, "%02d", c->min);
    case STD_SECOND: return buf_printf(b, "%d", c->sec);
    case STD_ZERO_SECOND: return buf_printf(b, "%02d", c->sec);
    case STD_LONG_YEAR:
        return c->year < 0 ? buf_printf(b, "-%04" PRId64, -c->year)
                           : buf_printf(b, "%04" PRId64, c->year);
    case STD_YEAR: return buf_printf(b, "%02d", (int)(((c->year % 100) + 100) % 100));
    case STD_PM: return buf_append_str(b, c->hour >= 12 ? "PM" : "AM");
    case STD_pm: return buf_append_str(b, c->hour >= 12 ? "pm" : "am");
    case STD_TZ: return buf_append_str(b, "UTC");
    case STD_ISO8601_TZ: return buf_append_u8(b, 'Z');
    case STD_NUM_TZ: {
        static const char *const z[] = {"+000000", "+00:00:00", "+0000", "+00:00", "+00"};
        return buf_append_str(b, z[ch->arg]);
    }
    case STD_FRAC0:
    case STD_FRAC9: return fmt_frac(b, ch, nsec);
    case STD_NONE: return 0;
    }
    return 0;
}

int lq_time_format(struct buf *b, int64_t sec, int32_t nsec, struct str layout)
{
    struct civil c = to_civil(sec);
    size_t i = 0;
    while (i < layout.len) {
        struct chunk ch = next_chunk(layout, i);
        int rc = buf_append(b, layout.ptr + i, ch.prefix - i);
        if (!rc && ch.std != STD_NONE)
            rc = fmt_elem(b, &ch, &c, nsec);
        if (rc)
            return rc;
        i = ch.prefix + ch.len;
        if (ch.std == STD_NONE)
            break;
    }
    return 0;
}

/* ---- parsing ---- */

struct parsed {
    int64_t year;
    int month, day, yday, hour, min, sec;
    int32_t nsec;
    int pm;         /* -1 none, 0 am, 1 pm */
    int64_t offset; /* seconds east of UTC */
};

static bool num(struct str v, size_t *i, int min_digits, int max_digits, int64_t *out)
{
    size_t s = *i;
    int64_t x = 0;
    while (*i < v.len && (int)(*i - s) < max_digits && v.ptr[*i] >= '0' && v.ptr[*i] <= '9')
        x = x * 10 + (v.ptr[(*i)++] - '0');
    *out = x;
    return (int)(*i - s) >= min_digits;
}

static bool name_match(struct str v, size_t *i, const char *const *names, int n, size_t len,
                       int *out)
{
    for (int k = 0; k < n; k++) {
        size_t l = len ? len : strlen(names[k]);
        if (*i + l <= v.len && strncasecmp(v.ptr + *i, names[k], l) == 0) {
            *i += l;
            *out = k;
            return true;
        }
    }
    return false;
}

static bool parse_frac(struct str v, size_t *i, struct parsed *p, int digits)
{
    if (*i >= v.len || (v.ptr[*i] != '.' && v.ptr[*i] != ','))
        return digits == 0;
    (*i)++;
    int32_t ns = 0;
    int n = 0;
    while (*i < v.len && v.ptr[*i] >= '0' && v.ptr[*i] <= '9') {
        if (n < 9)
            ns = ns * 10 + (v.ptr[*i] - '0');
        n++;
        (*i)++;
    }
    if (n == 0 || (digits > 0 && n != digits))
        return false;
    for (int k = n; k < 9; k++)
        ns *= 10;
    p->nsec = ns;
    return true;
}

static bool parse_tz(struct str v, size_t *i, const struct chunk *ch, struct parsed *p)
{
    if (ch->std == STD_ISO8601_TZ && *i < v.len && v.ptr[*i] == 'Z') {
        (*i)++;
        return true;
    }
    if (*i >= v.len || (v.ptr[*i] != '+' && v.ptr[*i] != '-'))
        return false;
    int sign = v.ptr[(*i)++] == '-' ? -1 : 1;
    int64_t hh, mm = 0, ss = 0;
    bool colon = ch->arg == 1 || ch->arg == 3;
    if (!num(v, i, 2, 2, &hh))
        return false;
    if (ch->arg != 4) {
        if (colon && (*i >= v.len || v.ptr[(*i)++] != ':'))
            return false;
        if (!num(v, i, 2, 2, &mm))
            return false;
    }
    if (ch->arg <= 1) {
        if (colon && (*i >= v.len || v.ptr[(*i)++] != ':'))
            return false;
        if (!num(v, i, 2, 2, &ss))
            return false;
    }
    p->offset = sign * (hh * 3600 + mm * 60 + ss);
    return true;
}

/* Numeric elements: digits, range, and the field they set. */
struct numspec {
    enum std std;
    int min_digits, max_digits;
    int64_t lo, hi;
    size_t off; /* of an int in struct parsed */
};

static const struct numspec numspecs[] = {
    {STD_NUM_MONTH, 1, 2, 1, 12, offsetof(struct parsed, month)},
    {STD_ZERO_MONTH, 2, 2, 1, 12, offsetof(struct parsed, month)},
    {STD_DAY, 1, 2, 1, 31, offsetof(struct parsed, day)},
    {STD_UNDER_DAY, 1, 2, 1, 31, offsetof(struct parsed, day)},
    {STD_ZERO_DAY, 2, 2, 1, 31, offsetof(struct parsed, day)},
    {STD_UNDER_YEARDAY, 1, 3, 1, 366, offsetof(struct parsed, yday)},
    {STD_ZERO_YEARDAY, 3, 3, 1, 366, offsetof(struct parsed, yday)},
    {STD_HOUR, 2, 2, 0, 23, offsetof(struct parsed, hour)},
    {STD_HOUR12, 1, 2, 0, 12, offsetof(struct parsed, hour)},
    {STD_ZERO_HOUR12, 2, 2, 0, 12, offsetof(struct parsed, hour)},
    {STD_MINUTE, 1, 2, 0, 59, offsetof(struct parsed, min)},
    {STD_ZERO_MINUTE, 2, 2, 0, 59, offsetof(struct parsed, min)},
    {STD_SECOND, 1, 2, 0, 59, offsetof(struct parsed, sec)},
    {STD_ZERO_SECOND, 2, 2, 0, 59, offsetof(struct parsed, sec)},
};

static bool parse_num_elem(struct str v, size_t *i, const struct numspec *ns, struct parsed *p)
{
    if (ns->std == STD_UNDER_DAY && *i < v.len && v.ptr[*i] == ' ')
        (*i)++;
    while (ns->std == STD_UNDER_YEARDAY && *i < v.len && v.ptr[*i] == ' ')
        (*i)++;
    int64_t x;
    if (!num(v, i, ns->min_digits, ns->max_digits, &x) || x < ns->lo || x > ns->hi)
        return false;
    *(int *)((char *)p + ns->off) = (int)x;
    /* a fractional second may follow even when the layout has none */
    if ((ns->std == STD_SECOND || ns->std == STD_ZERO_SECOND) && *i + 1 < v.len &&
        v.ptr[*i] == '.' && v.ptr[*i + 1] >= '0' && v.ptr[*i + 1] <= '9')
        return parse_frac(v, i, p, 0);
    return true;
}

static bool parse_ampm(struct str v, size_t *i, struct parsed *p)
{
    if (*i + 2 > v.len)
        return false;
    if (strncasecmp(v.ptr + *i, "PM", 2) == 0)
        p->pm = 1;
    else if (strncasecmp(v.ptr + *i, "AM", 2) == 0)
        p->pm = 0;
    else
        return false;
    *i += 2;
    return true;
}

static bool parse_elem(struct str v, size_t *i, const struct chunk *ch, struct parsed *p)
{
    int64_t x = 0;
    int k;
    for (size_t n = 0; n < sizeof numspecs / sizeof numspecs[0]; n++)
        if (numspecs[n].std == ch->std)
            return parse_num_elem(v, i, &numspecs[n], p);
    switch (ch->std) {
    case STD_LONG_MONTH:
    case STD_MONTH:
        if (!name_match(v, i, month_names, 12, ch->std == STD_MONTH ? 3 : 0, &k))
            return false;
        p->month = k + 1;
        return true;
    case STD_LONG_WEEKDAY: return name_match(v, i, day_names, 7, 0, &k);
    case STD_WEEKDAY: return name_match(v, i, day_names, 7, 3, &k);
    case STD_LONG_YEAR:
    case STD_YEAR:
        if (!num(v, i, ch->std == STD_YEAR ? 2 : 4, ch->std == STD_YEAR ? 2 : 4, &x))
            return false;
        p->year = ch->std == STD_LONG_YEAR ? x : x >= 69 ? 1900 + x : 2000 + x;
        return true;
    case STD_PM:
    case STD_pm: return parse_ampm(v, i, p);
    case STD_TZ: {
        size_t s0 = *i;
        while (*i < v.len && v.ptr[*i] >= 'A' && v.ptr[*i] <= 'Z')
            (*i)++;
        return *i - s0 >= 3;
    }
    case STD_ISO8601_TZ:
    case STD_NUM_TZ: return parse_tz(v, i, ch, p);
    case STD_FRAC0: return parse_frac(v, i, p, ch->arg);
    case STD_FRAC9: (void)parse_frac(v, i, p, -1); return true;
    default: return true;
    }
}

bool lq_time_parse(struct str layout, struct str value, int64_t *sec, int32_t *nsec)
{
    struct parsed p = {.month = 1, .day = 1, .pm = -1};
    size_t li = 0, vi = 0;
    while (li < layout.len) {
        struct chunk ch = next_chunk(layout, li);
        size_t lit = ch.prefix - li;
        if (vi + lit > value.len || memcmp(value.ptr + vi, layout.ptr + li, lit) != 0)
            return false;
        vi += lit;
        if (ch.std == STD_NONE)
            break;
        if (!parse_elem(value, &vi, &ch, &p))
            return false;
        li = ch.prefix + ch.len;
    }
    if (vi != value.len)
        return false;
    if (p.pm == 1 && p.hour < 12)
        p.hour += 12;
    else if (p.pm == 0 && p.hour == 12)
        p.hour = 0;
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (p.day > mdays[p.month - 1] + (p.month == 2 && leap(p.year)))
        return false;
    int64_t days = days_from_civil(p.year, p.month, p.day);
    if (p.yday)
        days = days_from_civil(p.year, 1, 1) + p.yday - 1;
    *sec = days * 86400 + p.hour * 3600 + p.min * 60 + p.sec - p.offset;
    *nsec = p.nsec;
    return true;
}

/* ---- functions ---- */

static int ret_time(int64_t sec, int32_t nsec, struct lq_tv *ret)
{
    *ret = (struct lq_tv){.k = LQ_TV_TIME, .i = sec, .nsec = nsec};
    return 0;
}

static int fn_now(struct lq_tctx *c, struct lq_tv *a, size_t n, struct lq_tv *ret)
{
    (void)c, (void)a, (void)n;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ret_time(ts.tv_sec, (int32_t)ts.tv_nsec, ret);
}

static int fn_timestamp(struct lq_tctx *c, struct lq_tv *a, size_t n, struct lq_tv *ret)
{
    (void)a, (void)n;
    int64_t ts = lq_tx_ts(c), s = ts / 1000000000, ns = ts % 1000000000;
    if (ns < 0) {
        ns += 1000000000;
        s--;
    }
    return ret_time(s, (int32_t)ns, ret);
}

static int fn_date(struct lq_tctx *c, struct lq_tv *a, size_t n, struct lq_tv *ret)
{
    (void)n;
    struct lq_tv t = a[1];
    if (t.k == LQ_TV_INT && t.it != LQ_UINT8)
        t = (struct lq_tv){.k = LQ_TV_TIME, .i = t.i};
    else if (t.k != LQ_TV_TIME)
        fn_now(c, NULL, 0, &t);
    struct buf *b = lq_tx_buf(c);
    int rc = lq_time_format(b, t.i, t.nsec, a[0].s);
    return rc ? rc : lq_tx_str(c, b->data, b->len, ret);
}

static int fn_toDate(struct lq_tctx *c, struct lq_tv *a, size_t n, struct lq_tv *ret)
{
    (void)c, (void)n;
    int64_t s;
    int32_t ns;
    if (!lq_time_parse(a[0].s, a[1].s, &s, &ns))
        return ret_time(ZERO_TIME_SEC, 0, ret);
    return ret_time(s, ns, ret);
}

static int fn_toDateInZone(struct lq_tctx *c, struct lq_tv *a, size_t n, struct lq_tv *ret)
{
    struct lq_tv b[2] = {a[0], a[2]};
    return fn_toDate(c, b, n, ret);
}

static int ret_num(struct lq_tctx *c, int64_t v, struct lq_tv *ret)
{
    char s[24];
    int len = snprintf(s, sizeof s, "%" PRId64, v);
    return lq_tx_str(c, s, (size_t)len, ret);
}

static int fn_unixEpoch(struct lq_tctx *c, struct lq_tv *a, size_t n, struct lq_tv *ret)
{
    (void)n;
    return ret_num(c, a[0].i, ret);
}

static int fn_unixEpochMillis(struct lq_tctx *c, struct lq_tv *a, size_t n, struct lq_tv *ret)
{
    (void)n;
    return ret_num(c, (int64_t)((uint64_t)a[0].i * 1000u) + a[0].nsec / 1000000, ret);
}

static int fn_unixEpochNanos(struct lq_tctx *c, struct lq_tv *a, size_t n, struct lq_tv *ret)
{
    (void)n;
    return ret_num(c, (int64_t)((uint64_t)a[0].i * 1000000000u) + a[0].nsec, ret);
}

static int fn_unixToTime(struct lq_tctx *c, struct lq_tv *a, size_t n, struct lq_tv *ret)
{
    (void)n;
    struct str e = a[0].s;
    int64_t v;
    if (logql_parse_int(e, &v) != 0)
        return lq_tx_fail(c, "error calling unixToTime: unable to parse time '%.*s'", (int)e.len,
                          e.ptr);
    int64_t s, ns;
    switch (e.len) {
    case 5: return ret_time(v * 86400, 0, ret);
    case 10: return ret_time(v, 0, ret);
    case 13: s = v / 1000, ns = (v % 1000) * 1000000; break;
    case 16: s = v / 1000000, ns = (v % 1000000) * 1000; break;
    case 19: s = v / 1000000000, ns = v % 1000000000; break;
    default:
        return lq_tx_fail(c, "error calling unixToTime: unable to parse time '%.*s'", (int)e.len,
                          e.ptr);
    }
    if (ns < 0) {
        ns += 1000000000;
        s--;
    }
    return ret_time(s, (int32_t)ns, ret);
}

#define S LQ_PT_STR
#define T LQ_PT_TIME
#define A LQ_PT_ANY

const struct lq_fn lq_fns_time[] = {
    {"now", 0, {0}, -1, fn_now},
    {"__timestamp__", 0, {0}, -1, fn_timestamp},
    {"date", 2, {S, A}, -1, fn_date},
    {"toDate", 2, {S, S}, -1, fn_toDate},
    {"toDateInZone", 3, {S, S, S}, -1, fn_toDateInZone},
    {"unixEpoch", 1, {T}, -1, fn_unixEpoch},
    {"unixEpochMillis", 1, {T}, -1, fn_unixEpochMillis},
    {"unixEpochNanos", 1, {T}, -1, fn_unixEpochNanos},
    {"unixToTime", 1, {S}, -1, fn_unixToTime},
};
const size_t lq_fns_time_n = sizeof lq_fns_time / sizeof lq_fns_time[0];
