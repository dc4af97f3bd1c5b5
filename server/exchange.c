/* Handler-facing reply helpers: text, errors in the route's style, extra headers, form params. */
#include "server/exchange.h"

#include <string.h>

#include "base/assert.h"
#include "base/error.h"
#include "server/http/response.h"
#include "server/metrics.h"
#include "server/query.h"
#include "server/shard.h"

void http_reply(struct http_exchange *x, int status, const char *content_type)
{
    ASSERT(!x->replied);
    x->status = status;
    x->content_type = content_type;
    x->replied = true;
    if (x->complete)
        x->complete(x);
}

void http_reply_text(struct http_exchange *x, int status, const char *text)
{
    buf_reset(x->body_out);
    if (buf_append_str(x->body_out, text) != 0)
        status = 500; /* out of memory: an empty 500 is the best we can do */
    http_reply(x, status, "text/plain; charset=utf-8");
}

const char *http_prom_error_type(int status)
{
    switch (status) {
    case 404: return "not_found";
    case 406: return "not_acceptable";
    case 422: return "execution";
    case 499: return "canceled";
    case 503: return "unavailable";
    case 504: return "timeout";
    default: return status >= 500 ? "internal" : "bad_data";
    }
}

void http_reply_prom_error(struct http_exchange *x, int status, const char *type, const char *msg)
{
    struct buf *b = x->body_out;
    buf_reset(b);
    int rc = buf_append_str(b, "{\"status\":\"error\",\"errorType\":");
    if (!rc)
        rc = http_json_append_str(b, type, strlen(type));
    if (!rc)
        rc = buf_append_str(b, ",\"error\":");
    if (!rc)
        rc = http_json_append_str(b, msg, strlen(msg));
    if (!rc)
        rc = buf_append_str(b, "}");
    if (rc) {
        buf_reset(b);
        status = 500;
    }
    http_reply(x, status, "application/json");
}

void http_reply_error(struct http_exchange *x, int status, const char *msg)
{
    if (x->style == ROUTE_STYLE_PROM) {
        http_reply_prom_error(x, status, http_prom_error_type(status), msg);
        return;
    }
    buf_reset(x->body_out);
    if (buf_append_str(x->body_out, msg) || buf_append_u8(x->body_out, '\n'))
        buf_reset(x->body_out);
    http_reply(x, status, "text/plain; charset=utf-8");
}

int http_add_header(struct http_exchange *x, const char *name, const char *value)
{
    size_t nn = strlen(name), vn = strlen(value);
    if (x->extra_len + nn + vn + 5 > sizeof x->extra_headers)
        return ERR_LIMIT;
    char *p = x->extra_headers + x->extra_len;
    memcpy(p, name, nn);
    memcpy(p + nn, ": ", 2);
    memcpy(p + nn + 2, value, vn);
    memcpy(p + nn + 2 + vn, "\r\n", 3); /* keeps the array NUL-terminated */
    x->extra_len += (uint32_t)(nn + vn + 4);
    return 0;
}

struct str http_header(const struct http_exchange *x, const char *name)
{
    return http_request_header(x->req, x->base, name);
}

int http_form_params(const struct http_exchange *x, struct http_params *ps)
{
    struct str ct = http_header(x, "content-type");
    static const char form[] = "application/x-www-form-urlencoded";
    if (x->body.len > 0 && ct.len >= sizeof form - 1 &&
        http_str_ieq((struct str){ct.ptr, sizeof form - 1}, form) &&
        (ct.len == sizeof form - 1 || ct.ptr[sizeof form - 1] == ';' ||
         ct.ptr[sizeof form - 1] == ' ')) {
        int rc = http_params_parse(ps, x->body.ptr, x->body.len);
        if (rc)
            return rc;
    }
    return http_params_parse(ps, x->query.ptr, x->query.len);
}

void http_on_abort(struct http_exchange *x, void (*fn)(struct http_exchange *x, void *arg),
                   void *arg)
{
    ASSERT(!x->replied);
    x->on_abort = fn;
    x->abort_arg = arg;
}

static void cancel_job(struct http_exchange *x, void *arg)
{
    if (x->shard && x->shard->metrics)
        metric_add(&x->shard->metrics->query_jobs_canceled, 1);
    query_job_cancel(arg);
}

void http_cancel_job_on_abort(struct http_exchange *x, struct query_job *j)
{
    http_on_abort(x, cancel_job, j);
}
