/* PromQL conformance runner over ../shared/conformance/promql (Prometheus's promqltest `.test`
 * scripts; format in FORMAT.md there), run against strata's evaluator and in-memory store.
 *
 *   promql_conformance [--floor N | --floor-file PATH] [--strict] [--verbose] FILE|DIR...
 *
 * Prints one line per failing eval (`file:line: query: <what differed>`) and ends with
 * `N passed, M failed`. An eval passes when every expectation of its command holds (an
 * `expect fail` eval passes when the query fails as expected). --strict adds the upstream
 * runner's consistency runs (step invariance with @, and the range-query replay) to every
 * instant eval. Exit 0 when passed >= floor, 1 otherwise, 77 when no input file exists. */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/error.h"
#include "engine/logql/regex.h"
#include "engine/promql/eval.h"
#include "engine/promql/memstore.h"
#include "engine/promql/parse.h"
#include "engine/promql/print.h"
#include "engine/promql/quote.h"
#include "formats/gorilla.h"
#include "tests/conformance/promql_conformance_script.h"

struct runner {
    struct promql_memstore *ms;
    struct promql_storage st;
    struct promql_engine_opts opts;
    long passed, failed;
    bool verbose, strict;
    /* per-file pass/fail for the summary */
};

/* ---- lines ---- */

struct script {
    const char *path;
    char *data;
    char **line;
    size_t n;
};

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t' || *s == '\r')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
        s[--n] = 0;
    return s;
}

static int load_script(const char *path, struct script *s)
{
    memset(s, 0, sizeof *s);
    s->path = path;
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    s->data = malloc((size_t)len + 1);
    if (!s->data || fread(s->data, 1, (size_t)len, f) != (size_t)len) {
        fclose(f);
        free(s->data);
        return -1;
    }
    fclose(f);
    s->data[len] = 0;
    size_t cap = 1;
    for (long i = 0; i < len; i++)
        cap += s->data[i] == '\n';
    s->line = malloc(cap * sizeof *s->line);
    char *p = s->data;
    for (;;) {
        char *nl = strchr(p, '\n');
        if (nl)
            *nl = 0;
        char *t = trim(p);
        s->line[s->n++] = t[0] == '#' ? t + strlen(t) : t;
        if (!nl)
            break;
        p = nl + 1;
    }
    return 0;
}

static void free_script(struct script *s)
{
    free(s->line);
    free(s->data);
}

/* ---- loading ---- */

static bool same_labels(const struct series_desc *a, const struct series_desc *b)
{
    if (a->nlabels != b->nlabels)
        return false;
    for (size_t i = 0; i < a->nlabels; i++) {
        bool found = false;
        for (size_t j = 0; j < b->nlabels && !found; j++)
            found = str_eq(a->labels[i].name, b->labels[j].name) &&
                    str_eq(a->labels[i].value, b->labels[j].value);
        if (!found)
            return false;
    }
    return true;
}

struct loaddef {
    struct series_desc d;
    struct series_desc st; /* nvals 0 when none */
};

struct nhcb {
    struct label *labels; /* base labels */
    size_t nlabels;
    struct nts {
        int64_t t;
        double count, sum;
        bool has_count;
        double *le, *cnt;
        size_t nb;
    } * ts;
    size_t nts;
};

static struct str get_label(const struct series_desc *d, const char *name)
{
    for (size_t i = 0; i < d->nlabels; i++)
        if (str_eq_cstr(d->labels[i].name, name))
            return d->labels[i].value;
    return (struct str){"", 0};
}

static struct nts *nhcb_at(struct nhcb *g, int64_t t)
{
    for (size_t i = 0; i < g->nts; i++)
        if (g->ts[i].t == t)
            return &g->ts[i];
    g->ts = realloc(g->ts, (g->nts + 1) * sizeof *g->ts);
    struct nts *n = &g->ts[g->nts++];
    memset(n, 0, sizeof *n);
    n->t = t;
    return n;
}

static void nhcb_set_bucket(struct nts *n, double le, double c)
{
    for (size_t i = 0; i < n->nb; i++)
        if (n->le[i] == le)
            return;
    n->le = realloc(n->le, (n->nb + 1) * sizeof *n->le);
    n->cnt = realloc(n->cnt, (n->nb + 1) * sizeof *n->cnt);
    size_t i = n->nb;
    while (i > 0 && n->le[i - 1] > le) {
        n->le[i] = n->le[i - 1];
        n->cnt[i] = n->cnt[i - 1];
        i--;
    }
    n->le[i] = le;
    n->cnt[i] = c;
    n->nb++;
}

static int nhcb_append(struct runner *r, struct arena *a, struct nhcb *g)
{
    /* timestamps ascending */
    for (size_t i = 1; i < g->nts; i++)
        for (size_t j = i; j > 0 && g->ts[j - 1].t > g->ts[j].t; j--) {
            struct nts t = g->ts[j];
            g->ts[j] = g->ts[j - 1];
            g->ts[j - 1] = t;
        }
    for (size_t i = 0; i < g->nts; i++) {
        struct nts *n = &g->ts[i];
        double count = n->has_count ? n->count : n->nb ? n->cnt[n->nb - 1] : 0;
        if (n->nb == 0 || !isinf(n->le[n->nb - 1]))
            nhcb_set_bucket(n, INFINITY, count);
        struct promql_hist *h = promql_hist_new(a, (uint32_t)n->nb, 0);
        double *cv = arena_alloc(a, n->nb * sizeof *cv);
        h->schema = PROMQL_SCHEMA_CUSTOM;
        h->count = count;
        h->sum = n->sum;
        double prev = 0;
        for (size_t k = 0; k < n->nb; k++) {
            h->p[k] = n->cnt[k] - prev;
            prev = n->cnt[k];
            if (!isinf(n->le[k]))
                cv[k] = n->le[k];
        }
        h->custom = cv;
        h->ncustom = (uint32_t)(n->nb - 1);
        promql_hist_compact(h);
        int rc = promql_memstore_add_hist(r->ms, g->labels, g->nlabels, n->t, h, 0);
        if (rc)
            return rc;
    }
    return 0;
}

