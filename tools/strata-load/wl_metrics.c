/* node_exporter-like metrics workload: series templates, stateless values, churn, batch building
 * (see wl_metrics.h). */
#include "tools/strata-load/wl_metrics.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/assert.h"
#include "base/error.h"
#include "tools/strata-load/rng.h"
#include "tools/strata-load/rwenc.h"

const double ld_metrics_le[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, INFINITY};
static const char *const le_text[] = {"0.005", "0.01", "0.025", "0.05", "0.1", "0.25",
                                      "0.5",   "1",    "2.5",   "5",    "10",  "+Inf"};
const uint32_t ld_metrics_n_le = sizeof le_text / sizeof le_text[0];

#define HIST_SIGMA  1.0
#define DAY_MS      86400000LL
#define TARGET_JOB  "node-exporter"
#define TARGET_NS   "monitoring"
#define POD_PREFIX  "node-exporter-"
#define POD_ALPHA   "bcdfghjklmnpqrstvwxz2456789" /* Kubernetes' random-suffix alphabet */
#define INSTANCE_SZ 32
#define POD_SZ      32

/* ---- catalogue of templates ---- */

struct catalog {
    struct ld_metrics *m;
    uint32_t n, cap;
    struct ld_rng rng;
    int err;
};

static struct str sdup(struct catalog *c, const char *s)
{
    size_t n = strlen(s);
    char *p = arena_dup(&c->m->strs, s, n, 1);
    if (!p) {
        c->err = ERR_NOMEM;
        return STR_LIT("");
    }
    return (struct str){p, n};
}

static void add_label(struct ld_mtmpl *t, struct str name, struct str value, int8_t target_idx)
{
    ASSERT(t->n_labels < LD_M_LABELS_MAX);
    t->labels[t->n_labels++] = (struct ld_mlabel){name, value, target_idx};
}

static void add_static(struct catalog *c, struct ld_mtmpl *t, const char *name, const char *value)
{
    add_label(t, str_from_cstr(name), sdup(c, value), -1);
}

static struct ld_mtmpl *add_series(struct catalog *c, const char *name, enum ld_mkind kind)
{
    ASSERT(c->n < c->cap);
    struct ld_mtmpl *t = &c->m->tmpl[c->n++];
    memset(t, 0, sizeof *t);
    t->kind = (uint8_t)kind;
    t->rate = 1;
    t->scale = 1;
    add_label(t, STR_LIT("__name__"), sdup(c, name), -1);
    add_label(t, STR_LIT("instance"), STR_LIT(""), 0);
    add_label(t, STR_LIT("job"), STR_LIT(TARGET_JOB), -1);
    add_label(t, STR_LIT("namespace"), STR_LIT(TARGET_NS), -1);
    add_label(t, STR_LIT("pod"), STR_LIT(""), 1);
    return t;
}

static void counter(struct catalog *c, struct ld_mtmpl *t, uint32_t rate_lo, uint32_t rate_hi,
                    double scale)
{
    t->rate = rate_lo + ld_rng_below(&c->rng, rate_hi - rate_lo + 1);
    t->scale = scale;
}

static void gauge(struct catalog *c, struct ld_mtmpl *t, double base, double amp, int8_t decimals)
{
    t->scale = base * (0.5 + ld_rng_unit(&c->rng));
    t->amp = amp;
    t->decimals = decimals;
}

static void fam_cpu(struct catalog *c, uint32_t r)
{
    static const char *const modes[] = {"idle",    "iowait", "irq",    "nice",
                                        "softirq", "steal",  "system", "user"};
    static const uint32_t lo[] = {70, 1, 1, 1, 1, 1, 2, 5}, hi[] = {95, 3, 1, 1, 2, 1, 10, 30};
    char cpu[16];
    snprintf(cpu, sizeof cpu, "%u", r);
    for (int i = 0; i < 8; i++) {
        struct ld_mtmpl *t = add_series(c, "node_cpu_seconds_total", LD_M_COUNTER);
        add_static(c, t, "cpu", cpu);
        add_static(c, t, "mode", modes[i]);
        counter(c, t, lo[i], hi[i], 0.01);
    }
}

