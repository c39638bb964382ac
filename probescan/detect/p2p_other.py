"""Other peer-to-peer and overlay protocols: Gnutella, eDonkey, Syncthing discovery, KCP.

* Gnutella 0.6 (RFC-Gnutella 0.6 draft §2.2): the TCP handshake "GNUTELLA CONNECT/0.6"
  and its answer "GNUTELLA/0.6 200 OK" (status line), or 0.4's "GNUTELLA CONNECT/0.4"
  answered by "GNUTELLA OK"; over UDP a message (16-byte GUID, type, TTL, hops, length
  filling the datagram) answered by one with the same GUID, or the "GND" transport
  (gtk-gnutella's semi-reliable UDP: tag, flags, sequence, part within count).
* eDonkey / eMule (the eDonkey protocol description, eMule's opcodes.h): TCP messages of a
  protocol byte (0xE3 eDonkey, 0xC5 eMule, 0xD4 packed), a little-endian 32-bit length
  and an opcode; the first message fills its segments exactly (then a Hello or Hello
  answer) or another follows, and a Hello (0x01) announces a 16-byte user hash.
* Syncthing local discovery (docs.syncthing.net, "Local Discovery Protocol v4"): a UDP
  announcement of the magic 0x2EA7D90B and a protobuf Announce whose first field is the
  32-byte device id.
* KCP (skywind3000/kcp, "protocol.md"): segments of a 24-byte little-endian header (conv,
  cmd 81-84, frg, wnd, ts, sn, una, len) and len bytes of data, filling the datagram;
  the flow's first datagram and at least one more of the same conversation id, or a flow
  of one datagram that starts with a push segment carrying data and an open window.
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
from probescan.detect.sides import either_stream

_LOOK = 6
GNUTELLA_CONNECT = b"GNUTELLA CONNECT/0."
GNUTELLA_OK = b"GNUTELLA/0."
GNUTELLA_04_OK = b"GNUTELLA OK\n\n"


def _gnutella_stream(data: bytes) -> Result:
    for prefix in (GNUTELLA_CONNECT, GNUTELLA_OK, GNUTELLA_04_OK):
        if len(data) < len(prefix):
            if data and prefix.startswith(data) and len(data) >= 4:
                return NEED_MORE
            continue
        if not data.startswith(prefix):
            continue
        if prefix == GNUTELLA_04_OK:
            return Detection("gnutella", {"gnutella_version": "0.4"})
        rest = data[len(prefix) :]
        if len(rest) < 3:
            return NEED_MORE
        if not rest[:1].isdigit():
            return None
        if prefix == GNUTELLA_CONNECT and rest[1:3] in (b"\r\n", b"\n\n"):
            return Detection("gnutella", {"gnutella_version": "0." + rest[:1].decode()})
        if prefix == GNUTELLA_OK:
            if len(rest) < 6:
                return NEED_MORE
            if rest[1:2] == b" " and rest[2:5].isdigit() and rest[5:6] == b" ":
                return Detection("gnutella", {"gnutella_version": "0." + rest[:1].decode(),
                                              "gnutella_status": int(rest[2:5])})
        return None
    return None


def gnutella_tcp(msgs: Messages) -> Result:
    return either_stream(msgs, _gnutella_stream)


GNUTELLA_TYPES = frozenset({0x00, 0x01, 0x02, 0x30, 0x31, 0x32, 0x40, 0x41, 0x44, 0x80, 0x81})


def _descriptor(data: bytes) -> bool:
    """A Gnutella message header (GUID, type, TTL, hops, little-endian payload length)
    whose length fills the datagram (type 0x44: gtk-gnutella's DHT)."""
    return (len(data) >= 23 and data[16] in GNUTELLA_TYPES and data[17] + data[18] <= 16
            and int.from_bytes(data[19:23], "little") == len(data) - 23)


def gnutella_udp(msgs: Messages) -> Result:
    for ask in msgs.client[:2]:  # a request and the answer carrying its GUID
        if _descriptor(ask) and any(_descriptor(a) and a[:16] == ask[:16]
                                    for a in msgs.server[:2]):
            return Detection("gnutella", {"gnutella_transport": "udp", "gnutella_type": ask[16]})
    for side in msgs.sides:
        for data in side[:_LOOK]:
            # GND: tag, flags (low bits only), 2-byte sequence, part (1-based) <= count
            if len(data) >= 8 and data[:3] == b"GND" and not data[3] & 0xF0 \
                    and 1 <= data[6] <= data[7]:
                return Detection("gnutella", {"gnutella_transport": "GND"})
    return None


# --- eDonkey ---------------------------------------------------------------------------------

ED_PROTOCOLS = {0xE3: "edonkey", 0xC5: "emule", 0xD4: "packed"}
HELLO, HELLO_ANSWER = 0x01, 0x4C
MAX_ED_MESSAGE = 1 << 21


def _edonkey_stream(data: bytes) -> Result:
    if not data or data[0] not in ED_PROTOCOLS:
        return None
    if len(data) < 6:
        return NEED_MORE
    length = int.from_bytes(data[1:5], "little")
    if not 1 <= length <= MAX_ED_MESSAGE:
        return None
    end = 5 + length
    if len(data) < end:
        return NEED_MORE if data[5] in (HELLO, HELLO_ANSWER) else None
    if data[5] == HELLO and data[6] != 16 and data[0] == 0xE3:
        return None  # Hello: the size of the user hash that follows, 16
    if len(data) == end and data[5] not in (HELLO, HELLO_ANSWER):
        return None
    if len(data) > end and data[end] not in ED_PROTOCOLS:
        return None
    return Detection("edonkey", {"edonkey_protocol": ED_PROTOCOLS[data[0]],
                                 "edonkey_opcode": data[5]})


def edonkey(msgs: Messages) -> Result:
    return either_stream(msgs, _edonkey_stream)


# --- Syncthing, KCP --------------------------------------------------------------------------

SYNCTHING_MAGIC = bytes.fromhex("2ea7d90b")


def syncthing(msgs: Messages) -> Result:
    for side in msgs.sides:
        for data in side[:2]:
            if data[:4] == SYNCTHING_MAGIC and data[4:6] == b"\x0a\x20" and len(data) >= 38:
                return Detection("syncthing", {"syncthing_device": data[6:38].hex()[:16]})
    return None


KCP_HEADER = 24
KCP_COMMANDS = {81: "push", 82: "ack", 83: "window_probe", 84: "window_tell"}


def _kcp_conv(data: bytes) -> bytes | None:
    """The conversation id of a datagram of whole KCP segments of one conversation."""
    if len(data) < KCP_HEADER:
        return None
    pos = 0
    conv = data[:4]
    while pos < len(data):
        head = data[pos : pos + KCP_HEADER]
        if len(head) < KCP_HEADER or head[:4] != conv or head[4] not in KCP_COMMANDS:
            return None
        size = int.from_bytes(head[20:24], "little")
        if head[4] != 81 and size:  # only a push carries data
            return None
        pos += KCP_HEADER + size
    return conv if pos == len(data) and conv != b"\x00\x00\x00\x00" else None


def kcp(msgs: Messages) -> Result:
    first = msgs.server if msgs.first == "server" else msgs.client
    if not first or _kcp_conv(first[0]) is None:
        return None
    found = [c for side in msgs.sides for d in side[:_LOOK] if (c := _kcp_conv(d)) is not None]
    if (len(found) >= 2 and len(set(found)) == 1) or (
            len(msgs.client) + len(msgs.server) == 1 and _kcp_lone(first[0])):
        return Detection("kcp", {"kcp_conv": int.from_bytes(first[0][:4], "little")})
    return None


def _kcp_lone(data: bytes) -> bool:
    """A flow's only datagram: one push segment (or more) whose data fills it, with a
    window open (a lone ack or probe is too little to tell)."""
    return len(data) > KCP_HEADER and data[4] == 81 and data[6:8] != b"\0\0"


DETECTORS = (
    Detector("gnutella", TCP, gnutella_tcp,
             "either side: GNUTELLA CONNECT/0.x or the GNUTELLA/0.6 status line (0.4: "
             "GNUTELLA OK)", "RFC-Gnutella 0.6 draft §2.2"),
    Detector("gnutella", UDP, gnutella_udp,
             "a message header whose length fills the datagram answered with the same GUID; "
             "either side: a GND datagram (tag, flags, sequence, part within count)",
             "RFC-Gnutella 0.6 draft §2.3; gtk-gnutella UDP transport (GND)"),
    Detector("edonkey", TCP, edonkey,
             "either side: a message of protocol byte 0xE3/0xC5/0xD4, little-endian length "
             "and opcode filling the stream start (Hello: 16-byte user hash)",
             "eDonkey protocol description; eMule opcodes"),
    Detector("syncthing", UDP, syncthing,
             "an announcement: magic 0x2EA7D90B then a protobuf field 1 of 32 bytes",
             "Syncthing Local Discovery Protocol v4"),
    Detector("kcp", UDP, kcp,
             "every datagram (two or more) whole KCP segments of one conversation id, "
             "commands 81-84, lengths filling it; a flow's only datagram when it starts "
             "with a push carrying data", "KCP protocol.md (skywind3000/kcp)"),
)
