/* Go text/template execution for line_format / label_format (see exec_tmpl.h): walking the tree,
 * pipelines, commands, fields, variables, control structures and argument typing as Go's
 * text/template/exec.go does. Functions are in tmpl_exec_fn.c, printing in tmpl_exec_fmt.c. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "engine/logql/exec_tmpl.h"
#include "engine/logql/filter.h"
#include "engine/logql/regex.h"
#include "formats/jsonr.h"

#define TX_MAX_DEPTH  100       /* nested {{template}} calls */
#define TX_MAX_OUTPUT (8 << 20) /* bytes one execution may write */
#define TX_MAX_STEPS  1000000   /* nodes one execution may visit */
#define TX_RE_CACHE   16        /* regexes of template functions kept compiled */

struct tx_var {
    struct str name;
    struct lq_tv v;
};

struct tx_re {
    char *src;
    size_t len;
    bool nojit;
    struct arena arena;
    struct logql_regex re;
};

struct lq_tx {
    struct tx_var *vars;
    size_t n_vars, cap_vars;
    struct buf scratch, scratch2;
    struct tx_re re[TX_RE_CACHE];
    size_t n_re, next_re;
    void *md; /* PCRE2 match data */
    char msg[512];
};

struct lq_tctx {
    struct lq_tx *tx;
    const struct logql_tmpl *t;
    const char *name;
    const struct label *labels;
    size_t n_labels;
    struct str line;
    int64_t ts;
    struct lq_mem *mem;
    struct buf *out;
    int depth;
    int loop; /* 1: {{break}}, 2: {{continue}} pending */
    size_t steps;
};

int lq_tx_create(struct lq_tx **out)
{
    *out = calloc(1, sizeof **out);
    return *out ? 0 : ERR_NOMEM;
}

static void re_free(struct tx_re *e)
{
    free(e->src);
    e->src = NULL;
    logql_regex_free(&e->re);
    arena_deinit(&e->arena);
}

void lq_tx_destroy(struct lq_tx *tx)
{
    if (!tx)
        return;
    for (size_t i = 0; i < tx->n_re; i++)
        re_free(&tx->re[i]);
    logql_regex_md_free(tx->md);
    free(tx->vars);
    buf_deinit(&tx->scratch);
    buf_deinit(&tx->scratch2);
    free(tx);
}

int lq_tx_fail(struct lq_tctx *c, const char *fmt, ...)
{
    int n = snprintf(c->tx->msg, sizeof c->tx->msg, "template: %s: executing \"%s\": ", c->name,
                     c->name);
    va_list ap;
    va_start(ap, fmt);
    if (n > 0 && (size_t)n < sizeof c->tx->msg)
        vsnprintf(c->tx->msg + n, sizeof c->tx->msg - (size_t)n, fmt, ap);
    va_end(ap);
    return ERR_INVALID;
}

struct lq_mem *lq_tx_mem(struct lq_tctx *c)
{
    return c->mem;
}

struct str lq_tx_line(struct lq_tctx *c)
{
    return c->line;
}

int64_t lq_tx_ts(struct lq_tctx *c)
{
    return c->ts;
}

struct buf *lq_tx_buf(struct lq_tctx *c)
{
    buf_reset(&c->tx->scratch);
    return &c->tx->scratch;
}

struct buf *lq_tx_buf2(struct lq_tctx *c)
{
    buf_reset(&c->tx->scratch2);
    return &c->tx->scratch2;
}

int lq_tx_str(struct lq_tctx *c, const void *p, size_t n, struct lq_tv *out)
{
    bool oom = false;
    *out = (struct lq_tv){.k = LQ_TV_STR};
    out->s = lq_mem_dup(c->mem, p, n, &oom);
    return oom ? ERR_NOMEM : 0;
}

/* ---- regexes of template functions ---- */

