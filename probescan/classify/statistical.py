"""The statistical layer: the profiles' forest names a flow the payload left unknown (pure).

The flow's features (classify/features.py: sizes, directions, timing) go down every tree of
the forest of its transport (classify/forest.py); each tree votes for a protocol or for
OTHER (protocols seen in too few captures to have a profile). The protocol with most votes
names the flow when

* the flow has at least `min_packets` payload packets (a lone datagram tells too little:
  such a flow is not classified at all),
* OTHER does not have more votes (the flow looks like the protocols the profiles do not
  know),
* at least `min_score` of the trees vote for it (the model's; 0.7 in the shipped profiles:
  the lowest share at which, leaving one of nDPI's captures out at a time, at most one
  named flow in ten was wrong: benchmarks/stat_loco.py), and
* the flow lies within the ranges of the features (but the positional ones) that the
  protocol's training flows showed, or not far beyond: the sum over the features of how far
  each lies beyond its range, as a share of the span it can take (features.RANGE_SCALES),
  is at most `max_outside` (1.0). A forest always votes for something; a flow unlike every
  flow of the protocol it votes for is left unknown, whatever the share.

Flows to the same server endpoint (address, port and transport: one service) pool their
evidence: a flow is decided on the mean of its own votes and those of the endpoint's earlier
flows (the layer's own, and a full vote for the name the payload or a probe gave an earlier
flow of the endpoint), so the tenth short request to a server is judged on all ten. The
port's number is never read, only whether two flows share the endpoint; the ranges check
reads the flow's own features. `Verdict.pooled` counts the other flows that were pooled.

Otherwise it stays unknown, and the record still shows the protocol with most votes, its
share and the runner-up as evidence. Port numbers are never read. The confidence (nmap's
0..10 scale) is 1 at `min_score` and STAT_CONFIDENCE (5) when every tree agrees, always
below what payload evidence gets. A payload label always wins: this layer runs only on
flows nothing else named (watch/watcher.py).

Before the forest, the layer's behaviour signatures (classify/signatures.py) are tried on a
flow whose payload was not captured at all: a protocol its specification pins to a group
address or to message sizes is named by the first signature it shows, with that
signature's confidence. A flow whose payload bytes were seen and named by no payload layer
is never named by a signature (its bytes already say it is not what the signature
expects); the forest alone is asked.
"""

from __future__ import annotations

from array import array
from collections import OrderedDict
from dataclasses import dataclass

from probescan.classify.features import (
    RANGE_SCALES,
    RANGED_FROM,
    RANGED_NAMES,
    Behaviour,
    features,
)
from probescan.classify.profiles import OTHER, Profile, ProfileSet
from probescan.classify.signatures import Signature, SignatureSet
from probescan.engine.verdict import LABEL

STAT_CONFIDENCE = LABEL["statistical"].confidence
CACHE = 4096  # flows whose votes are remembered (the same features give the same votes)
ENDPOINTS = 16384  # server endpoints whose summed votes are kept, the least recent forgotten
#   (an array of doubles each: about 11 MB at the most for 40 classes)
ServerKey = tuple[str, str, int]  # transport, server address, server port


@dataclass(frozen=True, slots=True)
class Verdict:
    """The protocol the most trees vote for, and whether it names the flow."""

    profile: Profile  # the protocol with most votes (OTHER aside)
    score: float  # the share of the trees that vote for it
    runner_up: str | None  # the protocol with the next most votes
    runner_up_score: float | None
    other_score: float  # the share that votes OTHER
    min_score: float  # the model's
    outside: tuple[str, ...]  # features beyond the profile's ranges (classify/features.py)
    beyond: float  # how far beyond, summed (each as a share of the feature's span)
    named: bool
    why: str  # why it names nothing ("" when it names)
    confidence: int  # 0 when it names nothing
    pooled: int = 0  # the endpoint's earlier flows whose votes were pooled with this one's


