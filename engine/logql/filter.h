/* Compiled LogQL line filters: a conjunction of clauses (`|= "a" or "b"`, `!~ "x"`, `|> "<_> y"`,
 * `|= ip("10.0.0.0/8")`) evaluated on one version of a log line.
 *
 * Every literal and regex term goes into one hyperscan block-mode database (one scan per line sets
 * a bit per term); the boolean structure is evaluated afterwards. Regexes are translated from Go
 * syntax into hyperscan syntax with Go's meaning (`$` is the end of the text, `\s` excludes \v,
 * `.` is a UTF-8 character); a pattern the translation or hyperscan does not accept runs on PCRE2
 * (its logql_regex from the AST). Patterns that need UTF-8 mode are only scanned by hyperscan on
 * valid UTF-8 lines (ASCII-only lines use a byte-mode copy of the database, which is faster and
 * means the same there); on other lines PCRE2 decides on a copy with U+FFFD for each invalid byte,
 * as Go reads them (literal filters always compare bytes).
 *
 * Loki's simplifications are kept: `|= ""` and `|~ ""`/`|~ ".*"` match everything and vanish from
 * `or` chains (Loki's or-builder drops a match-all leg), a negated match-all filter keeps nothing,
 * and `|~ ".+"` keeps non-empty lines.
 *
 * A struct logql_filter_set is immutable after logql_filter_set_build and may be shared by
 * threads; each thread evaluates with its own struct logql_filter_scratch. */
#ifndef STRATA_ENGINE_LOGQL_FILTER_H
#define STRATA_ENGINE_LOGQL_FILTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/str.h"
#include "engine/logql/ast.h"

enum logql_term_kind {
    LOGQL_TERM_TRUE,    /* matches every line */
    LOGQL_TERM_EXISTS,  /* matches non-empty lines (`|~ ".+"`) */
    LOGQL_TERM_LITERAL, /* substring */
    LOGQL_TERM_REGEX,   /* unanchored Go regex */
    LOGQL_TERM_PATTERN, /* |> pattern (NULL pattern: the empty pattern) */
    LOGQL_TERM_IP,      /* ip("...") */
};

struct logql_filter_term {
    enum logql_term_kind kind;
    struct str text;                     /* literal or regex source */
    const struct logql_regex *re;        /* REGEX: the PCRE2 fallback (from the AST) */
    const struct logql_pattern *pattern; /* PATTERN */
    const struct logql_ip_matcher *ip;   /* IP */
    int hs_id;                           /* bit in the scan result, -1: not in hyperscan */
    bool nojit;                          /* REGEX: see logql_regex_jit_unsafe */
    bool hs_utf8;                        /* compiled in UTF-8 mode */
};

/* One filter expression: positive (any term matches) or negative (no term matches). */
struct logql_filter_clause {
    bool negate;
    size_t first, n; /* terms[first .. first + n) */
};

struct logql_filter_set {
    struct logql_filter_term *terms;
    size_t n_terms, cap_terms;
    struct logql_filter_clause *clauses;
    size_t n_clauses, cap_clauses;
    void *db;          /* hs_database_t *, NULL when no term uses hyperscan */
    unsigned n_hs;     /* distinct hyperscan patterns (bits) */
    bool any_utf8;     /* some hyperscan pattern is in UTF-8 mode */
    void *db_ascii;    /* with any_utf8: the same patterns in byte mode, for ASCII-only lines
                        * (where both modes agree); NULL when one does not compile so */
    bool always_false; /* a clause can never pass */
    /* Batch scans (logql_filter_eval_block): the hyperscan patterns again, in byte mode when
     * any_utf8 (then only ASCII runs use it), reporting every match, over many contiguous lines at
     * once; NULL when a pattern's meaning could depend on the bytes around a line (anchors, word
     * boundaries, lookaround) or it can match the empty string. */
    void *db_block;
    unsigned *hs_max_width; /* per pattern: the longest match in bytes (UINT_MAX: unbounded) */
    bool hs_only;           /* every term is in hyperscan: a line without matches ... */
    bool zero_pass;         /* ... passes exactly when this is set (every clause negative) */
};

