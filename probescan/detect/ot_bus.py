"""Building and fieldbus protocols over IP: BACnet/IP, KNXnet/IP, EtherNet/IP, CIP I/O and
CAN over UDP (CAN-ETH).

* BACnet/IP (ASHRAE 135 Annex J): BVLC `81`, a function, a length = the datagram; where an
  NPDU follows, version 1, reserved control bits clear, the addresses it announces present
  and an APDU type in range; BVLL-only functions have their fixed sizes.
* KNXnet/IP (ISO 22510 / KNX 3.8.2): header `06 10`, a known service type, total length
  = the frame, and a first body structure that fits the service (HPAI, connection header,
  DIB, cEMI).
* EtherNet/IP (ODVA CIP Vol. 2 §2): 24-byte encapsulation header (known command, length =
  the rest, options 0) and a body that fits the command (RegisterSession, CPF items whose
  lengths add up, ListIdentity replies).
* CIP class 0/1 I/O over UDP (CIP Vol. 2 §2-6): a CPF packet of exactly a sequenced
  address item (connection id, sequence) and a connected data item filling the datagram.
* CAN-ETH (ProconX "CAN frames over Ethernet"): `ISO11898`, version 1, a frame count 1-16
  and room for that many 15-byte CAN frames.
"""

from __future__ import annotations

from probescan.detect.base import BOTH, NEED_MORE, UDP, Detector, Fact, Messages, Result
from probescan.detect.framing import (
    CLIENT,
    SERVER,
    Hit,
    SideResult,
    by_datagram,
    by_stream,
    by_transport,
)

# ---- BACnet/IP -------------------------------------------------------------------------

_BVLC_FIXED = {0x00: 6, 0x02: 4, 0x05: 6, 0x06: 4, 0x08: 10}  # function -> size
_BVLC_TABLES = (0x01, 0x03, 0x07)  # 4 + n * 10 (BDT) or n * 10 (FDT acks)
_BVLC_NPDU = {0x04: 10, 0x09: 4, 0x0A: 4, 0x0B: 4}  # function -> NPDU offset
_APDU_TYPES = ("confirmed-request", "unconfirmed-request", "simple-ack", "complex-ack",
               "segment-ack", "error", "reject", "abort")


def _npdu(d: bytes, pos: int) -> tuple[str, str | None] | None:
    """(what the NPDU carries, role) or None when it is malformed."""
    if len(d) < pos + 3 or d[pos] != 0x01 or d[pos + 1] & 0x50:
        return None
    ctrl, p = d[pos + 1], pos + 2
    if ctrl & 0x20:  # DNET, DLEN, DADR
        if len(d) < p + 3:
            return None
        p += 3 + d[p + 2]
    if ctrl & 0x08:  # SNET, SLEN, SADR
        if len(d) < p + 3 or d[p + 2] == 0:
            return None
        p += 3 + d[p + 2]
    if ctrl & 0x20:
        p += 1  # hop count
    if p >= len(d):
        return None
    if ctrl & 0x80:
        return "network-message", None
    kind = d[p] >> 4
    if kind > 7:
        return None
    if kind == 1 and len(d) > p + 1:
        role = CLIENT if d[p + 1] in (7, 8) else SERVER if d[p + 1] in (0, 1) else None
        return _APDU_TYPES[kind], role
    return _APDU_TYPES[kind], CLIENT if kind == 0 else None if kind in (1, 4) else SERVER


def _bacnet(d: bytes) -> SideResult:
    if len(d) < 4 or d[0] != 0x81 or int.from_bytes(d[2:4], "big") != len(d):
        return None
    fn = d[1]
    if fn in _BVLC_FIXED:
        if len(d) != _BVLC_FIXED[fn] or (fn == 0 and (d[4] or d[5] & 0x8F or d[5] > 0x60)):
            return None  # a BVLC-Result code is 0x0000-0x0060 in steps of 0x10
        return Hit({"bacnet_bvlc": fn})
    if fn in _BVLC_TABLES:
        return Hit({"bacnet_bvlc": fn}) if len(d) > 4 and (len(d) - 4) % 10 == 0 else None
    if fn not in _BVLC_NPDU:
        return None
    got = _npdu(d, _BVLC_NPDU[fn])
    if got is None:
        return None
    return Hit({"bacnet_bvlc": fn, "bacnet_apdu": got[0]}, got[1])


