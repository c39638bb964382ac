"""Authentication and directory protocols whose messages are ASN.1: Kerberos, LDAP.

Kerberos (RFC 4120): a KDC exchange (AS-REQ/AS-REP, TGS-REQ/TGS-REP, KRB-ERROR) over UDP
(one message a datagram) or TCP (a 4-octet record mark first). The application tag, the
pvno 5 and a msg-type equal to the tag prove it from either side; the realm and principal
names are kept. LDAP (RFC 4511): an LDAPMessage (message id, one protocol operation,
optional controls) over TCP, or over UDP as CLDAP (RFC 1798's form with a user name too).
"""

from __future__ import annotations

from probescan.detect.base import BOTH, Detection, Detector, Fact, Messages, Result
from probescan.detect.sides import both_sides, swapped, waiting
from probescan.protocols import kerberos, ldap

# --- Kerberos -------------------------------------------------------------------------


def kerberos_detect(msgs: Messages) -> Result:
    tcp = msgs.transport == "tcp"

    def parse(data: bytes) -> kerberos.KerberosMessage:
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
        c, s, kerberos.KerberosMessage, lambda m: m.msg_type in kerberos.REQUESTS))


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


DETECTORS = (
    Detector("kerberos-sec", BOTH, kerberos_detect,
             "either side: [APPLICATION 10-13/30] around a SEQUENCE whose pvno is 5 and whose "
             "msg-type repeats the tag (over TCP after a 4-octet record mark that agrees)",
             "RFC 4120 (Kerberos V5) §5 and §7.2"),
    Detector("ldap", BOTH, ldap_detect,
             "either side: an LDAPMessage SEQUENCE of message id, one protocol operation "
             "whose structure is checked, and optional controls, exactly filling its length",
             "RFC 4511 (LDAP) §4, RFC 1798 (CLDAP)"),
)
