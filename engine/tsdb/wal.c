/* WAL writer on the shard's io_uring loop: open with torn-tail repair, batch buffer with
 * backpressure, group commit (one IORING_OP_WRITE per loop iteration, continued on short writes;
 * in `always` mode an IORING_OP_FSYNC(DATASYNC) round covering it), segment rollover between
 * writes, free-space guard, stats. Layout and recovery rules: docs/formats/wal.md.
 *
 * Positions: every byte appended gets a place in one logical stream (over all segments). A commit
 * remembers the stream position of the end of what was appended before it; it is done when the
 * written (batch) or synced (always) position reaches it. So callbacks fire in commit order and
 * a write or fsync completion releases every commit it covers at once. */
#include "engine/tsdb/wal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "base/assert.h"
#include "base/clock.h"
#include "base/error.h"
#include "base/log.h"
#include "engine/tsdb/wal_internal.h"

/* A batch buffer that grew past this is freed after its write rather than kept around. */
#define BUF_KEEP_MAX (8u << 20)
/* Largest single write submission (Linux caps a write at 2 GiB - 4 KiB anyway). */
#define WRITE_MAX (1u << 30)

struct commit {
    wal_commit_fn fn;
    void *arg;
    uint64_t pos;
};

/* Counters written by the owner thread only (plain load + store), read by anyone. */
struct wal_counters {
    _Atomic uint64_t bytes_written, records, commits, writes, fsyncs, write_ns_sum, fsync_ns_sum,
        pending_bytes, full_rejects, segments, segment_current, segments_created,
        torn_tails_repaired, bytes_cut, checkpoints, writable, replay_ns, replay_records;
};

struct wal {
    struct loop *loop;
    struct wal_config cfg;
    char *dir;
    int dir_fd;
    /* the segment being written */
    uint32_t seg_no, seg_first;
    int seg_fd;
    uint64_t seg_len; /* bytes submitted to it, header included */
    bool roll_asked;
    bool dir_dirty; /* a new segment's directory entry awaits an fsync (always mode) */
    /* batches */
    struct buf cur;  /* appended since the last write started */
    struct buf wbuf; /* the write in flight */
    size_t wdone;    /* bytes of wbuf already written */
    uint64_t woff;   /* file offset of wbuf[0] */
    bool writing;
    int64_t write_t0;
    struct loop_op write_op;
    /* stream positions */
    uint64_t pos_submitted, pos_written, pos_synced;
    /* fsync rounds (always mode): the segment, plus the directory after a rollover */
    bool syncing;
    int sync_ops;
    uint64_t sync_target;
    int64_t sync_t0;
    struct loop_op sync_op, dsync_op;
    /* batch mode: the previous segment's fdatasync before it is closed */
    int retire_fd;
    struct loop_op retire_op;
    /* commit queue: a ring of q_cap entries */
    struct commit *q;
    size_t q_head, q_len, q_cap;
    /* free-space guard */
    bool writable;
    int64_t space_t_ns;
    int64_t roll_fail_log_ns;
    struct wal_counters st;
};

#define WAL_OF(op, field) ((struct wal *)((char *)(op)-offsetof(struct wal, field)))

static void st_add(_Atomic uint64_t *c, uint64_t n)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
                          memory_order_relaxed);
}

static void st_set(_Atomic uint64_t *c, uint64_t v)
{
    atomic_store_explicit(c, v, memory_order_relaxed);
}

int wal_fsync_parse(const char *s, enum wal_fsync *out)
{
    if (strcmp(s, "batch") == 0)
        *out = WAL_FSYNC_BATCH;
    else if (strcmp(s, "always") == 0)
        *out = WAL_FSYNC_ALWAYS;
    else
        return ERR_INVALID;
    return 0;
}

void wal_config_init(struct wal_config *c)
{
    memset(c, 0, sizeof *c);
    c->fsync = WAL_FSYNC_BATCH;
    c->segment_size_bytes = 128u << 20;
    c->pending_bytes_max = 64u << 20;
    c->free_bytes_min = 256u << 20;
    c->free_permille_min = 10;
    c->free_check_interval_ms = 1000;
}

/* ---- small accessors ---- */

uint64_t wal_pending_bytes(const struct wal *w)
{
    return w->pos_submitted + w->cur.len - w->pos_written;
}

