"""The alternatives to the statistical layer's forest, measured on the same flows
(benchmarks/stat_loco.py --compare; docs/classify.md "The method").

Every method learns from the same training samples (the flows probescan's payload layers
named in the whole captures, at most 10 per protocol and capture, protocols of fewer than 2
captures as OTHER where the method has such a class) and labels the flows nDPI labels by
payload in the headers-only copies, in 20 folds by capture (each capture's flows labelled by
a model that never saw that capture; 20 folds rather than one per capture to keep this
in-process comparison quick):

* size histograms per direction, one mean histogram per protocol, compared by L1 (the
  "Application Identification" chapter's method) or by Kullback-Leibler divergence (as
  CapLoader's engine does); score: the relative margin to the next protocol;
* the nearest neighbours (5, by L1 over standardised values) over the first 12 signed sizes
  and gaps;
* the random forest of the statistical layer (classify/), without and with its ranges check.

Reported: what each names when it names all it can, and the best recall reachable at
80% and 90% precision by thresholding its score (an upper bound: the threshold is picked on
these very flows).
"""

from __future__ import annotations

import asyncio
import math
from collections import Counter
from pathlib import Path
from types import ModuleType
from typing import Any

from probescan.classify.features import (
    FIRST_PACKETS,
    RANGE_SCALES,
    RANGED_FROM,
    Behaviour,
    features,
    size_histograms,
)
from probescan.classify.profiles import OTHER, PER_CAPTURE, Model, Sample

FOLDS = 20
Key = tuple[str, frozenset[tuple[str, int]]]
Flow = tuple[str, str, Behaviour | None]  # capture, nDPI master, behaviour
Pred = tuple[str | None, float]


def headers_flows(path: Path) -> dict[Key, Behaviour]:
    from probescan.catalog import build_catalog
    from probescan.classify.features import behaviour_of
    from probescan.config import WatchConfig
    from probescan.watch.capture import read_file
    from probescan.watch.label import FlowRecord
    from probescan.watch.watcher import Watcher

    out: dict[Key, Behaviour] = {}

    def keep(r: FlowRecord) -> None:
        f = r.flow
        out[(f.transport, frozenset({f.client, f.server}))] = behaviour_of(f)

    config = WatchConfig(probe=False, workers=0, classifiers=frozenset())
    watcher = Watcher(_catalog(build_catalog), keep, None, None, config=config)
    asyncio.run(watcher.run_offline(read_file(path)))
    return out


_CATALOGS: list[Any] = []


def _catalog(build: Any) -> Any:
    if not _CATALOGS:
        _CATALOGS.append(build(None))
    return _CATALOGS[0]


def test_flows(folder: Path, scorer: ModuleType) -> list[Flow]:
    out: list[Flow] = []
    for cap in sorted(p for p in folder.iterdir() if p.suffix != ".out"):
        seen: Counter[str] = Counter()
        got = headers_flows(cap)
        text = (folder / (cap.name + ".out")).read_text(errors="replace")
        for transport, ends, master in scorer.ndpi_truth(text):
            if seen[master] < scorer.CAP:
                seen[master] += 1
                out.append((cap.name, master, got.get((transport, ends))))
    return out


def training(samples: dict[str, list[Sample]]) -> list[tuple[str, str, Behaviour]]:
    out = []
    for cap, ss in samples.items():
        taken: Counter[tuple[str, str]] = Counter()
        for s in ss:
            k = (s.service, s.behaviour.transport)
            if s.behaviour.payload_packets >= Model().min_packets and taken[k] < PER_CAPTURE:
                taken[k] += 1
                out.append((cap, s.service, s.behaviour))
    return out


def compare(samples: dict[str, list[Sample]], folder: Path, scorer: ModuleType) -> str:
    import numpy as np

    train = training(samples)
    flows = test_flows(folder, scorer)
    caps = sorted(samples)
    fold = {c: i % FOLDS for i, c in enumerate(caps)}
    seen: dict[tuple[str, str], set[str]] = {}
    for c, s, b in train:
        seen.setdefault((s, b.transport), set()).add(c)
    methods = {
        "size histograms per direction, one per protocol, L1": {},
        "size histograms per direction, one per protocol, KL divergence": {},
        "5 nearest neighbours, first 12 signed sizes and gaps": {},
        "random forest (the layer), no ranges check": {},
        "random forest (the layer), with its ranges check (shipped)": {},
    }
    preds: dict[str, list[Pred]] = {m: [(None, 0.0)] * len(flows) for m in methods}
    hist = np.array([_hist(b) for _, _, b in train])
    seq = np.array([_seq(b) for _, _, b in train])
    feat = np.array([features(b) for _, _, b in train], dtype=np.float32)
    for f in range(FOLDS):
        held = {c for c in caps if fold[c] == f}
        for t in ("tcp", "udp"):
            idx = [i for i, (c, _, b) in enumerate(train) if c not in held and b.transport == t]
            labels = [train[i][1] if len(seen[(train[i][1], t)] - held) >= 2 else OTHER
                      for i in idx]
            todo = [i for i, (c, _, b) in enumerate(flows) if c in held and b is not None
                    and b.transport == t and b.payload_packets >= Model().min_packets]
            if not idx or not todo:
                continue
            names = list(methods)
            h_te = np.array([_hist(_b(flows[i])) for i in todo])
            for name, kl in ((names[0], False), (names[1], True)):
                for i, p in zip(todo, _profiles(hist[idx], labels, h_te, kl), strict=True):
                    preds[name][i] = p
            s_te = np.array([_seq(_b(flows[i])) for i in todo])
            for i, p in zip(todo, _knn(seq[idx], labels, s_te), strict=True):
                preds[names[2]][i] = p
            x_te = np.array([features(_b(flows[i])) for i in todo], dtype=np.float32)
            plain, ranged = _forest(feat[idx], labels, x_te)
            for i, p, q in zip(todo, plain, ranged, strict=True):
                preds[names[3]][i], preds[names[4]][i] = p, q
    lines = ["| method | naming all it can: right / named | best recall at ≥80% precision "
             "| at ≥90% |", "|---|---|---:|---:|"]
    for name in methods:
        lines.append(_row(name, preds[name], flows, scorer))
    return "\n".join([*lines, "", f"({len(flows)} flows nDPI labels by payload; recall over "
                      "all of them; 20 folds by capture)"])


