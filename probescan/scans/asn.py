"""Autonomous systems from a MaxMind-format database the user supplies (`--asn-db FILE`,
e.g. GeoLite2-ASN.mmdb or any database whose records carry `autonomous_system_number` and
`autonomous_system_organization`), read with the maxminddb package.

Looked up once per new source address (and cached).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from probescan.scans.headers import address


class AsnError(Exception):
    """The database cannot be used: one line for the user."""


class AsnDb:
    def __init__(self, path: Path) -> None:
        try:
            import maxminddb
            from maxminddb.errors import InvalidDatabaseError
        except ImportError as e:
            raise AsnError("--asn-db needs the maxminddb package "
                           "(pip install 'probescan[watch]')") from e
        try:
            self._reader: Any = maxminddb.open_database(str(path))
        except FileNotFoundError:
            raise AsnError(f"cannot read ASN database '{path}': no such file") from None
        except (InvalidDatabaseError, OSError, ValueError) as e:
            raise AsnError(f"cannot read ASN database '{path}': {e}") from None
        self.path = path
        self.lookup = lru_cache(maxsize=65536)(self._lookup)

    def _lookup(self, ip: int) -> tuple[int, str | None] | None:
        """(AS number, organisation) of an address integer (probescan.scans.headers)."""
        try:
            record = self._reader.get(address(ip))
        except (ValueError, TypeError):
            return None
        if not isinstance(record, dict):
            return None
        number = record.get("autonomous_system_number")
        if not isinstance(number, int) or isinstance(number, bool):
            return None
        name = record.get("autonomous_system_organization")
        return number, name if isinstance(name, str) else None

    def of(self, ip: int) -> tuple[int, str | None] | None:
        """The AS of an address integer (probescan.scans.headers), or None."""
        return self.lookup(ip)

    def close(self) -> None:
        self._reader.close()
