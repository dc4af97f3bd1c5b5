/* stratactl inspect: warnings, the report's lifetime and its totals. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "tools/stratactl/inspect.h"

void ctl_warn(struct ctl_warnings *w, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (w->echo)
        fprintf(w->echo, "stratactl: warning: %s\n", msg);
    if (w->n == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 8;
        char **p = realloc(w->v, cap * sizeof *p);
        if (!p)
            return; /* echoed; the report just misses it */
        w->v = p;
        w->cap = cap;
    }
    char *s = strdup(msg);
    if (s)
        w->v[w->n++] = s;
}

void ctl_warnings_deinit(struct ctl_warnings *w)
{
    for (size_t i = 0; i < w->n; i++)
        free(w->v[i]);
    free(w->v);
    w->v = NULL;
    w->n = w->cap = 0;
}

void ctl_warnings_move(struct ctl_warnings *dst, struct ctl_warnings *src)
{
    for (size_t i = 0; i < src->n; i++)
        ctl_warn(dst, "%s", src->v[i]);
    ctl_warnings_deinit(src);
}

void ctl_shard_deinit(struct ctl_shard *s)
{
    for (size_t i = 0; i < s->n_blocks; i++) {
        if (s->blocks[i].b)
            block_unref(s->blocks[i].b);
        free(s->blocks[i].dir);
    }
    free(s->blocks);
    for (size_t i = 0; i < s->n_quar; i++)
        free(s->quar[i].name);
    free(s->quar);
    head_close(s->h);
    if (s->head_tmp)
        block_remove_dir(s->head_tmp);
    free(s->head_tmp);
    free(s->dir);
    memset(s, 0, sizeof *s);
}

void ctl_report_init(struct ctl_report *r, const char *data_dir)
{
    memset(r, 0, sizeof *r);
    r->data_dir = data_dir;
    ctl_analysis_init(&r->an);
}

void ctl_report_deinit(struct ctl_report *r)
{
    for (size_t i = 0; i < r->n_shards; i++)
        ctl_shard_deinit(&r->shards[i]);
    free(r->shards);
    ctl_analysis_deinit(&r->an);
    ctl_warnings_deinit(&r->warn);
    memset(r, 0, sizeof *r);
}

static void time_note(struct ctl_totals *t, int64_t min_ms, int64_t max_ms)
{
    if (min_ms < t->min_time_ms)
        t->min_time_ms = min_ms;
    if (max_ms > t->max_time_ms)
        t->max_time_ms = max_ms;
}

static void shard_add(const struct ctl_shard *s, struct ctl_totals *t)
{
    for (size_t i = 0; i < s->n_blocks; i++) {
        const struct ctl_block *b = &s->blocks[i];
        if (b->err) {
            t->unreadable++;
            continue;
        }
        if (b->superseded)
            continue;
        t->blocks++;
        t->block_series += b->series;
        t->block_samples += b->samples;
        t->block_chunks += b->chunks;
        t->block_bytes += b->size_bytes;
        if (b->samples)
            time_note(t, b->min_time_ms, b->max_time_ms - 1); /* maxTime is exclusive */
    }
    t->head_series += s->head.series;
    t->head_samples += s->head.samples;
    if (s->head.samples)
        time_note(t, s->head.min_time_ms, s->head.max_time_ms);
    t->quarantined += s->n_quar;
    for (size_t i = 0; i < s->n_quar; i++)
        t->quarantined_bytes += s->quar[i].size_bytes;
    t->wal_segments += s->wal.segments;
    t->wal_bytes += s->wal.segment_bytes + s->wal.checkpoint_bytes;
    t->chunk_files += s->head.chunk_files;
    t->chunk_file_bytes += s->head.chunk_file_bytes;
}

static void totals_finish(struct ctl_totals *t)
{
    t->samples = t->block_samples + t->head_samples;
    t->bytes = t->block_bytes + t->wal_bytes + t->chunk_file_bytes;
}

void ctl_shard_totals(const struct ctl_shard *s, struct ctl_totals *t)
{
    *t = (struct ctl_totals){.min_time_ms = INT64_MAX, .max_time_ms = INT64_MIN};
    shard_add(s, t);
    totals_finish(t);
}

void ctl_report_totals(const struct ctl_report *r, struct ctl_totals *t)
{
    *t = (struct ctl_totals){.min_time_ms = INT64_MAX, .max_time_ms = INT64_MIN};
    for (size_t i = 0; i < r->n_shards; i++)
        shard_add(&r->shards[i], t);
    totals_finish(t);
}
