"""Every detector, in the order they are tried, and the one call that runs them.

Order matters only where two protocols share a structure: the stricter detector comes
first. Each family module exposes `DETECTORS`; add a new family to FAMILIES.
"""

from __future__ import annotations

import importlib

from probescan.detect.base import NEED_MORE, Detection, Detector, Messages, Result

FAMILIES = (
    "p2p",
    "auth",
    "enterprise",
    "rpc",
    "remote",
    "signalling",
    "messaging",
)


def _load() -> tuple[Detector, ...]:
    found: list[Detector] = []
    for family in FAMILIES:
        module = importlib.import_module(f"probescan.detect.{family}")
        found.extend(module.DETECTORS)
    return tuple(found)


DETECTORS: tuple[Detector, ...] = _load()


def detect(msgs: Messages, detectors: tuple[Detector, ...] = DETECTORS) -> Result:
    """The first detector's Detection; else NEED_MORE when one still waits; else None.

    A detector that raises is treated as declining: a bug in one must never stop the
    watcher (the tests run every detector over hostile input to keep this path cold)."""
    waiting = False
    for d in detectors:
        try:
            r = d(msgs)
        except Exception:
            continue
        if isinstance(r, Detection):
            return r
        if r is NEED_MORE:
            waiting = True
    return NEED_MORE if waiting else None
