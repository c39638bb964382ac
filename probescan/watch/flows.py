"""The flow table: packets -> flows with client/server roles and the first payload bytes.

* TCP roles come from the handshake (SYN from the client, SYN-ACK from the server). A flow
  first seen mid-stream gets roles from the ports (a well-known or lower port is the server)
  and is marked `midstream`; passive evidence may correct the roles later.
* UDP flows start with their first datagram (its sender is the client), unless the ports say
  otherwise (a reply from port 53 to an ephemeral port).
* Sizes come from the IP lengths (`Packet.size`), so a headers-only capture still has them:
  a flow's payload byte counts, who spoke first, and its behaviour: the signed sizes (+ from
  the client, - from the server) and times of its first MAX_SIZES payload packets, the SYN and
  RST counts of each side (what probescan.classify reads when the payload names nothing).
* The first `keep` payload bytes of each direction are kept in sequence order
  (retransmissions and overlaps are trimmed by TCP sequence numbers; a segment that arrives
  ahead of a gap waits, up to MAX_HELD of them, until the gap is filled — reordered segments
  are put back in order — or until the flow is read, when what waits is appended as if the
  gap were not there: a capture that lost the segment still shows what followed), and so
  are the
  boundaries of the first MAX_MESSAGES payload packets (a UDP datagram is a message; the
  payload detectors read several of them), and which side sent payload first.
* Flows expire after an idle time; at most `max_flows` are held, the least recently seen is
  evicted first, so memory stays flat on a long run. Finished flows are handed out by
  `expire()` / `drain()`; nothing is dropped silently.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from probescan.model import Transport
from probescan.protocols.packet import ACK, FIN, RST, SYN, TCP, Packet

Key = tuple[int, str, int, str, int]  # proto, ip, port, ip, port (the lower side first)

EPHEMERAL = 32768
# client message ends, server message ends, who spoke first, client port, server port, server ip
Shape = tuple[tuple[int, ...], tuple[int, ...], str | None, int, int, str]
MAX_MESSAGES = 16  # payload packets per direction whose boundaries are kept
MAX_SIZES = 32  # payload packets (both directions) whose size, direction and time are kept
MAX_HELD = 8  # TCP segments per direction held back while a gap before them is open
_HALF = 0x80000000  # sequence-number distances below this are "ahead"
Segment = bytes  # (a Direction's field is named `bytes`)


@dataclass(slots=True)
class Direction:
    packets: int = 0
    bytes: int = 0
    data: bytearray = field(default_factory=bytearray)
    ends: list[int] = field(default_factory=list)  # where each kept message ends in `data`
    next_seq: int | None = None
    fin: bool = False
    syn: int = 0  # SYN segments sent (retries and retransmissions count)
    rst: int = 0  # RST segments sent
    held: dict[int, Segment] | None = None  # seq -> payload of segments beyond a gap


@dataclass(slots=True)
class Flow:
    key: Key
    proto: int
    client: tuple[str, int]
    server: tuple[str, int]
    first_seen: float
    last_seen: float
    roles: str  # "handshake", "first-packet", "ports", "evidence"
    midstream: bool
    vlan: int | None = None
    c2s: Direction = field(default_factory=Direction)
    s2c: Direction = field(default_factory=Direction)
    reset: bool = False
    id: int = 0
    first: str | None = None  # "client" or "server": who sent payload first
    # the first MAX_SIZES payload packets: size on the wire, + from the client, - from the
    # server; and when each was seen
    sizes: list[int] = field(default_factory=list)
    times: list[float] = field(default_factory=list)

    @property
    def shape(self) -> Shape:
        """Where the kept messages of each side end, who spoke first, and the endpoints'
        ports and the server's address: what the payload detectors read beside the bytes."""
        return (tuple(self.c2s.ends), tuple(self.s2c.ends), self.first,
                self.client[1], self.server[1], self.server[0])

    @property
    def transport(self) -> Transport:
        return "tcp" if self.proto == TCP else "udp"

    @property
    def closed(self) -> bool:
        return self.reset or (self.c2s.fin and self.s2c.fin)

    def swap_roles(self, why: str) -> None:
        self.client, self.server = self.server, self.client
        self.c2s, self.s2c = self.s2c, self.c2s
        self.roles = why
        if self.first is not None:
            self.first = "server" if self.first == "client" else "client"
        self.sizes = [-n for n in self.sizes]


