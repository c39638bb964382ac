"""Integration: `probescan scan` against real Debian servers, mostly on unusual ports.

Each lab server (tests/lab/) must be named with its service and product by our own
fingerprints; the whole lab is also scanned once through the command line, with nmap's rules
loaded when nmap is installed, to show both agree.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from probescan.catalog import Catalog, load_fingerprints, load_probes
from probescan.cli import main
from probescan.config import Config
from probescan.engine.scan import scan
from probescan.model import Endpoint, ServiceRecord
from probescan.targets import port_names
from tests.conftest import LabServices
from tests.lab import DEFAULT_LAB, Service

CATALOG = Catalog(load_probes(), load_fingerprints(), port_names())


def scan_one(ip: str, port: int) -> ServiceRecord:
    got: list[ServiceRecord] = []
    asyncio.run(scan([Endpoint(ip, port)], Config(), CATALOG, got.append))
    assert len(got) == 1
    return got[0]


def check(record: ServiceRecord, svc: Service) -> None:
    assert record.state == "open", record
    assert record.service == svc.service, record.to_dict()
    if svc.product:
        assert record.product is not None and svc.product.lower() in (
            f"{record.product} {record.version or ''}".lower()
        ), record.to_dict()
    if svc.tls:
        assert record.tunnel == "tls" and record.tls is not None
        assert record.tls.subject and record.tls.sha256
    assert record.evidence and record.evidence[0].fingerprint_id


@pytest.mark.lab
@pytest.mark.parametrize(("kind", "ip", "port"), DEFAULT_LAB,
                         ids=[f"{k}-{p}" for k, _, p in DEFAULT_LAB])
def test_lab_server_is_named_with_service_and_product(
    lab_services: LabServices, kind: str, ip: str, port: int
) -> None:
    svc = lab_services.get(kind, port)
    check(scan_one(svc.ip, svc.port), svc)


@pytest.mark.lab
def test_whole_lab_through_the_cli_writes_one_record_per_open_port(
    lab_services: LabServices, tmp_path: Path
) -> None:
    services = lab_services.services
    out = tmp_path / "lab.jsonl"
    hosts = sorted({s.ip for s in services})
    ports = ",".join(str(p) for p in sorted({s.port for s in services}))
    assert main(["scan", *hosts, "-p", ports, "-o", str(out), "--quiet"]) == 0
    records = {(r["ip"], r["port"]): r for r in map(json.loads, out.read_text().splitlines())}
    for svc in services:
        r = records[(svc.ip, svc.port)]
        assert r["service"] == svc.service, r
        if svc.product:
            assert svc.product.lower() in f"{r['product']} {r['version']}".lower(), r
    assert all(r["state"] == "open" for r in records.values())
    assert len(records) == len(services)
