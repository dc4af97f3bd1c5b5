/* Series label and tenant id validation for ingest (rules in validate.h). */
#include "server/validate.h"

#include <stdio.h>
#include <string.h>

#include "base/error.h"
#include "formats/wire/utf8.h"

#define SHOW_LABELS_MAX 12 /* labels shown in a reason */
#define SHOW_TEXT_MAX   200

void validate_limits_default(struct validate_limits *l)
{
    *l = (struct validate_limits){
        .labels_per_series_max = 30,
        .label_name_bytes_max = 1024,
        .label_value_bytes_max = 2048,
    };
}

bool validate_utf8(const char *s, size_t n)
{
    const uint8_t *p = (const uint8_t *)s;
    size_t i = 0;
    while (i < n) {
        if (p[i] < 0x80) { /* ASCII run: the common case */
            i++;
            continue;
        }
        uint32_t cp;
        size_t k = wire_utf8_decode(p + i, n - i, &cp);
        if (k == 0)
            return false;
        i += k;
    }
    return true;
}

static bool tenant_char(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return true;
    return c && strchr("!-_.*'()", c) != NULL;
}

const char *validate_tenant(struct str t)
{
    if (t.len == 0)
        return "tenant id is empty";
    if (t.len > VALIDATE_TENANT_BYTES_MAX)
        return "tenant id is longer than 150 bytes";
    if (str_eq_cstr(t, ".") || str_eq_cstr(t, ".."))
        return "tenant id must not be \".\" or \"..\"";
    for (size_t i = 0; i < t.len; i++)
        if (!tenant_char((unsigned char)t.ptr[i]))
            return "tenant id may hold only letters, digits and !-_.*'()";
    return NULL;
}

/* ---- reasons ---- */

