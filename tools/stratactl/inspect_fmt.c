/* stratactl inspect: value formatting (times, sizes, label sets, --series-samples lines) and a
 * small aligned text table. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/error.h"
#include "engine/promql/quote.h"
#include "formats/jsonw.h"
#include "tools/stratactl/inspect.h"
#include "tools/stratactl/table.h"

void ctl_fmt_time(int64_t ms, char out[32])
{
    if (ms == INT64_MIN || ms == INT64_MAX) {
        strcpy(out, "-");
        return;
    }
    int64_t sec = ms / 1000, frac = ms % 1000;
    if (frac < 0) {
        frac += 1000;
        sec--;
    }
    time_t t = (time_t)sec;
    struct tm tm;
    if (!gmtime_r(&t, &tm) || tm.tm_year + 1900 > 9999 || tm.tm_year + 1900 < 0) {
        snprintf(out, 32, "%" PRId64 "ms", ms);
        return;
    }
    char buf[96]; /* room for any int fields: the compiler cannot see they are small */
    int n = snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)frac);
    n = n < 0 ? 0 : n > 31 ? 31 : n;
    memcpy(out, buf, (size_t)n);
    out[n] = '\0';
}

void ctl_fmt_bytes(uint64_t n, char out[32])
{
    static const char *const units[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    if (n < 1024) {
        snprintf(out, 32, "%" PRIu64 " B", n);
        return;
    }
    double v = (double)n / 1024;
    size_t u = 0;
    while (v >= 1024 && u + 1 < sizeof units / sizeof units[0]) {
        v /= 1024;
        u++;
    }
    snprintf(out, 32, "%.1f %s", v, units[u]);
}

int ctl_fmt_labels(struct buf *b, const struct label *labels, size_t n)
{
    int rc = buf_append_u8(b, '{');
    for (size_t i = 0; rc == 0 && i < n; i++) {
        struct str nm = labels[i].name, v = labels[i].value;
        if (i)
            rc = buf_append_u8(b, ',');
        if (rc == 0)
            rc = promql_is_legacy_label_name(nm.ptr, nm.len) ? buf_append(b, nm.ptr, nm.len)
                                                             : promql_quote(b, nm.ptr, nm.len);
        if (rc == 0)
            rc = buf_append_u8(b, '=');
        if (rc == 0)
            rc = promql_quote(b, v.ptr, v.len);
    }
    return rc ? rc : buf_append_u8(b, '}');
}

static void json_labels(struct jsonw *w, const struct label *labels, size_t n)
{
    jsonw_obj_begin(w);
    for (size_t i = 0; i < n; i++) {
        jsonw_key(w, labels[i].name.ptr, labels[i].name.len);
        jsonw_str(w, labels[i].value.ptr, labels[i].value.len);
    }
    jsonw_obj_end(w);
}

int ctl_series_line(struct buf *b, const struct label *labels, size_t n, uint64_t samples,
                    int64_t min_ms, int64_t max_ms, bool json)
{
    if (!json) {
        int rc = ctl_fmt_labels(b, labels, n);
        if (rc == 0 && samples)
            rc = buf_printf(b, " %" PRIu64 " %" PRId64 " %" PRId64 "\n", samples, min_ms, max_ms);
        else if (rc == 0)
            rc = buf_append_str(b, " 0 - -\n");
        return rc;
    }
    struct buf canon = BUF_INIT;
    int rc = ctl_fmt_labels(&canon, labels, n);
    struct jsonw w;
    jsonw_init(&w, b);
    jsonw_obj_begin(&w);
    jsonw_key_cstr(&w, "series");
    jsonw_str(&w, (const char *)canon.data, canon.len);
    jsonw_key_cstr(&w, "labels");
    json_labels(&w, labels, n);
    jsonw_key_cstr(&w, "samples");
    jsonw_uint(&w, samples);
    jsonw_key_cstr(&w, "min_time_ms");
    samples ? jsonw_int(&w, min_ms) : jsonw_null(&w);
    jsonw_key_cstr(&w, "max_time_ms");
    samples ? jsonw_int(&w, max_ms) : jsonw_null(&w);
    jsonw_obj_end(&w);
    int jrc = jsonw_finish(&w);
    buf_deinit(&canon);
    if (rc == 0)
        rc = jrc;
    return rc ? rc : buf_append_u8(b, '\n');
}

/* ---- tables ---- */

void ctl_table_init(struct ctl_table *t, size_t ncol, const char *const *header, const char *right)
{
    memset(t, 0, sizeof *t);
    t->ncol = ncol < CTL_TABLE_COLS_MAX ? ncol : CTL_TABLE_COLS_MAX;
    t->right = right;
    for (size_t c = 0; c < t->ncol; c++)
        t->hdr[c] = header[c];
}

void ctl_table_deinit(struct ctl_table *t)
{
    for (size_t i = 0; i < t->n * t->ncol; i++)
        free(t->cells[i]);
    free(t->cells);
    memset(t, 0, sizeof *t);
}

int ctl_table_row(struct ctl_table *t, const char *const *cells)
{
    size_t need = (t->n + 1) * t->ncol;
    if (need > t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16 * t->ncol;
        while (cap < need)
            cap *= 2;
        char **p = realloc(t->cells, cap * sizeof *p);
        if (!p)
            return ERR_NOMEM;
        t->cells = p;
        t->cap = cap;
    }
    for (size_t c = 0; c < t->ncol; c++) {
        char *s = strdup(cells[c] ? cells[c] : "");
        if (!s) {
            for (size_t k = 0; k < c; k++)
                free(t->cells[t->n * t->ncol + k]);
            return ERR_NOMEM;
        }
        t->cells[t->n * t->ncol + c] = s;
    }
    t->n++;
    return 0;
}

static void put_cell(struct buf *b, const char *s, size_t w, bool right, bool last)
{
    size_t len = strlen(s), pad = w > len ? w - len : 0;
    if (right)
        buf_printf(b, "%*s", (int)pad, "");
    buf_append(b, s, len);
    if (!right && !last)
        buf_printf(b, "%*s", (int)pad, "");
}

int ctl_table_print(const struct ctl_table *t, const char *indent, struct buf *b)
{
    size_t w[CTL_TABLE_COLS_MAX] = {0};
    for (size_t c = 0; c < t->ncol; c++) {
        w[c] = strlen(t->hdr[c]);
        for (size_t r = 0; r < t->n; r++) {
            size_t l = strlen(t->cells[r * t->ncol + c]);
            w[c] = l > w[c] ? l : w[c];
        }
    }
    for (size_t r = 0; r <= t->n; r++) {
        buf_append_str(b, indent);
        for (size_t c = 0; c < t->ncol; c++) {
            const char *s = r == 0 ? t->hdr[c] : t->cells[(r - 1) * t->ncol + c];
            if (c)
                buf_append_str(b, "  ");
            put_cell(b, s, w[c], t->right && t->right[c] == 'r', c + 1 == t->ncol);
        }
        while (b->len && b->data[b->len - 1] == ' ')
            b->len--;
        if (buf_append_u8(b, '\n') != 0)
            return ERR_NOMEM;
    }
    return 0;
}
