/* Test fixture for `stratactl inspect` (header-only; included by tests/integration/
 * stratactl_fixture.c and tests/unit/tools/test_stratactl_inspect.c): builds a strata data
 * directory through the engine's own API, exactly as a server would leave it, and says what it
 * holds.
 *
 * Per shard (shard-NNN, NNN < fx_opts.shards): a tsdb (engine/tsdb/tsdb.h) on a real io_uring loop
 * takes `series` series with one sample every `step_ms` over [t0, t0 + hours h), in batches of one
 * timestamp, then a few out-of-order samples and exact duplicates on series 0; the maintenance
 * cycle cuts the first chunk ranges into blocks and checkpoints the WAL; the tsdb is closed. Then:
 *   - shard 0: a torn record is appended to the last WAL segment (samples that were never
 *     acknowledged: they must not be counted);
 *   - the last shard: an extra block (series fx_quarantined) is written with block_write, one byte
 *     of its index flipped, and moved to quarantine/ with block_quarantine; and an empty
 *     `<ULID>.tmp` directory is left in blocks/ (a block being written).
 * Labels: {__name__="fx_metric_<k%3>", __tenant__="anonymous" or "acme" (k%5==4),
 * instance="host-<shard>-<k>", job="job<k%2>"}; series 1 of shard 0 also has path="a\"b\n" (a
 * value that needs quoting).
 *
 * fx_build writes the expectation, one line per series: `<canonical labels>\t<samples>\t<min ms>\t
 * <max ms>`, with the canonical form of `stratactl inspect --series-samples`. Returns 0, 77 when
 * io_uring is unavailable, or 1 (message on stderr). */
#ifndef STRATA_TESTS_INTEGRATION_STRATACTL_FIXTURE_H
#define STRATA_TESTS_INTEGRATION_STRATACTL_FIXTURE_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/error.h"
#include "base/hash.h"
#include "base/log.h"
#include "engine/io/loop.h"
#include "engine/tsdb/block.h"
#include "engine/tsdb/head.h"
#include "engine/tsdb/tsdb.h"
#include "formats/walrec.h"

#define FX_HOUR_MS 3600000LL
/* A multiple of the 2 h chunk range. */
#define FX_T0 1700006400000LL

struct fx_opts {
    uint32_t shards;
    uint32_t series; /* per shard */
    int64_t step_ms;
    uint32_t hours; /* of data per series */
};

#define FX_OOO_N 3 /* out-of-order samples added to series 0 of each shard */

struct fx_series {
    char name[24], tenant[16], instance[32], job[16];
    struct label l[5];
    size_t n;
};

struct fx {
    struct loop loop;
    struct tsdb *t;
    int acks;
    const char *err;
};

static inline void fx_series_make(struct fx_series *s, uint32_t shard, uint32_t k)
{
    snprintf(s->name, sizeof s->name, "fx_metric_%u", k % 3);
    snprintf(s->tenant, sizeof s->tenant, "%s", k % 5 == 4 ? "acme" : "anonymous");
    snprintf(s->instance, sizeof s->instance, "host-%u-%u", shard, k);
    snprintf(s->job, sizeof s->job, "job%u", k % 2);
    s->n = 0;
    s->l[s->n++] = (struct label){STR_LIT("__name__"), str_from_cstr(s->name)};
    s->l[s->n++] = (struct label){STR_LIT("__tenant__"), str_from_cstr(s->tenant)};
    s->l[s->n++] = (struct label){STR_LIT("instance"), str_from_cstr(s->instance)};
    s->l[s->n++] = (struct label){STR_LIT("job"), str_from_cstr(s->job)};
    if (shard == 0 && k == 1)
        s->l[s->n++] = (struct label){STR_LIT("path"), STR_LIT("a\"b\n")};
}

static inline int fx_path(char *out, size_t n, const char *a, const char *b)
{
    return snprintf(out, n, "%s/%s", a, b) >= (int)n ? -ENAMETOOLONG : 0;
}

static inline uint64_t fx_value(uint32_t k, int64_t ts)
{
    double v = (double)((uint64_t)ts / 1000 % 1000) + k * 0.25;
    uint64_t b;
    memcpy(&b, &v, 8);
    return b;
}

