/* LogQL lexer: turns a query into tokens the way Loki's lexer does (Go text/scanner plus Loki's
 * rules): keywords are case-insensitive; function names (rate, sum, ip, bytes, ...) are keywords
 * only when followed by `(` or `by`/`without (`; numbers followed by a unit become DURATION or
 * BYTES tokens; `[...]` is a RANGE token; `--strict`/`--keep-empty` are FLAG tokens; `#`, `//`
 * and block comments are skipped; strings use Go quoting ("...", `...`).
 *
 * logql_lex tokenizes the whole input at once into an array allocated in the arena; decoded
 * string values also live in the arena. On a lexical error it returns ERR_INVALID with a message
 * "parse error at line L, col C: ..." in err. Not thread-safe per arena. */
#ifndef STRATA_ENGINE_LOGQL_LEX_H
#define STRATA_ENGINE_LOGQL_LEX_H

#include <stddef.h>
#include <stdint.h>

#include "base/arena.h"
#include "base/str.h"

/* Queries this long or longer are rejected, as Loki does. */
#define LOGQL_MAX_QUERY_BYTES 131072

enum logql_tok_kind {
    LT_EOF,
    LT_IDENT,    /* str = the identifier (original case) */
    LT_STRING,   /* str = decoded value */
    LT_NUMBER,   /* str = literal text, e.g. "0.5", "1e3", "0x1p3" */
    LT_DURATION, /* ns */
    LT_BYTES,    /* bytes */
    LT_RANGE,    /* ns: the content of [...] */
    LT_FLAG,     /* sub = LOGQL_FLAG_* */
    LT_COMMA,
    LT_DOT,
    LT_LBRACE,
    LT_RBRACE,
    LT_LPAREN,
    LT_RPAREN,
    LT_LBRACKET,
    LT_RBRACKET,
    LT_EQ,           /* = */
    LT_NEQ,          /* != */
    LT_RE,           /* =~ */
    LT_NRE,          /* !~ */
    LT_NPA,          /* !> */
    LT_PIPE_EXACT,   /* |= */
    LT_PIPE_MATCH,   /* |~ */
    LT_PIPE_PATTERN, /* |> */
    LT_PIPE,         /* | */
    LT_OR,
    LT_AND,
    LT_UNLESS,
    LT_ADD,
    LT_SUB,
    LT_MUL,
    LT_DIV,
    LT_MOD,
    LT_POW,
    LT_CMP_EQ, /* == */
    LT_GT,
    LT_GTE,
    LT_LT,
    LT_LTE,
    LT_BY,
    LT_WITHOUT,
    LT_BOOL,
    LT_OFFSET,
    LT_ON,
    LT_IGNORING,
    LT_GROUP_LEFT,
    LT_GROUP_RIGHT,
    LT_JSON,
    LT_REGEXP,
    LT_LOGFMT,
    LT_UNPACK,
    LT_PATTERN,
    LT_LABEL_FMT,
    LT_LINE_FMT,
    LT_DECOLORIZE,
    LT_DROP,
    LT_KEEP,
    LT_UNWRAP,
    /* function names (followed by a parenthesis) */
    LT_RANGE_OP,  /* sub = enum logql_range_op */
    LT_VECTOR_OP, /* sub = enum logql_vector_op */
    LT_VECTOR,
    LT_LABEL_REPLACE,
    LT_CONV, /* sub = enum logql_conv */
    LT_IP,
    LT_KIND_COUNT_,
};

enum { LOGQL_FLAG_STRICT = 1, LOGQL_FLAG_KEEP_EMPTY = 2 };

struct logql_tok {
    enum logql_tok_kind kind;
    int sub;
    uint32_t pos, len; /* bytes of the query this token spans */
    uint32_t line, col;
    struct str str;
    int64_t ns;
    uint64_t bytes;
};

int logql_lex(struct arena *a, struct str query, struct logql_tok **toks, size_t *n, char *err,
              size_t err_size);

/* Human-readable token name for syntax errors, e.g. "IDENTIFIER", "|=", "by". */
const char *logql_tok_name(enum logql_tok_kind k);

/* Decodes a Go string literal (with its quotes: "..." or `...`) into the arena: escapes, octal,
 * \x, \u, \U. Returns ERR_INVALID with a message for a malformed literal. */
int logql_unquote(struct arena *a, struct str lit, struct str *out, char *err, size_t err_size);

#endif
