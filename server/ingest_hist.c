/* Native histograms of a remote-write series (RW 1.0 `histograms`, RW 2.0 histograms): conversion
 * from the protobuf message to the storage form (formats/histchunk.h: bucket deltas summed into
 * absolute counts, spans and custom bounds borrowed or copied into the request arena) and
 * Prometheus's validation; an invalid histogram is dropped, counted and named in the reply. */
#include <stdio.h>
#include <string.h>

#include "base/error.h"
#include "server/ingest_internal.h"

#define SHOW_LABELS_MAX 12

/* The fields both protocol versions share, as one view. */
struct hview {
    bool is_float;
    int32_t schema;
    uint8_t hint;
    double zero_threshold, sum;
    uint64_t count_int, zero_int;
    double count_f, zero_f;
    size_t n_pspans, n_nspans;
    size_t n_pdeltas, n_ndeltas, n_pcounts, n_ncounts;
    const int64_t *pdeltas, *ndeltas;
    const double *pcounts, *ncounts;
    const double *custom;
    size_t n_custom;
    int64_t t;
};

/* Spans into the arena; false on ERR_NOMEM. */
#define COPY_SPANS(a, dst, src, n)                                                                 \
    do {                                                                                           \
        dst = arena_alloc(a, ((n) + 1) * sizeof *(dst));                                           \
        if (!(dst))                                                                                \
            return ERR_NOMEM;                                                                      \
        for (size_t i_ = 0; i_ < (n); i_++)                                                        \
            (dst)[i_] = (struct histchunk_span){(src)[i_]->offset, (src)[i_]->length};             \
    } while (0)

/* Absolute counts of one side: integer deltas summed, or float counts' bits. */
static int side_counts(struct arena *a, bool is_float, const int64_t *deltas, size_t nd,
                       const double *counts, size_t nc, uint64_t **out, uint32_t *n,
                       const char **why)
{
    size_t k = is_float ? nc : nd;
    uint64_t *b = arena_alloc(a, (k + 1) * sizeof *b);
    if (!b)
        return ERR_NOMEM;
    int64_t run = 0;
    for (size_t i = 0; i < k; i++) {
        if (is_float) {
            memcpy(&b[i], &counts[i], sizeof b[i]);
            continue;
        }
        if (__builtin_add_overflow(run, deltas[i], &run) || run < 0) {
            *why = "histogram has a bucket whose observation count is negative";
            return ERR_INVALID;
        }
        b[i] = (uint64_t)run;
    }
    *out = b;
    *n = (uint32_t)k;
    return 0;
}

static int view_to_sample(struct arena *a, const struct hview *v, struct tsdb_hist_sample *out,
                          const char **why)
{
    struct histchunk_hist *h = &out->h;
    out->t_ms = v->t;
    out->is_float = v->is_float;
    h->schema = v->schema;
    h->hint = v->hint <= HISTCHUNK_HINT_GAUGE ? v->hint : HISTCHUNK_HINT_UNKNOWN;
    h->zero_threshold = v->zero_threshold;
    h->sum = v->sum;
    if (v->is_float) {
        memcpy(&h->count, &v->count_f, 8);
        memcpy(&h->zero_count, &v->zero_f, 8);
    } else {
        h->count = v->count_int;
        h->zero_count = v->zero_int;
    }
    uint64_t *pb, *nb;
    int rc = side_counts(a, v->is_float, v->pdeltas, v->n_pdeltas, v->pcounts, v->n_pcounts, &pb,
                         &h->n_pbuckets, why);
    if (rc == 0)
        rc = side_counts(a, v->is_float, v->ndeltas, v->n_ndeltas, v->ncounts, v->n_ncounts, &nb,
                         &h->n_nbuckets, why);
    if (rc)
        return rc;
    h->pbuckets = pb;
    h->nbuckets = nb;
    h->custom = v->custom;
    h->n_custom = (uint32_t)v->n_custom;
    if (v->n_custom > HISTCHUNK_CUSTOM_MAX || v->n_pspans > HISTCHUNK_SPANS_MAX ||
        v->n_nspans > HISTCHUNK_SPANS_MAX) {
        *why = "histogram is too large";
        return ERR_INVALID;
    }
    return histchunk_hist_check(h, v->is_float, why);
}

