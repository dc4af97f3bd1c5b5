/* The value hint of the pipeline executor (exec.h, logql_pipeline_process): from the compiled
 * stages, the string label filters every kept entry passes, and the per-entry test that drops an
 * entry one of them certainly rejects, before any parser runs.
 *
 * Why it is exact. Take a string filter (`name="v"`, `name=~"..."`, `!=`, `!~`) that every kept
 * entry passes: a stage of its own or an `and` operand, never under `or`. Before it, in the same
 * line epoch, run only line filters (they only drop), the parsers json / json expressions /
 * logfmt (plain, --strict, --keep-empty, expressions) / regexp / pattern over the raw line, other
 * label filters (they add at most __error__ and __error_details__) and drop/keep (they only
 * remove labels). Names starting with "__" are left out (__error__ comes from errors).
 * - The stream has `name`: every parser names its label `name_extracted` instead (a metadata
 *   `name` is renamed too), so without drop/keep before the filter it reads the stream value ("",
 *   when empty): the matcher decides on it alone.
 * - Otherwise, when no metadata label is `name` (nor, for `x_extracted`, a metadata `x` renamed on
 *   a clash with a stream label), the label the filter reads is absent (value "") or was set by
 *   one of those parsers. Their values are slices of the raw line, JSON literals true/false and
 *   numbers as written, or strings decoded from escapes (the line then holds a backslash); invalid
 *   UTF-8 and U+FFFD become one space each. So when every value the matcher accepts holds some
 *   non-empty bytes without a space (`=` literal, or a literal / `lit.*` / `.*lit` / `.*lit.*`
 *   regex), those bytes are in the raw line, or the line has a backslash.
 * unpack, line_format, label_format and decolorize end the walk: they create labels or rewrite
 * the line later parsers read. */
#include <string.h>

#include "base/error.h"
#include "engine/logql/exec_int.h"

#define LQ_NEEDS_MAX 8

/* The stages that may run before a filter whose value we derive. */
static bool raw_stage(enum lq_op op)
{
    switch (op) {
    case LQ_OP_FILTER:
    case LQ_OP_JSON:
    case LQ_OP_JSON_EXPR:
    case LQ_OP_LOGFMT:
    case LQ_OP_LOGFMT_EXPR:
    case LQ_OP_REGEXP:
    case LQ_OP_PATTERN:
    case LQ_OP_LABEL_FILTER:
    case LQ_OP_DROP:
    case LQ_OP_KEEP: return true;
    default: return false;
    }
}

/* The bytes every value the matcher accepts contains (matcher.c's positive_matches), or "". */
static struct str needle_of(const struct matcher *m)
{
    struct str none = {"", 0};
    if (!m)
        return none;
    const struct str lit = m->set_len ? m->set[0] : m->value;
    if (m->type == MATCHER_EQ)
        return m->shape == SHAPE_LITERAL ? lit : none;
    if (m->type != MATCHER_RE)
        return none;
    switch (m->shape) {
    case SHAPE_LITERAL:
    case SHAPE_PREFIX:
    case SHAPE_SUFFIX:
    case SHAPE_CONTAINS: return lit;
    default: return none;
    }
}

/* Loki turns a string filter whose regex simplifies to match-all into a no-op. */
static bool string_noop(const struct matcher *m)
{
    return m->type == MATCHER_RE &&
           (m->value.len == 0 || str_eq_cstr(m->value, ".*") || str_eq_cstr(m->value, "(.*)"));
}

static void add_need(struct logql_pipeline *p, const struct logql_label_filter *f, bool by_stream)
{
    static const struct str suffix = STR_LIT("_extracted");
    const struct matcher *m = f->matcher;
    struct str name = f->name;
    if (!m || string_noop(m) || p->n_needs >= LQ_NEEDS_MAX || name.len == 0 ||
        (name.len >= 2 && name.ptr[0] == '_' && name.ptr[1] == '_'))
        return;
    struct str v = needle_of(m), base = {"", 0};
    if (memchr(v.ptr, ' ', v.len))
        v.len = 0;
    if (v.len == 0 && !by_stream)
        return;
    if (name.len > suffix.len &&
        memcmp(name.ptr + name.len - suffix.len, suffix.ptr, suffix.len) == 0)
        base = (struct str){name.ptr, name.len - suffix.len};
    p->needs[p->n_needs++] = (struct lq_need){name, v, base, m, by_stream};
}

/* The string filters of f's top-level conjunction. */
static void collect(struct logql_pipeline *p, const struct logql_label_filter *f, bool by_stream)
{
    if (f->kind == LOGQL_LF_AND) {
        collect(p, f->left, by_stream);
        collect(p, f->right, by_stream);
    } else if (f->kind == LOGQL_LF_STRING) {
        add_need(p, f, by_stream);
    }
}

int lq_needs_derive(struct logql_pipeline *p)
{
    p->n_needs = 0;
    p->needs = arena_alloc(&p->arena, LQ_NEEDS_MAX * sizeof *p->needs);
    if (!p->needs)
        return ERR_NOMEM;
    bool by_stream = true;
    for (size_t i = 0; i < p->n_stages && raw_stage(p->stages[i].op); i++) {
        enum lq_op op = p->stages[i].op;
        if (op == LQ_OP_FILTER && i > 0)
            break; /* a later epoch (cannot happen without a rewrite first; be safe) */
        if (op == LQ_OP_DROP || op == LQ_OP_KEEP)
            by_stream = false;
        if (op == LQ_OP_LABEL_FILTER && p->stages[i].ast->filter)
            collect(p, p->stages[i].ast->filter, by_stream);
    }
    return 0;
}

static const struct label *find_label(const struct label *l, size_t n, struct str name)
{
    for (size_t i = 0; i < n; i++)
        if (str_eq(l[i].name, name))
            return &l[i];
    return NULL;
}

bool lq_needs_pass(const struct logql_pipeline *p, const struct logql_entry *e)
{
    struct str line = e->line.ptr ? e->line : (struct str){"", 0};
    int escaped = -1;
    for (size_t i = 0; i < p->n_needs; i++) {
        const struct lq_need *n = &p->needs[i];
        const struct label *sl = find_label(e->stream, e->n_stream, n->name);
        if (sl) {
            if (n->by_stream && !matcher_matches(n->m, sl->value))
                return false;
            continue;
        }
        if (n->value.len == 0 ||
            (n->value.len <= line.len && memmem(line.ptr, line.len, n->value.ptr, n->value.len)))
            continue;
        if (escaped < 0)
            escaped = memchr(line.ptr, '\\', line.len) != NULL;
        if (escaped)
            continue; /* a parser may decode the bytes from escapes */
        if (find_label(e->meta, e->n_meta, n->name) ||
            (n->base.len && find_label(e->meta, e->n_meta, n->base)))
            continue;
        return false;
    }
    return true;
}
