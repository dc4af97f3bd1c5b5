#!/usr/bin/env bash
# Log scan benchmark, strata next to ripgrep on the same bytes (issue #6). Prints JSON lines.
#
# 1. bench_logscan (bench/micro/bench_logscan.c, release build) pinned to one core generates
#    --size MB of application logs with strata-load's logs workload, writes the raw text to a file,
#    stores everything in log blocks and times, median of --runs, the LogQL pipelines through
#    select (the pre-filter pushed down as its batch line filter) + the executor: `|=
#    "api/v1/orders"`, `|~ "status.{1,3}50[0-9]"`, `| json | level="error"` and a needle (a trace
#    id that occurs once) with and without the line hint, as log queries in time order
#    ("order":"time"), and count_over_time of the literal and of the json query stream by stream
#    ("order":"stream", the path for metric queries). GB/s per core = raw line bytes / CPU seconds
#    of the process.
# 2. ripgrep on the raw file (in the page cache), pinned to the same core, the same literal,
#    regex and needle (`"level":"error"` stands in for the json query): `rg -c` as is, and with
#    `-j1 --mmap` and `-j1 --no-mmap`; CPU = utime + stime of rg, median of --runs.
# 3. A summary line: strata / ripgrep ratios of GB/s per CPU second per query.
#
# usage: bench/logs/run.sh [STRATA_BINARY (unused)] [--size MB] [--runs N] [--cpu N] [--keep]
#   env: SIZE (small = 128 MB, default = 1024 MB, large = 4096 MB, or a number of MB),
#        BUILD_DIR (build/release), SERVER_CPU (0: the core everything is pinned to), TMPDIR
# Never pass/fail on time. Exit 77 when ripgrep is missing and cannot be installed.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
[ $# -gt 0 ] && [ "${1#--}" = "$1" ] && shift # the strata binary compare.py passes
case "${SIZE:-default}" in
small) MB=128 ;; default) MB=1024 ;; large) MB=4096 ;; *[!0-9]*) MB=1024 ;; *) MB=$SIZE ;;
esac
RUNS=5
CPU=${SERVER_CPU:-0}
BUILD=${BUILD_DIR:-$ROOT/build/release}
KEEP=0
while [ $# -gt 0 ]; do
  case "$1" in
  --size) MB=$2; shift 2 ;;
  --runs) RUNS=$2; shift 2 ;;
  --cpu) CPU=$2; shift 2 ;;
  --keep) KEEP=1; shift ;;
  *) echo "logs/run.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

if ! command -v rg >/dev/null 2>&1; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q ripgrep >/dev/null || true
  fi
  command -v rg >/dev/null 2>&1 || { echo "logs/run.sh: rg missing (apt-get install ripgrep)" >&2; exit 77; }
fi
BENCH=$BUILD/bench/bench_logscan
if [ ! -x "$BENCH" ]; then
  cmake --preset release -B "$BUILD" >/dev/null
  cmake --build "$BUILD" -j2 --target bench_logscan >/dev/null
fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/strata-logscan.XXXXXX")
cleanup() { [ "$KEEP" = 1 ] && echo "logs/run.sh: kept $TMP" >&2 || rm -rf "$TMP"; }
trap cleanup EXIT
RAW=$TMP/raw.log

taskset -c "$CPU" "$BENCH" --size "$MB" --raw "$RAW" --runs "$RUNS" --dir "$TMP" | tee "$TMP/strata.jsonl"

python3 - "$RAW" "$RUNS" "$CPU" "$TMP/strata.jsonl" <<'EOF'
import json, os, resource, subprocess, sys, time

raw, runs, cpu, strata = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
size = os.path.getsize(raw)
with open(raw, "rb") as f:  # into the page cache
    while f.read(1 << 24):
        pass
data = {}
for line in open(strata):
    x = json.loads(line)
    if x.get("bench") == "logscan_data":
        data = x
    if x.get("bench") == "logscan_query":
        data.setdefault("q", {})[x["query"]] = x
line_bytes = data.get("raw_bytes", size)
needle = data.get("needle", "")
queries = [("literal", ["-F", "api/v1/orders"]), ("regex", ["status.{1,3}50[0-9]"]),
           ("json_level_error", ["-F", '"level":"error"']), ("needle", ["-F", needle])]
modes = [("default", []), ("j1_mmap", ["-j1", "--mmap"]), ("j1_no_mmap", ["-j1", "--no-mmap"])]

def median(v):
    v = sorted(v)
    return v[len(v) // 2]

def one(cmd):
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    wall = time.monotonic() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_s = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    return wall, cpu_s, p.stdout.decode().strip()

best = {}
for name, pat in queries:
    for mode, flags in modes:
        cmd = ["taskset", "-c", cpu, "rg", "-c"] + flags + pat + [raw]
        res = [one(cmd) for _ in range(runs)]
        w, c = median([r[0] for r in res]), median([r[1] for r in res])
        out = {"bench": "logscan_query", "engine": "ripgrep", "query": name, "mode": mode,
               "cmd": " ".join(cmd[3:]), "raw_file_bytes": size,
               "gb_per_cpu_s": round(size / c / 1e9, 3) if c > 0 else None,
               "gb_per_s": round(size / w / 1e9, 3), "cpu_ms": round(c * 1e3, 1),
               "wall_ms": round(w * 1e3, 1), "matched": int(res[0][2] or 0), "runs": runs}
        print(json.dumps(out), flush=True)
        if out["gb_per_cpu_s"] and (name not in best or out["gb_per_cpu_s"] > best[name]["gb_per_cpu_s"]):
            best[name] = out
summary = {"bench": "logscan_summary", "raw_bytes": line_bytes, "raw_file_bytes": size,
           "pinned_cpu": int(cpu), "runs": runs}
for name, _ in queries:
    s = data.get("q", {}).get(name)
    r = best.get(name)
    if s:
        summary[name + "_strata_gb_per_cpu_s"] = s["gb_per_cpu_s"]
    if r:
        summary[name + "_rg_best_gb_per_cpu_s"] = r["gb_per_cpu_s"]
        summary[name + "_rg_best_mode"] = r["mode"]
    if s and r:
        # strata's figure counts line bytes, ripgrep's the file (lines + newlines): same data
        summary[name + "_cpu_s_ratio_rg_over_strata"] = round(
            (r["cpu_ms"] or 1e-9) / max(s["cpu_ms"], 1e-9), 3)
print(json.dumps(summary), flush=True)
EOF
