"""nmap XML (-oX): records in the structure of nmap's DTD, for ndiff, Metasploit, IVRE & co.

nmap XML groups ports by host, while records stream in any order, so the writer buffers
per host (records are small) and writes the whole document in close(). close() must be
called whatever happens (scan closes its sinks in every case): an interrupted scan still
gets a complete, valid document holding every record delivered so far, with
``<finished exit="error" errormsg="interrupted">``. The writer is a sink
(probescan.output.sink); flow records have no place in the document.

See docs/nmap-xml.md for the mapping of fields.
"""

from __future__ import annotations

import ipaddress
import re
import shlex
import time
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING

from probescan import __version__
from probescan.model import ServiceRecord, TlsInfo
from probescan.output.xmltext import xml_safe as xml_safe  # tests and callers use it here
from probescan.output.xmltext import xml_tag as _tag
from probescan.output.xmltext import xml_text as _text

if TYPE_CHECKING:
    from probescan.watch.label import FlowRecord

XML_OUTPUT_VERSION = "1.05"
TLS_SCRIPT_ID = "probescan-tls"

# What nmap's connect scan says for each state (see nmap's portreasons.cc).
PORT_REASONS: Mapping[str, str] = {
    "open": "syn-ack",
    "closed": "conn-refused",
    "filtered": "no-response",
    "open|filtered": "no-response",
}
UDP_PORT_REASONS: Mapping[str, str] = {
    "open": "udp-response",
    "closed": "port-unreach",
    "filtered": "no-response",
    "open|filtered": "no-response",
}
_PROTO_ORDER = {"tcp": 0, "udp": 1}


def port_ranges(ports: Iterable[int]) -> str:
    """nmap's services syntax: ``[22, 80, 81, 82, 443]`` -> ``"22,80-82,443"``."""
    out: list[str] = []
    start: int | None = None
    prev = -2
    for p in sorted(set(ports)):
        if p == prev + 1:
            prev = p
            continue
        if start is not None:
            out.append(str(start) if start == prev else f"{start}-{prev}")
        start = prev = p
    if start is not None:
        out.append(str(start) if start == prev else f"{start}-{prev}")
    return ",".join(out)


def _timestr(epoch: float) -> str:
    return time.strftime("%a %b %d %H:%M:%S %Y", time.localtime(epoch))


def _addrtype(ip: str) -> str:
    try:
        return "ipv6" if ipaddress.ip_address(ip).version == 6 else "ipv4"
    except ValueError:
        return "ipv6" if ":" in ip else "ipv4"


def _ip_sort_key(ip: str) -> tuple[int, int, str]:
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return (2, 0, ip)
    return (addr.version, int(addr), ip)


@dataclass
class _Host:
    ip: str
    hostnames: list[str] = field(default_factory=list)
    ports: dict[tuple[str, int], ServiceRecord] = field(default_factory=dict)
    # unlisted records: state -> protocol -> ports (nmap's <extraports>)
    extra: dict[str, dict[str, list[int]]] = field(default_factory=dict)
    first: float = 0.0
    last: float = 0.0
    rtts: list[float] = field(default_factory=list)


