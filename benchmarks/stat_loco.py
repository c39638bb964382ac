"""Leave-one-capture-out: how many flows the statistical layer names right with the payload
hidden, on nDPI's captures (shared/pcaps/ndpi), scored by shared/tools/ndpi_agreement.py.

    python3 benchmarks/stat_loco.py                      # all captures, ~15 minutes
    python3 benchmarks/stat_loco.py --quick              # 16 captures only: does it run?
    python3 benchmarks/stat_loco.py --compare            # also the alternatives, in process
    python3 benchmarks/stat_loco.py --full-payload       # also: whole captures, with and
                                                         # without the statistical layer

1. Every capture is cut to its headers (shared/tools/strip_payload.py: original lengths
   kept) into WORK/headers/, beside a copy of nDPI's NAME.out (kept between runs).
2. Training samples: every flow probescan's payload layers name in each *whole* capture
   (probescan/watch/training.py), once.
3. For each held-out capture H, profiles and forests are learnt from all the other captures
   exactly as `probescan profiles train ... --min-captures 2` does, and written to
   WORK/profiles/H.toml.
4. The scorer runs `probescan watch -r WORK/headers/H --no-probe` for each H through this
   script (`--shim`, which adds `--profiles WORK/profiles/H.toml`) with
   `--ignore-method table,port`; its per-flow results give, per nDPI protocol, the flows
   named right, the flows named at all, and the precision; the encrypted and obfuscated
   protocols (Tor, OpenVPN, WireGuard, BitTorrent, Skype/Teams, QUIC, DNScrypt) apart.
   The records' `behaviour.statistical` (the share of the trees for each flow, named or
   not) also give the same figures at other `min_score` settings, and their `method` how
   many flows each deciding part named: the behaviour signatures (profiles/signatures.toml,
   shipped: written from specifications, not learnt, so the same for every held-out
   capture) and the forest, and each signature's flows right and wrong.

`--full-payload` also scores the whole captures (payload kept, every method counted) twice,
with all layers (the held-out profiles) and with `--classifiers rules,parsers`: adding the
statistical layer must change no label the payload gave, and raises the agreement.

`--compare` also measures, in this process, the alternatives of docs/classify.md on the
same flows (benchmarks/_stat_alternatives.py).

The peer: Debian's ndpiReader on the same headers-only copies (it can only guess by port).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
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
from probescan.classify.profiles import Model, Sample, dumps, train  # noqa: E402

# Read by tests/benchmarks/test_quick.py: --quick may skip even in CI, for this reason.
QUICK_SKIP_ALLOWED = ("nDPI's captures and the scorer live in shared/ beside the checkout, not "
                      "in the repository (a clean clone has neither)")
SHARED = next((d / "shared" for d in ROOT.parents if (d / "shared" / "tools").is_dir()),
              ROOT.parent / "shared")
ENCRYPTED = ("Tor", "OpenVPN", "WireGuard", "BitTorrent", "Skype_Teams", "QUIC", "DNScrypt")
MIN_CAPTURES = 2  # as the shipped profiles (docs/classify.md)
QUICK = 16  # captures (learnt from and held out) in --quick
SWEEP = (0.5, 0.6, 0.7, 0.8, 0.9)  # min_score settings re-read from the records


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


def without(samples: dict[str, list[Sample]], held: str, model: Model) -> str:
    """The profiles file learnt from every capture but `held`."""
    ps = train([s for name, ss in samples.items() if name != held for s in ss], model,
               min_captures=MIN_CAPTURES, about=(f"leave-one-out: all but {held}",))
    return dumps(ps)


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


def run_scorer(scorer: Path, folder: Path, profiles: Path | str, json_out: Path,
               ignore: str = "table,port", keep: Path | None = None) -> list[dict[str, Any]]:
    cmd = " ".join(shlex.quote(x) for x in (sys.executable, __file__, "--shim", str(profiles)))
    argv = [sys.executable, str(scorer), str(folder), "--probescan", cmd,
            "--ignore-method", ignore, "--json", str(json_out)]
    if keep is not None:
        argv += ["--keep", str(keep)]
    subprocess.run(argv, check=True, capture_output=True, text=True)
    rows: list[dict[str, Any]] = json.loads(json_out.read_text())
    return rows


def named(label: str) -> bool:
    return label not in ("", "unknown")


def score(rows: list[dict[str, Any]]) -> tuple[int, int, int]:
    """Flows named right, flows named, flows."""
    return (sum(bool(r["agree"]) for r in rows if named(r["label"])),
            sum(named(r["label"]) for r in rows), len(rows))


def table(rows: list[dict[str, Any]], title: str, brief: bool = False) -> str:
    per: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for r in rows:
        v = per[r["master"]]
        v[2] += 1
        if named(r["label"]):
            v[1] += 1
            v[0] += bool(r["agree"])
    right, count, total = (sum(v[i] for v in per.values()) for i in range(3))
    wrong = Counter(r["label"] for r in rows if named(r["label"]) and not r["agree"])
    lines = [f"**{title}**"]
    if not brief:
        lines += ["", "| nDPI protocol | flows | named | right |", "|---|---:|---:|---:|"]
        lines += [f"| {m} | {v[2]} | {v[1]} | {v[0]} |"
                  for m, v in sorted(per.items(), key=lambda kv: (-kv[1][2], kv[0]))
                  if v[1] or v[2] >= 5]
        lines += ["", "encrypted and obfuscated:", "", "| nDPI protocol | flows | named | right |",
                  "|---|---:|---:|---:|"]
        for m in ENCRYPTED:
            v = per.get(m, [0, 0, 0])
            lines.append(f"| {m} | {v[2]} | {v[1]} | {v[0]} |" if v[2] else
                         f"| {m} | 0 | - | - (no flow nDPI labels by payload) |")
    lines += ["", f"named right: {right}/{total} flows ({100 * right / max(total, 1):.1f}%); "
              f"precision: {right}/{count} ({100 * right / max(count, 1):.1f}%)",
              "most frequent wrong names: "
              + (", ".join(f"{k} {n}" for k, n in wrong.most_common(8)) or "none")]
    return "\n".join(lines)


Key = tuple[str, str, str]  # capture, transport, ends (as the scorer's rows give them)


def records(kept: Path) -> dict[Key, dict[str, Any]]:
    """The flow records the scorer kept, by the scorer's key."""
    out: dict[Key, dict[str, Any]] = {}
    for path in kept.glob("*.jsonl"):
        for line in path.read_text(errors="replace").splitlines():
            r = json.loads(line)
            if r.get("kind") != "flow":
                continue
            ends = sorted([[r["client"]["ip"], r["client"]["port"]],
                           [r["server"]["ip"], r["server"]["port"]]])
            out[(path.name.removesuffix(".jsonl"), r["transport"], str(ends))] = r
    return out


