"""The catalog a scan or a watch works with: probes, fingerprints, the port table and the ports
that get no version probes; `build_catalog` puts ours and nmap's together.

Problems in the data files are reported in one warning line each on stderr, never fatal; a
`--nmap-db` that cannot be read raises `CatalogError` (one line for the user).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

from probescan.catalog.fingerprints import FingerprintSet
from probescan.catalog.ports import port_names
from probescan.catalog.probes import ProbeSet, load_probes
from probescan.catalog.user import RuleFiles, with_user_rules

PortKey = tuple[str, int]  # (transport, port)

# Ports that get no version probes (only discovery and a port-table guess): printers' raw
# ports print whatever they are sent (JetDirect). nmap's `Exclude` directive adds to these.
PRINTER_PORTS: frozenset[PortKey] = frozenset(("tcp", p) for p in range(9100, 9108))


class CatalogError(Exception):
    """The catalog cannot be built (an unreadable nmap database): one line for the user."""


@dataclass(frozen=True, slots=True)
class Catalog:
    probes: ProbeSet
    fingerprints: FingerprintSet
    port_names: dict[PortKey, str] = field(default_factory=dict)
    no_probe_ports: frozenset[PortKey] = field(default_factory=lambda: PRINTER_PORTS)


def no_probe_ports(exclude_tcp: frozenset[int] = frozenset(),
                   exclude_udp: frozenset[int] = frozenset()) -> frozenset[PortKey]:
    """The printers' ports plus those an nmap database's `Exclude` directive names."""
    return PRINTER_PORTS | {("tcp", p) for p in exclude_tcp} | {("udp", p) for p in exclude_udp}


def build_catalog(nmap_db: Path | None, files: RuleFiles | None = None) -> Catalog:
    """Our probes and fingerprints with the user's `files` (catalog/user.py), plus nmap's from
    `nmap_db` (ours first); problems in the data files are reported in one warning line, never
    fatal; an nmap database that cannot be read or holds no probe and no rule raises
    CatalogError."""
    # Imported here: the nmap reader and the cache (catalog/cache.py) are only needed by the
    # commands (importing probescan.catalog stays cheap).
    from probescan.catalog.cache import load_fingerprints_cached, load_nmap_db_cached

    probes, fingerprints = with_user_rules(load_probes(), load_fingerprints_cached(),
                                           files or RuleFiles())
    problems = [*probes.problems, *fingerprints.problems]
    if problems:
        print(f"probescan: warning: {len(problems)} problem(s) in probe/fingerprint files, "
              f"skipped (see 'probescan fingerprints check'); first: {problems[0]}",
              file=sys.stderr)
    if nmap_db is None:
        return Catalog(probes, fingerprints, port_names())
    if not nmap_db.is_file():
        raise CatalogError(f"cannot read nmap database '{nmap_db}': no such file")
    try:
        nprobes, nrules, stats = load_nmap_db_cached(nmap_db, intensity=9)
    except OSError as e:
        raise CatalogError(f"cannot read nmap database '{nmap_db}': {e.strerror}") from e
    if not nprobes.probes and not nrules.rules:
        raise CatalogError(f"bad nmap database '{nmap_db}': no Probe or match line "
                           "(not an nmap-service-probes file)")
    if stats.skipped_rules:
        print(f"probescan: warning: {stats.skipped_rules} rule(s) of {nmap_db} cannot be "
              "used and were skipped", file=sys.stderr)
    return Catalog(ProbeSet(probes.probes + nprobes.probes, probes.problems),
                   fingerprints.merged(nrules), port_names(),
                   no_probe_ports(stats.exclude_tcp, stats.exclude_udp))
