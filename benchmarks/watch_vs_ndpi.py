"""Side by side: `probescan watch` and nDPI's `ndpiReader` (Debian's libndpi-bin) on captures.

Three parts (`--parts labels,speed,live`, all by default):

labels: starts the lab of tests/lab/ (real Debian servers on 127.0.10.x) and the UDP lab of
    tests/lab/servers_udp.py, captures REAL clients talking to it (tests/lab/traffic.py),
    then labels that capture with `probescan watch -r CAP --no-probe` and `ndpiReader -i CAP`;
    prints how many flows to lab servers each tool names correctly (service) and how many
    servers it names with their product.
speed: large captures (the lab capture; nDPI's Ethernet captures merged; nDPI's ftp.pcap,
    each repeated with shifted clients to --packets, default 1,000,000) read by
    `probescan watch -r BIG --no-probe -q` and by `ndpiReader -i BIG`: wall time, packets per
    second, peak memory (benchmarks/_watch_speed.py).
live: starts `probescan watch -i lo --scope <the lab's /24> --json`, opens client connections
    to several lab servers and reports, per flow, the time from the client's connect to the
    record's arrival on stdout with the server's probe result in it (benchmarks/_watch_live.py).

All of it is development data: the lab servers are those probescan's fingerprints were
captured from, and nDPI's captures are those its detectors were scored against (the
agreement with nDPI's own labels over all of them: benchmarks/ndpi_agreement.py).

    python3 benchmarks/watch_vs_ndpi.py                  # all three; needs root (lab, tcpdump)
    python3 benchmarks/watch_vs_ndpi.py --parts labels
    python3 benchmarks/watch_vs_ndpi.py --parts speed --packets 200000 --runs 1
    python3 benchmarks/watch_vs_ndpi.py --quick          # a small lab on 127.0.90.x

Names: nDPI's protocol names are mapped onto probescan's (SSH -> ssh, FTP_CONTROL -> ftp,
HTTP.HTTP_Proxy -> http-proxy, Jabber -> xmpp, TLS -> tls, ...; an application name such as
HTTP.Google counts as its master protocol). A flow's service counts when it equals the
expected one (HTTPS endpoints: http or https; `tls` alone does not name the application);
a product counts when the expected product appears, case-insensitively, in the tool's product
and version (probescan) or in the `[Server: ...]` field of ndpiReader's flow line (the only
place nDPI 4.2 reports server software). Prints the blocks `watch-lab`, `readme-watch-lab`,
`watch-speed`, `readme-watch-speed` and `watch-live` (see benchmarks/_blocks.py).
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks import _blocks  # noqa: E402
from benchmarks._watch_live import part_live  # noqa: E402
from benchmarks._watch_speed import Source, merge_ethernet_pcaps, part_speed  # noqa: E402
from tests.lab import Lab, Service, start_default_lab  # noqa: E402
from tests.lab.traffic import (  # noqa: E402
    Expected,
    LabEndpoint,
    capture_client_traffic,
    capture_filter,
    service_ok,
    tcpdump_argv,
)

QUICK_NEEDS = "lab"  # read by tests/benchmarks/test_quick.py
# --quick: a small lab on 127.0.90.x (not the lab's 127.0.10.x and 127.0.20.x)
QUICK_TCP = [("vsftpd", "127.0.90.21", 2121), ("redis", "127.0.90.22", 16379)]
QUICK_UDP = {"dnsmasq": ("127.0.90.23", 10053)}
QUICK_NDPI = ("ftp.pcap", "ssh.pcap", "dns_long_domainname.pcap")

# nDPI protocol name -> probescan service name
NDPI_NAMES: dict[str, str] = {
    "SSH": "ssh", "HTTP": "http", "HTTP_Proxy": "http-proxy", "HTTP_Connect": "http-proxy",
    "TLS": "tls", "FTP_CONTROL": "ftp", "SMTP": "smtp", "SMTPS": "smtp", "IMAP": "imap",
    "IMAPS": "imap", "POP3": "pop3", "POPS": "pop3", "Redis": "redis",
    "Memcached": "memcached", "MySQL": "mysql", "PostgreSQL": "postgresql", "MQTT": "mqtt",
    "LDAP": "ldap", "Jabber": "xmpp", "DNS": "dns", "SNMP": "snmp", "STUN": "stun",
    "SIP": "sip", "TFTP": "tftp", "NTP": "ntp", "Telnet": "telnet", "RDP": "rdp",
    "SMBv1": "smb", "SMBv23": "smb", "NetBIOS": "netbios", "MongoDB": "mongodb",
    "AMQP": "amqp", "IRC": "irc", "VNC": "vnc", "RTP": "rtp", "FTP_DATA": "ftp-data",
}
FlowKey = tuple[str, frozenset[tuple[str, int]]]  # transport, both endpoints


def flow_key(transport: str, a: tuple[str, int], b: tuple[str, int]) -> FlowKey:
    return transport.lower(), frozenset({(_ip(a[0]), a[1]), (_ip(b[0]), b[1])})


def _ip(text: str) -> str:
    try:
        return ipaddress.ip_address(text.strip("[]")).compressed
    except ValueError:
        return text


@dataclass(frozen=True)
class Label:
    service: str | None
    product: str  # text searched for the expected product ("" when none)
    server: tuple[str, int] | None = None  # as the tool saw it
    raw: str = ""  # the tool's own name (nDPI protocol)


@dataclass
class Tally:
    flows: int = 0
    services: int = 0
    products: int = 0
    product_flows: int = 0  # server endpoints whose product is on the wire
    tls_only: int = 0  # HTTPS flows named just "tls"
    misses: list[str] = field(default_factory=list)


def _cmd_text(argv: list[str]) -> str:
    return shlex.join(argv)


# --------------------------------------------------------------------------- the tools


def run_probescan(pcap: Path, out: Path, commands: list[str]) -> tuple[float, dict[FlowKey, Label]]:
    argv = [sys.executable, "-m", "probescan", "watch", "-r", str(pcap), "--no-probe",
            "-o", str(out), "-q"]
    commands.append(_cmd_text(argv))
    t0 = time.monotonic()
    proc = subprocess.run(argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          text=True, check=False)
    secs = time.monotonic() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"probescan watch exited {proc.returncode}: {proc.stderr[-2000:]}")
    labels: dict[FlowKey, Label] = {}
    for line in out.read_text().splitlines():
        r = json.loads(line)
        c, s = r["client"], r["server"]
        key = flow_key(r["transport"], (c["ip"], c["port"]), (s["ip"], s["port"]))
        text = " ".join(x for x in (r.get("product"), r.get("version")) if x)
        service = r["service"]
        if service == "http" and r.get("tunnel") == "tls":
            service = "https"  # HTTP seen inside TLS (from the client's ALPN)
        labels.setdefault(key, Label(service, text, (_ip(s["ip"]), s["port"]), service))
    return secs, labels


_NDPI_FLOW = re.compile(r"^\s*\d+\s+(TCP|UDP)\s+(\S+)\s+(?:<->|->)\s+(\S+)\s+(.*)$")
_PROTO = re.compile(r"\[proto: [\d.]+/([^\]]+)\]")
_SERVER = re.compile(r"\[Server: ([^\]]*)\]")
_CONFIDENCE = re.compile(r"\[Confidence: ([^\]]*)\]")


def _endpoint(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return _ip(host), int(port)


def ndpi_service(proto: str) -> str | None:
    """`HTTP.HTTP_Proxy` -> http-proxy, `TLS.ntop` -> tls, `Unknown` -> None."""
    parts = proto.split(".")
    for name in reversed(parts):  # the application first, then the master protocol
        if name in NDPI_NAMES:
            return NDPI_NAMES[name]
    return None


@dataclass(frozen=True)
class NdpiFlow:
    key: FlowKey
    proto: str  # nDPI's name, e.g. "HTTP.Google"
    confidence: str  # "DPI", "Match by port", ...
    server_field: str


def parse_ndpi_flows(text: str) -> list[NdpiFlow]:
    """Flow lines of `ndpiReader -v 2` output or of a `.out` file of nDPI's tests."""
    flows: list[NdpiFlow] = []
    for line in text.splitlines():
        m = _NDPI_FLOW.match(line)
        if m is None:
            continue
        rest = m.group(4)
        proto = _PROTO.search(rest)
        server = _SERVER.search(rest)
        conf = _CONFIDENCE.search(rest)
        with contextlib.suppress(ValueError):
            flows.append(NdpiFlow(
                flow_key(m.group(1), _endpoint(m.group(2)), _endpoint(m.group(3))),
                proto.group(1) if proto else "Unknown",
                conf.group(1) if conf else "",
                server.group(1) if server else "",
            ))
    return flows