static void nhcb_collect(struct arena *a, struct loaddef *defs, size_t n, int64_t interval,
                         struct nhcb **out, size_t *nout)
{
    for (size_t i = 0; i < n; i++) {
        struct series_desc *d = &defs[i].d;
        struct str name = get_label(d, "__name__");
        int kind = 0;
        size_t base = 0;
        static const char *const sfx[] = {"_bucket", "_sum", "_count"};
        for (int k = 0; k < 3 && !kind; k++) {
            size_t l = strlen(sfx[k]);
            if (name.len >= l && !memcmp(name.ptr + name.len - l, sfx[k], l)) {
                kind = k + 1;
                base = name.len - l;
            }
        }
        if (!kind)
            continue;
        double le = 0;
        if (kind == 1) {
            struct str l = get_label(d, "le");
            char buf[64];
            snprintf(buf, sizeof buf, "%.*s", (int)l.len, l.ptr);
            if (!script_parse_number(buf, &le) || isnan(le))
                continue;
        }
        /* base labels: name without the suffix, no le */
        struct label *bl = arena_alloc(a, (d->nlabels + 1) * sizeof *bl);
        size_t nb = 0;
        for (size_t k = 0; k < d->nlabels; k++) {
            if (str_eq_cstr(d->labels[k].name, "le"))
                continue;
            bl[nb] = d->labels[k];
            if (str_eq_cstr(bl[nb].name, "__name__"))
                bl[nb].value.len = base;
            nb++;
        }
        struct series_desc key = {bl, nb, NULL, 0};
        struct nhcb *g = NULL;
        for (size_t k = 0; k < *nout && !g; k++) {
            struct series_desc other = {(*out)[k].labels, (*out)[k].nlabels, NULL, 0};
            if (same_labels(&key, &other))
                g = &(*out)[k];
        }
        if (!g) {
            *out = realloc(*out, (*nout + 1) * sizeof **out);
            g = &(*out)[(*nout)++];
            memset(g, 0, sizeof *g);
            g->labels = bl;
            g->nlabels = nb;
        }
        for (size_t k = 0; k < d->nvals; k++) {
            if (d->vals[k].kind != SV_FLOAT)
                continue;
            struct nts *t = nhcb_at(g, (int64_t)k * interval);
            double v = d->vals[k].f;
            if (kind == 1)
                nhcb_set_bucket(t, le, v);
            else if (kind == 2)
                t->sum = v;
            else {
                t->count = v;
                t->has_count = true;
            }
        }
    }
}

static int append_defs(struct runner *r, struct arena *a, struct loaddef *defs, size_t n,
                       int64_t interval, bool nhcb)
{
    for (size_t i = 0; i < n; i++) {
        struct series_desc *d = &defs[i].d;
        for (size_t k = 0; k < d->nvals; k++) {
            int64_t t = (int64_t)k * interval, st = 0;
            if (defs[i].st.nvals > k && defs[i].st.vals[k].kind == SV_FLOAT)
                st = t + (int64_t)defs[i].st.vals[k].f;
            int rc = 0;
            if (d->vals[k].kind == SV_FLOAT)
                rc = promql_memstore_add_float(r->ms, d->labels, d->nlabels, t, d->vals[k].f, st);
            else if (d->vals[k].kind == SV_HIST)
                rc = promql_memstore_add_hist(r->ms, d->labels, d->nlabels, t, d->vals[k].h, st);
            if (rc)
                return rc;
        }
    }
    if (!nhcb)
        return 0;
    struct nhcb *groups = NULL;
    size_t ng = 0;
    nhcb_collect(a, defs, n, interval, &groups, &ng);
    int rc = 0;
    for (size_t i = 0; i < ng; i++) {
        if (!rc)
            rc = nhcb_append(r, a, &groups[i]);
        for (size_t k = 0; k < groups[i].nts; k++) {
            free(groups[i].ts[k].le);
            free(groups[i].ts[k].cnt);
        }
        free(groups[i].ts);
    }
    free(groups);
    return rc;
}

static bool is_st_line(const char *l)
{
    const char *sp = strpbrk(l, " \t");
    return sp && sp - l >= 3 && !strncmp(sp - 3, "@st", 3);
}

static void script_error(struct script *s, size_t i, const char *msg)
{
    printf("%s:%zu: script error: %s\n", s->path, i + 1, msg);
}

static size_t do_load(struct runner *r, struct script *s, size_t i, struct arena *a, bool *ok)
{
    const char *h = s->line[i];
    bool nhcb = !strncmp(h, "load_with_nhcb", 14);
    const char *d = h + (nhcb ? 14 : 4);
    while (*d == ' ' || *d == '\t')
        d++;
    int64_t interval;
    *ok = true;
    if (!script_parse_duration(d, strlen(d), &interval)) {
        script_error(s, i, "bad load interval");
        *ok = false;
    }
    struct loaddef *defs = NULL;
    size_t n = 0;
    struct series_desc pending_st = {0};
    bool have_st = false;
    for (i++; i < s->n && s->line[i][0]; i++) {
        char *l = s->line[i];
        if (is_st_line(l)) {
            char *sp = strpbrk(l, " \t");
            char metric[4096];
            snprintf(metric, sizeof metric, "%.*s", (int)(sp - 3 - l), l);
            struct series_desc md;
            const char *err = script_parse_series(a, metric, &md, false);
            if (!err)
                err = script_parse_st(a, sp, &pending_st);
            if (err) {
                script_error(s, i, err);
                *ok = false;
            }
            have_st = true;
            continue;
        }
        struct loaddef def = {0};
        const char *err = script_parse_series(a, l, &def.d, true);
        if (err) {
            script_error(s, i, err);
            *ok = false;
            continue;
        }
        if (have_st)
            def.st = pending_st;
        have_st = false;
        size_t k = 0;
        while (k < n && !same_labels(&defs[k].d, &def.d))
            k++;
        if (k == n) {
            defs = realloc(defs, (n + 1) * sizeof *defs);
            n++;
        }
        defs[k] = def;
    }
    if (*ok) {
        int rc = append_defs(r, a, defs, n, interval, nhcb);
        if (rc) {
            printf("%s:%zu: load failed: %s\n", s->path, i, err_str(rc));
            *ok = false;
        }
    }
    free(defs);
    return i;
}

