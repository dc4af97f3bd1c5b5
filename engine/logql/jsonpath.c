/* JSON extraction path parser for `| json a="x.y[0]"` (see jsonpath.h). */
#include "engine/logql/jsonpath.h"

#include <stdio.h>
#include <string.h>

#include "base/error.h"

enum jp_tok { JP_EOF, JP_DOT, JP_LSB, JP_RSB, JP_FIELD, JP_STRING, JP_INDEX, JP_ERR };

struct jp_lex {
    const char *s;
    size_t n, i;
    struct str text;
    int64_t index;
    char *err;
    size_t err_size;
};

static bool field_start(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static enum jp_tok jp_error(struct jp_lex *l, const char *msg, char c)
{
    if (c)
        snprintf(l->err, l->err_size, "%s%c", msg, c);
    else
        snprintf(l->err, l->err_size, "%s", msg);
    return JP_ERR;
}

static enum jp_tok scan_index(struct jp_lex *l)
{
    size_t d0 = l->i;
    for (;;) {
        char c = l->i < l->n ? l->s[l->i] : 0;
        if (c == '.' && l->i > d0)
            return jp_error(l, "cannot use float as array index", 0);
        if (c == ' ' || c == '\t' || c == '\n' || c == '.' || c == ']')
            break;
        if (!is_digit(c))
            return jp_error(l, "non-integer value: ", c ? c : '?');
        l->i++;
    }
    int64_t v = 0;
    for (size_t k = d0; k < l->i; k++) {
        if (v > (INT64_MAX - 9) / 10)
            return jp_error(l, "index out of range", 0);
        v = v * 10 + (l->s[k] - '0');
    }
    l->index = v;
    return JP_INDEX;
}

static enum jp_tok jp_next(struct jp_lex *l)
{
    for (;;) {
        char c = l->i < l->n ? l->s[l->i] : 0;
        if (c == 0)
            return JP_EOF;
        if (c == ' ' || c == '\t' || c == '\n') {
            l->i++;
            continue;
        }
        if (is_digit(c))
            return scan_index(l);
        l->i++;
        switch (c) {
        case '[': return JP_LSB;
        case ']': return JP_RSB;
        case '.': return JP_DOT;
        case '"': {
            size_t k0 = l->i;
            while (l->i < l->n && l->s[l->i] && l->s[l->i] != '"' && l->s[l->i] != ']')
                l->i++;
            l->text = (struct str){l->s + k0, l->i - k0};
            if (l->i < l->n && l->s[l->i])
                l->i++; /* the closing quote or bracket */
            return JP_STRING;
        }
        }
        if (field_start(c)) {
            size_t k0 = l->i - 1;
            while (l->i < l->n && (field_start(l->s[l->i]) || is_digit(l->s[l->i])))
                l->i++;
            l->text = (struct str){l->s + k0, l->i - k0};
            return JP_FIELD;
        }
        return jp_error(l, "unexpected char ", c);
    }
}

static const char *jp_name(enum jp_tok t)
{
    static const char *const names[] = {"$end",  "DOT",    "LSB",   "RSB",
                                        "FIELD", "STRING", "INDEX", "?"};
    return names[t];
}

static int syntax_error(struct jp_lex *l, enum jp_tok t)
{
    if (t == JP_ERR)
        return ERR_INVALID;
    snprintf(l->err, l->err_size, "syntax error: unexpected %s", jp_name(t));
    return ERR_INVALID;
}

static int add_seg(struct arena *a, struct logql_json_path *p, size_t *cap, struct logql_json_seg s)
{
    if (p->n_segs == *cap) {
        size_t nc = *cap ? *cap * 2 : 4;
        struct logql_json_seg *ns = arena_alloc(a, nc * sizeof *ns);
        if (!ns)
            return ERR_NOMEM;
        if (p->n_segs)
            memcpy(ns, p->segs, p->n_segs * sizeof *ns);
        p->segs = ns;
        *cap = nc;
    }
    if (!s.is_index && s.key.len) {
        char *d = arena_dup(a, s.key.ptr, s.key.len, 0);
        if (!d)
            return ERR_NOMEM;
        s.key.ptr = d;
    }
    p->segs[p->n_segs++] = s;
    return 0;
}

/* After `[`: STRING `]` or INDEX `]`. */
static int parse_bracket(struct arena *a, struct jp_lex *l, struct logql_json_path *p, size_t *cap)
{
    enum jp_tok t = jp_next(l);
    struct logql_json_seg s = {0};
    if (t == JP_STRING)
        s.key = l->text;
    else if (t == JP_INDEX)
        s = (struct logql_json_seg){true, l->index, {"", 0}};
    else
        return syntax_error(l, t);
    if ((t = jp_next(l)) != JP_RSB)
        return syntax_error(l, t);
    return add_seg(a, p, cap, s);
}

int logql_json_path_parse(struct arena *a, struct str expr, struct logql_json_path **out, char *err,
                          size_t err_size)
{
    struct jp_lex l = {expr.ptr ? expr.ptr : "", expr.len, 0, {0}, 0, err, err_size};
    struct logql_json_path *p = arena_alloc(a, sizeof *p);
    if (!p)
        return ERR_NOMEM;
    memset(p, 0, sizeof *p);
    size_t cap = 0;
    enum jp_tok t = jp_next(&l);
    int rc;
    if (t == JP_FIELD)
        rc = add_seg(a, p, &cap, (struct logql_json_seg){false, 0, l.text});
    else if (t == JP_LSB)
        rc = parse_bracket(a, &l, p, &cap);
    else
        rc = syntax_error(&l, t);
    while (rc == 0) {
        t = jp_next(&l);
        if (t == JP_EOF)
            break;
        if (t == JP_LSB) {
            rc = parse_bracket(a, &l, p, &cap);
        } else if (t == JP_DOT) {
            t = jp_next(&l);
            rc = t == JP_FIELD ? add_seg(a, p, &cap, (struct logql_json_seg){false, 0, l.text})
                               : syntax_error(&l, t);
        } else {
            rc = syntax_error(&l, t);
        }
    }
    if (rc)
        return rc;
    *out = p;
    return 0;
}
