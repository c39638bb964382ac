"""A flow's behaviour: sizes, directions and timing, never a port (pure).

`Behaviour` is what the flow table kept of a flow (watch/flows.py): the signed sizes and
times of its first payload packets (sizes on the wire, so a headers-only capture has them),
packet and byte counts, SYN/RST/FIN, who spoke first, how long it lasted, whether its server
address is a group address (multicast/broadcast: one-to-many traffic, not a port or an
address), and, when the payload was captured, the entropy and bit balance of each side's
first message (shown in the record; a first message that looks random is evidence of
encryption, but the classifier does not read it: it must work on headers-only captures).

`features` turns it into the fixed-length vector the statistical layer's forest reads
(FEATURE_NAMES says what each number is):

    the first 12 payload packets, each: direction (+1 client, -1 server, 0 none), log2 size,
                  log10 gap since the previous payload packet
    per side      log2 of: packets, smallest, largest, mean size, standard deviation
    gaps          log10 of the smallest, largest and median gap between payload packets
    flow          who spoke first, group address, TCP handshake seen, resets and FINs of
                  each side, SYN retries, log2 packets and bytes of each side, the client's
                  share of the bytes, log10 duration, payload packets kept, turns, the share
                  of sizes that are a multiple of 4
    histograms    each side's payload sizes over SIZE_BINS, as shares
"""

from __future__ import annotations

import ipaddress
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol

FEATURES_VERSION = 2  # profiles of another version are refused (features changed)

SIZE_BINS = (0, 32, 64, 128, 256, 512, 1024, 1400)  # lower edges of the size histograms
ENTROPY_BYTES = 256  # of each side's first message


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


FIRST_PACKETS = 12  # payload packets whose direction, size and gap are features by position
_NONE = -7.0  # log10 of a gap that is not there


def _log2(n: float) -> float:
    return math.log2(1 + n) if n > 0 else 0.0


def _log10(seconds: float) -> float:
    return math.log10(seconds) if seconds > 1e-6 else -6.0


def _side(sizes: list[int]) -> list[float]:
    """log2 of: count, smallest, largest, mean, standard deviation."""
    if not sizes:
        return [0.0] * 5
    n = len(sizes)
    mean = sum(sizes) / n
    std = math.sqrt(sum((x - mean) ** 2 for x in sizes) / n)
    return [_log2(n), _log2(min(sizes)), _log2(max(sizes)), _log2(mean), _log2(std)]


def features(b: Behaviour) -> list[float]:
    """The flow's feature vector (FEATURE_NAMES), all from sizes, directions and timing."""
    sizes, times = b.sizes, b.times
    out: list[float] = []
    for i in range(FIRST_PACKETS):
        if i < len(sizes):
            n = sizes[i]
            gap = _log10(times[i] - times[i - 1]) if i else 0.0
            out += [1.0 if n > 0 else -1.0, _log2(abs(n)), gap]
        else:
            out += [0.0, 0.0, 0.0]
    out += _side([n for n in sizes if n > 0]) + _side([-n for n in sizes if n < 0])
    gaps = sorted(times[i] - times[i - 1] for i in range(1, len(times)))
    out += ([_log10(gaps[0]), _log10(gaps[-1]), _log10(_median(gaps))] if gaps
            else [_NONE, _NONE, _NONE])
    total = b.bytes[0] + b.bytes[1]
    turns = sum(1 for i in range(1, len(sizes)) if (sizes[i] > 0) != (sizes[i - 1] > 0))
    out += [float(b.first == "client"), float(b.group), float(b.handshake),
            float(b.rst[0] > 0), float(b.rst[1] > 0), float(b.fin[0]), float(b.fin[1]),
            float(max(b.syn) > 1), _log2(b.packets[0]), _log2(b.packets[1]),
            _log2(b.bytes[0]), _log2(b.bytes[1]), b.bytes[0] / total if total else 0.5,
            _log10(b.duration), float(len(sizes)), float(turns),
            sum(1 for n in sizes if n % 4 == 0) / len(sizes) if sizes else 0.0]
    c_hist, s_hist = size_histograms(sizes)
    out += _shares(c_hist) + _shares(s_hist)
    return out


def _median(values: list[float]) -> float:
    n = len(values)
    return values[n // 2] if n % 2 else (values[n // 2 - 1] + values[n // 2]) / 2


def _shares(counts: list[int]) -> list[float]:
    n = sum(counts)
    return [k / n for k in counts] if n else [0.0] * len(counts)


FEATURE_NAMES: tuple[str, ...] = (
    *(f"p{i + 1}_{what}" for i in range(FIRST_PACKETS) for what in ("dir", "size", "gap")),
    *(f"{side}_{what}" for side in ("c2s", "s2c")
      for what in ("packets", "min", "max", "mean", "std")),
    "gap_min", "gap_max", "gap_median",
    "client_first", "group", "handshake", "c2s_rst", "s2c_rst", "c2s_fin", "s2c_fin",
    "syn_retry", "c2s_all_packets", "s2c_all_packets", "c2s_bytes", "s2c_bytes",
    "client_share", "duration", "payload_packets", "turns", "mod4",
    *(f"c2s_bin{i}" for i in range(len(SIZE_BINS))),
    *(f"s2c_bin{i}" for i in range(len(SIZE_BINS))),
)

# The features whose range a profile keeps (classify/profiles.py), all but the positional
# ones (the first packets come in another order from one run to the next), and the span of
# values each can take in practice: a profile's ranges are widened by a share of it
# (classify/statistical.py), the same for every profile.
RANGED_FROM = 3 * FIRST_PACKETS
_SIZE, _GAP, _COUNT = 11.0, 7.0, 16.0  # log2 of 2 KiB; log10 of 1 us..10 s; log2 of 64 Ki
RANGE_SCALES: tuple[float, ...] = (
    *(v for _ in ("c2s", "s2c") for v in (6.0, _SIZE, _SIZE, _SIZE, _SIZE)),
    _GAP, _GAP, _GAP,
    1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0,
    1.0, _COUNT, _COUNT, 32.0, 32.0,
    1.0, _GAP, 32.0, 32.0, 1.0,
    *(1.0 for _ in range(2 * len(SIZE_BINS))),
)
RANGED_NAMES = FEATURE_NAMES[RANGED_FROM:]
