/* label_replace() and label_join(): rewrite each series' labels (Go regexp semantics through
 * engine/logql/regex.h: RE2 syntax check, PCRE2 matching, fully anchored with (?s), Go's
 * Regexp.Expand for $1 / ${name} / $$), then merge series that end up with equal labels. */
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "engine/logql/regex.h"
#include "engine/promql/eval_internal.h"
#include "engine/promql/quote.h"

static bool valid_label_name(struct str s)
{
    return s.len > 0 && promql_utf8_valid(s.ptr, s.len);
}

static bool name_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c >= 0x80;
}

/* Go's regexp extract(): parses $name / ${name} after the '$'. */
static bool expand_name(const char *p, size_t n, size_t *used, struct str *name, long *num)
{
    size_t i = 0;
    bool brace = n > 0 && p[0] == '{';
    if (brace)
        i = 1;
    size_t s = i;
    while (i < n && name_char((unsigned char)p[i]))
        i++;
    if (i == s)
        return false;
    *name = (struct str){p + s, i - s};
    if (brace) {
        if (i >= n || p[i] != '}')
            return false;
        i++;
    }
    *num = 0;
    for (size_t k = 0; k < name->len; k++) {
        char c = name->ptr[k];
        if (c < '0' || c > '9' || *num >= 100000000) {
            *num = -1;
            break;
        }
        *num = *num * 10 + (c - '0');
    }
    if (name->ptr[0] == '0' && name->len > 1)
        *num = -1;
    *used = i;
    return true;
}

static void expand(struct buf *out, struct str tpl, const struct logql_regex *re, struct str src,
                   const size_t *spans, uint32_t ngroups)
{
    size_t i = 0;
    while (i < tpl.len) {
        const char *d = memchr(tpl.ptr + i, '$', tpl.len - i);
        if (!d)
            break;
        size_t at = (size_t)(d - tpl.ptr);
        buf_append(out, tpl.ptr + i, at - i);
        i = at + 1;
        if (i < tpl.len && tpl.ptr[i] == '$') {
            buf_append_u8(out, '$');
            i++;
            continue;
        }
        struct str name;
        long num;
        size_t used;
        if (!expand_name(tpl.ptr + i, tpl.len - i, &used, &name, &num)) {
            buf_append_u8(out, '$');
            continue;
        }
        i += used;
        long g = -1;
        if (num >= 0) {
            g = num;
        } else {
            for (uint32_t k = 1; k <= ngroups && g < 0; k++)
                if (str_eq(re->names[k - 1], name) && spans[2 * k] != SIZE_MAX)
                    g = k;
        }
        if (g >= 0 && (uint32_t)g <= ngroups && spans[2 * g] != SIZE_MAX)
            buf_append(out, src.ptr + spans[2 * g], spans[2 * g + 1] - spans[2 * g]);
    }
    buf_append(out, tpl.ptr + i, tpl.len - i);
}

static void regex_free(void *p)
{
    logql_regex_free(p);
}

static void compile(struct pq_query *q, struct str src, struct logql_regex *re)
{
    struct buf b = BUF_INIT;
    if (buf_append_str(&b, "(?s:") || buf_append(&b, src.ptr, src.len) || buf_append_u8(&b, ')'))
        pq_nomem(q);
    char err[256];
    int rc = logql_regex_compile(&q->arena, (struct str){(const char *)b.data, b.len},
                                 LOGQL_RE_ANCHORED, re, err, sizeof err);
    buf_deinit(&b);
    if (rc == ERR_NOMEM)
        pq_nomem(q);
    if (rc)
        pq_fail(q, ERR_INVALID, "invalid regular expression in label_replace(): %.*s", (int)src.len,
                src.ptr);
    pq_defer(q, regex_free, re);
}

static const struct promql_lset *replace_one(struct pq_query *q, const struct promql_lset *ls,
                                             const struct logql_regex *re, struct str dst,
                                             struct str repl, struct str srcl, bool *changed)
{
    struct str v = promql_lset_get(ls, srcl);
    size_t spans[2 * 64];
    uint32_t ng = re->n_groups < 63 ? re->n_groups : 63;
    *changed = false;
    if (!logql_regex_find(re, v, spans, ng + 1))
        return ls;
    struct buf out = BUF_INIT;
    expand(&out, repl, re, v, spans, ng);
    struct str val = pq_strdup(q, out.data ? (const char *)out.data : "", out.len);
    buf_deinit(&out);
    struct pq_lb b = {0};
    pq_lb_reset(q, &b, ls);
    pq_lb_set(q, &b, dst, val);
    const struct promql_lset *r = pq_lb_make(q, &b);
    pq_lb_free(q, &b);
    *changed = true;
    return r;
}

static const struct promql_lset *join_one(struct pq_query *q, const struct promql_lset *ls,
                                          const struct promql_node *n)
{
    struct str dst = pq_unparen(n->call.args[1])->string, sep = pq_unparen(n->call.args[2])->string;
    dst = pq_strdup(q, dst.ptr, dst.len);
    struct buf out = BUF_INIT;
    for (uint32_t i = 3; i < n->call.nargs; i++) {
        if (i > 3)
            buf_append(&out, sep.ptr, sep.len);
        struct str v = promql_lset_get(ls, pq_unparen(n->call.args[i])->string);
        buf_append(&out, v.ptr, v.len);
    }
    struct str val = pq_strdup(q, out.data ? (const char *)out.data : "", out.len);
    buf_deinit(&out);
    struct pq_lb b = {0};
    pq_lb_reset(q, &b, ls);
    pq_lb_set(q, &b, dst, val);
    const struct promql_lset *r = pq_lb_make(q, &b);
    pq_lb_free(q, &b);
    return r;
}

void pq_eval_label_fn(struct pq_ev *ev, const struct promql_node *n, struct pq_vec *out)
{
    struct pq_query *q = ev->q;
    bool replace = n->call.func->id == PROMQL_FN_LABEL_REPLACE;
    struct str dst = pq_unparen(n->call.args[1])->string;
    dst = pq_strdup(q, dst.ptr, dst.len);
    struct logql_regex *re = pq_arena(q, sizeof *re);
    memset(re, 0, sizeof *re);
    if (replace) {
        compile(q, pq_unparen(n->call.args[4])->string, re);
        if (!valid_label_name(dst)) {
            pq_fail(q, ERR_INVALID, "invalid destination label name in label_replace(): %.*s",
                    (int)dst.len, dst.ptr);
        }
    } else {
        for (uint32_t i = 3; i < n->call.nargs; i++) {
            struct str s = pq_unparen(n->call.args[i])->string;
            if (!valid_label_name(s))
                pq_fail(q, ERR_INVALID, "invalid source label name in label_join(): %.*s",
                        (int)s.len, s.ptr);
        }
        if (!valid_label_name(dst))
            pq_fail(q, ERR_INVALID, "invalid destination label name in label_join(): %.*s",
                    (int)dst.len, dst.ptr);
    }
    pq_eval_vector(ev, pq_unparen(n->call.args[0]), out);
    bool dst_name = str_eq(dst, PQ_NAME);
    for (uint32_t si = 0; si < out->n; si++) {
        struct pq_series *s = &out->s[si];
        bool changed = true;
        if (replace)
            s->ls = replace_one(q, s->ls, re, dst, pq_unparen(n->call.args[2])->string,
                                pq_unparen(n->call.args[3])->string, &changed);
        else
            s->ls = join_one(q, s->ls, n);
        if (changed && dst_name)
            s->drop_name = false;
    }
    if (replace)
        pq_undefer(q, re);
    pq_merge_same_labels(ev, out);
}