static inline void fx_on_ack(void *arg, int result)
{
    struct fx *x = arg;
    if (result)
        x->err = "commit failed";
    x->acks++;
}

/* Appends one sample to each of series[0..n) at its ts[i] and waits for the ack. */
static inline int fx_append(struct fx *x, uint32_t shard, uint32_t n, const int64_t *ts,
                            uint64_t *accepted)
{
    struct fx_series *ls = calloc(n, sizeof *ls);
    struct tsdb_series_in *in = calloc(n, sizeof *in);
    struct tsdb_sample *sm = calloc(n, sizeof *sm);
    int rc = ls && in && sm ? 0 : ERR_NOMEM;
    for (uint32_t k = 0; rc == 0 && k < n; k++) {
        fx_series_make(&ls[k], shard, k);
        sm[k] = (struct tsdb_sample){ts[k], fx_value(k, ts[k])};
        in[k] = (struct tsdb_series_in){ls[k].l, ls[k].n, hash_labels(ls[k].l, ls[k].n), &sm[k],
                                        ts[k] == INT64_MIN ? 0 : 1};
    }
    struct tsdb_append_result r;
    int want = x->acks + 1;
    if (rc == 0)
        rc = tsdb_append(x->t, in, n, &r, fx_on_ack, x);
    int64_t deadline = clock_mono_ns() + 10000000000LL;
    while (rc == 0 && x->acks < want && clock_mono_ns() < deadline)
        if (loop_run_once(&x->loop, 10000000) < 0)
            rc = ERR_CLOSED;
    if (rc == 0 && x->acks < want)
        rc = ERR_FULL;
    if (rc == 0)
        *accepted = r.accepted;
    free(ls);
    free(in);
    free(sm);
    return rc;
}

static inline int fx_settle(struct fx *x, int64_t now_ms)
{
    int64_t deadline = clock_mono_ns() + 30000000000LL;
    for (;;) {
        tsdb_tick(x->t, now_ms);
        if (tsdb_maintenance_idle(x->t))
            return 0;
        if (clock_mono_ns() >= deadline)
            return ERR_FULL;
        loop_run_once(&x->loop, 1000000);
    }
}

static inline void fx_config(struct tsdb_config *c)
{
    tsdb_config_init(c);
    c->wal.free_bytes_min = 0;
    c->wal.free_permille_min = 0;
    c->wal.segment_size_bytes = 256 << 10; /* several segments */
    c->retry_interval_ms = 0;
}

/* Regular samples, then FX_OOO_N out-of-order ones and exact duplicates on series 0. */
static inline int fx_fill(struct fx *x, const struct fx_opts *o, uint32_t shard)
{
    int64_t t1 = FX_T0 + (int64_t)o->hours * FX_HOUR_MS;
    int64_t *ts = calloc(o->series, sizeof *ts);
    if (!ts)
        return ERR_NOMEM;
    int rc = 0;
    uint64_t acc;
    for (int64_t t = FX_T0; rc == 0 && t < t1; t += o->step_ms) {
        for (uint32_t k = 0; k < o->series; k++)
            ts[k] = t;
        rc = fx_append(x, shard, o->series, ts, &acc);
        if (rc == 0 && acc != o->series)
            rc = ERR_INVALID;
        if (rc == 0 && (t - FX_T0) % FX_HOUR_MS == 0)
            rc = fx_settle(x, t);
    }
    for (uint32_t k = 1; k < o->series; k++)
        ts[k] = INT64_MIN; /* no sample */
    for (int i = 0; rc == 0 && i < FX_OOO_N; i++) {
        ts[0] = t1 - o->step_ms * (i + 2) - o->step_ms / 2; /* between two regular samples */
        rc = fx_append(x, shard, o->series, ts, &acc);
        if (rc == 0 && acc != 1)
            rc = ERR_INVALID;
        if (rc == 0 && (rc = fx_append(x, shard, o->series, ts, &acc)) == 0 && acc != 0)
            rc = ERR_INVALID; /* an exact duplicate is dropped */
    }
    free(ts);
    return rc;
}