/* ---- eval commands ---- */

enum { EX_FAIL, EX_WARN, EX_INFO, EX_NO_WARN, EX_NO_INFO, EX_ORDERED };

struct expect {
    int type;
    const char *msg; /* NULL: any */
    struct logql_regex re;
    bool is_re;
};

struct exp_series {
    struct series_desc d;
    const struct promql_lset *ls;
    int pos;
    bool seen;
};

struct evalcmd {
    const char *query;
    size_t line;
    bool range;
    int64_t start, end, step;
    bool fail, warn, info, ordered;
    struct expect ex[32];
    int nex;
    const char *fail_msg, *fail_regex;
    bool scalar;
    double scalar_v;
    bool has_string;
    struct str string;
    bool range_vector;
    struct exp_series *series;
    size_t nseries;
};

static bool parse_string_lit(struct arena *a, const char *s, struct str *out)
{
    struct buf b = BUF_INIT;
    if (promql_unquote(s, strlen(s), &b)) {
        buf_deinit(&b);
        return false;
    }
    char *d = arena_dup(a, b.data ? (const char *)b.data : "", b.len, 1);
    *out = (struct str){d, b.len};
    buf_deinit(&b);
    return true;
}

static const char *parse_expect(struct arena *a, const char *l, struct evalcmd *e)
{
    static const char *const names[] = {"fail", "warn", "info", "no_warn", "no_info", "ordered"};
    const char *p = l + 6;
    while (*p == ' ' || *p == '\t')
        p++;
    int type = -1;
    size_t tl = 0;
    for (int k = 0; k < 6; k++) {
        size_t n = strlen(names[k]);
        if (!strncmp(p, names[k], n) && (p[n] == 0 || p[n] == ' ' || p[n] == '\t') && n > tl) {
            type = k;
            tl = n;
        }
    }
    if (type < 0)
        return "invalid expect line";
    if (e->nex == 32)
        return "too many expect lines";
    struct expect *x = &e->ex[e->nex++];
    memset(x, 0, sizeof *x);
    x->type = type;
    p += tl;
    while (*p == ' ' || *p == '\t')
        p++;
    if (!*p)
        return NULL;
    bool re = !strncmp(p, "regex:", 6);
    if (!re && strncmp(p, "msg:", 4))
        return "invalid expect modifier";
    p += re ? 6 : 4;
    char *t = arena_dup(a, p, strlen(p), 1);
    t = trim(t);
    if (!re) {
        x->msg = t;
        return NULL;
    }
    char err[256];
    if (logql_regex_compile(a, str_from_cstr(t), 0, &x->re, err, sizeof err))
        return "invalid regex";
    x->is_re = true;
    x->msg = t;
    return NULL;
}

static void free_eval(struct evalcmd *e)
{
    for (int k = 0; k < e->nex; k++)
        if (e->ex[k].is_re)
            logql_regex_free(&e->ex[k].re);
}

static bool next_tok(const char **p, const char **tok, size_t *n)
{
    while (**p == ' ' || **p == '\t')
        (*p)++;
    *tok = *p;
    while (**p && **p != ' ' && **p != '\t')
        (*p)++;
    *n = (size_t)(*p - *tok);
    return *n > 0;
}

static const char *parse_header(const char *h, struct evalcmd *e)
{
    const char *p = h + 4, *t;
    size_t n;
    if (*p == '_') {
        const char *m = p + 1;
        if (!strncmp(m, "fail", 4))
            e->fail = true;
        else if (!strncmp(m, "warn", 4))
            e->warn = true;
        else if (!strncmp(m, "info", 4))
            e->info = true;
        else if (!strncmp(m, "ordered", 7))
            e->ordered = true;
        else
            return "unknown eval variant";
        while (*p && *p != ' ' && *p != '\t')
            p++;
    }
    if (!next_tok(&p, &t, &n))
        return "missing eval kind";
    if (n == 7 && !strncmp(t, "instant", 7)) {
        if (!next_tok(&p, &t, &n) || n != 2 || strncmp(t, "at", 2))
            return "expected 'at'";
        if (!next_tok(&p, &t, &n) || !script_parse_duration(t, n, &e->start))
            return "bad eval time";
        e->end = e->start;
    } else if (n == 5 && !strncmp(t, "range", 5)) {
        e->range = true;
        if (!next_tok(&p, &t, &n) || n != 4 || strncmp(t, "from", 4))
            return "expected 'from'";
        if (!next_tok(&p, &t, &n) || !script_parse_duration(t, n, &e->start))
            return "bad start";
        if (!next_tok(&p, &t, &n) || n != 2 || strncmp(t, "to", 2))
            return "expected 'to'";
        if (!next_tok(&p, &t, &n) || !script_parse_duration(t, n, &e->end))
            return "bad end";
        if (!next_tok(&p, &t, &n) || n != 4 || strncmp(t, "step", 4))
            return "expected 'step'";
        if (!next_tok(&p, &t, &n) || !script_parse_duration(t, n, &e->step))
            return "bad step";
    } else {
        return "expected instant or range";
    }
    while (*p == ' ' || *p == '\t')
        p++;
    if (!*p)
        return "missing query";
    e->query = p;
    return NULL;
}

