"""SNMP messages in BER: v1 (RFC 1157), v2c (RFC 1901/3416) and v3 (RFC 3412 §6).

v1/v2c: SEQUENCE { version INTEGER (0 | 1), community OCTET STRING, PDU }, the PDU one of
the context-tagged types [0]..[8] (GetRequest ... Report); a v1 Trap-PDU [4] has its own
layout (enterprise OID, agent address, generic and specific trap, time stamp, bindings),
the others are SEQUENCE { request-id, error-status, error-index, variable-bindings }.
v3: SEQUENCE { msgVersion 3, msgGlobalData SEQUENCE { msgID, msgMaxSize (484..), msgFlags
OCTET STRING (SIZE (1)), msgSecurityModel (1..) }, msgSecurityParameters OCTET STRING,
msgData: a plaintext ScopedPDU or an encrypted OCTET STRING }. The message must be whole
(a UDP datagram, or one message at the start of a TCP stream, RFC 3430).
"""

from __future__ import annotations

from dataclasses import dataclass

from probescan.protocols import asn1
from probescan.protocols.asn1 import APPLICATION, CONTEXT, UNIVERSAL, Tlv
from probescan.protocols.errors import ParseError

PDU_NAMES = {
    0: "GetRequest", 1: "GetNextRequest", 2: "Response", 3: "SetRequest", 4: "Trap",
    5: "GetBulkRequest", 6: "InformRequest", 7: "SNMPv2-Trap", 8: "Report",
}  # fmt: skip
ANSWERS = frozenset({2, 8})  # sent by the side that was asked
VERSIONS = {0: "1", 1: "2c", 3: "3"}
MAX_ERROR_STATUS = 255  # RFC 3416 stops at 18 (inconsistentName); agents send more


@dataclass(frozen=True, slots=True)
class SnmpMessage:
    version: str  # "1", "2c" or "3"
    community: str | None  # v1/v2c
    pdu: int | None  # PDU tag; None for an encrypted v3 PDU
    request_id: int | None
    user: str | None  # v3 USM user name, when the security parameters are USM's
    engine_id: str | None  # v3 authoritative engine id, hex
    length: int

    @property
    def pdu_name(self) -> str:
        return "encrypted" if self.pdu is None else PDU_NAMES[self.pdu]

    @property
    def answer(self) -> bool:
        return self.pdu in ANSWERS


def _int(data: bytes, t: Tlv, lo: int | None = None, hi: int | None = None) -> int:
    if not t.is_(UNIVERSAL, asn1.INTEGER, False):
        raise ParseError("snmp: INTEGER expected")
    v = asn1.integer(data, t)
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        raise ParseError("snmp: integer out of range")
    return v


def _bindings(data: bytes, t: Tlv) -> None:
    """VarBindList ::= SEQUENCE OF SEQUENCE { name OBJECT IDENTIFIER, value }."""
    if not t.is_(UNIVERSAL, asn1.SEQUENCE, True):
        raise ParseError("snmp: bad variable bindings")
    for vb in asn1.children(data, t, limit=1024):
        parts = asn1.children(data, vb, limit=2) if vb.constructed else []
        if not vb.is_(UNIVERSAL, asn1.SEQUENCE) or len(parts) != 2:
            raise ParseError("snmp: bad variable binding")
        if not parts[0].is_(UNIVERSAL, asn1.OID, False):
            raise ParseError("snmp: binding without a name")
        asn1.oid(data, parts[0])


def _pdu(data: bytes, t: Tlv, version: str) -> int | None:
    """The request id of a PDU whose structure is checked."""
    if t.cls != CONTEXT or not t.constructed or t.tag not in PDU_NAMES:
        raise ParseError("snmp: not a PDU")
    if (t.tag == 4 and version != "1") or (version == "1" and t.tag > 4):
        raise ParseError("snmp: PDU type not of this version")
    parts = asn1.children(data, t, limit=8)
    if t.tag == 4:  # v1 Trap-PDU
        if len(parts) != 6 or not parts[0].is_(UNIVERSAL, asn1.OID, False):
            raise ParseError("snmp: bad trap")
        asn1.oid(data, parts[0])
        if not parts[1].is_(APPLICATION, 0, False) or parts[1].length != 4:
            raise ParseError("snmp: bad agent address")
        _int(data, parts[2], 0, 6)
        _int(data, parts[3], 0)
        if not parts[4].is_(APPLICATION, 3, False):
            raise ParseError("snmp: bad time stamp")
        _bindings(data, parts[5])
        return None
    if len(parts) != 4:
        raise ParseError("snmp: bad PDU")
    request_id = _int(data, parts[0], -(2**31), 2**31 - 1)
    if t.tag == 5:  # GetBulkRequest: non-repeaters, max-repetitions
        _int(data, parts[1], 0)
        _int(data, parts[2], 0)
    else:
        _int(data, parts[1], 0, MAX_ERROR_STATUS)
        _int(data, parts[2], 0)
    _bindings(data, parts[3])
    return request_id


