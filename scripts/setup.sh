#!/usr/bin/env bash
# Installs the Debian packages strata needs to build, test and benchmark, when they are missing.
# Idempotent and quiet when everything is present; runs apt-get update once only when something is missing.
set -euo pipefail

# Build and link dependencies (see docs/ARCHITECTURE.md, "Dependencies").
BUILD_PKGS=(build-essential cmake ninja-build pkg-config clang libclang-rt-14-dev clang-format
  liburing-dev libjemalloc-dev libzstd-dev libsnappy-dev libroaring-dev libhyperscan-dev
  libprotobuf-c-dev protobuf-c-compiler libcurl4-openssl-dev libpcre2-dev libcmocka-dev
  libxxhash-dev libyaml-dev zlib1g-dev libdeflate-dev)
# Real peers and clients the integration tests drive.
TEST_PKGS=(curl python3 prometheus prometheus-node-exporter)
# Peers and tools for benchmarks only (installed by `make bench-compare`, not by `make test`).
BENCH_PKGS=(wrk nginx-light ripgrep gnuplot-nox hyperfine libjansson-dev)

want=("${BUILD_PKGS[@]}" "${TEST_PKGS[@]}")
case "${1:-}" in
--bench) want+=("${BENCH_PKGS[@]}") ;;
esac

missing=()
for p in "${want[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
echo "setup: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# Packages such as prometheus start their daemon on install (it would hold :9090, strata's default
# port); forbid service starts while installing, unless the machine already has a policy of its own.
policy=/usr/sbin/policy-rc.d
own_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
  $SUDO chmod +x "$policy"
  own_policy=1
fi
trap '[ $own_policy -eq 1 ] && $SUDO rm -f "$policy"' EXIT
$SUDO apt-get update -q >/dev/null
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
