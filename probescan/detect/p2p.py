"""Peer-to-peer protocols: BitTorrent (handshake, DHT, uTP), Gnutella, eDonkey.

BitTorrent peer wire protocol (BEP 3): a handshake opens with the length-prefixed protocol
string `\\x13BitTorrent protocol`, then 8 reserved bytes, the 20-byte info hash and the
20-byte peer id (68 bytes in all). Either side may be seen first.
"""

from __future__ import annotations

from probescan.detect.base import NEED_MORE, TCP, Detection, Detector, Messages, Result

BT_PSTR = b"\x13BitTorrent protocol"
BT_HANDSHAKE_LEN = 68


def _bt_handshake(data: bytes) -> Result:
    if len(data) < len(BT_PSTR):
        return NEED_MORE if data and BT_PSTR.startswith(data) else None
    if not data.startswith(BT_PSTR):
        return None
    if len(data) < BT_HANDSHAKE_LEN:
        return NEED_MORE
    return Detection("bittorrent", {"bt_info_hash": data[28:48].hex()})


def bittorrent_tcp(msgs: Messages) -> Result:
    best: Result = None
    for stream in (msgs.client_stream, msgs.server_stream):
        r = _bt_handshake(stream)
        if isinstance(r, Detection):
            return r
        best = best or r
    return best


DETECTORS = (
    Detector("bittorrent", TCP, bittorrent_tcp,
             "either side: the 68-byte handshake, `\\x13BitTorrent protocol` first",
             "BEP 3 (peer wire protocol)"),
)