static const char *parse_range_vector(const char *l, struct evalcmd *e)
{
    const char *p = l + strlen("expect range vector"), *t;
    size_t n;
    if (!next_tok(&p, &t, &n) || strncmp(t, "from", 4) || !next_tok(&p, &t, &n) ||
        !script_parse_duration(t, n, &e->start) || !next_tok(&p, &t, &n) || strncmp(t, "to", 2) ||
        !next_tok(&p, &t, &n) || !script_parse_duration(t, n, &e->end) || !next_tok(&p, &t, &n) ||
        strncmp(t, "step", 4) || !next_tok(&p, &t, &n) || !script_parse_duration(t, n, &e->step))
        return "bad expect range vector";
    e->range_vector = true;
    return NULL;
}

static const char *parse_body_line(struct arena *a, char *l, struct evalcmd *e, int *series_pos,
                                   bool *stop)
{
    *stop = false;
    if (e->fail && !strncmp(l, "expected_fail_message", 21)) {
        e->fail_msg = trim(l + 21);
        *stop = true;
        return NULL;
    }
    if (e->fail && !strncmp(l, "expected_fail_regexp", 20)) {
        e->fail_regex = trim(l + 20);
        *stop = true;
        return NULL;
    }
    if (!strncmp(l, "expect range vector", 19))
        return parse_range_vector(l, e);
    if (!strncmp(l, "expect string", 13)) {
        e->has_string = true;
        if (!parse_string_lit(a, trim(l + 13), &e->string))
            return "bad expected string";
        return NULL;
    }
    if (!strncmp(l, "expect", 6) && (l[6] == ' ' || l[6] == '\t'))
        return parse_expect(a, l, e);
    double v;
    if (script_parse_number(l, &v)) {
        e->scalar = true;
        e->scalar_v = v;
        *stop = true;
        return NULL;
    }
    e->series = realloc(e->series, (e->nseries + 1) * sizeof *e->series);
    struct exp_series *x = &e->series[e->nseries];
    memset(x, 0, sizeof *x);
    const char *err = script_parse_series(a, l, &x->d, true);
    if (err)
        return err;
    x->ls = promql_lset_make(a, x->d.labels, x->d.nlabels, false);
    x->pos = ++*series_pos;
    e->nseries++;
    return NULL;
}

/* ---- comparison ---- */

static bool almost_equal(double a, double b)
{
    const double eps = 1e-6, min_normal = 2.2250738585072014e-308;
    if (isnan(a) && isnan(b))
        return true;
    if (a == b)
        return true;
    double abs_sum = fabs(a) + fabs(b), diff = fabs(a - b);
    if (a == 0 || b == 0 || abs_sum < min_normal)
        return diff < eps * min_normal;
    return diff / fmin(abs_sum, 1.7976931348623157e308) < eps;
}

static bool sides_match(int32_t aoff, const double *a, uint32_t an, int32_t boff, const double *b,
                        uint32_t bn)
{
    uint32_t i = 0, j = 0;
    for (;;) {
        while (i < an && a[i] == 0)
            i++;
        while (j < bn && b[j] == 0)
            j++;
        if (i >= an || j >= bn)
            return i >= an && j >= bn;
        if (aoff + (int32_t)i != boff + (int32_t)j || !almost_equal(a[i], b[j]))
            return false;
        i++;
        j++;
    }
}

static bool hist_match(const struct promql_hist *e, const struct promql_hist *c, bool hint_set)
{
    if (e->schema != c->schema || !almost_equal(e->count, c->count) ||
        !almost_equal(e->sum, c->sum))
        return false;
    if (e->schema == PROMQL_SCHEMA_CUSTOM) {
        if (e->ncustom != c->ncustom)
            return false;
        for (uint32_t i = 0; i < e->ncustom; i++)
            if (e->custom[i] != c->custom[i])
                return false;
    }
    if (e->zero_threshold != c->zero_threshold || !almost_equal(e->zero_count, c->zero_count))
        return false;
    if (!sides_match(e->n_off, e->n, e->n_len, c->n_off, c->n, c->n_len) ||
        !sides_match(e->p_off, e->p, e->p_len, c->p_off, c->p, c->p_len))
        return false;
    return !hint_set || e->hint == c->hint;
}

struct msgbuf {
    char s[2048];
};

static bool failf(struct msgbuf *m, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m->s, sizeof m->s, fmt, ap);
    va_end(ap);
    return false;
}

static const char *lset_str(const struct promql_lset *ls, char *buf, size_t n)
{
    struct buf b = BUF_INIT;
    promql_lset_format(&b, ls);
    snprintf(buf, n, "%.*s", (int)b.len, b.data ? (const char *)b.data : "");
    buf_deinit(&b);
    return buf;
}

static const char *hist_str(const struct promql_hist *h, char *buf, size_t n)
{
    struct buf b = BUF_INIT;
    promql_hist_format(&b, h);
    snprintf(buf, n, "%.*s hint=%d", (int)b.len, b.data ? (const char *)b.data : "", h->hint);
    buf_deinit(&b);
    return buf;
}

static struct exp_series *find_exp(struct evalcmd *e, const struct promql_lset *ls)
{
    for (size_t i = 0; i < e->nseries; i++)
        if (promql_lset_eq(e->series[i].ls, ls))
            return &e->series[i];
    return NULL;
}

