/* Send plan (group/tick/due time of each connection's requests) and catch-up pacer; see sched.h. */
#include "tools/strata-load/sched.h"

#include "base/assert.h"

uint32_t ld_plan_groups_of(const struct ld_plan *p, uint32_t conn)
{
    if (conn >= p->n_groups)
        return 0;
    return (p->n_groups - conn + p->n_conns - 1) / p->n_conns;
}

int64_t ld_plan_offset(const struct ld_plan *p, uint32_t group, uint64_t seq)
{
    __int128 within = (__int128)group * p->period_ns / p->n_groups;
    return (int64_t)((__int128)seq * p->period_ns + within);
}

void ld_plan_slot(const struct ld_plan *p, uint32_t conn, uint64_t j, uint32_t *group,
                  uint64_t *seq, int64_t *offset_ns)
{
    uint32_t n = ld_plan_groups_of(p, conn);
    ASSERT(n > 0 && p->ticks >= 1);
    *group = conn + (uint32_t)(j % n) * p->n_conns;
    *seq = (j / n) * p->ticks;
    *offset_ns = ld_plan_offset(p, *group, *seq);
}

uint64_t ld_plan_due_count(const struct ld_plan *p, uint32_t conn, int64_t t_ns)
{
    uint32_t n = ld_plan_groups_of(p, conn);
    uint64_t total = 0;
    __int128 span = (__int128)p->period_ns * p->ticks;
    for (uint32_t i = 0; i < n; i++) {
        int64_t first = ld_plan_offset(p, conn + i * p->n_conns, 0);
        if (t_ns >= first)
            total += (uint64_t)(((__int128)t_ns - first) / span) + 1;
    }
    return total;
}

void ld_pacer_init(struct ld_pacer *p, double rate_per_s, double catchup, uint32_t burst,
                   int64_t now_ns)
{
    ASSERT(rate_per_s >= 0 && catchup >= 1 && burst >= 1);
    p->refill_per_ns = rate_per_s * catchup / 1e9;
    p->burst = burst;
    p->tokens = burst;
    p->last_ns = now_ns;
}

bool ld_pacer_take(struct ld_pacer *p, int64_t now_ns, int64_t due_ns, int64_t *wait_ns)
{
    if (p->refill_per_ns == 0)
        return true;
    if (due_ns > now_ns) {
        *wait_ns = due_ns - now_ns;
        return false;
    }
    if (now_ns > p->last_ns) {
        p->tokens += (double)(now_ns - p->last_ns) * p->refill_per_ns;
        if (p->tokens > p->burst)
            p->tokens = p->burst;
        p->last_ns = now_ns;
    }
    if (p->tokens >= 1) {
        p->tokens -= 1;
        return true;
    }
    int64_t w = (int64_t)((1 - p->tokens) / p->refill_per_ns) + 1;
    *wait_ns = w > 0 ? w : 1;
    return false;
}
