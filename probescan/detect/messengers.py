"""Messengers: WhatsApp's stream opening, Telegram (MTProto transports, VoIP reflectors),
Discord's voice IP discovery and keepalive, Viber's relay opening.

WhatsApp (client → server, TCP): an optional edge-routing prologue `ED\\x00\\x01` with a
3-byte length and routing data, then the connection header `WA` + two version bytes, then
frames of a 3-byte length (top nibble flags). With the Noise handshake (WhatsApp security
whitepaper; whatsmeow / Baileys documentation) the first frame is a protobuf
HandshakeMessage whose field 2 (client hello, tag 0x12) fills the frame exactly; the older
FunXMPP stream (yowsup documentation) starts with a list token (0xf8 / 0xf9).

Telegram: MTProto's TCP transports (core.telegram.org/mtproto/mtproto-transports):
abridged `0xef`, intermediate `0xeeeeeeee`, padded intermediate `0xdddddddd`, full
(length, sequence number, CRC32), carrying the first unencrypted message
(core.telegram.org/mtproto/description: auth_key_id 0, message id, length, a key-exchange
constructor). Calls (libtgvoip): datagrams to a reflector start with the call's 16-byte
peer tag and twelve 0xff bytes, then a TL id: a ping (0xfffffffe + 8-byte query id, 40
bytes), the reflector's self-info (0xc01572c7, 64 bytes) or peer-info (0x27d9371c, 48).

Discord voice (discord.com/developers/docs/topics/voice-connections, IP discovery): a
74-byte datagram, type 1 (request) or 2 (response), length 70, SSRC, a 64-byte
NUL-terminated address and a port; both sides carry the same SSRC. The voice keepalive
(0x1337cafe and a counter, 8 bytes, as nDPI's discord dissector records it) counts only when
the server echoes it unchanged.

Viber (nDPI's viber dissector lists the opening types): a relay datagram starts with a
2-byte channel and a 2-byte little-endian type; the client's opening (type 1 followed by
0x0005, or a 34-byte type 0x19 / 0x1b) carries an 8-byte id that the relay's reply on the
same channel repeats at the same offset.

Threema's chat server protocol (Threema Cryptography Whitepaper, "Chat Protocol"; the
open-source clients' CSP handshake): the client hello is 48 bytes (temporary public key,
cookie), the server hello 80 (cookie, a NaCl box of key and client cookie), the login a
box of at least 160 bytes, the login ack a 32-byte box; then both sides send frames of a
2-byte little-endian length and a box (a 16-byte MAC and at least a 4-byte type). Claimed
when both sides' segments fit: 48, the login, frames filling the client's stream; 80, then
the ack and frames filling the server's.
"""

from __future__ import annotations

import re
import zlib

from probescan.detect.base import (
    NEED_MORE,
    TCP,
    UDP,
    Detection,
    Detector,
    Messages,
    Result,
)
from probescan.detect.framing import varint

# ---------------------------------------------------------------- WhatsApp

_WA_EDGE = b"ED\x00\x01"
_WA_MAX_ROUTING = 1024


def _wa_first_frame(data: bytes, pos: int) -> tuple[str, int] | bool | None:
    """The first frame after `WA` + version: (kind, frame length), True when cut, None if
    it cannot be a WhatsApp frame."""
    if len(data) < pos + 4:
        return True
    if data[pos] >> 4:  # the first frame is never flagged (encrypted / compressed)
        return None
    length = int.from_bytes(data[pos:pos + 3])
    if length < 2:
        return None
    tag = data[pos + 3]
    if tag in (0xF8, 0xF9):  # FunXMPP list token: the stream:start element
        return "funxmpp", length
    if tag != 0x12:  # HandshakeMessage.clientHello
        return None
    v = varint(data, pos + 4, 4)
    if v is None:
        return True if len(data) < pos + 8 else None
    size, after = v
    return ("noise", length) if after - (pos + 3) + size == length else None


