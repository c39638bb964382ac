"""LDAP messages (RFC 4511 §4.1.1): LDAPMessage ::= SEQUENCE { messageID, protocolOp,
controls [0] OPTIONAL }, in BER with definite lengths.

The protocol operation is one [APPLICATION n] value; its components are checked for the
operations a session opens with (bind, search, the LDAPResult of every response, extended
operations, unbind, abandon), the others for being well formed. Over UDP (cldap=True) a
datagram holds one or more whole messages and, as in RFC 1798, a user name may come
between the message id and the operation. Over TCP the first message is read; it must be
whole (NeedMore until it is).
"""

from __future__ import annotations

from dataclasses import dataclass

from probescan.protocols import asn1
from probescan.protocols.asn1 import APPLICATION, CONTEXT, UNIVERSAL, Tlv
from probescan.protocols.errors import ParseError

OP_NAMES = {
    0: "bindRequest", 1: "bindResponse", 2: "unbindRequest", 3: "searchRequest",
    4: "searchResEntry", 5: "searchResDone", 6: "modifyRequest", 7: "modifyResponse",
    8: "addRequest", 9: "addResponse", 10: "delRequest", 11: "delResponse",
    12: "modDNRequest", 13: "modDNResponse", 14: "compareRequest", 15: "compareResponse",
    16: "abandonRequest", 19: "searchResRef", 23: "extendedReq", 24: "extendedResp",
    25: "intermediateResponse",
}  # fmt: skip
PRIMITIVE_OPS = frozenset({2, 10, 16})  # unbind (NULL), delete (LDAPDN), abandon (INTEGER)
REQUESTS = frozenset({0, 2, 3, 6, 8, 10, 12, 14, 16, 23})
RESULT_OPS = frozenset({1, 5, 7, 9, 11, 13, 15, 24})  # COMPONENTS OF LDAPResult
RESULT_NAMES = {
    0: "success", 1: "operationsError", 2: "protocolError", 3: "timeLimitExceeded",
    4: "sizeLimitExceeded", 7: "authMethodNotSupported", 8: "strongerAuthRequired",
    10: "referral", 14: "saslBindInProgress", 32: "noSuchObject", 34: "invalidDNSyntax",
    48: "inappropriateAuthentication", 49: "invalidCredentials",
    50: "insufficientAccessRights", 51: "busy", 52: "unavailable", 53: "unwillingToPerform",
}  # fmt: skip
MAX_MESSAGE_ID = 2**31 - 1
FILTER_TAGS = frozenset(range(10))  # and, or, not, equalityMatch ... extensibleMatch


@dataclass(frozen=True, slots=True)
class LdapMessage:
    message_id: int
    op: int
    dn: str | None  # bind name, search base, entry name, or a result's matchedDN
    result: int | None  # an LDAPResult's resultCode
    mechanism: str | None  # SASL mechanism of a bind
    length: int

    @property
    def op_name(self) -> str:
        return OP_NAMES[self.op]

    @property
    def request(self) -> bool:
        return self.op in REQUESTS

    def facts(self) -> dict[str, str]:
        found: dict[str, str] = {}
        if self.dn and self.op == 0:
            found["ldap_bind_dn"] = self.dn
        elif self.dn is not None and self.op == 3:
            found["ldap_base"] = self.dn
        if self.mechanism:
            found["ldap_sasl"] = self.mechanism
        if self.result is not None:
            found["ldap_result"] = RESULT_NAMES.get(self.result, str(self.result))
        return found


def _string(data: bytes, t: Tlv) -> str:
    if not t.is_(UNIVERSAL, asn1.OCTET_STRING, False):
        raise ParseError("ldap: OCTET STRING expected")
    return asn1.text(data, t, 256)


def _enum(data: bytes, t: Tlv, top: int) -> int:
    if not t.is_(UNIVERSAL, asn1.ENUMERATED, False):
        raise ParseError("ldap: ENUMERATED expected")
    v = asn1.integer(data, t)
    if not 0 <= v <= top:
        raise ParseError("ldap: enumeration out of range")
    return v


def _result(data: bytes, parts: list[Tlv], extra: frozenset[int]) -> tuple[int, str]:
    """LDAPResult: resultCode, matchedDN, diagnosticMessage, referral [3] OPTIONAL, then
    the operation's own context-tagged extras."""
    if len(parts) < 3:
        raise ParseError("ldap: short result")
    code = _enum(data, parts[0], 0xFFFF)
    matched = _string(data, parts[1])
    _string(data, parts[2])
    last = 2
    for t in parts[3:]:
        if t.cls != CONTEXT or t.tag <= last or t.tag not in {3} | extra:
            raise ParseError("ldap: unexpected result component")
        last = t.tag
    return code, matched


