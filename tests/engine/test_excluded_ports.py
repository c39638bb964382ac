"""Printers' raw ports (9100-9107, and nmap's Exclude list) get no probes unless --allports."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest

HOST = "127.0.3.10"


@pytest.fixture
def printer() -> Iterator[list[bytes]]:
    """A fake JetDirect port that records what each connection sent."""
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((HOST, 9100))
    srv.listen(16)
    srv.settimeout(0.2)
    received: list[bytes] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except OSError:
                continue
            conn.settimeout(1.5)
            try:
                received.append(conn.recv(4096))
            except OSError:
                received.append(b"")
            conn.close()

    t = threading.Thread(target=serve)
    t.start()
    yield received
    stop.set()
    t.join(3)
    srv.close()


def scan(*extra: str) -> dict[str, object]:
    out = subprocess.run([sys.executable, "-m", "probescan", "scan", HOST, "-p", "9100",
                          "--json", "--no-nmap-db", "--host-timeout", "5", *extra],
                         capture_output=True, text=True, timeout=60).stdout
    record: dict[str, object] = json.loads(out.splitlines()[0])
    return record


def test_a_printer_port_is_found_open_but_sent_nothing(printer: list[bytes]) -> None:
    record = scan()
    assert record["state"] == "open"
    assert record["method"] == "table"
    assert "excluded port" in str(record["error"])
    assert not any(printer), f"the printer port received {printer}"


def test_allports_probes_it_anyway(printer: list[bytes]) -> None:
    record = scan("--allports")
    assert record["state"] == "open"
    assert any(printer), "with --allports the probes reach the port"
