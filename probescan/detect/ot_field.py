"""Industrial and vehicle data protocols: OPC UA, TRDP, SOME/IP, CNP/IP (LonWorks), GE
Ethernet Global Data and Saia's Ether-S-I/O.

* OPC UA Connection Protocol (IEC 62541-6 §7.1): `HEL`, `ACK`, `ERR`, `RHE`, `OPN`, `MSG`,
  `CLO` with a chunk type and a size; Hello's endpoint URL length adds up, Acknowledge is 28
  bytes, OpenSecureChannel names an opcfoundation.org security policy URI.
* TRDP (IEC 61375-2-3 Annex A): process data (40-byte header) or message data (116-byte
  header) with protocol version 1.x, a known message type and the header CRC-32 verified.
* SOME/IP (AUTOSAR PRS_SOMEIPProtocol): message id, a length that covers the rest,
  protocol version 1, a known message type and return code; SOME/IP-SD entries and options
  arrays add up.
* CNP/IP (ISO/IEC 14908-4): packet length = datagram, version 1, then two packets of one
  session in sequence.
* EGD (GE Ethernet Global Data): PDU type 13 version 1, then two productions of one
  exchange with consecutive request ids.
* Ether-S-I/O (Saia Burgess Controls; Wireshark's esio dissector documents it): `ESIO`, a
  16-bit telegram type (1 data transfer, 2 status), version 0, a length equal to the
  datagram and a transaction id; a data transfer telegram's transfers (id, destination,
  16-bit length and data) fill it exactly.
"""

from __future__ import annotations

import zlib

from probescan.detect.base import BOTH, NEED_MORE, TCP, UDP, Detector, Fact, Messages, Result
from probescan.detect.framing import (
    CLIENT,
    SERVER,
    Hit,
    SideResult,
    by_datagram,
    by_packets,
    by_stream,
    by_transport,
)

# ---- OPC UA ----------------------------------------------------------------------------

_UA_TYPES = {b"HEL": CLIENT, b"ACK": SERVER, b"ERR": SERVER, b"RHE": SERVER, b"OPN": None,
             b"MSG": None, b"CLO": CLIENT}
_UA_POLICY = b"http://opcfoundation.org/UA/SecurityPolicy#"


def _ua_string(d: bytes, pos: int) -> tuple[bytes, int] | None:
    n = int.from_bytes(d[pos:pos + 4], "little", signed=True)
    if n == -1:
        return b"", pos + 4
    if n < 0 or pos + 4 + n > len(d):
        return None
    return d[pos + 4:pos + 4 + n], pos + 4 + n


def _opcua(d: bytes) -> SideResult:
    kind = d[:3]
    if kind not in _UA_TYPES:
        return NEED_MORE if len(d) < 3 and any(t.startswith(kind) for t in _UA_TYPES) else None
    if len(d) < 8:
        return NEED_MORE if len(d) == 3 or d[3:4] in (b"F", b"C", b"A") else None
    chunk, size = d[3:4], int.from_bytes(d[4:8], "little")
    if chunk not in (b"F", b"C", b"A") or (kind in (b"HEL", b"ACK", b"ERR", b"RHE")
                                           and chunk != b"F") or not 8 <= size <= 1 << 24:
        return None
    if len(d) < min(size, 256):
        return NEED_MORE
    m = d[:size]
    if kind == b"HEL":
        url = _ua_string(m, 28) if size >= 32 else None
        if url is None or url[1] != size or int.from_bytes(m[12:16], "little") < 8192:
            return None
    elif kind == b"ACK":
        if size != 28:
            return None
    elif kind == b"OPN":
        policy = _ua_string(m, 12) if size >= 16 else None
        if policy is None or not policy[0].startswith(_UA_POLICY):
            return None
    elif kind == b"ERR":
        reason = _ua_string(m, 12) if size >= 16 else None
        if reason is None or reason[1] != size:
            return None
    else:  # RHE, MSG, CLO: the next message must follow the size exactly
        rest = d[size:]
        if not rest or rest[:3] not in _UA_TYPES or size < 16:
            return NEED_MORE if len(d) < 4096 and not rest else None
    return Hit({"opcua_message": kind.decode()}, _UA_TYPES[kind])


