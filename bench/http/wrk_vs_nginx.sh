#!/usr/bin/env bash
# HTTP keep-alive throughput and tail latency of strata's /ready against nginx serving the same body
# ("ready\n", text/plain) on the same machine, in the same run: each server pinned to one core
# (strata --shards 1, nginx worker_processes 1), wrk pinned to another core. Runs alternate
# strata/nginx REPS times; prints one JSON line per run and a final JSON summary with medians and
# the strata/nginx ratios. Never pass/fail on time.
#
# usage: bench/http/wrk_vs_nginx.sh [STRATA_BINARY]
#   env: SERVER_CPU (0) WRK_CPU (1) CONNS (64) THREADS (1) DURATION (10s) REPS (3)
# Needs wrk and nginx (Debian: apt-get install -y wrk nginx-light; installed here when root).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
STRATA=${1:-$ROOT/build/release/server/strata}
SERVER_CPU=${SERVER_CPU:-0}
WRK_CPU=${WRK_CPU:-1}
CONNS=${CONNS:-64}
THREADS=${THREADS:-1}
DURATION=${DURATION:-10s}
REPS=${REPS:-3}

need() {
  command -v "$1" >/dev/null 2>&1 && return 0
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$2" >/dev/null
  fi
  command -v "$1" >/dev/null 2>&1 || { echo "wrk_vs_nginx: $1 missing (apt-get install $2)" >&2; exit 77; }
}
need wrk wrk
need nginx nginx-light
[ -x "$STRATA" ] || { echo "wrk_vs_nginx: no strata binary at $STRATA (build the release preset)" >&2; exit 77; }

TMP=$(mktemp -d /tmp/strata-wrk.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$TMP"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

wait_http() { # port
  for _ in $(seq 1 200); do
    curl -fsS "http://127.0.0.1:$1/ready" >/dev/null 2>&1 && return 0
    sleep 0.05
  done
  echo "server on port $1 did not come up" >&2
  exit 1
}

SP=$(free_port)
NP=$(free_port)
mkdir -p "$TMP/nginx"
cat >"$TMP/nginx/nginx.conf" <<NGINX
worker_processes 1;
daemon off;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  server_tokens off;
  keepalive_requests 100000000;
  keepalive_timeout 120s;
  client_body_temp_path $TMP/nginx/body;
  proxy_temp_path $TMP/nginx/proxy;
  fastcgi_temp_path $TMP/nginx/fastcgi;
  uwsgi_temp_path $TMP/nginx/uwsgi;
  scgi_temp_path $TMP/nginx/scgi;
  server {
    listen 127.0.0.1:$NP;
    location = /ready { default_type "text/plain; charset=utf-8"; return 200 "ready\n"; }
  }
}
NGINX

taskset -c "$SERVER_CPU" "$STRATA" --shards 1 --listen "127.0.0.1:$SP" --data-dir "$TMP/data" \
  --log.level warn 2>"$TMP/strata.log" &
PIDS+=($!)
taskset -c "$SERVER_CPU" nginx -c "$TMP/nginx/nginx.conf" -p "$TMP/nginx" 2>"$TMP/nginx.log" &
PIDS+=($!)
wait_http "$SP"
wait_http "$NP"

resp_bytes() { # port: bytes of one full response (head + body)
  python3 - "$1" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"GET /ready HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
d = b""
while True:
    c = s.recv(4096)
    if not c: break
    d += c
print(len(d))
PY
}

# "99%  1.23ms" -> milliseconds
to_ms() {
  awk -v v="$1" 'BEGIN {
    n = v + 0; u = v; sub(/^[0-9.]+/, "", u);
    if (u == "us") n /= 1000; else if (u == "s") n *= 1000; else if (u == "m") n *= 60000;
    printf "%.4f", n }'
}

run_wrk() { # name port rep
  local out rps p99 p50
  out=$(taskset -c "$WRK_CPU" wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency \
        "http://127.0.0.1:$2/ready")
  rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
  p50=$(to_ms "$(awk '$1 == "50%" {print $2}' <<<"$out")")
  p99=$(to_ms "$(awk '$1 == "99%" {print $2}' <<<"$out")")
  if grep -q "Non-2xx" <<<"$out"; then echo "wrk: $1 answered non-2xx" >&2; fi
  printf '{"bench":"http_ready_keepalive","server":"%s","rep":%d,"rps":%s,"p50_ms":%s,"p99_ms":%s}\n' \
    "$1" "$3" "$rps" "$p50" "$p99"
}

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

RUNS="$TMP/runs.jsonl"
for rep in $(seq 1 "$REPS"); do
  run_wrk strata "$SP" "$rep" | tee -a "$RUNS"
  run_wrk nginx "$NP" "$rep" | tee -a "$RUNS"
done

field() { # server key
  grep "\"server\":\"$1\"" "$RUNS" | sed -E "s/.*\"$2\":([0-9.eE+-]+).*/\1/" | median
}
S_RPS=$(field strata rps); N_RPS=$(field nginx rps)
S_P99=$(field strata p99_ms); N_P99=$(field nginx p99_ms)
S_P50=$(field strata p50_ms); N_P50=$(field nginx p50_ms)
printf '{"bench":"http_ready_keepalive_summary","conns":%d,"threads":%d,"duration":"%s","reps":%d,' \
  "$CONNS" "$THREADS" "$DURATION" "$REPS"
printf '"server_cpu":%s,"wrk_cpu":%s,' "$SERVER_CPU" "$WRK_CPU"
printf '"strata":{"rps":%s,"p50_ms":%s,"p99_ms":%s,"response_bytes":%s},' \
  "$S_RPS" "$S_P50" "$S_P99" "$(resp_bytes "$SP")"
printf '"nginx":{"rps":%s,"p50_ms":%s,"p99_ms":%s,"response_bytes":%s},' \
  "$N_RPS" "$N_P50" "$N_P99" "$(resp_bytes "$NP")"
awk -v a="$S_RPS" -v b="$N_RPS" -v c="$S_P99" -v d="$N_P99" \
  'BEGIN { printf "\"ratio_rps\":%.3f,\"ratio_p99\":%.3f}\n", a / b, (d > 0 ? c / d : 0) }'
