/* Zero-allocation pull reader for JSON (RFC 8259), for Loki push bodies and LogQL's `| json`.
 * Design notes and benchmark figures: docs/json.md.
 *
 * Strict: what Go's encoding/json rejects is rejected: trailing commas, comments, single quotes,
 * leading zeros, `+1`, `.5`, `1.`, NaN/Infinity, unescaped control bytes (< 0x20) in strings,
 * unknown escapes, bad \u hex, anything after the top-level value but whitespace (unless
 * JSONR_OPT_TRAILING), nesting deeper than JSONR_DEPTH_MAX. Like Go, invalid UTF-8 inside strings
 * is accepted; jsonr_unescape turns each invalid byte into U+FFFD (so do lone \u surrogates).
 *
 * Use: jsonr_init over borrowed bytes, then jsonr_next until it returns JSONR_END (0) or an error
 * (< 0). After each token, jsonr_text() is its text, borrowed from the input:
 *   JSONR_KEY, JSONR_STRING   the raw string body without the quotes; jsonr_flags() has
 *                             JSONR_STR_ESCAPED when it holds backslash escapes and
 *                             JSONR_STR_BADUTF8 when it holds invalid UTF-8: with either flag the
 *                             text must go through jsonr_unescape, without them it is the value;
 *   JSONR_NUMBER              the literal (`-0`, `1.5e+3`), JSONR_NUM_* flags; see jsonr_int64,
 *                             jsonr_double;
 *   JSONR_TRUE/FALSE/NULL     the literal; containers: the bracket.
 * A key token already consumed the ':' after it; the next token is the key's value.
 *
 * Errors: ERR_CORRUPT (syntax), ERR_TRUNCATED (input ends inside the document), ERR_LIMIT (depth).
 * They are sticky: every later call returns the same code. jsonr_err_offset() is the byte offset
 * of the offending byte (or the input length when truncated) and jsonr_err_msg() says why in
 * Go's words ("invalid character '}' after object key"). Never reads outside [p, p+n).
 * Not thread-safe; a reader is a plain value (~130 bytes) the caller owns, no deinit needed. */
#ifndef STRATA_FORMATS_JSONR_H
#define STRATA_FORMATS_JSONR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/str.h"

#define JSONR_DEPTH_MAX 512 /* containers open at once; one more is ERR_LIMIT */

enum jsonr_tok {
    JSONR_END = 0, /* the top-level value is complete (and only whitespace follows) */
    JSONR_OBJ_BEGIN,
    JSONR_OBJ_END,
    JSONR_ARR_BEGIN,
    JSONR_ARR_END,
    JSONR_KEY,
    JSONR_STRING,
    JSONR_NUMBER,
    JSONR_TRUE,
    JSONR_FALSE,
    JSONR_NULL,
};

/* jsonr_flags() of a string or key */
enum {
    JSONR_STR_ESCAPED = 1,  /* contains backslash escapes */
    JSONR_STR_BADUTF8 = 2,  /* contains bytes that are not valid UTF-8 */
    JSONR_STR_NONASCII = 4, /* contains bytes >= 0x80 (valid UTF-8 or not) */
};
/* jsonr_flags() of a number */
enum {
    JSONR_NUM_NEG = 1,  /* leading '-' */
    JSONR_NUM_FRAC = 2, /* has a fraction part */
    JSONR_NUM_EXP = 4,  /* has an exponent */
};

/* jsonr_init options */
enum {
    JSONR_OPT_TRAILING = 1, /* stop after the top-level value; ignore whatever bytes follow */
};

struct jsonr {
    const uint8_t *begin, *p, *end;
    struct str text; /* of the last token */
    uint32_t depth;  /* containers open */
    uint8_t state;   /* what may come next (private) */
    uint8_t opts;
    uint8_t flags; /* of the last token */
    uint8_t tok;   /* the last token */
    uint8_t err_kind, err_char;
    int err;
    size_t err_off;
    uint64_t is_obj[JSONR_DEPTH_MAX / 64]; /* bit d: the container at depth d+1 is an object */
};

void jsonr_init(struct jsonr *r, const void *p, size_t n, unsigned opts);

/* The next token (enum jsonr_tok, > 0), JSONR_END after the document, or an error code. */
int jsonr_next(struct jsonr *r);

/* Skips the value the last token began: after JSONR_KEY the key's whole value, after
 * JSONR_OBJ_BEGIN/JSONR_ARR_BEGIN the rest of that container (through its end token); after a
 * scalar it does nothing. Validates what it skips. When raw is not NULL it receives the value's
 * complete text (for a string including the quotes). Returns 0 or the reader's error. */
int jsonr_skip(struct jsonr *r, struct str *raw);

static inline struct str jsonr_text(const struct jsonr *r)
{
    return r->text;
}
static inline unsigned jsonr_flags(const struct jsonr *r)
{
    return r->flags;
}
/* Containers open after the last token (1 inside the top-level object). */
static inline uint32_t jsonr_depth(const struct jsonr *r)
{
    return r->depth;
}
/* Byte offset just past the last token. */
static inline size_t jsonr_offset(const struct jsonr *r)
{
    return (size_t)(r->p - r->begin);
}
static inline int jsonr_err(const struct jsonr *r)
{
    return r->err;
}
static inline size_t jsonr_err_offset(const struct jsonr *r)
{
    return r->err_off;
}
/* Writes the reason for the error ("" when none) NUL-terminated into dst; returns dst. */
char *jsonr_err_msg(const struct jsonr *r, char *dst, size_t cap);

