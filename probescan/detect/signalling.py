"""Voice and conference signalling: H.323 (Q.931/H.225.0 and H.245 over TPKT, RAS over
UDP), Cisco SCCP (Skinny), MGCP, Megaco/H.248 text, IAX2, BFCP.

H.225.0 call signalling is Q.931 in TPKT (RFC 1006): version 3, a length that the segment
holds, protocol discriminator 8, a two-octet call reference, a known message type and
information elements that add up, among them the user-user IE whose H.323 PDU names the
H.225.0 protocol identifier OID {0 0 8 2250 0 v}. H.245 control in TPKT is recognised by
its own OID {0 0 8 245 0 v} near the start; RAS by a RasMessage choice in range followed by
the request sequence number and the H.225.0 OID.

BFCP (RFC 8855 §5): a common header (version 1, or 2 over UDP), a primitive 1..17 and a
payload length whose attributes fill the message; or a request answered by the primitive
§5.1 pairs with it (or an Error) under the same conference, transaction and user ids.
"""

from __future__ import annotations

import re

from probescan.detect.base import BOTH, TCP, UDP, Detection, Detector, Fact, Messages, Result
from probescan.detect.sides import first_bytes

# --- H.323 ----------------------------------------------------------------------------

H225_OID = b"\x06\x00\x08\x91\x4a\x00"  # length 6, {itu-t(0) recommendation(0) h(8) 2250 0
H245_OID = b"\x06\x00\x08\x81\x75\x00"  # ... and h(8) 245 0; the version octet follows
Q931_TYPES = {
    0x01: "Alerting", 0x02: "CallProceeding", 0x03: "Progress", 0x05: "Setup",
    0x07: "Connect", 0x0F: "ConnectAck", 0x20: "UserInformation", 0x45: "Disconnect",
    0x4D: "Release", 0x5A: "ReleaseComplete", 0x62: "Facility", 0x6E: "Notify",
    0x75: "StatusEnquiry", 0x7B: "Information", 0x7D: "Status",
}  # fmt: skip
USER_USER = 0x7E


def _oid_at(data: bytes, oid: bytes, start: int, stop: int) -> bool:
    at = data.find(oid, start, stop + len(oid) + 1)
    return at >= 0 and at + len(oid) < len(data) and 1 <= data[at + len(oid)] <= 9


def _q931(data: bytes, end: int) -> str | None:
    """The message type of a Q.931 message in data[4:end] carrying an H.225.0 UUIE."""
    if end < 9 or data[4] != 0x08 or data[5] != 2 or data[8] not in Q931_TYPES:
        return None
    pos, uuie = 9, False
    while pos < end:
        ie = data[pos]
        if ie & 0x80:  # single-octet information element
            pos += 1
            continue
        if ie == USER_USER:
            if pos + 4 > end:
                return None
            n = int.from_bytes(data[pos + 1:pos + 3], "big")
            if data[pos + 3] != 0x05 or not _oid_at(data, H225_OID, pos + 4, pos + 8):
                return None
            uuie = True
            pos += 3 + n
        else:
            if pos + 2 > end:
                return None
            pos += 2 + data[pos + 1]
    return Q931_TYPES[data[8]] if uuie and pos == end else None


def _tpkt(data: bytes) -> Result:
    if len(data) < 4 or data[:2] != b"\x03\x00":
        return None
    length = int.from_bytes(data[2:4], "big")
    if length < 8 or len(data) < length:
        return None
    kind = _q931(data, length)
    if kind is not None:
        return Detection("h323", {"h323_protocol": "H.225.0", "h323_message": kind})
    if _oid_at(data, H245_OID, 4, 10):
        return Detection("h323", {"h323_protocol": "H.245"})
    return None


def _ras(data: bytes) -> Result:
    """RasMessage: extension bit 0, a choice index 0..24, then (one or two octets of
    preamble on) the requestSeqNum and the protocolIdentifier."""
    if len(data) < 12 or data[0] & 0x80 or (data[0] >> 2) > 24:
        return None
    if not any(data[i:i + len(H225_OID)] == H225_OID and 1 <= data[i + len(H225_OID)] <= 9
               for i in (3, 4, 5)):
        return None
    return Detection("h323", {"h323_protocol": "RAS"})


