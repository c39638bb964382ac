"""Each server of the real-server lab accepts TCP connections and says something plausible.

Plain sockets only: these tests check the lab itself, not probescan.
"""

from __future__ import annotations

import socket
import ssl
import struct
from collections.abc import Callable

import pytest

from tests.lab import DEFAULT_LAB, KINDS, Service

pytestmark = pytest.mark.lab

TIMEOUT = 5.0


def _connect(svc: Service) -> socket.socket:
    sock = socket.create_connection((svc.ip, svc.port), timeout=TIMEOUT)
    if svc.tls:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return ctx.wrap_socket(sock, server_hostname="probescan-lab.test")
    return sock


def _recv_until(sock: socket.socket, marker: bytes, limit: int = 65536) -> bytes:
    """Read until ``marker`` appears, the peer closes, or ``limit`` bytes arrived."""
    data = b""
    while marker not in data and len(data) < limit:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise AssertionError(f"connection closed after {len(data)}/{size} bytes")
        data += chunk
    return data


def _http_get(svc: Service, path: str = "/") -> bytes:
    with _connect(svc) as sock:
        sock.sendall(f"GET {path} HTTP/1.0\r\nHost: {svc.ip}\r\n\r\n".encode())
        return _recv_until(sock, b"\x00never\x00")


def _check_ssh(svc: Service) -> None:
    with _connect(svc) as sock:
        banner = _recv_until(sock, b"\n")
    assert banner.startswith(b"SSH-2.0-OpenSSH_"), banner


def _check_http(server: bytes) -> Callable[[Service], None]:
    def check(svc: Service) -> None:
        reply = _http_get(svc)
        head = reply.split(b"\r\n\r\n", 1)[0].lower()
        assert reply.startswith(b"HTTP/1."), reply[:200]
        assert b" 200 " in reply.split(b"\r\n", 1)[0], reply[:200]
        assert b"\r\nserver: " + server in head, head
        assert b"probescan lab" in reply, reply[:400]

    return check


def _check_nginx_https(svc: Service) -> None:
    assert svc.tls
    with _connect(svc) as sock:
        assert isinstance(sock, ssl.SSLSocket)
        assert sock.version() is not None
        assert sock.getpeercert(binary_form=True)
    _check_http(b"nginx")(svc)


def _check_vsftpd(svc: Service) -> None:
    with _connect(svc) as sock:
        banner = _recv_until(sock, b"\r\n")
        sock.sendall(b"QUIT\r\n")
    assert banner.startswith(b"220 (vsFTPd "), banner


def _check_postfix(svc: Service) -> None:
    with _connect(svc) as sock:
        banner = _recv_until(sock, b"\r\n")
        assert banner.startswith(b"220 "), banner
        assert b"ESMTP Postfix" in banner, banner
        sock.sendall(b"EHLO probe.test\r\n")
        ehlo = _recv_until(sock, b"\r\n250 ")
        sock.sendall(b"QUIT\r\n")
    assert ehlo.startswith(b"250-"), ehlo


def _check_imap(svc: Service) -> None:
    with _connect(svc) as sock:
        greeting = _recv_until(sock, b"\r\n")
        sock.sendall(b"a1 LOGOUT\r\n")
    assert greeting.startswith(b"* OK "), greeting
    assert b"Dovecot" in greeting, greeting


def _check_pop3(svc: Service) -> None:
    with _connect(svc) as sock:
        greeting = _recv_until(sock, b"\r\n")
        sock.sendall(b"QUIT\r\n")
    assert greeting.startswith(b"+OK Dovecot"), greeting


def _check_redis(svc: Service) -> None:
    with _connect(svc) as sock:
        sock.sendall(b"PING\r\n")
        assert _recv_until(sock, b"\r\n") == b"+PONG\r\n"
        sock.sendall(b"*2\r\n$4\r\nINFO\r\n$6\r\nserver\r\n")
        info = _recv_until(sock, b"redis_mode:")
    assert b"redis_version:" in info, info[:200]


def _check_memcached(svc: Service) -> None:
    with _connect(svc) as sock:
        sock.sendall(b"version\r\n")
        reply = _recv_until(sock, b"\r\n")
    assert reply.startswith(b"VERSION "), reply


def _check_mariadb(svc: Service) -> None:
    with _connect(svc) as sock:
        header = _recv_exact(sock, 4)
        size = int.from_bytes(header[:3], "little")
        payload = _recv_exact(sock, size)
    assert payload[0] == 10, payload[:80]  # protocol version 10, not an error packet (0xff)
    version = payload[1 : payload.index(b"\x00", 1)]
    assert b"MariaDB" in version, version


