/* Number, duration and byte-size text the way LogQL (Loki, Go) reads and writes it: Prometheus
 * durations (`1h30m`, `5d`), Go durations (`1.5s`, `-250ms`, `3600000000000ns`), humanized byte
 * sizes (`20MB`, `1.5KiB`), Go float/int literals, and the Go formatting used by Loki's
 * canonical query strings (time.Duration.String, model.Duration.String, fmt %v, strconv.Quote).
 *
 * Parsers return 0 or ERR_INVALID (syntax) / ERR_RANGE (overflow) and never read past `s`.
 * Formatters append to a buf and return 0 or ERR_NOMEM. Pure functions, thread-safe. */
#ifndef STRATA_ENGINE_LOGQL_UNITS_H
#define STRATA_ENGINE_LOGQL_UNITS_H

#include <stdbool.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/str.h"

/* Prometheus model.ParseDuration: units y w d h m s ms in decreasing order, "0" alone allowed. */
int logql_parse_prom_duration(struct str s, int64_t *ns);
/* Go time.ParseDuration: optional sign, fractions, units ns us µs μs ms s m h. */
int logql_parse_go_duration(struct str s, int64_t *ns);
/* Loki's duration literal: Prometheus syntax first, then Go syntax. */
int logql_parse_duration(struct str s, int64_t *ns);
/* go-humanize ParseBytes: number then an optional SI (kB, MB) or IEC (KiB, MiB) unit. */
int logql_parse_bytes(struct str s, uint64_t *out);
/* Go strconv.ParseFloat(s, 64): decimal, hex floats with a p exponent, '_' separators. Overflow
 * is ERR_RANGE. */
int logql_parse_float(struct str s, double *out);
/* Go strconv.Atoi: optional sign and decimal digits only. */
int logql_parse_int(struct str s, int64_t *out);

/* Go time.Duration.String: "1h2m3.5s", "250ms", "0s". */
int logql_fmt_go_duration(struct buf *b, int64_t ns);
/* Prometheus model.Duration.String: "1h30m", "1w", "0s" (millisecond resolution). */
int logql_fmt_prom_duration(struct buf *b, int64_t ns);
/* go-humanize Bytes without the space: "20MB", "1.5kB", "7B". */
int logql_fmt_bytes(struct buf *b, uint64_t v);
/* Go fmt %v of a float64: shortest digits, exponent form below 1e-4 and from 1e6 ("1e+06"). */
int logql_fmt_float_v(struct buf *b, double v);
/* Go strconv.FormatFloat(v, 'f', -1, 64): shortest digits, never an exponent. */
int logql_fmt_float_f(struct buf *b, double v);
/* Go fmt %f: six decimals. */
int logql_fmt_float_6(struct buf *b, double v);
/* Go strconv.Quote: double-quoted, escapes for ", \, control and non-printable runes. */
int logql_quote(struct buf *b, struct str s);

/* Go unicode.IsLetter / IsDigit / IsSpace approximations for identifiers (exact for ASCII). */
bool logql_rune_is_letter(uint32_t r);
bool logql_rune_is_digit(uint32_t r);
bool logql_rune_is_space(uint32_t r);

#endif
