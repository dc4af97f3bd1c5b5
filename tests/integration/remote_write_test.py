#!/usr/bin/env python3
"""Integration tests for Prometheus remote write into strata (api-contract §1, every T-1.x line):
the real binary on 127.0.0.1, bodies built with rwproto.py (protobuf + literal-only snappy), and
what was stored read back from the stopped server's data directory with tsdb_dump.

usage: remote_write_test.py --strata PATH --dump PATH --case NAME|all [--list]
Exit status: 0 pass, 1 fail, 77 skip.
"""
import os
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rwproto as rw  # noqa: E402

CASES = {}
T0 = 1700000000000  # ms; a fixed past time (the OOO window is relative to each series)


def case(fn):
    CASES[fn.__name__.removeprefix("case_")] = fn
    return fn


def up(job, *samples, name="up", extra=()):
    labels = sorted([("__name__", name), ("job", job)] + list(extra))
    return (labels, list(samples))


def expect(resp, status, contains=None):
    st, headers, body = resp
    assert st == status, f"expected {status}, got {st}: {body!r}"
    if contains is not None:
        assert contains.encode() in body, f"{contains!r} not in {body!r}"
    return headers, body


def start(binary, tmp, shards=2, extra=()):
    return rw.Server(binary, os.path.join(tmp, "data"), shards=shards, extra=extra).wait_ready()


def stored(dump, tmp):
    srv_dir = os.path.join(tmp, "data")
    return rw.dump(dump, srv_dir)[0]


def key(job, name="up", tenant="anonymous", extra=()):
    return (tenant,) + tuple(sorted([("__name__", name), ("job", job)] + list(extra)))


@case
def case_t1_1_v1_write(binary, dump, tmp):
    """T-1.1: one series with 2 samples gets 204 (empty body) and is stored."""
    srv = start(binary, tmp)
    h, body = expect(rw.write_v1(srv.port, [up("a", (T0, 1.0), (T0 + 15000, 2.5))]), 204)
    assert body == b"" and "content-length" not in h, h
    assert not any(k.startswith("x-prometheus-remote-write") for k in h), h  # v1: no headers
    # many series over both shards, in one request on a keep-alive connection
    series = [up(f"j{i}", (T0, float(i)), (T0 + 1000, float(i) + 0.5)) for i in range(200)]
    expect(rw.write_v1(srv.port, series), 204)
    # the ingest and TSDB counters are on /metrics
    import urllib.request
    with urllib.request.urlopen(f"http://127.0.0.1:{srv.port}/metrics") as r:
        text = r.read().decode()
    written = sum(float(line.split()[-1]) for line in text.splitlines()
                  if line.startswith("strata_ingest_samples_written_total"))
    assert written == 402, written
    assert "strata_tsdb_" in text
    assert srv.stop() == 0
    got = stored(dump, tmp)
    assert got[key("a")] == {T0: rw.bits(1.0), T0 + 15000: rw.bits(2.5)}, got[key("a")]
    for i in range(200):
        assert got[key(f"j{i}")] == {T0: rw.bits(float(i)), T0 + 1000: rw.bits(i + 0.5)}
    assert len(got) == 201


@case
def case_t1_2_not_snappy(binary, dump, tmp):
    """T-1.2: the same body without snappy gets 400, with or without Content-Encoding."""
    srv = start(binary, tmp)
    raw = rw.v1_request([up("a", (T0, 1.0), (T0 + 15000, 2.0))])
    expect(rw.post(srv.port, raw), 400, "cannot decode snappy")
    expect(rw.post(srv.port, raw, encoding=None), 400, "snappy")
    # an absent Content-Encoding with a snappy body is what old senders do: accepted
    expect(rw.post(srv.port, rw.snappy_block(raw), encoding=None), 204)
    assert srv.stop() == 0
    assert len(stored(dump, tmp)) == 1


@case
def case_t1_3_framed_snappy(binary, dump, tmp):
    """T-1.3: a framed-snappy body gets 400 (remote write uses the block format)."""
    srv = start(binary, tmp)
    body = rw.snappy_framed(rw.v1_request([up("a", (T0, 1.0))]))
    expect(rw.post(srv.port, body), 400)
    srv.stop()


@case
def case_t1_4_metadata_only(binary, dump, tmp):
    """T-1.4: a metadata-only WriteRequest gets 2xx."""
    srv = start(binary, tmp)
    md = [rw.v1_metadata("node_cpu_seconds_total", 1, "Seconds the CPUs spent.", "seconds"),
          rw.v1_metadata("up", 2, "1 if the target is up.")]
    expect(rw.post(srv.port, rw.snappy_block(rw.v1_request(metadata=md))), 204)
    expect(rw.post(srv.port, rw.snappy_block(b"")), 204)  # an empty request too
    assert srv.stop() == 0


