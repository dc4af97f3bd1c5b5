/* Internals shared by server/api_loki_query*.c: the state of one Loki query API request from the
 * handler (shard thread) through its query job (query thread) to the reply (shard thread), and
 * the JSON pieces the endpoints share. Not for other modules. */
#ifndef STRATA_SERVER_API_LOKI_QUERY_H
#define STRATA_SERVER_API_LOKI_QUERY_H

#include "base/buf.h"
#include "formats/jsonw.h"
#include "server/api_loki.h"
#include "server/http/query.h"
#include "server/query.h"

struct logql_query;

#define LOKI_MATCH_MAX 64 /* selectors (match[] of /series) per request */

/* One request. The handler fills the parameters; run (query thread) writes either `out` (the
 * whole success body) or the error; done (shard thread) replies and frees. */
struct loki_req {
    struct http_exchange *x;
    struct query_job *job;
    struct http_params params;
    void (*run)(struct loki_req *r, struct query_job *j);
    void (*free_extra)(struct loki_req *r);
    void *extra;
    int64_t received_ns; /* clock_mono_ns() */
    /* selectors: parsed queries own the matchers */
    struct logql_query *sel_q[LOKI_MATCH_MAX];
    const struct matcher *sets[LOKI_MATCH_MAX];
    size_t lens[LOKI_MATCH_MAX];
    size_t nsets;
    int64_t start_ns, end_ns;
    /* result */
    bool failed;
    int status;
    char err[LOKI_ERR_MAX];
    struct buf out;
};

/* Allocates a request for x and loads its parameters (form body, then the URL query). On failure
 * answers itself and returns NULL. */
struct loki_req *loki_req_new(struct http_exchange *x);
void loki_req_free(struct loki_req *r);

/* Answers 400 plain text now (shard thread); returns false for the caller's convenience. */
bool loki_bad(struct loki_req *r, const char *msg);
/* The first value of a parameter ({"",0} when absent). */
struct str loki_param(const struct loki_req *r, const char *name);
/* start/end/since into r->start_ns / end_ns; answers 400 on errors. */
bool loki_param_bounds(struct loki_req *r);
/* Parses s as a stream selector (a log query without stages when strict; any log query when not)
 * and appends its matchers to r's sets; answers 400 on errors. */
bool loki_param_selector(struct loki_req *r, struct str s, bool strict);
struct query_matchsets loki_req_matchsets(const struct loki_req *r);

/* Starts r's job on the exchange's shard; on failure answers (503 when the queue is full) and
 * frees r. */
void loki_req_start(struct loki_req *r);

/* Query thread: records an error (the first one wins). */
void loki_fail(struct loki_req *r, int status, const char *msg);
/* Query thread: the error of a fan-out or evaluation code: -ECANCELED 499, -ETIMEDOUT 504,
 * ERR_LIMIT / ERR_INVALID 400 (msg or err_str), others 500 (ERR_DUPLICATE: the matching errors
 * of binary operations, as Loki). */
void loki_fail_rc(struct loki_req *r, int rc, const char *msg);

/* JSON of a label set: {"name":"value",...}. */
void loki_json_labels(struct jsonw *w, const struct label *ls, size_t n);
/* A sample value as Loki writes it (model.SampleValue: Go's 'f' format, shortest digits; "NaN",
 * "+Inf", "-Inf"), as a JSON string. */
void loki_json_value(struct jsonw *w, double v);
/* `{"status":"success","data":` + [strings] + `}` into r->out. */
void loki_write_strings(struct loki_req *r, const struct str *v, size_t n);

#endif
