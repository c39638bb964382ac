"""Media transport: RTP, RTCP, SRTP (RFC 3550, RFC 3711, RFC 4571) and MPEG-TS over UDP.

* RTP: a 12-byte header (version 2, payload type outside RTCP's 72-76, sequence number,
  timestamp, SSRC) plus CSRCs, header extension and padding that fit the packet. One
  packet proves little: a side must send three or more with one SSRC and one payload
  type whose sequence numbers advance by small steps (a duplicate repeats its packet) and
  whose timestamps never go back far. Over TCP the packets are framed by a 2-byte length
  (RFC 4571).
* RTCP: a compound packet whose first packet is a sender or receiver report (PT 200/201)
  of exactly the length its report count gives, the packets after it (PT 192-213, if
  any) adding up to the datagram.
* SRTP: an RTP stream that cannot be told from plain RTP by its header, so claimed only
  when the flow also carries SRTCP: an RTCP report followed by the E flag with a 31-bit
  index and an authentication tag of 10 (or 4) bytes (RFC 3711 §3.4).
* MPEG-TS: datagrams of 188-byte transport stream packets, each starting with the sync
  byte 0x47 (ISO/IEC 13818-1), at least three of them, or RTP carrying them (PT 33).
"""

from __future__ import annotations

import itertools
from collections import Counter

from probescan.detect.base import BOTH, UDP, Detection, Detector, Fact, Messages, Result

_LOOK = 8
MIN_PACKETS = 3
MAX_SEQ_STEP = 64
MAX_TS_STEP = 1 << 24
STATIC_TYPES = {
    0: "PCMU", 3: "GSM", 4: "G723", 5: "DVI4", 6: "DVI4", 7: "LPC", 8: "PCMA", 9: "G722",
    10: "L16", 11: "L16", 12: "QCELP", 13: "CN", 14: "MPA", 15: "G728", 16: "DVI4",
    17: "DVI4", 18: "G729", 25: "CelB", 26: "JPEG", 28: "nv", 31: "H261", 32: "MPV",
    33: "MP2T", 34: "H263",
}  # fmt: skip
RTCP_TYPES = range(192, 214)
TS_PACKET = 188


def rtp_header(p: bytes) -> tuple[int, int, int, int] | None:
    """(payload type, sequence number, timestamp, SSRC) of an RTP packet whose CSRCs,
    header extension and padding fit it; None otherwise."""
    if len(p) < 13 or p[0] & 0xC0 != 0x80:
        return None
    pt = p[1] & 0x7F
    if 72 <= pt <= 76:
        return None
    pos = 12 + 4 * (p[0] & 0x0F)
    if p[0] & 0x10:
        if pos + 4 > len(p):
            return None
        pos += 4 + 4 * int.from_bytes(p[pos + 2 : pos + 4], "big")
    if pos >= len(p):
        return None
    if p[0] & 0x20 and not 0 < p[-1] <= len(p) - pos:
        return None
    return (pt, int.from_bytes(p[2:4], "big"), int.from_bytes(p[4:8], "big"),
            int.from_bytes(p[8:12], "big"))


def rtp_stream(packets: tuple[bytes, ...] | list[bytes]) -> tuple[int, int] | None:
    """(payload type, SSRC) of three or more packets that agree as one RTP stream."""
    parsed = [(p, h) for p in packets[:_LOOK] if (h := rtp_header(p)) is not None]
    if len(parsed) < MIN_PACKETS:
        return None
    (pt, ssrc), count = Counter((h[0], h[3]) for _, h in parsed).most_common(1)[0]
    if count < MIN_PACKETS:
        return None
    run = [(p, h) for p, h in parsed if (h[0], h[3]) == (pt, ssrc)]
    advanced = False
    for (p0, h0), (p1, h1) in itertools.pairwise(run):
        seq_step = (h1[1] - h0[1]) % 65536
        ts_step = (h1[2] - h0[2]) % (1 << 32)
        if seq_step > MAX_SEQ_STEP or (seq_step == 0 and p0 != p1) or ts_step > MAX_TS_STEP:
            return None
        advanced = advanced or seq_step > 0
    return (pt, ssrc) if advanced else None


def _rtcp_first(data: bytes) -> int | None:
    """Length in bytes of the sender/receiver report a compound packet must start with,
    when its length field is the one its report count gives."""
    if len(data) < 8 or data[0] & 0xE0 != 0x80 or data[1] not in (200, 201):
        return None
    count = data[0] & 0x1F
    words = int.from_bytes(data[2:4], "big")
    if words != (6 if data[1] == 200 else 1) + 6 * count:
        return None
    return 4 * (words + 1)


