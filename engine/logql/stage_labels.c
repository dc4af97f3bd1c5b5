/* The `drop` and `keep` stages (drop_labels.go, keep_labels.go): bare names and `name="value"`
 * matchers over the current label set, stream labels included; `drop __error__` clears the error
 * (a matcher on it compares the error text); `keep` never removes the error labels. */
#include "engine/logql/exec_int.h"

static void drop_matcher(struct lq_lb *lb, const struct matcher *m)
{
    if (str_eq_cstr(m->name, LQ_ERROR_LABEL)) {
        if (matcher_matches(m, lb->err))
            lb->err = (struct str){"", 0};
        return;
    }
    if (str_eq_cstr(m->name, LQ_DETAILS_LABEL)) {
        if (matcher_matches(m, lb->err_details))
            lb->err_details = (struct str){"", 0};
        return;
    }
    struct str v = {"", 0};
    (void)lq_lb_get(lb, m->name, &v, NULL);
    if (matcher_matches(m, v))
        lq_lb_del(lb, m->name);
}

bool lq_stage_drop(struct logql_pipeline *p, struct lq_stage *st)
{
    struct lq_lb *lb = &p->lb;
    const struct logql_stage *ast = st->ast;
    for (size_t i = 0; i < ast->n_names; i++) {
        const struct logql_named_matcher *nm = &ast->names[i];
        if (nm->matcher) {
            drop_matcher(lb, nm->matcher);
            continue;
        }
        struct str v;
        if (str_eq_cstr(nm->name, LQ_ERROR_LABEL))
            lb->err = (struct str){"", 0};
        else if (str_eq_cstr(nm->name, LQ_DETAILS_LABEL))
            lb->err_details = (struct str){"", 0};
        else if (lq_lb_get(lb, nm->name, &v, NULL))
            lq_lb_del(lb, nm->name);
    }
    return true;
}

static bool is_special(struct str name)
{
    return str_eq_cstr(name, LQ_ERROR_LABEL) || str_eq_cstr(name, LQ_DETAILS_LABEL) ||
           str_eq_cstr(name, "__preserve_error__");
}

static bool kept(const struct logql_stage *ast, struct label l)
{
    for (size_t i = 0; i < ast->n_names; i++) {
        const struct logql_named_matcher *nm = &ast->names[i];
        if (nm->matcher ? str_eq(nm->matcher->name, l.name) && matcher_matches(nm->matcher, l.value)
                        : str_eq(nm->name, l.name))
            return true;
    }
    return false;
}

bool lq_stage_keep(struct logql_pipeline *p, struct lq_stage *st)
{
    const struct logql_stage *ast = st->ast;
    if (ast->n_names == 0)
        return true;
    if (lq_lb_collect(&p->lb, &p->snap, NULL, NULL) != 0) {
        p->lb.oom = true;
        return true;
    }
    for (size_t i = 0; i < p->snap.n; i++) {
        struct label l = p->snap.v[i];
        if (!is_special(l.name) && !kept(ast, l))
            lq_lb_del(&p->lb, l.name);
    }
    return true;
}