class NmapXmlWriter:
    """A sink that collects ServiceRecords and writes one nmap XML document on close().

    ``args`` is the command line as a list (written to ``nmaprun@args``, shell-quoted);
    ``start_time`` and close()'s ``end_time`` are Unix times (``time.time()``).

    ``list_states``: the port states written as ``<port>`` elements; records in other
    states are only counted, per host, in ``<extraports>`` (nmap's "Not shown: 998 closed
    ports"). None (the default) lists every record given. Pass every record and
    ``{"open"}`` to get nmap's usual shape.

    ``scanned_ports``: protocol -> ports scanned, for ``<scaninfo services>``; by default
    the ports seen in records.

    ``scanner``: nmap's DTD only allows "nmap" here; the default "probescan" follows
    masscan's precedent (consumers read it; ndiff prints it). Pass "nmap" for a file that
    validates against the DTD unchanged.

    ``close_stream``: close() closes ``stream`` after writing (a file the caller opened).
    """

    def __init__(
        self,
        stream: IO[str],
        args: Sequence[str],
        start_time: float | None = None,
        *,
        list_states: Collection[str] | None = None,
        scanned_ports: Mapping[str, Iterable[int]] | None = None,
        scanner: str = "probescan",
        version: str = __version__,
        clock: Callable[[], float] = time.time,
        close_stream: bool = False,
    ) -> None:
        self._stream = stream
        self._args = list(args)
        self._clock = clock
        self._start = clock() if start_time is None else start_time
        self._list_states = None if list_states is None else frozenset(list_states)
        self._scanned = (
            None if scanned_ports is None
            else {proto: sorted(set(ports)) for proto, ports in scanned_ports.items()}
        )
        self._scanner = scanner
        self._version = version
        self._hosts: dict[str, _Host] = {}
        self._seen_ports: dict[str, set[int]] = {}
        self._closed = False
        self._close_stream = close_stream

    def record(self, record: ServiceRecord) -> None:
        if self._closed:
            raise RuntimeError("NmapXmlWriter: record after close()")
        ep = record.endpoint
        now = self._clock()
        began = now - max(0.0, record.timings.get("total", 0.0))
        host = self._hosts.get(ep.ip)
        if host is None:
            host = self._hosts[ep.ip] = _Host(ep.ip, first=began, last=now)
        host.first = min(host.first, began)
        host.last = max(host.last, now)
        if ep.hostname and ep.hostname not in host.hostnames:
            host.hostnames.append(ep.hostname)
        if "connect" in record.timings and record.state == "open":
            host.rtts.append(record.timings["connect"])
        self._seen_ports.setdefault(ep.transport, set()).add(ep.port)

        if self._list_states is not None and record.state not in self._list_states:
            ports = host.extra.setdefault(record.state, {}).setdefault(ep.transport, [])
            if ep.port not in ports:
                ports.append(ep.port)
            return
        key = (ep.transport, ep.port)
        old = host.ports.get(key)
        # The same port twice (two names for one address): keep the better-identified one.
        if old is None or record.confidence > old.confidence:
            host.ports[key] = record

    __call__ = record

    def flow(self, flow: FlowRecord) -> None:
        pass

    def flush(self) -> None:
        pass

    def close(self, end_time: float | None = None, interrupted: bool = False,
              failed: bool = False) -> None:
        """Write the whole document and flush, also after a failed run (`failed` changes
        nothing). Safe to call twice (the second does nothing)."""
        if self._closed:
            return
        self._closed = True
        end = self._clock() if end_time is None else end_time
        w = self._stream.write
        w('<?xml version="1.0" encoding="UTF-8"?>\n')
        w("<!DOCTYPE nmaprun>\n")
        comment_version = re.sub("-{2,}", "-", xml_safe(self._version))
        w(f"<!-- probescan {comment_version} scan initiated {_timestr(self._start)} -->\n")
        w(_tag("nmaprun", [
            ("scanner", self._scanner),
            ("args", shlex.join(self._args)),
            ("start", int(self._start)),
            ("startstr", _timestr(self._start)),
            ("version", self._version),
            ("xmloutputversion", XML_OUTPUT_VERSION),
        ], empty=False) + "\n")
        scanned = self._scanned if self._scanned is not None else {
            proto: sorted(ports) for proto, ports in self._seen_ports.items()
        }
        for proto in sorted(scanned, key=lambda p: _PROTO_ORDER.get(p, 9)):
            ports = scanned[proto]
            w(_tag("scaninfo", [
                ("type", "udp" if proto == "udp" else "connect"),
                ("protocol", proto),
                ("numservices", len(ports)),
                ("services", port_ranges(ports)),
            ], empty=True) + "\n")
        w('<verbose level="0"/>\n<debugging level="0"/>\n')
        for ip in sorted(self._hosts, key=_ip_sort_key):
            self._write_host(self._hosts[ip])
        up = len(self._hosts)
        elapsed = max(0.0, end - self._start)
        summary = (f"probescan done at {_timestr(end)}; {up} IP address{'es' if up != 1 else ''}"
                   f" ({up} host{'s' if up != 1 else ''} up) scanned in {elapsed:.2f} seconds")
        if interrupted:
            summary += " (interrupted)"
        w("<runstats>")
        w(_tag("finished", [
            ("time", int(end)),
            ("timestr", _timestr(end)),
            ("summary", summary),
            ("elapsed", f"{elapsed:.2f}"),
            ("exit", "error" if interrupted else "success"),
            ("errormsg", "interrupted" if interrupted else None),
        ], empty=True))
        w(_tag("hosts", [("up", up), ("down", 0), ("total", up)], empty=True))
        w("</runstats>\n</nmaprun>\n")
        self._stream.flush()
        if self._close_stream:
            self._stream.close()

    def _write_host(self, host: _Host) -> None:
        w = self._stream.write
        records = [host.ports[k] for k in sorted(
            host.ports, key=lambda k: (_PROTO_ORDER.get(k[0], 9), k[1]))]
        states = {r.state for r in records} | set(host.extra)
        reason = "syn-ack" if "open" in states else \
            "conn-refused" if "closed" in states else "user-set"
        w(_tag("host", [("starttime", int(host.first)), ("endtime", int(host.last))],
               empty=False))
        w(_tag("status", [("state", "up"), ("reason", reason), ("reason_ttl", "0")],
               empty=True) + "\n")
        w(_tag("address", [("addr", host.ip), ("addrtype", _addrtype(host.ip))], empty=True)
          + "\n")
        w("<hostnames>")
        for name in host.hostnames:
            w("\n" + _tag("hostname", [("name", name), ("type", "user")], empty=True))
        w("\n</hostnames>\n" if host.hostnames else "</hostnames>\n")
        w("<ports>")
        for state in sorted(host.extra):
            by_proto = host.extra[state]
            count = sum(len(p) for p in by_proto.values())
            w(_tag("extraports", [("state", state), ("count", count)], empty=False) + "\n")
            for proto in sorted(by_proto, key=lambda p: _PROTO_ORDER.get(p, 9)):
                reasons = UDP_PORT_REASONS if proto == "udp" else PORT_REASONS
                w(_tag("extrareasons", [
                    ("reason", reasons.get(state, "unknown")),
                    ("count", len(by_proto[proto])),
                    ("proto", proto),
                    ("ports", port_ranges(by_proto[proto])),
                ], empty=True) + "\n")
            w("</extraports>\n")
        for record in records:
            self._write_port(record)
        w("</ports>\n")
        w(_tag("times", _times(host.rtts), empty=True) + "\n")
        w("</host>\n")

    def _write_port(self, r: ServiceRecord) -> None:
        w = self._stream.write
        proto = r.endpoint.transport
        reasons = UDP_PORT_REASONS if proto == "udp" else PORT_REASONS
        w(_tag("port", [("protocol", proto), ("portid", r.endpoint.port)], empty=False))
        w(_tag("state", [("state", r.state), ("reason", reasons.get(r.state, "unknown")),
                         ("reason_ttl", "0")], empty=True))
        service = service_attrs(r)
        if service is not None:
            if r.cpe:
                w(_tag("service", service, empty=False))
                for cpe in r.cpe:
                    w(f"<cpe>{_text(cpe)}</cpe>")
                w("</service>")
            else:
                w(_tag("service", service, empty=True))
        if r.tls is not None:
            w(tls_script(r.tls))
        w("</port>\n")