const struct logql_regex *lq_tx_regex(struct lq_tctx *c, struct str src)
{
    struct lq_tx *tx = c->tx;
    for (size_t i = 0; i < tx->n_re; i++)
        if (tx->re[i].src && tx->re[i].len == src.len &&
            memcmp(tx->re[i].src, src.ptr, src.len) == 0)
            return &tx->re[i].re;
    struct tx_re *e;
    if (tx->n_re < TX_RE_CACHE) {
        e = &tx->re[tx->n_re++];
    } else {
        e = &tx->re[tx->next_re++ % TX_RE_CACHE];
        re_free(e);
    }
    memset(e, 0, sizeof *e);
    arena_init(&e->arena, 1024);
    char err[256] = "out of memory";
    char *copy = malloc(src.len + 1);
    if (!copy || logql_regex_compile(&e->arena, src, 0, &e->re, err, sizeof err) != 0) {
        free(copy);
        re_free(e);
        memset(e, 0, sizeof *e); /* src == NULL: an empty slot */
        lq_tx_fail(c, "%s", err);
        return NULL;
    }
    if (src.len)
        memcpy(copy, src.ptr, src.len);
    e->src = copy;
    e->len = src.len;
    e->nojit = logql_regex_jit_unsafe(src);
    return &e->re;
}

bool lq_tx_regex_at(struct lq_tctx *c, const struct logql_regex *re, struct str s, size_t from,
                    size_t *a, size_t *b, size_t *groups, size_t n_groups)
{
    struct lq_tx *tx = c->tx;
    bool nojit = false;
    for (size_t i = 0; i < tx->n_re; i++)
        if (&tx->re[i].re == re)
            nojit = tx->re[i].nojit;
    size_t whole[2], *g = n_groups ? groups : whole;
    if (!logql_regex_exec(re, s, from, nojit, &tx->md, g, n_groups ? n_groups : 1))
        return false;
    *a = g[0];
    *b = g[1];
    return true;
}

/* ---- variables ---- */

static int var_push(struct lq_tctx *c, struct str name, struct lq_tv v)
{
    struct lq_tx *tx = c->tx;
    if (tx->n_vars == tx->cap_vars) {
        size_t nc = tx->cap_vars ? 2 * tx->cap_vars : 16;
        struct tx_var *p = realloc(tx->vars, nc * sizeof *p);
        if (!p)
            return ERR_NOMEM;
        tx->vars = p;
        tx->cap_vars = nc;
    }
    tx->vars[tx->n_vars++] = (struct tx_var){name, v};
    return 0;
}

static struct tx_var *var_find(struct lq_tctx *c, struct str name)
{
    for (size_t i = c->tx->n_vars; i-- > 0;)
        if (str_eq(c->tx->vars[i].name, name))
            return &c->tx->vars[i];
    return NULL;
}

/* ---- values ---- */

static struct lq_tv tv_nil(void)
{
    return (struct lq_tv){.k = LQ_TV_NIL};
}

static struct lq_tv tv_str(struct str s)
{
    return (struct lq_tv){.k = LQ_TV_STR, .s = s};
}

/* A number literal as Go's idealConstant gives it (for an interface{} destination). */
static int ideal_constant(struct lq_tctx *c, const struct logql_tmpl_number *n, struct lq_tv *v)
{
    if (n->is_complex)
        return lq_tx_fail(c, "complex constants are not supported");
    bool float_text =
        memchr(n->text.ptr, '.', n->text.len) || memchr(n->text.ptr, 'e', n->text.len) ||
        memchr(n->text.ptr, 'E', n->text.len) || memchr(n->text.ptr, 'p', n->text.len) ||
        memchr(n->text.ptr, 'P', n->text.len);
    bool hex = n->text.len > 1 && n->text.ptr[0] == '0' && (n->text.ptr[1] | 0x20) == 'x';
    bool rune = n->text.len && n->text.ptr[0] == '\'';
    if (n->is_float && !rune &&
        (!hex || memchr(n->text.ptr, 'p', n->text.len) || memchr(n->text.ptr, 'P', n->text.len)) &&
        float_text) {
        *v = (struct lq_tv){.k = LQ_TV_FLOAT, .f = n->f};
        return 0;
    }
    if (n->is_int) {
        *v = (struct lq_tv){.k = LQ_TV_INT, .it = LQ_INT, .i = n->i};
        return 0;
    }
    return lq_tx_fail(c, "%.*s overflows int", (int)n->text.len, n->text.ptr);
}

/* The label map lookup (map[string]string, missing = ""). */
static struct lq_tv map_get(struct lq_tctx *c, struct str key)
{
    for (size_t i = c->n_labels; i-- > 0;)
        if (str_eq(c->labels[i].name, key))
            return tv_str(c->labels[i].value);
    return tv_str((struct str){"", 0});
}

