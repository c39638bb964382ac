"""Part `speed` of benchmarks/watch_vs_ndpi.py: packets per second, probescan and ndpiReader.

Each source capture is repeated with `tests.lab.traffic.make_large_capture` (every copy moves
the clients to other addresses and ports, later in time) to at least `packets` packets; then
`probescan watch -r BIG --no-probe -q` and `ndpiReader -i BIG` read the same file. Wall time
includes start-up; peak RSS comes from wait4. Prints the blocks `watch-speed` and
`readme-watch-speed`.
"""

from __future__ import annotations

import os
import re
import shlex
import struct
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks import _blocks
from tests.lab.traffic import make_large_capture


@dataclass(frozen=True)
class Source:
    """One capture to repeat: a short name, what it is, the file."""

    name: str
    what: str
    path: Path


@dataclass
class Timing:
    seconds: float
    max_rss_kb: int
    output: str


@dataclass(frozen=True)
class Row:
    source: Source
    packets: int
    flows: int
    ours: Timing
    peer: Timing
    peer_own: str  # ndpiReader's own throughput line (packet processing only)


def timed(argv: list[str]) -> Timing:
    t0 = time.monotonic()
    proc = subprocess.Popen(argv, cwd=_blocks.ROOT, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert proc.stdout is not None
    output = proc.stdout.read().decode("utf-8", "replace")
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    secs = time.monotonic() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{argv[0]} exited {proc.returncode}: {output[-2000:]}")
    return Timing(secs, int(usage.ru_maxrss), output)


def merge_ethernet_pcaps(srcs: list[Path], out: Path) -> int:
    """One classic pcap of every Ethernet frame of the given classic pcap files, each file's
    timestamps moved to follow the previous one's; returns the number of frames."""
    from scapy.utils import RawPcapReader

    n, base = 0, 1_700_000_000.0
    with out.open("wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
        for src in srcs:
            try:
                reader = RawPcapReader(str(src))
            except Exception:  # pcapng or damaged: left out
                continue
            if getattr(reader, "linktype", None) != 1:
                reader.close()
                continue
            last = base
            for data, _meta in reader:
                # order kept, gaps squeezed to 1 ms: some captures span months, and the
                # copies made from this file must still fit pcap's 32-bit seconds
                last = base + 0.001 * n
                f.write(struct.pack("<IIII", int(last), int((last % 1) * 1e6), len(data),
                                    len(data)))
                f.write(data)
                n += 1
            reader.close()
            base = last + 1.0
    return n


def _count_frames(pcap: Path) -> int:
    from scapy.utils import RawPcapReader

    with RawPcapReader(str(pcap)) as reader:
        return sum(1 for _ in reader)


def _count_flows(pcap: Path, tmp: Path) -> int:
    out = tmp / (pcap.stem + ".flows.jsonl")
    subprocess.run([sys.executable, "-m", "probescan", "watch", "-r", str(pcap), "--no-probe",
                    "-q", "-o", str(out)], cwd=_blocks.ROOT, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return sum(1 for line in out.read_text().splitlines() if line.strip())


def _best(argv: list[str], runs: int) -> Timing:
    best: Timing | None = None
    for _ in range(runs):
        t = timed(argv)
        if best is None or t.seconds < best.seconds:
            best = t
    assert best is not None
    return best


def measure(src: Source, tmp: Path, packets: int, runs: int) -> Row:
    frames = _count_frames(src.path)
    copies = max(1, -(-packets // frames))
    big = tmp / f"big-{src.path.stem}.pcap"
    written = make_large_capture(src.path, big, copies)
    flows = _count_flows(src.path, tmp) * copies
    print(f"{src.name}: {written:,} packets ({copies} copies of {frames}), ~{flows:,} flows, "
          f"{big.stat().st_size / 1e6:.0f} MB", flush=True)
    ours = _best([sys.executable, "-m", "probescan", "watch", "-r", str(big), "--no-probe",
                  "-q"], runs)
    peer = _best(["ndpiReader", "-i", str(big)], runs)
    m = re.search(r"nDPI throughput:\s+(.*)", peer.output)
    big.unlink()
    return Row(src, written, flows, ours, peer, m.group(1).strip() if m else "")


def _cell(t: Timing, packets: int) -> str:
    return (f"{packets / t.seconds:,.0f} pkt/s ({t.seconds:.1f} s, "
            f"{t.max_rss_kb / 1024:,.0f} MB)")


def part_speed(sources: list[Source], tmp: Path, packets: int, runs: int, started: float,
               quick: bool) -> None:
    print(f"\n## speed: packets per second ({packets:,} packets or more)\n", flush=True)
    rows = [measure(src, tmp, packets, runs) for src in sources]
    peer = f"ndpiReader {_blocks.ndpi_version()}"
    lines = [
        _blocks.data_line(_blocks.DEVELOPMENT, "captures probescan's watcher was profiled "
                          "and tuned on, each repeated (clients moved to other addresses and "
                          "ports in every copy) to the size below; both tools read the same "
                          "file.") + "",
        "",
        f"| capture | packets | flows | probescan watch --no-probe | {peer} (the peer) |",
        "|---|---:|---:|---:|---:|",
        *(f"| {r.source.what} | {r.packets:,} | ~{r.flows:,} | {_cell(r.ours, r.packets)} | "
          f"{_cell(r.peer, r.packets)} |" for r in rows),
        "",
        f"Best of {runs}; wall time includes start-up (Python imports and the fingerprint "
        "catalogue for probescan, nDPI's set-up); peak RSS from wait4 (it includes the "
        "memory-mapped capture). ndpiReader's own figure, packet processing only: "
        + "; ".join(f"{r.source.name} {r.peer_own}" for r in rows if r.peer_own) + ".",
        "",
        "Commands: " + ", ".join(f"`{c}`" for c in (
            "python3 -m probescan watch -r BIG.pcap --no-probe -q", "ndpiReader -i BIG.pcap")),
        "",
        _blocks.provenance(started),
    ]
    _blocks.emit("watch-speed", lines, quick)
    summary = "; ".join(
        f"{r.source.name}: probescan {r.packets / r.ours.seconds:,.0f} packets/s, {peer} "
        f"{r.packets / r.peer.seconds:,.0f}" for r in rows)
    _blocks.emit("readme-watch-speed",
                 [f"- Throughput ({_blocks.DEVELOPMENT}, ~{packets:,}-packet captures, "
                  f"reading a file): {summary}."], quick)
    print("commands: " + shlex.join(["probescan", "watch", "-r", "BIG", "--no-probe", "-q"]))
