"""Protocol profiles: what flows of each protocol look like, as data (pure but for `load`).

A profile is one protocol over one transport: how many flows and captures taught it, the
size histograms of its clients and servers (shown beside a flow's own in the HTML report),
a few example flows' sizes (`[517, -1448, -1448, -1059, 126, -51]` is a TLS handshake), and
the range of each feature over the flows it was learnt from (`low`, `high`: a flow far
outside them is unlike anything the protocol showed, whatever the forest says).
Beside the profiles, one *forest* per transport (classify/forest.py) decides: its classes are
the profiles' protocols plus OTHER, which stands for every protocol seen in fewer than
`min_captures` captures (the protocols the profiles cannot know: a flow that looks like them
is better left unknown).

`train` learns profiles and forests from labelled flows (`Sample`: what probescan's payload
layers named, the capture it came from, its behaviour); `dumps` writes them as TOML with
the model's settings (`[model]`: the share of the trees that must agree, how far outside
its profile's ranges a flow may lie, the payload packets a flow needs); `load` reads a file
back, refusing one written for other features (one line naming the file and why).
"""

from __future__ import annotations

import math
import tomllib
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from probescan.classify.features import (
    FEATURE_NAMES,
    FEATURES_VERSION,
    RANGED_FROM,
    RANGED_NAMES,
    SIZE_BINS,
    Behaviour,
    features,
    size_histograms,
)
from probescan.classify.forest import Forest, ForestError, format_tree, parse_tree

OTHER = "?"  # the forest's class for protocols seen in too few captures
TRANSPORTS = ("tcp", "udp")


class ProfileError(Exception):
    """A profile file that cannot be used; `str()` is one line naming the file."""


@dataclass(frozen=True, slots=True)
class Model:
    min_score: float = 0.7  # share of the trees that must vote for the protocol
    # how far outside its profile's ranges a flow may lie: the sum over the features of how
    # far each is beyond its range, as a share of the span it can take (RANGE_SCALES)
    max_outside: float = 1.0
    min_packets: int = 2  # payload packets a flow needs (one packet tells too little)


@dataclass(frozen=True, slots=True)
class Profile:
    service: str
    transport: str
    flows: int
    captures: int
    c2s: tuple[int, ...]  # share of the clients' payload packets per SIZE_BINS, per mille
    s2c: tuple[int, ...]
    examples: tuple[tuple[int, ...], ...] = ()  # sizes of flows it was learnt from
    low: tuple[float, ...] = ()  # each ranged feature's smallest value over those flows
    high: tuple[float, ...] = ()  # ... and largest (features.RANGED_NAMES)


@dataclass(frozen=True, slots=True)
class ProfileSet:
    model: Model = Model()
    profiles: tuple[Profile, ...] = ()
    forests: dict[str, Forest] = field(default_factory=dict)  # per transport
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
PER_CAPTURE = 1000  # flows of one protocol taken from one capture (a bound on one flood)
TREES = 100  # per forest
EXAMPLES = 3  # example flows kept per profile (from different captures when there are)


def train(samples: Iterable[Sample], model: Model = Model(), *, min_captures: int = 1,
          per_capture: int = PER_CAPTURE, trees: int = TREES, seed: int = 0,
          about: Sequence[str] = ()) -> ProfileSet:
    """Profiles of every (service, transport) seen in at least `min_captures` captures, and
    a forest per transport, from at most `per_capture` flows of each protocol and capture
    (in order); flows with fewer than `model.min_packets` payload packets teach nothing
    (they could not be classified). Flows of rarer protocols teach the forest OTHER.
    Needs scikit-learn (classify/learn.py: LearnError)."""
    from probescan.classify.learn import learn_forest

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
    profiles: list[Profile] = []
    rows: dict[str, tuple[list[list[float]], list[str]]] = {t: ([], []) for t in TRANSPORTS}
    for (service, transport), group in sorted(by_key.items()):
        captures = len({s.capture for s in group})
        known = captures >= min_captures
        if known:
            profiles.append(_profile(service, transport, group, captures))
        x, y = rows[transport]
        for s in group:
            x.append(features(s.behaviour))
            y.append(service if known else OTHER)
    forests = {t: learn_forest(x, y, trees=trees, seed=seed)
               for t, (x, y) in rows.items() if set(y) - {OTHER}}
    return ProfileSet(model, tuple(profiles), forests, tuple(about))


def _profile(service: str, transport: str, group: list[Sample], captures: int) -> Profile:
    c_hist, s_hist = [0] * len(SIZE_BINS), [0] * len(SIZE_BINS)
    examples: list[tuple[int, ...]] = []
    seen: set[str] = set()
    rows = [array("f", features(s.behaviour)[RANGED_FROM:]).tolist() for s in group]
    low = tuple(_round(min(column), -1) for column in zip(*rows, strict=True))
    high = tuple(_round(max(column), 1) for column in zip(*rows, strict=True))
    for s in group:
        c, sv = size_histograms(s.behaviour.sizes)
        c_hist = [a + b for a, b in zip(c_hist, c, strict=True)]
        s_hist = [a + b for a, b in zip(s_hist, sv, strict=True)]
        if len(examples) < EXAMPLES and s.capture not in seen:
            seen.add(s.capture)
            examples.append(s.behaviour.sizes[:16])
    return Profile(service, transport, len(group), captures, _per_mille(c_hist),
                   _per_mille(s_hist), tuple(examples), low, high)