static uint64_t durable_pos(const struct wal *w)
{
    return w->cfg.fsync == WAL_FSYNC_ALWAYS ? w->pos_synced : w->pos_written;
}

bool wal_idle(const struct wal *w)
{
    return w->cur.len == 0 && !w->writing && !w->syncing && w->q_len == 0 && w->retire_fd < 0;
}

uint32_t wal_segment_current(const struct wal *w)
{
    return w->seg_no;
}

const char *wal_dir(const struct wal *w)
{
    return w->dir;
}

bool wal_writable(const struct wal *w)
{
    return w->writable;
}

static void note_pending(struct wal *w)
{
    st_set(&w->st.pending_bytes, wal_pending_bytes(w));
}

static void note_segments(struct wal *w)
{
    st_set(&w->st.segments, w->seg_no - w->seg_first + 1);
    st_set(&w->st.segment_current, w->seg_no);
}

/* ---- free-space guard ---- */

bool wal_check_space(struct wal *w)
{
    w->space_t_ns = clock_mono_coarse_ns();
    struct statvfs v;
    if (fstatvfs(w->dir_fd, &v) != 0)
        return w->writable; /* keep the last verdict */
    unsigned __int128 avail = (unsigned __int128)v.f_bavail * v.f_frsize;
    unsigned __int128 total = (unsigned __int128)v.f_blocks * v.f_frsize;
    bool ok = avail >= w->cfg.free_bytes_min &&
              avail * 1000 >= total * (unsigned __int128)w->cfg.free_permille_min;
    if (ok != w->writable) {
        if (ok)
            log_info("wal: free space is back, accepting writes", LOG_STR("dir", w->dir),
                     LOG_UINT("available_bytes", (uint64_t)avail));
        else
            log_warn("wal: free space below the threshold, refusing writes", LOG_STR("dir", w->dir),
                     LOG_UINT("available_bytes", (uint64_t)avail),
                     LOG_UINT("free_bytes_min", w->cfg.free_bytes_min),
                     LOG_UINT("free_permille_min", w->cfg.free_permille_min));
    }
    w->writable = ok;
    st_set(&w->st.writable, ok);
    return ok;
}

static void space_tick(struct wal *w)
{
    if (clock_mono_coarse_ns() - w->space_t_ns >= w->cfg.free_check_interval_ms * 1000000)
        wal_check_space(w);
}

/* ---- appending ---- */

static int check_room(struct wal *w)
{
    if (wal_pending_bytes(w) < w->cfg.pending_bytes_max)
        return 0;
    st_add(&w->st.full_rejects, 1);
    return ERR_FULL;
}

int wal_record_begin(struct wal *w, struct buf **b, size_t *mark)
{
    int rc = check_room(w);
    if (rc == 0)
        rc = walrec_begin(&w->cur, mark);
    *b = rc == 0 ? &w->cur : NULL;
    return rc;
}

int wal_record_end(struct wal *w, size_t mark, enum walrec_type type, uint32_t flags)
{
    int rc = walrec_end(&w->cur, mark, type, flags);
    if (rc == 0)
        st_add(&w->st.records, 1);
    note_pending(w);
    return rc;
}

void wal_record_cancel(struct wal *w, size_t mark)
{
    ASSERT(mark <= w->cur.len);
    w->cur.len = mark;
    note_pending(w);
}

int wal_append(struct wal *w, enum walrec_type type, const void *payload, size_t len,
               uint32_t flags)
{
    int rc = check_room(w);
    if (rc == 0)
        rc = walrec_append(&w->cur, type, payload, len, flags);
    if (rc == 0) {
        st_add(&w->st.records, 1);
        note_pending(w);
    }
    return rc;
}

/* ---- commits ---- */

static int queue_grow(struct wal *w)
{
    size_t cap = w->q_cap ? w->q_cap * 2 : 64;
    struct commit *q = malloc(cap * sizeof *q);
    if (!q)
        return ERR_NOMEM;
    for (size_t i = 0; i < w->q_len; i++)
        q[i] = w->q[(w->q_head + i) % w->q_cap];
    free(w->q);
    w->q = q;
    w->q_cap = cap;
    w->q_head = 0;
    return 0;
}

