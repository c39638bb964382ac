"""Game protocols over TCP whose openings are documented or recorded: The Elder Scrolls
Online's login, Path of Exile's first message, MapleStory's handshake and patcher, Genshin
Impact's framed TCP transport, StarCraft II's Battle.net login.

* The Elder Scrolls Online (nDPI's teso dissector records the login): a message of a 4-byte
  big-endian length that counts the rest, a 4-byte field, an inner length (the outer one
  minus 8); the login carries the client's version as a length-prefixed string
  "eso.live.<version>" or a zlib stream behind its raw and compressed sizes (4-byte
  big-endian each). The sizes must hold when the stream is inflated.
* Path of Exile (nDPI's path_of_exile dissector): the client's first message is opcode
  0x0003, a 4-byte id, 0x0002, the character name as a 2-byte length and 4-23 letters,
  digits or underscores, 4 bytes, then 0x00000000 0x40000001; the lengths add up to the
  message.
* MapleStory (the open-source server emulators document the handshake): the server's first
  message is unencrypted: a 2-byte little-endian length of the rest, the version, the patch
  location as a 2-byte length and ASCII digits, the 4-byte receive and send IVs and a locale
  byte (1-9). nDPI also names the game's patcher by its HTTP requests: `GET /maple/patch...`
  with User-Agent `Patcher` to a `patch.` host, `GET /maplestory/` with User-Agent
  `AspINet`.
* Genshin Impact over TCP (as nDPI labels it): records of 0x01, a 4-byte big-endian length
  of the whole record, a type byte, a 4-byte counter and an 8-byte id the same in every
  record of both sides; the records fill each side's bytes back to back.
* StarCraft II (nDPI's starcraft dissector): the client's login to Battle.net opens with
  0x4a or 0x49 and the nine bytes 00 00 0a 66 02 0a ed 2d 66.
"""

from __future__ import annotations

import re
import zlib

from probescan.detect.base import NEED_MORE, TCP, Detection, Detector, Messages, Result

_BOUND = 1 << 16  # bytes of a stream read at most

# ---------------------------------------------------------------- The Elder Scrolls Online

_ESO_VERSION = re.compile(rb"eso\.live\.[0-9][0-9.]{0,40}")
_ZLIB_HEADS = (b"\x78\x9c", b"\x78\x01", b"\x78\xda", b"\x78\x5e")


def _eso_version(msg: bytes) -> str | None:
    at = msg.find(b"eso.live.")
    if at < 2:
        return None
    size = int.from_bytes(msg[at - 2:at])
    text = msg[at:at + size]
    if len(text) != size or not _ESO_VERSION.fullmatch(text):
        return None
    return text.decode()[9:]


def _eso_zlib(msg: bytes) -> bool:
    """A zlib stream behind its raw and compressed sizes that inflates to the raw size."""
    pos = 8
    for _ in range(16):
        at = min((i for i in (msg.find(h, pos) for h in _ZLIB_HEADS) if i >= 0), default=-1)
        if at < 0:
            return False
        raw = int.from_bytes(msg[at - 8:at - 4])
        packed = int.from_bytes(msg[at - 4:at])
        if 0 < raw <= _BOUND and 8 <= packed <= len(msg) - at:
            inflate = zlib.decompressobj()
            try:
                out = inflate.decompress(msg[at:at + packed], raw + 1)
            except zlib.error:
                out = b""
            if len(out) == raw and inflate.eof and not inflate.unused_data:
                return True
        pos = at + 1
    return False


def _eso(stream: bytes) -> Result:
    if len(stream) < 12:
        return None
    size = int.from_bytes(stream[:4])
    if not 16 <= size <= _BOUND or int.from_bytes(stream[8:12]) != size - 8:
        return None
    msg = stream[4:4 + size]
    version = _eso_version(msg)
    if version is not None:
        return Detection("tes-online", {"eso_version": version})
    if _eso_zlib(msg):
        return Detection("tes-online", {"eso_login": "compressed"})
    return NEED_MORE if len(msg) < size else None


def tes_online(msgs: Messages) -> Result:
    r = _eso(msgs.client_stream[:_BOUND])
    if isinstance(r, Detection):
        return r
    s = _eso(msgs.server_stream[:_BOUND])
    if isinstance(s, Detection):
        return Detection(s.service, s.facts, swapped=True)
    return r or s


# ---------------------------------------------------------------- Path of Exile

_POE_NAME = re.compile(rb"[A-Za-z0-9_]{4,23}")
_POE_TAIL = b"\x00\x00\x00\x00\x40\x00\x00\x01"


def _poe(stream: bytes) -> Result:
    if len(stream) < 10:
        return None
    if stream[:2] != b"\x00\x03" or stream[6:8] != b"\x00\x02":
        return None
    size = int.from_bytes(stream[8:10])
    if not 4 <= size <= 23:
        return None
    if len(stream) < 22 + size:
        return NEED_MORE if _POE_NAME.fullmatch(stream[10:10 + size].ljust(4, b"a")) else None
    name = stream[10:10 + size]
    if not _POE_NAME.fullmatch(name) or stream[14 + size:22 + size] != _POE_TAIL:
        return None
    return Detection("pathofexile", {"poe_character": name.decode()})


def path_of_exile(msgs: Messages) -> Result:
    r = _poe(msgs.client_stream[:64])
    if isinstance(r, Detection) or msgs.client:
        return r
    s = _poe(msgs.server_stream[:64])
    return Detection(s.service, s.facts, swapped=True) if isinstance(s, Detection) else s


# ---------------------------------------------------------------- MapleStory

_MAPLE_PATCHER = (
    (b"GET /maple/patch", b"patcher", b"patch."),
    (b"GET /maplestory/", b"aspinet", None),
)


