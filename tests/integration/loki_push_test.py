#!/usr/bin/env python3
"""Integration tests for the Loki push API into strata (api-contract §3, every T-3.x line), its
limits (line size, streams per tenant, ingestion rate with Retry-After, labels and structured
metadata), tenants, out-of-order entries and duplicates, /metrics, log retention per stream
selector, and a kill -9 test under push load proving every acknowledged line survives. The real
binary on 127.0.0.1; bodies built here (logproto protobuf with rwproto.py's encoders and
literal-only snappy, JSON, gzip, deflate); what was stored read back from the stopped server's
data directory with logs_dump.

usage: loki_push_test.py --strata PATH --dump PATH --case NAME|all [--list]
Environment: STRATA_CRASH_ROUNDS (default 20), STRATA_TEST_SEED.
Exit status: 0 pass, 1 fail, 77 skip.
"""
import gzip
import http.client
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import zlib
from urllib.parse import urlencode

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rwproto as rw  # noqa: E402

CASES = {}
PATH = "/loki/api/v1/push"
JSON_TYPE = "application/json"
PB_TYPE = "application/x-protobuf"
NOW = time.time_ns() // 10**9 * 10**9  # whole seconds, inside the default 7 d acceptance window


def case(fn):
    CASES[fn.__name__.removeprefix("case_")] = fn
    return fn


# ---- bodies -----------------------------------------------------------------------------------


