/* Streaming WAL segment reader: reads a segment file with pread in pieces (bounded memory) and
 * runs formats/walrec's reader over each piece, carrying a record that straddles two pieces over
 * to the next one. When the walrec reader stops inside a piece for lack of bytes, the reader
 * decides whether more bytes are needed (a header or payload reaching past the piece) or the bytes
 * at the stop are damaged; in the latter case it applies the recovery rule of docs/formats/wal.md
 * ("classify") over the REST OF THE FILE, piece by piece, so the verdict (torn vs corrupt) is the
 * same as reading the whole file at once. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/crc32c.h"
#include "base/error.h"
#include "engine/tsdb/wal_internal.h"

/* Record header fields (docs/formats/wal.md, "Record"). */
enum { H_LEN = 0, H_TYPE = 4, H_FLAGS = 5, H_RES = 6, H_PCRC = 8, H_HCRC = 12 };

/* A header that walrec would accept: sane fields (cheap checks first) and a matching header CRC.
 */
static bool header_ok(const uint8_t *p, uint32_t *len)
{
    uint32_t n = le32_get(p + H_LEN);
    if (p[H_TYPE] < 1 || p[H_TYPE] >= WALREC_TYPE_END_ || (p[H_FLAGS] & ~WALREC_F_SNAPPY) != 0 ||
        p[H_RES] != 0 || p[H_RES + 1] != 0 || n > WALREC_PAYLOAD_MAX)
        return false;
    if (crc32c(p, H_HCRC) != le32_get(p + H_HCRC))
        return false;
    *len = n;
    return true;
}

static bool payload_ok(const uint8_t *p, uint32_t len)
{
    return crc32c(p + WALREC_HEADER_SIZE, len) == le32_get(p + H_PCRC);
}

static uint64_t win_end(const struct wal_seg_reader *s)
{
    return s->win_off + s->win.len;
}

/* Moves the window to start at `from` (keeping the bytes it already has) and fills it to
 * max(read_bytes, need) bytes or the end of the file. */
static int win_load(struct wal_seg_reader *s, uint64_t from, size_t need)
{
    size_t keep = 0;
    if (from >= s->win_off && from < win_end(s)) {
        keep = (size_t)(win_end(s) - from);
        memmove(s->win.data, s->win.data + (from - s->win_off), keep);
    }
    s->win_off = from;
    s->win.len = keep;
    size_t want = need > s->read_bytes ? need : s->read_bytes;
    if (want > keep && buf_reserve(&s->win, want - keep) != 0)
        return ERR_NOMEM;
    while (s->win.len < want && win_end(s) < s->size) {
        uint64_t left = s->size - win_end(s);
        size_t n = want - s->win.len < left ? want - s->win.len : (size_t)left;
        ssize_t k = pread(s->fd, s->win.data + s->win.len, n, (off_t)win_end(s));
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return -errno;
        if (k == 0) { /* the file shrank under us: its end is here */
            s->size = win_end(s);
            break;
        }
        s->win.len += (size_t)k;
    }
    return 0;
}

/* Points the walrec reader at the window, keeping its decompression scratch buffer. */
static void reader_reset(struct wal_seg_reader *s)
{
    struct buf scratch = s->r.scratch;
    if (s->win_off == 0)
        walrec_reader_init(&s->r, s->win.data, s->win.len);
    else
        walrec_reader_init_records(&s->r, s->win.data, s->win.len, s->win_off);
    s->r.scratch = scratch;
}

int wal_seg_open(struct wal_seg_reader *s, int dirfd, const char *name, size_t read_bytes)
{
    memset(s, 0, sizeof *s);
    s->fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
    if (s->fd < 0)
        return -errno;
    struct stat st;
    if (fstat(s->fd, &st) != 0) {
        int rc = -errno;
        close(s->fd);
        return rc;
    }
    s->size = (uint64_t)st.st_size;
    s->read_bytes = read_bytes < WAL_READ_BYTES_MIN ? WAL_READ_BYTES_MIN : read_bytes;
    buf_init(&s->win);
    buf_init(&s->r.scratch);
    s->err = 1;
    int rc = win_load(s, 0, 0);
    if (rc) {
        wal_seg_close(s);
        return rc;
    }
    reader_reset(s);
    return 0;
}

