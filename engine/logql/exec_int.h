/* Internals of the LogQL pipeline executor (exec.h) shared by exec*.c and stage_*.c: per-entry
 * scratch memory, Loki's LabelsBuilder, compiled stages and the stage entry points. Not a public
 * interface. */
#ifndef STRATA_ENGINE_LOGQL_EXEC_INT_H
#define STRATA_ENGINE_LOGQL_EXEC_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/arena.h"
#include "base/buf.h"
#include "base/str.h"
#include "engine/logql/ast.h"
#include "engine/logql/exec.h"
#include "engine/logql/filter.h"
#include "formats/jsonr.h"

#define LQ_ERR_JSON         "JSONParserErr"
#define LQ_ERR_LOGFMT       "LogfmtParserErr"
#define LQ_ERR_LABEL_FILTER "LabelFilterErr"
#define LQ_ERR_TEMPLATE     "TemplateFormatErr"
#define LQ_ERR_SAMPLE       "SampleExtractionErr"
#define LQ_ERROR_LABEL      "__error__"
#define LQ_DETAILS_LABEL    "__error_details__"

/* ---- per-entry scratch: chunks kept across entries, reset per entry ---- */

struct lq_chunk {
    char *p;
    size_t cap;
};

struct lq_mem {
    struct lq_chunk *chunks;
    size_t n, cap;
    size_t cur, off; /* allocation point */
};

void lq_mem_reset(struct lq_mem *m);
void lq_mem_deinit(struct lq_mem *m);
/* n bytes (8-aligned) valid until the next reset; NULL when out of memory. */
void *lq_mem_alloc(struct lq_mem *m, size_t n);
/* Copies bytes; on failure returns an empty string and sets *oom. */
struct str lq_mem_dup(struct lq_mem *m, const void *p, size_t n, bool *oom);
/* a + b */
struct str lq_mem_cat(struct lq_mem *m, struct str a, struct str b, bool *oom);

/* ---- Loki's LabelsBuilder ---- */

struct lq_vec {
    struct label *v;
    size_t n, cap;
    uint64_t bloom; /* lq_name_bit of every name pushed since the last reset */
};

/* A cheap 1-of-64 fingerprint of a label name (to skip most linear scans). */
static inline uint64_t lq_name_bit(struct str s)
{
    unsigned h = s.len ? (unsigned)s.len * 7u + (unsigned char)s.ptr[0] * 3u +
                             (unsigned char)s.ptr[s.len - 1]
                       : 0;
    return 1ull << (h & 63);
}

int lq_vec_push(struct lq_vec *v, struct str name, struct str value);
void lq_vec_free(struct lq_vec *v);

struct lq_strs {
    struct str *v;
    size_t n, cap;
    uint64_t bloom;
};

int lq_strs_push(struct lq_strs *s, struct str x);
bool lq_strs_has(const struct lq_strs *s, struct str x);

struct lq_lb {
    const struct label *base; /* stream labels, sorted */
    uint64_t base_bloom;      /* lq_name_bit of the base names */
    size_t n_base;
    struct lq_vec add[3]; /* by enum logql_label_cat */
    struct lq_strs del;
    struct lq_strs extracted; /* names set as parsed labels in this entry (parser hints) */
    struct str err, err_details;
    struct lq_mem *mem;
    bool oom; /* an allocation failed during this entry */
};

void lq_lb_reset(struct lq_lb *lb, const struct label *base, size_t n_base);
void lq_lb_deinit(struct lq_lb *lb);
bool lq_lb_base_has(const struct lq_lb *lb, struct str name);
bool lq_lb_has_in(const struct lq_lb *lb, struct str name, enum logql_label_cat cat);
/* Get: the value of a label (added, else base unless deleted; a base label with an empty value
 * counts as absent). */
bool lq_lb_get(const struct lq_lb *lb, struct str name, struct str *value, int *cat);
void lq_lb_set(struct lq_lb *lb, enum logql_label_cat cat, struct str name, struct str value);
void lq_lb_del(struct lq_lb *lb, struct str name);
bool lq_lb_extracted(const struct lq_lb *lb, struct str name);
/* Adds labels the way Loki's Add does (structured metadata): `_extracted` on clash with a stream
 * label; __error__ / __error_details__ set the error fields. */
