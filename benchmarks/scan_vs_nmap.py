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

from tests.lab import Lab, Service, start_default_lab  # noqa: E402
from tests.lab.servers_udp import UdpServer  # noqa: E402

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


def print_results(results: Sequence[Score], with_product: int) -> None:
    """The Markdown table of scores."""
    print()
    print("| tool | wall time (s) | services named | products named |")
    print("|---|---:|---:|---:|")
    for r in results:
        print(f"| {r.tool} | {r.seconds:.2f} | {r.services}/{r.total} | "
              f"{r.products}/{with_product} |")


def print_misses(results: Sequence[Score]) -> None:
    for r in results:
        for m in r.misses:
            print(f"  {r.tool} miss: {m}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=1, help="runs per tool; the fastest counts")
    ap.add_argument("--skip-nmap", action="store_true")
    args = ap.parse_args()
    if not args.skip_nmap and shutil.which("nmap") is None:
        print("benchmark: nmap is not installed (apt-get install nmap)", file=sys.stderr)
        return 2
    with Lab() as lab, tempfile.TemporaryDirectory() as tmp:
        services = start_default_lab(lab)
        hosts = sorted({s.ip for s in services})
        ports = sorted({s.port for s in services})
        with_product = sum(1 for s in services if s.product)
        print(f"lab: {len(services)} services ({with_product} with a product) on "
              f"{len(hosts)} addresses; scanning {len(hosts)} x {len(ports)} endpoints")
        results: list[Score] = []
        def own_rules_only(
            h: list[str], p: list[int], o: Path
        ) -> tuple[float, dict[tuple[str, int], Found]]:
            return run_probescan(h, p, o, ("--no-nmap-db",))

        tools: list[tuple[str, Runner]] = [
            ("probescan (with nmap's rules if installed)", run_probescan),
            ("probescan --no-nmap-db", own_rules_only),
        ]
        if not args.skip_nmap:
            tools.append(("nmap -sV", run_nmap))
        for name, runner in tools:
            best: Score | None = None
            for _ in range(args.runs):
                secs, found = runner(hosts, ports, Path(tmp))
                sc = score(name, secs, found, services)
                if best is None or sc.seconds < best.seconds:
                    best = sc
            assert best is not None
            results.append(best)
        print_results(results, with_product)
        if not args.skip_nmap:
            nmap = results[-1]
            for r in results[:-1]:
                ratio = nmap.seconds / r.seconds if r.seconds else 0
                print(f"\n{r.tool}: {ratio:.1f}x faster than nmap -sV on this lab "
                      f"({r.seconds / nmap.seconds:.0%} of its wall time)")
        print_misses(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