def _wa_client(data: bytes) -> Result:
    pos = 0
    facts: dict[str, str | int | bool] = {}
    if data[:4] == _WA_EDGE:
        if len(data) < 7:
            return NEED_MORE
        routing = int.from_bytes(data[4:7])
        if not 0 < routing <= _WA_MAX_ROUTING:
            return None
        pos = 7 + routing
        facts["whatsapp_edge_routing"] = True
    elif len(data) < 4:
        return NEED_MORE if _WA_EDGE.startswith(data) or b"WA".startswith(data[:2]) else None
    head = data[pos:pos + 4]
    if len(head) < 4:
        return NEED_MORE if b"WA".startswith(head[:2]) else None
    if head[:2] != b"WA" or not 1 <= head[2] <= 15:
        return None
    facts["whatsapp_version"] = f"{head[2]}.{head[3]}"
    frame = _wa_first_frame(data, pos + 4)
    if not isinstance(frame, tuple):
        if frame is None:
            return None
        # cut short: the edge prologue, its routing length and `WA` already prove it
        return Detection("whatsapp", facts) if pos else NEED_MORE
    facts["whatsapp_handshake"] = frame[0]
    return Detection("whatsapp", facts)


def whatsapp(msgs: Messages) -> Result:
    c = msgs.client_stream
    if c:
        r = _wa_client(c)
        if r is not None:
            return r
    s = msgs.server_stream
    if s and not c:  # one-sided capture, the client's bytes recorded as the server's
        r = _wa_client(s)
        if isinstance(r, Detection):
            return Detection(r.service, r.facts, swapped=True)
        return r
    return None


# ---------------------------------------------------------------- Telegram

_MT_CONSTRUCTORS = {
    0x60469778: "req_pq", 0xBE7E8EF1: "req_pq_multi", 0xD712E4BE: "req_DH_params",
    0xF5045F1F: "set_client_DH_params", 0x05162463: "resPQ",
    0xD0E8075C: "server_DH_params_ok", 0x3BCBF734: "dh_gen_ok",
}


def _mt_plain(payload: bytes, size: int, padded: bool) -> str | None:
    """Constructor name of an unencrypted MTProto message of `size` bytes (of which
    `payload` holds at least the first 24), else None."""
    if len(payload) < 24 or payload[:8] != bytes(8):
        return None
    msg_id = int.from_bytes(payload[8:16], "little")
    length = int.from_bytes(payload[16:20], "little")
    if msg_id == 0 or msg_id % 4 == 2 or length < 4:
        return None
    end = 20 + length
    if end != size and not (padded and end < size <= end + 15):
        return None
    return _MT_CONSTRUCTORS.get(int.from_bytes(payload[20:24], "little"))


def _mt_tcp(data: bytes) -> Result:
    """The client's first MTProto packet under one of the four TCP transports."""
    if not data:
        return None
    if data[0] == 0xEF:
        if len(data) < 2:
            return NEED_MORE
        if data[1] < 0x7F:
            size, start, transport = data[1] * 4, 2, "abridged"
        elif len(data) < 5:
            return NEED_MORE
        else:
            size, start, transport = int.from_bytes(data[2:5], "little") * 4, 5, "abridged"
        padded = False
    elif data[:4] in (b"\xee" * 4, b"\xdd" * 4):
        if len(data) < 8:
            return NEED_MORE
        size, start = int.from_bytes(data[4:8], "little"), 8
        padded = data[0] == 0xDD
        transport = "padded-intermediate" if padded else "intermediate"
    elif len(data) >= 16 and data[4:16] == bytes(12):  # sequence number 0, auth_key_id 0
        size = int.from_bytes(data[:4], "little")
        if not 36 <= size <= 4096:
            return None
        if len(data) < size:
            return NEED_MORE
        if zlib.crc32(data[:size - 4]) != int.from_bytes(data[size - 4:size], "little"):
            return None
        size, start, transport, padded = size - 12, 8, "full", False
    else:
        return NEED_MORE if len(data) < 4 and data[0] in (0xEE, 0xDD) else None
    if not 24 <= size <= 4096:
        return None
    if len(data) < start + 24:
        return NEED_MORE
    name = _mt_plain(data[start:start + size], size, padded)
    if name is None:
        return None
    return Detection("telegram", {"telegram_transport": transport, "mtproto_message": name})


