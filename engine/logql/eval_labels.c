/* LogQL evaluator helpers: interned label sets (one copy per distinct set), label set ordering
 * (Prometheus labels.Compare), Go's labels.String() text, errors and cancellation polling. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/hash.h"
#include "engine/logql/eval_internal.h"
#include "engine/logql/units.h"

static bool lset_eq(const struct ev_lset *s, const struct label *l, size_t n)
{
    if (s->n != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!str_eq(s->l[i].name, l[i].name) || !str_eq(s->l[i].value, l[i].value))
            return false;
    return true;
}

static int tab_grow(struct ev_ctx *c)
{
    size_t cap = c->tab_cap ? c->tab_cap * 2 : 64;
    struct ev_lset **t = calloc(cap, sizeof *t);
    if (!t)
        return ERR_NOMEM;
    for (size_t i = 0; i < c->tab_cap; i++) {
        struct ev_lset *s = c->tab[i];
        if (!s)
            continue;
        size_t k = s->hash & (cap - 1);
        while (t[k])
            k = (k + 1) & (cap - 1);
        t[k] = s;
    }
    free(c->tab);
    c->tab = t;
    c->tab_cap = cap;
    return 0;
}

static bool err_label(const struct label *l, size_t n)
{
    bool err = false, preserve = false;
    for (size_t i = 0; i < n; i++) {
        if (str_eq_cstr(l[i].name, "__error__"))
            err = true;
        else if (str_eq_cstr(l[i].name, "__preserve_error__") && str_eq_cstr(l[i].value, "true"))
            preserve = true;
    }
    return err && !preserve;
}

static struct ev_lset *lset_copy(struct ev_ctx *c, const struct label *l, size_t n, uint64_t h)
{
    struct ev_lset *s = arena_alloc(c->mem, sizeof *s);
    struct label *dst = n ? arena_alloc(c->mem, n * sizeof *dst) : NULL;
    if (!s || (n && !dst))
        return NULL;
    for (size_t i = 0; i < n; i++) {
        char *nm = arena_dup(c->mem, l[i].name.ptr ? l[i].name.ptr : "", l[i].name.len, 0);
        char *v = arena_dup(c->mem, l[i].value.ptr ? l[i].value.ptr : "", l[i].value.len, 0);
        if (!nm || !v)
            return NULL;
        dst[i] = (struct label){{nm, l[i].name.len}, {v, l[i].value.len}};
    }
    *s = (struct ev_lset){h, n, dst, err_label(l, n)};
    return s;
}

const struct ev_lset *ev_intern(struct ev_ctx *c, const struct label *l, size_t n)
{
    if (c->tab_n * 2 >= c->tab_cap && tab_grow(c))
        return NULL;
    uint64_t h = hash_labels(l, n);
    size_t k = h & (c->tab_cap - 1);
    for (; c->tab[k]; k = (k + 1) & (c->tab_cap - 1))
        if (c->tab[k]->hash == h && lset_eq(c->tab[k], l, n))
            return c->tab[k];
    struct ev_lset *s = lset_copy(c, l, n, h);
    if (!s)
        return NULL;
    c->tab[k] = s;
    c->tab_n++;
    return s;
}

int ev_lbuf_reserve(struct ev_ctx *c, size_t n)
{
    if (n <= c->lbuf_cap)
        return 0;
    size_t cap = c->lbuf_cap ? c->lbuf_cap : 16;
    while (cap < n)
        cap *= 2;
    struct label *l = realloc(c->lbuf, cap * sizeof *l);
    if (!l)
        return ERR_NOMEM;
    c->lbuf = l;
    c->lbuf_cap = cap;
    return 0;
}

int ev_labels_cmp(const struct label *a, size_t na, const struct label *b, size_t nb)
{
    size_t n = na < nb ? na : nb;
    for (size_t i = 0; i < n; i++) {
        int r = str_cmp(a[i].name, b[i].name);
        if (r)
            return r;
        if ((r = str_cmp(a[i].value, b[i].value)))
            return r;
    }
    return (na > nb) - (na < nb);
}

int ev_lset_cmp(const struct ev_lset *a, const struct ev_lset *b)
{
    return ev_labels_cmp(a->l, a->n, b->l, b->n);
}

bool ev_names_has(const struct str *names, size_t n, struct str name)
{
    for (size_t i = 0; i < n; i++)
        if (str_eq(names[i], name))
            return true;
    return false;
}

int ev_labels_string(struct buf *b, const struct label *l, size_t n)
{
    int rc = buf_append(b, "{", 1);
    for (size_t i = 0; i < n && !rc; i++) {
        if (i)
            rc = buf_append(b, ", ", 2);
        if (!rc)
            rc = buf_append(b, l[i].name.ptr, l[i].name.len);
        if (!rc)
            rc = buf_append(b, "=", 1);
        if (!rc)
            rc = logql_quote(b, l[i].value);
    }
    return rc ? rc : buf_append(b, "}", 1);
}

int ev_fail(struct ev_ctx *c, int rc, const char *fmt, ...)
{
    if (c->err && c->err_size) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->err, c->err_size, fmt, ap);
        va_end(ap);
    }
    return rc;
}

int ev_poll(struct ev_ctx *c)
{
    if (++c->polls % 1024 != 0 || !c->ops->check)
        return 0;
    int rc = c->ops->check(c->src);
    if (rc)
        return ev_fail(c, rc, "%s", rc == -ETIMEDOUT ? "query timed out" : "context canceled");
    return 0;
}

void *ev_step_alloc(struct ev_ctx *c, size_t n)
{
    return arena_alloc(&c->step, n ? n : 1);
}
