"""Authentication, authorization and directory protocols: Kerberos, LDAP, RADIUS, Diameter.

Kerberos (RFC 4120): a KDC exchange (AS-REQ/AS-REP, TGS-REQ/TGS-REP, KRB-ERROR) over UDP
(one message a datagram) or TCP (a 4-octet record mark first). The application tag, the
pvno 5 and a msg-type equal to the tag prove it from either side; the realm and principal
names are kept. LDAP (RFC 4511): an LDAPMessage (message id, one protocol operation,
optional controls) over TCP, or over UDP as CLDAP (RFC 1798's form with a user name too).
"""

from __future__ import annotations

from probescan.detect.base import BOTH, NEED_MORE, TCP, Detection, Detector, Fact, Messages, Result
from probescan.detect.sides import both_sides, first_bytes, mirrored, swapped, waiting
from probescan.protocols import kerberos, ldap

# --- Kerberos -------------------------------------------------------------------------


def kerberos_detect(msgs: Messages) -> Result:
    tcp = msgs.transport == "tcp"

    def parse(data: bytes) -> kerberos.KerberosMessage:
        if data[4 * tcp:4 * tcp + 1] < b"\x60":  # kpasswd's 2-octet length comes first
            return kerberos.parse_kpasswd(data, tcp=tcp)
        m = kerberos.parse_message(data, tcp=tcp, partial=tcp)
        if m.msg_type not in kerberos.KDC_MESSAGES:
            raise ValueError("not a KDC message")
        return m

    c, s = both_sides(msgs, parse)
    found = [m for m in (c, s) if isinstance(m, kerberos.KerberosMessage)]
    if not found:
        return waiting(c, s)
    facts: dict[str, Fact] = {"kerberos_messages": tuple(m.name for m in found)}
    for key, values in (("kerberos_realm", [m.realm for m in found]),
                        ("kerberos_client", [m.cname for m in found]),
                        ("kerberos_service", [m.sname for m in found]),
                        ("kerberos_error", [m.error_name for m in found])):
        value = next((v for v in values if v), None)
        if value:
            facts[key] = value
    return Detection("kerberos-sec", facts, swapped=swapped(
        c, s, kerberos.KerberosMessage,
        lambda m: m.msg_type in kerberos.REQUESTS and not (m.kpasswd and m.msg_type == 30)))


# --- LDAP -----------------------------------------------------------------------------


def ldap_detect(msgs: Messages) -> Result:
    udp = msgs.transport == "udp"

    def parse(data: bytes) -> ldap.LdapMessage:
        return ldap.parse_message(data, cldap=udp)

    c, s = both_sides(msgs, parse)
    found = [m for m in (c, s) if isinstance(m, ldap.LdapMessage)]
    if not found:
        return waiting(c, s)
    facts: dict[str, Fact] = {"ldap_ops": tuple(m.op_name for m in found)}
    for m in found:
        for key, value in m.facts().items():
            facts.setdefault(key, value)
    return Detection("ldap", facts, swapped=swapped(c, s, ldap.LdapMessage, lambda m: m.request))


# --- RADIUS ---------------------------------------------------------------------------

RADIUS_CODES = {
    1: "Access-Request", 2: "Access-Accept", 3: "Access-Reject", 4: "Accounting-Request",
    5: "Accounting-Response", 11: "Access-Challenge", 12: "Status-Server",
    13: "Status-Client", 40: "Disconnect-Request", 41: "Disconnect-ACK", 42: "Disconnect-NAK",
    43: "CoA-Request", 44: "CoA-ACK", 45: "CoA-NAK",
}  # fmt: skip
RADIUS_REQUESTS = frozenset({1, 4, 12, 13, 40, 43})
RADIUS_USER_NAME, RADIUS_NAS_IDENTIFIER, RADIUS_VENDOR_SPECIFIC = 1, 32, 26
# attribute types whose value is a 4-octet integer, address or time (RFC 2865 §5, RFC 2866
# §5, RFC 2869 §5), or 16 octets (Message-Authenticator, NAS-IPv6-Address: RFC 2869, 3162)
_RADIUS_FIXED = {**dict.fromkeys((4, 5, 6, 7, 8, 9, 10, 12, 13, 14, 15, 16, 23, 27, 28, 29,
                                  37, 38, 40, 41, 42, 43, 45, 46, 47, 48, 49, 51, 52, 53, 55,
                                  61, 62), 6), 80: 18, 95: 18}


def _radius_typed(data: bytes, pos: int, kind: int, alen: int) -> bool | None:
    """Does the attribute at `pos` prove its type (True: a fixed-size type of its size, or a
    Vendor-Specific one whose Vendor-Id has a zero high-order octet, RFC 2865 §5.26), break
    it (False: such a type of another shape), or say nothing (None: any other type)?"""
    if kind == RADIUS_VENDOR_SPECIFIC:
        return alen >= 7 and data[pos + 2] == 0
    size = _RADIUS_FIXED.get(kind)
    return None if size is None else alen == size


