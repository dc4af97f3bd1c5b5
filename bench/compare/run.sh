#!/usr/bin/env bash
# `make bench-compare`: strata against Prometheus 2.42 on this machine, side by side (ingest, memory,
# disk, PromQL query latency and answers, HTTP, logs). Installs the benchmark packages
# (scripts/setup.sh --bench), builds the release preset, then runs bench/compare/compare.py pinned
# to core 1 (the servers run on core 0). Never passes or fails on time.
#
# usage: bench/compare/run.sh [--size small|default|large] [--build-dir DIR] [compare.py options]
#   default build dir: build/release (shared with `make run`); --no-docs leaves docs/ untouched.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SIZE=default
BUILD=build/release
PASS=()
while [ $# -gt 0 ]; do
  case "$1" in
  --size) SIZE=$2; shift 2 ;;
  --size=*) SIZE=${1#--size=}; shift ;;
  --build-dir) BUILD=$2; shift 2 ;;
  --build-dir=*) BUILD=${1#--build-dir=}; shift ;;
  *) PASS+=("$1"); shift ;;
  esac
done
case "$SIZE" in small | default | large) ;; *) echo "bench-compare: unknown size '$SIZE'" >&2; exit 2 ;; esac

cd "$ROOT"
scripts/setup.sh --bench
if [ "$(nproc)" -lt 2 ]; then
  echo "bench-compare: needs 2 CPUs (server on core 0, load generator on core 1)" >&2
  exit 1
fi
if [ "$BUILD" = build/release ]; then
  cmake --preset release >/dev/null
else
  cmake --preset release -B "$BUILD" >/dev/null
fi
cmake --build "$BUILD" -j "$(nproc)" --target strata strata-load stratactl
exec taskset -c 1 python3 bench/compare/compare.py --size "$SIZE" --build-dir "$ROOT/$BUILD" "${PASS[@]}"
