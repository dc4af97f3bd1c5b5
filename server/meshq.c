/* The mesh retry queue of the ingest pipelines (meshq.h). */
#include "server/meshq.h"

#include <stddef.h>

static void push_tail(struct meshq *q, struct meshq_item *it)
{
    it->next = NULL;
    if (q->tail)
        q->tail->next = it;
    else
        q->head = it;
    q->tail = it;
}

bool meshq_send(struct meshq *q, struct mesh *m, uint32_t self, uint32_t to, struct mesh_msg *msg,
                struct meshq_item *it, int64_t now_ns)
{
    it->msg = msg;
    it->to = to;
    if (!q->head && mesh_send(m, self, to, msg) == 0)
        return true;
    it->since_ns = now_ns;
    push_tail(q, it);
    return false;
}

uint32_t meshq_poll(struct meshq *q, struct mesh *m, uint32_t self, int64_t now_ns,
                    int64_t timeout_ns, meshq_expired_fn expired, void *arg)
{
    struct meshq_item *it = q->head;
    struct meshq kept = {NULL, NULL};
    uint32_t nkept = 0;
    uint64_t blocked[MESH_SHARDS_MAX / 64] = {0}; /* lanes with a kept item: later ones wait too */
    q->head = q->tail = NULL;
    while (it) {
        struct meshq_item *next = it->next;
        it->next = NULL;
        bool lane_blocked = blocked[it->to / 64] >> (it->to % 64) & 1;
        if (!lane_blocked && mesh_send(m, self, it->to, it->msg) == 0) {
            /* sent */
        } else if (now_ns - it->since_ns > timeout_ns) {
            expired(arg, it);
        } else {
            push_tail(&kept, it);
            blocked[it->to / 64] |= 1ull << (it->to % 64);
            nkept++;
        }
        it = next;
    }
    /* items queued by expired() callbacks meanwhile go after the kept ones */
    if (kept.head) {
        kept.tail->next = q->head;
        if (!q->head)
            q->tail = kept.tail;
        q->head = kept.head;
    }
    return nkept;
}
