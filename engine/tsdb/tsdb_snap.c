/* The head-cut snapshot: the closed chunks of one chunk range copied out of the head's block set
 * (labels and chunk descriptors in an arena; chunk bytes stay views into the pinned head chunk
 * maps), and a chunk series set over it that the worker thread hands to block_write. */
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "engine/tsdb/tsdb_internal.h"

void tsdb_snap_init(struct tsdb_snap *s)
{
    memset(s, 0, sizeof *s);
    arena_init(&s->arena, 64 * 1024);
}

void tsdb_snap_deinit(struct tsdb_snap *s)
{
    arena_deinit(&s->arena);
    free(s->series);
    memset(s, 0, sizeof *s);
    arena_init(&s->arena, 64 * 1024);
}

static int copy_labels(struct tsdb_snap *s, const struct chunk_series *cs, struct label **out)
{
    struct label *l = arena_alloc(&s->arena, (cs->n_labels ? cs->n_labels : 1) * sizeof *l);
    if (!l)
        return ERR_NOMEM;
    for (size_t i = 0; i < cs->n_labels; i++) {
        struct str nm = cs->labels[i].name, v = cs->labels[i].value;
        char *p = arena_alloc_aligned(&s->arena, nm.len + v.len + 1, 1);
        if (!p)
            return ERR_NOMEM;
        if (nm.len)
            memcpy(p, nm.ptr, nm.len);
        if (v.len)
            memcpy(p + nm.len, v.ptr, v.len);
        l[i].name = (struct str){p, nm.len};
        l[i].value = (struct str){p + nm.len, v.len};
    }
    *out = l;
    return 0;
}

int tsdb_snap_add(struct tsdb_snap *s, const struct chunk_series *cs)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 256;
        void *p = realloc(s->series, cap * sizeof *s->series);
        if (!p)
            return ERR_NOMEM;
        s->series = p;
        s->cap = cap;
    }
    struct label *l;
    int rc = copy_labels(s, cs, &l);
    if (rc)
        return rc;
    struct chunk_meta *c = arena_alloc(&s->arena, (cs->n_chunks ? cs->n_chunks : 1) * sizeof *c);
    if (!c)
        return ERR_NOMEM;
    if (cs->n_chunks)
        memcpy(c, cs->chunks, cs->n_chunks * sizeof *c);
    s->series[s->n++] = (struct tsdb_snap_series){l, cs->n_labels, c, cs->n_chunks};
    return 0;
}

/* ---- the set ---- */

struct snap_set {
    struct chunk_series_set base;
    const struct tsdb_snap *s;
    size_t pos; /* 1 + index of the current series; 0 before the first */
    struct chunk_series cur;
};

static int snap_next(struct chunk_series_set *base)
{
    struct snap_set *ss = (struct snap_set *)base;
    if (ss->pos >= ss->s->n)
        return 0;
    const struct tsdb_snap_series *x = &ss->s->series[ss->pos++];
    ss->cur = (struct chunk_series){x->labels, x->n_labels, x->chunks, x->n_chunks};
    return 1;
}

static const struct chunk_series *snap_at(struct chunk_series_set *base)
{
    return &((struct snap_set *)base)->cur;
}

static void snap_close(struct chunk_series_set *base)
{
    free(base);
}

static const struct chunk_series_set_ops snap_ops = {snap_next, snap_at, snap_close};

int tsdb_snap_set(const struct tsdb_snap *s, struct chunk_series_set **out)
{
    struct snap_set *ss = calloc(1, sizeof *ss);
    if (!ss)
        return ERR_NOMEM;
    ss->base.ops = &snap_ops;
    ss->s = s;
    *out = &ss->base;
    return 0;
}
