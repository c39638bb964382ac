"""Ethernet/IPv4 frames and classic pcap files for the scan tests (no checksums: the
detector does not read them)."""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Iterable
from pathlib import Path

from probescan.protocols.encap import LINK_ETHERNET

FIN, SYN, RST, PSH, ACK, URG = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20
MSS = b"\x02\x04\x05\xb4"  # MSS 1460 alone: nmap's raw SYN
LINUX = b"\x02\x04\xff\xd7\x04\x02\x08\x0a\x00\x00\x00\x01\x00\x00\x00\x00\x01\x03\x03\x07"

Frame = tuple[float, int, bytes]


def _ip(text: str) -> bytes:
    return ipaddress.IPv4Address(text).packed


def ipv4(src: str, dst: str, proto: int, body: bytes, ipid: int = 1, ttl: int = 64) -> bytes:
    head = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(body), ipid, 0, ttl, proto, 0,
                       _ip(src), _ip(dst))
    return b"\x00" * 12 + b"\x08\x00" + head + body


def tcp(src: str, dst: str, sport: int, dport: int, flags: int, *, seq: int = 1000,
        ack: int = 0, win: int = 64240, options: bytes = b"", payload: bytes = b"",
        ipid: int = 1, ttl: int = 64) -> bytes:
    off = (20 + len(options)) // 4
    seg = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, off << 4, flags, win, 0, 0)
    return ipv4(src, dst, 6, seg + options + payload, ipid, ttl)


def udp(src: str, dst: str, sport: int, dport: int, payload: bytes = b"", ipid: int = 1,
        ttl: int = 64) -> bytes:
    return ipv4(src, dst, 17, struct.pack("!HHHH", sport, dport, 8 + len(payload), 0)
                + payload, ipid, ttl)


def port_unreachable(quoted: bytes, code: int = 3) -> bytes:
    """The ICMP error a target sends about the IPv4 packet `quoted` (a frame of ipv4())."""
    ip = quoted[14:]
    src, dst = ip[16:20], ip[12:16]  # back to the prober
    body = struct.pack("!BBHI", 3, code, 0, 0) + ip[:28]
    head = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(body), 7, 0, 64, 1, 0, src, dst)
    return b"\x00" * 12 + b"\x08\x00" + head + body


def at(t0: float, frames: Iterable[bytes], step: float = 0.001) -> list[Frame]:
    return [(t0 + i * step, LINK_ETHERNET, f) for i, f in enumerate(frames)]


def write_pcap(path: Path, frames: Iterable[Frame]) -> Path:
    with path.open("wb") as out:
        out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, LINK_ETHERNET))
        for ts, _link, data in frames:
            sec = int(ts)
            out.write(struct.pack("<IIII", sec, min(999999, round((ts - sec) * 1e6)), len(data),
                                  len(data)) + data)
    return path
