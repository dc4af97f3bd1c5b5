/* The owner side of log ingest: the append into the shard's log store, answered through push
 * dispatch once the part is durable (see logingest.h, dispatch.h). */
#include <errno.h>
#include <string.h>

#include "base/error.h"
#include "base/log.h"
#include "server/logingest_internal.h"

int logingest_owner_apply(void *proto, struct dispatch_part *part)
{
    struct logingest_shard *s = proto;
    struct logingest_part *p = (struct logingest_part *)part;
    memset(&p->res, 0, sizeof p->res);
    p->res.first_reject = -1;
    if (!s->ops) {
        p->rc = ERR_CLOSED; /* no store attached (starting or stopping) */
        return 1;
    }
    p->rc =
        s->ops->append(s->store, p->streams, p->n_streams, &p->res, dispatch_part_durable, part);
    if (p->rc == 0)
        return 0; /* dispatch_part_durable completes it */
    if (p->rc != ERR_FULL && p->rc != -ENOSPC && p->rc != ERR_CLOSED && p->rc != ERR_LIMIT)
        log_warn("log push: append failed", LOG_ERR(p->rc), LOG_UINT("streams", p->n_streams));
    return 1;
}
