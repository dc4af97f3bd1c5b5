/* The start-up WAL replay driver shared by the metrics TSDB and the log store: runs
 * wal_replay_resuming over a store's WAL directory (the newest checkpoint, then the segments
 * after it, resuming after a damaged non-last segment, which is logged and counted), hands every
 * record to the store, counts records, records that are not the store's and the time taken; and
 * the SERIES / LOG_STREAMS item loop with its growing label buffer, which both stores (and
 * stratactl's head inspection) use to recreate series and streams with their ids.
 *
 * Threading: whatever thread replays (start-up, before the loop serves traffic). */
#ifndef STRATA_ENGINE_STORE_REPLAY_H
#define STRATA_ENGINE_STORE_REPLAY_H

#include <stddef.h>
#include <stdint.h>

#include "base/str.h"
#include "formats/walrec.h"

/* Returned by a store's record function for a record type it does not replay (cut markers, the
 * other store's records): counted in `other`. */
#define STORE_REPLAY_OTHER 1

struct store_replay {
    const char *log_prefix; /* "" or "logs ": "<prefix>wal replay: ..." */
    struct label *lbuf;     /* label buffer for the store's use (grown by store_replay_series) */
    size_t lcap;
    uint64_t records, other, bad_payloads;
    uint64_t corrupt_segments, lost_bytes; /* damaged non-last files skipped, bytes lost there */
    int64_t duration_ns;
};

/* Handles one record: 0, STORE_REPLAY_OTHER, or a negative error that stops the replay. */
typedef int (*store_replay_fn)(void *arg, struct store_replay *r, const struct walrec *rec);

/* Replays wal_dir into the store through fn. r is set up here (log_prefix kept) and its counts
 * are valid afterwards, also on an error (logged as "<prefix>wal replay failed"). Returns 0,
 * ERR_NOMEM, fn's error or wal_replay's other errors. */
int store_replay_run(struct store_replay *r, const char *log_prefix, const char *wal_dir,
                     store_replay_fn fn, void *arg);

/* Calls item(arg, s) for each item of a SERIES or LOG_STREAMS record, with labels decoded into
 * *lbuf (capacity *lcap, grown up to 65536 labels when a label set does not fit: the record is
 * then read again from the start, so item must take an item it already took as a no-op). A
 * payload that does not decode adds one to *bad_payloads and ends the record. Returns 0, item's
 * error or ERR_NOMEM. */
typedef int (*store_series_fn)(void *arg, const struct walrec_series *s);
int store_replay_series(const struct walrec *rec, struct label **lbuf, size_t *lcap,
                        store_series_fn item, void *arg, uint64_t *bad_payloads);

#endif