#define VIEW_OF(v, m, FLOAT_CASE, ZERO_FLOAT_CASE)                                                 \
    do {                                                                                           \
        memset(&(v), 0, sizeof(v));                                                                \
        (v).is_float =                                                                             \
            (m)->count_case == (FLOAT_CASE) ||                                                     \
            ((m)->count_case == 0 && ((m)->n_positive_counts || (m)->n_negative_counts));          \
        (v).schema = (m)->schema;                                                                  \
        (v).hint = (uint8_t)(m)->reset_hint;                                                       \
        (v).zero_threshold = (m)->zero_threshold;                                                  \
        (v).sum = (m)->sum;                                                                        \
        if ((m)->count_case == (FLOAT_CASE))                                                       \
            (v).count_f = (m)->count_float;                                                        \
        else if ((m)->count_case != 0)                                                             \
            (v).count_int = (m)->count_int;                                                        \
        if ((m)->zero_count_case == (ZERO_FLOAT_CASE))                                             \
            (v).zero_f = (m)->zero_count_float;                                                    \
        else if ((m)->zero_count_case != 0)                                                        \
            (v).zero_int = (m)->zero_count_int;                                                    \
        if ((v).is_float && (m)->zero_count_case != (ZERO_FLOAT_CASE))                             \
            (v).zero_f = (double)(v).zero_int;                                                     \
        (v).n_pspans = (m)->n_positive_spans;                                                      \
        (v).n_nspans = (m)->n_negative_spans;                                                      \
        (v).pdeltas = (m)->positive_deltas;                                                        \
        (v).n_pdeltas = (m)->n_positive_deltas;                                                    \
        (v).ndeltas = (m)->negative_deltas;                                                        \
        (v).n_ndeltas = (m)->n_negative_deltas;                                                    \
        (v).pcounts = (m)->positive_counts;                                                        \
        (v).n_pcounts = (m)->n_positive_counts;                                                    \
        (v).ncounts = (m)->negative_counts;                                                        \
        (v).n_ncounts = (m)->n_negative_counts;                                                    \
        (v).custom = (m)->custom_values;                                                           \
        (v).n_custom = (m)->n_custom_values;                                                       \
        (v).t = (m)->timestamp;                                                                    \
    } while (0)

static void reject_hist(struct ingest_req *r, uint32_t idx, const struct label *client, size_t n,
                        int64_t t, const char *why)
{
    char shown[256], reason[INGEST_REASON_MAX];
    validate_fmt_labels(shown, sizeof shown, client, n < SHOW_LABELS_MAX ? n : SHOW_LABELS_MAX);
    snprintf(reason, sizeof reason, "series %s: invalid native histogram at %lld: %s", shown,
             (long long)t, why);
    r->reply.histograms_rejected++;
    dispatch_req_note_reason(&r->base, idx, reason);
}

static int v1_one(struct arena *a, const Prometheus__Histogram *m, struct tsdb_hist_sample *out,
                  const char **why)
{
    struct hview v;
    VIEW_OF(v, m, PROMETHEUS__HISTOGRAM__COUNT_COUNT_FLOAT,
            PROMETHEUS__HISTOGRAM__ZERO_COUNT_ZERO_COUNT_FLOAT);
    struct histchunk_span *ps, *ns;
    COPY_SPANS(a, ps, m->positive_spans, m->n_positive_spans);
    COPY_SPANS(a, ns, m->negative_spans, m->n_negative_spans);
    out->h.pspans = ps;
    out->h.n_pspans = (uint32_t)m->n_positive_spans;
    out->h.nspans = ns;
    out->h.n_nspans = (uint32_t)m->n_negative_spans;
    return view_to_sample(a, &v, out, why);
}

