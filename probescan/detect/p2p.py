"""BitTorrent: the peer wire handshake, DHT, uTP, the UDP tracker protocol and local
service discovery.

* Peer wire protocol (BEP 3): a handshake opens with the length-prefixed protocol string
  `\\x13BitTorrent protocol`, then 8 reserved bytes, the 20-byte info hash and the 20-byte
  peer id (68 bytes in all). Either side may be seen first; after an encrypted prelude
  (MSE) a plain handshake may still start a later message.
* DHT (BEP 5): KRPC messages, one bencoded dictionary per datagram with a transaction id
  "t" and a type "y": a query ("q": method, "a": arguments with the 20-byte node "id"), a
  response ("r": values with the "id") or an error ("e": [code, message]).
* uTP (BEP 29): a 20-byte header, type (0-4) and version 1 in the first byte, an extension
  chain, connection id, timestamps, window, sequence and ack numbers. A SYN answered by a
  STATE of its connection id acknowledging its sequence number, or three or more packets
  of one side on one connection id (the initiator's SYN id and that id + 1) whose
  timestamps advance and sequence numbers step by at most one.
* UDP tracker (BEP 15): a connect request starts with the protocol id 0x41727101980.
* Local service discovery (BEP 14): "BT-SEARCH * HTTP/1.1" with an Infohash header.
"""

from __future__ import annotations

import itertools

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
from probescan.detect.sides import either_stream
from probescan.protocols import bencode
from probescan.protocols.errors import NeedMore, ParseError

BT_PSTR = b"\x13BitTorrent protocol"
BT_HANDSHAKE_LEN = 68
_LOOK = 6


def _bt_handshake(data: bytes) -> Result:
    if len(data) < len(BT_PSTR):
        return NEED_MORE if data and BT_PSTR.startswith(data) else None
    if not data.startswith(BT_PSTR):
        return None
    if len(data) < BT_HANDSHAKE_LEN:
        return NEED_MORE
    return Detection("bittorrent", {"bt_info_hash": data[28:48].hex()})


def bittorrent_tcp(msgs: Messages) -> Result:
    best = either_stream(msgs, _bt_handshake)
    if isinstance(best, Detection):
        return best
    for side in msgs.sides:  # a handshake after an encrypted (MSE) prelude
        for i, message in enumerate(side[1:_LOOK], start=1):
            if message.startswith(BT_PSTR):
                r = _bt_handshake(b"".join(side[i:]))
                if isinstance(r, Detection):
                    return r
    return best


# --- DHT -------------------------------------------------------------------------------------


def krpc(data: bytes) -> dict[str, Fact] | None:
    """Facts of a KRPC message filling the datagram, or None."""
    if data[:1] != b"d" or data[-1:] != b"e":
        return None
    try:
        msg = bencode.decode(data)
    except (NeedMore, ParseError):
        return None
    if not isinstance(msg, dict) or not isinstance(msg.get(b"t"), bytes):
        return None
    kind = msg.get(b"y")
    if kind == b"q":
        method, args = msg.get(b"q"), msg.get(b"a")
        if isinstance(method, bytes) and isinstance(args, dict) and _node_id(args):
            return {"bt_dht": method.decode("latin-1")[:32]}
    elif kind == b"r":
        values = msg.get(b"r")
        if isinstance(values, dict) and _node_id(values):
            return {"bt_dht": "response"}
    elif kind == b"e":
        error = msg.get(b"e")
        if isinstance(error, list) and error and isinstance(error[0], int):
            return {"bt_dht": "error"}
    return None


def _node_id(values: dict[bytes, bencode.Value]) -> bool:
    node = values.get(b"id")
    return isinstance(node, bytes) and len(node) == 20


# --- uTP -------------------------------------------------------------------------------------

ST_DATA, ST_FIN, ST_STATE, ST_RESET, ST_SYN = range(5)


