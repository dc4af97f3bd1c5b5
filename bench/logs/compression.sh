#!/usr/bin/env bash
# Where the bytes of stored logs go, per workload (issue #6: raw : disk >= 10x). For each line
# format of strata-load's logs workload (json, logfmt, nginx, mixed) and each request model
# (--lines-per-trace: 1 = every line its own trace id, 4 = the generator's default, requests of
# "received", steps and "completed" lines sharing a trace id):
#   - strata: raw line bytes : log block bytes on disk (bench_logs --workload load
#     --compression-only) at zstd levels 3 (the default), 9 and 19, with 4 MiB block chunks
#     instead of 1 MiB, and without the chunks' trigram and gram filters; plus the CPU the
#     background block writing took per GB of raw lines;
#   - the same raw text through the zstd command line (one frame over the whole file, -3 and -19
#     --long=27): what a general-purpose compressor gets from the lines alone, time order across
#     streams, no timestamps column, no index;
#   - that text without the random ids (every run of 16 or more hex digits removed): the share of
#     the compressed bytes that the random trace ids (128 bits) and span ids (64 bits) take.
# With --levers, also bench_logs --levers per format and model: zstd levels, long mode and per-block
# trained dictionaries on the block chunks' text, outside the engine (ratio, compress and
# decompress MB per CPU second).
# One JSON line per format and model. Never pass/fail.
#
# usage: bench/logs/compression.sh [--size MB (128)] [--formats "json logfmt nginx mixed"]
#                                  [--lines-per-trace "1 4"] [--levers]
#   env: BUILD_DIR (build/release), TMPDIR
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD_DIR:-$ROOT/build/release}
MB=128
FORMATS="json logfmt nginx mixed"
LPTS="1 4"
LEVERS=
while [ $# -gt 0 ]; do
  case "$1" in
  --size) MB=$2; shift 2 ;;
  --formats) FORMATS=$2; shift 2 ;;
  --lines-per-trace) LPTS=$2; shift 2 ;;
  --levers) LEVERS=1; shift ;;
  *) echo "logs/compression.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
command -v zstd >/dev/null || { echo "logs/compression.sh: zstd missing (apt-get install zstd)" >&2; exit 77; }
BENCH=$BUILD/bench/bench_logs
if [ ! -x "$BENCH" ]; then
  cmake --preset release -B "$BUILD" >/dev/null
  cmake --build "$BUILD" -j2 --target bench_logs >/dev/null
fi
TMP=$(mktemp -d "${TMPDIR:-/tmp}/strata-logcomp.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

run() { # one store run: prints its logs_compression line
  "$BENCH" --workload load --compression-only --size "$MB" --dir "$TMP" "$@" |
    grep '"bench":"logs_compression"'
}

for lpt in $LPTS; do
  for fmt in $FORMATS; do
    raw=$TMP/$fmt.log
    common=(--format "$fmt" --lines-per-trace "$lpt")
    run "${common[@]}" --level 3 --raw "$raw" >"$TMP/s3"
    run "${common[@]}" --level 9 >"$TMP/s9"
    run "${common[@]}" --level 19 >"$TMP/s19"
    run "${common[@]}" --level 3 --chunk-bytes 4194304 >"$TMP/s3big"
    run "${common[@]}" --level 3 --no-filter >"$TMP/s3nf"
    size=$(stat -c %s "$raw")
    z3=$(zstd -q -3 -c "$raw" | wc -c)
    z19=$(zstd -q -19 --long=27 -T1 -c "$raw" | wc -c)
    sed -E 's/[0-9a-f]{16,}//g' "$raw" >"$TMP/noid"
    n3=$(zstd -q -3 -c "$TMP/noid" | wc -c)
    lines=$(wc -l <"$raw")
    python3 - "$fmt" "$MB" "$lpt" "$TMP" "$size" "$z3" "$z19" "$n3" "$lines" <<'EOF'
import json, sys
fmt, mb, lpt, tmp = sys.argv[1:5]
size, z3, z19, n3, lines = map(int, sys.argv[5:])
s = {k: json.load(open(f"{tmp}/{k}")) for k in ("s3", "s9", "s19", "s3big", "s3nf")}
print(json.dumps({
    "bench": "logs_compression", "format": fmt, "mb": int(mb), "lines_per_trace": int(lpt),
    "lines": lines, "avg_line_bytes": round(size / lines - 1, 1),
    "strata_raw_to_disk_zstd3": s["s3"]["raw_to_block_disk"],
    "strata_raw_to_disk_zstd9": s["s9"]["raw_to_block_disk"],
    "strata_raw_to_disk_zstd19": s["s19"]["raw_to_block_disk"],
    "strata_raw_to_disk_zstd3_4mib_chunks": s["s3big"]["raw_to_block_disk"],
    "strata_raw_to_disk_zstd3_no_filters": s["s3nf"]["raw_to_block_disk"],
    "block_write_cpu_s_per_raw_gb_zstd3": s["s3"]["background_cpu_s_per_raw_gb"],
    "block_write_cpu_s_per_raw_gb_zstd9": s["s9"]["background_cpu_s_per_raw_gb"],
    "block_write_cpu_s_per_raw_gb_zstd19": s["s19"]["background_cpu_s_per_raw_gb"],
    "block_write_cpu_s_per_raw_gb_zstd3_no_filters": s["s3nf"]["background_cpu_s_per_raw_gb"],
    "zstd_cli_3": round(size / z3, 2), "zstd_cli_19_long": round(size / z19, 2),
    "compressed_bytes_per_line_zstd3": round(z3 / lines, 1),
    "without_hex_ids_compressed_bytes_per_line_zstd3": round(n3 / lines, 1),
    "hex_id_share_of_compressed_zstd3": round(1 - n3 / z3, 3),
    "zstd_cli_3_without_hex_ids_vs_original_raw": round(size / n3, 2)}), flush=True)
EOF
    if [ -n "$LEVERS" ]; then
      "$BENCH" --workload load --compression-only --levers --size "$MB" --dir "$TMP" \
        "${common[@]}" | grep '"bench":"logs_zstd_lever"' |
        python3 -c 'import json,sys
for l in sys.stdin:
    x = json.loads(l); x["format"] = sys.argv[1]; x["lines_per_trace"] = int(sys.argv[2])
    print(json.dumps(x), flush=True)' "$fmt" "$lpt"
    fi
  done
done
