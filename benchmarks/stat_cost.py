"""What the behaviour features and the statistical layer cost `watch -r --no-probe`: the same
captures read by this checkout and by the newest commit before the statistical layer (the
base), by CPU time (user + system: steady on a shared machine), best of N runs, interleaved.

    python3 benchmarks/stat_cost.py                       # base: the newest commit without it
    python3 benchmarks/stat_cost.py --base main --runs 5 --packets 300000
    python3 benchmarks/stat_cost.py --quick               # small captures: does it run?

Three runs per capture, each `watch -r FILE --no-probe -q --workers 0` (one process, so its
CPU time is all of it):

* base: the commit before the layer (`git rev-list --date-order HEAD`: the newest ancestor
  without probescan/classify/ and the flow table's sizes, i.e. main as it was merged last);
* features: this checkout with `--classifiers rules,parsers` (the per-packet part: sizes
  and times kept in the flow table, behaviour in each record; no comparison);
* all: this checkout with every layer (the statistical comparison of unknown flows too).

Captures (built once in --work): nDPI's Ethernet captures merged (benchmarks/_watch_speed.py)
and repeated with shifted clients (tests/lab/traffic_large.py) — a real mix, most of it
short flows; nDPI's ftp.pcap repeated — few flows, bulk transfers, where the per-packet cost
shows.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks import _blocks  # noqa: E402
from benchmarks._watch_speed import merge_ethernet_pcaps  # noqa: E402
from tests.lab.traffic_large import make_large_capture  # noqa: E402

# Read by tests/benchmarks/test_quick.py: --quick may skip even in CI, for this reason.
QUICK_SKIP_ALLOWED = ("nDPI's captures live in shared/ beside the checkout, not in the "
                      "repository (a clean clone has none)")
FEATURES_FILE = "probescan/classify/features.py"
FLOWS_FILE, SIZES_MARK = "probescan/watch/flows.py", "MAX_SIZES"  # the flow table's sizes
QUICK_CAPTURES = 20  # nDPI captures merged in --quick


def ndpi_dir() -> Path | None:
    for d in ROOT.parents:
        if (d / "shared" / "pcaps" / "ndpi").is_dir():
            return d / "shared" / "pcaps" / "ndpi"
    return None


def base_commit() -> str | None:
    """The newest ancestor of HEAD without the statistical layer (None: none in reach)."""
    out = subprocess.run(["git", "-C", str(ROOT), "rev-list", "--date-order", "HEAD"],
                         capture_output=True, text=True, check=False)
    for commit in out.stdout.split()[:2000]:
        has = subprocess.run(["git", "-C", str(ROOT), "cat-file", "-e",
                              f"{commit}:{FEATURES_FILE}"], capture_output=True, check=False)
        flows = subprocess.run(["git", "-C", str(ROOT), "show", f"{commit}:{FLOWS_FILE}"],
                               capture_output=True, text=True, check=False).stdout
        if has.returncode != 0 and SIZES_MARK not in flows:
            return commit
    return None


def export(ref: str, dst: Path) -> Path:
    if (dst / "probescan").is_dir():
        return dst
    dst.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", ref], capture_output=True,
                             check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(dst)], input=archive, check=True)
    return dst


def run(tree: Path, capture: Path, extra: list[str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one `watch -r` in `tree`."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    t0 = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "probescan", "watch", "-r", str(capture),
                             "--no-probe", "-q", "--workers", "0", *extra], cwd=tree,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
        raise SystemExit(f"stat_cost: watch failed in {tree}: {err.strip()[-300:]}")
    return wall, usage.ru_utime + usage.ru_stime


def frames(capture: Path) -> int:
    from scapy.utils import RawPcapReader

    with RawPcapReader(str(capture)) as r:
        return sum(1 for _ in r)


def build(ndpi: Path, work: Path, packets: int, quick: bool) -> list[tuple[str, Path, int]]:
    caps = []
    srcs = sorted(ndpi.glob("*.pcap"))
    mix = work / ("mix-quick.pcap" if quick else "mix.pcap")
    if not mix.exists():
        merge_ethernet_pcaps(srcs[:: max(1, len(srcs) // QUICK_CAPTURES)] if quick else srcs,
                             mix)
    for name, src in (("nDPI mix", mix), ("ftp bulk", ndpi / "ftp.pcap")):
        big = work / f"big-{src.stem}-{packets}.pcap"
        if not big.exists():
            make_large_capture(src, big, max(1, -(-packets // frames(src))))
        caps.append((name, big, frames(big)))
    return caps


def main() -> int:
    started = time.monotonic()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--base", help="git ref to compare with (default: the newest commit "
                    "without the statistical layer)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--packets", type=int, default=300_000, help="per capture, at least")
    ap.add_argument("--ndpi", type=Path, default=ndpi_dir())
    ap.add_argument("--work", type=Path, help="keep the captures and the old tree here")
    ap.add_argument("--quick", action="store_true", help="20,000 packets, one run")
    a = ap.parse_args()
    if a.ndpi is None or not a.ndpi.is_dir():
        return _blocks.skip("nDPI's captures were not found (shared/pcaps/ndpi beside the "
                            "checkout); they are not part of this repository")
    if a.quick:
        a.runs, a.packets = 1, 20_000
    base = a.base or base_commit()
    if base is None:
        return _blocks.skip("no commit without the statistical layer in this history: "
                            "give --base")
    work = a.work or Path(tempfile.mkdtemp(prefix="stat-cost-"))
    work.mkdir(parents=True, exist_ok=True)
    old = export(base, work / f"base-{base[:12]}")
    caps = build(a.ndpi, work, a.packets, a.quick)
    variants = (("base", old, []), ("features", ROOT, ["--classifiers", "rules,parsers"]),
                ("all", ROOT, []))
    lines = [
        _blocks.data_line(_blocks.DEVELOPMENT, "nDPI's regression captures (`shared/pcaps/"
                          "ndpi`, not part of this repository), merged and repeated with "
                          "shifted clients; ftp.pcap repeated (bulk transfers)."),
        "",
        f"`watch -r FILE --no-probe -q --workers 0`, best of {a.runs} interleaved runs, "
        f"packets per second of CPU time (user + system) and of wall time. Base: "
        f"`{base[:10]}`, the newest commit without the statistical layer; *features*: this "
        "checkout with `--classifiers rules,parsers` (the per-packet features, no "
        "comparison); *all*: every layer. The peer is probescan's own base: ndpiReader "
        "has no such layer to switch off.",
        "",
        "| capture | packets | base pkt/s CPU | features pkt/s CPU | cost | all pkt/s CPU | "
        "cost | base / all pkt/s wall |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, big, n in caps:
        best = {k: [1e9, 1e9] for k, _, _ in variants}
        for _ in range(a.runs):
            for key, tree, extra in variants:
                wall, cpu = run(tree, big, extra)
                best[key] = [min(best[key][0], wall), min(best[key][1], cpu)]
        cpu = {k: v[1] for k, v in best.items()}
        lines.append(
            f"| {name} | {n:,} | {n / cpu['base']:,.0f} | {n / cpu['features']:,.0f} | "
            f"{100 * (1 - cpu['base'] / cpu['features']):.1f}% | {n / cpu['all']:,.0f} | "
            f"{100 * (1 - cpu['base'] / cpu['all']):.1f}% | "
            f"{n / best['base'][0]:,.0f} / {n / best['all'][0]:,.0f} |")
    lines += ["", "Cost: the share of throughput lost against the base (CPU time).", "",
              _blocks.provenance(started)]
    _blocks.emit("stat-cost", lines, a.quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())
