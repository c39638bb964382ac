"""Port tables: probescan's ``probes/ports.tsv`` and, for ``--top-ports``, nmap's ``nmap-services``.

``probes/ports.tsv``: one row per (transport, port), four TAB-separated columns: rank (1 = most
often found open), port, transport (``tcp``/``udp``), service name. ``#`` lines and blank lines
are ignored. It names the services of well-known ports (the "table" guess) and is probescan's
own ranking.

``nmap-services`` (the user's nmap install, read where it lies, never copied): lines
``name<TAB>port/proto<TAB>open-frequency[<TAB># comment]``. Its measured open-frequencies rank
ports better than our estimate, so `port_ranking` prefers it when it is there; only ports
with a frequency above zero are ranked (a zero says nothing about how common a port is).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from probescan.catalog.paths import data_dir
from probescan.model import Transport

__all__ = [
    "MAX_PORT",
    "NMAP_SERVICES",
    "PORTS_FILE",
    "PortRanking",
    "find_nmap_services",
    "own_ranking",
    "port_names",
    "port_ranking",
    "ranked_ports",
    "read_nmap_services",
    "service_ports",
]

PORTS_FILE = "ports.tsv"
NMAP_SERVICES = "nmap-services"
MAX_PORT = 65535
_NMAP_DIRS = (Path("/usr/share/nmap"), Path("/usr/local/share/nmap"))


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


# --------------------------------------------------------------------------- rankings


@dataclass(frozen=True, slots=True)
class PortRanking:
    """Ports of each transport, most often found open first, and where that order comes from."""

    source: str  # "probescan's probes/ports.tsv" or "nmap-services (PATH)"
    ranked: Mapping[str, tuple[int, ...]]
    note: str | None = None  # why a present nmap-services file was not used


def own_ranking(note: str | None = None) -> PortRanking:
    """probescan's ranking, ``probes/ports.tsv``."""
    return PortRanking(f"probescan's probes/{PORTS_FILE}", _port_table().ranked, note)


def read_nmap_services(path: Path) -> PortRanking:
    """nmap's open-frequencies as a ranking: frequency descending, then port number.

    Raises OSError when the file cannot be read, ValueError when no line ranks a port."""
    freq: dict[str, dict[int, float]] = {"tcp": {}, "udp": {}}
    with path.open(encoding="utf-8", errors="replace") as f:
        for line in f:
            fields = line.split("#", 1)[0].split()
            if len(fields) < 3:
                continue
            port_text, _, proto = fields[1].partition("/")
            if proto not in freq or not port_text.isdigit() or int(port_text) > MAX_PORT:
                continue
            try:
                value = float(fields[2])
            except ValueError:
                continue
            if value > 0:
                port = int(port_text)
                freq[proto][port] = max(value, freq[proto].get(port, 0.0))
    if not any(freq.values()):
        raise ValueError("no port with an open-frequency above zero")
    ranked = {t: tuple(port for _, port in sorted((-v, port) for port, v in f.items()))
              for t, f in freq.items()}
    return PortRanking(f"{NMAP_SERVICES} ({path})", ranked)


def find_nmap_services(nmap_db: Path | None = None) -> Path | None:
    """The user's ``nmap-services``: beside `nmap_db` (an ``nmap-service-probes`` given with
    ``--nmap-db``) when given, else in ``$NMAPDIR`` or the usual install directories."""
    if nmap_db is not None:
        candidates = [nmap_db.parent / NMAP_SERVICES]
    else:
        nmapdir = os.environ.get("NMAPDIR")
        candidates = [Path(nmapdir) / NMAP_SERVICES] if nmapdir else []
        candidates += [d / NMAP_SERVICES for d in _NMAP_DIRS]
    return next((c for c in candidates if c.is_file()), None)


def port_ranking(nmap_services: Path | None) -> PortRanking:
    """nmap's ranking when `nmap_services` is given and readable, else probescan's own (its
    ``note`` then says why a given file was not used)."""
    if nmap_services is None:
        return own_ranking()
    try:
        return read_nmap_services(nmap_services)
    except (OSError, ValueError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        return own_ranking(f"cannot use {nmap_services}: {why}; ranking ports by "
                           f"probescan's probes/{PORTS_FILE}")
