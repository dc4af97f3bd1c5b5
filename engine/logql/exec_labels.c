/* Pipeline executor support: per-entry scratch memory and Loki's LabelsBuilder semantics
 * (pkg/logql/log/labels.go): categories, `_extracted` names, deletions, error labels. */
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "engine/logql/exec_int.h"
#include "formats/wire/utf8.h"

#define LQ_CHUNK_MIN (16u << 10)

/* ---- scratch memory ---- */

void lq_mem_reset(struct lq_mem *m)
{
    m->cur = 0;
    m->off = 0;
}

void lq_mem_deinit(struct lq_mem *m)
{
    for (size_t i = 0; i < m->n; i++)
        free(m->chunks[i].p);
    free(m->chunks);
    memset(m, 0, sizeof *m);
}

/* Makes chunk m->cur + 1 (inserted when needed) hold at least n bytes and moves to it. */
static bool next_chunk(struct lq_mem *m, size_t n)
{
    size_t at = m->n ? m->cur + 1 : 0;
    if (at < m->n && m->chunks[at].cap >= n) {
        m->cur = at;
        m->off = 0;
        return true;
    }
    if (m->n == m->cap) {
        size_t nc = m->cap ? 2 * m->cap : 4;
        struct lq_chunk *c = realloc(m->chunks, nc * sizeof *c);
        if (!c)
            return false;
        m->chunks = c;
        m->cap = nc;
    }
    size_t last = m->n ? m->chunks[m->n - 1].cap : 0;
    size_t cap = last * 2 > LQ_CHUNK_MIN ? last * 2 : LQ_CHUNK_MIN;
    if (cap < n)
        cap = n;
    char *p = malloc(cap);
    if (!p)
        return false;
    memmove(m->chunks + at + 1, m->chunks + at, (m->n - at) * sizeof *m->chunks);
    m->chunks[at] = (struct lq_chunk){p, cap};
    m->n++;
    m->cur = at;
    m->off = 0;
    return true;
}

void *lq_mem_alloc(struct lq_mem *m, size_t n)
{
    size_t off = (m->off + 7) & ~(size_t)7;
    if (m->n == 0 || off + n > m->chunks[m->cur].cap) {
        if (!next_chunk(m, n))
            return NULL;
        off = 0;
    }
    m->off = off + n;
    return m->chunks[m->cur].p + off;
}

struct str lq_mem_dup(struct lq_mem *m, const void *p, size_t n, bool *oom)
{
    if (n == 0)
        return (struct str){"", 0};
    char *d = lq_mem_alloc(m, n);
    if (!d) {
        *oom = true;
        return (struct str){"", 0};
    }
    memcpy(d, p, n);
    return (struct str){d, n};
}

struct str lq_mem_cat(struct lq_mem *m, struct str a, struct str b, bool *oom)
{
    char *d = lq_mem_alloc(m, a.len + b.len + 1);
    if (!d) {
        *oom = true;
        return (struct str){"", 0};
    }
    if (a.len)
        memcpy(d, a.ptr, a.len);
    if (b.len)
        memcpy(d + a.len, b.ptr, b.len);
    return (struct str){d, a.len + b.len};
}

/* ---- vectors ---- */

int lq_vec_push(struct lq_vec *v, struct str name, struct str value)
{
    if (v->n == v->cap) {
        size_t nc = v->cap ? 2 * v->cap : 16;
        struct label *p = realloc(v->v, nc * sizeof *p);
        if (!p)
            return ERR_NOMEM;
        v->v = p;
        v->cap = nc;
    }
    v->v[v->n++] = (struct label){name, value};
    v->bloom |= lq_name_bit(name);
    return 0;
}

void lq_vec_free(struct lq_vec *v)
{
    free(v->v);
    memset(v, 0, sizeof *v);
}

int lq_strs_push(struct lq_strs *s, struct str x)
{
    if (s->n == s->cap) {
        size_t nc = s->cap ? 2 * s->cap : 16;
        struct str *p = realloc(s->v, nc * sizeof *p);
        if (!p)
            return ERR_NOMEM;
        s->v = p;
        s->cap = nc;
    }
    s->v[s->n++] = x;
    s->bloom |= lq_name_bit(x);
    return 0;
}

