/* LogQL AST support: operator names, query allocation and teardown (see ast.h). */
#include "engine/logql/ast.h"

#include <stdlib.h>
#include <string.h>

#include "base/error.h"

/* Compiled objects (heap memory outside the arena) released by logql_query_destroy. */
struct logql_cleanup {
    struct logql_cleanup *next;
    struct matcher *matcher;
    struct logql_regex *regex;
};

const char *logql_range_op_name(enum logql_range_op op)
{
    static const char *const names[LOGQL_RANGE_OP_COUNT_] = {
        "count_over_time",  "rate",
        "rate_counter",     "bytes_over_time",
        "bytes_rate",       "avg_over_time",
        "sum_over_time",    "min_over_time",
        "max_over_time",    "stdvar_over_time",
        "stddev_over_time", "quantile_over_time",
        "first_over_time",  "last_over_time",
        "absent_over_time"};
    return (unsigned)op < LOGQL_RANGE_OP_COUNT_ ? names[op] : "?";
}

const char *logql_vector_op_name(enum logql_vector_op op)
{
    static const char *const names[LOGQL_VEC_OP_COUNT_] = {
        "sum",    "avg",     "count", "max",  "min",       "stddev",
        "stdvar", "bottomk", "topk",  "sort", "sort_desc", "approx_topk"};
    return (unsigned)op < LOGQL_VEC_OP_COUNT_ ? names[op] : "?";
}

const char *logql_binop_name(enum logql_binop op)
{
    static const char *const names[] = {"or", "and", "unless", "+", "-",  "*", "/", "%",
                                        "^",  "==",  "!=",     ">", ">=", "<", "<="};
    return (unsigned)op < sizeof names / sizeof names[0] ? names[op] : "?";
}

const char *logql_conv_name(enum logql_conv c)
{
    static const char *const names[] = {"", "bytes", "duration", "duration_seconds"};
    return (unsigned)c < sizeof names / sizeof names[0] ? names[c] : "?";
}

const char *logql_line_op_name(enum logql_line_op op)
{
    static const char *const names[] = {"|=", "!=", "|~", "!~", "|>", "!>"};
    return (unsigned)op < sizeof names / sizeof names[0] ? names[op] : "?";
}

const char *logql_cmp_name(enum logql_cmp c)
{
    static const char *const names[] = {"==", "!=", ">", ">=", "<", "<="};
    return (unsigned)c < sizeof names / sizeof names[0] ? names[c] : "?";
}

void *logql_alloc(struct logql_query *q, size_t n)
{
    void *p = arena_alloc(&q->arena, n ? n : 1);
    if (p)
        memset(p, 0, n);
    return p;
}

struct str logql_strdup(struct logql_query *q, struct str s)
{
    if (s.len == 0)
        return (struct str){"", 0};
    char *p = arena_dup(&q->arena, s.ptr, s.len, 0);
    return p ? (struct str){p, s.len} : (struct str){NULL, 0};
}

static int own(struct logql_query *q, struct matcher *m, struct logql_regex *re)
{
    struct logql_cleanup *c = logql_alloc(q, sizeof *c);
    if (!c)
        return ERR_NOMEM;
    c->matcher = m;
    c->regex = re;
    c->next = q->cleanup;
    q->cleanup = c;
    return 0;
}

int logql_own_matcher(struct logql_query *q, struct matcher *m)
{
    return own(q, m, NULL);
}

int logql_own_regex(struct logql_query *q, struct logql_regex *re)
{
    return own(q, NULL, re);
}

struct logql_query *logql_query_create(void)
{
    struct logql_query *q = calloc(1, sizeof *q);
    if (q)
        arena_init(&q->arena, 16384);
    return q;
}

void logql_query_destroy(struct logql_query *q)
{
    if (!q)
        return;
    for (struct logql_cleanup *c = q->cleanup; c; c = c->next) {
        if (c->matcher)
            matcher_deinit(c->matcher);
        if (c->regex)
            logql_regex_free(c->regex);
    }
    arena_deinit(&q->arena);
    free(q);
}