@case
def case_t1_5_stale_marker(binary, dump, tmp):
    """T-1.5: a stale-NaN sample is stored with its exact bits (the query engine will treat it as
    the end of the series); other NaNs keep their bits too."""
    srv = start(binary, tmp)
    other_nan = 0x7FF8000000000001
    expect(rw.write_v1(srv.port, [up("a", (T0, 1.0), (T0 + 1000, rw.STALE_NAN_BITS)),
                                  up("b", (T0, other_nan))]), 204)
    assert srv.stop() == 0
    got = stored(dump, tmp)
    assert got[key("a")] == {T0: rw.bits(1.0), T0 + 1000: rw.STALE_NAN_BITS}, got
    assert got[key("b")] == {T0: other_nan}


@case
def case_t1_6_v2_written_headers(binary, dump, tmp):
    """T-1.6: a v2 request gets 204 and the three -Written headers with correct counts."""
    srv = start(binary, tmp)
    v2 = rw.V2()
    v2.add(up("a")[0], [(T0, 1.0), (T0 + 1000, 2.0)], metadata=(2, "a gauge", "bytes"))
    v2.add(up("b")[0], [(T0, 3.0)], exemplars=[([("trace_id", "abc")], 3.0, T0)])
    h, body = expect(rw.post(srv.port, rw.snappy_block(v2.encode()), content_type=rw.V2_TYPE),
                     204)
    assert body == b""
    assert h["x-prometheus-remote-write-samples-written"] == "3", h
    assert h["x-prometheus-remote-write-histograms-written"] == "0", h
    assert h["x-prometheus-remote-write-exemplars-written"] == "1", h  # the exemplar is stored
    # an invalid native histogram (count 2, buckets summing to 3) is a 400 naming it; the headers
    # still say what was written
    v2h = rw.V2().add(up("c")[0], [(T0, 1.0)]).add(up("h")[0],
                                                   histograms=[rw.v1_histogram(T0, 2, 0.5)])
    h, body = expect(rw.post(srv.port, rw.snappy_block(v2h.encode()), content_type=rw.V2_TYPE),
                     400, "invalid native histogram")
    assert h["x-prometheus-remote-write-samples-written"] == "1", h
    assert h["x-prometheus-remote-write-histograms-written"] == "0", h
    # a v1 body sent as v2 decodes as an empty message (fields 1-3 are reserved in v2)
    h, _ = expect(rw.post(srv.port, rw.snappy_block(rw.v1_request([up("z", (T0, 1.0))])),
                          content_type=rw.V2_TYPE), 204)
    assert h["x-prometheus-remote-write-samples-written"] == "0"
    assert srv.stop() == 0
    got = stored(dump, tmp)
    assert got[key("a")] == {T0: rw.bits(1.0), T0 + 1000: rw.bits(2.0)}
    assert got[key("b")] == {T0: rw.bits(3.0)}
    assert got[key("c")] == {T0: rw.bits(1.0)}
    assert key("h") not in got and key("z") not in got


@case
def case_t1_7_v2_bad_symbols(binary, dump, tmp):
    """T-1.7: symbols[0] != "" or an out-of-range ref gets 400."""
    srv = start(binary, tmp)
    bad0 = rw.V2(first_symbol="x").add(up("a")[0], [(T0, 1.0)])
    h, _ = expect(rw.post(srv.port, rw.snappy_block(bad0.encode()), content_type=rw.V2_TYPE), 400)
    assert h["x-prometheus-remote-write-samples-written"] == "0"
    badref = rw.V2()
    n, v = badref.ref("__name__"), badref.ref("up")
    badref.add(None, [(T0, 1.0)], refs=[n, v + 10])
    expect(rw.post(srv.port, rw.snappy_block(badref.encode()), content_type=rw.V2_TYPE), 400,
           "out of range")
    assert srv.stop() == 0
    assert stored(dump, tmp) == {}


@case
def case_t1_8_unknown_proto(binary, dump, tmp):
    """T-1.8: Content-Type application/x-protobuf;proto=foo gets 415 (so do other media types)."""
    srv = start(binary, tmp)
    body = rw.snappy_block(rw.v1_request([up("a", (T0, 1.0))]))
    expect(rw.post(srv.port, body, content_type="application/x-protobuf;proto=foo"), 415,
           "proto=foo")
    expect(rw.post(srv.port, body, content_type="application/json"), 415)
    expect(rw.post(srv.port, body, content_type="application/x-protobuf;proto=prometheus."
                   "WriteRequest"), 204)
    assert srv.stop() == 0


