"""Game and game-platform datagrams with a documented or recorded framing: the Source
engine's connect handshake (HalfLife2), Blizzard's game transport (Heroes of the Storm),
NetEase's game transports, Call of Duty: Mobile, Riot's game connect, TeamSpeak 3's server
list announcements.

* Source engine connectionless handshake (Valve's Source SDK 2013, engine/baseclientstate.cpp
  and baseserver.cpp): every packet opens with the connectionless header 0xffffffff and a
  type letter. A2S_GETCHALLENGE 'q' carries the client's 4-byte challenge (little-endian,
  below 0x10000000) and the padding string "0000000000"; the server's S2C_CHALLENGE 'A'
  carries the magic version "3IOZ" (0x5a4f4933), its challenge, the client's challenge
  echoed, the authentication protocol (1-3), the Steam fields when it is 3, and the padding
  "000000"; S2C_CONNECTION 'B' the client challenge and "0000000000". nDPI's halflife2
  dissector names any exchange whose datagrams on both sides carry the header and end in
  that ASCII-zero padding and its NUL.
* Blizzard's game transport (Heroes of the Storm, as nDPI's hots dissector records it): a
  16-byte header whose bytes 14-15 are 0x4000 (0x4010 on a resent datagram), bytes 0-13 all
  zero from the server or bytes 2-3 0x0300 / 0x3400 from the client, then two 16-bit
  counters. Several datagrams of one side are required: the first four bytes constant, the
  first counter advancing, never going back and stepping by less than 0x400.
* NetEase Games (nDPI's netease_games dissector records the openings): a 12-byte request
  0x01, a byte, 0x01d0 (little-endian), a 4-byte connection id and 0x01010100 (little-
  endian), answered by 0x01 ... with the same connection id; Lost Light's 0xb3af8de8
  datagrams (both sides); Naraka: Bladepoint's 0x0708080c datagrams, whose sender and peer
  ids (bytes 8-11, 12-15) swap between the client's and the server's datagrams.
* Call of Duty: Mobile (nDPI's cod_mobile dissector): a 12-byte "....ping" datagram echoed
  unchanged by the server; or a datagram of more than 350 bytes opening 0xce that carries
  the loadout string "LOC_PREFAB_LOADOUTNAME_".
* Riot Games' game connect (nDPI's riotgames dissector): the client's 53-byte connect
  datagram ends 0x3cb11f2d 0xea23460c; the server's replies open with the client's bytes
  4-7 (its peer token).
* TeamSpeak 3 server list (weblist.teamspeak.com; the TS3 ServerList Emulator documents the
  exchange): a 4-byte header 0x01, a 16-bit sequence number, a payload type (1 key request,
  2 data upload); the key request is answered by its own header and a 4-byte key, which the
  data upload that follows carries after its header; an upload is answered by its header
  and a status byte (0 ok, 1 bad data, 5 busy, 7 error).
"""

from __future__ import annotations

import itertools

from probescan.detect.base import NEED_MORE, UDP, Detection, Detector, Messages, Result

_LOOK = 8

# ---------------------------------------------------------------- Source engine handshake

_CONNECTIONLESS = b"\xff\xff\xff\xff"
_PAD10 = b"0000000000\x00"
_PAD6 = b"000000\x00"
_MAGIC_VERSION = b"3IOZ"  # S2C_MAGICVERSION 0x5a4f4933, little-endian


def _source_message(d: bytes) -> tuple[str, bytes] | None:
    """(message, client challenge) of a connectionless handshake packet, or None."""
    if d[:4] != _CONNECTIONLESS or len(d) < 20:
        return None
    kind = d[4]
    if kind == 0x71 and len(d) == 20 and d[9:] == _PAD10 and d[8] < 0x10:
        return "getchallenge", d[5:9]
    if kind == 0x42 and len(d) == 20 and d[9:] == _PAD10:
        return "connection", d[5:9]
    if kind == 0x41 and d[5:9] == _MAGIC_VERSION and len(d) >= 28 and d.endswith(_PAD6):
        auth = int.from_bytes(d[17:21], "little")
        body = len(d) - 21 - len(_PAD6)
        if (auth in (1, 2) and body in (0, 12)) or (auth == 3 and body in (11, 12)):
            return "challenge", d[13:17]
    return None


def _padded(d: bytes) -> bool:
    return len(d) >= 20 and d[:4] == _CONNECTIONLESS and d.endswith(b"000\x00")


