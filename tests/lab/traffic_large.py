"""Big captures for a packets-per-second benchmark: ``make_large_capture(src, out, copies)``
repeats the flows of a capture ``copies`` times with shifted client addresses and ports and
later timestamps.

No pytest dependency here.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_TCP, _UDP = 6, 17


def _ip_offset(frame: bytes, link: int) -> int | None:
    """Offset of the IP header in a frame, or None (not IP / unknown link type)."""
    if link == 1:  # Ethernet, any number of VLAN tags
        off = 12
        while len(frame) >= off + 2:
            etype = struct.unpack_from("!H", frame, off)[0]
            if etype in (0x8100, 0x88A8, 0x9100):
                off += 4
                continue
            return off + 2 if etype in (0x0800, 0x86DD) else None
        return None
    if link in (0, 108):  # BSD loopback
        return 4
    if link == 113:  # Linux cooked v1
        return 16
    if link == 276:  # Linux cooked v2
        return 20
    if link in (101, 228, 229):  # raw IP
        return 0
    return None


@dataclass(frozen=True)
class _Layout:
    """Where to patch one frame: the client's address and port fields."""

    addr: int  # offset of the client address
    addr_len: int  # 4 or 16
    port: int  # offset of the client port


def _layout(frame: bytes, link: int, roles: dict[tuple[object, ...], tuple[bytes, int]]
            ) -> _Layout | None:
    off = _ip_offset(frame, link)
    if off is None or len(frame) < off + 20:
        return None
    version = frame[off] >> 4
    if version == 4:
        ihl = (frame[off] & 0x0F) * 4
        proto = frame[off + 9]
        if struct.unpack_from("!H", frame, off + 6)[0] & 0x1FFF:
            return None  # later fragment: no ports
        src_at, dst_at, alen, l4 = off + 12, off + 16, 4, off + ihl
    elif version == 6 and len(frame) >= off + 40:
        proto = frame[off + 6]
        src_at, dst_at, alen, l4 = off + 8, off + 24, 16, off + 40
    else:
        return None
    if proto not in (_TCP, _UDP) or len(frame) < l4 + 4:
        return None
    src = frame[src_at:src_at + alen]
    dst = frame[dst_at:dst_at + alen]
    sport, dport = struct.unpack_from("!HH", frame, l4)
    a, b = (src, sport), (dst, dport)
    key = (proto, *min(a, b), *max(a, b))
    client = roles.get(key)
    if client is None:
        if proto == _TCP and len(frame) >= l4 + 14 and frame[l4 + 13] & 0x02:
            syn_ack = bool(frame[l4 + 13] & 0x10)
            client = b if syn_ack else a
        else:  # mid-stream or UDP: the higher port is the client's
            client = a if sport >= dport else b
        roles[key] = client
    if client == a:
        return _Layout(src_at, alen, l4)
    return _Layout(dst_at, alen, l4 + 2)


def make_large_capture(src: Path, out: Path, copies: int) -> int:
    """Write ``out``: the frames of ``src`` repeated ``copies`` times; returns frames written.

    Copy ``i`` moves every flow's client to another address (IPv4 127.128.0.0/9 + i in the
    middle octets; IPv6: the second-to-last group) and port (+ i * 7 mod the ephemeral range),
    so each copy is a distinct set of flows to the same servers; its timestamps follow the
    previous copy's by one second. Checksums are not fixed. Frames that are not TCP/UDP over
    IP are repeated unchanged.
    """
    from scapy.utils import RawPcapReader, RawPcapWriter

    if copies < 1:
        raise ValueError("copies must be at least 1")
    frames: list[tuple[bytes, int, int, int]] = []  # data, ts in microseconds, wirelen, link
    link_default = 1
    with RawPcapReader(str(src)) as reader:
        link_default = int(getattr(reader, "linktype", 1) or 1)
        for data, raw_meta in reader:
            meta: Any = raw_meta
            if hasattr(meta, "sec"):
                ts = int(meta.sec) * 1_000_000 + int(meta.usec)
                wirelen = int(getattr(meta, "wirelen", len(data)))
            else:  # pcapng
                raw = (int(meta.tshigh) << 32) | int(meta.tslow)
                ts = raw * 1_000_000 // int(meta.tsresol or 1_000_000)
                wirelen = int(getattr(meta, "wirelen", len(data)) or len(data))
            link = getattr(meta, "linktype", None)
            frames.append((bytes(data), ts, wirelen, link_default if link is None else int(link)))
    if not frames:
        raise ValueError(f"{src}: no packets")
    links = {f[3] for f in frames}
    if len(links) > 1:
        raise ValueError(f"{src}: several link types ({sorted(links)}); one is needed")
    roles: dict[tuple[object, ...], tuple[bytes, int]] = {}
    layouts = [_layout(f[0], f[3], roles) for f in frames]
    t0 = frames[0][1]
    span = max(f[1] for f in frames) - min(f[1] for f in frames) + 1_000_000
    written = 0
    writer = RawPcapWriter(str(out), linktype=frames[0][3], sync=False, snaplen=262144)
    writer.write_header(None)
    try:
        for i in range(copies):
            shift = i * span
            tag = (0x8000 + i) & 0xFFFF
            for (data, ts, wirelen, _), lay in zip(frames, layouts, strict=True):
                if lay is not None:
                    buf = bytearray(data)
                    if lay.addr_len == 4:
                        buf[lay.addr] = 127
                        struct.pack_into("!H", buf, lay.addr + 1, tag)
                    else:
                        struct.pack_into("!H", buf, lay.addr + 12, tag)
                    port = struct.unpack_from("!H", buf, lay.port)[0]
                    if port >= 1024:
                        port = 1024 + (port - 1024 + i * 7) % 64512
                    struct.pack_into("!H", buf, lay.port, port)
                    data = bytes(buf)
                t = ts - t0 + shift + t0
                writer.write_packet(data, sec=t // 1_000_000, usec=t % 1_000_000,
                                    caplen=len(data), wirelen=max(wirelen, len(data)))
                written += 1
    finally:
        writer.close()
    return written