/* A JSON value (from fromJson) at reader token t as a template value. */
static int json_value(struct lq_tctx *c, struct jsonr *r, int t, struct lq_tv *v)
{
    struct str raw;
    switch (t) {
    case JSONR_OBJ_BEGIN:
    case JSONR_ARR_BEGIN:
        if (jsonr_skip(r, &raw) != 0)
            return lq_tx_fail(c, "invalid JSON");
        *v = (struct lq_tv){.k = LQ_TV_JSON, .s = raw};
        return 0;
    case JSONR_STRING: {
        struct buf *b = lq_tx_buf(c);
        if (jsonr_unescape_buf(jsonr_text(r), b) != 0)
            return ERR_NOMEM;
        return lq_tx_str(c, b->data, b->len, v);
    }
    case JSONR_NUMBER: {
        double d = 0;
        (void)jsonr_double(jsonr_text(r), &d);
        *v = (struct lq_tv){.k = LQ_TV_FLOAT, .f = d};
        return 0;
    }
    case JSONR_TRUE:
    case JSONR_FALSE: *v = (struct lq_tv){.k = LQ_TV_BOOL, .b = t == JSONR_TRUE}; return 0;
    default: *v = tv_nil(); return 0;
    }
}

/* Field `name` of a JSON object value (missing: nil). */
static int json_field(struct lq_tctx *c, struct str obj, struct str name, struct lq_tv *v)
{
    struct jsonr r;
    jsonr_init(&r, obj.ptr, obj.len, 0);
    struct jsonr_path_seg seg = {.key = name};
    int t = jsonr_find_path(&r, &seg, 1);
    if (t < 0) {
        *v = tv_nil();
        return 0;
    }
    return json_value(c, &r, t, v);
}

static bool json_is_object(const struct lq_tv *v)
{
    return v->k == LQ_TV_JSON && v->s.len && v->s.ptr[0] == '{';
}

/* Go's evalField: `.name` on receiver, with args/final only allowed for methods (none here). */
static int eval_field(struct lq_tctx *c, struct lq_tv recv, struct str name, bool has_args,
                      struct lq_tv *out)
{
    if (recv.k == LQ_TV_MAP || json_is_object(&recv)) {
        if (has_args)
            return lq_tx_fail(c, "%.*s is not a method but has arguments", (int)name.len, name.ptr);
        if (recv.k == LQ_TV_MAP) {
            *out = map_get(c, name);
            return 0;
        }
        return json_field(c, recv.s, name, out);
    }
    if (recv.k == LQ_TV_NIL)
        return lq_tx_fail(c, "nil pointer evaluating interface {}.%.*s", (int)name.len, name.ptr);
    return lq_tx_fail(c, "can't evaluate field %.*s in type %s", (int)name.len, name.ptr,
                      lq_tv_type(&recv));
}

static int eval_fields(struct lq_tctx *c, struct lq_tv recv, const struct str *fields, size_t n,
                       bool has_args, struct lq_tv *out)
{
    *out = recv;
    for (size_t i = 0; i < n; i++) {
        int rc = eval_field(c, *out, fields[i], i + 1 == n && has_args, out);
        if (rc)
            return rc;
    }
    return 0;
}

/* ---- evaluation ---- */

static int eval_pipe(struct lq_tctx *c, const struct logql_tmpl_pipe *pipe, struct lq_tv dot,
                     struct lq_tv *out);
static int walk_list(struct lq_tctx *c, const struct logql_tmpl_list *l, struct lq_tv dot);

/* An argument evaluated without a known parameter type (a field chain base, a builtin arg). */
static int eval_any(struct lq_tctx *c, const struct logql_tmpl_arg *a, struct lq_tv dot,
                    struct lq_tv *out);

static int call_func(struct lq_tctx *c, struct str name, struct logql_tmpl_arg *const *args,
                     size_t n_args, const struct lq_tv *final, struct lq_tv dot, struct lq_tv *out);

static int var_value(struct lq_tctx *c, struct str name, struct lq_tv *out)
{
    struct tx_var *v = var_find(c, name);
    if (!v)
        return lq_tx_fail(c, "undefined variable: %.*s", (int)name.len, name.ptr);
    *out = v->v;
    return 0;
}