static void fam_net(struct catalog *c, uint32_t r)
{
    static const char *const names[] = {
        "node_network_receive_bytes_total", "node_network_transmit_bytes_total",
        "node_network_receive_packets_total", "node_network_transmit_packets_total",
        "node_network_receive_errs_total"};
    static const uint32_t lo[] = {1000, 1000, 10, 10, 1}, hi[] = {2000000, 500000, 2000, 1000, 1};
    char dev[16];
    snprintf(dev, sizeof dev, "eth%u", r);
    for (int i = 0; i < 5; i++) {
        struct ld_mtmpl *t = add_series(c, names[i], LD_M_COUNTER);
        add_static(c, t, "device", dev);
        counter(c, t, lo[i], hi[i], 1);
    }
}

static void fam_disk(struct catalog *c, uint32_t r)
{
    static const char *const names[] = {
        "node_disk_read_bytes_total", "node_disk_written_bytes_total",
        "node_disk_io_time_seconds_total", "node_disk_reads_completed_total",
        "node_disk_writes_completed_total"};
    static const uint32_t lo[] = {4096, 4096, 1, 1, 1}, hi[] = {8000000, 4000000, 100, 500, 300};
    static const double scale[] = {1, 1, 0.001, 1, 1};
    char dev[24];
    snprintf(dev, sizeof dev, "nvme%un1", r);
    for (int i = 0; i < 5; i++) {
        struct ld_mtmpl *t = add_series(c, names[i], LD_M_COUNTER);
        add_static(c, t, "device", dev);
        counter(c, t, lo[i], hi[i], scale[i]);
    }
}

static void fam_fs(struct catalog *c, uint32_t r)
{
    static const char *const names[] = {"node_filesystem_avail_bytes", "node_filesystem_size_bytes",
                                        "node_filesystem_files_free"};
    static const double base[] = {2e11, 5e11, 3e7}, amp[] = {0.05, 0, 0.01};
    char dev[32], mnt[32];
    snprintf(dev, sizeof dev, "/dev/nvme%un1p1", r);
    snprintf(mnt, sizeof mnt, r == 0 ? "/" : "/mnt/data%u", r);
    for (int i = 0; i < 3; i++) {
        struct ld_mtmpl *t = add_series(c, names[i], LD_M_GAUGE);
        add_static(c, t, "device", dev);
        add_static(c, t, "fstype", "ext4");
        add_static(c, t, "mountpoint", mnt);
        gauge(c, t, base[i], amp[i], 0);
    }
}

static void fam_http_hist(struct catalog *c, uint32_t r)
{
    static const char *const routes[] = {"/api/v1/orders", "/api/v1/users", "/api/v1/cart",
                                         "/api/v1/search", "/healthz",      "/metrics"};
    char handler[48];
    snprintf(handler, sizeof handler, "%s%s%.0u", routes[r % 6], r >= 6 ? "/v" : "", r / 6);
    const char *method = (r & 1) ? "POST" : "GET";
    uint32_t first = c->n;
    uint32_t rate = 5 + ld_rng_below(&c->rng, 200);
    double median = 0.01 * exp(ld_rng_unit(&c->rng) * 3.4); /* 10 ms .. 300 ms */
    for (uint32_t k = 0; k < ld_metrics_n_le + 2; k++) {
        const char *name = k < ld_metrics_n_le    ? "http_request_duration_seconds_bucket"
                           : k == ld_metrics_n_le ? "http_request_duration_seconds_sum"
                                                  : "http_request_duration_seconds_count";
        enum ld_mkind kind = k < ld_metrics_n_le    ? LD_M_BUCKET
                             : k == ld_metrics_n_le ? LD_M_HSUM
                                                    : LD_M_HCOUNT;
        struct ld_mtmpl *t = add_series(c, name, kind);
        add_static(c, t, "handler", handler);
        add_static(c, t, "method", method);
        if (kind == LD_M_BUCKET) {
            add_static(c, t, "le", le_text[k]);
            t->le_idx = (uint8_t)k;
            double z = (log(ld_metrics_le[k]) - log(median)) / HIST_SIGMA;
            t->cdf = k == ld_metrics_n_le - 1 ? 1 : 0.5 * erfc(-z / M_SQRT2);
        }
        t->hist = first;
        t->rate = rate;
        t->median_s = median;
    }
}

