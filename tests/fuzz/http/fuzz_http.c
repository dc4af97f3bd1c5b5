/* Fuzz target for the HTTP request parser and what the server does with a parsed request: the input
 * is a byte stream of (pipelined) requests. It is parsed twice, delivered whole and delivered in
 * pieces at input-derived cut points with in-place chunk compaction, and both parses must agree
 * request by request. Every parsed request is then walked: header lookups, Accept-Encoding and
 * Content-Encoding handling (bodies decoded with a small limit), URL-query and form decoding with
 * repeated keys, and route matching with path parameters. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "server/http/encoding.h"
#include "server/http/parser.h"
#include "server/http/query.h"
#include "server/routes.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_REQS 64

static const struct http_limits LIM = {
    .head_bytes_max = 4096, .headers_max = 32, .body_bytes_max = 64 * 1024};

struct summary {
    int result, status;
    unsigned method;
    uint32_t head_len, nheaders;
    uint64_t body_len, consumed, body_hash;
    bool keep_alive, chunked;
};

static uint64_t fnv(const uint8_t *p, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

static void walk(const uint8_t *b, const struct http_request *req)
{
    static struct http_params ps;
    static bool init;
    if (!init) {
        http_params_init(&ps);
        init = true;
    }
    http_params_reset(&ps);
    struct str v;
    for (uint32_t i = 0; i < req->nheaders; i++) {
        struct str name = http_span_str(b, req->headers[i].name);
        v = http_span_str(b, req->headers[i].value);
        if (name.len == 0 || (v.len && !v.ptr))
            abort();
    }
    http_accepts_gzip(http_request_header(req, b, "accept-encoding"));
    struct str body = {(const char *)b + req->body_off, (size_t)req->body_len};
    unsigned coding = http_coding_parse(http_request_header(req, b, "content-encoding"));
    if (coding != HTTP_CODING_UNKNOWN) {
        struct buf out = BUF_INIT;
        if (http_decode_body(coding, body.ptr, body.len, 256 * 1024, &out) == 0 && out.len)
            http_params_parse(&ps, (const char *)out.data, out.len);
        buf_deinit(&out);
    }
    struct str q = http_span_str(b, req->query);
    if (http_params_parse(&ps, q.ptr, q.len) == 0) {
        struct str all[8];
        size_t n = http_params_get_all(&ps, "match[]", all, 8);
        for (size_t i = 0; i < n && i < 8; i++)
            if (all[i].len && !all[i].ptr)
                abort();
        http_params_get(&ps, "query", &v);
    }
    static struct route_params rp;
    const struct route *rt;
    unsigned allow;
    struct str path = http_span_str(b, req->path);
    if (route_match(server_routes, server_routes_n, req->method, path, &rt, &rp, &allow) ==
        ROUTE_FOUND)
        for (uint32_t i = 0; i < rp.n; i++)
            route_param(&rp, "name", &v);
}

static void sum(struct summary *s, int r, const struct http_parser *p, const uint8_t *b,
                const struct http_request *req)
{
    memset(s, 0, sizeof *s);
    s->result = r;
    s->status = r == HTTP_PARSE_ERROR ? p->status : 0;
    if (r != HTTP_PARSE_DONE)
        return;
    s->method = req->method;
    s->head_len = req->head_len;
    s->nheaders = req->nheaders;
    s->body_len = req->body_len;
    /* chunked: in-place compaction (split delivery only) shrinks the raw byte count */
    s->consumed = req->chunked ? 0 : http_parser_consumed(p);
    s->body_hash = fnv(b + req->body_off, (size_t)req->body_len);
    s->keep_alive = req->keep_alive;
    s->chunked = req->chunked;
}

/* Parses every request of data, delivered in pieces of `step` bytes (0: all at once). */
static size_t parse_stream(const uint8_t *data, size_t size, size_t step, struct summary *out,
                           bool do_walk)
{
    static struct http_request req;
    struct http_parser p;
    uint8_t *b = malloc(size + 1);
    size_t have = 0, src = 0, nreq = 0;
    http_parser_init(&p, &LIM);
    while (nreq < MAX_REQS) {
        size_t take = step ? step : size - src;
        if (take > size - src)
            take = size - src;
        memcpy(b + have, data + src, take);
        have += take;
        src += take;
        int r;
        while ((r = http_parse(&p, b, have, &req)) == HTTP_PARSE_HEAD)
            ;
        if (r == HTTP_PARSE_MORE) {
            have = http_parser_compact(&p, b, have);
            if (src == size)
                break;
            continue;
        }
        sum(&out[nreq++], r, &p, b, &req);
        if (r == HTTP_PARSE_ERROR)
            break;
        if (do_walk)
            walk(b, &req);
        size_t used = (size_t)http_parser_consumed(&p);
        memmove(b, b + used, have - used);
        have -= used;
        http_parser_reset(&p);
    }
    free(b);
    return nreq;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 256 * 1024)
        return 0;
    static struct summary whole[MAX_REQS], split[MAX_REQS];
    size_t n1 = parse_stream(data, size, 0, whole, true);
    size_t step = 1 + (size_t)(fnv(data, size) % 23);
    size_t n2 = parse_stream(data, size, step, split, false);
    if (n1 != n2)
        abort();
    for (size_t i = 0; i < n1; i++)
        if (memcmp(&whole[i], &split[i], sizeof whole[i]) != 0)
            abort();
    /* the query decoder on the raw input, as a query string and as a form body */
    struct http_params ps;
    http_params_init(&ps);
    http_params_parse(&ps, (const char *)data, size < 8192 ? size : 8192);
    http_params_deinit(&ps);
    return 0;
}
