/* Local byte source for blocks (mmap or pread of the files of one block directory), plus the
 * directory operations blocks need: recursive removal and quarantine. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/assert.h"
#include "base/error.h"
#include "base/log.h"
#include "engine/tsdb/block.h"

struct dir_source {
    struct block_source base;
    enum block_io io;
    char dir[];
};

struct dir_file {
    struct block_file base;
    int fd;
    void *map;
};

static int dir_file_read(struct block_file *bf, uint64_t off, size_t len, uint8_t *dst)
{
    struct dir_file *f = (struct dir_file *)bf;
    if (off > bf->size || len > bf->size - off)
        return ERR_TRUNCATED;
    if (f->map) {
        memcpy(dst, (const uint8_t *)f->map + off, len);
        return 0;
    }
    while (len) {
        ssize_t n = pread(f->fd, dst, len, (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0)
            return ERR_TRUNCATED;
        dst += n;
        off += (uint64_t)n;
        len -= (size_t)n;
    }
    return 0;
}

static void dir_file_close(struct block_file *bf)
{
    struct dir_file *f = (struct dir_file *)bf;
    if (f->map)
        munmap(f->map, (size_t)bf->size);
    if (f->fd >= 0)
        close(f->fd);
    free(f);
}

static const struct block_file_ops dir_file_ops = {dir_file_read, dir_file_close};

static int dir_open(struct block_source *bs, const char *name, struct block_file **out)
{
    struct dir_source *s = (struct dir_source *)bs;
    char path[PATH_MAX];
    if (snprintf(path, sizeof path, "%s/%s", s->dir, name) >= (int)sizeof path)
        return -ENAMETOOLONG;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? ERR_NOT_FOUND : -errno;
    struct stat st;
    struct dir_file *f = calloc(1, sizeof *f);
    if (!f || fstat(fd, &st) != 0) {
        int rc = f ? -errno : ERR_NOMEM;
        free(f);
        close(fd);
        return rc;
    }
    f->base.ops = &dir_file_ops;
    f->base.size = (uint64_t)st.st_size;
    f->fd = fd;
    if (s->io == BLOCK_IO_MMAP && st.st_size > 0) {
        void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
        if (m != MAP_FAILED) {
            f->map = m;
            f->base.map = m;
            close(fd);
            f->fd = -1;
        }
    }
    *out = &f->base;
    return 0;
}

static void dir_destroy(struct block_source *bs)
{
    free(bs);
}

static const struct block_source_ops dir_source_ops = {dir_open, dir_destroy};

int block_source_dir_create(const char *dir, enum block_io io, struct block_source **out)
{
    size_t n = strlen(dir);
    struct dir_source *s = malloc(sizeof *s + n + 1);
    if (!s)
        return ERR_NOMEM;
    s->base.ops = &dir_source_ops;
    s->io = io;
    memcpy(s->dir, dir, n + 1);
    *out = &s->base;
    return 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    int rc = (flag == FTW_DP) ? rmdir(path) : unlink(path);
    return rc != 0 && errno != ENOENT ? -1 : 0;
}

int block_remove_dir(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return errno == ENOENT ? 0 : -errno;
    if (nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS) != 0)
        return errno ? -errno : -EIO;
    return 0;
}

static void fsync_dir(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return;
    if (fsync(fd) != 0 && errno != EINVAL)
        PANIC("fsync of directory %s failed: %s", path, strerror(errno));
    close(fd);
}

/* Splits path (trailing slashes ignored) into its directory and last component. */
static int split_dir(const char *path, char *parent, char *base)
{
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/')
        n--;
    size_t slash = n;
    while (slash > 0 && path[slash - 1] != '/')
        slash--;
    if (n - slash == 0 || n >= PATH_MAX)
        return -EINVAL;
    memcpy(base, path + slash, n - slash);
    base[n - slash] = 0;
    size_t plen = slash > 1 ? slash - 1 : slash; /* keep "/" for a root parent */
    if (plen == 0) {
        strcpy(parent, ".");
    } else {
        memcpy(parent, path, plen);
        parent[plen] = 0;
    }
    return 0;
}

int block_quarantine(const char *dir)
{
    char parent[PATH_MAX], base[PATH_MAX], shard[PATH_MAX], pbase[PATH_MAX], qdir[PATH_MAX + 16],
        target[2 * PATH_MAX + 32];
    int rc = split_dir(dir, parent, base);
    if (rc == 0 && strcmp(parent, ".") != 0 && strcmp(parent, "/") != 0)
        rc = split_dir(parent, shard, pbase); /* …/shard/blocks -> …/shard */
    else if (rc == 0)
        strcpy(shard, strcmp(parent, "/") ? ".." : "/");
    if (rc)
        return rc;
    if (snprintf(qdir, sizeof qdir, "%s/quarantine", shard) >= (int)sizeof qdir)
        return -ENAMETOOLONG;
    if (mkdir(qdir, 0755) != 0 && errno != EEXIST)
        return -errno;
    if (snprintf(target, sizeof target, "%s/%s", qdir, base) >= (int)sizeof target)
        return -ENAMETOOLONG;
    for (int i = 1; access(target, F_OK) == 0; i++)
        if (snprintf(target, sizeof target, "%s/%s.%d", qdir, base, i) >= (int)sizeof target)
            return -ENAMETOOLONG;
    if (rename(dir, target) != 0)
        return -errno;
    fsync_dir(qdir);
    fsync_dir(parent);
    log_warn("block quarantined", LOG_STR("block", dir), LOG_STR("to", target));
    return 0;
}
