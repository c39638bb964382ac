"""Port selections: ``-p`` specs (`parse_ports`) and ``--top-ports`` (`top_ports`).

``-p``: ``22,80,8000-8100``, ``-`` (1-65535, what ``-p-`` passes), ``-1024`` (1-1024),
``60000-`` (60000-65535), ``T:22,80,U:53,161`` (a prefix holds until the next one), service
names from ``probes/ports.tsv`` (``http`` = every port of that transport named http). Port 0
is allowed only when written explicitly.

``--top-ports N``: the N ports a ranking puts first (`probescan.catalog.ports.port_ranking`:
nmap's ``nmap-services`` when installed, else probescan's ``probes/ports.tsv``). Only ranked
ports are chosen: when N exceeds what the ranking knows, `top_ports_selection` says so in
one line and the ranked ports are scanned, never padded with unranked ones.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Sequence

from probescan.catalog.ports import MAX_PORT, PortRanking, own_ranking, service_ports
from probescan.model import Transport
from probescan.targets.errors import bad, check_transport

__all__ = ["parse_ports", "top_ports", "top_ports_selection"]

_DIGITS = re.compile(r"[0-9]+")


def top_ports(n: int, transport: str = "tcp", ranking: PortRanking | None = None) -> list[int]:
    """The first `n` ports of `transport` in `ranking` (default: probescan's ``ports.tsv``),
    most often found open first; all of its ports when it ranks fewer than `n`."""
    table = (ranking or own_ranking()).ranked[check_transport(transport)]
    if n < 0:
        raise bad("top-ports count", str(n), "must be 0 or more")
    return list(table[:n])


def top_ports_selection(
    n: int, transports: Sequence[str], ranking: PortRanking | None = None
) -> tuple[list[tuple[str, int]], str | None]:
    """(transport, port) pairs of ``--top-ports n`` for each transport, and one line saying
    that the ranking knows fewer than `n` ports of some transport (None when it does not)."""
    ranking = ranking or own_ranking()
    pairs: list[tuple[str, int]] = []
    short: list[str] = []
    for transport in transports:
        ports = top_ports(n, transport, ranking)
        pairs += [(transport, p) for p in ports]
        if len(ports) < n:
            short.append(f"{len(ports)} {transport.upper()}")
    note = None
    if short:
        note = (f"--top-ports {n}: {ranking.source} ranks only {' and '.join(short)} ports; "
                "scanning those (give -p for others)")
    return pairs, note


_PREFIX = re.compile(r"([A-Za-z]):(.*)", re.DOTALL)
_RANGE = re.compile(r"([0-9]*)-([0-9]*)")
_SERVICE = re.compile(r"[A-Za-z][A-Za-z0-9_.+-]*")
_PREFIXES: dict[str, Transport] = {"T": "tcp", "U": "udp"}


def _port_number(item: str, text: str) -> int:
    value = int(text)
    if value > MAX_PORT:
        raise bad("port spec", item, f"port {value} out of range 0-{MAX_PORT}")
    return value


def _ports_of_item(item: str, body: str, transport: Transport) -> Iterable[int]:
    if _DIGITS.fullmatch(body):
        return (_port_number(item, body),)
    match = _RANGE.fullmatch(body)
    if match:
        low = _port_number(item, match[1]) if match[1] else 1
        high = _port_number(item, match[2]) if match[2] else MAX_PORT
        if high < low:
            raise bad("port spec", item, "range end below start")
        return range(low, high + 1)
    if _SERVICE.fullmatch(body):
        ports = service_ports(transport, body.lower())
        if ports:
            return ports
    raise bad("port spec", item, "not a port number, range or known service name")


def parse_ports(spec: str, default: str = "tcp") -> list[tuple[str, int]]:
    """(transport, port) pairs of an nmap ``-p`` spec, de-duplicated, in the order given.

    Items are comma-separated: ``N``, ``N-M``, ``-M`` (from 1), ``N-`` (to 65535), ``-``
    (1-65535), or a service name of ``probes/ports.tsv``. ``T:``/``U:`` switch the transport
    for this and the following items; before any prefix `default` applies."""
    transport = check_transport(default)
    if not spec.strip():
        raise bad("port spec", spec, "empty")
    out: list[tuple[str, int]] = []
    seen: dict[str, set[int]] = {}  # the ports given so far, by transport
    for raw in spec.split(","):
        item = raw.strip()
        body = item
        prefix = _PREFIX.fullmatch(item)
        if prefix:
            letter = prefix[1].upper()
            if letter not in _PREFIXES:
                raise bad("port spec", item, f"unknown protocol prefix '{prefix[1]}:' (T: or U:)")
            transport = _PREFIXES[letter]
            body = prefix[2].strip()
        if not body:
            raise bad("port spec", item or spec, "empty item")
        ports = _ports_of_item(item, body, transport)
        if not isinstance(ports, range):  # a service's ports may repeat
            ports = list(dict.fromkeys(ports))
        given = seen.setdefault(transport, set())
        if not given.isdisjoint(ports):  # a port given again keeps its first place
            ports = [p for p in dict.fromkeys(ports) if p not in given]
        given.update(ports)
        out += zip(itertools.repeat(transport), ports)
    return out

