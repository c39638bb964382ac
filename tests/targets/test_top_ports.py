"""``--top-ports N`` ranks by nmap's ``nmap-services`` when there is one, else by probescan's
``probes/ports.tsv``, and never pads with unranked ports (it says so in one line).

The nmap-services files here are made up in its format (``name<TAB>port/proto<TAB>frequency``);
nothing of nmap's file is copied.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from probescan.catalog.ports import (
    find_nmap_services,
    own_ranking,
    port_ranking,
    read_nmap_services,
)
from probescan.cli import scan as scan_cli
from probescan.cli.main import build_parser
from probescan.targets import top_ports, top_ports_selection

MADE_UP = """\
# a comment line
# Fields: name, portnum/protocol, open-frequency, optional comments
alpha\t7/tcp\t0.010000\t# a comment
beta\t9000/tcp\t0.500000
gamma\t22/tcp\t0.250000\t# ties go to the lower port
delta\t21/tcp\t0.250000
never\t5/tcp\t0.000000\t# never seen open: not ranked
dns\t53/udp\t0.300000
snmp\t161/udp\t0.400000
broken line
bad\tx/tcp\t0.9
bad\t70000/tcp\t0.9
bad\t8/sctp\t0.9
bad\t9/tcp\tmany
"""


def _services(directory: Path, text: str = MADE_UP) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "nmap-services"
    path.write_text(text)
    return path


def test_nmap_services_ranks_by_open_frequency_then_port(tmp_path: Path) -> None:
    ranking = read_nmap_services(_services(tmp_path))
    assert ranking.ranked["tcp"] == (9000, 21, 22, 7)
    assert ranking.ranked["udp"] == (161, 53)
    assert ranking.source == f"nmap-services ({tmp_path / 'nmap-services'})"
    assert top_ports(3, "tcp", ranking) == [9000, 21, 22]


def test_n_beyond_the_ranking_scans_ranked_ports_only_and_says_so(tmp_path: Path) -> None:
    ranking = read_nmap_services(_services(tmp_path))
    pairs, note = top_ports_selection(1000, ["tcp", "udp"], ranking)
    assert pairs == [("tcp", 9000), ("tcp", 21), ("tcp", 22), ("tcp", 7),
                     ("udp", 161), ("udp", 53)]
    assert note is not None and "\n" not in note
    assert note.startswith("--top-ports 1000: nmap-services (")
    assert "ranks only 4 TCP and 2 UDP ports; scanning those" in note
    assert top_ports_selection(2, ["tcp"], ranking) == ([("tcp", 9000), ("tcp", 21)], None)


def test_own_ranking_without_nmap_services() -> None:
    ranking = port_ranking(None)
    assert ranking == own_ranking()
    assert ranking.source == "probescan's probes/ports.tsv"
    pairs, note = top_ports_selection(1000, ["tcp"], ranking)
    ranked = ranking.ranked["tcp"]
    assert len(ranked) < 1000
    assert [p for _, p in pairs] == list(ranked)
    assert note == (f"--top-ports 1000: probescan's probes/ports.tsv ranks only {len(ranked)} "
                    "TCP ports; scanning those (give -p for others)")


def test_an_unusable_nmap_services_falls_back_with_a_reason(tmp_path: Path) -> None:
    empty = _services(tmp_path, "# nothing ranked\nx\t1/tcp\t0.000000\n")
    ranking = port_ranking(empty)
    assert ranking.ranked == own_ranking().ranked
    assert ranking.note is not None and str(empty) in ranking.note
    assert "no port with an open-frequency above zero" in ranking.note
    missing = port_ranking(tmp_path / "nowhere" / "nmap-services")
    assert missing.note is not None and "No such file" in missing.note


def test_nmap_services_is_found_beside_nmap_db_or_in_nmapdir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    beside = _services(tmp_path / "db")
    assert find_nmap_services(tmp_path / "db" / "nmap-service-probes") == beside
    assert find_nmap_services(tmp_path / "nowhere" / "nmap-service-probes") is None
    monkeypatch.setenv("NMAPDIR", str(tmp_path / "db"))
    assert find_nmap_services() == beside


def _cli_ports(argv: list[str]) -> list[tuple[str, int]]:
    args: argparse.Namespace = build_parser().parse_args(["scan", "127.0.90.1", *argv])
    return scan_cli._ports(args)


def test_cli_top_ports_1000_with_an_nmap_services_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _services(tmp_path)
    ports = _cli_ports(["--top-ports", "1000", "--nmap-db", str(tmp_path / "nmap-service-probes")])
    assert ports == [("tcp", 9000), ("tcp", 21), ("tcp", 22), ("tcp", 7)]
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1
    assert err[0].startswith("probescan: warning: --top-ports 1000: nmap-services (")
    assert "ranks only 4 TCP ports; scanning those" in err[0]


def test_cli_default_without_nmap_services(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    ranked = list(own_ranking().ranked["tcp"])
    assert _cli_ports(["--no-nmap-db"]) == [("tcp", p) for p in ranked]  # default: 1000
    err = capsys.readouterr().err.splitlines()
    assert err == [f"probescan: warning: --top-ports 1000: probescan's probes/ports.tsv ranks "
                   f"only {len(ranked)} TCP ports; scanning those (give -p for others)"]
    assert _cli_ports(["--no-nmap-db", "--top-ports", "10", "-sU"]) == [
        ("udp", p) for p in own_ranking().ranked["udp"][:10]]
    assert capsys.readouterr().err == ""
