/* Head chunk files: buffered append, read-only maps, open-time scan with torn-tail repair, and
 * truncation by time. Byte layout: docs/formats/headchunks.md. */
#include "engine/tsdb/headchunks.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/assert.h"
#include "base/buf.h"
#include "base/crc32c.h"
#include "base/error.h"
#include "base/log.h"
#include "engine/tsdb/series_set.h"
#include "formats/gorilla.h"
#include "formats/histchunk.h"

struct hc_file {
    uint32_t seq;
    uint32_t size;    /* bytes on disk (flushed) */
    uint32_t len;     /* logical length: on disk + buffered (the current file only differs) */
    uint32_t records; /* records in the file */
    int64_t maxt_ms;  /* largest chunk maxt in the file (INT64_MIN: none) */
    uint8_t *map;     /* read-only map, or NULL */
    size_t map_len;
};

struct hc_zombie {
    uint8_t *map;
    size_t len;
};

struct headchunks {
    int dirfd;
    struct hc_file *files; /* ascending seq; the current file (when cur_fd >= 0) is the last */
    size_t n_files, cap_files;
    int cur_fd;    /* write fd of the current file, or -1 */
    struct buf wb; /* buffered bytes of the current file, ending at its logical length */
    uint32_t next_seq;
    struct headchunks_config cfg;
    unsigned pins;
    struct hc_zombie *zombies; /* maps of deleted files kept while pinned */
    size_t n_zombies, cap_zombies;
    uint64_t records_written, files_deleted;
    int64_t floor_ms; /* persisted truncation point (INT64_MIN: none) */
};

void headchunks_config_default(struct headchunks_config *c)
{
    c->file_size_max = HEADCHUNKS_FILE_SIZE_DEFAULT;
    c->write_buf_size = HEADCHUNKS_WBUF_DEFAULT;
}

/* ---- codec ---- */

void headchunks_file_header_put(uint8_t *dst, uint32_t seq)
{
    le32_put(dst, HEADCHUNKS_MAGIC);
    dst[4] = HEADCHUNKS_VERSION;
    dst[5] = dst[6] = dst[7] = 0;
    le32_put(dst + 8, seq);
    le32_put(dst + 12, crc32c(dst, 12));
}

void headchunks_rec_put(uint8_t *dst, const struct headchunks_rec *rec, const uint8_t *data,
                        size_t len)
{
    le32_put(dst, rec->series_id);
    le64_put(dst + 4, (uint64_t)rec->mint_ms);
    le64_put(dst + 12, (uint64_t)rec->maxt_ms);
    dst[20] = (uint8_t)rec->samples;
    dst[21] = (uint8_t)(rec->samples >> 8);
    dst[22] = rec->encoding;
    dst[23] = rec->flags;
    le32_put(dst + 24, (uint32_t)len);
    if (len)
        memcpy(dst + HEADCHUNKS_REC_HDR_SIZE, data, len);
    uint32_t crc = crc32c(dst, HEADCHUNKS_REC_HDR_SIZE + len);
    le32_put(dst + HEADCHUNKS_REC_HDR_SIZE + len, crc);
}

/* Structural checks of a record's metadata against its chunk bytes. */
static int rec_check(const struct headchunks_rec *r, const uint8_t *data, size_t len)
{
    if (r->encoding < CHUNK_XOR || r->encoding > CHUNK_FLOAT_HISTOGRAM)
        return ERR_CORRUPT;
    if ((r->flags & ~HEADCHUNKS_F_OOO) || r->samples == 0 || r->mint_ms > r->maxt_ms)
        return ERR_CORRUPT;
    if (r->encoding == CHUNK_XOR) {
        int64_t first;
        if (gorilla_chunk_count(data, len) != (int)r->samples ||
            gorilla_chunk_first_ts(data, len, &first) != 0 || first != r->mint_ms)
            return ERR_CORRUPT;
    } else {
        int64_t first;
        if (histchunk_count(data, len) != (int)r->samples ||
            histchunk_is_float(data, len) != (r->encoding == CHUNK_FLOAT_HISTOGRAM) ||
            histchunk_first_ts(data, len, &first) != 0 || first != r->mint_ms)
            return ERR_CORRUPT;
    }
    return 0;
}