int wal_commit(struct wal *w, wal_commit_fn fn, void *arg)
{
    ASSERT(fn);
    if (w->q_len == w->q_cap && queue_grow(w) != 0)
        return ERR_NOMEM;
    struct commit c = {fn, arg, w->pos_submitted + w->cur.len};
    w->q[(w->q_head + w->q_len) % w->q_cap] = c;
    w->q_len++;
    st_add(&w->st.commits, 1);
    return 0;
}

/* Runs, in order, every callback whose bytes are durable. A callback may commit again. */
static void run_ready(struct wal *w)
{
    while (w->q_len > 0 && w->q[w->q_head].pos <= durable_pos(w)) {
        struct commit c = w->q[w->q_head];
        w->q_head = (w->q_head + 1) % w->q_cap;
        w->q_len--;
        c.fn(c.arg);
    }
}

/* ---- fsync rounds ---- */

static void maybe_start_sync(struct wal *w);

static void sync_done(struct wal *w, int res, const char *what)
{
    if (res < 0)
        PANIC("wal: fdatasync of %s in %s failed: %s (the head holds samples the WAL may not)",
              what, w->dir, strerror(-res));
    if (--w->sync_ops > 0)
        return;
    w->syncing = false;
    w->pos_synced = w->sync_target;
    st_add(&w->st.fsyncs, 1);
    st_add(&w->st.fsync_ns_sum, (uint64_t)(clock_mono_ns() - w->sync_t0));
    run_ready(w);
    maybe_start_sync(w);
}

static void on_sync_seg(struct loop *l, struct loop_op *op, int res, uint32_t flags)
{
    (void)l;
    (void)flags;
    sync_done(WAL_OF(op, sync_op), res, "the segment");
}

static void on_sync_dir(struct loop *l, struct loop_op *op, int res, uint32_t flags)
{
    (void)l;
    (void)flags;
    sync_done(WAL_OF(op, dsync_op), res, "the directory");
}

/* Always mode: one fdatasync round covering everything written so far, unless one runs already
 * (its completion starts the next). After a rollover the round also fsyncs the directory, so the
 * new segment's name survives power loss with its records. */
static void maybe_start_sync(struct wal *w)
{
    if (w->cfg.fsync != WAL_FSYNC_ALWAYS || w->syncing || w->pos_synced >= w->pos_written)
        return;
    w->syncing = true;
    w->sync_target = w->pos_written;
    w->sync_t0 = clock_mono_ns();
    w->sync_ops = 1;
    io_uring_prep_fsync(loop_sqe(w->loop, &w->sync_op), w->seg_fd, IORING_FSYNC_DATASYNC);
    if (w->dir_dirty) {
        w->dir_dirty = false;
        w->sync_ops++;
        io_uring_prep_fsync(loop_sqe(w->loop, &w->dsync_op), w->dir_fd, 0);
    }
}

/* ---- writes ---- */

static void submit_write(struct wal *w)
{
    size_t n = w->wbuf.len - w->wdone;
    if (w->cfg.write_bytes_max && n > w->cfg.write_bytes_max)
        n = w->cfg.write_bytes_max;
    if (n > WRITE_MAX)
        n = WRITE_MAX;
    io_uring_prep_write(loop_sqe(w->loop, &w->write_op), w->seg_fd, w->wbuf.data + w->wdone,
                        (unsigned)n, w->woff + w->wdone);
}

static void write_done(struct wal *w)
{
    w->writing = false;
    w->pos_written = w->pos_submitted;
    st_add(&w->st.writes, 1);
    st_add(&w->st.write_ns_sum, (uint64_t)(clock_mono_ns() - w->write_t0));
    if (w->wbuf.cap > BUF_KEEP_MAX)
        buf_deinit(&w->wbuf);
    buf_reset(&w->wbuf);
    note_pending(w);
    if (w->cfg.fsync == WAL_FSYNC_ALWAYS)
        maybe_start_sync(w);
    else
        run_ready(w);
}

static void on_write(struct loop *l, struct loop_op *op, int res, uint32_t flags)
{
    (void)l;
    (void)flags;
    struct wal *w = WAL_OF(op, write_op);
    if (res == -EINTR || res == -EAGAIN) {
        submit_write(w);
        return;
    }
    if (res <= 0)
        PANIC("wal: write to segment %08u of %s at offset %llu failed: %s (the head holds "
              "samples the WAL does not)",
              w->seg_no, w->dir, (unsigned long long)(w->woff + w->wdone),
              res == 0 ? "no progress" : strerror(-res));
    w->wdone += (size_t)res;
    st_add(&w->st.bytes_written, (uint64_t)res);
    if (w->wdone < w->wbuf.len)
        submit_write(w); /* short write: continue where it stopped */
    else
        write_done(w);
}

