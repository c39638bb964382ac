"""Leave-one-capture-out: how many flows the statistical layer names right with the payload
hidden, on nDPI's captures (../shared/pcaps/ndpi), scored by ../shared/tools/ndpi_agreement.py.

    python3 benchmarks/stat_loco.py                      # all captures, ~10 minutes
    python3 benchmarks/stat_loco.py --quick              # 16 captures only: does it run?
    python3 benchmarks/stat_loco.py --compare            # also the alternatives, in process
    python3 benchmarks/stat_loco.py --full-payload       # also: whole captures, with and
                                                         # without the statistical layer

1. Every capture is cut to its headers (../shared/tools/strip_payload.py: original lengths
   kept) into WORK/headers/, beside a copy of nDPI's NAME.out (kept between runs).
2. Training samples: every flow probescan's payload layers name in each *whole* capture
   (probescan/watch/training.py), once.
3. For each held-out capture H, profiles are learnt from all the other captures exactly as
   `probescan profiles train ... --min-captures 2` would (only the profiles of the
   protocols H contains differ from those learnt from all: they are learnt again without H),
   and written to WORK/profiles/H.toml.
4. The scorer runs `probescan watch -r WORK/headers/H --no-probe` for each H through this
   script (`--shim`, which adds `--profiles WORK/profiles/H.toml`) with
   `--ignore-method table,port`, and its per-flow results give, per nDPI protocol, the flows
   named right, the flows named at all, and the precision; the encrypted and obfuscated
   protocols (Tor, OpenVPN, WireGuard, BitTorrent, Skype/Teams, QUIC, DNScrypt) apart.

`--full-payload` also scores the whole captures (payload kept, every method counted) twice,
with all layers (the held-out profiles) and with `--classifiers rules,parsers`: adding the
statistical layer must change no label the payload gave, and raises the agreement.

`--compare` also runs, in this process and without the scorer, the alternatives measured
for docs/classify.md on the same held-out flows: one averaged profile per protocol compared
by L1 (the chapter's histograms), the same by Kullback-Leibler divergence (CapLoader/SPID),
the prototypes (what ships) and every training flow (nearest neighbour), each at the model's
threshold and swept for the best recall at 80% and 90% precision.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import math
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks import _blocks  # noqa: E402
from probescan.catalog import build_catalog  # noqa: E402
from probescan.classify.features import Behaviour, distance, meters, vector  # noqa: E402
from probescan.classify.profiles import (  # noqa: E402
    MAX_PROTOTYPES,
    RADIUS,
    Model,
    Profile,
    ProfileSet,
    Sample,
    dumps,
    train,
)

# Read by tests/benchmarks/test_quick.py: --quick may skip even in CI, for this reason.
QUICK_SKIP_ALLOWED = ("nDPI's captures and the scorer live in shared/ beside the checkout, not "
                      "in the repository (a clean clone has neither)")
SHARED = next((d / "shared" for d in ROOT.parents if (d / "shared" / "tools").is_dir()),
              ROOT.parent / "shared")
ENCRYPTED = ("Tor", "OpenVPN", "WireGuard", "BitTorrent", "Skype_Teams", "QUIC", "DNScrypt")
MIN_CAPTURES = 2  # as the shipped profiles (docs/classify.md)
QUICK = 16  # captures (learnt from and held out) in --quick


def load_scorer(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("ndpi_agreement", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"stat_loco: cannot load the scorer {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def captures(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir()
                  if p.suffix != ".out" and (p.parent / (p.name + ".out")).exists())


def strip_all(caps: list[Path], out: Path, tool: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for cap in caps:
        dst = out / cap.name
        (out / (cap.name + ".out")).write_bytes((cap.parent / (cap.name + ".out")).read_bytes())
        if dst.exists() and dst.stat().st_mtime >= cap.stat().st_mtime:
            continue
        done = subprocess.run([sys.executable, str(tool), str(cap), str(dst)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            print(f"stat_loco: cannot strip {cap.name}: {done.stderr.strip()[-200:]}",
                  file=sys.stderr)
            dst.unlink(missing_ok=True)


def collect_samples(caps: list[Path]) -> dict[str, list[Sample]]:
    from probescan.watch.capture import CaptureError
    from probescan.watch.training import samples_from_capture

    catalog = build_catalog(None)
    out: dict[str, list[Sample]] = {}
    for cap in caps:
        try:
            out[cap.name] = samples_from_capture(cap, catalog)
        except CaptureError as e:
            print(f"stat_loco: skipped {cap.name}: {e}", file=sys.stderr)
            out[cap.name] = []
    return out


class Loco:
    """Profiles learnt from every capture but one, without learning 424 times from scratch."""

    def __init__(self, samples: dict[str, list[Sample]], model: Model, radius: float = RADIUS,
                 max_prototypes: int = MAX_PROTOTYPES) -> None:
        self.samples, self.model = samples, model
        self.kw: dict[str, Any] = {"min_captures": MIN_CAPTURES, "radius": radius,
                                   "max_prototypes": max_prototypes}
        self.full = train(self._all(), model, **self.kw)

    def _all(self, without: str | None = None) -> list[Sample]:
        return [s for name, ss in self.samples.items() if name != without for s in ss]

    def without(self, held: str) -> ProfileSet:
        keys = {(s.service, s.behaviour.transport) for s in self.samples.get(held, [])}
        if not keys:
            return self.full
        again = train([s for s in self._all(held)
                       if (s.service, s.behaviour.transport) in keys], self.model, **self.kw)
        kept = [p for p in self.full.profiles if (p.service, p.transport) not in keys]
        merged = sorted([*kept, *again.profiles], key=lambda p: (p.service, p.transport))
        return ProfileSet(self.model, tuple(merged), (f"leave-one-out: all but {held}",))


# ---- the scorer's way ------------------------------------------------------------------
def shim(argv: list[str]) -> int:
    """Called by the scorer as `stat_loco.py --shim DIR watch -r CAP ...`: probescan watch
    with the held-out capture's profiles."""
    from probescan.cli.main import main as probescan

    folder, rest = Path(argv[0]), argv[1:]
    if str(folder) == "payload-only":
        return probescan([*rest, "--classifiers", "rules,parsers"])
    capture = Path(rest[rest.index("-r") + 1])
    return probescan([*rest, "--profiles", str(folder / (capture.name + ".toml"))])


