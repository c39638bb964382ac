"""nmap's text outputs (-oN, -oG) and the terminal table, from records: host by host in
numeric order, the name beside the address, states counted apart, interrupted runs."""

from __future__ import annotations

import io
from datetime import UTC, datetime

from rich.console import Console

from probescan.model import Endpoint, ServiceRecord, TlsInfo
from probescan.output.console import results_table, state_counts
from probescan.output.grepable import GrepableText
from probescan.output.normal import NormalText
from probescan.report.summary import summarize

SHOWN = {"open", "open|filtered"}


def records() -> list[ServiceRecord]:
    web = Endpoint("192.0.2.10", 443, hostname="web.example")
    return [
        ServiceRecord(Endpoint("192.0.2.9", 22), "open", service="ssh", product="OpenSSH",
                      version="9.2p1", info="Debian-2", method="banner", confidence=10,
                      os="Linux", cpe=("cpe:/o:linux:linux_kernel",),
                      timings={"connect": 0.0004}),
        ServiceRecord(web, "open", service="http", product="nginx", tunnel="tls",
                      tls=TlsInfo(version="TLSv1.3", subject="CN=web.example"),
                      method="probe", confidence=10),
        ServiceRecord(Endpoint("192.0.2.10", 80, hostname="web.example"), "closed"),
        ServiceRecord(Endpoint("192.0.2.9", 81), "closed"),
        ServiceRecord(Endpoint("192.0.2.9", 82), "filtered"),
        ServiceRecord(Endpoint("192.0.2.9", 161, "udp"), "open|filtered", service="snmp",
                      method="table", confidence=3),
        ServiceRecord(Endpoint("192.0.2.9", 9999), "open", service="unknown",
                      error="endpoint time budget exhausted", reason="host-timeout"),
    ]


def written(sink_type: type[NormalText] | type[GrepableText], **kw: object) -> str:
    out = io.StringIO()
    sink = sink_type(out, ["probescan", "scan", "x"], listed=SHOWN, close_stream=False,
                     clock=lambda: 1_700_000_000.0, **kw)  # type: ignore[arg-type]
    for r in records():
        sink.record(r)
    sink.close(interrupted=True)
    return out.getvalue()


def test_normal_text() -> None:
    text = written(NormalText, reason=True)
    lines = text.splitlines()
    assert lines[0].startswith("# probescan ") and lines[0].endswith("as: probescan scan x")
    assert lines[1] == "probescan scan report for 192.0.2.9"  # .9 before .10
    assert "Host is up (0.00040s latency)." in lines
    assert ("Not shown: 1 closed tcp port (conn-refused), 1 filtered tcp port (no-response)"
            in lines)
    assert "PORT     STATE         SERVICE REASON       VERSION" in lines
    assert "22/tcp   open          ssh     syn-ack      OpenSSH 9.2p1 (Debian-2)" in lines
    assert "9999/tcp open          unknown host-timeout" in lines
    assert "161/udp  open|filtered snmp?   no-response" in lines  # a port-table guess: ?
    assert "Service Info: OS: Linux; CPE: cpe:/o:linux:linux_kernel" in lines
    assert "probescan scan report for web.example (192.0.2.10)" in lines
    assert "443/tcp open  ssl/http syn-ack nginx" in lines
    assert "|_tls: TLSv1.3; subject CN=web.example" in lines
    assert lines[-1].endswith("2 IP addresses (2 hosts up) scanned in 0.00 seconds "
                              "(interrupted)")


def test_grepable_lines() -> None:
    lines = written(GrepableText).splitlines()
    assert lines[1:5] == [
        "Host: 192.0.2.9 ()\tStatus: Up",
        "Host: 192.0.2.9 ()\tPorts: 22/open/tcp//ssh//OpenSSH 9.2p1 (Debian-2)/, "
        "9999/open/tcp//unknown///, 161/open|filtered/udp//snmp?///\tIgnored State: closed (1)",
        "Host: 192.0.2.10 (web.example)\tStatus: Up",
        "Host: 192.0.2.10 (web.example)\tPorts: 443/open/tcp//ssl|http//nginx/\t"
        "Ignored State: closed (1)",
    ]


def test_ping_scan_lists_only_hosts_up() -> None:
    out = io.StringIO()
    sink = GrepableText(out, ["probescan"], listed={"open", "closed"}, ping=True,
                        close_stream=False)
    sink.record(ServiceRecord(Endpoint("192.0.2.3", 80), "closed"))
    sink.record(ServiceRecord(Endpoint("192.0.2.4", 80), "filtered"))
    sink.close()
    assert out.getvalue().splitlines()[1:-1] == ["Host: 192.0.2.3 ()\tStatus: Up"]


def test_names_from_reverse_lookups_are_shown_beside_the_address() -> None:
    text = written(NormalText, names=lambda ips: {"192.0.2.9": "db.example"})
    assert "probescan scan report for db.example (192.0.2.9)" in text


def test_the_table_shows_names_reasons_and_notes_in_numeric_order() -> None:
    con = Console(width=250, file=io.StringIO())
    con.print(results_table([r for r in records() if r.state in SHOWN], reason=True))
    rows = [line for line in con.file.getvalue().splitlines() if "192.0.2." in line]  # type: ignore[attr-defined]
    assert [row.split()[1] for row in rows] == [
        "192.0.2.9:22/tcp", "192.0.2.9:9999/tcp", "192.0.2.9:161/udp", "192.0.2.10:443/tcp"]
    assert "(web.example)" in rows[3]
    assert "host-timeout" in rows[1] and "endpoint time budget exhausted" in rows[1]


def test_open_and_open_filtered_are_counted_apart() -> None:
    assert state_counts({"closed": 3, "open|filtered": 2, "open": 1}) == (
        "1 open, 2 open|filtered, 3 closed")
    summary = summarize([r.to_dict() for r in records()], datetime.now(UTC))
    assert (summary["open"], summary["open_filtered"]) == (3, 1)
