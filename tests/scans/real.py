"""Captures of real scanners for the scan tests: tcpdump on `lo` while nmap, masscan, zmap or
curl run against this test block only (targets 127.0.60.x, scanners 127.0.61.x; never
127.0.0.1, never port 2024). Needs root (raw sockets, packet capture)."""

from __future__ import annotations

import contextlib
import http.server
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from probescan.scans import ScanConfig, ScanDetector
from probescan.watch.capture import read_file
from tests.lab.traffic_tcpdump import _Tcpdump

BPF = "net 127.0.60.0/24 or net 127.0.61.0/24"
TARGET = "127.0.60.1"
MAC = ["--source-mac", "02-00-00-00-00-01", "--router-mac", "02-00-00-00-00-02"]


def need(*tools: str) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root: raw sockets and packet capture")
    for tool in ("tcpdump", *tools):
        if shutil.which(tool, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin") is None:
            pytest.skip(f"{tool} is not installed (scripts/install-test-deps)")


def nmap(*args: str, source: str = "127.0.61.1", target: str = TARGET) -> list[str]:
    return ["nmap", "-e", "lo", "-S", source, "-Pn", "-n", "--max-retries", "1", *args, target]


def masscan(ports: str, targets: str, source: str, rate: int = 2000) -> list[str]:
    return ["masscan", "--adapter", "lo", *MAC, "--source-ip", source, "-p", ports, targets,
            "--rate", str(rate), "--wait", "0"]


MASSCAN_TIMEOUT = 30.0  # its scans here send a few hundred packets at 2,000/s


def zmap(port: int, allow: Path, block: Path, source: str = "127.0.61.3") -> list[str]:
    return ["zmap", "-i", "lo", "-G", "00:00:00:00:00:00", "-S", source, "-p", str(port),
            "-w", str(allow), "-b", str(block), "-r", "2000", "-c", "0", "-q"]


def run(argv: Sequence[str], timeout: float = 180.0) -> None:
    """Run a scanner to its end. masscan on lo sometimes never leaves its final wait
    ("waiting -N-secs", forever, its packets long sent): after `timeout` it is stopped and
    what it sent (in the capture) stands; any other tool that overruns is an error."""
    try:
        subprocess.run(argv, check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, timeout=timeout)
    except subprocess.TimeoutExpired:
        if argv[0] != "masscan":
            raise


@contextlib.contextmanager
def capturing(path: Path) -> Iterator[Path]:
    dump = _Tcpdump(path, BPF)
    dump.wait_ready()
    try:
        yield path
        time.sleep(0.3)
    finally:
        dump.stop()


@contextlib.contextmanager
def listener(ip: str, port: int) -> Iterator[None]:
    """A TCP port that accepts connections (and closes them)."""
    sock = socket.create_server((ip, port))
    stop = threading.Event()

    def serve() -> None:
        sock.settimeout(0.2)
        while not stop.is_set():
            with contextlib.suppress(OSError):
                conn, _ = sock.accept()
                conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(2)
        sock.close()


@contextlib.contextmanager
def web_server(ip: str, port: int) -> Iterator[None]:
    """A local HTTP server with one page."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            body = b"<html><body>probescan test page</body></html>"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = http.server.ThreadingHTTPServer((ip, port), Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()


def detect(path: Path, config: ScanConfig | None = None) -> list[dict[str, Any]]:
    out: list[Any] = []
    d = ScanDetector(config or ScanConfig(), out.append)
    d.frames(read_file(path))
    d.finish()
    return [r.to_dict() for r in out]
