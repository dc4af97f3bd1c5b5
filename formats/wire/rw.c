/* Prometheus remote write 1.0/2.0: bounded decode, contract validation, encoders. */
#include "formats/wire/rw.h"

#include <stdio.h>
#include <stdlib.h>

#include "base/arena.h"
#include "base/assert.h"
#include "base/error.h"
#include "base/hash.h"
#include "formats/wire/rw1_fast.h"

#define SHOW_LABELS_MAX 16  /* labels shown in an error message */
#define SHOW_TEXT_MAX   200 /* bytes of label text in an error message */

/* ---- shared checks ---- */

/* Why `cur` cannot follow `prev` in a label set, or NULL. */
static const char *name_problem(struct str prev, struct str cur, bool first)
{
    if (cur.len == 0)
        return "empty label name";
    if (first)
        return NULL;
    int c = str_cmp(prev, cur);
    if (c == 0)
        return "duplicate label name";
    return c > 0 ? "label names not sorted at" : NULL;
}

/* Writes "<what> <labels>: <problem>[ "<name>"]" into err; returns ERR_INVALID. */
static int fail_labels(char *err, size_t err_size, const char *what, const struct label *shown,
                       size_t n_shown, const char *problem, const struct str *name)
{
    char text[SHOW_TEXT_MAX];
    wire_fmt_labels(text, sizeof text, shown,
                    n_shown < SHOW_LABELS_MAX ? n_shown : SHOW_LABELS_MAX);
    if (!name) {
        snprintf(err, err_size, "%s %s: %s", what, text, problem);
        return ERR_INVALID;
    }
    char quoted[80];
    wire_fmt_quoted(quoted, sizeof quoted, *name);
    snprintf(err, err_size, "%s %s: %s %s", what, text, problem, quoted);
    return ERR_INVALID;
}

/* Native-histogram span checks, identical for both versions (distinct protobuf-c types). */
#define DEFINE_HIST_PROBLEM(fn, HistT, SpanT, FLOAT_CASE)                                          \
    static const char *fn##_side(SpanT *const *spans, size_t n_spans, size_t n_buckets)            \
    {                                                                                              \
        uint64_t want = 0;                                                                         \
        for (size_t i = 0; i < n_spans; i++) {                                                     \
            if (i > 0 && spans[i]->offset < 0)                                                     \
                return "span after the first has a negative offset";                               \
            want += spans[i]->length;                                                              \
        }                                                                                          \
        return want == n_buckets ? NULL : "spans do not match the number of buckets";              \
    }                                                                                              \
    static const char *fn(const HistT *h)                                                          \
    {                                                                                              \
        bool is_float = h->count_case == FLOAT_CASE;                                               \
        const char *why = fn##_side(h->negative_spans, h->n_negative_spans,                        \
                                    is_float ? h->n_negative_counts : h->n_negative_deltas);       \
        if (why)                                                                                   \
            return why;                                                                            \
        return fn##_side(h->positive_spans, h->n_positive_spans,                                   \
                         is_float ? h->n_positive_counts : h->n_positive_deltas);                  \
    }

DEFINE_HIST_PROBLEM(v1_hist_problem, Prometheus__Histogram, Prometheus__BucketSpan,
                    PROMETHEUS__HISTOGRAM__COUNT_COUNT_FLOAT)
DEFINE_HIST_PROBLEM(v2_hist_problem, Io__Prometheus__Write__V2__Histogram,
                    Io__Prometheus__Write__V2__BucketSpan,
                    IO__PROMETHEUS__WRITE__V2__HISTOGRAM__COUNT_COUNT_FLOAT)

/* ---- RW 1.0 ---- */

static size_t v1_labels(Prometheus__Label *const *pl, size_t n, struct label *out, size_t cap)
{
    for (size_t i = 0; i < n && i < cap; i++) {
        out[i].name = wire_str(pl[i]->name);
        out[i].value = wire_str(pl[i]->value);
    }
    return n;
}

