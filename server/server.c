/* Server start-up and shutdown orchestration (main thread). */
#include "server/server.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/error.h"
#include "base/log.h"
#include "engine/io/loop.h"
#include "engine/shard/mesh.h"
#include "server/buildinfo.h"
#include "server/datadir.h"
#include "server/routes.h"
#include "server/shard.h"

#define MESH_RING_CAPACITY 1024
#define LISTEN_BACKLOG     4096

/* CPUs this process may run on, in order; returns how many (at least 1). */
static uint32_t allowed_cpus(int *cpus, uint32_t max)
{
    cpu_set_t set;
    uint32_t n = 0;
    if (sched_getaffinity(0, sizeof set, &set) == 0)
        for (int i = 0; i < CPU_SETSIZE && n < max; i++)
            if (CPU_ISSET(i, &set))
                cpus[n++] = i;
    if (n == 0) {
        long online = sysconf(_SC_NPROCESSORS_ONLN);
        for (long i = 0; i < online && n < max; i++)
            cpus[n++] = (int)i;
    }
    return n ? n : 1;
}

/* Opens nshards sockets per address; fds[a * nshards + i]. */
static int open_sockets(struct server *s, int *fds, char *err, size_t n)
{
    for (uint32_t a = 0; a < s->naddrs; a++) {
        for (uint32_t i = 0; i < s->nshards; i++) {
            int fd = listener_open(&s->addrs[a], LISTEN_BACKLOG);
            if (fd < 0) {
                snprintf(err, n, "cannot listen on %s: %s", s->addrs[a].spec, strerror(-fd));
                for (uint32_t k = 0; k < a * s->nshards + i; k++)
                    close(fds[k]);
                return fd;
            }
            fds[a * s->nshards + i] = fd;
        }
        char txt[160];
        listener_format(&s->addrs[a], txt, sizeof txt);
        log_info("listening", LOG_STR("addr", txt), LOG_STR("flag", s->addrs[a].spec),
                 LOG_UINT("sockets", s->nshards));
    }
    return 0;
}

/* Waits until every shard runs. Shards open their TSDB (WAL replay) first, which takes as long as
 * the WAL is big, so there is no deadline; progress is logged every 10 s. */
static int wait_running(struct server *s, char *err, size_t n)
{
    int64_t next_log = clock_mono_ns() + 10 * 1000000000LL;
    for (;;) {
        uint32_t running = 0;
        for (uint32_t i = 0; i < s->nshards; i++) {
            int st = atomic_load(&s->shards[i]->status);
            if (st < 0) {
                snprintf(err, n, "shard %u failed to start: %s", i, strerror(-st));
                return st;
            }
            running += st == SHARD_RUNNING;
        }
        if (running == s->nshards)
            return 0;
        if (clock_mono_ns() > next_log) {
            log_info("waiting for shards to open their storage (WAL replay)",
                     LOG_UINT("running", running), LOG_UINT("shards", s->nshards));
            next_log += 10 * 1000000000LL;
        }
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
}

static int start_shards(struct server *s, const int *fds, char *err, size_t n)
{
    int cpus[CPU_SETSIZE];
    uint32_t ncpu = allowed_cpus(cpus, CPU_SETSIZE);
    s->shards = calloc(s->nshards, sizeof *s->shards);
    if (!s->shards)
        return ERR_NOMEM;
    for (uint32_t i = 0; i < s->nshards; i++) {
        int my[CONFIG_LISTEN_MAX];
        for (uint32_t a = 0; a < s->naddrs; a++)
            my[a] = fds[a * s->nshards + i];
        int rc = shard_create(s, i, cpus[i % ncpu], my, s->naddrs, &s->shards[i]);
        if (rc == 0 && (rc = shard_start(s->shards[i])) == 0)
            s->shards_started++;
        if (rc) {
            snprintf(err, n, "cannot start shard %u: %s", i, err_str(rc));
            return rc;
        }
    }
    return wait_running(s, err, n);
}

/* ---- strata.json: the shard count the data directory was written with ---- */

/* Reads "shards":N from <dir>/strata.json: 1 with *shards, 0 when the file is absent, or <0. */
static int read_shard_count(const char *path, uint32_t *shards, char *err, size_t n)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (errno == ENOENT)
            return 0;
        snprintf(err, n, "cannot read %s: %s", path, strerror(errno));
        return -errno;
    }
    char text[512];
    size_t len = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[len] = 0;
    const char *k = strstr(text, "\"shards\"");
    unsigned long v = 0;
    char *end = NULL;
    if (k && (k = strchr(k, ':')) != NULL)
        v = strtoul(k + 1, &end, 10);
    if (!end || end == k + 1 || v == 0 || v > 256) {
        snprintf(err, n, "%s is damaged: no valid \"shards\" count", path);
        return ERR_CORRUPT;
    }
    *shards = (uint32_t)v;
    return 1;
}

/* Highest shard-NNN directory + 1 (0 when none). */
static uint32_t shard_dirs(const char *dir)
{
    uint32_t top = 0;
    char path[4200];
    for (uint32_t i = 0; i < 256; i++) {
        snprintf(path, sizeof path, "%s/shard-%03u", dir, i);
        if (access(path, F_OK) == 0)
            top = i + 1;
    }
    return top;
}

