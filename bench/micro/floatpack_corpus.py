#!/usr/bin/env python3
"""Builds a bench_floatpack corpus from `promtool tsdb dump` output (stdin or a file).

Line format: `{labels} value timestamp_ms`. Values are printed by Go as the shortest decimal that
round-trips, so parsing them gives the stored float64 bits back; a NaN is written as Go's NaN
(0x7ff8000000000001): the dump does not tell a stale marker from other NaNs.

Output: "FPC2", then per series: u32 label text length, the label text as dumped
(`{a="b", c="d"}`), u32 n, n int64 timestamps, n uint64 value bits (little endian); samples in
time order (duplicates dropped).

Usage: promtool tsdb dump DATA_DIR | floatpack_corpus.py > corpus.bin
"""
import struct
import sys

GO_NAN = 0x7FF8000000000001


def bits(text):
    if text == "NaN":
        return GO_NAN
    return struct.unpack("<Q", struct.pack("<d", float(text)))[0]


def main():
    src = open(sys.argv[1]) if len(sys.argv) > 1 else sys.stdin
    series = {}
    for line in src:
        line = line.rstrip("\n")
        end = line.rfind("} ")
        if end < 0:
            continue
        key = line[: end + 1]
        value, ts = line[end + 2 :].split(" ")
        series.setdefault(key, {})[int(ts)] = bits(value)
    out = sys.stdout.buffer
    out.write(b"FPC2")
    for key in sorted(series):
        samples = sorted(series[key].items())
        text = key.encode()
        out.write(struct.pack("<I", len(text)))
        out.write(text)
        out.write(struct.pack("<I", len(samples)))
        out.write(struct.pack("<%dq" % len(samples), *[t for t, _ in samples]))
        out.write(struct.pack("<%dQ" % len(samples), *[v for _, v in samples]))
    sys.stderr.write("%d series, %d samples\n" % (len(series), sum(len(s) for s in series.values())))


if __name__ == "__main__":
    main()
