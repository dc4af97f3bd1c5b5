/* The Loki push HTTP handler: media type negotiation, snappy, tenant, and the reply
 * (api_loki_push.h). */
#include "server/api_loki_push.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "base/error.h"
#include "server/dispatch_http.h"
#include "server/exchange.h"
#include "server/http/encoding.h"
#include "server/http/parser.h"
#include "server/logingest.h"
#include "server/server.h"
#include "server/shard.h"
#include "server/tenant.h"

#define PARAMS_MAX 32

/* ---- media types, as Go's mime.ParseMediaType reads them ---- */

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static bool is_token_char(unsigned char c)
{
    return c > 0x20 && c < 0x7f && !strchr("()<>@,;:\\\"/[]?=", c);
}

static struct str skip_space(struct str s)
{
    while (s.len && is_space(s.ptr[0]))
        s.ptr++, s.len--;
    return s;
}

static struct str trim(struct str s)
{
    s = skip_space(s);
    while (s.len && is_space(s.ptr[s.len - 1]))
        s.len--;
    return s;
}

/* The leading token of s; *rest what follows. */
static struct str token(struct str s, struct str *rest)
{
    size_t i = 0;
    while (i < s.len && is_token_char((unsigned char)s.ptr[i]))
        i++;
    *rest = (struct str){s.ptr + i, s.len - i};
    return (struct str){s.ptr, i};
}

/* `type` or `type/subtype`: NULL or Go's error text. */
static const char *check_media_type(struct str mt)
{
    struct str rest;
    if (token(mt, &rest).len == 0)
        return "mime: no media type";
    if (rest.len == 0)
        return NULL;
    if (rest.ptr[0] != '/')
        return "mime: expected slash after first token";
    struct str sub = token((struct str){rest.ptr + 1, rest.len - 1}, &rest);
    if (sub.len == 0)
        return "mime: expected token after slash";
    if (rest.len != 0)
        return "mime: unexpected content after media subtype";
    return NULL;
}

/* A parameter value: a token or a quoted string. false when neither. */
static bool param_value(struct str s, struct str *rest)
{
    if (s.len && s.ptr[0] == '"') {
        for (size_t i = 1; i < s.len; i++) {
            if (s.ptr[i] == '\\' && i + 1 < s.len) {
                i++;
            } else if (s.ptr[i] == '"') {
                *rest = (struct str){s.ptr + i + 1, s.len - i - 1};
                return true;
            }
        }
        return false;
    }
    return token(s, rest).len > 0;
}

/* One `; name=value`; *name its name; false when s does not start with one. */
static bool param(struct str s, struct str *name, struct str *rest)
{
    s = skip_space(s);
    if (!s.len || s.ptr[0] != ';')
        return false;
    s = skip_space((struct str){s.ptr + 1, s.len - 1});
    *name = token(s, &s);
    if (name->len == 0)
        return false;
    s = skip_space(s);
    if (!s.len || s.ptr[0] != '=')
        return false;
    s = skip_space((struct str){s.ptr + 1, s.len - 1});
    return param_value(s, rest);
}

static bool ieq(struct str a, struct str b)
{
    if (a.len != b.len)
        return false;
    for (size_t i = 0; i < a.len; i++)
        if (tolower((unsigned char)a.ptr[i]) != tolower((unsigned char)b.ptr[i]))
            return false;
    return true;
}

/* Parameters after the media type: NULL or Go's error text. */
static const char *check_params(struct str s)
{
    struct str names[PARAMS_MAX];
    size_t n = 0;
    while ((s = skip_space(s)).len) {
        struct str name, rest;
        if (!param(s, &name, &rest))
            return trim(s).len == 1 && trim(s).ptr[0] == ';' ? NULL /* trailing ';' */
                                                             : "mime: invalid media parameter";
        for (size_t i = 0; i < n; i++)
            if (ieq(names[i], name))
                return "mime: duplicate parameter name";
        if (n == PARAMS_MAX)
            return "mime: invalid media parameter";
        names[n++] = name;
        s = rest;
    }
    return NULL;
}

int api_loki_push_body_kind(struct str ct, char *why, size_t why_size)
{
    const char *semi = ct.len ? memchr(ct.ptr, ';', ct.len) : NULL;
    struct str base = {ct.ptr, semi ? (size_t)(semi - ct.ptr) : ct.len};
    struct str mt = trim(base);
    const char *err = check_media_type(mt);
    if (!err)
        err = check_params((struct str){ct.ptr + base.len, ct.len - base.len});
    if (err) {
        snprintf(why, why_size, "%s", err);
        return 0;
    }
    return http_str_ieq(mt, "application/json") ? LOGINGEST_JSON : LOGINGEST_PROTO;
}

/* ---- reply ---- */

static void on_done(void *arg, const struct logingest_reply *y)
{
    dispatch_http_answer(arg, y->status, y->retry_after_s, y->text);
}

/* ---- handler ---- */

/* The protobuf body without its snappy layer: the connection removed it when Content-Encoding
 * said snappy; decoded here otherwise (after any gzip/deflate layer the connection removed). */
static bool unsnappy(struct http_exchange *x, struct buf *scratch, struct str *body)
{
    if (http_coding_parse(http_header(x, "content-encoding")) == HTTP_CODING_SNAPPY) {
        *body = x->body;
        return true;
    }
    return dispatch_http_unsnappy(x, scratch, "protobuf push bodies are snappy block format", body);
}

void handler_loki_push(struct http_exchange *x)
{
    struct logingest_shard *lsh = x->shard->logingest;
    if (!lsh) {
        http_reply_error(x, 503, "not ready: log storage is not open");
        return;
    }
    char why[160];
    int kind = api_loki_push_body_kind(http_header(x, "content-type"), why, sizeof why);
    if (!kind) {
        http_reply_error(x, 400, why);
        return;
    }
    struct str tenant, body = x->body;
    struct buf *scratch = logingest_shard_body_buf(lsh);
    if (!tenant_from_request(x, &tenant))
        return;
    if (kind == LOGINGEST_PROTO && !unsnappy(x, scratch, &body))
        return;
    logingest_write(lsh, (enum logingest_body)kind, tenant, (const uint8_t *)body.ptr, body.len,
                    on_done, x);
    dispatch_http_body_done(scratch);
}
