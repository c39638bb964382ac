"""The SYN engine's packets and reply matching, as pure functions over bytes
(probescan/engine/syn/packets.py), and its kernel filter run by a small cBPF interpreter."""

from __future__ import annotations

import random
import socket
import struct

import pytest

from probescan.engine.syn.packets import (
    Cookie,
    Reply,
    SynTemplate,
    build_syn,
    checksum,
    parse_reply,
)
from probescan.engine.syn.rawio import bpf_program

V4A, V4B = "127.0.70.1", "127.0.70.2"
V6A, V6B = "::1", "2001:db8::7"


def _pack(ip: str) -> bytes:
    return socket.inet_pton(socket.AF_INET6 if ":" in ip else socket.AF_INET, ip)


def _tcp_checksum_ok(src: bytes, dst: bytes, segment: bytes) -> bool:
    if len(src) == 4:
        pseudo = src + dst + struct.pack("!BBH", 0, 6, len(segment))
    else:
        pseudo = src + dst + struct.pack("!IxxxB", len(segment), 6)
    return checksum(pseudo + segment) == 0


def test_an_ipv4_syn_has_valid_headers_and_checksums() -> None:
    pkt = build_syn(V4A, V4B, 40000, 443, 0xDEADBEEF)
    assert len(pkt) == 44
    ver_ihl, _, total, _, frag, ttl, proto = struct.unpack_from("!BBHHHBB", pkt)
    assert (ver_ihl, total, frag, ttl, proto) == (0x45, 44, 0, 64, 6)
    assert checksum(pkt[:20]) == 0
    assert pkt[12:16] == _pack(V4A) and pkt[16:20] == _pack(V4B)
    sport, dport, seq, ack, off, flags, win = struct.unpack_from("!HHIIBBH", pkt, 20)
    assert (sport, dport, seq, ack, off >> 4, flags, win) == (40000, 443, 0xDEADBEEF, 0, 6,
                                                               0x02, 1024)
    assert pkt[40:44] == b"\x02\x04\x05\xb4"  # MSS 1460
    assert _tcp_checksum_ok(pkt[12:16], pkt[16:20], pkt[20:])


def test_an_ipv6_syn_has_valid_headers_and_checksum() -> None:
    pkt = build_syn(V6A, V6B, 40000, 22, 7)
    assert len(pkt) == 64
    first, plen, nxt, hops = struct.unpack_from("!IHBB", pkt)
    assert (first >> 28, plen, nxt, hops) == (6, 24, 6, 64)
    assert pkt[8:24] == _pack(V6A) and pkt[24:40] == _pack(V6B)
    assert _tcp_checksum_ok(pkt[8:24], pkt[24:40], pkt[40:])


def test_scapy_reads_our_packets_as_we_meant_them() -> None:
    scapy = pytest.importorskip("scapy.all")
    pkt = build_syn(V4A, V4B, 41000, 8080, 123456)
    p = scapy.IP(pkt)
    assert (p.src, p.dst, p[scapy.TCP].sport, p[scapy.TCP].dport, p[scapy.TCP].seq) == (
        V4A, V4B, 41000, 8080, 123456)
    assert str(p[scapy.TCP].flags) == "S"
    again = p.copy()
    del again.chksum, again[scapy.TCP].chksum  # scapy computes them anew
    assert bytes(again) == pkt


def test_the_incremental_checksum_equals_a_full_one() -> None:
    rng = random.Random(7)
    for src, dst in ((V4A, V4B), (V6A, V6B)):
        t = SynTemplate(_pack(src), _pack(dst), 33333, ip_id=99)
        for _ in range(300):
            port, seq = rng.randrange(65536), rng.randrange(1 << 32)
            pkt = t.packet(port, seq)
            head = 20 if ":" not in src else 40
            assert _tcp_checksum_ok(_pack(src), _pack(dst), pkt[head:]), (port, seq)


def test_the_template_refuses_mixed_families() -> None:
    with pytest.raises(ValueError):
        SynTemplate(_pack(V4A), _pack(V6A), 1)


def test_cookies_are_keyed_and_stable() -> None:
    a, b = Cookie(b"k" * 16), Cookie(b"j" * 16)
    src, dst = _pack(V4A), _pack(V4B)
    assert a.seq(src, dst, 1, 2) == a.seq(src, dst, 1, 2)
    assert a.seq(src, dst, 1, 2) == Cookie.seq_for(a.prefix(src, dst, 1), 2)
    values = {a.seq(src, dst, 1, p) for p in range(2000)}
    assert len(values) > 1990  # a 32-bit hash: hardly any collisions
    assert sum(a.seq(src, dst, 1, p) == b.seq(src, dst, 1, p) for p in range(2000)) < 3


