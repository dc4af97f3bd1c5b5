/* Internals shared by server/ingest*.c: the per-shard state, the request, and the helpers each file
 * provides to the others. Not for other modules. */
#ifndef STRATA_SERVER_INGEST_INTERNAL_H
#define STRATA_SERVER_INGEST_INTERNAL_H

#include "base/arena.h"
#include "base/strmap.h"
#include "formats/wire/rw.h"
#include "server/ingest.h"

/* Rejection kinds counted in a reply (tsdb's kinds first, then ingest's own). */
enum ingest_rej {
    INGEST_REJ_INVALID = TSDB_REJECT_KINDS_, /* validation */
    INGEST_REJ_LIMIT,                        /* tenant series limit */
    INGEST_REJ_KINDS_,
};

struct ingest_tenant {
    uint64_t series; /* live series of the tenant owned by this shard (see ingest.h) */
    char name[];     /* key bytes */
};

struct ingest_shard {
    struct ingest_config cfg;
    struct dispatch_shard d; /* self, nshards, mesh, request pool, parts waiting for mesh space */
    const struct ingest_store_ops *ops;
    void *store;
    struct ingest_store_ops tsdb_ops;
    uint64_t tenant_share;          /* ceil(series_per_tenant_max / nshards); 0: no limit */
    struct strmap tenants;          /* tenant -> struct ingest_tenant * */
    uint64_t removed_seen;          /* ops->series_removed at the last recount */
    struct strmap metadata;         /* family -> struct ingest_meta_entry * */
    struct tsdb_series_in *scratch; /* owner: series kept after the tenant limit */
    struct tsdb_hists_in *hscratch; /* their histograms (parallel) */
    size_t scratch_cap;
    struct buf body; /* ingest_shard_body_buf */
    struct ingest_stats stats;
};

struct ingest_req {
    struct dispatch_req base; /* first: decoder, arena, tenant, parts, refusal, reason */
    enum ingest_proto proto;
    const rw1_request *v1;
    const rw2_request *v2;
    uint64_t rejected[INGEST_REJ_KINDS_];
    uint64_t duplicates;
    struct ingest_reply reply;
    ingest_done_fn done;
    void *done_arg;
};

static inline struct ingest_shard *ingest_req_shard(const struct ingest_req *r)
{
    return r->base.d->proto;
}

/* ingest_split.c */
/* Records a rejection of `samples` samples of kind `kind` for the series at request index idx,
 * keeping the reason of the lowest index. */
void ingest_req_reject(struct ingest_req *r, int kind, uint64_t samples, uint32_t idx,
                       const char *reason);

/* ingest_hist.c */
/* Converts and validates the native histograms of request series idx (`series` is an rw1_series,
 * or an rw2_series when v2) into *out (request arena; invalid ones are dropped, counted in
 * reply.histograms_rejected and named in the reason). Returns 0 or ERR_NOMEM. */
int ingest_hists_convert(struct ingest_req *r, uint32_t idx, const void *series, bool v2,
                         const struct label *client, size_t n, struct tsdb_hists_in *out);

/* Fills out->exemplars from the series' exemplars (called by ingest_hists_convert). */
int ingest_exemplars_convert(struct ingest_req *r, const void *series, bool v2,
                             struct tsdb_hists_in *out);

/* ingest_owner.c */
/* dispatch_ops.apply: applies a part on this (owner) shard (proto: the ingest_shard). */
int ingest_owner_apply(void *proto, struct dispatch_part *part);
int ingest_tenants_init(struct ingest_shard *s);
void ingest_tenants_deinit(struct ingest_shard *s);

/* ingest_meta.c */
void ingest_meta_init(struct ingest_shard *s);
void ingest_meta_deinit(struct ingest_shard *s);
/* Stores (replacing) the metadata of one family. */
void ingest_meta_put(struct ingest_shard *s, struct str family, uint8_t type, struct str help,
                     struct str unit);

#endif
