/* The strata executable: flags and config, start-up, signal handling and graceful shutdown.
 * Run `strata --help` for the flags. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"
#include "server/config.h"
#include "server/server.h"

/* Blocks SIGINT/SIGTERM in every thread (shards inherit the mask): the main thread takes them with
 * sigtimedwait, so no handler ever runs inside a shard. SIGPIPE is ignored (sends use MSG_NOSIGNAL,
 * this covers the rest). */
static void block_signals(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, set, NULL);
    signal(SIGPIPE, SIG_IGN);
}

/* Waits for the first signal, begins the graceful stop, then waits for the shards to finish; a
 * second signal exits at once. */
static int serve_until_signalled(struct server *srv, const sigset_t *set)
{
    int signals = 0;
    for (;;) {
        struct timespec ts = {0, 50 * 1000000};
        int sig = sigtimedwait(set, NULL, &ts);
        if (sig > 0) {
            signals++;
            if (signals >= 2) {
                log_warn("second signal, exiting now", LOG_STR("signal", strsignal(sig)));
                _exit(1);
            }
            log_info("signal received", LOG_STR("signal", strsignal(sig)));
            server_request_stop(srv);
        }
        if (server_stopped(srv))
            return 0;
    }
}

int main(int argc, char **argv)
{
    struct server_config cfg;
    char err[512] = "";
    config_init(&cfg);
    int rc = config_from_args(&cfg, argc, argv, stdout, err, sizeof err);
    if (rc == 1) {
        config_deinit(&cfg);
        return 0;
    }
    if (rc) {
        fprintf(stderr, "strata: %s\n", err);
        config_deinit(&cfg);
        return 2;
    }
    log_level_set(cfg.log_level);
    sigset_t set;
    block_signals(&set);
    static struct server srv;
    if (server_start(&srv, &cfg, err, sizeof err) != 0) {
        log_error("cannot start", LOG_STR("reason", err));
        server_destroy(&srv);
        config_deinit(&cfg);
        return 1;
    }
    serve_until_signalled(&srv, &set);
    server_destroy(&srv);
    config_deinit(&cfg);
    return 0;
}
