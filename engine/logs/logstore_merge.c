/* Time-ordered k-way merge of a stream's log chunks (finished chunk bytes and open writers) with
 * duplicate removal: of several entries with the same timestamp, one equal in line and metadata
 * to an entry already returned is dropped. Used by the head cut (re-encoding a stream's chunks
 * into block chunks) and by selects reading the head. */
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "engine/logs/logstore_internal.h"

void ls_merge_init(struct ls_merge *m)
{
    memset(m, 0, sizeof *m);
}

void ls_merge_deinit(struct ls_merge *m)
{
    for (size_t i = 0; i < m->cap; i++)
        logchunk_iter_deinit(&m->c[i].it);
    free(m->c);
    free(m->order);
    free(m->live);
    free(m->grp);
    memset(m, 0, sizeof *m);
}

void ls_merge_reset(struct ls_merge *m, int64_t mint, int64_t maxt, enum logchunk_dir dir)
{
    m->n = 0;
    m->mint = mint;
    m->maxt = maxt;
    m->dir = dir;
    m->cur = NULL;
    m->cur_c = NULL;
    m->n_grp = 0;
    m->grp_started = false;
    m->started = false;
    m->n_live = m->next_start = 0;
    m->err = 0;
}

static struct ls_mcur *cursor_add(struct ls_merge *m)
{
    if (m->n == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 4;
        struct ls_mcur *c = realloc(m->c, cap * sizeof *c);
        if (!c)
            return NULL;
        for (size_t i = m->cap; i < cap; i++)
            logchunk_iter_init(&c[i].it);
        m->c = c;
        m->cap = cap;
    }
    struct ls_mcur *c = &m->c[m->n++];
    c->live = false;
    return c;
}

/* Where a cursor's entries start in the merge's direction, within the range; false when it holds
 * none in the range. */
static bool cursor_bound(const struct ls_merge *m, int64_t mint, int64_t maxt, int64_t *bound)
{
    if (mint > maxt || maxt < m->mint || mint >= m->maxt)
        return false;
    if (m->dir == LOGCHUNK_FORWARD)
        *bound = mint > m->mint ? mint : m->mint;
    else
        *bound = maxt < m->maxt - 1 ? maxt : m->maxt - 1;
    return true;
}

int ls_merge_add_chunk(struct ls_merge *m, const uint8_t *bytes, size_t len)
{
    struct ls_mcur *c = cursor_add(m);
    if (!c)
        return ERR_NOMEM;
    int rc = logchunk_reader_open(&c->r, bytes, len);
    if (rc || !cursor_bound(m, c->r.mint, c->r.maxt, &c->bound)) {
        m->n--;
        return rc;
    }
    logchunk_iter_open_reader(&c->it, &c->r, m->mint, m->maxt, m->dir);
    return 0;
}

int ls_merge_add_writer(struct ls_merge *m, const struct logchunk_writer *w)
{
    struct ls_mcur *c = cursor_add(m);
    if (!c)
        return ERR_NOMEM;
    struct logchunk_stats st;
    logchunk_writer_stats(w, &st);
    if (!st.entries || !cursor_bound(m, st.mint, st.maxt, &c->bound)) {
        m->n--;
        return 0;
    }
    logchunk_iter_open_writer(&c->it, w, m->mint, m->maxt, m->dir);
    return 0;
}

/* Moves cursor c; an exhausted one leaves the live list and gives its buffers back. */
static int advance(struct ls_merge *m, struct ls_mcur *c)
{
    uint64_t bl = c->it.blocks_loaded, bd = c->it.bytes_decompressed;
    c->live = logchunk_iter_next(&c->it);
    m->blocks_loaded += c->it.blocks_loaded - bl;
    m->bytes_decompressed += c->it.bytes_decompressed - bd;
    if (c->live)
        return 0;
    int rc = logchunk_iter_err(&c->it);
    for (size_t i = 0; i < m->n_live; i++)
        if (m->live[i] == c) {
            m->live[i] = m->live[--m->n_live];
            break;
        }
    logchunk_iter_deinit(&c->it);
    logchunk_iter_init(&c->it);
    return rc;
}

static int start_cmp_fwd(const void *a, const void *b)
{
    const struct ls_mstart *x = a, *y = b;
    if (x->bound != y->bound)
        return x->bound < y->bound ? -1 : 1;
    return (x->idx > y->idx) - (x->idx < y->idx);
}