size_t rw1_series_labels(const rw1_series *ts, struct label *out, size_t cap)
{
    return v1_labels(ts->labels, ts->n_labels, out, cap);
}

/* Checks one v1 label set; on failure writes the reason (prefixed by `what`) into err. */
static int v1_check_labels(Prometheus__Label *const *pl, size_t n, const char *what, char *err,
                           size_t err_size)
{
    for (size_t i = 0; i < n; i++) {
        struct str cur = wire_str(pl[i]->name);
        const char *why = name_problem(i ? wire_str(pl[i - 1]->name) : cur, cur, i == 0);
        if (why) {
            struct label shown[SHOW_LABELS_MAX];
            size_t k = v1_labels(pl, n, shown, SHOW_LABELS_MAX);
            return fail_labels(err, err_size, what, shown, k, why, &cur);
        }
    }
    return 0;
}

static int v1_check_series(const rw1_series *ts, size_t idx, char *err, size_t err_size)
{
    char what[64];
    snprintf(what, sizeof what, "series %zu", idx);
    if (ts->n_labels == 0) {
        snprintf(err, err_size, "%s has no labels", what);
        return ERR_INVALID;
    }
    int rc = v1_check_labels(ts->labels, ts->n_labels, what, err, err_size);
    if (rc)
        return rc;
    for (size_t e = 0; e < ts->n_exemplars; e++) {
        snprintf(what, sizeof what, "series %zu exemplar %zu", idx, e);
        rc = v1_check_labels(ts->exemplars[e]->labels, ts->exemplars[e]->n_labels, what, err,
                             err_size);
        if (rc)
            return rc;
    }
    for (size_t h = 0; h < ts->n_histograms; h++) {
        const char *why = v1_hist_problem(ts->histograms[h]);
        if (why) {
            struct label shown[SHOW_LABELS_MAX];
            size_t k = rw1_series_labels(ts, shown, SHOW_LABELS_MAX);
            char problem[96];
            snprintf(what, sizeof what, "series %zu", idx);
            snprintf(problem, sizeof problem, "histogram %zu is invalid: %s", h, why);
            return fail_labels(err, err_size, what, shown, k, problem, NULL);
        }
    }
    return 0;
}

int rw1_validate(const rw1_request *req, char *err, size_t err_size)
{
    for (size_t i = 0; i < req->n_timeseries; i++) {
        int rc = v1_check_series(req->timeseries[i], i, err, err_size);
        if (rc)
            return rc;
    }
    if (err_size)
        err[0] = 0;
    return 0;
}

int rw1_decode(struct wire_decoder *d, const uint8_t *body, size_t n, const rw1_request **out)
{
    ProtobufCMessage *m;
    *out = NULL;
    wire_decoder_reset(d);
    rw1_request *fast = NULL;
    int rc = n <= d->body_bytes_max ? rw1_unpack_fast(d, body, n, &fast) : 1;
    if (rc < 0)
        return wire_fail(d, rc, "out of memory decoding a remote write request");
    if (rc == 0)
        m = &fast->base;
    else if ((rc = wire_unpack(d, &prometheus__write_request__descriptor, body, n, &m)) != 0)
        return rc;
    rc = rw1_validate((const rw1_request *)m, d->err, sizeof d->err);
    if (rc)
        return rc;
    *out = (const rw1_request *)m;
    return 0;
}

/* ---- RW 2.0 ---- */

struct str rw2_symbol(const rw2_request *req, uint32_t ref)
{
    ASSERT(ref < req->n_symbols);
    return wire_str(req->symbols[ref]);
}

static size_t v2_labels(const rw2_request *req, const uint32_t *refs, size_t n_refs,
                        struct label *out, size_t cap)
{
    for (size_t i = 0; i + 1 < n_refs && i / 2 < cap; i += 2) {
        out[i / 2].name = rw2_symbol(req, refs[i]);
        out[i / 2].value = rw2_symbol(req, refs[i + 1]);
    }
    return n_refs / 2;
}