void lq_lb_add(struct lq_lb *lb, enum logql_label_cat cat, const struct label *l, size_t n);
/* name, or name + "_extracted" when it clashes with a stream or metadata label. */
struct str lq_lb_dedup_name(struct lq_lb *lb, struct str name);
void lq_lb_set_err(struct lq_lb *lb, const char *err, struct str details);
static inline bool lq_lb_has_err(const struct lq_lb *lb)
{
    return lb->err.len > 0;
}
/* True when nothing was added, deleted or set in error. */
bool lq_lb_unchanged(const struct lq_lb *lb);
/* Loki's UnsortedLabels: the current label set into out (cats receives categories when not
 * NULL; *cats_cap is its capacity, grown as needed). Returns 0 or ERR_NOMEM. */
int lq_lb_collect(const struct lq_lb *lb, struct lq_vec *out, uint8_t **cats, size_t *cats_cap);

/* Loki's sanitizeLabelKey(key, true): trims spaces, prefixes a leading digit with '_', turns every
 * rune outside [A-Za-z0-9_] into '_'. Borrows key when it is already clean. */
struct str lq_sanitize_key(struct lq_mem *m, struct str key, bool *oom);

/* Replaces every U+FFFD and invalid UTF-8 byte by a space (Loki's removeInvalidUtf). */
struct str lq_fix_utf8(struct lq_mem *m, struct str v, bool *oom);

/* ---- compiled pipeline ---- */

enum lq_op {
    LQ_OP_FILTER, /* line filters of one epoch */
    LQ_OP_JSON,
    LQ_OP_JSON_EXPR,
    LQ_OP_LOGFMT,
    LQ_OP_LOGFMT_EXPR,
    LQ_OP_REGEXP,
    LQ_OP_PATTERN,
    LQ_OP_UNPACK,
    LQ_OP_LABEL_FILTER,
    LQ_OP_LINE_FORMAT,
    LQ_OP_LABEL_FORMAT,
    LQ_OP_DECOLORIZE,
    LQ_OP_DROP,
    LQ_OP_KEEP,
};

struct lq_json_expr {
    struct str name;
    struct jsonr_path_seg *segs;
    size_t n_segs;
};

struct lq_stage {
    enum lq_op op;
    const struct logql_stage *ast;
    size_t set;                  /* FILTER: index into the shared filter sets */
    struct buf out;              /* stages that rewrite the line */
    struct lq_json_expr *jexprs; /* JSON_EXPR */
    size_t *spans;               /* REGEXP: 2 * (groups + 1) offsets */
    bool nojit;                  /* REGEXP: logql_regex_jit_unsafe */
    struct str *caps;            /* PATTERN: captures */
    struct str simple_key;       /* LINE_FORMAT `{{.name}}` */
    bool simple;
    struct logql_regex ansi; /* DECOLORIZE */
};

/* Compiled objects shared by clones. */
struct lq_shared {
    int refs;
    struct logql_filter_set *sets;
    size_t n_sets;
};

/* A label filter that parsers consult right after setting the label it reads (Loki's
 * ShouldContinueParsingLine). */
struct lq_hint {
    struct str name;
    const struct logql_label_filter *f;
};

/* A string label filter every kept entry passes (exec_hint.c). When the stream has `name`, the
 * filter reads that label (parsers rename theirs `_extracted`): with `by_stream` its matcher
 * decides on the stream value. Otherwise, when value is not empty, the raw line must hold it
 * unless a metadata label is `name` (or `base`) or the line has a backslash. */
struct lq_need {
    struct str name;
    struct str value; /* bytes every matching value holds, or empty */
    struct str base;  /* name without `_extracted` (a renamed metadata label), or empty */
    const struct matcher *m;
    bool by_stream; /* no drop/keep before the filter */
};

struct lq_tx; /* template executor (exec_tmpl.h) */

/* `| json` state: the reader and the name length before each open object. */
struct lq_jflat {
    struct jsonr r;
    uint32_t stack[JSONR_DEPTH_MAX + 1];
};

struct logql_pipeline {
    const struct logql_selector *sel;
    const struct logql_unwrap *unwrap;
    struct logql_pipeline_opts opts;
    struct lq_shared *sh;
    struct arena arena; /* compile-time allocations */
    struct lq_stage *stages;
    size_t n_stages;
    struct lq_hint *hints;
    size_t n_hints;
    struct lq_need *needs; /* value hint (exec_hint.c) */
    size_t n_needs;
    /* Loki's parser hints for metric queries (see logql_pipeline_opts) */
    struct lq_strs required; /* labels to extract; empty: all */
    bool skip_parsers;       /* noLabels without required labels */
    bool preserve_error;     /* __error__ is required: parse errors add __preserve_error__ */
    bool prefilter_first;    /* stages[0] is the pre-filter */
    bool filters_only;
    /* run-time state */
    struct lq_mem mem;
    struct lq_lb lb;
    struct logql_filter_scratch fsc;
    struct lq_jflat *flat;
    struct buf flat_name, flat_value;
    struct lq_vec pending; /* unpack */
    struct lq_vec out;
    uint8_t *cats;
    size_t cats_cap;
    struct lq_vec snap; /* label_format's map */
    struct lq_tx *tx;
    void *md; /* PCRE2 match data */
    struct buf tmp;
    int64_t ts_ns;
};

