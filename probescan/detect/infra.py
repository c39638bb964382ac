"""Network infrastructure services: NTP (all modes), TFTP, Syslog.

* NTP (RFC 5905 §7.3): a 48-byte header (leap, version 1-4, mode 1-5, stratum, poll,
  precision, root delay and dispersion, four timestamps), then extension fields or a MAC;
  mode 6 control messages (RFC 9327) and mode 7 private messages (ntpdc) have their own
  headers whose counts must add up to the datagram.
* TFTP (RFC 1350, options RFC 2347): RRQ/WRQ carry a file name and a mode, OACK option
  pairs, ERROR a code 0-8 and a text; DATA and ACK are proven by their block numbers (one
  side's DATA blocks acknowledged by the other, or several consecutive full blocks).
* Syslog: RFC 5424 (`<PRI>1 TIMESTAMP HOST APP PROCID MSGID SD`) and RFC 3164
  (`<PRI>Mmm dd hh:mm:ss `, or an RFC 3339 timestamp) headers; over TCP with octet-counting
  framing (RFC 6587 §3.4.1, `LEN <PRI>...`) or newline-terminated.
"""

from __future__ import annotations

import itertools
import re

from probescan.detect.base import (
    BOTH,
    UDP,
    Detection,
    Detector,
    Fact,
    Messages,
    Result,
)

# --- NTP ---------------------------------------------------------------------------------

NTP_LEN = 48
_NTP_MAC_LENS = frozenset({0, 4, 20, 24})  # none, crypto-NAK, MD5, SHA-1 (key id + digest)


def _ntp_header(d: bytes) -> int | None:
    """The mode of a plausible NTP header (modes 1-5), else None."""
    if len(d) < NTP_LEN:
        return None
    version, mode = (d[0] >> 3) & 7, d[0] & 7
    if not 1 <= version <= 4 or not 1 <= mode <= 5:
        return None
    if d[1] > 16 or not (d[2] <= 17 or d[2] >= 0xFA) or not (d[3] == 0 or d[3] >= 0xE0):
        return None  # stratum, poll (log2 s), precision (log2 s, negative)
    if d[4] or d[8]:  # root delay / dispersion (16.16 seconds) under 256 s
        return None
    extra = len(d) - NTP_LEN
    if extra not in _NTP_MAC_LENS and not _ntp_extensions(d[NTP_LEN:]):
        return None
    return mode


def _ntp_extensions(d: bytes) -> bool:
    """Extension fields (RFC 7822): type, length (a multiple of 4, at least 16), value;
    a MAC may follow."""
    pos = 0
    while len(d) - pos not in _NTP_MAC_LENS or pos == 0:
        if pos + 4 > len(d):
            return False
        size = int.from_bytes(d[pos + 2 : pos + 4], "big")
        if size < 16 or size % 4 or pos + size > len(d):
            return False
        pos += size
    return True


def _ntp_control(d: bytes) -> bool:
    """Mode 6 (RFC 9327 §2): R E M opcode, sequence, status, association, offset, count,
    then `count` data bytes padded to 4 and an optional MAC."""
    if len(d) < 12 or not 1 <= (d[0] >> 3) & 7 <= 4 or d[0] & 7 != 6:
        return False
    opcode = d[1] & 0x1F
    if not 1 <= opcode <= 12 and opcode != 31:
        return False
    if not d[1] & 0x80 and (d[1] & 0x60 or any(d[4:6]) or any(d[8:10])):
        return False  # a request carries no error, more, status or offset
    count = int.from_bytes(d[10:12], "big")
    if count > 468:
        return False
    rest = len(d) - 12 - count  # padding to 32 bits; or to 64 bits, then a MAC
    return rest == -count % 4 or rest - -count % 8 in (20, 24)


