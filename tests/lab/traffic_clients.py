"""The REAL clients run against each lab server (curl, ssh-keyscan, redis-cli, psql, mariadb,
mosquitto_pub, ldapsearch, dig, snmpget, turnutils_stunclient, tftp, ntpdig), and raw sockets
where no client fits (memcached, XMPP, SIP, NetBIOS, NTP on another port, STUN over TCP).

Clients run with short timeouts and their failures are only logged: the traffic is what
matters. No pytest dependency here.
"""

from __future__ import annotations

import contextlib
import os
import socket
import struct
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from tests.lab.traffic_tcpdump import _which

CLIENT_TIMEOUT = 8.0  # seconds for one client command (each also has its own shorter timeout)


class LabEndpoint(Protocol):
    """What is needed of a lab server (tests.lab.Service, or a UDP lab service)."""

    @property
    def name(self) -> str: ...
    @property
    def ip(self) -> str: ...
    @property
    def port(self) -> int: ...
    @property
    def service(self) -> str: ...
    @property
    def product(self) -> str | None: ...


@dataclass
class _Ctx:
    workdir: Path
    http_target: str  # what the proxy client fetches through squid
    log: list[str]


def _cmd(ctx: _Ctx, argv: list[str], timeout: float = CLIENT_TIMEOUT,
         env: dict[str, str] | None = None) -> None:
    """Run a client; a missing binary, a failure or a timeout is only logged."""
    exe = _which(argv[0])
    if exe is None:
        ctx.log.append(f"missing client: {argv[0]}")
        return
    full_env = dict(os.environ)
    full_env.update(env or {})
    try:
        proc = subprocess.run([exe, *argv[1:]], stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              cwd=ctx.workdir, env=full_env, timeout=timeout, check=False)
        ctx.log.append(f"exit {proc.returncode}: {' '.join(argv)}")
    except subprocess.TimeoutExpired:
        ctx.log.append(f"timeout: {' '.join(argv)}")
    except OSError as e:
        ctx.log.append(f"{e}: {' '.join(argv)}")


def _tcp_talk(ctx: _Ctx, ip: str, port: int, messages: Sequence[bytes],
              timeout: float = 3.0) -> None:
    """Connect, then for each message: send it and read what the server answers."""
    try:
        with socket.create_connection((ip, port), timeout=timeout) as s:
            for msg in messages:
                s.sendall(msg)
                _read_some(s, 0.5)
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_WR)
            _read_some(s, 0.5)
        ctx.log.append(f"socket {ip}:{port}: done")
    except OSError as e:
        ctx.log.append(f"socket {ip}:{port}: {e}")


def _read_some(s: socket.socket, quiet: float) -> bytes:
    """Read until the peer is quiet for `quiet` seconds or closes."""
    got = b""
    s.settimeout(quiet)
    while True:
        try:
            chunk = s.recv(65536)
        except (TimeoutError, OSError):
            return got
        if not chunk:
            return got
        got += chunk


def _udp_talk(ctx: _Ctx, ip: str, port: int, payload: bytes, timeout: float = 2.0) -> None:
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(timeout)
            s.sendto(payload, (ip, port))
            with contextlib.suppress(OSError):
                s.recvfrom(65536)
        ctx.log.append(f"udp {ip}:{port}: done")
    except OSError as e:
        ctx.log.append(f"udp {ip}:{port}: {e}")


def _xmpp(ctx: _Ctx, ip: str, port: int) -> None:
    _tcp_talk(ctx, ip, port, [
        b"<?xml version='1.0'?><stream:stream to='localhost' xmlns='jabber:client' "
        b"xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>",
        b"</stream:stream>",
    ])


def _sip_options(ctx: _Ctx, ip: str, port: int) -> None:
    branch = f"z9hG4bK{os.getpid():x}{int(time.time() * 1000) & 0xFFFFFF:x}"
    msg = (
        f"OPTIONS sip:probe@{ip}:{port} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:5099;branch={branch};rport\r\n"
        "Max-Forwards: 70\r\n"
        f"To: <sip:probe@{ip}:{port}>\r\n"
        "From: <sip:lab@probescan.test>;tag=probescanlab\r\n"
        f"Call-ID: {branch}@probescan.test\r\n"
        "CSeq: 1 OPTIONS\r\n"
        "Contact: <sip:lab@127.0.0.1:5099>\r\n"
        "Accept: application/sdp\r\n"
        "User-Agent: probescan-lab-client\r\n"
        "Content-Length: 0\r\n\r\n"
    )
    _udp_talk(ctx, ip, port, msg.encode())


def _nbstat(ctx: _Ctx, ip: str, port: int) -> None:
    """A NetBIOS node status query for "*" (what `nbtstat -A` sends)."""
    name = b"\x20" + b"CK" + b"A" * 30 + b"\x00"  # "*" padded with NULs, first-level encoded
    query = struct.pack("!HHHHHH", 0x4C42, 0, 1, 0, 0, 0) + name + struct.pack("!HH", 0x21, 1)
    _udp_talk(ctx, ip, port, query)


