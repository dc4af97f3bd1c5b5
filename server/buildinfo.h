/* Build information served by /api/v1/status/buildinfo, /loki/api/v1/status/buildinfo and the
 * strata_build_info metric. Version comes from CMake (STRATA_VERSION); revision, branch and build
 * user from STRATA_REVISION / STRATA_BRANCH / STRATA_BUILD_USER when the build defines them
 * ("unknown" otherwise); the date is the compile time of buildinfo.c. Immutable; thread-safe. */
#ifndef STRATA_SERVER_BUILDINFO_H
#define STRATA_SERVER_BUILDINFO_H

struct buildinfo {
    const char *version;
    const char *revision;
    const char *branch;
    const char *build_user;
    const char *build_date; /* "20260822-10:04:05", Prometheus's format */
    const char *go_version; /* the key Grafana reads; we name the C compiler */
};

const struct buildinfo *buildinfo_get(void);

#endif
