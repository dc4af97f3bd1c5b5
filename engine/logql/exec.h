/* LogQL log pipeline executor: runs the stages of a parsed query (`|= "x" | json | level="error"
 * | line_format ...`) over log entries, with Loki 3.x semantics (pkg/logql/log).
 *
 * A struct logql_pipeline is compiled once from a selector's stages (and, for metric queries, the
 * unwrap clause) and then processes one entry at a time: timestamp, line, stream labels and
 * structured metadata in; keep/drop, output line, output label set (each label tagged with Loki's
 * category: stream, structured metadata or parsed) and the unwrapped sample value out.
 *
 * Line filters (|= != |~ !~ |> !> ip()) are compiled together: every filter term that reads the
 * same version of the line goes into one hyperscan database, scanned once per line; patterns
 * hyperscan cannot run with Go's semantics fall back to PCRE2. The filters that come before any
 * stage that rewrites the line (line_format, unpack, decolorize) form the pre-filter, which a
 * storage scan can run on raw lines before decoding anything else (logql_pipeline_prefilter).
 *
 * Stages run in Loki's order: line filters move ahead of the parsers and label stages of their
 * segment (as Loki's reorderStages does), a parser skips names an earlier parser already set in
 * the same entry, a clash with a stream or metadata label adds the `_extracted` suffix, and
 * failures set `__error__` (JSONParserErr, LogfmtParserErr, LabelFilterErr, TemplateFormatErr,
 * SampleExtractionErr) and `__error_details__` without dropping the entry.
 *
 * Ownership and threads: the pipeline borrows the query AST (keep the logql_query alive while the
 * pipeline exists) and owns per-pipeline scratch memory, reused from entry to entry (no malloc
 * per entry once it has grown). A pipeline is used by one thread at a time; create one per thread
 * (logql_pipeline_clone shares the compiled filter databases). Everything a result points to stays
 * valid until the next call on the same pipeline. */
#ifndef STRATA_ENGINE_LOGQL_EXEC_H
#define STRATA_ENGINE_LOGQL_EXEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/str.h"
#include "engine/logql/ast.h"

/* Loki's label categories (LabelsResult.Stream/StructuredMetadata/Parsed). __error__ and
 * __error_details__ are parsed labels. */
enum logql_label_cat {
    LOGQL_CAT_STREAM = 0,
    LOGQL_CAT_META = 1,
    LOGQL_CAT_PARSED = 2,
};

/* Optional compile settings. A metric query passes what its aggregations need, and the parsers
 * then follow Loki's parser hints for sample extraction (NewParserHint): with a grouping `by
 * (a, b)` only the labels the query reads (a, b, the unwrap label, labels read by filters and
 * formats) are extracted, and a parser stops once it has them all; with `no_labels` and nothing
 * read, parser stages do not run at all (so they cannot fail either). Without `metric` the
 * pipeline behaves as a log query (everything is extracted). */
struct logql_pipeline_opts {
    bool metric;
    /* No label of the result is needed (`sum(count_over_time({..} | json [1m]))`). */
    bool no_labels;
    /* The grouping applied to the samples: `by (groups)` or, with without, `without (groups)`. */
    const struct str *groups;
    size_t n_groups;
    bool without;
    /* Tests only: turns off the label-value pre-check (see logql_pipeline_process). */
    bool no_value_hint;
};

/* One entry. stream and meta are label sets sorted by name with unique names (base/str.h);
 * meta may be empty. All borrowed for the duration of the call. */
struct logql_entry {
    int64_t ts_ns;
    struct str line;
    const struct label *stream;
    size_t n_stream;
    const struct label *meta;
    size_t n_meta;
};

/* The outcome of a kept entry; valid until the next call on the pipeline (when no stage changed
 * the labels, `labels` is the entry's own stream array). */
struct logql_result {
    struct str line;
    const struct label *labels; /* sorted by name, unique */
    const uint8_t *cats;        /* enum logql_label_cat of labels[i] */
    size_t n_labels;
    bool has_value; /* unwrap pipelines: the sample value */
    double value;
};

