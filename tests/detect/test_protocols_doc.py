"""docs/protocols.md is generated from the detectors and fingerprints, and kept current."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_protocols_doc_lists_every_detector_and_fingerprint_service() -> None:
    done = subprocess.run([sys.executable, "scripts/protocols_doc.py", "--check"], cwd=ROOT,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