def utp_header(p: bytes) -> tuple[int, int, int, int] | None:
    """(type, connection id, seq_nr, ack_nr) of a uTP packet whose extensions fit."""
    if len(p) < 20 or p[0] & 0x0F != 1 or p[0] >> 4 > ST_SYN:
        return None
    ptype, ext, pos = p[0] >> 4, p[1], 20
    while ext:
        if ext > 4 or pos + 2 > len(p):
            return None
        ext, size = p[pos], p[pos + 1]
        pos += 2 + size
    if pos > len(p) or (ptype != ST_DATA and pos != len(p)) or (ptype == ST_DATA and
                                                                 pos == len(p)):
        return None
    return (ptype, int.from_bytes(p[2:4], "big"), int.from_bytes(p[16:18], "big"),
            int.from_bytes(p[18:20], "big"))


def _utp_pair(client: tuple[bytes, ...], server: tuple[bytes, ...]) -> bool:
    syn = utp_header(client[0]) if client else None
    if syn is None or syn[0] != ST_SYN:
        return False
    return any((h := utp_header(p)) is not None and h[0] == ST_STATE and h[1] == syn[1]
               and h[3] == syn[2] for p in server[:_LOOK])


def _utp_side(packets: tuple[bytes, ...]) -> bool:
    """Three or more packets of one connection (or SYN id and id + 1) whose microsecond
    timestamps advance (less than 10 s apart) and whose sequence numbers step by 0 or 1."""
    run = packets[:_LOOK]
    headers = [utp_header(p) for p in run]
    if len(headers) < 3 or any(h is None for h in headers):
        return False
    ids = {h[1] for h in headers if h is not None}
    first = headers[0]
    assert first is not None
    if len(ids) != 1 and not (first[0] == ST_SYN and ids == {first[1], (first[1] + 1) % 65536}):
        return False
    for (p0, h0), (p1, h1) in itertools.pairwise(zip(run, headers, strict=True)):
        assert h0 is not None and h1 is not None
        step = int.from_bytes(p1[4:8], "big") - int.from_bytes(p0[4:8], "big")
        if not 0 < step % (1 << 32) < 10_000_000 or (h1[2] - h0[2]) % 65536 > 1:
            return False
    return True


# --- UDP ---------------------------------------------------------------------------------------

TRACKER_CONNECT = bytes.fromhex("0000041727101980") + b"\x00\x00\x00\x00"
LSD = b"BT-SEARCH * HTTP/1.1\r\n"


def bittorrent_udp(msgs: Messages) -> Result:
    for side in msgs.sides:
        for data in side[:_LOOK]:
            facts = krpc(data)
            if facts:
                return Detection("bittorrent", facts)
            if len(data) == 16 and data.startswith(TRACKER_CONNECT):
                return Detection("bittorrent", {"bt_tracker": "connect"})
            if data.startswith(LSD) and b"\r\nInfohash: " in data:
                return Detection("bittorrent", {"bt_lsd": "search"})
    for mine, other in ((msgs.client, msgs.server), (msgs.server, msgs.client)):
        if _utp_pair(mine, other) or _utp_side(mine):
            return Detection("bittorrent", {"bt_utp": True})
    return None


DETECTORS = (
    Detector("bittorrent", TCP, bittorrent_tcp,
             "either side: the 68-byte handshake, `\\x13BitTorrent protocol` first (also at "
             "the start of a later message, after an encrypted prelude)",
             "BEP 3 (peer wire protocol)"),
    Detector("bittorrent", UDP, bittorrent_udp,
             "either side: a DHT KRPC message (a strictly bencoded dictionary with t, y and a "
             "20-byte node id); a UDP tracker connect; a BT-SEARCH announcement; uTP: a SYN "
             "answered by a STATE of its connection id, or three packets of one connection",
             "BEP 5 (DHT), BEP 29 (uTP), BEP 15 (UDP tracker), BEP 14 (local discovery)"),
)