def halflife2(msgs: Messages) -> Result:
    found: dict[bool, tuple[str, bytes]] = {}
    for is_client, dgrams in ((True, msgs.client), (False, msgs.server)):
        for d in dgrams[:_LOOK]:
            m = _source_message(d)
            if m is not None:
                found.setdefault(is_client, m)
    if found:
        mine, other = found.get(True), found.get(False)
        if mine and other and mine[1] != other[1]:
            return None  # the reply must echo the client's challenge
        kind, _challenge = mine or other or ("", b"")
        swapped = (mine is not None and mine[0] != "getchallenge") or (
            mine is None and kind == "getchallenge")
        return Detection("halflife2", {"source_message": kind}, swapped=swapped)
    c, s = msgs.client[:1], msgs.server[:1]
    if c and s and _padded(c[0]) and _padded(s[0]):
        return Detection("halflife2", {"source_message": "padded"})
    return None


# ---------------------------------------------------------------- Blizzard (Heroes of the Storm)

_HOTS_FLAGS = (b"\x40\x00", b"\x40\x10")
_HOTS_CLIENT_TAGS = (b"\x03\x00", b"\x34\x00")


def _hots_header(d: bytes) -> bool:
    if len(d) < 20 or d[14:16] not in _HOTS_FLAGS:
        return False
    return d[2:4] in _HOTS_CLIENT_TAGS or not any(d[:14])


def _hots_side(dgrams: tuple[bytes, ...], is_client: bool) -> Result:
    run = dgrams[:_LOOK]
    if not run or not all(map(_hots_header, run)):
        return None
    if len({d[:4] for d in run}) != 1:
        return None
    counters = [int.from_bytes(d[16:18]) for d in run]
    for a, b in itertools.pairwise(counters):
        if (b - a) % 65536 >= 0x400:
            return None
    if len(run) < 3:
        return NEED_MORE
    if len(set(counters)) < 2:
        return None  # the same datagram over and over proves no progress
    from_server = not any(run[0][:14])  # the server's header is zero up to the flags
    return Detection("heroes-of-the-storm", {"hots_datagrams": len(run)},
                     swapped=is_client == from_server)


def heroes_of_the_storm(msgs: Messages) -> Result:
    best: Result = None
    for dgrams, is_client in ((msgs.client, True), (msgs.server, False)):
        r = _hots_side(dgrams, is_client)
        if isinstance(r, Detection):
            return r
        best = best or r
    return best


# ---------------------------------------------------------------- NetEase Games

_NETEASE_NARAKA = b"\x07\x08\x08\x0c"
_NETEASE_LOST_LIGHT = b"\xb3\xaf\x8d\xe8"


def _netease_request(d: bytes) -> bool:
    return len(d) == 12 and d[0] == 1 and d[2:4] == b"\xd0\x01" and d[8:12] == b"\x00\x01\x01\x01"


def _naraka(d: bytes) -> bool:
    return len(d) > 30 and d[:4] == _NETEASE_NARAKA


def netease_games(msgs: Messages) -> Result:
    c, s = msgs.client[:_LOOK], msgs.server[:_LOOK]
    if c and _netease_request(c[0]):
        if not s:
            return Detection("neteasegames", {"netease_transport": "connect"})
        if len(s[0]) == 12 and s[0][0] == 1 and s[0][4:8] == c[0][4:8]:
            return Detection("neteasegames", {"netease_transport": "connect"})
        return None
    if s and _netease_request(s[0]) and not c:
        return Detection("neteasegames", {"netease_transport": "connect"}, swapped=True)
    lost = [d for d in c[:1] + s[:1] if len(d) >= 30 and d[:4] == _NETEASE_LOST_LIGHT]
    if lost and len(lost) == len(c[:1] + s[:1]):
        return Detection("neteasegames", {"netease_transport": "lost-light"})
    return _naraka_flow(c, s)


def _naraka_flow(c: tuple[bytes, ...], s: tuple[bytes, ...]) -> Result:
    if c and s and _naraka(c[0]) and _naraka(s[0]):
        if s[0][8:12] == c[0][12:16] and (len(c) < 2 or not _naraka(c[1])
                                         or c[1][8:12] == s[0][12:16]):
            return Detection("neteasegames", {"netease_transport": "naraka"})
        return None
    for side in (c, s):  # one side alone: its own id constant over several datagrams
        run = [d for d in side if _naraka(d)]
        if len(run) >= 3 and len(run) == len(side) and len({d[12:16] for d in run}) == 1:
            return Detection("neteasegames", {"netease_transport": "naraka"})
    return None