def run_ndpi(pcap: Path, commands: list[str]) -> tuple[float, dict[FlowKey, Label]]:
    argv = ["ndpiReader", "-i", str(pcap), "-v", "2", "-q"]
    commands.append(_cmd_text(argv))
    t0 = time.monotonic()
    proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          stdin=subprocess.DEVNULL, check=False)
    secs = time.monotonic() - t0
    text = proc.stdout.decode("utf-8", "replace")
    labels = {f.key: Label(ndpi_service(f.proto), f.server_field, None, f.proto)
              for f in parse_ndpi_flows(text)}
    return secs, labels


# --------------------------------------------------------------------------- (a) the lab


def score_lab(labels: dict[FlowKey, Label], flows: dict[FlowKey, Expected]) -> Tally:
    """Services per flow; products per server endpoint (named in at least one of its flows:
    a redis PING shows no product, the INFO beside it does)."""
    t = Tally()
    named: dict[Expected, bool] = {}
    for key, e in sorted(flows.items(), key=lambda kv: str(kv[1])):
        got = labels.get(key)
        t.flows += 1
        service = got.service if got else None
        ok = service_ok(e, service)
        t.services += ok
        if e.tls and service == "tls":
            t.tls_only += 1
        if not ok:
            seen = f"{got.raw or got.service}/{got.product or '-'}" if got else "no flow"
            t.misses.append(f"{e}: got {seen}")
        if e.wire_product:
            hit = bool(e.product and got and e.product.lower() in got.product.lower())
            named[e] = named.get(e, False) or hit
    t.product_flows = len(named)
    t.products = sum(named.values())
    t.misses += [f"{e}: product not named" for e, hit in named.items() if not hit]
    return t


