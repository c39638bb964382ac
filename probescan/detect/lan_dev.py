"""Device discovery and control on the local network: vendor protocols with fixed framing.

* BJNP (Canon printers and scanners, UDP/TCP 8611-8614): a 16-byte header, "BJNP" or
  "MFNP", device type 0x01/0x02 (0x81/0x82 in answers), command, sequence, session and a
  payload length equal to what follows.
* Tuya local protocol (UDP 6666/6667, TCP 6668): prefix 0x000055AA, sequence, command,
  length counting the rest, suffix 0x0000AA55; version 3.5 frames 0x00006699..0x00009966.
* Ubiquiti discovery (UDP 10001): version 1 or 2, command, a length equal to the rest, and
  type-length-value fields filling it.
* Spotify Connect LAN discovery (UDP 57621): the magic "SpotUdp0".
* DLEP (RFC 8175): UDP discovery signals "DLEP" + signal type + length; TCP session
  messages type + length; both made of data items (type, length) that fill them exactly.
KNXnet/IP and HART-IP are read by probescan.detect.ot_bus and ot_plc.
"""

from __future__ import annotations

from probescan.detect.base import (
    BOTH,
    NEED_MORE,
    UDP,
    Detection,
    Detector,
    Messages,
    Result,
)


def _firsts(msgs: Messages) -> list[tuple[bytes, bool]]:
    """The first message of each side over UDP; each side's stream over TCP."""
    if msgs.transport == "tcp":
        return [(msgs.client_stream, True), (msgs.server_stream, False)]
    return [(side[0], i == 0) for i, side in enumerate(msgs.sides) if side]


# --- BJNP --------------------------------------------------------------------------------

def _bjnp(d: bytes) -> tuple[int, int] | None:
    if len(d) < 16 or d[:4] not in (b"BJNP", b"MFNP"):
        return None
    if d[4] not in (0x01, 0x02, 0x81, 0x82) or not 0 < d[5] <= 0x40:
        return None
    if int.from_bytes(d[12:16], "big") != len(d) - 16:
        return None
    return d[4], d[5]


def bjnp(msgs: Messages) -> Result:
    for d, from_client in _firsts(msgs):
        found = _bjnp(d)
        if found is not None:
            return Detection("bjnp", {"bjnp_command": found[1]},
                             swapped=from_client and found[0] >= 0x80)
    return None


# --- Tuya --------------------------------------------------------------------------------

def _tuya(d: bytes) -> str | None:
    if (len(d) >= 24 and d[:4] == b"\x00\x00\x55\xaa" and d[-4:] == b"\x00\x00\xaa\x55"
            and int.from_bytes(d[12:16], "big") == len(d) - 16):
        return "3.x"
    if (len(d) >= 22 and d[:4] == b"\x00\x00\x66\x99" and d[-4:] == b"\x00\x00\x99\x66"
            and int.from_bytes(d[14:18], "big") == len(d) - 22):
        return "3.5"
    return None


def tuyalp(msgs: Messages) -> Result:
    for d, _ in _firsts(msgs):
        if msgs.transport == "tcp" and d[:4] in (b"\x00\x00\x55\xaa", b"\x00\x00\x66\x99"):
            d = d[: 16 + int.from_bytes(d[12:16], "big")] if d[2] == 0x55 else (
                d[: 22 + int.from_bytes(d[14:18], "big")] if len(d) >= 18 else d)
        version = _tuya(d)
        if version is not None:
            return Detection("tuyalp", {"tuya_frame": version})
    return None


# --- Ubiquiti discovery ------------------------------------------------------------------

def _ubnt(d: bytes) -> int | None:
    """The number of TLVs of a discovery packet, or None."""
    if len(d) < 7 or d[0] not in (1, 2) or int.from_bytes(d[2:4], "big") != len(d) - 4:
        return None
    pos, count = 4, 0
    while pos < len(d):
        if pos + 3 > len(d) or not 0 < d[pos] <= 0x30:
            return None
        pos += 3 + int.from_bytes(d[pos + 1 : pos + 3], "big")
        count += 1
    return count if pos == len(d) else None


def ubnt_udp(msgs: Messages) -> Result:
    for d, _ in _firsts(msgs):
        if _ubnt(d):
            return Detection("ubntac2", {"ubnt_version": d[0]})
    return None


# --- Spotify Connect ---------------------------------------------------------------------

def spotify_udp(msgs: Messages) -> Result:
    for d, _ in _firsts(msgs):
        if d.startswith(b"SpotUdp0") and len(d) >= 16:
            return Detection("spotify", {})
    return None


# --- DLEP --------------------------------------------------------------------------------

def _dlep_items(d: bytes) -> bool:
    pos = 0
    while pos < len(d):
        if pos + 4 > len(d) or not 0 < int.from_bytes(d[pos : pos + 2], "big") <= 0xFF:
            return False
        pos += 4 + int.from_bytes(d[pos + 2 : pos + 4], "big")
    return pos == len(d)


def dlep(msgs: Messages) -> Result:
    tcp = msgs.transport == "tcp"
    waiting = False
    for d, _ in _firsts(msgs):
        if not tcp:
            if (d[:4] == b"DLEP" and len(d) >= 8 and d[4:6] in (b"\x00\x01", b"\x00\x02")
                    and int.from_bytes(d[6:8], "big") == len(d) - 8 and _dlep_items(d[8:])):
                return Detection("dlep", {"dlep_signal": d[5]})
            continue
        if len(d) < 4 or d[:2] not in (b"\x00\x01", b"\x00\x02"):  # session init (response)
            continue
        end = 4 + int.from_bytes(d[2:4], "big")
        if len(d) < end:
            waiting = True
            continue
        if end > 4 and _dlep_items(d[4:end]):
            return Detection("dlep", {"dlep_message": d[1]})
    return NEED_MORE if waiting else None


DETECTORS = (
    Detector("bjnp", BOTH, bjnp,
             "either side: the 16-byte BJNP/MFNP header with device type, command and a "
             "payload length equal to the rest", "Canon BJNP as documented by cups-bjnp"),
    Detector("tuyalp", BOTH, tuyalp,
             "either side: 0x000055AA ... 0x0000AA55 (or 0x00006699 ... 0x00009966) with a "
             "length that spans the frame", "Tuya local protocol 3.x / 3.5"),
    Detector("ubntac2", UDP, ubnt_udp,
             "either side: version 1-2, command, length equal to the rest, TLVs filling it",
             "Ubiquiti discovery protocol (UDP 10001)"),
    Detector("spotify", UDP, spotify_udp,
             "either side: the `SpotUdp0` magic of Spotify Connect's LAN discovery",
             "Spotify LAN discovery (UDP 57621)"),
    Detector("dlep", BOTH, dlep,
             "UDP: `DLEP` peer discovery/offer signals; TCP: session initialization and its "
             "response; data items filling the length", "RFC 8175"),
)
