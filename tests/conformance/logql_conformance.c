/* LogQL conformance runner over ../shared/conformance/logql.
 *
 *   logql_conformance parse FILE.tsv [--floor N | --floor-file PATH] [--verbose]
 *     Each line is `query<TAB>ok|error`. Parses every query with logql_parse, prints one line per
 *     case whose outcome differs (`file:line: query: expected ok, got error: <msg>` or
 *     `... expected error, got ok`), then `N passed, M failed`. Exit 0 when N >= the floor,
 *     1 otherwise, 77 when FILE does not exist (the shared suite is absent).
 *   logql_conformance pipeline FILE.jsonl [--floor N | --floor-file PATH] [--verbose]
 *     Each line is a JSON case {"pipeline", "line", "labels", "want_keep", "want_line",
 *     "want_labels"}: compiles `{selector} pipeline`, runs the entry (stream labels `labels`)
 *     through logql_pipeline_process and compares keep/drop, the output line and the output label
 *     set (`__error_details__` ignored on both sides). Prints each failing case with what
 *     differed, then `N passed, M failed`; same exit codes as parse. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/logql/exec.h"
#include "engine/logql/parse.h"
#include "formats/jsonr.h"

struct opts {
    const char *mode, *file;
    long floor;
    int verbose;
};

static int usage(void)
{
    fprintf(stderr, "usage: logql_conformance parse FILE.tsv [--floor N | --floor-file PATH] "
                    "[--verbose]\n       logql_conformance pipeline FILE.jsonl [--floor N | "
                    "--floor-file PATH] [--verbose]\n");
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

/* ---- pipeline mode ---- */

#define MAX_LABELS 64

struct pcase {
    char *pipeline, *line, *want_line;
    struct label labels[MAX_LABELS], want[MAX_LABELS];
    size_t n_labels, n_want;
    int want_keep; /* -1: absent */
    bool has_want_labels;
};

/* A decoded copy of the string token the reader is on (malloc). */
static char *json_strdup(struct jsonr *r, size_t *len)
{
    struct buf b = BUF_INIT;
    if (jsonr_unescape_buf(jsonr_text(r), &b) != 0 || buf_cstr(&b) != 0) {
        buf_deinit(&b);
        return NULL;
    }
    *len = b.len;
    return (char *)buf_steal(&b, len);
}

/* A JSON object of strings into sorted labels (strings malloc'ed). */
static int read_labels(struct jsonr *r, struct label *out, size_t *n)
{
    *n = 0;
    for (;;) {
        int t = jsonr_next(r);
        if (t == JSONR_OBJ_END)
            break;
        if (t != JSONR_KEY || *n >= MAX_LABELS)
            return -1;
        size_t kl, vl;
        char *k = json_strdup(r, &kl);
        if (jsonr_next(r) != JSONR_STRING) {
            free(k);
            return -1;
        }
        char *v = json_strdup(r, &vl);
        out[(*n)++] = (struct label){{k, kl}, {v, vl}};
    }
    for (size_t i = 1; i < *n; i++) /* insertion sort by name */
        for (size_t j = i; j > 0 && str_cmp(out[j - 1].name, out[j].name) > 0; j--) {
            struct label t = out[j];
            out[j] = out[j - 1];
            out[j - 1] = t;
        }
    return 0;
}

static int read_field(struct jsonr *r, struct pcase *c, struct str key)
{
    int t = jsonr_next(r);
    size_t len;
    if (str_eq_cstr(key, "pipeline") && t == JSONR_STRING)
        c->pipeline = json_strdup(r, &len);
    else if (str_eq_cstr(key, "line") && t == JSONR_STRING)
        c->line = json_strdup(r, &len);
    else if (str_eq_cstr(key, "want_line") && t == JSONR_STRING)
        c->want_line = json_strdup(r, &len);
    else if (str_eq_cstr(key, "want_keep") && (t == JSONR_TRUE || t == JSONR_FALSE))
        c->want_keep = t == JSONR_TRUE;
    else if (str_eq_cstr(key, "labels") && t == JSONR_OBJ_BEGIN)
        return read_labels(r, c->labels, &c->n_labels);
    else if (str_eq_cstr(key, "want_labels") && t == JSONR_OBJ_BEGIN) {
        c->has_want_labels = true;
        return read_labels(r, c->want, &c->n_want);
    } else if (t == JSONR_OBJ_BEGIN || t == JSONR_ARR_BEGIN)
        return jsonr_skip(r, NULL);
    return t < 0 ? -1 : 0;
}

