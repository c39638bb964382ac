"""Tunnels and carrier control planes: Teredo, CAPWAP, LISP, GTP, PFCP.

* Teredo (RFC 4380 §5.1): an IPv6 packet over UDP whose payload length fills the datagram
  and that comes from or goes to a Teredo (2001::/32) or link-local address,
  optionally after an authentication indicator (0x0001) and/or an origin indication
  (0x0000 + obfuscated port and address).
* CAPWAP (RFC 5415 §4): preamble version 0; type 1 wraps a DTLS record, type 0 a header
  (HLEN, RID, WBID, flags) then a control message whose element length fills the datagram
  or, on the data channel, an IEEE 802.11 frame.
* LISP (RFC 9301 control plane): Map-Request, Map-Reply, Map-Register, Map-Notify with a
  nonce, a key id and authentication data of its length, and EID records of a defined AFI.
  Over TCP (port 4342), the Map-Server reliable transport
  (draft-ietf-lisp-map-server-reliable-transport, draft-kouvelas-lisp-rloc-membership):
  messages of a 2-byte type (16-21 transport, 22-30 membership), a 2-byte length of the
  whole message, a 4-byte message id, the data and the end marker 0x9FACADE9.
* GTP (3GPP TS 29.060, 29.274, 32.295): GTPv1 (U and C), GTPv2-C and GTP' headers whose
  length field fills the datagram; a G-PDU carries an IP packet, GTPv2 information
  elements fill the message.
* PFCP (3GPP TS 29.244 §7.2): version 1, a node or session message type, a length that
  fills the datagram and information elements that fill the message.
"""

from __future__ import annotations

from probescan.detect.base import BOTH, NEED_MORE, UDP, Detection, Detector, Fact, Messages, Result


def _ip_packet(d: bytes) -> bool:
    """An IPv4 or IPv6 header whose length fills `d` exactly."""
    if len(d) >= 40 and d[0] >> 4 == 6:
        return int.from_bytes(d[4:6], "big") == len(d) - 40 and d[6] in (0, 6, 17, 43, 44,
                                                                          50, 58, 59, 60)
    if len(d) >= 20 and d[0] >> 4 == 4 and d[0] & 0x0F >= 5:
        return int.from_bytes(d[2:4], "big") == len(d) and d[9] in (1, 2, 6, 17, 47, 50, 58)
    return False


# --- Teredo ------------------------------------------------------------------------------

TEREDO_PREFIX = b"\x20\x01\x00\x00"
LINK_LOCAL = b"\xfe\x80" + bytes(6)


def _teredo(d: bytes) -> bool:
    pos = 0
    if d[:2] == b"\x00\x01" and len(d) >= 13:  # authentication: id-len, au-len, ..., nonce
        pos = 4 + d[2] + d[3] + 8 + 1
    if d[pos : pos + 2] == b"\x00\x00":  # origin indication
        pos += 8
    ip6 = d[pos:]
    if not (ip6[:1] and ip6[0] >> 4 == 6 and _ip_packet(ip6)):
        return False
    src, dst = ip6[8:24], ip6[24:40]  # a Teredo address (2001::/32) or a link-local one
    return any(a[:4] == TEREDO_PREFIX or a[:8] == LINK_LOCAL for a in (src, dst))


def teredo(msgs: Messages) -> Result:
    for d, _ in msgs.interleaved(2):
        if _teredo(d):
            return Detection("teredo", {})
    return None


# --- CAPWAP ------------------------------------------------------------------------------

CAPWAP_TYPES = frozenset(range(1, 27))


