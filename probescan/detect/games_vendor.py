"""Vendor game protocols whose openings are fixed enough to prove: Nintendo's PIA, Riot's
ping datagrams, Genshin Impact's KCP handshake, netcode.io (Yojimbo), League of Legends:
Wild Rift, CryEngine's CryNetwork, Activision's session echo.

Nintendo PIA (NintendoClients wiki, "PIA Protocol"): every datagram starts with the magic
0x32ab9864, then a byte that is 1/2 (not / encrypted) or, from PIA 5.11, 0x80 (encrypted)
ORed with a version, then the connection id and packet id.

Riot Games: the ping datagrams of Riot's game clients end with 0xaaaaaaaa 0xbbbbbbbb and
the server echoes them (nDPI's riotgames dissector records the trailer).

Genshin Impact (KCP with a handshake, as the open-source Grasscutter server documents):
20-byte control datagrams, connect = 0x000000ff .. 1234567890, 0xffffffff; establish =
0x00000145 .. 1234567890, 0x14514545; disconnect = 0x00000194 .. 0x19419494.

netcode.io (STANDARD.md of the netcode.io reference, used by Yojimbo): the connection
request is 1078 bytes: prefix byte 0, "NETCODE 1.0x\\0", protocol id, expiry, nonce and
the 1024-byte private connect token.

Wild Rift (nDPI's lol_wild_rift dissector): a 22-byte 0x0102c841 datagram ending "A0B1",
or a 69-byte 0x04000000 request answered by a 359-byte 0x10000000 reply.

CryNetwork (CryEngine; nDPI's crynet dissector records the layout): a first byte that is
the datagram's length minus 10 and fixed bytes 1 / 7 / 0x0307 at offsets 16 / 20 / 24.

Activision (nDPI's activision dissector): the first datagrams are 0x0d02 and 0x0c02
echoes of one another (same length, same bytes after the type).
"""

from __future__ import annotations

from probescan.detect.base import UDP, Detection, Detector, Messages, Result

# ---------------------------------------------------------------- Nintendo PIA

_PIA_MAGIC = b"\x32\xab\x98\x64"


def _pia(d: bytes) -> int | None:
    if len(d) < 12 or d[:4] != _PIA_MAGIC:
        return None
    version = d[4]
    return version if version in (1, 2) or 0 < version & 0x7F <= 0x20 else None


def nintendo(msgs: Messages) -> Result:
    versions = {v for v in map(_pia, msgs.client[:1] + msgs.server[:1]) if v is not None}
    if not versions:
        return None
    facts: dict[str, str | int | bool] = {"pia_header": min(versions)}
    if min(versions) in (1, 2):
        facts["pia_encrypted"] = min(versions) == 2
    else:
        facts["pia_encrypted"] = bool(min(versions) & 0x80)
    return Detection("nintendo", facts, swapped=not msgs.client)


# ---------------------------------------------------------------- Riot Games

_RIOT_TRAILER = b"\xaa" * 4 + b"\xbb" * 4


def riotgames(msgs: Messages) -> Result:
    marked = [d for d in msgs.client[:2] + msgs.server[:2]
              if len(d) >= 24 and d.endswith(_RIOT_TRAILER)]
    if not marked:
        return None
    if msgs.client and msgs.server and not (
            msgs.client[0].endswith(_RIOT_TRAILER) and msgs.server[0].endswith(_RIOT_TRAILER)):
        return None  # one side marked, the other's reply not: not this exchange
    return Detection("riotgames", {"riot_message": "ping"})


# ---------------------------------------------------------------- Genshin Impact (KCP)

_KCP_CONTROL = {  # (first word, last word) -> handshake step
    (0x000000FF, 0xFFFFFFFF): "connect",
    (0x00000145, 0x14514545): "establish",
    (0x00000194, 0x19419494): "disconnect",
}
_KCP_ENET = 1234567890


def _kcp(d: bytes) -> str | None:
    if len(d) != 20:
        return None
    step = _KCP_CONTROL.get((int.from_bytes(d[:4]), int.from_bytes(d[16:20])))
    if step is None or (step != "disconnect" and int.from_bytes(d[12:16]) != _KCP_ENET):
        return None
    return step


def genshin_impact(msgs: Messages) -> Result:
    steps = {s for s in map(_kcp, msgs.client[:2] + msgs.server[:2]) if s}
    if not steps:
        return None
    first_c = _kcp(msgs.client[0]) if msgs.client else None
    first_s = _kcp(msgs.server[0]) if msgs.server else None
    swapped = first_c == "establish" or (first_c is None and first_s == "connect")
    return Detection("genshinimpact", {"kcp_handshake": tuple(sorted(steps))},
                     swapped=swapped)


