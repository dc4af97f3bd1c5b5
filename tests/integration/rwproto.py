"""Remote-write wire helpers for the integration tests (python3 stdlib only): protobuf encoders
for Prometheus remote write 1.0 (prometheus.WriteRequest) and 2.0 (io.prometheus.write.v2.Request),
snappy BLOCK encoding with literals only (a valid snappy block may be all literals), the snappy
FRAMED format (which receivers must refuse), and a small HTTP client.

Series are given as (labels, samples): labels a list of (name, value) pairs (sorted by the caller
when the test wants a valid request), samples a list of (timestamp_ms, value) where value is a
float or an int holding exact float64 bits (for stale markers: STALE_NAN_BITS).
"""
import http.client
import struct

STALE_NAN_BITS = 0x7FF0000000000002

# ---- protobuf ---------------------------------------------------------------------------------


def uvarint(n):
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _key(num, wire_type):
    return uvarint(num << 3 | wire_type)


def f_varint(num, v):
    return _key(num, 0) + uvarint(v)


def f_double(num, v):
    if isinstance(v, int):
        return _key(num, 1) + struct.pack("<Q", v)
    return _key(num, 1) + struct.pack("<d", v)


def f_bytes(num, b):
    if isinstance(b, str):
        b = b.encode()
    return _key(num, 2) + uvarint(len(b)) + b


def f_packed_varints(num, vals):
    return f_bytes(num, b"".join(uvarint(v) for v in vals))


def v1_label(name, value):
    return f_bytes(1, name) + f_bytes(2, value)


def v1_sample(ts, value):
    return f_double(1, value) + f_varint(2, ts)


def v1_exemplar(labels, value, ts):
    return b"".join(f_bytes(1, v1_label(n, v)) for n, v in labels) + f_double(2, value) + \
        f_varint(3, ts)


def v1_histogram(ts, count, sum_, schema=0, spans=((0, 2),), deltas=(1, 1)):
    """An integer native histogram (positive buckets only)."""
    b = f_varint(1, count) + f_double(3, sum_) + f_varint(4, (schema << 1) ^ (schema >> 31))
    for off, length in spans:
        b += f_bytes(11, f_varint(1, (off << 1) ^ (off >> 31)) + f_varint(2, length))
    b += f_packed_varints(12, [(d << 1) ^ (d >> 63) for d in deltas])
    return b + f_varint(15, ts)


def v1_series(labels, samples=(), exemplars=(), histograms=()):
    b = b"".join(f_bytes(1, v1_label(n, v)) for n, v in labels)
    b += b"".join(f_bytes(2, v1_sample(t, v)) for t, v in samples)
    b += b"".join(f_bytes(3, e) for e in exemplars)
    b += b"".join(f_bytes(4, h) for h in histograms)
    return b


def v1_metadata(family, mtype=1, help_="", unit=""):
    return f_varint(1, mtype) + f_bytes(2, family) + f_bytes(4, help_) + f_bytes(5, unit)


def v1_request(series=(), metadata=()):
    """series: (labels, samples) pairs or already encoded TimeSeries bytes."""
    b = bytearray()
    for s in series:
        b += f_bytes(1, s if isinstance(s, bytes) else v1_series(*s))
    for m in metadata:
        b += f_bytes(3, m)
    return bytes(b)


class V2:
    """Builds an io.prometheus.write.v2.Request with an interned symbols table."""

    def __init__(self, first_symbol=""):
        self.symbols = [first_symbol]
        self.index = {first_symbol: 0}
        self.series = []

    def ref(self, s):
        if s not in self.index:
            self.index[s] = len(self.symbols)
            self.symbols.append(s)
        return self.index[s]

    def add(self, labels, samples=(), exemplars=(), histograms=(), metadata=None, refs=None):
        if refs is None:
            refs = []
            for n, v in labels:
                refs += [self.ref(n), self.ref(v)]
        b = f_packed_varints(1, refs)
        for t, v in samples:
            b += f_bytes(2, f_double(1, v) + f_varint(2, t))
        for h in histograms:
            b += f_bytes(3, h)
        for elabels, value, t in exemplars:
            erefs = []
            for n, v in elabels:
                erefs += [self.ref(n), self.ref(v)]
            b += f_bytes(4, f_packed_varints(1, erefs) + f_double(2, value) + f_varint(3, t))
        if metadata:
            mtype, help_, unit = metadata
            b += f_bytes(5, f_varint(1, mtype) + f_varint(3, self.ref(help_)) +
                         f_varint(4, self.ref(unit)))
        self.series.append(b)
        return self

    def encode(self):
        b = b"".join(f_bytes(4, s) for s in self.symbols)
        return b + b"".join(f_bytes(5, s) for s in self.series)


# ---- snappy -----------------------------------------------------------------------------------


def snappy_block(data):
    """Snappy block format, literal elements only (valid for any decoder)."""
    out = bytearray(uvarint(len(data)))
    i = 0
    while i < len(data):
        chunk = data[i:i + 65536]
        n = len(chunk) - 1
        if n < 60:
            out.append(n << 2)
        elif n < 256:
            out += bytes([60 << 2, n])
        else:
            out += bytes([61 << 2]) + struct.pack("<H", n)
        out += chunk
        i += len(chunk)
    return bytes(out)


def _crc32c_table():
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_CRC_TABLE = _crc32c_table()


