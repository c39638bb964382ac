"""The scan detector over crafted frames, its records as dicts (shared by test_attempts.py and
test_detector.py)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from probescan.scans import AsnDb, ScanConfig, ScanDetector
from tests.scans.frames import ACK, MSS, RST, SYN, Frame, tcp

SCANNER, TARGET = "127.0.61.1", "127.0.60.1"
T0 = 1_700_000_000.0


def run(frames: Iterable[Frame], config: ScanConfig | None = None,
        asn: AsnDb | None = None) -> list[dict[str, Any]]:
    records: list[Any] = []
    d = ScanDetector(config or ScanConfig(), records.append, asn)
    for ts, link, data in frames:
        d.frame(ts, link, data)
    d.finish()
    return [r.to_dict() for r in records]


def closed_syn(src: str, dst: str, port: int, **kw: Any) -> list[bytes]:
    return [tcp(src, dst, 40000, port, SYN, options=MSS, win=1024, **kw),
            tcp(dst, src, port, 40000, RST | ACK, ack=1001, win=0)]