def opcua(msgs: Messages) -> Result:
    return by_stream(msgs, "opc-ua", _opcua)


# ---- TRDP ------------------------------------------------------------------------------

_TRDP_PD = {b"Pd": None, b"Pp": SERVER, b"Pr": CLIENT, b"Pe": SERVER}
_TRDP_MD = {b"Mn": None, b"Mr": CLIENT, b"Mp": SERVER, b"Mq": SERVER, b"Mc": CLIENT,
            b"Me": SERVER}


def _trdp(d: bytes) -> SideResult:
    if len(d) < 40 or d[4] != 1:
        return None
    kind = d[6:8]
    head = 40 if kind in _TRDP_PD else 116 if kind in _TRDP_MD else 0
    if not head or len(d) < head:
        return NEED_MORE if head else None
    if zlib.crc32(d[:head - 4]) != int.from_bytes(d[head - 4:head], "little"):
        return None
    role = _TRDP_PD.get(kind, _TRDP_MD.get(kind))
    facts: dict[str, Fact] = {"trdp_type": kind.decode(),
                              "trdp_comid": int.from_bytes(d[8:12], "big")}
    return Hit(facts, role)


def trdp(msgs: Messages) -> Result:
    return by_transport(msgs, "trdp", _trdp)


# ---- SOME/IP ---------------------------------------------------------------------------

_SOMEIP_TYPES = {0x00: CLIENT, 0x01: CLIENT, 0x02: SERVER, 0x40: SERVER, 0x41: SERVER,
                 0x42: CLIENT, 0x80: SERVER, 0x81: SERVER, 0xC0: CLIENT, 0xC1: CLIENT}
_SOMEIP_SD = b"\xff\xff\x81\x00"


def _someip_message(d: bytes, pos: int) -> tuple[int, int] | None:
    """(message type, end) of a valid SOME/IP message at `pos`."""
    length = int.from_bytes(d[pos + 4:pos + 8], "big")
    end = pos + 8 + length
    mtype, code = d[pos + 14], d[pos + 15]
    if length < 8 or d[pos + 12] != 1 or mtype & 0xDF not in _SOMEIP_TYPES or code > 0x5E:
        return None
    if mtype & 0xDF in (0x00, 0x01, 0x02) and code:
        return None
    if d[pos:pos + 4] == _SOMEIP_SD:
        if mtype != 0x02 or end > len(d) or length < 20:
            return None
        entries = int.from_bytes(d[pos + 20:pos + 24], "big")
        opt_at = pos + 24 + entries
        if entries % 16 or opt_at + 4 > end:
            return None
        if opt_at + 4 + int.from_bytes(d[opt_at:opt_at + 4], "big") != end:
            return None
    return mtype & 0xDF, end


def _someip(d: bytes, datagram: bool) -> SideResult:
    if len(d) < 16:
        return None
    pos, kinds = 0, list[int]()
    while pos + 16 <= len(d) and len(kinds) < 8:
        got = _someip_message(d, pos)
        if got is None:
            return None
        kinds.append(got[0])
        pos = got[1]
    if datagram and pos != len(d):
        return None  # a datagram holds whole messages
    if kinds and pos > len(d) and len(kinds) == 1:  # over TCP: the first message must be whole
        return NEED_MORE if pos - len(d) < 1 << 16 else None
    facts: dict[str, Fact] = {"someip_service": int.from_bytes(d[:2], "big"),
                              "someip_messages": len(kinds)}
    if d[:4] == _SOMEIP_SD:
        facts["someip_sd"] = True
        return Hit(facts)
    return Hit(facts, _SOMEIP_TYPES[kinds[0]])


def someip(msgs: Messages) -> Result:
    if msgs.transport == "udp":
        return by_datagram(msgs, "someip", lambda d: _someip(d, True))
    return by_stream(msgs, "someip", lambda d: _someip(d, False))


# ---- CNP/IP and EGD: several datagrams of one session ---------------------------------