def crc32c(data):
    c = 0xFFFFFFFF
    for b in data:
        c = _CRC_TABLE[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def snappy_framed(data):
    """Snappy framing format (stream identifier + one uncompressed chunk): NOT what remote
    write uses; receivers must refuse it."""
    crc = crc32c(data)
    masked = (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF
    body = struct.pack("<I", masked) + data
    return b"\xff\x06\x00\x00sNaPpY" + bytes([0x01]) + struct.pack("<I", len(body))[:3] + body


# ---- HTTP -------------------------------------------------------------------------------------

V1_TYPE = "application/x-protobuf"
V2_TYPE = "application/x-protobuf;proto=io.prometheus.write.v2.Request"


def post(port, body, content_type=V1_TYPE, encoding="snappy", path="/api/v1/write",
         headers=None, timeout=30, conn=None):
    """POSTs body; returns (status, headers dict with lower-case names, body bytes)."""
    h = {}
    if content_type is not None:
        h["Content-Type"] = content_type
    if encoding is not None:
        h["Content-Encoding"] = encoding
    h.update(headers or {})
    own = conn is None
    if own:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("POST", path, body=body, headers=h)
        r = conn.getresponse()
        data = r.read()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, data
    finally:
        if own:
            conn.close()


def write_v1(port, series, **kw):
    return post(port, snappy_block(v1_request(series)), **kw)


# ---- processes --------------------------------------------------------------------------------

import json  # noqa: E402
import os  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402


class Skip(Exception):
    pass


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(port, path, timeout=10):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request("GET", path)
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


class Server:
    """One strata process on a free port with a given data dir (kept across restarts). Every
    instance is registered so that main() kills whatever a failing case left running."""

    running = []

    def __init__(self, binary, data_dir, shards=2, extra=(), log_dir=None):
        self.port = free_port()
        self.data_dir = data_dir
        self.log_path = os.path.join(log_dir or os.path.dirname(data_dir),
                                     f"strata-{self.port}.log")
        args = [binary, "--data-dir", data_dir, "--shards", str(shards),
                "--listen", f"127.0.0.1:{self.port}", "--shutdown.grace-period", "20s"]
        args += list(extra)
        self.log = open(self.log_path, "wb")
        env = dict(os.environ)
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=1")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT, env=env)
        Server.running.append(self)

    @classmethod
    def kill_all(cls):
        for srv in cls.running:
            if srv.proc.poll() is None:
                srv.proc.kill()
                srv.proc.wait()
            if not srv.log.closed:
                srv.log.close()
        cls.running = []

    def wait_ready(self, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"strata exited early with {self.proc.returncode}:\n"
                                     + self.logs()[-3000:])
            try:
                if http_get(self.port, "/ready", timeout=2)[0] == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.02)
        raise AssertionError("strata did not become ready")

    def logs(self):
        if not self.log.closed:
            self.log.flush()
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def stop(self, timeout=60):
        """SIGTERM and wait; returns the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("strata did not stop within %ds" % timeout)
        self.log.close()
        return self.proc.returncode

    def kill(self):
        self.proc.kill()
        self.proc.wait()
        self.log.close()


def dump(tool, data_dir, mint=None, maxt=None):
    """Runs tsdb_dump on a stopped server's data dir: {labels tuple (no __tenant__): {"tenant":..,
    "samples": {t: bits}}} and the totals line."""
    args = [tool, data_dir] + ([str(mint), str(maxt)] if mint is not None else [])
    r = subprocess.run(args, capture_output=True, timeout=300)
    if r.returncode != 0:
        raise AssertionError(f"tsdb_dump failed: {r.stderr.decode()}")
    out, total = {}, None
    for line in r.stdout.decode().splitlines():
        o = json.loads(line)
        if "labels" not in o:
            total = o
            continue
        labels = dict(o["labels"])
        tenant = labels.pop("__tenant__", None)
        key = (tenant,) + tuple(sorted(labels.items()))
        assert key not in out, f"series {key} on two shards"
        out[key] = {int(t): int(v, 16) for t, v in zip(o["t"], o["v"])}
    return out, total


def bits(x):
    return struct.unpack("<Q", struct.pack("<d", x))[0] if isinstance(x, float) else x


def main(cases, description):
    import argparse
    import sys
    import traceback
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--strata", required=True)
    ap.add_argument("--dump", required=True)
    ap.add_argument("--case", default="all")
    ap.add_argument("--list", action="store_true")
    a = ap.parse_args()
    if a.list:
        print("\n".join(cases))
        return 0
    names = list(cases) if a.case == "all" else [a.case]
    failed = 0
    for name in names:
        if name not in cases:
            print(f"unknown case {name}")
            return 1
        tmp = tempfile.mkdtemp(prefix="strata-rw-")
        t0 = time.time()
        try:
            cases[name](a.strata, a.dump, tmp)
            print(f"PASS {name} ({time.time() - t0:.1f}s)")
        except Skip as e:
            print(f"SKIP {name}: {e}")
            if len(names) == 1:
                return 77
        except Exception:
            failed += 1
            print(f"FAIL {name}")
            traceback.print_exc()
            for f in sorted(os.listdir(tmp)):
                if f.endswith(".log"):
                    with open(os.path.join(tmp, f), errors="replace") as fh:
                        print(f"---- {f} (tail) ----\n" + fh.read()[-4000:])
        finally:
            Server.kill_all()
            if not failed or os.environ.get("STRATA_KEEP_TMP") is None:
                import shutil
                shutil.rmtree(tmp, ignore_errors=True)
        sys.stdout.flush()
    return 1 if failed else 0
