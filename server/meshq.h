/* Sending request parts over the cross-shard mesh with a bounded wait for lane space, shared by the
 * metrics (server/ingest.c) and log (server/logingest.c) ingest pipelines.
 *
 * mesh_send refuses a message when its lane is full (engine/shard/mesh.h: backpressure, never an
 * unbounded queue). A pipeline keeps such a part on its shard's meshq and retries it once per loop
 * iteration (meshq_poll, from the shard's before_wait); a part that found no room for longer than
 * the pipeline's timeout is handed back to the pipeline (which answers 503). Once one part waits,
 * every later part waits behind it, so parts of one shard reach an owner in the order they were
 * dispatched.
 *
 * The queue is intrusive: each part embeds a struct meshq_item; nothing is allocated.
 * Threading: a meshq belongs to one shard thread (the mesh producer `self`). */
#ifndef STRATA_SERVER_MESHQ_H
#define STRATA_SERVER_MESHQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/shard/mesh.h"

struct meshq_item {
    struct mesh_msg *msg;
    struct meshq_item *next;
    uint32_t to;
    int64_t since_ns; /* when it first found its lane full */
};

struct meshq {
    struct meshq_item *head, *tail;
};

/* Called for an item that waited longer than the timeout (it is off the queue). It may send or
 * queue new items on the same meshq (e.g. a reply lets a connection dispatch its next request). */
typedef void (*meshq_expired_fn)(void *arg, struct meshq_item *it);

/* Sends msg to shard `to` through `self`'s lane, or queues it (it) behind the items already
 * waiting. Returns true when sent now, false when queued. */
bool meshq_send(struct meshq *q, struct mesh *m, uint32_t self, uint32_t to, struct mesh_msg *msg,
                struct meshq_item *it, int64_t now_ns);

/* Retries every waiting item in order; items waiting longer than timeout_ns are removed and passed
 * to expired(arg, it). Returns how many items are still waiting that were retried in vain (for a
 * retry counter). */
uint32_t meshq_poll(struct meshq *q, struct mesh *m, uint32_t self, int64_t now_ns,
                    int64_t timeout_ns, meshq_expired_fn expired, void *arg);

static inline bool meshq_waiting(const struct meshq *q)
{
    return q->head != NULL;
}

#endif