def part_lab(services: list[Service], udp: list[LabEndpoint], tmp: Path, started: float,
             quick: bool) -> Path:
    print("\n## labels: real client traffic against the lab\n", flush=True)
    pcap = tmp / "lab.pcap"
    log: list[str] = []
    expected = capture_client_traffic(services, pcap, udp, log=log)
    dump = tcpdump_argv(pcap, capture_filter(e.endpoint for e in expected))
    commands = [_cmd_text(dump) + "  # while tests/lab/traffic.py runs the clients"]
    p_secs, p_labels = run_probescan(pcap, tmp / "lab.jsonl", commands)
    n_secs, n_labels = run_ndpi(pcap, commands)
    # The lab's flows: every flow either tool saw with a lab server endpoint on one side.
    by_end = {(e.ip, e.port, e.transport): e for e in expected}
    flows: dict[FlowKey, Expected] = {}
    for key in [*p_labels, *n_labels]:
        for ip, port in key[1]:
            e = by_end.get((ip, port, key[0]))
            if e is not None:
                flows.setdefault(key, e)
    wire = sum(e.wire_product for e in expected)
    print(f"lab: {len(expected)} server endpoints ({wire} show their product to our clients), "
          f"{len(flows)} client flows to them; capture {pcap.stat().st_size} bytes")
    for line in log:
        if line.startswith(("missing", "no client", "tcpdump")):
            print(f"  {line}")
    peer = f"ndpiReader {_blocks.ndpi_version()}"
    rows = [("probescan watch --no-probe", p_secs, score_lab(p_labels, flows)),
            (f"{peer} (the peer)", n_secs, score_lab(n_labels, flows))]
    table = ["| tool | flows | service right (flows) | product named (servers showing it) | "
             "HTTPS as plain tls | time (s) |", "|---|---:|---:|---:|---:|---:|"]
    table += [f"| {name} | {t.flows} | {t.services}/{t.flows} | {t.products}/{t.product_flows} "
              f"| {t.tls_only} | {secs:.2f} |" for name, secs, t in rows]
    print("\n".join(table))
    _per_endpoint(flows, p_labels, n_labels)
    missed = [f"- {name} miss: {miss}" for name, _, t in rows for miss in t.misses]
    kinds = ", ".join(sorted({e.kind or e.service for e in expected}))
    lines = [
        _blocks.data_line(_blocks.DEVELOPMENT, f"real clients (curl, ssh-keyscan, redis-cli, "
                          f"dig, ...) against {len(expected)} server endpoints of the "
                          f"real-server lab ({kinds}), the servers probescan's fingerprints "
                          "were captured from; both tools read the same capture.") + "",
        "", *table, "", *(missed or ["No misses."]), "",
        "Commands: " + "; ".join(f"`{_generic(c, tmp)}`" for c in commands), "",
        _blocks.provenance(started),
    ]
    _blocks.emit("watch-lab", lines, quick)
    (_, _, ours), (_, _, theirs) = rows
    _blocks.emit("readme-watch-lab", [
        f"- Real clients against the lab ({_blocks.DEVELOPMENT}, {ours.flows} flows): probescan "
        f"named {ours.services}/{ours.flows} flows' services and {ours.products}/"
        f"{ours.product_flows} servers' products from the capture alone; {peer}: "
        f"{theirs.services}/{theirs.flows} and {theirs.products}/{theirs.product_flows}."],
        quick)
    return pcap


