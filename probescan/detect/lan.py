"""Local-network name and address protocols: DNS / mDNS / LLMNR, DHCP, DHCPv6, NetBIOS.

DNS, multicast DNS (RFC 6762) and LLMNR (RFC 4795) share one message format (RFC 1035 §4):
the parser of `probescan.protocols.dns` proves the structure (a header, questions and records
that fill the datagram exactly). Which of the three it is can only be told by where it went:
port 5353 or the groups 224.0.0.251 / ff02::fb (or a class with mDNS's unicast-response /
cache-flush bit, which plain DNS never sets) is mDNS; port 5355 or 224.0.0.252 / ff02::1:3 is
LLMNR; anything else is DNS (DNSCrypt's certificate query, a TXT question for
"2.dnscrypt-cert.<provider>" or one answered with "DNSC" certificates, is DNSCrypt). Port
137 goes to the NetBIOS name service, whose packets are DNS-shaped too. DHCP and NetBIOS are
parsed by their own modules.
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
from probescan.protocols import dhcp, dns, netbios
from probescan.protocols.errors import NeedMore, ParseError

DNS_NAME = "dns"  # what watch/passive.py and fingerprints/dns.toml call plain DNS
MDNS_ADDRS = frozenset({"224.0.0.251", "ff02::fb"})
LLMNR_ADDRS = frozenset({"224.0.0.252", "ff02::1:3"})
NBNS_PORT, DNS_PORT = 137, 53
_CLASSES = frozenset({1, 3, 4, 254, 255})  # IN CH HS NONE ANY


# --- DNS, mDNS, LLMNR ------------------------------------------------------------------

def _dns_plausible(m: dns.DnsMessage) -> bool:
    if not m.qr and not m.questions and m.opcode not in (1, 5):
        return False  # IQUERY asks with an answer, UPDATE may carry no zone section
    if not m.questions and not m.answers and not m.authority and not m.additional:
        return False
    if any(q.cls & 0x7FFF not in _CLASSES for q in m.questions):
        return False
    return all(r.type == dns.OPT or r.cls & 0x7FFF in _CLASSES
               for r in (*m.answers, *m.authority, *m.additional))


def _parse_dns(data: bytes, tcp: bool) -> dns.DnsMessage | None:
    m = dns.parse_message(data, tcp=tcp)  # NeedMore / ParseError go to the caller
    if m.length != len(data) and not tcp:
        return None
    return m if _dns_plausible(m) else None


def _mdns_bits(m: dns.DnsMessage) -> bool:
    return any(q.cls & 0x8000 for q in m.questions) or any(
        r.cls & 0x8000 for r in (*m.answers, *m.additional) if r.type != dns.OPT)


def _dns_flavour(msgs: Messages, m: dns.DnsMessage) -> str:
    ports = (msgs.client_port, msgs.server_port)
    ip = msgs.server_ip.lower()
    if 5353 in ports or ip in MDNS_ADDRS or _mdns_bits(m):
        return "mdns"
    if 5355 in ports or ip in LLMNR_ADDRS:
        return "llmnr"
    return DNS_NAME


def _dnscrypt(m: dns.DnsMessage) -> bool:
    """DNSCrypt's certificate query: TXT for "2.dnscrypt-cert.<provider>", answered with
    certificates that start with the magic "DNSC" (DNSCrypt v2 protocol §9)."""
    if not m.questions or m.questions[0].type != dns.TXT:
        return False
    if m.questions[0].name.lower().startswith("2.dnscrypt-cert."):
        return True
    return m.questions[0].name.startswith("2.") and any(
        r.type == dns.TXT and r.rdata[1:5] == b"DNSC" for r in m.answers)


def dns_family(msgs: Messages) -> Result:
    if NBNS_PORT in (msgs.client_port, msgs.server_port):
        return None  # the NetBIOS name service shares DNS's format: its port breaks the tie
    tcp = msgs.transport == "tcp"
    waiting = False
    sides = [(msgs.client_stream, True), (msgs.server_stream, False)] if tcp else (
        msgs.interleaved(2))
    found: list[tuple[dns.DnsMessage, bool]] = []
    for data, from_client in sides:
        if not data:
            continue
        try:
            m = _parse_dns(data, tcp)
        except NeedMore:
            waiting = waiting or tcp
            continue
        except ParseError:
            continue
        if m is not None:
            found.append((m, from_client))
    if not found:
        return NEED_MORE if waiting else None
    m, from_client = found[0]
    crypt = any(_dnscrypt(x) for x, _ in found)
    service = "dnscrypt" if crypt else _dns_flavour(msgs, m)
    facts: dict[str, Fact] = {}
    if m.questions:
        facts["dns_query"] = m.questions[0].name
        facts["dns_type"] = dns.type_name(m.questions[0].type)
    if m.qr:
        facts["dns_rcode"] = m.rcode
    swapped = from_client and m.qr and service != "mdns"
    return Detection(service, facts, swapped=swapped)


# --- DHCP (BOOTP) ------------------------------------------------------------------------

def dhcp_udp(msgs: Messages) -> Result:
    for data, from_client in msgs.interleaved(3):
        if not data or data[0] not in (1, 2):
            continue
        try:
            m = dhcp.parse_message(data)
        except (NeedMore, ParseError):
            continue
        if m.cookie and m.message_type is None and not m.options:
            continue
        facts: dict[str, Fact] = {"dhcp_type": m.type_name}
        if m.hostname:
            facts["dhcp_hostname"] = m.hostname
        if m.vendor_class:
            facts["dhcp_vendor_class"] = m.vendor_class
        if m.params:
            facts["dhcp_params"] = ",".join(str(p) for p in m.params)
        return Detection("dhcps", facts, swapped=from_client and m.op == 2)
    return None


# --- DHCPv6 (RFC 8415) -------------------------------------------------------------------

DHCPV6_TYPES = {1: "SOLICIT", 2: "ADVERTISE", 3: "REQUEST", 4: "CONFIRM", 5: "RENEW",
                6: "REBIND", 7: "REPLY", 8: "RELEASE", 9: "DECLINE", 10: "RECONFIGURE",
                11: "INFORMATION-REQUEST", 12: "RELAY-FORW", 13: "RELAY-REPL",
                14: "LEASEQUERY", 15: "LEASEQUERY-REPLY"}
_V6_FROM_SERVER = frozenset({2, 7, 10, 13, 15})
_V6_MAX_OPTION = 150  # option codes assigned so far stay below this
_V6_IDS = frozenset({1, 2, 8, 9})  # client id, server id, elapsed time, relay message


def _v6_options(data: bytes) -> list[int] | None:
    codes: list[int] = []
    pos = 0
    while pos < len(data):
        if pos + 4 > len(data):
            return None
        code = int.from_bytes(data[pos : pos + 2], "big")
        size = int.from_bytes(data[pos + 2 : pos + 4], "big")
        if not 0 < code < _V6_MAX_OPTION or pos + 4 + size > len(data):
            return None
        duid_type = int.from_bytes(data[pos + 4 : pos + 6], "big")
        if code in (1, 2) and (size < 4 or not 1 <= duid_type <= 4):
            return None  # a DUID starts with its type, 1-4 (RFC 8415 §11.1)
        if code == 8 and size != 2:
            return None
        codes.append(code)
        pos += 4 + size
    return codes


def dhcpv6_udp(msgs: Messages) -> Result:
    for data, from_client in msgs.interleaved(3):
        if len(data) < 8 or data[0] not in DHCPV6_TYPES:
            continue
        relay = data[0] in (12, 13)
        if relay and (len(data) < 38 or data[1] > 32):  # HOP_COUNT_LIMIT is 8 by default
            continue
        codes = _v6_options(data[34:] if relay else data[4:])
        if not codes or not _V6_IDS.intersection(codes) or (relay and 9 not in codes):
            continue
        swapped = from_client and data[0] in _V6_FROM_SERVER
        return Detection("dhcpv6", {"dhcpv6_type": DHCPV6_TYPES[data[0]]}, swapped=swapped)
    return None


# --- NetBIOS -----------------------------------------------------------------------------

def netbios_ns(msgs: Messages) -> Result:
    ports = (msgs.client_port, msgs.server_port)
    if DNS_PORT in ports and NBNS_PORT not in ports:
        return None  # DNS shares the name service's format: its port breaks the tie
    for data, from_client in msgs.interleaved(3):
        if len(data) < 12 + 34:
            continue
        try:
            m = netbios.parse_ns(data)
        except (NeedMore, ParseError):
            continue
        names = [q[0] for q in m.questions] + [r[0] for r in m.records if r[0] is not None]
        facts: dict[str, Fact] = {"nbns_opcode": m.opcode}
        if names:
            facts["nbns_name"] = str(names[0])
        return Detection("netbios-ns", facts, swapped=from_client and m.response)
    return None


def netbios_dgm(msgs: Messages) -> Result:
    for data, _ in msgs.interleaved(3):
        if not data or data[0] not in netbios.DGM_TYPES:
            continue
        try:
            m = netbios.parse_dgm(data)
        except (NeedMore, ParseError):
            continue
        facts: dict[str, Fact] = {"nbds_type": m.type_name}
        if m.source is not None:
            facts["nbds_source"] = str(m.source)
        if m.destination is not None:
            facts["nbds_destination"] = str(m.destination)
        return Detection("netbios-dgm", facts)
    return None


def netbios_ssn(msgs: Messages) -> Result:
    waiting = False
    for data, from_client in ((msgs.client_stream, True), (msgs.server_stream, False)):
        if not data or data[0] != 0x81:
            continue
        try:
            p = netbios.parse_ssn(data)
        except NeedMore:
            waiting = True
            continue
        except ParseError:
            continue
        assert p.called is not None and p.calling is not None
        return Detection("netbios-ssn", {"nbss_called": str(p.called),
                                         "nbss_calling": str(p.calling)},
                         swapped=not from_client)
    return NEED_MORE if waiting else None


DETECTORS = (
    Detector("netbios-ns", UDP, netbios_ns,
             "either side: NBNS header, 32-letter first-level encoded names, NB/NBSTAT types",
             "RFC 1001, RFC 1002 §4.2"),
    Detector("netbios-dgm", UDP, netbios_dgm,
             "either side: datagram type 0x10-0x16, datagram length equal to two encoded "
             "names and the user data",
             "RFC 1002 §4.4"),
    Detector("netbios-ssn", TCP, netbios_ssn,
             "the session request (0x81) with called and calling encoded names filling "
             "its length", "RFC 1002 §4.3"),
    Detector("dhcps", UDP, dhcp_udp,
             "either side: BOOTP header (op, hardware type and length, hops, flags), the "
             "DHCP magic cookie and options with a message type that fits op",
             "RFC 951, RFC 2131, RFC 2132"),
    Detector("dhcpv6", UDP, dhcpv6_udp,
             "either side: message type, options that fill the datagram exactly with a "
             "client/server DUID or elapsed time", "RFC 8415"),
    Detector(DNS_NAME, BOTH, dns_family,
             "either side: a DNS header, questions and records filling the datagram (TCP: "
             "the length-prefixed message); port 5353/5355 or the mDNS/LLMNR groups name "
             "mDNS and LLMNR", "RFC 1035 §4, RFC 6762 (mDNS), RFC 4795 (LLMNR)"),
)