def bacnet(msgs: Messages) -> Result:
    return by_datagram(msgs, "bacnet", _bacnet)


# ---- KNXnet/IP -------------------------------------------------------------------------

_KNX = {  # service type -> (name, body check, role)
    0x0201: ("search request", "hpai", CLIENT), 0x0202: ("search response", "hpai", SERVER),
    0x0203: ("description request", "hpai", CLIENT),
    0x0204: ("description response", "dib", SERVER),
    0x0205: ("connect request", "hpai", CLIENT), 0x0206: ("connect response", "chan", SERVER),
    0x0207: ("connectionstate request", "chan-hpai", CLIENT),
    0x0208: ("connectionstate response", "chan", SERVER),
    0x0209: ("disconnect request", "chan-hpai", None),
    0x020A: ("disconnect response", "chan", None),
    0x020B: ("search request extended", "hpai", CLIENT),
    0x020C: ("search response extended", "hpai", SERVER),
    0x0310: ("device configuration request", "conn", None),
    0x0311: ("device configuration ack", "conn", None),
    0x0420: ("tunnelling request", "conn", None), 0x0421: ("tunnelling ack", "conn", None),
    0x0422: ("tunnelling feature get", "conn", None),
    0x0423: ("tunnelling feature response", "conn", None),
    0x0424: ("tunnelling feature set", "conn", None),
    0x0425: ("tunnelling feature info", "conn", None),
    0x0530: ("routing indication", "cemi", None), 0x0531: ("routing lost message", "conn", None),
    0x0532: ("routing busy", "busy", None), 0x0950: ("secure wrapper", "any", None),
    0x0951: ("secure session request", "hpai", CLIENT),
    0x0952: ("secure session response", "any", SERVER),
}  # fmt: skip
_CEMI_CODES = frozenset({0x11, 0x29, 0x2E, 0x10, 0x2D, 0x13, 0x2B, 0xFC, 0xFB, 0xF6, 0xF5,
                         0xF7, 0xF8, 0xF1, 0xF2, 0xF0, 0xF3, 0xFA, 0xF9})


def _knx_body(check: str, body: bytes) -> bool:
    if check == "any":
        return True
    if check == "hpai":
        return len(body) >= 8 and body[0] == 8 and body[1] in (1, 2)
    if check == "chan-hpai":
        return len(body) >= 10 and body[1] == 0 and body[2] == 8 and body[3] in (1, 2)
    if check == "chan":
        return len(body) >= 2
    if check == "dib":
        return len(body) >= 54 and body[0] == 0x36 and body[1] == 1
    if check == "conn":
        return len(body) >= 4 and body[0] == 4
    if check == "busy":
        return len(body) == 6 and body[0] == 6
    return len(body) >= 2 and body[0] in _CEMI_CODES  # cemi


def _knx(d: bytes) -> SideResult:
    if d[:2] != b"\x06\x10"[:len(d)]:
        return None
    if len(d) < 6:
        return NEED_MORE
    entry = _KNX.get(int.from_bytes(d[2:4], "big"))
    total = int.from_bytes(d[4:6], "big")
    if entry is None or total < 6:
        return None
    if len(d) < total:
        return NEED_MORE
    if not _knx_body(entry[1], d[6:total]):
        return None
    return Hit({"knx_service": entry[0]}, entry[2])


def knx(msgs: Messages) -> Result:
    if msgs.transport == "udp":
        return by_datagram(msgs, "knxnet-ip", lambda d: _knx(d) if len(d) >= 6 else None)
    return by_stream(msgs, "knxnet-ip", _knx)


# ---- EtherNet/IP -----------------------------------------------------------------------

_ENIP = {0x0004: "list services", 0x0063: "list identity",
         0x0064: "list interfaces", 0x0065: "register session", 0x0066: "unregister session",
         0x006F: "send rr data", 0x0070: "send unit data", 0x0072: "indicate status",
         0x0073: "cancel"}