def pb_push(streams):
    """logproto.PushRequest: streams = [(labels_text, [(ts_ns, line, [(k, v), ...]), ...])]."""
    out = b""
    for labels, entries in streams:
        s = rw.f_bytes(1, labels)
        for ts, line, md in entries:
            tsm = rw.f_varint(1, ts // 10**9) + rw.f_varint(2, ts % 10**9)
            e = rw.f_bytes(1, tsm) + rw.f_bytes(2, line)
            for k, v in md:
                e += rw.f_bytes(3, rw.f_bytes(1, k) + rw.f_bytes(2, v))
            s += rw.f_bytes(2, e)
        out += rw.f_bytes(1, s)
    return out


def json_push(streams):
    """streams = [({label: value}, [(ts_ns, line, {md} or None), ...])]."""
    out = []
    for labels, entries in streams:
        vals = [[str(ts), line] + ([md] if md else []) for ts, line, md in entries]
        out.append({"stream": labels, "values": vals})
    return json.dumps({"streams": out}).encode()


def push(port, body, content_type=JSON_TYPE, encoding=None, headers=None, conn=None):
    return rw.post(port, body, content_type=content_type, encoding=encoding, path=PATH,
                   headers=headers, conn=conn)


def push_pb(port, streams, encoding=None, **kw):
    return push(port, rw.snappy_block(pb_push(streams)), content_type=PB_TYPE, encoding=encoding,
                **kw)


def expect(resp, status, contains=None):
    st, headers, body = resp
    assert st == status, f"expected {status}, got {st}: {body!r}"
    if contains is not None:
        assert contains.encode() in body, f"{contains!r} not in {body!r}"
    if st != 204:
        assert headers.get("content-type") == "text/plain; charset=utf-8", headers
    return headers, body


# ---- server and store -------------------------------------------------------------------------


def start(binary, tmp, shards=2, extra=()):
    return rw.Server(binary, os.path.join(tmp, "data"), shards=shards, extra=extra).wait_ready()


def dump(tool, data_dir):
    """{(tenant, ((name, value), ...)): [(ts, line, ((k, v), ...)), ...]} and the totals."""
    r = subprocess.run([tool, data_dir], capture_output=True, timeout=300)
    if r.returncode != 0:
        raise AssertionError(f"logs_dump failed: {r.stderr.decode()}")
    out, total = {}, None
    for raw in r.stdout.decode(errors="surrogateescape").splitlines():
        o = json.loads(raw)
        if "labels" not in o:
            total = o
            continue
        labels = dict(o["labels"])
        tenant = labels.pop("__tenant__", None)
        key = (tenant,) + tuple(sorted(labels.items()))
        out.setdefault(key, []).append((int(o["ts"]), o["line"], tuple(o["md"].items())))
    return out, total


def stored(tool, tmp):
    return dump(tool, os.path.join(tmp, "data"))[0]


def key(tenant="anonymous", **labels):
    return (tenant,) + tuple(sorted(labels.items()))


def metric(port, name):
    st, body = rw.http_get(port, "/metrics")
    assert st == 200
    total = 0.0
    for line in body.decode().splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            total += float(line.split()[-1])
    return total


EXAMPLE = (b'{"streams":[{"stream":{"job":"app","level":"info"},'
           b'"values":[["1570818238000000000","line one"],'
           b'["1570818238000000001","line two",{"trace_id":"abc","user":"u1"}]]}]}')
EXAMPLE_KEY = key(job="app", level="info")
EXAMPLE_STORED = [(1570818238000000000, "line one", ()),
                  (1570818238000000001, "line two", (("trace_id", "abc"), ("user", "u1")))]
ANY_AGE = ("--limits.loki.reject-old-samples-max-age", "0")

# ---- T-3.x ------------------------------------------------------------------------------------


@case
def case_t3_1_json(binary, tool, tmp):
    """T-3.1: the contract's JSON example gets 204 with an empty body, and both lines are stored,
    the second with its structured metadata. (Its 2019 timestamps are older than Loki's default
    acceptance window, so this server accepts any age; with the default they get 400.)"""
    srv = start(binary, tmp, extra=ANY_AGE)
    h, body = expect(push(srv.port, EXAMPLE), 204)
    assert body == b"" and "content-length" not in h, h
    assert srv.stop() == 0
    got = stored(tool, tmp)
    assert got == {EXAMPLE_KEY: EXAMPLE_STORED}, got
    # with the default window the same example is refused, in Loki's words
    srv = start(binary, tmp)
    expect(push(srv.port, EXAMPLE), 400, "entry for stream '{job=\"app\", level=\"info\"}' has "
                                         "timestamp too old: 2019-10-11T18:23:58Z")
    srv.stop()


@case
def case_t3_2_gzip_deflate(binary, tool, tmp):
    """T-3.2: the example gzip-compressed with Content-Encoding: gzip gets 204; deflate (zlib and
    raw, as Go's flate writes) too; a corrupt gzip body gets 400."""
    srv = start(binary, tmp, extra=ANY_AGE)
    expect(push(srv.port, gzip.compress(EXAMPLE), encoding="gzip"), 204)
    body2 = EXAMPLE.replace(b"line", b"zlib line")
    expect(push(srv.port, zlib.compress(body2), encoding="deflate"), 204)
    co = zlib.compressobj(wbits=-15)
    body3 = EXAMPLE.replace(b"line", b"raw line")
    expect(push(srv.port, co.compress(body3) + co.flush(), encoding="deflate"), 204)
    expect(push(srv.port, gzip.compress(EXAMPLE)[:-9] + b"garbage!!", encoding="gzip"), 400)
    assert srv.stop() == 0
    lines = sorted(line for _, line, _ in stored(tool, tmp)[EXAMPLE_KEY])
    assert lines == sorted(["line one", "line two", "zlib line one", "zlib line two",
                            "raw line one", "raw line two"]), lines


@case
def case_t3_3_numeric_timestamp(binary, tool, tmp):
    """T-3.3: a JSON number as the timestamp gets 400 and nothing is stored; so do a 4-element
    value, a non-string line and an empty label set."""
    srv = start(binary, tmp)
    bad = [
        b'{"streams":[{"stream":{"job":"a"},"values":[[%d,"x"]]}]}' % NOW,
        b'{"streams":[{"stream":{"job":"a"},"values":[["%d","x",{},"extra"]]}]}' % NOW,
        b'{"streams":[{"stream":{"job":"a"},"values":[["%d",7]]}]}' % NOW,
        b'{"streams":[{"stream":{},"values":[["%d","x"]]}]}' % NOW,
        b'{"streams":[{"stream":{"job":"a"},"values":[["%d","x"]]}',
    ]
    for b in bad:
        expect(push(srv.port, b), 400)
    expect(push(srv.port, bad[0]), 400, "timestamp")
    expect(push(srv.port, b'{"streams":[]}'), 422,
           "error at least one valid stream is required for ingestion")
    assert srv.stop() == 0
    assert stored(tool, tmp) == {}


@case
def case_t3_4_protobuf(binary, tool, tmp):
    """T-3.4: a snappy protobuf body (labels {job="app"}), Content-Type application/x-protobuf, no
    Content-Encoding (what Alloy and Promtail send) gets 204; entries and metadata are stored."""
    srv = start(binary, tmp)
    entries = [(NOW + 1, "pb one", []), (NOW + 2, "pb two", [("trace_id", "t1")])]
    h, body = expect(push_pb(srv.port, [('{job="app"}', entries)]), 204)
    assert body == b""
    assert srv.stop() == 0
    assert stored(tool, tmp) == {key(job="app"): [(NOW + 1, "pb one", ()),
                                                  (NOW + 2, "pb two", (("trace_id", "t1"),))]}


@case
def case_t3_5_protobuf_snappy(binary, tool, tmp):
    """T-3.5: the same with Content-Encoding: snappy gets 204; a gzip layer over the snappy body
    (Loki decodes both) too."""
    srv = start(binary, tmp)
    expect(push_pb(srv.port, [('{job="app"}', [(NOW + 1, "one", [])])], encoding="snappy"), 204)
    body = gzip.compress(rw.snappy_block(pb_push([('{job="app"}', [(NOW + 2, "two", [])])])))
    expect(push(srv.port, body, content_type=PB_TYPE, encoding="gzip"), 204)
    assert srv.stop() == 0
    assert stored(tool, tmp) == {key(job="app"): [(NOW + 1, "one", ()), (NOW + 2, "two", ())]}


@case
def case_t3_6_uncompressed_protobuf(binary, tool, tmp):
    """T-3.6: an uncompressed protobuf body gets 400, with or without Content-Encoding: snappy;
    so does a framed-snappy body."""
    srv = start(binary, tmp)
    raw = pb_push([('{job="app"}', [(NOW + 1, "one", [])])])
    expect(push(srv.port, raw, content_type=PB_TYPE), 400, "snappy")
    expect(push(srv.port, raw, content_type=PB_TYPE, encoding="snappy"), 400)
    expect(push(srv.port, rw.snappy_framed(raw), content_type=PB_TYPE), 400)
    assert srv.stop() == 0
    assert stored(tool, tmp) == {}


@case
def case_t3_7_label_normalisation(binary, tool, tmp):
    """T-3.7: `{job="a" , env = "b"}` lands in the same stream as `{env="b", job="a"}` (protobuf)
    and as {"env":"b","job":"a"} (JSON); an unparsable selector gets 400."""
    srv = start(binary, tmp, shards=3)
    expect(push_pb(srv.port, [('{job="a" , env = "b"}', [(NOW + 1, "one", [])])]), 204)
    expect(push_pb(srv.port, [('{env="b", job="a"}', [(NOW + 2, "two", [])])]), 204)
    expect(push(srv.port, json_push([({"job": "a", "env": "b"}, [(NOW + 3, "three", None)])])),
           204)
    expect(push_pb(srv.port, [('{job="a", env=~"b"}', [(NOW + 4, "x", [])])]), 400)
    expect(push_pb(srv.port, [('{job="a"', [(NOW + 4, "x", [])])]), 400)
    expect(push_pb(srv.port, [("{}", [(NOW + 4, "x", [])])]), 400)
    assert srv.stop() == 0
    got = stored(tool, tmp)
    assert list(got) == [key(env="b", job="a")], got
    assert [line for _, line, _ in got[key(env="b", job="a")]] == ["one", "two", "three"]


@case
def case_t3_8_unknown_encoding(binary, tool, tmp):
    """T-3.8: Content-Encoding: br gets 400 (Loki: `Content-Encoding "br" not supported`)."""
    srv = start(binary, tmp)
    st, _, body = push(srv.port, EXAMPLE, encoding="br")
    st2, _, body2 = push(srv.port, EXAMPLE, encoding="zstd")
    srv.stop()
    assert st == 400, (st, body)
    assert b'Content-Encoding "br" not supported' in body, body
    assert st2 == 400 and b'"zstd" not supported' in body2, (st2, body2)


# ---- negotiation, ordering, limits --------------------------------------------------------------


@case
def case_content_types(binary, tool, tmp):
    """Content-Type: missing or unparsable -> 400 with Go's mime wording; JSON with parameters and
    any case -> JSON; any other media type -> snappy protobuf."""
    srv = start(binary, tmp)
    body = json_push([({"job": "ct"}, [(NOW + 1, "j", None)])])
    expect(push(srv.port, body, content_type=None), 400, "mime: no media type")
    expect(push(srv.port, body, content_type=""), 400, "mime: no media type")
    expect(push(srv.port, body, content_type="application/json; charset"), 400,
           "mime: invalid media parameter")
    expect(push(srv.port, body, content_type="application json"), 400, "mime: expected slash")
    expect(push(srv.port, body, content_type="Application/JSON; charset=utf-8"), 204)
    pb = rw.snappy_block(pb_push([('{job="ct"}', [(NOW + 2, "p", [])])]))
    expect(push(srv.port, pb, content_type="text/plain"), 204)
    expect(push(srv.port, body, content_type="text/plain"), 400)  # JSON is not snappy protobuf
    st, h, _ = rw.post(srv.port, b"", content_type=JSON_TYPE, encoding=None, path=PATH + "x")
    assert st == 404
    c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
    c.request("GET", PATH)
    r = c.getresponse()
    r.read()
    assert r.status == 405 and "POST" in r.getheader("Allow"), r.status
    c.close()
    assert srv.stop() == 0
    assert [line for _, line, _ in stored(tool, tmp)[key(job="ct")]] == ["j", "p"]


@case
def case_out_of_order_and_duplicates(binary, tool, tmp):
    """Out-of-order entries within a stream are accepted; an identical (timestamp, line) pair is
    stored once (re-sent bodies, duplicates inside a body); the same timestamp with another line
    is a second entry."""
    srv = start(binary, tmp)
    entries = [(NOW + 5, "e5", []), (NOW + 1, "e1", []), (NOW + 3, "e3", []),
               (NOW + 3, "e3 other", []), (NOW + 1, "e1", [])]
    for _ in range(3):
        expect(push_pb(srv.port, [('{job="ooo"}', entries)]), 204)
    expect(push(srv.port, json_push([({"job": "ooo"}, [(NOW + 2, "e2", None),
                                                         (NOW + 5, "e5", None)])])), 204)
    assert metric(srv.port, "strata_loki_push_entries_duplicate_total") >= 10
    assert srv.stop() == 0
    got = stored(tool, tmp)[key(job="ooo")]
    assert sorted(got) == sorted([(NOW + 1, "e1", ()), (NOW + 2, "e2", ()), (NOW + 3, "e3", ()),
                                  (NOW + 3, "e3 other", ()), (NOW + 5, "e5", ())]), got
    assert [t for t, _, _ in got] == sorted(t for t, _, _ in got)  # read back in time order


@case
def case_line_too_long(binary, tool, tmp):
    """A line over --limits.loki.max-line-size (default 256 KiB) is rejected with Loki's 400
    "max entry size ... exceeded" message; the rest of the push is stored."""
    srv = start(binary, tmp)
    long_line = "x" * 300000
    entries = [(NOW + 1, "short", []), (NOW + 2, long_line, []), (NOW + 3, "short2", [])]
    expect(push_pb(srv.port, [('{job="a"}', entries)]), 400,
           "max entry size '262144' bytes exceeded for stream '{job=\"a\"}' while adding an entry "
           "with length '300000' bytes")
    assert srv.stop() == 0
    assert [line for _, line, _ in stored(tool, tmp)[key(job="a")]] == ["short", "short2"]
    srv = start(binary, tmp, extra=("--limits.loki.max-line-size", "10"))
    _, body = expect(push_pb(srv.port, [('{job="b"}', [(NOW + 1, "0123456789", []),
                                                        (NOW + 2, "0123456789A", []),
                                                        (NOW + 3, "0123456789AB", [])])]), 400)
    assert b"max entry size '10' bytes exceeded" in body and b"rejected 2 of 3 entries" in body
    assert srv.stop() == 0
    assert [line for _, line, _ in stored(tool, tmp)[key(job="b")]] == ["0123456789"]


@case
def case_label_and_metadata_limits(binary, tool, tmp):
    """Label limits (count, name and value length, the reserved __tenant__) reject a stream's
    entries; structured metadata limits reject an entry; in Loki's words, the rest stored."""
    srv = start(binary, tmp, extra=("--limits.loki.max-label-names-per-stream", "3",
                                    "--limits.loki.max-structured-metadata-entries", "2"))
    streams = [('{a="1", b="2", c="3", d="4"}', [(NOW + 1, "four labels", [])]),
               ('{job="v", x="%s"}' % ("v" * 3000), [(NOW + 1, "long value", [])]),
               ('{__tenant__="evil", job="t"}', [(NOW + 1, "spoof", [])]),
               ('{job="md"}', [(NOW + 1, "md ok", [("a", "1"), ("b", "2")]),
                               (NOW + 2, "md too many", [("a", "1"), ("b", "2"), ("c", "3")])]),
               ('{job="fine"}', [(NOW + 1, "fine", [])])]
    _, body = expect(push_pb(srv.port, streams), 400,
                     "entry for stream '{a=\"1\", b=\"2\", c=\"3\", d=\"4\"}' has 4 label names; "
                     "limit 3")
    assert b"rejected 4 of 6 entries" in body, body
    expect(push_pb(srv.port, streams[1:2]), 400, "has label value too long")
    expect(push_pb(srv.port, streams[2:3]), 400, "reserved label name '__tenant__'")
    assert srv.stop() == 0
    got = stored(tool, tmp)
    assert got == {key(job="md"): [(NOW + 1, "md ok", (("a", "1"), ("b", "2")))],
                   key(job="fine"): [(NOW + 1, "fine", ())]}, got


@case
def case_rate_limit(binary, tool, tmp):
    """The per-tenant ingestion rate (lines/s, split across shards) answers 429 with Retry-After
    and Loki's wording, stores nothing of the refused push, and lets it through once the bucket
    refilled; tenants have separate buckets."""
    srv = start(binary, tmp, shards=2, extra=("--limits.loki.ingestion-rate", "10",
                                              "--limits.loki.ingestion-burst", "40"))
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)  # one shard's bucket
    batch = lambda seq: [('{job="r"}', [(NOW + seq * 100 + i, f"s{seq} l{i}", [])  # noqa: E731
                                        for i in range(15)])]
    expect(push_pb(srv.port, batch(0), conn=conn), 204)  # 15 of 20
    h, body = expect(push_pb(srv.port, batch(1), conn=conn), 429,
                     "ingestion rate limit exceeded for user anonymous (limit: 10 lines/sec) "
                     "while attempting to ingest '15' lines")
    retry = int(h["retry-after"])
    assert 1 <= retry <= 3, retry  # 10 missing lines at 5/s
    expect(push_pb(srv.port, batch(1), conn=conn, headers={"X-Scope-OrgID": "other"}), 204)
    time.sleep(retry + 0.2)
    expect(push_pb(srv.port, batch(2), conn=conn), 204)
    conn.close()
    assert metric(srv.port, "strata_loki_push_rate_limited_total") == 1
    assert srv.stop() == 0
    got = stored(tool, tmp)
    seqs = sorted({line.split()[0] for _, line, _ in got[key(job="r")]})
    assert seqs == ["s0", "s2"], seqs
    assert len(got[key("other", job="r")]) == 15


