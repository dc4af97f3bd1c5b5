/* LogQL pipeline executor (exec.h): compiles the stages in Loki's order (line filters move ahead
 * of the other stages of their segment; all filters that read the same version of the line are
 * evaluated together, first), and runs entries through them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "engine/logql/exec_int.h"
#include "engine/logql/exec_tmpl.h"

/* ---- compile: Loki's reorderStages ---- */

struct order {
    const struct logql_stage **v;
    size_t n;
};

static void order_flush(struct order *out, struct order *lf, struct order *other)
{
    for (size_t i = 0; i < lf->n; i++)
        out->v[out->n++] = lf->v[i];
    for (size_t i = 0; i < other->n; i++)
        out->v[out->n++] = other->v[i];
    lf->n = other->n = 0;
}

/* Loki's MultiStageExpr.reorderStages; elided line_format stages are left out. */
static int reorder(const struct logql_selector *sel, struct order *out)
{
    size_t n = sel->n_stages;
    struct order lf = {calloc(n + 1, sizeof *lf.v), 0}, other = {calloc(n + 1, sizeof *other.v), 0};
    out->v = calloc(n + 1, sizeof *out->v);
    out->n = 0;
    if (!lf.v || !other.v || !out->v) {
        free(lf.v);
        free(other.v);
        return ERR_NOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        const struct logql_stage *s = &sel->stages[i];
        switch (s->kind) {
        case LOGQL_STAGE_LABEL_FILTER:
            order_flush(out, &lf, &other);
            out->v[out->n++] = s;
            break;
        case LOGQL_STAGE_LINE_FILTER: lf.v[lf.n++] = s; break;
        case LOGQL_STAGE_LINE_FORMAT:
            if (s->elided)
                break;
            other.v[other.n++] = s;
            order_flush(out, &lf, &other);
            break;
        case LOGQL_STAGE_UNPACK:
            other.v[other.n++] = s;
            order_flush(out, &lf, &other);
            break;
        default: other.v[other.n++] = s; break;
        }
    }
    order_flush(out, &lf, &other);
    free(lf.v);
    free(other.v);
    return 0;
}

static bool rewrites_line(const struct logql_stage *s)
{
    return s->kind == LOGQL_STAGE_LINE_FORMAT || s->kind == LOGQL_STAGE_UNPACK ||
           s->kind == LOGQL_STAGE_DECOLORIZE;
}

static enum lq_op op_of(const struct logql_stage *s)
{
    switch (s->kind) {
    case LOGQL_STAGE_JSON: return s->n_exprs ? LQ_OP_JSON_EXPR : LQ_OP_JSON;
    case LOGQL_STAGE_LOGFMT: return s->n_exprs ? LQ_OP_LOGFMT_EXPR : LQ_OP_LOGFMT;
    case LOGQL_STAGE_REGEXP: return LQ_OP_REGEXP;
    case LOGQL_STAGE_PATTERN: return LQ_OP_PATTERN;
    case LOGQL_STAGE_UNPACK: return LQ_OP_UNPACK;
    case LOGQL_STAGE_LABEL_FILTER: return LQ_OP_LABEL_FILTER;
    case LOGQL_STAGE_LINE_FORMAT: return LQ_OP_LINE_FORMAT;
    case LOGQL_STAGE_LABEL_FORMAT: return LQ_OP_LABEL_FORMAT;
    case LOGQL_STAGE_DECOLORIZE: return LQ_OP_DECOLORIZE;
    case LOGQL_STAGE_DROP: return LQ_OP_DROP;
    case LOGQL_STAGE_KEEP: return LQ_OP_KEEP;
    case LOGQL_STAGE_LINE_FILTER: break;
    }
    return LQ_OP_FILTER;
}

/* Per-stage preparation of a non-filter stage. */
static int prepare_stage(struct logql_pipeline *p, struct lq_stage *st, char *err, size_t err_size)
{
    const struct logql_stage *s = st->ast;
    switch (st->op) {
    case LQ_OP_JSON_EXPR: return lq_stage_json_expr_prepare(p, st, err, err_size);
    case LQ_OP_REGEXP:
        st->spans = arena_alloc(&p->arena, 2 * (s->re->n_groups + 1) * sizeof *st->spans);
        st->nojit = logql_regex_jit_unsafe(s->source);
        return st->spans ? 0 : ERR_NOMEM;
    case LQ_OP_PATTERN:
        st->caps =
            arena_alloc(&p->arena, (s->pattern ? s->pattern->n_named : 0) * sizeof(struct str) + 1);
        return st->caps ? 0 : ERR_NOMEM;
    case LQ_OP_LINE_FORMAT: lq_stage_line_format_prepare(st); return 0;
    case LQ_OP_DECOLORIZE: return lq_stage_decolorize_prepare(p, st, err, err_size);
    default: return 0;
    }
}

