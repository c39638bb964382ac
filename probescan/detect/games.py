"""Game networking with published framing: RakNet, Valve's server queries and Steam's
LAN discovery, Exit Games' Photon, World of Warcraft.

RakNet (RakNet's MessageIdentifiers.h and the open protocol documentation, e.g.
wiki.vg "Raknet Protocol"): offline messages carry the 16-byte magic
`00ffff00fefefefefdfdfdfd12345678` at a place fixed by the message id (1 for the open
connection requests / replies, 2 for "incompatible protocol", 9 for unconnected pings, 17
for unconnected pongs); games that renumber the ids keep the magic. Connected datagrams
(flags 0x80-0x8f, 3-byte sequence number) hold frames whose bit lengths and optional
index fields fill the datagram exactly; several such datagrams are required.

Valve (developer.valvesoftware.com "Server queries"): A2S requests and replies begin with
0xffffffff and a type byte; the A2S_INFO request carries "Source Engine Query"; the
reply's strings, server type and environment letters are checked. Steam's LAN discovery
(Valve's steammessages_remoteclient_discovery.proto): 0xffffffff, magic 0xa05f4c21, a
length-prefixed protobuf header, a length-prefixed body that ends the datagram. Steam's
client connection over TCP (SteamKit2's TcpConnection): frames of a 4-byte length and
"VT01". (Its UDP datagrams, "VS01", are left alone: nDPI names them CS:GO.)

Photon (Exit Games; ENet-derived, as documented by open-source packet parsers): a 12-byte
header (peer id, CRC flag, command count, time, challenge) and `count` commands whose
4-byte lengths sum to the datagram; one challenge per connection. nDPI calls the Photon
traffic it sees TocaBoca (the game), whose name is kept for agreement.

World of Warcraft: the world connection opens with a length-prefixed line "WORLD OF
WARCRAFT CONNECTION - CLIENT TO SERVER" (or SERVER TO CLIENT); the logon server's
AUTH_LOGON_CHALLENGE (opcode 0, size, game name "WoW\\0"), as wowdev.wiki describes.
"""

from __future__ import annotations

from probescan.detect.base import (
    NEED_MORE,
    TCP,
    UDP,
    Detection,
    Detector,
    Messages,
    Result,
)

# ---------------------------------------------------------------- RakNet

RAKNET_MAGIC = bytes.fromhex("00ffff00fefefefefdfdfdfd12345678")
_RAK_OFFLINE = {  # id -> (offset of the magic, name, sent by the server)
    0x01: (9, "unconnected-ping", False), 0x02: (9, "unconnected-ping-open", False),
    0x1C: (17, "unconnected-pong", True),
    0x05: (1, "open-connection-request-1", False), 0x06: (1, "open-connection-reply-1", True),
    0x07: (1, "open-connection-request-2", False), 0x08: (1, "open-connection-reply-2", True),
    0x11: (1, "no-free-incoming-connections", True), 0x12: (1, "connection-banned", True),
    0x14: (1, "ip-recently-connected", True), 0x19: (2, "incompatible-protocol-version", True),
}
_RAK_RELIABLE = frozenset({2, 3, 4, 6, 7})
_RAK_SEQUENCED = frozenset({1, 4})
_RAK_ORDERED = frozenset({1, 3, 4, 7})


def _rak_offline(d: bytes) -> tuple[str, bool] | None:
    """(message, sent by the server) of an offline message; the magic elsewhere names a
    variant with renumbered ids."""
    where = d.find(RAKNET_MAGIC, 0, 64)
    if where < 0:
        return None
    known = _RAK_OFFLINE.get(d[0])
    if known is not None and known[0] == where:
        return known[1], known[2]
    return "offline-variant", False


_RAK_INTERNAL = {(0x00, 9): "connected-ping", (0x03, 17): "connected-pong",
                 (0x09, 18): "connection-request"}  # (id, size) of fixed-size messages