def _generic(command: str, tmp: Path) -> str:
    """A command as one would type it: no temporary directory, no interpreter path."""
    return command.replace(f"{tmp}/", "").replace(sys.executable, "python3")


def _per_endpoint(flows: dict[FlowKey, Expected], a: dict[FlowKey, Label],
                  b: dict[FlowKey, Label]) -> None:
    print("\n| server | expected | flows | probescan | ndpiReader |")
    print("|---|---|---:|---|---|")
    groups: dict[str, list[FlowKey]] = {}
    exp: dict[str, Expected] = {}
    for key, e in flows.items():
        name = f"{e.kind or e.service} {e.ip}:{e.port}/{e.transport}"
        groups.setdefault(name, []).append(key)
        exp[name] = e

    def show(labels: dict[FlowKey, Label], keys: list[FlowKey]) -> str:
        seen: dict[str, int] = {}
        for k in keys:
            got = labels.get(k)
            text = "(no flow)" if got is None else (
                f"{got.raw or got.service}" + (f" [{got.product}]" if got.product else ""))
            seen[text] = seen.get(text, 0) + 1
        return "; ".join(f"{t} x{n}" if n > 1 else t for t, n in seen.items())

    for name in sorted(groups):
        e = exp[name]
        want = f"{e.service}{'+tls' if e.tls else ''}/{e.product or '-'}"
        print(f"| {name} | {want} | {len(groups[name])} | {show(a, groups[name])} | "
              f"{show(b, groups[name])} |")


# --------------------------------------------------------------------------- main


def _start_udp_lab(stack: contextlib.ExitStack, quick: bool) -> list[LabEndpoint]:
    """The UDP servers of tests/lab/servers_udp.py (stopped with the stack)."""
    from tests.lab import servers_udp as udp_lab

    plan = QUICK_UDP if quick else udp_lab.DEFAULT_UDP_LAB
    plan = {name: where for name, where in plan.items()
            if not udp_lab.missing_binary(udp_lab.SPECS[name])}
    running, failed = stack.enter_context(udp_lab.lab(plan))
    print(f"UDP lab: {len(running)} servers up"
          + (f", not started: {sorted(failed)}" if failed else ""))
    return list(running.values())


