"""What the detector keeps per source address and per unit (a /24, a /48 or an AS): the
counts a record reports, and the failed attempts the thresholds are taken over.

A unit is flagged as scanning when, within `window` (or `slow_window`) seconds, its sources'
failed or payload-less attempts reached `ports` distinct ports of one host or `hosts`
distinct hosts on one port. Only failures count: a client whose connections carry data
never adds to them. Memory stays bounded: a source counts at most `max_targets` targets
exactly (then estimates them with a bitmap), and failure times older than the windows are
pruned whenever a count is taken.
"""

from __future__ import annotations

import math

from probescan.scans.config import ScanConfig

UDP_PORT = 0x10000  # a port key: the port, plus this for UDP
# the techniques (in the detector's order of probe kinds) and the states a record counts
TECHNIQUES = ("syn", "connect", "fin", "null", "xmas", "ack", "maimon", "other", "udp")
STATES = ("open", "closed", "filtered", "unfiltered", "open|filtered")
BITMAP_BITS = 1 << 20  # the target estimator of a source beyond max_targets


class Source:
    """One sending address: its probes and what became of them."""

    __slots__ = ("bitmap", "dirty", "failures", "first", "ip", "last", "outcomes", "packets",
                 "ports", "probes", "same_seq", "sports", "targets", "tells", "ttl_max",
                 "ttl_min", "unit")

    def __init__(self, ip: int, unit: Unit, ts: float) -> None:
        self.ip = ip
        self.unit = unit
        self.first = self.last = ts
        self.reset(ts)
        self.dirty = unit.any_dirty = True

    def reset(self, ts: float) -> None:
        """Forget the counts (a record was written of them); keep the address and unit."""
        self.dirty = False  # counted nothing since: see touch()
        self.first = self.last = ts
        self.packets = 0  # packets the source sent in its attempts
        self.probes = 0  # attempts started
        self.failures = 0  # attempts that failed or carried no payload
        self.same_seq = 0
        self.ttl_min, self.ttl_max = 255, 0
        self.tells: dict[int, int] = {}
        self.sports: dict[int, int] = {}  # source port -> its last sequence number (64 at most)
        self.ports: dict[int, int] = {}  # port key -> probes
        # attempts per (technique, state): TECHNIQUES[i // 5], STATES[i % 5]
        self.outcomes = [0] * (len(TECHNIQUES) * len(STATES))
        self.targets: set[int] = set()
        self.bitmap: bytearray | None = None  # the estimator, beyond max_targets

    def touch(self) -> None:
        """About to be counted again. A source not counted since its unit's last record is
        not reset at each of the unit's later writes (a quiet scan is written at every sweep
        for a day): it counts from the last of them."""
        self.first = self.last = self.unit.written_at
        self.dirty = self.unit.any_dirty = True

    def estimate(self) -> None:
        """Too many targets to hold: count them in a bitmap from now on (the detector adds
        each target to `targets` while `bitmap` is None, to the bitmap by `mark` after)."""
        self.bitmap = bytearray(BITMAP_BITS // 8)
        for t in self.targets:
            self.mark(t)
        self.targets = set(sorted(self.targets)[:64])  # samples only from now on

    def mark(self, target: int) -> None:
        h = hash(target * 0x9E3779B97F4A7C15) & (BITMAP_BITS - 1)
        self.bitmap[h >> 3] |= 1 << (h & 7)  # type: ignore[index]

    @property
    def estimated(self) -> bool:
        return self.bitmap is not None


def estimate(bitmap: bytearray) -> int:
    """Linear counting: distinct values marked in `bitmap`."""
    zero = BITMAP_BITS - sum(bin(b).count("1") for b in bitmap)
    if zero == 0:
        return BITMAP_BITS * 16  # saturated: at least this many
    return round(-BITMAP_BITS * math.log(zero / BITMAP_BITS))


class Unit:
    """The sources counted together: one address's /24 (/48), or one AS."""

    __slots__ = ("any_dirty", "as_name", "asn", "by_port", "by_target", "detected_by",
                 "flagged_at", "key", "known", "last", "members", "newest_floor", "started",
                 "written_at")

    def __init__(self, key: int, asn: int | None, as_name: str | None, ts: float) -> None:
        self.key = key
        self.asn = asn
        self.as_name = as_name
        self.members: dict[int, Source] = {}
        self.by_port: dict[int, dict[int, float]] = {}  # port key -> target -> failed at
        self.by_target: dict[int, dict[int, float]] = {}  # target -> port key -> failed at
        self.detected_by: str | None = None  # "window", "slow-window" or "known"
        self.flagged_at: float | None = None
        self.known = False  # a record of this unit was written: its next probes count at once
        self.started = ts  # the current episode's first probe
        self.last = ts
        self.written_at = ts  # the last record's time (written or not: nothing to say)
        self.any_dirty = True  # some member was counted since (Source.touch)
        # at most the newest failure time of every port and target kept in by_port and
        # by_target: while it is within forget_after, prune has nothing to drop
        self.newest_floor = math.inf

    def fail(self, ts: float, target: int, port: int, config: ScanConfig) -> bool:
        """Count one failed attempt; True when it makes the unit a scanner."""
        if self.detected_by is not None:
            return False
        if ts < self.newest_floor:
            self.newest_floor = ts
        ports = self.by_target.get(target)
        if ports is None:
            ports = self.by_target[target] = {}
        ports[port] = ts
        hosts = self.by_port.get(port)
        if hosts is None:
            hosts = self.by_port[port] = {}
        hosts[target] = ts
        how = None
        if len(ports) >= config.ports:
            how = _reached(ports, ts, config.ports, config)
        if how is None and len(hosts) >= config.hosts:
            how = _reached(hosts, ts, config.hosts, config)
        if how is None:
            return False
        self.flag(how, ts)
        return True

    def flag(self, how: str, ts: float) -> None:
        self.detected_by = how
        self.flagged_at = ts
        self.by_port.clear()
        self.by_target.clear()

    def prune(self, now: float, forget_after: float) -> None:
        """Drop failure times too old for any window (a quiet unit's sweep: cheap while
        nothing is old enough to drop, as a quiet unit is swept again and again)."""
        oldest = now - forget_after
        if self.newest_floor >= oldest:
            return
        floor = math.inf
        for table in (self.by_port, self.by_target):
            old = []
            for k, times in table.items():
                newest = max(times.values())
                if newest < oldest:
                    old.append(k)
                elif newest < floor:
                    floor = newest
            for k in old:
                del table[k]
        self.newest_floor = floor


def _reached(times: dict[int, float], now: float, threshold: int, config: ScanConfig
             ) -> str | None:
    """"window" / "slow-window" when `threshold` failures fall within one; prunes the rest."""
    fast = now - config.window
    if sum(1 for t in times.values() if t >= fast) >= threshold:
        return "window"
    if config.slow_window:
        slow = now - config.slow_window
        old = [k for k, t in times.items() if t < slow]
        for k in old:
            del times[k]
        if len(times) >= threshold:
            return "slow-window"
    else:
        for k in [k for k, t in times.items() if t < fast]:
            del times[k]
    return None