static int eval_any(struct lq_tctx *c, const struct logql_tmpl_arg *a, struct lq_tv dot,
                    struct lq_tv *out)
{
    int rc = 0;
    struct lq_tv base;
    switch (a->kind) {
    case LOGQL_TA_DOT: *out = dot; return 0;
    case LOGQL_TA_NIL: *out = tv_nil(); return 0;
    case LOGQL_TA_BOOL: *out = (struct lq_tv){.k = LQ_TV_BOOL, .b = a->b}; return 0;
    case LOGQL_TA_NUMBER: return ideal_constant(c, &a->num, out);
    case LOGQL_TA_STRING: *out = tv_str(a->s); return 0;
    case LOGQL_TA_FIELD: return eval_fields(c, dot, a->fields, a->n_fields, false, out);
    case LOGQL_TA_VAR:
        if ((rc = var_value(c, a->name, &base)))
            return rc;
        return eval_fields(c, base, a->fields, a->n_fields, false, out);
    case LOGQL_TA_FUNC:
        if ((rc = call_func(c, a->name, NULL, 0, NULL, dot, &base)))
            return rc;
        return eval_fields(c, base, a->fields, a->n_fields, false, out);
    case LOGQL_TA_PIPE:
        if ((rc = eval_pipe(c, a->pipe, dot, &base)))
            return rc;
        return eval_fields(c, base, a->fields, a->n_fields, false, out);
    }
    return lq_tx_fail(c, "can't handle argument");
}

static bool is_int_kind(const struct lq_tv *v, enum lq_int_type it)
{
    return v->k == LQ_TV_INT && v->it == it;
}

/* Go's validateType: may a value of this type be passed as parameter type pt? */
static int check_type(struct lq_tctx *c, const struct lq_tv *v, enum lq_pt pt)
{
    bool ok = pt == LQ_PT_ANY || (pt == LQ_PT_STR && v->k == LQ_TV_STR) ||
              (pt == LQ_PT_INT && is_int_kind(v, LQ_INT)) ||
              (pt == LQ_PT_FLOAT && v->k == LQ_TV_FLOAT) ||
              (pt == LQ_PT_TIME && v->k == LQ_TV_TIME);
    if (ok)
        return 0;
    static const char *const names[] = {"string", "int", "float64", "time.Time", "interface {}"};
    if (v->k == LQ_TV_NIL)
        return lq_tx_fail(c, "invalid value; expected %s", names[pt]);
    return lq_tx_fail(c, "wrong type for value; expected %s; got %s", names[pt], lq_tv_type(v));
}

/* Go's evalArg: a literal adapts to the parameter type, anything else must already match. */
static int eval_arg(struct lq_tctx *c, const struct logql_tmpl_arg *a, enum lq_pt pt,
                    struct lq_tv dot, struct lq_tv *out)
{
    if (a->kind == LOGQL_TA_NUMBER && pt != LQ_PT_ANY) {
        if (pt == LQ_PT_INT && a->num.is_int) {
            *out = (struct lq_tv){.k = LQ_TV_INT, .it = LQ_INT, .i = a->num.i};
            return 0;
        }
        if (pt == LQ_PT_FLOAT && a->num.is_float) {
            *out = (struct lq_tv){.k = LQ_TV_FLOAT, .f = a->num.f};
            return 0;
        }
        return lq_tx_fail(c, "expected %s; found %.*s", pt == LQ_PT_INT ? "integer" : "float",
                          (int)a->num.text.len, a->num.text.ptr);
    }
    if (a->kind == LOGQL_TA_NIL && pt != LQ_PT_ANY)
        return lq_tx_fail(c, "cannot assign nil to %s", pt == LQ_PT_STR ? "string" : "value");
    int rc = eval_any(c, a, dot, out);
    return rc ? rc : check_type(c, out, pt);
}

/* `and` / `or`: lazy, returning the deciding argument. */
static int call_andor(struct lq_tctx *c, bool is_and, struct logql_tmpl_arg *const *args, size_t n,
                      const struct lq_tv *final, struct lq_tv dot, struct lq_tv *out)
{
    size_t total = n + (final != NULL);
    if (total == 0)
        return lq_tx_fail(c, "wrong number of args for %s: want at least 1 got 0",
                          is_and ? "and" : "or");
    for (size_t i = 0; i < total; i++) {
        int rc = i < n ? eval_any(c, args[i], dot, out) : 0;
        if (rc)
            return rc;
        if (i == n)
            *out = *final;
        if (lq_tv_truth(out) != is_and)
            return 0;
    }
    return 0;
}