def _maple_hello(stream: bytes) -> Result:
    if len(stream) < 6:
        return None
    size = int.from_bytes(stream[:2], "little")
    patch = int.from_bytes(stream[4:6], "little")
    version = int.from_bytes(stream[2:4], "little")
    if patch > 8 or size != 13 + patch or not 1 <= version <= 1000:
        return None
    if len(stream) < size + 2:
        return NEED_MORE if stream[6:6 + patch].isdigit() or len(stream) == 6 else None
    if (patch and not stream[6:6 + patch].isdigit()) or not 1 <= stream[size + 1] <= 9:
        return None
    facts: dict[str, str | int] = {"maple_version": version, "maple_locale": stream[size + 1]}
    if patch:
        facts["maple_patch"] = stream[6:6 + patch].decode()
    return Detection("maplestory", facts)


def _maple_patcher(stream: bytes) -> Result:
    if len(stream) < 4:
        return None
    head, sep, _ = stream.partition(b"\r\n\r\n")
    for start, agent, host in _MAPLE_PATCHER:
        if not stream.startswith(start[:len(stream)]):
            continue
        if not sep:
            return NEED_MORE if len(stream) < 2048 else None
        if not head.startswith(start) or b" HTTP/1." not in head.split(b"\r\n", 1)[0]:
            return None
        fields = dict(_header(line) for line in head.split(b"\r\n")[1:])
        if fields.get(b"user-agent", b"").lower() != agent:
            return None
        if host is not None and not fields.get(b"host", b"").lower().startswith(host):
            return None
        return Detection("maplestory", {"maple_patcher": start[4:].decode()})
    return None


def _header(line: bytes) -> tuple[bytes, bytes]:
    name, _, value = line.partition(b":")
    return name.strip().lower(), value.strip()


def maplestory(msgs: Messages) -> Result:
    s = _maple_hello(msgs.server_stream[:64])
    if isinstance(s, Detection):
        return s
    c = _maple_hello(msgs.client_stream[:64]) if not msgs.server else None
    if isinstance(c, Detection):
        return Detection(c.service, c.facts, swapped=True)
    p = _maple_patcher(msgs.client_stream[:4096])
    return p if isinstance(p, Detection) else (s or c or p)


# ---------------------------------------------------------------- Genshin Impact (TCP)

_GI_HEAD = 18


def _gi_records(stream: bytes) -> tuple[int, set[bytes], bool] | None:
    """(whole records, their ids, ends on a record boundary) of a side, or None."""
    pos = count = 0
    ids: set[bytes] = set()
    while pos < len(stream) and count < 32:
        head = stream[pos:pos + _GI_HEAD]
        if head[:1] != b"\x01":
            return None
        if len(head) < _GI_HEAD:
            return count, ids, False
        size = int.from_bytes(head[1:5])
        if not _GI_HEAD <= size <= _BOUND:
            return None
        ids.add(head[10:18])
        if pos + size > len(stream):
            return count, ids, False
        pos += size
        count += 1
    return count, ids, pos == len(stream)


def genshin_tcp(msgs: Messages) -> Result:
    sides = [_gi_records(stream[:_BOUND]) for stream in (msgs.client_stream, msgs.server_stream)
             if stream]
    if not sides or any(s is None for s in sides):
        return None
    ids = set().union(*(s[1] for s in sides if s is not None))
    if len(ids) > 1:
        return None
    records = [s[0] for s in sides if s is not None]
    if (len(records) == 2 and min(records) >= 1 and sum(records) >= 3) or max(records) >= 3:
        return Detection("genshinimpact", {"genshin_transport": "tcp"})
    return NEED_MORE


# ---------------------------------------------------------------- StarCraft II

_SC2_LOGIN = b"\x00\x00\x0a\x66\x02\x0a\xed\x2d\x66"


def _sc2(stream: bytes) -> Result:
    if not stream or stream[0] not in (0x49, 0x4A):
        return None
    if len(stream) < 10:
        return NEED_MORE if _SC2_LOGIN.startswith(stream[1:]) else None
    return Detection("starcraft", {"sc2_message": "login"}) if stream[1:10] == _SC2_LOGIN \
        else None


def starcraft(msgs: Messages) -> Result:
    r = _sc2(msgs.client_stream[:16])
    if isinstance(r, Detection):
        return r
    s = _sc2(msgs.server_stream[:16]) if not msgs.client else None
    return Detection(s.service, s.facts, swapped=True) if isinstance(s, Detection) else r or s


DETECTORS = (
    Detector("tes-online", TCP, tes_online,
             "either side: 4-byte length of the rest, an inner length 8 less, and the "
             "length-prefixed `eso.live.<version>` or a zlib stream whose sizes hold",
             "nDPI teso dissector (The Elder Scrolls Online login)"),
    Detector("pathofexile", TCP, path_of_exile,
             "client, first message: 0x0003, id, 0x0002, length-prefixed character name, "
             "4 bytes, 0x00000000 0x40000001, lengths adding up",
             "nDPI path_of_exile dissector"),
    Detector("maplestory", TCP, maplestory,
             "server, first message: little-endian length, version, patch string, two IVs, "
             "locale; or client: the patcher's HTTP request (path and User-Agent)",
             "MapleStory server emulators (handshake); nDPI maplestory dissector (patcher)"),
    Detector("genshinimpact", TCP, genshin_tcp,
             "both sides: records of 0x01, a 4-byte length, type, counter and one 8-byte id "
             "that fill each side's bytes",
             "nDPI's Genshin Impact labels (record framing read from the length fields)"),
    Detector("starcraft", TCP, starcraft,
             "client: Battle.net login opening 0x4a / 0x49 then 00 00 0a 66 02 0a ed 2d 66",
             "nDPI starcraft dissector"),
)
