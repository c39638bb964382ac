"""Small fake servers for the cluster tests (no Debian servers needed): banner servers that
probescan names (SSH, FTP), a plain HTTP server, and silent ones that make a shard slow.
Threads in the test process, on the cluster tests' own addresses (127.1.0.x)."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator

REPLIES: dict[str, tuple[bytes, bytes]] = {  # kind -> (banner sent at once, reply to a request)
    "ssh": (b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n", b""),
    "ftp": (b"220 (vsFTPd 3.0.3)\r\n", b""),
    "http": (b"", b"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nContent-Length: 0\r\n"
                  b"Connection: close\r\n\r\n"),
    "silent": (b"", b""),
}
EXPECTED = {"ssh": ("ssh", "OpenSSH", "9.2p1"), "ftp": ("ftp", "vsftpd", "3.0.3"),
            "http": ("http", "nginx", "1.22.1")}


class FakeServers:
    """Listens on every (ip, port, kind) given; `close()` stops them all."""

    def __init__(self, entries: list[tuple[str, int, str]]) -> None:
        self.stop = threading.Event()
        self.held: list[socket.socket] = []
        self.listeners: list[socket.socket] = []
        self.threads: list[threading.Thread] = []
        for ip, port, kind in entries:
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((ip, port))
            sock.listen(128)
            sock.settimeout(0.2)
            self.listeners.append(sock)
            t = threading.Thread(target=self._serve, args=(sock, kind), daemon=True)
            t.start()
            self.threads.append(t)

    def _serve(self, sock: socket.socket, kind: str) -> None:
        banner, reply = REPLIES[kind]
        while not self.stop.is_set():
            try:
                conn, _ = sock.accept()
            except OSError:
                continue
            self.held.append(conn)
            if banner or reply:
                threading.Thread(target=self._talk, args=(conn, banner, reply),
                                 daemon=True).start()

    def _talk(self, conn: socket.socket, banner: bytes, reply: bytes) -> None:
        with contextlib.suppress(OSError):
            conn.settimeout(5)
            if banner:
                conn.sendall(banner)
            if reply and conn.recv(4096):
                conn.sendall(reply)
                conn.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(2)
        for s in [*self.held, *self.listeners]:
            with contextlib.suppress(OSError):
                s.close()


@contextlib.contextmanager
def fake_servers(entries: list[tuple[str, int, str]]) -> Iterator[FakeServers]:
    servers = FakeServers(entries)
    try:
        yield servers
    finally:
        servers.close()
