"""Captures made here for the classification tests: flows of two protocols the payload layers
name (SSH, HTTP) and a headers-only copy (every frame cut after its TCP header, the IP
length kept, as a short snap length would)."""

from __future__ import annotations

import random
from pathlib import Path

from scapy.layers.inet import IP, TCP
from scapy.layers.l2 import Ether
from scapy.packet import Packet as ScapyPacket
from scapy.utils import wrpcap

SERVER = "127.0.100.1"


def conversation(client_port: int, server_port: int, messages: list[tuple[int, bytes]],
                 t0: float, client: str = "127.0.100.2", server: str = SERVER,
                 gap: float = 0.01) -> list[ScapyPacket]:
    """A TCP flow: handshake, the messages (+1 client, -1 server), FIN both ways."""
    out: list[ScapyPacket] = []
    seq = {1: 1000, -1: 5000}
    t = t0

    def add(side: int, flags: str, data: bytes = b"") -> None:
        nonlocal t
        src, dst = (client, server) if side > 0 else (server, client)
        sp, dp = (client_port, server_port) if side > 0 else (server_port, client_port)
        pkt = Ether() / IP(src=src, dst=dst) / TCP(sport=sp, dport=dp, flags=flags,
                                                   seq=seq[side], ack=seq[-side])
        if data:
            pkt = pkt / data
        pkt.time = t
        t += gap
        out.append(pkt)
        seq[side] += len(data) + (1 if "S" in flags or "F" in flags else 0)

    add(1, "S")
    add(-1, "SA")
    add(1, "A")
    for side, data in messages:
        add(side, "PA", data)
    add(1, "FA")
    add(-1, "FA")
    return out


def ssh_flow(port: int, t0: float, rng: random.Random, server_port: int = 22
             ) -> list[ScapyPacket]:
    kex = bytes(rng.getrandbits(8) for _ in range(rng.randrange(1000, 1100)))
    return conversation(port, server_port, [
        (-1, b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n"), (1, b"SSH-2.0-OpenSSH_9.2p1\r\n"),
        (1, b"\x00\x00\x05\xdc" + kex[:rng.randrange(900, 1000)]), (-1, b"\x00\x00\x04\x1c" + kex),
        (1, bytes(48)), (-1, bytes(rng.randrange(500, 560))), (1, bytes(16)),
        (1, bytes(44)), (-1, bytes(44)), (1, bytes(68)), (-1, bytes(52)),
    ], t0)


def http_flow(port: int, t0: float, rng: random.Random) -> list[ScapyPacket]:
    body = b"x" * rng.randrange(3000, 5000)
    head = b"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nContent-Length: %d\r\n\r\n" % len(body)
    reply = head + body
    chunks = [reply[i:i + 1448] for i in range(0, len(reply), 1448)]
    return conversation(port, 80, [
        (1, b"GET /file HTTP/1.1\r\nHost: lab\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n"),
        *[(-1, c) for c in chunks],
    ], t0)


def write_capture(path: Path, flows: int = 6, seed: int = 1, port0: int = 40000,
                  ssh_port: int = 22) -> Path:
    rng = random.Random(seed)
    packets: list[ScapyPacket] = []
    t = 1_700_000_000.0
    for i in range(flows):
        packets += ssh_flow(port0 + 2 * i, t, rng, ssh_port)
        packets += http_flow(port0 + 2 * i + 1, t + 0.5, rng)
        t += 2.0
    packets.sort(key=lambda p: float(p.time))
    wrpcap(str(path), packets)
    return path


def _headers(frame: bytes) -> int:
    """Where the TCP/UDP payload of an Ethernet + IPv4 frame starts."""
    if len(frame) < 34 or frame[12:14] != b"\x08\x00":
        return len(frame)
    l4 = 14 + (frame[14] & 0x0F) * 4
    if frame[23] == 6 and len(frame) >= l4 + 13:
        return l4 + (frame[l4 + 12] >> 4) * 4
    return min(len(frame), l4 + 8)


def headers_only(src: Path, dst: Path) -> Path:
    """Every frame (Ethernet, IPv4) cut after its TCP/UDP header; the pcap's original
    lengths and the IP total lengths are kept."""
    data = src.read_bytes()
    out, pos = [data[:24]], 24
    while pos + 16 <= len(data):
        head = data[pos:pos + 16]
        incl = int.from_bytes(head[8:12], "little")
        frame = data[pos + 16:pos + 16 + incl]
        pos += 16 + incl
        keep = frame[:_headers(frame)]
        out.append(head[:8] + len(keep).to_bytes(4, "little") + head[12:16] + keep)
    dst.write_bytes(b"".join(out))
    return dst
