/* One-job-at-a-time background thread (jobthread.h). */
#include "engine/io/jobthread.h"

#include <stddef.h>

#include "base/assert.h"

static void *jobthread_main(void *arg)
{
    struct jobthread *t = arg;
    pthread_mutex_lock(&t->mu);
    for (;;) {
        while (!t->quit && !(t->job && !t->done))
            pthread_cond_wait(&t->cv, &t->mu);
        if (t->job && !t->done) {
            void *job = t->job;
            pthread_mutex_unlock(&t->mu);
            t->run(t->ctx, job);
            pthread_mutex_lock(&t->mu);
            t->done = true;
            pthread_cond_broadcast(&t->cv);
            continue;
        }
        if (t->quit)
            break;
    }
    pthread_mutex_unlock(&t->mu);
    return NULL;
}

int jobthread_start(struct jobthread *t, jobthread_run_fn run, void *ctx)
{
    int rc = pthread_mutex_init(&t->mu, NULL);
    if (rc)
        return -rc;
    if ((rc = pthread_cond_init(&t->cv, NULL)) != 0) {
        pthread_mutex_destroy(&t->mu);
        return -rc;
    }
    t->job = NULL;
    t->done = t->quit = false;
    t->run = run;
    t->ctx = ctx;
    if ((rc = pthread_create(&t->thread, NULL, jobthread_main, t)) != 0) {
        pthread_cond_destroy(&t->cv);
        pthread_mutex_destroy(&t->mu);
        return -rc;
    }
    t->started = true;
    return 0;
}

void jobthread_stop(struct jobthread *t)
{
    if (!t->started)
        return;
    pthread_mutex_lock(&t->mu);
    t->quit = true; /* a running job finishes first: the thread only looks at quit between jobs */
    pthread_cond_broadcast(&t->cv);
    pthread_mutex_unlock(&t->mu);
    pthread_join(t->thread, NULL);
    pthread_cond_destroy(&t->cv);
    pthread_mutex_destroy(&t->mu);
    t->started = false;
}

void jobthread_post(struct jobthread *t, void *job)
{
    ASSERT(job != NULL);
    pthread_mutex_lock(&t->mu);
    ASSERT(t->job == NULL);
    t->job = job;
    t->done = false;
    pthread_cond_broadcast(&t->cv);
    pthread_mutex_unlock(&t->mu);
}

static void *take(struct jobthread *t)
{
    void *job = t->job;
    t->job = NULL;
    t->done = false;
    return job;
}

void *jobthread_poll(struct jobthread *t)
{
    pthread_mutex_lock(&t->mu);
    void *job = t->job && t->done ? take(t) : NULL;
    pthread_mutex_unlock(&t->mu);
    return job;
}

void *jobthread_wait(struct jobthread *t)
{
    pthread_mutex_lock(&t->mu);
    while (t->job && !t->done)
        pthread_cond_wait(&t->cv, &t->mu);
    void *job = t->job ? take(t) : NULL;
    pthread_mutex_unlock(&t->mu);
    return job;
}