def _radius_packet(data: bytes, datagram: bool = False) -> Result:
    """Code, identifier, length (20..4096), authenticator, then attributes (type 1..255,
    length >= 2) that fill the length exactly; a request carries at least one.

    A `datagram` whose length field is its size exactly, with attributes before one of
    invalid length among which one proves its type and none breaks it (_radius_typed), is
    RADIUS too: RFC 2865 §5 tells a server to answer such an Access-Request with an
    Access-Reject (fact `radius_damaged`)."""
    if len(data) < 4:
        return None
    code, length = data[0], int.from_bytes(data[2:4], "big")
    if code not in RADIUS_CODES or not 20 <= length <= 4096:
        return None
    if len(data) < length:
        return NEED_MORE
    if any(data[length:]):  # octets past the length may only be padding
        return None
    facts: dict[str, Fact] = {"radius_code": RADIUS_CODES[code]}
    pos, count, proven, broken = 20, 0, False, False
    while pos < length:
        if pos + 2 > length:
            return None
        kind, alen = data[pos], data[pos + 1]
        if kind == 0 or alen < 2 or pos + alen > length:
            if proven and not broken and datagram and len(data) == length:
                facts["radius_damaged"] = True
                break
            return None
        shape = _radius_typed(data, pos, kind, alen)
        proven, broken = proven or shape is True, broken or shape is False
        if kind in (RADIUS_USER_NAME, RADIUS_NAS_IDENTIFIER) and alen > 2:
            key = "radius_user" if kind == RADIUS_USER_NAME else "radius_nas_id"
            facts.setdefault(key, data[pos + 2:pos + alen].decode("utf-8", "replace"))
        pos += alen
        count += 1
    if code in RADIUS_REQUESTS and not count:
        return None
    return Detection("radius", facts, swapped=code not in RADIUS_REQUESTS)


def radius_detect(msgs: Messages) -> Result:
    udp = msgs.transport == "udp"
    c = _radius_packet(first_bytes(msgs.client, msgs.transport), udp)
    s = _radius_packet(first_bytes(msgs.server, msgs.transport), udp)
    # RADIUS over TCP (RFC 6613) opens with the client's request. A reply's shape alone is
    # too common on TCP: a TPKT header (03 00 + length: S7comm, RDP, H.323) reads as an
    # Access-Reject whose length fills the segment.
    if msgs.transport == "tcp" and not (isinstance(c, Detection) and not c.swapped):
        return NEED_MORE if c is NEED_MORE else None
    if isinstance(c, Detection):
        facts = dict(c.facts)
        if isinstance(s, Detection):
            facts["radius_reply"] = s.facts["radius_code"]
        return Detection("radius", facts, swapped=c.swapped)
    return mirrored(c, s)


# --- Diameter -------------------------------------------------------------------------

DIAMETER_COMMANDS = {
    257: "Capabilities-Exchange", 258: "Re-Auth", 265: "AA", 268: "Diameter-EAP",
    271: "Accounting", 272: "Credit-Control", 274: "Abort-Session", 275: "Session-Termination",
    280: "Device-Watchdog", 282: "Disconnect-Peer", 316: "Update-Location",
    318: "Authentication-Information",
}  # fmt: skip
DIAMETER_ORIGIN_HOST, DIAMETER_PRODUCT = 264, 269


def _diameter_message(data: bytes) -> Result:
    """Version 1, a length that is a multiple of 4, flags with the reserved bits clear, then
    AVPs (code, flags, length >= 8, vendor id when V is set) padded to 4 octets that fill
    the length exactly."""
    if len(data) < 20:
        return None
    length = int.from_bytes(data[1:4], "big")
    if data[0] != 1 or length < 20 or length % 4 or length > 1 << 16 or data[4] & 0x0F:
        return None
    if len(data) < length:
        return NEED_MORE
    command = int.from_bytes(data[5:8], "big")
    request = bool(data[4] & 0x80)
    name = DIAMETER_COMMANDS.get(command, str(command))
    facts: dict[str, Fact] = {"diameter_command": f"{name}-{'Request' if request else 'Answer'}"}
    pos = 20
    while pos < length:
        if pos + 8 > length:
            return None
        code, flags = int.from_bytes(data[pos:pos + 4], "big"), data[pos + 4]
        alen = int.from_bytes(data[pos + 5:pos + 8], "big")
        head = 12 if flags & 0x80 else 8
        if flags & 0x1F or alen < head or pos + alen > length:
            return None
        if code in (DIAMETER_ORIGIN_HOST, DIAMETER_PRODUCT) and not flags & 0x80:
            key = "diameter_origin_host" if code == DIAMETER_ORIGIN_HOST else "diameter_product"
            facts[key] = data[pos + head:pos + alen].decode("utf-8", "replace")
        pos += (alen + 3) // 4 * 4
    if pos != length:
        return None
    return Detection("diameter", facts, swapped=not request)


def diameter_detect(msgs: Messages) -> Result:
    return mirrored(_diameter_message(msgs.client_stream), _diameter_message(msgs.server_stream))


DETECTORS = (
    Detector("kerberos-sec", BOTH, kerberos_detect,
             "either side: [APPLICATION 10-13/30] around a SEQUENCE whose pvno is 5 and whose "
             "msg-type repeats the tag (over TCP after a 4-octet record mark that agrees)",
             "RFC 4120 (Kerberos V5) §5 and §7.2"),
    Detector("ldap", BOTH, ldap_detect,
             "either side: an LDAPMessage SEQUENCE of message id, one protocol operation "
             "whose structure is checked, and optional controls, exactly filling its length",
             "RFC 4511 (LDAP) §4, RFC 1798 (CLDAP)"),
    Detector("radius", BOTH, radius_detect,
             "either side: a known code, a length of 20..4096 that the packet fills (zero "
             "padding only), attributes of type 1..255 adding up to it (over UDP, a length "
             "equal to the datagram's may follow valid attributes with one of bad length)",
             "RFC 2865 §3-5, RFC 2866, RFC 5176 (Disconnect, CoA), RFC 6613 (over TCP)"),
    Detector("diameter", TCP, diameter_detect,
             "either side: version 1, a length that is a multiple of 4, reserved flag bits "
             "clear, AVPs (vendor id when flagged) padded to 4 octets filling the length",
             "RFC 6733 (Diameter base protocol) §3-4"),
)