def _round(x: float, direction: int) -> float:
    """x to 4 decimals, rounded away from the range's inside (down for a low end)."""
    scaled = x * 10_000
    return (math.floor(scaled) if direction < 0 else math.ceil(scaled)) / 10_000


def _per_mille(counts: list[int]) -> tuple[int, ...]:
    total = sum(counts)
    return tuple(round(1000 * k / total) if total else 0 for k in counts)


# ---- the file ------------------------------------------------------------------------
def dumps(ps: ProfileSet) -> str:
    """The profiles as TOML (what `load` reads)."""
    out = [f"# {line}" for line in ps.about]
    out += ["", "[model]", f"features = {FEATURES_VERSION}",
            f"min_score = {_num(ps.model.min_score)}",
            f"max_outside = {_num(ps.model.max_outside)}",
            f"min_packets = {ps.model.min_packets}"]
    for p in ps.profiles:
        out += ["", "[[profile]]", f"service = {_str(p.service)}",
                f"transport = {_str(p.transport)}", f"flows = {p.flows}",
                f"captures = {p.captures}", f"c2s = {_list(p.c2s)}", f"s2c = {_list(p.s2c)}",
                "examples = [" + ", ".join(_list(e) for e in p.examples) + "]",
                f"low = {_list(p.low, 4)}", f"high = {_list(p.high, 4)}"]
    for transport, forest in sorted(ps.forests.items()):
        out += ["", f"[forest.{transport}]  # one tree a line: classify/forest.py",
                "classes = [" + ", ".join(_str(c) for c in forest.classes) + "]",
                f"features = {forest.features}", "trees = ["]
        out += [f'  "{format_tree(t)}",' for t in forest.trees]
        out.append("]")
    return "\n".join(out) + "\n"


def _num(x: float, places: int = 3) -> str:
    text = f"{x:.{places}f}".rstrip("0")
    return text + "0" if text.endswith(".") else text


def _list(values: Iterable[float], places: int = 3) -> str:
    return "[" + ", ".join(str(v) if isinstance(v, int) else _num(v, places)
                           for v in values) + "]"


def _str(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def load(paths: Iterable[Path]) -> ProfileSet:
    """Profiles from TOML files (the first file's [model] and forests win); ProfileError
    names the file."""
    model: Model | None = None
    profiles: list[Profile] = []
    forests: dict[str, Forest] = {}
    about: list[str] = []
    for path in paths:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
            raise ProfileError(f"{path}: cannot read profiles: {e}") from e
        try:
            m, ps, fs = _parse(data)
        except (KeyError, TypeError, ValueError) as e:
            raise ProfileError(f"{path}: not a profiles file: {e}") from e
        model = model or m
        profiles += ps
        forests = forests or fs
        about.append(str(path))
    return ProfileSet(model or Model(), tuple(profiles), forests, tuple(about))


def _parse(data: dict[str, Any]) -> tuple[Model, list[Profile], dict[str, Forest]]:
    m = data["model"]
    if m.get("features") != FEATURES_VERSION:
        raise ValueError(f"written for features version {m.get('features')}, this probescan "
                         f"reads version {FEATURES_VERSION}: train the profiles again")
    model = Model(float(m["min_score"]), float(m["max_outside"]), int(m["min_packets"]))
    width, ranged = len(FEATURE_NAMES), len(RANGED_NAMES)
    profiles = []
    for p in data.get("profile", []):
        transport = str(p["transport"])
        if transport not in TRANSPORTS:
            raise ValueError(f"transport {transport!r}")
        if len(p["c2s"]) != len(SIZE_BINS) or len(p["s2c"]) != len(SIZE_BINS):
            raise ValueError(f"profile {p['service']!r}: histograms of {len(SIZE_BINS)} bins")
        low = tuple(float(v) for v in p["low"])
        high = tuple(float(v) for v in p["high"])
        if len(low) != ranged or len(high) != ranged:
            raise ValueError(f"profile {p['service']!r}: ranges of {ranged} features")
        profiles.append(Profile(str(p["service"]), transport, int(p["flows"]),
                                int(p["captures"]), tuple(int(v) for v in p["c2s"]),
                                tuple(int(v) for v in p["s2c"]),
                                tuple(tuple(int(v) for v in e) for e in p.get("examples", [])),
                                low, high))
    forests = {}
    for transport, f in data.get("forest", {}).items():
        if transport not in TRANSPORTS:
            raise ValueError(f"forest for transport {transport!r}")
        classes = tuple(str(c) for c in f["classes"])
        if int(f["features"]) != width:
            raise ValueError(f"a forest of {f['features']} features, not {width}")
        try:
            trees = tuple(parse_tree(str(t), len(classes), width) for t in f["trees"])
        except ForestError as e:
            raise ValueError(f"forest {transport}: {e}") from e
        forests[transport] = Forest(classes, trees, width)
    return model, profiles, forests
