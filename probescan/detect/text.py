"""Text protocols whose first line is not a banner a fingerprint reads: XMPP streams, and
HTTP and SIP known by their start lines when the rest of the head is damaged.

HTTP/1.x (RFC 9112 §3, §4): a request line (method, target, `HTTP/1.0|1.1`, CRLF) or a
status line (`HTTP/1.x`, three digits, reason). SIP (RFC 3261 §7.1, §7.2): a request line
with a SIP method, a sip:/sips:/tel: URI and `SIP/2.0`, or a status line `SIP/2.0 NNN`.
The parsers of probescan.protocols.http read whole, well-formed heads; these detectors
name a flow whose start line is intact when a later header line is not.

XMPP (RFC 6120 §4): a stream opens with an optional XML declaration and a
`<stream:stream` element in the `jabber:client` / `jabber:server` namespace; a flow seen
mid-stream shows stanzas (`<iq`, `<message`, `<presence`) on both sides, or on one side with
the XMPP namespace or a stream header named. A client stream opened `to` a domain of an
XMPP-based service that nDPI names on its own (Truphone: im.truphone.com) takes that
service's name.

FTPS, explicit (RFC 4217 §4, RFC 2228 §3): on an FTP control connection opened by a 220
greeting (RFC 959 §4.2, one or more reply lines) the client asks `AUTH TLS` (or `AUTH
SSL`, `TLS-C`, `TLS-P`) among its first commands, the server accepts with a 234 reply and
the TLS handshake starts on the same connection. Claimed on the command and the 234
answer after the greeting, or on the command followed by a TLS record; the server alone
when its 234 after the greeting is followed by a TLS record.
"""

from __future__ import annotations

import re

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

_DECL = re.compile(rb"<\?xml[ \t\r\n][^>]{0,200}\?>\s*")
_STREAM = re.compile(rb"<stream:stream[ \t\r\n>]")
_NS = re.compile(rb"""xmlns(?::stream)?=['"](?:jabber:(?:client|server)|http://etherx\.jabber\.org/streams)['"]""")
_STANZA = re.compile(rb"<(?:iq|message|presence)[ \t\r\n/>]")
_WINDOW = 1024


def _start(data: bytes) -> bytes:
    m = _DECL.match(data)
    return data[m.end():] if m else data


def _side(data: bytes) -> str | None:
    """"stream" (a stream header proven), "stanza" (a stanza starts the side), or None."""
    head = _start(data[:_WINDOW].lstrip())
    if _STREAM.match(head) and _NS.search(head):
        return "stream"
    if _STANZA.match(head):
        return "stream" if _NS.search(head) else "stanza"
    return None


_TO = re.compile(rb"""\bto=['"]([A-Za-z0-9.-]{1,253})['"]""")


def _to_domain(msgs: Messages) -> str | None:
    """The domain a client's stream header is opened `to`."""
    head = _start(msgs.client_stream[:_WINDOW].lstrip())
    if not (_STREAM.match(head) and _NS.search(head)):
        return None
    m = _TO.search(head[: head.find(b">") + 1 or _WINDOW])
    return m[1].lower().decode() if m else None


def truphone(msgs: Messages) -> Result:
    """XMPP opened to Truphone's server (nDPI names it on its own)."""
    domain = _to_domain(msgs) if msgs.client_stream[:1] == b"<" else None
    if domain and (domain == "truphone.com" or domain.endswith(".truphone.com")):
        return Detection("truphone", {"xmpp_seen": "stream", "xmpp_to": domain})
    return None


def xmpp(msgs: Messages) -> Result:
    c, s = msgs.client_stream, msgs.server_stream
    sides = [_side(c) if c else None, _side(s) if s else None]
    if "stream" in sides:
        facts: dict[str, Fact] = {"xmpp_seen": "stream"}
        domain = _to_domain(msgs) if sides[0] == "stream" else None
        if domain:
            facts["xmpp_to"] = domain
        return Detection("xmpp", facts)
    if sides == ["stanza", "stanza"]:
        return Detection("xmpp", {"xmpp_seen": "stanzas"})
    if "stanza" in sides and not (c and s):
        return NEED_MORE  # one side's stanza: the other side decides
    first = (c or s)[:16].lstrip()
    if first and (b"<stream:stream".startswith(first) or b"<?xml ".startswith(first)):
        return NEED_MORE
    return None


_HTTP_REQUEST = re.compile(
    rb"(?:GET|POST|HEAD|PUT|DELETE|OPTIONS|PATCH|CONNECT|TRACE) [!-~]{1,2048} HTTP/1\.[01]\r?\n")
_HTTP_STATUS = re.compile(rb"HTTP/1\.[01] [1-5][0-9][0-9](?: [^\r\n]{0,256})?\r?\n")
_SIP_REQUEST = re.compile(
    rb"(?:INVITE|REGISTER|ACK|BYE|CANCEL|OPTIONS|SUBSCRIBE|NOTIFY|MESSAGE|INFO|PRACK|UPDATE|"
    rb"REFER|PUBLISH) (?:sips?|tel):[!-~]{1,1024} SIP/2\.0\r?\n")