static void fam_hwmon(struct catalog *c, uint32_t r)
{
    char sensor[16];
    snprintf(sensor, sizeof sensor, "temp%u", r + 1);
    struct ld_mtmpl *t = add_series(c, "node_hwmon_temp_celsius", LD_M_GAUGE);
    add_static(c, t, "chip", "platform_coretemp_0");
    add_static(c, t, "sensor", sensor);
    gauge(c, t, 55, 0.15, 0); /* coretemp reports whole degrees */
}

static void fam_singles(struct catalog *c)
{
    static const struct {
        const char *name;
        double base, amp;
        uint32_t rate_lo, rate_hi; /* counters when rate_hi > 0 */
        int8_t decimals;           /* gauges below 1000 */
    } s[] = {
        {"node_load1", 2, 0.6, 0, 0, 2}, /* /proc/loadavg has two decimals */
        {"node_load5", 2, 0.4, 0, 0, 2},
        {"node_load15", 2, 0.2, 0, 0, 2},
        {"node_memory_MemTotal_bytes", 6.4e10, 0, 0, 0, 0},
        {"node_memory_MemAvailable_bytes", 3.2e10, 0.1, 0, 0, 0},
        {"node_memory_MemFree_bytes", 8e9, 0.2, 0, 0, 0},
        {"node_memory_Cached_bytes", 2e10, 0.05, 0, 0, 0},
        {"node_memory_Buffers_bytes", 1e9, 0.05, 0, 0, 0},
        {"node_boot_time_seconds", 1.7e9, 0, 0, 0, 0},
        {"node_context_switches_total", 1, 0, 5000, 50000, 0},
        {"node_intr_total", 1, 0, 2000, 20000, 0},
        {"node_forks_total", 1, 0, 1, 20, 0},
        {"up", 1, 0, 0, 0, 0},
        {"scrape_duration_seconds", 0.02, 0.3, 0, 0, -1}, /* a measured duration */
        {"scrape_samples_scraped", 1000, 0, 0, 0, 0},
    };
    for (size_t i = 0; i < sizeof s / sizeof s[0]; i++) {
        enum ld_mkind kind = s[i].rate_hi ? LD_M_COUNTER : LD_M_GAUGE;
        struct ld_mtmpl *t = add_series(c, s[i].name, kind);
        if (kind == LD_M_COUNTER)
            counter(c, t, s[i].rate_lo, s[i].rate_hi, 1);
        else
            t->scale = s[i].base, t->amp = s[i].amp, t->decimals = s[i].decimals;
    }
}

static void sort_labels(struct ld_mtmpl *t)
{
    for (uint32_t i = 1; i < t->n_labels; i++) {
        struct ld_mlabel x = t->labels[i];
        uint32_t j = i;
        for (; j > 0 && str_cmp(t->labels[j - 1].name, x.name) > 0; j--)
            t->labels[j] = t->labels[j - 1];
        t->labels[j] = x;
    }
}

/* Families of round r in order; each is added only when it fits, the rest is filled with
 * single-series gauges. */
static void build_catalog(struct catalog *c)
{
    static const struct {
        void (*add)(struct catalog *, uint32_t);
        uint32_t size;
    } fams[] = {{fam_cpu, 8}, {fam_net, 5}, {fam_disk, 5}, {fam_fs, 3}, {fam_http_hist, 14}};
    if (c->cap >= 15)
        fam_singles(c);
    uint32_t hw = 0;
    for (uint32_t r = 0; c->n < c->cap && !c->err; r++) {
        for (size_t f = 0; f < sizeof fams / sizeof fams[0]; f++)
            if (c->cap - c->n >= fams[f].size)
                fams[f].add(c, r);
        if (c->n < c->cap)
            fam_hwmon(c, hw++);
    }
    for (uint32_t i = 0; i < c->n; i++) {
        struct ld_mtmpl *t = &c->m->tmpl[i];
        struct str name = t->labels[0].value; /* __name__, before sorting */
        t->pages = t->kind == LD_M_GAUGE && t->scale >= 4096 && name.len > 6 &&
                   memcmp(name.ptr + name.len - 6, "_bytes", 6) == 0;
        sort_labels(t);
    }
}

