/* Per-tenant token buckets of lines for the Loki push rate limit, one set per accepting shard
 * (logingest.h, "Rate limit"). Buckets are created on a tenant's first push; when more than
 * tenants_max exist, buckets that have refilled completely (they hold no state worth keeping) are
 * dropped. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/assert.h"
#include "base/error.h"
#include "base/strmap.h"
#include "server/logingest.h"

struct bucket {
    double tokens;
    int64_t last_ns;
    size_t len;
    char name[];
};

struct logingest_rate {
    double per_ns; /* tokens added per nanosecond */
    double burst;  /* capacity */
    uint32_t tenants_max;
    struct strmap buckets; /* tenant -> struct bucket * (key bytes in the bucket) */
};

struct logingest_rate *logingest_rate_create(double lines_per_s, double burst_lines,
                                             uint32_t tenants_max)
{
    ASSERT(lines_per_s > 0);
    struct logingest_rate *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->per_ns = lines_per_s / 1e9;
    r->burst = burst_lines >= 1 ? burst_lines : 1;
    r->tenants_max = tenants_max ? tenants_max : 1;
    strmap_init(&r->buckets);
    return r;
}

void logingest_rate_destroy(struct logingest_rate *r)
{
    if (!r)
        return;
    const struct strmap_slot *slot;
    for (size_t i = 0; strmap_next(&r->buckets, &i, &slot);)
        free(slot->value);
    strmap_deinit(&r->buckets);
    free(r);
}

size_t logingest_rate_tenants(const struct logingest_rate *r)
{
    return strmap_len(&r->buckets);
}

static void refill(const struct logingest_rate *r, struct bucket *b, int64_t now_ns)
{
    if (now_ns > b->last_ns) {
        b->tokens += (double)(now_ns - b->last_ns) * r->per_ns;
        if (b->tokens > r->burst)
            b->tokens = r->burst;
        b->last_ns = now_ns;
    }
}

/* Drops the buckets that are full at now_ns (at most 64 per call). */
static void sweep(struct logingest_rate *r, int64_t now_ns)
{
    struct bucket *full[64];
    size_t n = 0;
    const struct strmap_slot *slot;
    for (size_t i = 0; n < 64 && strmap_next(&r->buckets, &i, &slot);) {
        struct bucket *b = slot->value;
        refill(r, b, now_ns);
        if (b->tokens >= r->burst)
            full[n++] = b;
    }
    for (size_t i = 0; i < n; i++) {
        strmap_remove(&r->buckets, (struct str){full[i]->name, full[i]->len});
        free(full[i]);
    }
}

static struct bucket *bucket_get(struct logingest_rate *r, struct str tenant, int64_t now_ns)
{
    struct bucket *b = strmap_get(&r->buckets, tenant);
    if (b)
        return b;
    if (strmap_len(&r->buckets) >= r->tenants_max) {
        sweep(r, now_ns);
        if (strmap_len(&r->buckets) >= r->tenants_max)
            return NULL;
    }
    b = malloc(sizeof *b + tenant.len + 1);
    if (!b)
        return NULL;
    b->tokens = r->burst;
    b->last_ns = now_ns;
    b->len = tenant.len;
    memcpy(b->name, tenant.ptr, tenant.len);
    b->name[tenant.len] = 0;
    if (strmap_put(&r->buckets, (struct str){b->name, b->len}, b)) {
        free(b);
        return NULL;
    }
    return b;
}

int logingest_rate_take(struct logingest_rate *r, struct str tenant, uint64_t n, int64_t now_ns,
                        int *retry_after_s)
{
    struct bucket *b = bucket_get(r, tenant, now_ns);
    if (!b)
        return 0; /* untracked: let it through rather than fail on bookkeeping */
    refill(r, b, now_ns);
    if ((double)n <= b->tokens) {
        b->tokens -= (double)n;
        return 0;
    }
    /* seconds until the bucket holds n tokens (or is full, when n exceeds the burst) */
    double need = ((double)n < r->burst ? (double)n : r->burst) - b->tokens;
    double s = ceil(need / r->per_ns / 1e9);
    *retry_after_s = s < 1 ? 1 : s > 3600 ? 3600 : (int)s;
    return ERR_LIMIT;
}
