/* stratactl: private scratch directory with removal on exit and on fatal signals (tmpdir.h). */
#include "tools/stratactl/tmpdir.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define TMP_PATH_BYTES 4096
#define TMP_DEPTH_MAX  6

static char tmp_path[TMP_PATH_BYTES];
static volatile sig_atomic_t tmp_live;

/* The kernel's getdents64 record (glibc does not declare it). */
struct ctl_dirent64 {
    uint64_t ino;
    int64_t off;
    unsigned short reclen;
    unsigned char type;
    char name[];
};

static bool is_dot(const char *n)
{
    return n[0] == '.' && (n[1] == '\0' || (n[1] == '.' && n[2] == '\0'));
}

/* One pass over dirfd's entries, removing each; returns how many were seen. Only
 * async-signal-safe calls (openat, getdents64, unlinkat, close). */
static int rm_entries(int dirfd, int depth);

static void rm_at(int dirfd, const char *name, int depth)
{
    if (unlinkat(dirfd, name, 0) == 0 || (errno != EISDIR && errno != EPERM))
        return;
    int fd = depth < TMP_DEPTH_MAX
                 ? openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                 : -1;
    if (fd >= 0) {
        while (rm_entries(fd, depth + 1) > 0)
            lseek(fd, 0, SEEK_SET);
        close(fd);
    }
    unlinkat(dirfd, name, AT_REMOVEDIR);
}

static int rm_entries(int dirfd, int depth)
{
    char buf[4096] __attribute__((aligned(8)));
    int seen = 0;
    long n;
    while ((n = syscall(SYS_getdents64, dirfd, buf, sizeof buf)) > 0) {
        for (long off = 0; off < n;) {
            const struct ctl_dirent64 *d = (const struct ctl_dirent64 *)(buf + off);
            off += d->reclen;
            if (is_dot(d->name))
                continue;
            seen++;
            rm_at(dirfd, d->name, depth);
        }
    }
    return seen;
}

void ctl_tmpdir_remove(void)
{
    if (!tmp_live)
        return;
    tmp_live = 0;
    rm_at(AT_FDCWD, tmp_path, 0);
}

static void on_signal(int sig)
{
    int saved = errno;
    ctl_tmpdir_remove();
    signal(sig, SIG_DFL);
    raise(sig);
    errno = saved;
}

const char *ctl_tmpdir_create(const char *parent)
{
    if (snprintf(tmp_path, sizeof tmp_path, "%s/stratactl-XXXXXX", parent) >=
        (int)sizeof tmp_path) {
        errno = ENAMETOOLONG;
        return NULL;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaddset(&sa.sa_mask, SIGINT);
    sigaddset(&sa.sa_mask, SIGTERM);
    sigaddset(&sa.sa_mask, SIGHUP);
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGHUP);
    sigprocmask(SIG_BLOCK, &block, &old); /* no signal between mkdtemp and tmp_live */
    bool ok = mkdtemp(tmp_path) != NULL;
    int err = errno;
    if (ok) {
        tmp_live = 1;
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGHUP, &sa, NULL);
        signal(SIGPIPE, SIG_IGN);
    }
    sigprocmask(SIG_SETMASK, &old, NULL);
    errno = err;
    return ok ? tmp_path : NULL;
}
