/* stratactl inspect: command-line parsing and usage text. */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "tools/stratactl/inspect.h"

void ctl_inspect_usage(FILE *out)
{
    fprintf(out,
            "usage: stratactl inspect DATA_DIR [--shard N] [--top K] [--json] [--series-samples]\n"
            "                         [--tmp-dir DIR] [--verbose]\n"
            "\n"
            "Reports what a strata data directory holds, read-only (safe on a running server:\n"
            "the LOCK is not taken and nothing under DATA_DIR is modified):\n"
            "  per shard: blocks (ULID, time range, level, series, samples, chunks, size on\n"
            "  disk, bytes per sample), the head rebuilt from the WAL and head chunk files\n"
            "  (series, samples, time range), quarantined blocks, WAL segments and size;\n"
            "  totals; and a cardinality analysis like `promtool tsdb analyze`.\n"
            "\n"
            "options:\n"
            "  --shard N          only shard N (shard-NNN)\n"
            "  --top K            entries per top list (default %d; 0 skips the analysis)\n"
            "  --json             one JSON document instead of text tables\n"
            "  --series-samples   instead of the report, one line per distinct series merged\n"
            "                     across head and blocks: labels, samples, min and max\n"
            "                     timestamp (ms); with --json, one JSON object per line\n"
            "  --tmp-dir DIR      where the head is rebuilt (default $TMPDIR or /tmp)\n"
            "  --verbose          engine log lines at info level on stderr\n"
            "  -h, --help         this text\n"
            "\n"
            "exit status: 0 ok, 1 error, 2 usage\n",
            CTL_TOP_DEFAULT);
}

static int usage_err(char *err, size_t n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int usage_err(char *err, size_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, n, fmt, ap);
    va_end(ap);
    return CTL_EXIT_USAGE;
}

/* A decimal integer in [0, max]. */
static bool parse_uint(const char *s, unsigned long max, unsigned long *out)
{
    if (!s || !*s || *s == '-' || *s == '+')
        return false;
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || *end || v > max)
        return false;
    *out = v;
    return true;
}

/* The option's value: after '=' in the same argument, or the next argument. */
static const char *opt_value(int argc, char **argv, int *i, const char *eq)
{
    if (eq)
        return eq + 1;
    if (*i + 1 >= argc)
        return NULL;
    return argv[++*i];
}

static int parse_valued(struct ctl_inspect_opts *o, const char *name, const char *v, char *err,
                        size_t n)
{
    unsigned long u;
    if (!v)
        return usage_err(err, n, "option %s needs a value", name);
    if (strcmp(name, "--shard") == 0) {
        if (!parse_uint(v, CTL_SHARDS_MAX - 1, &u))
            return usage_err(err, n, "--shard: not a shard number: '%s'", v);
        o->shard = (int)u;
    } else if (strcmp(name, "--top") == 0) {
        if (!parse_uint(v, 1000000, &u))
            return usage_err(err, n, "--top: not a count in 0..1000000: '%s'", v);
        o->top = (uint32_t)u;
    } else {
        if (!*v)
            return usage_err(err, n, "--tmp-dir: empty path");
        o->tmp_dir = v;
    }
    return 0;
}

static bool is_valued(const char *name)
{
    return strcmp(name, "--shard") == 0 || strcmp(name, "--top") == 0 ||
           strcmp(name, "--tmp-dir") == 0;
}

static int parse_flag(struct ctl_inspect_opts *o, const char *a, char *err, size_t n)
{
    if (strcmp(a, "--json") == 0)
        o->json = true;
    else if (strcmp(a, "--series-samples") == 0)
        o->series_samples = true;
    else if (strcmp(a, "--verbose") == 0 || strcmp(a, "-v") == 0)
        o->verbose = true;
    else
        return usage_err(err, n, "unknown option '%s'", a);
    return 0;
}

int ctl_inspect_opts_parse(struct ctl_inspect_opts *o, int argc, char **argv, FILE *out, char *err,
                           size_t err_size)
{
    *o = (struct ctl_inspect_opts){.shard = -1, .top = CTL_TOP_DEFAULT};
    err[0] = '\0';
    bool dashdash = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (dashdash || a[0] != '-' || a[1] == '\0') {
            if (o->data_dir)
                return usage_err(err, err_size, "unexpected argument '%s'", a);
            o->data_dir = a;
            continue;
        }
        if (strcmp(a, "--") == 0) {
            dashdash = true;
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            ctl_inspect_usage(out);
            return 1;
        } else {
            char name[32];
            const char *eq = strchr(a, '=');
            size_t nl = eq ? (size_t)(eq - a) : strlen(a);
            snprintf(name, sizeof name, "%.*s", (int)(nl < 31 ? nl : 31), a);
            int rc = is_valued(name)
                         ? parse_valued(o, name, opt_value(argc, argv, &i, eq), err, err_size)
                     : eq ? usage_err(err, err_size, "option %s takes no value", name)
                          : parse_flag(o, a, err, err_size);
            if (rc)
                return rc;
        }
    }
    if (!o->data_dir)
        return usage_err(err, err_size, "missing DATA_DIR");
    return 0;
}
