"""Both sweeps against real listeners on 127.0.70.x and ::1: the same open ports, closed and
filtered ports (nftables rules in a private network namespace), the rate, the pipeline into
version detection, and the choice of sweep on the command line."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import json
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from probescan.catalog import build_catalog
from probescan.cli import sweep as cli_sweep
from probescan.cli.common import InputError
from probescan.config import Config
from probescan.engine.scan import make_sweep, scan
from probescan.engine.sweep import SweepState
from probescan.engine.syn.rawio import raw_unavailable
from probescan.model import Endpoint, ServiceRecord

HOST = "127.0.70.10"
RANGE = range(47100, 47400)
ROOT = Path(__file__).resolve().parents[2]
need_raw = pytest.mark.skipif(raw_unavailable() is not None,
                              reason=f"SYN sweep: {raw_unavailable()}")


@contextlib.contextmanager
def listening(host: str, ports: list[int]) -> Iterator[list[int]]:
    """Listen on `ports` of `host` (0: any free port); yields the ports."""
    socks = []
    try:
        for p in ports:
            s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((host, p))
            s.listen(64)
            socks.append(s)
        yield [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def sweep(kind: str, eps: list[Endpoint], **kw: float
          ) -> list[tuple[float, Endpoint, SweepState]]:
    """Every verdict with the time it came, in order."""
    got: list[tuple[float, Endpoint, SweepState]] = []

    def verdict(ep: Endpoint, state: SweepState, rtt: float, detail: str | None) -> None:
        got.append((time.monotonic(), ep, state))

    async def run() -> None:
        s = make_sweep(Config(sweep=kind, **kw), verdict)  # type: ignore[arg-type]
        s.add(eps)
        s.close_input()
        await s.run()

    asyncio.run(run())
    return got


def opened(verdicts: list[tuple[float, Endpoint, SweepState]]) -> set[int]:
    return {ep.port for _, ep, state in verdicts if state == "open"}


def truth(host: str, ports: range) -> set[int]:
    """Which ports accept a plain blocking connect right now."""
    found = set()
    for p in ports:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
            s.settimeout(1)
            if s.connect_ex((host, p)) == 0:
                found.add(p)
    return found


@need_raw
def test_both_sweeps_find_the_same_open_ports() -> None:
    eps = [Endpoint(HOST, p) for p in RANGE]
    with listening(HOST, [47105, 47250, 47399]):
        expected = truth(HOST, RANGE)
        syn = sweep("syn", eps)
        connect = sweep("connect", eps)
    assert {47105, 47250, 47399} <= expected
    assert opened(syn) == opened(connect) == expected
    for verdicts in (syn, connect):
        assert sorted(ep.port for _, ep, _ in verdicts) == list(RANGE)  # one verdict each
        assert {s for _, ep, s in verdicts if ep.port not in expected} == {"closed"}


@need_raw
@pytest.mark.parametrize("threaded", [True, False])
def test_the_syn_sweep_sends_from_a_thread_or_not(threaded: bool,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from probescan.engine.syn import rawio

    monkeypatch.setattr(rawio, "spare_core", lambda: threaded)
    eps = [Endpoint(HOST, p) for p in RANGE[:120]]
    with listening(HOST, [RANGE[5], RANGE[77]]):
        got = sweep("syn", eps)
    assert opened(got) == {RANGE[5], RANGE[77]} and len(got) == 120


def test_the_connect_sweep_alone() -> None:  # for runs without raw sockets
    eps = [Endpoint(HOST, p) for p in RANGE[:50]]
    with listening(HOST, [RANGE[7]]):
        got = sweep("connect", eps)
    assert RANGE[7] in opened(got) and len(got) == 50


@pytest.mark.parametrize("kind", ["syn", "connect"])
def test_ipv6_on_loopback(kind: str) -> None:
    if kind == "syn" and raw_unavailable():
        pytest.skip(str(raw_unavailable()))
    with listening("::1", [0, 0]) as (a, b):
        pass  # two ports known to be free now: closed
    with listening("::1", [0]) as (port,):
        got = sweep(kind, [Endpoint("::1", port), Endpoint("::1", a), Endpoint("::1", b)])
    assert {ep.port: s for _, ep, s in got} == {port: "open", a: "closed", b: "closed"}


@need_raw
@pytest.mark.skipif(shutil.which("nft") is None or shutil.which("unshare") is None,
                    reason="needs nft and unshare (scripts/install-test-deps)")
def test_filtered_ports_in_a_private_namespace() -> None:
    done = subprocess.run(["unshare", "-n", sys.executable, "-m", "tests.engine.netns_sweep"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout)
    for kind in ("syn", "connect"):
        for host in ("127.0.70.20", "[::1]"):
            states = {p: got[kind][f"{host}:{p}/tcp"] for p in (47000, 47001, 47002, 47003)}
            assert states == {47000: "open", 47001: "filtered", 47002: "filtered",
                              47003: "closed"}, (kind, host)
    # 8 probes; each dropped one is sent again (--retries 1), the rejected one is not
    assert got["syn_sent"] == 10


@pytest.mark.parametrize("kind", ["syn", "connect"])
def test_the_rate_is_honoured(kind: str) -> None:
    if kind == "syn" and raw_unavailable():
        pytest.skip(str(raw_unavailable()))
    rate, n = 200.0, 160
    t0 = time.monotonic()
    got = sweep(kind, [Endpoint(HOST, p) for p in RANGE[:n]], rate=rate)
    times = [t - t0 for t, _, _ in got]
    assert len(times) == n
    assert times[-1] >= 0.8 * (n - 1) / rate  # not faster than the rate on the whole
    for start in (0.1, 0.3, 0.5):  # nor in any part of it (generous bounds)
        inside = sum(start <= t < start + 0.2 for t in times)
        assert inside <= rate * 0.2 * 1.5 + 3, (start, inside)


@need_raw
def test_the_same_address_under_two_names_gets_two_verdicts() -> None:
    with listening(HOST, [RANGE[3]]):
        got = sweep("syn", [Endpoint(HOST, RANGE[3], hostname="a.test"),
                            Endpoint(HOST, RANGE[3], hostname="b.test")])
    assert sorted((ep.hostname, s) for _, ep, s in got) == [("a.test", "open"),
                                                           ("b.test", "open")]


def _banner_server(host: str) -> tuple[socket.socket, int]:
    srv = socket.socket()
    srv.bind((host, 0))
    srv.listen(16)

    def serve() -> None:
        with contextlib.suppress(OSError):
            while True:
                conn, _ = srv.accept()
                with contextlib.suppress(OSError):
                    conn.sendall(b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n")
                conn.close()

    threading.Thread(target=serve, daemon=True).start()
    return srv, srv.getsockname()[1]


@pytest.mark.parametrize("kind", ["syn", "connect"])
def test_open_ports_are_identified_while_the_sweep_goes_on(kind: str) -> None:
    if kind == "syn" and raw_unavailable():
        pytest.skip(str(raw_unavailable()))
    srv, port = _banner_server(HOST)
    eps = [Endpoint(HOST, port), *(Endpoint(HOST, p) for p in RANGE[:150] if p != port)]
    records: list[tuple[float, ServiceRecord]] = []
    config = Config(sweep=kind, rate=150, banner_wait=1.0)  # type: ignore[arg-type]
    try:
        asyncio.run(scan(eps, config, build_catalog(None),
                         lambda r: records.append((time.monotonic(), r))))
    finally:
        srv.close()
    by_port = {r.endpoint.port: (t, r) for t, r in records}
    t_ssh, ssh = by_port[port]
    assert (ssh.state, ssh.service, ssh.product) == ("open", "ssh", "OpenSSH")
    last_closed = max(t for t, r in records if r.state == "closed")
    assert t_ssh < last_closed  # named before the sweep (a second at this rate) was over


def _args(**kw: bool) -> argparse.Namespace:
    return argparse.Namespace(syn=kw.get("syn", False), tcp=kw.get("tcp", False))


def test_the_command_line_chooses_the_sweep_as_nmap_does(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from probescan.engine.syn import rawio

    monkeypatch.setattr(rawio, "raw_unavailable", lambda: None)
    assert cli_sweep.choose_sweep(_args()) == "syn"  # root: SYN by default
    assert cli_sweep.choose_sweep(_args(tcp=True)) == "connect"
    args = _args(syn=True)
    assert cli_sweep.choose_sweep(args) == "syn" and args.tcp  # -sS means TCP ports too
    with pytest.raises(InputError, match="not both"):
        cli_sweep.choose_sweep(_args(syn=True, tcp=True))
    monkeypatch.setattr(rawio, "raw_unavailable", lambda: "raw sockets need root")
    assert cli_sweep.choose_sweep(_args()) == "connect"  # a user: connect by default
    with pytest.raises(InputError, match="-sS: raw sockets need root; use -sT"):
        cli_sweep.choose_sweep(_args(syn=True))


def test_a_discovery_only_tcp_scan_loads_no_rules() -> None:
    def args(no_version: bool) -> argparse.Namespace:
        return argparse.Namespace(no_version=no_version)

    assert cli_sweep.discovery_only(args(True), [("tcp", 22), ("tcp", 80)])
    assert not cli_sweep.discovery_only(args(True), [("tcp", 22), ("udp", 53)])
    assert not cli_sweep.discovery_only(args(False), [("tcp", 22)])
    catalog = cli_sweep.discovery_catalog()
    assert not catalog.probes.probes and not catalog.fingerprints.rules


def test_a_connect_reset_after_the_handshake_is_an_open_port() -> None:
    """A server that accepts and resets at once (tcpwrapped) leaves ECONNRESET on the socket
    when the sweep looks after the reset: the handshake completed, so the port is open;
    a refusal is closed (test_the_connect_sweep_alone covers the race's other side)."""
    s = make_sweep(Config(sweep="connect"), lambda *_: None)
    settle = s._settle  # type: ignore[attr-defined]
    assert settle(socket.socket(), socket.AF_INET, errno.ECONNRESET) == ("open", None)
    assert settle(socket.socket(), socket.AF_INET, errno.ECONNREFUSED) == ("closed", None)
    assert settle(socket.socket(), socket.AF_INET, errno.EHOSTUNREACH) == ("filtered", None)
