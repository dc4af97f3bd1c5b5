/* LogQL abstract syntax tree, built by logql_parse (parse.h) and executed by the log pipeline and
 * the metric engine. Everything a stage needs at run time is prepared while parsing: label
 * matchers and regexes are compiled, ip() patterns, patterns, json paths and templates are
 * parsed, numbers/durations/byte sizes are converted.
 *
 * Ownership: every node, array and string belongs to the struct logql_query that logql_parse
 * returned (an arena plus a list of compiled objects); logql_query_destroy frees all of it.
 * Strings (struct str) point into that arena and are not NUL-terminated. A parsed query is
 * immutable and may be read by several threads at once (matchers and regexes allocate per-thread
 * match data). */
#ifndef STRATA_ENGINE_LOGQL_AST_H
#define STRATA_ENGINE_LOGQL_AST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/arena.h"
#include "base/str.h"
#include "engine/index/matcher.h"
#include "engine/logql/ip.h"
#include "engine/logql/jsonpath.h"
#include "engine/logql/pattern.h"
#include "engine/logql/regex.h"
#include "engine/logql/template.h"

/* ---- pipeline stages ---- */

/* Line filter operators: |= != |~ !~ |> !> */
enum logql_line_op {
    LOGQL_LINE_CONTAINS,
    LOGQL_LINE_NOT_CONTAINS,
    LOGQL_LINE_REGEX,
    LOGQL_LINE_NOT_REGEX,
    LOGQL_LINE_PATTERN,
    LOGQL_LINE_NOT_PATTERN,
};

/* One operand of a line filter: a string, or ip("...") (only with |= and !=). */
struct logql_line_term {
    struct str value;              /* the literal, regex, pattern or ip pattern */
    bool is_ip;                    /* ip("...") */
    struct logql_regex *re;        /* LOGQL_LINE_REGEX / NOT_REGEX: unanchored, RE2 semantics */
    struct logql_pattern *pattern; /* LOGQL_LINE_PATTERN / NOT_PATTERN (NULL for "") */
    struct logql_ip_matcher *ip;   /* is_ip */
};

/* `|= "a" or "b"`: a positive operator keeps a line when ANY term matches; a negative operator
 * (!=, !~, !>) keeps it when NO term matches (Loki rewrites `!= a or b` to `!= a != b`). */
struct logql_line_filter {
    enum logql_line_op op;
    struct logql_line_term *terms;
    size_t n_terms;
};

/* `| json a="x.y[0]"` / `| logfmt a="b"`: label name and extraction expression. */
struct logql_extract {
    struct str name;
    struct str expr;              /* as written: a json path, or the logfmt key (not validated) */
    struct logql_json_path *path; /* json only: the parsed path */
};

enum logql_cmp {
    LOGQL_CMP_EQ,
    LOGQL_CMP_NE,
    LOGQL_CMP_GT,
    LOGQL_CMP_GE,
    LOGQL_CMP_LT,
    LOGQL_CMP_LE
};

enum logql_lf_kind {
    LOGQL_LF_AND, /* `a and b`, `a, b` and `a b` */
    LOGQL_LF_OR,
    LOGQL_LF_STRING,   /* name =|!=|=~|!~ "value": a missing label compares as "" */
    LOGQL_LF_NUMBER,   /* name op 1.5 */
    LOGQL_LF_DURATION, /* name op 5s */
    LOGQL_LF_BYTES,    /* name op 20MB */
    LOGQL_LF_IP,       /* name = ip("...") / name != ip("...") */
};

/* A label filter expression tree. */
struct logql_label_filter {
    enum logql_lf_kind kind;
    enum logql_cmp cmp;                      /* NUMBER, DURATION, BYTES; IP uses EQ or NE */
    struct str name;                         /* leaf label name */
    struct logql_label_filter *left, *right; /* AND, OR */
    struct matcher *matcher;                 /* STRING (Prometheus matcher semantics) */
    double number;
    int64_t duration_ns;
    uint64_t bytes;
    struct str ip_pattern;
    /* NULL when the pattern is invalid: Loki accepts that inside and/or and after unwrap, and
     * the filter then keeps no line (unless the line already carries an error). */
    struct logql_ip_matcher *ip;
};

