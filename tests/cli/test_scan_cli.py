"""`probescan scan` as an nmap user runs it, against fake servers on 127.0.80.x: the table
(numeric order, reasons, open and open|filtered apart, a spent budget, where the outputs
went), -oN/-oG/-oX/-oA and `-` for standard output, -v/-d, -sn, users' own rules."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.cli.helpers import cli
from tests.cli.servers import Servers, banner, drip, reply, reset, servers

LOW, HIGH = "127.0.80.4", "127.0.80.31"  # as text, .31 sorts before .4
SSH = b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n"
HTTP = b"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nContent-Length: 0\r\n\r\n"
OURS = ("--no-nmap-db", "--no-user-rules", "--no-progress")


@dataclass
class Lab:
    ssh_low: int
    ssh_high: int
    http: int
    wrapped: int
    closed: int
    udp: int
    servers: Servers

    @property
    def ports(self) -> str:
        return ",".join(str(p) for p in (self.ssh_low, self.ssh_high, self.http, self.wrapped,
                                         self.closed))


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    with servers() as s:
        yield Lab(ssh_low=s.tcp(LOW, banner(SSH)), ssh_high=s.tcp(HIGH, banner(SSH)),
                  http=s.tcp(HIGH, reply(b"GET ", HTTP)), wrapped=s.tcp(HIGH, reset),
                  closed=s.closed(HIGH), udp=s.silent_udp(HIGH), servers=s)


def test_the_table_orders_numerically_gives_reasons_and_counts_states_apart(lab: Lab) -> None:
    got = cli("scan", HIGH, LOW, "-p", f"T:{lab.ports},U:{lab.udp}", "-sU", "-sT", "--reason",
              *OURS)
    assert got.returncode == 0, got.stderr
    rows = [line for line in got.stdout.splitlines() if "127.0.80." in line]
    assert LOW in rows[0], got.stdout  # 127.0.80.4 before 127.0.80.31
    text = got.stdout
    assert "syn-ack" in text and "tcpwrapped" in text and "nginx" in text
    assert "no-response" in text and "open|filtered" in text
    # each host refuses the other's ports (TCP) and LOW the UDP one (ICMP port unreachable)
    assert text.splitlines()[-1].startswith(
        "5 record(s) shown on 2 host(s); ports: 4 open, 1 open|filtered, 7 closed; in ")


def test_a_spent_budget_is_shown_with_its_reason(lab: Lab) -> None:
    port = lab.servers.tcp("127.0.80.5", drip)
    got = cli("scan", "127.0.80.5", "-p", str(port), "--host-timeout", "1s", "--banner-wait",
              "5s", "--reason", *OURS)
    assert got.returncode == 0, got.stderr
    assert "host-timeout" in got.stdout and "endpoint time budget exhausted" in got.stdout


def test_every_output_and_standard_output(lab: Lab, tmp_path: Path) -> None:
    got = cli("scan", HIGH, "-p", lab.ports, "-oA", "base", "-oN", "-", "--reason", *OURS,
              cwd=tmp_path)
    assert got.returncode == 0, got.stderr
    normal = got.stdout
    assert normal.startswith("# probescan ") and "scan report for 127.0.80.31" in normal
    assert "PORT " in normal and "REASON" in normal and "OpenSSH 9.2p1 (Debian-2+deb12u3)" in normal
    assert "Not shown: 2 closed tcp ports (conn-refused)" in normal  # LOW's port and `closed`
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "base.gnmap", "base.jsonl", "base.nmap", "base.xml"]  # no file named N, G, A or -
    assert (tmp_path / "base.nmap").read_text().splitlines()[1:-1] == normal.splitlines()[1:-1]
    gnmap = (tmp_path / "base.gnmap").read_text()
    assert f"Host: {HIGH} ()\tStatus: Up" in gnmap
    assert f"{lab.http}/open/tcp//http//nginx 1.22.1/" in gnmap
    assert "Ignored State: closed (2)" in gnmap
    records = [json.loads(x) for x in (tmp_path / "base.jsonl").read_text().splitlines()]
    assert {r["service"] for r in records} == {"ssh", "http", "tcpwrapped"}
    ET.fromstring((tmp_path / "base.xml").read_text())


@pytest.mark.parametrize("flag", ["-oX", "-oG", "-o"])
def test_dash_is_standard_output_for_every_output(lab: Lab, tmp_path: Path, flag: str) -> None:
    got = cli("scan", HIGH, "-p", str(lab.ssh_high), flag, "-", *OURS, cwd=tmp_path)
    assert got.returncode == 0, got.stderr
    assert list(tmp_path.iterdir()) == []
    out = got.stdout
    if flag == "-oX":
        assert ET.fromstring(out).find("host") is not None
    elif flag == "-oG":
        assert f"{lab.ssh_high}/open/tcp//ssh//" in out
    else:
        assert json.loads(out.splitlines()[0])["service"] == "ssh"
    assert "probescan results" not in out  # the table leaves standard output to it


def test_the_last_lines_say_where_the_outputs_went(lab: Lab, tmp_path: Path) -> None:
    got = cli("scan", HIGH, "-p", str(lab.ssh_high), "-oX", "x.xml", "-o", "r.jsonl", *OURS,
              cwd=tmp_path)
    assert got.returncode == 0, got.stderr
    assert got.stdout.splitlines()[-1] == "outputs: r.jsonl (JSON Lines), x.xml (nmap XML)"


def test_verbose_and_debug_lines(lab: Lab) -> None:
    got = cli("scan", HIGH, "-p", f"{lab.ssh_high},{lab.closed}", "-v", "-d", *OURS)
    assert got.returncode == 0, got.stderr
    err = got.stderr
    assert f"Discovered open port {lab.ssh_high}/tcp on {HIGH}: ssh OpenSSH 9.2p1" in err
    assert "decided by null -> ssh.openssh [probescan:ssh.toml]" in err
    assert f"{HIGH}:{lab.closed}/tcp closed (conn-refused)" in err  # -d: every record
    vv = cli("scan", HIGH, "-p", f"{lab.ssh_high},{lab.closed}", "-vv", *OURS)
    assert f"Discovered closed port {lab.closed}/tcp" in vv.stderr
    assert "closed" in vv.stdout  # -vv lists closed ports in the table too


def test_ping_scan_lists_the_hosts_up(lab: Lab) -> None:
    got = cli("scan", "127.0.80.40-42", "-sn", "-oG", "-", *OURS)
    assert got.returncode == 0, got.stderr
    assert [line.split("\t")[0] for line in got.stdout.splitlines()[1:-1]] == [
        "Host: 127.0.80.40 ()", "Host: 127.0.80.41 ()", "Host: 127.0.80.42 ()"]
    table = cli("scan", "127.0.80.40", "-sn", *OURS)
    assert "hosts up" in table.stdout and "80/tcp " in table.stdout


WIDGET_PROBE = '''
[[probe]]
name = "widget-hello"
payload = "HELLO\\r\\n"
rarity = 1
wait_ms = 1000
'''
WIDGET_RULE = '''
[[fingerprint]]
id = "my.widget"
service = "widget"
probes = ["widget-hello"]
pattern = '^WIDGET v(\\d+)'
product = "Widget server"
version = "$1"

  [[fingerprint.examples]]
  text = "WIDGET v7\\n"
  version = "7"
'''


def test_users_own_rules_from_options_and_from_the_user_folder(lab: Lab,
                                                                tmp_path: Path) -> None:
    port = lab.servers.tcp("127.0.80.6", reply(b"HELLO", b"WIDGET v7\n"))
    (tmp_path / "p.toml").write_text(WIDGET_PROBE)
    (tmp_path / "f").mkdir()
    (tmp_path / "f" / "widget.toml").write_text(WIDGET_RULE)
    got = cli("scan", "127.0.80.6", "-p", str(port), "--probes", str(tmp_path / "p.toml"),
              "--fingerprints", str(tmp_path / "f"), "--json", *OURS)
    (record,) = [json.loads(x) for x in got.stdout.splitlines()]
    assert (record["service"], record["version"]) == ("widget", "7"), got.stderr
    assert record["evidence"][0]["source"] == "user:widget.toml"
    folder = tmp_path / "cfg" / "probescan"
    (folder / "probes").mkdir(parents=True)
    (folder / "fingerprints").mkdir()
    (folder / "probes" / "p.toml").write_text(WIDGET_PROBE)
    (folder / "fingerprints" / "w.toml").write_text(WIDGET_RULE)
    env = {"XDG_CONFIG_HOME": str(tmp_path / "cfg")}
    mine = cli("scan", "127.0.80.6", "-p", str(port), "--json", "--no-nmap-db", env=env)
    assert json.loads(mine.stdout)["service"] == "widget", mine.stderr
    off = cli("scan", "127.0.80.6", "-p", str(port), "--json", "--host-timeout", "2s", *OURS,
              env=env)
    assert json.loads(off.stdout)["service"] != "widget"