@case
def case_t1_9_out_of_order(binary, dump, tmp):
    """T-1.9: out-of-order samples within the OOO window (10m) are accepted; older ones, and
    duplicates with another value, get 400 naming the series; identical duplicates are fine."""
    srv = start(binary, tmp)
    expect(rw.write_v1(srv.port, [up("a", (T0 + 600000, 1.0))]), 204)
    expect(rw.write_v1(srv.port, [up("a", (T0 + 300000, 2.0))]), 204)  # 5 min back: OOO ok
    expect(rw.write_v1(srv.port, [up("a", (T0 + 600000, 1.0))]), 204)  # identical duplicate
    _, body = expect(rw.write_v1(srv.port, [up("a", (T0 - 60000, 3.0))]), 400, "too old")
    assert b'{__name__="up", job="a"}' in body, body
    assert b"__tenant__" not in body, body
    expect(rw.write_v1(srv.port, [up("a", (T0 + 600000, 9.0))]), 400, "duplicate sample")
    assert srv.stop() == 0
    assert stored(dump, tmp)[key("a")] == {T0 + 300000: rw.bits(2.0), T0 + 600000: rw.bits(1.0)}
    # with OOO disabled an older sample is out of order
    srv = start(binary, tmp, extra=["--tsdb.ooo-window", "0"])
    expect(rw.write_v1(srv.port, [up("a", (T0 + 400000, 5.0))]), 400, "out of order")
    assert srv.stop() == 0


@case
def case_partial_invalid_batch(binary, dump, tmp):
    """A batch with invalid series gets 400 naming the first bad series with the counts, and the
    valid rest IS stored."""
    srv = start(binary, tmp, shards=3)
    batch = [up(f"ok{i}", (T0, float(i))) for i in range(20)]
    batch.insert(5, ([("job", "noname")], [(T0, 1.0), (T0 + 1, 2.0)]))
    batch.insert(9, ([("__name__", "x"), ("job", b"\xff\xfe")], [(T0, 1.0)]))
    _, body = expect(rw.write_v1(srv.port, batch), 400, 'series {job="noname"}: no metric name')
    assert b"rejected 3 of 23 samples" in body, body
    assert b"3 invalid series" in body and b"20 samples written" in body, body
    assert srv.stop() == 0
    got = stored(dump, tmp)
    assert len(got) == 20 and all(key(f"ok{i}") in got for i in range(20))


@case
def case_encodings_and_methods(binary, dump, tmp):
    """/api/v1/push is an alias; Content-Encoding other than snappy gets 415; GET gets 405;
    errors are plain text."""
    srv = start(binary, tmp)
    body = rw.snappy_block(rw.v1_request([up("a", (T0, 1.0))]))
    expect(rw.post(srv.port, body, path="/api/v1/push"), 204)
    h, _ = expect(rw.post(srv.port, body, encoding="gzip"), 415, "Content-Encoding")
    assert h["content-type"].startswith("text/plain"), h
    expect(rw.post(srv.port, body, encoding="zstd"), 415)
    expect(rw.post(srv.port, rw.v1_request([up("a", (T0, 1.0))]), encoding="identity"), 415)
    st, _ = rw.http_get(srv.port, "/api/v1/write")
    assert st == 405, st
    assert srv.stop() == 0


@case
def case_tenants(binary, dump, tmp):
    """X-Scope-OrgID names the tenant (stored as __tenant__); the same series of two tenants are
    two series; a bad tenant id or a client __tenant__ label gets 400."""
    srv = start(binary, tmp)
    s = [up("a", (T0, 1.0))]
    expect(rw.write_v1(srv.port, s, headers={"X-Scope-OrgID": "team-1"}), 204)
    expect(rw.write_v1(srv.port, [up("a", (T0, 2.0))], headers={"X-Scope-OrgID": "team-2"}), 204)
    expect(rw.write_v1(srv.port, [up("a", (T0, 3.0))]), 204)
    expect(rw.write_v1(srv.port, s, headers={"X-Scope-OrgID": "a|b"}), 400, "X-Scope-OrgID")
    expect(rw.write_v1(srv.port, s, headers={"X-Scope-OrgID": ".."}), 400, "X-Scope-OrgID")
    evil = [(sorted([("__name__", "up"), ("__tenant__", "team-1"), ("job", "a")]), [(T0, 9.0)])]
    expect(rw.write_v1(srv.port, evil), 400, "reserved for the tenant")
    assert srv.stop() == 0
    got = stored(dump, tmp)
    assert got[key("a", tenant="team-1")] == {T0: rw.bits(1.0)}
    assert got[key("a", tenant="team-2")] == {T0: rw.bits(2.0)}
    assert got[key("a", tenant="anonymous")] == {T0: rw.bits(3.0)}
    # --tenant.default renames the default tenant
    srv = start(binary, tmp, extra=["--tenant.default", "fallback"])
    expect(rw.write_v1(srv.port, [up("b", (T0, 1.0))]), 204)
    assert srv.stop() == 0
    assert key("b", tenant="fallback") in stored(dump, tmp)


