/* The HTTP ends of the push pipelines: snappy bodies and answers (dispatch_http.h). */
#include "server/dispatch_http.h"

#include <stdio.h>

#include "base/error.h"
#include "server/exchange.h"
#include "server/http/encoding.h"
#include "server/server.h"

#define BODY_BUF_KEEP (1u << 20) /* give a larger snappy buffer back after the request */

bool dispatch_http_unsnappy(struct http_exchange *x, struct buf *scratch, const char *hint,
                            struct str *body)
{
    uint64_t limit = x->route && x->route->body_bytes_max ? x->route->body_bytes_max
                                                          : x->srv->cfg->max_body_bytes;
    buf_reset(scratch);
    int rc = http_decode_body(HTTP_CODING_SNAPPY, x->body.ptr, x->body.len, limit, scratch);
    if (rc) {
        char msg[256];
        snprintf(msg, sizeof msg, "cannot decode snappy request body: %s (%s)",
                 rc == ERR_LIMIT ? "decoded body too large" : err_str(rc), hint);
        http_reply_error(x, rc == ERR_LIMIT ? 413 : rc == ERR_NOMEM ? 500 : 400, msg);
        return false;
    }
    *body = (struct str){(const char *)scratch->data, scratch->len};
    return true;
}

void dispatch_http_body_done(struct buf *scratch)
{
    if (scratch->cap > BODY_BUF_KEEP)
        buf_deinit(scratch);
    else
        buf_reset(scratch);
}

void dispatch_http_answer(struct http_exchange *x, int status, int retry_after_s, const char *text)
{
    if (retry_after_s > 0) {
        char v[16];
        snprintf(v, sizeof v, "%d", retry_after_s);
        http_add_header(x, "Retry-After", v);
    }
    buf_reset(x->body_out);
    if (status == 204) {
        http_reply(x, 204, NULL);
        return;
    }
    if (buf_append_str(x->body_out, text) || buf_append_u8(x->body_out, '\n'))
        buf_reset(x->body_out);
    http_reply(x, status, "text/plain; charset=utf-8");
}
