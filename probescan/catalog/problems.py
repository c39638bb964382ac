"""Problems found while loading data files, reported as `file:line: why`."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


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


def integer(t: dict[str, Any], key: str, default: int, low: int, high: int) -> int:
    """`t[key]` (or `default`), which must be a TOML integer in low..high: a float, an
    infinity, a NaN or a bool is refused with a ValueError naming the key."""
    value = t.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{key} must be an integer {low}..{high}, not {value!r}")
    return value


MAX_FILE_BYTES = 16 * 1024 * 1024  # a data file larger than this is refused unread
# What a table's `build` may raise on hostile input: each becomes one Problem. RecursionError:
# a value nested thousands deep, or a pattern of thousands of nested groups.
_REFUSED = (ValueError, TypeError, KeyError, RecursionError, OverflowError)


def load_tables(path: Path, header: str, build: Callable[[dict[str, Any], int], T]
                ) -> tuple[list[T], list[Problem]]:
    """Every `[[header]]` table of a TOML file, each made into a T by `build(table, line)`; a
    file that cannot be read or parsed, and each table `build` refuses (ValueError,
    TypeError, KeyError, RecursionError, OverflowError), becomes a Problem naming the file
    and line instead."""
    shown = display(path)
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            return [], [Problem(shown, 1, f"larger than {MAX_FILE_BYTES} bytes")]
        text = path.read_text(encoding="utf-8")
        doc = tomllib.loads(text)
    except (OSError, UnicodeDecodeError) as e:
        return [], [Problem(shown, 1, f"cannot read: {e}")]
    except tomllib.TOMLDecodeError as e:
        return [], [Problem(shown, toml_error_line(e), f"TOML syntax: {e}")]
    except RecursionError:
        return [], [Problem(shown, 1, "TOML nested too deeply")]
    tables = doc.get(header, [])
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        return [], [Problem(shown, 1, f"'{header}' must be [[{header}]] tables")]
    lines = table_lines(text, header)
    built: list[T] = []
    problems: list[Problem] = []
    for i, table in enumerate(tables):
        line = lines[i] if i < len(lines) else 1
        try:
            built.append(build(table, line))
        except _REFUSED as e:
            why = "nested too deeply" if isinstance(e, RecursionError) else str(e)
            problems.append(Problem(shown, line, why))
    return built, problems
