"""Power-grid and metering protocols: DNP3, IEC 60870-5-104, IEEE C37.118, IEC 62056
(DLMS/COSEM) and ANSI C12.22.

* DNP3 (IEEE 1815 §9): link frames `05 64`, a length, control, addresses and a CRC-16/DNP
  after the header and after every 16-byte block of user data; the CRCs are verified.
* IEC 60870-5-104 (IEC 60870-5-104 §5): APDUs `68`, a length, four control octets (I, S or
  U format, each with fixed bits), an ASDU after I-format ones; every APDU is checked.
* IEEE C37.118 (.2-2011 §6): frames with sync `AA`, a frame type and version, a size and a
  CRC-CCITT over the frame, verified.
* IEC 62056 DLMS/COSEM: HDLC frames (IEC 62056-46: `7E`, frame format type 0xA with the
  frame length, addresses, control, HCS and FCS, both verified) or the TCP/UDP wrapper
  (IEC 62056-47: version 1, ports and a length) around an AARQ/AARE naming the DLMS
  application context.
* ANSI C12.22 (IEEE 1703): an ACSE PDU `60` whose elements are the context-tagged fields of
  C12.22 (AP titles, invocation ids, user information), lengths nested exactly.
"""

from __future__ import annotations

from probescan.detect.base import (
    BOTH,
    NEED_MORE,
    TCP,
    Detector,
    Fact,
    Messages,
    Result,
)
from probescan.detect.framing import (
    CLIENT,
    SERVER,
    Hit,
    SideResult,
    by_stream,
    by_transport,
    crc16_ccitt,
    crc16_dnp,
    crc16_x25,
)

# ---- DNP3 ------------------------------------------------------------------------------


def _dnp3(data: bytes) -> SideResult:
    if data[:2] != b"\x05\x64":
        return NEED_MORE if data == b"\x05" else None
    if len(data) < 10:
        return NEED_MORE
    length = data[2]
    if length < 5 or crc16_dnp(data[:8]) != int.from_bytes(data[8:10], "little"):
        return None
    user = length - 5
    pos = 10
    while user > 0:
        block = min(16, user)
        if len(data) < pos + block + 2:
            break  # the header CRC already holds; a later segment carries the rest
        if crc16_dnp(data[pos:pos + block]) != int.from_bytes(data[pos + block:pos + block + 2],
                                                              "little"):
            return None
        pos += block + 2
        user -= block
    ctrl = data[3]
    facts: dict[str, Fact] = {
        "dnp3_dst": int.from_bytes(data[4:6], "little"),
        "dnp3_src": int.from_bytes(data[6:8], "little"),
        "dnp3_from": "master" if ctrl & 0x80 else "outstation",
    }
    return Hit(facts)


def dnp3(msgs: Messages) -> Result:
    return by_stream(msgs, "dnp3", _dnp3)


# ---- IEC 60870-5-104 -------------------------------------------------------------------

_U_FRAMES = {0x07: "STARTDT act", 0x0B: "STARTDT con", 0x13: "STOPDT act",
             0x23: "STOPDT con", 0x43: "TESTFR act", 0x83: "TESTFR con"}
_ASDU_TYPES = frozenset([*range(1, 22), *range(30, 41), *range(45, 52), *range(58, 65), 70,
                         *range(100, 108), *range(110, 114), *range(120, 128)])


def _apdu(data: bytes, pos: int) -> tuple[str, int] | None:
    """The kind of the complete, valid APDU at `pos` and its end; None if invalid."""
    length = data[pos + 1]
    cf = data[pos + 2:pos + 6]
    if cf[0] & 1 == 0:  # I format
        if length < 10 or cf[2] & 1:
            return None
        asdu = data[pos + 6:pos + 12]
        if asdu[0] not in _ASDU_TYPES or asdu[1] & 0x7F == 0 or not 1 <= asdu[2] & 0x3F <= 47:
            return None
        return "I", pos + 2 + length
    if length != 4:
        return None
    if cf[0] == 0x01:
        return ("S", pos + 6) if cf[1] == 0 and cf[2] & 1 == 0 else None
    if cf[0] in _U_FRAMES and cf[1:] == b"\x00\x00\x00":
        return _U_FRAMES[cf[0]], pos + 6
    return None


