"""Side by side: `nmap -sV` and `probescan scan` on the real-server lab.

Starts the lab of tests/lab/ (real Debian servers on 127.0.10.x, mostly on unusual ports),
runs both tools over the same hosts and ports, and prints, for each, the wall time and how
many lab services it named correctly (service) and how many products.

    python3 benchmarks/scan_vs_nmap.py            # needs root-installed servers and nmap
    python3 benchmarks/scan_vs_nmap.py --runs 3   # best of three for each tool

A service counts as named when the tool's service name (normalised: nmap's `xmpp-client` is
`xmpp`, `ms-wbt-server` is `rdp`, ...) equals the lab's; a product counts when the lab's
expected product appears (case-insensitively) in the tool's product or version string.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks import _blocks  # noqa: E402
from tests.lab import Lab, Service, start_default_lab  # noqa: E402
from tests.lab.servers_udp import UdpServer  # noqa: E402

# What --quick needs (read by tests/benchmarks/test_quick.py): "lab" = root and the Debian
# servers of scripts/install-test-deps, started on 127.0.90.x.
QUICK_NEEDS = "lab"
# --quick: one banner server on 127.0.90.x (not the lab's 127.0.10.x)
QUICK_LAB = [("vsftpd", "127.0.90.11", 2121)]

NMAP_NAMES = {
    "xmpp-client": "xmpp",
    "ms-wbt-server": "rdp",
    "postgres": "postgresql",
    "microsoft-ds": "smb",
    "netbios-ssn": "smb",
    "domain": "dns",
    "squid-http": "http-proxy",
    "netbios-ns": "netbios-ns",
}


Runner = Callable[[list[str], list[int], Path], "tuple[float, dict[tuple[str, int], Found]]"]


@dataclass(frozen=True)
class Found:
    service: str | None
    product: str | None
    version: str | None


@dataclass(frozen=True)
class Score:
    tool: str
    seconds: float
    services: int
    products: int
    total: int
    misses: tuple[str, ...]


def run_nmap(
    hosts: list[str], ports: list[int], out: Path, extra: tuple[str, ...] = ()
) -> tuple[float, dict[tuple[str, int], Found]]:
    xml = out / "nmap.xml"
    cmd = ["nmap", "-sV", "-Pn", "-n", *extra, "-p", ",".join(map(str, ports)), "-oX", str(xml),
           *hosts]
    t0 = time.monotonic()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    secs = time.monotonic() - t0
    found: dict[tuple[str, int], Found] = {}
    for host in ET.parse(xml).getroot().iter("host"):
        addr = host.find("address")
        if addr is None:
            continue
        ip = addr.get("addr", "")
        for port in host.iter("port"):
            state = port.find("state")
            if state is None or state.get("state") not in ("open", "open|filtered"):
                continue
            svc = port.find("service")
            name = svc.get("name") if svc is not None else None
            found[(ip, int(port.get("portid", "0")))] = Found(
                NMAP_NAMES.get(name or "", name),
                svc.get("product") if svc is not None else None,
                svc.get("version") if svc is not None else None,
            )
    return secs, found


def run_probescan(
    hosts: list[str], ports: list[int], out: Path, extra: tuple[str, ...] = ()
) -> tuple[float, dict[tuple[str, int], Found]]:
    jsonl = out / "probescan.jsonl"
    cmd = [sys.executable, "-m", "probescan", "scan", *hosts, "-o", str(jsonl), "--quiet",
           *(["-p", ",".join(map(str, ports))] if ports else []), *extra]
    t0 = time.monotonic()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    secs = time.monotonic() - t0
    found: dict[tuple[str, int], Found] = {}
    for line in jsonl.read_text().splitlines():
        r = json.loads(line)
        if r["state"] in ("open", "open|filtered"):
            found[(r["ip"], r["port"])] = Found(r["service"], r["product"], r["version"])
    return secs, found


def score(tool: str, secs: float, found: dict[tuple[str, int], Found],
          lab: Sequence[Service | UdpServer]) -> Score:
    services = products = 0
    misses: list[str] = []
    for s in lab:
        f = found.get((s.ip, s.port))
        ok_service = f is not None and f.service == s.service
        text = " ".join(x for x in (f.product, f.version) if x).lower() if f else ""
        ok_product = s.product is None or (s.product.lower() in text)
        services += ok_service
        products += ok_product and s.product is not None
        if not (ok_service and ok_product):
            got = f"{f.service}/{f.product}" if f else "not open"
            misses.append(f"{s.name}@{s.ip}:{s.port} want {s.service}/{s.product} got {got}")
    return Score(tool, secs, services, products, len(lab), tuple(misses))


def table(results: Sequence[Score], with_product: int) -> list[str]:
    """The Markdown table of scores."""
    lines = ["| tool | wall time (s) | services named | products named |", "|---|---:|---:|---:|"]
    lines += [f"| {r.tool} | {r.seconds:.2f} | {r.services}/{r.total} | "
              f"{r.products}/{with_product} |" for r in results]
    return lines


def print_results(results: Sequence[Score], with_product: int) -> None:
    print()
    print("\n".join(table(results, with_product)))


def misses(results: Sequence[Score]) -> list[str]:
    return [f"{r.tool} miss: {m}" for r in results for m in r.misses]


def print_misses(results: Sequence[Score]) -> None:
    for line in misses(results):
        print(f"  {line}")


def lab_text(services: Sequence[Service | UdpServer], transport: str) -> str:
    """Which servers the lab ran, for the block's data line."""
    names = ", ".join(sorted({s.name for s in services}))
    return (f"the real-server lab of `tests/lab/` ({len(services)} {transport} endpoints of "
            f"Debian 12 servers: {names}), the servers probescan's fingerprints were captured "
            "from and its prober was tuned on; both tools scan the same hosts and ports")