/* One `dst=src` (rename) or `dst="template"` entry of label_format. */
struct logql_label_fmt {
    struct str dst;
    bool rename;
    struct str value; /* source label (rename) or template text */
    struct logql_tmpl *tmpl;
};

/* One entry of drop/keep: a bare name or a matcher on a label. */
struct logql_named_matcher {
    struct str name;
    struct matcher *matcher; /* NULL for a bare name */
};

enum logql_stage_kind {
    LOGQL_STAGE_LINE_FILTER,
    LOGQL_STAGE_JSON,   /* exprs empty: every field */
    LOGQL_STAGE_LOGFMT, /* exprs empty: every pair */
    LOGQL_STAGE_REGEXP,
    LOGQL_STAGE_PATTERN,
    LOGQL_STAGE_UNPACK,
    LOGQL_STAGE_LABEL_FILTER,
    LOGQL_STAGE_LINE_FORMAT,
    LOGQL_STAGE_LABEL_FORMAT,
    LOGQL_STAGE_DECOLORIZE,
    LOGQL_STAGE_DROP,
    LOGQL_STAGE_KEEP,
};

struct logql_stage {
    enum logql_stage_kind kind;
    struct logql_line_filter line; /* LINE_FILTER */
    struct logql_extract *exprs;   /* JSON, LOGFMT */
    size_t n_exprs;
    bool strict, keep_empty;           /* LOGFMT flags */
    struct str source;                 /* REGEXP / PATTERN / LINE_FORMAT text */
    struct logql_regex *re;            /* REGEXP (named captures in re->names) */
    struct logql_pattern *pattern;     /* PATTERN */
    struct logql_label_filter *filter; /* LABEL_FILTER */
    struct logql_tmpl *tmpl;           /* LINE_FORMAT; NULL when elided and unparsable */
    /* LINE_FORMAT in a range aggregation that does not measure bytes and with no parser or line
     * filter after it: Loki removes such a stage (it cannot change the result), so it is not run
     * and its template need not parse. */
    bool elided;
    struct logql_label_fmt *fmts; /* LABEL_FORMAT */
    size_t n_fmts;
    struct logql_named_matcher *names; /* DROP, KEEP */
    size_t n_names;
};

/* A stream selector and its pipeline: `{app="a"} |= "x" | json`. */
struct logql_selector {
    struct matcher *matchers; /* at least one does not match "" */
    size_t n_matchers;
    struct logql_stage *stages;
    size_t n_stages;
};

/* ---- metric expressions ---- */

enum logql_range_op {
    LOGQL_RANGE_COUNT,        /* count_over_time */
    LOGQL_RANGE_RATE,         /* rate */
    LOGQL_RANGE_RATE_COUNTER, /* rate_counter */
    LOGQL_RANGE_BYTES,        /* bytes_over_time */
    LOGQL_RANGE_BYTES_RATE,   /* bytes_rate */
    LOGQL_RANGE_AVG,
    LOGQL_RANGE_SUM,
    LOGQL_RANGE_MIN,
    LOGQL_RANGE_MAX,
    LOGQL_RANGE_STDVAR,
    LOGQL_RANGE_STDDEV,
    LOGQL_RANGE_QUANTILE,
    LOGQL_RANGE_FIRST,
    LOGQL_RANGE_LAST,
    LOGQL_RANGE_ABSENT,
    LOGQL_RANGE_OP_COUNT_,
};

enum logql_vector_op {
    LOGQL_VEC_SUM,
    LOGQL_VEC_AVG,
    LOGQL_VEC_COUNT,
    LOGQL_VEC_MAX,
    LOGQL_VEC_MIN,
    LOGQL_VEC_STDDEV,
    LOGQL_VEC_STDVAR,
    LOGQL_VEC_BOTTOMK,
    LOGQL_VEC_TOPK,
    LOGQL_VEC_SORT,
    LOGQL_VEC_SORT_DESC,
    LOGQL_VEC_APPROX_TOPK,
    LOGQL_VEC_OP_COUNT_,
};

enum logql_conv {
    LOGQL_CONV_NONE,
    LOGQL_CONV_BYTES,
    LOGQL_CONV_DURATION,
    LOGQL_CONV_DURATION_SECONDS
};

