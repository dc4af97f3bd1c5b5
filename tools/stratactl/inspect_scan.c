/* stratactl inspect: read-only scan of a data directory: shards, blocks, quarantine, WAL and
 * head chunk file listings (the head itself is rebuilt by inspect_head.c). Nothing here writes
 * under the data directory. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/error.h"
#include "tools/stratactl/inspect.h"

#define PATH_BYTES 4096
#define DEPTH_MAX  8
#define SCAN_TRIES 5

static int path_join(char *out, const char *a, const char *b)
{
    return snprintf(out, PATH_BYTES, "%s/%s", a, b) >= PATH_BYTES ? -ENAMETOOLONG : 0;
}

static bool all_digits(const char *s, size_t min, size_t max)
{
    size_t n = strlen(s);
    return n >= min && n <= max && strspn(s, "0123456789") == n;
}

/* Bytes of the regular files under path (files that vanish meanwhile are not counted). */
static uint64_t tree_bytes(const char *path, int depth)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return 0;
    if (!S_ISDIR(st.st_mode))
        return S_ISREG(st.st_mode) ? (uint64_t)st.st_size : 0;
    DIR *d = depth < DEPTH_MAX ? opendir(path) : NULL;
    if (!d)
        return 0;
    uint64_t sum = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        char sub[PATH_BYTES];
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 ||
            path_join(sub, path, e->d_name) != 0)
            continue;
        sum += tree_bytes(sub, depth + 1);
    }
    closedir(d);
    return sum;
}

/* Reads a small file whole (NUL-terminated, malloc'ed). */
static int read_small(const char *path, size_t max, char **out, size_t *n)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    char *p = malloc(max + 1);
    size_t len = 0;
    int rc = p ? 0 : ERR_NOMEM;
    while (rc == 0 && len < max) {
        ssize_t k = read(fd, p + len, max - len);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            rc = -errno;
        else if (k == 0)
            break;
        else
            len += (size_t)k;
    }
    close(fd);
    if (rc) {
        free(p);
        return rc;
    }
    p[len] = '\0';
    *out = p;
    *n = len;
    return 0;
}

static int read_meta(const char *block_dir, struct blockindex_meta *m)
{
    char path[PATH_BYTES], *p;
    size_t n;
    int rc = path_join(path, block_dir, "meta.json");
    if (rc == 0)
        rc = read_small(path, BLOCKINDEX_META_BYTES_MAX, &p, &n);
    if (rc)
        return rc;
    blockindex_meta_init(m);
    rc = blockindex_meta_decode(p, n, m);
    free(p);
    return rc;
}

/* The end of the newest readable block: what the head's min valid time starts from. */
static int64_t newest_block_end(const char *blocks_dir)
{
    int64_t end = INT64_MIN;
    DIR *d = opendir(blocks_dir);
    if (!d)
        return end;
    struct dirent *e;
    struct blockindex_ulid u;
    while ((e = readdir(d))) {
        char path[PATH_BYTES];
        struct blockindex_meta m;
        if (blockindex_ulid_parse(e->d_name, strlen(e->d_name), &u) != 0 ||
            path_join(path, blocks_dir, e->d_name) != 0 || read_meta(path, &m) != 0)
            continue;
        if (m.max_time_ms > end)
            end = m.max_time_ms;
        blockindex_meta_deinit(&m);
    }
    closedir(d);
    return end;
}

/* <shard>/head_min_valid_time ("strata-head-min-valid-time-ms <int64>\n"), the last head cut
 * as servers that keep that file persist it; INT64_MIN when absent or damaged. */
static int64_t persisted_cut(const char *shard_dir)
{
    static const char prefix[] = "strata-head-min-valid-time-ms ";
    char path[PATH_BYTES], *p;
    size_t n;
    int64_t v = INT64_MIN;
    if (path_join(path, shard_dir, "head_min_valid_time") != 0 || read_small(path, 80, &p, &n))
        return v;
    char *end = NULL;
    errno = 0;
    long long x = 0;
    if (n > sizeof prefix - 1 && memcmp(p, prefix, sizeof prefix - 1) == 0)
        x = strtoll(p + sizeof prefix - 1, &end, 10);
    if (end && end != p + sizeof prefix - 1 && *end == '\n' && errno == 0)
        v = x;
    free(p);
    return v;
}

