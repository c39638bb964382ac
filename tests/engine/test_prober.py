"""Scheduling details of the TCP prober, with test-local probes and rules over fake servers."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from probescan.catalog import Catalog, load_fingerprints, load_probes
from probescan.config import Config
from probescan.engine.scan import scan
from probescan.model import Endpoint, ServiceRecord
from tests.engine.test_faults import HOST, fake_server

PROBES = """
[[probe]]
name = "null"
payload = ""
rarity = 1

[[probe]]
name = "get"
payload = "GET / HTTP/1.0\\r\\n\\r\\n"
rarity = 1
services = ["http"]
"""

RULES = """
[[fingerprint]]
id = "generic.server"
service = "http"
priority = 95
flags = "s"
pattern = '^HTTP/1\\.[01] \\d+.*?\\r\\nServer: ([^\\r\\n]+)'
product = "$1"
  [[fingerprint.examples]]
  text = "HTTP/1.1 200 OK\\r\\nServer: Cowboy\\r\\n\\r\\n"
  probe = "get"

[[fingerprint]]
id = "app.rabbitmq-management"
service = "http"
flags = "s"
pattern = '^HTTP/1\\.[01] .*<title>RabbitMQ Management</title>'
product = "RabbitMQ Management"
  [[fingerprint.examples]]
  text = "HTTP/1.1 200 OK\\r\\n\\r\\n<title>RabbitMQ Management</title>"
  probe = "get"
"""


def catalog(tmp_path: Path) -> Catalog:
    (tmp_path / "p.toml").write_text(PROBES)
    (tmp_path / "f.toml").write_text(RULES)
    probes = load_probes([tmp_path / "p.toml"])
    rules = load_fingerprints([tmp_path / "f.toml"])
    assert probes.problems == () and rules.problems == ()
    return Catalog(probes, rules)


async def split_reply(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.read(100)
    writer.write(b"HTTP/1.1 200 OK\r\nServer: Cowboy\r\nContent-Type: text/html\r\n\r\n")
    await writer.drain()
    await asyncio.sleep(0.15)  # the body comes in a second write
    writer.write(b"<html><head><title>RabbitMQ Management</title></head></html>")
    await writer.drain()
    await asyncio.sleep(3)


def test_a_generic_match_on_the_first_chunk_gives_way_to_a_specific_one_on_the_whole_reply(
    tmp_path: Path,
) -> None:
    cat = catalog(tmp_path)

    async def go() -> ServiceRecord:
        got: list[ServiceRecord] = []
        async with fake_server(split_reply) as port:
            await scan([Endpoint(HOST, port)], Config(banner_wait=1.0), cat, got.append)
        return got[0]

    t0 = time.monotonic()
    record = asyncio.run(go())
    assert record.product == "RabbitMQ Management"
    assert record.evidence[0].fingerprint_id == "app.rabbitmq-management"
    assert time.monotonic() - t0 < 2.5  # the hard match ended the endpoint before any wait


async def headers_only(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.read(100)
    writer.write(b"HTTP/1.1 200 OK\r\nServer: Cowboy\r\n\r\n")
    await writer.drain()
    await asyncio.sleep(3)


def test_a_generic_match_stands_once_the_reply_is_complete(tmp_path: Path) -> None:
    cat = catalog(tmp_path)

    async def go() -> ServiceRecord:
        got: list[ServiceRecord] = []
        async with fake_server(headers_only) as port:
            await scan([Endpoint(HOST, port)], Config(banner_wait=2.0, idle_gap=0.3), cat,
                       got.append)
        return got[0]

    t0 = time.monotonic()
    record = asyncio.run(go())
    assert (record.service, record.product) == ("http", "Cowboy")
    assert time.monotonic() - t0 < 1.5  # settled after the idle gap, not the banner wait
