"""Natural client traffic against the lab, captured with tcpdump, for the watcher's tests.

``capture_client_traffic(services, out)`` starts ``tcpdump -i lo -U -w out`` limited to the lab
networks (127.0.10.0/24 and 127.0.20.0/24), waits until it captures, runs REAL clients (curl,
ssh-keyscan, redis-cli, psql, mariadb, mosquitto_pub, ldapsearch, dig, snmpget,
turnutils_stunclient, tftp, ntpdig, and raw sockets for memcached, XMPP, SIP and NetBIOS) once
against each lab server, stops tcpdump cleanly and returns what every server endpoint should
be labeled (:class:`Expected`). Clients run with short timeouts and their failures are
ignored: the traffic is what matters.

``make_large_capture(src, out, copies)`` repeats the flows of a capture ``copies`` times with
shifted client addresses and ports and later timestamps (a packets-per-second benchmark).

No pytest dependency here; ``python -m tests.traffic OUT.pcap`` starts the default lab and the
UDP lab (tests/udp_lab.py, as root), captures, and prints the expected labels.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

__all__ = [
    "CAPTURE_FILTER",
    "WIRE_PRODUCT",
    "CaptureFailed",
    "Expected",
    "LabEndpoint",
    "capture_client_traffic",
    "capture_filter",
    "make_large_capture",
    "service_ok",
    "tcpdump_argv",
]

CAPTURE_FILTER = "net 127.0.10.0/24 or net 127.0.20.0/24"
CLIENT_TIMEOUT = 8.0  # seconds for one client command (each also has its own shorter timeout)
START_TIMEOUT = 10.0  # seconds for tcpdump to report that it is listening
STOP_TIMEOUT = 10.0  # seconds for tcpdump to exit after SIGINT
SETTLE = 0.5  # seconds left for the last packets (FIN, ACK) before tcpdump stops
WORKERS = 4  # clients run in parallel
ATTEMPTS = 3  # captures with packets dropped by the kernel are made again

# Services whose product is visible in the bytes our clients provoke: SSH identification,
# HTTP Server header, FTP/SMTP/IMAP/POP3 greetings, MySQL greeting, redis INFO, memcached
# VERSION, the STUN SOFTWARE attribute. (Not over TLS: nginx-https shows only a certificate.)
WIRE_PRODUCT = frozenset({
    "ssh", "http", "ftp", "smtp", "imap", "pop3", "mysql", "redis", "memcached", "stun",
})

# Names a labeler may use for the same service as the lab's.
_ALIASES: dict[str, frozenset[str]] = {
    "http+tls": frozenset({"http", "https"}),
}


class CaptureFailed(RuntimeError):
    """tcpdump could not be started or did not report that it was capturing."""


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


@dataclass(frozen=True)
class Expected:
    """The label every flow to this server endpoint should get."""

    ip: str
    port: int
    transport: str  # "tcp" or "udp"
    service: str  # probescan's name: ssh, http, ftp, ... (HTTPS: "http" with tls)
    product: str | None
    tls: bool = False
    kind: str = ""  # the lab kind that was started, e.g. "nginx-https"
    wire_product: bool = False  # our clients make the server show its product

    @property
    def endpoint(self) -> tuple[str, int, str]:
        return (self.ip, self.port, self.transport)

    def __str__(self) -> str:
        tunnel = "+tls" if self.tls else ""
        return (f"{self.kind or self.service}@{self.ip}:{self.port}/{self.transport} "
                f"{self.service}{tunnel}/{self.product or '-'}")


def service_ok(expected: Expected, service: str | None) -> bool:
    """Whether a labeler's service name is the expected one (HTTPS may read http or https)."""
    key = expected.service + ("+tls" if expected.tls else "")
    return service is not None and service in _ALIASES.get(key, frozenset({expected.service}))


# --------------------------------------------------------------------------- tcpdump


def _which(name: str) -> str | None:
    path = os.environ.get("PATH", os.defpath)
    return shutil.which(name, path=os.pathsep.join([path, "/usr/sbin", "/sbin"]))


def tcpdump_argv(out: Path, bpf: str) -> list[str]:
    """The tcpdump command line that captures the lab's traffic into ``out``."""
    exe = _which("tcpdump")
    if exe is None:
        raise CaptureFailed("tcpdump not found (apt-get install tcpdump)")
    # --immediate-mode: packets reach tcpdump at once, not in ring-buffer blocks that
    # SIGINT would leave unread; -U: each one is written at once; -B: a 64 MiB kernel
    # buffer, so a busy machine drops nothing.
    argv = [exe, "-i", "lo", "--immediate-mode", "-U", "-B", "65536", "-n", "-s", "0",
            "-w", str(out)]
    if os.geteuid() == 0:
        argv += ["-Z", "root"]  # Debian's tcpdump drops to its own user before writing
    argv.append(bpf)
    return argv