enum logql_binop {
    LOGQL_OP_OR,
    LOGQL_OP_AND,
    LOGQL_OP_UNLESS,
    LOGQL_OP_ADD,
    LOGQL_OP_SUB,
    LOGQL_OP_MUL,
    LOGQL_OP_DIV,
    LOGQL_OP_MOD,
    LOGQL_OP_POW,
    LOGQL_OP_EQ,
    LOGQL_OP_NE,
    LOGQL_OP_GT,
    LOGQL_OP_GE,
    LOGQL_OP_LT,
    LOGQL_OP_LE,
};

enum logql_card { LOGQL_CARD_ONE_TO_ONE, LOGQL_CARD_MANY_TO_ONE, LOGQL_CARD_ONE_TO_MANY };

struct logql_grouping {
    bool present; /* written in the query (by/without) */
    bool without;
    struct str *labels; /* in query order */
    size_t n_labels;
};

/* `| unwrap [conv(]label[)] | post filters...` */
struct logql_unwrap {
    struct str label;
    enum logql_conv conv;
    struct logql_label_filter **post;
    size_t n_post;
};

enum logql_expr_kind {
    LOGQL_EXPR_LOG,        /* a log query: selector + pipeline */
    LOGQL_EXPR_RANGE_AGG,  /* rate({...}[5m]) */
    LOGQL_EXPR_VECTOR_AGG, /* sum by (a) (...) */
    LOGQL_EXPR_BINOP,
    LOGQL_EXPR_LITERAL, /* a number (constant binary operations are folded) */
    LOGQL_EXPR_VECTOR,  /* vector(1) */
    LOGQL_EXPR_LABEL_REPLACE,
};

struct logql_expr {
    enum logql_expr_kind kind;
    struct logql_selector sel; /* LOG, RANGE_AGG */
    /* RANGE_AGG */
    enum logql_range_op range_op;
    int64_t range_ns, offset_ns;
    struct logql_unwrap *unwrap; /* NULL: no unwrap */
    bool has_param;
    double param; /* quantile_over_time */
    /* RANGE_AGG (optional) and VECTOR_AGG (present=false means no grouping: one series) */
    struct logql_grouping grouping;
    /* VECTOR_AGG */
    enum logql_vector_op vec_op;
    int64_t k; /* topk, bottomk, approx_topk */
    /* VECTOR_AGG, LABEL_REPLACE: the argument; BINOP: the left side */
    struct logql_expr *inner;
    /* BINOP */
    enum logql_binop op;
    struct logql_expr *rhs;
    bool return_bool;
    bool on;       /* on(...) rather than ignoring(...) */
    bool matching; /* on(...) or ignoring(...) was written */
    struct str *match_labels;
    size_t n_match_labels;
    enum logql_card card;
    bool has_include; /* group_x (...) had a label list (possibly empty) */
    struct str *include;
    size_t n_include;
    /* LITERAL, VECTOR */
    double value;
    /* LABEL_REPLACE */
    struct str dst, replacement, src, regex_src;
    struct logql_regex *regex; /* anchored ^(?:regex)$ */
};

struct logql_cleanup;

struct logql_query {
    struct arena arena;
    struct logql_expr *root;
    struct logql_cleanup *cleanup; /* compiled objects to free */
};

/* True for expressions that produce samples (everything but a log query). */
static inline bool logql_expr_is_sample(const struct logql_expr *e)
{
    return e->kind != LOGQL_EXPR_LOG;
}

/* Names as written in LogQL ("count_over_time", "topk", "+", "==", "duration_seconds", ...). */
const char *logql_range_op_name(enum logql_range_op op);
const char *logql_vector_op_name(enum logql_vector_op op);
const char *logql_binop_name(enum logql_binop op);
const char *logql_conv_name(enum logql_conv c);
const char *logql_line_op_name(enum logql_line_op op);
const char *logql_cmp_name(enum logql_cmp c);

/* Allocation helpers used by the parser; all memory comes from q->arena and compiled objects are
 * registered for logql_query_destroy. Return NULL / ERR_NOMEM on allocation failure. */
void *logql_alloc(struct logql_query *q, size_t n);
struct str logql_strdup(struct logql_query *q, struct str s);
int logql_own_matcher(struct logql_query *q, struct matcher *m);
int logql_own_regex(struct logql_query *q, struct logql_regex *re);

struct logql_query *logql_query_create(void);
void logql_query_destroy(struct logql_query *q);

#endif