def _ntp_private(d: bytes) -> bool:
    """Mode 7 (ntpdc): R M version mode, A sequence, implementation 0/2/3, request code,
    error and item count, item size. A response's items fill it; an unauthenticated
    request's data area after its items is zero."""
    if len(d) < 8 or d[0] & 7 != 7 or not 2 <= (d[0] >> 3) & 7 <= 4:
        return False
    if d[2] not in (0, 2, 3) or d[3] > 45 or d[6] & 0xF0:
        return False
    nitems = int.from_bytes(d[4:6], "big") & 0xFFF
    size = int.from_bytes(d[6:8], "big") & 0xFFF
    if (nitems == 0) != (size == 0) or size > 500:
        return False
    if d[0] & 0x80:  # response
        return len(d) == 8 + nitems * size
    if d[0] & 0x40 or d[1] & 0x80 or d[4] & 0xF0:  # more, authenticated, error
        return False
    end = 8 + nitems * size
    return end <= len(d) <= 8 + 500 and not any(d[end:])


def ntp_udp(msgs: Messages) -> Result:
    for side, from_client in ((msgs.client, True), (msgs.server, False)):
        if not side:
            continue
        d = side[0]
        mode = _ntp_header(d)
        if mode is not None:
            facts: dict[str, Fact] = {"ntp_version": (d[0] >> 3) & 7, "ntp_mode": mode,
                                      "ntp_stratum": d[1]}
            return Detection("ntp", facts, swapped=from_client and mode == 4)
        if _ntp_control(d):
            facts = {"ntp_version": (d[0] >> 3) & 7, "ntp_mode": 6, "ntp_opcode": d[1] & 0x1F}
            return Detection("ntp", facts, swapped=from_client and bool(d[1] & 0x80))
        if _ntp_private(d):
            facts = {"ntp_version": (d[0] >> 3) & 7, "ntp_mode": 7, "ntp_request": d[3]}
            return Detection("ntp", facts, swapped=from_client and bool(d[0] & 0x80))
    return None


# --- TFTP --------------------------------------------------------------------------------

TFTP_MODES = frozenset({b"netascii", b"octet", b"mail"})
TFTP_OPTIONS = frozenset({b"blksize", b"tsize", b"timeout", b"windowsize", b"multicast",
                          b"rollover", b"utimeout"})
_PRINTABLE = re.compile(rb"[\x20-\x7e]*")


def _strings(data: bytes) -> list[bytes] | None:
    """NUL-terminated printable strings filling `data` exactly."""
    if not data.endswith(b"\0"):
        return None
    parts = data[:-1].split(b"\0")
    return parts if all(_PRINTABLE.fullmatch(p) for p in parts) else None


def _tftp_one(d: bytes) -> str | None:
    """The opcode name of a message proven on its own (requests, OACK, ERROR)."""
    if len(d) < 4 or d[0] != 0:
        return None
    op = d[1]
    if op in (1, 2):
        parts = _strings(d[2:])
        if (parts and len(parts) >= 2 and len(parts) % 2 == 0 and parts[0]
                and parts[1].lower() in TFTP_MODES
                and all(o.lower() in TFTP_OPTIONS for o in parts[2::2])):
            return "RRQ" if op == 1 else "WRQ"
    elif op == 6:
        parts = _strings(d[2:])
        if (parts and len(parts) % 2 == 0 and all(o.lower() in TFTP_OPTIONS for o in parts[::2])
                and all(v.isdigit() or not v for v in parts[1::2])):
            return "OACK"
    elif op == 5 and d[2] == 0 and d[3] <= 8:
        parts = _strings(d[4:])
        if parts is not None and len(parts) == 1 and len(parts[0]) >= 4 and parts[0][:1].isalpha():
            return "ERROR"  # with a message: the bare code is too short to tell
    return None


def _blocks(side: tuple[bytes, ...], op: int) -> list[int] | None:
    """Block numbers when every message of `side` is a DATA (3) or ACK (4)."""
    out = []
    for d in side:
        if len(d) < 4 or d[0] != 0 or d[1] != op or (op == 4 and len(d) != 4):
            return None
        if op == 3 and len(d) > 4 + 65464:
            return None
        out.append(int.from_bytes(d[2:4], "big"))
    return out


