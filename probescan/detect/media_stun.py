"""STUN and TURN (RFC 5389 / RFC 8489, RFC 8656; classic STUN of RFC 3489).

A STUN message: 2-byte type whose two top bits are zero, 2-byte length of the attributes,
the magic cookie 0x2112A442, a 12-byte transaction id, then attributes (2-byte type,
2-byte length, value padded to 4 bytes) that add up to the length exactly. Over UDP the
message fills the datagram; over TCP messages follow each other in the stream.

Classic STUN (RFC 3489) has no cookie (the transaction id is 16 bytes): it is claimed only
for its own message types whose attributes are all of RFC 3489's eleven with the sizes
they must have, when a request and a response on the flow share the transaction id, or
when a request whose attributes add up is sent again unchanged while no answer comes (the
retransmissions of §9.3, which keep the transaction id).

TURN ChannelData (RFC 8656 §12): a 2-byte channel number 0x4000-0x7FFF (RFC 5766; RFC
8656 narrows it to 0x4FFF), a 2-byte length and the data; claimed for flows of several
such datagrams of one channel (a capture begun after the Allocate / ChannelBind exchange).

A UDP flow whose STUN checks are followed by an RTP stream on one side (RFC 7983: STUN,
DTLS and SRTP share the 5-tuple, told apart by the first byte) is left to the media
detectors: what the checks set up is the flow's protocol.
"""

from __future__ import annotations

from probescan.detect.base import (
    BOTH,
    NEED_MORE,
    Detection,
    Detector,
    Fact,
    Messages,
    Result,
)
from probescan.detect.media import rtp_stream

COOKIE = b"\x21\x12\xa4\x42"
HEADER = 20
_LOOK = 6  # datagrams read per side
METHODS = {
    0x001: "binding", 0x002: "shared-secret", 0x003: "allocate", 0x004: "refresh",
    0x006: "send", 0x007: "data", 0x008: "create-permission", 0x009: "channel-bind",
    0x00A: "connect", 0x00B: "connection-bind", 0x00C: "connection-attempt",
}  # fmt: skip
CLASSES = ("request", "indication", "success", "error")
_CLASSIC_TYPES = frozenset({0x0001, 0x0101, 0x0111, 0x0002, 0x0102, 0x0112})
# RFC 3489 §11.2: attribute -> required value length (None: any multiple of 4)
_CLASSIC_ATTRS: dict[int, int | None] = {
    0x0001: 8, 0x0002: 8, 0x0003: 4, 0x0004: 8, 0x0005: 8, 0x0006: None, 0x0007: None,
    0x0008: 20, 0x0009: None, 0x000A: None, 0x000B: 8,
}  # fmt: skip
SOFTWARE = 0x8022


def method_class(msg_type: int) -> tuple[int, int]:
    method = (msg_type & 0x000F) | ((msg_type & 0x00E0) >> 1) | ((msg_type & 0x3E00) >> 2)
    return method, ((msg_type & 0x0010) >> 4) | ((msg_type & 0x0100) >> 7)


def attributes(data: bytes, end: int) -> list[tuple[int, bytes]] | None:
    """The attributes between the header and `end`; None unless they add up. The last
    value may end unpadded at `end` (some clients leave its padding out)."""
    out: list[tuple[int, bytes]] = []
    pos = HEADER
    while pos < end:
        if pos + 4 > end:
            return None
        atype = int.from_bytes(data[pos : pos + 2], "big")
        alen = int.from_bytes(data[pos + 2 : pos + 4], "big")
        value_end = pos + 4 + alen
        if value_end > end:
            return None
        out.append((atype, data[pos + 4 : value_end]))
        pos = value_end + (-alen % 4)
        if pos > end and value_end != end:
            return None
    return out


def _classic_ok(attrs: list[tuple[int, bytes]]) -> bool:
    if not attrs:
        return False
    for atype, value in attrs:
        if atype not in _CLASSIC_ATTRS:
            return False
        size = _CLASSIC_ATTRS[atype]
        if size is None and (len(value) % 4 or not value):
            return False
        if size is not None and len(value) != size:
            return False
        if size == 8 and value[:2] != b"\x00\x01":  # reserved byte, family IPv4
            return False
    return True


def message(data: bytes, stream: bool = False) -> tuple[int, int, list[tuple[int, bytes]]] | None:
    """(type, total length, attributes) of the STUN message at the start of `data` (with
    the magic cookie, or classic when its attributes are RFC 3489's); None if it is not
    one. A datagram must be exactly the message; a stream may hold more after it."""
    if len(data) < HEADER or data[0] & 0xC0:
        return None
    msg_type = int.from_bytes(data[:2], "big")
    total = HEADER + int.from_bytes(data[2:4], "big")
    if len(data) < total or (not stream and len(data) != total):
        return None
    attrs = attributes(data, total)
    if attrs is None:
        return None
    if data[4:8] != COOKIE and (
            msg_type not in _CLASSIC_TYPES or total % 4 or not _classic_ok(attrs)):
        return None
    return msg_type, total, attrs


