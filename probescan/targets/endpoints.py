"""Endpoints: every (host, port) pair to scan."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

from probescan.model import Endpoint, Transport
from probescan.targets.errors import check_transport
from probescan.targets.hosts import Host

__all__ = ["endpoints"]


def endpoints(hosts: Iterable[Host], ports: Iterable[tuple[str, int]]) -> Iterator[Endpoint]:
    """Every (host, port) endpoint, host-major (all ports of a host, then the next host);
    lazy in `hosts`. Transports are checked before this returns."""
    checked = [(check_transport(t), port) for t, port in ports]
    return _endpoints(hosts, checked)


def _endpoints(hosts: Iterable[Host], ports: Sequence[tuple[Transport, int]]) -> Iterator[Endpoint]:
    for host in hosts:
        for transport, port in ports:
            yield Endpoint(host.ip, port, transport, host.hostname)

