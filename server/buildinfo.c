/* Build information constants. */
#include "server/buildinfo.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#ifndef STRATA_VERSION
#define STRATA_VERSION "0.0.0"
#endif
#ifndef STRATA_REVISION
#define STRATA_REVISION "unknown"
#endif
#ifndef STRATA_BRANCH
#define STRATA_BRANCH "unknown"
#endif
#ifndef STRATA_BUILD_USER
#define STRATA_BUILD_USER "unknown"
#endif

static char build_date[32];

/* __DATE__ "Aug 22 2026" + __TIME__ "10:04:05" -> "20260822-10:04:05" */
static void format_date(void)
{
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    const char *d = __DATE__;
    char mon[4] = {d[0], d[1], d[2], 0};
    const char *m = strstr(months, mon);
    int month = m ? (int)(m - months) / 3 + 1 : 0;
    int day = (d[4] == ' ' ? 0 : d[4] - '0') * 10 + (d[5] - '0');
    snprintf(build_date, sizeof build_date, "%.4s%02d%02d-%s", d + 7, month, day, __TIME__);
}

const struct buildinfo *buildinfo_get(void)
{
    static struct buildinfo bi = {
        .version = STRATA_VERSION,
        .revision = STRATA_REVISION,
        .branch = STRATA_BRANCH,
        .build_user = STRATA_BUILD_USER,
        .build_date = build_date,
#ifdef __clang__
        .go_version = "none (C, clang " __clang_version__ ")",
#else
        .go_version = "none (C, gcc " __VERSION__ ")",
#endif
    };
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, format_date);
    return &bi;
}
