"""Protocol profiles: what flows of each protocol look like, as data (pure but for `load`).

A profile is one protocol over one transport: how many flows and captures taught it, the
size histograms of its clients and servers (shown beside a flow's own in the HTML report),
and a few *prototypes*: each the average meters (classify/features.py) of a group of its
flows that look alike, with the sizes of the flow that founded the group as a readable
example (`[517, -1448, -1448, -1059, 126, -51]` is a TLS handshake). A protocol that is
carried in several ways (TLS resumed or not, DNS with or without an answer) has several.

`train` learns profiles from labelled flows (`Sample`: what probescan's payload layers
named, the capture it came from, its behaviour); `dumps` writes them as TOML with the
model's settings (`[model]`: the distance beyond which a flow stays unknown, the margin the
nearest protocol must keep over the next, as a share of the next one's distance, the payload
packets a flow needs); `load` reads a
file back, refusing one written for other features (one line naming the file and why).
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from probescan.classify.features import (
    ENTROPY_GROUP,
    FEATURES_VERSION,
    GROUPS,
    SIZE_BINS,
    Behaviour,
    Vector,
    distance,
    flatten,
    meters,
    size_histograms,
)

Meters = dict[str, list[float]]


class ProfileError(Exception):
    """A profile file that cannot be used; `str()` is one line naming the file."""


@dataclass(frozen=True, slots=True)
class Model:
    threshold: float = 2.0  # distance beyond which a flow stays unknown (the margin decides)
    # the nearest protocol must be nearer than the next by this share of the next's distance
    margin: float = 0.4
    min_packets: int = 2  # payload packets a flow needs (one packet tells too little)


@dataclass(frozen=True, slots=True)
class Prototype:
    flows: int
    captures: int
    example: tuple[int, ...]
    meters: Meters = field(compare=False)
    vector: tuple[Vector, Vector | None] = field(compare=False)


@dataclass(frozen=True, slots=True)
class Profile:
    service: str
    transport: str
    flows: int
    captures: int
    c2s: tuple[int, ...]  # share of the clients' payload packets per SIZE_BINS, per mille
    s2c: tuple[int, ...]
    prototypes: tuple[Prototype, ...]


@dataclass(frozen=True, slots=True)
class ProfileSet:
    model: Model = Model()
    profiles: tuple[Profile, ...] = ()
    about: tuple[str, ...] = ()  # how they were made (comment lines of the file)

    def find(self, service: str, transport: str) -> Profile | None:
        return next((p for p in self.profiles
                     if p.service == service and p.transport == transport), None)


@dataclass(frozen=True, slots=True)
class Sample:
    service: str  # what the payload named (the tunnel for a protocol inside TLS)
    capture: str  # where it came from (profiles count captures, and cap flows per capture)
    behaviour: Behaviour


# ---- training ------------------------------------------------------------------------
RADIUS = 0.02  # a flow this near a prototype of its protocol joins it (near-duplicates)
MAX_PROTOTYPES = 256  # per profile: the largest groups are kept
PER_CAPTURE = 10  # flows of one protocol taken from one capture (as ndpi_agreement counts)


@dataclass
class _Group:
    flows: int
    captures: set[str]
    example: tuple[int, ...]
    sums: Meters
    vector: tuple[Vector, Vector | None]


def train(samples: Iterable[Sample], model: Model = Model(), *, min_captures: int = 1,
          per_capture: int = PER_CAPTURE, radius: float = RADIUS,
          max_prototypes: int = MAX_PROTOTYPES, about: Sequence[str] = ()) -> ProfileSet:
    """Profiles of every (service, transport) seen in at least `min_captures` captures, from
    at most `per_capture` flows of each capture (in order); flows with fewer than
    `model.min_packets` payload packets teach nothing (they could not be classified)."""
    by_key: dict[tuple[str, str], list[Sample]] = {}
    taken: dict[tuple[str, str, str], int] = {}
    for s in samples:
        b = s.behaviour
        if b.payload_packets < model.min_packets:
            continue
        k = (s.service, b.transport, s.capture)
        if taken.get(k, 0) >= per_capture:
            continue
        taken[k] = taken.get(k, 0) + 1
        by_key.setdefault((s.service, b.transport), []).append(s)
    profiles = []
    for (service, transport), group in sorted(by_key.items()):
        captures = {s.capture for s in group}
        if len(captures) < min_captures:
            continue
        profiles.append(_profile(service, transport, group, len(captures), radius,
                                 max_prototypes))
    return ProfileSet(model, tuple(profiles), tuple(about))


def _profile(service: str, transport: str, group: list[Sample], captures: int,
             radius: float, max_prototypes: int) -> Profile:
    found: list[_Group] = []
    c_hist, s_hist = [0] * len(SIZE_BINS), [0] * len(SIZE_BINS)
    for s in group:
        m = meters(s.behaviour)
        c, sv = size_histograms(s.behaviour.sizes)
        c_hist = [a + b for a, b in zip(c_hist, c, strict=True)]
        s_hist = [a + b for a, b in zip(s_hist, sv, strict=True)]
        v = flatten(m)
        near = min(found, key=lambda g: distance(g.vector, v), default=None)
        if near is not None and distance(near.vector, v) <= radius:
            near.flows += 1
            near.captures.add(s.capture)
            for name, values in m.items():
                sums = near.sums.setdefault(name, [0.0] * len(values))
                near.sums[name] = [a + b for a, b in zip(sums, values, strict=True)]
            near.vector = flatten(_mean(near.sums, near.flows))
        else:
            found.append(_Group(1, {s.capture}, s.behaviour.sizes[:16],
                                {k: list(vs) for k, vs in m.items()}, v))
    found.sort(key=lambda g: -g.flows)
    protos = tuple(_prototype(g.flows, len(g.captures), g.example, _mean(g.sums, g.flows))
                   for g in found[:max_prototypes])
    return Profile(service, transport, len(group), captures, _per_mille(c_hist),
                   _per_mille(s_hist), protos)


def _mean(sums: Meters, n: int) -> Meters:
    return {k: [round(v / n, 3) for v in vs] for k, vs in sums.items()}


def _per_mille(counts: list[int]) -> tuple[int, ...]:
    total = sum(counts)
    return tuple(round(1000 * k / total) if total else 0 for k in counts)


def _prototype(flows: int, captures: int, example: Sequence[int], m: Meters) -> Prototype:
    return Prototype(flows, captures, tuple(example), m, flatten(m))


# ---- the file ------------------------------------------------------------------------
def dumps(ps: ProfileSet) -> str:
    """The profiles as TOML (what `load` reads)."""
    out = [f"# {line}" for line in ps.about]
    out += ["", "[model]", f"features = {FEATURES_VERSION}",
            f"threshold = {_num(ps.model.threshold)}", f"margin = {_num(ps.model.margin)}",
            f"min_packets = {ps.model.min_packets}"]
    for p in ps.profiles:
        out += ["", "[[profile]]", f"service = {_str(p.service)}",
                f"transport = {_str(p.transport)}", f"flows = {p.flows}",
                f"captures = {p.captures}", f"c2s = {_list(p.c2s)}", f"s2c = {_list(p.s2c)}"]
        for proto in p.prototypes:
            out += ["[[profile.prototype]]", f"flows = {proto.flows}",
                    f"captures = {proto.captures}", f"example = {_list(proto.example)}"]
            out += [f"{name} = {_list(values)}" for name, values in proto.meters.items()]
    return "\n".join(out) + "\n"


def _num(x: float) -> str:
    text = f"{x:.3f}".rstrip("0")
    return text + "0" if text.endswith(".") else text


def _list(values: Iterable[float]) -> str:
    return "[" + ", ".join(str(v) if isinstance(v, int) else _num(v) for v in values) + "]"


def _str(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def load(paths: Iterable[Path]) -> ProfileSet:
    """Profiles from TOML files (the first file's [model] wins); ProfileError names the file."""
    model: Model | None = None
    profiles: list[Profile] = []
    about: list[str] = []
    for path in paths:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
            raise ProfileError(f"{path}: cannot read profiles: {e}") from e
        try:
            m, ps = _parse(data)
        except (KeyError, TypeError, ValueError) as e:
            raise ProfileError(f"{path}: not a profiles file: {e}") from e
        model = model or m
        profiles += ps
        about.append(str(path))
    return ProfileSet(model or Model(), tuple(profiles), tuple(about))


def _parse(data: dict[str, Any]) -> tuple[Model, list[Profile]]:
    m = data["model"]
    if m.get("features") != FEATURES_VERSION:
        raise ValueError(f"written for features version {m.get('features')}, this probescan "
                         f"reads version {FEATURES_VERSION}: train the profiles again")
    model = Model(float(m["threshold"]), float(m["margin"]), int(m["min_packets"]))
    names = [g[0] for g in GROUPS]
    profiles = []
    for p in data.get("profile", []):
        protos = []
        for q in p.get("prototype", []):
            got = {n: [float(v) for v in q[n]] for n in names}
            if ENTROPY_GROUP[0] in q:
                got[ENTROPY_GROUP[0]] = [float(v) for v in q[ENTROPY_GROUP[0]]]
            protos.append(_prototype(int(q["flows"]), int(q["captures"]),
                                     [int(v) for v in q["example"]], got))
        transport = str(p["transport"])
        if transport not in ("tcp", "udp"):
            raise ValueError(f"transport {transport!r}")
        if len(p["c2s"]) != len(SIZE_BINS) or len(p["s2c"]) != len(SIZE_BINS):
            raise ValueError(f"profile {p['service']!r}: histograms of {len(SIZE_BINS)} bins")
        profiles.append(Profile(str(p["service"]), transport, int(p["flows"]),
                                int(p["captures"]), tuple(int(v) for v in p["c2s"]),
                                tuple(int(v) for v in p["s2c"]), tuple(protos)))
    return model, profiles
