/* Native histogram chunks from storage into evaluator values (see hist_storage.h). */
#include "engine/promql/hist_storage.h"

#include <string.h>

#include "base/error.h"

/* First and last populated bucket index of one side (false when the side is empty). */
static bool side_range(const struct histchunk_span *sp, uint32_t n, int64_t *lo, int64_t *hi)
{
    int64_t idx = 0;
    bool any = false;
    for (uint32_t i = 0; i < n; i++) {
        idx += sp[i].offset;
        if (sp[i].length) {
            if (!any)
                *lo = idx;
            any = true;
            *hi = idx + sp[i].length - 1;
        }
        idx += sp[i].length;
    }
    return any;
}

static double word(uint64_t w, bool is_float)
{
    return is_float ? histchunk_f64(w) : (double)w;
}

/* Fills the dense array dst (first index lo) from spans and absolute counts. */
static void fill_side(double *dst, int64_t lo, const struct histchunk_span *sp, uint32_t n,
                      const uint64_t *counts, bool is_float)
{
    int64_t idx = 0;
    uint32_t k = 0;
    for (uint32_t i = 0; i < n; i++) {
        idx += sp[i].offset;
        for (uint32_t j = 0; j < sp[i].length; j++)
            dst[idx + j - lo] = word(counts[k++], is_float);
        idx += sp[i].length;
    }
}

struct promql_hist *promql_hist_from_storage(struct arena *a, const struct histchunk_hist *h,
                                             bool is_float, const double *custom)
{
    int64_t plo = 0, phi = -1, nlo = 0, nhi = -1;
    bool p = side_range(h->pspans, h->n_pspans, &plo, &phi);
    bool n = side_range(h->nspans, h->n_nspans, &nlo, &nhi);
    struct promql_hist *x =
        promql_hist_new(a, p ? (uint32_t)(phi - plo + 1) : 0, n ? (uint32_t)(nhi - nlo + 1) : 0);
    if (!x)
        return NULL;
    x->schema = h->schema;
    x->hint = h->hint;
    x->zero_threshold = h->zero_threshold;
    x->zero_count = word(h->zero_count, is_float);
    x->count = word(h->count, is_float);
    x->sum = h->sum;
    x->p_off = p ? (int32_t)plo : 0;
    x->n_off = n ? (int32_t)nlo : 0;
    if (p)
        fill_side(x->p, plo, h->pspans, h->n_pspans, h->pbuckets, is_float);
    if (n)
        fill_side(x->n, nlo, h->nspans, h->n_nspans, h->nbuckets, is_float);
    if (h->schema == HISTCHUNK_SCHEMA_CUSTOM) {
        x->ncustom = h->n_custom;
        if (custom &&
            (h->n_custom == 0 || memcmp(custom, h->custom, h->n_custom * sizeof *custom) == 0)) {
            x->custom = custom;
        } else {
            double *c = arena_alloc(a, (h->n_custom ? h->n_custom : 1) * sizeof *c);
            if (!c)
                return NULL;
            if (h->n_custom)
                memcpy(c, h->custom, h->n_custom * sizeof *c);
            x->custom = c;
        }
    }
    return x;
}

int promql_histchunk_decode(struct arena *a, const uint8_t *data, size_t len, int64_t mint_ms,
                            int64_t maxt_ms, struct promql_hist_sample **out, size_t *n)
{
    int total = histchunk_count(data, len);
    *out = NULL;
    *n = 0;
    if (total < 0)
        return total;
    struct promql_hist_sample *v = arena_alloc(a, ((size_t)total + 1) * sizeof *v);
    if (!v)
        return ERR_NOMEM;
    *out = v;
    struct histchunk_iter it;
    histchunk_iter_init(&it, data, len);
    const double *custom = NULL;
    uint32_t ncustom = 0;
    int rc;
    while ((rc = histchunk_iter_next(&it)) == 1) {
        int64_t t = histchunk_iter_t(&it);
        if (t > maxt_ms)
            break;
        if (t < mint_ms || *n >= (size_t)total)
            continue;
        const struct histchunk_hist *h = histchunk_iter_at(&it);
        const double *share = custom && ncustom == h->n_custom ? custom : NULL;
        struct promql_hist *x = promql_hist_from_storage(a, h, it.is_float, share);
        if (!x) {
            rc = ERR_NOMEM;
            break;
        }
        if (x->ncustom) {
            custom = x->custom;
            ncustom = x->ncustom;
        }
        v[(*n)++] = (struct promql_hist_sample){t, 0, x};
    }
    histchunk_iter_deinit(&it);
    return rc < 0 ? rc : 0;
}
