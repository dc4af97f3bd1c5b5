/* Field detection for Loki's detected_fields (see detect.h). */
#include "engine/logql/detect.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/arena.h"
#include "base/error.h"
#include "base/hash.h"
#include "engine/logql/parse.h"

/* ---- types (Go's strconv, time.ParseDuration and go-humanize's ParseBytes) --------------------
 */

const char *logql_field_type_name(enum logql_field_type t)
{
    static const char *const names[] = {"string", "int", "float", "boolean", "duration", "bytes"};
    return (unsigned)t < 6 ? names[t] : "string";
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool parse_int(struct str v)
{
    size_t i = 0;
    bool neg = false;
    if (v.len && (v.ptr[0] == '+' || v.ptr[0] == '-'))
        neg = v.ptr[i++] == '-';
    if (i == v.len)
        return false;
    uint64_t x = 0;
    for (; i < v.len; i++) {
        if (!is_digit(v.ptr[i]))
            return false;
        unsigned d = (unsigned)(v.ptr[i] - '0');
        if (x > (UINT64_MAX - d) / 10)
            return false;
        x = x * 10 + d;
    }
    return neg ? x <= (uint64_t)INT64_MAX + 1 : x <= (uint64_t)INT64_MAX;
}

static bool parse_float_buf(const char *s, size_t n, double *out)
{
    char buf[128];
    if (n == 0 || n >= sizeof buf)
        return false;
    memcpy(buf, s, n);
    buf[n] = 0;
    if (buf[0] == ' ' || buf[0] == '\t' || buf[0] == '\n' || buf[0] == '\r' || buf[0] == '\f' ||
        buf[0] == '\v')
        return false;
    for (size_t i = 0; i < n; i++)
        if (buf[i] == '(' || buf[i] == '_')
            return false; /* "nan(...)" is C only; Go allows '_' only with a base prefix */
    char *end;
    errno = 0;
    double d = strtod(buf, &end);
    if (end != buf + n || errno == ERANGE)
        return false;
    if (out)
        *out = d;
    return true;
}

static bool parse_float(struct str v)
{
    return parse_float_buf(v.ptr, v.len, NULL);
}

static bool parse_bool(struct str v)
{
    static const char *const ok[] = {"1", "t", "T", "TRUE",  "true",  "True",
                                     "0", "f", "F", "FALSE", "false", "False"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        if (str_eq_cstr(v, ok[i]))
            return true;
    return false;
}

/* The unit at s[0..): its length, or 0 when none of Go's duration units starts there. */
static size_t duration_unit(const char *s, size_t n)
{
    static const char *const units[] = {"ns", "us", "\xc2\xb5s", "\xce\xbcs", "ms", "s", "m", "h"};
    size_t best = 0;
    size_t run = 0;
    while (run < n && !is_digit(s[run]) && s[run] != '.')
        run++;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        size_t ul = strlen(units[i]);
        if (ul == run && memcmp(s, units[i], ul) == 0)
            best = ul;
    }
    return best;
}

static bool parse_duration(struct str v)
{
    size_t i = 0;
    if (v.len && (v.ptr[0] == '+' || v.ptr[0] == '-'))
        i++;
    if (v.len - i == 1 && v.ptr[i] == '0')
        return true;
    if (i == v.len)
        return false;
    while (i < v.len) {
        size_t s = i;
        bool digits = false;
        while (i < v.len && is_digit(v.ptr[i]))
            i++, digits = true;
        if (i < v.len && v.ptr[i] == '.') {
            i++;
            while (i < v.len && is_digit(v.ptr[i]))
                i++, digits = true;
        }
        if (!digits || i == s)
            return false;
        size_t ul = duration_unit(v.ptr + i, v.len - i);
        if (ul == 0)
            return false;
        i += ul;
    }
    return true;
}

static bool parse_bytes(struct str v)
{
    static const char *const units[] = {"",   "b",   "kib", "kb",  "mib", "mb", "gib", "gb", "tib",
                                        "tb", "pib", "pb",  "eib", "eb",  "ki", "k",   "mi", "m",
                                        "gi", "g",   "ti",  "t",   "pi",  "p",  "ei",  "e"};
    size_t i = 0;
    char num[64];
    size_t nn = 0;
    while (i < v.len && (is_digit(v.ptr[i]) || v.ptr[i] == '.' || v.ptr[i] == ',')) {
        if (v.ptr[i] != ',' && nn < sizeof num)
            num[nn++] = v.ptr[i];
        i++;
    }
    if (nn == 0 || nn == sizeof num || !parse_float_buf(num, nn, NULL))
        return false;
    size_t s = i, e = v.len;
    while (s < e && (v.ptr[s] == ' ' || v.ptr[s] == '\t' || v.ptr[s] == '\n' || v.ptr[s] == '\r'))
        s++;
    while (e > s && (v.ptr[e - 1] == ' ' || v.ptr[e - 1] == '\t' || v.ptr[e - 1] == '\n' ||
                     v.ptr[e - 1] == '\r'))
        e--;
    if (e - s > 3)
        return false;
    char unit[4];
    for (size_t k = s; k < e; k++)
        unit[k - s] = (char)(v.ptr[k] >= 'A' && v.ptr[k] <= 'Z' ? v.ptr[k] + 32 : v.ptr[k]);
    for (size_t k = 0; k < sizeof units / sizeof units[0]; k++)
        if (strlen(units[k]) == e - s && memcmp(units[k], unit, e - s) == 0)
            return true;
    return false;
}

enum logql_field_type logql_field_type_of(struct str v)
{
    if (parse_int(v))
        return LOGQL_FIELD_INT;
    if (parse_float(v))
        return LOGQL_FIELD_FLOAT;
    if (parse_bool(v))
        return LOGQL_FIELD_BOOLEAN;
    if (parse_duration(v))
        return LOGQL_FIELD_DURATION;
    if (parse_bytes(v))
        return LOGQL_FIELD_BYTES;
    return LOGQL_FIELD_STRING;
}

/* ---- the detector ---------------------------------------------------------------------------- */

struct field {
    struct str name;
    uint64_t name_hash;
    enum logql_field_type type;
    unsigned parsers;
    struct str *values; /* distinct, first-seen order */
    size_t n_values, cap_values;
    uint32_t *vslots; /* open addressing: index + 1 into values, 0 empty */
    size_t vslots_n;  /* power of two */
    uint64_t card;
    uint64_t seen_entry; /* the last entry that set the type */
};

struct logql_detect {
    struct logql_detect_opts o;
    struct arena arena;
    struct field *fields;
    size_t n, cap;
    uint32_t *slots; /* index + 1 into fields */
    size_t slots_n;
    uint64_t entry_no;
    struct logql_query *qjson, *qlogfmt;
    struct logql_pipeline *pjson, *plogfmt;
};

static int compile(const char *text, struct logql_query **q, struct logql_pipeline **p)
{
    char err[256];
    if (logql_parse(str_from_cstr(text), q, err, sizeof err) != 0)
        return ERR_NOMEM; /* constant queries: only an allocation can fail */
    return logql_pipeline_compile_expr((*q)->root, NULL, p, err, sizeof err) ? ERR_NOMEM : 0;
}

int logql_detect_create(const struct logql_detect_opts *opts, struct logql_detect **out)
{
    struct logql_detect *d = calloc(1, sizeof *d);
    if (!d)
        return ERR_NOMEM;
    if (opts)
        d->o = *opts;
    if (!d->o.field_limit)
        d->o.field_limit = 1000;
    if (!d->o.values_max)
        d->o.values_max = 10000;
    arena_init(&d->arena, 64 * 1024);
    if (compile("{d=\"d\"} | json", &d->qjson, &d->pjson) ||
        compile("{d=\"d\"} | logfmt", &d->qlogfmt, &d->plogfmt)) {
        logql_detect_destroy(d);
        return ERR_NOMEM;
    }
    *out = d;
    return 0;
}

void logql_detect_destroy(struct logql_detect *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < d->n; i++) {
        free(d->fields[i].values);
        free(d->fields[i].vslots);
    }
    free(d->fields);
    free(d->slots);
    logql_pipeline_destroy(d->pjson);
    logql_pipeline_destroy(d->plogfmt);
    if (d->qjson)
        logql_query_destroy(d->qjson);
    if (d->qlogfmt)
        logql_query_destroy(d->qlogfmt);
    arena_deinit(&d->arena);
    free(d);
}