def _capwap(d: bytes) -> str | None:
    if len(d) >= 8 and d[0] == 0x01 and d[1:4] == b"\0\0\0":  # DTLS record after the preamble
        return "dtls" if d[4] in (20, 21, 22, 23) and d[5:7] in (b"\xfe\xff", b"\xfe\xfd") else None
    if len(d) < 8 or d[0] != 0:
        return None
    hlen = (d[1] >> 3) * 4
    wbid = ((d[2] & 0x3E) >> 1)
    native = d[2] & 0x01  # T: the payload is a native frame of the wireless binding
    if hlen < 8 or hlen > len(d) or wbid not in (0, 1, 3) or d[3] & 0x07:
        return None
    if d[3] & 0x80 == 0 and (d[6] or d[7] & 0xF8):  # not a fragment: offset zero
        return None
    body = d[hlen:]
    if native:
        # IEEE 802.11: protocol version 0, type management/control/data; 24-byte header
        return "data" if wbid == 1 and len(body) >= 24 and body[0] & 0x03 == 0 and (
            body[0] & 0x0C != 0x0C) else None
    if len(body) < 8 or body[:3] != b"\0\0\0" or body[3] not in CAPWAP_TYPES or body[7]:
        return None
    return "control" if int.from_bytes(body[5:7], "big") == len(body) - 5 else None


def capwap(msgs: Messages) -> Result:
    for d, _ in msgs.interleaved(2):
        kind = _capwap(d)
        if kind is not None:
            return Detection("capwap", {"capwap_kind": kind})
    return None


# --- LISP --------------------------------------------------------------------------------

LISP_TYPES = {1: "Map-Request", 2: "Map-Reply", 3: "Map-Register", 4: "Map-Notify",
              5: "Map-Notify-Ack", 8: "ECM"}
_LISP_AFIS = frozenset({1, 2, 6, 16387})  # IPv4, IPv6, MAC, LCAF
_KEY_LENGTHS = {0: 0, 1: 20, 2: 32}  # none, HMAC-SHA-1-96, HMAC-SHA-256-128


def _lisp_address(d: bytes, pos: int) -> int | None:
    """The offset after an AFI-prefixed address (IPv4, IPv6, MAC or an LCAF), or None."""
    if pos + 2 > len(d):
        return None
    afi = int.from_bytes(d[pos : pos + 2], "big")
    size = {1: 4, 2: 16, 6: 6}.get(afi)
    if size is None and afi == 16387 and pos + 8 <= len(d):  # LCAF: type, flags, length
        size = 6 + int.from_bytes(d[pos + 6 : pos + 8], "big")
    if size is None or pos + 2 + size > len(d):
        return None
    return pos + 2 + size


def _lisp_records(d: bytes, pos: int, count: int) -> int | None:
    """The offset after `count` EID records (TTL, locator count, EID mask, ACT, version,
    EID prefix, then the locators: priorities, weights, flags, address), or None."""
    for _ in range(count):
        if pos + 12 > len(d) or d[pos + 6] & 0x0F or d[pos + 7]:  # reserved bits
            return None
        locators = d[pos + 4]
        afi = int.from_bytes(d[pos + 10 : pos + 12], "big")
        if d[pos + 5] > (32 if afi == 1 else 128) or afi == 6:
            return None
        end = _lisp_address(d, pos + 10)
        for _ in range(locators):
            if end is None or end + 8 > len(d) or d[end + 4] or d[end + 5] & 0xF8:
                return None
            end = _lisp_address(d, end + 6)
        if end is None:
            return None
        pos = end
    return pos


def _lisp_request(d: bytes) -> bool:
    """Map-Request: flags, ITR-RLOC count, record count, nonce, source EID, the ITR-RLOCs,
    the EID records (reserved, mask, prefix) and, with the M bit, a Map-Reply record."""
    if not d[3] or d[1] & 0xE0 or d[2] & 0xE0:
        return False
    pos: int | None = 14 if d[12:14] == b"\0\0" else _lisp_address(d, 12)
    for _ in range((d[2] & 0x1F) + 1):
        if pos is None or d[pos : pos + 2] not in (b"\0\x01", b"\0\x02"):
            return False
        pos = _lisp_address(d, pos)
    for _ in range(d[3]):
        if pos is None or pos + 4 > len(d) or d[pos]:
            return False
        pos = _lisp_address(d, pos + 2)
    if pos is not None and pos < len(d) and d[0] & 0x04:
        pos = _lisp_records(d, pos, 1)
    return pos == len(d)


