"""A flow's behaviour: sizes, directions and timing, never a port (pure).

`Behaviour` is what the flow table kept of a flow (watch/flows.py): the signed sizes and
times of its first payload packets (sizes on the wire, so a headers-only capture has them),
packet and byte counts, SYN/RST/FIN, who spoke first, how long it lasted, whether its server
address is a group address (multicast/broadcast: one-to-many traffic, not a port or an
address), and, when the payload was captured, the entropy and bit balance of each side's
first message (a first message that looks random is itself evidence of encryption).

`vector` turns it into the attribute meters the statistical layer compares (each a short
vector of numbers, histograms normalised to 1), flattened and pre-weighted so that the
distance of two flows is one pass of L1 (`distance`):

    packets  direction and log size of each of the first 8 payload packets
    runs     the first 6 runs of packets one way (a message and its segments): direction,
             log bytes, log packets
    c2s/s2c  histograms of the client's and the server's payload sizes (SIZE_BINS)
    gaps     histogram of the gaps between payload packets (log scale, 0.1 ms .. 10 s)
    flow     who spoke first, group address, log payload packets, the client's share of
             the bytes, TCP handshake seen, reset, log packets, log bytes
    entropy  entropy/8 and share of one bits of each side's first message (payload only)
"""

from __future__ import annotations

import ipaddress
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from operator import sub
from typing import Protocol

FEATURES_VERSION = 1  # profiles of another version are refused (features changed)

FIRST_PACKETS = 8  # payload packets whose size is a feature by position
FIRST_RUNS = 6  # runs (consecutive packets one way) whose size is a feature by position
SIZE_BINS = (0, 32, 64, 128, 256, 512, 1024, 1400)  # lower edges of the size histograms
GAP_BINS = 10  # gap histogram: 0.1 ms .. 10 s in half decades, the last open-ended
ENTROPY_BYTES = 256  # of each side's first message

# The meters in the order of the flat vector, with their length and weight (measured by
# benchmarks/stat_loco.py: the runs tell most, single packets' positions least).
GROUPS: tuple[tuple[str, int, float], ...] = (
    ("packets", 3 * FIRST_PACKETS, 0.5),
    ("runs", 4 * FIRST_RUNS, 4.0),
    ("c2s", len(SIZE_BINS), 2.0),
    ("s2c", len(SIZE_BINS), 2.0),
    ("gaps", GAP_BINS, 1.0),
    ("flow", 8, 1.0),
)
ENTROPY_GROUP: tuple[str, int, float] = ("entropy", 4, 1.0)
CORE_WEIGHT = sum(w for _, _, w in GROUPS)
CORE_LENGTH = sum(n for _, n, _ in GROUPS)


class SideView(Protocol):
    @property
    def packets(self) -> int: ...
    @property
    def bytes(self) -> int: ...
    @property
    def syn(self) -> int: ...
    @property
    def rst(self) -> int: ...
    @property
    def fin(self) -> bool: ...
    @property
    def data(self) -> bytearray: ...
    @property
    def ends(self) -> list[int]: ...


class FlowView(Protocol):
    """What `behaviour_of` reads of a flow (watch.flows.Flow)."""

    @property
    def transport(self) -> str: ...
    @property
    def server(self) -> tuple[str, int]: ...
    @property
    def roles(self) -> str: ...
    @property
    def reset(self) -> bool: ...
    @property
    def first(self) -> str | None: ...
    @property
    def first_seen(self) -> float: ...
    @property
    def last_seen(self) -> float: ...
    @property
    def sizes(self) -> list[int]: ...
    @property
    def times(self) -> list[float]: ...
    @property
    def c2s(self) -> SideView: ...
    @property
    def s2c(self) -> SideView: ...


@dataclass(frozen=True, slots=True)
class Behaviour:
    transport: str
    sizes: tuple[int, ...]  # first payload packets: + from the client, - from the server
    times: tuple[float, ...]
    packets: tuple[int, int]  # client to server, server to client
    bytes: tuple[int, int]
    syn: tuple[int, int]
    rst: tuple[int, int]
    fin: tuple[bool, bool]
    handshake: bool  # the TCP handshake was seen (roles from SYN)
    first: str | None  # who sent payload first
    duration: float
    group: bool  # the server address is multicast or broadcast
    entropy: tuple[float, float, float, float] | None  # see first_bytes; None: no payload

    @property
    def payload_packets(self) -> int:
        return len(self.sizes)


def behaviour_of(flow: FlowView, entropy: bool = False) -> Behaviour:
    """The flow's behaviour; the first messages' entropy only when asked (it reads every
    byte of them: the statistical layer asks, for the flows it compares)."""
    c, s = flow.c2s, flow.s2c
    ent = None
    if entropy:
        c_first = _first_message(c.data, c.ends)
        s_first = _first_message(s.data, s.ends)
        if c_first or s_first:
            ent = (*first_bytes(c_first), *first_bytes(s_first))
    return Behaviour(
        flow.transport, tuple(flow.sizes), tuple(flow.times), (c.packets, s.packets),
        (c.bytes, s.bytes), (c.syn, s.syn), (c.rst, s.rst), (c.fin, s.fin),
        flow.roles == "handshake", flow.first, max(0.0, flow.last_seen - flow.first_seen),
        group_address(flow.server[0]), ent)


