/* Fan-outs, home side (query.h, query_internal.h): a query thread builds a spec and posts the
 * fan-out; the shard loop sends one request per shard, queues the pieces that come back per owner
 * and wakes the query thread; the query thread takes pieces in order and gives them back when
 * read; the loop releases them to their owners (which then produce the next ones) and frees the
 * fan-out once the consumer closed it, every owner sent its final reply and every piece went
 * home. */
#include <stdlib.h>
#include <string.h>

#include "base/assert.h"
#include "base/error.h"
#include "server/query_internal.h"

/* ---- specs ---- */

static int copy_matcher(struct matcher *dst, const struct matcher *src)
{
    char err[8];
    return matcher_init(dst, src->type, src->name, src->value, err, sizeof err);
}

int query_spec_matchers(struct query_spec *s, const struct query_matchsets *ms, struct str tenant)
{
    char err[8];
    int rc = matcher_init(&s->tenant_m, MATCHER_EQ, STR_LIT(VALIDATE_TENANT_LABEL), tenant, err,
                          sizeof err);
    if (rc)
        return rc;
    s->tenant_ok = true;
    if (!ms || ms->n == 0)
        return 0;
    size_t total = 0;
    for (size_t i = 0; i < ms->n; i++)
        total += ms->lens[i] + 1;
    s->matchers = calloc(total, sizeof *s->matchers);
    s->lens = calloc(ms->n, sizeof *s->lens);
    if (!s->matchers || !s->lens)
        return ERR_NOMEM;
    s->nsets = ms->n;
    for (size_t i = 0; i < ms->n; i++) {
        for (size_t k = 0; k < ms->lens[i] && !rc; k++)
            if ((rc = copy_matcher(&s->matchers[s->nmatchers], &ms->sets[i][k])) == 0)
                s->nmatchers++;
        if (!rc && (rc = copy_matcher(&s->matchers[s->nmatchers], &s->tenant_m)) == 0)
            s->nmatchers++;
        if (rc)
            return rc;
        s->lens[i] = ms->lens[i] + 1;
    }
    return 0;
}

void query_spec_free(struct query_spec *s)
{
    for (size_t i = 0; i < s->nmatchers; i++)
        matcher_deinit(&s->matchers[i]);
    free(s->matchers);
    free(s->lens);
    if (s->tenant_ok)
        matcher_deinit(&s->tenant_m);
    free((char *)s->name.ptr);
    free(s->contains); /* the literals' bytes live in the same allocation */
    memset(s, 0, sizeof *s);
}

/* ---- query thread side ---- */

static void add_attn_locked(struct query_shard *q, struct query_fan *f)
{
    if (f->in_attn)
        return;
    f->in_attn = true;
    f->attn_next = q->attn;
    q->attn = f;
}

struct query_fan *query_fan_start(struct query_job *j, struct query_spec *spec)
{
    struct query_shard *q = j->q;
    struct query_fan *f = calloc(1, sizeof *f);
    if (f) {
        f->reqs = calloc(q->nshards, sizeof *f->reqs);
        f->streams = calloc(q->nshards, sizeof *f->streams);
    }
    if (!f || !f->reqs || !f->streams) {
        if (f) {
            free(f->reqs);
            free(f->streams);
        }
        free(f);
        query_spec_free(spec);
        return NULL;
    }
    f->q = q;
    f->job = j;
    f->spec = *spec;
    memset(spec, 0, sizeof *spec);
    f->spec.deadline_ns = j->deadline_ns;
    f->spec.piece_bytes = q->cfg.piece_bytes;
    f->spec.pieces_in_flight = q->cfg.pieces_in_flight;
    f->spec.stats_pairs_max = q->cfg.stats_pairs_max;
    f->owners_left = q->nshards;
    for (uint32_t i = 0; i < q->nshards; i++) {
        struct query_req *r = &f->reqs[i];
        mesh_msg_init(&r->hdr, QUERY_MSG_REQ, q->self);
        r->fan = f;
        r->shard = i;
        r->spec = &f->spec;
        r->cancel = &f->cancel;
    }
    pthread_mutex_lock(&q->lock);
    f->job_next = j->fans;
    j->fans = f;
    if (atomic_load(&j->canceled))
        atomic_store(&f->cancel, 1);
    f->post_next = q->posted;
    q->posted = f;
    bool wake = query_need_wake_locked(q);
    pthread_mutex_unlock(&q->lock);
    if (wake)
        query_do_wake(q);
    return f;
}

