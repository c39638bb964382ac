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


def test_silent_ports_hold_no_descriptor_of_the_cap() -> None:
    got: list[ServiceRecord] = []
    with udp_sockets(30) as ports:
        t0 = time.monotonic()
        asyncio.run(scan([Endpoint(HOST, p, "udp") for p in ports],
                         Config(probe_wait=0.6, concurrency=8), CATALOG, got.append))
        secs = time.monotonic() - t0
    assert len(got) == 30 and secs < 0.6 * 2.5  # 30 x 21 probes waiting on a cap of 8


def test_open_closed_and_silent_ports_at_once_each_get_their_own_answer() -> None:
    with udp_sockets(1) as (closed_port,):
        pass
    with udp_sockets(2, answer=True) as answering, udp_sockets(2) as silent:
        _, records = run([closed_port, *answering, *silent], 0.6)
    states = {r.endpoint.port: r.state for r in records}
    assert states == {closed_port: "closed", answering[0]: "open", answering[1]: "open",
                      silent[0]: "open|filtered", silent[1]: "open|filtered"}


def test_a_reply_from_another_port_counts_only_for_any_port_probes() -> None:
    from probescan.engine.datagrams import DatagramHub

    target = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    other = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    target.bind((HOST, 0))
    other.bind((HOST, 0))

    def answer_from_other_port() -> None:
        for _ in range(2):
            _, peer = target.recvfrom(100)
            other.sendto(b"from elsewhere", peer)

    threading.Thread(target=answer_from_other_port, daemon=True).start()

    async def ask(any_port: bool) -> tuple[bytes, str, float]:
        hub = DatagramHub()
        try:
            return await hub.ask("p", HOST, target.getsockname()[1], b"?", 0.5, any_port)
        finally:
            hub.close()

    try:
        assert asyncio.run(ask(False))[:2] == (b"", "timeout")
        assert asyncio.run(ask(True))[:2] == (b"from elsewhere", "data")
    finally:
        target.close()
        other.close()