static void start_write(struct wal *w)
{
    struct buf t = w->wbuf;
    w->wbuf = w->cur;
    w->cur = t;
    w->wdone = 0;
    w->woff = w->seg_len;
    w->seg_len += w->wbuf.len;
    w->pos_submitted += w->wbuf.len;
    w->writing = true;
    w->write_t0 = clock_mono_ns();
    submit_write(w);
}

/* ---- segments ---- */

static void on_retire(struct loop *l, struct loop_op *op, int res, uint32_t flags)
{
    (void)l;
    (void)flags;
    struct wal *w = WAL_OF(op, retire_op);
    if (res < 0)
        PANIC("wal: fdatasync of a finished segment in %s failed: %s", w->dir, strerror(-res));
    close(w->retire_fd);
    w->retire_fd = -1;
}

/* Creates segment `no` and makes it current. Returns 0 or -errno. */
static int segment_start(struct wal *w, uint32_t no)
{
    char name[WAL_NAME_MAX];
    wal_seg_name(name, no);
    int fd = wal_segment_create(w->dir_fd, name);
    if (fd < 0)
        return fd;
    w->seg_fd = fd;
    w->seg_no = no;
    w->seg_len = WALREC_SEGMENT_HEADER_SIZE;
    w->dir_dirty = true;
    st_add(&w->st.bytes_written, WALREC_SEGMENT_HEADER_SIZE);
    st_add(&w->st.segments_created, 1);
    note_segments(w);
    wal_check_space(w);
    return 0;
}

static bool roll_wanted(const struct wal *w)
{
    if (w->seg_len <= WALREC_SEGMENT_HEADER_SIZE)
        return false; /* an empty segment takes the next write whatever its size */
    return w->roll_asked || w->seg_len + w->cur.len > w->cfg.segment_size_bytes;
}

/* Rollover needs the old segment quiet: always mode, everything in it synced; batch mode, the
 * previous retirement done. */
static bool roll_ready(const struct wal *w)
{
    if (w->cfg.fsync == WAL_FSYNC_ALWAYS)
        return !w->syncing && w->pos_synced == w->pos_written;
    return w->retire_fd < 0;
}

/* Between writes: start the next segment. If it cannot be created, log (at most every 10 s) and
 * keep writing to the current one: records never span segments either way. */
static void roll(struct wal *w)
{
    int old = w->seg_fd;
    uint32_t old_no = w->seg_no;
    int rc = old_no >= WAL_SEGMENT_NO_MAX ? ERR_LIMIT : segment_start(w, old_no + 1);
    if (rc) {
        int64_t now = clock_mono_coarse_ns();
        if (now - w->roll_fail_log_ns > 10000000000LL) {
            w->roll_fail_log_ns = now;
            log_error("wal: cannot start a new segment, writing on", LOG_STR("dir", w->dir),
                      LOG_UINT("segment", old_no), LOG_ERR(rc));
        }
        return;
    }
    w->roll_asked = false;
    if (w->cfg.fsync == WAL_FSYNC_ALWAYS) {
        close(old); /* everything in it is synced */
        return;
    }
    w->retire_fd = old; /* batch mode: make the finished segment durable, then close it */
    io_uring_prep_fsync(loop_sqe(w->loop, &w->retire_op), old, IORING_FSYNC_DATASYNC);
}

void wal_roll(struct wal *w)
{
    w->roll_asked = true;
}

/* ---- group commit ---- */

void wal_flush(struct wal *w)
{
    space_tick(w);
    run_ready(w);
    if (w->writing || w->cur.len == 0)
        return;
    if (roll_wanted(w)) {
        if (!roll_ready(w)) {
            maybe_start_sync(w);
            return; /* a later iteration rolls once the old segment is quiet */
        }
        roll(w);
    }
    start_write(w);
}

bool wal_before_wait(struct loop *l, void *arg)
{
    (void)l;
    wal_flush(arg);
    return true;
}

/* ---- open / close ---- */

/* Finishes what an interrupted checkpoint left: its .tmp dir, and the segments and checkpoints
 * the newest checkpoint replaced. Returns the newest checkpoint (0: none). */