static bool compare_vector(struct evalcmd *e, const struct promql_result *r, struct msgbuf *m)
{
    char b1[512], b2[512];
    if (e->scalar)
        return failf(m, "expected scalar %g, got a vector of %zu", e->scalar_v, r->nseries);
    for (size_t i = 0; i < e->nseries; i++)
        e->series[i].seen = false;
    bool ordered = e->ordered;
    for (int k = 0; k < e->nex; k++)
        ordered |= e->ex[k].type == EX_ORDERED;
    for (size_t i = 0; i < r->nseries; i++) {
        const struct promql_series *s = &r->series[i];
        struct exp_series *x = find_exp(e, s->labels);
        if (!x)
            return failf(m, "unexpected series %s = %s", lset_str(s->labels, b1, sizeof b1),
                         s->nhists ? hist_str(s->hists[0].h, b2, sizeof b2)
                                   : (snprintf(b2, sizeof b2, "%g", s->floats[0].v), b2));
        if (ordered && x->pos != (int)i + 1)
            return failf(m, "series %s at position %zu, expected %d",
                         lset_str(s->labels, b1, sizeof b1), i + 1, x->pos);
        x->seen = true;
        if (x->d.nvals != 1)
            return failf(m, "bad expectation for %s", lset_str(s->labels, b1, sizeof b1));
        const struct seqval *ev = &x->d.vals[0];
        if (ev->kind == SV_HIST) {
            if (!s->nhists)
                return failf(m, "%s: expected a histogram, got %g",
                             lset_str(s->labels, b1, sizeof b1), s->floats[0].v);
            if (!hist_match(ev->h, s->hists[0].h, ev->hint_set)) {
                char b3[512];
                return failf(m, "%s: expected %s, got %s", lset_str(s->labels, b1, sizeof b1),
                             hist_str(ev->h, b2, sizeof b2),
                             hist_str(s->hists[0].h, b3, sizeof b3));
            }
        } else {
            if (s->nhists)
                return failf(m, "%s: expected float %g, got a histogram",
                             lset_str(s->labels, b1, sizeof b1), ev->f);
            if (!almost_equal(ev->f, s->floats[0].v))
                return failf(m, "%s: expected %.17g, got %.17g", lset_str(s->labels, b1, sizeof b1),
                             ev->f, s->floats[0].v);
        }
    }
    for (size_t i = 0; i < e->nseries; i++)
        if (!e->series[i].seen)
            return failf(m, "expected series %s not returned",
                         lset_str(e->series[i].ls, b1, sizeof b1));
    return true;
}

static bool compare_matrix(struct evalcmd *e, const struct promql_result *r, struct msgbuf *m)
{
    char b1[512], b2[512];
    if (e->scalar)
        return failf(m, "expected scalar, got a matrix");
    for (size_t i = 0; i < e->nseries; i++)
        e->series[i].seen = false;
    for (size_t i = 0; i + 1 < r->nseries; i++)
        if (promql_lset_cmp(r->series[i].labels, r->series[i + 1].labels) > 0)
            return failf(m, "matrix not sorted");
    for (size_t i = 0; i < r->nseries; i++) {
        const struct promql_series *s = &r->series[i];
        struct exp_series *x = find_exp(e, s->labels);
        if (!x)
            return failf(m, "unexpected series %s (%zu floats, %zu histograms)",
                         lset_str(s->labels, b1, sizeof b1), s->nfloats, s->nhists);
        x->seen = true;
        size_t fi = 0, hi = 0;
        for (size_t k = 0; k < x->d.nvals; k++) {
            int64_t t = e->start + (int64_t)k * e->step;
            if (t > e->end)
                return failf(m, "more expected values than steps for %s",
                             lset_str(s->labels, b1, sizeof b1));
            const struct seqval *v = &x->d.vals[k];
            if (v->kind == SV_OMIT)
                continue;
            if (v->kind == SV_HIST) {
                if (hi >= s->nhists || s->hists[hi].t != t)
                    return failf(m, "%s: expected a histogram at %lld",
                                 lset_str(s->labels, b1, sizeof b1), (long long)t);
                if (!hist_match(v->h, s->hists[hi].h, v->hint_set)) {
                    char b3[512];
                    return failf(m, "%s at %lld: expected %s, got %s",
                                 lset_str(s->labels, b1, sizeof b1), (long long)t,
                                 hist_str(v->h, b2, sizeof b2),
                                 hist_str(s->hists[hi].h, b3, sizeof b3));
                }
                hi++;
                continue;
            }
            if (fi >= s->nfloats || s->floats[fi].t != t)
                return failf(m, "%s: expected a float at %lld, got %s",
                             lset_str(s->labels, b1, sizeof b1), (long long)t,
                             fi < s->nfloats
                                 ? (snprintf(b2, sizeof b2, "t=%lld v=%g",
                                             (long long)s->floats[fi].t, s->floats[fi].v),
                                    b2)
                                 : "nothing");
            if (!almost_equal(v->f, s->floats[fi].v))
                return failf(m, "%s at %lld: expected %.17g, got %.17g",
                             lset_str(s->labels, b1, sizeof b1), (long long)t, v->f,
                             s->floats[fi].v);
            fi++;
        }
        if (fi != s->nfloats || hi != s->nhists)
            return failf(m, "%s: %zu floats and %zu histograms, expected %zu and %zu",
                         lset_str(s->labels, b1, sizeof b1), s->nfloats, s->nhists, fi, hi);
    }
    for (size_t i = 0; i < e->nseries; i++)
        if (!e->series[i].seen)
            return failf(m, "expected series %s not returned",
                         lset_str(e->series[i].ls, b1, sizeof b1));
    return true;
}

static bool anno_matches(const struct expect *x, const char *text)
{
    if (!x->msg)
        return true;
    if (x->is_re)
        return logql_regex_match(&x->re, str_from_cstr(text));
    return strcmp(x->msg, text) == 0;
}

