"""Proxies and remote access: SOCKS 4/4a/5, the PROXY protocol, Telnet, rsh, NoMachine,
TeamViewer, Radmin.

SOCKS5 (RFC 1928, RFC 1929): the client's greeting (version 5, methods) followed by its
request, or answered by the server's choice of one of the offered methods; the server's
choice followed by its reply. SOCKS4 (and 4a): a CONNECT/BIND request whose user id (and
4a host name) end with NUL. PROXY protocol (HAProxy): the v1 text line or the v2 binary
signature ahead of the client's bytes. Telnet (RFC 854/855): option negotiation, two or more
IAC commands from either side. rsh (RFC 1282's rcmd): the client's stderr port and three
NUL-terminated strings. Radmin (Famatech; no public specification, the messages as nmap's
Radmin probe and its answers show them): messages of a 32-bit little-endian 1, a length
byte, a byte, a zero byte, then the rest; both sides' first segments one such message each.
Over UDP (no public specification; nDPI's dissectors record the layouts): NoMachine's
datagrams carry a 16-bit little-endian type, version 1, their own length, a sequence
number and a zero word, the sequence growing by one over a side's first three; TeamViewer's
carry one TeamViewer message (0x17 0x24, command, 16-bit little-endian length) after an
11-octet header, filling the datagram, in two or more datagrams of the flow.
"""

from __future__ import annotations

import ipaddress
import itertools
import re

from probescan.detect.base import (
    NEED_MORE,
    TCP,
    UDP,
    Detection,
    Detector,
    Fact,
    Messages,
    Result,
)
from probescan.detect.sides import decided

# --- SOCKS ----------------------------------------------------------------------------

SOCKS5_METHODS = frozenset({*range(0x0A), *range(0x80, 0xFF)})
SOCKS_COMMANDS = {1: "CONNECT", 2: "BIND", 3: "UDP ASSOCIATE"}
HOST = re.compile(rb"[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252})\Z")


def _socks5_address(data: bytes, pos: int) -> tuple[str, int] | None:
    """ATYP, address, port at `pos`: (target, end) or None when it does not fit."""
    if pos >= len(data):
        return None
    atyp = data[pos]
    if atyp == 1:
        end = pos + 1 + 4
        host = str(ipaddress.IPv4Address(data[pos + 1:end])) if len(data) >= end else ""
    elif atyp == 4:
        end = pos + 1 + 16
        host = f"[{ipaddress.IPv6Address(data[pos + 1:end])}]" if len(data) >= end else ""
    elif atyp == 3:
        n = data[pos + 1] if pos + 1 < len(data) else 0
        end = pos + 2 + n
        raw = data[pos + 2:end]
        if not n or (len(raw) == n and not HOST.match(raw)):
            return None
        host = raw.decode("ascii")
    else:
        return None
    if len(data) < end + 2:
        return None
    return f"{host}:{int.from_bytes(data[end:end + 2], 'big')}", end + 2


def _socks5_greeting(data: bytes) -> tuple[bytes, int] | None:
    """(offered methods, end) of VER 5, NMETHODS >= 1, distinct known METHODS."""
    if len(data) < 3 or data[0] != 5 or not data[1] or len(data) < 2 + data[1]:
        return None
    methods = data[2:2 + data[1]]
    if len(set(methods)) != len(methods) or not set(methods) <= SOCKS5_METHODS:
        return None
    return methods, 2 + data[1]


def _socks5(c: bytes, s: bytes) -> Result:
    greeting = _socks5_greeting(c)
    facts: dict[str, Fact] = {"socks_version": 5}
    if greeting is not None:
        methods, end = greeting
        if 2 in methods and c[end:end + 1] == b"\x01":  # RFC 1929 user name and password
            ulen = c[end + 1] if end + 1 < len(c) else 0
            plen_at = end + 2 + ulen
            if ulen and plen_at < len(c):
                facts["socks_user"] = c[end + 2:plen_at].decode("utf-8", "replace")
                end = plen_at + 1 + c[plen_at]
        request = c[end:end + 3]
        if (len(request) == 3 and request[0] == 5 and request[1] in SOCKS_COMMANDS
                and not request[2]):
            target = _socks5_address(c, end + 3)
            if target is not None:
                facts["socks_command"] = SOCKS_COMMANDS[request[1]]
                facts["socks_target"] = target[0]
                return Detection("socks5", facts)
        if len(s) >= 2 and s[0] == 5 and (s[1] in methods or s[1] == 0xFF):
            return Detection("socks5", facts)
        return NEED_MORE if end >= len(c) and not s else None
    if c or len(s) < 2 or s[0] != 5 or s[1] not in SOCKS5_METHODS:
        return None
    pos = 2 + (2 if s[1] == 2 and s[2:4] in (b"\x01\x00", b"\x01\x01") else 0)
    reply = s[pos:pos + 3]
    if (len(reply) == 3 and reply[0] == 5 and reply[1] <= 8 and not reply[2]
            and _socks5_address(s, pos + 3) is not None):
        return Detection("socks5", facts)
    return None


