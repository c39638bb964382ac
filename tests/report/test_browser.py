"""The HTML report in a real browser: Debian's chromium driven by playwright.

Needs the Debian package chromium and the Python package playwright (its own browser
download is never used). Missing ones skip these tests, except with
PROBESCAN_REQUIRE_SERVERS=1, where they fail.

Checked: no console error and no network request at all, a hostile record (scan or flow)
never runs script, search / filter / sort / paging / evidence work in the services and the
flows view, the timeline and the cards filter the flows, print media expands the evidence,
and a 10,000-record report (endpoints or flows) shows its first rows in under 2 s.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from probescan.model import Endpoint, Evidence, ServiceRecord, TlsInfo
from probescan.report import render_report
from tests.report.test_report import T0, big_flows, flow_record

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
]
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
PAYLOAD = '<img src=x onerror="window.pwned=1">'
SCRIPT = "<script>window.pwned=2;alert(1)</script>"


def _missing(reason: str) -> None:
    if os.environ.get("PROBESCAN_REQUIRE_SERVERS") == "1":
        pytest.fail(f"{reason}, and PROBESCAN_REQUIRE_SERVERS=1")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("playwright not installed (pip install playwright)")
    if not CHROMIUM.exists():
        _missing(f"{CHROMIUM} missing (Debian package chromium)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


@dataclass
class Page:
    page: Any
    url: str
    console: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)

    def visible_rows(self, tbody: str = "rows") -> list[list[str]]:
        """The cell texts of the data rows on screen."""
        rows: list[list[str]] = self.page.eval_on_selector_all(
            f"#{tbody} tr.rec",
            "rows => rows.filter(r => r.offsetParent !== null)"
            ".map(r => Array.from(r.cells).map(c => c.textContent))",
        )
        return rows

    def column(self, index: int, tbody: str = "rows") -> list[str]:
        return [row[index] for row in self.visible_rows(tbody)]

    def renders(self, tbody: str = "rows") -> int:
        return int(self.page.get_attribute(f"#{tbody}", "data-renders") or 0)

    def search(self, text: str, box: str = "q", tbody: str = "rows") -> None:
        """Type a query and wait until the table shows its result."""
        before = self.renders(tbody)
        self.page.fill(f"#{box}", text)
        self.page.wait_for_function(
            "([id, n]) => +document.getElementById(id).getAttribute('data-renders') > n",
            arg=[tbody, before])

    def flows(self) -> list[list[str]]:
        return self.visible_rows("flow-rows")

    def flow_column(self, index: int) -> list[str]:
        return self.column(index, "flow-rows")

    def search_flows(self, text: str) -> None:
        self.search(text, "fq", "flow-rows")

    def assert_clean(self) -> None:
        assert self.errors == [], self.errors
        assert [m for m in self.console if m.startswith("error")] == [], self.console
        assert self.requests == [self.url], self.requests
        assert self.dialogs == []
        assert self.page.evaluate("typeof window.pwned") == "undefined"


def open_report(browser: Any, path: Path, viewport: tuple[int, int] = (1400, 1000),
                wait_for: str = "#rows tr.rec") -> Page:
    context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]},
                                  java_script_enabled=True)
    page = context.new_page()
    p = Page(page, path.resolve().as_uri())
    page.on("console", lambda m: p.console.append(f"{m.type}: {m.text}"))
    page.on("pageerror", lambda e: p.errors.append(str(e)))
    page.on("request", lambda r: p.requests.append(r.url))

    def on_dialog(d: Any) -> None:
        p.dialogs.append(d.message)
        d.dismiss()

    page.on("dialog", on_dialog)
    page.goto(p.url)
    page.wait_for_selector(wait_for, state="visible")
    return p


def record(ip: str, port: int, service: str | None, product: str | None = None,
           state: str = "open", **kw: Any) -> dict[str, Any]:
    raw = kw.pop("raw", f"{service} banner from {ip}:{port}\r\n".encode())
    fp = kw.pop("fingerprint", f"{service}.generic" if service else None)
    return ServiceRecord(
        Endpoint(ip, port), state,  # type: ignore[arg-type]
        service=service, product=product, method="banner" if service else "none",
        confidence=kw.pop("confidence", 10 if service else 0),
        evidence=(Evidence("null", fp, "probescan:test.toml", raw),) if fp else (),
        **kw,
    ).to_dict()


def small_records() -> list[dict[str, Any]]:
    expired = TlsInfo(version="TLSv1.2", subject="CN=old.test", issuer="CN=old.test",
                      not_after=(NOW - timedelta(days=5)).isoformat(), self_signed=True)
    return [
        record("192.0.2.1", 22, "ssh", "OpenSSH", version="9.2p1"),
        record("192.0.2.1", 80, "http", "nginx", confidence=5),
        record("192.0.2.1", 443, "http", "nginx", tls=expired, tunnel="tls"),
        record("192.0.2.2", 25, "smtp", "Postfix"),
        record("192.0.2.2", 23, None, state="closed"),
        record("192.0.2.2", 3306, "mysql", "MySQL", confidence=8),
        record("192.0.2.10", 2222, "ssh", "Dropbear"),
        record("192.0.2.10", 7777, "unknown", None,
               unmatched=(Evidence("null", None, None, b"?? who\r\n"),)),
        record("192.0.2.10", 666, "http", PAYLOAD + SCRIPT, raw=(PAYLOAD + SCRIPT).encode(),
               fingerprint=PAYLOAD, hostname=SCRIPT, info='"><svg onload="window.pwned=3">',
               tls=TlsInfo(subject=PAYLOAD, issuer=SCRIPT, self_signed=True,
                           not_after="</script><script>window.pwned=4</script>"),
               unmatched=(Evidence("null", None, None, (SCRIPT + PAYLOAD).encode()),)),
        record("192.0.2.10", 667, "unknown", None,
               unmatched=(Evidence("null", None, None, (SCRIPT + PAYLOAD).encode()),)),
    ]


@pytest.fixture(scope="module")
def small_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("report") / "small.html"
    records = small_records()
    records[0]["anomalies"] = ["ssh expected on 22/tcp only"]
    path.write_text(render_report(records, SCRIPT + " lab", NOW), encoding="utf-8")
    return path


def test_loads_offline_without_errors_and_hostile_data_stays_text(
    browser: Any, small_report: Path, tmp_path: Path,
) -> None:
    p = open_report(browser, small_report)
    page = p.page
    assert page.title() == SCRIPT + " lab"
    assert len(p.visible_rows()) == 10
    # The hostile record shows its text, as text.
    [row] = [r for r in p.visible_rows() if r[2] == "666"]
    assert PAYLOAD + SCRIPT in row[6]
    assert page.eval_on_selector_all("img", "e => e.length") == 0
    assert page.eval_on_selector_all("script", "e => e.length") == 2
    # Open all the evidence: still nothing runs.
    for button in page.query_selector_all("#rows button.tog"):
        button.click()
    texts = page.eval_on_selector_all("#rows tr.ev pre", "e => e.map(x => x.textContent)")
    assert any(PAYLOAD + SCRIPT in t for t in texts)
    unknown_text = page.text_content("#unknown-list") or ""
    assert SCRIPT + PAYLOAD in unknown_text and "?? who\\r\\n" in unknown_text
    cert_text = page.text_content("#cert-rows") or ""
    assert PAYLOAD in cert_text and "CN=old.test" in cert_text
    assert page.query_selector("#flows") is None  # no flow records: no flows view
    page.wait_for_timeout(200)  # give any smuggled handler its chance
    p.assert_clean()
    shot = tmp_path / "report.png"
    page.screenshot(path=str(shot), full_page=True)
    print(f"\nscreenshot: {shot}")
    assert shot.stat().st_size > 10_000
    page.context.close()


def test_search_filter_and_sort(browser: Any, small_report: Path) -> None:
    p = open_report(browser, small_report)
    page = p.page
    p.search("ssh")
    assert sorted(p.column(2), key=int) == ["22", "2222"]
    assert set(p.column(5)) == {"ssh"}
    p.search("port:443")
    assert p.column(2) == ["443"]
    p.search("is:expired")
    assert p.column(2) == ["443"]
    p.search("nginx")
    assert sorted(p.column(2)) == ["443", "80"]
    p.search("")
    assert len(p.visible_rows()) == 10

    page.select_option("#f-state", "closed")
    assert p.column(2) == ["23"]
    page.select_option("#f-state", "")
    page.select_option("#f-service", "http")
    assert sorted(p.column(2)) == ["443", "666", "80"]
    page.select_option("#f-service", "")

    page.click("th[data-sort=port] button")
    ports = [int(x) for x in p.column(2)]
    assert ports == sorted(ports) and len(ports) == 10
    assert page.get_attribute("th[data-sort=port]", "aria-sort") == "ascending"
    page.click("th[data-sort=port] button")
    ports = [int(x) for x in p.column(2)]
    assert ports == sorted(ports, reverse=True)
    page.click("th[data-sort=confidence] button")  # highest first
    confidences = [int(x) for x in p.column(8)]
    assert confidences == sorted(confidences, reverse=True)
    # Grouped by host again: a header row per host.
    page.click("th[data-sort=host] button")
    headers = page.eval_on_selector_all("#rows tr.hosthdr th", "e => e.map(x => x.textContent)")
    assert [h.split()[0] for h in headers] == ["192.0.2.1", "192.0.2.2", "192.0.2.10"]
    assert [h.split()[1] for h in headers] == ["3", "3", "4"]
    # A chart bar and a summary card set the search.
    page.click("#charts g.bar[data-query='service:ssh']")
    assert p.page.input_value("#q") == "service:ssh"
    assert set(p.column(5)) == {"ssh"}
    page.click("#summary button[data-query='is:unknown']")
    assert p.column(2) == ["667", "7777"]
    page.click("#clear")
    assert len(p.visible_rows()) == 10
    p.assert_clean()
    page.context.close()


def test_evidence_expands_on_click_and_print_shows_it(browser: Any, small_report: Path) -> None:
    p = open_report(browser, small_report)
    page = p.page
    first = page.query_selector("#rows tr.rec")
    assert first is not None
    evidence = page.query_selector("#rows tr.ev")
    assert evidence is not None and not evidence.is_visible()
    first.query_selector("button.tog").click()
    assert evidence.is_visible()
    text = evidence.text_content() or ""
    assert "ssh.generic" in text and "probescan:test.toml" in text and "null" in text
    assert "ssh banner from 192.0.2.1:22\\r\\n" in text
    assert "ssh expected on 22/tcp only" in text
    first.query_selector("button.tog").click()
    assert not evidence.is_visible()
    # Print: every evidence row on the page shows, the controls do not.
    page.emulate_media(media="print")
    shown = page.eval_on_selector_all("#rows tr.ev", "e => e.filter(x => x.offsetParent).length")
    assert shown == 10
    assert not page.is_visible("#q") and not page.is_visible(".controls")
    page.emulate_media(media="screen")
    p.assert_clean()
    page.context.close()


# ---- the flows view ------------------------------------------------------------------------

SNI = '"><img src=x onerror="window.pwned=6">' + SCRIPT
UA = "curl/8.5 " + PAYLOAD + "\u202e\x1b[31m"


def watch_records() -> list[dict[str, Any]]:
    """What a watcher wrote: flows over 20 minutes, two of them probed, one hostile."""
    probe = ServiceRecord(Endpoint("192.0.2.1", 8080), "open", service="http",
                          product="Jetty", version="9.4", method="probe", confidence=10,
                          evidence=(Evidence("GetRequest", "http.jetty", "probescan:http.toml",
                                             b"HTTP/1.1 200 OK\r\nServer: Jetty(9.4)\r\n"),))
    flows = [
        flow_record(1, ("198.51.100.7", 51000), ("192.0.2.1", 443), first_seen=T0,
                    service="http", product="nginx", version="1.22.1"),
        flow_record(2, ("198.51.100.7", 51001), ("192.0.2.1", 22), first_seen=T0 + 30,
                    service="ssh", product="OpenSSH", version="9.2p1", method="passive",
                    confidence=9, fingerprint="ssh.openssh", protocol="ssh",
                    client_facts={"ssh_ident": "SSH-2.0-OpenSSH_9.6", "hassh": "ec7378c1a92f"},
                    server_facts={"ssh_ident": "SSH-2.0-OpenSSH_9.2p1"},
                    client_raw=b"SSH-2.0-OpenSSH_9.6\r\n",
                    server_raw=b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n"),
        flow_record(3, ("198.51.100.8", 40000), ("192.0.2.1", 8080), first_seen=T0 + 300,
                    service="http", product="Jetty", version="9.4", method="passive+probe",
                    fingerprint="http.jetty", protocol="http",
                    client_facts={"http_method": "GET", "http_host": "intranet.test",
                                  "http_user_agent": "Mozilla/5.0 Firefox/128.0"},
                    server_facts={"http_status": 200, "http_server": "Jetty(9.4)"},
                    client_raw=b"GET / HTTP/1.1\r\nHost: intranet.test\r\n\r\n",
                    server_raw=b"HTTP/1.1 200 OK\r\nServer: Jetty(9.4)\r\n\r\n",
                    server_probe=probe),
        flow_record(4, ("198.51.100.9", 40001), ("192.0.2.2", 443), first_seen=T0 + 600,
                    service="ssh", product="OpenSSH", version=None, method="passive",
                    confidence=6, fingerprint="ssh.openssh", protocol="ssh",
                    anomalies=("ssh on 443/tcp (usually https)",),
                    conflicts=("probe of the server says http (nginx)",),
                    client_facts={"ssh_ident": "SSH-2.0-Go"},
                    server_facts={"ssh_ident": "SSH-2.0-OpenSSH_8.4p1"},
                    client_raw=b"SSH-2.0-Go\r\n", server_raw=b"SSH-2.0-OpenSSH_8.4p1\r\n"),
        flow_record(5, ("198.51.100.9", 40002), ("192.0.2.53", 53), transport="udp",
                    first_seen=T0 + 610, service="dns", product=None, version=None,
                    fingerprint=None, protocol="dns", method="passive", confidence=6,
                    client_facts={"dns_query": "www.example.test", "dns_type": 1},
                    server_facts={"dns_rcode": 0}),
        flow_record(6, ("203.0.113.66", 6666), ("192.0.2.66", 443), first_seen=T0 + 1200,
                    service="unknown", product=None, version=None, method="none",
                    confidence=0, fingerprint=None, protocol="tls",
                    client_facts={"tls_sni": SNI, "http_user_agent": UA,
                                  "constructor": "c-value", "__proto__": "p-value"},
                    server_facts={"http_server": SCRIPT},
                    client_raw=(SCRIPT + PAYLOAD).encode(),
                    server_raw=("220 " + PAYLOAD + "\r\n").encode(),
                    client_probe=ServiceRecord(Endpoint("203.0.113.66", 6666), "open",
                                               service="unknown", product=None,
                                               unmatched=(Evidence("null", None, None,
                                                                   SCRIPT.encode()),))),
    ]
    scanned = small_records()
    scanned[0]["anomalies"] = ["ssh expected on 22/tcp only"]
    return [*scanned, *flows]


@pytest.fixture(scope="module")
def watch_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("report") / "watch.html"
    path.write_text(render_report(watch_records(), "watch " + SCRIPT, NOW), encoding="utf-8")
    return path


def test_flows_view_filters_sorts_and_shows_evidence(
    browser: Any, watch_report: Path, tmp_path: Path,
) -> None:
    p = open_report(browser, watch_report, wait_for="#flow-rows tr.rec")
    page = p.page
    assert len(p.flows()) == 6
    assert page.text_content("#fcount") == "6 of 6 flows"
    # First seen as readable UTC, in order; client, server, service columns.
    assert p.flow_column(1)[:2] == ["2026-06-01 11:00:00", "2026-06-01 11:00:30"]
    assert p.flow_column(2)[0] == "198.51.100.7:51000" and p.flow_column(3)[0] == "192.0.2.1:443"
    # The probed endpoints joined the services view (8080 from a flow, 6666 a client probe).
    p.search("port:8080")
    assert p.column(5) == ["http"] and "Jetty 9.4" in p.column(6)[0]
    # Search, field terms and the selects.
    p.search_flows("sni:www.example")
    assert p.flow_column(3) == ["192.0.2.1:443"]
    p.search_flows("client:198.51.100.9")
    assert p.flow_column(3) == ["192.0.2.2:443", "192.0.2.53:53"]
    p.search_flows("is:anomaly")
    assert p.flow_column(3) == ["192.0.2.2:443"]
    assert "ssh on 443/tcp (usually https)" in p.flows()[0][9]
    assert "probe of the server says http (nginx)" in p.flows()[0][10]
    p.search_flows("ua:firefox")
    assert p.flow_column(3) == ["192.0.2.1:8080"]
    p.search_flows("Jetty(9.4)")  # plain text: server facts and raw bytes are searched too
    assert p.flow_column(3) == ["192.0.2.1:8080"]
    p.search_flows("")
    page.select_option("#f-fservice", "ssh")
    assert p.flow_column(3) == ["192.0.2.1:22", "192.0.2.2:443"]
    page.select_option("#f-fmethod", "passive")
    assert p.flow_column(3) == ["192.0.2.1:22", "192.0.2.2:443"]
    page.select_option("#f-fservice", "")
    assert sorted(p.flow_column(3)) == ["192.0.2.1:22", "192.0.2.2:443", "192.0.2.53:53"]
    page.click("#fclear")
    assert len(p.flows()) == 6
    # Sorting: by server (addresses in numeric order), by confidence (highest first).
    page.click("#flw th[data-sort=server] button")
    assert p.flow_column(3) == ["192.0.2.1:22", "192.0.2.1:443", "192.0.2.1:8080",
                                "192.0.2.2:443", "192.0.2.53:53", "192.0.2.66:443"]
    assert page.get_attribute("#flw th[data-sort=server]", "aria-sort") == "ascending"
    page.click("#flw th[data-sort=server] button")
    assert p.flow_column(3)[0] == "192.0.2.66:443"
    page.click("#flw th[data-sort=confidence] button")
    confidences = [int(x) for x in p.flow_column(7)]
    assert confidences == sorted(confidences, reverse=True)
    page.click("#fclear")
    # Evidence one click away: passive facts, raw bytes, the probe of the server.
    row = page.query_selector("#flow-rows tr.rec:nth-child(5)")  # the third flow (8080)
    assert row is not None and "192.0.2.1:8080" in (row.text_content() or "")
    evidence = page.query_selector("#fev-2")
    assert evidence is not None and not evidence.is_visible()
    row.query_selector("button.tog").click()
    assert evidence.is_visible()
    text = evidence.text_content() or ""
    for part in ("http.jetty", "User-Agent", "Mozilla/5.0 Firefox/128.0", "HTTP host",
                 "intranet.test", "HTTP Server", "Jetty(9.4)",
                 "GET / HTTP/1.1\\r\\nHost: intranet.test\\r\\n\\r\\n",
                 "Probe of the server: 192.0.2.1:8080/tcp", "GetRequest", "7 client\u2192server"):
        assert part in text, part
    row.query_selector("button.tog").click()
    assert not evidence.is_visible()
    # The timeline: a bar filters to its time range, a legend entry to its service.
    bars = page.query_selector_all("#timeline g.tb")
    assert len(bars) == 5  # 11:00:00, 11:00:30, 11:05, 11:10:00-11:10:10, 11:20
    bars[0].click()
    assert page.input_value("#fq").startswith("from:2026-06-01T11:00:00Z to:")
    assert p.flow_column(3) == ["192.0.2.1:443"]
    page.click("#timeline button.lg[data-query='service:ssh']")
    assert page.input_value("#fq") == "service:ssh"
    assert p.flow_column(3) == ["192.0.2.1:22", "192.0.2.2:443"]
    # A chart bar of the flows and the cards filter the flows table.
    page.click("#flows g.bar[data-query='client:198.51.100.8']")
    assert p.flow_column(3) == ["192.0.2.1:8080"]
    page.click("#flow-cards button[data-query='is:conflict']")
    assert p.flow_column(3) == ["192.0.2.2:443"]
    page.click("#summary button[data-query='is:anomaly']")  # endpoints and flows
    assert p.column(2) == ["22"] and p.flow_column(3) == ["192.0.2.2:443"]
    page.click("#fclear")
    # Print: every flow's evidence shows.
    page.emulate_media(media="print")
    shown = page.eval_on_selector_all("#flow-rows tr.ev",
                                      "e => e.filter(x => x.offsetParent).length")
    assert shown == 6
    page.emulate_media(media="screen")
    p.assert_clean()
    shot = tmp_path / "flows.png"
    page.query_selector("#fev-2").evaluate("e => { e.hidden = false; }")
    page.locator("#flows").screenshot(path=str(shot))
    print(f"\nscreenshot of the flows view: {shot}")
    assert shot.stat().st_size > 10_000
    page.context.close()


def test_hostile_flow_fields_stay_text(browser: Any, watch_report: Path) -> None:
    p = open_report(browser, watch_report, wait_for="#flow-rows tr.rec")
    page = p.page
    assert page.title() == "watch " + SCRIPT
    for button in page.query_selector_all("#flow-rows button.tog"):
        button.click()
    text = page.text_content("#fev-5") or ""
    assert SNI in text and SCRIPT in text
    assert "curl/8.5 " + PAYLOAD + "\\u{202e}\\x1b[31m" in text  # controls made visible
    assert SCRIPT + PAYLOAD in text  # the client's raw bytes
    assert "constructorc-value" in text and "__proto__p-value" in text  # keys are just names
    assert "function" not in text
    assert page.eval_on_selector_all("img", "e => e.length") == 0
    assert page.eval_on_selector_all("script", "e => e.length") == 2
    assert page.eval_on_selector_all("svg [onload], [onerror]", "e => e.length") == 0
    page.wait_for_timeout(200)  # give any smuggled handler its chance
    p.assert_clean()
    page.context.close()


def big_records(n: int) -> list[dict[str, Any]]:
    out = []
    names = ["ssh", "http", "smtp", "mysql", "unknown", "imap", "redis"]
    for i in range(n):
        svc = names[i % len(names)]
        tls = TlsInfo(version="TLSv1.3", subject=f"CN=h{i}", issuer="CN=ca",
                      not_after=(NOW + timedelta(days=i % 400 - 30)).isoformat(),
                      self_signed=i % 5 == 0) if i % 3 == 0 else None
        out.append(record(
            f"10.{i // 65536}.{i // 256 % 256}.{i % 256}", 1 + i % 1000, svc,
            None if svc == "unknown" else f"prod{i % 40}", version=f"{i % 9}.{i % 7}", tls=tls,
            raw=(f"220 host{i} ESMTP <x@y> & friends\r\n" * 4).encode(),
            unmatched=(Evidence("null", None, None, b"?\r\n" * 20),) if svc == "unknown" else (),
        ))
    return out


# Ten thousand endpoint records or flows: one page of 200 rows, paging, and a search plus a
# sort over all of them. (How fast: benchmarks/report_speed.py.)
LARGE = {
    "records": ("rows", "q", "#count", "records", ".pager", "th[data-sort=port]", "smtp"),
    "flows": ("flow-rows", "fq", "#fcount", "flows", "#flows .pager",
              "#flw th[data-sort=client]", "ssh"),
}


@pytest.mark.parametrize("kind", list(LARGE))
def test_ten_thousand_rows_page_search_and_sort(browser: Any, tmp_path: Path, kind: str
                                                ) -> None:
    tbody, box, count, noun, pager, sort_header, service = LARGE[kind]
    path = tmp_path / f"{kind}.html"
    rows = big_records(10_000) if kind == "records" else big_flows(10_000)
    path.write_text(render_report(rows, "big", NOW), encoding="utf-8")
    p = open_report(browser, path, wait_for=f"#{tbody} tr.rec")
    page = p.page
    assert len(p.visible_rows(tbody)) == 200  # one page, not 10,000 rows
    assert page.text_content(count) == f"10,000 of 10,000 {noun}"
    page.click(f"{pager} .next >> nth=0")
    assert "page 2 of 50" in (page.text_content(f"{pager} .pageinfo") or "")
    p.search(f"service:{service}", box, tbody)
    page.click(f"{sort_header} button")
    assert set(p.column(5, tbody)) == {service} and len(p.visible_rows(tbody)) == 200
    p.assert_clean()
    page.context.close()


def test_printing_shows_every_row_of_a_medium_report(browser: Any, tmp_path: Path) -> None:
    path = tmp_path / "medium.html"
    path.write_text(render_report(big_records(450), "medium", NOW), encoding="utf-8")
    p = open_report(browser, path)
    page = p.page
    assert len(p.visible_rows()) == 200
    page.emulate_media(media="print")
    page.evaluate("window.dispatchEvent(new Event('beforeprint'))")
    assert len(p.visible_rows()) == 450
    shown = page.eval_on_selector_all("#rows tr.ev", "e => e.filter(x => x.offsetParent).length")
    assert shown == 450
    assert not page.is_visible(".pager") and not page.is_visible("#unknown-more")
    unknown = page.eval_on_selector_all("#unknown-list .unk", "e => e.length")
    assert unknown == sum(1 for i in range(450) if i % 7 == 4)  # all, not the first 50
    page.emulate_media(media="screen")
    page.evaluate("window.dispatchEvent(new Event('afterprint'))")
    assert len(p.visible_rows()) == 200
    p.assert_clean()
    page.context.close()
