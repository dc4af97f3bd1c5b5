#!/usr/bin/env python3
"""Integration tests for Loki's live tail over a WebSocket (T-4.9: a pushed line arrives within a
second), detected_fields / detected_field values / detected_labels, patterns, and client-
disconnect cancellation (a slow query whose client goes away is counted as canceled on /metrics
within a second). The real binary on 127.0.0.1; a raw-socket WebSocket client written here
(RFC 6455: handshake, masked frames, ping/pong, close).

usage: loki_tail_test.py --strata PATH --dump PATH --case NAME|all [--list]
Exit status: 0 pass, 1 fail, 77 skip.
"""
import base64
import hashlib
import http.client
import json
import os
import socket
import struct
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rwproto as rw  # noqa: E402

CASES = {}
NO_RATE = ("--limits.loki.ingestion-rate", "0")
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def case(fn):
    CASES[fn.__name__.removeprefix("case_")] = fn
    return fn


def start(binary, tmp, shards=2, extra=NO_RATE):
    return rw.Server(binary, os.path.join(tmp, "data"), shards=shards, extra=extra).wait_ready()


def push(port, streams):
    """streams = [({label: value}, [(ts_ns, line, {md} or None), ...])]."""
    out = []
    for labels, entries in streams:
        vals = [[str(ts), line] + ([md] if md else []) for ts, line, md in entries]
        out.append({"stream": labels, "values": vals})
    st, _, body = rw.post(port, json.dumps({"streams": out}).encode(),
                          content_type="application/json", encoding=None,
                          path="/loki/api/v1/push")
    assert st == 204, (st, body)


def get(port, path, params, timeout=30):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request("GET", path + "?" + urllib.parse.urlencode(params))
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


def metric(port, name):
    st, body = rw.http_get(port, "/metrics")
    assert st == 200
    for line in body.decode().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    raise AssertionError(f"{name} not on /metrics")


# ---- a minimal WebSocket client -----------------------------------------------------------------


