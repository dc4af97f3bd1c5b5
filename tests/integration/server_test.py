#!/usr/bin/env python3
"""Integration tests for the strata server process: start the real binary on 127.0.0.1 with free
ports and a temp data dir, then drive it with curl and raw sockets.

usage: server_test.py --strata PATH --case NAME   (or --case all; --list prints the cases)
Exit status: 0 pass, 1 fail, 77 skip (a precondition such as curl is missing).
"""
import argparse
import gzip
import json
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import zlib

CASES = {}


def case(fn):
    CASES[fn.__name__.removeprefix("case_")] = fn
    return fn


class Skip(Exception):
    pass


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def raise_nofile(n):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(max(n, soft), hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return want


class Strata:
    """One strata process with its own ports, data dir and log file."""

    def __init__(self, binary, extra=(), shards=2, nports=2, nofile=None, data_dir=None):
        self.tmp = tempfile.mkdtemp(prefix="strata-it-")
        self.data_dir = data_dir or os.path.join(self.tmp, "data")
        self.ports = [free_port() for _ in range(nports)]
        self.log_path = os.path.join(self.tmp, "strata.log")
        args = [binary, "--data-dir", self.data_dir, "--shards", str(shards)]
        for p in self.ports:
            args += ["--listen", f"127.0.0.1:{p}"]
        args += list(extra)
        self.log = open(self.log_path, "wb")
        env = dict(os.environ)
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=1")

        def pre():
            if nofile:
                raise_nofile(nofile)

        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT, env=env,
                                     preexec_fn=pre)
        self.port = self.ports[0] if self.ports else None

    def wait_ready(self, timeout=20):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"strata exited early with {self.proc.returncode}")
            try:
                st, _, body = request(self.port, "GET", "/ready")
                if st == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.05)
        raise AssertionError("strata did not become ready")

    def logs(self):
        self.log.flush()
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def signal(self, sig):
        self.proc.send_signal(sig)

    def wait_exit(self, timeout=30):
        return self.proc.wait(timeout=timeout)

    def close(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        shutil.rmtree(self.tmp, ignore_errors=True)


# ---- raw HTTP helpers -------------------------------------------------------------------------


def connect(port, timeout=10):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


class Reader:
    """Reads HTTP/1.1 responses (Content-Length framed) from a socket."""

    def __init__(self, sock):
        self.s = sock
        self.buf = b""

    def _fill(self):
        d = self.s.recv(65536)
        if not d:
            raise EOFError("connection closed")
        self.buf += d

    def response(self, head=False):
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        hdr, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = hdr.decode().split("\r\n")
        m = re.match(r"HTTP/1\.1 (\d{3}) ", lines[0] + " ")
        assert m, f"bad status line {lines[0]!r}"
        status = int(m.group(1))
        headers = {}
        for line in lines[1:]:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
        n = 0 if head or status in (100, 204, 304) else int(headers.get("content-length", "0"))
        while len(self.buf) < n:
            self._fill()
        body, self.buf = self.buf[:n], self.buf[n:]
        return status, headers, body

    def at_eof(self, timeout=5):
        """True when the server closed the connection (EOF or reset) within timeout."""
        self.s.settimeout(timeout)
        try:
            while True:
                d = self.s.recv(65536)
                if not d:
                    return True
                self.buf += d
        except (ConnectionResetError, BrokenPipeError):
            return True
        except socket.timeout:
            return False


def request(port, method, path, headers=None, body=b"", version="1.1"):
    s = connect(port)
    try:
        h = {"Host": "127.0.0.1", "Connection": "close"}
        h.update(headers or {})
        if body or method == "POST":
            h.setdefault("Content-Length", str(len(body)))
        raw = f"{method} {path} HTTP/{version}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in h.items())
        s.sendall(raw.encode() + b"\r\n" + body)
        return Reader(s).response(head=method == "HEAD")
    finally:
        s.close()


def curl(args):
    if not shutil.which("curl"):
        raise Skip("curl is not installed")
    r = subprocess.run(["curl", "-sS", "--max-time", "10"] + args, capture_output=True)
    if r.returncode != 0:
        raise AssertionError(f"curl {args} failed: {r.stderr.decode()}")
    return r.stdout


def curl_status(args):
    out = curl(["-o", "/dev/null", "-w", "%{http_code}"] + args)
    return int(out)


def check_exposition(text):
    """Parses the Prometheus text format 0.0.4 loosely; returns {series: value}."""
    series, typed = {}, set()
    for line in text.splitlines():
        if line.startswith("# HELP "):
            continue
        if line.startswith("# TYPE "):
            _, _, name, typ = line.split(" ", 3)
            assert typ in ("counter", "gauge", "histogram", "summary", "untyped"), line
            typed.add(name)
            continue
        m = re.fullmatch(r'([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)', line)
        assert m, f"bad exposition line {line!r}"
        base = re.sub(r"_(bucket|sum|count)$", "", m.group(1))
        assert m.group(1) in typed or base in typed, f"sample without TYPE: {line}"
        if m.group(2):
            assert re.fullmatch(r'\{([a-zA-Z_][a-zA-Z0-9_]*="[^"]*",?)*\}', m.group(2)), line
        series[m.group(1) + (m.group(2) or "")] = float(m.group(3))
    return series


# ---- cases ------------------------------------------------------------------------------------


@case
def case_ops_endpoints(binary):
    srv = Strata(binary).wait_ready()
    try:
        for port in srv.ports:  # every API on every address
            base = f"http://127.0.0.1:{port}"
            assert curl([f"{base}/ready"]) == b"ready\n"
            assert curl_status([f"{base}/-/ready"]) == 200
            assert curl_status([f"{base}/-/healthy"]) == 200
            prom = json.loads(curl([f"{base}/api/v1/status/buildinfo"]))
            assert prom["status"] == "success", prom
            keys = ["version", "revision", "branch", "buildUser", "buildDate", "goVersion"]
            assert sorted(prom["data"]) == sorted(keys), prom
            assert all(isinstance(prom["data"][k], str) for k in keys)
            assert "features" not in prom["data"] and "features" not in prom
            loki = json.loads(curl([f"{base}/loki/api/v1/status/buildinfo"]))
            assert sorted(loki) == sorted(keys), loki
            assert loki == prom["data"]
        st, h, body = request(srv.port, "GET", "/api/v1/status/flags")
        assert st == 404, st
        env = json.loads(body)
        assert env["status"] == "error" and env["errorType"] == "not_found", env
        assert h["content-type"] == "application/json"
        st, h, body = request(srv.port, "GET", "/loki/api/v1/nope")
        assert st == 404 and h["content-type"].startswith("text/plain"), (st, h)
        st, h, body = request(srv.port, "POST", "/ready", body=b"x")
        assert st == 405 and h["allow"] == "GET, HEAD", (st, h)
        st, h, body = request(srv.port, "DELETE", "/api/v1/status/buildinfo")
        assert st == 405 and json.loads(body)["errorType"] == "bad_data", (st, body)
        st, h, body = request(srv.port, "HEAD", "/ready")
        assert st == 200 and h["content-length"] == "6" and body == b"", (st, h, body)
        metrics = curl([f"http://127.0.0.1:{srv.port}/metrics"]).decode()
        series = check_exposition(metrics)
        assert series['strata_http_requests_total{route="/ready",code="200"}'] >= 2, series
        assert series['strata_http_requests_total{route="unmatched",code="404"}'] >= 2
        assert series["strata_http_open_connections"] >= 1
        assert series["strata_http_accepted_connections_total"] >= 10
        assert series["process_resident_memory_bytes"] > 0
        assert 'strata_loop_busy_seconds_total{shard="1"}' in series
        assert any(k.startswith("strata_mesh_messages_sent_total") for k in series)
        for f in range(2):
            for t in range(2):
                assert series[f'strata_mesh_ring_depth{{from="{f}",to="{t}"}}'] >= 0, series
        assert series["strata_shards"] == 2
    finally:
        srv.close()


@case
def case_keepalive_and_http10(binary):
    srv = Strata(binary).wait_ready()
    try:
        s = connect(srv.port)
        r = Reader(s)
        for i in range(5):
            s.sendall(b"GET /ready HTTP/1.1\r\nHost: x\r\n\r\n")
            st, h, body = r.response()
            assert st == 200 and body == b"ready\n" and "connection" not in h, (st, h)
        s.sendall(b"GET /-/healthy HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        st, h, _ = r.response()
        assert st == 200 and h["connection"] == "close"
        assert r.at_eof()
        # HTTP/1.0 without keep-alive: answered, then closed
        s = connect(srv.port)
        r = Reader(s)
        s.sendall(b"GET /ready HTTP/1.0\r\n\r\n")
        st, h, _ = r.response()
        assert st == 200 and h.get("connection") == "close", h
        assert r.at_eof()
        # HTTP/1.0 with keep-alive: stays open
        s = connect(srv.port)
        r = Reader(s)
        for _ in range(3):
            s.sendall(b"GET /ready HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            st, h, _ = r.response()
            assert st == 200 and h["connection"] == "keep-alive", h
        s.close()
    finally:
        srv.close()


@case
def case_pipelining(binary):
    srv = Strata(binary).wait_ready()
    try:
        s = connect(srv.port)
        r = Reader(s)
        s.sendall(b"GET /ready HTTP/1.1\r\nHost: x\r\n\r\n"
                  b"GET /api/v1/status/buildinfo HTTP/1.1\r\nHost: x\r\n\r\n"
                  b"GET /-/healthy HTTP/1.1\r\nHost: x\r\n\r\n")
        st1, _, b1 = r.response()
        st2, _, b2 = r.response()
        st3, _, b3 = r.response()
        assert (st1, st2, st3) == (200, 200, 200)
        assert b1 == b"ready\n" and b2.startswith(b'{"status":"success"') and b"Healthy" in b3
        # 200 pipelined requests in one write, answered in order
        s.sendall(b"".join(b"GET /ready?i=%d HTTP/1.1\r\nHost: x\r\n\r\n" % i for i in range(200)))
        for i in range(200):
            assert r.response()[0] == 200
        s.close()
    finally:
        srv.close()


@case
def case_chunked_and_continue(binary):
    srv = Strata(binary).wait_ready()
    try:
        s = connect(srv.port)
        r = Reader(s)
        # a chunked body with extensions and trailers, then a pipelined request on the same conn
        s.sendall(b"POST /ready HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                  b"5;ext=1\r\nhello\r\n")
        time.sleep(0.2)
        s.sendall(b"6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\nGET /ready HTTP/1.1\r\nHost: x\r\n\r\n")
        st, h, _ = r.response()
        assert st == 405, st  # body consumed, framing intact
        st, _, body = r.response()
        assert st == 200 and body == b"ready\n"
        # Expect: 100-continue
        s.sendall(b"POST /ready HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n")
        st, _, _ = r.response()
        assert st == 100, st
        s.sendall(b"abcd")
        st, _, _ = r.response()
        assert st == 405
        s.close()
        # curl sends a chunked upload too
        out = curl(["-o", "/dev/null", "-w", "%{http_code}", "-H", "Transfer-Encoding: chunked",
                    "--data-binary", "x" * 5000, f"http://127.0.0.1:{srv.port}/ready"])
        assert out == b"405", out
    finally:
        srv.close()


@case
def case_gzip(binary):
    srv = Strata(binary).wait_ready()
    try:
        st, h, body = request(srv.port, "GET", "/metrics", {"Accept-Encoding": "gzip"})
        assert st == 200 and h.get("content-encoding") == "gzip", h
        assert h.get("vary") == "Accept-Encoding"
        text = gzip.decompress(body).decode()
        check_exposition(text)
        st, h, body = request(srv.port, "GET", "/metrics")
        assert "content-encoding" not in h and body.startswith(b"# HELP"), h
        st, h, body = request(srv.port, "GET", "/metrics", {"Accept-Encoding": "gzip;q=0, br"})
        assert "content-encoding" not in h
        # small bodies are never compressed
        st, h, body = request(srv.port, "GET", "/ready", {"Accept-Encoding": "gzip"})
        assert "content-encoding" not in h and body == b"ready\n"
        # curl --compressed decodes it
        assert b"strata_build_info" in curl(["--compressed", f"http://127.0.0.1:{srv.port}/metrics"])
        # HEAD: same headers, no body
        st, h, body = request(srv.port, "HEAD", "/metrics", {"Accept-Encoding": "gzip"})
        assert st == 200 and h.get("content-encoding") == "gzip" and int(h["content-length"]) > 0
        # request bodies in a content coding the route does not accept: 415 in the route's style
        gz = gzip.compress(b"query=up")
        st, h, body = request(srv.port, "POST", "/api/v1/status/buildinfo",
                              {"Content-Encoding": "gzip"}, gz)
        assert st == 405, st  # method is checked before the body
        st, h, body = request(srv.port, "GET", "/api/v1/status/buildinfo",
                              {"Content-Encoding": "gzip"}, gz)
        assert st == 415, st
        env = json.loads(body)
        assert env["status"] == "error" and "Content-Encoding" in env["error"], env
        st, h, body = request(srv.port, "GET", "/ready", {"Content-Encoding": "snappy"}, b"xx")
        assert st == 415 and h["content-type"].startswith("text/plain"), (st, h)
        st, h, body = request(srv.port, "GET", "/ready", {"Content-Encoding": "br"}, b"xx")
        assert st == 415
        st, h, body = request(srv.port, "GET", "/ready", {"Content-Encoding": "identity"}, b"xx")
        assert st == 200
    finally:
        srv.close()


@case
def case_limits_and_garbage(binary):
    srv = Strata(binary, ["--http.max-body-bytes", "1KiB", "--http.max-header-bytes", "4KiB"]).wait_ready()
    try:
        st, h, _ = request(srv.port, "GET", "/ready", {"X-Big": "a" * 5000})
        assert st == 431 and h["connection"] == "close", (st, h)
        st, h, _ = request(srv.port, "GET", "/ready", {f"X-H{i}": "v" for i in range(200)})
        assert st == 431, st
        st, h, _ = request(srv.port, "POST", "/ready", body=b"x" * 1025)
        assert st == 413 and h["connection"] == "close", (st, h)
        st, h, _ = request(srv.port, "POST", "/ready", body=b"x" * 1024)
        assert st == 405, st  # exactly at the limit: accepted, then routed
        # a large body announced but not sent: 413 at once, then the connection closes
        s = connect(srv.port)
        r = Reader(s)
        s.sendall(b"POST /ready HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\n")
        st, h, _ = r.response()
        assert st == 413
        assert r.at_eof()
        # chunked body over the limit
        s = connect(srv.port)
        r = Reader(s)
        s.sendall(b"POST /ready HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                  b"400\r\n" + b"y" * 1024 + b"\r\n1\r\nz\r\n0\r\n\r\n")
        assert r.response()[0] == 413
        assert r.at_eof()
        # garbage: 400 and a clean close; the server keeps serving
        for junk in [b"\x00\x01\x02garbage\r\n\r\n", b"GET / HTTP/1.1\r\nHost a\r\n\r\n",
                     b"GET /ready HTTP/9.9\r\nHost: x\r\n\r\n", b"\r\n" * 3 + b"BREW\r\n\r\n",
                     b"GET /ready HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n"]:
            s = connect(srv.port)
            r = Reader(s)
            s.sendall(junk)
            st, h, body = r.response()
            assert st in (400, 505), (junk, st)
            assert h["connection"] == "close"
            assert r.at_eof(), junk
        # curl's view of a 413
        assert curl_status(["--data-binary", "x" * 2000, f"http://127.0.0.1:{srv.port}/ready"]) == 413
        assert request(srv.port, "GET", "/ready")[0] == 200
    finally:
        srv.close()


@case
def case_timeouts(binary):
    srv = Strata(binary, ["--http.header-timeout", "1s", "--http.idle-timeout", "2s"]).wait_ready()
    try:
        # slow headers: 408 then close, within the header timeout (+ tick)
        t0 = time.time()
        s = connect(srv.port)
        r = Reader(s)
        s.sendall(b"GET /ready HTTP/1.1\r\nHost: x\r\n")
        st, h, _ = r.response()
        took = time.time() - t0
        assert st == 408 and h["connection"] == "close", st
        assert 0.8 < took < 3, took
        assert r.at_eof()
        # trickling one byte at a time does not extend the header deadline
        s = connect(srv.port)
        t0 = time.time()
        cut = False
        try:
            for c in b"GET /ready HTTP/1.1\r\nX-Slow: " + b"a" * 100:
                s.sendall(bytes([c]))
                time.sleep(0.1)
                if time.time() - t0 > 4:
                    break
        except (BrokenPipeError, ConnectionResetError):
            cut = True
        assert cut or Reader(s).at_eof(2), "slowloris client was not cut off"
        assert time.time() - t0 < 4
        # a connection that sends nothing is closed too
        s = connect(srv.port)
        assert Reader(s).at_eof(4)
        # idle keep-alive connections close after the idle timeout
        s = connect(srv.port)
        r = Reader(s)
        s.sendall(b"GET /ready HTTP/1.1\r\nHost: x\r\n\r\n")
        assert r.response()[0] == 200
        t0 = time.time()
        assert r.at_eof(5)
        assert 1.5 < time.time() - t0 < 4
        series = check_exposition(request(srv.port, "GET", "/metrics")[2].decode())
        assert series['strata_http_timeouts_total{kind="header"}'] >= 3, series
        assert series['strata_http_timeouts_total{kind="idle"}'] >= 1
    finally:
        srv.close()


@case
def case_many_connections(binary):
    n = 1000
    raise_nofile(n + 200)
    srv = Strata(binary, nofile=4 * n).wait_ready()
    try:
        socks = [connect(srv.port, timeout=30) for _ in range(n)]
        for s in socks:
            s.sendall(b"GET /ready HTTP/1.1\r\nHost: x\r\n\r\n")
        for s in socks:
            st, _, body = Reader(s).response()
            assert st == 200 and body == b"ready\n"
        series = check_exposition(request(srv.port, "GET", "/metrics")[2].decode())
        assert series["strata_http_open_connections"] >= n, series["strata_http_open_connections"]
        for s in socks:  # each still usable
            s.sendall(b"GET /-/healthy HTTP/1.1\r\nHost: x\r\n\r\n")
        for s in socks:
            assert Reader(s).response()[0] == 200
            s.close()
    finally:
        srv.close()


@case
def case_max_connections(binary):
    srv = Strata(binary, ["--http.max-connections", "5"], shards=1, nports=1).wait_ready()
    try:
        time.sleep(0.3)  # the readiness probe's connection is gone
        held = [connect(srv.port) for _ in range(5)]
        time.sleep(0.3)
        s = connect(srv.port)
        st, h, body = Reader(s).response()
        assert st == 503 and h["connection"] == "close" and h["retry-after"] == "1", (st, h)
        held[0].close()
        time.sleep(0.3)
        st, _, _ = request(srv.port, "GET", "/ready")
        assert st == 200, st
        time.sleep(0.3)  # that connection lingers until our side's FIN arrives
        series = check_exposition(request(srv.port, "GET", "/metrics")[2].decode())
        assert series["strata_http_rejected_connections_total"] >= 1
        for s in held[1:]:
            s.close()
    finally:
        srv.close()


@case
def case_sigterm_drains(binary):
    srv = Strata(binary, ["--shutdown.grace-period", "10s"]).wait_ready()
    try:
        idle = connect(srv.port)  # an idle keep-alive connection: closed at once on SIGTERM
        s = connect(srv.port)
        r = Reader(s)
        body = b"z" * 64
        s.sendall(b"GET /ready HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body))
        s.sendall(body[:10])
        time.sleep(0.3)
        t0 = time.time()
        srv.signal(signal.SIGTERM)
        time.sleep(0.5)
        assert Reader(idle).at_eof(2), "idle connection not closed on SIGTERM"
        try:  # no new connections
            c = connect(srv.port, timeout=2)
            c.sendall(b"GET /ready HTTP/1.1\r\nHost: x\r\n\r\n")
            rc2 = Reader(c)
            refused = rc2.at_eof(2) and not rc2.buf
        except OSError:
            refused = True
        assert refused, "new connection served while stopping"
        assert srv.proc.poll() is None, "exited before the in-flight upload finished"
        for i in range(10, len(body), 9):  # the slow upload completes
            s.sendall(body[i:i + 9])
            time.sleep(0.1)
        st, h, resp = r.response()
        assert st == 503 and resp == b"not ready: shutting down\n", (st, resp)
        assert h["connection"] == "close"
        rc = srv.wait_exit(15)
        assert rc == 0, f"exit status {rc}"
        assert time.time() - t0 < 10
        logs = srv.logs()
        assert "msg=stopping" in logs and "msg=stopped" in logs and "shutdown_ms=" in logs, logs
    finally:
        srv.close()


@case
def case_second_signal(binary):
    srv = Strata(binary, ["--shutdown.grace-period", "30s"]).wait_ready()
    try:
        s = connect(srv.port)
        s.sendall(b"GET /ready HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc")
        time.sleep(0.3)
        srv.signal(signal.SIGTERM)
        time.sleep(0.5)
        assert srv.proc.poll() is None, "stopped despite an in-flight request"
        t0 = time.time()
        srv.signal(signal.SIGINT)
        rc = srv.wait_exit(5)
        assert rc != 0 and time.time() - t0 < 3, rc
        assert "second signal" in srv.logs()
    finally:
        srv.close()


@case
def case_grace_period_expires(binary):
    srv = Strata(binary, ["--shutdown.grace-period", "1s"]).wait_ready()
    try:
        s = connect(srv.port)
        s.sendall(b"GET /ready HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc")
        time.sleep(0.3)
        t0 = time.time()
        srv.signal(signal.SIGTERM)
        rc = srv.wait_exit(10)
        assert rc == 0 and 0.8 < time.time() - t0 < 5, (rc, time.time() - t0)
        assert "grace period over" in srv.logs()
    finally:
        srv.close()


@case
def case_data_dir_lock(binary):
    srv = Strata(binary).wait_ready()
    try:
        assert os.path.exists(os.path.join(srv.data_dir, "LOCK"))
        r = subprocess.run([binary, "--data-dir", srv.data_dir, "--listen", f"127.0.0.1:{free_port()}"],
                           capture_output=True, timeout=30)
        assert r.returncode != 0
        err = r.stderr.decode()
        assert "in use by another strata process" in err and str(srv.proc.pid) in err, err
        assert request(srv.port, "GET", "/ready")[0] == 200  # the first one is unharmed
    finally:
        srv.close()
    # nested data dir is created
    tmp = tempfile.mkdtemp(prefix="strata-it-")
    try:
        nested = os.path.join(tmp, "a", "b", "data")
        srv = Strata(binary, data_dir=nested).wait_ready()
        srv.close()
        assert os.path.isdir(nested)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@case
def case_config_and_flags(binary):
    r = subprocess.run([binary, "--help"], capture_output=True, timeout=30)
    assert r.returncode == 0
    for flag in ["--listen", "--data-dir", "--shards", "--config", "--log.level",
                 "--http.max-body-bytes", "--http.max-connections", "--http.header-timeout",
                 "--http.idle-timeout", "--help"]:
        assert flag.encode() in r.stdout, flag
    r = subprocess.run([binary, "--bogus=1"], capture_output=True, timeout=30)
    assert r.returncode == 2 and b"unknown setting" in r.stderr, r.stderr
    tmp = tempfile.mkdtemp(prefix="strata-it-")
    try:
        p1, p2 = free_port(), free_port()
        cfg = os.path.join(tmp, "strata.yaml")
        with open(cfg, "w") as f:
            f.write(f"listen: ['127.0.0.1:{p1}']\nlog:\n  level: debug\nhttp:\n  max_body_bytes: 100\n")
        srv = Strata(binary, ["--config", cfg, "--http.max-body-bytes", "200"], nports=0)
        srv.port = p1
        srv.wait_ready()
        try:
            assert request(p1, "POST", "/ready", body=b"x" * 150)[0] == 405  # flag beat the file
            assert request(p1, "POST", "/ready", body=b"x" * 250)[0] == 413
            assert "level=debug" in srv.logs()
        finally:
            srv.close()
        # an unbindable address is a clear start-up error
        with socket.socket() as busy:
            busy.bind(("127.0.0.1", 0))
            busy.listen()
            port = busy.getsockname()[1]
            r = subprocess.run([binary, "--data-dir", os.path.join(tmp, "d2"), "--listen",
                                f"127.0.0.1:{port}"], capture_output=True, timeout=30)
            assert r.returncode == 1 and b"cannot listen" in r.stderr, r.stderr
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def deny_io_uring_setup():
    """preexec: a seccomp filter that fails io_uring_setup(2) with EPERM, as Docker's default
    profile does. x86-64 only (syscall 425)."""
    import ctypes
    import struct
    libc = ctypes.CDLL(None, use_errno=True)
    prog = b"".join([
        struct.pack("HBBI", 0x20, 0, 0, 0),             # ld  [nr]
        struct.pack("HBBI", 0x15, 0, 1, 425),           # jeq #io_uring_setup
        struct.pack("HBBI", 0x06, 0, 0, 0x00050000 | 1),  # ret ERRNO(EPERM)
        struct.pack("HBBI", 0x06, 0, 0, 0x7fff0000),    # ret ALLOW
    ])
    buf = ctypes.create_string_buffer(prog)

    class Fprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    fp = Fprog(4, ctypes.addressof(buf))
    if libc.prctl(38, 1, 0, 0, 0) != 0 or libc.prctl(22, 2, ctypes.byref(fp), 0, 0) != 0:
        os._exit(99)


@case
def case_io_uring_unavailable(binary):
    import platform
    if platform.machine() != "x86_64":
        raise Skip("the seccomp filter is written for x86-64")
    tmp = tempfile.mkdtemp(prefix="strata-it-")
    try:
        r = subprocess.run([binary, "--data-dir", os.path.join(tmp, "d"), "--listen",
                            f"127.0.0.1:{free_port()}"], capture_output=True, timeout=30,
                           preexec_fn=deny_io_uring_setup)
        assert r.returncode == 1, (r.returncode, r.stderr)
        err = r.stderr.decode()
        assert "io_uring is not available" in err and "seccomp" in err, err
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@case
def case_port_zero_logged(binary):
    srv = Strata(binary, ["--listen", "127.0.0.1:0"], nports=0)
    try:
        deadline = time.time() + 20
        port = None
        while port is None and time.time() < deadline:
            m = re.search(r"msg=listening addr=127\.0\.0\.1:(\d+)", srv.logs())
            port = int(m.group(1)) if m else None
            time.sleep(0.05)
        assert port, srv.logs()
        srv.port = port
        srv.wait_ready()
        # every shard's socket is on the same port: many connections all get answers
        for _ in range(20):
            assert request(port, "GET", "/ready")[0] == 200
    finally:
        srv.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--strata")
    ap.add_argument("--case", default="all")
    ap.add_argument("--list", action="store_true")
    a = ap.parse_args()
    if a.list:
        print("\n".join(CASES))
        return 0
    names = list(CASES) if a.case == "all" else [a.case]
    for name in names:
        t0 = time.time()
        try:
            CASES[name](a.strata)
        except Skip as e:
            print(f"SKIP {name}: {e}")
            return 77
        except Exception:
            import traceback
            traceback.print_exc()
            print(f"FAIL {name}")
            return 1
        print(f"ok   {name} ({time.time() - t0:.1f}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