def _ntp(ctx: _Ctx, ip: str, port: int) -> None:
    if port == 123:
        _cmd(ctx, ["ntpdig", "-t", "2", ip])
        return
    # ntpdig has no port option: a plain NTPv4 client request (mode 3)
    now = time.time() + 2_208_988_800
    packet = bytes([0x23, 0, 6, 0xEC]) + bytes(36) + struct.pack(
        "!II", int(now), int((now % 1) * 2**32))
    _udp_talk(ctx, ip, port, packet)


# A STUN Binding request (RFC 5389): turnutils_stunclient speaks UDP only.
_STUN_BINDING = struct.pack("!HHI", 0x0001, 0, 0x2112A442) + b"probescanlab"


def _clients(svc: LabEndpoint, transport: str, tls: bool,
             ctx: _Ctx) -> list[Callable[[], None]]:
    """The client runs for one server, as thunks."""
    ip, port = svc.ip, svc.port
    hp = f"{ip}:{port}"
    c = ctx
    curl = ["curl", "-s", "-o", os.devnull, "--connect-timeout", "3", "--max-time", "6"]
    s = svc.service
    if transport == "udp":
        table: dict[str, list[Callable[[], None]]] = {
            "dns": [lambda: _cmd(c, ["dig", f"@{ip}", "-p", str(port), "example.test",
                                     "+time=2", "+tries=1"])],
            "snmp": [lambda: _cmd(c, ["snmpget", "-v2c", "-c", "public", "-t", "2", "-r", "0",
                                      hp, "1.3.6.1.2.1.1.1.0"])],  # sysDescr.0
            "stun": [lambda: _cmd(c, ["turnutils_stunclient", "-p", str(port), ip], 5.0)],
            "sip": [lambda: _sip_options(c, ip, port)],
            "tftp": [lambda: _cmd(c, ["tftp", "-m", "octet", ip, str(port), "-c", "get",
                                      "probescan.txt"], 5.0)],
            "ntp": [lambda: _ntp(c, ip, port)],
            "memcached": [lambda: _udp_talk(c, ip, port,
                                            b"\x00\x01\x00\x00\x00\x01\x00\x00version\r\n")],
            "netbios-ns": [lambda: _nbstat(c, ip, port)],
        }
        return table.get(s, [])
    table = {
        "ssh": [lambda: _cmd(c, ["ssh-keyscan", "-T", "4", "-p", str(port), ip])],
        "http": [lambda: _cmd(c, [*curl, "-k", f"https://{hp}/"] if tls
                              else [*curl, f"http://{hp}/"])],
        "ftp": [lambda: _cmd(c, [*curl, f"ftp://{hp}/"])],
        # EHLO, VRFY, QUIT: no mail is queued, so nothing tries to leave the machine
        "smtp": [lambda: _cmd(c, [*curl, f"smtp://{hp}/probescan.test",
                                  "--mail-rcpt", "postmaster"])],
        "imap": [lambda: _cmd(c, [*curl, f"imap://{hp}/", "-u", "lab:lab"])],
        "pop3": [lambda: _cmd(c, [*curl, f"pop3://{hp}/", "-u", "lab:lab"])],
        "redis": [
            lambda: _cmd(c, ["redis-cli", "-h", ip, "-p", str(port), "PING"], 5.0),
            lambda: _cmd(c, ["redis-cli", "-h", ip, "-p", str(port), "INFO", "server"], 5.0),
        ],
        "memcached": [lambda: _tcp_talk(c, ip, port, [b"version\r\n", b"stats\r\n",
                                                      b"quit\r\n"])],
        "mysql": [lambda: _cmd(c, ["mariadb", "--protocol=TCP", "-h", ip, "-P", str(port),
                                   "-u", "lab", "-plab", "--connect-timeout=4", "--skip-ssl",
                                   "-e", "select 1"])],
        "postgresql": [lambda: _cmd(c, ["psql", "-h", ip, "-p", str(port), "-U", "postgres",
                                        "-d", "postgres", "-w", "-c", "select 1"],
                                    env={"PGCONNECT_TIMEOUT": "4"})],
        "mqtt": [lambda: _cmd(c, ["mosquitto_pub", "-h", ip, "-p", str(port), "-t",
                                  "probescan/lab", "-m", "hello", "-i", "probescan-lab"], 5.0)],
        "ldap": [lambda: _cmd(c, ["ldapsearch", "-x", "-H", f"ldap://{hp}", "-b", "", "-s",
                                  "base", "-o", "nettimeout=4", "-l", "4"])],
        "http-proxy": [lambda: _cmd(c, [*curl, "-x", f"http://{hp}", ctx.http_target])],
        "xmpp": [lambda: _xmpp(c, ip, port)],
        "dns": [lambda: _cmd(c, ["dig", f"@{ip}", "-p", str(port), "example.test", "+tcp",
                                 "+time=2", "+tries=1"])],
        "stun": [lambda: _tcp_talk(c, ip, port, [_STUN_BINDING])],
    }
    return table.get(s, [])