int headchunks_rec_parse(const uint8_t *p, size_t n, struct headchunks_rec *rec,
                         const uint8_t **data, size_t *len, size_t *size)
{
    if (n < HEADCHUNKS_REC_HDR_SIZE)
        return ERR_TRUNCATED;
    uint32_t l = le32_get(p + 24);
    if (l > HEADCHUNKS_FILE_SIZE_MAX)
        return ERR_CORRUPT;
    size_t total = headchunks_rec_size(l);
    if (total > n)
        return ERR_TRUNCATED;
    if (crc32c(p, HEADCHUNKS_REC_HDR_SIZE + l) != le32_get(p + HEADCHUNKS_REC_HDR_SIZE + l))
        return ERR_CORRUPT;
    struct headchunks_rec r = {
        .series_id = le32_get(p),
        .mint_ms = (int64_t)le64_get(p + 4),
        .maxt_ms = (int64_t)le64_get(p + 12),
        .samples = (uint16_t)(p[20] | (p[21] << 8)),
        .encoding = p[22],
        .flags = p[23],
    };
    int rc = rec_check(&r, p + HEADCHUNKS_REC_HDR_SIZE, l);
    if (rc)
        return rc;
    *rec = r;
    *data = p + HEADCHUNKS_REC_HDR_SIZE;
    *len = l;
    *size = total;
    return 0;
}

static int header_check(const uint8_t *p, size_t n, uint32_t seq)
{
    if (n < HEADCHUNKS_FILE_HDR_SIZE)
        return ERR_TRUNCATED;
    if (le32_get(p) != HEADCHUNKS_MAGIC || crc32c(p, 12) != le32_get(p + 12))
        return ERR_CORRUPT;
    if (p[4] != HEADCHUNKS_VERSION)
        return p[4] > HEADCHUNKS_VERSION ? ERR_UNSUPPORTED : ERR_CORRUPT;
    if (le32_get(p + 8) != seq)
        return ERR_CORRUPT;
    return 0;
}

int headchunks_parse_file(const uint8_t *p, size_t n, uint32_t seq, headchunks_scan_fn fn,
                          void *arg, size_t *valid_len, int *tail_err)
{
    *valid_len = 0;
    *tail_err = 0;
    int rc = header_check(p, n, seq);
    if (rc)
        return rc;
    size_t pos = HEADCHUNKS_FILE_HDR_SIZE;
    while (pos < n) {
        struct headchunks_rec rec;
        const uint8_t *data;
        size_t len, size;
        rc = headchunks_rec_parse(p + pos, n - pos, &rec, &data, &len, &size);
        if (rc) {
            *tail_err = rc;
            break;
        }
        if (pos > UINT32_MAX - size) {
            *tail_err = ERR_CORRUPT;
            break;
        }
        if (fn && (rc = fn(arg, &rec, seq, (uint32_t)pos)) != 0) {
            *valid_len = pos;
            return rc;
        }
        pos += size;
    }
    *valid_len = pos;
    return 0;
}

/* ---- files ---- */

static void file_name(char *out, size_t n, uint32_t seq)
{
    snprintf(out, n, "%06u", seq);
}

static int files_push(struct headchunks *hc, const struct hc_file *f)
{
    if (hc->n_files == hc->cap_files) {
        size_t cap = hc->cap_files ? hc->cap_files * 2 : 8;
        struct hc_file *p = realloc(hc->files, cap * sizeof *p);
        if (!p)
            return ERR_NOMEM;
        hc->files = p;
        hc->cap_files = cap;
    }
    hc->files[hc->n_files++] = *f;
    return 0;
}

static struct hc_file *file_find(struct headchunks *hc, uint32_t seq)
{
    size_t lo = 0, hi = hc->n_files;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (hc->files[mid].seq < seq)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < hc->n_files && hc->files[lo].seq == seq ? &hc->files[lo] : NULL;
}

static struct hc_file *cur_file(struct headchunks *hc)
{
    return hc->cur_fd >= 0 ? &hc->files[hc->n_files - 1] : NULL;
}

static int zombies_grow(struct headchunks *hc)
{
    size_t cap = hc->cap_zombies ? hc->cap_zombies * 2 : 4;
    struct hc_zombie *z = realloc(hc->zombies, cap * sizeof *z);
    if (!z)
        return ERR_NOMEM;
    hc->zombies = z;
    hc->cap_zombies = cap;
    return 0;
}

