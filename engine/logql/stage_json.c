/* The `json` parser stage (every leaf flattened, or `json a="b.c[0]"` expressions) and `unpack`
 * (Promtail's packed entries), with Loki's rules (parser.go): a name that clashes with a stream
 * or metadata label gets `_extracted`, a name an earlier parser set in this entry is skipped,
 * arrays and nulls are not extracted by `| json`, expressions return the raw JSON of objects and
 * arrays and "" for what is missing, and malformed JSON keeps the entry with
 * __error__=JSONParserErr. Reads the line with formats/jsonr (no allocation once warm). */
#include <string.h>

#include "base/error.h"
#include "engine/logql/exec_int.h"
#include "formats/wire/utf8.h"

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

/* unicode.IsSpace */
static bool is_uspace(uint32_t c)
{
    return (c >= 9 && c <= 13) || c == ' ' || c == 0x85 || c == 0xa0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 || c == 0x202f ||
           c == 0x205f || c == 0x3000;
}

/* Loki's appendSanitized: the key trimmed of spaces, every rune outside [A-Za-z0-9_] as '_', a
 * '_' before a leading digit when the name is empty, the '_' spacer otherwise. */
static int append_part(struct buf *name, struct str key)
{
    const uint8_t *p = (const uint8_t *)key.ptr, *end = p + key.len, *first = NULL, *last = NULL;
    while (p < end) {
        uint32_t cp = 0xfffd;
        size_t l = *p < 0x80 ? (cp = *p, 1) : wire_utf8_decode(p, (size_t)(end - p), &cp);
        l = l ? l : 1;
        if (!is_uspace(cp)) {
            first = first ? first : p;
            last = p + l;
        }
        p += l;
    }
    if (!first)
        return 0;
    int rc = 0;
    if (name->len || (*first >= '0' && *first <= '9'))
        rc = buf_append_u8(name, '_');
    for (p = first; !rc && p < last;) {
        uint8_t c = *p;
        bool keep =
            (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
        rc = buf_append_u8(name, keep ? c : '_');
        uint32_t cp;
        size_t l = c < 0x80 ? 1 : wire_utf8_decode(p, (size_t)(last - p), &cp);
        p += l ? l : 1;
    }
    return rc;
}

/* The label name of leaf `key` under the current prefix (p->flat_name[0..prefix)), with the
 * `_extracted` suffix on a clash. Sets *skip for a top-level key that sanitizes to nothing. */
static struct str leaf_name(struct logql_pipeline *p, size_t prefix, struct str key, bool top,
                            bool *skip)
{
    struct buf *nb = &p->flat_name;
    nb->len = prefix;
    *skip = false;
    if (append_part(nb, key) != 0) {
        p->lb.oom = true;
        return (struct str){"", 0};
    }
    struct str name = {(const char *)nb->data, nb->len};
    if (top && name.len == 0) {
        *skip = true;
        return name;
    }
    if (!lq_lb_base_has(&p->lb, name) && !lq_lb_has_in(&p->lb, name, LOGQL_CAT_META))
        return lq_mem_dup(&p->mem, name.ptr, name.len, &p->lb.oom);
    /* Loki appends the suffix to the key part and sanitizes again */
    struct str k2 = lq_mem_cat(&p->mem, key, STR_LIT("_extracted"), &p->lb.oom);
    nb->len = prefix;
    if (append_part(nb, k2) != 0)
        p->lb.oom = true;
    return lq_mem_dup(&p->mem, nb->data, nb->len, &p->lb.oom);
}

/* A leaf value as Loki's readValue gives it: strings decoded with invalid UTF-8 and U+FFFD as
 * spaces, numbers as written, booleans as true/false. */
static struct str leaf_value(struct logql_pipeline *p, struct jsonr *r, int t)
{
    struct str v = jsonr_text(r);
    if (t == JSONR_TRUE)
        return STR_LIT("true");
    if (t == JSONR_FALSE)
        return STR_LIT("false");
    if (t != JSONR_STRING)
        return v;
    unsigned f = jsonr_flags(r);
    if (!(f & (JSONR_STR_ESCAPED | JSONR_STR_BADUTF8)) &&
        (!(f & JSONR_STR_NONASCII) || !memchr(v.ptr, 0xef, v.len)))
        return v;
    return lq_fix_utf8(&p->mem, lq_json_string(p, v, f), &p->lb.oom);
}

static bool json_error(struct logql_pipeline *p, const struct jsonr *r, int rc)
{
    if (rc == ERR_NOMEM)
        p->lb.oom = true;
    lq_parse_err(p, LQ_ERR_JSON,
                 rc == ERR_CORRUPT && jsonr_err(r) == 0 ? STR_LIT("Malformed object")
                                                        : json_err_details(p, r));
    return true;
}

bool lq_stage_json(struct logql_pipeline *p, struct lq_stage *st, struct str line)
{
    (void)st;
    struct lq_jflat *f = p->flat;
    struct jsonr *r = &f->r;
    jsonr_init(r, line.ptr ? line.ptr : "", line.len, JSONR_OPT_TRAILING);
    int t = jsonr_next(r);
    if (t != JSONR_OBJ_BEGIN)
        return json_error(p, r, t < 0 ? t : ERR_CORRUPT);
    size_t depth = 0, prefix = 0;
    for (;;) {
        t = jsonr_next(r);
        if (t == JSONR_OBJ_END) {
            if (depth == 0)
                return true;
            prefix = f->stack[--depth];
            continue;
        }
        if (t != JSONR_KEY)
            return json_error(p, r, t < 0 ? t : ERR_CORRUPT);
        struct str key = lq_json_string(p, jsonr_text(r), jsonr_flags(r));
        if ((t = jsonr_next(r)) < 0)
            return json_error(p, r, t);
        if (t == JSONR_OBJ_BEGIN) {
            p->flat_name.len = prefix;
            if (append_part(&p->flat_name, key) != 0)
                p->lb.oom = true;
            struct str pre = {(const char *)p->flat_name.data, p->flat_name.len};
            if (!lq_should_extract_prefix(p, pre)) { /* no required label below */
                if ((t = jsonr_skip(r, NULL)) < 0)
                    return json_error(p, r, t);
                continue;
            }
            f->stack[depth++] = (uint32_t)prefix;
            prefix = p->flat_name.len;
            continue;
        }
        if (t == JSONR_ARR_BEGIN) {
            if ((t = jsonr_skip(r, NULL)) < 0)
                return json_error(p, r, t);
            continue;
        }
        if (t == JSONR_NULL)
            continue;
        bool skip;
        struct str name = leaf_name(p, prefix, key, depth == 0, &skip);
        if (!skip && lq_should_extract(p, name) && !lq_lb_extracted(&p->lb, name)) {
            struct str v = leaf_value(p, r, t);
            if (t == JSONR_STRING || t == JSONR_NUMBER)
                v = keep_str(p, line, v);
            if (!lq_parsed_set(p, name, v))
                return false;
        }
        if (lq_all_extracted(p))
            return true; /* Loki stops once every required label is there */
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
        lq_parse_err(p, LQ_ERR_JSON, (struct str){"", 0});
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
            lq_parse_err(p, LQ_ERR_JSON, json_err_details(p, &r));
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
        if (!lq_should_extract(p, key) || lq_lb_extracted(&p->lb, key))
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
        lq_parse_err(p, LQ_ERR_JSON, STR_LIT("expecting json object(6), but it is not"));
        return true;
    }
    p->pending.n = 0;
    struct str entry = *line;
    bool packed = false;
    int rc = unpack_read(p, *line, &entry, &packed);
    if (rc == ERR_NOMEM)
        p->lb.oom = true;
    if (rc) {
        lq_parse_err(p, LQ_ERR_JSON, STR_LIT("malformed JSON object"));
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
