/* Statistics merging and the final report as text and JSON (see report.h). */
#include "tools/strata-load/report.h"

#include <inttypes.h>
#include <string.h>

#include "base/error.h"
#include "formats/jsonw.h"

const char *const ld_kind_names[LD_K_COUNT] = {"metrics", "logs", "query"};

void ld_stats_reset(struct ld_stats *s)
{
    memset(s, 0, sizeof *s);
    ld_hist_reset(&s->lat);
    ld_hist_reset(&s->svc);
}

void ld_stats_merge(struct ld_stats *dst, const struct ld_stats *src)
{
    dst->requests += src->requests;
    dst->ok += src->ok;
    dst->failed += src->failed;
    dst->retries += src->retries;
    dst->units_ok += src->units_ok;
    dst->units_sent += src->units_sent;
    dst->bytes_sent += src->bytes_sent;
    dst->raw_bytes += src->raw_bytes;
    dst->bytes_recv += src->bytes_recv;
    for (int i = 0; i < LD_STATUS_MAX; i++)
        dst->status[i] += src->status[i];
    dst->err_connect += src->err_connect;
    dst->err_reset += src->err_reset;
    dst->err_timeout += src->err_timeout;
    dst->err_protocol += src->err_protocol;
    dst->behind += src->behind;
    dst->v2_unconfirmed += src->v2_unconfirmed;
    ld_hist_merge(&dst->lat, &src->lat);
    ld_hist_merge(&dst->svc, &src->svc);
    if (src->last_error_status) {
        dst->last_error_status = src->last_error_status;
        memcpy(dst->last_error, src->last_error, sizeof dst->last_error);
    }
}

void ld_stats_diff(struct ld_stats *out, const struct ld_stats *now, const struct ld_stats *before)
{
#define D(f) out->f = now->f - before->f
    D(requests), D(ok), D(failed), D(retries), D(units_ok), D(units_sent), D(bytes_sent);
    D(raw_bytes), D(bytes_recv), D(err_connect), D(err_reset), D(err_timeout), D(err_protocol);
    D(behind), D(v2_unconfirmed);
#undef D
    for (int i = 0; i < LD_STATUS_MAX; i++)
        out->status[i] = now->status[i] - before->status[i];
    ld_hist_diff(&out->lat, &now->lat, &before->lat);
    ld_hist_diff(&out->svc, &now->svc, &before->svc);
    out->last_error_status = 0;
    out->last_error[0] = 0;
}

uint64_t ld_stats_errors(const struct ld_stats *s)
{
    uint64_t n = s->err_connect + s->err_reset + s->err_timeout + s->err_protocol;
    for (int i = 0; i < LD_STATUS_MAX; i++)
        if (i < 200 || i > 299)
            n += s->status[i];
    return n;
}

static double per_s(uint64_t n, double s)
{
    return s > 0 ? (double)n / s : 0;
}

/* "12.3k", "4.56M" */
static const char *human(char *out, size_t size, double v)
{
    if (v >= 1e9)
        snprintf(out, size, "%.2fG", v / 1e9);
    else if (v >= 1e6)
        snprintf(out, size, "%.2fM", v / 1e6);
    else if (v >= 1e4)
        snprintf(out, size, "%.1fk", v / 1e3);
    else
        snprintf(out, size, "%.1f", v);
    return out;
}

static double ms(uint64_t ns)
{
    return (double)ns / 1e6;
}

static void text_hist(FILE *out, const char *what, const struct ld_hist *h)
{
    fprintf(out, "  %-11s p50 %.3f ms  p90 %.3f ms  p99 %.3f ms  max %.3f ms  mean %.3f ms\n", what,
            ms(ld_hist_quantile(h, 0.5)), ms(ld_hist_quantile(h, 0.9)),
            ms(ld_hist_quantile(h, 0.99)), ms(h->count ? h->max : 0), ld_hist_mean(h) / 1e6);
}

