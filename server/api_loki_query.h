/* Internals shared by the Loki query API handlers (server/api_loki_query*.c, api_loki_tail.c,
 * api_loki_detected.c, api_loki_patterns.c): the one life cycle of a Loki request, from the
 * handler (shard thread) through its query job (query thread) to the reply (shard thread), and
 * the JSON pieces the endpoints share. Not for other modules.
 *
 * A handler does: r = loki_req_new(x, run, sizeof(endpoint state)); reads its parameters with
 * the loki_param_* helpers (each answers 400 itself and returns false on a bad one); then
 * loki_req_submit(r, ok). Every endpoint thereby reads start/end/since, limits and the query the
 * same way, answers the same statuses in Loki's words (400 bad parameter or query, 499 canceled,
 * 504 timeout, 503 no query thread, 500 otherwise; plain text, api_loki.h), and is canceled
 * when its client goes away. */
#ifndef STRATA_SERVER_API_LOKI_QUERY_H
#define STRATA_SERVER_API_LOKI_QUERY_H

#include "base/buf.h"
#include "engine/logql/exec.h"
#include "formats/jsonw.h"
#include "server/api_loki.h"
#include "server/http/query.h"
#include "server/query.h"

struct logql_query;
struct loki_req;

#define LOKI_MATCH_MAX 64 /* selectors (match[] of /series) per request */

/* The endpoint's work on the query thread: writes r->out (the whole success body) or fails r. */
typedef void (*loki_run_fn)(struct loki_req *r, struct query_job *j);

/* One request. The handler fills the parameters; run (query thread) writes either `out` or the
 * error; the reply (shard thread) sends one of them and frees r. */
struct loki_req {
    struct http_exchange *x;
    struct query_job *job;
    struct http_params params;
    loki_run_fn run;
    void *extra;                            /* endpoint state (zeroed; freed with r) */
    void (*free_extra)(struct loki_req *r); /* releases what extra holds; NULL: nothing */
    int64_t received_ns;                    /* clock_mono_ns() */
    struct logql_query *q;                  /* the parsed `query` (loki_param_query) or NULL */
    /* selectors (loki_param_selector): parsed queries own the matchers */
    struct logql_query *sel_q[LOKI_MATCH_MAX];
    const struct matcher *sets[LOKI_MATCH_MAX];
    size_t lens[LOKI_MATCH_MAX];
    size_t nsets;
    int64_t start_ns, end_ns; /* loki_param_bounds */
    /* result */
    bool failed;
    int status;
    char err[LOKI_ERR_MAX];
    struct buf out;
};

/* Allocates a request for x with extra_size zeroed bytes of endpoint state in r->extra (none for
 * 0) and loads its parameters (form body, then the URL query). On failure answers itself (400
 * bad escapes or too many parameters, 500 out of memory) and returns NULL. */
struct loki_req *loki_req_new(struct http_exchange *x, loki_run_fn run, size_t extra_size);
void loki_req_free(struct loki_req *r);

/* Answers 400 plain text now (shard thread); returns false for the caller's convenience. */
bool loki_bad(struct loki_req *r, const char *msg);
/* The first value of a parameter ({"",0} when absent). */
struct str loki_param(const struct loki_req *r, const char *name);

/* Parameter helpers: each answers 400 (Loki's wording) and returns false on a bad value. */

/* start/end/since into r->start_ns / end_ns (loki_parse_bounds). ordered: end before start is
 * a 400 too ("end timestamp must not be before or equal to start time"). */
bool loki_param_bounds(struct loki_req *r, bool ordered);
/* A count parameter (loki_parse_limit): dflt when absent, else > 0 and <= UINT32_MAX. */
bool loki_param_limit(struct loki_req *r, const char *name, uint32_t dflt, uint32_t *out);
/* A step-like duration parameter (loki_parse_duration) into *ns; left as is when absent. */
bool loki_param_duration(struct loki_req *r, const char *name, int64_t *ns);
/* step (default loki_default_step_ns of r's bounds) into *ns: > 0, and at most LOKI_MAX_POINTS
 * points in [start, end]. Call after loki_param_bounds. */
bool loki_param_step(struct loki_req *r, int64_t *ns);

