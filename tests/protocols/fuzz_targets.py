"""Every parser of probescan/protocols as a fuzz target: bytes in; a result, NeedMore or
ParseError out, nothing else (the parsers' contract, probescan/protocols/errors.py). Each
target has seeds (recorded or sample messages) that mutations start from, so inputs reach
past the first length check.

Shared by tests/protocols/test_properties.py (hypothesis, bounded) and
benchmarks/fuzz_campaign.py (a million inputs per target).
"""

from __future__ import annotations

import random
import struct
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from probescan.protocols import (
    asn1,
    bencode,
    dcerpc,
    dhcp,
    dns,
    ftp,
    gquic,
    http,
    keccak,
    kerberos,
    ldap,
    netbios,
    oncrpc,
    packet,
    quic,
    snmp,
    ssh,
    tls,
    tls_fingerprints,
    x509,
)
from probescan.protocols.errors import NeedMore, ParseError

PROTO = Path(__file__).resolve().parent.parent / "data" / "proto"
DECLINED = (NeedMore, ParseError)  # what a parser may raise; anything else is a bug


def _samples(*services: str) -> list[bytes]:
    from tests.detect.samples import load_samples

    out: list[bytes] = []
    for s in load_samples():
        if s.service in services:
            out += [m for m in (*s.msgs.client, *s.msgs.server) if m]
    return out


def _files(prefix: str) -> list[bytes]:
    return [p.read_bytes() for p in sorted(PROTO.glob(f"{prefix}*.bin"))]


def _certificates() -> list[bytes]:
    out: list[bytes] = []
    for flight in _files("tls_server_flight_tls12"):
        out += tls.parse_certificates(flight)
    return out


def _frames() -> list[tuple[int, bytes]]:
    """Frames of several link types around TCP and UDP payloads."""
    payload = _files("http_request")[0][:200]

    def ip4(proto: int, body: bytes) -> bytes:
        return (struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(body), 1, 0, 64, proto, 0,
                            bytes([127, 0, 80, 1]), bytes([127, 0, 80, 2])) + body)

    tcp = struct.pack("!HHIIBBHHH", 40000, 80, 1, 0, 0x50, 0x18, 65535, 0, 0) + payload
    udp = struct.pack("!HHHH", 40000, 53, 8 + 40, 0) + _files("dns_query")[0][:40]
    eth = b"\x00" * 12 + b"\x08\x00"
    vlan = b"\x00" * 12 + b"\x81\x00\x00\x05\x08\x00"
    return [(1, eth + ip4(6, tcp)), (1, vlan + ip4(17, udp)), (0, b"\x02\x00\x00\x00"
            + ip4(6, tcp)), (101, ip4(17, udp)), (113, b"\x00" * 14 + b"\x08\x00" + ip4(6, tcp)),
            (276, b"\x08\x00" + b"\x00" * 18 + ip4(6, tcp))]


def _gquic() -> list[bytes]:
    """Null-encrypted gQUIC packets (Q043, Q025, Q046, a server's REJ) and their messages."""
    from tests.protocols.quic_build import crypto_message, null_encrypted, stream_frame

    cid = bytes.fromhex("0123456789abcdef")
    chlo = crypto_message(b"CHLO", {b"SNI\x00": b"www.example.com", b"VER\x00": b"Q043",
                                    b"PAD\x00": bytes(40)})
    rej = crypto_message(b"REJ\x00", {b"STK\x00": bytes(16)})
    return [
        null_encrypted(b"\x09" + cid + b"Q043\x01", stream_frame(chlo, True), b"Client"),
        null_encrypted(b"\x0d" + cid + b"Q025\x01", b"\x01" + stream_frame(chlo, False), b""),
        null_encrypted(b"\xc3Q046\x50" + cid + b"\x00\x00\x00\x01", stream_frame(chlo, True),
                       b"Client"),
        null_encrypted(b"\x08" + cid + b"\x01", stream_frame(rej, True), b"Server"),
        chlo, rej, stream_frame(chlo, True),
    ]


def _ssh_packets() -> list[bytes]:
    """The binary packets after each recorded ident line (KEXINIT first)."""
    return [f.split(b"\r\n", 1)[1] for f in _files("ssh_") if b"\r\n" in f]