/* ---- strings ---- */

/* Upper bound of jsonr_unescape's output for a string token with these flags. */
static inline size_t jsonr_unescape_max(struct str raw, unsigned flags)
{
    return (flags & JSONR_STR_BADUTF8) ? 3 * raw.len : raw.len;
}

/* Decodes a raw string body (as jsonr_text gives it) into out[0..cap): escapes, surrogate pairs
 * to UTF-8; lone surrogates and invalid UTF-8 bytes to U+FFFD (Go's rules). Sets *len_out.
 * Returns 0, ERR_FULL when cap is too small (cap >= jsonr_unescape_max never is), or ERR_CORRUPT
 * when raw holds a bad escape (never for text from the reader). */
int jsonr_unescape(struct str raw, char *out, size_t cap, size_t *len_out);

/* The same, appending to a growable buffer. Returns 0, ERR_NOMEM or ERR_CORRUPT. */
int jsonr_unescape_buf(struct str raw, struct buf *out);

/* Whether the decoded value of raw string body `raw` equals `plain`, without allocating. */
bool jsonr_str_eq(struct str raw, unsigned flags, struct str plain);

/* ---- numbers (text of a JSONR_NUMBER token) ---- */

/* Exact integer: 0, ERR_RANGE (outside int64), ERR_INVALID (has a fraction or exponent, or is
 * not a JSON number). */
int jsonr_int64(struct str num, int64_t *out);
/* Nearest double (correctly rounded, any length): 0, ERR_RANGE (|v| overflows; *out = ±inf),
 * ERR_INVALID (not a JSON number). Underflow gives 0 or a subnormal without error, like Go. */
int jsonr_double(struct str num, double *out);

/* ---- paths: `| json name="a.b[0]"` ---- */

/* One step of a path: an object key or an array index. */
struct jsonr_path_seg {
    bool is_index;
    int64_t index;  /* is_index */
    struct str key; /* object key (decoded form) */
};

/* Parses Loki's path syntax: `a.b`, `a[0]`, `a["b.c"]`, `[1].x`; fields are
 * [A-Za-z_][A-Za-z0-9_]*, indexes decimal, quoted keys have no escapes and end at '"' or ']';
 * spaces, tabs and newlines between tokens are ignored. Segments borrow from expr. Returns 0,
 * ERR_INVALID (syntax) or ERR_LIMIT (more than cap segments). */
int jsonr_path_parse(struct str expr, struct jsonr_path_seg *segs, size_t cap, size_t *n_out);

/* From a fresh reader (or one whose last token began a value), walks to the value at the path:
 * returns that value's first token (JSONR_STRING, JSONR_OBJ_BEGIN, ...) with the reader on it, so
 * jsonr_text() or jsonr_skip(r, &raw) give the value. Duplicate keys: the first match wins. An
 * empty path selects the value itself. Returns ERR_NOT_FOUND when a step is missing or has the
 * wrong type, or the reader's error when the bytes before the match are malformed (bytes after
 * the match are not read). */
int jsonr_find_path(struct jsonr *r, const struct jsonr_path_seg *segs, size_t n);

/* ---- flattening: what `| json` (no arguments) extracts ---- */

/* Iterates the leaves of a JSON object the way Loki's `| json` does: strings, numbers and
 * booleans of nested objects, named by joining the keys with '_' (`{"a":{"b":1}}` -> a_b); keys
 * are decoded, trimmed of Unicode spaces, and every rune outside [A-Za-z0-9_] becomes '_'; a
 * name starting with a digit gets a leading '_'; empty (all-space) keys add nothing to the name.
 * Arrays and nulls are skipped, as are leaves whose name comes out empty. */
struct jsonr_flat {
    struct jsonr r;
    struct buf *name;                /* caller's scratch: the current name */
    struct buf *value;               /* caller's scratch: decoded string values */
    uint32_t n_prefix;               /* open objects below the top */
    uint32_t prefix_len;             /* name bytes of the enclosing objects' keys */
    uint32_t stack[JSONR_DEPTH_MAX]; /* prefix_len before each open object */
};

/* Iterates json[0..n), which must be an object. The scratch buffers are reused across lines, so
 * after they have grown no call allocates. */
void jsonr_flat_init(struct jsonr_flat *f, const void *json, size_t n, unsigned opts,
                     struct buf *name_scratch, struct buf *value_scratch);

/* The next leaf: returns its token type (JSONR_STRING, JSONR_NUMBER, JSONR_TRUE, JSONR_FALSE)
 * with *name and *value set (decoded; valid until the next call), JSONR_END when done, or an
 * error (ERR_CORRUPT for a top-level value that is not an object, the reader's errors, ERR_NOMEM).
 * Leaves before a syntax error are returned before the error, as Loki keeps them. */
int jsonr_flat_next(struct jsonr_flat *f, struct str *name, struct str *value);

#endif
