/* Borrowed strings (pointer + length, not NUL-terminated) and label pairs, the vocabulary every
 * layer uses for series and stream identity. A `struct str` never owns its bytes. */
#ifndef STRATA_BASE_STR_H
#define STRATA_BASE_STR_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

struct str {
    const char *ptr;
    size_t len;
};

/* A label: name and value. A label set is an array sorted by name with unique names. */
struct label {
    struct str name;
    struct str value;
};

#define STR_LIT(s) ((struct str){(s), sizeof(s) - 1})

static inline struct str str_from_cstr(const char *s)
{
    return (struct str){s, strlen(s)};
}

static inline bool str_eq(struct str a, struct str b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

static inline bool str_eq_cstr(struct str a, const char *b)
{
    return str_eq(a, str_from_cstr(b));
}

/* Byte-wise comparison, shorter prefix first (the order Prometheus uses for label names and
 * values). */
static inline int str_cmp(struct str a, struct str b)
{
    size_t n = a.len < b.len ? a.len : b.len;
    int c = n ? memcmp(a.ptr, b.ptr, n) : 0;
    if (c)
        return c;
    return (a.len > b.len) - (a.len < b.len);
}

#endif