static int v2_one(struct arena *a, const Io__Prometheus__Write__V2__Histogram *m,
                  struct tsdb_hist_sample *out, const char **why)
{
    struct hview v;
    VIEW_OF(v, m, IO__PROMETHEUS__WRITE__V2__HISTOGRAM__COUNT_COUNT_FLOAT,
            IO__PROMETHEUS__WRITE__V2__HISTOGRAM__ZERO_COUNT_ZERO_COUNT_FLOAT);
    struct histchunk_span *ps, *ns;
    COPY_SPANS(a, ps, m->positive_spans, m->n_positive_spans);
    COPY_SPANS(a, ns, m->negative_spans, m->n_negative_spans);
    out->h.pspans = ps;
    out->h.n_pspans = (uint32_t)m->n_positive_spans;
    out->h.nspans = ns;
    out->h.n_nspans = (uint32_t)m->n_negative_spans;
    return view_to_sample(a, &v, out, why);
}

/* The exemplars of a series (labels borrowed from the message or its symbols table). */
int ingest_exemplars_convert(struct ingest_req *r, const void *series, bool v2,
                             struct tsdb_hists_in *out)
{
    const rw1_series *s1 = series;
    const rw2_series *s2 = series;
    size_t k = v2 ? s2->n_exemplars : s1->n_exemplars;
    out->exemplars = NULL;
    out->n_exemplars = 0;
    if (k == 0)
        return 0;
    struct exemplar_in *xs = arena_alloc(&r->base.arena, k * sizeof *xs);
    if (!xs)
        return ERR_NOMEM;
    for (size_t i = 0; i < k; i++) {
        size_t nl = v2 ? s2->exemplars[i]->n_labels_refs / 2 : s1->exemplars[i]->n_labels;
        struct label *l = arena_alloc(&r->base.arena, (nl + 1) * sizeof *l);
        if (!l)
            return ERR_NOMEM;
        for (size_t j = 0; j < nl; j++) {
            if (v2) {
                const uint32_t *refs = s2->exemplars[i]->labels_refs;
                l[j] = (struct label){rw2_symbol(r->v2, refs[2 * j]),
                                      rw2_symbol(r->v2, refs[2 * j + 1])};
            } else {
                const Prometheus__Label *p = s1->exemplars[i]->labels[j];
                l[j] = (struct label){wire_str(p->name), wire_str(p->value)};
            }
        }
        double v = v2 ? s2->exemplars[i]->value : s1->exemplars[i]->value;
        xs[i].ts_ms = v2 ? s2->exemplars[i]->timestamp : s1->exemplars[i]->timestamp;
        memcpy(&xs[i].value_bits, &v, sizeof v);
        xs[i].labels = l;
        xs[i].n_labels = nl;
    }
    out->exemplars = xs;
    out->n_exemplars = k;
    return 0;
}

int ingest_hists_convert(struct ingest_req *r, uint32_t idx, const void *series, bool v2,
                         const struct label *client, size_t n, struct tsdb_hists_in *out)
{
    const rw1_series *s1 = series;
    const rw2_series *s2 = series;
    size_t k = v2 ? s2->n_histograms : s1->n_histograms;
    out->hists = NULL;
    out->n = 0;
    if (k == 0)
        return ingest_exemplars_convert(r, series, v2, out);
    struct tsdb_hist_sample *hs = arena_alloc(&r->base.arena, k * sizeof *hs);
    if (!hs)
        return ERR_NOMEM;
    size_t kept = 0;
    for (size_t i = 0; i < k; i++) {
        const char *why = "invalid histogram";
        memset(&hs[kept], 0, sizeof hs[kept]);
        int rc = v2 ? v2_one(&r->base.arena, s2->histograms[i], &hs[kept], &why)
                    : v1_one(&r->base.arena, s1->histograms[i], &hs[kept], &why);
        if (rc == ERR_NOMEM)
            return rc;
        if (rc) {
            reject_hist(r, idx, client, n,
                        v2 ? s2->histograms[i]->timestamp : s1->histograms[i]->timestamp, why);
            continue;
        }
        kept++;
    }
    out->hists = hs;
    out->n = kept;
    return ingest_exemplars_convert(r, series, v2, out);
}
