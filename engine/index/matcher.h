/* Label matchers (=, !=, =~, !~) with Prometheus 3 semantics: regexes are RE2 syntax, fully
 * anchored, and `.` matches newlines — as if compiled as ^(?s:RE)$ — and the bare RE must be valid
 * on its own. Regexes run on PCRE2 (JIT when available) after a syntax check that rejects what RE2
 * does not accept (backreferences, lookaround, possessive/atomic groups, \C). Common shapes skip
 * the regex engine entirely: a literal, `.*`, `.+`, an alternation of literals (a finite set usable
 * for postings lookups), `lit.*`, `.*lit` and `.*lit.*`.
 *
 * A matcher owns copies of its name and value. matcher_matches is safe to call from several threads
 * at once on the same matcher (match data is per thread). A label that is absent matches as "". */
#ifndef STRATA_ENGINE_INDEX_MATCHER_H
#define STRATA_ENGINE_INDEX_MATCHER_H

#include <stdbool.h>
#include <stddef.h>

#include "base/str.h"

enum matcher_type { MATCHER_EQ, MATCHER_NEQ, MATCHER_RE, MATCHER_NRE };

/* How a regex is evaluated (exposed for tests and for the planner). */
enum matcher_shape {
    SHAPE_LITERAL,  /* exact string (also every EQ/NEQ matcher) */
    SHAPE_SET,      /* one of several literals: a|b|c */
    SHAPE_ANY,      /* .* : everything */
    SHAPE_NONEMPTY, /* .+ : everything but "" */
    SHAPE_PREFIX,   /* lit.* */
    SHAPE_SUFFIX,   /* .*lit */
    SHAPE_CONTAINS, /* .*lit.* */
    SHAPE_REGEX,    /* general: PCRE2 */
};

struct matcher {
    enum matcher_type type;
    enum matcher_shape shape;
    struct str name;  /* owned */
    struct str value; /* owned: the literal or the regex source */
    struct str
        *set; /* SHAPE_SET: the literals (owned, sorted, unique); SHAPE_*FIX/CONTAINS: set[0] */
    size_t set_len;
    void *re; /* pcre2_code_8 * for SHAPE_REGEX */
};

/* Builds a matcher. For regex types an invalid pattern returns ERR_INVALID with a message in err
 * (NUL-terminated, at most err_size bytes) naming the problem and position, like "error parsing
 * regexp: missing closing ): `(a`". ERR_NOMEM on allocation failure. */
int matcher_init(struct matcher *m, enum matcher_type type, struct str name, struct str value,
                 char *err, size_t err_size);
void matcher_deinit(struct matcher *m);

bool matcher_matches(const struct matcher *m, struct str value);

/* True when the matcher accepts the empty string, i.e. also selects series without the label. */
static inline bool matcher_matches_empty(const struct matcher *m)
{
    return matcher_matches(m, (struct str){"", 0});
}

/* For positive matchers (EQ, or RE of shape LITERAL/SET): the finite set of values it accepts, so
 * the index can union postings instead of scanning every value. Returns false otherwise. */
bool matcher_finite_values(const struct matcher *m, const struct str **values, size_t *n);

/* "=", "!=", "=~", "!~" */
const char *matcher_type_str(enum matcher_type t);

#endif