def _tls_client(data: bytes) -> object:
    ch = tls.parse_client_hello(data)
    return tls_fingerprints.ja3(ch), tls_fingerprints.ja4(ch)


def _tls_server(data: bytes) -> object:
    return tls_fingerprints.ja3s(tls.parse_server_hello(data))


def _ssh_kex(data: bytes) -> object:
    kex = ssh.parse_kexinit(data)
    return ssh.hassh(kex), ssh.hassh_server(kex)


def _asn1(data: bytes) -> object:
    tlv = asn1.read_tlv(data)
    asn1.check_tree(data, tlv)
    return asn1.walk(data, 0, len(data))


def _quic_initial(data: bytes) -> object:
    return quic.parse_client_initials([data])


def _quic_headers(data: bytes) -> object:
    found = quic.packets(data)
    return quic.fills(data, found), [quic.version_name(h.version) for h in found]


@dataclass
class Target:
    name: str
    parse: Callable[[bytes], object]
    seed_source: Callable[[], list[bytes]] = list

    @cached_property
    def seeds(self) -> list[bytes]:
        return [s for s in self.seed_source() if s] or [b"\x00"]


def _link_target(link: int) -> Target:
    frames = [d for lk, d in _frames() if lk == link] or [d for _, d in _frames()]
    return Target(f"packet.parse_frame[link {link}]",
                  lambda data: packet.parse_frame(data, link), lambda: frames)


TARGETS: list[Target] = [
    Target("asn1.read_tlv+walk", _asn1, lambda: _samples("ldap", "snmp", "kerberos-sec")),
    Target("bencode.decode", bencode.decode, lambda: _samples("bittorrent")),
    Target("bencode.decode_prefix", bencode.decode_prefix, lambda: _samples("bittorrent")),
    Target("dcerpc.parse_co", dcerpc.parse_co, lambda: _samples("msrpc")),
    Target("dcerpc.parse_cl", dcerpc.parse_cl, lambda: _samples("msrpc")),
    Target("dhcp.parse_message", dhcp.parse_message, lambda: _samples("dhcps")),
    Target("dns.parse_message", dns.parse_message,
           lambda: [*_files("dns_query"), *_files("dns_reply"), *_samples("dns", "mdns")]),
    Target("dns.parse_message[tcp]", lambda d: dns.parse_message(d, tcp=True),
           lambda: _files("dns_tcp")),
    Target("ftp.data_endpoint_from_reply",
           lambda d: ftp.data_endpoint_from_reply(d, "192.0.2.1"),
           lambda: [b"227 Entering Passive Mode (192,0,2,7,19,137).\r\n",
                    b"229 Entering Extended Passive Mode (|||5001|)\r\n"]),
    Target("ftp.data_endpoint_from_command", ftp.data_endpoint_from_command,
           lambda: [b"PORT 192,0,2,9,19,137\r\n", b"EPRT |2|2001:db8::1|5282|\r\n"]),
    Target("gquic.parse_packet", gquic.parse_packet, _gquic),
    Target("gquic.find_message", gquic.find_message, _gquic),
    Target("gquic.parse_message", gquic.parse_message, _gquic),
    Target("http.parse_request_head", http.parse_request_head, lambda: _files("http_request")),
    Target("http.parse_response_head", http.parse_response_head,
           lambda: _files("http_response")),
    Target("http.looks_like_http_request", http.looks_like_http_request,
           lambda: _files("http_request")),
    Target("keccak.keccak256", keccak.keccak256, lambda: [b"abc", b"\x00" * 200]),
    Target("kerberos.parse_message", kerberos.parse_message, lambda: _samples("kerberos-sec")),
    Target("kerberos.parse_message[tcp,partial]",
           lambda d: kerberos.parse_message(d, tcp=True, partial=True),
           lambda: _samples("kerberos-sec")),
    Target("kerberos.parse_kpasswd", kerberos.parse_kpasswd, lambda: _samples("kerberos-sec")),
    Target("ldap.parse_message", ldap.parse_message, lambda: _samples("ldap")),
    Target("ldap.parse_message[cldap]", lambda d: ldap.parse_message(d, cldap=True),
           lambda: _samples("ldap")),
    Target("netbios.parse_ns", netbios.parse_ns, lambda: _samples("netbios-ns")),
    Target("netbios.parse_dgm", netbios.parse_dgm, lambda: _samples("netbios-dgm")),
    Target("netbios.parse_ssn", netbios.parse_ssn, lambda: _samples("netbios-ssn")),
    Target("oncrpc.parse_message", oncrpc.parse_message,
           lambda: _samples("sunrpc", "rpcbind", "nfs")),
    Target("oncrpc.parse_message[tcp]", lambda d: oncrpc.parse_message(d, tcp=True),
           lambda: _samples("sunrpc", "rpcbind", "nfs")),
    *(_link_target(link) for link in (0, 1, 101, 108, 113, 228, 229, 276)),
    Target("quic.parse_long_header+packets", _quic_headers, lambda: _samples("quic")),
    Target("quic.parse_client_initials", _quic_initial, lambda: _samples("quic")),
    Target("quic.parse_version_negotiation", quic.parse_version_negotiation,
           lambda: _samples("quic")),
    Target("quic.crypto_frames", quic.crypto_frames,
           lambda: [b"\x06\x00\x05hello\x00\x01", b"\x06\x40\x10\x04abcd"]),
    Target("snmp.parse_message", snmp.parse_message, lambda: _samples("snmp")),
    Target("ssh.parse_ident", ssh.parse_ident, lambda: _files("ssh_")),
    Target("ssh.parse_ident[server]", lambda d: ssh.parse_ident(d, server=True),
           lambda: _files("ssh_server")),
    Target("ssh.parse_kexinit+hassh", _ssh_kex, _ssh_packets),
    Target("tls.looks_like_tls", tls.looks_like_tls, lambda: _files("tls_")),
    Target("tls.parse_client_hello+ja3+ja4", _tls_client, lambda: _files("tls_client")),
    Target("tls.parse_server_hello+ja3s", _tls_server, lambda: _files("tls_server")),
    Target("tls.parse_certificates", tls.parse_certificates, lambda: _files("tls_server")),
    Target("x509.parse_certificate", x509.parse_certificate, _certificates),
]
BY_NAME = {t.name: t for t in TARGETS}

