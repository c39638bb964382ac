"""Side by side, on one host in one run: probescan's sweeps, start-up and the whole lab
against nmap.

1. Sweeps of every port but 2024 of 127.0.70.250, where this script listens on a few ports:
   `probescan scan -sT --no-version` against `nmap -sT`, `probescan scan -sS --no-version`
   against `nmap -sS` (best of --runs, the tools taking turns).
2. Start-up: `probescan scan` of one closed port with nmap's database (cache warm, cache
   cold) and without it.
3. The whole lab, TCP and UDP (tests/lab, started on 127.0.70.x, not the shared lab's
   addresses): probescan in one run (`-p T:...,U:...` over every lab address) against
   `nmap -sV` on the TCP lab plus `nmap -sU -sV` on the UDP lab (ntpsec is left out: it
   can only listen on 127.0.0.1).

    python3 benchmarks/sweep_vs_nmap.py                # needs root, nmap and the lab's servers
    python3 benchmarks/sweep_vs_nmap.py --runs 5 --skip-lab
    python3 benchmarks/sweep_vs_nmap.py --quick        # ports 1-2000 of 127.0.90.250, no lab

Blocks (benchmarks/_blocks.py): `scan-sweeps` (sweeps and start-up), `scan-whole-lab`,
`readme-scan-sweeps`.

Targets (scan-speed issue): the connect sweep no slower than nmap -sT, the SYN sweep within
1.5x of nmap -sS, the whole lab named (at least nmap's services and products) in at most 3%
of nmap's time.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks import _blocks  # noqa: E402
from benchmarks.scan_vs_nmap import (  # noqa: E402
    Found,
    Score,
    misses,
    run_nmap,
    run_probescan,
    score,
    table,
)
from tests.lab import Lab, Service, start_default_lab  # noqa: E402
from tests.lab.servers_tcp import DEFAULT_LAB  # noqa: E402
from tests.lab.servers_udp import DEFAULT_UDP_LAB, UdpServer  # noqa: E402
from tests.lab.servers_udp import lab as udp_lab  # noqa: E402

QUICK_NEEDS = "lab"  # read by tests/benchmarks/test_quick.py: root, nmap
SWEEP_HOST = "127.0.70.250"
PORTS = "1-2023,2025-65535"
LISTEN = (22, 80, 443, 8080, 30000, 65535)
# --quick: a small sweep on the quick benchmarks' block, no lab
QUICK_HOST, QUICK_PORTS, QUICK_LISTEN = "127.0.90.250", "1-2000", (22, 80, 443)


def lab_address(ip: str) -> str:
    """The shared lab's 127.0.10.N (TCP) and 127.0.20.N (UDP) moved to 127.0.70.x."""
    _, _, c, d = ip.split(".")
    return f"127.0.70.{int(d) + (200 if c == '20' else 0)}"


@contextlib.contextmanager
def listening(host: str, ports: tuple[int, ...]) -> Iterator[None]:
    socks = []
    try:
        for p in ports:
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((host, p))
            s.listen(128)
            socks.append(s)
        yield
    finally:
        for s in socks:
            s.close()


def probescan_sweep(kind: str, out: Path, host: str, ports: str) -> tuple[float, set[int]]:
    jsonl = out / f"sweep-{kind}.jsonl"
    cmd = [sys.executable, "-m", "probescan", "scan", host, kind, "--no-version",
           "-p", ports, "-q", "-o", str(jsonl)]
    t0 = time.monotonic()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    secs = time.monotonic() - t0
    found = {json.loads(line)["port"] for line in jsonl.read_text().splitlines()}
    return secs, found


def nmap_sweep(kind: str, out: Path, host: str, ports: str) -> tuple[float, set[int]]:
    xml = out / f"sweep-{kind}.xml"
    cmd = ["nmap", kind, "-Pn", "-n", "-p", ports, "-oX", str(xml), host]
    t0 = time.monotonic()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    secs = time.monotonic() - t0
    found = set()
    for port in ET.parse(xml).getroot().iter("port"):
        state = port.find("state")
        if state is not None and state.get("state") == "open":
            found.add(int(port.get("portid", "0")))
    return secs, found


