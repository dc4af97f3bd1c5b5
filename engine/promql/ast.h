/* PromQL abstract syntax tree, shaped for evaluation: every node carries its value type (checked
 * at parse time), functions are resolved to table entries, label matchers are compiled
 * (engine/index/matcher.h), durations are milliseconds, and binary/aggregation operators are enums.
 *
 * Ownership: a struct promql_ast owns every node, string and matcher of one parsed query (all in
 * one arena; matchers are released by promql_ast_destroy). Strings in nodes are copies, never
 * pointers into the query text. A finished AST is immutable and may be read from several threads.
 *
 * Positions are byte offsets into the query text, [pos_start, pos_end), as Prometheus reports them
 * (line:col of pos_start is what annotations and errors print). */
#ifndef STRATA_ENGINE_PROMQL_AST_H
#define STRATA_ENGINE_PROMQL_AST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/arena.h"
#include "base/str.h"
#include "engine/index/matcher.h"
#include "engine/promql/functions.h"

enum promql_kind {
    PROMQL_NUMBER,          /* number literal (also a literal inside a duration expression) */
    PROMQL_STRING,          /* string literal */
    PROMQL_VECTOR_SELECTOR, /* foo{a="b"} */
    PROMQL_MATRIX_SELECTOR, /* foo[5m] */
    PROMQL_SUBQUERY,        /* expr[30m:1m] */
    PROMQL_CALL,            /* rate(...) */
    PROMQL_AGGREGATE,       /* sum by (x) (...) */
    PROMQL_BINARY,          /* a + on(x) b */
    PROMQL_UNARY,           /* -a (never on a number literal: those are folded) */
    PROMQL_PAREN,           /* (a) */
    PROMQL_DURATION_EXPR,   /* step(), 5m + 1m, min_of(a, b) inside ranges, steps and offsets */
};

enum promql_binop {
    PROMQL_OP_ADD,
    PROMQL_OP_SUB,
    PROMQL_OP_MUL,
    PROMQL_OP_DIV,
    PROMQL_OP_MOD,
    PROMQL_OP_POW,
    PROMQL_OP_ATAN2,
    PROMQL_OP_EQ, /* == */
    PROMQL_OP_NE, /* != */
    PROMQL_OP_GT,
    PROMQL_OP_LT,
    PROMQL_OP_GE,
    PROMQL_OP_LE,
    PROMQL_OP_TRIM_UPPER, /* </ (native histogram trim) */
    PROMQL_OP_TRIM_LOWER, /* >/ */
    PROMQL_OP_AND,
    PROMQL_OP_OR,
    PROMQL_OP_UNLESS,
};

enum promql_aggop {
    PROMQL_AGG_SUM,
    PROMQL_AGG_AVG,
    PROMQL_AGG_COUNT,
    PROMQL_AGG_MIN,
    PROMQL_AGG_MAX,
    PROMQL_AGG_GROUP,
    PROMQL_AGG_STDDEV,
    PROMQL_AGG_STDVAR,
    PROMQL_AGG_TOPK,
    PROMQL_AGG_BOTTOMK,
    PROMQL_AGG_COUNT_VALUES,
    PROMQL_AGG_QUANTILE,
    PROMQL_AGG_LIMITK,
    PROMQL_AGG_LIMIT_RATIO,
};

/* Operators of a duration expression (struct promql_dur). */
enum promql_durop {
    PROMQL_DUR_ADD, /* binary, or unary + when lhs is NULL */
    PROMQL_DUR_SUB, /* binary, or unary - when lhs is NULL */
    PROMQL_DUR_MUL,
    PROMQL_DUR_DIV,
    PROMQL_DUR_MOD,
    PROMQL_DUR_POW,
    PROMQL_DUR_STEP,  /* step(): the query step */
    PROMQL_DUR_RANGE, /* range(): end - start of the query */
    PROMQL_DUR_MIN_OF,
    PROMQL_DUR_MAX_OF,
};

enum promql_card {
    PROMQL_CARD_ONE_TO_ONE,
    PROMQL_CARD_MANY_TO_ONE, /* group_left */
    PROMQL_CARD_ONE_TO_MANY, /* group_right */
    PROMQL_CARD_MANY_TO_MANY,
};

enum promql_at_kind { PROMQL_AT_NONE, PROMQL_AT_TIMESTAMP, PROMQL_AT_START, PROMQL_AT_END };

struct promql_at {
    enum promql_at_kind kind;
    int64_t ts_ms; /* PROMQL_AT_TIMESTAMP: milliseconds since the epoch */
};

