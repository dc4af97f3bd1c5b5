/* Time formatting. */
#include "base/clock.h"

#include <stdio.h>

int clock_fmt_rfc3339_ms(int64_t unix_ns, char *out, unsigned out_size)
{
    int64_t ms = unix_ns / 1000000;
    if (unix_ns < 0 && unix_ns % 1000000)
        ms--;
    time_t secs = (time_t)(ms / 1000);
    int frac = (int)(ms % 1000);
    if (frac < 0) {
        frac += 1000;
        secs--;
    }
    struct tm tm;
    gmtime_r(&secs, &tm);
    return snprintf(out, out_size, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                    tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
}
