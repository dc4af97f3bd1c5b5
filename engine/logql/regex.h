/* Regular expressions for LogQL with Go regexp (RE2) syntax, run on PCRE2.
 *
 * Loki compiles line filters (|~ !~), the `regexp` parser stage, label_replace and template
 * regexes with Go's regexp package. logql_re2_check validates a pattern against Go's
 * regexp/syntax rules (Perl flags): it rejects what RE2 rejects even when PCRE2 would accept it
 * (backreferences, lookaround, possessive/atomic groups, \C, nested repetition `a**`, repeat
 * counts above 1000, unknown escapes, bad POSIX classes) and reports the capture groups.
 * logql_regex_compile then compiles with PCRE2 using RE2-like options: UTF-8, `$` only at the
 * end, `.` not matching \n unless (?s), duplicate names allowed.
 *
 * A struct logql_regex is immutable once compiled; matching is thread-safe (per-thread match
 * data). Error messages look like Go's: "error parsing regexp: missing closing ): `(a`". */
#ifndef STRATA_ENGINE_LOGQL_REGEX_H
#define STRATA_ENGINE_LOGQL_REGEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/arena.h"
#include "base/str.h"

/* Compile flags. */
enum {
    LOGQL_RE_ANCHORED = 1, /* match the whole subject, like ^(?:re)$ */
};

struct logql_regex {
    void *code;        /* pcre2_code_8 * */
    uint32_t n_groups; /* capture groups, named or not */
    struct str *names; /* names[i] is the name of group i+1, "" when unnamed (arena) */
    uint32_t n_named;
};

/* Result of the syntax check: capture groups in order. names (arena) may be NULL when a is NULL. */
struct logql_re2_info {
    uint32_t n_groups;
    uint32_t n_named;
    struct str *names; /* n_groups entries, "" for unnamed groups */
};

int logql_re2_check(struct arena *a, struct str src, struct logql_re2_info *info, char *err,
                    size_t err_size);
int logql_regex_compile(struct arena *a, struct str src, unsigned flags, struct logql_regex *out,
                        char *err, size_t err_size);
void logql_regex_free(struct logql_regex *re);

/* True when the regex matches somewhere in (or, anchored, all of) subject. */
bool logql_regex_match(const struct logql_regex *re, struct str subject);
/* Finds the first match; spans[2*i], spans[2*i+1] receive the byte offsets of group i (group 0 is
 * the whole match; SIZE_MAX for a group that did not take part). Fills at most n_pairs pairs.
 * Returns false when there is no match. */
bool logql_regex_find(const struct logql_regex *re, struct str subject, size_t *spans,
                      size_t n_pairs);

#endif
