/* Go-compatible string quoting and unquoting for PromQL: the printer and the error messages quote
 * the way Go's strconv.Quote / QuoteRune and fmt's %q, %.Nq and %#U do, and string literals unquote
 * the way Prometheus's strutil.Unquote does ("…" and '…' with Go escapes, `…` raw).
 *
 * Go's unicode.IsPrint needs the full Unicode tables; promql_is_print approximates it: controls,
 * non-ASCII spaces and separators, the common format characters (Cf), surrogates, private use and
 * non-characters are non-printable; every other code point counts as printable.
 *
 * All functions append to a struct buf and return 0 or ERR_NOMEM. Thread-safe (no state). */
#ifndef STRATA_ENGINE_PROMQL_QUOTE_H
#define STRATA_ENGINE_PROMQL_QUOTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

#define PROMQL_RUNE_ERROR 0xFFFDu

/* Decodes one rune like Go's utf8.DecodeRuneInString: returns its width (1..4) and the code point,
 * or width 1 and U+FFFD for an invalid byte. n must be > 0. */
size_t promql_utf8_decode(const char *p, size_t n, uint32_t *r);
bool promql_utf8_valid(const char *p, size_t n);
bool promql_is_print(uint32_t r);

/* strconv.Quote: double-quoted with Go escapes; invalid bytes as \xNN. One deliberate
 * difference: U+FFFD is written as \ufffd (Go writes it raw, which PromQL's lexer then rejects),
 * so printed queries always parse again. */
int promql_quote(struct buf *b, const char *s, size_t n);
/* fmt %.<max_runes>q: quotes at most the first max_runes runes. */
int promql_quote_prefix(struct buf *b, const char *s, size_t n, size_t max_runes);
/* strconv.QuoteRune: single-quoted; r < 0 or invalid is shown as U+FFFD. */
int promql_quote_rune(struct buf *b, int32_t r);
/* fmt %#U: "U+0063 'c'" (the character only when printable). */
int promql_format_unicode(struct buf *b, int32_t r);

/* strutil.Unquote of a whole literal including its quotes. Appends the value to out and returns 0,
 * ERR_INVALID for a malformed literal (Go's "invalid syntax"), or ERR_NOMEM. */
int promql_unquote(const char *s, size_t n, struct buf *out);

/* True for names matching [a-zA-Z_][a-zA-Z0-9_]* (printed without quotes). */
bool promql_is_legacy_label_name(const char *s, size_t n);

#endif