static bool check_annos(struct evalcmd *e, const struct promql_result *r, struct msgbuf *m)
{
    int nw = 0, ni = 0;
    for (size_t i = 0; i < r->nannos; i++)
        r->annos[i].warning ? nw++ : ni++;
    if (e->warn && !nw)
        return failf(m, "expected warnings, got none");
    if (e->info && !ni)
        return failf(m, "expected infos, got none");
    static const int kinds[2][2] = {{EX_WARN, EX_NO_WARN}, {EX_INFO, EX_NO_INFO}};
    for (int w = 0; w < 2; w++) {
        bool warning = w == 0;
        int want = kinds[w][0], none = kinds[w][1];
        bool any_want = false;
        for (int k = 0; k < e->nex; k++) {
            if (e->ex[k].type == none)
                for (size_t i = 0; i < r->nannos; i++)
                    if (r->annos[i].warning == warning)
                        return failf(m, "unexpected %s: %s", warning ? "warning" : "info",
                                     r->annos[i].text);
            if (e->ex[k].type != want)
                continue;
            any_want = true;
            bool found = false;
            for (size_t i = 0; i < r->nannos && !found; i++)
                found = r->annos[i].warning == warning && anno_matches(&e->ex[k], r->annos[i].text);
            if (!found)
                return failf(m, "expected %s matching %s, got none (%zu annotations%s%s)",
                             warning ? "warning" : "info", e->ex[k].msg ? e->ex[k].msg : "any",
                             r->nannos, r->nannos ? ", first: " : "",
                             r->nannos ? r->annos[0].text : "");
        }
        if (!any_want)
            continue;
        for (size_t i = 0; i < r->nannos; i++) {
            if (r->annos[i].warning != warning)
                continue;
            bool found = false;
            for (int k = 0; k < e->nex && !found; k++)
                found = e->ex[k].type == want && anno_matches(&e->ex[k], r->annos[i].text);
            if (!found)
                return failf(m, "unexpected %s: %s", warning ? "warning" : "info",
                             r->annos[i].text);
        }
    }
    return true;
}

static bool is_fail(const struct evalcmd *e, const struct expect **x)
{
    *x = NULL;
    for (int k = 0; k < e->nex; k++)
        if (e->ex[k].type == EX_FAIL)
            *x = &e->ex[k];
    return e->fail || *x;
}

static bool check_error(struct evalcmd *e, const char *err, struct msgbuf *m)
{
    const struct expect *x;
    if (!is_fail(e, &x))
        return failf(m, "unexpected error: %s", err);
    if (e->fail_msg && strcmp(e->fail_msg, err))
        return failf(m, "expected error %s, got: %s", e->fail_msg, err);
    if (e->fail_regex) {
        struct arena a;
        arena_init(&a, 4096);
        struct logql_regex re;
        char rerr[256];
        bool ok =
            !logql_regex_compile(&a, str_from_cstr(e->fail_regex), 0, &re, rerr, sizeof rerr) &&
            logql_regex_match(&re, str_from_cstr(err));
        logql_regex_free(&re);
        arena_deinit(&a);
        if (!ok)
            return failf(m, "expected error matching %s, got: %s", e->fail_regex, err);
    }
    if (x && !anno_matches(x, err))
        return failf(m, "expected error %s, got: %s", x->msg, err);
    return true;
}

static bool check_result(struct evalcmd *e, const struct promql_result *r, struct msgbuf *m)
{
    const struct expect *x;
    if (is_fail(e, &x))
        return failf(m, "expected an error, got none");
    if (!check_annos(e, r, m))
        return false;
    switch (r->type) {
    case PROMQL_RESULT_SCALAR:
        if (!e->scalar)
            return failf(m, "expected a vector, got scalar %g", r->scalar);
        if (!almost_equal(e->scalar_v, r->scalar))
            return failf(m, "expected scalar %.17g, got %.17g", e->scalar_v, r->scalar);
        return true;
    case PROMQL_RESULT_STRING:
        if (!e->has_string || e->string.len != r->str.len ||
            memcmp(e->string.ptr, r->str.ptr, r->str.len))
            return failf(m, "unexpected string \"%.*s\"", (int)r->str.len, r->str.ptr);
        return true;
    case PROMQL_RESULT_VECTOR: return compare_vector(e, r, m);
    case PROMQL_RESULT_MATRIX: {
        bool ordered = e->ordered;
        for (int k = 0; k < e->nex; k++)
            ordered |= e->ex[k].type == EX_ORDERED;
        if (ordered)
            return failf(m, "expected ordered result, got a matrix");
        return compare_matrix(e, r, m);
    }
    }
    return false;
}

static void dump_result(const struct promql_result *res)
{
    char b1[512], b2[512];
    printf("  result type %d, %zu series, %zu annotations\n", res->type, res->nseries, res->nannos);
    if (res->type == PROMQL_RESULT_SCALAR)
        printf("  scalar %.17g\n", res->scalar);
    for (size_t i = 0; i < res->nseries && i < 20; i++) {
        const struct promql_series *s = &res->series[i];
        printf("  %s:", lset_str(s->labels, b1, sizeof b1));
        for (size_t k = 0; k < s->nfloats && k < 30; k++)
            printf(" %lld=%.17g", (long long)s->floats[k].t, s->floats[k].v);
        for (size_t k = 0; k < s->nhists && k < 10; k++)
            printf(" %lld=%s", (long long)s->hists[k].t, hist_str(s->hists[k].h, b2, sizeof b2));
        printf("\n");
    }
    for (size_t i = 0; i < res->nannos; i++)
        printf("  %s\n", res->annos[i].text);
}

/* Runs one query; returns true when it meets the eval's expectations. */
static bool run_query(struct runner *r, struct evalcmd *e, const char *query, int64_t start,
                      int64_t end, int64_t step, struct msgbuf *m)
{
    struct promql_ast *ast = NULL;
    struct promql_error perr;
    size_t len = strlen(query);
    if (promql_parse(query, len, NULL, &ast, &perr)) {
        char buf[600];
        promql_error_format(&perr, query, len, buf, sizeof buf);
        return check_error(e, buf, m);
    }
    struct promql_result *res = NULL;
    char err[600];
    int rc =
        promql_eval(&r->st, ast, query, len, &r->opts, start, end, step, &res, err, sizeof err);
    bool ok = rc ? check_error(e, err, m) : check_result(e, res, m);
    if (!ok && r->verbose && res)
        dump_result(res);
    promql_result_free(res);
    promql_ast_destroy(ast);
    return ok;
}

/* ---- the upstream runner's consistency runs (--strict) ---- */

