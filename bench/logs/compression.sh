#!/usr/bin/env bash
# Where the bytes of stored logs go, per workload (issue #6: raw : disk >= 10x). For each line
# format of strata-load's logs workload (json, logfmt, nginx, mixed):
#   - strata: raw line bytes : log block bytes on disk (bench_logscan --no-query) at zstd levels
#     3 (the default), 9 and 19, and with 4 MiB block chunks instead of 1 MiB;
#   - the same raw text through the zstd command line (one frame over the whole file, -3 and -19
#     --long=27): what a general-purpose compressor gets from the lines alone, time order across
#     streams, no timestamps column, no index;
#   - that text without the random ids (every run of 16 or more hex digits removed): the share of
#     the compressed bytes that the generator's random trace ids (128 bits) and span ids (64 bits)
#     on every line account for.
# One JSON line per format. Never pass/fail.
#
# usage: bench/logs/compression.sh [--size MB (128)] [--formats "json logfmt nginx mixed"]
#   env: BUILD_DIR (build/release), TMPDIR
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD_DIR:-$ROOT/build/release}
MB=128
FORMATS="json logfmt nginx mixed"
while [ $# -gt 0 ]; do
  case "$1" in
  --size) MB=$2; shift 2 ;;
  --formats) FORMATS=$2; shift 2 ;;
  *) echo "logs/compression.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
command -v zstd >/dev/null || { echo "logs/compression.sh: zstd missing (apt-get install zstd)" >&2; exit 77; }
BENCH=$BUILD/bench/bench_logscan
if [ ! -x "$BENCH" ]; then
  cmake --preset release -B "$BUILD" >/dev/null
  cmake --build "$BUILD" -j2 --target bench_logscan >/dev/null
fi
TMP=$(mktemp -d "${TMPDIR:-/tmp}/strata-logcomp.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

ratio() { # strata raw:disk for one configuration
  "$BENCH" --size "$MB" --no-query --dir "$TMP" --format "$1" --level "$2" ${3:+--chunk-bytes "$3"} ${4:+--raw "$4"} |
    python3 -c 'import json,sys
for l in sys.stdin:
    x = json.loads(l)
    if x["bench"] == "logscan_compression": print(x["raw_to_block_disk"])'
}

for fmt in $FORMATS; do
  raw=$TMP/$fmt.log
  s3=$(ratio "$fmt" 3 "" "$raw")
  s9=$(ratio "$fmt" 9)
  s19=$(ratio "$fmt" 19)
  s3big=$(ratio "$fmt" 3 4194304)
  size=$(stat -c %s "$raw")
  z3=$(zstd -q -3 -c "$raw" | wc -c)
  z19=$(zstd -q -19 --long=27 -T1 -c "$raw" | wc -c)
  sed -E 's/[0-9a-f]{16,}//g' "$raw" >"$TMP/noid"
  noid=$(stat -c %s "$TMP/noid")
  n3=$(zstd -q -3 -c "$TMP/noid" | wc -c)
  lines=$(wc -l <"$raw")
  python3 - "$fmt" "$MB" "$s3" "$s9" "$s19" "$s3big" "$size" "$z3" "$z19" "$noid" "$n3" "$lines" <<'EOF'
import json, sys
fmt, mb, s3, s9, s19, s3big, size, z3, z19, noid, n3, lines = sys.argv[1:]
size, z3, z19, noid, n3, lines = map(int, (size, z3, z19, noid, n3, lines))
print(json.dumps({
    "bench": "logs_compression", "format": fmt, "mb": int(mb), "lines": lines,
    "avg_line_bytes": round(size / lines - 1, 1),
    "strata_raw_to_disk_zstd3": float(s3), "strata_raw_to_disk_zstd9": float(s9),
    "strata_raw_to_disk_zstd19": float(s19), "strata_raw_to_disk_zstd3_4mib_chunks": float(s3big),
    "zstd_cli_3": round(size / z3, 2), "zstd_cli_19_long": round(size / z19, 2),
    "compressed_bytes_per_line_zstd3": round(z3 / lines, 1),
    "without_hex_ids_compressed_bytes_per_line_zstd3": round(n3 / lines, 1),
    "hex_id_share_of_compressed_zstd3": round(1 - n3 / z3, 3),
    "zstd_cli_3_without_hex_ids_vs_original_raw": round(size / n3, 2)}), flush=True)
EOF
done