_TG_FF = b"\xff" * 12
_TG_REFLECTOR = {  # TL id after the 0xff run -> (datagram length, message, sent by the server)
    b"\xfe\xff\xff\xff": (40, "ping", False),
    b"\xc7\x72\x15\xc0": (64, "self-info", True),
    b"\x1c\x37\xd9\x27": (48, "peer-info", True),
}


def _tg_reflector(dgram: bytes) -> tuple[str, bool] | None:
    if len(dgram) not in (40, 48, 64) or dgram[16:28] != _TG_FF:
        return None
    kind = _TG_REFLECTOR.get(dgram[28:32])
    if kind is None or kind[0] != len(dgram):
        return None
    return kind[1], kind[2]


def telegram_udp(msgs: Messages) -> Result:
    tags: set[bytes] = set()
    seen: set[str] = set()
    swapped = False
    for side, dgrams in (("client", msgs.client), ("server", msgs.server)):
        for d in dgrams:
            kind = _tg_reflector(d)
            if kind is None:
                continue
            tags.add(d[:16])
            seen.add(kind[0])
            swapped = swapped or (kind[1] and side == "client")
    if not seen or len(tags) != 1:
        return None
    return Detection("telegram", {"telegram_reflector": tuple(sorted(seen))}, swapped=swapped)


def telegram_tcp(msgs: Messages) -> Result:
    r = _mt_tcp(msgs.client_stream)
    if r is None and not msgs.client:
        r = _mt_tcp(msgs.server_stream)
        if isinstance(r, Detection):
            return Detection(r.service, r.facts, swapped=True)
    return r


# ---------------------------------------------------------------- Discord

_DISCORD_LEN = 74
_IP_TEXT = re.compile(rb"[0-9a-fA-F.:]{2,45}")


def _discord(dgram: bytes) -> tuple[int, bytes, str] | None:
    """(type, SSRC, address) of an IP discovery datagram."""
    if len(dgram) != _DISCORD_LEN or dgram[0] != 0 or dgram[1] not in (1, 2):
        return None
    if dgram[2:4] != b"\x00\x46":
        return None
    addr = dgram[8:72]
    text, nul, rest = addr.partition(b"\x00")
    if not nul or rest.strip(b"\x00"):
        return None
    if text and not _IP_TEXT.fullmatch(text):
        return None
    if dgram[1] == 2 and not text:
        return None
    return dgram[1], dgram[4:8], text.decode()


_DISCORD_KEEPALIVE = b"\x13\x37\xca\xfe"


def _discord_keepalive(msgs: Messages) -> bool:
    """The 8-byte keepalive (0x1337cafe, a counter) sent and echoed unchanged."""
    sent = {d for d in msgs.client if len(d) == 8 and d[:4] == _DISCORD_KEEPALIVE}
    return any(d in sent for d in msgs.server)


def discord(msgs: Messages) -> Result:
    found: dict[str, tuple[int, bytes, str]] = {}
    for side, dgrams in (("client", msgs.client), ("server", msgs.server)):
        if dgrams:
            d = _discord(dgrams[0])
            if d is not None:
                found[side] = d
    if not found:
        return Detection("discord", {"discord_seen": "keepalive"}) \
            if _discord_keepalive(msgs) else None
    if len(found) == 2:
        c, s = found["client"], found["server"]
        if c[1] != s[1] or {c[0], s[0]} != {1, 2}:
            return None
    kind, ssrc, _addr = found.get("client") or found["server"]
    facts: dict[str, str | int] = {"discord_ssrc": int.from_bytes(ssrc)}
    for k, _s, addr in found.values():
        if k == 2:
            facts["discord_address"] = addr
    # a response on the client's side, or a request alone on the server's, is the reverse
    swapped = kind == 2 if "client" in found else kind == 1
    return Detection("discord", facts, swapped=swapped)