static uint32_t finish_checkpoints(struct wal *w, const struct wal_dirlist *l)
{
    char name[WAL_NAME_MAX];
    for (size_t i = 0; i < l->ntmps; i++) {
        wal_ckpt_name(name, l->tmps[i], true);
        int rc = wal_rmdir_files_at(w->dir_fd, name);
        log_info("wal: removed an unfinished checkpoint", LOG_STR("dir", w->dir),
                 LOG_STR("name", name), LOG_ERR(rc));
    }
    uint32_t ck = l->nckpts ? l->ckpts[l->nckpts - 1] : 0;
    for (size_t i = 0; i + 1 < l->nckpts; i++) {
        wal_ckpt_name(name, l->ckpts[i], false);
        wal_rmdir_files_at(w->dir_fd, name);
    }
    for (size_t i = 0; i < l->nsegs && l->segs[i] <= ck; i++) {
        wal_seg_name(name, l->segs[i]);
        unlinkat(w->dir_fd, name, 0);
    }
    return ck;
}

static void log_cut(struct wal *w, const char *name, int why, uint64_t off, uint64_t cut,
                    bool removed)
{
    const char *msg = removed ? "wal: removed the newest segment, its header is not valid"
                              : "wal: cut the tail of the newest segment back to its last record";
    if (why == ERR_TRUNCATED)
        log_info(msg, LOG_STR("dir", w->dir), LOG_STR("segment", name),
                 LOG_STR("reason", wal_stop_reason(why)), LOG_UINT("offset", off),
                 LOG_UINT("bytes_cut", cut));
    else
        log_warn(msg, LOG_STR("dir", w->dir), LOG_STR("segment", name),
                 LOG_STR("reason", wal_stop_reason(why)), LOG_UINT("offset", off),
                 LOG_UINT("bytes_cut", cut));
}

/* Cuts the newest segment back to its valid prefix (or removes it when not even its header is
 * valid). *removed says the file is gone. Returns 0, ERR_UNSUPPORTED (left untouched) or an
 * error. */
static int repair_last(struct wal *w, uint32_t no, bool *removed)
{
    char name[WAL_NAME_MAX];
    wal_seg_name(name, no);
    *removed = false;
    struct wal_seg_reader s;
    int why = wal_seg_open(&s, w->dir_fd, name, WAL_READ_BYTES_DEF);
    if (why)
        return why;
    struct walrec rec;
    while ((why = wal_seg_next(&s, &rec)) == 1)
        ;
    uint64_t off = wal_seg_stop_offset(&s), size = s.size;
    wal_seg_close(&s);
    if (why == 0)
        return 0;
    if (why != ERR_TRUNCATED && why != ERR_CORRUPT)
        return why;
    int rc;
    if (off < WALREC_SEGMENT_HEADER_SIZE) {
        *removed = true;
        rc = unlinkat(w->dir_fd, name, 0) == 0 ? 0 : -errno;
    } else {
        int fd = openat(w->dir_fd, name, O_WRONLY | O_CLOEXEC);
        rc = fd < 0 ? -errno : ftruncate(fd, (off_t)off) == 0 ? wal_fsync(fd) : -errno;
        if (fd >= 0)
            close(fd);
    }
    if (rc)
        return rc;
    log_cut(w, name, why, off, size - off, *removed);
    st_add(&w->st.torn_tails_repaired, 1);
    st_add(&w->st.bytes_cut, size - off);
    return 0;
}

/* Lists the directory, cleans up, repairs the newest segment and starts the next one. */
static int open_segments(struct wal *w)
{
    struct wal_dirlist l;
    int rc = wal_dir_list(w->dir_fd, &l);
    if (rc)
        return rc;
    uint32_t ck = finish_checkpoints(w, &l);
    uint32_t first = 0, last = 0;
    for (size_t i = 0; i < l.nsegs; i++) {
        if (l.segs[i] > ck && first == 0)
            first = l.segs[i];
        last = l.segs[i];
    }
    wal_dir_list_free(&l);
    uint32_t next = (last > ck ? last : ck) + 1;
    if (last > ck) {
        bool removed;
        rc = repair_last(w, last, &removed);
        if (rc)
            return rc;
        if (removed)
            next = last; /* a new file under the same number: nothing stale can follow */
    }
    if (next > WAL_SEGMENT_NO_MAX)
        return ERR_LIMIT;
    w->seg_first = first && first < next ? first : next;
    rc = segment_start(w, next);
    if (rc == 0)
        rc = wal_fsync(w->seg_fd);
    if (rc == 0)
        rc = wal_fsync(w->dir_fd);
    w->dir_dirty = false;
    return rc;
}

