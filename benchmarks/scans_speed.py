"""How fast `probescan scans -r` and `probescan watch -r --no-probe` read a capture of about
a million packets of scans, and how much memory they hold.

    python3 benchmarks/scans_speed.py                    # 1,000,000 packets
    python3 benchmarks/scans_speed.py --packets 200000 --keep /tmp/scans-bench

The capture is generated (nothing is sent anywhere): nmap-like vertical SYN scans answered
by resets, a masscan-like and a zmap-like horizontal scan over a /16 (a few targets answer),
a UDP scan answered by ICMP port unreachable, and ordinary HTTP clients (8-packet flows),
interleaved over about a minute of capture time; addresses from the documentation,
benchmarking and shared ranges, each scanner in a /24 of its own. Each command runs in its
own process; the table gives wall and CPU time, packets per second by each, and the
process's peak resident memory (which includes the memory-mapped capture file), beside
nDPI's `ndpiReader` (which also names scans, as flow risks) on the same file when it is
installed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks import _blocks

ROOT = Path(__file__).resolve().parent.parent
SYN, RST, ACK, PSH, FIN = 0x02, 0x04, 0x10, 0x08, 0x01
_IP = struct.Struct("!BBHHHBBHII")
_TCP = struct.Struct("!HHIIBBHHH")
_REC = struct.Struct("<IIII")
ETH = b"\x00" * 12 + b"\x08\x00"
MSS = b"\x02\x04\x05\xb4"


def _addr(text: str) -> int:
    a, b, c, d = (int(x) for x in text.split("."))
    return (a << 24) | (b << 16) | (c << 8) | d


def tcp(src: int, dst: int, sport: int, dport: int, flags: int, seq: int = 1, ack: int = 0,
        win: int = 64240, ipid: int = 1, ttl: int = 64, opts: bytes = b"",
        payload: bytes = b"") -> bytes:
    seg = _TCP.pack(sport, dport, seq, ack, (20 + len(opts)) // 4 << 4, flags, win, 0, 0)
    body = seg + opts + payload
    return ETH + _IP.pack(0x45, 0, 20 + len(body), ipid, 0, ttl, 6, 0, src, dst) + body


def udp(src: int, dst: int, sport: int, dport: int, ipid: int = 1, ttl: int = 50) -> bytes:
    body = struct.pack("!HHHH", sport, dport, 8, 0)
    return ETH + _IP.pack(0x45, 0, 28, ipid, 0, ttl, 17, 0, src, dst) + body


def unreachable(probe: bytes) -> bytes:
    ip = probe[14:42]
    src, dst = struct.unpack_from("!II", ip, 12)
    body = struct.pack("!BBHI", 3, 3, 0, 0) + ip
    return ETH + _IP.pack(0x45, 0, 20 + len(body), 9, 0, 64, 1, 0, dst, src) + body


def nmap() -> Iterator[bytes]:
    """Vertical SYN scans of 1,000 ports, one target after another, answered by RST."""
    scanner, n = _addr("198.51.100.7"), 0
    while True:
        target = _addr("203.0.113.0") + n % 250
        for port in range(1, 1001):
            yield tcp(scanner, target, 51000 + n % 8, port, SYN, seq=77, win=1024,
                      ttl=37 + port % 20, ipid=port * 7919 & 0xFFFF, opts=MSS)
            yield tcp(target, scanner, port, 51000 + n % 8, RST | ACK, ack=78, win=0)
        n += 1


def masscan() -> Iterator[bytes]:
    scanner, base, i = _addr("192.0.2.9"), _addr("100.64.0.0"), 0
    while True:
        dst, seq = base + (i * 40503) % 65536, (i * 2654435761) & 0xFFFFFFFF
        yield tcp(scanner, dst, 61000, 443, SYN, seq=seq, win=1024, ttl=255,
                  ipid=(dst ^ 443 ^ seq) & 0xFFFF)
        if i % 50 == 0:
            yield tcp(dst, scanner, 443, 61000, RST | ACK, ack=seq + 1, win=0)
        i += 1


def zmap() -> Iterator[bytes]:
    scanner, base, i = _addr("198.18.0.77"), _addr("100.65.0.0"), 0
    while True:
        dst, sport = base + (i * 7) % 65536, 32768 + i % 28000
        yield tcp(scanner, dst, sport, 80, SYN, seq=i * 31, win=65535, ttl=255, ipid=54321)
        if i % 20 == 0:
            yield tcp(dst, scanner, 80, sport, SYN | ACK, seq=5, ack=i * 31 + 1)
            yield tcp(scanner, dst, sport, 80, RST, seq=i * 31 + 1, ipid=54321, ttl=255)
        i += 1


def udp_scan() -> Iterator[bytes]:
    scanner, target, i = _addr("198.18.1.200"), _addr("203.0.113.250"), 0
    while True:
        probe = udp(scanner, target + i // 65535 % 4, 45000, 1 + i % 65535, ipid=i & 0xFFFF,
                    ttl=37 + i % 20)
        yield probe
        yield unreachable(probe)
        i += 1


def clients() -> Iterator[bytes]:
    """Ordinary clients: one page over a fresh connection, from many addresses."""
    i = 0
    while True:
        c, s = _addr("100.80.0.0") + i % 60000, _addr("203.0.113.80") + i % 5
        sp = 1024 + i % 60000
        yield tcp(c, s, sp, 80, SYN, seq=100, opts=MSS)
        yield tcp(s, c, 80, sp, SYN | ACK, seq=500, ack=101)
        yield tcp(c, s, sp, 80, ACK, seq=101, ack=501)
        yield tcp(c, s, sp, 80, ACK | PSH, seq=101, ack=501, payload=b"GET / HTTP/1.1\r\n\r\n")
        yield tcp(s, c, 80, sp, ACK | PSH, seq=501, ack=119,
                  payload=b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
        yield tcp(c, s, sp, 80, FIN | ACK, seq=119, ack=540)
        yield tcp(s, c, 80, sp, FIN | ACK, seq=540, ack=120)
        yield tcp(c, s, sp, 80, ACK, seq=120, ack=541)
        i += 1


MIX = ("nmap", "nmap", "masscan", "masscan", "masscan", "zmap", "udp", "clients", "clients",
       "clients")


def make_capture(path: Path, packets: int, seconds: float = 60.0) -> int:
    """Write the benchmark capture; returns the number of packets written."""
    sources = {"nmap": nmap(), "masscan": masscan(), "zmap": zmap(), "udp": udp_scan(),
               "clients": clients()}
    t0, step = 1_700_000_000.0, seconds / packets
    with path.open("wb") as out:
        out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        chunk: list[bytes] = []
        for n in range(packets):
            frame = next(sources[MIX[n % len(MIX)]])
            ts = t0 + n * step
            sec = int(ts)
            chunk.append(_REC.pack(sec, int((ts - sec) * 1e6), len(frame), len(frame)))
            chunk.append(frame)
            if len(chunk) >= 20000:
                out.write(b"".join(chunk))
                chunk.clear()
        out.write(b"".join(chunk))
    return packets


def measure(argv: list[str], cwd: Path) -> tuple[float, float, float]:
    """(wall seconds, CPU seconds, peak resident MB) of one command in its own process."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    err = proc.stderr.read().decode() if proc.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(argv)} failed: {err.strip()}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--packets", type=int, default=1_000_000)
    ap.add_argument("--keep", type=Path, help="keep the capture and outputs in this directory")
    ap.add_argument("--quick", action="store_true", help="20,000 packets: checks it runs")
    args = ap.parse_args()
    started = time.monotonic()
    packets = 20_000 if args.quick else args.packets
    work = args.keep or Path(tempfile.mkdtemp(prefix="scans-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    cap = work / "scans-bench.pcap"
    t0 = time.perf_counter()
    n = make_capture(cap, packets)
    print(f"capture: {n:,} packets, {cap.stat().st_size / 1e6:.0f} MB, written in "
          f"{time.perf_counter() - t0:.1f} s ({cap})")
    py = [sys.executable, "-m", "probescan"]
    runs = [
        ("probescan scans -r", [*py, "scans", "-r", str(cap), "-q", "-o",
                                str(work / "scans.jsonl")]),
        ("probescan watch -r --no-probe", [*py, "watch", "-r", str(cap), "--no-probe", "-q",
                                           "-o", str(work / "watch.jsonl")]),
        ("probescan watch -r --no-probe --all-flows",
         [*py, "watch", "-r", str(cap), "--no-probe", "-q", "--all-flows", "-o",
          str(work / "watch-all.jsonl")]),
    ]
    if shutil.which("ndpiReader"):
        runs.append(("ndpiReader -i (nDPI, peer)", ["ndpiReader", "-i", str(cap), "-q",
                                                    "-v", "0"]))
    load = os.getloadavg()[0]
    lines = [
        _blocks.data_line("synthetic packets", f"{n:,} generated packets: nmap-, masscan- and "
                          "zmap-like scans with their answers and ordinary HTTP clients "
                          "(nothing is sent)."),
        "",
        "| command | wall time (s) | packets/s (wall) | CPU time (s) | packets/s (CPU) | "
        "peak RSS (MB) |",
        "|---|---|---|---|---|---|",
    ]
    for name, argv in runs:
        wall, cpu, rss = measure(argv, ROOT)
        lines.append(f"| {name} | {wall:.2f} | {n / wall:,.0f} | {cpu:.2f} | "
                     f"{n / cpu:,.0f} | {rss:.0f} |")
    lines.append("")
    for name in ("scans.jsonl", "watch.jsonl", "watch-all.jsonl"):
        path = work / name
        if path.exists():
            records = path.read_text().splitlines()
            kinds = {k: sum(f'"kind":"{k}"' in line for line in records)
                     for k in ("scan", "flow")}
            lines.append(f"- {name}: {len(records):,} records ({kinds['scan']} scan, "
                         f"{kinds['flow']:,} flow)")
    lines += ["", f"Load average before the run: {load:.1f} (a shared machine inflates wall "
              "time; CPU time less so).", "", _blocks.provenance(started)]
    _blocks.emit("scans-speed", lines, args.quick)
    if args.keep is None:
        shutil.rmtree(work)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
