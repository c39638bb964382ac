"""How often the passive labels of probescan and of Debian's ndpiReader agree with nDPI's own.

Runs the scorer the project was given (`shared/tools/ndpi_agreement.py`, found beside the
checkout) twice over one folder of nDPI's regression captures (each NAME beside nDPI's
expected NAME.out): once for `probescan watch -r NAME --no-probe`, once with `--ndpi-reader`
for Debian's ndpiReader, the peer, on the same captures. nDPI's labels come from a newer nDPI
than Debian's 4.2, so ndpiReader does not score 100% on nDPI's own captures.

`--data development` (the default: `shared/pcaps/ndpi`, the captures probescan's detectors
were scored against while they were written) or `--data held-out` (captures nobody tuned
to, when you have them). Prints the blocks `ndpi-agreement-DATA` and
`readme-ndpi-agreement-DATA` (see benchmarks/_blocks.py).

    python3 benchmarks/ndpi_agreement.py                        # shared/pcaps/ndpi
    python3 benchmarks/ndpi_agreement.py DIR --data held-out
    python3 benchmarks/ndpi_agreement.py --ignore-method table,port   # payload only
    python3 benchmarks/ndpi_agreement.py --quick                # 3 captures: does it run?
"""

from __future__ import annotations

import argparse
import re
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import _blocks

# Read by tests/benchmarks/test_quick.py: --quick may skip even in CI, for this reason.
QUICK_SKIP_ALLOWED = ("nDPI's captures and the scorer live in shared/ beside the checkout, not "
                      "in the repository (a clean clone has neither)")
TOTAL = re.compile(r"agreement: (\d+)/(\d+) flows \(([\d.]+)%\), masters covered: (\d+)/(\d+)")
QUICK_CAPTURES = ("ftp.pcap", "dns_long_domainname.pcap", "ssh.pcap")
DATA = {
    "development": (_blocks.DEVELOPMENT, "the nDPI project's regression captures in "
                    "`shared/pcaps/ndpi` (not part of this repository), the captures "
                    "probescan's payload detectors were scored against while they were written"),
    "held-out": (_blocks.HELD_OUT, "nDPI regression captures kept apart from development: "
                 "nobody tuned probescan to them"),
}


def shared_dir() -> Path | None:
    """`shared/` beside the checkout (or beside the folder of worktrees)."""
    for d in _blocks.ROOT.parents:
        if (d / "shared" / "tools" / "ndpi_agreement.py").is_file():
            return d / "shared"
    return None


def score(scorer: Path, folder: Path, extra: list[str], keep: Path | None) -> tuple[str, str]:
    """(the scorer's totals line, its whole output)."""
    argv = [sys.executable, str(scorer), str(folder), *extra]
    if keep is not None:
        argv += ["--keep", str(keep)]
    done = subprocess.run(argv, capture_output=True, text=True, check=True, cwd=_blocks.ROOT)
    lines = [ln for ln in done.stdout.splitlines() if TOTAL.search(ln)]
    if not lines:
        raise SystemExit(f"ndpi_agreement: no totals in the scorer's output:\n{done.stdout}")
    return lines[-1], done.stdout


def _row(tool: str, totals: str) -> str:
    m = TOTAL.search(totals)
    assert m is not None
    return f"| {tool} | {m[1]}/{m[2]} | {m[3]} | {m[4]}/{m[5]} |"


def _quick_folder(folder: Path, tmp: Path) -> Path:
    """A folder of links to a few of the captures (and their .out files)."""
    for name in QUICK_CAPTURES:
        for path in (folder / name, folder / (name + ".out")):
            if path.is_file():
                (tmp / path.name).symlink_to(path)
    return tmp


def main() -> int:
    started = time.monotonic()
    shared = shared_dir()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", type=Path, nargs="?",
                    default=shared / "pcaps" / "ndpi" if shared else None,
                    help="captures beside nDPI's .out files (default: shared/pcaps/ndpi)")
    ap.add_argument("--scorer", type=Path,
                    default=shared / "tools" / "ndpi_agreement.py" if shared else None,
                    help="ndpi_agreement.py to run (default: shared/tools/)")
    ap.add_argument("--data", choices=sorted(DATA), default="development",
                    help="which data the folder is (named in the block)")
    ap.add_argument("--ignore-method", default="", help="passed to the scorer")
    ap.add_argument("--keep", type=Path, help="keep probescan's outputs here")
    ap.add_argument("--per-protocol", action="store_true", help="print the per-master lines")
    ap.add_argument("--quick", action="store_true", help="only 3 of the captures")
    a = ap.parse_args()
    if a.scorer is None or not a.scorer.is_file():
        return _blocks.skip(f"the scorer shared/tools/ndpi_agreement.py was not found "
                            f"({a.scorer or 'no shared/ beside the checkout'}); it is not part "
                            "of this repository")
    if a.folder is None or not a.folder.is_dir():
        return _blocks.skip(f"nDPI's captures were not found ({a.folder or 'shared/pcaps/ndpi'}); "
                            "they are not part of this repository")
    probescan = shlex.join([sys.executable, "-m", "probescan"])
    extra = ["--probescan", probescan]
    if a.ignore_method:
        extra += ["--ignore-method", a.ignore_method]
    with tempfile.TemporaryDirectory(prefix="ndpi-quick-") as tmp:
        folder = _quick_folder(a.folder, Path(tmp)) if a.quick else a.folder
        ours, ours_all = score(a.scorer, folder, extra, a.keep)
        peer, _ = score(a.scorer, folder, ["--ndpi-reader"], None)
        captures = sum(1 for p in folder.iterdir() if p.suffix != ".out")
    if a.per_protocol:
        print(ours_all)
    kind, what = DATA[a.data]
    peer_name = f"ndpiReader {_blocks.ndpi_version()} (Debian; the peer)"
    payload = f", records labelled by {a.ignore_method} read as unknown" if a.ignore_method else ""
    lines = [
        _blocks.data_line(kind, f"{captures} captures: {what}.") + "",
        "",
        "Scored flow by flow by `shared/tools/ndpi_agreement.py` against nDPI's own DPI "
        f"labels (at most 10 flows per capture and protocol){payload}. The labels come from "
        "a newer nDPI than Debian's 4.2, so the peer does not score 100% on them either.",
        "",
        "| tool | flows agreeing with nDPI | % | protocols covered (half their flows or more) |",
        "|---|---:|---:|---:|",
        _row("probescan watch --no-probe", ours),
        _row(peer_name, peer),
        "",
        _blocks.provenance(started),
    ]
    name = a.data + ("-payload" if a.ignore_method else "")
    _blocks.emit(f"ndpi-agreement-{name}", lines, a.quick)
    m_ours, m_peer = TOTAL.search(ours), TOTAL.search(peer)
    assert m_ours is not None and m_peer is not None
    summary = (f"- nDPI's captures ({kind}, {captures} captures): probescan's passive labels "
               f"agree with nDPI's on {m_ours[1]}/{m_ours[2]} flows ({m_ours[3]}%); "
               f"ndpiReader {_blocks.ndpi_version()}: {m_peer[1]}/{m_peer[2]} ({m_peer[3]}%).")
    _blocks.emit(f"readme-ndpi-agreement-{name}", [summary], a.quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())