def service_attrs(r: ServiceRecord) -> list[tuple[str, str | int | None]] | None:
    """The <service> attributes (in the order nmap writes them), or None for no element."""
    name = r.service
    tunnel = "ssl" if r.tunnel == "tls" else None
    if name in ("tls", "ssl"):
        # TLS with nothing recognised inside: nmap's name for it is "ssl" (not "ssl/ssl").
        name, tunnel = "ssl", None
    if not name:
        if not (r.product or r.version or r.cpe or tunnel):
            return None
        name = "unknown"
    conf = min(10, max(0, int(r.confidence)))
    return [
        ("name", name),
        ("product", r.product),
        ("version", r.version),
        ("extrainfo", r.info),
        ("hostname", r.hostname),
        ("ostype", r.os),
        ("devicetype", r.device),
        ("tunnel", tunnel),
        ("method", "table" if r.method == "table" else "probed"),
        ("conf", conf),
    ]


def tls_script(tls: TlsInfo) -> str:
    """``<script id="probescan-tls">``: a readable summary plus one <elem> per fact."""
    lines: list[str] = []
    elems: list[str] = []

    def fact(label: str, key: str, value: str | None) -> None:
        if value is None:
            return
        lines.append(f"{label}: {value}")
        elems.append(f'<elem key="{key}">{_text(value)}</elem>')

    fact("Version", "version", tls.version)
    fact("Cipher", "cipher", tls.cipher)
    fact("ALPN", "alpn", tls.alpn)
    fact("Subject", "subject", tls.subject)
    if tls.sans:
        lines.append("Subject Alternative Name: " + ", ".join(tls.sans))
        elems.append('<table key="sans">' + "".join(
            f"<elem>{_text(s)}</elem>" for s in tls.sans) + "</table>")
    fact("Issuer", "issuer", tls.issuer)
    fact("Not valid before", "not_before", tls.not_before)
    fact("Not valid after", "not_after", tls.not_after)
    fact("Serial", "serial", tls.serial)
    fact("SHA-256", "sha256", tls.sha256)
    if tls.self_signed is not None:
        fact("Self-signed", "self_signed", "true" if tls.self_signed else "false")
    fact("JARM", "jarm", tls.jarm)
    return (_tag("script", [("id", TLS_SCRIPT_ID), ("output", "\n".join(lines))], empty=False)
            + "".join(elems) + "</script>")


def _times(rtts: list[float]) -> list[tuple[str, str | int | None]]:
    """nmap's <times> in microseconds, from the TCP connect times (a handshake is one RTT)."""
    if not rtts:
        return [("srtt", 0), ("rttvar", 0), ("to", 0)]
    us = [r * 1e6 for r in rtts]
    srtt = sum(us) / len(us)
    rttvar = sum(abs(u - srtt) for u in us) / len(us)
    return [("srtt", round(srtt)), ("rttvar", round(rttvar)),
            ("to", max(100_000, round(srtt + 4 * rttvar)))]
