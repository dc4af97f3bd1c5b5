/* Fuzz target: the LogQL parser. The input is a query. When it parses, the canonical text must
 * parse again and print identically (except when it contains NaN/Inf, which LogQL cannot spell),
 * so must its pretty form (format_query), and every compiled object of the AST is exercised on a
 * sample line: regexes, patterns, ip matchers, label matchers, json paths and templates. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/assert.h"
#include "engine/logql/parse.h"
#include "engine/logql/pretty.h"
#include "engine/logql/print.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define SAMPLE "level=error ts=2024-01-01 ip=10.1.2.3 msg=\"GET /api 200\""
static const struct str sample = {SAMPLE, sizeof SAMPLE - 1};

static size_t count_tmpl(const struct logql_tmpl_list *l)
{
    size_t n = 0;
    for (size_t i = 0; i < l->n; i++) {
        const struct logql_tmpl_node *nd = l->nodes[i];
        n += 1 + count_tmpl(&nd->list) + count_tmpl(&nd->else_list);
        if (nd->pipe)
            for (size_t c = 0; c < nd->pipe->n_cmds; c++)
                n += nd->pipe->cmds[c]->n_args;
    }
    return n;
}

static void visit_filter(const struct logql_label_filter *f)
{
    if (f->left)
        visit_filter(f->left);
    if (f->right)
        visit_filter(f->right);
    if (f->matcher)
        (void)matcher_matches(f->matcher, sample);
    if (f->ip)
        (void)logql_ip_matches(f->ip, sample);
}

static void visit_stage(const struct logql_stage *st)
{
    for (size_t i = 0; i < st->line.n_terms; i++) {
        const struct logql_line_term *t = &st->line.terms[i];
        if (t->re)
            (void)logql_regex_match(t->re, sample);
        if (t->pattern)
            (void)logql_pattern_matches(t->pattern, sample);
        if (t->ip)
            (void)logql_ip_matches(t->ip, sample);
    }
    for (size_t i = 0; i < st->n_exprs; i++)
        if (st->exprs[i].path)
            ASSERT(st->exprs[i].path->n_segs > 0);
    if (st->re) {
        size_t spans[16];
        (void)logql_regex_find(st->re, sample, spans, 8);
    }
    if (st->pattern) {
        struct str caps[8];
        ASSERT(logql_pattern_extract(st->pattern, sample, caps, 8) <= st->pattern->n_named);
    }
    if (st->filter)
        visit_filter(st->filter);
    if (st->tmpl)
        (void)count_tmpl(&st->tmpl->root);
    for (size_t i = 0; i < st->n_fmts; i++)
        if (st->fmts[i].tmpl)
            (void)count_tmpl(&st->fmts[i].tmpl->root);
    for (size_t i = 0; i < st->n_names; i++)
        if (st->names[i].matcher)
            (void)matcher_matches(st->names[i].matcher, sample);
}

static void visit(const struct logql_expr *e)
{
    if (!e)
        return;
    for (size_t i = 0; i < e->sel.n_matchers; i++)
        (void)matcher_matches(&e->sel.matchers[i], sample);
    for (size_t i = 0; i < e->sel.n_stages; i++)
        visit_stage(&e->sel.stages[i]);
    if (e->unwrap)
        for (size_t i = 0; i < e->unwrap->n_post; i++)
            visit_filter(e->unwrap->post[i]);
    if (e->regex)
        (void)logql_regex_match(e->regex, sample);
    visit(e->inner);
    visit(e->rhs);
}

/* A binary operation directly under another one: Loki's pretty form drops the inner one's
 * parentheses when it is split, so it may parse back with another precedence (as in Loki). */
static bool split_binops(const struct logql_expr *e)
{
    if (!e)
        return false;
    if (e->kind == LOGQL_EXPR_BINOP && ((e->inner && e->inner->kind == LOGQL_EXPR_BINOP) ||
                                        (e->rhs && e->rhs->kind == LOGQL_EXPR_BINOP)))
        return true;
    return split_binops(e->inner) || split_binops(e->rhs);
}

/* The pretty form parses back to the canonical text t1. */
static void check_pretty(const struct logql_query *q, const struct buf *t1)
{
    struct buf t3 = BUF_INIT, t4 = BUF_INIT;
    struct logql_query *q3 = NULL;
    char err[1024];
    if (logql_pretty(q->root, &t3) != 0)
        abort();
    if (logql_parse((struct str){(char *)t3.data, t3.len}, &q3, err, sizeof err) != 0)
        PANIC("BUG: pretty query does not parse: %.*s: %s", (int)t3.len, (char *)t3.data, err);
    if (logql_print(q3->root, &t4) != 0)
        abort();
    if (!split_binops(q->root) && (t1->len != t4.len || memcmp(t1->data, t4.data, t1->len) != 0))
        PANIC("BUG: pretty query is another query:\n%.*s\n%.*s", (int)t3.len, (char *)t3.data,
              (int)t4.len, (char *)t4.data);
    logql_query_destroy(q3);
    buf_deinit(&t3);
    buf_deinit(&t4);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct logql_query *q = NULL, *q2 = NULL;
    char err[1024];
    if (logql_parse((struct str){(const char *)data, size}, &q, err, sizeof err) != 0)
        return 0;
    visit(q->root);
    struct buf t1 = BUF_INIT, t2 = BUF_INIT;
    if (logql_print(q->root, &t1) != 0)
        abort();
    int rc = logql_parse((struct str){(char *)t1.data, t1.len}, &q2, err, sizeof err);
    bool special = memmem(t1.data, t1.len, "NaN", 3) || memmem(t1.data, t1.len, "Inf", 3);
    if (rc != 0 && !special)
        PANIC("BUG: canonical query does not parse: %.*s: %s", (int)t1.len, (char *)t1.data, err);
    if (rc == 0) {
        if (logql_print(q2->root, &t2) != 0)
            abort();
        if (t1.len != t2.len || memcmp(t1.data, t2.data, t1.len) != 0)
            PANIC("BUG: printing is not stable:\n%.*s\n%.*s", (int)t1.len, (char *)t1.data,
                  (int)t2.len, (char *)t2.data);
        check_pretty(q, &t1);
    }
    logql_query_destroy(q);
    logql_query_destroy(q2);
    buf_deinit(&t1);
    buf_deinit(&t2);
    return 0;
}
