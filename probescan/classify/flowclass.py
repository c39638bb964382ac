"""What kind of conversation a flow is, from its sizes alone (pure).

After "Application Identification" (Network Security Through Data Analysis): traffic falls
into a few behavioural classes whatever the protocol:

    failed attempt  no payload either way: a SYN unanswered or reset, a bare handshake
                    closed at once
    file transfer   a large volume, nearly all one way, in full-sized packets
    chatter         a sustained back-and-forth of small messages (an interactive session,
                    a call's media, a chat)
    control         the rest: a few short messages of fixed shape (a lookup, a handshake,
                    a keep-alive, a request and its answer)

The thresholds are named below; docs/classify.md explains them.
"""

from __future__ import annotations

from statistics import median
from typing import Final, Literal

from probescan.classify.features import Behaviour, runs

FlowClass = Literal["failed attempt", "file transfer", "chatter", "control"]
CLASSES: Final = ("control", "chatter", "file transfer", "failed attempt")

TRANSFER_BYTES: Final = 65_536  # a transfer moves at least this many payload bytes
TRANSFER_SHARE: Final = 0.8  # ... at least this share of them one way
TRANSFER_PACKET: Final = 500  # ... in packets of this many bytes on average (that side)
CHATTER_RUNS: Final = 8  # turns (runs one way) among the first payload packets
CHATTER_SIZE: Final = 512  # ... of messages this small (median payload packet)


def flow_class(b: Behaviour) -> FlowClass:
    if not b.sizes:
        return "failed attempt"
    c_bytes, s_bytes = b.bytes
    total = c_bytes + s_bytes
    side_bytes, side_packets = max((c_bytes, b.packets[0]), (s_bytes, b.packets[1]))
    if (total >= TRANSFER_BYTES and side_bytes >= TRANSFER_SHARE * total
            and side_bytes >= TRANSFER_PACKET * max(side_packets, 1)):
        return "file transfer"
    if len(runs(b.sizes)) >= CHATTER_RUNS and median(abs(n) for n in b.sizes) <= CHATTER_SIZE:
        return "chatter"
    return "control"
