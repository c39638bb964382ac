"""Network management and routing: SNMP, BGP, LDP, OpenFlow, PPTP.

SNMP (RFC 1157, 3416, 3412): a whole BER message of version 1, 2c or 3 whose PDU is
checked (see protocols/snmp.py), from either side, over UDP or TCP (RFC 3430).
BGP (RFC 4271): messages open with a marker of sixteen 0xff octets, a length of 19..4096
and a type 1..5; an OPEN carries version 4, the AS, the hold time and the BGP identifier.
LDP (RFC 5036): PDUs of version 1 whose length covers the LDP identifier and messages of
known types, each with TLVs that add up. OpenFlow (1.0-1.5): messages of version 1..6 whose
lengths add up, the first a HELLO. PPTP (RFC 2637): control messages with the magic cookie
0x1A2B3C4D and a length that fits the message type.
"""

from __future__ import annotations

import ipaddress

from probescan.detect.base import (
    BOTH,
    NEED_MORE,
    TCP,
    Detection,
    Detector,
    Fact,
    Messages,
    Result,
)
from probescan.detect.sides import both_sides, decided, first_bytes, swapped, waiting
from probescan.protocols import snmp

# --- SNMP -----------------------------------------------------------------------------


def snmp_detect(msgs: Messages) -> Result:
    udp = msgs.transport == "udp"

    def parse(data: bytes) -> snmp.SnmpMessage:
        m = snmp.parse_message(data)
        if udp and m.length != len(data):
            raise ValueError("snmp: bytes after the message")
        return m

    c, s = both_sides(msgs, parse)
    found = [m for m in (c, s) if isinstance(m, snmp.SnmpMessage)]
    if not found:
        return waiting(c, s)
    facts: dict[str, Fact] = {"snmp_version": found[0].version,
                              "snmp_pdus": tuple(m.pdu_name for m in found)}
    community = next((m.community for m in found if m.community is not None), None)
    if community is not None:
        facts["snmp_community"] = community
    user = next((m.user for m in found if m.user), None)
    if user:
        facts["snmp_user"] = user
    engine = next((m.engine_id for m in found if m.engine_id), None)
    if engine:
        facts["snmp_engine_id"] = engine
    return Detection("snmp", facts, swapped=swapped(c, s, snmp.SnmpMessage,
                                                    lambda m: not m.answer))


# --- BGP ------------------------------------------------------------------------------

BGP_MARKER = b"\xff" * 16
BGP_TYPES = {1: "OPEN", 2: "UPDATE", 3: "NOTIFICATION", 4: "KEEPALIVE", 5: "ROUTE-REFRESH"}


def _bgp_side(data: bytes) -> Result:
    if len(data) < 19:
        return NEED_MORE if len(data) >= 4 and BGP_MARKER.startswith(data) else None
    if not data.startswith(BGP_MARKER):
        return None
    length, kind = int.from_bytes(data[16:18], "big"), data[18]
    if not 19 <= length <= 4096 or kind not in BGP_TYPES:
        return None
    if kind == 4 and length != 19:
        return None
    if len(data) < length:
        return NEED_MORE
    facts: dict[str, Fact] = {"bgp_message": BGP_TYPES[kind]}
    if kind == 1:  # version, my AS, hold time, identifier, optional parameters length
        if length < 29 or data[19] != 4 or 29 + data[28] != length:
            return None
        hold = int.from_bytes(data[22:24], "big")
        if hold in (1, 2):
            return None
        facts["bgp_as"] = int.from_bytes(data[20:22], "big")
        facts["bgp_id"] = str(ipaddress.IPv4Address(data[24:28]))
    elif len(data) > length and not data[length:].startswith(BGP_MARKER[:len(data) - length]):
        return None  # what follows the first message must be another one
    return Detection("bgp", facts)


def bgp_detect(msgs: Messages) -> Result:
    return decided(_bgp_side(msgs.client_stream), _bgp_side(msgs.server_stream))


