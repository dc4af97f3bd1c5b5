/* LogQL range aggregation functions over one window of samples, with Loki 3.x arithmetic
 * (pkg/logql/range_vector.go): count/rate/bytes, the *_over_time family, quantiles with linear
 * interpolation, first/last, and rate_counter's extrapolated counter rate. */
#include <math.h>
#include <stdlib.h>

#include "engine/logql/eval_internal.h"

static double seconds_of(int64_t ns)
{
    return (double)ns / 1e9;
}

static double sum_of(const double *v, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += v[i];
    return s;
}

/* Incremental mean that leaves an infinite mean alone unless the sample flips it to NaN. */
static double avg_of(const double *v, size_t n)
{
    double mean = 0, count = 0;
    for (size_t i = 0; i < n; i++) {
        count++;
        if (isinf(mean)) {
            if (isinf(v[i]) && (mean > 0) == (v[i] > 0))
                continue;
            if (!isinf(v[i]) && !isnan(v[i]))
                continue;
        }
        mean += v[i] / count - mean / count;
    }
    return mean;
}

static double minmax_of(const double *v, size_t n, bool max)
{
    double m = v[0];
    for (size_t i = 0; i < n; i++)
        if ((max ? v[i] > m : v[i] < m) || isnan(m))
            m = v[i];
    return m;
}

static double stdvar_of(const double *v, size_t n)
{
    double aux = 0, count = 0, mean = 0;
    for (size_t i = 0; i < n; i++) {
        count++;
        double delta = v[i] - mean;
        mean += delta / count;
        aux += delta * (v[i] - mean);
    }
    return aux / count;
}

static int cmp_nan_first(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    if (isnan(x))
        return isnan(y) ? 0 : -1;
    if (isnan(y))
        return 1;
    return (x > y) - (x < y);
}

void ev_sort_values(double *v, size_t n)
{
    qsort(v, n, sizeof *v, cmp_nan_first);
}

static double quantile_of(double q, const double *v, size_t n, double *scratch)
{
    if (n == 0)
        return NAN;
    if (q < 0)
        return -INFINITY;
    if (q > 1)
        return INFINITY;
    for (size_t i = 0; i < n; i++)
        scratch[i] = v[i];
    ev_sort_values(scratch, n);
    double fn = (double)n;
    double rank = q * (fn - 1);
    double lower = fmax(0, floor(rank));
    double upper = fmin(fn - 1, lower + 1);
    double weight = rank - floor(rank);
    return scratch[(size_t)lower] * (1 - weight) + scratch[(size_t)upper] * weight;
}

/* rate_counter: Prometheus-style extrapolated rate of a counter within (end - range, end]. */
static double counter_rate(const int64_t *ts, const double *v, size_t n, int64_t range_ns,
                           int64_t end_ns)
{
    if (n < 2)
        return 0;
    int64_t start_ns = end_ns - range_ns;
    double result = v[n - 1] - v[0];
    double last = 0;
    for (size_t i = 0; i < n; i++) {
        if (v[i] < last)
            result += last;
        last = v[i];
    }
    double to_start = (double)(ts[0] - start_ns) / 1e9;
    double to_end = (double)(end_ns - ts[n - 1]) / 1e9;
    double sampled = (double)(ts[n - 1] - ts[0]) / 1e9;
    double avg_step = sampled / (double)(n - 1);
    double threshold = avg_step * 1.1;
    if (to_start >= threshold)
        to_start = avg_step / 2;
    double to_zero = to_start;
    if (result > 0 && v[0] >= 0)
        to_zero = sampled * (v[0] / result);
    if (to_zero < to_start)
        to_start = to_zero;
    if (to_end >= threshold)
        to_end = avg_step / 2;
    result = result * ((sampled + to_start + to_end) / sampled);
    return result / seconds_of(range_ns);
}

double ev_range_agg(const struct logql_expr *e, const int64_t *ts, const double *v, size_t n,
                    int64_t t_ns, double *scratch)
{
    switch (e->range_op) {
    case LOGQL_RANGE_COUNT: return (double)n;
    case LOGQL_RANGE_RATE:
        if (!e->unwrap)
            return (double)n / seconds_of(e->range_ns);
        return sum_of(v, n) / seconds_of(e->range_ns);
    case LOGQL_RANGE_RATE_COUNTER: return counter_rate(ts, v, n, e->range_ns, t_ns);
    case LOGQL_RANGE_BYTES:
    case LOGQL_RANGE_SUM: return sum_of(v, n);
    case LOGQL_RANGE_BYTES_RATE: return sum_of(v, n) / seconds_of(e->range_ns);
    case LOGQL_RANGE_AVG: return avg_of(v, n);
    case LOGQL_RANGE_MIN: return minmax_of(v, n, false);
    case LOGQL_RANGE_MAX: return minmax_of(v, n, true);
    case LOGQL_RANGE_STDVAR: return stdvar_of(v, n);
    case LOGQL_RANGE_STDDEV: return sqrt(stdvar_of(v, n));
    case LOGQL_RANGE_QUANTILE: return quantile_of(e->param, v, n, scratch);
    case LOGQL_RANGE_FIRST: return v[0];
    case LOGQL_RANGE_LAST: return v[n - 1];
    case LOGQL_RANGE_ABSENT: return 1;
    case LOGQL_RANGE_OP_COUNT_: break;
    }
    return NAN;
}

double ev_partial_window(const struct logql_expr *e, const double *v, size_t n, double acc)
{
    switch (e->range_op) {
    case LOGQL_RANGE_BYTES:
    case LOGQL_RANGE_BYTES_RATE: return acc;
    case LOGQL_RANGE_RATE: return e->unwrap ? sum_of(v, n) : 0;
    case LOGQL_RANGE_SUM: return sum_of(v, n);
    case LOGQL_RANGE_AVG: return avg_of(v, n);
    case LOGQL_RANGE_MIN: return minmax_of(v, n, false);
    case LOGQL_RANGE_MAX: return minmax_of(v, n, true);
    default: return 0;
    }
}