/* Per-thread evaluation state. */
struct logql_filter_scratch {
    void *hs;       /* hs_scratch_t *, grown for every database it is used with */
    uint64_t *bits; /* scan result */
    size_t n_words;
    struct buf fixed; /* an invalid UTF-8 line with U+FFFD for each bad byte (Go's reading) */
    void *md;         /* PCRE2 match data */
    /* batch scans: per-line result bits, line start offsets and undecided flags of one run */
    uint64_t *lbits;
    size_t lbits_cap;
    uint32_t *starts;
    size_t starts_cap;
    uint8_t *undecided;
    size_t undecided_cap;
};

void logql_filter_set_init(struct logql_filter_set *s);
/* Adds the clause(s) of one line filter stage: a positive operator with `or` terms is one clause;
 * a negative one is a clause of its terms (none may match). Returns 0 or ERR_NOMEM. */
int logql_filter_set_add(struct logql_filter_set *s, const struct logql_line_filter *f);
/* Compiles the hyperscan database. Returns 0, ERR_NOMEM, or ERR_INVALID (message in err) when
 * hyperscan fails for a reason other than an unsupported pattern. */
int logql_filter_set_build(struct logql_filter_set *s, char *err, size_t err_size);
void logql_filter_set_deinit(struct logql_filter_set *s);

/* Makes scratch usable with set s (allocates or grows). Returns 0 or ERR_NOMEM. */
int logql_filter_scratch_prepare(struct logql_filter_scratch *sc, const struct logql_filter_set *s);
void logql_filter_scratch_deinit(struct logql_filter_scratch *sc);

/* True when the line passes every clause. */
bool logql_filter_eval(const struct logql_filter_set *s, struct logql_filter_scratch *sc,
                       struct str line);

/* logql_filter_eval over n lines: sets bit i of keep ((n + 63) / 64 words) when lines[i] passes
 * and returns how many passed. Runs of contiguous lines (lines[i + 1].ptr == lines[i].ptr +
 * lines[i].len) are scanned by hyperscan in one call when the set allows it (db_block), a match
 * being credited to the line it ends in; a match that may have started in an earlier line sends
 * that line to logql_filter_eval. Same results as calling logql_filter_eval line by line. */
size_t logql_filter_eval_block(const struct logql_filter_set *s, struct logql_filter_scratch *sc,
                               const struct str *lines, size_t n, uint64_t *keep);

/* Translates a Go regex into hyperscan syntax with the same meaning. Returns false when the
 * pattern uses something the translation does not handle (then PCRE2 runs it). *utf8 is set when
 * the pattern must be compiled in UTF-8 mode. out is NUL-terminated. (Exposed for tests.) */
bool logql_filter_go_to_hs(struct str go, struct buf *out, bool *utf8);

/* PCRE2 10.42's JIT misses multi-byte characters for a bare \S, \W or \D when the pattern was
 * compiled with PCRE2_MATCH_INVALID_UTF (as logql_regex_compile does); such patterns must run on
 * the interpreter. True when the Go source has one of them outside a character class. */
bool logql_regex_jit_unsafe(struct str go);

/* pcre2_match of re on s from byte `start` (nojit: interpreter only). *md is the caller's match
 * data (created on first use, free with logql_regex_md_free). Fills up to n_pairs offset pairs
 * (SIZE_MAX for unset groups). Returns false when there is no match. */
bool logql_regex_exec(const struct logql_regex *re, struct str s, size_t start, bool nojit,
                      void **md, size_t *spans, size_t n_pairs);
void logql_regex_md_free(void *md);

/* True when s is valid UTF-8 (Go's rules). */
bool logql_utf8_valid(struct str s);

#endif
