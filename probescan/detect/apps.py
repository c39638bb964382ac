"""Vendor application protocols: Tencent QQ (OICQ), Nest Weave (nDPI: NestLogSink),
Alibaba Cloud's agent channel, Avast's NOSA channel and SecureDNS, Xiaomi push, Ookla
speedtest, Zoom's SFU handshake and media, the ZUG consensus protocol.

OICQ (Wireshark's OICQ dissector documents it): a UDP datagram framed by 0x02 and 0x03,
with a version, a command (1-0xb5 or 0x3f7), a sequence number and the QQ number.

Weave (openweave-core, Weave message layer): over TCP each message has a 2-byte little-
endian length, a 16-bit header (message version, encryption type, flags for the source /
destination node ids), a message id, the node ids and, unencrypted, an exchange header
(version 1, flags, message type, exchange id, 32-bit profile id of Nest or the core).

Alibaba Cloud (nDPI's alicloud dissector): frames of magic 0xbabeface (little-endian) and a
4-byte length. Avast (nDPI's avast dissector): "NOSA" and a 2-byte length of the whole
message. Avast SecureDNS: a DNS message asking for a name under securedns.avast.com.
Xiaomi push (nDPI's xiaomi dissector): frames of magic 0xc2fe, version 5, 4-byte payload
length, payload and a 4-byte trailer.

Ookla (the TCP speedtest protocol, as open-source clients such as taganaka/SpeedTest
implement it): the client says "HI", the server "HELLO <version> <build>"; then PING/PONG,
GETIP, DOWNLOAD, UPLOAD lines.

Zoom (Michel et al., IMC 2022, "Enabling passive measurement of Zoom performance", and its
Wireshark dissector): the client's type-1 and the server's type-2 datagrams share a 2-byte
field and a 16-byte transaction id; media (type 5) carries a 1-byte inner type with RTP /
RTCP at a fixed offset. Peer-to-peer calls (as nDPI's zoom dissector reads them) open with
type-0x1F datagrams: a 24-byte header, the peer's IP address as text and a UUID, each behind
a 4-byte length, and four zero bytes.

ZUG (nDPI's zug dissector): datagrams start `\\x00zUG` and 0x10.

DingTalk (Alibaba's messenger; nDPI's dingtalk dissector records its opening bytes): the
client's first message is 0x10, a one-byte length of the rest, 0x87 0x80, then TLVs (a type
byte, a 16-bit length, the value) that fill it exactly, the second of them type 2 holding
`dk`.
"""

from __future__ import annotations

import ipaddress
import re

from probescan.detect.base import (
    NEED_MORE,
    TCP,
    UDP,
    Detection,
    Detector,
    Messages,
    Result,
)
from probescan.protocols.dns import parse_message

# ---------------------------------------------------------------- OICQ


def _oicq(d: bytes) -> tuple[int, int] | None:
    """(version, QQ number) of an OICQ datagram."""
    if len(d) < 16 or d[0] != 0x02 or d[-1] != 0x03:
        return None
    version = int.from_bytes(d[1:3])
    command = int.from_bytes(d[3:5])
    # QQ's client versions are 0x0500 and up; a BOOTP reply (op 2, Ethernet type 1 and
    # address length 6: "version" 0x0106) has the same first byte and must not pass.
    if not 0x0500 <= version < 0xFFFF or not (1 <= command <= 0xB5 or command == 0x3F7):
        return None
    return version, int.from_bytes(d[7:11])


def oicq(msgs: Messages) -> Result:
    # each side present opens with an OICQ datagram, all of one version
    found: list[tuple[int, int]] = []
    for side in msgs.sides:
        if side:
            f = _oicq(side[0])
            if f is None:
                return None
            found.append(f)
    if not found or len({v for v, _qq in found}) != 1:
        return None
    return Detection("oicq", {"oicq_version": f"{found[0][0]:#06x}", "oicq_qq": found[0][1]},
                     swapped=not msgs.client)


# ---------------------------------------------------------------- Weave (NestLogSink)

_WEAVE_SRC, _WEAVE_DST = 0x0200, 0x0100
_WEAVE_PROFILE_VENDORS = (0x0000, 0x235A)  # the core profiles, Nest Labs