def _check_postgresql(svc: Service) -> None:
    params = b"user\x00postgres\x00database\x00postgres\x00\x00"
    startup = struct.pack("!ii", 8 + len(params), 196608) + params  # protocol 3.0
    with _connect(svc) as sock:
        sock.sendall(startup)
        kind = _recv_exact(sock, 1)
        assert kind == b"R", kind  # Authentication request (trust: AuthenticationOk)
        (length,) = struct.unpack("!i", _recv_exact(sock, 4))
        (code,) = struct.unpack("!i", _recv_exact(sock, length - 4)[:4])
        assert code == 0, code
        rest = _recv_until(sock, b"Z\x00\x00\x00\x05")  # ReadyForQuery
        sock.sendall(b"X\x00\x00\x00\x04")  # Terminate
    assert b"server_version\x00" in rest, rest[:200]


def _check_mosquitto(svc: Service) -> None:
    client_id = b"probescan-lab"
    variable = b"\x00\x04MQTT\x04\x02\x00\x3c"  # MQTT 3.1.1, clean session, keepalive 60
    payload = struct.pack("!H", len(client_id)) + client_id
    body = variable + payload
    with _connect(svc) as sock:
        sock.sendall(bytes([0x10, len(body)]) + body)
        connack = _recv_exact(sock, 4)
        sock.sendall(b"\xe0\x00")  # DISCONNECT
    assert connack == b"\x20\x02\x00\x00", connack  # CONNACK, accepted


def _check_slapd(svc: Service) -> None:
    # BindRequest(version 3, name "", simple "") with message id 1.
    bind = bytes.fromhex("300c020101600702010304008000")
    with _connect(svc) as sock:
        sock.sendall(bind)
        reply = _recv_exact(sock, 14)
        sock.sendall(bytes.fromhex("30050201024200"))  # UnbindRequest
    assert reply[0] == 0x30 and reply[5] == 0x61, reply.hex()  # BindResponse
    assert reply[7:10] == b"\x0a\x01\x00", reply.hex()  # resultCode success


def _check_squid(svc: Service) -> None:
    reply = _http_get(svc, "/")  # not a proxy request: squid answers with an error page
    head = reply.split(b"\r\n\r\n", 1)[0].lower()
    assert reply.startswith(b"HTTP/1.1 "), reply[:200]
    assert b"\r\nserver: squid" in head, head


def _check_prosody(svc: Service) -> None:
    opening = (
        b"<?xml version='1.0'?><stream:stream to='localhost' xmlns='jabber:client' "
        b"xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>"
    )
    with _connect(svc) as sock:
        sock.sendall(opening)
        reply = _recv_until(sock, b"</stream:features>")
        sock.sendall(b"</stream:stream>")
    assert b"<stream:stream" in reply, reply[:300]
    assert b"jabber:client" in reply, reply[:300]
    assert b"</stream:features>" in reply, reply[:300]


CHECKS: dict[str, Callable[[Service], None]] = {
    "ssh": _check_ssh,
    "nginx": _check_http(b"nginx"),
    "nginx-https": _check_nginx_https,
    "lighttpd": _check_http(b"lighttpd"),
    "vsftpd": _check_vsftpd,
    "postfix": _check_postfix,
    "dovecot-imap": _check_imap,
    "dovecot-pop3": _check_pop3,
    "redis": _check_redis,
    "memcached": _check_memcached,
    "mariadb": _check_mariadb,
    "postgresql": _check_postgresql,
    "mosquitto": _check_mosquitto,
    "slapd": _check_slapd,
    "squid": _check_squid,
    "prosody": _check_prosody,
}


def test_every_kind_has_a_check() -> None:
    assert set(CHECKS) == set(KINDS)
    assert {kind for kind, _, _ in DEFAULT_LAB} == set(KINDS)


def test_default_lab_addresses_are_distinct() -> None:
    ips = [ip for _, ip, _ in DEFAULT_LAB]
    assert len(ips) == len(set(ips))
    assert all(ip.startswith("127.0.10.") for ip in ips)


@pytest.mark.parametrize(
    ("kind", "ip", "port"), DEFAULT_LAB, ids=[f"{k}-{p}" for k, _, p in DEFAULT_LAB]
)
def test_lab_server_answers(
    lab_service: Callable[..., Service], kind: str, ip: str, port: int
) -> None:
    svc = lab_service(kind, port)
    assert (svc.name, svc.ip, svc.port) == (kind, ip, port)
    assert svc.service == KINDS[kind].service
    CHECKS[kind](svc)
