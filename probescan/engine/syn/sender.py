"""Sending SYNs in batches: `sendmmsg(2)` through ctypes, from a thread of its own when a core
is free.

Handing the kernel a packet costs far more than building it (on loopback the target's whole
answer is computed inside the send). The sweep writes a batch of packets straight into a
buffer the kernel reads (`Slot`) and `submit`s it. With a core to spare, a sender thread
passes the batch to `sendmmsg` in one call, during which Python's lock is free for the sweep
to read replies (a fixed number of slots bounds the pipeline: when none is free the sweep
backs off a moment); otherwise `submit` sends it at once, one system call per batch.

Where `sendmmsg` is missing (not glibc), packets go out one by one with `sendto`.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import queue
import socket
import struct
import sys
import threading
import time
from collections.abc import Callable

SLOT = 64  # bytes per packet in the batch buffer (an IPv6 SYN with its MSS option)
MAX_BATCH = 256  # packets per batch: the sweep's batch (engine/sweep.py BATCH)
IN_FLIGHT = 8  # batches queued or being sent
SWITCH_INTERVAL = 0.0005  # seconds: how long the sender may wait for Python's lock
_RETRY = frozenset({errno.EAGAIN, errno.ENOBUFS, errno.EINTR, errno.ENOMEM})


class _Iovec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]


class _Msghdr(ctypes.Structure):
    _fields_ = [("name", ctypes.c_void_p), ("namelen", ctypes.c_uint32),
                ("iov", ctypes.POINTER(_Iovec)), ("iovlen", ctypes.c_size_t),
                ("control", ctypes.c_void_p), ("controllen", ctypes.c_size_t),
                ("flags", ctypes.c_int)]


class _Mmsghdr(ctypes.Structure):
    _fields_ = [("hdr", _Msghdr), ("len", ctypes.c_uint)]


def _sendmmsg() -> Callable[..., int] | None:
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        fn = libc.sendmmsg
        fn.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_uint, ctypes.c_int]
        fn.restype = ctypes.c_int
        return fn
    return None


class Address:
    """A destination as the kernel reads it (sockaddr_in / sockaddr_in6), built once."""

    __slots__ = ("address", "buf", "ip", "length", "v6")

    def __init__(self, ip: str, v6: bool) -> None:
        self.ip, self.v6 = ip, v6
        if v6:
            packed = struct_v6(ip)
        else:
            packed = (struct.pack("=H", socket.AF_INET) + b"\0\0"
                      + socket.inet_pton(socket.AF_INET, ip) + bytes(8))
        self.buf = ctypes.create_string_buffer(packed, len(packed))
        self.address = ctypes.addressof(self.buf)
        self.length = len(packed)


def struct_v6(ip: str) -> bytes:
    """sockaddr_in6 of `ip` (port 0, no flow label; the scope id of a link-local name)."""
    addr, _, scope = ip.partition("%")
    scope_id = socket.if_nametoindex(scope) if scope and not scope.isdigit() else int(scope or 0)
    return (struct.pack("=H", socket.AF_INET6) + b"\0\0" + bytes(4)
            + socket.inet_pton(socket.AF_INET6, addr) + struct.pack("=I", scope_id))


class Slot:
    """One batch being filled by the sweep: packets copied into a buffer the kernel reads.
    `keep`: also keep each packet and its destination (for sending without sendmmsg)."""

    def __init__(self, keep: bool = True) -> None:
        self.keep = keep
        self.data = (ctypes.c_char * (SLOT * MAX_BATCH))()
        self.view = memoryview(self.data).cast("B")
        self.iov = (_Iovec * MAX_BATCH)()
        self.hdrs = (_Mmsghdr * MAX_BATCH)()
        base = ctypes.addressof(self.data)
        for i in range(MAX_BATCH):
            self.iov[i].base = base + i * SLOT
            self.hdrs[i].hdr.iov = ctypes.pointer(self.iov[i])
            self.hdrs[i].hdr.iovlen = 1
        self._dest: list[Address | None] = [None] * MAX_BATCH  # what each place was set to
        self.packets: list[tuple[bytes, Address]] = []  # for the fallback without sendmmsg
        self._runs: list[tuple[int, int, bool]] = []  # the runs of one family before the last
        self._start = 0  # where the last run starts
        self._v6: bool | None = None  # its family (None: no packet yet)
        self.n = 0

    @property
    def runs(self) -> list[tuple[int, int, bool]]:
        """(start, end, v6) of each run of packets of one family, in order."""
        if self._v6 is None:
            return []
        return [*self._runs, (self._start, self.n, self._v6)]

    def add(self, packet: bytes, dest: Address) -> None:
        i = self.n
        off = i * SLOT
        self.view[off:off + len(packet)] = packet
        if self._dest[i] is not dest:
            self._dest[i] = dest
            self.iov[i].len = len(packet)
            hdr = self.hdrs[i].hdr
            hdr.name = dest.address
            hdr.namelen = dest.length
        if dest.v6 is not self._v6:  # the family changes (or the first packet)
            if self._v6 is not None:
                self._runs.append((self._start, i, self._v6))
            self._start, self._v6 = i, dest.v6
        if self.keep:
            self.packets.append((packet, dest))
        self.n = i + 1

    def clear(self) -> None:
        self.n = 0
        self._runs = []
        self._start, self._v6 = 0, None
        self.packets = []


class Sender:
    """Sends the batches the sweep fills on the raw sockets `v4` and `v6` (blocking: only one
    thread uses them): from a thread of its own when `threaded` - Python's switch interval
    is then short, so the thread gets the lock back soon after each batch (restored on
    close) - or at once in `submit`."""

    def __init__(self, v4: socket.socket, v6: socket.socket, threaded: bool = True) -> None:
        self.threaded = threaded
        self._socks = (v4, v6)
        for s in self._socks:
            s.setblocking(True)
        self._mmsg = _sendmmsg()
        self._queue: queue.SimpleQueue[Slot | None] = queue.SimpleQueue()
        self._free: queue.SimpleQueue[Slot] = queue.SimpleQueue()
        for _ in range(IN_FLIGHT if threaded else 1):  # sent at once: one slot is enough
            self._free.put(Slot(keep=self._mmsg is None))
        self.errors = 0  # packets the kernel refused (they time out: filtered)
        self._interval = sys.getswitchinterval()
        self._thread: threading.Thread | None = None
        if threaded:
            sys.setswitchinterval(min(self._interval, SWITCH_INTERVAL))
            self._thread = threading.Thread(target=self._run, name="probescan-syn-sender",
                                            daemon=True)
            self._thread.start()

    def reserve(self) -> Slot | None:
        """An empty batch to fill, None when every one is queued or being sent."""
        try:
            return self._free.get_nowait()
        except queue.Empty:
            return None

    def submit(self, slot: Slot) -> None:
        """Send the batch (an empty one just goes back)."""
        if slot.n and self._thread is not None:
            self._queue.put(slot)
            return
        if slot.n:
            try:
                self._send(slot)
            except OSError:
                self.errors += slot.n
            slot.clear()
        self._free.put(slot)

    def close(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=5)
            sys.setswitchinterval(self._interval)

    def _run(self) -> None:
        while (slot := self._queue.get()) is not None:
            try:
                self._send(slot)
            except OSError:
                self.errors += slot.n
            finally:
                slot.clear()
                self._free.put(slot)

    def _send(self, slot: Slot) -> None:
        if self._mmsg is None:
            for packet, dest in slot.packets:
                try:
                    self._socks[dest.v6].sendto(packet, (dest.ip, 0))
                except OSError:
                    self.errors += 1
            return
        first, size = ctypes.addressof(slot.hdrs), ctypes.sizeof(_Mmsghdr)
        for start, end, v6 in slot.runs:
            fd = self._socks[v6].fileno()
            at = start
            while at < end:
                sent = self._mmsg(fd, first + at * size, end - at, 0)
                if sent > 0:
                    at += sent
                    continue
                err = ctypes.get_errno()
                if err in _RETRY:
                    time.sleep(0.001)
                    continue
                self.errors += 1  # this packet is refused (no route, not permitted)
                at += 1
