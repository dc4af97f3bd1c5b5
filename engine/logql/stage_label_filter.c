/* Label filter stages (`| status >= 400 and method="GET"`, `| addr = ip("10.0.0.0/8")`) and the
 * unwrap sample extraction, with Loki's rules (label_filter.go, ip.go, metrics_extraction.go): a
 * string matcher reads a missing label as ""; numeric, duration and bytes filters drop an entry
 * without the label and keep one whose value does not convert, marking it LabelFilterErr; an ip()
 * filter keeps every entry that already carries an error; `and` evaluates both sides, `or` stops
 * at the first match. */
#include <math.h>
#include <stdio.h>

#include "base/error.h"
#include "engine/logql/exec_int.h"
#include "engine/logql/units.h"

/* Loki turns a string filter whose regex simplifies to match-all into a no-op. */
static bool string_noop(const struct logql_label_filter *f)
{
    const struct matcher *m = f->matcher;
    return m && m->type == MATCHER_RE &&
           (m->value.len == 0 || str_eq_cstr(m->value, ".*") || str_eq_cstr(m->value, "(.*)"));
}

static bool eval_string(struct logql_pipeline *p, const struct logql_label_filter *f)
{
    if (!f->matcher || string_noop(f))
        return true;
    struct str v = {"", 0};
    if (str_eq_cstr(f->name, LQ_ERROR_LABEL))
        v = p->lb.err;
    else
        (void)lq_lb_get(&p->lb, f->name, &v, NULL);
    return matcher_matches(f->matcher, v);
}

static bool cmp_double(enum logql_cmp c, double a, double b)
{
    switch (c) {
    case LOGQL_CMP_EQ: return a == b;
    case LOGQL_CMP_NE: return a != b;
    case LOGQL_CMP_GT: return a > b;
    case LOGQL_CMP_GE: return a >= b;
    case LOGQL_CMP_LT: return a < b;
    case LOGQL_CMP_LE: return a <= b;
    }
    return false;
}

static bool cmp_i64(enum logql_cmp c, int64_t a, int64_t b)
{
    return c == LOGQL_CMP_EQ   ? a == b
           : c == LOGQL_CMP_NE ? a != b
           : c == LOGQL_CMP_GT ? a > b
           : c == LOGQL_CMP_GE ? a >= b
           : c == LOGQL_CMP_LT ? a < b
                               : a <= b;
}

static bool cmp_u64(enum logql_cmp c, uint64_t a, uint64_t b)
{
    return c == LOGQL_CMP_EQ   ? a == b
           : c == LOGQL_CMP_NE ? a != b
           : c == LOGQL_CMP_GT ? a > b
           : c == LOGQL_CMP_GE ? a >= b
           : c == LOGQL_CMP_LT ? a < b
                               : a <= b;
}

/* The error text of a failed conversion, in Go's words (the details label). */
static struct str conv_error(struct logql_pipeline *p, enum logql_lf_kind kind, struct str v)
{
    struct buf *b = &p->tmp;
    buf_reset(b);
    int rc = 0;
    if (kind == LOGQL_LF_DURATION) {
        rc = buf_append_str(b, "time: invalid duration ") || logql_quote(b, v);
    } else if (kind == LOGQL_LF_BYTES) {
        size_t i = 0;
        while (i < v.len && ((v.ptr[i] >= '0' && v.ptr[i] <= '9') || v.ptr[i] == '.'))
            i++;
        if (i > 0)
            rc = buf_printf(b, "unhandled size name: %.*s", (int)(v.len - i), v.ptr + i);
        else
            rc = buf_append_str(b, "strconv.ParseFloat: parsing \"\": invalid syntax");
    } else {
        rc = buf_append_str(b, "strconv.ParseFloat: parsing ") || logql_quote(b, v) ||
             buf_append_str(b, ": invalid syntax");
    }
    if (rc)
        return (struct str){"", 0};
    return lq_mem_dup(&p->mem, b->data, b->len, &p->lb.oom);
}