def _lisp(d: bytes) -> str | None:
    if len(d) < 12:
        return None
    kind = d[0] >> 4
    if kind in (3, 4, 5):  # register / notify: count, nonce, key id, auth length, auth
        if len(d) < 16 or not d[3] or d[1] or d[2] & 0xE0:
            return None
        key, alen = int.from_bytes(d[12:14], "big"), int.from_bytes(d[14:16], "big")
        if _KEY_LENGTHS.get(key) != alen:
            return None
        end = _lisp_records(d, 16 + alen, d[3])
        with_ids = d[0] & (0x02 if kind == 3 else 0x08)  # I: xTR-ID and site-ID follow
        trailer = 24 if with_ids else 0
        return LISP_TYPES[kind] if end is not None and len(d) - end == trailer else None
    if kind == 2:  # reply: count, nonce, records
        if not d[3] or d[0] & 0x01 or d[1:3] != b"\0\0":
            return None
        return LISP_TYPES[kind] if _lisp_records(d, 12, d[3]) == len(d) else None
    if kind == 1:
        return LISP_TYPES[kind] if _lisp_request(d) else None
    if kind == 8 and len(d) > 4:  # encapsulated control message: an IP packet to 4342
        inner = d[4:]
        if d[1:4] == b"\0\0\0" and inner[:1] and inner[0] >> 4 in (4, 6):
            ihl = 40 if inner[0] >> 4 == 6 else (inner[0] & 0x0F) * 4
            if (inner[ihl + 2 : ihl + 4] == b"\x10\xf6"
                    and _lisp(inner[ihl + 8 :]) == "Map-Request"):
                return LISP_TYPES[kind]
    return None


LISP_TCP_TYPES = {16: "Error Notification", 17: "Registration", 18: "Registration ACK",
                  19: "Registration Reject", 20: "Registration Refresh",
                  21: "Mapping Notification", 22: "Membership Subscribe",
                  23: "Membership Subscribe ACK", 24: "Membership Subscribe NACK",
                  25: "Membership Unsubscribe", 26: "Membership Element Add",
                  27: "Membership Element Remove", 28: "Membership Refresh Request",
                  29: "Membership Refresh Begin", 30: "Membership Refresh End"}
LISP_END_MARKER = b"\x9f\xac\xad\xe9"
_LISP_TCP_HEAD = 8  # type, length, message id


def _lisp_tcp(stream: bytes) -> str | bool | None:
    """The type of the reliable-transport message `stream` starts with (its length covers
    it and it ends with the end marker), True when it is the valid start of one, else None."""
    if len(stream) < 4 or stream[0] or stream[1] not in LISP_TCP_TYPES:
        return None
    length = int.from_bytes(stream[2:4], "big")
    if length < _LISP_TCP_HEAD + 4:
        return None
    if len(stream) < length:
        tail = stream[length - 4:] if len(stream) > length - 4 else b""
        return True if LISP_END_MARKER.startswith(tail) else None
    return LISP_TCP_TYPES[stream[1]] if stream[length - 4:length] == LISP_END_MARKER else None


def lisp(msgs: Messages) -> Result:
    if msgs.transport == "tcp":
        waiting = False
        for stream in (msgs.client_stream, msgs.server_stream):
            kind = _lisp_tcp(stream)
            if isinstance(kind, str):
                return Detection("lisp", {"lisp_type": kind})
            waiting = waiting or kind is True
        return NEED_MORE if waiting else None
    for d, _ in msgs.interleaved(2):
        kind = _lisp(d)
        if kind is not None:
            return Detection("lisp", {"lisp_type": kind})
    return None


# --- GTP ---------------------------------------------------------------------------------

_GTP1_TYPES = frozenset({1, 2, 3, 4, 5, 6, *range(16, 28), *range(48, 60), *range(96, 99),
                         *range(240, 243), 26, 31, 254, 255})
_GTP2_TYPES = frozenset({1, 2, 3, *range(32, 40), *range(64, 74), *range(95, 98),
                         *range(128, 142), *range(149, 156), *range(160, 172),
                         *range(176, 180), *range(200, 202), *range(211, 213),
                         *range(231, 233), *range(234, 241)})
_GTPP_TYPES = frozenset({1, 2, 4, 5, 6, 240, 241})