def _server_side_by_ports(p: Packet, well_known: frozenset[int]) -> bool:
    """True when the packet's destination looks like the server (for a flow seen mid-way)."""
    s_known, d_known = p.sport in well_known, p.dport in well_known
    if s_known != d_known:
        return d_known
    if (p.sport >= EPHEMERAL) != (p.dport >= EPHEMERAL):
        return p.sport >= EPHEMERAL
    return p.dport <= p.sport


class FlowTable:
    def __init__(
        self,
        keep: int = 4096,
        max_flows: int = 100_000,
        tcp_idle: float = 300.0,
        udp_idle: float = 60.0,
        well_known: frozenset[int] = frozenset(),
    ) -> None:
        self.keep = keep
        self.max_flows = max_flows
        self.tcp_idle = tcp_idle
        self.udp_idle = udp_idle
        self.well_known = well_known
        # one table per transport, each ordered by last activity (least recent first): the
        # idle scans stop at the first flow seen within their own idle time
        self.tcp: OrderedDict[Key, Flow] = OrderedDict()
        self.udp: OrderedDict[Key, Flow] = OrderedDict()
        self.evicted: list[Flow] = []
        self.next_id = 1
        self.packets = 0
        self.ignored = 0  # bare TCP segments of no known flow
        self.closing: list[Key] = []  # flows that saw FIN both ways or a RST

    def _new(self, key: Key, p: Packet) -> Flow:
        if p.proto == TCP and p.flags & SYN:
            client_is_src = not (p.flags & ACK)  # SYN from the client; SYN-ACK from the server
            roles, midstream = "handshake", False
        elif p.proto == TCP:
            client_is_src = _server_side_by_ports(p, self.well_known)
            roles, midstream = "ports", True
        else:  # UDP: the first sender is the client, unless it answers from a known port
            client_is_src = not (p.sport in self.well_known and p.dport not in self.well_known)
            roles, midstream = "first-packet", False
        src, dst = (p.src, p.sport), (p.dst, p.dport)
        client, server = (src, dst) if client_is_src else (dst, src)
        flow = Flow(key, p.proto, client, server, p.ts, p.ts, roles, midstream, p.vlan,
                    id=self.next_id)
        self.next_id += 1
        if len(self) >= self.max_flows:
            self.evicted.append(self._pop_least_recent())
        (self.tcp if p.proto == TCP else self.udp)[key] = flow
        return flow

    def __len__(self) -> int:
        return len(self.tcp) + len(self.udp)

    def _pop_least_recent(self) -> Flow:
        tcp, udp = self.tcp, self.udp
        if not udp or (tcp and next(iter(tcp.values())).last_seen
                       <= next(iter(udp.values())).last_seen):
            return tcp.popitem(last=False)[1]
        return udp.popitem(last=False)[1]

    def add(self, p: Packet) -> tuple[Flow | None, bool]:
        """Account one packet; returns (its flow, whether the flow is new). A bare TCP
        ACK/FIN/RST of no known flow (the tail of a flow that already ended) starts nothing
        and gives (None, False). (Runs for every packet: fields are unpacked once.)"""
        self.packets += 1
        ts, src, dst, proto, sport, dport, flags, seq, payload, _vlan, size = p
        if not size and payload:  # a Packet made without its size on the wire
            size = len(payload)
        if src < dst or (src == dst and sport <= dport):
            key = (proto, src, sport, dst, dport)
        else:
            key = (proto, dst, dport, src, sport)
        table = self.tcp if proto == TCP else self.udp
        flow = table.get(key)
        new = flow is None
        if flow is None:
            if proto == TCP and not size and not flags & SYN:
                self.ignored += 1
                return None, False
            flow = self._new(key, p)
        else:
            table.move_to_end(key)
        flow.last_seen = ts
        client = flow.client
        d = flow.c2s if client[1] == sport and client[0] == src else flow.s2c
        d.packets += 1
        if proto == TCP:
            if flags & SYN:
                d.next_seq = (seq + 1) & 0xFFFFFFFF
                d.syn += 1
            if flags & (RST | FIN):
                was_closed = flow.closed
                if flags & RST:
                    flow.reset = True
                    d.rst += 1
                if flags & FIN:
                    d.fin = True
                if flow.closed and not was_closed:
                    self.closing.append(key)
        if size:
            d.bytes += size
            sizes = flow.sizes
            if len(sizes) < MAX_SIZES:
                if flow.first is None:
                    flow.first = "client" if d is flow.c2s else "server"
                sizes.append(size if d is flow.c2s else -size)
                flow.times.append(ts)
            if payload and len(d.data) < self.keep:
                self._append(d, p)
        return flow, new

    def _append(self, d: Direction, p: Packet) -> None:
        payload = p.payload
        if p.proto == TCP:
            if d.next_seq is None:
                d.next_seq = p.seq
            ahead = (p.seq - d.next_seq) & 0xFFFFFFFF
            if 0 < ahead < _HALF:  # a gap before it: hold it until the gap is filled
                held = d.held if d.held is not None else {}
                d.held = held
                held[p.seq] = payload
                if len(held) > MAX_HELD:
                    flush_held(d, self.keep)
                return
            behind = (d.next_seq - p.seq) & 0xFFFFFFFF
            if behind > 0:  # retransmission or overlap: keep only new bytes
                if behind >= len(payload):
                    return
                payload = payload[behind:]
            d.next_seq = (p.seq + len(p.payload)) & 0xFFFFFFFF
        _extend(d, payload, self.keep)
        if d.held:
            _fill(d, self.keep)

    def settle(self, flow: Flow) -> None:
        """Before a flow is read: what waits beyond a gap is appended (flush_held)."""
        if flow.c2s.held:
            flush_held(flow.c2s, self.keep)
        if flow.s2c.held:
            flush_held(flow.s2c, self.keep)

    def expire(self, now: float) -> Iterator[Flow]:
        """Hand out flows that closed, went idle, or were evicted.

        Cheap enough to call often: closed flows are queued as they close, and each table is
        ordered by last activity, so its idle scan stops at the first recently seen flow."""
        yield from self.evicted
        self.evicted.clear()
        closing, self.closing = self.closing, []
        for k in closing:
            flow = (self.tcp if k[0] == TCP else self.udp).pop(k, None)
            if flow is not None:
                yield flow
        for table, limit in ((self.tcp, self.tcp_idle), (self.udp, self.udp_idle)):
            idle: list[Key] = []
            for k, f in table.items():
                if now - f.last_seen <= limit:
                    break
                idle.append(k)
            for k in idle:
                yield table.pop(k)

    def drain(self) -> Iterator[Flow]:
        """Hand out every flow (end of capture), least recently seen first."""
        yield from self.evicted
        self.evicted.clear()
        while self.tcp or self.udp:
            yield self._pop_least_recent()


