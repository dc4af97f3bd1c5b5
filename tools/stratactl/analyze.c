/* stratactl inspect: cardinality analysis over distinct series (see analyze.h). */
#include "tools/stratactl/analyze.h"

#include <stdlib.h>
#include <string.h>

#include "base/error.h"

struct ctl_name_stat {
    struct str name; /* in the arena */
    uint64_t series, values, value_bytes;
};

struct ctl_pair_stat {
    struct str name, value; /* in the arena */
    uint64_t series;
};

void ctl_analysis_init(struct ctl_analysis *a)
{
    memset(a, 0, sizeof *a);
    arena_init(&a->arena, 64 << 10);
    strmap_init(&a->names);
    strmap_init(&a->pairs);
}

void ctl_analysis_deinit(struct ctl_analysis *a)
{
    strmap_deinit(&a->names);
    strmap_deinit(&a->pairs);
    arena_deinit(&a->arena);
    free(a->len_counts);
    memset(a, 0, sizeof *a);
}

static struct ctl_name_stat *name_get(struct ctl_analysis *a, struct str name)
{
    struct ctl_name_stat *ns = strmap_get(&a->names, name);
    if (ns)
        return ns;
    ns = arena_alloc(&a->arena, sizeof *ns);
    char *p = arena_dup(&a->arena, name.len ? name.ptr : "", name.len, 1);
    if (!ns || !p)
        return NULL;
    *ns = (struct ctl_name_stat){.name = {p, name.len}};
    return strmap_put(&a->names, ns->name, ns) == 0 ? ns : NULL;
}

static int len_count(struct ctl_analysis *a, size_t len)
{
    if (len >= a->n_len_counts) {
        size_t n = a->n_len_counts ? a->n_len_counts : 64;
        while (n <= len)
            n *= 2;
        uint64_t *p = realloc(a->len_counts, n * sizeof *p);
        if (!p)
            return ERR_NOMEM;
        memset(p + a->n_len_counts, 0, (n - a->n_len_counts) * sizeof *p);
        a->len_counts = p;
        a->n_len_counts = n;
    }
    a->len_counts[len]++;
    return 0;
}

/* The pair's stat, created (with the name's distinct-value accounting) when new. */
static struct ctl_pair_stat *pair_get(struct ctl_analysis *a, struct ctl_name_stat *ns,
                                      struct str value, char *key, size_t key_len)
{
    struct ctl_pair_stat *ps = strmap_get(&a->pairs, (struct str){key, key_len});
    if (ps)
        return ps;
    char *k = arena_dup(&a->arena, key, key_len, 0);
    ps = arena_alloc(&a->arena, sizeof *ps);
    if (!k || !ps || len_count(a, value.len) != 0)
        return NULL;
    *ps = (struct ctl_pair_stat){.name = ns->name, .value = {k + ns->name.len + 1, value.len}};
    if (strmap_put(&a->pairs, (struct str){k, key_len}, ps) != 0)
        return NULL;
    ns->values++;
    ns->value_bytes += value.len;
    return ps;
}

int ctl_analysis_add(struct ctl_analysis *a, const struct label *labels, size_t n)
{
    char stack[512];
    char *key = stack;
    size_t cap = sizeof stack;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        struct str nm = labels[i].name, v = labels[i].value;
        size_t kl = nm.len + 1 + v.len;
        if (kl > cap) {
            char *p = key == stack ? malloc(kl) : realloc(key, kl);
            if (!p) {
                rc = ERR_NOMEM;
                break;
            }
            key = p;
            cap = kl;
        }
        if (nm.len)
            memcpy(key, nm.ptr, nm.len);
        key[nm.len] = (char)0xff;
        if (v.len)
            memcpy(key + nm.len + 1, v.ptr, v.len);
        struct ctl_name_stat *ns = name_get(a, nm);
        struct ctl_pair_stat *ps = ns ? pair_get(a, ns, v, key, kl) : NULL;
        if (!ps) {
            rc = ERR_NOMEM;
            break;
        }
        ns->series++;
        ps->series++;
    }
    if (key != stack)
        free(key);
    if (rc == 0) {
        a->series++;
        a->label_refs += n;
    }
    return rc;
}

