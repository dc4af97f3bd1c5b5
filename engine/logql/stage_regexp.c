/* The `regexp` parser stage (named captures of the first match become labels; a group that did
 * not take part gives "") and the `pattern` parser stage (captures in order, stopping where the
 * line ends), with Loki's `_extracted` and already-extracted rules. */
#include "engine/logql/exec_int.h"
#include "engine/logql/filter.h"

bool lq_stage_regexp(struct logql_pipeline *p, struct lq_stage *st, struct str line)
{
    const struct logql_regex *re = st->ast->re;
    size_t pairs = re->n_groups + 1;
    if (!logql_regex_exec(re, line, 0, st->nojit, &p->md, st->spans, pairs))
        return true;
    for (uint32_t g = 1; g < pairs; g++) {
        struct str name = re->names ? re->names[g - 1] : (struct str){"", 0};
        if (name.len == 0)
            continue;
        struct str key = lq_sanitize_key(&p->mem, name, &p->lb.oom);
        if (key.len == 0)
            continue;
        key = lq_lb_dedup_name(&p->lb, key);
        if (!lq_should_extract(p, key) || lq_lb_extracted(&p->lb, key))
            continue;
        size_t a = st->spans[2 * g], b = st->spans[2 * g + 1];
        struct str v = a == SIZE_MAX ? (struct str){"", 0} : (struct str){line.ptr + a, b - a};
        if (!lq_parsed_set(p, key, v))
            return false;
    }
    return true;
}

bool lq_stage_pattern(struct logql_pipeline *p, struct lq_stage *st, struct str line)
{
    const struct logql_pattern *pat = st->ast->pattern;
    if (!pat || line.len == 0)
        return true;
    size_t n = logql_pattern_extract(pat, line, st->caps, pat->n_named);
    size_t k = 0;
    for (size_t i = 0; i < pat->n_nodes && k < n; i++) {
        const struct logql_pattern_node *nd = &pat->nodes[i];
        if (!nd->capture || str_eq_cstr(nd->text, "_"))
            continue;
        struct str key = lq_lb_dedup_name(&p->lb, nd->text);
        struct str v = st->caps[k++];
        if (lq_lb_extracted(&p->lb, key) || !lq_should_extract(p, key))
            continue;
        if (!lq_parsed_set(p, key, v))
            return false;
    }
    return true;
}