class WS:
    def __init__(self, port, path, headers=None):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        key = base64.b64encode(os.urandom(16)).decode()
        h = {"Host": "127.0.0.1", "Upgrade": "websocket", "Connection": "Upgrade",
             "Sec-WebSocket-Key": key, "Sec-WebSocket-Version": "13"}
        h.update(headers or {})
        req = f"GET {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in h.items()) + "\r\n"
        self.sock.sendall(req.encode())
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            d = self.sock.recv(4096)
            if not d:
                break
            self.buf += d
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        self.status = int(lines[0].split()[1])
        self.headers = {k.lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
        self.body = self.buf
        if self.status == 101:
            want = base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()
            assert self.headers.get("sec-websocket-accept") == want, self.headers

    def send(self, opcode, payload=b"", fin=True):
        mask = os.urandom(4)
        n = len(payload)
        head = bytes([(0x80 if fin else 0) | opcode])
        if n < 126:
            head += bytes([0x80 | n])
        elif n < 65536:
            head += bytes([0x80 | 126]) + struct.pack(">H", n)
        else:
            head += bytes([0x80 | 127]) + struct.pack(">Q", n)
        body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(head + mask + body)

    def _need(self, n, deadline):
        while len(self.buf) < n:
            self.sock.settimeout(max(0.01, deadline - time.time()))
            d = self.sock.recv(65536)
            if not d:
                raise EOFError("connection closed")
            self.buf += d

    def recv(self, timeout=5):
        """(opcode, payload) of the next frame (server frames are never masked)."""
        deadline = time.time() + timeout
        self._need(2, deadline)
        b0, b1 = self.buf[0], self.buf[1]
        assert not b1 & 0x80, "server frames must not be masked"
        n, h = b1 & 0x7F, 2
        if n == 126:
            self._need(4, deadline)
            n, h = struct.unpack(">H", self.buf[2:4])[0], 4
        elif n == 127:
            self._need(10, deadline)
            n, h = struct.unpack(">Q", self.buf[2:10])[0], 10
        self._need(h + n, deadline)
        payload, self.buf = self.buf[h:h + n], self.buf[h + n:]
        assert b0 & 0x80, "fragmented server frame"
        return b0 & 0x0F, payload

    def recv_text(self, timeout=5):
        while True:
            op, p = self.recv(timeout)
            if op == 1:
                return json.loads(p)
            assert op in (9, 10), f"unexpected opcode {op}"

    def close(self):
        self.sock.close()


def tail_path(query, **params):
    params["query"] = query
    return "/loki/api/v1/tail?" + urllib.parse.urlencode(params)


def lines_of(frame):
    return [(int(v[0]), v[1], s["stream"]) for s in frame["streams"] for v in s["values"]]


# ---- cases ------------------------------------------------------------------------------------


@case
def case_tail_live(binary, dump, tmp):
    """T-4.9: history since start first (oldest first, limit), then a pushed line within 1 s."""
    srv = start(binary, tmp)
    now = time.time_ns()
    push(srv.port, [({"job": "tail", "level": "info"},
                     [(now - 3 * 10**9 + i, f"old {i}", None) for i in range(5)])])
    ws = WS(srv.port, tail_path('{job="tail"}', start=str(now - 60 * 10**9), limit="3"))
    assert ws.status == 101, (ws.status, ws.body)
    first = ws.recv_text()
    assert first["dropped_entries"] is None
    got = lines_of(first)
    assert [g[1] for g in got] == ["old 2", "old 3", "old 4"], got
    assert got[0][2] == {"job": "tail", "level": "info"}
    for k in range(3):
        t0 = time.time()
        push(srv.port, [({"job": "tail", "level": "warn"}, [(time.time_ns(), f"live {k}", None)])])
        frame = ws.recv_text(timeout=2)
        took = time.time() - t0
        got = lines_of(frame)
        assert [g[1] for g in got] == [f"live {k}"], got
        assert took < 1.0, f"line arrived after {took:.2f}s"
        print(f"live line {k} arrived in {took * 1000:.0f} ms")
    # a line stored a little after its timestamp still arrives, exactly once
    t_late = time.time_ns()
    time.sleep(1.0)  # stored a second after its timestamp (after polls that passed it)
    push(srv.port, [({"job": "tail", "level": "warn"}, [(t_late, "late", None)])])
    got = lines_of(ws.recv_text(timeout=2))
    assert [g[1] for g in got] == ["late"], got
    push(srv.port, [({"job": "tail", "level": "warn"}, [(time.time_ns() + 10**9 // 2, "next", None)])])
    got = lines_of(ws.recv_text(timeout=3))
    assert [g[1] for g in got] == ["next"], got  # no "late" again in between
    # another stream the query does not select never shows up; a filter applies
    push(srv.port, [({"job": "other"}, [(time.time_ns(), "not me", None)])])
    ws2 = WS(srv.port, tail_path('{job="tail"} |= "keep"', start=str(time.time_ns())))
    assert ws2.status == 101
    push(srv.port, [({"job": "tail", "level": "x"}, [(time.time_ns(), "drop this", None),
                                                     (time.time_ns() + 1, "keep this", None)])])
    got = lines_of(ws2.recv_text(timeout=2))
    assert [g[1] for g in got] == ["keep this"], got
    # ping is answered with the same payload; close is echoed
    ws.send(9, b"hi")
    while True:
        op, p = ws.recv()
        if op == 10:
            assert p == b"hi"
            break
    ws.send(8, struct.pack(">H", 1000))
    op, p = ws.recv()
    assert op == 8 and struct.unpack(">H", p[:2])[0] == 1000
    ws.close()
    ws2.close()
    deadline = time.time() + 2
    while metric(srv.port, "strata_http_websocket_connections") != 0 and time.time() < deadline:
        time.sleep(0.05)
    assert metric(srv.port, "strata_http_websocket_connections") == 0
    assert srv.stop() == 0


@case
def case_tail_errors_and_limit(binary, dump, tmp):
    """Bad handshakes and parameters are 400 before any upgrade; the 11th tail is refused."""
    srv = start(binary, tmp)
    st, body = get(srv.port, "/loki/api/v1/tail", {"query": '{job="x"}'})
    assert st == 400 and b"upgrade" in body, (st, body)
    ws = WS(srv.port, tail_path('{job="x"'))
    assert ws.status == 400, ws.status
    ws = WS(srv.port, tail_path('{job="x"}', delay_for="6"))
    assert ws.status == 400 and b"delay_for" in ws.body, ws.body
    ws = WS(srv.port, tail_path('{job="x"}'), headers={"Sec-WebSocket-Version": "8"})
    assert ws.status == 400
    # protocol errors close the WebSocket: an unmasked client frame (1002), a frame over 64 KiB
    # (1009); a fragmented text message and a binary frame are read and dropped
    for frame, code in ((bytes([0x81, 0x02]) + b"hi", 1002), (None, 1009)):
        w = WS(srv.port, tail_path('{job="x"}'))
        assert w.status == 101
        if frame is None:
            w.send(1, b"\0" * (64 * 1024 + 1))
        else:
            w.sock.sendall(frame)
        while True:
            op, p = w.recv()
            if op == 8:
                assert struct.unpack(">H", p[:2])[0] == code, p
                break
        w.close()
    w = WS(srv.port, tail_path('{job="x"}'))
    w.send(1, b"part", fin=False)
    w.send(0, b"rest")
    w.send(2, b"\x00\x01")
    w.send(9, b"still here")
    while True:
        op, p = w.recv()
        if op == 10:
            assert p == b"still here"
            break
    w.close()
    deadline = time.time() + 3
    while metric(srv.port, "strata_http_websocket_connections") != 0 and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)  # a poll job of a closed tail may still be finishing
    tails = [WS(srv.port, tail_path('{job="x"}')) for _ in range(10)]
    assert all(t.status == 101 for t in tails)
    extra = WS(srv.port, tail_path('{job="x"}'))
    assert extra.status == 400, extra.status
    assert b"max concurrent tail requests limit exceeded" in extra.body, extra.body
    for t in tails:
        t.close()
    deadline = time.time() + 3
    while time.time() < deadline:
        again = WS(srv.port, tail_path('{job="x"}'))
        if again.status == 101:
            break
        time.sleep(0.1)
    assert again.status == 101, "tails were not released when their clients left"
    again.close()
    # a tail open at SIGTERM is closed with 1001 and the server exits cleanly
    last = WS(srv.port, tail_path('{job="x"}'))
    assert last.status == 101
    srv.proc.send_signal(2)
    while True:
        op, p = last.recv(timeout=10)
        if op == 8:
            assert struct.unpack(">H", p[:2])[0] == 1001
            break
    assert srv.proc.wait(timeout=30) == 0


def push_mixed(port, now):
    entries = []
    for i in range(60):
        if i % 2:
            line = json.dumps({"status": 200 + i % 3, "dur": f"{i}ms", "req": {"path": f"/p{i % 4}"}})
        else:
            line = f"level=info status={200 + i % 3} size={i}KB msg=\"user {i % 5} logged in\""
        entries.append((now - 10**9 * (60 - i), line, {"trace_id": f"t{i % 7}"}))
    push(port, [({"app": "shop", "env": "prod", "pod": "p-1"}, entries),
                ({"app": "shop", "env": "dev", "pod": "p-2"}, entries[:1])])


@case
def case_detected_fields_and_labels(binary, dump, tmp):
    srv = start(binary, tmp)
    now = time.time_ns()
    push_mixed(srv.port, now)
    st, body = get(srv.port, "/loki/api/v1/detected_fields", {"query": '{app="shop"}'})
    assert st == 200, body
    d = json.loads(body)
    assert d["limit"] == 1000
    f = {x["label"]: x for x in d["fields"]}
    assert f["status"]["type"] == "int" and f["status"]["cardinality"] == 3, f["status"]
    assert sorted(f["status"]["parsers"]) == ["json", "logfmt"], f["status"]
    assert f["dur"]["type"] == "duration" and f["dur"]["parsers"] == ["json"]
    assert f["size"]["type"] == "bytes" and f["size"]["parsers"] == ["logfmt"]
    assert f["req_path"]["cardinality"] == 2  # odd lines are JSON: /p1 and /p3
    assert f["trace_id"]["parsers"] is None and f["trace_id"]["cardinality"] == 7
    assert "app" not in f and "__error__" not in f
    st, body = get(srv.port, "/loki/api/v1/detected_fields",
                   {"query": '{app="shop"} | json', "limit": "2", "line_limit": "10"})
    assert st == 200 and len(json.loads(body)["fields"]) == 2, body
    st, body = get(srv.port, "/loki/api/v1/detected_field/req_path/values", {"query": '{app="shop"}'})
    assert st == 200, body
    assert sorted(json.loads(body)["values"]) == ["/p1", "/p3"], body
    st, body = get(srv.port, "/loki/api/v1/detected_fields", {"query": "{app="})
    assert st == 400, body
    st, body = get(srv.port, "/loki/api/v1/detected_labels", {"query": '{app="shop"}'})
    assert st == 200, body
    labels = {x["label"]: x["cardinality"] for x in json.loads(body)["detectedLabels"]}
    assert labels == {"app": 1, "env": 2, "pod": 2}, labels
    assert srv.stop() == 0


@case
def case_patterns(binary, dump, tmp):
    srv = start(binary, tmp)
    now = time.time_ns() // 10**9 * 10**9
    entries = []
    for i in range(30):
        entries.append((now - 10**9 * (30 - i), f"user u{i} logged in from 10.0.0.{i}", None))
        entries.append((now - 10**9 * (30 - i) + 1, f"GET /item/{i} 200 {i}ms", None))
    entries.append((now - 10**9, "disk full", None))
    push(srv.port, [({"app": "web"}, entries)])
    st, body = get(srv.port, "/loki/api/v1/patterns",
                   {"query": '{app="web"}', "start": str(now - 60 * 10**9), "end": str(now),
                    "step": "10s"})
    assert st == 200, body
    d = json.loads(body)
    assert d["status"] == "success"
    pats = {p["pattern"]: p["samples"] for p in d["data"]}
    assert "user <_> logged in from <_>" in pats, pats.keys()
    assert "GET <_> 200 <_>" in pats, pats.keys()
    assert "disk full" in pats
    s = pats["user <_> logged in from <_>"]
    assert sum(c for _, c in s) == 30 and all(ts % 10 == 0 for ts, _ in s), s
    assert [p["pattern"] for p in d["data"]][-1] == "disk full"  # fewest lines last
    st, body = get(srv.port, "/loki/api/v1/patterns", {"query": 'sum(rate({app="web"}[1m]))'})
    assert st == 400, body
    assert srv.stop() == 0


@case
def case_disconnect_cancels(binary, dump, tmp):
    """A slow query whose client disconnects counts as canceled on /metrics within a second."""
    srv = start(binary, tmp, shards=2)
    now = time.time_ns()
    lines = 0
    for b in range(20):
        entries = [(now - 3600 * 10**9 + (b * 10000 + i) * 10**5,
                    f'{{"a":{i},"b":"x{i % 97}","c":{{"d":"{i}","e":[1,2,3]}}}} k=v{i}', None)
                   for i in range(10000)]
        push(srv.port, [({"job": "big", "part": str(b % 4)}, entries)])
        lines += len(entries)
    before = metric(srv.port, "strata_query_jobs_canceled_total")
    params = {"query": '{job="big"} | json | a > 0', "line_limit": "10000000",
              "start": str(now - 7200 * 10**9), "end": str(now)}
    # measure how long the query takes when it is allowed to finish, then abandon the same query
    # a third of the way in (at most 300 ms)
    t0 = time.time()
    st, _ = get(srv.port, "/loki/api/v1/detected_fields", params, timeout=120)
    full = time.time() - t0
    assert st == 200
    print(f"{lines} lines; the full query takes {full:.2f}s")
    if full < 0.2:
        raise rw.Skip(f"the query finished in {full:.2f}s: too fast to abandon")
    s = socket.create_connection(("127.0.0.1", srv.port))
    s.sendall(("GET /loki/api/v1/detected_fields?" + urllib.parse.urlencode(params)
               + " HTTP/1.1\r\nHost: x\r\n\r\n").encode())
    time.sleep(min(0.3, full / 3))  # well before it would finish
    s.close()
    t_closed = time.time()
    while time.time() - t_closed < 1.0:
        if metric(srv.port, "strata_query_jobs_canceled_total") > before:
            break
        time.sleep(0.02)
    took = time.time() - t_closed
    assert metric(srv.port, "strata_query_jobs_canceled_total") == before + 1, "not canceled"
    assert metric(srv.port, "strata_http_client_aborts_total") >= 1
    print(f"canceled {took * 1000:.0f} ms after the client left")
    # the server is still healthy and answers the next query
    st, _ = get(srv.port, "/loki/api/v1/detected_labels", {"query": '{job="big"}'})
    assert st == 200
    assert srv.stop() == 0


if __name__ == "__main__":
    sys.exit(rw.main(CASES, __doc__))
