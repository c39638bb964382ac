"""Opening connections (plain TCP and TLS) and reading bounded responses.

`open_tcp` makes one connection; `Dialer` is how the prober connects to an endpoint: inside
the concurrency limits, with retries for a silent port, TLS from one shared context."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
import ssl
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from probescan.config import Config
from probescan.engine.limits import Limits
from probescan.model import Endpoint, TlsInfo
from probescan.protocols.errors import ParseError

Outcome = Literal["data", "eof", "reset", "timeout", "refused", "error"]


@dataclass(slots=True)
class Conn:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.writer.wait_closed(), 0.5)

    def abort(self) -> None:
        transport = self.writer.transport
        with contextlib.suppress(Exception):
            transport.abort()


SocketKey = tuple[str, int, str, int]  # transport, local port, remote address, remote port


class SocketRegistry:
    """The prober's own sockets (local port and peer), remembered for `keep` seconds, so a
    watcher on the same machine can tell its own probe traffic from the traffic it watches.
    The peer is part of the key: Linux hands the same ephemeral port to connections towards
    different peers, so a port alone could hide a stranger's flow."""

    def __init__(self, keep: float = 120.0) -> None:
        self.keep = keep
        self._socks: dict[SocketKey, float] = {}

    def add(self, transport: str, local_port: int, peer_ip: str, peer_port: int) -> None:
        now = time.monotonic()
        self._socks[(transport, local_port, peer_ip, peer_port)] = now
        if len(self._socks) > 50_000:
            self._socks = {k: t for k, t in self._socks.items() if now - t < self.keep}

    def owns(self, transport: str, local_port: int, peer_ip: str, peer_port: int) -> bool:
        t = self._socks.get((transport, local_port, peer_ip, peer_port))
        return t is not None and time.monotonic() - t < self.keep


class ConnectFailed(Exception):
    def __init__(self, state: Literal["closed", "filtered", "error"], detail: str) -> None:
        super().__init__(detail)
        self.state = state
        self.detail = detail


