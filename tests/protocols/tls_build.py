"""TLS bytes for the tests: the recorded hellos and server flights, and builders of
synthetic records, handshake messages and hellos (published fingerprint examples).

Recorded on this machine through a relay on 127.0.40.x (see tests/data/proto/README.md):
curl 7.88.1 and openssl s_client 3.0 as clients, openssl s_server 3.0 as server.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

DATA = Path(__file__).parent.parent / "data" / "proto"
CURL_HELLO = (DATA / "tls_client_hello_curl.bin").read_bytes()
OPENSSL_HELLO_2REC = (DATA / "tls_client_hello_openssl_two_records.bin").read_bytes()
SERVER_TLS12 = (DATA / "tls_server_flight_tls12_openssl.bin").read_bytes()
SERVER_TLS12_FRAG = (DATA / "tls_server_flight_tls12_openssl_fragmented.bin").read_bytes()
SERVER_TLS13 = (DATA / "tls_server_flight_tls13_openssl.bin").read_bytes()
SSH_IDENT = b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u10\r\n"
HTTP_GET = b"GET / HTTP/1.1\r\nHost: lab.test\r\n\r\n"


def record_ends(data: bytes) -> list[int]:
    ends, pos = [], 0
    while pos < len(data):
        pos += 5 + int.from_bytes(data[pos + 3 : pos + 5], "big")
        ends.append(pos)
    return ends


# --- builders for synthetic hellos (published fingerprint examples) -------------------------


def u16s(values: Iterable[int]) -> bytes:
    return b"".join(v.to_bytes(2, "big") for v in values)


def vec(data: bytes, len_bytes: int) -> bytes:
    return len(data).to_bytes(len_bytes, "big") + data


def record(payload: bytes, ctype: int = 22, version: int = 0x0301) -> bytes:
    return bytes([ctype]) + version.to_bytes(2, "big") + vec(payload, 2)


def handshake(msg_type: int, body: bytes) -> bytes:
    return bytes([msg_type]) + vec(body, 3)


def client_hello_bytes(
    version: int, ciphers: Iterable[int], extensions: Iterable[tuple[int, bytes]] | None
) -> bytes:
    body = version.to_bytes(2, "big") + bytes(32) + vec(b"", 1) + vec(u16s(ciphers), 2)
    body += vec(b"\x00", 1)
    if extensions is not None:
        body += vec(b"".join(t.to_bytes(2, "big") + vec(d, 2) for t, d in extensions), 2)
    return record(handshake(1, body))


def server_hello_bytes(
    random: bytes, cipher: int, extensions: Iterable[tuple[int, bytes]]
) -> bytes:
    body = b"\x03\x03" + random + vec(b"", 1) + cipher.to_bytes(2, "big") + b"\x00"
    body += vec(b"".join(t.to_bytes(2, "big") + vec(d, 2) for t, d in extensions), 2)
    return record(handshake(2, body), version=0x0303)


def sni(host: str) -> tuple[int, bytes]:
    return 0x0000, vec(b"\x00" + vec(host.encode(), 2), 2)


def alpn(*protocols: bytes) -> tuple[int, bytes]:
    return 0x0010, vec(b"".join(vec(p, 1) for p in protocols), 2)
