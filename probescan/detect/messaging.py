"""Application messaging over TCP: IRC, NNTP, Git's pack protocol, Z39.50, SMPP, HL7.

IRC (RFC 2812, IRCv3 capability negotiation): the client's registration (USER with its four
parameters, or NICK then USER, or CAP LS/REQ) or the server's first prefixed line (NOTICE,
a numeric reply, CAP). NNTP (RFC 3977): an NNTP-only command from the client, or the
server's 200/201 greeting (the client's command, if any, one of NNTP's). Git (pack protocol
over git://): pkt-lines whose lengths agree, the request naming git-upload-pack,
git-receive-pack or git-upload-archive, or the server's reference advertisement.
"""

from __future__ import annotations

import re

from probescan.detect.base import NEED_MORE, TCP, Detection, Detector, Fact, Messages, Result
from probescan.detect.sides import mirrored
from probescan.protocols import asn1
from probescan.protocols.asn1 import CONTEXT
from probescan.protocols.errors import NeedMore, ParseError

# --- IRC ------------------------------------------------------------------------------

IRC_NICK = rb"[A-Za-z\[\]\\`_^{|}][\w\[\]\\`^{|}-]{0,63}"
IRC_CLIENT = re.compile(
    rb"(?:PASS [^\r\n ]{1,128}\r?\n)?"
    rb"(?:(CAP (?:LS(?: \d{3})?|REQ :[^\r\n]{1,512}))\r?\n"
    rb"|(?:NICK :?(" + IRC_NICK + rb")\r?\n)?"
    rb"(USER [^\s:]{1,64} [^\s:]{1,16} [^\s:]{1,64} :[^\r\n]{0,256})\r?\n)")
IRC_NICK_ONLY = re.compile(rb"NICK :?(" + IRC_NICK + rb")\r?\n\Z")
IRC_SERVER = re.compile(
    rb"(?::([A-Za-z0-9][\w.-]{0,254}) (?:NOTICE|\d{3}|CAP) [^\r\n ]{1,64} :?[^\r\n]{0,512}"
    rb"|NOTICE AUTH :[^\r\n]{0,512}|PING :[^\r\n]{1,255})\r?\n")


def irc_detect(msgs: Messages) -> Result:
    c, s = msgs.client_stream, msgs.server_stream
    m = IRC_CLIENT.match(c[:1024])
    if m is not None:
        facts: dict[str, Fact] = {}
        if m.group(2):
            facts["irc_nick"] = m.group(2).decode()
        return Detection("irc", facts)
    n = IRC_SERVER.match(s[:1024])
    if n is not None:
        return Detection("irc", {"irc_server": n.group(1).decode()} if n.group(1) else {})
    if IRC_NICK_ONLY.match(c[:128]) and not s:
        return NEED_MORE
    return None


# --- NNTP -----------------------------------------------------------------------------

NNTP_ONLY = re.compile(
    rb"(?:MODE (?:READER|STREAM)|AUTHINFO (?:USER|PASS|SASL|GENERIC) ?[^\r\n]{0,256}"
    rb"|(?:X?OVER|XHDR|HDR|LISTGROUP|NEWNEWS|NEWGROUPS|GROUP|ARTICLE)(?: [^\r\n]{1,256})?"
    rb"|(?:IHAVE|TAKETHIS|CHECK) <[^\r\n>]{1,250}>)(?:\r\n|\Z)", re.I)
NNTP_ANY = re.compile(
    rb"(?:HELP|LIST(?: [^\r\n]{1,256})?|CAPABILITIES(?: [^\r\n]{1,64})?|QUIT|DATE|STAT|NEXT|LAST"
    rb"|HEAD(?: [^\r\n]{1,256})?|BODY(?: [^\r\n]{1,256})?|POST)(?:\r\n|\Z)", re.I)
NNTP_GREETING = re.compile(rb"(20[01]) [\x20-\x7e]{0,512}\r\n")


def nntp_detect(msgs: Messages) -> Result:
    c, s = msgs.client_stream[:512], msgs.server_stream[:600]
    greeting = NNTP_GREETING.match(s)
    if NNTP_ONLY.match(c) and c.endswith(b"\n") and (not s or greeting or s[:1] in b"2345"):
        return Detection("nntp", {"nntp_posting": greeting.group(1) == b"200"} if greeting else {})
    if greeting is not None and (not c or NNTP_ANY.match(c) or NNTP_ONLY.match(c)):
        return Detection("nntp", {"nntp_posting": greeting.group(1) == b"200"})
    return None


