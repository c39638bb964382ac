"""One schema: the writers (`to_dict`) write exactly the shapes of probescan/schema.py, the
report's input checks keep what those shapes say, and docs/output.md lists the same fields."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from probescan.model import Endpoint, Evidence, ServiceRecord, TlsInfo
from probescan.report import check_record
from probescan.schema import (
    ENDPOINT,
    EVIDENCE,
    FLOW,
    SCAN,
    TLS,
    Field,
    Kind,
    Shape,
    mismatches,
)

DOCS = Path(__file__).resolve().parent.parent / "docs"


def full_record() -> ServiceRecord:
    raw = b"HTTP/1.1 200 OK\r\nServer: nginx\r\n\x00\xff"
    return ServiceRecord(
        Endpoint("192.0.2.10", 443, "tcp", "www.example.test"), "open", service="http",
        product="nginx", version="1.22.1", info="Debian", hostname="web", os="Linux",
        device="general purpose", cpe=("cpe:/a:nginx:nginx:1.22.1",), tunnel="tls",
        tls=TlsInfo("TLSv1.3", "TLS_AES_128_GCM_SHA256", "h2", "CN=web", "CN=ca",
                    ("web", "www.example.test"), "2026-01-01T00:00:00+00:00",
                    "2027-01-01T00:00:00+00:00", "0a1b", "ab" * 32, False),
        method="probe", confidence=10,
        evidence=(Evidence("GetRequest", "http.nginx", "probescan:http.toml", raw, "tls"),),
        unmatched=(Evidence("null", None, None, raw),),
        timings={"connect": 0.00041234, "total": 0.0123}, error="endpoint time budget exhausted",
    )


ENDPOINT_RECORDS = [
    ServiceRecord(Endpoint("192.0.2.11", 23), "closed"),
    ServiceRecord(Endpoint("2001:db8::1", 53, "udp"), "open|filtered"),
    full_record(),
]


@pytest.mark.parametrize("record", ENDPOINT_RECORDS, ids=["closed", "udp", "full"])
def test_service_record_writes_the_endpoint_shape(record: ServiceRecord) -> None:
    assert mismatches(ENDPOINT, record.to_dict()) == []


def test_tls_and_evidence_write_their_shapes() -> None:
    full = full_record()
    assert full.tls is not None
    for tls in (TlsInfo(), full.tls):
        assert mismatches(TLS, tls.to_dict()) == []
    for evidence in (*full.evidence, *full.unmatched):
        assert mismatches(EVIDENCE, evidence.to_dict()) == []


def flow_records() -> list[dict[str, Any]]:
    from probescan.model import Match
    from probescan.protocols.packet import TCP, UDP
    from probescan.watch.flows import Direction, Flow
    from probescan.watch.label import FlowRecord, Label, combine
    from probescan.watch.passive import PassiveResult

    t0 = 1_780_000_000.25
    tcp = Flow((TCP, "192.0.2.10", 443, "198.51.100.7", 51000), TCP, ("198.51.100.7", 51000),
               ("192.0.2.10", 443), t0, t0 + 1.5, "handshake", False,
               c2s=Direction(3, 517, bytearray(b"\x16\x03\x01\x02\x00")),
               s2c=Direction(4, 1200, bytearray(b"HTTP/1.1 200 OK\r\n")), id=7)
    passive = PassiveResult(
        Match("http.nginx", "probescan:http.toml", "http", product="nginx",
              cpe=("cpe:/a:nginx:nginx",)), "null", "tls",
        {"tls_sni": "www.example.test", "tls_alpn": ["h2"]}, {"http_status": 200})
    server = full_record()
    client = ServiceRecord(Endpoint("198.51.100.7", 51000), "closed")
    udp = Flow((UDP, "192.0.2.53", 53, "198.51.100.7", 5353), UDP, ("198.51.100.7", 5353),
               ("192.0.2.53", 53), t0, t0, "ports", True, vlan=12, id=8)
    return [
        FlowRecord(tcp, passive, combine(passive, server), ["http on 443/tcp"], server, client,
                   ["server", "client"], labeled_at=t0 + 2).to_dict(),
        FlowRecord(udp, PassiveResult(None, None, None), Label("unknown"),
                   announced_by=7).to_dict(),
    ]


def test_flow_record_writes_the_flow_shape() -> None:
    for record in flow_records():
        assert mismatches(FLOW, record) == []


def test_mismatches_sees_order_kinds_and_nulls() -> None:
    d = full_record().to_dict()
    swapped = dict(reversed(list(d.items())))
    assert mismatches(ENDPOINT, swapped)[0].startswith("endpoint record: keys ")
    bad = {**d, "port": 70000, "cpe": ["x", 1], "method": None, "evidence": [{"probe": "x"}]}
    problems = mismatches(ENDPOINT, bad)
    assert "port: 70000 is not an integer 0..65535" in problems
    assert "cpe: ['x', 1] is not a list of strings" in problems
    assert "method: null" in problems
    assert problems[-1].startswith("evidence[0].: keys ['probe']")


def reported(shape: Shape) -> list[str]:
    return [f.name for f in shape.fields if f.report]


def nested(shape: Shape, name: str) -> Shape:
    [f] = [f for f in shape.fields if f.name == name]
    assert f.shape is not None
    return f.shape


def test_the_report_keeps_the_fields_the_schema_names() -> None:
    """The checks are made from the schema: a written record comes out with the schema's
    fields for the report (in its order), `origin` added, the others dropped."""
    endpoint = check_record(json.loads(json.dumps(full_record().to_dict())), "t", 1)
    assert list(endpoint) == [*reported(ENDPOINT), "origin"]
    assert list(endpoint["tls"]) == reported(TLS)
    assert list(endpoint["evidence"][0]) == reported(EVIDENCE)
    assert "timings" not in endpoint and endpoint["anomalies"] == []
    flow = check_record(json.loads(json.dumps(flow_records()[0])), "t", 2)
    assert list(flow) == [*reported(FLOW), "origin"]
    for name in ("client", "packets", "passive", "probes"):
        assert list(flow[name]) == reported(nested(FLOW, name)), name
    assert list(flow["probes"]["server"]) == [*reported(ENDPOINT), "origin"]
    assert flow["probes"]["server"]["origin"] == "t:2 probes.server"
    assert not {"labeled_at", "tunnel", "announced_by"} & set(flow)


def test_every_written_field_of_a_record_is_read_or_dropped_on_purpose() -> None:
    """A kind the report cannot read must be marked report=False in the schema."""
    readable = set(Kind) - {Kind.NUMBERS}

    def walk(shape: Shape) -> list[Field]:
        out = list(shape.fields)
        for f in shape.fields:
            if f.shape is not None and f.shape is not shape:
                out += walk(f.shape)
        return out

    for f in walk(FLOW) + walk(ENDPOINT):
        assert f.kind in readable or not f.report, f.name


def test_docs_list_the_endpoint_fields() -> None:
    text = (DOCS / "output.md").read_text(encoding="utf-8")
    table = text[text.index("| field | type | meaning |"):text.index("Example")]
    names = [n for row in table.splitlines()[2:] if row.startswith("| `")
             for n in re.findall(r"`([a-z0-9_]+)`", row.split("|")[1])]
    assert sorted(names) == sorted(ENDPOINT.written())
    tls_row = next(row for row in table.splitlines() if row.startswith("| `tls` "))
    assert set(TLS.written()) <= set(re.findall(r"`([a-z0-9_]+)`", tls_row.split("|")[3]))


def field_names(shape: Shape) -> set[str]:
    """Every field a writer writes in `shape` and the objects inside it (an endpoint record
    inside a flow record is documented with the endpoint record)."""
    out: set[str] = set()
    for f in shape.fields:
        if f.written:
            out.add(f.name)
            if f.shape is not None and f.kind is not Kind.RECORD:
                out |= field_names(f.shape)
    return out


def documented(text: str) -> set[str]:
    """Names a doc gives as `name` or inside `{a, b, c}`."""
    braces = (n for group in re.findall(r"\{([a-z0-9_, ]+)\}", text) for n in group.split(","))
    return set(re.findall(r"`([a-z0-9_]+)`", text)) | {n.strip() for n in braces}


@pytest.mark.parametrize(("shape", "doc"), [(FLOW, "watch.md"), (SCAN, "output.md")],
                         ids=["flow", "scan"])
def test_docs_name_every_field_of_the_flow_and_scan_records(shape: Shape, doc: str) -> None:
    assert field_names(shape) - documented((DOCS / doc).read_text(encoding="utf-8")) == set()
