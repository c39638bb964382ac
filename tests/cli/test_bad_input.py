"""Every bad input the issue lists, and nmap's flags for what probescan does not do: one line
naming it, exit status 2, no traceback, nothing scanned or written."""

from __future__ import annotations

from pathlib import Path

import pytest
from scapy.all import IP, TCP, Ether, wrpcap

from tests.cli.helpers import cli, one_line_error

T = "127.0.80.50"


@pytest.mark.parametrize(("argv", "naming"), [
    (["scan", "127.0.80.1-"], ("'127.0.80.1-'", "127.0.80.1-255")),
    (["scan", T, "-p", ""], ("port spec ''", "empty")),
    (["scan", T, "--exclude", "127.0.80.0/24"], ("--exclude", "leaves no target")),
    (["scan", T, "--top-ports", "70000"], ("--top-ports 70000",)),
    (["scan", T, "--exclude-ports", "1-65535", "-p", "22"], ("--exclude-ports", "no port")),
    (["scan", T, "-oA", "-"], ("-oA -",)),
    (["scan", T, "-oN", "-", "-oG", "-"], ("-oN and -oG", "standard output")),
    (["scan", T, "--json", "-o", "-"], ("-o and --json",)),
    (["scan", T, "-oN"], ("-oN", "expected one argument")),
    (["scan", T, "-oNscan.txt"], ("-oNscan.txt", "with a space")),
    (["scan", T, "-oS", "x"], ("-oS", "not an output")),
    (["scan", T, "-T9"], ("-T", "'9'")),
    (["scan", T, "--host-timeout", "10x"], ("--host-timeout", "'10x'")),
    (["scan", T, "-sS", "-sT"], ("-sS", "-sT", "not both")),
    (["scan", T, "-O"], ("-O", "OS detection")),
    (["scan", T, "--script", "vuln"], ("--script", "NSE")),
    (["scan", T, "-sn", "-p", "80"], ("-sn",)),
    (["scan", T, "--fingerprints", "/nonexistent/rules"], ("--fingerprints",
                                                           "/nonexistent/rules")),
    (["fingerprints", "check", "/nonexistent.toml"], ("/nonexistent.toml",)),
])
def test_refused_in_one_line(argv: list[str], naming: tuple[str, ...], tmp_path: Path) -> None:
    one_line_error(cli(*argv, cwd=tmp_path), *naming)
    assert list(tmp_path.iterdir()) == []  # nothing written (no file named N, -, ...)


def test_a_garbage_nmap_db(tmp_path: Path) -> None:
    db = tmp_path / "garbage"
    db.write_bytes(bytes(range(256)) * 16)
    one_line_error(cli("scan", T, "-p", "1", "--nmap-db", str(db)), "garbage",
                   "not an nmap-service-probes file")
    one_line_error(cli("fingerprints", "check", "--nmap-db", str(db)), "garbage")


def test_an_invalid_bpf_on_a_capture_file(tmp_path: Path) -> None:
    capture = tmp_path / "c.pcap"
    wrpcap(str(capture), [Ether() / IP(src="127.0.80.1", dst="127.0.80.2")
                          / TCP(sport=40000, dport=22, flags="PA") / b"SSH-2.0-x\r\n"])
    one_line_error(cli("watch", "-r", str(capture), "--bpf", "tcp prot 22", "-q"),
                   "--bpf 'tcp prot 22'", "syntax error")
    kept = cli("watch", "-r", str(capture), "--bpf", "tcp port 22", "-q", "--json")
    dropped = cli("watch", "-r", str(capture), "--bpf", "udp", "-q", "--json")
    assert (len(kept.stdout.splitlines()), len(dropped.stdout.splitlines())) == (1, 0)
