/* Open-loop send schedule for the load generator: which request each connection sends next and
 * when it is due (ld_plan), and the catch-up limiter that lets a late connection catch up without
 * bursting (ld_pacer). Both are pure functions of the times passed in, so tests drive them with a
 * fake clock.
 *
 * The plan: a workload is cut into G groups (a fixed set of series or log streams each) and every
 * group sends once per period P. Group g always goes to connection g % C, so one series' samples
 * travel in order on one connection, one request at a time. Connection c's j-th request covers
 * `ticks` consecutive periods of one of its groups, and is due at
 *     offset = seq*P + g*P/G        (seq: its first tick)
 * after the run's origin: the groups of a period are spread evenly over the period like scrape
 * offsets, and each connection's due times strictly increase.
 *
 * The pacer: a request may go when its due time has passed and the pacer holds a token. Tokens
 * refill at `catchup` x the connection's nominal rate up to `burst`, so on schedule nothing is held
 * back, and after a stall at most `burst` requests go at once, then catchup x rate until the
 * connection is back on schedule. In any window w at most burst + catchup*rate*w requests go.
 * Latency is measured from the due time, not the send time, so queueing behind a slow target is
 * counted (no coordinated omission). Not thread-safe: one pacer per connection. */
#ifndef STRATA_TOOLS_LOAD_SCHED_H
#define STRATA_TOOLS_LOAD_SCHED_H

#include <stdbool.h>
#include <stdint.h>

struct ld_plan {
    uint32_t n_groups; /* G >= 1 */
    uint32_t n_conns;  /* C >= 1 */
    int64_t period_ns; /* P > 0 */
    uint32_t ticks;    /* periods per request, >= 1 */
};

/* Groups owned by connection c (c, c+C, c+2C, ... < G); 0 when c >= G. */
uint32_t ld_plan_groups_of(const struct ld_plan *p, uint32_t conn);
/* Connection c's j-th request (c < G): its group, its first tick and its due offset. */
void ld_plan_slot(const struct ld_plan *p, uint32_t conn, uint64_t j, uint32_t *group,
                  uint64_t *seq, int64_t *offset_ns);
/* How many of connection c's requests are due at or before offset t_ns (its first requests up to
 * there). */
uint64_t ld_plan_due_count(const struct ld_plan *p, uint32_t conn, int64_t t_ns);
/* Offset of tick `seq` of group g. */
int64_t ld_plan_offset(const struct ld_plan *p, uint32_t group, uint64_t seq);

struct ld_pacer {
    double refill_per_ns; /* 0: no limit (closed loop) */
    double burst;
    double tokens;
    int64_t last_ns;
};

/* rate_per_s: the connection's nominal requests/s (0: closed loop, never holds back);
 * catchup >= 1; burst >= 1. */
void ld_pacer_init(struct ld_pacer *p, double rate_per_s, double catchup, uint32_t burst,
                   int64_t now_ns);
/* True when the request due at due_ns may be sent at now_ns (a token is spent). Otherwise false
 * and *wait_ns > 0 is how long until it may. */
bool ld_pacer_take(struct ld_pacer *p, int64_t now_ns, int64_t due_ns, int64_t *wait_ns);

#endif
