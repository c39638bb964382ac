"""``-iL`` target files."""

from __future__ import annotations

import sys
from pathlib import Path

from probescan.targets.errors import bad

__all__ = ["read_target_file"]


def read_target_file(path: str | Path) -> list[str]:
    """Target tokens of an ``-iL`` file (``-`` = standard input): whitespace-separated specs,
    any number per line; ``#`` starts a comment; blank lines are ignored. Tokens are checked
    later, by `iter_hosts`. An unreadable file raises TargetError naming it."""
    name = str(path)
    try:
        text = sys.stdin.read() if name == "-" else Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise bad("target file", name, exc.strerror or type(exc).__name__) from None
    except UnicodeDecodeError as exc:
        raise bad("target file", name, f"not UTF-8 text (byte {exc.start})") from None
    tokens: list[str] = []
    for line in text.splitlines():
        tokens.extend(line.split("#", 1)[0].split())
    return tokens