def h323_detect(msgs: Messages) -> Result:
    check = _tpkt if msgs.transport == "tcp" else _ras
    for side in (msgs.client, msgs.server):
        r = check(first_bytes(side, msgs.transport))
        if r is not None:
            return r
    return None


# --- Cisco SCCP (Skinny) --------------------------------------------------------------

SCCP_VERSIONS = frozenset({0, *range(0x0A, 0x20)})


def _sccp(data: bytes) -> tuple[list[int], int] | None:
    """(message ids, header version) when the segment is whole SCCP messages: length
    (little-endian, counting the id and data), header version, message id, data."""
    ids: list[int] = []
    pos, version = 0, -1
    while pos < len(data) and len(ids) < 32:
        if pos + 12 > len(data):
            return None
        length = int.from_bytes(data[pos:pos + 4], "little")
        ver = int.from_bytes(data[pos + 4:pos + 8], "little")
        mid = int.from_bytes(data[pos + 8:pos + 12], "little")
        if not 4 <= length <= 4096 or ver not in SCCP_VERSIONS or (version >= 0 and ver != version):
            return None
        if not (mid <= 0x4F or 0x81 <= mid <= 0x16F):
            return None
        version = ver
        ids.append(mid)
        pos += 8 + length
    return (ids, version) if ids and pos == len(data) else None


def sccp_detect(msgs: Messages) -> Result:
    c = _sccp(msgs.client[0]) if msgs.client else None
    s = _sccp(msgs.server[0]) if msgs.server else None
    for r in (c, s):
        if r is not None and (r[1] >= 0x11 or len(r[0]) >= 2):
            break
    else:  # one message a side: the two sides must be a station and a call manager
        if c is None or s is None or c[1] != s[1]:
            return None
        if not ((max(c[0]) <= 0x4F < min(s[0])) or (max(s[0]) <= 0x4F < min(c[0]))):
            return None
    found = c or s
    assert found is not None
    return Detection("ciscoskinny", {"sccp_header_version": found[1]})


# --- MGCP, Megaco ---------------------------------------------------------------------

MGCP_COMMAND = re.compile(
    rb"(EPCF|CRCX|MDCX|DLCX|RQNT|NTFY|AUEP|AUCX|RSIP|MESG|X[A-Z0-9]{3}) ([1-9]\d{0,8}) "
    rb"([\w*$/.-]{1,64}@(?:[\w.-]{1,255}|\[[\d.:a-fA-F]{2,45}\])(?::\d{1,5})?) "
    rb"MGCP (\d\.\d{1,2})(?: [\w./-]{1,32})?\r?[\n\r]")
MGCP_RESPONSE = re.compile(rb"(\d{3}) ([1-9]\d{0,8})(?: [^\r\n]{0,128})?\r?[\n\r]")


def mgcp_detect(msgs: Messages) -> Result:
    c = first_bytes(msgs.client, msgs.transport)
    s = first_bytes(msgs.server, msgs.transport)
    for data, other in ((c, s), (s, c)):
        m = MGCP_COMMAND.match(data[:400])
        if m is None:
            continue
        facts: dict[str, Fact] = {"mgcp_command": m.group(1).decode(),
                                  "mgcp_endpoint": m.group(3).decode(),
                                  "mgcp_version": m.group(4).decode()}
        if other:
            r = MGCP_RESPONSE.match(other[:200]) or MGCP_COMMAND.match(other[:400])
            if r is None:
                continue
        return Detection("mgcp", facts, swapped=data is s)
    return None


MEGACO = re.compile(
    rb"(?:MEGACO|!)/([1-3])[ \t\r\n]+"
    rb"(\[[\da-fA-F.:]{2,45}\](?::\d{1,5})?|<[\w.-]{1,64}>(?::\d{1,5})?|MTP\{[\da-fA-F]{4,8}\}"
    rb"|[\w/.$-]{1,64})[ \t\r\n]+"
    rb"(?:Transaction|T|Reply|P|Pending|PN|TransactionResponseAck|K|Error|ER)[ \t\r\n]*[={]",
    re.I)