int ld_metrics_init(struct ld_metrics *m, const struct ld_metrics_cfg *cfg)
{
    memset(m, 0, sizeof *m);
    if (!cfg->targets || !cfg->series_per_target || !cfg->batch || cfg->interval_ms <= 0 ||
        !(cfg->churn >= 0 && cfg->churn <= 1))
        return ERR_INVALID;
    m->cfg = *cfg;
    m->n_series = (uint64_t)cfg->targets * cfg->series_per_target;
    uint64_t groups = (m->n_series + cfg->batch - 1) / cfg->batch;
    if (groups > UINT32_MAX)
        return ERR_INVALID;
    m->n_groups = (uint32_t)groups;
    arena_init(&m->strs, 64 * 1024);
    m->tmpl = calloc(cfg->series_per_target, sizeof *m->tmpl);
    if (!m->tmpl) {
        arena_deinit(&m->strs);
        return ERR_NOMEM;
    }
    struct catalog c = {m, 0, cfg->series_per_target, ld_rng_make(cfg->seed), 0};
    build_catalog(&c);
    if (c.err) {
        ld_metrics_deinit(m);
        return c.err;
    }
    return 0;
}

void ld_metrics_deinit(struct ld_metrics *m)
{
    free(m->tmpl);
    arena_deinit(&m->strs);
    memset(m, 0, sizeof *m);
}

/* ---- churn ---- */

static uint64_t epoch_of(const struct ld_metrics *m, int64_t ts_ms)
{
    if (ts_ms <= m->cfg.start_ms)
        return 0;
    return (uint64_t)((ts_ms - m->cfg.start_ms) / m->cfg.interval_ms);
}

static uint64_t replaced_through(const struct ld_metrics *m, uint64_t epoch)
{
    return (uint64_t)floor((double)epoch * m->cfg.churn * (double)m->cfg.targets);
}

uint32_t ld_metrics_gen(const struct ld_metrics *m, uint32_t target, int64_t ts_ms)
{
    if (m->cfg.churn <= 0)
        return 0;
    uint64_t p = replaced_through(m, epoch_of(m, ts_ms));
    if (target >= p)
        return 0;
    return (uint32_t)((p - 1 - target) / m->cfg.targets + 1);
}

int64_t ld_metrics_birth_ms(const struct ld_metrics *m, uint32_t target, uint32_t gen)
{
    if (gen == 0) /* the node booted some time in the 30 days before the run */
        return m->cfg.start_ms - 1000 - (int64_t)(ld_hash3(m->cfg.seed, target, 7) % (30 * DAY_MS));
    uint64_t r = target + (uint64_t)(gen - 1) * m->cfg.targets; /* replacement number */
    double per = m->cfg.churn * (double)m->cfg.targets;
    uint64_t e = (uint64_t)ceil((double)(r + 1) / per);
    while (e > 0 && replaced_through(m, e - 1) > r)
        e--;
    while (replaced_through(m, e) <= r)
        e++;
    return m->cfg.start_ms + (int64_t)e * m->cfg.interval_ms;
}

/* ---- values ---- */

static double knot(uint64_t key, uint32_t rate, uint64_t n)
{
    return (double)rate * (double)n + (double)(ld_hash3(key, n, 1) % rate);
}

/* Rises by rate..2*rate-1 per second, linearly in between: never decreases. */
static double counter_at(uint64_t key, uint32_t rate, int64_t elapsed_ms)
{
    if (elapsed_ms < 0)
        elapsed_ms = 0;
    uint64_t n = (uint64_t)elapsed_ms / 1000;
    double f = (double)((uint64_t)elapsed_ms % 1000) / 1000.0;
    double k0 = knot(key, rate, n), k1 = knot(key, rate, n + 1);
    return k0 + (k1 - k0) * f;
}

static double hist_value(const struct ld_metrics *m, const struct ld_mtmpl *t, uint64_t key,
                         int64_t elapsed_ms)
{
    double count = floor(counter_at(key, t->rate, elapsed_ms));
    if (t->kind == LD_M_HCOUNT)
        return count;
    if (t->kind == LD_M_HSUM)
        return count * t->median_s * exp(HIST_SIGMA * HIST_SIGMA / 2);
    if (t->le_idx == ld_metrics_n_le - 1)
        return count;
    return floor(count * t->cdf);
}

