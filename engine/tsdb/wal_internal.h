/* Internals shared by engine/tsdb/wal*.c: directory listing and file-system helpers, and the
 * streaming segment reader (pread in pieces, exact walrec recovery rule over the whole file).
 * Layout: docs/formats/wal.md. Not for use outside the WAL. */
#ifndef STRATA_ENGINE_TSDB_WAL_INTERNAL_H
#define STRATA_ENGINE_TSDB_WAL_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "formats/walrec.h"

#define WAL_SEGMENT_NO_MAX 99999999u /* 8 decimal digits */
#define WAL_READ_BYTES_DEF (1u << 20)
#define WAL_READ_BYTES_MIN 64u
#define WAL_NAME_MAX       32

/* ---- directory ---- */

struct wal_dirlist {
    uint32_t *segs; /* segment numbers, ascending */
    size_t nsegs;
    uint32_t *ckpts; /* complete checkpoints (checkpoint.N), ascending */
    size_t nckpts;
    uint32_t *tmps; /* unfinished checkpoints (checkpoint.N.tmp) */
    size_t ntmps;
};

/* Lists dirfd. Unknown names are ignored. Returns 0, -errno or ERR_NOMEM. */
int wal_dir_list(int dirfd, struct wal_dirlist *out);
void wal_dir_list_free(struct wal_dirlist *l);

/* "00000042" */
void wal_seg_name(char out[WAL_NAME_MAX], uint32_t no);
/* "checkpoint.00000042" or "checkpoint.00000042.tmp" */
void wal_ckpt_name(char out[WAL_NAME_MAX], uint32_t no, bool tmp);

/* mkdir -p. Returns 0 or -errno. */
int wal_mkdir_p(const char *path);
/* Removes parent/name, a directory holding only files (a checkpoint). Missing is fine. */
int wal_rmdir_files_at(int parent, const char *name);
/* fsync; returns 0 or -errno. */
int wal_fsync(int fd);
/* Writes all n bytes at offset (pwrite loop). Returns 0 or -errno. */
int wal_pwrite_all(int fd, const void *p, size_t n, uint64_t off);
/* Creates dirfd/name (O_EXCL) holding just the walrec segment header. Returns the fd (O_WRONLY)
 * or -errno; on failure nothing is left behind. */
int wal_segment_create(int dirfd, const char *name);

/* ---- streaming segment reader ---- */

/* Reads one segment file in pieces of read_bytes (a record larger than that grows the buffer to
 * hold it) and yields exactly what walrec_reader would over the whole file: the valid prefix, then
 * the stop offset and reason, with the torn-vs-corrupt classification scanning the rest of the
 * file piece by piece. */
struct wal_seg_reader {
    int fd;
    uint64_t size;     /* file size when opened */
    size_t read_bytes; /* piece size */
    struct buf win;    /* bytes [win_off, win_off + win.len) of the file */
    uint64_t win_off;
    struct walrec_reader r;
    int err; /* 1 while running, else the stop reason (0 = clean end) */
    uint64_t stop_off;
};

/* Returns 0 or -errno / ERR_NOMEM (nothing to close then). */
int wal_seg_open(struct wal_seg_reader *s, int dirfd, const char *name, size_t read_bytes);
/* 1 with *out (valid until the next call), 0 at the clean end, or the stop reason: ERR_TRUNCATED,
 * ERR_CORRUPT, ERR_UNSUPPORTED, ERR_NOMEM or -errno. Sticky. */
int wal_seg_next(struct wal_seg_reader *s, struct walrec *out);
/* After a stop: offset of the first record not yielded (the end of the valid prefix). */
static inline uint64_t wal_seg_stop_offset(const struct wal_seg_reader *s)
{
    return s->stop_off;
}
void wal_seg_close(struct wal_seg_reader *s);

/* "torn" / "corrupt" / ... for logs. */
const char *wal_stop_reason(int err);

#endif
