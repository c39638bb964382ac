"""Problems found while loading data files, reported as `file:line: why`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Problem:
    path: str
    line: int
    why: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.why}"


def table_lines(text: str, header: str) -> list[int]:
    """1-based line numbers of each `[[header]]` array-of-tables entry, in order."""
    pat = re.compile(r"^\s*\[\[\s*" + re.escape(header) + r"\s*\]\]\s*(#.*)?$")
    return [i + 1 for i, line in enumerate(text.splitlines()) if pat.match(line)]


def toml_error_line(err: Exception) -> int:
    m = re.search(r"line (\d+)", str(err))
    return int(m.group(1)) if m else 1


def display(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)
