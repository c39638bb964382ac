"""The statistical layer: the nearest profile names a flow the payload left unknown (pure).

A flow is compared with every prototype of every profile of its transport (weighted L1 over
the attribute meters: classify/features.py). The nearest protocol names it when

* the flow has at least `min_packets` payload packets (a lone datagram tells too little: such
  a flow is not compared at all),
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

from collections import OrderedDict
from dataclasses import dataclass
from operator import sub

from probescan.classify.features import (
    CORE_WEIGHT,
    ENTROPY_GROUP,
    Behaviour,
    Vector,
    vector,
)
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


CACHE = 4096  # flows whose comparison is remembered (the same meters give the same answer)


class StatisticalLayer:
    name = "statistics"

    def __init__(self, profiles: ProfileSet) -> None:
        self.profiles = profiles
        self.model = profiles.model
        # per transport: the prototypes' core vectors, their entropy vectors, and whose
        self._cores: dict[str, list[Vector]] = {"tcp": [], "udp": []}
        self._ents: dict[str, list[Vector | None]] = {"tcp": [], "udp": []}
        self._owners: dict[str, list[tuple[Profile, Prototype]]] = {"tcp": [], "udp": []}
        for p in profiles.profiles:
            for proto in p.prototypes:
                self._cores[p.transport].append(proto.vector[0])
                self._ents[p.transport].append(proto.vector[1])
                self._owners[p.transport].append((p, proto))
        self._cache: OrderedDict[tuple[str, Vector, Vector | None], Nearest] = OrderedDict()

    def nearest(self, b: Behaviour) -> Nearest | None:
        """The nearest profile (None for a flow with too few payload packets to be named,
        or without profiles of its transport)."""
        if b.payload_packets < self.model.min_packets or not self._cores.get(b.transport):
            return None
        core, ent = vector(b)
        key = (b.transport, core, ent)
        cached = self._cache.get(key)
        if cached is not None:
            self._cache.move_to_end(key)
            return cached
        found = self._compare(b.transport, core, ent)
        self._cache[key] = found
        if len(self._cache) > CACHE:
            self._cache.popitem(last=False)
        return found

    def _compare(self, transport: str, core: Vector, ent: Vector | None) -> Nearest:
        # the weighted L1 of features.distance, written out: this loop is the layer's cost
        dists = [sum(map(abs, map(sub, core, c))) / CORE_WEIGHT
                 for c in self._cores[transport]]
        if ent is not None:
            both = CORE_WEIGHT + ENTROPY_GROUP[2]
            for i, e in enumerate(self._ents[transport]):
                if e is not None:
                    dists[i] = (dists[i] * CORE_WEIGHT + sum(map(abs, map(sub, ent, e)))) / both
        owners = self._owners[transport]
        order = sorted(range(len(dists)), key=dists.__getitem__)
        profile, proto = owners[order[0]]
        d0 = dists[order[0]]
        runner_up: str | None = None
        d1: float | None = None
        for i in order[1:]:
            if owners[i][0].service != profile.service:
                runner_up, d1 = owners[i][0].service, dists[i]
                break
        model = self.model
        margin = 1.0 if d1 is None else (d1 - d0) / d1 if d1 > 0 else 0.0
        why = ""
        if d0 > model.threshold:
            why = f"distance {d0:.3f} beyond the threshold {model.threshold:.3f}"
        elif margin < model.margin:
            why = f"{runner_up} is nearly as near ({d1:.3f})"
        confidence = 0
        if not why:
            room = min(1 - d0 / model.threshold, (margin - model.margin) / (1 - model.margin))
            confidence = 1 + round((STAT_CONFIDENCE - 1) * max(0.0, room))
        return Nearest(profile, proto, d0, runner_up, d1, model.threshold, not why, why,
                       confidence)