def megaco_detect(msgs: Messages) -> Result:
    for data in (first_bytes(msgs.client, msgs.transport),
                 first_bytes(msgs.server, msgs.transport)):
        m = MEGACO.match(data[:200])
        if m is not None:
            return Detection("megaco", {"megaco_version": int(m.group(1)),
                                        "megaco_mid": m.group(2).decode("ascii")})
    return None


# --- IAX2 -----------------------------------------------------------------------------

IAX_SUBCLASSES = {
    1: "NEW", 2: "PING", 3: "PONG", 4: "ACK", 5: "HANGUP", 6: "REJECT", 7: "ACCEPT",
    8: "AUTHREQ", 9: "AUTHREP", 10: "INVAL", 11: "LAGRQ", 12: "LAGRP", 13: "REGREQ",
    14: "REGAUTH", 15: "REGACK", 16: "REGREJ", 17: "REGREL", 18: "VNAK", 19: "DPREQ",
    20: "DPREP", 21: "DIAL", 22: "TXREQ", 23: "TXCNT", 24: "TXACC", 25: "TXREADY",
    26: "TXREL", 27: "TXREJ", 28: "QUELCH", 29: "UNQUELCH", 30: "POKE", 32: "MWI",
    33: "UNSUPPORT", 34: "TRANSFER", 35: "PROVISION", 36: "FWDOWNL", 37: "FWDATA",
    38: "TXMEDIA", 39: "RTKEY", 40: "CALLTOKEN",
}  # fmt: skip
IAX_VERSION_IE = 0x0B


def _iax(data: bytes) -> tuple[int, int, str, int, int | None] | None:
    """(source call, destination call, subclass name, IE count, version) of a full frame
    of type IAX whose information elements fill the datagram."""
    if len(data) < 12 or not data[0] & 0x80 or data[10] != 0x06 or data[11] not in IAX_SUBCLASSES:
        return None
    pos, count, version = 12, 0, None
    while pos < len(data):
        if pos + 2 > len(data):
            return None
        ie, n = data[pos], data[pos + 1]
        if pos + 2 + n > len(data):
            return None
        if ie == IAX_VERSION_IE:
            if n != 2:
                return None
            version = int.from_bytes(data[pos + 2:pos + 4], "big")
        pos += 2 + n
        count += 1
    source = int.from_bytes(data[0:2], "big") & 0x7FFF
    dest = int.from_bytes(data[2:4], "big") & 0x7FFF
    return source, dest, IAX_SUBCLASSES[data[11]], count, version


def iax_detect(msgs: Messages) -> Result:
    c = _iax(msgs.client[0]) if msgs.client else None
    s = _iax(msgs.server[0]) if msgs.server else None
    both = c is not None and s is not None and (c[1] == s[0] or s[1] == c[0])
    for r in (c, s):
        if r is not None and (both or r[4] == 2):  # alone: a NEW with its VERSION IE
            facts: dict[str, Fact] = {"iax_message": r[2]}
            if r[4] is not None:
                facts["iax_version"] = r[4]
            return Detection("iax", facts)
    return None


# --- BFCP -----------------------------------------------------------------------------

BFCP_PRIMITIVES = range(1, 18)
BFCP_ERROR = 13
# RFC 8855 §5.1: the primitive that answers each one (an Error may answer any of them).
BFCP_ANSWERS = {1: 4, 2: 4, 3: 4, 5: 6, 7: 8, 9: 10, 11: 12, 4: 14, 8: 15, 16: 17}


def _bfcp_header(data: bytes) -> tuple[int, int, int] | None:
    """(primitive, header length, declared end) of a common header: version 1 with no
    flags, or version 2 without the reserved bits, a primitive 1..17."""
    if len(data) < 12 or data[1] not in BFCP_PRIMITIVES:
        return None
    version, flags = data[0] >> 5, data[0] & 0x1F
    if not (version == 1 and flags == 0) and not (version == 2 and not flags & 0x07):
        return None
    head = 16 if flags & 0x08 else 12
    return data[1], head, head + 4 * int.from_bytes(data[2:4], "big")


