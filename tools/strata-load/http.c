/* HTTP/1.1 client pieces: URL parsing, request heads, URL encoding, incremental response parsing
 * (see http.h). */
#include "tools/strata-load/http.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "base/error.h"

#define USER_AGENT "strata-load/" STRATA_VERSION

int ld_url_parse(const char *s, struct ld_url *u)
{
    memset(u, 0, sizeof *u);
    if (strncmp(s, "https://", 8) == 0)
        return ERR_UNSUPPORTED;
    if (strncmp(s, "http://", 7) == 0)
        s += 7;
    else if (strstr(s, "://"))
        return ERR_INVALID;
    const char *slash = strchr(s, '/');
    size_t hp = slash ? (size_t)(slash - s) : strlen(s);
    if (hp == 0 || hp >= sizeof u->hostport)
        return ERR_INVALID;
    memcpy(u->hostport, s, hp);
    const char *host = u->hostport, *colon;
    size_t hl;
    if (host[0] == '[') { /* [v6]:port */
        const char *rb = strchr(host, ']');
        if (!rb)
            return ERR_INVALID;
        hl = (size_t)(rb - host - 1);
        memcpy(u->host, host + 1, hl);
        colon = rb[1] == ':' ? rb + 1 : NULL;
        if (rb[1] && !colon)
            return ERR_INVALID;
    } else {
        colon = strrchr(host, ':');
        hl = colon ? (size_t)(colon - host) : hp;
        memcpy(u->host, host, hl);
    }
    if (hl == 0)
        return ERR_INVALID;
    const char *port = colon ? colon + 1 : "80";
    char *end;
    long pv = strtol(port, &end, 10);
    if (*port == 0 || *end || pv <= 0 || pv > 65535)
        return ERR_INVALID;
    snprintf(u->port, sizeof u->port, "%ld", pv);
    if (slash) {
        size_t pl = strlen(slash);
        while (pl > 0 && slash[pl - 1] == '/')
            pl--;
        if (pl >= sizeof u->path)
            return ERR_INVALID;
        memcpy(u->path, slash, pl);
    }
    return 0;
}

int ld_http_head(struct buf *out, const char *method, const char *target, size_t target_len,
                 const struct ld_url *u, const char *const *hdrs, size_t n_hdrs)
{
    int rc = buf_printf(out, "%s %.*s HTTP/1.1\r\nHost: %s\r\nUser-Agent: %s\r\n", method,
                        (int)target_len, target, u->hostport, USER_AGENT);
    for (size_t i = 0; !rc && i < n_hdrs; i++)
        rc = buf_printf(out, "%s\r\n", hdrs[i]);
    return rc;
}

int ld_urlenc(struct buf *out, const char *s, size_t n)
{
    if (buf_reserve(out, n * 3))
        return ERR_NOMEM;
    char *p = (char *)out->data + out->len;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
            *p++ = (char)c;
        } else {
            *p++ = '%';
            *p++ = "0123456789ABCDEF"[c >> 4];
            *p++ = "0123456789ABCDEF"[c & 15];
        }
    }
    out->len = (size_t)(p - (char *)out->data);
    return 0;
}

/* ---- response parsing ---- */

void ld_resp_init(struct ld_resp *r)
{
    memset(r, 0, sizeof *r);
    r->retry_after_s = -1;
    r->samples_written = -1;
}

static const uint8_t *find_head_end(const uint8_t *p, size_t n)
{
    for (size_t i = 3; i < n; i++)
        if (p[i] == '\n' && p[i - 1] == '\r' && p[i - 2] == '\n' && p[i - 3] == '\r')
            return p + i + 1;
    return NULL;
}

static bool value_has_token(const char *v, size_t n, const char *tok)
{
    size_t tl = strlen(tok);
    for (size_t i = 0; i + tl <= n; i++) {
        if (strncasecmp(v + i, tok, tl) == 0 && (i == 0 || v[i - 1] == ' ' || v[i - 1] == ',') &&
            (i + tl == n || v[i + tl] == ' ' || v[i + tl] == ',' || v[i + tl] == ';'))
            return true;
    }
    return false;
}

static int parse_u64(const char *v, size_t n, uint64_t *out)
{
    uint64_t x = 0;
    if (n == 0 || n > 19)
        return ERR_CORRUPT;
    for (size_t i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9')
            return ERR_CORRUPT;
        x = x * 10 + (uint64_t)(v[i] - '0');
    }
    *out = x;
    return 0;
}