static double gauge_at(const struct ld_mtmpl *t, uint64_t key, int64_t ts_ms)
{
    double v = t->scale;
    if (t->amp != 0) {
        double period_ms = 300000.0 + (double)(ld_hash3(key, 0, 2) % 3300000);
        double phase = ld_unit_of(ld_hash3(key, 0, 3)) * 2 * M_PI;
        double noise = ld_unit_of(ld_hash3(key, (uint64_t)ts_ms, 4)) - 0.5;
        /* memory and free space move by a few pages between scrapes, not by a fifth of a swing */
        double jitter = t->pages ? 0.002 : 0.2;
        v *= 1 + t->amp * sin(2 * M_PI * (double)ts_ms / period_ms + phase) +
             t->amp * jitter * noise;
    }
    if (t->pages)
        return floor(v / 4096) * 4096;
    if (t->scale >= 1000)
        return floor(v);
    if (t->decimals < 0)
        return v;
    double unit = pow(10, t->decimals); /* the nearest double of a decimal, as strconv parses it */
    return round(v * unit) / unit;
}

static double value_at(const struct ld_metrics *m, uint64_t series, uint32_t gen, int64_t birth_ms,
                       int64_t ts_ms)
{
    uint32_t spt = m->cfg.series_per_target;
    const struct ld_mtmpl *t = &m->tmpl[series % spt];
    int64_t elapsed = ts_ms - birth_ms;
    switch (t->kind) {
    case LD_M_COUNTER: {
        /* whole increments; a scaled counter (cpu seconds in 1/100 s ticks, io time in ms) is
         * ticks / divisor, the nearest double of a decimal as the exporter computes it */
        double v = floor(counter_at(ld_hash3(m->cfg.seed, series, gen), t->rate, elapsed));
        return t->scale == 1 ? v : v / round(1 / t->scale);
    }
    case LD_M_GAUGE: return gauge_at(t, ld_hash3(m->cfg.seed, series, gen), ts_ms);
    default: {
        uint64_t first = series - series % spt + t->hist;
        return hist_value(m, t, ld_hash3(m->cfg.seed, first, gen), elapsed);
    }
    }
}

double ld_metrics_value(const struct ld_metrics *m, uint64_t series, uint32_t gen, int64_t ts_ms)
{
    uint32_t target = (uint32_t)(series / m->cfg.series_per_target);
    return value_at(m, series, gen, ld_metrics_birth_ms(m, target, gen), ts_ms);
}

/* ---- batches ---- */

void ld_mbatch_init(struct ld_mbatch *b)
{
    memset(b, 0, sizeof *b);
    arena_init(&b->strs, 16 * 1024);
    ld_rw2_enc_init(&b->rw2);
}

void ld_mbatch_deinit(struct ld_mbatch *b)
{
    free(b->series);
    free(b->labels);
    free(b->samples);
    arena_deinit(&b->strs);
    ld_rw2_enc_deinit(&b->rw2);
    memset(b, 0, sizeof *b);
}

static int mb_grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    size_t n = *cap ? *cap : 64;
    while (n < need)
        n *= 2;
    void *q = realloc(*p, n * elem);
    if (!q)
        return ERR_NOMEM;
    *p = q;
    *cap = n;
    return 0;
}

uint32_t ld_metrics_group_size(const struct ld_metrics *m, uint32_t group)
{
    uint64_t s0 = (uint64_t)group * m->cfg.batch;
    if (s0 >= m->n_series)
        return 0;
    uint64_t left = m->n_series - s0;
    return left < m->cfg.batch ? (uint32_t)left : m->cfg.batch;
}