void wal_seg_close(struct wal_seg_reader *s)
{
    if (s->fd >= 0)
        close(s->fd);
    s->fd = -1;
    walrec_reader_deinit(&s->r);
    buf_deinit(&s->win);
}

static int stop(struct wal_seg_reader *s, int err, uint64_t off)
{
    s->err = err;
    s->stop_off = off;
    return err;
}

/* The recovery rule's scan: is there a complete, checksum-valid record starting anywhere in
 * [from, size)? Pieces overlap by a header less one byte so every start position is tried; a
 * candidate whose payload reaches past the piece is loaded whole to check it. */
static int classify_rest(struct wal_seg_reader *s, uint64_t from)
{
    uint64_t pos = from;
    while (pos + WALREC_HEADER_SIZE <= s->size) {
        int rc = win_load(s, pos, 0);
        if (rc)
            return rc;
        const uint8_t *d = s->win.data;
        size_t n = s->win.len;
        uint64_t next = s->win_off + n - (WALREC_HEADER_SIZE - 1);
        for (size_t i = 0; i + WALREC_HEADER_SIZE <= n; i++) {
            uint32_t len;
            if (!header_ok(d + i, &len))
                continue;
            if (i + WALREC_HEADER_SIZE + len <= n) {
                if (payload_ok(d + i, len))
                    return ERR_CORRUPT;
                continue;
            }
            uint64_t at = s->win_off + i;
            if (at + WALREC_HEADER_SIZE + len > s->size)
                continue; /* cannot be complete */
            rc = win_load(s, at, WALREC_HEADER_SIZE + len);
            if (rc)
                return rc;
            if (s->win.len >= WALREC_HEADER_SIZE + len && payload_ok(s->win.data, len))
                return ERR_CORRUPT;
            next = at + 1; /* the window moved: carry on right after the candidate */
            break;
        }
        pos = next; /* past the end once the last piece was scanned: the loop ends */
    }
    return ERR_TRUNCATED;
}

/* A segment header that reads as torn inside the first piece (all zero so far) is torn only if
 * the whole file is zero (docs/formats/wal.md, "Segment header"). */
static int classify_zero_header(struct wal_seg_reader *s)
{
    uint64_t pos = 0;
    while (pos < s->size) {
        int rc = win_load(s, pos, 0);
        if (rc)
            return rc;
        for (size_t i = 0; i < s->win.len; i++)
            if (s->win.data[i] != 0)
                return ERR_CORRUPT;
        pos = win_end(s);
        if (s->win.len == 0)
            break;
    }
    return ERR_TRUNCATED;
}

/* win_load for the retry path: 1 to go on, or the error. */
static int reload(struct wal_seg_reader *s, uint64_t from, size_t need)
{
    int rc = win_load(s, from, need);
    return rc ? rc : 1;
}

/* The walrec reader stopped at `off` with bytes of the file beyond the window: either it needs
 * more bytes (reload and go on: returns 1) or the bytes at off are damaged (returns the verdict
 * over the rest of the file). */
static int need_more_or_damage(struct wal_seg_reader *s, int rc, uint64_t off)
{
    if (rc == 0)
        return reload(s, off, 0);
    if (off == 0) /* stopped in the segment header: the piece is all zero */
        return classify_zero_header(s);
    size_t left = (size_t)(win_end(s) - off);
    if (left < WALREC_HEADER_SIZE)
        return reload(s, off, WALREC_HEADER_SIZE);
    const uint8_t *p = s->win.data + (off - s->win_off);
    uint32_t len;
    if (!header_ok(p, &len))
        return classify_rest(s, off + 1);
    if (WALREC_HEADER_SIZE + (size_t)len > left)
        return reload(s, off, WALREC_HEADER_SIZE + (size_t)len);
    return classify_rest(s, off + WALREC_HEADER_SIZE + len); /* payload checksum failed */
}

int wal_seg_next(struct wal_seg_reader *s, struct walrec *out)
{
    while (s->err == 1) {
        int rc = walrec_reader_next(&s->r, out);
        if (rc == 1)
            return 1;
        uint64_t off = walrec_reader_offset(&s->r);
        bool more = win_end(s) < s->size;
        if (!more || (rc != 0 && rc != ERR_TRUNCATED))
            return stop(s, rc, off);
        rc = need_more_or_damage(s, rc, off);
        if (rc != 1)
            return stop(s, rc, off);
        reader_reset(s);
    }
    return s->err;
}
