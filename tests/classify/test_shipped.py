"""The shipped profiles (profiles/): they load, and the documented command remakes them."""

from __future__ import annotations

from pathlib import Path

import pytest

from probescan.classify.profiles import Model
from probescan.cli.main import main
from probescan.cli.profiles import load_profiles, shipped_profile_files

ROOT = Path(__file__).resolve().parents[2]
NDPI = ROOT.parent / "shared" / "pcaps" / "ndpi"
if not NDPI.is_dir():  # a worktree beside the main checkout
    NDPI = Path("/work/shared/pcaps/ndpi")
DOC = ROOT / "docs" / "classify.md"


def test_the_shipped_profiles_load_with_the_default_model() -> None:
    files = shipped_profile_files()
    assert [f.name for f in files] == ["ndpi.toml"]
    ps = load_profiles()
    assert ps.model == Model()
    services = {(p.service, p.transport) for p in ps.profiles}
    assert {("tls", "tcp"), ("http", "tcp"), ("dns", "udp"), ("quic", "udp")} <= services
    assert all(p.captures >= 2 for p in ps.profiles)


def test_the_command_that_made_them_is_documented() -> None:
    head = shipped_profile_files()[0].read_text().splitlines()[1]
    command = head.removeprefix("# made by: ")
    assert command.startswith("probescan profiles train ../shared/pcaps/ndpi")
    assert command.replace("-o ndpi.toml", "-o profiles/ndpi.toml") in DOC.read_text()


@pytest.mark.allow_skip(reason="nDPI's captures are not part of the repository")
@pytest.mark.skipif(not NDPI.is_dir(), reason="nDPI's captures are not in ../shared/pcaps/ndpi")
def test_the_documented_command_remakes_them(tmp_path: Path) -> None:
    shipped = shipped_profile_files()[0]
    command = shipped.read_text().splitlines()[1].removeprefix("# made by: probescan ").split()
    out = tmp_path / "ndpi.toml"
    command[command.index("-o") + 1] = str(out)
    command[command.index("../shared/pcaps/ndpi")] = str(NDPI)  # relative to the checkout
    assert main(command) == 0
    made = out.read_text().splitlines()
    expected = shipped.read_text().splitlines()
    assert made[2:] == expected[2:]  # the data (the "made by" line names the paths given)