/* Doubles an open-addressing index over `used` items (hash_at gives item i's hash). */
static int grow_slots(uint32_t **slots, size_t *n, size_t used,
                      uint64_t (*hash_at)(const void *ctx, size_t i), const void *ctx)
{
    size_t nn = *n ? *n * 2 : 16;
    uint32_t *s = calloc(nn, sizeof *s);
    if (!s)
        return ERR_NOMEM;
    for (size_t i = 0; i < used; i++) {
        size_t k = hash_at(ctx, i) & (nn - 1);
        while (s[k])
            k = (k + 1) & (nn - 1);
        s[k] = (uint32_t)(i + 1);
    }
    free(*slots);
    *slots = s;
    *n = nn;
    return 0;
}

static uint64_t field_hash_at(const void *ctx, size_t i)
{
    return ((const struct logql_detect *)ctx)->fields[i].name_hash;
}

static uint64_t value_hash_at(const void *ctx, size_t i)
{
    const struct field *f = ctx;
    return hash_bytes(f->values[i].ptr, f->values[i].len);
}

/* The field named name, created when absent and under the limit; NULL past the limit (or
 * *rc = ERR_NOMEM). */
static struct field *field_get(struct logql_detect *d, struct str name, int *rc)
{
    uint64_t h = hash_bytes(name.ptr, name.len);
    if (d->slots_n) {
        for (size_t k = h & (d->slots_n - 1); d->slots[k]; k = (k + 1) & (d->slots_n - 1)) {
            struct field *f = &d->fields[d->slots[k] - 1];
            if (f->name_hash == h && str_eq(f->name, name))
                return f;
        }
    }
    if (d->n >= d->o.field_limit)
        return NULL;
    if ((d->n + 1) * 2 > d->slots_n && grow_slots(&d->slots, &d->slots_n, d->n, field_hash_at, d)) {
        *rc = ERR_NOMEM;
        return NULL;
    }
    if (d->n == d->cap) {
        size_t nc = d->cap ? d->cap * 2 : 16;
        struct field *nf = realloc(d->fields, nc * sizeof *nf);
        if (!nf) {
            *rc = ERR_NOMEM;
            return NULL;
        }
        d->fields = nf;
        d->cap = nc;
    }
    struct field *f = &d->fields[d->n];
    memset(f, 0, sizeof *f);
    f->name.ptr = arena_dup(&d->arena, name.ptr, name.len, 0);
    if (!f->name.ptr && name.len) {
        *rc = ERR_NOMEM;
        return NULL;
    }
    f->name.len = name.len;
    f->name_hash = h;
    size_t k = h & (d->slots_n - 1);
    while (d->slots[k])
        k = (k + 1) & (d->slots_n - 1);
    d->slots[k] = (uint32_t)(d->n + 1);
    d->n++;
    return f;
}

