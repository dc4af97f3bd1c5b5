/* The PromQL function table (Prometheus 3.x promql/parser/functions.go): every function's name,
 * argument types, variadic count, return type and experimental flag. The parser resolves calls to
 * an entry here; the evaluator dispatches on promql_func.id. Immutable, thread-safe. */
#ifndef STRATA_ENGINE_PROMQL_FUNCTIONS_H
#define STRATA_ENGINE_PROMQL_FUNCTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Value types of expressions (Prometheus's ValueType). */
enum promql_vtype {
    PROMQL_VT_NONE,
    PROMQL_VT_SCALAR,
    PROMQL_VT_VECTOR, /* instant vector */
    PROMQL_VT_MATRIX, /* range vector */
    PROMQL_VT_STRING,
};

/* "scalar", "instant vector", "range vector", "string", "none" (DocumentedType). */
const char *promql_vtype_doc(enum promql_vtype t);
/* "scalar", "vector", "matrix", "string", "none" (the raw ValueType). */
const char *promql_vtype_str(enum promql_vtype t);

enum promql_func_id {
    PROMQL_FN_ABS,
    PROMQL_FN_ABSENT,
    PROMQL_FN_ABSENT_OVER_TIME,
    PROMQL_FN_ACOS,
    PROMQL_FN_ACOSH,
    PROMQL_FN_ASIN,
    PROMQL_FN_ASINH,
    PROMQL_FN_ATAN,
    PROMQL_FN_ATANH,
    PROMQL_FN_AVG_OVER_TIME,
    PROMQL_FN_CEIL,
    PROMQL_FN_CHANGES,
    PROMQL_FN_CLAMP,
    PROMQL_FN_CLAMP_MAX,
    PROMQL_FN_CLAMP_MIN,
    PROMQL_FN_COS,
    PROMQL_FN_COSH,
    PROMQL_FN_COUNT_OVER_TIME,
    PROMQL_FN_DAY_OF_MONTH,
    PROMQL_FN_DAY_OF_WEEK,
    PROMQL_FN_DAY_OF_YEAR,
    PROMQL_FN_DAYS_IN_MONTH,
    PROMQL_FN_DEG,
    PROMQL_FN_DELTA,
    PROMQL_FN_DERIV,
    PROMQL_FN_DOUBLE_EXPONENTIAL_SMOOTHING,
    PROMQL_FN_END,
    PROMQL_FN_EXP,
    PROMQL_FN_FIRST_OVER_TIME,
    PROMQL_FN_FLOOR,
    PROMQL_FN_HISTOGRAM_AVG,
    PROMQL_FN_HISTOGRAM_COUNT,
    PROMQL_FN_HISTOGRAM_FRACTION,
    PROMQL_FN_HISTOGRAM_QUANTILE,
    PROMQL_FN_HISTOGRAM_QUANTILES,
    PROMQL_FN_HISTOGRAM_STDDEV,
    PROMQL_FN_HISTOGRAM_STDVAR,
    PROMQL_FN_HISTOGRAM_SUM,
    PROMQL_FN_HOUR,
    PROMQL_FN_IDELTA,
    PROMQL_FN_INCREASE,
    PROMQL_FN_INFO,
    PROMQL_FN_IRATE,
    PROMQL_FN_LABEL_JOIN,
    PROMQL_FN_LABEL_REPLACE,
    PROMQL_FN_LAST_OVER_TIME,
    PROMQL_FN_LN,
    PROMQL_FN_LOG10,
    PROMQL_FN_LOG2,
    PROMQL_FN_MAD_OVER_TIME,
    PROMQL_FN_MAX_OF,
    PROMQL_FN_MAX_OVER_TIME,
    PROMQL_FN_MIN_OF,
    PROMQL_FN_MIN_OVER_TIME,
    PROMQL_FN_MINUTE,
    PROMQL_FN_MONTH,
    PROMQL_FN_PI,
    PROMQL_FN_PREDICT_LINEAR,
    PROMQL_FN_PRESENT_OVER_TIME,
    PROMQL_FN_QUANTILE_OVER_TIME,
    PROMQL_FN_RAD,
    PROMQL_FN_RANGE,
    PROMQL_FN_RATE,
    PROMQL_FN_RESETS,
    PROMQL_FN_ROUND,
    PROMQL_FN_SCALAR,
    PROMQL_FN_SGN,
    PROMQL_FN_SIN,
    PROMQL_FN_SINH,
    PROMQL_FN_SORT,
    PROMQL_FN_SORT_BY_LABEL,
    PROMQL_FN_SORT_BY_LABEL_DESC,
    PROMQL_FN_SORT_DESC,
    PROMQL_FN_SQRT,
    PROMQL_FN_START,
    PROMQL_FN_START_TIMESTAMP,
    PROMQL_FN_STDDEV_OVER_TIME,
    PROMQL_FN_STDVAR_OVER_TIME,
    PROMQL_FN_STEP,
    PROMQL_FN_SUM_OVER_TIME,
    PROMQL_FN_TAN,
    PROMQL_FN_TANH,
    PROMQL_FN_TIME,
    PROMQL_FN_TIMESTAMP,
    PROMQL_FN_TS_OF_FIRST_OVER_TIME,
    PROMQL_FN_TS_OF_LAST_OVER_TIME,
    PROMQL_FN_TS_OF_MAX_OVER_TIME,
    PROMQL_FN_TS_OF_MIN_OVER_TIME,
    PROMQL_FN_VECTOR,
    PROMQL_FN_YEAR,
    PROMQL_FN_COUNT_,
};

#define PROMQL_FUNC_ARGS_MAX 5

struct promql_func {
    const char *name;
    enum promql_func_id id;
    uint8_t nargs; /* declared argument types in arg_types */
    /* 0: exactly nargs arguments; n > 0: up to n more of the last type; -1: any number more.
     * (With variadic != 0 the last declared argument is optional.) */
    int8_t variadic;
    enum promql_vtype arg_types[PROMQL_FUNC_ARGS_MAX];
    enum promql_vtype ret;
    bool experimental;
};

/* Looks a function up by exact (case-sensitive) name; NULL when unknown. */
const struct promql_func *promql_func_lookup(const char *name, size_t len);
const struct promql_func *promql_func_by_id(enum promql_func_id id);

#endif
