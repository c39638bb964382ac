"""Every benchmark in benchmarks/ runs in quick mode (small inputs), so none rots.

Benchmarks that need the real-server lab (``QUICK_NEEDS = "lab"`` in the script: root and the
Debian servers of scripts/install-test-deps) start a small one on 127.0.90.x, never on the
lab's own addresses, and carry the ``lab`` marker. A benchmark that cannot run here exits 77
after one line saying why: that is a skip, which PROBESCAN_REQUIRE_SERVERS=1 turns into a
failure unless the script states why CI may skip it (``QUICK_SKIP_ALLOWED``: data that is
not part of the repository). The figures themselves come from the full runs
(``benchmarks/run_all``), never from these tests.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from benchmarks import _blocks
from benchmarks._run_all import discover, write_docs

ROOT = Path(__file__).resolve().parent.parent.parent
QUICK_TIMEOUT = 240.0


def _constants(name: str) -> dict[str, str]:
    """The module-level string constants QUICK_NEEDS and QUICK_SKIP_ALLOWED of a script."""
    tree = ast.parse((ROOT / "benchmarks" / f"{name}.py").read_text())
    found: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                if isinstance(t, ast.Name) and t.id in ("QUICK_NEEDS", "QUICK_SKIP_ALLOWED"):
                    found[t.id] = str(ast.literal_eval(node.value))
    return found


def _params() -> list[Any]:
    params = []
    for name in discover():
        c = _constants(name)
        marks = []
        if c.get("QUICK_NEEDS") == "lab":
            marks.append(pytest.mark.lab)
        if c.get("QUICK_SKIP_ALLOWED"):
            marks.append(pytest.mark.allow_skip(reason=c["QUICK_SKIP_ALLOWED"]))
        params.append(pytest.param(name, marks=marks, id=name))
    return params


def test_the_benchmarks_are_discovered() -> None:
    assert {"scan_vs_nmap", "udp_vs_nmap", "watch_vs_ndpi", "report_speed",
            "ndpi_agreement"} <= set(discover())
    assert not any(n.startswith("_") for n in discover())


@pytest.mark.parametrize("name", _params())
def test_benchmark_runs_in_quick_mode(name: str) -> None:
    done = subprocess.run([sys.executable, f"benchmarks/{name}.py", "--quick"], cwd=ROOT,
                          capture_output=True, text=True, timeout=QUICK_TIMEOUT, check=False)
    if done.returncode == _blocks.SKIP_STATUS:
        pytest.skip(done.stderr.strip().splitlines()[-1])
    assert done.returncode == 0, (done.stdout[-3000:], done.stderr[-3000:])
    blocks = _blocks.parse_blocks(done.stdout)
    assert blocks, done.stdout[-3000:]
    for block_name, body in blocks.items():
        assert body.startswith(_blocks.QUICK_NOTE), block_name
        kinds = ("**Data: ", _blocks.DEVELOPMENT, _blocks.HELD_OUT)
        assert any(k in body for k in kinds), block_name  # which data it is
        if not block_name.startswith("readme-"):
            assert "Measured by `python3 benchmarks/" in body, block_name  # command, commit,
            assert " at commit `" in body and " CPUs (" in body, block_name  # machine


def test_blocks_replace_only_between_their_markers(tmp_path: Path) -> None:
    doc = tmp_path / "doc.md"
    doc.write_text("intro\n<!-- bench:a -->\nold a\n<!-- /bench:a -->\nmiddle\n"
                   "<!-- bench:b -->\nold b\n<!-- /bench:b -->\n<!-- bench:a -->\n"
                   "old a again\n<!-- /bench:a -->\nend\n")
    assert _blocks.parse_blocks(doc.read_text()) == {"a": "old a", "b": "old b"}
    report = write_docs({"a": "new a\n| x |", "c": "nowhere"}, (doc,), dry_run=False)
    assert report == ["doc.md: a"] or report[0].endswith("doc.md: a")
    assert doc.read_text() == ("intro\n<!-- bench:a -->\nnew a\n| x |\n<!-- /bench:a -->\n"
                               "middle\n<!-- bench:b -->\nold b\n<!-- /bench:b -->\n"
                               "<!-- bench:a -->\nnew a\n| x |\n<!-- /bench:a -->\nend\n")


def test_every_marker_in_the_docs_is_closed_and_named_by_a_benchmark() -> None:
    sources = "\n".join((ROOT / "benchmarks" / f).read_text()
                        for f in sorted(p.name for p in (ROOT / "benchmarks").glob("*.py")))
    for path in _blocks.DOCS:
        text = path.read_text()
        opened = text.count("<!-- bench:")
        assert opened == text.count("<!-- /bench:"), path
        for name in _blocks.parse_blocks(text):
            stem = name.removesuffix("-development").removesuffix("-held-out")
            assert f'"{name}"' in sources or stem in sources, (path, name)
