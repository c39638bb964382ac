"""-oG: nmap's "grepable" lines, one host per line, as a sink (probescan.output.sink).

    # probescan 0.1.0 scan initiated Sat Dec 07 10:00:00 2024 as: probescan scan -oG - db1
    Host: 192.0.2.7 (db1)	Status: Up
    Host: 192.0.2.7 (db1)	Ports: 22/open/tcp//ssh//OpenSSH 9.2p1 (Debian-2)/, 443/open/tcp//
    ssl|http//nginx 1.22.1/	Ignored State: closed (998)
    (one line, cut here)
    # probescan done at Sat Dec 07 10:00:03 2024 -- 1 IP address (1 host up) scanned in 3.02 seconds

A port is `port/state/protocol/owner/service/rpc info/version/`; a `/` inside a field
becomes `|` (as nmap writes `ssl|http`). Written at close(), like -oN.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Sequence
from typing import IO, TYPE_CHECKING

from probescan import __version__
from probescan.model import ServiceRecord
from probescan.output.hosts import Host, Hosts, Names, footer, header, service_text, version_text
from probescan.output.text import safe

if TYPE_CHECKING:
    from probescan.watch.label import FlowRecord

TOOL = "probescan"


def _field(text: str) -> str:
    return safe(text).replace("/", "|")


def port_field(r: ServiceRecord) -> str:
    return (f"{r.endpoint.port}/{r.state}/{r.endpoint.transport}//"
            f"{_field(service_text(r))}//{_field(version_text(r))}/")


def host_lines(host: Host, names: dict[str, str], ping: bool) -> list[str]:
    lead = f"Host: {host.ip} ({_field(names.get(host.ip) or (host.names or [''])[0])})"
    lines = [f"{lead}\tStatus: {'Up' if host.up else 'Down'}"]
    ports = host.ports()
    if ping or not ports:
        return lines
    line = f"{lead}\tPorts: " + ", ".join(port_field(r) for r in ports)
    hidden = host.not_shown()
    if hidden:  # nmap names the most common state left out
        state = hidden[0][1]
        line += f"\tIgnored State: {state} ({sum(c for c, s, _ in hidden if s == state)})"
    return [*lines, line]


class GrepableText:
    """A sink writing nmap's grepable output to `stream` at close(). `listed`, `ping` and
    `names` as for NormalText."""

    def __init__(self, stream: IO[str], args: Sequence[str], *, listed: Collection[str] | None,
                 ping: bool = False, names: Names | None = None, close_stream: bool = True,
                 clock: Callable[[], float] = time.time) -> None:
        self._stream = stream
        self._args = list(args)
        self._hosts = Hosts(listed)
        self._ping = ping
        self._names = names
        self._close_stream = close_stream
        self._clock = clock
        self._start = clock()
        self._closed = False

    def record(self, record: ServiceRecord) -> None:
        self._hosts.add(record)

    def flow(self, flow: FlowRecord) -> None:
        pass

    def flush(self) -> None:
        pass

    def close(self, *, interrupted: bool = False, failed: bool = False) -> None:
        if self._closed:
            return
        self._closed = True
        w = self._stream.write
        w(header(TOOL, __version__, self._args, self._start) + "\n")
        hosts = list(self._hosts)
        names = dict(self._names([h.ip for h in hosts])) if self._names and hosts else {}
        for host in hosts:
            if self._ping and not host.up:
                continue
            for line in host_lines(host, names, self._ping):
                w(line + "\n")
        w(footer(TOOL, len(hosts), self._hosts.up, self._start, self._clock(), interrupted)
          + "\n")
        self._stream.flush()
        if self._close_stream:
            self._stream.close()
