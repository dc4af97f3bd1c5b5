/* RFC 3339 parsing and civil-date arithmetic (timefmt.h). */
#include "base/timefmt.h"

#include <stddef.h>

int64_t time_days_from_civil(int64_t y, int64_t m, int64_t d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static bool leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* n decimal digits at s[*i] into *v. */
static bool digits(struct str s, size_t *i, size_t n, int64_t *v)
{
    if (*i + n > s.len)
        return false;
    int64_t x = 0;
    for (size_t k = 0; k < n; k++) {
        char c = s.ptr[*i + k];
        if (!is_digit(c))
            return false;
        x = x * 10 + (c - '0');
    }
    *i += n;
    *v = x;
    return true;
}

static bool expect(struct str s, size_t *i, char c)
{
    if (*i >= s.len || s.ptr[*i] != c)
        return false;
    (*i)++;
    return true;
}

/* ".123456789" or ",123" (optional): nanoseconds. */
static bool fraction_ns(struct str s, size_t *i, int64_t *ns)
{
    *ns = 0;
    if (*i >= s.len || (s.ptr[*i] != '.' && s.ptr[*i] != ','))
        return true;
    (*i)++;
    size_t n = 0;
    int64_t v = 0;
    while (*i < s.len && is_digit(s.ptr[*i])) {
        if (n < 9)
            v = v * 10 + (s.ptr[*i] - '0');
        n++;
        (*i)++;
    }
    if (n == 0 || n > 9)
        return false;
    for (size_t k = n; k < 9; k++)
        v *= 10;
    *ns = v;
    return true;
}

/* "Z" or "+hh:mm" / "-hh:mm": the zone's offset east of UTC in seconds. */
static bool zone(struct str s, size_t *i, int64_t *off)
{
    if (*i < s.len && (s.ptr[*i] == 'Z' || s.ptr[*i] == 'z')) {
        (*i)++;
        *off = 0;
        return true;
    }
    if (*i >= s.len || (s.ptr[*i] != '+' && s.ptr[*i] != '-'))
        return false;
    int sign = s.ptr[(*i)++] == '-' ? -1 : 1;
    int64_t hh, mm;
    if (!digits(s, i, 2, &hh) || !expect(s, i, ':') || !digits(s, i, 2, &mm) || hh > 23 || mm > 59)
        return false;
    *off = sign * (hh * 3600 + mm * 60);
    return true;
}

bool time_parse_rfc3339(struct str s, int64_t *unix_s, int64_t *frac_ns)
{
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    size_t i = 0;
    int64_t y, mo, d, h, mi, se, ns, off;
    if (!digits(s, &i, 4, &y) || !expect(s, &i, '-') || !digits(s, &i, 2, &mo) ||
        !expect(s, &i, '-') || !digits(s, &i, 2, &d))
        return false;
    if (i >= s.len || (s.ptr[i] != 'T' && s.ptr[i] != 't'))
        return false;
    i++;
    if (!digits(s, &i, 2, &h) || !expect(s, &i, ':') || !digits(s, &i, 2, &mi) ||
        !expect(s, &i, ':') || !digits(s, &i, 2, &se) || !fraction_ns(s, &i, &ns) ||
        !zone(s, &i, &off) || i != s.len)
        return false;
    if (mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || se > 59)
        return false;
    if (d > mdays[mo - 1] + (mo == 2 && leap(y)))
        return false;
    *unix_s = time_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se - off;
    *frac_ns = ns;
    return true;
}
