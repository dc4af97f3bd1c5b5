#!/usr/bin/env bash
# Loki queries end to end, per core of server CPU: the release `strata --shards 1` pinned to one
# core answers /loki/api/v1/query_range over log blocks that `strata-load logs` filled. Prints JSON
# lines; never pass/fail on time.
#
# 1. Fill: the first binary starts on a fresh data directory; strata-load pushes the logs workload
#    for FILL at RATE lines/s (open loop, so the timestamps follow its sample clock, which starts
#    6 h in the past), then one line at the present time makes the head span more than 1.5 block
#    ranges, so the log store cuts the old data into blocks; the script waits until the head holds
#    (almost) nothing.
# 2. For each binary (the arguments; default: BUILD_DIR's strata), the server restarts on that same
#    data directory, one warm-up run of each query, then RUNS runs of:
#      metric: sum(count_over_time(SELECTOR |= "api/v1/orders" [1m])), step 15s, over the data;
#      log:    SELECTOR |= "api/v1/orders", limit 1000 (backward);
#    server CPU = utime + stime from /proc/PID/stat before and after each query (also the
#    threads' schedstat run time, ns resolution), lines and bytes from data.stats.summary
#    (totalLinesProcessed, totalBytesProcessed: the raw lines the owners read, their filter's
#    drops included). One line per run, then one summary line per binary and query with medians:
#    gb_per_server_cpu_s = bytes processed / server CPU seconds (schedstat).
#
# usage: bench/logs/query.sh [STRATA_BINARY ...]   (label each with LABEL=path, e.g. before=/x/strata)
#   env: BUILD_DIR (build/release; strata-load and the default strata), SERVER_CPU (0), CLIENT_CPU
#        (1), RATE (300k), FILL (5s: about 380 MB of raw lines), BATCH (1000), RUNS (5), PORT (19391),
#        SELECTOR ({service_name=~".+"}), KEEP (1: keep the data directory)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD_DIR:-$ROOT/build/release}
LOAD=$BUILD/tools/strata-load
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
RATE=${RATE:-300k}
FILL=${FILL:-5s}
BATCH=${BATCH:-1000}
RUNS=${RUNS:-5}
PORT=${PORT:-19391}
SELECTOR=${SELECTOR:-'{service_name=~".+"}'}
KEEP=${KEEP:-0}
BINS=("$@")
[ ${#BINS[@]} -gt 0 ] || BINS=("after=$BUILD/server/strata")
for b in "${BINS[@]}"; do
  [ -x "${b#*=}" ] || { echo "logs/query.sh: no strata binary ${b#*=}" >&2; exit 77; }
done
[ -x "$LOAD" ] || { echo "logs/query.sh: no $LOAD (cmake --build $BUILD --target strata-load)" >&2; exit 77; }

TMP=$(mktemp -d "${TMPDIR:-/tmp}/strata-logquery.XXXXXX")
SPID=
stop_server() {
  if [ -n "$SPID" ]; then
    kill "$SPID" 2>/dev/null || true
    wait "$SPID" 2>/dev/null || true
  fi
  SPID=
}
cleanup() {
  stop_server
  if [ "$KEEP" = 1 ]; then echo "logs/query.sh: kept $TMP" >&2; else rm -rf "$TMP"; fi
}
trap cleanup EXIT

metric() { # sum of a metric's series
  curl -s "http://127.0.0.1:$PORT/metrics" |
    awk -v m="$1" '$1 == m || index($1, m "{") == 1 {s += $2} END {printf "%.0f", s}'
}
start_server() { # binary
  taskset -c "$SERVER_CPU" "$1" --shards 1 --listen "127.0.0.1:$PORT" --data-dir "$TMP/data" \
    --limits.loki.ingestion-rate 0 --limits.loki.max-entries-limit-per-query 0 \
    --log.level warn >>"$TMP/strata.log" 2>&1 &
  SPID=$!
  for _ in $(seq 1 300); do
    curl -sf "http://127.0.0.1:$PORT/ready" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "logs/query.sh: $1 did not become ready" >&2
  tail -5 "$TMP/strata.log" >&2
  exit 1
}

# ---- fill ----
NOW=$(date +%s)
ORIGIN=$((NOW - 6 * 3600))
start_server "${BINS[0]#*=}"
b0=$(metric strata_loki_push_line_bytes_received_total)
t0=$(date +%s.%N)
taskset -c "$CLIENT_CPU" "$LOAD" logs --target "http://127.0.0.1:$PORT" --rate "$RATE" \
  --start "$ORIGIN" --duration "$FILL" --batch "$BATCH" --connections 4 --quiet \
  --json "$TMP/load.json" >/dev/null 2>&1 || true
t1=$(date +%s.%N)
b1=$(metric strata_loki_push_line_bytes_received_total)
curl -sf -H 'Content-Type: application/json' "http://127.0.0.1:$PORT/loki/api/v1/push" \
  --data "{\"streams\":[{\"stream\":{\"bench\":\"tick\"},\"values\":[[\"$(date +%s)000000000\",\"tick\"]]}]}" \
  >/dev/null
for _ in $(seq 1 600); do
  [ "$(metric strata_logstore_head_entries)" -le 10 ] && [ "$(metric strata_logstore_blocks)" -ge 1 ] && break
  sleep 0.5
done
head_left=$(metric strata_logstore_head_entries)
blocks=$(metric strata_logstore_blocks)
stop_server
FILL_S=$(python3 -c "import math; print(math.ceil($t1 - $t0))") # >= the sample clock's span
START_NS=$(((ORIGIN - 60) * 1000000000))
END_NS=$(((ORIGIN + FILL_S + 120) * 1000000000))
python3 -c "import json; print(json.dumps({'bench': 'logs_query_fill', 'line_mb': round(($b1 - $b0) / 1e6, 1),
  'fill_s': round($t1 - $t0, 1), 'blocks': $blocks, 'head_entries_left': $head_left,
  'selector': '''$SELECTOR'''}))"