def run_scorer(scorer: Path, headers: Path, profiles: Path | str, json_out: Path,
               ignore: str = "table,port") -> list[dict[str, Any]]:
    cmd = " ".join(shlex.quote(x) for x in (sys.executable, __file__, "--shim", str(profiles)))
    argv = [sys.executable, str(scorer), str(headers), "--probescan", cmd,
            "--ignore-method", ignore, "--json", str(json_out)]
    subprocess.run(argv, check=True, capture_output=True, text=True)
    rows: list[dict[str, Any]] = json.loads(json_out.read_text())
    return rows


def table(rows: list[dict[str, Any]], title: str, brief: bool = False) -> str:
    per: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for r in rows:
        v = per[r["master"]]
        v[2] += 1
        if r["label"] not in ("", "unknown"):
            v[1] += 1
            v[0] += bool(r["agree"])
    right, named, total = (sum(v[i] for v in per.values()) for i in range(3))
    wrong = Counter(r["label"] for r in rows if r["label"] not in ("", "unknown")
                    and not r["agree"])
    lines = [f"**{title}**"]
    if not brief:
        lines += ["", "| nDPI protocol | flows | named | right |", "|---|---:|---:|---:|"]
        lines += [f"| {m} | {v[2]} | {v[1]} | {v[0]} |"
                  for m, v in sorted(per.items(), key=lambda kv: (-kv[1][2], kv[0]))
                  if v[1] or v[2] >= 5]
        lines += ["", "encrypted and obfuscated:", "", "| nDPI protocol | flows | named | right |",
                  "|---|---:|---:|---:|"]
    for m in ENCRYPTED if not brief else ():
        v = per.get(m, [0, 0, 0])
        lines.append(f"| {m} | {v[2]} | {v[1]} | {v[0]} |" if v[2] else
                     f"| {m} | 0 | - | - (no flow nDPI labels by payload) |")
    lines += ["", f"named right: {right}/{total} flows ({100 * right / max(total, 1):.1f}%); "
              f"precision: {right}/{named} ({100 * right / max(named, 1):.1f}%)",
              "most frequent wrong names: "
              + ", ".join(f"{k} {n}" for k, n in wrong.most_common(8))]
    return "\n".join(lines)