_ENIP_STATUS = frozenset({0, 1, 2, 3, 0x64, 0x65, 0x69})


def _cpf(body: bytes) -> int | None:
    """The item count of a common packet format whose items fill `body` exactly."""
    if len(body) < 2:
        return None
    count, pos = int.from_bytes(body[:2], "little"), 2
    for _ in range(count):
        if pos + 4 > len(body):
            return None
        pos += 4 + int.from_bytes(body[pos + 2:pos + 4], "little")
    return count if pos == len(body) and count else None


def _enip(d: bytes) -> SideResult:
    if len(d) < 24:
        return None
    cmd = int.from_bytes(d[:2], "little")
    length = int.from_bytes(d[2:4], "little")
    status = int.from_bytes(d[8:12], "little")
    if cmd not in _ENIP or status not in _ENIP_STATUS or d[20:24] != b"\x00\x00\x00\x00":
        return None
    if len(d) < 24 + length:
        return NEED_MORE
    body = d[24:24 + length]
    role = None
    if cmd in (0x0004, 0x0063, 0x0064):
        if length == 0 and len(d) == 24:  # a bare request, not a run of zero bytes
            role = CLIENT
        elif _cpf(body) is not None:
            role = SERVER
        else:
            return None
    elif cmd == 0x0065:
        if length != 4 or body != b"\x01\x00\x00\x00":
            return None
    elif cmd in (0x006F, 0x0070):
        if length < 8 or body[:4] != b"\x00\x00\x00\x00" or _cpf(body[6:]) is None:
            return None
    elif cmd == 0x0066 and length:
        return None
    return Hit({"enip_command": _ENIP[cmd]}, role)


def ethernetip(msgs: Messages) -> Result:
    return by_transport(msgs, "ethernetip", _enip)


def _cip_io(d: bytes) -> SideResult:
    if len(d) < 16 or d[:6] != b"\x02\x00\x02\x80\x08\x00" or d[14:16] != b"\xb1\x00":
        return None
    if len(d) < 18 or int.from_bytes(d[16:18], "little") != len(d) - 18:
        return None
    return Hit({"cip_connection": d[6:10][::-1].hex()})


def cip_io(msgs: Messages) -> Result:
    return by_datagram(msgs, "cip", _cip_io)


# ---- CAN-ETH ---------------------------------------------------------------------------


def _caneth(d: bytes) -> SideResult:
    if len(d) < 10 or d[:8] != b"ISO11898" or d[8] != 1 or not 1 <= d[9] <= 16:
        return None
    if len(d) < 10 + 15 * d[9]:
        return None
    facts: dict[str, Fact] = {"can_frames": d[9]}
    return Hit(facts)


def caneth(msgs: Messages) -> Result:
    return by_datagram(msgs, "controller-area-network", _caneth)


DETECTORS = (
    Detector("bacnet", UDP, bacnet,
             "either side: BVLC `81`, function and length = datagram; NPDU version 1 with "
             "reserved bits clear and a valid APDU type", "ASHRAE 135-2020 Annex J, clause 6"),
    Detector("knxnet-ip", BOTH, knx,
             "either side: `06 10`, known service type, total length = frame, first body "
             "structure fitting the service", "ISO 22510 (KNXnet/IP), KNX Standard 3.8.2-3.8.4"),
    Detector("ethernetip", BOTH, ethernetip,
             "either side: encapsulation header (known command, length, options 0) and a body "
             "fitting the command (CPF items adding up)",
             "ODVA, The CIP Networks Library Vol. 2 (EtherNet/IP) §2"),
    Detector("cip", UDP, cip_io,
             "either side: CPF of a sequenced address item and a connected data item filling "
             "the datagram (class 0/1 I/O)", "ODVA CIP Vol. 2 §2-6 (implicit messaging)"),
    Detector("controller-area-network", UDP, caneth,
             "either side: `ISO11898`, version 1, frame count 1-16 and room for the frames",
             "ProconX CAN-ETH: CAN frames over Ethernet (canframe.pdf)"),
)