def _ies_v2(d: bytes) -> bool:
    pos = 0
    while pos < len(d):
        if pos + 4 > len(d) or d[pos] == 0:
            return False
        pos += 4 + int.from_bytes(d[pos + 1 : pos + 3], "big")
    return pos == len(d)


def _gtp(d: bytes) -> str | None:
    if len(d) < 8:
        return None
    version, pt = d[0] >> 5, (d[0] >> 4) & 1
    if version == 1 and pt == 1 and not d[0] & 0x08:
        if int.from_bytes(d[2:4], "big") != len(d) - 8 or d[1] not in _GTP1_TYPES:
            return None
        if d[1] == 255:  # G-PDU: an IP packet, after the optional fields
            start = 12 if d[0] & 0x07 else 8
            return "v1-U" if _ip_packet(d[start:]) else None
        return "v1"
    if version == 2 and not d[0] & 0x07:
        teid = bool(d[0] & 0x08)
        head = 12 if teid else 8
        if int.from_bytes(d[2:4], "big") != len(d) - 4 or d[1] not in _GTP2_TYPES:
            return None
        return "v2-C" if len(d) > head and _ies_v2(d[head:]) else None
    if pt == 0 and version <= 2 and d[0] & 0x0E == 0x0E:  # GTP': spare bits set to 1
        head = 6 if not d[0] & 0x01 else 20
        if d[1] in _GTPP_TYPES and int.from_bytes(d[2:4], "big") == len(d) - head:
            return "prime"
    return None


def gtp(msgs: Messages) -> Result:
    for d, _ in msgs.interleaved(2):
        kind = _gtp(d)
        if kind is not None:
            return Detection("gtp", {"gtp_kind": kind})
    return None


# --- PFCP --------------------------------------------------------------------------------

_PFCP_TYPES = frozenset({*range(1, 16), *range(50, 58)})


def _pfcp(d: bytes) -> int | None:
    if len(d) < 8 or d[0] >> 5 != 1 or d[0] & 0x18 or d[1] not in _PFCP_TYPES:
        return None
    if int.from_bytes(d[2:4], "big") != len(d) - 4:
        return None
    session = bool(d[0] & 0x01)
    if session != (d[1] >= 50):  # session messages carry a SEID, node messages none
        return None
    pos = 16 if session else 8
    while pos < len(d):
        if pos + 4 > len(d) or d[pos : pos + 2] == b"\0\0":
            return None
        pos += 4 + int.from_bytes(d[pos + 2 : pos + 4], "big")
    return d[1] if pos == len(d) else None


def pfcp(msgs: Messages) -> Result:
    for d, _ in msgs.interleaved(2):
        kind = _pfcp(d)
        if kind is not None:
            facts: dict[str, Fact] = {"pfcp_message": kind}
            return Detection("pfcp", facts)
    return None


DETECTORS = (
    Detector("teredo", UDP, teredo,
             "either side: an IPv6 packet filling the datagram, after optional "
             "authentication and origin indication headers", "RFC 4380 §5.1"),
    Detector("capwap", UDP, capwap,
             "either side: preamble 0 with a DTLS record, or a CAPWAP header with a control "
             "message whose element length fills the datagram, or an 802.11 frame",
             "RFC 5415, RFC 5416"),
    Detector("lisp", BOTH, lisp,
             "either side: a LISP control message (type, record count, nonce, key id with "
             "its authentication length, EID record AFI); over TCP a reliable-transport "
             "message (type 16-30, a length covering it, the end marker 0x9FACADE9)",
             "RFC 9301, RFC 9300; draft-ietf-lisp-map-server-reliable-transport"),
    Detector("gtp", UDP, gtp,
             "either side: GTPv1/GTPv2-C/GTP' header whose length fills the datagram; a "
             "G-PDU carrying an IP packet, GTPv2 IEs filling the message",
             "3GPP TS 29.060, TS 29.274, TS 32.295"),
    Detector("pfcp", UDP, pfcp,
             "either side: version 1, node/session message type with a matching SEID flag, "
             "length filling the datagram, IEs filling the message", "3GPP TS 29.244"),
)
