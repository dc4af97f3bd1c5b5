/* The `json` parser stage (every leaf flattened, or `json a="b.c[0]"` expressions) and `unpack`
 * (Promtail's packed entries), with Loki's rules (parser.go): a name that clashes with a stream
 * or metadata label gets `_extracted`, a name an earlier parser set in this entry is skipped,
 * arrays and nulls are not extracted by `| json`, expressions return the raw JSON of objects and
 * arrays and "" for what is missing, and malformed JSON keeps the entry with
 * __error__=JSONParserErr. Reads the line with formats/jsonr (no allocation once warm). */
#include <string.h>

#include "base/error.h"
#include "engine/logql/exec_int.h"

static bool in_line(struct str line, struct str s)
{
    return s.ptr >= line.ptr && s.ptr + s.len <= line.ptr + line.len;
}

static struct str keep_str(struct logql_pipeline *p, struct str line, struct str s)
{
    return in_line(line, s) ? s : lq_mem_dup(&p->mem, s.ptr, s.len, &p->lb.oom);
}

struct str lq_json_string(struct logql_pipeline *p, struct str raw, unsigned flags)
{
    if (!(flags & (JSONR_STR_ESCAPED | JSONR_STR_BADUTF8)))
        return raw;
    size_t cap = jsonr_unescape_max(raw, flags), n = 0;
    char *d = lq_mem_alloc(&p->mem, cap ? cap : 1);
    if (!d) {
        p->lb.oom = true;
        return (struct str){"", 0};
    }
    if (jsonr_unescape(raw, d, cap, &n) != 0)
        return (struct str){"", 0};
    return (struct str){d, n};
}

static struct str json_err_details(struct logql_pipeline *p, const struct jsonr *r)
{
    char msg[160];
    jsonr_err_msg(r, msg, sizeof msg);
    return lq_mem_dup(&p->mem, msg, strlen(msg), &p->lb.oom);
}

bool lq_stage_json(struct logql_pipeline *p, struct lq_stage *st, struct str line)
{
    (void)st;
    struct jsonr_flat *f = p->flat;
    jsonr_flat_init(f, line.ptr ? line.ptr : "", line.len, JSONR_OPT_TRAILING, &p->flat_name,
                    &p->flat_value);
    for (;;) {
        struct str name, value;
        int t = jsonr_flat_next(f, &name, &value);
        if (t == JSONR_END)
            return true;
        if (t < 0) {
            if (t == ERR_NOMEM)
                p->lb.oom = true;
            lq_lb_set_err(&p->lb, LQ_ERR_JSON, json_err_details(p, &f->r));
            return true;
        }
        struct str key = lq_lb_dedup_name(&p->lb, name);
        if (lq_lb_extracted(&p->lb, key))
            continue;
        if (key.ptr == name.ptr)
            key = lq_mem_dup(&p->mem, name.ptr, name.len, &p->lb.oom);
        if (!lq_parsed_set(p, key, keep_str(p, line, value)))
            return false;
    }
}

/* ---- json with expressions ---- */

int lq_stage_json_expr_prepare(struct logql_pipeline *p, struct lq_stage *st, char *err,
                               size_t err_size)
{
    (void)err;
    (void)err_size;
    const struct logql_stage *ast = st->ast;
    st->jexprs = arena_alloc(&p->arena, ast->n_exprs * sizeof *st->jexprs + 1);
    if (!st->jexprs)
        return ERR_NOMEM;
    for (size_t i = 0; i < ast->n_exprs; i++) {
        const struct logql_extract *x = &ast->exprs[i];
        struct lq_json_expr *je = &st->jexprs[i];
        je->name = x->name;
        size_t n = x->path ? x->path->n_segs : 0;
        je->segs = arena_alloc(&p->arena, n * sizeof *je->segs + 1);
        if (!je->segs)
            return ERR_NOMEM;
        for (size_t k = 0; k < n; k++) {
            const struct logql_json_seg *s = &x->path->segs[k];
            je->segs[k] = (struct jsonr_path_seg){s->is_index, s->index, s->key};
        }
        je->n_segs = n;
    }
    return 0;
}

/* The value at the reader's current token, as Loki's JSON expression parser stores it. */
static struct str expr_value(struct logql_pipeline *p, struct jsonr *r, int t, struct str line)
{
    struct str raw;
    switch (t) {
    case JSONR_STRING:
        return lq_fix_utf8(&p->mem, lq_json_string(p, jsonr_text(r), jsonr_flags(r)), &p->lb.oom);
    case JSONR_NULL: return (struct str){"", 0};
    case JSONR_OBJ_BEGIN:
        if (jsonr_skip(r, &raw) != 0)
            return (struct str){"", 0};
        return raw;
    case JSONR_ARR_BEGIN: {
        if (jsonr_skip(r, &raw) != 0)
            return (struct str){"", 0};
        if (!memchr(raw.ptr, '\\', raw.len))
            return raw;
        /* Loki runs its string unescaper over the array's text */
        size_t cap = 3 * raw.len + 1, n;
        char *d = lq_mem_alloc(&p->mem, cap);
        if (d && jsonr_unescape(raw, d, cap, &n) == 0)
            return (struct str){d, n};
        return raw;
    }
    default: (void)line; return jsonr_text(r);
    }
}

