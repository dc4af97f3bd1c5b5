/* logfmt writer. */
#include "base/log.h"

#include <math.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/error.h"

static _Atomic int g_level = LOG_INFO;
static _Atomic int g_fd = 2;
static _Thread_local int t_shard = -1;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

enum log_level log_level_get(void)
{
    return (enum log_level)atomic_load_explicit(&g_level, memory_order_relaxed);
}

void log_level_set(enum log_level level)
{
    atomic_store(&g_level, (int)level);
}

int log_level_parse(const char *s, enum log_level *out)
{
    for (int i = 0; i < 4; i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *out = (enum log_level)i;
            return 0;
        }
    }
    return ERR_INVALID;
}

void log_set_shard(int shard)
{
    t_shard = shard;
}

void log_set_fd(int fd)
{
    atomic_store(&g_fd, fd);
}

struct out {
    char *p;
    int size;
    int len;
};

static void put(struct out *o, const char *s, int n)
{
    for (int i = 0; i < n && o->len < o->size - 2; i++)
        o->p[o->len++] = s[i];
}

static void putf(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void putf(struct out *o, const char *fmt, ...)
{
    char tmp[64];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    put(o, tmp, n < (int)sizeof tmp ? n : (int)sizeof tmp - 1);
}

static int needs_quote(const char *s, size_t n)
{
    if (n == 0)
        return 1;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= ' ' || c == '"' || c == '=' || c == '\\' || c == 0x7f)
            return 1;
    }
    return 0;
}

static void put_value(struct out *o, const char *s, size_t n)
{
    if (!s) {
        put(o, "null", 4);
        return;
    }
    if (!needs_quote(s, n)) {
        put(o, s, (int)n);
        return;
    }
    put(o, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            put(o, e, 2);
        } else if (c == '\n') {
            put(o, "\\n", 2);
        } else if (c < ' ' || c == 0x7f) {
            putf(o, "\\x%02x", c);
        } else {
            put(o, (const char *)&s[i], 1);
        }
    }
    put(o, "\"", 1);
}

int log_format(char *out, int size, int64_t unix_ns, enum log_level level, int shard,
               const char *msg, const struct log_field *fields)
{
    struct out o = {out, size, 0};
    char ts[40];
    clock_fmt_rfc3339_ms(unix_ns, ts, sizeof ts);
    putf(&o, "ts=%s level=%s", ts, level_names[level & 3]);
    if (shard >= 0)
        putf(&o, " shard=%d", shard);
    put(&o, " msg=", 5);
    put_value(&o, msg, strlen(msg));
    for (const struct log_field *f = fields; f && f->key; f++) {
        put(&o, " ", 1);
        put(&o, f->key, (int)strlen(f->key));
        put(&o, "=", 1);
        switch (f->type) {
        case LOG_F_STR: put_value(&o, f->v.s, f->v.s ? strlen(f->v.s) : 0); break;
        case LOG_F_STRN: put_value(&o, f->v.s, f->n); break;
        case LOG_F_INT: putf(&o, "%lld", (long long)f->v.i); break;
        case LOG_F_UINT: putf(&o, "%llu", (unsigned long long)f->v.u); break;
        case LOG_F_F64:
            if (isfinite(f->v.f))
                putf(&o, "%.6g", f->v.f);
            else
                put(&o,
                    isnan(f->v.f) ? "NaN"
                    : f->v.f > 0  ? "+Inf"
                                  : "-Inf",
                    isnan(f->v.f) ? 3 : 4);
            break;
        case LOG_F_END: break;
        }
    }
    if (o.len < o.size - 1) /* put() kept room for the newline and the NUL (size >= 2) */
        o.p[o.len++] = '\n';
    if (o.len < o.size)
        o.p[o.len] = 0;
    return o.len;
}

void log_emit(enum log_level level, const char *msg, const struct log_field *fields)
{
    char line[4096];
    int n = log_format(line, sizeof line, clock_real_ns(), level, t_shard, msg, fields);
    ssize_t w = write(atomic_load(&g_fd), line, (size_t)n);
    (void)w;
}