/* ---- Loki's parser hints ---- */

static bool match_all(const struct logql_label_filter *f)
{
    const struct matcher *m = f->matcher;
    return f->kind == LOGQL_LF_STRING && m && m->type == MATCHER_RE &&
           (m->value.len == 0 || str_eq_cstr(m->value, ".*") || str_eq_cstr(m->value, "(.*)"));
}

/* appendLabelHints: the name, and without `_extracted` when it has that suffix. */
static int add_hint_name(struct lq_strs *out, struct str n)
{
    static const struct str suffix = STR_LIT("_extracted");
    if (n.len == 0 || lq_strs_has(out, n))
        goto stripped;
    if (lq_strs_push(out, n))
        return ERR_NOMEM;
stripped:
    if (n.len > suffix.len && memcmp(n.ptr + n.len - suffix.len, suffix.ptr, suffix.len) == 0) {
        struct str b = {n.ptr, n.len - suffix.len};
        if (!lq_strs_has(out, b) && lq_strs_push(out, b))
            return ERR_NOMEM;
    }
    return 0;
}

static int filter_names(const struct logql_label_filter *f, struct lq_strs *out)
{
    if (f->kind == LOGQL_LF_AND || f->kind == LOGQL_LF_OR) {
        int rc = filter_names(f->left, out);
        return rc ? rc : filter_names(f->right, out);
    }
    return match_all(f) ? 0 : add_hint_name(out, f->name);
}

static int tmpl_list_names(const struct logql_tmpl_list *l, struct lq_strs *out);

/* Go's listNodeFieldsFromPipe: field names in commands and parenthesized pipelines. */
static int tmpl_pipe_names(const struct logql_tmpl_pipe *pipe, struct lq_strs *out)
{
    for (size_t c = 0; pipe && c < pipe->n_cmds; c++)
        for (size_t a = 0; a < pipe->cmds[c]->n_args; a++) {
            const struct logql_tmpl_arg *arg = pipe->cmds[c]->args[a];
            int rc = 0;
            if (arg->kind == LOGQL_TA_FIELD)
                for (size_t f = 0; f < arg->n_fields && !rc; f++)
                    rc = add_hint_name(out, arg->fields[f]);
            else if (arg->kind == LOGQL_TA_PIPE && arg->n_fields == 0)
                rc = tmpl_pipe_names(arg->pipe, out);
            if (rc)
                return rc;
        }
    return 0;
}

static int tmpl_list_names(const struct logql_tmpl_list *l, struct lq_strs *out)
{
    for (size_t i = 0; i < l->n; i++) {
        const struct logql_tmpl_node *n = l->nodes[i];
        int rc = 0;
        if (n->kind == LOGQL_TN_ACTION || n->kind == LOGQL_TN_IF || n->kind == LOGQL_TN_WITH ||
            n->kind == LOGQL_TN_RANGE)
            rc = tmpl_pipe_names(n->pipe, out);
        if (!rc && n->kind != LOGQL_TN_ACTION)
            rc = tmpl_list_names(&n->list, out) || tmpl_list_names(&n->else_list, out);
        if (rc)
            return ERR_NOMEM;
    }
    return 0;
}

/* The stages' RequiredLabelNames (label filters, line_format and label_format read labels). */
static int stage_names(const struct logql_pipeline *p, struct lq_strs *out)
{
    int rc = 0;
    for (size_t i = 0; i < p->n_stages && !rc; i++) {
        const struct logql_stage *s = p->stages[i].ast;
        switch (p->stages[i].op) {
        case LQ_OP_LABEL_FILTER: rc = filter_names(s->filter, out); break;
        case LQ_OP_LINE_FORMAT: rc = s->tmpl ? tmpl_list_names(&s->tmpl->root, out) : 0; break;
        case LQ_OP_LABEL_FORMAT:
            for (size_t k = 0; k < s->n_fmts && !rc; k++)
                rc = s->fmts[k].rename ? add_hint_name(out, s->fmts[k].value)
                     : s->fmts[k].tmpl ? tmpl_list_names(&s->fmts[k].tmpl->root, out)
                                       : 0;
            break;
        default: break;
        }
    }
    for (size_t i = 0; p->unwrap && i < p->unwrap->n_post && !rc; i++)
        rc = filter_names(p->unwrap->post[i], out);
    return rc;
}

