#!/usr/bin/env python3
"""A real Prometheus remote-writing to strata: Prometheus scrapes itself and a
prometheus-node-exporter every second for about a minute and remote-writes everything (RW 1.0:
Prometheus 2.42 cannot send 2.0) to strata. Then every series Prometheus holds for the window, and
every one of its samples (timestamp and value), must be in strata, read from the stopped server's
data directory with tsdb_dump. Prometheus must also report no failed or dropped samples.

usage: prometheus_test.py --strata PATH --dump PATH [--case prometheus]
Environment: STRATA_PROM_SECONDS (default 60). Skips (77) without prometheus or the node exporter.
"""
import json
import math
import os
import shutil
import struct
import subprocess
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rwproto as rw  # noqa: E402

STALE = rw.STALE_NAN_BITS

CONFIG = """
global:
  scrape_interval: 1s
  scrape_timeout: 900ms
  evaluation_interval: 1s
scrape_configs:
  - job_name: prometheus
    static_configs: [{{targets: ['127.0.0.1:{prom}']}}]
  - job_name: node
    static_configs: [{{targets: ['127.0.0.1:{node}']}}]
remote_write:
  - url: http://127.0.0.1:{strata}/api/v1/write
    queue_config: {{batch_send_deadline: 1s, max_samples_per_send: 2000, min_backoff: 50ms}}
    metadata_config: {{send_interval: 5s}}
"""


def find(name):
    for d in (None, "/usr/bin", "/usr/sbin", "/usr/local/bin"):
        p = shutil.which(name) if d is None else os.path.join(d, name)
        if p and os.access(p, os.X_OK):
            return p
    return None


def prom_query(port, query, t=None):
    q = {"query": query}
    if t is not None:
        q["time"] = f"{t / 1000:.3f}"
    st, body = rw.http_get(port, "/api/v1/query?" + urllib.parse.urlencode(q), timeout=60)
    assert st == 200, (st, body[:500])
    d = json.loads(body)
    assert d["status"] == "success", d
    return d["data"]["result"]


def prom_scalar(port, query):
    r = prom_query(port, query)
    return sum(float(x["value"][1]) for x in r) if r else 0.0


def wait_http(port, path, proc, what, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"{what} exited with {proc.returncode}")
        try:
            if rw.http_get(port, path, timeout=2)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{what} did not become ready")


def value_bits(s):
    if s == "NaN":
        return None  # any NaN (Prometheus prints every NaN the same)
    v = float(s.replace("Inf", "inf"))
    return struct.unpack("<Q", struct.pack("<d", v))[0]


def compare(prom_series, stored):
    """Every Prometheus series and sample must be in strata; returns (series, samples) checked."""
    n_samples = 0
    problems = []
    for s in prom_series:
        key = ("anonymous",) + tuple(sorted(s["metric"].items()))
        have = stored.get(key)
        if have is None:
            problems.append(f"series missing in strata: {s['metric']}")
            continue
        have = {t: v for t, v in have.items() if v != STALE}
        want = {}
        for t, v in s["values"]:
            want[round(float(t) * 1000)] = value_bits(v)
        n_samples += len(want)
        for t, vb in want.items():
            got = have.get(t)
            if got is None:
                problems.append(f"{s['metric'].get('__name__')} @{t}: missing in strata")
            elif vb is None:
                if not math.isnan(struct.unpack("<d", struct.pack("<Q", got))[0]):
                    problems.append(f"{s['metric'].get('__name__')} @{t}: want NaN")
            elif got != vb:
                problems.append(f"{s['metric'].get('__name__')} @{t}: {got:x} != {vb:x}")
        extra = set(have) - set(want)
        if extra:
            problems.append(f"{s['metric'].get('__name__')}: {len(extra)} samples Prometheus "
                            f"does not have")
    return n_samples, problems


def case_prometheus(binary, dump, tmp):
    prom_bin = find("prometheus")
    node_bin = find("prometheus-node-exporter")
    if not prom_bin or not node_bin:
        raise rw.Skip("prometheus and prometheus-node-exporter are needed "
                      "(apt-get install prometheus prometheus-node-exporter)")
    seconds = int(os.environ.get("STRATA_PROM_SECONDS", "60"))
    data_dir = os.path.join(tmp, "data")
    srv = rw.Server(binary, data_dir, shards=2).wait_ready()
    node_port, prom_port = rw.free_port(), rw.free_port()
    procs = []
    try:
        node_log = open(os.path.join(tmp, "node-exporter.log"), "wb")
        node = subprocess.Popen([node_bin, f"--web.listen-address=127.0.0.1:{node_port}"],
                                stdout=node_log, stderr=subprocess.STDOUT)
        procs.append(node)
        wait_http(node_port, "/metrics", node, "node exporter")
        cfg = os.path.join(tmp, "prometheus.yml")
        with open(cfg, "w") as f:
            f.write(CONFIG.format(prom=prom_port, node=node_port, strata=srv.port))
        prom_log = open(os.path.join(tmp, "prometheus.log"), "wb")
        start_ms = int(time.time() * 1000)
        prom = subprocess.Popen([prom_bin, f"--config.file={cfg}",
                                 f"--storage.tsdb.path={os.path.join(tmp, 'prom-data')}",
                                 f"--web.listen-address=127.0.0.1:{prom_port}"],
                                stdout=prom_log, stderr=subprocess.STDOUT)
        procs.append(prom)
        wait_http(prom_port, "/-/ready", prom, "prometheus")
        time.sleep(seconds)
        t1 = int(time.time() * 1000) - 3000
        # let the remote-write queues catch up past t1 (they send within ~1 s)
        deadline = time.time() + 60
        while time.time() < deadline:
            sent = prom_scalar(prom_port,
                               "min(prometheus_remote_storage_queue_highest_sent_timestamp_seconds)")
            if sent * 1000 >= t1 + 5000:
                break
            time.sleep(1)
        time.sleep(3)
        window_s = (t1 - start_ms) // 1000 + 60
        series = prom_query(prom_port, '{__name__=~".+"}[%ds]' % window_s, t1)
        failed = prom_scalar(prom_port, "sum(prometheus_remote_storage_samples_failed_total)")
        dropped = prom_scalar(prom_port, "sum(prometheus_remote_storage_samples_dropped_total)")
        sent_total = prom_scalar(prom_port, "sum(prometheus_remote_storage_samples_total)")
    finally:
        for p in reversed(procs):
            p.terminate()
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
    assert srv.stop() == 0
    stored, total = rw.dump(dump, data_dir, t1 - window_s * 1000, t1)
    n_samples, problems = compare(series, stored)
    print(f"Prometheus: {len(series)} series, {n_samples} samples in the window "
          f"({window_s}s up to {t1}); {int(sent_total)} samples sent in total, "
          f"{int(failed)} failed, {int(dropped)} dropped; strata holds {total['series']} series, "
          f"{total['samples']} samples in the window (stale markers included)")
    for p in problems[:30]:
        print("  " + p)
    assert len(series) > 100 and n_samples > 100 * seconds // 2, "Prometheus collected too little"
    assert failed == 0 and dropped == 0, "Prometheus failed or dropped samples"
    assert not problems, f"{len(problems)} differences"


if __name__ == "__main__":
    sys.exit(rw.main({"prometheus": case_prometheus}, __doc__))