class StatisticalLayer:
    name = "statistics"

    def __init__(self, profiles: ProfileSet, signatures: SignatureSet | None = None) -> None:
        self.profiles = profiles
        self.signatures = signatures or SignatureSet()
        self.model = profiles.model
        self._by_class = {
            transport: [profiles.find(c, transport) for c in forest.classes]
            for transport, forest in profiles.forests.items()}
        self._index = {transport: {c: i for i, c in enumerate(forest.classes)}
                       for transport, forest in profiles.forests.items()}
        self._cache: OrderedDict[tuple[str, tuple[float, ...]], list[float]] = OrderedDict()
        self._endpoints: OrderedDict[ServerKey, tuple[array[float], int]] = OrderedDict()

    def signature(self, b: Behaviour, server_ip: str, client_ip: str,
                  payload_seen: bool) -> Signature | None:
        """The first behaviour signature the flow shows; never one for a flow whose payload
        bytes were captured (payload_seen)."""
        if payload_seen:
            return None
        return self.signatures.match(b, server_ip, client_ip)

    def classify(self, b: Behaviour, endpoint: ServerKey | None = None) -> Verdict | None:
        """The forest's verdict (None for a flow with too few payload packets to be named,
        or without a forest of its transport), pooled with the earlier flows of the same
        server `endpoint` when given (and remembered for its later flows)."""
        forest = self.profiles.forests.get(b.transport)
        if b.payload_packets < self.model.min_packets or forest is None:
            return None
        x = features(b)
        key = (b.transport, tuple(x))
        votes = self._cache.get(key)
        if votes is None:
            votes = forest.votes(x)
            self._cache[key] = votes
            if len(self._cache) > CACHE:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(key)
        pooled, before = votes, 0
        if endpoint is not None:
            pooled, before = self._pool(endpoint, votes)
        return self._decide(b.transport, forest.classes, pooled, x, before)

    def remember(self, endpoint: ServerKey, service: str) -> None:
        """An earlier flow of `endpoint` was named `service` by its payload or a probe: a full
        vote for it in the endpoint's pool (nothing when the forest has no such class)."""
        k = self._index.get(endpoint[0], {}).get(service)
        if k is None:
            return
        one = [0.0] * len(self._index[endpoint[0]])
        one[k] = 1.0
        self._pool(endpoint, one)

    def _pool(self, endpoint: ServerKey, votes: list[float]) -> tuple[list[float], int]:
        """The mean of `votes` and the endpoint's earlier ones (which now include them), and
        how many earlier flows there were."""
        got = self._endpoints.get(endpoint)
        if got is None:
            self._endpoints[endpoint] = (array("d", votes), 1)
            if len(self._endpoints) > ENDPOINTS:
                self._endpoints.popitem(last=False)
            return votes, 0
        total, n = got
        total = array("d", [a + b for a, b in zip(total, votes, strict=True)])
        self._endpoints[endpoint] = (total, n + 1)
        self._endpoints.move_to_end(endpoint)
        return [v / (n + 1) for v in total], n

    def _decide(self, transport: str, classes: tuple[str, ...], votes: list[float],
                x: list[float], pooled: int = 0) -> Verdict | None:
        profiles = self._by_class[transport]
        other = sum(v for c, v in zip(classes, votes, strict=True) if c == OTHER)
        ranked = sorted((i for i, c in enumerate(classes) if c != OTHER and profiles[i]),
                        key=lambda i: -votes[i])
        if not ranked:
            return None
        best = profiles[ranked[0]]
        assert best is not None
        score = votes[ranked[0]]
        runner_up = classes[ranked[1]] if len(ranked) > 1 and votes[ranked[1]] > 0 else None
        runner_score = votes[ranked[1]] if runner_up is not None else None
        min_score = self.model.min_score
        outside, beyond = self._outside(best, x)
        why = ""
        if other > score:
            why = (f"{other:.0%} of the trees say a protocol seen in too few captures to "
                   f"have a profile")
        elif score < min_score:
            why = f"{score:.0%} of the trees vote {best.service}, {min_score:.0%} must"
        elif beyond > self.model.max_outside:
            why = (f"unlike the {best.service} flows learnt ({beyond:.2f} beyond their ranges,"
                   f" {self.model.max_outside:.2f} allowed): {', '.join(outside[:4])}"
                   + (f" and {len(outside) - 4} more" if len(outside) > 4 else ""))
        confidence = 0
        if not why:
            room = (score - min_score) / (1 - min_score) if min_score < 1 else 1.0
            confidence = 1 + round((STAT_CONFIDENCE - 1) * max(0.0, min(1.0, room)))
        return Verdict(best, score, runner_up, runner_score, other, min_score, outside,
                       beyond, not why, why, confidence, pooled)

    def _outside(self, p: Profile, x: list[float]) -> tuple[tuple[str, ...], float]:
        """The features beyond the profile's ranges, and how far beyond, summed."""
        if not p.low:
            return (), 0.0
        x32 = array("f", x[RANGED_FROM:]).tolist()  # as the ranges were taken
        names: list[str] = []
        total = 0.0
        for name, v, lo, hi, span in zip(RANGED_NAMES, x32, p.low, p.high, RANGE_SCALES,
                                         strict=True):
            if v < lo or v > hi:
                names.append(name)
                total += (lo - v if v < lo else v - hi) / span
        return tuple(names), total
