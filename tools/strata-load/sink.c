/* A minimal HTTP/1.1 sink for measuring the client: accepts keep-alive connections, reads each
 * request (Content-Length bodies; chunked bodies are refused with 411), discards it and answers a
 * fixed status (every fail_every-th answer 503; every close_every-th answer on a connection is
 * followed by a silent close, as an idle timeout would). One thread, epoll, non-blocking sockets
 * (see run.h). */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tools/strata-load/run.h"

#define SINK_BUF (256 * 1024)

struct sconn {
    struct sconn *prev, *next; /* all open connections, to close them at the end */
    int fd;
    uint8_t *buf;
    size_t len;
    uint64_t body_left;
    uint32_t answered;
    bool close_after;
};

int ld_sink_open(struct ld_sink *s, const char *addr, int status, uint32_t fail_every)
{
    memset(s, 0, sizeof *s);
    s->fd = -1;
    s->status = status;
    s->fail_every = fail_every;
    char host[256];
    const char *colon = strrchr(addr, ':');
    if (!colon || (size_t)(colon - addr) >= sizeof host)
        return -EINVAL;
    memcpy(host, addr, (size_t)(colon - addr));
    host[colon - addr] = 0;
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE},
                    *ai;
    if (getaddrinfo(host[0] ? host : NULL, colon + 1, &hints, &ai))
        return -EINVAL;
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1;
    int rc = fd < 0 ? -errno : 0;
    if (!rc)
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (!rc && (bind(fd, ai->ai_addr, ai->ai_addrlen) || listen(fd, 1024)))
        rc = -errno;
    freeaddrinfo(ai);
    struct sockaddr_storage sa;
    socklen_t sl = sizeof sa;
    if (!rc && getsockname(fd, (struct sockaddr *)&sa, &sl))
        rc = -errno;
    if (rc) {
        if (fd >= 0)
            close(fd);
        return rc;
    }
    s->port = ntohs(sa.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&sa)->sin6_port
                                             : ((struct sockaddr_in *)&sa)->sin_port);
    s->fd = fd;
    return 0;
}

static const char *reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 411: return "Length Required";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return "Status";
    }
}

static void answer(struct ld_sink *s, struct sconn *c, int status)
{
    char out[256];
    int n;
    if (status == 204)
        n = snprintf(out, sizeof out, "HTTP/1.1 204 No Content\r\n%s\r\n",
                     c->close_after ? "Connection: close\r\n" : "");
    else
        n = snprintf(out, sizeof out,
                     "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n%s%s\r\n"
                     "sink\n",
                     status, reason(status),
                     status == 429 || status == 503 ? "Retry-After: 0\r\n" : "",
                     c->close_after ? "Connection: close\r\n" : "");
    ssize_t w = send(c->fd, out, (size_t)n, MSG_NOSIGNAL);
    if (w != n)
        c->close_after = true; /* a full socket buffer for a tiny answer: give up on it */
    if (s->close_every && ++c->answered % s->close_every == 0)
        c->close_after = true; /* like an idle timeout: no Connection: close warning */
}

/* Length of the head when complete, else 0. Sets the body length and connection options. */
static size_t sink_head(struct sconn *c, bool *chunked)
{
    uint8_t *e = memmem(c->buf, c->len, "\r\n\r\n", 4);
    if (!e)
        return 0;
    size_t hl = (size_t)(e - c->buf) + 4;
    c->body_left = 0;
    *chunked = false;
    c->close_after = false;
    for (uint8_t *l = memchr(c->buf, '\n', hl); l && l < e; l = memchr(l, '\n', (size_t)(e - l))) {
        l++;
        if (strncasecmp((char *)l, "content-length:", 15) == 0)
            c->body_left = strtoull((char *)l + 15, NULL, 10);
        else if (strncasecmp((char *)l, "transfer-encoding:", 18) == 0)
            *chunked = true;
        else if (strncasecmp((char *)l, "connection:", 11) == 0 &&
                 strncasecmp((char *)l + 11, " close", 6) == 0)
            c->close_after = true;
    }
    return hl;
}

/* Handles what is buffered; returns false when the connection must close. */
static bool drain(struct ld_sink *s, struct sconn *c)
{
    for (;;) {
        if (c->body_left) {
            size_t k = c->len < c->body_left ? c->len : (size_t)c->body_left;
            memmove(c->buf, c->buf + k, c->len - k);
            c->len -= k;
            c->body_left -= k;
            if (c->body_left)
                return true;
            uint64_t n = atomic_fetch_add(&s->requests, 1) + 1;
            answer(s, c, s->fail_every && n % s->fail_every == 0 ? 503 : s->status);
            if (c->close_after)
                return false;
            continue;
        }
        bool chunked;
        size_t hl = sink_head(c, &chunked);
        if (!hl)
            return c->len < SINK_BUF;
        if (chunked) {
            answer(s, c, 411);
            return false;
        }
        memmove(c->buf, c->buf + hl, c->len - hl);
        c->len -= hl;
        if (c->body_left == 0) {
            c->body_left = 0;
            uint64_t n = atomic_fetch_add(&s->requests, 1) + 1;
            answer(s, c, s->fail_every && n % s->fail_every == 0 ? 503 : s->status);
            if (c->close_after)
                return false;
        }
    }
}

static void conn_close(int ep, struct sconn *c)
{
    c->prev->next = c->next;
    if (c->next)
        c->next->prev = c->prev;
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    free(c->buf);
    free(c);
}

static void on_readable(struct ld_sink *s, int ep, struct sconn *c)
{
    for (;;) {
        ssize_t n = recv(c->fd, c->buf + c->len, SINK_BUF - c->len, 0);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n <= 0)
            return conn_close(ep, c);
        atomic_fetch_add_explicit(&s->bytes, (uint64_t)n, memory_order_relaxed);
        c->len += (size_t)n;
        if (!drain(s, c))
            return conn_close(ep, c);
    }
}

static void on_accept(int ep, int lfd, struct sconn *head)
{
    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        struct sconn *c = calloc(1, sizeof *c);
        uint8_t *b = malloc(SINK_BUF);
        if (!c || !b) {
            free(c), free(b), close(fd);
            continue;
        }
        c->fd = fd;
        c->buf = b;
        c->prev = head;
        c->next = head->next;
        if (head->next)
            head->next->prev = c;
        head->next = c;
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev))
            conn_close(ep, c);
    }
}

void ld_sink_serve(struct ld_sink *s)
{
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event lev = {.events = EPOLLIN, .data.ptr = NULL};
    if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, s->fd, &lev)) {
        if (ep >= 0)
            close(ep);
        return;
    }
    struct epoll_event evs[64];
    struct sconn head = {0};
    while (!atomic_load_explicit(&s->stop, memory_order_relaxed)) {
        int n = epoll_wait(ep, evs, 64, 50);
        for (int i = 0; i < n; i++) {
            if (evs[i].data.ptr == NULL)
                on_accept(ep, s->fd, &head);
            else
                on_readable(s, ep, evs[i].data.ptr);
        }
    }
    while (head.next)
        conn_close(ep, head.next);
    close(ep);
}

static void *sink_thread(void *arg)
{
    ld_sink_serve(arg);
    return NULL;
}

int ld_sink_start(struct ld_sink *s)
{
    return -pthread_create(&s->th, NULL, sink_thread, s);
}

void ld_sink_stop(struct ld_sink *s)
{
    atomic_store(&s->stop, true);
    pthread_join(s->th, NULL);
    close(s->fd);
    s->fd = -1;
}