def tls_context() -> ssl.SSLContext:
    """A client context that talks to anything: no verification, old versions allowed."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with contextlib.suppress(ValueError, ssl.SSLError), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # old servers still speak TLS 1.0
        ctx.minimum_version = ssl.TLSVersion.TLSv1
    with contextlib.suppress(ssl.SSLError):
        ctx.set_ciphers("ALL:@SECLEVEL=0")
    ctx.set_alpn_protocols(["h2", "http/1.1"])
    return ctx


async def open_tcp(
    ip: str,
    port: int,
    timeout: float,
    tls: ssl.SSLContext | None = None,
    server_name: str | None = None,
    registry: SocketRegistry | None = None,
) -> Conn:
    """Connect; raise ConnectFailed with the port state when it fails.

    The TCP connect runs on a bare non-blocking socket (cheap for the many closed ports of a
    sweep); streams, and TLS, are only set up once the port has answered."""
    loop = asyncio.get_running_loop()
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setblocking(False)
    try:
        if registry is not None:  # bind first, so the port is known before the SYN leaves
            sock.bind(("::", 0) if family == socket.AF_INET6 else ("0.0.0.0", 0))
            registry.add("tcp", sock.getsockname()[1], ip, port)
        async with asyncio.timeout(timeout):
            await loop.sock_connect(sock, (ip, port))
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(
                sock=sock,
                ssl=tls,
                server_hostname=(server_name or "") if tls else None,
                ssl_handshake_timeout=timeout if tls else None,
                limit=1 << 16,
            )
    except BaseException as e:
        sock.close()
        if isinstance(e, ConnectionRefusedError):
            raise ConnectFailed("closed", "refused") from e
        if isinstance(e, TimeoutError):
            raise ConnectFailed("filtered", "timeout") from e
        if isinstance(e, ssl.SSLError):
            raise ConnectFailed("error", f"tls: {e.reason or e}") from e
        if isinstance(e, ConnectionResetError):
            raise ConnectFailed("error", "reset") from e
        if isinstance(e, OSError):
            if e.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
                raise ConnectFailed("filtered", e.strerror or "unreachable") from e
            raise ConnectFailed("error", e.strerror or str(e)) from e
        raise
    return Conn(reader, writer)


class Dialer:
    """The prober's connections: each attempt holds a slot of the global and per-host limits;
    a plain connect that meets silence (filtered) is tried `config.retries` more times."""

    def __init__(self, config: Config, limits: Limits,
                 registry: SocketRegistry | None = None) -> None:
        self.config = config
        self.limits = limits
        self.registry = registry
        self._tls = tls_context()

    async def connect(self, ep: Endpoint, tls: bool = False) -> Conn:
        attempts = 1 + self.config.retries
        last: ConnectFailed | None = None
        for _ in range(attempts):
            async with self.limits.slot(ep.ip):
                try:
                    return await open_tcp(
                        ep.ip, ep.port, self.config.connect_timeout,
                        self._tls if tls else None, ep.hostname, self.registry,
                    )
                except ConnectFailed as e:
                    last = e
                    if e.state != "filtered" or tls:
                        raise
        assert last is not None
        raise last


def tls_facts(conn: Conn) -> TlsInfo:
    obj = conn.writer.get_extra_info("ssl_object")
    if not isinstance(obj, ssl.SSLObject):
        return TlsInfo()
    cipher = obj.cipher()
    der = obj.getpeercert(binary_form=True)
    base = TlsInfo(
        version=obj.version(),
        cipher=cipher[0] if cipher else None,
        alpn=obj.selected_alpn_protocol(),
    )
    if not der:
        return base
    # Imported here: the certificate parser (cryptography) costs a sweep's start-up time
    from probescan.protocols.x509 import parse_certificate

    try:
        c = parse_certificate(der)
    except ParseError:
        return base
    return TlsInfo(
        version=base.version,
        cipher=base.cipher,
        alpn=base.alpn,
        subject=c.subject,
        issuer=c.issuer,
        sans=c.sans,
        not_before=c.not_before,
        not_after=c.not_after,
        serial=c.serial,
        sha256=c.sha256,
        self_signed=c.self_signed,
    )


MATCH_GROWTH = 256  # bytes of new reply that warrant matching again
MATCH_EVERY = 0.05  # seconds after which a still-growing reply is matched again


async def exchange(
    conn: Conn,
    payload: bytes,
    wait: float,
    idle_gap: float,
    max_read: int,
    on_data: Callable[[bytes], bool],
) -> tuple[bytes, Outcome, float]:
    """Send payload, read until EOF, `wait` seconds, `idle_gap` of silence after data, `max_read`
    bytes, or until on_data(buffer) returns True (a hard match). Returns (bytes, outcome, secs).

    on_data is not called for every chunk: a server dripping one byte at a time would make
    every byte a full match. It runs when a chunk ends a line, when MATCH_GROWTH bytes came
    since the last call, when MATCH_EVERY seconds passed, and always once on the whole reply."""
    start = time.monotonic()
    deadline = start + wait
    buf = bytearray()
    outcome: Outcome = "timeout"
    seen = 0  # bytes on_data last saw
    last = 0.0  # when on_data last ran (monotonic), 0: not yet
    done = False
    try:
        if payload:
            conn.writer.write(payload)
            async with asyncio.timeout(wait):
                await conn.writer.drain()
        while len(buf) < max_read:
            left = deadline - time.monotonic()
            if left <= 0:
                outcome = "data" if buf else "timeout"
                break
            try:
                async with asyncio.timeout(min(left, idle_gap) if buf else left):
                    chunk = await conn.reader.read(min(65536, max_read - len(buf)))
            except TimeoutError:
                outcome = "data" if buf else "timeout"
                break
            if not chunk:
                outcome = "eof"
                break
            buf += chunk
            outcome = "data"
            now = time.monotonic()
            if (chunk.endswith(b"\n") or len(buf) - seen >= MATCH_GROWTH or seen == 0
                    or now - last >= MATCH_EVERY):
                seen, last = len(buf), now
                if on_data(bytes(buf)):
                    done = True
                    break
    except (ConnectionResetError, BrokenPipeError):
        outcome = "reset"
    except ssl.SSLError:
        outcome = "error"
    except OSError:
        outcome = "error"
    if buf and not done and seen != len(buf):
        on_data(bytes(buf))  # the whole reply is matched once, whatever came last
    return bytes(buf), outcome, time.monotonic() - start
