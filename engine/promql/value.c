/* PromQL label sets: construction (sorted, unique, empty values dropped), lookup, comparison
 * in Prometheus's labels.Compare order and Go-style formatting. */
#include "engine/promql/value.h"

#include <stdlib.h>
#include <string.h>

#include "base/hash.h"
#include "engine/promql/quote.h"

static int label_name_cmp(const void *a, const void *b)
{
    const struct label *x = a, *y = b;
    return str_cmp(x->name, y->name);
}

static struct str str_dup_in(struct arena *a, struct str s, bool *ok)
{
    if (s.len == 0)
        return (struct str){"", 0};
    char *p = arena_dup(a, s.ptr, s.len, 0);
    if (!p)
        *ok = false;
    return (struct str){p, s.len};
}

struct promql_lset *promql_lset_make(struct arena *a, const struct label *ls, size_t n,
                                     bool copy_strings)
{
    struct promql_lset *s = arena_alloc(a, sizeof *s + (n ? n : 1) * sizeof(struct label));
    if (!s)
        return NULL;
    uint32_t k = 0;
    bool ok = true;
    for (size_t i = 0; i < n; i++) {
        if (ls[i].value.len == 0)
            continue;
        s->l[k] = ls[i];
        if (copy_strings) {
            s->l[k].name = str_dup_in(a, ls[i].name, &ok);
            s->l[k].value = str_dup_in(a, ls[i].value, &ok);
        }
        k++;
    }
    if (!ok)
        return NULL;
    bool sorted = true;
    for (uint32_t i = 1; i < k && sorted; i++)
        sorted = str_cmp(s->l[i - 1].name, s->l[i].name) < 0;
    if (!sorted)
        qsort(s->l, k, sizeof s->l[0], label_name_cmp);
    s->n = k;
    s->hash = hash_labels(s->l, k);
    return s;
}

struct str promql_lset_get(const struct promql_lset *s, struct str name)
{
    uint32_t lo = 0, hi = s->n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        int c = str_cmp(s->l[mid].name, name);
        if (c == 0)
            return s->l[mid].value;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return (struct str){"", 0};
}

bool promql_lset_has(const struct promql_lset *s, struct str name)
{
    return promql_lset_get(s, name).len > 0;
}

int promql_lset_cmp(const struct promql_lset *a, const struct promql_lset *b)
{
    uint32_t n = a->n < b->n ? a->n : b->n;
    for (uint32_t i = 0; i < n; i++) {
        int c = str_cmp(a->l[i].name, b->l[i].name);
        if (c)
            return c;
        c = str_cmp(a->l[i].value, b->l[i].value);
        if (c)
            return c;
    }
    return (a->n > b->n) - (a->n < b->n);
}

bool promql_lset_eq(const struct promql_lset *a, const struct promql_lset *b)
{
    if (a == b)
        return true;
    if (a->hash != b->hash || a->n != b->n)
        return false;
    for (uint32_t i = 0; i < a->n; i++)
        if (!str_eq(a->l[i].name, b->l[i].name) || !str_eq(a->l[i].value, b->l[i].value))
            return false;
    return true;
}

/* Prometheus quotes names that are not legacy metric names ([a-zA-Z_:][a-zA-Z0-9_:]*). */
static bool legacy_metric_name(struct str s)
{
    if (s.len == 0)
        return false;
    for (size_t i = 0; i < s.len; i++) {
        char c = s.ptr[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
                  (i > 0 && c >= '0' && c <= '9');
        if (!ok)
            return false;
    }
    return true;
}

int promql_lset_format(struct buf *b, const struct promql_lset *s)
{
    int rc = buf_append_u8(b, '{');
    for (uint32_t i = 0; rc == 0 && i < s->n; i++) {
        if (i > 0)
            rc = buf_append(b, ", ", 2);
        if (rc == 0)
            rc = legacy_metric_name(s->l[i].name)
                     ? buf_append(b, s->l[i].name.ptr, s->l[i].name.len)
                     : promql_quote(b, s->l[i].name.ptr, s->l[i].name.len);
        if (rc == 0)
            rc = buf_append_u8(b, '=');
        if (rc == 0)
            rc = promql_quote(b, s->l[i].value.ptr, s->l[i].value.len);
    }
    return rc ? rc : buf_append_u8(b, '}');
}