static inline bool name_eq(struct str a, struct str b)
{
    return a.len == b.len &&
           (a.len == 0 || (a.ptr[0] == b.ptr[0] && memcmp(a.ptr, b.ptr, a.len) == 0));
}

bool lq_strs_has(const struct lq_strs *s, struct str x)
{
    if (!(s->bloom & lq_name_bit(x)))
        return false;
    for (size_t i = 0; i < s->n; i++)
        if (name_eq(s->v[i], x))
            return true;
    return false;
}

/* ---- builder ---- */

void lq_lb_reset(struct lq_lb *lb, const struct label *base, size_t n_base)
{
    lb->base = base;
    lb->n_base = n_base;
    lb->base_bloom = 0;
    for (size_t i = 0; i < n_base; i++)
        lb->base_bloom |= lq_name_bit(base[i].name);
    for (int c = 0; c < 3; c++)
        lb->add[c].n = 0, lb->add[c].bloom = 0;
    lb->del.n = 0, lb->del.bloom = 0;
    lb->extracted.n = 0, lb->extracted.bloom = 0;
    lb->err = lb->err_details = (struct str){"", 0};
    lb->oom = false;
}

void lq_lb_deinit(struct lq_lb *lb)
{
    for (int c = 0; c < 3; c++)
        lq_vec_free(&lb->add[c]);
    free(lb->del.v);
    free(lb->extracted.v);
    memset(lb, 0, sizeof *lb);
}

