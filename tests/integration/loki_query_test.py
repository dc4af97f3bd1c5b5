#!/usr/bin/env python3
"""Integration tests for the Loki query API of strata (api-contract §4: T-4.1..T-4.8, T-4.10):
the real binary on 127.0.0.1, lines pushed with real encodings (JSON and snappy protobuf, the
encoders of loki_push_test.py), read back through /loki/api/v1/query, query_range, labels, label
values, series, index/stats, index/volume, index/volume_range and format_query; Loki's time and
step formats, defaults and parameter errors (400 plain text); categorize-labels; tenants; several
shards (global time order and limit across shards against a brute-force model); data read back
after a restart from WAL replay and from cut blocks; Grafana's data source calls.

usage: loki_query_test.py --strata PATH --dump PATH --case NAME|all [--list]
Exit status: 0 pass, 1 fail, 77 skip.
"""
import http.client
import json
import os
import random
import subprocess
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import loki_push_test as lp  # noqa: E402
import rwproto as rw  # noqa: E402

CASES = {}
NOW = time.time_ns() // 10**9 * 10**9
SEC = 10**9
CAT = {"X-Loki-Response-Encoding-Flags": "categorize-labels"}
ANY_AGE = ("--limits.loki.reject-old-samples-max-age", "0")


def case(fn):
    CASES[fn.__name__.removeprefix("case_")] = fn
    return fn


# ---- client -----------------------------------------------------------------------------------


def get(port, path, params=None, headers=None, method="GET"):
    """(status, headers, body bytes); params as a dict or a list of pairs."""
    q = urllib.parse.urlencode(params or {}, doseq=True)
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        h = dict(headers or {})
        if method == "POST":
            h["Content-Type"] = "application/x-www-form-urlencoded"
            c.request("POST", path, body=q.encode(), headers=h)
        else:
            c.request("GET", path + ("?" + q if q else ""), headers=h)
        r = c.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        c.close()


def ok(port, path, params=None, headers=None, method="GET"):
    st, h, body = get(port, path, params, headers, method)
    assert st == 200, f"{path} {params}: {st} {body!r}"
    assert h.get("content-type", "").startswith("application/json"), h
    return json.loads(body)


def bad(port, path, params, contains=None, status=400, headers=None):
    st, h, body = get(port, path, params, headers)
    assert st == status, f"{path} {params}: expected {status}, got {st} {body!r}"
    assert h.get("content-type") == "text/plain; charset=utf-8", h
    assert not body.startswith(b"{"), body
    if contains:
        assert contains.encode() in body, f"{contains!r} not in {body!r}"
    return body.decode()


def qr(port, query, headers=None, **params):
    params["query"] = query
    return ok(port, "/loki/api/v1/query_range", params, headers)


def lines_of(res):
    """[(ts, line, stream labels)] of a streams result, in answer order per stream."""
    return [(int(v[0]), v[1], tuple(sorted(s["stream"].items())))
            for s in res["data"]["result"] for v in s["values"]]


def merged(res, backward=True):
    """All entries of a streams result in global time order (ties by labels)."""
    out = lines_of(res)
    out.sort(key=lambda e: (-e[0] if backward else e[0], e[2]))
    return out


def start(binary, tmp, shards=2, extra=ANY_AGE):
    return rw.Server(binary, os.path.join(tmp, "data"), shards=shards, extra=extra).wait_ready()


def push_json(port, streams, headers=None):
    st, _, body = lp.push(port, lp.json_push(streams), headers=headers)
    assert st == 204, (st, body)


def push_pb(port, streams, headers=None):
    st, _, body = lp.push_pb(port, streams, headers=headers)
    assert st == 204, (st, body)


def fill(port, n_streams=6, per=20, t0=None, step=SEC):
    """Streams {job="load", pod="p<i>"} with `per` lines each, interleaved in time; returns the
    model [(ts, line, labels)]."""
    t0 = t0 if t0 is not None else NOW - 600 * SEC
    model, streams = [], []
    for i in range(n_streams):
        labels = {"job": "load", "pod": f"p{i}"}
        ents = []
        for k in range(per):
            ts = t0 + k * step + i  # distinct per stream, interleaved
            line = f"line {k} of p{i} level={'error' if k % 3 == 0 else 'info'}"
            ents.append((ts, line, None))
            model.append((ts, line, tuple(sorted(labels.items()))))
        streams.append((labels, ents))
    push_json(port, streams)
    return model


# ---- T-4.x ------------------------------------------------------------------------------------


@case
def case_t4_1_health_check(binary, tool, tmp):
    """T-4.1: Grafana's health check gets exactly one series with one point of value "2" at
    4000000000 (10 digits: seconds, year 2096: future times are fine)."""
    srv = start(binary, tmp)
    res = ok(srv.port, "/loki/api/v1/query",
             {"query": "vector(1)+vector(1)", "direction": "backward", "time": "4000000000"}, CAT)
    assert res["status"] == "success", res
    assert res["data"]["resultType"] == "vector", res
    assert res["data"]["result"] == [{"metric": {}, "value": [4000000000, "2"]}], res
    assert isinstance(res["data"]["stats"], dict)
    srv.stop()