/* instance="10.a.b.c:port" and pod="node-exporter-xxxxx" of (target, gen), in the batch arena. */
static int target_values(const struct ld_metrics *m, uint32_t target, uint32_t gen,
                         struct ld_mbatch *b, struct str out[2])
{
    uint64_t idx = target + (uint64_t)gen * m->cfg.targets;
    char *inst = arena_alloc(&b->strs, INSTANCE_SZ), *pod = arena_alloc(&b->strs, POD_SZ);
    if (!inst || !pod)
        return ERR_NOMEM;
    int n =
        snprintf(inst, INSTANCE_SZ, "10.%u.%u.%u:%u", (unsigned)(idx >> 16) & 255,
                 (unsigned)(idx >> 8) & 255, (unsigned)idx & 255, (unsigned)(9100 + (idx >> 24)));
    out[0] = (struct str){inst, (size_t)n};
    memcpy(pod, POD_PREFIX, sizeof POD_PREFIX - 1);
    uint64_t h = ld_hash3(m->cfg.seed, idx, 11);
    size_t k = sizeof POD_PREFIX - 1;
    for (int i = 0; i < 5; i++, h /= sizeof POD_ALPHA - 1)
        pod[k++] = POD_ALPHA[h % (sizeof POD_ALPHA - 1)];
    out[1] = (struct str){pod, k};
    return 0;
}

static void emit_series(const struct ld_metrics *m, uint64_t s, uint32_t gen, int64_t birth,
                        const struct str tv[2], const int64_t *ts, uint32_t n, struct ld_mbatch *b)
{
    const struct ld_mtmpl *t = &m->tmpl[s % m->cfg.series_per_target];
    struct label *ls = &b->labels[b->n_labels];
    for (uint32_t i = 0; i < t->n_labels; i++) {
        ls[i].name = t->labels[i].name;
        ls[i].value =
            t->labels[i].target_idx < 0 ? t->labels[i].value : tv[t->labels[i].target_idx];
    }
    b->n_labels += t->n_labels;
    struct rw_sample *sm = &b->samples[b->n_samples];
    for (uint32_t i = 0; i < n; i++)
        sm[i] = (struct rw_sample){ts[i], value_at(m, s, gen, birth, ts[i])};
    b->n_samples += n;
    b->series[b->n_series++] = (struct rw_series){ls, t->n_labels, sm, n};
}

int ld_metrics_build(const struct ld_metrics *m, uint32_t group, const int64_t *ts_ms,
                     uint32_t n_ts, struct ld_mbatch *b)
{
    ASSERT(n_ts >= 1 && n_ts <= LD_M_TS_MAX);
    uint32_t size = ld_metrics_group_size(m, group);
    size_t max_series = (size_t)size * n_ts;
    b->n_series = b->n_labels = b->n_samples = 0;
    arena_reset(&b->strs);
    if (mb_grow((void **)&b->series, &b->cap_series, max_series, sizeof *b->series) ||
        mb_grow((void **)&b->labels, &b->cap_labels, max_series * LD_M_LABELS_MAX,
                sizeof *b->labels) ||
        mb_grow((void **)&b->samples, &b->cap_samples, max_series, sizeof *b->samples))
        return ERR_NOMEM;
    uint32_t gens[LD_M_TS_MAX];
    int64_t births[LD_M_TS_MAX];
    struct str tv[LD_M_TS_MAX][2];
    uint32_t spt = m->cfg.series_per_target, last_target = UINT32_MAX;
    uint64_t s0 = (uint64_t)group * m->cfg.batch;
    for (uint64_t s = s0; s < s0 + size; s++) {
        uint32_t target = (uint32_t)(s / spt);
        if (target != last_target) {
            last_target = target;
            for (uint32_t k = 0; k < n_ts; k++) {
                gens[k] = ld_metrics_gen(m, target, ts_ms[k]);
                if (k > 0 && gens[k] == gens[k - 1])
                    continue;
                births[k] = ld_metrics_birth_ms(m, target, gens[k]);
                if (target_values(m, target, gens[k], b, tv[k]))
                    return ERR_NOMEM;
            }
        }
        for (uint32_t k = 0; k < n_ts;) {
            uint32_t k2 = k + 1;
            while (k2 < n_ts && gens[k2] == gens[k])
                k2++;
            emit_series(m, s, gens[k], births[k], tv[k], &ts_ms[k], k2 - k, b);
            k = k2;
        }
    }
    return 0;
}

int ld_metrics_encode(struct ld_mbatch *b, enum ld_rw_protocol proto, struct buf *out)
{
    return proto == LD_RW2 ? ld_rw2_encode(&b->rw2, b->series, b->n_series, out)
                           : ld_rw1_encode(b->series, b->n_series, out);
}
