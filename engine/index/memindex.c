/* Postings index: name -> (value -> bitmap). */
#include "engine/index/memindex.h"

#include <stdlib.h>

#include "base/error.h"

struct memindex_value {
    roaring_bitmap_t *ids;
    size_t len;
    char bytes[]; /* the value (the map key points here) */
};

struct memindex_name {
    struct strmap values; /* value -> struct memindex_value * */
    size_t len;
    char bytes[];
};

int memindex_init(struct memindex *ix)
{
    strmap_init(&ix->names);
    ix->all = roaring_bitmap_create();
    return ix->all ? 0 : ERR_NOMEM;
}

static void free_name(struct memindex_name *nm)
{
    size_t pos = 0;
    const struct strmap_slot *s;
    while (strmap_next(&nm->values, &pos, &s)) {
        struct memindex_value *v = s->value;
        roaring_bitmap_free(v->ids);
        free(v);
    }
    strmap_deinit(&nm->values);
    free(nm);
}

void memindex_deinit(struct memindex *ix)
{
    size_t pos = 0;
    const struct strmap_slot *s;
    while (strmap_next(&ix->names, &pos, &s))
        free_name(s->value);
    strmap_deinit(&ix->names);
    roaring_bitmap_free(ix->all);
    ix->all = NULL;
}

static struct memindex_name *get_or_add_name(struct memindex *ix, struct str name)
{
    struct memindex_name *nm = strmap_get(&ix->names, name);
    if (nm)
        return nm;
    nm = malloc(sizeof *nm + name.len + 1);
    if (!nm)
        return NULL;
    strmap_init(&nm->values);
    nm->len = name.len;
    if (name.len)
        memcpy(nm->bytes, name.ptr, name.len);
    nm->bytes[name.len] = 0;
    if (strmap_put(&ix->names, (struct str){nm->bytes, nm->len}, nm) != 0) {
        free(nm);
        return NULL;
    }
    return nm;
}

static struct memindex_value *get_or_add_value(struct memindex_name *nm, struct str value)
{
    struct memindex_value *v = strmap_get(&nm->values, value);
    if (v)
        return v;
    v = malloc(sizeof *v + value.len + 1);
    if (!v)
        return NULL;
    v->ids = roaring_bitmap_create();
    v->len = value.len;
    if (value.len)
        memcpy(v->bytes, value.ptr, value.len);
    v->bytes[value.len] = 0;
    if (!v->ids || strmap_put(&nm->values, (struct str){v->bytes, v->len}, v) != 0) {
        if (v->ids)
            roaring_bitmap_free(v->ids);
        free(v);
        return NULL;
    }
    return v;
}

int memindex_add(struct memindex *ix, uint32_t id, const struct label *labels, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct memindex_name *nm = get_or_add_name(ix, labels[i].name);
        struct memindex_value *v = nm ? get_or_add_value(nm, labels[i].value) : NULL;
        if (!v) {
            memindex_remove(ix, id, labels, i);
            return ERR_NOMEM;
        }
        roaring_bitmap_add(v->ids, id);
    }
    roaring_bitmap_add(ix->all, id);
    return 0;
}

void memindex_remove(struct memindex *ix, uint32_t id, const struct label *labels, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct memindex_name *nm = strmap_get(&ix->names, labels[i].name);
        struct memindex_value *v = nm ? strmap_get(&nm->values, labels[i].value) : NULL;
        if (!v)
            continue;
        roaring_bitmap_remove(v->ids, id);
        if (!roaring_bitmap_is_empty(v->ids))
            continue;
        strmap_remove(&nm->values, labels[i].value);
        roaring_bitmap_free(v->ids);
        free(v);
        if (strmap_len(&nm->values) == 0) {
            strmap_remove(&ix->names, labels[i].name);
            free_name(nm);
        }
    }
    roaring_bitmap_remove(ix->all, id);
}

const roaring_bitmap_t *memindex_postings(const struct memindex *ix, struct str name,
                                          struct str value)
{
    struct memindex_name *nm = strmap_get(&ix->names, name);
    struct memindex_value *v = nm ? strmap_get(&nm->values, value) : NULL;
    return v ? v->ids : NULL;
}

/* Union into out of the postings of every value of m's label for which m's verdict equals `want`.
 */
static void union_matching(const struct memindex *ix, const struct matcher *m, bool want,
                           roaring_bitmap_t *out)
{
    struct memindex_name *nm = strmap_get(&ix->names, m->name);
    if (!nm)
        return;
    const struct str *vals;
    size_t nv;
    if (want && matcher_finite_values(m, &vals, &nv)) {
        for (size_t i = 0; i < nv; i++) {
            struct memindex_value *v = strmap_get(&nm->values, vals[i]);
            if (v)
                roaring_bitmap_or_inplace(out, v->ids);
        }
        return;
    }
    size_t pos = 0;
    const struct strmap_slot *s;
    while (strmap_next(&nm->values, &pos, &s)) {
        if (matcher_matches(m, s->key) == want)
            roaring_bitmap_or_inplace(out, ((struct memindex_value *)s->value)->ids);
    }
}