class _Tcpdump:
    def __init__(self, out: Path, bpf: str) -> None:
        argv = tcpdump_argv(out, bpf)
        self.argv = argv
        self._lines: list[str] = []
        self._listening = threading.Event()
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, start_new_session=True)
        self._reader = threading.Thread(target=self._read, name="tcpdump-stderr", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for raw in self.proc.stderr:
            line = raw.decode("utf-8", "replace").rstrip()
            self._lines.append(line)
            if "listening on" in line:
                self._listening.set()
        self._listening.set()  # EOF: tcpdump exited; wait_ready() tells

    def wait_ready(self) -> None:
        if not self._listening.wait(START_TIMEOUT) or self.proc.poll() is not None:
            self.stop()
            raise CaptureFailed("tcpdump did not start capturing: " + " | ".join(self._lines[-5:]))

    @property
    def dropped(self) -> int:
        """Packets the kernel dropped (tcpdump's closing statistics; -1 when unknown)."""
        for line in self._lines:
            m = re.match(r"(\d+) packets? dropped by kernel", line)
            if m:
                return int(m.group(1))
        return -1

    def stop(self) -> str:
        """SIGINT, wait; returns tcpdump's last stderr lines ("N packets captured")."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._reader.join(2.0)
        return "\n".join(self._lines[-3:])


# --------------------------------------------------------------------------- clients


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


def _expected(svc: LabEndpoint, transport: str) -> Expected:
    tls = bool(getattr(svc, "tls", False))
    return Expected(svc.ip, svc.port, transport, svc.service, svc.product, tls, svc.name,
                    svc.product is not None and svc.service in WIRE_PRODUCT and not tls)


def _transport_of(svc: LabEndpoint, default: str) -> str:
    t = getattr(svc, "transport", None)
    return t if t in ("tcp", "udp") else default


def _in_lab_nets(ip: str) -> bool:
    return ip.startswith(("127.0.10.", "127.0.20."))


def capture_filter(endpoints: Iterable[tuple[str, int, str]]) -> str:
    """The lab networks, plus any lab server outside them (ntpsec only binds 127.0.0.1:123)."""
    extra = sorted({f"(host {ip} and {t} port {port})" for ip, port, t in endpoints
                    if not _in_lab_nets(ip)})
    return " or ".join([CAPTURE_FILTER, *extra])


def capture_client_traffic(
    services: Iterable[LabEndpoint],
    out: Path,
    udp_services: Iterable[LabEndpoint] = (),
    *,
    log: list[str] | None = None,
) -> list[Expected]:
    """Capture real client traffic against every lab server into ``out`` (pcap).

    Returns the expected label of each server endpoint the clients talked to (servers our
    clients do not know are left out). ``log``, when given, receives one line per client run.
    """
    tcp = [(s, _transport_of(s, "tcp")) for s in services]
    udp = [(s, _transport_of(s, "udp")) for s in udp_services]
    every = tcp + udp
    out.parent.mkdir(parents=True, exist_ok=True)
    web = [s for s, t in every if s.service == "http" and t == "tcp"
           and not getattr(s, "tls", False)]
    target = f"http://{web[0].ip}:{web[0].port}/" if web else "http://127.0.10.2:18080/"
    lines: list[str] = [] if log is None else log
    expected: list[Expected] = []
    with tempfile.TemporaryDirectory(prefix="probescan-traffic-") as tmp:
        ctx = _Ctx(Path(tmp), target, lines)
        runs: list[Callable[[], None]] = []
        for svc, transport in every:
            thunks = _clients(svc, transport, bool(getattr(svc, "tls", False)), ctx)
            if not thunks:
                lines.append(f"no client for {svc.service}/{transport} ({svc.name})")
                continue
            runs.extend(thunks)
            expected.append(_expected(svc, transport))
        bpf = capture_filter(e.endpoint for e in expected)
        for attempt in range(1, ATTEMPTS + 1):
            dump = _Tcpdump(out, bpf)
            try:
                dump.wait_ready()
                time.sleep(0.2)
                with ThreadPoolExecutor(max_workers=WORKERS) as pool:
                    list(pool.map(lambda run: run(), runs))
                time.sleep(SETTLE)
            finally:
                lines.append("tcpdump: " + dump.stop().replace("\n", " | "))
            if dump.dropped <= 0:
                break
            lines.append(f"attempt {attempt}: the kernel dropped {dump.dropped} packets"
                         + ("; capturing again" if attempt < ATTEMPTS else ""))
    return expected


# --------------------------------------------------------------------------- big captures

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


# --------------------------------------------------------------------------- main


def main(argv: Sequence[str] | None = None) -> int:
    from tests.lab import Lab, start_default_lab

    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1:
        print("usage: python -m tests.traffic OUT.pcap", file=sys.stderr)
        return 2
    with Lab() as lab, contextlib.ExitStack() as stack:
        services = start_default_lab(lab)
        udp: list[LabEndpoint] = []
        if os.geteuid() == 0:
            from tests.lab import servers_udp as udp_lab

            plan = {name: where for name, where in udp_lab.DEFAULT_UDP_LAB.items()
                    if not udp_lab.missing_binary(udp_lab.SPECS[name])}
            running, failed = stack.enter_context(udp_lab.lab(plan))
            udp = list(running.values())
            for name, why in failed.items():
                print(f"# UDP {name} not started: {why.splitlines()[0]}", file=sys.stderr)
        log: list[str] = []
        expected = capture_client_traffic(services, Path(args[0]), udp, log=log)
        for line in log:
            print(f"# {line}", file=sys.stderr)
        for e in expected:
            print(e)
    return 0


if __name__ == "__main__":
    sys.exit(main())