int query_fan_next(struct query_fan *f, uint32_t i, struct query_piece **out, int *rc_out)
{
    struct query_shard *q = f->q;
    ASSERT(i < q->nshards && !f->consumer_closed);
    pthread_mutex_lock(&q->lock);
    for (;;) {
        struct query_stream *s = &f->streams[i];
        if (s->head) {
            struct query_piece *p = s->head;
            s->head = p->link;
            if (!s->head)
                s->tail = NULL;
            pthread_mutex_unlock(&q->lock);
            p->link = NULL;
            *out = p;
            return 1;
        }
        if (s->done) {
            *rc_out = s->rc;
            pthread_mutex_unlock(&q->lock);
            return 0;
        }
        int rc = query_wait_locked(f->job);
        if (rc) {
            pthread_mutex_unlock(&q->lock);
            return rc;
        }
    }
}

void query_fan_give_back(struct query_fan *f, struct query_piece *p)
{
    struct query_shard *q = f->q;
    pthread_mutex_lock(&q->lock);
    p->link = f->release;
    f->release = p;
    add_attn_locked(q, f);
    bool wake = query_need_wake_locked(q);
    pthread_mutex_unlock(&q->lock);
    if (wake)
        query_do_wake(q);
}

int query_fan_wait_all(struct query_fan *f)
{
    struct query_shard *q = f->q;
    pthread_mutex_lock(&q->lock);
    int rc = 0;
    while (f->owners_left > 0 && rc == 0)
        rc = query_wait_locked(f->job);
    for (uint32_t i = 0; i < q->nshards && rc == 0; i++)
        rc = f->streams[i].rc;
    pthread_mutex_unlock(&q->lock);
    return rc;
}

static void unlink_job_locked(struct query_fan *f)
{
    struct query_fan **pp = &f->job->fans;
    while (*pp && *pp != f)
        pp = &(*pp)->job_next;
    if (*pp)
        *pp = f->job_next;
    f->job_next = NULL;
    f->job = NULL;
}

void query_fan_close(struct query_fan *f)
{
    struct query_shard *q = f->q;
    pthread_mutex_lock(&q->lock);
    for (uint32_t i = 0; i < q->nshards; i++) {
        struct query_stream *s = &f->streams[i];
        while (s->head) {
            struct query_piece *p = s->head;
            s->head = p->link;
            p->link = f->release;
            f->release = p;
        }
        s->tail = NULL;
    }
    f->consumer_closed = true;
    if (f->owners_left > 0)
        atomic_store(&f->cancel, 1);
    unlink_job_locked(f);
    add_attn_locked(q, f);
    bool wake = query_need_wake_locked(q);
    pthread_mutex_unlock(&q->lock);
    if (wake)
        query_do_wake(q);
}

/* ---- shard thread side ---- */

static void fan_free(struct query_shard *q, struct query_fan *f)
{
    if (f->live_prev)
        f->live_prev->live_next = f->live_next;
    else
        q->live = f->live_next;
    if (f->live_next)
        f->live_next->live_prev = f->live_prev;
    q->nlive--;
    query_spec_free(&f->spec);
    free(f->reqs);
    free(f->streams);
    free(f);
}

/* Frees f when nothing references it any more. */
static void maybe_free(struct query_shard *q, struct query_fan *f)
{
    pthread_mutex_lock(&q->lock);
    bool unused =
        f->consumer_closed && f->owners_left == 0 && f->held == 0 && !f->in_attn && !f->release;
    pthread_mutex_unlock(&q->lock);
    if (unused)
        fan_free(q, f);
}

