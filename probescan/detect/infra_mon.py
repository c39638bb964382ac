"""Monitoring, management and timing: NetFlow / IPFIX, sFlow, RMCP (ASF, IPMI), PTP,
Roughtime.

* NetFlow v1/v5/v7 (Cisco): a header with version and record count, then fixed-size
  records that fill the datagram. NetFlow v9 (RFC 3954) and IPFIX (RFC 7011, "version 10"):
  a header, then sets (id, length) that fill the datagram (IPFIX: its length field too).
* sFlow v2/v4/v5 (sFlow.org): version, agent address type 1/2 and the address, sequence,
  uptime, sample count; v5 samples (format, length) fill the datagram.
* RMCP (DMTF ASF 2.0 §3.2.2): version 6, reserved 0, sequence, class ASF (6), IPMI (7) or
  OEM (8); an ASF message carries IANA 4542 and a data length equal to the rest, an IPMI
  1.5 session its message with valid two's-complement checksums, an RMCP+ session a
  payload length equal to the rest.
* PTPv2 (IEEE 1588-2008 §13): message type, version 2, a message length equal to the
  datagram (or two less, Annex E.3) and long enough for its type, a control field that
  fits the type.
* Roughtime (draft-ietf-ntp-roughtime): a tag-value message (tag count, ascending offsets,
  ascending tags) that fills the packet, bare or framed by "ROUGHTIM" and a length.
"""

from __future__ import annotations

import itertools

from probescan.detect.base import UDP, Detection, Detector, Messages, Result

# --- NetFlow / IPFIX ---------------------------------------------------------------------

_FIXED = {1: (16, 48), 5: (24, 48), 7: (24, 52)}  # version: (header, record size)


def _sets(d: bytes, pos: int, templates: tuple[int, int]) -> bool:
    """Sets (id, length) filling `d` from `pos`: the two template set ids or data sets."""
    count = 0
    while pos < len(d):
        if pos + 4 > len(d):
            return False
        set_id = int.from_bytes(d[pos : pos + 2], "big")
        length = int.from_bytes(d[pos + 2 : pos + 4], "big")
        if length < 4 or pos + length > len(d) or (set_id < 256 and set_id not in templates):
            return False
        pos += length
        count += 1
    return count > 0


def _netflow(d: bytes) -> int | None:
    if len(d) < 16 or d[0] != 0:
        return None
    version, count = d[1], int.from_bytes(d[2:4], "big")
    if version in _FIXED:
        head, size = _FIXED[version]
        ok = 0 < count <= 30 and len(d) == head + count * size
        return version if ok else None
    if version == 9 and len(d) >= 24 and _sets(d, 20, (0, 1)):
        return version
    if version == 10 and count == len(d) and _sets(d, 16, (2, 3)):
        return version
    return None


def netflow(msgs: Messages) -> Result:
    for d, _ in msgs.interleaved(2):
        version = _netflow(d)
        if version is not None:
            return Detection("netflow", {"netflow_version": version})
    return None


# --- sFlow -------------------------------------------------------------------------------

def _sflow(d: bytes) -> int | None:
    if len(d) < 28 or d[:3] != b"\0\0\0" or d[3] not in (2, 4, 5):
        return None
    addr_type = int.from_bytes(d[4:8], "big")
    if addr_type not in (1, 2):
        return None
    pos = 8 + (4 if addr_type == 1 else 16)
    if d[3] == 5:
        pos += 4  # sub-agent id
    if pos + 12 > len(d):
        return None
    samples = int.from_bytes(d[pos + 8 : pos + 12], "big")
    pos += 12
    if d[3] != 5:  # v2/v4 samples have no length: a count in range is all one can ask
        return d[3] if 0 < samples <= 64 and pos < len(d) else None
    for _ in range(samples):
        if pos + 8 > len(d):
            return None
        pos += 8 + int.from_bytes(d[pos + 4 : pos + 8], "big")
    return 5 if samples and pos == len(d) else None


def sflow(msgs: Messages) -> Result:
    for d, _ in msgs.interleaved(2):
        version = _sflow(d)
        if version is not None:
            return Detection("sflow", {"sflow_version": version})
    return None


# --- RMCP --------------------------------------------------------------------------------

ASF_IANA = b"\x00\x00\x11\xbe"
ASF_TYPES = frozenset({0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x40, 0x80, 0x81, 0x82,
                       0x83, 0x84})


def _checksum_ok(data: bytes) -> bool:
    return sum(data) & 0xFF == 0


def _ipmi15(d: bytes) -> bool:
    """An IPMI 1.5 session (auth type, sequence, session id, [auth code], length, message)
    whose message has both checksums right."""
    if d[0] not in (0, 1, 2, 4, 5):
        return False
    head = 10 + (16 if d[0] else 0)
    if len(d) < head or d[head - 1] != len(d) - head or d[head - 1] < 7:
        return False
    msg = d[head:]
    return _checksum_ok(msg[:3]) and _checksum_ok(msg[3:])


