"""Side by side on UDP: `nmap -sU -sV` and `probescan scan -p U:...` on the real UDP lab.

Starts the servers of tests/lab/servers_udp.py (dnsmasq, snmpd, coturn, kamailio, tftpd-hpa, ntpsec,
memcached -U, nmbd), scans the same hosts and UDP ports with both tools and prints wall time
and how many services and products each named. The lab is development data: probescan's UDP
fingerprints were captured from these servers. Prints the blocks `scan-udp` and
`readme-scan-udp` (see benchmarks/_blocks.py).

    python3 benchmarks/udp_vs_nmap.py
    python3 benchmarks/udp_vs_nmap.py --quick     # dnsmasq on 127.0.90.13: does it run?
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import _blocks
from benchmarks.scan_vs_nmap import (
    Score,
    lab_scope,
    lab_text,
    misses,
    nmap_missing,
    readme_summary,
    run_nmap,
    run_probescan,
    score,
    table,
)
from tests.lab.servers_udp import lab

QUICK_NEEDS = "lab"  # read by tests/benchmarks/test_quick.py
# --quick: one server on 127.0.90.x (not the lab's 127.0.20.x)
QUICK_LAB = {"dnsmasq": ("127.0.90.13", 10053)}


def main() -> int:
    started = time.monotonic()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--skip-nmap", action="store_true")
    ap.add_argument("--quick", action="store_true",
                    help="one UDP server on 127.0.90.13 (checks the benchmark runs)")
    args = ap.parse_args()
    if nmap_missing(args.skip_nmap):
        return 2
    with lab(QUICK_LAB if args.quick else None) as (running, failed), \
            tempfile.TemporaryDirectory() as tmp:
        for name, why in failed.items():
            print(f"lab: {name} did not start: {why.splitlines()[0]}", file=sys.stderr)
        servers = list(running.values())
        if not servers:
            return _blocks.skip("no UDP lab server started (scripts/install-test-deps, as root)")
        hosts, ports, with_product = lab_scope(servers, udp=True)
        results: list[Score] = []
        secs, found = run_probescan(hosts, [], Path(tmp),
                                    ("-p", "U:" + ",".join(map(str, ports))))
        results.append(score("probescan -p U:...", secs, found, servers))
        if not args.skip_nmap:
            secs, found = run_nmap(hosts, ports, Path(tmp), ("-sU",))
            results.append(score(f"nmap {_blocks.nmap_version()} -sU -sV (peer)", secs, found,
                                 servers))
        lines = [_blocks.data_line(_blocks.DEVELOPMENT, lab_text(servers, "UDP")) + ".", "",
                 *table(results, with_product), ""]
        if len(results) == 2 and results[1].seconds:
            lines += [f"probescan took {results[0].seconds / results[1].seconds:.1%} of the "
                      "peer's wall time.", ""]
        lines += [f"- {m}" for m in misses(results)] or ["No misses."]
        lines += ["", _blocks.provenance(started)]
        _blocks.emit("scan-udp", lines, args.quick)
        peer = results[1] if len(results) == 2 else None
        _blocks.emit("readme-scan-udp", [readme_summary("UDP", results[0], peer, with_product)],
                     args.quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())
