/* Validating and splitting a decoded push request: per stream label limits (Loki's wording), the
 * tenant label, the identity hash and the owner shard; per entry structured metadata limits and the
 * conversion into the log store's input; one part per owner (see logingest.h for the ownership
 * rule: everything here borrows the decoded request's strings). */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "base/error.h"
#include "base/hash.h"
#include "server/logingest_internal.h"

#define SHOW_LABELS_MAX 16

struct split {
    struct logstore_stream_in *all; /* per request stream; n_entries 0 = nothing to store */
    struct dispatch_split ds;       /* owner per stream */
};

static void reject(struct logingest_req *r, int kind, uint64_t entries, uint32_t idx,
                   const char *reason)
{
    r->rejected[kind] += entries;
    dispatch_req_note_reason(&r->base, idx, reason);
}

static void fmt_stream(char *dst, size_t cap, const struct lokipush_stream *st)
{
    size_t n = st->n_labels < SHOW_LABELS_MAX ? st->n_labels : SHOW_LABELS_MAX;
    validate_fmt_labels(dst, cap, st->labels, n);
}

/* Loki's per-stream label checks (distributor validateLabels) plus the reserved tenant label.
 * Returns NULL or the reason in buf. */
static const char *check_labels(const struct logingest_config *c, const struct lokipush_stream *st,
                                char *buf, size_t cap)
{
    char shown[256], quoted[160];
    if (c->labels_per_stream_max && st->n_labels > c->labels_per_stream_max) {
        fmt_stream(shown, sizeof shown, st);
        snprintf(buf, cap, "entry for stream '%s' has %zu label names; limit %u", shown,
                 st->n_labels, c->labels_per_stream_max);
        return buf;
    }
    for (size_t i = 0; i < st->n_labels; i++) {
        const struct label *l = &st->labels[i];
        const char *what = NULL;
        struct str bad = l->name;
        if (str_eq_cstr(l->name, VALIDATE_TENANT_LABEL)) {
            what = "uses the reserved label name";
        } else if (c->label_name_bytes_max && l->name.len > c->label_name_bytes_max) {
            what = "has label name too long:";
        } else if (c->label_value_bytes_max && l->value.len > c->label_value_bytes_max) {
            what = "has label value too long:";
            bad = l->value;
        }
        if (!what)
            continue;
        fmt_stream(shown, sizeof shown, st);
        size_t shown_len = bad.len > 100 ? 100 : bad.len;
        snprintf(quoted, sizeof quoted, "%.*s%s", (int)shown_len, bad.ptr,
                 shown_len < bad.len ? "..." : "");
        snprintf(buf, cap, "stream '%s' %s '%s'", shown, what, quoted);
        return buf;
    }
    return NULL;
}

/* Structured metadata limits of one entry: NULL or the reason in buf. */
static const char *check_metadata(const struct logingest_config *c,
                                  const struct lokipush_stream *st, const Logproto__EntryAdapter *e,
                                  char *buf, size_t cap)
{
    char shown[256];
    size_t n = e->n_structured_metadata;
    if (c->structured_metadata_entries_max && n > c->structured_metadata_entries_max) {
        fmt_stream(shown, sizeof shown, st);
        snprintf(buf, cap,
                 "stream '%s' has too many structured metadata labels: '%zu', limit: '%u'. Please "
                 "see --limits.loki.max-structured-metadata-entries or contact your administrator "
                 "to increase it",
                 shown, n, c->structured_metadata_entries_max);
        return buf;
    }
    uint64_t bytes = 0;
    for (size_t i = 0; i < n; i++)
        bytes += e->structured_metadata[i]->name.len + e->structured_metadata[i]->value.len;
    if (c->structured_metadata_bytes_max && bytes > c->structured_metadata_bytes_max) {
        fmt_stream(shown, sizeof shown, st);
        snprintf(buf, cap,
                 "stream '%s' has structured metadata too large: '%" PRIu64
                 "' bytes, limit: '%" PRIu64
                 "' bytes. Please see --limits.loki.max-structured-metadata-bytes or contact your "
                 "administrator to increase it",
                 shown, bytes, c->structured_metadata_bytes_max);
        return buf;
    }
    return NULL;
}

