/* The server process: data-directory lock, listening sockets, the cross-core mesh, N shard threads,
 * and the life cycle STARTING -> SERVING -> STOPPING (the state /ready reports).
 *
 * Threading: server_start/server_request_stop/server_destroy run on the main thread; the state and
 * the connection count are atomics any shard may read; shards get the server read-only otherwise.
 */
#ifndef STRATA_SERVER_SERVER_H
#define STRATA_SERVER_SERVER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "server/config.h"
#include "server/listener.h"
#include "server/metrics.h"

struct shard;
struct mesh;

enum server_state { SERVER_STARTING = 0, SERVER_SERVING = 1, SERVER_STOPPING = 2 };

struct server {
    const struct server_config *cfg;
    struct listen_addr addrs[CONFIG_LISTEN_MAX];
    uint32_t naddrs;
    uint32_t nshards;
    struct shard **shards;
    struct mesh *mesh;
    int lock_fd;
    _Atomic int state;           /* enum server_state */
    _Atomic uint32_t conns_open; /* all shards; changed on accept/close only */
    uint32_t shards_started;
    _Atomic uint32_t shards_exited;
    _Atomic uint32_t shards_quiesced; /* stopping shards without connections (see shard.h) */
    int64_t start_mono_ns;
    int64_t stop_mono_ns;
    const char *route_names[METRICS_ROUTES_MAX]; /* [0] "unmatched", then server_routes */
};

/* Locks the data dir, probes io_uring, opens sockets, creates the mesh and starts the shards;
 * returns when every shard serves (state SERVING). On failure everything is undone and err[]
 * explains. */
int server_start(struct server *s, const struct server_config *cfg, char *err, size_t err_size);
/* Begins the graceful stop (any number of times): state STOPPING, shards stop accepting, finish
 * in-flight requests within the grace period, then exit. */
void server_request_stop(struct server *s);
/* True once every shard thread has exited. */
bool server_stopped(struct server *s);
/* Stops (if not yet), joins the shards and frees everything; also undoes a failed start. */
void server_destroy(struct server *s);

static inline enum server_state server_state_get(struct server *s)
{
    return (enum server_state)atomic_load_explicit(&s->state, memory_order_acquire);
}

#endif
