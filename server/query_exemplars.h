/* Exemplar queries, owner side (/api/v1/query_exemplars): the exemplars one shard's TSDB holds
 * (engine/tsdb/exemplars.h) for the series matching a query's selectors, and Prometheus's JSON
 * rendering of the merged answer. The cross-shard fan-out (server/query*.c) runs
 * query_exemplars_owner on every shard thread and concatenates the parts: a series lives on one
 * shard, so parts never share a series.
 *
 * Memory: a result owns its arena (labels and strings copied), freed by
 * query_exemplars_result_free. Threading: query_exemplars_owner on the shard thread that owns t;
 * the result may then be handed to any thread. Errors: 0, ERR_NOMEM. */
#ifndef STRATA_SERVER_QUERY_EXEMPLARS_H
#define STRATA_SERVER_QUERY_EXEMPLARS_H

#include <stddef.h>
#include <stdint.h>

#include "base/arena.h"
#include "base/str.h"
#include "formats/jsonw.h"
#include "server/query.h"

struct tsdb;

struct query_exemplar {
    int64_t ts_ms;
    double value;
    const struct label *labels;
    size_t n_labels;
};

struct query_exemplar_series {
    const struct label *labels; /* sorted, __tenant__ removed */
    size_t n_labels;
    struct query_exemplar *ex; /* ascending ts */
    size_t n_ex;
};

struct query_exemplars_result {
    struct query_exemplar_series *series; /* sorted by labels */
    size_t n;
    struct arena arena;
};

/* The exemplars of t with start_ms <= ts <= end_ms whose series match any matcher set of ms
 * (each set ANDed; the caller includes the tenant matcher, __tenant__ = ..., in every set). A
 * series whose id was reused by another label set since the exemplar was stored is skipped. */
int query_exemplars_owner(struct tsdb *t, const struct query_matchsets *ms, int64_t start_ms,
                          int64_t end_ms, struct query_exemplars_result *out);
void query_exemplars_result_free(struct query_exemplars_result *r);

/* Home side (query thread, inside a job's run): the exemplars of every shard for the series
 * matching any set of ms (the tenant matcher is added) with start_ms <= ts <= end_ms. parts[i]
 * stay valid until query_exemplars_set_free. Returns 0, an owner's error, -ETIMEDOUT, -ECANCELED
 * or ERR_NOMEM. */
struct query_exemplars_set {
    const struct query_exemplars_result **parts;
    size_t n;
    void *gathered; /* the pieces holding the parts */
};
int query_exemplars(struct query_job *j, const struct query_matchsets *ms, int64_t start_ms,
                    int64_t end_ms, struct query_exemplars_set *out);
void query_exemplars_set_free(struct query_exemplars_set *s);

/* Prometheus's `data` array: [{"seriesLabels":{..},"exemplars":[{"labels":{..},"value":"1.5",
 * "timestamp":1700000000.123}]}], parts concatenated in order. */
void query_exemplars_json(struct jsonw *w, const struct query_exemplars_result *const *parts,
                          size_t n);

#endif