static const struct label *base_find(const struct lq_lb *lb, struct str name)
{
    if (!(lb->base_bloom & lq_name_bit(name)))
        return NULL;
    size_t lo = 0, hi = lb->n_base;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = str_cmp(lb->base[mid].name, name);
        if (c == 0)
            return &lb->base[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

bool lq_lb_base_has(const struct lq_lb *lb, struct str name)
{
    return base_find(lb, name) != NULL;
}

static long vec_find(const struct lq_vec *v, struct str name)
{
    if (!(v->bloom & lq_name_bit(name)))
        return -1;
    for (size_t i = 0; i < v->n; i++)
        if (name_eq(v->v[i].name, name))
            return (long)i;
    return -1;
}

bool lq_lb_has_in(const struct lq_lb *lb, struct str name, enum logql_label_cat cat)
{
    return vec_find(&lb->add[cat], name) >= 0;
}

bool lq_lb_get(const struct lq_lb *lb, struct str name, struct str *value, int *cat)
{
    for (int c = 0; c < 3; c++) {
        long i = vec_find(&lb->add[c], name);
        if (i >= 0) {
            *value = lb->add[c].v[i].value;
            if (cat)
                *cat = c;
            return true;
        }
    }
    if (lq_strs_has(&lb->del, name))
        return false;
    const struct label *l = base_find(lb, name);
    if (l && l->value.len) {
        *value = l->value;
        if (cat)
            *cat = LOGQL_CAT_STREAM;
        return true;
    }
    return false;
}

static void vec_remove(struct lq_vec *v, struct str name)
{
    long i = vec_find(v, name);
    if (i >= 0) {
        memmove(v->v + i, v->v + i + 1, (v->n - (size_t)i - 1) * sizeof *v->v);
        v->n--;
    }
}

void lq_lb_set(struct lq_lb *lb, enum logql_label_cat cat, struct str name, struct str value)
{
    if (cat == LOGQL_CAT_PARSED) {
        vec_remove(&lb->add[LOGQL_CAT_META], name);
        vec_remove(&lb->add[LOGQL_CAT_STREAM], name);
    } else if (cat == LOGQL_CAT_META) {
        vec_remove(&lb->add[LOGQL_CAT_STREAM], name);
        if (vec_find(&lb->add[LOGQL_CAT_PARSED], name) >= 0)
            return;
    } else if (vec_find(&lb->add[LOGQL_CAT_META], name) >= 0 ||
               vec_find(&lb->add[LOGQL_CAT_PARSED], name) >= 0) {
        return;
    }
    long i = vec_find(&lb->add[cat], name);
    if (i >= 0) {
        lb->add[cat].v[i].value = value;
        return;
    }
    if (lq_vec_push(&lb->add[cat], name, value))
        lb->oom = true;
    if (cat == LOGQL_CAT_PARSED && !lq_strs_has(&lb->extracted, name) &&
        lq_strs_push(&lb->extracted, name))
        lb->oom = true;
}

void lq_lb_del(struct lq_lb *lb, struct str name)
{
    for (int c = 0; c < 3; c++)
        vec_remove(&lb->add[c], name);
    if (lq_strs_push(&lb->del, name))
        lb->oom = true;
}

bool lq_lb_extracted(const struct lq_lb *lb, struct str name)
{
    return lq_strs_has(&lb->extracted, name);
}

struct str lq_lb_dedup_name(struct lq_lb *lb, struct str name)
{
    if (!lq_lb_base_has(lb, name) && !lq_lb_has_in(lb, name, LOGQL_CAT_META))
        return name;
    return lq_mem_cat(lb->mem, name, STR_LIT("_extracted"), &lb->oom);
}

void lq_lb_add(struct lq_lb *lb, enum logql_label_cat cat, const struct label *l, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct str name = l[i].name;
        if (lq_lb_base_has(lb, name))
            name = lq_mem_cat(lb->mem, name, STR_LIT("_extracted"), &lb->oom);
        if (str_eq_cstr(name, LQ_ERROR_LABEL))
            lb->err = l[i].value;
        else if (str_eq_cstr(name, LQ_DETAILS_LABEL))
            lb->err_details = l[i].value;
        else
            lq_lb_set(lb, cat, name, l[i].value);
    }
}

void lq_lb_set_err(struct lq_lb *lb, const char *err, struct str details)
{
    lb->err = str_from_cstr(err);
    if (details.len)
        lb->err_details = details;
}

bool lq_lb_unchanged(const struct lq_lb *lb)
{
    return lb->del.n == 0 && lb->add[0].n == 0 && lb->add[1].n == 0 && lb->add[2].n == 0 &&
           lb->err.len == 0;
}

static int push_cat(struct lq_vec *out, uint8_t **cats, size_t *cap, struct label l, int cat)
{
    if (cats) {
        if (out->n >= *cap) {
            size_t nc = *cap ? 2 * *cap : 32;
            uint8_t *p = realloc(*cats, nc);
            if (!p)
                return ERR_NOMEM;
            *cats = p;
            *cap = nc;
        }
        (*cats)[out->n] = (uint8_t)cat;
    }
    return lq_vec_push(out, l.name, l.value);
}

static int collect_base(const struct lq_lb *lb, struct lq_vec *out, uint8_t **cats, size_t *cap)
{
    for (size_t i = 0; i < lb->n_base; i++) {
        struct label l = lb->base[i];
        if (lq_strs_has(&lb->del, l.name) || vec_find(&lb->add[LOGQL_CAT_META], l.name) >= 0 ||
            vec_find(&lb->add[LOGQL_CAT_PARSED], l.name) >= 0)
            continue;
        long k = vec_find(&lb->add[LOGQL_CAT_STREAM], l.name);
        if (k >= 0)
            l.value = lb->add[LOGQL_CAT_STREAM].v[k].value;
        if (push_cat(out, cats, cap, l, LOGQL_CAT_STREAM))
            return ERR_NOMEM;
    }
    return 0;
}

int lq_lb_collect(const struct lq_lb *lb, struct lq_vec *out, uint8_t **cats, size_t *cats_cap)
{
    out->n = 0;
    out->bloom = 0;
    if (collect_base(lb, out, cats, cats_cap))
        return ERR_NOMEM;
    const struct lq_vec *meta = &lb->add[LOGQL_CAT_META], *parsed = &lb->add[LOGQL_CAT_PARSED];
    for (size_t i = 0; i < meta->n; i++)
        if (vec_find(parsed, meta->v[i].name) < 0 &&
            push_cat(out, cats, cats_cap, meta->v[i], LOGQL_CAT_META))
            return ERR_NOMEM;
    for (size_t i = 0; i < parsed->n; i++)
        if (push_cat(out, cats, cats_cap, parsed->v[i], LOGQL_CAT_PARSED))
            return ERR_NOMEM;
    if (lb->err.len && push_cat(out, cats, cats_cap,
                                (struct label){STR_LIT(LQ_ERROR_LABEL), lb->err}, LOGQL_CAT_PARSED))
        return ERR_NOMEM;
    if (lb->err_details.len &&
        push_cat(out, cats, cats_cap, (struct label){STR_LIT(LQ_DETAILS_LABEL), lb->err_details},
                 LOGQL_CAT_PARSED))
        return ERR_NOMEM;
    return 0;
}

/* ---- names and values ---- */

static bool is_name_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (c >= '0' && c <= '9');
}

