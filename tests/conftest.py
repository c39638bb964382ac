"""Fixtures for tests that need the real-server lab (see tests/lab/).

``lab_services`` starts DEFAULT_LAB once per session (only when a test asks for it) and
stops it at the end. ``lab_service(kind, port=None)`` returns one running server; when
that server is missing or could not start, the test is skipped with the reason, or
fails instead when PROBESCAN_REQUIRE_SERVERS=1.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest

from tests.lab import DEFAULT_LAB, Lab, Service, available, start_default_lab

REQUIRE_SERVERS = os.environ.get("PROBESCAN_REQUIRE_SERVERS") == "1"


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