static int read_case(const char *text, size_t n, struct pcase *c)
{
    memset(c, 0, sizeof *c);
    c->want_keep = -1;
    struct jsonr r;
    jsonr_init(&r, text, n, 0);
    if (jsonr_next(&r) != JSONR_OBJ_BEGIN)
        return -1;
    for (;;) {
        int t = jsonr_next(&r);
        if (t == JSONR_OBJ_END)
            break;
        if (t != JSONR_KEY || read_field(&r, c, jsonr_text(&r)) != 0)
            return -1;
    }
    return c->pipeline && c->line && c->want_keep >= 0 ? 0 : -1;
}

static void free_case(struct pcase *c)
{
    free(c->pipeline);
    free(c->line);
    free(c->want_line);
    for (size_t i = 0; i < c->n_labels; i++) {
        free((char *)c->labels[i].name.ptr);
        free((char *)c->labels[i].value.ptr);
    }
    for (size_t i = 0; i < c->n_want; i++) {
        free((char *)c->want[i].name.ptr);
        free((char *)c->want[i].value.ptr);
    }
}

static bool is_details(struct str name)
{
    return str_eq_cstr(name, "__error_details__");
}

/* Label sets equal, ignoring __error_details__ (both sorted). */
static bool labels_equal(const struct label *a, size_t na, const struct label *b, size_t nb)
{
    size_t i = 0, j = 0;
    for (;;) {
        while (i < na && is_details(a[i].name))
            i++;
        while (j < nb && is_details(b[j].name))
            j++;
        if (i == na || j == nb)
            return i == na && j == nb;
        if (!str_eq(a[i].name, b[j].name) || !str_eq(a[i].value, b[j].value))
            return false;
        i++, j++;
    }
}

static void print_labels(const char *what, const struct label *l, size_t n)
{
    printf("    %s {", what);
    for (size_t i = 0; i < n; i++)
        printf("%s%.*s=\"%.*s\"", i ? ", " : "", (int)l[i].name.len, l[i].name.ptr,
               (int)l[i].value.len, l[i].value.ptr);
    printf("}\n");
}

/* Runs one case; 1 pass, 0 fail (with a report). */
static int run_pipeline_case(const struct opts *o, const struct pcase *c, long lineno)
{
    size_t qlen = strlen(c->pipeline) + 32;
    char *q = malloc(qlen);
    snprintf(q, qlen, "{__case__=\"x\"} %s", c->pipeline);
    struct logql_query *query = NULL;
    struct logql_pipeline *p = NULL;
    char err[1024] = "";
    int rc = logql_parse(str_from_cstr(q), &query, err, sizeof err);
    if (rc == 0)
        rc = logql_pipeline_compile_expr(query->root, NULL, &p, err, sizeof err);
    struct logql_result res = {0};
    int kept = -1;
    if (rc == 0) {
        struct logql_entry e = {.ts_ns = 1700000000000000000LL,
                                .line = str_from_cstr(c->line),
                                .stream = c->labels,
                                .n_stream = c->n_labels};
        kept = logql_pipeline_process(p, &e, 0, &res);
    }
    bool ok = kept == c->want_keep;
    if (ok && kept == 1) {
        if (c->want_line && !str_eq(res.line, str_from_cstr(c->want_line)))
            ok = false;
        if (c->has_want_labels && !labels_equal(res.labels, res.n_labels, c->want, c->n_want))
            ok = false;
    }
    if (!ok) {
        printf("%s:%ld: %s\n", o->file, lineno, c->pipeline);
        if (rc != 0)
            printf("    compile error: %s\n", err);
        else
            printf("    keep: want %d got %d\n", c->want_keep, kept);
        if (kept == 1) {
            printf("    line: want \"%s\" got \"%.*s\"\n", c->want_line ? c->want_line : "",
                   (int)res.line.len, res.line.ptr);
            print_labels("want", c->want, c->n_want);
            print_labels("got ", res.labels, res.n_labels);
        }
    }
    logql_pipeline_destroy(p);
    logql_query_destroy(query);
    free(q);
    return ok;
}

static int run_pipeline(const struct opts *o)
{
    FILE *f = fopen(o->file, "r");
    if (!f) {
        fprintf(stderr, "%s: %s\n", o->file, strerror(errno));
        return errno == ENOENT ? 77 : 1;
    }
    char *line = NULL;
    size_t cap = 0;
    long lineno = 0, passed = 0, failed = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, f)) >= 0) {
        lineno++;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = 0;
        if (n == 0)
            continue;
        struct pcase c;
        if (read_case(line, (size_t)n, &c) != 0) {
            fprintf(stderr, "%s:%ld: malformed case\n", o->file, lineno);
            failed++;
        } else if (run_pipeline_case(o, &c, lineno)) {
            passed++;
        } else {
            failed++;
        }
        free_case(&c);
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
    if (strcmp(o.mode, "pipeline") == 0)
        return run_pipeline(&o);
    return usage();
}
