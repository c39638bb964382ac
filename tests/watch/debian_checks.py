"""What the Debian protocol tests (test_debian_protocols.py, test_debian_more.py) share:
their directory, skipping on a missing program, failing on a server that did not start,
and the label check over watch's flow records."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import lab_unavailable
from tests.watch.debian_net import describe, flows_on, missing

Record = dict[str, Any]


def workdir(tmp_path: Path) -> Path:
    """The test's directory; the test needs root (network namespaces, servers' ports)."""
    if os.geteuid() != 0:
        lab_unavailable("network namespaces need root")
    tmp_path.chmod(0o755)  # read by daemons that switch users
    return tmp_path


def needs(*programs: str) -> None:
    """Skip (fail under PROBESCAN_REQUIRE_SERVERS=1) when a program is not installed:
    "prog" or "prog:debian-package"."""
    reason = missing(*programs)
    if reason:
        lab_unavailable(reason)


def started(ok: bool, what: str, log: Path) -> None:
    """Fail with the end of the program's log unless ``ok``."""
    if not ok:
        tail = log.read_text(errors="replace")[-800:] if log.exists() else "(no log)"
        pytest.fail(f"{what} did not start:\n{tail}")


def check(records: list[Record], port: int, transport: str, service: str,
          anomaly: str | None = None) -> list[Record]:
    """Every flow with payload on ``port`` is labelled ``service`` (and there is one); its
    anomalies say ``anomaly`` (a usual port of another service), or nothing when None."""
    flows = [r for r in flows_on(records, port, transport)
             if r["bytes"]["c2s"] + r["bytes"]["s2c"] > 0]
    assert flows, f"no {transport} flow with payload on port {port}:\n{describe(records)}"
    wrong = [r for r in flows if r["service"] != service]
    assert not wrong, f"not labelled {service}:\n{describe(wrong)}"
    for r in flows:
        if anomaly is None:
            assert r["anomalies"] == [], r["anomalies"]
        else:
            assert any(anomaly in a for a in r["anomalies"]), r["anomalies"]
    return flows
