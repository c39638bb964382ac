"""A tiny MaxMind DB writer for the tests (IPv4 tree, 24-bit records), written from the
MaxMind DB file format specification: the search tree, 16 zero bytes, the data section,
then the metadata marker and map."""

from __future__ import annotations

import ipaddress
import struct
import time
from pathlib import Path
from typing import Any

_MARKER = b"\xab\xcd\xefMaxMind.com"


def _ctrl(kind: int, size: int) -> bytes:
    assert size < 285
    small, extra = (size, b"") if size < 29 else (29, bytes([size - 29]))
    if kind <= 7:
        return bytes([(kind << 5) | small]) + extra
    return bytes([small, kind - 7]) + extra


def encode(value: Any) -> bytes:
    if isinstance(value, str):
        raw = value.encode()
        return _ctrl(2, len(raw)) + raw
    if isinstance(value, dict):
        return _ctrl(7, len(value)) + b"".join(encode(k) + encode(v) for k, v in value.items())
    if isinstance(value, list):
        return _ctrl(11, len(value)) + b"".join(encode(v) for v in value)
    if isinstance(value, tuple):  # (type, int): uint16 5, uint32 6, uint64 9
        kind, n = value
        raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
        return _ctrl(kind, len(raw)) + raw
    raise TypeError(value)


def write_asn_db(path: Path, networks: dict[str, tuple[int, str]]) -> Path:
    """A database mapping each IPv4 network to {autonomous_system_number, _organization}."""
    data = b""
    entries = []
    for net, (asn, org) in networks.items():
        n = ipaddress.IPv4Network(net)
        entries.append((int(n.network_address), n.prefixlen, len(data)))
        data += encode({"autonomous_system_number": (6, asn),
                        "autonomous_system_organization": org})
    # the tree: node i = [left, right]; a child is ("node", j), ("data", offset) or None
    nodes: list[list[Any]] = [[None, None]]
    for value, length, offset in entries:
        node = 0
        for depth in range(length):
            bit = (value >> (31 - depth)) & 1
            if depth == length - 1:
                nodes[node][bit] = ("data", offset)
                break
            child = nodes[node][bit]
            if not (isinstance(child, tuple) and child[0] == "node"):
                nodes.append([None, None])
                nodes[node][bit] = ("node", len(nodes) - 1)
                child = nodes[node][bit]
            node = child[1]
    count = len(nodes)

    def record(child: Any) -> int:
        if child is None:
            return count
        return child[1] if child[0] == "node" else count + 16 + child[1]

    tree = b"".join(struct.pack("!I", record(a))[1:] + struct.pack("!I", record(b))[1:]
                    for a, b in nodes)
    meta = encode({"node_count": (6, count), "record_size": (5, 24), "ip_version": (5, 4),
                   "database_type": "probescan-test-ASN", "languages": ["en"],
                   "binary_format_major_version": (5, 2),
                   "binary_format_minor_version": (5, 0),
                   "build_epoch": (9, int(time.time())), "description": {"en": "test"}})
    path.write_bytes(tree + b"\x00" * 16 + data + _MARKER + meta)
    return path
