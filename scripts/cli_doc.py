#!/usr/bin/env python3
"""Refresh the `--help` blocks of docs/cli.md from the parser (at 100 columns); the prose
around them stays as written.

    python3 scripts/cli_doc.py            # rewrite the blocks in docs/cli.md
    python3 scripts/cli_doc.py --check    # exit 1 when a block is stale
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # this checkout's probescan, not another installed one

from probescan.cli.main import build_parser  # noqa: E402

DOC = ROOT / "docs" / "cli.md"
COMMANDS = ["", "scan", "watch", "scans", "report", "fingerprints"]


def help_text(command: str) -> str:
    os.environ["COLUMNS"] = "100"
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):
        build_parser().parse_args([command, "--help"] if command else ["--help"])
    return out.getvalue().rstrip() + "\n"


def refreshed(text: str) -> str:
    for command in COMMANDS:
        title = f"## probescan {command}".rstrip()
        block = re.compile(rf"(^{re.escape(title)}\n\n```\n)(.*?)(^```$)", re.M | re.S)
        if not block.search(text):
            raise SystemExit(f"docs/cli.md has no '{title}' block")
        text = block.sub(lambda m, c=command: m[1] + help_text(c) + m[3], text, count=1)
    return text


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--check", action="store_true", help="exit 1 when docs/cli.md is stale")
    args = p.parse_args()
    old = DOC.read_text(encoding="utf-8")
    new = refreshed(old)
    if args.check:
        if new != old:
            print("docs/cli.md is stale: run python3 scripts/cli_doc.py", file=sys.stderr)
            return 1
        return 0
    DOC.write_text(new, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