# --- Git ------------------------------------------------------------------------------

GIT_REQUEST = re.compile(rb"(git-(?:upload-pack|receive-pack|upload-archive)) ([^\0\n]{1,1000})\0"
                         rb"(?:host=([^\0]{1,255})\0)?")
GIT_ADVERT = re.compile(rb"(?:[0-9a-f]{40}|[0-9a-f]{64}) [^\0\n]{1,1000}\0|version [12]\n|ERR ")


def _pkt_line(data: bytes) -> bytes | None:
    """The payload of the first pkt-line (4 hex digits counting themselves), if whole."""
    if len(data) < 4 or not re.fullmatch(rb"[0-9a-f]{4}", data[:4]):
        return None
    n = int(data[:4], 16)
    if n < 5 or len(data) < n:
        return None
    return data[4:n]


def git_detect(msgs: Messages) -> Result:
    line = _pkt_line(msgs.client_stream)
    if line is not None:
        m = GIT_REQUEST.match(line)
        if m is not None and m.end() <= len(line):
            facts: dict[str, Fact] = {"git_service": m.group(1).decode(),
                                      "git_path": m.group(2).decode("utf-8", "replace")}
            if m.group(3):
                facts["git_host"] = m.group(3).decode("utf-8", "replace")
            return Detection("git", facts)
    line = _pkt_line(msgs.server_stream)
    if line is not None and GIT_ADVERT.match(line) and not msgs.client_stream:
        return Detection("git", {})
    return None


# --- Z39.50 ---------------------------------------------------------------------------

Z3950_INIT_REQUEST, Z3950_INIT_RESPONSE = 20, 21


def _z3950(data: bytes) -> Detection | None:
    """An InitializeRequest [20] or InitializeResponse [21]: context-tagged fields in
    order, with protocolVersion [3], options [4], preferredMessageSize [5] and
    exceptionalRecordSize [6] (and result [12] in a response)."""
    if data[:1] not in (b"\xb4", b"\xb5"):
        return None
    try:
        apdu = asn1.read_tlv(data, outer=True)
        fields = asn1.children(data, apdu, limit=64)
        asn1.check_tree(data, apdu)
    except (NeedMore, ParseError):
        return None
    tags = [f.tag for f in fields]
    if any(f.cls != CONTEXT for f in fields) or tags != sorted(tags):
        return None
    required = {3, 4, 5, 6} | ({12} if apdu.tag == Z3950_INIT_RESPONSE else set())
    if not required <= set(tags):
        return None
    facts: dict[str, Fact] = {"z3950_pdu": "initRequest" if apdu.tag == 20 else "initResponse"}
    for f in fields:
        if f.tag in (111, 112) and not f.constructed:
            key = "z3950_implementation" if f.tag == 111 else "z3950_version"
            facts[key] = asn1.text(data, f, 64)
    return Detection("z3950", facts, swapped=apdu.tag == Z3950_INIT_RESPONSE)


def z3950_detect(msgs: Messages) -> Result:
    return mirrored(_z3950(msgs.client_stream), _z3950(msgs.server_stream))


# --- SMPP -----------------------------------------------------------------------------

SMPP_BINDS = {1: "bind_receiver", 2: "bind_transmitter", 9: "bind_transceiver",
              0x0B: "outbind"}
SMPP_VERSIONS = {0x33: "3.3", 0x34: "3.4", 0x50: "5.0"}


def _c_octets(data: bytes, pos: int, limit: int) -> tuple[str, int] | None:
    end = data.find(b"\0", pos, pos + limit)
    if end < 0 or any(b < 0x20 or b > 0x7E for b in data[pos:end]):
        return None
    return data[pos:end].decode("ascii"), end + 1