size_t rw2_series_labels(const rw2_request *req, const rw2_series *ts, struct label *out,
                         size_t cap)
{
    return v2_labels(req, ts->labels_refs, ts->n_labels_refs, out, cap);
}

/* Checks a refs array (labels of a series or an exemplar); `what` names it in messages. */
static int v2_check_refs(const rw2_request *req, const uint32_t *refs, size_t n, const char *what,
                         char *err, size_t err_size)
{
    if (n % 2) {
        snprintf(err, err_size, "%s: labels_refs has odd length %zu", what, n);
        return ERR_INVALID;
    }
    for (size_t i = 0; i < n; i++) {
        if (refs[i] >= req->n_symbols) {
            snprintf(err, err_size, "%s: labels_refs[%zu] = %u is out of range (%zu symbols)", what,
                     i, refs[i], req->n_symbols);
            return ERR_INVALID;
        }
    }
    for (size_t i = 0; i < n; i += 2) {
        struct str cur = rw2_symbol(req, refs[i]);
        const char *why = name_problem(i ? rw2_symbol(req, refs[i - 2]) : cur, cur, i == 0);
        if (why) {
            struct label shown[SHOW_LABELS_MAX];
            size_t k = v2_labels(req, refs, n, shown, SHOW_LABELS_MAX);
            return fail_labels(err, err_size, what, shown, k, why, &cur);
        }
    }
    return 0;
}

/* Series-level checks after its labels passed: exclusivity, exemplars, metadata, histograms. */
static int v2_check_content(const rw2_request *req, const rw2_series *ts, size_t idx, char *err,
                            size_t err_size)
{
    char what[64];
    const char *why = NULL;
    if (ts->n_samples && ts->n_histograms)
        why = "has both samples and histograms";
    const Io__Prometheus__Write__V2__Metadata *md = ts->metadata;
    if (!why && md && (md->help_ref >= req->n_symbols || md->unit_ref >= req->n_symbols))
        why = "metadata help_ref or unit_ref is out of range";
    for (size_t h = 0; !why && h < ts->n_histograms; h++)
        why = v2_hist_problem(ts->histograms[h]);
    if (why) {
        struct label shown[SHOW_LABELS_MAX];
        size_t k = rw2_series_labels(req, ts, shown, SHOW_LABELS_MAX);
        snprintf(what, sizeof what, "series %zu", idx);
        return fail_labels(err, err_size, what, shown, k, why, NULL);
    }
    for (size_t e = 0; e < ts->n_exemplars; e++) {
        snprintf(what, sizeof what, "series %zu exemplar %zu", idx, e);
        const Io__Prometheus__Write__V2__Exemplar *ex = ts->exemplars[e];
        int rc = v2_check_refs(req, ex->labels_refs, ex->n_labels_refs, what, err, err_size);
        if (rc)
            return rc;
    }
    return 0;
}

int rw2_validate(const rw2_request *req, char *err, size_t err_size)
{
    if (req->n_symbols && req->symbols[0].len) {
        char got[80];
        wire_fmt_quoted(got, sizeof got, wire_str(req->symbols[0]));
        snprintf(err, err_size, "symbols[0] must be the empty string, got %s", got);
        return ERR_INVALID;
    }
    for (size_t i = 0; i < req->n_timeseries; i++) {
        const rw2_series *ts = req->timeseries[i];
        char what[64];
        snprintf(what, sizeof what, "series %zu", i);
        if (ts->n_labels_refs == 0) {
            snprintf(err, err_size, "%s has no labels", what);
            return ERR_INVALID;
        }
        int rc = v2_check_refs(req, ts->labels_refs, ts->n_labels_refs, what, err, err_size);
        if (!rc)
            rc = v2_check_content(req, ts, i, err, err_size);
        if (rc)
            return rc;
    }
    if (err_size)
        err[0] = 0;
    return 0;
}