static inline int fx_tsdb(const char *dir, const struct fx_opts *o, uint32_t shard)
{
    struct fx x = {0};
    int rc = loop_init(&x.loop, NULL);
    if (rc)
        return rc;
    struct tsdb_config cfg;
    fx_config(&cfg);
    if ((rc = tsdb_open(dir, &cfg, &x.loop, &x.t)) == 0) {
        loop_set_before_wait(&x.loop, tsdb_before_wait, x.t);
        rc = fx_fill(&x, o, shard);
        if (rc == 0)
            rc = fx_settle(&x, FX_T0 + (int64_t)o->hours * FX_HOUR_MS);
        loop_set_before_wait(&x.loop, NULL, NULL);
        tsdb_close(x.t);
    }
    loop_deinit(&x.loop);
    return rc ? rc : x.err ? ERR_INVALID : 0;
}

/* Appends half of a SAMPLES record to the newest WAL segment of shard_dir. */
static inline int fx_tear_wal(const char *shard_dir)
{
    char wal[4096], path[4096], name[16];
    if (fx_path(wal, sizeof wal, shard_dir, "wal") != 0)
        return -ENAMETOOLONG;
    DIR *d = opendir(wal);
    if (!d)
        return -errno;
    unsigned long last = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strlen(e->d_name) == 8 && strspn(e->d_name, "0123456789") == 8 &&
            strtoul(e->d_name, NULL, 10) > last)
            last = strtoul(e->d_name, NULL, 10);
    closedir(d);
    snprintf(name, sizeof name, "%08lu", last % 100000000);
    if (fx_path(path, sizeof path, wal, name) != 0)
        return -ENAMETOOLONG;
    struct walrec_sample s[8];
    for (int i = 0; i < 8; i++)
        s[i] = (struct walrec_sample){0, FX_T0 + 1000000000LL + i, 0};
    struct buf p = BUF_INIT, rec = BUF_INIT;
    int rc = walrec_samples_encode(&p, s, 8);
    if (rc == 0)
        rc = walrec_append(&rec, WALREC_SAMPLES, p.data, p.len, 0);
    int fd = rc == 0 ? open(path, O_WRONLY | O_APPEND) : -1;
    if (rc == 0 && fd < 0)
        rc = -errno;
    if (rc == 0 && write(fd, rec.data, rec.len / 2) != (ssize_t)(rec.len / 2))
        rc = -EIO;
    if (fd >= 0)
        close(fd);
    buf_deinit(&p);
    buf_deinit(&rec);
    return rc;
}

/* Writes a block of series fx_quarantined over [FX_T0 - 2h, FX_T0) into shard_dir/blocks, flips a
 * byte of its index and quarantines it. */
static inline int fx_quarantined_block(const char *shard_dir, const char *scratch)
{
    struct head_config hc;
    head_config_default(&hc);
    struct head *h;
    if (mkdir(scratch, 0755) != 0 && errno != EEXIST)
        return -errno;
    int rc = head_open(scratch, &hc, INT64_MIN, &h);
    if (rc)
        return rc;
    struct label l[1] = {{STR_LIT("__name__"), STR_LIT("fx_quarantined")}};
    uint32_t id;
    bool created;
    int64_t a = FX_T0 - 2 * FX_HOUR_MS;
    rc = head_series_get_or_create(h, l, 1, hash_labels(l, 1), &id, &created);
    for (int64_t t = a; rc == 0 && t < FX_T0; t += 60000)
        rc = head_append(h, id, t, fx_value(0, t)) < 0 ? ERR_INVALID : 0;
    if (rc == 0)
        rc = head_cut_open_chunks_before(h, FX_T0);
    char blocks[4096], dir[4096], file[64];
    if (rc == 0)
        rc = fx_path(blocks, sizeof blocks, shard_dir, "blocks");
    struct blockindex_meta m;
    blockindex_meta_init(&m);
    m.level = 1;
    struct chunk_series_set *set = rc == 0 ? head_block_series(h, a, FX_T0) : NULL;
    if (rc == 0)
        rc = set ? block_write(blocks, set, a, FX_T0, &m) : ERR_NOMEM;
    chunk_series_set_close(set);
    head_close(h);
    char ulid[BLOCKINDEX_ULID_CHARS + 1];
    blockindex_ulid_format(&m.ulid, ulid);
    blockindex_meta_deinit(&m);
    snprintf(file, sizeof file, "%s/index", ulid);
    if (rc == 0)
        rc = fx_path(dir, sizeof dir, blocks, file);
    int fd = rc == 0 ? open(dir, O_RDWR) : -1;
    uint8_t byte;
    if (rc == 0 && (fd < 0 || pread(fd, &byte, 1, 20) != 1))
        rc = -EIO;
    byte ^= 0x55;
    if (rc == 0 && pwrite(fd, &byte, 1, 20) != 1)
        rc = -EIO;
    if (fd >= 0)
        close(fd);
    if (rc == 0)
        rc = fx_path(dir, sizeof dir, blocks, ulid);
    return rc ? rc : block_quarantine(dir);
}

