/* Micro benchmark of the cross-core mesh (engine/shard/mesh.h) between two shard threads pinned to
 * two CPUs (pthread_setaffinity_np; the first two CPUs this process may use). Shapes:
 *   oneway     shard 0 streams messages to shard 1, mesh_flush after every `batch` sends; shard 1
 *              polls up to 64 at a time and checks every sequence number;
 *   roundtrip  shard 0 keeps `window` requests in flight; shard 1 answers each in place with
 *              mesh_reply; window 1 is the latency of one round trip, window 64 the batched rate.
 * wake "spin": idle shards poll in a loop; "msg_ring"/"eventfd": idle shards block in
 * io_uring_submit_and_wait via mesh_prepare_sleep, so every round trip pays the wake-ups. Sleeping
 * window-1 round trips also run with both shards on one CPU ("cpus":[c,c]), which separates the
 * mesh's own wake-up cost from the cross-CPU wake-up (an IPI; slow in a VM).
 * Lane capacity 1024. Each configuration runs REPS times; one JSON line each gives the median,
 * min and max of ns per message (or per round trip) and the median rate. Never pass/fail on time.
 */
#include <liburing.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/log.h"
#include "engine/shard/mesh.h"

enum { REPS = 5, CAP = 1024, POLL_MAX = 64 };
enum shape { ONEWAY, ROUNDTRIP };
enum wake { SPIN, MSG_RING, EVENTFD };

struct bmsg {
    struct mesh_msg hdr;
    uint64_t seq;
};

struct cfg {
    enum shape shape;
    enum wake wake;
    uint32_t batch_or_window;
    uint64_t n;    /* messages (oneway) or round trips */
    bool same_cpu; /* both shards on the first CPU: wake-ups without a cross-CPU IPI */
};

struct run {
    const struct cfg *c;
    struct mesh *m;
    int cpu[2];
    pthread_barrier_t bar;
    int64_t t0, t_end[2];
    uint64_t errors;
};

struct side {
    struct run *r;
    uint32_t id;
    struct io_uring ring;
};

static void pin(int cpu)
{
    if (cpu < 0)
        return;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__)
    __builtin_ia32_pause();
#endif
}

/* Idle: spin, or sleep in the ring until the mesh wakes us. */
static void idle(struct side *s)
{
    if (s->r->c->wake == SPIN) {
        cpu_relax();
        return;
    }
    if (!mesh_prepare_sleep(s->r->m, s->id))
        return;
    struct io_uring_cqe *cqe;
    unsigned head, k = 0;
    io_uring_submit_and_wait(&s->ring, 1);
    io_uring_for_each_cqe(&s->ring, head, cqe)
    {
        mesh_cqe(s->r->m, s->id, cqe);
        k++;
    }
    io_uring_cq_advance(&s->ring, k);
}

/* Oneway sender. Slot i % pool is reused only once the lane has accepted message i, which proves
 * the consumer moved past message i - CAP and finished every poll batch before (see docs above). */
static void oneway_send(struct side *s)
{
    struct run *r = s->r;
    uint32_t pool = 2 * (CAP + POLL_MAX), batch = r->c->batch_or_window;
    struct bmsg *msgs = calloc(pool, sizeof *msgs);
    for (uint64_t i = 0; i < r->c->n;) {
        for (uint32_t b = 0; b < batch && i < r->c->n;) {
            struct bmsg *x = &msgs[i % pool];
            mesh_msg_init(&x->hdr, 1, 0);
            x->seq = i;
            if (mesh_send(r->m, 0, 1, &x->hdr) == 0) {
                i++, b++;
                continue;
            }
            mesh_flush(r->m, 0);
            cpu_relax();
        }
        mesh_flush(r->m, 0);
    }
    r->t_end[0] = clock_mono_ns();
    pthread_barrier_wait(&r->bar); /* the receiver is done with the pool */
    free(msgs);
}