static int value_add(struct logql_detect *d, struct field *f, struct str v)
{
    uint64_t h = hash_bytes(v.ptr, v.len);
    if (f->vslots_n) {
        for (size_t k = h & (f->vslots_n - 1); f->vslots[k]; k = (k + 1) & (f->vslots_n - 1))
            if (str_eq(f->values[f->vslots[k] - 1], v))
                return 0;
    }
    f->card++;
    if (f->n_values >= d->o.values_max)
        return 0; /* counted (a lower bound past the cap), not kept */
    if ((f->n_values + 1) * 2 > f->vslots_n &&
        grow_slots(&f->vslots, &f->vslots_n, f->n_values, value_hash_at, f))
        return ERR_NOMEM;
    if (f->n_values == f->cap_values) {
        size_t nc = f->cap_values ? f->cap_values * 2 : 8;
        struct str *nv = realloc(f->values, nc * sizeof *nv);
        if (!nv)
            return ERR_NOMEM;
        f->values = nv;
        f->cap_values = nc;
    }
    const char *p = v.len ? arena_dup(&d->arena, v.ptr, v.len, 0) : "";
    if (!p)
        return ERR_NOMEM;
    f->values[f->n_values] = (struct str){p, v.len};
    size_t k = h & (f->vslots_n - 1);
    while (f->vslots[k])
        k = (k + 1) & (f->vslots_n - 1);
    f->vslots[k] = (uint32_t)(++f->n_values);
    return 0;
}