static void retry_after(struct ld_resp *r, const char *v, size_t n)
{
    uint64_t s;
    if (parse_u64(v, n, &s) == 0) {
        r->retry_after_s = (int64_t)(s > 86400 ? 86400 : s);
        return;
    }
    char tmp[64];
    if (n >= sizeof tmp)
        return;
    memcpy(tmp, v, n);
    tmp[n] = 0;
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    const char *end = strptime(tmp, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    if (end && *end == 0)
        r->retry_until_s = (int64_t)timegm(&tm);
}

struct head_info {
    bool has_len, chunked, conn_close, conn_keep;
};

static int header(struct ld_resp *r, const char *name, size_t nl, const char *v, size_t vl,
                  struct head_info *hi)
{
    if (nl == 14 && strncasecmp(name, "content-length", 14) == 0) {
        uint64_t len;
        if (parse_u64(v, vl, &len) || (hi->has_len && len != r->left))
            return ERR_CORRUPT;
        hi->has_len = true;
        r->left = len;
    } else if (nl == 17 && strncasecmp(name, "transfer-encoding", 17) == 0) {
        hi->chunked = value_has_token(v, vl, "chunked");
    } else if (nl == 10 && strncasecmp(name, "connection", 10) == 0) {
        hi->conn_close |= value_has_token(v, vl, "close");
        hi->conn_keep |= value_has_token(v, vl, "keep-alive");
    } else if (nl == 11 && strncasecmp(name, "retry-after", 11) == 0) {
        retry_after(r, v, vl);
    } else if (nl == 41 &&
               strncasecmp(name, "x-prometheus-remote-write-samples-written", 41) == 0) {
        uint64_t n;
        if (parse_u64(v, vl, &n) == 0)
            r->samples_written = (int64_t)n;
    }
    return 0;
}

static int status_line(struct ld_resp *r, const char *p, size_t n, int *minor)
{
    if (n < 12 || memcmp(p, "HTTP/1.", 7) != 0 || !isdigit((unsigned char)p[7]) || p[8] != ' ' ||
        !isdigit((unsigned char)p[9]) || !isdigit((unsigned char)p[10]) ||
        !isdigit((unsigned char)p[11]) || (n > 12 && p[12] != ' '))
        return ERR_CORRUPT;
    *minor = p[7] - '0';
    r->status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
    return r->status >= 100 ? 0 : ERR_CORRUPT;
}

/* Parses a complete head p[0..n) (ending with the empty line) and picks the body framing. */
static int parse_head(struct ld_resp *r, const char *p, size_t n)
{
    const char *end = p + n - 2, *eol = memchr(p, '\r', n);
    int minor;
    if (!eol || eol[1] != '\n' || status_line(r, p, (size_t)(eol - p), &minor))
        return ERR_CORRUPT;
    struct head_info hi = {0};
    r->left = 0;
    for (const char *l = eol + 2; l < end; l = eol + 2) {
        eol = memchr(l, '\r', (size_t)(end - l) + 1);
        if (!eol || eol[1] != '\n')
            return ERR_CORRUPT;
        const char *colon = memchr(l, ':', (size_t)(eol - l));
        if (!colon || colon == l)
            return ERR_CORRUPT;
        const char *v = colon + 1, *ve = eol;
        while (v < ve && (*v == ' ' || *v == '\t'))
            v++;
        while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
            ve--;
        int rc = header(r, l, (size_t)(colon - l), v, (size_t)(ve - v), &hi);
        if (rc)
            return rc;
    }
    r->keep_alive = minor >= 1 ? !hi.conn_close : hi.conn_keep && !hi.conn_close;
    if (r->status == 204 || r->status == 304)
        r->state = LD_RS_DONE, r->left = 0;
    else if (hi.chunked)
        r->state = LD_RS_CHUNK_SIZE, r->chunk_size = 0, r->chunk_digits = 0;
    else if (hi.has_len)
        r->state = r->left ? LD_RS_LEN : LD_RS_DONE;
    else
        r->state = LD_RS_CLOSE, r->keep_alive = false;
    return 0;
}

static void keep_snippet(struct ld_resp *r, const uint8_t *p, size_t n)
{
    size_t room = LD_SNIPPET_MAX - r->snippet_len, k = n < room ? n : room;
    memcpy(r->snippet + r->snippet_len, p, k);
    r->snippet_len += k;
    r->body_bytes += n;
}

static long feed_head(struct ld_resp *r, const uint8_t *p, size_t n)
{
    const uint8_t *e = find_head_end(p, n < LD_RESP_HEAD_MAX ? n : LD_RESP_HEAD_MAX);
    if (!e)
        return n >= LD_RESP_HEAD_MAX ? ERR_LIMIT : 0;
    size_t hl = (size_t)(e - p);
    int rc = parse_head(r, (const char *)p, hl);
    if (rc)
        return rc;
    if (r->status < 200 && r->status != 101) /* interim: the real response follows */
        r->state = LD_RS_HEAD;
    else if (r->status == 101)
        return ERR_CORRUPT; /* we never ask to switch protocols */
    r->bytes += hl;
    return (long)hl;
}

/* One step of the chunked-body state machine; returns bytes consumed (0: need more). */
static long feed_chunked(struct ld_resp *r, const uint8_t *p, size_t n)
{
    size_t i = 0;
    switch (r->state) {
    case LD_RS_CHUNK_SIZE:
        for (; i < n; i++) {
            uint8_t c = p[i];
            if (c == '\n') {
                if (r->chunk_digits == 0)
                    return ERR_CORRUPT;
                r->left = r->chunk_size;
                r->state = r->chunk_size ? LD_RS_CHUNK_DATA : LD_RS_TRAILER;
                r->chunk_ext = false;
                r->trailer_len = 0;
                return (long)i + 1;
            }
            if (r->chunk_ext || c == '\r')
                continue;
            if (c == ';' || c == ' ' || c == '\t') {
                r->chunk_ext = true;
                continue;
            }
            int d = isdigit(c)                           ? c - '0'
                    : (c | 32) >= 'a' && (c | 32) <= 'f' ? (c | 32) - 'a' + 10
                                                         : -1;
            if (d < 0 || ++r->chunk_digits > 15)
                return ERR_CORRUPT;
            r->chunk_size = r->chunk_size * 16 + (uint64_t)d;
        }
        return (long)i;
    case LD_RS_CHUNK_DATA: {
        size_t k = n < r->left ? n : (size_t)r->left;
        keep_snippet(r, p, k);
        r->left -= k;
        if (r->left == 0)
            r->state = LD_RS_CHUNK_CRLF, r->trailer_len = 0;
        return (long)k;
    }
    case LD_RS_CHUNK_CRLF:
        for (; i < n; i++) {
            if (p[i] == '\n') {
                r->state = LD_RS_CHUNK_SIZE;
                r->chunk_size = 0, r->chunk_digits = 0;
                return (long)i + 1;
            }
            if (p[i] != '\r' || ++r->trailer_len > 1)
                return ERR_CORRUPT;
        }
        return (long)i;
    default: /* LD_RS_TRAILER: lines until an empty one */
        for (; i < n; i++) {
            if (p[i] == '\n') {
                if (r->trailer_len == 0) {
                    r->state = LD_RS_DONE;
                    return (long)i + 1;
                }
                r->trailer_len = 0;
            } else if (p[i] != '\r' && ++r->trailer_len > LD_RESP_HEAD_MAX) {
                return ERR_LIMIT;
            }
        }
        return (long)i;
    }
}

long ld_resp_feed(struct ld_resp *r, const uint8_t *p, size_t n)
{
    size_t used = 0;
    while (used < n && r->state != LD_RS_DONE) {
        long k;
        if (r->state == LD_RS_HEAD) {
            k = feed_head(r, p + used, n - used);
            if (k <= 0)
                return k < 0 ? k : (long)used;
            used += (size_t)k;
            continue;
        }
        if (r->state == LD_RS_LEN || r->state == LD_RS_CLOSE) {
            size_t k2 = n - used;
            if (r->state == LD_RS_LEN && k2 > r->left)
                k2 = (size_t)r->left;
            keep_snippet(r, p + used, k2);
            if (r->state == LD_RS_LEN && (r->left -= k2) == 0)
                r->state = LD_RS_DONE;
            k = (long)k2;
        } else {
            k = feed_chunked(r, p + used, n - used);
            if (k < 0)
                return k;
        }
        r->bytes += (uint64_t)k;
        used += (size_t)k;
        if (k == 0)
            break;
    }
    return (long)used;
}

int ld_resp_eof(struct ld_resp *r)
{
    if (r->state == LD_RS_CLOSE) {
        r->state = LD_RS_DONE;
        return 0;
    }
    return r->state == LD_RS_DONE ? 0 : ERR_TRUNCATED;
}