int rw2_decode(struct wire_decoder *d, const uint8_t *body, size_t n, const rw2_request **out)
{
    ProtobufCMessage *m;
    *out = NULL;
    int rc = wire_unpack(d, &io__prometheus__write__v2__request__descriptor, body, n, &m);
    if (rc)
        return rc;
    rc = rw2_validate((const rw2_request *)m, d->err, sizeof d->err);
    if (rc)
        return rc;
    *out = (const rw2_request *)m;
    return 0;
}

/* ---- encoding ---- */

int rw1_pack(const rw1_request *req, struct buf *out)
{
    return wire_pack(&req->base, out);
}

int rw2_pack(const rw2_request *req, struct buf *out)
{
    return wire_pack(&req->base, out);
}

static void *alloc_n(struct arena *a, size_t size, size_t n)
{
    if (n > SIZE_MAX / size)
        return NULL;
    return arena_alloc(a, size * (n ? n : 1));
}

#define ALLOC_N(a, T, n) ((T *)alloc_n((a), sizeof(T), (n)))

static Prometheus__TimeSeries *v1_build_series(struct arena *a, const struct rw_series *s)
{
    Prometheus__TimeSeries *ts = ALLOC_N(a, Prometheus__TimeSeries, 1);
    Prometheus__Label *labels = ALLOC_N(a, Prometheus__Label, s->n_labels);
    Prometheus__Label **lp = ALLOC_N(a, Prometheus__Label *, s->n_labels);
    Prometheus__Sample *samples = ALLOC_N(a, Prometheus__Sample, s->n_samples);
    Prometheus__Sample **sp = ALLOC_N(a, Prometheus__Sample *, s->n_samples);
    if (!ts || !labels || !lp || !samples || !sp)
        return NULL;
    *ts = (Prometheus__TimeSeries)PROMETHEUS__TIME_SERIES__INIT;
    for (size_t i = 0; i < s->n_labels; i++) {
        labels[i] = (Prometheus__Label)PROMETHEUS__LABEL__INIT;
        labels[i].name = wire_bytes(s->labels[i].name);
        labels[i].value = wire_bytes(s->labels[i].value);
        lp[i] = &labels[i];
    }
    for (size_t i = 0; i < s->n_samples; i++) {
        samples[i] = (Prometheus__Sample)PROMETHEUS__SAMPLE__INIT;
        samples[i].timestamp = s->samples[i].ts_ms;
        samples[i].value = s->samples[i].value;
        sp[i] = &samples[i];
    }
    ts->n_labels = s->n_labels;
    ts->labels = lp;
    ts->n_samples = s->n_samples;
    ts->samples = sp;
    return ts;
}

int rw1_encode(const struct rw_series *series, size_t n, struct buf *out)
{
    struct arena a;
    arena_init(&a, 64 * 1024);
    rw1_request req = PROMETHEUS__WRITE_REQUEST__INIT;
    req.n_timeseries = n;
    req.timeseries = ALLOC_N(&a, Prometheus__TimeSeries *, n);
    int rc = req.timeseries ? 0 : ERR_NOMEM;
    for (size_t i = 0; !rc && i < n; i++) {
        req.timeseries[i] = v1_build_series(&a, &series[i]);
        rc = req.timeseries[i] ? 0 : ERR_NOMEM;
    }
    if (!rc)
        rc = rw1_pack(&req, out);
    arena_deinit(&a);
    return rc;
}

/* Symbol interning for rw2_encode: open addressing over indexes into syms. */
struct symtab {
    ProtobufCBinaryData *syms;
    size_t n, cap;
    uint32_t *slots; /* ref + 1; 0 = empty */
    size_t n_slots;  /* power of two */
};

