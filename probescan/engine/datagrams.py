"""UDP probes on shared sockets: one unconnected socket per probe and address family, for
every endpoint of the scan.

A silent UDP port holds nothing but a timer: its probes' replies are told apart by the socket
they come in on (which probe) and the address they come from (which endpoint), so any number
of ports wait side by side on a few dozen descriptors.

* A reply counts only from the exact address and port the probe went to. A probe marked
  `reply_from_any_port` (TFTP answers from a new port) gets a socket of its own for each
  endpoint, where a reply from any port of the address counts.
* ICMP errors are read from the socket's error queue (IP_RECVERR / IPV6_RECVERR), which names
  the destination of the datagram that caused each one: port unreachable -> "refused" for that
  endpoint, another error -> "error". A send that meets an error left by an earlier datagram
  is sent again (the error stays queued for its own endpoint).
* Each probe waits `wait` seconds from its send; duplicates (one address under two names)
  share the reply.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
import struct
import time
from typing import Literal

from probescan.engine.conn import SocketRegistry

UdpOutcome = Literal["data", "refused", "timeout", "error"]
MAX_DATAGRAM = 65535
SEND_TRIES = 8  # sends that may meet an earlier datagram's error before one goes out
IP_RECVERR, IPV6_RECVERR = 11, 25
_EE = struct.Struct("=IBBBB")  # sock_extended_err: errno, origin, type, code, pad
Key = tuple[str, int]  # (address, port) a probe went to
Result = tuple[bytes, UdpOutcome]
# what a send may report for an earlier datagram (ICMP errors): that one's own answer
_LEFT_BY_EARLIER = frozenset({errno.ECONNREFUSED, errno.EHOSTUNREACH, errno.ENETUNREACH,
                              errno.EPROTO, errno.EACCES})


class _ProbeSocket:
    """One probe's socket for one address family, with the probes waiting on it (by address
    and port; by address alone when `any_port`)."""

    def __init__(self, family: int, any_port: bool = False) -> None:
        self.any_port = any_port
        self.sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            self.sock.setblocking(False)
            if family == socket.AF_INET6:
                self.sock.setsockopt(socket.IPPROTO_IPV6, IPV6_RECVERR, 1)
                self.sock.bind(("::", 0))
            else:
                self.sock.setsockopt(socket.IPPROTO_IP, IP_RECVERR, 1)
                self.sock.bind(("0.0.0.0", 0))
        except BaseException:
            self.sock.close()
            raise
        self.port: int = self.sock.getsockname()[1]
        self.waiting: dict[Key, list[asyncio.Future[Result]]] = {}
        self.loop = asyncio.get_running_loop()
        self.loop.add_reader(self.sock.fileno(), self._readable)

    def key(self, addr: tuple[str, int]) -> Key:
        return (addr[0], 0 if self.any_port else addr[1])

    def _resolve(self, key: Key, result: Result) -> None:
        for fut in self.waiting.pop(key, ()):
            if not fut.done():
                fut.set_result(result)

    def _readable(self) -> None:
        self._errors()
        for _ in range(256):
            try:
                data, addr = self.sock.recvfrom(MAX_DATAGRAM)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # an error also in the error queue: read there, with its address
                self._errors()
                continue
            self._resolve(self.key(addr), (data, "data"))

    def _errors(self) -> None:
        for _ in range(256):
            try:
                _, ancillary, _, addr = self.sock.recvmsg(1, 512, socket.MSG_ERRQUEUE)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            for _, _, blob in ancillary:
                if len(blob) >= _EE.size and isinstance(addr, tuple):
                    code = _EE.unpack_from(blob)[0]
                    outcome: UdpOutcome = "refused" if code == errno.ECONNREFUSED else "error"
                    self._resolve(self.key(addr), (b"", outcome))

    async def send(self, payload: bytes, key: Key) -> None:
        for _ in range(SEND_TRIES):
            try:
                self.sock.sendto(payload, key)
                return
            except (BlockingIOError, InterruptedError):
                await asyncio.sleep(0.001)  # the send queue is full: a moment
            except OSError as e:
                if e.errno not in _LEFT_BY_EARLIER:
                    raise
        raise OSError(errno.EAGAIN, "could not send")

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.loop.remove_reader(self.sock.fileno())
        self.sock.close()


def _forget(table: dict[Key, list[asyncio.Future[Result]]], key: Key,
            fut: asyncio.Future[Result]) -> None:
    waiters = table.get(key)
    if waiters is not None and fut in waiters:
        waiters.remove(fut)
        if not waiters:
            del table[key]


class DatagramHub:
    """The shared sockets of a scan (opened on first use, closed by `close`)."""

    def __init__(self, registry: SocketRegistry | None = None) -> None:
        self._socks: dict[tuple[str, int], _ProbeSocket] = {}
        self.registry = registry  # told each socket a probe goes out on (watch: our traffic)

    def _socket(self, probe: str, ip: str) -> _ProbeSocket:
        family = socket.AF_INET6 if ":" in ip else socket.AF_INET
        s = self._socks.get((probe, family))
        if s is None or s.loop is not asyncio.get_running_loop():
            if s is not None:  # a socket of an event loop that has ended
                s.close()
            s = self._socks[(probe, family)] = _ProbeSocket(family)
        return s

    async def ask(self, probe: str, ip: str, port: int, payload: bytes, wait: float,
                  any_port: bool = False) -> tuple[bytes, UdpOutcome, float]:
        """Send `payload` to ip:port from `probe`'s socket; (reply, outcome, seconds since
        the send)."""
        try:
            s = (_ProbeSocket(socket.AF_INET6 if ":" in ip else socket.AF_INET, any_port=True)
                 if any_port else self._socket(probe, ip))
        except OSError:
            return b"", "error", 0.0
        if self.registry is not None:
            self.registry.add("udp", s.port, ip, port)
        key = s.key((ip, port))
        fut: asyncio.Future[Result] = s.loop.create_future()
        s.waiting.setdefault(key, []).append(fut)
        start = time.monotonic()
        try:
            try:
                await s.send(payload, (ip, port))
            except OSError:
                return b"", "error", time.monotonic() - start
            start = time.monotonic()
            try:
                async with asyncio.timeout(wait):
                    data, outcome = await fut
            except TimeoutError:
                return b"", "timeout", time.monotonic() - start
            return data[:MAX_DATAGRAM], outcome, time.monotonic() - start
        finally:
            if any_port:
                s.close()
            else:
                _forget(s.waiting, key, fut)

    def close(self) -> None:
        for s in self._socks.values():
            s.close()
        self._socks.clear()