def _key(row: dict[str, Any]) -> Key:
    return (row["capture"], row["transport"], str(row["ends"]))


def deciders(rows: list[dict[str, Any]], recs: dict[Key, dict[str, Any]]) -> str:
    """How many of the scored flows each deciding part of the layer named, and how many
    right: the signatures (each apart) and the forest."""
    per: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for row in rows:
        rec = recs.get(_key(row))
        if rec is None or not named(row["label"]):
            continue
        sig = rec["behaviour"].get("signature")
        part = f"signature {sig['name']}" if sig else rec["method"]
        per[part][0] += 1
        per[part][1] += bool(row["agree"])
    lines = ["| deciding part | named | right | wrong |", "|---|---:|---:|---:|"]
    for label, parts in (("signatures (all)", [p for p in per if p.startswith("signature ")]),
                         ("forest (`statistical`)", ["statistical"])):
        n, right = (sum(per[p][i] for p in parts) for i in range(2))
        lines.append(f"| {label} | {n} | {right} | {n - right} |")
    lines += [f"| &nbsp;&nbsp;{p} | {v[0]} | {v[1]} | {v[0] - v[1]} |"
              for p, v in sorted(per.items(), key=lambda kv: (-kv[1][0], kv[0]))
              if p.startswith("signature ")]
    lines += [f"| other method `{p}` | {v[0]} | {v[1]} | {v[0] - v[1]} |"
              for p, v in sorted(per.items()) if p not in ("statistical",)
              and not p.startswith("signature ")]
    return "\n".join(lines)


def sweep(rows: list[dict[str, Any]], recs: dict[Key, dict[str, Any]], scorer: ModuleType,
          model: Model) -> str:
    """The same flows at other min_score settings, re-read from the records' verdicts (the
    flows a signature named count at every setting: the forest was not asked)."""
    lines = ["| min_score | named right | named | precision |", "|---:|---:|---:|---:|"]
    total = len(rows)
    for t in SWEEP:
        right = count = 0
        for r in rows:
            rec = recs.get(_key(r))
            if rec is not None and rec["method"] == "signature":
                count += 1
                right += bool(r["agree"])
                continue
            s = rec["behaviour"].get("statistical") if rec is not None else None
            if s is None or s["score"] < t or s["other_score"] > s["score"] or (
                    s["beyond"] > model.max_outside):
                continue
            count += 1
            right += s["profile"] in scorer.accepted(r["master"]) or (
                s["profile"] == "tls" and r["master"] in scorer.TLS_FAMILY)
        mark = " (the model's)" if t == model.min_score else ""
        lines.append(f"| {t}{mark} | {right}/{total} ({100 * right / max(total, 1):.1f}%) | "
                     f"{count} | {100 * right / max(count, 1):.1f}% |")
    return "\n".join(lines)