def _cnp_header(d: bytes) -> bool:
    return (len(d) >= 20 and int.from_bytes(d[:2], "big") == len(d) and d[2] == 1
            and 1 <= d[3] <= 0x7F)


def _cnp(packets: tuple[bytes, ...]) -> SideResult:
    first = packets[0]
    if not _cnp_header(first):
        return None
    for nxt in packets[1:4]:
        if not _cnp_header(nxt):
            return None
        seq_step = int.from_bytes(nxt[12:16], "big") - int.from_bytes(first[12:16], "big")
        if nxt[8:12] == first[8:12] and seq_step == 1 and nxt[3] == first[3]:
            return Hit({"cnpip_session": first[8:12].hex()})
    return NEED_MORE


def cnp_ip(msgs: Messages) -> Result:
    return by_packets(msgs, "cnp-ip", _cnp)


def _egd(packets: tuple[bytes, ...]) -> SideResult:
    first = packets[0]
    if len(first) < 32 or first[:2] != b"\x0d\x01":
        return None
    for nxt in packets[1:4]:
        if len(nxt) != len(first) or nxt[:2] != b"\x0d\x01" or nxt[4:12] != first[4:12]:
            return None
        step = (int.from_bytes(nxt[2:4], "little") - int.from_bytes(first[2:4], "little"))
        if step % 0x10000 == 1:
            return Hit({"egd_exchange": int.from_bytes(first[8:12], "little")})
        first = nxt
    return NEED_MORE


def egd(msgs: Messages) -> Result:
    return by_packets(msgs, "ethernetglobaldata", _egd)


# ---- Ether-S-I/O ------------------------------------------------------------------------

_ESIO_TYPES = {1: "data-transfer", 2: "status"}


def _esio(d: bytes) -> SideResult:
    if len(d) < 20 or d[:4] != b"ESIO" or d[4] or d[5] not in _ESIO_TYPES or any(d[6:8]):
        return None
    if int.from_bytes(d[8:10], "big") != len(d):
        return None
    if d[5] == 1:  # telegram id, source station, number of transfers, flags, transfers
        pos, count = 22, d[20]
        for _ in range(count):
            if pos + 10 > len(d):
                return None
            pos += 10 + int.from_bytes(d[pos + 8 : pos + 10], "big")
        if count == 0 or pos != len(d):
            return None
    elif len(d) != 24:  # status type, size, source station, RIO status, lost, diag, flags
        return None
    return Hit({"esio_telegram": _ESIO_TYPES[d[5]]})


def ethersio(msgs: Messages) -> Result:
    return by_datagram(msgs, "ethersio", _esio)


DETECTORS = (
    Detector("opc-ua", TCP, opcua,
             "either side: UA TCP message type and chunk type, size; Hello URL length, "
             "Acknowledge size, OpenSecureChannel policy URI",
             "IEC 62541-6 (OPC UA Part 6) §7.1 UA Connection Protocol"),
    Detector("trdp", BOTH, trdp,
             "either side: PD or MD header, version 1, message type, header CRC-32 verified",
             "IEC 61375-2-3 Annex A (TRDP)"),
    Detector("someip", BOTH, someip,
             "either side: message id, length covering the rest, protocol version 1, message "
             "type and return code; SD entries/options arrays add up",
             "AUTOSAR PRS_SOMEIPProtocol, PRS_SOMEIPServiceDiscoveryProtocol"),
    Detector("cnp-ip", UDP, cnp_ip,
             "either side: two datagrams with length = datagram, version 1, one session id "
             "and consecutive sequence numbers", "ISO/IEC 14908-4 (CNP/IP, LonWorks over IP)"),
    Detector("ethernetglobaldata", UDP, egd,
             "either side: two productions, PDU type 13 version 1, same producer and "
             "exchange, consecutive request ids", "GE Fanuc GFK-2373 (Ethernet Global Data)"),
    Detector("ethersio", UDP, ethersio,
             "either side: `ESIO`, telegram type 1/2, version 0, length = datagram; a data "
             "transfer's transfers fill it exactly",
             "Saia Burgess Ether-S-I/O (Wireshark esio dissector)"),
)