_SIP_STATUS = re.compile(rb"SIP/2\.0 [1-6][0-9][0-9](?: [^\r\n]{0,256})?\r?\n")


def _start_line(msgs: Messages, request: re.Pattern[bytes], status: re.Pattern[bytes],
                name: str) -> Result:
    """A side whose first message starts with a request or status line of the protocol."""
    for i, side in enumerate(msgs.sides):
        first = side[0] if side else b""
        if request.match(first):
            return Detection(name, {f"{name}_start": "request"}, swapped=i == 1)
        if status.match(first):
            return Detection(name, {f"{name}_start": "status"}, swapped=i == 0)
    return None


def http_start(msgs: Messages) -> Result:
    return _start_line(msgs, _HTTP_REQUEST, _HTTP_STATUS, "http")


def sip_start(msgs: Messages) -> Result:
    return _start_line(msgs, _SIP_REQUEST, _SIP_STATUS, "sip")


_REPLY_LINE = re.compile(rb"([1-5][0-9][0-9])([ -])[^\r\n]{0,512}\r?\n")
_TEXT_LINE = re.compile(rb"[^\r\n\x00-\x08\x0e-\x1f]{0,512}\r?\n")
_COMMAND = re.compile(rb"([A-Za-z]{3,4})(?: ([!-~][ -~]{0,255}))?\r?\n")
_AUTH_TLS = frozenset((b"TLS", b"SSL", b"TLS-C", b"TLS-P"))
_TLS_RECORD = re.compile(rb"\x16\x03[\x00-\x04]")
_FTP_COMMANDS_BEFORE_AUTH = 4


def _ftp_replies(data: bytes) -> tuple[list[bytes], int]:
    """The codes of the complete replies at the start of `data` (a multi-line reply counts
    once, RFC 959 §4.2) and where they end."""
    codes: list[bytes] = []
    pos, open_code = 0, None
    while pos < len(data):
        if open_code is None:
            m = _REPLY_LINE.match(data, pos)
            if m is None:
                break
            if m[2] == b"-":
                open_code = m[1]
            else:
                codes.append(m[1])
        else:
            m = _TEXT_LINE.match(data, pos)
            if m is None:
                break
            if m[0].startswith(open_code + b" "):
                codes.append(open_code)
                open_code = None
        pos = m.end()
    return codes, pos if open_code is None else 0


def _auth_tls(data: bytes) -> tuple[bytes, int] | None:
    """(mechanism, end of its line) of an AUTH TLS/SSL command among the client's first
    commands."""
    pos = 0
    for _ in range(_FTP_COMMANDS_BEFORE_AUTH):
        m = _COMMAND.match(data, pos)
        if m is None:
            return None
        if m[1].upper() == b"AUTH" and m[2] and m[2].upper() in _AUTH_TLS:
            return m[2].upper(), m.end()
        pos = m.end()
    return None


def _ftps(client: bytes, server: bytes) -> Result:
    codes, end = _ftp_replies(server)
    greeted = codes[:1] == [b"220"]
    accepted = greeted and b"234" in codes[1:]
    auth = _auth_tls(client)
    if auth is not None:
        if accepted or (_TLS_RECORD.match(client, auth[1]) and (greeted or not server)):
            return Detection("ftps", {"ftps_auth": auth[0].decode()})
        return NEED_MORE if greeted or not server else None
    if accepted and not client and _TLS_RECORD.match(server, end):
        return Detection("ftps", {"ftps_auth": "accepted"})
    return None


def ftps(msgs: Messages) -> Result:
    c, s = msgs.client_stream, msgs.server_stream
    if c[:1].isalpha() or s[:3] == b"220":
        r = _ftps(c, s)
        if r is not None:
            return r
    if s[:1].isalpha() or c[:3] == b"220":
        r = _ftps(s, c)
        if isinstance(r, Detection):
            return Detection(r.service, r.facts, swapped=True)
    return None


DETECTORS = (
    Detector("ftps", TCP, ftps,
             "both sides: the 220 greeting, the client's `AUTH TLS` (or SSL) among its first "
             "commands and the 234 answer or a TLS record after it",
             "RFC 4217 §4 (FTP over TLS), RFC 2228 §3 (AUTH), RFC 959 §4.2 (replies)"),
    Detector("truphone", TCP, truphone,
             "client: an XMPP stream header opened `to` im.truphone.com (or another "
             "truphone.com name)",
             "RFC 6120 §4.7.2 (the `to` attribute); Truphone's XMPP service name"),
    Detector("xmpp", TCP, xmpp,
             "either side: `<stream:stream` in XMPP's namespace (after an XML declaration), "
             "or stanzas (`<iq`, `<message`, `<presence`) on both sides",
             "RFC 6120 §4 (XML streams), §8 (stanzas)"),
    Detector("http", TCP, http_start,
             "either side: an HTTP/1.x request line (method, target, version) or status line "
             "at the start of the first message", "RFC 9112 §3, §4"),
    Detector("sip", BOTH, sip_start,
             "either side: a SIP request line (method, sip:/sips:/tel: URI, SIP/2.0) or "
             "status line at the start of the first message", "RFC 3261 §7.1, §7.2"),
)