/* A list of label names (grouping, on/ignoring, group_x includes). */
struct promql_labels {
    struct str *names;
    uint32_t len;
};

struct promql_node;

struct promql_vector_selector {
    struct str name;          /* metric name written before the braces, or empty */
    struct matcher *matchers; /* in query order; a name before braces adds __name__="name" last */
    uint32_t nmatchers;
    int64_t offset_ms;               /* literal offset (may be negative); 0 when none */
    struct promql_node *offset_expr; /* offset given as a duration expression, else NULL */
    struct promql_at at;
    bool anchored, smoothed;
    bool bypass_empty_matcher_check;   /* second argument of info() */
    struct promql_node *next_selector; /* chain of all vector selectors of the AST */
};

struct promql_matrix_selector {
    struct promql_node *vs; /* a PROMQL_VECTOR_SELECTOR node (holds offset, @, anchored, ...) */
    int64_t range_ms;       /* literal range; 0 when range_expr is set */
    struct promql_node *range_expr;
};

struct promql_subquery {
    struct promql_node *expr;
    int64_t range_ms, step_ms, offset_ms; /* step_ms 0 and no step_expr: use the default step */
    struct promql_node *range_expr, *step_expr, *offset_expr;
    struct promql_at at;
};

struct promql_call {
    const struct promql_func *func;
    struct promql_node **args;
    uint32_t nargs;
};

struct promql_aggregate {
    enum promql_aggop op;
    struct promql_node *expr;
    struct promql_node
        *param; /* topk/bottomk/quantile/count_values/limitk/limit_ratio, else NULL */
    struct promql_labels grouping;
    bool without;
};

struct promql_vector_matching {
    enum promql_card card;
    bool on; /* on(...) rather than ignoring(...) */
    struct promql_labels matching;
    struct promql_labels include; /* group_left/group_right labels */
    bool fill_lhs, fill_rhs;      /* fill values present */
    double fill_lhs_val, fill_rhs_val;
};

struct promql_binary {
    enum promql_binop op;
    struct promql_node *lhs, *rhs;
    bool return_bool;
    bool has_matching; /* false unless both sides are instant vectors (then matching applies) */
    struct promql_vector_matching matching;
    uint32_t op_pos; /* byte offset of the operator */
};

struct promql_dur {
    enum promql_durop op;
    struct promql_node *lhs,
        *rhs;     /* operands (unary ops have only rhs), or the min_of/max_of args */
    bool wrapped; /* written in parentheses */
};

struct promql_node {
    enum promql_kind kind;
    enum promql_vtype type;
    uint32_t pos_start, pos_end;
    uint16_t height; /* 1 for leaves; the parser bounds it by PROMQL_DEPTH_MAX */
    union {
        struct {
            double val;    /* a duration literal holds seconds */
            bool duration; /* written as a duration (5m): printed as one */
        } number;
        struct str string; /* unquoted value */
        struct promql_vector_selector vs;
        struct promql_matrix_selector ms;
        struct promql_subquery sq;
        struct promql_call call;
        struct promql_aggregate agg;
        struct promql_binary bin;
        struct {
            bool neg;
            struct promql_node *expr;
        } unary;
        struct promql_node *paren;
        struct promql_dur dur;
    };
};

struct promql_ast {
    struct arena arena;
    struct promql_node *root;
    struct promql_node *selectors; /* every vector selector, chained by vs.next_selector */
};

/* Maximum nesting depth of a query (and height of its tree): deeper queries are parse errors. */
#define PROMQL_DEPTH_MAX 1000

/* Releases the matchers and the arena. NULL is allowed. */
void promql_ast_destroy(struct promql_ast *ast);

const char *promql_binop_str(enum promql_binop op);    /* "+", "==", "and", "atan2", "</" */
const char *promql_aggop_str(enum promql_aggop op);    /* "sum", "count_values", ... */
bool promql_binop_is_comparison(enum promql_binop op); /* == != > < >= <= */
bool promql_binop_is_set(enum promql_binop op);        /* and or unless */
bool promql_aggop_has_param(enum promql_aggop op);

/* Evaluates a duration expression (PROMQL_DURATION_EXPR or PROMQL_NUMBER) to milliseconds for a
 * query with the given step and range (end - start), as Prometheus does before evaluation.
 * Errors (ERR_INVALID, message in err): division or modulo by zero, NaN or infinite result, a
 * result <= 0 when !allow_negative ("duration must be greater than 0"), out of range. */
int promql_duration_eval(const struct promql_node *d, int64_t step_ms, int64_t range_ms,
                         bool allow_negative, int64_t *out_ms, char *err, size_t err_size);

#endif