def nmap_missing(skip_nmap: bool) -> bool:
    """nmap is wanted but not installed (said in one line on stderr)."""
    if not skip_nmap and shutil.which("nmap") is None:
        print("benchmark: nmap is not installed (apt-get install nmap)", file=sys.stderr)
        return True
    return False


def lab_scope(servers: Sequence[Service | UdpServer],
              udp: bool = False) -> tuple[list[str], list[int], int]:
    """The hosts and ports both tools scan and how many servers have a product (printed)."""
    hosts = sorted({s.ip for s in servers})
    ports = sorted({s.port for s in servers})
    with_product = sum(1 for s in servers if s.product)
    kind = "UDP " if udp else ""
    print(f"{kind}lab: {len(servers)} services ({with_product} with a product) on "
          f"{len(hosts)} addresses; scanning {len(hosts)} x {len(ports)} {kind}endpoints")
    return hosts, ports, with_product


def readme_summary(transport: str, ours: Score, peer: Score | None, with_product: int) -> str:
    """The README's line: what probescan named (and the peer, when it ran)."""
    summary = (f"- {transport}, {ours.total} lab endpoints ({_blocks.DEVELOPMENT}): probescan "
               f"named {ours.services}/{ours.total} services and {ours.products}/"
               f"{with_product} products in {ours.seconds:.1f} s")
    if peer is not None:
        summary += (f"; {peer.tool.removesuffix(' (peer)')}: {peer.services}/{peer.total} "
                    f"and {peer.products}/{with_product} in {peer.seconds:.1f} s")
    return summary + "."


def main() -> int:
    started = time.monotonic()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=1, help="runs per tool; the fastest counts")
    ap.add_argument("--skip-nmap", action="store_true")
    ap.add_argument("--quick", action="store_true",
                    help="one lab server on 127.0.90.11 (checks the benchmark runs)")
    args = ap.parse_args()
    if nmap_missing(args.skip_nmap):
        return 2
    with Lab() as lab, tempfile.TemporaryDirectory() as tmp:
        services = start_default_lab(lab, QUICK_LAB if args.quick else None)
        for (kind, ip, port), why in lab.failures.items():
            print(f"lab: {kind} on {ip}:{port} did not start: {why.splitlines()[0]}",
                  file=sys.stderr)
        if not services:
            return _blocks.skip("no lab server started (scripts/install-test-deps, as root)")
        hosts, ports, with_product = lab_scope(services)
        results = _run_tools(args.runs, args.skip_nmap, hosts, ports, Path(tmp), services)
        lines = [_blocks.data_line(_blocks.DEVELOPMENT, lab_text(services, "TCP")) + ".", "",
                 *table(results, with_product), ""]
        if not args.skip_nmap:
            nmap = results[-1]
            for r in results[:-1]:
                ratio = nmap.seconds / r.seconds if r.seconds else 0
                lines.append(f"{r.tool}: {ratio:.1f}x as fast as {nmap.tool} on this lab "
                             f"({r.seconds / nmap.seconds:.0%} of its wall time).")
            lines.append("")
        lines += [f"- {m}" for m in misses(results)] or ["No misses."]
        lines += ["", _blocks.provenance(started)]
        _blocks.emit("scan-tcp", lines, args.quick)
        peer = None if args.skip_nmap else results[-1]
        _blocks.emit("readme-scan-tcp", [readme_summary("TCP", results[0], peer, with_product)],
                     args.quick)
    return 0


def _run_tools(runs: int, skip_nmap: bool, hosts: list[str], ports: list[int], tmp: Path,
               services: list[Service]) -> list[Score]:
    def own_rules_only(
        h: list[str], p: list[int], o: Path
    ) -> tuple[float, dict[tuple[str, int], Found]]:
        return run_probescan(h, p, o, ("--no-nmap-db",))

    tools: list[tuple[str, Runner]] = [
        ("probescan (with nmap's rules if installed)", run_probescan),
        ("probescan --no-nmap-db", own_rules_only),
    ]
    if not skip_nmap:
        tools.append((f"nmap {_blocks.nmap_version()} -sV (peer)", run_nmap))
    results: list[Score] = []
    for name, runner in tools:
        best: Score | None = None
        for _ in range(runs):
            secs, found = runner(hosts, ports, tmp)
            sc = score(name, secs, found, services)
            if best is None or sc.seconds < best.seconds:
                best = sc
        assert best is not None
        results.append(best)
    return results


if __name__ == "__main__":
    sys.exit(main())
