/* X-Scope-OrgID to tenant (tenant.h). */
#include "server/tenant.h"

#include <stdio.h>

#include "server/exchange.h"
#include "server/server.h"
#include "server/validate.h"

static struct str trim(struct str s)
{
    while (s.len && (s.ptr[0] == ' ' || s.ptr[0] == '\t'))
        s.ptr++, s.len--;
    while (s.len && (s.ptr[s.len - 1] == ' ' || s.ptr[s.len - 1] == '\t'))
        s.len--;
    return s;
}

bool tenant_from_request(struct http_exchange *x, struct str *tenant)
{
    struct str t = trim(http_header(x, "x-scope-orgid"));
    if (t.len == 0) {
        *tenant = str_from_cstr(x->srv->cfg->default_tenant);
        return true;
    }
    const char *why = validate_tenant(t);
    if (why) {
        char msg[256];
        snprintf(msg, sizeof msg, "invalid X-Scope-OrgID: %s", why);
        http_reply_error(x, 400, msg);
        return false;
    }
    *tenant = t;
    return true;
}