int memindex_select(const struct memindex *ix, const struct matcher *ms, size_t n,
                    roaring_bitmap_t *out)
{
    roaring_bitmap_clear(out);
    roaring_bitmap_t *sub = roaring_bitmap_create(); /* ids to subtract */
    roaring_bitmap_t *tmp = roaring_bitmap_create();
    if (!sub || !tmp) {
        roaring_bitmap_free(sub);
        roaring_bitmap_free(tmp);
        return ERR_NOMEM;
    }
    bool have_positive = false;
    for (size_t i = 0; i < n; i++) {
        const struct matcher *m = &ms[i];
        if (m->shape == SHAPE_ANY && m->type == MATCHER_RE)
            continue; /* l=~".*" selects everything, with or without the label */
        if (matcher_matches_empty(m)) {
            /* keeps ids whose value matches or that lack the label: drop ids with a non-matching
             * value */
            union_matching(ix, m, false, sub);
            continue;
        }
        roaring_bitmap_clear(tmp);
        union_matching(ix, m, true, tmp);
        if (have_positive) {
            roaring_bitmap_and_inplace(out, tmp);
        } else {
            roaring_bitmap_or_inplace(out, tmp);
            have_positive = true;
        }
    }
    if (!have_positive)
        roaring_bitmap_or_inplace(out, ix->all);
    roaring_bitmap_andnot_inplace(out, sub);
    roaring_bitmap_free(sub);
    roaring_bitmap_free(tmp);
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return str_cmp(*(const struct str *)a, *(const struct str *)b);
}

static bool any_in(const roaring_bitmap_t *ids, const roaring_bitmap_t *filter)
{
    return filter ? roaring_bitmap_intersect(ids, filter) : !roaring_bitmap_is_empty(ids);
}

static bool name_in(const struct memindex_name *nm, const roaring_bitmap_t *filter)
{
    size_t pos = 0;
    const struct strmap_slot *s;
    while (strmap_next(&nm->values, &pos, &s)) {
        if (any_in(((struct memindex_value *)s->value)->ids, filter))
            return true;
    }
    return false;
}

int memindex_label_names(const struct memindex *ix, const roaring_bitmap_t *filter,
                         struct str **out, size_t *n)
{
    struct str *res = malloc((strmap_len(&ix->names) + 1) * sizeof *res);
    if (!res)
        return ERR_NOMEM;
    size_t k = 0, pos = 0;
    const struct strmap_slot *s;
    while (strmap_next(&ix->names, &pos, &s)) {
        if (!filter || name_in(s->value, filter))
            res[k++] = s->key;
    }
    qsort(res, k, sizeof *res, cmp_str);
    *out = res;
    *n = k;
    return 0;
}

int memindex_label_values(const struct memindex *ix, struct str name,
                          const roaring_bitmap_t *filter, struct str **out, size_t *n)
{
    struct memindex_name *nm = strmap_get(&ix->names, name);
    size_t cap = nm ? strmap_len(&nm->values) : 0;
    struct str *res = malloc((cap + 1) * sizeof *res);
    if (!res)
        return ERR_NOMEM;
    size_t k = 0, pos = 0;
    const struct strmap_slot *s;
    while (nm && strmap_next(&nm->values, &pos, &s)) {
        if (any_in(((struct memindex_value *)s->value)->ids, filter))
            res[k++] = s->key;
    }
    qsort(res, k, sizeof *res, cmp_str);
    *out = res;
    *n = k;
    return 0;
}

uint64_t memindex_series(const struct memindex *ix)
{
    return roaring_bitmap_get_cardinality(ix->all);
}

size_t memindex_bytes(const struct memindex *ix)
{
    size_t bytes =
        ix->names.cap * sizeof(struct strmap_slot) + roaring_bitmap_size_in_bytes(ix->all);
    size_t pos = 0;
    const struct strmap_slot *s;
    while (strmap_next(&ix->names, &pos, &s)) {
        const struct memindex_name *nm = s->value;
        bytes += sizeof *nm + nm->len + nm->values.cap * sizeof(struct strmap_slot);
        size_t vp = 0;
        const struct strmap_slot *vs;
        while (strmap_next(&nm->values, &vp, &vs)) {
            const struct memindex_value *v = vs->value;
            bytes += sizeof *v + v->len + roaring_bitmap_size_in_bytes(v->ids);
        }
    }
    return bytes;
}