def _socks4(c: bytes, s: bytes) -> Result:
    if len(c) < 9 or c[0] != 4 or c[1] not in (1, 2):
        return None
    port, ip = int.from_bytes(c[2:4], "big"), c[4:8]
    nul = c.find(b"\0", 8, 8 + 256)
    if nul < 0:
        return NEED_MORE if len(c) < 8 + 256 and not s else None
    user = c[8:nul]
    if not port or any(b < 0x20 or b > 0x7E for b in user):
        return None
    facts: dict[str, Fact] = {"socks_version": 4, "socks_command": SOCKS_COMMANDS[c[1]]}
    if ip[:3] == b"\0\0\0" and ip[3]:  # 4a: the host name follows
        end = c.find(b"\0", nul + 1, nul + 1 + 256)
        if end < 0 or not HOST.match(c[nul + 1:end]):
            return None
        facts["socks_target"] = f"{c[nul + 1:end].decode('ascii')}:{port}"
    elif ip == b"\0\0\0\0":
        return None
    else:
        facts["socks_target"] = f"{ipaddress.IPv4Address(ip)}:{port}"
    if user:
        facts["socks_user"] = user.decode("ascii")
    if len(s) >= 2 and (s[0] != 0 or not 0x5A <= s[1] <= 0x5D):
        return None
    return Detection("socks4", facts)


def socks_detect(msgs: Messages) -> Result:
    c, s = msgs.client_stream, msgs.server_stream
    first = _socks5(c, s) if (c[:1] == b"\x05" or (not c and s[:1] == b"\x05")) else None
    if first is None and c[:1] == b"\x04":
        first = _socks4(c, s)
    return first


# --- PROXY protocol -------------------------------------------------------------------

PROXY_V2 = b"\r\n\r\n\0\r\nQUIT\n"
PROXY_V1 = re.compile(
    rb"PROXY (?:UNKNOWN[^\r\n]{0,100}|TCP4 ([\d.]{7,15}) [\d.]{7,15} (\d{1,5}) \d{1,5}"
    rb"|TCP6 ([\da-fA-F:.]{2,45}) [\da-fA-F:.]{2,45} (\d{1,5}) \d{1,5})\r\n")


def _proxy_v1(data: bytes) -> Result:
    m = PROXY_V1.match(data[:108])
    if m is None:
        return NEED_MORE if len(data) < 108 and b"\n" not in data and data[:6] == b"PROXY " \
            else None
    host, port = (m.group(1), m.group(2)) if m.group(1) else (m.group(3), m.group(4))
    facts: dict[str, Fact] = {"proxy_version": 1}
    if host is not None:
        try:
            facts["proxy_source"] = f"{ipaddress.ip_address(host.decode())}:{int(port)}"
        except ValueError:
            return None
    return Detection("haproxy", facts)


def haproxy_detect(msgs: Messages) -> Result:
    c = msgs.client_stream
    if c.startswith(b"PROXY"):
        return _proxy_v1(c)
    if len(c) < 16:
        return NEED_MORE if len(c) >= 4 and PROXY_V2.startswith(c) else None
    if not c.startswith(PROXY_V2) or c[12] not in (0x20, 0x21):
        return None
    if c[13] not in (0x00, 0x11, 0x12, 0x21, 0x22, 0x31, 0x32):
        return None
    length = int.from_bytes(c[14:16], "big")
    needed = {0x1: 12, 0x2: 36, 0x3: 216}.get(c[13] >> 4, 0)
    if length < needed:
        return None
    facts: dict[str, Fact] = {"proxy_version": 2,
                              "proxy_command": "PROXY" if c[12] & 1 else "LOCAL"}
    if c[13] >> 4 == 1 and len(c) >= 28:
        port = int.from_bytes(c[24:26], "big")
        facts["proxy_source"] = f"{ipaddress.IPv4Address(c[16:20])}:{port}"
    return Detection("haproxy", facts)


# --- Telnet ---------------------------------------------------------------------------

