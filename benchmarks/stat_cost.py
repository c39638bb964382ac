"""What the behaviour features and the statistical layer cost `watch -r --no-probe`, by CPU
time (user + system: steady on a shared machine), best of N interleaved runs.

    python3 benchmarks/stat_cost.py                       # 300,000 packets a capture, 3 runs
    python3 benchmarks/stat_cost.py --runs 5 --base REF   # also against a git ref
    python3 benchmarks/stat_cost.py --quick               # small captures: does it run?

Each run is `watch -r FILE --no-probe -q --workers 0` (one process, so its CPU time is all
of it), in three ways on this checkout:

* without: the flow table keeps no sizes or times (watch/flows.py's MAX_SIZES set to 0 in
  the process) and `--classifiers rules,parsers` (no forest): the watcher as it would be
  without the layer (the payload size read from the IP length and the SYN/RST counters
  stay: a few operations a packet);
* features: the sizes and times kept, `--classifiers rules,parsers`: the per-packet part;
* all: every layer, as `watch` runs by default (the profiles read at start, the forest for
  each flow nothing else named).

`--base REF` also runs a tree exported from a git ref (e.g. main before the layer).

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
WITHOUT = ("import sys; import probescan.watch.flows as f; f.MAX_SIZES = 0; "
           "from probescan.cli.main import main; sys.exit(main(sys.argv[1:]))")
QUICK_CAPTURES = 20  # nDPI captures merged in --quick


def ndpi_dir() -> Path | None:
    for d in ROOT.parents:
        if (d / "shared" / "pcaps" / "ndpi").is_dir():
            return d / "shared" / "pcaps" / "ndpi"
    return None


def export(ref: str, dst: Path) -> Path:
    if (dst / "probescan").is_dir():
        return dst
    dst.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", ref], capture_output=True,
                             check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(dst)], input=archive, check=True)
    return dst


def run(tree: Path, capture: Path, extra: list[str], without: bool = False
        ) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one `watch -r` in `tree`."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    start = ["-c", WITHOUT] if without else ["-m", "probescan"]
    t0 = time.monotonic()
    proc = subprocess.Popen([sys.executable, *start, "watch", "-r", str(capture),
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
    ap.add_argument("--base", help="also run the tree of this git ref")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--packets", type=int, default=300_000, help="per capture, at least")
    ap.add_argument("--ndpi", type=Path, default=ndpi_dir())
    ap.add_argument("--work", type=Path, help="keep the captures (and the old tree) here")
    ap.add_argument("--quick", action="store_true", help="20,000 packets, one run")
    a = ap.parse_args()
    if a.ndpi is None or not a.ndpi.is_dir():
        return _blocks.skip("nDPI's captures were not found (shared/pcaps/ndpi beside the "
                            "checkout); they are not part of this repository")
    if a.quick:
        a.runs, a.packets = 1, 20_000
    work = a.work or Path(tempfile.mkdtemp(prefix="stat-cost-"))
    work.mkdir(parents=True, exist_ok=True)
    caps = build(a.ndpi, work, a.packets, a.quick)
    layers = ["--classifiers", "rules,parsers"]
    variants: list[tuple[str, Path, list[str], bool]] = [
        ("without", ROOT, layers, True), ("features", ROOT, layers, False),
        ("all", ROOT, [], False)]
    if a.base:
        variants.append(("base", export(a.base, work / f"base-{a.base.replace('/', '-')}"),
                         [], False))
    lines = [
        _blocks.data_line(_blocks.DEVELOPMENT, "nDPI's regression captures (`shared/pcaps/"
                          "ndpi`, not part of this repository), merged and repeated with "
                          "shifted clients; ftp.pcap repeated (bulk transfers)."),
        "",
        f"`watch -r FILE --no-probe -q --workers 0`, best of {a.runs} interleaved runs, "
        "packets per second of CPU time (user + system). *without*: the flow table keeps no "
        "sizes or times and no forest runs (`--classifiers rules,parsers`); *features*: the "
        "sizes and times kept (the per-packet part); *all*: every layer (`watch`'s default)"
        + (f"; *base*: the tree of `{a.base}`" if a.base else "")
        + ". The peer is probescan without the layer: ndpiReader has no such layer to "
        "switch off.",
        "",
        "| capture | packets | without pkt/s | features pkt/s | cost | all pkt/s | cost |"
        + (" base pkt/s |" if a.base else ""),
        "|---|---:|---:|---:|---:|---:|---:|" + ("---:|" if a.base else ""),
    ]
    for name, big, n in caps:
        best = {k: 1e9 for k, _, _, _ in variants}
        for _ in range(a.runs):
            for key, tree, extra, without in variants:
                best[key] = min(best[key], run(tree, big, extra, without)[1])
        lines.append(
            f"| {name} | {n:,} | {n / best['without']:,.0f} | {n / best['features']:,.0f} | "
            f"{100 * (1 - best['without'] / best['features']):.1f}% | "
            f"{n / best['all']:,.0f} | {100 * (1 - best['without'] / best['all']):.1f}% |"
            + (f" {n / best['base']:,.0f} |" if a.base else ""))
    lines += ["", "Cost: the share of throughput lost against *without* (CPU time).", "",
              _blocks.provenance(started)]
    _blocks.emit("stat-cost", lines, a.quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())
