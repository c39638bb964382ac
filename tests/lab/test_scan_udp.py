"""The UDP engine against real servers (tests/lab/servers_udp.py) on 127.0.20.x and 127.0.0.1:123.

One scan covers every lab endpoint, a closed port and a silent socket at once (as a user's
scan would); each test then checks one record. A server whose program is missing is skipped
with the reason, unless PROBESCAN_REQUIRE_SERVERS=1 (CI), where that is a failure.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from probescan.catalog import Catalog, load_fingerprints, load_probes
from probescan.config import Config
from probescan.engine.scan import scan
from probescan.match import match_response
from probescan.model import Endpoint, ServiceRecord
from probescan.targets import port_names
from tests.lab import servers_udp as udp_lab
from tests.lab.servers_udp import DEFAULT_UDP_LAB, UdpServer

pytestmark = pytest.mark.lab

REQUIRE = os.environ.get("PROBESCAN_REQUIRE_SERVERS") == "1"
CLOSED = ("127.0.20.50", 10999)  # nothing listens here: ICMP port unreachable
SILENT = ("127.0.20.51", 10998)  # a socket of this test that never answers


@dataclass
class Lab:
    servers: dict[str, UdpServer]
    failed: dict[str, str]
    records: dict[tuple[str, int], ServiceRecord]
    silent_ok: bool


def _unavailable(reason: str) -> None:
    if REQUIRE:
        pytest.fail(f"PROBESCAN_REQUIRE_SERVERS=1 but: {reason}")
    pytest.skip(reason)


def _scan(endpoints: list[Endpoint]) -> dict[tuple[str, int], ServiceRecord]:
    catalog = Catalog(load_probes(), load_fingerprints(), port_names())
    records: list[ServiceRecord] = []
    asyncio.run(scan(endpoints, Config(), catalog, records.append))
    return {(r.endpoint.ip, r.endpoint.port): r for r in records}


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    plan: dict[str, tuple[str, int]] = {}
    failed: dict[str, str] = {}
    for name, where in DEFAULT_UDP_LAB.items():
        reason = udp_lab.missing_binary(udp_lab.SPECS[name])
        if reason:
            failed[name] = reason
        elif os.geteuid() != 0:
            failed[name] = f"{name} needs root here"
        else:
            plan[name] = where
    running, not_started = udp_lab.start_many(plan)
    failed.update(not_started)
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        silent_ok = True
        try:
            silent.bind(SILENT)
        except OSError:
            silent_ok = False
        endpoints = [Endpoint(s.ip, s.port, "udp") for s in running.values()]
        endpoints += [Endpoint(*CLOSED, "udp")]
        if silent_ok:
            endpoints.append(Endpoint(*SILENT, "udp"))
        yield Lab(running, failed, _scan(endpoints), silent_ok)
    finally:
        silent.close()
        for server in running.values():
            server.stop()


def _server(lab: Lab, name: str) -> UdpServer:
    if name in lab.failed:
        _unavailable(lab.failed[name])
    return lab.servers[name]


def _record(lab: Lab, server: UdpServer) -> ServiceRecord:
    record = lab.records[(server.ip, server.port)]
    assert record.state == "open", record
    return record


@pytest.mark.parametrize(
    ("name", "version_prefix"),
    [
        ("dnsmasq", "2."),
        ("snmpd", None),
        ("coturn", "4."),
        ("kamailio", "5."),
        ("ntpsec", "1."),
        ("memcached", "1."),
        ("nmbd", None),
    ],
)
def test_real_server_is_identified(lab: Lab, name: str, version_prefix: str | None) -> None:
    server = _server(lab, name)
    record = _record(lab, server)
    assert (record.service, record.product) == (server.service, server.product), record
    assert record.method == "probe"
    if version_prefix is not None:
        assert record.version is not None
        assert record.version.startswith(version_prefix), record.version


def test_nmbd_names_its_host_and_workgroup(lab: Lab) -> None:
    record = _record(lab, _server(lab, "nmbd"))
    assert record.hostname == "PROBELAB"
    assert record.info == "workgroup: LABGROUP"


def test_ntpsec_reports_its_os(lab: Lab) -> None:
    record = _record(lab, _server(lab, "ntpsec"))
    assert record.os == "Linux"


def test_tftp_probe_and_rule_work_on_the_real_server(lab: Lab) -> None:
    """tftpd-hpa answers our read request from a new port; read it with an unconnected
    socket and check that the shipped rule names it."""
    server = _server(lab, "tftpd-hpa")
    payload = udp_lab.probe_payload("tftp-rrq", server.ip)
    got = udp_lab.ask(server.ip, server.port, payload, 2.0, any_port=True)
    assert got is not None
    data, source_port = got
    assert source_port != server.port  # the RFC 1350 transfer id: why the engine misses it
    match = match_response(load_fingerprints(), "tftp-rrq", data)
    assert match is not None
    assert (match.service, match.info) == ("tftp", "File not found")


def test_tftp_is_identified_by_the_engine(lab: Lab) -> None:
    server = _server(lab, "tftpd-hpa")
    record = lab.records[(server.ip, server.port)]
    assert (record.state, record.service) == ("open", "tftp"), record


def test_closed_udp_port_is_closed(lab: Lab) -> None:
    record = lab.records[CLOSED]
    assert record.state == "closed", record
    assert record.timings["total"] < 1.0  # the ICMP error ends the endpoint at once


def test_silent_udp_socket_is_open_filtered(lab: Lab) -> None:
    if not lab.silent_ok:
        pytest.skip(f"could not bind the silent socket on {SILENT}")
    record = lab.records[SILENT]
    assert record.state == "open|filtered", record
    assert record.service is None  # 10998/udp is in no port table


def test_cli_json_scan_of_a_real_server(lab: Lab) -> None:
    """The command line, as a user runs it: one JSON line per open endpoint."""
    server = _server(lab, "dnsmasq")
    out = subprocess.run(
        [sys.executable, "-m", "probescan", "scan", server.ip, "-p", f"U:{server.port}",
         "--json", "--no-progress"],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    lines = [json.loads(line) for line in out.stdout.splitlines() if line.strip()]
    assert len(lines) == 1, out.stdout
    rec = lines[0]
    assert rec["port"] == server.port and rec["transport"] == "udp", rec
    assert (rec["service"], rec["product"]) == ("dns", "dnsmasq"), rec
