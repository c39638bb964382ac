"""Run inside a private network namespace (``unshare -n python3 -m tests.engine.netns_sweep``)
by tests/engine/test_sweeps.py: brings the namespace's loopback up, adds nftables rules that
drop one port and reject another (ICMP administratively prohibited) for IPv4 and IPv6,
listens on a third, sweeps all four with both sweeps and prints the verdicts as JSON.

Nothing here touches the machine's own network: the namespace ends with this process.
"""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys

from probescan.config import Config
from probescan.engine.sweep import Sweep, SweepState
from probescan.model import Endpoint

HOSTS = ("127.0.70.20", "::1")
OPEN, DROPPED, REJECTED, CLOSED = 47000, 47001, 47002, 47003
RULES = [
    "add table inet probescan_test",
    "add chain inet probescan_test in { type filter hook input priority 0 ; }",
    f"add rule inet probescan_test in ip daddr {HOSTS[0]} tcp dport {DROPPED} drop",
    f"add rule inet probescan_test in ip daddr {HOSTS[0]} tcp dport {REJECTED} "
    "reject with icmp type admin-prohibited",
    f"add rule inet probescan_test in ip6 daddr {HOSTS[1]} tcp dport {DROPPED} drop",
    f"add rule inet probescan_test in ip6 daddr {HOSTS[1]} tcp dport {REJECTED} "
    "reject with icmpv6 type admin-prohibited",
]


async def sweep(kind: str) -> tuple[dict[str, str], int]:
    from probescan.engine.scan import make_sweep

    got: dict[str, str] = {}

    def verdict(ep: Endpoint, state: SweepState, rtt: float, detail: str | None) -> None:
        got[str(ep)] = state

    config = Config(sweep=kind, connect_timeout=0.5, retries=1)  # type: ignore[arg-type]
    s: Sweep = make_sweep(config, verdict)
    s.add(Endpoint(h, p) for h in HOSTS for p in (OPEN, DROPPED, REJECTED, CLOSED))
    s.close_input()
    await s.run()
    return got, int(getattr(s, "sent", 0))


def main() -> int:
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    for rule in RULES:
        subprocess.run(["nft", *rule.split()], check=True)
    listeners = []
    for host in HOSTS:
        s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        s.bind((host, OPEN))
        s.listen(16)
        listeners.append(s)
    syn, sent = asyncio.run(sweep("syn"))
    connect, _ = asyncio.run(sweep("connect"))
    json.dump({"syn": syn, "connect": connect, "syn_sent": sent}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
