"""Small fake servers in threads for the CLI tests, on the block 127.0.80.x: a banner, an
HTTP reply, accept-then-reset, a slow drip, a request/reply protocol, a silent UDP port."""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

Handler = Callable[[socket.socket, threading.Event], None]


def banner(text: bytes) -> Handler:
    def handle(conn: socket.socket, stop: threading.Event) -> None:
        with contextlib.suppress(OSError):
            conn.sendall(text)
        stop.wait(5)
    return handle


def reply(request: bytes, answer: bytes) -> Handler:
    """Answer `answer` once the client sent something starting with `request`."""
    def handle(conn: socket.socket, stop: threading.Event) -> None:
        conn.settimeout(0.2)
        got = b""
        while not stop.is_set() and len(got) < 4096:
            try:
                chunk = conn.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            if not chunk:
                return
            got += chunk
            if got.startswith(request):
                with contextlib.suppress(OSError):
                    conn.sendall(answer)
                return
    return handle


def reset(conn: socket.socket, stop: threading.Event) -> None:
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()


def drip(conn: socket.socket, stop: threading.Event) -> None:
    for b in b"220 a slow greeting that takes its time":
        if stop.wait(0.3):
            return
        with contextlib.suppress(OSError):
            conn.sendall(bytes([b]))


@dataclass
class Servers:
    stop: threading.Event = field(default_factory=threading.Event)
    socks: list[socket.socket] = field(default_factory=list)
    threads: list[threading.Thread] = field(default_factory=list)

    def tcp(self, ip: str, handle: Handler) -> int:
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((ip, 0))
        s.listen(64)
        s.settimeout(0.1)
        self.socks.append(s)

        def serve() -> None:
            while not self.stop.is_set():
                try:
                    conn, _ = s.accept()
                except OSError:
                    continue
                self.socks.append(conn)
                t = threading.Thread(target=handle, args=(conn, self.stop), daemon=True)
                t.start()

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        self.threads.append(thread)
        return int(s.getsockname()[1])

    def closed(self, ip: str) -> int:
        """A port nothing listens on (bound, then closed)."""
        s = socket.socket()
        s.bind((ip, 0))
        port = int(s.getsockname()[1])
        s.close()
        return port

    def silent_udp(self, ip: str) -> int:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((ip, 0))
        self.socks.append(s)
        return int(s.getsockname()[1])

    def close(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(2)
        for s in self.socks:
            with contextlib.suppress(OSError):
                s.close()


@contextlib.contextmanager
def servers() -> Iterator[Servers]:
    s = Servers()
    try:
        yield s
    finally:
        s.close()
