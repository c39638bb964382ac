"""More hostile servers (tests/engine/test_faults.py has the first ones), on 127.0.80.x: a
record each, the right or no name, bounded time and memory.

* a port that accepts and resets at once: `tcpwrapped`, open, never a missing record;
* a spent time budget: `reason` host-timeout, what was read so far kept;
* DNS over TCP, which answers nothing but DNS: named within the default budget;
* 300 ports that accept and never answer; a UDP server answering 100-fold; TLS that stalls
  after its ServerHello; a 50 MB flood.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import socket
import struct
import subprocess
import sys
import threading
import time
import tracemalloc
from collections.abc import Iterator

import pytest

from probescan.catalog import Catalog, load_fingerprints, load_probes
from probescan.config import Config
from probescan.engine.scan import scan
from probescan.model import Endpoint, ServiceRecord

FAST = Config(connect_timeout=0.5, retries=0, banner_wait=0.6, probe_wait=0.6, idle_gap=0.2,
              endpoint_budget=4.0, max_read=4096, parallel_probes=8)
CATALOG = Catalog(load_probes(), load_fingerprints())
DNSMASQ_REPLY = bytes.fromhex(
    "5053 8480 0001 0001 0000 0000 0776657273696f6e 0462696e64 00 0010 0003 c00c 0010 0003"
    " 00000000 000d 0c 646e736d6173712d322e3930".replace(" ", ""))


def run_scan(eps: list[Endpoint], config: Config = FAST) -> tuple[list[ServiceRecord], float]:
    got: list[ServiceRecord] = []
    t0 = time.monotonic()
    asyncio.run(scan(eps, config, CATALOG, got.append))
    return got, time.monotonic() - t0


@contextlib.contextmanager
def thread_server(ip: str, handle: object, count: int = 1) -> Iterator[list[int]]:
    """`count` listening TCP sockets on `ip`; each accepted connection goes to
    `handle(conn)` in its own thread."""
    socks = []
    for _ in range(count):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((ip, 0))
        s.listen(128)
        s.settimeout(0.1)
        socks.append(s)
    stop = threading.Event()
    held: list[socket.socket] = []

    def serve(s: socket.socket) -> None:
        while not stop.is_set():
            try:
                conn, _ = s.accept()
            except OSError:
                continue
            held.append(conn)
            threading.Thread(target=handle, args=(conn, stop), daemon=True).start()  # type: ignore[arg-type]

    threads = [threading.Thread(target=serve, args=(s,), daemon=True) for s in socks]
    for t in threads:
        t.start()
    try:
        yield [s.getsockname()[1] for s in socks]
    finally:
        stop.set()
        for t in threads:
            t.join(2)
        for c in [*held, *socks]:
            with contextlib.suppress(OSError):
                c.close()


def reset_at_once(conn: socket.socket, stop: threading.Event) -> None:
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()


def test_accept_then_reset_is_tcpwrapped_every_time() -> None:
    with thread_server("127.0.80.21", reset_at_once, count=6) as ports:
        records, secs = run_scan([Endpoint("127.0.80.21", p) for p in ports])
    assert len(records) == len(ports)
    for r in records:
        assert (r.state, r.service, r.why) == ("open", "tcpwrapped", "syn-ack"), r
    assert secs < FAST.endpoint_budget + 1


def drip_banner(conn: socket.socket, stop: threading.Event) -> None:
    for b in b"220 a very slow mail server that never ends its greeting":
        if stop.wait(0.2):
            return
        with contextlib.suppress(OSError):
            conn.sendall(bytes([b]))


def test_a_spent_budget_says_so_and_keeps_what_was_read() -> None:
    config = dataclasses.replace(FAST, banner_wait=5, probe_wait=5, idle_gap=2,
                                 endpoint_budget=1.5)
    with thread_server("127.0.80.22", drip_banner) as (port,):
        (record,), secs = run_scan([Endpoint("127.0.80.22", port)], config)
    assert record.state == "open"
    assert record.reason == "host-timeout" and record.to_dict()["reason"] == "host-timeout"
    assert record.error == "endpoint time budget exhausted"
    assert any(e.raw.startswith(b"220 a") for e in record.unmatched), record.unmatched
    assert secs < config.endpoint_budget + 1


def dns_over_tcp(conn: socket.socket, stop: threading.Event) -> None:
    """A DNS server on TCP: a two-byte length, then that many bytes; anything else is read
    as a (long) length and waited for, as real servers do."""
    conn.settimeout(0.2)
    buf = b""
    while not stop.is_set():
        try:
            chunk = conn.recv(4096)
        except TimeoutError:
            continue
        except OSError:
            return
        if not chunk:
            return
        buf += chunk
        if len(buf) >= 2 and len(buf) >= 2 + int.from_bytes(buf[:2], "big"):
            query = buf[2:2 + int.from_bytes(buf[:2], "big")]
            if query[:2] == b"PS":
                conn.sendall(len(DNSMASQ_REPLY).to_bytes(2, "big") + DNSMASQ_REPLY)
            buf = b""


def test_dns_over_tcp_is_named_within_the_default_budget() -> None:
    default = Config()
    with thread_server("127.0.80.23", dns_over_tcp) as (port,):
        (record,), secs = run_scan([Endpoint("127.0.80.23", port)], default)
    assert (record.service, record.product, record.version) == ("dns", "dnsmasq", "2.90")
    assert record.why == "syn-ack" and record.error is None
    assert secs < default.endpoint_budget


HOLD_PORTS = """
import socket, sys, time
socks = []
for _ in range(300):
    s = socket.socket(); s.bind(("127.0.80.24", 0)); s.listen(512); socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks), flush=True)