@case
def case_t4_2_limit_direction(binary, tool, tmp):
    """T-4.2: limit=2 backward gives the 2 newest lines, newest first; forward the 2 oldest, oldest
    first; across several streams and shards."""
    srv = start(binary, tmp, shards=3)
    model = fill(srv.port)
    rng = {"start": str(NOW - 3600 * SEC), "end": str(NOW)}
    res = qr(srv.port, '{job="load"}', limit=2, direction="backward", **rng)
    got = merged(res, True)
    want = sorted(model, key=lambda e: (-e[0], e[2]))[:2]
    assert got == want, (got, want)
    for s in res["data"]["result"]:
        ts = [int(v[0]) for v in s["values"]]
        assert ts == sorted(ts, reverse=True), ts
    res = qr(srv.port, '{job="load"}', limit=2, direction="FORWARD", **rng)
    got = merged(res, False)
    assert got == sorted(model)[:2], got
    for s in res["data"]["result"]:
        ts = [int(v[0]) for v in s["values"]]
        assert ts == sorted(ts), ts
    srv.stop()


@case
def case_t4_3_time_formats(binary, tool, tmp):
    """T-4.3: start as seconds, ns, float seconds and RFC3339 all mean what they say; start is
    inclusive and end exclusive."""
    srv = start(binary, tmp)
    base = 1700000000 * SEC
    push_json(srv.port, [({"job": "t"}, [(base - SEC, "before", None), (base, "at start", None),
                                          (base + SEC // 2, "half", None),
                                          (base + 10 * SEC, "at end", None)])])
    end = str(base + 10 * SEC)
    for s in ["1700000000", str(base), "1700000000.0", "2023-11-14T22:13:20Z",
              "2023-11-14T23:13:20+01:00", "2023-11-14T22:13:20.000000000Z"]:
        res = qr(srv.port, '{job="t"}', start=s, end=end, direction="forward")
        assert [e[1] for e in merged(res, False)] == ["at start", "half"], (s, res)
    res = qr(srv.port, '{job="t"}', start="1700000000.5", end=end, direction="forward")
    assert [e[1] for e in merged(res, False)] == ["half"], res
    res = qr(srv.port, '{job="t"}', start="1700000000.501", end=end)
    assert [e[1] for e in merged(res)] == [], res
    for p in ["start", "end"]:
        bad(srv.port, "/loki/api/v1/query_range", {"query": '{job="t"}', p: "yesterday"},
            f"could not parse '{p}' parameter: strconv.ParseInt: parsing \"yesterday\": "
            "invalid syntax")
    bad(srv.port, "/loki/api/v1/query", {"query": "vector(1)", "time": "x"},
        'strconv.ParseInt: parsing "x": invalid syntax')
    srv.stop()


@case
def case_t4_4_step_formats(binary, tool, tmp):
    """T-4.4: step=15000ms, 15s and 15 give the same matrix; the default step is
    max(1, floor(range/250)) s; interval and step errors are 400."""
    srv = start(binary, tmp)
    t0 = NOW - 300 * SEC
    push_json(srv.port, [({"job": "s"}, [(t0 + k * 7 * SEC, f"l{k}", None) for k in range(30)])])
    q = 'count_over_time({job="s"}[30s])'
    rng = {"start": str(t0), "end": str(t0 + 240 * SEC)}
    outs = [qr(srv.port, q, step=s, **rng)["data"] for s in ["15000ms", "15s", "15", "15.0"]]
    for o in outs:
        assert o["resultType"] == "matrix", o
        assert o["result"] == outs[0]["result"], (o, outs[0])
    pts = outs[0]["result"][0]["values"]
    grid = [(t0 + k * 15 * SEC) // SEC for k in range(17)]
    assert set(p[0] for p in pts) <= set(grid) and len(pts) >= 15, pts  # empty steps are left out
    assert sum(int(p[1]) for p in pts) > 0
    # default step: 240 s / 250 -> 1 s
    d = qr(srv.port, q, **rng)["data"]["result"][0]["values"]
    assert d[1][0] - d[0][0] == 1, d[:2]
    rng_long = {"start": str(t0 - 3600 * SEC), "end": str(t0 + 240 * SEC)}
    d = qr(srv.port, q, **rng_long)["data"]["result"][0]["values"]
    assert all((p[0] - d[0][0]) % 15 == 0 for p in d), d[:3]  # 3840 s / 250 -> 15 s
    u = "/loki/api/v1/query_range"
    bad(srv.port, u, dict(query=q, step="0", **rng), "zero or negative query resolution step")
    bad(srv.port, u, dict(query=q, step="-5", **rng), "zero or negative query resolution step")
    bad(srv.port, u, dict(query=q, step="-5s", **rng), "cannot parse \"-5s\" to a valid duration")
    bad(srv.port, u, dict(query=q, step="abc", **rng), 'cannot parse "abc" to a valid duration')
    bad(srv.port, u, dict(query=q, step="1ms", start=str(t0), end=str(t0 + 3600 * SEC)),
        "exceeded maximum resolution of 11,000 points per time series")
    bad(srv.port, u, dict(query=q, interval="-1", **rng), "interval must be >= 0")
    srv.stop()


@case
def case_t4_5_categorize_labels(binary, tool, tmp):
    """T-4.5: without the flag header values are 2-tuples with structured metadata and parsed
    labels folded into the stream; with it data.encodingFlags holds categorize-labels and every
    value is a 3-tuple {"structuredMetadata":..,"parsed":..} (empty keys left out)."""
    srv = start(binary, tmp)
    push_pb(srv.port, [('{job="c"}', [(NOW - 3 * SEC, "level=warn msg=hi", [("trace_id", "t1")]),
                                       (NOW - 2 * SEC, "plain", [])])])
    rng = {"start": str(NOW - 60 * SEC), "end": str(NOW)}
    res = qr(srv.port, '{job="c"}', **rng)
    assert "encodingFlags" not in res["data"], res
    vals = [v for s in res["data"]["result"] for v in s["values"]]
    assert vals and all(len(v) == 2 for v in vals), vals
    streams = sorted(json.dumps(s["stream"], sort_keys=True) for s in res["data"]["result"])
    assert streams == ['{"job": "c", "trace_id": "t1"}', '{"job": "c"}'], streams
    res = qr(srv.port, '{job="c"} | logfmt', headers=CAT, **rng)
    assert res["data"]["encodingFlags"] == ["categorize-labels"], res
    assert [s["stream"] for s in res["data"]["result"]] == [{"job": "c"}], res
    vals = res["data"]["result"][0]["values"]
    assert all(len(v) == 3 for v in vals), vals
    assert vals[0][1] == "plain" and vals[0][2] == {}, vals
    assert vals[1][2] == {"structuredMetadata": {"trace_id": "t1"},
                          "parsed": {"level": "warn", "msg": "hi"}}, vals
    # a metric query with the header: no tuples, the flag is echoed
    res = qr(srv.port, 'count_over_time({job="c"}[1m])', headers=CAT, step="60s", **rng)
    assert res["data"]["resultType"] == "matrix", res
    srv.stop()


@case
def case_t4_6_instant_log_query(binary, tool, tmp):
    """T-4.6: the instant endpoint with a log query is a 400 in plain text."""
    srv = start(binary, tmp)
    bad(srv.port, "/loki/api/v1/query", {"query": '{job="a"}'},
        "log queries are not supported as an instant query type")
    bad(srv.port, "/loki/api/v1/query", {"query": '{job="a"} |= "x"', "time": str(NOW)},
        "log queries are not supported as an instant query type")
    res = ok(srv.port, "/loki/api/v1/query", {"query": 'count_over_time({job="a"}[5m])'})
    assert res["data"]["resultType"] == "vector" and res["data"]["result"] == [], res
    srv.stop()


@case
def case_t4_7_parse_error(binary, tool, tmp):
    """T-4.7: query={foo is a 400 in plain text, on both query endpoints and the metadata ones that
    take a selector; so is a selector without a non-empty matcher."""
    srv = start(binary, tmp)
    for path in ["/loki/api/v1/query", "/loki/api/v1/query_range", "/loki/api/v1/index/stats",
                 "/loki/api/v1/labels", "/loki/api/v1/index/volume"]:
        bad(srv.port, path, {"query": "{foo"}, "parse error")
    bad(srv.port, "/loki/api/v1/query_range", {"query": '{foo=""}'}, "parse error")
    bad(srv.port, "/loki/api/v1/series", {"match[]": "{foo"}, "parse error")
    bad(srv.port, "/loki/api/v1/series", {"match[]": '{job="a"} |= "x"'},
        "only label matchers are supported")
    bad(srv.port, "/loki/api/v1/format_query", {"query": "{foo"}, "parse error")
    srv.stop()


@case
def case_t4_8_metadata(binary, tool, tmp):
    """T-4.8: labels, label/<name>/values and series answer envelopes; index/stats a bare object
    with 4 numeric keys; volume a vector, volume_range a matrix; format_query the printed query.
    __tenant__ never shows."""
    srv = start(binary, tmp, shards=3)
    push_json(srv.port, [({"job": "m", "level": "info"}, [(NOW - 50 * SEC, "aaaa", None)]),
                         ({"job": "m", "level": "error"}, [(NOW - 40 * SEC, "bb", None),
                                                           (NOW - 30 * SEC, "cc", None)]),
                         ({"app": "x"}, [(NOW - 20 * SEC, "ddd", None)])])
    rng = {"start": str(NOW - 3600 * SEC), "end": str(NOW)}
    res = ok(srv.port, "/loki/api/v1/labels", rng)
    assert res == {"status": "success", "data": ["app", "job", "level"]}, res
    assert ok(srv.port, "/loki/api/v1/label", rng) == res  # Loki's other name for it
    res = ok(srv.port, "/loki/api/v1/labels", dict(query='{job="m"}', **rng))
    assert res["data"] == ["job", "level"], res
    res = ok(srv.port, "/loki/api/v1/label/level/values", rng)
    assert res == {"status": "success", "data": ["error", "info"]}, res
    res = ok(srv.port, "/loki/api/v1/label/__tenant__/values", rng)
    assert res["data"] == [], res
    res = ok(srv.port, "/loki/api/v1/label/job/values",
             {"start": str(NOW - 10 * SEC), "end": str(NOW)})
    assert res["data"] == [], res
    res = ok(srv.port, "/loki/api/v1/series", [("match[]", '{job="m"}'), ("match[]", '{app="x"}')]
             + list(rng.items()))
    assert res == {"status": "success", "data": [{"app": "x"}, {"job": "m", "level": "error"},
                                                 {"job": "m", "level": "info"}]}, res
    res = ok(srv.port, "/loki/api/v1/series", list(rng.items()), method="POST")
    assert len(res["data"]) == 3, res
    st = ok(srv.port, "/loki/api/v1/index/stats", dict(query='{job="m"}', **rng))
    assert set(st) == {"streams", "chunks", "entries", "bytes"}, st
    assert all(isinstance(v, int) for v in st.values()), st
    assert st["streams"] == 2 and st["entries"] == 3 and st["bytes"] == 8, st
    assert st["chunks"] >= 2, st
    vol = ok(srv.port, "/loki/api/v1/index/volume", dict(query='{job="m"}', **rng))
    assert vol["data"]["resultType"] == "vector", vol
    assert [(r["metric"], r["value"][1]) for r in vol["data"]["result"]] == [({"job": "m"}, "8")]
    vol = ok(srv.port, "/loki/api/v1/index/volume",
             dict(query='{job="m"}', targetLabels="level", **rng))
    assert [(r["metric"], r["value"][1]) for r in vol["data"]["result"]] == [
        ({"level": "error"}, "4"), ({"level": "info"}, "4")], vol  # ties by name
    vol = ok(srv.port, "/loki/api/v1/index/volume",
             dict(query='{job="m"}', aggregateBy="labels", **rng))
    assert [(r["metric"], r["value"][1]) for r in vol["data"]["result"]] == [
        ({"job": ""}, "8"), ({"level": ""}, "8")], vol
    vol = ok(srv.port, "/loki/api/v1/index/volume", dict(query='{job="m"}', limit=1,
                                                           targetLabels="level", **rng))
    assert len(vol["data"]["result"]) == 1, vol
    bad(srv.port, "/loki/api/v1/index/volume", dict(query='{job="m"}', aggregateBy="x", **rng),
        "invalid aggregation option")
    vr = ok(srv.port, "/loki/api/v1/index/volume_range",
            dict(query='{job="m"}', step="600", start=str(NOW - 3600 * SEC), end=str(NOW)))
    assert vr["data"]["resultType"] in ("matrix", "vector"), vr
    fq = ok(srv.port, "/loki/api/v1/format_query", {"query": '{job="m"}|="x"'})
    assert fq == {"status": "success", "data": '{job="m"} |= "x"'}, fq
    srv.stop()


@case
def case_t4_10_volume_histogram(binary, tool, tmp):
    """T-4.10: Grafana's logs volume query returns a matrix with an empty-label series when neither
    level nor detected_level exists; with levels it splits by them."""
    srv = start(binary, tmp)
    push_json(srv.port, [({"job": "a"}, [(NOW - 90 * SEC, "no level here", None),
                                          (NOW - 80 * SEC, "still none", None)])])
    q = 'sum by (level, detected_level) (count_over_time({job="a"} | drop __error__ [1m]))'
    res = qr(srv.port, q, step="60000ms", start=str(NOW - 300 * SEC), end=str(NOW),
             headers={**CAT, "X-Query-Tags": "Source=logvolhist"})
    assert res["data"]["resultType"] == "matrix", res
    assert len(res["data"]["result"]) >= 1, res
    assert "level" not in res["data"]["result"][0]["metric"], res
    assert sum(float(v[1]) for s in res["data"]["result"] for v in s["values"]) >= 2, res
    srv.stop()


# ---- encodings, shards, durability, tenants ----------------------------------------------------


@case
def case_json_and_protobuf(binary, tool, tmp):
    """Lines pushed as JSON and as snappy protobuf (with metadata) read back identically."""
    srv = start(binary, tmp, shards=3)
    push_json(srv.port, [({"job": "enc", "via": "json"}, [(NOW - 5 * SEC, "j1", None),
                                                          (NOW - 4 * SEC, "j2",
                                                           {"user": "u"})])])
    push_pb(srv.port, [('{job="enc", via="pb"}', [(NOW - 3 * SEC, "p1", []),
                                                  (NOW - 2 * SEC, "p2", [("user", "v")])])])
    res = qr(srv.port, '{job="enc"}', headers=CAT, start=str(NOW - 60 * SEC), end=str(NOW),
             direction="forward")
    got = sorted((s["stream"]["via"], v[1], json.dumps(v[2], sort_keys=True))
                 for s in res["data"]["result"] for v in s["values"])
    assert got == [("json", "j1", "{}"), ("json", "j2", '{"structuredMetadata": {"user": "u"}}'),
                   ("pb", "p1", "{}"), ("pb", "p2", '{"structuredMetadata": {"user": "v"}}')], got
    srv.stop()


@case
def case_multi_shard_order(binary, tool, tmp):
    """--shards 3: many streams spread over shards come back in global time order with the limit
    applied across shards, both directions, against a brute-force model; filters and metric
    queries see every shard."""
    srv = start(binary, tmp, shards=3)
    model = fill(srv.port, n_streams=12, per=40, step=SEC)
    rng = {"start": str(NOW - 3600 * SEC), "end": str(NOW)}
    for limit in [1, 7, 100, 1000]:
        for back in [True, False]:
            res = qr(srv.port, '{job="load"}', limit=limit,
                     direction="backward" if back else "forward", **rng)
            want = sorted(model, key=lambda e: ((-e[0] if back else e[0]), e[2]))[:limit]
            assert merged(res, back) == want, (limit, back)
    res = qr(srv.port, '{job="load"} |= "level=error"', limit=1000, **rng)
    assert len(lines_of(res)) == sum(1 for e in model if "level=error" in e[1]), res
    res = qr(srv.port, 'sum(count_over_time({job="load"}[1h]))', step="3600s", **rng)
    assert float(res["data"]["result"][0]["values"][-1][1]) == len(model), res
    res = ok(srv.port, "/loki/api/v1/query", {"query": 'sum by (pod) (count_over_time('
                                              '{job="load"}[1h]))', "time": str(NOW)})
    assert len(res["data"]["result"]) == 12, res
    srv.stop()


PARTIAL_RANGE = [
    'sum by (level) (count_over_time({job="pa"} | json [1m]))',
    'count_over_time({job="pa"} | json | drop pod, msg, lat [2m])',
    'sum(rate({job="pa"} |= "error" [1m]))',
    'bytes_over_time({job="pa"} [90s])',
    'sum by (level) (bytes_rate({job="pa"} | json [1m]))',
    'sum by (level) (sum_over_time({job="pa"} | json | unwrap lat [2m]))',
    'max_over_time({job="pa"} | json | unwrap lat [2m]) by (level)',
    'min_over_time({job="pa"} | json | unwrap lat [2m]) by (level)',
    'avg_over_time({job="pa"} | json | unwrap lat [2m]) by (level)',
    'topk(2, sum by (pod) (count_over_time({job="pa"}[3m])))',
    'sum by (level) (count_over_time({job="pa"} | json [1m])) / on () group_left '
    'sum(count_over_time({job="pa"}[1m]))',
    'absent_over_time({job="none"}[1m])',
    'quantile_over_time(0.5, {job="pa"} | json | unwrap lat [2m]) by (level)',
    'sum_over_time({job="pa"} | json | unwrap level [2m])',  # a conversion error: 400
]


MOVED = "strata_loki_query_moved_bytes_total"
RANGES = "strata_loki_query_partial_ranges_total"


def partial_answers(port, fanout=None):
    """(status, resultType, [(labels, [(t, float)])]) of every PARTIAL_RANGE query, range and
    instant, and the summed data.stats.summary.totalLinesProcessed. fanout (a list) gets per
    query and path the /metrics deltas (moved bytes, partial ranges)."""
    out, lines = [], 0
    for q in PARTIAL_RANGE:
        for path, params in (("/loki/api/v1/query_range", {"start": str(NOW - 1000 * SEC),
                                                            "end": str(NOW), "step": "15s"}),
                             ("/loki/api/v1/query", {"time": str(NOW - 300 * SEC)})):
            before = (lp.metric(port, MOVED), lp.metric(port, RANGES))
            st, _, body = get(port, path, dict(params, query=q))
            if fanout is not None:
                fanout.append((lp.metric(port, MOVED) - before[0],
                               lp.metric(port, RANGES) - before[1]))
            if st != 200:
                out.append((st, body.decode(errors="replace")))
                continue
            data = json.loads(body)["data"]
            lines += json.loads(body)["data"]["stats"]["summary"]["totalLinesProcessed"]
            rows = []
            for r in data["result"]:
                pts = r["values"] if "values" in r else [r["value"]]
                rows.append((sorted(r["metric"].items()), [(p[0], float(p[1])) for p in pts]))
            out.append((st, data["resultType"], rows))
    return out, lines


def same_answer(a, b):
    if a[0] != b[0] or len(a) != len(b) or a[0] != 200:
        return a == b
    if a[1] != b[1] or len(a[2]) != len(b[2]):
        return False
    for (la, pa), (lb, pb) in zip(a[2], b[2]):
        if la != lb or len(pa) != len(pb):
            return False
        for (ta, va), (tb, vb) in zip(pa, pb):
            if ta != tb or abs(va - vb) > 1e-12 * max(abs(va), abs(vb)):
                return False
    return True


@case
def case_partial_aggregation(binary, tool, tmp):
    """--shards 2: decomposable metric queries are aggregated by the owners and merged on the
    query thread; every answer (range and instant, groupings whose label sets span both shards,
    unwrap, topk, binary operations, absent, a conversion error, and a non-decomposable
    quantile) equals the entry path's (STRATA_LOKI_PARTIAL_AGG=0, the same data after a
    restart), and the lines processed are the same; /metrics counts the fan-out: each query the
    owners aggregated moved far fewer bytes than its entry path did."""
    srv = start(binary, tmp, shards=2)
    streams = []
    for i in range(8):
        ents = []
        for k in range(150):
            rec = {"level": ["info", "warn", "error"][(i + k) % 3], "lat": (i * 7 + k * 13) % 50,
                   "msg": "x" * (k % 20)}
            ents.append((NOW - 900 * SEC + k * 5 * SEC + i * 10**6, json.dumps(rec), None))
        streams.append(({"job": "pa", "pod": f"p{i}"}, ents))
    push_json(srv.port, streams)
    fan_p, fan_s = [], []
    partial, lines_p = partial_answers(srv.port, fan_p)
    srv.stop()
    os.environ["STRATA_LOKI_PARTIAL_AGG"] = "0"
    try:
        srv = rw.Server(binary, os.path.join(tmp, "data"), shards=2, extra=ANY_AGE).wait_ready()
    finally:
        del os.environ["STRATA_LOKI_PARTIAL_AGG"]
    single, lines_s = partial_answers(srv.port, fan_s)
    srv.stop()
    assert len(partial) == 2 * len(PARTIAL_RANGE)
    for i, (a, b) in enumerate(zip(partial, single)):
        assert same_answer(a, b), (PARTIAL_RANGE[i // 2], a, b)
    assert partial[0][0] == 200 and len(partial[0][2]) == 3, partial[0]
    assert partial[-1][0] == 400 and "SampleExtractionErr" in partial[-1][1], partial[-1]
    assert lines_p > 0 and lines_p == lines_s, (lines_p, lines_s)
    verbose = os.environ.get("STRATA_TEST_VERBOSE")
    n_partial = 0
    for i, ((mp, rp), (ms, rs)) in enumerate(zip(fan_p, fan_s)):
        q = PARTIAL_RANGE[i // 2]
        if verbose:
            print(f"  moved {mp:.0f} B partial ({rp:.0f} ranges), {ms:.0f} B entry path: {q}")
        assert rs == 0 and ms >= 0, (q, rs, ms)
        if rp == 0 or partial[i][0] != 200 or ms == 0:  # absent_over_time of nothing
            continue
        n_partial += 1
        assert mp > 0 and mp * 4 < ms, (q, i % 2, mp, ms)
    assert n_partial >= 2 * 9, n_partial  # the ten decomposable queries but absent, range+instant


@case
def case_restart(binary, tool, tmp):
    """After a restart the lines come back from WAL replay; lines old enough to be cut into blocks
    (the head spans over 3 h) come back from the blocks; both merged with new pushes."""
    srv = start(binary, tmp, shards=2)
    old = [(NOW - (6 * 3600 - k * 600) * SEC, f"old {k}", None) for k in range(30)]
    push_json(srv.port, [({"job": "r"}, old)])
    deadline = time.time() + 60
    while lp.metric(srv.port, "strata_logstore_blocks") < 1 and time.time() < deadline:
        time.sleep(0.2)
    blocks = lp.metric(srv.port, "strata_logstore_blocks")
    assert srv.stop() == 0
    srv = start(binary, tmp, shards=2)
    push_pb(srv.port, [('{job="r"}', [(NOW - SEC, "new", [])])])
    res = qr(srv.port, '{job="r"}', limit=1000, start=str(NOW - 7 * 3600 * SEC), end=str(NOW))
    got = [e[1] for e in merged(res)]
    assert got == ["new"] + [f"old {k}" for k in reversed(range(30))], got
    if blocks < 1:
        raise rw.Skip("no log block was cut within 60 s (replay path tested only)")
    st = ok(srv.port, "/loki/api/v1/index/stats",
            {"query": '{job="r"}', "start": str(NOW - 7 * 3600 * SEC), "end": str(NOW)})
    assert st["entries"] == 31 and st["streams"] == 1, st
    srv.stop()


@case
def case_tenants(binary, tool, tmp):
    """X-Scope-OrgID confines every endpoint to its tenant."""
    srv = start(binary, tmp)
    push_json(srv.port, [({"job": "t"}, [(NOW - 2 * SEC, "for a", None)])],
              headers={"X-Scope-OrgID": "a"})
    push_json(srv.port, [({"job": "t", "x": "y"}, [(NOW - SEC, "for b", None)])],
              headers={"X-Scope-OrgID": "b"})
    rng = {"start": str(NOW - 60 * SEC), "end": str(NOW)}
    for t, line, labels in [("a", "for a", ["job"]), ("b", "for b", ["job", "x"])]:
        h = {"X-Scope-OrgID": t}
        res = qr(srv.port, '{job="t"}', headers=h, **rng)
        assert [e[1] for e in merged(res)] == [line], res
        assert ok(srv.port, "/loki/api/v1/labels", rng, h)["data"] == labels
        assert len(ok(srv.port, "/loki/api/v1/series", rng, h)["data"]) == 1
    res = qr(srv.port, '{job="t"}', **rng)
    assert lines_of(res) == [], res
    bad(srv.port, "/loki/api/v1/query_range", {"query": '{job="t"}'}, "X-Scope-OrgID",
        headers={"X-Scope-OrgID": "a|b"})
    srv.stop()


@case
def case_bad_params(binary, tool, tmp):
    """Loki's parameter errors, 400 plain text with Loki's wording."""
    srv = start(binary, tmp)
    u, q = "/loki/api/v1/query_range", '{job="x"}'
    bad(srv.port, u, {"query": q, "limit": "0"}, "limit must be a positive value")
    bad(srv.port, u, {"query": q, "limit": "-3"}, "limit must be a positive value")
    bad(srv.port, u, {"query": q, "limit": "ten"}, 'strconv.Atoi: parsing "ten": invalid syntax')
    bad(srv.port, u, {"query": q, "limit": "4294967296"}, "limit value 4294967296 is out of range")
    bad(srv.port, u, {"query": q, "direction": "sideways"}, "invalid direction 'sideways'")
    bad(srv.port, u, {"query": q, "start": str(NOW), "end": str(NOW - SEC)},
        "end timestamp must not be before or equal to start time")
    bad(srv.port, u, {"query": q, "since": "abc"}, "could not parse 'since' parameter")
    bad(srv.port, u, {"query": ""}, "parse error")
    bad(srv.port, "/loki/api/v1/query", {"query": "vector(1)", "limit": "0"},
        "limit must be a positive value")
    res = qr(srv.port, q, limit="4000")  # within max_entries_limit_per_query
    assert res["data"]["result"] == [], res
    bad(srv.port, u, {"query": q, "limit": "5001"}, "max entries limit per query exceeded")
    srv.stop()


@case
def case_grafana_flows(binary, tool, tmp):
    """What Grafana's Loki data source sends: label browser (labels, values with start/end in ns),
    logs panel (query_range backward limit 1000, ns times, step in ms, POST form too), the logs
    volume with X-Query-Tags, since, Explore metric and instant queries, log context."""
    srv = start(binary, tmp, shards=2)
    model = fill(srv.port, n_streams=3, per=10)
    s, e = str(NOW - 3600 * SEC), str(NOW)
    assert ok(srv.port, "/loki/api/v1/labels", {"start": s, "end": e})["data"] == ["job", "pod"]
    assert ok(srv.port, "/loki/api/v1/label/pod/values", {"start": s, "end": e,
                                                          "query": '{job="load"}'})["data"] == [
        "p0", "p1", "p2"]
    panel = {"query": '{job="load"}', "direction": "backward", "limit": "1000", "start": s,
             "end": e, "step": "2000ms"}
    res = ok(srv.port, "/loki/api/v1/query_range", panel, CAT)
    assert len(lines_of(res)) == len(model), res
    res2 = ok(srv.port, "/loki/api/v1/query_range", panel, CAT, method="POST")
    assert lines_of(res2) == lines_of(res)
    st = res["data"]["stats"]["summary"]
    for k in ["bytesProcessedPerSecond", "linesProcessedPerSecond", "totalBytesProcessed",
              "totalLinesProcessed", "execTime", "queueTime"]:
        assert k in st, st
    assert st["totalLinesProcessed"] == len(model), st
    assert st["totalBytesProcessed"] == sum(len(m[1]) for m in model), st
    assert "store" in res["data"]["stats"]["querier"], res
    vol = ok(srv.port, "/loki/api/v1/query_range",
             {"query": 'sum by (level, detected_level) (count_over_time({job="load"} | logfmt | '
                       'drop __error__ [1m]))', "start": s, "end": e, "step": "60000ms"},
             {**CAT, "X-Query-Tags": "Source=logvolhist"})
    levels = sorted(r["metric"].get("level", "") for r in vol["data"]["result"])
    assert levels == ["error", "info"], vol
    res = ok(srv.port, "/loki/api/v1/query_range", {"query": '{job="load"}', "since": "2h"})
    assert len(lines_of(res)) == min(100, len(model)), res
    mid = sorted(model)[len(model) // 2]
    ctx = ok(srv.port, "/loki/api/v1/query_range",
             {"query": '{job="load",pod="p1"}', "direction": "forward", "limit": "3",
              "start": str(mid[0]), "end": e})
    assert len(lines_of(ctx)) == 3, ctx
    srv.stop()


@case
def case_timeout(binary, tool, tmp):
    """A query past --query.timeout is 504 in plain text with Loki's wording."""
    srv = start(binary, tmp, extra=ANY_AGE + ("--query.timeout", "1ms"))
    for b in range(5):
        push_json(srv.port, [({"job": "slow", "pod": f"p{i}"},
                              [(NOW - (b * 4000 + k) * 10**6 - i, f"line {k} {'x' * 40}", None)
                               for k in range(0, 4000, 4)]) for i in range(4)])
    body = bad(srv.port, "/loki/api/v1/query_range",
               {"query": 'sum(count_over_time({job="slow"} |~ "line [0-9]+5 x+" [1m]))',
                "start": str(NOW - 3600 * SEC), "end": str(NOW), "step": "1s"},
               "request timed out", status=504)
    assert "decrease the duration of the request" in body, body
    srv.stop()


def disconnect_server(binary, tmp):
    """A 2-shard server holding 240k lines of job="dc" over the last hour, for the disconnect
    cases."""
    srv = start(binary, tmp, shards=2, extra=ANY_AGE + ("--limits.loki.ingestion-rate", "100000000",
                                              "--limits.loki.ingestion-burst", "100000000"))
    for b in range(60):
        push_json(srv.port, [({"job": "dc", "pod": f"p{i}"},
                              [(NOW - (b * 4000 + k) * 5 * 10**5 - i, f"line {k} {'y' * 60}",
                                None)
                               for k in range(0, 4000, 2)]) for i in range(4)])
    return srv


def leave_mid_query(srv, params, took):
    """Sends query_range with params, goes away a quarter of the way into it (took: how long the
    query takes) and waits until strata_query_jobs_canceled_total counts the canceled job."""
    if took < 0.3:
        raise rw.Skip(f"the query is too fast here ({took:.3f}s) to leave in its middle")
    before = lp.metric(srv.port, "strata_query_jobs_canceled_total")
    c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
    c.request("GET", "/loki/api/v1/query_range?" + urllib.parse.urlencode(params))
    time.sleep(took / 4)
    c.close()
    deadline = time.time() + 10
    while lp.metric(srv.port, "strata_query_jobs_canceled_total") <= before:
        assert time.time() < deadline, "the query job was not canceled"
        time.sleep(0.05)


@case
def case_client_disconnect(binary, tool, tmp):
    """A client that goes away while its query_range runs cancels the query job (its owners stop):
    strata_query_jobs_canceled_total counts it and the server keeps answering."""
    srv = disconnect_server(binary, tmp)
    params = {"query": 'sum(quantile_over_time(0.5, {job="dc"} | regexp "line (?P<k>[0-9]+) '
                       '(?P<rest>y+)" | line_format "{{.rest}} {{.k}}" | unwrap k [1m]))',
              "start": str(NOW - 3600 * SEC), "end": str(NOW), "step": "1s"}
    t0 = time.time()
    ok(srv.port, "/loki/api/v1/query_range", params)
    leave_mid_query(srv, params, time.time() - t0)
    assert ok(srv.port, "/loki/api/v1/labels", {"start": str(NOW - 3600 * SEC)})["data"] == [
        "job", "pod"]
    srv.stop()


@case
def case_client_disconnect_partial(binary, tool, tmp):
    """The disconnect case for a decomposable metric query (the owners aggregate): the client
    going away cancels the job and its owners stop; the server keeps answering, the same query
    right afterwards counts every line."""
    srv = disconnect_server(binary, tmp)
    params = {"query": 'sum by (k) (count_over_time({job="dc"} | regexp "line (?P<k>[0-9])'
                       '(?P<n>[0-9]*) (?P<rest>y+)" | line_format "{{.rest}} {{.k}}" [1m]))',
              "start": str(NOW - 3600 * SEC), "end": str(NOW), "step": "1s"}
    t0 = time.time()
    res = ok(srv.port, "/loki/api/v1/query_range", params)
    took = time.time() - t0
    total = sum(float(v) for r in res["data"]["result"] for _, v in r["values"][-1:])
    leave_mid_query(srv, params, took)
    again = ok(srv.port, "/loki/api/v1/query_range", params)
    assert sum(float(v) for r in again["data"]["result"] for _, v in r["values"][-1:]) == total
    srv.stop()


@case
def case_query_limits(binary, tool, tmp):
    """Loki's max_entries_limit_per_query (here from the YAML file) and max_query_series (here a
    flag) are configurable and answered 400 in Loki's words; --help lists both."""
    cfg = os.path.join(tmp, "strata.yaml")
    with open(cfg, "w") as f:
        f.write("limits:\n  loki:\n    max_entries_limit_per_query: 10\n")
    srv = start(binary, tmp, extra=ANY_AGE + ("--config", cfg,
                                              "--limits.loki.max-query-series", "2"))
    fill(srv.port)
    rng = {"start": str(NOW - 3600 * SEC), "end": str(NOW)}
    bad(srv.port, "/loki/api/v1/query_range", dict(query='{job="load"}', limit="11", **rng),
        "max entries limit per query exceeded, limit > max_entries_limit (11 > 10)")
    res = ok(srv.port, "/loki/api/v1/query_range", dict(query='{job="load"}', limit="10", **rng))
    assert len(lines_of(res)) == 10, res
    q = 'sum by (pod) (count_over_time({job="load"}[1h]))'
    for path, params in [("/loki/api/v1/query_range", dict(query=q, step="600", **rng)),
                         ("/loki/api/v1/query", {"query": q, "time": str(NOW)})]:
        bad(srv.port, path, params, "maximum number of series (2) reached for a single query")
    res = ok(srv.port, "/loki/api/v1/query",
             {"query": 'sum(count_over_time({job="load"}[1h]))', "time": str(NOW)})
    assert len(res["data"]["result"]) == 1, res
    srv.stop()
    # defaults: 5000 entries, 500 series; 0 turns a limit off
    srv = start(binary, tmp, extra=ANY_AGE + ("--limits.loki.max-entries-limit-per-query", "0"))
    ok(srv.port, "/loki/api/v1/query_range", dict(query='{job="load"}', limit="100000", **rng))
    ok(srv.port, "/loki/api/v1/query", {"query": q, "time": str(NOW)})
    srv.stop()
    srv = start(binary, tmp)
    bad(srv.port, "/loki/api/v1/query_range", dict(query='{job="load"}', limit="5001", **rng),
        "(5001 > 5000)")
    srv.stop()
    out = subprocess.run([binary, "--help"], capture_output=True, text=True).stdout
    assert "--limits.loki.max-entries-limit-per-query N" in out, out
    assert "--limits.loki.max-query-series N" in out, out


@case
def case_error_status(binary, tool, tmp):
    """Each error class gets the status Loki's WriteError gives it: parse, limit and pipeline
    errors 400; a binary operation's duplicate series or many-to-many matching 500 (plain errors
    in Loki); all plain text. (Deadline 504: case timeout; cancel 499: unit test.)"""
    srv = start(binary, tmp)
    fill(srv.port)
    push_json(srv.port, [({"job": "pe"}, [(NOW - 60 * SEC, "v=abc", None),
                                           (NOW - 30 * SEC, "v=2", None)])])
    t = {"time": str(NOW)}
    bad(srv.port, "/loki/api/v1/query", dict(query="sum(rate({job=", **t), "parse error")
    bad(srv.port, "/loki/api/v1/query",
        dict(query='sum_over_time({job="pe"} | logfmt | unwrap v [5m])', **t),
        "pipeline error: 'SampleExtractionErr'")
    bad(srv.port, "/loki/api/v1/query",
        dict(query='vector(1) + on() count_over_time({job="load"}[1h])', **t),
        "found duplicate series on the right hand-side", status=500)
    bad(srv.port, "/loki/api/v1/query",
        dict(query='count_over_time({job="load"}[1h]) + on() vector(1)', **t),
        "multiple matches for labels: many-to-one matching must be explicit", status=500)
    # the pipeline error goes away when the query drops the failed samples
    res = ok(srv.port, "/loki/api/v1/query",
             dict(query='sum_over_time({job="pe"} | logfmt | unwrap v | __error__="" [5m])', **t))
    assert [r["value"][1] for r in res["data"]["result"]] == ["2"], res
    srv.stop()


@case
def case_format_query_pretty(binary, tool, tmp):
    """format_query answers Loki's Prettify: short queries on one line, long ones split."""
    srv = start(binary, tmp)
    q = ('sum by (pod) (count_over_time({job="load", namespace="production"} |= "error" | json '
         '| level="error" [5m]))')
    fq = ok(srv.port, "/loki/api/v1/format_query", {"query": q})
    assert fq["data"] == ('sum by (pod)(\n  count_over_time({job="load", namespace="production"} '
                          '|= "error" | json | level="error"[5m])\n)'), fq
    fq = ok(srv.port, "/loki/api/v1/format_query", {"query": 'sum(rate({job="a"}[1m]))'})
    assert fq["data"] == 'sum(rate({job="a"}[1m]))', fq
    srv.stop()


if __name__ == "__main__":
    sys.exit(rw.main(CASES, __doc__))