# ---------------------------------------------------------------- Viber

_VIBER_OPEN = {1: 6, 0x19: 4, 0x1B: 4}  # opening message type -> offset of the 8-byte peer id


def viber(msgs: Messages) -> Result:
    """The client's opening datagram (a type nDPI's viber dissector lists) answered by the
    relay on the same 2-byte channel with the client's 8-byte id at the same offset."""
    if not (msgs.client and msgs.server):
        return None
    c, s = msgs.client[0], msgs.server[0]
    if len(c) < 20 or len(s) < 20 or c[:2] != s[:2] or c[3] or s[3]:
        return None
    at = _VIBER_OPEN.get(c[2])
    if at is None or (c[2] == 1 and c[4:6] != b"\x05\x00") or (c[2] != 1 and len(c) != 34):
        return None
    peer = c[at:at + 8]
    if peer == bytes(8) or s[at:at + 8] != peer:
        return None
    return Detection("viber", {"viber_message": c[2]})


# --- Threema ---------------------------------------------------------------------------


def _threema_frames(data: bytes) -> bool:
    """One or more frames (2-byte little-endian length, a box of MAC and type) filling
    `data` exactly."""
    pos = 0
    while pos < len(data):
        size = int.from_bytes(data[pos : pos + 2], "little")
        if pos + 2 > len(data) or size < 20:
            return False
        pos += 2 + size
    return pos == len(data) and pos > 0


def threema(msgs: Messages) -> Result:
    c, s = msgs.client, msgs.server
    if len(c) < 3 or not s or len(c[0]) != 48 or len(s[0]) != 80 or not 160 <= len(c[1]) <= 1024:
        return None
    if _threema_frames(b"".join(c[2:])) and _threema_frames(b"".join(s)[112:]):
        return Detection("threema", {"threema_login": len(c[1])})
    return None


DETECTORS = (
    Detector("whatsapp", TCP, whatsapp,
             "client: optional `ED\\x00\\x01` + 3-byte routing length, `WA` + version, then "
             "a frame whose client-hello protobuf (or FunXMPP list) fills its 3-byte length",
             "WhatsApp Encryption Overview (Noise Pipes); whatsmeow / yowsup documentation"),
    Detector("telegram", TCP, telegram_tcp,
             "client: abridged / intermediate / padded / full MTProto transport carrying an "
             "unencrypted message (auth_key_id 0, length, key-exchange constructor; CRC32)",
             "core.telegram.org/mtproto/mtproto-transports, mtproto/description"),
    Detector("telegram", UDP, telegram_udp,
             "either side: call reflector datagram: 16-byte peer tag, twelve 0xff, TL id "
             "(ping 40 bytes, self-info 64, peer-info 48), one tag for the flow",
             "libtgvoip (Telegram VoIP library) reflector packets"),
    Detector("discord", UDP, discord,
             "either side: 74-byte IP discovery, type 1/2, length 70, SSRC, NUL-terminated "
             "address (request and response agree on the SSRC); or the 0x1337cafe keepalive "
             "echoed unchanged",
             "Discord developer docs, Voice Connections: IP Discovery"),
    Detector("viber", UDP, viber,
             "both sides: the client's opening datagram (type 1 / 0x19 / 0x1b) and the relay's "
             "reply on the same 2-byte channel carrying the client's 8-byte id",
             "nDPI viber dissector (message types)"),
    Detector("threema", TCP, threema,
             "both sides: segments of 48 (client hello) and a login box, 80 (server hello); "
             "after them and the 32-byte login ack, 2-byte little-endian framed boxes filling "
             "each stream",
             "Threema Cryptography Whitepaper (chat protocol); CSP handshake"),
)
