"""DTLS (RFC 4347, RFC 6347, RFC 9147): datagrams of DTLS records.

A record: content type (20 change_cipher_spec, 21 alert, 22 handshake, 23 application
data, 24 heartbeat, 25 tls12_cid), version 0xFEFF (1.0), 0xFEFD (1.2) or 0xFEFC, a 2-byte
epoch, a 6-byte sequence number and a 2-byte length; a datagram holds whole records, one
after the other, to its end (DTLS 1.3 may end it with records of the unified header,
first byte 001xxxxx). Handshake records in epoch 0 hold handshake fragments, each with a
12-byte header (type, length, message_seq, fragment_offset, fragment_length) whose
fragment fits the message, the fragments adding up to the record.

WebRTC multiplexes STUN, DTLS and SRTP on one flow (RFC 7983): DTLS records are found
among the first datagrams of either side, whatever precedes them. A ClientHello in one
fragment gives the server name and ALPN list (read with the TLS parser once the DTLS-only
cookie is taken out).
"""

from __future__ import annotations

from probescan.detect.base import UDP, Detection, Detector, Fact, Messages, Result
from probescan.protocols.errors import NeedMore, ParseError
from probescan.protocols.tls import parse_client_hello

# 0x0100: DTLS1_BAD_VER, OpenSSL's pre-RFC 4347 DTLS still spoken by Cisco AnyConnect
VERSIONS = {0xFEFF: "1.0", 0xFEFD: "1.2", 0xFEFC: "1.3", 0x0100: "0.9"}
CONTENT_TYPES = frozenset(range(20, 26))
HANDSHAKE = 22
RECORD_HEADER = 13
FRAGMENT_HEADER = 12
HS_TYPES = {1: "client_hello", 2: "server_hello", 3: "hello_verify_request",
            4: "new_session_ticket", 11: "certificate", 12: "server_key_exchange",
            13: "certificate_request", 14: "server_hello_done", 15: "certificate_verify",
            16: "client_key_exchange", 20: "finished"}  # fmt: skip
_LOOK = 6


def _fragments(body: bytes) -> list[tuple[int, int, int, bytes]] | None:
    """(type, message length, fragment offset, fragment) of a handshake record's body."""
    out = []
    pos = 0
    while pos < len(body):
        head = body[pos : pos + FRAGMENT_HEADER]
        if len(head) < FRAGMENT_HEADER or head[0] not in HS_TYPES:
            return None
        length = int.from_bytes(head[1:4], "big")
        offset = int.from_bytes(head[6:9], "big")
        frag_len = int.from_bytes(head[9:12], "big")
        end = pos + FRAGMENT_HEADER + frag_len
        if offset + frag_len > length or end > len(body):
            return None
        out.append((head[0], length, offset, body[pos + FRAGMENT_HEADER : end]))
        pos = end
    return out or None


def records(data: bytes) -> list[tuple[int, int, int, bytes]] | None:
    """(content type, version, epoch, fragment) of each plaintext-header record, when
    they fill the datagram; None otherwise."""
    out: list[tuple[int, int, int, bytes]] = []
    pos = 0
    while pos < len(data):
        if out and 0x20 <= data[pos] <= 0x3F:  # DTLS 1.3 unified header: the rest
            break
        head = data[pos : pos + RECORD_HEADER]
        if len(head) < RECORD_HEADER or head[0] not in CONTENT_TYPES:
            return None
        version = int.from_bytes(head[1:3], "big")
        length = int.from_bytes(head[11:13], "big")
        end = pos + RECORD_HEADER + length
        if version not in VERSIONS or not length or end > len(data):
            return None
        epoch = int.from_bytes(head[3:5], "big")
        body = data[pos + RECORD_HEADER : end]
        if epoch == 0 and head[0] == HANDSHAKE and _fragments(body) is None:
            return None
        if epoch == 0 and head[0] == 20 and body != b"\x01":  # change_cipher_spec
            return None
        if epoch == 0 and head[0] == 21 and len(body) != 2:  # alert
            return None
        out.append((head[0], version, epoch, body))
        pos = end
    return out


def _hello_facts(fragment: bytes) -> dict[str, Fact]:
    """SNI and ALPN of a whole DTLS ClientHello body (cookie removed for the TLS parser)."""
    try:
        sid_end = 35 + fragment[34]
        cookie_end = sid_end + 1 + fragment[sid_end]
        body = fragment[:sid_end] + fragment[cookie_end:]
        message = b"\x01" + len(body).to_bytes(3, "big") + body
        hello = parse_client_hello(b"\x16\x03\x03" + len(message).to_bytes(2, "big") + message)
    except (IndexError, NeedMore, ParseError):
        return {}
    facts: dict[str, Fact] = {}
    if hello.version in VERSIONS:
        facts["dtls_version"] = VERSIONS[hello.version]
    if hello.sni:
        facts["tls_sni"] = hello.sni
    if hello.alpn:
        facts["tls_alpn"] = hello.alpn
    if 0xFEFC in hello.supported_versions:
        facts["dtls_version"] = "1.3"
    return facts


def _facts(found: list[tuple[int, int, int, bytes]]) -> dict[str, Fact]:
    ctype, version, epoch, body = found[0]
    facts: dict[str, Fact] = {"dtls_version": VERSIONS[version]}
    if ctype == HANDSHAKE and epoch == 0:
        fragments = _fragments(body) or []
        if fragments:
            hs_type, length, offset, fragment = fragments[0]
            facts["dtls_handshake"] = HS_TYPES[hs_type]
            if hs_type == 1 and offset == 0 and len(fragment) == length:
                facts.update(_hello_facts(fragment))
    return facts


def dtls(msgs: Messages) -> Result:
    for datagrams in msgs.sides:
        for data in datagrams[:_LOOK]:
            if not data or data[0] not in CONTENT_TYPES:
                continue
            found = records(data)
            if found:
                return Detection("dtls", _facts(found))
    return None


DETECTORS = (
    Detector("dtls", UDP, dtls,
             "either side: a datagram of DTLS records (content type 20-25, version "
             "0xFEFF/0xFEFD/0xFEFC, lengths filling it; handshake fragments that fit), "
             "also behind STUN on a WebRTC flow; ClientHello: SNI, ALPN",
             "RFC 6347, RFC 9147, RFC 7983 (multiplexing)"),
)