def _operation(data: bytes, t: Tlv) -> tuple[str | None, int | None, str | None]:
    """(dn, result code, SASL mechanism) of one protocol operation, its structure checked."""
    op = t.tag
    if op in PRIMITIVE_OPS:
        if t.constructed:
            raise ParseError("ldap: primitive operation expected")
        if op == 2 and t.length:
            raise ParseError("ldap: unbind carries nothing")
        if op == 16 and not 0 <= asn1.integer(data, t) <= MAX_MESSAGE_ID:
            raise ParseError("ldap: bad abandon id")
        return (asn1.text(data, t, 256) if op == 10 else None), None, None
    if not t.constructed:
        raise ParseError("ldap: constructed operation expected")
    parts = asn1.children(data, t, limit=4096)
    for part in parts:
        asn1.check_tree(data, part, 24)
    if op == 0:  # version, name, authentication simple [0] or sasl [3]
        if len(parts) != 3 or not parts[0].is_(UNIVERSAL, asn1.INTEGER, False):
            raise ParseError("ldap: bad bind request")
        if not 1 <= asn1.integer(data, parts[0]) <= 127:
            raise ParseError("ldap: bad version")
        auth = parts[2]
        mechanism = None
        if auth.is_(CONTEXT, 3, True):
            sasl = asn1.children(data, auth, limit=2)
            if not sasl:
                raise ParseError("ldap: SASL without a mechanism")
            mechanism = _string(data, sasl[0])
        elif not auth.is_(CONTEXT, 0, False):
            raise ParseError("ldap: bad authentication choice")
        return _string(data, parts[1]), None, mechanism
    if op == 3:  # base, scope, deref, size, time, typesOnly, filter, attributes
        if len(parts) != 8:
            raise ParseError("ldap: bad search request")
        base = _string(data, parts[0])
        _enum(data, parts[1], 3)
        _enum(data, parts[2], 3)
        for limit in parts[3:5]:
            if not limit.is_(UNIVERSAL, asn1.INTEGER, False) or asn1.integer(data, limit) < 0:
                raise ParseError("ldap: bad limit")
        if not parts[5].is_(UNIVERSAL, asn1.BOOLEAN, False):
            raise ParseError("ldap: bad typesOnly")
        asn1.boolean(data, parts[5])
        if parts[6].cls != CONTEXT or parts[6].tag not in FILTER_TAGS:
            raise ParseError("ldap: bad filter")
        if not parts[7].is_(UNIVERSAL, asn1.SEQUENCE, True):
            raise ParseError("ldap: bad attribute list")
        return base, None, None
    if op in RESULT_OPS:
        extra = {1: frozenset({7}), 24: frozenset({10, 11})}.get(op, frozenset())
        code, matched = _result(data, parts, extra)
        return matched, code, None
    if op in (4, 6, 8, 12, 14):  # an entry name first
        if len(parts) < 2:
            raise ParseError("ldap: short operation")
        return _string(data, parts[0]), None, None
    if op == 19:
        if not parts:
            raise ParseError("ldap: empty referral")
        for uri in parts:
            _string(data, uri)
        return None, None, None
    if op == 23:  # requestName [0], requestValue [1] OPTIONAL
        if not parts or not parts[0].is_(CONTEXT, 0, False) or len(parts) > 2:
            raise ParseError("ldap: bad extended request")
        return None, None, None
    # 25, intermediateResponse: responseName [0] OPTIONAL, responseValue [1] OPTIONAL
    if len(parts) > 2 or any(p.cls != CONTEXT or p.tag > 1 for p in parts):
        raise ParseError("ldap: bad intermediate response")
    return None, None, None


def _starts_message(data: bytes, pos: int) -> bool:
    """Whether the input at `pos` may begin SEQUENCE { INTEGER ...: the cheap first test."""
    if data[pos:pos + 1] != b"\x30":
        return False
    if pos + 1 >= len(data):
        return True
    n = data[pos + 1]
    if n > 0x84 or n == 0x80:
        return False
    at = pos + 2 + (n & 0x7F if n & 0x80 else 0)
    return at >= len(data) or data[at] == asn1.INTEGER


def _message(data: bytes, pos: int, cldap: bool) -> LdapMessage:
    if not _starts_message(data, pos):
        raise ParseError("ldap: not a SEQUENCE")
    seq = asn1.read_tlv(data, pos, outer=True)
    if not seq.is_(UNIVERSAL, asn1.SEQUENCE, True):
        raise ParseError("ldap: not a SEQUENCE")
    parts = asn1.children(data, seq, limit=4)
    if len(parts) < 2 or not parts[0].is_(UNIVERSAL, asn1.INTEGER, False):
        raise ParseError("ldap: no message id")
    message_id = asn1.integer(data, parts[0])
    if not 0 <= message_id <= MAX_MESSAGE_ID:
        raise ParseError("ldap: bad message id")
    rest = parts[1:]
    if cldap and rest[0].is_(UNIVERSAL, asn1.OCTET_STRING, False):
        rest = rest[1:]  # RFC 1798: the user's name
    if not rest or rest[0].cls != APPLICATION or rest[0].tag not in OP_NAMES:
        raise ParseError("ldap: no protocol operation")
    if len(rest) > 2 or (len(rest) == 2 and not rest[1].is_(CONTEXT, 0, True)):
        raise ParseError("ldap: unexpected component after the operation")
    if rest[0].tag != 24 and message_id == 0:
        raise ParseError("ldap: message id 0 is for unsolicited notifications")
    dn, result, mechanism = _operation(data, rest[0])
    return LdapMessage(message_id, rest[0].tag, dn, result, mechanism, seq.end - pos)


def parse_message(data: bytes, cldap: bool = False) -> LdapMessage:
    """The first LDAPMessage of `data`; over UDP (cldap) the datagram must be made of
    whole messages only."""
    first = _message(data, 0, cldap)
    if cldap:
        pos = first.length
        for _ in range(64):
            if pos >= len(data):
                break
            pos += _message(data, pos, cldap).length
        else:
            raise ParseError("ldap: too many messages in a datagram")
    return first
