"""TLS seen without its handshake: a stream of TLS records (RFC 8446 §5.1, RFC 5246 §6.2).

A flow captured after its handshake (or whose handshake the parsers could not read) still
shows TLS's record layer on either side: each record is a content type (20 change cipher
spec, 21 alert, 22 handshake, 23 application data, 24 heartbeat), a legacy version 3.0-3.4,
and a 16-bit length of at most 2^14 + 2048 (RFC 5246 §6.2.3). A side is TLS when its stream
starts with a record and every record boundary it reaches lands on another valid record
header; a single record must be the whole first message. DTLS (over UDP) has its own
detector.
"""

from __future__ import annotations

from probescan.detect.base import NEED_MORE, TCP, Detection, Detector, Messages, Result

CONTENT_TYPES = frozenset({20, 21, 22, 23, 24})
MAX_RECORD = 2**14 + 2048
HEADER = 5
VERSIONS = {0: "SSLv3", 1: "TLSv1", 2: "TLSv1.1", 3: "TLSv1.2", 4: "TLSv1.3"}


def records(stream: bytes) -> tuple[int, int, bool] | None:
    """(records whole, legacy minor version, last one cut) when `stream` is a run of TLS
    records from its first byte; None when it is not."""
    pos, count, minor = 0, 0, -1
    while pos + HEADER <= len(stream):
        ctype, major, vminor = stream[pos], stream[pos + 1], stream[pos + 2]
        length = int.from_bytes(stream[pos + 3:pos + 5], "big")
        if ctype not in CONTENT_TYPES or major != 3 or vminor > 4 or not 0 < length <= MAX_RECORD:
            return None
        if minor < 0:
            minor = vminor
        pos += HEADER + length
        if pos <= len(stream):
            count += 1
    if pos < len(stream):  # a header cut short
        head = stream[pos:]
        if head[0] not in CONTENT_TYPES or (len(head) > 1 and head[1] != 3) or (
                len(head) > 2 and head[2] > 4):
            return None
    return count, minor, pos > len(stream) or pos < len(stream)


def _side(msgs: tuple[bytes, ...]) -> Result:
    if not msgs:
        return None
    first = msgs[0]
    found = records(b"".join(msgs))
    if found is None:
        return NEED_MORE if first and first[0] in CONTENT_TYPES and len(first) < HEADER else None
    whole, minor, _cut = found
    first_alone = records(first)
    if whole >= 2 or (first_alone is not None and first_alone[0] >= 1 and not first_alone[2]):
        return Detection("tls", {"tls_record_version": VERSIONS.get(minor, "?")})
    return NEED_MORE  # every byte so far is TLS records: one more record decides


def tls_records(msgs: Messages) -> Result:
    waiting = False
    for side in (msgs.client, msgs.server):
        r = _side(side)
        if isinstance(r, Detection):
            return r
        waiting = waiting or r is NEED_MORE
    return NEED_MORE if waiting else None


DETECTORS = (
    Detector("tls", TCP, tls_records,
             "either side: TLS records from the first byte (type 20-24, version 3.0-3.4, "
             "lengths that chain), two records or one that fills the first packet",
             "RFC 8446 §5.1, RFC 5246 §6.2"),
)