def _extend(d: Direction, payload: bytes, keep: int) -> None:
    d.data += payload[: keep - len(d.data)]
    ends = d.ends
    if len(ends) < MAX_MESSAGES and (not ends or ends[-1] < len(d.data)):
        ends.append(len(d.data))


def _order(base: int) -> Callable[[int], int]:
    """Sort key of sequence numbers around `base`: those behind it first (furthest behind
    first), then `base`, then those ahead (nearest first)."""
    return lambda seq: (seq - base + _HALF) & 0xFFFFFFFF


def _fill(d: Direction, keep: int) -> None:
    """Append the held segments that the bytes so far now reach, in sequence order."""
    held = d.held
    while held and d.next_seq is not None:
        base = d.next_seq
        seq = min(held, key=_order(base))
        behind = (base - seq) & 0xFFFFFFFF
        if behind >= _HALF:
            return  # the nearest is still beyond a gap
        payload = held.pop(seq)
        if behind < len(payload):
            _extend(d, payload[behind:], keep)
            d.next_seq = (seq + len(payload)) & 0xFFFFFFFF


def flush_held(d: Direction, keep: int) -> None:
    """Append what still waits beyond a gap, in sequence order, as if the gap were not there
    (when a flow is read: the missing segment may never come)."""
    held, d.held = d.held, None
    if not held or d.next_seq is None:
        return
    for seq in sorted(held, key=_order(d.next_seq)):
        payload = held[seq]
        behind = (d.next_seq - seq) & 0xFFFFFFFF
        if 0 < behind < _HALF:
            if behind >= len(payload):
                continue
            payload = payload[behind:]
        _extend(d, payload, keep)
        d.next_seq = (seq + len(held[seq])) & 0xFFFFFFFF
