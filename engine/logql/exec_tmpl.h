/* Executor of Go text/template trees (engine/logql/template.h) for line_format and label_format,
 * with Loki's function map (fmt.go: its own functions, the sprig subset it enables and the
 * text/template builtins). The data is the entry's label map (map[string]string,
 * missingkey=zero: a missing label reads as "").
 *
 * Values follow Go's types closely enough for the rules that decide between output and an
 * execution error (TemplateFormatErr): strings, int/int64/int32, float64, bool, time.Time, nil,
 * decoded JSON (fromJson) and the label map; function arguments are checked against the
 * parameter types (an int64 from `add` is not an int, a number literal adapts to the parameter).
 * Times are in UTC (Loki servers run in UTC; named zones other than UTC/Local are read as UTC).
 *
 * Not thread-safe: one executor per pipeline. Values live in the pipeline's per-entry memory. */
#ifndef STRATA_ENGINE_LOGQL_EXEC_TMPL_H
#define STRATA_ENGINE_LOGQL_EXEC_TMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/str.h"
#include "engine/logql/exec_int.h"
#include "engine/logql/template.h"

enum lq_tv_kind {
    LQ_TV_NIL, /* nil interface / no value */
    LQ_TV_STR,
    LQ_TV_INT, /* it: Go type */
    LQ_TV_FLOAT,
    LQ_TV_BOOL,
    LQ_TV_TIME,
    LQ_TV_JSON, /* object or array from fromJson: raw JSON text in s */
    LQ_TV_MAP,  /* the label map (dot) */
};

enum lq_int_type { LQ_INT, LQ_INT64, LQ_INT32, LQ_UINT8 };

struct lq_tv {
    uint8_t k;
    uint8_t it; /* enum lq_int_type */
    bool b;
    int32_t nsec; /* TIME */
    int64_t i;    /* INT; TIME: Unix seconds */
    double f;
    struct str s; /* STR, JSON */
};

/* Go type name of a value, for messages ("string", "int64", "map[string]interface {}"). */
const char *lq_tv_type(const struct lq_tv *v);

/* Executor state. */
struct lq_tx;

int lq_tx_create(struct lq_tx **out);
void lq_tx_destroy(struct lq_tx *tx);

/* Runs template t (named "line" or "label" in messages) with the label map, the current line
 * and timestamp. Output is appended to out. Returns 0, ERR_INVALID (an execution error; *msg
 * says why in Go's words) or ERR_NOMEM. */
int lq_tx_exec(struct lq_tx *tx, const struct logql_tmpl *t, const char *name,
               const struct label *labels, size_t n_labels, struct str line, int64_t ts_ns,
               struct lq_mem *mem, struct buf *out, struct str *msg);

/* ---- shared by tmpl_exec*.c ---- */

struct lq_tctx; /* one execution */

/* Reports an execution error (printf-style); returns ERR_INVALID. */
int lq_tx_fail(struct lq_tctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
struct lq_mem *lq_tx_mem(struct lq_tctx *c);
struct str lq_tx_line(struct lq_tctx *c);
int64_t lq_tx_ts(struct lq_tctx *c);
/* Scratch string building: returns a buffer emptied for the caller, kept per executor (no
 * allocation once warm). buf2 is a second one for helpers that run while buf is in use. */
struct buf *lq_tx_buf(struct lq_tctx *c);
struct buf *lq_tx_buf2(struct lq_tctx *c);
/* A string value copied into entry memory. */
int lq_tx_str(struct lq_tctx *c, const void *p, size_t n, struct lq_tv *out);

/* Appends a value as Go's fmt %v prints it (print_nil: "<nil>" rather than "<no value>"). */
int lq_tv_print(struct buf *b, const struct lq_tv *v, bool print_nil);
/* Elements of a JSON object or array (0 for anything else). */
size_t lq_json_len(struct str raw);
/* text/template truth. */
bool lq_tv_truth(const struct lq_tv *v);

/* Functions: parameter types. */
enum lq_pt {
    LQ_PT_STR,
    LQ_PT_INT,   /* Go int */
    LQ_PT_FLOAT, /* float64 */
    LQ_PT_TIME,
    LQ_PT_ANY, /* interface{} */
};

typedef int (*lq_fn_impl)(struct lq_tctx *c, struct lq_tv *args, size_t n, struct lq_tv *ret);

struct lq_fn {
    const char *name;
    uint8_t n_params;
    uint8_t params[4];
    int8_t variadic; /* -1: none; else the element type of the trailing ...args */
    lq_fn_impl impl;
};

/* The function named `name`, or NULL (`and`/`or` are handled by the evaluator). */
const struct lq_fn *lq_fn_find(struct str name);

/* Function tables: strings and builtins (tmpl_exec_fn.c), numbers (tmpl_exec_num.c), time
 * (tmpl_exec_time.c). */
extern const struct lq_fn lq_fns_str[];
extern const size_t lq_fns_str_n;
extern const struct lq_fn lq_fns_num[];
extern const size_t lq_fns_num_n;
extern const struct lq_fn lq_fns_time[];
extern const size_t lq_fns_time_n;

/* Empty in sprig's sense (default): nil, "", 0, false, an empty map or array. */
bool lq_tv_empty(const struct lq_tv *v);
/* The regex for pattern `re` (Go syntax), compiled once per executor; NULL with an error set. */
const struct logql_regex *lq_tx_regex(struct lq_tctx *c, struct str re);
/* Next match of re in s at or after `from`: the whole match in *a, *b; false when none. */
bool lq_tx_regex_at(struct lq_tctx *c, const struct logql_regex *re, struct str s, size_t from,
                    size_t *a, size_t *b, size_t *groups, size_t n_groups);

/* printf with Go's verbs over values. */
int lq_tv_sprintf(struct lq_tctx *c, struct buf *b, struct str format, const struct lq_tv *args,
                  size_t n);

/* Go time: layout formatting and parsing (UTC). */
int lq_time_format(struct buf *b, int64_t sec, int32_t nsec, struct str layout);
/* time.Parse in UTC; false when value does not match layout. */
bool lq_time_parse(struct str layout, struct str value, int64_t *sec, int32_t *nsec);

/* strconv-like helpers shared with the functions. */
int lq_tv_to_int64(const struct lq_tv *v, int64_t *out); /* spf13/cast ToInt64 (0 on failure) */
double lq_tv_to_float(const struct lq_tv *v);            /* spf13/cast ToFloat64 */

#endif
