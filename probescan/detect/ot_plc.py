"""PLC protocols: Modbus/TCP, S7comm, OMRON FINS, Beckhoff ADS, Ether-S-Bus, HART-IP.

* Modbus/TCP: MBAP header (protocol id 0, a length that covers unit id and PDU) and a PDU
  whose size fits its function code, request or response; every ADU of the side checked.
* S7comm: TPKT (RFC 1006) + COTP (ISO 8073) data TPDU carrying the S7 header `32` (message
  type, reserved 0, parameter and data lengths adding up) or S7comm-plus `72`.
* FINS: FINS/TCP (`FINS`, a length, a command) or, over UDP, FINS frames (ICF, RSV 0, a
  gateway count, a known command code) that a reply or a second command confirms.
* Beckhoff ADS: AMS/TCP header (reserved 0, length) and the AMS header (command 1-9,
  state flags of an ADS request or response, data length = the rest).
* Ether-S-Bus (Saia PCD): length = datagram, telegram attribute and CRC-16 verified.
* HART-IP: header (version, message type and id, byte count = message), and a body that
  fits the message id (session initiate, keep alive, a HART PDU whose check byte holds).
"""

from __future__ import annotations

from probescan.detect.base import (
    BOTH,
    NEED_MORE,
    TCP,
    UDP,
    Detection,
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
    by_datagram,
    by_stream,
    by_transport,
    crc16_ccitt,
)

# ---- Modbus/TCP ------------------------------------------------------------------------

_MB_NAMES = {1: "read coils", 2: "read discrete inputs", 3: "read holding registers",
             4: "read input registers", 5: "write single coil", 6: "write single register",
             15: "write multiple coils", 16: "write multiple registers",
             43: "encapsulated interface"}
_MB_FUNCTIONS = frozenset({*_MB_NAMES, 7, 8, 11, 12, 17, 20, 21, 22, 23, 24})


def _mb_request(pdu: bytes) -> bool:
    fc, n = pdu[0], len(pdu)
    if fc in (1, 2, 3, 4):
        qty = int.from_bytes(pdu[3:5], "big")
        return n == 5 and 1 <= qty <= (2000 if fc <= 2 else 125)
    if fc == 5:
        return n == 5 and pdu[3:5] in (b"\xff\x00", b"\x00\x00")
    if fc in (6, 8):
        return n == 5 if fc == 6 else n >= 5 and n % 2 == 1
    if fc in (7, 11, 12, 17):
        return n == 1
    if fc in (15, 16):
        qty = int.from_bytes(pdu[3:5], "big")
        want = (qty + 7) // 8 if fc == 15 else 2 * qty
        return n >= 7 and pdu[5] == want and n == 6 + want and qty > 0
    if fc == 22:
        return n == 7
    if fc == 23:
        return n >= 11 and pdu[9] == 2 * int.from_bytes(pdu[7:9], "big") and n == 10 + pdu[9]
    if fc == 24:
        return n == 3
    if fc in (20, 21):
        return n >= 2 and n == 2 + pdu[1] and pdu[1] >= 7
    if fc == 43:
        return n == 4 and pdu[1] == 0x0E and 1 <= pdu[2] <= 4
    return False


def _mb_response(pdu: bytes) -> bool:
    fc, n = pdu[0], len(pdu)
    if fc & 0x80:
        return n == 2 and (fc & 0x7F) in _MB_FUNCTIONS and pdu[1] in (1, 2, 3, 4, 5, 6, 8, 10, 11)
    if fc in (1, 2, 3, 4, 12, 17, 20, 21, 23):
        ok = n >= 3 and n == 2 + pdu[1]
        return ok and (pdu[1] % 2 == 0 if fc in (3, 4, 23) else True)
    if fc in (5, 6, 8, 15, 16):
        return n == 5 if fc != 8 else n >= 5 and n % 2 == 1
    if fc == 7:
        return n == 2
    if fc == 11:
        return n == 5
    if fc == 22:
        return n == 7
    if fc == 24:
        return n >= 5 and int.from_bytes(pdu[1:3], "big") == n - 3
    if fc == 43:
        return n >= 8 and pdu[1] == 0x0E
    return False


