#!/usr/bin/env python3
"""Crash test: kill -9 strata at random moments under remote-write load, restart it on the same
data directory each time (>= 20 rounds), and prove that every sample that was acknowledged with a
204 is on disk, bit for bit, after the last restart (read with tsdb_dump).

Load: several writer threads, each owning its own series, send batches with strictly increasing
timestamps on keep-alive connections and record which batches got 204. A batch that got no answer
may or may not be stored; the next round continues after it, so everything stays in order.

usage: crash_test.py --strata PATH --dump PATH [--case crash]
Environment: STRATA_CRASH_ROUNDS (default 20).
"""
import http.client
import os
import random
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rwproto as rw  # noqa: E402

T0 = 1700000000000
WRITERS = 3
SERIES = 25  # per writer


def labels(w, s):
    return [("__name__", "crash_test"), ("series", str(s)), ("writer", str(w))]


def value(seq, s):
    return float(seq * 1000 + s) + 0.25


class Writer(threading.Thread):
    def __init__(self, w, port, seq, acked, stop):
        super().__init__()
        self.w, self.port, self.seq, self.acked, self.stop = w, port, seq, acked, stop

    def run(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        while not self.stop.is_set():
            seq = self.seq[self.w]
            self.seq[self.w] += 1  # never reuse a timestamp, answered or not
            ts = T0 + seq * 1000
            batch = [(labels(self.w, s), [(ts, value(seq, s))]) for s in range(SERIES)]
            try:
                st, _, body = rw.post(self.port, rw.snappy_block(rw.v1_request(batch)), conn=conn)
            except (OSError, http.client.HTTPException):
                return  # the server died
            if st == 204:
                self.acked.append((self.w, seq))
            elif st != 503:
                raise AssertionError(f"unexpected {st}: {body!r}")


def round_(binary, data_dir, seq, acked, rng):
    srv = rw.Server(binary, data_dir, shards=2).wait_ready()
    stop = threading.Event()
    before = len(acked)
    ws = [Writer(w, srv.port, seq, acked, stop) for w in range(WRITERS)]
    for t in ws:
        t.start()
    time.sleep(rng.uniform(0.2, 1.0))
    srv.kill()  # SIGKILL: no shutdown path runs
    stop.set()
    for t in ws:
        t.join()
    return len(acked) - before


def case_crash(binary, dump, tmp):
    rounds = int(os.environ.get("STRATA_CRASH_ROUNDS", "20"))
    seed = int(os.environ.get("STRATA_TEST_SEED", str(int(time.time()))))
    rng = random.Random(seed)
    print(f"crash test: {rounds} rounds, seed {seed}")
    data_dir = os.path.join(tmp, "data")
    seq = [0] * WRITERS
    acked = []
    for r in range(rounds):
        n = round_(binary, data_dir, seq, acked, rng)
        print(f"round {r + 1}: {n} batches acknowledged, then kill -9")
    assert len(acked) >= rounds, "too few writes were acknowledged to prove anything"
    # a last clean start (replaying everything) and stop
    srv = rw.Server(binary, data_dir, shards=2).wait_ready()
    assert srv.stop() == 0
    got, total = rw.dump(dump, data_dir)
    missing = 0
    for w, s in [(w, s) for w in range(WRITERS) for s in range(SERIES)]:
        key = ("anonymous",) + tuple(sorted(labels(w, s)))
        have = got.get(key, {})
        for t, v in have.items():  # nothing that was never sent
            sq = (t - T0) // 1000
            assert sq < seq[w] and v == rw.bits(value(sq, s)), (key, t, v)
    for w, sq in acked:
        for s in range(SERIES):
            key = ("anonymous",) + tuple(sorted(labels(w, s)))
            if got.get(key, {}).get(T0 + sq * 1000) != rw.bits(value(sq, s)):
                missing += 1
    print(f"{len(acked)} acknowledged batches ({len(acked) * SERIES} samples), "
          f"{total['samples']} samples stored, {missing} acknowledged samples missing")
    assert missing == 0, f"{missing} acknowledged samples lost"


if __name__ == "__main__":
    sys.exit(rw.main({"crash": case_crash}, __doc__))