static void release_piece(struct query_shard *q, struct query_fan *f, struct query_piece *p)
{
    ASSERT(f->held > 0);
    f->held--;
    mesh_release(q->mesh, q->self, &p->hdr);
}

static void send_req(struct query_shard *q, struct query_req *r)
{
    if (!q->send_head && mesh_send(q->mesh, q->self, r->shard, &r->hdr) == 0)
        return;
    r->send_next = NULL;
    if (q->send_tail)
        q->send_tail->send_next = r;
    else
        q->send_head = r;
    q->send_tail = r;
}

void query_home_send_pending(struct query_shard *q)
{
    struct query_req *r = q->send_head, *keep = NULL, *keep_tail = NULL;
    q->send_head = q->send_tail = NULL;
    while (r) {
        struct query_req *next = r->send_next;
        r->send_next = NULL;
        if (mesh_send(q->mesh, q->self, r->shard, &r->hdr) != 0) {
            if (keep_tail)
                keep_tail->send_next = r;
            else
                keep = r;
            keep_tail = r;
        }
        r = next;
    }
    q->send_head = keep;
    q->send_tail = keep_tail;
}

void query_home_take_locked(struct query_shard *q, struct query_home_work *w)
{
    w->posted = q->posted;
    w->release = NULL;
    w->check = NULL;
    q->posted = NULL;
    struct query_fan *f = q->attn;
    q->attn = NULL;
    while (f) {
        struct query_fan *next = f->attn_next;
        f->in_attn = false;
        f->attn_next = NULL;
        while (f->release) {
            struct query_piece *p = f->release;
            f->release = p->link;
            p->link = w->release;
            w->release = p;
        }
        if (f->consumer_closed) {
            f->check_next = w->check;
            w->check = f;
        }
        f = next;
    }
}

void query_home_process(struct query_shard *q, struct query_home_work *w)
{
    for (struct query_fan *f = w->posted, *next; f; f = next) {
        next = f->post_next;
        f->post_next = NULL;
        f->live_prev = NULL;
        f->live_next = q->live;
        if (q->live)
            q->live->live_prev = f;
        q->live = f;
        q->nlive++;
        q->stats.fanouts++;
        for (uint32_t i = 0; i < q->nshards; i++)
            send_req(q, &f->reqs[i]);
    }
    for (struct query_piece *p = w->release, *next; p; p = next) {
        next = p->link;
        p->link = NULL;
        release_piece(q, p->req->fan, p);
    }
    for (struct query_fan *f = w->check, *next; f; f = next) {
        next = f->check_next;
        f->check_next = NULL;
        maybe_free(q, f);
    }
}

void query_home_piece(struct query_shard *q, struct query_piece *p)
{
    struct query_fan *f = p->req->fan;
    f->held++;
    pthread_mutex_lock(&q->lock);
    if (f->consumer_closed) {
        pthread_mutex_unlock(&q->lock);
        release_piece(q, f, p);
        return;
    }
    struct query_stream *s = &f->streams[p->shard];
    p->link = NULL;
    if (s->tail)
        s->tail->link = p;
    else
        s->head = p;
    s->tail = p;
    pthread_cond_broadcast(&f->job->cond);
    pthread_mutex_unlock(&q->lock);
}

void query_home_final(struct query_shard *q, struct query_req *r)
{
    struct query_fan *f = r->fan;
    pthread_mutex_lock(&q->lock);
    struct query_stream *s = &f->streams[r->shard];
    s->done = true;
    s->rc = r->rc;
    ASSERT(f->owners_left > 0);
    f->owners_left--;
    bool closed = f->consumer_closed;
    if (!closed)
        pthread_cond_broadcast(&f->job->cond);
    pthread_mutex_unlock(&q->lock);
    if (closed)
        maybe_free(q, f);
}