static void text_kind(FILE *out, const char *name, const struct ld_report_kind *k, double el,
                      double cpu)
{
    const struct ld_stats *s = &k->stats;
    char a[32], b[32], c[32], d[32];
    fprintf(out, "%s (%s): ", name, k->detail ? k->detail : "-");
    if (k->target_rate > 0)
        fprintf(out, "target %s %s/s\n", human(a, sizeof a, k->target_rate), k->unit);
    else
        fprintf(out, "closed loop (as fast as the target answers)\n");
    fprintf(out, "  achieved    %s req/s  %s %s/s  %sB/s sent (%sB/s uncompressed)\n",
            human(a, sizeof a, per_s(s->ok + s->failed, el)),
            human(b, sizeof b, per_s(s->units_ok, el)), k->unit,
            human(c, sizeof c, per_s(s->bytes_sent, el)),
            human(d, sizeof d, per_s(s->raw_bytes, el)));
    if (cpu > 0)
        fprintf(out, "  per core    %s %s/s of client CPU time\n",
                human(a, sizeof a, per_s(s->units_ok, cpu)), k->unit);
    fprintf(out,
            "  requests    %" PRIu64 " ok, %" PRIu64 " failed, %" PRIu64 " retries, %" PRIu64
            " behind schedule; %" PRIu64 " %s acknowledged of %" PRIu64 " sent\n",
            s->ok, s->failed, s->retries, s->behind, s->units_ok, k->unit, s->units_sent);
    text_hist(out, "latency", &s->lat);
    text_hist(out, "service", &s->svc);
    fprintf(out, "  status     ");
    int any = 0;
    for (int i = 0; i < LD_STATUS_MAX; i++)
        if (s->status[i])
            fprintf(out, " %d: %" PRIu64, i, s->status[i]), any = 1;
    fprintf(out, "%s\n", any ? "" : " none");
    fprintf(out,
            "  conn errors connect %" PRIu64 ", reset %" PRIu64 ", timeout %" PRIu64
            ", protocol %" PRIu64 "\n",
            s->err_connect, s->err_reset, s->err_timeout, s->err_protocol);
    if (s->last_error_status)
        fprintf(out, "  last error  %d: %s\n", s->last_error_status, s->last_error);
    if (s->v2_unconfirmed)
        fprintf(out,
                "  warning     %" PRIu64 " 2xx answers without X-Prometheus-Remote-Write-Samples-"
                "Written: the receiver may not understand remote write 2.0 (samples dropped)\n",
                s->v2_unconfirmed);
}

void ld_report_text(const struct ld_report *r, FILE *out)
{
    fprintf(out,
            "strata-load %s -> %s: %.2f s (client CPU %.2f s), seed %" PRIu64
            ", %u thread(s), %u connection(s)\n",
            r->mode, r->target, r->elapsed_s, r->cpu_s, r->seed, r->threads, r->connections);
    int kinds = 0;
    for (int i = 0; i < LD_K_COUNT; i++)
        kinds += r->kind[i].enabled;
    for (int i = 0; i < LD_K_COUNT; i++) /* per core only when the CPU time is one kind's */
        if (r->kind[i].enabled)
            text_kind(out, ld_kind_names[i], &r->kind[i], r->elapsed_s, kinds == 1 ? r->cpu_s : 0);
}

static void json_num(struct jsonw *j, const char *key, double v)
{
    jsonw_key_cstr(j, key);
    jsonw_float(j, v);
}

static void json_u64(struct jsonw *j, const char *key, uint64_t v)
{
    jsonw_key_cstr(j, key);
    jsonw_uint(j, v);
}

static void json_hist(struct jsonw *j, const char *key, const struct ld_hist *h)
{
    jsonw_key_cstr(j, key);
    jsonw_obj_begin(j);
    json_num(j, "p50", ms(ld_hist_quantile(h, 0.5)));
    json_num(j, "p90", ms(ld_hist_quantile(h, 0.9)));
    json_num(j, "p99", ms(ld_hist_quantile(h, 0.99)));
    json_num(j, "max", ms(h->count ? h->max : 0));
    json_num(j, "mean", ld_hist_mean(h) / 1e6);
    jsonw_obj_end(j);
}