# ---------------------------------------------------------------- netcode.io (Yojimbo)

_NETCODE_REQUEST_LEN = 1078


def yojimbo(msgs: Messages) -> Result:
    for side, dgrams in (("client", msgs.client), ("server", msgs.server)):
        for d in dgrams[:2]:
            if len(d) == _NETCODE_REQUEST_LEN and d[0] == 0 and d[1:12] == b"NETCODE 1.0" \
                    and d[12:13].isdigit() and d[13] == 0:
                return Detection("yojimbo", {"netcode_version": d[1:13].decode()[8:]},
                                 swapped=side == "server")
    return None


# ---------------------------------------------------------------- LoL: Wild Rift

def lol_wild_rift(msgs: Messages) -> Result:
    """A 22-byte datagram 0x0102c841 ... "A0B1", or the 69-byte 0x04000000 request
    answered by the 359-byte 0x10000000 reply (nDPI's lol_wild_rift dissector)."""
    for side, dgrams in (("client", msgs.client), ("server", msgs.server)):
        for d in dgrams[:2]:
            if len(d) == 22 and d[:4] == b"\x01\x02\xc8\x41" and d[18:] == b"A0B1":
                return Detection("lolwildrift", {"wildrift_message": "hello"},
                                 swapped=side == "server")
    c, s = msgs.client[:1], msgs.server[:1]
    if c and s and len(c[0]) == 69 and c[0][:4] == b"\x04\x00\x00\x00" \
            and len(s[0]) == 359 and s[0][:4] == b"\x10\x00\x00\x00":
        return Detection("lolwildrift", {"wildrift_message": "handshake"})
    return None


# ---------------------------------------------------------------- CryNetwork

def _crynet(d: bytes) -> bool:
    return (len(d) >= 26 and d[0] + 10 == len(d) and d[16] == 0x01 and d[20] == 0x07
            and d[24:26] == b"\x03\x07")


def crynetwork(msgs: Messages) -> Result:
    for side, dgrams in (("client", msgs.client), ("server", msgs.server)):
        if dgrams and _crynet(dgrams[0]):
            return Detection("crynetwork", {}, swapped=side == "server")
    return None


# ---------------------------------------------------------------- Activision

def activision(msgs: Messages) -> Result:
    if not (msgs.client and msgs.server):
        return None
    c, s = msgs.client[0], msgs.server[0]
    if len(c) < 18 or len(c) != len(s) or c[2:] != s[2:]:
        return None
    if c[:2] == b"\x0d\x02" and s[:2] == b"\x0c\x02":
        return Detection("activision", {})
    if c[:2] == b"\x0c\x02" and s[:2] == b"\x0d\x02":
        return Detection("activision", {}, swapped=True)
    return None


DETECTORS = (
    Detector("nintendo", UDP, nintendo,
             "either side, first datagram: PIA magic 0x32ab9864 and a valid "
             "encryption / version byte",
             "NintendoClients wiki: PIA Protocol (header)"),
    Detector("riotgames", UDP, riotgames,
             "either side: ping datagram ending 0xaaaaaaaa 0xbbbbbbbb, echoed by the other",
             "nDPI riotgames dissector (trailer)"),
    Detector("genshinimpact", UDP, genshin_impact,
             "either side: 20-byte KCP handshake control datagram (connect / establish / "
             "disconnect words around conv and token)",
             "Grasscutter (open-source server) KCP handshake"),
    Detector("yojimbo", UDP, yojimbo,
             "client: 1078-byte netcode.io connection request, prefix 0, `NETCODE 1.0x\\0`",
             "netcode.io STANDARD.md (connection request packet)"),
    Detector("lolwildrift", UDP, lol_wild_rift,
             "either side: 22-byte 0x0102c841 ... `A0B1`; or both sides: 69-byte 0x04000000 "
             "request and 359-byte 0x10000000 reply",
             "nDPI lol_wild_rift dissector"),
    Detector("crynetwork", UDP, crynetwork,
             "either side, first datagram: length byte = size - 10, bytes 1 / 7 / 0x0307 "
             "at offsets 16 / 20 / 24",
             "nDPI crynet dissector (CryEngine network layout)"),
    Detector("activision", UDP, activision,
             "both sides, first datagrams: 0x0d02 and its 0x0c02 echo, same length and bytes",
             "nDPI activision dissector"),
)