def _first_message(data: bytearray, ends: list[int]) -> bytes:
    end = ends[0] if ends else len(data)
    return bytes(data[:min(end, ENTROPY_BYTES)])


def first_bytes(data: bytes) -> tuple[float, float]:
    """(Shannon entropy in bits per byte / 8, share of one bits) of a message; (0, 0) when
    empty. Random bytes give about (1 - small, 0.5); text about (0.6, 0.4)."""
    if not data:
        return 0.0, 0.0
    n = len(data)
    h = -sum(k / n * math.log2(k / n) for k in Counter(data).values())
    return round(h / 8, 3), round(int.from_bytes(data, "big").bit_count() / (8 * n), 3)


@lru_cache(maxsize=4096)
def group_address(ip: str) -> bool:
    """Multicast, or an IPv4 broadcast (all ones, or a host part .255 of a /24)."""
    try:
        addr = ipaddress.ip_address(ip.split("%", 1)[0])
    except ValueError:
        return False
    return addr.is_multicast or (addr.version == 4 and ip.endswith(".255"))


def size_bin(n: int) -> int:
    for i in range(len(SIZE_BINS) - 1, -1, -1):
        if n >= SIZE_BINS[i]:
            return i
    return 0


def size_histograms(sizes: Sequence[int]) -> tuple[list[int], list[int]]:
    """Counts of the client's and the server's payload sizes over SIZE_BINS."""
    c, s = [0] * len(SIZE_BINS), [0] * len(SIZE_BINS)
    for n in sizes:
        if n > 0:
            c[size_bin(n)] += 1
        else:
            s[size_bin(-n)] += 1
    return c, s


def _log(n: float, top: float) -> float:
    return min(1.0, math.log2(1 + n) / top)


def runs(sizes: Sequence[int]) -> list[tuple[int, int, int]]:
    """(direction +1/-1, bytes, packets) of each run of consecutive packets one way."""
    out: list[tuple[int, int, int]] = []
    for n in sizes:
        d = 1 if n > 0 else -1
        if out and out[-1][0] == d:
            _, b, k = out[-1]
            out[-1] = (d, b + abs(n), k + 1)
        else:
            out.append((d, abs(n), 1))
    return out


def _gap_bin(dt: float) -> int:
    if dt <= 1e-4:
        return 0
    return min(GAP_BINS - 1, int(math.log10(dt / 1e-4) * 2) + 1)


def _normalised(counts: list[int]) -> list[float]:
    n = sum(counts)
    return [k / n for k in counts] if n else [0.0] * len(counts)


def meters(b: Behaviour) -> dict[str, list[float]]:
    """The attribute meters of a flow, by name (unweighted)."""
    sizes = b.sizes
    packets: list[float] = []
    for i in range(FIRST_PACKETS):
        n = sizes[i] if i < len(sizes) else 0
        packets += [float(n > 0), float(n < 0), _log(abs(n), 11)]
    run_list = runs(sizes)
    run_meter: list[float] = []
    for i in range(FIRST_RUNS):
        if i < len(run_list):
            d, nbytes, k = run_list[i]
            run_meter += [float(d > 0), float(d < 0), _log(nbytes, 11), _log(k, 5)]
        else:
            run_meter += [0.0, 0.0, 0.0, 0.0]
    c_hist, s_hist = size_histograms(sizes)
    gaps = [0] * GAP_BINS
    t = b.times
    for i in range(1, len(t)):
        gaps[_gap_bin(t[i] - t[i - 1])] += 1
    total = b.bytes[0] + b.bytes[1]
    flow = [float(b.first == "client"), float(b.group), _log(len(sizes), 5),
            b.bytes[0] / total if total else 0.5, float(b.handshake),
            float(b.rst[0] + b.rst[1] > 0), _log(b.packets[0] + b.packets[1], 16),
            _log(total, 24)]
    out = {"packets": packets, "runs": run_meter, "c2s": _normalised(c_hist),
           "s2c": _normalised(s_hist), "gaps": _normalised(gaps), "flow": flow}
    if b.entropy is not None:
        out["entropy"] = list(b.entropy)
    return out


Vector = tuple[float, ...]


def flatten(m: dict[str, list[float]]) -> tuple[Vector, Vector | None]:
    """(the weighted core meters, the weighted entropy meter or None)."""
    core: list[float] = []
    for name, length, weight in GROUPS:
        values = m[name]
        if len(values) != length:
            raise ValueError(f"meter {name!r} has {len(values)} values, not {length}")
        core += [v * weight for v in values]
    ent = m.get("entropy")
    if ent is None:
        return tuple(core), None
    name, length, weight = ENTROPY_GROUP
    if len(ent) != length:
        raise ValueError(f"meter {name!r} has {len(ent)} values, not {length}")
    return tuple(core), tuple(v * weight for v in ent)


def vector(b: Behaviour) -> tuple[Vector, Vector | None]:
    return flatten(meters(b))


def distance(a: tuple[Vector, Vector | None], b: tuple[Vector, Vector | None]) -> float:
    """Weighted L1 over the meters both have, divided by their weights: 0 identical; each
    meter's part is at most 2 (opposite histograms) or its length (position meters)."""
    d: float = sum(map(abs, map(sub, a[0], b[0])))
    weight = CORE_WEIGHT
    if a[1] is not None and b[1] is not None:
        d += sum(map(abs, map(sub, a[1], b[1])))
        weight += ENTROPY_GROUP[2]
    return d / weight