# --- LDP ------------------------------------------------------------------------------

LDP_MESSAGES = {
    0x0001: "Notification", 0x0100: "Hello", 0x0200: "Initialization", 0x0201: "KeepAlive",
    0x0300: "Address", 0x0301: "Address Withdraw", 0x0400: "Label Mapping",
    0x0401: "Label Request", 0x0402: "Label Withdraw", 0x0403: "Label Release",
    0x0404: "Label Abort Request",
}  # fmt: skip


def _ldp_tlvs(data: bytes, pos: int, end: int) -> bool:
    while pos < end:
        if pos + 4 > end:
            return False
        pos += 4 + int.from_bytes(data[pos + 2:pos + 4], "big")
    return pos == end


def _ldp_pdu(data: bytes, datagram: bool) -> Result:
    """Version 1, PDU length, LDP identifier (LSR id, label space), then messages; a
    datagram holds exactly one PDU."""
    if len(data) < 4:
        return None
    if data[:2] != b"\x00\x01":
        return None
    length = int.from_bytes(data[2:4], "big")
    if not 6 + 8 <= length <= 4096 - 4:  # the identifier and one message header at least
        return None
    if len(data) < 4 + length:
        return None if datagram else NEED_MORE
    if datagram and len(data) != 4 + length:
        return None
    names: list[str] = []
    pos, end = 10, 4 + length
    while pos < end:
        if pos + 8 > end:
            return None
        kind = int.from_bytes(data[pos:pos + 2], "big") & 0x7FFF
        mlen = int.from_bytes(data[pos + 2:pos + 4], "big")
        if kind not in LDP_MESSAGES or mlen < 4 or pos + 4 + mlen > end:
            return None
        if not _ldp_tlvs(data, pos + 8, pos + 4 + mlen):
            return None
        names.append(LDP_MESSAGES[kind])
        pos += 4 + mlen
    lsr = str(ipaddress.IPv4Address(data[4:8]))
    return Detection("ldp", {"ldp_lsr_id": lsr, "ldp_messages": tuple(names[:4])})


def ldp_detect(msgs: Messages) -> Result:
    udp = msgs.transport == "udp"
    return decided(_ldp_pdu(first_bytes(msgs.client, msgs.transport), udp),
                   _ldp_pdu(first_bytes(msgs.server, msgs.transport), udp))


# --- OpenFlow -------------------------------------------------------------------------

OF_VERSIONS = {1: "1.0", 2: "1.1", 3: "1.2", 4: "1.3", 5: "1.4", 6: "1.5"}
OF_MAX_TYPE = {1: 21, 2: 24, 3: 24, 4: 29, 5: 33, 6: 35}


def _bare_hello(data: bytes) -> bool:
    """Exactly one 8-octet HELLO (no elements), as OpenFlow 1.0-1.3.0 peers send."""
    return len(data) == 8 and data[0] in OF_VERSIONS and data[1:4] == b"\x00\x00\x08"


def _openflow_side(data: bytes) -> Result:
    """A HELLO first, then whole messages of the same version, lengths adding up."""
    if len(data) < 8:
        return None
    if data[0] not in OF_VERSIONS or data[1] != 0:
        return None
    version = data[0]
    pos, count = 0, 0
    while pos < len(data):
        if pos + 8 > len(data):
            return NEED_MORE
        length = int.from_bytes(data[pos + 2:pos + 4], "big")
        if data[pos] != version or data[pos + 1] > OF_MAX_TYPE[version] or length < 8:
            return None
        if pos + length > len(data):
            return NEED_MORE
        if count == 0 and length > 8:  # HELLO elements (1.3.1+): type, length, padded
            p = 8
            while p < length:
                if p + 4 > length:
                    return None
                elen = int.from_bytes(data[p + 2:p + 4], "big")
                if data[p:p + 2] != b"\x00\x01" or elen < 4:
                    return None
                p += (elen + 7) // 8 * 8
            if p != length:
                return None
        pos += length
        count += 1
    if count < 2 and int.from_bytes(data[2:4], "big") == 8:
        return NEED_MORE  # a bare 8-octet HELLO: wait for what follows
    return Detection("openflow", {"openflow_version": OF_VERSIONS[version]})