# ---- alternatives, in process -------------------------------------------------------------
def headers_flows(path: Path) -> list[tuple[tuple[str, frozenset[tuple[str, int]]], Behaviour]]:
    """Every flow of a headers-only capture: (scorer's key, behaviour)."""
    from probescan.classify.features import behaviour_of
    from probescan.config import WatchConfig
    from probescan.watch.capture import read_file
    from probescan.watch.label import FlowRecord
    from probescan.watch.watcher import Watcher

    out = []

    def keep(r: FlowRecord) -> None:
        f = r.flow
        out.append(((f.transport, frozenset({f.client, f.server})), behaviour_of(f)))

    config = WatchConfig(probe=False, workers=0, classifiers=frozenset())
    watcher = Watcher(_CATALOG[0], keep, None, None, config=config)
    asyncio.run(watcher.run_offline(read_file(path)))
    return out


_CATALOG: list[Any] = []
EPS = 1e-3


def kl(flow: dict[str, list[float]], prof: dict[str, list[float]]) -> float:
    """KL(flow || profile) over the histogram meters, L1 over the position meters."""
    d = 0.0
    for name, values in flow.items():
        p = prof.get(name)
        if p is None:
            continue
        if name in ("c2s", "s2c", "gaps"):
            d += sum(q * math.log(q / max(pv, EPS)) for q, pv in zip(values, p, strict=True) if q)
        else:
            d += sum(abs(a - b) for a, b in zip(values, p, strict=True)) / 4
    return d / len(flow)


def nearest(b: Behaviour, profiles: tuple[Profile, ...], use_kl: bool
            ) -> tuple[str, float, float]:
    best: dict[str, float] = {}
    v = vector(b) if not use_kl else None
    m = meters(b) if use_kl else None
    for p in profiles:
        if p.transport != b.transport:
            continue
        for q in p.prototypes:
            d = kl(m, q.meters) if m is not None else distance(v, q.vector)  # type: ignore
            if d < best.get(p.service, math.inf):
                best[p.service] = d
    ranked = sorted(best.items(), key=lambda kv: kv[1])
    if not ranked:
        return "", math.inf, math.inf
    return ranked[0][0], ranked[0][1], ranked[1][1] if len(ranked) > 1 else math.inf