static bool dir_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Opens one block into b (b->dir set). false when it vanished (skip it). */
static bool block_one(struct ctl_block *b, const char *name, bool last_try, struct ctl_warnings *w)
{
    snprintf(b->ulid, sizeof b->ulid, "%.26s", name);
    b->min_time_ms = INT64_MAX;
    b->max_time_ms = INT64_MIN;
    int rc = block_open(b->dir, &b->b, &b->fault);
    if ((rc == ERR_NOT_FOUND || rc == -ENOENT) && !dir_exists(b->dir)) {
        ctl_warn(w, "block %s vanished while being read (deleted by the server?): skipped", b->dir);
        return false;
    }
    if (rc) {
        b->err = rc;
        b->size_bytes = tree_bytes(b->dir, 0);
        ctl_warn(w, "block %s cannot be read: %s (file %s, offset %llu)", b->dir, err_str(rc),
                 b->fault.file[0] ? b->fault.file : "-", (unsigned long long)b->fault.offset);
        return true;
    }
    const struct blockindex_meta *m = block_meta(b->b);
    blockindex_ulid_format(&m->ulid, b->ulid);
    b->min_time_ms = m->min_time_ms;
    b->max_time_ms = m->max_time_ms;
    b->level = m->level;
    b->series = m->num_series;
    b->samples = m->num_samples;
    b->chunks = m->num_chunks;
    b->size_bytes = block_size_bytes(b->b);
    return true;
}

static int block_push(struct ctl_shard *s, size_t *cap)
{
    if (s->n_blocks == *cap) {
        size_t c = *cap ? *cap * 2 : 16;
        struct ctl_block *p = realloc(s->blocks, c * sizeof *p);
        if (!p)
            return ERR_NOMEM;
        s->blocks = p;
        *cap = c;
    }
    memset(&s->blocks[s->n_blocks], 0, sizeof s->blocks[0]);
    return 0;
}

static bool is_tmp_name(const char *n)
{
    size_t l = strlen(n);
    return (l > 4 && strcmp(n + l - 4, ".tmp") == 0) || strstr(n, ".tmp-for-deletion") != NULL;
}

static void blocks_free(struct ctl_shard *s)
{
    for (size_t i = 0; i < s->n_blocks; i++) {
        if (s->blocks[i].b)
            block_unref(s->blocks[i].b);
        free(s->blocks[i].dir);
    }
    free(s->blocks);
    s->blocks = NULL;
    s->n_blocks = 0;
    s->tmp_dirs = 0;
}

/* One pass over blocks_dir; *vanished counts blocks listed but gone when opened. */
static int scan_blocks_once(struct ctl_shard *s, const char *blocks_dir, bool last_try,
                            size_t *vanished, struct ctl_warnings *w)
{
    DIR *d = opendir(blocks_dir);
    if (!d)
        return errno == ENOENT ? 0 : -errno;
    size_t cap = 0;
    int rc = 0;
    struct dirent *e;
    struct blockindex_ulid u;
    while (rc == 0 && (e = readdir(d))) {
        if (is_tmp_name(e->d_name)) {
            s->tmp_dirs++;
            continue;
        }
        if (blockindex_ulid_parse(e->d_name, strlen(e->d_name), &u) != 0)
            continue;
        char path[PATH_BYTES];
        if ((rc = path_join(path, blocks_dir, e->d_name)) != 0 || (rc = block_push(s, &cap)) != 0)
            break;
        struct ctl_block *b = &s->blocks[s->n_blocks];
        if (!(b->dir = strdup(path))) {
            rc = ERR_NOMEM;
            break;
        }
        if (block_one(b, e->d_name, last_try, w)) {
            s->n_blocks++;
        } else {
            free(b->dir);
            (*vanished)++;
        }
    }
    closedir(d);
    return rc;
}

/* A block that vanished between the listing and its opening was most likely the input of a
 * compaction whose output the listing may have missed: list again (a few times at most). */
static int scan_blocks(struct ctl_shard *s, const char *blocks_dir, struct ctl_warnings *w)
{
    for (int attempt = 0;; attempt++) {
        size_t vanished = 0;
        bool last = attempt + 1 == SCAN_TRIES;
        int rc = scan_blocks_once(s, blocks_dir, last, &vanished, w);
        if (rc || vanished == 0 || last)
            return rc;
        blocks_free(s);
    }
}

static int block_cmp(const void *x, const void *y)
{
    const struct ctl_block *a = x, *b = y;
    if (a->min_time_ms != b->min_time_ms)
        return a->min_time_ms < b->min_time_ms ? -1 : 1;
    return strcmp(a->ulid, b->ulid);
}