def sweeps(runs: int, out: Path, host: str, ports: str, listen: tuple[int, ...]
           ) -> list[tuple[str, float, str, float, bool]]:
    """(ours, secs, nmap's, secs, same open ports) per kind, best of `runs` each."""
    rows = []
    with listening(host, listen):
        for kind in ("-sT", "-sS"):
            best: dict[str, float] = {}
            opened: dict[str, set[int]] = {}
            for _ in range(runs):
                for tool, run in (("probescan", probescan_sweep), ("nmap", nmap_sweep)):
                    secs, found = run(kind, out, host, ports)
                    best[tool] = min(best.get(tool, secs), secs)
                    opened[tool] = found
            same = opened["probescan"] == opened["nmap"] == set(listen)
            rows.append((f"probescan {kind}", best["probescan"], f"nmap {kind}", best["nmap"],
                         same))
    return rows


def startup(out: Path, host: str) -> list[tuple[str, float]]:
    """Wall time of a scan of one closed port: with nmap's database (warm, cold), without."""
    base = [sys.executable, "-m", "probescan", "scan", host, "-p", "1", "-q"]
    cold = out / "cold-cache"
    rows = []
    for name, extra, env in (
        ("with nmap's database, cache warm", [], {}),
        ("with nmap's database, cache cold", [], {"XDG_CACHE_HOME": str(cold)}),
        ("--no-nmap-db", ["--no-nmap-db"], {}),
    ):
        best = None
        for i in range(3):
            if env:
                shutil.rmtree(cold, ignore_errors=True)
            t0 = time.monotonic()
            subprocess.run([*base, *extra], check=True, env={**os.environ, **env},
                           stdout=subprocess.DEVNULL)
            secs = time.monotonic() - t0
            best = secs if best is None or (i and secs < best) else best
        assert best is not None
        rows.append((name, best))
    t0 = time.monotonic()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    rows.append(("python3 -c pass (the interpreter alone)", time.monotonic() - t0))
    return rows