def _usm(data: bytes, t: Tlv) -> tuple[str | None, str | None]:
    """(user name, engine id) from USM security parameters (RFC 3414 §2.4), if they are."""
    raw = asn1.octets(data, t)
    if not raw:
        return None, None
    seq = asn1.read_tlv(raw)
    if not seq.is_(UNIVERSAL, asn1.SEQUENCE, True) or seq.end != len(raw):
        raise ParseError("snmp: bad USM parameters")
    parts = asn1.children(raw, seq, limit=6)
    if len(parts) != 6 or not parts[0].is_(UNIVERSAL, asn1.OCTET_STRING, False):
        raise ParseError("snmp: bad USM parameters")
    _int(raw, parts[1], 0)
    _int(raw, parts[2], 0)
    if not parts[3].is_(UNIVERSAL, asn1.OCTET_STRING, False):
        raise ParseError("snmp: bad USM user")
    engine = asn1.octets(raw, parts[0]).hex() or None
    return asn1.text(raw, parts[3], 64) or None, engine


def parse_message(data: bytes) -> SnmpMessage:
    """The SNMP message at the start of `data`."""
    if data[:1] != b"\x30" or (len(data) > 1 and data[1] not in range(0x01, 0x80)
                               and data[1] not in (0x81, 0x82, 0x83)):
        raise ParseError("snmp: not a SEQUENCE")
    seq = asn1.read_tlv(data, outer=True)
    parts = asn1.children(data, seq, limit=4)
    if not parts:
        raise ParseError("snmp: empty message")
    version = VERSIONS.get(_int(data, parts[0]))
    if version is None:
        raise ParseError("snmp: unknown version")
    if version != "3":
        if len(parts) != 3 or not parts[1].is_(UNIVERSAL, asn1.OCTET_STRING, False):
            raise ParseError("snmp: bad community message")
        request_id = _pdu(data, parts[2], version)
        return SnmpMessage(version, asn1.text(data, parts[1], 64), parts[2].tag, request_id,
                           None, None, seq.end)
    if len(parts) != 4 or not parts[1].is_(UNIVERSAL, asn1.SEQUENCE, True):
        raise ParseError("snmp: bad v3 message")
    header = asn1.children(data, parts[1], limit=4)
    if len(header) != 4:
        raise ParseError("snmp: bad v3 header")
    _int(data, header[0], 0, 2**31 - 1)
    _int(data, header[1], 484, 2**31 - 1)
    if not header[2].is_(UNIVERSAL, asn1.OCTET_STRING, False) or header[2].length != 1:
        raise ParseError("snmp: bad v3 flags")
    flags = data[header[2].start]
    if flags & 0xF8 or flags & 0x03 == 0x02:  # privacy needs authentication
        raise ParseError("snmp: bad v3 flags")
    model = _int(data, header[3], 1, 2**31 - 1)
    if not parts[2].is_(UNIVERSAL, asn1.OCTET_STRING, False):
        raise ParseError("snmp: bad security parameters")
    user, engine = _usm(data, parts[2]) if model == 3 else (None, None)
    scoped = parts[3]
    if scoped.is_(UNIVERSAL, asn1.OCTET_STRING, False):
        if not flags & 0x02:
            raise ParseError("snmp: encrypted PDU without the privacy flag")
        return SnmpMessage(version, None, None, None, user, engine, seq.end)
    if not scoped.is_(UNIVERSAL, asn1.SEQUENCE, True):
        raise ParseError("snmp: bad scoped PDU")
    inner = asn1.children(data, scoped, limit=3)
    if len(inner) != 3 or not all(t.is_(UNIVERSAL, asn1.OCTET_STRING, False)
                                  for t in inner[:2]):
        raise ParseError("snmp: bad scoped PDU")
    request_id = _pdu(data, inner[2], version)
    return SnmpMessage(version, None, inner[2].tag, request_id, user, engine, seq.end)
