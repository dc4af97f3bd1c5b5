/* The owner side of log ingest: the append into the shard's log store and the answer to the
 * accepting shard once the part is durable (see logingest.h). */
#include <errno.h>
#include <string.h>

#include "base/error.h"
#include "base/log.h"
#include "server/logingest_internal.h"

/* Hands p back: to ourselves when we accepted it, else over the mesh. */
static void complete(struct logingest_shard *s, struct logingest_part *p)
{
    if (p->hdr.owner == s->self)
        logingest_part_returned(s, p);
    else
        mesh_reply(s->mesh, s->self, &p->hdr);
}

static void part_durable(void *arg, int result)
{
    (void)result;
    struct logingest_part *p = arg;
    struct logingest_shard *s = p->applier;
    s->owner_pending--;
    complete(s, p);
}

void logingest_owner_apply(struct logingest_shard *s, struct logingest_part *p)
{
    p->applier = s;
    memset(&p->res, 0, sizeof p->res);
    p->res.first_reject = -1;
    metric_add(&s->stats.parts_applied, 1);
    if (!s->ops) {
        p->rc = ERR_CLOSED; /* no store attached (starting or stopping) */
        complete(s, p);
        return;
    }
    s->owner_pending++;
    p->rc = s->ops->append(s->store, p->streams, p->n_streams, &p->res, part_durable, p);
    if (p->rc == 0)
        return; /* part_durable completes it */
    s->owner_pending--;
    if (p->rc != ERR_FULL && p->rc != -ENOSPC && p->rc != ERR_CLOSED && p->rc != ERR_LIMIT)
        log_warn("log push: append failed", LOG_ERR(p->rc), LOG_UINT("streams", p->n_streams));
    complete(s, p);
}
