"""The HTML report: loading JSON Lines, one-line input errors, escaping, no fetches, speed."""

from __future__ import annotations

import argparse
import base64
import hashlib
import html
import html.parser
import importlib.resources
import io
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from probescan.cli import report as report_cli
from probescan.model import Endpoint, Evidence, ServiceRecord, TlsInfo, escape_bytes
from probescan.output.jsonl import record_line
from probescan.output.store import Store
from probescan.report import (
    ReportInputError,
    load_records,
    render_report,
    script_json,
    summarize,
    timeline,
    write_report,
)

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
HOSTILE_SCRIPT = "<script>alert(1)</script>"
HOSTILE_IMG = '"><img src=x onerror=alert(1)>'
HOSTILE_JS_URL = "javascript:alert(1)"
HOSTILE_CONTROLS = "red\x1b[31m\x00nul\x07bell\x85nel\u202eevil\u2028line\ufeff"


def iso(t: datetime) -> str:
    return t.isoformat()


def ssh(ip: str = "192.0.2.10", port: int = 22) -> ServiceRecord:
    return ServiceRecord(
        Endpoint(ip, port), "open", service="ssh", product="OpenSSH", version="9.2p1",
        info="Debian-2+deb12u3", cpe=("cpe:/a:openbsd:openssh:9.2p1",), method="banner",
        confidence=10,
        evidence=(Evidence("null", "ssh.openssh", "probescan:ssh.toml",
                           b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n"),),
        timings={"connect": 0.0004, "total": 0.002},
    )


def https(ip: str = "192.0.2.10", port: int = 443, *, not_after: datetime,
          self_signed: bool = False) -> ServiceRecord:
    return ServiceRecord(
        Endpoint(ip, port), "open", service="http", product="nginx", version="1.22.1",
        tunnel="tls", method="probe", confidence=10,
        tls=TlsInfo(version="TLSv1.3", cipher="TLS_AES_256_GCM_SHA384", alpn="h2",
                    subject="CN=www.example.test", issuer="CN=Example CA",
                    sans=("www.example.test",), not_before=iso(not_after - timedelta(days=90)),
                    not_after=iso(not_after), serial="1234abcd", sha256="ab" * 32,
                    self_signed=self_signed),
        evidence=(Evidence("GetRequest", "http.nginx", "probescan:http.toml",
                           b"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\n\r\n", "tls"),),
    )


def unknown(ip: str = "192.0.2.11", port: int = 9999) -> ServiceRecord:
    return ServiceRecord(
        Endpoint(ip, port), "open", service="unknown", method="none", confidence=0,
        unmatched=(Evidence("null", None, None, b"\x00\x01WHO ARE YOU?\r\n"),
                   Evidence("GetRequest", None, None, b"\xff\xfeno\r\n")),
    )


def closed(ip: str = "192.0.2.11", port: int = 23) -> ServiceRecord:
    return ServiceRecord(Endpoint(ip, port), "closed")


def sample() -> list[dict[str, Any]]:
    return [
        ssh().to_dict(),
        https(not_after=NOW - timedelta(days=3), self_signed=True).to_dict(),
        https(port=8443, not_after=NOW + timedelta(days=10)).to_dict(),
        https(ip="192.0.2.12", not_after=NOW + timedelta(days=300)).to_dict(),
        unknown().to_dict(),
        closed().to_dict(),
    ]


def hostile() -> dict[str, Any]:
    banner = (f'{HOSTILE_SCRIPT}<img src=x onerror="window.pwned=1">{HOSTILE_IMG}</script>'
              "<!--").encode()
    record = ServiceRecord(
        Endpoint("192.0.2.66", 666, hostname=HOSTILE_JS_URL), "open",
        service=HOSTILE_SCRIPT, product=HOSTILE_IMG, version=HOSTILE_JS_URL,
        info=HOSTILE_CONTROLS, hostname=HOSTILE_SCRIPT, os=HOSTILE_IMG,
        cpe=(HOSTILE_JS_URL,), method="banner", confidence=10,
        tls=TlsInfo(subject=HOSTILE_SCRIPT, issuer=HOSTILE_IMG, sans=(HOSTILE_JS_URL,),
                    not_after="</script><script>alert(2)</script>", self_signed=True),
        evidence=(Evidence("null", HOSTILE_IMG, HOSTILE_JS_URL, banner),),
        unmatched=(Evidence("null", None, None, banner),),
        error=HOSTILE_CONTROLS,
    ).to_dict()
    record["anomalies"] = [HOSTILE_SCRIPT, {"expected": HOSTILE_IMG}]
    return record


T0 = NOW.timestamp() - 3600  # flows an hour before the report is made
CLIENT_HELLO_FACTS = {"tls_sni": "www.example.test", "tls_alpn": ["h2", "http/1.1"],
                      "ja3": "e7d705a3286e19ea42f587b344ee6865", "ja4": "t13d1516h2_8daaf6152771"}


def flow_record(
    n: int = 1,
    client: tuple[str, int] = ("198.51.100.7", 51000),
    server: tuple[str, int] = ("192.0.2.10", 443),
    *,
    transport: str = "tcp",
    first_seen: float | str | None = "auto",
    service: str = "http",
    product: str | None = "nginx",
    version: str | None = "1.22.1",
    confidence: int = 10,
    method: str = "passive+probe",
    anomalies: tuple[str, ...] = (),
    conflicts: tuple[str, ...] = (),
    fingerprint: str | None = "http.nginx",
    protocol: str | None = "tls",
    client_facts: dict[str, Any] | None = None,
    server_facts: dict[str, Any] | None = None,
    client_raw: bytes = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
    server_raw: bytes = b"\x16\x03\x03\x00\x7a\x02\x00\x00\x76\x03\x03",
    server_probe: ServiceRecord | None = None,
    client_probe: ServiceRecord | None = None,
    decided_by: str | None = "rules",
    behaviour: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A flow record in the shape of FlowRecord.to_dict() (probescan/watch/label.py)."""
    t = T0 + n if first_seen == "auto" else first_seen
    assert not isinstance(t, str)
    return {
        "kind": "flow", "id": n, "transport": transport,
        "client": {"ip": client[0], "port": client[1]},
        "server": {"ip": server[0], "port": server[1]},
        "roles": "handshake", "midstream": False, "vlan": None,
        "first_seen": t, "last_seen": None if t is None else t + 0.25,
        "labeled_at": None if t is None else t + 0.3,
        "packets": {"c2s": 7, "s2c": 9}, "bytes": {"c2s": 517, "s2c": 4321},
        "service": service, "product": product, "version": version, "info": None, "tunnel": None,
        "cpe": [], "confidence": confidence, "method": method,
        "decided_by": decided_by,
        "conflicts": list(conflicts), "anomalies": list(anomalies), "announced_by": None,
        "behaviour": behaviour if behaviour is not None else {
            "class": "control", "sizes": [517, -1448, -1448, 126, -51],
            "c2s": [0, 0, 1, 0, 0, 1, 0, 0], "s2c": [0, 1, 0, 0, 0, 0, 0, 2],
            "first_bytes": {}, "statistical": None},
        "passive": {
            "fingerprint": fingerprint, "source": "probescan:http.toml" if fingerprint else None,
            "as_reply_to": "null" if fingerprint else None, "protocol": protocol,
            "client": dict(CLIENT_HELLO_FACTS) if client_facts is None else client_facts,
            "server": {"tls_version": "TLSv1.3"} if server_facts is None else server_facts,
            "detected": None,
            "client_raw": escape_bytes(client_raw), "server_raw": escape_bytes(server_raw),
        },
        "probes": {
            "server": server_probe.to_dict() if server_probe else None,
            "client": client_probe.to_dict() if client_probe else None,
            "queued": ["server"] if server_probe else [],
        },
    }


HOSTILE_SNI = '"><script>window.pwned=5</script>\u202egnp.exe'
HOSTILE_UA = "Mozilla/5.0 <img src=x onerror=alert(3)>\x1b[2J\x00"


def hostile_flow() -> dict[str, Any]:
    banner = (f"220 {HOSTILE_SCRIPT}</script><!--{HOSTILE_IMG}\r\n").encode()
    record = flow_record(
        66, ("203.0.113.66", 6666), ("192.0.2.66", 443), service=HOSTILE_SCRIPT,
        product=HOSTILE_IMG, version=HOSTILE_JS_URL, fingerprint=HOSTILE_IMG,
        protocol=HOSTILE_SCRIPT, anomalies=(HOSTILE_SCRIPT,), conflicts=(HOSTILE_IMG,),
        client_facts={"tls_sni": HOSTILE_SNI, "http_user_agent": HOSTILE_UA,
                      "http_host": HOSTILE_JS_URL, "ssh_ident": HOSTILE_CONTROLS,
                      "tls_alpn": [HOSTILE_SCRIPT], HOSTILE_IMG: {"nested": HOSTILE_SCRIPT}},
        server_facts={"http_server": HOSTILE_IMG, "cert_subject": HOSTILE_SCRIPT},
        client_raw=banner, server_raw=banner, server_probe=unknown("192.0.2.66", 443),
    )
    record["info"] = HOSTILE_CONTROLS
    record["cpe"] = [HOSTILE_JS_URL]
    record["passive"]["as_reply_to"] = HOSTILE_SCRIPT
    record["probes"]["server"]["product"] = HOSTILE_SCRIPT
    return record


def blob(page: str) -> dict[str, Any]:
    m = re.search(r'<script type="application/json" id="probescan-data">(.*?)</script>', page,
                  re.DOTALL)
    assert m is not None
    data: dict[str, Any] = json.loads(m.group(1))
    return data


def outside_blob(page: str) -> str:
    return re.sub(r'(<script type="application/json" id="probescan-data">).*?(</script>)',
                  r"\1\2", page, flags=re.DOTALL)


class Tags(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))


def tags(page: str) -> list[tuple[str, list[tuple[str, str | None]]]]:
    parser = Tags()
    parser.feed(page)
    parser.close()
    return parser.tags


def write_jsonl(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records),
                    encoding="utf-8")
    return path


def cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="probescan report")
    report_cli.add_arguments(parser)
    return report_cli.run(parser.parse_args(argv))


# ---- rendering ------------------------------------------------------------------------------


def test_report_from_model_records_has_summary_charts_and_every_record() -> None:
    page = render_report(sample(), "Lab scan", NOW)
    assert page.startswith("<!DOCTYPE html>")
    assert "<title>Lab scan</title>" in page
    data = blob(page)
    assert len(data["records"]) == 6
    # Host then port order for the page, derived fields added.
    assert [(r["ip"], r["port"]) for r in data["records"]] == [
        ("192.0.2.10", 22), ("192.0.2.10", 443), ("192.0.2.10", 8443),
        ("192.0.2.11", 23), ("192.0.2.11", 9999), ("192.0.2.12", 443)]
    by_port = {(r["ip"], r["port"]): r for r in data["records"]}
    assert by_port["192.0.2.10", 443]["tls_problems"] == ["expired", "self-signed"]
    assert by_port["192.0.2.10", 8443]["tls_problems"] == ["expiring"]
    assert by_port["192.0.2.12", 443]["tls_problems"] == []
    assert by_port["192.0.2.11", 9999]["unknown"] is True
    assert by_port["192.0.2.11", 9999]["unmatched"][0]["raw"] == "\\x00\\x01WHO ARE YOU?\\r\\n"
    assert by_port["192.0.2.10", 22]["evidence"][0]["fingerprint"] == "ssh.openssh"
    assert "timings" not in by_port["192.0.2.10", 22]
    # Charts are inline SVG with the services, ports and products.
    assert page.count("<svg ") == 3
    for label in ("ssh", "http", "443/tcp", "22/tcp", "nginx", "OpenSSH"):
        assert f'class="lbl">{label}</text>' in page


def test_summary_counts() -> None:
    s = summarize(load_like(sample()), NOW)
    assert (s["hosts"], s["open"], s["unknown"], s["identified"]) == (3, 5, 1, 4)
    assert (s["tls"], s["expired"], s["expiring"], s["self_signed"]) == (3, 1, 1, 1)
    assert (s["anomalies"], s["errors"]) == (0, 0)
    assert dict(s["states"]) == {"open": 5, "closed": 1}


def load_like(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    from probescan.report import check_record
    return [check_record(r, "<test>", i) for i, r in enumerate(records, 1)]


def test_anomalies_are_counted_when_present() -> None:
    records = sample()
    records[0]["anomalies"] = ["ssh on 443/tcp"]
    s = summarize(load_like(records), NOW)
    assert s["anomalies"] == 1
    assert blob(render_report(records, "t", NOW))["records"][0]["anomalies"] == ["ssh on 443/tcp"]


def test_cli_writes_report_from_jsonl_file(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    scan = tmp_path / "scan.jsonl"
    scan.write_text("".join(record_line(r) + "\n" for r in [ssh(), unknown(), closed()]) + "\n",
                    encoding="utf-8")
    out = tmp_path / "report.html"
    assert cli([str(scan), "-o", str(out), "--title", "Weekly"]) == 0
    page = out.read_text(encoding="utf-8")
    assert "<h1>Weekly</h1>" in page
    records = blob(page)["records"]
    assert [r["port"] for r in records] == [22, 23, 9999]
    assert records[0]["origin"] == f"{scan}:1"
    err = capsys.readouterr().err
    assert err.strip() == f"probescan: wrote {out}: 3 records, 2 hosts"
    assert not list(tmp_path.glob(".report.html.*"))  # no temporary file left


def test_cli_default_title_names_the_inputs(tmp_path: Path) -> None:
    scan = write_jsonl(tmp_path / "monday.jsonl", [ssh().to_dict()])
    out = tmp_path / "r.html"
    assert cli([str(scan), "-o", str(out)]) == 0
    assert "<title>probescan report: monday.jsonl</title>" in out.read_text(encoding="utf-8")


def test_same_endpoint_in_two_files_keeps_the_last(tmp_path: Path) -> None:
    old = ssh().to_dict()
    new = dict(old, version="9.6p1")
    a = write_jsonl(tmp_path / "a.jsonl", [old, unknown().to_dict()])
    b = write_jsonl(tmp_path / "b.jsonl", [new])
    records = load_records([a, b])
    assert [(r["port"], r["version"]) for r in records] == [(9999, None), (22, "9.6p1")]


def test_missing_optional_fields_get_empty_values(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "old.jsonl",
                       [{"ip": "192.0.2.1", "port": 80, "transport": "tcp", "state": "open"}])
    [r] = load_records([path])
    assert r["service"] is None and r["evidence"] == [] and r["tls"] is None
    assert r["method"] == "none" and r["confidence"] == 0 and r["anomalies"] == []
    assert "192.0.2.1" in render_report([r], "t", NOW)


def test_standard_input_and_a_byte_order_mark(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    line = json.dumps(ssh().to_dict()).encode()
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(b"\xef\xbb\xbf" + line + b"\n")))
    [r] = load_records(["-"])
    assert r["origin"] == "<stdin>:1"
    (tmp_path / "bom.jsonl").write_bytes(b"\xef\xbb\xbf" + line + b"\n" + line + b"\n")
    assert len(load_records([tmp_path / "bom.jsonl"])) == 1  # the same endpoint twice


def test_empty_input_gives_an_empty_report(tmp_path: Path) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_text("", encoding="utf-8")
    page = render_report(load_records([path]), "nothing", NOW)
    assert blob(page)["records"] == []
    assert "nothing open" in page


# ---- bad input: one line naming file and line, exit 2 -----------------------------------------

GOOD = json.dumps(ssh().to_dict())


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ([GOOD, GOOD, "{not json"], "scan.jsonl:3: not JSON"),
        ([GOOD, '{"ip": "192.0.2.1", "transport": "tcp", "state": "open"}'],
         "scan.jsonl:2: record has no 'port'"),
        (['{"port": 1, "transport": "tcp", "state": "open"}'], "scan.jsonl:1: record has no 'ip'"),
        (['["a", "list"]'], "scan.jsonl:1: not a JSON object"),
        (['{"ip": "192.0.2.1", "port": "22", "transport": "tcp", "state": "open"}'],
         "scan.jsonl:1: 'port' must be an integer 0..65535"),
        (['{"ip": "192.0.2.1", "port": 22, "transport": "tcp", "state": "open", "tls": 5}'],
         "scan.jsonl:1: 'tls' must be an object or null"),
        (['{"ip": "192.0.2.1", "port": 22, "transport": "tcp", "state": "open",'
          ' "evidence": [{"raw": 5}]}'], "scan.jsonl:1: 'evidence.raw' must be a string or null"),
        (["", GOOD, "  ", GOOD[:40]], "scan.jsonl:4: not JSON"),
        (["[" * 100_000], "scan.jsonl:1: not JSON"),
    ],
)
def test_bad_input_is_one_line_naming_file_and_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    lines: list[str], message: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("scan.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert cli(["scan.jsonl", "-o", "report.html"]) == 2
    err = capsys.readouterr().err
    assert err == f"probescan: error: {message}\n"
    assert not Path("report.html").exists()


def test_bad_bytes_and_missing_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    Path("latin1.jsonl").write_bytes(GOOD.encode() + b"\n\xe9t\xe9\n")
    Path("store.db").write_bytes(b"SQLite format 3\x00" + bytes(100))
    Path("dir.jsonl").mkdir()
    cases = {
        "missing.jsonl": "missing.jsonl: no such file",
        "latin1.jsonl": "latin1.jsonl:2: not UTF-8",
        "store.db": "store.db: not a readable probescan store: file is not a database",
        "dir.jsonl": "dir.jsonl: a directory, not a file",
    }
    for name, message in cases.items():
        assert cli([name, "-o", "r.html"]) == 2
        assert capsys.readouterr().err == f"probescan: error: {message}\n"
    assert cli(["latin1.jsonl", "-o", "no/such/dir/r.html"]) == 2  # the input is bad first
    write_jsonl(Path("ok.jsonl"), [ssh().to_dict()])
    assert cli(["ok.jsonl", "-o", "no/such/dir/r.html"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[-1].startswith("probescan: error: no/such/dir/r.html: cannot write: ")
    assert len(err) == 2


def test_render_report_checks_records_too() -> None:
    with pytest.raises(ReportInputError, match=r"^<records>:2: record has no 'state'$"):
        render_report([ssh().to_dict(), {"ip": "x", "port": 1, "transport": "tcp"}], "t", NOW)


# ---- hostile data ---------------------------------------------------------------------------


def test_hostile_strings_appear_only_escaped() -> None:
    page = render_report([*sample(), hostile(), hostile_flow()],
                         HOSTILE_SCRIPT + HOSTILE_CONTROLS, NOW)
    for raw in ("<script>alert", "<script>window", "<img", "onerror=\"window",
                "</script><script>", "</script><!--", "\x1b", "\x00", "\x07", "\x85",
                "\u202e", "\u2028", "\ufeff"):
        assert raw not in page, raw
    # Outside the JSON blob the hostile text only shows autoescaped (title, chart labels).
    rest = outside_blob(page)
    assert "<title>&lt;script&gt;alert(1)&lt;/script&gt;red\\x1b[31m\\x00nul" in rest
    assert "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;" in rest  # the product chart
    # The parsed page has the report's own elements only: two scripts, no img, no handlers.
    found = tags(page)
    assert [t for t, _ in found].count("script") == 2
    assert "img" not in [t for t, _ in found]
    for tag, attrs in found:
        for name, value in attrs:
            assert not name.startswith("on"), (tag, name)
            assert "javascript:" not in (value or "").lower(), (tag, name, value)
    # The data still holds the hostile strings exactly, for the page to show as text.
    [r] = [r for r in blob(page)["records"] if r["port"] == 666]
    assert r["product"] == HOSTILE_IMG and r["tls"]["subject"] == HOSTILE_SCRIPT
    assert r["info"] == HOSTILE_CONTROLS
    assert r["anomalies"] == [HOSTILE_SCRIPT, json.dumps({"expected": HOSTILE_IMG})]
    # The flow's fields too: in the data exactly, outside it (timeline, charts) escaped.
    [f] = blob(page)["flows"]
    assert f["passive"]["client"]["tls_sni"] == HOSTILE_SNI
    assert f["passive"]["client"]["http_user_agent"] == HOSTILE_UA
    assert f["passive"]["client"][HOSTILE_IMG] == json.dumps({"nested": HOSTILE_SCRIPT})
    assert f["passive"]["client_raw"].startswith("220 <script>alert(1)</script></script><!--")
    assert f["probes"]["server"]["product"] == HOSTILE_SCRIPT
    assert "&lt;script&gt;alert(1)&lt;/script&gt; <span class=\"meta\">1</span>" in rest  # legend
    assert "data-query=\"service:&lt;script&gt;alert(1)&lt;/script&gt;\"" in rest


def test_script_json_cannot_close_its_element() -> None:
    value = {"a": "</script><!--<script>&amp;\u2028\u2029\x00"}
    text = str(script_json(value))
    assert not set("<>&") & set(text)
    assert "\u2028" not in text and "\x00" not in text
    assert json.loads(text) == value


def test_no_external_fetches_and_a_strict_content_security_policy() -> None:
    page = render_report([*sample(), hostile(), hostile_flow()], "t", NOW)
    for tag, attrs in tags(outside_blob(page)):
        for name, value in attrs:
            if name in {"src", "href", "action", "formaction", "poster", "xlink:href", "srcset",
                        "background", "data"}:
                assert value == "data:,", (tag, name, value)  # only the empty favicon
    rest = outside_blob(page)
    assert not re.search(r"https?://|ftp://|[\s\"'(=]//[a-z]|@import|url\(", rest,
                         re.IGNORECASE)
    assert "<link rel=\"stylesheet\"" not in rest and "<script src" not in rest
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', page)
    assert csp is not None
    policy = csp.group(1)
    assert "default-src 'none'" in policy and "connect-src" not in policy
    # The policy allows exactly the report's own script, by hash.
    script = re.findall(r"<script>(.*?)</script>", page, re.DOTALL)
    assert len(script) == 1
    digest = base64.b64encode(hashlib.sha256(script[0].encode()).digest()).decode()
    assert f"script-src 'sha256-{digest}'" in policy


def test_page_script_inserts_data_as_text_only() -> None:
    js = (importlib.resources.files("probescan.report") / "templates" / "report.js").read_text()
    js = re.sub(r"/\*.*?\*/|^\s*//.*$", "", js, flags=re.DOTALL | re.MULTILINE)  # code only
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(",
                 "new Function", "setAttribute(\"on", ".src =", ".href ="):
        assert sink not in js, sink


def test_templates_ship_inside_the_package() -> None:
    folder = importlib.resources.files("probescan.report") / "templates"
    names = {p.name for p in folder.iterdir()}
    assert {"report.html.j2", "report.css", "report.js"} <= names


# ---- scale ----------------------------------------------------------------------------------


def big_records(n: int) -> list[dict[str, Any]]:
    services = ["ssh", "http", "smtp", "mysql", "unknown", "imap", "redis"]
    out = []
    for i in range(n):
        svc = services[i % len(services)]
        raw = (f"220 host{i} ESMTP Postfix <x@y> & friends\r\n" * 4).encode()
        tls = TlsInfo(version="TLSv1.3", subject=f"CN=h{i}", issuer="CN=ca",
                      not_after=iso(NOW + timedelta(days=i % 400 - 30)),
                      self_signed=i % 5 == 0) if i % 3 == 0 else None
        out.append(ServiceRecord(
            Endpoint(f"10.{i // 65536}.{i // 256 % 256}.{i % 256}", 1 + i % 1000), "open",
            service=svc, product=None if svc == "unknown" else f"prod{i % 40}",
            version=f"{i % 9}.{i % 7}", tls=tls, method="banner", confidence=10,
            evidence=() if svc == "unknown" else (Evidence("null", f"{svc}.x", "probescan:x",
                                                           raw),),
            unmatched=(Evidence("null", None, None, raw),) if svc == "unknown" else (),
            timings={"connect": 0.001, "total": 0.01},
        ).to_dict())
    return out


def test_html_escaping_of_title_uses_autoescape() -> None:
    page = render_report([], "a & b <i>", NOW)
    assert "<h1>a &amp; b &lt;i&gt;</h1>" in page
    assert html.unescape("a &amp; b") == "a & b"


def big_flows(n: int) -> list[dict[str, Any]]:
    services = [("http", "nginx", 80), ("tls", None, 443), ("ssh", "OpenSSH", 22),
                ("dns", None, 53), ("unknown", None, 9000), ("smtp", "Postfix", 25)]
    out = []
    for i in range(n):
        svc, product, port = services[i % len(services)]
        out.append(flow_record(
            i + 1, (f"10.1.{i // 256 % 256}.{i % 256}", 30000 + i % 30000),
            (f"10.2.0.{i % 50}", port), first_seen=T0 + i * 0.36, service=svc,
            product=product, version=None, confidence=9 if product else 6,
            fingerprint=f"{svc}.x" if product else None,
            protocol=None if svc == "unknown" else svc,
            method="passive" if i % 10 else "passive+probe",
            anomalies=(f"{svc} on {port}/tcp (usually http)",) if i % 97 == 0 else (),
            client_facts={"http_method": "GET", "http_target": f"/item/{i}",
                          "http_host": f"h{i % 50}.example.test",
                          "http_user_agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0"},
            server_facts={"http_status": 200, "http_server": "nginx/1.22.1"},
            client_raw=(f"GET /item/{i} HTTP/1.1\r\nHost: h{i % 50}.example.test\r\n"
                        "User-Agent: Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0\r\n\r\n"
                        ).encode(),
            server_raw=b"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nContent-Length: 0\r\n\r\n",
            server_probe=ServiceRecord(
                Endpoint(f"10.2.0.{i % 50}", port), "open", service=svc, product=product,
                method="banner", confidence=10,
                evidence=(Evidence("null", f"{svc}.x", "probescan:x", b"220 ready\r\n"),),
            ) if i % 10 == 0 else None,
        ))
    return out


def test_ten_thousand_records_or_flows_render_into_one_page(tmp_path: Path) -> None:
    """Large inputs render whole (their speed is measured by benchmarks/report_speed.py)."""
    endpoints = load_records([write_jsonl(tmp_path / "big.jsonl", big_records(10_000))])
    assert len(blob(render_report(endpoints, "big", NOW))["records"]) == 10_000
    flows = load_records([write_jsonl(tmp_path / "watch.jsonl", big_flows(10_000))])
    data = blob(render_report(flows, "big", NOW))
    assert len(data["flows"]) == 10_000
    probed = {(f["server"]["ip"], f["server"]["port"]) for f in data["flows"]
              if f["probes"]["server"]}
    assert len(data["records"]) == len(probed) > 0  # the probed servers, once each


def mixed_records() -> list[dict[str, Any]]:
    """A scan of 192.0.2.10, then what a watcher saw (and probed) on the wire."""
    return [
        ssh().to_dict(),
        flow_record(1, server_probe=https(not_after=NOW + timedelta(days=300))),
        flow_record(2, ("198.51.100.8", 40000), ("192.0.2.10", 22), service="ssh",
                    product="OpenSSH", version="9.2p1", fingerprint="ssh.openssh",
                    protocol="ssh", method="passive", confidence=9,
                    client_facts={"ssh_ident": "SSH-2.0-OpenSSH_9.6", "hassh": "ec7378c1a92f"},
                    server_facts={"ssh_ident": "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3"},
                    client_raw=b"SSH-2.0-OpenSSH_9.6\r\n",
                    server_raw=b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n"),
        flow_record(3, ("198.51.100.9", 40001), ("192.0.2.20", 443), service="ssh",
                    product="OpenSSH", version=None, method="passive", confidence=6,
                    anomalies=("ssh on 443/tcp (usually https)",),
                    conflicts=("probe of the server says http (nginx)",),
                    client_probe=unknown("198.51.100.9", 40001)),
        flow_record(4, ("198.51.100.9", 40002), ("192.0.2.53", 53), transport="udp",
                    first_seen=None, service="dns", product=None, version=None,
                    fingerprint=None, protocol="dns", method="passive", confidence=6,
                    client_facts={"dns_query": "www.example.test", "dns_type": 1},
                    server_facts={"dns_rcode": 0}),
    ]


def test_flow_records_render_and_their_probes_join_the_services_view(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "watch.jsonl", mixed_records())
    records = load_records([path])
    assert [r.get("kind") for r in records] == ["flow"] * 4 + [None] * 3
    page = render_report(records, "watch", NOW)
    data = blob(page)
    # Services: the scan record and the probes nested in flows, host then port order.
    assert [(r["ip"], r["port"], r["service"]) for r in data["records"]] == [
        ("192.0.2.10", 22, "ssh"), ("192.0.2.10", 443, "http"),
        ("198.51.100.9", 40001, "unknown")]
    by_port = {r["port"]: r for r in data["records"]}
    assert by_port[443]["origin"] == f"{path}:2 probes.server"
    assert by_port[40001]["origin"] == f"{path}:4 probes.client"
    # Flows: by first seen, the untimed one last; derived fields for the page.
    flows = data["flows"]
    assert [f["id"] for f in flows] == [1, 2, 3, 4]
    assert flows[0]["passive"]["client"]["tls_sni"] == "www.example.test"
    assert flows[0]["probes"]["server"]["product"] == "nginx"
    assert flows[3]["first_seen"] is None and flows[3]["passive"]["client"]["dns_type"] == "1"
    assert flows[2]["anomalies"] == ["ssh on 443/tcp (usually https)"]
    # Ranks for sorting by server: 192.0.2.10:22 < 192.0.2.10:443 < 192.0.2.20 < 192.0.2.53.
    assert [f["sord"] for f in flows] == [1, 0, 2, 3]
    assert "timings" not in flows[0]["probes"]["server"]
    # The flows view, its timeline and the summary of flows are on the page.
    assert '<section id="flows"' in page and '<table id="flw"' in page
    assert page.count("<svg ") == 3 + 1 + 3  # open-port charts, timeline, flow charts
    assert "3 flows without a time" not in page and "1 flow without a time not shown" in page
    s = summarize(records, NOW)
    assert s["flows"]["flows"] == 4 and s["flows"]["clients"] == 3
    assert (s["anomalies"], s["endpoint_anomalies"], s["flow_anomalies"]) == (1, 0, 1)
    assert (s["flows"]["conflicts"], s["flows"]["probed"]) == (1, 2)
    assert "port/protocol anomalies (0 endpoints, 1 flows)" in page
    assert "endpoint records &middot; 4 flows" in page


def test_no_flows_view_without_flow_records() -> None:
    page = render_report(sample(), "scan only", NOW)
    assert blob(page)["flows"] == []
    assert 'id="flows"' not in page and "Flows over time" not in page
    assert 'id="flow-cards"' not in page
    assert summarize(load_like(sample()), NOW)["flows"] is None


@pytest.mark.parametrize("scan_first", [True, False])
def test_the_last_reading_of_an_endpoint_wins_also_inside_flows(
    tmp_path: Path, scan_first: bool,
) -> None:
    scanned = dict(https(not_after=NOW).to_dict(), version="1.18.0")
    seen = flow_record(1, server_probe=https(not_after=NOW))  # version 1.22.1
    scan = write_jsonl(tmp_path / "scan.jsonl", [scanned])
    watch = write_jsonl(tmp_path / "watch.jsonl", [seen])
    order = [scan, watch] if scan_first else [watch, scan]
    records = load_records(order)
    [endpoint] = [r for r in records if r.get("kind") != "flow"]
    assert endpoint["version"] == ("1.22.1" if scan_first else "1.18.0")
    # render_report of what load_records returns shows the same, and so does a mixed list.
    for given in (records, [scanned, seen] if scan_first else [seen, scanned]):
        [shown] = blob(render_report(given, "t", NOW))["records"]
        assert shown["version"] == endpoint["version"]


def test_summary_counts_flow_anomalies() -> None:
    records = [*sample(), *mixed_records()]
    records[4]["anomalies"] = ["something on 9999/tcp"]  # 192.0.2.11:9999, read once
    s = summarize(records, NOW)
    assert (s["anomalies"], s["endpoint_anomalies"], s["flow_anomalies"]) == (2, 1, 1)


def test_timeline_buckets_and_colours() -> None:
    names = ["http"] * 5 + ["ssh"] * 4 + ["dns"] * 3 + [f"s{i}" for i in range(8)]
    flows = load_like([flow_record(i + 1, first_seen=T0 + i * 30, service=name)
                       for i, name in enumerate(names)])  # 20 flows over 9.5 minutes
    flows.append(load_like([flow_record(99, first_seen=None)])[0])
    tl = timeline(flows)
    assert tl is not None
    assert tl.bucket == "10 seconds" and tl.untimed == 1 and tl.peak == 1
    assert len(tl.columns) == 20  # one flow every 30 s: every third bucket is used
    assert [lg.label for lg in tl.legend[:3]] == ["http", "ssh", "dns"]
    assert len(tl.legend) == 8 and tl.legend[-1].label == "other" and tl.legend[-1].count == 4
    assert tl.legend[-1].query == "" and tl.legend[0].query == "service:http"
    first = tl.columns[0]
    assert first.query == "from:2026-06-01T11:00:00Z to:2026-06-01T11:00:10Z"
    assert first.title == "2026-06-01 11:00:00 \u2013 11:00:10 UTC: 1 flow (http 1)"
    assert [seg.cls for seg in first.segments] == ["c0"]
    assert tl.ticks[0].text == "11:00:00"
    # One flow per day for a year: day buckets, date ticks; nothing without a time: no chart.
    yearly = load_like([flow_record(i + 1, first_seen=T0 + i * 86400) for i in range(365)])
    tl = timeline(yearly)
    assert tl is not None and tl.bucket == "7 days" and len(tl.columns) <= 60
    assert tl.ticks[0].text == "2026-05-28"
    assert timeline(load_like([flow_record(first_seen=None)])) is None
    # Whatever the span, at most TIMELINE_BUCKETS bars.
    for span in (0, 0.5, 59, 60, 61, 3599, 86400 * 7, 86400 * 59.5, 86400 * 1000, 3e9):
        tl = timeline(load_like([flow_record(1, first_seen=T0),
                                 flow_record(2, first_seen=T0 + span)]))
        assert tl is not None and 1 <= tl.buckets <= 60, (span, tl.buckets)
        assert len(tl.columns) == (1 if tl.buckets == 1 else 2)


def test_cli_reports_flows_and_counts_them(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    watch = write_jsonl(tmp_path / "watch.jsonl", mixed_records())
    out = tmp_path / "watch.html"
    assert cli([str(watch), "-o", str(out)]) == 0
    assert capsys.readouterr().err.strip() == (
        f"probescan: wrote {out}: 3 records, 2 hosts, 4 flows")
    assert len(blob(out.read_text(encoding="utf-8"))["flows"]) == 4


# ---- SQLite store ---------------------------------------------------------------------------


def make_store(path: Path) -> Path:
    store = Store(path)
    try:
        store.add_endpoint(ssh())
        old_probe = https(not_after=NOW + timedelta(days=300))
        store.add_flow(flow_record(1, server_probe=old_probe))
        store.add_endpoint(old_probe)
        store.add_flow(mixed_records()[2])
        # A later probe of the same server: the endpoints table keeps the latest.
        store.add_endpoint(dataclass_replace(old_probe, version="1.26.0"))
    finally:
        store.close()
    return path


def dataclass_replace(record: ServiceRecord, **changes: Any) -> ServiceRecord:
    import dataclasses
    return dataclasses.replace(record, **changes)


def test_sqlite_store_gives_endpoints_and_flows(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    db = make_store(tmp_path / "watch.db")
    assert db.read_bytes()[:16] == b"SQLite format 3\x00"
    records = load_records([db])
    flows = [r for r in records if r.get("kind") == "flow"]
    endpoints = {r["port"]: r for r in records if r.get("kind") != "flow"}
    assert [f["id"] for f in flows] == [1, 2]
    assert flows[0]["origin"] == f"{db}:flows row 1"
    assert flows[0]["passive"]["client"]["ja3"] == CLIENT_HELLO_FACTS["ja3"]
    assert sorted(endpoints) == [22, 443]
    assert endpoints[443]["version"] == "1.26.0"  # the endpoints table wins over old probes
    assert endpoints[22]["origin"].startswith(f"{db}:endpoints row ")
    out = tmp_path / "r.html"
    assert cli([str(db), "-o", str(out)]) == 0
    assert capsys.readouterr().err.strip() == f"probescan: wrote {out}: 2 records, 1 hosts, 2 flows"
    data = blob(out.read_text(encoding="utf-8"))
    assert len(data["flows"]) == 2 and len(data["records"]) == 2


def test_sqlite_store_and_jsonl_together(tmp_path: Path) -> None:
    db = make_store(tmp_path / "watch.db")
    rescan = write_jsonl(tmp_path / "rescan.jsonl",
                         [dict(https(not_after=NOW).to_dict(), version="1.27.0")])
    records = load_records([db, rescan])
    [r443] = [r for r in records if r.get("kind") != "flow" and r["port"] == 443]
    assert r443["version"] == "1.27.0"


def test_a_sqlite_file_that_is_no_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    import sqlite3
    monkeypatch.chdir(tmp_path)
    db = sqlite3.connect("other.db")
    db.execute("CREATE TABLE t (x)")
    db.commit()
    db.close()
    assert cli(["other.db", "-o", "r.html"]) == 2
    assert capsys.readouterr().err == (
        "probescan: error: other.db: not a readable probescan store: no such table: endpoints\n")
    make_store(Path("bad.db"))
    db = sqlite3.connect("bad.db")
    db.execute("UPDATE flows SET record = '{\"kind\": \"flow\", \"transport\": \"tcp\"}' "
               "WHERE rowid = 2")
    db.execute("UPDATE endpoints SET record = 'not json' WHERE port = 22")
    db.commit()
    db.close()
    assert cli(["bad.db", "-o", "r.html"]) == 2
    assert capsys.readouterr().err == "probescan: error: bad.db: a stored record is not JSON\n"
    db = sqlite3.connect("bad.db")
    db.execute("DELETE FROM endpoints WHERE port = 22")
    db.commit()
    db.close()
    assert cli(["bad.db", "-o", "r.html"]) == 2
    assert capsys.readouterr().err == (
        "probescan: error: bad.db:flows row 2: flow record has no 'client'\n")
    assert not Path("r.html").exists()


# ---- bad flow records -----------------------------------------------------------------------

FLOW = flow_record(server_probe=ssh("192.0.2.10", 22))


def flow_with(**changes: Any) -> str:
    record = json.loads(json.dumps(FLOW))
    for dotted, value in changes.items():
        *path, last = dotted.split("__")
        target = record
        for key in path:
            target = target[key]
        if value is DROP:
            del target[last]
        else:
            target[last] = value
    return json.dumps(record)


DROP = object()


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (flow_with(client=DROP), "flow record has no 'client'"),
        (flow_with(transport=None), "flow record has no 'transport'"),
        (flow_with(server={"ip": "192.0.2.1"}), "'server.port' must be an integer 0..65535"),
        (flow_with(client__ip=""), "'client.ip' must be a non-empty string"),
        (flow_with(client="198.51.100.7:51000"), "'client' must be an object with 'ip' and 'port'"),
        (flow_with(first_seen="2026-06-01T12:00:00"),
         "'first_seen' must be a time in seconds since 1970 or null"),
        (flow_with(last_seen=-1), "'last_seen' must be a time in seconds since 1970 or null"),
        (flow_with(first_seen=1e300), "'first_seen' must be a time in seconds since 1970 or null"),
        (flow_with(confidence="high"), "'confidence' must be an integer"),
        (flow_with(service=["http"]), "'service' must be a string or null"),
        (flow_with(anomalies="ssh on 443"), "'anomalies' must be a list"),
        (flow_with(conflicts={"a": 1}), "'conflicts' must be a list"),
        (flow_with(cpe=[1]), "'cpe' must be a list of strings"),
        (flow_with(packets=[1, 2]), "'packets' must be an object or null"),
        (flow_with(bytes__c2s="12"), "'bytes.c2s' must be an integer or null"),
        (flow_with(midstream="no"), "'midstream' must be true, false or null"),
        (flow_with(passive="tls"), "'passive' must be an object or null"),
        (flow_with(passive__client=["sni"]), "'passive.client' must be an object or null"),
        (flow_with(passive__server_raw=5), "'passive.server_raw' must be a string or null"),
        (flow_with(probes=[]), "'probes' must be an object or null"),
        (flow_with(probes__server__port=DROP), "probes.server: record has no 'port'"),
        (flow_with(probes__server__tls=5), "probes.server: 'tls' must be an object or null"),
        (flow_with(probes__client=FLOW), "'probes.client' must be an endpoint record or null"),
        (flow_with(probes__queued="server"), "'probes.queued' must be a list of strings"),
        (flow_with(kind="flows"), 'unknown record kind "flows"'),
        (flow_with(kind=7), "unknown record kind 7"),
        (flow_with(kind="\x1b[2J" * 20),  # quoted and escaped, shortened
         'unknown record kind "\\u001b[2J\\u001b[2J\\u001b[2J\\u001b[2J\\u0...'),
    ],
)
def test_bad_flow_records_are_one_line_naming_file_and_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    line: str, message: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("watch.jsonl").write_text(f"{GOOD}\n{json.dumps(FLOW)}\n{line}\n", encoding="utf-8")
    assert cli(["watch.jsonl", "-o", "report.html"]) == 2
    assert capsys.readouterr().err == f"probescan: error: watch.jsonl:3: {message}\n"
    assert not Path("report.html").exists()


def test_flow_fields_may_be_missing(tmp_path: Path) -> None:
    minimal = {"kind": "flow", "transport": "udp", "client": {"ip": "192.0.2.1", "port": 5353},
               "server": {"ip": "192.0.2.2", "port": 53}}
    path = write_jsonl(tmp_path / "old.jsonl", [minimal])
    [f] = load_records([path])
    assert f["service"] is None and f["method"] == "none" and f["first_seen"] is None
    assert f["passive"]["client"] == {} and f["probes"] == {"server": None, "client": None,
                                                            "queued": []}
    page = render_report([f], "t", NOW)
    assert blob(page)["flows"][0]["unknown"] is True
    assert "Flows over time" not in page  # no times, no timeline


# ---- write_report: for scan --html and watch --html -----------------------------------------


def test_write_report_checks_and_writes_atomically(tmp_path: Path) -> None:
    out = tmp_path / "run.html"
    write_report([ssh().to_dict(), *mixed_records()], out, "probescan watch")
    page = out.read_text(encoding="utf-8")
    assert "<title>probescan watch</title>" in page and len(blob(page)["flows"]) == 4
    assert out.stat().st_mode & 0o777 == 0o644 & ~_umask()
    with pytest.raises(ReportInputError, match=r"^<records>:2: flow record has no 'server'$"):
        write_report([ssh().to_dict(), {"kind": "flow", "transport": "tcp",
                                        "client": {"ip": "x", "port": 1}}],
                     tmp_path / "bad.html", "t")
    assert not (tmp_path / "bad.html").exists()
    with pytest.raises(OSError):
        write_report([ssh().to_dict()], tmp_path / "no" / "such" / "r.html", "t")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.html"]  # no temporary files


def _umask() -> int:
    import os
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_a_real_flow_record_renders() -> None:
    """FlowRecord.to_dict() itself, not a look-alike."""
    from probescan.model import Match
    from probescan.protocols.packet import TCP
    from probescan.watch import label
    from probescan.watch.flows import Direction, Flow
    from probescan.watch.passive import PassiveResult

    flow = Flow((TCP, "192.0.2.10", 443, "198.51.100.7", 51000), TCP, ("198.51.100.7", 51000),
                ("192.0.2.10", 443), T0, T0 + 1.5, "handshake", False,
                c2s=Direction(3, 517, bytearray(b"\x16\x03\x01" + HOSTILE_UA.encode())),
                s2c=Direction(4, 1200, bytearray(b"HTTP/1.1 200 OK\r\nServer: nginx\r\n")),
                id=7)
    passive = PassiveResult(
        Match("http.nginx", "probescan:http.toml", "http", product="nginx"), "null", "tls",
        {"tls_sni": HOSTILE_SNI, "tls_alpn": ["h2"], "ja3": "abc", "ja4": "t13d"},
        {"http_status": 200, "http_server": "nginx"})
    probe = https(not_after=NOW + timedelta(days=300))
    record = label.FlowRecord(flow, passive, label.combine(passive, probe),
                              ["http on 443/tcp (usually https)"], probe, None, ["server"])
    d = record.to_dict()
    assert set(d) == set(flow_record())  # the look-alike used by the other tests has its shape
    assert set(d["passive"]) == set(flow_record()["passive"])
    page = render_report([d], "real", NOW)
    [f] = blob(page)["flows"]
    assert (f["id"], f["method"], f["confidence"]) == (7, "passive+probe", 10)
    assert f["passive"]["client"]["tls_sni"] == HOSTILE_SNI
    assert f["passive"]["server"]["http_status"] == "200"
    assert [r["port"] for r in blob(page)["records"]] == [443]