def compare(names: list[str], samples: dict[str, list[Sample]], headers: Path,
            scorer: ModuleType, model: Model) -> str:
    _CATALOG.append(build_catalog(None))
    variants = {"one histogram profile a protocol, L1": (math.inf, 1, False),
                "one histogram profile a protocol, KL": (math.inf, 1, True),
                "prototypes of radius 0.08, ≤24 a protocol": (0.08, 24, False),
                f"near-duplicates merged (radius {RADIUS}; shipped)":
                    (RADIUS, MAX_PROTOTYPES, False),
                "every training flow (nearest neighbour)": (0.0, 10**6, False)}
    lines = ["**alternatives (in process, same held-out flows)**", "",
             "| method | at the model's settings: right / named "
             "| best recall at ≥80% precision | at ≥90% |",
             "|---|---|---|---|"]
    truth = {n: _truth(scorer, headers / n) for n in names}
    total = sum(len(t) for t in truth.values())
    flows = {n: dict(headers_flows(headers / n)) for n in names if (headers / n).exists()}
    for title, (radius, most, use_kl) in variants.items():
        loco = Loco(samples, model, radius, most)
        scored = []  # (margin-aware score, right, named at the model's settings)
        for n in names:
            ps = loco.without(n).profiles
            for key, master in truth[n]:
                b = flows.get(n, {}).get(key)
                if b is None or b.payload_packets < model.min_packets:
                    continue
                service, d0, d1 = nearest(b, ps, use_kl)
                if not service:
                    continue
                ok = service in scorer.accepted(master) or (
                    service == "tls" and master in scorer.TLS_FAMILY)
                rel = (d1 - d0) / d1 if d1 > 0 else 0.0
                named = d0 <= model.threshold and rel >= model.margin
                scored.append((-rel, ok, named))
        at_model = [ok for _, ok, named in scored if named]
        scored.sort(key=lambda t: t[0])
        best = {0.8: 0, 0.9: 0}
        right = 0
        for i, (_, ok, _) in enumerate(scored, 1):
            right += ok
            for p in best:
                if right / i >= p:
                    best[p] = max(best[p], right)
        lines.append(f"| {title} | {sum(at_model)} / {len(at_model)} | "
                     f"{100 * best[0.8] / total:.1f}% | {100 * best[0.9] / total:.1f}% |")
    return "\n".join([*lines, "", f"({total} flows nDPI labels by payload; recall over all)"])


def _truth(scorer: ModuleType, cap: Path) -> list[tuple[Any, str]]:
    seen: Counter[str] = Counter()
    out = []
    text = (cap.parent / (cap.name + ".out")).read_text(errors="replace")
    for transport, ends, master in scorer.ndpi_truth(text):
        if seen[master] < scorer.CAP:
            seen[master] += 1
            out.append(((transport, ends), master))
    return out


def full_payload(scorer: Path, held: list[Path], work: Path, profiles: Path) -> str:
    whole = work / "whole"
    whole.mkdir(parents=True, exist_ok=True)
    for cap in held:
        for name in (cap.name, cap.name + ".out"):
            if not (whole / name).exists():
                (whole / name).symlink_to(cap.parent / name)
    with_stats = run_scorer(scorer, whole, profiles, work / "whole-all.json", "")
    payload = run_scorer(scorer, whole, "payload-only", work / "whole-payload.json", "")
    key = [(r["capture"], r["transport"], str(r["ends"])) for r in payload]
    assert key == [(r["capture"], r["transport"], str(r["ends"])) for r in with_stats]
    changed = sum(1 for p, w in zip(payload, with_stats, strict=True)
                  if p["label"] not in ("", "unknown") and p["label"] != w["label"])
    added = sum(1 for p, w in zip(payload, with_stats, strict=True)
                if p["label"] in ("", "unknown") and w["label"] not in ("", "unknown"))
    right = [sum(bool(r["agree"]) for r in rows) for rows in (payload, with_stats)]
    n = len(payload)
    return "\n".join([
        "**whole captures (payload kept), ndpi_agreement.py without --ignore-method**", "",
        "| layers | agreement |", "|---|---:|",
        f"| rules, parsers | {right[0]}/{n} ({100 * right[0] / max(n, 1):.1f}%) |",
        f"| rules, parsers, statistics | {right[1]}/{n} ({100 * right[1] / max(n, 1):.1f}%) |",
        "", f"payload labels changed by the statistical layer: {changed}; flows it named that "
        f"the payload left unknown: {added}"])