static bool at_unsafe(const struct promql_node *n)
{
    switch (n->kind) {
    case PROMQL_CALL:
        switch (n->call.func->id) {
        case PROMQL_FN_DAYS_IN_MONTH:
        case PROMQL_FN_DAY_OF_MONTH:
        case PROMQL_FN_DAY_OF_WEEK:
        case PROMQL_FN_DAY_OF_YEAR:
        case PROMQL_FN_END:
        case PROMQL_FN_HOUR:
        case PROMQL_FN_MINUTE:
        case PROMQL_FN_MONTH:
        case PROMQL_FN_YEAR:
        case PROMQL_FN_PREDICT_LINEAR:
        case PROMQL_FN_RANGE:
        case PROMQL_FN_START:
        case PROMQL_FN_STEP:
        case PROMQL_FN_TIME:
        case PROMQL_FN_TIMESTAMP: return true;
        default: break;
        }
        for (uint32_t i = 0; i < n->call.nargs; i++)
            if (at_unsafe(n->call.args[i]))
                return true;
        return false;
    case PROMQL_MATRIX_SELECTOR: return at_unsafe(n->ms.vs);
    case PROMQL_SUBQUERY: return at_unsafe(n->sq.expr);
    case PROMQL_AGGREGATE:
        return at_unsafe(n->agg.expr) || (n->agg.param && at_unsafe(n->agg.param));
    case PROMQL_BINARY: return at_unsafe(n->bin.lhs) || at_unsafe(n->bin.rhs);
    case PROMQL_UNARY: return at_unsafe(n->unary.expr);
    case PROMQL_PAREN: return at_unsafe(n->paren);
    default: return false;
    }
}

/* Pins every selector and subquery without @ to ts, except inside subqueries (which then have
 * one). */
static void pin_at(struct promql_node *n, int64_t ts)
{
    switch (n->kind) {
    case PROMQL_VECTOR_SELECTOR:
        if (n->vs.at.kind == PROMQL_AT_NONE)
            n->vs.at = (struct promql_at){PROMQL_AT_TIMESTAMP, ts};
        return;
    case PROMQL_MATRIX_SELECTOR: pin_at(n->ms.vs, ts); return;
    case PROMQL_SUBQUERY:
        /* The expression inside keeps its own time (it is under a subquery with @ now). */
        if (n->sq.at.kind == PROMQL_AT_NONE)
            n->sq.at = (struct promql_at){PROMQL_AT_TIMESTAMP, ts};
        return;
    case PROMQL_CALL:
        for (uint32_t i = 0; i < n->call.nargs; i++)
            pin_at(n->call.args[i], ts);
        return;
    case PROMQL_AGGREGATE:
        pin_at(n->agg.expr, ts);
        if (n->agg.param)
            pin_at(n->agg.param, ts);
        return;
    case PROMQL_BINARY:
        pin_at(n->bin.lhs, ts);
        pin_at(n->bin.rhs, ts);
        return;
    case PROMQL_UNARY: pin_at(n->unary.expr, ts); return;
    case PROMQL_PAREN: pin_at(n->paren, ts); return;
    default: return;
    }
}

static bool has_context_fn(const char *q)
{
    static const char *const fns[] = {"start()", "end()", "range()", "step()"};
    for (int i = 0; i < 4; i++)
        if (strstr(q, fns[i]))
            return true;
    return false;
}

/* The instant eval replayed as a range query around t: the points at t must match. */
static bool range_mode(struct runner *r, struct evalcmd *e, const char *query, int64_t t,
                       bool scalar, struct msgbuf *m)
{
    struct promql_ast *ast = NULL;
    struct promql_error perr;
    size_t len = strlen(query);
    if (promql_parse(query, len, NULL, &ast, &perr))
        return failf(m, "range mode: does not parse");
    struct promql_result *res = NULL;
    char err[600];
    int rc = promql_eval(&r->st, ast, query, len, &r->opts, t - 60000, t + 60000, 60000, &res, err,
                         sizeof err);
    promql_ast_destroy(ast);
    if (rc)
        return failf(m, "range mode: error %s", err);
    struct promql_result v = *res;
    v.type = PROMQL_RESULT_VECTOR;
    v.series = calloc(res->nseries + 1, sizeof *v.series);
    v.nseries = 0;
    for (size_t i = 0; i < res->nseries; i++) {
        const struct promql_series *s = &res->series[i];
        struct promql_series o = {s->labels, NULL, 0, NULL, 0};
        for (size_t k = 0; k < s->nfloats && !o.nfloats; k++)
            if (s->floats[k].t == t)
                o.floats = &s->floats[k], o.nfloats = 1;
        for (size_t k = 0; k < s->nhists && !o.nhists && !o.nfloats; k++)
            if (s->hists[k].t == t)
                o.hists = &s->hists[k], o.nhists = 1;
        if (o.nfloats || o.nhists)
            v.series[v.nseries++] = o;
    }
    bool ok;
    if (scalar) {
        ok = v.nseries == 1 && v.series[0].nfloats &&
             almost_equal(e->scalar_v, v.series[0].floats[0].v);
        if (!ok)
            failf(m, "range mode: scalar mismatch");
    } else {
        ok = compare_vector(e, &v, m);
        if (!ok) {
            char tmp[sizeof m->s];
            memcpy(tmp, m->s, sizeof tmp);
            snprintf(m->s, sizeof m->s, "range mode: %.2000s", tmp);
        }
    }
    free(v.series);
    promql_result_free(res);
    return ok;
}

static bool ordered_expected(const struct evalcmd *e)
{
    bool ordered = e->ordered;
    for (int k = 0; k < e->nex; k++)
        ordered |= e->ex[k].type == EX_ORDERED;
    return ordered;
}

/* One instant query of the strict runs; false with the message on a mismatch. */
static bool strict_one(struct runner *r, struct evalcmd *e, const char *query, int64_t t,
                       struct msgbuf *m)
{
    const struct expect *x;
    if (!run_query(r, e, query, t, t, 0, m))
        return false;
    if (is_fail(e, &x) || ordered_expected(e) || e->has_string || e->range_vector ||
        has_context_fn(query))
        return true;
    return range_mode(r, e, query, t, e->scalar, m);
}