def _weave_frame(msg: bytes) -> dict[str, str | int] | None:
    """Facts of one Weave message (no length prefix), None if it cannot be one."""
    if len(msg) < 6:
        return None
    header = int.from_bytes(msg[:2], "little")
    version, encryption = header >> 12, (header >> 4) & 0xF
    if version not in (1, 2) or encryption > 2:
        return None
    pos = 6 + 8 * bool(header & _WEAVE_SRC) + 8 * bool(header & _WEAVE_DST)
    if encryption:
        return {"weave_encrypted": 1} if len(msg) >= pos + 2 + 4 else None
    if len(msg) < pos + 8:
        return None
    flags = msg[pos]
    if flags >> 4 != 1 or flags & 0x8:
        return None
    profile = int.from_bytes(msg[pos + 4:pos + 8], "little")
    if profile >> 16 not in _WEAVE_PROFILE_VENDORS:
        return None
    if flags & 0x2 and len(msg) < pos + 12:
        return None
    return {"weave_profile": profile, "weave_message_type": msg[pos + 1]}


def _weave_stream(data: bytes) -> Result:
    first: dict[str, str | int] | None = None
    pos = 0
    while pos < len(data):
        if len(data) - pos < 2:
            return None if first is None else Detection("nestlogsink", first)
        size = int.from_bytes(data[pos:pos + 2], "little")
        if size < 6 or size > 16384:
            return None
        msg = data[pos + 2:pos + 2 + size]
        if len(msg) < size:
            if first is not None:
                break
            partial = _weave_frame(msg + bytes(size - len(msg)))
            return NEED_MORE if partial and "weave_profile" in partial else None
        facts = _weave_frame(msg)
        if facts is None or (first is None and "weave_profile" not in facts):
            return None
        first = first or facts
        pos += 2 + size
    return Detection("nestlogsink", first) if first else None


def nest_log_sink(msgs: Messages) -> Result:
    r = _weave_stream(msgs.client_stream) if msgs.client else None
    if isinstance(r, Detection) or (r is None and msgs.client):
        return r
    s = _weave_stream(msgs.server_stream) if msgs.server else None
    return s if isinstance(s, Detection) else (r or s)


# ---------------------------------------------------------------- framed TCP channels

def _frames(data: bytes, magic: bytes, width: int, order: str, whole_len: bool,
            extra: int) -> Result:
    """Frames of `magic`, a `width`-byte length (of the body, or of the whole frame when
    `whole_len`), the body and `extra` trailing bytes, back to back. A Detection (unnamed)
    once one frame is whole and every frame begun fits the layout."""
    pos = whole = 0
    head = len(magic) + width
    while pos < len(data):
        chunk = data[pos:pos + head]
        n = min(len(chunk), len(magic))
        if chunk[:n] != magic[:n]:
            return None
        if len(chunk) < head:
            break
        size = int.from_bytes(chunk[len(magic):], order)  # type: ignore[arg-type]
        if whole_len:
            if size < head + extra:
                return None
            size -= head
        if size > 1 << 20:
            return None
        pos += head + size + extra
        whole += pos <= len(data)
    if whole:
        return Detection("", {})
    return NEED_MORE if data else None


def _channel(msgs: Messages, name: str, magic: bytes, width: int, order: str,
             whole_len: bool, extra: int) -> Result:
    best: Result = None
    for data in (msgs.client_stream, msgs.server_stream):
        r = _frames(data, magic, width, order, whole_len, extra)
        if isinstance(r, Detection):
            return Detection(name, {})
        best = best or r
    return best


def alicloud(msgs: Messages) -> Result:
    return _channel(msgs, "alicloud", b"\xce\xfa\xbe\xba", 4, "little", False, 0)


def xiaomi(msgs: Messages) -> Result:
    return _channel(msgs, "xiaomi", b"\xc2\xfe\x00\x05", 4, "big", False, 4)


def avast(msgs: Messages) -> Result:
    return _channel(msgs, "avast", b"NOSA", 2, "big", True, 0)


