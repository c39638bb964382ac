"""Scan records: what a flagged unit's sources did, as one record (docs/output.md).

`build_record` sums the counts of a unit's member sources; `ScanRecord.to_dict()` is the
JSON shape stated in probescan/schema.py (`SCAN`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from probescan.scans.config import ScanConfig
from probescan.scans.headers import address, network
from probescan.scans.tells import Tells, decide
from probescan.scans.units import (
    BITMAP_BITS,
    STATES,
    TECHNIQUES,
    UDP_PORT,
    Source,
    Unit,
    estimate,
)


def port_name(key: int) -> str:
    """A port key as `22/tcp` or `53/udp`."""
    return f"{key & 0xFFFF}/{'udp' if key & UDP_PORT else 'tcp'}"


@dataclass(frozen=True, slots=True)
class ScanRecord:
    id: int
    ip: str | None  # the source address; None for a grouped scan
    group: str  # the /24 (/48) of the sources
    asn: int | None
    as_name: str | None
    grouping: str  # source, prefix, asn
    members: list[str]
    type: str  # syn, connect, fin, xmas, null, ack, maimon, udp, other, mixed
    types: dict[str, int]
    shape: str  # vertical, horizontal, block
    tool: str  # nmap, masscan, zmap, unknown
    certainty: str
    evidence: list[tuple[str, int, int]]
    targets: int
    targets_estimated: bool
    target_sample: list[str]
    ports: int
    port_sample: list[str]
    top_ports: list[tuple[int, str, int]]  # (port, transport, probes)
    first_seen: float
    last_seen: float
    packets: int
    attempts: int
    replies: dict[str, int]
    detected_by: str
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        """Probe packets per second (over one second at least)."""
        return round(self.packets / max(1.0, self.last_seen - self.first_seen), 3)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "scan",
            "id": self.id,
            "source": {"ip": self.ip, "group": self.group, "asn": self.asn,
                       "as_name": self.as_name},
            "grouping": self.grouping,
            "members": self.members,
            "type": self.type,
            "types": self.types,
            "shape": self.shape,
            "tool": self.tool,
            "tool_evidence": {"certainty": self.certainty, "tells": [
                {"tell": t, "packets": n, "of": of} for t, n, of in self.evidence]},
            "targets": {"count": self.targets, "estimated": self.targets_estimated,
                        "sample": self.target_sample},
            "ports": {"count": self.ports, "sample": self.port_sample,
                      "top": [{"port": p, "transport": t, "probes": n}
                              for p, t, n in self.top_ports]},
            "first_seen": self.first_seen,
            "last_seen": self.last_seen,
            "packets": self.packets,
            "attempts": self.attempts,
            "rate": self.rate,
            "replies": self.replies,
            "detected_by": self.detected_by,
        }


def scan_type(types: Counter[str]) -> str:
    """The technique that makes 90 % of the counted attempts, else `mixed`."""
    total = sum(types.values())
    if not total:
        return "mixed"
    name, n = types.most_common(1)[0]
    return name if n * 10 >= total * 9 else "mixed"


def scan_shape(targets: int, ports: int, config: ScanConfig) -> str:
    if targets <= config.vertical_max_hosts:
        return "vertical"
    if ports <= config.horizontal_max_ports:
        return "horizontal"
    return "block"


def _targets(members: Sequence[Source]) -> tuple[int, bool, list[int]]:
    """(distinct targets, estimated?, a sample) over the members."""
    sample = sorted({t for s in members for t in s.targets})
    if not any(s.estimated for s in members):
        return len(sample), False, sample
    merged = 0
    for s in members:
        if s.bitmap is not None:
            merged |= int.from_bytes(s.bitmap, "little")
    count = estimate(bytearray(merged.to_bytes(BITMAP_BITS // 8, "little")))
    exact = sum(len(s.targets) for s in members if not s.estimated)
    return max(count, exact), True, sample


def build_record(number: int, unit: Unit, sources: Sequence[Source], config: ScanConfig
                 ) -> ScanRecord:
    members = [s for s in sources if s.failures >= config.member_min] or [
        max(sources, key=lambda s: (s.failures, s.probes))]
    members.sort(key=lambda s: s.ip)
    types: Counter[str] = Counter()
    states: Counter[str] = Counter()
    ports: Counter[int] = Counter()
    masks: Counter[int] = Counter()
    for s in members:
        for i, n in enumerate(s.outcomes):
            if n:
                types[TECHNIQUES[i // 5]] += n
                states[STATES[i % 5]] += n
        ports.update(s.ports)
        masks.update(s.tells)
    n_targets, estimated, sample = _targets(members)
    verdict = decide(Tells(
        masks, len(members), sum(len(s.sports) for s in members),
        sum(s.same_seq for s in members),
        max(s.ttl_max - s.ttl_min for s in members), max(s.ttl_max for s in members)))
    groups = {network(s.ip, config.group_prefix_v4, config.group_prefix_v6) for s in members}
    group = network(members[0].ip, config.group_prefix_v4, config.group_prefix_v6)
    if len(members) == 1:
        grouping = "source"
    else:
        grouping = "asn" if unit.asn is not None and len(groups) > 1 else "prefix"
    top = sorted(ports.items(), key=lambda kv: (-kv[1], kv[0]))
    return ScanRecord(
        id=number,
        ip=address(members[0].ip) if len(members) == 1 else None,
        group=group,
        asn=unit.asn,
        as_name=unit.as_name,
        grouping=grouping,
        members=[address(s.ip) for s in members],
        type=scan_type(types),
        types=dict(types.most_common()),
        shape=scan_shape(n_targets, len(ports), config),
        tool=verdict.tool,
        certainty=verdict.certainty,
        evidence=verdict.evidence,
        targets=n_targets,
        targets_estimated=estimated,
        target_sample=[address(t) for t in sample[:config.samples]],
        ports=len(ports),
        port_sample=[port_name(k) for k in sorted(ports)[:config.samples]],
        top_ports=[(k & 0xFFFF, "udp" if k & UDP_PORT else "tcp", n)
                   for k, n in top[:config.top_ports]],
        first_seen=min(s.first for s in members),
        last_seen=max(s.last for s in members),
        packets=sum(s.packets for s in members),
        attempts=sum(s.probes for s in members),
        replies={name: states.get(name, 0) for name in STATES},
        detected_by=unit.detected_by or "window",
    )
