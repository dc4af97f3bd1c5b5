/* Internals shared by server/api_prom*.c: the state of one API request from the handler (shard
 * thread) through its query job (query thread) to the reply (shard thread). Not for other
 * modules. */
#ifndef STRATA_SERVER_API_PROM_INTERNAL_H
#define STRATA_SERVER_API_PROM_INTERNAL_H

#include "formats/jsonw.h"
#include "server/api_prom.h"
#include "server/http/query.h"
#include "server/query.h"

struct promql_ast;

#define PROM_MATCH_MAX 64 /* match[] parameters per request */

/* One request. The handler fills the parameters; run (query thread) reads them and writes either
 * `out` (the whole success body) or the error fields; done (shard thread) replies and frees. */
struct prom_req {
    struct http_exchange *x;
    struct query_job *job; /* once started (query_job_cancel when the client goes away) */
    struct http_params params;
    void (*run)(struct prom_req *r, struct query_job *j);
    void (*free_extra)(struct prom_req *r); /* endpoint state; NULL: none */
    /* match[] selectors: the parsed ASTs own the matchers */
    struct promql_ast *match_asts[PROM_MATCH_MAX];
    const struct matcher *match_sets[PROM_MATCH_MAX];
    size_t match_lens[PROM_MATCH_MAX];
    size_t nmatch;
    int64_t start_ms, end_ms, limit;
    /* result */
    bool failed;
    enum prom_error_type etype;
    char err[PROM_ERR_MAX];
    struct buf out;
    void *extra; /* endpoint state */
};

/* Allocates a request for x and loads its parameters (form body first, then the URL query). On
 * failure answers 400/500 itself and returns NULL. */
struct prom_req *prom_req_new(struct http_exchange *x);
void prom_req_free(struct prom_req *r);

/* Answers an error envelope now (shard thread). */
void prom_reply_error(struct http_exchange *x, enum prom_error_type t, const char *msg);
/* Answers 200 with b's bytes as the body (swapped into the response). */
void prom_reply_json(struct http_exchange *x, struct buf *b);

/* Helpers that answer 400 themselves and return false on a bad parameter. */
bool prom_param_time(struct prom_req *r, const char *name, int64_t dflt, int64_t *ms);
bool prom_param_limit(struct prom_req *r, int64_t *limit);
/* Parses every match[] (each a vector selector with at least one matcher that does not match
 * the empty string). required: none present is a 400 ("no match[] parameter provided"). */
bool prom_param_matchers(struct prom_req *r, bool required, const char *param_name);
struct query_matchsets prom_req_matchsets(const struct prom_req *r);

/* Starts r's job on the exchange's shard with the given timeout (0: the configured one). On
 * failure answers (503 when the queue is full) and frees r. */
void prom_req_start(struct prom_req *r, int64_t timeout_ms);

/* Query thread: records an error (the first one wins). */
void prom_fail(struct prom_req *r, enum prom_error_type t, const char *msg);
/* Query thread: records the error of a failed fan-out call (timeouts, cancels, storage). */
void prom_fail_rc(struct prom_req *r, int rc, const char *what);

/* JSON of a label set as Prometheus writes labels: {"name":"value",...}. */
void prom_json_labels(struct jsonw *w, const struct label *ls, size_t n);

#endif
