"""Side by side: `probescan watch` and nDPI's `ndpiReader` (Debian's libndpi-bin) on captures.

Four parts (each can be skipped):

(a) lab: starts the lab of tests/lab/ (real Debian servers on 127.0.10.x) and the UDP lab of
    tests/lab/servers_udp.py when it exists, captures REAL clients talking to it
    (tests/lab/traffic.py),
    then labels that capture with `probescan watch -r CAP --no-probe` and `ndpiReader -i CAP`;
    prints how many flows to lab servers each tool names correctly (service) and how many it
    names with the server's product.
(b) ndpi: the same on the nDPI project's own regression captures in ../shared/pcaps/ndpi/
    (when that directory exists), against the labels of their `.out` files, compared by flow
    5-tuple; only flows whose expected label is from DPI (not a port guess) and maps to a
    service probescan names.
(c) speed: a large capture (the lab capture repeated with shifted clients, --packets, default
    1,000,000) read by `probescan watch -r BIG --no-probe -q` and by `ndpiReader -i BIG`:
    wall time, packets per second, peak memory.
(d) live: starts `probescan watch -i lo --scope 127.0.10.0/24 --json`, opens client
    connections to several lab servers and reports, per flow, the time from the client's
    connect to the record's arrival on stdout with the server's probe result in it.

    python3 benchmarks/watch_vs_ndpi.py                 # all four; needs root (lab, tcpdump)
    python3 benchmarks/watch_vs_ndpi.py --parts a,b     # labels only
    python3 benchmarks/watch_vs_ndpi.py --parts c --packets 200000

Names: nDPI's protocol names are mapped onto probescan's (SSH -> ssh, FTP_CONTROL -> ftp,
HTTP.HTTP_Proxy -> http-proxy, Jabber -> xmpp, TLS -> tls, ...; an application name such as
HTTP.Google counts as its master protocol). A flow's service counts when it equals the
expected one (HTTPS endpoints: http or https; `tls` alone does not name the application);
a product counts when the expected product appears, case-insensitively, in the tool's product
and version (probescan) or in the `[Server: ...]` field of ndpiReader's flow line (the only
place nDPI 4.2 reports server software).
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
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.lab import Lab, Service, start_default_lab  # noqa: E402
from tests.lab.traffic import (  # noqa: E402
    Expected,
    LabEndpoint,
    capture_client_traffic,
    capture_filter,
    make_large_capture,
    service_ok,
    tcpdump_argv,
)

NDPI_DIR = ROOT.parent / "shared" / "pcaps" / "ndpi"

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
# Services probescan names (a flow of the nDPI captures counts only when its label is one).
OUR_SERVICES = frozenset({
    "ssh", "http", "http-proxy", "tls", "ftp", "smtp", "imap", "pop3", "redis", "memcached",
    "mysql", "postgresql", "mqtt", "ldap", "xmpp", "dns", "snmp", "stun", "sip", "tftp",
    "ntp", "telnet", "rdp", "smb", "mongodb", "amqp", "irc", "vnc",
})

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


def part_lab(services: list[Service], udp: list[LabEndpoint], tmp: Path) -> Path:
    print("\n## (a) real client traffic against the lab\n")
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
    endpoints = len(expected)
    wire = sum(e.wire_product for e in expected)
    print(f"lab: {endpoints} server endpoints ({wire} show their product to our clients), "
          f"{len(flows)} client flows to them; capture {pcap.stat().st_size} bytes")
    for line in log:
        if line.startswith(("missing", "no client", "tcpdump")):
            print(f"  {line}")
    print()
    print("| tool | flows | service right (flows) | product named (servers showing it) | "
          "HTTPS as plain tls | time (s) |")
    print("|---|---:|---:|---:|---:|---:|")
    rows = [("probescan watch", p_secs, score_lab(p_labels, flows)),
            ("ndpiReader 4.2", n_secs, score_lab(n_labels, flows))]
    for name, secs, t in rows:
        print(f"| {name} | {t.flows} | {t.services}/{t.flows} | {t.products}/{t.product_flows} "
              f"| {t.tls_only} | {secs:.2f} |")
    _per_endpoint(flows, p_labels, n_labels)
    for name, _, t in rows:
        for miss in t.misses:
            print(f"  {name} miss: {miss}")
    print("\ncommands:")
    for c in commands:
        print(f"  {c}")
    return pcap


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


# --------------------------------------------------------------------------- (b) nDPI's pcaps


def part_ndpi(tmp: Path, directory: Path) -> None:
    print(f"\n## (b) nDPI's regression captures ({directory})\n")
    if not directory.is_dir():
        print(f"skipped: {directory} does not exist")
        return
    commands: list[str] = []
    total_p = total_n = total = 0
    skipped: dict[str, int] = {}
    skipped_other = 0
    print("| capture | flows compared | probescan | ndpiReader 4.2 | expected (nDPI newer) |")
    print("|---|---:|---:|---:|---|")
    misses: list[str] = []
    for out in sorted(directory.glob("*.out")):
        pcap = out.with_suffix("")
        if not pcap.is_file():
            continue
        expected: dict[FlowKey, tuple[str, str]] = {}
        for f in parse_ndpi_flows(out.read_text(errors="replace")):
            service = ndpi_service(f.proto)
            if f.confidence and f.confidence != "DPI":
                skipped[f.confidence] = skipped.get(f.confidence, 0) + 1
                continue
            if service not in OUR_SERVICES:
                skipped_other += 1
                continue
            expected[f.key] = (service, f.proto)
        if not expected:
            continue
        _, p_labels = run_probescan(pcap, tmp / (pcap.name + ".jsonl"), commands)
        _, n_labels = run_ndpi(pcap, commands)
        p_ok = n_ok = 0
        for key, (service, proto) in expected.items():
            p, n = p_labels.get(key), n_labels.get(key)
            p_right = p is not None and (
                p.service == service or (service == "tls" and p.service == "https"))
            p_ok += p_right
            n_ok += n is not None and n.service == service
            if not p_right:
                ends = " <-> ".join(f"{ip}:{port}" for ip, port in sorted(key[1]))
                misses.append(f"{pcap.name} {key[0]} {ends}: want {service} ({proto}), "
                              f"probescan {p.service if p else 'no flow'}")
        kinds = sorted({s for s, _ in expected.values()})
        print(f"| {pcap.name} | {len(expected)} | {p_ok} | {n_ok} | {', '.join(kinds)} |")
        total += len(expected)
        total_p += p_ok
        total_n += n_ok
    print(f"| **all** | {total} | {total_p} | {total_n} | |")
    why = ", ".join(f"{n} '{c}'" for c, n in sorted(skipped.items()))
    print(f"\nleft out: flows whose expected label is not from DPI ({why}); "
          f"{skipped_other} flows of protocols probescan does not name")
    for m in misses:
        print(f"  probescan miss: {m}")
    print("\ncommands (for each capture):")
    for c in commands[:2]:
        print(f"  {c}")


# --------------------------------------------------------------------------- (c) speed


@dataclass
class Timing:
    seconds: float
    max_rss_kb: int
    output: str


def timed(argv: list[str]) -> Timing:
    t0 = time.monotonic()
    proc = subprocess.Popen(argv, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    assert proc.stdout is not None
    output = proc.stdout.read().decode("utf-8", "replace")
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    secs = time.monotonic() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{argv[0]} exited {proc.returncode}: {output[-2000:]}")
    return Timing(secs, int(usage.ru_maxrss), output)


def merge_ethernet_pcaps(srcs: list[Path], out: Path) -> int:
    """One classic pcap of every Ethernet frame of the given classic pcap files, each file's
    timestamps moved to follow the previous one's; returns the number of frames."""
    from scapy.utils import RawPcapReader

    n, base = 0, 1_700_000_000.0
    with out.open("wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
        for src in srcs:
            try:
                reader = RawPcapReader(str(src))
            except Exception:  # pcapng or damaged: left out
                continue
            if getattr(reader, "linktype", None) != 1:
                reader.close()
                continue
            first: float | None = None
            last = base
            for data, _meta in reader:
                # order kept, gaps squeezed to 1 ms: some captures span months, and the
                # copies made from this file must still fit pcap's 32-bit seconds
                t = base + 0.001 * n
                first = t if first is None else first
                last = t
                f.write(struct.pack("<IIII", int(t), int((t % 1) * 1e6), len(data), len(data)))
                f.write(data)
                n += 1
            reader.close()
            base = last + 1.0
    return n


def part_speed(src: Path, tmp: Path, packets: int, runs: int, label: str = "") -> None:
    print(f"\n## (c) packets per second ({packets:,} packets or more){label}\n")
    frames = _count_frames(src)
    copies = max(1, -(-packets // frames))
    big = tmp / f"big-{src.stem}.pcap"
    t0 = time.monotonic()
    written = make_large_capture(src, big, copies)
    print(f"built {big.name}: {written:,} packets ({copies} copies of {frames} from "
          f"{src.name}), {big.stat().st_size / 1e6:.0f} MB, in {time.monotonic() - t0:.1f} s")
    tools = [
        ("probescan watch", [sys.executable, "-m", "probescan", "watch", "-r", str(big),
                             "--no-probe", "-q"]),
        ("ndpiReader 4.2", ["ndpiReader", "-i", str(big)]),
    ]
    print()
    print("| tool | wall time (s) | packets/s | peak RSS (MB) |")
    print("|---|---:|---:|---:|")
    ndpi_own = ""
    for name, argv in tools:
        best: Timing | None = None
        for _ in range(runs):
            t = timed(argv)
            if best is None or t.seconds < best.seconds:
                best = t
        assert best is not None
        print(f"| {name} | {best.seconds:.2f} | {written / best.seconds:,.0f} | "
              f"{best.max_rss_kb / 1024:.0f} |")
        if name.startswith("ndpi"):
            m = re.search(r"nDPI throughput:\s+(.*)", best.output)
            ndpi_own = m.group(1).strip() if m else ""
    if ndpi_own:
        print(f"\nndpiReader's own figure (packet processing only): {ndpi_own}")
    print(f"\nbest of {runs}; wall time includes start-up (Python imports, loading the "
          "fingerprints; nDPI's setup)")
    print("commands:")
    for _, argv in tools:
        print(f"  {_cmd_text(argv)}")


def _count_frames(pcap: Path) -> int:
    from scapy.utils import RawPcapReader

    with RawPcapReader(str(pcap)) as reader:
        return sum(1 for _ in reader)


# --------------------------------------------------------------------------- (d) live


@dataclass
class LiveFlow:
    name: str
    server: tuple[str, int]
    client: tuple[str, int] | None = None
    started: float = 0.0  # time.time() just before connect()
    arrived: float | None = None
    record: dict[str, object] | None = None


def _talk(ip: str, port: int, send: bytes | None, flow: LiveFlow) -> None:
    flow.started = time.time()
    try:
        with socket.create_connection((ip, port), timeout=3) as s:
            flow.client = s.getsockname()[:2]
            if send:
                s.sendall(send)
            s.settimeout(1.0)
            with contextlib.suppress(OSError):
                s.recv(65536)
    except OSError as e:
        print(f"  client {flow.name}: {e}")


LIVE_CLIENTS: dict[str, bytes | None] = {
    "ssh": b"SSH-2.0-OpenSSH_9.2p1 probescan-bench\r\n",
    "http": b"GET / HTTP/1.1\r\nHost: probescan-lab.test\r\nUser-Agent: bench\r\n\r\n",
    "ftp": None, "smtp": None, "imap": None, "pop3": None, "mysql": None,
    "redis": b"*1\r\n$4\r\nPING\r\n",
    "memcached": b"version\r\n",
    "mqtt": bytes.fromhex("101000044d5154540402003c0004626e6368"),
}


def part_live(services: list[Service], flows_wanted: int, timeout: float) -> None:
    print("\n## (d) live: connection -> record with probe evidence\n")
    candidates = [s for s in services if s.service in LIVE_CLIENTS and not s.tls]
    seen: set[str] = set()
    chosen: list[Service] = []
    for s in candidates:  # one per service first, then more endpoints
        if s.service not in seen:
            chosen.append(s)
            seen.add(s.service)
    spare = [s for s in candidates if s not in chosen]
    chosen = (chosen + spare)[:flows_wanted]
    # The warm-up endpoint gets probed (then not again for --probe-ttl): not one measured.
    warm = next((s for s in spare if s not in chosen), chosen[0] if chosen else None)
    argv = [sys.executable, "-m", "probescan", "watch", "-i", "lo", "--scope",
            "127.0.10.0/24", "--bpf", "net 127.0.10.0/24", "--json"]
    proc = subprocess.Popen(argv, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True)
    records: list[tuple[float, dict[str, object]]] = []
    lock = threading.Lock()
    got_one = threading.Event()

    def reader() -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            now = time.time()
            with contextlib.suppress(ValueError):
                rec = json.loads(raw)
                with lock:
                    records.append((now, rec))
                got_one.set()

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    try:
        # Warm-up: connect until the watcher writes a record (it is capturing by then).
        deadline = time.monotonic() + 30
        while warm is not None and not got_one.is_set() and time.monotonic() < deadline:
            if proc.poll() is not None:
                break
            _talk(warm.ip, warm.port, LIVE_CLIENTS[warm.service], LiveFlow("warm-up", (
                warm.ip, warm.port)))
            got_one.wait(2.0)
        if not got_one.is_set():
            err = proc.stderr.read().decode() if proc.poll() is not None and proc.stderr else ""
            print(f"the watcher wrote no record within 30 s; skipped. {err[-1500:]}")
            return
        time.sleep(1.0)
        measured = [s for s in chosen if s is not warm]
        flows = [LiveFlow(f"{s.name} {s.ip}:{s.port}", (s.ip, s.port)) for s in measured]
        for s, f in zip(measured, flows, strict=True):
            _talk(s.ip, s.port, LIVE_CLIENTS[s.service], f)
            time.sleep(0.2)
        end = time.monotonic() + timeout
        while time.monotonic() < end and not all(_match(f, records, lock) for f in flows):
            time.sleep(0.1)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    print("| flow | service | method | probe of the server | latency (s) |")
    print("|---|---|---|---|---:|")
    latencies: list[float] = []
    for f in flows:
        rec = f.record
        if rec is None or f.arrived is None:
            print(f"| {f.name} | (no record) | | | |")
            continue
        probes = rec.get("probes")
        server_probe = probes.get("server") if isinstance(probes, dict) else None
        lat = f.arrived - f.started
        if server_probe:
            latencies.append(lat)
        probe_text = "yes" if server_probe else "none"
        print(f"| {f.name} | {rec.get('service')} {rec.get('product') or ''} | "
              f"{rec.get('method')} | {probe_text} | {lat:.3f} |")
    if latencies:
        print(f"\nwith probe evidence: {len(latencies)}/{len(flows)} flows; latency median "
              f"{statistics.median(latencies):.3f} s, max {max(latencies):.3f} s")
    else:
        print(f"\nno record with probe evidence out of {len(flows)} flows")
    print(f"command: {_cmd_text(argv)}")


def _match(f: LiveFlow, records: list[tuple[float, dict[str, object]]],
           lock: threading.Lock) -> bool:
    if f.record is not None:
        return True
    if f.client is None:
        return True  # the connection failed: nothing to wait for
    with lock:
        snapshot = list(records)
    for when, rec in snapshot:
        c, s = rec.get("client"), rec.get("server")
        if not isinstance(c, dict) or not isinstance(s, dict):
            continue
        if (c.get("ip"), c.get("port")) == f.client and (s.get("ip"), s.get("port")) == f.server:
            f.record, f.arrived = rec, when
            return True
    return False


# --------------------------------------------------------------------------- main


def _start_udp_lab(stack: contextlib.ExitStack) -> list[LabEndpoint]:
    """The UDP servers of tests/lab/servers_udp.py (stopped with the stack); [] when unavailable."""
    try:
        from tests.lab import servers_udp as udp_lab
    except ImportError:
        return []
    plan = {name: where for name, where in udp_lab.DEFAULT_UDP_LAB.items()
            if not udp_lab.missing_binary(udp_lab.SPECS[name])}
    running, failed = stack.enter_context(udp_lab.lab(plan))
    print(f"UDP lab: {len(running)} servers up"
          + (f", not started: {sorted(failed)}" if failed else ""))
    return list(running.values())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--parts", default="a,b,c,d", help="which parts to run (default a,b,c,d)")
    ap.add_argument("--packets", type=int, default=1_000_000,
                    help="(c) packets in the large capture (default 1,000,000)")
    ap.add_argument("--runs", type=int, default=1, help="(c) runs per tool; the fastest counts")
    ap.add_argument("--live-flows", type=int, default=10, help="(d) flows to measure")
    ap.add_argument("--live-timeout", type=float, default=30.0,
                    help="(d) seconds to wait for the records")
    ap.add_argument("--ndpi-dir", type=Path, default=NDPI_DIR, help="(b) nDPI's captures")
    ap.add_argument("--keep", type=Path, help="keep the captures in this directory")
    args = ap.parse_args()
    parts = {p.strip() for p in args.parts.split(",") if p.strip()}
    if shutil.which("ndpiReader") is None and parts & {"a", "b", "c"}:
        print("benchmark: ndpiReader is not installed (apt-get install libndpi-bin)",
              file=sys.stderr)
        return 2
    if os.geteuid() != 0 and parts & {"a", "c", "d"}:
        print("benchmark: parts a, c and d need root (lab servers, tcpdump, live capture)",
              file=sys.stderr)
        return 2
    print(f"# probescan watch vs ndpiReader ({time.strftime('%Y-%m-%d %H:%M')}, "
          f"{os.cpu_count()} CPUs)")
    with contextlib.ExitStack() as stack:
        if args.keep:
            args.keep.mkdir(parents=True, exist_ok=True)
            tmp = args.keep
        else:
            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="watch-bench-")))
        lab: Lab | None = None
        services: list[Service] = []
        if parts & {"a", "c", "d"}:
            lab = stack.enter_context(Lab())
            services = start_default_lab(lab)
            print(f"lab: {len(services)} TCP servers up"
                  + (f", {len(lab.failures)} failed: {sorted(k for k, _, _ in lab.failures)}"
                     if lab.failures else ""))
        pcap: Path | None = None
        if "a" in parts:
            pcap = part_lab(services, _start_udp_lab(stack), tmp)
        elif "c" in parts:  # the TCP lab's traffic is enough to repeat
            pcap = tmp / "lab.pcap"
            capture_client_traffic(services, pcap)
        if "b" in parts:
            part_ndpi(tmp, args.ndpi_dir)
        if "c" in parts and pcap is not None:
            part_speed(pcap, tmp, args.packets, args.runs,
                       " — short flows: real clients' one-request connections to the lab")
            ndpi = sorted(p for p in args.ndpi_dir.glob("*.pcap")) if args.ndpi_dir.is_dir() \
                else []
            if ndpi:
                mix = tmp / "ndpi-mix.pcap"
                merge_ethernet_pcaps(ndpi, mix)
                part_speed(mix, tmp, args.packets, args.runs,
                           " — real-network mix: nDPI's Ethernet captures merged")
            bulk = args.ndpi_dir / "ftp.pcap"
            if bulk.is_file():
                part_speed(bulk, tmp, args.packets, args.runs,
                           " — bulk transfers: nDPI's ftp.pcap (FTP data connections)")
        if "d" in parts:
            part_live(services, args.live_flows, args.live_timeout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