# ---------------------------------------------------------------- Call of Duty: Mobile

_COD_LOADOUT = b"LOC_PREFAB_LOADOUTNAME_"


def cod_mobile(msgs: Messages) -> Result:
    c, s = msgs.client[:_LOOK], msgs.server[:_LOOK]
    if c and s and len(c[0]) == 12 and c[0][8:] == b"ping" and c[0] in s:
        return Detection("cod-mobile", {"codm_message": "ping"})
    for dgrams in (c, s):
        for d in dgrams:
            if len(d) > 350 and d[0] == 0xCE and _COD_LOADOUT in d:
                return Detection("cod-mobile", {"codm_message": "loadout"})
    return None


# ---------------------------------------------------------------- Riot Games: game connect

_RIOT_CONNECT_TAIL = b"\x3c\xb1\x1f\x2d\xea\x23\x46\x0c"


def riot_connect(msgs: Messages) -> Result:
    for mine, other, swapped in ((msgs.client, msgs.server, False),
                                 (msgs.server, msgs.client, True)):
        hello = next((d for d in mine[:_LOOK] if len(d) == 53
                      and d.endswith(_RIOT_CONNECT_TAIL)), None)
        if hello is None:
            continue
        if other and not any(d[:4] == hello[4:8] for d in other[:_LOOK]):
            return None
        return Detection("riotgames", {"riot_message": "connect"}, swapped=swapped)
    return None


# ---------------------------------------------------------------- TeamSpeak 3 server list

_WEBLIST_STATUS = frozenset({0, 1, 5, 7})


def teamspeak_weblist(msgs: Messages) -> Result:
    c, s = msgs.client[:_LOOK], msgs.server[:_LOOK]
    for i, request in enumerate(c):
        if len(request) != 4 or request[0] != 1 or request[3] != 1:
            continue
        key = next((r[4:] for r in s if len(r) == 8 and r[:4] == request), None)
        if key is None:
            continue
        upload = next((d for d in c[i + 1:] if len(d) > 8 and d[0] == 1 and d[3] == 2), None)
        if upload is not None and upload[4:8] != key:
            return None
        acked = any(len(r) == 5 and upload is not None and r[:4] == upload[:4]
                    and r[4] in _WEBLIST_STATUS for r in s)
        facts = {"teamspeak_weblist": "upload" if acked else "key"}
        return Detection("teamspeak", facts)
    return None


DETECTORS = (
    Detector("halflife2", UDP, halflife2,
             "either side: Source connectionless handshake: A2S_GETCHALLENGE `q` with its "
             "`0000000000` padding, S2C_CHALLENGE `A` with magic `3IOZ` echoing the client "
             "challenge, S2C_CONNECTION `B`; or both sides 0xffffffff datagrams padded with "
             "ASCII zeros and a NUL",
             "Valve Source SDK 2013 (baseclientstate.cpp, baseserver.cpp); nDPI halflife2"),
    Detector("heroes-of-the-storm", UDP, heroes_of_the_storm,
             "one side, three or more datagrams: 16-byte header with 0x4000 at bytes 14-15, "
             "bytes 0-13 zero or 0x0300 / 0x3400 at bytes 2-3, first 4 bytes constant, "
             "a counter that never steps back",
             "nDPI hots dissector (Blizzard game transport header)"),
    Detector("neteasegames", UDP, netease_games,
             "client: 12-byte 0x01 .. 0x01d0 .. 0x01010100 request (the reply with its "
             "connection id); Lost Light 0xb3af8de8 datagrams on both sides; Naraka "
             "0x0708080c datagrams whose peer ids swap between the sides",
             "nDPI netease_games dissector"),
    Detector("cod-mobile", UDP, cod_mobile,
             "both sides: a 12-byte `....ping` datagram echoed unchanged; or either side: a "
             "0xce datagram over 350 bytes carrying `LOC_PREFAB_LOADOUTNAME_`",
             "nDPI cod_mobile dissector"),
    Detector("riotgames", UDP, riot_connect,
             "either side: 53-byte connect datagram ending 0x3cb11f2d 0xea23460c, the "
             "other side's datagrams opening with its bytes 4-7",
             "nDPI riotgames dissector (connect trailer)"),
    Detector("teamspeak", UDP, teamspeak_weblist,
             "both sides: TS3 server list key request (0x01, sequence, type 1) answered by "
             "its header and a 4-byte key that the next upload (type 2) carries",
             "TS3 ServerList Emulator (weblist protocol: header, key request, upload)"),
)