def _bfcp(data: bytes) -> tuple[int, bytes, int] | None:
    """(primitive, conference/transaction/user ids, attribute count) of a whole message
    whose attributes (type and M bit, length >= 2, padded to 4) fill its payload length."""
    header = _bfcp_header(data)
    if header is None or header[2] != len(data):
        return None
    primitive, pos, end = header
    count = 0
    while pos < end:
        if pos + 2 > end or data[pos + 1] < 2:
            return None
        pos += (data[pos + 1] + 3) // 4 * 4
        count += 1
    return (primitive, data[4:12], count) if pos == end else None


def _bfcp_answered(request: bytes, answer: bytes) -> bool:
    """A request and the answer its primitive calls for (or an Error), with the same
    conference, transaction (non-zero) and user ids; each a header whose declared length
    covers the bytes seen (a capture may hold only a message's start)."""
    q, a = _bfcp_header(request), _bfcp_header(answer)
    if q is None or a is None or q[2] < len(request) or a[2] < len(answer):
        return False
    if request[4:12] != answer[4:12] or request[8:10] == b"\0\0":
        return False
    return a[0] in (BFCP_ANSWERS.get(q[0]), BFCP_ERROR) and q[0] != BFCP_ERROR


def bfcp_detect(msgs: Messages) -> Result:
    c = _bfcp(msgs.client[0]) if msgs.client else None
    s = _bfcp(msgs.server[0]) if msgs.server else None
    agree = c is not None and s is not None and c[1] == s[1]
    for r in (c, s):
        if r is not None and (r[2] or agree):
            return Detection("bfcp", {"bfcp_primitive": r[0]})
    if msgs.client and msgs.server:
        for q, a, swapped in ((msgs.client[0], msgs.server[0], False),
                              (msgs.server[0], msgs.client[0], True)):
            if _bfcp_answered(q, a):
                return Detection("bfcp", {"bfcp_primitive": q[1]}, swapped=swapped)
    return None


DETECTORS = (
    Detector("h323", BOTH, h323_detect,
             "either side: TPKT with Q.931 (discriminator 8, two-octet call reference, known "
             "type, IEs adding up, a user-user IE naming the H.225.0 OID) or with the H.245 "
             "OID; over UDP a RAS message whose choice is in range and that names the OID",
             "ITU-T H.225.0 §7 and annex, H.245, Q.931 §4, RFC 1006 (TPKT)"),
    Detector("ciscoskinny", TCP, sccp_detect,
             "either side: a segment made of whole SCCP messages (little-endian length, "
             "header version, message id in the station or call manager range), two of them "
             "or a newer header version, or one a side from a station and a call manager",
             "Cisco Skinny Client Control Protocol message format (Cisco Unified CM docs)"),
    Detector("mgcp", BOTH, mgcp_detect,
             "either side: an MGCP command line (verb, transaction id, endpoint name, `MGCP "
             "1.0`), the other side's first line a response or command", "RFC 3435 §3.1-3.2"),
    Detector("megaco", BOTH, megaco_detect,
             "either side: `MEGACO/v` or `!/v`, a message identifier and a transaction, "
             "reply, pending or error token", "RFC 3525 / ITU-T H.248.1 Annex B (text encoding)"),
    Detector("iax", UDP, iax_detect,
             "either side: an IAX full frame (frame type 6, known subclass) whose information "
             "elements fill the datagram: alone, a NEW carrying VERSION 2; else answered by "
             "a full frame whose call numbers match",
             "RFC 5456 (IAX2) §8"),
    Detector("bfcp", BOTH, bfcp_detect,
             "either side: version 1 or 2, a primitive 1..17 and a payload length that the "
             "message fills with attributes; or both sides' messages with the same ids; or "
             "a request and its answer's primitive with the same ids",
             "RFC 8855 (BFCP) §5, RFC 4582"),
)