/* The engine's rule (compact.c): j supersedes i when it holds all of i's sources and more, or
 * the same ones with a later ULID. */
static void mark_superseded(struct ctl_shard *s)
{
    for (size_t i = 0; i < s->n_blocks; i++) {
        if (!s->blocks[i].b)
            continue;
        const struct blockindex_meta *mi = block_meta(s->blocks[i].b);
        for (size_t j = 0; j < s->n_blocks && !s->blocks[i].superseded; j++) {
            if (j == i || !s->blocks[j].b)
                continue;
            const struct blockindex_meta *mj = block_meta(s->blocks[j].b);
            s->blocks[i].superseded =
                blockindex_meta_covers(mj, mi) &&
                (mj->n_sources > mi->n_sources || blockindex_ulid_cmp(&mj->ulid, &mi->ulid) > 0);
        }
    }
}

static int quar_one(struct ctl_quarantined *q, const char *dir, const char *name)
{
    char path[PATH_BYTES];
    int rc = path_join(path, dir, name);
    if (rc)
        return rc;
    if (!(q->name = strdup(name)))
        return ERR_NOMEM;
    q->size_bytes = tree_bytes(path, 0);
    struct blockindex_meta m;
    if (read_meta(path, &m) == 0) {
        q->have_meta = true;
        blockindex_ulid_format(&m.ulid, q->ulid);
        q->min_time_ms = m.min_time_ms;
        q->max_time_ms = m.max_time_ms;
        q->level = m.level;
        q->series = m.num_series;
        q->samples = m.num_samples;
        blockindex_meta_deinit(&m);
    }
    return 0;
}

static int scan_quarantine(struct ctl_shard *s, const char *qdir)
{
    DIR *d = opendir(qdir);
    if (!d)
        return errno == ENOENT ? 0 : -errno;
    size_t cap = 0;
    int rc = 0;
    struct dirent *e;
    while (rc == 0 && (e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        if (s->n_quar == cap) {
            size_t c = cap ? cap * 2 : 4;
            struct ctl_quarantined *p = realloc(s->quar, c * sizeof *p);
            if (!p) {
                rc = ERR_NOMEM;
                break;
            }
            s->quar = p;
            cap = c;
        }
        memset(&s->quar[s->n_quar], 0, sizeof s->quar[0]);
        rc = quar_one(&s->quar[s->n_quar], qdir, e->d_name);
        s->n_quar += rc == 0;
    }
    closedir(d);
    return rc;
}

static int quar_cmp(const void *x, const void *y)
{
    return strcmp(((const struct ctl_quarantined *)x)->name,
                  ((const struct ctl_quarantined *)y)->name);
}

/* Segments (8 digits) and the newest checkpoint (checkpoint.NNNNNNNN, not .tmp). */
static void scan_wal(struct ctl_wal *wal, const char *wal_dir)
{
    DIR *d = opendir(wal_dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        char path[PATH_BYTES];
        if (path_join(path, wal_dir, e->d_name) != 0)
            continue;
        if (all_digits(e->d_name, 8, 8)) {
            uint32_t no = (uint32_t)strtoul(e->d_name, NULL, 10);
            wal->segments++;
            wal->segment_bytes += tree_bytes(path, 0);
            if (!wal->first_segment || no < wal->first_segment)
                wal->first_segment = no;
            if (no > wal->last_segment)
                wal->last_segment = no;
        } else if (strncmp(e->d_name, "checkpoint.", 11) == 0 && all_digits(e->d_name + 11, 8, 8)) {
            uint32_t no = (uint32_t)strtoul(e->d_name + 11, NULL, 10);
            uint64_t bytes = tree_bytes(path, 0);
            if (no >= wal->checkpoint) {
                wal->checkpoint = no;
                wal->checkpoint_bytes = bytes;
            }
        }
    }
    closedir(d);
}

static void scan_chunk_files(struct ctl_head *h, const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        char path[PATH_BYTES];
        if (!all_digits(e->d_name, 6, 10) || path_join(path, dir, e->d_name) != 0)
            continue;
        h->chunk_files++;
        h->chunk_file_bytes += tree_bytes(path, 0);
    }
    closedir(d);
}

