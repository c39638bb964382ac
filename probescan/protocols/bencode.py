"""Bencoding (BEP 3), strictly: the encoding BitTorrent's metainfo, DHT (BEP 5) and
extension messages (BEP 10) use.

integer  i<decimal>e   (no leading zeros, no "-0")
string   <length>:<bytes>   (length in decimal, no leading zeros)
list     l<values>e
dict     d<string key><value>...e   (keys strictly increasing as raw bytes)

`decode` takes one value that must fill the input exactly. Running out of bytes raises
NeedMore (a valid prefix), anything else ParseError. Nesting is bounded.
"""

from __future__ import annotations

from probescan.protocols.errors import NeedMore, ParseError

Value = int | bytes | list["Value"] | dict[bytes, "Value"]
MAX_DEPTH = 32
MAX_INT_DIGITS = 40


def _digits(data: bytes, pos: int, end_byte: int, what: str) -> tuple[int, int]:
    """The decimal number at `pos` up to `end_byte`: (value, position after end_byte)."""
    end = data.find(bytes([end_byte]), pos, pos + MAX_INT_DIGITS + 2)
    if end < 0:
        if len(data) - pos <= MAX_INT_DIGITS + 1 and all(
                0x30 <= b <= 0x39 or (b == 0x2D and i == 0 and what == "integer")
                for i, b in enumerate(data[pos:])):
            raise NeedMore
        raise ParseError(f"bencode: {what} not terminated")
    raw = data[pos:end]
    body = raw[1:] if raw[:1] == b"-" and what == "integer" else raw
    if not body or not body.isdigit() or not body.isascii():
        raise ParseError(f"bencode: bad {what} {raw!r}")
    if (len(body) > 1 and body[:1] == b"0") or raw == b"-0":
        raise ParseError(f"bencode: {what} with a leading zero")
    return int(raw), end + 1


def _value(data: bytes, pos: int, depth: int) -> tuple[Value, int]:
    if pos >= len(data):
        raise NeedMore
    if depth > MAX_DEPTH:
        raise ParseError("bencode: nested too deep")
    lead = data[pos]
    if lead == 0x69:  # i
        return _digits(data, pos + 1, 0x65, "integer")
    if 0x30 <= lead <= 0x39:
        length, start = _digits(data, pos, 0x3A, "string length")
        if start + length > len(data):
            raise NeedMore
        return data[start : start + length], start + length
    if lead == 0x6C:  # l
        items: list[Value] = []
        pos += 1
        while True:
            if pos >= len(data):
                raise NeedMore
            if data[pos] == 0x65:
                return items, pos + 1
            item, pos = _value(data, pos, depth + 1)
            items.append(item)
    if lead == 0x64:  # d
        out: dict[bytes, Value] = {}
        previous: bytes | None = None
        pos += 1
        while True:
            if pos >= len(data):
                raise NeedMore
            if data[pos] == 0x65:
                return out, pos + 1
            if not 0x30 <= data[pos] <= 0x39:
                raise ParseError("bencode: dictionary key is not a string")
            key, pos = _value(data, pos, depth + 1)
            assert isinstance(key, bytes)
            if previous is not None and key <= previous:
                raise ParseError("bencode: dictionary keys out of order")
            previous = key
            out[key], pos = _value(data, pos, depth + 1)
    raise ParseError(f"bencode: unexpected byte 0x{lead:02x}")


def decode(data: bytes) -> Value:
    """The one bencoded value that fills `data`."""
    value, end = _value(data, 0, 0)
    if end != len(data):
        raise ParseError(f"bencode: {len(data) - end} bytes after the value")
    return value


def decode_prefix(data: bytes) -> tuple[Value, int]:
    """The bencoded value at the start of `data` and where it ends (more may follow)."""
    return _value(data, 0, 0)