static void oneway_recv(struct side *s)
{
    struct run *r = s->r;
    struct mesh_msg *in[POLL_MAX];
    uint64_t next = 0;
    while (next < r->c->n) {
        uint32_t k = mesh_poll(r->m, 1, in, POLL_MAX);
        for (uint32_t i = 0; i < k; i++)
            r->errors += ((struct bmsg *)in[i])->seq != next++;
        if (!k)
            idle(s);
    }
    r->t_end[1] = clock_mono_ns();
    pthread_barrier_wait(&r->bar);
}

static void rt_client(struct side *s)
{
    struct run *r = s->r;
    uint32_t w = r->c->batch_or_window;
    struct bmsg *msgs = calloc(w, sizeof *msgs);
    struct mesh_msg *in[POLL_MAX];
    uint64_t sent = 0, done = 0;
    for (uint32_t i = 0; i < w && sent < r->c->n; i++, sent++) {
        mesh_msg_init(&msgs[i].hdr, 1, 0);
        msgs[i].seq = sent;
        mesh_send(r->m, 0, 1, &msgs[i].hdr); /* window <= CAP: always fits */
    }
    mesh_flush(r->m, 0);
    while (done < r->c->n) {
        uint32_t k = mesh_poll(r->m, 0, in, POLL_MAX);
        for (uint32_t i = 0; i < k; i++, done++) {
            struct bmsg *x = (struct bmsg *)in[i];
            r->errors += !(in[i]->flags & MESH_MSG_REPLY);
            if (sent < r->c->n) {
                mesh_msg_init(&x->hdr, 1, 0);
                x->seq = sent++;
                mesh_send(r->m, 0, 1, &x->hdr);
            }
        }
        if (k)
            mesh_flush(r->m, 0);
        else
            idle(s);
    }
    r->t_end[0] = clock_mono_ns();
    free(msgs);
}

static void rt_server(struct side *s)
{
    struct run *r = s->r;
    struct mesh_msg *in[POLL_MAX];
    uint64_t done = 0, next = 0;
    while (done < r->c->n) {
        uint32_t k = mesh_poll(r->m, 1, in, POLL_MAX);
        for (uint32_t i = 0; i < k; i++, done++) {
            r->errors += ((struct bmsg *)in[i])->seq != next++;
            mesh_reply(r->m, 1, in[i]);
        }
        if (k)
            mesh_flush(r->m, 1);
        else
            idle(s);
    }
    r->t_end[1] = clock_mono_ns();
}

static void *side_main(void *arg)
{
    struct side *s = arg;
    struct run *r = s->r;
    pin(r->cpu[s->id]);
    if (r->c->wake != SPIN) {
        if (io_uring_queue_init(64, &s->ring, 0) < 0 || mesh_attach(r->m, s->id, &s->ring) != 0) {
            fprintf(stderr, "bench_mesh: io_uring setup failed\n");
            exit(1);
        }
    }
    pthread_barrier_wait(&r->bar);
    if (s->id == 0)
        r->t0 = clock_mono_ns();
    if (r->c->shape == ONEWAY)
        s->id == 0 ? oneway_send(s) : oneway_recv(s);
    else
        s->id == 0 ? rt_client(s) : rt_server(s);
    pthread_barrier_wait(&r->bar); /* no wake-ups after this: rings may go */
    if (r->c->wake != SPIN)
        io_uring_queue_exit(&s->ring);
    return NULL;
}

/* One run; returns elapsed ns (start signal to the later of the two sides finishing). */
static int64_t run_once(const struct cfg *c, const int cpu[2], uint64_t *errors)
{
    struct run r = {.c = c, .cpu = {cpu[0], cpu[1]}};
    uint32_t flags = c->wake == EVENTFD ? MESH_CREATE_FORCE_EVENTFD : 0;
    if (mesh_create_flags(2, CAP, flags, &r.m) != 0) {
        fprintf(stderr, "bench_mesh: mesh_create failed\n");
        exit(1);
    }
    pthread_barrier_init(&r.bar, NULL, 2);
    struct side sides[2] = {{.r = &r, .id = 0}, {.r = &r, .id = 1}};
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&th[i], NULL, side_main, &sides[i]);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&r.bar);
    mesh_destroy(r.m);
    *errors += r.errors;
    int64_t end = r.t_end[0] > r.t_end[1] ? r.t_end[0] : r.t_end[1];
    return end - r.t0;
}

