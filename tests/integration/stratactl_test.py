#!/usr/bin/env python3
"""Integration tests for `stratactl inspect` (docs/stratactl.md).

cases:
  cli             --help texts and exit codes (0 ok, 1 error, 2 usage)
  fixture         a data directory built through the engine by stratactl_fixture (blocks cut by
                  the tsdb, checkpointed WAL with a torn tail, head chunk files, a quarantined
                  block, a block being written): the JSON report, the text report and
                  --series-samples must match what the fixture wrote, and the directory must be
                  unchanged, byte for byte, afterwards
  running_server  the real strata with remote write: inspect while it runs (the LOCK is held;
                  writes and head cuts go on meanwhile) sees every acknowledged sample; after
                  kill -9, and after a restart, it still counts exactly what was acknowledged

usage: stratactl_test.py --stratactl PATH --fixture PATH [--strata PATH] --case NAME|all
Exit status: 0 pass, 1 fail, 77 skip.
"""
import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rwproto as rw  # noqa: E402

CASES = {}
FX_T0 = 1700006400000
HOUR = 3600000


def case(fn):
    CASES[fn.__name__.removeprefix("case_")] = fn
    return fn


def run(args, timeout=300, ok=(0,)):
    r = subprocess.run(args, capture_output=True, timeout=timeout)
    if r.returncode not in ok:
        raise AssertionError(f"{args} exited {r.returncode}:\n{r.stderr.decode()[-3000:]}")
    return r


def inspect_json(ctl, data_dir, *extra):
    return json.loads(run([ctl, "inspect", data_dir, "--json", *extra]).stdout)


def series_samples(ctl, data_dir, *extra):
    """{labels tuple: (samples, min, max)} and the total line."""
    out, total = {}, None
    for line in run([ctl, "inspect", data_dir, "--series-samples", "--json", *extra]).stdout \
            .decode().splitlines():
        o = json.loads(line)
        if "total" in o:
            total = o
            continue
        key = tuple(sorted(o["labels"].items()))
        assert key not in out, f"series {key} listed twice"
        out[key] = (o["samples"], o["min_time_ms"], o["max_time_ms"])
    assert total is not None, "no total line"
    assert total["total"]["series"] == len(out)
    assert total["total"]["samples"] == sum(v[0] for v in out.values())
    return out, total


def snapshot(d):
    """Every path under d with its mode, size, mtime and content hash."""
    snap = []
    for dirpath, dirnames, filenames in os.walk(d):
        dirnames.sort()
        for n in sorted(dirnames + filenames):
            p = os.path.join(dirpath, n)
            st = os.lstat(p)
            h = ""
            if os.path.isfile(p):
                with open(p, "rb") as f:
                    h = hashlib.sha1(f.read()).hexdigest()
            snap.append((p, st.st_mode, st.st_size, st.st_mtime_ns, h))
    return snap


# ---- cli ----------------------------------------------------------------------------------------

@case
def case_cli(a, tmp):
    ctl = a.stratactl
    r = run([ctl, "--help"])
    assert b"inspect" in r.stdout and b"exit status" in r.stdout, r.stdout
    r = run([ctl, "inspect", "--help"])
    assert b"usage: stratactl inspect DATA_DIR" in r.stdout and b"--series-samples" in r.stdout
    run([ctl, "--version"])
    for args in ([], ["frobnicate"], ["inspect"], ["inspect", "--top", "x", "/d"],
                 ["inspect", "/a", "/b"], ["inspect", "--bogus", "/d"]):
        r = run([ctl, *args], ok=(2,))
        assert r.stderr, args
    r = run([ctl, "inspect", os.path.join(tmp, "missing")], ok=(1,))
    assert b"no such data directory" in r.stderr, r.stderr
    os.makedirs(os.path.join(tmp, "d", "shard-000"))
    r = run([ctl, "inspect", os.path.join(tmp, "d"), "--shard", "3"], ok=(1,))
    assert b"no shard-003" in r.stderr, r.stderr
    # an empty shard: everything zero, exit 0
    o = inspect_json(ctl, os.path.join(tmp, "d"))
    assert o["total"]["samples"] == 0 and len(o["shards"]) == 1, o
    assert o["shards"][0]["head"]["min_time_ms"] is None


# ---- fixture ------------------------------------------------------------------------------------

def read_expect(path):
    want = {}
    with open(path) as f:
        for line in f:
            labels_text, n, mn, mx = line.rstrip("\n").split("\t")
            want[labels_text] = (int(n), int(mn), int(mx))
    return want


