/* The PromQL function table, sorted by name for binary search; indexed by id as well. */
#include "engine/promql/functions.h"

#include <string.h>

#include "base/assert.h"

#define S   PROMQL_VT_SCALAR
#define V   PROMQL_VT_VECTOR
#define M   PROMQL_VT_MATRIX
#define STR PROMQL_VT_STRING

#define FN(nm, idv, var, ret, exp, ...)                                                            \
    {                                                                                              \
        nm, PROMQL_FN_##idv,                                                                       \
            (uint8_t)(sizeof((enum promql_vtype[]){__VA_ARGS__}) / sizeof(enum promql_vtype)),     \
            var, {__VA_ARGS__}, ret, exp                                                           \
    }
#define FN0(nm, idv, ret, exp)                                                                     \
    {                                                                                              \
        nm, PROMQL_FN_##idv, 0, 0, {PROMQL_VT_NONE}, ret, exp                                      \
    }

/* Sorted by name (strcmp order), one entry per enum promql_func_id in the same order. */
static const struct promql_func funcs[PROMQL_FN_COUNT_] = {
    FN("abs", ABS, 0, V, false, V),
    FN("absent", ABSENT, 0, V, false, V),
    FN("absent_over_time", ABSENT_OVER_TIME, 0, V, false, M),
    FN("acos", ACOS, 0, V, false, V),
    FN("acosh", ACOSH, 0, V, false, V),
    FN("asin", ASIN, 0, V, false, V),
    FN("asinh", ASINH, 0, V, false, V),
    FN("atan", ATAN, 0, V, false, V),
    FN("atanh", ATANH, 0, V, false, V),
    FN("avg_over_time", AVG_OVER_TIME, 0, V, false, M),
    FN("ceil", CEIL, 0, V, false, V),
    FN("changes", CHANGES, 0, V, false, M),
    FN("clamp", CLAMP, 0, V, false, V, S, S),
    FN("clamp_max", CLAMP_MAX, 0, V, false, V, S),
    FN("clamp_min", CLAMP_MIN, 0, V, false, V, S),
    FN("cos", COS, 0, V, false, V),
    FN("cosh", COSH, 0, V, false, V),
    FN("count_over_time", COUNT_OVER_TIME, 0, V, false, M),
    FN("day_of_month", DAY_OF_MONTH, 1, V, false, V),
    FN("day_of_week", DAY_OF_WEEK, 1, V, false, V),
    FN("day_of_year", DAY_OF_YEAR, 1, V, false, V),
    FN("days_in_month", DAYS_IN_MONTH, 1, V, false, V),
    FN("deg", DEG, 0, V, false, V),
    FN("delta", DELTA, 0, V, false, M),
    FN("deriv", DERIV, 0, V, false, M),
    FN("double_exponential_smoothing", DOUBLE_EXPONENTIAL_SMOOTHING, 0, V, true, M, S, S),
    FN0("end", END, S, true),
    FN("exp", EXP, 0, V, false, V),
    FN("first_over_time", FIRST_OVER_TIME, 0, V, false, M),
    FN("floor", FLOOR, 0, V, false, V),
    FN("histogram_avg", HISTOGRAM_AVG, 0, V, false, V),
    FN("histogram_count", HISTOGRAM_COUNT, 0, V, false, V),
    FN("histogram_fraction", HISTOGRAM_FRACTION, 0, V, false, S, S, V),
    FN("histogram_quantile", HISTOGRAM_QUANTILE, 0, V, false, S, V),
    FN("histogram_quantiles", HISTOGRAM_QUANTILES, 9, V, true, V, STR, S, S),
    FN("histogram_stddev", HISTOGRAM_STDDEV, 0, V, false, V),
    FN("histogram_stdvar", HISTOGRAM_STDVAR, 0, V, false, V),
    FN("histogram_sum", HISTOGRAM_SUM, 0, V, false, V),
    FN("hour", HOUR, 1, V, false, V),
    FN("idelta", IDELTA, 0, V, false, M),
    FN("increase", INCREASE, 0, V, false, M),
    FN("info", INFO, 1, V, true, V, V),
    FN("irate", IRATE, 0, V, false, M),
    FN("label_join", LABEL_JOIN, -1, V, false, V, STR, STR, STR),
    FN("label_replace", LABEL_REPLACE, 0, V, false, V, STR, STR, STR, STR),
    FN("last_over_time", LAST_OVER_TIME, 0, V, false, M),
    FN("ln", LN, 0, V, false, V),
    FN("log10", LOG10, 0, V, false, V),
    FN("log2", LOG2, 0, V, false, V),
    FN("mad_over_time", MAD_OVER_TIME, 0, V, true, M),
    FN("max_of", MAX_OF, 0, S, true, S, S),
    FN("max_over_time", MAX_OVER_TIME, 0, V, false, M),
    FN("min_of", MIN_OF, 0, S, true, S, S),
    FN("min_over_time", MIN_OVER_TIME, 0, V, false, M),
    FN("minute", MINUTE, 1, V, false, V),
    FN("month", MONTH, 1, V, false, V),
    FN0("pi", PI, S, false),
    FN("predict_linear", PREDICT_LINEAR, 0, V, false, M, S),
    FN("present_over_time", PRESENT_OVER_TIME, 0, V, false, M),
    FN("quantile_over_time", QUANTILE_OVER_TIME, 0, V, false, S, M),
    FN("rad", RAD, 0, V, false, V),
    FN0("range", RANGE, S, true),
    FN("rate", RATE, 0, V, false, M),
    FN("resets", RESETS, 0, V, false, M),
    FN("round", ROUND, 1, V, false, V, S),
    FN("scalar", SCALAR, 0, S, false, V),
    FN("sgn", SGN, 0, V, false, V),
    FN("sin", SIN, 0, V, false, V),
    FN("sinh", SINH, 0, V, false, V),
    FN("sort", SORT, 0, V, false, V),
    FN("sort_by_label", SORT_BY_LABEL, -1, V, true, V, STR),
    FN("sort_by_label_desc", SORT_BY_LABEL_DESC, -1, V, true, V, STR),
    FN("sort_desc", SORT_DESC, 0, V, false, V),
    FN("sqrt", SQRT, 0, V, false, V),
    FN0("start", START, S, true),
    FN("start_timestamp", START_TIMESTAMP, 0, V, true, V),
    FN("stddev_over_time", STDDEV_OVER_TIME, 0, V, false, M),
    FN("stdvar_over_time", STDVAR_OVER_TIME, 0, V, false, M),
    FN0("step", STEP, S, true),
    FN("sum_over_time", SUM_OVER_TIME, 0, V, false, M),
    FN("tan", TAN, 0, V, false, V),
    FN("tanh", TANH, 0, V, false, V),
    FN0("time", TIME, S, false),
    FN("timestamp", TIMESTAMP, 0, V, false, V),
    FN("ts_of_first_over_time", TS_OF_FIRST_OVER_TIME, 0, V, true, M),
    FN("ts_of_last_over_time", TS_OF_LAST_OVER_TIME, 0, V, true, M),
    FN("ts_of_max_over_time", TS_OF_MAX_OVER_TIME, 0, V, true, M),
    FN("ts_of_min_over_time", TS_OF_MIN_OVER_TIME, 0, V, true, M),
    FN("vector", VECTOR, 0, V, false, S),
    FN("year", YEAR, 1, V, false, V),
};