def _tftp_transfer(data_side: tuple[bytes, ...], ack_side: tuple[bytes, ...]) -> bool:
    blocks = _blocks(data_side, 3)
    if not blocks or any(not 0 <= b - a <= 1 for a, b in itertools.pairwise(blocks)):
        return False  # consecutive (a repeated block is a retransmission)
    if not ack_side:  # DATA alone: three blocks or more, all but the last of one size
        sizes = {len(d) for d in data_side[:-1]}
        return len(set(blocks)) >= 3 and len(sizes) == 1 and sizes.pop() >= 512 + 4
    acks = _blocks(ack_side, 4)
    return bool(acks) and all(blocks[0] - 1 <= a <= blocks[-1] for a in acks or ())


def tftp_udp(msgs: Messages) -> Result:
    for side, from_client in ((msgs.client, True), (msgs.server, False)):
        if side:
            op = _tftp_one(side[0])
            if op is not None:
                swapped = from_client and op in ("OACK", "ERROR") and not msgs.server
                return Detection("tftp", {"tftp_opcode": op}, swapped=swapped)
    if _tftp_transfer(msgs.client, msgs.server) or _tftp_transfer(msgs.server, msgs.client):
        return Detection("tftp", {"tftp_opcode": "DATA"})
    return None


# --- Syslog ------------------------------------------------------------------------------

_PRI = rb"<(?:0|1[0-8]\d|19[01]|[1-9]\d?)>"
_RFC3339 = rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?(?:Z|[+-]\d\d:\d\d)"
_NAME = rb"(?:-|[\x21-\x7e]{1,255})"
SYSLOG_5424 = re.compile(_PRI + rb"1 (?:-|" + _RFC3339 + rb") " + _NAME + rb" " + _NAME +
                         rb" " + _NAME + rb" " + _NAME + rb" (?:-|\[)")
SYSLOG_3164 = re.compile(
    _PRI + rb"(?:(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [ 123]\d "
    rb"[012]\d:[0-5]\d:[0-5]\d|" + _RFC3339 + rb") [\x21-\x7e]")
_OCTET_COUNT = re.compile(rb"([1-9]\d{0,5}) <")


def _syslog_message(d: bytes) -> str | None:
    if SYSLOG_5424.match(d):
        return "5424"
    if SYSLOG_3164.match(d):
        return "3164"
    return None


def _syslog_stream(d: bytes) -> tuple[str, str] | None:
    """(format, framing) of a TCP stream's first message."""
    m = _OCTET_COUNT.match(d)
    if m is not None:
        form = _syslog_message(d[m.end() - 1 :])
        return (form, "octet-counting") if form else None
    form = _syslog_message(d)
    return (form, "non-transparent") if form else None


def syslog(msgs: Messages) -> Result:
    tcp = msgs.transport == "tcp"
    sides = ((msgs.client_stream, True), (msgs.server_stream, False)) if tcp else (
        (msgs.client[0] if msgs.client else b"", True),
        (msgs.server[0] if msgs.server else b"", False))
    for d, from_client in sides:
        if d[:1] not in (b"<", b"1", b"2", b"3", b"4", b"5", b"6", b"7", b"8", b"9"):
            continue
        if tcp:
            found = _syslog_stream(d)
            if found is None:
                continue
            facts: dict[str, Fact] = {"syslog_format": found[0], "syslog_framing": found[1]}
        else:
            form = _syslog_message(d)
            if form is None:
                continue
            facts = {"syslog_format": form}
        return Detection("syslog", facts, swapped=not from_client and not msgs.client_stream)
    return None


DETECTORS = (
    Detector("ntp", UDP, ntp_udp,
             "either side: the 48-byte header (version 1-4, mode 1-5, stratum, poll, precision "
             "and root delay in range, MAC or extension fields adding up), a mode 6 control "
             "or mode 7 private message whose counts fill the datagram",
             "RFC 5905, RFC 7822, RFC 9327 (mode 6), ntpdc's mode 7"),
    Detector("tftp", UDP, tftp_udp,
             "either side: RRQ/WRQ (file name and mode), OACK (known options), ERROR (code "
             "0-8 and text); DATA blocks acknowledged by the other side's ACKs",
             "RFC 1350, RFC 2347-2349, RFC 7440"),
    Detector("syslog", BOTH, syslog,
             "the sender's first message: `<PRI>` (0-191) then an RFC 5424 header or an RFC "
             "3164 timestamp; over TCP octet-counted or newline-framed",
             "RFC 5424, RFC 3164, RFC 6587"),
)