def _rmcp(d: bytes) -> str | None:
    if len(d) < 4 or d[0] != 6 or d[1] != 0:
        return None
    klass, body = d[3] & 0x7F, d[4:]
    if d[3] & 0x80:  # an RMCP ACK is the 4-byte header alone
        return "ack" if len(d) == 4 and klass in (6, 7, 8) and d[2] != 0xFF else None
    if len(d) < 12:
        return None
    if klass == 6:
        ok = (body[:4] == ASF_IANA and body[4] in ASF_TYPES and body[6] == 0
              and body[7] == len(body) - 8)
        return "asf" if ok else None
    if klass == 7:
        if body[0] == 6:  # RMCP+ (IPMI 2.0): payload type, session, sequence, length
            return "ipmi2" if len(body) >= 12 and body[1] & 0x3F in (
                0, 1, 2, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15) and (
                int.from_bytes(body[10:12], "little") <= len(body) - 12) else None
        return "ipmi" if _ipmi15(body) else None
    return None


def rmcp(msgs: Messages) -> Result:
    for d, _ in msgs.interleaved(2):
        kind = _rmcp(d)
        if kind is not None:
            return Detection("rmcp", {"rmcp_class": kind})
    return None


# --- PTPv2 -------------------------------------------------------------------------------

# message type: (minimum length, control field)
_PTP_TYPES = {0x0: (44, 0), 0x1: (44, 1), 0x2: (54, 5), 0x3: (54, 5), 0x8: (44, 2),
              0x9: (54, 3), 0xA: (54, 5), 0xB: (64, 5), 0xC: (44, 5), 0xD: (48, 4)}
PTP_NAMES = {0x0: "Sync", 0x1: "Delay_Req", 0x2: "Pdelay_Req", 0x3: "Pdelay_Resp",
             0x8: "Follow_Up", 0x9: "Delay_Resp", 0xA: "Pdelay_Resp_Follow_Up",
             0xB: "Announce", 0xC: "Signaling", 0xD: "Management"}


def _ptp(d: bytes) -> str | None:
    if len(d) < 34 or d[1] & 0x0F != 2:
        return None
    kind = d[0] & 0x0F
    spec = _PTP_TYPES.get(kind)
    size = int.from_bytes(d[2:4], "big")  # over IPv6 two octets may follow (Annex E.3)
    if spec is None or len(d) - size not in (0, 2) or size < spec[0]:
        return None
    if d[5] or any(d[16:20]) or d[32] not in (spec[1], 5):  # reserved, control field
        return None
    return PTP_NAMES[kind]


def ptp(msgs: Messages) -> Result:
    for d, _ in msgs.interleaved(2):
        kind = _ptp(d)
        if kind is not None:
            return Detection("ptpv2", {"ptp_message": kind})
    return None


# --- Roughtime ---------------------------------------------------------------------------

def _roughtime_message(d: bytes) -> list[bytes] | None:
    """The tags of a tag-value message filling `d`, or None."""
    if len(d) < 4:
        return None
    n = int.from_bytes(d[:4], "little")
    head = 4 * (2 * n) if n else 4
    if not 0 < n <= 64 or head > len(d):
        return None
    offsets = [0, *(int.from_bytes(d[4 + 4 * i : 8 + 4 * i], "little") for i in range(n - 1))]
    tags = [d[4 * n + 4 * i : 4 * n + 4 * i + 4] for i in range(n)]
    body = len(d) - head
    if any(o % 4 or o > body for o in offsets) or offsets != sorted(offsets) or body % 4:
        return None
    values = [int.from_bytes(t, "little") for t in tags]
    if any(b <= a for a, b in itertools.pairwise(values)):
        return None
    if not all(all(0x20 < c < 0x7F or c in (0, 0xFF) for c in t) for t in tags):
        return None
    return tags


def _roughtime(d: bytes) -> list[bytes] | None:
    if d[:8] == b"ROUGHTIM":
        size = int.from_bytes(d[8:12], "little")
        return _roughtime_message(d[12:]) if size == len(d) - 12 else None
    return _roughtime_message(d)


def roughtime(msgs: Messages) -> Result:
    for d, from_client in msgs.interleaved(2):
        tags = _roughtime(d)
        if tags is not None and (b"NONC" in tags or b"SREP" in tags or b"SIG\0" in tags):
            return Detection("roughtime", {"roughtime_tags": len(tags)},
                             swapped=from_client and b"SREP" in tags)
    return None


DETECTORS = (
    Detector("netflow", UDP, netflow,
             "either side: NetFlow v1/v5/v7 records filling the datagram, v9 or IPFIX sets "
             "filling it", "Cisco NetFlow v5/v7, RFC 3954 (v9), RFC 7011 (IPFIX)"),
    Detector("sflow", UDP, sflow,
             "either side: sFlow version, agent address type and address, samples whose "
             "lengths fill the datagram (v5)", "sFlow version 5 (sflow.org)"),
    Detector("rmcp", UDP, rmcp,
             "either side: RMCP version 6 with an ASF message (IANA 4542, data length), an "
             "IPMI 1.5 session with valid checksums or an RMCP+ session",
             "DMTF ASF 2.0, IPMI 1.5/2.0"),
    Detector("ptpv2", UDP, ptp,
             "either side: PTP version 2, message type, message length equal to the "
             "datagram and its type's minimum, control field", "IEEE 1588-2008 §13"),
    Detector("roughtime", UDP, roughtime,
             "either side: a Roughtime tag-value message (count, ascending offsets and "
             "tags) filling the packet, with NONC, SREP or SIG", "draft-ietf-ntp-roughtime"),
)
