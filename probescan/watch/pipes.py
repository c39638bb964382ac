"""A worker process that answers pickled requests in order, over two pipes.

The parent side (`Worker`) runs without helper threads: it writes requests and reads replies
without blocking whenever it passes by (`pump`), and waits in `select` only when it must
(`wait`). A thread per direction (what concurrent.futures uses) costs the parent a hand-over
of the interpreter lock per batch, several milliseconds each when its own thread is busy.
Each message is an 8-byte length and a pickle. A request the worker fails on is answered
with None; a worker that dies (its pipe ends: EOF, EPIPE) fails every request it still held.
"""

from __future__ import annotations

import contextlib
import fcntl
import multiprocessing
import os
import pickle
import select
import struct
from collections import deque
from collections.abc import Callable
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

HEADER = struct.Struct("!Q")
PIPE_SIZE = 1 << 20  # bytes a pipe holds (Linux; best effort): room for a worker's backlog
READ_CHUNK = 1 << 20
JOIN_TIMEOUT = 10.0  # seconds a worker gets to exit after its last request
_F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)
FAILED = object()  # the reply of a request the worker could not answer


def serve(requests: Connection, replies: Connection, handle: Callable[[Any], Any]) -> None:
    """The worker's loop: each request unpickled, handled, its reply pickled back, in order
    (None when handling or pickling it failed); returns at the end of the requests."""
    fin, fout = requests.fileno(), replies.fileno()
    while True:
        head = _read_exact(fin, HEADER.size)
        body = _read_exact(fin, HEADER.unpack(head)[0]) if head is not None else None
        if body is None:
            return
        try:
            data = pickle.dumps(handle(pickle.loads(body)), pickle.HIGHEST_PROTOCOL)
        except Exception:  # a bug must not end the worker: the parent handles it itself
            data = pickle.dumps(None)
        try:
            _write_all(fout, HEADER.pack(len(data)) + data)
        except OSError:  # the parent is gone
            return


def _read_exact(fd: int, n: int) -> bytes | None:
    parts, left = [], n
    while left:
        chunk = os.read(fd, min(left, READ_CHUNK))
        if not chunk:
            return None
        parts.append(chunk)
        left -= len(chunk)
    return b"".join(parts)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _grow(fd: int) -> None:
    with contextlib.suppress(OSError):
        fcntl.fcntl(fd, _F_SETPIPE_SZ, PIPE_SIZE)


class Worker:
    """One worker process running `target(requests, replies, *args)` (which calls `serve`).
    Each request sent goes with a tag (a list): the reply is stored in `tag[1]` when it comes
    back (FAILED if it cannot come)."""

    def __init__(self, target: Callable[..., None], args: tuple[Any, ...]) -> None:
        ctx = multiprocessing.get_context("spawn")
        req_r, req_w = ctx.Pipe(duplex=False)
        rep_r, rep_w = ctx.Pipe(duplex=False)
        self.process: BaseProcess = ctx.Process(
            target=target, args=(req_r, rep_w, *args), name="probescan-identify", daemon=True)
        self.process.start()
        req_r.close()
        rep_w.close()
        self._conns = (req_w, rep_r)
        self._out_fd, self._in_fd = req_w.fileno(), rep_r.fileno()
        for fd in (self._out_fd, self._in_fd):
            _grow(fd)
            os.set_blocking(fd, False)
        self._out = bytearray()
        self._in = bytearray()
        self.tags: deque[list[Any]] = deque()  # requests sent, replies not yet read
        self.alive = True

    def send(self, request: Any, tag: list[Any]) -> None:
        data = pickle.dumps(request, pickle.HIGHEST_PROTOCOL)
        self._out += HEADER.pack(len(data))
        self._out += data
        self.tags.append(tag)
        self.pump()

    def pump(self) -> None:
        """Write what the request pipe takes, read what replies came; never blocks."""
        if not self.alive:
            return
        try:
            while self._out:
                del self._out[:os.write(self._out_fd, self._out)]
        except BlockingIOError:
            pass
        except OSError:  # EPIPE: the worker is gone
            self._die()
            return
        try:
            while True:
                chunk = os.read(self._in_fd, READ_CHUNK)
                if not chunk:
                    self._die()
                    return
                self._in += chunk
        except BlockingIOError:
            pass
        except OSError:
            self._die()
            return
        self._parse()

    def _parse(self) -> None:
        buf, at = self._in, 0
        while len(buf) - at >= HEADER.size:
            n = HEADER.unpack_from(buf, at)[0]
            if len(buf) - at - HEADER.size < n:
                break
            at += HEADER.size
            reply = pickle.loads(memoryview(buf)[at:at + n])
            at += n
            self.tags.popleft()[1] = FAILED if reply is None else reply
        del buf[:at]

    def wait(self, timeout: float = 1.0) -> None:
        """Block until a reply may have come (or the request pipe has room), then pump."""
        if not self.alive:
            return
        writable = [self._out_fd] if self._out else []
        ready = select.select([self._in_fd], writable, [], timeout)
        if not (ready[0] or ready[1]) and not self.process.is_alive():
            self._die()
            return
        self.pump()

    def _die(self) -> None:
        self.alive = False
        while self.tags:
            self.tags.popleft()[1] = FAILED
        self._out.clear()
        for conn in self._conns:
            conn.close()

    def close(self) -> None:
        """End of the requests: the worker exits (made to, if it does not within
        JOIN_TIMEOUT); replies still owed are failed."""
        if self.alive:
            self._die()
        self.process.join(JOIN_TIMEOUT)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