static bool legacy_name(struct str s)
{
    if (s.len == 0)
        return false;
    for (size_t i = 0; i < s.len; i++) {
        char c = s.ptr[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
                  (i > 0 && c >= '0' && c <= '9');
        if (!ok)
            return false;
    }
    return true;
}

/* Appends text to dst[0..cap) at *len; false when it does not fit. */
static bool put(char *dst, size_t cap, size_t *len, const char *text, size_t n)
{
    if (*len + n >= cap)
        return false;
    if (n)
        memcpy(dst + *len, text, n);
    *len += n;
    dst[*len] = 0;
    return true;
}

/* Appends s double-quoted, escaping quotes, backslashes, control bytes and bytes that are not
 * valid UTF-8 (\xNN); false when it does not fit (what fit is kept). */
static bool put_quoted(char *dst, size_t cap, size_t *len, struct str s)
{
    static const char hex[] = "0123456789abcdef";
    const uint8_t *p = (const uint8_t *)s.ptr;
    if (!put(dst, cap, len, "\"", 1))
        return false;
    for (size_t i = 0; i < s.len;) {
        uint8_t c = p[i];
        uint32_t cp;
        size_t k = c >= 0x80 ? wire_utf8_decode(p + i, s.len - i, &cp) : 0;
        char esc[4] = {'\\', (char)c, 0, 0};
        const char *out = esc;
        size_t m = 2;
        if (k > 0) {
            out = (const char *)p + i, m = k;
        } else if (c == '\n') {
            esc[1] = 'n';
        } else if (c < 0x20 || c >= 0x7f) {
            esc[1] = 'x', esc[2] = hex[c >> 4], esc[3] = hex[c & 15], m = 4;
        } else if (c != '"' && c != '\\') {
            out = (const char *)p + i, m = 1;
        }
        if (!put(dst, cap, len, out, m))
            return false;
        i += k ? k : 1;
    }
    return put(dst, cap, len, "\"", 1);
}

void validate_fmt_labels(char *dst, size_t cap, const struct label *labels, size_t n)
{
    if (cap < 8) {
        if (cap)
            dst[0] = 0;
        return;
    }
    size_t len = 0, room = cap - 4; /* keep room for "..." */
    dst[0] = 0;
    bool ok = put(dst, room, &len, "{", 1);
    for (size_t i = 0; ok && i < n; i++) {
        struct str name = labels[i].name;
        ok = (i == 0 || put(dst, room, &len, ", ", 2)) &&
             (legacy_name(name) ? put(dst, room, &len, name.ptr, name.len)
                                : put_quoted(dst, room, &len, name)) &&
             put(dst, room, &len, "=", 1) && put_quoted(dst, room, &len, labels[i].value);
    }
    ok = ok && put(dst, room, &len, "}", 1);
    if (!ok) {
        memcpy(dst + len, "...", 4);
    }
}

/* "series {...}: <problem>[ <quoted name>]"; returns code. */
static int fail(int code, char *reason, size_t size, const struct label *labels, size_t n,
                const char *problem, const struct str *name)
{
    char shown[SHOW_TEXT_MAX];
    validate_fmt_labels(shown, sizeof shown, labels, n < SHOW_LABELS_MAX ? n : SHOW_LABELS_MAX);
    if (!name) {
        snprintf(reason, size, "series %s: %s", shown, problem);
        return code;
    }
    char q[96];
    size_t qlen = 0;
    if (!put_quoted(q, sizeof q - 4, &qlen, *name))
        memcpy(q + qlen, "...", 4);
    snprintf(reason, size, "series %s: %s %s", shown, problem, q);
    return code;
}

/* ---- series ---- */

/* The first rule one label breaks, or NULL; *code gets ERR_INVALID or ERR_LIMIT. */
static const char *label_problem(const struct validate_limits *l, const struct label *lb, int *code)
{
    *code = ERR_INVALID;
    if (str_eq_cstr(lb->name, VALIDATE_TENANT_LABEL))
        return "label name is reserved for the tenant (use the X-Scope-OrgID header):";
    if (!validate_utf8(lb->name.ptr, lb->name.len))
        return "label name is not valid UTF-8:";
    if (!validate_utf8(lb->value.ptr, lb->value.len))
        return "label value is not valid UTF-8 for label";
    *code = ERR_LIMIT;
    if (l->label_name_bytes_max && lb->name.len > l->label_name_bytes_max)
        return "label name longer than the limit (--limits.max-label-name-bytes):";
    if (l->label_value_bytes_max && lb->value.len > l->label_value_bytes_max)
        return "label value longer than the limit (--limits.max-label-value-bytes) for label";
    return NULL;
}

int validate_series(const struct validate_limits *l, const struct label *labels, size_t n,
                    char *reason, size_t reason_size)
{
    size_t count = 0;
    bool has_name = false;
    for (size_t i = 0; i < n; i++) {
        if (labels[i].value.len == 0)
            continue; /* empty = absent */
        count++;
        int code;
        const char *why = label_problem(l, &labels[i], &code);
        if (why)
            return fail(code, reason, reason_size, labels, n, why, &labels[i].name);
        if (str_eq_cstr(labels[i].name, VALIDATE_METRIC_NAME))
            has_name = true;
    }
    if (!has_name)
        return fail(ERR_INVALID, reason, reason_size, labels, n,
                    "no metric name (label __name__ is missing or empty)", NULL);
    if (l->labels_per_series_max && count > l->labels_per_series_max) {
        char problem[128];
        snprintf(problem, sizeof problem,
                 "%zu labels, more than the limit of %u (--limits.max-labels-per-series)", count,
                 l->labels_per_series_max);
        return fail(ERR_LIMIT, reason, reason_size, labels, n, problem, NULL);
    }
    if (reason_size)
        reason[0] = 0;
    return 0;
}

size_t validate_labels_with_tenant(const struct label *in, size_t n, struct str tenant,
                                   struct label *out)
{
    static const struct str tl = STR_LIT(VALIDATE_TENANT_LABEL);
    size_t k = 0;
    bool placed = false;
    for (size_t i = 0; i < n; i++) {
        if (in[i].value.len == 0)
            continue;
        if (!placed && str_cmp(in[i].name, tl) > 0) {
            out[k++] = (struct label){tl, tenant};
            placed = true;
        }
        out[k++] = in[i];
    }
    if (!placed)
        out[k++] = (struct label){tl, tenant};
    return k;
}
