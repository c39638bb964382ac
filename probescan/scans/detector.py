"""The scan detector: header fields in (probescan.scans.headers), scan records out.

Per packet it follows each attempt (probescan.scans.attempts: a probe and what came back,
counted for its source). Here: the unit a new source joins (its AS with --asn-db, else its
/24 or /48), and the records. A flagged unit's record is handed to `on_scan` once its sources
have been quiet for `idle` seconds, every `report_every` seconds while it goes on, and at
`finish()`; unflagged sources are forgotten once quiet. Time is the capture's (packet
timestamps).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable
from functools import lru_cache

from probescan.scans.asn import AsnDb
from probescan.scans.attempts import AttemptTracker
from probescan.scans.config import ScanConfig
from probescan.scans.headers import V6, prefix
from probescan.scans.record import ScanRecord, build_record
from probescan.scans.units import Source, Unit


class ScanDetector(AttemptTracker):
    """Attempts in (AttemptTracker), scan records out (`on_scan`)."""

    def __init__(self, config: ScanConfig, on_scan: Callable[[ScanRecord], None],
                 asn: AsnDb | None = None) -> None:
        super().__init__(config, asn)
        self.on_scan = on_scan
        self.records = 0
        self.finished: set[int] = set()  # after finish(): the sources of flagged scans

    def _source(self, ip: int, ts: float) -> Source:
        c = self.config
        asn = self.asn.of(ip) if self.asn is not None else None
        key = (asn[0] << 130) if asn is not None else prefix(ip, c.group_prefix_v4,
                                                              c.group_prefix_v6)
        unit = self.units.get(key)
        if unit is None:
            number, name = asn if asn is not None else (None, None)
            unit = self.units[key] = Unit(key, number, name, ts)
        if len(self.sources) >= c.max_sources:
            self._drop_quiet_sources()
        s = self.sources[ip] = Source(ip, unit, ts)
        unit.members[ip] = s
        return s

    # ---- units and their records -------------------------------------------------------
    def _units(self, now: float) -> None:
        c = self.config
        forget_after = c.forget_after
        gone = []
        for key, unit in self.units.items():
            quiet = now - unit.last
            if unit.detected_by is not None:
                if quiet >= c.idle or now - unit.started >= c.report_every:
                    self._write(unit, now)
                if quiet >= forget_after:
                    gone.append(key)
            elif quiet >= c.idle:
                for ip in unit.members:
                    self.sources.pop(ip, None)
                unit.members.clear()
                unit.prune(now, forget_after)
                if not unit.by_port:
                    gone.append(key)
        for key in gone:
            unit = self.units.pop(key)
            for ip in unit.members:
                self.sources.pop(ip, None)

    def _drop_quiet_sources(self) -> None:
        """max_sources reached: forget the quietest tenth of the unflagged sources."""
        calm = sorted((s for s in self.sources.values() if s.unit.detected_by is None),
                      key=lambda s: s.last)
        for s in calm[:max(1, len(self.sources) // 10)]:
            del self.sources[s.ip]
            s.unit.members.pop(s.ip, None)

    def _write(self, unit: Unit, now: float) -> None:
        """A record of the unit's members counted since the last one (if any failed), then
        their counts start again from `now`; when none was counted since (a quiet scan is
        written at every sweep), nothing is looked at (Source.touch)."""
        if unit.any_dirty:
            members = [s for s in unit.members.values() if s.probes]
            if members and any(s.failures for s in members):
                self.records += 1
                self.on_scan(build_record(self.records, unit, members, self.config))
            for s in unit.members.values():
                if s.dirty:
                    s.reset(now)
            unit.any_dirty = False
        unit.written_at = unit.started = now
        unit.known = True

    def finish(self) -> None:
        """End of the capture: decide every attempt, write every flagged unit."""
        now = max((u.last for u in self.units.values()), default=0.0)
        for att in self.attempts.values():
            self._expire(att, now)
        self.attempts.clear()
        for unit in self.units.values():
            if unit.detected_by is not None:
                self.finished.update(unit.members)
                self._write(unit, now)
        self.units.clear()
        self.sources.clear()

    # ---- for the watcher ----------------------------------------------------------------
    def scanning(self, ip: str) -> bool | None:
        """Is this address part of a flagged scan (True), maybe soon (None: its attempts
        failed but no threshold was reached yet), or not as far as is known (False)?"""
        ip_value = _parse(ip)
        s = self.sources.get(ip_value)
        if s is None:
            return ip_value in self.finished
        if s.unit.detected_by is not None:
            return True
        return None if s.failures else False

    def flagged(self) -> Iterable[Unit]:
        return (u for u in self.units.values() if u.detected_by is not None)


@lru_cache(maxsize=65536)
def _parse(ip: str) -> int:
    try:
        a = ipaddress.ip_address(ip)
    except ValueError:
        return -1
    return int(a) | V6 if a.version == 6 else int(a)
