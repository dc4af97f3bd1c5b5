/* The remote-write HTTP handler: schema negotiation, snappy, tenant, and the reply (api_write.h).
 */
#include "server/api_write.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "base/error.h"
#include "server/dispatch_http.h"
#include "server/exchange.h"
#include "server/http/encoding.h"
#include "server/http/parser.h"
#include "server/ingest.h"
#include "server/server.h"
#include "server/shard.h"
#include "server/tenant.h"

static const char media[] = "application/x-protobuf";

static struct str trim(struct str s)
{
    while (s.len && (s.ptr[0] == ' ' || s.ptr[0] == '\t'))
        s.ptr++, s.len--;
    while (s.len && (s.ptr[s.len - 1] == ' ' || s.ptr[s.len - 1] == '\t'))
        s.len--;
    return s;
}

/* Splits s at the first c: *head before it, returns the rest after it (len 0 when absent). */
static struct str cut(struct str s, char c, struct str *head, bool *found)
{
    const char *p = s.len ? memchr(s.ptr, c, s.len) : NULL;
    *found = p != NULL;
    if (!p) {
        *head = s;
        return (struct str){s.ptr + s.len, 0};
    }
    *head = (struct str){s.ptr, (size_t)(p - s.ptr)};
    return (struct str){p + 1, s.len - (size_t)(p - s.ptr) - 1};
}

static int proto_value(struct str v, struct str ct, char *why, size_t n)
{
    if (v.len >= 2 && v.ptr[0] == '"' && v.ptr[v.len - 1] == '"')
        v = (struct str){v.ptr + 1, v.len - 2};
    if (str_eq_cstr(v, "prometheus.WriteRequest"))
        return 1;
    if (str_eq_cstr(v, "io.prometheus.write.v2.Request"))
        return 2;
    snprintf(why, n,
             "unsupported remote write protobuf message in Content-Type %.*s; expected "
             "proto=prometheus.WriteRequest or proto=io.prometheus.write.v2.Request",
             (int)(ct.len > 200 ? 200 : ct.len), ct.ptr);
    return 0;
}

int api_write_proto(struct str ct, char *why, size_t n)
{
    ct = trim(ct);
    if (ct.len == 0)
        return 1; /* no Content-Type: an old 1.0 sender */
    struct str type, param;
    bool more;
    struct str rest = cut(ct, ';', &type, &more);
    if (!http_str_ieq(trim(type), media)) {
        snprintf(why, n, "unsupported Content-Type %.*s; expected %s",
                 (int)(ct.len > 200 ? 200 : ct.len), ct.ptr, media);
        return 0;
    }
    while (more) {
        rest = cut(rest, ';', &param, &more);
        struct str key, value;
        bool eq;
        value = cut(param, '=', &key, &eq);
        if (!eq) {
            snprintf(why, n, "malformed Content-Type parameter in %.*s",
                     (int)(ct.len > 200 ? 200 : ct.len), ct.ptr);
            return 0;
        }
        if (http_str_ieq(trim(key), "proto"))
            return proto_value(trim(value), ct, why, n);
    }
    return 1; /* no proto= parameter: 1.0 */
}

/* ---- reply ---- */

static void add_written_headers(struct http_exchange *x, const struct ingest_reply *y)
{
    char v[32];
    snprintf(v, sizeof v, "%" PRIu64, y->samples_written);
    http_add_header(x, "X-Prometheus-Remote-Write-Samples-Written", v);
    snprintf(v, sizeof v, "%" PRIu64, y->histograms_written);
    http_add_header(x, "X-Prometheus-Remote-Write-Histograms-Written", v);
    snprintf(v, sizeof v, "%" PRIu64, y->exemplars_written);
    http_add_header(x, "X-Prometheus-Remote-Write-Exemplars-Written", v);
}

static void on_done(void *arg, const struct ingest_reply *y)
{
    struct http_exchange *x = arg;
    if (y->proto == 2)
        add_written_headers(x, y);
    dispatch_http_answer(x, y->status, y->retry_after_s, y->text);
}

/* ---- handler ---- */

/* The body as snappy-decoded protobuf: already decoded by the connection when Content-Encoding
 * said snappy; decoded here when the header is absent. */
static bool body_of(struct http_exchange *x, struct buf *scratch, struct str *body)
{
    struct str ce = http_header(x, "content-encoding");
    if (ce.len == 0)
        return dispatch_http_unsnappy(x, scratch, "remote write bodies are snappy block format",
                                      body);
    if (http_coding_parse(ce) != HTTP_CODING_SNAPPY) { /* "identity": others never get here */
        http_reply_error(x, 415, "unsupported Content-Encoding: remote write bodies are snappy");
        return false;
    }
    *body = x->body; /* the connection decoded it */
    return true;
}

void handler_remote_write(struct http_exchange *x)
{
    struct ingest_shard *ish = x->shard->ingest;
    if (!ish) {
        http_reply_error(x, 503, "not ready: storage is not open");
        return;
    }
    char why[384];
    int proto = api_write_proto(http_header(x, "content-type"), why, sizeof why);
    if (!proto) {
        http_reply_error(x, 415, why);
        return;
    }
    struct str tenant, body;
    struct buf *scratch = ingest_shard_body_buf(ish);
    if (!tenant_from_request(x, &tenant) || !body_of(x, scratch, &body))
        return;
    ingest_write(ish, proto == 2 ? INGEST_RW2 : INGEST_RW1, tenant, (const uint8_t *)body.ptr,
                 body.len, on_done, x);
    dispatch_http_body_done(scratch);
}
