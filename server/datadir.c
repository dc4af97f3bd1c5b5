/* Data-directory creation and the single-process flock. */
#include "server/datadir.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

/* mkdir -p */
static int make_dirs(const char *path)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s", path) >= (int)sizeof tmp)
        return -ENAMETOOLONG;
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = 0;
        if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
            return -errno;
        *p = '/';
    }
    if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
        return -errno;
    struct stat st;
    if (stat(tmp, &st) != 0)
        return -errno;
    return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

int datadir_open_locked(const char *path, char *err, size_t err_size)
{
    int rc = make_dirs(path);
    if (rc) {
        snprintf(err, err_size, "cannot create data directory %s: %s", path, strerror(-rc));
        return rc;
    }
    char lock[4200];
    snprintf(lock, sizeof lock, "%s/LOCK", path);
    int fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        rc = -errno;
        snprintf(err, err_size, "cannot open %s: %s", lock, strerror(-rc));
        return rc;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        rc = -errno;
        char owner[32] = "";
        ssize_t n = pread(fd, owner, sizeof owner - 1, 0);
        owner[n > 0 ? n : 0] = 0;
        owner[strcspn(owner, "\n")] = 0;
        if (rc == -EWOULDBLOCK)
            snprintf(err, err_size,
                     "data directory %s is in use by another strata process (pid %s); "
                     "stop it or choose another --data-dir",
                     path, owner[0] ? owner : "unknown");
        else
            snprintf(err, err_size, "cannot lock %s: %s", lock, strerror(-rc));
        close(fd);
        return rc;
    }
    char pid[32];
    int len = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)len, 0) != len) {
        /* the pid is only informational; the lock is what matters */
    }
    return fd;
}
