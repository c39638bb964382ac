"""Side by side on UDP: `nmap -sU -sV` and `probescan scan -p U:...` on the real UDP lab.

Starts the servers of tests/lab/servers_udp.py (dnsmasq, snmpd, coturn, kamailio, tftpd-hpa, ntpsec,
memcached -U, nmbd), scans the same hosts and UDP ports with both tools and prints wall time
and how many services and products each named.

    python3 benchmarks/udp_vs_nmap.py
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.scan_vs_nmap import (
    Score,
    print_misses,
    print_results,
    run_nmap,
    run_probescan,
    score,
)
from tests.lab.servers_udp import lab


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--skip-nmap", action="store_true")
    args = ap.parse_args()
    if not args.skip_nmap and shutil.which("nmap") is None:
        print("benchmark: nmap is not installed (apt-get install nmap)", file=sys.stderr)
        return 2
    with lab() as (running, failed), tempfile.TemporaryDirectory() as tmp:
        for name, why in failed.items():
            print(f"lab: {name} did not start: {why.splitlines()[0]}", file=sys.stderr)
        servers = list(running.values())
        hosts = sorted({s.ip for s in servers})
        ports = sorted({s.port for s in servers})
        with_product = sum(1 for s in servers if s.product)
        print(f"UDP lab: {len(servers)} services ({with_product} with a product) on "
              f"{len(hosts)} addresses; scanning {len(hosts)} x {len(ports)} UDP endpoints")
        results: list[Score] = []
        secs, found = run_probescan(hosts, [], Path(tmp),
                                    ("-p", "U:" + ",".join(map(str, ports))))
        results.append(score("probescan -p U:...", secs, found, servers))
        if not args.skip_nmap:
            secs, found = run_nmap(hosts, ports, Path(tmp), ("-sU",))
            results.append(score("nmap -sU -sV", secs, found, servers))
        print_results(results, with_product)
        if len(results) == 2 and results[0].seconds:
            print(f"\nprobescan took {results[0].seconds / results[1].seconds:.1%} of nmap's "
                  "wall time")
        print_misses(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
