/* stratactl inspect: rebuilds a shard's head read-only, in a private temporary directory: copies
 * the shard's head chunk files there, opens a head on the copy and replays the shard's WAL into
 * it with the server's start-up rules (engine/tsdb/tsdb_replay.c), then counts what it holds. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <dirent.h>

#include "base/error.h"
#include "base/hash.h"
#include "engine/store/replay.h"
#include "engine/tsdb/querier.h"
#include "engine/tsdb/wal.h"
#include "tools/stratactl/inspect.h"

#define PATH_BYTES    4096
#define RESTARTS_MAX  5
#define LABELS_START  64
#define COPY_BUF_SIZE (1u << 20)

/* ---- copying the head chunk files ---- */

static int write_all(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t k = write(fd, p, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return -errno;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

/* Copies the bytes src holds now. A source that vanished is not an error (*copied false). */
static int copy_file(const char *src, const char *dst, uint8_t *buf, bool *copied)
{
    *copied = false;
    int in = open(src, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return errno == ENOENT ? 0 : -errno;
    int out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    int rc = out < 0 ? -errno : 0;
    while (rc == 0) {
        ssize_t k = read(in, buf, COPY_BUF_SIZE);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) {
            rc = k < 0 ? -errno : 0;
            break;
        }
        rc = write_all(out, buf, (size_t)k);
    }
    close(in);
    if (out >= 0)
        close(out);
    *copied = rc == 0;
    return rc;
}

static bool is_chunk_file_name(const char *s)
{
    size_t n = strlen(s);
    return (n >= 6 && n <= 10 && strspn(s, "0123456789") == n) || strcmp(s, "floor") == 0;
}

static int copy_chunk_files(const char *from, const char *to)
{
    if (mkdir(to, 0755) != 0)
        return -errno;
    DIR *d = opendir(from);
    if (!d)
        return errno == ENOENT ? 0 : -errno;
    uint8_t *buf = malloc(COPY_BUF_SIZE);
    int rc = buf ? 0 : ERR_NOMEM;
    struct dirent *e;
    while (rc == 0 && (e = readdir(d))) {
        char a[PATH_BYTES], b[PATH_BYTES];
        bool copied;
        if (!is_chunk_file_name(e->d_name))
            continue;
        if (snprintf(a, sizeof a, "%s/%s", from, e->d_name) >= (int)sizeof a ||
            snprintf(b, sizeof b, "%s/%s", to, e->d_name) >= (int)sizeof b)
            rc = -ENAMETOOLONG;
        else
            rc = copy_file(a, b, buf, &copied);
    }
    free(buf);
    closedir(d);
    return rc;
}

/* ---- replay (the server's rules: engine/tsdb/tsdb_replay.c) ---- */

struct replay {
    struct head *h;
    struct ctl_wal *wal;
    struct label *lbuf;
    size_t lcap;
};

static int series_item(void *arg, const struct walrec_series *s)
{
    struct replay *r = arg;
    uint64_t hash = hash_labels(s->labels, s->n_labels);
    int rc = head_series_create_with_id(r->h, s->id, s->labels, s->n_labels, hash);
    if (rc == ERR_NOMEM)
        return rc;
    if (rc == 0)
        r->wal->series_items++;
    else
        r->wal->series_conflicts++;
    return 0;
}

static int replay_series(struct replay *r, const struct walrec *rec)
{
    return store_replay_series(rec, &r->lbuf, &r->lcap, series_item, r, &r->wal->bad_payloads);
}

static int replay_samples(struct replay *r, const struct walrec *rec)
{
    struct walrec_samples_iter it;
    walrec_samples_iter_init(&it, rec->payload, rec->len);
    while (walrec_samples_iter_next(&it)) {
        const struct walrec_sample *s = walrec_samples_iter_at(&it);
        int rc = head_append(r->h, s->id, s->ts_ms, s->value_bits);
        switch (rc) {
        case HEAD_APPENDED:
        case HEAD_APPENDED_OOO:
        case HEAD_DUPLICATE: r->wal->sample_items++; break;
        case ERR_NOT_FOUND:
        case ERR_RANGE:
        case ERR_DUPLICATE:
        case ERR_ORDER: r->wal->samples_skipped++; break;
        default: return rc;
        }
    }
    r->wal->bad_payloads += walrec_samples_iter_err(&it) != 0;
    return 0;
}

static int on_record(void *arg, const struct walrec *rec, const struct wal_replay_at *at)
{
    (void)at;
    struct replay *r = arg;
    r->wal->records++;
    switch (rec->type) {
    case WALREC_SERIES: return replay_series(r, rec);
    case WALREC_SAMPLES: return replay_samples(r, rec);
    default: r->wal->other_records++; return 0;
    }
}

static void note_stop(struct ctl_wal *wal, const struct wal_replay_result *res, bool damaged,
                      const char *wal_dir, struct ctl_warnings *w)
{
    if (damaged) {
        wal->damaged_files++;
        wal->damaged_lost_bytes += res->lost_bytes;
        ctl_warn(w,
                 "%s: damaged %s %08u at offset %llu (%llu bytes lost): %s; skipped to the next "
                 "segment, as the server does",
                 wal_dir, res->stop_in_checkpoint ? "checkpoint" : "segment", res->stop_segment,
                 (unsigned long long)res->stop_offset, (unsigned long long)res->lost_bytes,
                 err_str(res->stop_err));
        return;
    }
    wal->tail_err = res->stop_err;
    wal->tail_segment = res->stop_err ? res->stop_segment : 0;
    wal->tail_offset = res->stop_err ? res->stop_offset : 0;
    wal->tail_lost_bytes = res->stop_err ? res->lost_bytes : 0;
    if (res->stop_err)
        ctl_warn(w,
                 "%s: last segment %08u ends with %s at offset %llu (%llu bytes not replayed; "
                 "normal after a crash or while the server writes)",
                 wal_dir, res->stop_segment,
                 res->stop_err == ERR_TRUNCATED ? "a torn record" : "damaged bytes",
                 (unsigned long long)res->stop_offset, (unsigned long long)res->lost_bytes);
}

/* The checkpoint and segments, resuming after each damaged non-last file. */
static int replay_all(struct replay *r, const char *wal_dir, struct ctl_warnings *w)
{
    uint32_t from = 0;
    for (;;) {
        struct wal_replay_opts o = {.from_segment = from, .read_bytes = 0};
        struct wal_replay_result res;
        int rc = wal_replay(wal_dir, &o, on_record, r, &res);
        if (rc != ERR_CORRUPT) {
            if (rc == 0)
                note_stop(r->wal, &res, false, wal_dir, w);
            return rc;
        }
        note_stop(r->wal, &res, true, wal_dir, w);
        uint32_t next = res.stop_segment + 1 > from + 1 ? res.stop_segment + 1 : from + 1;
        if (res.last_segment == 0 || next > res.last_segment)
            return 0;
        from = next;
    }
}

/* ---- counting ---- */

static int count_series(struct ctl_head *ch, const struct chunk_series *cs)
{
    struct querier_sample_iter it;
    querier_sample_iter_init(&it, cs);
    uint64_t n = 0;
    int rc;
    while ((rc = querier_sample_iter_next(&it)) == 1)
        n++;
    querier_sample_iter_deinit(&it);
    ch->samples += n;
    ch->series_with_samples += n > 0;
    ch->chunks += cs->n_chunks;
    return rc;
}

static int count_head(struct ctl_head *ch, struct head *h)
{
    ch->series = head_series_count(h);
    ch->min_time_ms = head_min_time(h);
    ch->max_time_ms = head_max_time(h);
    ch->min_valid_time_ms = head_min_valid_time(h);
    struct matcher m;
    char err[128];
    int rc = matcher_init(&m, MATCHER_RE, STR_LIT("__name__"), STR_LIT(".*"), err, sizeof err);
    if (rc)
        return rc;
    struct chunk_series_set *set = head_select(h, &m, 1, INT64_MIN, INT64_MAX);
    rc = set ? 0 : ERR_NOMEM;
    while (rc == 0 && (rc = chunk_series_set_next(set)) == 1)
        rc = count_series(ch, chunk_series_set_at(set));
    chunk_series_set_close(set);
    matcher_deinit(&m);
    return rc;
}

/* ---- one attempt, and the retries ---- */

static int grow_names(char ***names, size_t *cap)
{
    size_t c = *cap ? *cap * 2 : 32;
    char **p = realloc(*names, c * sizeof *p);
    if (!p)
        return ERR_NOMEM;
    *names = p;
    *cap = c;
    return 0;
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A hash of the WAL directory's sorted entry names: tells whether a running server checkpointed
 * or deleted segments while the replay ran. */
static uint64_t wal_fingerprint(const char *wal_dir)
{
    DIR *d = opendir(wal_dir);
    if (!d)
        return 0;
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' || (n == cap && grow_names(&names, &cap) != 0))
            continue;
        if ((names[n] = strdup(e->d_name)))
            n++;
    }
    closedir(d);
    if (n > 1)
        qsort(names, n, sizeof *names, name_cmp);
    uint64_t h = 0;
    for (size_t i = 0; i < n; i++) {
        h = hash_bytes_seed(names[i], strlen(names[i]) + 1, h);
        free(names[i]);
    }
    free(names);
    return h;
}

static int build_once(struct ctl_shard *s, int64_t mvt, struct ctl_warnings *w)
{
    char from[PATH_BYTES], to[PATH_BYTES], wal_dir[PATH_BYTES];
    if (snprintf(from, sizeof from, "%s/chunks_head", s->dir) >= (int)sizeof from ||
        snprintf(to, sizeof to, "%s/chunks_head", s->head_tmp) >= (int)sizeof to ||
        snprintf(wal_dir, sizeof wal_dir, "%s/wal", s->dir) >= (int)sizeof wal_dir)
        return -ENAMETOOLONG;
    int rc = copy_chunk_files(from, to);
    struct head_config cfg;
    head_config_default(&cfg);
    if (rc == 0)
        rc = head_open(s->head_tmp, &cfg, mvt, &s->h);
    if (rc)
        return rc;
    struct replay r = {.h = s->h, .wal = &s->wal, .lcap = LABELS_START};
    if (!(r.lbuf = malloc(r.lcap * sizeof *r.lbuf)))
        return ERR_NOMEM;
    uint64_t fp = wal_fingerprint(wal_dir);
    rc = head_replay_begin(s->h);
    if (rc == 0)
        rc = replay_all(&r, wal_dir, w);
    head_replay_end(s->h);
    free(r.lbuf);
    /* Damage seen while the directory changed under us was most likely a file the server
     * removed after our listing (a checkpoint replaced it): not damage, start over. */
    if (rc == 0 && s->wal.damaged_files && wal_fingerprint(wal_dir) != fp)
        rc = -ENOENT;
    return rc;
}

static void discard(struct ctl_shard *s)
{
    head_close(s->h);
    s->h = NULL;
    if (s->head_tmp)
        block_remove_dir(s->head_tmp);
    free(s->head_tmp);
    s->head_tmp = NULL;
}

static int make_tmp(struct ctl_shard *s, const char *tmp_root)
{
    char path[PATH_BYTES];
    if (snprintf(path, sizeof path, "%s/shard-%03u-XXXXXX", tmp_root, s->no) >= (int)sizeof path)
        return -ENAMETOOLONG;
    if (!mkdtemp(path))
        return -errno;
    return (s->head_tmp = strdup(path)) ? 0 : ERR_NOMEM;
}

int ctl_head_build(struct ctl_shard *s, const char *tmp_root, int64_t mvt, struct ctl_warnings *w)
{
    for (uint32_t attempt = 0;; attempt++) {
        struct ctl_wal fresh = {.restarts = attempt};
        s->wal = fresh;
        struct ctl_warnings aw = {0}; /* this attempt's: dropped if it starts over */
        int rc = make_tmp(s, tmp_root);
        if (rc == 0)
            rc = build_once(s, mvt, &aw);
        if (rc == 0) {
            ctl_warnings_move(w, &aw);
            struct ctl_head ch = {0};
            rc = count_head(&ch, s->h);
            if (rc < 0)
                ctl_warn(w, "%s: head samples could not all be read: %s", s->dir, err_str(rc));
            s->head = ch;
            return 0;
        }
        discard(s);
        if (rc != -ENOENT || attempt + 1 >= RESTARTS_MAX)
            ctl_warnings_move(w, &aw);
        else
            ctl_warnings_deinit(&aw);
        if (rc != -ENOENT || attempt + 1 >= RESTARTS_MAX)
            return rc;
        ctl_warn(w,
                 "%s: WAL or head chunk files changed during the replay (a running server "
                 "checkpointed?): starting over",
                 s->dir);
    }
}
