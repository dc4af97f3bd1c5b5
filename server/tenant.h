/* The tenant of an HTTP request, shared by every API that reads or writes tenant data: the value of
 * `X-Scope-OrgID` (surrounding blanks trimmed), validated as a tenant id (server/validate.h), or
 * the configured default tenant (--tenant.default) when the header is absent or blank.
 *
 * Threading: runs on the exchange's shard. */
#ifndef STRATA_SERVER_TENANT_H
#define STRATA_SERVER_TENANT_H

#include <stdbool.h>

#include "base/str.h"

struct http_exchange;

/* Sets *tenant (borrowing the request's bytes or the config's string) and returns true; or answers
 * 400 "invalid X-Scope-OrgID: <why>" in the route's error style and returns false. */
bool tenant_from_request(struct http_exchange *x, struct str *tenant);

#endif
