"""Kerberos V5 messages (RFC 4120 §5): KDC requests and replies, errors, AP exchanges.

Each message is an ASN.1 DER value tagged [APPLICATION n] where n is its msg-type
(AS-REQ 10, AS-REP 11, TGS-REQ 12, TGS-REP 13, AP-REQ 14, AP-REP 15, KRB-SAFE 20,
KRB-PRIV 21, KRB-CRED 22, KRB-ERROR 30) around a SEQUENCE of explicitly tagged fields,
whose pvno is 5 and whose msg-type repeats n. Over UDP the message is the datagram; over
TCP (tcp=True, RFC 4120 §7.2.2) a 4-octet length with its high bit clear comes first.

`parse_kpasswd` reads the Kerberos set/change password protocol (RFC 3244): a message
length, a version (1, or 0xFF80 for set-password), the AP-REQ (or AP-REP) length, that
message, then a KRB-PRIV (or a KRB-ERROR, the AP-REP length then 0).

With partial=True a message cut short still parses once its pvno and msg-type are in (the
first segments of a long TGS exchange): the fields read so far are kept and `complete`
says whether it was whole. Otherwise a cut message is NeedMore.
"""

from __future__ import annotations

from dataclasses import dataclass

from probescan.protocols import asn1
from probescan.protocols.asn1 import APPLICATION, CONTEXT, UNIVERSAL, Tlv
from probescan.protocols.errors import NeedMore, ParseError

MSG_NAMES = {
    10: "AS-REQ", 11: "AS-REP", 12: "TGS-REQ", 13: "TGS-REP", 14: "AP-REQ", 15: "AP-REP",
    20: "KRB-SAFE", 21: "KRB-PRIV", 22: "KRB-CRED", 30: "KRB-ERROR",
}
KDC_MESSAGES = frozenset({10, 11, 12, 13, 30})  # what a KDC's port carries
REQUESTS = frozenset({10, 12, 14})
ERROR_NAMES = {
    0: "KDC_ERR_NONE", 6: "KDC_ERR_C_PRINCIPAL_UNKNOWN", 7: "KDC_ERR_S_PRINCIPAL_UNKNOWN",
    12: "KDC_ERR_POLICY", 14: "KDC_ERR_ETYPE_NOSUPP", 18: "KDC_ERR_CLIENT_REVOKED",
    23: "KDC_ERR_KEY_EXPIRED", 24: "KDC_ERR_PREAUTH_FAILED", 25: "KDC_ERR_PREAUTH_REQUIRED",
    31: "KRB_AP_ERR_BAD_INTEGRITY", 32: "KRB_AP_ERR_TKT_EXPIRED", 37: "KRB_AP_ERR_SKEW",
    41: "KRB_AP_ERR_MODIFIED", 52: "KRB_ERR_RESPONSE_TOO_BIG", 60: "KRB_ERR_GENERIC",
    68: "KDC_ERR_WRONG_REALM",
}  # fmt: skip
MAX_RECORD = 1 << 20  # a TCP record longer than this is not a Kerberos message
MAX_NAME_PARTS = 16


@dataclass(frozen=True, slots=True)
class KerberosMessage:
    msg_type: int
    realm: str | None  # the request's realm, the reply's crealm, the error's realm
    cname: str | None  # client principal, components joined with "/"
    sname: str | None  # service principal (the ticket's, in a reply)
    error_code: int | None
    complete: bool  # the whole message was read
    length: int  # octets of the input it takes (TCP record mark included)
    kpasswd: bool = False  # inside a password-changing message (RFC 3244)

    @property
    def name(self) -> str:
        if self.kpasswd:
            return "KPASSWD-REQ" if self.msg_type == 14 else "KPASSWD-REP"
        return MSG_NAMES[self.msg_type]

    @property
    def error_name(self) -> str | None:
        if self.error_code is None:
            return None
        return ERROR_NAMES.get(self.error_code, str(self.error_code))


