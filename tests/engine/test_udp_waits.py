"""UDP: a silent port costs one bounded wait, silent ports wait side by side, a closed port
and a port that answers cost much less (engine/udp.py). Servers on 127.0.70.x."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Iterator

from probescan.catalog import build_catalog
from probescan.config import Config
from probescan.engine.scan import scan
from probescan.engine.udp import REPLY_GRACE
from probescan.model import Endpoint, ServiceRecord

HOST = "127.0.70.30"
CATALOG = build_catalog(None)


@contextlib.contextmanager
def udp_sockets(n: int, answer: bool = False) -> Iterator[list[int]]:
    """n bound UDP sockets on HOST (silent, or answering every datagram with junk)."""
    socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(n)]
    stop = threading.Event()
    for s in socks:
        s.bind((HOST, 0))
        s.settimeout(0.1)

    def serve(s: socket.socket) -> None:
        while not stop.is_set():
            try:
                _, peer = s.recvfrom(65535)
            except (TimeoutError, OSError):
                continue
            with contextlib.suppress(OSError):
                s.sendto(b"\x00\x01nothing anyone knows\x00", peer)

    threads = [threading.Thread(target=serve, args=(s,), daemon=True) for s in socks] \
        if answer else []
    for t in threads:
        t.start()
    try:
        yield [s.getsockname()[1] for s in socks]
    finally:
        stop.set()
        for t in threads:
            t.join()
        for s in socks:
            s.close()


def run(ports: list[int], wait: float) -> tuple[float, list[ServiceRecord]]:
    got: list[ServiceRecord] = []
    t0 = time.monotonic()
    asyncio.run(scan([Endpoint(HOST, p, "udp") for p in ports],
                     Config(probe_wait=wait), CATALOG, got.append))
    return time.monotonic() - t0, got


def test_a_silent_port_costs_one_bounded_wait() -> None:
    with udp_sockets(1) as ports:
        secs, (record,) = run(ports, 0.6)
    assert record.state == "open|filtered"
    assert 0.55 <= secs < 0.6 * 1.6  # one wait, not one per wave of probes


def test_silent_ports_of_one_host_wait_side_by_side() -> None:
    with udp_sockets(40) as ports:
        secs, records = run(ports, 0.6)
    assert len(records) == 40 and {r.state for r in records} == {"open|filtered"}
    assert secs < 0.6 * 2.5  # 40 ports x 21 probes: far beyond one host's cap, yet one wait


def test_a_closed_port_is_known_at_once() -> None:
    with udp_sockets(1) as (port,):
        pass  # free again: the kernel answers port unreachable
    secs, (record,) = run([port], 2.0)
    assert record.state == "closed" and secs < 1.0


def test_a_port_that_answers_waits_only_a_grace_for_the_others() -> None:
    with udp_sockets(1, answer=True) as ports:
        secs, (record,) = run(ports, 2.5)
    assert record.state == "open"
    assert secs < REPLY_GRACE + 1.0  # not the 2.5 s the silent probes would take
