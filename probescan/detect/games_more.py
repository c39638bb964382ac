"""More game networking: Valve's Steam Datagram Relay pings, Among Us (Hazel), Gaijin's
game telemetry.

* Steam Datagram Relay (Valve's GameNetworkingSockets; its message ids are public in
  `steamnetworkingsockets_messages_udp.proto` / `steamdatagram_messages_sdr.proto`): a
  relay ping starts with the message id (1 RouterPingRequest, 2 RouterPingReply), one
  byte, the ASCII tag `sdping`, and is padded with zeros to 100 bytes or more (as nDPI's
  steam_datagram_relay dissector records it).
* Among Us over Hazel (Hazel-Networking; the community's Among Us protocol notes): a Hello
  is send option 8, a 2-byte reliable nonce, the Hazel version (0 or 1), the client's
  32-bit little-endian broadcast version (year * 25000 + month * 1800 + day * 50 +
  revision), the player name as a packed string (a 7-bit length and UTF-8), and in later
  clients the last nonce, language and chat mode; the fields fill the datagram.
* Gaijin Entertainment (War Thunder, Enlisted): the games' clients and updater send their
  telemetry as StatsD lines (`name[,tag=value...]:value|type`, the type c, g, ms, h, s or
  d) whose `project` tag names the game.
"""

from __future__ import annotations

import re

from probescan.detect.base import UDP, Detection, Detector, Messages, Result

_LOOK = 4

# --- Steam Datagram Relay ----------------------------------------------------------------

SDR_PING_TAG = b"sdping"


def steam_sdr(msgs: Messages) -> Result:
    for side, is_client in ((msgs.client, True), (msgs.server, False)):
        for d in side[:_LOOK]:
            if (len(d) >= 100 and d[2:8] == SDR_PING_TAG and d[0] in (1, 2)
                    and not any(d[-16:])):
                kind = "request" if d[0] == 1 else "reply"
                return Detection("steamdatagramrelay", {"sdr_ping": kind},
                                 swapped=is_client != (d[0] == 1))
    return None


# --- Among Us (Hazel) ----------------------------------------------------------------------

_HAZEL_HELLO = 0x08


def _broadcast_version(v: int) -> str | None:
    year, rest = divmod(v, 25000)
    month, rest = divmod(rest, 1800)
    day, revision = divmod(rest, 50)
    if not 2018 <= year <= 2035 or month > 11 or not 1 <= day <= 31:
        return None
    return f"{year}.{month + 1}.{day}" + (f".{revision}" if revision else "")


def _hazel_hello(d: bytes) -> str | None:
    """The Among Us version of a Hazel Hello that fills the datagram."""
    if len(d) < 10 or d[0] != _HAZEL_HELLO or d[3] > 1:
        return None
    version = _broadcast_version(int.from_bytes(d[4:8], "little"))
    size = d[8]
    if version is None or not 1 <= size <= 32:
        return None
    name_end = 9 + size
    try:
        name = d[9:name_end].decode("utf-8")
    except UnicodeDecodeError:
        return None
    if not name.isprintable() or name_end > len(d):
        return None
    rest = len(d) - name_end  # nothing, or last nonce (4), language (4), chat mode (1)
    if rest not in (0, 9) or (rest == 9 and not 1 <= d[-1] <= 2):
        return None
    return version


def among_us(msgs: Messages) -> Result:
    for side, is_client in ((msgs.client, True), (msgs.server, False)):
        if side:
            version = _hazel_hello(side[0])
            if version is not None:
                return Detection("amongus", {"amongus_version": version},
                                 swapped=not is_client)
    return None


# --- Gaijin telemetry ----------------------------------------------------------------------

_STATSD = re.compile(rb"([A-Za-z0-9_.-]{1,128})((?:,[A-Za-z0-9_.-]{1,64}=[^,:|\n]{0,128})*)"
                     rb":-?[0-9.]{1,32}\|(?:c|g|ms|h|s|d)(?:\|@[0-9.]{1,16})?")
_PROJECT = re.compile(rb",project=([A-Za-z0-9_-]{1,32})(?:,|$)")
GAIJIN_PROJECTS = frozenset({b"warthunder", b"enlisted"})


def _gaijin(d: bytes) -> str | None:
    """The game of a datagram of StatsD lines carrying a Gaijin project tag."""
    project = None
    for line in d.rstrip(b"\n").split(b"\n"):
        m = _STATSD.fullmatch(line)
        if m is None:
            return None
        p = _PROJECT.search(m[2])
        if p is not None:
            project = p[1]
    return project.decode() if project in GAIJIN_PROJECTS and project else None


def gaijin(msgs: Messages) -> Result:
    for side in msgs.sides:
        for d in side[:_LOOK]:
            game = _gaijin(d) if b"|" in d[:1500] else None
            if game:
                return Detection("gaijinentertainment", {"gaijin_project": game})
    return None


DETECTORS = (
    Detector("steamdatagramrelay", UDP, steam_sdr,
             "either side: message id 1/2, a byte, `sdping`, zero padding to 100 bytes or "
             "more", "Valve GameNetworkingSockets SDR message ids; nDPI steam_datagram_relay"),
    Detector("amongus", UDP, among_us,
             "either side: a Hazel Hello (option 8, nonce, Hazel version 0/1, a valid Among "
             "Us broadcast version, a packed name) filling the datagram",
             "Hazel-Networking; Among Us protocol notes (community)"),
    Detector("gaijinentertainment", UDP, gaijin,
             "either side: a datagram of StatsD lines whose project tag names a Gaijin game "
             "(warthunder, enlisted)", "StatsD line protocol with tags; Gaijin game names"),
)