static int call_func(struct lq_tctx *c, struct str name, struct logql_tmpl_arg *const *args,
                     size_t n_args, const struct lq_tv *final, struct lq_tv dot, struct lq_tv *out)
{
    if (str_eq_cstr(name, "and") || str_eq_cstr(name, "or"))
        return call_andor(c, name.ptr[0] == 'a', args, n_args, final, dot, out);
    const struct lq_fn *fn = lq_fn_find(name);
    if (!fn)
        return lq_tx_fail(c, "function \"%.*s\" not defined", (int)name.len, name.ptr);
    size_t n_in = n_args + (final != NULL);
    if (fn->variadic < 0 ? n_in != fn->n_params : n_in < fn->n_params)
        return lq_tx_fail(c, "wrong number of args for %s: want %s%u got %zu", fn->name,
                          fn->variadic < 0 ? "" : "at least ", fn->n_params, n_in);
    struct lq_tv argv[16];
    if (n_in > sizeof argv / sizeof argv[0])
        return lq_tx_fail(c, "too many arguments for %s", fn->name);
    for (size_t i = 0; i < n_in; i++) {
        enum lq_pt pt = i < fn->n_params ? fn->params[i] : (enum lq_pt)fn->variadic;
        int rc = i < n_args ? eval_arg(c, args[i], pt, dot, &argv[i]) : check_type(c, final, pt);
        if (rc)
            return rc;
        if (i == n_args)
            argv[i] = *final;
    }
    *out = tv_nil();
    return fn->impl(c, argv, n_in, out);
}

/* Go's notAFunction. */
static int not_a_function(struct lq_tctx *c, const struct logql_tmpl_cmd *cmd,
                          const struct lq_tv *final)
{
    if (cmd->n_args > 1 || final)
        return lq_tx_fail(c, "can't give argument to non-function");
    return 0;
}

static int eval_cmd(struct lq_tctx *c, const struct logql_tmpl_cmd *cmd, struct lq_tv dot,
                    const struct lq_tv *final, struct lq_tv *out)
{
    const struct logql_tmpl_arg *a = cmd->args[0];
    bool has_args = cmd->n_args > 1 || final;
    struct lq_tv base;
    int rc;
    switch (a->kind) {
    case LOGQL_TA_FIELD: return eval_fields(c, dot, a->fields, a->n_fields, has_args, out);
    case LOGQL_TA_FUNC:
        if (a->n_fields == 0)
            return call_func(c, a->name, cmd->args + 1, cmd->n_args - 1, final, dot, out);
        if ((rc = call_func(c, a->name, NULL, 0, NULL, dot, &base)))
            return rc;
        return eval_fields(c, base, a->fields, a->n_fields, has_args, out);
    case LOGQL_TA_VAR:
    case LOGQL_TA_PIPE:
        if (a->n_fields == 0 && (rc = not_a_function(c, cmd, final)))
            return rc;
        if ((rc = a->kind == LOGQL_TA_VAR ? var_value(c, a->name, &base)
                                          : eval_pipe(c, a->pipe, dot, &base)))
            return rc;
        return eval_fields(c, base, a->fields, a->n_fields, has_args, out);
    case LOGQL_TA_NIL: return lq_tx_fail(c, "nil is not a command");
    default:
        if ((rc = not_a_function(c, cmd, final)))
            return rc;
        return eval_any(c, a, dot, out);
    }
}

static int eval_pipe(struct lq_tctx *c, const struct logql_tmpl_pipe *pipe, struct lq_tv dot,
                     struct lq_tv *out)
{
    *out = tv_nil();
    if (!pipe)
        return 0;
    for (size_t i = 0; i < pipe->n_cmds; i++) {
        struct lq_tv prev = *out;
        int rc = eval_cmd(c, pipe->cmds[i], dot, i ? &prev : NULL, out);
        if (rc)
            return rc;
    }
    for (size_t i = 0; i < pipe->n_decl; i++) {
        if (pipe->is_assign) {
            struct tx_var *v = var_find(c, pipe->decl[i]);
            if (!v)
                return lq_tx_fail(c, "undefined variable: %.*s", (int)pipe->decl[i].len,
                                  pipe->decl[i].ptr);
            v->v = *out;
        } else {
            int rc = var_push(c, pipe->decl[i], *out);
            if (rc)
                return rc;
        }
    }
    return 0;
}