# ---- queries ----
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
sched_ns() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{s += $1} END {printf "%.0f", s}'; }
MQ="sum(count_over_time($SELECTOR |= \"api/v1/orders\" [1m]))"
LQ="$SELECTOR |= \"api/v1/orders\""
query() { # kind query extra-params... -> the response in $TMP/resp.json
  local q=$1
  shift
  curl -s -G "http://127.0.0.1:$PORT/loki/api/v1/query_range" --data-urlencode "query=$q" \
    --data-urlencode "start=$START_NS" --data-urlencode "end=$END_NS" "$@" -o "$TMP/resp.json"
}
TCK=$(getconf CLK_TCK)
for b in "${BINS[@]}"; do
  label=${b%%=*}
  [ "$label" = "$b" ] && label=$b
  bin=${b#*=}
  start_server "$bin"
  for kind in metric log; do
    if [ "$kind" = metric ]; then set -- "$MQ" --data-urlencode "step=15s"; else
      set -- "$LQ" --data-urlencode "limit=1000"
    fi
    query "$@" # warm-up
    for run in $(seq 1 "$RUNS"); do
      c0=$(cpu_ticks "$SPID")
      s0=$(sched_ns "$SPID")
      w0=$(date +%s.%N)
      query "$@"
      w1=$(date +%s.%N)
      c1=$(cpu_ticks "$SPID")
      s1=$(sched_ns "$SPID")
      python3 - "$label" "$kind" "$run" "$c0" "$c1" "$TCK" "$s0" "$s1" "$w0" "$w1" "$TMP/resp.json" <<'EOF'
import json, sys
label, kind, run, c0, c1, tck, s0, s1, w0, w1, resp = sys.argv[1:]
try:
    body = json.load(open(resp))
    data = body["data"]
    summ = data["stats"]["summary"]
    result = data["result"]
    n = sum(len(r.get("values", [])) for r in result)
    err = None
except Exception as e:  # an error answer: report it, keep going
    summ, n, err = {}, 0, str(e)[:200]
cpu = (int(c1) - int(c0)) / int(tck)
cpu_sched = (int(s1) - int(s0)) / 1e9
gb = summ.get("totalBytesProcessed", 0) / 1e9
print(json.dumps({"bench": "logs_query", "binary": label, "query": kind, "run": int(run),
                  "wall_s": round(float(w1) - float(w0), 4), "server_cpu_s": round(cpu, 3),
                  "server_cpu_s_sched": round(cpu_sched, 4),
                  "lines_processed": summ.get("totalLinesProcessed"), "gb_processed": round(gb, 4),
                  "values_returned": n,
                  "gb_per_server_cpu_s": round(gb / cpu_sched, 3) if cpu_sched > 0 else None,
                  "error": err}), flush=True)
EOF
    done
  done | tee -a "$TMP/runs.jsonl"
  stop_server
done
python3 - "$TMP/runs.jsonl" <<'EOF'
import json, sys
runs = [json.loads(x) for x in open(sys.argv[1]) if x.strip()]
def med(v):
    v = sorted(x for x in v if x is not None)
    return v[len(v) // 2] if v else None
for key in dict.fromkeys((r["binary"], r["query"]) for r in runs):
    rs = [r for r in runs if (r["binary"], r["query"]) == key]
    print(json.dumps({"bench": "logs_query_summary", "binary": key[0], "query": key[1],
                      "runs": len(rs), "gb_processed": med(r["gb_processed"] for r in rs),
                      "server_cpu_s": med(r["server_cpu_s"] for r in rs),
                      "server_cpu_s_sched": med(r["server_cpu_s_sched"] for r in rs),
                      "wall_s": med(r["wall_s"] for r in rs),
                      "gb_per_server_cpu_s": med(r["gb_per_server_cpu_s"] for r in rs)}))
EOF
