"""Shared by the parser tests: every truncated prefix must ask for more; recorded messages
from the detector samples."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from probescan.protocols.errors import NeedMore, ParseError
from tests.detect.samples import load_samples


def assert_every_prefix_needs_more(
    parse: Callable[[bytes], object], data: bytes, upto: int
) -> None:
    for cut in range(upto):
        try:
            result = parse(data[:cut])
        except NeedMore:
            continue
        except Exception as e:
            pytest.fail(f"prefix of {cut} bytes: {e!r} instead of NeedMore")
        pytest.fail(f"prefix of {cut} bytes returned {result!r}")


def recorded(service: str, transport: str | None = None) -> list[tuple[str, bytes]]:
    """("client"/"server", message) for every message of the samples of a service."""
    found = []
    for s in load_samples():
        if s.service != service or (transport and s.msgs.transport != transport):
            continue
        for side in ("client", "server"):
            for m in getattr(s.msgs, side):
                found.append((side, m))
    return found


def streams(service: str, transport: str) -> list[tuple[str, bytes]]:
    """("client"/"server", joined stream) per side of the samples of a service."""
    found = []
    for s in load_samples():
        if s.service == service and s.msgs.transport == transport:
            for side in ("client", "server"):
                data = b"".join(getattr(s.msgs, side))
                if data:
                    found.append((side, data))
    return found


def assert_prefixes_decline(parse: Callable[[bytes], Any], data: bytes) -> None:
    """Every proper prefix of `data` raises NeedMore or ParseError, nothing else."""
    for n in range(len(data)):
        try:
            parse(data[:n])
        except (NeedMore, ParseError):
            continue
        raise AssertionError(f"prefix of {n} octets parsed")
