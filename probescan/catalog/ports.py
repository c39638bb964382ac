"""The port table ``probes/ports.tsv``: service names of well-known ports and their rank.

One row per (transport, port), four TAB-separated columns: rank (1 = most often found open),
port, transport (``tcp``/``udp``), service name. ``#`` lines and blank lines are ignored.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

from probescan.catalog.paths import data_dir
from probescan.model import Transport

__all__ = ["MAX_PORT", "PORTS_FILE", "port_names", "ranked_ports", "service_ports"]

PORTS_FILE = "ports.tsv"
MAX_PORT = 65535


@dataclass(frozen=True, slots=True)
class _PortTable:
    ranked: dict[str, tuple[int, ...]]  # transport -> ports, most often open first
    names: dict[tuple[str, int], str]


def _load_port_table(path: Path) -> _PortTable:
    rows: dict[str, list[tuple[int, int]]] = {"tcp": [], "udp": []}
    names: dict[tuple[str, int], str] = {}
    ranks: set[tuple[str, int]] = set()
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        fields = line.split("\t")
        where = f"{path}:{lineno}"
        if len(fields) != 4:
            raise ValueError(f"{where}: expected 4 TAB-separated columns, got {len(fields)}")
        rank_text, port_text, transport, service = (f.strip() for f in fields)
        if not (rank_text.isdigit() and port_text.isdigit()) or int(port_text) > MAX_PORT:
            raise ValueError(f"{where}: bad rank or port")
        if transport not in rows or not service:
            raise ValueError(f"{where}: bad transport or empty service")
        rank, port = int(rank_text), int(port_text)
        if (transport, port) in names or (transport, rank) in ranks:
            raise ValueError(f"{where}: duplicate port or rank for {transport}")
        names[(transport, port)] = service
        ranks.add((transport, rank))
        rows[transport].append((rank, port))
    ranked = {t: tuple(port for _, port in sorted(r)) for t, r in rows.items()}
    return _PortTable(ranked, names)


@functools.cache
def _port_table() -> _PortTable:
    return _load_port_table(data_dir("probes") / PORTS_FILE)


def port_names() -> dict[tuple[str, int], str]:
    """(transport, port) -> service name from ``probes/ports.tsv`` (a fresh dict)."""
    return dict(_port_table().names)


def ranked_ports(transport: Transport) -> tuple[int, ...]:
    """The ports of `transport` in the table, most often found open first."""
    return _port_table().ranked[transport]


def service_ports(transport: Transport, service: str) -> list[int]:
    """The ports of `transport` the table names `service` (exact, lower-case), by rank."""
    table = _port_table()
    return [p for p in table.ranked[transport] if table.names[(transport, p)] == service]
