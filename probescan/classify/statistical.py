"""The statistical layer: the nearest profile names a flow the payload left unknown (pure).

A flow is compared with every prototype of every profile of its transport (weighted L1 over
the attribute meters: classify/features.py). The nearest protocol names it when

* the flow has at least `min_packets` payload packets (a lone datagram tells too little),
* its distance is at most the model's `threshold` (loose: distances of long flows are large
  even between flows of one protocol), and
* the nearest *other* protocol is farther by at least `margin` of its own distance (the
  relative margin: two protocols that look alike name nothing). Measured on nDPI's
  captures (benchmarks/stat_loco.py), the relative margin tells right from wrong far better
  than the distance itself.

Otherwise it stays unknown, and the record still shows the nearest protocol and distances
as evidence. Port numbers are never read. The confidence (nmap's 0..10 scale) is at most
STAT_CONFIDENCE: 1 at the edge (the threshold or the margin), 5 for a flow that is nearly a
known flow of its protocol and far from every other protocol. A payload label always wins:
this layer runs only on flows nothing else named (watch/watcher.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from probescan.classify.features import Behaviour, Vector, distance, vector
from probescan.classify.profiles import Profile, ProfileSet, Prototype
from probescan.engine.verdict import LABEL

STAT_CONFIDENCE = LABEL["statistical"].confidence


@dataclass(frozen=True, slots=True)
class Nearest:
    """The profile nearest to a flow, and whether it names the flow."""

    profile: Profile
    prototype: Prototype
    distance: float
    runner_up: str | None  # the nearest other protocol
    runner_up_distance: float | None
    threshold: float  # the model's
    named: bool
    why: str  # why it names nothing ("" when it names)
    confidence: int  # 0 when it names nothing


class StatisticalLayer:
    name = "statistics"

    def __init__(self, profiles: ProfileSet) -> None:
        self.profiles = profiles
        self.model = profiles.model
        self._index: dict[str, list[tuple[tuple[Vector, Vector | None], Profile, Prototype]]]
        self._index = {"tcp": [], "udp": []}
        for p in profiles.profiles:
            for proto in p.prototypes:
                self._index[p.transport].append((proto.vector, p, proto))

    def nearest(self, b: Behaviour) -> Nearest | None:
        """The nearest profile (None without payload packets or profiles to compare)."""
        if not b.sizes:
            return None
        candidates = self._index.get(b.transport, [])
        if not candidates:
            return None
        v = vector(b)
        best: dict[str, tuple[float, Profile, Prototype]] = {}
        for pv, profile, proto in candidates:
            d = distance(v, pv)
            seen = best.get(profile.service)
            if seen is None or d < seen[0]:
                best[profile.service] = (d, profile, proto)
        ranked = sorted(best.items(), key=lambda kv: kv[1][0])
        _, (d0, profile, proto) = ranked[0]
        runner_up, d1 = (ranked[1][0], ranked[1][1][0]) if len(ranked) > 1 else (None, None)
        model = self.model
        margin = 1.0 if d1 is None else (d1 - d0) / d1 if d1 > 0 else 0.0
        why = ""
        if b.payload_packets < model.min_packets:
            why = f"{b.payload_packets} payload packet(s), {model.min_packets} needed"
        elif d0 > model.threshold:
            why = f"distance {d0:.3f} beyond the threshold {model.threshold:.3f}"
        elif margin < model.margin:
            why = f"{runner_up} is nearly as near ({d1:.3f})"
        confidence = 0
        if not why:
            room = min(1 - d0 / model.threshold, (margin - model.margin) / (1 - model.margin))
            confidence = 1 + round((STAT_CONFIDENCE - 1) * max(0.0, room))
        return Nearest(profile, proto, d0, runner_up, d1, model.threshold, not why, why,
                       confidence)
