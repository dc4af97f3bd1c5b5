/* Listening sockets: address parsing (":9090", "127.0.0.1:0", "[::1]:9090", "localhost:3100") and
 * SO_REUSEPORT sockets so every shard can have its own socket on the same port (the kernel spreads
 * new connections across them).
 *
 * Errors: -errno or ERR_INVALID with a message in err[]. Threading: start-up only. */
#ifndef STRATA_SERVER_LISTENER_H
#define STRATA_SERVER_LISTENER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct listen_addr {
    char spec[128]; /* as configured */
    struct sockaddr_storage ss;
    socklen_t len;
    int dual_stack; /* ":port": an IPv6 socket that also takes IPv4 */
};

/* Resolves spec (getaddrinfo for host names). An empty host means every interface. */
int listener_resolve(const char *spec, struct listen_addr *out, char *err, size_t err_size);
/* Opens a listening socket (blocking mode; io_uring drives it) with SO_REUSEPORT. When the
 * address has port 0, the kernel's choice is written back into *a so the next call (the next
 * shard) binds the same port. Returns the fd or -errno. */
int listener_open(struct listen_addr *a, int backlog);
uint16_t listener_port(const struct listen_addr *a);
/* "host:port" of the bound address, for logs. */
void listener_format(const struct listen_addr *a, char *out, size_t size);

#endif