def avast_securedns(msgs: Messages) -> Result:
    for side, dgrams in (("client", msgs.client), ("server", msgs.server)):
        if not dgrams or len(dgrams[0]) < 12:
            continue
        try:
            m = parse_message(dgrams[0])
        except Exception:
            continue
        names = [q.name.lower() for q in m.questions]
        if any(n == "securedns.avast.com" or n.endswith(".securedns.avast.com") for n in names):
            return Detection("avastsecuredns", {"dns_question": names[0]},
                             swapped=(side == "client") == m.qr)
    return None


# ---------------------------------------------------------------- Ookla

_OOKLA_HELLO = re.compile(
    rb"HELLO \d+\.\d+(?:\.\d+)? (?:\([\d.]+\) )?\d{4}-\d{2}-\d{2}\.\d+\.[0-9a-f]+\n")
_OOKLA_HI = re.compile(rb"HI(?: [0-9A-Za-z-]{1,64})?\n")
_OOKLA_UUID = re.compile(rb"HI [0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12}\n")  # a client's id
_OOKLA_NEXT = re.compile(
    rb"(?:PING \d+|GETIP|CAPABILITIES|INITPLOSS|DOWNLOAD \d+|UPLOAD \d+ \d+)\n")


def ookla(msgs: Messages) -> Result:
    c, s = msgs.client_stream, msgs.server_stream
    if _OOKLA_HELLO.match(s):
        return Detection("ookla", {"ookla_server": s[6:s.index(b" ", 6)].decode()})
    if _OOKLA_HELLO.match(c):
        return Detection("ookla", {"ookla_server": c[6:c.index(b" ", 6)].decode()}, swapped=True)
    hi = _OOKLA_HI.match(c)
    if hi and (s.startswith(b"HELLO ") or _OOKLA_NEXT.match(c, hi.end()) or _OOKLA_UUID.match(c)):
        return Detection("ookla", {})
    if c and not s and len(c) < 80 and b"HI".startswith(c[:2]) and c[2:3] in (b"", b" ", b"\n"):
        return NEED_MORE
    return None


# ---------------------------------------------------------------- Zoom

_ZOOM_RTP_AT = {0x0F: (19,), 0x10: (20, 24), 0x1E: (20,)}
_ZOOM_RTCP = frozenset({0x21, 0x22, 0x23})


def _zoom_media(d: bytes) -> bytes | None:
    """SSRC of the RTP / RTCP packet inside a Zoom type-5 (media) datagram."""
    if len(d) < 40 or d[0] != 0x05 or d[7] not in (0, 4):
        return None
    inner = d[8:]
    if inner[0] in _ZOOM_RTCP:
        rtcp = inner[16:]
        return rtcp[4:8] if rtcp[0] >> 6 == 2 and 200 <= rtcp[1] <= 204 else None
    for at in _ZOOM_RTP_AT.get(inner[0], ()):
        rtp = inner[at:]
        if len(rtp) >= 12 and rtp[0] >> 6 == 2 and rtp[1] & 0x7F < 128:
            return rtp[8:12]
    return None


_UUID = re.compile(rb"[0-9A-Fa-f]{8}(?:-[0-9A-Fa-f]{4}){3}-[0-9A-Fa-f]{12}")