/* Loki's NewParserHint for the sample extractors (see logql_pipeline_opts). Sets required,
 * skip_parsers and preserve_error; returns whether label-filter hints apply. */
static int metric_hints(struct logql_pipeline *p, bool *filters)
{
    const struct logql_pipeline_opts *o = &p->opts;
    struct lq_strs h = {0};
    int rc = stage_names(p, &h);
    bool without = o->without;
    size_t n_groups = o->n_groups;
    for (size_t i = 0; i < o->n_groups && !rc; i++)
        rc = add_hint_name(&h, o->groups[i]);
    if (p->unwrap && (o->n_groups == 0 || o->without)) {
        without = true; /* the unwrapped label is grouped away */
        n_groups++;
    }
    if (p->unwrap && !rc)
        rc = add_hint_name(&h, p->unwrap->label);
    *filters = true;
    if (!rc && o->no_labels) {
        if (h.n == 0)
            p->skip_parsers = true;
        else
            p->required = h, h = (struct lq_strs){0};
    } else if (!rc && !(without || n_groups == 0)) {
        p->required = h, h = (struct lq_strs){0};
        *filters = false;
    }
    p->preserve_error = lq_strs_has(&p->required, STR_LIT(LQ_ERROR_LABEL));
    free(h.v);
    return rc;
}

bool lq_should_extract(const struct logql_pipeline *p, struct str name)
{
    return p->required.n == 0 || lq_strs_has(&p->required, name);
}

bool lq_should_extract_prefix(const struct logql_pipeline *p, struct str prefix)
{
    for (size_t i = 0; i < p->required.n; i++)
        if (p->required.v[i].len >= prefix.len &&
            memcmp(p->required.v[i].ptr, prefix.ptr, prefix.len) == 0)
            return true;
    return p->required.n == 0;
}

bool lq_all_extracted(const struct logql_pipeline *p)
{
    if (p->required.n == 0 || p->lb.extracted.n < p->required.n)
        return false;
    for (size_t i = 0; i < p->required.n; i++)
        if (!lq_lb_extracted(&p->lb, p->required.v[i]))
            return false;
    return true;
}

void lq_parse_err(struct logql_pipeline *p, const char *err, struct str details)
{
    lq_lb_set_err(&p->lb, err, details);
    if (p->preserve_error)
        lq_lb_set(&p->lb, LOGQL_CAT_PARSED, STR_LIT("__preserve_error__"), STR_LIT("true"));
}

/* Loki's parser hints: single-label filter stages (not and/or) in stage order, and a lone
 * unwrap post-filter. A match-all regex filter is no stage in Loki and gives no hint. */
static int collect_hints(struct logql_pipeline *p)
{
    bool filters = true;
    int rc = p->opts.metric ? metric_hints(p, &filters) : 0;
    if (rc)
        return rc;
    p->skip_parsers |= !p->opts.metric && p->opts.no_labels;
    if (!filters)
        return 0;
    size_t cap = p->n_stages + 1;
    p->hints = arena_alloc(&p->arena, cap * sizeof *p->hints);
    if (!p->hints)
        return ERR_NOMEM;
    for (size_t i = 0; i <= p->n_stages; i++) {
        const struct logql_label_filter *f = NULL;
        if (i < p->n_stages && p->stages[i].op == LQ_OP_LABEL_FILTER)
            f = p->stages[i].ast->filter;
        else if (i == p->n_stages && p->unwrap && p->unwrap->n_post == 1)
            f = p->unwrap->post[0];
        if (!f || f->kind == LOGQL_LF_AND || f->kind == LOGQL_LF_OR || match_all(f))
            continue;
        p->hints[p->n_hints++] = (struct lq_hint){f->name, f};
    }
    return 0;
}

/* Builds the stage list: per line version (epoch), one FILTER stage with all of that epoch's
 * line filters, then the epoch's other stages. */
