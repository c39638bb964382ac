"""QUIC: IETF QUIC (v1, v2 and drafts), Facebook's mvfst and Google QUIC, from either side.

* A client's Initial (RFC 9000 §17.2.2), decrypted with its version's Initial keys (RFC 9001
  §5, RFC 9369): the AEAD tag verifying is the proof; the ClientHello in its CRYPTO frames
  gives the server name and ALPN list. Google's Q050 carries a QUIC crypto CHLO instead.
* Versions without known keys (reserved 0x?a?a?a?a, other implementations' numbers), or an
  Initial that does not decrypt: long-header packets of a known version family whose
  Length fields fill the datagram exactly (a client's Initial datagram: 1200 bytes at
  least), e.g. a server's Initial + Handshake, or a client's lone 0-RTT packet.
* A Version Negotiation packet (version 0) listing at least one known version.
* Google QUIC up to Q046: a null-encrypted handshake packet whose FNV-1a hash verifies.
* Short-header packets only (RFC 9000 §17.3, a flow seen after its handshake): several
  from one side agreeing on the destination connection id that follows the first byte.
"""

from __future__ import annotations

from probescan.detect.base import UDP, Detection, Detector, Fact, Messages, Result
from probescan.protocols import gquic
from probescan.protocols import quic as q
from probescan.protocols.errors import ParseError

_LOOK = 4  # datagrams read per side for the structural and gQUIC checks
_SHORT_MIN = 3  # short-header packets that must agree on their connection id


def _hello_facts(ci: q.ClientInitial) -> dict[str, Fact]:
    facts: dict[str, Fact] = {"quic_version": q.version_name(ci.version)}
    if ci.hello is not None:
        if ci.hello.sni:
            facts["tls_sni"] = ci.hello.sni
        if ci.hello.alpn:
            facts["tls_alpn"] = ci.hello.alpn
    elif ci.crypto[:4] == b"CHLO":
        facts = {**_chlo_facts(ci.crypto), **facts}
    return facts


def _chlo_facts(data: bytes) -> dict[str, Fact]:
    try:
        msg = gquic.parse_message(data)
    except ParseError:
        return {}
    return _message_facts(msg)


def _message_facts(msg: gquic.CryptoMessage) -> dict[str, Fact]:
    facts: dict[str, Fact] = {"quic_message": msg.tag}
    for tag, key in (("SNI", "quic_sni"), ("UAID", "quic_uaid"), ("VER", "quic_version")):
        value = msg.values.get(tag)
        text = value.decode("latin-1") if value else ""
        if text and text.isascii() and text.isprintable():
            facts[key] = text  # VER: the client's version when no header carries one
    return facts


def _initial(datagrams: tuple[bytes, ...], swapped: bool) -> Detection | None:
    if not datagrams or datagrams[0][:1] < b"\xc0":
        return None
    try:
        ci = q.parse_client_initials(datagrams)
    except ParseError:
        return None
    # Only a decrypted Initial shows who the client is (a server's Initial may also fill a
    # 1200-byte datagram, and its keys are not this packet's connection id's).
    return Detection("quic", _hello_facts(ci), swapped=swapped and ci.decrypted)


def _long_packets(datagram: bytes) -> int | None:
    """The version of a datagram of long-header packets that fill it exactly."""
    if datagram[:1] < b"\xc0":
        return None
    try:
        found = q.packets(datagram)
    except ParseError:
        return None
    version = found[0].version
    if not q.known_family(version) or not q.fills(datagram, found):
        return None
    reserved = q.version_name(version) == "reserved"
    if (found[0].type == q.INITIAL and reserved) and len(datagram) < q.MIN_INITIAL_DATAGRAM:
        return None
    return version


def _version_negotiation(datagram: bytes) -> Detection | None:
    if datagram[:1] < b"\x80" or datagram[1:5] != b"\x00\x00\x00\x00":
        return None
    try:
        vn = q.parse_version_negotiation(datagram)
    except ParseError:
        return None
    offered = [v for v in vn.versions if q.known_family(v) and q.version_name(v) != "reserved"]
    if not offered or len(vn.dcid) > q.MAX_CID or len(vn.scid) > q.MAX_CID:
        return None
    return Detection("quic", {"quic_versions": tuple(q.version_name(v) for v in offered)})


def _gquic(datagram: bytes, side: str) -> Detection | None:
    first = datagram[:1]
    if not first or (first[0] & 0x80 and datagram[1:2] != b"Q"):
        return None
    versioned = first[0] & 0x80 or (first[0] & 0x01 and datagram[9:10] == b"Q")
    if not versioned and not any(tag in datagram[:160] for tag in gquic.MESSAGE_TAGS):
        return None  # hashing every datagram costs too much: only handshake messages
    try:
        packet = gquic.parse_packet(datagram)
    except ParseError:
        return None
    facts: dict[str, Fact] = {}
    if packet.version:
        facts["quic_version"] = packet.version
    msg = gquic.find_message(packet.payload)
    if msg is not None:
        facts = {**_message_facts(msg), **facts}
    swapped = packet.sender not in ("", side)
    return Detection("quic", facts, swapped=swapped)


def _common_prefix(values: list[bytes]) -> int:
    n = 0
    shortest = min(len(v) for v in values)
    while n < shortest and all(v[n] == values[0][n] for v in values):
        n += 1
    return n


def _short_headers(mine: tuple[bytes, ...], other: tuple[bytes, ...]) -> bool:
    """Short-header packets only (a capture that began after the handshake): at least
    three, each with the fixed bit and no long-form bit, their first bytes (protected low
    bits) not all equal, the same destination connection id of 8 to 20 bytes after the
    first byte and ciphertext (not text) after it; the other side's packets all have the
    fixed bit too."""
    if len(mine) < _SHORT_MIN or any(len(p) < 30 or p[0] & 0xC0 != 0x40 for p in mine):
        return False
    if len({p[0] for p in mine}) < 2 or any(not (p and p[0] & 0x40) for p in other):
        return False
    if not 8 <= _common_prefix([p[1:] for p in mine]) <= q.MAX_CID + 2:
        return False
    return not any(p[:32].isascii() and p[:32].decode("ascii").isprintable() for p in mine)


def quic(msgs: Messages) -> Result:
    found = _initial(msgs.client, False) or _initial(msgs.server, True)
    if found:
        return found
    for side, datagrams in (("client", msgs.client), ("server", msgs.server)):
        for datagram in datagrams[:_LOOK]:
            version = _long_packets(datagram)
            if version is not None:
                return Detection("quic", {"quic_version": q.version_name(version)})
            found = _version_negotiation(datagram) or _gquic(datagram, side)
            if found:
                return found
    if _short_headers(msgs.client, msgs.server) or _short_headers(msgs.server, msgs.client):
        return Detection("quic", {"quic_header": "short"})
    return None


DETECTORS = (
    Detector("quic", UDP, quic,
             "either side: a client Initial whose AEAD tag verifies with the version's "
             "Initial keys (ClientHello: SNI, ALPN); long-header packets of a known version "
             "whose Length fields fill the datagram; Version Negotiation; gQUIC packets "
             "whose null-encryption FNV-1a hash verifies (CHLO/REJ tags)",
             "RFC 8999, RFC 9000, RFC 9001, RFC 9369, draft-ietf-quic-transport/tls-22..34; "
             "Google QUIC wire layout and QUIC Crypto documents"),
)
