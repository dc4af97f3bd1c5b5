/* Drain-style log pattern mining (see patterns.h). */
#include "engine/logs/patterns.h"

#include <stdlib.h>
#include <string.h>

#include "base/arena.h"
#include "base/error.h"
#include "base/hash.h"

/* A template token: the text, or ptr == NULL for the placeholder. */
struct cluster {
    struct str *tok;
    uint32_t ntok;
    uint64_t group;             /* hash of (token count, first-token key) */
    struct cluster *group_next; /* clusters of the same group */
    struct logpat_sample *samples;
    size_t n_samples, cap_samples;
    uint64_t total;
};

struct logpat {
    struct logpat_opts o;
    struct arena arena;
    struct cluster **clusters;
    size_t n, cap;
    struct cluster **heads; /* group hash table: chains through group_next */
    size_t nheads;          /* power of two */
    struct str *line_tok;   /* scratch: the current line's tokens */
    struct buf text;        /* scratch: a formatted pattern */
    uint64_t dropped;
};

int logpat_create(const struct logpat_opts *opts, struct logpat **out)
{
    struct logpat *p = calloc(1, sizeof *p);
    if (!p)
        return ERR_NOMEM;
    if (opts)
        p->o = *opts;
    if (p->o.sim_th <= 0)
        p->o.sim_th = 0.3;
    if (!p->o.max_clusters)
        p->o.max_clusters = 300;
    if (!p->o.tokens_max)
        p->o.tokens_max = 128;
    if (p->o.step_ns <= 0)
        p->o.step_ns = 10 * (int64_t)1000000000;
    arena_init(&p->arena, 64 * 1024);
    buf_init(&p->text);
    p->nheads = 64;
    p->heads = calloc(p->nheads, sizeof *p->heads);
    p->line_tok = malloc(p->o.tokens_max * sizeof *p->line_tok);
    if (!p->heads || !p->line_tok) {
        logpat_destroy(p);
        return ERR_NOMEM;
    }
    *out = p;
    return 0;
}

void logpat_destroy(struct logpat *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n; i++)
        free(p->clusters[i]->samples);
    free(p->clusters);
    free(p->heads);
    free(p->line_tok);
    buf_deinit(&p->text);
    arena_deinit(&p->arena);
    free(p);
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* Splits line into p->line_tok; returns the count, or -1 past tokens_max. */
static int64_t tokenize(struct logpat *p, struct str line)
{
    uint32_t n = 0;
    size_t i = 0;
    while (i < line.len) {
        while (i < line.len && is_space(line.ptr[i]))
            i++;
        if (i == line.len)
            break;
        size_t s = i;
        while (i < line.len && !is_space(line.ptr[i]))
            i++;
        if (n == p->o.tokens_max)
            return -1;
        p->line_tok[n++] = (struct str){line.ptr + s, i - s};
    }
    return n;
}

static bool has_digit(struct str t)
{
    for (size_t i = 0; i < t.len; i++)
        if (t.ptr[i] >= '0' && t.ptr[i] <= '9')
            return true;
    return false;
}

static uint64_t group_of(const struct str *tok, uint32_t n)
{
    uint64_t h = hash_bytes(&n, sizeof n);
    if (n && !has_digit(tok[0]))
        h = hash_bytes_seed(tok[0].ptr, tok[0].len, h);
    return h | 1; /* never 0 */
}

/* Share of positions where the template equals the line (placeholders excluded from the
 * numerator, as Drain's seqDist does). */
static double similarity(const struct cluster *c, const struct str *tok)
{
    if (c->ntok == 0)
        return 1.0;
    uint32_t same = 0;
    for (uint32_t i = 0; i < c->ntok; i++)
        if (c->tok[i].ptr && str_eq(c->tok[i], tok[i]))
            same++;
    return (double)same / c->ntok;
}

static struct cluster *best_match(struct logpat *p, uint64_t g, const struct str *tok, uint32_t n)
{
    struct cluster *best = NULL;
    double best_sim = -1;
    for (struct cluster *c = p->heads[g & (p->nheads - 1)]; c; c = c->group_next) {
        if (c->group != g || c->ntok != n)
            continue;
        double s = similarity(c, tok);
        if (s > best_sim) {
            best_sim = s;
            best = c;
        }
    }
    return best && best_sim >= p->o.sim_th ? best : NULL;
}