def _fields(data: bytes, seq: Tlv) -> tuple[dict[int, Tlv], bool]:
    """The SEQUENCE's [n] fields by n, in increasing order, as far as the input goes."""
    found, whole = asn1.walk(data, seq.start, seq.end, limit=16)
    fields: dict[int, Tlv] = {}
    last = -1
    for t in found:
        if t.cls != CONTEXT or not t.constructed or t.tag <= last:
            raise ParseError("kerberos: fields out of order")
        last = t.tag
        fields[t.tag] = t
    return fields, whole


def _inner(data: bytes, field: Tlv | None, tag: int) -> Tlv | None:
    """The value inside explicit field [n], if the field and its value are whole."""
    if field is None or field.end > len(data):
        return None
    return asn1.unwrap(data, field, UNIVERSAL, tag)


def _int(data: bytes, field: Tlv | None) -> int | None:
    t = _inner(data, field, asn1.INTEGER)
    return None if t is None else asn1.integer(data, t)


def _string(data: bytes, field: Tlv | None) -> str | None:
    t = _inner(data, field, asn1.GENERAL_STRING)
    return None if t is None else asn1.text(data, t, 256)


def _principal(data: bytes, field: Tlv | None) -> str | None:
    """PrincipalName ::= SEQUENCE { name-type [0] Int32, name-string [1] SEQUENCE OF
    KerberosString }, its components joined with '/'."""
    seq = _inner(data, field, asn1.SEQUENCE)
    if seq is None:
        return None
    parts, _ = _fields(data, seq)
    if set(parts) != {0, 1}:
        raise ParseError("kerberos: bad principal name")
    _int(data, parts[0])
    names = asn1.children(data, asn1.unwrap(data, parts[1], UNIVERSAL, asn1.SEQUENCE),
                          limit=MAX_NAME_PARTS)
    if not names or any(not n.is_(UNIVERSAL, asn1.GENERAL_STRING) for n in names):
        raise ParseError("kerberos: bad name components")
    return "/".join(asn1.text(data, n, 128) for n in names)


def _ticket(data: bytes, field: Tlv | None) -> tuple[str | None, str | None]:
    """(realm, sname) of Ticket ::= [APPLICATION 1] SEQUENCE { tkt-vno [0] 5, realm [1],
    sname [2], enc-part [3] }, as far as the input goes."""
    if field is None:
        return None, None
    app = asn1.read_header(data, field.start, field.end, outer=True)
    if not app.is_(APPLICATION, 1, True):
        raise ParseError("kerberos: bad ticket")
    seq = asn1.read_header(data, app.start, app.end, outer=True)
    if not seq.is_(UNIVERSAL, asn1.SEQUENCE, True):
        raise ParseError("kerberos: bad ticket")
    fields, _ = _fields(data, seq)
    vno = _int(data, fields.get(0))
    if vno is not None and vno != 5:
        raise ParseError("kerberos: ticket version not 5")
    return _string(data, fields.get(1)), _principal(data, fields.get(2))


def _record(data: bytes, tcp: bool) -> tuple[int, int | None]:
    """(where the message starts, where it must end: None over UDP)."""
    if not tcp:
        return 0, None
    if len(data) < 4:  # too little to tell a record mark from anything else
        raise ParseError("kerberos: record mark cut")
    n = int.from_bytes(data[:4], "big")
    if n & 0x80000000 or not 0 < n <= MAX_RECORD:
        raise ParseError("kerberos: bad record length")
    return 4, 4 + n


