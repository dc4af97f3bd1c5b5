#!/usr/bin/env bash
# Runs each libFuzzer target in BUILD_DIR/tests for SECONDS, seeded from tests/fuzz/NAME/corpus, new
# inputs kept in BUILD_DIR/corpus/NAME (merge useful ones back by hand with -merge=1), FUZZ_JOBS targets at
# a time (default 1). Prints one JSON line per target: exec count and whether it found a crash; exits 1
# if any target crashed (the reproducer is in BUILD_DIR/artifacts/NAME/).
set -uo pipefail
dir=${1:-build/fuzz}
secs=${2:-600}
jobs=${FUZZ_JOBS:-1}
root=$(cd "$(dirname "$0")/.." && pwd)

one() {
  local exe=$1 name
  name=$(basename "$exe"); name=${name#fuzz_}
  local work="$dir/corpus/$name" art="$dir/artifacts/$name"
  mkdir -p "$work" "$art"
  "$exe" -max_total_time="$secs" -print_final_stats=1 -artifact_prefix="$art/" \
    "$work" "$root/tests/fuzz/$name/corpus" >"$art/fuzz.log" 2>&1
  local rc=$? execs crashed=false
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$art/fuzz.log" | grep -o '[0-9]*$' | tail -1)
  [ $rc -ne 0 ] && crashed=true
  printf '{"fuzzer":"%s","seconds":%s,"execs":%s,"crashed":%s,"log":"%s"}\n' \
    "$name" "$secs" "${execs:-0}" "$crashed" "$art/fuzz.log"
}
export -f one
export dir secs root
ls "$dir"/tests/fuzz_* >/dev/null 2>&1 || { echo "no fuzz targets in $dir/tests" >&2; exit 1; }
out=$(ls "$dir"/tests/fuzz_* | xargs -P "$jobs" -I{} bash -c 'one {}')
echo "$out"
! grep -q '"crashed":true' <<<"$out"