def _rak_frames(d: bytes) -> tuple[str, ...] | None:
    """The fixed-size internal messages in a connected datagram (frame set) whose frames
    fill it exactly, or None when it is not one."""
    if len(d) < 8 or d[0] & 0xF0 != 0x80:
        return None
    i = 4
    named: list[str] = []
    while i < len(d):
        if len(d) - i < 4:
            return None
        flags = d[i]
        if flags & 0x0F:
            return None
        rel = flags >> 5
        bits = int.from_bytes(d[i + 1:i + 3])
        if bits == 0:
            return None
        i += 3 + 3 * (rel in _RAK_RELIABLE) + 3 * (rel in _RAK_SEQUENCED)
        i += 4 * (rel in _RAK_ORDERED)
        if flags & 0x10:
            if i + 10 > len(d):
                return None
            count = int.from_bytes(d[i:i + 4])
            index = int.from_bytes(d[i + 6:i + 10])
            if not 0 < count <= 4096 or index >= count:
                return None
            i += 10
        size = (bits + 7) // 8
        if i < len(d) and not flags & 0x10 and (d[i], size) in _RAK_INTERNAL:
            named.append(_RAK_INTERNAL[d[i], size])
        i += size
    return tuple(named) if i == len(d) else None


def _rak_ack(d: bytes) -> int:
    """Records of an ACK (0xc0) or NAK (0xa0) that fill the datagram exactly, else 0."""
    if len(d) < 7 or d[0] not in (0xC0, 0xA0):
        return 0
    count = int.from_bytes(d[1:3])
    i = 3
    for _ in range(count):
        if i >= len(d) or d[i] > 1:
            return 0
        i += 4 if d[i] else 7
    return count if i == len(d) else 0


def raknet(msgs: Messages) -> Result:
    seen: set[str] = set()
    by_server: dict[str, set[bool]] = {"client": set(), "server": set()}
    for side, dgrams in (("client", msgs.client), ("server", msgs.server)):
        for d in dgrams:
            found = _rak_offline(d)
            if found is not None:
                seen.add(found[0])
                by_server[side].add(found[1])
    if seen:
        # only replies on the client's side, or only requests on the server's: reversed
        swapped = by_server["client"] == {True} or (
            not by_server["client"] and by_server["server"] == {False})
        return Detection("raknet", {"raknet_messages": tuple(sorted(seen))}, swapped=swapped)
    everything = set(msgs.client + msgs.server)  # a retransmission proves nothing more
    parsed = [f for f in map(_rak_frames, everything) if f is not None]
    frames = len(parsed)
    internal = {name for f in parsed for name in f}
    records = [_rak_ack(d) for d in everything]
    acks = sum(1 for n in records if n)
    if not everything or frames + acks != len(everything):
        return None
    if frames >= 2 or (frames and acks) or internal:
        return Detection("raknet", {"raknet_messages": tuple(sorted(internal)) or ("connected",)})
    if acks >= 2 or max(records) >= 3:
        return Detection("raknet", {"raknet_messages": ("acknowledgements",)})
    return NEED_MORE


# ---------------------------------------------------------------- Valve

_A2S = b"\xff\xff\xff\xff"
_A2S_INFO = _A2S + b"TSource Engine Query\x00"
_A2S_CHALLENGED = {0x55: "player", 0x56: "rules"}
_SERVER_TYPES = b"dlpDLP"
_ENVIRONMENTS = b"lwmoLWMO"


def _cstrings(d: bytes, pos: int, n: int) -> int | None:
    """Position after `n` NUL-terminated printable UTF-8 strings, or None."""
    for _ in range(n):
        end = d.find(b"\x00", pos)
        if end < 0:
            return None
        try:
            text = d[pos:end].decode()
        except UnicodeDecodeError:
            return None
        if not text.isprintable():
            return None
        pos = end + 1
    return pos