def _iec104(data: bytes) -> SideResult:
    if data[0] != 0x68:
        return None
    kinds: list[str] = []
    pos = 0
    while pos < len(data):
        if data[pos] != 0x68:
            return None
        if len(data) < pos + 2:
            break
        if not 4 <= data[pos + 1] <= 253:
            return None
        if len(data) < pos + 2 + data[pos + 1]:
            break
        got = _apdu(data, pos)
        if got is None:
            return None
        kinds.append(got[0])
        pos = got[1]
    whole = pos == len(data)
    strong = any(k != "S" for k in kinds) or len(kinds) >= 2
    if not kinds or not (whole or strong):
        return NEED_MORE if len(data) < 256 else None
    first = kinds[0]
    role = None
    if first[:4] in ("STAR", "STOP"):
        role = CLIENT if first.endswith("act") else SERVER
    return Hit({"iec104_first": first, "iec104_apdus": len(kinds)}, role)


def iec104(msgs: Messages) -> Result:
    return by_stream(msgs, "iec60870", _iec104)


# ---- IEEE C37.118 ----------------------------------------------------------------------

_C37_TYPES = ("data", "header", "cfg-1", "cfg-2", "command", "cfg-3")


def _c37118(data: bytes) -> SideResult:
    if data[0] != 0xAA:
        return None
    if len(data) < 4:
        return NEED_MORE
    ftype, version = data[1] >> 4, data[1] & 0x0F
    size = int.from_bytes(data[2:4], "big")
    if ftype >= len(_C37_TYPES) or not 1 <= version <= 3 or size < 16:
        return None
    if len(data) < size:
        return NEED_MORE
    if crc16_ccitt(data[:size - 2]) != int.from_bytes(data[size - 2:size], "big"):
        return None
    facts: dict[str, Fact] = {"c37118_frame": _C37_TYPES[ftype], "c37118_version": version,
                              "c37118_idcode": int.from_bytes(data[4:6], "big")}
    return Hit(facts, CLIENT if ftype == 4 else SERVER)


def c37118(msgs: Messages) -> Result:
    return by_transport(msgs, "ieee-c37118", _c37118)


# ---- IEC 62056 (DLMS/COSEM) ------------------------------------------------------------

_HDLC_CONTROL = {0x93: "SNRM", 0x53: "DISC", 0x73: "UA", 0x1F: "DM", 0x97: "FRMR",
                 0x13: "UI"}
_DLMS_CONTEXT = b"\xa1\x09\x06\x07\x60\x85\x74\x05\x08\x01"  # 2.16.756.5.8.1.x


def _hdlc_address(data: bytes, pos: int, end: int) -> int | None:
    """Offset after the HDLC address at `pos` (1, 2 or 4 bytes, the last with bit 0 set)."""
    for size in (1, 2, 4):
        if pos + size > end:
            return None
        if data[pos + size - 1] & 1:
            if any(b & 1 for b in data[pos:pos + size - 1]):
                return None
            return pos + size
        if size == 2 and data[pos + 2] & 1:
            return None  # a 3-byte address is not allowed
    return None


def _dlms_hdlc(data: bytes) -> SideResult:
    if len(data) < 3:
        return NEED_MORE if data[0] == 0x7E else None
    if data[1] & 0xF0 != 0xA0:
        return None
    length = int.from_bytes(data[1:3], "big") & 0x07FF
    if length < 7:
        return None
    if len(data) < length + 2:
        return NEED_MORE
    end = 1 + length  # offset of the closing flag
    if data[end] != 0x7E:
        return None
    pos = _hdlc_address(data, 3, end)
    pos = _hdlc_address(data, pos, end) if pos is not None else None
    if pos is None or pos + 3 > end:
        return None
    control = data[pos]
    if crc16_x25(data[1:end - 2]) != int.from_bytes(data[end - 2:end], "little"):
        return None
    if end - 2 > pos + 1 and (pos + 3 > end - 2 or crc16_x25(data[1:pos + 1]) !=
                              int.from_bytes(data[pos + 1:pos + 3], "little")):
        return None
    kind = _HDLC_CONTROL.get(control, "I" if control & 1 == 0 else "S")
    role = CLIENT if kind in ("SNRM", "DISC") else SERVER if kind in ("UA", "DM") else None
    return Hit({"dlms_framing": "hdlc", "dlms_frame": kind}, role)