size_t ctl_analysis_names(const struct ctl_analysis *a)
{
    return strmap_len(&a->names);
}

size_t ctl_analysis_pairs(const struct ctl_analysis *a)
{
    return strmap_len(&a->pairs);
}

static int entry_cmp(const void *x, const void *y)
{
    const struct ctl_top_entry *a = x, *b = y;
    if (a->count != b->count)
        return a->count > b->count ? -1 : 1;
    int c = str_cmp(a->name, b->name);
    if (c)
        return c;
    c = str_cmp(a->value, b->value);
    if (c)
        return c;
    return (a->length > b->length) - (a->length < b->length);
}

static uint64_t name_count(const struct ctl_name_stat *ns, enum ctl_top_kind kind)
{
    switch (kind) {
    case CTL_TOP_LABEL_VALUES: return ns->values;
    case CTL_TOP_LABEL_VALUE_BYTES: return ns->value_bytes;
    default: return ns->series;
    }
}

/* Every candidate entry of a kind (unsorted). */
static int collect(const struct ctl_analysis *a, enum ctl_top_kind kind, struct ctl_top_entry **out,
                   size_t *n)
{
    size_t cap = kind == CTL_TOP_VALUE_LENGTHS ? a->n_len_counts
                 : (kind == CTL_TOP_PAIR_SERIES || kind == CTL_TOP_METRIC_SERIES)
                     ? strmap_len(&a->pairs)
                     : strmap_len(&a->names);
    struct ctl_top_entry *e = malloc((cap ? cap : 1) * sizeof *e);
    if (!e)
        return ERR_NOMEM;
    size_t len = 0;
    const struct strmap_slot *s;
    if (kind == CTL_TOP_VALUE_LENGTHS) {
        for (size_t i = 0; i < a->n_len_counts; i++)
            if (a->len_counts[i])
                e[len++] = (struct ctl_top_entry){.length = i, .count = a->len_counts[i]};
    } else if (kind == CTL_TOP_PAIR_SERIES || kind == CTL_TOP_METRIC_SERIES) {
        for (size_t pos = 0; strmap_next(&a->pairs, &pos, &s);) {
            const struct ctl_pair_stat *ps = s->value;
            if (kind == CTL_TOP_PAIR_SERIES)
                e[len++] = (struct ctl_top_entry){ps->name, ps->value, 0, ps->series};
            else if (str_eq_cstr(ps->name, "__name__"))
                e[len++] = (struct ctl_top_entry){ps->value, {"", 0}, 0, ps->series};
        }
    } else {
        for (size_t pos = 0; strmap_next(&a->names, &pos, &s);) {
            const struct ctl_name_stat *ns = s->value;
            e[len++] = (struct ctl_top_entry){ns->name, {"", 0}, 0, name_count(ns, kind)};
        }
    }
    *out = e;
    *n = len;
    return 0;
}

int ctl_analysis_top(const struct ctl_analysis *a, enum ctl_top_kind kind, size_t k,
                     struct ctl_top_entry **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    struct ctl_top_entry *e;
    size_t len;
    int rc = collect(a, kind, &e, &len);
    if (rc)
        return rc;
    if (len > 1)
        qsort(e, len, sizeof *e, entry_cmp);
    if (len > k)
        len = k;
    if (len == 0) {
        free(e);
        return 0;
    }
    *out = e;
    *n = len;
    return 0;
}

const char *ctl_top_key(enum ctl_top_kind kind)
{
    static const char *const keys[CTL_TOP_KINDS_] = {
        "highest_cardinality_labels", "label_names_most_series", "metric_names_most_series",
        "label_pairs_most_series",    "label_value_lengths",     "label_names_value_bytes"};
    return (unsigned)kind < CTL_TOP_KINDS_ ? keys[kind] : "unknown";
}

const char *ctl_top_title(enum ctl_top_kind kind)
{
    static const char *const titles[CTL_TOP_KINDS_] = {
        "Highest cardinality labels (distinct values)",
        "Label names with most series",
        "Metric names with most series",
        "Label pairs with most series",
        "Most common label value lengths (distinct pairs)",
        "Label names with highest cumulative value length (bytes)"};
    return (unsigned)kind < CTL_TOP_KINDS_ ? titles[kind] : "unknown";
}
