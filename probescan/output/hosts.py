"""Records grouped by host, for the outputs nmap users read host by host (-oN, -oG): the
records of the listed states, per port; the others only counted, per state and transport
(nmap's "Not shown: 998 closed tcp ports"). Hosts and addresses in numeric order. Pure, but
for `HostsText`: the frame of those sinks, which write everything at close()."""

from __future__ import annotations

import abc
import shlex
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING

from probescan import __version__
from probescan.model import ServiceRecord
from probescan.output.text import ip_key, proto_key, safe

if TYPE_CHECKING:
    from probescan.watch.label import FlowRecord

TOOL = "probescan"

Names = Callable[[Sequence[str]], Mapping[str, str]]  # addresses -> their DNS names (-R)


def timestr(epoch: float) -> str:
    return time.strftime("%a %b %d %H:%M:%S %Y", time.localtime(epoch))


def header(tool: str, version: str, args: Sequence[str], start: float) -> str:
    """The first line of nmap's text outputs, as a comment."""
    return f"# {tool} {version} scan initiated {timestr(start)} as: {shlex.join(args)}"


def footer(tool: str, hosts: int, up: int, start: float, end: float, interrupted: bool) -> str:
    s = "es" if hosts != 1 else ""
    note = " (interrupted)" if interrupted else ""
    return (f"# {tool} done at {timestr(end)} -- {hosts} IP address{s} ({up} host"
            f"{'s' if up != 1 else ''} up) scanned in {max(0.0, end - start):.2f} seconds{note}")


@dataclass
class Host:
    ip: str
    names: list[str] = field(default_factory=list)
    listed: dict[tuple[str, int], ServiceRecord] = field(default_factory=dict)
    hidden: dict[tuple[str, str], int] = field(default_factory=dict)  # (state, proto) -> n
    rtts: list[float] = field(default_factory=list)

    @property
    def up(self) -> bool:
        """Something answered: a port accepted or refused a connection, or a UDP reply."""
        states = {r.state for r in self.listed.values()} | {s for s, _ in self.hidden}
        return bool(states & {"open", "closed"})

    def ports(self) -> list[ServiceRecord]:
        return [self.listed[k] for k in sorted(
            self.listed, key=lambda k: (proto_key(k[0]), k[1]))]

    def not_shown(self) -> list[tuple[int, str, str]]:
        """(count, state, proto) of the records not listed, the largest first."""
        return sorted(((n, s, p) for (s, p), n in self.hidden.items()),
                      key=lambda x: (-x[0], x[1], x[2]))

    def title(self, names: Mapping[str, str]) -> str:
        """`name (ip)` or the address alone; the user's names first, then -R's."""
        known = [*self.names, *([names[self.ip]] if self.ip in names else [])]
        return f"{safe(known[0])} ({self.ip})" if known else self.ip


class Hosts:
    """Records by host. `listed`: the states given per port (None: every state)."""

    def __init__(self, listed: Collection[str] | None) -> None:
        self.listed = None if listed is None else frozenset(listed)
        self.hosts: dict[str, Host] = {}

    def add(self, r: ServiceRecord) -> None:
        ep = r.endpoint
        host = self.hosts.get(ep.ip)
        if host is None:
            host = self.hosts[ep.ip] = Host(ep.ip)
        if ep.hostname and ep.hostname not in host.names:
            host.names.append(ep.hostname)
        if r.state == "open" and "connect" in r.timings:
            host.rtts.append(r.timings["connect"])
        if self.listed is not None and r.state not in self.listed:
            key = (r.state, ep.transport)
            host.hidden[key] = host.hidden.get(key, 0) + 1
            return
        old = host.listed.get((ep.transport, ep.port))
        if old is None or r.confidence > old.confidence:  # one port under two names
            host.listed[(ep.transport, ep.port)] = r

    def __iter__(self) -> Iterator[Host]:
        return iter(self.hosts[ip] for ip in sorted(self.hosts, key=ip_key))

    def __len__(self) -> int:
        return len(self.hosts)

    @property
    def up(self) -> int:
        return sum(1 for h in self.hosts.values() if h.up)


def version_text(r: ServiceRecord) -> str:
    """nmap's VERSION column: product, version, (info)."""
    words = " ".join(safe(x) for x in (r.product, r.version) if x)
    if r.info:
        words = f"{words} ({safe(r.info)})" if words else f"({safe(r.info)})"
    return words


def service_text(r: ServiceRecord) -> str:
    """nmap's SERVICE column: `ssl/http` inside TLS, `http?` for a port-table guess."""
    name = safe(r.service) or ""
    if not name:
        return "unknown" if r.state == "open" else ""
    if r.tunnel == "tls" and name not in ("tls", "ssl"):
        name = f"ssl/{name}"
    elif name == "tls":
        name = "ssl"
    return f"{name}?" if r.method == "table" else name


class HostsText(abc.ABC):
    """A sink (probescan.output.sink) writing host-by-host text to `stream` at close(): the
    header, `host_text` of each host, the footer (also after an interrupted run). `listed`:
    the states given a port line (None: every state); `ping`: -sn, only whether each host is
    up (hosts that are down are left out); `names`: -R's lookup of addresses (called once,
    at close)."""

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

    @abc.abstractmethod
    def host_text(self, host: Host, names: dict[str, str]) -> str:
        """One host's text, ending in a newline."""

    def record(self, record: ServiceRecord) -> None:
        self._hosts.add(record)

    def flow(self, flow: FlowRecord) -> None:
        return None  # nmap's formats have no flows

    def flush(self) -> None:
        return None  # written whole at close

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
            w(self.host_text(host, names))
        w(footer(TOOL, len(hosts), self._hosts.up, self._start, self._clock(), interrupted)
          + "\n")
        self._stream.flush()
        if self._close_stream:
            self._stream.close()