def _dlms_wrapper(data: bytes) -> SideResult:
    if data[:2] != b"\x00\x01":
        return None
    if len(data) < 8 + len(_DLMS_CONTEXT) + 2:
        return NEED_MORE if len(data) >= 8 else None
    length = int.from_bytes(data[6:8], "big")
    apdu = data[8:]
    if length < 12 or apdu[0] not in (0x60, 0x61) or apdu[1] + 2 != length:
        return None
    if apdu[2:2 + len(_DLMS_CONTEXT)] != _DLMS_CONTEXT:
        return None
    return Hit({"dlms_framing": "wrapper", "dlms_frame": "AARQ" if apdu[0] == 0x60 else "AARE"},
               CLIENT if apdu[0] == 0x60 else SERVER)


def _dlms(data: bytes) -> SideResult:
    return _dlms_hdlc(data) if data[0] == 0x7E else _dlms_wrapper(data)


def dlms(msgs: Messages) -> Result:
    return by_transport(msgs, "iec62056", _dlms)


# ---- ANSI C12.22 -----------------------------------------------------------------------

_C1222_TAGS = frozenset({0xA1, 0xA2, 0xA3, 0xA4, 0xA6, 0xA7, 0xA8, 0xA9, 0xAA, 0xAB, 0xAC,
                         0xBE})


def _ber_length(data: bytes, pos: int) -> tuple[int, int] | None:
    """(content length, content offset) of the BER length at `pos`; None if malformed or
    past the data."""
    if pos >= len(data):
        return None
    first = data[pos]
    if first < 0x80:
        return first, pos + 1
    count = first & 0x7F
    if not 1 <= count <= 2 or pos + 1 + count > len(data):
        return None
    return int.from_bytes(data[pos + 1:pos + 1 + count], "big"), pos + 1 + count


def _c1222(data: bytes) -> SideResult:
    if data[0] != 0x60:
        return None
    outer = _ber_length(data, 1)
    if outer is None:
        return NEED_MORE if len(data) < 4 else None
    length, pos = outer
    end = pos + length
    if length < 8:
        return None
    if len(data) < end:
        return NEED_MORE if len(data) < 1500 else None
    tags: list[int] = []
    while pos < end:
        tag = data[pos]
        inner = _ber_length(data, pos + 1)
        if tag not in _C1222_TAGS or (tags and tag <= tags[-1]) or inner is None:
            return None
        size, start = inner
        pos = start + size
        if pos > end:
            return None
        if tag in (0xA2, 0xA6) and data[start] not in (0x06, 0x80):
            return None  # an AP title is an absolute or a relative OID
        tags.append(tag)
    if 0xBE not in tags or not {0xA2, 0xA6} & set(tags):
        return None
    return Hit({"c1222_fields": len(tags)})


def c1222(msgs: Messages) -> Result:
    return by_transport(msgs, "ansi-c1222", _c1222)


DETECTORS = (
    Detector("dnp3", TCP, dnp3,
             "either side: link frame `05 64`, header CRC-16/DNP and block CRCs verified",
             "IEEE 1815-2012 (DNP3) §9 data link layer"),
    Detector("iec60870", TCP, iec104,
             "either side: every APDU `68 len` with valid I/S/U control octets and ASDU "
             "header", "IEC 60870-5-104 §5 (APCI), IEC 60870-5-101 §7 (ASDU)"),
    Detector("ieee-c37118", BOTH, c37118,
             "either side: sync `AA`, frame type and version, size, CRC-CCITT verified",
             "IEEE C37.118.2-2011 §6"),
    Detector("iec62056", BOTH, dlms,
             "either side: HDLC frame (format type 0xA, length, HCS and FCS verified) or "
             "wrapper header around an AARQ/AARE with the DLMS context",
             "IEC 62056-46 (HDLC), IEC 62056-47 (wrapper), DLMS UA Green Book"),
    Detector("ansi-c1222", BOTH, c1222,
             "either side: ACSE `60` with the C12.22 context-tagged elements, nested lengths "
             "exact, user information present", "ANSI C12.22-2008 / IEEE 1703-2012 §5"),
)