def parse_message(data: bytes, tcp: bool = False, partial: bool = False) -> KerberosMessage:
    """The Kerberos message at the start of `data` (a UDP datagram, or a TCP stream)."""
    start, end = _record(data, tcp)
    if start < len(data) and data[start] & 0xE0 != 0x60:  # [APPLICATION n], constructed
        raise ParseError("kerberos: not an application tag")
    app = asn1.read_header(data, start, end, outer=True)
    if app.cls != APPLICATION or not app.constructed or app.tag not in MSG_NAMES:
        raise ParseError("kerberos: not a Kerberos message")
    if end is not None and app.end != end:
        raise ParseError("kerberos: record length disagrees with the message")
    whole = app.end <= len(data)
    if not whole and not partial:
        raise NeedMore("kerberos: message cut")
    if not tcp and whole and app.end != len(data):
        raise ParseError("kerberos: bytes after the message")
    seq = asn1.read_header(data, app.start, app.end, outer=True)
    if not seq.is_(UNIVERSAL, asn1.SEQUENCE, True) or seq.end != app.end:
        raise ParseError("kerberos: not a SEQUENCE")
    kind = app.tag
    fields, _ = _fields(data, seq)
    first = 1 if kind in (10, 12) else 0  # KDC-REQ numbers its fields from [1]
    pvno, msg_type = _int(data, fields.get(first)), _int(data, fields.get(first + 1))
    if pvno is None or msg_type is None:
        if whole or not set(fields) <= {first, first + 1}:
            raise ParseError("kerberos: pvno or msg-type missing")
        raise NeedMore("kerberos: header cut")
    if pvno != 5 or msg_type != kind or min(fields) != first:
        raise ParseError("kerberos: not version 5, or msg-type disagrees with the tag")
    if whole:
        asn1.check_tree(data, seq)
    realm = cname = sname = None
    error = None
    if kind in (10, 12):
        body = fields.get(4)
        if body is not None:
            inner = asn1.read_header(data, body.start, body.end, outer=True)
            if not inner.is_(UNIVERSAL, asn1.SEQUENCE, True):
                raise ParseError("kerberos: bad request body")
            req, _ = _fields(data, inner)
            cname, realm = _principal(data, req.get(1)), _string(data, req.get(2))
            sname = _principal(data, req.get(3))
        elif whole:
            raise ParseError("kerberos: request without a body")
    elif kind in (11, 13):
        realm, cname = _string(data, fields.get(3)), _principal(data, fields.get(4))
        sname = _ticket(data, fields.get(5))[1]
        if whole and not {3, 4, 5, 6} <= set(fields):
            raise ParseError("kerberos: reply fields missing")
    elif kind == 30:
        error = _int(data, fields.get(6))
        realm = _string(data, fields.get(9))
        cname, sname = _principal(data, fields.get(8)), _principal(data, fields.get(10))
        if whole and not {4, 5, 6, 9, 10} <= set(fields):
            raise ParseError("kerberos: error fields missing")
    elif kind == 14:
        realm, sname = _ticket(data, fields.get(3))
    return KerberosMessage(kind, realm, cname, sname, error, whole,
                           min(app.end, len(data)))


def parse_kpasswd(data: bytes, tcp: bool = False) -> KerberosMessage:
    """A kpasswd request or reply (RFC 3244 §2-3); it must be whole. The message returned
    is its AP-REQ or AP-REP, or the KRB-ERROR of a reply without one."""
    start, end = _record(data, tcp)
    head = data[start:start + 6]
    if len(head) >= 4 and int.from_bytes(head[2:4], "big") not in (1, 0xFF80):
        raise ParseError("kpasswd: bad version")
    if len(head) < 6:
        raise NeedMore("kpasswd: header cut")
    length, ap_length = int.from_bytes(head[:2], "big"), int.from_bytes(head[4:6], "big")
    if (end is not None and start + length != end) or length < 6 + ap_length + 2:
        raise ParseError("kpasswd: lengths disagree")
    if len(data) < start + length:
        raise NeedMore("kpasswd: message cut")
    if end is None and len(data) != length:
        raise ParseError("kpasswd: bytes after the message")
    body, rest = start + 6, start + 6 + ap_length
    if ap_length:
        first = parse_message(data[body:rest])
        if first.msg_type not in (14, 15):
            raise ParseError("kpasswd: not an AP-REQ or AP-REP")
        after = parse_message(data[rest:start + length])
        if after.msg_type not in (21, 30):
            raise ParseError("kpasswd: not followed by KRB-PRIV or KRB-ERROR")
    else:
        first = parse_message(data[body:start + length])
        if first.msg_type != 30:
            raise ParseError("kpasswd: a reply without AP-REP must be a KRB-ERROR")
    return KerberosMessage(first.msg_type, first.realm, first.cname, first.sname,
                           first.error_code, True, start + length, first.msg_type != 30)
