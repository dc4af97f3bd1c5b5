/* PromQL pretty printer: the multi-line form Prometheus 3.x's /api/v1/format_query answers
 * (parser.Prettify): a node whose one-line form is longer than 100 characters is split, its
 * children going one level (two spaces) deeper; shorter nodes stay on one line. The one-line
 * pieces (operators with their matching clauses, aggregation heads, subquery suffixes) are taken
 * from promql_print so both printers always agree. */
#include "engine/promql/pretty.h"

#include <string.h>

#include "base/error.h"
#include "engine/promql/print.h"

#define PRETTY_LINE_MAX 100

struct pp {
    struct buf *out;
    int rc;
};

/* The one-line form of n in a fresh buffer (caller frees). */
static struct buf line_of(struct pp *p, const struct promql_node *n)
{
    struct buf b;
    buf_init(&b);
    if (p->rc == 0)
        p->rc = promql_print(n, &b);
    return b;
}

static void put(struct pp *p, const void *s, size_t n)
{
    if (p->rc == 0)
        p->rc = buf_append(p->out, s, n);
}

static void puts_(struct pp *p, const char *s)
{
    put(p, s, strlen(s));
}

static void indent(struct pp *p, int level)
{
    for (int i = 0; i < level; i++)
        puts_(p, "  ");
}

static size_t line_len(struct pp *p, const struct promql_node *n)
{
    struct buf b = line_of(p, n);
    size_t len = b.len;
    buf_deinit(&b);
    return len;
}

static void pretty(struct pp *p, const struct promql_node *n, int level);

static void pretty_binary(struct pp *p, const struct promql_node *n, const struct buf *full,
                          int level)
{
    /* full = lhs " " op[ bool][ matching] " " rhs */
    size_t l = line_len(p, n->bin.lhs), r = line_len(p, n->bin.rhs);
    if (p->rc || l + r + 2 >= full->len) {
        indent(p, level);
        put(p, full->data, full->len);
        return;
    }
    pretty(p, n->bin.lhs, level + 1);
    puts_(p, "\n");
    indent(p, level);
    put(p, full->data + l + 1, full->len - l - r - 2);
    puts_(p, "\n");
    pretty(p, n->bin.rhs, level + 1);
}

static void pretty_aggregate(struct pp *p, const struct promql_node *n, const struct buf *full,
                             int level)
{
    /* full = head "(" [param ", "] expr ")" where head is "sum" or "sum by (a) " */
    size_t inner = line_len(p, n->agg.expr) + 2;
    if (n->agg.param)
        inner += line_len(p, n->agg.param) + 2;
    indent(p, level);
    if (p->rc || inner >= full->len) {
        put(p, full->data, full->len);
        return;
    }
    put(p, full->data, full->len - inner);
    puts_(p, "(\n");
    if (n->agg.param) {
        pretty(p, n->agg.param, level + 1);
        puts_(p, ",\n");
    }
    pretty(p, n->agg.expr, level + 1);
    puts_(p, "\n");
    indent(p, level);
    puts_(p, ")");
}

static void pretty_call(struct pp *p, const struct promql_node *n, const struct buf *full,
                        int level)
{
    const char *open = memchr(full->data, '(', full->len);
    indent(p, level);
    if (!open || n->call.nargs == 0) {
        put(p, full->data, full->len);
        return;
    }
    put(p, full->data, (size_t)(open - (const char *)full->data));
    puts_(p, "(\n");
    for (uint32_t i = 0; i < n->call.nargs; i++) {
        if (i)
            puts_(p, ",\n");
        pretty(p, n->call.args[i], level + 1);
    }
    puts_(p, "\n");
    indent(p, level);
    puts_(p, ")");
}

static void pretty(struct pp *p, const struct promql_node *n, int level)
{
    struct buf full = line_of(p, n);
    if (p->rc) {
        buf_deinit(&full);
        return;
    }
    bool split = full.len > PRETTY_LINE_MAX;
    switch (split ? n->kind : PROMQL_NUMBER) {
    case PROMQL_BINARY: pretty_binary(p, n, &full, level); break;
    case PROMQL_AGGREGATE: pretty_aggregate(p, n, &full, level); break;
    case PROMQL_CALL: pretty_call(p, n, &full, level); break;
    case PROMQL_PAREN:
        indent(p, level);
        puts_(p, "(\n");
        pretty(p, n->paren, level + 1);
        puts_(p, "\n");
        indent(p, level);
        puts_(p, ")");
        break;
    case PROMQL_SUBQUERY: {
        /* full = expr suffix; Prometheus writes a subquery that fits without indentation */
        size_t e = line_len(p, n->sq.expr);
        pretty(p, n->sq.expr, level);
        put(p, full.data + e, full.len - e);
        break;
    }
    case PROMQL_UNARY: {
        /* full = op expr: the child's own indentation goes after the operator */
        size_t e = line_len(p, n->unary.expr);
        indent(p, level);
        put(p, full.data, full.len - e);
        struct buf *saved = p->out, child;
        buf_init(&child);
        p->out = &child;
        pretty(p, n->unary.expr, level);
        p->out = saved;
        size_t a = 0, z = child.len;
        while (a < z && (child.data[a] == ' ' || child.data[a] == '\n'))
            a++;
        while (z > a && (child.data[z - 1] == ' ' || child.data[z - 1] == '\n'))
            z--;
        put(p, child.data + a, z - a);
        buf_deinit(&child);
        break;
    }
    default:
        if (n->kind != PROMQL_SUBQUERY || split)
            indent(p, level);
        put(p, full.data, full.len);
        break;
    }
    buf_deinit(&full);
}

int promql_prettify(const struct promql_node *n, struct buf *out)
{
    struct pp p = {out, 0};
    pretty(&p, n, 0);
    return p.rc;
}