def _smpp(data: bytes) -> Detection | None:
    """A bind (or outbind) PDU, or a bind response, whose C-octet strings and length agree."""
    if len(data) < 17:
        return None
    length = int.from_bytes(data[:4], "big")
    command = int.from_bytes(data[4:8], "big")
    status = int.from_bytes(data[8:12], "big")
    base = command & 0x7FFFFFFF
    if base not in SMPP_BINDS or length > 4096 or len(data) < length or (
            not command & 0x80000000 and status) or (base == 0x0B and command & 0x80000000):
        return None
    system = _c_octets(data, 16, 16)
    if system is None:
        return None
    facts: dict[str, Fact] = {"smpp_command": SMPP_BINDS[base] + (
        "_resp" if command & 0x80000000 else ""), "smpp_system_id": system[0]}
    pos = system[1]
    if command & 0x80000000:  # system_id, then optional TLVs
        while pos + 4 <= length:
            pos += 4 + int.from_bytes(data[pos + 2:pos + 4], "big")
        return Detection("smpp", facts, swapped=True) if pos == length else None
    password = _c_octets(data, pos, 9)
    if password is None:
        return None
    if base == 0x0B:
        return Detection("smpp", facts, swapped=True) if password[1] == length else None
    kind = _c_octets(data, password[1], 13)
    if kind is None or kind[1] + 3 > length or data[kind[1]] not in SMPP_VERSIONS:
        return None
    if data[kind[1] + 1] > 6 or data[kind[1] + 2] > 18:
        return None
    address = _c_octets(data, kind[1] + 3, 41)
    if address is None or address[1] != length:
        return None
    facts["smpp_version"] = SMPP_VERSIONS[data[kind[1]]]
    return Detection("smpp", facts)


def smpp_detect(msgs: Messages) -> Result:
    return mirrored(_smpp(msgs.client_stream), _smpp(msgs.server_stream))


# --- HL7 ------------------------------------------------------------------------------

HL7_MSH = re.compile(rb"\x0b?MSH([|!#$%^])([^\w\r\n\s]{4})\1")


def hl7_detect(msgs: Messages) -> Result:
    for data in (msgs.client_stream, msgs.server_stream):
        m = HL7_MSH.match(data[:16])
        if m is None or len(set(m.group(1) + m.group(2))) != 5:
            continue
        segment = data[m.start(1) - 3:].split(b"\r", 1)[0]
        fields = segment.split(m.group(1))
        facts: dict[str, Fact] = {}
        if len(fields) > 2 and fields[2]:
            facts["hl7_sending_application"] = fields[2][:64].decode("latin-1")
        if len(fields) > 8 and fields[8]:
            facts["hl7_message_type"] = fields[8][:32].decode("latin-1")
        if len(fields) > 11 and fields[11]:
            facts["hl7_version"] = fields[11][:16].decode("latin-1")
        return Detection("hl7", facts)
    return None


DETECTORS = (
    Detector("irc", TCP, irc_detect,
             "client: registration (CAP LS/REQ, or [PASS] [NICK] USER with its four "
             "parameters); server: a first line with a server prefix and NOTICE, a numeric "
             "or CAP, or NOTICE AUTH, or PING",
             "RFC 2812 §3.1, §2.3; IRCv3 capability negotiation"),
    Detector("nntp", TCP, nntp_detect,
             "client: an NNTP-only command (MODE READER, AUTHINFO, GROUP, ARTICLE, OVER, "
             "IHAVE...); server: a 200/201 greeting, the client's command (if any) an NNTP one",
             "RFC 3977 (NNTP) §5-6, RFC 4643 (AUTHINFO)"),
    Detector("git", TCP, git_detect,
             "client: a pkt-line whose length agrees, requesting git-upload-pack, "
             "git-receive-pack or git-upload-archive; server alone: its reference advertisement",
             "Git pack protocol (gitprotocol-pack(5)), pkt-line format"),
    Detector("z3950", TCP, z3950_detect,
             "either side: a BER InitializeRequest [20] or InitializeResponse [21] with its "
             "required fields in order", "ANSI/NISO Z39.50-2003 (ISO 23950) §3.2.1"),
    Detector("smpp", TCP, smpp_detect,
             "either side: a bind/outbind PDU (or its response) whose C-octet strings, "
             "interface version and command length agree", "SMPP v3.4 §4.1, SMPP v5.0"),
    Detector("hl7", TCP, hl7_detect,
             "either side: an MSH segment (optionally after the MLLP start block 0x0B) with "
             "its field separator and four distinct encoding characters",
             "HL7 v2.x ch. 2 (MSH), MLLP (HL7 transport specification)"),
)