def whole_lab(out: Path) -> tuple[list[Score], str, int] | None:
    """The scores of probescan and nmap on the whole lab, what the lab ran, and how many of
    its services have a product to name."""
    tcp_plan = [(kind, lab_address(ip), port) for kind, ip, port in DEFAULT_LAB]
    udp_plan = {name: (lab_address(ip), port) for name, (ip, port) in DEFAULT_UDP_LAB.items()
                if not ip.startswith("127.0.0.")}
    with Lab() as lab, udp_lab(udp_plan) as (udp_running, udp_failed):
        tcp = start_default_lab(lab, tcp_plan)
        udp = list(udp_running.values())
        for (kind, ip, port), why in lab.failures.items():
            print(f"lab: {kind} on {ip}:{port} did not start: {why.splitlines()[0]}",
                  file=sys.stderr)
        for name, why in udp_failed.items():
            print(f"lab: {name} did not start: {why.splitlines()[0]}", file=sys.stderr)
        services: list[Service | UdpServer] = [*tcp, *udp]
        tcp_hosts, tcp_ports = sorted({s.ip for s in tcp}), sorted({s.port for s in tcp})
        udp_hosts, udp_ports = sorted({s.ip for s in udp}), sorted({s.port for s in udp})
        hosts = sorted({*tcp_hosts, *udp_hosts})
        spec = "T:" + ",".join(map(str, tcp_ports)) + ",U:" + ",".join(map(str, udp_ports))
        what = (f"the real-server lab of `tests/lab/` on 127.0.70.x ({len(tcp)} TCP and "
                f"{len(udp)} UDP services, the servers probescan's fingerprints were captured "
                f"from); probescan scans {len(hosts)} addresses x {len(tcp_ports)} TCP + "
                f"{len(udp_ports)} UDP ports in one run; nmap -sV {len(tcp_hosts)} x "
                f"{len(tcp_ports)}, nmap -sU -sV {len(udp_hosts)} x {len(udp_ports)}")
        if not services:
            return None
        secs, found = run_probescan(hosts, [], out, ("-p", spec))
        ours = score("probescan (TCP+UDP, one run)", secs, found, services)
        secs_t, found_t = run_nmap(tcp_hosts, tcp_ports, out)
        secs_u, found_u = run_nmap(udp_hosts, udp_ports, out, ("-sU",))
        merged: dict[tuple[str, int], Found] = {**found_t, **found_u}
        nmap = score(f"nmap -sV ({secs_t:.1f} s) + nmap -sU -sV ({secs_u:.1f} s)",
                     secs_t + secs_u, merged, services)
        return [ours, nmap], what, sum(1 for s in services if s.product)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3, help="sweep runs per tool; the best counts")
    ap.add_argument("--skip-lab", action="store_true")
    ap.add_argument("--skip-sweeps", action="store_true")
    ap.add_argument("--quick", action="store_true",
                    help="ports 1-2000 of 127.0.90.250, one run, no lab: does it run?")
    args = ap.parse_args()
    if shutil.which("nmap") is None:
        return _blocks.skip("nmap is not installed (apt-get install nmap)")
    if os.geteuid() != 0:
        return _blocks.skip("the SYN sweeps and the lab need root")
    host, ports, listen = ((QUICK_HOST, QUICK_PORTS, QUICK_LISTEN) if args.quick
                           else (SWEEP_HOST, PORTS, LISTEN))
    runs = 1 if args.quick else args.runs
    started = time.monotonic()
    readme: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        if not args.skip_sweeps:
            lines = [_blocks.data_line(
                "a synthetic target", f"every port in {ports} of {host}, where the script "
                f"listens on {len(listen)} ports ({', '.join(map(str, listen))}); best of "
                f"{runs}, the tools taking turns; nmap {_blocks.nmap_version()} is the peer."),
                "", "| probescan | wall time (s) | nmap (the peer) | wall time (s) | ratio | "
                "same open ports |", "|---|---:|---|---:|---:|---|"]
            for mine, t_ours, theirs, t_theirs, same in sweeps(runs, out, host, ports, listen):
                lines.append(f"| {mine} | {t_ours:.2f} | {theirs} | {t_theirs:.2f} | "
                             f"{t_ours / t_theirs:.2f}x | {'yes' if same else 'NO'} |")
                limit = 1.0 if "-sT" in mine else 1.5
                readme.append(f"{mine} {t_ours:.2f} s, {theirs} {t_theirs:.2f} s "
                              f"({t_ours / t_theirs:.2f}x; target <= {limit}x)")
            lines += ["", "| probescan scan of one closed port | wall time (s) |", "|---|---:|"]
            lines += [f"| {name} | {secs:.2f} |" for name, secs in startup(out, host)]
            lines += ["", _blocks.provenance(started)]
            _blocks.emit("scan-sweeps", lines, args.quick)
        if not (args.skip_lab or args.quick):
            found = whole_lab(out)
            if found is None:
                return _blocks.skip("no lab server started (scripts/install-test-deps, as root)")
            (ours, nmap), what, with_product = found
            share = ours.seconds / nmap.seconds
            lines = [_blocks.data_line(_blocks.DEVELOPMENT, what) + ".", "",
                     *table([ours, nmap], with_product), "",
                     f"probescan took {share:.1%} of nmap's wall time (target <= 3%, naming at "
                     f"least nmap's services and products).", ""]
            lines += [f"* {m}" for m in misses([ours, nmap])]
            lines += ["", _blocks.provenance(started)]
            _blocks.emit("scan-whole-lab", lines, args.quick)
            readme.append(f"the whole lab ({_blocks.DEVELOPMENT}) {ours.seconds:.2f} s and "
                          f"{ours.services}/{ours.total} services named, nmap -sV + -sU -sV "
                          f"{nmap.seconds:.1f} s and {nmap.services}/{nmap.total}")
    if readme:
        _blocks.emit("readme-scan-sweeps", ["- Scan speed (**Data: a synthetic target** for "
                                            "the sweeps): " + "; ".join(readme) + "."],
                     args.quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())