const char *promql_vtype_doc(enum promql_vtype t)
{
    switch (t) {
    case PROMQL_VT_SCALAR: return "scalar";
    case PROMQL_VT_VECTOR: return "instant vector";
    case PROMQL_VT_MATRIX: return "range vector";
    case PROMQL_VT_STRING: return "string";
    default: return "none";
    }
}

const char *promql_vtype_str(enum promql_vtype t)
{
    switch (t) {
    case PROMQL_VT_SCALAR: return "scalar";
    case PROMQL_VT_VECTOR: return "vector";
    case PROMQL_VT_MATRIX: return "matrix";
    case PROMQL_VT_STRING: return "string";
    default: return "none";
    }
}

static int name_cmp(const char *name, size_t len, const char *entry)
{
    size_t el = strlen(entry);
    int c = memcmp(name, entry, len < el ? len : el);
    if (c)
        return c;
    return (len > el) - (len < el);
}

const struct promql_func *promql_func_lookup(const char *name, size_t len)
{
    size_t lo = 0, hi = PROMQL_FN_COUNT_;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = name_cmp(name, len, funcs[mid].name);
        if (c == 0)
            return &funcs[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

const struct promql_func *promql_func_by_id(enum promql_func_id id)
{
    ASSERT((unsigned)id < PROMQL_FN_COUNT_);
    return &funcs[id];
}