def _modbus(data: bytes) -> SideResult:
    if len(data) < 8:
        ok = len(data) >= 6 and data[2:4] == b"\x00\x00" and data[5] >= 2 and not data[4]
        return NEED_MORE if ok else None
    if data[2:4] != b"\x00\x00":
        return None
    pos, kinds = 0, []
    while pos + 8 <= len(data):
        if data[pos + 2:pos + 4] != b"\x00\x00":
            return None
        length = int.from_bytes(data[pos + 4:pos + 6], "big")
        if not 2 <= length <= 254:
            return None
        end = pos + 6 + length
        if end > len(data):
            break
        pdu = data[pos + 7:end]
        req, resp = _mb_request(pdu), _mb_response(pdu)
        if not (req or resp):
            return None
        kinds.append((req, resp, pdu[0], data[pos + 6]))
        pos = end
    if not kinds:
        return NEED_MORE
    req, resp, fc, unit = kinds[0]
    role = None if req == resp else CLIENT if req else SERVER
    facts: dict[str, Fact] = {"modbus_unit": unit,
                              "modbus_function": _MB_NAMES.get(fc & 0x7F, str(fc & 0x7F))}
    return Hit(facts, role)


def modbus(msgs: Messages) -> Result:
    return by_stream(msgs, "modbus", _modbus)


# ---- S7comm ----------------------------------------------------------------------------

_S7_TYPES = {1: "job", 2: "ack", 3: "ack-data", 7: "userdata"}


def _s7_pdu(payload: bytes) -> dict[str, Fact] | None:
    if payload[0] == 0x32 and len(payload) >= 10:
        kind = payload[1]
        head = 12 if kind in (2, 3) else 10
        if kind not in _S7_TYPES or payload[2:4] != b"\x00\x00" or len(payload) < head:
            return None
        plen = int.from_bytes(payload[6:8], "big")
        dlen = int.from_bytes(payload[8:10], "big")
        if head + plen + dlen != len(payload):
            return None
        return {"s7_variant": "s7comm", "s7_message": _S7_TYPES[kind]}
    if payload[0] == 0x72 and len(payload) >= 4 and payload[1] in (1, 2, 3, 0xFE):
        dlen = int.from_bytes(payload[2:4], "big")
        if len(payload) not in (4 + dlen, 8 + dlen) or dlen == 0:
            return None
        return {"s7_variant": "s7comm-plus", "s7_version": payload[1]}
    return None


def _s7comm(data: bytes) -> SideResult:
    if data[0] != 0x03:
        return None
    pos, role, cotp = 0, None, False
    while pos < len(data):
        if len(data) >= pos + 4 and int.from_bytes(data[pos + 2:pos + 4], "big") < 7:
            return None  # a TPKT carries at least a 3-byte COTP header
        if len(data) < pos + 7:
            break
        if data[pos:pos + 2] != b"\x03\x00":
            return None
        end = pos + int.from_bytes(data[pos + 2:pos + 4], "big")
        li, kind = data[pos + 4], data[pos + 5] & 0xF0
        if end < pos + 7 or li + 5 > end - pos:
            return None
        if end > len(data):
            break
        if kind in (0xE0, 0xD0) and li >= 6:  # connection request / confirm
            role = role or (CLIENT if kind == 0xE0 else SERVER)
            cotp = True
        elif kind == 0xF0 and li == 2 and end > pos + 7:  # data
            facts = _s7_pdu(data[pos + 7:end])
            if facts is None:
                return None
            kind7 = facts.get("s7_message")
            if role is None and kind7 in ("job", "ack", "ack-data"):
                role = CLIENT if kind7 == "job" else SERVER
            return Hit(facts, role)
        elif kind != 0xF0:
            return None
        pos = end
    return NEED_MORE if cotp or pos < 7 else None


def s7comm(msgs: Messages) -> Result:
    return by_stream(msgs, "s7comm", _s7comm)


# ---- OMRON FINS ------------------------------------------------------------------------

_FINS_CODES = {1: range(1, 6), 2: range(1, 4), 3: range(6, 9), 4: range(1, 3),
               5: range(1, 3), 6: range(1, 2), 7: range(1, 3), 9: range(0x20, 0x21),
               0x0C: range(1, 2), 0x21: range(1, 4), 0x22: range(1, 0x16),
               0x23: range(1, 3), 0x26: range(1, 6), 0x28: range(1, 3)}