/* One value of a field in the current entry: the type follows the entry's first value. */
static int observe(struct logql_detect *d, struct str name, struct str value, unsigned parser)
{
    int rc = 0;
    struct field *f = field_get(d, name, &rc);
    if (!f)
        return rc;
    f->parsers |= parser;
    if (f->seen_entry != d->entry_no) {
        f->seen_entry = d->entry_no;
        f->type = logql_field_type_of(value);
    }
    return value_add(d, f, value);
}

static bool is_error_label(struct str n)
{
    return str_eq_cstr(n, "__error__") || str_eq_cstr(n, "__error_details__") ||
           str_eq_cstr(n, "__preserve_error__");
}

/* Runs one parser; 1 when it parsed the line without error (fields recorded), 0 when it failed,
 * or ERR_NOMEM. */
static int try_parser(struct logql_detect *d, struct logql_pipeline *p, unsigned parser,
                      const struct logql_entry *e)
{
    struct logql_result r;
    int rc = logql_pipeline_process(p, e, 0, &r);
    if (rc <= 0)
        return rc;
    for (size_t i = 0; i < r.n_labels; i++)
        if (str_eq_cstr(r.labels[i].name, "__error__"))
            return 0;
    rc = 0;
    for (size_t i = 0; i < r.n_labels && !rc; i++)
        if (r.cats[i] == LOGQL_CAT_PARSED && !is_error_label(r.labels[i].name))
            rc = observe(d, r.labels[i].name, r.labels[i].value, parser);
    return rc ? rc : 1;
}

int logql_detect_add(struct logql_detect *d, const struct logql_entry *e)
{
    d->entry_no++;
    for (size_t i = 0; i < e->n_meta; i++) {
        int rc = observe(d, e->meta[i].name, e->meta[i].value, 0);
        if (rc)
            return rc;
    }
    /* the pipelines see the stream labels only: metadata names must not turn parsed names into
     * `_extracted` ones a second time */
    struct logql_entry pe = *e;
    pe.meta = NULL;
    pe.n_meta = 0;
    int rc = try_parser(d, d->pjson, LOGQL_PARSER_JSON, &pe);
    if (rc == 0)
        rc = try_parser(d, d->plogfmt, LOGQL_PARSER_LOGFMT, &pe);
    return rc < 0 ? rc : 0;
}

size_t logql_detect_count(const struct logql_detect *d)
{
    return d->n;
}

static void fill(const struct field *f, struct logql_detected_field *out)
{
    out->name = f->name;
    out->type = f->type;
    out->cardinality = f->card;
    out->parsers = f->parsers;
    out->values = f->values;
    out->n_values = f->n_values;
}

void logql_detect_field(const struct logql_detect *d, size_t i, struct logql_detected_field *out)
{
    fill(&d->fields[i], out);
}

bool logql_detect_find(const struct logql_detect *d, struct str name,
                       struct logql_detected_field *out)
{
    if (!d->slots_n)
        return false;
    uint64_t h = hash_bytes(name.ptr, name.len);
    for (size_t k = h & (d->slots_n - 1); d->slots[k]; k = (k + 1) & (d->slots_n - 1)) {
        const struct field *f = &d->fields[d->slots[k] - 1];
        if (f->name_hash == h && str_eq(f->name, name)) {
            fill(f, out);
            return true;
        }
    }
    return false;
}