def _a2s_info_reply(d: bytes) -> bool:
    if d[:5] == _A2S + b"I":  # Source: protocol, name, map, folder, game, app id ...
        pos = _cstrings(d, 6, 4)
        return (pos is not None and len(d) >= pos + 9
                and d[pos + 5] in _SERVER_TYPES and d[pos + 6] in _ENVIRONMENTS
                and d[pos + 7] <= 1 and d[pos + 8] <= 1 and d[pos + 2] <= d[pos + 3])
    if d[:5] == _A2S + b"m":  # GoldSource: address, name, map, folder, game, players ...
        pos = _cstrings(d, 5, 5)
        return (pos is not None and len(d) >= pos + 7 and b":" in d[5:pos]
                and d[pos + 3] in _SERVER_TYPES and d[pos + 4] in _ENVIRONMENTS
                and d[pos + 5] <= 1)
    return False


def _a2s_request(d: bytes) -> str | None:
    if d in (_A2S_INFO,) or (len(d) == len(_A2S_INFO) + 4 and d.startswith(_A2S_INFO)):
        return "info"
    if len(d) == 9 and d[:4] == _A2S and d[4] in _A2S_CHALLENGED:
        return _A2S_CHALLENGED[d[4]]
    return None


def _a2s_reply(d: bytes) -> str | None:
    if _a2s_info_reply(d):
        return "info"
    if len(d) == 9 and d[:5] == _A2S + b"A":
        return "challenge"
    if len(d) >= 6 and d[:5] in (_A2S + b"D", _A2S + b"E"):
        return "player" if d[4] == 0x44 else "rules"
    return None


def _a2s_pair(asking: tuple[bytes, ...], answering: tuple[bytes, ...]) -> str | None:
    request = next((r for r in map(_a2s_request, asking) if r), None)
    reply = next((r for r in map(_a2s_reply, answering) if r), None)
    if request == "info" or reply == "info" or (request and reply):
        return request or reply
    return None


def source_engine(msgs: Messages) -> Result:
    query = _a2s_pair(msgs.client, msgs.server)
    if query is not None:
        return Detection("source-engine", {"a2s_query": query})
    query = _a2s_pair(msgs.server, msgs.client)  # the reply recorded as the client's
    if query is not None:
        return Detection("source-engine", {"a2s_query": query}, swapped=True)
    return None


_STEAM_DISCOVERY = b"\xff\xff\xff\xff\x21\x4c\x5f\xa0"


def _steam_discovery(d: bytes) -> bool:
    if d[:8] != _STEAM_DISCOVERY or len(d) < 16:
        return False
    head = int.from_bytes(d[8:12], "little")
    body_at = 12 + head
    if head < 2 or body_at + 4 > len(d) or d[12] != 0x08:  # header: field 1, varint
        return False
    return body_at + 4 + int.from_bytes(d[body_at:body_at + 4], "little") == len(d)


def steam_udp(msgs: Messages) -> Result:
    for d in msgs.client[:4] + msgs.server[:4]:
        if _steam_discovery(d):
            return Detection("steam", {"steam_discovery": True})
    return None


def _vt01(data: bytes) -> Result:
    """SteamKit2 TcpConnection: frames of a 4-byte LE length and "VT01", back to back."""
    if len(data) < 8:
        return None  # four bytes of length alone prove nothing
    pos = whole = 0
    while pos < len(data):
        head = data[pos:pos + 8]
        if len(head) < 8:
            break
        if head[4:8] != b"VT01":
            return None
        size = int.from_bytes(head[:4], "little")
        if not 0 < size <= 1 << 20:
            return None
        pos += 8 + size
        whole += pos <= len(data)
    if whole:
        return Detection("steam", {"steam_transport": "tcp"})
    return NEED_MORE if data else None


def steam_tcp(msgs: Messages) -> Result:
    r = _vt01(msgs.client_stream)
    if isinstance(r, Detection):
        return r
    s = _vt01(msgs.server_stream)
    return s if isinstance(s, Detection) else (r or s)


# ---------------------------------------------------------------- Photon

_PHOTON_MAX_COMMANDS = 64


