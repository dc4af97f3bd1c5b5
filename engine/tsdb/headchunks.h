/* Head chunk files: closed chunks of the head, moved out of the heap into append-only files under
 * <shard>/chunks_head/ and read back through read-only memory maps. Byte layout:
 * docs/formats/headchunks.md.
 *
 * The files are a cache of data the WAL also holds: they let the head drop chunk bytes from RAM
 * and let a restart re-attach chunks instead of re-encoding every sample. Records are buffered in
 * memory and written with pwrite when the buffer fills (headchunks_flush, or before a read needs
 * them); a file is fdatasync'ed before the next one is started and at close, so what survives a
 * crash is always a PREFIX of the records written (the scan at open cuts a torn or corrupt tail and
 * drops every later file). The head's WAL replay relies on that prefix property.
 *
 * A chunk is addressed by (file sequence number, byte offset of its record). Reads verify the
 * record's CRC32C and return a view into the map; views stay valid until the file is deleted by
 * headchunks_truncate, or — while the files are pinned (headchunks_pin) — until the last unpin.
 *
 * Errors: operating errors are -errno or ERR_* (base/error.h); bad bytes found on disk are
 * ERR_CORRUPT, never an assert. A failed fdatasync panics (docs/ARCHITECTURE.md).
 * Threading: one owner (the shard thread); nothing here is thread-safe. */
#ifndef STRATA_ENGINE_TSDB_HEADCHUNKS_H
#define STRATA_ENGINE_TSDB_HEADCHUNKS_H

#include <stddef.h>
#include <stdint.h>

#define HEADCHUNKS_MAGIC         0x43485453u /* "STHC" little-endian */
#define HEADCHUNKS_VERSION       1
#define HEADCHUNKS_FILE_HDR_SIZE 16u
#define HEADCHUNKS_REC_HDR_SIZE  28u
#define HEADCHUNKS_REC_CRC_SIZE  4u
/* Record flags. */
#define HEADCHUNKS_F_OOO 0x01u /* the chunk holds out-of-order samples */

#define HEADCHUNKS_FLOOR_MAGIC       0x46485453u /* "STHF" little-endian */
#define HEADCHUNKS_FLOOR_SIZE        16u
#define HEADCHUNKS_FILE_SIZE_DEFAULT (128u << 20)
#define HEADCHUNKS_FILE_SIZE_MAX     (1u << 30)
#define HEADCHUNKS_WBUF_DEFAULT      (1u << 20)

/* One record's metadata (everything but the chunk bytes). */
struct headchunks_rec {
    uint32_t series_id;
    int64_t mint_ms; /* first sample */
    int64_t maxt_ms; /* last sample (inclusive) */
    uint16_t samples;
    uint8_t encoding; /* enum chunk_encoding (engine/tsdb/series_set.h) */
    uint8_t flags;    /* HEADCHUNKS_F_* */
};

struct headchunks_config {
    uint32_t
        file_size_max; /* bytes per file before a new one is started (≤ HEADCHUNKS_FILE_SIZE_MAX) */
    uint32_t write_buf_size; /* bytes buffered before a pwrite */
};

void headchunks_config_default(struct headchunks_config *c);

/* Called once per valid record found at open, in file order (so a series' chunks come in the order
 * they were written). Returning non-zero aborts headchunks_open with that value. */
typedef int (*headchunks_scan_fn)(void *arg, const struct headchunks_rec *rec, uint32_t file,
                                  uint32_t off);

struct headchunks;

/* Opens (creating when missing) the directory `dir` and scans the existing files: every valid
 * record that ends at or after the floor is reported to fn (may be NULL); a file's torn or corrupt
 * tail is cut off, files with a bad header and all files after the first damage are deleted. New
 * records go to a new file. Returns 0 with *out set, or -errno / ERR_NOMEM / fn's return value. */
int headchunks_open(const char *dir, const struct headchunks_config *cfg, headchunks_scan_fn fn,
                    void *arg, struct headchunks **out);
/* Writes what is buffered, syncs the current file, unmaps and frees everything. The files must not
 * be pinned. NULL is a no-op. */
void headchunks_close(struct headchunks *hc);

