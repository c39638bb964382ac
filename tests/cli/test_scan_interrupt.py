"""SIGTERM or Ctrl-C in the middle of a scan stops it cleanly and keeps every record found."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

HOST = "127.0.3.2"


@pytest.fixture
def servers() -> Iterator[tuple[int, int]]:
    """A fast SSH-like banner server and a server that accepts and never says anything."""
    fast, slow = socket.socket(), socket.socket()
    for s in (fast, slow):
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((HOST, 0))
        s.listen(64)
        s.settimeout(0.2)
    held: list[socket.socket] = []
    stop = threading.Event()

    def serve(sock: socket.socket, banner: bytes) -> None:
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
            except OSError:
                continue
            if banner:
                conn.sendall(banner)
            held.append(conn)

    threads = [threading.Thread(target=serve, args=(fast, b"SSH-2.0-OpenSSH_9.2p1\r\n")),
               threading.Thread(target=serve, args=(slow, b""))]
    for t in threads:
        t.start()
    try:
        yield fast.getsockname()[1], slow.getsockname()[1]
    finally:
        stop.set()
        for t in threads:
            t.join(2)
        for c in [*held, fast, slow]:
            c.close()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_mid_scan_keeps_records_already_found(
    servers: tuple[int, int], tmp_path: Path, sig: signal.Signals
) -> None:
    fast, slow = servers
    out, xml = tmp_path / "scan.jsonl", tmp_path / "scan.xml"
    proc = subprocess.Popen(
        [sys.executable, "-m", "probescan", "scan", HOST, "-p", f"{fast},{slow}", "-o", str(out),
         "-oX", str(xml), "--quiet", "--no-nmap-db", "--banner-wait", "30",
         "--host-timeout", "60"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not (out.exists() and out.read_text().strip()):
        time.sleep(0.1)
    assert out.read_text().strip(), "the fast server's record should be written as found"
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["port"], r["service"]) for r in records] == [(fast, "ssh")]
    ports = [p.get("portid") for p in ET.parse(xml).getroot().iter("port")]
    assert ports == [str(fast)]
    finished = ET.parse(xml).getroot().find("runstats/finished")
    assert finished is not None and finished.get("exit") == "error"
