/* Log block chunk: how one stream's log chunk (formats/logchunk.h) is stored inside a persistent
 * block (engine/tsdb/block.h, chunk encoding CHUNK_LOG). An envelope around the log chunk bytes
 * with the chunk's exact nanosecond time range, entry and line-byte counts (index statistics
 * without decompressing), an optional trigram filter of the chunk's lines and (version 2) an
 * optional gram filter: a bloom filter of the minimizers of the lines' 8-byte grams, which rules
 * out chunks for long literals such as trace ids whose trigrams occur everywhere (line-filter
 * hints skip chunks that cannot contain a required literal), and the log chunk itself either as is
 * or as one zstd frame (its inner blocks are then stored uncompressed: zstd over the whole chunk
 * compresses far better than snappy per block). Byte layout: docs/formats/logblock.md.
 *
 * Pure code (no I/O, no threads); it lives beside the log store because only the log store
 * writes and reads it. Decoding never trusts its input: every length is bounds-checked, the
 * header and filter carry a CRC32C, and a zstd payload must decompress to exactly the announced
 * size; errors are ERR_TRUNCATED, ERR_CORRUPT or ERR_UNSUPPORTED (a newer version), never a
 * crash. Encoder and decoder scratch are owned by one thread at a time. */
#ifndef STRATA_ENGINE_LOGS_LOGBLOCK_H
#define STRATA_ENGINE_LOGS_LOGBLOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/str.h"

#define LOGBLOCK_MAGIC         0x4b424c53u /* bytes 53 4c 42 4b, "SLBK" */
#define LOGBLOCK_VERSION       2 /* newest version read; written only with a gram filter */
#define LOGBLOCK_VERSION_PLAIN 1 /* what envelopes without a gram filter are written as */
#define LOGBLOCK_HEADER_BYTES  48
/* Filter sizes: 2^LOG2 bits, LOG2 in [MIN, MAX] (256 B .. 8 KiB). */
#define LOGBLOCK_FILTER_LOG2_MIN 11
#define LOGBLOCK_FILTER_LOG2_MAX 16
/* Gram filter (version 2): grams of K bytes, minimizers over windows of W grams, so literals of at
 * least W + K - 1 bytes can be tested; about BITS_PER_KEY bits per distinct minimizer and PROBES
 * bits set per minimizer. Readers accept K in [1, 8], W in [1, 64], PROBES in [1, 8]. */
#define LOGBLOCK_GRAM_K            8
#define LOGBLOCK_GRAM_W            8
#define LOGBLOCK_GRAM_BITS_PER_KEY 2
#define LOGBLOCK_GRAM_PROBES       1
#define LOGBLOCK_GRAM_HEAD_BYTES   8
#define LOGBLOCK_GRAM_BITS_MAX     (1u << 27)
#define LOGBLOCK_FLAG_GRAMS        1u /* header byte 7 (version 2): a gram section follows */
/* Largest log chunk an envelope may announce (a reader allocates this much at most). */
#define LOGBLOCK_RAW_MAX (256u << 20)

enum logblock_codec {
    LOGBLOCK_CODEC_NONE = 0, /* payload = the log chunk bytes */
    LOGBLOCK_CODEC_ZSTD = 1, /* payload = one zstd frame holding the log chunk bytes */
};

/* A decoded envelope; pointers borrow the encoded bytes. */
struct logblock_info {
    int64_t mint_ns, maxt_ns; /* oldest and newest entry (inclusive) */
    uint32_t entries;         /* >= 1 */
    uint64_t line_bytes;      /* sum of line lengths */
    uint8_t codec;            /* enum logblock_codec */
    uint32_t raw_len;         /* log chunk bytes (after decompression) */
    const uint8_t *filter;    /* NULL when the chunk has no filter */
    uint8_t filter_log2;      /* 2^filter_log2 bits; 0 without a filter */
    const uint8_t *grams;     /* gram filter bits; NULL without one */
    uint32_t gram_bits;       /* its size in bits (a multiple of 64) */
    uint8_t gram_k, gram_w, gram_probes;
    const uint8_t *payload;
    uint32_t payload_len;
};

/* ---- encoding ---------------------------------------------------------------------------------
 */