static int write_shard_count(const char *dir, const char *path, uint32_t shards, char *err,
                             size_t n)
{
    char tmp[4300], text[64];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int len = snprintf(text, sizeof text, "{\"format\":1,\"shards\":%u}\n", shards);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    bool ok = fd >= 0 && write(fd, text, (size_t)len) == len && fsync(fd) == 0;
    if (fd >= 0)
        close(fd);
    ok = ok && rename(tmp, path) == 0;
    int dfd = ok ? open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    if (!ok) {
        snprintf(err, n, "cannot write %s: %s", path, strerror(errno));
        return -errno;
    }
    return 0;
}

/* Refuses a data directory written with another shard count (series are routed to shards by
 * hash, so their WALs would land on the wrong owners); records the count on first use. */
static int check_shard_count(const char *dir, uint32_t nshards, char *err, size_t n)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/strata.json", dir);
    uint32_t recorded = 0;
    int rc = read_shard_count(path, &recorded, err, n);
    if (rc < 0)
        return rc;
    if (rc == 0) {
        recorded = shard_dirs(dir);
        if (recorded == 0 || recorded == nshards)
            return write_shard_count(dir, path, nshards, err, n);
    }
    if (recorded != nshards) {
        snprintf(err, n,
                 "the data directory %s was written with %u shards, this process has %u; start "
                 "with --shards %u (changing the shard count of existing data is not supported "
                 "yet)",
                 dir, recorded, nshards, recorded);
        return ERR_INVALID;
    }
    return 0;
}

static void name_routes(struct server *s)
{
    s->route_names[0] = "unmatched";
    for (size_t i = 0; i < server_routes_n && i + 1 < METRICS_ROUTES_MAX; i++)
        s->route_names[i + 1] = server_routes[i].pattern;
}

static int resolve_all(struct server *s, const struct server_config *cfg, char *err, size_t n)
{
    s->naddrs = cfg->nlisten;
    for (uint32_t a = 0; a < cfg->nlisten; a++) {
        int rc = listener_resolve(cfg->listen[a], &s->addrs[a], err, n);
        if (rc)
            return rc;
    }
    return 0;
}

int server_start(struct server *s, const struct server_config *cfg, char *err, size_t n)
{
    memset(s, 0, sizeof *s);
    s->cfg = cfg;
    s->lock_fd = -1;
    s->start_mono_ns = clock_mono_ns();
    atomic_store(&s->state, SERVER_STARTING);
    name_routes(s);
    const struct buildinfo *bi = buildinfo_get();
    int cpus[CPU_SETSIZE];
    s->nshards = cfg->shards ? cfg->shards : allowed_cpus(cpus, CPU_SETSIZE);
    log_info("starting", LOG_STR("version", bi->version), LOG_STR("revision", bi->revision),
             LOG_UINT("shards", s->nshards), LOG_STR("data_dir", cfg->data_dir));
    char why[256];
    int rc = loop_probe(why, sizeof why);
    if (rc) {
        snprintf(err, n, "io_uring is not available: %s", why);
        return rc;
    }
    if ((rc = s->lock_fd = datadir_open_locked(cfg->data_dir, err, n)) < 0)
        return rc;
    if ((rc = check_shard_count(cfg->data_dir, s->nshards, err, n)))
        return rc;
    if ((rc = resolve_all(s, cfg, err, n)))
        return rc;
    if ((rc = mesh_create(s->nshards, MESH_RING_CAPACITY, &s->mesh))) {
        snprintf(err, n, "cannot create the cross-shard mesh: %s", err_str(rc));
        return rc;
    }
    int *fds = calloc((size_t)s->naddrs * s->nshards, sizeof *fds);
    if (!fds)
        return ERR_NOMEM;
    rc = open_sockets(s, fds, err, n);
    if (rc == 0)
        rc = start_shards(s, fds, err, n);
    free(fds);
    if (rc)
        return rc;
    atomic_store_explicit(&s->state, SERVER_SERVING, memory_order_release);
    log_info("ready", LOG_F64("startup_ms", (double)(clock_mono_ns() - s->start_mono_ns) / 1e6),
             LOG_STR("mesh_wake", mesh_wake_mode_str(mesh_wake_mode(s->mesh))));
    return 0;
}

void server_request_stop(struct server *s)
{
    if (atomic_exchange(&s->state, SERVER_STOPPING) != SERVER_STOPPING) {
        s->stop_mono_ns = clock_mono_ns();
        log_info("stopping", LOG_UINT("open_connections", atomic_load(&s->conns_open)),
                 LOG_F64("grace_s", (double)s->cfg->shutdown_grace_ns / 1e9));
    }
    for (uint32_t i = 0; s->shards && i < s->nshards; i++)
        if (s->shards[i])
            shard_wake(s->shards[i]);
}

bool server_stopped(struct server *s)
{
    return atomic_load(&s->shards_exited) >= s->shards_started;
}

void server_destroy(struct server *s)
{
    if (s->shards_started && server_state_get(s) != SERVER_STOPPING)
        server_request_stop(s);
    for (uint32_t i = 0; s->shards && i < s->nshards; i++) {
        if (s->shards[i]) {
            shard_join(s->shards[i]);
            shard_destroy(s->shards[i]);
        }
    }
    free(s->shards);
    s->shards = NULL;
    mesh_destroy(s->mesh); /* after every attached ring is gone */
    s->mesh = NULL;
    if (s->lock_fd >= 0)
        close(s->lock_fd);
    s->lock_fd = -1;
    if (s->stop_mono_ns)
        log_info("stopped",
                 LOG_F64("shutdown_ms", (double)(clock_mono_ns() - s->stop_mono_ns) / 1e6));
}