def openflow_detect(msgs: Messages) -> Result:
    r = decided(_openflow_side(msgs.client_stream), _openflow_side(msgs.server_stream))
    if isinstance(r, Detection):
        return r
    cs, ss = msgs.client_stream, msgs.server_stream
    if _bare_hello(cs) and _bare_hello(ss) and cs[0] == ss[0]:  # each side's HELLO
        return Detection("openflow", {"openflow_version": OF_VERSIONS[cs[0]]})
    return r


# --- PPTP -----------------------------------------------------------------------------

PPTP_COOKIE = b"\x1a\x2b\x3c\x4d"
PPTP_LENGTHS = {1: 156, 2: 156, 3: 16, 4: 16, 5: 16, 6: 20, 7: 168, 8: 32, 9: 220, 10: 24,
                11: 28, 12: 148, 13: 24, 14: 24, 15: 24}  # fmt: skip
PPTP_NAMES = {1: "Start-Control-Connection-Request", 2: "Start-Control-Connection-Reply",
              7: "Outgoing-Call-Request", 8: "Outgoing-Call-Reply", 6: "Echo-Request"}


def _pptp_side(data: bytes) -> Result:
    if len(data) < 12:
        return None
    length = int.from_bytes(data[:2], "big")
    kind = int.from_bytes(data[8:10], "big")
    if data[2:4] != b"\x00\x01" or data[4:8] != PPTP_COOKIE or data[10:12] != b"\x00\x00":
        return None
    if PPTP_LENGTHS.get(kind) != length:
        return None
    if len(data) < length:
        return NEED_MORE
    facts: dict[str, Fact] = {"pptp_message": PPTP_NAMES.get(kind, str(kind))}
    if kind in (1, 2):  # version, ..., host name (64), vendor (64)
        if data[12:14] != b"\x01\x00":
            return None
        host = data[28:92].split(b"\0", 1)[0].decode("latin-1")
        vendor = data[92:156].split(b"\0", 1)[0].decode("latin-1")
        if host:
            facts["pptp_host"] = host
        if vendor:
            facts["pptp_vendor"] = vendor
    return Detection("pptp", facts)


def pptp_detect(msgs: Messages) -> Result:
    return decided(_pptp_side(msgs.client_stream), _pptp_side(msgs.server_stream))


DETECTORS = (
    Detector("snmp", BOTH, snmp_detect,
             "either side: a whole SNMP v1/v2c/v3 message whose PDU (or v3 header and "
             "security parameters) is checked field by field",
             "RFC 1157, RFC 3416 (SNMPv2 PDUs), RFC 3412 and 3414 (SNMPv3, USM)"),
    Detector("bgp", TCP, bgp_detect,
             "either side: the 16-octet all-ones marker, a length of 19..4096 and a type 1..5; "
             "an OPEN of version 4 whose parameters add up",
             "RFC 4271 (BGP-4) §4"),
    Detector("ldp", BOTH, ldp_detect,
             "either side: version 1, a PDU length covering the LDP identifier and messages "
             "of known types whose TLVs add up",
             "RFC 5036 (LDP) §3.1-3.5"),
    Detector("openflow", TCP, openflow_detect,
             "either side: a HELLO of version 1..6 (its elements checked), then whole messages "
             "of the same version; or both sides' HELLOs",
             "OpenFlow Switch Specification 1.0-1.5 (ONF), header and HELLO"),
    Detector("pptp", TCP, pptp_detect,
             "either side: a control message with the magic cookie 0x1A2B3C4D and the length "
             "of its type; the host and vendor names of a Start-Control-Connection message",
             "RFC 2637 (PPTP) §2"),
)
