"""Live: `probescan watch -i lo` labels real flows with probe evidence within seconds, and never
probes an address outside its scope."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from probescan.watch.workers import START_AFTER
from tests.conftest import REQUIRE_SERVERS, LabServices

SCOPE = "127.0.10.0/24"
OUTSIDE = "127.0.3.77"  # not in SCOPE


def can_capture() -> bool:
    return os.geteuid() == 0


@pytest.fixture
def watcher() -> Iterator[subprocess.Popen[str]]:
    if not can_capture():
        if REQUIRE_SERVERS:
            pytest.fail("live capture needs root (PROBESCAN_REQUIRE_SERVERS=1)")
        pytest.skip("live capture needs root or CAP_NET_RAW")
    proc = subprocess.Popen(
        [sys.executable, "-m", "probescan", "watch", "-i", "lo", "--scope", SCOPE, "--json",
         "--bpf", f"net 127.0.10.0/24 or host {OUTSIDE}", "--duration", "60"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    wait_for_capture(proc)
    assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
    try:
        yield proc
    finally:
        proc.terminate()
        proc.wait(10)


def wait_for_capture(proc: subprocess.Popen[str], timeout: float = 60.0) -> None:
    """Until the watcher holds a packet socket (listed in /proc/net/packet): a loaded machine
    can take seconds to start Python and load the catalogue, and a flow made before the
    capture opens is never seen."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            packet = {line.split()[-1] for line in Path("/proc/net/packet").read_text()
                      .splitlines()[1:]}
            mine = {os.readlink(f"/proc/{proc.pid}/fd/{fd}")
                    for fd in os.listdir(f"/proc/{proc.pid}/fd")}
        except OSError:
            mine, packet = set(), set()
        if any(f"socket:[{inode}]" in mine for inode in packet):
            time.sleep(0.2)  # the filter is attached just after the socket is made
            return
        time.sleep(0.1)


_PUMPS: dict[int, queue.Queue[str]] = {}


def _lines(proc: subprocess.Popen[str]) -> queue.Queue[str]:
    """One reader thread per watcher process: two readers of one pipe would each take some
    of the lines, and a test would miss the records the other one took."""
    if proc.pid not in _PUMPS:
        lines: queue.Queue[str] = queue.Queue()

        def pump() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                lines.put(line)

        _PUMPS[proc.pid] = lines
        threading.Thread(target=pump, daemon=True).start()
    return _PUMPS[proc.pid]


def read_records(proc: subprocess.Popen[str], servers: set[tuple[str, int]],
                 timeout: float) -> list[dict[str, Any]]:
    """Records from the watcher's stdout until one has arrived for each of `servers`.

    Lines are read by a thread into a queue: a selector on the pipe would miss lines that
    already sit in the text wrapper's buffer (two records arriving in one chunk)."""
    lines = _lines(proc)
    out: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        seen = {(r["server"]["ip"], r["server"]["port"]) for r in out}
        if servers <= seen:
            break
        try:
            out.append(json.loads(lines.get(timeout=max(0.01, deadline - time.monotonic()))))
        except queue.Empty:
            break
    return out


def banner_client(ip: str, port: int, send: bytes = b"") -> float:
    t = time.time()
    with socket.create_connection((ip, port), timeout=3) as s:
        if send:
            s.sendall(send)
        s.settimeout(2)
        with contextlib.suppress(TimeoutError):
            s.recv(4096)
    return t


@pytest.mark.lab
def test_live_flows_are_labeled_with_probe_evidence_within_seconds(
    lab_services: LabServices, watcher: subprocess.Popen[str]
) -> None:
    ssh = lab_services.get("ssh", 2222)
    redis = lab_services.get("redis", 16379)
    started = {
        (ssh.ip, ssh.port): banner_client(ssh.ip, ssh.port),
        (redis.ip, redis.port): banner_client(redis.ip, redis.port, b"PING\r\n"),
    }
    records = read_records(watcher, set(started), timeout=15)
    by_server = {(r["server"]["ip"], r["server"]["port"]): r for r in records}
    for (ip, port), t0 in started.items():
        assert (ip, port) in by_server, f"no record for {ip}:{port} in {records}"
        r = by_server[(ip, port)]
        assert r["probes"]["server"] is not None, r
        assert r["probes"]["server"]["state"] == "open"
        assert r["labeled_at"] - t0 < 3.0
    assert by_server[(ssh.ip, ssh.port)]["service"] == "ssh"
    assert by_server[(ssh.ip, ssh.port)]["method"] == "passive+probe"
    assert by_server[(redis.ip, redis.port)]["service"] == "redis"


