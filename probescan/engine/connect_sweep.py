"""The connect sweep: which TCP ports accept a connection, for any user.

Non-blocking sockets driven directly by one epoll object in batches (engine/sweep.py is the
loop and the limits), not one asyncio stream per port:

* `connect()` starts the handshake; a second `connect()` to the same address at once asks
  how it went (the classic non-blocking idiom): refused (closed), already connected (open),
  or still in progress. A local or nearby host has usually answered by then, so most ports
  cost two system calls and no event at all.
* A socket whose connection was refused is clean again and connects the next port: no
  socket is created or closed for a closed port.
* One still in progress waits in epoll; when it becomes writable (or fails) the same second
  `connect()` says how it went.
* An accepted connection is closed at once with a reset (SO_LINGER 0): the server sees a
  connection opened and reset, and no TIME_WAIT is left behind.
"""

from __future__ import annotations

import errno
import itertools
import os
import select
import socket
import struct
import time
from collections.abc import Hashable

from probescan.config import Config
from probescan.engine.limits import RateLimiter
from probescan.engine.sweep import BATCH, Backoff, Sweep, SweepState, Verdict
from probescan.model import Endpoint

_STREAM = socket.SOCK_STREAM | getattr(socket, "SOCK_NONBLOCK", 0)
_LINGER_RESET = struct.pack("ii", 1, 0)
_PENDING = frozenset({errno.EINPROGRESS, errno.EALREADY})
_OPEN = frozenset({0, errno.EISCONN})
_UNREACHABLE = frozenset({errno.ENETUNREACH, errno.EHOSTUNREACH})
_EXHAUSTED = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM,
                        errno.EADDRNOTAVAIL, errno.EAGAIN})
_SPARE_MAX = 64  # clean sockets kept for the next ports, per family


class ConnectSweep(Sweep):
    def __init__(self, config: Config, on_verdict: Verdict,
                 pacer: RateLimiter | None = None) -> None:
        super().__init__(config, on_verdict, pacer)
        self._epoll = select.epoll()
        self._spare: dict[int, list[socket.socket]] = {socket.AF_INET: [],
                                                       socket.AF_INET6: []}
        # pending connections: fd -> (socket, endpoint, key); key -> fd
        self._socks: dict[int, tuple[socket.socket, Endpoint, int]] = {}
        self._fds: dict[int, int] = {}
        self._keys = itertools.count()

    def _socket(self, family: int) -> socket.socket:
        spare = self._spare[family]
        if spare:
            return spare.pop()
        try:
            s = socket.socket(family, _STREAM)
        except OSError as e:
            if e.errno in _EXHAUSTED:
                raise Backoff from e
            raise
        if not _STREAM & getattr(socket, "SOCK_NONBLOCK", 0):
            s.setblocking(False)
        return s

    def _send(self, ep: Endpoint, attempt: int) -> Hashable | None:
        family = socket.AF_INET6 if ":" in ep.ip else socket.AF_INET
        spare = self._spare[family]
        s = spare.pop() if spare else self._socket(family)
        addr = (ep.ip, ep.port)
        t0 = time.monotonic()
        try:
            r = s.connect_ex(addr)
            if r in _PENDING:
                r = s.connect_ex(addr)
        except OSError as e:  # a name or address connect() cannot take
            s.close()
            self.on_verdict(ep, "filtered", 0.0, e.strerror or str(e))
            return None
        if r == errno.ECONNREFUSED:  # the usual case, at once: closed, the socket clean again
            spare.append(s)
            self.on_verdict(ep, "closed", time.monotonic() - t0, None)
            return None
        if r in _PENDING:
            key = next(self._keys)
            fd = s.fileno()
            self._socks[fd] = (s, ep, key)
            self._fds[key] = fd
            self._epoll.register(fd, select.EPOLLOUT)
            return key
        if r in _EXHAUSTED:
            s.close()
            raise Backoff
        state, detail = self._settle(s, family, r)
        self.on_verdict(ep, state, time.monotonic() - t0, detail)
        return None

    def _settle(self, s: socket.socket, family: int, r: int) -> tuple[SweepState, str | None]:
        """What the connect() result `r` says; the socket is kept for the next port (refused)
        or closed (anything else)."""
        if r == errno.ECONNREFUSED:
            spare = self._spare[family]
            if len(spare) < _SPARE_MAX:
                spare.append(s)
            else:
                s.close()
            return "closed", None
        if r == errno.ECONNRESET:  # the handshake completed, then the server reset: open, as
            s.close()              # nmap -sT says (the prober then sees what it is: tcpwrapped)
            return "open", None
        if r in _OPEN:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
            s.close()
            return "open", None
        s.close()
        if r in _UNREACHABLE:
            return "filtered", None
        return "filtered", os.strerror(r)

    def _collect(self) -> int:
        events = self._epoll.poll(0, BATCH)
        for fd, _ in events:
            s, ep, key = self._socks[fd]
            r = s.connect_ex((ep.ip, ep.port))
            if r in _PENDING:
                continue  # woken early: still waiting
            del self._socks[fd]
            del self._fds[key]
            self._epoll.unregister(fd)
            state, detail = self._settle(s, s.family, r)
            self._complete(key, state, detail)
        return len(events)

    def _abandon(self, key: Hashable) -> None:
        assert isinstance(key, int)
        fd = self._fds.pop(key)
        s, _, _ = self._socks.pop(fd)
        self._epoll.unregister(fd)
        s.close()

    def _fileno(self) -> int:
        return self._epoll.fileno()

    def _close(self) -> None:
        for s, _, _ in self._socks.values():
            s.close()
        for spare in self._spare.values():
            for s in spare:
                s.close()
        self._socks.clear()
        self._fds.clear()
        self._epoll.close()