import selectors
sel = selectors.DefaultSelector()
for s in socks:
    sel.register(s, selectors.EVENT_READ)
held = []
while True:
    for key, _ in sel.select(1):
        held.append(key.fileobj.accept()[0])
"""


def test_300_ports_that_accept_and_never_answer() -> None:
    holder = subprocess.Popen([sys.executable, "-c", HOLD_PORTS], stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout is not None
        ports = [int(p) for p in holder.stdout.readline().split()]
        assert len(ports) == 300
        tracemalloc.start()
        records, secs = run_scan([Endpoint("127.0.80.24", p) for p in ports])
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    finally:
        holder.kill()
        holder.wait()
    assert len(records) == 300
    assert {r.state for r in records} == {"open"}
    assert all(r.service in ("unknown", None) or r.method == "table" for r in records)
    assert secs < 3 * FAST.endpoint_budget, secs
    assert peak < 64 * 1024 * 1024, peak


def test_a_udp_server_answering_a_hundredfold() -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.80.25", 0))
    sock.settimeout(0.1)
    port = sock.getsockname()[1]
    stop = threading.Event()
    sent = [0]

    def serve() -> None:
        while not stop.is_set():
            try:
                data, peer = sock.recvfrom(4096)
            except (TimeoutError, OSError):
                continue
            reply = data[:2] + DNSMASQ_REPLY[2:] if data[:2] == b"PS" else data
            for _ in range(100):
                with contextlib.suppress(OSError):
                    sock.sendto(reply, peer)
                    sent[0] += 1

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        records, secs = run_scan([Endpoint("127.0.80.25", port, "udp")])
    finally:
        stop.set()
        thread.join(2)
        sock.close()
    assert len(records) == 1 and sent[0] >= 100
    (record,) = records
    assert (record.state, record.service, record.product) == ("open", "dns", "dnsmasq")
    assert secs < FAST.endpoint_budget + 1


def stall_after_server_hello(conn: socket.socket, stop: threading.Event) -> None:
    conn.settimeout(2)
    with contextlib.suppress(OSError):
        if conn.recv(5)[:1] != b"\x16":
            stop.wait(3)
            return
        body = (b"\x03\x03" + os.urandom(32) + b"\x00" + b"\x00\x2f" + b"\x00")
        hello = b"\x02" + len(body).to_bytes(3, "big") + body
        conn.sendall(b"\x16\x03\x03" + len(hello).to_bytes(2, "big") + hello)
        stop.wait(10)  # no Certificate, no ServerHelloDone: the handshake never ends


def test_tls_that_stalls_after_server_hello() -> None:
    with thread_server("127.0.80.26", stall_after_server_hello) as (port,):
        (record,), secs = run_scan([Endpoint("127.0.80.26", port)])
    assert record.state == "open" and record.tls is None
    assert secs < FAST.endpoint_budget + 1


FLOOD_BLOCK = b"A" * (1 << 20)  # made once: the server's memory is not the scanner's


def flood(conn: socket.socket, stop: threading.Event) -> None:
    block = FLOOD_BLOCK
    with contextlib.suppress(OSError):
        for _ in range(50):  # 50 MB if anyone read it all
            if stop.is_set():
                return
            conn.sendall(block)


@pytest.mark.timeout(60)
def test_a_50_mb_flood_keeps_memory_bounded() -> None:
    with thread_server("127.0.80.27", flood) as (port,):
        tracemalloc.start()
        (record,), secs = run_scan([Endpoint("127.0.80.27", port)])
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert record.state == "open"
    assert all(len(e.raw) <= FAST.max_read for e in (*record.evidence, *record.unmatched))
    assert peak < 8 * 1024 * 1024, peak
    assert secs < FAST.endpoint_budget + 1
