"""PROBESCAN_REQUIRE_SERVERS=1 turns every skip into a failure, unless a test allows it.

Each case runs a small pytest session in a subprocess with tests/conftest.py loaded as a
plugin, with and without the variable.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CASES = '''
import pytest

def test_skips_in_the_body() -> None:
    pytest.skip("no server here")

@pytest.mark.skipif(True, reason="a condition")
def test_skipif_mark() -> None:
    pass

@pytest.mark.allow_skip(reason="the data is not part of the repository")
def test_allowed() -> None:
    pytest.skip("allowed")

@pytest.mark.xfail(reason="known")
def test_xfail() -> None:
    raise AssertionError

def test_passes() -> None:
    pass
'''

MODULE_SKIP = '''
import pytest
pytest.importorskip("probescan_no_such_module")

def test_never_collected() -> None:
    pass
'''


def _run(tmp_path: Path, require: bool) -> str:
    (tmp_path / "test_cases.py").write_text(CASES)
    (tmp_path / "test_module_skip.py").write_text(MODULE_SKIP)
    env = {k: v for k, v in os.environ.items() if k != "PROBESCAN_REQUIRE_SERVERS"}
    if require:
        env["PROBESCAN_REQUIRE_SERVERS"] = "1"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rA", "-p", "no:cacheprovider",
         "-p", "tests.conftest", "--rootdir", str(tmp_path), str(tmp_path)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)
    return done.stdout


def test_skips_stay_skips_without_the_variable(tmp_path: Path) -> None:
    out = _run(tmp_path, require=False)
    assert "1 passed, 4 skipped, 1 xfailed" in out, out


def test_every_skip_fails_under_the_variable_but_the_allowed_one(tmp_path: Path) -> None:
    out = _run(tmp_path, require=True)
    assert "FAILED" in out and "test_skips_in_the_body" in out, out
    assert "ERROR" in out and "test_skipif_mark" in out, out
    assert "test_module_skip.py" in out and "probescan_no_such_module" in out, out
    assert "forbids skips: no server here" in out, out
    assert "SKIPPED [1]" in out and "allowed" in out, out
    assert "1 failed, 1 passed, 1 skipped, 1 xfailed, 2 errors" in out, out


def test_every_probescan_module_imports() -> None:
    """probescan's own modules import wherever the package is installed: no test needs to
    skip for one of them (optional third-party modules are imported lazily, inside)."""
    import importlib
    import pkgutil

    import probescan

    names = [m.name for m in pkgutil.walk_packages(probescan.__path__, "probescan.")]
    assert len(names) > 50
    for name in names:
        importlib.import_module(name)