static inline int fx_expect_series(FILE *out, const struct fx_opts *o, uint32_t shard)
{
    int64_t t1 = FX_T0 + (int64_t)o->hours * FX_HOUR_MS;
    int64_t regular = (t1 - FX_T0 + o->step_ms - 1) / o->step_ms;
    int64_t last = FX_T0 + (regular - 1) * o->step_ms;
    for (uint32_t k = 0; k < o->series; k++) {
        struct fx_series s;
        fx_series_make(&s, shard, k);
        const struct label *sorted = s.l; /* already sorted by name */
        fputc('{', out);
        for (size_t i = 0; i < s.n; i++) {
            fprintf(out, "%s%.*s=\"", i ? "," : "", (int)sorted[i].name.len, sorted[i].name.ptr);
            for (size_t j = 0; j < sorted[i].value.len; j++) {
                char c = sorted[i].value.ptr[j];
                if (c == '"' || c == '\\')
                    fprintf(out, "\\%c", c);
                else if (c == '\n')
                    fputs("\\n", out);
                else
                    fputc(c, out);
            }
            fputc('"', out);
        }
        fprintf(out, "}\t%" PRId64 "\t%" PRId64 "\t%" PRId64 "\n",
                (int64_t)(regular + (k ? 0 : FX_OOO_N)), (int64_t)FX_T0, last);
    }
    return ferror(out) ? -EIO : 0;
}

static inline int fx_write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -errno;
    fputs(text, f);
    return fclose(f) == 0 ? 0 : -EIO;
}

static inline int fx_build(const char *data_dir, const struct fx_opts *o, FILE *expect)
{
    log_level_set(LOG_ERROR);
    char path[4096], json[64], name[32];
    if (mkdir(data_dir, 0755) != 0 && errno != EEXIST)
        return 1;
    snprintf(json, sizeof json, "{\"format\":1,\"shards\":%u}\n", o->shards);
    int rc = fx_path(path, sizeof path, data_dir, "strata.json");
    if (rc == 0)
        rc = fx_write_file(path, json);
    for (uint32_t sh = 0; rc == 0 && sh < o->shards; sh++) {
        snprintf(name, sizeof name, "shard-%03u", sh % 1000);
        if ((rc = fx_path(path, sizeof path, data_dir, name)) == 0)
            rc = fx_tsdb(path, o, sh);
        if (rc == 0 && sh == 0)
            rc = fx_tear_wal(path);
        if (rc == 0 && sh + 1 == o->shards) {
            char scratch[4096], tmpblk[4096];
            snprintf(name, sizeof name, "fx-scratch-%u", (unsigned)getpid());
            rc = fx_path(scratch, sizeof scratch, data_dir, name);
            if (rc == 0)
                rc = fx_quarantined_block(path, scratch);
            block_remove_dir(scratch);
            if (rc == 0)
                rc = fx_path(tmpblk, sizeof tmpblk, path, "blocks/01HZZZZZZZZZZZZZZZZZZZZZZZ.tmp");
            if (rc == 0 && mkdir(tmpblk, 0755) != 0)
                rc = -errno;
        }
        if (rc == 0)
            rc = fx_expect_series(expect, o, sh);
    }
    if (rc == -ENOSYS || rc == -EPERM)
        return 77;
    if (rc) {
        fprintf(stderr, "stratactl fixture: %s\n", err_str(rc));
        return 1;
    }
    return 0;
}

#endif
