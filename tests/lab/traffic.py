"""Natural client traffic against the lab, captured with tcpdump, for the watcher's tests.

``capture_client_traffic(services, out)`` starts ``tcpdump -i lo -U -w out`` limited to the lab
networks (127.0.10.0/24 and 127.0.20.0/24), waits until it captures, runs REAL clients (curl,
ssh-keyscan, redis-cli, psql, mariadb, mosquitto_pub, ldapsearch, dig, snmpget,
turnutils_stunclient, tftp, ntpdig, and raw sockets for memcached, XMPP, SIP and NetBIOS) once
against each lab server, stops tcpdump cleanly and returns what every server endpoint should
be labeled (:class:`Expected`). Clients run with short timeouts and their failures are
ignored: the traffic is what matters.

``make_large_capture(src, out, copies)`` repeats the flows of a capture ``copies`` times with
shifted client addresses and ports and later timestamps (a packets-per-second benchmark).

The clients are in tests/lab/traffic_clients.py, tcpdump in tests/lab/traffic_tcpdump.py, big
captures in tests/lab/traffic_large.py. No pytest dependency here; ``python -m
tests.lab.traffic OUT.pcap`` starts the default lab and the UDP lab (tests/lab/servers_udp.py,
as root), captures, and prints the expected labels.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from tests.lab.traffic_clients import LabEndpoint, _clients, _Ctx
from tests.lab.traffic_large import make_large_capture
from tests.lab.traffic_tcpdump import CaptureFailed, _Tcpdump, tcpdump_argv

__all__ = [
    "CAPTURE_FILTER",
    "WIRE_PRODUCT",
    "CaptureFailed",
    "Expected",
    "LabEndpoint",
    "capture_client_traffic",
    "capture_filter",
    "make_large_capture",
    "service_ok",
    "tcpdump_argv",
]

CAPTURE_FILTER = "net 127.0.10.0/24 or net 127.0.20.0/24"
SETTLE = 0.5  # seconds left for the last packets (FIN, ACK) before tcpdump stops
WORKERS = 4  # clients run in parallel
ATTEMPTS = 3  # captures with packets dropped by the kernel are made again

# Services whose product is visible in the bytes our clients provoke: SSH identification,
# HTTP Server header, FTP/SMTP/IMAP/POP3 greetings, MySQL greeting, redis INFO, memcached
# VERSION, the STUN SOFTWARE attribute. (Not over TLS: nginx-https shows only a certificate.)
WIRE_PRODUCT = frozenset({
    "ssh", "http", "ftp", "smtp", "imap", "pop3", "mysql", "redis", "memcached", "stun",
})

# Names a labeler may use for the same service as the lab's.
_ALIASES: dict[str, frozenset[str]] = {
    "http+tls": frozenset({"http", "https"}),
}


@dataclass(frozen=True)
class Expected:
    """The label every flow to this server endpoint should get."""

    ip: str
    port: int
    transport: str  # "tcp" or "udp"
    service: str  # probescan's name: ssh, http, ftp, ... (HTTPS: "http" with tls)
    product: str | None
    tls: bool = False
    kind: str = ""  # the lab kind that was started, e.g. "nginx-https"
    wire_product: bool = False  # our clients make the server show its product

    @property
    def endpoint(self) -> tuple[str, int, str]:
        return (self.ip, self.port, self.transport)

    def __str__(self) -> str:
        tunnel = "+tls" if self.tls else ""
        return (f"{self.kind or self.service}@{self.ip}:{self.port}/{self.transport} "
                f"{self.service}{tunnel}/{self.product or '-'}")


def service_ok(expected: Expected, service: str | None) -> bool:
    """Whether a labeler's service name is the expected one (HTTPS may read http or https)."""
    key = expected.service + ("+tls" if expected.tls else "")
    return service is not None and service in _ALIASES.get(key, frozenset({expected.service}))


def _expected(svc: LabEndpoint, transport: str) -> Expected:
    tls = bool(getattr(svc, "tls", False))
    return Expected(svc.ip, svc.port, transport, svc.service, svc.product, tls, svc.name,
                    svc.product is not None and svc.service in WIRE_PRODUCT and not tls)