def _fins_frame(d: bytes) -> bool:
    return (len(d) >= 12 and d[0] in (0x80, 0x81, 0xC0, 0xC1) and d[1] == 0 and d[2] <= 7
            and d[11] in _FINS_CODES.get(d[10], ()) and (len(d) >= 14 or d[0] & 0x40 == 0))


def _fins_tcp(data: bytes) -> SideResult:
    if data[:4] != b"FINS"[:len(data)]:
        return None
    if len(data) < 16:
        return NEED_MORE
    length, command = int.from_bytes(data[4:8], "big"), int.from_bytes(data[8:12], "big")
    if command not in (0, 1, 2, 3, 6) or length < 8 or length > 0x7FFF:
        return None
    role = CLIENT if command == 0 else SERVER if command == 1 else None
    if command == 2 and len(data) >= 28:
        if not _fins_frame(data[16:8 + length]):
            return None
        role = SERVER if data[16] & 0x40 else CLIENT
    return Hit({"fins_transport": "tcp"}, role)


def _fins_udp(msgs: Messages) -> Result:
    first_c = msgs.client[0] if msgs.client else b""
    first_s = msgs.server[0] if msgs.server else b""
    facts: dict[str, Fact] = {"fins_transport": "udp"}
    for side, cmd, resp in ((CLIENT, first_c, first_s), (SERVER, first_s, first_c)):
        # the reply goes back to the command's source, with its SID and command code (the
        # node it names as source may differ: DA1 0 addresses "the local node")
        if (_fins_frame(cmd) and _fins_frame(resp) and not cmd[0] & 0x40 and resp[0] & 0x40
                and resp[3:6] == cmd[6:9] and resp[9:12] == cmd[9:12]):
            return Detection("fins", facts, swapped=side == SERVER)
    for side, msgs_ in ((CLIENT, msgs.client), (SERVER, msgs.server)):
        frames = msgs_[:4]
        if len(frames) >= 2 and all(_fins_frame(f) and f[3:9] == frames[0][3:9]
                                    and not (f[0] ^ frames[0][0]) & 0x40 for f in frames):
            reply = bool(frames[0][0] & 0x40)
            return Detection("fins", facts, swapped=(side == CLIENT) == reply)
    return NEED_MORE if _fins_frame(first_c) or _fins_frame(first_s) else None


def fins(msgs: Messages) -> Result:
    if msgs.transport == "udp":
        return _fins_udp(msgs)
    return by_stream(msgs, "fins", _fins_tcp)


# ---- Beckhoff ADS ----------------------------------------------------------------------

_ADS_COMMANDS = ("", "read device info", "read", "write", "read state", "write control",
                 "add notification", "delete notification", "device notification",
                 "read write")


def _ads(data: bytes) -> SideResult:
    if data[:2] != b"\x00\x00":
        return None
    if len(data) < 38:
        ok = len(data) >= 6 and 32 <= int.from_bytes(data[2:6], "little") < 1 << 20
        return NEED_MORE if ok else None
    length = int.from_bytes(data[2:6], "little")
    ams = data[6:38]
    command = int.from_bytes(ams[16:18], "little")
    flags = int.from_bytes(ams[18:20], "little")
    dlen = int.from_bytes(ams[20:24], "little")
    if not 1 <= command <= 9 or flags not in (4, 5) or dlen != length - 32:
        return None
    facts: dict[str, Fact] = {"ads_command": _ADS_COMMANDS[command],
                              "ads_target_port": int.from_bytes(ams[6:8], "little")}
    return Hit(facts, SERVER if flags == 5 else CLIENT)


def ads(msgs: Messages) -> Result:
    return by_stream(msgs, "beckhoffads", _ads)


# ---- Ether-S-Bus -----------------------------------------------------------------------


def _sbus(data: bytes) -> SideResult:
    if len(data) < 11 or int.from_bytes(data[:4], "big") != len(data):
        return None
    if data[4] > 1 or data[5] > 1 or data[8] > 2:
        return None
    if crc16_ccitt(data[:-2], init=0) != int.from_bytes(data[-2:], "big"):
        return None
    return Hit({"sbus_attribute": ("request", "response", "ack")[data[8]]},
               (CLIENT, SERVER, None)[data[8]])


def ether_sbus(msgs: Messages) -> Result:
    return by_datagram(msgs, "ether-s-bus", _sbus)


