"""Hostile or broken servers give a record within the time bounds; nothing crashes or grows.

These fakes do what no real server does on purpose: stay silent, talk forever, reset, send
garbage, trickle one byte at a time, break the TLS handshake, or flood.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable

from probescan.catalog import Catalog, build_catalog, load_fingerprints, load_probes
from probescan.catalog.nmap import find_nmap_db
from probescan.config import Config
from probescan.engine.scan import scan
from probescan.model import Endpoint, ServiceRecord
from tests.conftest import lab_unavailable

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
FAST = Config(
    connect_timeout=0.5, retries=0, banner_wait=0.6, probe_wait=0.6, idle_gap=0.2,
    endpoint_budget=4.0, max_read=4096, parallel_probes=8,
)
CATALOG = Catalog(load_probes(), load_fingerprints())
HOST = "127.0.3.1"


@contextlib.asynccontextmanager
async def fake_server(handler: Handler) -> AsyncIterator[int]:
    writers: list[asyncio.StreamWriter] = []

    async def wrapped(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        with contextlib.suppress(Exception):
            await handler(reader, writer)
        with contextlib.suppress(Exception):
            writer.close()

    server = await asyncio.start_server(wrapped, HOST, 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield port
    finally:
        server.close()
        for w in writers:
            w.transport.abort()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(server.wait_closed(), 1)


async def scan_one(port: int, config: Config = FAST) -> tuple[ServiceRecord, float]:
    got: list[ServiceRecord] = []
    t0 = time.monotonic()
    await scan([Endpoint(HOST, port)], config, CATALOG, got.append)
    assert len(got) == 1
    return got[0], time.monotonic() - t0


async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await asyncio.sleep(30)


async def endless_banner(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while True:
        writer.write(b"220-welcome to an endless banner " * 64 + b"\r\n")
        await writer.drain()


async def reset_after_accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    writer.transport.abort()


async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(bytes(range(256)) * 4)
    await writer.drain()
    await asyncio.sleep(5)


async def trickle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    for b in b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n":
        writer.write(bytes([b]))
        await writer.drain()
        await asyncio.sleep(1.0)


async def bad_tls(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    first = await reader.read(5)
    if first[:1] == b"\x16":  # a ClientHello: answer with a malformed record, then hang up
        writer.write(b"\x16\x03\x03\x00\x05\x02\xff\xff\xff\xff")
        await writer.drain()
    await asyncio.sleep(2)


async def huge(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    block = b"HTTP/1.1 200 OK\r\n" + b"x" * 65536
    for _ in range(256):  # 16 MiB if anyone read it all
        writer.write(block)
        await writer.drain()


def test_silent_server_gives_an_open_record_within_the_budget() -> None:
    async def go() -> tuple[ServiceRecord, float]:
        async with fake_server(silent) as port:
            return await scan_one(port)

    record, secs = asyncio.run(go())
    assert record.state == "open"
    assert record.service in ("unknown", None) or record.method == "table"
    assert secs < FAST.endpoint_budget + 1


def test_endless_banner_is_cut_at_max_read() -> None:
    async def go() -> tuple[ServiceRecord, float]:
        async with fake_server(endless_banner) as port:
            return await scan_one(port)

    record, secs = asyncio.run(go())
    assert record.state == "open"
    kept = [e.raw for e in (*record.evidence, *record.unmatched)]
    assert kept, "the banner should be kept as evidence"
    assert all(len(raw) <= FAST.max_read for raw in kept)
    assert secs < FAST.endpoint_budget + 1


def test_reset_after_accept_gives_a_record_not_a_crash() -> None:
    async def go() -> tuple[ServiceRecord, float]:
        async with fake_server(reset_after_accept) as port:
            return await scan_one(port)

    record, secs = asyncio.run(go())
    assert record.state == "open"
    assert record.service == "tcpwrapped"
    assert secs < FAST.endpoint_budget + 1


def test_garbage_is_reported_unknown_with_escaped_raw_bytes() -> None:
    async def go() -> tuple[ServiceRecord, float]:
        async with fake_server(garbage) as port:
            return await scan_one(port)

    record, _ = asyncio.run(go())
    assert record.service == "unknown"
    raws = [e.to_dict()["raw"] for e in record.unmatched]
    assert raws and all(r.isprintable() for r in raws)
    assert "\\x00\\x01\\x02" in raws[0]


def test_one_byte_per_second_banner_stops_at_the_banner_wait() -> None:
    async def go() -> tuple[ServiceRecord, float]:
        async with fake_server(trickle) as port:
            return await scan_one(port)

    record, secs = asyncio.run(go())
    assert record.state == "open"
    assert secs < FAST.endpoint_budget + 1


def test_tls_handshake_failure_gives_a_record() -> None:
    async def go() -> tuple[ServiceRecord, float]:
        async with fake_server(bad_tls) as port:
            return await scan_one(port)

    record, secs = asyncio.run(go())
    assert record.state == "open"
    assert record.tls is None
    assert secs < FAST.endpoint_budget + 1


def test_huge_response_keeps_memory_bounded() -> None:
    import tracemalloc

    async def go() -> tuple[ServiceRecord, float]:
        async with fake_server(huge) as port:
            return await scan_one(port)

    tracemalloc.start()
    record, secs = asyncio.run(go())
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert record.state == "open"
    assert peak < 8 * 1024 * 1024, f"peak {peak} bytes while the server sent up to 16 MiB"
    assert secs < FAST.endpoint_budget + 1


def test_closed_port_is_reported_closed() -> None:
    sock = socket.socket()
    sock.bind((HOST, 0))
    port = sock.getsockname()[1]
    sock.close()  # bound then closed: nothing listens there
    record, _ = asyncio.run(scan_one(port))
    assert record.state == "closed"


def test_endpoint_budget_bounds_a_slow_server() -> None:
    config = dataclasses.replace(
        FAST, banner_wait=5, probe_wait=5, idle_gap=2, endpoint_budget=1.0
    )

    async def go() -> tuple[ServiceRecord, float]:
        async with fake_server(trickle) as port:
            return await scan_one(port, config)

    record, secs = asyncio.run(go())
    assert record.state == "open"
    assert record.error == "endpoint time budget exhausted"
    assert secs < config.endpoint_budget + 1


def drip(text: bytes, every: float) -> Handler:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for i in range(len(text)):
            writer.write(text[i:i + 1])
            await writer.drain()
            await asyncio.sleep(every)
        await asyncio.sleep(30)
    return handler


def nmap_catalog() -> Catalog:
    db = find_nmap_db()
    if db is None:
        lab_unavailable("nmap's nmap-service-probes is not installed")
    return build_catalog(db)


def test_an_ssh_ident_dripped_one_byte_a_second_is_never_called_postgresql() -> None:
    # Its first byte "S" is PostgreSQL's answer to an SSL request; here it is the start of a
    # banner the server sends unasked, so it answers no probe.
    config = dataclasses.replace(FAST, banner_wait=2.5, probe_wait=2.5, endpoint_budget=6.0)

    async def go() -> ServiceRecord:
        async with fake_server(drip(b"SSH-2.0-OpenSSH_9.2p1\r\n", 1.0)) as port:
            got: list[ServiceRecord] = []
            await scan([Endpoint(HOST, port)], config, nmap_catalog(), got.append)
            return got[0]

    record = asyncio.run(go())
    assert record.service != "postgresql", record


def test_an_endless_stream_of_letters_one_per_millisecond_is_not_a_backdoor() -> None:
    async def go() -> ServiceRecord:
        async with fake_server(drip(b"A" * 100_000, 0.001)) as port:
            got: list[ServiceRecord] = []
            await scan([Endpoint(HOST, port)], FAST, nmap_catalog(), got.append)
            return got[0]

    record = asyncio.run(go())
    assert record.service != "darkcomet", record
