#!/usr/bin/env python3
"""strata vs Prometheus 2.42, side by side on one machine (driver of `make bench-compare`).

Phases (each server alone in turn, pinned to core 0 with taskset; Prometheus with GOMAXPROCS=1;
strata with --shards 1; strata-load and this driver on core 1):
  ingest   closed-loop remote write 1.0 of the same node_exporter-like workload (same seed) into a
           fresh data dir for a fixed time, several repetitions alternating the servers: accepted
           samples/s, server CPU-seconds per million samples (utime+stime of /proc/PID/stat), errors,
           accepted samples/s over time (counter polled once a second) and request latency.
  memory   a fresh server's VmRSS idle, then with every series of the size active, each written the
           same number of times on both servers (raw and idle-baseline-subtracted per series);
           the VmRSS after each ingest repetition is kept too.
  disk     24 h of 15 s history (strata-load --backfill 24h, a fixed --start so both get identical
           samples), wait until block cutting and compaction settle, stop cleanly: bytes per sample
           of the blocks (directory bytes / meta.json numSamples) and of the whole data dir.
  query    before that stop: a dashboard suite of PromQL range queries (bench/compare/queries.txt),
           median of N runs each, answers of the two servers compared (same series, same timestamps,
           values within 1e-9 relative), peak RSS delta of the largest query.
  http     bench/http/wrk_vs_nginx.sh (its JSON summary);
  logs     bench/logs/run.sh (strata's log scan next to ripgrep) when it exists, its JSON lines.
Writes build/bench-compare/compare-<UTC>.json (copied to docs/benchmarks/compare-latest.json), PNG
plots in docs/img/ and the section between the bench-compare markers of docs/benchmarks.md.
Never passes or fails on time; exit status 1 when a phase could not run (its error is recorded, the
other phases still run), else 0.
"""
import argparse
import datetime
import http.client
import json
import math
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CLK_TCK = os.sysconf("SC_CLK_TCK")
SERIES_PER_TARGET = 500
SERVERS = ("strata", "prometheus")

# active_targets x 500 series are ingested; backfill_targets x 500 series get 24 h of history.
SIZES = {
    "small": dict(active_targets=20, ingest_s=8, reps=2, memory_passes=4, backfill_targets=2,
                  query_runs=3, http_reps=1, http_duration="5s", settle_max_s=90,
                  logs_size="small"),
    "default": dict(active_targets=200, ingest_s=20, reps=3, memory_passes=4, backfill_targets=20,
                    query_runs=5, http_reps=3, http_duration="10s", settle_max_s=150,
                    logs_size="small"),
    # large: the issues' sizes, 1 M active series and 100 k series x 24 h for disk and queries
    "large": dict(active_targets=2000, ingest_s=60, reps=3, memory_passes=4, backfill_targets=200,
                  query_runs=5, http_reps=3, http_duration="10s", settle_max_s=600,
                  logs_size="default"),
}


def log(*a):
    print("[bench-compare %s]" % time.strftime("%H:%M:%S"), *a, file=sys.stderr, flush=True)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def geomean(xs):
    xs = [x for x in xs if x and x > 0]
    return math.exp(sum(math.log(x) for x in xs) / len(xs)) if xs else None


def ratio(a, b):
    return a / b if a is not None and b else None


def dir_bytes(path):
    total = 0
    for dp, _, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(dp, f)).st_size
            except OSError:
                pass
    return total


# ---- /proc -------------------------------------------------------------------------------------

