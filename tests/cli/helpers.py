"""Running the `probescan` command as a user does: `python3 -m probescan` from the repository
root (this checkout's package first on sys.path), its status and its two streams."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# The address block of these tests' fake servers (other test files use other blocks).
BLOCK = "127.0.80"


def cli(*args: str, stdin: str | None = None, timeout: float = 60, cwd: Path | None = None,
        env: dict[str, str] | None = None, prelude: str = "") -> subprocess.CompletedProcess[str]:
    """`probescan ARGS`; `prelude`: Python run first in the same process (to hide a module)."""
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "160", **(env or {})}
    command = [sys.executable, "-m", "probescan", *args]
    if prelude:
        command = [sys.executable, "-c",
                   prelude + "\nimport sys\nfrom probescan.cli import main\n"
                   f"sys.argv = ['probescan', *{list(args)!r}]\nsys.exit(main())"]
    return subprocess.run(command, input=stdin, capture_output=True, text=True,
                          timeout=timeout, cwd=cwd or ROOT, env=full_env)


def one_line_error(result: subprocess.CompletedProcess[str], *naming: str) -> str:
    """The run failed with status 2 and exactly one line on stderr that names every string
    of `naming`; returns that line."""
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for word in naming:
        assert word in lines[0], (word, lines[0])
    return lines[0]
