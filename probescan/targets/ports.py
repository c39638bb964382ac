"""Port selections: ``-p`` specs (`parse_ports`) and ``--top-ports`` (`top_ports`).

``-p``: ``22,80,8000-8100``, ``-`` (1-65535, what ``-p-`` passes), ``-1024`` (1-1024),
``60000-`` (60000-65535), ``T:22,80,U:53,161`` (a prefix holds until the next one), service
names from ``probes/ports.tsv`` (``http`` = every port of that transport named http). Port 0
is allowed only when written explicitly. The port table itself is `probescan.catalog.ports`.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable

from probescan.catalog.ports import MAX_PORT, ranked_ports, service_ports
from probescan.model import Transport
from probescan.targets.errors import bad, check_transport

__all__ = ["parse_ports", "top_ports"]

_DIGITS = re.compile(r"[0-9]+")


def top_ports(n: int, transport: str = "tcp") -> list[int]:
    """The `n` ports of `transport` most often found open, by probescan's ``ports.tsv`` rank.

    When `n` exceeds the ranked list, the remaining ports 1-65535 follow in ascending order
    (so ``top_ports(65535)`` is every port but 0; larger n is capped there)."""
    table = ranked_ports(check_transport(transport))
    if n < 0:
        raise bad("top-ports count", str(n), "must be 0 or more")
    if n <= len(table):
        return list(table[:n])
    ranked = set(table)
    rest = (port for port in range(1, MAX_PORT + 1) if port not in ranked)
    return list(table) + list(itertools.islice(rest, n - len(table)))


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
    seen: set[tuple[str, int]] = set()
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
        for port in _ports_of_item(item, body, transport):
            key = (transport, port)
            if key not in seen:
                seen.add(key)
                out.append(key)
    return out