static void wal_free(struct wal *w)
{
    if (w->seg_fd >= 0)
        close(w->seg_fd);
    if (w->retire_fd >= 0)
        close(w->retire_fd);
    if (w->dir_fd >= 0)
        close(w->dir_fd);
    buf_deinit(&w->cur);
    buf_deinit(&w->wbuf);
    free(w->q);
    free(w->dir);
    free(w);
}

int wal_open(const char *dir, const struct wal_config *cfg, struct loop *loop, struct wal **out)
{
    *out = NULL;
    struct wal *w = calloc(1, sizeof *w);
    if (!w)
        return ERR_NOMEM;
    if (cfg)
        w->cfg = *cfg;
    else
        wal_config_init(&w->cfg);
    ASSERT(w->cfg.segment_size_bytes >= WAL_READ_BYTES_MIN && w->cfg.pending_bytes_max > 0);
    ASSERT(w->cfg.fsync == WAL_FSYNC_BATCH || w->cfg.fsync == WAL_FSYNC_ALWAYS);
    w->loop = loop;
    w->seg_fd = w->retire_fd = w->dir_fd = -1;
    w->writable = true;
    w->write_op.fn = on_write;
    w->sync_op.fn = on_sync_seg;
    w->dsync_op.fn = on_sync_dir;
    w->retire_op.fn = on_retire;
    w->dir = strdup(dir);
    int rc = w->dir ? wal_mkdir_p(dir) : ERR_NOMEM;
    if (rc == 0) {
        w->dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        rc = w->dir_fd < 0 ? -errno : 0;
    }
    if (rc == 0)
        rc = open_segments(w);
    if (rc) {
        wal_free(w);
        return rc;
    }
    *out = w;
    return 0;
}

void wal_close(struct wal *w)
{
    if (!w)
        return;
    for (;;) {
        wal_flush(w);
        if (wal_idle(w))
            break;
        int rc = loop_run_once(w->loop, 100000000);
        if (rc < 0)
            PANIC("BUG: io_uring wait failed while closing the WAL: %s", strerror(-rc));
    }
    int rc = wal_fsync(w->seg_fd);
    if (rc)
        PANIC("wal: fdatasync of segment %08u in %s failed at close: %s", w->seg_no, w->dir,
              strerror(-rc));
    if (w->dir_dirty && (rc = wal_fsync(w->dir_fd)) != 0)
        PANIC("wal: fsync of %s failed at close: %s", w->dir, strerror(-rc));
    wal_free(w);
}

/* ---- checkpoint, stats ---- */

int wal_checkpoint(struct wal *w, uint32_t upto_segment, const struct wal_keep *keep,
                   struct wal_checkpoint_result *res)
{
    if (upto_segment >= w->seg_no)
        return ERR_INVALID;
    struct wal_checkpoint_result local;
    int rc = wal_checkpoint_dir(w->dir, upto_segment, keep, res ? res : &local);
    if (rc)
        return rc;
    if (w->seg_first <= upto_segment)
        w->seg_first = upto_segment + 1;
    note_segments(w);
    st_add(&w->st.checkpoints, 1);
    return 0;
}

void wal_stats_note_replay(struct wal *w, const struct wal_replay_result *r)
{
    st_set(&w->st.replay_ns, (uint64_t)r->duration_ns);
    st_set(&w->st.replay_records, r->records);
}

#define LD(f) out->f = atomic_load_explicit(&w->st.f, memory_order_relaxed)

void wal_stats_get(const struct wal *w, struct wal_stats *out)
{
    LD(bytes_written);
    LD(records);
    LD(commits);
    LD(writes);
    LD(fsyncs);
    LD(write_ns_sum);
    LD(fsync_ns_sum);
    LD(pending_bytes);
    LD(full_rejects);
    LD(segments);
    LD(segment_current);
    LD(segments_created);
    LD(torn_tails_repaired);
    LD(bytes_cut);
    LD(checkpoints);
    LD(writable);
    LD(replay_ns);
    LD(replay_records);
}