static void unmap_file(struct headchunks *hc, struct hc_file *f)
{
    if (!f->map)
        return;
    if (hc->pins == 0) {
        munmap(f->map, f->map_len);
    } else if (hc->n_zombies < hc->cap_zombies || zombies_grow(hc) == 0) {
        hc->zombies[hc->n_zombies++] = (struct hc_zombie){f->map, f->map_len};
    } else {
        /* Views into it may still be in use: leaking the map is the only safe choice. */
        log_warn("out of memory: leaking a pinned head chunk map", LOG_UINT("file", f->seq));
    }
    f->map = NULL;
    f->map_len = 0;
}

static void sync_or_panic(int fd, uint32_t seq)
{
    if (fdatasync(fd) != 0)
        PANIC("fdatasync of head chunk file %06u failed: %s", seq, strerror(errno));
}

/* ---- writing ---- */

/* pwrite of the whole buffer at its file offset; on a short write keeps the rest buffered. */
int headchunks_flush(struct headchunks *hc)
{
    struct hc_file *f = cur_file(hc);
    if (!f || hc->wb.len == 0)
        return 0;
    while (hc->wb.len > 0) {
        ssize_t w = pwrite(hc->cur_fd, hc->wb.data, hc->wb.len, (off_t)f->size);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        f->size += (uint32_t)w;
        memmove(hc->wb.data, hc->wb.data + w, hc->wb.len - (size_t)w);
        hc->wb.len -= (size_t)w;
    }
    return 0;
}

/* Flushes, syncs and closes the current file's writer; the file stays readable. */
static int finish_current(struct headchunks *hc)
{
    struct hc_file *f = cur_file(hc);
    if (!f)
        return 0;
    int rc = headchunks_flush(hc);
    if (rc)
        return rc;
    sync_or_panic(hc->cur_fd, f->seq);
    close(hc->cur_fd);
    hc->cur_fd = -1;
    /* The map (if any) spans file_size_max; it stays valid, nothing past size is ever read. */
    return 0;
}

