"""docs/cli.md shows every command's --help as the program prints it (100 columns), so the
reference cannot drift from the options."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from probescan.cli.main import main

CLI_MD = Path(__file__).resolve().parents[2] / "docs" / "cli.md"
BLOCKS = re.findall(r"```\n(usage: probescan.*?)```", CLI_MD.read_text(), re.S)


def command_of(block: str) -> list[str]:
    """`usage: probescan profiles train [-h] ...` -> ["profiles", "train"]."""
    words = block.split()[2:]
    return words[:next(i for i, w in enumerate(words) if not w.isalpha())]


def test_every_command_has_its_help_in_the_reference() -> None:
    shown = {" ".join(command_of(b)) for b in BLOCKS}
    assert shown >= {"", "scan", "watch", "report", "profiles", "profiles train",
                     "profiles show", "scans", "fingerprints"}


@pytest.mark.parametrize("block", BLOCKS, ids=lambda b: " ".join(command_of(b)) or "probescan")
def test_the_reference_is_the_help_the_program_prints(
        block: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("COLUMNS", "100")
    with pytest.raises(SystemExit) as e:
        main([*command_of(block), "--help"])
    assert e.value.code == 0
    assert capsys.readouterr().out == block