def _photon(d: bytes) -> tuple[bytes, int] | None:
    """(challenge, first command type) of a Photon datagram whose commands fill it."""
    if len(d) < 24 or d[2] > 1:
        return None
    count = d[3]
    if not 0 < count <= _PHOTON_MAX_COMMANDS:
        return None
    i = 12
    for _ in range(count):
        if len(d) - i < 12 or not 1 <= d[i] <= 15:
            return None
        length = int.from_bytes(d[i + 4:i + 8])
        if length < 12:
            return None
        i += length
    if i != len(d):
        return None
    return d[8:12], d[12]


def tocaboca(msgs: Messages) -> Result:
    challenges: set[bytes] = set()
    kinds: set[int] = set()
    for dgrams in msgs.sides:
        for d in dgrams[:4]:
            found = _photon(d)
            if found is None:
                return None
            challenges.add(found[0])
            kinds.add(found[1])
    if len(challenges) != 1:
        return None
    return Detection("tocaboca", {"photon_commands": tuple(str(k) for k in sorted(kinds))})


# ---------------------------------------------------------------- World of Warcraft

_WOW_HELLO = b"WORLD OF WARCRAFT CONNECTION - "
_WOW_WAYS = (b"CLIENT TO SERVER", b"SERVER TO CLIENT")


def _wow(data: bytes) -> Result:
    """A world hello (swapped when it is the server's) or a logon challenge, or None."""
    if len(data) >= 34 and data[0] == 0 and data[4:8] == b"WoW\x00" \
            and int.from_bytes(data[2:4], "little") == len(data) - 4:
        return Detection("worldofwarcraft", {"wow_connection": "logon"})
    size = int.from_bytes(data[:2], "little")
    text = data[2:2 + len(_WOW_HELLO) + 16]
    if len(text) < len(_WOW_HELLO) + 16:
        return NEED_MORE if len(data) > 2 and _WOW_HELLO.startswith(text[:31]) \
            and size < 256 else None
    if text.startswith(_WOW_HELLO) and text[31:] in _WOW_WAYS and size >= len(text):
        return Detection("worldofwarcraft", {"wow_connection": "world"},
                         swapped=text[31:] == _WOW_WAYS[1])
    return None


def world_of_warcraft(msgs: Messages) -> Result:
    r = _wow(msgs.client_stream) if msgs.client else None
    if isinstance(r, Detection):
        return r
    s = _wow(msgs.server_stream) if msgs.server else None
    if isinstance(s, Detection):  # the server's own hello says SERVER TO CLIENT
        return Detection(s.service, s.facts, swapped=not s.swapped)
    return r or s


DETECTORS = (
    Detector("raknet", UDP, raknet,
             "either side: the 16-byte offline-message magic (at the offset its id fixes), "
             "or several connected datagrams whose frames and ACK records fill them exactly",
             "RakNet MessageIdentifiers.h / ReliabilityLayer; wiki.vg Raknet Protocol"),
    Detector("source-engine", UDP, source_engine,
             "either side: A2S_INFO request (`\\xff\\xff\\xff\\xffTSource Engine Query`) or "
             "reply (strings, server type, environment); player/rules with a challenge",
             "Valve Developer Community: Server queries"),
    Detector("steam", UDP, steam_udp,
             "either side: LAN discovery 0xffffffff + 0xa05f4c21 with header and body lengths "
             "that end the datagram",
             "Valve steammessages_remoteclient_discovery.proto (in-home streaming discovery)"),
    Detector("steam", TCP, steam_tcp,
             "either side: frames of a 4-byte LE length and `VT01`, back to back",
             "SteamKit2 TcpConnection framing"),
    Detector("tocaboca", UDP, tocaboca,
             "both sides, first datagrams: Photon header and commands whose lengths fill "
             "each datagram, one challenge for the flow",
             "Exit Games Photon (ENet-derived) UDP framing, per open-source packet parsers"),
    Detector("worldofwarcraft", TCP, world_of_warcraft,
             "either side: length-prefixed `WORLD OF WARCRAFT CONNECTION - ...`, or the "
             "logon challenge (opcode 0, size, `WoW\\0`)",
             "wowdev.wiki: Login packets, World socket"),
)