bool lq_stage_json_expr(struct logql_pipeline *p, struct lq_stage *st, struct str line)
{
    const struct logql_stage *ast = st->ast;
    if (line.len == 0)
        return true;
    char c0 = line.ptr[0];
    if (c0 != '"' && c0 != '{' && c0 != '[') {
        p->lb.err = STR_LIT(LQ_ERR_JSON);
        return true;
    }
    bool missing = false;
    for (size_t i = 0; i < ast->n_exprs; i++) {
        const struct lq_json_expr *je = &st->jexprs[i];
        struct jsonr r;
        jsonr_init(&r, line.ptr, line.len, JSONR_OPT_TRAILING);
        int t = jsonr_find_path(&r, je->segs, je->n_segs);
        if (t == ERR_NOT_FOUND || t == ERR_TRUNCATED || t == 0) {
            missing = true;
            continue;
        }
        if (t < 0) {
            lq_lb_set_err(&p->lb, LQ_ERR_JSON, json_err_details(p, &r));
            missing = true;
            continue;
        }
        struct str v = expr_value(p, &r, t, line);
        lq_lb_set(&p->lb, LOGQL_CAT_PARSED, lq_lb_dedup_name(&p->lb, je->name), v);
    }
    if (missing) {
        struct str v;
        for (size_t i = 0; i < ast->n_exprs; i++)
            if (!lq_lb_get(&p->lb, st->jexprs[i].name, &v, NULL))
                lq_lb_set(&p->lb, LOGQL_CAT_PARSED, st->jexprs[i].name, (struct str){"", 0});
    }
    return true;
}

/* ---- unpack ---- */

/* Reads the top-level object: string fields into p->pending, `_entry` into *entry. */
static int unpack_read(struct logql_pipeline *p, struct str line, struct str *entry, bool *packed)
{
    struct jsonr r;
    jsonr_init(&r, line.ptr, line.len, JSONR_OPT_TRAILING);
    int t = jsonr_next(&r);
    if (t != JSONR_OBJ_BEGIN)
        return t < 0 ? t : ERR_CORRUPT;
    for (;;) {
        t = jsonr_next(&r);
        if (t == JSONR_OBJ_END)
            return 0;
        if (t != JSONR_KEY)
            return t < 0 ? t : ERR_CORRUPT;
        struct str key = lq_json_string(p, jsonr_text(&r), jsonr_flags(&r));
        if ((t = jsonr_next(&r)) < 0)
            return t;
        if (t != JSONR_STRING) {
            if ((t == JSONR_OBJ_BEGIN || t == JSONR_ARR_BEGIN) && (t = jsonr_skip(&r, NULL)) < 0)
                return t;
            continue;
        }
        struct str val = lq_json_string(p, jsonr_text(&r), jsonr_flags(&r));
        if (str_eq_cstr(key, "_entry")) {
            *entry = val;
            *packed = true;
            continue;
        }
        key = lq_lb_dedup_name(&p->lb, key);
        if (lq_lb_extracted(&p->lb, key))
            continue;
        struct str name = lq_sanitize_key(&p->mem, key, &p->lb.oom);
        if (lq_vec_push(&p->pending, name, lq_fix_utf8(&p->mem, val, &p->lb.oom)))
            return ERR_NOMEM;
    }
}

bool lq_stage_unpack(struct logql_pipeline *p, struct lq_stage *st, struct str *line)
{
    (void)st;
    if (line->len == 0)
        return true;
    if (line->ptr[0] != '{') {
        lq_lb_set_err(&p->lb, LQ_ERR_JSON, STR_LIT("expecting json object(6), but it is not"));
        return true;
    }
    p->pending.n = 0;
    struct str entry = *line;
    bool packed = false;
    int rc = unpack_read(p, *line, &entry, &packed);
    if (rc == ERR_NOMEM)
        p->lb.oom = true;
    if (rc) {
        lq_lb_set_err(&p->lb, LQ_ERR_JSON, STR_LIT("malformed JSON object"));
        return true;
    }
    if (!packed)
        return true;
    for (size_t i = 0; i < p->pending.n; i++)
        if (!lq_parsed_set(p, p->pending.v[i].name, p->pending.v[i].value))
            return false;
    *line = entry;
    return true;
}