def main() -> int:
    if len(sys.argv) > 2 and sys.argv[1] == "--shim":
        return shim(sys.argv[2:])
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--ndpi", type=Path, default=SHARED / "pcaps" / "ndpi")
    ap.add_argument("--tools", type=Path, default=SHARED / "tools",
                    help="where ndpi_agreement.py and strip_payload.py are")
    ap.add_argument("--work", type=Path, help="keep the copies and profiles here")
    ap.add_argument("--quick", action="store_true",
                    help=f"only {QUICK} of the captures, learnt from and held out")
    ap.add_argument("--compare", action="store_true", help="also the alternatives")
    ap.add_argument("--no-peer", action="store_true",
                    help="do not run ndpiReader on the same copies")
    ap.add_argument("--full-payload", action="store_true",
                    help="also the whole captures with and without the statistical layer")
    a = ap.parse_args()
    for need in (a.ndpi, a.tools / "ndpi_agreement.py", a.tools / "strip_payload.py"):
        if not need.exists():
            return _blocks.skip(f"{need} not found (nDPI's captures and the scorer are not "
                                "part of this repository)")
    started = time.monotonic()
    work = a.work or Path(tempfile.mkdtemp(prefix="stat-loco-"))
    caps = captures(a.ndpi)
    if a.quick:
        caps = caps[:: max(1, len(caps) // QUICK)][:QUICK]
    held = caps
    headers = work / "headers"
    strip_all(held, headers, a.tools / "strip_payload.py")
    samples = collect_samples(caps)
    model = Model()
    loco = Loco(samples, model)
    profiles = work / "profiles"
    profiles.mkdir(parents=True, exist_ok=True)
    scored = work / ("quick" if a.quick else "all")
    scored.mkdir(parents=True, exist_ok=True)
    for cap in held:
        (profiles / (cap.name + ".toml")).write_text(dumps(loco.without(cap.name)))
        for name in (cap.name, cap.name + ".out"):
            link = scored / name
            if not link.exists() and (headers / name).exists():
                link.symlink_to(headers / name)
    rows = run_scorer(a.tools / "ndpi_agreement.py", scored, profiles, work / "rows.json")
    lines = [
        _blocks.data_line(_blocks.DEVELOPMENT, f"{len(held)} of nDPI's regression captures "
                          "(`shared/pcaps/ndpi`, not part of this repository), each cut to its "
                          "headers by `shared/tools/strip_payload.py`."),
        "",
        f"Leave one capture out: each capture is labelled with profiles learnt from the other "
        f"{len(held) - 1} (protocols seen in at least {MIN_CAPTURES} of them; model threshold "
        f"{model.threshold}, margin {model.margin}, min_packets {model.min_packets}); scored "
        "by `shared/tools/ndpi_agreement.py --ignore-method table,port` (flows nDPI labels "
        "by payload, at most 10 per protocol and capture).",
        "",
        table(rows, "probescan watch --no-probe on the headers-only copies"),
    ]
    if not a.no_peer:
        if shutil.which("ndpiReader") is None:
            lines += ["", "(the peer, ndpiReader, is not installed here)"]
        else:
            subprocess.run([sys.executable, str(a.tools / "ndpi_agreement.py"), str(scored),
                            "--ndpi-reader", "--json", str(work / "peer.json")],
                           capture_output=True, text=True, check=True)
            peer = json.loads((work / "peer.json").read_text())
            lines += ["", table(peer, f"peer: ndpiReader {_blocks.ndpi_version()} on the same "
                                "copies (its port guesses count)", brief=True)]
    lines += ["", _blocks.provenance(started)]
    _blocks.emit("stat-loco", lines, a.quick)
    if a.full_payload:
        _blocks.emit("stat-full-payload", [
            full_payload(a.tools / "ndpi_agreement.py", held, work, profiles), "",
            _blocks.provenance(started)], a.quick)
    if a.compare:
        _blocks.emit("stat-compare", [
            compare([c.name for c in held], samples, scored,
                    load_scorer(a.tools / "ndpi_agreement.py"), model), "",
            _blocks.provenance(started)], a.quick)
    print(f"{time.monotonic() - started:.0f} s; copies and profiles in {work}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