def _classic_pair(msgs: Messages) -> tuple[int, list[tuple[int, bytes]]] | None:
    """A classic request and its response: same 16-byte transaction id, types that match
    (request 0x0001/0x0002, response +0x100 or +0x110), both adding up."""
    requests: dict[bytes, list[int]] = {}
    for data in msgs.client[:_LOOK] + msgs.server[:_LOOK]:
        if len(data) >= HEADER and int.from_bytes(data[:2], "big") in _CLASSIC_TYPES:
            total = HEADER + int.from_bytes(data[2:4], "big")
            if total == len(data) and total % 4 == 0 and attributes(data, total) is not None:
                requests.setdefault(data[4:20], []).append(int.from_bytes(data[:2], "big"))
    for types in requests.values():
        for t in types:
            if t in (0x0001, 0x0002) and ({t | 0x100, t | 0x110} & set(types)):
                return t, []
    return None


def _classic_retried(datagrams: tuple[bytes, ...]) -> int | None:
    """The type of a classic request (0x0001/0x0002, attributes adding up to its length)
    whose next datagram repeats it unchanged: a retransmission (RFC 3489 §9.3)."""
    if len(datagrams) < 2 or datagrams[1] != datagrams[0]:
        return None
    data = datagrams[0]
    if len(data) < HEADER or data[0] or data[1] not in (1, 2) or data[4:8] == COOKIE:
        return None
    total = HEADER + int.from_bytes(data[2:4], "big")
    if total != len(data) or total % 4 or not attributes(data, total):
        return None
    return data[1]


def _facts(msg_type: int, attrs: list[tuple[int, bytes]]) -> dict[str, Fact]:
    method, cls = method_class(msg_type)
    facts: dict[str, Fact] = {"stun_method": METHODS.get(method, f"0x{method:03x}"),
                              "stun_class": CLASSES[cls]}
    for atype, value in attrs:
        if atype == SOFTWARE:
            text = value.rstrip(b"\x00").decode("utf-8", "replace")
            if text.isprintable():
                facts["stun_software"] = text[:64]
    return facts


def _channel_data(datagrams: tuple[bytes, ...]) -> bool:
    """Several TURN ChannelData messages of one channel, each filling its datagram."""
    if len(datagrams) < 3:
        return False
    channels = set()
    for data in datagrams[:_LOOK]:
        if len(data) < 5 or not 0x40 <= data[0] <= 0x7F:
            return False
        if int.from_bytes(data[2:4], "big") + 4 != len(data):
            return False
        channels.add(data[:2])
    return len(channels) == 1


def _stream(data: bytes) -> Result:
    if len(data) < HEADER:  # wait only once the magic cookie is there
        if len(data) < 8 or data[0] & 0xC0:
            return None
        return NEED_MORE if data[4:8] == COOKIE else None
    if data[4:8] == COOKIE and len(data) < HEADER + int.from_bytes(data[2:4], "big"):
        return NEED_MORE if not data[0] & 0xC0 else None
    found = message(data, stream=True)
    return Detection("stun", _facts(found[0], found[2])) if found else None


def _framed(data: bytes) -> Result:
    """A stream of RFC 4571 frames (2-byte length first), as ICE-TCP sends (RFC 6544)."""
    if len(data) < 2 + HEADER:
        return None
    size = int.from_bytes(data[:2], "big")
    if size != HEADER + int.from_bytes(data[4:6], "big") or data[6:10] != COOKIE:
        return None
    if len(data) < 2 + size:
        return NEED_MORE
    found = message(data[2 : 2 + size])
    return Detection("stun", {**_facts(found[0], found[2]), "stun_framing": "rfc4571"}) \
        if found else None


def stun(msgs: Messages) -> Result:
    if msgs.transport == "tcp":
        best: Result = None
        for stream in (msgs.client_stream, msgs.server_stream):
            r = _stream(stream) or _framed(stream)
            if isinstance(r, Detection):
                return r
            best = best or r
        return best
    if any(rtp_stream(side) for side in msgs.sides):
        return None  # RFC 7983: the media the STUN checks set up is the flow's protocol
    for datagrams in msgs.sides:
        for data in datagrams[:_LOOK]:
            if data[:1] >= b"\x40":
                continue
            found = message(data)
            if found:
                return Detection("stun", _facts(found[0], found[2]))
    pair = _classic_pair(msgs)
    if pair:
        return Detection("stun", _facts(pair[0], pair[1]))
    for datagrams, from_client in ((msgs.client, True), (msgs.server, False)):
        retried = _classic_retried(datagrams)
        if retried is not None:
            return Detection("stun", _facts(retried, []), swapped=not from_client)
    if _channel_data(msgs.client) or _channel_data(msgs.server):
        return Detection("stun", {"stun_method": "channel-data"})
    return None


DETECTORS = (
    Detector("stun", BOTH, stun,
             "either side: a message with the magic cookie 0x2112A442 whose attributes add up "
             "to its length (datagram or stream start); classic RFC 3489 messages with its "
             "own attributes, a request and response sharing a transaction id, or a "
             "request retransmitted unchanged; several "
             "TURN ChannelData messages of one channel",
             "RFC 8489 (RFC 5389), RFC 3489, RFC 8656 (TURN)"),
)