int ctl_scan_shard(struct ctl_shard *s, const char *tmp_root, struct ctl_warnings *w)
{
    char blocks[PATH_BYTES], sub[PATH_BYTES];
    int rc = path_join(blocks, s->dir, "blocks");
    if (rc)
        return rc;
    /* Blocks' ends first, then the head, then the blocks themselves (see inspect.h). */
    int64_t mvt = newest_block_end(blocks), cut = persisted_cut(s->dir);
    if ((rc = ctl_head_build(s, tmp_root, cut > mvt ? cut : mvt, w)) != 0)
        return rc;
    if ((rc = scan_blocks(s, blocks, w)) != 0)
        return rc;
    if (s->n_blocks > 1)
        qsort(s->blocks, s->n_blocks, sizeof *s->blocks, block_cmp);
    mark_superseded(s);
    if ((rc = path_join(sub, s->dir, "quarantine")) != 0 || (rc = scan_quarantine(s, sub)) != 0)
        return rc;
    if (s->n_quar > 1)
        qsort(s->quar, s->n_quar, sizeof *s->quar, quar_cmp);
    if ((rc = path_join(sub, s->dir, "wal")) != 0)
        return rc;
    scan_wal(&s->wal, sub);
    if ((rc = path_join(sub, s->dir, "chunks_head")) != 0)
        return rc;
    scan_chunk_files(&s->head, sub);
    return 0;
}

/* "shards": N from <data-dir>/strata.json (0 when absent or unreadable). */
static uint32_t declared_shards(const char *data_dir)
{
    char path[PATH_BYTES], *p;
    size_t n;
    if (path_join(path, data_dir, "strata.json") != 0 || read_small(path, 4096, &p, &n) != 0)
        return 0;
    const char *k = strstr(p, "\"shards\"");
    unsigned long v = 0;
    if (k) {
        k += 8;
        k += strspn(k, " \t\r\n");
        if (*k == ':')
            v = strtoul(k + 1, NULL, 10);
    }
    free(p);
    return v > 0 && v < CTL_SHARDS_MAX ? (uint32_t)v : 0;
}

static int u32_cmp(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* Shard numbers of the shard-NNN directories, sorted (at most CTL_SHARDS_MAX). */
static int list_shards(const char *data_dir, uint32_t *nos, size_t *n)
{
    DIR *d = opendir(data_dir);
    if (!d)
        return -errno;
    *n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && *n < CTL_SHARDS_MAX) {
        char path[PATH_BYTES];
        if (strncmp(e->d_name, "shard-", 6) != 0 || !all_digits(e->d_name + 6, 3, 4) ||
            path_join(path, data_dir, e->d_name) != 0 || !dir_exists(path))
            continue;
        unsigned long v = strtoul(e->d_name + 6, NULL, 10);
        if (v < CTL_SHARDS_MAX)
            nos[(*n)++] = (uint32_t)v;
    }
    closedir(d);
    qsort(nos, *n, sizeof *nos, u32_cmp);
    return 0;
}

static int shard_dir(const char *data_dir, uint32_t no, char **out)
{
    char path[PATH_BYTES];
    if (snprintf(path, sizeof path, "%s/shard-%03u", data_dir, no) >= (int)sizeof path)
        return -ENAMETOOLONG;
    return (*out = strdup(path)) ? 0 : ERR_NOMEM;
}

int ctl_scan(struct ctl_report *r, int only, const char *tmp_root)
{
    if (!dir_exists(r->data_dir))
        return ERR_NOT_FOUND;
    r->shards_declared = declared_shards(r->data_dir);
    uint32_t *nos = malloc(CTL_SHARDS_MAX * sizeof *nos);
    size_t n = 0;
    int rc = nos ? list_shards(r->data_dir, nos, &n) : ERR_NOMEM;
    if (rc == 0 && only >= 0) {
        size_t k = 0;
        while (k < n && nos[k] != (uint32_t)only)
            k++;
        rc = k < n ? 0 : ERR_NOT_FOUND;
        nos[0] = (uint32_t)only;
        n = 1;
    }
    if (rc == 0 && n && !(r->shards = calloc(n, sizeof *r->shards)))
        rc = ERR_NOMEM;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        struct ctl_shard *s = &r->shards[r->n_shards++];
        s->no = nos[i];
        if ((rc = shard_dir(r->data_dir, nos[i], &s->dir)) == 0)
            rc = ctl_scan_shard(s, tmp_root, &r->warn);
    }
    free(nos);
    if (rc == 0 && n == 0)
        ctl_warn(&r->warn, "%s holds no shard-NNN directories", r->data_dir);
    return rc;
}
