/* PromQL lexer: turns a query into tokens the way Prometheus 3.x's promql/parser/lex.go does,
 * including its context rules (keywords are plain identifiers inside braces; inside a range or
 * subquery bracket only numbers, durations, operators and step()/range()/min_of()/max_of() lex;
 * fill/fill_left/fill_right are keywords only when followed by "("), its number and duration
 * scanner, Go string escapes, and its error messages and positions.
 *
 * Tokens borrow the input (pos/len are byte offsets). After an ERROR token the lexer is done and
 * the message is in lexer->err. Not thread-safe; one lexer per query. */
#ifndef STRATA_ENGINE_PROMQL_LEX_H
#define STRATA_ENGINE_PROMQL_LEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum promql_tok {
    PROMQL_T_EOF,
    PROMQL_T_ERROR,
    PROMQL_T_COMMENT,
    PROMQL_T_IDENTIFIER,
    PROMQL_T_METRIC_IDENTIFIER,
    PROMQL_T_NUMBER,
    PROMQL_T_DURATION,
    PROMQL_T_STRING,
    PROMQL_T_LEFT_PAREN,
    PROMQL_T_RIGHT_PAREN,
    PROMQL_T_LEFT_BRACE,
    PROMQL_T_RIGHT_BRACE,
    PROMQL_T_LEFT_BRACKET,
    PROMQL_T_RIGHT_BRACKET,
    PROMQL_T_COMMA,
    PROMQL_T_EQL,
    PROMQL_T_COLON,
    /* operators */
    PROMQL_T_OPS_START_,
    PROMQL_T_ADD,
    PROMQL_T_SUB,
    PROMQL_T_MUL,
    PROMQL_T_DIV,
    PROMQL_T_MOD,
    PROMQL_T_POW,
    PROMQL_T_EQLC,
    PROMQL_T_NEQ,
    PROMQL_T_LSS,
    PROMQL_T_LTE,
    PROMQL_T_GTR,
    PROMQL_T_GTE,
    PROMQL_T_TRIM_UPPER,
    PROMQL_T_TRIM_LOWER,
    PROMQL_T_EQL_REGEX,
    PROMQL_T_NEQ_REGEX,
    PROMQL_T_AT,
    PROMQL_T_LAND,
    PROMQL_T_LOR,
    PROMQL_T_LUNLESS,
    PROMQL_T_ATAN2,
    PROMQL_T_OPS_END_,
    /* aggregators */
    PROMQL_T_AGGS_START_,
    PROMQL_T_SUM,
    PROMQL_T_AVG,
    PROMQL_T_COUNT,
    PROMQL_T_MIN,
    PROMQL_T_MAX,
    PROMQL_T_GROUP,
    PROMQL_T_STDDEV,
    PROMQL_T_STDVAR,
    PROMQL_T_TOPK,
    PROMQL_T_BOTTOMK,
    PROMQL_T_COUNT_VALUES,
    PROMQL_T_QUANTILE,
    PROMQL_T_LIMITK,
    PROMQL_T_LIMIT_RATIO,
    PROMQL_T_AGGS_END_,
    /* keywords */
    PROMQL_T_KEYWORDS_START_,
    PROMQL_T_BOOL,
    PROMQL_T_BY,
    PROMQL_T_GROUP_LEFT,
    PROMQL_T_GROUP_RIGHT,
    PROMQL_T_FILL,
    PROMQL_T_FILL_LEFT,
    PROMQL_T_FILL_RIGHT,
    PROMQL_T_IGNORING,
    PROMQL_T_OFFSET,
    PROMQL_T_SMOOTHED,
    PROMQL_T_ANCHORED,
    PROMQL_T_ON,
    PROMQL_T_WITHOUT,
    PROMQL_T_KEYWORDS_END_,
    /* preprocessors (also function names and metric names) */
    PROMQL_T_START,
    PROMQL_T_END,
    PROMQL_T_STEP,
    PROMQL_T_RANGE,
    PROMQL_T_MAX_OF,
    PROMQL_T_MIN_OF,
};

struct promql_token {
    enum promql_tok type;
    uint32_t pos; /* byte offset of the first byte */
    uint32_t len; /* bytes of input text (for ERROR: 0; the message is in the lexer) */
};

enum promql_lex_state {
    PROMQL_LS_STATEMENTS,
    PROMQL_LS_INSIDE_BRACES,
    PROMQL_LS_DURATION_EXPR,
    PROMQL_LS_DONE,
};

struct promql_lexer {
    const char *in;
    uint32_t len;
    uint32_t pos, start, width;
    enum promql_lex_state state;
    int paren_depth;
    bool brace_open, bracket_open, got_colon, got_duration;
    char string_open;
    bool emitted;
    struct promql_token *out;
    char err[256]; /* message of the ERROR token */
};

/* Inputs longer than this are rejected by the parser (positions are 32-bit). */
#define PROMQL_INPUT_MAX (64u << 20)

void promql_lex_init(struct promql_lexer *l, const char *input, uint32_t len);
/* Produces the next token (COMMENT tokens included). After EOF or ERROR it keeps returning EOF. */
void promql_lex_next(struct promql_lexer *l, struct promql_token *t);

static inline bool promql_tok_is_operator(enum promql_tok t)
{
    return t > PROMQL_T_OPS_START_ && t < PROMQL_T_OPS_END_;
}
static inline bool promql_tok_is_aggregator(enum promql_tok t)
{
    return t > PROMQL_T_AGGS_START_ && t < PROMQL_T_AGGS_END_;
}
static inline bool promql_tok_is_keyword(enum promql_tok t)
{
    return t > PROMQL_T_KEYWORDS_START_ && t < PROMQL_T_KEYWORDS_END_;
}

/* The canonical text of a fixed token ("(", "+", "sum", "by", "step"), NULL for variable ones. */
const char *promql_tok_str(enum promql_tok t);

#endif