static int build_stages(struct logql_pipeline *p, const struct order *o, struct lq_shared *sh,
                        bool own_sets, char *err, size_t err_size)
{
    p->stages = arena_alloc(&p->arena, (2 * o->n + 1) * sizeof *p->stages);
    if (!p->stages)
        return ERR_NOMEM;
    memset(p->stages, 0, (2 * o->n + 1) * sizeof *p->stages);
    size_t i = 0, set = 0;
    int rc = 0;
    while (i < o->n && !rc) {
        size_t end = i; /* the epoch: up to and including the next line rewrite */
        while (end < o->n && !rewrites_line(o->v[end]))
            end++;
        bool has_filter = false;
        for (size_t k = i; k < end; k++)
            has_filter |= o->v[k]->kind == LOGQL_STAGE_LINE_FILTER;
        if (has_filter) {
            if (own_sets) {
                struct logql_filter_set *fs = &sh->sets[sh->n_sets++];
                logql_filter_set_init(fs);
                for (size_t k = i; k < end && !rc; k++)
                    if (o->v[k]->kind == LOGQL_STAGE_LINE_FILTER)
                        rc = logql_filter_set_add(fs, &o->v[k]->line);
                if (!rc)
                    rc = logql_filter_set_build(fs, err, err_size);
            }
            if (i == 0)
                p->prefilter_first = true;
            p->stages[p->n_stages++] = (struct lq_stage){.op = LQ_OP_FILTER, .set = set++};
        }
        for (size_t k = i; k <= end && k < o->n && !rc; k++) {
            if (o->v[k]->kind == LOGQL_STAGE_LINE_FILTER)
                continue;
            struct lq_stage *st = &p->stages[p->n_stages++];
            *st = (struct lq_stage){.op = op_of(o->v[k]), .ast = o->v[k]};
            rc = prepare_stage(p, st, err, err_size);
        }
        i = end + 1;
    }
    return rc;
}

static int runtime_init(struct logql_pipeline *p)
{
    p->lb.mem = &p->mem;
    p->flat = malloc(sizeof *p->flat);
    if (!p->flat || lq_tx_create(&p->tx) != 0)
        return ERR_NOMEM;
    for (size_t i = 0; i < p->sh->n_sets; i++)
        if (logql_filter_scratch_prepare(&p->fsc, &p->sh->sets[i]) != 0)
            return ERR_NOMEM;
    p->filters_only = !p->unwrap;
    for (size_t i = 0; i < p->n_stages; i++)
        p->filters_only &= p->stages[i].op == LQ_OP_FILTER;
    return 0;
}

static int compile(const struct logql_selector *sel, const struct logql_unwrap *unwrap,
                   const struct logql_pipeline_opts *opts, struct lq_shared *shared,
                   struct logql_pipeline **out, char *err, size_t err_size)
{
    *out = NULL;
    struct logql_pipeline *p = calloc(1, sizeof *p);
    if (!p)
        return ERR_NOMEM;
    arena_init(&p->arena, 4096);
    p->sel = sel;
    p->unwrap = unwrap;
    if (opts)
        p->opts = *opts;
    struct order o = {0};
    int rc = reorder(sel, &o);
    p->sh = shared;
    if (!rc && !shared) {
        p->sh = calloc(1, sizeof *p->sh);
        if (p->sh)
            p->sh->sets = calloc(sel->n_stages + 1, sizeof *p->sh->sets);
        rc = p->sh && p->sh->sets ? 0 : ERR_NOMEM;
    }
    if (!rc) {
        p->sh->refs++;
        rc = build_stages(p, &o, p->sh, !shared, err, err_size);
    }
    free(o.v);
    if (!rc)
        rc = collect_hints(p);
    if (!rc && !p->opts.no_value_hint)
        rc = lq_needs_derive(p);
    if (!rc)
        rc = runtime_init(p);
    if (rc) {
        logql_pipeline_destroy(p);
        return rc;
    }
    *out = p;
    return 0;
}

int logql_pipeline_compile(const struct logql_selector *sel, const struct logql_unwrap *unwrap,
                           const struct logql_pipeline_opts *opts, struct logql_pipeline **out,
                           char *err, size_t err_size)
{
    if (err_size)
        err[0] = 0;
    return compile(sel, unwrap, opts, NULL, out, err, err_size);
}