/* ---- control structures ---- */

static int emit(struct lq_tctx *c, const void *p, size_t n)
{
    if (c->out->len + n > TX_MAX_OUTPUT)
        return lq_tx_fail(c, "output larger than %d bytes", TX_MAX_OUTPUT);
    return buf_append(c->out, p, n);
}

/* The label map as Go prints a map[string]string: map[a:1 b:2], keys sorted (last value of a
 * repeated name wins, as in the map). */
static int print_map(struct lq_tctx *c, struct buf *b)
{
    int rc = buf_append_str(b, "map[");
    struct str prev = {NULL, 0};
    for (size_t k = 0; k < c->n_labels && !rc; k++) {
        const struct label *best = NULL; /* the smallest name above prev */
        for (size_t i = 0; i < c->n_labels; i++) {
            const struct label *l = &c->labels[i];
            if (prev.ptr && str_cmp(l->name, prev) <= 0)
                continue; /* printed already */
            if (!best || str_cmp(l->name, best->name) <= 0)
                best = l; /* the smallest; a later duplicate replaces an earlier one */
        }
        if (!best)
            break;
        if (k)
            rc = buf_append_u8(b, ' ');
        if (!rc)
            rc = buf_append(b, best->name.ptr, best->name.len) || buf_append_u8(b, ':') ||
                 buf_append(b, best->value.ptr, best->value.len);
        prev = best->name;
    }
    return rc ? rc : buf_append_u8(b, ']');
}

static int emit_value(struct lq_tctx *c, const struct lq_tv *v)
{
    size_t before = c->out->len;
    int rc = v->k == LQ_TV_MAP ? print_map(c, c->out) : lq_tv_print(c->out, v, false);
    if (!rc && c->out->len > TX_MAX_OUTPUT) {
        c->out->len = before;
        return lq_tx_fail(c, "output larger than %d bytes", TX_MAX_OUTPUT);
    }
    return rc;
}

/* One iteration of range: sets the declared variables, runs the body. */
static int range_body(struct lq_tctx *c, const struct logql_tmpl_node *n, struct lq_tv key,
                      struct lq_tv elem)
{
    size_t mark = c->tx->n_vars;
    const struct logql_tmpl_pipe *pp = n->pipe;
    int rc = 0;
    if (pp->n_decl >= 1)
        rc = var_push(c, pp->decl[pp->n_decl == 2 ? 1 : 0], elem);
    if (!rc && pp->n_decl == 2)
        rc = var_push(c, pp->decl[0], key);
    if (!rc)
        rc = walk_list(c, &n->list, elem);
    c->tx->n_vars = mark;
    if (c->loop == 2)
        c->loop = 0;
    return rc;
}

static int range_json(struct lq_tctx *c, const struct logql_tmpl_node *n, struct str raw,
                      size_t *count)
{
    struct jsonr r;
    jsonr_init(&r, raw.ptr, raw.len, 0);
    bool obj = jsonr_next(&r) == JSONR_OBJ_BEGIN;
    for (int64_t idx = 0;; idx++) {
        int t = jsonr_next(&r);
        if (t <= 0 || t == JSONR_OBJ_END || t == JSONR_ARR_END)
            return t < 0 ? lq_tx_fail(c, "invalid JSON") : 0;
        struct lq_tv key = {.k = LQ_TV_INT, .it = LQ_INT, .i = idx}, elem;
        int rc;
        if (obj) {
            if ((rc = lq_tx_str(c, jsonr_text(&r).ptr, jsonr_text(&r).len, &key)))
                return rc;
            t = jsonr_next(&r);
        }
        if ((rc = json_value(c, &r, t, &elem)) || (rc = range_body(c, n, key, elem)))
            return rc;
        (*count)++;
        if (c->loop == 1) {
            c->loop = 0;
            return 0;
        }
    }
}