/* Converts the entries of stream idx that pass the metadata limits into out->entries. */
static int convert_entries(struct logingest_req *r, uint32_t idx, const struct lokipush_stream *st,
                           struct logstore_stream_in *out)
{
    const Logproto__StreamAdapter *pb = st->pb;
    struct logstore_entry_in *ents =
        arena_alloc(&r->base.arena, (pb->n_entries + 1) * sizeof *ents);
    if (!ents)
        return ERR_NOMEM;
    size_t k = 0;
    char reason[LOGINGEST_REASON_MAX];
    for (size_t i = 0; i < pb->n_entries; i++) {
        const Logproto__EntryAdapter *e = pb->entries[i];
        if (check_metadata(&logingest_req_shard(r)->cfg, st, e, reason, sizeof reason)) {
            reject(r, LOGINGEST_REJ_METADATA, 1, idx, reason);
            continue;
        }
        struct label *md = NULL;
        if (e->n_structured_metadata) {
            md = arena_alloc(&r->base.arena, e->n_structured_metadata * sizeof *md);
            if (!md)
                return ERR_NOMEM;
            for (size_t j = 0; j < e->n_structured_metadata; j++)
                md[j] = (struct label){wire_str(e->structured_metadata[j]->name),
                                       wire_str(e->structured_metadata[j]->value)};
        }
        ents[k++] = (struct logstore_entry_in){.ts_ns = lokipush_entry_ts_ns(e),
                                               .line = wire_str(e->line),
                                               .md = md,
                                               .n_md = e->n_structured_metadata};
    }
    out->entries = ents;
    out->n_entries = k;
    return 0;
}

/* Validates stream idx and, when it has entries to store, fills sp->all[idx] and its owner. */
static int place_stream(struct logingest_req *r, struct split *sp, uint32_t idx)
{
    struct logingest_shard *s = logingest_req_shard(r);
    const struct lokipush_stream *st = &r->push.streams[idx];
    const Logproto__StreamAdapter *pb = st->pb;
    r->reply.entries_total += pb->n_entries;
    for (size_t i = 0; i < pb->n_entries; i++)
        r->reply.bytes_total += pb->entries[i]->line.len;
    if (pb->n_entries == 0)
        return 0;
    char reason[LOGINGEST_REASON_MAX];
    if (check_labels(&s->cfg, st, reason, sizeof reason)) {
        reject(r, LOGINGEST_REJ_INVALID_STREAM, pb->n_entries, idx, reason);
        r->reply.streams_rejected++;
        metric_add(&s->stats.streams_invalid, 1);
        return 0;
    }
    struct logstore_stream_in *in = &sp->all[idx];
    int rc = convert_entries(r, idx, st, in);
    if (rc || in->n_entries == 0)
        return rc;
    struct label *with = arena_alloc(&r->base.arena, (st->n_labels + 1) * sizeof *with);
    if (!with)
        return ERR_NOMEM;
    in->n_labels = validate_labels_with_tenant(st->labels, st->n_labels, r->base.tenant, with);
    in->labels = with;
    in->hash = hash_labels(with, in->n_labels);
    dispatch_split_place(&sp->ds, idx, in->hash, s->d.nshards);
    r->entries_sent += in->n_entries;
    return 0;
}

static int build_parts(struct logingest_req *r, struct split *sp)
{
    uint32_t *slot;
    int rc = dispatch_split_parts(&r->base, &sp->ds, &slot);
    for (uint32_t k = 0; rc == 0 && k < r->base.nparts; k++) {
        struct logingest_part *p = (struct logingest_part *)dispatch_req_part(&r->base, k);
        p->streams = arena_alloc(&r->base.arena, sp->ds.count[p->owner] * sizeof *p->streams);
        if (!p->streams)
            rc = ERR_NOMEM;
    }
    for (uint32_t i = 0; rc == 0 && i < sp->ds.n; i++) {
        if (sp->ds.owner[i] == DISPATCH_NO_OWNER)
            continue;
        struct logingest_part *p =
            (struct logingest_part *)dispatch_req_part(&r->base, slot[sp->ds.owner[i]]);
        ((struct logstore_stream_in *)p->streams)[p->n_streams++] = sp->all[i];
    }
    return rc;
}

int logingest_req_split(struct logingest_req *r)
{
    struct logingest_shard *s = logingest_req_shard(r);
    uint32_t n = (uint32_t)r->push.n_streams;
    struct split sp = {.all = arena_alloc(&r->base.arena, (n + 1) * sizeof *sp.all)};
    if (!sp.all || dispatch_split_init(&r->base, &sp.ds, n))
        return ERR_NOMEM;
    memset(sp.all, 0, (n + 1) * sizeof *sp.all);
    r->reply.streams_total = n;
    for (uint32_t i = 0; i < n; i++) {
        int rc = place_stream(r, &sp, i);
        if (rc)
            return rc;
    }
    metric_add(&s->stats.entries_received, r->reply.entries_total);
    metric_add(&s->stats.bytes_received, r->reply.bytes_total);
    return build_parts(r, &sp);
}