# ---- mutations ----------------------------------------------------------------------------
INTERESTING = (0x00, 0x01, 0x7F, 0x80, 0x81, 0xFF, 0xFE, 0x40, 0x20, 0x0A, 0x0D)


def mutate(rng: random.Random, seeds: list[bytes], max_len: int = 4096) -> bytes:
    """One input: random bytes (1 in 8) or a seed changed by a few random edits: byte flips,
    interesting values, runs inserted or removed, truncation, a splice with another seed."""
    if rng.random() < 0.125:
        return rng.randbytes(rng.randrange(0, 257))
    data = bytearray(rng.choice(seeds))
    for _ in range(rng.choice((1, 1, 2, 3, 5, 8))):
        op = rng.randrange(8)
        n = len(data)
        if op == 0 and n:
            data[rng.randrange(n)] ^= 1 << rng.randrange(8)
        elif op == 1 and n:
            data[rng.randrange(n)] = rng.choice(INTERESTING)
        elif op == 2 and n:
            data[rng.randrange(n)] = rng.randrange(256)
        elif op == 3:
            at = rng.randrange(n + 1)
            data[at:at] = bytes([rng.choice(INTERESTING)]) * rng.randrange(1, 64)
        elif op == 4 and n:
            at = rng.randrange(n)
            del data[at:at + rng.randrange(1, 64)]
        elif op == 5 and n:
            del data[rng.randrange(n):]
        elif op == 6:
            other = rng.choice(seeds)
            cut = rng.randrange(len(other) + 1)
            data = data[:rng.randrange(n + 1)] + bytearray(other[cut:])
        elif op == 7 and n >= 2:
            at = rng.randrange(n - 1)  # a 16-bit length or count set to an extreme
            data[at:at + 2] = rng.choice((b"\xff\xff", b"\x00\x00", b"\x7f\xff", b"\x80\x00"))
    return bytes(data[:max_len])


def run_one(target: Target, data: bytes) -> str:
    """The outcome of one input: "ok", "NeedMore" or "ParseError"; anything else raises."""
    try:
        target.parse(data)
    except NeedMore:
        return "NeedMore"
    except ParseError:
        return "ParseError"
    return "ok"