# ---- HART-IP ---------------------------------------------------------------------------

_HART_IDS = {0: "session initiate", 1: "session close", 2: "keep alive", 3: "token-passing pdu",
             4: "direct pdu", 128: "read audit log"}


def _hart_pdu(pdu: bytes) -> bool:
    if len(pdu) < 5:
        return False
    delim = pdu[0]
    if delim & 0x07 not in (1, 2, 6) or delim & 0x78:
        return False
    pos = 6 if delim & 0x80 else 2
    if len(pdu) < pos + 3 or len(pdu) != pos + 2 + pdu[pos + 1] + 1:
        return False
    check = 0
    for b in pdu:
        check ^= b
    return check == 0


def _hart_message(data: bytes, pos: int) -> tuple[int, int, int] | None:
    """(message type, id, end) of the valid HART-IP message at `pos`."""
    version, mtype, mid = data[pos], data[pos + 1], data[pos + 2]
    count = int.from_bytes(data[pos + 6:pos + 8], "big")
    if version not in (1, 2) or mtype not in (0, 1, 2, 3, 15) or mid not in _HART_IDS:
        return None
    body = data[pos + 8:pos + count]
    if not 8 <= count <= 2048 or len(body) != count - 8:
        return None
    if mid == 0 and mtype in (0, 1) and not (len(body) == 5 and body[0] <= 1):
        return None
    if mid in (1, 2) and body:
        return None
    if mid == 3 and mtype in (0, 1) and not _hart_pdu(body):
        return None
    return mtype, mid, pos + count


def _hart_ip(data: bytes) -> SideResult:
    if len(data) < 8:
        return None
    found: list[tuple[int, int, int]] = []
    pos = 0
    while pos + 8 <= len(data) and len(found) < 4:
        if pos + int.from_bytes(data[pos + 6:pos + 8], "big") > len(data):
            break
        got = _hart_message(data, pos)
        if got is None:
            return None
        found.append(got)
        pos = got[2]
    if not found:
        head_ok = data[0] in (1, 2) and data[1] in (0, 1, 2, 3, 15) and data[2] in _HART_IDS
        return NEED_MORE if head_ok and 8 <= int.from_bytes(data[6:8], "big") <= 2048 else None
    if not any(mid in (0, 3) for _, mid, _ in found):
        return NEED_MORE
    mtype, mid, _ = found[0]
    role = CLIENT if mtype == 0 else SERVER if mtype == 1 else None
    return Hit({"hartip_message": _HART_IDS[mid]}, role)


def hart_ip(msgs: Messages) -> Result:
    return by_transport(msgs, "hart-ip", _hart_ip)


DETECTORS = (
    Detector("modbus", TCP, modbus,
             "either side: every MBAP header (protocol id 0, length) and a PDU whose size "
             "fits its function code", "MODBUS Application Protocol V1.1b3; MODBUS Messaging "
             "on TCP/IP Implementation Guide V1.0b"),
    Detector("s7comm", TCP, s7comm,
             "either side: TPKT + COTP data TPDU with the S7 header `32` (lengths add up) or "
             "S7comm-plus `72`", "RFC 1006, ISO 8073; Siemens S7 protocol as documented for "
             "Wireshark's s7comm dissector"),
    Detector("fins", BOTH, fins,
             "TCP: `FINS`, length and command; UDP: FINS header and command code, confirmed "
             "by the matching reply or a second command to the same node",
             "OMRON FINS Commands Reference Manual (W227), FINS/TCP (W421)"),
    Detector("beckhoffads", TCP, ads,
             "either side: AMS/TCP header and AMS header (command 1-9, request/response "
             "flags, data length = rest)", "Beckhoff ADS specification (TwinCAT InfoSys)"),
    Detector("ether-s-bus", UDP, ether_sbus,
             "either side: length = datagram, telegram attribute, CRC-16 verified",
             "Saia-Burgess Ether-S-Bus (PCD S-Bus) protocol description"),
    Detector("hart-ip", BOTH, hart_ip,
             "either side: HART-IP header (version, type, id, byte count) and a body fitting "
             "the id (HART PDU check byte verified)",
             "FieldComm Group HCF_SPEC-85 (HART-IP), HCF_SPEC-81 (HART frames)"),
)