def _zoom_p2p(d: bytes) -> bool:
    """A peer-to-peer setup datagram: type 0x1F, a 24-byte header, then 4-byte lengths
    before the peer's IP address as text and a UUID, and four zero bytes, filling it."""
    if len(d) < 40 or d[0] != 0x1F or d[-4:] != b"\0\0\0\0":
        return False
    ip_len = int.from_bytes(d[24:28], "big")
    if not 7 <= ip_len <= 45 or 32 + ip_len > len(d):
        return False
    try:
        ipaddress.ip_address(d[28 : 28 + ip_len].decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        return False
    at = 28 + ip_len
    uuid_len = int.from_bytes(d[at : at + 4], "big")
    return (uuid_len == 36 and at + 4 + uuid_len + 4 == len(d)
            and _UUID.fullmatch(d[at + 4 : at + 40]) is not None)


def zoom(msgs: Messages) -> Result:
    c, s = msgs.client, msgs.server
    for dgrams in (c, s):
        if dgrams and _zoom_p2p(dgrams[0]):
            return Detection("zoom", {"zoom_seen": "p2p-setup"})
    if (c and s and len(c[0]) >= 40 and len(s[0]) >= 44 and c[0][1:19] == s[0][1:19]
            and (c[0][0], s[0][0]) in ((1, 2), (2, 1))):
        return Detection("zoom", {"zoom_seen": "sfu-handshake"}, swapped=c[0][0] == 2)
    for dgrams in (c, s):
        ssrcs = [x for x in map(_zoom_media, dgrams[:4]) if x is not None]
        if len(ssrcs) >= 2 and len(set(ssrcs)) == 1 and len(ssrcs) == min(len(dgrams), 4):
            return Detection("zoom", {"zoom_seen": "media"})
    return None


# ---------------------------------------------------------------- DingTalk


def _dingtalk(d: bytes) -> int | None:
    """The number of TLVs of a DingTalk opening message that fill it exactly."""
    if len(d) < 16 or d[0] != 0x10 or d[1] != len(d) - 4 or d[2:4] != b"\x87\x80":
        return None
    pos, types = 4, []
    while pos < len(d):
        if pos + 3 > len(d):
            return None
        types.append(d[pos])
        size = int.from_bytes(d[pos + 1 : pos + 3], "big")
        if types[-1] == 2 and d[pos + 3 : pos + 3 + size] != b"dk":
            return None
        pos += 3 + size
    return len(types) if pos == len(d) and types[:2] == [1, 2] else None


def dingtalk(msgs: Messages) -> Result:
    count = _dingtalk(msgs.client[0]) if msgs.client and msgs.transport == "tcp" else None
    return Detection("dingtalk", {"dingtalk_tlvs": count}) if count else None


# ---------------------------------------------------------------- ZUG

def zug(msgs: Messages) -> Result:
    for side, dgrams in (("client", msgs.client), ("server", msgs.server)):
        if dgrams and dgrams[0][:5] == b"\x00zUG\x10":
            return Detection("zug", {}, swapped=side == "server")
    return None


DETECTORS = (
    Detector("oicq", UDP, oicq,
             "either side: datagram framed 0x02 ... 0x03, command 1-0xb5 / 0x3f7, one version",
             "Wireshark OICQ dissector (QQ protocol header)"),
    Detector("nestlogsink", TCP, nest_log_sink,
             "either side: 2-byte length-prefixed Weave messages back to back, the first "
             "unencrypted with a Nest / core profile id",
             "openweave-core: Weave message layer and exchange header"),
    Detector("alicloud", TCP, alicloud,
             "either side: frames of 0xbabeface (LE) + 4-byte LE length, back to back",
             "nDPI alicloud dissector"),
    Detector("avast", TCP, avast,
             "either side: `NOSA` + 2-byte length of the whole message, back to back",
             "nDPI avast dissector"),
    Detector("avastsecuredns", UDP, avast_securedns,
             "either side: a DNS message asking for a name under securedns.avast.com",
             "RFC 1035 message format; Avast SecureDNS resolver name"),
    Detector("xiaomi", TCP, xiaomi,
             "either side: frames 0xc2fe0005 + 4-byte length + payload + 4-byte trailer",
             "nDPI xiaomi dissector"),
    Detector("ookla", TCP, ookla,
             "server `HELLO <version> <build>`; or client `HI` with the server's HELLO or a "
             "following PING / GETIP / DOWNLOAD / UPLOAD line",
             "Ookla speedtest TCP protocol as taganaka/SpeedTest implements it"),
    Detector("zoom", UDP, zoom,
             "both sides: type-1 / type-2 datagrams sharing bytes 1-18; or several type-5 "
             "media datagrams whose inner RTP/RTCP keeps one SSRC; either side: a P2P "
             "type-0x1F datagram of length-prefixed IP text and UUID filling it",
             "Michel et al., IMC 2022 (Zoom SFU / media encapsulation); nDPI zoom "
             "dissector (P2P setup)"),
    Detector("dingtalk", TCP, dingtalk,
             "client: 0x10, length of the rest, 0x87 0x80, TLVs filling the message (type 1, "
             "then type 2 `dk`)", "nDPI dingtalk dissector (opening bytes)"),
    Detector("zug", UDP, zug,
             "either side, first datagram: `\\x00zUG\\x10`",
             "nDPI zug dissector (ZUG consensus protocol)"),
)
