"""SIGINT or SIGTERM in the middle of `watch -r` with an identify worker running: the run
stops, every flow seen so far gets its record, and no worker process is left behind."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from probescan.watch.workers import START_AFTER
from tests.lab.traffic import make_large_capture

pytest.importorskip("scapy")
from scapy.layers.inet import IP, TCP
from scapy.layers.l2 import Ether
from scapy.utils import wrpcap

SSH = b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n"


def one_ssh_flow(path: Path) -> None:
    c, s = ("10.1.0.1", 40000), ("10.2.0.1", 22)

    def seg(src: tuple[str, int], dst: tuple[str, int], flags: str, seq: int, ack: int,
            data: bytes = b"") -> Ether:
        pkt = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / \
            IP(src=src[0], dst=dst[0]) / TCP(sport=src[1], dport=dst[1], flags=flags, seq=seq,
                                             ack=ack)
        return pkt / data if data else pkt

    pkts = [seg(c, s, "S", 0, 0), seg(s, c, "SA", 0, 1), seg(c, s, "A", 1, 1),
            seg(s, c, "PA", 1, 1, SSH), seg(c, s, "PA", 1, 1 + len(SSH), SSH),
            seg(c, s, "FA", 1 + len(SSH), 1 + len(SSH)), seg(s, c, "FA", 1 + len(SSH),
                                                              2 + len(SSH)),
            seg(c, s, "A", 2 + len(SSH), 2 + len(SSH))]
    for i, p in enumerate(pkts):
        p.time = 1_760_000_000 + i * 0.001
    wrpcap(str(path), pkts)


def worker_processes_of(pid: int) -> list[int]:
    """Live child processes of `pid`, from /proc (no procps needed)."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[1] == str(pid) and fields[0] != "Z":  # state, parent pid
            children.append(int(stat.parent.name))
    return children


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_mid_capture_keeps_every_flow_seen_and_stops_the_worker(
    sig: signal.Signals, tmp_path: Path
) -> None:
    small, big, out = tmp_path / "one.pcap", tmp_path / "big.pcap", tmp_path / "out.jsonl"
    db = tmp_path / "flows.db"
    one_ssh_flow(small)
    make_large_capture(small, big, 60_000)  # 480,000 packets: several seconds of work
    proc = subprocess.Popen(
        [sys.executable, "-m", "probescan", "watch", "-r", str(big), "--no-probe",
         "--workers", "1", "-q", "-o", str(out), "--db", str(db)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=Path(__file__).parents[2],
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # wait until the worker has taken over
        time.sleep(0.1)
        if worker_processes_of(proc.pid) and out.exists() and \
                out.read_text().count("\n") > START_AFTER:
            break
    workers = worker_processes_of(proc.pid)
    assert workers, "no worker process was started"
    os.kill(proc.pid, sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err.decode()
    lines = out.read_text().splitlines()
    records = [json.loads(line) for line in lines]  # every line is whole
    assert len(records) > START_AFTER
    assert len({r["id"] for r in records}) == len(records)
    assert {r["service"] for r in records} == {"ssh"}
    assert max(r["id"] for r in records) == len(records)  # no flow seen is missing
    with sqlite3.connect(db) as conn:  # the store holds the same flows, all committed
        assert conn.execute("SELECT count(*) FROM flows").fetchone() == (len(records),)
    for w in workers:
        cmd = Path(f"/proc/{w}/cmdline")
        alive = cmd.exists() and Path(f"/proc/{w}/stat").read_text().split()[2] != "Z"
        assert not alive, f"a worker outlived the watcher: {cmd.read_bytes()!r}"