static int cmp_f64(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static const char *wake_name(enum wake w)
{
    return w == SPIN ? "spin" : w == MSG_RING ? "msg_ring" : "eventfd";
}

static void bench(const struct cfg *c, const int cpu[2])
{
    double ns[REPS];
    uint64_t errors = 0;
    for (int i = 0; i < REPS; i++)
        ns[i] = (double)run_once(c, cpu, &errors) / (double)c->n;
    qsort(ns, REPS, sizeof ns[0], cmp_f64);
    double med = ns[REPS / 2];
    if (c->shape == ONEWAY)
        printf("{\"bench\":\"mesh\",\"shape\":\"oneway\",\"wake\":\"%s\",\"batch\":%u,"
               "\"msgs\":%llu,\"ns_per_msg\":%.2f,\"min\":%.2f,\"max\":%.2f,\"msgs_per_s\":%.0f,",
               wake_name(c->wake), c->batch_or_window, (unsigned long long)c->n, med, ns[0],
               ns[REPS - 1], 1e9 / med);
    else
        printf("{\"bench\":\"mesh\",\"shape\":\"roundtrip\",\"wake\":\"%s\",\"window\":%u,"
               "\"round_trips\":%llu,\"ns_per_rt\":%.2f,\"min\":%.2f,\"max\":%.2f,"
               "\"rt_per_s\":%.0f,\"msgs_per_s\":%.0f,",
               wake_name(c->wake), c->batch_or_window, (unsigned long long)c->n, med, ns[0],
               ns[REPS - 1], 1e9 / med, 2e9 / med);
    printf("\"reps\":%d,\"cpus\":[%d,%d],\"errors\":%llu}\n", REPS, cpu[0], cpu[1],
           (unsigned long long)errors);
    fflush(stdout);
}

static void pick_cpus(int cpu[2])
{
    cpu_set_t set;
    cpu[0] = cpu[1] = -1;
    if (sched_getaffinity(0, sizeof set, &set) != 0)
        return;
    for (int i = 0, k = 0; i < CPU_SETSIZE && k < 2; i++)
        if (CPU_ISSET(i, &set))
            cpu[k++] = i;
}

int main(int argc, char **argv)
{
    double scale = argc > 1 ? atof(argv[1]) : 1.0; /* bench_mesh 0.1 for a quick look */
    if (scale <= 0)
        scale = 1.0;
    log_level_set(LOG_WARN);
    int cpu[2];
    pick_cpus(cpu);
    const struct cfg cfgs[] = {
        /* shape, wake, batch or window, count, same_cpu */
        {ONEWAY, SPIN, 1, 2000000, false},        {ONEWAY, SPIN, 16, 5000000, false},
        {ONEWAY, SPIN, 64, 10000000, false},      {ROUNDTRIP, SPIN, 1, 500000, false},
        {ROUNDTRIP, SPIN, 64, 5000000, false},    {ROUNDTRIP, MSG_RING, 1, 20000, false},
        {ROUNDTRIP, EVENTFD, 1, 20000, false},    {ROUNDTRIP, MSG_RING, 1, 100000, true},
        {ROUNDTRIP, EVENTFD, 1, 100000, true},    {ROUNDTRIP, MSG_RING, 64, 1000000, false},
        {ROUNDTRIP, EVENTFD, 64, 1000000, false},
    };
    struct mesh *probe = NULL;
    bool msg_ring = mesh_create(1, 2, &probe) == 0 && mesh_wake_mode(probe) == MESH_WAKE_MSG_RING;
    mesh_destroy(probe);
    for (size_t i = 0; i < sizeof cfgs / sizeof cfgs[0]; i++) {
        struct cfg c = cfgs[i];
        if (c.wake == MSG_RING && !msg_ring)
            continue;
        c.n = (uint64_t)((double)c.n * scale);
        if (c.n < 1000)
            c.n = 1000;
        int pair[2] = {cpu[0], c.same_cpu ? cpu[0] : cpu[1]};
        bench(&c, pair);
    }
    return 0;
}
