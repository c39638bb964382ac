"""Fixtures for tests that need the real-server lab (see tests/lab/), and no silent skips.

``lab_services`` starts DEFAULT_LAB once per session (only when a test asks for it) and
stops it at the end. ``lab_service(kind, port=None)`` returns one running server; when
that server is missing or could not start, the test is skipped with the reason, or
fails instead when PROBESCAN_REQUIRE_SERVERS=1.

PROBESCAN_REQUIRE_SERVERS=1 (set by ``.ci/run``, the full suite) turns EVERY skip into a
failure: a missing server, program, optional module (scapy, playwright), nmap file or
capture, whether the skip comes from a test, a fixture, a ``skipif`` mark or an
``importorskip`` at module level. The only skips kept are those a test declares with
``@pytest.mark.allow_skip(reason="why CI may skip it")`` (the reason is required and shown).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field

import pytest
from _pytest.reports import CollectReport, TestReport

from tests.lab import DEFAULT_LAB, Lab, Service, available, start_default_lab

REQUIRE_SERVERS = os.environ.get("PROBESCAN_REQUIRE_SERVERS") == "1"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "allow_skip(reason): this test may skip even with PROBESCAN_REQUIRE_SERVERS=1 "
        "(reason: why; required)")
    if REQUIRE_SERVERS:  # a module that skipped while collecting fails; the rest still runs
        config.option.continue_on_collection_errors = True


def _skip_reason(report: TestReport | CollectReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)


def _allowed(item: pytest.Item) -> bool:
    mark = item.get_closest_marker("allow_skip")
    if mark is None:
        return False
    reason = mark.kwargs.get("reason") or (mark.args[0] if mark.args else "")
    if not (isinstance(reason, str) and reason.strip()):
        raise pytest.UsageError(f"{item.nodeid}: allow_skip needs a reason")
    return True


def _fail_skip(report: TestReport | CollectReport) -> None:
    report.outcome = "failed"
    report.longrepr = (f"skipped, and PROBESCAN_REQUIRE_SERVERS=1 forbids skips: "
                       f"{_skip_reason(report)}")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, object, None]:
    """Under PROBESCAN_REQUIRE_SERVERS=1 a skipped test fails, unless marked allow_skip."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if (REQUIRE_SERVERS and isinstance(report, TestReport) and report.skipped
            and not hasattr(report, "wasxfail") and not _allowed(item)):
        _fail_skip(report)


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Generator[None, object, None]:
    """The same for a whole module skipped while collecting (``importorskip`` at the top)."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if REQUIRE_SERVERS and isinstance(report, CollectReport) and report.skipped:
        _fail_skip(report)


def lab_unavailable(reason: str) -> None:
    """Skip the current test, or fail it when PROBESCAN_REQUIRE_SERVERS=1."""
    if REQUIRE_SERVERS:
        pytest.fail(f"{reason} (PROBESCAN_REQUIRE_SERVERS=1)", pytrace=False)
    pytest.skip(reason)


@dataclass
class LabServices:
    """The running default lab: started services and why the others did not start."""

    services: list[Service]
    failures: dict[tuple[str, str, int], str] = field(default_factory=dict)

    def find(self, kind: str, port: int | None = None) -> Service | None:
        for svc in self.services:
            if svc.name == kind and (port is None or svc.port == port):
                return svc
        return None

    def why_missing(self, kind: str, port: int | None = None) -> str:
        for (k, ip, p), reason in self.failures.items():
            if k == kind and (port is None or p == port):
                return f"lab server {kind} on {ip}:{p} did not start: {reason}"
        if not any(k == kind and (port is None or p == port) for k, _, p in DEFAULT_LAB):
            return f"no {kind}{'' if port is None else f' on port {port}'} in DEFAULT_LAB"
        return available(kind, port) or f"lab server {kind} is not running"

    def get(self, kind: str, port: int | None = None) -> Service:
        """The running service of that kind (first in DEFAULT_LAB order), or skip/fail."""
        svc = self.find(kind, port)
        if svc is None:
            lab_unavailable(self.why_missing(kind, port))
            raise AssertionError("unreachable")  # pragma: no cover
        return svc


@pytest.fixture(scope="session")
def lab_services() -> Iterator[LabServices]:
    with Lab() as lab:
        services = start_default_lab(lab)
        yield LabServices(services, dict(lab.failures))


@pytest.fixture
def lab_service(lab_services: LabServices) -> Callable[..., Service]:
    """``lab_service("nginx")`` or ``lab_service("redis", 6379)``: one running lab server."""
    return lab_services.get