static void json_counts(struct jsonw *j, const struct ld_stats *s)
{
    jsonw_key_cstr(j, "status");
    jsonw_obj_begin(j);
    for (int i = 0; i < LD_STATUS_MAX; i++) {
        if (s->status[i]) {
            char k[16];
            snprintf(k, sizeof k, "%d", i);
            json_u64(j, k, s->status[i]);
        }
    }
    jsonw_obj_end(j);
    jsonw_key_cstr(j, "conn_errors");
    jsonw_obj_begin(j);
    json_u64(j, "connect", s->err_connect);
    json_u64(j, "reset", s->err_reset);
    json_u64(j, "timeout", s->err_timeout);
    json_u64(j, "protocol", s->err_protocol);
    jsonw_obj_end(j);
    if (s->last_error_status) {
        jsonw_key_cstr(j, "last_error");
        jsonw_obj_begin(j);
        json_u64(j, "status", (uint64_t)s->last_error_status);
        jsonw_key_cstr(j, "body");
        jsonw_str_html(j, s->last_error, strlen(s->last_error));
        jsonw_obj_end(j);
    }
}

static void json_kind(struct jsonw *j, const struct ld_report_kind *k, double el, double cpu)
{
    const struct ld_stats *s = &k->stats;
    jsonw_obj_begin(j);
    jsonw_key_cstr(j, "detail");
    jsonw_cstr(j, k->detail ? k->detail : "");
    jsonw_key_cstr(j, "unit");
    jsonw_cstr(j, k->unit);
    json_num(j, "target_rate", k->target_rate);
    json_u64(j, "requests", s->ok + s->failed);
    json_u64(j, "responses", s->requests);
    json_u64(j, "ok", s->ok);
    json_u64(j, "failed", s->failed);
    json_u64(j, "retries", s->retries);
    json_u64(j, "behind", s->behind);
    json_u64(j, "rw2_unconfirmed", s->v2_unconfirmed);
    json_u64(j, "units", s->units_ok);
    json_u64(j, "units_sent", s->units_sent);
    json_u64(j, "bytes_sent", s->bytes_sent);
    json_u64(j, "raw_bytes", s->raw_bytes);
    json_u64(j, "bytes_received", s->bytes_recv);
    json_num(j, "requests_per_s", per_s(s->ok + s->failed, el));
    json_num(j, "units_per_s", per_s(s->units_ok, el));
    json_num(j, "bytes_per_s", per_s(s->bytes_sent, el));
    json_num(j, "units_per_cpu_s", per_s(s->units_ok, cpu));
    json_hist(j, "latency_ms", &s->lat);
    json_hist(j, "service_ms", &s->svc);
    json_counts(j, s);
    jsonw_obj_end(j);
}

int ld_report_json(const struct ld_report *r, struct buf *out)
{
    struct jsonw j;
    jsonw_init(&j, out);
    jsonw_obj_begin(&j);
    jsonw_key_cstr(&j, "mode");
    jsonw_cstr(&j, r->mode);
    jsonw_key_cstr(&j, "target");
    jsonw_cstr(&j, r->target);
    json_num(&j, "elapsed_s", r->elapsed_s);
    json_num(&j, "cpu_s", r->cpu_s);
    json_u64(&j, "seed", r->seed);
    json_u64(&j, "threads", r->threads);
    json_u64(&j, "connections", r->connections);
    for (int i = 0; i < LD_K_COUNT; i++) {
        if (r->kind[i].enabled) {
            jsonw_key_cstr(&j, ld_kind_names[i]);
            json_kind(&j, &r->kind[i], r->elapsed_s, r->cpu_s);
        }
    }
    jsonw_obj_end(&j);
    int rc = jsonw_finish(&j);
    return rc ? rc : buf_append_u8(out, '\n');
}

void ld_report_progress(char *out, size_t size, double t_s, const struct ld_report_kind *kinds,
                        const struct ld_stats *d, double dt_s)
{
    size_t n = (size_t)snprintf(out, size, "%6.0fs", t_s);
    for (int i = 0; i < LD_K_COUNT && n < size; i++) {
        if (!kinds[i].enabled)
            continue;
        char a[32], b[32];
        n +=
            (size_t)snprintf(out + n, size - n, " | %s %s %s/s %s req/s err %" PRIu64 " p99 %.2fms",
                             ld_kind_names[i], human(a, sizeof a, per_s(d[i].units_ok, dt_s)),
                             kinds[i].unit, human(b, sizeof b, per_s(d[i].ok + d[i].failed, dt_s)),
                             ld_stats_errors(&d[i]), ms(ld_hist_quantile(&d[i].lat, 0.99)));
    }
}