# ---- replies --------------------------------------------------------------------------


def _v4_tcp(src: str, dst: str, sport: int, dport: int, seq: int, ack: int, flags: int,
            frag: int = 0) -> bytes:
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 0x50, flags, 0, 0, 0)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 0, frag, 64, 6, 0,
                     _pack(src), _pack(dst))
    return ip + tcp


def _v6_tcp(src: str, dst: str, sport: int, dport: int, ack: int, flags: int) -> bytes:
    tcp = struct.pack("!HHIIBBHHH", sport, dport, 0, ack, 0x50, flags, 0, 0, 0)
    return struct.pack("!IHBB16s16s", 6 << 28, len(tcp), 6, 64, _pack(src), _pack(dst)) + tcp


def test_a_syn_ack_is_open_and_echoes_the_cookie() -> None:
    got = parse_reply(_v4_tcp(V4B, V4A, 443, 40000, 5, 1001, 0x12))
    assert got == Reply(_pack(V4B), _pack(V4A), 40000, 443, "open", 1000)


def test_a_reset_is_closed_and_its_ack_wraps() -> None:
    got = parse_reply(_v4_tcp(V4B, V4A, 81, 40000, 0, 0, 0x14))
    assert got is not None and got.state == "closed" and got.echo == 0xFFFFFFFF


@pytest.mark.parametrize("flags", [0x10, 0x02, 0x11, 0x18])  # ACK, SYN, FIN/ACK, PSH/ACK
def test_other_tcp_segments_say_nothing(flags: int) -> None:
    assert parse_reply(_v4_tcp(V4B, V4A, 81, 40000, 0, 1, flags)) is None


def test_a_later_fragment_and_short_packets_say_nothing() -> None:
    assert parse_reply(_v4_tcp(V4B, V4A, 81, 40000, 0, 1, 0x12, frag=5)) is None
    pkt = _v4_tcp(V4B, V4A, 81, 40000, 0, 1, 0x12)
    for cut in (0, 10, 19, 25, 33):
        assert parse_reply(pkt[:cut]) is None


def test_ipv4_options_are_skipped() -> None:
    tcp = struct.pack("!HHIIBBHHH", 22, 40000, 0, 78, 0x50, 0x12, 0, 0, 0)
    ip = struct.pack("!BBHHHBBH4s4s", 0x46, 0, 24 + len(tcp), 0, 0, 64, 6, 0,
                     _pack(V4B), _pack(V4A)) + b"\x01\x01\x01\x00"
    got = parse_reply(ip + tcp)
    assert got is not None and (got.dport, got.state, got.echo) == (22, "open", 77)


def test_ipv6_replies() -> None:
    got = parse_reply(_v6_tcp(V6B, V6A, 22, 40000, 9, 0x12))
    assert got == Reply(_pack(V6B), _pack(V6A), 40000, 22, "open", 8)
    got = parse_reply(_v6_tcp(V6B, V6A, 23, 40000, 9, 0x04))
    assert got is not None and got.state == "closed"


def test_an_icmp_error_quoting_our_probe_is_filtered() -> None:
    probe = build_syn(V4A, V4B, 40000, 445, 0xCAFEBABE)
    icmp = struct.pack("!BBHI", 3, 13, 0, 0) + probe[:28]  # admin prohibited; quote: IP + 8
    router = "127.0.70.254"
    pkt = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(icmp), 0, 0, 64, 1, 0,
                      _pack(router), _pack(V4A)) + icmp
    assert parse_reply(pkt) == Reply(_pack(V4B), _pack(V4A), 40000, 445, "filtered",
                                     0xCAFEBABE)
    other = pkt[:20] + struct.pack("!BB", 3, 4) + pkt[22:]  # fragmentation needed: no verdict
    assert parse_reply(other) is None


def test_an_icmpv6_error_quoting_our_probe_is_filtered() -> None:
    probe = build_syn(V6A, V6B, 40000, 445, 42)
    icmp = struct.pack("!BBHI", 1, 1, 0, 0) + probe[:48]
    pkt = struct.pack("!IHBB16s16s", 6 << 28, len(icmp), 58, 64, _pack(V6B),
                      _pack(V6A)) + icmp
    assert parse_reply(pkt) == Reply(_pack(V6B), _pack(V6A), 40000, 445, "filtered", 42)


