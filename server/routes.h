/* The route table: (methods, path pattern, handler, flags, accepted request codings, body limit),
 * and the matcher that maps a request onto it. Patterns are literal segments and `<name>`
 * parameters that match one non-empty path segment ("/api/v1/label/<name>/values"); parameter
 * values are percent-decoded. GET routes also answer HEAD.
 *
 * Error style: routes under /api/v1/ answer errors as the Prometheus JSON envelope, /loki/ and the
 * rest as plain text (api-contract §2.1, §4.1); route_style_for_path applies the same rule to paths
 * that matched nothing (404/405).
 *
 * Threading: the table is immutable; matching is pure. */
#ifndef STRATA_SERVER_ROUTES_H
#define STRATA_SERVER_ROUTES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/str.h"

struct http_exchange;
typedef void (*route_handler)(struct http_exchange *x);

enum route_style {
    ROUTE_STYLE_TEXT = 0, /* text/plain errors (Loki, operational endpoints) */
    ROUTE_STYLE_PROM = 1, /* {"status":"error","errorType":...,"error":...} */
};

enum route_flags {
    ROUTE_NO_GZIP = 1u << 0, /* never gzip the response */
    ROUTE_CODING_400 =
        1u << 1, /* an unsupported Content-Encoding is a 400 (Loki's push), not 415 */
};

struct route {
    unsigned methods;    /* enum http_method bits; GET implies HEAD */
    const char *pattern; /* also the `route` label of the HTTP metrics */
    route_handler fn;
    uint8_t style;   /* enum route_style */
    uint8_t flags;   /* enum route_flags */
    uint8_t codings; /* request Content-Encodings decoded for this route (enum http_coding) */
    uint64_t body_bytes_max; /* 0: the server's --http.max-body-bytes */
};

#define ROUTE_PARAMS_MAX  4
#define ROUTE_PARAM_BYTES 1024

struct route_params {
    uint32_t n;
    struct {
        struct str name;  /* points into the pattern */
        struct str value; /* decoded, points into storage */
    } items[ROUTE_PARAMS_MAX];
    char storage[ROUTE_PARAM_BYTES];
};

enum route_result {
    ROUTE_FOUND = 0,
    ROUTE_NOT_FOUND,   /* 404 */
    ROUTE_NOT_ALLOWED, /* 405; *allow holds the methods the path accepts */
    ROUTE_BAD_PARAM,   /* 400: a parameter has a bad percent escape or is too long */
};

/* Finds the route for (method, raw path). On ROUTE_FOUND *out is the route and params are filled.
 */
enum route_result route_match(const struct route *table, size_t n, unsigned method, struct str path,
                              const struct route **out, struct route_params *params,
                              unsigned *allow);
/* Value of path parameter `name`, or false. */
bool route_param(const struct route_params *params, const char *name, struct str *value);
/* "GET, HEAD, POST" for a method set (GET adds HEAD); writes a NUL-terminated string. */
void route_allow_header(unsigned methods, char *out, size_t size);
enum route_style route_style_for_path(struct str path);

/* The server's table (routes.c), in documentation order. */
extern const struct route server_routes[];
extern const size_t server_routes_n;

#endif
