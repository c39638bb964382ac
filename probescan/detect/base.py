"""The detector interface: `Messages` in, `Detection` / `NEED_MORE` / None out (pure).

A detector claims a protocol only when the bytes prove its structure (magic values, header
fields that must hold, lengths that add up, several packets that agree). Ports and
addresses are in `Messages` only to break a tie between protocols whose bytes look the same
(DNS, mDNS and LLMNR share one format); they are never evidence on their own.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from probescan.model import Transport

Fact = str | int | bool | tuple[str, ...]


class NeedMoreType(enum.Enum):
    """The messages so far fit the protocol; more are needed to decide."""

    NEED_MORE = "need-more"


NEED_MORE = NeedMoreType.NEED_MORE


@dataclass(frozen=True, slots=True)
class Messages:
    """The first payloads of one flow, per direction, in the order they were seen.

    `client` / `server`: one entry per packet that carried payload (a UDP datagram, or a
    TCP segment after retransmissions are trimmed), at most a few of them and a few KiB in
    all (the flow table bounds them). `client_stream` / `server_stream` are the same bytes
    joined (for TCP: the start of the byte stream). `first` is the side that sent payload
    first ("client", "server", or None when neither did)."""

    transport: Transport
    client: tuple[bytes, ...] = ()
    server: tuple[bytes, ...] = ()
    client_port: int = 0
    server_port: int = 0
    server_ip: str = ""
    first: str | None = None

    @property
    def client_stream(self) -> bytes:
        return joined(self.client)

    @property
    def server_stream(self) -> bytes:
        return joined(self.server)

    @property
    def sides(self) -> tuple[tuple[bytes, ...], tuple[bytes, ...]]:
        return self.client, self.server

    def interleaved(self, count: int = 2) -> list[tuple[bytes, bool]]:
        """(message, sent by the recorded client?) for the first `count` messages of each
        side, alternating client and server (a later datagram may be whole where the first
        was damaged)."""
        out = []
        for i in range(count):
            if i < len(self.client):
                out.append((self.client[i], True))
            if i < len(self.server):
                out.append((self.server[i], False))
        return out


# the sides joined last, newest first: the detectors of one flow ask for the same two
_JOINED: list[tuple[tuple[bytes, ...], bytes]] = []


def joined(side: tuple[bytes, ...]) -> bytes:
    """b"".join(side), remembered for the last sides asked (by identity: the detectors
    of one flow join its client and server messages over and over)."""
    if len(side) == 1:
        return side[0]
    for seen, stream in _JOINED:
        if seen is side:
            return stream
    stream = b"".join(side)
    _JOINED.insert(0, (side, stream))
    del _JOINED[2:]
    return stream


@dataclass(frozen=True, slots=True)
class Detection:
    """A protocol proven by a flow's bytes.

    `service`: nmap's service name where nmap has one, otherwise the protocol's own name in
    lower case. `facts`: what the bytes tell beyond the name (a version, a host name, a
    message type), short strings, numbers and tuples of strings only. `swapped`: the bytes
    show the side recorded as client is in fact the server (a reply seen first)."""

    service: str
    facts: Mapping[str, Fact] = field(default_factory=dict)
    product: str | None = None
    version: str | None = None
    swapped: bool = False

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled as its field values (the watcher's identify worker sends detections
        back): rebuilt by the constructor, faster than dataclasses' generic __setstate__."""
        return (Detection, tuple([getattr(self, name) for name in _DETECTION_FIELDS]))


_DETECTION_FIELDS = tuple(f.name for f in fields(Detection))
Result = Detection | NeedMoreType | None
DetectFn = Callable[[Messages], Result]


@dataclass(frozen=True, slots=True)
class Detector:
    """One protocol's detector. `name` is the service it claims; `transports` where it
    runs; `reads` which side(s) and which bytes prove it (for docs/protocols.md); `spec`
    the specification it was written from (RFC, vendor document, paper)."""

    name: str
    transports: frozenset[Transport]
    detect: DetectFn
    reads: str
    spec: str

    def __call__(self, msgs: Messages) -> Result:
        if msgs.transport not in self.transports:
            return None
        return self.detect(msgs)


TCP: frozenset[Transport] = frozenset({"tcp"})
UDP: frozenset[Transport] = frozenset({"udp"})
BOTH: frozenset[Transport] = frozenset({"tcp", "udp"})