@case
def case_fixture(a, tmp):
    data, expect = os.path.join(tmp, "data"), os.path.join(tmp, "expect.tsv")
    r = subprocess.run([a.fixture, data, expect, "2", "30", "7", "60000"], capture_output=True,
                       timeout=300)
    if r.returncode == 77:
        raise rw.Skip("io_uring unavailable")
    assert r.returncode == 0, r.stderr.decode()
    want = read_expect(expect)
    assert len(want) == 60
    before = snapshot(data)
    env_tmp = os.path.join(tmp, "scratch")
    os.makedirs(env_tmp)
    ctl = a.stratactl

    o = inspect_json(ctl, data, "--top", "3", "--tmp-dir", env_tmp)
    assert o["shards_declared"] == 2 and len(o["shards"]) == 2
    for i, s in enumerate(o["shards"]):
        assert s["shard"] == i
        assert len(s["blocks"]) == 2, s["blocks"]
        for j, b in enumerate(s["blocks"]):
            assert b["level"] == 1 and b["series"] == 30 and b["samples"] == 30 * 120, b
            assert b["min_time_ms"] == FX_T0 + j * 2 * HOUR
            assert b["max_time_ms"] == FX_T0 + (j + 1) * 2 * HOUR
            assert b["min_time"] == ["2023-11-15T00:00:00.000Z", "2023-11-15T02:00:00.000Z"][j]
            assert b["size_bytes"] > 0 and 0 < b["bytes_per_sample"] < 16
            assert not b["superseded"]
        h = s["head"]
        assert h["series"] == 30 and h["samples"] == 30 * 180 + 3, h
        assert h["min_time_ms"] == FX_T0 + 4 * HOUR and h["max_time"] == "2023-11-15T06:59:00.000Z"
        assert h["chunk_files"] >= 1 and s["wal"]["segments"] >= 1 and s["wal"]["checkpoint"] >= 1
        assert s["wal"]["damaged_files"] == 0
    s0, s1 = o["shards"]
    assert s0["wal"]["tail"]["kind"] == "torn" and s0["wal"]["tail"]["lost_bytes"] > 0, s0["wal"]
    assert s1["wal"]["tail"] is None
    assert s0["quarantine"] == [] and len(s1["quarantine"]) == 1
    q = s1["quarantine"][0]
    assert q["meta"] and q["series"] == 1 and q["samples"] == 120 and q["name"] == q["ulid"], q
    assert s0["blocks_in_progress"] == 0 and s1["blocks_in_progress"] == 1
    t = o["total"]
    assert t["samples"] == sum(v[0] for v in want.values()), (t, len(want))
    assert t["blocks"] == 4 and t["quarantined_blocks"] == 1 and t["unreadable_blocks"] == 0
    an = o["analysis"]
    assert an["series"] == 60 and an["top"] == 3
    assert an["metric_names_most_series"] == [
        {"name": "fx_metric_0", "series": 20}, {"name": "fx_metric_1", "series": 20},
        {"name": "fx_metric_2", "series": 20}], an
    assert an["highest_cardinality_labels"][0] == {"name": "instance", "values": 60}
    assert an["label_pairs_most_series"][0] == {"name": "__tenant__", "value": "anonymous",
                                                "series": 48}
    assert len(an["label_value_lengths"]) == 3
    assert any("torn record" in w for w in o["warnings"]), o["warnings"]

    got, total = series_samples(ctl, data)
    assert total["total"]["samples"] == t["samples"]
    canon = {}
    for line in run([ctl, "inspect", data, "--series-samples"]).stdout.decode().splitlines():
        if line.startswith("# "):
            assert line.startswith(f"# series 60 samples {t['samples']} "), line
            continue
        labels_text, n, mn, mx = line.rsplit(" ", 3)
        canon[labels_text] = (int(n), int(mn), int(mx))
    assert canon == want, set(canon.items()) ^ set(want.items())
    assert sorted(got.values()) == sorted(want.values())

    text = run([ctl, "inspect", data]).stdout.decode()
    for s in ("data directory", "shard 0 (", "wal tail: torn", "quarantined blocks: 1",
              "Metric names with most series:", "cardinality: 60 distinct series"):
        assert s in text, s
    only = inspect_json(ctl, data, "--shard", "1", "--top", "0")
    assert len(only["shards"]) == 1 and only["analysis"] is None

    assert snapshot(data) == before, "inspect modified the data directory"
    assert os.listdir(env_tmp) == [], os.listdir(env_tmp)


# ---- running server -----------------------------------------------------------------------------

STEP = 60000
# Recent data: retention (15 d by default) would delete blocks of older data while we look.
T0 = (int(time.time() * 1000) - 8 * HOUR) // STEP * STEP


def up(name, i, samples):
    return ([("__name__", name), ("i", str(i)), ("job", "st")], samples)


def key(name, i):
    return tuple(sorted([("__name__", name), ("__tenant__", "anonymous"), ("i", str(i)),
                         ("job", "st")]))