@case
def case_stream_limit(binary, tool, tmp):
    """--limits.loki.max-streams-per-tenant: entries of new streams beyond it get 429 with Loki's
    wording; existing streams keep ingesting; other tenants are not affected."""
    srv = start(binary, tmp, shards=1, extra=("--limits.loki.max-streams-per-tenant", "2"))
    expect(push_pb(srv.port, [('{job="a"}', [(NOW + 1, "a1", [])]),
                              ('{job="b"}', [(NOW + 1, "b1", [])])]), 204)
    h, _ = expect(push_pb(srv.port, [('{job="c"}', [(NOW + 2, "c1", [])]),
                                     ('{job="a"}', [(NOW + 2, "a2", [])])]), 429,
                  "maximum active stream limit exceeded")
    assert int(h["retry-after"]) >= 1
    expect(push_pb(srv.port, [('{job="c"}', [(NOW + 2, "c1", [])])],
                   headers={"X-Scope-OrgID": "t2"}), 204)
    assert srv.stop() == 0
    got = stored(tool, tmp)
    assert sorted(got) == sorted([key(job="a"), key(job="b"), key("t2", job="c")]), got
    assert [line for _, line, _ in got[key(job="a")]] == ["a1", "a2"]


@case
def case_tenants(binary, tool, tmp):
    """X-Scope-OrgID names the tenant (__tenant__ in the stream identity), absent means the
    default tenant (--tenant.default), an invalid id gets 400."""
    srv = start(binary, tmp, extra=("--tenant.default", "fallback"))
    body = json_push([({"job": "x"}, [(NOW + 1, "same line", None)])])
    expect(push(srv.port, body, headers={"X-Scope-OrgID": "team-a"}), 204)
    expect(push(srv.port, body, headers={"X-Scope-OrgID": "team-b"}), 204)
    expect(push(srv.port, body), 204)
    expect(push(srv.port, body, headers={"X-Scope-OrgID": "bad/tenant"}), 400,
           "invalid X-Scope-OrgID")
    expect(push(srv.port, body, headers={"X-Scope-OrgID": ".."}), 400)
    assert srv.stop() == 0
    got = stored(tool, tmp)
    assert sorted(got) == sorted([key("team-a", job="x"), key("team-b", job="x"),
                                  key("fallback", job="x")]), got


