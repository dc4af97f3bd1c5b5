/* The shard's persisted head cut: <shard>/head_min_valid_time, one text line
 * "strata-head-min-valid-time-ms <decimal int64>\n", replaced atomically (write a .tmp file,
 * fdatasync, rename, fsync the directory) before each WAL checkpoint.
 *
 * Why: the head's min valid time normally comes from the newest block's end, but retention may
 * delete every block. Without this file a restart would then accept samples older than the last
 * cut again and, worse, re-attach head chunk file records older than the cut to series that
 * reused the ids of series removed by that cut. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/assert.h"
#include "base/error.h"
#include "base/log.h"
#include "engine/tsdb/tsdb_internal.h"

#define STATE_PREFIX "strata-head-min-valid-time-ms "

static int write_all(int fd, const char *p, size_t n)
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

static int fsync_parent(const char *path)
{
    char dir[4096];
    const char *slash = strrchr(path, '/');
    size_t n = slash ? (size_t)(slash - path) : 1;
    if (n >= sizeof dir)
        return -ENAMETOOLONG;
    memcpy(dir, slash ? path : ".", n);
    dir[n] = '\0';
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    if (fsync(fd) != 0)
        PANIC("fsync of %s failed: %s", dir, strerror(errno));
    close(fd);
    return 0;
}

int tsdb_state_write_min_valid(const char *path, int64_t ms)
{
    char tmp[4096], line[64];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
        return -ENAMETOOLONG;
    int len = snprintf(line, sizeof line, STATE_PREFIX "%" PRId64 "\n", ms);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    int rc = write_all(fd, line, (size_t)len);
    if (rc == 0 && fdatasync(fd) != 0)
        PANIC("fdatasync of %s failed: %s", tmp, strerror(errno));
    close(fd);
    if (rc == 0 && rename(tmp, path) != 0)
        rc = -errno;
    if (rc) {
        unlink(tmp);
        return rc;
    }
    return fsync_parent(path);
}

int tsdb_state_read_min_valid(const char *path, int64_t *ms)
{
    *ms = INT64_MIN;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 0 : -errno;
    char line[80];
    ssize_t n = read(fd, line, sizeof line - 1);
    int err = errno;
    close(fd);
    if (n < 0)
        return -err;
    line[n] = '\0';
    size_t plen = strlen(STATE_PREFIX);
    char *end = NULL;
    errno = 0;
    long long v = 0;
    if ((size_t)n > plen && memcmp(line, STATE_PREFIX, plen) == 0)
        v = strtoll(line + plen, &end, 10);
    if (!end || end == line + plen || *end != '\n' || errno != 0) {
        log_warn("ignoring a damaged head state file", LOG_STR("path", path));
        return ERR_CORRUPT;
    }
    *ms = v;
    return 0;
}