static int start_file(struct headchunks *hc)
{
    int rc = finish_current(hc);
    if (rc)
        return rc;
    char name[16];
    file_name(name, sizeof name, hc->next_seq);
    int fd = openat(hc->dirfd, name, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    struct hc_file f = {.seq = hc->next_seq, .maxt_ms = INT64_MIN};
    if ((rc = buf_reserve(&hc->wb, HEADCHUNKS_FILE_HDR_SIZE)) != 0 || (rc = files_push(hc, &f))) {
        close(fd);
        unlinkat(hc->dirfd, name, 0);
        return rc;
    }
    headchunks_file_header_put(hc->wb.data, hc->next_seq);
    hc->wb.len = HEADCHUNKS_FILE_HDR_SIZE;
    hc->files[hc->n_files - 1].len = HEADCHUNKS_FILE_HDR_SIZE;
    hc->cur_fd = fd;
    hc->next_seq++;
    return 0;
}

int headchunks_append(struct headchunks *hc, const struct headchunks_rec *rec, const uint8_t *data,
                      size_t len, uint32_t *file, uint32_t *off)
{
    size_t size = headchunks_rec_size(len);
    if (size > hc->cfg.file_size_max - HEADCHUNKS_FILE_HDR_SIZE)
        return ERR_LIMIT;
    struct hc_file *f = cur_file(hc);
    int rc;
    if (!f || (f->records > 0 && f->len + size > hc->cfg.file_size_max)) {
        if ((rc = start_file(hc)) != 0)
            return rc;
        f = cur_file(hc);
    }
    if (hc->wb.len + size > hc->cfg.write_buf_size && (rc = headchunks_flush(hc)) != 0)
        return rc;
    if ((rc = buf_reserve(&hc->wb, size)) != 0)
        return rc;
    headchunks_rec_put(hc->wb.data + hc->wb.len, rec, data, len);
    hc->wb.len += size;
    *file = f->seq;
    *off = f->len;
    f->len += (uint32_t)size;
    f->records++;
    if (rec->maxt_ms > f->maxt_ms)
        f->maxt_ms = rec->maxt_ms;
    hc->records_written++;
    return 0;
}

/* ---- reading ---- */

static int map_file(struct headchunks *hc, struct hc_file *f)
{
    char name[16];
    file_name(name, sizeof name, f->seq);
    int fd = openat(hc->dirfd, name, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    /* The current file keeps growing: reserve its whole possible length once. */
    size_t len = cur_file(hc) == f ? hc->cfg.file_size_max : f->size;
    void *p = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
    int err = errno;
    close(fd);
    if (p == MAP_FAILED)
        return -err;
    f->map = p;
    f->map_len = len;
    return 0;
}

/* Makes sure the record at off of the current file is on disk (flushing when it is not). */
static int ensure_flushed(struct headchunks *hc, struct hc_file *f, uint32_t off)
{
    if (cur_file(hc) != f || f->size == f->len)
        return 0;
    if (off + HEADCHUNKS_REC_HDR_SIZE <= f->size) {
        /* Header on disk: flush only when the record's body or CRC is not. */
        size_t body = le32_get(f->map + off + 24);
        if (off + headchunks_rec_size(body) <= f->size)
            return 0;
    }
    return headchunks_flush(hc);
}

int headchunks_get(struct headchunks *hc, uint32_t file, uint32_t off, struct headchunks_rec *rec,
                   const uint8_t **data, size_t *len)
{
    struct hc_file *f = file_find(hc, file);
    if (!f || off < HEADCHUNKS_FILE_HDR_SIZE || off >= f->len)
        return ERR_NOT_FOUND;
    int rc;
    if (!f->map && (rc = map_file(hc, f)) != 0)
        return rc;
    if ((rc = ensure_flushed(hc, f, off)) != 0)
        return rc;
    struct headchunks_rec r;
    size_t size;
    rc = headchunks_rec_parse(f->map + off, f->size - off, &r, data, len, &size);
    if (rc)
        return rc == ERR_TRUNCATED ? ERR_CORRUPT : rc;
    if (rec)
        *rec = r;
    return 0;
}

void headchunks_pin(struct headchunks *hc)
{
    hc->pins++;
}

void headchunks_unpin(struct headchunks *hc)
{
    ASSERT(hc->pins > 0);
    if (--hc->pins > 0)
        return;
    for (size_t i = 0; i < hc->n_zombies; i++)
        munmap(hc->zombies[i].map, hc->zombies[i].len);
    hc->n_zombies = 0;
}

/* ---- truncation ---- */

static void file_delete(struct headchunks *hc, size_t i)
{
    struct hc_file *f = &hc->files[i];
    char name[16];
    file_name(name, sizeof name, f->seq);
    unmap_file(hc, f);
    if (unlinkat(hc->dirfd, name, 0) != 0 && errno != ENOENT)
        log_warn("cannot delete head chunk file", LOG_STR("file", name), LOG_ERR(-errno));
    memmove(f, f + 1, (hc->n_files - i - 1) * sizeof *f);
    hc->n_files--;
    hc->files_deleted++;
}

/* ---- the floor file ---- */

void headchunks_floor_put(uint8_t dst[HEADCHUNKS_FLOOR_SIZE], int64_t floor_ms)
{
    le32_put(dst, HEADCHUNKS_FLOOR_MAGIC);
    le64_put(dst + 4, (uint64_t)floor_ms);
    le32_put(dst + 12, crc32c(dst, 12));
}

int headchunks_floor_parse(const uint8_t *p, size_t n, int64_t *floor_ms)
{
    if (n != HEADCHUNKS_FLOOR_SIZE || le32_get(p) != HEADCHUNKS_FLOOR_MAGIC ||
        crc32c(p, 12) != le32_get(p + 12))
        return ERR_CORRUPT;
    *floor_ms = (int64_t)le64_get(p + 4);
    return 0;
}

/* Replaces the floor file durably: write a temporary, sync it, rename it over, sync the dir. */
static int write_floor(struct headchunks *hc, int64_t floor_ms)
{
    uint8_t b[HEADCHUNKS_FLOOR_SIZE];
    headchunks_floor_put(b, floor_ms);
    int fd = openat(hc->dirfd, "floor.tmp", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    ssize_t w = write(fd, b, sizeof b);
    int err = w == (ssize_t)sizeof b ? 0 : (w < 0 ? -errno : -EIO);
    if (err == 0 && fdatasync(fd) != 0)
        PANIC("fdatasync of the head chunk floor file failed: %s", strerror(errno));
    close(fd);
    if (err == 0 && renameat(hc->dirfd, "floor.tmp", hc->dirfd, "floor") != 0)
        err = -errno;
    if (err == 0 && fsync(hc->dirfd) != 0)
        PANIC("fsync of the head chunk directory failed: %s", strerror(errno));
    return err;
}

static void read_floor(struct headchunks *hc)
{
    uint8_t b[HEADCHUNKS_FLOOR_SIZE + 1];
    int fd = openat(hc->dirfd, "floor", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    ssize_t n = read(fd, b, sizeof b);
    close(fd);
    if (n < 0 || headchunks_floor_parse(b, (size_t)n, &hc->floor_ms) != 0) {
        log_warn("head chunk floor file is damaged, ignoring it");
        hc->floor_ms = INT64_MIN;
    }
}

int64_t headchunks_floor(const struct headchunks *hc)
{
    return hc->floor_ms;
}

int headchunks_truncate(struct headchunks *hc, int64_t mint_ms)
{
    int rc;
    /* Record the cut first: after a restart, records older than it belong to removed series
     * whose ids may have been reused, even when their file is still there. */
    if (mint_ms > hc->floor_ms) {
        if ((rc = write_floor(hc, mint_ms)) != 0)
            return rc;
        hc->floor_ms = mint_ms;
    }
    struct hc_file *cur = cur_file(hc);
    if (cur && cur->records > 0 && cur->maxt_ms < mint_ms && (rc = finish_current(hc)) != 0)
        return rc;
    int deleted = 0;
    for (size_t i = 0; i < hc->n_files;) {
        struct hc_file *f = &hc->files[i];
        if (f == cur_file(hc) || f->maxt_ms >= mint_ms) {
            i++;
            continue;
        }
        file_delete(hc, i);
        deleted++;
    }
    return deleted;
}

void headchunks_stats(const struct headchunks *hc, struct headchunks_stats *out)
{
    memset(out, 0, sizeof *out);
    out->files = hc->n_files;
    for (size_t i = 0; i < hc->n_files; i++)
        out->bytes_on_disk += hc->files[i].len;
    out->bytes_buffered = hc->wb.len;
    out->records_written = hc->records_written;
    out->files_deleted = hc->files_deleted;
}

/* ---- open and scan ---- */

static int seq_cmp(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* Sequence numbers of the files in the directory (names of 6+ digits), sorted. */
static int list_files(int dirfd, uint32_t **out, size_t *n)
{
    int fd = dup(dirfd);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        int err = -errno;
        if (fd >= 0)
            close(fd);
        return err;
    }
    rewinddir(d);
    uint32_t *seqs = NULL;
    size_t len = 0, cap = 0;
    int rc = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        const char *s = e->d_name;
        size_t sl = strlen(s);
        if (sl < 6 || sl > 10 || strspn(s, "0123456789") != sl)
            continue;
        unsigned long long v = strtoull(s, NULL, 10);
        if (v == 0 || v > UINT32_MAX - 1)
            continue;
        if (len == cap) {
            cap = cap ? cap * 2 : 16;
            uint32_t *p = realloc(seqs, cap * sizeof *p);
            if (!p) {
                rc = ERR_NOMEM;
                break;
            }
            seqs = p;
        }
        seqs[len++] = (uint32_t)v;
    }
    closedir(d);
    if (rc) {
        free(seqs);
        return rc;
    }
    if (len > 1)
        qsort(seqs, len, sizeof *seqs, seq_cmp);
    *out = seqs;
    *n = len;
    return 0;
}

struct scan_ctx {
    headchunks_scan_fn fn;
    void *arg;
    struct hc_file *f;
    int err; /* fn's non-zero return */
    int64_t floor_ms;
};

static int scan_rec(void *arg, const struct headchunks_rec *rec, uint32_t file, uint32_t off)
{
    struct scan_ctx *c = arg;
    c->f->records++;
    if (rec->maxt_ms > c->f->maxt_ms)
        c->f->maxt_ms = rec->maxt_ms;
    if (rec->maxt_ms < c->floor_ms)
        return 0; /* truncated away: not reported */
    if (c->fn && (c->err = c->fn(c->arg, rec, file, off)) != 0)
        return c->err;
    return 0;
}

/* Deletes a damaged file's bad tail (or the whole file when its header is bad). */
static int repair_file(struct headchunks *hc, int fd, const char *name, int hdr_err, size_t valid,
                       int tail_err)
{
    if (hdr_err) {
        log_warn("head chunk file has a bad header, deleting it", LOG_STR("file", name),
                 LOG_ERR(hdr_err));
        if (unlinkat(hc->dirfd, name, 0) != 0)
            return -errno;
        return 0;
    }
    log_warn("head chunk file has a torn or corrupt tail, cutting it", LOG_STR("file", name),
             LOG_UINT("offset", valid), LOG_ERR(tail_err ? tail_err : ERR_CORRUPT));
    return ftruncate(fd, (off_t)valid) != 0 ? -errno : 0;
}

/* Scans one file, reporting its records; sets *damaged when it was cut back or deleted. */
static int scan_file(struct headchunks *hc, uint32_t seq, struct scan_ctx *c, int *damaged)
{
    char name[16];
    file_name(name, sizeof name, seq);
    int fd = openat(hc->dirfd, name, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct stat st;
    void *p = NULL;
    size_t n = 0;
    int rc = fstat(fd, &st) != 0 ? -errno : 0;
    if (rc == 0 && st.st_size > 0) {
        n = (size_t)st.st_size > UINT32_MAX ? UINT32_MAX : (size_t)st.st_size;
        p = mmap(NULL, n, PROT_READ, MAP_SHARED, fd, 0);
        rc = p == MAP_FAILED ? -errno : 0;
    }
    struct hc_file f = {.seq = seq, .maxt_ms = INT64_MIN};
    size_t valid = 0;
    int tail_err = 0, hdr_err = 0;
    if (rc == 0) {
        c->f = &f;
        hdr_err = headchunks_parse_file(p, n, seq, scan_rec, c, &valid, &tail_err);
        if (p)
            munmap(p, n);
        rc = c->err;
    }
    if (rc == 0 && (hdr_err || valid < (size_t)st.st_size)) {
        *damaged = 1;
        rc = repair_file(hc, fd, name, hdr_err, valid, tail_err);
    }
    if (rc == 0 && !hdr_err) {
        sync_or_panic(fd, seq); /* what we re-attach must be durable before newer files exist */
        f.size = f.len = (uint32_t)valid;
        rc = files_push(hc, &f);
    }
    close(fd);
    return rc;
}

static int scan_dir(struct headchunks *hc, headchunks_scan_fn fn, void *arg)
{
    uint32_t *seqs = NULL;
    size_t n = 0;
    int rc = list_files(hc->dirfd, &seqs, &n);
    if (rc)
        return rc;
    struct scan_ctx c = {fn, arg, NULL, 0, hc->floor_ms};
    int damaged = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        hc->next_seq = seqs[i] + 1;
        if (!damaged) {
            rc = scan_file(hc, seqs[i], &c, &damaged);
            continue;
        }
        /* Keep the prefix property: nothing written after the damage survives. */
        char name[16];
        file_name(name, sizeof name, seqs[i]);
        log_warn("deleting head chunk file that follows a damaged one", LOG_STR("file", name));
        if (unlinkat(hc->dirfd, name, 0) != 0)
            rc = -errno;
    }
    free(seqs);
    return rc;
}

int headchunks_open(const char *dir, const struct headchunks_config *cfg, headchunks_scan_fn fn,
                    void *arg, struct headchunks **out)
{
    ASSERT(cfg->file_size_max > HEADCHUNKS_FILE_HDR_SIZE + HEADCHUNKS_REC_HDR_SIZE &&
           cfg->file_size_max <= HEADCHUNKS_FILE_SIZE_MAX && cfg->write_buf_size > 0);
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return -errno;
    struct headchunks *hc = calloc(1, sizeof *hc);
    if (!hc)
        return ERR_NOMEM;
    hc->cfg = *cfg;
    hc->cur_fd = -1;
    hc->next_seq = 1;
    hc->floor_ms = INT64_MIN;
    buf_init(&hc->wb);
    hc->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (hc->dirfd < 0) {
        int err = -errno;
        free(hc);
        return err;
    }
    read_floor(hc);
    int rc = scan_dir(hc, fn, arg);
    if (rc) {
        headchunks_close(hc);
        return rc;
    }
    *out = hc;
    return 0;
}

void headchunks_close(struct headchunks *hc)
{
    if (!hc)
        return;
    ASSERT(hc->pins == 0);
    struct hc_file *f = cur_file(hc);
    if (f) {
        int rc = headchunks_flush(hc);
        if (rc)
            log_warn("cannot write buffered head chunks at close", LOG_ERR(rc));
        sync_or_panic(hc->cur_fd, f->seq);
        close(hc->cur_fd);
        hc->cur_fd = -1;
    }
    for (size_t i = 0; i < hc->n_files; i++)
        unmap_file(hc, &hc->files[i]);
    free(hc->files);
    free(hc->zombies);
    buf_deinit(&hc->wb);
    close(hc->dirfd);
    free(hc);
}