/* Stage entry points: return true to keep the entry. *line may be replaced (by memory that
 * stays valid until the next entry). */
bool lq_stage_json(struct logql_pipeline *p, struct lq_stage *st, struct str line);
bool lq_stage_json_expr(struct logql_pipeline *p, struct lq_stage *st, struct str line);
bool lq_stage_logfmt(struct logql_pipeline *p, struct lq_stage *st, struct str line);
bool lq_stage_logfmt_expr(struct logql_pipeline *p, struct lq_stage *st, struct str line);
bool lq_stage_regexp(struct logql_pipeline *p, struct lq_stage *st, struct str line);
bool lq_stage_pattern(struct logql_pipeline *p, struct lq_stage *st, struct str line);
bool lq_stage_unpack(struct logql_pipeline *p, struct lq_stage *st, struct str *line);
bool lq_stage_label_filter(struct logql_pipeline *p, const struct logql_label_filter *f);
bool lq_stage_line_format(struct logql_pipeline *p, struct lq_stage *st, struct str *line);
bool lq_stage_label_format(struct logql_pipeline *p, struct lq_stage *st, struct str line);
bool lq_stage_decolorize(struct logql_pipeline *p, struct lq_stage *st, struct str *line);
bool lq_stage_drop(struct logql_pipeline *p, struct lq_stage *st);
bool lq_stage_keep(struct logql_pipeline *p, struct lq_stage *st);

/* Compile-time preparation of stages that need it (0 or ERR_*). */
int lq_stage_json_expr_prepare(struct logql_pipeline *p, struct lq_stage *st, char *err,
                               size_t err_size);
int lq_stage_decolorize_prepare(struct logql_pipeline *p, struct lq_stage *st, char *err,
                                size_t err_size);
void lq_stage_line_format_prepare(struct lq_stage *st);

/* Sets a parsed label from a parser and applies the parser hint for its name: false when a
 * label filter on that name already rejects the entry. */
bool lq_parsed_set(struct logql_pipeline *p, struct str name, struct str value);
/* Loki's ShouldContinueParsingLine: runs the first single-label filter on `name`, if any. */
bool lq_hint_ok(struct logql_pipeline *p, struct str name);
/* Loki's ParserHint: ShouldExtract, ShouldExtractPrefix, AllRequiredExtracted, NoLabels. */
bool lq_should_extract(const struct logql_pipeline *p, struct str name);
bool lq_should_extract_prefix(const struct logql_pipeline *p, struct str prefix);
bool lq_all_extracted(const struct logql_pipeline *p);
static inline bool lq_no_labels(const struct logql_pipeline *p)
{
    return p->skip_parsers || lq_all_extracted(p);
}
/* addErrLabel: the error, its details when not empty, and __preserve_error__ when required. */
void lq_parse_err(struct logql_pipeline *p, const char *err, struct str details);
/* A JSON string token's decoded value (borrowed when it has no escapes). */
struct str lq_json_string(struct logql_pipeline *p, struct str raw, unsigned flags);

/* Value hint (exec_hint.c): derives p->needs from the compiled stages (0 or ERR_NOMEM), and
 * tests an entry: false when the pipeline certainly drops it. */
int lq_needs_derive(struct logql_pipeline *p);
bool lq_needs_pass(const struct logql_pipeline *p, const struct logql_entry *e);

/* Unwrap: converts the label value; false drops the entry. */
bool lq_unwrap(struct logql_pipeline *p, double *value);

/* Logfmt decoder (go-logfmt rules, Loki's variant). */
struct lq_logfmt {
    struct str line;
    size_t pos;
    struct str key, value;
    bool has_key, has_value;
    bool err;
    size_t err_pos;
    char err_msg[48];
    struct lq_mem *mem;
    bool oom;
};
void lq_logfmt_reset(struct lq_logfmt *d, struct str line, struct lq_mem *mem);
static inline bool lq_logfmt_eol(const struct lq_logfmt *d)
{
    return d->pos >= d->line.len;
}
/* Next key/value pair; false on a malformed pair or at the end (then check d->err). */
bool lq_logfmt_scan(struct lq_logfmt *d);

#endif
