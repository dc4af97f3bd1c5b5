/* A strict JSON syntax checker for the strata-load tests (RFC 8259 grammar; no semantics): tells
 * whether bytes are exactly one JSON value. Test-only helper. */
#ifndef STRATA_TESTS_TOOLS_JSON_CHECK_H
#define STRATA_TESTS_TOOLS_JSON_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

struct jc {
    const char *p, *e;
    int depth;
};

static bool jc_value(struct jc *j);

static void jc_ws(struct jc *j)
{
    while (j->p < j->e && (*j->p == ' ' || *j->p == '\n' || *j->p == '\r' || *j->p == '\t'))
        j->p++;
}

static bool jc_string(struct jc *j)
{
    if (j->p >= j->e || *j->p != '"')
        return false;
    for (j->p++; j->p < j->e; j->p++) {
        unsigned char c = (unsigned char)*j->p;
        if (c == '"') {
            j->p++;
            return true;
        }
        if (c < 0x20)
            return false;
        if (c == '\\') {
            if (++j->p >= j->e || !strchr("\"\\/bfnrtu", *j->p))
                return false;
            if (*j->p == 'u') {
                for (int i = 0; i < 4; i++)
                    if (++j->p >= j->e || !strchr("0123456789abcdefABCDEF", *j->p))
                        return false;
            }
        }
    }
    return false;
}

static bool jc_number(struct jc *j)
{
    const char *s = j->p;
    if (j->p < j->e && *j->p == '-')
        j->p++;
    if (j->p >= j->e || *j->p < '0' || *j->p > '9')
        return false;
    if (*j->p == '0')
        j->p++;
    else
        while (j->p < j->e && *j->p >= '0' && *j->p <= '9')
            j->p++;
    if (j->p < j->e && *j->p == '.') {
        j->p++;
        if (j->p >= j->e || *j->p < '0' || *j->p > '9')
            return false;
        while (j->p < j->e && *j->p >= '0' && *j->p <= '9')
            j->p++;
    }
    if (j->p < j->e && (*j->p == 'e' || *j->p == 'E')) {
        j->p++;
        if (j->p < j->e && (*j->p == '+' || *j->p == '-'))
            j->p++;
        if (j->p >= j->e || *j->p < '0' || *j->p > '9')
            return false;
        while (j->p < j->e && *j->p >= '0' && *j->p <= '9')
            j->p++;
    }
    return j->p > s;
}

static bool jc_lit(struct jc *j, const char *w)
{
    size_t n = strlen(w);
    if ((size_t)(j->e - j->p) < n || memcmp(j->p, w, n) != 0)
        return false;
    j->p += n;
    return true;
}

static bool jc_container(struct jc *j, char close, bool obj)
{
    if (++j->depth > 64)
        return false;
    j->p++;
    jc_ws(j);
    if (j->p < j->e && *j->p == close) {
        j->p++;
        j->depth--;
        return true;
    }
    for (;;) {
        jc_ws(j);
        if (obj) {
            if (!jc_string(j))
                return false;
            jc_ws(j);
            if (j->p >= j->e || *j->p++ != ':')
                return false;
        }
        if (!jc_value(j))
            return false;
        jc_ws(j);
        if (j->p >= j->e)
            return false;
        char c = *j->p++;
        if (c == close) {
            j->depth--;
            return true;
        }
        if (c != ',')
            return false;
    }
}

static bool jc_value(struct jc *j)
{
    jc_ws(j);
    if (j->p >= j->e)
        return false;
    switch (*j->p) {
    case '{': return jc_container(j, '}', true);
    case '[': return jc_container(j, ']', false);
    case '"': return jc_string(j);
    case 't': return jc_lit(j, "true");
    case 'f': return jc_lit(j, "false");
    case 'n': return jc_lit(j, "null");
    default: return jc_number(j);
    }
}

/* True when s[0..n) is exactly one JSON value (surrounding whitespace allowed). */
static inline bool json_valid(const char *s, size_t n)
{
    struct jc j = {s, s + n, 0};
    if (!jc_value(&j))
        return false;
    jc_ws(&j);
    return j.p == j.e;
}

#endif
