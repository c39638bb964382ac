"""Tool tells: what in a probe's headers names the program that sent it (pure).

Each probe that opens an attempt gets a bit mask of the tells it shows (`probe_tells`); a
source keeps a count per mask, its source ports and the spread of its TTLs. `decide` weighs
a scan's counts and names the tool with the tells that support it and how sure that is.
docs/scans.md gives each tell's source; in short:

* masscan: IP ID = (destination address XOR destination port XOR sequence number) mod 2**16
  (a chance match is 1 in 65,536 per probe: certain over a few probes); TTL 255, window 1024,
  no TCP option, one source port for the whole scan;
* zmap: IP ID 54321 on every probe (releases before March 2024: certain); later releases
  randomise the IP ID, leaving TTL 255 and window 65535 (likely);
* nmap's raw probes: window 1024 (or 2048, 3072, 4096), MSS as the only option of a SYN and
  no option on FIN/NULL/Xmas/ACK probes, random IP IDs, a TTL drawn anew per probe
  (observed 37..59) and, within one scan, a source port or two, each with one sequence
  number (strong when all hold, likely on the window and options alone).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from probescan.scans.headers import OPT_MSS, OPT_NONE, OPT_OS

ZMAP_ID = 1  # IP ID 54321
MASSCAN_ID = 2  # IP ID = dst ^ dport ^ seq (16 bits)
TTL_255 = 4  # initial TTL 255 (seen above 192)
WIN_1024 = 8
WIN_65535 = 16
WIN_NMAP = 32  # 2048, 3072 or 4096: nmap's other windows
MSS_ONLY = 64  # a SYN whose only option is MSS
NO_OPTIONS = 128
OS_OPTIONS = 256  # SACK-permitted or timestamps: an operating system's own SYN
TCP_PROBE = 512
SYN_PROBE = 1024

NAMES = {
    ZMAP_ID: "IP ID 54321",
    MASSCAN_ID: "IP ID = destination ^ port ^ sequence (16 bits)",
    TTL_255: "initial TTL 255",
    WIN_1024: "TCP window 1024",
    WIN_65535: "TCP window 65535",
    WIN_NMAP: "TCP window 2048, 3072 or 4096",
    MSS_ONLY: "SYN with MSS as its only option",
    NO_OPTIONS: "no TCP option",
    OS_OPTIONS: "TCP options of an operating system (SACK, timestamps)",
}
_WINDOWS = {1024: WIN_1024, 65535: WIN_65535, 2048: WIN_NMAP, 3072: WIN_NMAP, 4096: WIN_NMAP}
_OPTIONS = {OPT_NONE: NO_OPTIONS, OPT_MSS: MSS_ONLY, OPT_OS: OS_OPTIONS}


def probe_tells(tcp: bool, syn: bool, dst: int, dport: int, seq: int, ipid: int, ttl: int,
                win: int, opts: int) -> int:
    """The tell mask of one probe (IPv6 has no IP ID: give -1)."""
    t = (ZMAP_ID if ipid == 54321 else 0) | (TTL_255 if ttl > 192 else 0)
    if tcp:
        t |= TCP_PROBE | _WINDOWS.get(win, 0) | _OPTIONS.get(opts, 0)
        if syn:
            t |= SYN_PROBE
        if ipid == (dst ^ dport ^ seq) & 0xFFFF:
            t |= MASSCAN_ID
    return t


@dataclass(frozen=True, slots=True)
class Tells:
    """What a scan's probes showed, summed over its sources."""

    masks: Mapping[int, int]  # tell mask -> probes
    sources: int  # sending addresses
    source_ports: int  # distinct source ports (counted up to a cap per address)
    same_seq: int  # probes with the sequence number of the last probe from their source port
    ttl_spread: int  # highest minus lowest TTL of the probes of one source (the widest)
    ttl_max: int


@dataclass(frozen=True, slots=True)
class Verdict:
    tool: str  # nmap, masscan, zmap, unknown
    certainty: str  # certain, strong, likely, none
    evidence: list[tuple[str, int, int]]  # (tell, probes that show it, probes looked at)


def _count(masks: Mapping[int, int], bit: int, within: int = 0) -> int:
    return sum(n for m, n in masks.items() if m & bit and (not within or m & within))


def decide(t: Tells) -> Verdict:
    """Name the tool of a scan from its tells; `unknown` when nothing holds on 90 %."""
    m = t.masks
    probes = sum(m.values())
    tcp = _count(m, TCP_PROBE)
    syn = _count(m, SYN_PROBE)
    if not probes:
        return Verdict("unknown", "none", [])

    def most(n: int, of: int) -> bool:
        return of >= 2 and n * 10 >= of * 9

    def ev(bit: int, of: int, within: int = 0) -> tuple[str, int, int]:
        return (NAMES[bit], _count(m, bit, within), of)

    masscan = _count(m, MASSCAN_ID)
    if most(masscan, tcp):
        extra = [ev(b, tcp) for b in (TTL_255, WIN_1024, NO_OPTIONS) if most(_count(m, b), tcp)]
        if t.sources == 1 and t.source_ports == 1:
            extra.append(("one source port", tcp, tcp))
        return Verdict("masscan", "certain" if tcp >= 4 else "strong",
                       [ev(MASSCAN_ID, tcp), *extra])
    zmap = _count(m, ZMAP_ID)
    if most(zmap, probes):
        extra = [ev(b, tcp) for b in (TTL_255, WIN_65535) if tcp and most(_count(m, b), tcp)]
        return Verdict("zmap", "certain" if probes >= 4 else "strong",
                       [ev(ZMAP_ID, probes), *extra])
    ttl255, win65535 = _count(m, TTL_255, TCP_PROBE), _count(m, WIN_65535)
    if most(ttl255, tcp) and most(win65535, tcp):
        return Verdict("zmap", "likely", [ev(TTL_255, tcp, TCP_PROBE), ev(WIN_65535, tcp)])
    nmap_win = _count(m, WIN_1024) + _count(m, WIN_NMAP)
    opts_ok = _count(m, MSS_ONLY, SYN_PROBE) + sum(
        n for mask, n in m.items() if mask & TCP_PROBE and not mask & SYN_PROBE
        and mask & NO_OPTIONS)
    if tcp and most(nmap_win, tcp) and most(opts_ok, tcp) and not most(ttl255, tcp):
        evidence = [("TCP window 1024 to 4096", nmap_win, tcp)]
        if syn:
            evidence.append(ev(MSS_ONLY, syn, SYN_PROBE))
        if tcp - syn:
            evidence.append(("no TCP option on a probe without SYN", opts_ok -
                             _count(m, MSS_ONLY, SYN_PROBE), tcp - syn))
        same = min(tcp, t.same_seq + t.source_ports)
        strong = [("one sequence number per source port", same, tcp)]
        certainty = "likely"
        if most(same, tcp) and tcp >= 4:
            evidence += strong
            certainty = "strong"
        if t.ttl_spread >= 4 and t.ttl_max < 64:
            evidence.append(("TTL drawn anew per probe", tcp, tcp))
        return Verdict("nmap", certainty, evidence)
    udp = probes - tcp
    if udp and not tcp and t.ttl_spread >= 4 and t.ttl_max < 64 and t.source_ports <= t.sources:
        return Verdict("nmap", "likely", [("TTL drawn anew per probe", udp, udp),
                                          ("one source port", udp, udp)])
    return Verdict("unknown", "none", [])