def rtcp_compound(data: bytes, end: int | None = None) -> list[int] | None:
    """The packet types of an RTCP compound packet filling data[:end]; None otherwise."""
    end = len(data) if end is None else end
    first = _rtcp_first(data)
    if first is None or first > end:
        return None
    types = [data[1]]
    pos = first
    while pos < end:
        if pos + 4 > end or data[pos] & 0xC0 != 0x80 or data[pos + 1] not in RTCP_TYPES:
            return None
        types.append(data[pos + 1])
        pos += 4 * (int.from_bytes(data[pos + 2 : pos + 4], "big") + 1)
    return types if pos == end else None


def srtcp(data: bytes) -> bool:
    """An SRTCP packet: a report header whose length leaves room for the rest of the
    compound, then the E flag set with its index and an 80- or 32-bit tag."""
    first = _rtcp_first(data)
    if first is None:
        return False
    for tag in (10, 4):
        trailer = len(data) - tag - 4
        if trailer >= first and data[trailer] & 0x80 and (trailer - first) % 4 == 0:
            return True
    return False


def _rtp_facts(pt: int) -> dict[str, Fact]:
    facts: dict[str, Fact] = {"rtp_payload_type": pt}
    if pt in STATIC_TYPES:
        facts["rtp_codec"] = STATIC_TYPES[pt]
    return facts


def _framed(stream: bytes) -> list[bytes]:
    """RFC 4571: packets each behind a 2-byte length."""
    out: list[bytes] = []
    pos = 0
    while pos + 2 <= len(stream) and len(out) < _LOOK:
        size = int.from_bytes(stream[pos : pos + 2], "big")
        if size == 0 or pos + 2 + size > len(stream):
            break
        out.append(stream[pos + 2 : pos + 2 + size])
        pos += 2 + size
    return out


def rtp(msgs: Messages) -> Result:
    if msgs.transport == "tcp":
        sides = [_framed(msgs.client_stream), _framed(msgs.server_stream)]
    else:
        sides = [list(msgs.client), list(msgs.server)]
    for packets in sides:
        found = rtp_stream(packets)
        if found is not None:
            return Detection("rtp", _rtp_facts(found[0]))
    return None


def srtp(msgs: Messages) -> Result:
    for mine in msgs.sides:
        if rtp_stream(mine) is None:
            continue
        if any(srtcp(p) and rtcp_compound(p) is None for side in msgs.sides for p in side):
            found = rtp_stream(mine)
            return Detection("srtp", _rtp_facts(found[0]) if found else {})
    return None


def rtcp(msgs: Messages) -> Result:
    for side in msgs.sides:
        for data in side[:_LOOK]:
            types = rtcp_compound(data) if data[:1] and 0x80 <= data[0] <= 0x9F else None
            if types:
                return Detection("rtcp", {"rtcp_types": tuple(str(t) for t in types)})
    return None


def _ts_packets(data: bytes) -> int:
    if len(data) % TS_PACKET or len(data) < 3 * TS_PACKET:
        return 0
    for pos in range(0, len(data), TS_PACKET):
        if data[pos] != 0x47 or not data[pos + 3] & 0x30:  # sync byte; adaptation control
            return 0
    return len(data) // TS_PACKET


def mpeg_ts(msgs: Messages) -> Result:
    for side in msgs.sides:
        if side and _ts_packets(side[0]):
            return Detection("mpeg-ts", {"mpegts_packets": _ts_packets(side[0])})
    return None


DETECTORS = (
    Detector("srtp", UDP, srtp,
             "one side: an RTP stream (as for rtp) and, on the flow, an SRTCP report "
             "(E flag, index and authentication tag after it)",
             "RFC 3711 §3.1, §3.4"),
    Detector("rtp", BOTH, rtp,
             "one side: three or more RTP packets (version 2) with one SSRC and payload "
             "type, sequence numbers advancing by small steps, timestamps not going back; "
             "over TCP framed by a 2-byte length",
             "RFC 3550 §5.1, RFC 4571"),
    Detector("rtcp", UDP, rtcp,
             "either side: a compound packet starting with a sender/receiver report of the "
             "length its report count gives, the following packets filling the datagram",
             "RFC 3550 §6.1, §6.4"),
    Detector("mpeg-ts", UDP, mpeg_ts,
             "either side: a datagram of three or more 188-byte packets, each starting with "
             "the sync byte 0x47",
             "ISO/IEC 13818-1 §2.4.3"),
)