def proc_cpu_s(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime (fields 14, 15)


def proc_status_kib(pid, key):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return None


def clear_hwm(pid):
    with open("/proc/%d/clear_refs" % pid, "w") as f:
        f.write("5")


# ---- servers -----------------------------------------------------------------------------------

class Server:
    """One strata or Prometheus process on core 0 with its own data dir and port."""

    def __init__(self, kind, args, data_dir, workdir):
        self.kind, self.args, self.data_dir = kind, args, data_dir
        self.port = free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        self.log_path = os.path.join(workdir, "%s-%d.log" % (kind, self.port))
        self.proc = None

    def start(self):
        env = dict(os.environ)
        if self.kind == "strata":
            cmd = [self.args.strata, "--shards", "1", "--listen", "127.0.0.1:%d" % self.port,
                   "--data-dir", self.data_dir, "--log.level", "warn"]
        else:
            env["GOMAXPROCS"] = "1"
            cfg = os.path.join(os.path.dirname(self.data_dir), "prometheus.yml")
            with open(cfg, "w") as f:
                f.write("global:\n  scrape_interval: 15s\nscrape_configs: []\n")
            cmd = [self.args.prometheus, "--config.file", cfg, "--storage.tsdb.path", self.data_dir,
                   "--web.listen-address", "127.0.0.1:%d" % self.port,
                   "--web.enable-remote-write-receiver", "--log.level", "warn"]
        self.logf = open(self.log_path, "ab")
        self.proc = subprocess.Popen(["taskset", "-c", str(self.args.server_cpu)] + cmd, env=env,
                                     stdout=self.logf, stderr=self.logf)
        ready = "/ready" if self.kind == "strata" else "/-/ready"
        deadline = time.time() + 120
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("%s exited at start (log %s)" % (self.kind, self.log_path))
            try:
                if http_get(self.url + ready, timeout=2)[0] == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError("%s not ready in 120 s (log %s)" % (self.kind, self.log_path))

    @property
    def pid(self):
        return self.proc.pid  # taskset execs the server: same pid

    def stop(self):
        if not self.proc:
            return None
        t0 = time.time()
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        self.logf.close()
        self.proc = None
        return {"exit": rc, "stop_s": round(time.time() - t0, 3)}

    def metric(self, name):
        """Sum of every sample of metric `name` in /metrics (None if absent)."""
        st, body = http_get(self.url + "/metrics", timeout=10)
        total, seen = 0.0, False
        for line in body.decode().splitlines():
            if line.startswith(name) and line[len(name):len(name) + 1] in ("{", " "):
                total += float(line.rsplit(" ", 1)[1])
                seen = True
        return total if seen else None

    def samples_appended(self):
        n = ("strata_tsdb_samples_appended_total" if self.kind == "strata"
             else "prometheus_tsdb_head_samples_appended_total")
        return self.metric(n)

    def head_series(self):
        return self.metric("strata_tsdb_head_series" if self.kind == "strata"
                           else "prometheus_tsdb_head_series")

    def blocks_root(self):
        return (os.path.join(self.data_dir, "shard-000", "blocks") if self.kind == "strata"
                else self.data_dir)


def http_get(url, timeout=60):
    u = urllib.parse.urlsplit(url)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    try:
        c.request("GET", u.path + ("?" + u.query if u.query else ""))
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


def list_blocks(root):
    """Block directories (with meta.json) under root: {name: (bytes, numSamples, meta)}."""
    out = {}
    if not os.path.isdir(root):
        return out
    for name in sorted(os.listdir(root)):
        meta = os.path.join(root, name, "meta.json")
        if not os.path.isfile(meta):
            continue
        try:
            with open(meta) as f:
                m = json.load(f)
        except (OSError, ValueError):
            continue
        out[name] = (dir_bytes(os.path.join(root, name)), int(m["stats"]["numSamples"]), m)
    return out


# ---- strata-load -------------------------------------------------------------------------------

def run_load(args, url, extra, json_path):
    cmd = ["taskset", "-c", str(args.client_cpu), args.load, "metrics", "--target", url,
           "--series-per-target", str(SERIES_PER_TARGET), "--seed", str(args.seed),
           "--connections", str(args.connections), "--quiet", "--json", json_path] + extra
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if p.returncode not in (0, 3):
        raise RuntimeError("strata-load failed (%d): %s" % (p.returncode, p.stderr.decode()[-500:]))
    with open(json_path) as f:
        return json.load(f)


class Poller(threading.Thread):
    """Samples the server's appended-samples counter and CPU time once a second."""

    def __init__(self, srv):
        super().__init__(daemon=True)
        self.srv, self.points, self.stop_ev = srv, [], threading.Event()

    def run(self):
        t0 = time.time()
        while not self.stop_ev.is_set():
            try:
                self.points.append((time.time() - t0, self.srv.samples_appended() or 0.0,
                                    proc_cpu_s(self.srv.pid)))
            except (OSError, ValueError):
                pass
            self.stop_ev.wait(1.0)

    def rates(self):
        out = []
        for (t0, s0, c0), (t1, s1, c1) in zip(self.points, self.points[1:]):
            if t1 > t0:
                out.append((round(t1, 2), (s1 - s0) / (t1 - t0), (c1 - c0) / (t1 - t0)))
        return out


# ---- phases ------------------------------------------------------------------------------------

def ingest_rep(args, cfg, kind, rep, work):
    data = os.path.join(work, "ingest-%s-%d" % (kind, rep), "data")
    os.makedirs(os.path.dirname(data), exist_ok=True)
    srv = Server(kind, args, data, work).start()
    try:
        time.sleep(2)
        base_rss = proc_status_kib(srv.pid, "VmRSS")
        poll = Poller(srv)
        cpu0 = proc_cpu_s(srv.pid)
        poll.start()
        rep_json = os.path.join(work, "ingest-%s-%d.json" % (kind, rep))
        r = run_load(args, srv.url, ["--targets", str(cfg["active_targets"]), "--rate", "0",
                                     "--duration", "%ds" % cfg["ingest_s"]], rep_json)
        cpu1 = proc_cpu_s(srv.pid)
        poll.stop_ev.set()
        poll.join()
        m = r["metrics"]
        series = srv.head_series()
        time.sleep(1)
        rss = proc_status_kib(srv.pid, "VmRSS")
    finally:
        stop = srv.stop()
    shutil.rmtree(os.path.dirname(data), ignore_errors=True)
    errors = m["failed"] + sum(m.get("conn_errors", {}).values())
    cpu = cpu1 - cpu0
    res = {
        "rep": rep, "samples": m["units"], "elapsed_s": r["elapsed_s"],
        "samples_per_s": m["units_per_s"], "requests": m["requests"], "ok": m["ok"],
        "errors": errors, "status": m.get("status"), "last_error": m.get("last_error"),
        "server_cpu_s": round(cpu, 3), "client_cpu_s": r.get("cpu_s"),
        "cpu_s_per_m_samples": cpu / m["units"] * 1e6 if m["units"] else None,
        "samples_per_cpu_s": m["units"] / cpu if cpu > 0 else None,
        "latency_ms": m["latency_ms"], "head_series": series,
        "rss_idle_kib": base_rss, "rss_kib": rss,
        "rss_per_series_b": rss * 1024 / series if series else None,
        "rss_per_series_net_b": (rss - base_rss) * 1024 / series if series else None,
        "timeline": poll.rates(), "stop": stop,
    }
    log("ingest %-10s rep %d: %.0f samples/s, %.3f CPU-s/M, %d errors, %s series, RSS %d KiB "
        "(idle %d)" % (kind, rep, res["samples_per_s"], res["cpu_s_per_m_samples"] or 0, errors,
                       series, rss, base_rss))
    return res


def ingest_phase(args, cfg, work):
    reps = {k: [] for k in SERVERS}
    for rep in range(1, cfg["reps"] + 1):
        for kind in SERVERS:
            reps[kind].append(ingest_rep(args, cfg, kind, rep, work))
    out = {"series": cfg["active_targets"] * SERIES_PER_TARGET, "duration_s": cfg["ingest_s"],
           "connections": args.connections, "protocol": "rw1", "loop": "closed", "reps": reps}
    for kind in SERVERS:
        rs = reps[kind]
        out[kind] = {key: median([r[key] for r in rs]) for key in (
            "samples_per_s", "cpu_s_per_m_samples", "samples_per_cpu_s", "rss_kib",
            "rss_idle_kib", "rss_per_series_b", "rss_per_series_net_b", "head_series")}
        out[kind]["errors"] = sum(r["errors"] for r in rs)
        out[kind]["latency_ms"] = {p: median([r["latency_ms"][p] for r in rs])
                                   for p in ("p50", "p90", "p99", "max", "mean")}
    s, p = out["strata"], out["prometheus"]
    out["ratio"] = {
        "samples_per_s": ratio(s["samples_per_s"], p["samples_per_s"]),
        "cpu_s_per_m_samples": ratio(s["cpu_s_per_m_samples"], p["cpu_s_per_m_samples"]),
        "rss_per_series_b": ratio(s["rss_per_series_b"], p["rss_per_series_b"]),
        "rss_per_series_net_b": ratio(s["rss_per_series_net_b"], p["rss_per_series_net_b"]),
    }
    return out


def memory_one(args, cfg, kind, work):
    """Fresh server: idle RSS, then every series of the size written `passes` times (the same
    samples per series for both servers, whatever their speed), then RSS with all of them active."""
    data = os.path.join(work, "memory-%s" % kind, "data")
    os.makedirs(os.path.dirname(data), exist_ok=True)
    series = cfg["active_targets"] * SERIES_PER_TARGET
    batch = 2000
    requests = -(-series // batch) * cfg["memory_passes"]
    srv = Server(kind, args, data, work).start()
    try:
        time.sleep(2)
        idle = proc_status_kib(srv.pid, "VmRSS")
        r = run_load(args, srv.url, ["--targets", str(cfg["active_targets"]), "--rate", "0",
                                     "--batch", str(batch), "--requests", str(requests),
                                     "--duration", "0"],
                     os.path.join(work, "memory-%s.json" % kind))
        time.sleep(2)
        head = srv.head_series()
        rss = proc_status_kib(srv.pid, "VmRSS")
    finally:
        stop = srv.stop()
    shutil.rmtree(os.path.dirname(data), ignore_errors=True)
    m = r["metrics"]
    out = {"series_sent": series, "head_series": head, "samples": m["units"],
           "errors": m["failed"] + sum(m.get("conn_errors", {}).values()),
           "rss_idle_kib": idle, "rss_kib": rss,
           "rss_per_series_b": rss * 1024 / head if head else None,
           "rss_per_series_net_b": (rss - idle) * 1024 / head if head else None, "stop": stop}
    log("memory %-10s: %s series active, RSS %d KiB (idle %d): %.0f B/series raw, %.0f net" % (
        kind, head, rss, idle, out["rss_per_series_b"] or 0, out["rss_per_series_net_b"] or 0))
    return out


def memory_phase(args, cfg, work):
    out = {"passes": cfg["memory_passes"]}
    for kind in SERVERS:
        out[kind] = memory_one(args, cfg, kind, work)
    out["ratio"] = {k: ratio(out["strata"][k], out["prometheus"][k]) for k in (
        "rss_idle_kib", "rss_kib", "rss_per_series_b", "rss_per_series_net_b")}
    return out


def wait_settled(srv, cfg):
    """Waits until the set of finished blocks stops changing (cuts and compactions done)."""
    root = srv.blocks_root()
    t0 = time.time()
    last, stable_since = None, time.time()
    while time.time() - t0 < cfg["settle_max_s"]:
        names = sorted(n for n in (os.listdir(root) if os.path.isdir(root) else [])
                       if os.path.isdir(os.path.join(root, n)))
        cur = (tuple(names), srv.metric("strata_tsdb_head_cuts_total" if srv.kind == "strata"
                                        else "prometheus_tsdb_compactions_total"))
        if cur != last:
            last, stable_since = cur, time.time()
        elif time.time() - stable_since >= 15 and not any(".tmp" in n for n in names):
            return round(time.time() - t0, 1), True
        time.sleep(1)
    return round(time.time() - t0, 1), False


def parse_dur(s):
    m = re.fullmatch(r"(\d+)([smh])", s.strip())
    return int(m.group(1)) * {"s": 1, "m": 60, "h": 3600}[m.group(2)]


def load_queries(path):
    qs = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            name, rng, step, q = [x.strip() for x in line.split("|", 3)]
            largest = name.endswith("*")
            qs.append({"name": name.rstrip("*"), "range_s": parse_dur(rng),
                       "step_s": parse_dur(step), "query": q, "largest": largest})
    return qs


def run_query(srv, q, end):
    params = urllib.parse.urlencode({"query": q["query"], "start": end - q["range_s"], "end": end,
                                     "step": q["step_s"]})
    t0 = time.perf_counter()
    st, body = http_get(srv.url + "/api/v1/query_range?" + params, timeout=300)
    dt = time.perf_counter() - t0
    return st, body, dt


def query_suite(srv, qs, end, runs, end_aligned):
    out = {}
    for q in qs:
        if q["largest"]:
            clear_hwm(srv.pid)
            cold_before = proc_status_kib(srv.pid, "VmRSS")
        st, body, _ = run_query(srv, q, end)  # warm-up; its answer is the one compared
        if q["largest"]:
            cold_delta = max(0, proc_status_kib(srv.pid, "VmHWM") - cold_before)
        try:
            doc = json.loads(body)
        except ValueError:
            doc = {"status": "error", "error": body[:300].decode(errors="replace")}
        times = []
        for _ in range(runs):
            times.append(run_query(srv, q, end)[2] * 1000)
        res = doc.get("data", {}).get("result", []) if st == 200 else []
        st2, body2, _ = run_query(srv, q, end_aligned)
        aligned = json.loads(body2).get("data", {}).get("result", []) if st2 == 200 else None
        out[q["name"]] = {"status": st, "error": doc.get("error") if st != 200 else None,
                          "series": len(res), "points": sum(len(r.get("values", [])) for r in res),
                          "median_ms": median(times), "runs_ms": [round(t, 3) for t in times],
                          "_result": res, "_aligned": aligned}
    big = next((q for q in qs if q["largest"]), None)
    if big:
        clear_hwm(srv.pid)
        before = proc_status_kib(srv.pid, "VmRSS")
        run_query(srv, big, end)
        hwm = proc_status_kib(srv.pid, "VmHWM")
        out[big["name"]]["peak_rss_delta_kib"] = max(0, hwm - before)
        out[big["name"]]["rss_before_kib"] = before
        out[big["name"]]["first_run_peak_rss_delta_kib"] = cold_delta
    return out


def fval(s):
    return float(s)  # Go's "NaN", "+Inf", "-Inf" parse as floats too


def values_equal(a, b):
    if math.isnan(a) and math.isnan(b):
        return True
    if a == b:
        return True
    return abs(a - b) <= 1e-9 * max(abs(a), abs(b))


def compare_results(a, b):
    """Returns a list of human-readable differences (empty when the answers agree)."""
    def key(r):
        return tuple(sorted(r.get("metric", {}).items()))
    ma, mb = {key(r): r for r in a}, {key(r): r for r in b}
    diffs = []
    for k in sorted(set(ma) - set(mb))[:3]:
        diffs.append("series only in strata: %s" % dict(k))
    for k in sorted(set(mb) - set(ma))[:3]:
        diffs.append("series only in prometheus: %s" % dict(k))
    if len(set(ma) ^ set(mb)) > 6:
        diffs.append("%d series differ in all" % len(set(ma) ^ set(mb)))
    bad = 0
    for k in sorted(set(ma) & set(mb)):
        va = {int(round(float(t) * 1000)): fval(v) for t, v in ma[k].get("values", [])}
        vb = {int(round(float(t) * 1000)): fval(v) for t, v in mb[k].get("values", [])}
        for t in sorted(set(va) | set(vb)):
            if t not in va or t not in vb or not values_equal(va[t], vb[t]):
                bad += 1
                if bad <= 3:
                    diffs.append("%s @%d: strata %s, prometheus %s" % (
                        dict(k), t // 1000, va.get(t, "absent"), vb.get(t, "absent")))
    if bad > 3:
        diffs.append("%d points differ in all" % bad)
    return diffs


def disk_phase_one(args, cfg, kind, work, start_unix, qs, end, end_aligned):
    data = os.path.join(work, "backfill-%s" % kind, "data")
    os.makedirs(os.path.dirname(data), exist_ok=True)
    srv = Server(kind, args, data, work).start()
    try:
        cpu0 = proc_cpu_s(srv.pid)
        t0 = time.time()
        r = run_load(args, srv.url, ["--targets", str(cfg["backfill_targets"]), "--backfill", "24h",
                                     "--samples-per-series", "20", "--start", str(start_unix)],
                     os.path.join(work, "backfill-%s.json" % kind))
        load_s = time.time() - t0
        m = r["metrics"]
        settle_s, settled = wait_settled(srv, cfg)
        cpu1 = proc_cpu_s(srv.pid)
        log("backfill %-10s: %d samples in %.1f s (%d errors), settled after %.1f s (%s)" % (
            kind, m["units"], load_s, m["failed"], settle_s, "ok" if settled else "still moving"))
        q = query_suite(srv, qs, end, cfg["query_runs"], end_aligned)
    finally:
        stop = srv.stop()
    blocks = list_blocks(srv.blocks_root())
    bb = sum(b[0] for b in blocks.values())
    bs = sum(b[1] for b in blocks.values())
    whole = dir_bytes(data)
    d = {
        "samples_sent": m["units_sent"], "samples_acked": m["units"], "errors": m["failed"],
        "backfill_s": round(load_s, 2), "backfill_samples_per_s": m["units"] / load_s,
        "server_cpu_s": round(cpu1 - cpu0, 2), "settle_s": settle_s, "settled": settled,
        "blocks": len(blocks), "block_bytes": bb, "block_samples": bs,
        "block_bytes_per_sample": bb / bs if bs else None,
        "block_levels": sorted({b[2].get("compaction", {}).get("level", 0)
                                for b in blocks.values()}),
        "block_ranges_h": sorted((b[2]["maxTime"] - b[2]["minTime"]) / 3.6e6
                                 for b in blocks.values()),
        "data_dir_bytes": whole, "data_dir_bytes_per_sample": whole / m["units"] if m["units"]
        else None, "stop": stop,
    }
    log("disk %-10s: %d blocks, %.3f bytes/sample in blocks, %.3f bytes/sample whole dir" % (
        kind, len(blocks), d["block_bytes_per_sample"] or 0, d["data_dir_bytes_per_sample"] or 0))
    shutil.rmtree(os.path.dirname(data), ignore_errors=True)
    return d, q


def disk_query_phase(args, cfg, work):
    qs = load_queries(args.queries)
    start_unix = (int(time.time()) - 86400) // 3600 * 3600
    # Samples lie on a 15 s grid from start_unix. Prometheus 2.42 selects a range [t - r, t], strata
    # (like Prometheus 3) (t - r, t]: at evaluation times on that grid the two differ by the sample
    # on the left edge. The timed suite runs 7 s off the grid (as real scrapes are, whose offsets are
    # spread), where both semantics select the same samples; the answers at the aligned end are
    # compared too and reported apart.
    end_aligned = start_unix + 86400 - 300  # the last full 5-minute step inside the backfilled day
    end = end_aligned - 7
    disk, query = {}, {}
    for kind in SERVERS:
        disk[kind], query[kind] = disk_phase_one(args, cfg, kind, work, start_unix, qs, end,
                                                 end_aligned)
    for k in ("block_bytes_per_sample", "data_dir_bytes_per_sample"):
        disk.setdefault("ratio", {})[k] = ratio(disk["strata"][k], disk["prometheus"][k])
    disk["series"] = cfg["backfill_targets"] * SERIES_PER_TARGET
    disk["start_unix"] = start_unix
    rows, mismatches, aligned_mismatches = [], 0, 0
    for q in qs:
        s, p = query["strata"][q["name"]], query["prometheus"][q["name"]]
        if s["status"] != 200 or p["status"] != 200:
            diffs = ["status strata %s (%s), prometheus %s (%s)" % (
                s["status"], s["error"], p["status"], p["error"])]
        else:
            diffs = compare_results(s["_result"], p["_result"])
        if diffs:
            mismatches += 1
            log("QUERY ANSWERS DIFFER: %s: %s" % (q["name"], "; ".join(diffs)))
        if s["_aligned"] is None or p["_aligned"] is None:
            adiffs = ["no answer at the aligned end"]
        else:
            adiffs = compare_results(s["_aligned"], p["_aligned"])
        aligned_mismatches += bool(adiffs)
        row = {"name": q["name"], "query": q["query"], "range_s": q["range_s"],
               "step_s": q["step_s"], "series": s["series"], "points": s["points"],
               "prometheus_series": p["series"], "prometheus_points": p["points"],
               "strata_ms": s["median_ms"], "prometheus_ms": p["median_ms"],
               "ratio": ratio(s["median_ms"], p["median_ms"]), "agree": not diffs,
               "differences": diffs, "aligned_agree": not adiffs,
               "aligned_differences": adiffs, "strata_runs_ms": s["runs_ms"],
               "prometheus_runs_ms": p["runs_ms"]}
        if q["largest"]:
            row["largest"] = True
            for kind in SERVERS:
                qk = query[kind][q["name"]]
                row[kind + "_peak_rss_delta_kib"] = qk.get("peak_rss_delta_kib")
                row[kind + "_first_run_peak_rss_delta_kib"] = qk.get("first_run_peak_rss_delta_kib")
                row[kind + "_rss_before_kib"] = qk.get("rss_before_kib")
        rows.append(row)
    qout = {"end_unix": end, "end_aligned_unix": end_aligned, "runs": cfg["query_runs"],
            "queries": rows, "geomean_ratio": geomean([r["ratio"] for r in rows]),
            "mismatches": mismatches, "aligned_mismatches": aligned_mismatches}
    log("query geomean strata/prometheus latency ratio %.3f, %d of %d answers differ "
        "(%d at grid-aligned evaluation times)" % (qout["geomean_ratio"] or 0, mismatches,
                                                   len(rows), aligned_mismatches))
    return disk, qout


def http_phase(args, cfg):
    env = dict(os.environ, REPS=str(cfg["http_reps"]), DURATION=cfg["http_duration"],
               SERVER_CPU=str(args.server_cpu), WRK_CPU=str(args.client_cpu))
    p = subprocess.run([os.path.join(ROOT, "bench/http/wrk_vs_nginx.sh"), args.strata], env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    lines = [json.loads(x) for x in p.stdout.decode().splitlines() if x.startswith("{")]
    summary = next((x for x in lines if x.get("bench") == "http_ready_keepalive_summary"), None)
    return {"exit": p.returncode, "summary": summary,
            "runs": [x for x in lines if x is not summary],
            "stderr": p.stderr.decode()[-300:] if p.returncode else None}


def logs_phase(args, cfg):
    """Hook for the logs scan benchmark: bench/logs/run.sh, when present, prints JSON lines."""
    script = os.path.join(ROOT, "bench/logs/run.sh")
    if not os.access(script, os.X_OK):
        return {"skipped": "bench/logs/run.sh not present"}
    # Called like bench/http/wrk_vs_nginx.sh: the strata binary as the argument, the rest in env.
    # Its own default size (1 GB of logs) takes longer than this whole run is meant to: the
    # default size here runs its small one.
    env = dict(os.environ, SIZE=cfg["logs_size"], STRATA=args.strata,
               SERVER_CPU=str(args.server_cpu), CLIENT_CPU=str(args.client_cpu),
               BUILD_DIR=args.build_dir)
    timeout = args.logs_timeout or (1500 if args.size == "large" else 300)
    p = subprocess.Popen([script, args.strata], env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, start_new_session=True)
    try:
        stdout, stderr = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGTERM)  # its own process group: the script and its children
        p.communicate()
        return {"skipped": "bench/logs/run.sh did not finish in %d s" % timeout}
    lines = []
    for x in stdout.decode().splitlines():
        try:
            lines.append(json.loads(x))
        except ValueError:
            pass
    return {"exit": p.returncode, "size": cfg["logs_size"], "results": lines,
            "stderr": stderr.decode()[-300:] if p.returncode else None}


# ---- main --------------------------------------------------------------------------------------

def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", choices=sorted(SIZES), default="default")
    ap.add_argument("--build-dir", default=os.path.join(ROOT, "build/release"))
    ap.add_argument("--prometheus", default=shutil.which("prometheus") or "/usr/bin/prometheus")
    ap.add_argument("--queries", default=os.path.join(ROOT, "bench/compare/queries.txt"))
    ap.add_argument("--phases", default="ingest,memory,disk,http,logs",
                    help="comma-separated subset of ingest,memory,disk,http,logs")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--connections", type=int, default=4)
    ap.add_argument("--server-cpu", type=int, default=0)
    ap.add_argument("--client-cpu", type=int, default=1)
    ap.add_argument("--out-dir", default=os.path.join(ROOT, "build/bench-compare"))
    ap.add_argument("--no-docs", action="store_true",
                    help="write only build/bench-compare (no docs/ table, JSON copy or plots)")
    ap.add_argument("--logs-timeout", type=int, default=0,
                    help="seconds (default 300, large 1500)")
    ap.add_argument("--render", metavar="JSON",
                    help="only rewrite the docs section and plots from an earlier result")
    a = ap.parse_args()
    a.strata = os.path.join(a.build_dir, "server/strata")
    a.load = os.path.join(a.build_dir, "tools/strata-load")
    for p in (a.strata, a.load, a.prometheus):
        if not os.access(p, os.X_OK):
            sys.exit("bench-compare: %s missing (build the release preset, install prometheus)" % p)
    return a


def main():
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import report
    args = parse_args()
    if args.render:
        with open(args.render) as f:
            res = json.load(f)
        work = os.path.join(args.out_dir, "render-%d" % os.getpid())
        os.makedirs(work, exist_ok=True)
        imgs = report.plots(res, work, os.path.join(ROOT, "docs/img"))
        report.rewrite_section(os.path.join(ROOT, "docs/benchmarks.md"),
                               report.markdown(res, "benchmarks/compare-latest.json", imgs))
        shutil.rmtree(work, ignore_errors=True)
        return
    cfg = SIZES[args.size]
    phases = set(args.phases.split(","))
    now = datetime.datetime.now(datetime.timezone.utc)
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    work = os.path.join(args.out_dir, "work-" + stamp)
    os.makedirs(work, exist_ok=True)
    cmd = "make bench-compare" + ("" if args.size == "default" else " SIZE=" + args.size)
    res = {"bench": "compare", "date": now.strftime("%Y-%m-%d %H:%M"), "size": args.size,
           "config": cfg, "command": cmd, "machine": report.machine(),
           "revision": subprocess.run(["git", "-C", ROOT, "describe", "--always", "--dirty"],
                                      stdout=subprocess.PIPE,
                                      stderr=subprocess.DEVNULL).stdout.decode().strip(),
           "args": {"seed": args.seed, "connections": args.connections,
                    "server_cpu": args.server_cpu, "client_cpu": args.client_cpu,
                    "phases": sorted(phases)}}
    t0 = time.time()
    log("size %s, work dir %s" % (args.size, work))
    steps = (("ingest", ("ingest",), ingest_phase), ("memory", ("memory",), memory_phase),
             ("disk", ("disk", "query"), disk_query_phase),
             ("http", ("http",), lambda a, c, w: http_phase(a, c)),
             ("logs", ("logs",), lambda a, c, w: logs_phase(a, c)))
    for phase, keys, fn in steps:
        if phase not in phases:
            continue
        log("phase %s" % phase)
        try:
            got = fn(args, cfg, work)
        except (OSError, RuntimeError, ValueError, KeyError) as e:  # keep the other phases
            log("PHASE %s FAILED: %s" % (phase, e))
            res.setdefault("failed", {})[phase] = str(e)
            continue
        for k, v in zip(keys, got if len(keys) > 1 else (got,)):
            res[k] = v
    res["elapsed_s"] = round(time.time() - t0, 1)
    res["machine"]["loadavg_end"] = os.getloadavg()
    out_json = os.path.join(args.out_dir, "compare-%s.json" % stamp)
    with open(out_json, "w") as f:
        json.dump(res, f, indent=1)
        f.write("\n")
    log("wrote %s (%.0f s in all)" % (out_json, res["elapsed_s"]))
    imgs = report.plots(res, work, os.path.join(args.out_dir if args.no_docs else
                                                os.path.join(ROOT, "docs/img")))
    if not args.no_docs:
        os.makedirs(os.path.join(ROOT, "docs/benchmarks"), exist_ok=True)
        shutil.copy(out_json, os.path.join(ROOT, "docs/benchmarks/compare-latest.json"))
        report.rewrite_section(os.path.join(ROOT, "docs/benchmarks.md"),
                               report.markdown(res, "benchmarks/compare-latest.json", imgs))
        log("updated docs/benchmarks.md, docs/benchmarks/compare-latest.json, docs/img/")
    else:
        with open(os.path.join(args.out_dir, "section-%s.md" % stamp), "w") as f:
            f.write(report.markdown(res, "benchmarks/compare-latest.json", imgs))
    if res.get("failed"):
        log("kept %s (server logs) for the failed phases" % work)
    else:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(summary(res)))
    return 1 if res.get("failed") else 0


def summary(res):
    """The headline figures as one JSON line on stdout."""
    out = {"bench": "compare_summary", "size": res["size"], "elapsed_s": res["elapsed_s"]}
    ing, disk, q = res.get("ingest"), res.get("disk"), res.get("query")
    for kind in SERVERS:
        d = out[kind] = {}
        if ing:
            for k in ("samples_per_s", "cpu_s_per_m_samples", "errors"):
                d[k] = ing[kind][k]
        if res.get("memory"):
            for k in ("rss_idle_kib", "rss_kib", "rss_per_series_b", "rss_per_series_net_b"):
                d[k] = res["memory"][kind][k]
        if disk:
            d["block_bytes_per_sample"] = disk[kind]["block_bytes_per_sample"]
            d["data_dir_bytes_per_sample"] = disk[kind]["data_dir_bytes_per_sample"]
    if q:
        out["query_geomean_ratio"] = q["geomean_ratio"]
        out["query_mismatches"] = q["mismatches"]
    return out


if __name__ == "__main__":
    sys.exit(main())
