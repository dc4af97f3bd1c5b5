/* Structured logging as logfmt lines on stderr:
 *   ts=2026-11-22T10:00:00.123Z level=info shard=0 msg="listening" addr=:9090
 * Usage: log_info("listening", LOG_STR("addr", a), LOG_INT("port", p));
 * Values are quoted when they contain spaces, quotes, '=' or control bytes. One write(2) per line,
 * so lines from different threads never interleave. The shard field comes from log_set_shard() on
 * the calling thread (left out when unset). Lines below the global level are dropped cheaply. */
#ifndef STRATA_BASE_LOG_H
#define STRATA_BASE_LOG_H

#include <stdint.h>

enum log_level { LOG_DEBUG = 0, LOG_INFO = 1, LOG_WARN = 2, LOG_ERROR = 3 };

enum log_field_type { LOG_F_END = 0, LOG_F_STR, LOG_F_STRN, LOG_F_INT, LOG_F_UINT, LOG_F_F64 };

struct log_field {
    const char *key;
    enum log_field_type type;
    union {
        const char *s;
        int64_t i;
        uint64_t u;
        double f;
    } v;
    uint32_t n; /* length for LOG_F_STRN */
};

#define LOG_STR(k, val) ((struct log_field){.key = (k), .type = LOG_F_STR, .v.s = (val)})
#define LOG_STRN(k, val, len)                                                                      \
    ((struct log_field){.key = (k), .type = LOG_F_STRN, .v.s = (val), .n = (uint32_t)(len)})
#define LOG_INT(k, val) ((struct log_field){.key = (k), .type = LOG_F_INT, .v.i = (int64_t)(val)})
#define LOG_UINT(k, val)                                                                           \
    ((struct log_field){.key = (k), .type = LOG_F_UINT, .v.u = (uint64_t)(val)})
#define LOG_F64(k, val) ((struct log_field){.key = (k), .type = LOG_F_F64, .v.f = (double)(val)})
/* err=<err_str(code)> */
#define LOG_ERR(code) LOG_STR("err", err_str(code))

#define log_at(level, msg, ...)                                                                    \
    do {                                                                                           \
        if ((level) >= log_level_get())                                                            \
            log_emit((level), (msg),                                                               \
                     (const struct log_field[]){__VA_ARGS__ __VA_OPT__(, ){.key = 0}});            \
    } while (0)
#define log_debug(msg, ...) log_at(LOG_DEBUG, msg, __VA_ARGS__)
#define log_info(msg, ...)  log_at(LOG_INFO, msg, __VA_ARGS__)
#define log_warn(msg, ...)  log_at(LOG_WARN, msg, __VA_ARGS__)
#define log_error(msg, ...) log_at(LOG_ERROR, msg, __VA_ARGS__)

void log_emit(enum log_level level, const char *msg, const struct log_field *fields);
enum log_level log_level_get(void);
void log_level_set(enum log_level level);
/* Parses "debug|info|warn|error"; returns 0 or ERR_INVALID. */
int log_level_parse(const char *s, enum log_level *out);
/* Tags lines from this thread with shard=<id>; -1 removes the tag. */
void log_set_shard(int shard);
/* Redirects output (default: fd 2); tests use a pipe or file. */
void log_set_fd(int fd);
/* Formats one line into out (NUL-terminated, truncated to size); returns its length. For tests. */
int log_format(char *out, int size, int64_t unix_ns, enum log_level level, int shard,
               const char *msg, const struct log_field *fields);

#endif