def test_udp_and_junk_say_nothing() -> None:
    udp = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 28, 0, 0, 64, 17, 0, _pack(V4B),
                      _pack(V4A)) + bytes(8)
    assert parse_reply(udp) is None
    assert parse_reply(bytes(60)) is None
    assert parse_reply(b"\xff" * 80) is None


def test_a_reply_matches_only_its_own_cookie() -> None:
    cookie = Cookie()
    src, dst = _pack(V4A), _pack(V4B)
    seq = cookie.seq(src, dst, 40000, 443)
    good = parse_reply(_v4_tcp(V4B, V4A, 443, 40000, 0, (seq + 1) & 0xFFFFFFFF, 0x12))
    forged = parse_reply(_v4_tcp(V4B, V4A, 443, 40000, 0, 12345, 0x12))
    other_port = parse_reply(_v4_tcp(V4B, V4A, 444, 40000, 0, (seq + 1) & 0xFFFFFFFF, 0x12))
    for reply, ok in ((good, True), (forged, False), (other_port, False)):
        assert reply is not None
        assert (cookie.seq(reply.ours, reply.target, reply.sport, reply.dport)
                == reply.echo) is ok


# ---- the kernel filter ----------------------------------------------------------------


def _run_bpf(prog: list[tuple[int, int, int, int]], pkt: bytes, pkttype: int,
             proto: int) -> int:
    """A classic BPF interpreter for the instructions the filter uses."""
    a = x = pc = 0
    while True:
        op, jt, jf, k = prog[pc]
        pc += 1
        if op in (0x20, 0x28, 0x30, 0x48, 0x50):  # ld w/h/b abs, ld h/b ind
            if k >= 0xFFFFF000:
                a = {0xFFFFF004: pkttype, 0xFFFFF000: proto}[k]
                continue
            off = k + (x if op in (0x48, 0x50) else 0)
            size = {0x20: 4, 0x28: 2, 0x30: 1, 0x48: 2, 0x50: 1}[op]
            if off + size > len(pkt):
                return 0
            a = int.from_bytes(pkt[off:off + size], "big")
        elif op == 0xB1:  # ldx 4*([k]&0xf)
            x = 4 * (pkt[k] & 0x0F)
        elif op == 0x15:
            pc += jt if a == k else jf
        elif op == 0x45:
            pc += jt if a & k else jf
        elif op == 0x06:
            return k
        else:
            raise AssertionError(f"opcode {op:#x}")


def test_the_kernel_filter_keeps_replies_to_our_port_only() -> None:
    prog = bpf_program(40000)
    incoming, outgoing = 0, 4
    syn_ack = _v4_tcp(V4B, V4A, 443, 40000, 0, 1, 0x12)
    assert _run_bpf(prog, syn_ack, incoming, 0x0800) > 0
    assert _run_bpf(prog, syn_ack, outgoing, 0x0800) == 0  # our own copy of a packet
    assert _run_bpf(prog, _v4_tcp(V4B, V4A, 443, 40001, 0, 1, 0x12), incoming, 0x0800) == 0
    assert _run_bpf(prog, _v4_tcp(V4B, V4A, 443, 40000, 0, 1, 0x12, 9), incoming,
                    0x0800) == 0  # a later fragment
    v6 = _v6_tcp(V6B, V6A, 22, 40000, 1, 0x12)
    assert _run_bpf(prog, v6, incoming, 0x86DD) > 0
    assert _run_bpf(prog, _v6_tcp(V6B, V6A, 22, 9, 1, 0x12), incoming, 0x86DD) == 0
    probe = build_syn(V4A, V4B, 40000, 445, 1)
    icmp = struct.pack("!BBHI", 3, 13, 0, 0) + probe[:28]
    err = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(icmp), 0, 0, 64, 1, 0,
                      _pack(V4B), _pack(V4A)) + icmp
    assert _run_bpf(prog, err, incoming, 0x0800) > 0
    echo = err[:20] + b"\x08" + err[21:]  # an echo request is not an error
    assert _run_bpf(prog, echo, incoming, 0x0800) == 0
    assert _run_bpf(prog, syn_ack, incoming, 0x0806) == 0  # not IP at all
