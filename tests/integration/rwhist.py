"""Native histogram messages for remote-write bodies (RW 1.0 and 2.0 share the Histogram message):
integer histograms (bucket deltas), float histograms (absolute counts), custom buckets (schema
-53), with negative buckets, zero bucket and reset hints. Builds on rwproto.py's field encoders."""
import struct

import rwproto as rw


def _zz32(v):
    return (v << 1) ^ (v >> 31)


def _zz64(v):
    return (v << 1) ^ (v >> 63)


def _packed_doubles(num, vals):
    return rw.f_bytes(num, b"".join(struct.pack("<d", v) for v in vals))


def _spans(num, spans):
    return b"".join(rw.f_bytes(num, rw.f_varint(1, _zz32(o)) + rw.f_varint(2, n))
                    for o, n in spans)


def histogram(ts, pos=(), neg=(), pspans=(), nspans=(), schema=0, zero_threshold=0.0,
              zero_count=0, sum_=0.0, is_float=False, hint=0, custom=(), count=None):
    """pos/neg are ABSOLUTE bucket counts in span order; count defaults to zero + all buckets.
    Integer histograms are encoded with deltas, float ones with counts."""
    if count is None:
        count = zero_count + sum(pos) + sum(neg)
    b = rw.f_double(2, float(count)) if is_float else rw.f_varint(1, int(count))
    b += rw.f_double(3, sum_) + rw.f_varint(4, _zz32(schema))
    if zero_threshold:
        b += rw.f_double(5, zero_threshold)
    b += rw.f_double(7, float(zero_count)) if is_float else rw.f_varint(6, int(zero_count))
    b += _spans(8, nspans)
    if is_float:
        b += _packed_doubles(10, neg) if neg else b""
    else:
        b += rw.f_packed_varints(9, [_zz64(d) for d in _deltas(neg)]) if neg else b""
    b += _spans(11, pspans)
    if is_float:
        b += _packed_doubles(13, pos) if pos else b""
    else:
        b += rw.f_packed_varints(12, [_zz64(d) for d in _deltas(pos)]) if pos else b""
    if hint:
        b += rw.f_varint(14, hint)
    b += rw.f_varint(15, ts)
    if custom:
        b += _packed_doubles(16, custom)
    return b


def _deltas(counts):
    out, prev = [], 0
    for c in counts:
        out.append(int(c) - prev)
        prev = int(c)
    return out
