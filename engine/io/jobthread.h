/* A background thread that runs one job at a time for a shard: the shard posts a job, goes on
 * with its loop, and polls (or waits) for it to finish. Used by the metrics and log stores for
 * block writes, checkpoints, compaction and retention, which must not run on the shard's loop.
 *
 * Protocol: post (only when no job is in flight) -> the thread runs run(ctx, job) -> poll returns
 * the job once it finished (NULL while it runs) or wait blocks until it did. The job's memory is
 * the caller's; the thread only hands the pointer through. Threading: post/poll/wait/stop are
 * called from the owning shard's thread; run is called on the job thread. */
#ifndef STRATA_ENGINE_IO_JOBTHREAD_H
#define STRATA_ENGINE_IO_JOBTHREAD_H

#include <pthread.h>
#include <stdbool.h>

typedef void (*jobthread_run_fn)(void *ctx, void *job);

struct jobthread {
    pthread_t thread;
    bool started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    void *job; /* posted, not yet taken back */
    bool done; /* job finished */
    bool quit;
    jobthread_run_fn run;
    void *ctx;
};

/* Starts the thread. Returns 0 or -errno. */
int jobthread_start(struct jobthread *t, jobthread_run_fn run, void *ctx);
/* Lets a running job finish, then stops and joins the thread. No-op when not started. */
void jobthread_stop(struct jobthread *t);
/* Hands a job over (none may be in flight: programmer error). */
void jobthread_post(struct jobthread *t, void *job);
/* The finished job (taken back), or NULL while it runs or when none was posted. */
void *jobthread_poll(struct jobthread *t);
/* Blocks until the posted job finished and returns it; NULL when none was posted. */
void *jobthread_wait(struct jobthread *t);

#endif