struct logblock_enc {
    int zstd_level; /* 0: store the payload uncompressed */
    bool filter;    /* build a trigram filter */
    void *cctx;     /* ZSTD_CCtx, created on first use */
    uint64_t *seen; /* one bit per trigram code (2^24 bits), set for the codes in tri */
    uint32_t *tri;  /* distinct trigram codes noted since the last finish */
    size_t tri_cap, tri_n;
    uint64_t *keys; /* distinct nonzero gram minimizers since the last finish (hash set) */
    size_t keys_cap, keys_n;
    bool key_zero; /* the minimizer 0 was noted */
    /* gram filter parameters, LOGBLOCK_GRAM_* after init (tests and benchmarks may change them
     * before the first line: k in [1, 8], w in [1, 64], probes in [1, 8], bits_per_key >= 1) */
    uint8_t gram_k, gram_w, gram_probes, gram_bits_per_key;
    struct buf z; /* compressed payload scratch */
};

/* zstd_level 0 stores payloads as is (1..19: zstd level); filter = build trigram and gram
 * filters. */
void logblock_enc_init(struct logblock_enc *e, int zstd_level, bool filter);
void logblock_enc_deinit(struct logblock_enc *e);
/* Notes one line of the chunk being built (for the filter). 0 or ERR_NOMEM. */
int logblock_enc_line(struct logblock_enc *e, struct str line);
/* Appends the envelope of the finished log chunk `chunk` (len bytes, from logchunk_writer_finish,
 * holding `entries` entries in [mint_ns, maxt_ns] with line_bytes of lines) to out, with the
 * filter of the lines noted since the last finish, and forgets those lines. The payload is zstd
 * compressed when a level is set and that saves at least 1/16. Returns 0, ERR_NOMEM, ERR_LIMIT
 * (chunk larger than LOGBLOCK_RAW_MAX) or ERR_INVALID (bad arguments). */
int logblock_enc_finish(struct logblock_enc *e, const uint8_t *chunk, size_t len, int64_t mint_ns,
                        int64_t maxt_ns, uint32_t entries, uint64_t line_bytes, struct buf *out);

/* ---- decoding ---------------------------------------------------------------------------------
 */

/* Parses and checks an envelope of exactly n bytes (header, CRC, lengths). Does not decompress. */
int logblock_decode(const uint8_t *p, size_t n, struct logblock_info *out);

/* Bytes of an envelope's header and filters (all that logblock_may_contain reads), told from its
 * first `avail` bytes: 0 with *len; ERR_TRUNCATED with *len = the prefix needed to tell (read that
 * much and ask again; at most twice); or the header's ERR_CORRUPT / ERR_UNSUPPORTED. */
int logblock_filters_len(const uint8_t *p, size_t avail, size_t *len);

/* logblock_decode of an envelope of n bytes from only its first avail bytes (at least the
 * logblock_filters_len prefix; avail <= n, else ERR_INVALID): header, filters and their CRC are
 * checked, the payload is not (payload is NULL unless avail == n). A line hint can then skip the
 * chunk without reading it whole. */
int logblock_decode_filters(const uint8_t *p, size_t avail, size_t n, struct logblock_info *out);

/* Reads the counts from the first LOGBLOCK_HEADER_BYTES of an envelope without checking the rest
 * (index statistics). 0 or ERR_CORRUPT / ERR_TRUNCATED / ERR_UNSUPPORTED. */
int logblock_peek(const uint8_t *p, size_t n, uint32_t *entries, uint64_t *line_bytes);

/* False only when the chunk certainly holds no line containing `needle`: its trigram filter lacks
 * one of the needle's trigrams, or (needles of at least gram_w + gram_k - 1 bytes) its gram filter
 * lacks one of the minimizers of the needle's windows. Never false for a chunk with such a line.
 * Needles shorter than 3 bytes and chunks without filters: true. */
bool logblock_may_contain(const struct logblock_info *bi, struct str needle);

struct logblock_dec {
    void *dctx; /* ZSTD_DCtx, created on first use */
    struct buf raw;
};

void logblock_dec_init(struct logblock_dec *d);
void logblock_dec_deinit(struct logblock_dec *d);
/* The log chunk bytes of a decoded envelope: the payload itself (codec none) or its decompression
 * into d's buffer (valid until the next call or deinit). Returns 0, ERR_CORRUPT (the frame does not
 * decompress to exactly raw_len bytes) or ERR_NOMEM. */
int logblock_dec_chunk(struct logblock_dec *d, const struct logblock_info *bi,
                       const uint8_t **chunk, size_t *len);

#endif