static bool is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* strings.TrimSpace (ASCII spaces plus U+0085, U+00A0 and the Unicode space runes). */
static struct str trim_space(struct str s)
{
    for (;;) {
        if (s.len && is_space((unsigned char)s.ptr[0])) {
            s.ptr++, s.len--;
        } else if (s.len >= 2 && (unsigned char)s.ptr[0] == 0xc2 &&
                   ((unsigned char)s.ptr[1] == 0x85 || (unsigned char)s.ptr[1] == 0xa0)) {
            s.ptr += 2, s.len -= 2;
        } else {
            break;
        }
    }
    for (;;) {
        if (s.len && is_space((unsigned char)s.ptr[s.len - 1])) {
            s.len--;
        } else if (s.len >= 2 && (unsigned char)s.ptr[s.len - 2] == 0xc2 &&
                   ((unsigned char)s.ptr[s.len - 1] == 0x85 ||
                    (unsigned char)s.ptr[s.len - 1] == 0xa0)) {
            s.len -= 2;
        } else {
            break;
        }
    }
    return s;
}

struct str lq_sanitize_key(struct lq_mem *m, struct str key, bool *oom)
{
    key = trim_space(key);
    if (key.len == 0)
        return key;
    bool clean = !(key.ptr[0] >= '0' && key.ptr[0] <= '9');
    for (size_t i = 0; i < key.len && clean; i++)
        clean = is_name_char((unsigned char)key.ptr[i]);
    if (clean)
        return key;
    char *d = lq_mem_alloc(m, key.len + 1);
    if (!d) {
        *oom = true;
        return (struct str){"", 0};
    }
    size_t n = 0;
    if (key.ptr[0] >= '0' && key.ptr[0] <= '9')
        d[n++] = '_';
    for (size_t i = 0; i < key.len;) {
        unsigned char c = (unsigned char)key.ptr[i];
        if (c < 0x80) {
            d[n++] = is_name_char(c) ? (char)c : '_';
            i++;
            continue;
        }
        uint32_t cp;
        size_t l = wire_utf8_decode((const uint8_t *)key.ptr + i, key.len - i, &cp);
        d[n++] = '_'; /* one per rune (an invalid byte is a rune of its own) */
        i += l ? l : 1;
    }
    return (struct str){d, n};
}

struct str lq_fix_utf8(struct lq_mem *m, struct str v, bool *oom)
{
    size_t i = 0;
    for (; i < v.len; i++) {
        unsigned char c = (unsigned char)v.ptr[i];
        if (c < 0x80)
            continue;
        uint32_t cp;
        size_t l = wire_utf8_decode((const uint8_t *)v.ptr + i, v.len - i, &cp);
        if (!l || cp == 0xfffd)
            break;
        i += l - 1;
    }
    if (i == v.len)
        return v;
    char *d = lq_mem_alloc(m, v.len);
    if (!d) {
        *oom = true;
        return (struct str){"", 0};
    }
    size_t n = 0;
    for (size_t j = 0; j < v.len;) {
        unsigned char c = (unsigned char)v.ptr[j];
        if (c < 0x80) {
            d[n++] = (char)c;
            j++;
            continue;
        }
        uint32_t cp;
        size_t l = wire_utf8_decode((const uint8_t *)v.ptr + j, v.len - j, &cp);
        if (!l || cp == 0xfffd) {
            d[n++] = ' ';
            j += l ? l : 1;
            continue;
        }
        memcpy(d + n, v.ptr + j, l);
        n += l;
        j += l;
    }
    return (struct str){d, n};
}
