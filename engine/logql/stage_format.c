/* The line-rewriting and label-formatting stages (fmt.go): `line_format` (a `{{.name}}` template
 * is a plain lookup; an execution error keeps the line and sets TemplateFormatErr),
 * `label_format` (renames move a label; templates all read the label map as it was before the
 * stage; an error skips that label), and `decolorize` (removes ANSI escape sequences). */
#include <string.h>

#include "base/error.h"
#include "engine/logql/exec_int.h"
#include "engine/logql/exec_tmpl.h"

void lq_stage_line_format_prepare(struct lq_stage *st)
{
    const struct logql_tmpl *t = st->ast->tmpl;
    if (!t || t->root.n != 1 || t->root.nodes[0]->kind != LOGQL_TN_ACTION)
        return;
    const struct logql_tmpl_pipe *pipe = t->root.nodes[0]->pipe;
    if (!pipe || pipe->n_decl || pipe->n_cmds != 1 || pipe->cmds[0]->n_args != 1)
        return;
    const struct logql_tmpl_arg *a = pipe->cmds[0]->args[0];
    if (a->kind == LOGQL_TA_FIELD && a->n_fields == 1) {
        st->simple = true;
        st->simple_key = a->fields[0];
    }
}

/* Runs a template over the current labels into out; false (and the error set) on failure. */
static bool run_template(struct logql_pipeline *p, const struct logql_tmpl *t, const char *name,
                         const struct lq_vec *labels, struct str line, struct buf *out)
{
    struct str msg;
    buf_reset(out);
    int rc = lq_tx_exec(p->tx, t, name, labels->v, labels->n, line, p->ts_ns, &p->mem, out, &msg);
    if (rc == 0)
        return true;
    if (rc == ERR_NOMEM)
        p->lb.oom = true;
    p->lb.err = STR_LIT(LQ_ERR_TEMPLATE);
    p->lb.err_details = lq_mem_dup(&p->mem, msg.ptr, msg.len, &p->lb.oom);
    return false;
}

bool lq_stage_line_format(struct logql_pipeline *p, struct lq_stage *st, struct str *line)
{
    if (st->simple) {
        struct str v = {"", 0};
        (void)lq_lb_get(&p->lb, st->simple_key, &v, NULL);
        *line = v;
        return true;
    }
    if (lq_lb_collect(&p->lb, &p->snap, NULL, NULL) != 0) {
        p->lb.oom = true;
        return true;
    }
    if (run_template(p, st->ast->tmpl, "line", &p->snap, *line, &st->out))
        *line = (struct str){st->out.data ? (const char *)st->out.data : "", st->out.len};
    return true;
}

bool lq_stage_label_format(struct logql_pipeline *p, struct lq_stage *st, struct str line)
{
    const struct logql_stage *ast = st->ast;
    p->snap.n = 0;
    for (size_t i = 0; i < ast->n_fmts; i++) {
        const struct logql_label_fmt *f = &ast->fmts[i];
        if (f->rename) {
            struct str v;
            if (lq_lb_get(&p->lb, f->value, &v, NULL)) {
                lq_lb_set(&p->lb, LOGQL_CAT_PARSED, f->dst, v);
                lq_lb_del(&p->lb, f->value);
            }
            continue;
        }
        /* Loki fills the map once, at the first template (again while it stays empty) */
        if (p->snap.n == 0 && lq_lb_collect(&p->lb, &p->snap, NULL, NULL) != 0) {
            p->lb.oom = true;
            return true;
        }
        if (!f->tmpl || !run_template(p, f->tmpl, "label", &p->snap, line, &st->out))
            continue;
        struct str v = lq_mem_dup(&p->mem, st->out.data, st->out.len, &p->lb.oom);
        lq_lb_set(&p->lb, LOGQL_CAT_PARSED, f->dst, v);
    }
    return true;
}

/* github.com/acarl005/stripansi's pattern, as Loki compiles it */
#define ANSI_PATTERN                                                                               \
    "[\\x{1b}\\x{9b}][[\\]()#;?]*(?:(?:(?:[a-zA-Z\\d]*(?:;[a-zA-Z\\d]*)*)?\\x{07})|"               \
    "(?:(?:\\d{1,4}(?:;\\d{0,4})*)?[\\dA-PRZcf-ntqry=><~]))"

int lq_stage_decolorize_prepare(struct logql_pipeline *p, struct lq_stage *st, char *err,
                                size_t err_size)
{
    return logql_regex_compile(&p->arena, STR_LIT(ANSI_PATTERN), 0, &st->ansi, err, err_size);
}

bool lq_stage_decolorize(struct logql_pipeline *p, struct lq_stage *st, struct str *line)
{
    struct str rest = *line;
    size_t span[2];
    if (!logql_regex_find(&st->ansi, rest, span, 1))
        return true;
    buf_reset(&st->out);
    do {
        if (buf_append(&st->out, rest.ptr, span[0])) {
            p->lb.oom = true;
            return true;
        }
        size_t end = span[1] > span[0] ? span[1] : span[0] + 1; /* never empty; be safe */
        if (end > rest.len)
            end = rest.len;
        rest = (struct str){rest.ptr + end, rest.len - end};
    } while (rest.len && logql_regex_find(&st->ansi, rest, span, 1));
    if (buf_append(&st->out, rest.ptr, rest.len)) {
        p->lb.oom = true;
        return true;
    }
    *line = (struct str){st->out.data ? (const char *)st->out.data : "", st->out.len};
    return true;
}