struct logql_pipeline;

/* Compiles the stages of `sel` (and `unwrap`, or NULL) into a new pipeline. Returns 0,
 * ERR_INVALID (message in err: a pattern neither hyperscan nor PCRE2 accepts, which the parser
 * normally rejects first) or ERR_NOMEM. opts may be NULL. */
int logql_pipeline_compile(const struct logql_selector *sel, const struct logql_unwrap *unwrap,
                           const struct logql_pipeline_opts *opts, struct logql_pipeline **out,
                           char *err, size_t err_size);

/* Compiles the pipeline of a log query (LOGQL_EXPR_LOG) or of a range aggregation
 * (LOGQL_EXPR_RANGE_AGG, with its unwrap). ERR_INVALID for other expression kinds. */
int logql_pipeline_compile_expr(const struct logql_expr *e, const struct logql_pipeline_opts *opts,
                                struct logql_pipeline **out, char *err, size_t err_size);

/* A new pipeline for another thread: shares the compiled databases (read-only) with p, has its
 * own scratch. Free each with logql_pipeline_destroy (the databases go with the last one). */
int logql_pipeline_clone(const struct logql_pipeline *p, struct logql_pipeline **out);

void logql_pipeline_destroy(struct logql_pipeline *p);

/* Flags of logql_pipeline_process. */
enum {
    LOGQL_PROC_PREFILTERED = 1, /* the caller already ran logql_pipeline_prefilter and it passed */
};

/* Runs the pipeline over one entry. Returns 1 (kept: *out is set), 0 (dropped) or ERR_NOMEM.
 *
 * Value hint: string label filters every kept entry must pass (`| json | level="error"`: a
 * top-level stage or `and` operand, name not starting with "__") that only line filters,
 * raw-line parsers (json, logfmt, regexp, pattern), other label filters and drop/keep precede
 * are checked before any parser runs. When the entry's stream has the name, the filter reads
 * that label (parsers rename theirs `_extracted`), so without drop/keep before it the stream
 * value decides. Otherwise a filter whose every match holds some bytes (`=` a value without a
 * space, or a literal-shaped `=~`) needs them in the raw line, unless the line holds a backslash
 * (escapes) or structured metadata carries the name. Entries dropped this way are exactly ones
 * the full pipeline drops. */
int logql_pipeline_process(struct logql_pipeline *p, const struct logql_entry *e, unsigned flags,
                           struct logql_result *out);

/* True when the pipeline has line filters that run on the raw line (before any stage rewrites
 * it): the storage can evaluate them first. */
bool logql_pipeline_has_prefilter(const struct logql_pipeline *p);

/* Runs only the pre-filter over a raw line: false when the entry is certainly dropped. Always
 * true when there is no pre-filter. */
bool logql_pipeline_prefilter(struct logql_pipeline *p, struct str line);

/* Pre-filters n lines at once: bit i of keep (n bits, caller-sized to (n + 63) / 64 words) is set
 * for lines that pass. Returns how many passed. */
size_t logql_pipeline_prefilter_block(struct logql_pipeline *p, const struct str *lines, size_t n,
                                      uint64_t *keep);

/* True when every stage is a line filter (the output line and labels equal the input). */
bool logql_pipeline_filters_only(const struct logql_pipeline *p);

/* Statistics of the compiled line filters (tests, EXPLAIN-style output). */
struct logql_pipeline_info {
    size_t n_filter_terms; /* terms of all line filters */
    size_t n_hs_terms;     /* of those, run by hyperscan */
    size_t n_epochs;       /* line versions that filters read (1 + rewrites followed by filters) */
    size_t n_prefilter_terms;
    bool prefilter_batched; /* logql_pipeline_prefilter_block scans runs of lines at once */
    size_t n_value_hints;   /* label filter values checked in the raw line (value hint) */
};
void logql_pipeline_info(const struct logql_pipeline *p, struct logql_pipeline_info *info);

#endif