int logql_pipeline_compile_expr(const struct logql_expr *e, const struct logql_pipeline_opts *opts,
                                struct logql_pipeline **out, char *err, size_t err_size)
{
    if (e->kind != LOGQL_EXPR_LOG && e->kind != LOGQL_EXPR_RANGE_AGG) {
        snprintf(err, err_size, "expression has no log pipeline");
        return ERR_INVALID;
    }
    return logql_pipeline_compile(&e->sel, e->kind == LOGQL_EXPR_RANGE_AGG ? e->unwrap : NULL, opts,
                                  out, err, err_size);
}

int logql_pipeline_clone(const struct logql_pipeline *p, struct logql_pipeline **out)
{
    char err[256];
    return compile(p->sel, p->unwrap, &p->opts, p->sh, out, err, sizeof err);
}

void logql_pipeline_destroy(struct logql_pipeline *p)
{
    if (!p)
        return;
    if (p->sh && --p->sh->refs <= 0) {
        for (size_t i = 0; i < p->sh->n_sets; i++)
            logql_filter_set_deinit(&p->sh->sets[i]);
        free(p->sh->sets);
        free(p->sh);
    }
    for (size_t i = 0; i < p->n_stages; i++) {
        buf_deinit(&p->stages[i].out);
        logql_regex_free(&p->stages[i].ansi);
    }
    lq_mem_deinit(&p->mem);
    lq_lb_deinit(&p->lb);
    logql_filter_scratch_deinit(&p->fsc);
    free(p->flat);
    buf_deinit(&p->flat_name);
    buf_deinit(&p->flat_value);
    lq_vec_free(&p->pending);
    lq_vec_free(&p->out);
    lq_vec_free(&p->snap);
    free(p->cats);
    lq_tx_destroy(p->tx);
    free(p->required.v);
    logql_regex_md_free(p->md);
    buf_deinit(&p->tmp);
    arena_deinit(&p->arena);
    free(p);
}

/* ---- run ---- */

bool lq_hint_ok(struct logql_pipeline *p, struct str name)
{
    for (size_t i = 0; i < p->n_hints; i++)
        if (str_eq(p->hints[i].name, name))
            return lq_stage_label_filter(p, p->hints[i].f);
    return true;
}

bool lq_parsed_set(struct logql_pipeline *p, struct str name, struct str value)
{
    lq_lb_set(&p->lb, LOGQL_CAT_PARSED, name, value);
    return lq_hint_ok(p, name);
}

static bool run_stage(struct logql_pipeline *p, struct lq_stage *st, struct str *line)
{
#define parse() (!lq_no_labels(p))
    switch (st->op) {
    case LQ_OP_FILTER: return logql_filter_eval(&p->sh->sets[st->set], &p->fsc, *line);
    case LQ_OP_JSON: return !parse() || lq_stage_json(p, st, *line);
    case LQ_OP_JSON_EXPR: return !parse() || lq_stage_json_expr(p, st, *line);
    case LQ_OP_LOGFMT: return !parse() || lq_stage_logfmt(p, st, *line);
    case LQ_OP_LOGFMT_EXPR: return !parse() || lq_stage_logfmt_expr(p, st, *line);
    case LQ_OP_REGEXP: return lq_stage_regexp(p, st, *line); /* Loki's has no NoLabels check */
    case LQ_OP_PATTERN: return !parse() || lq_stage_pattern(p, st, *line);
    case LQ_OP_UNPACK: return !parse() || lq_stage_unpack(p, st, line);
    case LQ_OP_LABEL_FILTER: return lq_stage_label_filter(p, st->ast->filter);
    case LQ_OP_LINE_FORMAT: return lq_stage_line_format(p, st, line);
    case LQ_OP_LABEL_FORMAT: return lq_stage_label_format(p, st, *line);
    case LQ_OP_DECOLORIZE: return lq_stage_decolorize(p, st, line);
    case LQ_OP_DROP: return lq_stage_drop(p, st);
    case LQ_OP_KEEP: return lq_stage_keep(p, st);
    }
#undef parse
    return true;
}

static void sort_labels(struct label *l, uint8_t *cats, size_t n)
{
    for (size_t i = 1; i < n; i++) { /* insertion sort: label sets are small */
        struct label x = l[i];
        uint8_t c = cats[i];
        size_t j = i;
        while (j > 0 && str_cmp(l[j - 1].name, x.name) > 0) {
            l[j] = l[j - 1];
            cats[j] = cats[j - 1];
            j--;
        }
        l[j] = x;
        cats[j] = c;
    }
}