/* Appends one chunk record (buffered). On success *file and *off address it. Returns 0,
 * ERR_LIMIT (the record cannot fit in a file), or the error of a needed pwrite (-errno: the
 * record is then not written and the buffer keeps what it held). */
int headchunks_append(struct headchunks *hc, const struct headchunks_rec *rec, const uint8_t *data,
                      size_t len, uint32_t *file, uint32_t *off);
/* Writes the buffered records. Returns 0 or -errno (the rest stays buffered). */
int headchunks_flush(struct headchunks *hc);

/* Points *data and *len at the chunk bytes of the record at (file, off), verifying its CRC; with
 * rec non-NULL also returns its metadata. Flushes first when the record is still buffered. Returns
 * 0, ERR_NOT_FOUND (no such file or offset), ERR_CORRUPT (bad record), -errno (open/mmap/pwrite).
 */
int headchunks_get(struct headchunks *hc, uint32_t file, uint32_t off, struct headchunks_rec *rec,
                   const uint8_t **data, size_t *len);

/* Records mint_ms as the floor (durably, in the file "floor": after a restart, records ending
 * before it are not reported, whether or not their file still exists), then deletes every file
 * whose chunks all end before mint_ms (maxt < mint_ms), starting a new current file first when
 * the current one qualifies. Returns the number of files deleted, or -errno. */
int headchunks_truncate(struct headchunks *hc, int64_t mint_ms);
/* The floor: the highest mint ever passed to headchunks_truncate, also across restarts
 * (INT64_MIN when none). */
int64_t headchunks_floor(const struct headchunks *hc);

/* While pinned, deleted files stay mapped so views handed out earlier remain valid. Pins nest. */
void headchunks_pin(struct headchunks *hc);
void headchunks_unpin(struct headchunks *hc);

struct headchunks_stats {
    uint64_t files;
    uint64_t bytes_on_disk; /* including what is still buffered */
    uint64_t bytes_buffered;
    uint64_t records_written; /* since open */
    uint64_t files_deleted;   /* since open */
};
void headchunks_stats(const struct headchunks *hc, struct headchunks_stats *out);

/* ---- pure codec (no I/O), used by the scan and by tests ---- */

/* Size of a record holding `len` chunk bytes. */
static inline size_t headchunks_rec_size(size_t len)
{
    return HEADCHUNKS_REC_HDR_SIZE + len + HEADCHUNKS_REC_CRC_SIZE;
}
/* Writes the 16-byte file header for file `seq` at dst. */
void headchunks_file_header_put(uint8_t *dst, uint32_t seq);
/* Writes a record at dst (headchunks_rec_size(len) bytes). */
void headchunks_rec_put(uint8_t *dst, const struct headchunks_rec *rec, const uint8_t *data,
                        size_t len);
/* Parses the record at p[0..n): 0 with *rec, *data, *len and *size (bytes the record spans),
 * ERR_TRUNCATED when n is too short, ERR_CORRUPT when the bytes are not a valid record. */
int headchunks_rec_parse(const uint8_t *p, size_t n, struct headchunks_rec *rec,
                         const uint8_t **data, size_t *len, size_t *size);
/* The 16-byte floor file: magic, i64 floor, CRC32C of the first 12 bytes. Parse returns 0 or
 * ERR_CORRUPT. */
void headchunks_floor_put(uint8_t dst[HEADCHUNKS_FLOOR_SIZE], int64_t floor_ms);
int headchunks_floor_parse(const uint8_t *p, size_t n, int64_t *floor_ms);
/* Parses a whole file image: checks the header (ERR_TRUNCATED when shorter than a header,
 * ERR_CORRUPT when bad; ERR_UNSUPPORTED for a future version), then calls fn for each valid
 * record until the end or the first bad record. *valid_len is the length of the valid prefix
 * (header included; 0 when the header is bad) and *tail_err says why it stopped (0 = clean end,
 * ERR_TRUNCATED, ERR_CORRUPT). Returns 0, a header error, or fn's non-zero return. */
int headchunks_parse_file(const uint8_t *p, size_t n, uint32_t seq, headchunks_scan_fn fn,
                          void *arg, size_t *valid_len, int *tail_err);

#endif
