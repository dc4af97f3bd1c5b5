#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_remote_write: byte 0 = (nshards-1) << 1 | v2, then a snappy
block body built with tests/integration/rwproto.py. Run from anywhere; rewrites corpus/seed_*."""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "integration"))
import rwproto as rw  # noqa: E402


def sel(v2, nshards):
    return bytes([(nshards - 1) << 1 | (1 if v2 else 0)])


def node_series(n, t0=1700000000000):
    out = []
    for i in range(n):
        labels = [("__name__", "node_cpu_seconds_total"), ("cpu", str(i % 4)),
                  ("instance", "host:9100"), ("job", "node"), ("mode", ["idle", "user"][i % 2])]
        out.append((labels, [(t0 + 15000 * k, float(i * 100 + k)) for k in range(3)]))
    return out


def main():
    seeds = {}
    v1 = rw.v1_request(node_series(6))
    seeds["v1_node_4shards"] = sel(False, 4) + rw.snappy_block(v1)
    seeds["v1_node_1shard"] = sel(False, 1) + rw.snappy_block(v1)
    stale = rw.v1_request([([("__name__", "up"), ("job", "x")],
                            [(1000, 1.0), (2000, rw.STALE_NAN_BITS)])])
    seeds["v1_stale"] = sel(False, 2) + rw.snappy_block(stale)
    seeds["v1_metadata_only"] = sel(False, 1) + rw.snappy_block(rw.v1_request(
        metadata=[rw.v1_metadata("up", 2, "1 if up"), rw.v1_metadata("rpc_total", 1, "rpcs", "")]))
    bad = rw.v1_request([
        ([("__name__", "ok"), ("job", "a")], [(2000, 1.0), (3001, 2.0)]),
        ([("job", "no_name")], [(1000, 1.0)]),
        ([("__name__", "x"), ("__tenant__", "evil")], [(1000, 1.0)]),
        ([("__name__", "x"), ("v", b"\xed\xa0\x80")], [(1000, 1.0)]),  # a surrogate: not UTF-8
        ([("__name__", "x"), ("http.status", "200"), ("job", "a" * 80)], [(1000, 1.0)]),
    ])
    seeds["v1_partly_invalid"] = sel(False, 1) + rw.snappy_block(bad)
    many = [([("__name__", "m")] + [("l%02d" % k, "v") for k in range(10)], [(1000, 1.0)])]
    seeds["v1_too_many_labels"] = sel(False, 1) + rw.snappy_block(rw.v1_request(many))
    ex = rw.v1_series([("__name__", "rpc_seconds_bucket"), ("le", "0.1")], [(1000, 3.0)],
                      exemplars=[rw.v1_exemplar([("trace_id", "abc")], 0.05, 999)],
                      histograms=[rw.v1_histogram(1000, 2, 0.5)])
    seeds["v1_exemplar_histogram"] = sel(False, 1) + rw.snappy_block(rw.v1_request([ex]))
    unsorted = rw.v1_request([([("job", "a"), ("__name__", "up")], [(1000, 1.0)])])
    seeds["v1_unsorted"] = sel(False, 1) + rw.snappy_block(unsorted)

    v2 = rw.V2()
    for labels, samples in node_series(4):
        v2.add(labels, samples, metadata=(1, "Seconds the CPUs spent in each mode.", "seconds"))
    v2.add([("__name__", "rpc_seconds"), ("job", "api")],
           histograms=[rw.v1_histogram(1000, 2, 0.5)])
    v2.add([("__name__", "rpc_total"), ("job", "api")], [(1000, 7.0)],
           exemplars=[([("trace_id", "abc")], 1.0, 1000)])
    seeds["v2_mixed_4shards"] = sel(True, 4) + rw.snappy_block(v2.encode())
    seeds["v2_mixed_1shard"] = sel(True, 1) + rw.snappy_block(v2.encode())
    badsym = rw.V2(first_symbol="x").add([("__name__", "up")], [(1000, 1.0)])
    seeds["v2_bad_symbol0"] = sel(True, 1) + rw.snappy_block(badsym.encode())
    badref = rw.V2().add(None, [(1000, 1.0)], refs=[1, 99])
    badref.ref("__name__")
    seeds["v2_ref_out_of_range"] = sel(True, 1) + rw.snappy_block(badref.encode())
    seeds["v1_body_as_v2"] = sel(True, 1) + rw.snappy_block(v1)

    full = rw.snappy_block(v1)
    seeds["truncated_snappy"] = sel(False, 1) + full[: len(full) // 2]
    seeds["framed_snappy"] = sel(False, 1) + rw.snappy_framed(v1)
    seeds["unsnappied_protobuf"] = sel(False, 1) + v1
    seeds["empty_body"] = sel(False, 1) + rw.snappy_block(b"")
    big_len = rw.uvarint(1 << 30) + b"\x00"
    seeds["huge_declared_length"] = sel(False, 1) + big_len
    trunc_pb = v1[: len(v1) - 7]
    seeds["truncated_protobuf"] = sel(False, 2) + rw.snappy_block(trunc_pb)

    out = os.path.join(HERE, "corpus")
    os.makedirs(out, exist_ok=True)
    for name in os.listdir(out):
        if name.startswith("seed_"):
            os.remove(os.path.join(out, name))
    for name, data in seeds.items():
        with open(os.path.join(out, "seed_" + name), "wb") as f:
            f.write(data)
    print(f"{len(seeds)} seeds in {out}")


if __name__ == "__main__":
    main()