@case
def case_limits(binary, dump, tmp):
    """Label count/length limits and the per-tenant series limit give 400 with the reason."""
    srv = start(binary, tmp, shards=2, extra=[
        "--limits.max-labels-per-series", "3", "--limits.max-label-value-bytes", "8",
        "--limits.max-series-per-tenant", "10"])
    many = (sorted([("__name__", "m"), ("a", "1"), ("b", "2"), ("c", "3")]), [(T0, 1.0)])
    expect(rw.write_v1(srv.port, [many]), 400, "4 labels, more than the limit of 3")
    expect(rw.write_v1(srv.port, [up("a-very-long-job", (T0, 1.0))]), 400,
           "label value longer than the limit")
    # 10 series per tenant over 2 shards: each shard takes 5 new series of the tenant
    series = [up(f"j{i}", (T0, 1.0)) for i in range(40)]
    _, body = expect(rw.write_v1(srv.port, series), 400, "per-tenant series limit")
    written = int(body.split(b"; ")[-1].split(b" ")[0])
    assert 5 <= written <= 10, body
    # existing series go on; another tenant has its own budget
    assert srv.stop() == 0
    got = stored(dump, tmp)
    assert len(got) == written, (len(got), body)
    srv = start(binary, tmp, shards=2, extra=["--limits.max-series-per-tenant", "10"])
    expect(rw.write_v1(srv.port, [(list(k[1:]), [(T0 + 1000, 2.0)]) for k in got]), 204)
    expect(rw.write_v1(srv.port, series[:5], headers={"X-Scope-OrgID": "other"}), 204)
    assert srv.stop() == 0


@case
def case_body_limit(binary, dump, tmp):
    """A body over --http.max-body-bytes (decoded) gets 413."""
    srv = start(binary, tmp, extra=["--http.max-body-bytes", "4KiB"])
    series = [up(f"job{i}", (T0, float(i))) for i in range(200)]
    expect(rw.write_v1(srv.port, series), 413)
    expect(rw.write_v1(srv.port, series[:5]), 204)
    assert srv.stop() == 0


@case
def case_shard_count_mismatch(binary, dump, tmp):
    """strata.json records the shard count; another --shards refuses to start, clearly."""
    srv = start(binary, tmp, shards=2)
    expect(rw.write_v1(srv.port, [up("a", (T0, 1.0))]), 204)
    assert srv.stop() == 0
    with open(os.path.join(tmp, "data", "strata.json")) as f:
        assert '"shards":2' in f.read()
    srv = rw.Server(binary, os.path.join(tmp, "data"), shards=3)
    rc = srv.proc.wait(timeout=60)
    srv.log.close()
    assert rc == 1, rc
    assert "written with 2 shards" in srv.logs() and "--shards 2" in srv.logs(), srv.logs()
    srv = start(binary, tmp, shards=2)  # the right count still works and kept the data
    assert srv.stop() == 0
    assert key("a") in stored(dump, tmp)


@case
def case_sigterm_finishes_writes(binary, dump, tmp):
    """SIGTERM while writers are busy: in-flight writes finish, every 204 is on disk, exit 0."""
    srv = start(binary, tmp, shards=2)
    acked, stop = [], threading.Event()

    def writer(w):
        import http.client
        conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
        i = 0
        while not stop.is_set():
            batch = [up(f"w{w}s{k}", (T0 + i * 1000, float(i))) for k in range(50)]
            try:
                st, _, _ = rw.post(srv.port, rw.snappy_block(rw.v1_request(batch)), conn=conn)
            except (OSError, http.client.HTTPException):
                return
            if st == 204:
                acked.append((w, i))
            i += 1

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
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
    assert acked, "no write was acknowledged"
    got = stored(dump, tmp)
    for w, i in acked:
        for k in range(50):
            assert got[key(f"w{w}s{k}")].get(T0 + i * 1000) == rw.bits(float(i)), (w, i, k)


@case
def case_fsync_always(binary, dump, tmp):
    """--wal.fsync always acknowledges after the fdatasync; writes work the same."""
    srv = start(binary, tmp, extra=["--wal.fsync", "always"])
    for i in range(20):
        expect(rw.write_v1(srv.port, [up(f"j{k}", (T0 + i, float(i))) for k in range(10)]), 204)
    assert srv.stop() == 0
    got = stored(dump, tmp)
    assert all(len(got[key(f"j{k}")]) == 20 for k in range(10))


if __name__ == "__main__":
    sys.exit(rw.main(CASES, __doc__))
