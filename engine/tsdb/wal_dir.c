/* WAL directory helpers: listing segments and checkpoints by name, creating segment files, and the
 * small file-system operations (mkdir -p, fsync, remove a checkpoint dir). Names and layout:
 * docs/formats/wal.md, "Segments, checkpoints and recovery on disk". */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/error.h"
#include "engine/tsdb/wal_internal.h"

#define CKPT_PREFIX     "checkpoint."
#define CKPT_PREFIX_LEN 11
#define TMP_SUFFIX      ".tmp"

void wal_seg_name(char out[WAL_NAME_MAX], uint32_t no)
{
    snprintf(out, WAL_NAME_MAX, "%08u", no);
}

void wal_ckpt_name(char out[WAL_NAME_MAX], uint32_t no, bool tmp)
{
    snprintf(out, WAL_NAME_MAX, CKPT_PREFIX "%08u%s", no, tmp ? TMP_SUFFIX : "");
}

/* Exactly 8 decimal digits. */
static bool parse_no(const char *s, uint32_t *out)
{
    uint32_t v = 0;
    for (int i = 0; i < 8; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (uint32_t)(s[i] - '0');
    }
    *out = v;
    return true;
}

static int push(uint32_t **a, size_t *n, uint32_t v)
{
    if ((*n & (*n - 1)) == 0) { /* capacity is the next power of two: grow when n reaches it */
        size_t cap = *n ? *n * 2 : 1;
        uint32_t *p = realloc(*a, cap * sizeof *p);
        if (!p)
            return ERR_NOMEM;
        *a = p;
    }
    (*a)[(*n)++] = v;
    return 0;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

static void sort_u32(uint32_t *a, size_t n)
{
    if (n > 1)
        qsort(a, n, sizeof *a, cmp_u32);
}

/* Sorts one name into the list it belongs to (or none). */
static int classify_name(struct wal_dirlist *l, const char *name)
{
    size_t len = strlen(name);
    uint32_t no;
    if (len == 8 && parse_no(name, &no) && no > 0)
        return push(&l->segs, &l->nsegs, no);
    if (len < CKPT_PREFIX_LEN + 8 || memcmp(name, CKPT_PREFIX, CKPT_PREFIX_LEN) != 0 ||
        !parse_no(name + CKPT_PREFIX_LEN, &no))
        return 0;
    const char *rest = name + CKPT_PREFIX_LEN + 8;
    if (*rest == 0)
        return push(&l->ckpts, &l->nckpts, no);
    if (strcmp(rest, TMP_SUFFIX) == 0)
        return push(&l->tmps, &l->ntmps, no);
    return 0;
}

int wal_dir_list(int dirfd, struct wal_dirlist *out)
{
    memset(out, 0, sizeof *out);
    int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    DIR *d = fdopendir(fd);
    if (!d) {
        int rc = -errno;
        close(fd);
        return rc;
    }
    int rc = 0;
    struct dirent *e;
    errno = 0;
    while (rc == 0 && (e = readdir(d)) != NULL)
        rc = classify_name(out, e->d_name);
    if (rc == 0 && errno != 0)
        rc = -errno;
    closedir(d);
    if (rc) {
        wal_dir_list_free(out);
        return rc;
    }
    sort_u32(out->segs, out->nsegs);
    sort_u32(out->ckpts, out->nckpts);
    sort_u32(out->tmps, out->ntmps);
    return 0;
}

void wal_dir_list_free(struct wal_dirlist *l)
{
    free(l->segs);
    free(l->ckpts);
    free(l->tmps);
    memset(l, 0, sizeof *l);
}

int wal_mkdir_p(const char *path)
{
    size_t n = strlen(path);
    char *p = malloc(n + 1);
    if (!p)
        return ERR_NOMEM;
    memcpy(p, path, n + 1);
    int rc = 0;
    for (size_t i = 1; i <= n && rc == 0; i++) {
        if (p[i] != '/' && p[i] != 0)
            continue;
        char c = p[i];
        p[i] = 0;
        if (mkdir(p, 0755) != 0 && errno != EEXIST)
            rc = -errno;
        p[i] = c;
    }
    free(p);
    if (rc)
        return rc;
    struct stat st;
    if (stat(path, &st) != 0)
        return -errno;
    return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

int wal_rmdir_files_at(int parent, const char *name)
{
    int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 0 : -errno;
    DIR *d = fdopendir(fd);
    if (!d) {
        int rc = -errno;
        close(fd);
        return rc;
    }
    int rc = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if (unlinkat(dirfd(d), e->d_name, 0) != 0 && errno != ENOENT && rc == 0)
            rc = -errno;
    }
    closedir(d);
    if (rc == 0 && unlinkat(parent, name, AT_REMOVEDIR) != 0 && errno != ENOENT)
        rc = -errno;
    return rc;
}

int wal_fsync(int fd)
{
    while (fsync(fd) != 0) {
        if (errno != EINTR)
            return -errno;
    }
    return 0;
}

int wal_pwrite_all(int fd, const void *p, size_t n, uint64_t off)
{
    const uint8_t *b = p;
    while (n > 0) {
        ssize_t k = pwrite(fd, b, n, (off_t)off);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (k == 0)
            return -EIO;
        b += k;
        n -= (size_t)k;
        off += (uint64_t)k;
    }
    return 0;
}

int wal_segment_create(int dirfd, const char *name)
{
    int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    struct buf h = BUF_INIT;
    int rc = walrec_segment_header_append(&h);
    if (rc == 0)
        rc = wal_pwrite_all(fd, h.data, h.len, 0);
    buf_deinit(&h);
    if (rc) {
        close(fd);
        unlinkat(dirfd, name, 0);
        return rc;
    }
    return fd;
}

const char *wal_stop_reason(int err)
{
    switch (err) {
    case 0: return "clean";
    case ERR_TRUNCATED: return "torn";
    case ERR_CORRUPT: return "corrupt";
    default: return err_str(err);
    }
}
