#!/usr/bin/env bash
# Runs each libFuzzer target in BUILD_DIR/tests for SECONDS, seeded from tests/fuzz/NAME/corpus,
# writing new inputs to BUILD_DIR/corpus/NAME (merge interesting ones back by hand with -merge=1).
# Prints one JSON line per target with its exec count and whether it found a crash.
set -uo pipefail
dir=${1:-build/fuzz}
secs=${2:-600}
root=$(cd "$(dirname "$0")/.." && pwd)
status=0
for exe in "$dir"/tests/fuzz_*; do
  [ -x "$exe" ] || continue
  name=$(basename "$exe"); name=${name#fuzz_}
  work="$dir/corpus/$name"; mkdir -p "$work" "$dir/artifacts/$name"
  log="$dir/artifacts/$name/fuzz.log"
  "$exe" -max_total_time="$secs" -print_final_stats=1 -artifact_prefix="$dir/artifacts/$name/" \
    "$work" "$root/tests/fuzz/$name/corpus" >"$log" 2>&1
  rc=$?
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  crashed=false; [ $rc -ne 0 ] && { crashed=true; status=1; }
  printf '{"fuzzer":"%s","seconds":%s,"execs":%s,"crashed":%s,"log":"%s"}\n' \
    "$name" "$secs" "${execs:-0}" "$crashed" "$log"
done
exit $status
