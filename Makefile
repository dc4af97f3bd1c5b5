# Thin wrapper over CMake presets. Every target installs missing Debian packages first.
.PHONY: all setup build run test unit bench fuzz fuzz-build format format-check clean

PRESET ?= asan
JOBS ?= $(shell nproc)
FUZZ_SECONDS ?= 600
FUZZ_JOBS ?= 1
STRATA_ARGS ?=

all: build

setup:
	@scripts/setup.sh

build/%/build.ninja: CMakeLists.txt CMakePresets.json | setup
	cmake --preset $* >/dev/null

build: setup build/$(PRESET)/build.ninja
	cmake --build --preset $(PRESET) -j $(JOBS)

# Build the release binary and start strata with its defaults (:9090 and :3100, ./data).
run: setup build/release/build.ninja
	cmake --build --preset release -j $(JOBS) --target strata
	exec build/release/server/strata $(STRATA_ARGS)

# Every test (unit, integration, conformance, fuzz-regress, lint) under ASan+UBSan; the release build of
# the strata binary too, since `make run` uses it and gcc -O2 warns where -O1 does not.
test: setup build/asan/build.ninja build/release/build.ninja
	cmake --build --preset asan -j $(JOBS)
	cmake --build --preset release -j $(JOBS) --target strata
	ctest --preset asan

unit: setup build/asan/build.ninja
	cmake --build --preset asan -j $(JOBS)
	ctest --preset asan -L unit

# Micro benchmarks (release build); each prints one JSON object per line.
bench: setup build/release/build.ninja
	cmake --build --preset release -j $(JOBS)
	@scripts/run-micro-bench.sh build/release

# Run every libFuzzer target for FUZZ_SECONDS each (clang build), new inputs kept in build/fuzz/corpus.
fuzz: setup build/fuzz/build.ninja
	cmake --build --preset fuzz -j $(JOBS)
	@FUZZ_JOBS=$(FUZZ_JOBS) scripts/run-fuzzers.sh build/fuzz $(FUZZ_SECONDS)

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

format-check:
	clang-format --dry-run --Werror $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build

# strata vs Prometheus 2.42 side by side (ingest, memory, disk, queries, HTTP, logs); SIZE=small|default|large.
# Writes build/bench-compare/, docs/benchmarks/compare-latest.json, docs/img/compare-*.png and the
# bench-compare section of docs/benchmarks.md.
.PHONY: bench-compare
bench-compare: SIZE ?= default
bench-compare:
	@bench/compare/run.sh --size $(SIZE)
