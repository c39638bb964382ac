"""Endpoints: every (host, port) pair to scan."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import cast

from probescan.model import Endpoint, Transport
from probescan.targets.errors import check_transport
from probescan.targets.hosts import Host

__all__ = ["endpoints"]


def endpoints(hosts: Iterable[Host], ports: Iterable[tuple[str, int]]) -> Iterator[Endpoint]:
    """Every (host, port) endpoint, host-major (all ports of a host, then the next host);
    lazy in `hosts`. Transports are checked before this returns."""
    pairs = list(ports)
    for t in {t for t, _ in pairs}:  # each transport once (a sweep has 65,535 pairs)
        check_transport(t)
    return _endpoints(hosts, cast("list[tuple[Transport, int]]", pairs))


def _endpoints(hosts: Iterable[Host], ports: Sequence[tuple[Transport, int]]) -> Iterator[Endpoint]:
    for host in hosts:
        for transport, port in ports:
            yield Endpoint(host.ip, port, transport, host.hostname)