def _speed_sources(lab_pcap: Path, ndpi_dir: Path, tmp: Path, quick: bool) -> list[Source]:
    sources = [Source("short flows", "lab clients' one-request connections (~11 packets a "
                      "flow)", lab_pcap)]
    ndpi = sorted(ndpi_dir.glob("*.pcap")) if ndpi_dir.is_dir() else []
    if quick:
        ndpi = [p for p in ndpi if p.name in QUICK_NDPI]
    if ndpi:
        mix = tmp / "ndpi-mix.pcap"
        merge_ethernet_pcaps(ndpi, mix)
        scan = ("; incl. an nmap SYN scan: 1-2 packets a flow"
                if any(p.name == "synscan.pcap" for p in ndpi) else "")
        sources.append(Source("mixed", f"nDPI's {len(ndpi)} Ethernet captures merged (a "
                              f"real-network mix{scan})", mix))
    else:
        print(f"speed: nDPI's captures not found in {ndpi_dir} (not part of this repository); "
              "only the lab capture is measured")
    bulk = ndpi_dir / "ftp.pcap"
    if bulk.is_file():
        sources.append(Source("bulk", "nDPI's ftp.pcap (FTP control and data connections)",
                              bulk))
    return sources


def main() -> int:
    started = time.monotonic()
    from benchmarks.ndpi_agreement import shared_dir

    shared = shared_dir()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--parts", default="labels,speed,live",
                    help="which parts to run (default labels,speed,live)")
    ap.add_argument("--packets", type=int, default=1_000_000,
                    help="speed: packets in each large capture (default 1,000,000)")
    ap.add_argument("--runs", type=int, default=3, help="speed: runs per tool; the fastest counts")
    ap.add_argument("--live-flows", type=int, default=10, help="live: flows to measure")
    ap.add_argument("--live-timeout", type=float, default=30.0,
                    help="live: seconds to wait for the records")
    ap.add_argument("--ndpi-dir", type=Path,
                    default=shared / "pcaps" / "ndpi" if shared else Path("shared/pcaps/ndpi"),
                    help="speed: nDPI's captures (default: shared/pcaps/ndpi)")
    ap.add_argument("--keep", type=Path, help="keep the captures in this directory")
    ap.add_argument("--quick", action="store_true", help="a small lab on 127.0.90.x, 5,000 "
                    "packets, one run, 2 live flows: checks the benchmark runs")
    args = ap.parse_args()
    if args.quick:
        args.packets, args.runs, args.live_flows, args.live_timeout = 5_000, 1, 2, 15.0
    parts = {p.strip() for p in args.parts.split(",") if p.strip()}
    if parts - {"labels", "speed", "live"}:
        print(f"benchmark: unknown part(s) {sorted(parts - {'labels', 'speed', 'live'})}",
              file=sys.stderr)
        return 2
    if shutil.which("ndpiReader") is None and parts & {"labels", "speed"}:
        print("benchmark: ndpiReader is not installed (apt-get install libndpi-bin)",
              file=sys.stderr)
        return 2
    if os.geteuid() != 0:
        return _blocks.skip("the lab's servers, tcpdump and a live capture need root")
    print(f"# probescan watch vs ndpiReader ({time.strftime('%Y-%m-%d %H:%M')}, "
          f"{os.cpu_count()} CPUs)")
    with contextlib.ExitStack() as stack:
        if args.keep:
            args.keep.mkdir(parents=True, exist_ok=True)
            tmp = args.keep
        else:
            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="watch-bench-")))
        lab = stack.enter_context(Lab())
        services = start_default_lab(lab, QUICK_TCP if args.quick else None)
        print(f"lab: {len(services)} TCP servers up"
              + (f", {len(lab.failures)} failed: {sorted(k for k, _, _ in lab.failures)}"
                 if lab.failures else ""))
        if not services:
            return _blocks.skip("no lab server started (scripts/install-test-deps, as root)")
        pcap = tmp / "lab.pcap"
        if "labels" in parts:
            pcap = part_lab(services, _start_udp_lab(stack, args.quick), tmp, started,
                            args.quick)
        elif "speed" in parts:  # the TCP lab's traffic is enough to repeat
            capture_client_traffic(services, pcap)
        if "speed" in parts:
            part_speed(_speed_sources(pcap, args.ndpi_dir, tmp, args.quick), tmp, args.packets,
                       args.runs, time.monotonic(), args.quick)
        if "live" in parts:
            part_live(services, args.live_flows, args.live_timeout, time.monotonic(),
                      args.quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())
