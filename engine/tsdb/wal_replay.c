/* WAL replay: the newest checkpoint, then every later segment in order, each read in pieces
 * (engine/tsdb/wal_internal.h's streaming reader), stopping normally at the first invalid record
 * of the last segment and reporting any other stop as corruption with its segment and offset.
 * Recovery rules: docs/formats/wal.md, "Segments, checkpoints and recovery on disk". */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/error.h"
#include "base/log.h"
#include "engine/tsdb/wal.h"
#include "engine/tsdb/wal_internal.h"

struct replay {
    wal_replay_fn fn;
    void *arg;
    size_t read_bytes;
    const char *dir;
    struct wal_replay_result *res;
};

static void note_stop(struct replay *rp, int err, uint32_t seg, bool ckpt, uint64_t off,
                      uint64_t lost)
{
    rp->res->stop_err = err;
    rp->res->stop_segment = seg;
    rp->res->stop_in_checkpoint = ckpt;
    rp->res->stop_offset = off;
    rp->res->lost_bytes = lost;
}

/* Replays one file. `last`: the newest segment, where any stop ends the replay normally. */
static int replay_file(struct replay *rp, int dirfd, const char *name,
                       const struct wal_replay_at *at, bool last)
{
    struct wal_seg_reader s;
    int rc = wal_seg_open(&s, dirfd, name, rp->read_bytes);
    if (rc)
        return rc;
    struct walrec rec;
    while ((rc = wal_seg_next(&s, &rec)) == 1) {
        rp->res->records++;
        rp->res->bytes += rec.size;
        int urc = rp->fn(rp->arg, &rec, at);
        if (urc) {
            wal_seg_close(&s);
            return urc;
        }
    }
    rp->res->segments++;
    uint64_t off = wal_seg_stop_offset(&s), size = s.size;
    wal_seg_close(&s);
    if (rc == 0)
        return 0;
    note_stop(rp, rc, at->segment, at->checkpoint, off, size - off);
    if (rc != ERR_TRUNCATED && rc != ERR_CORRUPT)
        return rc;
    if (last && rc == ERR_TRUNCATED)
        return 0; /* torn tail: normal after a crash */
    log_warn("wal replay: damaged file", LOG_STR("dir", rp->dir), LOG_STR("file", name),
             LOG_UINT("checkpoint", at->checkpoint ? at->segment : 0),
             LOG_STR("reason", wal_stop_reason(rc)), LOG_UINT("offset", off),
             LOG_UINT("lost_bytes", size - off));
    return last ? 0 : ERR_CORRUPT;
}

/* Every segment of checkpoint.<no>/, contiguous from 00000001; any stop is corruption. */
static int replay_checkpoint(struct replay *rp, int dirfd, uint32_t no)
{
    char name[WAL_NAME_MAX], seg[WAL_NAME_MAX];
    wal_ckpt_name(name, no, false);
    int cfd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (cfd < 0)
        return -errno;
    struct wal_dirlist l;
    int rc = wal_dir_list(cfd, &l);
    struct wal_replay_at at = {.segment = no, .checkpoint = true};
    for (size_t i = 0; rc == 0 && i < l.nsegs; i++) {
        if (l.segs[i] != i + 1) {
            log_warn("wal replay: checkpoint file missing", LOG_STR("dir", rp->dir),
                     LOG_STR("checkpoint", name), LOG_UINT("file", i + 1));
            note_stop(rp, ERR_CORRUPT, no, true, 0, 0);
            rc = ERR_CORRUPT;
            break;
        }
        wal_seg_name(seg, l.segs[i]);
        rc = replay_file(rp, cfd, seg, &at, false);
    }
    wal_dir_list_free(&l);
    close(cfd);
    rp->res->checkpoint = no;
    return rc;
}

static int missing_segment(struct replay *rp, uint32_t no)
{
    log_warn("wal replay: segment missing", LOG_STR("dir", rp->dir), LOG_UINT("segment", no));
    note_stop(rp, ERR_CORRUPT, no, false, 0, 0);
    return ERR_CORRUPT;
}

/* Segments numbered >= first, in order; `expect` (0: none) is the number the first one must have.
 */
static int replay_segments(struct replay *rp, int dirfd, const struct wal_dirlist *l,
                           uint32_t first, uint32_t expect)
{
    char name[WAL_NAME_MAX];
    uint32_t last = l->nsegs ? l->segs[l->nsegs - 1] : 0;
    for (size_t i = 0; i < l->nsegs; i++) {
        uint32_t no = l->segs[i];
        if (no < first)
            continue;
        if (expect && no != expect)
            return missing_segment(rp, expect);
        wal_seg_name(name, no);
        struct wal_replay_at at = {.segment = no, .checkpoint = false};
        int rc = replay_file(rp, dirfd, name, &at, no == last);
        if (rc)
            return rc;
        expect = no + 1;
    }
    return 0;
}

int wal_replay(const char *dir, const struct wal_replay_opts *opts, wal_replay_fn fn, void *arg,
               struct wal_replay_result *res)
{
    struct wal_replay_result local;
    if (!res)
        res = &local;
    memset(res, 0, sizeof *res);
    int64_t t0 = clock_mono_ns();
    struct replay rp = {.fn = fn, .arg = arg, .dir = dir, .res = res};
    rp.read_bytes = opts && opts->read_bytes ? opts->read_bytes : WAL_READ_BYTES_DEF;
    int dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dirfd < 0)
        return errno == ENOENT ? 0 : -errno;
    struct wal_dirlist l;
    int rc = wal_dir_list(dirfd, &l);
    if (rc == 0) {
        res->last_segment = l.nsegs ? l.segs[l.nsegs - 1] : 0;
        uint32_t first = opts ? opts->from_segment : 0, expect = 0;
        if (first == 0 && l.nckpts > 0) {
            uint32_t ck = l.ckpts[l.nckpts - 1];
            rc = replay_checkpoint(&rp, dirfd, ck);
            first = expect = ck + 1;
        }
        if (rc == 0)
            rc = replay_segments(&rp, dirfd, &l, first, expect);
        wal_dir_list_free(&l);
    }
    close(dirfd);
    res->duration_ns = clock_mono_ns() - t0;
    return rc;
}

int wal_replay_resuming(const char *dir, wal_replay_fn fn, void *arg, wal_damage_fn damaged,
                        void *damaged_arg)
{
    uint32_t from = 0;
    for (;;) {
        struct wal_replay_opts o = {.from_segment = from, .read_bytes = 0};
        struct wal_replay_result res;
        int rc = wal_replay(dir, &o, fn, arg, &res);
        if (rc != ERR_CORRUPT)
            return rc;
        damaged(damaged_arg, &res);
        uint32_t next = res.stop_segment + 1;
        if (next <= from)
            next = from + 1;
        if (res.last_segment == 0 || next > res.last_segment)
            return 0;
        from = next;
    }
}