static bool run_strict(struct runner *r, struct evalcmd *e, int64_t t, struct msgbuf *m)
{
    if (!strict_one(r, e, e->query, t, m))
        return false;
    struct promql_ast *ast = NULL;
    struct promql_error perr;
    if (promql_parse(e->query, strlen(e->query), NULL, &ast, &perr))
        return true;
    bool ok = true;
    if (!at_unsafe(ast->root)) {
        pin_at(ast->root, t);
        struct buf b = BUF_INIT;
        promql_print(ast->root, &b);
        buf_cstr(&b);
        int64_t times[5] = {-10 * t, 0, t / 5, t, 10 * t}, n = 5;
        if (t == 0) {
            times[0] = -1000;
            times[1] = 0;
            times[2] = 1000;
            n = 3;
        }
        for (int64_t k = 0; ok && k < n; k++) {
            ok = strict_one(r, e, (const char *)b.data, times[k], m);
            if (!ok) {
                char tmp[sizeof m->s];
                memcpy(tmp, m->s, sizeof tmp);
                snprintf(m->s, sizeof m->s, "at %lld as %.300s: %.1500s", (long long)times[k],
                         (const char *)b.data, tmp);
            }
        }
        buf_deinit(&b);
    }
    promql_ast_destroy(ast);
    return ok;
}

static size_t do_eval(struct runner *r, struct script *s, size_t i, struct arena *a)
{
    struct evalcmd e;
    memset(&e, 0, sizeof e);
    e.line = i + 1;
    const char *err = parse_header(s->line[i], &e);
    int series_pos = 0;
    bool stop = false;
    for (i++; !err && !stop && i < s->n && s->line[i][0]; i++)
        err = parse_body_line(a, s->line[i], &e, &series_pos, &stop);
    while (i < s->n && s->line[i][0])
        i++;
    struct msgbuf m = {""};
    bool ok;
    if (err) {
        ok = failf(&m, "script error: %s", err);
    } else if (e.range) {
        ok = run_query(r, &e, e.query, e.start, e.end, e.step, &m);
    } else {
        int64_t t = e.range_vector ? e.end : e.start;
        ok = r->strict ? run_strict(r, &e, t, &m) : run_query(r, &e, e.query, t, t, 0, &m);
    }
    if (ok) {
        r->passed++;
        if (r->verbose)
            printf("%s:%zu: ok\n", s->path, e.line);
    } else {
        r->failed++;
        printf("%s:%zu: %s: %s\n", s->path, e.line, e.query ? e.query : "?", m.s);
    }
    free(e.series);
    free_eval(&e);
    return i;
}

/* ---- files ---- */

static int run_file(struct runner *r, const char *path)
{
    struct script s;
    if (load_script(path, &s))
        return -1;
    promql_memstore_clear(r->ms);
    struct arena a;
    arena_init(&a, 1 << 20);
    long p0 = r->passed, f0 = r->failed;
    size_t i = 0;
    while (i < s.n) {
        const char *l = s.line[i];
        if (!l[0]) {
            i++;
            continue;
        }
        if (!strncasecmp(l, "clear", 5) && (l[5] == 0 || l[5] == ' ')) {
            promql_memstore_clear(r->ms);
            i++;
        } else if (!strncasecmp(l, "load", 4)) {
            bool ok;
            i = do_load(r, &s, i, &a, &ok);
        } else if (!strncasecmp(l, "eval", 4)) {
            i = do_eval(r, &s, i, &a);
        } else {
            script_error(&s, i, "invalid command");
            i++;
        }
    }
    fprintf(stderr, "%s: %ld passed, %ld failed\n", path, r->passed - p0, r->failed - f0);
    arena_deinit(&a);
    free_script(&s);
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int run_dir(struct runner *r, const char *dir, int *found)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    char **names = NULL;
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t l = strlen(de->d_name);
        if (l > 5 && !strcmp(de->d_name + l - 5, ".test")) {
            names = realloc(names, (n + 1) * sizeof *names);
            names[n] = malloc(strlen(dir) + l + 2);
            sprintf(names[n++], "%s/%s", dir, de->d_name);
        }
    }
    closedir(d);
    qsort(names, n, sizeof *names, cmp_str);
    for (size_t i = 0; i < n; i++) {
        if (run_file(r, names[i]) == 0)
            (*found)++;
        free(names[i]);
    }
    free(names);
    return 0;
}

static int read_floor(const char *path, long *floor)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    int ok = fscanf(f, "%ld", floor) == 1;
    fclose(f);
    return ok ? 0 : -1;
}

int main(int argc, char **argv)
{
    struct runner r;
    memset(&r, 0, sizeof r);
    long floor = -1;
    r.ms = promql_memstore_create();
    if (!r.ms)
        return 2;
    promql_memstore_storage(r.ms, &r.st);
    promql_engine_opts_default(&r.opts);
    r.opts.use_start_timestamps = true;
    int found = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--floor") && i + 1 < argc) {
            floor = strtol(argv[++i], NULL, 10);
        } else if (!strcmp(argv[i], "--floor-file") && i + 1 < argc) {
            if (read_floor(argv[++i], &floor)) {
                fprintf(stderr, "%s: cannot read a floor\n", argv[i]);
                return 2;
            }
        } else if (!strcmp(argv[i], "--verbose")) {
            r.verbose = true;
        } else if (!strcmp(argv[i], "--strict")) {
            r.strict = true;
        } else if (run_dir(&r, argv[i], &found) != 0 && run_file(&r, argv[i]) == 0) {
            found++;
        }
    }
    promql_memstore_destroy(r.ms);
    if (!found) {
        fprintf(stderr, "no PromQL test files found\n");
        return 77;
    }
    printf("%ld passed, %ld failed\n", r.passed, r.failed);
    return floor < 0 || r.passed >= floor ? 0 : 1;
}