def main() -> int:
    if len(sys.argv) > 2 and sys.argv[1] == "--shim":
        return shim(sys.argv[2:])
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--ndpi", type=Path, default=SHARED / "pcaps" / "ndpi")
    ap.add_argument("--tools", type=Path, default=SHARED / "tools",
                    help="where ndpi_agreement.py and strip_payload.py are")
    ap.add_argument("--work", type=Path, help="keep the copies, profiles and records here")
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
    try:
        import sklearn  # noqa: F401
    except ImportError:  # not a skip: the test extras install it
        print("stat_loco: scikit-learn is not installed (pip install 'probescan[train]')",
              file=sys.stderr)
        return 2
    started = time.monotonic()
    work = a.work or Path(tempfile.mkdtemp(prefix="stat-loco-"))
    caps = captures(a.ndpi)
    if a.quick:
        caps = caps[:: max(1, len(caps) // QUICK)][:QUICK]
    headers = work / "headers"
    strip_all(caps, headers, a.tools / "strip_payload.py")
    samples = collect_samples(caps)
    model = Model()
    profiles = work / "profiles"
    profiles.mkdir(parents=True, exist_ok=True)
    scored = work / ("quick" if a.quick else "all")
    scored.mkdir(parents=True, exist_ok=True)
    for cap in caps:
        (profiles / (cap.name + ".toml")).write_text(without(samples, cap.name, model))
        for name in (cap.name, cap.name + ".out"):
            link = scored / name
            if not link.exists() and (headers / name).exists():
                link.symlink_to(headers / name)
    scorer = load_scorer(a.tools / "ndpi_agreement.py")
    kept = work / "records"
    rows = run_scorer(a.tools / "ndpi_agreement.py", scored, profiles, work / "rows.json",
                      keep=kept)
    recs = records(kept)
    lines = [
        _blocks.data_line(_blocks.DEVELOPMENT, f"{len(caps)} of nDPI's regression captures "
                          "(`shared/pcaps/ndpi`, not part of this repository), each cut to its "
                          "headers by `shared/tools/strip_payload.py`."),
        "",
        f"Leave one capture out: each capture is labelled with profiles learnt from the other "
        f"{len(caps) - 1} (protocols seen in at least {MIN_CAPTURES} of them; forests of "
        f"100 trees; model min_score {model.min_score}, max_outside {model.max_outside}, "
        f"min_packets {model.min_packets}); scored by `shared/tools/ndpi_agreement.py "
        "--ignore-method table,port` (flows nDPI labels by payload, at most 10 per protocol "
        "and capture).",
        "",
        table(rows, "probescan watch --no-probe on the headers-only copies"),
        "",
        "Who named them: the behaviour signatures (`method` `signature`: shipped, written "
        "from specifications, the same for every held-out capture) and the forest "
        "(`statistical`), over the scored flows:",
        "",
        deciders(rows, recs),
        "",
        "The same flows at other `min_score` settings (from the records' verdicts; the "
        "signatures' flows count at every setting):",
        "",
        sweep(rows, recs, scorer, model),
    ]
    peer_rows: list[dict[str, Any]] = []
    if not a.no_peer:
        if shutil.which("ndpiReader") is None:
            lines += ["", "(the peer, ndpiReader, is not installed here)"]
        else:
            subprocess.run([sys.executable, str(a.tools / "ndpi_agreement.py"), str(scored),
                            "--ndpi-reader", "--json", str(work / "peer.json")],
                           capture_output=True, text=True, check=True)
            peer = json.loads((work / "peer.json").read_text())
            peer_rows = peer
            lines += ["", table(peer, f"peer: ndpiReader {_blocks.ndpi_version()} on the same "
                                "copies (its port guesses count)", brief=True)]
    lines += ["", _blocks.provenance(started)]
    _blocks.emit("stat-loco", lines, a.quick)
    right, count, total = score(rows)
    peer_line = ""
    if peer_rows:
        p_right, p_count, _ = score(peer_rows)
        peer_line = (f"; ndpiReader {_blocks.ndpi_version()} on the same copies (port guesses): "
                     f"{p_right}/{total} ({100 * p_right / max(total, 1):.1f}%) at "
                     f"{100 * p_right / max(p_count, 1):.1f}%")
    _blocks.emit("readme-stat-loco", [
        f"- Flows with the payload hidden (development data: nDPI's {len(caps)} captures cut "
        f"to their headers, leave one capture out): probescan named {right}/{total} right "
        f"({100 * right / max(total, 1):.1f}%) at {100 * right / max(count, 1):.1f}% "
        f"precision, never reading a port{peer_line}."], a.quick)
    if a.full_payload:
        from benchmarks._stat_full_payload import full_payload

        _blocks.emit("stat-full-payload", [
            full_payload(a.tools / "ndpi_agreement.py", caps, work, profiles, rows), "",
            _blocks.provenance(started)], a.quick)
    if a.compare:
        from benchmarks._stat_alternatives import compare

        _blocks.emit("stat-compare", [
            compare(samples, scored, scorer), "", _blocks.provenance(started)], a.quick)
    if a.work is None:
        shutil.rmtree(work, ignore_errors=True)
    print(f"{time.monotonic() - started:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