@case
def case_metrics(binary, tool, tmp):
    """/metrics carries the push counters and the per-shard log store figures."""
    srv = start(binary, tmp)
    entries = [(NOW + i, f"m{i}", []) for i in range(50)]
    expect(push_pb(srv.port, [('{job="m"}', entries)]), 204)
    expect(push(srv.port, b"{", content_type=JSON_TYPE), 400)
    assert metric(srv.port, "strata_loki_push_requests_total") == 2
    assert metric(srv.port, "strata_loki_push_requests_failed_total") == 1
    assert metric(srv.port, "strata_loki_push_entries_written_total") == 50
    assert metric(srv.port, "strata_logstore_entries_appended_total") == 50
    assert metric(srv.port, "strata_logstore_streams") == 1
    assert metric(srv.port, "strata_logstore_head_entries") == 50
    assert srv.stop() == 0


@case
def case_sigterm_finishes_pushes(binary, tool, tmp):
    """SIGTERM while pushers are busy: in-flight pushes are answered, every 204 is on disk after
    the stop (each shard closes its log store only once no push part is in flight), exit 0."""
    srv = start(binary, tmp, shards=2)
    acked, stop = [], threading.Event()

    def pusher(w):
        conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
        i = 0
        while not stop.is_set():
            streams = [(f'{{job="p{w}", s="{k}"}}', [(NOW + i, f"w{w} i{i}", [])])
                       for k in range(20)]
            try:
                st, _, _ = push_pb(srv.port, streams, conn=conn)
            except (OSError, http.client.HTTPException):
                return
            if st == 204:
                acked.append((w, i))
            i += 1

    threads = [threading.Thread(target=pusher, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    time.sleep(1.5)
    srv.proc.send_signal(signal.SIGTERM)
    rc = srv.proc.wait(timeout=60)
    stop.set()
    for t in threads:
        t.join()
    srv.log.close()
    assert rc == 0, rc
    assert acked, "no push was acknowledged"
    got = stored(tool, tmp)
    for w, i in acked:
        for k in range(20):
            assert (NOW + i, f"w{w} i{i}", ()) in got[key(job=f"p{w}", s=str(k))], (w, i, k)


@case
def case_fsync_always(binary, tool, tmp):
    """--wal.fsync always applies to the log WAL too: pushes are acknowledged after the sync."""
    srv = start(binary, tmp, extra=("--wal.fsync", "always"))
    for i in range(20):
        expect(push_pb(srv.port, [('{job="sync"}', [(NOW + i, f"l{i}", [])])]), 204)
    assert metric(srv.port, "strata_logstore_wal_fsyncs_total") >= 1
    assert srv.stop() == 0
    assert len(stored(tool, tmp)[key(job="sync")]) == 20


# ---- kill -9 -----------------------------------------------------------------------------------

WRITERS = 3
BATCH = 20
NO_RATE = ("--limits.loki.ingestion-rate", "0")


class Writer(threading.Thread):
    """Pushes batches of BATCH lines with strictly increasing timestamps into its own stream (and
    half of them also into a shared one) and records which batches got 204."""

    def __init__(self, w, port, seq, acked, t0, rng_seed):
        super().__init__()
        self.w, self.port, self.seq, self.acked, self.t0 = w, port, seq, acked, t0
        self.rng = random.Random(rng_seed)

    def body(self, seq):
        ents = [(self.t0 + seq * BATCH + i, f"w{self.w} s{seq} i{i}", []) for i in range(BATCH)]
        streams = [(f'{{job="crash", writer="w{self.w}"}}', ents)]
        if seq % 2:
            streams.append(('{job="crash", writer="shared"}', ents[:5]))
        if self.rng.random() < 0.5:
            return rw.snappy_block(pb_push(streams)), PB_TYPE, None
        js = json_push([({"job": "crash", "writer": labels.split('"')[3]},
                         [(t, line, None) for t, line, _ in es]) for labels, es in streams])
        return gzip.compress(js), JSON_TYPE, "gzip"

    def run(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        while True:
            seq = self.seq[self.w]
            self.seq[self.w] += 1  # never reuse a timestamp, answered or not
            body, ct, enc = self.body(seq)
            try:
                st, _, resp = push(self.port, body, content_type=ct, encoding=enc, conn=conn)
            except (OSError, http.client.HTTPException):
                return  # the server died
            if st == 204:
                self.acked.append((self.w, seq))
            elif st not in (503,):
                raise AssertionError(f"unexpected {st}: {resp!r}")


def query_range(port, query, start_ns, end_ns, limit=5000):
    """{stream labels as a sorted tuple: sorted [(ts, line), ...]} of a Loki log query."""
    st, body = rw.http_get(port, "/loki/api/v1/query_range?" + urlencode(
        {"query": query, "start": str(start_ns), "end": str(end_ns), "limit": str(limit),
         "direction": "forward"}), timeout=30)
    assert st == 200, f"query_range {query}: {st} {body!r}"
    out = {}
    for r in json.loads(body)["data"]["result"]:
        k = tuple(sorted(r["stream"].items()))
        out.setdefault(k, []).extend((int(ts), line) for ts, line, *_ in r["values"])
    return {k: sorted(v) for k, v in out.items()}


@case
def case_retention_per_stream(binary, tool, tmp):
    """Log retention by age overall (2d) and per stream selector ({service="debug"} 1d): entries
    of two streams 36 h old and current ones, and of a third stream 60 h old only; the head then
    spans more than 1.5 block ranges and its old ranges are cut into blocks, which retention
    deletes (60 h: past every stream's retention) or rewrites without the debug stream's old
    chunks. Asserted through query_range (polled with a deadline), again after a restart, and in
    the stopped server's data."""
    HOUR = 3600 * 10**9
    now = time.time_ns() // 10**9 * 10**9
    old = now - 36 * HOUR
    extra = ANY_AGE + ("--limits.loki.retention-period", "2d",
                       "--limits.loki.retention-stream", '{service="debug"}:1d:1')
    srv = start(binary, tmp, shards=1, extra=extra)
    streams = {"debug": [], "agents": []}
    for svc, es in streams.items():
        for i in range(20):
            es.append((old + i * 10**9, f"{svc} old {i}"))
        for i in range(20):
            es.append((now - 60 * 10**9 + i * 10**9, f"{svc} new {i}"))
    ancient = [(now - 60 * HOUR + i * 10**9, f"ancient {i}") for i in range(20)]
    expect(push(srv.port, json_push([({"service": svc}, [(ts, l, None) for ts, l in es])
                                     for svc, es in streams.items()]
                                    + [({"service": "ancient"}, [(ts, l, None)
                                                                 for ts, l in ancient])])), 204)
    current = {svc: [e for e in es if e[0] >= now - HOUR] for svc, es in streams.items()}
    want = {(("service", "agents"),): streams["agents"],
            (("service", "debug"),): current["debug"]}
    q, start_ns, end_ns = '{service=~"debug|agents|ancient"}', now - 61 * HOUR, now + HOUR
    deadline = time.time() + 45
    got = None
    while time.time() < deadline:
        got = query_range(srv.port, q, start_ns, end_ns)
        if got == want:
            break
        time.sleep(0.2)
    assert got == want, f"after 45 s: {got}"
    assert metric(srv.port, "strata_logstore_head_cuts_total") >= 1
    assert (metric(srv.port, "strata_logstore_retention_blocks_deleted_total")
            + metric(srv.port, "strata_logstore_retention_blocks_rewritten_total")) >= 1
    if metric(srv.port, "strata_logstore_retention_blocks_rewritten_total"):
        assert metric(srv.port, "strata_logstore_retention_chunks_dropped_total") >= 1
    assert srv.stop() == 0
    srv = start(binary, tmp, shards=1, extra=extra)
    got = query_range(srv.port, q, start_ns, end_ns)
    assert got == want, f"after a restart: {got}"
    assert srv.stop() == 0
    # and the stored data agrees (the dump reads blocks and WAL of the stopped server)
    have = stored(tool, tmp)
    assert sorted((ts, l) for ts, l, _ in have[key(service="debug")]) == current["debug"]
    assert sorted((ts, l) for ts, l, _ in have[key(service="agents")]) == streams["agents"]
    assert key(service="ancient") not in have, have.keys()


@case
def case_crash(binary, tool, tmp):
    """kill -9 under push load, restart on the same data dir, >= 20 rounds: every line that was
    acknowledged with 204 is stored after the last restart, and nothing that was never sent."""
    rounds = int(os.environ.get("STRATA_CRASH_ROUNDS", "20"))
    seed = int(os.environ.get("STRATA_TEST_SEED", str(int(time.time()))))
    rng = random.Random(seed)
    print(f"crash test: {rounds} rounds, seed {seed}")
    data_dir = os.path.join(tmp, "data")
    t0 = time.time_ns() - 3000 * 10**9  # writers 1000 s apart, all in the past
    seq, acked = [0] * WRITERS, []
    for r in range(rounds):
        srv = rw.Server(binary, data_dir, shards=2, extra=NO_RATE).wait_ready()
        before = len(acked)
        ws = [Writer(w, srv.port, seq, acked, t0 + w * 10**12, rng.random())
              for w in range(WRITERS)]
        for t in ws:
            t.start()
        time.sleep(rng.uniform(0.2, 1.0))
        srv.kill()  # SIGKILL: no shutdown path runs
        for t in ws:
            t.join()
        print(f"round {r + 1}: {len(acked) - before} batches acknowledged, then kill -9")
    assert len(acked) >= rounds, "too few pushes were acknowledged to prove anything"
    srv = rw.Server(binary, data_dir, shards=2).wait_ready()  # a last clean start and stop
    assert srv.stop() == 0
    got, total = dump(tool, data_dir)
    have = {}
    for k, es in got.items():
        for ts, line, _ in es:
            assert (k, ts, line) not in have, f"duplicate {k} {ts} {line}"
            have[(k, ts, line)] = True
            w, s, _ = line.split()
            assert int(s[1:]) < seq[int(w[1:])], f"never sent: {line}"
    missing = 0
    for w, s in acked:
        t0w = t0 + w * 10**12
        own = key(job="crash", writer=f"w{w}")
        for i in range(BATCH):
            ts, line = t0w + s * BATCH + i, f"w{w} s{s} i{i}"
            missing += (own, ts, line) not in have
            if s % 2 and i < 5:
                missing += (key(job="crash", writer="shared"), ts, line) not in have
    print(f"{len(acked)} acknowledged pushes, {total['entries']} entries stored, "
          f"{missing} acknowledged entries missing")
    assert missing == 0, f"{missing} acknowledged entries lost"


if __name__ == "__main__":
    sys.exit(rw.main(CASES, __doc__))