IAC, SB, SE = 0xFF, 0xFA, 0xF0
TELNET_OPTIONS = frozenset({*range(50), 138, 139, 140, 255})


def _telnet(data: bytes) -> Result:
    """Leading IAC commands: WILL/WONT/DO/DONT option, or SB option ... IAC SE."""
    pos, count = 0, 0
    while pos < len(data) and data[pos] == IAC and count < 64:
        if pos + 3 > len(data):
            break
        verb, option = data[pos + 1], data[pos + 2]
        if option not in TELNET_OPTIONS:
            return None
        if 0xFB <= verb <= 0xFE:
            pos += 3
        elif verb == SB:
            end = data.find(bytes((IAC, SE)), pos + 3, pos + 512)
            if end < 0:
                break
            pos = end + 2
        else:
            return None
        count += 1
    if count >= 2:
        return Detection("telnet", {"telnet_commands": count})
    return NEED_MORE if data[:1] == bytes((IAC,)) and pos >= len(data) - 2 else None


def telnet_detect(msgs: Messages) -> Result:
    c, s = _telnet(msgs.client_stream), _telnet(msgs.server_stream)
    return decided(s, c)


# --- rsh ------------------------------------------------------------------------------

RSH_FIELD = re.compile(rb"[\x20-\x7e\t]{1,1024}\Z")
RLOGIN_TERMINAL = re.compile(rb"[\w.+-]{1,64}/\d{1,7}\Z")


def rsh_detect(msgs: Messages) -> Result:
    """stderr port (decimal, or empty), local user, remote user, command, each NUL-ended."""
    c = msgs.client_stream
    fields = c.split(b"\0", 4)
    if len(fields) < 5:
        if len(c) < 4 or not re.match(rb"\d{0,5}\0", c):
            return None
        return NEED_MORE if all(RSH_FIELD.match(f) for f in fields[1:-1]) else None
    port, local, remote, command = fields[:4]
    if (port and (not port.isdigit() or len(port) > 5 or int(port) > 65535)) or not all(
            RSH_FIELD.match(f) for f in (local, remote, command)):
        return None
    if not port and RLOGIN_TERMINAL.match(command):
        return None  # rlogin's opening: no port, and a terminal type and speed
    s = msgs.server_stream
    if s and s[0] not in (0, 1):
        return None
    facts: dict[str, Fact] = {"rsh_user": remote.decode("ascii")}
    if s[:1] == b"\x01":
        facts["rsh_error"] = s[1:].split(b"\n", 1)[0][:128].decode("utf-8", "replace")
    return Detection("rsh", facts)


# --- NoMachine, TeamViewer ------------------------------------------------------------

NX_HELLO = re.compile(rb"(NXSH|NXD)-(\d{1,3}(?:\.\d{1,4}){1,3})\n")


def nomachine_detect(msgs: Messages) -> Result:
    for data in (msgs.client_stream, msgs.server_stream):
        m = NX_HELLO.match(data[:32])
        if m is not None:
            return Detection("nomachine", {"nomachine_version": m.group(2).decode()},
                             swapped=(m.group(1) == b"NXD") == (data is msgs.client_stream))
    return None


NX_UDP_RUN = 3


def _nx_udp(p: bytes) -> int | None:
    """The sequence number of a NoMachine datagram (version 1, its own length, a zero word
    at octet 8), or None."""
    if len(p) < 10 or p[2:4] != b"\x01\x00" or p[8:10] != b"\x00\x00":
        return None
    if int.from_bytes(p[4:6], "little") != len(p):
        return None
    return int.from_bytes(p[6:8], "little")


def nomachine_udp(msgs: Messages) -> Result:
    waiting = False
    for side in msgs.sides:
        first = side[:NX_UDP_RUN]
        numbers = [n for n in map(_nx_udp, first) if n is not None]
        if not numbers or len(numbers) != len(first):
            continue
        steps = all(b == a + 1 for a, b in itertools.pairwise(numbers))
        if steps and len(numbers) == NX_UDP_RUN:
            return Detection("nomachine", {"nomachine_transport": "udp"})
        waiting = waiting or steps
    return NEED_MORE if waiting else None


def _teamviewer(data: bytes) -> bool:
    """Whole messages in the segment: 0x17 0x24, command, 2-octet little-endian length and
    that many octets; or 0x11 0x30, command, flags, 4-octet length and a 24-octet header."""
    pos, count = 0, 0
    while pos < len(data) and count < 16:
        head = data[pos:pos + 2]
        if head == b"\x17\x24" and pos + 5 <= len(data):
            pos += 5 + int.from_bytes(data[pos + 3:pos + 5], "little")
        elif head == b"\x11\x30" and pos + 24 <= len(data):
            pos += 24 + int.from_bytes(data[pos + 4:pos + 8], "little")
        else:
            return False
        count += 1
    return count > 0 and pos == len(data)