/* NUMBER, DURATION, BYTES */
static bool eval_convert(struct logql_pipeline *p, const struct logql_label_filter *f)
{
    struct str v;
    if (!lq_lb_get(&p->lb, f->name, &v, NULL))
        return false;
    int rc;
    bool keep = false;
    if (f->kind == LOGQL_LF_NUMBER) {
        double d = 0;
        if ((rc = logql_parse_float(v, &d)) == 0)
            keep = cmp_double(f->cmp, d, f->number);
    } else if (f->kind == LOGQL_LF_DURATION) {
        int64_t ns = 0;
        if ((rc = logql_parse_go_duration(v, &ns)) == 0)
            keep = cmp_i64(f->cmp, ns, f->duration_ns);
    } else {
        uint64_t n = 0;
        if ((rc = logql_parse_bytes(v, &n)) == 0)
            keep = cmp_u64(f->cmp, n, f->bytes);
    }
    if (rc == 0)
        return keep;
    if (!lq_lb_has_err(&p->lb)) {
        p->lb.err = STR_LIT(LQ_ERR_LABEL_FILTER);
        p->lb.err_details = conv_error(p, f->kind, v);
    }
    return true;
}

static bool eval_ip(struct logql_pipeline *p, const struct logql_label_filter *f)
{
    if (lq_lb_has_err(&p->lb))
        return true;
    struct str v;
    if (!lq_lb_get(&p->lb, f->name, &v, NULL) || !f->ip)
        return false;
    bool m = logql_ip_matches(f->ip, v);
    return f->cmp == LOGQL_CMP_NE ? !m : m;
}

bool lq_stage_label_filter(struct logql_pipeline *p, const struct logql_label_filter *f)
{
    switch (f->kind) {
    case LOGQL_LF_AND: {
        bool l = lq_stage_label_filter(p, f->left);
        bool r = lq_stage_label_filter(p, f->right);
        return l && r;
    }
    case LOGQL_LF_OR:
        return lq_stage_label_filter(p, f->left) || lq_stage_label_filter(p, f->right);
    case LOGQL_LF_STRING: return eval_string(p, f);
    case LOGQL_LF_NUMBER:
    case LOGQL_LF_DURATION:
    case LOGQL_LF_BYTES: return eval_convert(p, f);
    case LOGQL_LF_IP: return eval_ip(p, f);
    }
    return true;
}

/* ---- unwrap ---- */

static int convert_unwrap(enum logql_conv conv, struct str v, double *out)
{
    if (conv == LOGQL_CONV_BYTES) {
        uint64_t n;
        int rc = logql_parse_bytes(v, &n);
        *out = rc ? 0 : (double)n;
        return rc;
    }
    if (conv == LOGQL_CONV_DURATION || conv == LOGQL_CONV_DURATION_SECONDS) {
        int64_t ns;
        int rc = logql_parse_go_duration(v, &ns);
        /* Go's Duration.Seconds: whole seconds plus the fraction */
        *out = rc ? 0 : (double)(ns / 1000000000) + (double)(ns % 1000000000) / 1e9;
        return rc;
    }
    int rc = logql_parse_float(v, out);
    if (rc)
        *out = 0;
    return rc;
}

bool lq_unwrap(struct logql_pipeline *p, double *value)
{
    const struct logql_unwrap *u = p->unwrap;
    struct str v = {"", 0};
    (void)lq_lb_get(&p->lb, u->label, &v, NULL);
    if (v.len == 0)
        return false; /* a line without the label yields no sample */
    if (convert_unwrap(u->conv, v, value) != 0) {
        enum logql_lf_kind k = u->conv == LOGQL_CONV_BYTES  ? LOGQL_LF_BYTES
                               : u->conv == LOGQL_CONV_NONE ? LOGQL_LF_NUMBER
                                                            : LOGQL_LF_DURATION;
        p->lb.err = STR_LIT(LQ_ERR_SAMPLE);
        p->lb.err_details = conv_error(p, k, v);
    }
    bool keep = true;
    for (size_t i = 0; i < u->n_post; i++) /* Loki folds them into one `and` chain */
        keep = lq_stage_label_filter(p, u->post[i]) && keep;
    return keep;
}