@pytest.mark.lab
def test_an_address_outside_the_scope_is_never_probed(
    lab_services: LabServices, watcher: subprocess.Popen[str]
) -> None:
    accepted: list[tuple[str, int]] = []
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((OUTSIDE, 0))
    srv.listen(16)
    port = srv.getsockname()[1]

    def serve() -> None:
        srv.settimeout(8)
        try:
            while True:
                conn, addr = srv.accept()
                accepted.append(addr)
                conn.sendall(b"220 outside.test ESMTP hello\r\n")
                conn.close()
        except OSError:
            return

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    banner_client(OUTSIDE, port)
    records = read_records(watcher, {(OUTSIDE, port)}, timeout=10)
    srv.close()
    thread.join(10)
    rec = next(r for r in records if r["server"]["ip"] == OUTSIDE)
    assert rec["probes"] == {"server": None, "client": None, "queued": []}
    assert rec["service"] == "smtp"  # passive evidence still labels it
    assert len(accepted) == 1, "only our own client connected: the watcher did not probe"


def test_a_busy_interface_hands_flows_to_the_identify_worker_and_labels_them_all(
    tmp_path: Path,
) -> None:
    """Thousands of flows (more than the watcher identifies itself before starting a worker)
    replayed onto lo: every one gets a record, with the worker doing part of the work."""
    if not can_capture():
        if REQUIRE_SERVERS:
            pytest.fail("live capture needs root (PROBESCAN_REQUIRE_SERVERS=1)")
        pytest.skip("live capture needs root or CAP_NET_RAW")
    from scapy.layers.inet import IP, TCP
    from scapy.layers.l2 import Ether

    flows = START_AFTER + 1000
    server = "10.99.0.1"  # not a local address: the stack ignores the replayed frames
    banner = b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n"

    def frame(src: tuple[str, int], dst: tuple[str, int], flags: str, seq: int,
              data: bytes = b"") -> bytes:
        pkt = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / \
            IP(src=src[0], dst=dst[0]) / TCP(sport=src[1], dport=dst[1], flags=flags, seq=seq)
        return bytes(pkt / data if data else pkt)

    frames = []
    for i in range(flows):
        c, s = (f"10.98.{i // 250}.{i % 250 + 1}", 40000 + i % 20000), (server, 22)
        frames += [frame(c, s, "S", 0), frame(s, c, "SA", 100), frame(s, c, "PA", 101, banner),
                   frame(c, s, "R", 1)]
    out = tmp_path / "live.jsonl"
    proc = subprocess.Popen(
        [sys.executable, "-m", "probescan", "watch", "-i", "lo", "--no-probe", "--workers", "1",
         "--bpf", f"host {server}", "-o", str(out), "--duration", "15"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        with socket.socket(socket.AF_PACKET, socket.SOCK_RAW) as raw:
            raw.bind(("lo", 0))
            deadline = time.monotonic() + 20
            while not (out.exists() and out.read_text()):  # until the capture is running
                assert proc.poll() is None and time.monotonic() < deadline, \
                    proc.stderr.read() if proc.stderr else ""
                warm = ("10.97.0.1", 40000 + int(time.monotonic() * 10) % 20000)
                for f in (frame(warm, (server, 2323), "S", 0),
                          frame((server, 2323), warm, "RA", 0)):
                    raw.send(f)
                time.sleep(0.2)
            for i, f in enumerate(frames):
                raw.send(f)
                if i % 50 == 49:  # a busy interface, not a flood: lo's input queue holds
                    time.sleep(0.001)  # only netdev_max_backlog (1,000) frames
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    records = [r for r in map(json.loads, out.read_text().splitlines())
               if r["server"]["port"] == 22]
    assert len(records) == flows, err
    assert {r["service"] for r in records} == {"ssh"}
    assert {r["product"] for r in records} == {"OpenSSH"}