/* The output label set, sorted, with duplicate names removed (the first kept). */
static int build_result(struct logql_pipeline *p, struct str line, struct logql_result *out)
{
    out->line = line;
    if (lq_lb_unchanged(&p->lb)) { /* the stream labels as they came (sorted, unique) */
        if (p->lb.n_base > p->cats_cap) {
            uint8_t *c = realloc(p->cats, p->lb.n_base);
            if (!c)
                return ERR_NOMEM;
            p->cats = c;
            p->cats_cap = p->lb.n_base;
        }
        if (p->lb.n_base)
            memset(p->cats, LOGQL_CAT_STREAM, p->lb.n_base);
        out->labels = p->lb.base;
        out->cats = p->cats;
        out->n_labels = p->lb.n_base;
        return 0;
    }
    if (lq_lb_collect(&p->lb, &p->out, &p->cats, &p->cats_cap) != 0)
        return ERR_NOMEM;
    size_t n = p->out.n;
    sort_labels(p->out.v, p->cats, n);
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        if (w > 0 && str_eq(p->out.v[w - 1].name, p->out.v[i].name))
            continue;
        p->out.v[w] = p->out.v[i];
        p->cats[w++] = p->cats[i];
    }
    p->out.n = w;
    out->labels = p->out.v;
    out->cats = p->cats;
    out->n_labels = w;
    return 0;
}

int logql_pipeline_process(struct logql_pipeline *p, const struct logql_entry *e, unsigned flags,
                           struct logql_result *out)
{
    if (p->n_needs && !lq_needs_pass(p, e))
        return 0; /* the value hint: no label filter below can keep it */
    lq_mem_reset(&p->mem);
    lq_lb_reset(&p->lb, e->stream, e->n_stream);
    if (e->n_meta)
        lq_lb_add(&p->lb, LOGQL_CAT_META, e->meta, e->n_meta);
    p->ts_ns = e->ts_ns;
    struct str line = e->line.ptr ? e->line : (struct str){"", 0};
    size_t first = (flags & LOGQL_PROC_PREFILTERED) && p->prefilter_first ? 1 : 0;
    for (size_t i = first; i < p->n_stages; i++) {
        if (!run_stage(p, &p->stages[i], &line))
            return p->lb.oom ? ERR_NOMEM : 0;
    }
    out->has_value = false;
    out->value = 0;
    if (p->unwrap) {
        if (!lq_unwrap(p, &out->value))
            return p->lb.oom ? ERR_NOMEM : 0;
        out->has_value = true;
    }
    if (p->lb.oom)
        return ERR_NOMEM;
    return build_result(p, line, out) ? ERR_NOMEM : 1;
}

bool logql_pipeline_has_prefilter(const struct logql_pipeline *p)
{
    return p->prefilter_first;
}

bool logql_pipeline_prefilter(struct logql_pipeline *p, struct str line)
{
    if (!p->prefilter_first)
        return true;
    if (!line.ptr)
        line.ptr = "";
    return logql_filter_eval(&p->sh->sets[p->stages[0].set], &p->fsc, line);
}

size_t logql_pipeline_prefilter_block(struct logql_pipeline *p, const struct str *lines, size_t n,
                                      uint64_t *keep)
{
    if (!p->prefilter_first) {
        memset(keep, 0xff, (n + 63) / 64 * sizeof *keep);
        if (n & 63)
            keep[n >> 6] = (1ull << (n & 63)) - 1;
        return n;
    }
    return logql_filter_eval_block(&p->sh->sets[p->stages[0].set], &p->fsc, lines, n, keep);
}

bool logql_pipeline_filters_only(const struct logql_pipeline *p)
{
    return p->filters_only;
}

void logql_pipeline_info(const struct logql_pipeline *p, struct logql_pipeline_info *info)
{
    memset(info, 0, sizeof *info);
    info->n_epochs = p->sh->n_sets;
    info->n_value_hints = p->n_needs;
    for (size_t i = 0; i < p->sh->n_sets; i++) {
        const struct logql_filter_set *s = &p->sh->sets[i];
        info->n_filter_terms += s->n_terms;
        for (size_t k = 0; k < s->n_terms; k++)
            info->n_hs_terms += s->terms[k].hs_id >= 0;
        if (i == 0 && p->prefilter_first) {
            info->n_prefilter_terms = s->n_terms;
            info->prefilter_batched = s->db_block != NULL;
        }
    }
}