def _transport_of(svc: LabEndpoint, default: str) -> str:
    t = getattr(svc, "transport", None)
    return t if t in ("tcp", "udp") else default


def _in_lab_nets(ip: str) -> bool:
    return ip.startswith(("127.0.10.", "127.0.20."))


def capture_filter(endpoints: Iterable[tuple[str, int, str]]) -> str:
    """The lab networks, plus any lab server outside them (ntpsec only binds 127.0.0.1:123)."""
    extra = sorted({f"(host {ip} and {t} port {port})" for ip, port, t in endpoints
                    if not _in_lab_nets(ip)})
    return " or ".join([CAPTURE_FILTER, *extra])


def capture_client_traffic(
    services: Iterable[LabEndpoint],
    out: Path,
    udp_services: Iterable[LabEndpoint] = (),
    *,
    log: list[str] | None = None,
) -> list[Expected]:
    """Capture real client traffic against every lab server into ``out`` (pcap).

    Returns the expected label of each server endpoint the clients talked to (servers our
    clients do not know are left out). ``log``, when given, receives one line per client run.
    """
    tcp = [(s, _transport_of(s, "tcp")) for s in services]
    udp = [(s, _transport_of(s, "udp")) for s in udp_services]
    every = tcp + udp
    out.parent.mkdir(parents=True, exist_ok=True)
    web = [s for s, t in every if s.service == "http" and t == "tcp"
           and not getattr(s, "tls", False)]
    target = f"http://{web[0].ip}:{web[0].port}/" if web else "http://127.0.10.2:18080/"
    lines: list[str] = [] if log is None else log
    expected: list[Expected] = []
    with tempfile.TemporaryDirectory(prefix="probescan-traffic-") as tmp:
        ctx = _Ctx(Path(tmp), target, lines)
        runs: list[Callable[[], None]] = []
        for svc, transport in every:
            thunks = _clients(svc, transport, bool(getattr(svc, "tls", False)), ctx)
            if not thunks:
                lines.append(f"no client for {svc.service}/{transport} ({svc.name})")
                continue
            runs.extend(thunks)
            expected.append(_expected(svc, transport))
        bpf = capture_filter(e.endpoint for e in expected)
        for attempt in range(1, ATTEMPTS + 1):
            dump = _Tcpdump(out, bpf)
            try:
                dump.wait_ready()
                time.sleep(0.2)
                with ThreadPoolExecutor(max_workers=WORKERS) as pool:
                    list(pool.map(lambda run: run(), runs))
                time.sleep(SETTLE)
            finally:
                lines.append("tcpdump: " + dump.stop().replace("\n", " | "))
            if dump.dropped <= 0:
                break
            lines.append(f"attempt {attempt}: the kernel dropped {dump.dropped} packets"
                         + ("; capturing again" if attempt < ATTEMPTS else ""))
    return expected


# --------------------------------------------------------------------------- main


def main(argv: Sequence[str] | None = None) -> int:
    from tests.lab import Lab, start_default_lab

    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1:
        print("usage: python -m tests.lab.traffic OUT.pcap", file=sys.stderr)
        return 2
    with Lab() as lab, contextlib.ExitStack() as stack:
        services = start_default_lab(lab)
        udp: list[LabEndpoint] = []
        if os.geteuid() == 0:
            from tests.lab import servers_udp as udp_lab

            plan = {name: where for name, where in udp_lab.DEFAULT_UDP_LAB.items()
                    if not udp_lab.missing_binary(udp_lab.SPECS[name])}
            running, failed = stack.enter_context(udp_lab.lab(plan))
            udp = list(running.values())
            for name, why in failed.items():
                print(f"# UDP {name} not started: {why.splitlines()[0]}", file=sys.stderr)
        log: list[str] = []
        expected = capture_client_traffic(services, Path(args[0]), udp, log=log)
        for line in log:
            print(f"# {line}", file=sys.stderr)
        for e in expected:
            print(e)
    return 0


if __name__ == "__main__":
    sys.exit(main())