class Writer(threading.Thread):
    """Writes series `name` 0..n-1 one timestamp per request until stopped; records the acked
    timestamps."""

    def __init__(self, port, name, n, start):
        super().__init__()
        self.port, self.name, self.n, self.next = port, name, n, start
        self.acked = []
        self.stop = threading.Event()
        self.error = None

    def run(self):
        while not self.stop.is_set():
            ts = self.next
            self.next += STEP
            try:
                st, _, body = rw.write_v1(self.port, [up(self.name, i, [(ts, float(i))])
                                                      for i in range(self.n)], timeout=10)
            except OSError:
                return  # the server died
            if st == 204:
                self.acked.append(ts)
            elif st not in (429, 503):
                self.error = f"{st}: {body!r}"
                return


def check_acked(got, name, n, acked, exact):
    for i in range(n):
        have = got.get(key(name, i))
        if not acked:
            continue
        assert have is not None, f"{name} {i} missing"
        if exact:
            assert have == (len(acked), min(acked), max(acked)), (name, i, have, len(acked))
        else:
            assert have[0] >= len(acked) and have[1] <= min(acked) and have[2] >= max(acked), \
                (name, i, have, len(acked))


@case
def case_running_server(a, tmp):
    if not a.strata:
        raise rw.Skip("no --strata")
    ctl, data = a.stratactl, os.path.join(tmp, "data")
    srv = rw.Server(a.strata, data, shards=2).wait_ready()
    # 7 h of data for 20 series, 10 timestamps per request: the server cuts blocks meanwhile
    base = []
    for r0 in range(0, 7 * 60, 10):
        ts = [T0 + (r0 + k) * STEP for k in range(10)]
        st, _, body = rw.write_v1(srv.port, [up("base", i, [(t, float(i)) for t in ts])
                                             for i in range(20)])
        assert st == 204, (st, body)
        base += ts
    # while it runs (the LOCK is held): every acknowledged sample is seen
    got, _ = series_samples(ctl, data)
    check_acked(got, "base", 20, base, exact=True)
    # with writes going on during each inspection
    w = Writer(srv.port, "live", 10, T0 + 8 * HOUR)
    w.start()
    try:
        for _ in range(3):
            while len(w.acked) < 5:
                time.sleep(0.01)
            acked_before = list(w.acked)
            got, _ = series_samples(ctl, data)
            check_acked(got, "base", 20, base, exact=True)
            check_acked(got, "live", 10, acked_before, exact=False)
            o = inspect_json(ctl, data)
            assert o["total"]["samples"] >= len(base) * 20
            time.sleep(0.3)
    finally:
        w.stop.set()
        w.join()
    assert w.error is None, w.error
    # kill -9: what was acknowledged is all there, the torn tail (if any) is tolerated
    srv.kill()
    got, _ = series_samples(ctl, data)
    check_acked(got, "base", 20, base, exact=True)
    check_acked(got, "live", 10, w.acked, exact=False)
    live_n = {i: got[key("live", i)] for i in range(10)}
    # inspect changed nothing: the server starts, replays, and still holds exactly that
    before = snapshot(data)
    inspect_json(ctl, data)
    assert snapshot(data) == before, "inspect modified the data directory"
    srv = rw.Server(a.strata, data, shards=2).wait_ready()
    assert srv.stop() == 0
    got, _ = series_samples(ctl, data)
    check_acked(got, "base", 20, base, exact=True)
    for i in range(10):
        assert got[key("live", i)] == live_n[i], (i, got[key("live", i)], live_n[i])
    o = inspect_json(ctl, data)
    assert o["total"]["head_samples"] + o["total"]["block_samples"] == o["total"]["samples"]
    assert o["total"]["samples"] == len(base) * 20 + sum(v[0] for v in live_n.values())
    assert o["total"]["blocks"] >= 1, o["total"]  # 7 h of data: the head was cut
    assert o["analysis"]["series"] == 30


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stratactl", required=True)
    ap.add_argument("--fixture", required=True)
    ap.add_argument("--strata")
    ap.add_argument("--case", default="all")
    a = ap.parse_args()
    names = list(CASES) if a.case == "all" else [a.case]
    failed = 0
    for name in names:
        if name not in CASES:
            print(f"unknown case {name}")
            return 1
        tmp = tempfile.mkdtemp(prefix="stratactl-it-")
        t0 = time.time()
        try:
            CASES[name](a, tmp)
            print(f"PASS {name} ({time.time() - t0:.1f}s)")
        except rw.Skip as e:
            print(f"SKIP {name}: {e}")
            if len(names) == 1:
                return 77
        except Exception:
            failed += 1
            print(f"FAIL {name}")
            traceback.print_exc()
            for f in sorted(os.listdir(tmp)):
                if f.endswith(".log"):
                    with open(os.path.join(tmp, f), errors="replace") as fh:
                        print(f"---- {f} (tail) ----\n" + fh.read()[-4000:])
        finally:
            rw.Server.kill_all()
            if not failed or os.environ.get("STRATA_KEEP_TMP") is None:
                shutil.rmtree(tmp, ignore_errors=True)
        sys.stdout.flush()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