def teamviewer_detect(msgs: Messages) -> Result:
    for side in (msgs.client, msgs.server):
        if side and _teamviewer(side[0]):
            return Detection("teamviewer")
    return None


TV_UDP_HEAD = 11


def _teamviewer_udp(p: bytes) -> bool:
    """One TeamViewer message after the 11-octet datagram header, filling the datagram."""
    return (len(p) >= TV_UDP_HEAD + 5 and p[TV_UDP_HEAD:TV_UDP_HEAD + 2] == b"\x17\x24"
            and TV_UDP_HEAD + 5 + int.from_bytes(p[14:16], "little") == len(p))


def teamviewer_udp(msgs: Messages) -> Result:
    found = sum(_teamviewer_udp(p) for side in msgs.sides for p in side[:4])
    if found >= 2:
        return Detection("teamviewer", {"teamviewer_transport": "udp"})
    return NEED_MORE if found else None


# --- Radmin -----------------------------------------------------------------------------


def _radmin(d: bytes) -> bool:
    return len(d) >= 10 and d[:4] == b"\x01\0\0\0" and d[4] == len(d) - 9 and d[6] == 0


def radmin_detect(msgs: Messages) -> Result:
    if not (msgs.client and msgs.server and _radmin(msgs.client[0]) and _radmin(msgs.server[0])):
        return None
    reply = msgs.server[0]
    facts: dict[str, Fact] = {}
    if reply[4] == 0x25 and reply[7] in (1, 2) and reply[8] in (0x10, 0x12) and reply[9] == 8:
        facts["radmin_version"] = str(reply[7] + 1)
    return Detection("radmin", facts)


DETECTORS = (
    Detector("socks5", TCP, socks_detect,
             "client: a SOCKS5 greeting and request (RFC 1929 credentials between), or the "
             "greeting answered by one of its methods; server alone: choice and reply; "
             "SOCKS4/4a: a request whose NUL-ended user id (and host) fit; named socks4",
             "RFC 1928 (SOCKS5), RFC 1929, SOCKS4 and SOCKS4a protocol notes (NEC)"),
    Detector("haproxy", TCP, haproxy_detect,
             "client: the PROXY protocol v1 line (`PROXY TCP4 ...\\r\\n`) or the v2 signature "
             "with a valid command, family and length",
             "The PROXY protocol, versions 1 and 2 (HAProxy Technologies)"),
    Detector("telnet", TCP, telnet_detect,
             "either side: two or more IAC option negotiations (WILL/WONT/DO/DONT, SB ... SE) "
             "of known options first", "RFC 854, RFC 855 (Telnet options)"),
    Detector("rsh", TCP, rsh_detect,
             "client: stderr port and local user, remote user and command, each NUL-ended; "
             "the server's answer is 0x00 or 0x01 and a message", "RFC 1282, rcmd(3)"),
    Detector("nomachine", TCP, nomachine_detect,
             "either side: the NX hello line `NXSH-<version>` (client) or `NXD-<version>`",
             "NoMachine NX protocol (no public specification; the hello lines as sent)"),
    Detector("nomachine", UDP, nomachine_udp,
             "either side: three datagrams of type, version 1, their own length, a sequence "
             "number growing by one and a zero word",
             "NoMachine NX UDP transport (no public specification; nDPI's nomachine "
             "dissector records the header)"),
    Detector("teamviewer", UDP, teamviewer_udp,
             "either side: two datagrams each one TeamViewer message (0x17 0x24, command, "
             "length) after an 11-octet header, filling it",
             "TeamViewer framing (no public specification; nDPI's teamviewer dissector "
             "records the 0x17 0x24 at octet 11)"),
    Detector("teamviewer", TCP, teamviewer_detect,
             "either side: a first segment made only of TeamViewer messages (0x1724 or 0x1130 "
             "headers whose lengths fill it)",
             "TeamViewer framing (no public specification; magic values as publicly analysed)"),
    Detector("radmin", TCP, radmin_detect,
             "both sides: a first segment that is one message: 32-bit LE 1, a length byte "
             "for the rest after 9 bytes, a zero at offset 6",
             "Famatech Radmin (no public specification; messages as nmap's Radmin probe and "
             "matches show them)"),
)
