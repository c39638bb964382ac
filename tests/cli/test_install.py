"""scapy comes with probescan (a dependency, imported only when a capture starts); an install
without it meets one line, not a traceback; a capture cut short says how much was read."""

from __future__ import annotations

import tomllib
from pathlib import Path

from scapy.all import IP, TCP, Ether, wrpcap, wrpcapng

from tests.cli.helpers import ROOT, cli, one_line_error

HIDE_SCAPY = """
import sys
class _Hide:
    def find_spec(self, name, path=None, target=None):
        if name == "scapy" or name.startswith("scapy."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, _Hide())
"""


def frames() -> list[object]:
    return [Ether() / IP(src="127.0.80.1", dst="127.0.80.2")
            / TCP(sport=40000, dport=22, flags="PA") / b"SSH-2.0-OpenSSH_9.2p1\r\n"] * 3


def test_scapy_is_a_dependency_not_an_extra() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert any(d.startswith("scapy") for d in project["dependencies"])


def test_scan_and_fingerprints_never_import_scapy(tmp_path: Path) -> None:
    got = cli("fingerprints", "stats", prelude=HIDE_SCAPY)
    assert got.returncode == 0, got.stderr


def test_a_missing_scapy_is_one_line(tmp_path: Path) -> None:
    capture = tmp_path / "c.pcapng"
    wrpcapng(str(capture), frames())
    one_line_error(cli("watch", "-r", str(capture), "-q", prelude=HIDE_SCAPY),
                   "scapy", "pip install")
    one_line_error(cli("watch", "-i", "lo", "-q", prelude=HIDE_SCAPY), "scapy", "'lo'")


def test_a_truncated_capture_warns_how_much_was_read(tmp_path: Path) -> None:
    for name, write in (("c.pcap", wrpcap), ("c.pcapng", wrpcapng)):
        whole = tmp_path / name
        write(str(whole), frames())
        cut = tmp_path / f"cut-{name}"
        cut.write_bytes(whole.read_bytes()[:-20])
        ok = cli("watch", "-r", str(whole), "-q", "--json")
        assert ok.returncode == 0 and "truncated" not in ok.stderr
        got = cli("watch", "-r", str(cut), "-q", "--json")
        assert got.returncode == 0, got.stderr
        assert "truncated" in got.stderr and "read 2 whole frame(s)" in got.stderr, got.stderr
        assert str(cut.stat().st_size) in got.stderr
        assert len(got.stdout.splitlines()) == 1  # the flow of the whole frames