static int symtab_grow(struct symtab *t)
{
    size_t n_slots = t->n_slots ? t->n_slots * 2 : 256;
    uint32_t *slots = calloc(n_slots, sizeof *slots);
    ProtobufCBinaryData *syms = realloc(t->syms, n_slots / 2 * sizeof *syms);
    if (!slots || !syms) {
        free(slots);
        if (syms)
            t->syms = syms;
        return ERR_NOMEM;
    }
    for (size_t i = 0; i < t->n; i++) {
        size_t h = hash_bytes(syms[i].data, syms[i].len) & (n_slots - 1);
        while (slots[h])
            h = (h + 1) & (n_slots - 1);
        slots[h] = (uint32_t)i + 1;
    }
    free(t->slots);
    t->slots = slots;
    t->n_slots = n_slots;
    t->syms = syms;
    t->cap = n_slots / 2;
    return 0;
}

static int symtab_intern(struct symtab *t, struct str s, uint32_t *ref)
{
    if (t->n >= t->cap) {
        int rc = symtab_grow(t);
        if (rc)
            return rc;
    }
    size_t h = hash_bytes(s.ptr, s.len) & (t->n_slots - 1);
    for (; t->slots[h]; h = (h + 1) & (t->n_slots - 1)) {
        uint32_t r = t->slots[h] - 1;
        if (str_eq(wire_str(t->syms[r]), s)) {
            *ref = r;
            return 0;
        }
    }
    ASSERT(t->n < UINT32_MAX);
    t->syms[t->n] = wire_bytes(s);
    t->slots[h] = (uint32_t)t->n + 1;
    *ref = (uint32_t)t->n++;
    return 0;
}

static rw2_series *v2_build_series(struct arena *a, struct symtab *t, const struct rw_series *s)
{
    rw2_series *ts = ALLOC_N(a, rw2_series, 1);
    uint32_t *refs = ALLOC_N(a, uint32_t, 2 * s->n_labels);
    Io__Prometheus__Write__V2__Sample *samples =
        ALLOC_N(a, Io__Prometheus__Write__V2__Sample, s->n_samples);
    Io__Prometheus__Write__V2__Sample **sp =
        ALLOC_N(a, Io__Prometheus__Write__V2__Sample *, s->n_samples);
    if (!ts || !refs || !samples || !sp)
        return NULL;
    *ts = (rw2_series)IO__PROMETHEUS__WRITE__V2__TIME_SERIES__INIT;
    for (size_t i = 0; i < s->n_labels; i++) {
        if (symtab_intern(t, s->labels[i].name, &refs[2 * i]) ||
            symtab_intern(t, s->labels[i].value, &refs[2 * i + 1]))
            return NULL;
    }
    for (size_t i = 0; i < s->n_samples; i++) {
        samples[i] = (Io__Prometheus__Write__V2__Sample)IO__PROMETHEUS__WRITE__V2__SAMPLE__INIT;
        samples[i].timestamp = s->samples[i].ts_ms;
        samples[i].value = s->samples[i].value;
        sp[i] = &samples[i];
    }
    ts->n_labels_refs = 2 * s->n_labels;
    ts->labels_refs = refs;
    ts->n_samples = s->n_samples;
    ts->samples = sp;
    return ts;
}

int rw2_encode(const struct rw_series *series, size_t n, struct buf *out)
{
    struct arena a;
    arena_init(&a, 64 * 1024);
    struct symtab t = {0};
    uint32_t empty_ref;
    rw2_request req = IO__PROMETHEUS__WRITE__V2__REQUEST__INIT;
    req.n_timeseries = n;
    req.timeseries = ALLOC_N(&a, rw2_series *, n);
    int rc = req.timeseries ? symtab_intern(&t, (struct str){"", 0}, &empty_ref) : ERR_NOMEM;
    for (size_t i = 0; !rc && i < n; i++) {
        req.timeseries[i] = v2_build_series(&a, &t, &series[i]);
        rc = req.timeseries[i] ? 0 : ERR_NOMEM;
    }
    if (!rc) {
        req.n_symbols = t.n;
        req.symbols = t.syms;
        rc = rw2_pack(&req, out);
    }
    free(t.syms);
    free(t.slots);
    arena_deinit(&a);
    return rc;
}
