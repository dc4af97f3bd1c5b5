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

int ls_merge_add_chunk(struct ls_merge *m, const uint8_t *bytes, size_t len)
{
    struct ls_mcur *c = cursor_add(m);
    if (!c)
        return ERR_NOMEM;
    int rc = logchunk_reader_open(&c->r, bytes, len);
    if (rc) {
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
    logchunk_iter_open_writer(&c->it, w, m->mint, m->maxt, m->dir);
    return 0;
}

static int advance(struct ls_merge *m, struct ls_mcur *c)
{
    uint64_t bl = c->it.blocks_loaded, bd = c->it.bytes_decompressed;
    c->live = logchunk_iter_next(&c->it);
    m->blocks_loaded += c->it.blocks_loaded - bl;
    m->bytes_decompressed += c->it.bytes_decompressed - bd;
    return c->live ? 0 : logchunk_iter_err(&c->it);
}

/* The cursor holding the next entry (NULL: none). */
static struct ls_mcur *pick(struct ls_merge *m)
{
    struct ls_mcur *best = NULL;
    int64_t bt = 0;
    for (size_t i = 0; i < m->n; i++) {
        struct ls_mcur *c = &m->c[i];
        if (!c->live)
            continue;
        int64_t t = logchunk_iter_at(&c->it)->ts_ns;
        if (!best || (m->dir == LOGCHUNK_FORWARD ? t < bt : t > bt)) {
            best = c;
            bt = t;
        }
    }
    return best;
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
        for (size_t i = 0; i < m->n; i++)
            if ((m->err = advance(m, &m->c[i])) != 0)
                return m->err;
    } else if (m->cur_c) {
        struct ls_mcur *c = m->cur_c;
        m->cur = NULL;
        m->cur_c = NULL;
        if ((m->err = advance(m, c)) != 0)
            return m->err;
    }
    for (;;) {
        struct ls_mcur *c = pick(m);
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