static int start_cmp_bwd(const void *a, const void *b)
{
    const struct ls_mstart *x = a, *y = b;
    if (x->bound != y->bound)
        return x->bound > y->bound ? -1 : 1;
    return (x->idx > y->idx) - (x->idx < y->idx);
}

/* The order in which cursors start: by bound in the direction (ties: insertion order). Only
 * cursors whose bound the merge has reached are started, so a stream's many disjoint chunks are
 * decoded one after the other, not all at once. */
static int plan(struct ls_merge *m)
{
    if (m->n > m->cap_plan) {
        struct ls_mstart *o = realloc(m->order, m->n * sizeof *o);
        struct ls_mcur **l = o ? realloc(m->live, m->n * sizeof *l) : NULL;
        if (o)
            m->order = o;
        if (!l)
            return ERR_NOMEM;
        m->live = l;
        m->cap_plan = m->n;
    }
    for (uint32_t i = 0; i < m->n; i++)
        m->order[i] = (struct ls_mstart){m->c[i].bound, i};
    if (m->n > 1)
        qsort(m->order, m->n, sizeof *m->order,
              m->dir == LOGCHUNK_FORWARD ? start_cmp_fwd : start_cmp_bwd);
    return 0;
}

static bool earlier(const struct ls_merge *m, int64_t a, int64_t b)
{
    return m->dir == LOGCHUNK_FORWARD ? a < b : a > b;
}

/* The live cursor holding the next entry (ties: insertion order), after starting every cursor
 * whose bound is not later than it. NULL at the end. */
static int pick(struct ls_merge *m, struct ls_mcur **out)
{
    for (;;) {
        struct ls_mcur *best = NULL;
        int64_t bt = 0;
        for (size_t i = 0; i < m->n_live; i++) {
            struct ls_mcur *c = m->live[i];
            int64_t t = logchunk_iter_at(&c->it)->ts_ns;
            if (!best || earlier(m, t, bt) || (t == bt && c < best)) {
                best = c;
                bt = t;
            }
        }
        if (m->next_start >= m->n || (best && earlier(m, bt, m->order[m->next_start].bound))) {
            *out = best;
            return 0;
        }
        struct ls_mcur *c = &m->c[m->order[m->next_start++].idx];
        m->live[m->n_live++] = c;
        int rc = advance(m, c);
        if (rc)
            return rc;
    }
}

/* True when e repeats an entry already returned at its timestamp (and remembers it if not).
 * Every entry is hashed: duplicates may sit in one cursor too (a writer's duplicate window does
 * not reach back to every block of its chunk), and this merge is what makes block chunks and head
 * reads duplicate-free for the select iterator, which relies on it. */
static int seen_before(struct ls_merge *m, const struct logchunk_entry *e, bool *dup)
{
    *dup = false;
    if (!m->grp_started || e->ts_ns != m->grp_ts) {
        m->grp_started = true;
        m->grp_ts = e->ts_ns;
        m->n_grp = 0;
    }
    uint64_t k = ls_entry_key(e->ts_ns, e->line, e->md, e->md_count);
    for (size_t i = 0; i < m->n_grp; i++) {
        if (m->grp[i] == k) {
            *dup = true;
            return 0;
        }
    }
    if (m->n_grp == m->cap_grp) {
        size_t cap = m->cap_grp ? m->cap_grp * 2 : 8;
        uint64_t *g = realloc(m->grp, cap * sizeof *g);
        if (!g)
            return ERR_NOMEM;
        m->grp = g;
        m->cap_grp = cap;
    }
    m->grp[m->n_grp++] = k;
    return 0;
}

int ls_merge_next(struct ls_merge *m)
{
    if (m->err)
        return m->err;
    if (!m->started) {
        m->started = true;
        if ((m->err = plan(m)) != 0)
            return m->err;
    } else if (m->cur_c) {
        struct ls_mcur *c = m->cur_c;
        m->cur = NULL;
        m->cur_c = NULL;
        if ((m->err = advance(m, c)) != 0)
            return m->err;
    }
    for (;;) {
        struct ls_mcur *c;
        if ((m->err = pick(m, &c)) != 0)
            return m->err;
        if (!c)
            return 0;
        const struct logchunk_entry *e = logchunk_iter_at(&c->it);
        bool dup;
        if ((m->err = seen_before(m, e, &dup)) != 0)
            return m->err;
        if (!dup) {
            m->cur = e;
            m->cur_c = c;
            return 1;
        }
        m->dups++;
        if ((m->err = advance(m, c)) != 0)
            return m->err;
    }
}
