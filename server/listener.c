/* Listening-socket set-up: address resolution and SO_REUSEPORT sockets. */
#include "server/listener.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/error.h"

static int split_host_port(const char *spec, char *host, size_t hsz, char *port, size_t psz)
{
    const char *colon;
    if (spec[0] == '[') {
        const char *close = strchr(spec, ']');
        if (!close || close[1] != ':')
            return ERR_INVALID;
        if ((size_t)(close - spec - 1) >= hsz)
            return ERR_INVALID;
        memcpy(host, spec + 1, (size_t)(close - spec - 1));
        host[close - spec - 1] = 0;
        colon = close + 1;
    } else {
        colon = strrchr(spec, ':');
        if (!colon || (size_t)(colon - spec) >= hsz)
            return ERR_INVALID;
        memcpy(host, spec, (size_t)(colon - spec));
        host[colon - spec] = 0;
        if (strchr(host, ':'))
            return ERR_INVALID; /* bare IPv6 needs brackets */
    }
    if (!colon[1] || strlen(colon + 1) >= psz)
        return ERR_INVALID;
    for (const char *p = colon + 1; *p; p++)
        if (*p < '0' || *p > '9')
            return ERR_INVALID;
    snprintf(port, psz, "%s", colon + 1);
    return atoi(port) <= 65535 ? 0 : ERR_INVALID;
}

int listener_resolve(const char *spec, struct listen_addr *out, char *err, size_t err_size)
{
    char host[96], port[8];
    memset(out, 0, sizeof *out);
    snprintf(out->spec, sizeof out->spec, "%s", spec);
    if (split_host_port(spec, host, sizeof host, port, sizeof port)) {
        snprintf(err, err_size, "bad listen address '%s' (want HOST:PORT, :PORT or [V6]:PORT)",
                 spec);
        return ERR_INVALID;
    }
    if (!host[0]) {
        /* every interface: IPv6 any with IPv4 mapped, falling back to IPv4 at open time */
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&out->ss;
        s6->sin6_family = AF_INET6;
        s6->sin6_addr = in6addr_any;
        s6->sin6_port = htons((uint16_t)atoi(port));
        out->len = sizeof *s6;
        out->dual_stack = 1;
        return 0;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0 || !res) {
        snprintf(err, err_size, "cannot resolve listen address '%s': %s", spec, gai_strerror(rc));
        return ERR_INVALID;
    }
    memcpy(&out->ss, res->ai_addr, res->ai_addrlen);
    out->len = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

static int open_family(struct listen_addr *a, int backlog)
{
    int fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int one = 1, zero = 0;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) ||
        (a->dual_stack && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero)) ||
        bind(fd, (struct sockaddr *)&a->ss, a->len) || listen(fd, backlog)) {
        int e = -errno;
        close(fd);
        return e;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one); /* inherited by accepted sockets */
    if (listener_port(a) == 0) {
        struct sockaddr_storage got;
        socklen_t gl = sizeof got;
        if (getsockname(fd, (struct sockaddr *)&got, &gl) == 0) {
            uint16_t port = got.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&got)->sin6_port
                                                      : ((struct sockaddr_in *)&got)->sin_port;
            if (a->ss.ss_family == AF_INET6)
                ((struct sockaddr_in6 *)&a->ss)->sin6_port = port;
            else
                ((struct sockaddr_in *)&a->ss)->sin_port = port;
        }
    }
    return fd;
}

int listener_open(struct listen_addr *a, int backlog)
{
    int fd = open_family(a, backlog);
    if (fd == -EAFNOSUPPORT && a->dual_stack) {
        /* no IPv6 on this host: plain IPv4 any */
        uint16_t port = ((struct sockaddr_in6 *)&a->ss)->sin6_port;
        struct sockaddr_in *s4 = (struct sockaddr_in *)&a->ss;
        memset(&a->ss, 0, sizeof a->ss);
        s4->sin_family = AF_INET;
        s4->sin_addr.s_addr = htonl(INADDR_ANY);
        s4->sin_port = port;
        a->len = sizeof *s4;
        a->dual_stack = 0;
        fd = open_family(a, backlog);
    }
    return fd;
}

uint16_t listener_port(const struct listen_addr *a)
{
    if (a->ss.ss_family == AF_INET6)
        return ntohs(((const struct sockaddr_in6 *)&a->ss)->sin6_port);
    return ntohs(((const struct sockaddr_in *)&a->ss)->sin_port);
}

void listener_format(const struct listen_addr *a, char *out, size_t size)
{
    char host[INET6_ADDRSTRLEN] = "";
    if (a->dual_stack) {
        snprintf(out, size, ":%u", listener_port(a));
        return;
    }
    if (a->ss.ss_family == AF_INET6) {
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)&a->ss)->sin6_addr, host, sizeof host);
        snprintf(out, size, "[%s]:%u", host, listener_port(a));
    } else {
        inet_ntop(AF_INET, &((const struct sockaddr_in *)&a->ss)->sin_addr, host, sizeof host);
        snprintf(out, size, "%s:%u", host, listener_port(a));
    }
}