def _b(flow: Flow) -> Behaviour:
    assert flow[2] is not None
    return flow[2]


def _hist(b: Behaviour) -> list[float]:
    c, s = size_histograms(b.sizes)
    nc, ns = sum(c) or 1, sum(s) or 1
    return [v / nc for v in c] + [v / ns for v in s]


def _seq(b: Behaviour) -> list[float]:
    out: list[float] = []
    for i in range(FIRST_PACKETS):
        n = b.sizes[i] if i < len(b.sizes) else 0
        gap = b.times[i] - b.times[i - 1] if 0 < i < len(b.sizes) else 0.0
        out += [float(n), math.log10(max(gap, 1e-6))]
    return out


def _profiles(train: Any, labels: list[str], test: Any, kl: bool) -> list[Pred]:
    import numpy as np

    names = sorted(set(labels) - {OTHER})
    lab = np.array(labels)
    means = np.array([train[lab == n].mean(0) for n in names])
    out: list[Pred] = []
    for x in test:
        if kl:
            eps = 1e-3
            d = np.array([(x * np.log((x + eps) / (m + eps))).sum() for m in means])
        else:
            d = np.abs(means - x).sum(1)
        order = np.argsort(d)
        if not len(order):
            out.append((None, 0.0))
            continue
        d0 = float(d[order[0]])
        d1 = float(d[order[1]]) if len(order) > 1 else math.inf
        out.append((names[order[0]], (d1 - d0) / d1 if 0 < d1 < math.inf else 1.0))
    return out


def _knn(train: Any, labels: list[str], test: Any) -> list[Pred]:
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.preprocessing import StandardScaler

    scale = StandardScaler().fit(train)
    k = min(5, len(labels))
    model = KNeighborsClassifier(n_neighbors=k, weights="distance", metric="manhattan")
    model.fit(scale.transform(train), labels)
    return _best(model.classes_, model.predict_proba(scale.transform(test)))


def _forest(train: Any, labels: list[str], test: Any) -> tuple[list[Pred], list[Pred]]:
    import numpy as np
    from sklearn.ensemble import RandomForestClassifier

    model = RandomForestClassifier(n_estimators=100, random_state=0, n_jobs=1)
    model.fit(train, labels)
    plain = _best(model.classes_, model.predict_proba(test))
    lab = np.array(labels)
    scales = np.array(RANGE_SCALES)
    ranged: list[Pred] = []
    for x, (name, score) in zip(test, plain, strict=True):
        if name is None:
            ranged.append((None, 0.0))
            continue
        mine = train[lab == name][:, RANGED_FROM:]
        v = x[RANGED_FROM:]
        excess = np.maximum(0, np.maximum(mine.min(0) - v, v - mine.max(0))) / scales
        beyond = float(excess.sum())
        ranged.append((name, score) if beyond <= Model().max_outside else (None, 0.0))
    return plain, ranged


def _best(classes: Any, proba: Any) -> list[Pred]:
    out: list[Pred] = []
    for p in proba:
        k = int(p.argmax())
        name = str(classes[k])
        out.append((None, 0.0) if name == OTHER else (name, float(p[k])))
    return out


def _row(name: str, preds: list[Pred], flows: list[Flow], scorer: ModuleType) -> str:
    rows = sorted(((score, _right(p, m, scorer)) for (p, score), (_, m, _) in
                   zip(preds, flows, strict=True) if p is not None), key=lambda r: -r[0])
    total = len(flows)
    best = {0.8: 0, 0.9: 0}
    right = 0
    for i, (_, ok) in enumerate(rows, 1):
        right += ok
        for p in best:
            if right / i >= p:
                best[p] = max(best[p], right)
    return (f"| {name} | {right} / {len(rows)} | {100 * best[0.8] / total:.1f}% | "
            f"{100 * best[0.9] / total:.1f}% |")


def _right(service: str, master: str, scorer: ModuleType) -> bool:
    return service in scorer.accepted(master) or (service == "tls"
                                                  and master in scorer.TLS_FAMILY)
