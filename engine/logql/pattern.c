/* Loki pattern parsing and matching (see pattern.h). */
#include "engine/logql/pattern.h"

#include <stdio.h>
#include <string.h>

#include "base/error.h"
#include "formats/wire/utf8.h"

static bool ident_start(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool ident_char(char c)
{
    return ident_start(c) || (c >= '0' && c <= '9');
}

/* Length of a capture `<name>` at s[0..n), or 0 when s does not start with one. */
static size_t capture_len(const char *s, size_t n)
{
    if (n < 3 || s[0] != '<' || !ident_start(s[1]))
        return 0;
    size_t i = 2;
    while (i < n && ident_char(s[i]))
        i++;
    return i < n && s[i] == '>' ? i + 1 : 0;
}

static int tokenize(struct arena *a, struct str src, struct logql_pattern *p, char *err,
                    size_t err_size)
{
    size_t cap = 0;
    for (size_t i = 0; i < src.len; i++)
        cap += src.ptr[i] == '<';
    p->nodes = arena_alloc(a, (2 * cap + 2) * sizeof *p->nodes);
    if (!p->nodes)
        return ERR_NOMEM;
    size_t i = 0;
    while (i < src.len) {
        size_t cl = capture_len(src.ptr + i, src.len - i);
        if (cl) {
            p->nodes[p->n_nodes++] = (struct logql_pattern_node){true, {src.ptr + i + 1, cl - 2}};
            i += cl;
            continue;
        }
        size_t j = i;
        while (j < src.len && !capture_len(src.ptr + j, src.len - j)) {
            uint32_t r;
            size_t l = wire_utf8_decode((const uint8_t *)src.ptr + j, src.len - j, &r);
            if (!l) {
                snprintf(err, err_size, "parse error at line 1, col %zu: invalid UTF-8", j + 1);
                return ERR_INVALID;
            }
            j += l;
        }
        p->nodes[p->n_nodes++] = (struct logql_pattern_node){false, {src.ptr + i, j - i}};
        i = j;
    }
    return 0;
}

static bool unnamed(const struct logql_pattern_node *n)
{
    return n->capture && n->text.len == 1 && n->text.ptr[0] == '_';
}

static int validate(const struct logql_pattern *p, bool line_filter, char *err, size_t err_size)
{
    for (size_t i = 0; i + 1 < p->n_nodes; i++) {
        if (p->nodes[i].capture && p->nodes[i + 1].capture) {
            snprintf(err, err_size, "found consecutive capture '<%.*s><%.*s>': invalid expression",
                     (int)p->nodes[i].text.len, p->nodes[i].text.ptr, (int)p->nodes[i + 1].text.len,
                     p->nodes[i + 1].text.ptr);
            return ERR_INVALID;
        }
    }
    for (size_t i = 0; i < p->n_nodes; i++) {
        const struct logql_pattern_node *n = &p->nodes[i];
        if (!n->capture || unnamed(n))
            continue;
        if (line_filter) {
            snprintf(err, err_size, "named captures are not allowed: found '<%.*s>'",
                     (int)n->text.len, n->text.ptr);
            return ERR_INVALID;
        }
        for (size_t j = 0; j < i; j++) {
            if (p->nodes[j].capture && str_eq(p->nodes[j].text, n->text)) {
                snprintf(err, err_size, "duplicate capture name (%.*s): invalid expression",
                         (int)n->text.len, n->text.ptr);
                return ERR_INVALID;
            }
        }
    }
    if (!line_filter && p->n_named == 0) {
        snprintf(err, err_size, "at least one capture is required");
        return ERR_INVALID;
    }
    return 0;
}

int logql_pattern_parse(struct arena *a, struct str src, bool line_filter,
                        struct logql_pattern **out, char *err, size_t err_size)
{
    struct logql_pattern *p = arena_alloc(a, sizeof *p);
    if (!p)
        return ERR_NOMEM;
    memset(p, 0, sizeof *p);
    if (src.len == 0 && !line_filter) {
        snprintf(err, err_size, "parse error at line 1, col 1: syntax error: unexpected $end");
        return ERR_INVALID;
    }
    int rc = tokenize(a, src, p, err, err_size);
    if (rc)
        return rc;
    for (size_t i = 0; i < p->n_nodes; i++)
        p->n_named += p->nodes[i].capture && !unnamed(&p->nodes[i]);
    rc = validate(p, line_filter, err, err_size);
    if (rc)
        return rc;
    *out = p;
    return 0;
}

static const char *find(struct str hay, struct str needle)
{
    if (needle.len == 0)
        return hay.ptr;
    if (needle.len > hay.len)
        return NULL;
    return memmem(hay.ptr, hay.len, needle.ptr, needle.len);
}

size_t logql_pattern_extract(const struct logql_pattern *p, struct str line, struct str *captures,
                             size_t max_caps)
{
    size_t nc = 0, i = 0;
    if (line.len == 0 || p->n_nodes == 0)
        return 0;
    if (!p->nodes[0].capture) {
        const char *at = find(line, p->nodes[0].text);
        if (at != line.ptr)
            return 0;
        line.ptr += p->nodes[0].text.len;
        line.len -= p->nodes[0].text.len;
        i = 1;
    }
    while (i < p->n_nodes) {
        const struct logql_pattern_node *cap = &p->nodes[i];
        bool keep = !unnamed(cap);
        if (i + 1 == p->n_nodes) {
            if (keep && nc < max_caps)
                captures[nc++] = line;
            return nc;
        }
        struct str lit = p->nodes[i + 1].text;
        i += 2;
        const char *at = find(line, lit);
        if (!at) {
            if (keep && nc < max_caps)
                captures[nc++] = line;
            return nc;
        }
        size_t off = (size_t)(at - line.ptr);
        if (keep && nc < max_caps)
            captures[nc++] = (struct str){line.ptr, off};
        line.ptr += off + lit.len;
        line.len -= off + lit.len;
    }
    return nc;
}

bool logql_pattern_matches(const struct logql_pattern *p, struct str line)
{
    if (line.len == 0 || p->n_nodes == 0)
        return line.len == 0 && p->n_nodes == 0;
    size_t off = 0;
    for (size_t i = 0; i < p->n_nodes; i++) {
        if (p->nodes[i].capture)
            continue;
        struct str rest = {line.ptr + off, line.len - off};
        const char *at = find(rest, p->nodes[i].text);
        if (!at)
            return false;
        size_t j = (size_t)(at - rest.ptr);
        if (i != 0 && j == 0)
            return false;
        off += j + p->nodes[i].text.len;
    }
    bool needs_rest = p->nodes[p->n_nodes - 1].capture;
    return needs_rest == (off != line.len);
}
