#!/usr/bin/env bash
# Runs every micro benchmark in BUILD_DIR/bench; each prints JSON lines on stdout.
set -euo pipefail
dir=${1:-build/release}
shopt -s nullglob
found=0
for b in "$dir"/bench/bench_*; do
  [ -x "$b" ] || continue
  found=1
  "$b"
done
[ $found -eq 1 ] || { echo "no micro benchmarks built in $dir/bench" >&2; exit 1; }
