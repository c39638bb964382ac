"""The report marks labels read from behaviour (the forest's and the behaviour signatures'),
draws a flow's sizes beside its profile's and says what was pooled or which specification a
signature comes from (in chromium, as tests/report/test_browser.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from probescan.cli.main import main
from probescan.report import render_report
from tests.classify.synthetic import headers_only, write_capture
from tests.classify.test_watch_signatures import flows as signature_flows
from tests.classify.test_watch_signatures import strip_payload
from tests.report.test_browser import NOW, browser, open_report

__all__ = ["browser"]  # the fixture


@pytest.fixture(scope="module")
def stat_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("statreport")
    write_capture(d / "train.pcap", seed=1)
    write_capture(d / "test.pcap", seed=2, flows=2, ssh_port=443)
    headers_only(d / "test.pcap", d / "test-h.pcap")
    assert main(["profiles", "train", str(d / "train.pcap"), "-o", str(d / "p.toml")]) == 0
    assert main(["watch", "-r", str(d / "test-h.pcap"), "--no-probe", "-q", "-o",
                 str(d / "f.jsonl"), "--profiles", str(d / "p.toml")]) == 0
    records = [json.loads(line) for line in (d / "f.jsonl").read_text().splitlines()]
    path = d / "stat.html"
    path.write_text(render_report(records, "statistical", NOW), encoding="utf-8")
    return path


def test_statistical_labels_are_marked_and_sizes_drawn(stat_report: Path, browser: Any,
                                                       tmp_path: Path) -> None:
    p = open_report(browser, stat_report, wait_for="#flow-rows tr.rec")
    page = p.page
    rows = p.flows()
    assert len(rows) == 4 and all("statistical" in r[8] for r in rows)
    assert page.locator("#flow-rows .tag.stat").count() == 4
    page.locator("#flow-rows tr.rec button.tog").first.click()
    ev = page.locator("#flow-rows tr.ev:visible").first
    text = ev.inner_text()
    assert "Behaviour" in text and "profile voted" in text and "names the flow" in text
    assert "decided by" in text and "statistics" in text
    # two charts (client and server sizes), each with the flow's bars and the profile's
    assert ev.locator(".sizes svg").count() == 2
    assert ev.locator(".sizes rect.flowbar").count() == 16
    assert ev.locator(".sizes rect.profbar").count() == 16
    page.screenshot(path=str(tmp_path / "statistical.png"), full_page=True)
    # the second flow to each server endpoint was decided with the first
    for button in page.locator("#flow-rows tr.rec button.tog").all()[1:]:
        button.click()
    shown = page.locator("#flow-rows tr.ev:visible").all_inner_texts()
    assert sum("pooled with 1 earlier flow(s) of this server endpoint" in t for t in shown) == 2
    p.assert_clean()


@pytest.fixture(scope="module")
def sig_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A headers-only capture of flows the shipped behaviour signatures name (watched in a
    process of its own: the browser's event loop may already run in this one)."""
    d = tmp_path_factory.mktemp("sigreport")
    cap = strip_payload(signature_flows(random_bytes=False), d / "sig-h.pcap")
    subprocess.run([sys.executable, "-m", "probescan", "watch", "-r", str(cap), "--no-probe",
                    "-q", "-o", str(d / "f.jsonl")], check=True, timeout=120)
    records = [json.loads(line) for line in (d / "f.jsonl").read_text().splitlines()]
    path = d / "sig.html"
    path.write_text(render_report(records, "signatures", NOW), encoding="utf-8")
    return path


def test_signature_labels_are_marked_with_their_specification(sig_report: Path,
                                                              browser: Any) -> None:
    p = open_report(browser, sig_report, wait_for="#flow-rows tr.rec")
    page = p.page
    rows = p.flows()
    marked = [r for r in rows if "signature" in r[8]]
    assert {r[5] for r in marked} >= {"wireguard", "mdns", "quic"}, rows
    assert page.locator("#flow-rows .tag.stat").count() == len(marked)
    for button in page.locator("#flow-rows tr.rec button.tog").all():
        button.click()
    shown = "\n".join(page.locator("#flow-rows tr.ev:visible").all_inner_texts())
    assert "behaviour signature" in shown and "wireguard-handshake: wireguard" in shown
    assert "from the specification" in shown and "RFC 6762" in shown
    p.assert_clean()
