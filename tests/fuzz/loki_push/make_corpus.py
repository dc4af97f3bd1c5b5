#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_loki_push: byte 0 = rate << 4 | shard << 2 | mode (0 JSON,
1 protobuf, 2 snappy protobuf, 3 Content-Type + body), then the body, built with the encoders of
tests/integration/loki_push_test.py. Run from anywhere; rewrites corpus/seed_*."""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(HERE, "..", "..", "integration"))
import rwproto as rw  # noqa: E402
from loki_push_test import json_push, pb_push  # noqa: E402

T0 = 1700000000000000000


def sel(mode, shard=0, rate=0):
    return bytes([rate << 4 | shard << 2 | mode])


def with_ct(ct, body):
    c = ct.encode()
    return sel(3) + bytes([len(c)]) + c + body


def main():
    seeds = {}
    example = (b'{"streams":[{"stream":{"job":"app","level":"info"},'
               b'"values":[["1570818238000000000","line one"],'
               b'["1570818238000000001","line two",{"trace_id":"abc","user":"u1"}]]}]}')
    seeds["json_example"] = sel(0) + example
    seeds["json_example_shard2"] = sel(0, 2) + example
    many = [({"app": f"a{i}", "pod": f"p{i % 3}"},
             [(T0 + k * 2, f"line {i} {k}", {"trace_id": str(k)} if k % 2 else None)
              for k in range(4)]) for i in range(8)]
    seeds["json_many_streams"] = sel(0, 1) + json_push(many)
    seeds["json_rate_limited"] = sel(0, 0, 1) + json_push(many * 3)
    seeds["json_numeric_ts"] = sel(0) + b'{"streams":[{"stream":{"job":"a"},"values":[[1,"x"]]}]}'
    seeds["json_empty_streams"] = sel(0) + b'{"streams":[]}'
    seeds["json_truncated"] = sel(0) + example[:70]
    seeds["json_odd_ts"] = sel(0) + json_push([({"job": "odd"}, [(T0 + 1, "odd", None),
                                                                 (T0 + 2, "even", None)])])
    too_many = {f"l{i}": "v" for i in range(8)}
    seeds["json_too_many_labels"] = sel(0) + json_push([(too_many, [(T0, "x", None)]),
                                                        ({"job": "ok"}, [(T0, "y", None)])])
    md = {f"k{i}": "v" * 40 for i in range(6)}
    seeds["json_metadata_limits"] = sel(0) + json_push([({"job": "md"}, [(T0, "x", md)])])
    pb_streams = [('{job="a" , env = "b"}', [(T0, "one", []), (T0 + 4, "two", [("t", "1")])]),
                  ('{env="b", job="a"}', [(T0 + 2, "three", [])]),
                  ("{app=`raw`, x='q'}", [(T0 + 6, "four", [])]),
                  ('{__tenant__="evil"}', [(T0, "spoof", [])]),
                  ('{job="%s"}' % ("v" * 100), [(T0, "long value", [])])]
    body = pb_push(pb_streams)
    seeds["pb_streams"] = sel(1) + body
    seeds["pb_snappy"] = sel(2, 1) + rw.snappy_block(body)
    seeds["pb_snappy_truncated"] = sel(2) + rw.snappy_block(body)[:-7]
    seeds["pb_unparsable_selector"] = sel(1) + pb_push([('{job="a"', [(T0, "x", [])])])
    seeds["pb_regex_matcher"] = sel(1) + pb_push([('{job=~"a"}', [(T0, "x", [])])])
    seeds["pb_no_entries"] = sel(1) + pb_push([('{job="a"}', [])])
    seeds["ct_json"] = with_ct("application/json; charset=utf-8", example)
    seeds["ct_protobuf"] = with_ct("application/x-protobuf", body)
    seeds["ct_bad_param"] = with_ct("application/json; a=\"x;y\"; A=2", example)
    seeds["ct_empty"] = with_ct("", example)
    seeds["ct_no_subtype"] = with_ct("text", body)
    out = os.path.join(HERE, "corpus")
    os.makedirs(out, exist_ok=True)
    for f in os.listdir(out):
        if f.startswith("seed_"):
            os.remove(os.path.join(out, f))
    for name, data in seeds.items():
        assert len(data) < 65536
        with open(os.path.join(out, "seed_" + name), "wb") as f:
            f.write(data)
    print(f"{len(seeds)} seeds")


if __name__ == "__main__":
    sys.exit(main())
