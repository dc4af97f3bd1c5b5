#!/usr/bin/env bash
# Log ingest per core of server CPU (issue #6): the release `strata --shards 1` pinned to one core,
# `strata-load logs` (Loki protobuf + snappy pushes of the logs workload, closed loop: as fast as
# strata answers) pinned to another for DURATION. Reports raw line MB/s per CPU second of the
# server (utime + stime from /proc/PID/stat over the load window; line bytes from strata's own
# strata_loki_push_line_bytes_received_total) and per wall second, and how busy both cores were
# (server_cpu_util from /proc, client_cpu_util from strata-load's own CPU time): a server core well
# below 1.0 with the client core near 1.0 means the load generator, not strata, sets the pace;
# server_runq_util is the share of the wall time the server's threads were runnable but another
# process had the core (a shared, busy machine), which also keeps server_cpu_util below 1.0.
# Repeated REPS times (a fresh data directory each), one JSON line per run, then a JSON summary with
# medians. Never pass/fail.
#
# usage: bench/logs/ingest.sh [STRATA_BINARY]
#   env: BUILD_DIR (build/release; strata and strata-load are taken from it), SERVER_CPU (0),
#        CLIENT_CPU (1), DURATION (20s), CONNS (8), REPS (3), PORT (19390), FORMAT (mixed),
#        WAL_FSYNC (batch), BATCH (lines per push, strata-load's default 1000), LOAD_ARGS (more
#        strata-load options)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD_DIR:-$ROOT/build/release}
STRATA=${1:-$BUILD/server/strata}
LOAD=$BUILD/tools/strata-load
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
DURATION=${DURATION:-20s}
CONNS=${CONNS:-8}
REPS=${REPS:-3}
PORT=${PORT:-19390}
FORMAT=${FORMAT:-mixed}
WAL_FSYNC=${WAL_FSYNC:-batch}
BATCH=${BATCH:-1000}
LOAD_ARGS=${LOAD_ARGS:-}
[ -x "$STRATA" ] && [ -x "$LOAD" ] || {
  echo "logs/ingest.sh: no $STRATA or $LOAD (cmake --preset release && cmake --build build/release)" >&2
  exit 77
}

TMP=$(mktemp -d "${TMPDIR:-/tmp}/strata-logingest.XXXXXX")
SPID=
cleanup() {
  [ -n "$SPID" ] && kill "$SPID" 2>/dev/null && wait "$SPID" 2>/dev/null || true
  rm -rf "$TMP"
}
trap cleanup EXIT
TCK=$(getconf CLK_TCK)

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# ns the server's threads spent runnable but not running (another process had the core)
runq_ns() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{s += $2} END {printf "%.0f", s}'; }
metric() {
  curl -s "http://127.0.0.1:$PORT/metrics" | awk -v m="$1" '$1 == m {printf "%.0f", $2}'
}
line_bytes() { metric strata_loki_push_line_bytes_received_total; }

for rep in $(seq 1 "$REPS"); do
  rm -rf "$TMP/data"
  taskset -c "$SERVER_CPU" "$STRATA" --shards 1 --listen "127.0.0.1:$PORT" --data-dir "$TMP/data" \
    --limits.loki.ingestion-rate 0 --wal.fsync "$WAL_FSYNC" --log.level warn >"$TMP/strata.log" 2>&1 &
  SPID=$!
  for _ in $(seq 1 100); do
    curl -sf "http://127.0.0.1:$PORT/ready" >/dev/null 2>&1 && break
    sleep 0.1
  done
  c0=$(cpu_ticks "$SPID")
  q0=$(runq_ns "$SPID")
  b0=$(line_bytes)
  t0=$(date +%s.%N)
  taskset -c "$CLIENT_CPU" "$LOAD" logs --target "http://127.0.0.1:$PORT" --rate 0 \
    --duration "$DURATION" --connections "$CONNS" --log-format "$FORMAT" --batch "$BATCH" --quiet \
    --json "$TMP/load.json" $LOAD_ARGS >/dev/null 2>&1 || true
  t1=$(date +%s.%N)
  c1=$(cpu_ticks "$SPID")
  q1=$(runq_ns "$SPID")
  b1=$(line_bytes)
  ww=$(metric strata_logstore_wal_writes_total)
  wms=$(metric strata_logstore_wal_write_milliseconds_total)
  kill "$SPID"
  wait "$SPID" 2>/dev/null || true
  SPID=
  python3 - "$rep" "$c0" "$c1" "$TCK" "$b0" "$b1" "$t0" "$t1" "$TMP/load.json" "$FORMAT" "$CONNS" \
    "${ww:-0}" "${wms:-0}" "${q0:-0}" "${q1:-0}" <<'EOF'
import json, sys
rep, c0, c1, tck, b0, b1, t0, t1, load, fmt, conns, ww, wms, q0, q1 = sys.argv[1:]
cpu = (int(c1) - int(c0)) / int(tck)
mb = (int(b1 or 0) - int(b0 or 0)) / 1e6
wall = float(t1) - float(t0)
top = json.load(open(load))
l = top.get("logs", {})
ccpu = top.get("cpu_s")
print(json.dumps({"bench": "logs_ingest_server", "run": int(rep), "format": fmt,
                  "connections": int(conns), "line_mb": round(mb, 1), "server_cpu_s": round(cpu, 2),
                  "wall_s": round(wall, 2),
                  "mb_per_server_cpu_s": round(mb / cpu, 1) if cpu > 0 else None,
                  "mb_per_s": round(mb / wall, 1), "server_cpu_util": round(cpu / wall, 2),
                  "server_runq_util": round((int(q1) - int(q0)) / 1e9 / wall, 2),
                  "client_cpu_util": round(ccpu / wall, 2) if ccpu is not None else None,
                  "wal_writes": int(ww), "wal_write_ms_avg": round(int(wms) / int(ww), 2) if int(ww) else None,
                  "lines_ok": l.get("units"), "requests_failed": l.get("failed"),
                  "wire_mb": round(l.get("bytes_sent", 0) / 1e6, 1)}), flush=True)
EOF
done | tee "$TMP/runs.jsonl"
python3 - "$TMP/runs.jsonl" <<'EOF'
import json, sys
runs = [json.loads(x) for x in open(sys.argv[1]) if x.strip()]
def med(k):
    v = sorted(r[k] for r in runs if r.get(k) is not None)
    return v[len(v) // 2] if v else None
print(json.dumps({"bench": "logs_ingest_server_summary", "runs": len(runs),
                  "mb_per_server_cpu_s": med("mb_per_server_cpu_s"), "mb_per_s": med("mb_per_s"),
                  "server_cpu_util": med("server_cpu_util"), "server_runq_util": med("server_runq_util"),
                  "client_cpu_util": med("client_cpu_util")}))
EOF
