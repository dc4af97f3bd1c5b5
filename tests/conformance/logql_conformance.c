/* LogQL conformance runner over ../shared/conformance/logql.
 *
 *   logql_conformance parse FILE.tsv [--floor N | --floor-file PATH] [--verbose]
 *     Each line is `query<TAB>ok|error`. Parses every query with logql_parse, prints one line per
 *     case whose outcome differs (`file:line: query: expected ok, got error: <msg>` or
 *     `... expected error, got ok`), then `N passed, M failed`. Exit 0 when N >= the floor,
 *     1 otherwise, 77 when FILE does not exist (the shared suite is absent).
 *   logql_conformance pipeline FILE.jsonl
 *     Not implemented yet: prints "not implemented" and exits 2. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/logql/parse.h"

struct opts {
    const char *mode, *file;
    long floor;
    int verbose;
};

static int usage(void)
{
    fprintf(stderr, "usage: logql_conformance parse FILE.tsv [--floor N | --floor-file PATH] "
                    "[--verbose]\n       logql_conformance pipeline FILE.jsonl\n");
    return 2;
}

static int read_floor(const char *path, long *floor)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "%s: %s\n", path, strerror(errno));
        return -1;
    }
    int ok = fscanf(f, "%ld", floor) == 1;
    fclose(f);
    if (!ok) {
        fprintf(stderr, "%s: no number\n", path);
        return -1;
    }
    return 0;
}

static int parse_args(int argc, char **argv, struct opts *o)
{
    if (argc < 3)
        return -1;
    o->mode = argv[1];
    o->file = argv[2];
    for (int i = 3; i < argc; i++) {
        if (strcmp(argv[i], "--floor") == 0 && i + 1 < argc) {
            o->floor = strtol(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--floor-file") == 0 && i + 1 < argc) {
            if (read_floor(argv[++i], &o->floor) != 0)
                return -1;
        } else if (strcmp(argv[i], "--verbose") == 0) {
            o->verbose = 1;
        } else {
            return -1;
        }
    }
    return 0;
}

/* Runs one `query<TAB>expect` line; returns 1 on pass, 0 on fail, -1 when malformed. */
static int run_case(const struct opts *o, char *line, long lineno)
{
    size_t n = strlen(line);
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = 0;
    if (n == 0)
        return -1;
    char *tab = strrchr(line, '\t');
    if (!tab) {
        fprintf(stderr, "%s:%ld: no tab\n", o->file, lineno);
        return -1;
    }
    *tab = 0;
    const char *expect = tab + 1;
    int want_ok = strcmp(expect, "ok") == 0;
    if (!want_ok && strcmp(expect, "error") != 0) {
        fprintf(stderr, "%s:%ld: bad expectation %s\n", o->file, lineno, expect);
        return -1;
    }
    struct logql_query *q = NULL;
    char err[1024] = "";
    int rc = logql_parse((struct str){line, strlen(line)}, &q, err, sizeof err);
    logql_query_destroy(q);
    int got_ok = rc == 0;
    if (got_ok == want_ok) {
        if (o->verbose && !got_ok)
            printf("%s:%ld: %s: error as expected: %s\n", o->file, lineno, line, err);
        return 1;
    }
    if (want_ok)
        printf("%s:%ld: %s: expected ok, got error: %s\n", o->file, lineno, line, err);
    else
        printf("%s:%ld: %s: expected error, got ok\n", o->file, lineno, line);
    return 0;
}

static int run_parse(const struct opts *o)
{
    FILE *f = fopen(o->file, "r");
    if (!f) {
        fprintf(stderr, "%s: %s\n", o->file, strerror(errno));
        return errno == ENOENT ? 77 : 1;
    }
    char *line = NULL;
    size_t cap = 0;
    long lineno = 0, passed = 0, failed = 0;
    while (getline(&line, &cap, f) >= 0) {
        int r = run_case(o, line, ++lineno);
        if (r > 0)
            passed++;
        else if (r == 0)
            failed++;
    }
    free(line);
    fclose(f);
    printf("%ld passed, %ld failed\n", passed, failed);
    if (passed < o->floor) {
        fprintf(stderr, "pass count %ld is below the floor %ld\n", passed, o->floor);
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct opts o = {0};
    if (parse_args(argc, argv, &o) != 0)
        return usage();
    if (strcmp(o.mode, "parse") == 0)
        return run_parse(&o);
    if (strcmp(o.mode, "pipeline") == 0) {
        printf("not implemented\n");
        return 2;
    }
    return usage();
}