static struct cluster *new_cluster(struct logpat *p, uint64_t g, const struct str *tok, uint32_t n)
{
    if (p->n == p->cap) {
        size_t nc = p->cap ? p->cap * 2 : 32;
        struct cluster **v = realloc(p->clusters, nc * sizeof *v);
        if (!v)
            return NULL;
        p->clusters = v;
        p->cap = nc;
    }
    struct cluster *c = arena_alloc(&p->arena, sizeof *c);
    struct str *t = n ? arena_alloc(&p->arena, n * sizeof *t) : NULL;
    if (!c || (n && !t))
        return NULL;
    memset(c, 0, sizeof *c);
    for (uint32_t i = 0; i < n; i++) {
        t[i].ptr = tok[i].len ? arena_dup(&p->arena, tok[i].ptr, tok[i].len, 0) : "";
        if (!t[i].ptr)
            return NULL;
        t[i].len = tok[i].len;
    }
    c->tok = t;
    c->ntok = n;
    c->group = g;
    size_t h = g & (p->nheads - 1);
    c->group_next = p->heads[h];
    p->heads[h] = c;
    p->clusters[p->n++] = c;
    return c;
}

static int count_sample(struct cluster *c, int64_t bucket_s)
{
    c->total++;
    /* lines mostly arrive in time order (either direction): look from the end */
    size_t i = c->n_samples;
    while (i > 0 && c->samples[i - 1].ts_s > bucket_s)
        i--;
    if (i > 0 && c->samples[i - 1].ts_s == bucket_s) {
        c->samples[i - 1].count++;
        return 0;
    }
    if (c->n_samples == c->cap_samples) {
        size_t nc = c->cap_samples ? c->cap_samples * 2 : 8;
        struct logpat_sample *v = realloc(c->samples, nc * sizeof *v);
        if (!v)
            return ERR_NOMEM;
        c->samples = v;
        c->cap_samples = nc;
    }
    memmove(c->samples + i + 1, c->samples + i, (c->n_samples - i) * sizeof *c->samples);
    c->samples[i] = (struct logpat_sample){bucket_s, 1};
    c->n_samples++;
    return 0;
}

static int64_t bucket_of(const struct logpat *p, int64_t ts_ns)
{
    int64_t b = ts_ns / p->o.step_ns;
    if (ts_ns % p->o.step_ns < 0)
        b--; /* floor for times before 1970 */
    return b * p->o.step_ns / 1000000000;
}

int logpat_add(struct logpat *p, int64_t ts_ns, struct str line)
{
    int64_t n = tokenize(p, line);
    if (n < 0) {
        p->dropped++;
        return 0;
    }
    uint64_t g = group_of(p->line_tok, (uint32_t)n);
    struct cluster *c = best_match(p, g, p->line_tok, (uint32_t)n);
    if (c) {
        for (uint32_t i = 0; i < c->ntok; i++)
            if (c->tok[i].ptr && !str_eq(c->tok[i], p->line_tok[i]))
                c->tok[i] = (struct str){NULL, 0};
    } else {
        if (p->n >= p->o.max_clusters) {
            p->dropped++;
            return 0;
        }
        c = new_cluster(p, g, p->line_tok, (uint32_t)n);
        if (!c)
            return ERR_NOMEM;
    }
    return count_sample(c, bucket_of(p, ts_ns));
}

static int format(struct logpat *p, const struct cluster *c)
{
    buf_reset(&p->text);
    int rc = 0;
    for (uint32_t i = 0; i < c->ntok && !rc; i++) {
        if (i)
            rc = buf_append_u8(&p->text, ' ');
        if (!rc)
            rc = c->tok[i].ptr ? buf_append(&p->text, c->tok[i].ptr, c->tok[i].len)
                               : buf_append_str(&p->text, LOGPAT_PLACEHOLDER);
    }
    return rc;
}

static int tok_cmp(const struct cluster *a, const struct cluster *b)
{
    uint32_t n = a->ntok < b->ntok ? a->ntok : b->ntok;
    for (uint32_t i = 0; i < n; i++) {
        struct str x = a->tok[i].ptr ? a->tok[i] : STR_LIT(LOGPAT_PLACEHOLDER);
        struct str y = b->tok[i].ptr ? b->tok[i] : STR_LIT(LOGPAT_PLACEHOLDER);
        int c = str_cmp(x, y);
        if (c)
            return c;
    }
    return a->ntok < b->ntok ? -1 : a->ntok > b->ntok;
}

static int by_total(const void *x, const void *y)
{
    const struct cluster *a = *(struct cluster *const *)x, *b = *(struct cluster *const *)y;
    if (a->total != b->total)
        return a->total > b->total ? -1 : 1;
    return tok_cmp(a, b);
}

void logpat_sort(struct logpat *p)
{
    if (p->n > 1)
        qsort(p->clusters, p->n, sizeof *p->clusters, by_total);
}

size_t logpat_count(const struct logpat *p)
{
    return p->n;
}

int logpat_get(struct logpat *p, size_t i, struct logpat_pattern *out)
{
    const struct cluster *c = p->clusters[i];
    int rc = format(p, c);
    if (rc)
        return rc;
    out->pattern =
        p->text.len ? (struct str){(const char *)p->text.data, p->text.len} : (struct str){"", 0};
    out->samples = c->samples;
    out->n_samples = c->n_samples;
    out->total = c->total;
    return 0;
}

uint64_t logpat_dropped_lines(const struct logpat *p)
{
    return p->dropped;
}