static int walk_range(struct lq_tctx *c, const struct logql_tmpl_node *n, struct lq_tv dot)
{
    struct lq_tv v;
    size_t mark = c->tx->n_vars;
    int rc = eval_pipe(c, n->pipe, dot, &v);
    c->tx->n_vars = mark; /* the declared names are bound per iteration */
    if (rc)
        return rc;
    size_t count = 0;
    if (v.k == LQ_TV_JSON)
        rc = range_json(c, n, v.s, &count);
    else if (v.k == LQ_TV_MAP)
        return lq_tx_fail(c, "range over the label map is not supported");
    else if (v.k != LQ_TV_NIL)
        return lq_tx_fail(c, "range can't iterate over %s", lq_tv_type(&v));
    if (!rc && count == 0 && n->has_else)
        rc = walk_list(c, &n->else_list, dot);
    return rc;
}

static int walk_template(struct lq_tctx *c, const struct logql_tmpl_node *n, struct lq_tv dot)
{
    const struct logql_tmpl_def *def = NULL;
    for (size_t i = 0; i < c->t->n_defs; i++)
        if (str_eq(c->t->defs[i].name, n->name))
            def = &c->t->defs[i];
    if (!def)
        return lq_tx_fail(c, "no such template \"%.*s\"", (int)n->name.len, n->name.ptr);
    if (c->depth >= TX_MAX_DEPTH)
        return lq_tx_fail(c, "exceeded maximum template depth (%d)", TX_MAX_DEPTH);
    struct lq_tv v = tv_nil();
    size_t mark = c->tx->n_vars;
    int rc = n->pipe ? eval_pipe(c, n->pipe, dot, &v) : 0;
    c->tx->n_vars = mark;
    if (!rc)
        rc = var_push(c, STR_LIT("$"), v);
    c->depth++;
    if (!rc)
        rc = walk_list(c, &def->body, v);
    c->depth--;
    c->tx->n_vars = mark;
    return rc;
}

static int walk(struct lq_tctx *c, const struct logql_tmpl_node *n, struct lq_tv dot)
{
    if (++c->steps > TX_MAX_STEPS)
        return lq_tx_fail(c, "template too expensive");
    struct lq_tv v;
    size_t mark = c->tx->n_vars;
    int rc = 0;
    switch (n->kind) {
    case LOGQL_TN_TEXT: return emit(c, n->text.ptr, n->text.len);
    case LOGQL_TN_ACTION:
        if ((rc = eval_pipe(c, n->pipe, dot, &v)))
            return rc;
        return n->pipe->n_decl ? 0 : emit_value(c, &v);
    case LOGQL_TN_IF:
    case LOGQL_TN_WITH:
        if (!(rc = eval_pipe(c, n->pipe, dot, &v))) {
            if (lq_tv_truth(&v))
                rc = walk_list(c, &n->list, n->kind == LOGQL_TN_WITH ? v : dot);
            else if (n->has_else)
                rc = walk_list(c, &n->else_list, dot);
        }
        c->tx->n_vars = mark;
        return rc;
    case LOGQL_TN_RANGE: rc = walk_range(c, n, dot); break;
    case LOGQL_TN_TEMPLATE: rc = walk_template(c, n, dot); break;
    case LOGQL_TN_BREAK: c->loop = 1; break;
    case LOGQL_TN_CONTINUE: c->loop = 2; break;
    }
    c->tx->n_vars = mark;
    return rc;
}

static int walk_list(struct lq_tctx *c, const struct logql_tmpl_list *l, struct lq_tv dot)
{
    size_t mark = c->tx->n_vars;
    int rc = 0;
    for (size_t i = 0; i < l->n && !rc && !c->loop; i++)
        rc = walk(c, l->nodes[i], dot);
    c->tx->n_vars = mark;
    return rc;
}

int lq_tx_exec(struct lq_tx *tx, const struct logql_tmpl *t, const char *name,
               const struct label *labels, size_t n_labels, struct str line, int64_t ts_ns,
               struct lq_mem *mem, struct buf *out, struct str *msg)
{
    struct lq_tctx c = {.tx = tx,
                        .t = t,
                        .name = name,
                        .labels = labels,
                        .n_labels = n_labels,
                        .line = line,
                        .ts = ts_ns,
                        .mem = mem,
                        .out = out};
    tx->n_vars = 0;
    tx->msg[0] = 0;
    struct lq_tv dot = {.k = LQ_TV_MAP};
    int rc = var_push(&c, STR_LIT("$"), dot);
    if (!rc)
        rc = walk_list(&c, &t->root, dot);
    *msg = str_from_cstr(tx->msg);
    return rc > 0 ? ERR_NOMEM : rc; /* helpers chained with || report 1 */
}
