"""What every benchmark prints beside its figures, and how `run_all` puts them into the docs.

A benchmark prints each of its tables as a *block* between two markers,

    <!-- bench:NAME -->
    ...the table, which data it is, the peer on the same data, the command, commit, machine...
    <!-- /bench:NAME -->

and `benchmarks/run_all` copies every block it sees into README.md and docs/*.md wherever
the same two markers stand (text between them is replaced, nothing else is touched). A
block printed with --quick says so and is never written into a document.

Each block states which data it was measured on: DEVELOPMENT (what probescan was built and
tuned on: the lab servers its fingerprints were captured from, nDPI's captures it was
scored against while the detectors were written) or HELD_OUT (data nobody tuned to).
"""

from __future__ import annotations

import datetime
import os
import platform
import re
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Every `python3 -m probescan` a benchmark starts runs this checkout, not an installed copy.
os.environ["PYTHONPATH"] = os.pathsep.join(
    [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
DOCS = (ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")))
SKIP_STATUS = 77  # a benchmark that cannot run here exits with this after one line saying why

DEVELOPMENT = "development data"
HELD_OUT = "data probescan was not tuned on"
QUICK_NOTE = "*(quick mode: small inputs to check that the benchmark runs; not a figure)*"

_BEGIN = re.compile(r"<!-- bench:([\w.-]+) -->\n")


def begin(name: str) -> str:
    return f"<!-- bench:{name} -->"


def end(name: str) -> str:
    return f"<!-- /bench:{name} -->"


def commit() -> str:
    """The commit measured (``-dirty`` when the tree has changes)."""
    done = subprocess.run(["git", "-C", str(ROOT), "describe", "--always", "--dirty",
                           "--abbrev=10"], capture_output=True, text=True, check=False)
    return done.stdout.strip() or "unknown"


def _os_name() -> str:
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip('"')
    except OSError:
        pass
    return f"{platform.system()} {platform.release()}"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_gib() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 2**20:.0f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    return "? GiB"


def machine() -> str:
    """One line: OS, CPUs this process may use, CPU model, memory, Python."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (f"{_os_name()}, {platform.machine()}, {cpus} CPUs ({_cpu_model()}), "
            f"{_memory_gib()}, Python {platform.python_version()}")


def tool_version(argv: Sequence[str], pattern: str) -> str:
    """The first match of `pattern` (one group) in what ``argv`` prints, or "?"."""
    if shutil.which(argv[0]) is None:
        return "?"
    try:
        done = subprocess.run(list(argv), capture_output=True, text=True, timeout=20,
                              stdin=subprocess.DEVNULL, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    found = re.search(pattern, done.stdout + done.stderr)
    return found.group(1) if found else "?"


def nmap_version() -> str:
    return tool_version(["nmap", "--version"], r"Nmap version (\S+)")


def ndpi_version() -> str:
    return tool_version(["ndpiReader", "-h"], r"nDPI (\d[\w.]*)")


def command_line(argv: Sequence[str] | None = None) -> str:
    """How this benchmark was started, as one would type it from the repository root."""
    args = list(sys.argv if argv is None else argv)
    script = Path(args[0]).resolve()
    with_root = script.relative_to(ROOT) if script.is_relative_to(ROOT) else script
    return shlex.join(["python3", str(with_root), *args[1:]])


def provenance(started: float, argv: Sequence[str] | None = None) -> str:
    """The line under every table: command, commit, machine, date, how long it took."""
    when = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (f"Measured by `{command_line(argv)}` at commit `{commit()}` on {machine()}, "
            f"{when}, in {time.monotonic() - started:.0f} s.")


def data_line(kind: str, what: str) -> str:
    return f"**Data: {kind}** — {what}"


def block(name: str, lines: Iterable[str], quick: bool = False) -> str:
    body = "\n".join(lines).strip("\n")
    if quick:
        body = f"{QUICK_NOTE}\n\n{body}"
    return f"{begin(name)}\n{body}\n{end(name)}"


def emit(name: str, lines: Iterable[str], quick: bool = False) -> None:
    print(block(name, lines, quick), flush=True)


def skip(reason: str) -> int:
    """Say why this benchmark cannot run here; the status `run_all` and the tests read."""
    print(f"benchmark skipped: {reason}", file=sys.stderr, flush=True)
    return SKIP_STATUS


def parse_blocks(text: str) -> dict[str, str]:
    """NAME -> the text between its markers (its first occurrence), for every complete block."""
    found: dict[str, str] = {}
    for m in _BEGIN.finditer(text):
        name = m.group(1)
        stop = text.find(end(name), m.end())
        if stop >= 0:
            found.setdefault(name, text[m.end():stop].rstrip("\n"))
    return found


def replace_blocks(text: str, blocks: dict[str, str]) -> tuple[str, list[str]]:
    """`text` with the body of every marked block in `blocks` replaced; the names replaced."""
    done: list[str] = []
    for name, body in blocks.items():
        b, e = begin(name), end(name)
        pos = 0
        while (start := text.find(b, pos)) >= 0:
            stop = text.find(e, start)
            if stop < 0:
                break
            new = f"{b}\n{body}\n"
            text = text[:start] + new + text[stop:]
            pos = start + len(new) + len(e)
            done.append(name)
    return text, done


def markers_in(paths: Iterable[Path]) -> dict[str, list[Path]]:
    """Block name -> the documents that hold its markers."""
    where: dict[str, list[Path]] = {}
    for path in paths:
        for name in parse_blocks(path.read_text(encoding="utf-8")):
            where.setdefault(name, []).append(path)
    return where
