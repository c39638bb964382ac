"""Where the shipped data lives: inside the wheel (probescan/_data/...) or in a source checkout."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent.parent


def data_dir(kind: str) -> Path:
    """Directory of shipped data of one kind ("probes", "fingerprints" or "profiles")."""
    installed = _PACKAGE / "_data" / kind
    if installed.is_dir():
        return installed
    checkout = _PACKAGE.parent / kind
    if checkout.is_dir():
        return checkout
    raise FileNotFoundError(f"probescan data directory '{kind}' not found next to {_PACKAGE}")