/* How loki_param_query reads `query`. */
enum {
    LOKI_QUERY_ANY = 0,           /* any LogQL (an empty one is the parser's error) */
    LOKI_QUERY_LOG = 1 << 0,      /* a log query ("only log queries are supported") */
    LOKI_QUERY_REQUIRED = 1 << 1, /* empty: "query parameter is required" */
    LOKI_QUERY_OPTIONAL = 1 << 2, /* empty: no query (r->q stays NULL) */
};
/* Parses `query` into r->q as flags say. */
bool loki_param_query(struct loki_req *r, unsigned flags);
/* Parses s as a stream selector (a log query without stages when strict; any log query when not)
 * and appends its matchers to r's sets. */
bool loki_param_selector(struct loki_req *r, struct str s, bool strict);
struct query_matchsets loki_req_matchsets(const struct loki_req *r);

/* Starts r's job on the exchange's shard (the client going away cancels it); on failure answers
 * (503 when no query thread can take it, 500 otherwise) and frees r. */
void loki_req_start(struct loki_req *r);
/* The end of a handler: starts r when ok, else frees it (its error already answered). */
void loki_req_submit(struct loki_req *r, bool ok);

/* Query thread: records an error (the first one wins). */
void loki_fail(struct loki_req *r, int status, const char *msg);
/* Query thread: the error of a fan-out or evaluation code: -ECANCELED / ERR_CLOSED 499,
 * -ETIMEDOUT 504, ERR_LIMIT / ERR_INVALID 400 (msg or err_str), others 500 (ERR_DUPLICATE: the
 * matching errors of binary operations, as Loki). */
void loki_fail_rc(struct loki_req *r, int rc, const char *msg);

/* Makes room for need items of size bytes in the heap array *v of *cap (doubling, from 16).
 * Returns 0 or ERR_NOMEM (*v unchanged). */
int loki_grow(void **v, size_t *cap, size_t need, size_t size);

/* ---- scanning the entries of a log query (query thread) ---- */

/* Sees each entry the pipeline keeps (e: the stored entry, metadata sorted by name; res: the
 * pipeline's outcome). Returns 0 to go on, LOKI_SCAN_STOP to end the scan (the scan then returns
 * 0), or an error (returned as is). */
typedef int (*loki_entry_fn)(void *arg, const struct logql_entry *e,
                             const struct logql_result *res);
#define LOKI_SCAN_STOP 1

struct loki_scan {
    const struct logql_query *q; /* a log query: its matchers select */
    struct logql_pipeline *pipe; /* its compiled pipeline */
    int64_t start_ns, end_ns;    /* [start, end) */
    bool backward;               /* newest first */
    uint32_t max_kept;           /* entries kept by the pipeline, at most */
    loki_entry_fn fn;
    void *arg;
};
/* Runs s through the cross-shard fan-out of job j. Returns 0 or an error (-ECANCELED,
 * -ETIMEDOUT, ERR_NOMEM, owner and pipeline errors, fn's). */
int loki_scan_run(struct query_job *j, const struct loki_scan *s);
/* The entries of r->q in [r->start_ns, r->end_ns) through its pipeline, newest first, at most
 * max_kept kept ones, to fn. A pipeline that does not compile fails r with 400. */
int loki_req_scan(struct loki_req *r, struct query_job *j, uint32_t max_kept, loki_entry_fn fn,
                  void *arg);

/* ---- JSON ---- */

/* JSON of a label set: {"name":"value",...}. */
void loki_json_labels(struct jsonw *w, const struct label *ls, size_t n);
/* A sample value as Loki writes it (model.SampleValue: Go's 'f' format, shortest digits; "NaN",
 * "+Inf", "-Inf"), as a JSON string. */
void loki_json_value(struct jsonw *w, double v);
/* Starts r->out as `{"status":"success","data":`; the caller writes data, then loki_json_end. */
void loki_json_begin(struct loki_req *r, struct jsonw *w);
/* Closes the envelope of loki_json_begin and finishes w (out of memory fails r with 500). */
void loki_json_end(struct loki_req *r, struct jsonw *w);
/* Finishes w, a bare body (out of memory fails r with 500). */
void loki_json_finish(struct loki_req *r, struct jsonw *w);
/* `{"status":"success","data":` + [strings] + `}` into r->out. */
void loki_write_strings(struct loki_req *r, const struct str *v, size_t n);

#endif
