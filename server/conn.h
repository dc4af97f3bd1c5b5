/* An HTTP/1.1 connection on a shard's loop: recv into a growable buffer, incremental parsing,
 * pipelined requests answered in order, handler dispatch through the route table, request
 * Content-Encoding decoding, gzip responses, 100-continue, keep-alive for 1.0 and 1.1, timeouts,
 * and lingering close after the last response so the client reads it before the socket goes away.
 *
 * Memory per connection is bounded: the input buffer never exceeds the head + body limits (chunk
 * framing is compacted away as it is parsed), and queued output stops parsing new requests past a
 * high-water mark (pipelining backpressure).
 *
 * Threading: a connection belongs to its shard's thread. */
#ifndef STRATA_SERVER_CONN_H
#define STRATA_SERVER_CONN_H

#include <stdbool.h>
#include <stdint.h>

struct shard;
struct conn;

/* Takes ownership of an accepted socket and starts reading. */
void conn_accept(struct shard *sh, int fd);
/* Handles every connection whose deadline passed. */
void conn_expire(struct shard *sh, int64_t now_ns);
/* Server stopping: idle connections close now; busy ones finish their current request and close. */
void conn_shutdown_all(struct shard *sh);
/* Grace period over: every connection is cut. */
void conn_abort_all(struct shard *sh);
/* Frees connections that finished closing (call between loop iterations). */
void conn_reap(struct shard *sh);

#endif
